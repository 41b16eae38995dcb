//! `courier functions`: the function catalog, for people or (`--format json`) for
//! editors and tools.

use clap::Args;
use courier::Engine;
use courier::functions::catalog::{catalog_json, catalog_text};

use super::eval::print;
use super::{Failure, Format};

/// `courier functions [--format json]`
#[derive(Args, Debug)]
pub(crate) struct FunctionsArgs {
    /// How to print the catalog.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
}

pub(crate) fn functions(args: FunctionsArgs) -> Result<(), Failure> {
    let engine = Engine::new();
    let text = match args.format {
        Format::Human => catalog_text(engine.registry()),
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&catalog_json(engine.registry())).unwrap_or_default();
            text.push('\n');
            text
        }
    };
    print(text.as_bytes())
}
