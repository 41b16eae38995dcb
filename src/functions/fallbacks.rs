//! Fallbacks: `coalesce` and `ifEmpty`, the first value that is there.
//!
//! "There" means neither null nor `""`: the two forms an unset chat variable takes.

use super::{Function, Kind};
use crate::value::Value;

pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("coalesce", |args, _| Ok(args.iter().find(|value| is_there(value)).cloned().unwrap_or_default()))
            .param("value", Kind::Any)
            .variadic()
            .summary("the first argument that is neither null nor \"\", else null", "any")
            .example("coalesce(null, \"\", \"Anna\", \"Ben\")", "\"Anna\""),
        Function::new("ifEmpty", |args, _| Ok(if is_there(&args[0]) { args[0].clone() } else { args[1].clone() }))
            .param("value", Kind::Any)
            .param("fallback", Kind::Any)
            .summary("the value, or the fallback when the value is null or \"\"", "any")
            .example("ifEmpty(\"\", \"unknown\")", "\"unknown\""),
    ]
}

/// Neither null nor the empty string.
fn is_there(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Str(text) => !text.is_empty(),
        _ => true,
    }
}
