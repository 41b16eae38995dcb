//! Authorization: Basic, Bearer, Digest and OAuth2 compiled from `[auth]`, rendered
//! into an `Authorization` header (Digest: the credentials that answer the
//! service's challenge, see `super::digest`), and the OAuth2 token cache — one token fetch shared by
//! every concurrent request with the same endpoint, client, scope and user, kept
//! until shortly before it expires, and fetched again once when a service answers
//! one of the spec's `expired_statuses` (401 by default).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::body::FieldError;
use super::exchange::{Failure, read_body};
use super::spec::{AuthSpec, AuthType, ClientAuth, GrantType, Problems};
use crate::eval::Engine;
use crate::events::EventKind;
use crate::functions::Context;
use crate::template::{Template, TemplateKind, UrlTemplate};
use crate::variables::VariableSource;

/// Token slots kept before expired ones are dropped.
const MAX_CACHED_TOKENS: usize = 1024;

/// Compiled `[auth]`.
#[derive(Debug, Clone)]
pub(crate) enum CompiledAuth {
    Basic { username: Template, password: Option<Template> },
    Bearer { token: Template },
    Digest { username: Template, password: Template },
    OAuth2(Box<CompiledOAuth2>),
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledOAuth2 {
    token_url: UrlTemplate,
    grant_type: GrantType,
    client_id: Template,
    client_secret: Option<Template>,
    username: Option<Template>,
    password: Option<Template>,
    scope: Option<Template>,
    client_auth: ClientAuth,
    header_prefix: String,
    expired_statuses: Vec<u16>,
}

/// The statuses that mean "the token expired" when a spec names none.
pub const DEFAULT_EXPIRED_STATUSES: [u16; 1] = [401];

/// Compiles `[auth]`, recording problems against their fields.
pub(crate) fn compile(engine: &Engine, spec: &AuthSpec, problems: &mut Problems) -> Option<CompiledAuth> {
    let kind = spec.kind;
    let kind_name = match kind {
        AuthType::Basic => "basic",
        AuthType::Bearer => "bearer",
        AuthType::Oauth2 => "oauth2",
        AuthType::Digest => "digest",
    };
    let present = [
        ("username", spec.username.is_some()),
        ("password", spec.password.is_some()),
        ("token", spec.token.is_some()),
        ("token_url", spec.token_url.is_some()),
        ("grant_type", spec.grant_type.is_some()),
        ("client_id", spec.client_id.is_some()),
        ("client_secret", spec.client_secret.is_some()),
        ("scope", spec.scope.is_some()),
        ("client_auth", spec.client_auth.is_some()),
        ("header_prefix", spec.header_prefix.is_some()),
        ("expired_statuses", spec.expired_statuses.is_some()),
    ];
    let allowed: &[&str] = match kind {
        AuthType::Basic | AuthType::Digest => &["username", "password"],
        AuthType::Bearer => &["token"],
        AuthType::Oauth2 => &[
            "username",
            "password",
            "token_url",
            "grant_type",
            "client_id",
            "client_secret",
            "scope",
            "client_auth",
            "header_prefix",
            "expired_statuses",
        ],
    };
    for (field, is_present) in present {
        if is_present && !allowed.contains(&field) {
            problems.push(format!("auth.{field}"), format!("does not apply to {kind_name} auth"));
        }
    }
    let mut template = |field: &str, source: &Option<String>, required: bool| -> Option<Template> {
        match source {
            Some(source) => {
                let compiled = Template::compile(engine, source);
                problems.template(&format!("auth.{field}"), TemplateKind::Text, source, compiled)
            }
            None => {
                if required {
                    problems.push(format!("auth.{field}"), format!("{kind_name} auth needs {field}"));
                }
                None
            }
        }
    };
    match kind {
        AuthType::Basic => {
            let username = template("username", &spec.username, true);
            let password = template("password", &spec.password, false);
            Some(CompiledAuth::Basic { username: username?, password })
        }
        AuthType::Digest => {
            let username = template("username", &spec.username, true);
            let password = template("password", &spec.password, true);
            Some(CompiledAuth::Digest { username: username?, password: password? })
        }
        AuthType::Bearer => {
            let token = template("token", &spec.token, true);
            if let Some(source) = &spec.token
                && source.trim_start().get(..7).is_some_and(|start| start.eq_ignore_ascii_case("bearer "))
            {
                problems.push_with(
                    "auth.token",
                    "courier writes \"Bearer \" before the token itself: this would send \"Bearer Bearer …\"",
                    Some("remove \"Bearer \" from token".to_owned()),
                );
            }
            Some(CompiledAuth::Bearer { token: token? })
        }
        AuthType::Oauth2 => {
            let grant_type = spec.grant_type.unwrap_or(GrantType::ClientCredentials);
            let password_grant = grant_type == GrantType::Password;
            let client_id = template("client_id", &spec.client_id, true);
            let client_secret = template("client_secret", &spec.client_secret, false);
            let username = template("username", &spec.username, password_grant);
            let password = template("password", &spec.password, password_grant);
            let scope = template("scope", &spec.scope, false);
            if !password_grant {
                for (field, given) in [("username", &spec.username), ("password", &spec.password)] {
                    if given.is_some() {
                        problems.push(format!("auth.{field}"), "applies only to the password grant");
                    }
                }
            }
            let header_prefix = spec.header_prefix.clone().unwrap_or_else(|| "Bearer".to_owned());
            if header_prefix.contains(['\r', '\n', '\0']) {
                problems.push("auth.header_prefix", "cannot hold a line break");
            }
            let expired_statuses = spec.expired_statuses.clone().unwrap_or_else(|| DEFAULT_EXPIRED_STATUSES.to_vec());
            if expired_statuses.is_empty() {
                problems.push("auth.expired_statuses", "is empty: write [401], [403] or [401, 403]");
            }
            for (position, status) in expired_statuses.iter().enumerate() {
                if ![401, 403].contains(status) {
                    problems.push(
                        format!("auth.expired_statuses[{position}]"),
                        format!("{status} does not say a token expired: write 401, 403 or both"),
                    );
                }
            }
            let token_url = match &spec.token_url {
                Some(source) => {
                    let compiled = UrlTemplate::compile(engine, source);
                    problems.template("auth.token_url", TemplateKind::Url, source, compiled)
                }
                None => {
                    problems.push("auth.token_url", "oauth2 auth needs token_url");
                    None
                }
            };
            Some(CompiledAuth::OAuth2(Box::new(CompiledOAuth2 {
                token_url: token_url?,
                grant_type,
                client_id: client_id?,
                client_secret,
                username,
                password,
                scope,
                client_auth: spec.client_auth.unwrap_or_default(),
                header_prefix,
                expired_statuses,
            })))
        }
    }
}

/// Rendered auth: a header ready to send, a token to get first, or the
/// credentials that answer a Digest challenge.
#[derive(Debug, Clone)]
pub(crate) enum AuthPlan {
    Header(String),
    OAuth2(TokenRequest),
    Digest(DigestCredentials),
}

/// The rendered credentials of Digest auth.
#[derive(Clone)]
pub(crate) struct DigestCredentials {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for DigestCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigestCredentials").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Everything an OAuth2 token request needs, rendered.
#[derive(Debug, Clone)]
pub(crate) struct TokenRequest {
    pub(crate) token_url: String,
    grant_type: GrantType,
    client_id: String,
    client_secret: Option<String>,
    username: Option<String>,
    password: Option<String>,
    scope: Option<String>,
    client_auth: ClientAuth,
    pub(crate) header_prefix: String,
    /// The statuses that mean the token expired.
    pub(crate) expired_statuses: Vec<u16>,
}

impl CompiledAuth {
    /// Renders every template of the auth.
    pub(crate) fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<AuthPlan, FieldError> {
        let text = |field: &str, template: &Template| {
            template.render(variables, context).map_err(|error| (format!("auth.{field}"), error))
        };
        let optional = |field: &str, template: &Option<Template>| {
            template.as_ref().map(|template| text(field, template)).transpose()
        };
        match self {
            CompiledAuth::Basic { username, password } => {
                let credentials =
                    format!("{}:{}", text("username", username)?, optional("password", password)?.unwrap_or_default());
                Ok(AuthPlan::Header(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))))
            }
            CompiledAuth::Bearer { token } => Ok(AuthPlan::Header(format!("Bearer {}", text("token", token)?))),
            CompiledAuth::Digest { username, password } => Ok(AuthPlan::Digest(DigestCredentials {
                username: text("username", username)?,
                password: text("password", password)?,
            })),
            CompiledAuth::OAuth2(oauth) => Ok(AuthPlan::OAuth2(TokenRequest {
                token_url: oauth
                    .token_url
                    .render(variables, context)
                    .map_err(|error| ("auth.token_url".to_owned(), error))?,
                grant_type: oauth.grant_type,
                client_id: text("client_id", &oauth.client_id)?,
                client_secret: optional("client_secret", &oauth.client_secret)?,
                username: optional("username", &oauth.username)?,
                password: optional("password", &oauth.password)?,
                scope: optional("scope", &oauth.scope)?.filter(|scope| !scope.is_empty()),
                client_auth: oauth.client_auth,
                header_prefix: oauth.header_prefix.clone(),
                expired_statuses: oauth.expired_statuses.clone(),
            })),
        }
    }
}

