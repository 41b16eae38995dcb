//! Response mapping: a source field of the JSON response — a dot path
//! (`store_address.city`, `items.0.id`, `items[0].id`) or a JSON Pointer
//! (`/store_address/city`) — read into a target variable as its string form; or,
//! for a source that starts with `$`, the nodes an RFC 9535 JSONPath query selects.
//! A list of scalars (a field that is one, or a query's nodes when all are scalars)
//! becomes a list [`Variable`] of their string forms, the shape of a multiple-choice
//! answer; anything else holding objects or lists, its JSON text.
//!
//! The response is never built as a tree: it is checked to be JSON once, then each
//! mapping walks the raw text one level at a time, skipping what it does not read.
//! So a large body costs memory only for the fields mapped, and numbers keep the
//! response's own spelling (`1.0E2`, `12.50`).

use std::cell::OnceCell;
use std::fmt;

use serde::Serialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::value::{FieldPath, Value};

/// What a mapping (or a response header, or the status) sets a variable to: text,
/// or a list of texts when the response held a list of scalars. Serialized as a
/// JSON string or a JSON array of strings, the two shapes a session's variables take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Variable {
    /// A field's string form: strings as they are, numbers as the response wrote
    /// them, `true`/`false`, null as empty text, objects and other lists as JSON text.
    Text(String),
    /// The string forms of a list of scalars, in order.
    List(Vec<String>),
}

impl Variable {
    /// The text, when this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Variable::Text(text) => Some(text),
            Variable::List(_) => None,
        }
    }

    /// The items, when this is a list.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Variable::List(items) => Some(items),
            Variable::Text(_) => None,
        }
    }

    /// The value a session stores: a string, or a list of strings.
    pub fn to_value(&self) -> Value {
        match self {
            Variable::Text(text) => Value::from(text.as_str()),
            Variable::List(items) => Value::list(items.iter().map(|item| Value::from(item.as_str())).collect()),
        }
    }

    /// Every text it holds, for redaction.
    pub(crate) fn texts_mut(&mut self) -> std::slice::IterMut<'_, String> {
        match self {
            Variable::Text(text) => std::slice::from_mut(text).iter_mut(),
            Variable::List(items) => items.iter_mut(),
        }
    }
}

/// The string form: the text, or a list as the compact JSON array of its strings.
impl fmt::Display for Variable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Variable::Text(text) => f.write_str(text),
            Variable::List(_) => write!(f, "{}", self.to_value()),
        }
    }
}

impl From<String> for Variable {
    fn from(text: String) -> Self {
        Variable::Text(text)
    }
}

impl From<&str> for Variable {
    fn from(text: &str) -> Self {
        Variable::Text(text.to_owned())
    }
}

/// Text compares with text; a list is never equal to text.
impl PartialEq<str> for Variable {
    fn eq(&self, other: &str) -> bool {
        self.as_text() == Some(other)
    }
}

impl PartialEq<String> for Variable {
    fn eq(&self, other: &String) -> bool {
        self.as_text() == Some(other.as_str())
    }
}

impl PartialEq<&str> for Variable {
    fn eq(&self, other: &&str) -> bool {
        self.as_text() == Some(*other)
    }
}

/// Most items a list variable holds, as many as an evaluation's lists may
/// (`Limits::max_list_len`): a response of 10 MiB could hold five million scalars,
/// each a string of its own. A longer list leaves the target unchanged.
pub const MAX_LIST_ITEMS: usize = 100_000;

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

    /// The field in `response`, when it is there: a list of strings for a list of
    /// scalars, else its string form; for a query, the nodes it selects as a list
    /// of strings when all are scalars (empty when none), else their JSON text. An
    /// error says why a list cannot be set: more than [`MAX_LIST_ITEMS`] scalars,
    /// or nodes whose text would pass [`MAX_QUERY_TEXT`].
    pub(crate) fn read(&self, response: &RawValue, tree: &Tree) -> Result<Option<Variable>, String> {
        let path = match &self.path {
            Source::Field(path) => path,
            Source::Query(query) => {
                let Some(tree) = tree.get_or_init(|| serde_json::from_str(response.get()).ok()).as_ref() else {
                    return Ok(None);
                };
                return query_variable(&query.query(tree).all()).map(Some);
            }
        };
        let field = match path {
            FieldPath::Keys(keys) => keys.iter().try_fold(response, |value, key| step(value, key)),
            FieldPath::Pointer(pointer) => pointer
                .split('/')
                .skip(1)
                .try_fold(response, |value, token| step(value, &token.replace("~1", "/").replace("~0", "~"))),
        };
        field.map(field_variable).transpose()
    }
}

