//! The request spec: what a spec file says (serde structures read from TOML or
//! JSON, with the field names of `docs/requests.md`), and loading it into a
//! [`CompiledRequest`]: every field checked and every template compiled, each
//! problem reported with the field it sits in.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use reqwest::header::HeaderName;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::auth::CompiledAuth;
use super::body::CompiledBody;
use super::fields;
use super::mapping::Mapping;
use super::retry::{RetryPolicy, RetrySpec};
use super::source::{SpecFormat, SpecSource};
use crate::error::Error;
use crate::eval::Engine;
use crate::syntax::{LineIndex, Span};
use crate::template::{HeaderTemplate, TemplateKind, UrlTemplate};

/// Largest spec or payload file read, in bytes.
const MAX_SPEC_BYTES: u64 = 4 << 20;

/// Redirects followed when a spec does not say.
pub const DEFAULT_REDIRECTS: u32 = 5;

/// The most redirects a spec may ask to follow.
pub const MAX_REDIRECTS: u32 = 20;

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
    /// Sending again on failure: `[retry]` (`docs/spec.md`).
    #[serde(default)]
    pub retry: Option<RetrySpec>,
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
    /// basic, bearer or oauth2.
    #[serde(rename = "type")]
    pub kind: AuthType,
    /// basic, oauth2 password grant: the user's name (template).
    #[serde(default)]
    pub username: Option<String>,
    /// basic, oauth2 password grant: the password (template).
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

    fn parse(text: &str) -> Option<Method> {
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

/// One problem of a spec: the field it sits in, what is wrong, how to fix it when
/// that is certain, and where it is in the file the author edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a path: `url`, `headers.X-Shop`, `mappings[1].source`; empty
    /// for a file that does not parse.
    pub field: String,
    /// A stable identifier: `spec` for the spec's own rules, a template code
    /// (`syntax`, `unknown-function`, ...) for a template problem.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something to suggest.
    pub suggestion: Option<String>,
    /// The file the problem is in when it is not the spec itself: a `payload_file`.
    pub file: Option<PathBuf>,
    /// Where: in the spec's text, or in [`Self::file`] when that is set. `None`
    /// when the spec did not come from text.
    pub span: Option<Span>,
    /// For a template problem, its place inside the field's text (before placing).
    pub(crate) in_template: Option<Span>,
}

impl Problem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            field: field.into(),
            code: "spec",
            message: message.into(),
            suggestion: None,
            file: None,
            span: None,
            in_template: None,
        }
    }

    /// Whether it came from compiling a template (which `check` reports in full
    /// from the template itself).
    pub fn is_template_problem(&self) -> bool {
        self.code != "spec"
    }
}

/// A template of a spec: the field it is in, the context its field implies, and
/// its text (for a `payload_file`, the file's whole text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateField {
    /// The field, as in [`Problem::field`].
    pub field: String,
    /// The context it is compiled in.
    pub kind: TemplateKind,
    /// The template's text.
    pub source: String,
    /// The file it was read from, for a `payload_file`.
    pub file: Option<PathBuf>,
}