impl AuthPlan {
    /// Every credential this auth sends, as [`super::log::Redactor::add_credential`]
    /// learns it: the `Authorization` value; for OAuth2 the client secret, the
    /// password, and the client's Basic header to the token endpoint; for Digest
    /// the password.
    pub(crate) fn credentials(&self) -> Vec<String> {
        match self {
            AuthPlan::Header(value) => vec![value.clone()],
            AuthPlan::Digest(credentials) => vec![credentials.password.clone()],
            AuthPlan::OAuth2(request) => {
                let mut credentials: Vec<String> =
                    [&request.client_secret, &request.password].into_iter().flatten().cloned().collect();
                if request.client_auth == ClientAuth::Header {
                    credentials.push(request.client_header());
                }
                credentials
            }
        }
    }
}

impl TokenRequest {
    /// The client's `Authorization` to the token endpoint (RFC 6749 2.3.1: id and
    /// secret form-encoded before they are joined).
    fn client_header(&self) -> String {
        let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let secret = self.client_secret.as_deref().unwrap_or_default();
        let credentials = format!("{}:{}", encode(&self.client_id), encode(secret));
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials))
    }

    /// What identifies a token: endpoint, grant, client, scope and user, with the
    /// credentials hashed so that a changed secret gets its own token.
    fn key(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [&self.client_secret, &self.password] {
            hasher.update(part.as_deref().unwrap_or_default().as_bytes());
            hasher.update([0]);
        }
        let credentials: String = hasher.finalize().iter().map(|byte| format!("{byte:02x}")).collect();
        let grant = match self.grant_type {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
        };
        [
            self.token_url.as_str(),
            grant,
            &self.client_id,
            self.scope.as_deref().unwrap_or_default(),
            self.username.as_deref().unwrap_or_default(),
            &credentials,
        ]
        .join("\u{0}")
    }

    /// What the token request sends, where a secret bound to hosts may sit.
    pub(crate) fn carried(&self) -> Vec<&str> {
        let optional = [&self.client_secret, &self.username, &self.password, &self.scope];
        let mut texts = vec![self.token_url.as_str(), self.client_id.as_str()];
        texts.extend(optional.into_iter().filter_map(|text| text.as_deref()));
        texts
    }

    /// The token request's form body; with `for_log`, the password and the client
    /// secret replaced, for the debug log.
    pub(crate) fn form(&self, for_log: bool) -> String {
        let grant = match self.grant_type {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
        };
        let hidden = |value: &str| if for_log { super::log::REDACTED.to_owned() } else { value.to_owned() };
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", grant);
        if self.grant_type == GrantType::Password {
            form.append_pair("username", self.username.as_deref().unwrap_or_default());
            form.append_pair("password", &hidden(self.password.as_deref().unwrap_or_default()));
        }
        if let Some(scope) = &self.scope {
            form.append_pair("scope", scope);
        }
        if self.client_auth == ClientAuth::Body {
            form.append_pair("client_id", &self.client_id);
            if let Some(secret) = &self.client_secret {
                form.append_pair("client_secret", &hidden(secret));
            }
        }
        form.finish()
    }

    /// The token request's headers: the form's type, JSON accepted, the trace id,
    /// and the client's credentials as HTTP Basic when they go in the header.
    pub(crate) fn headers(&self, trace: &super::trace::TraceParent) -> reqwest::header::HeaderMap {
        use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        trace.insert_into(&mut headers);
        if self.client_auth == ClientAuth::Header {
            if let Ok(mut value) = HeaderValue::from_str(&self.client_header()) {
                value.set_sensitive(true);
                headers.insert(AUTHORIZATION, value);
            }
        }
        headers
    }

    /// Sends the token request and reads the token from the answer; also returns
    /// the answer (status, headers, body with its tokens replaced) for the log.
    pub(crate) async fn fetch(
        &self,
        client: &reqwest::Client,
        trace: &super::trace::TraceParent,
        read_timeout: Duration,
        max_bytes: usize,
    ) -> Result<(TokenAnswer, FetchedToken), (Option<u16>, Failure)> {
        let request = client.post(&self.token_url).headers(self.headers(trace)).body(self.form(false));
        let response = request.send().await.map_err(|error| (None, Failure::from_reqwest(&error)))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = read_body(response, read_timeout, max_bytes).await.map_err(|failure| (Some(status), failure))?;
        let fail = |message: String| {
            (Some(status), Failure { kind: EventKind::Exception, message, refused: false, connection: false })
        };
        if !(200..300).contains(&status) {
            let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            return Err(fail(format!("the token endpoint {} answered {status}: {shown}", self.token_url)));
        }
        let mut json: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|error| fail(format!("the token endpoint {} did not answer JSON: {error}", self.token_url)))?;
        let Some(access_token) = json.get("access_token").and_then(serde_json::Value::as_str) else {
            return Err(fail(format!("the token endpoint {} answered no access_token", self.token_url)));
        };
        let access_token = access_token.to_owned();
        let expires_in = match json.get("expires_in") {
            Some(serde_json::Value::Number(number)) => number.as_f64(),
            Some(serde_json::Value::String(text)) => text.parse::<f64>().ok(),
            _ => None,
        }
        .filter(|seconds| seconds.is_finite() && *seconds >= 0.0)
        .map(|seconds| Duration::from_secs_f64(seconds.min(1e9)));
        // The log shows the answer without its tokens.
        for field in ["access_token", "refresh_token", "id_token"] {
            if let Some(token) = json.get_mut(field) {
                *token = serde_json::Value::from(super::log::REDACTED);
            }
        }
        let answer = TokenAnswer { status, headers, logged_body: json.to_string().into_bytes() };
        Ok((answer, FetchedToken { access_token, expires_in }))
    }
}

