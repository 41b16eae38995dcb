//! The queue side by side with graphile-worker: a throwaway PostgreSQL 15 cluster
//! (default durability: `fsync` and `synchronous_commit` on), a loopback sink that
//! answers 200 at once, and N queued POSTs:
//!
//! - `courier enqueue` queues N lines of variables (records/s);
//! - `courier worker --until-empty --concurrency C` drains them, C = 1, 4, 16
//!   (deliveries/s, each run on a fresh database), with the fleet-wide cap per host
//!   lifted (graphile-worker has none), then again with the default `--per-host 16`
//!   to show what that cap costs on a single destination;
//! - where `node` and `npm` are on the PATH, graphile-worker (npm, installed at run
//!   time into `target/graphile-bench`) on the same cluster, one system after the
//!   other: one `addJobs` call, then a runner with the batching of its performance
//!   page (`localQueue`, `completeJobBatchDelay`/`failJobBatchDelay` 0) — and the
//!   ratio. Without Node it says so and prints courier's figures.
//!
//! Needs `COURIER_TEST_POSTGRES=1` (and `COURIER_PG_BIN`), as the tests do.
//! `cargo bench --bench queue` uses N = 10,000; `-- --quick` (CI) N = 1,000 and no
//! graphile-worker unless `COURIER_BENCH_GRAPHILE=1`; `-- --requests N` any N.
//! Prints a Markdown table (the one in docs/replay.md) with the machine's load.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "../tests/pg_support/mod.rs"]
mod pg_support;
#[path = "../tests/replay_support/mod.rs"]
mod replay_support;

