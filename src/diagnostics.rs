//! Diagnostics: one type for every problem courier reports about a template, with
//! a human form (file, line, column, the source line and a caret) and a JSON form
//! for editors and CI.

use std::fmt::Write;

use serde::Serialize;

use crate::syntax::Span;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A likely mistake; the template still works.
    Warning,
    /// The template cannot work.
    Error,
}

/// One problem in one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable identifier (`syntax`, `unknown-function`, ...), for tools and docs.
    pub code: &'static str,
    /// What is wrong, in words.
    pub message: String,
    /// Where.
    pub span: Span,
    /// What to do about it, when there is something to suggest.
    pub suggestion: Option<String>,
}

impl Diagnostic {
    /// An error diagnostic.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Diagnostic { severity: Severity::Error, code, message: message.into(), span, suggestion: None }
    }

    /// A warning diagnostic.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span) -> Self {
        Diagnostic { severity: Severity::Warning, code, message: message.into(), span, suggestion: None }
    }

    /// The same diagnostic with a suggestion.
    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestion = Some(suggestion.into());
        self
    }

    /// The human form: a heading, the source line, and a caret under the span.
    ///
    /// ```text
    /// error[unknown-function]: payload.json:3:18: unknown function toInterger
    ///   |
    /// 3 |   "consumption": ${toInterger(consumption)},
    ///   |                    ^^^^^^^^^^
    ///   = help: did you mean toInteger?
    /// ```
    pub fn render(&self, file: Option<&str>, source: &str) -> String {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        let place = match file {
            Some(file) => format!("{file}:{}:{}", self.span.line, self.span.column),
            None => format!("line {}, column {}", self.span.line, self.span.column),
        };
        let _ = writeln!(out, "{severity}[{}]: {place}: {}", self.code, self.message);
        out.push_str(&excerpt(source, self.span));
        if let Some(suggestion) = &self.suggestion {
            let gutter = " ".repeat(self.span.line.to_string().len());
            let _ = writeln!(out, "{gutter} = help: {suggestion}");
        }
        out
    }

    /// The JSON form: file, line, column, end, severity, code, message, suggestion.
    pub fn to_json(&self, file: Option<&str>, source: &str) -> serde_json::Value {
        let end = crate::syntax::LineIndex::new(source).span(self.span.end, self.span.end);
        serde_json::json!({
            "file": file,
            "line": self.span.line,
            "column": self.span.column,
            "end": { "line": end.line, "column": end.column, "offset": self.span.end },
            "offset": self.span.start,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "suggestion": self.suggestion,
        })
    }
}

/// The widest excerpt shown, in characters; a longer line is cut around the span.
const WIDEST_EXCERPT: usize = 100;

/// The source line of `span` with a caret line under it (the span's first line only;
/// a long line is shown in a window around the span, cut ends marked `…`).
pub fn excerpt(source: &str, span: Span) -> String {
    let mut start = (span.start as usize).min(source.len());
    while !source.is_char_boundary(start) {
        start -= 1;
    }
    let line_start = source[..start].rfind('\n').map_or(0, |at| at + 1);
    let line_end = source[start..].find('\n').map_or(source.len(), |at| start + at);
    let line: Vec<char> = source[line_start..line_end].trim_end_matches('\r').chars().collect();
    let column = source[line_start..start].chars().count();
    let mut end = (span.end as usize).clamp(start, line_end);
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let width = source[start..end].chars().count().max(1);
    // The window: the whole line when it fits, else from a little before the span.
    let first = if line.len() <= WIDEST_EXCERPT { 0 } else { column.saturating_sub(WIDEST_EXCERPT / 4) };
    let last = (first + WIDEST_EXCERPT).min(line.len());
    let before = if first > 0 { "…" } else { "" };
    let after = if last < line.len() { "…" } else { "" };
    let shown: String = line[first.min(last)..last].iter().map(|c| if *c == '\t' { ' ' } else { *c }).collect();
    let caret_at = column - first + before.chars().count();
    let caret_width = width.min((last + 1).saturating_sub(column)).max(1);
    let gutter = span.line.to_string();
    let pad = " ".repeat(gutter.len());
    format!("{pad} |\n{gutter} | {before}{shown}{after}\n{pad} | {}{}\n", " ".repeat(caret_at), "^".repeat(caret_width))
}

/// The known name closest to `name`, when it is close enough to be a likely typo.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lowered = name.to_lowercase();
    known
        .into_iter()
        .map(|candidate| (edit_distance(&lowered, &candidate.to_lowercase()), candidate))
        .filter(|(distance, candidate)| *distance <= (candidate.len() / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance over characters, where swapping two neighbours is one edit
/// (optimal string alignment): `POTS` is one edit from `POST`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut before_previous: Vec<usize> = Vec::new();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            let mut best = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
            if i > 0 && j > 0 && *ca == b[j - 1] && a[i - 1] == *cb {
                best = best.min(before_previous[j - 1] + 1);
            }
            current.push(best);
        }
        before_previous = std::mem::replace(&mut previous, current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::LineIndex;

    #[test]
    fn caret_sits_under_the_span() {
        let source = "a\n  \"x\": ${toInterger(y)}\n";
        let start = source.find("toInterger").unwrap() as u32;
        let span = LineIndex::new(source).span(start, start + 10);
        let text = Diagnostic::error("unknown-function", "unknown function toInterger", span)
            .with_suggestion("did you mean toInteger?")
            .render(Some("p.json"), source);
        assert_eq!(
            text,
            "error[unknown-function]: p.json:2:10: unknown function toInterger\n  |\n2 |   \"x\": ${toInterger(y)}\n  |          ^^^^^^^^^^\n  = help: did you mean toInteger?\n"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_span() {
        let source = format!("{}${{x y}}{}", "a".repeat(500), "b".repeat(500));
        let at = 500 + 4;
        let span = LineIndex::new(&source).span(at as u32, at as u32 + 1);
        let text = excerpt(&source, span);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("1 | …aaaa") && lines[1].ends_with("bbb…"), "{text}");
        assert!(lines[1].chars().count() < 110, "{text}");
        let caret = lines[2].chars().position(|c| c == '^').unwrap();
        assert_eq!(lines[1].chars().nth(caret), Some('y'), "{text}");
        // Short lines are shown whole, a span reaching past the line is cut at its end.
        let text = excerpt("ab\ncd", Span { start: 1, end: 5, line: 1, column: 2 });
        assert_eq!(text, "  |\n1 | ab\n  |  ^\n");
    }

    #[test]
    fn suggestions_find_typos_only() {
        let known = ["toInteger", "toDouble", "stringConcat"];
        assert_eq!(closest("toInterger", known), Some("toInteger"));
        assert_eq!(closest("tointeger", known), Some("toInteger"));
        assert_eq!(closest("completelyDifferent", known), None);
        assert_eq!(closest("POTS", ["GET", "POST", "PUT"]), Some("POST"));
    }
}
