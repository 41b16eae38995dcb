//! `check`: every problem of a template, not just the first.
//!
//! Compiling stops at the first error; checking goes on. The pre-scan splits the
//! source into holes, and each `${...}` is parsed and compiled on its own, so that a
//! broken hole does not hide the problems of the others. The context's own rules are
//! checked beside: the JSON structure (with each hole taken as a valid value, so a
//! broken hole does not hide a missing comma), a URL's or header's literal text.

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use super::{TemplateKind, header, url};
use crate::diagnostics::Diagnostic;
use crate::eval::{CheckOptions, Compiler, Engine};
use crate::syntax::scan::{ScanMode, scan_holes};
use crate::syntax::{LineIndex, SyntaxError, check_json_structure, parse_hole};

/// Every problem of `source` as a template of `kind`, sorted by position: syntax
/// errors (at least one per broken hole), JSON structure errors, unknown functions
/// (with the closest name), wrong argument counts, constant arguments certain to
/// fail, a URL's or header's literal text, and warnings for likely mistakes
/// (comparing two variables as text, `+` on text that is not a number, and with
/// [`CheckOptions::known_variables`] a variable that is never defined).
///
/// When it reports no error, the template compiles.
///
/// ```
/// use courier::Engine;
/// use courier::template::{CheckOptions, TemplateKind, check};
///
/// let source = "{\n  \"a\": ${toInterger(x)},\n  \"b\": ${1 +}\n  \"c\": 3\n}";
/// let diagnostics = check(&Engine::new(), source, TemplateKind::Json, &CheckOptions::default());
/// let found: Vec<(u32, u32, &str)> =
///     diagnostics.iter().map(|d| (d.span.line, d.span.column, d.code)).collect();
/// assert_eq!(found, [(2, 10, "unknown-function"), (3, 13, "syntax"), (4, 3, "syntax")]);
/// assert_eq!(diagnostics[0].suggestion.as_deref(), Some("did you mean toInteger?"));
/// ```
pub fn check(engine: &Engine, source: &str, kind: TemplateKind, options: &CheckOptions) -> Vec<Diagnostic> {
    let mode = if kind == TemplateKind::Json { ScanMode::Json } else { ScanMode::Template };
    let scan = scan_holes(source, mode, &engine.limits().nesting);
    let shared_source: Arc<str> = Arc::from(source);
    let index = LineIndex::new(source);
    let mut diagnostics = Vec::new();
    let mut compiler = Compiler::new(&engine.shared, &shared_source, Some(options));
    for hole in &scan.holes {
        match parse_hole(&index, hole.start, hole.end) {
            Ok(expr) => drop(compiler.compile(&expr)),
            Err(error) => diagnostics.push(syntax(source, error)),
        }
    }
    diagnostics.extend(compiler.into_diagnostics());
    diagnostics.extend(scan.string_problems.into_iter().map(|error| syntax(source, error)));
    diagnostics.extend(crate::hints::literal_text(source, &scan.holes));
    match scan.error {
        // The layout after an unterminated construct is unknown: report it alone.
        Some(error) => diagnostics.push(syntax(source, error)),
        None => match kind {
            TemplateKind::Json => {
                if let Err(error) = check_json_structure(source, &scan.holes) {
                    // An error inside a hole is that hole's own (`${}`), reported above;
                    // one at its `$` is the JSON's: no value may stand there.
                    let at = error.span.start as usize;
                    if !scan.holes.iter().any(|hole| hole.start < at && at < hole.end) {
                        diagnostics.push(syntax(source, error));
                    }
                }
                diagnostics.extend(quoted_conversions(source, &index, &scan.holes));
            }
            TemplateKind::Url => {
                let layout = url::analyze(source, &scan.holes);
                let known = options.known_variables.as_ref();
                diagnostics.extend(empty_segments(source, &index, &scan.holes, &layout.positions, known));
                diagnostics.extend(layout.diagnostics);
            }
            TemplateKind::Header => diagnostics.extend(header::literal_problems(source, &scan.holes)),
            TemplateKind::Text | TemplateKind::Form => {}
        },
    }
    diagnostics.sort_by_key(|diagnostic| (diagnostic.span.start, diagnostic.span.end));
    diagnostics.dedup_by(|a, b| a.span == b.span && a.code == b.code && a.message == b.message);
    diagnostics
}

fn syntax(source: &str, error: SyntaxError) -> Diagnostic {
    let (error, suggestion) = crate::hints::syntax(source, error);
    let diagnostic = Diagnostic::error("syntax", error.message, error.span);
    match suggestion {
        Some(suggestion) => diagnostic.with_suggestion(suggestion),
        None => diagnostic,
    }
}

/// The conversions that turn a value into a number or a boolean.
const CONVERSIONS: [&str; 3] = ["toInteger(", "toDouble(", "toBoolean("];

