//! The shared store: PostgreSQL, for many workers on many machines. Claims are
//! leases taken with `FOR UPDATE SKIP LOCKED`; inserts `NOTIFY` idle workers, which
//! `LISTEN` (and poll as well); the schema is versioned and migrated under an
//! advisory lock, so that processes starting together do not race.
//!
//! Two faces on one schema: the [`ReplayStore`] trait, synchronous and called from
//! `spawn_blocking`, on the `postgres` crate (the blocking face of `tokio-postgres`,
//! each connection driving itself, so it needs no runtime of courier's); and the
//! worker's hot calls on `tokio-postgres` itself ([`super::pg_queue`]). Both use the
//! SQL and the parameters defined here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Row, Statement};

use super::address::without_password;
use super::destinations::{Breaker, BreakerPolicy, HostReport, HostState, host_of};
use super::limits::Limits;
use super::store::{
    Claim, Finish, HOLD_AHEAD, KeptCredentials, Lease, NewRecord, QueueCounts, Record, ReplayStore, Saved, Selection,
    State, StoreError, Unreadable,
};
use crate::request::trace::TraceParent;
use crate::request::{Method, Prepared, Timeouts};

/// Connections kept open between calls; more are opened when needed and closed after.
const POOL: usize = 4;

/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The channel inserts notify and idle workers listen on.
const CHANNEL: &str = "courier_requests";

/// The key of the advisory lock that serializes migrations (any fixed number; this
/// one is "courier" in ASCII).
const MIGRATION_LOCK: i64 = 0x0063_6f75_7269_6572;

/// The schema, one migration per version: `courier_schema.version` is the number of
/// migrations applied. A migration is never edited once released; a change is a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE courier_requests (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'failed', 'dead')),
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BYTEA,
    timeout_ms BIGINT NOT NULL,
    connect_timeout_ms BIGINT NOT NULL,
    read_timeout_ms BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    spec_name TEXT,
    spec_sha256 TEXT,
    credentials TEXT,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    lease_owner TEXT,
    lease_expires_at BIGINT
);
CREATE INDEX courier_requests_due ON courier_requests (state, next_attempt_at);
"#,
    r#"
-- Whose request it is, for the host (issue: fairness between tenants).
ALTER TABLE courier_requests ADD COLUMN tenant TEXT;
-- The claim's order, over pending records only: a claim reads the first due
-- entries and stops, whatever the backlog, where (state, next_attempt_at) left
-- records queued together (one due time) to be sorted by id on every claim.
DROP INDEX courier_requests_due;
CREATE INDEX courier_requests_claim ON courier_requests (next_attempt_at, id) WHERE state = 'pending';
"#,
    r#"
-- The enqueuer's W3C trace context (a traceparent value), so that the delivery's
-- spans join its trace (issue #23: traces).
ALTER TABLE courier_requests ADD COLUMN trace_context TEXT;
"#,
    r#"
-- Issue #22 (fairness, breakers): each record's destination host (for records
-- saved before, read from the URL: after the scheme, up to the path, without a
-- user), an index that finds each tenant's hosts with pending records and their
-- earliest due, and the hosts' state shared by every worker: circuit breaker
-- and Retry-After pause.
ALTER TABLE courier_requests ADD COLUMN host TEXT NOT NULL DEFAULT '';
UPDATE courier_requests
    SET host = lower(coalesce(substring(url from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/?#]*)'), ''));
CREATE INDEX courier_requests_fair ON courier_requests ((coalesce(tenant, '')), host, next_attempt_at, id)
    WHERE state = 'pending';
CREATE TABLE courier_hosts (
    host TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    breaker TEXT NOT NULL DEFAULT 'closed' CHECK (breaker IN ('closed', 'open', 'half-open')),
    cooldown_ms BIGINT NOT NULL DEFAULT 0,
    probe_at BIGINT,
    paused_until BIGINT
);
"#,
    r#"
-- Issue #22 (limits): a claim counts each capped host's records leased now,
-- and each rated host's sends in its window (a record's row moves to its settle).
CREATE INDEX courier_requests_leased ON courier_requests (host, lease_expires_at) WHERE lease_owner IS NOT NULL;
CREATE TABLE courier_host_starts (id BIGINT PRIMARY KEY, host TEXT NOT NULL, at BIGINT NOT NULL);
CREATE INDEX courier_host_starts_host ON courier_host_starts (host, at);
"#,
    r#"
-- A send with a caller's Idempotency-Key, and `enqueue` of a spec with one, look
-- up the record that holds it rather than reading every record: a hash index, as
-- a key is only ever looked up whole (its entries are a fraction of a btree's on
-- 36-character keys, so each insert writes less). The claim follows the fair
-- index of migration 4; the claim index of migration 2 only cost every insert,
-- claim and settle its upkeep. Together: 16% less WAL per record inserted.
CREATE INDEX courier_requests_key ON courier_requests USING hash (idempotency_key);
DROP INDEX courier_requests_claim;
"#,
];

/// The columns a [`Record`] is read from, in the order [`record`] reads them.
const COLUMNS: &str = "id, state, method, url, headers, body, timeout_ms, connect_timeout_ms, read_timeout_ms, \
    idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error, created_at, updated_at, \
    next_attempt_at, lease_owner, lease_expires_at, tenant, trace_context";

/// A [`ReplayStore`] in a PostgreSQL database, shared by any number of processes.
/// Connections are opened when first needed (the schema created or migrated then),
/// a few kept for the next calls, and a broken one is replaced on the next call, so
/// a store outlives a restart of the server.
pub struct PostgresStore {
    config: Config,
    async_config: tokio_postgres::Config,
    /// The address without its password, for messages.
    location: String,
    idle: Mutex<Vec<Connection>>,
    listener: Mutex<Option<Client>>,
    migrated: AtomicBool,
    /// The async face's connections (see [`super::pg_queue`]).
    pub(super) lanes: super::pg_queue::Lanes,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("location", &self.location).finish_non_exhaustive()
    }
}

impl Drop for PostgresStore {
    /// Closes the connections. Closing one blocks on its own small runtime, which
    /// tokio forbids inside async code, and a host's last handle on a store (a
    /// worker's, say) may well be dropped there: then they are closed on a thread
    /// of their own.
    fn drop(&mut self) {
        let idle = std::mem::take(self.idle.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()));
        let mut clients: Vec<Client> = idle.into_iter().map(|connection| connection.client).collect();
        clients.extend(self.listener.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).take());
        if clients.is_empty() {
            return;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::spawn(move || drop(clients));
        }
    }
}

