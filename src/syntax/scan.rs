//! A linear pre-scan that bounds nesting before pest sees the input.
//!
//! pest descends recursively, once per nesting level, so a hostile template of
//! 100,000 `(` or `[` would exhaust the stack inside the parser, before any of our
//! code could count. This scan walks the source once, without recursion, tracking
//! just enough lexical state (text, JSON, strings, interpolations) to measure how
//! deep the grammar would have to go, and refuses what is too deep. It also finds
//! unterminated interpolations and strings, which it can point at precisely.

use std::ops::Range;

use super::{LineIndex, SyntaxError};

/// Bounds on the shape of source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestingLimits {
    /// Deepest nesting of brackets, parentheses and conditionals.
    pub max_nesting: usize,
    /// Largest source in bytes.
    pub max_source_bytes: usize,
}

impl Default for NestingLimits {
    fn default() -> Self {
        NestingLimits { max_nesting: 100, max_source_bytes: 1 << 20 }
    }
}

/// What kind of source is scanned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanMode {
    /// A bare expression.
    Expression,
    /// A text template.
    Template,
    /// A JSON template.
    Json,
}

#[derive(Debug, Clone, Copy)]
enum State {
    Text,
    Json,
    JsonString {
        opened: usize,
    },
    /// An interpolation; `json_string` is where the JSON string it stands in opened;
    /// `braces` counts the set and map literals open in it, whose `}` do not close it.
    Expr {
        opened: usize,
        depth: usize,
        braces: usize,
        json_string: Option<usize>,
    },
    ExprString {
        quote: u8,
        opened: usize,
        depth: usize,
        braces: usize,
        interpolation: usize,
        json_string: Option<usize>,
    },
}

/// Checks that `source` nests no deeper than `limits` allow and that every
/// interpolation and string it opens is closed.
pub fn check_nesting(source: &str, limits: &NestingLimits) -> Result<(), SyntaxError> {
    scan(source, ScanMode::Expression, limits)
}

/// The first problem of `source` that the scan sees, by position.
pub(crate) fn scan(source: &str, mode: ScanMode, limits: &NestingLimits) -> Result<(), SyntaxError> {
    let found = scan_holes(source, mode, limits);
    let first = found.error.into_iter().chain(found.string_problems).min_by_key(|problem| problem.span.start);
    first.map_or(Ok(()), Err)
}

/// What the pre-scan found: the interpolations, and the problems.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The byte range of each complete `${...}`, in order (those before an error).
    pub(crate) holes: Vec<Range<usize>>,
    /// An unterminated construct or a bound exceeded; scanning stopped there.
    pub(crate) error: Option<SyntaxError>,
    /// Problems inside JSON strings (a raw control character, an escape JSON does not
    /// know), which the scan steps over: a line break ends the string, as no JSON
    /// string spans lines. The parser reports the first of them too.
    pub(crate) string_problems: Vec<SyntaxError>,
}

/// Scans `source`, recording where each interpolation starts and ends, so that each
/// can be parsed on its own.
pub(crate) fn scan_holes(source: &str, mode: ScanMode, limits: &NestingLimits) -> Scan {
    let mut scan = Scan::default();
    scan.error = scan_into(source, mode, limits, &mut scan).err();
    // After a line break ended a string, its closing quote on the next line reads as
    // an opening one: a string left open at the end is that echo, not news.
    if scan.error.as_ref().is_some_and(|error| error.message.starts_with(UNTERMINATED_JSON_STRING))
        && !scan.string_problems.is_empty()
    {
        scan.error = None;
    }
    scan
}

const UNTERMINATED_JSON_STRING: &str = "unterminated JSON string";

