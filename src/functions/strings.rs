//! Strings and lists: `stringConcat` … `stringReplaceAll`, `stringSplit`, `stringJoin`,
//! `padZeroes`, `urlEncode`, `base64Encode`/`Decode`, `sha256`, `arrayLength`,
//! `pushLiteral`, `pushVariable`, and the peers' string helpers `stringIndexOf`,
//! `substringBefore`/`After`, `capitalize`, `removeDiacritics`, `stringPadStart`/`End`.
//!
//! Lengths and indices count Unicode scalar values (Rust `char`s). Every function that
//! builds a string or a list checks the size limits before or while building it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use percent_encoding::utf8_percent_encode;
use regex::{Regex, RegexBuilder};
use sha2::{Digest, Sha256};

use super::util::{arg, coerce, given, integer, text};
use super::{CallContext, Function, FunctionError, Kind};
use crate::budget::Limits;
use crate::value::Value;

pub(super) fn functions() -> Vec<Function> {
    let regexes = RegexCache::default();
    let validation_regexes = regexes.clone();
    vec![
        Function::new("stringConcat", concat)
            .param("value", Kind::Text)
            .variadic()
            .summary("Joins the string forms of its arguments", "text")
            .example(r#"stringConcat("a", 1, true)"#, r#""a1true""#),
        Function::new("stringContains", |args, _| Ok(Value::Bool(contains(arg(args, 0), text(args, 1)))))
            .param("text", Kind::Any)
            .param("part", Kind::Text)
            .summary("Whether a text (or any item of a list) contains a part", "boolean")
            .example(r#"stringContains("newsletter", "news")"#, "true"),
        Function::new("stringStartsWith", |args, _| Ok(Value::Bool(text(args, 0).starts_with(text(args, 1)))))
            .param("text", Kind::Text)
            .param("prefix", Kind::Text)
            .summary("Whether a text starts with a prefix", "boolean")
            .example(r#"stringStartsWith("DE-123", "DE-")"#, "true"),
        Function::new("stringEndsWith", |args, _| Ok(Value::Bool(text(args, 0).ends_with(text(args, 1)))))
            .param("text", Kind::Text)
            .param("suffix", Kind::Text)
            .summary("Whether a text ends with a suffix", "boolean")
            .example(r#"stringEndsWith("photo.jpg", ".jpg")"#, "true"),
        Function::new("stringLength", |args, _| Ok(Value::Int(char_count(text(args, 0)))))
            .param("text", Kind::Text)
            .summary("The number of characters of a text", "integer")
            .example(r#"stringLength("Grüße")"#, "5"),
        Function::new("stringToLowerCase", |args, cx| sized(text(args, 0).to_lowercase(), cx))
            .param("text", Kind::Text)
            .summary("A text in lower case", "text")
            .example(r#"stringToLowerCase("ÄBC")"#, r#""äbc""#),
        Function::new("stringToUpperCase", |args, cx| sized(text(args, 0).to_uppercase(), cx))
            .param("text", Kind::Text)
            .summary("A text in upper case", "text")
            .example(r#"stringToUpperCase("straße")"#, r#""STRASSE""#),
        Function::new("stringTrim", |args, _| Ok(Value::from(java_trim(text(args, 0)))))
            .param("text", Kind::Text)
            .summary("A text without the spaces and control characters at its ends", "text")
            .example(r#"stringTrim("  hi  ")"#, r#""hi""#),
        Function::new("substring", substring)
            .param("text", Kind::Text)
            .param("start", Kind::Integer)
            .optional("end", Kind::Any)
            .summary("The characters from start up to (not including) end; without end, to the end", "text")
            .example(r#"substring("courier", 0, 4)"#, r#""cour""#),
        Function::new("stringReplace", replace)
            .param("text", Kind::Any)
            .param("target", Kind::Text)
            .param("replacement", Kind::Text)
            .summary("Replaces every occurrence of a text with another", "text")
            .example(r#"stringReplace("1,5", ",", ".")"#, r#""1.5""#),
        Function::new("stringReplaceAll", move |args, cx| replace_all(&regexes, args, cx))
            .param("text", Kind::Any)
            .param("regex", Kind::Text)
            .param("replacement", Kind::Text)
            .validate(move |constants| validate_replace_all(&validation_regexes, constants))
            .summary("Replaces every match of a regular expression ($1 for groups)", "text")
            .example(r##"stringReplaceAll("a1b22", "[0-9]+", "#")"##, r#""a#b#""#),
        Function::new("stringSplit", split)
            .param("text", Kind::Text)
            .param("separator", Kind::Text)
            .summary("Splits a text at each separator into a list", "list")
            .example(r#"stringSplit("a,b,c", ",")"#, r#"["a","b","c"]"#),
        Function::new("stringJoin", join)
            .param("list", Kind::Any)
            .param("separator", Kind::Text)
            .summary("Joins the items of a list with a separator", "text")
            .example(r#"stringJoin(stringSplit("a b c", " "), "-")"#, r#""a-b-c""#),
        Function::new("padZeroes", pad_zeroes)
            .param("value", Kind::Text)
            .param("width", Kind::Integer)
            .summary("Pads a value with leading zeroes to a width", "text")
            .example("padZeroes(42, 5)", r#""00042""#),
        Function::new("urlEncode", |args, cx| {
            sized(utf8_percent_encode(text(args, 0), crate::value::URL_COMPONENT).to_string(), cx)
        })
        .param("text", Kind::Text)
        .summary("Percent-encodes a text as one URL component", "text")
        .example(r#"urlEncode("a b&c")"#, r#""a%20b%26c""#),
        Function::new("base64Encode", base64_encode)
            .param("text", Kind::Text)
            .summary("The Base64 form of a text's UTF-8 bytes", "text")
            .example(r#"base64Encode("user:pass")"#, r#""dXNlcjpwYXNz""#),
        Function::new("base64Decode", |args, _| base64_decode(text(args, 0)))
            .param("text", Kind::Text)
            .summary("Decodes Base64 into text", "text")
            .example(r#"base64Decode("dXNlcjpwYXNz")"#, r#""user:pass""#),
        Function::new("sha256", |args, _| Ok(Value::from(sha256_hex(text(args, 0)))))
            .param("text", Kind::Text)
            .summary("The SHA-256 of a text's UTF-8 bytes, as lowercase hex", "text")
            .example(r#"sha256("abc")"#, r#""ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad""#),
        Function::new("arrayLength", |args, _| Ok(Value::Int(array_length(arg(args, 0)))))
            .param("value", Kind::Any)
            .summary("The number of items of a list (1 for a single value, 0 for null)", "integer")
            .example(r#"arrayLength(stringSplit("a,b,c", ","))"#, "3"),
        Function::new("pushLiteral", |args, cx| push("pushLiteral", arg(args, 0), arg(args, 1).clone(), cx))
            .param("list", Kind::Any)
            .param("value", Kind::Any)
            .summary("A list with a value added at its end", "list")
            .example(r#"pushLiteral(stringSplit("a,b", ","), "c")"#, r#"["a","b","c"]"#),
        Function::new("pushVariable", |args, cx| {
            push("pushVariable", arg(args, 0), cx.variable(text(args, 1)).unwrap_or_default(), cx)
        })
        .param("list", Kind::Any)
        .param("name", Kind::Text)
        .reads_context()
        .summary("A list with a variable's value (by name) added at its end", "list")
        .example(r#"pushVariable(stringSplit("a", ","), "firstname")"#, r#"["a","Anna"]"#),
        Function::new("stringIndexOf", |args, _| Ok(Value::Int(index_of(text(args, 0), text(args, 1)))))
            .param("text", Kind::Text)
            .param("part", Kind::Text)
            .summary("where the part first occurs, in characters; -1 when it does not", "integer")
            .example("stringIndexOf(\"Zürich HB\", \"HB\")", "7"),
        Function::new("substringBefore", |args, cx| {
            let (text, separator) = (text(args, 0), text(args, 1));
            sized(text.split_once(separator).map_or(text, |(before, _)| before).to_owned(), cx)
        })
        .param("text", Kind::Text)
        .param("separator", Kind::Text)
        .summary("the text before the first separator; the whole text when there is none", "text")
        .example("substringBefore(\"anna@example.org\", \"@\")", "\"anna\""),
        Function::new("substringAfter", |args, cx| {
            sized(text(args, 0).split_once(text(args, 1)).map_or("", |(_, after)| after).to_owned(), cx)
        })
        .param("text", Kind::Text)
        .param("separator", Kind::Text)
        .summary("the text after the first separator; \"\" when there is none", "text")
        .example("substringAfter(\"anna@example.org\", \"@\")", "\"example.org\""),
        Function::new("capitalize", |args, cx| sized(capitalize(text(args, 0)), cx))
            .param("text", Kind::Text)
            .summary("the text with its first character in upper case, the rest unchanged", "text")
            .example("capitalize(\"élise\")", "\"Élise\""),
        Function::new("removeDiacritics", |args, cx| sized(remove_diacritics(text(args, 0)), cx))
            .param("text", Kind::Text)
            .summary("the text without accents and other combining marks (ß stays)", "text")
            .example("removeDiacritics(\"Müller-Lüdenscheidt, Besançon\")", "\"Muller-Ludenscheidt, Besancon\""),
        Function::new("stringPadStart", |args, cx| pad(args, cx, true))
            .param("text", Kind::Text)
            .param("width", Kind::Integer)
            .param("pad", Kind::Text)
            .summary("the text with the pad repeated before it up to width characters", "text")
            .example("stringPadStart(\"7\", 5, \"ab\")", "\"abab7\""),
        Function::new("stringPadEnd", |args, cx| pad(args, cx, false))
            .param("text", Kind::Text)
            .param("width", Kind::Integer)
            .param("pad", Kind::Text)
            .summary("the text with the pad repeated after it up to width characters", "text")
            .example("stringPadEnd(\"7\", 3, \".\")", "\"7..\""),
    ]
}

/// Java's `indexOf`, counted in characters: the empty part is found at 0.
fn index_of(text: &str, part: &str) -> i64 {
    text.find(part).map_or(-1, |at| char_count(&text[..at]))
}

/// The first character as Java's `Character.toUpperCase` maps it: only to a single
/// character, so `ß` (whose upper case is `SS`) stays as it is.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    let mut upper = first.to_uppercase();
    let first = match (upper.next(), upper.next()) {
        (Some(single), None) => single,
        _ => first,
    };
    std::iter::once(first).chain(chars).collect()
}

/// Decomposes (NFD), drops the combining marks, and composes again (NFC) so that
/// letters without marks, such as Hangul syllables, come back as they were.
fn remove_diacritics(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    use unicode_normalization::char::is_combining_mark;
    text.nfd().filter(|c| !is_combining_mark(*c)).nfc().collect()
}

/// Pads to `width` characters with `pad` repeated and cut (`"ab"` to width 5 before
/// `7` is `abab7`), as JavaScript's `padStart` and `padEnd`; an empty pad, or text at
/// least as wide, leaves the text as it is.
fn pad(args: &[Value], cx: &CallContext<'_>, start: bool) -> Result<Value, FunctionError> {
    let (text, pad) = (text(args, 0), text(args, 2));
    let width = usize::try_from(integer(args, 1)).unwrap_or(0);
    let missing = width.saturating_sub(text.chars().count());
    if missing == 0 || pad.is_empty() {
        return Ok(Value::from(text));
    }
    let longest_char = pad.chars().map(char::len_utf8).max().unwrap_or(1);
    cx.check_size(text.len().saturating_add(missing.saturating_mul(longest_char)))?;
    let filler: String = pad.chars().cycle().take(missing).collect();
    Ok(Value::from(if start { filler + text } else { format!("{text}{filler}") }))
}

fn char_count(text: &str) -> i64 {
    i64::try_from(text.chars().count()).unwrap_or(i64::MAX)
}

/// A string result, refused when it is larger than the output limit.
fn sized(text: String, cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    cx.check_size(text.len())?;
    Ok(Value::from(text))
}

fn concat(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let length = args.iter().map(|value| value.as_str().map_or(0, str::len)).fold(0, usize::saturating_add);
    cx.check_size(length)?;
    let mut joined = String::with_capacity(length);
    for value in args {
        value.write_text(&mut joined);
    }
    Ok(Value::from(joined))
}

fn contains(haystack: &Value, part: &str) -> bool {
    match haystack {
        Value::List(items) => items.iter().any(|item| item.text().contains(part)),
        other => other.text().contains(part),
    }
}

/// Java's `String.trim`: strips every character up to U+0020 (spaces and control
/// characters) from both ends, and nothing else.
fn java_trim(text: &str) -> &str {
    text.trim_matches(|c: char| c <= ' ')
}

fn substring(args: &[Value], _: &CallContext<'_>) -> Result<Value, FunctionError> {
    let text = text(args, 0);
    let length = char_count(text);
    let start = integer(args, 1).clamp(0, length);
    let end = match given(args, 2) {
        None => length,
        Some(end) => match coerce(end, Kind::Integer, 2, "substring")? {
            Value::Int(end) => end.clamp(start, length),
            _ => start,
        },
    };
    // Both are within 0..=length, so they fit in usize.
    let (start, end) = (start as usize, end as usize);
    Ok(Value::from(text.chars().skip(start).take(end - start).collect::<String>()))
}

/// Applies `edit` to the string form of `value`, or to each element's when it is a
/// list. `edit` also gets the bytes made so far, to check the output limit on the sum.
fn each_text(
    value: &Value,
    mut edit: impl FnMut(&str, usize) -> Result<String, FunctionError>,
) -> Result<Value, FunctionError> {
    match value {
        Value::List(items) => {
            let mut total = 0;
            let mut edited = Vec::with_capacity(items.len());
            for item in items.iter() {
                let text = edit(&item.text(), total)?;
                total += text.len();
                edited.push(Value::from(text));
            }
            Ok(Value::list(edited))
        }
        other => edit(&other.text(), 0).map(Value::from),
    }
}

fn replace(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let (target, replacement) = (text(args, 1), text(args, 2));
    each_text(arg(args, 0), |text, used| {
        // Count first, so that a huge result is refused before it is built.
        let count = text.matches(target).count();
        let size = (text.len() - count * target.len()).saturating_add(count.saturating_mul(replacement.len()));
        cx.check_size(used.saturating_add(size))?;
        Ok(text.replace(target, replacement))
    })
}

/// Compiled regular expressions by pattern, so that a template applied to many
/// sessions compiles its pattern once. Bounded: it starts over when full. The regexes
/// are shared, not cloned: a cloned `Regex` starts with an empty pool of search caches,
/// which each search would then allocate anew.
#[derive(Clone, Default)]
pub(super) struct RegexCache(Arc<Mutex<CachedRegexes>>);

/// Pattern → the size limit it was compiled under and the compiled regex.
type CachedRegexes = HashMap<String, (usize, Arc<Regex>)>;

const CACHED_REGEXES: usize = 64;

impl RegexCache {
    /// The pattern compiled with a size limit of `limit` bytes.
    pub(super) fn get(&self, pattern: &str, limit: usize) -> Result<Arc<Regex>, regex::Error> {
        let cached =
            self.lock().get(pattern).filter(|(cached_limit, _)| *cached_limit == limit).map(|(_, regex)| regex.clone());
        if let Some(regex) = cached {
            return Ok(regex);
        }
        // Compiled without holding the lock: other evaluations need not wait for it.
        let regex = Arc::new(RegexBuilder::new(pattern).size_limit(limit).dfa_size_limit(limit).build()?);
        let mut cache = self.lock();
        if cache.len() >= CACHED_REGEXES {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), (limit, regex.clone()));
        Ok(regex)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CachedRegexes> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The message for a pattern that did not compile.
pub(super) fn regex_error(pattern: &str, error: regex::Error, limit: usize) -> FunctionError {
    let shown = Value::from(pattern).describe();
    FunctionError::new(match error {
        regex::Error::CompiledTooBig(_) => {
            return FunctionError::limit(format!(
                "the regular expression {shown} compiles to more than the limit of {limit} bytes"
            ));
        }
        regex::Error::Syntax(message) => {
            // The message draws the pattern with a caret; its last line says what is wrong.
            let reason = message.lines().rev().find_map(|line| line.strip_prefix("error: ")).unwrap_or(&message);
            format!("invalid regular expression {shown}: {reason}")
        }
        other => format!("invalid regular expression {shown}: {other}"),
    })
}

/// A piece of a replacement: literal text or a group's match.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
}

/// Reads a replacement as Java's `Matcher.replaceAll` does: `$n` and `${name}` refer to
/// groups, `\` takes the next character literally. A `$` followed by digits takes the
/// first digit, then more digits while the number stays a group of the pattern. Without
/// a `regex`, only the syntax is checked (for a constant replacement of a variable
/// pattern).
fn parse_replacement(replacement: &str, regex: Option<&Regex>) -> Result<Vec<Piece>, String> {
    let groups = regex.map_or(usize::MAX, |regex| regex.captures_len() - 1);
    let invalid = |why: &str| format!("invalid replacement {}: {why}", Value::from(replacement).describe());
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) => literal.push(escaped),
                None => return Err(invalid("it ends with a \\ that escapes nothing")),
            },
            '$' => {
                let group = match chars.next() {
                    Some('{') => {
                        let mut name = String::new();
                        while let Some(&c) = chars.peek().filter(|c| c.is_ascii_alphanumeric()) {
                            name.push(c);
                            chars.next();
                        }
                        if chars.next() != Some('}')
                            || name.is_empty()
                            || name.starts_with(|c: char| c.is_ascii_digit())
                        {
                            return Err(invalid("${ must hold a group name (letters and digits) and a closing }"));
                        }
                        match regex {
                            None => 0,
                            Some(regex) => regex
                                .capture_names()
                                .position(|group| group == Some(name.as_str()))
                                .ok_or_else(|| invalid(&format!("the pattern has no group named {name}")))?,
                        }
                    }
                    Some(digit @ '0'..='9') => {
                        let mut group = digit as usize - '0' as usize;
                        if group > groups {
                            return Err(invalid(&format!("there is no group {group}: the pattern has {groups}")));
                        }
                        while let Some(more) = chars.peek().and_then(|c| c.to_digit(10)) {
                            match group.checked_mul(10).and_then(|group| group.checked_add(more as usize)) {
                                Some(longer) if longer <= groups => group = longer,
                                _ => break,
                            }
                            chars.next();
                        }
                        group
                    }
                    _ => {
                        return Err(invalid(
                            "a $ must be followed by a group number or {name}; write \\$ for a dollar sign",
                        ));
                    }
                };
                if !literal.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Group(group));
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        pieces.push(Piece::Text(literal));
    }
    Ok(pieces)
}

fn replace_all(regexes: &RegexCache, args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let (pattern, limit) = (text(args, 1), cx.limits().max_regex_bytes);
    let regex = regexes.get(pattern, limit).map_err(|error| regex_error(pattern, error, limit))?;
    let pieces = parse_replacement(text(args, 2), Some(&regex))?;
    each_text(arg(args, 0), |text, used| {
        let mut out = String::new();
        let (mut last, mut from) = (0, 0);
        // Java's `Matcher.find`: the next search starts where the last match ended, one
        // character later after an empty match. (The regex crate's iterator would also
        // skip an empty match right after a non-empty one: "abc", "b*" gives "-a--c-".)
        while from <= text.len() {
            let Some(captures) = regex.captures_at(text, from) else {
                break;
            };
            let Some(whole) = captures.get(0) else { break };
            // Each match is work of its own (a capture search): a step each.
            cx.charge_steps(1)?;
            out.push_str(&text[last..whole.start()]);
            for piece in &pieces {
                match piece {
                    Piece::Text(literal) => out.push_str(literal),
                    Piece::Group(group) => out.push_str(captures.get(*group).map_or("", |found| found.as_str())),
                }
            }
            cx.check_size(used.saturating_add(out.len()))?;
            last = whole.end();
            from = match text[last..].chars().next() {
                Some(next) if whole.is_empty() => last + next.len_utf8(),
                None if whole.is_empty() => break,
                _ => last,
            };
        }
        out.push_str(&text[last..]);
        cx.check_size(used.saturating_add(out.len()))?;
        Ok(out)
    })
}

/// A literal pattern must compile and a literal replacement must read; the size limit
/// is left to evaluation, which knows the engine's limits.
fn validate_replace_all(regexes: &RegexCache, constants: &[Option<&Value>]) -> Result<(), (usize, String)> {
    let mut regex = None;
    if let Some(pattern) = constants.get(1).copied().flatten() {
        let (pattern, limit) = (pattern.to_text(), Limits::default().max_regex_bytes);
        match regexes.get(&pattern, limit) {
            Ok(compiled) => regex = Some(compiled),
            Err(regex::Error::CompiledTooBig(_)) => {}
            Err(error) => return Err((1, regex_error(&pattern, error, limit).message().to_owned())),
        }
    }
    if let Some(replacement) = constants.get(2).copied().flatten() {
        parse_replacement(&replacement.to_text(), regex.as_deref()).map_err(|message| (2, message))?;
    }
    Ok(())
}

/// Every piece between separators, empty ones included; the empty text gives no
/// pieces and the empty separator one piece per character.
fn split(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let (text, separator) = (text(args, 0), text(args, 1));
    let max = cx.limits().max_list_len;
    if text.is_empty() {
        return Ok(Value::list(Vec::new()));
    }
    let count = if separator.is_empty() {
        text.chars().take(max.saturating_add(1)).count()
    } else {
        text.matches(separator).take(max).count() + 1
    };
    if count > max {
        return Err(FunctionError::limit(format!("stringSplit would make more than the limit of {max} pieces")));
    }
    let pieces = if separator.is_empty() {
        text.chars().map(|c| Value::from(c.to_string())).collect()
    } else {
        text.split(separator).map(Value::from).collect()
    };
    Ok(Value::list(pieces))
}

/// The elements' string forms; null joins nothing and a single value is itself.
fn join(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let separator = text(args, 1);
    let items = match arg(args, 0) {
        Value::Null => return Ok(Value::from("")),
        Value::List(items) => items,
        single => return sized(single.to_text(), cx),
    };
    let mut joined = String::new();
    for (position, item) in items.iter().enumerate() {
        if position > 0 {
            joined.push_str(separator);
        }
        item.write_text(&mut joined);
        cx.check_size(joined.len())?;
    }
    Ok(Value::from(joined))
}

fn pad_zeroes(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let text = text(args, 0);
    let width = usize::try_from(integer(args, 1)).unwrap_or(0);
    let missing = width.saturating_sub(text.chars().count());
    cx.check_size(text.len().saturating_add(missing))?;
    let mut padded = "0".repeat(missing);
    padded.push_str(text);
    Ok(Value::from(padded))
}

fn base64_encode(args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let text = text(args, 0);
    cx.check_size(text.len().div_ceil(3).saturating_mul(4))?;
    Ok(Value::from(BASE64.encode(text)))
}

fn base64_decode(encoded: &str) -> Result<Value, FunctionError> {
    use base64::DecodeError;
    let shown = || Value::from(encoded).describe();
    let bytes = BASE64.decode(encoded).map_err(|error| {
        let why = match error {
            DecodeError::InvalidByte(offset, b'=') => format!("misplaced padding = at offset {offset}"),
            DecodeError::InvalidByte(offset, byte) => {
                format!("{} at offset {offset} is not a base64 character", shown_char(encoded, offset, byte))
            }
            DecodeError::InvalidLength(_) => "its length is not that of base64 text".to_owned(),
            DecodeError::InvalidLastSymbol(offset, byte) => {
                format!(
                    "its last character {} (offset {offset}) is not a possible ending",
                    shown_char(encoded, offset, byte)
                )
            }
            DecodeError::InvalidPadding => {
                "its padding is missing or wrong (standard base64 ends with = or ==)".to_owned()
            }
        };
        FunctionError::new(format!("cannot decode {} as base64: {why}", shown()))
    })?;
    String::from_utf8(bytes)
        .map(Value::from)
        .map_err(|_| FunctionError::new(format!("base64 {} decodes to bytes that are not UTF-8 text", shown())))
}

/// The character at a byte offset, quoted; the byte in hex inside a multi-byte one.
fn shown_char(text: &str, offset: usize, byte: u8) -> String {
    match text.get(offset..).and_then(|rest| rest.chars().next()) {
        Some(c) => format!("{c:?}"),
        None => format!("byte 0x{byte:02x}"),
    }
}

fn sha256_hex(text: &str) -> String {
    use std::fmt::Write;
    Sha256::digest(text.as_bytes()).iter().fold(String::with_capacity(64), |mut hex, byte| {
        let _ = write!(hex, "{byte:02x}");
        hex
    })
}

fn array_length(value: &Value) -> i64 {
    match value {
        Value::Null => 0,
        Value::List(items) => i64::try_from(items.len()).unwrap_or(i64::MAX),
        _ => 1,
    }
}

/// `list` with `value` appended: null is the empty list, a single value a list of one.
fn push(name: &str, list: &Value, value: Value, cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let mut items = match list {
        Value::Null => Vec::new(),
        Value::List(items) => Vec::clone(items),
        single => vec![single.clone()],
    };
    let max = cx.limits().max_list_len;
    if items.len() >= max {
        return Err(FunctionError::limit(format!("{name} would make a list of more than the limit of {max} elements")));
    }
    items.push(value);
    Ok(Value::list(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn regex(pattern: &str) -> Arc<Regex> {
        RegexCache::default().get(pattern, 1 << 20).unwrap()
    }

    #[test]
    fn replacements_read_as_java_reads_them() {
        let two_groups = regex("(a)(b)");
        assert_eq!(parse_replacement("x", Some(&two_groups)).unwrap(), vec![Piece::Text("x".into())]);
        // `$12` with two groups is group 1 and the digit 2.
        assert_eq!(
            parse_replacement("$12", Some(&two_groups)).unwrap(),
            vec![Piece::Group(1), Piece::Text("2".into())]
        );
        assert_eq!(parse_replacement(r"\$1\\", Some(&two_groups)).unwrap(), vec![Piece::Text("$1\\".into())]);
        let named = regex("(?<year>\\d{4})");
        assert_eq!(
            parse_replacement("${year}!", Some(&named)).unwrap(),
            vec![Piece::Group(1), Piece::Text("!".into())]
        );
        assert!(parse_replacement("$3", Some(&two_groups)).unwrap_err().contains("no group 3"));
        assert!(parse_replacement("${month}", Some(&named)).unwrap_err().contains("no group named month"));
        assert!(parse_replacement("$x", None).is_err());
        assert!(parse_replacement("$", None).is_err());
        assert!(parse_replacement("a\\", None).is_err());
        assert!(parse_replacement("${1}", None).is_err());
        assert!(parse_replacement("${a", None).is_err());
        // Without the pattern, any group number is accepted.
        assert_eq!(parse_replacement("$9", None).unwrap(), vec![Piece::Group(9)]);
    }

    #[test]
    fn regex_errors_say_what_is_wrong_on_one_line() {
        let compile = |pattern: &str, limit: usize| {
            let error = RegexCache::default().get(pattern, limit).unwrap_err();
            regex_error(pattern, error, limit).message().to_owned()
        };
        assert_eq!(compile("(", 1 << 20), "invalid regular expression \"(\": unclosed group");
        assert_eq!(
            compile("a{1000}{1000}", 1 << 10),
            "the regular expression \"a{1000}{1000}\" compiles to more than the limit of 1024 bytes"
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let cache = RegexCache::default();
        for n in 0..200 {
            cache.get(&format!("a{{{n}}}"), 1 << 20).unwrap();
        }
        assert!(cache.lock().len() <= CACHED_REGEXES);
        // A different limit recompiles rather than reusing a regex built under another.
        assert!(cache.get("a{1000}{1000}", 1 << 30).is_ok());
        assert!(cache.get("a{1000}{1000}", 1 << 10).is_err());
    }

    #[test]
    fn java_trim_keeps_non_breaking_spaces() {
        assert_eq!(java_trim("\t a b \n\u{0}"), "a b");
        assert_eq!(java_trim("\u{a0}x\u{a0}"), "\u{a0}x\u{a0}");
    }
}
