//! Support for the replay and queue tests: a real HTTP server on loopback that
//! records every request (its Idempotency-Key above all) and answers with a status
//! the test sets, and a way to run the real `courier` binary.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    status: AtomicU16,
    delay_ms: AtomicU64,
    seen: Mutex<Vec<Seen>>,
}

/// The server; it stops when dropped.
pub struct Server {
    pub address: SocketAddr,
    state: Arc<State>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// A server on a free loopback port, answering 200.
    pub fn start() -> Server {
        Server::start_on(0)
    }

    /// A server on the given loopback port (0: any free one).
    pub fn start_on(port: u16) -> Server {
        let state = Arc::new(State::default());
        state.status.store(200, Ordering::SeqCst);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.expect("the port is free");
                ready_tx.send(listener.local_addr().expect("an address")).expect("the test waits");
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            let state = shared.clone();
                            tokio::spawn(async move {
                                let service = service_fn(move |request| answer(state.clone(), request));
                                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
                            });
                        }
                    }
                }
            });
        });
        let address = ready_rx.recv().expect("the server started");
        Server { address, state, stop: Some(stop_tx), thread: Some(thread) }
    }

    /// `http://127.0.0.1:PORT` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The status of every answer from now on.
    pub fn answer_with(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Waits this long before each answer (after recording the request).
    pub fn delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// How many requests carried each Idempotency-Key.
    pub fn keys(&self) -> HashMap<String, usize> {
        let mut keys = HashMap::new();
        for seen in self.state.seen.lock().unwrap().iter() {
            if let Some(key) = seen.header("idempotency-key") {
                *keys.entry(key.to_owned()).or_insert(0) += 1;
            }
        }
        keys
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn answer(state: Arc<State>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    state.seen.lock().unwrap().push(Seen { method, path, headers, body });
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let status = state.status.load(Ordering::SeqCst);
    let response = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{\"ok\": true}")))
        .expect("a response");
    Ok(response)
}

/// A loopback port nothing listens on (bound, then let go).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// The `courier` binary, run in `folder` with no `COURIER_STORE` from outside.
pub fn courier(folder: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.current_dir(folder).env_remove("COURIER_STORE").env("COURIER_ALLOW", "private");
    command
}

/// Runs `courier ARGS` in `folder`.
pub fn run(folder: &Path, args: &[&str]) -> Output {
    courier(folder).args(args).output().expect("courier runs")
}

/// stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `courier replay list --format json` as JSON.
pub fn list(folder: &Path, store: &str) -> Vec<serde_json::Value> {
    let output = run(folder, &["replay", "list", "--format", "json", "--store", store]);
    assert!(output.status.success(), "replay list: {}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("replay list prints JSON")
}
