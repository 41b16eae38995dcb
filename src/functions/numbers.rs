//! Numbers: `increment`, `max`, `min`, `abs`, `floor`, `ceil`, `round`, `randomInt`.
//!
//! Arguments arrive coerced as arithmetic reads them ([`Kind::Number`]: null and `""`
//! are 0, `"2.5"` is a float, `"3"` an integer). Integer results are checked: an
//! overflow is an error, never a wrap.

use rand::Rng;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use super::util::{arg, coerce, fail, given, integer};
use super::{CallContext, Function, FunctionError, Kind};
use crate::value::Value;
use crate::value::ops::{self, Arithmetic, Number, arithmetic_domain, to_number};

pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("increment", increment)
            .param("n", Kind::Number)
            .optional("by", Kind::Any)
            .summary("A number plus one, or plus by", "number")
            .example(r#"increment("41")"#, "42"),
        Function::new("max", |args, _| extreme(args, true))
            .param("a", Kind::Number)
            .param("b", Kind::Number)
            .summary("The larger of two numbers", "number")
            .example(r#"max(3, "7")"#, "7"),
        Function::new("min", |args, _| extreme(args, false))
            .param("a", Kind::Number)
            .param("b", Kind::Number)
            .summary("The smaller of two numbers", "number")
            .example("min(3, 7.5)", "3.0"),
        Function::new("abs", |args, _| abs(arg(args, 0)))
            .param("x", Kind::Number)
            .summary("The absolute value of a number", "number")
            .example("abs(-2.5)", "2.5"),
        Function::new("floor", |args, _| whole("floor", arg(args, 0), RoundingStrategy::ToNegativeInfinity))
            .param("x", Kind::Number)
            .summary("The largest whole number not above a number", "integer")
            .example("floor(2.7)", "2"),
        Function::new("ceil", |args, _| whole("ceil", arg(args, 0), RoundingStrategy::ToPositiveInfinity))
            .param("x", Kind::Number)
            .summary("The smallest whole number not below a number", "integer")
            .example("ceil(2.1)", "3"),
        Function::new("round", round)
            .param("x", Kind::Number)
            .optional("digits", Kind::Any)
            .summary("Rounds half away from zero, to a whole number or to digits after the point", "number")
            .example("round(2.345, 2)", "2.35"),
        Function::new("randomInt", random_int)
            .param("lo", Kind::Integer)
            .param("hi", Kind::Integer)
            .reads_context()
            .summary(
                "A random whole number from lo to hi, both included (the context's seed makes it repeatable)",
                "integer",
            )
            .example("randomInt(5, 5)", "5"),
    ]
}

/// `n + by`; `by` left out, null or `""` is 1.
fn increment(args: &[Value], _: &CallContext<'_>) -> Result<Value, FunctionError> {
    let by = match given(args, 1) {
        None => Value::Int(1),
        Some(by) => coerce(by, Kind::Number, 1, "increment")?,
    };
    Ok(ops::arithmetic(Arithmetic::Add, arg(args, 0), &by)?)
}

/// The larger (`greater`) or smaller of two numbers, in their common domain. As in
/// Java, NaN wins and `-0.0` is below `0.0`; of two equal decimals the first is kept.
fn extreme(args: &[Value], greater: bool) -> Result<Value, FunctionError> {
    let (a, b) = (arg(args, 0), arg(args, 1));
    let domain = arithmetic_domain(a, b);
    Ok(match (to_number(a, domain)?, to_number(b, domain)?) {
        (Number::Int(x), Number::Int(y)) => Value::Int(if greater { x.max(y) } else { x.min(y) }),
        (Number::Decimal(x), Number::Decimal(y)) => {
            Value::Decimal(if (greater && y > x) || (!greater && y < x) { y } else { x })
        }
        (x, y) => {
            let (x, y) = (x.as_f64(), y.as_f64());
            // `total_cmp` puts -0.0 below 0.0, as Java's `Math.max` and `Math.min` do.
            let wanted = if greater { std::cmp::Ordering::Greater } else { std::cmp::Ordering::Less };
            Value::Float(if x.is_nan() || y.is_nan() {
                f64::NAN
            } else if y.total_cmp(&x) == wanted {
                y
            } else {
                x
            })
        }
    })
}

fn abs(x: &Value) -> Result<Value, FunctionError> {
    Ok(match x {
        Value::Int(int) => match int.checked_abs() {
            Some(abs) => Value::Int(abs),
            None => return fail(format!("abs({int}) does not fit in a 64-bit integer")),
        },
        Value::Float(float) => Value::Float(float.abs()),
        Value::Decimal(decimal) => Value::Decimal(decimal.abs()),
        other => other.clone(),
    })
}

/// A float as an integer when it is whole and within the 64-bit range.
fn float_to_int(float: f64) -> Option<i64> {
    // -2^63 is exact as a float; every float from it up to (not including) 2^63 fits.
    let low = i64::MIN as f64;
    (float.is_finite() && (low..-low).contains(&float)).then_some(float as i64)
}

