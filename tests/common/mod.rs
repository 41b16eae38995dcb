//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use courier::{Engine, Function, Kind, Value, Variables};

/// A file of the repository's `examples/` folder.
pub fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(path)
}

/// The text of an example file.
pub fn read_example(path: &str) -> String {
    std::fs::read_to_string(example(path)).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// The variables of an example's `vars.json`.
pub fn example_vars(path: &str) -> Variables {
    let json: serde_json::Value = serde_json::from_str(&read_example(path)).expect("vars.json is JSON");
    Variables::from_json(&json).expect("vars.json holds strings")
}

/// The engine the examples run on: every built-in. `stringConcat` (the newsletter's
/// key) belongs to the strings family, written on another branch; until it is
/// registered there, it is registered here with the behaviour `functions.md` gives
/// it (the string forms of one or more arguments, joined), and the built-in wins
/// once it exists.
pub fn engine() -> Engine {
    let mut engine = Engine::new();
    if engine.registry().get("stringConcat").is_none() {
        engine.register(
            Function::new("stringConcat", |args, _| {
                Ok(Value::from(args.iter().map(Value::to_text).collect::<String>()))
            })
            .param("part", Kind::Any)
            .variadic(),
        );
    }
    engine
}
