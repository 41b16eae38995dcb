//! Locale numbers: `formatNumber` (Java `DecimalFormat` patterns with the locale's
//! separators) and `parseNumber` (text with the locale's separators to a number).
//!
//! The separators and the minus sign come from CLDR through ICU4X's compiled data
//! (`icu_decimal`), the data Java's default locale provider also reads. A well-formed
//! locale without data of its own falls back as CLDR does, in the end to the root
//! locale, whose symbols are `en`'s; a malformed tag is an error. Both functions read
//! the context's locale when the argument is left out, so only calls with a literal
//! locale are folded.

use icu_decimal::provider::{Baked, DecimalSymbolsV1};
use icu_locale_core::Locale;
use icu_provider::prelude::*;
use rust_decimal::{Decimal, RoundingStrategy};

use super::util::{arg, fail, given, text};
use super::{CallContext, Function, FunctionError, Kind};
use crate::value::Value;

pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("formatNumber", format_number)
            .param("number", Kind::Any)
            .param("pattern", Kind::Text)
            .optional("locale", Kind::Any)
            .reads_context_unless(|constants| literal_locale(constants, 2))
            .validate(|constants| {
                if let Some(pattern) = constants.get(1).copied().flatten() {
                    Pattern::parse(&pattern.to_text()).map_err(|message| (1, message))?;
                }
                validate_locale(constants, 2)
            })
            .summary("the number written with a DecimalFormat pattern in the locale's symbols, HALF_EVEN", "text")
            .example("formatNumber(1234.5, \"#,##0.00\", \"de\")", "\"1.234,50\""),
        Function::new("parseNumber", parse_number)
            .param("text", Kind::Text)
            .optional("locale", Kind::Any)
            .reads_context_unless(|constants| literal_locale(constants, 1))
            .validate(|constants| validate_locale(constants, 1))
            .summary("text with the locale's grouping and decimal separators as an integer or a float", "number")
            .example("parseNumber(\"1.234,5\", \"de\")", "1234.5"),
    ]
}

fn validate_locale(constants: &[Option<&Value>], position: usize) -> Result<(), (usize, String)> {
    match constants.get(position).copied().flatten() {
        Some(locale) if !is_left_out(locale) => Symbols::of(&locale.to_text()).map(drop).map_err(|m| (position, m)),
        _ => Ok(()),
    }
}

/// Whether the call names its locale as a literal, so that it does not read the context's.
fn literal_locale(constants: &[Option<&Value>], position: usize) -> bool {
    constants.get(position).copied().flatten().is_some_and(|locale| !is_left_out(locale))
}

fn is_left_out(value: &Value) -> bool {
    matches!(value, Value::Null) || value.as_str() == Some("")
}

/// The locale's number symbols.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Symbols {
    decimal: String,
    grouping: String,
    minus: String,
}

impl Symbols {
    /// The symbols of a BCP 47 tag (`de-CH`; Java's `de_CH` is read too).
    fn of(tag: &str) -> Result<Symbols, String> {
        let locale: Locale = tag.replace('_', "-").parse().map_err(|_| {
            format!("{} is not a locale tag: expected a tag such as de, de-CH or fr", Value::from(tag).describe())
        })?;
        let data_locale = DataLocale::from(&locale);
        // Courier writes ASCII digits, so it wants the symbols of the Latin digits; the
        // data keeps those apart only for locales whose default digits are others (Arabic,
        // for one, has other separators with its own digits).
        let latin = DataMarkerAttributes::from_str_or_panic("latn");
        let load = |attributes: &DataMarkerAttributes| {
            DataProvider::<DecimalSymbolsV1>::load(
                &Baked,
                DataRequest {
                    id: DataIdentifierBorrowed::for_marker_attributes_and_locale(attributes, &data_locale),
                    ..Default::default()
                },
            )
        };
        let mut response = load(DataMarkerAttributes::empty())
            .map_err(|error| format!("no number symbols for the locale {tag:?}: {error}"))?;
        if response.payload.get().strings.numsys() != "latn"
            && let Ok(latin) = load(latin)
        {
            response = latin;
        }
        // The accessors of `strings` are the ones both ICU4X 2.1 and later 2.x provide.
        let symbols = &response.payload.get().strings;
        // CLDR 48 (this data) writes the Swiss grouping as an ASCII apostrophe; the CLDR
        // of Java 17 and 21 wrote U+2019 (`1’234.5`), which the flows expect.
        let grouping = match symbols.grouping_separator() {
            "'" => "’",
            other => other,
        };
        Ok(Symbols {
            decimal: symbols.decimal_separator().to_owned(),
            grouping: grouping.to_owned(),
            minus: symbols.minus_sign_prefix().to_owned(),
        })
    }

