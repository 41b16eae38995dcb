//! `courier eval` and `courier render`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use courier::{Engine, Template};

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

/// The contexts a template renders in.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum RenderContext {
    /// Plain text: each hole's string form.
    #[default]
    Text,
}

/// `courier render FILE`
#[derive(Args, Debug)]
pub(crate) struct RenderArgs {
    /// The template file, or - for stdin.
    pub(crate) file: PathBuf,
    /// The context to render in.
    #[arg(long = "as", value_enum, default_value_t)]
    pub(crate) context_kind: RenderContext,
    #[command(flatten)]
    pub(crate) inputs: InputArgs,
}

pub(crate) fn eval(args: EvalArgs) -> Result<(), Failure> {
    let variables = args.inputs.variables()?;
    let context = args.inputs.context()?;
    let expression =
        Engine::new().compile_expression(&args.expression).map_err(|error| Failure::error(error.render(None)))?;
    let value = expression.evaluate(&variables, &context).map_err(|error| Failure::error(error.render(None)))?;
    let output = if args.text {
        value.to_text()
    } else {
        value
            .to_json()
            .map_err(|error| Failure::error(format!("error[render]: {error}; use --text to print it\n")))?
            .to_string()
    };
    print_line(&output)
}

pub(crate) fn render(args: RenderArgs) -> Result<(), Failure> {
    let source = read_text(&args.file)?;
    let variables = args.inputs.variables()?;
    let context = args.inputs.context()?;
    let file = args.file.display().to_string();
    let fail = |error: courier::Error| Failure::error(error.render(Some(&file)));
    let output = match args.context_kind {
        RenderContext::Text => {
            Template::compile(&Engine::new(), &source).map_err(fail)?.render(&variables, &context).map_err(fail)?
        }
    };
    print(&output)
}

fn print_line(text: &str) -> Result<(), Failure> {
    print(&format!("{text}\n"))
}

/// Writes to stdout; a closed pipe is not worth a panic.
fn print(text: &str) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|error| Failure::usage(format!("cannot write the output: {error}")))
}
