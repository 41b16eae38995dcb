//! The template routes: `/v1/eval`, `/v1/render`, `/v1/check` and
//! `/v1/functions` — the engine's answers, with errors as the same diagnostics
//! `courier check --format json` prints.

use std::collections::HashSet;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::errors::{ApiError, ApiJson};
use super::{Shared, State, blocking, requests};
use crate::diagnostics::{Diagnostic, Severity};
use crate::functions::catalog::catalog_json;
use crate::request::check::check_spec;
use crate::syntax::LineIndex;
use crate::template::{CheckOptions, check as check_template};
use crate::{
    Context, Engine, Error, FormTemplate, HeaderTemplate, JsonTemplate, Template, TemplateKind, UrlTemplate, Variables,
};

/// The contexts a template renders in, as the API names them.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum As {
    Text,
    Json,
    Url,
    Header,
    Form,
}

impl As {
    fn kind(self) -> TemplateKind {
        match self {
            As::Text => TemplateKind::Text,
            As::Json => TemplateKind::Json,
            As::Url => TemplateKind::Url,
            As::Header => TemplateKind::Header,
            As::Form => TemplateKind::Form,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvalRequest {
    expression: String,
    variables: Option<Json_>,
    context: Option<Json_>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenderRequest {
    template: String,
    #[serde(rename = "as")]
    context_kind: As,
    variables: Option<Json_>,
    context: Option<Json_>,
    #[serde(default)]
    strict: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest {
    template: Option<String>,
    #[serde(default, deserialize_with = "some_object_or_text")]
    spec: Option<String>,
    #[serde(rename = "as")]
    context_kind: Option<As>,
    variables: Option<Json_>,
    #[serde(default)]
    strict: bool,
}

/// The variables of a request: a JSON object of strings or lists of strings, as `--vars`.
pub(crate) fn variables(json: Option<&Json_>) -> Result<Variables, ApiError> {
    match json {
        None => Ok(Variables::new()),
        Some(json) => Variables::from_json(json).map_err(|error| ApiError::bad_request(format!("variables: {error}"))),
    }
}

/// The context of a request: the fields of a `--context` file.
pub(crate) fn context(json: Option<&Json_>) -> Result<Context, ApiError> {
    match json {
        None => Ok(Context::default()),
        Some(json) => Context::from_json(&json.to_string())
            .map_err(|error| ApiError::bad_request(format!("context: {error} (the fields are in docs/spec.md)"))),
    }
}

/// A 422 answer holding diagnostics.
pub(crate) fn diagnostics_response(diagnostics: Vec<Json_>) -> Response {
    (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "diagnostics": diagnostics }))).into_response()
}

/// An engine error as a diagnostic in `source` (at its start when it has no place).
pub(crate) fn error_diagnostic(error: &Error, source: &str) -> Json_ {
    let diagnostic = error.to_diagnostic().unwrap_or_else(|| {
        let mut diagnostic =
            Diagnostic::error(error.kind().code(), error.message().to_owned(), LineIndex::new(source).span(0, 0));
        diagnostic.suggestion = error.suggestion().map(str::to_owned);
        diagnostic
    });
    diagnostic.to_json(None, source)
}

fn engine(shared: &State, strict: bool) -> &Engine {
    if strict { &shared.strict_engine } else { &shared.engine }
}

/// A value as typed JSON, written as the json context writes it (`null` when it
/// has no JSON form).
fn value_json(value: &crate::Value) -> Json_ {
    let mut bytes = Vec::new();
    match crate::value::write_json(value, &mut bytes) {
        Ok(()) => serde_json::from_slice(&bytes).unwrap_or(Json_::Null),
        Err(_) => Json_::Null,
    }
}

pub(crate) async fn eval(shared: Shared, ApiJson(request): ApiJson<EvalRequest>) -> Result<Response, ApiError> {
    blocking(shared, move |shared| eval_now(shared, request)).await
}

fn eval_now(shared: &State, request: EvalRequest) -> Result<Response, ApiError> {
    let variables = variables(request.variables.as_ref())?;
    let context = context(request.context.as_ref())?;
    let source = &request.expression;
    let value = shared.engine.compile_expression(source).and_then(|compiled| compiled.evaluate(&variables, &context));
    Ok(match value {
        Ok(value) => Json(json!({ "value": value_json(&value), "text": value.to_text() })).into_response(),
        Err(error) => diagnostics_response(vec![error_diagnostic(&error, source)]),
    })
}

pub(crate) async fn render(shared: Shared, ApiJson(request): ApiJson<RenderRequest>) -> Result<Response, ApiError> {
    blocking(shared, move |shared| render_now(shared, request)).await
}

fn render_now(shared: &State, request: RenderRequest) -> Result<Response, ApiError> {
    let variables = variables(request.variables.as_ref())?;
    let context = context(request.context.as_ref())?;
    let engine = engine(shared, request.strict);
    let source = request.template.as_str();
    let rendered = match request.context_kind {
        As::Text => {
            Template::compile(engine, source).and_then(|t| t.render(&variables, &context)).map(|out| (out, None))
        }
        As::Json => JsonTemplate::compile(engine, source).and_then(|template| {
            let mut bytes = Vec::new();
            template.render_to_bytes(&variables, &context, &mut bytes)?;
            let value = serde_json::from_slice::<Json_>(&bytes).unwrap_or(Json_::Null);
            Ok((String::from_utf8_lossy(&bytes).into_owned(), Some(value)))
        }),
        As::Url => {
            UrlTemplate::compile(engine, source).and_then(|t| t.render(&variables, &context)).map(|out| (out, None))
        }
        As::Header => {
            HeaderTemplate::compile(engine, source).and_then(|t| t.render(&variables, &context)).map(|out| (out, None))
        }
        As::Form => {
            FormTemplate::compile(engine, source).and_then(|t| t.render(&variables, &context)).map(|out| (out, None))
        }
    };
    Ok(match rendered {
        Ok((output, None)) => Json(json!({ "output": output })).into_response(),
        Ok((output, Some(value))) => Json(json!({ "output": output, "value": value })).into_response(),
        Err(error) => diagnostics_response(vec![error_diagnostic(&error, source)]),
    })
}

pub(crate) async fn check(shared: Shared, ApiJson(request): ApiJson<CheckRequest>) -> Result<Response, ApiError> {
    blocking(shared, move |shared| check_now(shared, request)).await
}

fn check_now(shared: &State, request: CheckRequest) -> Result<Response, ApiError> {
    let mut options = CheckOptions::default();
    if request.variables.is_some() {
        let variables = variables(request.variables.as_ref())?;
        options.known_variables = Some(variables.iter().map(|(name, _)| name.to_owned()).collect::<HashSet<_>>());
    }
    let found: Vec<Json_> = match (&request.template, &request.spec) {
        (Some(template), None) => {
            let kind = request.context_kind.unwrap_or(As::Text).kind();
            let mut diagnostics = check_template(&shared.engine, template, kind, &options);
            // Cut before placing: each placement reads the text once.
            diagnostics.truncate(requests::MAX_DIAGNOSTICS);
            strictly(&mut diagnostics, request.strict);
            diagnostics.iter().map(|diagnostic| diagnostic.to_json(None, template)).collect()
        }
        (None, Some(spec)) => {
            let base_dir = requests::spec_folder(shared, spec)?;
            let findings = check_spec(&shared.engine, spec, &base_dir, &options);
            findings
                .into_iter()
                .take(requests::MAX_DIAGNOSTICS)
                .map(|mut finding| {
                    strictly(std::slice::from_mut(&mut finding.diagnostic), request.strict);
                    requests::finding_json(&finding.diagnostic, finding.file.as_deref(), spec)
                })
                .collect()
        }
        _ => return Err(ApiError::bad_request("give either template or spec, not both and not neither")),
    };
    Ok(Json(json!({ "diagnostics": found })).into_response())
}

/// `/v1/check`'s optional spec: an object or its text, as `/v1/dry-run` takes it.
fn some_object_or_text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    super::errors::object_or_text(deserializer).map(Some)
}

/// In strict mode an unset variable is an error, as `check --strict` reports it.
fn strictly(diagnostics: &mut [Diagnostic], strict: bool) {
    for diagnostic in diagnostics.iter_mut().filter(|d| strict && d.code == "undefined-variable") {
        diagnostic.severity = Severity::Error;
    }
}

pub(crate) async fn functions(shared: Shared) -> Json<Json_> {
    Json(catalog_json(shared.engine.registry()))
}