    /// The locale argument's symbols, or the context's when it is left out.
    fn for_argument(args: &[Value], position: usize, cx: &CallContext<'_>) -> Result<Symbols, FunctionError> {
        let tag = match given(args, position) {
            Some(locale) => locale.to_text(),
            None => cx.context().locale().to_owned(),
        };
        Ok(Symbols::of(&tag)?)
    }
}

/// A `DecimalFormat` pattern: `prefix number suffix`, optionally `;` and a negative
/// subpattern whose prefix and suffix replace the minus sign.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    prefix: Vec<Affix>,
    suffix: Vec<Affix>,
    negative: Option<(Vec<Affix>, Vec<Affix>)>,
    min_integer: usize,
    /// Digits between grouping separators; 0 for none.
    grouping: usize,
    min_fraction: usize,
    max_fraction: usize,
    always_decimal: bool,
    /// 100 for `%`, 1000 for `‰`, else 1.
    multiplier: u32,
}

/// Part of a prefix or suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Affix {
    Text(String),
    Percent,
    PerMille,
    Minus,
}

/// The most digits a pattern may ask for (Java caps integers at 309 and fractions at 340).
const MOST_DIGITS: usize = 340;

impl Pattern {
    fn parse(pattern: &str) -> Result<Pattern, String> {
        let shown = || Value::from(pattern).describe();
        let (positive, negative) = split_unquoted(pattern, ';');
        let (prefix, number, suffix) =
            split_subpattern(positive).map_err(|why| format!("the number pattern {}: {why}", shown()))?;
        if number.is_empty() {
            return Err(format!("the number pattern {} has no digits (0 or #)", shown()));
        }
        let (integer, fraction) = number.split_once('.').map_or((number, None), |(i, f)| (i, Some(f)));
        let bad = |why: &str| format!("the number pattern {}: {why}", shown());
        let integer_digits = integer.trim_start_matches(['#', ',']);
        if integer_digits.contains('#') {
            return Err(bad("a # after a 0 in the integer part"));
        }
        let grouping = integer.rfind(',').map_or(0, |at| integer.len() - at - 1);
        if integer.ends_with(',') {
            return Err(bad("a grouping separator , must be followed by digits"));
        }
        let min_integer = integer.chars().filter(|c| *c == '0').count();
        let (min_fraction, max_fraction) = match fraction {
            None => (0, 0),
            Some(fraction) => {
                if fraction.contains([',', '.']) {
                    return Err(bad("the fraction has a , or a second ."));
                }
                let zeros = fraction.chars().take_while(|c| *c == '0').count();
                if fraction[zeros..].contains('0') {
                    return Err(bad("a 0 after a # in the fraction"));
                }
                (zeros, fraction.len())
            }
        };
        if min_integer > MOST_DIGITS || max_fraction > MOST_DIGITS {
            return Err(bad(&format!("more than {MOST_DIGITS} digits")));
        }
        let (prefix, suffix) =
            (read_affix(prefix).map_err(|why| bad(&why))?, read_affix(suffix).map_err(|why| bad(&why))?);
        let negative = match negative {
            None => None,
            Some(negative) => {
                let (prefix, _, suffix) = split_subpattern(negative).map_err(|why| bad(&why))?;
                Some((read_affix(prefix).map_err(|why| bad(&why))?, read_affix(suffix).map_err(|why| bad(&why))?))
            }
        };
        let multiplier =
            match prefix.iter().chain(&suffix).find(|affix| matches!(affix, Affix::Percent | Affix::PerMille)) {
                Some(Affix::Percent) => 100,
                Some(Affix::PerMille) => 1000,
                _ => 1,
            };
        Ok(Pattern {
            prefix,
            suffix,
            negative,
            min_integer,
            grouping,
            min_fraction,
            max_fraction,
            always_decimal: fraction == Some(""),
            multiplier,
        })
    }
}

