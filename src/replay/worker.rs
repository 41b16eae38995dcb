//! Sending stored requests: the [`Worker`] that drains the queue (leases, backoff
//! with jitter, a maximum of attempts, the dead-letter state), and [`replay`], which
//! sends chosen records now (`courier replay run`).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chrono::{TimeDelta, Utc};
use indexmap::IndexMap;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::destinations::{BreakerPolicy, HostReport, HostState, HostWatch, REFRESH, host_of};
use super::keep::failure_text;
use super::limits::Limits;
use super::retry::retry_after;
use super::store::{Backoff, Claim, Finish, Record, ReplayStore, Selection, State, StoreError};
use crate::eval::Engine;
use crate::functions::Context;
use crate::request::metrics::{self, Fate};
use crate::request::trace;
use crate::request::{CompiledRequest, Credentials, Executor, Outcome};
use crate::value::{Value, from_json};

/// Finds a record's spec by the name it was saved with, to render its credentials.
pub trait SpecSource: Send + Sync {
    /// The compiled spec of that name.
    fn load(&self, name: &str) -> Result<Arc<CompiledRequest>, String>;
}

/// Specs in files, named by their paths: the command line's. A spec is compiled
/// once and kept while its file stays the same (its inode, length and time of
/// change), so a worker does not parse the spec again for each record it sends;
/// the record's SHA-256 is still checked against the compiled text's.
pub struct SpecFiles {
    engine: Engine,
    compiled: std::sync::Mutex<HashMap<String, (FileStamp, Arc<CompiledRequest>)>>,
}

/// What tells that a file changed without reading it: its inode, length, and
/// times of modification and (on Unix) of status change, which no one can set back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    inode: u64,
    length: u64,
    modified: Option<SystemTime>,
    changed: (i64, i64),
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let metadata = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let (inode, changed) = {
            use std::os::unix::fs::MetadataExt;
            (metadata.ino(), (metadata.ctime(), metadata.ctime_nsec()))
        };
        #[cfg(not(unix))]
        let (inode, changed) = (0, (0, 0));
        Some(FileStamp { inode, length: metadata.len(), modified: metadata.modified().ok(), changed })
    }
}

/// Specs kept compiled at most: a worker serves a few specs, and a store full of
/// names must not grow the cache without end.
const SPECS_KEPT: usize = 256;

impl SpecFiles {
    /// Specs compiled with `engine` (its functions).
    pub fn new(engine: Engine) -> Self {
        SpecFiles { engine, compiled: std::sync::Mutex::new(HashMap::new()) }
    }
}

impl SpecSource for SpecFiles {
    fn load(&self, name: &str) -> Result<Arc<CompiledRequest>, String> {
        let path = Path::new(name);
        let stamp = FileStamp::of(path);
        let mut compiled = self.compiled.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let (Some(stamp), Some((kept, spec))) = (stamp, compiled.get(name))
            && *kept == stamp
        {
            return Ok(spec.clone());
        }
        let spec = Arc::new(CompiledRequest::load(&self.engine, path).map_err(|error| error.to_string())?);
        if let Some(stamp) = stamp {
            if compiled.len() >= SPECS_KEPT {
                compiled.clear();
            }
            compiled.insert(name.to_owned(), (stamp, spec.clone()));
        }
        Ok(spec)
    }
}

/// How a worker sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerOptions {
    /// The worker's name in the leases it takes; unique per worker.
    pub owner: String,
    /// How long a claimed record is the worker's. A send still going when the lease
    /// is about to lapse is cut short, so that no two workers send a record at once;
    /// keep it longer than the specs' timeouts.
    pub lease: Duration,
    /// Records sent at once.
    pub concurrency: usize,
    /// Records claimed in one transaction, and held (leased, their leases renewed)
    /// ahead of the sends, so that a finished send takes the next record from
    /// memory instead of waiting for a claim; at least `concurrency`. The buffer is
    /// topped up while sends are in flight, once it is half empty. When the sends
    /// run dry waiting for a claim that got all it asked for, the claims double,
    /// up to 8 times this.
    pub batch: usize,
    /// Attempts before a record goes dead.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles with each further one.
    pub backoff: Duration,
    /// The longest wait between attempts.
    pub max_backoff: Duration,
    /// How often a worker with nothing to do, or with free capacity, looks again
    /// (a store that is told of inserts, such as PostgreSQL's, wakes it sooner).
    pub poll: Duration,
    /// How long the store may keep failing, without a break, before the worker ends
    /// with the error; `None`: it retries for ever. Either way it retries with
    /// backoff (a quarter second, doubling to 5 s) and reconnects by itself. A store
    /// that fails on the worker's very first call (a wrong address, a corrupted
    /// file) ends it at once.
    pub give_up_after: Option<Duration>,
    /// When a host's breaker opens and how long it stays open (issue #22): shared
    /// by every worker of a store that keeps host state.
    pub breaker: BreakerPolicy,
    /// The longest a `Retry-After` pauses a host for the whole fleet (a queued
    /// spec has no `[retry]`, so no `max_retry_after` of its own).
    pub max_retry_after: Duration,
    /// The caps on requests in flight per host, fleet-wide (issue #22):
    /// `per_host` and a limits file's `concurrency` (default: none; the command
    /// line's `--per-host` is [`DEFAULT_PER_HOST`]). Each claim gives the worker
    /// its share of a capped host ([`super::Lease::sendable`]), and it keeps at
    /// most that many of the host's records on the wire.
    pub limits: Limits,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            owner: format!("worker-{}-{:08x}", std::process::id(), rand::random::<u32>()),
            lease: Duration::from_secs(60),
            concurrency: 8,
            batch: 64,
            max_attempts: 10,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(15 * 60),
            poll: Duration::from_secs(1),
            give_up_after: None,
            breaker: BreakerPolicy::default(),
            max_retry_after: Duration::from_secs(30),
            limits: Limits::default(),
        }
    }
}

/// The most requests in flight to one host across a fleet: `courier worker`'s
/// default `--per-host`.
pub const DEFAULT_PER_HOST: u32 = 16;

