//! The form context: one `application/x-www-form-urlencoded` field value.
//!
//! The whole rendered value is form-encoded, literal text and holes alike (a space
//! is `+`, every byte but `A-Z a-z 0-9 * - . _` is `%XX`). Encoding works byte by
//! byte, so the literal text is encoded once, at compile time, and each render only
//! encodes the holes.

use url::form_urlencoded::byte_serialize;

use super::{Part, Template};
use crate::error::Error;
use crate::eval::Engine;
use crate::functions::Context;
use crate::value::Value;
use crate::variables::VariableSource;

/// A compiled form-context template: immutable, `Send + Sync`.
///
/// ```
/// use courier::{Context, Engine, Variables};
/// use courier::template::FormTemplate;
///
/// let template = FormTemplate::compile(&Engine::new(), "Hi ${name}").unwrap();
/// let variables = Variables::from_strings([("name", "Anna & Ben=1+1")]);
/// assert_eq!(template.render(&variables, &Context::default()).unwrap(), "Hi+Anna+%26+Ben%3D1%2B1");
/// ```
#[derive(Debug, Clone)]
pub struct FormTemplate {
    /// The template with its literal text already encoded.
    template: Template,
}

impl FormTemplate {
    /// Compiles a form-context template.
    pub fn compile(engine: &Engine, source: &str) -> Result<FormTemplate, Error> {
        let mut template = Template::compile(engine, source)?;
        for part in &mut template.parts {
            if let Part::Text(text) = part {
                *text = byte_serialize(text.as_bytes()).collect::<String>().into();
            }
        }
        Ok(FormTemplate { template })
    }

    /// The source it was compiled from.
    pub fn source(&self) -> &str {
        self.template.source()
    }

    /// Renders the encoded field value.
    pub fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<String, Error> {
        let template = &self.template;
        template.render_string(&template.runtime(variables, context), |value, _, out| {
            match value {
                Value::Str(text) => out.extend(byte_serialize(text.as_bytes())),
                other => out.extend(byte_serialize(other.to_text().as_bytes())),
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::Variables;

    #[test]
    fn literal_text_and_holes_are_encoded_alike() {
        let template = FormTemplate::compile(&Engine::new(), "a b&${v} ${1.5 * 2} \\${x} é").unwrap();
        let variables = Variables::from_strings([("v", "x y=1&z+é*~")]);
        let out = template.render(&variables, &Context::default()).unwrap();
        assert_eq!(out, "a+b%26x+y%3D1%26z%2B%C3%A9*%7E+3.0+%24%7Bx%7D+%C3%A9");
        let decoded: Vec<(String, String)> =
            url::form_urlencoded::parse(format!("f={out}").as_bytes()).into_owned().collect();
        assert_eq!(decoded, [("f".to_owned(), "a b&x y=1&z+é*~ 3.0 ${x} é".to_owned())]);
    }
}
