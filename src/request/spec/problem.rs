//! What is wrong with a spec: each problem with its field and place, the error
//! that gathers them, and the collector the loader fills.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::HeaderName;

use crate::error::Error;
use crate::syntax::Span;
use crate::template::TemplateKind;

use super::*;

/// One problem of a spec: the field it sits in, what is wrong, how to fix it when
/// that is certain, and where it is in the file the author edits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The field, as a path: `url`, `headers.X-Shop`, `mappings[1].source`; empty
    /// for a file that does not parse.
    pub field: String,
    /// A stable identifier: `spec` for the spec's own rules, a template code
    /// (`syntax`, `unknown-function`, ...) for a template problem.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something to suggest.
    pub suggestion: Option<String>,
    /// The file the problem is in when it is not the spec itself: a `payload_file`.
    pub file: Option<PathBuf>,
    /// Where: in the spec's text, or in [`Self::file`] when that is set. `None`
    /// when the spec did not come from text.
    pub span: Option<Span>,
    /// For a template problem, its place inside the field's text (before placing).
    pub(crate) in_template: Option<Span>,
}

impl Problem {
    pub(super) fn new(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            field: field.into(),
            code: "spec",
            message: message.into(),
            suggestion: None,
            file: None,
            span: None,
            in_template: None,
        }
    }

    /// Whether it came from compiling a template (which `check` reports in full
    /// from the template itself).
    pub fn is_template_problem(&self) -> bool {
        self.code != "spec"
    }
}

/// A template of a spec: the field it is in, the context its field implies, and
/// its text (for a `payload_file`, the file's whole text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateField {
    /// The field, as in [`Problem::field`].
    pub field: String,
    /// The context it is compiled in.
    pub kind: TemplateKind,
    /// The template's text.
    pub source: String,
    /// The file it was read from, for a `payload_file`.
    pub file: Option<PathBuf>,
}

/// A spec that cannot be used: every problem found, each with its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The spec file, when it came from one.
    pub file: Option<PathBuf>,
    /// The problems, in the order of the fields.
    pub problems: Vec<Problem>,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, problem) in self.problems.iter().enumerate() {
            if position > 0 {
                f.write_str("\n")?;
            }
            match (problem.file.as_ref().or(self.file.as_ref()), problem.span) {
                (Some(file), Some(span)) => write!(f, "{}:{}:{}: ", file.display(), span.line, span.column)?,
                (Some(file), None) => write!(f, "{}: ", file.display())?,
                (None, Some(span)) => write!(f, "line {}, column {}: ", span.line, span.column)?,
                (None, None) => {}
            }
            if !problem.field.is_empty() {
                write!(f, "{}: ", problem.field)?;
            }
            if problem.file.is_some() {
                // Another file's text is not the spec author's to show (a payload_file
                // may be a link to anything): its place and the kind of problem only.
                // `courier check` shows the whole diagnostic to the author.
                write!(
                    f,
                    "not a valid template there ({}); run `courier check` on the spec for details",
                    problem.code
                )?;
                continue;
            }
            f.write_str(&problem.message)?;
            if let Some(suggestion) = &problem.suggestion {
                write!(f, "; {suggestion}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for SpecError {}

/// The problems found while compiling a spec, and the templates compiled.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    pub(crate) found: Vec<Problem>,
    pub(crate) templates: Vec<TemplateField>,
}

impl Problems {
    pub(crate) fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.found.push(Problem::new(field, message));
    }

    pub(crate) fn push_with(
        &mut self,
        field: impl Into<String>,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) {
        let mut problem = Problem::new(field, message);
        problem.suggestion = suggestion;
        self.found.push(problem);
    }

    /// The compiled template of `field`, or `None` with its error recorded.
    pub(crate) fn template<T>(
        &mut self,
        field: &str,
        kind: TemplateKind,
        source: &str,
        compiled: Result<T, Error>,
    ) -> Option<T> {
        self.template_from(field, kind, source, None, compiled)
    }

    /// The compiled template of `field`, read from `file` (a `payload_file`).
    pub(crate) fn template_from<T>(
        &mut self,
        field: &str,
        kind: TemplateKind,
        source: &str,
        file: Option<&Path>,
        compiled: Result<T, Error>,
    ) -> Option<T> {
        let file = file.map(Path::to_owned);
        self.templates.push(TemplateField {
            field: field.to_owned(),
            kind,
            source: source.to_owned(),
            file: file.clone(),
        });
        compiled
            .map_err(|error| {
                self.found.push(Problem {
                    field: field.to_owned(),
                    code: error.kind().code(),
                    message: error.message().to_owned(),
                    suggestion: error.suggestion().map(str::to_owned),
                    file,
                    span: None,
                    in_template: error.span(),
                })
            })
            .ok()
    }

    pub(crate) fn duration(&mut self, field: &str, text: Option<&str>, default: Duration) -> Duration {
        let Some(text) = text else { return default };
        match humantime::parse_duration(text) {
            Ok(duration) if duration.is_zero() => {
                self.push(field, "must be longer than zero");
                default
            }
            Ok(duration) if duration > MAX_DURATION => {
                let most = humantime::format_duration(MAX_DURATION);
                self.push(field, format!("{text:?} is longer than the most a request may wait, {most}"));
                default
            }
            Ok(duration) => duration,
            Err(error) => {
                // A bare number is most likely seconds.
                let suggestion = text.trim().parse::<u64>().ok().map(|seconds| format!("write \"{seconds}s\""));
                self.push_with(
                    field,
                    format!("{text:?} is not a duration such as \"500ms\", \"20s\" or \"1m\": {error}"),
                    suggestion,
                );
                default
            }
        }
    }

    pub(super) fn header_name(&mut self, field: &str, name: &str) -> Option<HeaderName> {
        HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| self.push(field, format!("{name:?} is not a valid header name")))
            .ok()
    }
}
