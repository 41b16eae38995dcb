//! What a run hands back and takes in: the [`Outcome`] of a run, the [`Prepared`]
//! request as it goes out, the [`Credentials`] a saved request is sent again with,
//! and the [`DryRun`] a dry run shows.

use indexmap::IndexMap;
use serde::Serialize;

use super::super::cookies::Cookies;
use super::super::spec::{CompiledRequest, Method, Timeouts};
use crate::events::Event;
use crate::request::log::LogEntry;
use crate::request::mapping::Variable;
use crate::variables::VariableSource;

/// What one run produced: returned to the host, printed by `courier send`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    /// The response status, when a whole response came.
    pub status: Option<u16>,
    /// Variables to set: `api_client_status_code`, `api_client_response_body`, and
    /// each mapping's and response header's target. Text, but a mapping that read a
    /// list of scalars sets a list (a JSON array in the outcome's JSON).
    pub variables: IndexMap<String, Variable>,
    /// Cookies to save into the session (an empty value deletes one).
    pub cookies: Cookies,
    /// The events, in order.
    pub events: Vec<Event>,
    /// The log entries, in order.
    pub log: Vec<LogEntry>,
    /// What went wrong, when no response came or nothing was sent.
    pub error: Option<String>,
    /// The response's `Retry-After`, as sent, when it had one (the delivery layer
    /// reads it to time the next attempt).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// Whether courier refused to send it (a destination the policy does not allow,
    /// a secret bound to other hosts, a redirect it does not follow): `error` says
    /// why. Such a request is not kept for replay, which could not change that.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

impl Outcome {
    /// Sets the outcome's variables into a session's: text as a string, a list as a
    /// list of strings.
    pub fn apply_to(&self, variables: &mut crate::Variables) {
        for (name, value) in &self.variables {
            variables.set(name.clone(), value.to_value());
        }
    }
}

/// A request as it goes out, but for its credentials: every template rendered, the
/// body's file read, the body's headers set. It is what the replay store keeps (less
/// the session's cookies and any header holding a secret), and what
/// [`Executor::send_prepared`](super::Executor::send_prepared) sends again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// The method.
    pub method: Method,
    /// The URL.
    pub url: String,
    /// The headers in order, names as written; `Authorization` from `[auth]` and
    /// `X-B3-TraceId` are added when it is sent.
    pub headers: Vec<(String, String)>,
    /// The body's bytes.
    pub body: Option<Vec<u8>>,
    /// The time limits.
    pub timeouts: Timeouts,
}

/// What [`Executor::send_prepared`](super::Executor::send_prepared) needs to add the credentials a saved request was
/// kept without: the spec (its `[auth]` and the templates of the headers named), and
/// the chat variables those templates read when the request was first rendered.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    /// The spec the request was rendered from.
    pub request: &'a CompiledRequest,
    /// The headers to render from the spec's templates.
    pub headers: &'a [String],
    /// The variables the credential templates read.
    pub variables: &'a (dyn VariableSource + Sync),
    /// Whether the URL is rendered again from the spec: its query reads a secret,
    /// which the saved URL holds redacted.
    pub url: bool,
}

/// The request a dry run would send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DryRun {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// The headers, credentials and secrets redacted.
    pub headers: IndexMap<String, String>,
    /// The body as text, when there is one and it could be built without the network.
    pub body: Option<String>,
    /// What a real run would do besides (fetch a token, a file).
    pub notes: Vec<String>,
    /// The spec's `[tls]`, when it has one: where its `ca` comes from (and how
    /// many certificates), `ca_only`, whether a client certificate is presented;
    /// the key is always redacted.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub tls: IndexMap<String, String>,
}
