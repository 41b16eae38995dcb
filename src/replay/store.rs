//! The store's contract: what a record holds, and the [`ReplayStore`] trait.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::destinations::{BreakerPolicy, HostReport, HostState};
use crate::request::Prepared;
use crate::request::trace::TraceParent;

/// Where a record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Queued: the worker sends it once it is due.
    Pending,
    /// Failed when it was sent; waits to be replayed by hand.
    Failed,
    /// Given up: its attempts ran out, or the service refused it (a 4xx other than 429).
    Dead,
}

impl State {
    /// The state's name: `pending`, `failed`, `dead`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Failed => "failed",
            State::Dead => "dead",
        }
    }

    /// The state of a name.
    pub fn parse(name: &str) -> Option<State> {
        [State::Pending, State::Failed, State::Dead].into_iter().find(|state| state.as_str() == name)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a record keeps to add the credentials back when it is sent: the headers to
/// render again from the spec, and the chat variables their templates and the
/// spec's `[auth]` read (none of them a secret). The spec's `[auth]` is applied
/// whenever a record has these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KeptCredentials {
    /// Header names: those whose template reads a secret, and `Authorization`.
    pub headers: Vec<String>,
    /// Variable name → value as JSON.
    pub variables: serde_json::Map<String, serde_json::Value>,
    /// Whether the URL is rendered again from the spec when sent: its query reads
    /// a secret, whose value the kept URL holds redacted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub url: bool,
}

/// A request as the store keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The rendered request, without its credentials and the session's cookies.
    pub request: Prepared,
    /// The `Idempotency-Key` it carries, the same at every attempt.
    pub idempotency_key: String,
    /// The spec's name (the command line: its absolute path).
    pub spec_name: Option<String>,
    /// The SHA-256 of the spec's text when the request was rendered.
    pub spec_sha256: Option<String>,
    /// What its credentials need, when it has any.
    pub credentials: Option<KeptCredentials>,
}

/// A record to insert.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRecord {
    /// `pending` for a queued request, `failed` for one kept after failing.
    pub state: State,
    /// The request.
    pub saved: Saved,
    /// The attempts made so far (1 for a request that failed when it was sent).
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Whose request it is (a chat platform's customer, say), when the host says:
    /// stored with the record, for the host's own bookkeeping.
    pub tenant: Option<String>,
    /// The enqueuer's trace context, when a recorded span was current (see
    /// [`crate::request::trace::current`]): the delivery's spans join that trace.
    pub trace_context: Option<TraceParent>,
}

/// Who is sending a record, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The worker (or `courier replay run`) that claimed it.
    pub owner: String,
    /// When the claim lapses, and another may take the record.
    pub expires_at: DateTime<Utc>,
    /// For a record just claimed from a host capped in flight (`--per-host`, a
    /// limits file's `concurrency`): how many of its host's records the claimer
    /// may have on the wire at once until its next claim of that host — the cap
    /// less the records every other holder leases. `None`: no cap, or a lease
    /// read rather than claimed.
    pub sendable: Option<u32>,
}

/// How many times its share of a capped host ([`Lease::sendable`]) a claimer may
/// hold — on the wire, buffered ahead of its sends, or waiting for its settle —
/// so that the wire stays busy while the next claim is on its way.
pub const HOLD_AHEAD: u32 = 8;

/// A record in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The id, never reused.
    pub id: i64,
    /// Where it stands.
    pub state: State,
    /// The request.
    pub saved: Saved,
    /// The attempts made: counted when a record is claimed, so that a request that
    /// crashes its worker still runs out of attempts.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was saved.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When the worker may send a pending record.
    pub next_attempt_at: DateTime<Utc>,
    /// The current or last claim.
    pub lease: Option<Lease>,
    /// Whose request it is, as it was queued.
    pub tenant: Option<String>,
    /// The enqueuer's trace context, as it was queued.
    pub trace_context: Option<TraceParent>,
}

/// Which records a claim may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Pending records that are due: the worker's.
    Due,
    /// One record, whatever its state or time: `courier replay run ID`.
    One(i64),
}

