//! A fair fleet (issue #22), against real parts: `courier worker` processes,
//! loopback services on several 127.0.0.x addresses (each its own host), the
//! SQLite store and — with `COURIER_TEST_POSTGRES=1` — several workers sharing a
//! throwaway PostgreSQL cluster. What is asserted is what the services saw (when
//! each request arrived), not courier's own counters. Every wait is bounded.
#![cfg(feature = "cli")]

mod common;
mod pg_support;
mod replay_support;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use courier::replay::{NewRecord, PostgresStore, ReplayStore, SqliteStore};
use pg_support::Cluster;
use replay_support::{Server, courier, queued};

/// Worker processes, killed when dropped (also when the test panics).
struct Workers(Vec<Child>);

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `count` workers on `store`, each with these extra arguments, logging to the folder.
fn workers(folder: &Path, store: &str, count: usize, extra: &[&str]) -> Workers {
    Workers(
        (0..count)
            .map(|n| {
                let log = std::fs::File::create(folder.join(format!("worker-{n}.log"))).unwrap();
                courier(folder)
                    .args(["worker", "--store", store, "--lease", "10s"])
                    .args(extra)
                    .stdout(Stdio::null())
                    .stderr(log)
                    .spawn()
                    .unwrap()
            })
            .collect(),
    )
}

/// Polls `done` every 20 ms for at most `limit`; whether it came true.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn open(store: &str) -> Box<dyn ReplayStore> {
    if store.starts_with("postgres") {
        Box::new(PostgresStore::open(store).unwrap())
    } else {
        Box::new(SqliteStore::open(store).unwrap())
    }
}

/// `count` queued POSTs of `tenant` to `url`, keys `PREFIX-N`.
fn records(tenant: &str, url: &str, prefix: &str, count: usize) -> Vec<NewRecord> {
    (0..count).map(|n| NewRecord { tenant: Some(tenant.to_owned()), ..queued(url, format!("{prefix}-{n}")) }).collect()
}

/// Tenant "flood" queues 300 requests to a slow host (400 ms each); once the
/// workers are busy with them, tenant "calm" queues 3 to a fast host. Taken in
/// due order they would wait for the flood (300 × 0.4 s over the workers' sends:
/// 10 s and more); taken in turns, they arrive within a couple of seconds.
fn a_flood_to_a_slow_host_does_not_hold_back_another_tenant(store: &str, count: usize) {
    let folder = tempfile::tempdir().unwrap();
    let slow = Server::start_at("127.0.0.2", 0);
    slow.delay(Duration::from_millis(400));
    let fast = Server::start_at("127.0.0.3", 0);
    let queue = open(store);
    queue.insert(&records("flood", &slow.url("/flood"), "flood", 300)).unwrap();
    let _workers = workers(folder.path(), store, count, &["--concurrency", "4", "--batch", "8"]);
    assert!(wait_until(Duration::from_secs(20), || slow.seen().len() >= 4 * count), "the workers got busy");
    let queued_at = Instant::now();
    queue.insert(&records("calm", &fast.url("/calm"), "calm", 3)).unwrap();
    assert!(wait_until(Duration::from_secs(20), || fast.seen().len() >= 3), "calm's requests arrived");
    let last = fast.seen().iter().map(|seen| seen.at).max().unwrap();
    let waited = last.duration_since(queued_at);
    let flooded = slow.seen().len();
    assert!(waited < Duration::from_secs(3), "calm's last request arrived {waited:?} after it was queued");
    assert!(flooded < 200, "the flood was still going ({flooded} of 300 sent), so calm did not just wait it out");
}

#[test]
fn a_tenants_flood_to_a_slow_host_does_not_hold_back_another_tenant_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db");
    a_flood_to_a_slow_host_does_not_hold_back_another_tenant(store.to_str().unwrap(), 1);
}

#[test]
fn a_tenants_flood_to_a_slow_host_does_not_hold_back_another_tenant_across_postgres_workers() {
    let test = "a_tenants_flood_to_a_slow_host_does_not_hold_back_another_tenant_across_postgres_workers";
    let Some(cluster) = Cluster::start(test) else { return };
    a_flood_to_a_slow_host_does_not_hold_back_another_tenant(&cluster.url(), 3);
}

