//! Loading a spec into a [`CompiledRequest`]: every field checked and every
//! template compiled, and where each field is written.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::header::HeaderName;

use crate::error::Error;
use crate::eval::Engine;
use crate::request::auth::CompiledAuth;
use crate::request::body::CompiledBody;
use crate::request::fields;
use crate::request::mapping::Mapping;
use crate::request::poll::PollPolicy;
use crate::request::retry::RetryPolicy;
use crate::request::sign::CompiledSign;
use crate::request::source::SpecFormat;
use crate::request::tls::CompiledTls;
use crate::syntax::{LineIndex, Span};
use crate::template::{HeaderTemplate, Template, TemplateKind, UrlTemplate};

use super::*;

/// A request whose every template is compiled: immutable, `Send + Sync`, executed
/// any number of times, from any number of tasks.
#[derive(Debug, Clone)]
pub struct CompiledRequest {
    pub(crate) method: Method,
    pub(crate) url: UrlTemplate,
    pub(crate) url_source: String,
    /// Name, the name as written (for messages), template.
    pub(crate) headers: Vec<(HeaderName, String, HeaderTemplate)>,
    pub(crate) body: Option<CompiledBody>,
    pub(crate) auth: Option<CompiledAuth>,
    pub(crate) cookies: Vec<String>,
    pub(crate) mappings: Vec<Mapping>,
    pub(crate) response_headers: Vec<(HeaderName, String)>,
    pub(crate) timeouts: Timeouts,
    pub(crate) redirects: u32,
    pub(crate) debug: bool,
    pub(crate) queue: bool,
    pub(crate) base_dir: PathBuf,
    /// A name to find the spec again by (the file's absolute path, for a file).
    pub(crate) name: Option<String>,
    /// The SHA-256 of the spec's text, as lowercase hex, when it was compiled from text.
    pub(crate) sha256: Option<String>,
    /// The spec's `idempotency_key` template.
    pub(crate) idempotency_key: Option<HeaderTemplate>,
    /// The spec's `tenant` template.
    pub(crate) tenant: Option<Template>,
    /// Where its fields are written, to place an error found while rendering.
    pub(crate) origin: Option<Arc<Origin>>,
    /// `[retry]`, when the spec has one.
    pub(crate) retry: Option<RetryPolicy>,
    /// `[tls]`, when the spec has one.
    pub(crate) tls: Option<CompiledTls>,
    /// `[sign]`, when the spec has one.
    pub(crate) sign: Option<CompiledSign>,
    /// `[poll]`, when the spec has one.
    pub(crate) poll: Option<PollPolicy>,
}

/// Where a compiled spec's fields are written: the spec's text and file, each
/// field's value, and the fields read from another file (a `payload_file`).
#[derive(Debug)]
pub(crate) struct Origin {
    pub(super) text: Arc<str>,
    pub(super) file: Option<PathBuf>,
    pub(super) values: HashMap<String, Range<usize>>,
    pub(super) files: HashMap<String, PathBuf>,
}

impl Origin {
    /// `file:line:column` (or `line L, column C`) of `span` inside the template of `field`.
    fn place(&self, field: &str, span: Span) -> Option<String> {
        // The executor names a json payload `body.payload` wherever it is written.
        let written = ["payload", "payload_file", "body.payload_file"];
        let candidates = std::iter::once(field).chain(written.into_iter().filter(|_| field == "body.payload"));
        candidates.into_iter().find_map(|candidate| self.place_in(candidate, span))
    }

    fn place_in(&self, field: &str, span: Span) -> Option<String> {
        if let Some(file) = self.files.get(field) {
            return Some(format!("{}:{}:{}", file.display(), span.line, span.column));
        }
        let value = self.values.get(field)?.clone();
        let raw = self.text.get(value.clone())?;
        let decoded = match SpecFormat::of(&self.text) {
            SpecFormat::Json => serde_json::from_str::<String>(raw).ok()?,
            SpecFormat::Toml => match toml::de::DeValue::parse(raw).ok()?.into_inner() {
                toml::de::DeValue::String(text) => text.into_owned(),
                _ => return None,
            },
        };
        let offsets = super::super::source::string_offsets(&self.text, value, &decoded)?;
        let at = *offsets.get(span.start as usize)?;
        let placed = LineIndex::new(&self.text).span(at as u32, at as u32);
        Some(match &self.file {
            Some(file) => format!("{}:{}:{}", file.display(), placed.line, placed.column),
            None => format!("line {}, column {}", placed.line, placed.column),
        })
    }
}

