//! Templates: literal text with `${ expression }` holes, rendered by context.
//!
//! A [`Template`] is compiled once; its holes are compiled expressions. A template
//! that is exactly one hole evaluates to that hole's typed value; any other
//! evaluates to text.

use std::sync::Arc;

use crate::error::{Error, ErrorKind};
use crate::eval::{Compiler, Engine, Node, Runtime, Shared};
use crate::functions::Context;
use crate::syntax::{Segment, Span};
use crate::value::Value;
use crate::variables::VariableSource;

/// A compiled text template: immutable, `Send + Sync`, rendered any number of times.
#[derive(Clone)]
pub struct Template {
    source: Arc<str>,
    parts: Vec<Part>,
    shared: Arc<Shared>,
}

#[derive(Debug, Clone)]
pub(crate) enum Part {
    Text(Box<str>),
    Hole(Node, Span),
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
        let ast = crate::syntax::parse_template_with(&source, &engine.shared.limits.nesting)
            .map_err(|error| Error::from_syntax(error, &source))?;
        let mut compiler = Compiler::new(&engine.shared, &source, None);
        let parts = ast
            .segments
            .iter()
            .map(|segment| match segment {
                Segment::Text(text) => Part::Text(text.as_str().into()),
                Segment::Interpolation(expr, span) => Part::Hole(compiler.compile(expr), *span),
            })
            .collect();
        compiler.finish()?;
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
        self.render_at_depth(variables, context, 0)
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
        self.render_with(
            &runtime,
            |value, _, out| {
                value.write_text(out);
                Ok(())
            },
            out,
        )
    }

    pub(crate) fn render_at_depth(
        &self,
        variables: &dyn VariableSource,
        context: &Context,
        depth: u32,
    ) -> Result<String, Error> {
        let runtime = Runtime::new(&self.shared, &self.source, variables, context, depth);
        let mut out = String::new();
        self.render_with(
            &runtime,
            |value, _, out| {
                value.write_text(out);
                Ok(())
            },
            &mut out,
        )?;
        Ok(out)
    }

    /// Renders with `write_hole` deciding how each hole's value is written (the url,
    /// header and form contexts encode it); text is copied as it is.
    pub(crate) fn render_with(
        &self,
        runtime: &Runtime<'_>,
        mut write_hole: impl FnMut(&Value, Span, &mut String) -> Result<(), Error>,
        out: &mut String,
    ) -> Result<(), Error> {
        let limit = self.shared.limits.max_output_bytes;
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Hole(node, span) => {
                    let value = runtime.eval(node)?;
                    write_hole(&value, *span, out)?;
                    if out.len() > limit {
                        let message = format!("the output is larger than the limit of {limit} bytes");
                        return Err(Error::new(ErrorKind::Limit, message).at(*span, &self.source));
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn parts(&self) -> &[Part] {
        &self.parts
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn source_arc(&self) -> &Arc<str> {
        &self.source
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
    fn unterminated_holes_point_at_their_start() {
        let error = render("abc ${x", &Variables::new()).unwrap_err();
        assert_eq!(error.span().map(|span| span.column), Some(5));
    }
}