#[test]
fn a_records_tenant_comes_from_the_specs_template_or_from_send_tenant() {
    let folder = tempfile::tempdir().unwrap();
    let spec = "method = \"POST\"\nurl = \"http://127.0.0.2:9/x\"\nqueue = true\ntenant = \"team-${customer}\"\n";
    std::fs::write(folder.path().join("queued.toml"), spec).unwrap();
    let store = folder.path().join("queue.db");
    let store = store.to_str().unwrap();
    for extra in [&[][..], &["--tenant", "chosen"][..]] {
        let sent = courier(folder.path())
            .args(["send", "queued.toml", "--var", "customer=acme", "--store", store])
            .args(extra)
            .output()
            .unwrap();
        assert!(sent.status.success(), "{}", replay_support::stderr(&sent));
    }
    let tenants: Vec<serde_json::Value> =
        replay_support::list(folder.path(), store).iter().map(|record| record["tenant"].clone()).collect();
    assert_eq!(tenants, [serde_json::json!("team-acme"), serde_json::json!("chosen")]);
}

/// Every record of `store`, as JSON (`courier replay list --format json`).
fn listed(folder: &Path, store: &str) -> Vec<serde_json::Value> {
    replay_support::list(folder, store)
}

/// A host that answers 503 to everything: after the breaker's 3 failures it gets
/// only probes (a cooldown of 1 s, doubling), however many records wait for it, and
/// they wait without spending their attempts; once it answers again, all of them
/// are delivered.
fn a_dead_host_gets_a_handful_of_requests_then_everything_once_it_recovers(store: &str, count: usize) {
    const RECORDS: usize = 40;
    let folder = tempfile::tempdir().unwrap();
    let dead = Server::start_at("127.0.0.4", 0);
    dead.answer_with(503);
    open(store).insert(&records("t", &dead.url("/dead"), "dead", RECORDS)).unwrap();
    let extra = ["--concurrency", "2", "--batch", "4", "--breaker-failures", "3", "--breaker-cooldown", "1s"];
    let _workers = workers(folder.path(), store, count, &extra);
    std::thread::sleep(Duration::from_secs(5));
    let while_dead = dead.seen().len();
    // Three failures open it, each worker may have had its sends in flight, and
    // probes go after 1 s, 2 s (4 s is past the window): without a breaker 40
    // records retried with a 1 s backoff would have made well over 60 requests.
    let handful = 3 + 2 * count + 3 * count;
    assert!(while_dead <= handful, "the dead host got {while_dead} requests in 5 s (at most {handful})");
    let waiting = listed(folder.path(), store);
    assert_eq!(waiting.len(), RECORDS, "every record waits");
    let spent: u64 = waiting.iter().map(|record| record["attempts"].as_u64().unwrap()).sum();
    assert!(spent <= handful as u64, "the waiting records spent {spent} attempts");
    assert!(waiting.iter().all(|record| record["state"] == "pending"), "none went dead");
    // `courier destinations` shows the breaker.
    let shown = courier(folder.path()).args(["destinations", "--store", store, "--format", "json"]).output().unwrap();
    assert!(shown.status.success(), "{}", replay_support::stderr(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let host = dead.address.to_string();
    let hosts = shown["destinations"].as_array().unwrap();
    let entry = hosts.iter().find(|entry| entry["host"] == host.as_str()).expect("the dead host is listed");
    assert!(entry["breaker"] == "open" || entry["breaker"] == "half-open", "{entry}");
    assert!(entry["failures"].as_u64().unwrap() >= 3 && entry["in_flight"].is_u64(), "{entry}");
    let probe_at = entry["probe_at"].as_str().expect("an open breaker has a probe time");
    assert!(chrono::DateTime::parse_from_rfc3339(probe_at).is_ok(), "{probe_at}");
    assert!(entry["rate"].is_null() && entry["concurrency"].is_null(), "{entry}");
    dead.answer_with(200);
    assert!(
        wait_until(Duration::from_secs(30), || listed(folder.path(), store).is_empty()),
        "every record was delivered once the host recovered"
    );
    assert_eq!(dead.keys().len(), RECORDS);
}

#[test]
fn a_dead_host_gets_a_handful_of_requests_then_everything_once_it_recovers_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db");
    a_dead_host_gets_a_handful_of_requests_then_everything_once_it_recovers(store.to_str().unwrap(), 1);
}

#[test]
fn a_dead_host_gets_a_handful_of_requests_then_everything_once_it_recovers_across_postgres_workers() {
    let test = "a_dead_host_gets_a_handful_of_requests_then_everything_once_it_recovers_across_postgres_workers";
    let Some(cluster) = Cluster::start(test) else { return };
    a_dead_host_gets_a_handful_of_requests_then_everything_once_it_recovers(&cluster.url(), 2);
}

/// A host answers 429 with `Retry-After: 3` until the test sees its first
/// request, then 200: from then on no worker sends it anything for 3 s (allowing
/// half a second for sends already in flight and for the other workers to hear of
/// the pause), then all of it is delivered.
fn a_retry_after_pauses_the_host_for_every_worker(store: &str, count: usize) {
    const RECORDS: usize = 20;
    let folder = tempfile::tempdir().unwrap();
    let host = Server::start_at("127.0.0.5", 0);
    host.answer_with(429);
    host.answer_header(Some(("retry-after", "3")));
    open(store).insert(&records("t", &host.url("/busy"), "busy", RECORDS)).unwrap();
    let _workers = workers(folder.path(), store, count, &["--concurrency", "2", "--batch", "4"]);
    assert!(wait_until(Duration::from_secs(20), || !host.seen().is_empty()), "the host was reached");
    host.answer_with(200);
    host.answer_header(None);
    let switched = Instant::now();
    let first = host.seen()[0].at;
    assert!(
        wait_until(Duration::from_secs(30), || listed(folder.path(), store).is_empty()),
        "everything was delivered after the pause"
    );
    let seen = host.seen();
    let during: Vec<Duration> = seen
        .iter()
        .filter(|seen| seen.at > switched + Duration::from_millis(500) && seen.at < first + Duration::from_secs(3))
        .map(|seen| seen.at.duration_since(first))
        .collect();
    assert!(during.is_empty(), "requests during the pause, this long after the 429: {during:?}");
    let resumed = seen.iter().filter(|seen| seen.at >= first + Duration::from_secs(3)).count();
    assert!(resumed > 0, "the host got requests again after the pause");
}

#[test]
fn a_retry_after_pauses_the_host_for_the_worker_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db");
    a_retry_after_pauses_the_host_for_every_worker(store.to_str().unwrap(), 1);
}

