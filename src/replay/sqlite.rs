//! The default store: one SQLite file, in WAL mode, with a versioned schema.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, TransactionBehavior, params};

use super::address::without_password;
use super::destinations::{Breaker, BreakerPolicy, Candidate, Gate, HostReport, HostState, fair_order, host_of};
use super::store::{
    Claim, Finish, HOLD_AHEAD, KeptCredentials, Lease, NewRecord, Planned, QueueCounts, Record, ReplayStore, Saved,
    Selection, State, StoreError, Unreadable,
};
use crate::request::trace::TraceParent;
use crate::request::{Method, Prepared, Timeouts};

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The schema, one migration per version: `PRAGMA user_version` is the number of
/// migrations applied. A migration is never edited once released; a change is a new one.
const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
-- Whose request it is, for the host (issue: fairness between tenants).
ALTER TABLE requests ADD COLUMN tenant TEXT;
-- The claim's order, over pending records only: a claim reads the first due
-- entries and stops, whatever the backlog, where (state, next_attempt_at) left
-- records queued together (one due time) to be sorted by id on every claim.
DROP INDEX requests_due;
CREATE INDEX requests_claim ON requests (next_attempt_at, id) WHERE state = 'pending';
"#,
    r#"
-- The enqueuer's W3C trace context (a traceparent value), so that the delivery's
-- spans join its trace (issue #23: traces).
ALTER TABLE requests ADD COLUMN trace_context TEXT;
"#,
    r#"
-- Issue #22 (fairness, breakers): each record's destination host (for records
-- saved before, read from the URL: after the scheme, up to the path, without a
-- user), an index that finds each tenant's hosts with pending records and their
-- earliest due, and the hosts' shared state: circuit breaker and Retry-After pause.
ALTER TABLE requests ADD COLUMN host TEXT NOT NULL DEFAULT '';
UPDATE requests SET host = lower(
    substr(authority, instr(authority, '@') + 1)
) FROM (
    SELECT id AS of, substr(rest, 1, instr(rest || '/', '/') - 1) AS authority
    FROM (SELECT id, substr(url, instr(url, '://') + 3) AS rest FROM requests)
) WHERE id = of;
CREATE INDEX requests_fair ON requests (coalesce(tenant, ''), host, next_attempt_at, id) WHERE state = 'pending';
CREATE TABLE hosts (
    host TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    breaker TEXT NOT NULL DEFAULT 'closed' CHECK (breaker IN ('closed', 'open', 'half-open')),
    cooldown_ms INTEGER NOT NULL DEFAULT 0,
    probe_at INTEGER,
    paused_until INTEGER
) STRICT;
"#,
    r#"
-- Issue #22 (limits): a claim counts each capped host's records leased now,
-- and each rated host's sends in its window (a record's row moves to its settle).
CREATE INDEX requests_leased ON requests (host, lease_expires_at) WHERE lease_owner IS NOT NULL;
CREATE TABLE host_starts (id INTEGER PRIMARY KEY, host TEXT NOT NULL, at INTEGER NOT NULL) STRICT;
CREATE INDEX host_starts_host ON host_starts (host, at);
"#,
    r#"
-- A send with a caller's Idempotency-Key, and `enqueue` of a spec with one, look
-- up the record that holds it rather than reading every record.
CREATE INDEX requests_key ON requests (idempotency_key, id);
"#,
];

/// The columns a [`Record`] is read from, in the order [`record`] reads them.
const COLUMNS: &str = "id, state, method, url, headers, body, timeout_ms, connect_timeout_ms, read_timeout_ms, \
    idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error, created_at, updated_at, \
    next_attempt_at, lease_owner, lease_expires_at, tenant, trace_context";

/// The most (tenant, host) groups one claim looks at: a claim's cost is bounded
/// whatever the number of tenants (the groups are taken in the index's order).
const MAX_GROUPS: usize = 4096;

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
        SqliteStore { path: path.into(), connection: Mutex::new(None) }
    }

    /// A store in the file at `path`, opened (created and migrated) now.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let store = SqliteStore::new(path);
        store.with(|_| Ok(()))?;
        Ok(store)
    }

    /// A store in the existing file at `path`, opened now for reading only: no file
    /// is created or migrated, and writes fail. A file the user may only read, in a
    /// folder where SQLite cannot make its `-shm` file, is read as immutable (no
    /// process can be writing it then: a writer would have made that file). Its
    /// schema must be the one this courier writes.
    pub fn open_read_only(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let failed = |error: String| {
            StoreError(format!("the replay store {}: {error}", without_password(&path.to_string_lossy())))
        };
        let connection = match read_only(&path, false) {
            Err(rusqlite::Error::SqliteFailure(error, _)) if error.code == rusqlite::ErrorCode::ReadOnly => {
                read_only(&path, true)
            }
            opened => opened,
        }
        .map_err(|error| failed(format!("the file is corrupted or not a SQLite database: {error}")))?;
        check_integrity(&connection).map_err(failed)?;
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(|error| failed(error.to_string()))?;
        if version != MIGRATIONS.len() as i64 {
            return Err(failed(format!(
                "its schema version is {version}, this courier reads {} (open it once for writing to migrate it)",
                MIGRATIONS.len()
            )));
        }
        Ok(SqliteStore { path, connection: Mutex::new(Some(connection)) })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, work: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let failed = |error: String| {
            StoreError(format!("the replay store {}: {error}", without_password(&self.path.to_string_lossy())))
        };
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
        let _ = std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(path);
    }
    let sql = |error: rusqlite::Error| error.to_string();
    let mut connection = Connection::open(path).map_err(sql)?;
    connection.busy_timeout(BUSY_TIMEOUT).map_err(sql)?;
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0)).map_err(sql)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the journal mode is {mode}, not WAL"));
    }
    // NORMAL: in WAL mode a commit survives a crash of the process, not of the
    // machine; `insert` switches to FULL for the commits that must survive both.
    connection.pragma_update(None, "synchronous", "NORMAL").map_err(sql)?;
    check_integrity(&connection)?;
    migrate(&mut connection)?;
    Ok(connection)
}

