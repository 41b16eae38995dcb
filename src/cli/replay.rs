//! `courier replay list|run|drop` (the requests kept in the replay store) and
//! `courier worker` (sending the queued ones).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use courier::replay::{
    Record, Replayed, SpecFiles, StoreError, StoreLocation, Unreadable, Verdict, Worker, WorkerOptions,
};
use courier::request::{Executor, ExecutorOptions};
use courier::{Context, Engine};

use super::Failure;
use super::Format;
use super::allow::AllowArgs;
use super::inputs::read_json;
use super::log::{Level, LogFormat};
use super::proxy::ProxyArgs;
use super::secrets::CliSecrets;
use super::serve::shutdown_signal;
use super::store::{existing_store, store_at, store_location};
use super::terminal::shown;
use serde_json::json;

/// `courier replay`
#[derive(Args, Debug)]
pub(crate) struct ReplayArgs {
    #[command(subcommand)]
    command: ReplayCommand,
    /// The replay store: a SQLite file or a postgres:// address [default: $COURIER_STORE, else courier-replay.db].
    #[arg(long, value_name = "FILE|URL", global = true)]
    store: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
enum ReplayCommand {
    /// List the kept requests: id, time, state, method, URL, attempts, last error.
    List {
        /// The output format: a table, or a JSON array of records.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Send kept requests again now; remove those the service acknowledges.
    Run {
        /// The record to send.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<i64>,
        /// Send every record.
        #[arg(long)]
        all: bool,
        /// How long each record is held while it is sent; renewed while a slow send is in flight.
        #[arg(long, value_name = "DURATION", value_parser = parse_lease, default_value = "60s")]
        lease: Duration,
        #[command(flatten)]
        secrets: SecretsArg,
        #[command(flatten)]
        allow: AllowArgs,
        #[command(flatten)]
        proxy: ProxyArgs,
        #[command(flatten)]
        otlp: super::otlp::OtlpArgs,
    },
    /// Delete a kept request without sending it.
    Drop {
        /// The record to delete.
        id: i64,
    },
}

/// `--secrets`, for the credentials applied again when a request is sent.
#[derive(Args, Debug)]
struct SecretsArg {
    /// A JSON object of secrets, NAME → value (the environment's COURIER_SECRET_NAME comes first).
    #[arg(long, value_name = "FILE")]
    secrets: Option<PathBuf>,
}

/// `courier worker`
#[derive(Args, Debug)]
pub(crate) struct WorkerArgs {
    /// The replay store: a SQLite file or a postgres:// address [default: $COURIER_STORE, else courier-replay.db].
    #[arg(long, value_name = "FILE|URL")]
    store: Option<PathBuf>,
    /// Exit once nothing is due (requests waiting for their backoff, or held by
    /// another worker, are left).
    #[arg(long)]
    until_empty: bool,
    /// How long a claimed request is this worker's; a send still going then is cut short.
    #[arg(long, value_name = "DURATION", value_parser = parse_lease, default_value = "60s")]
    lease: Duration,
    /// Attempts before a request goes dead.
    #[arg(long, value_name = "N", default_value_t = 10)]
    max_attempts: u32,
    /// Requests sent at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    concurrency: usize,
    /// Requests claimed in one transaction and held (leased) ahead of the sends; at
    /// least --concurrency. A killed worker's held requests wait for their lease to lapse.
    #[arg(long, value_name = "N", default_value_t = 64)]
    batch: usize,
    /// The most requests in flight to one destination host across every worker
    /// sharing the store (each worker sends at most its share of it; docs/replay.md).
    #[arg(long, value_name = "N", default_value_t = courier::replay::DEFAULT_PER_HOST,
          value_parser = clap::value_parser!(u32).range(1..))]
    per_host: u32,
    /// A TOML file of per-destination limits, fleet-wide: `[[destination]]` with
    /// `host`, `rate` ("10/s", "600/min") and `concurrency` (docs/replay.md).
    #[arg(long, value_name = "FILE")]
    limits: Option<PathBuf>,
    /// Consecutive failed attempts at a host (no answer, timeout, 5xx, 429) that open
    /// its circuit breaker: its records wait, spending no attempt, until a probe succeeds.
    #[arg(long, value_name = "N", default_value_t = 5)]
    breaker_failures: u32,
    /// How long an open breaker waits before its probe; doubled while probes fail, up to 10 minutes.
    #[arg(long, value_name = "DURATION", value_parser = parse_cooldown, default_value = "30s")]
    breaker_cooldown: Duration,
    /// Serve `/metrics` (Prometheus), `/healthz` and `/readyz` on this address
    /// (`docs/operations.md`).
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// How log lines are written on stderr: for people, or one JSON object a line.
    #[arg(long, value_enum, default_value_t)]
    log_format: LogFormat,
    /// On SIGTERM or SIGINT, how long the sends in flight may take to finish (the
    /// requests claimed but not started are put back at once).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    grace: Duration,
    #[command(flatten)]
    secrets: SecretsArg,
    #[command(flatten)]
    allow: AllowArgs,
    #[command(flatten)]
    proxy: ProxyArgs,
    #[command(flatten)]
    otlp: super::otlp::OtlpArgs,
}