impl CompiledRequest {
    /// Reads and compiles a spec file, TOML or JSON (recognised by its content).
    /// Relative paths in it (`payload_file`, a local `file`) are relative to its folder.
    pub fn load(engine: &Engine, path: impl AsRef<Path>) -> Result<CompiledRequest, SpecError> {
        let path = path.as_ref();
        let with_file = |mut error: SpecError| {
            error.file = Some(path.to_owned());
            error
        };
        let text = read_limited(path).map_err(|message| with_file(single("", message)))?;
        let base_dir = path.parent().map(Path::to_owned).unwrap_or_default();
        let mut request = Self::from_text(engine, &text, &base_dir).map_err(with_file)?;
        if let Some(origin) = request.origin.as_mut().and_then(Arc::get_mut) {
            origin.file = Some(path.to_owned());
        }
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        request.name = Some(absolute.to_string_lossy().into_owned());
        Ok(request)
    }

    /// Compiles a spec written in TOML or JSON (JSON when it starts with `{`);
    /// relative paths are relative to `base_dir`. Every problem is placed at its
    /// line and column in `text` (or in the `payload_file` it is in).
    pub fn from_text(engine: &Engine, text: &str, base_dir: &Path) -> Result<CompiledRequest, SpecError> {
        analyze(engine, text, SpecFormat::of(text), base_dir).result
    }

    /// Compiles a spec written in TOML; relative paths are relative to `base_dir`.
    pub fn from_toml(engine: &Engine, text: &str, base_dir: &Path) -> Result<CompiledRequest, SpecError> {
        analyze(engine, text, SpecFormat::Toml, base_dir).result
    }

    /// Compiles a spec written in JSON; relative paths are relative to `base_dir`.
    pub fn from_json(engine: &Engine, text: &str, base_dir: &Path) -> Result<CompiledRequest, SpecError> {
        analyze(engine, text, SpecFormat::Json, base_dir).result
    }

    /// Checks a spec and compiles its templates.
    pub fn compile(engine: &Engine, spec: RequestSpec, base_dir: &Path) -> Result<CompiledRequest, SpecError> {
        let mut problems = Problems::default();
        match Self::compile_into(engine, spec, base_dir, &mut problems) {
            Some(request) => Ok(request),
            None => Err(SpecError { file: None, problems: problems.found }),
        }
    }