impl WorkerOptions {
    /// The wait after `attempts` failed attempts: `backoff · 2^(attempts-1)`, at most
    /// `max_backoff`, of which a random half is taken off ("equal jitter"), so that
    /// records that failed together do not come back together.
    pub fn backoff_after(&self, attempts: u32) -> Duration {
        self.schedule().after(attempts)
    }

    /// The wait after `attempts` failed attempts, the last answered with a
    /// `Retry-After` asking for `asked`: the backoff, or the wait asked for when that
    /// is longer, up to `max_backoff` — the queue's schedule is the floor, and a
    /// service may push the next attempt later, not sooner.
    pub fn wait_after(&self, attempts: u32, asked: Option<Duration>) -> Duration {
        let backoff = self.backoff_after(attempts);
        asked.map_or(backoff, |asked| backoff.max(asked.min(self.max_backoff)))
    }

    fn schedule(&self) -> Backoff {
        Backoff { first: self.backoff, max: self.max_backoff }
    }
}

/// How one attempt at a record went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "lowercase")]
pub enum Verdict {
    /// The service acknowledged it with this status (below 400).
    Delivered {
        /// The status.
        status: u16,
    },
    /// It failed in a way that may pass: no answer, 5xx, 429, or its spec could not
    /// be had.
    Failed {
        /// Why.
        error: String,
    },
    /// The service refused it (a 4xx other than 429): sending it again would not help.
    Refused {
        /// The status and the start of the body.
        error: String,
    },
}

impl Verdict {
    fn of(outcome: &Outcome) -> Verdict {
        match outcome.status {
            Some(status) if status < 400 => Verdict::Delivered { status },
            Some(status) if status >= 500 || status == 429 => Verdict::Failed { error: failure_text(outcome) },
            Some(_) => Verdict::Refused { error: failure_text(outcome) },
            // Courier refused to send it under the policy in force: trying again cannot help.
            None if outcome.refused => Verdict::Refused { error: failure_text(outcome) },
            None => Verdict::Failed { error: failure_text(outcome) },
        }
    }
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Records delivered and deleted.
    pub delivered: usize,
    /// Failed attempts that will be tried again.
    pub retried: usize,
    /// Records that went dead.
    pub dead: usize,
    /// Claimed records put back unsent when the worker was told to stop (see
    /// [`Worker::run_until`]); left out of the JSON form when none.
    #[serde(skip_serializing_if = "is_zero")]
    pub released: usize,
}

fn is_zero(count: &usize) -> bool {
    *count == 0
}

type Observer = dyn Fn(&Record, &Verdict) + Send + Sync;
/// What tells a worker to stop.
type Stop = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;
type StoreObserver = dyn Fn(&StoreError, Duration) + Send + Sync;

/// The first wait after a store error, and the longest.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// A run of store errors: how long to wait before the next try, and whether to give up.
#[derive(Default)]
struct Outage {
    since: Option<tokio::time::Instant>,
    failures: u32,
}

/// Sends the queue's due records: claims them under a lease, sends them with their
/// credentials rendered from their specs, deletes each once the service
/// acknowledged it, and schedules a failed one again with backoff, until its
/// attempts run out and it goes dead. Any number of workers, in any number of
/// processes, may share a store.
pub struct Worker {
    store: Arc<dyn ReplayStore>,
    executor: Executor,
    specs: Arc<dyn SpecSource>,
    context: Arc<Context>,
    options: WorkerOptions,
    observer: Option<Arc<Observer>>,
    store_observer: Option<Arc<StoreObserver>>,
}

impl Worker {
    /// A worker with the default options.
    pub fn new(store: Arc<dyn ReplayStore>, executor: Executor, specs: Arc<dyn SpecSource>, context: Context) -> Self {
        Worker {
            store,
            executor,
            specs,
            context: Arc::new(context),
            options: WorkerOptions::default(),
            observer: None,
            store_observer: None,
        }
    }

