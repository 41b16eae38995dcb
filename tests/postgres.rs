//! The PostgreSQL store against a real server: a throwaway cluster each test starts
//! (`tests/pg_support`), only when `COURIER_TEST_POSTGRES=1` — otherwise each test
//! says on stderr that it was skipped and why, and passes.
//!
//! - the store's contract: records round-trip, leases, `SKIP LOCKED` claims from
//!   many threads never overlap, renewals, migrations from processes starting at once;
//! - `LISTEN`/`NOTIFY` wakes an idle worker before its poll;
//! - the command line: `send` queues, `replay list` lists, `worker --lease` drains;
//! - a claim counts as an attempt (SIGKILLed workers);
//! - the crash test: 3 worker processes drain 2,000 requests while they are
//!   SIGKILLed at random and the server is crashed and restarted once.
#![cfg(feature = "cli")]

mod pg_support;
mod replay_support;

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::{Child, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{TimeDelta, Utc};
use courier::replay::{Claim, Finish, PostgresStore, ReplayStore, State};
use pg_support::Cluster;
use rand::Rng;
use replay_support::{Server, body_of, courier, kills_use_up_attempts, list, queued, stderr, stdout};

fn claim(store: &PostgresStore, owner: &str, now: chrono::DateTime<Utc>, limit: usize) -> Vec<i64> {
    let until = now + TimeDelta::seconds(10);
    store.claim(&Claim::due(owner, now, until, limit)).unwrap().iter().map(|record| record.id).collect()
}

#[test]
fn the_store_contract_holds_on_postgres() {
    let Some(cluster) = Cluster::start("the_store_contract_holds_on_postgres") else { return };
    let url = cluster.url();
    let store = PostgresStore::open(&url).unwrap();
    let new = queued("http://127.0.0.1:9/x", "k1".to_owned());
    let ids = store.insert(std::slice::from_ref(&new)).unwrap();
    let records = store.list().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].id, &records[0].saved), (ids[0], &new.saved), "a record comes back as written");
    let mut each = Vec::new();
    store.each(&mut |record| each.push(record.unwrap())).unwrap();
    assert_eq!(each, records, "row by row, the same records");
    assert_eq!((records[0].state, records[0].attempts, records[0].lease.clone()), (State::Pending, 0, None));
    // A key's record is found by the key (the first saved, when two hold it); an unknown key is absent.
    let twin = store.insert(&[queued("http://127.0.0.1:9/y", "k1".to_owned())]).unwrap();
    let keys = ["k1".to_owned(), "k9".to_owned()];
    assert_eq!(store.keyed(&keys).unwrap(), HashMap::from([("k1".to_owned(), (ids[0], State::Pending))]));
    assert!(store.remove(twin[0]).unwrap());

    let now = Utc::now();
    let other = PostgresStore::open(&url).unwrap();
    assert_eq!(claim(&store, "a", now, 10), ids);
    assert!(claim(&other, "b", now, 10).is_empty(), "leased to a");
    // a renews its lease: at the old expiry, b still cannot take the record.
    let renewed = store.renew(&ids, "a", now + TimeDelta::seconds(30)).unwrap();
    assert_eq!(renewed, ids);
    assert!(other.renew(&ids, "b", now + TimeDelta::seconds(60)).unwrap().is_empty(), "b holds no lease");
    assert!(claim(&other, "b", now + TimeDelta::seconds(11), 10).is_empty(), "the renewed lease holds");
    let later = now + TimeDelta::seconds(31);
    assert_eq!(claim(&other, "b", later, 10), ids, "a lapsed lease is taken over");
    let late = Finish::Failed { state: State::Dead, error: "late".to_owned(), next_attempt_at: later };
    store.finish(ids[0], "a", &late, later).unwrap();
    assert_eq!(store.list().unwrap()[0].state, State::Pending, "a late failure changes nothing");
    other.finish(ids[0], "a", &Finish::Delivered, later).unwrap();
    assert!(store.list().unwrap().is_empty(), "delivered deletes, whoever holds it");
    assert!(!store.remove(ids[0]).unwrap());
}

