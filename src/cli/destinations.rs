//! `courier destinations`: each destination host of a replay store — records in
//! flight, its circuit breaker, its failures in a row, when it probes — as a table
//! or as JSON (issue #22).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use courier::replay::{HostState, State, host_of};

use super::eval::print;
use super::store::{existing_store, store_location};
use super::{Failure, Format};

/// `courier destinations`
#[derive(Args, Debug)]
pub(crate) struct DestinationsArgs {
    /// The replay store: a SQLite file or a postgres:// address [default: $COURIER_STORE, else courier-replay.db].
    #[arg(long, value_name = "FILE|URL")]
    store: Option<PathBuf>,
    /// The output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// The workers' limits file, whose `rate` and `concurrency` are shown for the hosts they apply to.
    #[arg(long, value_name = "FILE")]
    limits: Option<PathBuf>,
}

/// One host as listed.
#[derive(serde::Serialize)]
struct Destination {
    host: String,
    /// Its records leased now: sent, or claimed and about to be.
    in_flight: u64,
    breaker: &'static str,
    failures: u32,
    probe_at: Option<String>,
    /// The strictest `rate` of the `--limits` file's destinations it falls under.
    rate: Option<String>,
    /// The smallest `concurrency` of those destinations.
    concurrency: Option<u64>,
}

pub(crate) fn destinations(args: DestinationsArgs) -> Result<(), Failure> {
    // Only the file's own caps: `--per-host` is each worker's flag, not known here.
    let limits = super::replay::limits_file(args.limits.as_deref())?;
    let store = existing_store(&store_location(args.store), true)?;
    let failed = |error: courier::replay::StoreError| Failure::error(format!("error: {error}\n"));
    let now = Utc::now();
    let mut hosts: BTreeMap<String, (u64, HostState)> = BTreeMap::new();
    for state in store.hosts().map_err(failed)? {
        hosts.insert(state.host.clone(), (0, state));
    }
    store
        .each(&mut |record| {
            let Ok(record) = record else { return };
            if record.state != State::Pending {
                return;
            }
            let host = host_of(&record.saved.request.url);
            let entry = hosts.entry(host.clone()).or_insert_with(|| (0, HostState { host, ..HostState::default() }));
            if record.lease.is_some_and(|lease| lease.expires_at > now) {
                entry.0 += 1;
            }
        })
        .map_err(failed)?;
    let listed: Vec<Destination> = hosts
        .into_values()
        .map(|(in_flight, state)| Destination {
            in_flight,
            breaker: state.breaker.as_str(),
            failures: state.failures,
            probe_at: state.probe_at.filter(|_| state.breaker.as_str() != "closed").map(rfc3339),
            rate: limits.rate(&state.host).map(|rate| rate.to_string()),
            concurrency: limits.concurrency(&state.host).map(u64::from),
            host: state.host,
        })
        .collect();
    let text = match args.format {
        Format::Json => {
            let mut text = serde_json::json!({ "destinations": listed }).to_string();
            text.push('\n');
            text
        }
        Format::Human => table(&listed),
    };
    print(text.as_bytes())
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The hosts as a table, one a line.
fn table(listed: &[Destination]) -> String {
    if listed.is_empty() {
        return "no destinations\n".to_owned();
    }
    let width = listed.iter().map(|destination| destination.host.len()).max().unwrap_or(4).max(4);
    let mut text = format!(
        "{:width$}  {:>9}  {:9}  {:>8}  {:24}  {:>8}  CONCURRENCY\n",
        "HOST", "IN FLIGHT", "BREAKER", "FAILURES", "PROBE AT", "RATE"
    );
    for destination in listed {
        text.push_str(&format!(
            "{:width$}  {:>9}  {:9}  {:>8}  {:24}  {:>8}  {}\n",
            destination.host,
            destination.in_flight,
            destination.breaker,
            destination.failures,
            destination.probe_at.as_deref().unwrap_or("-"),
            destination.rate.as_deref().unwrap_or("-"),
            destination.concurrency.map_or_else(|| "-".to_owned(), |cap| cap.to_string())
        ));
    }
    text
}