#[test]
fn a_retry_after_pauses_the_host_for_every_postgres_worker() {
    let Some(cluster) = Cluster::start("a_retry_after_pauses_the_host_for_every_postgres_worker") else { return };
    a_retry_after_pauses_the_host_for_every_worker(&cluster.url(), 3);
}

#[test]
fn a_library_host_without_a_store_gets_an_in_process_breaker() {
    use courier::functions::Context;
    use courier::replay::Delivery;
    use courier::request::Cookies;
    let server = Server::start_at("127.0.0.6", 0);
    server.answer_with(503);
    let request = common::compile(&format!("method = \"GET\"\nurl = \"{}\"\n", server.url("/x")));
    let delivery = Delivery::new(common::executor());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let variables = courier::Variables::from_strings([("a", "b")]);
    let outcomes: Vec<_> = (0..7)
        .map(|_| runtime.block_on(delivery.execute(&request, &variables, &Context::default(), &mut Cookies::new())))
        .collect();
    assert_eq!(server.seen().len(), 5, "five failures open the breaker; nothing more is sent");
    let last = &outcomes[6];
    let error = last.error.as_deref().unwrap_or_default();
    let expected = format!("the circuit breaker of {} is open", server.address);
    assert!(error.contains(&expected) && error.contains("probes again at"), "{error}");
    assert!(common::event_names(&last.outcome).contains(&"api_exception"), "{:?}", last.events);
    assert_eq!(last.attempts, 0);
}