/// Opens `path` for reading (`immutable`: as a file nothing writes) and reads its
/// header, so that a file SQLite cannot read this way fails here.
fn read_only(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI;
    let connection = if immutable {
        let absolute = std::fs::canonicalize(path).map_err(|_| rusqlite::Error::InvalidPath(path.to_owned()))?;
        let uri = url::Url::from_file_path(&absolute).map_err(|()| rusqlite::Error::InvalidPath(path.to_owned()))?;
        Connection::open_with_flags(format!("{uri}?immutable=1"), flags)?
    } else {
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?
    };
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.query_row("PRAGMA user_version", [], |row| row.get::<_, i64>(0))?;
    Ok(connection)
}

/// Refuses a corrupted file: SQLite's `quick_check` (every page and record read,
/// linear in the file's size) must find nothing wrong, so that nothing is reported
/// queued into a file that cannot keep it.
fn check_integrity(connection: &Connection) -> Result<(), String> {
    let sql = |error: rusqlite::Error| format!("the file is corrupted or not a SQLite database: {error}");
    let mut statement = connection.prepare("PRAGMA quick_check(5)").map_err(sql)?;
    let problems: Vec<String> =
        statement.query_map([], |row| row.get(0)).map_err(sql)?.collect::<rusqlite::Result<_>>().map_err(sql)?;
    match problems.as_slice() {
        [ok] if ok == "ok" => Ok(()),
        problems => Err(format!("the file is corrupted: {}", problems.join("; "))),
    }
}