#[test]
fn the_claim_plans_attempts_backoff_and_dead_letters_in_sql_as_claim_plan_says() {
    use courier::replay::Backoff;
    let test = "the_claim_plans_attempts_backoff_and_dead_letters_in_sql_as_claim_plan_says";
    let Some(cluster) = Cluster::start(test) else { return };
    let store = PostgresStore::open(&cluster.url()).unwrap();
    let with_attempts = |key: &str, attempts: u32| courier::replay::NewRecord {
        attempts,
        ..queued("http://127.0.0.1:9/", key.to_owned())
    };
    let ids = store.insert(&[with_attempts("fresh", 0), with_attempts("third", 3), with_attempts("spent", 5)]).unwrap();
    let now = Utc::now() + TimeDelta::seconds(1);
    let backoff = Backoff { first: Duration::from_secs(10), max: Duration::from_secs(60) };
    let claim = Claim {
        max_attempts: Some(5),
        backoff: Some(backoff),
        ..Claim::due("w", now, now + TimeDelta::seconds(30), 10)
    };
    let claimed = store.claim(&claim).unwrap();
    let claimed_ids: Vec<i64> = claimed.iter().map(|record| record.id).collect();
    assert_eq!(claimed_ids, ids[..2], "the spent one is not claimed");
    for (record, (attempts, full)) in claimed.iter().zip([(1, 10), (4, 60)]) {
        assert_eq!(record.attempts, attempts);
        let wait = (record.next_attempt_at - now).num_milliseconds();
        // Equal jitter: between half the full wait and all of it (the full wait
        // doubles per attempt before this one, up to the cap).
        assert!(wait >= full * 500 && wait <= full * 1000, "{}: {wait} ms", record.saved.idempotency_key);
        assert_eq!(record.lease.as_ref().map(|lease| lease.owner.as_str()), Some("w"));
    }
    let spent = store.list().unwrap().into_iter().find(|record| record.id == ids[2]).unwrap();
    assert_eq!((spent.state, spent.attempts, spent.lease.clone()), (State::Dead, 5, None));
    let error = spent.last_error.unwrap_or_default();
    assert!(error.contains("its 5 attempts ran out (max 5)"), "{error}");
    assert_eq!(Some(error), claim_plan_error(5, 5));
}

/// The error `Claim::plan` gives a record whose attempts ran out.
fn claim_plan_error(attempts: u32, max: u32) -> Option<String> {
    let now = Utc::now();
    let claim = Claim { max_attempts: Some(max), ..Claim::due("w", now, now, 1) };
    match claim.plan(attempts, now) {
        courier::replay::Planned::Exhausted { error } => Some(error),
        courier::replay::Planned::Send { .. } => None,
    }
}

#[test]
fn concurrent_claims_skip_locked_rows_and_never_overlap() {
    let Some(cluster) = Cluster::start("concurrent_claims_skip_locked_rows_and_never_overlap") else { return };
    let url = cluster.url();
    let store = PostgresStore::open(&url).unwrap();
    let records: Vec<_> = (0..400).map(|n| queued("http://127.0.0.1:9/x", format!("k{n}"))).collect();
    store.insert(&records).unwrap();
    let start = Arc::new(Barrier::new(8));
    let claimers: Vec<_> = (0..8)
        .map(|n| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                let store = PostgresStore::open(&url).unwrap();
                start.wait();
                let mut mine = Vec::new();
                loop {
                    let claimed = claim(&store, &format!("w{n}"), Utc::now(), 7);
                    if claimed.is_empty() {
                        return mine;
                    }
                    mine.extend(claimed);
                }
            })
        })
        .collect();
    let mut all: Vec<i64> = Vec::new();
    let mut claimers_with_work = 0;
    for claimer in claimers {
        let mine = claimer.join().unwrap();
        claimers_with_work += usize::from(!mine.is_empty());
        all.extend(mine);
    }
    let distinct: HashSet<i64> = all.iter().copied().collect();
    assert_eq!((all.len(), distinct.len()), (400, 400), "each record claimed exactly once");
    assert!(claimers_with_work > 1, "the claimers shared the work");
}