    /// The same worker with other options.
    pub fn with_options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// The same worker, telling `observer` how each attempt went.
    pub fn observe(mut self, observer: impl Fn(&Record, &Verdict) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The same worker, telling `observer` of each store error it rides out, with
    /// the wait before it tries again.
    pub fn observe_store(mut self, observer: impl Fn(&StoreError, Duration) + Send + Sync + 'static) -> Self {
        self.store_observer = Some(Arc::new(observer));
        self
    }

    /// The options in force.
    pub fn options(&self) -> &WorkerOptions {
        &self.options
    }

    /// Sends due records for as long as it runs (a host spawns it as a task and
    /// aborts it to stop; what was in flight is sent again after its lease lapses).
    /// Returns only when the store fails on the first call, or for longer than
    /// [`WorkerOptions::give_up_after`]; shorter outages are ridden out.
    pub async fn run(&self) -> Result<Report, StoreError> {
        self.drain(false, Box::pin(std::future::pending()), Duration::ZERO).await
    }

    /// Sends due records until none is due and none is in flight; records waiting
    /// for their backoff, or leased by another worker, are left.
    pub async fn run_until_empty(&self) -> Result<Report, StoreError> {
        self.drain(true, Box::pin(std::future::pending()), Duration::ZERO).await
    }

    /// Runs as [`Worker::run`] (or [`Worker::run_until_empty`] with `until_empty`)
    /// until `stop` completes; then claims nothing more, puts back at once every
    /// record it holds but has not started (unleased, its attempt given back, due
    /// now: another worker takes it without waiting for the lease), lets the sends
    /// in flight finish and their ends be written for at most `grace`, and returns.
    /// A send still going after `grace` is cut short; its record waits for its lease.
    pub async fn run_until(
        &self,
        until_empty: bool,
        stop: impl Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> Result<Report, StoreError> {
        self.drain(until_empty, Box::pin(stop), grace).await
    }

    /// The loop: a claimer keeps a buffer of leased records ahead of the sends
    /// (one claim for many records, made while sends are in flight), the sends
    /// take from it, and the attempts that ended are written together, one batch
    /// at a time, while the next sends go on (a group commit: what ends while a
    /// batch is being written goes in the next). Every record held — buffered,
    /// in flight, or waiting for its batch — has its lease renewed.
    async fn drain(&self, until_empty: bool, mut stop: Stop, grace: Duration) -> Result<Report, StoreError> {
        let mut state = Drain::new(&self.options);
        // When the worker was told to stop, the end of its grace.
        let mut stopping: Option<tokio::time::Instant> = None;
        loop {
            let now = tokio::time::Instant::now();
            if let Some(deadline) = stopping {
                if !state.buffer.is_empty() && state.claiming.is_none() {
                    self.release(&mut state).await;
                }
                if now >= deadline {
                    // Cut short: their records wait for their leases.
                    state.sending.abort_all();
                    while state.sending.join_next().await.is_some() {}
                }
                if state.sending.is_empty() && state.claiming.is_none() && state.buffer.is_empty() {
                    self.settle_all(&mut state).await;
                    return Ok(state.report);
                }
            } else {
                self.dispatch(&mut state, now);
            }
            if stopping.is_none() && state.claiming.is_none() && state.wants_claim(&self.options, now) {
                state.claiming = Some(self.start_claim(state.target.saturating_sub(state.ready())));
            }
            if state.flushing.is_none() && !state.ended.is_empty() && state.flush_retry_at.is_none_or(|at| now >= at) {
                state.flushing = Some(self.start_flush(&mut state));
            }
            if !state.held.is_empty() {
                self.release_held(&mut state).await;
            }
            if state.hosting.is_none()
                && (!state.watch.reports.is_empty() || (!state.is_idle() && now >= state.hosts_at))
            {
                state.hosting = Some(self.start_hosts(&mut state));
            }
            if state.is_idle() {
                if until_empty || stopping.is_some() {
                    return Ok(state.report);
                }
                let poll = self.options.poll;
                match blocking(&self.store, move |store| store.wait_for_work(poll)).await {
                    Ok(()) => state.dry_since = None,
                    Err(error) => self.ride_out(&mut state.outage, error).await?,
                }
                continue;
            }
            if now >= state.renew_at {
                self.renew(&state.leases).await;
                state.renew_at = now + state.renew_every;
            }
            let mut wake = state.wake(&self.options, now);
            if let Some(deadline) = stopping {
                wake = wake.min(deadline);
            }
            tokio::select! {
                () = &mut stop, if stopping.is_none() => stopping = Some(tokio::time::Instant::now() + grace),
                Some(joined) = state.sending.join_next(), if !state.sending.is_empty() => {
                    let (record, (verdict, asked)) =
                        joined.map_err(|error| StoreError(format!("a send failed: {error}")))?;
                    let finish = self.finish_of(&record, &verdict, asked);
                    let host = host_of(&record.saved.request.url);
                    if let Some(share) = state.shares.get_mut(&host) {
                        share.on_wire = share.on_wire.saturating_sub(1);
                    }
                    self.note_host(&mut state, host, &verdict, asked);
                    state.ended.push(Ended { record, verdict, finish });
                }
                claimed = finished(&mut state.claiming) => self.claimed(&mut state, claimed)?,
                flushed = finished(&mut state.flushing) => self.flushed(&mut state, flushed)?,
                hosted = finished(&mut state.hosting) => self.hosted(&mut state, hosted),
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// Puts back the records held but not started: unleased, their attempt given
    /// back, due now. A store that cannot be reached leaves them to their leases.
    async fn release(&self, state: &mut Drain) {
        let records: Vec<Record> = state.buffer.drain(..).map(|(_, record)| record).collect();
        let ids: Vec<i64> = records.iter().map(|record| record.id).collect();
        for id in &ids {
            state.leases.remove(id);
        }
        let owner = self.options.owner.clone();
        let count = ids.len();
        match blocking(&self.store, move |store| store.release(&ids, &owner, Utc::now())).await {
            Ok(()) => state.report.released += count,
            Err(error) => {
                if let Some(observer) = &self.store_observer {
                    observer(&error, Duration::ZERO);
                }
            }
        }
    }

    /// Puts back unsent, their attempt given back, the records held back because
    /// their host is shut: the claims leave them be until it opens, and they spend
    /// no attempt meanwhile.
    async fn release_held(&self, state: &mut Drain) {
        let ids: Vec<i64> = state.held.drain(..).map(|record| record.id).collect();
        let owner = self.options.owner.clone();
        if let Err(error) = blocking(&self.store, move |store| store.release(&ids, &owner, Utc::now())).await
            && let Some(observer) = &self.store_observer
        {
            observer(&error, Duration::ZERO);
        }
    }

    /// Tells the host watch how an attempt went: a failure (no answer, 5xx, 429)
    /// counts toward the host's breaker, an answer closes it, and a `Retry-After`
    /// on a failure pauses the host for the fleet (at most `max_retry_after`).
    fn note_host(&self, state: &mut Drain, host: String, verdict: &Verdict, asked: Option<Duration>) {
        let now = Utc::now();
        let failed = matches!(verdict, Verdict::Failed { .. });
        let pause_until = asked.filter(|_| failed).map(|asked| now + delta(asked.min(self.options.max_retry_after)));
        let report = HostReport { host, failed, pause_until };
        state.watch.note(report, &self.options.breaker, now);
    }

    /// Writes the host reports noted so far and reads every host's state back,
    /// on a blocking thread.
    fn start_hosts(&self, state: &mut Drain) -> Pending<Vec<HostState>> {
        let reports = std::mem::take(&mut state.watch.reports);
        let (store, policy) = (self.store.clone(), self.options.breaker);
        let size = reports.len();
        let handle = tokio::task::spawn_blocking(move || {
            store.report_hosts(&reports, &policy, Utc::now())?;
            store.hosts()
        });
        Pending { handle, started: tokio::time::Instant::now(), size }
    }

    /// Takes in the hosts' state; a store error is told to the store observer and
    /// the next look waits for the next refresh.
    fn hosted(&self, state: &mut Drain, hosted: Finished<Vec<HostState>>) {
        state.hosts_at = tokio::time::Instant::now() + REFRESH;
        match hosted.0 {
            Ok(states) => {
                metrics::breakers(states.iter().map(|host| (host.host.as_str(), host.breaker.gauge())));
                state.watch.replace(states, &self.options.breaker, Utc::now());
            }
            Err(error) => {
                if let Some(observer) = &self.store_observer {
                    observer(&error, REFRESH);
                }
            }
        }
    }

    /// Writes every attempt that ended, before a stop: what cannot be written now
    /// is left to the leases (its record is sent again, as at-least-once allows).
    async fn settle_all(&self, state: &mut Drain) {
        while let Some(flushing) = state.flushing.take() {
            let flushed = finished(&mut Some(flushing)).await;
            if self.flushed(state, flushed).is_err() || state.flush_retry_at.is_some() {
                return;
            }
        }
        if !state.ended.is_empty() {
            let pending = self.start_flush(state);
            let flushed = finished(&mut Some(pending)).await;
            let _ = self.flushed(state, flushed);
        }
    }

    /// Starts buffered records while there is room for more sends; a record whose
    /// lease could not be renewed in time is let go unsent (another worker takes it
    /// when the lease lapses), and one whose host is shut (breaker open, paused) is
    /// held back, to be put back unsent.
    ///
    /// A record of a capped host whose share is all on the wire waits in the
    /// buffer, in its place, while the records behind it go.
    fn dispatch(&self, state: &mut Drain, now: tokio::time::Instant) {
        let wall = Utc::now();
        let mut waiting = Vec::new();
        while state.sending.len() < self.options.concurrency.max(1) {
            let Some((host, record)) = state.buffer.pop_front() else { break };
            let Some(deadline) = state.leases.get(&record.id) else { continue };
            if now >= *deadline.borrow() {
                state.leases.remove(&record.id);
                continue;
            }
            if state.watch.shut(&host, wall) {
                state.leases.remove(&record.id);
                state.held.push(record);
                continue;
            }
            if let Some(share) = state.shares.get_mut(&host) {
                if share.on_wire >= share.sendable {
                    waiting.push((host, record));
                    continue;
                }
                share.on_wire += 1;
            }
            let watched = deadline.subscribe();
            state.sending.spawn(self.send(record, watched));
        }
        // The records that wait for their host's share do not keep the claims from
        // topping the buffer up with others (they are bounded by the shares).
        state.waiting = waiting.len();
        for waiting in waiting.into_iter().rev() {
            state.buffer.push_front(waiting);
        }
        if state.buffer.is_empty() && state.sending.is_empty() {
            // Nothing held: the next claim of a capped host brings its share anew.
            state.shares.clear();
        }
    }

    /// Claims up to `limit` due records, while the sends go on: on the store's
    /// async face when it has one, else on a blocking thread.
    fn start_claim(&self, limit: usize) -> Pending<Vec<Record>> {
        let (store, options) = (self.store.clone(), self.options.clone());
        let started = tokio::time::Instant::now();
        let handle = tokio::spawn(async move {
            match store.as_async() {
                Some(queue) => queue.claim(due_claim(&options, limit)).await,
                None => blocking(&store, move |store| store.claim(&due_claim(&options, limit))).await,
            }
        });
        Pending { handle, started, size: limit }
    }

    /// Takes in what a claim leased (into the buffer, each with its lease's
    /// deadline), or the claim's error.
    fn claimed(&self, state: &mut Drain, claimed: Finished<Vec<Record>>) -> Result<(), StoreError> {
        let (result, started, asked) = claimed;
        match result {
            Ok(records) => {
                // The sends ran dry while this claim was on its way (its commit waits
                // for the disk; the first claim does not count: nothing was being sent
                // before it), and the queue had all it asked for: claim more at a
                // time from now on. Slow sends never run dry, so a worker whose sends
                // are slow keeps holding few records that another worker could take.
                if state.worked
                    && state.buffer.is_empty()
                    && state.sending.len() < self.options.concurrency
                    && records.len() == asked
                {
                    let most = self.options.batch.max(self.options.concurrency).saturating_mul(BATCH_GROWTH);
                    state.target = state.target.saturating_mul(2).min(most);
                }
                state.worked = true;
                state.outage = Outage::default();
                state.claim_retry_at = None;
                // Short, the queue may be dry — unless records settled while this claim
                // was on its way: counted before they settled, its caps left out room
                // they have freed since (and `--until-empty` would stop with work left).
                let settled_since = state.settled_at.is_some_and(|at| at >= started);
                state.dry_since = (records.len() < asked && !settled_since).then(tokio::time::Instant::now);
                for record in records {
                    let host = host_of(&record.saved.request.url);
                    if let Some(sendable) = record.lease.as_ref().and_then(|lease| lease.sendable) {
                        state.shares.entry(host.clone()).or_default().sendable = sendable;
                    }
                    let (deadline, _) = watch::channel(send_deadline(started, self.options.lease));
                    state.leases.insert(record.id, deadline);
                    state.buffer.push_back((host, record));
                }
                Ok(())
            }
            Err(error) if !state.worked => Err(error),
            Err(error) => {
                let wait = self.outage_wait(&mut state.outage, error)?;
                state.claim_retry_at = Some(tokio::time::Instant::now() + wait);
                Ok(())
            }
        }
    }

    /// Writes the attempts that ended, together: on the store's async face when it
    /// has one, else on a blocking thread.
    fn start_flush(&self, state: &mut Drain) -> Pending<()> {
        state.flushed = std::mem::take(&mut state.ended);
        let settled: Vec<(i64, Finish)> =
            state.flushed.iter().map(|ended| (ended.record.id, ended.finish.clone())).collect();
        let (store, owner) = (self.store.clone(), self.options.owner.clone());
        let size = settled.len();
        let handle = tokio::spawn(async move {
            match store.as_async() {
                Some(queue) => queue.finish_many(&owner, &settled, Utc::now()).await,
                None => blocking(&store, move |store| store.finish_many(&owner, &settled, Utc::now())).await,
            }
        });
        Pending { handle, started: tokio::time::Instant::now(), size }
    }

    /// Once a batch is written, counts it and tells the observer (a record reported
    /// delivered is gone); a batch that could not be written is tried again after
    /// the outage's wait.
    fn flushed(&self, state: &mut Drain, flushed: Finished<()>) -> Result<(), StoreError> {
        let mut batch = std::mem::take(&mut state.flushed);
        match flushed.0 {
            Ok(()) => {
                state.outage = Outage::default();
                state.flush_retry_at = None;
                if !batch.is_empty() && !state.capless {
                    // Settled records free room under the caps per host: a claim
                    // cut short by them may find more now.
                    state.dry_since = None;
                    state.settled_at = Some(tokio::time::Instant::now());
                }
                for ended in &batch {
                    state.leases.remove(&ended.record.id);
                    match &ended.finish {
                        Finish::Delivered => state.report.delivered += 1,
                        Finish::Failed { state: State::Dead, .. } => state.report.dead += 1,
                        Finish::Failed { .. } => {
                            state.report.retried += 1;
                            // It may be due again soon: look before calling the queue empty.
                            state.dry_since = None;
                        }
                    }
                    metrics::delivery(fate_of(&ended.finish, &ended.verdict));
                    if let Some(observer) = &self.observer {
                        observer(&ended.record, &ended.verdict);
                    }
                }
                Ok(())
            }
            Err(error) => {
                batch.append(&mut state.ended);
                state.ended = batch;
                let wait = self.outage_wait(&mut state.outage, error)?;
                state.flush_retry_at = Some(tokio::time::Instant::now() + wait);
                Ok(())
            }
        }
    }

    /// How an attempt ends in the store.
    fn finish_of(&self, record: &Record, verdict: &Verdict, asked: Option<Duration>) -> Finish {
        let now = Utc::now();
        match verdict {
            Verdict::Delivered { .. } => Finish::Delivered,
            Verdict::Failed { error } if record.attempts < self.options.max_attempts => Finish::Failed {
                state: State::Pending,
                error: error.clone(),
                next_attempt_at: now + delta(self.options.wait_after(record.attempts, asked)),
            },
            Verdict::Failed { error } | Verdict::Refused { error } => {
                Finish::Failed { state: State::Dead, error: error.clone(), next_attempt_at: now }
            }
        }
    }

    /// Sends a record, giving up a little before its lease lapses; a renewed lease
    /// moves that moment on.
    fn send(
        &self,
        record: Record,
        mut deadline: watch::Receiver<tokio::time::Instant>,
    ) -> impl std::future::Future<Output = (Record, Attempted)> + Send + 'static {
        let (executor, specs, context) = (self.executor.clone(), self.specs.clone(), self.context.clone());
        async move {
            let attempted = {
                let attempt = attempt(&executor, specs.as_ref(), &context, &record);
                tokio::pin!(attempt);
                loop {
                    let until = *deadline.borrow_and_update();
                    tokio::select! {
                        attempted = &mut attempt => break attempted,
                        () = tokio::time::sleep_until(until) => {
                            if *deadline.borrow() > until {
                                continue;
                            }
                            let error = "no answer before the worker's lease ran out".to_owned();
                            break (Verdict::Failed { error }, None);
                        }
                    }
                }
            };
            (record, attempted)
        }
    }

    /// Extends the leases of the sends in flight; a lease that could not be renewed
    /// keeps its deadline, and its send is cut short then.
    async fn renew(&self, leases: &HashMap<i64, watch::Sender<tokio::time::Instant>>) {
        if leases.is_empty() {
            return;
        }
        let started = tokio::time::Instant::now();
        let ids: Vec<i64> = leases.keys().copied().collect();
        let (owner, lease) = (self.options.owner.clone(), self.options.lease);
        let renewed = match self.store.as_async() {
            Some(queue) => queue.renew(&ids, &owner, Utc::now() + delta(lease)).await,
            None => blocking(&self.store, move |store| store.renew(&ids, &owner, Utc::now() + delta(lease))).await,
        };
        match renewed {
            Ok(renewed) => {
                for id in renewed {
                    if let Some(deadline) = leases.get(&id) {
                        deadline.send_replace(send_deadline(started, lease));
                    }
                }
            }
            Err(error) => {
                if let Some(observer) = &self.store_observer {
                    observer(&error, Duration::ZERO);
                }
            }
        }
    }

    /// Waits out a store error with backoff, or gives up when the outage has lasted
    /// longer than the options allow.
    async fn ride_out(&self, outage: &mut Outage, error: StoreError) -> Result<(), StoreError> {
        let wait = self.outage_wait(outage, error)?;
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The wait before trying the store again after `error` (told to the store
    /// observer), or the error when the outage has lasted longer than the options allow.
    fn outage_wait(&self, outage: &mut Outage, error: StoreError) -> Result<Duration, StoreError> {
        let now = tokio::time::Instant::now();
        let since = *outage.since.get_or_insert(now);
        if let Some(limit) = self.options.give_up_after
            && now.duration_since(since) >= limit
        {
            return Err(error);
        }
        let wait = RECONNECT_FIRST.saturating_mul(1 << outage.failures.min(8)).min(RECONNECT_MAX);
        let wait = wait / 2 + wait.mul_f64(rand::random::<f64>() / 2.0);
        outage.failures += 1;
        if let Some(observer) = &self.store_observer {
            observer(&error, wait);
        }
        Ok(wait)
    }
}

/// A claimed record whose attempt ended, waiting for its batch to be written.
struct Ended {
    record: Record,
    verdict: Verdict,
    finish: Finish,
}

/// A store call running on a blocking thread: when it started, and how many
/// records it asked for or carries.
struct Pending<T> {
    handle: tokio::task::JoinHandle<Result<T, StoreError>>,
    started: tokio::time::Instant,
    size: usize,
}

/// A finished [`Pending`]: its result, when it started, and its size.
type Finished<T> = (Result<T, StoreError>, tokio::time::Instant, usize);

/// Waits for the store call in `pending`, if there is one (else for ever, so that
/// `select!` passes it over), and clears it.
async fn finished<T>(pending: &mut Option<Pending<T>>) -> Finished<T> {
    let Some(call) = pending.as_mut() else {
        return std::future::pending().await;
    };
    let result = match (&mut call.handle).await {
        Ok(result) => result,
        Err(error) => Err(StoreError(format!("the replay store failed: {error}"))),
    };
    let (started, size) = (call.started, call.size);
    *pending = None;
    (result, started, size)
}

/// What the worker's loop holds.
struct Drain {
    report: Report,
    /// Claimed records not sent yet, the earliest due first, each with its host
    /// (read once: a record waiting for its host's share is looked at again on
    /// every pass).
    buffer: VecDeque<(String, Record)>,
    /// The sends in flight.
    sending: JoinSet<(Record, Attempted)>,
    /// Attempts that ended, for the next batch.
    ended: Vec<Ended>,
    /// The claim and the batch being written, if any.
    claiming: Option<Pending<Vec<Record>>>,
    flushing: Option<Pending<()>>,
    /// The attempts in the batch being written.
    flushed: Vec<Ended>,
    /// The lease deadline of every record held, moved on when its lease is renewed.
    leases: HashMap<i64, watch::Sender<tokio::time::Instant>>,
    /// Records the buffer is topped up to.
    target: usize,
    renew_every: Duration,
    renew_at: tokio::time::Instant,
    /// Since when the store has had no more due records (the last claim came back
    /// short); `None` while there may be more.
    dry_since: Option<tokio::time::Instant>,
    claim_retry_at: Option<tokio::time::Instant>,
    flush_retry_at: Option<tokio::time::Instant>,
    outage: Outage,
    /// Whether a store call has succeeded yet: one failing before ends the worker.
    worked: bool,
    /// The hosts' breakers and pauses, as this worker knows them.
    watch: HostWatch,
    /// The write of host reports and read of host state in progress, if any.
    hosting: Option<Pending<Vec<HostState>>>,
    /// When to read the hosts' state next.
    hosts_at: tokio::time::Instant,
    /// Records held back unsent because their host is shut, to be put back.
    held: Vec<Record>,
    /// Whether no host is capped (no `per_host`, no `concurrency` or `rate` in the limits):
    /// then a short claim means the queue is dry until records settle elsewhere.
    capless: bool,
    /// This worker's share of each capped host it holds records of (its requests
    /// on the wire at most, [`Lease::sendable`] of its latest claim of the host),
    /// and its requests on the wire to each.
    shares: HashMap<String, Share>,
    /// The records at the head of the buffer that wait for their host's share.
    waiting: usize,
    /// When a batch of settles last committed, under caps per host.
    settled_at: Option<tokio::time::Instant>,
}

/// A worker's share of a capped host, and how much of it is in use.
#[derive(Debug, Clone, Copy, Default)]
struct Share {
    sendable: u32,
    on_wire: u32,
}

impl Drain {
    fn new(options: &WorkerOptions) -> Drain {
        let renew_every = (options.lease / 3).clamp(Duration::from_millis(10), Duration::from_secs(3600));
        Drain {
            report: Report::default(),
            buffer: VecDeque::new(),
            sending: JoinSet::new(),
            ended: Vec::new(),
            claiming: None,
            flushing: None,
            flushed: Vec::new(),
            leases: HashMap::new(),
            target: options.batch.max(options.concurrency).max(1),
            renew_every,
            renew_at: tokio::time::Instant::now() + renew_every,
            dry_since: None,
            claim_retry_at: None,
            flush_retry_at: None,
            outage: Outage::default(),
            worked: false,
            watch: HostWatch::default(),
            hosting: None,
            hosts_at: tokio::time::Instant::now(),
            held: Vec::new(),
            capless: options.limits.per_host.is_none()
                && options.limits.destinations.iter().all(|limit| limit.concurrency.is_none() && limit.rate.is_none()),
            shares: HashMap::new(),
            waiting: 0,
            settled_at: None,
        }
    }

    /// Whether to claim now: the buffer is half empty, the store is not known to
    /// be dry (or was found so a poll ago), and no store error is being waited out.
    fn wants_claim(&self, options: &WorkerOptions, now: tokio::time::Instant) -> bool {
        self.ready() <= self.target / 2
            && self.dry_since.is_none_or(|since| now >= since + options.poll)
            && self.claim_retry_at.is_none_or(|at| now >= at)
    }

    /// The buffered records that may go as soon as there is room for a send.
    fn ready(&self) -> usize {
        self.buffer.len().saturating_sub(self.waiting)
    }

    /// Nothing held and nothing going on, and the last claim found nothing more.
    fn is_idle(&self) -> bool {
        self.dry_since.is_some()
            && self.buffer.is_empty()
            && self.sending.is_empty()
            && self.ended.is_empty()
            && self.claiming.is_none()
            && self.flushing.is_none()
            && self.hosting.is_none()
            && self.held.is_empty()
            && self.watch.reports.is_empty()
    }

    /// When the loop must look again if nothing else happens first.
    fn wake(&self, options: &WorkerOptions, now: tokio::time::Instant) -> tokio::time::Instant {
        let mut wake = self.renew_at.min(now + options.poll);
        for at in [
            self.claim_retry_at,
            self.flush_retry_at,
            self.dry_since.map(|since| since + options.poll),
            // While a read is out, its end wakes the loop.
            self.hosting.is_none().then_some(self.hosts_at),
        ]
        .into_iter()
        .flatten()
        {
            wake = wake.min(at.max(now));
        }
        wake
    }
}

/// One record sent now by [`replay`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Replayed {
    /// The record's id.
    pub id: i64,
    /// Its method.
    pub method: String,
    /// Its URL.
    pub url: String,
    /// Its attempts, this one included.
    pub attempts: u32,
    /// How it went; `None` when a worker held the record and it was not sent.
    #[serde(flatten)]
    pub verdict: Option<Verdict>,
}

/// Sends records now, one after the other, whatever their state and time: `ids`,
/// or every record when `ids` is `None`. A delivered record is deleted; a refused
/// one goes dead; one that failed keeps its state (a pending one waits its backoff
/// again), with its attempts and last error updated. A record a worker holds is
/// left alone. An id with no record is an error.
pub async fn replay(
    store: Arc<dyn ReplayStore>,
    executor: &Executor,
    specs: &dyn SpecSource,
    context: &Context,
    ids: Option<Vec<i64>>,
) -> Result<Vec<Replayed>, StoreError> {
    replay_with_lease(store, executor, specs, context, ids, WorkerOptions::default().lease).await
}

/// [`replay`] under leases of `lease`: each record is claimed for that long, and
/// the lease is renewed every third of it while the send is in flight, as the
/// worker does, so that a slow send is neither cut short nor taken by a worker.
pub async fn replay_with_lease(
    store: Arc<dyn ReplayStore>,
    executor: &Executor,
    specs: &dyn SpecSource,
    context: &Context,
    ids: Option<Vec<i64>>,
    lease: Duration,
) -> Result<Vec<Replayed>, StoreError> {
    // What is kept of each record meanwhile: not its body (a store of large
    // bodies would be held whole while the records are sent one by one).
    let listed = blocking(&store, |store| {
        let (mut listed, mut unreadable) = (Vec::new(), None);
        store.each(&mut |record| match record {
            Ok(record) => listed.push(Replayed {
                id: record.id,
                method: record.saved.request.method.as_str().to_owned(),
                url: record.saved.request.url,
                attempts: record.attempts,
                verdict: None,
            }),
            Err(error) => unreadable = unreadable.take().or(Some(error)),
        })?;
        match unreadable {
            Some(error) => Err(StoreError(format!("record {} cannot be read: {}", error.id, error.why))),
            None => Ok(listed),
        }
    })
    .await?;
    let ids = match ids {
        Some(ids) => {
            if let Some(missing) = ids.iter().find(|id| !listed.iter().any(|record| record.id == **id)) {
                return Err(StoreError(format!("there is no record {missing}")));
            }
            ids
        }
        None => listed.iter().map(|record| record.id).collect(),
    };
    let options = WorkerOptions {
        owner: format!("replay-{}-{:08x}", std::process::id(), rand::random::<u32>()),
        lease,
        ..WorkerOptions::default()
    };
    let mut replayed = Vec::new();
    for id in ids {
        let claimed = claim(&store, &options, 1, Selection::One(id)).await?;
        let Some(record) = claimed.into_iter().next() else {
            if let Some(record) = listed.iter().find(|record| record.id == id) {
                replayed.push(record.clone());
            }
            continue;
        };
        let verdict = attempt_renewing(&store, &options, executor, specs, context, &record).await;
        let now = Utc::now();
        let finish = match &verdict {
            Verdict::Delivered { .. } => Finish::Delivered,
            Verdict::Refused { error } => {
                Finish::Failed { state: State::Dead, error: error.clone(), next_attempt_at: now }
            }
            Verdict::Failed { error } => Finish::Failed {
                state: record.state,
                error: error.clone(),
                next_attempt_at: match record.state {
                    State::Pending => now + delta(options.backoff_after(record.attempts)),
                    _ => record.next_attempt_at,
                },
            },
        };
        let owner = options.owner.clone();
        blocking(&store, move |store| store.finish(id, &owner, &finish, now)).await?;
        replayed.push(Replayed {
            id,
            method: record.saved.request.method.as_str().to_owned(),
            url: record.saved.request.url.clone(),
            attempts: record.attempts,
            verdict: Some(verdict),
        });
    }
    Ok(replayed)
}

/// Sends a claimed record once, renewing its lease every third of it while the send
/// is in flight. As in the worker, a send still going when a lease that could not
/// be renewed is about to lapse is cut short, so that no worker can claim and send
/// the record at the same time.
async fn attempt_renewing(
    store: &Arc<dyn ReplayStore>,
    options: &WorkerOptions,
    executor: &Executor,
    specs: &dyn SpecSource,
    context: &Context,
    record: &Record,
) -> Verdict {
    let lease = options.lease;
    // Clamped: an hour between renewals is plenty, whatever the lease.
    let renew_every = (lease / 3).clamp(Duration::from_millis(10), Duration::from_secs(3600));
    let mut deadline = send_deadline(tokio::time::Instant::now(), lease);
    let mut renew_at = tokio::time::Instant::now() + renew_every;
    let sending = attempt(executor, specs, context, record);
    tokio::pin!(sending);
    loop {
        tokio::select! {
            (verdict, _) = &mut sending => return verdict,
            () = tokio::time::sleep_until(deadline.min(renew_at)) => {
                if tokio::time::Instant::now() >= deadline {
                    return Verdict::Failed { error: "no answer before the lease ran out".to_owned() };
                }
                let started = tokio::time::Instant::now();
                let (id, owner) = (record.id, options.owner.clone());
                let renewed =
                    blocking(store, move |store| store.renew(&[id], &owner, Utc::now() + delta(lease))).await;
                if renewed.is_ok_and(|renewed| renewed.contains(&id)) {
                    deadline = send_deadline(started, lease);
                }
                renew_at = started + renew_every;
            }
        }
    }
}

/// A record's fate once its end is written, for the deliveries metric.
fn fate_of(finish: &Finish, verdict: &Verdict) -> Fate {
    match (finish, verdict) {
        (Finish::Delivered, _) => Fate::Delivered,
        (_, Verdict::Refused { .. }) => Fate::Refused,
        (Finish::Failed { state: State::Dead, .. }, _) => Fate::Dead,
        (Finish::Failed { .. }, _) => Fate::Retry,
    }
}

/// How an attempt went, and the wait the service asked for (its `Retry-After`).
type Attempted = (Verdict, Option<Duration>);

/// The verdict on an outcome, with the wait its `Retry-After` asks for.
fn judged(outcome: &Outcome) -> Attempted {
    let asked = outcome.retry_after.as_deref().and_then(|value| retry_after(value, SystemTime::now()));
    (Verdict::of(outcome), asked)
}

/// Sends a record once, in a `courier.deliver` span that joins the trace its
/// enqueuer kept with it (issue #23).
async fn attempt(executor: &Executor, specs: &dyn SpecSource, context: &Context, record: &Record) -> Attempted {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "courier.deliver",
        courier.record = record.id,
        courier.attempt = record.attempts,
        courier.result = tracing::field::Empty,
    );
    if let Some(parent) = &record.trace_context {
        trace::adopt(&span, parent);
    }
    let sending = trace::within_kept(record.trace_context, attempt_once(executor, specs, context, record));
    let attempted = sending.instrument(span.clone()).await;
    span.record("courier.result", verdict_word(&attempted.0));
    attempted
}

fn verdict_word(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Delivered { .. } => "delivered",
        Verdict::Failed { .. } => "failed",
        Verdict::Refused { .. } => "refused",
    }
}

/// Sends a record once: its credentials rendered from its spec, when it has any.
async fn attempt_once(executor: &Executor, specs: &dyn SpecSource, context: &Context, record: &Record) -> Attempted {
    let saved = &record.saved;
    let Some(kept) = &saved.credentials else {
        return judged(&executor.send_prepared(&saved.request, None, context).await);
    };
    let failed = |error: String| (Verdict::Failed { error }, None);
    let Some(name) = &saved.spec_name else {
        return failed("its credentials need its spec, and it names none".to_owned());
    };
    let spec = match specs.load(name) {
        Ok(spec) => spec,
        Err(error) => return failed(format!("its spec cannot be had for its credentials: {error}")),
    };
    if spec.sha256() != saved.spec_sha256.as_deref() {
        return failed(format!(
            "its spec {name} changed since it was saved; its credentials are not applied to a request rendered from another version"
        ));
    }
    let variables: IndexMap<String, Value> =
        kept.variables.iter().map(|(name, value)| (name.clone(), from_json(value))).collect();
    let credentials = Credentials { request: &spec, headers: &kept.headers, variables: &variables, url: kept.url };
    judged(&executor.send_prepared(&saved.request, Some(credentials), context).await)
}

/// How many times its `batch` a worker's claims may grow to when its sends run dry
/// waiting for them.
const BATCH_GROWTH: usize = 8;

/// The worker's claim of up to `limit` due records, from now.
fn due_claim(options: &WorkerOptions, limit: usize) -> Claim<'_> {
    let now = Utc::now();
    Claim {
        owner: &options.owner,
        now,
        until: now + delta(options.lease),
        limit,
        selection: Selection::Due,
        max_attempts: Some(options.max_attempts),
        backoff: Some(options.schedule()),
        limits: Some(&options.limits),
    }
}

/// Leases up to `limit` records of `selection` for `options.owner`, from now for `options.lease`.
async fn claim(
    store: &Arc<dyn ReplayStore>,
    options: &WorkerOptions,
    limit: usize,
    selection: Selection,
) -> Result<Vec<Record>, StoreError> {
    let (owner, lease) = (options.owner.clone(), options.lease);
    // The worker's claims count attempts against the maximum and schedule the
    // backoff at once; replay by hand sends whatever it is asked to.
    let (max_attempts, backoff) = match selection {
        Selection::Due => (Some(options.max_attempts), Some(options.schedule())),
        Selection::One(_) => (None, None),
    };
    blocking(store, move |store| {
        let now = Utc::now();
        let until = now + delta(lease);
        store.claim(&Claim { owner: &owner, now, until, limit, selection, max_attempts, backoff, limits: None })
    })
    .await
}

async fn blocking<T: Send + 'static>(
    store: &Arc<dyn ReplayStore>,
    work: impl FnOnce(&dyn ReplayStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || work(store.as_ref()))
        .await
        .map_err(|error| StoreError(format!("the replay store failed: {error}")))?
}

/// A duration as a `TimeDelta`, at most a century, so that `now + delta` cannot overflow.
fn delta(duration: Duration) -> TimeDelta {
    const CENTURY: TimeDelta = TimeDelta::days(36_525);
    TimeDelta::from_std(duration).unwrap_or(CENTURY).min(CENTURY)
}

/// When a send that started at `started` under a lease of `lease` must give up: a
/// little before the lease lapses (a tenth of it, at most 5 s).
fn send_deadline(started: tokio::time::Instant, lease: Duration) -> tokio::time::Instant {
    let margin = (lease / 10).min(Duration::from_secs(5));
    let far = started + Duration::from_secs(100 * 365 * 24 * 3600);
    started.checked_add(lease.saturating_sub(margin)).unwrap_or(far).min(far)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_file_is_compiled_once_until_it_changes() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("spec.toml");
        let name = path.to_str().unwrap();
        std::fs::write(&path, "method = \"GET\"\nurl = \"http://127.0.0.1:9/a\"\n").unwrap();
        let specs = SpecFiles::new(Engine::new());
        let first = specs.load(name).unwrap();
        assert!(Arc::ptr_eq(&first, &specs.load(name).unwrap()), "kept compiled");
        // The same length, written at once: the status change still tells.
        std::fs::write(&path, "method = \"GET\"\nurl = \"http://127.0.0.1:9/b\"\n").unwrap();
        let second = specs.load(name).unwrap();
        assert_ne!(first.sha256(), second.sha256(), "compiled again from the new text");
        std::fs::remove_file(&path).unwrap();
        assert!(specs.load(name).is_err(), "a spec gone is an error, not the one kept");
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let options = WorkerOptions {
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            ..WorkerOptions::default()
        };
        for (attempts, full) in [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (40, 60)] {
            let full = Duration::from_secs(full);
            for _ in 0..50 {
                let wait = options.backoff_after(attempts);
                assert!(wait >= full / 2 && wait <= full, "{attempts}: {wait:?}");
            }
        }
    }

