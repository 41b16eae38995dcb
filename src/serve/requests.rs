//! The request-spec routes: `/v1/dry-run` (what would be sent, secrets redacted)
//! and `/v1/send` (only when the operator allowed it), and the rule that keeps a
//! spec sent to the API off the server's disk: `payload_file` is refused unless
//! the operator named a folder, and then it must be a relative path inside it.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::errors::{ApiError, ApiJson};
use super::templates::{context, diagnostics_response, variables};
use super::{Shared, State, blocking};
use crate::diagnostics::Diagnostic;
use crate::functions::SecretResolver;
use crate::request::source::{SpecFormat, SpecSource};
use crate::request::spec::SpecError;
use crate::request::{CompiledRequest, Cookies};
use crate::syntax::LineIndex;

/// `secret("NAME")` on a server: the operator's `COURIER_SECRET_NAME`, as on the
/// command line, bound to the hosts in `COURIER_SECRET_NAME_HOSTS` when that is set.
/// Dry runs redact what it resolves; an unset one is an error naming it.
struct EnvSecrets;

/// The suffix of the name that binds a secret to hosts, as on the command line.
const HOSTS_SUFFIX: &str = "_HOSTS";

impl SecretResolver for EnvSecrets {
    fn resolve(&self, name: &str) -> Option<String> {
        if name.ends_with(HOSTS_SUFFIX) {
            return None;
        }
        std::env::var(format!("COURIER_SECRET_{name}")).ok()
    }

    fn allowed_hosts(&self, name: &str) -> Option<Vec<String>> {
        let hosts = std::env::var(format!("COURIER_SECRET_{name}{HOSTS_SUFFIX}")).ok()?;
        Some(hosts.split(',').map(|host| host.trim().to_owned()).filter(|host| !host.is_empty()).collect())
    }

    fn how_to_set(&self, name: &str) -> Option<String> {
        Some(format!("start the server with the environment variable COURIER_SECRET_{name} set"))
    }
}

/// Most diagnostics one answer holds: a hostile spec cannot make an answer huge.
pub(crate) const MAX_DIAGNOSTICS: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SpecRequest {
    /// The spec: TOML or JSON text, or a JSON object.
    #[serde(deserialize_with = "super::errors::object_or_text")]
    spec: String,
    variables: Option<Json_>,
    context: Option<Json_>,
    /// `/v1/send` only: the outcome's log shows each exchange (headers and bodies,
    /// credentials redacted), as the spec's own `debug = true` does.
    #[serde(default)]
    debug: bool,
}

/// The folder a spec's relative paths start from: the operator's `--files`
/// folder, after checking every `payload_file` the spec names stays inside it;
/// without one, a spec naming a `payload_file` is refused.
pub(crate) fn spec_folder(shared: &State, spec: &str) -> Result<PathBuf, ApiError> {
    // The tree the spec's own parser reads: a key spelt with escapes is found too.
    let named = match SpecSource::parse(spec, SpecFormat::of(spec)) {
        Ok(source) => payload_files(&source.tree),
        Err(_) => Vec::new(),
    };
    let Some(folder) = &shared.options.files else {
        if named.is_empty() {
            return Ok(PathBuf::new());
        }
        return Err(ApiError::unprocessable(
            "payload_file (or a [tls] ca naming a file) reads the server's disk, which this server does not \
             allow: write the payload inline (payload = '''...''') or the ca as PEM text, or start the server \
             with --files DIR",
        ));
    };
    for file in named {
        let inside = Path::new(&file).components().all(|part| matches!(part, Component::Normal(_) | Component::CurDir));
        if !inside {
            return Err(ApiError::unprocessable(format!(
                "payload_file or ca {file:?} is outside the server's folder: name a relative path without ..",
            )));
        }
    }
    Ok(folder.clone())
}

