//! The queue under stress, with the real `courier worker` binary, a real SQLite
//! file and a real server on loopback that records each Idempotency-Key:
//!
//! - workers SIGKILLed at random points while draining, then restarted, many times:
//!   every request still reaches the server (duplicates only as at-least-once retries);
//! - two workers draining 10,000 requests together: none lost, none sent twice.
#![cfg(feature = "cli")]

mod replay_support;

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use courier::Context;
use courier::replay::{Claim, Finish, NewRecord, Record, ReplayStore, SqliteStore, StoreError, Worker, WorkerOptions};
use courier::request::{Destinations, Executor, ExecutorOptions};
use rand::Rng;
use replay_support::{Server, courier, kills_use_up_attempts, queued, stderr};

const STORE: &str = "queue.db";

/// Queues `count` requests in one transaction; their keys.
fn enqueue(folder: &Path, url: &str, count: usize) -> HashSet<String> {
    let store = SqliteStore::open(folder.join(STORE)).unwrap();
    let records: Vec<NewRecord> = (0..count).map(|n| queued(url, format!("key-{n:05}"))).collect();
    let ids = store.insert(&records).unwrap();
    assert_eq!(ids.len(), count);
    records.into_iter().map(|record| record.saved.idempotency_key).collect()
}

fn remaining(folder: &Path) -> usize {
    SqliteStore::open(folder.join(STORE)).unwrap().list().unwrap().len()
}