/// A connection with the statements prepared on it: each is parsed and planned
/// once per connection, not on every call.
struct Connection {
    client: Client,
    prepared: HashMap<&'static str, Statement>,
}

impl Connection {
    /// The statement `name`, prepared from `sql` the first time this connection needs it.
    fn statement(&mut self, name: &'static str, sql: impl FnOnce() -> String) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.prepared.get(name) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&sql())?;
        self.prepared.insert(name, statement.clone());
        Ok(statement)
    }
}

/// Why a call failed: the database's error, or a row that does not read as a record.
pub(super) enum Failed {
    Database(postgres::Error),
    Data(String),
}

impl From<postgres::Error> for Failed {
    fn from(error: postgres::Error) -> Self {
        Failed::Database(error)
    }
}

impl PostgresStore {
    /// A store at `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, or
    /// `postgresql://`, with libpq's query options); nothing is opened yet. An
    /// address that does not parse is an error, which does not quote its password.
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let location = without_password(url);
        let mut config: tokio_postgres::Config = with_lowercase_scheme(url)
            .parse()
            .map_err(|error| StoreError(format!("the replay store {location} is not a PostgreSQL address: {error}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("courier");
        }
        Ok(PostgresStore {
            config: Config::from(config.clone()),
            async_config: config,
            location,
            idle: Mutex::new(Vec::new()),
            listener: Mutex::new(None),
            migrated: AtomicBool::new(false),
            lanes: super::pg_queue::Lanes::default(),
        })
    }

    /// A store at `url`, connected (the schema created or migrated) now.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let store = PostgresStore::new(url)?;
        store.with(|_| Ok(()))?;
        Ok(store)
    }

    /// The address's settings, for the async face's connections.
    pub(super) fn config(&self) -> &tokio_postgres::Config {
        &self.async_config
    }

    /// Brings the schema up to date once per store, on a blocking thread, for the
    /// async face (whose connections never run the migrations themselves).
    pub(super) async fn migrated(&self) -> Result<(), StoreError> {
        if self.migrated.load(Ordering::Acquire) {
            return Ok(());
        }
        let config = self.config.clone();
        let migrating = tokio::task::spawn_blocking(move || -> Result<(), Failed> {
            let mut client = config.connect(NoTls)?;
            migrate(&mut client)
        });
        match migrating.await {
            Ok(Ok(())) => {
                self.migrated.store(true, Ordering::Release);
                Ok(())
            }
            Ok(Err(failed)) => Err(self.error(failed)),
            Err(error) => Err(StoreError(format!("the replay store {}: {error}", self.location))),
        }
    }

    /// The address, without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub(super) fn error(&self, failed: Failed) -> StoreError {
        let message = match failed {
            Failed::Database(error) => match error.as_db_error() {
                Some(db) => format!("{}: {}", db.code().code(), db.message()),
                None => error.to_string(),
            },
            Failed::Data(message) => message,
        };
        StoreError(format!("the replay store {}: {message}", self.location))
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let mut client = self.config.connect(NoTls).map_err(|error| self.error(error.into()))?;
        // Settling an attempt need not wait for the disk: a delete or a failure lost
        // to a crash only means a request sent once more, as at-least-once allows (as
        // SQLite's `synchronous = NORMAL`). Inserts, claims and renewals switch it
        // back on for their own transactions.
        client.batch_execute("SET synchronous_commit = off").map_err(|error| self.error(error.into()))?;
        if !self.migrated.load(Ordering::Acquire) {
            migrate(&mut client).map_err(|error| self.error(error))?;
            self.migrated.store(true, Ordering::Release);
        }
        Ok(client)
    }

    /// Runs `work` on a pooled connection. A connection that broke is dropped with
    /// every idle one (after a server restart they are all stale), so the next
    /// call connects afresh.
    fn with<T>(&self, work: impl FnOnce(&mut Connection) -> Result<T, Failed>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let mut connection = match pooled {
            Some(connection) if !connection.client.is_closed() => connection,
            _ => Connection { client: self.connect()?, prepared: HashMap::new() },
        };
        let result = work(&mut connection);
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if connection.client.is_closed() || matches!(&result, Err(Failed::Database(error)) if error.is_closed()) {
            idle.clear();
        } else if idle.len() < POOL {
            idle.push(connection);
        }
        drop(idle);
        result.map_err(|error| self.error(error))
    }
}

/// Sets a record that does not read aside as dead, with the reason (`$1`), so that
/// the queue goes on: one bad row stopped every claim before.
pub(super) const PARK: &str = "UPDATE courier_requests SET state = 'dead', last_error = $1, updated_at = $2,
        lease_owner = NULL, lease_expires_at = NULL WHERE id = $3";

/// Settles a batch in one statement: the delivered (`$1`) deleted, the failed
/// updated from arrays (`$2`–`$5`), only while `$7` still holds their lease.
pub(super) const SETTLE: &str = "WITH delivered AS (DELETE FROM courier_requests WHERE id = ANY($1)),
    -- A rated host's send counts in its window until its settle (issue #22).
    moved AS (UPDATE courier_host_starts SET at = $6 WHERE id = ANY($1) OR id = ANY($2))
    UPDATE courier_requests AS r SET state = u.state, last_error = u.error,
        next_attempt_at = u.next_attempt_at, updated_at = $6, lease_owner = NULL, lease_expires_at = NULL
    FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bigint[]) AS u(id, state, error, next_attempt_at)
    WHERE r.id = u.id AND r.lease_owner = $7";

/// Extends the leases of `$2` that `$3` still holds to `$1`; the ids renewed.
pub(super) const RENEW: &str =
    "UPDATE courier_requests SET lease_expires_at = $1 WHERE id = ANY($2) AND lease_owner = $3 RETURNING id";

fn park(transaction: &mut postgres::Transaction<'_>, id: i64, why: &str, now: i64) -> Result<(), Failed> {
    transaction.execute(PARK, &[&super::store::unreadable(why), &now, &id])?;
    Ok(())
}

/// `url` with its scheme in lower case: libpq's parser knows only `postgres://`
/// and `postgresql://`, and a scheme is matched in any case (RFC 3986, 3.1).
fn with_lowercase_scheme(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => format!("{}://{rest}", scheme.to_ascii_lowercase()),
        None => url.to_owned(),
    }
}

