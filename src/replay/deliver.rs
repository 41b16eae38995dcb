//! Direct delivery: a request sent now, through the executor, by the layer that
//! decides what the executor does not — whether to send it again (the spec's
//! `[retry]`), and what to keep in the replay store (a queued request before it
//! is sent, one that failed for want of an answer after).

use std::ops::Deref;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::destinations::{BreakerPolicy, HostReport, HostWatch, host_of};
use super::keep::{Kept, keep, worth_keeping};
use super::limits::Limits;
use super::retry::{Next, may_resend, next};
use super::store::ReplayStore;
use super::throttle::Throttle;
use crate::functions::Context;
use crate::request::{
    Call, CompiledRequest, Cookies, DryRun, Executor, KeyChoice, Method, Outcome, RetryPolicy, Sent,
    new_idempotency_key,
};
use crate::variables::VariableSource;

/// Sends requests through an executor, with the spec's retries and, when it has a
/// replay store, keeping what failed and queueing what asks to be queued.
/// `Clone + Send + Sync`, like the executor it wraps: one per process.
#[derive(Clone)]
pub struct Delivery {
    executor: Executor,
    store: Option<Arc<dyn ReplayStore>>,
    /// The tenant every record it keeps or queues gets, over the spec's `tenant`.
    tenant: Option<String>,
    /// Without a store, the hosts' circuit breakers, in this process (issue #22).
    breakers: Arc<Mutex<HostWatch>>,
    /// The destination limits every attempt keeps, in this process.
    throttle: Arc<Throttle>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").field("executor", &self.executor).field("store", &self.store.is_some()).finish()
    }
}

/// What one delivery produced: the executor's outcome (its fields read through
/// `Deref`), the replay record it was kept or queued as, and the attempts sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Delivered {
    /// The outcome of the last attempt, with the events and log of every attempt.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The replay store's record of the request, when it was queued or kept for replay.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<Kept>,
    /// Attempts sent (0 when nothing was sent: a queued request, or one that could
    /// not be rendered).
    pub attempts: u32,
}

impl Deref for Delivered {
    type Target = Outcome;

    fn deref(&self) -> &Outcome {
        &self.outcome
    }
}

impl Delivery {
    /// Delivery through `executor`, with no replay store.
    pub fn new(executor: Executor) -> Self {
        Delivery { executor, store: None, tenant: None, breakers: Arc::default(), throttle: Arc::default() }
    }

    /// The same delivery with a replay store: requests that fail for want of a
    /// response, or with status 5xx or 429 (after their retries), are kept in it
    /// for replay; a spec with `queue = true` is saved in it and not sent; and
    /// every request carries an `Idempotency-Key`.
    pub fn with_store(self, store: Arc<dyn ReplayStore>) -> Self {
        Delivery { store: Some(store), ..self }
    }

    /// The same delivery, giving every record it keeps or queues `tenant`
    /// whatever the spec's `tenant` says (`courier send --tenant`).
    pub fn with_tenant(self, tenant: Option<String>) -> Self {
        Delivery { tenant, ..self }
    }

    /// The same delivery keeping `limits`' destination limits (a limits file's
    /// `concurrency` and `rate`; `per_host` is the worker's) for every attempt it
    /// sends, across the tasks that share it: an attempt waits for room, within
    /// its request's time limit; none in time and it is not sent, the outcome's
    /// error names the limit, with event `api_http_timeout_exception`. The limits
    /// hold in this process: the queue's workers keep them fleet-wide.
    pub fn with_limits(self, limits: Limits) -> Self {
        Delivery { throttle: Arc::new(Throttle::new(limits)), ..self }
    }

    /// The executor it sends through.
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// The replay store, when it has one.
    pub fn store(&self) -> Option<&Arc<dyn ReplayStore>> {
        self.store.as_ref()
    }