#[test]
fn workers_killed_at_random_points_lose_nothing() {
    const REQUESTS: usize = 1000;
    const ROUNDS: usize = 20;
    let started = Instant::now();
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    // A little latency, so that kills land while requests are in flight.
    server.delay(Duration::from_millis(5));
    let keys = enqueue(folder.path(), &server.url("/events"), REQUESTS);

    let mut rng = rand::rng();
    let mut killed_mid_drain = 0;
    for _ in 0..ROUNDS {
        let mut worker = courier(folder.path())
            .args(["worker", "--store", STORE, "--lease", "1s", "--concurrency", "4"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.random_range(20..200)));
        worker.kill().unwrap(); // SIGKILL
        worker.wait().unwrap();
        if remaining(folder.path()) > 0 {
            killed_mid_drain += 1;
        }
    }
    let kills_done = started.elapsed();

    // Restarted until the queue is empty: records a killed worker held come back
    // once its lease lapses.
    let mut restarts = 0;
    while remaining(folder.path()) > 0 {
        restarts += 1;
        assert!(restarts <= 15, "the queue does not drain: {} left", remaining(folder.path()));
        let output = courier(folder.path())
            .args(["worker", "--store", STORE, "--lease", "1s", "--until-empty", "--concurrency", "8"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", stderr(&output));
        if remaining(folder.path()) > 0 {
            std::thread::sleep(Duration::from_millis(1100));
        }
    }

    let seen = server.keys();
    let missing: Vec<_> = keys.iter().filter(|key| !seen.contains_key(*key)).collect();
    assert!(missing.is_empty(), "{} requests never reached the server: {missing:?}", missing.len());
    assert_eq!(seen.len(), REQUESTS, "no key the test did not queue");
    let deliveries: usize = seen.values().sum();
    let duplicates = deliveries - REQUESTS;
    let twice = seen.values().filter(|count| **count > 1).count();
    println!(
        "crash test: {REQUESTS} requests, {ROUNDS} SIGKILLs ({killed_mid_drain} while draining), \
         {restarts} final runs; {deliveries} deliveries, {duplicates} duplicates ({twice} keys more than once); \
         kills took {kills_done:.1?}, all {:.1?}",
        started.elapsed()
    );
    assert!(killed_mid_drain >= ROUNDS / 2, "only {killed_mid_drain} kills landed while draining");
    // At least once, and not wildly more: a kill can only repeat what was in flight.
    assert!(duplicates <= ROUNDS * 8, "{duplicates} duplicates");
}

#[test]
fn two_workers_drain_ten_thousand_requests_and_send_each_once() {
    const REQUESTS: usize = 10_000;
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let started = Instant::now();
    let keys = enqueue(folder.path(), &server.url("/events"), REQUESTS);
    let queued_in = started.elapsed();

    let spawn = || {
        courier(folder.path())
            .args(["worker", "--store", STORE, "--until-empty", "--concurrency", "16"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let drain_started = Instant::now();
    let workers = [spawn(), spawn()];
    let reports: Vec<serde_json::Value> = workers
        .into_iter()
        .map(|worker| {
            let output = worker.wait_with_output().unwrap();
            assert!(output.status.success());
            serde_json::from_slice(&output.stdout).unwrap()
        })
        .collect();
    let drained_in = drain_started.elapsed();

    let delivered: Vec<u64> = reports.iter().map(|report| report["delivered"].as_u64().unwrap()).collect();
    println!(
        "two workers: {REQUESTS} requests queued in {queued_in:.1?} (one transaction), drained in {drained_in:.1?}; \
         delivered {delivered:?}"
    );
    assert_eq!(delivered.iter().sum::<u64>(), REQUESTS as u64, "{reports:?}");
    assert_eq!(remaining(folder.path()), 0);
    let seen = server.keys();
    assert_eq!(seen.len(), REQUESTS, "none lost");
    assert!(keys.iter().all(|key| seen.get(key) == Some(&1)), "none sent twice");
    assert_eq!(server.seen().len(), REQUESTS);
}

#[test]
fn a_claim_counts_as_an_attempt_so_a_request_that_kills_its_worker_runs_out() {
    let folder = tempfile::tempdir().unwrap();
    kills_use_up_attempts(folder.path(), STORE, |url| {
        SqliteStore::open(folder.path().join(STORE)).unwrap().insert(&[queued(url, "key-k".to_owned())]).unwrap();
    });
}

#[test]
fn kills_while_records_sit_in_the_buffer_or_before_their_batch_commits_lose_nothing() {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join(STORE);
    replay_support::kills_in_the_buffer_and_before_the_batch_commits(
        folder.path(),
        STORE,
        |records| drop(SqliteStore::open(&path).unwrap().insert(records).unwrap()),
        || {
            // The write lock, held until dropped: the worker's batch waits for it.
            let connection = rusqlite::Connection::open(&path).unwrap();
            connection.execute_batch("BEGIN IMMEDIATE").unwrap();
            connection
        },
    );
}

/// A SQLite store that notes how many records each claim asked for.
struct NotingClaims {
    store: SqliteStore,
    asked: std::sync::Mutex<Vec<usize>>,
}

impl ReplayStore for NotingClaims {
    fn insert(&self, records: &[NewRecord]) -> Result<Vec<i64>, StoreError> {
        self.store.insert(records)
    }
    fn list(&self) -> Result<Vec<Record>, StoreError> {
        self.store.list()
    }
    fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Record>, StoreError> {
        self.asked.lock().unwrap().push(claim.limit);
        self.store.claim(claim)
    }
    fn finish(&self, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.store.finish(id, owner, finish, now)
    }
    fn finish_many(&self, owner: &str, settled: &[(i64, Finish)], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.store.finish_many(owner, settled, now)
    }
    fn remove(&self, id: i64) -> Result<bool, StoreError> {
        self.store.remove(id)
    }
    fn renew(&self, ids: &[i64], owner: &str, until: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        self.store.renew(ids, owner, until)
    }
}

/// Drains `count` queued requests to `server` with batch 4 and concurrency 4;
/// the size of every claim.
fn claims_of_a_drain(server: &Server, count: usize) -> Vec<usize> {
    let folder = tempfile::tempdir().unwrap();
    enqueue(folder.path(), &server.url("/events"), count);
    let store = Arc::new(NotingClaims {
        store: SqliteStore::open(folder.path().join(STORE)).unwrap(),
        asked: std::sync::Mutex::new(Vec::new()),
    });
    let executor = Executor::with_options(ExecutorOptions {
        destinations: Destinations::allowing_private(),
        ..ExecutorOptions::default()
    });
    let options = WorkerOptions { concurrency: 4, batch: 4, ..WorkerOptions::default() };
    let worker = Worker::new(store.clone(), executor, Arc::new(replay_support::NoSpecs), Context::default())
        .with_options(options);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let report = runtime.block_on(worker.run_until_empty()).unwrap();
    assert_eq!(report.delivered, count);
    store.asked.lock().unwrap().clone()
}

#[test]
fn claims_grow_when_fast_sends_wait_for_them_and_stay_small_when_sends_are_slow() {
    let fast = Server::start();
    let asked = claims_of_a_drain(&fast, 600);
    let most = asked.iter().copied().max().unwrap();
    assert!(most > 4, "fast sends ran dry waiting for claims of 4, so the claims grew: {asked:?}");
    assert!(most <= 32, "at most 8 times the batch: {asked:?}");

    let slow = Server::start();
    slow.delay(Duration::from_millis(50));
    let asked = claims_of_a_drain(&slow, 24);
    assert!(asked.iter().all(|limit| *limit <= 4), "slow sends never ran dry: {asked:?}");
}