/// Applies the migrations the file has not had, in one transaction.
fn migrate(connection: &mut Connection) -> Result<(), String> {
    let sql = |error: rusqlite::Error| error.to_string();
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sql)?;
    let version: i64 = transaction.query_row("PRAGMA user_version", [], |row| row.get(0)).map_err(sql)?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(format!(
            "its schema version {version} was written by a newer courier (this one knows {})",
            MIGRATIONS.len()
        ));
    }
    for (applied, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        transaction.execute_batch(migration).map_err(sql)?;
        transaction.pragma_update(None, "user_version", applied as i64 + 1).map_err(sql)?;
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

    fn keyed(&self, keys: &[String]) -> Result<HashMap<String, (i64, State)>, StoreError> {
        self.with(|connection| {
            let mut statement = connection
                .prepare_cached("SELECT id, state FROM requests WHERE idempotency_key = ?1 ORDER BY id LIMIT 1")?;
            let mut found = HashMap::new();
            for key in keys {
                let row = statement
                    .query_row([key], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))
                    .optional()?;
                if let Some((id, state)) = row {
                    let state = State::parse(&state).ok_or_else(|| bad(1, format!("unknown state {state:?}")))?;
                    found.insert(key.clone(), (id, state));
                }
            }
            Ok(found)
        })
    }

    fn release(&self, ids: &[i64], owner: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut statement = transaction.prepare_cached(
                    "UPDATE requests SET lease_owner = NULL, lease_expires_at = NULL, attempts = MAX(attempts - 1, 0),
                            next_attempt_at = ?1, updated_at = ?1
                     WHERE id = ?2 AND lease_owner = ?3 AND state = 'pending'",
                )?;
                for id in ids {
                    statement.execute(params![millis(now), id, owner])?;
                }
            }
            transaction.commit()
        })
    }

    fn queue_counts(&self, now: DateTime<Utc>) -> Result<QueueCounts, StoreError> {
        self.with(|connection| {
            let sql = "SELECT COALESCE(SUM(next_attempt_at <= ?1), 0), COALESCE(SUM(next_attempt_at > ?1), 0)
                       FROM requests WHERE state = 'pending'";
            connection.query_row(sql, params![millis(now)], |row| {
                Ok(QueueCounts { due: row.get::<_, i64>(0)? as u64, waiting: row.get::<_, i64>(1)? as u64 })
            })
        })
    }

    fn each(&self, visit: &mut dyn FnMut(Result<Record, Unreadable>)) -> Result<(), StoreError> {
        self.with(|connection| {
            let mut statement = connection.prepare(&format!("SELECT {COLUMNS} FROM requests ORDER BY id"))?;
            let read = |row: &Row<'_>| {
                Ok(record(row)
                    .map_err(|error| Unreadable { id: row.get(0).unwrap_or_default(), why: error.to_string() }))
            };
            for read in statement.query_map([], read)? {
                visit(read?);
            }
            Ok(())
        })
    }

    fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Record>, StoreError> {
        self.with(|connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let candidates = match claim.selection {
                Selection::Due => due_fairly(&transaction, claim)?,
                Selection::One(id) => transaction
                    .prepare_cached(
                        "SELECT id, attempts, next_attempt_at FROM requests
                         WHERE id = ?2 AND (lease_owner IS NULL OR lease_expires_at <= ?1)",
                    )?
                    .query_map(params![millis(claim.now), id], |row| {
                        Ok(Due { id: row.get(0)?, attempts: row.get(1)?, next_attempt_at: row.get(2)?, sendable: None })
                    })?
                    .collect::<rusqlite::Result<Vec<Due>>>()?,
            };
            let mut records = Vec::with_capacity(candidates.len());
            for Due { id, attempts, next_attempt_at, sendable } in candidates {
                let due = match time(2, next_attempt_at) {
                    Ok(due) => due,
                    Err(error) => {
                        park(&transaction, id, &error, claim.now)?;
                        continue;
                    }
                };
                match claim.plan(attempts, due) {
                    Planned::Exhausted { error } => {
                        transaction
                            .prepare_cached(
                                "UPDATE requests SET state = 'dead', last_error = ?1, updated_at = ?2,
                                        lease_owner = NULL, lease_expires_at = NULL WHERE id = ?3",
                            )?
                            .execute(params![error, millis(claim.now), id])?;
                    }
                    Planned::Send { attempts, next_attempt_at } => {
                        let claimed = transaction
                            .prepare_cached(&format!(
                                "UPDATE requests SET lease_owner = ?1, lease_expires_at = ?2, attempts = ?3,
                                        updated_at = ?4, next_attempt_at = ?5
                                 WHERE id = ?6 RETURNING {COLUMNS}"
                            ))?
                            .query_row(
                                params![
                                    claim.owner,
                                    millis(claim.until),
                                    attempts,
                                    millis(claim.now),
                                    millis(next_attempt_at),
                                    id
                                ],
                                record,
                            );
                        match claimed {
                            Ok(mut record) => {
                                if let Some(lease) = &mut record.lease {
                                    lease.sendable = sendable;
                                }
                                records.push(record);
                            }
                            Err(error) if is_unreadable(&error) => park(&transaction, id, &error, claim.now)?,
                            Err(error) => return Err(error),
                        }
                    }
                }
            }
            transaction.commit()?;
            Ok(records)
        })
    }

    fn finish(&self, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|connection| settle(connection, id, owner, finish, now))
    }

    /// One transaction for the lot: one commit (one WAL append, no fsync at
    /// `synchronous = NORMAL`) instead of one per record.
    fn finish_many(&self, owner: &str, settled: &[(i64, Finish)], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.with(|connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (id, finish) in settled {
                settle(&transaction, *id, owner, finish, now)?;
            }
            transaction.commit()
        })
    }

    fn remove(&self, id: i64) -> Result<bool, StoreError> {
        self.with(|connection| Ok(connection.execute("DELETE FROM requests WHERE id = ?1", [id])? > 0))
    }

    fn report_hosts(
        &self,
        reports: &[HostReport],
        policy: &BreakerPolicy,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        if reports.is_empty() {
            return Ok(());
        }
        self.with(|connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut states: HashMap<String, HostState> = HashMap::new();
            for report in reports {
                if !states.contains_key(&report.host) {
                    let known = transaction
                        .prepare_cached(&format!("SELECT {HOST_COLUMNS} FROM hosts WHERE host = ?1"))?
                        .query_map([&report.host], host_state)?
                        .next()
                        .transpose()?;
                    let state =
                        known.unwrap_or_else(|| HostState { host: report.host.clone(), ..HostState::default() });
                    states.insert(report.host.clone(), state);
                }
                states.get_mut(&report.host).expect("just read").apply(report, policy, now);
            }
            for state in states.values() {
                transaction
                    .prepare_cached(
                        "INSERT INTO hosts (host, failures, breaker, cooldown_ms, probe_at, paused_until)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (host) DO UPDATE SET failures = ?2, breaker = ?3, cooldown_ms = ?4,
                             probe_at = ?5, paused_until = ?6",
                    )?
                    .execute(params![
                        state.host,
                        state.failures,
                        state.breaker.as_str(),
                        i64::try_from(state.cooldown.as_millis()).unwrap_or(i64::MAX),
                        state.probe_at.map(millis),
                        state.paused_until.map(millis),
                    ])?;
            }
            transaction.commit()
        })
    }

    /// No file yet: no hosts, and no file made for a question (a direct send asks).
    fn hosts(&self) -> Result<Vec<HostState>, StoreError> {
        if !self.path.exists() {
            return Ok(Vec::new());
        }
        self.with(|connection| {
            connection
                .prepare_cached(&format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY host"))?
                .query_map([], host_state)?
                .collect()
        })
    }

    fn renew(&self, ids: &[i64], owner: &str, until: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        self.with(|connection| {
            let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut renewed = Vec::with_capacity(ids.len());
            {
                let mut statement = transaction
                    .prepare_cached("UPDATE requests SET lease_expires_at = ?1 WHERE id = ?2 AND lease_owner = ?3")?;
                for id in ids {
                    if statement.execute(params![millis(until), id, owner])? > 0 {
                        renewed.push(*id);
                    }
                }
            }
            transaction.commit()?;
            Ok(renewed)
        })
    }
}