/// `"${toInteger(x)}"` in a JSON payload: the quotes make the number text again.
fn quoted_conversions(source: &str, index: &LineIndex, holes: &[Range<usize>]) -> Vec<Diagnostic> {
    let bytes = source.as_bytes();
    holes
        .iter()
        .filter(|hole| {
            let quoted = hole.start > 0 && bytes[hole.start - 1] == b'"' && bytes.get(hole.end) == Some(&b'"');
            let inner = source[hole.start + 2..hole.end - 1].trim_start();
            quoted && CONVERSIONS.iter().any(|conversion| inner.starts_with(conversion))
        })
        .map(|hole| {
            let written = &source[hole.clone()];
            let span = index.span(hole.start as u32 - 1, hole.end as u32 + 1);
            Diagnostic::warning(
                "quoted-conversion",
                format!("the quotes around {written} make its value text again"),
                span,
            )
            .with_suggestion(format!("remove the quotes around {written} to send a number or a boolean"))
        })
        .collect()
}

/// A hole that is a whole URL path segment (`/products/${id}/price`) and reads a
/// variable known to be unset (the variables were given and it is not among them):
/// it renders empty, and the renderer refuses a path that would get `//`. Without
/// the variables nothing is known, and a correct spec gets no warning.
fn empty_segments(
    source: &str,
    index: &LineIndex,
    holes: &[Range<usize>],
    positions: &[url::UrlPosition],
    known: Option<&HashSet<String>>,
) -> Vec<Diagnostic> {
    let Some(known) = known else {
        return Vec::new();
    };
    holes
        .iter()
        .zip(positions)
        .filter_map(|(hole, position)| {
            let before = source[..hole.start].ends_with('/');
            let after = source[hole.end..].chars().next().is_none_or(|c| matches!(c, '/' | '?' | '#'));
            let name = source[hole.start + 2..hole.end - 1].trim();
            let bare = !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            (*position == url::UrlPosition::Path && before && after && bare && !known.contains(name))
                .then_some((hole, name))
        })
        .map(|(hole, name)| {
            let written = &source[hole.clone()];
            Diagnostic::warning(
                "empty-segment",
                format!(
                    "{written} is a whole path segment and {name} is not among the variables: it renders empty, \
                     and a path with `//` is refused"
                ),
                index.span(hole.start as u32, hole.end as u32),
            )
            .with_suggestion(format!("set {name}, or test it first: empty {name} ? ... : {name}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::diagnostics::Severity;
    use crate::template::{FormTemplate, HeaderTemplate, JsonTemplate, Template, UrlTemplate};

    fn found(source: &str, kind: TemplateKind) -> Vec<(u32, u32, &'static str, String)> {
        check(&Engine::new(), source, kind, &CheckOptions::default())
            .into_iter()
            .map(|d| (d.span.line, d.span.column, d.code, d.message))
            .collect()
    }

    fn compiles(source: &str, kind: TemplateKind) -> Result<(), crate::Error> {
        let engine = Engine::new();
        match kind {
            TemplateKind::Text => Template::compile(&engine, source).map(drop),
            TemplateKind::Json => JsonTemplate::compile(&engine, source).map(drop),
            TemplateKind::Url => UrlTemplate::compile(&engine, source).map(drop),
            TemplateKind::Header => HeaderTemplate::compile(&engine, source).map(drop),
            TemplateKind::Form => FormTemplate::compile(&engine, source).map(drop),
        }
    }

    #[test]
    fn every_broken_hole_is_reported() {
        let source = "Hi ${1 +}, ${toInterger(x)} and ${f(}\nbye ${a b}";
        let found = found(source, TemplateKind::Text);
        let places: Vec<(u32, u32, &str)> =
            found.iter().map(|(line, column, code, _)| (*line, *column, *code)).collect();
        assert_eq!(places, [(1, 9, "syntax"), (1, 14, "unknown-function"), (1, 37, "syntax"), (2, 9, "syntax")]);
        assert_eq!(found[0].3, "expected an expression, found `}`");
        assert_eq!(found[3].3, "expected an operator or `}`, found `b`");
    }

    #[test]
    fn json_structure_and_holes_are_both_checked() {
        let source = "{\n  \"a\": ${}\n  \"b\": ${x y},\n  \"c\": [1 2]\n}";
        let places: Vec<(u32, u32)> = found(source, TemplateKind::Json).iter().map(|f| (f.0, f.1)).collect();
        // The empty hole and the bad hole. The structure check stops at its first
        // error, the missing comma after `${}`, which is the empty hole's own.
        assert_eq!(places, [(2, 10), (3, 12)], "{:?}", found(source, TemplateKind::Json));
        let source = "{\n  \"a\": ${x}\n  \"b\": ${x y}\n}";
        let places: Vec<(u32, u32)> = found(source, TemplateKind::Json).iter().map(|f| (f.0, f.1)).collect();
        assert_eq!(places, [(3, 3), (3, 12)]);
    }

    #[test]
    fn every_bad_json_string_is_reported_and_holes_after_them_too() {
        let source = "{\n  \"a\": \"tab\there\",\n  \"b\": \"\\q\",\n  \"c\": \"open,\n  \"d\": ${nope()}\n}";
        let places: Vec<(u32, u32, &str)> =
            found(source, TemplateKind::Json).into_iter().map(|(line, column, code, _)| (line, column, code)).collect();
        assert_eq!(places, [(2, 12, "syntax"), (3, 9, "syntax"), (4, 14, "syntax"), (5, 10, "unknown-function")]);
    }

    #[test]
    fn an_unterminated_hole_is_reported_after_the_holes_before_it() {
        let found = found("${nope(1)} ${x", TemplateKind::Text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[1].0, found[1].1, found[1].2), (1, 12, "syntax"));
    }

    #[test]
    fn lint_warnings_and_known_variables() {
        let options = CheckOptions { known_variables: Some(HashSet::from(["age".to_owned(), "limit".to_owned()])) };
        let diagnostics =
            check(&Engine::new(), "${age < limit} ${agee + 1} ${'abc' + age}", TemplateKind::Text, &options);
        let codes: Vec<(&str, Severity)> = diagnostics.iter().map(|d| (d.code, d.severity)).collect();
        assert_eq!(
            codes,
            [
                ("text-comparison", Severity::Warning),
                ("undefined-variable", Severity::Warning),
                ("text-arithmetic", Severity::Warning)
            ]
        );
        assert_eq!(diagnostics[1].suggestion.as_deref(), Some("did you mean age?"));
    }

    #[test]
    fn numbers_held_as_text_compared_with_lt_are_warned_of() {
        let found = check(
            &Engine::new(),
            r#"${"10" < "9"} ${price < "100"} ${price < 100}"#,
            TemplateKind::Text,
            &CheckOptions::default(),
        );
        let fixes: Vec<(&str, Option<&str>)> = found.iter().map(|d| (d.code, d.suggestion.as_deref())).collect();
        assert_eq!(
            fixes,
            [
                ("text-comparison", Some("compare numbers: 10 < 9")),
                ("text-comparison", Some("compare numbers: toInteger(price) < 100"))
            ]
        );
    }

    #[test]
    fn a_whole_path_segment_is_flagged_only_when_its_variable_is_known_to_be_unset() {
        let url = "https://shop.example.org/products/${product_id}/price?c=${currency}";
        let codes = |known: Option<&[&str]>| {
            let known_variables = known.map(|names| names.iter().map(|name| name.to_string()).collect());
            let options = CheckOptions { known_variables };
            check(&Engine::new(), url, TemplateKind::Url, &options).into_iter().map(|d| d.code).collect::<Vec<_>>()
        };
        assert_eq!(codes(None), Vec::<&str>::new(), "a correct URL gets no warning");
        assert_eq!(codes(Some(&["product_id", "currency"])), Vec::<&str>::new());
        assert_eq!(codes(Some(&["currency"])), ["empty-segment", "undefined-variable"]);
    }

    #[test]
    fn context_rules_are_checked() {
        assert_eq!(
            found("https://x.org/a b/${x}", TemplateKind::Url)[0].3,
            "a URL cannot hold a space; write it percent-encoded as %20"
        );
        assert!(found("x.org/${x}", TemplateKind::Url)[0].3.contains("must start with http://"));
        assert!(found("a\n${x}", TemplateKind::Header)[0].3.contains("line feed"));
        assert!(found("a\n${x}", TemplateKind::Text).is_empty());
        assert!(found("a b ${x}", TemplateKind::Form).is_empty());
    }

    #[test]
    fn no_error_means_it_compiles_and_an_error_that_it_does_not() {
        let cases = [
            "plain",
            "${x}",
            "${toInteger(\"abc\")}",
            "${nope()}",
            "${toInteger()}",
            "${1 +}",
            "${x",
            "\\${x",
            "{\"a\": ${x}}",
            "{\"a\": ${x} \"b\": 1}",
            "{\"a\": \"${x}\\q\"}",
            "[\"\\ud800\"]",
            "{${k}: [${v}, \"${w}\"]}",
            "{\"a\": ${}}",
            "{\"a\": \"x\ny\", \"b\": \"\\q\", \"c\": ${nope()}}",
            "[\"a ${x} b",
            "1${}",
            "{\"a\": 1 ${x}}",
            "https://x.org/${x}?q=${y}",
            "${base}/a b",
            "x.org",
            "https://x.org/../${x}",
            "a\r${x}",
            "${\"a\n\"}",
            &"[".repeat(1000),
            &format!("${{{}1{}}}", "(".repeat(150), ")".repeat(150)),
        ];
        for source in cases {
            for kind in TemplateKind::ALL {
                let diagnostics = check(&Engine::new(), source, kind, &CheckOptions::default());
                let has_error = diagnostics.iter().any(|d| d.severity == Severity::Error);
                let compiled = compiles(source, kind);
                let certain = diagnostics.iter().all(|d| d.code == "certain-error" || d.severity == Severity::Warning);
                match compiled {
                    Ok(()) => {
                        assert!(!has_error || certain, "{kind} {source:?} compiles but check says {diagnostics:?}")
                    }
                    Err(error) => {
                        assert!(has_error, "{kind} {source:?} fails ({error}) but check finds nothing");
                        let spans: Vec<_> = diagnostics.iter().map(|d| Some(d.span)).collect();
                        assert!(spans.contains(&error.span()), "{kind} {source:?}: {error} vs {diagnostics:?}");
                    }
                }
            }
        }
    }
}
