//! Helpers shared by the integration tests: the examples, and for the request tests
//! compiling a spec from TOML text, running it, and secrets from a map.

#![allow(dead_code)]

#[cfg(feature = "http")]
use std::collections::HashMap;
use std::path::{Path, PathBuf};
#[cfg(feature = "http")]
use std::sync::Arc;

#[cfg(feature = "http")]
use courier::Context;
#[cfg(feature = "http")]
use courier::functions::SecretResolver;
#[cfg(feature = "http")]
use courier::request::{CompiledRequest, Cookies, Destinations, Executor, ExecutorOptions, Outcome};
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

/// Compiles a spec written in TOML; relative paths are relative to the crate.
#[cfg(feature = "http")]
pub fn compile(toml: &str) -> CompiledRequest {
    CompiledRequest::from_toml(&engine(), toml, Path::new(env!("CARGO_MANIFEST_DIR")))
        .unwrap_or_else(|error| panic!("the spec compiles: {error}\n{toml}"))
}

/// The folder the tests' executor may read local files from: a folder of its own
/// under the system's temporary folder (created on first use), so that neither the
/// crate nor the other temporary files lie inside it wherever the clone is.
#[cfg(feature = "http")]
pub fn files_folder() -> PathBuf {
    let folder = std::env::temp_dir().join("courier-tests-local-files");
    std::fs::create_dir_all(&folder).unwrap_or_else(|error| panic!("{}: {error}", folder.display()));
    folder
}

/// An executor that may read local files from [`files_folder`] and reach the private
/// group: the tests' servers listen on loopback.
#[cfg(feature = "http")]
pub fn executor() -> Executor {
    Executor::with_options(options())
}

/// The options of [`executor`]: local files from [`files_folder`], the private group allowed.
#[cfg(feature = "http")]
pub fn options() -> ExecutorOptions {
    ExecutorOptions {
        local_files: Some(files_folder()),
        destinations: Destinations::allowing_private(),
        ..ExecutorOptions::default()
    }
}

/// Runs `request` with the given variables and no cookies.
#[cfg(feature = "http")]
pub async fn run(request: &CompiledRequest, variables: &[(&str, &str)]) -> Outcome {
    let variables = Variables::from_strings(variables.iter().copied());
    executor().execute(request, &variables, &Context::default(), &mut Cookies::new()).await
}

/// Secrets from a map.
#[cfg(feature = "http")]
pub struct Secrets(pub HashMap<String, String>);

#[cfg(feature = "http")]
impl SecretResolver for Secrets {
    fn resolve(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// A context whose `secret()` knows the given secrets.
#[cfg(feature = "http")]
pub fn context_with_secrets(secrets: &[(&str, &str)]) -> Context {
    let secrets = secrets.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    Context::default().with_secrets(Arc::new(Secrets(secrets)))
}

/// The names of the outcome's events.
#[cfg(feature = "http")]
pub fn event_names(outcome: &Outcome) -> Vec<&'static str> {
    outcome.events.iter().map(|event| event.name.name()).collect()
}

/// A wiremock server kept beside its runtime, for the synchronous tests that run
/// the `courier` binary against it.
#[cfg(feature = "http")]
pub struct BlockingServer {
    runtime: tokio::runtime::Runtime,
    server: wiremock::MockServer,
}

#[cfg(feature = "http")]
impl BlockingServer {
    /// A server that answers nothing yet (404 to everything).
    pub fn start() -> BlockingServer {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let server = runtime.block_on(wiremock::MockServer::start());
        BlockingServer { runtime, server }
    }

    /// Answers `first` to the first `times` requests, then `then`.
    pub fn answering(
        first: wiremock::ResponseTemplate,
        times: u64,
        then: wiremock::ResponseTemplate,
    ) -> BlockingServer {
        let server = BlockingServer::start();
        server.mount(wiremock::Mock::given(wiremock::matchers::any()).respond_with(first).up_to_n_times(times));
        server.mount(wiremock::Mock::given(wiremock::matchers::any()).respond_with(then));
        server
    }

    /// Adds an answer.
    pub fn mount(&self, mock: wiremock::Mock) {
        self.runtime.block_on(mock.mount(&self.server));
    }

    /// The server's base URL.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The requests it received, in order.
    pub fn received(&self) -> Vec<wiremock::Request> {
        self.runtime.block_on(self.server.received_requests()).unwrap()
    }
}

/// Writes `text` as `request.toml` in `folder`.
#[cfg(feature = "http")]
pub fn write_spec(folder: &Path, text: &str) -> PathBuf {
    let spec = folder.join("request.toml");
    std::fs::write(&spec, text).unwrap();
    spec
}