/// Ends an attempt at record `id`, as [`ReplayStore::finish`] says.
fn settle(connection: &Connection, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> rusqlite::Result<()> {
    // A rated host's send counts in its window until its settle, however long it took.
    connection.prepare_cached("UPDATE host_starts SET at = ?1 WHERE id = ?2")?.execute(params![millis(now), id])?;
    match finish {
        Finish::Delivered => connection.prepare_cached("DELETE FROM requests WHERE id = ?1")?.execute([id])?,
        Finish::Failed { state, error, next_attempt_at } => connection
            .prepare_cached(
                "UPDATE requests SET state = ?1, last_error = ?2, next_attempt_at = ?3, updated_at = ?4,
                        lease_owner = NULL, lease_expires_at = NULL
                 WHERE id = ?5 AND lease_owner = ?6",
            )?
            .execute(params![state.as_str(), error, millis(*next_attempt_at), millis(now), id, owner])?,
    };
    Ok(())
}

/// The due records a worker's claim may take, in the fair order (see
/// [`fair_order`]): up to `claim.limit` of each (tenant, host) group with due
/// records, found one group at a time along the `requests_fair` index, at most
/// [`MAX_GROUPS`] groups. A host whose breaker is open or that is paused is left
/// out; one whose breaker's cooldown has passed gives one record, its probe, and
/// its breaker is half-open until this claim's lease lapses.
fn due_fairly(transaction: &rusqlite::Transaction<'_>, claim: &Claim<'_>) -> rusqlite::Result<Vec<Due>> {
    let now = millis(claim.now);
    let gates = host_gates(transaction, now)?;
    let limit = i64::try_from(claim.limit).unwrap_or(i64::MAX);
    let mut candidates = Vec::new();
    let mut attempts: HashMap<i64, u32> = HashMap::new();
    let mut after: Option<(String, String)> = None;
    for _ in 0..MAX_GROUPS {
        // Along the index: the first group, then the next after the last one.
        let (tenant, host) = after.clone().unwrap_or_default();
        let sql = if after.is_none() {
            "SELECT coalesce(tenant, ''), host FROM requests
             WHERE state = 'pending' AND (coalesce(tenant, ''), host) >= (?1, ?2)
             ORDER BY coalesce(tenant, ''), host LIMIT 1"
        } else {
            "SELECT coalesce(tenant, ''), host FROM requests
             WHERE state = 'pending' AND (coalesce(tenant, ''), host) > (?1, ?2)
             ORDER BY coalesce(tenant, ''), host LIMIT 1"
        };
        let group: Option<(String, String)> = transaction
            .prepare_cached(sql)?
            .query_map(params![tenant, host], |row| Ok((row.get(0)?, row.get(1)?)))?
            .next()
            .transpose()?;
        let Some((tenant, host)) = group else { break };
        after = Some((tenant.clone(), host.clone()));
        let gate = gates.get(&host).copied().unwrap_or(Gate::Closed);
        if matches!(gate, Gate::Shut) {
            continue;
        }
        let mut due = transaction.prepare_cached(
            "SELECT id, attempts, next_attempt_at FROM requests
             WHERE state = 'pending' AND coalesce(tenant, '') = ?1 AND host = ?2 AND next_attempt_at <= ?3
                 AND (lease_owner IS NULL OR lease_expires_at <= ?3)
             ORDER BY next_attempt_at, id LIMIT ?4",
        )?;
        let rows = due.query_map(params![tenant, host, now, limit], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, u32>(1)?, row.get::<_, i64>(2)?))
        })?;
        for row in rows {
            let (id, tries, due) = row?;
            attempts.insert(id, tries);
            candidates.push(Candidate { id, tenant: tenant.clone(), host: host.clone(), due });
        }
    }
    let hosts: HashMap<i64, String> = candidates.iter().map(|c| (c.id, c.host.clone())).collect();
    let dues: HashMap<i64, i64> = candidates.iter().map(|c| (c.id, c.due)).collect();
    let mut probed: Vec<String> = Vec::new();
    let mut taken = Vec::new();
    // What each capped or rated host may still give this claim, and the claimer's
    // share of a capped host's requests on the wire.
    let mut room: HashMap<String, (Option<i64>, Option<u32>)> = HashMap::new();
    for id in fair_order(candidates) {
        if taken.len() >= claim.limit {
            break;
        }
        let host = &hosts[&id];
        let (left, sendable) = match room.get_mut(host) {
            Some(entry) => entry,
            None => {
                let share = capped_share(transaction, claim, host, now)?;
                let rated = rated_room(transaction, claim, host, now)?;
                let left = [share.map(|share| share.room), rated].into_iter().flatten().min();
                room.entry(host.clone()).or_insert((left, share.map(|share| share.sendable)))
            }
        };
        if left.is_some_and(|left| left <= 0) {
            continue;
        }
        if matches!(gates.get(host), Some(Gate::Probe)) {
            if probed.contains(host) {
                continue;
            }
            probed.push(host.clone());
        }
        if let Some(left) = left {
            *left -= 1;
        }
        taken.push(Due { id, attempts: attempts[&id], next_attempt_at: dues[&id], sendable: *sendable });
    }
    for host in probed {
        transaction
            .prepare_cached("UPDATE hosts SET breaker = 'half-open', probe_at = ?1 WHERE host = ?2")?
            .execute(params![millis(claim.until), host])?;
    }
    for Due { id, .. } in &taken {
        let host = &hosts[id];
        if claim.limits.and_then(|limits| limits.rate(host)).is_some() {
            transaction
                .prepare_cached("INSERT OR REPLACE INTO host_starts (id, host, at) VALUES (?1, ?2, ?3)")?
                .execute(params![id, host, now])?;
        }
    }
    prune_starts(transaction, now)?;
    Ok(taken)
}

