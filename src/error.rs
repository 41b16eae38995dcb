//! The library's error: a kind, a message, and where in which source.

use std::fmt::{self, Display, Formatter};
use std::sync::Arc;

use crate::diagnostics::Diagnostic;
use crate::syntax::{Span, SyntaxError};

/// What went wrong, broadly; the message says precisely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The source does not parse.
    Syntax,
    /// A call names no registered function.
    UnknownFunction,
    /// A call has too few or too many arguments.
    Arity,
    /// A constant argument can never work (a bad regex, an unknown time zone).
    InvalidArgument,
    /// Evaluation failed: a coercion, a function's error, division by zero.
    Evaluation,
    /// A safety limit was reached (depth, size, work).
    Limit,
    /// The rendered output is not allowed in its context (a CR in a header, NaN in JSON).
    Render,
}

impl ErrorKind {
    /// The stable code used in diagnostics.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Syntax => "syntax",
            ErrorKind::UnknownFunction => "unknown-function",
            ErrorKind::Arity => "arity",
            ErrorKind::InvalidArgument => "invalid-argument",
            ErrorKind::Evaluation => "evaluation",
            ErrorKind::Limit => "limit",
            ErrorKind::Render => "render",
        }
    }
}

/// An error with its place: `line 3, column 14: cannot convert "abc" to a number
/// (in: toInteger(consumption))`.
///
/// Boxed, so that a `Result<Value, Error>` stays as small as a value on the hot path.
#[derive(Debug, Clone)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    span: Option<Span>,
    source: Option<Arc<str>>,
    suggestion: Option<String>,
    /// Whether messages quote the source at the span (`(in: toInteger(x))`): for
    /// errors found while evaluating, not for compile-time diagnostics, whose message
    /// already says what is wrong with the text.
    quote_source: bool,
}

impl Error {
    /// A new error without a place.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error(Box::new(Inner {
            kind,
            message: message.into(),
            span: None,
            source: None,
            suggestion: None,
            quote_source: true,
        }))
    }

    /// The same error placed at `span` of `source`.
    pub(crate) fn at(mut self, span: Span, source: &Arc<str>) -> Self {
        if self.0.kind == ErrorKind::Evaluation && self.0.suggestion.is_none() {
            let text = source.get(span.range()).unwrap_or_default();
            self.0.suggestion = crate::hints::evaluation(&self.0.message, text);
        }
        self.0.span = Some(span);
        self.0.source = Some(source.clone());
        self
    }

    pub(crate) fn with_suggestion(mut self, suggestion: Option<String>) -> Self {
        self.0.suggestion = suggestion;
        self
    }

    pub(crate) fn from_syntax(error: SyntaxError, source: &Arc<str>) -> Self {
        let (error, suggestion) = crate::hints::syntax(source, error);
        Error::new(ErrorKind::Syntax, error.message).at(error.span, source).with_suggestion(suggestion)
    }

    pub(crate) fn from_diagnostic(diagnostic: &Diagnostic, kind: ErrorKind, source: &Arc<str>) -> Self {
        let mut error = Error::new(kind, diagnostic.message.clone())
            .at(diagnostic.span, source)
            .with_suggestion(diagnostic.suggestion.clone());
        error.0.quote_source = false;
        error
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    /// The message alone, without the place.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Where the error is, when it has a place.
    pub fn span(&self) -> Option<Span> {
        self.0.span
    }

    /// A suggestion for fixing it, if any.
    pub fn suggestion(&self) -> Option<&str> {
        self.0.suggestion.as_deref()
    }

    /// The error as a diagnostic, when it has a place.
    pub fn to_diagnostic(&self) -> Option<Diagnostic> {
        let mut diagnostic = Diagnostic::error(self.0.kind.code(), self.0.message.clone(), self.0.span?);
        diagnostic.suggestion = self.0.suggestion.clone();
        Some(diagnostic)
    }

    /// The full human form: the message with its place, the source line and a caret.
    pub fn render(&self, file: Option<&str>) -> String {
        match (self.to_diagnostic(), &self.0.source) {
            (Some(mut diagnostic), Some(source)) => {
                diagnostic.message = self.message_with_context();
                diagnostic.render(file, source)
            }
            _ => format!("error[{}]: {}\n", self.0.kind.code(), self.0.message),
        }
    }

    /// The message, followed by the source text it happened in for evaluation errors.
    fn message_with_context(&self) -> String {
        let in_text =
            self.0.quote_source && matches!(self.0.kind, ErrorKind::Evaluation | ErrorKind::Limit | ErrorKind::Render);
        match (&self.0.source, self.0.span) {
            (Some(source), Some(span)) if in_text && span.end > span.start => {
                let text = source.get(span.range()).unwrap_or_default();
                let mut shown: String = text.chars().take(80).collect();
                if shown.len() < text.len() {
                    shown.push('…');
                }
                format!("{} (in: {shown})", self.0.message)
            }
            _ => self.0.message.clone(),
        }
    }
}

impl Display for Error {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(span) = self.0.span {
            write!(f, "line {}, column {}: ", span.line, span.column)?;
        }
        f.write_str(&self.message_with_context())?;
        if let Some(suggestion) = &self.0.suggestion {
            write!(f, "; {suggestion}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