/// Longest lease a worker may take: a crashed worker's requests wait this long.
const MAX_LEASE: Duration = Duration::from_secs(24 * 3600);

/// A lease: at least a second (a send needs time to happen), at most a day.
fn parse_lease(text: &str) -> Result<Duration, String> {
    let lease = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if lease < Duration::from_secs(1) {
        return Err("a lease must be at least 1s, time enough to send a request".to_owned());
    }
    if lease > MAX_LEASE {
        return Err("a lease may be at most 24h".to_owned());
    }
    Ok(lease)
}

fn parse_cooldown(text: &str) -> Result<Duration, String> {
    let cooldown = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if cooldown < Duration::from_secs(1) || cooldown > courier::replay::MAX_COOLDOWN {
        return Err("a breaker's cooldown must be between 1s and 10m".to_owned());
    }
    Ok(cooldown)
}

/// The destination limits of the file at `path` (none without one), with no
/// `per_host`, which is the worker's flag; a file that does not read is a usage
/// error naming its line and field.
pub(crate) fn limits_file(path: Option<&std::path::Path>) -> Result<courier::replay::Limits, Failure> {
    let Some(path) = path else { return Ok(courier::replay::Limits::default()) };
    let destinations =
        courier::replay::Limits::read_file(path).map_err(|why| Failure::usage(format!("--limits {why}")))?;
    Ok(courier::replay::Limits { per_host: None, destinations })
}

pub(crate) fn replay(args: ReplayArgs) -> Result<(), Failure> {
    let location = store_location(args.store);
    let failed = |error: StoreError| Failure::error(format!("error: {error}\n"));
    match args.command {
        ReplayCommand::List { format } => {
            // One record at a time: what is kept of each is its line, never its body.
            let store = existing_store(&location, true)?;
            match format {
                Format::Json => {
                    let mut json = Vec::new();
                    store.each(&mut |record| json.push(listed(record))).map_err(failed)?;
                    super::eval::print((serde_json::to_string_pretty(&json).unwrap_or_default() + "\n").as_bytes())
                }
                Format::Human => {
                    let mut rows = vec![HEADING.map(str::to_owned)];
                    store.each(&mut |record| rows.push(row(record))).map_err(failed)?;
                    super::eval::print(table(&rows).as_bytes())
                }
            }
        }
        ReplayCommand::Drop { id } => {
            if existing_store(&location, false)?.remove(id).map_err(failed)? {
                Ok(())
            } else {
                Err(Failure::error(format!("error: there is no record {id}\n")))
            }
        }
        ReplayCommand::Run { id, lease, secrets, allow, proxy, otlp, .. } => {
            let _traces = otlp.start()?;
            // Read first, so that a bad entry is reported whether or not there is work.
            let executor = executor(&allow, &proxy)?;
            let store = existing_store(&location, false)?;
            let context = context(&secrets)?;
            let specs = SpecFiles::new(Engine::new());
            let replayed = runtime()?
                .block_on(courier::replay::replay_with_lease(
                    store,
                    &executor,
                    &specs,
                    &context,
                    id.map(|id| vec![id]),
                    lease,
                ))
                .map_err(failed)?;
            let text: String = replayed.iter().map(|replayed| said(replayed) + "\n").collect();
            super::eval::print(text.as_bytes())?;
            let undelivered =
                replayed.iter().filter(|replayed| !matches!(replayed.verdict, Some(Verdict::Delivered { .. }))).count();
            match undelivered {
                0 => Ok(()),
                _ => Err(Failure::error(format!(
                    "error: {undelivered} of {} requests were not delivered\n",
                    replayed.len()
                ))),
            }
        }
    }
}