/// Splits at the first `at` outside quotes.
fn split_unquoted(text: &str, at: char) -> (&str, Option<&str>) {
    let mut quoted = false;
    for (position, c) in text.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            c if c == at && !quoted => return (&text[..position], Some(&text[position + c.len_utf8()..])),
            _ => {}
        }
    }
    (text, None)
}

/// `prefix`, the digits part (`#,##0.00`), `suffix`.
fn split_subpattern(subpattern: &str) -> Result<(&str, &str, &str), String> {
    let is_number = |c: char| matches!(c, '0' | '#' | ',' | '.');
    let mut quoted = false;
    let (mut start, mut end) = (None, subpattern.len());
    for (position, c) in subpattern.char_indices() {
        if c == '\'' {
            quoted = !quoted;
            if start.is_some() && end == subpattern.len() {
                end = position;
            }
            continue;
        }
        if quoted {
            continue;
        }
        match (start, is_number(c)) {
            (None, true) => start = Some(position),
            (Some(_), false) if end == subpattern.len() => end = position,
            (Some(_), true) if end != subpattern.len() => return Err("digits after the suffix began".to_owned()),
            _ => {}
        }
        // `E` right after the digits is an exponent; `¤` anywhere is a currency sign.
        if c == '¤' || (c == 'E' && start.is_some() && end == position) {
            return Err(format!("{c:?} (exponent or currency) is not supported; quote it to write it: '{c}'"));
        }
    }
    if quoted {
        return Err("a quote is not closed".to_owned());
    }
    let start = start.unwrap_or(subpattern.len());
    Ok((&subpattern[..start], &subpattern[start..end.max(start)], &subpattern[end.max(start)..]))
}

/// A prefix or suffix: quoted text is literal (`''` is a quote), `%` and `‰` are the
/// percent and per-mille signs, `-` the locale's minus sign.
fn read_affix(affix: &str) -> Result<Vec<Affix>, String> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut chars = affix.chars().peekable();
    let flush = |literal: &mut String, parts: &mut Vec<Affix>| {
        if !literal.is_empty() {
            parts.push(Affix::Text(std::mem::take(literal)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => super::util::quoted_literal(&mut chars, &mut literal)
                .map_err(|()| "a quote is not closed".to_owned())?,
            '%' | '‰' | '-' => {
                flush(&mut literal, &mut parts);
                parts.push(match c {
                    '%' => Affix::Percent,
                    '‰' => Affix::PerMille,
                    _ => Affix::Minus,
                });
            }
            other => literal.push(other),
        }
    }
    flush(&mut literal, &mut parts);
    Ok(parts)
}

fn write_affix(out: &mut String, affix: &[Affix], symbols: &Symbols) {
    for part in affix {
        match part {
            Affix::Text(text) => out.push_str(text),
            Affix::Percent => out.push('%'),
            Affix::PerMille => out.push('‰'),
            Affix::Minus => out.push_str(&symbols.minus),
        }
    }
}

/// The exact decimal a value stands for: integers and decimals as they are, floats by
/// the digits they print as (`0.125`, not the binary value just above it), numeric
/// text read exactly. `None` for null and `""`.
fn exact_decimal(value: &Value) -> Result<Option<Decimal>, FunctionError> {
    let from_text = |text: &str| {
        Decimal::from_str_exact(text).or_else(|_| Decimal::from_scientific(text)).map_err(|_| {
            FunctionError::new(format!(
                "formatNumber: cannot read {} as a number of at most 28 digits",
                value.describe()
            ))
        })
    };
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::Int(int) => Decimal::from(*int),
        Value::Decimal(decimal) => *decimal,
        Value::Float(float) if !float.is_finite() => {
            return fail(format!("formatNumber: cannot format {}", value.to_text()));
        }
        // `{:e}` gives the shortest digits that read back as the same float.
        Value::Float(float) => from_text(&format!("{float:e}"))?,
        Value::Str(text) if text.trim().is_empty() => return Ok(None),
        Value::Str(text) => from_text(text.trim())?,
        Value::Bool(_) | Value::List(_) | Value::Map(_) => {
            return fail(format!("formatNumber: {} is not a number", value.describe()));
        }
    }))
}

