//! Request bodies: a spec's body compiled into templates, and rendered into the
//! exact bytes and content type that are sent — json, form, and the three file
//! bodies (base64, multipart, octet-stream), whose file is a local path or an
//! http(s) URL that the executor reads once the templates are rendered.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::spec::{BodySpec, BodyTable, BodyType, Problems, RequestSpec, read_limited};
use crate::error::Error;
use crate::eval::Engine;
use crate::functions::Context;
use crate::template::{FormTemplate, JsonTemplate, Template, TemplateKind};
use crate::variables::VariableSource;

/// A compiled body.
#[derive(Debug, Clone)]
pub(crate) enum CompiledBody {
    Json(JsonTemplate),
    Form(Vec<(String, FormTemplate)>),
    /// A multipart body of text parts only (no file part).
    Parts(Vec<(String, Template)>),
    File(FileBody),
}

/// A compiled file body: base64, multipart or octet-stream.
#[derive(Debug, Clone)]
pub(crate) struct FileBody {
    kind: BodyType,
    file: Template,
    file_name: Option<Template>,
    content_type: Option<Template>,
    field: String,
    pub(crate) fields: Vec<(String, Template)>,
}

/// A body ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The `Content-Type` header.
    pub content_type: String,
    /// A `Content-Disposition` header (base64 and octet-stream bodies with a file name).
    pub disposition: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A rendered body: ready, or waiting for its file to be read.
#[derive(Debug, Clone)]
pub(crate) enum BodyPlan {
    Ready(Body),
    File(FilePlan),
}

/// A file body whose templates are rendered; the file is read next.
#[derive(Debug, Clone)]
pub(crate) struct FilePlan {
    kind: BodyType,
    pub(crate) source: FileSource,
    file_name: Option<String>,
    content_type: Option<String>,
    field: String,
    fields: Vec<(String, String)>,
}

/// Where a file body's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileSource {
    Local(PathBuf),
    Remote(url::Url),
}

impl std::fmt::Display for FileSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FileSource::Local(path) => write!(f, "{}", path.display()),
            FileSource::Remote(url) => write!(f, "{url}"),
        }
    }
}