#[test]
fn processes_starting_at_once_migrate_the_schema_once() {
    let Some(cluster) = Cluster::start("processes_starting_at_once_migrate_the_schema_once") else { return };
    let url = cluster.database("fresh");
    let start = Arc::new(Barrier::new(8));
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let (url, start) = (url.clone(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                PostgresStore::open(&url).map(|_| ())
            })
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().expect("every opener succeeds");
    }
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let versions: Vec<i64> =
        client.query("SELECT version FROM courier_schema", &[]).unwrap().iter().map(|row| row.get(0)).collect();
    assert_eq!(versions, [6]);
    // A newer schema than this courier knows is refused.
    client.execute("UPDATE courier_schema SET version = 99", &[]).unwrap();
    let error = PostgresStore::open(&url).unwrap_err();
    assert!(error.0.contains("newer courier"), "{error}");
}

#[test]
fn a_database_of_the_first_schema_is_migrated_keeping_its_records() {
    let Some(cluster) = Cluster::start("a_database_of_the_first_schema_is_migrated_keeping_its_records") else {
        return;
    };
    let url = cluster.database("first");
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // The schema of version 1, as the first release wrote it.
    client
        .batch_execute(
            "CREATE TABLE courier_schema (version BIGINT NOT NULL);
             INSERT INTO courier_schema VALUES (1);
             CREATE TABLE courier_requests (
                 id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                 state TEXT NOT NULL CHECK (state IN ('pending', 'failed', 'dead')),
                 method TEXT NOT NULL, url TEXT NOT NULL, headers TEXT NOT NULL, body BYTEA,
                 timeout_ms BIGINT NOT NULL, connect_timeout_ms BIGINT NOT NULL, read_timeout_ms BIGINT NOT NULL,
                 idempotency_key TEXT NOT NULL, spec_name TEXT, spec_sha256 TEXT, credentials TEXT,
                 attempts INTEGER NOT NULL, last_error TEXT, created_at BIGINT NOT NULL,
                 updated_at BIGINT NOT NULL, next_attempt_at BIGINT NOT NULL, lease_owner TEXT,
                 lease_expires_at BIGINT);
             CREATE INDEX courier_requests_due ON courier_requests (state, next_attempt_at);
             INSERT INTO courier_requests (state, method, url, headers, timeout_ms, connect_timeout_ms,
                 read_timeout_ms, idempotency_key, attempts, created_at, updated_at, next_attempt_at)
             VALUES ('pending', 'POST', 'http://127.0.0.1:9/', '[]', 1000, 1000, 1000, 'k0', 0, 1, 1, 1);",
        )
        .unwrap();
    let store = PostgresStore::open(&url).unwrap();
    let records = store.list().unwrap();
    assert_eq!((records.len(), records[0].saved.idempotency_key.as_str(), records[0].tenant.clone()), (1, "k0", None));
    let version: i64 = client.query_one("SELECT version FROM courier_schema", &[]).unwrap().get(0);
    assert_eq!(version, 6);
    // The host of a record saved before the fairness migration is read from its URL.
    let host: String =
        client.query_one("SELECT host FROM courier_requests WHERE idempotency_key = 'k0'", &[]).unwrap().get(0);
    assert_eq!(host, "127.0.0.1:9");
    let indexes: Vec<String> = client
        .query("SELECT indexname FROM pg_indexes WHERE tablename = 'courier_requests' ORDER BY 1", &[])
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(
        indexes,
        ["courier_requests_fair", "courier_requests_key", "courier_requests_leased", "courier_requests_pkey"]
    );
    let trace_context =
        courier::request::trace::TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    let new = courier::replay::NewRecord {
        tenant: Some("acme".to_owned()),
        trace_context,
        ..queued("http://127.0.0.1:9/", "k1".into())
    };
    let ids = store.insert(&[new.clone(), queued("http://127.0.0.1:9/", "k2".into())]).unwrap();
    let records = store.list().unwrap();
    assert_eq!(records.iter().map(|record| record.id).collect::<Vec<_>>()[1..], ids[..]);
    assert_eq!((records[1].tenant.as_deref(), records[2].tenant.as_deref()), (Some("acme"), None));
    assert_eq!((records[1].trace_context, records[2].trace_context), (trace_context, None), "migration 3 (#23)");
    assert_eq!(records[1].saved, new.saved);
}