    /// Compiles `spec`, recording every problem and every template in `problems`;
    /// `None` when there is any problem.
    pub(crate) fn compile_into(
        engine: &Engine,
        spec: RequestSpec,
        base_dir: &Path,
        problems: &mut Problems,
    ) -> Option<CompiledRequest> {
        if !crate::request::lists::fit(&spec, problems) {
            return None;
        }
        let strict_engine;
        let engine = if spec.strict && !engine.is_strict() {
            strict_engine = {
                let mut strict = engine.clone();
                strict.set_strict(true);
                strict
            };
            &strict_engine
        } else {
            engine
        };
        let method = match &spec.method {
            None => Some(Method::Get),
            Some(text) => Method::parse(text).or_else(|| {
                let names = ["GET", "POST", "PUT", "PATCH", "DELETE"];
                let suggestion = crate::diagnostics::closest(text, names).map(|name| format!("write {name:?}"));
                problems.push_with(
                    "method",
                    format!("{text:?} is not one of GET, POST, PUT, PATCH, DELETE"),
                    suggestion,
                );
                None
            }),
        };
        let method_known = method.is_some();
        let method = method.unwrap_or(Method::Get);
        let url = problems.template("url", TemplateKind::Url, &spec.url, UrlTemplate::compile(engine, &spec.url));
        let timeouts = Timeouts {
            total: problems.duration("timeout", spec.timeout.as_deref(), Timeouts::default().total),
            connect: problems.duration("connect_timeout", spec.connect_timeout.as_deref(), Timeouts::default().connect),
            read: problems.duration("read_timeout", spec.read_timeout.as_deref(), Timeouts::default().read),
        };
        let redirects = spec.redirects.unwrap_or(DEFAULT_REDIRECTS);
        if redirects > MAX_REDIRECTS {
            problems
                .push("redirects", format!("{redirects} is more than the {MAX_REDIRECTS} redirects courier follows"));
        }
        for (position, name) in spec.cookies.iter().enumerate() {
            if !super::super::cookies::is_cookie_name(name) {
                problems.push(format!("cookies[{position}]"), format!("{name:?} is not a cookie name"));
            }
        }
        let mut headers = Vec::new();
        let top_level = fields::top_level_fields();
        for (name, source) in &spec.headers {
            let field = format!("headers.{name}");
            if top_level.iter().any(|known| known == name) {
                // In TOML, a key written after [headers] belongs to it.
                problems.push_with(
                    &field,
                    format!("`{name}` is a spec field, not a header"),
                    Some(format!("move `{name}` above the [headers] table")),
                );
                continue;
            }
            let Some(header) = problems.header_name(&field, name) else {
                continue;
            };
            if is_framing_header(header.as_str()) {
                problems.push(
                    &field,
                    format!(
                        "{name} frames or routes the request on the wire and is set by courier's HTTP client; \
                         a spec cannot set it"
                    ),
                );
                continue;
            }
            let compiled = HeaderTemplate::compile(engine, source);
            if let Some(template) = problems.template(&field, TemplateKind::Header, source, compiled) {
                headers.push((header, name.clone(), template));
            }
        }
        let idempotency_key = spec.idempotency_key.as_ref().and_then(|source| {
            let compiled = HeaderTemplate::compile(engine, source);
            problems.template("idempotency_key", TemplateKind::Header, source, compiled)
        });
        let tenant = spec.tenant.as_ref().and_then(|source| {
            problems.template("tenant", TemplateKind::Text, source, Template::compile(engine, source))
        });
        let body = super::super::body::compile(engine, &spec, base_dir, problems);
        // An unknown method says nothing about whether a body fits.
        if body.is_some() && method_known && !method.takes_body() {
            problems.push("body", format!("a {} request has no body; use POST, PUT or PATCH", method.as_str()));
        }
        let auth = spec.auth.as_ref().and_then(|auth| super::super::auth::compile(engine, auth, problems));
        let tls = super::super::tls::compile(engine, &spec, base_dir, problems);
        let mut mappings = Vec::new();
        for (position, mapping) in spec.mappings.iter().enumerate() {
            let field = format!("mappings[{position}]");
            if let Err(message) = check_target(&mapping.target) {
                problems.push(format!("{field}.target"), message);
            }
            match Mapping::new(&mapping.source, &mapping.target) {
                Ok(compiled) => mappings.push(compiled),
                Err(message) => problems.push(format!("{field}.source"), message),
            }
        }
        if spec.queue && !spec.mappings.is_empty() {
            problems.push("mappings", "a queued request is sent in the background: it has no mappings".to_owned());
        }
        let retry = spec.retry.as_ref().map(|retry| super::super::retry::compile(retry, problems));
        if let (Some(policy), Some(auth)) = (&retry, &spec.auth)
            && auth.kind == AuthType::Oauth2
        {
            // An expired token gets one refetch and one resend; retrying the same status
            // would refetch again on every attempt.
            let expired = auth.expired_statuses.as_deref().unwrap_or(&super::super::auth::DEFAULT_EXPIRED_STATUSES);
            for (position, status) in policy.statuses.iter().enumerate() {
                if expired.contains(status) {
                    problems.push(
                        format!("retry.statuses[{position}]"),
                        format!(
                            "{status} means the token expired (auth.expired_statuses), which gets one token refetch \
                             and one resend already: remove it from [retry] statuses"
                        ),
                    );
                }
            }
        }
        if spec.queue && spec.retry.is_some() {
            problems.push(
                "retry",
                "a queued request is sent by the worker, whose own schedule retries it: [retry] does not apply",
            );
        }
        let sign = spec.sign.as_ref().and_then(|sign| super::super::sign::compile(engine, sign, problems));
        if spec.sign.is_some() {
            for (name, _) in &spec.headers {
                if SIGNING_HEADERS.iter().any(|signing| name.eq_ignore_ascii_case(signing)) {
                    problems.push(
                        format!("headers.{name}"),
                        format!("{name} is set by [sign] on every attempt; a spec cannot set it too"),
                    );
                }
            }
        }
        let poll = spec.poll.as_ref().map(|poll| super::super::poll::compile(poll, problems));
        if spec.queue && spec.poll.is_some() {
            problems.push(
                "poll",
                "a queued request is sent in the background: nobody waits for its job, so [poll] does not apply",
            );
        }
        let mut response_headers = Vec::new();
        for (position, mapping) in spec.response_headers.iter().enumerate() {
            let field = format!("response_headers[{position}]");
            if let Err(message) = check_target(&mapping.target) {
                problems.push(format!("{field}.target"), message);
            }
            if let Some(header) = problems.header_name(&format!("{field}.header"), &mapping.header) {
                response_headers.push((header, mapping.target.clone()));
            }
        }
        if !problems.found.is_empty() {
            return None;
        }
        Some(CompiledRequest {
            method,
            url: url?,
            url_source: spec.url,
            headers,
            body,
            auth,
            cookies: spec.cookies,
            mappings,
            response_headers,
            timeouts,
            redirects,
            debug: spec.debug,
            queue: spec.queue,
            base_dir: base_dir.to_owned(),
            name: None,
            sha256: None,
            origin: None,
            idempotency_key,
            tenant,
            retry,
            tls,
            sign,
            poll,
        })
    }

