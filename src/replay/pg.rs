//! The shared store: PostgreSQL, for many workers on many machines. Claims are
//! leases taken with `FOR UPDATE SKIP LOCKED`; inserts `NOTIFY` idle workers, which
//! `LISTEN` (and poll as well); the schema is versioned and migrated under an
//! advisory lock, so that processes starting together do not race.
//!
//! The client is the `postgres` crate, the blocking face of `tokio-postgres`: the
//! [`ReplayStore`] trait is synchronous and called from `spawn_blocking`, so a
//! blocking client needs no runtime of courier's (each connection drives itself).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, Config, NoTls, Row};

use super::address::without_password;
use super::store::{
    Claim, Finish, KeptCredentials, Lease, NewRecord, Planned, Record, ReplayStore, Saved, Selection, State,
    StoreError, Unreadable,
};
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
const MIGRATIONS: &[&str] = &[r#"
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
"#];

/// The columns a [`Record`] is read from, in the order [`record`] reads them.
const COLUMNS: &str = "id, state, method, url, headers, body, timeout_ms, connect_timeout_ms, read_timeout_ms, \
    idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error, created_at, updated_at, \
    next_attempt_at, lease_owner, lease_expires_at";

/// A [`ReplayStore`] in a PostgreSQL database, shared by any number of processes.
/// Connections are opened when first needed (the schema created or migrated then),
/// a few kept for the next calls, and a broken one is replaced on the next call, so
/// a store outlives a restart of the server.
pub struct PostgresStore {
    config: Config,
    /// The address without its password, for messages.
    location: String,
    idle: Mutex<Vec<Client>>,
    listener: Mutex<Option<Client>>,
    migrated: AtomicBool,
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
        let mut clients = std::mem::take(self.idle.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()));
        clients.extend(self.listener.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner()).take());
        if clients.is_empty() {
            return;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::spawn(move || drop(clients));
        }
    }
}

/// Why a call failed: the database's error, or a row that does not read as a record.
enum Failed {
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
        let mut config: Config = with_lowercase_scheme(url)
            .parse()
            .map_err(|error| StoreError(format!("the replay store {location} is not a PostgreSQL address: {error}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("courier");
        }
        Ok(PostgresStore {
            config,
            location,
            idle: Mutex::new(Vec::new()),
            listener: Mutex::new(None),
            migrated: AtomicBool::new(false),
        })
    }

    /// A store at `url`, connected (the schema created or migrated) now.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let store = PostgresStore::new(url)?;
        store.with(|_| Ok(()))?;
        Ok(store)
    }

    /// The address, without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn error(&self, failed: Failed) -> StoreError {
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
    fn with<T>(&self, work: impl FnOnce(&mut Client) -> Result<T, Failed>) -> Result<T, StoreError> {
        let pooled = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        let mut client = match pooled {
            Some(client) if !client.is_closed() => client,
            _ => self.connect()?,
        };
        let result = work(&mut client);
        let mut idle = self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if client.is_closed() || matches!(&result, Err(Failed::Database(error)) if error.is_closed()) {
            idle.clear();
        } else if idle.len() < POOL {
            idle.push(client);
        }
        drop(idle);
        result.map_err(|error| self.error(error))
    }
}

