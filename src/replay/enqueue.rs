//! Queueing many requests at once: [`Delivery::enqueue_many`] renders a spec for
//! each set of variables and saves every one that renders as a pending record, in
//! one transaction (`courier enqueue`'s library form).

use std::collections::HashMap;
use std::sync::Arc;

use super::deliver::Delivery;
use super::keep::{tenant_of, without_credentials};
use super::store::{NewRecord, ReplayStore, State, StoreError};
use crate::functions::Context;
use crate::request::{CompiledRequest, Cookies, KeyChoice};
use crate::variables::VariableSource;

/// What became of one set of variables given to [`Delivery::enqueue_many`]: the
/// record's id, or why nothing was queued for it.
pub type Enqueued = Result<i64, String>;

impl Delivery {
    /// Queues `request` once for each set of variables, as `queue = true` would
    /// (whether the spec says so or not), all due at once, with `tenant` stored
    /// with each record (without it, the spec's `tenant` rendered for each set). A set that fails to render, whose URL the destination
    /// policy refuses (an address written in the URL is checked now; a host name
    /// when the worker resolves it), or whose record would hold a credential, gets
    /// its reason and queues nothing; the others are saved in one committed
    /// transaction. With an `idempotency_key` in the spec, a set whose key is
    /// already queued (or repeats an earlier set's) is that record, not a second one.
    ///
    /// The results are in the order of `batch`. `Err` is a store that could not
    /// be read or written: then nothing of this batch was saved.
    pub async fn enqueue_many<V: VariableSource + Sync>(
        &self,
        request: &CompiledRequest,
        batch: &[V],
        context: &Context,
        tenant: Option<&str>,
    ) -> Result<Vec<Enqueued>, StoreError> {
        let Some(store) = self.store() else {
            return Err(StoreError("queueing needs a replay store, and there is none".to_owned()));
        };
        let mut slots: Vec<Slot> = Vec::with_capacity(batch.len());
        let mut records: Vec<NewRecord> = Vec::new();
        for variables in batch {
            slots.push(match self.record(request, variables, context, tenant).await {
                Ok(record) => {
                    records.push(record);
                    Slot::Inserted(records.len() - 1)
                }
                Err(why) => Slot::Failed(why),
            });
        }
        if request.idempotency_key.is_some() {
            records = deduplicated(store, records, &mut slots).await?;
        }
        let ids = insert(store, records).await?;
        Ok(slots
            .into_iter()
            .map(|slot| match slot {
                Slot::Inserted(index) | Slot::Same(index) => Ok(ids[index]),
                Slot::Known(id) => Ok(id),
                Slot::Failed(why) => Err(why),
            })
            .collect())
    }

    /// The pending record of `request` rendered with `variables`, or why there is none.
    async fn record(
        &self,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        tenant: Option<&str>,
    ) -> Result<NewRecord, String> {
        let cookies = Cookies::new();
        let choice = KeyChoice { supplied: None, fresh: true };
        let sent = self.executor().call(request, variables, context, &cookies, choice).await.finish();
        let Some(prepared) = sent.prepared.clone() else {
            let error = sent.outcome.error.as_deref().unwrap_or("the request could not be rendered");
            return Err(sent.redactor().redact(error));
        };
        let url = url::Url::parse(&prepared.url).map_err(|error| format!("its URL does not parse: {error}"))?;
        if let Err(refusal) = self.executor().options().destinations.check_url(&url) {
            return Err(refusal.message().to_owned());
        }
        let saved = without_credentials(request, prepared, variables, context, sent.redactor())
            .map_err(|why| format!("cannot queue the request: {why}"))?;
        let tenant = tenant_of(request, tenant, variables, context, sent.redactor())?;
        Ok(NewRecord { state: State::Pending, saved, attempts: 0, last_error: None, tenant, trace_context: sent.trace })
    }
}

/// What becomes of one set of variables.
enum Slot {
    /// Saved as the record at this index of the insert.
    Inserted(usize),
    /// Its key is already this record's.
    Known(i64),
    /// Its key repeats that of the record at this index of the insert.
    Same(usize),
    /// Nothing is queued for it, for this reason.
    Failed(String),
}

/// The records whose `Idempotency-Key` is neither in the store nor taken by an
/// earlier record of the batch; the slots of the others point at the record that
/// has their key.
async fn deduplicated(
    store: &Arc<dyn ReplayStore>,
    records: Vec<NewRecord>,
    slots: &mut [Slot],
) -> Result<Vec<NewRecord>, StoreError> {
    let keys: Vec<String> = records.iter().map(|record| record.saved.idempotency_key.clone()).collect();
    let known = known_keys(store, keys).await?;
    let mut kept: Vec<NewRecord> = Vec::with_capacity(records.len());
    let mut taken: HashMap<String, usize> = HashMap::new();
    let mut records = records.into_iter();
    for slot in slots.iter_mut() {
        let Slot::Inserted(_) = slot else { continue };
        let record = records.next().expect("a record for each inserted slot");
        let key = &record.saved.idempotency_key;
        *slot = if let Some((id, _)) = known.get(key) {
            Slot::Known(*id)
        } else if let Some(index) = taken.get(key) {
            Slot::Same(*index)
        } else {
            taken.insert(key.clone(), kept.len());
            kept.push(record);
            Slot::Inserted(kept.len() - 1)
        };
    }
    Ok(kept)
}

/// The records that already hold any of `keys`, by key (an index lookup).
async fn known_keys(
    store: &Arc<dyn ReplayStore>,
    keys: Vec<String>,
) -> Result<HashMap<String, (i64, State)>, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.keyed(&keys))
        .await
        .map_err(|error| StoreError(format!("the replay store failed: {error}")))?
}

/// Saves `records` in one transaction; their ids, in order.
async fn insert(store: &Arc<dyn ReplayStore>, records: Vec<NewRecord>) -> Result<Vec<i64>, StoreError> {
    if records.is_empty() {
        return Ok(Vec::new());
    }
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.insert(&records))
        .await
        .map_err(|error| StoreError(format!("the replay store failed: {error}")))?
}
