//! The executor: renders a compiled request against a session's variables, sends
//! it with reqwest under the three time limits, classifies what happened into the
//! chat platform's events, and maps the response back into an [`Outcome`].
//!
//! One [`Executor`] serves a whole process: it is cheap to clone and holds the
//! connection pools and the OAuth2 token cache that every request shares.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use indexmap::IndexMap;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use serde::Serialize;

use super::auth::{AuthPlan, TokenCache};
use super::body::{Body, BodyPlan, FieldError, FilePlan, FileSource};
use super::cookies::{self, Cookies};
use super::destination::{self, Destinations, Refusal};
use super::log::{Exchange, LogEntry, REDACTED, RecordingResolver, Redactor};
use super::redirect::{self, Hop};
use super::spec::{CompiledRequest, DEFAULT_REDIRECTS, Method, Timeouts};
use crate::error::{Error, ErrorKind};
use crate::events::{Event, EventKind, EventSink, NoEvents};
use crate::functions::Context;
use crate::replay::{Kept, ReplayStore};
use crate::variables::VariableSource;

/// The header that carries a request's trace id.
pub const TRACE_HEADER: &str = "X-B3-TraceId";

/// The header that carries a request's idempotency key when a replay store is set.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Distinct (connect, read, port) triples that get a pooled client of their own.
const MAX_CLIENTS: usize = 32;

/// What an executor allows; the defaults suit a server that runs specs it did not write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorOptions {
    /// Largest response body read, in bytes; a larger one is an error (default 10 MiB).
    pub max_response_bytes: usize,
    /// Largest file a file body sends, in bytes (default 10 MiB).
    pub max_file_bytes: usize,
    /// The folder a file body may read local files from (they must resolve, links
    /// followed, to a file inside it). `None`, the default, reads none: a spec author
    /// could otherwise send any file of the host. The command line's `--files DIR`
    /// names one. Only the spec's literal text can name a local file, never a variable.
    pub local_files: Option<PathBuf>,
    /// The longest a request may take in all, whatever its spec says (default 10
    /// minutes; a spec's own limits are at most [`super::spec::MAX_DURATION`]).
    pub max_timeout: Duration,
    /// Where requests may go. The default reaches public addresses only: loopback,
    /// private networks and the rest of the private group need an entry, and the
    /// cloud metadata, unspecified, multicast and broadcast addresses are never
    /// reached (`docs/security.md`).
    pub destinations: Destinations,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            max_response_bytes: 10 << 20,
            max_file_bytes: 10 << 20,
            local_files: None,
            max_timeout: Duration::from_secs(600),
            destinations: Destinations::public_only(),
        }
    }
}

/// Runs compiled requests: `Clone + Send + Sync`, one per process, called from any
/// number of tasks at once.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

struct Inner {
    options: ExecutorOptions,
    clients: Mutex<HashMap<(Duration, Duration, u16), reqwest::Client>>,
    tokens: TokenCache,
    sink: Arc<dyn EventSink>,
    store: Option<Arc<dyn ReplayStore>>,
    /// A client the host passed (see [`Executor::with_client`]), used instead of
    /// courier's own pooled clients.
    host_client: Option<reqwest::Client>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor").field("options", &self.inner.options).finish_non_exhaustive()
    }
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new()
    }
}

/// What one run produced: returned to the host, printed by `courier send`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Outcome {
    /// The response status, when a whole response came.
    pub status: Option<u16>,
    /// Variables to set: `api_client_status_code`, `api_client_response_body`, and
    /// each mapping's and response header's target.
    pub variables: IndexMap<String, String>,
    /// Cookies to save into the session (an empty value deletes one).
    pub cookies: Cookies,
    /// The events, in order.
    pub events: Vec<Event>,
    /// The log entries, in order.
    pub log: Vec<LogEntry>,
    /// What went wrong, when no response came or nothing was sent.
    pub error: Option<String>,
    /// The replay store's record of the request, when it was queued or kept for replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<Kept>,
    /// Whether courier refused to send it (a destination the policy does not allow,
    /// a secret bound to other hosts, a redirect it does not follow): `error` says
    /// why. Such a request is not kept for replay, which could not change that.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub refused: bool,
}

impl Outcome {
    /// Sets the outcome's variables into a session's.
    pub fn apply_to(&self, variables: &mut crate::Variables) {
        for (name, value) in &self.variables {
            variables.set(name.clone(), crate::Value::from(value.as_str()));
        }
    }
}

/// A request as it goes out, but for its credentials: every template rendered, the
/// body's file read, the body's headers set. It is what the replay store keeps (less
/// the session's cookies and any header holding a secret), and what
/// [`Executor::send_prepared`] sends again.
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

/// What [`Executor::send_prepared`] needs to add the credentials a saved request was
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
}

/// Why no response came: the event to emit and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: EventKind,
    pub(crate) message: String,
    /// Courier refused to send: nothing went out, and replaying cannot help.
    pub(crate) refused: bool,
}

impl Failure {
    fn exception(message: impl Into<String>) -> Self {
        Failure { kind: EventKind::Exception, message: message.into(), refused: false }
    }

    /// Courier refused to send (an `api_exception`); the message says why.
    pub(crate) fn refused(refusal: Refusal) -> Self {
        Failure { kind: EventKind::Exception, message: refusal.to_string(), refused: true }
    }

    /// Classifies a reqwest error: a timeout while connecting, a timeout while
    /// reading (reqwest's read timeout), or anything else.
    pub(crate) fn from_reqwest(error: &reqwest::Error) -> Self {
        if let Some(refusal) = destination::refusal_in(error) {
            return Failure::refused(refusal.clone());
        }
        let kind = match (error.is_timeout(), error.is_connect()) {
            (true, true) => EventKind::ConnectTimeout,
            (true, false) => EventKind::SocketTimeout,
            _ => EventKind::Exception,
        };
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Failure { kind, message, refused: false }
    }
}