/// A field as a variable: a list of scalars as a list of their string forms,
/// anything else as its string form.
fn field_variable(field: &RawValue) -> Result<Variable, String> {
    if field.get().trim_start().starts_with('[') {
        let mut reader = serde_json::Deserializer::from_str(field.get());
        match ScalarList.deserialize(&mut reader) {
            Ok(Scalars::All(items)) => return Ok(Variable::List(items)),
            Ok(Scalars::TooMany) => return Err(too_many()),
            Ok(Scalars::NotAll) | Err(_) => {}
        }
    }
    Ok(Variable::Text(string_form(field).unwrap_or_default()))
}

fn too_many() -> String {
    format!("the list has more than {MAX_LIST_ITEMS} items, more than a list variable holds")
}

/// A query's nodes as a variable: a list of their string forms when all are
/// scalars, else their JSON text.
fn query_variable(nodes: &[&serde_json::Value]) -> Result<Variable, String> {
    use serde_json::Value as Json;
    if nodes.iter().all(|node| !matches!(node, Json::Array(_) | Json::Object(_))) {
        if nodes.len() > MAX_LIST_ITEMS {
            return Err(too_many());
        }
        let text = |node: &&Json| match node {
            Json::String(text) => text.clone(),
            Json::Null => String::new(),
            // Numbers keep the response's spelling (serde_json's `arbitrary_precision`).
            other => other.to_string(),
        };
        return Ok(Variable::List(nodes.iter().map(text).collect()));
    }
    query_text(nodes).map(Variable::Text)
}

/// What [`ScalarList`] found in a JSON list.
enum Scalars {
    /// Every item a scalar: their string forms.
    All(Vec<String>),
    /// An item is an object or a list.
    NotAll,
    /// More than [`MAX_LIST_ITEMS`] scalars.
    TooMany,
}

/// Reads a JSON list's items as string forms while they are scalars; past an
/// object, a list or [`MAX_LIST_ITEMS`], skips the rest unbuilt.
struct ScalarList;

impl<'de> DeserializeSeed<'de> for ScalarList {
    type Value = Scalars;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ScalarList {
    type Value = Scalars;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON list")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let mut texts = Vec::new();
        let mut too_many = false;
        while let Some(item) = items.next_element::<&'de RawValue>()? {
            if item.get().trim_start().starts_with(['{', '[']) {
                // The rest is skipped, not built: serde_json wants the list read to its end.
                while items.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Scalars::NotAll);
            }
            // Past the cap the items are still looked at, not kept: an object after
            // them makes the list JSON text, not one too long.
            too_many |= texts.len() == MAX_LIST_ITEMS;
            if !too_many {
                texts.push(string_form(item).unwrap_or_default());
            }
        }
        Ok(if too_many { Scalars::TooMany } else { Scalars::All(texts) })
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

