//! `courier serve`: the workbench for template authors — a JSON API over the
//! engine (eval, render, check, dry-run, send, mappings, the function catalog),
//! its OpenAPI document, and the playground page, all served from the binary.
//!
//! The server is a view over the library: it reads requests, calls the same
//! functions the command line calls, and writes JSON. A spec sent to it never
//! reads the server's disk unless the operator names a folder ([`ServeOptions::files`]).

mod check;
mod errors;
mod leaves;
mod page;
mod requests;
mod templates;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::Engine;
use crate::request::{Executor, ExecutorOptions};

pub use errors::ApiError;

/// Largest request body the API reads, in bytes; a larger one gets 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// What the operator allows a server to do.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Whether `POST /v1/send` sends requests (else it answers 403).
    pub allow_send: bool,
    /// The folder a spec's `payload_file` is read from; `None` refuses every
    /// `payload_file` (a spec sent to the API then never reads the server's disk).
    pub files: Option<PathBuf>,
    /// What the executor of `/v1/send` and `/v1/dry-run` allows (local file bodies
    /// stay refused whatever this says: see docs/api.md).
    pub executor: ExecutorOptions,
}

/// What every handler shares: one engine, one executor (its connection pools and
/// token cache), the operator's options.
pub(crate) struct State {
    pub(crate) engine: Engine,
    /// The same engine in strict mode (`strict: true`), made once: switching mode copies the registry.
    pub(crate) strict_engine: Engine,
    pub(crate) executor: Executor,
    pub(crate) options: ServeOptions,
}

type Shared = axum::extract::State<Arc<State>>;

/// The whole application: every route, JSON rejections, the body limit.
pub fn router(mut options: ServeOptions) -> Router {
    // A spec sent to the API never reads the server's disk through a file body.
    options.executor.local_files = None;
    let engine = Engine::new();
    let mut strict_engine = engine.clone();
    strict_engine.set_strict(true);
    let state =
        Arc::new(State { engine, strict_engine, executor: Executor::with_options(options.executor.clone()), options });
    Router::new()
        .route("/", get(page::index))
        .route("/page.css", get(page::stylesheet))
        .route("/page.js", get(page::script))
        .route("/openapi.json", get(page::openapi))
        .route("/v1/functions", get(templates::functions))
        .route("/v1/eval", post(templates::eval))
        .route("/v1/render", post(templates::render))
        .route("/v1/check", post(check::check))
        .route("/v1/dry-run", post(requests::dry_run))
        .route("/v1/send", post(requests::send))
        .route("/v1/mappings", post(leaves::mappings))
        .fallback(errors::not_found)
        .method_not_allowed_fallback(errors::method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Runs `work` off the async workers: checking or rendering a large template is
/// CPU-bound, and the server keeps answering others meanwhile. A panic (a bug, not
/// bad input) is a JSON 500.
pub(crate) async fn blocking<F>(shared: Shared, work: F) -> Result<axum::response::Response, ApiError>
where
    F: FnOnce(&State) -> Result<axum::response::Response, ApiError> + Send + 'static,
{
    let state = shared.0;
    tokio::task::spawn_blocking(move || work(&state)).await.unwrap_or_else(|_| {
        Err(ApiError {
            status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            message: "courier failed on this request (a bug: please report it with the request)".to_owned(),
        })
    })
}

/// Serves [`router`] on `listener` until the process ends.
pub async fn serve(listener: TcpListener, options: ServeOptions) -> std::io::Result<()> {
    axum::serve(listener, router(options)).await
}
