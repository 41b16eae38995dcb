//! Response mapping: a source field of the JSON response — a dot path
//! (`store_address.city`, `items.0.id`) or a JSON Pointer (`/store_address/city`) —
//! read into a target variable as its string form.

use std::cell::Cell;
use std::collections::HashMap;

use serde::de::{DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The key under which serde_json (with `arbitrary_precision`) hands over a number.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

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
            let segments: Vec<String> = source.split('.').map(str::to_owned).collect();
            if segments.iter().any(String::is_empty) {
                return Err(format!(
                    "{source:?} is not a field path: write keys separated by dots (store_address.city) or a JSON Pointer (/store_address/city)"
                ));
            }
            Path::Dots(segments)
        };
        Ok(Mapping { source: source.to_owned(), target: target.to_owned(), path })
    }

    /// The field's string form in `response`, when the field is there.
    pub(crate) fn read(&self, response: &serde_json::Value) -> Option<String> {
        let field = match &self.path {
            Path::Pointer(pointer) => response.pointer(pointer)?,
            Path::Dots(segments) => segments.iter().try_fold(response, |value, segment| match value {
                serde_json::Value::Object(entries) => entries.get(segment),
                serde_json::Value::Array(items) => items.get(segment.parse::<usize>().ok()?),
                _ => None,
            })?,
        };
        Some(string_form(field))
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

/// Most JSON values the mapped parts of one response may hold: a mapping of a huge
/// list cannot grow memory without bound.
pub(crate) const MAX_MAPPED_NODES: usize = 100_000;

/// The parts of a response the mappings read: a tree of keys, `whole` where a
/// mapping's path ends (that subtree is kept entire).
#[derive(Debug, Default)]
struct Wanted {
    whole: bool,
    children: HashMap<String, Wanted>,
}

impl Wanted {
    fn of(mappings: &[Mapping]) -> Wanted {
        let mut root = Wanted::default();
        for mapping in mappings {
            let segments: Vec<String> = match &mapping.path {
                Path::Pointer(pointer) => {
                    pointer[1..].split('/').map(|token| token.replace("~1", "/").replace("~0", "~")).collect()
                }
                Path::Dots(segments) => segments.clone(),
            };
            let mut node = &mut root;
            for segment in segments {
                node = node.children.entry(segment).or_default();
            }
            node.whole = true;
        }
        root
    }

    /// The wanted child at a list position, and the highest position any child names.
    fn at(&self, index: usize) -> Option<&Wanted> {
        self.children.iter().find(|(key, _)| key.parse::<usize>().ok() == Some(index)).map(|(_, child)| child)
    }

    fn last_index(&self) -> Option<usize> {
        self.children.keys().filter_map(|key| key.parse::<usize>().ok()).max()
    }
}

/// Parses a response body keeping only what the mappings read: the whole body is
/// checked to be JSON, but the rest of it is skipped rather than built, so a large
/// body costs time in proportion to its size and memory in proportion to the mapped
/// parts (at most [`MAX_MAPPED_NODES`] values). Mappings read the result as they
/// would read the whole response.
pub(crate) fn parse_mapped(body: &[u8], mappings: &[Mapping]) -> Result<serde_json::Value, String> {
    // Skipped strings are not checked for UTF-8 by serde_json: check the whole body, so
    // that what is not JSON as a whole is not read in part (found by fuzzing).
    let text = std::str::from_utf8(body).map_err(|error| format!("the response is not JSON (not UTF-8: {error})"))?;
    let wanted = Wanted::of(mappings);
    let budget = Cell::new(MAX_MAPPED_NODES);
    let mut reader = serde_json::Deserializer::from_str(text);
    let value = Prune { wanted: Some(&wanted), budget: &budget }.deserialize(&mut reader);
    value.and_then(|value| reader.end().map(|()| value)).map_err(|error| {
        if budget.get() == 0 {
            format!("the mapped fields hold more than {MAX_MAPPED_NODES} JSON values")
        } else {
            format!("the response is not JSON ({error})")
        }
    })
}

/// Reads the fields `sources` name (dot paths or JSON Pointers, as `[[mappings]]`
/// writes them) from a response body, as the executor does: each field's string
/// form, or `None` where the response has no such field. Only the named parts of
/// the body are built. An error says why a source or the body cannot be read.
///
/// ```
/// let body = br#"{"store": {"city": "Bern"}, "items": [{"id": 7}]}"#;
/// let fields = courier::request::mapping::read_fields(body, &["store.city", "/items/0/id", "nope"]);
/// assert_eq!(fields.unwrap(), [Some("Bern".to_owned()), Some("7".to_owned()), None]);
/// ```
pub fn read_fields(body: &[u8], sources: &[&str]) -> Result<Vec<Option<String>>, String> {
    let mappings =
        sources.iter().map(|source| Mapping::new(source, "field")).collect::<Result<Vec<Mapping>, String>>()?;
    let response = parse_mapped(body, &mappings)?;
    Ok(mappings.iter().map(|mapping| mapping.read(&response)).collect())
}

/// Reads one JSON value: all of it (`wanted` is `None`) or the wanted parts.
#[derive(Clone, Copy)]
struct Prune<'a> {
    wanted: Option<&'a Wanted>,
    budget: &'a Cell<usize>,
}

