//! Response mapping: a source field of the JSON response — a dot path
//! (`store_address.city`, `items.0.id`, `items[0].id`) or a JSON Pointer
//! (`/store_address/city`) — read into a target variable as its string form; or,
//! for a source that starts with `$`, the nodes an RFC 9535 JSONPath query selects,
//! as the JSON text of a list.
//!
//! The response is never built as a tree: it is checked to be JSON once, then each
//! mapping walks the raw text one level at a time, skipping what it does not read.
//! So a large body costs memory only for the fields mapped, and numbers keep the
//! response's own spelling (`1.0E2`, `12.50`).

use std::cell::OnceCell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::value::FieldPath;

/// A compiled mapping: target variable ← source field or query.
#[derive(Debug, Clone)]
pub(crate) struct Mapping {
    pub(crate) source: String,
    pub(crate) target: String,
    path: Source,
}

/// Two mappings are the same when they are written the same.
impl PartialEq for Mapping {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source && self.target == other.target
    }
}

impl Eq for Mapping {}

#[derive(Debug, Clone)]
enum Source {
    Field(FieldPath),
    Query(serde_json_path::JsonPath),
}

/// The response as a tree, built once, and only for JSONPath mappings (a query may
/// look anywhere, where a field path reads one branch).
pub(crate) type Tree = OnceCell<Option<serde_json::Value>>;

impl Mapping {
    /// Parses the source: a JSONPath query when it starts with `$`, else a field path
    /// (the path syntax is [`FieldPath`]'s, shared with `jsonGet`).
    pub(crate) fn new(source: &str, target: &str) -> Result<Mapping, String> {
        let path = if source.starts_with('$') {
            Source::Query(crate::functions::parse_query(source)?)
        } else {
            Source::Field(FieldPath::parse(source)?)
        };
        Ok(Mapping { source: source.to_owned(), target: target.to_owned(), path })
    }

    /// The field's string form in `response`, when the field is there; for a query,
    /// the JSON text of the list of nodes it selects (`[]` when none). An error says
    /// why a query's nodes cannot be written (they would pass [`MAX_QUERY_TEXT`]).
    pub(crate) fn read(&self, response: &RawValue, tree: &Tree) -> Result<Option<String>, String> {
        let path = match &self.path {
            Source::Field(path) => path,
            Source::Query(query) => {
                let Some(tree) = tree.get_or_init(|| serde_json::from_str(response.get()).ok()).as_ref() else {
                    return Ok(None);
                };
                return query_text(&query.query(tree).all()).map(Some);
            }
        };
        let field = match path {
            FieldPath::Keys(keys) => keys.iter().try_fold(response, |value, key| step(value, key)),
            FieldPath::Pointer(pointer) => pointer
                .split('/')
                .skip(1)
                .try_fold(response, |value, token| step(value, &token.replace("~1", "/").replace("~0", "~"))),
        };
        Ok(field.and_then(string_form))
    }
}

/// Most paths of a response compared when a mapping finds nothing: the search for
/// a suggestion stays bounded however large the response.
const MAX_SUGGESTION_PATHS: usize = 10_000;

/// The path of `response` nearest to `source`, for a mapping that found nothing:
/// `price.ammount` → `price.amount`, `variants.id` on a list → `variants[0].id`,
/// `$.price.amount` (JSONPath) → `price.amount`. Built only on that failure.
pub(crate) fn nearest_path(response: &RawValue, source: &str) -> Option<String> {
    let tree: serde_json::Value = serde_json::from_str(response.get()).ok()?;
    let mut paths = Vec::new();
    collect_paths(&tree, String::new(), &mut paths);
    let wanted = source.trim_start_matches('$').trim_start_matches('.');
    let wanted = wanted.trim_start_matches('/').replace('/', ".");
    if paths.contains(&wanted) {
        return (wanted != source).then_some(wanted);
    }
    if let Some(through) = through_first_items(&tree, &wanted) {
        return Some(through);
    }
    crate::diagnostics::closest(&wanted, paths.iter().map(String::as_str)).map(str::to_owned)
}

/// `wanted`'s keys read through the first item of each list met on the way
/// (`variants.id` → `variants[0].id`), when that reaches a field.
fn through_first_items(tree: &serde_json::Value, wanted: &str) -> Option<String> {
    let mut at = tree;
    let mut path = String::new();
    for key in wanted.split('.') {
        while let serde_json::Value::Array(items) = at {
            at = items.first()?;
            path.push_str("[0]");
        }
        at = at.get(key)?;
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(key);
    }
    Some(path)
}

