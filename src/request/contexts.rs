//! The template contexts a request's fields render in: json (payloads), url, header
//! and form. INTERIM: these are small stand-ins with the API that `crate::template`
//! is gaining on the `templates` branch (`JsonTemplate`, `UrlTemplate`,
//! `HeaderTemplate`, `FormTemplate`); once that lands, this file is deleted and the
//! request module imports those instead.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::{Error, ErrorKind};
use crate::eval::{Engine, Runtime};
use crate::functions::Context;
use crate::template::{Part, Template};
use crate::value::write_json;
use crate::variables::VariableSource;

fn runtime<'a>(template: &'a Template, variables: &'a dyn VariableSource, context: &'a Context) -> Runtime<'a> {
    Runtime::new(template.shared(), template.source_arc(), variables, context, 0)
}

fn render_error(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Render, message)
}

/// A JSON payload: a hole standing alone is a typed JSON value, a hole inside a
/// string is its string form, escaped.
#[derive(Debug, Clone)]
pub struct JsonTemplate {
    template: Template,
}

impl JsonTemplate {
    /// Compiles a JSON template and checks that it is JSON once its holes are filled.
    pub fn compile(engine: &Engine, source: &str) -> Result<JsonTemplate, Error> {
        let template = Template::compile(engine, source)?;
        check_json_shape(&template)?;
        Ok(JsonTemplate { template })
    }

    /// Renders the payload's bytes into `out` (cleared first).
    pub fn render_to_bytes(
        &self,
        variables: &dyn VariableSource,
        context: &Context,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        out.clear();
        let runtime = runtime(&self.template, variables, context);
        let mut in_string = false;
        for part in self.template.parts() {
            match part {
                Part::Text(text) => {
                    in_string = string_state_after(in_string, text.as_bytes());
                    out.extend_from_slice(text.as_bytes());
                }
                Part::Hole(node, span) => {
                    let value = runtime.eval(node)?;
                    let placed =
                        |error: crate::value::ValueError| render_error(error.0).at(*span, self.template.source_arc());
                    if in_string {
                        let quoted = serde_json::Value::String(value.to_text()).to_string();
                        out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
                    } else {
                        write_json(&value, out).map_err(placed)?;
                    }
                }
            }
        }
        serde_json::from_slice::<serde::de::IgnoredAny>(out)
            .map_err(|error| render_error(format!("the rendered payload is not JSON: {error}")))?;
        Ok(())
    }
}

/// Whether the text after `bytes` is inside a JSON string, given the state before.
fn string_state_after(mut in_string: bool, bytes: &[u8]) -> bool {
    let mut escaped = false;
    for &byte in bytes {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if byte == b'"' {
            in_string = true;
        }
    }
    in_string
}

/// Checks the JSON around the holes: each hole becomes a placeholder of the same
/// length (a number outside strings, letters inside), so that a JSON error's line
/// and column are those of the source.
fn check_json_shape(template: &Template) -> Result<(), Error> {
    let source = template.source();
    let mut shaped = Vec::with_capacity(source.len());
    let mut last = 0;
    let mut in_string = false;
    for part in template.parts() {
        if let Part::Hole(_, span) = part {
            let (start, end) = (span.start as usize, span.end as usize);
            in_string = string_state_after(in_string, &source.as_bytes()[last..start]);
            shaped.extend_from_slice(&source.as_bytes()[last..start]);
            for (position, byte) in source.as_bytes()[start..end].iter().enumerate() {
                shaped.push(match (in_string, position, *byte) {
                    (_, _, b'\n') if !in_string => b'\n',
                    (true, _, _) => b'x',
                    (false, 0, _) => b'1',
                    (false, _, _) => b' ',
                });
            }
            last = end;
        }
    }
    shaped.extend_from_slice(&source.as_bytes()[last..]);
    match serde_json::from_slice::<serde::de::IgnoredAny>(&shaped) {
        Ok(_) => Ok(()),
        Err(error) => {
            let message = error.to_string();
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            let offset = offset_of(source, error.line(), error.column());
            let index = crate::syntax::LineIndex::new(source);
            let span = index.span(offset as u32, offset as u32);
            Err(Error::new(ErrorKind::Syntax, format!("invalid JSON: {message}")).at(span, template.source_arc()))
        }
    }
}

