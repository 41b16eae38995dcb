//! The operators on values, with Jakarta EL's coercions (Apache Tomcat's reading).
//!
//! Each function takes already evaluated operands; short-circuiting is the
//! evaluator's business. Errors are plain [`ValueError`]s naming the values.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};

use super::{Value, ValueError, parse_java_double, parse_java_long};

/// A number in one of the three arithmetic domains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// 64-bit integer.
    Int(i64),
    /// 64-bit float.
    Float(f64),
    /// Decimal with scale.
    Decimal(Decimal),
}

impl From<Number> for Value {
    fn from(number: Number) -> Self {
        match number {
            Number::Int(value) => Value::Int(value),
            Number::Float(value) => Value::Float(value),
            Number::Decimal(value) => Value::Decimal(value),
        }
    }
}

impl Number {
    /// The value as a float (decimals and integers convert, possibly rounding).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(value) => value as f64,
            Number::Float(value) => value,
            Number::Decimal(value) => value.to_f64().unwrap_or(f64::NAN),
        }
    }
}

/// Which domain an arithmetic operation works in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Domain {
    /// Both operands become integers.
    Int,
    /// Both become floats.
    Float,
    /// Both become decimals.
    Decimal,
}

/// A string that EL reads as a float rather than an integer.
fn looks_like_float(text: &str) -> bool {
    text.contains(['.', 'e', 'E'])
}

fn domain_of(value: &Value) -> Domain {
    match value {
        Value::Decimal(_) => Domain::Decimal,
        Value::Float(_) => Domain::Float,
        Value::Str(text) if looks_like_float(text) => Domain::Float,
        _ => Domain::Int,
    }
}

/// The domain of `a op b` for `+ - * %` (decimals win, then floats and float-like strings).
pub fn arithmetic_domain(a: &Value, b: &Value) -> Domain {
    domain_of(a).max(domain_of(b))
}

fn not_a_number(value: &Value) -> ValueError {
    ValueError(format!("cannot convert {} to a number", value.describe()))
}

/// Coerces a value into `domain`: null and `""` are 0, strings are read as Java reads them.
pub fn to_number(value: &Value, domain: Domain) -> Result<Number, ValueError> {
    let zero = match domain {
        Domain::Int => Number::Int(0),
        Domain::Float => Number::Float(0.0),
        Domain::Decimal => Number::Decimal(Decimal::ZERO),
    };
    match value {
        Value::Null => Ok(zero),
        Value::Str(text) if text.is_empty() => Ok(zero),
        Value::Str(text) => parse_number(text, domain).ok_or_else(|| not_a_number(value)),
        Value::Int(int) => Ok(match domain {
            Domain::Int => Number::Int(*int),
            Domain::Float => Number::Float(*int as f64),
            Domain::Decimal => Number::Decimal(Decimal::from(*int)),
        }),
        Value::Float(float) => match domain {
            Domain::Int => Ok(Number::Int(*float as i64)),
            Domain::Float => Ok(Number::Float(*float)),
            Domain::Decimal => Decimal::from_f64(*float)
                .map(Number::Decimal)
                .ok_or_else(|| ValueError(format!("cannot convert {} to a decimal", value.describe()))),
        },
        Value::Decimal(decimal) => Ok(match domain {
            Domain::Int => Number::Int(decimal.trunc().to_i64().unwrap_or(i64::MAX)),
            Domain::Float => Number::Float(decimal.to_f64().unwrap_or(f64::NAN)),
            Domain::Decimal => Number::Decimal(*decimal),
        }),
        Value::Bool(_) | Value::List(_) | Value::Map(_) => Err(not_a_number(value)),
    }
}

fn parse_number(text: &str, domain: Domain) -> Option<Number> {
    match domain {
        Domain::Int => parse_java_long(text).map(Number::Int),
        Domain::Float => parse_java_double(text).map(Number::Float),
        Domain::Decimal => parse_java_double(text)
            .filter(|value| value.is_finite())
            .and_then(|_| Decimal::from_str_exact(text).or_else(|_| Decimal::from_scientific(text)).ok())
            .map(Number::Decimal),
    }
}

/// The four arithmetic operators that keep their domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arithmetic {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `%`
    Rem,
}

impl Arithmetic {
    fn symbol(self) -> &'static str {
        match self {
            Arithmetic::Add => "+",
            Arithmetic::Sub => "-",
            Arithmetic::Mul => "*",
            Arithmetic::Rem => "%",
        }
    }
}