/// A spec that cannot be used: every problem found, each with its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The spec file, when it came from one.
    pub file: Option<PathBuf>,
    /// The problems, in the order of the fields.
    pub problems: Vec<Problem>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, problem) in self.problems.iter().enumerate() {
            if position > 0 {
                f.write_str("\n")?;
            }
            match (problem.file.as_ref().or(self.file.as_ref()), problem.span) {
                (Some(file), Some(span)) => write!(f, "{}:{}:{}: ", file.display(), span.line, span.column)?,
                (Some(file), None) => write!(f, "{}: ", file.display())?,
                (None, Some(span)) => write!(f, "line {}, column {}: ", span.line, span.column)?,
                (None, None) => {}
            }
            if !problem.field.is_empty() {
                write!(f, "{}: ", problem.field)?;
            }
            if problem.file.is_some() {
                // Another file's text is not the spec author's to show (a payload_file
                // may be a link to anything): its place and the kind of problem only.
                // `courier check` shows the whole diagnostic to the author.
                write!(
                    f,
                    "not a valid template there ({}); run `courier check` on the spec for details",
                    problem.code
                )?;
                continue;
            }
            f.write_str(&problem.message)?;
            if let Some(suggestion) = &problem.suggestion {
                write!(f, "; {suggestion}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

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
    /// Where its fields are written, to place an error found while rendering.
    pub(crate) origin: Option<Arc<Origin>>,
    /// `[retry]`, when the spec has one.
    pub(crate) retry: Option<RetryPolicy>,
}

/// Where a compiled spec's fields are written: the spec's text and file, each
/// field's value, and the fields read from another file (a `payload_file`).
#[derive(Debug)]
pub(crate) struct Origin {
    text: Arc<str>,
    file: Option<PathBuf>,
    values: HashMap<String, Range<usize>>,
    files: HashMap<String, PathBuf>,
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
        let offsets = super::source::string_offsets(&self.text, value, &decoded)?;
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
    pub fn load(engine: &Engine, path: &Path) -> Result<CompiledRequest, SpecError> {
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
        if !super::lists::fit(&spec, problems) {
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
            if !super::cookies::is_cookie_name(name) {
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
        let body = super::body::compile(engine, &spec, base_dir, problems);
        // An unknown method says nothing about whether a body fits.
        if body.is_some() && method_known && !method.takes_body() {
            problems.push("body", format!("a {} request has no body; use POST, PUT or PATCH", method.as_str()));
        }
        let auth = spec.auth.as_ref().and_then(|auth| super::auth::compile(engine, auth, problems));
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
        let retry = spec.retry.as_ref().map(|retry| super::retry::compile(retry, problems));
        if let (Some(policy), Some(auth)) = (&retry, &spec.auth)
            && auth.kind == AuthType::Oauth2
        {
            // An expired token gets one refetch and one resend; retrying the same status
            // would refetch again on every attempt.
            let expired = auth.expired_statuses.as_deref().unwrap_or(&super::auth::DEFAULT_EXPIRED_STATUSES);
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
            retry,
        })
    }

    fn hashed(mut self, text: &str) -> Self {
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
}

fn check_target(target: &str) -> Result<(), String> {
    if target.trim().is_empty() {
        return Err("the target variable has no name".to_owned());
    }
    Ok(())
}

fn single(field: &str, message: impl Into<String>) -> SpecError {
    SpecError { file: None, problems: vec![Problem::new(field, message)] }
}

/// What loading a spec's text found: the request or every problem (placed in the
/// text), and the templates met on the way.
pub(crate) struct Analysis {
    pub(crate) result: Result<CompiledRequest, SpecError>,
    pub(crate) templates: Vec<TemplateField>,
    pub(crate) source: Option<SpecSource>,
}

/// Parses, checks and compiles a spec's text, collecting every problem rather
/// than stopping at the first: the loader's one path, for `send` and `check` alike.
pub(crate) fn analyze(engine: &Engine, text: &str, format: SpecFormat, base_dir: &Path) -> Analysis {
    let index = LineIndex::new(text);
    let source = match SpecSource::parse(text, format) {
        Ok(source) => source,
        Err(failure) => {
            let mut problem = Problem::new("", failure.message);
            problem.span = Some(index.span(failure.at.start as u32, failure.at.end as u32));
            let result = Err(SpecError { file: None, problems: vec![problem] });
            return Analysis { result, templates: Vec::new(), source: None };
        }
    };
    let mut problems = Problems::default();
    let request = fields::deserialize(&source.tree, &mut problems)
        .and_then(|spec| CompiledRequest::compile_into(engine, spec, base_dir, &mut problems));
    let Problems { found, templates } = problems;
    let mut placed: Vec<Problem> =
        found.into_iter().map(|problem| place(problem, &source, &templates, &index)).collect();
    // In the order of the file: the spec's own text first, then any payload file.
    placed.sort_by_key(|problem| (problem.file.clone(), problem.span.map(|span| span.start)));
    let result = match request {
        Some(mut request) if placed.is_empty() => {
            request.origin = Some(Arc::new(Origin {
                text: Arc::from(text),
                file: None,
                values: source.places.iter().map(|(field, at)| (field.clone(), at.value.clone())).collect(),
                files: templates
                    .iter()
                    .filter_map(|template| Some((template.field.clone(), template.file.clone()?)))
                    .collect(),
            }));
            Ok(request.hashed(text))
        }
        _ => Err(SpecError { file: None, problems: placed }),
    };
    Analysis { result, templates, source: Some(source) }
}

/// Places a problem in the file the author edits: a template problem at its
/// line and column in the spec's text (or in its payload file), any other at its
/// field's key or value.
fn place(mut problem: Problem, source: &SpecSource, templates: &[TemplateField], index: &LineIndex) -> Problem {
    if problem.file.is_some() {
        // In a payload file, the template's own place is the file's.
        problem.span = problem.in_template;
        return problem;
    }
    let inside = problem.in_template.and_then(|span| {
        templates
            .iter()
            .any(|template| template.field == problem.field)
            .then(|| source.inside(&problem.field, span.range()))
            .flatten()
    });
    let range = inside.clone().or_else(|| {
        let located = source.place(&problem.field)?;
        let pointed = problem.message.starts_with("unknown field");
        Some(if pointed { located.key.clone().unwrap_or(located.value.clone()) } else { located.value.clone() })
    });
    problem.span =
        Some(range.map_or_else(|| index.span(0, 0), |range| index.span(range.start as u32, range.end as u32)));
    if inside.is_none()
        && let Some(span) = problem.in_template
    {
        // The template's text could not be followed to the file: say where in it.
        problem.message = format!("line {}, column {} of the value: {}", span.line, span.column, problem.message);
    }
    problem
}

/// The longest time limit a spec may set (each of `timeout`, `connect_timeout` and
/// `read_timeout`); the host can cap the total lower (`ExecutorOptions::max_timeout`).
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Headers that frame or route a request on the wire: the HTTP client sets them from
/// the request itself, and a spec that set them could cut the body short, smuggle
/// a second request or send it to another host.
pub(crate) fn is_framing_header(name: &str) -> bool {
    const FRAMING: [&str; 8] =
        ["content-length", "transfer-encoding", "host", "connection", "te", "upgrade", "keep-alive", "trailer"];
    FRAMING.iter().any(|framing| name.eq_ignore_ascii_case(framing))
        || name.get(..6).is_some_and(|prefix| prefix.eq_ignore_ascii_case("proxy-"))
}

/// Reads a spec or payload file, refusing one larger than [`MAX_SPEC_BYTES`].
pub(crate) fn read_limited(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let mut text = String::new();
    file.take(MAX_SPEC_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    if text.len() as u64 > MAX_SPEC_BYTES {
        return Err(format!("{} is larger than {MAX_SPEC_BYTES} bytes", path.display()));
    }
    Ok(text)
}

/// The problems found while compiling a spec, and the templates compiled.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub(crate) found: Vec<Problem>,
    pub(crate) templates: Vec<TemplateField>,
}

impl Problems {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.found.push(Problem::new(field, message));
    }

    pub(crate) fn push_with(
        &mut self,
        field: impl Into<String>,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) {
        let mut problem = Problem::new(field, message);
        problem.suggestion = suggestion;
        self.found.push(problem);
    }

    /// The compiled template of `field`, or `None` with its error recorded.
    pub(crate) fn template<T>(
        &mut self,
        field: &str,
        kind: TemplateKind,
        source: &str,
        compiled: Result<T, Error>,
    ) -> Option<T> {
        self.template_from(field, kind, source, None, compiled)
    }

    /// The compiled template of `field`, read from `file` (a `payload_file`).
    pub(crate) fn template_from<T>(
        &mut self,
        field: &str,
        kind: TemplateKind,
        source: &str,
        file: Option<&Path>,
        compiled: Result<T, Error>,
    ) -> Option<T> {
        let file = file.map(Path::to_owned);
        self.templates.push(TemplateField {
            field: field.to_owned(),
            kind,
            source: source.to_owned(),
            file: file.clone(),
        });
        compiled
            .map_err(|error| {
                self.found.push(Problem {
                    field: field.to_owned(),
                    code: error.kind().code(),
                    message: error.message().to_owned(),
                    suggestion: error.suggestion().map(str::to_owned),
                    file,
                    span: None,
                    in_template: error.span(),
                })
            })
            .ok()
    }

    pub(crate) fn duration(&mut self, field: &str, text: Option<&str>, default: Duration) -> Duration {
        let Some(text) = text else { return default };
        match humantime::parse_duration(text) {
            Ok(duration) if duration.is_zero() => {
                self.push(field, "must be longer than zero");
                default
            }
            Ok(duration) if duration > MAX_DURATION => {
                let most = humantime::format_duration(MAX_DURATION);
                self.push(field, format!("{text:?} is longer than the most a request may wait, {most}"));
                default
            }
            Ok(duration) => duration,
            Err(error) => {
                // A bare number is most likely seconds.
                let suggestion = text.trim().parse::<u64>().ok().map(|seconds| format!("write \"{seconds}s\""));
                self.push_with(
                    field,
                    format!("{text:?} is not a duration such as \"500ms\", \"20s\" or \"1m\": {error}"),
                    suggestion,
                );
                default
            }
        }
    }

    fn header_name(&mut self, field: &str, name: &str) -> Option<HeaderName> {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| self.push(field, format!("{name:?} is not a valid header name")))
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::body::CompiledBody;

    fn load(toml: &str) -> Result<CompiledRequest, SpecError> {
        CompiledRequest::from_toml(&Engine::new(), toml, Path::new("."))
    }

    fn problems(toml: &str) -> Vec<(String, String)> {
        let error = load(toml).expect_err("the spec is refused");
        error.problems.into_iter().map(|problem| (problem.field, problem.message)).collect()
    }

    /// Each problem's field with its line and column in the spec's text.
    fn places(toml: &str) -> Vec<(String, u32, u32)> {
        let error = load(toml).expect_err("the spec is refused");
        error
            .problems
            .into_iter()
            .map(|problem| {
                let span = problem.span.expect("placed");
                (problem.field, span.line, span.column)
            })
            .collect()
    }

    fn has(problems: &[(String, String)], field: &str, text: &str) -> bool {
        problems.iter().any(|(f, message)| f == field && message.contains(text))
    }

    #[test]
    fn the_full_example_of_the_docs_loads() {
        let spec = r#"
            method = "POST"
            url = "${shop_url}/customers/${customer_id}/files"
            timeout = "20s"
            connect_timeout = "5s"
            read_timeout = "10s"
            debug = false
            queue = false
            cookies = ["SESSIONID"]
            [headers]
            X-Shop = "${shop_id}"
            [body]
            type = "multipart"
            file = "${upload_url}"
            file_name = "receipt.jpg"
            content_type = "image/jpeg"
            field = "document"
            [body.fields]
            customer = "${customer_id}"
            [auth]
            type = "oauth2"
            token_url = "https://auth.example.org/oauth/token"
            grant_type = "client_credentials"
            client_id = "chat-bot"
            client_secret = "${client_secret}"
            scope = "customers:write"
            client_auth = "header"
            header_prefix = "Bearer"
            [[mappings]]
            source = "store_address.city"
            target = "city"
            [[response_headers]]
            header = "X-Request-Id"
            target = "request_id"
        "#;
        let request = load(spec).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(request.method(), Method::Post);
        assert_eq!(request.timeouts(), Timeouts::default());
    }

    #[test]
    fn durations_are_humantime() {
        let request =
            load("url = \"https://x.org\"\ntimeout = \"1m\"\nconnect_timeout = \"500ms\"\nread_timeout = \"2s\"")
                .unwrap();
        assert_eq!(
            request.timeouts(),
            Timeouts {
                total: Duration::from_secs(60),
                connect: Duration::from_millis(500),
                read: Duration::from_secs(2)
            }
        );
        let found = problems("url = \"https://x.org\"\ntimeout = \"20 parsecs\"\nread_timeout = \"0s\"");
        assert!(has(&found, "timeout", "\"20 parsecs\" is not a duration"), "{found:?}");
        assert!(has(&found, "read_timeout", "longer than zero"), "{found:?}");
    }

    #[test]
    fn redirects_default_to_five_and_are_bounded() {
        assert_eq!(load("url = \"https://x.org\"").unwrap().redirects(), DEFAULT_REDIRECTS);
        assert_eq!(load("url = \"https://x.org\"\nredirects = 0").unwrap().redirects(), 0);
        let found = problems("url = \"https://x.org\"\nredirects = 21");
        assert!(has(&found, "redirects", "more than the 20 redirects"), "{found:?}");
        let found = problems("url = \"https://x.org\"\nredirects = -1");
        assert_eq!(found[0].0, "redirects", "{found:?}");
    }

    #[test]
    fn unknown_fields_and_a_missing_url_are_refused_with_their_place() {
        let found = problems("url = \"https://x.org\"\nmethd = \"GET\"");
        assert!(found[0].1.contains("unknown field `methd`"), "{found:?}");
        assert_eq!(places("url = \"https://x.org\"\nmethd = \"GET\""), [("methd".to_owned(), 2, 1)]);
        let found = problems("method = \"GET\"");
        assert!(found[0].1.contains("missing field `url`"), "{found:?}");
        let found = problems("url = \"https://x.org\"\n[auth]\ntype = \"basic\"\nusername = \"a\"\npasword = \"b\"");
        assert!(found[0].1.contains("unknown field `pasword`"), "{found:?}");
        let found = problems("url = \"https://x.org\"\n[body]\ntype = \"xml\"");
        assert!(found[0].1.contains("unknown variant `xml`"), "{found:?}");
    }

    #[test]
    fn a_body_needs_a_method_that_takes_one() {
        let found = problems("method = \"GET\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload = \"{}\"");
        assert!(has(&found, "body", "a GET request has no body"), "{found:?}");
        let found = problems("method = \"FETCH\"\nurl = \"https://x.org\"");
        assert!(has(&found, "method", "\"FETCH\""), "{found:?}");
        assert_eq!(load("method = \"patch\"\nurl = \"https://x.org\"").unwrap().method(), Method::Patch);
    }

    #[test]
    fn a_bad_json_payload_is_placed_at_its_line_and_column() {
        let found = problems(
            "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload = '''\n{\n  \"a\": ${a},\n  \"b\": ]\n}'''",
        );
        assert!(has(&found, "payload", "expected a JSON value, found `]`"), "{found:?}");
        // Line 3, column 8 of the payload is line 7, column 8 of the file.
        let found = places(
            "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload = '''\n{\n  \"a\": ${a},\n  \"b\": ]\n}'''",
        );
        assert_eq!(found, [("payload".to_owned(), 7, 8)]);
        let found = problems(
            "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload_file = \"does-not-exist.json\"",
        );
        assert!(has(&found, "payload_file", "cannot read") && found[0].1.contains("does-not-exist.json"), "{found:?}");
    }

    #[test]
    fn template_errors_name_their_field() {
        let found = problems(
            "url = \"https://x.org/${id\"\n[headers]\nX-A = \"${toInterger(x)}\"\n[[mappings]]\nsource = \"a..b\"\ntarget = \"t\"",
        );
        assert!(has(&found, "url", "never closed"), "{found:?}");
        assert!(has(&found, "headers.X-A", "unknown function toInterger"), "{found:?}");
        assert!(has(&found, "mappings[0].source", "not a field path"), "{found:?}");
    }

    #[test]
    fn fields_that_do_not_apply_are_refused() {
        let found = problems(
            "method = \"POST\"\nurl = \"https://x.org\"\n[body]\ntype = \"json\"\npayload = \"{}\"\nfile = \"a\"",
        );
        assert!(has(&found, "body.file", "does not apply to a json body"), "{found:?}");
        let found = problems("url = \"https://x.org\"\n[auth]\ntype = \"bearer\"\ntoken = \"t\"\nusername = \"u\"");
        assert!(has(&found, "auth.username", "does not apply to bearer auth"), "{found:?}");
        let found = problems("url = \"https://x.org\"\n[auth]\ntype = \"oauth2\"\nclient_id = \"c\"");
        assert!(has(&found, "auth.token_url", "needs token_url"), "{found:?}");
        let found = problems(
            "url = \"https://x.org\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"https://a.org\"\nclient_id = \"c\"\ngrant_type = \"password\"",
        );
        assert!(has(&found, "auth.username", "needs username"), "{found:?}");
        let found = problems("method = \"POST\"\nurl = \"https://x.org\"\n[body]\ntype = \"multipart\"");
        assert!(has(&found, "body.file", "needs a file"), "{found:?}");
        let found = problems("method = \"POST\"\nurl = \"https://x.org\"\nbody = \"form\"");
        assert!(has(&found, "body", "only for json"), "{found:?}");
        let found = problems("url = \"https://x.org\"\nqueue = true\n[[mappings]]\nsource = \"a\"\ntarget = \"b\"");
        assert!(has(&found, "mappings", "no mappings"), "{found:?}");
    }

    #[test]
    fn toml_keeps_the_order_of_headers_form_fields_and_parts() {
        let spec = "method = \"POST\"\nurl = \"https://x.org\"\n[headers]\nZ-Last = \"1\"\nA-First = \"2\"\nM = \"3\"\n\
                    [body]\ntype = \"form\"\n[body.fields]\nzeta = \"1\"\nalpha = \"2\"\n";
        let request = load(spec).unwrap();
        let headers: Vec<&str> = request.headers.iter().map(|(_, name, _)| name.as_str()).collect();
        assert_eq!(headers, ["Z-Last", "A-First", "M"]);
        let Some(CompiledBody::Form(fields)) = &request.body else { panic!("a form body") };
        let names: Vec<&str> = fields.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
        let spec = "method = \"POST\"\nurl = \"https://x.org\"\n[body]\ntype = \"multipart\"\nfile = \"a.jpg\"\n\
                    [body.fields]\nzeta = \"1\"\nalpha = \"2\"\n";
        let Some(CompiledBody::File(file)) = load(spec).unwrap().body else { panic!("a file body") };
        let names: Vec<&str> = file.fields.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["zeta", "alpha"]);
    }

    #[test]
    fn strict_in_the_spec_makes_its_templates_strict() {
        let request = load("url = \"https://x.org/${id}\"\nstrict = true").unwrap();
        let variables = crate::Variables::new();
        let error = request.url.render(&variables, &crate::Context::default()).unwrap_err();
        assert_eq!(error.message(), "variable id is not set");
        let relaxed = load("url = \"https://x.org/${id}?q=1\"").unwrap();
        // Not strict: the unset id is empty, and a hole that is a whole path segment may not be.
        let error = relaxed.url.render(&variables, &crate::Context::default()).unwrap_err();
        assert!(error.message().contains("empty path segment"), "{error}");
    }

    #[test]
    fn specs_load_from_json_too() {
        let request = CompiledRequest::from_json(
            &Engine::new(),
            r#"{"method": "POST", "url": "https://x.org", "body": {"type": "form", "fields": {"a": "1"}}}"#,
            Path::new("."),
        )
        .unwrap();
        assert_eq!(request.method(), Method::Post);
    }
}
