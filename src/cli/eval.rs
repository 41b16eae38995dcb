//! `courier eval` and `courier render`.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use courier::{FormTemplate, HeaderTemplate, JsonTemplate, Template, TemplateKind, UrlTemplate};

use super::Failure;
use super::inputs::{InputArgs, read_text};

/// `courier eval EXPR`
#[derive(Args, Debug)]
pub(crate) struct EvalArgs {
    /// The expression, without `${ }` (put it after `--` when it starts with `-`).
    pub(crate) expression: String,
    #[command(flatten)]
    pub(crate) inputs: InputArgs,
    /// Print the string form instead of typed JSON.
    #[arg(long)]
    pub(crate) text: bool,
}

/// The contexts a template renders in (`--as`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContextArg {
    /// Plain text: each hole's string form.
    Text,
    /// A JSON payload: holes as typed JSON values, escaped in strings and keys.
    Json,
    /// A request URL: holes percent-encoded by position.
    Url,
    /// A header value: CR, LF or NUL is an error.
    Header,
    /// A form field value, form-encoded.
    Form,
}

impl ContextArg {
    /// The kind asked for, else the one the file's name implies (`.json` is json,
    /// anything else text).
    pub(crate) fn kind_for(asked: Option<ContextArg>, file: &Path) -> TemplateKind {
        match asked {
            Some(ContextArg::Text) => TemplateKind::Text,
            Some(ContextArg::Json) => TemplateKind::Json,
            Some(ContextArg::Url) => TemplateKind::Url,
            Some(ContextArg::Header) => TemplateKind::Header,
            Some(ContextArg::Form) => TemplateKind::Form,
            None => TemplateKind::for_path(file),
        }
    }
}

/// `courier render FILE`
#[derive(Args, Debug)]
pub(crate) struct RenderArgs {
    /// The template file, or - for stdin.
    pub(crate) file: PathBuf,
    /// The context to render in [default: json for a .json file, else text].
    #[arg(long = "as", value_enum)]
    pub(crate) context_kind: Option<ContextArg>,
    #[command(flatten)]
    pub(crate) inputs: InputArgs,
}

pub(crate) fn eval(args: EvalArgs) -> Result<(), Failure> {
    let variables = args.inputs.variables()?;
    let context = args.inputs.context()?;
    let expression = args
        .inputs
        .engine()
        .compile_expression(&args.expression)
        .map_err(|error| Failure::error(error.render(None)))?;
    let value = expression.evaluate(&variables, &context).map_err(|error| Failure::error(error.render(None)))?;
    let output = if args.text {
        value.to_text()
    } else {
        // The json context's writer, so that floats read as they do in payloads (`1.0E19`).
        let mut bytes = Vec::new();
        courier::value::write_json(&value, &mut bytes)
            .map_err(|error| Failure::error(format!("error[render]: {error}; use --text to print it\n")))?;
        String::from_utf8(bytes).expect("JSON output is UTF-8")
    };
    print_line(&output)
}

pub(crate) fn render(args: RenderArgs) -> Result<(), Failure> {
    let source = read_text(&args.file)?;
    let variables = args.inputs.variables()?;
    let context = args.inputs.context()?;
    let file = display_name(&args.file);
    let fail = |error: courier::Error| Failure::error(error.render(Some(&file)));
    let engine = args.inputs.engine();
    let kind = ContextArg::kind_for(args.context_kind, &args.file);
    let source = template_text(&source, kind);
    // Everything is rendered before anything is printed: a failed render prints nothing.
    let output = match kind {
        TemplateKind::Text => {
            Template::compile(&engine, source).map_err(fail)?.render(&variables, &context).map_err(fail)?.into_bytes()
        }
        TemplateKind::Json => {
            let mut out = Vec::new();
            let template = JsonTemplate::compile(&engine, source).map_err(fail)?;
            template.render_to_bytes(&variables, &context, &mut out).map_err(fail)?;
            out
        }
        // One-line values: printed with a line break, which none of them can hold.
        TemplateKind::Url => {
            line(UrlTemplate::compile(&engine, source).map_err(fail)?.render(&variables, &context).map_err(fail)?)
        }
        TemplateKind::Header => {
            line(HeaderTemplate::compile(&engine, source).map_err(fail)?.render(&variables, &context).map_err(fail)?)
        }
        TemplateKind::Form => {
            line(FormTemplate::compile(&engine, source).map_err(fail)?.render(&variables, &context).map_err(fail)?)
        }
    };
    print(&output)
}

fn line(text: String) -> Vec<u8> {
    let mut bytes = text.into_bytes();
    bytes.push(b'\n');
    bytes
}

/// The template a file holds: for the one-line contexts (url, header, form), the
/// file's final line break is not part of it.
pub(crate) fn template_text(source: &str, kind: TemplateKind) -> &str {
    match kind {
        TemplateKind::Url | TemplateKind::Header | TemplateKind::Form => {
            source.strip_suffix('\n').map_or(source, |line| line.strip_suffix('\r').unwrap_or(line))
        }
        TemplateKind::Text | TemplateKind::Json => source,
    }
}

/// How a file is named in messages: its path, or `<stdin>` for `-`.
pub(crate) fn display_name(path: &Path) -> String {
    if path == Path::new("-") { "<stdin>".to_owned() } else { path.display().to_string() }
}

fn print_line(text: &str) -> Result<(), Failure> {
    print(format!("{text}\n").as_bytes())
}

/// Writes to stdout; a closed pipe is not worth a panic.
pub(crate) fn print(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|error| Failure::usage(format!("cannot write the output: {error}")))
}
