//! Conversion: `toBoolean`, `toInteger`, `toDouble`, `toString`, `toJson`, `parseJson`.

use super::util::{arg, fail};
use super::{Function, FunctionError, Kind};
use crate::value::{Value, from_json, parse_java_double, parse_java_long, write_json};

pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("toBoolean", |args, _| to_boolean(arg(args, 0)))
            .param("x", Kind::Any)
            .summary("Reads a value as a boolean: true/false, 1/0 (text or number); null is false", "boolean")
            .example(r#"toBoolean("1")"#, "true"),
        Function::new("toInteger", |args, _| to_integer(arg(args, 0)).map(Value::Int))
            .param("x", Kind::Any)
            .summary("Reads a value as a whole number (text is parsed, a fraction cut off)", "integer")
            .example(r#"toInteger("42")"#, "42"),
        Function::new("toDouble", |args, _| to_double(arg(args, 0)).map(Value::Float))
            .param("x", Kind::Any)
            .summary("Reads a value as a floating-point number", "number")
            .example(r#"toDouble("1.5")"#, "1.5"),
        Function::new("toString", |args, _| Ok(Value::from(arg(args, 0).to_text())))
            .param("x", Kind::Any)
            .summary("The string form of a value", "text")
            .example("toString(4.50)", r#""4.5""#),
        Function::new("toJson", |args, _| to_json(arg(args, 0)))
            .param("x", Kind::Any)
            .summary("The value written as JSON text", "text")
            .example(r#"toJson(stringSplit("a,b", ","))"#, r#""[\"a\",\"b\"]""#),
        Function::new("parseJson", |args, _| parse_json(arg(args, 0)))
            .param("text", Kind::Text)
            .summary("Parses JSON text into a value (objects, lists, numbers, text)", "any")
            .example(r#"parseJson("{\"a\": [1, 2]}").a[1]"#, "2"),
    ]
}

fn cannot_convert<T>(value: &Value, target: &str) -> Result<T, FunctionError> {
    fail(format!("cannot convert {} to {target}", value.describe()))
}

fn to_boolean(value: &Value) -> Result<Value, FunctionError> {
    let truth = match value {
        Value::Null => false,
        Value::Bool(truth) => *truth,
        Value::Int(0) => false,
        Value::Int(1) => true,
        Value::Str(text) => match text.trim() {
            "" | "0" => false,
            "1" => true,
            word if word.eq_ignore_ascii_case("true") => true,
            word if word.eq_ignore_ascii_case("false") => false,
            _ => return cannot_convert(value, "a boolean (expected true, false, 1 or 0)"),
        },
        _ => return cannot_convert(value, "a boolean"),
    };
    Ok(Value::Bool(truth))
}

/// A number from a value: integers stay whole, everything else is a float.
enum Read {
    Whole(i64),
    Fraction(f64),
}

fn read_number(value: &Value, target: &str) -> Result<Read, FunctionError> {
    match value {
        Value::Null => Ok(Read::Whole(0)),
        Value::Int(int) => Ok(Read::Whole(*int)),
        Value::Float(float) => Ok(Read::Fraction(*float)),
        Value::Decimal(decimal) => {
            Ok(Read::Fraction(rust_decimal::prelude::ToPrimitive::to_f64(decimal).unwrap_or(f64::NAN)))
        }
        Value::Str(text) => {
            let trimmed = text.trim();
            if trimmed.is_empty() {
                Ok(Read::Whole(0))
            } else if let Some(int) = parse_java_long(trimmed) {
                Ok(Read::Whole(int))
            } else if let Some(float) = parse_java_double(trimmed) {
                Ok(Read::Fraction(float))
            } else {
                cannot_convert(value, target)
            }
        }
        _ => cannot_convert(value, target),
    }
}

pub(super) fn to_integer(value: &Value) -> Result<i64, FunctionError> {
    match read_number(value, "an integer")? {
        Read::Whole(int) => Ok(int),
        // Truncate toward zero; the bounds keep the cast from saturating silently.
        Read::Fraction(float) if float.is_finite() && float.abs() < 9.2e18 => Ok(float.trunc() as i64),
        Read::Fraction(_) => cannot_convert(value, "an integer (it is out of range)"),
    }
}

fn to_double(value: &Value) -> Result<f64, FunctionError> {
    Ok(match read_number(value, "a number")? {
        Read::Whole(int) => int as f64,
        Read::Fraction(float) => float,
    })
}

fn to_json(value: &Value) -> Result<Value, FunctionError> {
    let mut bytes = Vec::new();
    write_json(value, &mut bytes)?;
    Ok(Value::from(String::from_utf8(bytes).expect("JSON output is UTF-8")))
}

fn parse_json(value: &Value) -> Result<Value, FunctionError> {
    let text = value.as_str().unwrap_or_default();
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => Ok(from_json(&json)),
        Err(error) => fail(format!("invalid JSON: {error}")),
    }
}