#[test]
fn a_direct_send_honours_the_open_breaker_of_its_store() {
    use courier::replay::{BreakerPolicy, HostReport};
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start_at("127.0.0.7", 0);
    let store = folder.path().join("queue.db");
    let host = server.address.to_string();
    let reports: Vec<HostReport> =
        (0..5).map(|_| HostReport { host: host.clone(), failed: true, pause_until: None }).collect();
    SqliteStore::open(&store).unwrap().report_hosts(&reports, &BreakerPolicy::default(), chrono::Utc::now()).unwrap();
    std::fs::write(folder.path().join("get.toml"), format!("method = \"GET\"\nurl = \"{}\"\n", server.url("/x")))
        .unwrap();
    let sent = courier(folder.path()).args(["send", "get.toml", "--store", store.to_str().unwrap()]).output().unwrap();
    let outcome: serde_json::Value = serde_json::from_slice(&sent.stdout).unwrap();
    let error = outcome["error"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("the circuit breaker of {host} is open")), "{outcome}");
    assert!(outcome["events"].to_string().contains("api_exception"), "{outcome}");
    assert!(server.seen().is_empty(), "nothing was sent");
}

/// 24 queued requests to a slow host (300 ms each) and `count` workers that could
/// send 8 at once each: the most the host saw at once is `per_host`, whatever the
/// number of workers; with a larger `per_host` more go at once (the twin shows
/// the cap, not the workers, held them back).
fn most_in_flight_at_one_host(store: &str, count: usize, per_host: &str) -> u64 {
    const RECORDS: usize = 24;
    let folder = tempfile::tempdir().unwrap();
    let slow = Server::start_at("127.0.0.8", 0);
    slow.delay(Duration::from_millis(300));
    open(store).insert(&records("t", &slow.url("/slow"), "slow", RECORDS)).unwrap();
    let extra = ["--concurrency", "8", "--batch", "8", "--per-host", per_host];
    let _workers = workers(folder.path(), store, count, &extra);
    assert!(
        wait_until(Duration::from_secs(20), || slow.keys().len() >= RECORDS && listed(folder.path(), store).is_empty()),
        "every request was delivered"
    );
    slow.most_in_flight()
}

#[test]
fn per_host_caps_the_requests_in_flight_across_sqlite_workers() {
    let folder = tempfile::tempdir().unwrap();
    let capped = folder.path().join("capped.db");
    let most = most_in_flight_at_one_host(capped.to_str().unwrap(), 2, "3");
    assert!((1..=3).contains(&most), "the host had {most} requests in flight at once (at most 3)");
    let wide = folder.path().join("wide.db");
    let most = most_in_flight_at_one_host(wide.to_str().unwrap(), 2, "12");
    assert!(most > 3, "with --per-host 12 the host had only {most} in flight at once");
}

#[test]
fn per_host_caps_the_requests_in_flight_across_postgres_workers() {
    let test = "per_host_caps_the_requests_in_flight_across_postgres_workers";
    let Some(cluster) = Cluster::start(test) else { return };
    let most = most_in_flight_at_one_host(&cluster.url(), 3, "3");
    assert!((1..=3).contains(&most), "the host had {most} requests in flight at once (at most 3)");
    let most = most_in_flight_at_one_host(&cluster.url(), 3, "12");
    assert!(most > 3, "with --per-host 12 the host had only {most} in flight at once");
}

/// A limits file caps one host's concurrency at 2 (below `--per-host`); another
/// host, not in the file, is held only by `--per-host`.
fn a_limits_files_concurrency_caps_its_host(store: &str, count: usize) {
    const RECORDS: usize = 16;
    let folder = tempfile::tempdir().unwrap();
    let limited = Server::start_at("127.0.0.9", 0);
    let free = Server::start_at("127.0.0.10", 0);
    for server in [&limited, &free] {
        server.delay(Duration::from_millis(300));
    }
    let file = "# limits\n[[destination]]\nhost = \"127.0.0.9\"\nconcurrency = 2\n";
    std::fs::write(folder.path().join("limits.toml"), file).unwrap();
    let queue = open(store);
    queue.insert(&records("a", &limited.url("/l"), "limited", RECORDS)).unwrap();
    queue.insert(&records("b", &free.url("/f"), "free", RECORDS)).unwrap();
    let extra = ["--concurrency", "8", "--batch", "8", "--per-host", "6", "--limits", "limits.toml"];
    let _workers = workers(folder.path(), store, count, &extra);
    assert!(
        wait_until(Duration::from_secs(20), || listed(folder.path(), store).is_empty()),
        "every request was delivered"
    );
    let (most_limited, most_free) = (limited.most_in_flight(), free.most_in_flight());
    assert!((1..=2).contains(&most_limited), "the limited host had {most_limited} in flight at once (at most 2)");
    assert!((3..=6).contains(&most_free), "the other host had {most_free} in flight at once (3 to 6)");
}

