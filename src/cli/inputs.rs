//! Inputs shared by the commands: variables (`--vars`, `--var`) and `--context`.

use std::path::{Path, PathBuf};

use clap::Args;
use courier::{Context, Engine, Value, Variables};

use super::Failure;

/// Where variables and the context come from.
#[derive(Args, Debug, Default)]
pub(crate) struct InputArgs {
    /// A JSON object of variables (strings, or lists of strings).
    #[arg(long, value_name = "FILE")]
    pub(crate) vars: Option<PathBuf>,
    /// A variable, NAME=VALUE; repeat for more. Overrides --vars.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub(crate) var: Vec<String>,
    /// A JSON file with the context: now, time_zone, locale, client, consent, seed …
    /// (every field in docs/spec.md).
    #[arg(long, value_name = "FILE")]
    pub(crate) context: Option<PathBuf>,
    /// Strict mode: reading a variable that is not set is an error naming it.
    #[arg(long)]
    pub(crate) strict: bool,
}

impl InputArgs {
    /// The engine: every built-in, strict when `--strict` is given.
    pub(crate) fn engine(&self) -> Engine {
        let mut engine = Engine::new();
        engine.set_strict(self.strict);
        engine
    }

    /// The variables: `--vars`, then each `--var` over them.
    pub(crate) fn variables(&self) -> Result<Variables, Failure> {
        let mut variables = match &self.vars {
            Some(path) => {
                let json = read_json(path)?;
                Variables::from_json(&json).map_err(|error| Failure::usage(format!("{}: {error}", path.display())))?
            }
            None => Variables::new(),
        };
        for assignment in &self.var {
            let Some((name, value)) = assignment.split_once('=') else {
                return Err(Failure::usage(format!("--var {assignment:?} must be NAME=VALUE")));
            };
            if !is_variable_name(name) {
                return Err(Failure::usage(format!(
                    "--var {assignment:?}: {name:?} is not a variable name (letters, digits and _, not starting with a digit)"
                )));
            }
            variables.set(name, Value::from(value));
        }
        Ok(variables)
    }

    /// The context, or the default one.
    pub(crate) fn context(&self) -> Result<Context, Failure> {
        let Some(path) = &self.context else {
            return Ok(Context::default());
        };
        let text = read_text(path)?;
        Context::from_json(&text).map_err(|error| Failure::usage(format!("{}: {error}", path.display())))
    }
}

/// Reads a whole file, or stdin for `-`.
pub(crate) fn read_text(path: &Path) -> Result<String, Failure> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .map_err(|error| Failure::usage(format!("cannot read stdin: {error}")))?;
        return Ok(text);
    }
    std::fs::read_to_string(path).map_err(|error| Failure::usage(format!("cannot read {}: {error}", path.display())))
}

pub(crate) fn read_json(path: &Path) -> Result<serde_json::Value, Failure> {
    let text = read_text(path)?;
    serde_json::from_str(&text).map_err(|error| Failure::usage(format!("{}: invalid JSON: {error}", path.display())))
}

/// Whether `name` is a name a template can read: an identifier of the language.
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|first| first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphabetic() || c.is_ascii_digit() || c == '_')
}