#[test]
fn an_insert_wakes_a_listening_worker_before_its_poll() {
    let Some(cluster) = Cluster::start("an_insert_wakes_a_listening_worker_before_its_poll") else { return };
    let store = Arc::new(PostgresStore::open(&cluster.url()).unwrap());
    // The first wait sets up the listener; nothing is queued, so it waits its time out.
    let started = Instant::now();
    store.wait_for_work(Duration::from_millis(200)).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200), "no work: the wait lasts its timeout");
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            store.wait_for_work(Duration::from_secs(20)).unwrap();
            started.elapsed()
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    store.insert(&[queued("http://127.0.0.1:9/x", "k".to_owned())]).unwrap();
    let waited = waiter.join().unwrap();
    assert!(waited < Duration::from_secs(5), "woken by the insert after {waited:?}, not by the 20 s poll");
}

#[test]
fn the_command_line_queues_lists_and_drains_a_postgres_store() {
    let Some(cluster) = Cluster::start("the_command_line_queues_lists_and_drains_a_postgres_store") else { return };
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let spec = format!(
        "method = \"POST\"\nurl = \"{}\"\nqueue = true\nbody = \"json\"\npayload = '{{\"order\": ${{order}}}}'\n",
        server.url("/orders")
    );
    std::fs::write(folder.path().join("order.toml"), spec).unwrap();
    // COURIER_STORE names the database as well as --store does.
    let url = cluster.url().replace("postgres://", "postgresql://");
    for order in ["1", "2"] {
        let sent = courier(folder.path())
            .args(["send", "order.toml", "--var", &format!("order={order}")])
            .env("COURIER_STORE", &url)
            .output()
            .unwrap();
        assert!(sent.status.success(), "{}", stderr(&sent));
        assert!(stdout(&sent).contains("\"pending\""), "{}", stdout(&sent));
    }
    assert!(!folder.path().join("courier-replay.db").exists(), "no SQLite file");
    let records = list(folder.path(), &url);
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|record| record["state"] == "pending" && record["attempts"] == 0), "{records:?}");
    let table = stdout(&courier(folder.path()).args(["replay", "list", "--store", &url]).output().unwrap());
    assert!(table.contains("pending") && table.contains(&server.url("/orders")), "{table}");

    let worked =
        courier(folder.path()).args(["worker", "--store", &url, "--until-empty", "--lease", "5s"]).output().unwrap();
    assert!(worked.status.success(), "{}", stderr(&worked));
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":2,"retried":0,"dead":0}"#);
    assert_eq!(server.keys().len(), 2);
    assert!(list(folder.path(), &url).is_empty());
}

#[test]
fn a_query_secret_never_reaches_a_postgres_store_and_the_worker_fills_it_in() {
    let Some(cluster) = Cluster::start("a_query_secret_never_reaches_a_postgres_store_and_the_worker_fills_it_in")
    else {
        return;
    };
    const QUERY_KEY: &str = "pg-qk/9+Zx y&=s\u{e9}cret";
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let spec = format!("url = '{}?key=${{secret(\"QKEY\")}}'\nqueue = true\n", server.url("/orders"));
    std::fs::write(folder.path().join("order.toml"), spec).unwrap();
    let url = cluster.url();
    let with_key = |args: &[&str]| courier(folder.path()).args(args).env("COURIER_SECRET_QKEY", QUERY_KEY).output();
    let sent = with_key(&["send", "order.toml", "--store", &url]).unwrap();
    assert!(stdout(&sent).contains("\"pending\""), "{}{}", stdout(&sent), stderr(&sent));
    let records = list(folder.path(), &url);
    assert!(records[0]["url"].as_str().unwrap().contains("key=%5Bredacted%5D"), "{records:?}");
    // Checkpointed, so that the row is in the table's file as well as in the WAL.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client.batch_execute("CHECKPOINT").unwrap();
    let json = serde_json::Value::from(QUERY_KEY).to_string();
    let forms = [
        QUERY_KEY.to_owned(),
        percent_encoding::utf8_percent_encode(QUERY_KEY, percent_encoding::NON_ALPHANUMERIC).to_string(),
        url::form_urlencoded::byte_serialize(QUERY_KEY.as_bytes()).collect(),
        json[1..json.len() - 1].to_owned(),
        base64::engine::general_purpose::STANDARD.encode(QUERY_KEY),
    ];
    let files = cluster.files();
    assert!(
        files.iter().any(|(_, bytes)| bytes.windows(11).any(|window| window == b"%5Bredacted")),
        "the row is on disk"
    );
    for (path, bytes) in &files {
        for form in &forms {
            assert!(
                !bytes.windows(form.len()).any(|window| window == form.as_bytes()),
                "{form:?} in {}",
                path.display()
            );
        }
    }
    let worked = with_key(&["worker", "--store", &url, "--until-empty", "--lease", "5s"]).unwrap();
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":1,"retried":0,"dead":0}"#, "{}", stderr(&worked));
    let seen = server.seen();
    let key = url::form_urlencoded::parse(seen[0].query.as_bytes()).find(|(name, _)| name == "key").map(|(_, v)| v);
    assert_eq!(key.as_deref(), Some(QUERY_KEY));
}