pub(crate) fn worker(args: WorkerArgs) -> Result<(), Failure> {
    let _traces = args.otlp.start()?;
    let location = store_location(args.store);
    let options = WorkerOptions {
        lease: args.lease,
        max_attempts: args.max_attempts.max(1),
        concurrency: args.concurrency.max(1),
        batch: args.batch.max(1),
        breaker: courier::replay::BreakerPolicy {
            failures: args.breaker_failures.max(1),
            cooldown: args.breaker_cooldown,
        },
        limits: courier::replay::Limits { per_host: Some(args.per_host), ..limits_file(args.limits.as_deref())? },
        ..WorkerOptions::default()
    };
    // Read first, so that a bad entry is reported whether or not there is work.
    let executor = executor(&args.allow, &args.proxy)?;
    let report = match &location {
        // Nothing was ever queued here: nothing to do, and no file is created.
        StoreLocation::File(path) if args.until_empty && !path.exists() => courier::replay::Report::default(),
        location => {
            let store = store_at(location)?;
            let store_for_probes = store.clone();
            let log_format = args.log_format;
            let specs = Arc::new(SpecFiles::new(Engine::new()));
            let worker = Worker::new(store, executor, specs, context(&args.secrets)?)
                .with_options(options)
                .observe(move |record, verdict| {
                    // One line a delivery: built only in the format written.
                    let request = &record.saved.request;
                    match log_format {
                        LogFormat::Human => {
                            let human = format!(
                                "{} {} {} (attempt {}): {}",
                                record.id,
                                request.method.as_str(),
                                request.url,
                                record.attempts,
                                verdict_text(verdict)
                            );
                            log_format.write(Level::Info, &shown(&human), "", &[]);
                        }
                        LogFormat::Json => {
                            let fields = [
                                ("id", json!(record.id)),
                                ("method", json!(request.method.as_str())),
                                ("url", json!(request.url)),
                                ("attempt", json!(record.attempts)),
                                ("verdict", json!(verdict_text(verdict))),
                            ];
                            log_format.write(Level::Info, "", "attempt ended", &fields);
                        }
                    }
                })
                .observe_store(move |error, wait| {
                    let human = format!("{}; trying again in {} ms", shown(&error.to_string()), wait.as_millis());
                    let fields = [("error", json!(error.to_string())), ("retry_in_ms", json!(wait.as_millis() as u64))];
                    log_format.write(Level::Warn, &human, "the store failed", &fields);
                });
            let runtime = runtime()?;
            if let Some(address) = args.metrics {
                serve_operations(&runtime, address, store_for_probes, log_format)?;
            }
            let drained = runtime.block_on(worker.run_until(args.until_empty, shutdown_signal(), args.grace));
            drained.map_err(|error| Failure::error(format!("error: {error}\n")))?
        }
    };
    super::eval::print((serde_json::to_string(&report).unwrap_or_default() + "\n").as_bytes())
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `address` for as long as the
/// worker runs; an address that cannot be bound is bad usage.
fn serve_operations(
    runtime: &tokio::runtime::Runtime,
    address: std::net::SocketAddr,
    store: Arc<dyn courier::replay::ReplayStore>,
    log_format: LogFormat,
) -> Result<(), Failure> {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(address))
        .map_err(|error| Failure::usage(format!("--metrics {address}: {error}")))?;
    let bound = listener.local_addr().map_err(|error| Failure::usage(format!("--metrics {address}: {error}")))?;
    let url = format!("http://{bound}/metrics");
    log_format.write(Level::Info, &format!("metrics on {url}"), "metrics listening", &[("url", json!(url))]);
    runtime.spawn(async move {
        let _ = axum::serve(listener, courier::serve::operations::router(Some(store))).await;
    });
    Ok(())
}