/// Brings the schema up to date. The version is read first without a lock, so that
/// a database that is up to date needs no more than `SELECT` (a reader's role will
/// do); otherwise the migrations run in one transaction under an advisory lock, so
/// that of two processes starting at once one migrates and the other then finds it
/// done.
fn migrate(client: &mut Client) -> Result<(), Failed> {
    let known = MIGRATIONS.len() as i64;
    if version(client)? == Some(known) {
        return Ok(());
    }
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    transaction.batch_execute("CREATE TABLE IF NOT EXISTS courier_schema (version BIGINT NOT NULL)")?;
    let applied: Option<i64> = transaction.query_opt("SELECT version FROM courier_schema", &[])?.map(|row| row.get(0));
    let applied = applied.unwrap_or(0);
    if applied > known {
        return Err(Failed::Data(format!(
            "its schema version {applied} was written by a newer courier (this one knows {known})"
        )));
    }
    for migration in MIGRATIONS.iter().skip(usize::try_from(applied).unwrap_or(usize::MAX)) {
        transaction.batch_execute(migration)?;
    }
    transaction.execute("DELETE FROM courier_schema", &[])?;
    transaction.execute("INSERT INTO courier_schema (version) VALUES ($1)", &[&known])?;
    transaction.commit()?;
    Ok(())
}

/// The schema version, or `None` when courier has not been here yet. A version
/// newer than this courier knows is an error.
fn version(client: &mut Client) -> Result<Option<i64>, Failed> {
    let exists: bool = client.query_one("SELECT to_regclass('courier_schema') IS NOT NULL", &[])?.get(0);
    if !exists {
        return Ok(None);
    }
    let version: Option<i64> = client.query_opt("SELECT version FROM courier_schema", &[])?.map(|row| row.get(0));
    let known = MIGRATIONS.len() as i64;
    match version {
        Some(version) if version > known => Err(Failed::Data(format!(
            "its schema version {version} was written by a newer courier (this one knows {known})"
        ))),
        version => Ok(version),
    }
}