    /// Delivers a request: renders it, sends it (again, as its `[retry]` allows),
    /// maps the response, and keeps it in the store when it failed. Session cookies
    /// are sent from and saved into `cookies`, as [`Executor::execute`] does.
    pub async fn execute(
        &self,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        cookies: &mut Cookies,
    ) -> Delivered {
        self.execute_with_key(request, variables, context, cookies, None).await
    }

    /// [`Delivery::execute`] with the caller's `Idempotency-Key`: a caller that sends
    /// one logical request again (after a crash, say) passes the same key, and with
    /// a replay store the retry is the record already kept rather than a second one.
    /// Without it the spec's `idempotency_key`, then an `Idempotency-Key` in its
    /// headers, then a fresh random key is used (when the request may be sent again).
    pub async fn execute_with_key(
        &self,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        cookies: &mut Cookies,
        key: Option<&str>,
    ) -> Delivered {
        let choice = KeyChoice { supplied: key, fresh: self.needs_key(request) };
        let mut call = self.executor.call(request, variables, context, cookies, choice).await;
        let host = call.prepared().map(|prepared| host_of(&prepared.url));
        if !request.is_queued()
            && let Some(host) = &host
            && let Some(refusal) = self.breaker_refusal(host).await
        {
            let mut sent = call.finish();
            sent.fail(refusal);
            return Delivered { outcome: sent.complete(cookies), replay: None, attempts: 0 };
        }
        let mut throttled = None;
        if !request.is_queued() {
            // The host's cap on attempts holds whatever the spec asks for.
            let cap = self.executor.options().max_attempts.max(1);
            let policy =
                request.retry().map(|policy| RetryPolicy { attempts: policy.attempts.min(cap), ..policy.clone() });
            throttled = send_with_retries(&mut call, policy.as_ref(), &self.throttle, host.as_deref()).await;
        }
        let mut sent = call.finish();
        if let Some(why) = throttled {
            sent.time_out(why);
        }
        if let Some(host) = host.filter(|_| self.store.is_none() && sent.attempts > 0) {
            let outcome = &sent.outcome;
            let failed = outcome.status.map_or(!outcome.refused, |status| status >= 500 || status == 429);
            let report = HostReport { host, failed, pause_until: None };
            let mut breakers = self.breakers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            breakers.note(report, &BreakerPolicy::default(), chrono::Utc::now());
            breakers.reports.clear();
        }
        let replay = self.keep(&mut sent, request, variables, context, key.is_some()).await;
        let attempts = sent.attempts;
        Delivered { outcome: sent.complete(cookies), replay, attempts }
    }

    /// Why a request to `host` must not be sent now: the store's breaker of the host
    /// is open, or the host is paused (read from the store, as its workers do);
    /// without a store, this process's breaker is open. `None`: send it.
    async fn breaker_refusal(&self, host: &str) -> Option<String> {
        let now = chrono::Utc::now();
        let Some(store) = &self.store else {
            let mut breakers = self.breakers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            breakers.reports.clear();
            return breakers.refusal(host, now);
        };
        let store = store.clone();
        // A store that cannot be read says nothing against sending.
        let states = tokio::task::spawn_blocking(move || store.hosts()).await.ok()?.ok()?;
        let mut watch = HostWatch::default();
        watch.replace(states, &BreakerPolicy::default(), now);
        watch.refusal(host, now)
    }

    /// Renders a request without sending anything, as [`Executor::dry_run`] does,
    /// with the `Idempotency-Key` a delivery would add.
    pub fn dry_run(
        &self,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        cookies: &Cookies,
    ) -> Result<DryRun, String> {
        let mut dry_run = self.executor.dry_run(request, variables, context, cookies)?;
        let has_key = dry_run.headers.keys().any(|name| name.eq_ignore_ascii_case(crate::request::IDEMPOTENCY_HEADER));
        if self.needs_key(request) && !has_key {
            dry_run.headers.insert("idempotency-key".to_owned(), new_idempotency_key());
        }
        Ok(dry_run)
    }

