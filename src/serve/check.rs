//! `/v1/check`: every problem of a template or of a request spec, as diagnostics.

use std::collections::HashSet;

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json_, json};

use super::errors::{ApiError, ApiJson};
use super::requests::{MAX_DIAGNOSTICS, finding_json, spec_folder};
use super::templates::{As, variables};
use super::{Shared, State, blocking};
use crate::diagnostics::{Diagnostic, Severity};
use crate::request::check::check_spec;
use crate::template::{CheckOptions, check as check_template};

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
            diagnostics.truncate(MAX_DIAGNOSTICS);
            strictly(&mut diagnostics, request.strict);
            diagnostics.iter().map(|diagnostic| diagnostic.to_json(None, template)).collect()
        }
        (None, Some(spec)) => {
            let base_dir = spec_folder(shared, spec)?;
            let findings = check_spec(&shared.engine, spec, &base_dir, &options);
            findings
                .into_iter()
                .take(MAX_DIAGNOSTICS)
                .map(|mut finding| {
                    strictly(std::slice::from_mut(&mut finding.diagnostic), request.strict);
                    finding_json(&finding.diagnostic, finding.file.as_deref(), spec)
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