#[test]
fn a_claim_counts_as_an_attempt_on_postgres_too() {
    let Some(cluster) = Cluster::start("a_claim_counts_as_an_attempt_on_postgres_too") else { return };
    let folder = tempfile::tempdir().unwrap();
    let url = cluster.url();
    kills_use_up_attempts(folder.path(), &url, |target| {
        PostgresStore::open(&url).unwrap().insert(&[queued(target, "key-k".to_owned())]).unwrap();
    });
}

#[test]
fn kills_while_records_sit_in_the_buffer_or_before_their_batch_commits_lose_nothing_on_postgres() {
    let test = "kills_while_records_sit_in_the_buffer_or_before_their_batch_commits_lose_nothing_on_postgres";
    let Some(cluster) = Cluster::start(test) else { return };
    let folder = tempfile::tempdir().unwrap();
    let url = cluster.url();
    replay_support::kills_in_the_buffer_and_before_the_batch_commits(
        folder.path(),
        &url,
        |records| drop(PostgresStore::open(&url).unwrap().insert(records).unwrap()),
        || {
            // SHARE mode lets reads through and holds back every update and delete
            // (the worker's batch) until the lock's transaction ends with the client.
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client.batch_execute("BEGIN; LOCK TABLE courier_requests IN SHARE MODE").unwrap();
            client
        },
    );
}

#[test]
fn a_slow_send_keeps_its_renewed_lease_against_a_rival_worker() {
    let Some(cluster) = Cluster::start("a_slow_send_keeps_its_renewed_lease_against_a_rival_worker") else { return };
    let folder = tempfile::tempdir().unwrap();
    let url = cluster.url();
    let server = Server::start();
    server.delay(Duration::from_millis(2500));
    PostgresStore::open(&url).unwrap().insert(&[queued(&server.url("/slow"), "k1".to_owned())]).unwrap();
    let worker = || {
        let mut command = courier(folder.path());
        command.args(["worker", "--store", &url, "--lease", "1s"]);
        command
    };
    let first = worker().arg("--until-empty").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The rival looks all the while; it would take the record once a lease lapsed.
    let mut rival = worker().stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let output = first.wait_with_output().unwrap();
    rival.kill().unwrap();
    rival.wait().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), r#"{"delivered":1,"retried":0,"dead":0}"#, "{}", stderr(&output));
    assert_eq!(server.seen().len(), 1, "sent once, by one worker");
}

#[test]
fn a_store_dropped_in_async_code_closes_its_connections_without_a_panic() {
    let test = "a_store_dropped_in_async_code_closes_its_connections_without_a_panic";
    let Some(cluster) = Cluster::start(test) else { return };
    let store = Arc::new(PostgresStore::open(&cluster.url()).unwrap());
    store.list().unwrap();
    store.wait_for_work(Duration::from_millis(10)).unwrap();
    // A host's last handle (a worker's, say) goes away inside its runtime.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async move { drop(store) });
}

/// Pending records, straight from the database (`None` while it is down).
fn remaining(url: &str) -> Option<i64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).ok()?;
    client.query_one("SELECT count(*) FROM courier_requests", &[]).ok().map(|row| row.get(0))
}

