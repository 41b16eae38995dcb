//! What operators scrape and probe, with the real binary: `courier worker
//! --metrics ADDR` after a drain with a known mix of answers, its page read back
//! count by count (and checked by Prometheus's own `promtool` when
//! `COURIER_TEST_PROMTOOL=1`), `/healthz`, and `/readyz` following PostgreSQL down
//! and up (with `COURIER_TEST_POSTGRES=1`); `courier serve` answers the same paths.
#![cfg(feature = "cli")]

mod pg_support;
mod replay_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use pg_support::Cluster;
use replay_support::{Server, courier, stderr};

/// A worker running in the background with its metrics listener; killed on drop.
struct RunningWorker {
    child: Child,
    address: String,
    said: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl RunningWorker {
    fn start(folder: &Path, store: &str, extra: &[&str]) -> RunningWorker {
        let mut child = courier(folder)
            .args(["worker", "--store", store, "--metrics", "127.0.0.1:0", "--allow", "127.0.0.1"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().expect("the worker says where its metrics are").unwrap();
        let address = first
            .strip_prefix("metrics on http://")
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .to_owned();
        // Keep reading, so that a full pipe never stops the worker; kept for messages.
        let said = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = said.clone();
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| kept.lock().unwrap().push(line)));
        RunningWorker { child, address, said }
    }

    /// What the worker wrote on stderr so far.
    fn said(&self) -> String {
        self.said.lock().unwrap().join("\n")
    }
}

impl Drop for RunningWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET path` on `address`: the status and the body.
fn get(address: &str, path: &str) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(address) else { return (0, "nothing listens".to_owned()) };
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    (status, body)
}

/// The value of the sample named exactly `series` (name and labels as printed).
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Scrapes until `done` holds for the page, for at most 30 s.
fn scrape_until(address: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let (status, page) = get(address, "/metrics");
        assert_eq!(status, 200, "{page}");
        if done(&page) {
            return page;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the page never got there:\n{page}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn enqueue(folder: &Path, store: &str, lines: &[String]) {
    let spec = "method = \"POST\"\nurl = \"${base}/${id}\"\nbody = \"json\"\npayload = '{\"id\": \"${id}\"}'\n";
    std::fs::write(folder.join("order.toml"), spec).unwrap();
    std::fs::write(folder.join("lines.jsonl"), lines.join("\n") + "\n").unwrap();
    let queued = courier(folder)
        .args(["enqueue", "order.toml", "--store", store, "--vars-jsonl", "lines.jsonl", "--allow", "127.0.0.1"])
        .output()
        .unwrap();
    assert!(queued.status.success(), "{}", stderr(&queued));
}

#[test]
fn the_page_counts_a_drain_exactly() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db").to_string_lossy().into_owned();
    let (good, bad) = (Server::start(), Server::start());
    bad.answer_with(503);
    let mut lines: Vec<String> =
        (0..3).map(|n| format!(r#"{{"base": "{}", "id": "ok{n}"}}"#, good.url("/orders"))).collect();
    lines.extend((0..2).map(|n| format!(r#"{{"base": "{}", "id": "down{n}"}}"#, bad.url("/orders"))));
    enqueue(folder.path(), &store, &lines);

    // One attempt each: the 503s go dead at once.
    let worker = RunningWorker::start(folder.path(), &store, &["--max-attempts", "1"]);
    let page = scrape_until(&worker.address, |page| {
        sample(page, "courier_deliveries_total{result=\"delivered\"}") == Some(3.0)
            && sample(page, "courier_deliveries_total{result=\"dead\"}") == Some(2.0)
    });
    assert_eq!(sample(&page, "courier_attempts_total{status_class=\"2xx\"}"), Some(3.0), "{page}");
    assert_eq!(sample(&page, "courier_attempts_total{status_class=\"5xx\"}"), Some(2.0), "{page}");
    assert_eq!(sample(&page, "courier_attempt_duration_seconds_count"), Some(5.0), "{page}");
    assert_eq!(sample(&page, "courier_in_flight"), Some(0.0), "{page}");
    assert_eq!(sample(&page, "courier_deliveries_total{result=\"retry\"}"), None, "{page}");
    // What the services saw agrees with the page.
    assert_eq!((good.seen().len(), bad.seen().len()), (3, 2));
    // Every metric has its help and type; the duration is a histogram.
    for name in ["courier_attempts_total", "courier_attempt_duration_seconds", "courier_in_flight"] {
        assert!(page.contains(&format!("# HELP {name} ")), "{name}:\n{page}");
    }
    assert!(page.contains("# TYPE courier_attempt_duration_seconds histogram"), "{page}");
    // The queue's gauges: nothing left, the two dead ones no longer queued.
    // (The gauges are read at most once a second: a figure from the middle of the
    // drain stays up to a second.)
    let page = scrape_until(&worker.address, |page| {
        sample(page, "courier_queue_due") == Some(0.0) && sample(page, "courier_queue_waiting") == Some(0.0)
    });
    // No URL, path or body in any label; a host name only in a breaker's.
    assert!(!page.contains("/orders"), "{page}");
    let named: Vec<&str> = page.lines().filter(|line| line.contains("127.0.0.1")).collect();
    assert!(named.iter().all(|line| line.starts_with("courier_breaker_open{host=\"127.0.0.1:")), "{named:?}");
    assert_eq!(get(&worker.address, "/healthz").0, 200);
    assert_eq!(get(&worker.address, "/readyz").0, 200);
    promtool_accepts(&page);
}

/// `courier_breaker_open{host}` follows each host's breaker: 1 for a dead host once
/// its failures open it (and the dead service then sees nothing more), none or 0
/// for a host that answers.
#[test]
fn the_page_shows_each_hosts_breaker() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db").to_string_lossy().into_owned();
    let (good, dead) = (Server::start(), Server::start());
    dead.answer_with(503);
    let mut lines: Vec<String> =
        (0..2).map(|n| format!(r#"{{"base": "{}", "id": "ok{n}"}}"#, good.url("/orders"))).collect();
    lines.extend((0..6).map(|n| format!(r#"{{"base": "{}", "id": "down{n}"}}"#, dead.url("/orders"))));
    enqueue(folder.path(), &store, &lines);
    let host = |server: &Server| {
        let url = server.url("/");
        url.trim_start_matches("http://").trim_end_matches('/').to_owned()
    };
    let (good_series, dead_series) = (
        format!("courier_breaker_open{{host=\"{}\"}}", host(&good)),
        format!("courier_breaker_open{{host=\"{}\"}}", host(&dead)),
    );
    let worker = RunningWorker::start(folder.path(), &store, &["--breaker-failures", "2", "--breaker-cooldown", "60s"]);
    // A host that never failed has no breaker state to show, or shows it closed.
    let page = scrape_until(&worker.address, |page| {
        sample(page, &dead_series) == Some(1.0) && sample(page, &good_series).is_none_or(|value| value == 0.0)
    });
    assert!(page.contains("# TYPE courier_breaker_open gauge"), "{page}");
    assert_eq!(good.seen().len(), 2, "{}", worker.said());
    // The breaker is open: for a while (the cooldown is a minute) the dead host gets nothing more.
    let seen = dead.seen().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(dead.seen().len(), seen, "nothing is sent to a host whose breaker is open");
    promtool_accepts(&page);
}

/// Prometheus's own checker, where `.ci/run` installed it.
fn promtool_accepts(page: &str) {
    if std::env::var_os("COURIER_TEST_PROMTOOL").is_none() {
        eprintln!("skipped: promtool check metrics (set COURIER_TEST_PROMTOOL=1 with promtool installed)");
        return;
    }
    let mut check = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed");
    check.stdin.take().unwrap().write_all(page.as_bytes()).unwrap();
    let checked = check.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&checked.stdout).into_owned() + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success() && said.trim().is_empty(), "promtool: {said}\n{page}");
}

#[test]
fn readyz_follows_postgres_down_and_up() {
    let Some(cluster) = Cluster::start("readyz following PostgreSQL") else { return };
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    enqueue(folder.path(), &cluster.url(), &[format!(r#"{{"base": "{}", "id": "one"}}"#, server.url("/orders"))]);
    let worker = RunningWorker::start(folder.path(), &cluster.url(), &[]);
    // A worker whose very first claim fails stops (a wrong address is said at once);
    // once it has worked, it rides outages out.
    scrape_until(&worker.address, |page| sample(page, "courier_deliveries_total{result=\"delivered\"}") == Some(1.0));
    let ready = |want: u16| {
        let started = Instant::now();
        loop {
            let (status, body) = get(&worker.address, "/readyz");
            if status == want {
                return body;
            }
            let said = worker.said();
            assert!(started.elapsed() < Duration::from_secs(30), "/readyz stayed {status}: {body}\nworker: {said}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    ready(200);
    cluster.stop();
    let body = ready(503);
    assert!(body.contains("store"), "{body}");
    assert_eq!(get(&worker.address, "/healthz").0, 200);
    cluster.start_again();
    ready(200);
}

/// `POST /v1/send` with `body` on `address`: the whole answer, status line first.
fn post_send(address: &str, body: &str) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        stream,
        "POST /v1/send HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

/// Starts `courier serve` with `args`; the process and the address it listens on.
fn start_serve(args: &[&str]) -> (Child, String) {
    let mut server = courier(Path::new("."))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.split("http://").nth(1).and_then(|rest| rest.split('/').next()).map(str::to_owned);
    (server, address.unwrap_or_else(|| panic!("serve says where it listens: {line}")))
}

#[test]
fn serve_finishes_the_requests_in_progress_on_sigterm() {
    let service = Server::start();
    service.delay(Duration::from_millis(1500));
    let (mut server, address) = start_serve(&["--allow-send", "--allow", "127.0.0.1", "--grace", "20s"]);
    let spec = format!("method = \"POST\"\nurl = \"{}\"\n", service.url("/slow"));
    let body = serde_json::json!({ "spec": spec }).to_string();
    let sending = {
        let address = address.clone();
        std::thread::spawn(move || post_send(&address, &body))
    };
    // SIGTERM while the send waits for the slow service.
    let started = Instant::now();
    while service.seen().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(20), "the send never reached the service");
        std::thread::sleep(Duration::from_millis(20));
    }
    let terminated = std::process::Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap();
    assert!(terminated.success());
    let answer = sending.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"status\":200"), "{answer}");
    let exited = server.wait().unwrap();
    assert!(exited.success(), "{exited:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(get(&address, "/healthz").0, 0, "nothing listens once it stopped");
}

#[test]
fn serve_answers_the_same_paths() {
    let service = Server::start();
    let (mut server, address) = start_serve(&["--allow-send", "--allow", "127.0.0.1"]);
    assert_eq!(get(&address, "/healthz").0, 200);
    assert_eq!(get(&address, "/readyz").0, 200);
    // What /v1/send sent is on serve's own page.
    let spec = format!("url = \"{}\"\n", service.url("/ok"));
    let answer = post_send(&address, &serde_json::json!({ "spec": spec }).to_string());
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (status, page) = get(&address, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(sample(&page, "courier_attempts_total{status_class=\"2xx\"}"), Some(1.0), "{page}");
    assert!(page.contains("# TYPE courier_attempt_duration_seconds histogram"), "{page}");
    let _ = server.kill();
    let _ = server.wait();
}

/// SIGTERM while a worker has sends in flight and more records claimed in its
/// buffer: the sends complete, the worker exits 0 within its grace having put the
/// buffered records back, and a second worker started at once delivers them without
/// waiting for the (long) lease; every request arrives exactly once.
fn sigterm_finishes_the_sends_and_puts_the_rest_back(store: &str) {
    let folder = tempfile::tempdir().unwrap();
    let service = Server::start();
    service.delay(Duration::from_millis(800));
    let lines: Vec<String> =
        (0..20).map(|n| format!(r#"{{"base": "{}", "id": "r{n}"}}"#, service.url("/orders"))).collect();
    enqueue(folder.path(), store, &lines);
    let mut worker = courier(folder.path())
        .args(["worker", "--store", store, "--allow", "127.0.0.1", "--concurrency", "2", "--batch", "20"])
        .args(["--lease", "10m", "--grace", "20s"])
        // All 20 claimed at once: above the default cap of 16 in flight per host.
        .args(["--per-host", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while service.seen().len() < 2 {
        assert!(started.elapsed() < Duration::from_secs(30), "the worker never sent");
        std::thread::sleep(Duration::from_millis(20));
    }
    let stopped_at = Instant::now();
    let terminated = std::process::Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    assert!(terminated.success());
    let mut report = String::new();
    worker.stdout.take().unwrap().read_to_string(&mut report).unwrap();
    let exited = worker.wait().unwrap();
    assert!(exited.success(), "{exited:?}");
    assert!(stopped_at.elapsed() < Duration::from_secs(20), "it took {:?}", stopped_at.elapsed());
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    let (delivered, released) = (report["delivered"].as_u64().unwrap(), report["released"].as_u64().unwrap_or(0));
    assert!(delivered >= 2, "the sends in flight completed: {report}");
    assert_eq!(delivered + released, 20, "{report}");
    assert!(released > 0, "records were held in the buffer: {report}");

    // The second worker does not wait for the ten-minute lease.
    service.delay(Duration::ZERO);
    let second_started = Instant::now();
    let second = courier(folder.path())
        .args(["worker", "--store", store, "--allow", "127.0.0.1", "--until-empty", "--lease", "10m"])
        .output()
        .unwrap();
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(second_started.elapsed() < Duration::from_secs(60));
    let keys = service.keys();
    assert_eq!(keys.len(), 20, "every record arrived");
    assert!(keys.values().all(|&count| count == 1), "nothing was sent twice: {keys:?}");
    let listed = replay_support::list(folder.path(), store);
    assert!(listed.is_empty(), "{listed:?}");
}

#[test]
fn a_worker_stops_on_sigterm_without_losing_or_repeating_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db").to_string_lossy().into_owned();
    sigterm_finishes_the_sends_and_puts_the_rest_back(&store);
}

#[test]
fn a_worker_stops_on_sigterm_without_losing_or_repeating_on_postgres() {
    let Some(cluster) = Cluster::start("a worker's graceful stop on PostgreSQL") else { return };
    sigterm_finishes_the_sends_and_puts_the_rest_back(&cluster.url());
}
