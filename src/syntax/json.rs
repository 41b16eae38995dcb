//! JSON templates: JSON in which `${...}` may stand as a value, as an object key, or
//! inside a string literal (a key's too).
//!
//! The tree keeps spans rather than text: literal parts are slices of the source, so
//! the template layer can copy the author's bytes as they are and read literal
//! subtrees with a JSON parser once, at compile time. A subtree without holes is a
//! single [`JsonNode::Literal`].

use std::ops::Range;

use pest::Parser;
use pest::iterators::Pair;

use super::parser::{LineIndex, Rule, SyntaxParser, build_expr, syntax_error_from_pest};
use super::scan::{ScanMode, scan};
use super::{Expr, NestingLimits, Span, SyntaxError};

/// A JSON value of a template.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonNode {
    /// A value without holes: `source[span]` is valid JSON.
    Literal(Span),
    /// `${...}` standing as a value: the value as typed JSON.
    Hole(Expr, Span),
    /// An array with a hole somewhere inside.
    Array(Vec<JsonNode>, Span),
    /// An object with a hole somewhere inside.
    Object(Vec<JsonMember>, Span),
    /// A string with holes (or `\${`): its parts between the quotes.
    String(Vec<StringPart>, Span),
}

impl JsonNode {
    /// Where the value was written.
    pub fn span(&self) -> Span {
        match self {
            JsonNode::Literal(span)
            | JsonNode::Hole(_, span)
            | JsonNode::Array(_, span)
            | JsonNode::Object(_, span)
            | JsonNode::String(_, span) => *span,
        }
    }
}

/// One `key: value` of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonMember {
    /// The key.
    pub key: JsonKey,
    /// The value.
    pub value: JsonNode,
}

/// An object key.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonKey {
    /// A string without holes, quotes included: `source[span]` is a JSON string.
    Literal(Span),
    /// A string with holes (or `\${`).
    String(Vec<StringPart>, Span),
    /// A bare hole: its string form becomes the key.
    Hole(Expr, Span),
}

/// A piece of a string that holds holes.
#[derive(Debug, Clone, PartialEq)]
pub enum StringPart {
    /// String text as written, escapes unresolved, quotes excluded.
    Text(Span),
    /// `\${`: a literal `${`.
    EscapedOpen(Span),
    /// `${...}`: the string form, escaped, goes here.
    Hole(Expr, Span),
}

/// Parses a JSON template within the given nesting limits. The JSON structure is
/// checked with the holes in place: a missing comma or a hole where no value may
/// stand is an error here, before any variable is known.
pub fn parse_json_template_with(source: &str, limits: &NestingLimits) -> Result<JsonNode, SyntaxError> {
    scan(source, ScanMode::Json, limits)?;
    let index = LineIndex::new(source);
    let mut pairs = SyntaxParser::parse(Rule::json_template, source).map_err(|e| syntax_error_from_pest(&e, &index))?;
    let template = pairs.next().expect("grammar: json_template");
    let value = template.into_inner().next().expect("grammar: json_template holds a value");
    build_value(value, &index)
}

/// Checks only the JSON structure of `source`, whose interpolations (found by the
/// pre-scan) are taken as valid values whatever they hold, so that a broken hole does
/// not hide a structural error elsewhere. Each hole's inside is replaced by `0` and
/// white space of the same length, which keeps every position where it was.
pub(crate) fn check_json_structure(source: &str, holes: &[Range<usize>]) -> Result<(), SyntaxError> {
    let mut masked = source.as_bytes().to_vec();
    for hole in holes {
        let inside = hole.start + 2..hole.end - 1;
        // The `0` goes at the first byte that is not a line break: a hole that starts
        // with one (`${\n x}`) still stands for a value.
        let mut valued = false;
        for byte in &mut masked[inside] {
            *byte = match *byte {
                b'\n' => b'\n',
                _ if !valued => {
                    valued = true;
                    b'0'
                }
                _ => b' ',
            };
        }
    }
    // Replacing whole holes' insides (whole characters) by ASCII keeps UTF-8 valid.
    let masked = String::from_utf8(masked).expect("masking replaces whole characters with ASCII");
    let index = LineIndex::new(source);
    SyntaxParser::parse(Rule::json_template, &masked).map(drop).map_err(|e| syntax_error_from_pest(&e, &index))
}

fn build_value(pair: Pair<'_, Rule>, index: &LineIndex) -> Result<JsonNode, SyntaxError> {
    let inner = pair.into_inner().next().expect("grammar: json_value holds one value");
    let span = index.span_of(&inner);
    match inner.as_rule() {
        Rule::json_object => {
            let mut members = Vec::new();
            for member in inner.into_inner().filter(|part| part.as_rule() == Rule::json_member) {
                let mut parts = member.into_inner();
                let key = build_key(parts.next().expect("grammar: member starts with a key"), index)?;
                let value = parts.find(|part| part.as_rule() == Rule::json_value).expect("grammar: member value");
                members.push(JsonMember { key, value: build_value(value, index)? });
            }
            let literal = members.iter().all(|member| {
                matches!(member.key, JsonKey::Literal(_)) && matches!(member.value, JsonNode::Literal(_))
            });
            Ok(if literal { JsonNode::Literal(span) } else { JsonNode::Object(members, span) })
        }
        Rule::json_array => {
            let items = inner
                .into_inner()
                .filter(|part| part.as_rule() == Rule::json_value)
                .map(|item| build_value(item, index))
                .collect::<Result<Vec<_>, _>>()?;
            let literal = items.iter().all(|item| matches!(item, JsonNode::Literal(_)));
            Ok(if literal { JsonNode::Literal(span) } else { JsonNode::Array(items, span) })
        }
        Rule::json_string => {
            let parts = build_string(inner, index)?;
            Ok(match parts {
                None => JsonNode::Literal(span),
                Some(parts) => JsonNode::String(parts, span),
            })
        }
        Rule::interpolation => Ok(JsonNode::Hole(build_hole(inner, index)?, span)),
        _ => Ok(JsonNode::Literal(span)),
    }
}