/// Compiles the body of `spec`, recording problems against their fields.
pub(crate) fn compile(
    engine: &Engine,
    spec: &RequestSpec,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<CompiledBody> {
    let top_level_payload = spec.payload.is_some() || spec.payload_file.is_some();
    let table = match &spec.body {
        None => {
            if top_level_payload {
                problems.push("payload", "a payload needs body = \"json\"");
            }
            return None;
        }
        Some(BodySpec::Shorthand(BodyType::Json)) => {
            return compile_json(engine, spec.payload.as_deref(), spec.payload_file.as_deref(), "", base_dir, problems);
        }
        Some(BodySpec::Shorthand(kind)) => {
            let kind = kind.name();
            problems.push("body", format!("the shorthand is only for json; write a [body] table with type = {kind:?}"));
            return None;
        }
        Some(BodySpec::Table(table)) => table,
    };
    if top_level_payload {
        problems.push("payload", "with a [body] table, the payload goes inside it");
    }
    let kind = table.kind;
    let mut refuse = |field: &str, present: bool| {
        if present {
            problems.push(format!("body.{field}"), format!("does not apply to a {} body", kind.name()));
        }
    };
    match kind {
        BodyType::Json => {
            refuse("fields", !table.fields.is_empty());
            refuse_file_fields(table, &mut refuse);
            compile_json(engine, table.payload.as_deref(), table.payload_file.as_deref(), "body.", base_dir, problems)
        }
        BodyType::Form => {
            refuse_file_fields(table, &mut refuse);
            refuse_payload(table, &mut refuse);
            let mut fields = Vec::new();
            for (name, source) in &table.fields {
                let compiled = FormTemplate::compile(engine, source);
                let field = format!("body.fields.{name}");
                if let Some(template) = problems.template(&field, TemplateKind::Form, source, compiled) {
                    fields.push((name.clone(), template));
                }
            }
            Some(CompiledBody::Form(fields))
        }
        BodyType::Base64 | BodyType::Multipart | BodyType::OctetStream => {
            refuse_payload(table, &mut refuse);
            if kind != BodyType::Multipart {
                refuse("fields", !table.fields.is_empty());
                refuse("field", table.field.is_some());
            }
            let Some(file) = &table.file else {
                if kind == BodyType::Multipart && !table.fields.is_empty() {
                    return compile_parts(engine, table, problems);
                }
                let what = if kind == BodyType::Multipart { "a file or text fields" } else { "a file" };
                problems
                    .push("body.file", format!("a {} body needs {what} (a local path or an http(s) URL)", kind.name()));
                return None;
            };
            let file = problems.template("body.file", TemplateKind::Text, file, Template::compile(engine, file));
            let mut optional = |field: &str, source: &Option<String>| {
                source.as_ref().and_then(|source| {
                    let compiled = Template::compile(engine, source);
                    problems.template(&format!("body.{field}"), TemplateKind::Text, source, compiled)
                })
            };
            let file_name = optional("file_name", &table.file_name);
            let content_type = optional("content_type", &table.content_type);
            let mut fields = Vec::new();
            for (name, source) in &table.fields {
                let compiled = Template::compile(engine, source);
                if let Some(template) =
                    problems.template(&format!("body.fields.{name}"), TemplateKind::Text, source, compiled)
                {
                    fields.push((name.clone(), template));
                }
            }
            let field = table.field.clone().unwrap_or_else(|| "file".to_owned());
            Some(CompiledBody::File(FileBody { kind, file: file?, file_name, content_type, field, fields }))
        }
    }
}

/// A multipart body of text fields only: what describes a file part needs a file.
fn compile_parts(engine: &Engine, table: &BodyTable, problems: &mut Problems) -> Option<CompiledBody> {
    for (field, present) in [
        ("file_name", table.file_name.is_some()),
        ("content_type", table.content_type.is_some()),
        ("field", table.field.is_some()),
    ] {
        if present {
            problems.push(format!("body.{field}"), "describes the file part: give file too, or leave it out");
        }
    }
    let mut fields = Vec::new();
    for (name, source) in &table.fields {
        let compiled = Template::compile(engine, source);
        if let Some(template) = problems.template(&format!("body.fields.{name}"), TemplateKind::Text, source, compiled)
        {
            fields.push((name.clone(), template));
        }
    }
    Some(CompiledBody::Parts(fields))
}

fn refuse_file_fields(table: &BodyTable, refuse: &mut impl FnMut(&str, bool)) {
    refuse("file", table.file.is_some());
    refuse("file_name", table.file_name.is_some());
    refuse("content_type", table.content_type.is_some());
    refuse("field", table.field.is_some());
}

fn refuse_payload(table: &BodyTable, refuse: &mut impl FnMut(&str, bool)) {
    refuse("payload", table.payload.is_some());
    refuse("payload_file", table.payload_file.is_some());
}

fn compile_json(
    engine: &Engine,
    payload: Option<&str>,
    payload_file: Option<&Path>,
    prefix: &str,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<CompiledBody> {
    match (payload, payload_file) {
        (Some(_), Some(_)) => {
            problems.push(format!("{prefix}payload"), "give payload or payload_file, not both");
            None
        }
        (None, None) => {
            problems.push(format!("{prefix}payload"), "a json body needs payload or payload_file");
            None
        }
        (Some(source), None) => {
            let compiled = JsonTemplate::compile(engine, source);
            problems.template(&format!("{prefix}payload"), TemplateKind::Json, source, compiled).map(CompiledBody::Json)
        }
        (None, Some(file)) => {
            let field = format!("{prefix}payload_file");
            let inside = file.components().all(|part| matches!(part, std::path::Component::Normal(_)));
            if !inside {
                problems.push(
                    &field,
                    format!(
                        "{} must be a relative path inside the spec's folder (no .., not absolute)",
                        file.display()
                    ),
                );
                return None;
            }
            let path = base_dir.join(file);
            if let Err(message) = stays_inside(base_dir, &path) {
                problems.push(&field, format!("{}: {message}", file.display()));
                return None;
            }
            let source = read_limited(&path).map_err(|message| problems.push(&field, message)).ok()?;
            let compiled = JsonTemplate::compile(engine, &source);
            problems.template_from(&field, TemplateKind::Json, &source, Some(&path), compiled).map(CompiledBody::Json)
        }
    }
}

/// Refuses a payload file that a link leads out of `folder` (the spec's, or a
/// server's `--files`): it is not read, so nothing of it is quoted. A file that
/// does not exist is left for the read to report.
pub(crate) fn stays_inside(folder: &Path, path: &Path) -> Result<(), String> {
    let folder = if folder.as_os_str().is_empty() { Path::new(".") } else { folder };
    let (Ok(folder), Ok(resolved)) = (folder.canonicalize(), path.canonicalize()) else {
        return Ok(());
    };
    if resolved.starts_with(&folder) {
        Ok(())
    } else {
        Err("a link leads out of the spec's folder (or the server's --files folder); the file was not read".to_owned())
    }
}

/// A template that failed to render: the field it is in and the error.
pub(crate) type FieldError = (String, Error);

impl CompiledBody {
    /// Renders every template of the body; a file body still has its file to read.
    pub(crate) fn render(
        &self,
        variables: &dyn VariableSource,
        context: &Context,
        base_dir: &Path,
    ) -> Result<BodyPlan, FieldError> {
        match self {
            CompiledBody::Json(template) => {
                let mut bytes = Vec::new();
                template
                    .render_to_bytes(variables, context, &mut bytes)
                    .map_err(|error| ("body.payload".to_owned(), error))?;
                Ok(BodyPlan::Ready(Body { content_type: "application/json".to_owned(), disposition: None, bytes }))
            }
            CompiledBody::Form(fields) => {
                let mut text = String::new();
                for (name, template) in fields {
                    let value =
                        template.render(variables, context).map_err(|error| (format!("body.fields.{name}"), error))?;
                    if !text.is_empty() {
                        text.push('&');
                    }
                    text.extend(url::form_urlencoded::byte_serialize(name.as_bytes()));
                    text.push('=');
                    text.push_str(&value);
                }
                let content_type = "application/x-www-form-urlencoded".to_owned();
                Ok(BodyPlan::Ready(Body { content_type, disposition: None, bytes: text.into_bytes() }))
            }
            CompiledBody::Parts(fields) => {
                let mut rendered = Vec::new();
                for (name, template) in fields {
                    let value =
                        template.render(variables, context).map_err(|error| (format!("body.fields.{name}"), error))?;
                    rendered.push((name.clone(), value));
                }
                let boundary = new_boundary();
                let mut bytes = text_parts(&boundary, &rendered).into_bytes();
                bytes.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
                let content_type = format!("multipart/form-data; boundary={boundary}");
                Ok(BodyPlan::Ready(Body { content_type, disposition: None, bytes }))
            }
            CompiledBody::File(body) => body.render(variables, context, base_dir).map(BodyPlan::File),
        }
    }
}

impl FileBody {
    fn render(
        &self,
        variables: &dyn VariableSource,
        context: &Context,
        base_dir: &Path,
    ) -> Result<FilePlan, FieldError> {
        let text = |field: &str, template: &Template| {
            template.render(variables, context).map_err(|error| (format!("body.{field}"), error))
        };
        let location = text("file", &self.file)?;
        let source = file_source(location.trim(), base_dir)
            .map_err(|message| ("body.file".to_owned(), Error::new(crate::ErrorKind::Render, message)))?;
        // A value typed into the chat must never pick a file of the host to send.
        if matches!(source, FileSource::Local(_)) && self.file.hole_spans().next().is_some() {
            let message =
                "a local file must be written literally in the spec; only an http(s) URL may come from variables";
            return Err(("body.file".to_owned(), Error::new(crate::ErrorKind::Render, message)));
        }
        let file_name = self.file_name.as_ref().map(|template| text("file_name", template)).transpose()?;
        let content_type = self.content_type.as_ref().map(|template| text("content_type", template)).transpose()?;
        if let Some(content_type) = &content_type
            && content_type.contains(['\r', '\n', '\0'])
        {
            let error = Error::new(crate::ErrorKind::Render, "a content type cannot hold a line break");
            return Err(("body.content_type".to_owned(), error));
        }
        let mut fields = Vec::new();
        for (name, template) in &self.fields {
            fields.push((name.clone(), text(&format!("fields.{name}"), template)?));
        }
        Ok(FilePlan { kind: self.kind, source, file_name, content_type, field: self.field.clone(), fields })
    }
}

fn file_source(location: &str, base_dir: &Path) -> Result<FileSource, String> {
    if location.is_empty() {
        return Err("the file is empty: give a local path or an http(s) URL".to_owned());
    }
    if location.contains("://") {
        let url = url::Url::parse(location).map_err(|error| format!("{location:?} is not a URL: {error}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{location:?}: a file is a local path or an http(s) URL"));
        }
        return Ok(FileSource::Remote(url));
    }
    Ok(FileSource::Local(base_dir.join(location)))
}

impl FilePlan {
    /// The body, given the file's bytes.
    pub(crate) fn finish(self, file: Vec<u8>) -> Body {
        let file_name = self.file_name.clone().or_else(|| self.default_file_name());
        let disposition = file_name.as_ref().map(|name| format!("attachment; filename=\"{}\"", quote(name)));
        match self.kind {
            BodyType::Base64 => Body {
                content_type: self.content_type.unwrap_or_else(|| "text/plain".to_owned()),
                disposition,
                bytes: base64::engine::general_purpose::STANDARD.encode(file).into_bytes(),
            },
            BodyType::Multipart => {
                let boundary = new_boundary();
                let bytes = multipart(&boundary, &self, file_name.as_deref(), file);
                Body { content_type: format!("multipart/form-data; boundary={boundary}"), disposition: None, bytes }
            }
            _ => Body {
                content_type: self.content_type.unwrap_or_else(|| "application/octet-stream".to_owned()),
                disposition,
                bytes: file,
            },
        }
    }

    fn default_file_name(&self) -> Option<String> {
        let name = match &self.source {
            FileSource::Local(path) => path.file_name()?.to_string_lossy().into_owned(),
            FileSource::Remote(url) => url.path_segments()?.next_back()?.to_owned(),
        };
        (!name.is_empty()).then_some(name)
    }
}

/// A name inside a quoted header parameter: quotes and line breaks escaped as
/// browsers do.
fn quote(name: &str) -> String {
    name.replace('"', "%22").replace('\r', "%0D").replace('\n', "%0A")
}

/// A fresh multipart boundary.
fn new_boundary() -> String {
    format!("courier-{:032x}", rand::random::<u128>())
}

/// The text parts of a `multipart/form-data` body, each closed by its line break.
fn text_parts(boundary: &str, fields: &[(String, String)]) -> String {
    let mut head = String::new();
    for (name, value) in fields {
        let _ =
            write!(head, "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n{value}\r\n", quote(name));
    }
    head
}

/// A `multipart/form-data` body: the text fields, then the file part.
fn multipart(boundary: &str, plan: &FilePlan, file_name: Option<&str>, file: Vec<u8>) -> Vec<u8> {
    let mut head = text_parts(boundary, &plan.fields);
    let _ = write!(head, "--{boundary}\r\nContent-Disposition: form-data; name=\"{}\"", quote(&plan.field));
    if let Some(file_name) = file_name {
        let _ = write!(head, "; filename=\"{}\"", quote(file_name));
    }
    let content_type = plan.content_type.as_deref().unwrap_or("application/octet-stream");
    let _ = write!(head, "\r\nContent-Type: {content_type}\r\n\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&file);
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(kind: BodyType) -> FilePlan {
        FilePlan {
            kind,
            source: FileSource::Local(PathBuf::from("/tmp/receipt.jpg")),
            file_name: None,
            content_type: Some("image/jpeg".to_owned()),
            field: "document".to_owned(),
            fields: vec![("customer".to_owned(), "42".to_owned())],
        }
    }

    #[test]
    fn multipart_bodies_hold_fields_then_the_file() {
        let body = plan(BodyType::Multipart).finish(b"\xff\xd8".to_vec());
        let boundary = body.content_type.strip_prefix("multipart/form-data; boundary=").unwrap();
        let mut expected = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"customer\"\r\n\r\n42\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"receipt.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .into_bytes();
        expected.extend_from_slice(b"\xff\xd8");
        expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        assert_eq!(body.bytes, expected);
    }

    #[test]
    fn base64_bodies_are_text() {
        let mut plan = plan(BodyType::Base64);
        plan.content_type = None;
        let body = plan.finish(b"hello".to_vec());
        assert_eq!(body.bytes, b"aGVsbG8=");
        assert_eq!(body.content_type, "text/plain");
        assert_eq!(body.disposition.as_deref(), Some("attachment; filename=\"receipt.jpg\""));
    }

    #[test]
    fn files_are_paths_or_web_addresses() {
        let base = Path::new("/specs");
        assert_eq!(file_source("a.pdf", base), Ok(FileSource::Local(PathBuf::from("/specs/a.pdf"))));
        assert_eq!(file_source("/abs/a.pdf", base), Ok(FileSource::Local(PathBuf::from("/abs/a.pdf"))));
        assert!(matches!(file_source("https://x.org/a.pdf", base), Ok(FileSource::Remote(_))));
        assert!(file_source("ftp://x.org/a.pdf", base).is_err());
        assert!(file_source("", base).is_err());
    }
}