/// The byte offset of a 1-based line and column (serde_json counts columns in bytes).
fn offset_of(source: &str, line: usize, column: usize) -> usize {
    let line_start: usize = source
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    let mut offset = (line_start + column.saturating_sub(1)).min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Characters kept as they are in a path segment: RFC 3986 unreserved.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
/// A query or fragment component: the same, so `&`, `=`, `+`, `#` and space are escaped.
const COMPONENT: &AsciiSet = PATH_SEGMENT;

/// A URL: a hole is encoded for where it stands (kept as it is before the path, one
/// path segment in the path, one component in the query), and the result must be an
/// absolute http(s) URL.
#[derive(Debug, Clone)]
pub struct UrlTemplate {
    template: Template,
}

impl UrlTemplate {
    /// Compiles a URL template.
    pub fn compile(engine: &Engine, source: &str) -> Result<UrlTemplate, Error> {
        Ok(UrlTemplate {
            template: Template::compile(engine, source)?,
        })
    }

    /// Renders and validates the URL.
    pub fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<String, Error> {
        let runtime = runtime(&self.template, variables, context);
        let mut out = String::new();
        self.template.render_with(
            &runtime,
            |value, _, out| {
                let text = value.to_text();
                let encoded = match url_position(out) {
                    UrlPosition::Origin => text,
                    UrlPosition::Path => utf8_percent_encode(&text, PATH_SEGMENT).to_string(),
                    UrlPosition::Component => utf8_percent_encode(&text, COMPONENT).to_string(),
                };
                out.push_str(&encoded);
                Ok(())
            },
            &mut out,
        )?;
        let url = url::Url::parse(&out).map_err(|error| render_error(format!("{out:?} is not a URL: {error}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(render_error(format!("{out:?} is not an http or https URL")));
        }
        Ok(out)
    }
}

enum UrlPosition {
    Origin,
    Path,
    Component,
}

fn url_position(before: &str) -> UrlPosition {
    if before.contains(['?', '#']) {
        return UrlPosition::Component;
    }
    match before.find("://") {
        Some(at) if before[at + 3..].contains('/') => UrlPosition::Path,
        _ => UrlPosition::Origin,
    }
}

/// A header value: the text form, refused when it holds CR, LF or NUL.
#[derive(Debug, Clone)]
pub struct HeaderTemplate {
    template: Template,
}

impl HeaderTemplate {
    /// Compiles a header template.
    pub fn compile(engine: &Engine, source: &str) -> Result<HeaderTemplate, Error> {
        Ok(HeaderTemplate {
            template: Template::compile(engine, source)?,
        })
    }

    /// Renders the value.
    pub fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<String, Error> {
        let text = self.template.render(variables, context)?;
        if text.contains(['\r', '\n', '\0']) {
            return Err(render_error("a header value cannot hold a line break or NUL"));
        }
        Ok(text)
    }
}

/// A form field's value: its text, form-urlencoded.
#[derive(Debug, Clone)]
pub struct FormTemplate {
    template: Template,
}

impl FormTemplate {
    /// Compiles a form template.
    pub fn compile(engine: &Engine, source: &str) -> Result<FormTemplate, Error> {
        Ok(FormTemplate {
            template: Template::compile(engine, source)?,
        })
    }

    /// Renders the form-encoded value.
    pub fn render(&self, variables: &dyn VariableSource, context: &Context) -> Result<String, Error> {
        let text = self.template.render(variables, context)?;
        Ok(url::form_urlencoded::byte_serialize(text.as_bytes()).collect())
    }
}