fn scan_into(source: &str, mode: ScanMode, limits: &NestingLimits, found: &mut Scan) -> Result<(), SyntaxError> {
    let index = LineIndex::new(source);
    if source.len() > limits.max_source_bytes {
        return Err(SyntaxError {
            message: format!(
                "the source is {} bytes, more than the limit of {} bytes",
                source.len(),
                limits.max_source_bytes
            ),
            span: index.span(0, 0),
        });
    }
    let bytes = source.as_bytes();
    let too_deep = |at: usize| SyntaxError {
        message: format!("nesting deeper than {} levels", limits.max_nesting),
        span: index.span(at as u32, at as u32 + 1),
    };
    let mut json_depth = 0usize;
    let mut state = match mode {
        ScanMode::Expression => State::Expr { opened: usize::MAX, depth: 0, braces: 0, json_string: None },
        ScanMode::Template => State::Text,
        ScanMode::Json => State::Json,
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            State::Text => {
                if b == b'\\' && source[i..].starts_with("\\${") {
                    i += 3;
                    continue;
                }
                if b == b'$' && next == Some(b'{') {
                    state = State::Expr { opened: i, depth: 0, braces: 0, json_string: None };
                    i += 2;
                    continue;
                }
            }
            State::Json => match b {
                b'"' => state = State::JsonString { opened: i },
                b'[' | b'{' => {
                    json_depth += 1;
                    if json_depth > limits.max_nesting {
                        return Err(too_deep(i));
                    }
                }
                b']' | b'}' => json_depth = json_depth.saturating_sub(1),
                b'$' if next == Some(b'{') => {
                    state = State::Expr { opened: i, depth: 0, braces: 0, json_string: None };
                    i += 2;
                    continue;
                }
                _ => {}
            },
            State::JsonString { opened } => match b {
                b'\\' => {
                    let length = json_escape_length(bytes, i);
                    if length.is_none() {
                        found.string_problems.push(string_problem(&index, i));
                    }
                    // Step over a bad escape's character too (a line break after it still ends the string).
                    i += length.unwrap_or(if matches!(next, Some(b'\n' | b'\r')) { 1 } else { 2 });
                    continue;
                }
                b'"' => state = State::Json,
                b'$' if next == Some(b'{') => {
                    state = State::Expr { opened: i, depth: 0, braces: 0, json_string: Some(opened) };
                    i += 2;
                    continue;
                }
                0x00..=0x1f => {
                    found.string_problems.push(string_problem(&index, i));
                    if matches!(b, b'\n' | b'\r') {
                        state = State::Json;
                    }
                }
                _ => {}
            },
            State::Expr { opened, depth, braces, json_string } => match b {
                b'"' | b'\'' => {
                    state = State::ExprString { quote: b, opened: i, depth, braces, interpolation: opened, json_string }
                }
                // `->` nests too: a lambda's body is an expression of its own.
                b'(' | b'[' | b'?' | b'{' | b'>' if b != b'>' || i > 0 && bytes[i - 1] == b'-' => {
                    if json_depth + depth + 1 > limits.max_nesting {
                        return Err(too_deep(i));
                    }
                    let braces = braces + usize::from(b == b'{');
                    state = State::Expr { opened, depth: depth + 1, braces, json_string };
                }
                // `?` and `->` never close, so a chain of them counts as deep as it is long.
                b')' | b']' => state = State::Expr { opened, depth: depth.saturating_sub(1), braces, json_string },
                // The `}` of a set or map literal.
                b'}' if braces > 0 => {
                    state = State::Expr { opened, depth: depth.saturating_sub(1), braces: braces - 1, json_string }
                }
                b'}' if mode != ScanMode::Expression => {
                    found.holes.push(opened..i + 1);
                    state = match (mode, json_string) {
                        (ScanMode::Json, Some(string)) => State::JsonString { opened: string },
                        (ScanMode::Json, None) => State::Json,
                        _ => State::Text,
                    }
                }
                _ => {}
            },
            State::ExprString { quote, depth, braces, interpolation, json_string, .. } => {
                if b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == quote {
                    state = State::Expr { opened: interpolation, depth, braces, json_string };
                }
            }
        }
        i += 1;
    }
    match state {
        State::Expr { opened, .. } if mode != ScanMode::Expression => Err(SyntaxError {
            message: "unterminated `${`: the interpolation is never closed with `}`".into(),
            span: index.span(opened as u32, opened as u32 + 2),
        }),
        State::ExprString { quote, opened, .. } => Err(SyntaxError {
            message: format!("unterminated string: the {} opened here is never closed", quote_name(quote)),
            span: index.span(opened as u32, opened as u32 + 1),
        }),
        State::JsonString { opened } => Err(SyntaxError {
            message: format!("{UNTERMINATED_JSON_STRING}: the `\"` opened here is never closed"),
            span: index.span(opened as u32, opened as u32 + 1),
        }),
        _ => Ok(()),
    }
}

/// The length of the JSON escape at `at` (a `\\`), `\\${` included; `None` when
/// JSON does not know it. Agrees with `json_escape` of the grammar: a `\\u` surrogate
/// must be a high one followed by a low one.
fn json_escape_length(bytes: &[u8], at: usize) -> Option<usize> {
    let hex4 = |from: usize| -> Option<u32> {
        let digits = bytes.get(from..from + 4)?;
        digits.iter().try_fold(0, |code, digit| Some(code * 16 + char::from(*digit).to_digit(16)?))
    };
    match *bytes.get(at + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'$' if bytes.get(at + 2) == Some(&b'{') => Some(3),
        b'u' => match hex4(at + 2)? {
            0xD800..=0xDBFF if bytes.get(at + 6..at + 8) == Some(b"\\u") => {
                hex4(at + 8).filter(|low| (0xDC00..=0xDFFF).contains(low)).map(|_| 12)
            }
            0xD800..=0xDFFF => None,
            _ => Some(6),
        },
        _ => None,
    }
}

fn string_problem(index: &LineIndex, at: usize) -> SyntaxError {
    let source = index.source();
    let message = json_string_problem(source, at).unwrap_or_else(|| "invalid JSON string".into());
    let end = source[at..].chars().next().map_or(at, |c| at + c.len_utf8());
    SyntaxError { message, span: index.span(at as u32, end as u32) }
}