    #[test]
    fn a_retry_after_pushes_the_next_attempt_later_up_to_the_cap_never_sooner() {
        let options = WorkerOptions {
            backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(60),
            ..WorkerOptions::default()
        };
        assert_eq!(options.wait_after(1, Some(Duration::from_secs(30))), Duration::from_secs(30));
        assert_eq!(options.wait_after(1, Some(Duration::from_secs(3600))), Duration::from_secs(60));
        let short = options.wait_after(1, Some(Duration::ZERO));
        assert!(short >= Duration::from_secs(1) && short <= Duration::from_secs(2), "{short:?}");
    }

    #[test]
    fn statuses_are_judged() {
        let status = |status| Outcome { status: Some(status), ..Outcome::default() };
        assert_eq!(Verdict::of(&status(201)), Verdict::Delivered { status: 201 });
        assert!(matches!(Verdict::of(&status(503)), Verdict::Failed { .. }));
        assert!(matches!(Verdict::of(&status(429)), Verdict::Failed { .. }));
        assert!(matches!(Verdict::of(&status(404)), Verdict::Refused { .. }));
        let none = Outcome { error: Some("connection refused".into()), ..Outcome::default() };
        assert_eq!(Verdict::of(&none), Verdict::Failed { error: "connection refused".into() });
    }
}
