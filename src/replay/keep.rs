//! Keeping a request: what is worth keeping, turning a prepared request into a
//! record without its credentials, and saving it — a queued request before
//! anything is sent, a request that failed for want of an answer after (its
//! retries spent). The delivery layer ([`super::Delivery`]) calls it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::store::{KeptCredentials, NewRecord, ReplayStore, Saved, State};
use crate::functions::{Context, SecretResolver};
use crate::request::log::{Redactor, is_credential_header};
use crate::request::{CompiledRequest, IDEMPOTENCY_HEADER, Outcome, Prepared, REDACTED, Sent, differs_only_in_query};
use crate::value::Value;
use crate::variables::VariableSource;

/// Longest part of a response body quoted in a record's last error.
const QUOTED_BODY: usize = 200;

/// Whether a request's outcome is worth keeping for replay: no answer came (a
/// timeout, a refused connection, a token endpoint that failed), or the service
/// answered 5xx or 429.
pub fn worth_keeping(outcome: &Outcome) -> bool {
    if outcome.refused {
        // Courier refused to send it: a replay would be refused again.
        return false;
    }
    match outcome.status {
        Some(status) => status >= 500 || status == 429,
        None => outcome.error.is_some(),
    }
}

/// The replay store's record of a request, as the outcome reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// The record's id (`courier replay run ID`).
    pub id: i64,
    /// `pending` when it was queued, `failed` when it was kept after failing.
    pub state: State,
}

impl fmt::Display for Kept {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            State::Pending => write!(f, "queued as replay record {}", self.id),
            _ => write!(f, "kept for replay as record {}", self.id),
        }
    }
}

/// What went wrong, in a line: the error, or the status and the start of the body.
pub(crate) fn failure_text(outcome: &Outcome) -> String {
    match (outcome.status, &outcome.error) {
        (_, Some(error)) => error.clone(),
        (Some(status), None) => {
            let body = outcome
                .variables
                .get("api_client_response_body")
                .and_then(crate::request::Variable::as_text)
                .map(|body| body.split_whitespace().collect::<Vec<_>>().join(" "))
                .unwrap_or_default();
            let mut text = format!("the service answered {status}");
            if !body.is_empty() {
                let end = (0..=QUOTED_BODY.min(body.len())).rev().find(|end| body.is_char_boundary(*end)).unwrap_or(0);
                text.push_str(": ");
                text.push_str(&body[..end]);
                if end < body.len() {
                    text.push('…');
                }
            }
            text
        }
        (None, None) => "no response came".to_owned(),
    }
}

/// The longest tenant a record takes, in bytes: a tenant is a grouping key, indexed
/// (PostgreSQL refuses an index entry over about 2.7 KB, which would fail the whole
/// batch it was inserted with), and rendered from chat variables that can be long.
pub const MAX_TENANT_BYTES: usize = 256;

/// A record's tenant: `tenant` (the host's override), else the spec's `tenant`
/// rendered (and redacted); an error when it is longer than [`MAX_TENANT_BYTES`].
pub(super) fn tenant_of(
    request: &CompiledRequest,
    tenant: Option<&str>,
    variables: &(dyn VariableSource + Sync),
    context: &Context,
    redactor: &Redactor,
) -> Result<Option<String>, String> {
    let tenant = match tenant {
        Some(tenant) => Some(tenant.to_owned()),
        None => request.render_tenant(variables, context)?.map(|tenant| redactor.redact(&tenant)),
    };
    match tenant {
        Some(tenant) if tenant.len() > MAX_TENANT_BYTES => Err(format!(
            "its tenant is {} bytes long, more than the limit of {MAX_TENANT_BYTES}: a tenant names whose request it is (a customer's id), not its data",
            tenant.len()
        )),
        tenant => Ok(tenant),
    }
}

/// Saves a prepared request: `pending` when the spec is queued (nothing was sent),
/// else `failed`, with the outcome's failure. An error says why it was not saved.
/// With a `supplied_key` (the caller's or the spec's, not a fresh one), a record
/// that already has the key is the request's record: a retry saves no second one.
/// The record's tenant is `tenant` (the host's override), else the spec's `tenant`.
pub(crate) async fn keep(
    store: &Arc<dyn ReplayStore>,
    request: &CompiledRequest,
    prepared: Prepared,
    variables: &(dyn VariableSource + Sync),
    context: &Context,
    sent: &Sent,
    (supplied_key, tenant): (bool, Option<&str>),
) -> Result<Kept, String> {
    let (redactor, outcome) = (sent.redactor(), &sent.outcome);
    let saved = without_credentials(request, prepared, variables, context, redactor)?;
    if supplied_key {
        let (store, key) = (store.clone(), saved.idempotency_key.clone());
        let existing = tokio::task::spawn_blocking(move || store.keyed(std::slice::from_ref(&key)))
            .await
            .map_err(|error| format!("the replay store failed: {error}"))?
            .map_err(|error| error.to_string())?;
        if let Some(&(id, state)) = existing.values().next() {
            return Ok(Kept { id, state });
        }
    }
    let (state, attempts, last_error) = if request.queue {
        (State::Pending, 0, None)
    } else {
        (State::Failed, sent.attempts.max(1), Some(redactor.redact(&failure_text(outcome))))
    };
    let tenant = tenant_of(request, tenant, variables, context, redactor)?;
    let record = NewRecord { state, saved, attempts, last_error, tenant, trace_context: sent.trace };
    let store = store.clone();
    let ids = tokio::task::spawn_blocking(move || store.insert(std::slice::from_ref(&record)))
        .await
        .map_err(|error| format!("the replay store failed: {error}"))?
        .map_err(|error| error.to_string())?;
    Ok(Kept { id: ids[0], state })
}

