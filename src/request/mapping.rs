//! Response mapping: a source field of the JSON response — a dot path
//! (`store_address.city`, `items.0.id`, `items[0].id`) or a JSON Pointer (`/store_address/city`) —
//! read into a target variable as its string form.

use crate::value::FieldPath;

/// A compiled mapping: target variable ← source field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mapping {
    pub(crate) source: String,
    pub(crate) target: String,
    path: FieldPath,
}

impl Mapping {
    /// Parses the source path (the path syntax is [`FieldPath`]'s, shared with `jsonGet`).
    pub(crate) fn new(source: &str, target: &str) -> Result<Mapping, String> {
        let path = FieldPath::parse(source)?;
        Ok(Mapping { source: source.to_owned(), target: target.to_owned(), path })
    }

    /// The field's string form in `response`, when the field is there.
    pub(crate) fn read(&self, response: &serde_json::Value) -> Option<String> {
        self.path.read(response).map(string_form)
    }
}

/// A JSON value as a chat variable holds it: strings as they are, numbers as the
/// response wrote them, `true`/`false`, null as empty, objects and lists as JSON text.
pub(crate) fn string_form(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(source: &str, response: &serde_json::Value) -> Option<String> {
        Mapping::new(source, "t").unwrap().read(response)
    }

    #[test]
    fn dot_paths_and_pointers_reach_nested_fields() {
        let response: serde_json::Value =
            serde_json::from_str(r#"{"a": {"b": "x", "n": 12.50, "list": [{"id": 7}, {"id": 8}]}, "a/b": 1}"#).unwrap();
        assert_eq!(read("a.b", &response).as_deref(), Some("x"));
        assert_eq!(read("/a/b", &response).as_deref(), Some("x"));
        assert_eq!(read("a.list.1.id", &response).as_deref(), Some("8"));
        assert_eq!(read("a.list[1].id", &response).as_deref(), Some("8"));
        assert_eq!(read("/a/list/0/id", &response).as_deref(), Some("7"));
        assert_eq!(read("a.n", &response).as_deref(), Some("12.50"));
        assert_eq!(read("a.list.0", &response).as_deref(), Some(r#"{"id":7}"#));
        assert_eq!(read("/a~1b", &response).as_deref(), Some("1"));
        assert_eq!(read("a.missing", &response), None);
        assert_eq!(read("a.list.9.id", &response), None);
        assert_eq!(read("a.b.c", &response), None);
    }

    #[test]
    fn empty_segments_are_refused() {
        assert!(Mapping::new("a..b", "t").is_err());
        assert!(Mapping::new("", "t").is_err());
    }
}