/// `a + b`, `a - b`, `a * b`, `a % b` with EL's coercions and checked integers.
pub fn arithmetic(op: Arithmetic, a: &Value, b: &Value) -> Result<Value, ValueError> {
    if a.is_null() && b.is_null() {
        return Ok(Value::Int(0));
    }
    let mut domain = arithmetic_domain(a, b);
    if op == Arithmetic::Rem && domain == Domain::Decimal {
        // EL computes `%` on decimals in doubles.
        domain = Domain::Float;
    }
    let (x, y) = (to_number(a, domain)?, to_number(b, domain)?);
    let overflow = || {
        ValueError(format!("integer overflow: {} {} {} does not fit in 64 bits", a.to_text(), op.symbol(), b.to_text()))
    };
    Ok(match (x, y) {
        (Number::Int(x), Number::Int(y)) => Value::Int(match op {
            Arithmetic::Add => x.checked_add(y).ok_or_else(overflow)?,
            Arithmetic::Sub => x.checked_sub(y).ok_or_else(overflow)?,
            Arithmetic::Mul => x.checked_mul(y).ok_or_else(overflow)?,
            Arithmetic::Rem if y == 0 => return Err(ValueError(format!("division by zero in {x} % 0"))),
            // `i64::MIN % -1` is 0, as in Java; only the quotient would overflow.
            Arithmetic::Rem => x.wrapping_rem(y),
        }),
        (Number::Decimal(x), Number::Decimal(y)) => Value::Decimal(
            match op {
                Arithmetic::Add => x.checked_add(y),
                Arithmetic::Sub => x.checked_sub(y),
                Arithmetic::Mul => x.checked_mul(y),
                Arithmetic::Rem => x.checked_rem(y),
            }
            .ok_or_else(|| ValueError(format!("decimal overflow in {x} {} {y}", op.symbol())))?,
        ),
        (x, y) => {
            let (x, y) = (x.as_f64(), y.as_f64());
            Value::Float(match op {
                Arithmetic::Add => x + y,
                Arithmetic::Sub => x - y,
                Arithmetic::Mul => x * y,
                Arithmetic::Rem => x % y,
            })
        }
    })
}

/// `a / b`: a float, or a decimal when either is one (rounded half up to the scale of `a`).
pub fn divide(a: &Value, b: &Value) -> Result<Value, ValueError> {
    if a.is_null() && b.is_null() {
        return Ok(Value::Int(0));
    }
    if arithmetic_domain(a, b) == Domain::Decimal {
        let (Number::Decimal(x), Number::Decimal(y)) = (to_number(a, Domain::Decimal)?, to_number(b, Domain::Decimal)?)
        else {
            unreachable!("to_number gives the domain asked for")
        };
        if y.is_zero() {
            return Err(ValueError(format!("division by zero in {x} / {y}")));
        }
        let quotient = x.checked_div(y).ok_or_else(|| ValueError(format!("decimal overflow in {x} / {y}")))?;
        return Ok(Value::Decimal(
            quotient.round_dp_with_strategy(x.scale(), rust_decimal::RoundingStrategy::MidpointAwayFromZero),
        ));
    }
    let x = to_number(a, Domain::Float)?.as_f64();
    let y = to_number(b, Domain::Float)?.as_f64();
    Ok(Value::Float(x / y))
}

/// `-a`: null is 0; a string is read as a float when it looks like one, else as an integer.
pub fn negate(a: &Value) -> Result<Value, ValueError> {
    let number = match a {
        Value::Null => return Ok(Value::Int(0)),
        // EL reads the string directly here, so unlike `+`, `-""` is an error.
        Value::Str(text) => parse_number(text, domain_of(a)).ok_or_else(|| not_a_number(a))?,
        other => to_number(other, domain_of(other))?,
    };
    Ok(match number {
        Number::Int(value) => Value::Int(
            value
                .checked_neg()
                .ok_or_else(|| ValueError(format!("integer overflow: -({value}) does not fit in 64 bits")))?,
        ),
        Number::Float(value) => Value::Float(-value),
        Number::Decimal(value) => Value::Decimal(-value),
    })
}

