//! The executor: renders a compiled request against a session's variables, sends
//! it with reqwest under the three time limits, classifies what happened into the
//! chat platform's events, and maps the response back into an [`Outcome`].
//!
//! One [`Executor`] serves a whole process: it is cheap to clone and holds the
//! connection pools and the OAuth2 token cache that every request shares.
//!
//! This file is the facade (options, rendering, preparing, `execute`, `dry_run`,
//! `send_prepared`); beside it: `call` (a run step by step, for the delivery
//! layer), `transport` (the client pool and one exchange), `follow` (redirects),
//! `authorize` (the `Authorization` header, the OAuth2 token, the Digest answer,
//! the `[sign]` headers), `poll` (a `202 Accepted` job's `Location` asked until it
//! is done), `files` (a file body's file), `receive` (the response into the
//! outcome), `outcome` (the types handed back).

mod authorize;
mod call;
mod files;
mod follow;
mod outcome;
mod poll;
mod receive;
mod transport;
mod unset;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};

use super::auth::{AuthPlan, TokenCache};
use super::body::{BodyPlan, FieldError, FileSource};
use super::cookies::{self, Cookies};
use super::destination::Destinations;
pub(crate) use super::exchange::Failure;
use super::log::{Carrier, REDACTED, RecordingResolver, Redactor};
use super::poll::PollPolicy;
use super::sign::SignPlan;
use super::spec::{CompiledRequest, DEFAULT_REDIRECTS};
use super::tls::TlsSetup;
use crate::error::{Error, ErrorKind};
use crate::events::{EventSink, NoEvents};
use crate::functions::Context;
use crate::variables::VariableSource;
use authorize::learn_credentials;
pub(crate) use call::{Attempt, Call, KeyChoice, Sent};
use files::add_body_headers;
pub use outcome::{Credentials, DryRun, Outcome, Prepared};
use receive::{fail, receive_status, redact_outcome, without_query};
use tracing::Instrument;
use transport::{Run, header_pairs, timed_out};

/// The header that carries a request's trace id.
pub const TRACE_HEADER: &str = "X-B3-TraceId";

/// The header that carries a request's idempotency key.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Distinct (connect, read, port, TLS setup) keys that get a pooled client of their own.
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
    /// The most attempts a spec's `[retry]` may make (default 10, the most a spec
    /// may ask for): a host serving many tenants lowers it so that one send cannot
    /// become many requests to a service.
    pub max_attempts: u32,
    /// An egress proxy every request goes through (`--proxy`, `COURIER_PROXY`;
    /// default none). courier checks the destination first, then asks the proxy
    /// for `CONNECT <checked address>:<port>`: a refused destination never reaches
    /// it, and the proxy cannot be steered elsewhere by DNS (`docs/security.md`).
    /// Not used by a host's own client ([`Executor::with_client`]).
    pub proxy: Option<super::proxy::EgressProxy>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        ExecutorOptions {
            max_response_bytes: 10 << 20,
            max_file_bytes: 10 << 20,
            local_files: None,
            max_timeout: Duration::from_secs(600),
            destinations: Destinations::public_only(),
            max_attempts: super::retry::MAX_ATTEMPTS,
            proxy: None,
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
    clients: Mutex<HashMap<transport::ClientKey, reqwest::Client>>,
    tokens: TokenCache,
    sink: Arc<dyn EventSink>,
    /// A client the host passed (see [`Executor::with_client`]), used instead of
    /// courier's own pooled clients.
    host_client: Option<reqwest::Client>,
    /// The egress proxy's relay, started with the first client when there is a proxy.
    relay: Mutex<Option<Arc<super::proxy::Relay>>>,
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

/// A rendered request: every template evaluated, nothing fetched yet.
struct Rendered {
    url: String,
    headers: HeaderMap,
    body: Option<BodyPlan>,
    auth: Option<AuthPlan>,
    /// `[sign]`, its secret rendered.
    sign: Option<SignPlan>,
    /// The spec's `idempotency_key`, rendered.
    idempotency_key: Option<String>,
    /// The spec's `[tls]`, rendered.
    tls: Option<TlsSetup>,
    /// A log note for each variable read but not set.
    unset: Vec<String>,
}

/// What a request is sent with besides its prepared form, rendered for each run
/// and never kept: its auth and its signing key.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plans {
    auth: Option<AuthPlan>,
    sign: Option<SignPlan>,
}

