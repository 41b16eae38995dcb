//! JSON access: `jsonGet`, a field of JSON text (such as `api_client_response_body`)
//! or of a parsed value, by the paths response mappings read ([`FieldPath`]).

use super::util::{arg, fail, text};
use super::{Function, FunctionError, Kind};
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
    ]
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