/// The executor that sends kept and queued requests, under the destination policy
/// in force now (not the one when the request was kept), through the egress proxy if any.
fn executor(allow: &AllowArgs, proxy: &ProxyArgs) -> Result<Executor, Failure> {
    let (destinations, proxy) = (allow.destinations()?, proxy.proxy()?);
    Ok(Executor::with_options(ExecutorOptions { destinations, proxy, ..ExecutorOptions::default() }))
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| Failure::error(format!("error: cannot start the runtime: {error}\n")))
}

/// The context credentials render in: the default one, with the command line's secrets.
fn context(secrets: &SecretsArg) -> Result<Context, Failure> {
    let file: HashMap<String, String> = match &secrets.secrets {
        Some(path) => serde_json::from_value(read_json(path)?).map_err(|error| {
            Failure::usage(format!("{}: secrets are a JSON object of strings: {error}", path.display()))
        })?,
        None => HashMap::new(),
    };
    Ok(Context::default().with_secrets(Arc::new(CliSecrets { file })))
}

/// A record as `replay list --format json` prints it; a row that does not read
/// as one, with its id and why (the worker sets it aside as dead).
fn listed(record: Result<Record, Unreadable>) -> serde_json::Value {
    let record = match record {
        Ok(record) => record,
        Err(Unreadable { id, why }) => return serde_json::json!({ "id": id, "state": "unreadable", "last_error": why }),
    };
    serde_json::json!({
        "id": record.id,
        "created_at": record.created_at,
        "state": record.state,
        "method": record.saved.request.method.as_str(),
        "url": record.saved.request.url,
        "attempts": record.attempts,
        "last_error": record.last_error,
        "next_attempt_at": record.next_attempt_at,
        "idempotency_key": record.saved.idempotency_key,
        "spec": record.saved.spec_name,
        "tenant": record.tenant,
    })
}

/// The columns of `replay list`.
const HEADING: [&str; 7] = ["ID", "SAVED", "STATE", "METHOD", "URL", "ATTEMPTS", "LAST ERROR"];

/// A record as a line of `replay list`, its service's text shown escaped and shortened.
fn row(record: Result<Record, Unreadable>) -> [String; 7] {
    let record = match record {
        Ok(record) => record,
        Err(Unreadable { id, why }) => {
            let mut row: [String; 7] = Default::default();
            (row[0], row[2], row[6]) = (id.to_string(), "unreadable".to_owned(), shown(&shortened(&why)));
            return row;
        }
    };
    [
        record.id.to_string(),
        record.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        record.state.to_string(),
        record.saved.request.method.as_str().to_owned(),
        shown(&shortened(&record.saved.request.url)),
        record.attempts.to_string(),
        shown(&shortened(record.last_error.as_deref().unwrap_or_default())),
    ]
}

/// The rows as a table, each padded to its column's width.
fn table(rows: &[[String; 7]]) -> String {
    let widths: Vec<usize> =
        (0..7).map(|column| rows.iter().map(|row| row[column].chars().count()).max().unwrap_or(0)).collect();
    let mut text = String::new();
    for row in rows {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if column < 6 {
                // Padded by hand: a format width is limited to u16::MAX.
                let padding = widths[column] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', padding));
            }
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Longest URL or error a table cell shows, in characters (`--format json` has all).
const MAX_CELL: usize = 120;

/// `text` cut to [`MAX_CELL`] characters, with `…` when it was longer.
fn shortened(text: &str) -> String {
    match text.char_indices().nth(MAX_CELL) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// One replayed record, in a line.
fn said(replayed: &Replayed) -> String {
    let what = match &replayed.verdict {
        None => "skipped: a worker is sending it".to_owned(),
        Some(verdict) => format!("(attempt {}): {}", replayed.attempts, verdict_text(verdict)),
    };
    shown(&format!("{} {} {} {what}", replayed.id, replayed.method, replayed.url))
}

fn verdict_text(verdict: &Verdict) -> String {
    match verdict {
        Verdict::Delivered { status } => format!("delivered ({status}), removed"),
        Verdict::Failed { error } => format!("failed: {error}"),
        Verdict::Refused { error } => format!("refused, now dead: {error}"),
    }
}
