//! `/v1/mappings`: every leaf of a sample response with the path a mapping
//! accepts, so that a page can offer "click a field to map it".

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json_;

use super::errors::{ApiError, ApiJson};
use super::{Shared, blocking};

/// Most leaves listed; a larger response is cut (and `truncated` says so).
pub const MAX_LEAVES: usize = 10_000;

/// Most bytes of paths, pointers and values an answer lists: every leaf repeats
/// its whole path, so a 1 MiB response of long keys nested deep would otherwise
/// ask for gigabytes (a 971 KB one asked for ~9.6 GB). Past it the list is cut
/// (and `truncated` says so).
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

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

pub(crate) async fn mappings(shared: Shared, ApiJson(request): ApiJson<MappingsRequest>) -> Result<Response, ApiError> {
    // Parsing and listing a large response is CPU work: off the async workers.
    blocking(shared, move |_| {
        let response: Json_ = serde_json::from_str(&request.response)
            .map_err(|error| ApiError::unprocessable(format!("response is not JSON: {error}")))?;
        let mut found = Found { leaves: Vec::new(), bytes: 0 };
        let truncated = collect(&response, &mut Vec::new(), &mut found);
        Ok(Json(Leaves { leaves: found.leaves, truncated }).into_response())
    })
    .await
}

/// The leaves listed so far and the bytes they take in the answer.
struct Found {
    leaves: Vec<Leaf>,
    bytes: usize,
}

/// Appends the leaves under `value` in document order; true when [`MAX_LEAVES`]
/// or [`MAX_ANSWER_BYTES`] cut it.
fn collect<'a>(value: &'a Json_, steps: &mut Vec<Step<'a>>, found: &mut Found) -> bool {
    let members: Vec<(Step<'a>, &'a Json_)> = match value {
        Json_::Object(members) if !members.is_empty() => {
            members.iter().map(|(key, member)| (Step::Key(key.as_str()), member)).collect()
        }
        Json_::Array(items) if !items.is_empty() => {
            items.iter().enumerate().map(|(index, item)| (Step::Index(index), item)).collect()
        }
        _ => {
            if found.leaves.len() == MAX_LEAVES {
                return true;
            }
            let text = value.as_str().map_or_else(|| value.to_string(), str::to_owned);
            let leaf = Leaf { path: path(steps), pointer: pointer(steps), value: value.clone(), text };
            // The value is written twice (as JSON and as text); escapes are not counted.
            found.bytes += leaf.path.len() + leaf.pointer.len() + 2 * leaf.text.len();
            if found.bytes > MAX_ANSWER_BYTES {
                return true;
            }
            found.leaves.push(leaf);
            return false;
        }
    };
    for (step, member) in members {
        steps.push(step);
        let cut = collect(member, steps, found);
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