/// The wait after a failed attempt: `first · 2^(attempts-1)`, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failed attempt; it doubles with each further one.
    pub first: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Backoff {
    /// The wait after `attempts` attempts, of which a random half is taken off
    /// ("equal jitter"), so that records that failed together do not come back together.
    pub fn after(&self, attempts: u32) -> Duration {
        let doubled = self.first.saturating_mul(1 << attempts.saturating_sub(1).min(30));
        let wait = doubled.min(self.max);
        wait / 2 + wait.mul_f64(rand::random::<f64>() / 2.0)
    }
}

/// What a claim does with a record it may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// Lease it: its attempts become `attempts`, and it is due again at
    /// `next_attempt_at` should this attempt never be settled.
    Send {
        /// The attempts, this one included.
        attempts: u32,
        /// When it is due again if the claimer dies mid-send.
        next_attempt_at: DateTime<Utc>,
    },
    /// Its attempts ran out while no outcome was recorded (its workers died
    /// mid-send): it goes dead with this error instead.
    Exhausted {
        /// The record's new last error.
        error: String,
    },
}

/// A claim: lease up to `limit` records of a selection to `owner` until `until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim<'a> {
    /// Who claims.
    pub owner: &'a str,
    /// The time now, by the claimer's clock.
    pub now: DateTime<Utc>,
    /// When the lease lapses.
    pub until: DateTime<Utc>,
    /// At most this many records.
    pub limit: usize,
    /// Which records.
    pub selection: Selection,
    /// A record that has had this many attempts is not sent again but goes dead:
    /// a claim is an attempt, so a request that kills its worker runs out too.
    /// `None`: no limit (replay by hand).
    pub max_attempts: Option<u32>,
    /// When set, a claimed record is due again after this backoff from `now` (on
    /// top of its lease), so that a request that kills its worker waits like one
    /// that failed. `None`: its time is left as it is (replay by hand).
    pub backoff: Option<Backoff>,
    /// The caps on records in flight per host that a worker's claim of due
    /// records keeps to (issue #22): a claim takes at most a host's cap less its
    /// records leased now. `None`: no cap (replay by hand).
    pub limits: Option<&'a super::limits::Limits>,
}

impl<'a> Claim<'a> {
    /// A claim of up to `limit` due records for `owner`, leased until `until`,
    /// as a replay by hand makes it: no attempt limit, no backoff, no cap. A
    /// worker sets those fields on top.
    pub fn due(owner: &'a str, now: DateTime<Utc>, until: DateTime<Utc>, limit: usize) -> Self {
        Claim { owner, now, until, limit, selection: Selection::Due, max_attempts: None, backoff: None, limits: None }
    }

    /// What the claim does with a record that has had `attempts` attempts and is
    /// due at `next_attempt_at`. SQLite claims by this; PostgreSQL does the same in
    /// its claim's SQL (`tests/postgres.rs` checks the attempts, the backoff and the
    /// dead letter).
    pub fn plan(&self, attempts: u32, next_attempt_at: DateTime<Utc>) -> Planned {
        if let Some(max) = self.max_attempts
            && attempts >= max
        {
            return Planned::Exhausted {
                error: format!(
                    "its {attempts} attempts ran out (max {max}) and the last has no outcome: its worker stopped while sending it"
                ),
            };
        }
        let next_attempt_at = match self.backoff {
            Some(backoff) => {
                let wait = TimeDelta::from_std(backoff.after(attempts + 1)).unwrap_or(TimeDelta::days(36_525));
                self.now.checked_add_signed(wait.min(TimeDelta::days(36_525))).unwrap_or(self.now)
            }
            None => next_attempt_at,
        };
        Planned::Send { attempts: attempts.saturating_add(1), next_attempt_at }
    }
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// The service acknowledged it: the record goes.
    Delivered,
    /// It failed: the record stays, in `state`, due again at `next_attempt_at`.
    Failed {
        /// The state it is left in.
        state: State,
        /// Why.
        error: String,
        /// When a pending record is due again.
        next_attempt_at: DateTime<Utc>,
    },
}