impl ReplayStore for PostgresStore {
    /// One statement for the lot: every column passed as an array and unnested,
    /// so that a batch of thousands is one round trip, not one per record.
    fn insert(&self, records: &[NewRecord]) -> Result<Vec<i64>, StoreError> {
        let columns = Columns::of(records);
        self.with(|connection| {
            let statement = connection.statement("insert", || {
                "INSERT INTO courier_requests (state, method, url, headers, body, timeout_ms, connect_timeout_ms,
                     read_timeout_ms, idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error,
                     created_at, updated_at, next_attempt_at, tenant, trace_context, host)
                 SELECT state, method, url, headers, body, timeout_ms, connect_timeout_ms, read_timeout_ms,
                     idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error, $15, $15, $15, tenant,
                     trace_context, host
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bytea[], $6::bigint[],
                     $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[], $13::int[],
                     $14::text[], $16::text[], $17::text[], $18::text[])
                     WITH ORDINALITY AS new (state, method, url, headers, body, timeout_ms, connect_timeout_ms,
                         read_timeout_ms, idempotency_key, spec_name, spec_sha256, credentials, attempts,
                         last_error, tenant, trace_context, host, position)
                 ORDER BY position
                 RETURNING id"
                    .to_owned()
            })?;
            let mut transaction = connection.client.transaction()?;
            // The commit waits for the WAL to reach the disk whatever the server's
            // default, so that a request reported queued survives a crash.
            transaction.batch_execute("SET LOCAL synchronous_commit = on")?;
            let now = Utc::now().timestamp_millis();
            let c = &columns;
            let rows = transaction.query(
                &statement,
                &[
                    &c.states,
                    &c.methods,
                    &c.urls,
                    &c.headers,
                    &c.bodies,
                    &c.timeouts[0],
                    &c.timeouts[1],
                    &c.timeouts[2],
                    &c.keys,
                    &c.spec_names,
                    &c.spec_sha256s,
                    &c.credentials,
                    &c.attempts,
                    &c.last_errors,
                    &now,
                    &c.tenants,
                    &c.trace_contexts,
                    &c.hosts,
                ],
            )?;
            // The identity is drawn in the order the rows are inserted (by position),
            // so the ids in ascending order are the records' in order.
            let mut ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
            ids.sort_unstable();
            if records.iter().any(|record| record.state == State::Pending) {
                // Delivered to the listeners when (and only if) the transaction commits.
                transaction.execute("SELECT pg_notify($1, '')", &[&CHANNEL])?;
            }
            transaction.commit()?;
            Ok(ids)
        })
    }

    fn list(&self) -> Result<Vec<Record>, StoreError> {
        self.with(|connection| {
            connection
                .client
                .query(&format!("SELECT {COLUMNS} FROM courier_requests ORDER BY id"), &[])?
                .iter()
                .map(|row| record(row).map_err(Failed::Data))
                .collect()
        })
    }

    fn keyed(&self, keys: &[String]) -> Result<HashMap<String, (i64, State)>, StoreError> {
        self.with(|connection| {
            let rows = connection.client.query(
                "SELECT DISTINCT ON (idempotency_key) idempotency_key, id, state FROM courier_requests
                 WHERE idempotency_key = ANY($1) ORDER BY idempotency_key, id",
                &[&keys],
            )?;
            let mut found = HashMap::new();
            for row in rows {
                let (key, id, state): (String, i64, String) = (row.get(0), row.get(1), row.get(2));
                let state = State::parse(&state).ok_or_else(|| Failed::Data(format!("unknown state {state:?}")))?;
                found.insert(key, (id, state));
            }
            Ok(found)
        })
    }

    fn release(&self, ids: &[i64], owner: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let now = now.timestamp_millis();
        self.with(|connection| {
            let mut transaction = connection.client.transaction()?;
            // Durable, like a claim: a lost release only makes the records wait for their lease.
            transaction.batch_execute("SET LOCAL synchronous_commit = on")?;
            transaction.execute(
                "UPDATE courier_requests SET lease_owner = NULL, lease_expires_at = NULL,
                        attempts = GREATEST(attempts - 1, 0), next_attempt_at = $3, updated_at = $3
                 WHERE id = ANY($1) AND lease_owner = $2 AND state = 'pending'",
                &[&ids, &owner, &now],
            )?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn queue_counts(&self, now: DateTime<Utc>) -> Result<QueueCounts, StoreError> {
        let now = now.timestamp_millis();
        self.with(|connection| {
            let row = connection.client.query_one(
                "SELECT count(*) FILTER (WHERE next_attempt_at <= $1), count(*) FILTER (WHERE next_attempt_at > $1)
                 FROM courier_requests WHERE state = 'pending'",
                &[&now],
            )?;
            let (due, waiting): (i64, i64) = (row.get(0), row.get(1));
            Ok(QueueCounts { due: due as u64, waiting: waiting as u64 })
        })
    }

    fn each(&self, visit: &mut dyn FnMut(Result<Record, Unreadable>)) -> Result<(), StoreError> {
        self.with(|connection| {
            let sql = format!("SELECT {COLUMNS} FROM courier_requests ORDER BY id");
            let mut rows = connection.client.query_raw(sql.as_str(), std::iter::empty::<i64>())?;
            while let Some(row) = rows.next()? {
                visit(record(&row).map_err(|why| Unreadable { id: row.get(0), why }));
            }
            Ok(())
        })
    }

    /// One prepared statement leases the batch: the due rows are picked and locked
    /// (`FOR UPDATE SKIP LOCKED`: rows another claimer is taking right now are
    /// passed over, not waited for), and [`Claim::plan`] is done in SQL — those whose
    /// attempts ran out go dead, the others are leased with one attempt more and
    /// due again after the backoff, jitter included.
    fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Record>, StoreError> {
        let plan = ClaimPlan::of(claim);
        self.with(|connection| {
            let statement = connection.statement(plan.name, || claim_sql(plan.filter))?;
            let mut transaction = connection.client.transaction()?;
            // A lease lost to a crash could let two workers send at once: on disk first.
            transaction.batch_execute("SET LOCAL synchronous_commit = on")?;
            if plan.serialized() {
                transaction.batch_execute(CLAIM_LOCK)?;
            }
            let rows = transaction.query(&statement, &plan.params())?;
            // A row that does not read as a record is set aside (dead, with the reason),
            // and the others are sent.
            let mut records = Vec::with_capacity(rows.len());
            for row in &rows {
                match claimed_record(row) {
                    Ok(record) => records.push(record),
                    Err(why) => park(&mut transaction, row.get(0), &why, plan.now)?,
                }
            }
            transaction.commit()?;
            Ok(records)
        })
    }

    fn finish(&self, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.finish_many(owner, &[(id, finish.clone())], now)
    }

    /// One statement, whatever the number: the delivered rows deleted together,
    /// the failed ones updated together from arrays. Committed without waiting for
    /// the disk (the connection's `synchronous_commit = off`): a settle lost to a
    /// crash of the server leaves the record leased, due again when its lease
    /// lapses, and it is sent once more — as at-least-once allows.
    fn finish_many(&self, owner: &str, settled: &[(i64, Finish)], now: DateTime<Utc>) -> Result<(), StoreError> {
        let settle = Settle::of(owner, settled, now);
        self.with(|connection| {
            let statement = connection.statement("settle", || SETTLE.to_owned())?;
            connection.client.execute(&statement, &settle.params())?;
            Ok(())
        })
    }

    /// In one transaction: the hosts' rows made if missing, locked in the order of
    /// their names (two workers reporting at once wait for each other, never
    /// deadlock), brought up to date by [`HostState::apply`], written back.
    fn report_hosts(
        &self,
        reports: &[HostReport],
        policy: &BreakerPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if reports.is_empty() {
            return Ok(());
        }
        let mut names: Vec<&str> = reports.iter().map(|report| report.host.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        self.with(|connection| {
            let mut transaction = connection.client.transaction()?;
            transaction.execute(
                "INSERT INTO courier_hosts (host) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT (host) DO NOTHING",
                &[&names],
            )?;
            let rows = transaction.query(
                &format!("SELECT {HOST_COLUMNS} FROM courier_hosts WHERE host = ANY($1) ORDER BY host FOR UPDATE"),
                &[&names],
            )?;
            let mut states: HashMap<String, HostState> = rows
                .iter()
                .map(|row| host_state(row).map(|state| (state.host.clone(), state)))
                .collect::<Result<_, _>>()?;
            for report in reports {
                let state = states
                    .entry(report.host.clone())
                    .or_insert_with(|| HostState { host: report.host.clone(), ..HostState::default() });
                state.apply(report, policy, now);
            }
            let states: Vec<&HostState> = states.values().collect();
            let hosts: Vec<&str> = states.iter().map(|state| state.host.as_str()).collect();
            let failures: Vec<i32> =
                states.iter().map(|state| i32::try_from(state.failures).unwrap_or(i32::MAX)).collect();
            let breakers: Vec<&str> = states.iter().map(|state| state.breaker.as_str()).collect();
            let cooldowns: Vec<i64> =
                states.iter().map(|state| i64::try_from(state.cooldown.as_millis()).unwrap_or(i64::MAX)).collect();
            let probes: Vec<Option<i64>> =
                states.iter().map(|state| state.probe_at.map(|at| at.timestamp_millis())).collect();
            let pauses: Vec<Option<i64>> =
                states.iter().map(|state| state.paused_until.map(|at| at.timestamp_millis())).collect();
            transaction.execute(
                "UPDATE courier_hosts AS h SET failures = u.failures, breaker = u.breaker, cooldown_ms = u.cooldown,
                        probe_at = u.probe_at, paused_until = u.paused_until
                 FROM unnest($1::text[], $2::int[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[])
                     AS u(host, failures, breaker, cooldown, probe_at, paused_until)
                 WHERE h.host = u.host",
                &[&hosts, &failures, &breakers, &cooldowns, &probes, &pauses],
            )?;
            transaction.commit()?;
            Ok(())
        })
    }

    fn hosts(&self) -> Result<Vec<HostState>, StoreError> {
        self.with(|connection| {
            let rows =
                connection.client.query(&format!("SELECT {HOST_COLUMNS} FROM courier_hosts ORDER BY host"), &[])?;
            rows.iter().map(host_state).collect()
        })
    }

    fn remove(&self, id: i64) -> Result<bool, StoreError> {
        self.with(|connection| Ok(connection.client.execute("DELETE FROM courier_requests WHERE id = $1", &[&id])? > 0))
    }

    fn renew(&self, ids: &[i64], owner: &str, until: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        self.with(|connection| {
            let statement = connection.statement("renew", || RENEW.to_owned())?;
            let mut transaction = connection.client.transaction()?;
            transaction.batch_execute("SET LOCAL synchronous_commit = on")?;
            let rows = transaction.query(&statement, &[&until.timestamp_millis(), &ids, &owner])?;
            transaction.commit()?;
            Ok(rows.iter().map(|row| row.get(0)).collect())
        })
    }

    /// Waits on a connection of its own that `LISTEN`s for inserts; the timeout is
    /// the polling fallback (and catches records whose backoff ends). A connection
    /// that broke is opened again on the next call.
    fn wait_for_work(&self, timeout: Duration) -> Result<(), StoreError> {
        let mut listener = self.listener.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if listener.as_ref().is_none_or(Client::is_closed) {
            *listener = None;
            let mut client = self.connect()?;
            client.batch_execute(&format!("LISTEN {CHANNEL}")).map_err(|error| self.error(error.into()))?;
            *listener = Some(client);
        }
        let client = listener.as_mut().expect("the listener was just opened");
        let drained = {
            let mut notifications = client.notifications();
            let woken = notifications.timeout_iter(timeout).next();
            woken.and_then(|_| notifications.iter().count().map(drop))
        };
        if let Err(error) = drained {
            *listener = None;
            return Err(self.error(error.into()));
        }
        Ok(())
    }

    fn as_async(&self) -> Option<&dyn super::store::AsyncQueue> {
        Some(self)
    }
}

/// The transaction-scoped advisory lock a claim with caps per host holds while it
/// counts a host's records in flight and takes more (the claims of the fleet go
/// one at a time: each is one short statement).
pub(super) const CLAIM_LOCK: &str = "SELECT pg_advisory_xact_lock(7452092235318493222)";

/// A claim's statement and its parameters, the same on either face of the store.
pub(super) struct ClaimPlan<'a> {
    /// The prepared statement's name.
    pub(super) name: &'static str,
    /// Which rows it may take.
    pub(super) filter: &'static str,
    pub(super) now: i64,
    limit: i64,
    owner: &'a str,
    until: i64,
    max_attempts: Option<i32>,
    first: Option<f64>,
    longest: Option<f64>,
    id: Option<i64>,
    caps: Caps,
}

/// A due claim's caps per host, as the arrays of [`fair_pick`]: `--per-host`,
/// then each `[[destination]]` with a `concurrency` or a `rate`.
#[derive(Default)]
struct Caps {
    per_host: Option<i32>,
    names: Vec<String>,
    suffixes: Vec<bool>,
    ports: Vec<Option<i32>>,
    caps: Vec<Option<i32>>,
    rates: Vec<Option<i32>>,
    windows: Vec<Option<i64>>,
}

impl Caps {
    fn of(limits: Option<&Limits>) -> Caps {
        let Some(limits) = limits else { return Caps::default() };
        let mut caps =
            Caps { per_host: limits.per_host.map(|cap| i32::try_from(cap).unwrap_or(i32::MAX)), ..Caps::default() };
        let small = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        for limit in limits.destinations.iter().filter(|limit| limit.concurrency.is_some() || limit.rate.is_some()) {
            caps.names.push(limit.host.name.clone());
            caps.suffixes.push(limit.host.suffix);
            caps.ports.push(limit.host.port.map(i32::from));
            caps.caps.push(limit.concurrency.map(small));
            caps.rates.push(limit.rate.map(|rate| small(rate.count)));
            caps.windows.push(limit.rate.map(|rate| i64::try_from(rate.per.as_millis()).unwrap_or(i64::MAX)));
        }
        caps
    }

    /// Whether any host is capped: the claim then takes the fleet's claim lock.
    fn any(&self) -> bool {
        self.per_host.is_some() || !self.caps.is_empty()
    }
}

impl<'a> ClaimPlan<'a> {
    pub(super) fn of(claim: &Claim<'a>) -> ClaimPlan<'a> {
        let millis = |duration: Duration| duration.as_secs_f64() * 1000.0;
        let (name, filter, id) = match claim.selection {
            Selection::Due => ("claim_due", DUE, None),
            Selection::One(id) => ("claim_one", "id = $8", Some(id)),
        };
        ClaimPlan {
            name,
            filter,
            now: claim.now.timestamp_millis(),
            limit: i64::try_from(claim.limit).unwrap_or(i64::MAX),
            owner: claim.owner,
            until: claim.until.timestamp_millis(),
            max_attempts: claim.max_attempts.map(|max| i32::try_from(max).unwrap_or(i32::MAX)),
            first: claim.backoff.map(|backoff| millis(backoff.first)),
            longest: claim.backoff.map(|backoff| millis(backoff.max)),
            id,
            caps: Caps::of(claim.limits),
        }
    }

    /// Whether the claim must hold [`CLAIM_LOCK`] while it counts and takes: with
    /// caps per host, two claims counting at once would each see room for the
    /// same records in flight.
    pub(super) fn serialized(&self) -> bool {
        self.id.is_none() && self.caps.any()
    }

    /// The parameters of [`claim_sql`], in order.
    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> =
            vec![&self.now, &self.limit, &self.owner, &self.until, &self.max_attempts, &self.first, &self.longest];
        match &self.id {
            Some(id) => params.push(id),
            None => {
                let caps = &self.caps;
                params.extend([
                    &caps.per_host as &(dyn ToSql + Sync),
                    &caps.names,
                    &caps.suffixes,
                    &caps.ports,
                    &caps.caps,
                    &caps.rates,
                    &caps.windows,
                ]);
            }
        }
        params
    }
}

/// A batch of settled attempts as the arrays of [`SETTLE`].
pub(super) struct Settle<'a> {
    delivered: Vec<i64>,
    ids: Vec<i64>,
    states: Vec<&'static str>,
    errors: Vec<&'a str>,
    times: Vec<i64>,
    now: i64,
    owner: &'a str,
}

impl<'a> Settle<'a> {
    pub(super) fn of(owner: &'a str, settled: &'a [(i64, Finish)], now: DateTime<Utc>) -> Settle<'a> {
        let mut settle = Settle {
            delivered: Vec::new(),
            ids: Vec::new(),
            states: Vec::new(),
            errors: Vec::new(),
            times: Vec::new(),
            now: now.timestamp_millis(),
            owner,
        };
        for (id, finish) in settled {
            match finish {
                Finish::Delivered => settle.delivered.push(*id),
                Finish::Failed { state, error, next_attempt_at } => {
                    settle.ids.push(*id);
                    settle.states.push(state.as_str());
                    settle.errors.push(error);
                    settle.times.push(next_attempt_at.timestamp_millis());
                }
            }
        }
        settle
    }

    /// The parameters of [`SETTLE`], in order.
    pub(super) fn params(&self) -> [&(dyn ToSql + Sync); 7] {
        [&self.delivered, &self.ids, &self.states, &self.errors, &self.times, &self.now, &self.owner]
    }
}

/// The filter of a worker's claim: pending records that are due. [`claim_sql`]
/// given it takes them in the fair order (see [`fair_pick`]).
const DUE: &str = "state = 'pending' AND next_attempt_at <= $1";

/// The claim of records that pass `filter`: see [`PostgresStore::claim`] for its
/// parameters. The backoff follows [`super::store::Backoff::after`]: the first
/// wait doubled for each attempt before this one, at most the longest (and a
/// century), less a random half. The records come back in the order they were
/// picked in: for [`DUE`], the fair order.
pub(super) fn claim_sql(filter: &str) -> String {
    let returned: Vec<String> = COLUMNS.split(", ").map(|column| format!("r.{}", column.trim())).collect();
    let returned = returned.join(", ");
    let pick = if filter == DUE { fair_pick() } else { plain_pick(filter) };
    // The claimer's share of each capped host it took records of (`Lease::sendable`).
    let sendable = if filter == DUE {
        "(SELECT room.sendable FROM room WHERE room.host = claimed.claimed_host)"
    } else {
        "NULL::bigint"
    };
    // A claim of due records notes the sends of rated hosts, and forgets those
    // older than the longest window (a minute) whose records are not leased.
    let starts = if filter == DUE {
        ", started AS (
            INSERT INTO courier_host_starts (id, host, at)
            SELECT c.id, c.claimed_host, $1 FROM claimed AS c JOIN room ON room.host = c.claimed_host WHERE room.rated
            ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, at = EXCLUDED.at
        ), pruned AS (
            DELETE FROM courier_host_starts AS s WHERE s.at < $1 - 60000 AND s.id NOT IN (SELECT id FROM due)
                AND NOT EXISTS (SELECT 1 FROM courier_requests AS r
                    WHERE r.id = s.id AND r.lease_owner IS NOT NULL AND r.lease_expires_at > $1)
        )"
    } else {
        ""
    };
    format!(
        "WITH RECURSIVE {pick}, dead AS (
            UPDATE courier_requests AS r SET state = 'dead', updated_at = $1, lease_owner = NULL,
                lease_expires_at = NULL,
                last_error = 'its ' || due.attempts || ' attempts ran out (max ' || $5::int
                    || ') and the last has no outcome: its worker stopped while sending it'
            FROM due WHERE r.id = due.id AND due.attempts >= $5::int
        ), claimed AS (
            UPDATE courier_requests AS r SET lease_owner = $3, lease_expires_at = $4,
                attempts = LEAST(due.attempts::bigint + 1, 2147483647)::int, updated_at = $1,
                next_attempt_at = CASE WHEN $6::float8 IS NULL THEN r.next_attempt_at
                    ELSE $1 + (wait.ms / 2 + wait.ms * random() / 2)::bigint END
            FROM due, LATERAL (
                SELECT LEAST($6::float8 * power(2, LEAST(due.attempts, 30)), $7::float8, 3155760000000::float8) AS ms
            ) AS wait
            WHERE r.id = due.id AND ($5::int IS NULL OR due.attempts < $5::int)
            RETURNING {returned}, due.position, r.host AS claimed_host
        ){starts}
        SELECT {COLUMNS}, {sendable} FROM claimed ORDER BY position"
    )
}