/// The token endpoint's answer as the debug log shows it.
#[derive(Debug)]
pub(crate) struct TokenAnswer {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    /// The body with `access_token`, `refresh_token` and `id_token` replaced.
    pub(crate) logged_body: Vec<u8>,
}

/// A token as the endpoint gave it.
#[derive(Debug, Clone)]
pub(crate) struct FetchedToken {
    pub(crate) access_token: String,
    pub(crate) expires_in: Option<Duration>,
}

#[derive(Debug, Clone)]
struct CachedToken {
    access_token: String,
    /// Used until then; `None` when the endpoint gave no lifetime (then until a 401).
    fresh_until: Option<Instant>,
}

impl CachedToken {
    fn new(token: FetchedToken) -> Self {
        // Renewed shortly before it expires: 30 s early, or halfway for short lives.
        let fresh_until = token.expires_in.map(|lifetime| {
            let margin = (lifetime / 2).min(Duration::from_secs(30));
            Instant::now() + (lifetime - margin)
        });
        CachedToken { access_token: token.access_token, fresh_until }
    }

    fn is_fresh(&self) -> bool {
        self.fresh_until.is_none_or(|until| Instant::now() < until)
    }
}

type Slot = Arc<tokio::sync::Mutex<Option<CachedToken>>>;

