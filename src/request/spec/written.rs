//! The spec as written: the serde structures read from TOML or JSON, with the
//! field names of `docs/requests.md`.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::request::poll::PollSpec;
use crate::request::retry::RetrySpec;
use crate::request::sign::SignSpec;

/// A request spec as written: the serde form of a spec file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// `GET` (the default), `POST`, `PUT`, `PATCH` or `DELETE`.
    #[serde(default)]
    pub method: Option<String>,
    /// The URL, a url-context template.
    pub url: String,
    /// The whole request's time limit (humantime: `500ms`, `20s`, `1m`); default 20 s.
    #[serde(default)]
    pub timeout: Option<String>,
    /// The time limit for opening the connection; default 5 s.
    #[serde(default)]
    pub connect_timeout: Option<String>,
    /// The longest silence while waiting for or reading the response; default 10 s.
    #[serde(default)]
    pub read_timeout: Option<String>,
    /// Redirects followed, each checked like the request (default 5; 0: the 3xx is the answer).
    #[serde(default)]
    pub redirects: Option<u32>,
    /// Keep payloads and responses in the log.
    #[serde(default)]
    pub debug: bool,
    /// Send in the background through the durable queue (no mappings then).
    #[serde(default)]
    pub queue: bool,
    /// Strict mode: a template that reads an unset variable fails, naming it,
    /// instead of sending null or an empty text.
    #[serde(default)]
    pub strict: bool,
    /// The names of the session cookies sent and saved.
    #[serde(default)]
    pub cookies: Vec<String>,
    /// Request headers: name → header-context template.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// The body: a table, or the shorthand `body = "json"`.
    #[serde(default)]
    pub body: Option<BodySpec>,
    /// The json payload of the shorthand `body = "json"`, inline.
    #[serde(default)]
    pub payload: Option<String>,
    /// The json payload of the shorthand `body = "json"`, in a file beside the spec.
    #[serde(default)]
    pub payload_file: Option<PathBuf>,
    /// Authorization.
    #[serde(default)]
    pub auth: Option<AuthSpec>,
    /// Response fields mapped into variables.
    #[serde(default)]
    pub mappings: Vec<MappingSpec>,
    /// Response headers mapped into variables.
    #[serde(default)]
    pub response_headers: Vec<ResponseHeaderSpec>,
    /// The `Idempotency-Key`, a header-context template (`order-${order_id}`): one
    /// logical request gets one key however often it is sent, so that a retry is the
    /// same replay record and the same request to a service that deduplicates.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Whose request it is (`${tenant_id}`), a text template: a queued or kept
    /// record stores it, and the queue's claims take turns between tenants.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Sending again on failure: `[retry]` (`docs/spec.md`).
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// Signing the request: `[sign]` (`docs/spec.md`).
    #[serde(default)]
    pub sign: Option<SignSpec>,
    /// Polling a `202 Accepted` job's `Location` until it is done: `[poll]` (`docs/spec.md`).
    #[serde(default)]
    pub poll: Option<PollSpec>,
    /// The CAs trusted and the client certificate presented: `[tls]`.
    #[serde(default)]
    pub tls: Option<TlsSpec>,
}

/// `[tls]`: the CAs a request trusts and the client certificate it presents.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSpec {
    /// PEM text, or a file beside the spec holding it: CA certificates trusted for
    /// this request besides the system's roots.
    #[serde(default)]
    pub ca: Option<String>,
    /// Trust only `ca`, not the system's roots (default false).
    #[serde(default)]
    pub ca_only: bool,
    /// The client certificate (PEM, its chain after it) for mutual TLS, a text
    /// template, normally `${secret("NAME")}`.
    #[serde(default)]
    pub client_cert: Option<String>,
    /// The client certificate's private key (PEM), a text template, normally
    /// `${secret("NAME")}`: a secret, redacted everywhere.
    #[serde(default)]
    pub client_key: Option<String>,
}

/// The body's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BodyType {
    /// The payload, sent as `application/json`.
    Json,
    /// Form fields, `application/x-www-form-urlencoded`.
    Form,
    /// A file's bytes as Base64 text.
    Base64,
    /// The file as a `multipart/form-data` part, plus text fields.
    Multipart,
    /// The file's raw bytes, `application/octet-stream`.
    OctetStream,
}

impl BodyType {
    /// The name as written in a spec.
    pub fn name(self) -> &'static str {
        match self {
            BodyType::Json => "json",
            BodyType::Form => "form",
            BodyType::Base64 => "base64",
            BodyType::Multipart => "multipart",
            BodyType::OctetStream => "octet-stream",
        }
    }
}

