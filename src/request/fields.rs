//! Reading a spec's fields into a [`RequestSpec`] with serde — the one schema —
//! field by field, so that every unknown, misspelt or mistyped field is reported
//! with the field it is in and a fix where one is certain, not only the first.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::spec::{Problems, RequestSpec};
use crate::diagnostics::closest;

/// The fields whose values are durations.
const DURATIONS: [&str; 7] = [
    "timeout",
    "connect_timeout",
    "read_timeout",
    "retry.backoff",
    "retry.max_backoff",
    "retry.max_retry_after",
    "poll.interval",
];

/// The most keys of a table searched for the one serde refused (each try copies
/// the table, so a hostile table of many keys is reported as a whole).
const MAX_KEYS_SEARCHED: usize = 64;

/// The spec, or `None` with every field that cannot be read recorded.
pub(crate) fn deserialize(tree: &Value, problems: &mut Problems) -> Option<RequestSpec> {
    let Some(fields) = tree.as_object() else {
        problems.push("", "a spec is a table of fields (url, method, headers, ...)");
        return None;
    };
    if let Ok(spec) = RequestSpec::deserialize(tree) {
        return Some(spec);
    }
    // Each field on its own, beside a stand-in url, so one bad field hides no other.
    let mut readable = Map::new();
    for (name, value) in fields {
        let mut alone = Map::new();
        if name != "url" {
            alone.insert("url".to_owned(), Value::from("https://stand-in.invalid"));
        }
        alone.insert(name.clone(), value.clone());
        match RequestSpec::deserialize(&Value::Object(alone)) {
            Ok(_) => {
                readable.insert(name.clone(), value.clone());
            }
            Err(error) => report(name, value, &error.to_string(), problems),
        }
    }
    match RequestSpec::deserialize(&Value::Object(readable)) {
        Ok(spec) => Some(spec),
        Err(error) => {
            let message = error.to_string();
            // A url that was refused above is reported already.
            if !(message.contains("missing field `url`") && fields.contains_key("url")) {
                problems.push("", message);
            }
            None
        }
    }
}

/// Records serde's refusal of field `name`, at the innermost field it names.
fn report(name: &str, value: &Value, message: &str, problems: &mut Problems) {
    let quoted: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let expected = quoted.get(1..).unwrap_or_default().iter().copied();
    if message.starts_with("unknown field") {
        let unknown = quoted.first().copied().unwrap_or(name);
        let field =
            if unknown == name { name.to_owned() } else { find_key(value, name, unknown).unwrap_or(name.to_owned()) };
        let nested = unknown != name;
        let suggestion = if nested && top_level_fields().iter().any(|known| known == unknown) {
            // TOML puts every key after a [table] header into that table.
            Some(format!("`{unknown}` is a top-level field: move it above the [{name}] table"))
        } else {
            closest(unknown, expected).map(|known| format!("did you mean `{known}`?"))
        };
        problems.push_with(field, format!("unknown field `{unknown}`"), suggestion);
        return;
    }
    if message.starts_with("unknown variant") {
        let variant = quoted.first().copied().unwrap_or_default();
        let field = find_string(value, name, variant).unwrap_or(name.to_owned());
        let suggestion = closest(variant, expected).map(|known| format!("write \"{known}\""));
        problems.push_with(field, message.to_owned(), suggestion);
        return;
    }
    // Inside a table, the key whose value serde refused is the field.
    let (field, value) = match value.as_object().and_then(|table| refused_key(name, table)) {
        Some(key) => (format!("{name}.{key}"), &value[key]),
        None => (name.to_owned(), value),
    };
    let suggestion = match value {
        Value::Number(seconds) if DURATIONS.contains(&field.as_str()) => Some(format!("write \"{seconds}s\"")),
        _ => None,
    };
    problems.push_with(field, message.to_owned(), suggestion);
}

/// The key of table `name` whose value serde refused: the first whose removal
/// lets the table be read (`None` when no one key does, or the table is large).
fn refused_key<'a>(name: &str, table: &'a Map<String, Value>) -> Option<&'a str> {
    if table.len() > MAX_KEYS_SEARCHED {
        return None;
    }
    let readable_without = |key: &str| {
        let mut rest = table.clone();
        rest.shift_remove(key);
        let mut spec = Map::new();
        spec.insert("url".to_owned(), Value::from("https://stand-in.invalid"));
        spec.insert(name.to_owned(), Value::Object(rest));
        RequestSpec::deserialize(&Value::Object(spec)).is_ok()
    };
    table.keys().find(|key| readable_without(key)).map(String::as_str)
}

/// The names of a spec's top-level fields, as serde's schema lists them.
pub(crate) fn top_level_fields() -> Vec<String> {
    let probe = serde_json::json!({ "url": "https://stand-in.invalid", "\u{0}": 0 });
    let message = RequestSpec::deserialize(&probe).map(drop).err().map(|error| error.to_string()).unwrap_or_default();
    message.split('`').skip(3).step_by(2).map(str::to_owned).collect()
}

/// The path of the first key `key` inside `value` (written at `path`).
fn find_key(value: &Value, path: &str, key: &str) -> Option<String> {
    match value {
        Value::Object(fields) => {
            if fields.contains_key(key) {
                return Some(format!("{path}.{key}"));
            }
            fields.iter().find_map(|(name, inner)| find_key(inner, &format!("{path}.{name}"), key))
        }
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(position, inner)| find_key(inner, &format!("{path}[{position}]"), key))
        }
        _ => None,
    }
}

/// The path of the first string `text` inside `value` (written at `path`).
fn find_string(value: &Value, path: &str, text: &str) -> Option<String> {
    match value {
        Value::String(found) => (found == text).then(|| path.to_owned()),
        Value::Object(fields) => {
            fields.iter().find_map(|(name, inner)| find_string(inner, &format!("{path}.{name}"), text))
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(position, inner)| find_string(inner, &format!("{path}[{position}]"), text)),
        _ => None,
    }
}