/// Records leased right now to the worker process `pid`.
fn held_by(url: &str, pid: u32) -> Option<i64> {
    let mut client = postgres::Client::connect(url, postgres::NoTls).ok()?;
    let now = Utc::now().timestamp_millis();
    let owner = format!("worker-{pid}-%");
    let row = client
        .query_one(
            "SELECT count(*) FROM courier_requests WHERE lease_owner LIKE $1 AND lease_expires_at > $2",
            &[&owner, &now],
        )
        .ok()?;
    Some(row.get(0))
}

#[test]
fn three_workers_killed_at_random_and_a_database_crash_lose_nothing() {
    const REQUESTS: usize = 2000;
    const WORKERS: usize = 3;
    let test = "three_workers_killed_at_random_and_a_database_crash_lose_nothing";
    let Some(cluster) = Cluster::start(test) else { return };
    let started = Instant::now();
    let folder = tempfile::tempdir().unwrap();
    let url = cluster.url();
    let server = Server::start();
    // A little latency, so that a kill finds requests in flight.
    server.delay(Duration::from_millis(20));
    let records: Vec<_> = (0..REQUESTS).map(|n| queued(&server.url("/events"), format!("key-{n:05}"))).collect();
    PostgresStore::open(&url).unwrap().insert(&records).unwrap();

    let mut spawned = 0;
    let spawn = |spawned: &mut usize| -> Child {
        *spawned += 1;
        let log = std::fs::File::create(folder.path().join(format!("worker-{spawned}.log"))).unwrap();
        courier(folder.path())
            // A small batch: a killed worker's buffered records wait out its lease, and
            // with 64 each the many kills would leave the new workers little to claim.
            .args(["worker", "--store", &url, "--lease", "2s", "--concurrency", "8", "--batch", "16"])
            // One host, and killed workers' leases count as in flight until they
            // lapse: any cap would hold the live workers back from what they kill.
            .args(["--per-host", "1000000"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap()
    };
    let mut workers: Vec<Child> = (0..WORKERS).map(|_| spawn(&mut spawned)).collect();
    let mut rng = rand::rng();
    let (mut kills, mut mid_flight) = (0, 0);
    let mut restarted_with: Option<(i64, Vec<u32>)> = None;
    let deadline = started + Duration::from_secs(150);
    loop {
        let left = remaining(&url);
        if left == Some(0) {
            break;
        }
        assert!(Instant::now() < deadline, "the queue did not drain: {left:?} left\n{}", cluster.log());
        if restarted_with.is_none() && left.is_some_and(|left| left < (REQUESTS as i64) * 2 / 3) {
            cluster.restart_immediately();
            let pids = workers.iter().map(Child::id).collect();
            restarted_with = Some((left.unwrap_or_default(), pids));
            // No kill and no new worker until the ones that lost the database have
            // reconnected on their own and the queue moves again.
            let before = left.unwrap_or_default();
            let wait = Instant::now() + Duration::from_secs(30);
            while remaining(&url).is_none_or(|now| now >= before) {
                assert!(Instant::now() < wait, "the workers did not reconnect by themselves");
                std::thread::sleep(Duration::from_millis(50));
            }
            continue;
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(100..400)));
        let victim = rng.random_range(0..workers.len());
        let pid = workers[victim].id();
        let held = held_by(&url, pid).unwrap_or(0);
        workers[victim].kill().unwrap(); // SIGKILL
        workers[victim].wait().unwrap();
        kills += 1;
        if held > 0 {
            mid_flight += 1;
        }
        workers[victim] = spawn(&mut spawned);
    }
    for worker in &mut workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }

    let seen = server.seen();
    let mut deliveries: HashMap<String, usize> = HashMap::new();
    for request in &seen {
        let key = request.header("idempotency-key").expect("every request carries its key").to_owned();
        assert_eq!(request.body, body_of(&key), "a repeat delivery carries the same body as the first");
        *deliveries.entry(key).or_default() += 1;
    }
    let missing: Vec<_> = records
        .iter()
        .map(|record| &record.saved.idempotency_key)
        .filter(|key| !deliveries.contains_key(*key))
        .collect();
    assert!(missing.is_empty(), "{} requests never reached the server: {missing:?}", missing.len());
    assert_eq!(deliveries.len(), REQUESTS, "no key the test did not queue");
    let duplicates = seen.len() - REQUESTS;
    let (left_at_restart, _) = restarted_with.expect("the database was restarted mid-drain");
    let mut note = std::io::stderr();
    let _ = writeln!(
        note,
        "postgres crash test: {REQUESTS} requests, {WORKERS} workers, {kills} SIGKILLs ({mid_flight} mid-flight), \
         one immediate restart with {left_at_restart} left; {} deliveries, {duplicates} duplicates; {:.1?}",
        seen.len(),
        started.elapsed()
    );
    assert!(kills >= 5, "only {kills} kills");
    // A kill lands mid-flight when the worker held leases: records claimed, sent or
    // being sent, and not settled. (A worker killed just after it started holds none.)
    assert!(mid_flight >= 5 && mid_flight * 4 >= kills, "only {mid_flight} of {kills} kills landed mid-flight");
    let reconnections: usize = (1..=spawned)
        .map(|n| std::fs::read_to_string(folder.path().join(format!("worker-{n}.log"))).unwrap_or_default())
        .map(|log| log.matches("trying again").count())
        .sum();
    assert!(reconnections > 0, "the workers that lost the database said they would try again");
}