/// A due record a claim takes, and its claimer's share of its host (see [`Lease::sendable`]).
struct Due {
    id: i64,
    attempts: u32,
    next_attempt_at: i64,
    sendable: Option<u32>,
}

/// A claimer's share of a capped host: how many of its records it may have on the
/// wire (the cap less the records other holders lease) and how many more it may
/// take now ([`HOLD_AHEAD`] times that, less what it holds).
#[derive(Clone, Copy)]
struct Share {
    sendable: u32,
    room: i64,
}

/// The claimer's [`Share`] of `host` under the claim's limits; `None`: no cap.
/// The claim's transaction is `IMMEDIATE`, so claims count one after another.
fn capped_share(
    transaction: &rusqlite::Transaction<'_>,
    claim: &Claim<'_>,
    host: &str,
    now: i64,
) -> rusqlite::Result<Option<Share>> {
    let Some(cap) = claim.limits.and_then(|limits| limits.concurrency(host)) else { return Ok(None) };
    let (others, mine): (i64, i64) = transaction
        .prepare_cached(
            "SELECT coalesce(sum(lease_owner <> ?3), 0), coalesce(sum(lease_owner = ?3), 0) FROM requests
             WHERE host = ?1 AND lease_owner IS NOT NULL AND lease_expires_at > ?2",
        )?
        .query_row(params![host, now, claim.owner], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let sendable = (i64::from(cap) - others).max(0);
    let room = sendable * i64::from(HOLD_AHEAD) - mine;
    Ok(Some(Share { sendable: u32::try_from(sendable).unwrap_or(u32::MAX), room }))
}

/// How many more records of `host` the claim may start under its strictest
/// `rate`: the rate less the sends counted in its window — those claimed or
/// settled within it, and those still leased (a send is counted from its claim
/// to its settle, so one that waited in a worker's buffer is not missed).
fn rated_room(
    transaction: &rusqlite::Transaction<'_>,
    claim: &Claim<'_>,
    host: &str,
    now: i64,
) -> rusqlite::Result<Option<i64>> {
    let Some(rate) = claim.limits.and_then(|limits| limits.rate(host)) else { return Ok(None) };
    let window = i64::try_from(rate.per.as_millis()).unwrap_or(i64::MAX);
    let used: i64 = transaction
        .prepare_cached(
            "SELECT count(*) FROM host_starts AS s WHERE s.host = ?1 AND (s.at > ?2 - ?3 OR EXISTS (
                 SELECT 1 FROM requests AS r WHERE r.id = s.id AND r.lease_owner IS NOT NULL AND r.lease_expires_at > ?2))",
        )?
        .query_row(params![host, now, window], |row| row.get(0))?;
    Ok(Some(i64::from(rate.count) - used))
}

/// Forgets sends older than the longest window (a minute) whose records are not leased.
fn prune_starts(transaction: &rusqlite::Transaction<'_>, now: i64) -> rusqlite::Result<()> {
    transaction
        .prepare_cached(
            "DELETE FROM host_starts WHERE at < ?1 - 60000 AND NOT EXISTS (
                 SELECT 1 FROM requests AS r WHERE r.id = host_starts.id AND r.lease_owner IS NOT NULL
                     AND r.lease_expires_at > ?1)",
        )?
        .execute([now])?;
    Ok(())
}

/// What a claim may take of each host that is not simply open for business.
fn host_gates(connection: &Connection, now: i64) -> rusqlite::Result<HashMap<String, Gate>> {
    let mut statement = connection.prepare_cached(
        "SELECT host, breaker, probe_at, paused_until FROM hosts WHERE breaker <> 'closed' OR paused_until > ?1",
    )?;
    let rows = statement.query_map([now], |row| {
        let (host, breaker): (String, String) = (row.get(0)?, row.get(1)?);
        let (probe_at, paused_until): (Option<i64>, Option<i64>) = (row.get(2)?, row.get(3)?);
        Ok((host, Gate::of(&breaker, probe_at, paused_until, now)))
    })?;
    rows.collect()
}