/// Coerces to boolean for `&&`, `||`, `!` and `?:`: null and `""` are false, a string is
/// true exactly when it is `true` in any letter case, numbers and collections are errors.
pub fn to_boolean(value: &Value) -> Result<bool, ValueError> {
    match value {
        Value::Null => Ok(false),
        Value::Bool(value) => Ok(*value),
        Value::Str(text) => Ok(text.eq_ignore_ascii_case("true")),
        other => Err(ValueError(format!("cannot convert {} to a boolean", other.describe()))),
    }
}

/// `empty a`: null, `""`, an empty list or map.
pub fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Str(text) => text.is_empty(),
        Value::List(items) => items.is_empty(),
        Value::Map(entries) => entries.is_empty(),
        _ => false,
    }
}

/// Java's `Double.compare`: a total order with `-0.0 < 0.0` and NaN above everything.
fn java_compare_doubles(x: f64, y: f64) -> Ordering {
    match (x.is_nan(), y.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => x.total_cmp(&y),
    }
}

/// Java's `String.compareTo`: by UTF-16 code units.
fn java_compare_strings(x: &str, y: &str) -> Ordering {
    x.encode_utf16().cmp(y.encode_utf16())
}

fn is_numeric(value: &Value) -> bool {
    matches!(value, Value::Int(_) | Value::Float(_) | Value::Decimal(_))
}

/// Orders two non-null values as `<` and friends do.
pub fn compare(a: &Value, b: &Value) -> Result<Ordering, ValueError> {
    let numeric_domain = match (a, b) {
        (Value::Decimal(_), _) | (_, Value::Decimal(_)) => Some(Domain::Decimal),
        (Value::Float(_), _) | (_, Value::Float(_)) => Some(Domain::Float),
        (Value::Int(_), _) | (_, Value::Int(_)) => Some(Domain::Int),
        _ => None,
    };
    if let Some(domain) = numeric_domain {
        return Ok(match (to_number(a, domain)?, to_number(b, domain)?) {
            (Number::Int(x), Number::Int(y)) => x.cmp(&y),
            (Number::Decimal(x), Number::Decimal(y)) => x.cmp(&y),
            (x, y) => java_compare_doubles(x.as_f64(), y.as_f64()),
        });
    }
    match (a, b) {
        (Value::Str(_), _) | (_, Value::Str(_)) => Ok(java_compare_strings(&a.text(), &b.text())),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        _ => Err(ValueError(format!("cannot compare {} with {}", a.describe(), b.describe()))),
    }
}

/// Java's natural order, as `sorted()`, `min()` and `max()` use it: values of one
/// type compare (text by UTF-16 units, as Java does); numbers compare as numbers
/// whatever their types (Java would refuse a `Long` against a `Double`, which JSON
/// numbers mix freely); anything else is an error.
pub fn natural_order(a: &Value, b: &Value) -> Result<Ordering, ValueError> {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => Ok(java_compare_strings(x, y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        _ if is_numeric(a) && is_numeric(b) => compare(a, b),
        _ => Err(ValueError(format!("cannot order {} and {}: they are not of one type", a.describe(), b.describe()))),
    }
}

/// The relational operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// `<`
    Less,
    /// `>`
    Greater,
    /// `<=`
    LessOrEqual,
    /// `>=`
    GreaterOrEqual,
}

/// `a < b` and friends: null against anything is false, except that `null <= null`
/// and `null >= null` are true.
pub fn relate(relation: Relation, a: &Value, b: &Value) -> Result<bool, ValueError> {
    let inclusive = matches!(relation, Relation::LessOrEqual | Relation::GreaterOrEqual);
    match (a, b) {
        (Value::Null, Value::Null) => return Ok(inclusive),
        (Value::Null, _) | (_, Value::Null) => return Ok(false),
        _ => {}
    }
    // EL asks `equals` before ordering; only for booleans can that answer differ from
    // the ordering (`true <= "TRUE"` is equal as booleans, greater as text).
    let is_bool = |value: &Value| matches!(value, Value::Bool(_));
    if (is_bool(a) || is_bool(b)) && equals(a, b)? {
        return Ok(inclusive);
    }
    let ordering = compare(a, b)?;
    Ok(match relation {
        Relation::Less => ordering == Ordering::Less,
        Relation::Greater => ordering == Ordering::Greater,
        Relation::LessOrEqual => ordering != Ordering::Greater,
        Relation::GreaterOrEqual => ordering != Ordering::Less,
    })
}