#[test]
fn a_limits_files_concurrency_caps_its_host_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db");
    a_limits_files_concurrency_caps_its_host(store.to_str().unwrap(), 2);
}

#[test]
fn a_limits_files_concurrency_caps_its_host_across_postgres_workers() {
    let test = "a_limits_files_concurrency_caps_its_host_across_postgres_workers";
    let Some(cluster) = Cluster::start(test) else { return };
    a_limits_files_concurrency_caps_its_host(&cluster.url(), 3);
}

#[test]
fn a_bad_limits_file_is_a_usage_error_naming_its_line_and_field() {
    let folder = tempfile::tempdir().unwrap();
    let file = "[[destination]]\nhost = \"api.example.org\"\nrate = \"fast\"\n";
    std::fs::write(folder.path().join("limits.toml"), file).unwrap();
    let store = folder.path().join("queue.db");
    let ran = courier(folder.path())
        .args(["worker", "--until-empty", "--store", store.to_str().unwrap(), "--limits", "limits.toml"])
        .output()
        .unwrap();
    assert_eq!(ran.status.code(), Some(2), "{}", replay_support::stderr(&ran));
    let said = replay_support::stderr(&ran);
    assert!(said.contains("limits.toml: line 3: rate: "), "{said}");
    // `send` and `serve` read the same file for direct sends, and refuse it alike.
    std::fs::write(folder.path().join("get.toml"), "url = \"https://api.example.org/\"\n").unwrap();
    for args in [&["send", "get.toml", "--limits", "limits.toml"][..], &["serve", "--limits", "limits.toml"]] {
        let ran = courier(folder.path()).args(args).output().unwrap();
        let said = replay_support::stderr(&ran);
        assert_eq!(ran.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains("limits.toml: line 3: rate: "), "{args:?}: {said}");
    }
}

/// Six direct sends at once, through one `Delivery` with a limits file, to a
/// service that answers in 300 ms.
fn direct_sends_at_once(ip: &'static str, limits: &str) -> (Server, Vec<courier::replay::Delivered>) {
    use courier::functions::Context;
    use courier::replay::{Delivery, Limits};
    use courier::request::Cookies;
    let server = Server::start_at(ip, 0);
    server.delay(Duration::from_millis(300));
    let request = common::compile(&format!("method = \"GET\"\nurl = \"{}\"\n", server.url("/x")));
    let limits = Limits { per_host: None, destinations: Limits::parse_file(limits).unwrap() };
    let delivery = Delivery::new(common::executor()).with_limits(limits);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcomes = runtime.block_on(async {
        let sends = (0..6).map(|_| {
            let (delivery, request) = (delivery.clone(), request.clone());
            tokio::spawn(async move {
                let variables = courier::Variables::new();
                delivery.execute(&request, &variables, &Context::default(), &mut Cookies::new()).await
            })
        });
        let mut outcomes = Vec::new();
        for send in sends.collect::<Vec<_>>() {
            outcomes.push(send.await.unwrap());
        }
        outcomes
    });
    (server, outcomes)
}

#[test]
fn direct_sends_keep_a_limits_files_concurrency_in_the_process() {
    let (server, outcomes) =
        direct_sends_at_once("127.0.0.21", "[[destination]]\nhost = \"127.0.0.21\"\nconcurrency = 2\n");
    assert!(outcomes.iter().all(|outcome| outcome.status == Some(200)), "each waited its turn");
    assert_eq!(server.most_in_flight(), 2, "two at once, never more");
    // The twin: a limit for another host leaves this one alone.
    let (server, _) = direct_sends_at_once("127.0.0.22", "[[destination]]\nhost = \"127.0.0.99\"\nconcurrency = 2\n");
    assert!(server.most_in_flight() > 2, "unlimited, they go at once: {}", server.most_in_flight());
}

