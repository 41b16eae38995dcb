//! Values: the typed [`Value`], EL's coercion rules, the string form and JSON.
//!
//! Chat variables arrive as strings; the operators in [`ops`] coerce them the way
//! Jakarta EL does, so that `age >= 18` works when `age` is `"18"`. This module knows
//! nothing of syntax or of where a value came from: its errors are plain messages
//! that the evaluator places at a span.

mod json;
mod number;
pub mod ops;
mod path;

use std::fmt::{self, Display, Formatter, Write};
use std::sync::Arc;

use indexmap::IndexMap;
pub use rust_decimal::Decimal;

pub use json::{from_json, write_json, write_json_string, write_json_string_content};
pub use number::{format_java_double, parse_java_double, parse_java_long};
pub use path::FieldPath;

/// What percent-encoding escapes in a URL component: everything but RFC 3986's
/// unreserved characters (so a space is `%20`). The url context, `urlEncode` and the
/// redactor (which must recognise a secret so encoded) share it.
pub(crate) const URL_COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A map value: string keys in insertion order.
pub type Map = IndexMap<String, Value>;

/// A value of the language.
///
/// Cloning is cheap: strings, lists and maps are shared behind [`Arc`], so handing a
/// stored variable to an evaluation copies a pointer, not the text.
#[derive(Debug, Clone, Default)]
pub enum Value {
    /// No value: an unknown variable, a missing key.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A 64-bit integer; arithmetic on it is checked.
    Int(i64),
    /// A 64-bit float, printed as Java prints a double.
    Float(f64),
    /// A decimal with a fixed scale, as `round(x, n)` makes (`2.00`).
    Decimal(Decimal),
    /// Text.
    Str(Arc<str>),
    /// A list (multiple-choice answers, `stringSplit`, JSON arrays).
    List(Arc<Vec<Value>>),
    /// A map (JSON objects).
    Map(Arc<Map>),
}

/// A value that could not be used as an operation needed: the message says what and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl Value {
    /// A string value.
    pub fn string(text: impl Into<Arc<str>>) -> Value {
        Value::Str(text.into())
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    /// A map value.
    pub fn map(entries: Map) -> Value {
        Value::Map(Arc::new(entries))
    }

    /// The name of this value's type, for messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Decimal(_) => "decimal",
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Map(_) => "map",
        }
    }

    /// True for null.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a string value, without conversion.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(text) => Some(text),
            _ => None,
        }
    }

    /// The integer of an integer value, without conversion (`"3"` and `3.0` give `None`;
    /// EL's coercions are `toInteger`'s job).
    ///
    /// ```
    /// use courier::{Context, Engine, Value, Variables};
    ///
    /// let total = Engine::new().compile_expression("toInteger(n) * 2").unwrap();
    /// let value = total.evaluate(&Variables::from_strings([("n", "21")]), &Context::default()).unwrap();
    /// assert_eq!(value.as_i64(), Some(42));
    /// assert_eq!(Value::from("42").as_i64(), None);
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(number) => Some(*number),
            _ => None,
        }
    }

    /// The number of a numeric value (integer, float or decimal) as an `f64`,
    /// without converting text.
    ///
    /// ```
    /// use courier::Value;
    ///
    /// assert_eq!(Value::Int(2).as_f64(), Some(2.0));
    /// assert_eq!(Value::Float(1.5).as_f64(), Some(1.5));
    /// assert_eq!(Value::from("1.5").as_f64(), None);
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        use rust_decimal::prelude::ToPrimitive;
        match self {
            Value::Int(number) => Some(*number as f64),
            Value::Float(number) => Some(*number),
            Value::Decimal(number) => number.to_f64(),
            _ => None,
        }
    }

    /// The boolean of a boolean value, without conversion.
    ///
    /// ```
    /// use courier::{Context, Engine, Variables};
    ///
    /// let adult = Engine::new().compile_expression("age >= 18").unwrap();
    /// let value = adult.evaluate(&Variables::from_strings([("age", "20")]), &Context::default()).unwrap();
    /// assert_eq!(value.as_bool(), Some(true));
    /// ```
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(flag) => Some(*flag),
            _ => None,
        }
    }

    /// The items of a list value.
    ///
    /// ```
    /// use courier::{Context, Engine, Value, Variables};
    ///
    /// let parts = Engine::new().compile_expression("stringSplit(\"a,b\", \",\")").unwrap();
    /// let value = parts.evaluate(&Variables::new(), &Context::default()).unwrap();
    /// let texts: Vec<&str> = value.as_list().unwrap().iter().filter_map(Value::as_str).collect();
    /// assert_eq!(texts, ["a", "b"]);
    /// ```
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of a map value, in their order.
    ///
    /// ```
    /// use courier::{Context, Engine, Value, Variables};
    ///
    /// let order = Engine::new().compile_expression("parseJson(body)").unwrap();
    /// let variables = Variables::from_strings([("body", r#"{"id": 7, "paid": true}"#)]);
    /// let value = order.evaluate(&variables, &Context::default()).unwrap();
    /// let map = value.as_map().unwrap();
    /// assert_eq!(map.get("id").and_then(Value::as_i64), Some(7));
    /// assert_eq!(map.get("paid").and_then(Value::as_bool), Some(true));
    /// ```
    pub fn as_map(&self) -> Option<&Map> {
        match self {
            Value::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The string form (section 3 of the language): what text rendering prints.
    pub fn to_text(&self) -> String {
        match self {
            Value::Str(text) => text.to_string(),
            other => other.to_string(),
        }
    }

    /// The string form, borrowed when the value is text.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Value::Str(text) => std::borrow::Cow::Borrowed(text),
            other => std::borrow::Cow::Owned(other.to_string()),
        }
    }

    /// Appends the string form to `out`, without an intermediate string for text.
    pub fn write_text(&self, out: &mut String) {
        match self {
            Value::Str(text) => out.push_str(text),
            other => {
                let _ = write!(out, "{other}");
            }
        }
    }

    /// The value as it reads in messages: strings quoted, long ones cut short.
    pub fn describe(&self) -> String {
        const LONGEST: usize = 60;
        match self {
            Value::Str(text) => {
                let mut shown: String = text.chars().take(LONGEST).collect();
                if shown.len() < text.len() {
                    shown.push('…');
                }
                format!("{shown:?}")
            }
            Value::List(_) | Value::Map(_) => self.type_name().to_owned(),
            other => format!("{} {other}", other.type_name()),
        }
    }
}