/// Every path under `value` (objects and lists too), in bracket form, up to [`MAX_SUGGESTION_PATHS`].
fn collect_paths(value: &serde_json::Value, at: String, paths: &mut Vec<String>) {
    let children: Vec<(String, &serde_json::Value)> = match value {
        serde_json::Value::Object(members) => members
            .iter()
            .map(|(key, member)| (if at.is_empty() { key.clone() } else { format!("{at}.{key}") }, member))
            .collect(),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().map(|(index, item)| (format!("{at}[{index}]"), item)).collect()
        }
        _ => return,
    };
    for (path, child) in children {
        if paths.len() >= MAX_SUGGESTION_PATHS {
            return;
        }
        paths.push(path.clone());
        collect_paths(child, path, paths);
    }
}

/// The most text a JSONPath mapping writes. Nodes may nest in each other (`$..*`),
/// so their text can be many times the response's: it is capped, not built whole.
pub(crate) const MAX_QUERY_TEXT: usize = 16 << 20;

/// The nodes as JSON text, refused once it passes [`MAX_QUERY_TEXT`].
fn query_text(nodes: &[&serde_json::Value]) -> Result<String, String> {
    struct Capped(Vec<u8>);
    impl std::io::Write for Capped {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + bytes.len() > MAX_QUERY_TEXT {
                return Err(std::io::Error::other("too long"));
            }
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::new());
    serde_json::to_writer(&mut out, nodes)
        .map_err(|_| format!("the nodes the query selects would be more than {MAX_QUERY_TEXT} bytes of JSON text"))?;
    String::from_utf8(out.0).map_err(|error| error.to_string())
}

/// Parses a response body for mapping: checks that all of it is JSON, building
/// nothing, and keeps its text.
pub(crate) fn parse_response(body: &[u8]) -> Result<&RawValue, serde_json::Error> {
    serde_json::from_slice(body)
}

/// Reads the fields `sources` name (dot paths or JSON Pointers, as `[[mappings]]`
/// writes them) from a response body, as the executor does: each field's string
/// form, or `None` where the response has no such field. An error says why a
/// source or the body cannot be read.
///
/// ```
/// let body = br#"{"store": {"city": "Bern"}, "items": [{"id": 7}]}"#;
/// let fields = courier::request::mapping::read_fields(body, &["store.city", "/items/0/id", "nope"]);
/// assert_eq!(fields.unwrap(), [Some("Bern".to_owned()), Some("7".to_owned()), None]);
/// ```
pub fn read_fields(body: &[u8], sources: &[&str]) -> Result<Vec<Option<String>>, String> {
    let mappings =
        sources.iter().map(|source| Mapping::new(source, "field")).collect::<Result<Vec<Mapping>, String>>()?;
    let response = parse_response(body).map_err(|error| format!("the response is not JSON ({error})"))?;
    let tree = Tree::new();
    mappings.iter().map(|mapping| mapping.read(response, &tree)).collect()
}

/// The member `key` of an object (the last, when a key repeats, as serde_json
/// keeps it), or the item at index `key` of a list; the rest is skipped unbuilt.
fn step<'a>(value: &'a RawValue, key: &str) -> Option<&'a RawValue> {
    let mut reader = serde_json::Deserializer::from_str(value.get());
    Member { key }.deserialize(&mut reader).ok().flatten()
}

/// Finds one member or item while skipping the others.
struct Member<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if name == self.key {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let Ok(wanted) = self.key.parse::<usize>() else {
            while items.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(None);
        };
        let mut found = None;
        let mut index = 0;
        loop {
            if index == wanted {
                found = items.next_element::<&'de RawValue>()?;
                if found.is_none() {
                    break;
                }
            } else if items.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            index += 1;
        }
        Ok(found)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// A JSON value as a chat variable holds it: strings as they are, numbers as the
/// response wrote them, `true`/`false`, null as empty text, objects and lists as
/// compact JSON text (the response's text without its layout).
fn string_form(value: &RawValue) -> Option<String> {
    let text = value.get().trim();
    match text.as_bytes().first()? {
        b'"' => serde_json::from_str(text).ok(),
        b'{' | b'[' => Some(compact(text)),
        _ if text == "null" => Some(String::new()),
        _ => Some(text.to_owned()),
    }
}

/// JSON text without the whitespace between its tokens.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for character in json.chars() {
        if in_string {
            in_string = escaped || character != '"';
            escaped = !escaped && character == '\\';
        } else if character.is_ascii_whitespace() {
            continue;
        } else {
            in_string = character == '"';
        }
        out.push(character);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_matches_nothing_gets_the_nearest_path_of_the_response() {
        let body = br#"{"price": {"amount": 12.50}, "variants": [{"id": 7}], "items": [{"name": "a"}]}"#;
        let response = parse_response(body).unwrap();
        let nearest = |source: &str| nearest_path(response, source);
        assert_eq!(nearest("price.ammount").as_deref(), Some("price.amount"));
        assert_eq!(nearest("variants.id").as_deref(), Some("variants[0].id"));
        assert_eq!(nearest("$.price.amount").as_deref(), Some("price.amount"));
        assert_eq!(nearest("nothing.like.it"), None);
    }

