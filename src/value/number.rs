//! Numbers as Java reads and writes them: `Long.valueOf`, `Double.valueOf` (without
//! its trimming: the language reads strings untrimmed) and `Double.toString`.

/// Reads an integer as `Long.valueOf` does: an optional sign and ASCII digits.
/// `None` when the text is not such a number or does not fit in 64 bits.
pub fn parse_java_long(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Reads a float as `Double.valueOf` does, untrimmed: an optional sign, then
/// `NaN`, `Infinity`, or digits with an optional `.` and exponent, and an optional
/// `f`/`d` suffix. `None` for anything else.
pub fn parse_java_double(text: &str) -> Option<f64> {
    let (negative, unsigned) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let magnitude = match unsigned {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => parse_decimal_digits(unsigned.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(unsigned))?,
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `digits [. digits] [(e|E) [sign] digits]`, with at least one mantissa digit.
fn parse_decimal_digits(text: &str) -> Option<f64> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mut normalized = format!("{}.{}", if whole.is_empty() { "0" } else { whole }, fraction);
    if let Some(exponent) = exponent {
        let unsigned = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
        if unsigned.is_empty() || !all_digits(unsigned) {
            return None;
        }
        normalized.push('e');
        normalized.push_str(exponent);
    }
    normalized.parse().ok()
}

/// Writes a float as Java's `Double.toString`: `3.0`, `0.1`, `1.0E-4`, `1.0E10`,
/// `NaN`, `Infinity`; the digits are the shortest that read back to the same value.
pub fn format_java_double(value: f64) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // `{:e}` gives the shortest round-trip digits as `d.ddde±x`.
    let scientific = format!("{:e}", value.abs());
    let (mantissa, exponent) = scientific.split_once('e').expect("`{:e}` always has an exponent");
    let exponent: i32 = exponent.parse().expect("`{:e}` exponent is an integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if value < 0.0 {
        out.push('-');
    }
    if (-3..7).contains(&exponent) {
        if exponent < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(&digits);
        } else {
            let whole = exponent as usize + 1;
            if digits.len() > whole {
                out.push_str(&digits[..whole]);
                out.push('.');
                out.push_str(&digits[whole..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', whole - digits.len()));
                out.push_str(".0");
            }
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exponent.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_does() {
        let cases = [
            (3.0, "3.0"),
            (0.1, "0.1"),
            (1e-4, "1.0E-4"),
            (1e10, "1.0E10"),
            (8100000.0, "8100000.0"),
            (1e7, "1.0E7"),
            (2.34e21, "2.34E21"),
            (-0.003444, "-0.003444"),
            (0.001, "0.001"),
            (8.1e-9, "8.1E-9"),
            (0.6666666666666666, "0.6666666666666666"),
            (123456.789, "123456.789"),
            (-0.0, "-0.0"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (value, text) in cases {
            assert_eq!(format_java_double(value), text, "{value:e}");
        }
    }

    #[test]
    fn longs_read_as_java_does() {
        assert_eq!(parse_java_long("007"), Some(7));
        assert_eq!(parse_java_long("+5"), Some(5));
        assert_eq!(parse_java_long("-5"), Some(-5));
        for bad in ["", "-", " 5", "5 ", "1.0", "0x10", "1,000", "9223372036854775808"] {
            assert_eq!(parse_java_long(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn doubles_read_as_java_does() {
        assert_eq!(parse_java_double("5."), Some(5.0));
        assert_eq!(parse_java_double(".5"), Some(0.5));
        assert_eq!(parse_java_double("25e-1"), Some(2.5));
        assert_eq!(parse_java_double("1.5f"), Some(1.5));
        assert_eq!(parse_java_double("-1E+2"), Some(-100.0));
        assert!(parse_java_double("NaN").unwrap().is_nan());
        for bad in ["", ".", "e5", "1e", "1.5.2", " 1.5", "inf", "1,5", "12abc"] {
            assert_eq!(parse_java_double(bad), None, "{bad:?}");
        }
    }
}