/// Sets a record that does not read aside as dead, with the reason, so that the
/// queue goes on: one bad row stopped every claim before.
fn park(transaction: &mut postgres::Transaction<'_>, id: i64, why: &str, now: i64) -> Result<(), Failed> {
    transaction.execute(
        "UPDATE courier_requests SET state = 'dead', last_error = $1, updated_at = $2,
                lease_owner = NULL, lease_expires_at = NULL WHERE id = $3",
        &[&super::store::unreadable(why), &now, &id],
    )?;
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
    fn insert(&self, records: &[NewRecord]) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<Values> = records.iter().map(Values::of).collect();
        self.with(|client| {
            let mut transaction = client.transaction()?;
            // The commit waits for the WAL to reach the disk whatever the server's
            // default, so that a request reported queued survives a crash.
            transaction.batch_execute("SET LOCAL synchronous_commit = on")?;
            let statement = transaction.prepare(
                "INSERT INTO courier_requests (state, method, url, headers, body, timeout_ms, connect_timeout_ms,
                     read_timeout_ms, idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error,
                     created_at, updated_at, next_attempt_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $15, $15)
                 RETURNING id",
            )?;
            let now = Utc::now().timestamp_millis();
            let mut ids = Vec::with_capacity(rows.len());
            for (new, values) in records.iter().zip(&rows) {
                let saved = &new.saved;
                let row = transaction.query_one(
                    &statement,
                    &[
                        &new.state.as_str(),
                        &saved.request.method.as_str(),
                        &saved.request.url,
                        &values.headers,
                        &saved.request.body,
                        &values.timeouts[0],
                        &values.timeouts[1],
                        &values.timeouts[2],
                        &saved.idempotency_key,
                        &saved.spec_name,
                        &saved.spec_sha256,
                        &values.credentials,
                        &values.attempts,
                        &new.last_error,
                        &now,
                    ],
                )?;
                ids.push(row.get(0));
            }
            if records.iter().any(|record| record.state == State::Pending) {
                // Delivered to the listeners when (and only if) the transaction commits.
                transaction.execute("SELECT pg_notify($1, '')", &[&CHANNEL])?;
            }
            transaction.commit()?;
            Ok(ids)
        })
    }

    fn list(&self) -> Result<Vec<Record>, StoreError> {
        self.with(|client| {
            client
                .query(&format!("SELECT {COLUMNS} FROM courier_requests ORDER BY id"), &[])?
                .iter()
                .map(|row| record(row).map_err(Failed::Data))
                .collect()
        })
    }

    fn each(&self, visit: &mut dyn FnMut(Result<Record, Unreadable>)) -> Result<(), StoreError> {
        self.with(|client| {
            let sql = format!("SELECT {COLUMNS} FROM courier_requests ORDER BY id");
            let mut rows = client.query_raw(sql.as_str(), std::iter::empty::<i64>())?;
            while let Some(row) = rows.next()? {
                visit(record(&row).map_err(|why| Unreadable { id: row.get(0), why }));
            }
            Ok(())
        })
    }

    fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Record>, StoreError> {
        self.with(|client| {
            let mut transaction = client.transaction()?;
            // A lease lost to a crash could let two workers send at once: on disk first.
            transaction.batch_execute("SET LOCAL synchronous_commit = on")?;
            let now = claim.now.timestamp_millis();
            let limit = i64::try_from(claim.limit).unwrap_or(i64::MAX);
            // SKIP LOCKED: rows another claimer is taking right now are passed over,
            // not waited for, so workers never queue up behind one another.
            let free = "(lease_owner IS NULL OR lease_expires_at <= $1)";
            let order = "ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED";
            let candidates = match claim.selection {
                Selection::Due => transaction.query(
                    &format!(
                        "SELECT id, attempts, next_attempt_at FROM courier_requests
                         WHERE state = 'pending' AND next_attempt_at <= $1 AND {free} {order}"
                    ),
                    &[&now, &limit],
                )?,
                Selection::One(id) => transaction.query(
                    &format!(
                        "SELECT id, attempts, next_attempt_at FROM courier_requests WHERE id = $3 AND {free} {order}"
                    ),
                    &[&now, &limit, &id],
                )?,
            };
            let mut records = Vec::with_capacity(candidates.len());
            for candidate in candidates {
                let id: i64 = candidate.get(0);
                let attempts = u32::try_from(candidate.get::<_, i32>(1)).unwrap_or(0);
                let next_attempt_at = match time(candidate.get(2)) {
                    Ok(due) => due,
                    Err(why) => {
                        park(&mut transaction, id, &why, now)?;
                        continue;
                    }
                };
                match claim.plan(attempts, next_attempt_at) {
                    Planned::Exhausted { error } => {
                        transaction.execute(
                            "UPDATE courier_requests SET state = 'dead', last_error = $1, updated_at = $2,
                                    lease_owner = NULL, lease_expires_at = NULL WHERE id = $3",
                            &[&error, &now, &id],
                        )?;
                    }
                    Planned::Send { attempts, next_attempt_at } => {
                        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
                        let row = transaction.query_one(
                            &format!(
                                "UPDATE courier_requests SET lease_owner = $1, lease_expires_at = $2, attempts = $3,
                                        updated_at = $4, next_attempt_at = $5
                                 WHERE id = $6 RETURNING {COLUMNS}"
                            ),
                            &[
                                &claim.owner,
                                &claim.until.timestamp_millis(),
                                &attempts,
                                &now,
                                &next_attempt_at.timestamp_millis(),
                                &id,
                            ],
                        )?;
                        match record(&row) {
                            Ok(record) => records.push(record),
                            Err(why) => park(&mut transaction, id, &why, now)?,
                        }
                    }
                }
            }
            transaction.commit()?;
            Ok(records)
        })
    }

    fn finish(&self, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|client| {
            match finish {
                Finish::Delivered => client.execute("DELETE FROM courier_requests WHERE id = $1", &[&id])?,
                Finish::Failed { state, error, next_attempt_at } => client.execute(
                    "UPDATE courier_requests SET state = $1, last_error = $2, next_attempt_at = $3, updated_at = $4,
                            lease_owner = NULL, lease_expires_at = NULL
                     WHERE id = $5 AND lease_owner = $6",
                    &[
                        &state.as_str(),
                        error,
                        &next_attempt_at.timestamp_millis(),
                        &now.timestamp_millis(),
                        &id,
                        &owner,
                    ],
                )?,
            };
            Ok(())
        })
    }

    fn remove(&self, id: i64) -> Result<bool, StoreError> {
        self.with(|client| Ok(client.execute("DELETE FROM courier_requests WHERE id = $1", &[&id])? > 0))
    }

    fn renew(&self, ids: &[i64], owner: &str, until: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        self.with(|client| {
            let mut transaction = client.transaction()?;
            transaction.batch_execute("SET LOCAL synchronous_commit = on")?;
            let rows = transaction.query(
                "UPDATE courier_requests SET lease_expires_at = $1 WHERE id = ANY($2) AND lease_owner = $3 RETURNING id",
                &[&until.timestamp_millis(), &ids, &owner],
            )?;
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
}

/// The parts of a record that are stored in another form than they are held.
struct Values {
    headers: String,
    credentials: Option<String>,
    timeouts: [i64; 3],
    attempts: i32,
}

impl Values {
    fn of(new: &NewRecord) -> Values {
        let request = &new.saved.request;
        let millis = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        Values {
            headers: serde_json::to_string(&request.headers).expect("headers serialize"),
            credentials: new
                .saved
                .credentials
                .as_ref()
                .map(|credentials| serde_json::to_string(credentials).expect("credentials serialize")),
            timeouts: [millis(request.timeouts.total), millis(request.timeouts.connect), millis(request.timeouts.read)],
            attempts: i32::try_from(new.attempts).unwrap_or(i32::MAX),
        }
    }
}

fn time(millis: i64) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(millis).ok_or_else(|| format!("{millis} is not a time"))
}

/// Reads a record from a row of [`COLUMNS`].
fn record(row: &Row) -> Result<Record, String> {
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
            (Some(owner), Some(expires_at)) => Some(Lease { owner, expires_at: time(expires_at)? }),
            _ => None,
        },
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