/// The string form: null is empty, numbers as Java prints them, lists and maps as
/// compact JSON.
impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(value) => write!(f, "{value}"),
            Value::Int(value) => write!(f, "{value}"),
            Value::Float(value) => f.write_str(&format_java_double(*value)),
            Value::Decimal(value) => write!(f, "{value}"),
            Value::Str(text) => f.write_str(text),
            Value::List(_) | Value::Map(_) => {
                let mut bytes = Vec::new();
                json::write_json_lenient(self, &mut bytes);
                f.write_str(&String::from_utf8_lossy(&bytes))
            }
        }
    }
}

/// Structural equality for tests and hosts; the language's `==` is [`ops::equals`].
impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            (Value::Decimal(a), Value::Decimal(b)) => a == b && a.scale() == b.scale(),
            (Value::Str(a), Value::Str(b)) => a == b,
            (Value::List(a), Value::List(b)) => a == b,
            (Value::Map(a), Value::Map(b)) => a == b,
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::Str(text.into())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::Str(text.into())
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Self {
        Value::Float(value)
    }
}

impl From<Vec<Value>> for Value {
    fn from(items: Vec<Value>) -> Self {
        Value::list(items)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_stays_small() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
    }

    #[test]
    fn string_forms() {
        assert_eq!(Value::Null.to_text(), "");
        assert_eq!(Value::Float(3.0).to_text(), "3.0");
        assert_eq!(Value::Float(1e10).to_text(), "1.0E10");
        assert_eq!(Value::Decimal(Decimal::new(200, 2)).to_text(), "2.00");
        let list = Value::list(vec![Value::from("a\"b"), Value::Int(1), Value::Null, Value::Float(0.5)]);
        assert_eq!(list.to_text(), r#"["a\"b",1,null,0.5]"#);
    }

    #[test]
    fn descriptions_are_short() {
        assert_eq!(Value::from("abc").describe(), "\"abc\"");
        assert_eq!(Value::Bool(true).describe(), "boolean true");
        assert!(Value::from("x".repeat(1000)).describe().len() < 80);
    }
}