/// How a request's answer is followed: redirects, a `202` job polled, all before
/// the request's deadline.
#[derive(Debug, Clone, Copy)]
pub(super) struct Following<'a> {
    redirects: u32,
    poll: Option<&'a PollPolicy>,
    deadline: Instant,
}

/// A fresh idempotency key: a random UUID (version 4).
pub fn new_idempotency_key() -> String {
    let bits = rand::random::<u128>() & !(0xf000 << 64) & !(0xc << 60) | (0x4000 << 64) | (0x8 << 60);
    let hex = format!("{bits:032x}");
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// A fresh `Idempotency-Key`, when the spec sets none: one key for the request,
/// its retries and its replays.
fn add_idempotency_key(headers: &mut HeaderMap) {
    if !headers.contains_key(IDEMPOTENCY_HEADER)
        && let Ok(key) = HeaderValue::from_str(&new_idempotency_key())
    {
        headers.insert(HeaderName::from_static("idempotency-key"), key);
    }
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
                host_client: None,
                relay: Mutex::new(None),
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
                host_client: self.inner.host_client.clone(),
                relay: Mutex::new(None),
            }),
        }
    }

    /// The same options and sink, sending through the host's own `client`
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
                host_client: Some(client),
                relay: Mutex::new(None),
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
    /// one logical request again (after a crash, say) passes the same key. Without
    /// it the spec's `idempotency_key`, then an `Idempotency-Key` in its headers is
    /// sent; the executor adds no fresh key of its own (the delivery layer,
    /// `crate::replay::Delivery`, does when a request may be sent again).
    ///
    /// The request is sent once: `[retry]` and the replay store are the delivery
    /// layer's, and a spec with `queue = true` fails here, since only that layer
    /// has a store to queue it in.
    pub async fn execute_with_key(
        &self,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        cookies: &mut Cookies,
        key: Option<&str>,
    ) -> Outcome {
        let choice = KeyChoice { supplied: key, fresh: false };
        let mut call = self.call(request, variables, context, cookies, choice).await;
        let queued_without_store = request.queue && call.prepared().is_some();
        if !request.queue {
            call.send().await;
        }
        if request.retry.as_ref().is_some_and(|policy| policy.attempts > 1) {
            // The policy is the delivery layer's to apply; say so rather than ignore it unseen.
            call.note("sent once: [retry] is applied by the delivery layer (replay::Delivery), not Executor::execute");
        }
        let mut sent = call.finish();
        if queued_without_store {
            sent.fail("queue = true needs a replay store, and there is none; nothing was sent");
        }
        sent.complete(cookies)
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
        let mut notes = std::mem::take(&mut rendered.unset);
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
            Some(AuthPlan::Digest(_)) => {
                notes.push(
                    "Digest auth: the request is sent without Authorization, and again with the answer to the \
                     service's 401 challenge"
                        .to_owned(),
                );
            }
            None => {}
        }
        if let Some(policy) = request.poll() {
            notes.push(poll::describe(policy));
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
        if let Some(sign) = &rendered.sign {
            // A real run makes a fresh key too when nothing gives one.
            add_idempotency_key(&mut rendered.headers);
            let bytes = body.as_ref().map(|body| body.bytes.as_slice()).unwrap_or_default();
            sign.apply(&mut rendered.headers, bytes, chrono::Utc::now().timestamp()).map_err(|error| redact(&error))?;
            rendered
                .headers
                .insert(HeaderName::from_static(super::sign::SIGNATURE_HEADER), HeaderValue::from_static(REDACTED));
            notes.push(
                "signed with Standard Webhooks: webhook-timestamp and webhook-signature are made again for each \
                 attempt, over the body as sent"
                    .to_owned(),
            );
        }
        super::trace::TraceParent::fresh().insert_into(&mut rendered.headers);
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
            tls: request
                .tls
                .iter()
                .flat_map(|tls| tls.describe())
                .map(|(field, shown)| (field, redact(&shown)))
                .collect(),
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
        let noting = unset::NotingUnset::new(variables);
        let variables: &dyn VariableSource = &noting;
        let resolver = RecordingResolver::new(context.secrets().cloned(), redactor.clone());
        let context = &context.fork_with_secrets(Arc::new(resolver)).with_deadline(deadline);
        let mark = redactor.resolved();
        let url = request.url.render(variables, context).map_err(|error| ("url".to_owned(), error))?;
        let mut headers = HeaderMap::new();
        for (name, written, template) in &request.headers {
            let field = || format!("headers.{written}");
            let lookups = redactor.lookups();
            let text = template.render(variables, context).map_err(|error| (field(), error))?;
            if redactor.lookups() != lookups {
                redactor.mark_secret_header(name.as_str());
                learn_derived(redactor, &text);
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
        let idempotency_key = request
            .idempotency_key
            .as_ref()
            .map(|template| template.render(variables, context))
            .transpose()
            .map_err(|error| ("idempotency_key".to_owned(), error))?;
        let tls = render_tls(request, variables, context, redactor)?;
        redactor.taint(mark, Carrier::Request);
        let auth = render_auth(request, variables, context, redactor)?;
        let sign = render_sign(request, variables, context, redactor)?;
        Ok(Rendered { url, headers, body, auth, sign, idempotency_key, tls, unset: noting.notes() })
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
        let span = call::send_span(prepared.method.as_str(), None, &prepared.url);
        let mut run = span.in_scope(|| Run::new(false));
        let (method, url) = (prepared.method, without_query(&prepared.url));
        let ready = match credentials {
            None => Ok((None, Plans::default())),
            Some(credentials) => {
                self.render_credentials(prepared, credentials, context, &redactor).map(|(ready, plans, tls)| {
                    run.tls = tls.map(Arc::new);
                    (Some(ready), plans)
                })
            }
        };
        match ready {
            Err((field, error)) => {
                let failure = Failure::exception(format!("{field}: {error}; nothing was sent"));
                fail(&mut outcome, failure, method.as_str(), &url);
            }
            Ok((ready, plans)) => {
                let ready = ready.as_ref().unwrap_or(prepared);
                let total = ready.timeouts.total.min(self.inner.options.max_timeout);
                let deadline = Instant::now() + total;
                let following = Following {
                    redirects: credentials.map_or(DEFAULT_REDIRECTS, |credentials| credentials.request.redirects),
                    poll: credentials.and_then(|credentials| credentials.request.poll()),
                    deadline,
                };
                let attempt = call::attempt_span(&span, 1);
                let sending = self.deliver(ready, &plans, following, &redactor, &mut run);
                let result = match tokio::time::timeout_at(deadline.into(), sending).instrument(attempt.clone()).await {
                    Ok(result) => result,
                    Err(_) => Err(timed_out(total, &mut run)),
                };
                call::record_result(&attempt, &result);
                call::record_result(&span, &result);
                span.record("courier.attempts", 1);
                match result {
                    Ok(response) => receive_status(method, &response, &ready.url, &mut outcome),
                    Err(failure) => fail(&mut outcome, failure, method.as_str(), &url),
                }
            }
        }
        outcome.log = run.log;
        self.finish(&mut outcome, &redactor);
        outcome
    }

    /// The last step of every run: the log joins the outcome, secrets are redacted
    /// from all of it, and the events go to the host's sink.
    fn finish(&self, outcome: &mut Outcome, redactor: &Redactor) {
        redact_outcome(redactor, outcome);
        for event in &outcome.events {
            self.inner.sink.emit(event);
        }
    }

    /// A prepared request with the headers named in `credentials` rendered from the
    /// spec (and its URL, when its query reads a secret), and the spec's auth and
    /// `[tls]` rendered, through a context whose secrets the redactor learns.
    fn render_credentials(
        &self,
        prepared: &Prepared,
        credentials: Credentials<'_>,
        context: &Context,
        redactor: &Arc<Redactor>,
    ) -> Result<(Prepared, Plans, Option<TlsSetup>), FieldError> {
        let resolver = RecordingResolver::new(context.secrets().cloned(), redactor.clone());
        let context = &context.fork_with_secrets(Arc::new(resolver));
        let mut ready = prepared.clone();
        let mark = redactor.resolved();
        if credentials.url {
            let url = credentials.request.url.render(credentials.variables, context);
            let url = url.map_err(|error| ("url".to_owned(), error))?;
            if !differs_only_in_query(&prepared.url, &url) {
                let why = "it renders to another address than the one kept (outside its query)";
                return Err(("url".to_owned(), render_error(why)));
            }
            ready.url = url;
        }
        let tls = render_tls(credentials.request, credentials.variables, context, redactor)?;
        redactor.taint(mark, Carrier::Request);
        for (name, written, template) in &credentials.request.headers {
            if credentials.headers.iter().any(|wanted| name.as_str().eq_ignore_ascii_case(wanted)) {
                let mark = redactor.resolved();
                let text = template
                    .render(credentials.variables, context)
                    .map_err(|error| (format!("headers.{written}"), error))?;
                // Kept out of the record as a credential: it stays one on every hop.
                redactor.mark_secret_header(name.as_str());
                redactor.taint(mark, Carrier::Request);
                learn_derived(redactor, &text);
                ready.headers.push((name.as_str().to_owned(), text));
            }
        }
        let auth = render_auth(credentials.request, credentials.variables, context, redactor)?;
        let sign = render_sign(credentials.request, credentials.variables, context, redactor)?;
        Ok((ready, Plans { auth, sign }, tls))
    }

    /// Gets the body's file and sets the body's headers and the idempotency key
    /// (`key`, else a fresh one when `fresh_key`): the request as it goes out, but
    /// for its auth.
    #[allow(clippy::too_many_arguments)]
    async fn prepare(
        &self,
        request: &CompiledRequest,
        rendered: Rendered,
        redactor: &Redactor,
        key: Option<&str>,
        fresh_key: bool,
        run: &mut Run,
    ) -> Result<(Prepared, Plans), Failure> {
        let mut headers = rendered.headers;
        let body = match rendered.body {
            None => None,
            Some(BodyPlan::Ready(body)) => Some(body),
            Some(BodyPlan::File(plan)) => Some(self.file_body(plan, request, redactor, run).await?),
        };
        // Set after the body's file is fetched: that is another request, to another
        // host, which the client certificate is not for; the request's own origin is
        // that of its first hop, not the file's.
        run.tls = rendered.tls.map(Arc::new);
        run.origin = None;
        add_body_headers(&mut headers, body.as_ref());
        if let Some(key) = key {
            let key = HeaderValue::from_str(key).map_err(|_| {
                Failure::exception("the idempotency key holds a line break or control character; nothing was sent")
            })?;
            headers.insert(HeaderName::from_static("idempotency-key"), key);
        }
        // A signed request's key is its webhook-id: it always has one.
        if fresh_key || rendered.sign.is_some() {
            add_idempotency_key(&mut headers);
        }
        let prepared = Prepared {
            method: request.method,
            url: rendered.url,
            headers: header_pairs(&headers).map(|(name, value)| (name.to_owned(), value)).collect(),
            body: body.map(|body| body.bytes),
            timeouts: request.timeouts,
        };
        Ok((prepared, Plans { auth: rendered.auth, sign: rendered.sign }))
    }
}

/// Renders the spec's auth; the secrets its templates called go out with the
/// request, or with the token request for OAuth2 (the request carries only the token).
fn render_auth(
    request: &CompiledRequest,
    variables: &dyn VariableSource,
    context: &Context,
    redactor: &Redactor,
) -> Result<Option<AuthPlan>, FieldError> {
    let mark = redactor.resolved();
    let auth = request.auth.as_ref().map(|auth| auth.render(variables, context)).transpose()?;
    let carrier = match auth {
        Some(AuthPlan::OAuth2(_)) => Carrier::TokenRequest,
        _ => Carrier::Request,
    };
    redactor.taint(mark, carrier);
    learn_credentials(redactor, auth.as_ref());
    Ok(auth)
}

/// Whether two URLs are the same but for their query (and fragment): the same
/// scheme, user, host, port and path. Unparsable ones are not.
pub(crate) fn differs_only_in_query(kept: &str, rendered: &str) -> bool {
    let (Ok(kept), Ok(rendered)) = (url::Url::parse(kept), url::Url::parse(rendered)) else { return false };
    kept[..url::Position::AfterPath] == rendered[..url::Position::AfterPath]
}

/// Renders the spec's `[tls]`: its client key is learnt as a secret, whether it
/// came from `secret()`, a transformation of one, or the spec's text.
fn render_tls(
    request: &CompiledRequest,
    variables: &dyn VariableSource,
    context: &Context,
    redactor: &Redactor,
) -> Result<Option<TlsSetup>, FieldError> {
    let Some(tls) = &request.tls else { return Ok(None) };
    let setup = tls.render(variables, context)?;
    if let Some(key) = setup.key_pem() {
        redactor.add(&String::from_utf8_lossy(key));
    }
    Ok(Some(setup))
}

/// Renders the spec's `[sign]` secret: it goes out with the request (as the
/// signature it makes), and the redactor learns its key's Base64 besides the
/// secret as written. The signature header counts as a credential on a redirect.
fn render_sign(
    request: &CompiledRequest,
    variables: &dyn VariableSource,
    context: &Context,
    redactor: &Redactor,
) -> Result<Option<SignPlan>, FieldError> {
    let Some(sign) = &request.sign else { return Ok(None) };
    let mark = redactor.resolved();
    let plan = sign.render(variables, context)?;
    redactor.taint(mark, Carrier::Request);
    for credential in plan.credentials() {
        redactor.add(&credential);
    }
    redactor.mark_secret_header(super::sign::SIGNATURE_HEADER);
    Ok(Some(plan))
}

/// Shortest rendered value of a header that called `secret()` which is redacted
/// as a secret itself: a shorter one (a flag, a digit) would blank out unrelated text.
const MIN_DERIVED_SECRET: usize = 8;

/// Learns the rendered value of a header whose template called `secret()` (a
/// hash, a signature, a transformed secret) as a secret: echoed by a service, it
/// is redacted like one.
fn learn_derived(redactor: &Redactor, value: &str) {
    if value.len() >= MIN_DERIVED_SECRET {
        redactor.add(value);
    }
}

#[cfg(test)]
mod tests {
    use super::receive::decode;
    use super::*;

    #[test]
    fn executors_are_shared_between_tasks() {
        fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
        assert_send_sync_clone::<Executor>();
    }

    #[test]
    fn runs_can_be_spawned_onto_other_threads() {
        fn assert_send<T: Send>(_: &T) {}
        let request = CompiledRequest::from_toml(
            &crate::Engine::new(),
            "url = \"http://127.0.0.1:9/\"",
            std::path::Path::new("."),
        )
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
        let (a, b) = (super::super::trace::TraceParent::fresh(), super::super::trace::TraceParent::fresh());
        assert_eq!(a.trace_hex().len(), 32);
        assert!(a.trace_hex().bytes().all(|byte| byte.is_ascii_hexdigit()));
        assert_ne!(a.trace_hex(), b.trace_hex());
    }

    #[test]
    fn bodies_are_decoded_by_their_charset() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=ISO-8859-1"));
        assert_eq!(decode(&headers, b"M\xfcnster"), "Münster");
        assert_eq!(decode(&HeaderMap::new(), "Münster".as_bytes()), "Münster");
    }
}
