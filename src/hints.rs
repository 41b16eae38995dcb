//! Hints: how to fix the mistakes template authors make. The one source of the
//! fixes that `check`, `render`, `eval` and `send` show, so that every command
//! gives the same advice: syntax errors (moved to the place the mistake is, with
//! the fix spelled out where it is certain), evaluation errors (a decimal comma,
//! `+` on text), and the likely mistakes in literal text that `check` warns of.

use std::ops::Range;

use crate::diagnostics::Diagnostic;
use crate::syntax::{LineIndex, Span, SyntaxError};

/// A syntax error with the hint for it: possibly moved and reworded, and the fix.
pub(crate) fn syntax(source: &str, error: SyntaxError) -> (SyntaxError, Option<String>) {
    let at = (error.span.start as usize).min(source.len());
    let found = found_token(&error.message);
    let rest = &source[at..];
    let place = |start: usize, end: usize| LineIndex::new(source).span(start as u32, end as u32);
    // `$email`, `$(email)` or `${x}` where an expression is expected.
    if found == Some("$") {
        if let Some(inner) = rest.strip_prefix("${").and_then(|inner| inner.split('}').next()) {
            let message = "an expression is written without `${` and `}` here".to_owned();
            return (SyntaxError { message, ..error }, Some(format!("write {}", inner.trim())));
        }
        if let Some(name) = dollar_name(rest) {
            let message = format!("`$` does not start a variable: {}", error.message);
            // In a payload a variable is a hole; inside an expression, its bare name.
            let fix = if error.message.contains("JSON value") {
                format!("write ${{{name}}}")
            } else {
                format!("write {name}")
            };
            return (SyntaxError { message, ..error }, Some(fix));
        }
    }
    if let Some(hinted) = json_mistake(source, at, found, &error) {
        return hinted;
    }
    if found == Some("=") && !rest.starts_with("==") {
        return (error, Some("use == to compare".to_owned()));
    }
    if let Some(quote) = found.filter(|token| is_typographic_quote(token)) {
        let inner: String = rest[quote.len()..].chars().take_while(|c| !is_typographic_quote_char(*c)).collect();
        let message = format!("{quote} is a typographic quote; strings take straight quotes");
        return (SyntaxError { message, ..error }, Some(format!("write \"{inner}\"")));
    }
    // `{'a': 1}`: JSON has no single-quoted strings.
    let json_position = error.message.contains("JSON value") || error.message.contains("object key");
    if found == Some("'") && json_position {
        let inner: String = rest[1..].chars().take_while(|c| *c != '\'' && *c != '\n').collect();
        let message = "JSON strings take double quotes, not single ones".to_owned();
        return (SyntaxError { message, ..error }, Some(format!("write \"{inner}\"")));
    }
    // A comma before `}` or `]`: point at the comma and name what it follows.
    if matches!(found, Some("}" | "]")) {
        let before = source[..at].trim_end();
        if before.ends_with(',') {
            let comma = before.len() - 1;
            let after = match element_before(&source[..comma]) {
                Some(element) => format!("after {element}"),
                None => format!("before `{}`", found.unwrap_or_default()),
            };
            let message = format!("a trailing comma: JSON allows no comma before `{}`", found.unwrap_or_default());
            let span = place(comma, comma + 1);
            return (SyntaxError { message, span }, Some(format!("remove the comma {after}")));
        }
    }
    // `"email": ${email}, ...` pasted without the payload's outer braces.
    if found == Some(":") && error.message.starts_with("expected the end") && source.trim_start().starts_with('"') {
        return (error, Some("wrap the payload in { }".to_owned()));
    }
    // The JSON ends inside a hole that took the JSON's closing `}` as its own.
    if error.message.ends_with("found the end of the input")
        && let Some(open) = source.rfind("${")
    {
        let hole = &source[open..];
        let first_line = hole.lines().next().unwrap_or_default();
        if !first_line.contains('}') && hole.trim_end().ends_with('}') {
            let expression = first_line[2..].trim_end().trim_end_matches(',').trim_end();
            let message = "this `${` has no `}` of its own: it takes the one that should close the JSON".to_owned();
            let span = place(open, open + 2);
            return (SyntaxError { message, span }, Some(format!("write ${{{expression}}}")));
        }
    }
    if error.message.starts_with("unterminated `${`") {
        return (error, Some("close the hole with }".to_owned()));
    }
    (error, None)
}

