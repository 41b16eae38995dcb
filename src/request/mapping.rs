//! Response mapping: a source field of the JSON response — a dot path
//! (`store_address.city`, `items.0.id`) or a JSON Pointer (`/store_address/city`) —
//! read into a target variable as its string form. A dot path reads `[N]` as a list
//! index too (`items[0].name`).

use indexmap::IndexMap;
use serde_json::value::RawValue;

/// Where a mapping reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Path {
    /// A JSON Pointer (RFC 6901).
    Pointer(String),
    /// Dot-separated keys; a number indexes a list.
    Dots(Vec<String>),
}

/// A compiled mapping: target variable ← source field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) source: String,
    pub(crate) target: String,
    path: Path,
}

impl Mapping {
    /// Parses the source path.
    pub(crate) fn new(source: &str, target: &str) -> Result<Mapping, String> {
        let path = if source.starts_with('/') {
            Path::Pointer(source.to_owned())
        } else {
            Path::Dots(dot_segments(source).ok_or_else(|| {
                format!(
                    "{source:?} is not a field path: write keys separated by dots (store_address.city), \
                     list indices as .0 or [0] (items[0].name), or a JSON Pointer (/store_address/city)"
                )
            })?)
        };
        Ok(Mapping { source: source.to_owned(), target: target.to_owned(), path })
    }

    /// The field's string form in `response`, when the field is there. Numbers keep
    /// the response's own spelling (`1.0E2`, `12.50`): the response is read as raw
    /// JSON text, one level at a time along the path.
    pub(crate) fn read(&self, response: &RawValue) -> Option<String> {
        let mut field = response;
        match &self.path {
            Path::Pointer(pointer) => {
                for segment in pointer.split('/').skip(1) {
                    field = step(field, &segment.replace("~1", "/").replace("~0", "~"))?;
                }
            }
            Path::Dots(segments) => {
                for segment in segments {
                    field = step(field, segment)?;
                }
            }
        }
        string_form(field)
    }
}

/// Parses a response body for mapping: checks that it is JSON, keeping its text.
pub(crate) fn parse_response(body: &[u8]) -> Result<&RawValue, serde_json::Error> {
    serde_json::from_slice(body)
}

/// The member `key` of an object, or the item at index `key` of a list.
fn step<'a>(value: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    match value.get().trim_start().as_bytes().first()? {
        b'{' => {
            let members: IndexMap<String, &RawValue> = serde_json::from_str(value.get()).ok()?;
            members.get(key).copied()
        }
        b'[' => {
            let items: Vec<&RawValue> = serde_json::from_str(value.get()).ok()?;
            items.get(key.parse::<usize>().ok()?).copied()
        }
        _ => None,
    }
}

/// A JSON value as a chat variable holds it: strings as they are, numbers as the
/// response wrote them, `true`/`false`, null as empty, objects and lists as compact
/// JSON text.
fn string_form(value: &RawValue) -> Option<String> {
    let text = value.get().trim();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str(text).ok(),
        b'{' | b'[' => serde_json::from_str::<serde_json::Value>(text).ok().map(|json| json.to_string()),
        _ if text == "null" => Some(String::new()),
        _ => Some(text.to_owned()),
    }
}

/// The keys of a dot path, with `[N]` read as an index of its own: `items[0].name`
/// is `items`, `0`, `name`. `None` for an empty key or an unclosed or non-numeric bracket.
fn dot_segments(source: &str) -> Option<Vec<String>> {
    let mut segments = Vec::new();
    for part in source.split('.') {
        let (key, mut indices) = match part.find('[') {
            Some(open) => (&part[..open], &part[open..]),
            None => (part, ""),
        };
        if key.is_empty() && (indices.is_empty() || segments.is_empty() && source.starts_with('.')) {
            return None;
        }
        if !key.is_empty() {
            segments.push(key.to_owned());
        }
        while !indices.is_empty() {
            let close = indices.find(']')?;
            let index = &indices[1..close];
            if index.is_empty() || !index.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            segments.push(index.to_owned());
            indices = &indices[close + 1..];
            if !indices.is_empty() && !indices.starts_with('[') {
                return None;
            }
        }
    }
    Some(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(source: &str, response: &str) -> Option<String> {
        Mapping::new(source, "t").unwrap().read(parse_response(response.as_bytes()).unwrap())
    }

    #[test]
    fn dot_paths_and_pointers_reach_nested_fields() {
        let response = r#"{"a": {"b": "x", "n": 12.50, "list": [{"id": 7}, {"id": 8}]}, "a/b": 1}"#;
        assert_eq!(read("a.b", response).as_deref(), Some("x"));
        assert_eq!(read("/a/b", response).as_deref(), Some("x"));
        assert_eq!(read("a.list.1.id", response).as_deref(), Some("8"));
        assert_eq!(read("/a/list/0/id", response).as_deref(), Some("7"));
        assert_eq!(read("a.n", response).as_deref(), Some("12.50"));
        assert_eq!(read("a.list.0", response).as_deref(), Some(r#"{"id":7}"#));
        assert_eq!(read("/a~1b", response).as_deref(), Some("1"));
        assert_eq!(read("a.missing", response), None);
        assert_eq!(read("a.list.9.id", response), None);
        assert_eq!(read("a.b.c", response), None);
    }

    #[test]
    fn empty_segments_are_refused() {
        assert!(Mapping::new("a..b", "t").is_err());
        assert!(Mapping::new("", "t").is_err());
        for bad in ["items[", "items[x].name", "items[]", "items[0]x", ".a"] {
            assert!(Mapping::new(bad, "t").is_err(), "{bad}");
        }
    }

    #[test]
    fn bracketed_indices_reach_list_items() {
        let response = r#"{"items": [{"name": "a"}, {"name": "b", "tags": [[1, 2]]}]}"#;
        assert_eq!(read("items[0].name", response).as_deref(), Some("a"));
        assert_eq!(read("items[1].tags[0][1]", response).as_deref(), Some("2"));
        assert_eq!(read("items.1.name", response).as_deref(), Some("b"));
        assert_eq!(read("items[5].name", response), None);
    }

    #[test]
    fn numbers_keep_the_response_spelling() {
        let response = r#"{"a": 1.0E2, "b": 12.50, "c": -0.0, "d": 1e400, "e": null, "f": "q\"", "g": true}"#;
        assert_eq!(read("a", response).as_deref(), Some("1.0E2"));
        assert_eq!(read("b", response).as_deref(), Some("12.50"));
        assert_eq!(read("c", response).as_deref(), Some("-0.0"));
        assert_eq!(read("d", response).as_deref(), Some("1e400"));
        assert_eq!(read("e", response).as_deref(), Some(""));
        assert_eq!(read("f", response).as_deref(), Some("q\""));
        assert_eq!(read("g", response).as_deref(), Some("true"));
    }
}