/// A store that cannot be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StoreError(pub String);

/// Queued records by whether they are due (see [`ReplayStore::queue_counts`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    /// Pending records due now.
    pub due: u64,
    /// Pending records due later.
    pub waiting: u64,
}

/// A durable store of requests. The SQLite default is [`super::SqliteStore`]; a
/// runtime that outgrows one machine implements this over a shared database.
///
/// The methods block (a host calls them from `spawn_blocking`, as courier does).
/// What an implementation must guarantee:
///
/// - `insert` is durable when it returns: committed in one transaction, all the
///   records or none, surviving a crash of the process and of the machine.
/// - `claim` is atomic: two claimers never both get a record whose lease has not
///   lapsed. Every claimed record's `attempts` counts one more.
/// - `claim` follows [`Claim::plan`] for each record it may take: the maximum of
///   attempts and the backoff apply when a record is claimed.
/// - `finish` with [`Finish::Failed`] changes a record only while `owner` still holds
///   its lease; [`Finish::Delivered`] deletes it whoever holds it by then, and has
///   committed when it returns.
/// - `renew` extends only leases that `owner` still holds.
pub trait ReplayStore: Send + Sync {
    /// Saves records in one committed transaction; their ids, in order.
    fn insert(&self, records: &[NewRecord]) -> Result<Vec<i64>, StoreError>;

    /// Every record, by id.
    fn list(&self) -> Result<Vec<Record>, StoreError>;

    /// The record that holds each of `keys` as its `Idempotency-Key` (the first
    /// saved, when several do): its id and state, by key; a key no record holds is
    /// absent. Read through an index, so that a send with a key costs the same
    /// whatever the store holds. The default visits every record with
    /// [`ReplayStore::each`] (one body at a time); the stores of this crate look
    /// the keys up.
    fn keyed(&self, keys: &[String]) -> Result<HashMap<String, (i64, State)>, StoreError> {
        let wanted: HashSet<&str> = keys.iter().map(String::as_str).collect();
        let mut found: HashMap<String, (i64, State)> = HashMap::new();
        self.each(&mut |record| {
            if let Ok(record) = record
                && wanted.contains(record.saved.idempotency_key.as_str())
            {
                found.entry(record.saved.idempotency_key).or_insert((record.id, record.state));
            }
        })?;
        Ok(found)
    }

    /// Puts back records `owner` claimed but did not send (a worker told to stop):
    /// unleased, the attempt their claim counted given back, due at `now`, so that
    /// another worker takes them at once. Records whose lease `owner` no longer
    /// holds are left as they are. The default settles them as failed attempts
    /// due now (the attempt stays counted); the stores of this crate give it back.
    fn release(&self, ids: &[i64], owner: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let error = "put back unsent when its worker stopped".to_owned();
        let settled: Vec<(i64, Finish)> = ids
            .iter()
            .map(|id| (*id, Finish::Failed { state: State::Pending, error: error.clone(), next_attempt_at: now }))
            .collect();
        self.finish_many(owner, &settled, now)
    }

    /// How many queued (pending) records are due at `now`, and how many wait for a
    /// later time: the queue's gauges. The default counts the records of
    /// [`ReplayStore::list`]; a store that can count in place does.
    fn queue_counts(&self, now: DateTime<Utc>) -> Result<QueueCounts, StoreError> {
        let mut counts = QueueCounts::default();
        for record in self.list()?.iter().filter(|record| record.state == State::Pending) {
            if record.next_attempt_at <= now {
                counts.due += 1;
            } else {
                counts.waiting += 1;
            }
        }
        Ok(counts)
    }