    /// Whether a request may be sent again, and so needs an `Idempotency-Key`: with
    /// a store, every request (it may be kept and replayed); without, a POST or
    /// PATCH that its `[retry]` may send more than once.
    fn needs_key(&self, request: &CompiledRequest) -> bool {
        let retried = request.retry().is_some_and(|policy| policy.attempts > 1);
        self.store.is_some() || (retried && matches!(request.method(), Method::Post | Method::Patch))
    }

    /// The replay store's hook: a queued request is saved instead of sent, and one
    /// that failed for want of an answer is kept for replay.
    async fn keep(
        &self,
        sent: &mut Sent,
        request: &CompiledRequest,
        variables: &(dyn VariableSource + Sync),
        context: &Context,
        key_supplied: bool,
    ) -> Option<Kept> {
        sent.prepared.as_ref()?;
        let Some(store) = &self.store else {
            if request.is_queued() {
                sent.fail("queue = true needs a replay store, and there is none; nothing was sent");
            }
            return None;
        };
        if !(request.is_queued() || worth_keeping(&sent.outcome)) {
            return None;
        }
        let prepared = sent.prepared.clone()?;
        let supplied_key = key_supplied || request.idempotency_key.is_some();
        let owned = (supplied_key, self.tenant.as_deref());
        let kept = keep(store, request, prepared, variables, context, sent, owned).await;
        match kept {
            Ok(kept) => {
                sent.note(kept.to_string());
                Some(kept)
            }
            Err(why) if request.is_queued() => {
                sent.fail(format!("cannot queue the request: {why}; nothing was sent"));
                None
            }
            Err(why) => {
                sent.note(format!("not kept for replay: {why}"));
                None
            }
        }
    }
}

/// Sends a prepared call, and again as `policy` allows: each wait is the
/// service's `Retry-After` (up to the policy's cap) or the backoff, and only a
/// wait that fits what is left of the request's time limit is waited — else it
/// stops at once, with the last answer as the outcome. Every attempt is in the
/// log (the exchange, and a note saying why another follows or not) and in the
/// events. Each attempt first waits for room under `throttle`'s limits of `host`;
/// when none came in time the first attempt's refusal is returned (nothing was
/// sent), and a later one's ends the retries with a note.
async fn send_with_retries(
    call: &mut Call<'_>,
    policy: Option<&RetryPolicy>,
    throttle: &Throttle,
    host: Option<&str>,
) -> Option<String> {
    let policy = policy.filter(|policy| policy.attempts > 1);
    let resendable = call.prepared().is_some_and(may_resend);
    loop {
        let slot = match host {
            Some(host) => match throttle.enter(host, call.deadline().into()).await {
                Ok(slot) => slot,
                Err(why) if call.attempts() == 0 => return Some(why),
                Err(why) => {
                    call.note(format!("not sent again: {why}"));
                    return None;
                }
            },
            None => None,
        };
        let sent = call.send().await;
        drop(slot);
        let attempt = sent?;
        let policy = policy?;
        match next(policy, &attempt, call.attempts(), call.deadline()) {
            Next::Retry { .. } if !resendable => {
                call.note("not sent again: a POST or PATCH is retried only with an Idempotency-Key");
                return None;
            }
            Next::Stop(note) => {
                if let Some(note) = note {
                    call.note(note);
                }
                return None;
            }
            Next::Retry { wait, note } => {
                call.note(note);
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn deliveries_are_shared_and_their_runs_can_be_spawned() {
        fn assert_send_sync_clone<T: Send + Sync + Clone>() {}
        fn assert_send<T: Send>(_: &T) {}
        assert_send_sync_clone::<Delivery>();
        let text = "url = \"http://127.0.0.1:9/\"\n[retry]\nattempts = 3\n";
        let request =
            CompiledRequest::from_toml(&crate::Engine::new(), text, Path::new(".")).expect("the spec compiles");
        let delivery = Delivery::new(Executor::new());
        let variables = crate::Variables::new();
        let context = Context::default();
        let mut cookies = Cookies::new();
        assert_send(&delivery.execute(&request, &variables, &context, &mut cookies));
    }
}