/// What is wrong at `position` inside a JSON string, if it is a raw control character
/// or an escape JSON does not know. The scan and the parser both say it this way.
pub(crate) fn json_string_problem(source: &str, position: usize) -> Option<String> {
    let mut rest = source.get(position..)?.chars();
    match rest.next()? {
        '\n' | '\r' => {
            Some("a JSON string cannot hold a raw line break: write it as \\n, or close the string with `\"`".into())
        }
        '\t' => Some("a JSON string cannot hold a raw tab; write it as \\t".into()),
        control if control < ' ' => Some(format!(
            "a JSON string cannot hold the control character U+{:04X}; write it as \\u{:04x}",
            control as u32, control as u32
        )),
        '\\' => Some(match rest.next() {
            Some('u') => "invalid escape `\\u`: it takes four hex digits, and a surrogate \\uD800-\\uDBFF must be \
                          followed by a low surrogate \\uDC00-\\uDFFF"
                .into(),
            escape => format!(
                "invalid escape `\\{}` in a JSON string: JSON knows \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX, \
                 and `\\${{` is a literal `${{`",
                escape.map(|c| c.escape_default().to_string()).unwrap_or_default()
            ),
        }),
        _ => None,
    }
}

fn quote_name(quote: u8) -> &'static str {
    if quote == b'"' { "`\"`" } else { "`'`" }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> NestingLimits {
        NestingLimits::default()
    }

    #[test]
    fn deep_parentheses_are_refused_without_recursion() {
        let source = "(".repeat(100_000) + "1" + &")".repeat(100_000);
        let error = scan(&source, ScanMode::Expression, &limits()).unwrap_err();
        assert!(error.message.contains("nesting deeper than 100"), "{}", error.message);
        assert_eq!(error.span.column, 101);
    }

    #[test]
    fn parentheses_in_text_do_not_count() {
        let source = "(".repeat(1000) + "${x}";
        scan(&source, ScanMode::Template, &limits()).unwrap();
    }

    #[test]
    fn brackets_in_expression_strings_do_not_count() {
        let source = format!("${{stringConcat(\"{}\", x)}}", "(".repeat(500));
        scan(&source, ScanMode::Template, &limits()).unwrap();
    }

    #[test]
    fn unterminated_interpolation_points_at_its_start() {
        let error = scan("Hello\n  ${name", ScanMode::Template, &limits()).unwrap_err();
        assert_eq!((error.span.line, error.span.column), (2, 3));
        assert!(error.message.contains("unterminated `${`"));
    }

    #[test]
    fn a_brace_inside_a_string_does_not_close_the_interpolation() {
        let error = scan("${stringConcat(\"}\", x)", ScanMode::Template, &limits()).unwrap_err();
        assert!(error.message.contains("unterminated `${`"));
        scan("${stringConcat(\"}\", x)}", ScanMode::Template, &limits()).unwrap();
    }

    #[test]
    fn deep_json_is_refused() {
        let source = "[".repeat(100_000);
        assert!(scan(&source, ScanMode::Json, &limits()).unwrap_err().message.contains("nesting"));
    }

    #[test]
    fn holes_are_recorded_in_order() {
        let source = "a ${x} \\${y} ${f(\"}\")}";
        let scan = scan_holes(source, ScanMode::Template, &limits());
        assert_eq!(scan.error, None);
        let holes: Vec<&str> = scan.holes.iter().map(|range| &source[range.clone()]).collect();
        assert_eq!(holes, ["${x}", "${f(\"}\")}"]);
        let json = "{\"a ${k}\": ${v}, \"b\\${c}\": 1, \"u\": ${w";
        let scan = scan_holes(json, ScanMode::Json, &limits());
        let holes: Vec<&str> = scan.holes.iter().map(|range| &json[range.clone()]).collect();
        assert_eq!(holes, ["${k}", "${v}"]);
        assert!(scan.error.unwrap().message.contains("unterminated `${`"));
    }

    #[test]
    fn json_string_problems_are_all_found_and_stepped_over() {
        let source = "{\"a\": \"x\\q\", \"b\": \"\\ud800\", \"c\": \"\\ud83d\\ude00\\u00e9\\${y}\", \"d\": \"tab\there\",\n \"e\": \"open\n ${z}}";
        let scan = scan_holes(source, ScanMode::Json, &limits());
        assert_eq!(scan.error, None);
        let found: Vec<(u32, &str)> =
            scan.string_problems.iter().map(|p| (p.span.start, &source[p.span.range()])).collect();
        assert_eq!(found, [(8, "\\"), (19, "\\"), (69, "\t"), (88, "\n")]);
        let holes: Vec<&str> = scan.holes.iter().map(|range| &source[range.clone()]).collect();
        assert_eq!(holes, ["${z}"], "the line break ended the open string");
    }

    #[test]
    fn an_unterminated_json_string_is_placed_at_its_quote_after_a_hole() {
        let error = scan("[\"a ${x} b", ScanMode::Json, &limits()).unwrap_err();
        assert_eq!(error.span.column, 2, "{}", error.message);
    }

    #[test]
    fn escaped_open_is_text() {
        scan("\\${ not an interpolation", ScanMode::Template, &limits()).unwrap();
    }

    #[test]
    fn oversized_source_is_refused() {
        let small = NestingLimits { max_nesting: 10, max_source_bytes: 4 };
        assert!(scan("12345", ScanMode::Expression, &small).unwrap_err().message.contains("5 bytes"));
    }
}