#[test]
fn direct_sends_keep_a_limits_files_rate_in_every_second() {
    let (server, outcomes) =
        direct_sends_at_once("127.0.0.23", "[[destination]]\nhost = \"127.0.0.23\"\nrate = \"2/s\"\n");
    assert!(outcomes.iter().all(|outcome| outcome.status == Some(200)));
    let arrivals: Vec<Instant> = server.seen().iter().map(|seen| seen.at).collect();
    for start in &arrivals {
        let within = arrivals.iter().filter(|at| **at >= *start && **at < *start + Duration::from_secs(1)).count();
        assert!(within <= 2, "{within} requests in one second from {start:?}");
    }
    let first = arrivals.iter().min().unwrap();
    let last = arrivals.iter().max().unwrap();
    assert!(*last - *first >= Duration::from_secs(2), "six at 2/s take at least two windows");
}

#[test]
fn a_direct_send_that_finds_no_room_within_its_timeout_is_not_sent() {
    use courier::functions::Context;
    use courier::replay::{Delivery, Limits};
    use courier::request::Cookies;
    let server = Server::start_at("127.0.0.24", 0);
    server.delay(Duration::from_secs(2));
    let slow = common::compile(&format!("url = \"{}\"\ntimeout = \"5s\"\n", server.url("/slow")));
    let quick = common::compile(&format!("url = \"{}\"\ntimeout = \"300ms\"\n", server.url("/quick")));
    let file = "[[destination]]\nhost = \"127.0.0.24\"\nconcurrency = 1\n";
    let limits = Limits { per_host: None, destinations: Limits::parse_file(file).unwrap() };
    let delivery = Delivery::new(common::executor()).with_limits(limits);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (slow, quick) = runtime.block_on(async {
        let first = delivery.clone();
        let slow = tokio::spawn(async move {
            first.execute(&slow, &courier::Variables::new(), &Context::default(), &mut Cookies::new()).await
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let quick =
            delivery.execute(&quick, &courier::Variables::new(), &Context::default(), &mut Cookies::new()).await;
        (slow.await.unwrap(), quick)
    });
    assert_eq!(slow.status, Some(200));
    let error = quick.error.as_deref().unwrap_or_default();
    assert!(error.contains("the destination limit of 127.0.0.24") && error.contains("concurrency = 1"), "{error}");
    assert!(common::event_names(&quick.outcome).contains(&"api_http_timeout_exception"), "{:?}", quick.events);
    assert_eq!(quick.attempts, 0);
    let paths: Vec<String> = server.seen().into_iter().map(|seen| seen.path).collect();
    assert_eq!(paths, ["/slow"], "the second was never sent");
}

#[test]
fn destinations_shows_the_limits_files_rate_and_concurrency() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db");
    let store = store.to_str().unwrap();
    let file = "[[destination]]\nhost = \"*.example.org\"\nrate = \"600/min\"\nconcurrency = 4\n\n\
                [[destination]]\nhost = \"api.example.org:8443\"\nrate = \"10/s\"\n";
    std::fs::write(folder.path().join("limits.toml"), file).unwrap();
    let queue = open(store);
    queue.insert(&records("t", "https://api.example.org:8443/x", "api", 1)).unwrap();
    queue.insert(&records("t", "https://other.net/x", "other", 1)).unwrap();
    let shown = courier(folder.path())
        .args(["destinations", "--store", store, "--format", "json", "--limits", "limits.toml"])
        .output()
        .unwrap();
    assert!(shown.status.success(), "{}", replay_support::stderr(&shown));
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let entry = |host: &str| shown["destinations"].as_array().unwrap().iter().find(|e| e["host"] == host).cloned();
    let api = entry("api.example.org:8443").expect("listed");
    assert_eq!((api["rate"].as_str(), api["concurrency"].as_u64()), (Some("10/s"), Some(4)), "{api}");
    let other = entry("other.net").expect("listed");
    assert!(other["rate"].is_null() && other["concurrency"].is_null(), "{other}");
    let table = courier(folder.path()).args(["destinations", "--store", store, "--limits", "limits.toml"]).output();
    let table = String::from_utf8(table.unwrap().stdout).unwrap();
    let line = table.lines().find(|line| line.starts_with("api.example.org:8443")).expect("a line for the host");
    assert!(line.contains("10/s") && line.trim_end().ends_with('4'), "{table}");
}

#[test]
fn the_limits_file_in_the_docs_reads() {
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/replay.md")).unwrap();
    let section = &page[page.find("**Destination limits.**").expect("the section")..];
    let start = section.find("```toml\n").expect("an example") + "```toml\n".len();
    let example = &section[start..start + section[start..].find("```").unwrap()];
    let destinations = courier::replay::Limits::parse_file(example).unwrap();
    assert_eq!(destinations.len(), 2);
    assert_eq!(destinations[1].host.to_string(), "*.example.net:8443");
}

/// The most requests `server` saw in any sliding window of `window`.
fn most_in_a_window(server: &Server, window: Duration) -> usize {
    let mut times: Vec<Instant> = server.seen().iter().map(|seen| seen.at).collect();
    times.sort();
    (0..times.len())
        .map(|i| times[i..].iter().take_while(|at| at.duration_since(times[i]) < window).count())
        .max()
        .unwrap_or(0)
}

/// A limits file rates one host at 5/s: whatever the workers could send, it saw
/// at most 5 requests in any sliding second (and every request in the end); a
/// host not in the file, fed the same, saw more.
fn a_limits_files_rate_holds_in_every_second(store: &str, count: usize) {
    const RECORDS: usize = 15;
    let folder = tempfile::tempdir().unwrap();
    let rated = Server::start_at("127.0.0.12", 0);
    let free = Server::start_at("127.0.0.13", 0);
    std::fs::write(folder.path().join("limits.toml"), "[[destination]]\nhost = \"127.0.0.12\"\nrate = \"5/s\"\n")
        .unwrap();
    let queue = open(store);
    queue.insert(&records("a", &rated.url("/r"), "rated", RECORDS)).unwrap();
    queue.insert(&records("b", &free.url("/f"), "free", RECORDS)).unwrap();
    let extra = ["--concurrency", "8", "--batch", "8", "--limits", "limits.toml"];
    let _workers = workers(folder.path(), store, count, &extra);
    assert!(
        wait_until(Duration::from_secs(15), || listed(folder.path(), store).is_empty()),
        "every request was delivered"
    );
    let most = most_in_a_window(&rated, Duration::from_secs(1));
    assert!((1..=5).contains(&most), "the rated host saw {most} requests in one second (at most 5)");
    let most_free = most_in_a_window(&free, Duration::from_secs(1));
    assert!(most_free > 5, "the other host saw only {most_free} in its busiest second");
}

#[test]
fn a_limits_files_rate_holds_in_every_second_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db");
    a_limits_files_rate_holds_in_every_second(store.to_str().unwrap(), 2);
}