/// The JSON mistakes authors make in payloads, each named with its fix: a missing
/// comma or colon, an unquoted key, a comment, Python's literals, a decimal comma,
/// an extra `)` in a hole, an empty `${}`.
fn json_mistake(
    source: &str,
    at: usize,
    found: Option<&str>,
    error: &SyntaxError,
) -> Option<(SyntaxError, Option<String>)> {
    let found = found?;
    let before = source[..at].trim_end();
    let named =
        |message: &str, fix: String| Some((SyntaxError { message: message.to_owned(), ..error.clone() }, Some(fix)));
    let value_end = before.ends_with(['"', '}', ']']) || before.ends_with(|c: char| c.is_ascii_alphanumeric());
    let value_start = found.starts_with(|c: char| matches!(c, '"' | '{' | '[' | '-' | '$') || c.is_ascii_digit())
        || ["true", "false", "null"].contains(&found);
    if error.message.starts_with("expected `,` or") && value_start && value_end {
        let next: String = source[at..].chars().take_while(|c| *c != ':' && *c != '\n').collect();
        return named("a missing comma between two members or items", format!("write `,` before {}", next.trim()));
    }
    if found.starts_with('/') && (source[at..].starts_with("//") || source[at..].starts_with("/*")) {
        return named("JSON has no comments", "remove the comment (or keep it in a \"_comment\" member)".to_owned());
    }
    if error.message.starts_with("expected `:`") {
        let key = before.rsplit('"').nth(1).unwrap_or_default();
        return named("a key needs a `:` before its value", format!("write \"{key}\": {found}"));
    }
    let word = found.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if error.message.contains("object key") && word && !found.chars().all(|c| c.is_ascii_digit()) {
        return named("object keys are strings in double quotes", format!("write \"{found}\""));
    }
    if error.message.contains("object key") && found.chars().all(|c| c.is_ascii_digit()) && before.ends_with(',') {
        let whole: String = before[..before.len() - 1].chars().rev().take_while(char::is_ascii_digit).collect();
        if !whole.is_empty() {
            let whole: String = whole.chars().rev().collect();
            return named("a decimal comma: JSON numbers take a point", format!("write {whole}.{found}"));
        }
    }
    let python = [("True", "true"), ("False", "false"), ("None", "null")];
    if let Some((_, literal)) = python.iter().find(|(written, _)| *written == found)
        && error.message.contains("JSON value")
    {
        return named(&format!("`{found}` is Python's; JSON writes {literal}"), format!("write {literal}"));
    }
    if found == ")" && error.message.contains("expected an operator") {
        return named("a `)` with no `(` to close", "remove the `)`".to_owned());
    }
    if found == "}" && error.message.starts_with("expected an expression") && before.ends_with("${") {
        return named("an empty `${}`", "write a variable or an expression inside, as ${email}".to_owned());
    }
    None
}

/// The hint for an evaluation error whose message is `message`, raised while
/// evaluating the source text `text`.
pub(crate) fn evaluation(message: &str, text: &str) -> Option<String> {
    let converted = message.strip_prefix("cannot convert \"")?.split('"').next()?;
    let is_decimal_comma = {
        let digits = converted.trim().trim_start_matches(['-', '+']);
        digits.split_once(',').is_some_and(|(whole, part)| {
            !whole.is_empty() && !part.is_empty() && (whole.chars().chain(part.chars())).all(|c| c.is_ascii_digit())
        })
    };
    if is_decimal_comma {
        let point = converted.trim().replace(',', ".");
        return Some(format!(
            "{converted:?} has a decimal comma; numbers take a point ({point}): convert with stringReplace(value, \",\", \".\") first"
        ));
    }
    join_text_fix(text)
}

/// `a + b` on text: the fix that joins text instead (EL's `+=`).
pub(crate) fn join_text_fix(text: &str) -> Option<String> {
    let plus = outside_quotes(text)
        .filter(|&at| text[at..].starts_with('+') && !text[at..].starts_with("+="))
        .collect::<Vec<_>>();
    match plus.as_slice() {
        [at] => Some(format!("to join text, write {}+={}", &text[..*at], &text[at + 1..])),
        _ => None,
    }
}

