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
    /// The query, as sent (empty without one).
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// When it arrived (before the server's delay).
    pub at: std::time::Instant,
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
    /// A header every answer carries (`Retry-After`, say), if any.
    header: Mutex<Option<(String, String)>>,
    /// Requests being answered now, and the most there were at once.
    in_flight: AtomicU64,
    most_in_flight: AtomicU64,
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
        Server::start_at("127.0.0.1", port)
    }

    /// A server on a loopback address (`127.0.0.2`: another host) and port (0: any free one).
    pub fn start_at(ip: &'static str, port: u16) -> Server {
        let state = Arc::new(State::default());
        state.status.store(200, Ordering::SeqCst);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind((ip, port)).await.expect("the port is free");
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

    /// A header every answer carries from now on (`None`: none).
    pub fn answer_header(&self, header: Option<(&str, &str)>) {
        *self.state.header.lock().unwrap() = header.map(|(name, value)| (name.to_owned(), value.to_owned()));
    }

    /// Waits this long before each answer (after recording the request).
    pub fn delay(&self, delay: Duration) {
        self.state.delay_ms.store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The most requests this server was answering at once (from arrival to answer).
    pub fn most_in_flight(&self) -> u64 {
        self.state.most_in_flight.load(Ordering::SeqCst)
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
    let query = request.uri().query().unwrap_or_default().to_owned();
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let at = std::time::Instant::now();
    let now_in_flight = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.most_in_flight.fetch_max(now_in_flight, Ordering::SeqCst);
    state.seen.lock().unwrap().push(Seen { method, path, query, headers, body, at });
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    let status = state.status.load(Ordering::SeqCst);
    let mut response = Response::builder().status(status);
    if let Some((name, value)) = state.header.lock().unwrap().clone() {
        response = response.header(name, value);
    }
    let response = response
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

/// The `courier` binary, run in `folder` with no `COURIER_STORE` from outside, and
/// allowed to send to the loopback servers of the tests.
pub fn courier(folder: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.current_dir(folder).env_remove("COURIER_STORE").env("COURIER_ALLOW", "private");
    command
}

/// A queued POST to `url` with the idempotency key `key` and a body naming it.
pub fn queued(url: &str, key: String) -> courier::replay::NewRecord {
    use courier::replay::{NewRecord, Saved, State};
    use courier::request::{Method, Prepared, Timeouts};
    NewRecord {
        state: State::Pending,
        saved: Saved {
            request: Prepared {
                method: Method::Post,
                url: url.to_owned(),
                headers: vec![
                    ("content-type".to_owned(), "application/json".to_owned()),
                    ("idempotency-key".to_owned(), key.clone()),
                ],
                body: Some(body_of(&key)),
                timeouts: Timeouts::default(),
            },
            idempotency_key: key,
            spec_name: None,
            spec_sha256: None,
            credentials: None,
        },
        attempts: 0,
        last_error: None,
        tenant: None,
        trace_context: None,
    }
}

/// The body [`queued`] gives the request with key `key`.
pub fn body_of(key: &str) -> Vec<u8> {
    format!("{{\"key\": \"{key}\"}}").into_bytes()
}

/// A request that kills its worker uses up its attempts: the server never answers,
/// and each worker (`--max-attempts 3 --lease 1s`, on `store`) is SIGKILLed as soon
/// as the request reaches the server. After three kills the next worker's claim
/// finds the attempts spent and the record dead, unsent: three deliveries, not more.
/// Each claim also put off the record's next attempt by the backoff.
pub fn kills_use_up_attempts(folder: &Path, store: &str, insert: impl FnOnce(&str)) {
    let server = Server::start();
    server.delay(Duration::from_secs(60));
    insert(&server.url("/slow"));
    let worker = || {
        courier(folder)
            .args(["worker", "--store", store, "--lease", "1s", "--max-attempts", "3", "--concurrency", "1"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("courier runs")
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "waited in vain for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    for attempt in 1..=3 {
        let mut running = worker();
        wait_for(&format!("attempt {attempt}"), &|| server.seen().len() >= attempt);
        running.kill().expect("SIGKILL");
        running.wait().expect("the worker ends");
        let record = list(folder, store).remove(0);
        assert_eq!((record["state"].as_str(), record["attempts"].as_u64()), (Some("pending"), Some(attempt as u64)));
        if attempt == 1 {
            let time = |field: &str| {
                chrono::DateTime::parse_from_rfc3339(record[field].as_str().expect("a time")).expect("RFC 3339")
            };
            let put_off = time("next_attempt_at") - time("created_at");
            assert!(put_off >= chrono::TimeDelta::milliseconds(500), "the claim scheduled the backoff: {record}");
        }
    }
    let mut last = worker();
    wait_for("the record to go dead", &|| list(folder, store)[0]["state"] == "dead");
    last.kill().expect("SIGKILL");
    last.wait().expect("the worker ends");
    let record = list(folder, store).remove(0);
    assert_eq!(record["attempts"], 3, "{record}");
    assert!(record["last_error"].as_str().unwrap_or_default().contains("attempts ran out"), "{record}");
    assert_eq!(server.seen().len(), 3, "no fourth delivery");
}

/// A worker killed while claimed records sit in its buffer, and one killed between
/// its sends and the commit of their batch, lose nothing. Ten requests are queued
/// (`insert`, on `store`) to a server that answers after 400 ms. The first worker
/// (`--concurrency 1`) claims them all in one batch and is SIGKILLed during its
/// first send: nine sit in its buffer, unsent. The second (`--concurrency 4`),
/// once their leases lapse, claims them and sends four; `lock` then holds the
/// store's write lock, so that their batch cannot commit when the answers come,
/// and the worker is SIGKILLed once it has them. After that every request still
/// reaches the server — the four answered ones twice, with the same key and body.
pub fn kills_in_the_buffer_and_before_the_batch_commits<L>(
    folder: &Path,
    store: &str,
    insert: impl FnOnce(&[courier::replay::NewRecord]),
    lock: impl FnOnce() -> L,
) {
    let server = Server::start();
    server.delay(Duration::from_millis(400));
    let records: Vec<courier::replay::NewRecord> =
        (0..10).map(|n| queued(&server.url("/buffered"), format!("buffered-{n:02}"))).collect();
    insert(&records);
    let worker = |concurrency: &str| {
        courier(folder)
            .args(["worker", "--store", store, "--lease", "1s", "--concurrency", concurrency])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("courier runs")
    };
    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !done() {
            assert!(std::time::Instant::now() < deadline, "waited in vain for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    let held =
        || list(folder, store).iter().filter(|record| !record["attempts"].is_null() && record["attempts"] != 0).count();

    let mut first = worker("1");
    wait_for("the first send", &|| !server.seen().is_empty());
    first.kill().expect("SIGKILL");
    first.wait().expect("the worker ends");
    assert_eq!(server.seen().len(), 1, "one send in flight, the rest buffered");
    assert_eq!(held(), 10, "all ten were claimed in one batch, and none settled");

    std::thread::sleep(Duration::from_millis(1100));
    let mut second = worker("4");
    wait_for("four sends", &|| server.seen().len() >= 5);
    let guard = lock();
    std::thread::sleep(Duration::from_millis(700));
    second.kill().expect("SIGKILL");
    second.wait().expect("the worker ends");
    drop(guard);
    let answered: Vec<String> =
        server.seen()[1..].iter().filter_map(|seen| seen.header("idempotency-key").map(str::to_owned)).collect();
    assert!(answered.len() >= 4, "{answered:?}");
    assert_eq!(list(folder, store).len(), 10, "the answered four were not deleted: their batch never committed");

    let mut runs = 0;
    while !list(folder, store).is_empty() {
        runs += 1;
        assert!(runs <= 10, "the queue does not drain");
        std::thread::sleep(Duration::from_millis(1100));
        let output = courier(folder)
            .args(["worker", "--store", store, "--lease", "1s", "--until-empty", "--concurrency", "8"])
            .output()
            .expect("courier runs");
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let keys = server.keys();
    for record in &records {
        let key = &record.saved.idempotency_key;
        assert!(keys.contains_key(key), "{key} never reached the server");
    }
    for key in &answered {
        assert!(keys[key] >= 2, "{key}: answered before the kill, so sent again after it");
    }
    for seen in server.seen() {
        let key = seen.header("idempotency-key").expect("a key");
        assert_eq!(seen.body, body_of(key), "every delivery of {key} carries its body");
    }
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

/// A spec source with no specs: for records whose requests carry no credentials,
/// so the worker never needs their spec.
pub struct NoSpecs;

impl courier::replay::SpecSource for NoSpecs {
    fn load(&self, name: &str) -> Result<std::sync::Arc<courier::request::CompiledRequest>, String> {
        Err(format!("no spec {name}: these requests have no credentials"))
    }
}