/// A whole response.
struct Response {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A rendered request: every template evaluated, nothing fetched yet.
struct Rendered {
    url: String,
    headers: HeaderMap,
    body: Option<BodyPlan>,
    auth: Option<AuthPlan>,
    /// The spec's `idempotency_key`, rendered.
    idempotency_key: Option<String>,
}

/// The log of one run, and the HTTP request in flight (which a timeout interrupts).
struct Run {
    debug: bool,
    log: Vec<LogEntry>,
    in_flight: Option<InFlight>,
}

struct InFlight {
    method: String,
    url: String,
    trace_id: String,
    started: Instant,
    request: Option<Exchange>,
}

impl Run {
    fn start(&mut self, method: &str, url: &str, trace_id: &str, headers: &HeaderMap, body: Option<&[u8]>) {
        let request = self.debug.then(|| Exchange::new(header_pairs(headers), body));
        self.in_flight = Some(InFlight {
            method: method.to_owned(),
            url: url.to_owned(),
            trace_id: trace_id.to_owned(),
            started: Instant::now(),
            request,
        });
    }

    fn finish(&mut self, result: Result<&Response, &Failure>) {
        let Some(flight) = self.in_flight.take() else {
            return;
        };
        let elapsed = flight.started.elapsed();
        let duration_ms = elapsed.as_millis() as u64;
        let (message, status, response) = match result {
            Ok(response) => (
                format!("{} {} → {} in {duration_ms} ms", flight.method, flight.url, response.status),
                Some(response.status),
                self.debug.then(|| Exchange::new(header_pairs(&response.headers), Some(&response.body))),
            ),
            Err(failure) => (
                format!("{} {} failed after {duration_ms} ms: {}", flight.method, flight.url, failure.message),
                None,
                None,
            ),
        };
        self.log.push(LogEntry {
            method: Some(flight.method),
            url: Some(flight.url),
            status,
            duration_ms: Some(duration_ms),
            trace_id: Some(flight.trace_id),
            request: flight.request,
            response,
            ..LogEntry::note(message)
        });
    }