/// Warnings for likely mistakes in a template's literal text (outside its holes):
/// `$email`, `$(email)`, `{{email}}` and `#{email}`, which stay literal text.
pub(crate) fn literal_text(source: &str, holes: &[Range<usize>]) -> Vec<Diagnostic> {
    let index = LineIndex::new(source);
    let mut found = Vec::new();
    for piece in crate::syntax::literal_pieces(source, holes) {
        let text = &source[piece.range.clone()];
        let mut search = 0;
        while let Some(offset) = text[search..].find(['$', '{', '#']) {
            let at = search + offset;
            search = at + 1;
            let rest = &text[at..];
            let (name, width) = if rest.starts_with('$') {
                match dollar_name(rest) {
                    Some(name) => (
                        name,
                        rest.find(|c: char| !is_name_char(c) && c != '$').map_or(rest.len(), |end| {
                            if rest[1..].starts_with('(') { rest.find(')').map_or(end, |close| close + 1) } else { end }
                        }),
                    ),
                    None => continue,
                }
            } else if let Some(inner) = rest.strip_prefix("{{").and_then(|inner| inner.split_once("}}")) {
                let name = inner.0.trim();
                if name.is_empty() || !name.chars().all(is_name_char) {
                    continue;
                }
                (name.to_owned(), inner.0.len() + 4)
            } else if let Some(inner) = rest.strip_prefix("#{").and_then(|inner| inner.split_once('}')) {
                (inner.0.trim().to_owned(), inner.0.len() + 3)
            } else {
                continue;
            };
            let start = piece.range.start + at;
            let written = &source[start..start + width];
            let span: Span = index.span(start as u32, (start + width) as u32);
            found.push(
                Diagnostic::warning("not-a-hole", format!("`{written}` is literal text, not a variable"), span)
                    .with_suggestion(format!("write ${{{name}}}")),
            );
            search = at + width;
        }
    }
    found
}

/// Names authors write for literals in other languages' spelling: each is a
/// variable in EL (never set, so null), not the literal.
const FOREIGN_LITERALS: [(&str, &str); 7] = [
    ("True", "true"),
    ("False", "false"),
    ("TRUE", "true"),
    ("FALSE", "false"),
    ("None", "null"),
    ("NULL", "null"),
    ("undefined", "null"),
];

/// The warning for a variable named like another language's literal (`True`, `None`).
pub(crate) fn foreign_literal(name: &str, span: Span) -> Option<Diagnostic> {
    let (_, literal) = FOREIGN_LITERALS.iter().find(|(written, _)| *written == name)?;
    let message = format!("`{name}` is a variable (null unless set), not the literal {literal}");
    Some(Diagnostic::warning("foreign-literal", message, span).with_suggestion(format!("write {literal}")))
}

/// The token a parse error says it found: "…, found `=`" → `=`.
fn found_token(message: &str) -> Option<&str> {
    message.rsplit_once("found `")?.1.strip_suffix('`')
}