impl Prune<'_> {
    fn node<E: serde::de::Error>(&self, value: serde_json::Value) -> Result<serde_json::Value, E> {
        let left = self
            .budget
            .get()
            .checked_sub(1)
            .ok_or_else(|| E::custom(format!("the mapped fields hold more than {MAX_MAPPED_NODES} JSON values")))?;
        self.budget.set(left);
        Ok(value)
    }

    fn child<'b>(&self, wanted: Option<&'b Wanted>) -> Prune<'b>
    where
        Self: 'b,
    {
        Prune { wanted: wanted.filter(|wanted| !wanted.whole), budget: self.budget }
    }
}

impl<'de> DeserializeSeed<'de> for Prune<'_> {
    type Value = serde_json::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<serde_json::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Prune<'_> {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E: serde::de::Error>(self, value: bool) -> Result<serde_json::Value, E> {
        self.node(value.into())
    }

    fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<serde_json::Value, E> {
        self.node(value.into())
    }

    fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<serde_json::Value, E> {
        self.node(value.into())
    }

    fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<serde_json::Value, E> {
        self.node(serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<serde_json::Value, E> {
        self.node(value.into())
    }

    fn visit_string<E: serde::de::Error>(self, value: String) -> Result<serde_json::Value, E> {
        self.node(value.into())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<serde_json::Value, E> {
        self.node(serde_json::Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<serde_json::Value, A::Error> {
        let mut kept = Vec::new();
        match self.wanted {
            None => {
                while let Some(item) = items.next_element_seed(self)? {
                    kept.push(item);
                }
            }
            Some(wanted) => {
                let last = wanted.last_index();
                let mut index = 0;
                loop {
                    let more = match wanted.at(index) {
                        Some(child) => items.next_element_seed(self.child(Some(child)))?.map(|item| kept.push(item)),
                        // Positions before a wanted one keep their place as null.
                        None if last.is_some_and(|last| index < last) => {
                            items.next_element::<IgnoredAny>()?.map(|_| kept.push(serde_json::Value::Null))
                        }
                        None => items.next_element::<IgnoredAny>()?.map(drop),
                    };
                    if more.is_none() {
                        break;
                    }
                    index += 1;
                }
            }
        }
        self.node(serde_json::Value::Array(kept))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<serde_json::Value, A::Error> {
        let mut kept = serde_json::Map::new();
        while let Some(key) = entries.next_key::<String>()? {
            if key == NUMBER_TOKEN {
                // serde_json's arbitrary precision hands a number over as this map, its
                // digits as they were written (`12.50` stays `12.50`).
                let digits: String = entries.next_value()?;
                let number = serde_json::from_str::<serde_json::Number>(&digits).map_err(A::Error::custom)?;
                return self.node(serde_json::Value::Number(number));
            }
            match self.wanted {
                None => {
                    let value = entries.next_value_seed(self)?;
                    kept.insert(key, value);
                }
                Some(wanted) => match wanted.children.get(&key) {
                    Some(child) => {
                        let value = entries.next_value_seed(self.child(Some(child)))?;
                        kept.insert(key, value);
                    }
                    None => {
                        entries.next_value::<IgnoredAny>()?;
                    }
                },
            }
        }
        self.node(serde_json::Value::Object(kept))
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
        assert_eq!(read("/a/list/0/id", &response).as_deref(), Some("7"));
        assert_eq!(read("a.n", &response).as_deref(), Some("12.50"));
        assert_eq!(read("a.list.0", &response).as_deref(), Some(r#"{"id":7}"#));
        assert_eq!(read("/a~1b", &response).as_deref(), Some("1"));
        assert_eq!(read("a.missing", &response), None);
        assert_eq!(read("a.list.9.id", &response), None);
        assert_eq!(read("a.b.c", &response), None);
    }

    #[test]
    fn the_pruned_parse_reads_what_the_whole_parse_reads() {
        let text =
            r#"{"a": {"b": "x", "n": 12.50, "list": [{"id": 7}, {"id": 8}, 3], "skip": [1, 2]}, "a/b": 1, "z": null}"#;
        let whole: serde_json::Value = serde_json::from_str(text).unwrap();
        let sources = [
            "a.b",
            "/a/b",
            "a.list.1.id",
            "/a/list/0/id",
            "a.n",
            "a.list.0",
            "/a~1b",
            "a.missing",
            "a.list.9.id",
            "a.b.c",
            "z",
            "a.list.2",
        ];
        let mappings: Vec<Mapping> = sources.iter().map(|source| Mapping::new(source, "t").unwrap()).collect();
        let pruned = parse_mapped(text.as_bytes(), &mappings).unwrap();
        for mapping in &mappings {
            assert_eq!(mapping.read(&pruned), mapping.read(&whole), "{}", mapping.source);
        }
        assert!(pruned["a"].get("skip").is_none(), "unmapped parts are skipped: {pruned}");
        assert!(parse_mapped(b"{\"a\": [1,", &mappings).unwrap_err().contains("not JSON"));
        assert!(parse_mapped(b"{} x", &mappings).unwrap_err().contains("not JSON"));
        // Invalid UTF-8 in a part no mapping reads still makes the body not JSON.
        assert!(parse_mapped(b"{\"a\": {\"b\": 1}, \"z\": \"\x86\"}", &mappings).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn a_mapped_huge_list_stops_at_the_node_limit() {
        let text = format!("{{\"items\": [{}0]}}", "0,".repeat(MAX_MAPPED_NODES + 10));
        let mappings = [Mapping::new("items", "t").unwrap()];
        let error = parse_mapped(text.as_bytes(), &mappings).unwrap_err();
        assert!(error.contains("more than 100000 JSON values"), "{error}");
    }

    #[test]
    fn empty_segments_are_refused() {
        assert!(Mapping::new("a..b", "t").is_err());
        assert!(Mapping::new("", "t").is_err());
    }
}
