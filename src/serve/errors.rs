//! The API's errors: every rejection is a JSON object `{"error": "..."}` with a
//! 4xx status that says what is wrong — malformed or mistyped bodies (400), a body
//! over the limit (413), a body too slow to arrive (408), unknown routes (404) and methods (405) — replacing axum's
//! plain-text rejections. [`ApiJson`] is the body extractor that does so.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::Value;

/// A failed request: its status and a message saying what is wrong and how to fix it.
#[derive(Debug)]
pub struct ApiError {
    /// The status (always 4xx for a client's mistake).
    pub status: StatusCode,
    /// What is wrong.
    pub message: String,
}

impl ApiError {
    /// A 400: the request is not one this route takes.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// A 422: the request is well formed but what it asks cannot be done.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(serde_json::json!({ "error": self.message }))).into_response()
    }
}

/// A JSON body read as `T`, or a JSON [`ApiError`]: 413 over the body limit, 400
/// for anything that is not the JSON `T` describes (serde's message says which
/// field, line and column), 408 when it takes longer than [`super::BODY_READ_TIMEOUT`]
/// to arrive. The content type is checked before (`guard.rs`).
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let reading = Bytes::from_request(request, state);
        let Ok(read) = tokio::time::timeout(super::BODY_READ_TIMEOUT, reading).await else {
            return Err(ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: format!("the request body took longer than {:?} to arrive", super::BODY_READ_TIMEOUT),
            });
        };
        let bytes = read.map_err(|rejection| match rejection {
            BytesRejection::FailedToBufferBody(failure) if failure.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    message: format!("the request body is larger than {} bytes", super::MAX_BODY_BYTES),
                }
            }
            other => ApiError::bad_request(format!("the request body could not be read: {}", other.body_text())),
        })?;
        serde_json::from_slice(&bytes).map(ApiJson).map_err(|error| {
            ApiError::bad_request(format!("the request body is not the JSON this route takes: {error}"))
        })
    }
}

/// A request field that holds a JSON document (a spec, a response): its text, or
/// the document itself. An object (or, where `lists` allows, a list) is taken as
/// its JSON text, indented, so that a diagnostic's line and column point into
/// something readable.
fn document_text<'de, D: Deserializer<'de>>(deserializer: D, lists: bool) -> Result<String, D::Error> {
    match Value::deserialize(deserializer)? {
        Value::String(text) => Ok(text),
        document @ Value::Object(_) => Ok(indented(&document)),
        document @ Value::Array(_) if lists => Ok(indented(&document)),
        other => {
            let expected = if lists { "a JSON object or list, or its text" } else { "a JSON object, or its text" };
            Err(D::Error::custom(format!("expected {expected}, found {}", kind_of(&other))))
        }
    }
}

/// `deserialize_with` for a field that takes an object or its text (a spec).
pub(crate) fn object_or_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    document_text(deserializer, false)
}

/// `deserialize_with` for a field that takes any JSON document or its text (a response).
pub(crate) fn document_or_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    document_text(deserializer, true)
}

fn indented(document: &Value) -> String {
    serde_json::to_string_pretty(document).unwrap_or_default()
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

pub(crate) async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: format!("no route {}; the routes are listed in /openapi.json", uri.path()),
    }
}

pub(crate) async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{} does not take {method}; /openapi.json lists its methods", uri.path()),
    }
}