fn format_number(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let pattern = Pattern::parse(text(args, 1))?;
    let symbols = Symbols::for_argument(args, 2, cx)?;
    let Some(number) = exact_decimal(arg(args, 0))? else {
        return Ok(Value::Null);
    };
    let scaled = number.checked_mul(Decimal::from(pattern.multiplier)).ok_or_else(|| {
        FunctionError::new(format!(
            "formatNumber: {} times {} is too large",
            arg(args, 0).to_text(),
            pattern.multiplier
        ))
    })?;
    let formatted = format_decimal(scaled, &pattern, &symbols, cx)?;
    Ok(Value::from(formatted))
}

/// Writes the decimal as `DecimalFormat` does with `RoundingMode.HALF_EVEN`.
fn format_decimal(
    number: Decimal,
    pattern: &Pattern,
    symbols: &Symbols,
    cx: &CallContext<'_>,
) -> Result<String, FunctionError> {
    // A decimal holds at most 28 places, so more fraction digits are zeros anyway.
    let places = pattern.max_fraction.min(28) as u32;
    let rounded = number.round_dp_with_strategy(places, RoundingStrategy::MidpointNearestEven);
    let digits = rounded.abs().to_string();
    let (whole, fraction) = digits.split_once('.').unwrap_or((&digits, ""));
    let fraction = fraction.trim_end_matches('0');
    let whole = whole.trim_start_matches('0');
    let integer_width = whole.len().max(pattern.min_integer);
    let fraction_width = fraction.len().max(pattern.min_fraction);
    let separators = integer_width.checked_div(pattern.grouping).unwrap_or(0);
    let affixes =
        pattern.prefix.len() + pattern.suffix.len() + pattern.negative.as_ref().map_or(0, |(p, s)| p.len() + s.len());
    let size =
        integer_width + fraction_width + separators * symbols.grouping.len() + symbols.decimal.len() + 16 + affixes * 8;
    cx.check_size(size)?;

    let mut out = String::with_capacity(size);
    // Java keeps the sign of a negative number that rounds to zero (`-0.00`).
    let negative = number.is_sign_negative() && !number.is_zero();
    match (&pattern.negative, negative) {
        (Some((prefix, _)), true) => write_affix(&mut out, prefix, symbols),
        (None, true) => {
            out.push_str(&symbols.minus);
            write_affix(&mut out, &pattern.prefix, symbols);
        }
        (_, false) => write_affix(&mut out, &pattern.prefix, symbols),
    }
    let padded: String = "0".repeat(integer_width - whole.len()) + whole;
    for (position, digit) in padded.chars().enumerate() {
        let left = integer_width - position;
        if position > 0 && pattern.grouping > 0 && left % pattern.grouping == 0 {
            out.push_str(&symbols.grouping);
        }
        out.push(digit);
    }
    // `#.##` of 0 is `0`: some digit is always written.
    if integer_width == 0 && fraction_width == 0 {
        out.push('0');
    }
    if fraction_width > 0 || pattern.always_decimal {
        out.push_str(&symbols.decimal);
        out.push_str(fraction);
        out.extend(std::iter::repeat_n('0', fraction_width - fraction.len()));
    }
    let suffix = match (&pattern.negative, negative) {
        (Some((_, suffix)), true) => suffix,
        _ => &pattern.suffix,
    };
    write_affix(&mut out, suffix, symbols);
    Ok(out)
}