    /// Every record, by id, handed to `visit` one at a time, so that a reader such
    /// as `replay list` holds one body at a time (151 records of 10 MiB took 1.56 GB
    /// listed whole); a row that does not read as a record is handed as
    /// [`Unreadable`], and the rest still come. The default reads
    /// [`ReplayStore::list`]; the stores of this crate read row by row.
    fn each(&self, visit: &mut dyn FnMut(Result<Record, Unreadable>)) -> Result<(), StoreError> {
        for record in self.list()? {
            visit(Ok(record));
        }
        Ok(())
    }

    /// Leases records of the selection whose lease is free or has lapsed at
    /// `claim.now`; the records, the earliest due first.
    fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Record>, StoreError>;

    /// Ends an attempt at a record that `owner` claimed.
    fn finish(&self, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Ends attempts at records that `owner` claimed, as [`ReplayStore::finish`]
    /// does for each, all of them committed together when it returns (the worker
    /// settles what its sends finished in one transaction). The default calls
    /// `finish` for each in turn; a store that can do better writes them together.
    /// Settling again what was already settled changes nothing, so that a batch
    /// whose commit failed may be written again.
    fn finish_many(&self, owner: &str, settled: &[(i64, Finish)], now: DateTime<Utc>) -> Result<(), StoreError> {
        settled.iter().try_for_each(|(id, finish)| self.finish(*id, owner, finish, now))
    }

    /// Deletes a record; `false` when there is none.
    fn remove(&self, id: i64) -> Result<bool, StoreError>;

    /// Extends to `until` the leases of `ids` that `owner` still holds (a slow send
    /// in flight); the ids renewed.
    fn renew(&self, ids: &[i64], owner: &str, until: DateTime<Utc>) -> Result<Vec<i64>, StoreError>;

    /// Writes how attempts at hosts went (in order), for their breakers and the
    /// fleet's pauses (see [`HostState::apply`]), in one committed transaction.
    /// The default keeps nothing: a store without host state has no breakers
    /// shared between workers.
    fn report_hosts(
        &self,
        reports: &[HostReport],
        policy: &BreakerPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let _ = (reports, policy, now);
        Ok(())
    }

    /// Every host with state, by name: the breakers and pauses every worker of
    /// the store honours. The default knows none.
    fn hosts(&self) -> Result<Vec<HostState>, StoreError> {
        Ok(Vec::new())
    }

    /// Blocks until records may have been queued, or `timeout` passes. The default
    /// just waits (polling); a store that can be told of inserts wakes earlier.
    fn wait_for_work(&self, timeout: Duration) -> Result<(), StoreError> {
        std::thread::sleep(timeout);
        Ok(())
    }

    /// The store's async face, when its client has one: the worker then makes its
    /// claims, settles and renewals there, with no blocking thread per call. `None`
    /// (the default): the worker calls the methods above on a blocking thread.
    fn as_async(&self) -> Option<&dyn AsyncQueue> {
        None
    }
}

/// A store call in flight, borrowing what it was given.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The worker's hot calls as futures, for a store whose client is async (see
/// [`ReplayStore::as_async`]). Each keeps the promise of the [`ReplayStore`] method
/// of the same name, and works on the same records: a worker may call either face.
pub trait AsyncQueue: Send + Sync {
    /// As [`ReplayStore::claim`].
    fn claim<'a>(&'a self, claim: Claim<'a>) -> StoreFuture<'a, Vec<Record>>;

    /// As [`ReplayStore::finish_many`].
    fn finish_many<'a>(
        &'a self,
        owner: &'a str,
        settled: &'a [(i64, Finish)],
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, ()>;

    /// As [`ReplayStore::renew`].
    fn renew<'a>(&'a self, ids: &'a [i64], owner: &'a str, until: DateTime<Utc>) -> StoreFuture<'a, Vec<i64>>;
}

/// A row of a store that does not read as a record (written outside courier, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The row's id.
    pub id: i64,
    /// Why it does not read.
    pub why: String,
}

/// The `last_error` of a record set aside because it does not read as one.
pub(crate) fn unreadable(why: &str) -> String {
    format!(
        "courier cannot read this record ({why}); it was set aside as dead so that the queue goes on: \
         fix it in the store, or drop it with `courier replay drop ID`"
    )
}