    fn read(source: &str, response: &str) -> Option<String> {
        Mapping::new(source, "t").unwrap().read(parse_response(response.as_bytes()).unwrap(), &Tree::new()).unwrap()
    }

    #[test]
    fn jsonpath_sources_give_the_nodelist_as_json_text() {
        let response = r#"{"items": [{"id": 7, "ok": true}, {"id": 8, "ok": false}], "name": "x"}"#;
        assert_eq!(read("$.items[*].id", response).as_deref(), Some("[7,8]"));
        // `?@.ok` tests that the member exists; `== true` tests its value.
        assert_eq!(read("$.items[?@.ok].id", response).as_deref(), Some("[7,8]"));
        assert_eq!(read("$.items[?@.ok == true].id", response).as_deref(), Some("[7]"));
        assert_eq!(read("$.items[?@.ok == true]", response).as_deref(), Some(r#"[{"id":7,"ok":true}]"#));
        assert_eq!(read("$.name", response).as_deref(), Some(r#"["x"]"#));
        assert_eq!(read("$.missing", response).as_deref(), Some("[]"));
        assert!(Mapping::new("$.items[", "t").unwrap_err().contains("invalid JSONPath query"));
    }

    #[test]
    fn a_query_whose_nodes_nest_is_capped_not_built_whole() {
        // 120 levels of 150 KB: `$..*` selects each level, whose text holds all below it.
        let leaf = format!("\"{}\"", "x".repeat(150_000));
        let deep = (0..120).fold(leaf, |inner, _| format!("[{inner}]"));
        let mapping = Mapping::new("$..*", "t").unwrap();
        let error = mapping.read(parse_response(deep.as_bytes()).unwrap(), &Tree::new()).unwrap_err();
        assert!(error.contains("more than"), "{error}");
    }

    #[test]
    fn dot_paths_and_pointers_reach_nested_fields() {
        let response = r#"{"a": {"b": "x", "n": 12.50, "list": [{"id": 7}, {"id": 8}]}, "a/b": 1}"#;
        assert_eq!(read("a.b", response).as_deref(), Some("x"));
        assert_eq!(read("/a/b", response).as_deref(), Some("x"));
        assert_eq!(read("a.list.1.id", response).as_deref(), Some("8"));
        assert_eq!(read("a.list[1].id", response).as_deref(), Some("8"));
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
    }

    #[test]
    fn numbers_keep_the_response_spelling() {
        let response = r#"{"a": 1.0E2, "b": 12.50, "c": -0.0, "d": 1e400, "e": null, "f": "q\"", "g": true}"#;
        for (source, shown) in
            [("a", "1.0E2"), ("b", "12.50"), ("c", "-0.0"), ("d", "1e400"), ("e", ""), ("f", "q\""), ("g", "true")]
        {
            assert_eq!(read(source, response).as_deref(), Some(shown), "{source}");
        }
    }

    #[test]
    fn objects_and_lists_are_compact_and_repeated_keys_keep_the_last() {
        let response = r#"{"o": { "k" : [1, 2.50, "a b \" c"] }, "d": 1, "d": 2}"#;
        assert_eq!(read("o", response).as_deref(), Some(r#"{"k":[1,2.50,"a b \" c"]}"#));
        assert_eq!(read("d", response).as_deref(), Some("2"));
        assert_eq!(read("o.k.x", response), None);
    }

    #[test]
    fn a_body_that_is_not_json_is_refused_whole() {
        assert!(parse_response(b"{\"a\": [1,").is_err());
        assert!(parse_response(b"{} x").is_err());
        assert_eq!(read_fields(b"{\"a\": 1} x", &["a"]).unwrap_err().split(' ').next(), Some("the"));
    }
}
