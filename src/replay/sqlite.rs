//! The default store: one SQLite file, in WAL mode, with a versioned schema.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, Row, TransactionBehavior, params};

use super::store::{
    Claim, Finish, KeptCredentials, Lease, NewRecord, Record, ReplayStore, Saved, Selection, State, StoreError,
};
use crate::request::{Method, Prepared, Timeouts};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, one migration per version: `PRAGMA user_version` is the number of
/// migrations applied. A migration is never edited once released; a change is a new one.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL CHECK (state IN ('pending', 'failed', 'dead')),
    method TEXT NOT NULL,
    url TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB,
    timeout_ms INTEGER NOT NULL,
    connect_timeout_ms INTEGER NOT NULL,
    read_timeout_ms INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    spec_name TEXT,
    spec_sha256 TEXT,
    credentials TEXT,
    attempts INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at INTEGER
) STRICT;
CREATE INDEX requests_due ON requests (state, next_attempt_at);
"#];

/// The columns a [`Record`] is read from, in the order [`record`] reads them.
const COLUMNS: &str = "id, state, method, url, headers, body, timeout_ms, connect_timeout_ms, read_timeout_ms, \
    idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error, created_at, updated_at, \
    next_attempt_at, lease_owner, lease_expires_at";

/// A [`ReplayStore`] in one SQLite file. The file is opened (created, migrated) on
/// first use, so that a store that is never needed leaves no file behind.
///
/// One connection serves a `SqliteStore`; processes and stores sharing a file
/// coordinate through SQLite's locks (WAL mode: readers never wait, one writer at a
/// time, others wait up to 10 s).
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    connection: Mutex<Option<Connection>>,
}

impl SqliteStore {
    /// A store in the file at `path`, opened when first used.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteStore {
            path: path.into(),
            connection: Mutex::new(None),
        }
    }

    /// A store in the file at `path`, opened (created and migrated) now.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = SqliteStore::new(path);
        store.with(|_| Ok(()))?;
        Ok(store)
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let failed = |error: String| StoreError(format!("the replay store {}: {error}", self.path.display()));
        let mut connection = self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if connection.is_none() {
            *connection = Some(connect(&self.path).map_err(failed)?);
        }
        work(connection.as_mut().expect("the connection was just opened")).map_err(|error| failed(error.to_string()))
    }
}

/// Opens the file: owner-only permissions for a new one (it holds customers'
/// requests), WAL mode, the busy timeout, and the schema brought up to date.
fn connect(path: &Path) -> Result<Connection, String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // SQLite gives the -wal and -shm files the permissions of the database file.
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(path);
    }
    let sql = |error: rusqlite::Error| error.to_string();
    let mut connection = Connection::open(path).map_err(sql)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    let mode: String = connection
        .pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))
        .map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the journal mode is {mode}, not WAL"));
    }
    // NORMAL: in WAL mode a commit survives a crash of the process, not of the
    // machine; `insert` switches to FULL for the commits that must survive both.
    connection.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
    migrate(&mut connection)?;
    Ok(connection)
}

/// Applies the migrations the file has not had, in one transaction.
fn migrate(connection: &mut Connection) -> Result<(), String> {
    let sql = |error: rusqlite::Error| error.to_string();
    let transaction = connection
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql)?;
    let version: i64 = transaction
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sql)?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(format!(
            "its schema version {version} was written by a newer courier (this one knows {})",
            MIGRATIONS.len()
        ));
    }
    for (applied, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        transaction.execute_batch(migration).map_err(sql)?;
        transaction
            .pragma_update(None, "user_version", applied as i64 + 1)
            .map_err(sql)?;
    }
    transaction.commit().map_err(sql)
}

impl ReplayStore for SqliteStore {
    fn insert(&self, records: &[NewRecord]) -> Result<Vec<i64>, StoreError> {
        self.with(|connection| {
            // FULL: the commit reaches the disk before `insert` returns, so that a
            // queued request survives even a power cut once the caller is told so.
            connection.pragma_update(None, "synchronous", "FULL")?;
            let inserted = insert(connection, records);
            connection.pragma_update(None, "synchronous", "NORMAL")?;
            inserted
        })
    }

    fn list(&self) -> Result<Vec<Record>, StoreError> {
        self.with(|connection| {
            let mut statement = connection.prepare(&format!("SELECT {COLUMNS} FROM requests ORDER BY id"))?;
            statement.query_map([], record)?.collect()
        })
    }

    fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Record>, StoreError> {
        self.with(|connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (filter, id) = match claim.selection {
                Selection::Due => ("state = 'pending' AND next_attempt_at <= ?3", None),
                Selection::One(id) => ("id = ?5", Some(id)),
            };
            let sql = format!(
                "UPDATE requests SET lease_owner = ?1, lease_expires_at = ?2, attempts = attempts + 1, updated_at = ?3
                 WHERE id IN (SELECT id FROM requests
                              WHERE {filter} AND (lease_owner IS NULL OR lease_expires_at <= ?3)
                              ORDER BY next_attempt_at, id LIMIT ?4)
                 RETURNING {COLUMNS}"
            );
            let limit = i64::try_from(claim.limit).unwrap_or(i64::MAX);
            let (owner, until, now) = (claim.owner, millis(claim.until), millis(claim.now));
            let mut records = {
                let mut statement = transaction.prepare(&sql)?;
                let rows = match id {
                    Some(id) => statement.query_map(params![owner, until, now, limit, id], record)?,
                    None => statement.query_map(params![owner, until, now, limit], record)?,
                };
                rows.collect::<rusqlite::Result<Vec<Record>>>()?
            };
            transaction.commit()?;
            records.sort_by_key(|record| (record.next_attempt_at, record.id));
            Ok(records)
        })
    }

    fn finish(&self, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|connection| {
            match finish {
                Finish::Delivered => connection.execute("DELETE FROM requests WHERE id = ?1", [id])?,
                Finish::Failed {
                    state,
                    error,
                    next_attempt_at,
                } => connection.execute(
                    "UPDATE requests SET state = ?1, last_error = ?2, next_attempt_at = ?3, updated_at = ?4,
                            lease_owner = NULL, lease_expires_at = NULL
                     WHERE id = ?5 AND lease_owner = ?6",
                    params![state.as_str(), error, millis(*next_attempt_at), millis(now), id, owner],
                )?,
            };
            Ok(())
        })
    }

    fn remove(&self, id: i64) -> Result<bool, StoreError> {
        self.with(|connection| Ok(connection.execute("DELETE FROM requests WHERE id = ?1", [id])? > 0))
    }
}

fn insert(connection: &mut Connection, records: &[NewRecord]) -> rusqlite::Result<Vec<i64>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut ids = Vec::with_capacity(records.len());
    {
        let mut statement = transaction.prepare(
            "INSERT INTO requests (state, method, url, headers, body, timeout_ms, connect_timeout_ms,
                 read_timeout_ms, idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error,
                 created_at, updated_at, next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?15)",
        )?;
        let now = millis(Utc::now());
        for new in records {
            let saved = &new.saved;
            let request = &saved.request;
            let headers = serde_json::to_string(&request.headers).expect("headers serialize");
            let credentials = saved
                .credentials
                .as_ref()
                .map(|credentials| serde_json::to_string(credentials).expect("credentials serialize"));
            let duration = |duration: Duration| i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
            statement.execute(params![
                new.state.as_str(),
                request.method.as_str(),
                request.url,
                headers,
                request.body,
                duration(request.timeouts.total),
                duration(request.timeouts.connect),
                duration(request.timeouts.read),
                saved.idempotency_key,
                saved.spec_name,
                saved.spec_sha256,
                credentials,
                new.attempts,
                new.last_error,
                now,
            ])?;
            ids.push(transaction.last_insert_rowid());
        }
    }
    transaction.commit()?;
    Ok(ids)
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn time(index: usize, millis: i64) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::from_timestamp_millis(millis).ok_or_else(|| bad(index, format!("{millis} is not a time")))
}

fn bad(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, message.into())
}

/// Reads a record from a row of [`COLUMNS`].
fn record(row: &Row<'_>) -> rusqlite::Result<Record> {
    let state: String = row.get(1)?;
    let method: String = row.get(2)?;
    let headers: String = row.get(4)?;
    let credentials: Option<String> = row.get(12)?;
    let duration = |index: usize| -> rusqlite::Result<Duration> {
        Ok(Duration::from_millis(
            u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0),
        ))
    };
    let lease_owner: Option<String> = row.get(18)?;
    let lease_expires_at: Option<i64> = row.get(19)?;
    Ok(Record {
        id: row.get(0)?,
        state: State::parse(&state).ok_or_else(|| bad(1, format!("{state:?} is not a state")))?,
        saved: Saved {
            request: Prepared {
                method: [Method::Get, Method::Post, Method::Put, Method::Patch, Method::Delete]
                    .into_iter()
                    .find(|known| known.as_str() == method)
                    .ok_or_else(|| bad(2, format!("{method:?} is not a method")))?,
                url: row.get(3)?,
                headers: serde_json::from_str(&headers).map_err(|error| bad(4, error.to_string()))?,
                body: row.get(5)?,
                timeouts: Timeouts {
                    total: duration(6)?,
                    connect: duration(7)?,
                    read: duration(8)?,
                },
            },
            idempotency_key: row.get(9)?,
            spec_name: row.get(10)?,
            spec_sha256: row.get(11)?,
            credentials: credentials
                .map(|text| serde_json::from_str::<KeptCredentials>(&text))
                .transpose()
                .map_err(|error| bad(12, error.to_string()))?,
        },
        attempts: row.get(13)?,
        last_error: row.get(14)?,
        created_at: time(15, row.get(15)?)?,
        updated_at: time(16, row.get(16)?)?,
        next_attempt_at: time(17, row.get(17)?)?,
        lease: match (lease_owner, lease_expires_at) {
            (Some(owner), Some(expires_at)) => Some(Lease {
                owner,
                expires_at: time(19, expires_at)?,
            }),
            _ => None,
        },
    })
}