fn insert(connection: &mut Connection, records: &[NewRecord]) -> rusqlite::Result<Vec<i64>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut ids = Vec::with_capacity(records.len());
    {
        let mut statement = transaction.prepare_cached(
            "INSERT INTO requests (state, method, url, headers, body, timeout_ms, connect_timeout_ms,
                 read_timeout_ms, idempotency_key, spec_name, spec_sha256, credentials, attempts, last_error,
                 created_at, updated_at, next_attempt_at, tenant, trace_context, host)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?15, ?16, ?17, ?18)",
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
                new.tenant,
                new.trace_context.map(|trace| trace.header()),
                host_of(&request.url),
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

/// Whether `error` says a row does not read as a record (written outside
/// courier, or by a courier that wrote it otherwise), rather than that the database failed.
fn is_unreadable(error: &rusqlite::Error) -> bool {
    matches!(
        error,
        rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..)
    )
}

/// Sets a record that does not read aside as dead, with the reason, so that the
/// queue goes on: one bad row stopped every claim before.
fn park(
    transaction: &rusqlite::Transaction<'_>,
    id: i64,
    error: &rusqlite::Error,
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    transaction.execute(
        "UPDATE requests SET state = 'dead', last_error = ?1, updated_at = ?2, lease_owner = NULL, lease_expires_at = NULL
         WHERE id = ?3",
        params![super::store::unreadable(&error.to_string()), millis(now), id],
    )?;
    Ok(())
}

fn bad(index: usize, message: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, Type::Text, message.into())
}

/// The columns a [`HostState`] is read from, in the order [`host_state`] reads them.
const HOST_COLUMNS: &str = "host, failures, breaker, cooldown_ms, probe_at, paused_until";

/// Reads a host's state from a row of [`HOST_COLUMNS`].
fn host_state(row: &Row<'_>) -> rusqlite::Result<HostState> {
    let breaker: String = row.get(2)?;
    let at = |index: usize| -> rusqlite::Result<Option<DateTime<Utc>>> {
        row.get::<_, Option<i64>>(index)?.map(|at| time(index, at)).transpose()
    };
    Ok(HostState {
        host: row.get(0)?,
        failures: row.get(1)?,
        breaker: Breaker::parse(&breaker),
        cooldown: Duration::from_millis(u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0)),
        probe_at: at(4)?,
        paused_until: at(5)?,
    })
}

