//! `courier serve`: the workbench for template authors — a JSON API over the
//! engine (eval, render, check, dry-run, send, mappings, the function catalog),
//! its OpenAPI document, and the playground page, all served from the binary.
//!
//! The server is a view over the library: it reads requests, calls the same
//! functions the command line calls, and writes JSON. A spec sent to it never
//! reads the server's disk unless the operator names a folder ([`ServeOptions::files`]).
//! Before any route runs, `guard.rs` refuses other origins and hosts (a web page
//! the operator opens must not use the server), and `bounds.rs` bounds what the
//! server takes on at once and for how long.

mod bounds;
mod check;
mod errors;
mod guard;
mod leaves;
pub mod operations;
mod page;
mod requests;
mod templates;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::Engine;
use crate::request::{Executor, ExecutorOptions};

pub use bounds::{
    BODY_READ_TIMEOUT, HEADER_READ_TIMEOUT, MAX_ANSWER_BYTES, MAX_IN_PROGRESS, MAX_SENDING, MAX_WORKING, SMALL_ANSWER,
    WAIT_FOR_TURN, WRITE_TIMEOUT,
};
pub use errors::ApiError;
pub use leaves::{MAX_ANSWER_BYTES as MAX_LEAVES_BYTES, MAX_LEAVES};

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
    /// Names besides the listening address that a request's `Host` may give
    /// (`--host`): each as it is (port 80) and with the server's port.
    pub hosts: Vec<String>,
    /// The destination limits `/v1/send` keeps across its requests (`--limits`).
    pub limits: crate::replay::Limits,
}

/// What every handler shares: one engine, one delivery layer (its executor's
/// connection pools and token cache), the operator's options.
pub(crate) struct State {
    pub(crate) engine: Engine,
    /// The same engine in strict mode (`strict: true`), made once: switching mode copies the registry.
    pub(crate) strict_engine: Engine,
    /// `/v1/send`'s delivery layer, one for the process: its circuit breakers and
    /// destination limits hold across requests.
    pub(crate) delivery: crate::replay::Delivery,
    pub(crate) options: ServeOptions,
    pub(crate) bounds: Arc<bounds::Bounds>,
}

type Shared = axum::extract::State<Arc<State>>;

/// The whole application of a server listening on `address`: every route, JSON
/// rejections, the body limit, the bounds on work in progress, and the guard
/// that refuses other origins and hosts (`guard.rs`).
pub fn router(mut options: ServeOptions, address: SocketAddr) -> Router {
    // A spec sent to the API never reads the server's disk through a file body.
    options.executor.local_files = None;
    let engine = Engine::new();
    let mut strict_engine = engine.clone();
    strict_engine.set_strict(true);
    let guard = Arc::new(guard::Guard::new(address, &options.hosts));
    let bounds = Arc::new(bounds::Bounds::default());
    let executor = Executor::with_options(options.executor.clone());
    let delivery = crate::replay::Delivery::new(executor).with_limits(options.limits.clone());
    let state = Arc::new(State { engine, strict_engine, delivery, options, bounds: bounds.clone() });
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
        .merge(operations::router(None))
        // The guard runs first: a refused request takes no turn.
        .layer(axum::middleware::from_fn_with_state(bounds, bounds::limit))
        .layer(axum::middleware::from_fn_with_state(guard, guard::check))
}

/// Runs `work` off the async workers: checking or rendering a large template is
/// CPU-bound, and the server keeps answering others meanwhile. A panic (a bug, not
/// bad input) is a JSON 500.
pub(crate) async fn blocking<F>(shared: Shared, work: F) -> Result<axum::response::Response, ApiError>
where
    F: FnOnce(&State) -> Result<axum::response::Response, ApiError> + Send + 'static,
{
    let state = shared.0;
    let turn = state.bounds.work_turn().await?;
    tokio::task::spawn_blocking(move || {
        // Held until the work ends, even when the client has gone.
        let _turn = turn;
        work(&state)
    })
    .await
    .unwrap_or_else(|_| {
        Err(ApiError {
            status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            message: "courier failed on this request (a bug: please report it with the request)".to_owned(),
        })
    })
}

/// Serves [`router`] on `listener` until the process ends, over HTTP/1.1 with
/// the header-read, idle and write timeouts of `bounds.rs`.
pub async fn serve(listener: TcpListener, options: ServeOptions) -> std::io::Result<()> {
    serve_until(listener, options, std::future::pending(), std::time::Duration::ZERO).await
}

/// Serves [`router`] on `listener` until `shutdown` completes; then accepts no
/// more connections, lets the requests in progress finish (each connection closes
/// once its answer is written) for at most `grace`, and returns.
pub async fn serve_until(
    listener: TcpListener,
    options: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
    grace: std::time::Duration,
) -> std::io::Result<()> {
    let app = router(options, listener.local_addr()?);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    let connections = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of descriptors, say: wait for connections to end rather than spin.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection =
            http.serve_connection(TokioIo::new(bounds::Timed::new(stream)), TowerToHyperService::new(app.clone()));
        let connection = connections.watch(connection);
        tokio::spawn(async move {
            // A connection's failure (a timeout, a reset) is its own, not the server's.
            let _ = connection.await;
        });
    }
    drop(listener);
    // Requests in progress finish; what is still open after the grace is dropped.
    let _ = tokio::time::timeout(grace, connections.shutdown()).await;
    Ok(())
}