#[test]
fn a_limits_files_rate_holds_in_every_second_across_postgres_workers() {
    let test = "a_limits_files_rate_holds_in_every_second_across_postgres_workers";
    let Some(cluster) = Cluster::start(test) else { return };
    a_limits_files_rate_holds_in_every_second(&cluster.url(), 3);
}

/// `--until-empty` under the default cap per host delivers every record: a claim
/// cut short by the cap while the worker's own settles were committing is not
/// taken for a dry queue (a worker once stopped with 411 of 10,000 delivered).
fn until_empty_under_a_cap_delivers_everything(store: &str) {
    const RECORDS: usize = 3000;
    let folder = tempfile::tempdir().unwrap();
    let host = Server::start_at("127.0.0.26", 0);
    open(store).insert(&records("t", &host.url("/fast"), "fast", RECORDS)).unwrap();
    let ran = courier(folder.path())
        .args(["worker", "--until-empty", "--store", store, "--concurrency", "4"])
        .output()
        .unwrap();
    assert!(ran.status.success(), "{}", replay_support::stderr(&ran));
    let left = listed(folder.path(), store).len();
    assert_eq!(left, 0, "the worker stopped with records left: {}", replay_support::stderr(&ran));
    assert_eq!(host.seen().len(), RECORDS);
}

#[test]
fn until_empty_under_a_cap_delivers_everything_on_sqlite() {
    let folder = tempfile::tempdir().unwrap();
    let store = folder.path().join("queue.db");
    until_empty_under_a_cap_delivers_everything(store.to_str().unwrap());
}

#[test]
fn until_empty_under_a_cap_delivers_everything_on_postgres() {
    let Some(cluster) = Cluster::start("until_empty_under_a_cap_delivers_everything_on_postgres") else { return };
    until_empty_under_a_cap_delivers_everything(&cluster.url());
}