    fn interrupt(&mut self, why: &str) {
        let failure = Failure::exception(why);
        self.finish(Err(&failure));
    }
}

fn header_pairs(headers: &HeaderMap) -> impl Iterator<Item = (&str, String)> {
    headers.iter().map(|(name, value)| (name.as_str(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
}

/// A fresh idempotency key: a random UUID (version 4).
fn idempotency_key() -> String {
    let bits = rand::random::<u128>() & !(0xf000 << 64) & !(0xc << 60) | (0x4000 << 64) | (0x8 << 60);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// The failure of a request that ran out of its whole time limit; the HTTP request
/// in flight is logged as interrupted.
fn timed_out(total: Duration, run: &mut Run) -> Failure {
    let message = format!("no response within the timeout of {}", humantime::format_duration(total));
    run.interrupt(&message);
    Failure { kind: EventKind::Timeout, message, refused: false }
}

/// A fresh 128-bit trace id, as 32 lowercase hex digits.
fn trace_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The URL without its query and fragment, as events carry it.
fn without_query(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_owned()
}

fn render_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Render, message)
}

impl Executor {
    /// An executor with the default options and no event sink.
    pub fn new() -> Self {
        Executor::with_options(ExecutorOptions::default())
    }

    /// An executor with the given options.
    pub fn with_options(options: ExecutorOptions) -> Self {
        Executor {
            inner: Arc::new(Inner {
                options,
                clients: Mutex::new(HashMap::new()),
                tokens: TokenCache::default(),
                sink: Arc::new(NoEvents),
                store: None,
                host_client: None,
            }),
        }
    }

    /// The same options, with events going to `sink` (a new executor: its pools and
    /// token cache start empty).
    pub fn with_sink(self, sink: Arc<dyn EventSink>) -> Self {
        Executor {
            inner: Arc::new(Inner {
                options: self.inner.options.clone(),
                clients: Mutex::new(HashMap::new()),
                tokens: TokenCache::default(),
                sink,
                store: self.inner.store.clone(),
                host_client: self.inner.host_client.clone(),
            }),
        }
    }

    /// The same options and sink, with a replay store (a new executor: its pools and
    /// token cache start empty): requests that fail for want of a response, or with
    /// status 5xx or 429, are kept in it for replay; a spec with `queue = true` is
    /// saved in it and not sent; and every request carries an `Idempotency-Key`.
    pub fn with_store(self, store: Arc<dyn ReplayStore>) -> Self {
        Executor {
            inner: Arc::new(Inner {
                options: self.inner.options.clone(),
                clients: Mutex::new(HashMap::new()),
                tokens: TokenCache::default(),
                sink: self.inner.sink.clone(),
                store: Some(store),
                host_client: self.inner.host_client.clone(),
            }),
        }
    }

    /// The same options, sink and store, sending through the host's own `client`
    /// (its connection pool, proxies, TLS roots and certificates) instead of
    /// clients courier builds (a new executor: its token cache starts empty).
    ///
    /// The destination policy still holds for every request and redirect hop: an
    /// address in the URL is checked as always, and a host name is resolved by
    /// courier before sending and refused unless *every* address it resolves to is
    /// allowed. What a host client gives up (`docs/security.md`): its own lookup at
    /// connect time is not checked, so a name that answers differently moments later
    /// (DNS rebinding) or a proxy the client uses is outside the policy; a spec's
    /// connect and read limits are the client's own (the read limit still bounds each
    /// read of the answer, and the whole-request limit still holds). Build the
    /// client with `redirect(reqwest::redirect::Policy::none())`: courier follows
    /// redirects itself, checking each hop, and cannot see a client's own policy.
    pub fn with_client(self, client: reqwest::Client) -> Self {
        Executor {
            inner: Arc::new(Inner {
                options: self.inner.options.clone(),
                clients: Mutex::new(HashMap::new()),
                tokens: TokenCache::default(),
                sink: self.inner.sink.clone(),
                store: self.inner.store.clone(),
                host_client: Some(client),
            }),
        }
    }

    /// The options in force.
    pub fn options(&self) -> &ExecutorOptions {
        &self.inner.options
    }

    /// Runs a request: renders it against `variables` (nothing is sent when a
    /// template fails), sends it, and maps the response. Session cookies of the
    /// names the request lists are sent from `cookies`, and those the response sets
    /// are saved into it. Events also go to the executor's sink.
    pub async fn execute(
        &self,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        cookies: &mut Cookies,
    ) -> Outcome {
        self.execute_with_key(request, variables, context, cookies, None).await
    }

    /// [`Executor::execute`] with the caller's `Idempotency-Key`: a caller that sends
    /// one logical request again (after a crash, say) passes the same key, and with
    /// a replay store the retry is the record already kept rather than a second one.
    /// Without it the spec's `idempotency_key`, then an `Idempotency-Key` in its
    /// headers, then a fresh random key is used.
    pub async fn execute_with_key(
        &self,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        cookies: &mut Cookies,
        key: Option<&str>,
    ) -> Outcome {
        let redactor = Arc::new(Redactor::default());
        let mut outcome = Outcome::default();
        let mut run = Run { debug: request.debug, log: Vec::new(), in_flight: None };
        let method = request.method.as_str();
        // Rendering counts against the total time limit, as sending does.
        let total = request.timeouts.total.min(self.inner.options.max_timeout);
        let deadline = Instant::now() + total;
        match self.render(request, variables, context, cookies, &redactor, deadline) {
            Err((field, error)) => {
                let message = format!("{}; nothing was sent", request.describe_field_error(&field, &error));
                let failure = if Instant::now() >= deadline {
                    Failure { kind: EventKind::Timeout, message, refused: false }
                } else {
                    Failure::exception(message)
                };
                fail(&mut outcome, failure, method, &without_query(&request.url_source));
            }
            Ok(rendered) => {
                let url = rendered.url.clone();
                let mut prepared = None;
                let sending = async {
                    let key = match key {
                        Some(key) => Some(key.to_owned()),
                        None => rendered.idempotency_key.clone(),
                    };
                    let (ready, auth) = self.prepare(request, rendered, &redactor, key.as_deref(), &mut run).await?;
                    let ready = prepared.insert(ready);
                    if request.queue {
                        return Ok(None);
                    }
                    self.deliver(ready, auth.as_ref(), request.redirects, &redactor, &mut run).await.map(Some)
                };
                match tokio::time::timeout_at(deadline.into(), sending).await {
                    Ok(Ok(Some(response))) => receive(request, &response, &url, &mut outcome, &mut run),
                    Ok(Ok(None)) => {}
                    Ok(Err(failure)) => fail(&mut outcome, failure, method, &without_query(&url)),
                    Err(_) => fail(&mut outcome, timed_out(total, &mut run), method, &without_query(&url)),
                }
                // The replay store's hook: a queued request is saved instead of sent,
                // and one that failed for want of an answer is kept for replay.
                let keep = request.queue || crate::replay::worth_keeping(&outcome);
                match (&self.inner.store, prepared) {
                    (Some(store), Some(prepared)) if keep => {
                        let supplied_key = key.is_some() || request.idempotency_key.is_some();
                        let kept = crate::replay::keep(
                            store,
                            request,
                            prepared,
                            variables,
                            context,
                            &redactor,
                            &outcome,
                            supplied_key,
                        );
                        match kept.await {
                            Ok(kept) => {
                                run.log.push(LogEntry::note(kept.to_string()));
                                outcome.replay = Some(kept);
                            }
                            Err(why) if request.queue => {
                                let failure =
                                    Failure::exception(format!("cannot queue the request: {why}; nothing was sent"));
                                fail(&mut outcome, failure, method, &without_query(&url));
                            }
                            Err(why) => run.log.push(LogEntry::note(format!("not kept for replay: {why}"))),
                        }
                    }
                    (None, Some(_)) if request.queue => {
                        let failure = Failure::exception(
                            "queue = true needs a replay store, and there is none; nothing was sent",
                        );
                        fail(&mut outcome, failure, method, &without_query(&url));
                    }
                    _ => {}
                }
            }
        }
        self.finish(&mut outcome, run, &redactor);
        for (name, value) in &outcome.cookies {
            if value.is_empty() {
                cookies.shift_remove(name);
            } else {
                cookies.insert(name.clone(), value.clone());
            }
        }
        outcome
    }

    /// Renders a request without sending anything: the method, URL, headers and
    /// body a run would send, credentials and secrets redacted. A local file is
    /// read; a token or a file on the web is not fetched (a note says so).
    pub fn dry_run(
        &self,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        cookies: &Cookies,
    ) -> Result<DryRun, String> {
        let redactor = Arc::new(Redactor::default());
        let deadline = Instant::now() + request.timeouts.total.min(self.inner.options.max_timeout);
        let rendered = self.render(request, variables, context, cookies, &redactor, deadline);
        let redact = |text: &str| redactor.redact(text);
        let mut rendered = rendered.map_err(|(field, error)| redact(&request.describe_field_error(&field, &error)))?;
        let mut notes = Vec::new();
        let body = match rendered.body.take() {
            None => None,
            Some(BodyPlan::Ready(body)) => Some(body),
            Some(BodyPlan::File(plan)) => match &plan.source {
                FileSource::Local(path) => {
                    let bytes = self.read_local_file_now(path).map_err(|failure| redact(&failure.message))?;
                    Some(plan.finish(bytes))
                }
                FileSource::Remote(url) => {
                    notes.push(format!("the body's file {url} is fetched when the request is sent"));
                    None
                }
            },
        };
        match &rendered.auth {
            Some(AuthPlan::OAuth2(token)) => {
                notes.push(format!("an OAuth2 token is fetched from {} when the request is sent", token.token_url));
                rendered.headers.insert(header::AUTHORIZATION, HeaderValue::from_static("[redacted]"));
            }
            Some(AuthPlan::Header(_)) => {
                rendered.headers.insert(header::AUTHORIZATION, HeaderValue::from_static("[redacted]"));
            }
            None => {}
        }
        if let Ok(url) = url::Url::parse(&rendered.url)
            && let Err(refusal) = self.inner.options.destinations.check_url(&url)
        {
            notes.push(format!("when sent, {refusal}"));
        }
        add_body_headers(&mut rendered.headers, body.as_ref());
        if let Some(key) = rendered.idempotency_key.as_deref().and_then(|key| HeaderValue::from_str(key).ok()) {
            rendered.headers.insert(HeaderName::from_static("idempotency-key"), key);
        }
        self.add_idempotency_key(&mut rendered.headers);
        if let Ok(trace) = HeaderValue::from_str(&trace_id()) {
            rendered.headers.insert(HeaderName::from_static("x-b3-traceid"), trace);
        }
        let mut headers = IndexMap::new();
        for (name, value) in header_pairs(&rendered.headers) {
            let value = if super::log::is_credential_header(name) { REDACTED.to_owned() } else { redact(&value) };
            headers.insert(name.to_owned(), value);
        }
        Ok(DryRun {
            method: request.method.as_str().to_owned(),
            url: redact(&rendered.url),
            headers,
            body: body.map(|body| redact(&String::from_utf8_lossy(&body.bytes))),
            notes: notes.iter().map(|note| redact(note)).collect(),
        })
    }

    /// Renders every template, through a context whose secrets the redactor learns
    /// and whose evaluations stop at `deadline`.
    fn render(
        &self,
        request: &CompiledRequest,
        variables: &dyn VariableSource,
        context: &Context,
        cookies: &Cookies,
        redactor: &Arc<Redactor>,
        deadline: Instant,
    ) -> Result<Rendered, FieldError> {
        let resolver = RecordingResolver::new(context.secrets().cloned(), redactor.clone());
        let context = &context.fork_with_secrets(Arc::new(resolver)).with_deadline(deadline);
        let url = request.url.render(variables, context).map_err(|error| ("url".to_owned(), error))?;
        let mut headers = HeaderMap::new();
        for (name, written, template) in &request.headers {
            let field = || format!("headers.{written}");
            let lookups = redactor.lookups();
            let text = template.render(variables, context).map_err(|error| (field(), error))?;
            if redactor.lookups() != lookups {
                redactor.mark_secret_header(name.as_str());
            }
            let value = HeaderValue::from_bytes(text.as_bytes())
                .map_err(|_| (field(), render_error(format!("{text:?} is not a header value"))))?;
            headers.append(name.clone(), value);
        }
        if let Some(cookie) = cookies::request_header(&request.cookies, cookies)
            && let Ok(value) = HeaderValue::from_str(&cookie)
        {
            headers.insert(header::COOKIE, value);
        }
        let body = request.body.as_ref().map(|body| body.render(variables, context, &request.base_dir)).transpose()?;
        let auth = request.auth.as_ref().map(|auth| auth.render(variables, context)).transpose()?;
        learn_credentials(redactor, auth.as_ref());
        let idempotency_key = request
            .idempotency_key
            .as_ref()
            .map(|template| template.render(variables, context))
            .transpose()
            .map_err(|error| ("idempotency_key".to_owned(), error))?;
        Ok(Rendered { url, headers, body, auth, idempotency_key })
    }

    /// The client to send `url` with: the host's (after resolving its name and
    /// checking every address, see [`Executor::with_client`]) or courier's own.
    async fn client_for(&self, url: &str, timeouts: &Timeouts, port: u16) -> Result<reqwest::Client, Failure> {
        let Some(client) = &self.inner.host_client else {
            return self.client(timeouts, port);
        };
        let parsed =
            url::Url::parse(url).map_err(|error| Failure::exception(format!("{url} is not a URL: {error}")))?;
        if let Some(url::Host::Domain(name)) = parsed.host() {
            let resolved = destination::system_lookup()(name.to_owned())
                .await
                .map_err(|error| Failure::exception(format!("cannot resolve {name}: {error}")))?;
            let policy = &self.inner.options.destinations;
            policy.check_every_address(name, &resolved, port).map_err(Failure::refused)?;
        }
        Ok(client.clone())
    }

    /// The pooled client for a request's connect and read limits and destination
    /// port. Its resolver checks every address a name resolves to against the
    /// destination policy (for that port), it follows no redirect (courier follows
    /// them, checking each hop) and uses no proxy (one would resolve names unchecked).
    fn client(&self, timeouts: &Timeouts, port: u16) -> Result<reqwest::Client, Failure> {
        // A saved record's limits were checked when its spec was; the host's cap holds anyway.
        let cap = self.inner.options.max_timeout;
        let key = (timeouts.connect.min(cap), timeouts.read.min(cap), port);
        let mut clients = self.inner.clients.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(client) = clients.get(&key) {
            return Ok(client.clone());
        }
        let resolver = destination::CheckedResolver::new(
            self.inner.options.destinations.clone(),
            port,
            destination::system_lookup(),
        );
        let client = reqwest::Client::builder()
            .connect_timeout(key.0)
            .read_timeout(key.1)
            .user_agent(concat!("courier/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
            .build()
            .map_err(|error| Failure::exception(format!("cannot set up the HTTP client: {error}")))?;
        if clients.len() < MAX_CLIENTS {
            clients.insert(key, client.clone());
        }
        Ok(client)
    }

    /// Sends a prepared request again — a replay, or a queued request's delivery — with
    /// the credentials it was kept without rendered anew from `credentials`. Its
    /// outcome has the status, the status and body variables, events and log; no
    /// mappings or cookies, for there is no session to put them in.
    pub async fn send_prepared(
        &self,
        prepared: &Prepared,
        credentials: Option<Credentials<'_>>,
        context: &Context,
    ) -> Outcome {
        let redactor = Arc::new(Redactor::default());
        let mut outcome = Outcome::default();
        let mut run = Run { debug: false, log: Vec::new(), in_flight: None };
        let (method, url) = (prepared.method, without_query(&prepared.url));
        let ready = match credentials {
            None => Ok((None, None)),
            Some(credentials) => self
                .render_credentials(prepared, credentials, context, &redactor)
                .map(|(ready, auth)| (Some(ready), auth)),
        };
        match ready {
            Err((field, error)) => {
                let failure = Failure::exception(format!("{field}: {error}; nothing was sent"));
                fail(&mut outcome, failure, method.as_str(), &url);
            }
            Ok((ready, auth)) => {
                let ready = ready.as_ref().unwrap_or(prepared);
                let total = ready.timeouts.total.min(self.inner.options.max_timeout);
                let redirects = credentials.map_or(DEFAULT_REDIRECTS, |credentials| credentials.request.redirects);
                let sending = self.deliver(ready, auth.as_ref(), redirects, &redactor, &mut run);
                match tokio::time::timeout(total, sending).await {
                    Ok(Ok(response)) => receive_status(method, &response, &ready.url, &mut outcome),
                    Ok(Err(failure)) => fail(&mut outcome, failure, method.as_str(), &url),
                    Err(_) => fail(&mut outcome, timed_out(total, &mut run), method.as_str(), &url),
                }
            }
        }
        self.finish(&mut outcome, run, &redactor);
        outcome
    }

    /// The last step of every run: the log joins the outcome, secrets are redacted
    /// from all of it, and the events go to the host's sink.
    fn finish(&self, outcome: &mut Outcome, run: Run, redactor: &Redactor) {
        outcome.log = run.log;
        redact_outcome(redactor, outcome);
        for event in &outcome.events {
            self.inner.sink.emit(event);
        }
    }

    /// A prepared request with the headers named in `credentials` rendered from the
    /// spec, and the spec's auth rendered, through a context whose secrets the
    /// redactor learns.
    fn render_credentials(
        &self,
        prepared: &Prepared,
        credentials: Credentials<'_>,
        context: &Context,
        redactor: &Arc<Redactor>,
    ) -> Result<(Prepared, Option<AuthPlan>), FieldError> {
        let resolver = RecordingResolver::new(context.secrets().cloned(), redactor.clone());
        let context = &context.fork_with_secrets(Arc::new(resolver));
        let mut ready = prepared.clone();
        for (name, written, template) in &credentials.request.headers {
            if credentials.headers.iter().any(|wanted| name.as_str().eq_ignore_ascii_case(wanted)) {
                let text = template
                    .render(credentials.variables, context)
                    .map_err(|error| (format!("headers.{written}"), error))?;
                // Kept out of the record as a credential: it stays one on every hop.
                redactor.mark_secret_header(name.as_str());
                ready.headers.push((name.as_str().to_owned(), text));
            }
        }
        let auth =
            credentials.request.auth.as_ref().map(|auth| auth.render(credentials.variables, context)).transpose()?;
        learn_credentials(redactor, auth.as_ref());
        Ok((ready, auth))
    }

    /// Gets the body's file and sets the body's headers (and, with a replay store, an
    /// idempotency key): the request as it goes out, but for its auth.
    async fn prepare(
        &self,
        request: &CompiledRequest,
        rendered: Rendered,
        redactor: &Redactor,
        key: Option<&str>,
        run: &mut Run,
    ) -> Result<(Prepared, Option<AuthPlan>), Failure> {
        let mut headers = rendered.headers;
        let body = match rendered.body {
            None => None,
            Some(BodyPlan::Ready(body)) => Some(body),
            Some(BodyPlan::File(plan)) => Some(self.file_body(plan, request, redactor, run).await?),
        };
        add_body_headers(&mut headers, body.as_ref());
        if let Some(key) = key {
            let key = HeaderValue::from_str(key).map_err(|_| {
                Failure::exception("the idempotency key holds a line break or control character; nothing was sent")
            })?;
            headers.insert(HeaderName::from_static("idempotency-key"), key);
        }
        self.add_idempotency_key(&mut headers);
        let prepared = Prepared {
            method: request.method,
            url: rendered.url,
            headers: header_pairs(&headers).map(|(name, value)| (name.to_owned(), value)).collect(),
            body: body.map(|body| body.bytes),
            timeouts: request.timeouts,
        };
        Ok((prepared, rendered.auth))
    }

    /// A fresh `Idempotency-Key`, when the executor has a replay store and the spec
    /// sets none: one key for the request, its retries and its replays.
    fn add_idempotency_key(&self, headers: &mut HeaderMap) {
        if self.inner.store.is_some()
            && !headers.contains_key(IDEMPOTENCY_HEADER)
            && let Ok(key) = HeaderValue::from_str(&idempotency_key())
        {
            headers.insert(HeaderName::from_static("idempotency-key"), key);
        }
    }

    /// Gets the token, sends the request (again once, with a new token, when an
    /// OAuth2-authorized request is answered 401), reads the answer.
    async fn deliver(
        &self,
        prepared: &Prepared,
        auth: Option<&AuthPlan>,
        redirects: u32,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let timeouts = &prepared.timeouts;
        let mut headers = HeaderMap::new();
        for (name, value) in &prepared.headers {
            let bad = || Failure::exception(format!("the header {name:?} cannot be sent"));
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
            headers.append(name, HeaderValue::from_bytes(value.as_bytes()).map_err(|_| bad())?);
        }
        let mut used_token = None;
        match auth {
            None => {}
            Some(AuthPlan::Header(value)) => set_authorization(&mut headers, value)?,
            Some(AuthPlan::OAuth2(token_request)) => {
                let token = self.token(token_request, None, timeouts, redactor, run).await?;
                redactor.add(&token);
                set_authorization(&mut headers, &format!("{} {token}", token_request.header_prefix))?;
                used_token = Some(token);
            }
        }
        let hop = |headers: HeaderMap| Hop {
            method: prepared.method.to_reqwest(),
            url: prepared.url.clone(),
            headers,
            body: prepared.body.clone(),
        };
        let response = self.send_following(hop(headers.clone()), timeouts, redirects, redactor, run).await?;
        if response.status == 401
            && let (Some(AuthPlan::OAuth2(token_request)), Some(rejected)) = (auth, used_token)
        {
            run.log.push(LogEntry::note("the service answered 401: fetching a new OAuth2 token and sending again"));
            let token = self.token(token_request, Some(&rejected), timeouts, redactor, run).await?;
            redactor.add(&token);
            set_authorization(&mut headers, &format!("{} {token}", token_request.header_prefix))?;
            return self.send_following(hop(headers), timeouts, redirects, redactor, run).await;
        }
        Ok(response)
    }

    /// Sends a request and follows up to `redirects` redirects (then the 3xx is the
    /// answer), checking every hop before it is sent; the log lists each hop.
    async fn send_following(
        &self,
        mut hop: Hop,
        timeouts: &Timeouts,
        redirects: u32,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let mut followed = 0;
        loop {
            let port = self.check_hop(&hop, redactor)?;
            let client = self.client_for(&hop.url, timeouts, port).await?;
            let (method, url) = (hop.method.as_str(), hop.url.as_str());
            let request = client.request(hop.method.clone(), url);
            let response =
                self.attempt(request, method, url, hop.headers.clone(), hop.body.clone(), timeouts.read, run).await?;
            let location = response.headers.get(header::LOCATION).filter(|_| redirect::is_redirect(response.status));
            let Some(location) = location else { return Ok(response) };
            if followed == redirects {
                if redirects > 0 {
                    run.log.push(LogEntry::note(format!(
                        "not following the {} to {:?}: {redirects} redirects were followed already; the {} is the answer",
                        response.status,
                        String::from_utf8_lossy(location.as_bytes()),
                        response.status
                    )));
                }
                return Ok(response);
            }
            followed += 1;
            let (next, dropped) =
                redirect::next_hop(hop, response.status, location, redactor).map_err(Failure::refused)?;
            let mut note = format!(
                "redirect {followed} of at most {redirects}: {} → {} {}",
                response.status, next.method, next.url
            );
            if !dropped.is_empty() {
                note.push_str(&format!(" (another origin: {} not sent)", dropped.join(", ")));
            }
            run.log.push(LogEntry::note(note));
            hop = next;
        }
    }

    /// Checks a hop before it is sent: its URL against the destination policy (an
    /// address written in it now, a name when the resolver resolves it), and every
    /// secret it carries against that secret's host binding. Gives the port.
    fn check_hop(&self, hop: &Hop, redactor: &Redactor) -> Result<u16, Failure> {
        let url = url::Url::parse(&hop.url)
            .map_err(|error| Failure::exception(format!("{} is not a URL: {error}; nothing was sent", hop.url)))?;
        let port = self.inner.options.destinations.check_url(&url).map_err(Failure::refused)?;
        if !redactor.bindings().is_empty() {
            // Copies the body as text: only when some secret of the run is bound.
            let texts = destination::carried_texts(&hop.url, &hop.headers, hop.body.as_deref());
            let host = url.host_str().unwrap_or_default();
            redactor.bindings().check(host, texts.iter().map(String::as_str)).map_err(Failure::refused)?;
        }
        Ok(port)
    }

    /// The OAuth2 token, from the cache or fetched once for all waiting requests.
    /// The token request follows no redirect: its credentials go to the token URL
    /// and nowhere else, and only that host's token is taken.
    async fn token(
        &self,
        request: &super::auth::TokenRequest,
        rejected: Option<&str>,
        timeouts: &Timeouts,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<String, Failure> {
        let token_url = url::Url::parse(&request.token_url).map_err(|error| {
            Failure::exception(format!("getting an OAuth2 token: {} is not a URL: {error}", request.token_url))
        })?;
        let port = self.inner.options.destinations.check_url(&token_url).map_err(Failure::refused)?;
        let host = token_url.host_str().unwrap_or_default();
        redactor.bindings().check(host, request.carried()).map_err(Failure::refused)?;
        let client = &self.client_for(&request.token_url, timeouts, port).await?;
        let read_timeout = timeouts.read;
        let max_bytes = self.inner.options.max_response_bytes;
        let fetch = || async move {
            // The exchange is logged like any request (with debug: headers and
            // body, the credentials and tokens replaced).
            let trace = trace_id();
            let logged_form = request.form(true);
            run.start("POST", &request.token_url, &trace, &request.headers(&trace), Some(logged_form.as_bytes()));
            match request.fetch(client, &trace, read_timeout, max_bytes).await {
                Ok((answer, token)) => {
                    let response =
                        Response { status: answer.status, headers: answer.headers, body: answer.logged_body };
                    run.finish(Ok(&response));
                    Ok(token)
                }
                Err((_, failure)) => {
                    let failure =
                        Failure { message: format!("getting an OAuth2 token: {}", failure.message), ..failure };
                    run.finish(Err(&failure));
                    Err(failure)
                }
            }
        };
        self.inner.tokens.token(request, rejected, fetch).await
    }

    /// Sends one HTTP request and reads the whole answer, logging it.
    #[allow(clippy::too_many_arguments)]
    async fn attempt(
        &self,
        request: reqwest::RequestBuilder,
        method: &str,
        url: &str,
        mut headers: HeaderMap,
        body: Option<Vec<u8>>,
        read_timeout: Duration,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let trace = trace_id();
        if let Ok(value) = HeaderValue::from_str(&trace) {
            headers.insert(HeaderName::from_static("x-b3-traceid"), value);
        }
        run.start(method, url, &trace, &headers, body.as_deref());
        let mut request = request.headers(headers);
        if let Some(body) = body {
            request = request.body(body);
        }
        let result = async {
            let response = request.send().await.map_err(|error| Failure::from_reqwest(&error))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = read_body(response, read_timeout, self.inner.options.max_response_bytes).await?;
            Ok(Response { status, headers, body })
        }
        .await;
        run.finish(result.as_ref());
        result
    }

    /// Reads a file body's file, from disk or the web.
    async fn file_body(
        &self,
        plan: FilePlan,
        request: &CompiledRequest,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Body, Failure> {
        let limit = self.inner.options.max_file_bytes;
        let bytes = match &plan.source {
            FileSource::Local(path) => {
                let path = path.clone();
                let this = self.clone();
                tokio::task::spawn_blocking(move || this.read_local_file_now(&path))
                    .await
                    .map_err(|error| Failure::exception(format!("reading the file failed: {error}")))??
            }
            FileSource::Remote(url) => {
                let hop =
                    Hop { method: reqwest::Method::GET, url: url.to_string(), headers: HeaderMap::new(), body: None };
                let response = self
                    .send_following(hop, &request.timeouts, request.redirects, redactor, run)
                    .await
                    .map_err(|failure| match failure.refused {
                        // A refusal names the file's host already, and starts with why.
                        true => failure,
                        false => {
                            Failure { message: format!("fetching the file {url}: {}", failure.message), ..failure }
                        }
                    })?;
                if !(200..300).contains(&response.status) {
                    return Err(Failure::exception(format!(
                        "fetching the file {url}: the server answered {}",
                        response.status
                    )));
                }
                if response.body.len() > limit {
                    return Err(Failure::exception(format!("the file {url} is larger than {limit} bytes")));
                }
                response.body
            }
        };
        Ok(plan.finish(bytes))
    }

    fn read_local_file_now(&self, path: &Path) -> Result<Vec<u8>, Failure> {
        use std::io::Read;
        let Some(folder) = &self.inner.options.local_files else {
            return Err(Failure::exception(format!(
                "the body's file {} is a local path, and this host does not allow reading local files",
                path.display()
            )));
        };
        let limit = self.inner.options.max_file_bytes;
        let cannot =
            |error: std::io::Error| Failure::exception(format!("cannot read the file {}: {error}", path.display()));
        // Links are followed before the check, so that none leads out of the folder.
        let resolved = path.canonicalize().map_err(cannot)?;
        let allowed = folder.canonicalize().map_err(|error| {
            Failure::exception(format!("the folder for local files {} cannot be read: {error}", folder.display()))
        })?;
        if !resolved.starts_with(&allowed) || !resolved.is_file() {
            return Err(Failure::exception(format!(
                "the body's file {} is not a file inside the folder this host allows ({})",
                path.display(),
                folder.display()
            )));
        }
        let file = std::fs::File::open(&resolved).map_err(cannot)?;
        let mut bytes = Vec::new();
        file.take(limit as u64 + 1).read_to_end(&mut bytes).map_err(cannot)?;
        if bytes.len() > limit {
            return Err(Failure::exception(format!("the file {} is larger than {limit} bytes", path.display())));
        }
        Ok(bytes)
    }
}

/// Tells the redactor every credential the auth derives (a Basic header's Base64, an
/// OAuth2 client's header), which no `secret()` call reveals by itself.
fn learn_credentials(redactor: &Redactor, auth: Option<&AuthPlan>) {
    for credential in auth.map(AuthPlan::credentials).unwrap_or_default() {
        redactor.add_credential(&credential);
    }
}

fn set_authorization(headers: &mut HeaderMap, value: &str) -> Result<(), Failure> {
    let mut value = HeaderValue::from_bytes(value.as_bytes())
        .map_err(|_| Failure::exception("the Authorization header would hold a line break or control character"))?;
    value.set_sensitive(true);
    headers.insert(header::AUTHORIZATION, value);
    Ok(())
}

/// The body's Content-Type and Content-Disposition, unless the spec's headers set them.
fn add_body_headers(headers: &mut HeaderMap, body: Option<&Body>) {
    let Some(body) = body else { return };
    let mut set = |name: HeaderName, value: &str| {
        if !headers.contains_key(&name)
            && let Ok(value) = HeaderValue::from_str(value)
        {
            headers.insert(name, value);
        }
    };
    set(header::CONTENT_TYPE, &body.content_type);
    if let Some(disposition) = &body.disposition {
        set(header::CONTENT_DISPOSITION, disposition);
    }
}

/// Reads a response body chunk by chunk: at most `max_bytes`, and no chunk may take
/// longer than `read_timeout` to come.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    read_timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, Failure> {
    let too_large = || Failure::exception(format!("the response body is larger than the limit of {max_bytes} bytes"));
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(read_timeout, response.chunk()).await {
            Err(_) => {
                let message =
                    format!("the response went silent for {} while reading", humantime::format_duration(read_timeout));
                return Err(Failure { kind: EventKind::SocketTimeout, message, refused: false });
            }
            Ok(Err(error)) => return Err(Failure::from_reqwest(&error)),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > max_bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}

/// Records a run that got no response: its error and its event.
fn fail(outcome: &mut Outcome, failure: Failure, method: &str, url: &str) {
    outcome.events.push(Event {
        name: failure.kind,
        time: Utc::now(),
        method: method.to_owned(),
        url: url.to_owned(),
        status: None,
        error: Some(failure.message.clone()),
    });
    outcome.error = Some(failure.message);
    outcome.refused |= failure.refused;
}

/// Maps a response into the outcome: status and body variables, the status's
/// event, cookies, mappings and response headers.
fn receive(request: &CompiledRequest, response: &Response, url: &str, outcome: &mut Outcome, run: &mut Run) {
    receive_status(request.method, response, url, outcome);
    for value in response.headers.get_all(header::SET_COOKIE) {
        if value.len() > cookies::MAX_COOKIE_BYTES {
            run.log.push(LogEntry::note(format!(
                "a Set-Cookie of {} bytes was ignored: cookies are capped at {} bytes (RFC 6265, 6.1)",
                value.len(),
                cookies::MAX_COOKIE_BYTES
            )));
            continue;
        }
        if let Some((name, value)) = cookies::saved(&request.cookies, &String::from_utf8_lossy(value.as_bytes())) {
            outcome.cookies.insert(name, value);
        }
    }
    if !request.mappings.is_empty() {
        match super::mapping::parse_response(&response.body) {
            Ok(json) => {
                for mapping in &request.mappings {
                    match mapping.read(json) {
                        Some(value) => {
                            outcome.variables.insert(mapping.target.clone(), value);
                        }
                        None => run.log.push(LogEntry::note(format!(
                            "mapping {:?} → {}: the response has no such field; {} is unchanged",
                            mapping.source, mapping.target, mapping.target
                        ))),
                    }
                }
            }
            Err(why) => {
                for mapping in &request.mappings {
                    run.log.push(LogEntry::note(format!(
                        "mapping {:?} → {}: {why}; {} is unchanged",
                        mapping.source, mapping.target, mapping.target
                    )));
                }
            }
        }
    }
    for (name, target) in &request.response_headers {
        match response.headers.get(name) {
            Some(value) => {
                outcome.variables.insert(target.clone(), String::from_utf8_lossy(value.as_bytes()).into_owned());
            }
            None => run.log.push(LogEntry::note(format!(
                "response header {name} → {target}: the response has no such header; {target} is unchanged"
            ))),
        }
    }
}

/// The status into the outcome: the status and body variables, the status's event.
fn receive_status(method: Method, response: &Response, url: &str, outcome: &mut Outcome) {
    let status = response.status;
    outcome.status = Some(status);
    let text = decode(&response.headers, &response.body);
    outcome.variables.insert("api_client_status_code".to_owned(), status.to_string());
    outcome.variables.insert("api_client_response_body".to_owned(), text);
    if let Some(kind) = EventKind::for_status(status) {
        outcome.events.push(Event {
            name: kind,
            time: Utc::now(),
            method: method.as_str().to_owned(),
            url: without_query(url),
            status: Some(status),
            error: None,
        });
    }
}

/// The body as text, decoded by the charset its Content-Type names (UTF-8 otherwise).
fn decode(headers: &HeaderMap, body: &[u8]) -> String {
    let charset = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).and_then(|value| {
        value.split(';').skip(1).find_map(|parameter| {
            let (key, value) = parameter.split_once('=')?;
            key.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"').to_owned())
        })
    });
    let encoding =
        charset.and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes())).unwrap_or(encoding_rs::UTF_8);
    encoding.decode(body).0.into_owned()
}

/// Replaces every secret the run resolved (and the tokens it fetched) in
/// everything the outcome hands back.
fn redact_outcome(redactor: &Redactor, outcome: &mut Outcome) {
    if redactor.is_empty() {
        return;
    }
    for value in outcome.variables.values_mut().chain(outcome.cookies.values_mut()) {
        redactor.redact_in_place(value);
    }
    for event in &mut outcome.events {
        redactor.redact_in_place(&mut event.url);
        if let Some(error) = &mut event.error {
            redactor.redact_in_place(error);
        }
    }
    for entry in &mut outcome.log {
        redactor.redact_in_place(&mut entry.message);
        for text in [&mut entry.url, &mut entry.method].into_iter().flatten() {
            redactor.redact_in_place(text);
        }
        for exchange in [&mut entry.request, &mut entry.response].into_iter().flatten() {
            for value in exchange.headers.values_mut() {
                redactor.redact_in_place(value);
            }
            if let Some(body) = &mut exchange.body {
                redactor.redact_in_place(body);
            }
        }
    }
    if let Some(error) = &mut outcome.error {
        redactor.redact_in_place(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executors_are_shared_between_tasks() {
        fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
        assert_send_sync_clone::<Executor>();
    }

    #[test]
    fn runs_can_be_spawned_onto_other_threads() {
        fn assert_send<T: Send>(_: &T) {}
        let request =
            CompiledRequest::from_toml(&crate::Engine::new(), "url = \"http://127.0.0.1:9/\"", Path::new("."))
                .expect("the spec compiles");
        let executor = Executor::new();
        let variables = crate::Variables::new();
        let context = Context::default();
        let mut cookies = Cookies::new();
        assert_send(&executor.execute(&request, &variables, &context, &mut cookies));
    }

    #[test]
    fn events_carry_the_url_without_its_query() {
        assert_eq!(without_query("https://x.org/a/b?key=1#top"), "https://x.org/a/b");
        assert_eq!(without_query("https://x.org/a"), "https://x.org/a");
    }

    #[test]
    fn trace_ids_are_128_bit_hex() {
        let (a, b) = (trace_id(), trace_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn bodies_are_decoded_by_their_charset() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=ISO-8859-1"));
        assert_eq!(decode(&headers, b"M\xfcnster"), "Münster");
        assert_eq!(decode(&HeaderMap::new(), "Münster".as_bytes()), "Münster");
    }
}