/// Reads `[sign] digits [grouping digits]… [decimal digits]` with the locale's
/// separators, trimmed. A space-like grouping separator also accepts a space and a
/// no-break space, and `’` an ASCII apostrophe, since that is what people type.
fn parse_number(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let input = text(args, 0);
    let symbols = Symbols::for_argument(args, 1, cx)?;
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Ok(Value::Null);
    }
    let not_a_number = || {
        FunctionError::new(format!(
            "parseNumber: {} is not a number with grouping {:?} and decimal separator {:?}",
            Value::from(input).describe(),
            symbols.grouping,
            symbols.decimal
        ))
    };
    let (negative, unsigned) =
        if let Some(rest) = trimmed.strip_prefix(symbols.minus.as_str()).filter(|_| !symbols.minus.is_empty()) {
            (true, rest)
        } else if let Some(rest) = trimmed.strip_prefix('-') {
            (true, rest)
        } else {
            (false, trimmed.strip_prefix('+').unwrap_or(trimmed))
        };
    let groupings = grouping_forms(&symbols.grouping);
    let (whole, fraction) = match unsigned.split_once(symbols.decimal.as_str()) {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    // Groups are digits between separators; none may be empty.
    let mut digits = String::with_capacity(unsigned.len() + 2);
    if negative {
        digits.push('-');
    }
    let mut rest = whole;
    loop {
        let run = rest.bytes().take_while(u8::is_ascii_digit).count();
        if run == 0 {
            return Err(not_a_number());
        }
        digits.push_str(&rest[..run]);
        rest = &rest[run..];
        if rest.is_empty() {
            break;
        }
        let separator = groupings.iter().find(|form| rest.starts_with(form.as_str())).ok_or_else(not_a_number)?;
        rest = &rest[separator.len()..];
    }
    let Some(fraction) = fraction else {
        return digits.parse::<i64>().map(Value::Int).map_err(|_| {
            FunctionError::new(format!(
                "parseNumber: {} does not fit in a 64-bit integer",
                Value::from(input).describe()
            ))
        });
    };
    if fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_a_number());
    }
    digits.push('.');
    digits.push_str(fraction);
    digits.parse::<f64>().map(Value::Float).map_err(|_| not_a_number())
}

/// The grouping separator and the forms people type for it.
fn grouping_forms(grouping: &str) -> Vec<String> {
    let mut forms = vec![grouping.to_owned()];
    if grouping.chars().all(char::is_whitespace) || grouping == "\u{202f}" || grouping == "\u{a0}" {
        forms.extend([" ".to_owned(), "\u{a0}".to_owned(), "\u{202f}".to_owned()]);
    }
    if grouping == "’" {
        forms.push("'".to_owned());
    }
    forms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cldr_symbols_per_locale() {
        let symbols = |tag: &str| {
            let symbols = Symbols::of(tag).unwrap();
            (symbols.grouping, symbols.decimal)
        };
        assert_eq!(symbols("de"), (".".to_owned(), ",".to_owned()));
        assert_eq!(symbols("de-CH"), ("’".to_owned(), ".".to_owned()));
        assert_eq!(symbols("de_CH"), ("’".to_owned(), ".".to_owned()));
        assert_eq!(symbols("fr"), ("\u{202f}".to_owned(), ",".to_owned()));
        assert_eq!(symbols("en"), (",".to_owned(), ".".to_owned()));
        assert_eq!(symbols("xx-YY"), (",".to_owned(), ".".to_owned()));
        // Arabic's default digits are its own; courier takes the Latin digits' symbols.
        assert_eq!(Symbols::of("ar").unwrap().decimal, ".");
        assert!(Symbols::of("not a locale!").is_err());
    }

    #[test]
    fn patterns_read_as_decimal_format_reads_them() {
        let pattern = Pattern::parse("#,##0.00").unwrap();
        assert_eq!((pattern.min_integer, pattern.grouping, pattern.min_fraction, pattern.max_fraction), (1, 3, 2, 2));
        let pattern = Pattern::parse("#,##,###.0#").unwrap();
        assert_eq!((pattern.grouping, pattern.min_fraction, pattern.max_fraction), (3, 1, 2));
        assert_eq!(Pattern::parse("0%").unwrap().multiplier, 100);
        assert!(Pattern::parse("'CHF' 0.00").unwrap().prefix == vec![Affix::Text("CHF ".into())]);
        for bad in ["", "abc", "0.0#0", "0#", "0E3", "¤0", "'open 0", "0,", "0.0.0"] {
            assert!(Pattern::parse(bad).is_err(), "{bad:?}");
        }
    }
}
