//! Templates: literal text with `${ expression }` holes, rendered by context.
//!
//! Each context has its compiled template type, compiled once and rendered many
//! times, immutable and `Send + Sync`:
//!
//! | context | type | a hole becomes |
//! |---|---|---|
//! | text | [`Template`] | its string form |
//! | json | [`JsonTemplate`] | typed JSON as a value; escaped string form in a string or key |
//! | url | [`UrlTemplate`] | percent-encoded by position; the base URL as it is |
//! | header | [`HeaderTemplate`] | its string form; CR, LF or NUL is an error |
//! | form | [`FormTemplate`] | form-encoded, as the whole value is |
//!
//! A text [`Template`] that is exactly one hole evaluates to that hole's typed value;
//! any other evaluates to text. [`check`] reports every problem of a template, for
//! `courier check` and editors.

mod check;
mod form;
mod header;
mod json;
mod url;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

pub use crate::eval::CheckOptions;
pub use check::check;
pub use form::FormTemplate;
pub use header::HeaderTemplate;
pub use json::JsonTemplate;
pub use url::{MAX_URL_BYTES, UrlTemplate};

use crate::error::Error;
use crate::eval::{Engine, Part, Runtime, Shared, compile_text, write_text};
use crate::functions::Context;
use crate::syntax::Span;
use crate::value::Value;
use crate::variables::VariableSource;

/// A compiled text template: immutable, `Send + Sync`, rendered any number of times.
#[derive(Clone)]
pub struct Template {
    source: Arc<str>,
    parts: Vec<Part>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Template {
    /// Compiles a text template.
    pub fn compile(engine: &Engine, source: &str) -> Result<Template, Error> {
        let source: Arc<str> = Arc::from(source);
        let parts = compile_text(&engine.shared, &source)?;
        Ok(Template { source, parts, shared: engine.shared.clone() })
    }

    /// The source it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates: the typed value of a template that is exactly one hole, else the text.
    pub fn evaluate(&self, variables: &dyn VariableSource, context: &Context) -> Result<Value, Error> {
        if let [Part::Hole(node, _)] = self.parts.as_slice() {
            return Runtime::new(&self.shared, &self.source, variables, context, 0).eval(node);
        }
        self.render(variables, context).map(Value::from)
    }

    /// Renders to text: each hole's string form in place.
    pub fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<String, Error> {
        self.render_string(&self.runtime(variables, context), write_text)
    }

    /// Renders into `out`, which is cleared first; reuse one buffer across renders.
    pub fn render_into(
        &self,
        variables: &dyn VariableSource,
        context: &Context,
        out: &mut String,
    ) -> Result<(), Error> {
        out.clear();
        let runtime = Runtime::new(&self.shared, &self.source, variables, context, 0);
        self.render_with(&runtime, write_text, out)
    }

    /// Renders to a new string, `write_hole` deciding how each hole's value is written.
    pub(crate) fn render_string(
        &self,
        runtime: &Runtime<'_>,
        write_hole: impl FnMut(&Value, Span, &mut String) -> Result<(), Error>,
    ) -> Result<String, Error> {
        let mut out = String::new();
        self.render_with(runtime, write_hole, &mut out)?;
        Ok(out)
    }

    /// A runtime for one render of this template.
    pub(crate) fn runtime<'a>(&'a self, variables: &'a dyn VariableSource, context: &'a Context) -> Runtime<'a> {
        Runtime::new(&self.shared, &self.source, variables, context, 0)
    }

    /// Renders with `write_hole` deciding how each hole's value is written (the url,
    /// header and form contexts encode it); text is copied as it is.
    pub(crate) fn render_with(
        &self,
        runtime: &Runtime<'_>,
        write_hole: impl FnMut(&Value, Span, &mut String) -> Result<(), Error>,
        out: &mut String,
    ) -> Result<(), Error> {
        runtime.render_parts(&self.parts, write_hole, out)
    }

    /// The spans of the holes, in order.
    pub(crate) fn hole_spans(&self) -> impl Iterator<Item = Span> + '_ {
        self.parts.iter().filter_map(|part| match part {
            Part::Hole(_, span) => Some(*span),
            Part::Text(_) => None,
        })
    }

    pub(crate) fn source_arc(&self) -> &Arc<str> {
        &self.source
    }
}