/// `floor`, `ceil` and one-argument `round`: an integer by `strategy`.
fn whole(name: &str, x: &Value, strategy: RoundingStrategy) -> Result<Value, FunctionError> {
    let int = match x {
        Value::Int(int) => Some(*int),
        Value::Float(float) => float_to_int(match strategy {
            RoundingStrategy::ToNegativeInfinity => float.floor(),
            RoundingStrategy::ToPositiveInfinity => float.ceil(),
            // Rust's `round` goes half away from zero, like MidpointAwayFromZero.
            _ => float.round(),
        }),
        Value::Decimal(decimal) => decimal.round_dp_with_strategy(0, strategy).to_i64(),
        _ => Some(0),
    };
    match int {
        Some(int) => Ok(Value::Int(int)),
        None => fail(format!("{name}({}) does not fit in a 64-bit integer", x.to_text())),
    }
}

/// `round(x)`: the nearest integer, halves away from zero; `round(x, digits)`: a decimal
/// with exactly `digits` places, half up. Digits that are null or `""` are left out.
fn round(args: &[Value], _: &CallContext<'_>) -> Result<Value, FunctionError> {
    let x = arg(args, 0);
    let Some(digits) = given(args, 1) else {
        return whole("round", x, RoundingStrategy::MidpointAwayFromZero);
    };
    let Value::Int(digits) = coerce(digits, Kind::Integer, 1, "round")? else { unreachable!("coerced to an integer") };
    let Some(digits) = u32::try_from(digits).ok().filter(|digits| *digits <= Decimal::MAX_SCALE) else {
        return fail(format!("round can keep 0 to {} digits, not {digits}", Decimal::MAX_SCALE));
    };
    let too_large = || FunctionError::new(format!("round({}, {digits}) does not fit in a decimal", x.to_text()));
    let rounded = match x {
        Value::Int(int) => with_scale(Decimal::from(*int), digits),
        Value::Decimal(decimal) => {
            with_scale(decimal.round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero), digits)
        }
        Value::Float(float) if !float.is_finite() => {
            return fail(format!("cannot round {} to a decimal", x.to_text()));
        }
        Value::Float(float) => round_float(*float, digits),
        _ => with_scale(Decimal::ZERO, digits),
    };
    let rounded = rounded.ok_or_else(too_large)?;
    Ok(Value::Decimal(rounded))
}

/// Rounds the decimal a float prints as (its shortest round-trip digits, as Java's
/// `BigDecimal.valueOf` reads it), half up: `1.005` becomes `1.01`, although the float
/// nearest to 1.005 is slightly below it. `None` when it does not fit in a decimal.
fn round_float(float: f64, digits: u32) -> Option<Decimal> {
    // `Display` writes the shortest digits that read back, never with an exponent.
    let text = format!("{}", float.abs());
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let places = digits as usize;
    let kept = &fraction[..fraction.len().min(places)];
    let round_up = fraction.as_bytes().get(places).is_some_and(|digit| *digit >= b'5');
    let mut decimal =
        Decimal::from_str_exact(&if kept.is_empty() { whole.to_owned() } else { format!("{whole}.{kept}") }).ok()?;
    if round_up {
        decimal = decimal.checked_add(Decimal::new(1, digits))?;
    }
    decimal.set_sign_negative(float.is_sign_negative());
    with_scale(decimal, digits)
}

/// The decimal with exactly `digits` places (it has at most that many), and no
/// negative zero (`round(-0.001, 2)` is `0.00`, as in Java); `None` when it does not fit.
fn with_scale(mut decimal: Decimal, digits: u32) -> Option<Decimal> {
    // `rescale` settles for fewer places when the digits do not fit.
    decimal.rescale(digits);
    if decimal.is_zero() {
        decimal.set_sign_positive(true);
    }
    (decimal.scale() == digits).then_some(decimal)
}

/// A uniform integer in `[lo, hi]` from the context's random source.
fn random_int(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let (lo, hi) = (integer(args, 0), integer(args, 1));
    if lo > hi {
        return fail(format!("randomInt({lo}, {hi}): the lower bound {lo} is greater than the upper bound {hi}"));
    }
    Ok(Value::Int(cx.context().with_rng(|rng| rng.random_range(lo..=hi))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_as_their_digits_read() {
        let cases = [
            (2.6666, 2, "2.67"),
            (1.005, 2, "1.01"),
            (2.0, 2, "2.00"),
            (-2.5, 0, "-3"),
            (-0.001, 2, "0.00"),
            (0.999, 2, "1.00"),
            (9.995, 2, "10.00"),
            (1e-30, 3, "0.000"),
            (123456789.0, 1, "123456789.0"),
        ];
        for (float, digits, expected) in cases {
            assert_eq!(round_float(float, digits).unwrap().to_string(), expected, "{float} to {digits}");
        }
        assert_eq!(round_float(1e300, 2), None);
    }

    #[test]
    fn whole_numbers_stay_in_range() {
        assert_eq!(float_to_int(-(2f64.powi(63))), Some(i64::MIN));
        assert_eq!(float_to_int(2f64.powi(63)), None);
        assert_eq!(float_to_int(2f64.powi(63) - 1024.0), Some(i64::MAX - 1023));
        assert_eq!(float_to_int(f64::NAN), None);
    }
}
