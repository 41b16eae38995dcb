//! `check` for request specs: every problem the loader finds (the same
//! validation `send` runs, collected rather than stopped at the first), and every
//! template of the spec checked in full in the context its field implies — each
//! placed at its line and column in the file the author edits.

use std::path::{Path, PathBuf};

use super::source::SpecFormat;
use super::spec::analyze;
use crate::diagnostics::Diagnostic;
use crate::eval::{CheckOptions, Engine};
use crate::syntax::LineIndex;
use crate::template::check as check_template;

/// One problem of a spec, in the spec's text or in a file it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecFinding {
    /// The file the problem is in when it is not the spec itself (a `payload_file`);
    /// the diagnostic's span is in that file's text then.
    pub file: Option<PathBuf>,
    /// The problem; its message starts with the field it is in.
    pub diagnostic: Diagnostic,
}

/// Whether `text` is a request spec rather than a template: a JSON object with a
/// `url` or `method` field whose members are mostly spec fields, or a TOML document
/// with a `url` or `method` field or a spec table.
///
/// ```
/// use courier::request::check::looks_like_spec;
///
/// assert!(looks_like_spec("{\"url\": \"https://x.org\", \"method\": \"POST\", \"timout\": \"5s\"}"));
/// assert!(!looks_like_spec("{\"url\": \"${link}\", \"name\": \"${name}\", \"email\": \"${email}\"}"));
/// assert!(looks_like_spec("# a spec\nurl = \"https://x.org\"\n"));
/// assert!(!looks_like_spec("Hello ${name}"));
/// ```
pub fn looks_like_spec(text: &str) -> bool {
    match SpecFormat::of(text) {
        // A JSON payload may have a `url` member too: a spec's members are mostly spec fields.
        SpecFormat::Json => {
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(text).is_ok_and(|fields| {
                let known = super::fields::top_level_fields();
                let spec_fields = fields.keys().filter(|key| known.contains(key)).count();
                (fields.contains_key("url") || fields.contains_key("method")) && spec_fields * 2 > fields.len()
            })
        }
        SpecFormat::Toml => text.lines().map(str::trim_start).any(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            (line.contains('=') && matches!(key, "url" | "method"))
                || ["[headers]", "[body]", "[auth]", "[retry]", "[[mappings]]", "[[response_headers]]"]
                    .iter()
                    .any(|table| line.starts_with(table))
        }),
    }
}

/// Every problem of the spec `text` (TOML or JSON, told apart by content), sorted
/// by file and position. `base_dir` is where its relative paths start.
///
/// ```
/// use courier::Engine;
/// use courier::request::check::check_spec;
/// use courier::template::CheckOptions;
///
/// let spec = "method = \"POTS\"\nurl = \"shop.example.org/${id}\"\ntimout = \"5s\"\n";
/// let found = check_spec(&Engine::new(), spec, ".".as_ref(), &CheckOptions::default());
/// let places: Vec<(u32, u32)> = found.iter().map(|f| (f.diagnostic.span.line, f.diagnostic.span.column)).collect();
/// // The method, the URL's missing scheme, a warning that `${id}` may render empty, the field.
/// assert_eq!(places, [(1, 10), (2, 8), (2, 25), (3, 1)]);
/// assert_eq!(found[0].diagnostic.suggestion.as_deref(), Some("write \"POST\""));
/// assert_eq!(found[3].diagnostic.suggestion.as_deref(), Some("did you mean `timeout`?"));
/// ```
pub fn check_spec(engine: &Engine, text: &str, base_dir: &Path, options: &CheckOptions) -> Vec<SpecFinding> {
    let analysis = analyze(engine, text, SpecFormat::of(text), base_dir);
    let index = LineIndex::new(text);
    let mut findings = Vec::new();
    if let Err(error) = &analysis.result {
        // Template problems come from the templates' own check below, in full.
        for problem in error.problems.iter().filter(|problem| !problem.is_template_problem()) {
            let span = problem.span.unwrap_or_else(|| index.span(0, 0));
            let message = if problem.field.is_empty() {
                problem.message.clone()
            } else {
                format!("{}: {}", problem.field, problem.message)
            };
            let mut diagnostic = Diagnostic::error(problem.code, message, span);
            diagnostic.suggestion = problem.suggestion.clone();
            findings.push(SpecFinding { file: problem.file.clone(), diagnostic });
        }
    }
    for template in &analysis.templates {
        for mut diagnostic in check_template(engine, &template.source, template.kind, options) {
            if template.file.is_none() {
                let source = analysis.source.as_ref();
                match source.and_then(|source| source.inside(&template.field, diagnostic.span.range())) {
                    Some(range) => diagnostic.span = index.span(range.start as u32, range.end as u32),
                    None => {
                        // Escapes that could not be followed: point at the value, say where in it.
                        let inner = diagnostic.span;
                        let value = source.and_then(|source| source.place(&template.field)).map(|at| at.value.clone());
                        let value = value.unwrap_or(0..0);
                        diagnostic.span = index.span(value.start as u32, value.end as u32);
                        diagnostic.message = format!(
                            "line {}, column {} of the value: {}",
                            inner.line, inner.column, diagnostic.message
                        );
                    }
                }
            }
            diagnostic.message = format!("{} ({}): {}", template.field, template.kind.name(), diagnostic.message);
            findings.push(SpecFinding { file: template.file.clone(), diagnostic });
        }
    }
    findings.sort_by(|a, b| (&a.file, a.diagnostic.span.start).cmp(&(&b.file, b.diagnostic.span.start)));
    findings
}
