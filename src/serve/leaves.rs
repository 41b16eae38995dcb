//! `/v1/mappings`: every leaf of a sample response with the path a mapping
//! accepts, so that a page can offer "click a field to map it".

use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

use super::errors::{ApiError, ApiJson};

/// Most leaves listed; a larger response is cut (and `truncated` says so).
pub const MAX_LEAVES: usize = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MappingsRequest {
    /// The response: JSON text, or the JSON document itself.
    #[serde(deserialize_with = "super::errors::document_or_text")]
    response: String,
}

/// One leaf: a value that is not an object or list, or an empty one.
#[derive(Debug, Serialize, PartialEq)]
pub(crate) struct Leaf {
    /// The mapping's source: a dot path (`price.amount`, `items[0].name`), or the
    /// JSON Pointer when a key cannot be written in one (it holds `.`, `[`, or is empty).
    path: String,
    /// The JSON Pointer (RFC 6901).
    pointer: String,
    /// The value, as the response spells it.
    value: Json_,
    /// The text a mapping of it sets: a string as it is, anything else as its
    /// JSON text in the response's spelling (`12.50`).
    text: String,
}

#[derive(Serialize)]
pub(crate) struct Leaves {
    leaves: Vec<Leaf>,
    truncated: bool,
}

/// A step from a value to one of its members.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

pub(crate) async fn mappings(ApiJson(request): ApiJson<MappingsRequest>) -> Result<Json<Leaves>, ApiError> {
    let response: Json_ = serde_json::from_str(&request.response)
        .map_err(|error| ApiError::unprocessable(format!("response is not JSON: {error}")))?;
    let mut leaves = Vec::new();
    let truncated = collect(&response, &mut Vec::new(), &mut leaves);
    Ok(Json(Leaves { leaves, truncated }))
}

/// Appends the leaves under `value` in document order; true when [`MAX_LEAVES`] cut it.
fn collect<'a>(value: &'a Json_, steps: &mut Vec<Step<'a>>, leaves: &mut Vec<Leaf>) -> bool {
    let members: Vec<(Step<'a>, &'a Json_)> = match value {
        Json_::Object(members) if !members.is_empty() => {
            members.iter().map(|(key, member)| (Step::Key(key.as_str()), member)).collect()
        }
        Json_::Array(items) if !items.is_empty() => {
            items.iter().enumerate().map(|(index, item)| (Step::Index(index), item)).collect()
        }
        _ => {
            if leaves.len() == MAX_LEAVES {
                return true;
            }
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            leaves.push(Leaf { path: path(steps), pointer: pointer(steps), value: value.clone(), text });
            return false;
        }
    };
    for (step, member) in members {
        steps.push(step);
        let cut = collect(member, steps, leaves);
        steps.pop();
        if cut {
            return true;
        }
    }
    false
}

fn pointer(steps: &[Step]) -> String {
    steps
        .iter()
        .map(|step| match step {
            Step::Key(key) => format!("/{}", key.replace('~', "~0").replace('/', "~1")),
            Step::Index(index) => format!("/{index}"),
        })
        .collect()
}

/// The dot path, or the pointer when a key has no dot-path spelling.
fn path(steps: &[Step]) -> String {
    let plain = |key: &str| !key.is_empty() && !key.contains(['.', '[', ']']) && !key.starts_with('/');
    if steps.iter().any(|step| matches!(step, Step::Key(key) if !plain(key))) || steps.is_empty() {
        return pointer(steps);
    }
    let mut path = String::new();
    for step in steps {
        match step {
            Step::Key(key) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Step::Index(index) => path.push_str(&format!("[{index}]")),
        }
    }
    path
}
