//! Helpers shared by the request tests: an engine, compiling a spec from TOML text,
//! running it, and secrets from a map.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use courier::functions::SecretResolver;
use courier::request::{CompiledRequest, Cookies, Executor, ExecutorOptions, Outcome};
use courier::{Context, Engine, Variables};

/// The engine the tests compile with.
pub fn engine() -> Engine {
    Engine::new()
}

/// Compiles a spec written in TOML; relative paths are relative to the crate.
pub fn compile(toml: &str) -> CompiledRequest {
    CompiledRequest::from_toml(&engine(), toml, Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|error| panic!("the spec compiles: {error}\n{toml}"))
}

/// An executor that may read local files.
pub fn executor() -> Executor {
    Executor::with_options(ExecutorOptions {
        allow_local_files: true,
        ..ExecutorOptions::default()
    })
}

/// Runs `request` with the given variables and no cookies.
pub async fn run(request: &CompiledRequest, variables: &[(&str, &str)]) -> Outcome {
    let variables = Variables::from_strings(variables.iter().copied());
    executor()
        .execute(request, &variables, &Context::default(), &mut Cookies::new())
        .await
}

/// Secrets from a map.
pub struct Secrets(pub HashMap<String, String>);

impl SecretResolver for Secrets {
    fn resolve(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// A context whose `secret()` knows the given secrets.
pub fn context_with_secrets(secrets: &[(&str, &str)]) -> Context {
    let secrets = secrets
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    Context::default().with_secrets(Arc::new(Secrets(secrets)))
}

/// The names of the outcome's events.
pub fn event_names(outcome: &Outcome) -> Vec<&'static str> {
    outcome.events.iter().map(|event| event.name.name()).collect()
}