/// The record of a prepared request. Left out: the session's cookies, and every
/// credential — the spec's `[auth]` and `[sign]` (never in `prepared`: the
/// signature is made anew for each attempt), `Authorization`, any header whose
/// template reads a secret, the value of a query parameter that reads one, the
/// client certificate of `[tls]` — with what it takes to render them again (the
/// spec's name, and the variables its templates read: `secret("NAME")` is read
/// by name when the record is sent, never stored). A request whose body, or URL
/// outside its query, reads a secret cannot be kept.
pub(super) fn without_credentials(
    request: &CompiledRequest,
    mut prepared: Prepared,
    variables: &(dyn VariableSource + Sync),
    context: &Context,
    redactor: &Redactor,
) -> Result<Saved, String> {
    let url_reads_secret = reads_secret(context, |context| drop(request.url.render(variables, context)));
    if url_reads_secret {
        prepared.url = kept_url(request, &prepared.url, variables, context)?;
    }
    if let Some(body) = &request.body
        && reads_secret(context, |context| drop(body.render(variables, context, &request.base_dir)))
    {
        return Err("its body reads a secret".to_owned());
    }
    let mut credential_headers: Vec<String> = Vec::new();
    for (name, _, template) in &request.headers {
        if is_credential_header(name.as_str())
            || reads_secret(context, |context| drop(template.render(variables, context)))
        {
            credential_headers.push(name.as_str().to_owned());
        }
    }
    let idempotency_key = prepared
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(IDEMPOTENCY_HEADER))
        .map(|(_, value)| value.clone())
        .ok_or("it has no Idempotency-Key")?;
    prepared.headers.retain(|(name, _)| {
        !is_credential_header(name) && !credential_headers.iter().any(|header| header.eq_ignore_ascii_case(name))
    });
    let from_spec =
        request.auth.is_some() || request.sign.is_some() || !credential_headers.is_empty() || request.tls.is_some();
    let credentials = if from_spec || url_reads_secret {
        if request.name.is_none() {
            return Err("it has credentials or [tls], and its spec has no name to find them again by".to_owned());
        }
        let recorder = Recorder { inner: variables, read: Mutex::new(serde_json::Map::new()) };
        if url_reads_secret {
            request.url.render(&recorder, context).map_err(|error| format!("url: {error}"))?;
        }
        if let Some(tls) = &request.tls {
            tls.render(&recorder, context).map_err(|(field, error)| format!("{field}: {error}"))?;
        }
        for (name, written, template) in &request.headers {
            if credential_headers.iter().any(|header| header == name.as_str()) {
                template.render(&recorder, context).map_err(|error| format!("headers.{written}: {error}"))?;
            }
        }
        if let Some(auth) = &request.auth {
            auth.render(&recorder, context).map_err(|(field, error)| format!("{field}: {error}"))?;
        }
        if let Some(sign) = &request.sign {
            sign.render(&recorder, context).map_err(|(field, error)| format!("{field}: {error}"))?;
        }
        let variables = recorder.read.into_inner().unwrap_or_else(|poisoned| poisoned.into_inner());
        Some(KeptCredentials { headers: credential_headers, variables, url: url_reads_secret })
    } else {
        None
    };
    let saved = Saved {
        request: prepared,
        idempotency_key,
        spec_name: request.name.clone(),
        spec_sha256: request.sha256.clone(),
        credentials,
    };
    // The last line of defence: no secret the run resolved, in any form the redactor
    // knows, is anywhere in what is written.
    let holds_secret = |text: &str| redactor.redact(text) != text;
    let request = &saved.request;
    if holds_secret(&request.url)
        || request.headers.iter().any(|(_, value)| holds_secret(value))
        || request.body.as_ref().is_some_and(|body| holds_secret(&String::from_utf8_lossy(body)))
        || saved
            .credentials
            .as_ref()
            .is_some_and(|credentials| credentials.variables.values().any(|value| holds_secret(&value.to_string())))
    {
        return Err("it would hold a secret's value".to_owned());
    }
    Ok(saved)
}