#[test]
fn an_unreadable_row_is_set_aside_on_postgres_and_the_queue_goes_on() {
    let Some(cluster) = Cluster::start("an_unreadable_row_is_set_aside_on_postgres") else { return };
    let url = cluster.url();
    let store = PostgresStore::open(&url).unwrap();
    let ids = store
        .insert(&[queued("http://127.0.0.1:9/x", "k1".to_owned()), queued("http://127.0.0.1:9/x", "k2".to_owned())])
        .unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client.execute("UPDATE courier_requests SET method = 'BREW' WHERE id = $1", &[&ids[0]]).unwrap();
    assert_eq!(claim(&store, "w", Utc::now(), 10), vec![ids[1]], "the readable record is claimed");
    let row = client.query_one("SELECT state, last_error FROM courier_requests WHERE id = $1", &[&ids[0]]).unwrap();
    let (state, error): (String, String) = (row.get(0), row.get(1));
    assert_eq!(state, "dead");
    assert!(error.contains("courier cannot read this record") && error.contains("BREW"), "{error}");
    let mut listed = Vec::new();
    store.each(&mut |record| listed.push(record.map(|record| record.id).map_err(|unreadable| unreadable.id))).unwrap();
    assert_eq!(listed, vec![Err(ids[0]), Ok(ids[1])]);
}