/// The contexts a template is rendered in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TemplateKind {
    /// Chat messages, e-mail text: [`Template`].
    Text,
    /// Request payloads: [`JsonTemplate`].
    Json,
    /// Request URLs: [`UrlTemplate`].
    Url,
    /// Request header values: [`HeaderTemplate`].
    Header,
    /// Form field values: [`FormTemplate`].
    Form,
}

impl TemplateKind {
    /// Every kind, in the order of the table.
    pub const ALL: [TemplateKind; 5] =
        [TemplateKind::Text, TemplateKind::Json, TemplateKind::Url, TemplateKind::Header, TemplateKind::Form];

    /// The name used on the command line: `text`, `json`, `url`, `header`, `form`.
    pub fn name(self) -> &'static str {
        match self {
            TemplateKind::Text => "text",
            TemplateKind::Json => "json",
            TemplateKind::Url => "url",
            TemplateKind::Header => "header",
            TemplateKind::Form => "form",
        }
    }

    /// The kind of that name.
    pub fn from_name(name: &str) -> Option<TemplateKind> {
        TemplateKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The kind a file's name implies: `.json` (any letter case) is json, anything
    /// else text.
    pub fn for_path(path: &Path) -> TemplateKind {
        match path.extension() {
            Some(extension) if extension.eq_ignore_ascii_case("json") => TemplateKind::Json,
            _ => TemplateKind::Text,
        }
    }
}

impl fmt::Display for TemplateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::Variables;

    fn render(source: &str, variables: &Variables) -> Result<String, Error> {
        Template::compile(&Engine::new(), source)?.render(variables, &Context::default())
    }

    #[test]
    fn text_and_holes() {
        let variables = Variables::from_strings([("firstname", "Anna")]);
        assert_eq!(render("Hi ${firstname}! \\${x} costs $5", &variables).unwrap(), "Hi Anna! ${x} costs $5");
        assert_eq!(render("${1.5 * 2} ${null}|", &variables).unwrap(), "3.0 |");
    }

    #[test]
    fn a_single_hole_keeps_its_type() {
        let template = Template::compile(&Engine::new(), "${1 + 1}").unwrap();
        assert_eq!(template.evaluate(&Variables::new(), &Context::default()).unwrap(), Value::Int(2));
        let template = Template::compile(&Engine::new(), " ${1 + 1}").unwrap();
        assert_eq!(template.evaluate(&Variables::new(), &Context::default()).unwrap(), Value::from(" 2"));
    }

    #[test]
    fn kinds_have_names_and_follow_file_names() {
        for kind in TemplateKind::ALL {
            assert_eq!(TemplateKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(TemplateKind::from_name("xml"), None);
        assert_eq!(TemplateKind::for_path(Path::new("a/payload.JSON")), TemplateKind::Json);
        assert_eq!(TemplateKind::for_path(Path::new("message.txt")), TemplateKind::Text);
        assert_eq!(TemplateKind::for_path(Path::new("-")), TemplateKind::Text);
    }

    #[test]
    fn every_template_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Template>();
        assert_send_sync::<JsonTemplate>();
        assert_send_sync::<UrlTemplate>();
        assert_send_sync::<HeaderTemplate>();
        assert_send_sync::<FormTemplate>();
    }

    #[test]
    fn unterminated_holes_point_at_their_start() {
        let error = render("abc ${x", &Variables::new()).unwrap_err();
        assert_eq!(error.span().map(|span| span.column), Some(5));
    }
}
