//! A fair fleet (issue #22), against real parts: `courier worker` processes,
//! loopback services on several 127.0.0.x addresses (each its own host), the
//! SQLite store and — with `COURIER_TEST_POSTGRES=1` — several workers sharing a
//! throwaway PostgreSQL cluster. What is asserted is what the services saw (when
//! each request arrived), not courier's own counters. Every wait is bounded.

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
