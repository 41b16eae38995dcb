//! `courier check`: every problem in every file.
//!
//! Human diagnostics go to stderr, one after another with a blank line between,
//! then a summary; `--format json` prints one array of every file's diagnostics to
//! stdout. Exit status: 0 when there is no error (warnings allowed), 1 when there is
//! one, 2 when a file or `--vars` cannot be read (the other files are still checked).

use std::collections::HashSet;
use std::fmt::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use courier::diagnostics::{Diagnostic, Severity};
use courier::request::check::{check_spec, looks_like_spec};
use courier::template::{CheckOptions, check as check_template};
use courier::{Engine, Variables};

use super::eval::{ContextArg, display_name, print, template_text};
use super::inputs::{read_json, read_text};
use super::{Failure, Format};

/// `courier check FILE...`
#[derive(Args, Debug)]
pub(crate) struct CheckArgs {
    /// The template or request-spec files (- for stdin); a spec (TOML or JSON) is
    /// recognised by its content unless --as is given.
    #[arg(required = true)]
    pub(crate) files: Vec<PathBuf>,
    /// The context of every file [default: json for a .json file, else text].
    #[arg(long = "as", value_enum)]
    pub(crate) context_kind: Option<ContextArg>,
    /// How to print the problems.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
    /// A JSON object of variables: a variable used but not in it is reported.
    #[arg(long, value_name = "FILE")]
    pub(crate) vars: Option<PathBuf>,
    /// Strict mode: a variable used but not in --vars is an error, not a warning.
    #[arg(long)]
    pub(crate) strict: bool,
}

pub(crate) fn check(args: CheckArgs) -> Result<(), Failure> {
    let mut options = CheckOptions::default();
    if let Some(path) = &args.vars {
        let variables = Variables::from_json(&read_json(path)?)
            .map_err(|error| Failure::usage(format!("{}: {error}", path.display())))?;
        options.known_variables = Some(variables.iter().map(|(name, _)| name.to_owned()).collect::<HashSet<_>>());
    }
    let engine = Engine::new();
    let mut human = String::new();
    let mut json = Vec::new();
    let (mut errors, mut warnings, mut unreadable) = (0usize, 0usize, Vec::new());
    for path in &args.files {
        let source = match read_text(path) {
            Ok(source) => source,
            Err(failure) => {
                unreadable.push(failure);
                continue;
            }
        };
        let file = display_name(path);
        let found: Vec<(String, String, Diagnostic)> = if args.context_kind.is_none() && looks_like_spec(&source) {
            let base_dir = path.parent().unwrap_or(Path::new(""));
            check_spec(&engine, &source, base_dir, &options)
                .into_iter()
                .map(|finding| match finding.file {
                    // A payload file's problem is shown in that file's text.
                    Some(other) => {
                        let text = read_text(&other).unwrap_or_default();
                        (other.display().to_string(), text, finding.diagnostic)
                    }
                    None => (file.clone(), source.clone(), finding.diagnostic),
                })
                .collect()
        } else {
            let kind = ContextArg::kind_for(args.context_kind, path);
            let text = template_text(&source, kind);
            let found = check_template(&engine, text, kind, &options);
            found.into_iter().map(|diagnostic| (file.clone(), text.to_owned(), diagnostic)).collect()
        };
        for (file, text, mut diagnostic) in found {
            if args.strict && diagnostic.code == "undefined-variable" {
                diagnostic.severity = Severity::Error;
            }
            match diagnostic.severity {
                Severity::Error => errors += 1,
                Severity::Warning => warnings += 1,
            }
            match args.format {
                Format::Human => {
                    if !human.is_empty() {
                        human.push('\n');
                    }
                    human.push_str(&diagnostic.render(Some(&file), &text));
                }
                Format::Json => json.push(diagnostic.to_json(Some(&file), &text)),
            }
        }
    }
    match args.format {
        Format::Human => {
            let checked = args.files.len() - unreadable.len();
            if !human.is_empty() {
                human.push('\n');
            }
            let _ = writeln!(
                human,
                "{}, {} in {checked} file{}",
                count(errors, "error"),
                count(warnings, "warning"),
                if checked == 1 { "" } else { "s" }
            );
            eprint!("{human}");
        }
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&json).unwrap_or_else(|_| "[]".into());
            text.push('\n');
            print(text.as_bytes())?;
        }
    }
    if let Some(first) = unreadable.into_iter().reduce(|all, next| all.and(next)) {
        return Err(first);
    }
    if errors > 0 { Err(Failure::silent()) } else { Ok(()) }
}

fn count(n: usize, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}
