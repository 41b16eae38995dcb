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
    JsonString { opened: usize },
    Expr { opened: usize, depth: usize, in_json_string: bool },
    ExprString { quote: u8, opened: usize, depth: usize, interpolation: usize, in_json_string: bool },
}

/// Checks that `source` nests no deeper than `limits` allow and that every
/// interpolation and string it opens is closed.
pub fn check_nesting(source: &str, limits: &NestingLimits) -> Result<(), SyntaxError> {
    scan(source, ScanMode::Expression, limits)
}

pub(crate) fn scan(source: &str, mode: ScanMode, limits: &NestingLimits) -> Result<(), SyntaxError> {
    scan_holes(source, mode, limits).error.map_or(Ok(()), Err)
}

/// What the pre-scan found: the interpolations, and the first problem if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// The byte range of each complete `${...}`, in order (those before an error).
    pub(crate) holes: Vec<Range<usize>>,
    /// An unterminated construct or a bound exceeded; scanning stopped there.
    pub(crate) error: Option<SyntaxError>,
}

/// Scans `source`, recording where each interpolation starts and ends, so that each
/// can be parsed on its own.
pub(crate) fn scan_holes(source: &str, mode: ScanMode, limits: &NestingLimits) -> Scan {
    let mut holes = Vec::new();
    let error = scan_into(source, mode, limits, &mut holes).err();
    Scan { holes, error }
}

fn scan_into(
    source: &str,
    mode: ScanMode,
    limits: &NestingLimits,
    holes: &mut Vec<Range<usize>>,
) -> Result<(), SyntaxError> {
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
        ScanMode::Expression => State::Expr { opened: usize::MAX, depth: 0, in_json_string: false },
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
                    state = State::Expr { opened: i, depth: 0, in_json_string: false };
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
                    state = State::Expr { opened: i, depth: 0, in_json_string: false };
                    i += 2;
                    continue;
                }
                _ => {}
            },
            State::JsonString { .. } => match b {
                b'\\' => {
                    i += if source[i..].starts_with("\\${") { 3 } else { 2 };
                    continue;
                }
                b'"' => state = State::Json,
                b'$' if next == Some(b'{') => {
                    state = State::Expr { opened: i, depth: 0, in_json_string: true };
                    i += 2;
                    continue;
                }
                _ => {}
            },
            State::Expr { opened, depth, in_json_string } => match b {
                b'"' | b'\'' => {
                    state = State::ExprString { quote: b, opened: i, depth, interpolation: opened, in_json_string }
                }
                b'(' | b'[' | b'?' => {
                    if json_depth + depth + 1 > limits.max_nesting {
                        return Err(too_deep(i));
                    }
                    state = State::Expr { opened, depth: depth + 1, in_json_string };
                }
                // `?` never closes, so a chain of conditionals counts as deep as it is long.
                b')' | b']' => state = State::Expr { opened, depth: depth.saturating_sub(1), in_json_string },
                b'}' if mode != ScanMode::Expression => {
                    holes.push(opened..i + 1);
                    state = match (mode, in_json_string) {
                        (ScanMode::Json, true) => State::JsonString { opened },
                        (ScanMode::Json, false) => State::Json,
                        _ => State::Text,
                    }
                }
                _ => {}
            },
            State::ExprString { quote, depth, interpolation, in_json_string, .. } => {
                if b == b'\\' {
                    i += 2;
                    continue;
                }
                if b == quote {
                    state = State::Expr { opened: interpolation, depth, in_json_string };
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
            message: "unterminated JSON string: the `\"` opened here is never closed".into(),
            span: index.span(opened as u32, opened as u32 + 1),
        }),
        _ => Ok(()),
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
    fn escaped_open_is_text() {
        scan("\\${ not an interpolation", ScanMode::Template, &limits()).unwrap();
    }

    #[test]
    fn oversized_source_is_refused() {
        let small = NestingLimits { max_nesting: 10, max_source_bytes: 4 };
        assert!(scan("12345", ScanMode::Expression, &small).unwrap_err().message.contains("5 bytes"));
    }
}
