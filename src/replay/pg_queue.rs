//! The PostgreSQL store's async face ([`AsyncQueue`]): the worker's claims,
//! settles and renewals on `tokio-postgres` connections driven by the worker's
//! own runtime, each statement prepared once per connection, with no blocking
//! thread per call.
//!
//! Two lanes, each one connection: claims and renewals on a connection whose
//! commits wait for the disk (`synchronous_commit = on`: a lease lost to a crash
//! could let two workers send one record at once, and an attempt counted must stay
//! counted), settles on one whose commits do not (`off`: a settle lost to a crash
//! of the server only leaves a record leased, and it is sent once more when the
//! lease lapses, as at-least-once allows). Every call is one statement, its own
//! transaction, so calls on a lane pipeline instead of waiting for each other.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, NoTls, Statement};

use super::pg::{CLAIM_LOCK, ClaimPlan, Failed, PARK, PostgresStore, RENEW, SETTLE, Settle, claim_sql, claimed_record};
use super::store::{AsyncQueue, Claim, Finish, Record, StoreError, StoreFuture};

/// The async face's two connections, opened when first needed and again after
/// one broke.
#[derive(Default)]
pub(super) struct Lanes {
    claims: Lane,
    settles: Lane,
    /// Claims with caps per host: a transaction each ([`super::pg::CLAIM_LOCK`]
    /// first), so on a connection of their own, one at a time.
    capped: Lane,
    capped_turn: tokio::sync::Mutex<()>,
}

/// One connection of the async face, shared by the calls on it.
#[derive(Default)]
struct Lane {
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
}

/// An open connection and the statements prepared on it.
struct Live {
    client: Client,
    prepared: Mutex<HashMap<&'static str, Statement>>,
}

impl Live {
    /// The statement `name`, prepared from `sql` the first time this connection needs it.
    async fn statement(&self, name: &'static str, sql: impl FnOnce() -> String) -> Result<Statement, Failed> {
        if let Some(statement) = self.prepared.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).get(name) {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(&sql()).await?;
        self.prepared.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(name, statement.clone());
        Ok(statement)
    }
}

impl PostgresStore {
    /// The lane's connection, opened (with its durability) when it has none or
    /// the one it had is closed.
    async fn live(&self, lane: &Lane, durable: bool) -> Result<Arc<Live>, StoreError> {
        let mut live = lane.live.lock().await;
        if let Some(open) = live.as_ref().filter(|open| !open.client.is_closed()) {
            return Ok(open.clone());
        }
        *live = None;
        self.migrated().await?;
        let (client, connection) = self.config().connect(NoTls).await.map_err(|error| self.error(error.into()))?;
        // The connection's task ends when the server or the runtime goes; the
        // client then reports itself closed, and the next call connects afresh.
        tokio::spawn(connection);
        let durability = if durable { "on" } else { "off" };
        client
            .batch_execute(&format!("SET synchronous_commit = {durability}"))
            .await
            .map_err(|error| self.error(error.into()))?;
        let open = Arc::new(Live { client, prepared: Mutex::new(HashMap::new()) });
        *live = Some(open.clone());
        Ok(open)
    }

    /// Runs `work` on the lane's connection; a connection that broke is dropped,
    /// so that the next call opens another.
    async fn on_lane<T>(
        &self,
        lane: &Lane,
        durable: bool,
        work: impl AsyncFnOnce(&Live) -> Result<T, Failed>,
    ) -> Result<T, StoreError> {
        let live = self.live(lane, durable).await?;
        let result = work(&live).await;
        if live.client.is_closed() {
            let mut current = lane.live.lock().await;
            if current.as_ref().is_some_and(|current| Arc::ptr_eq(current, &live)) {
                *current = None;
            }
        }
        result.map_err(|failed| self.error(failed))
    }
}

/// Runs a claim's statement on `live` and reads its rows; a row that does not
/// read as a record is parked (dead, with the reason).
async fn claim_rows(live: &Live, plan: &ClaimPlan<'_>) -> Result<Vec<Record>, Failed> {
    let statement = live.statement(plan.name, || claim_sql(plan.filter)).await?;
    let rows = live.client.query(&statement, &plan.params()).await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        match claimed_record(row) {
            Ok(record) => records.push(record),
            Err(why) => {
                let park = live.statement("park", || PARK.to_owned()).await?;
                let id: i64 = row.get(0);
                live.client.execute(&park, &[&super::store::unreadable(&why), &plan.now, &id]).await?;
            }
        }
    }
    Ok(records)
}

impl AsyncQueue for PostgresStore {
    /// The claim of the blocking face ([`PostgresStore`]), committed on the durable lane. A row that does
    /// not read as a record is parked (dead, with the reason) by a statement of
    /// its own; should that fail, the row comes back when its lease lapses and
    /// is parked then.
    fn claim<'a>(&'a self, claim: Claim<'a>) -> StoreFuture<'a, Vec<Record>> {
        Box::pin(async move {
            let plan = ClaimPlan::of(&claim);
            if plan.serialized() {
                let _turn = self.lanes.capped_turn.lock().await;
                return self
                    .on_lane(&self.lanes.capped, true, async |live| {
                        let claimed = match live.client.batch_execute(&format!("BEGIN; {CLAIM_LOCK}")).await {
                            Ok(()) => claim_rows(live, &plan).await,
                            Err(error) => Err(error.into()),
                        };
                        // A failed transaction is rolled back, so that the lane's next claim starts clean.
                        let end = if claimed.is_ok() { "COMMIT" } else { "ROLLBACK" };
                        live.client.batch_execute(end).await?;
                        claimed
                    })
                    .await;
            }
            self.on_lane(&self.lanes.claims, true, async |live| claim_rows(live, &plan).await).await
        })
    }

    fn finish_many<'a>(
        &'a self,
        owner: &'a str,
        settled: &'a [(i64, Finish)],
        now: DateTime<Utc>,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let settle = Settle::of(owner, settled, now);
            self.on_lane(&self.lanes.settles, false, async |live| {
                let statement = live.statement("settle", || SETTLE.to_owned()).await?;
                live.client.execute(&statement, &settle.params()).await?;
                Ok(())
            })
            .await
        })
    }

    fn renew<'a>(&'a self, ids: &'a [i64], owner: &'a str, until: DateTime<Utc>) -> StoreFuture<'a, Vec<i64>> {
        Box::pin(async move {
            let until = until.timestamp_millis();
            self.on_lane(&self.lanes.claims, true, async |live| {
                let statement = live.statement("renew", || RENEW.to_owned()).await?;
                let rows = live.client.query(&statement, &[&until, &ids, &owner]).await?;
                Ok(rows.iter().map(|row| row.get(0)).collect())
            })
            .await
        })
    }
}