/// The variable name after a `$`: `$email` or `$(email)`.
fn dollar_name(text: &str) -> Option<String> {
    let rest = text.strip_prefix('$')?;
    let (rest, closing) = match rest.strip_prefix('(') {
        Some(inner) => (inner, true),
        None => (rest, false),
    };
    let name: String = rest.chars().take_while(|c| is_name_char(*c)).collect();
    let starts_well = name.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_');
    let closed = !closing || rest[name.len()..].starts_with(')');
    (starts_well && closed).then_some(name)
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_typographic_quote_char(c: char) -> bool {
    matches!(c, '“' | '”' | '„' | '‘' | '’' | '‚' | '«' | '»')
}

fn is_typographic_quote(token: &str) -> bool {
    let mut chars = token.chars();
    chars.next().is_some_and(is_typographic_quote_char) && chars.next().is_none()
}

/// What stands before a trailing comma, to name it: a member's key (`"lastName"`)
/// or a short element (`2`, `"b"`).
fn element_before(text: &str) -> Option<String> {
    let element = text.rsplit([',', '\n']).next()?.trim().trim_start_matches(['[', '{']).trim_start();
    if let Some(key) = element.strip_prefix('"').and_then(|rest| rest.split_once("\":")) {
        return Some(format!("\"{}\"", key.0));
    }
    (!element.is_empty() && element.chars().count() <= 40).then(|| element.to_owned())
}

/// The byte offsets of `text` that are outside string literals.
fn outside_quotes(text: &str) -> impl Iterator<Item = usize> + '_ {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    text.char_indices().filter_map(move |(at, c)| match quote {
        Some(open) => {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == open {
                quote = None;
            }
            None
        }
        None if c == '"' || c == '\'' => {
            quote = Some(c);
            None
        }
        None => Some(at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(source: &str, start: usize, message: &str) -> (String, Option<String>, u32) {
        let span = LineIndex::new(source).span(start as u32, start as u32 + 1);
        let (error, suggestion) = syntax(source, SyntaxError { message: message.to_owned(), span });
        (error.message, suggestion, span.column.min(error.span.column))
    }

    #[test]
    fn syntax_hints_spell_out_the_fix() {
        assert_eq!(hint("$email", 0, "expected an expression, found `$`").1.as_deref(), Some("write email"));
        assert_eq!(hint("$(email)", 0, "expected an expression, found `$`").1.as_deref(), Some("write email"));
        assert_eq!(hint("${x} + 1", 0, "expected an expression, found `$`").1.as_deref(), Some("write x"));
        assert_eq!(hint("a = 1", 2, "expected an operator, found `=`").1.as_deref(), Some("use == to compare"));
        assert_eq!(hint("“abc”", 0, "expected an expression, found `“`").1.as_deref(), Some("write \"abc\""));
        let source = "{\n  \"lastName\": ${y},\n}";
        let (message, suggestion, _) = hint(source, source.len() - 1, "expected an object key, found `}`");
        assert!(message.starts_with("a trailing comma"), "{message}");
        assert_eq!(suggestion.as_deref(), Some("remove the comma after \"lastName\""));
        let source = "[\"a\", \"b\",]";
        assert_eq!(
            hint(source, 10, "expected a JSON value, found `]`").1.as_deref(),
            Some("remove the comma after \"b\"")
        );
    }

    #[test]
    fn json_mistakes_are_named_with_their_fix() {
        let cases = [
            (r#"{"a": 1 "b": 2}"#, 8, "expected `,` or `}`, found `\"`", "a missing comma", "write `,` before \"b\""),
            (r#"{"a" 1}"#, 5, "expected `:`, found `1`", "needs a `:`", "write \"a\": 1"),
            ("{a: 1}", 1, "expected an object key (a string) or `}`, found `a`", "double quotes", "write \"a\""),
            ("{\"a\": 1 // x\n}", 8, "expected `,` or `}`, found `/`", "no comments", "remove the comment"),
            (r#"{"a": True}"#, 6, "expected a JSON value, found `True`", "Python's", "write true"),
            (r#"{"a": 1,5}"#, 8, "expected an object key (a string), found `5`", "decimal comma", "write 1.5"),
            (r#"{"a": ${f(x))}}"#, 12, "expected an operator or `}`, found `)`", "no `(`", "remove the `)`"),
            (r#"{"a": ${}}"#, 8, "expected an expression, found `}`", "an empty `${}`", "write a variable"),
            (r#"{"a": $name}"#, 6, "expected a JSON value, found `$`", "does not start a variable", "write ${name}"),
        ];
        for (source, start, message, said, fix) in cases {
            let (message, suggestion, _) = hint(source, start, message);
            assert!(message.contains(said), "{source}: {message}");
            assert!(suggestion.as_deref().unwrap_or_default().starts_with(fix), "{source}: {suggestion:?}");
        }
    }

    #[test]
    fn evaluation_hints() {
        assert!(evaluation("cannot convert \"1,5\" to a number", "x * 2").unwrap().contains("decimal comma"));
        assert_eq!(
            evaluation("cannot convert \"Anna\" to a number", "firstname + \" \"").as_deref(),
            Some("to join text, write firstname += \" \"")
        );
        assert_eq!(evaluation("cannot convert \"a+b\" to a number", "x * \"a+b\""), None);
    }

    #[test]
    fn literal_dollars_and_braces_are_warned_of() {
        let source = "Hi $email, $(name) {{city}} #{zip} costs $5 ${ok}";
        let found: Vec<String> = literal_text(source, std::slice::from_ref(&(source.len() - 5..source.len())))
            .into_iter()
            .map(|d| d.suggestion.unwrap_or_default())
            .collect();
        assert_eq!(found, ["write ${email}", "write ${name}", "write ${city}", "write ${zip}"]);
    }
}