/// Concurrencies measured.
const CONCURRENCY: [usize; 3] = [1, 4, 16];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|arg| arg == "--quick");
    let requests = args
        .iter()
        .position(|arg| arg == "--requests")
        .and_then(|at| args.get(at + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(if quick { 1_000 } else { 10_000 });
    let Some(cluster) = pg_support::Cluster::start("the queue benchmark") else { return };
    let server = replay_support::Server::start();
    let sink = server.url("/sink");
    let folder = tempfile::tempdir().unwrap();
    write_inputs(folder.path(), &sink, requests);
    let graphile = if quick && std::env::var("COURIER_BENCH_GRAPHILE").as_deref() != Ok("1") {
        Err("skipped in --quick mode (set COURIER_BENCH_GRAPHILE=1 to run it)".to_owned())
    } else {
        install_graphile()
    };

    println!("{requests} queued POSTs to a loopback sink, one PostgreSQL 15 cluster, default durability\n");
    println!("load average before: {}\n", load());
    let enqueue_db = cluster.database("enqueue_rate");
    let enqueued = courier_enqueue(folder.path(), &enqueue_db, requests);
    let graphile_enqueue = graphile.as_ref().ok().map(|folder| {
        let url = cluster.database("graphile_enqueue");
        run_graphile(folder, &url, &sink, requests, 1).0
    });
    println!("| | courier | graphile-worker | ratio | load (1 min) |");
    println!("| --- | ---: | ---: | ---: | ---: |");
    println!(
        "| enqueue, records/s | {enqueued:.0} | {} | {} | {} |",
        shown(graphile_enqueue),
        ratio(enqueued, graphile_enqueue),
        load()
    );
    for concurrency in CONCURRENCY {
        let url = cluster.database(&format!("courier_c{concurrency}"));
        courier_enqueue(folder.path(), &url, requests);
        // graphile-worker caps no destination: courier's fleet-wide cap is lifted to compare like with like.
        let delivered = courier_worker(folder.path(), &url, requests, concurrency, Some(requests));
        let theirs = graphile.as_ref().ok().map(|folder| {
            let url = cluster.database(&format!("graphile_c{concurrency}"));
            run_graphile(folder, &url, &sink, requests, concurrency).1
        });
        println!(
            "| worker, concurrency {concurrency}, deliveries/s | {delivered:.0} | {} | {} | {} |",
            shown(theirs),
            ratio(delivered, theirs),
            load()
        );
    }
    // What the fairness issue's default cap costs on one destination: every record a
    // worker holds (buffered too) counts against the host's 16.
    for concurrency in CONCURRENCY {
        let url = cluster.database(&format!("courier_capped_c{concurrency}"));
        courier_enqueue(folder.path(), &url, requests);
        let delivered = courier_worker(folder.path(), &url, requests, concurrency, None);
        println!(
            "| worker, concurrency {concurrency}, default `--per-host 16`, deliveries/s | {delivered:.0} | – | – | {} |",
            load()
        );
    }
    if let Err(why) = &graphile {
        println!("\ngraphile-worker: {why}");
    }
}

fn shown(rate: Option<f64>) -> String {
    rate.map_or("–".to_owned(), |rate| format!("{rate:.0}"))
}

fn ratio(ours: f64, theirs: Option<f64>) -> String {
    theirs.map_or("–".to_owned(), |theirs| format!("{:.2}×", ours / theirs))
}

/// The 1-minute load average.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The spec (a POST of a JSON body) and the JSONL file of its variables.
fn write_inputs(folder: &Path, sink: &str, requests: usize) {
    let spec = format!("method = \"POST\"\nurl = \"{sink}\"\nbody = \"json\"\npayload = '{{\"n\": ${{n}}}}'\n");
    std::fs::write(folder.join("post.toml"), spec).unwrap();
    let mut lines = std::io::BufWriter::new(std::fs::File::create(folder.join("lines.jsonl")).unwrap());
    for n in 0..requests {
        writeln!(lines, "{{\"n\": \"{n}\"}}").unwrap();
    }
    lines.flush().unwrap();
}

/// `courier enqueue` of every line into the database at `url`; records/s.
fn courier_enqueue(folder: &Path, url: &str, requests: usize) -> f64 {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .current_dir(folder)
        .args(["enqueue", "post.toml", "--store", url, "--vars-jsonl", "lines.jsonl", "--allow", "127.0.0.1"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(output.status.success(), "courier enqueue: {}", String::from_utf8_lossy(&output.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(summary["queued"].as_u64(), Some(requests as u64), "{summary}");
    requests as f64 / elapsed.as_secs_f64()
}

/// `courier worker --until-empty` on the database at `url`, with `--per-host`
/// when given (else its default); deliveries/s.
fn courier_worker(folder: &Path, url: &str, requests: usize, concurrency: usize, per_host: Option<usize>) -> f64 {
    let started = Instant::now();
    let per_host: Vec<String> = per_host.map(|cap| vec!["--per-host".to_owned(), cap.to_string()]).unwrap_or_default();
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .current_dir(folder)
        .args(["worker", "--store", url, "--until-empty", "--concurrency", &concurrency.to_string()])
        .args(per_host)
        .args(["--allow", "127.0.0.1"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(output.status.success(), "courier worker failed");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["delivered"].as_u64(), Some(requests as u64), "{report}");
    requests as f64 / elapsed.as_secs_f64()
}

/// graphile-worker installed (`npm ci`) into `target/graphile-bench`; its folder,
/// or why it cannot be run.
fn install_graphile() -> Result<PathBuf, String> {
    let found = |program: &str| Command::new(program).arg("--version").output().is_ok_and(|out| out.status.success());
    if !found("node") || !found("npm") {
        return Err("not run: node and npm are not both on the PATH".to_owned());
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/graphile");
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/graphile-bench");
    std::fs::create_dir_all(&folder).map_err(|error| error.to_string())?;
    for file in ["package.json", "package-lock.json", "bench.mjs"] {
        std::fs::copy(source.join(file), folder.join(file)).map_err(|error| format!("{file}: {error}"))?;
    }
    // Checked by a file of the package, so that an install cut short is done again.
    if !folder.join("node_modules/graphile-worker/dist/index.js").exists() {
        let installed = Command::new("npm")
            .args(["ci", "--ignore-scripts", "--no-audit", "--no-fund"])
            .current_dir(&folder)
            .output()
            .map_err(|error| error.to_string())?;
        if !installed.status.success() {
            return Err(format!("npm ci failed: {}", String::from_utf8_lossy(&installed.stderr)));
        }
    }
    Ok(folder)
}

/// One graphile-worker run: (enqueued/s, delivered/s).
fn run_graphile(folder: &Path, url: &str, sink: &str, requests: usize, concurrency: usize) -> (f64, f64) {
    let output = Command::new("node")
        .arg("bench.mjs")
        .current_dir(folder)
        .env("DATABASE_URL", url)
        .env("SINK_URL", sink)
        .env("REQUESTS", requests.to_string())
        .env("CONCURRENCY", concurrency.to_string())
        .output()
        .unwrap();
    let tail = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    assert!(output.status.success(), "graphile-worker failed: {}\n{}", tail(&output.stdout), tail(&output.stderr));
    let line = String::from_utf8_lossy(&output.stdout);
    let rates: serde_json::Value = serde_json::from_str(line.lines().last().unwrap_or_default())
        .unwrap_or_else(|error| panic!("graphile-worker printed {line:?}: {error}"));
    (rates["enqueued_per_s"].as_f64().unwrap(), rates["delivered_per_s"].as_f64().unwrap())
}
