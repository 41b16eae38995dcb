//! Values to and from JSON.

use std::io::Write;

use super::{Value, ValueError, format_java_double};

/// Reads a JSON value: objects become maps (in document order), arrays lists, whole
/// numbers that fit become integers and other numbers floats.
pub fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(value) => Value::Bool(*value),
        serde_json::Value::Number(number) => match number.as_i64() {
            Some(int) => Value::Int(int),
            // Beyond f64's range serde gives no f64; Java reads such text as ±Infinity.
            None => Value::Float(
                number.as_f64().or_else(|| super::parse_java_double(&number.to_string())).unwrap_or(f64::NAN),
            ),
        },
        serde_json::Value::String(text) => Value::from(text.as_str()),
        serde_json::Value::Array(items) => Value::list(items.iter().map(from_json).collect()),
        serde_json::Value::Object(entries) => {
            Value::map(entries.iter().map(|(key, value)| (key.clone(), from_json(value))).collect())
        }
    }
}

fn non_finite(value: f64) -> ValueError {
    ValueError(format!("{} cannot be written as JSON: JSON has no such number", format_java_double(value)))
}

/// Writes a value as compact JSON; a float that is not finite is an error.
pub fn write_json(value: &Value, out: &mut Vec<u8>) -> Result<(), ValueError> {
    write(value, out, false)
}

/// Writes a value as compact JSON, with non-finite floats as Java writes them
/// (`NaN`, `Infinity`): the string form of lists and maps, which must not fail.
pub(crate) fn write_json_lenient(value: &Value, out: &mut Vec<u8>) {
    write(value, out, true).expect("lenient JSON writing has no error case");
}

fn write(value: &Value, out: &mut Vec<u8>, lenient: bool) -> Result<(), ValueError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(value) => out.extend_from_slice(if *value { b"true" } else { b"false" }),
        Value::Int(value) => {
            let _ = write!(out, "{value}");
        }
        Value::Float(value) if !value.is_finite() && !lenient => return Err(non_finite(*value)),
        Value::Float(value) => out.extend_from_slice(format_java_double(*value).as_bytes()),
        Value::Decimal(value) => {
            let _ = write!(out, "{value}");
        }
        Value::Str(text) => write_json_string(text, out),
        Value::List(items) => {
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write(item, out, lenient)?;
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            out.push(b'{');
            for (position, (key, item)) in entries.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_json_string(key, out);
                out.push(b':');
                write(item, out, lenient)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// Writes `text` as a quoted, escaped JSON string.
pub fn write_json_string(text: &str, out: &mut Vec<u8>) {
    out.reserve(text.len() + 2);
    out.push(b'"');
    write_json_string_content(text, out);
    out.push(b'"');
}

/// Writes `text` escaped for the inside of a JSON string, without the quotes: `"`
/// and `\` and the control characters are escaped as serde_json escapes them, all
/// else is copied, in runs.
pub fn write_json_string_content(text: &str, out: &mut Vec<u8>) {
    /// The bytes JSON escapes inside a string: the control characters, `"` and `\`.
    const NEEDS_ESCAPE: [bool; 256] = {
        let mut table = [false; 256];
        let mut byte = 0;
        while byte < 0x20 {
            table[byte] = true;
            byte += 1;
        }
        table[b'"' as usize] = true;
        table[b'\\' as usize] = true;
        table
    };
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    let mut run = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        // One table load per byte: most text has nothing to escape.
        if !NEEDS_ESCAPE[usize::from(byte)] {
            continue;
        }
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[b'\\', b'u', b'0', b'0', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0xf)]],
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..at]);
        out.extend_from_slice(escape);
        run = at + 1;
    }
    out.extend_from_slice(&bytes[run..]);
}

impl Value {
    /// The value as a `serde_json::Value`; a float that is not finite is an error.
    /// Floats and decimals keep their text (`3.0`, `2.00`).
    pub fn to_json(&self) -> Result<serde_json::Value, ValueError> {
        Ok(match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(value) => serde_json::Value::Bool(*value),
            Value::Int(value) => serde_json::Value::from(*value),
            Value::Float(value) if !value.is_finite() => return Err(non_finite(*value)),
            Value::Float(value) => serde_json::Value::Number(number_from_text(&format_java_double(*value))),
            Value::Decimal(value) => serde_json::Value::Number(number_from_text(&value.to_string())),
            Value::Str(text) => serde_json::Value::String(text.to_string()),
            Value::List(items) => serde_json::Value::Array(items.iter().map(Value::to_json).collect::<Result<_, _>>()?),
            Value::Map(entries) => serde_json::Value::Object(
                entries.iter().map(|(key, item)| Ok((key.clone(), item.to_json()?))).collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// With serde_json's `arbitrary_precision`, a number keeps the text it was read from.
fn number_from_text(text: &str) -> serde_json::Number {
    text.parse().expect("Java float text and decimal text are JSON numbers")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Decimal;

    #[test]
    fn round_trip_keeps_order_and_types() {
        let json: serde_json::Value = serde_json::from_str(r#"{"b":[1,2.5,"x"],"a":null,"c":true}"#).unwrap();
        let value = from_json(&json);
        assert_eq!(value.to_text(), r#"{"b":[1,2.5,"x"],"a":null,"c":true}"#);
        assert_eq!(value.to_json().unwrap(), json);
    }

    #[test]
    fn decimals_and_floats_keep_their_text() {
        let json = Value::list(vec![Value::Decimal(Decimal::new(200, 2)), Value::Float(3.0)]).to_json().unwrap();
        assert_eq!(json.to_string(), "[2.00,3.0]");
    }

    #[test]
    fn non_finite_floats_are_refused() {
        assert!(Value::Float(f64::NAN).to_json().is_err());
        assert!(write_json(&Value::Float(f64::INFINITY), &mut Vec::new()).is_err());
        assert_eq!(Value::list(vec![Value::Float(f64::INFINITY)]).to_text(), "[Infinity]");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let all: String = (0u8..0x80).map(char::from).chain("é😀\u{2028}".chars()).collect();
        let mut ours = Vec::new();
        write_json_string(&all, &mut ours);
        assert_eq!(String::from_utf8(ours).unwrap(), serde_json::to_string(&all).unwrap());
    }

    #[test]
    fn string_content_is_escaped() {
        let mut out = Vec::new();
        write_json_string_content("a\"b\\\n\u{1}", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), r#"a\"b\\\n\u0001"#);
    }
}