/// `a == b`: null equals only null; then numbers (decimal, float, integer), then
/// booleans, then string forms. A string that cannot take the needed type is an error.
pub fn equals(a: &Value, b: &Value) -> Result<bool, ValueError> {
    match (a, b) {
        (Value::Null, Value::Null) => return Ok(true),
        (Value::Null, _) | (_, Value::Null) => return Ok(false),
        _ => {}
    }
    if is_numeric(a) || is_numeric(b) {
        return Ok(compare(a, b)? == Ordering::Equal);
    }
    if matches!(a, Value::Bool(_)) || matches!(b, Value::Bool(_)) {
        return Ok(to_boolean_for_equality(a)? == to_boolean_for_equality(b)?);
    }
    Ok(a.text() == b.text())
}

fn to_boolean_for_equality(value: &Value) -> Result<bool, ValueError> {
    to_boolean(value).map_err(|_| ValueError(format!("cannot compare {} with a boolean", value.describe())))
}

/// `target.key` / `target[key]`: a map entry or a list element; null when missing.
pub fn member(target: &Value, key: &Value) -> Result<Value, ValueError> {
    match target {
        Value::Null => Ok(Value::Null),
        Value::Map(entries) => Ok(entries.get(&*key.text()).cloned().unwrap_or_default()),
        Value::List(items) => {
            let Number::Int(position) = to_number(key, Domain::Int)
                .map_err(|_| ValueError(format!("a list index must be a number, not {}", key.describe())))?
            else {
                unreachable!("to_number gives the domain asked for")
            };
            Ok(usize::try_from(position).ok().and_then(|at| items.get(at)).cloned().unwrap_or_default())
        }
        other => Err(ValueError(format!(
            "cannot read {} of {}: only lists and maps have members",
            key.describe(),
            other.describe()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    #[test]
    fn strings_follow_their_shape() {
        assert_eq!(arithmetic(Arithmetic::Add, &s("10"), &s("9")).unwrap(), Value::Int(19));
        assert_eq!(arithmetic(Arithmetic::Mul, &s("2.50"), &Value::Int(2)).unwrap(), Value::Float(5.0));
        assert!(arithmetic(Arithmetic::Add, &s(" 5"), &Value::Int(1)).is_err());
        assert!(arithmetic(Arithmetic::Add, &Value::Bool(true), &Value::Int(1)).is_err());
    }

    #[test]
    fn integer_overflow_is_an_error() {
        let error = arithmetic(Arithmetic::Add, &Value::Int(i64::MAX), &Value::Int(1)).unwrap_err();
        assert!(error.0.contains("overflow"), "{error}");
        assert!(negate(&Value::Int(i64::MIN)).is_err());
        assert_eq!(arithmetic(Arithmetic::Rem, &Value::Int(i64::MIN), &Value::Int(-1)).unwrap(), Value::Int(0));
    }

    #[test]
    fn decimals_keep_scale() {
        let two = Value::Decimal(Decimal::new(200, 2));
        assert_eq!(arithmetic(Arithmetic::Add, &two, &Value::Int(1)).unwrap().to_text(), "3.00");
        assert_eq!(divide(&two, &Value::Int(3)).unwrap().to_text(), "0.67");
        assert!(equals(&two, &Value::Int(2)).unwrap());
    }

    #[test]
    fn comparisons_pick_their_domain() {
        assert!(relate(Relation::Less, &s("18"), &s("9")).unwrap());
        assert!(!relate(Relation::Less, &s("18"), &Value::Int(9)).unwrap());
        assert!(relate(Relation::Less, &s("\u{FFFF}"), &s("\u{10000}")).is_ok());
        // Java compares UTF-16 units: a surrogate pair sorts below U+FFFF.
        assert!(relate(Relation::Greater, &s("\u{FFFF}"), &s("\u{10000}")).unwrap());
    }

    #[test]
    fn members() {
        let list = Value::list(vec![s("a"), s("b")]);
        assert_eq!(member(&list, &Value::Int(1)).unwrap(), s("b"));
        assert_eq!(member(&list, &Value::Int(-1)).unwrap(), Value::Null);
        assert_eq!(member(&list, &s("0")).unwrap(), s("a"));
        assert!(member(&list, &s("x")).is_err());
        assert!(member(&s("text"), &s("length")).is_err());
        assert_eq!(member(&Value::Null, &s("x")).unwrap(), Value::Null);
    }
}