/// The URL a record keeps when its template reads a secret: as rendered, with
/// each query parameter that depends on a secret redacted — those that change when
/// every secret is given another value (all of them when that cannot be told). The
/// URL is rendered again from the spec when the record is sent. A secret that
/// changes the URL outside its query (its host, its path) cannot be kept.
fn kept_url(
    request: &CompiledRequest,
    rendered: &str,
    variables: &(dyn VariableSource + Sync),
    context: &Context,
) -> Result<String, String> {
    let outside = || "its URL reads a secret outside its query".to_owned();
    let altered = Arc::new(Altered { inner: context.secrets().cloned() });
    let other = request.url.render(variables, &context.fork_with_secrets(altered));
    let other_pairs: Option<Vec<(String, String)>> = match other {
        Ok(other) if !differs_only_in_query(rendered, &other) => return Err(outside()),
        Ok(other) => url::Url::parse(&other).ok().map(|url| url.query_pairs().into_owned().collect()),
        Err(_) => None,
    };
    let mut url = url::Url::parse(rendered).map_err(|_| outside())?;
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let kept = pairs.into_iter().enumerate().map(|(at, (name, value))| {
        let other = other_pairs.as_ref().and_then(|pairs| pairs.get(at));
        match other {
            Some((other_name, other_value)) if *other_name == name && *other_value == value => (name, value),
            Some((other_name, _)) if *other_name == name => (name, REDACTED.to_owned()),
            _ => (REDACTED.to_owned(), REDACTED.to_owned()),
        }
    });
    let kept: Vec<(String, String)> = kept.collect();
    url.query_pairs_mut().clear().extend_pairs(kept);
    url.set_fragment(None);
    Ok(url.into())
}

/// A secret resolver that gives every secret another value of the same shape:
/// each letter and digit moved on by one, so that a part of the URL that depends
/// on any part of a secret comes out different.
struct Altered {
    inner: Option<Arc<dyn SecretResolver>>,
}

impl SecretResolver for Altered {
    fn resolve(&self, name: &str) -> Option<String> {
        let value = self.inner.as_ref()?.resolve(name)?;
        let moved = |c: char| match c {
            'z' => 'a',
            'Z' => 'A',
            '9' => '0',
            c if c.is_ascii_alphanumeric() => char::from(c as u8 + 1),
            c => c,
        };
        Some(value.chars().map(moved).collect())
    }

    fn how_to_set(&self, name: &str) -> Option<String> {
        self.inner.as_ref()?.how_to_set(name)
    }
}

/// Whether `render` calls `secret()` (what it renders is thrown away).
fn reads_secret(context: &Context, render: impl FnOnce(&Context)) -> bool {
    let watch = Arc::new(Watch { inner: context.secrets().cloned(), used: AtomicBool::new(false) });
    render(&context.fork_with_secrets(watch.clone()));
    watch.used.load(Ordering::Relaxed)
}

/// A secret resolver that notes it was asked.
struct Watch {
    inner: Option<Arc<dyn SecretResolver>>,
    used: AtomicBool,
}

impl SecretResolver for Watch {
    fn resolve(&self, name: &str) -> Option<String> {
        self.used.store(true, Ordering::Relaxed);
        self.inner.as_ref()?.resolve(name)
    }

    fn how_to_set(&self, name: &str) -> Option<String> {
        self.inner.as_ref()?.how_to_set(name)
    }
}

/// Variables that note which of them were read, and their values as JSON.
struct Recorder<'a> {
    inner: &'a (dyn VariableSource + Sync),
    read: Mutex<serde_json::Map<String, serde_json::Value>>,
}

impl VariableSource for Recorder<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        let value = self.inner.get(name)?;
        let json = value.to_json().unwrap_or_else(|_| value.to_text().into());
        self.read.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(name.to_owned(), json);
        Some(value)
    }

    fn names(&self) -> Vec<String> {
        self.inner.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Option<u16>, error: Option<&str>) -> Outcome {
        Outcome { status, error: error.map(str::to_owned), ..Outcome::default() }
    }

    #[test]
    fn failures_without_an_answer_and_5xx_and_429_are_kept() {
        assert!(worth_keeping(&outcome(None, Some("connection refused"))));
        assert!(worth_keeping(&outcome(Some(503), None)));
        assert!(worth_keeping(&outcome(Some(429), None)));
        assert!(!worth_keeping(&outcome(Some(200), None)));
        assert!(!worth_keeping(&outcome(Some(404), None)));
        assert!(!worth_keeping(&outcome(None, None)));
    }

    #[test]
    fn a_failure_reads_as_one_line_with_the_start_of_the_body() {
        let mut answered = outcome(Some(400), None);
        answered.variables.insert("api_client_response_body".into(), "bad\n  email ".repeat(100).into());
        let text = failure_text(&answered);
        assert!(text.starts_with("the service answered 400: bad email bad"), "{text}");
        assert!(text.ends_with('…') && !text.contains('\n'), "{text}");
        assert_eq!(failure_text(&outcome(None, Some("refused"))), "refused");
    }
}