fn build_key(pair: Pair<'_, Rule>, index: &LineIndex) -> Result<JsonKey, SyntaxError> {
    let inner = pair.into_inner().next().expect("grammar: json_key holds a string or a hole");
    let span = index.span_of(&inner);
    if inner.as_rule() == Rule::interpolation {
        return Ok(JsonKey::Hole(build_hole(inner, index)?, span));
    }
    Ok(match build_string(inner, index)? {
        None => JsonKey::Literal(span),
        Some(parts) => JsonKey::String(parts, span),
    })
}

/// The parts of a string, or `None` when it is plain JSON (no hole, no `\${`).
fn build_string(pair: Pair<'_, Rule>, index: &LineIndex) -> Result<Option<Vec<StringPart>>, SyntaxError> {
    let mut parts: Vec<StringPart> = Vec::new();
    let mut plain = true;
    for part in pair.into_inner() {
        let span = index.span_of(&part);
        match part.as_rule() {
            Rule::json_chars | Rule::json_escape => match parts.last_mut() {
                Some(StringPart::Text(text)) => text.end = span.end,
                _ => parts.push(StringPart::Text(span)),
            },
            Rule::escaped_open => {
                plain = false;
                parts.push(StringPart::EscapedOpen(span));
            }
            Rule::interpolation => {
                plain = false;
                parts.push(StringPart::Hole(build_hole(part, index)?, span));
            }
            _ => {}
        }
    }
    Ok((!plain).then_some(parts))
}

fn build_hole(pair: Pair<'_, Rule>, index: &LineIndex) -> Result<Expr, SyntaxError> {
    let expr = pair.into_inner().next().expect("grammar: interpolation holds expr");
    Ok(build_expr(expr, index)?.expr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(source: &str) -> Result<JsonNode, SyntaxError> {
        parse_json_template_with(source, &NestingLimits::default())
    }

    fn error(source: &str) -> (u32, u32, String) {
        let error = parse(source).unwrap_err();
        (error.span.line, error.span.column, error.message)
    }

    #[test]
    fn subtrees_without_holes_are_literal() {
        let source = r#"{"a": [1, {"b": null}], "c": ${x}}"#;
        let JsonNode::Object(members, _) = parse(source).unwrap() else { panic!("not an object") };
        let JsonNode::Literal(span) = members[0].value else { panic!("not literal") };
        assert_eq!(&source[span.range()], r#"[1, {"b": null}]"#);
        assert!(matches!(members[1].value, JsonNode::Hole(..)));
        assert!(matches!(parse(r#" {"a": "b"} "#).unwrap(), JsonNode::Literal(_)));
    }

    #[test]
    fn holes_in_strings_and_keys() {
        let source = r#"{"Hi ${name}!": "\${not} ${x}", ${k}: 1}"#;
        let JsonNode::Object(members, _) = parse(source).unwrap() else { panic!("not an object") };
        let JsonKey::String(parts, _) = &members[0].key else { panic!("key is not a string with holes") };
        assert!(matches!(parts.as_slice(), [StringPart::Text(_), StringPart::Hole(..), StringPart::Text(_)]));
        let JsonNode::String(parts, _) = &members[0].value else { panic!("value is not a string with holes") };
        assert!(matches!(parts.as_slice(), [StringPart::EscapedOpen(_), StringPart::Text(_), StringPart::Hole(..)]));
        assert!(matches!(members[1].key, JsonKey::Hole(..)));
    }

    #[test]
    fn structure_errors_have_line_and_column() {
        assert_eq!(error("{\n  \"a\": 1\n  \"b\": 2\n}"), (3, 3, "expected `,` or `}`, found `\"`".into()));
        assert_eq!(error("[1, 2"), (1, 6, "expected `,` or `]`, found the end of the input".into()));
        assert_eq!(error("{\"a\": ${x} ${y}}").0, 1);
        assert_eq!(error("{\"a\": ${x} ${y}}").1, 12);
        assert!(error("[1,]").2.contains("a JSON value"));
    }

    #[test]
    fn bad_strings_are_explained() {
        let (line, column, message) = error("{\"a\": \"x\ny\"}");
        assert_eq!((line, column), (1, 9), "{message}");
        assert!(message.contains("line break"), "{message}");
        assert!(error("[\"a\", \"b\n").2.contains("line break"));
        assert!(error("[\"a\", \"b").2.contains("unterminated JSON string"));
        let (_, column, message) = error(r#"{"a": "x\qy"}"#);
        assert_eq!(column, 9);
        assert!(message.contains("invalid escape"), "{message}");
        for lone in [r#"["\ud800"]"#, r#"["\uDC00x"]"#, r#"["\ud800\u0041"]"#, r#"["\u12"]"#] {
            let (_, column, message) = error(lone);
            assert_eq!(column, 3, "{lone}");
            assert!(message.contains("surrogate"), "{lone}: {message}");
        }
        assert!(parse(r#"["\ud83d\ude00 \u00e9 \uFFFF"]"#).is_ok());
    }

    #[test]
    fn structure_check_ignores_what_holes_hold() {
        let source = "{\"a\": ${1 +}, \"b\": ${é\né} \"c\": 1}";
        let holes = [6..12, 19..27];
        assert_eq!(&source[holes[1].clone()], "${é\né}");
        let error = check_json_structure(source, &holes).unwrap_err();
        assert_eq!((error.span.line, error.span.column), (2, 4), "{}", error.message);
    }
}