/// `body`: the shorthand `body = "json"` or a `[body]` table.
#[derive(Debug, Clone)]
pub enum BodySpec {
    /// `body = "json"`, with `payload` or `payload_file` at the top level.
    Shorthand(BodyType),
    /// A `[body]` table.
    Table(Box<BodyTable>),
}

impl<'de> Deserialize<'de> for BodySpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = BodySpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a body type such as \"json\", or a [body] table")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<BodySpec, E> {
                BodyType::deserialize(de::value::StrDeserializer::<E>::new(text)).map(BodySpec::Shorthand)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<BodySpec, A::Error> {
                BodyTable::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|table| BodySpec::Table(Box::new(table)))
            }
        }
        deserializer.deserialize_any(BodyVisitor)
    }
}

/// A `[body]` table; which fields apply depends on `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyTable {
    /// The body's type.
    #[serde(rename = "type")]
    pub kind: BodyType,
    /// json: the payload inline.
    #[serde(default)]
    pub payload: Option<String>,
    /// json: the payload in a file beside the spec.
    #[serde(default)]
    pub payload_file: Option<PathBuf>,
    /// form: the fields; multipart: the text parts. Name → template.
    #[serde(default)]
    pub fields: IndexMap<String, String>,
    /// File bodies: a template giving a local path or an http(s) URL.
    #[serde(default)]
    pub file: Option<String>,
    /// File bodies: the file's name.
    #[serde(default)]
    pub file_name: Option<String>,
    /// File bodies: the file's media type.
    #[serde(default)]
    pub content_type: Option<String>,
    /// multipart: the file part's name (default `file`).
    #[serde(default)]
    pub field: Option<String>,
}

/// The kind of authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// `Authorization: Basic base64(user:pass)`.
    Basic,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A token from an OAuth2 token endpoint.
    Oauth2,
    /// HTTP Digest (RFC 7616): the answer to the service's 401 challenge.
    Digest,
}

/// The OAuth2 grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// The client's own credentials.
    ClientCredentials,
    /// A user's name and password.
    Password,
}

/// Where the OAuth2 client credentials go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// HTTP Basic on the token request.
    #[default]
    Header,
    /// `client_id` and `client_secret` form fields.
    Body,
}

/// `[auth]`; which fields apply depends on `type`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSpec {
    /// basic, bearer, oauth2 or digest.
    #[serde(rename = "type")]
    pub kind: AuthType,
    /// basic, digest, oauth2 password grant: the user's name (template).
    #[serde(default)]
    pub username: Option<String>,
    /// basic, digest, oauth2 password grant: the password (template).
    #[serde(default)]
    pub password: Option<String>,
    /// bearer: the token, without the prefix (template).
    #[serde(default)]
    pub token: Option<String>,
    /// oauth2: the token endpoint (url template).
    #[serde(default)]
    pub token_url: Option<String>,
    /// oauth2: the grant (default client_credentials).
    #[serde(default)]
    pub grant_type: Option<GrantType>,
    /// oauth2: the client id (template).
    #[serde(default)]
    pub client_id: Option<String>,
    /// oauth2: the client secret (template).
    #[serde(default)]
    pub client_secret: Option<String>,
    /// oauth2: the scope (template).
    #[serde(default)]
    pub scope: Option<String>,
    /// oauth2: where the client credentials go (default header).
    #[serde(default)]
    pub client_auth: Option<ClientAuth>,
    /// oauth2: the Authorization header's prefix (default `Bearer`).
    #[serde(default)]
    pub header_prefix: Option<String>,
    /// oauth2: the statuses that mean "the token expired" (default `[401]`; 403 may
    /// be added): the token is fetched again once and the request sent again once.
    #[serde(default)]
    pub expired_statuses: Option<Vec<u16>>,
}

/// `[[mappings]]`: target variable ← source field of the JSON response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// A dot path (`store_address.city`, `items.0.id`) or a JSON Pointer (`/a/b`).
    pub source: String,
    /// The variable to set.
    pub target: String,
}

/// `[[response_headers]]`: target variable ← response header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseHeaderSpec {
    /// The header's name.
    pub header: String,
    /// The variable to set.
    pub target: String,
}

/// An HTTP method a request may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl Method {
    /// The method's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub(super) fn parse(text: &str) -> Option<Method> {
        [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete]
            .into_iter()
            .find(|method| method.as_str().eq_ignore_ascii_case(text))
    }

    /// Whether a body may go with it.
    pub fn takes_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }

    pub(crate) fn to_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
        }
    }
}

/// The three time limits of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole request.
    pub total: Duration,
    /// Opening the connection.
    pub connect: Duration,
    /// The longest silence while waiting for or reading the response.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { total: Duration::from_secs(20), connect: Duration::from_secs(5), read: Duration::from_secs(10) }
    }
}