    /// The spec's `tenant`, rendered with `variables`: `None` without one, an
    /// error (that names the field) when it does not render.
    pub(crate) fn render_tenant(
        &self,
        variables: &(dyn crate::variables::VariableSource + Sync),
        context: &crate::functions::Context,
    ) -> Result<Option<String>, String> {
        self.tenant
            .as_ref()
            .map(|template| template.render(variables, context))
            .transpose()
            .map_err(|error| format!("its tenant does not render: {error}"))
    }

    pub(super) fn hashed(mut self, text: &str) -> Self {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(text.as_bytes());
        self.sha256 = Some(digest.iter().map(|byte| format!("{byte:02x}")).collect());
        self
    }

    /// The name the spec is found again by: a file's absolute path, or what the host
    /// set. A saved request keeps it (with [`Self::sha256`]) to apply the spec's
    /// credentials when it is sent again.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// Names the spec (a host that compiles specs from text it keeps itself).
    pub fn set_name(&mut self, name: impl Into<String>) {
        self.name = Some(name.into());
    }

    /// The SHA-256 of the spec's text (lowercase hex), when it was compiled from text.
    pub fn sha256(&self) -> Option<&str> {
        self.sha256.as_deref()
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Whether the spec asks to go through the durable queue.
    pub fn is_queued(&self) -> bool {
        self.queue
    }

    /// Whether payloads and responses are kept in the log.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// Turns debug logging on or off (the command line's `--debug`).
    pub fn set_debug(&mut self, debug: bool) {
        self.debug = debug;
    }

    /// The time limits.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// An error found while rendering the template of `field`, placed in the file
    /// the author edits when the spec came from text (`request.toml:3:29: url: …`),
    /// else as `field: line L, column C: …` inside the template.
    pub fn describe_field_error(&self, field: &str, error: &Error) -> String {
        let placed = error.span().and_then(|span| Some((span, self.origin.as_ref()?.place(field, span)?)));
        match placed {
            Some((span, place)) => {
                let shown = error.to_string();
                let inside = format!("line {}, column {}: ", span.line, span.column);
                format!("{place}: {field}: {}", shown.strip_prefix(&inside).unwrap_or(&shown))
            }
            None => format!("{field}: {error}"),
        }
    }

    /// How many redirects are followed (`redirects`, default 5).
    pub fn redirects(&self) -> u32 {
        self.redirects
    }

    /// The spec's `[retry]`, when it has one.
    pub fn retry(&self) -> Option<&RetryPolicy> {
        self.retry.as_ref()
    }

    /// The spec's `[poll]`, when it has one.
    pub fn poll(&self) -> Option<&PollPolicy> {
        self.poll.as_ref()
    }

    /// Whether the spec signs its requests (`[sign]`): such a request always
    /// carries an `Idempotency-Key`, its `webhook-id`.
    pub fn is_signed(&self) -> bool {
        self.sign.is_some()
    }
}

/// The headers `[sign]` sets.
const SIGNING_HEADERS: [&str; 3] =
    [crate::request::sign::ID_HEADER, crate::request::sign::TIMESTAMP_HEADER, crate::request::sign::SIGNATURE_HEADER];

fn check_target(target: &str) -> Result<(), String> {
    if target.trim().is_empty() {
        return Err("the target variable has no name".to_owned());
    }
    Ok(())
}

fn single(field: &str, message: impl Into<String>) -> SpecError {
    SpecError { file: None, problems: vec![Problem::new(field, message)] }
}
