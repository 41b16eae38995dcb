//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use courier::{Engine, Variables};

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

/// The engine the examples run on: every built-in.
pub fn engine() -> Engine {
    Engine::new()
}