/// Reads a record from a row of [`COLUMNS`].
fn record(row: &Row<'_>) -> rusqlite::Result<Record> {
    let state: String = row.get(1)?;
    let method: String = row.get(2)?;
    let headers: String = row.get(4)?;
    let credentials: Option<String> = row.get(12)?;
    let duration = |index: usize| -> rusqlite::Result<Duration> {
        Ok(Duration::from_millis(u64::try_from(row.get::<_, i64>(index)?).unwrap_or(0)))
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
                timeouts: Timeouts { total: duration(6)?, connect: duration(7)?, read: duration(8)? },
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
            (Some(owner), Some(expires_at)) => Some(Lease { owner, expires_at: time(19, expires_at)?, sendable: None }),
            _ => None,
        },
        tenant: row.get(20)?,
        // A value that is not a traceparent (written by hand) starts a new trace.
        trace_context: row.get::<_, Option<String>>(21)?.as_deref().and_then(TraceParent::parse),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use crate::replay::Limits;

    use super::*;

    fn pending(key: &str) -> NewRecord {
        NewRecord {
            state: State::Pending,
            saved: Saved {
                request: Prepared {
                    method: Method::Put,
                    url: "http://127.0.0.1:9/x".to_owned(),
                    headers: vec![("idempotency-key".to_owned(), key.to_owned())],
                    body: Some(vec![0, 159, 146, 150]),
                    timeouts: Timeouts::default(),
                },
                idempotency_key: key.to_owned(),
                spec_name: Some("/specs/x.toml".to_owned()),
                spec_sha256: Some("ab".repeat(32)),
                credentials: Some(KeptCredentials {
                    headers: vec!["x-api-key".to_owned()],
                    variables: serde_json::json!({"user": "anna", "n": 3}).as_object().unwrap().clone(),
                    url: false,
                }),
            },
            attempts: 0,
            last_error: None,
            tenant: Some("acme".to_owned()),
            trace_context: TraceParent::parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
        }
    }

    fn claim(store: &SqliteStore, owner: &str, now: DateTime<Utc>, selection: Selection) -> Vec<Record> {
        let until = now + TimeDelta::seconds(10);
        store.claim(&Claim { selection, ..Claim::due(owner, now, until, 10) }).unwrap()
    }

    #[test]
    fn records_come_back_as_they_were_written() {
        let folder = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(folder.path().join("r.db")).unwrap();
        let new = pending("k1");
        let ids = store.insert(std::slice::from_ref(&new)).unwrap();
        let records = store.list().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].id, ids[0]);
        assert_eq!(records[0].saved, new.saved);
        assert_eq!((records[0].state, records[0].attempts, records[0].lease.clone()), (State::Pending, 0, None));
    }

    #[test]
    fn a_key_finds_the_first_record_that_holds_it() {
        let folder = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(folder.path().join("r.db")).unwrap();
        let ids = store.insert(&[pending("k1"), pending("k2"), pending("k1")]).unwrap();
        let keys = ["k1".to_owned(), "k2".to_owned(), "k9".to_owned()];
        let found = store.keyed(&keys).unwrap();
        let expected =
            HashMap::from([("k1".to_owned(), (ids[0], State::Pending)), ("k2".to_owned(), (ids[1], State::Pending))]);
        assert_eq!(found, expected);
    }

    #[test]
    fn a_new_file_is_private_in_wal_mode_with_the_schema_and_a_newer_schema_is_refused() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("r.db");
        SqliteStore::open(&path).unwrap();
        SqliteStore::open(&path).unwrap();
        let connection = Connection::open(&path).unwrap();
        let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0)).unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
        let mode: String = connection.query_row("PRAGMA journal_mode", [], |row| row.get(0)).unwrap();
        assert_eq!(mode, "wal");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        connection.pragma_update(None, "user_version", 99).unwrap();
        let error = SqliteStore::open(&path).unwrap_err();
        assert!(error.0.contains("newer courier"), "{error}");
    }

    #[test]
    fn a_file_of_the_first_schema_is_migrated_keeping_its_records() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("r.db");
        {
            let connection = Connection::open(&path).unwrap();
            connection.execute_batch(MIGRATIONS[0]).unwrap();
            connection.pragma_update(None, "user_version", 1).unwrap();
            connection
                .execute(
                    "INSERT INTO requests (state, method, url, headers, timeout_ms, connect_timeout_ms,
                         read_timeout_ms, idempotency_key, attempts, created_at, updated_at, next_attempt_at)
                     VALUES ('pending', 'POST', 'http://127.0.0.1:9/', '[]', 1000, 1000, 1000, 'k0', 0, 1, 1, 1)",
                    [],
                )
                .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let records = store.list().unwrap();
        assert_eq!((records.len(), records[0].saved.idempotency_key.as_str()), (1, "k0"));
        assert_eq!((records[0].tenant.as_deref(), records[0].trace_context), (None, None));
        let connection = Connection::open(&path).unwrap();
        let host: String = connection.query_row("SELECT host FROM requests", [], |row| row.get(0)).unwrap();
        assert_eq!(host, "127.0.0.1:9", "the host of a record saved before is read from its URL");
        let plan: String = connection
            .query_row(
                "EXPLAIN QUERY PLAN SELECT id FROM requests WHERE state = 'pending' AND next_attempt_at <= 5
                 ORDER BY next_attempt_at, id LIMIT 10",
                [],
                |row| row.get(3),
            )
            .unwrap();
        assert!(plan.contains("requests_claim") && !plan.contains("TEMP B-TREE"), "{plan}");
        let ids = store.insert(&[pending("k1")]).unwrap();
        assert_eq!(store.list().unwrap()[1].id, ids[0]);
        assert_eq!(store.list().unwrap()[1].tenant.as_deref(), Some("acme"));
        assert_eq!(store.list().unwrap()[1].trace_context, pending("k1").trace_context, "the trace context is kept");
    }

    #[test]
    fn a_lease_keeps_a_record_from_another_claimer_until_it_lapses() {
        let folder = tempfile::tempdir().unwrap();
        let path = folder.path().join("r.db");
        let (first, second) = (SqliteStore::open(&path).unwrap(), SqliteStore::open(&path).unwrap());
        let id = first.insert(&[pending("k1")]).unwrap()[0];
        let now = Utc::now();

        let taken = claim(&first, "a", now, Selection::Due);
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].attempts, 1, "a claim counts an attempt");
        assert_eq!(taken[0].lease.as_ref().map(|lease| lease.owner.as_str()), Some("a"));
        assert!(claim(&second, "b", now, Selection::Due).is_empty());
        assert!(claim(&second, "b", now, Selection::One(id)).is_empty());

        // a crashed: its lease lapses, and b takes the record.
        let later = now + TimeDelta::seconds(11);
        let retaken = claim(&second, "b", later, Selection::Due);
        assert_eq!((retaken.len(), retaken[0].attempts), (1, 2));

        // a comes back too late: its failure changes nothing.
        let failed = Finish::Failed { state: State::Dead, error: "late".to_owned(), next_attempt_at: later };
        first.finish(id, "a", &failed, later).unwrap();
        let record = &first.list().unwrap()[0];
        assert_eq!((record.state, record.last_error.as_deref()), (State::Pending, None));
        assert_eq!(record.lease.as_ref().map(|lease| lease.owner.as_str()), Some("b"));

        // b's failure frees the lease and schedules the record.
        let next = later + TimeDelta::seconds(30);
        let retry = Finish::Failed { state: State::Pending, error: "503".to_owned(), next_attempt_at: next };
        second.finish(id, "b", &retry, later).unwrap();
        let record = &first.list().unwrap()[0];
        assert_eq!((record.lease.clone(), record.last_error.as_deref()), (None, Some("503")));
        assert!(claim(&first, "a", later, Selection::Due).is_empty(), "not due yet");
        assert_eq!(claim(&first, "a", next, Selection::Due).len(), 1);
        // Delivered deletes the record, whoever holds it.
        second.finish(id, "b", &Finish::Delivered, next).unwrap();
        assert!(first.list().unwrap().is_empty());
        assert!(!first.remove(id).unwrap());
    }

    #[test]
    fn the_worker_claims_only_due_pending_records_earliest_first() {
        let folder = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(folder.path().join("r.db")).unwrap();
        let failed =
            NewRecord { state: State::Failed, attempts: 1, last_error: Some("refused".to_owned()), ..pending("k0") };
        let ids = store.insert(&[failed, pending("k1"), pending("k2")]).unwrap();
        let now = Utc::now() + TimeDelta::seconds(1);
        let claimed: Vec<i64> = claim(&store, "w", now, Selection::Due).iter().map(|r| r.id).collect();
        assert_eq!(claimed, ids[1..]);
        // By hand, any record may be claimed.
        assert_eq!(claim(&store, "h", now, Selection::One(ids[0]))[0].state, State::Failed);
        assert!(store.remove(ids[0]).unwrap());
    }

    fn to(tenant: &str, url: &str, key: &str) -> NewRecord {
        let mut record = NewRecord { tenant: (!tenant.is_empty()).then(|| tenant.to_owned()), ..pending(key) };
        record.saved.request.url = url.to_owned();
        record
    }

    #[test]
    fn a_claim_rotates_between_tenants_and_a_tenants_hosts() {
        let folder = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(folder.path().join("r.db")).unwrap();
        // A floods slow.test, then one to other.test; B's two come after all of them.
        let mut flood: Vec<NewRecord> = (0..50).map(|n| to("a", "http://slow.test/", &format!("a{n}"))).collect();
        flood.push(to("a", "http://other.test/", "a-other"));
        store.insert(&flood).unwrap();
        store.insert(&[to("b", "http://fast.test/", "b0"), to("b", "http://fast.test/", "b1")]).unwrap();
        let now = Utc::now() + TimeDelta::seconds(1);
        let until = now + TimeDelta::seconds(10);
        let claimed = store.claim(&Claim::due("w", now, until, 6)).unwrap();
        let keys: Vec<&str> = claimed.iter().map(|record| record.saved.idempotency_key.as_str()).collect();
        // Queued together, A's hosts tie and take turns by name; B waited less than A.
        assert_eq!(keys, ["a-other", "b0", "a0", "b1", "a1", "a2"]);
    }

    #[test]
    fn a_capped_host_gives_its_claimer_a_share_to_send_and_holds_eight_times_it() {
        let folder = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(folder.path().join("r.db")).unwrap();
        let records: Vec<NewRecord> = (0..40).map(|n| to("", "http://capped.test/", &format!("c{n}"))).collect();
        store.insert(&records).unwrap();
        let limits = Limits { per_host: Some(2), destinations: Vec::new() };
        let now = Utc::now() + TimeDelta::seconds(1);
        let take = |owner: &str, now: DateTime<Utc>| {
            let claim = Claim { limits: Some(&limits), ..Claim::due(owner, now, now + TimeDelta::seconds(10), 100) };
            store.claim(&claim).unwrap()
        };
        let first = take("a", now);
        assert_eq!(first.len(), 2 * HOLD_AHEAD as usize, "a holds eight times its share");
        assert!(first.iter().all(|record| record.lease.as_ref().unwrap().sendable == Some(2)));
        assert!(take("b", now).is_empty(), "a holds more than the cap: b may send none");
        assert!(take("a", now).is_empty(), "a holds all it may");
        // a's leases lapse (its process died): b's share is the whole cap.
        let later = now + TimeDelta::seconds(11);
        let second = take("b", later);
        assert_eq!(second.len(), 16);
        assert!(second.iter().all(|record| record.lease.as_ref().unwrap().sendable == Some(2)));
    }

    #[test]
    fn a_host_whose_breaker_is_open_gives_nothing_then_one_probe() {
        let folder = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(folder.path().join("r.db")).unwrap();
        let records: Vec<NewRecord> = (0..5).map(|n| to("", "http://dead.test/", &format!("d{n}"))).collect();
        store.insert(&records).unwrap();
        store.insert(&[to("", "http://live.test/", "l0")]).unwrap();
        let now = Utc::now() + TimeDelta::seconds(1);
        let probe = now + TimeDelta::seconds(30);
        store
            .with(|connection| {
                connection.execute(
                    "INSERT INTO hosts (host, failures, breaker, cooldown_ms, probe_at) VALUES ('dead.test', 5, 'open', 30000, ?1)",
                    [millis(probe)],
                )
            })
            .unwrap();
        let keys = |claimed: Vec<Record>| -> Vec<String> {
            claimed.into_iter().map(|record| record.saved.idempotency_key).collect()
        };
        assert_eq!(keys(claim(&store, "w", now, Selection::Due)), ["l0"]);
        // The cooldown passed: one probe, and the breaker is half-open for another claimer.
        let later = probe + TimeDelta::seconds(1);
        let probed: Vec<String> =
            keys(claim(&store, "w", later, Selection::Due)).into_iter().filter(|key| key.starts_with('d')).collect();
        assert_eq!(probed, ["d0"]);
        assert!(claim(&store, "v", later, Selection::Due).is_empty());
        let breaker: String = store.with(|c| c.query_row("SELECT breaker FROM hosts", [], |row| row.get(0))).unwrap();
        assert_eq!(breaker, "half-open");
    }
}