/// OAuth2 tokens by what identifies them, shared by every request of an executor.
/// Each key has its own async lock, so concurrent requests wait for one fetch.
#[derive(Default)]
pub(crate) struct TokenCache {
    slots: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache").finish_non_exhaustive()
    }
}

impl TokenCache {
    fn slot(&self, key: String) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if slots.len() >= MAX_CACHED_TOKENS && !slots.contains_key(&key) {
            // Drop the slots nobody waits on whose token is gone or stale.
            slots.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.try_lock().map_or(true, |token| token.as_ref().is_some_and(CachedToken::is_fresh))
            });
        }
        slots.entry(key).or_default().clone()
    }

    /// The token for `request`: the cached one unless it is stale or is `rejected`
    /// (the token a service just answered 401 to); else `fetch` gets a new one, once
    /// for all the requests waiting.
    pub(crate) async fn token<F, Fut>(
        &self,
        request: &TokenRequest,
        rejected: Option<&str>,
        fetch: F,
    ) -> Result<String, Failure>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<FetchedToken, Failure>>,
    {
        let slot = self.slot(request.key());
        let mut cached = slot.lock().await;
        if let Some(token) = cached.as_ref()
            && token.is_fresh()
            && rejected != Some(token.access_token.as_str())
        {
            return Ok(token.access_token.clone());
        }
        *cached = None;
        let token = CachedToken::new(fetch().await?);
        let access_token = token.access_token.clone();
        *cached = Some(token);
        Ok(access_token)
    }
}