/// `due`: the records that pass `filter`, the earliest due first, locked.
fn plain_pick(filter: &str) -> String {
    format!(
        "due AS (
            SELECT id, attempts, next_attempt_at,
                row_number() OVER (ORDER BY next_attempt_at, id) AS position
            FROM (
                SELECT id, attempts, next_attempt_at FROM courier_requests
                WHERE {filter} AND (lease_owner IS NULL OR lease_expires_at <= $1)
                ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
            ) AS locked
        )"
    )
}

/// `due` for a worker's claim, in the order of `destinations::fair_order` (tenants
/// take turns, and a tenant's hosts): the (tenant, host) groups with pending
/// records are found one at a time along the `courier_requests_fair` index (a
/// loose index scan, at most 4096 groups), up to `$2` due records of each that no
/// other claimer is taking (`FOR UPDATE SKIP LOCKED` per group: claimers at work
/// together take different records, not the same first ones), ranked with window
/// functions, and the first `$2` of them claimed (the others' locks end with the
/// claim's short transaction). A host whose breaker is open or
/// that is paused (`courier_hosts`) is left out; one whose breaker's cooldown has
/// passed gives one record, its probe, and is marked half-open until this claim's
/// lease lapses (`$4`) — by one claimer only: the row's lock decides who.
/// A capped host (`$8`, `--per-host`; `$9`–`$12`, the limits file's
/// destinations with a `concurrency`: name, whether a suffix, port, cap; the
/// smallest cap that matches wins) gives at most its cap less its records leased
/// now — sent, or buffered by a worker — in its turns' order; the claim holds
/// [`CLAIM_LOCK`] meanwhile, so that claims count one after another.
fn fair_pick() -> String {
    "groups (tenant, host) AS (
            (SELECT coalesce(tenant, ''), host FROM courier_requests WHERE state = 'pending'
             ORDER BY coalesce(tenant, ''), host LIMIT 1)
            UNION ALL
            SELECT later.tenant, later.host FROM groups AS g, LATERAL (
                SELECT coalesce(n.tenant, '') AS tenant, n.host FROM courier_requests AS n
                WHERE n.state = 'pending' AND (coalesce(n.tenant, ''), n.host) > (g.tenant, g.host)
                ORDER BY coalesce(n.tenant, ''), n.host LIMIT 1
            ) AS later
        ), probing AS (
            UPDATE courier_hosts SET breaker = 'half-open', probe_at = $4
            WHERE breaker <> 'closed' AND coalesce(probe_at, 0) <= $1 AND coalesce(paused_until, 0) <= $1
            RETURNING host
        ), shut AS (
            SELECT host FROM courier_hosts WHERE breaker <> 'closed' OR coalesce(paused_until, 0) > $1
        ), candidates AS (
            SELECT c.id, g.tenant, g.host, c.next_attempt_at,
                row_number() OVER (PARTITION BY g.tenant, g.host ORDER BY c.next_attempt_at, c.id) AS host_turn,
                min(c.next_attempt_at) OVER (PARTITION BY g.tenant, g.host) AS host_head,
                min(c.next_attempt_at) OVER (PARTITION BY g.tenant) AS tenant_head,
                g.host IN (SELECT host FROM probing) AS probe
            FROM (SELECT tenant, host FROM groups LIMIT 4096) AS g
            CROSS JOIN LATERAL (
                SELECT id, next_attempt_at FROM courier_requests
                WHERE state = 'pending' AND coalesce(tenant, '') = g.tenant AND host = g.host
                    AND next_attempt_at <= $1 AND (lease_owner IS NULL OR lease_expires_at <= $1)
                ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
            ) AS c
            WHERE g.host NOT IN (SELECT host FROM shut) OR g.host IN (SELECT host FROM probing)
        ), hosts AS (
            SELECT DISTINCT host, regexp_replace(host, ':[0-9]+$', '') AS name,
                substring(host from ':([0-9]+)$') AS port
            FROM candidates
        ), limits AS (
            SELECT h.host, l.cap, l.rate, l.window_ms
            FROM hosts AS h, unnest($9::text[], $10::bool[], $11::int[], $12::int[], $13::int[], $14::bigint[])
                AS l(name, suffix, port, cap, rate, window_ms)
            WHERE CASE WHEN l.suffix THEN length(h.name) > length(l.name) AND right(h.name, length(l.name)) = l.name
                    ELSE h.name = l.name END
                AND (l.port IS NULL OR h.port = l.port::text)
        ), held AS (
            SELECT h.host, LEAST($8::int, (SELECT min(l.cap) FROM limits AS l WHERE l.host = h.host)) AS cap,
                count(r.id) FILTER (WHERE r.lease_owner <> $3) AS others,
                count(r.id) FILTER (WHERE r.lease_owner = $3) AS mine
            FROM hosts AS h LEFT JOIN courier_requests AS r
                ON r.host = h.host AND r.lease_owner IS NOT NULL AND r.lease_expires_at > $1
            GROUP BY h.host
        ), shares AS (
            -- GREATEST skips a NULL: an uncapped host's share stays NULL by CASE.
            SELECT host, mine, CASE WHEN cap IS NULL THEN NULL ELSE GREATEST(cap - others, 0) END AS sendable
            FROM held
        ), room AS (
            SELECT h.host, held.sendable, LEAST(
                held.sendable * HOLD_AHEAD - held.mine,
                (SELECT min(l.rate - (
                    SELECT count(*) FROM courier_host_starts AS s
                    WHERE s.host = h.host AND (s.at > $1 - l.window_ms OR EXISTS (
                        SELECT 1 FROM courier_requests AS r
                        WHERE r.id = s.id AND r.lease_owner IS NOT NULL AND r.lease_expires_at > $1))
                 )) FROM limits AS l WHERE l.host = h.host AND l.rate IS NOT NULL)
            ) AS room,
            EXISTS (SELECT 1 FROM limits AS l WHERE l.host = h.host AND l.rate IS NOT NULL) AS rated
            FROM hosts AS h JOIN shares AS held ON held.host = h.host
        ), ranked AS (
            SELECT id, tenant, tenant_head, probe, host,
                row_number() OVER (PARTITION BY tenant ORDER BY host_turn, host_head, host) AS tenant_turn
            FROM candidates
        ), ordered AS (
            SELECT id, row_number() OVER (ORDER BY tenant_turn, tenant_head, tenant) AS position,
                row_number() OVER (PARTITION BY host, probe ORDER BY tenant_turn, tenant_head, tenant) AS nth,
                row_number() OVER (PARTITION BY host ORDER BY tenant_turn, tenant_head, tenant) AS host_nth, host
            FROM ranked
        ), due AS (
            SELECT r.id, r.attempts, r.next_attempt_at, o.position
            FROM courier_requests AS r JOIN ordered AS o ON o.id = r.id JOIN room ON room.host = o.host
            WHERE r.state = 'pending' AND r.next_attempt_at <= $1
                AND (r.lease_owner IS NULL OR r.lease_expires_at <= $1)
                AND (o.nth = 1 OR r.host NOT IN (SELECT host FROM probing))
                AND (room.room IS NULL OR o.host_nth <= room.room)
            ORDER BY o.position LIMIT $2
            FOR UPDATE OF r SKIP LOCKED
        )"
    .replace("HOLD_AHEAD", &HOLD_AHEAD.to_string())
}