/// Every `payload_file` value anywhere in the spec's tree (any non-string value as
/// its JSON), and every `ca` that is not PEM text (a file's name).
fn payload_files(tree: &Json_) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![tree];
    while let Some(node) = pending.pop() {
        match node {
            Json_::Object(members) => {
                for (key, value) in members {
                    let names_file = match key.as_str() {
                        "payload_file" => true,
                        "ca" => value.as_str().is_none_or(|text| !crate::request::ca_is_pem(text)),
                        _ => false,
                    };
                    if names_file {
                        found.push(value.as_str().map_or_else(|| value.to_string(), str::to_owned));
                    }
                    pending.push(value);
                }
            }
            Json_::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    found
}

/// A spec diagnostic as JSON: in the spec's text, or in the payload file it is in.
pub(crate) fn finding_json(diagnostic: &Diagnostic, file: Option<&Path>, spec: &str) -> Json_ {
    match file {
        None => diagnostic.to_json(None, spec),
        Some(file) => {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            let name = file.file_name().map(|name| name.to_string_lossy().into_owned());
            diagnostic.to_json(name.as_deref(), &text)
        }
    }
}

fn spec_diagnostics(error: &SpecError, spec: &str) -> Vec<Json_> {
    let index = LineIndex::new(spec);
    error
        .problems
        .iter()
        .take(MAX_DIAGNOSTICS)
        .map(|problem| {
            let message = if problem.field.is_empty() {
                problem.message.clone()
            } else {
                format!("{}: {}", problem.field, problem.message)
            };
            let mut diagnostic =
                Diagnostic::error(problem.code, message, problem.span.unwrap_or_else(|| index.span(0, 0)));
            diagnostic.suggestion = problem.suggestion.clone();
            finding_json(&diagnostic, problem.file.as_deref(), spec)
        })
        .collect()
}

/// The compiled spec, or the answer that says why it is not one.
fn compile(shared: &State, spec: &str) -> Result<Result<CompiledRequest, Response>, ApiError> {
    let folder = spec_folder(shared, spec)?;
    Ok(CompiledRequest::from_text(&shared.engine, spec, &folder)
        .map_err(|error| diagnostics_response(spec_diagnostics(&error, spec))))
}

pub(crate) async fn dry_run(shared: Shared, ApiJson(request): ApiJson<SpecRequest>) -> Result<Response, ApiError> {
    blocking(shared, move |shared| dry_run_now(shared, request)).await
}

fn dry_run_now(shared: &State, request: SpecRequest) -> Result<Response, ApiError> {
    let variables = variables(request.variables.as_ref())?;
    let context = context(request.context.as_ref())?.with_secrets(Arc::new(EnvSecrets));
    let compiled = match compile(shared, &request.spec)? {
        Ok(compiled) => compiled,
        Err(answer) => return Ok(answer),
    };
    let dry_run = shared
        .delivery
        .executor()
        .dry_run(&compiled, &variables, &context, &Cookies::new())
        .map_err(|message| ApiError::unprocessable(format!("{message}; nothing was sent")))?;
    Ok(Json(serde_json::to_value(&dry_run).unwrap_or_default()).into_response())
}

pub(crate) async fn send(shared: Shared, ApiJson(request): ApiJson<SpecRequest>) -> Result<Response, ApiError> {
    if !shared.options.allow_send {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            message: "this server does not send requests: start it with `courier serve --allow-send` \
                      (use /v1/dry-run to see what would be sent)"
                .to_owned(),
        });
    }
    let variables = variables(request.variables.as_ref())?;
    let context = context(request.context.as_ref())?.with_secrets(Arc::new(EnvSecrets));
    let mut compiled = match compile(&shared, &request.spec)? {
        Ok(compiled) => compiled,
        Err(answer) => return Ok(answer),
    };
    compiled.debug |= request.debug;
    let mut cookies = Cookies::new();
    // Through the process's delivery layer, so that a spec's [retry], the hosts'
    // breakers and the destination limits apply; there is no store.
    let outcome = shared.delivery.execute(&compiled, &variables, &context, &mut cookies).await.outcome;
    Ok(Json(json!(outcome)).into_response())
}