/// Reads the fields `sources` name (dot paths, JSON Pointers or JSONPath queries,
/// as `[[mappings]]` writes them) from a response body, as the executor does: each
/// field as a [`Variable`], or `None` where the response has no such field. An
/// error says why a source, the body or a field cannot be read.
///
/// ```
/// use courier::request::mapping::{Variable, read_fields};
///
/// let body = br#"{"store": {"city": "Bern"}, "items": [{"id": 7}, {"id": 8}]}"#;
/// let fields = read_fields(body, &["store.city", "/items/0/id", "$.items[*].id", "nope"]).unwrap();
/// assert_eq!(fields[0], Some(Variable::from("Bern")));
/// assert_eq!(fields[1], Some(Variable::from("7")));
/// assert_eq!(fields[2], Some(Variable::List(vec!["7".into(), "8".into()])));
/// assert_eq!(fields[3], None);
/// ```
pub fn read_fields(body: &[u8], sources: &[&str]) -> Result<Vec<Option<Variable>>, String> {
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

    fn read_variable(source: &str, response: &str) -> Result<Option<Variable>, String> {
        Mapping::new(source, "t").unwrap().read(parse_response(response.as_bytes()).unwrap(), &Tree::new())
    }

    /// The string form of what `source` reads: text as it is, a list as JSON text.
    fn read(source: &str, response: &str) -> Option<String> {
        read_variable(source, response).unwrap().map(|variable| variable.to_string())
    }

    fn list(items: &[&str]) -> Option<Variable> {
        Some(Variable::List(items.iter().map(|item| (*item).to_owned()).collect()))
    }

    #[test]
    fn jsonpath_sources_give_scalars_as_a_list_and_other_nodes_as_json_text() {
        let response = r#"{"items": [{"id": 7, "ok": true}, {"id": 8.50, "ok": null}], "name": "x"}"#;
        let read = |source| read_variable(source, response).unwrap();
        // Numbers keep the response's spelling; null is empty text, as in a field.
        assert_eq!(read("$.items[*].id"), list(&["7", "8.50"]));
        assert_eq!(read("$.items[*].ok"), list(&["true", ""]));
        // `?@.ok` tests that the member exists; `== true` tests its value.
        assert_eq!(read("$.items[?@.ok].id"), list(&["7", "8.50"]));
        assert_eq!(read("$.items[?@.ok == true].id"), list(&["7"]));
        assert_eq!(read("$.items[?@.ok == true]"), Some(Variable::from(r#"[{"id":7,"ok":true}]"#)));
        assert_eq!(read("$.name"), list(&["x"]));
        assert_eq!(read("$.missing"), list(&[]));
        // One node that is a list is not a list of scalars: the nodelist holds a list.
        assert_eq!(read_variable("$.l", r#"{"l": [1, 2]}"#).unwrap(), Some(Variable::from("[[1,2]]")));
        assert!(Mapping::new("$.items[", "t").unwrap_err().contains("invalid JSONPath query"));
    }

    #[test]
    fn a_field_holding_a_list_of_scalars_is_a_list_and_one_holding_objects_is_text() {
        let response = r#"{"tags": ["a", "b \" c", 3, 1.0E2, true, null], "nested": [[1], [2]], "mixed": [1, {"a": 2}],
            "empty": [], "o": {"tags": ["x"]}}"#;
        let read = |source| read_variable(source, response).unwrap();
        assert_eq!(read("tags"), list(&["a", "b \" c", "3", "1.0E2", "true", ""]));
        assert_eq!(read("/o/tags"), list(&["x"]));
        assert_eq!(read("empty"), list(&[]));
        assert_eq!(read("nested"), Some(Variable::from("[[1],[2]]")));
        assert_eq!(read("mixed"), Some(Variable::from(r#"[1,{"a":2}]"#)));
        assert_eq!(read("o"), Some(Variable::from(r#"{"tags":["x"]}"#)));
        assert_eq!(read("tags[1]"), Some(Variable::from("b \" c")));
        // Deep nesting (within serde_json's 128 levels) is a list of lists: its text.
        let deep = format!("{{\"l\": [1, {}2{}]}}", "[".repeat(120), "]".repeat(120));
        let text = read_variable("l", &deep).unwrap().unwrap();
        assert_eq!(text.as_text().map(str::len), Some(deep.len() - "{\"l\": }".len() - 1));
    }

    #[test]
    fn a_list_of_more_scalars_than_a_list_variable_holds_is_refused() {
        let items = |count: usize| format!("{{\"l\": [{}]}}", vec!["1"; count].join(","));
        let most = items(MAX_LIST_ITEMS);
        assert_eq!(
            read_variable("l", &most).unwrap().and_then(|v| v.as_list().map(<[String]>::len)),
            Some(MAX_LIST_ITEMS)
        );
        assert_eq!(
            read_variable("$.l[*]", &most).unwrap().and_then(|v| v.as_list().map(<[String]>::len)),
            Some(MAX_LIST_ITEMS)
        );
        let over = items(MAX_LIST_ITEMS + 1);
        for source in ["l", "$.l[*]"] {
            let error = read_variable(source, &over).unwrap_err();
            assert!(error.contains(&format!("more than {MAX_LIST_ITEMS} items")), "{source}: {error}");
        }
        // An object after the cap makes it a list of objects: JSON text, not refused.
        let with_object = over.replace("]}", ",{}]}");
        for source in ["l", "$.l", "$.l[*]"] {
            let text = read_variable(source, &with_object).unwrap().unwrap();
            assert!(text.as_text().is_some_and(|text| text.ends_with(",{}]") || text.ends_with(",{}]]")), "{source}");
        }
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
