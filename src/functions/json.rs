//! JSON access: `jsonGet`, a field of JSON text (such as `api_client_response_body`)
//! or of a parsed value, by the paths response mappings read ([`FieldPath`]); and
//! `jsonPath`, the nodes an RFC 9535 JSONPath query selects.

use serde_json_path::JsonPath;

use super::util::{arg, fail, text};
use super::{CallContext, Function, FunctionError, Kind};
use crate::value::{FieldPath, Value, from_json};

pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("jsonGet", |args, _| json_get(arg(args, 0), text(args, 1)))
            .param("json", Kind::Any)
            .param("path", Kind::Text)
            .validate(|constants| match constants.get(1).copied().flatten() {
                Some(path) => FieldPath::parse(&path.to_text()).map(drop).map_err(|message| (1, message)),
                None => Ok(()),
            })
            .summary("the field at a path (a.b, items.0.name, items[0].name, /a/b) of JSON text or a value; null when missing", "any")
            .example(r#"jsonGet('{"items": [{"price": 12.5}]}', 'items[0].price')"#, "12.5"),
        Function::new("jsonPath", |args, cx| json_path(arg(args, 0), text(args, 1), cx))
            .param("json", Kind::Any)
            .param("query", Kind::Text)
            .validate(|constants| match constants.get(1).copied().flatten() {
                Some(query) => parse_query(&query.to_text()).map(drop).map_err(|message| (1, message)),
                None => Ok(()),
            })
            .summary("the nodes a JSONPath query (RFC 9535) selects in JSON text or a value, as a list (empty when none)", "list")
            .example(r#"jsonPath('{"items": [{"id": 1}, {"id": 2}]}', '$.items[*].id')"#, "[1,2]"),
    ]
}

/// The longest JSONPath query parsed, in bytes.
pub(crate) const MAX_QUERY_BYTES: usize = 4096;

/// The deepest nesting of brackets and parentheses in a JSONPath query. The
/// parser backtracks through nested filters, so its time grows exponentially with
/// their depth (20 unclosed `[?` took seconds): a query may come from a variable,
/// and is refused past this depth before it is parsed.
pub(crate) const MAX_QUERY_NESTING: usize = 8;

/// Parses an RFC 9535 query, saying what is wrong with one that is not.
pub(crate) fn parse_query(query: &str) -> Result<JsonPath, String> {
    check_query_shape(query)?;
    // The parser is a crate's: should another input make it panic, that is an
    // invalid query here, not a failed evaluation (builds that abort on a panic
    // rely on the checks above).
    let parsed = std::panic::catch_unwind(|| JsonPath::parse(query))
        .map_err(|_| format!("invalid JSONPath query {query:?}: the parser could not read it"))?;
    parsed.map_err(|error| format!("invalid JSONPath query {query:?}: {error}"))
}

/// Refuses a query too long or nested too deep to parse in bounded time
/// (brackets inside the query's string literals do not count).
fn check_query_shape(query: &str) -> Result<(), String> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(format!("the JSONPath query is {} bytes, more than the limit of {MAX_QUERY_BYTES}", query.len()));
    }
    let (mut depth, mut deepest) = (0usize, 0usize);
    let mut quote = None;
    let mut chars = query.chars();
    while let Some(c) = chars.next() {
        if let Some(open) = quote {
            if c == '\\' && chars.next() == Some('u') {
                unicode_escape(&mut chars, query)?;
            } else if c == open {
                quote = None;
            }
            continue;
        }
        match c {
            '\'' | '"' => quote = Some(c),
            '[' | '(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            ']' | ')' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    if deepest > MAX_QUERY_NESTING {
        return Err(format!(
            "the JSONPath query nests brackets {deepest} deep, more than the limit of {MAX_QUERY_NESTING}"
        ));
    }
    Ok(())
}

/// A string literal's `\uXXXX` (after the `\u`), and its low half when it is the
/// high half of a surrogate pair. The parser panics on one cut short (it reports
/// it as incomplete input, which it does not expect), so it is refused here.
fn unicode_escape(chars: &mut std::str::Chars<'_>, query: &str) -> Result<(), String> {
    let cut_short = || {
        format!(
            "invalid JSONPath query {query:?}: a \\u escape needs four hex digits (and a high surrogate its low half)"
        )
    };
    let hex4 = |chars: &mut std::str::Chars<'_>| -> Result<u32, String> {
        let digits: String = chars.take(4).collect();
        if digits.len() == 4 && digits.chars().all(|digit| digit.is_ascii_hexdigit()) {
            u32::from_str_radix(&digits, 16).map_err(|_| cut_short())
        } else {
            Err(cut_short())
        }
    };
    let high = hex4(chars)?;
    if (0xD800..0xDC00).contains(&high) {
        if chars.next() != Some('\\') || chars.next() != Some('u') {
            return Err(cut_short());
        }
        hex4(chars)?;
    }
    Ok(())
}

/// The nodelist of `query` in `json`, always a list: null and blank text select nothing.
fn json_path(json: &Value, query: &str, cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let path = parse_query(query).map_err(FunctionError::new)?;
    let document = match json {
        Value::Null => return Ok(Value::list(Vec::new())),
        Value::Str(text) if text.trim().is_empty() => return Ok(Value::list(Vec::new())),
        Value::Str(text) => serde_json::from_str::<serde_json::Value>(text)
            .map_err(|error| FunctionError::new(format!("jsonPath: {} is not JSON: {error}", json.describe())))?,
        other => other.to_json().map_err(|error| FunctionError::new(format!("jsonPath: {error}")))?,
    };
    let nodes = path.query(&document).all();
    let max = cx.limits().max_list_len;
    if nodes.len() > max {
        return Err(FunctionError::limit(format!(
            "jsonPath: the query selects {} nodes, more than the list limit of {max}",
            nodes.len()
        )));
    }
    cx.charge_steps(nodes.len() as u64)?;
    Ok(Value::list(nodes.into_iter().map(from_json).collect()))
}

/// Text is parsed as JSON (null and `""` have no fields); any other value is read as
/// it is. The field keeps its JSON type; a missing one is null.
fn json_get(json: &Value, path: &str) -> Result<Value, FunctionError> {
    let path = FieldPath::parse(path)?;
    match json {
        Value::Null => Ok(Value::Null),
        Value::Str(text) if text.trim().is_empty() => Ok(Value::Null),
        Value::Str(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(parsed) => Ok(path.read(&parsed).map(from_json).unwrap_or_default()),
            Err(error) => fail(format!("jsonGet: {} is not JSON: {error}", json.describe())),
        },
        other => Ok(path.read_value(other).cloned().unwrap_or_default()),
    }
}
