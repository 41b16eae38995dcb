//! Deliveries per second through the queue: N workers (each its own `Worker` with
//! its own store connection, one request in flight each) drain M queued requests to
//! a loopback sink that answers 200 at once, on SQLite and on PostgreSQL, for N = 1,
//! 4 and 16. The PostgreSQL rows need `COURIER_TEST_POSTGRES=1` (a throwaway cluster,
//! as the tests start one); without it they are skipped with a note.
//!
//! `cargo bench --bench delivery` measures 2,000 requests a run; with `--quick` (as
//! `.ci/run` passes) 200, just to show the benchmark still runs. Prints a Markdown
//! table (the one in docs/replay.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use courier::Context;
use courier::replay::{PostgresStore, ReplayStore, SpecSource, SqliteStore, Worker, WorkerOptions};
use courier::request::{CompiledRequest, Destinations, Executor, ExecutorOptions};

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;
#[path = "../tests/replay_support/mod.rs"]
mod replay_support;

/// Worker counts measured.
const WORKERS: [usize; 3] = [1, 4, 16];

struct NoSpecs;

impl SpecSource for NoSpecs {
    fn load(&self, name: &str) -> Result<std::sync::Arc<CompiledRequest>, String> {
        Err(format!("no spec {name}: the benchmark's requests have no credentials"))
    }
}

/// Drains `requests` queued requests with `workers` workers, each on a store that
/// `open` makes; deliveries per second.
fn measure(open: &dyn Fn() -> Arc<dyn ReplayStore>, sink: &str, requests: usize, workers: usize) -> f64 {
    let records: Vec<_> =
        (0..requests).map(|n| replay_support::queued(sink, format!("bench-{workers}-{n:06}"))).collect();
    let store = open();
    store.insert(&records).expect("the requests are queued");
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let started = Instant::now();
    let delivered: usize = runtime.block_on(async {
        let mut running = tokio::task::JoinSet::new();
        for _ in 0..workers {
            let worker = Worker::new(open(), loopback_executor(), Arc::new(NoSpecs), Context::default()).with_options(
                WorkerOptions { concurrency: 1, poll: Duration::from_millis(10), ..WorkerOptions::default() },
            );
            running.spawn(async move { worker.run_until_empty().await.expect("the store works").delivered });
        }
        let mut delivered = 0;
        while let Some(report) = running.join_next().await {
            delivered += report.expect("a worker finished");
        }
        delivered
    });
    let elapsed = started.elapsed();
    assert_eq!(delivered, requests, "every request delivered once");
    assert!(store.list().unwrap().is_empty());
    requests as f64 / elapsed.as_secs_f64()
}

fn main() {
    let quick = std::env::args().any(|arg| arg == "--quick");
    let requests = if quick { 200 } else { 2000 };
    let server = replay_support::Server::start();
    let sink = server.url("/sink");
    let folder = tempfile::tempdir().unwrap();
    let cluster = pg_support::Cluster::start("the PostgreSQL rows of the delivery benchmark");

    println!("{requests} queued requests, deliveries per second (one request in flight per worker):\n");
    println!("| workers | SQLite | PostgreSQL |");
    println!("| ---: | ---: | ---: |");
    for workers in WORKERS {
        let path = folder.path().join(format!("bench-{workers}.db"));
        let sqlite = measure(&|| Arc::new(SqliteStore::new(&path)), &sink, requests, workers);
        let postgres = cluster.as_ref().map(|cluster| {
            let url = cluster.database(&format!("bench_{workers}"));
            measure(&|| Arc::new(PostgresStore::new(&url).expect("the address parses")), &sink, requests, workers)
        });
        let postgres = postgres.map_or("skipped".to_owned(), |rate| format!("{rate:.0}"));
        println!("| {workers} | {sqlite:.0} | {postgres} |");
    }
}

/// The sink listens on loopback, which the destination policy refuses unless allowed.
fn loopback_executor() -> Executor {
    Executor::with_options(ExecutorOptions { destinations: Destinations::allowing_private(), ..Default::default() })
}