/// The worker's async face (`ReplayStore::as_async`) keeps the blocking face's
/// contract on the same rows: claims lease and count, an unreadable row is parked,
/// renewals hold only for the owner, a settle deletes or fails only what its owner
/// holds; and after the server restarts, its connections are opened again.
#[test]
fn the_async_face_keeps_the_contract_and_reconnects_after_a_restart() {
    let Some(cluster) = Cluster::start("the_async_face_keeps_the_contract") else { return };
    let url = cluster.url();
    let store = PostgresStore::open(&url).unwrap();
    let ids = store
        .insert(&[
            queued("http://127.0.0.1:9/x", "k1".to_owned()),
            queued("http://127.0.0.1:9/x", "k2".to_owned()),
            queued("http://127.0.0.1:9/x", "k3".to_owned()),
        ])
        .unwrap();
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    client.execute("UPDATE courier_requests SET method = 'BREW' WHERE id = $1", &[&ids[0]]).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let queue = store.as_async().expect("the PostgreSQL store has an async face");
    let now = Utc::now();
    let due = |owner, now, limit| Claim {
        max_attempts: Some(5),
        ..Claim::due(owner, now, now + TimeDelta::seconds(10), limit)
    };
    let claimed = runtime.block_on(queue.claim(due("a", now, 10))).unwrap();
    assert_eq!(claimed.iter().map(|record| record.id).collect::<Vec<_>>(), vec![ids[1], ids[2]]);
    assert!(claimed.iter().all(|record| record.attempts == 1), "a claim counts an attempt");
    let parked = client.query_one("SELECT state FROM courier_requests WHERE id = $1", &[&ids[0]]).unwrap();
    assert_eq!(parked.get::<_, String>(0), "dead", "the unreadable row is set aside");
    assert!(claim(&store, "b", now, 10).is_empty(), "the blocking face sees the leases");

    let renewed = runtime.block_on(queue.renew(&ids, "a", now + TimeDelta::seconds(30))).unwrap();
    assert_eq!(renewed, vec![ids[1], ids[2]], "only leases a holds are renewed");
    assert!(runtime.block_on(queue.renew(&ids, "b", now + TimeDelta::seconds(60))).unwrap().is_empty());
    let later = now + TimeDelta::seconds(1);
    let failed = Finish::Failed { state: State::Pending, error: "503".to_owned(), next_attempt_at: later };
    let settled = [(ids[1], Finish::Delivered), (ids[2], failed.clone())];
    runtime.block_on(queue.finish_many("b", &settled[1..], later)).unwrap();
    assert_eq!(readable(&store)[1].lease.as_ref().map(|lease| lease.owner.as_str()), Some("a"), "not b's to fail");
    runtime.block_on(queue.finish_many("a", &settled, later)).unwrap();
    let left = readable(&store);
    assert_eq!(left.iter().map(|record| record.id).collect::<Vec<_>>(), vec![ids[2]], "delivered is gone");
    assert_eq!((left[0].lease.clone(), left[0].last_error.as_deref()), (None, Some("503")));

    // Settles do not wait for the disk (a crash may lose the last of them, and their
    // records come back when their leases lapse): flush them before the crash.
    client.batch_execute("CHECKPOINT").unwrap();
    cluster.restart_immediately();
    let mut claimed = Err(courier::replay::StoreError(String::new()));
    // The first call after the restart may find its connection broken; the next opens another.
    for _ in 0..20 {
        claimed = runtime.block_on(queue.claim(due("c", later + TimeDelta::seconds(1), 10)));
        if claimed.is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let claimed = claimed.expect("the async face connects again after a restart");
    assert_eq!(claimed.iter().map(|record| record.id).collect::<Vec<_>>(), vec![ids[2]]);
}

/// The records of a store that read as records (the parked one does not).
fn readable(store: &PostgresStore) -> Vec<courier::replay::Record> {
    let mut records = Vec::new();
    store.each(&mut |record| records.extend(record.ok())).unwrap();
    records
}

/// The same share on PostgreSQL, in the claim's SQL: a capped host gives its
/// claimer its cap less what others hold to send, eight times that to hold, and
/// nothing to another claimer while the first holds more than the cap.
#[test]
fn a_capped_host_gives_its_claimer_a_share_to_send_on_postgres() {
    let Some(cluster) = Cluster::start("a_capped_host_gives_its_claimer_a_share_to_send_on_postgres") else { return };
    let store = PostgresStore::open(&cluster.url()).unwrap();
    let records: Vec<_> = (0..40).map(|n| queued("http://capped.test/", format!("c{n}"))).collect();
    store.insert(&records).unwrap();
    let limits = courier::replay::Limits { per_host: Some(2), destinations: Vec::new() };
    let now = Utc::now() + TimeDelta::seconds(1);
    let take = |owner: &str, now: chrono::DateTime<Utc>| {
        let claim = Claim { limits: Some(&limits), ..Claim::due(owner, now, now + TimeDelta::seconds(10), 100) };
        store.claim(&claim).unwrap()
    };
    let shares = |records: &[courier::replay::Record]| -> Vec<Option<u32>> {
        records.iter().map(|record| record.lease.as_ref().unwrap().sendable).collect()
    };
    let first = take("a", now);
    assert_eq!(shares(&first), vec![Some(2); 16], "a may send 2 and holds eight times that");
    assert!(take("b", now).is_empty(), "a holds more than the cap: b may send none");
    assert!(take("a", now).is_empty(), "a holds all it may");
    // a settles all but one: b's share is the cap less a's one.
    let settled: Vec<(i64, Finish)> = first[1..].iter().map(|record| (record.id, Finish::Delivered)).collect();
    store.finish_many("a", &settled, now).unwrap();
    let second = take("b", now);
    assert_eq!(shares(&second), vec![Some(1); 8]);
}
