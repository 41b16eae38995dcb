//! The header context: request header values.
//!
//! A hole becomes its string form. A header value cannot hold CR, LF or NUL (nor
//! any other ASCII control character but the tab): a value that would is an error,
//! never repaired, so that no variable can add a header or end the header block.
//! The error names the hole and the character, not the value.

use std::ops::Range;

use super::Template;
use crate::diagnostics::Diagnostic;
use crate::error::{Error, ErrorKind};
use crate::eval::Engine;
use crate::functions::Context;
use crate::syntax::LineIndex;
use crate::variables::VariableSource;

/// A compiled header-context template: immutable, `Send + Sync`.
///
/// ```
/// use courier::{Context, Engine, ErrorKind, Variables};
/// use courier::template::HeaderTemplate;
///
/// let template = HeaderTemplate::compile(&Engine::new(), "Bearer ${token}").unwrap();
/// let ok = Variables::from_strings([("token", "abc")]);
/// assert_eq!(template.render(&ok, &Context::default()).unwrap(), "Bearer abc");
/// let injected = Variables::from_strings([("token", "abc\r\nX-Admin: 1")]);
/// let error = template.render(&injected, &Context::default()).unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::Render);
/// ```
#[derive(Debug, Clone)]
pub struct HeaderTemplate {
    template: Template,
}

impl HeaderTemplate {
    /// Compiles a header-context template. Literal text with a forbidden character is
    /// an error of kind [`ErrorKind::Render`] here, before any variable is known.
    pub fn compile(engine: &Engine, source: &str) -> Result<HeaderTemplate, Error> {
        let template = Template::compile(engine, source)?;
        let holes: Vec<_> = template.hole_spans().map(|span| span.range()).collect();
        if let Some(diagnostic) = literal_problems(source, &holes).into_iter().next() {
            return Err(Error::from_diagnostic(&diagnostic, ErrorKind::Render, template.source_arc()));
        }
        Ok(HeaderTemplate { template })
    }

    /// The source it was compiled from.
    pub fn source(&self) -> &str {
        self.template.source()
    }

    /// Renders the header value.
    pub fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<String, Error> {
        let template = &self.template;
        template.render_string(&template.runtime(variables, context), |value, span, out| {
            let start = out.len();
            value.write_text(out);
            match out[start..].chars().enumerate().find_map(|(at, c)| forbidden(c).map(|what| (at, what))) {
                None => Ok(()),
                Some((at, what)) => {
                    let message = format!(
                        "the value would put {what} into the header (character {} of the value); header values \
                             cannot hold CR, LF or NUL, which could inject another header",
                        at + 1
                    );
                    Err(Error::new(ErrorKind::Render, message).at(span, template.source_arc()))
                }
            }
        })
    }
}

/// What a forbidden character is called, if `c` is one.
fn forbidden(c: char) -> Option<String> {
    Some(match c {
        '\r' => "a carriage return (CR)".into(),
        '\n' => "a line feed (LF)".into(),
        '\0' => "a NUL character".into(),
        '\t' => return None,
        c if c.is_ascii_control() => format!("the control character U+{:04X}", c as u32),
        _ => return None,
    })
}

/// Forbidden characters in the literal text around `holes` (the first of each piece).
pub(crate) fn literal_problems(source: &str, holes: &[Range<usize>]) -> Vec<Diagnostic> {
    let index = LineIndex::new(source);
    let mut diagnostics = Vec::new();
    for piece in crate::syntax::literal_pieces(source, holes) {
        if let Some(&(at, c)) = piece.chars.iter().find(|(_, c)| forbidden(*c).is_some()) {
            let what = forbidden(c).unwrap_or_default();
            let message = format!("a header value cannot hold {what}");
            diagnostics.push(Diagnostic::error("render", message, index.span(at as u32, (at + c.len_utf8()) as u32)));
        }
    }
    diagnostics
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::Variables;

    fn render(source: &str, value: &str) -> Result<String, Error> {
        HeaderTemplate::compile(&Engine::new(), source)?
            .render(&Variables::from_strings([("v", value)]), &Context::default())
    }

    #[test]
    fn values_take_their_string_form() {
        assert_eq!(render("Bearer ${v}", "a\tb é").unwrap(), "Bearer a\tb é");
        assert_eq!(render("${1.5 * 2}-${null}", "").unwrap(), "3.0-");
    }

    #[test]
    fn injection_is_refused_without_echoing_the_value() {
        for (value, what) in
            [("x\r\nX-Admin: 1", "CR"), ("x\nSet-Cookie: a", "LF"), ("x\0", "NUL"), ("\u{7f}", "U+007F")]
        {
            let error = render("id=${v}", value).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Render);
            assert!(error.message().contains(what), "{error}");
            assert!(!error.to_string().contains("Admin") && !error.to_string().contains("Cookie"), "{error}");
            assert_eq!(error.span().unwrap().range(), 3..7);
        }
    }

    #[test]
    fn literal_line_breaks_are_compile_errors() {
        let error = HeaderTemplate::compile(&Engine::new(), "a ${v}\r\nX-Other: 1").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Render);
        assert_eq!(error.to_string(), "line 1, column 7: a header value cannot hold a carriage return (CR)");
    }
}