/// Records as columns, for an insert that unnests arrays.
#[derive(Default)]
struct Columns<'a> {
    states: Vec<&'static str>,
    methods: Vec<&'static str>,
    urls: Vec<&'a str>,
    headers: Vec<String>,
    bodies: Vec<Option<&'a [u8]>>,
    timeouts: [Vec<i64>; 3],
    keys: Vec<&'a str>,
    spec_names: Vec<Option<&'a str>>,
    spec_sha256s: Vec<Option<&'a str>>,
    credentials: Vec<Option<String>>,
    attempts: Vec<i32>,
    last_errors: Vec<Option<&'a str>>,
    tenants: Vec<Option<&'a str>>,
    trace_contexts: Vec<Option<String>>,
    hosts: Vec<String>,
}

impl<'a> Columns<'a> {
    fn of(records: &'a [NewRecord]) -> Columns<'a> {
        let millis = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        let mut columns = Columns::default();
        for new in records {
            let (saved, request) = (&new.saved, &new.saved.request);
            columns.states.push(new.state.as_str());
            columns.methods.push(request.method.as_str());
            columns.urls.push(&request.url);
            columns.headers.push(serde_json::to_string(&request.headers).expect("headers serialize"));
            columns.bodies.push(request.body.as_deref());
            columns.timeouts[0].push(millis(request.timeouts.total));
            columns.timeouts[1].push(millis(request.timeouts.connect));
            columns.timeouts[2].push(millis(request.timeouts.read));
            columns.keys.push(&saved.idempotency_key);
            columns.spec_names.push(saved.spec_name.as_deref());
            columns.spec_sha256s.push(saved.spec_sha256.as_deref());
            columns.credentials.push(
                saved
                    .credentials
                    .as_ref()
                    .map(|credentials| serde_json::to_string(credentials).expect("credentials serialize")),
            );
            columns.attempts.push(i32::try_from(new.attempts).unwrap_or(i32::MAX));
            columns.last_errors.push(new.last_error.as_deref());
            columns.tenants.push(new.tenant.as_deref());
            columns.trace_contexts.push(new.trace_context.map(|trace| trace.header()));
            columns.hosts.push(host_of(&request.url));
        }
        columns
    }
}

fn time(millis: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(millis).ok_or_else(|| format!("{millis} is not a time"))
}

/// The columns a [`HostState`] is read from, in the order [`host_state`] reads them.
const HOST_COLUMNS: &str = "host, failures, breaker, cooldown_ms, probe_at, paused_until";

/// Reads a host's state from a row of [`HOST_COLUMNS`].
fn host_state(row: &Row) -> Result<HostState, Failed> {
    let failures: i32 = row.try_get(1)?;
    let breaker: String = row.try_get(2)?;
    let cooldown: i64 = row.try_get(3)?;
    let at = |index: usize| -> Result<Option<DateTime<Utc>>, Failed> {
        row.try_get::<_, Option<i64>>(index)?.map(|at| time(at).map_err(Failed::Data)).transpose()
    };
    Ok(HostState {
        host: row.try_get(0)?,
        failures: u32::try_from(failures).unwrap_or(0),
        breaker: Breaker::parse(&breaker),
        cooldown: Duration::from_millis(u64::try_from(cooldown).unwrap_or(0)),
        probe_at: at(4)?,
        paused_until: at(5)?,
    })
}

/// A record a claim returned, with its claimer's share of its host (the column
/// after [`COLUMNS`], the row's last).
pub(super) fn claimed_record(row: &Row) -> Result<Record, String> {
    let mut record = record(row)?;
    let sendable: Option<i64> = row.try_get(row.len() - 1).map_err(|error| error.to_string())?;
    if let Some(lease) = &mut record.lease {
        lease.sendable = sendable.map(|sendable| u32::try_from(sendable.max(0)).unwrap_or(u32::MAX));
    }
    Ok(record)
}

/// Reads a record from a row of [`COLUMNS`].
pub(super) fn record(row: &Row) -> Result<Record, String> {
    let read = |error: postgres::Error| error.to_string();
    let state: String = row.try_get(1).map_err(read)?;
    let method: String = row.try_get(2).map_err(read)?;
    let headers: String = row.try_get(4).map_err(read)?;
    let credentials: Option<String> = row.try_get(12).map_err(read)?;
    let duration = |index: usize| -> Result<Duration, String> {
        Ok(Duration::from_millis(u64::try_from(row.try_get::<_, i64>(index).map_err(read)?).unwrap_or(0)))
    };
    let lease_owner: Option<String> = row.try_get(18).map_err(read)?;
    let lease_expires_at: Option<i64> = row.try_get(19).map_err(read)?;
    let attempts: i32 = row.try_get(13).map_err(read)?;
    Ok(Record {
        id: row.try_get(0).map_err(read)?,
        state: State::parse(&state).ok_or_else(|| format!("{state:?} is not a state"))?,
        saved: Saved {
            request: Prepared {
                method: [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete]
                    .into_iter()
                    .find(|known| known.as_str() == method)
                    .ok_or_else(|| format!("{method:?} is not a method"))?,
                url: row.try_get(3).map_err(read)?,
                headers: serde_json::from_str(&headers).map_err(|error| format!("headers: {error}"))?,
                body: row.try_get(5).map_err(read)?,
                timeouts: Timeouts { total: duration(6)?, connect: duration(7)?, read: duration(8)? },
            },
            idempotency_key: row.try_get(9).map_err(read)?,
            spec_name: row.try_get(10).map_err(read)?,
            spec_sha256: row.try_get(11).map_err(read)?,
            credentials: credentials
                .map(|text| serde_json::from_str::<KeptCredentials>(&text))
                .transpose()
                .map_err(|error| format!("credentials: {error}"))?,
        },
        attempts: u32::try_from(attempts).unwrap_or(0),
        last_error: row.try_get(14).map_err(read)?,
        created_at: time(row.try_get(15).map_err(read)?)?,
        updated_at: time(row.try_get(16).map_err(read)?)?,
        next_attempt_at: time(row.try_get(17).map_err(read)?)?,
        lease: match (lease_owner, lease_expires_at) {
            (Some(owner), Some(expires_at)) => Some(Lease { owner, expires_at: time(expires_at)?, sendable: None }),
            _ => None,
        },
        tenant: row.try_get(20).map_err(read)?,
        // A value that is not a traceparent (written by hand) starts a new trace.
        trace_context: row.try_get::<_, Option<String>>(21).map_err(read)?.as_deref().and_then(TraceParent::parse),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_parsed_without_connecting_and_its_password_is_never_quoted() {
        let store = PostgresStore::new("postgres://courier:hunter2@127.0.0.1:1/queue").unwrap();
        assert_eq!(store.location(), "postgres://courier:***@127.0.0.1:1/queue");
        let error = store.list().unwrap_err();
        assert!(error.0.starts_with("the replay store postgres://courier:***@127.0.0.1:1/queue"), "{error}");
        assert!(!error.0.contains("hunter2"), "{error}");
        let error = PostgresStore::new("postgresql://courier:hunter2@127.0.0.1:1/queue?sslmode=nonsense").unwrap_err();
        assert!(error.0.contains("not a PostgreSQL address") && !error.0.contains("hunter2"), "{error}");
        // libpq's own option, which the docs point to, and its keyword/value form.
        let store = PostgresStore::new("postgres://courier@127.0.0.1:1/queue?password=hunter2").unwrap();
        let error = store.list().unwrap_err();
        assert!(error.0.contains("?password=***") && !error.0.contains("hunter2"), "{error}");
        assert!(!format!("{store:?}").contains("hunter2"));
    }

    #[test]
    fn the_scheme_is_matched_in_any_case() {
        for url in ["POSTGRES://courier@127.0.0.1:1/queue", "PostgreSQL://courier@127.0.0.1:1/queue"] {
            let store = PostgresStore::new(url).unwrap();
            assert!(store.location().starts_with("postgres"), "{}", store.location());
            // Parsed: connecting fails on the closed port, not on the address.
            let error = store.list().unwrap_err();
            assert!(!error.0.contains("not a PostgreSQL address"), "{error}");
        }
    }
}
