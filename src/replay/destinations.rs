//! Fairness between tenants and destinations (issue #22): the host a record is
//! sent to, and the order a claim takes due records in — round robin between the
//! tenants that have due records and, within a tenant, between its hosts — so
//! that one tenant's flood to one host delays another tenant's first due record
//! by at most one round, not by the whole flood.
//!
//! PostgreSQL orders in its claim's SQL (`claim_sql` in `pg.rs`); SQLite by
//! [`fair_order`]. Both follow the same rules, written down at [`fair_order`].

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// The longest host [`host_of`] gives, in bytes: DNS's longest name.
pub const MAX_HOST_BYTES: usize = 253;

/// The host a URL is sent to, as fairness, limits and breakers name it: the host
/// in lower case, with `:PORT` when the URL names a port other than its scheme's
/// default; empty for a URL that does not parse (such a record cannot be sent
/// anyway); cut to [`MAX_HOST_BYTES`].
pub fn host_of(url: &str) -> String {
    let Ok(url) = url::Url::parse(url) else { return String::new() };
    let mut host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    // A name is at most 253 bytes in DNS; a longer one cannot be sent to, but it
    // is a key of the stores' indexes, which must not grow past their limits.
    if host.len() > MAX_HOST_BYTES {
        let cut = (0..=MAX_HOST_BYTES).rev().find(|at| host.is_char_boundary(*at)).unwrap_or(0);
        host.truncate(cut);
    }
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// The longest a breaker's cooldown grows to while its probes fail.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(600);

/// A host's circuit breaker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Breaker {
    /// Requests go.
    #[default]
    Closed,
    /// Too many attempts failed in a row: nothing goes until the probe time.
    Open,
    /// The cooldown passed and one probe is out: its outcome closes or reopens it.
    HalfOpen,
}

impl Breaker {
    /// The state's name: `closed`, `open`, `half-open`.
    pub fn as_str(self) -> &'static str {
        match self {
            Breaker::Closed => "closed",
            Breaker::Open => "open",
            Breaker::HalfOpen => "half-open",
        }
    }

    /// The value of `courier_breaker_open`: 1 open, 0.5 half-open, 0 closed.
    pub fn gauge(self) -> f64 {
        match self {
            Breaker::Closed => 0.0,
            Breaker::Open => 1.0,
            Breaker::HalfOpen => 0.5,
        }
    }

    /// The state of a name; an unknown one reads as closed.
    pub fn parse(name: &str) -> Breaker {
        match name {
            "open" => Breaker::Open,
            "half-open" => Breaker::HalfOpen,
            _ => Breaker::Closed,
        }
    }
}

/// When a host's breaker opens, and how long it stays open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failed attempts (no answer, timeout, 5xx, 429) that open it.
    pub failures: u32,
    /// The first cooldown before a probe; it doubles while probes fail, up to
    /// [`MAX_COOLDOWN`].
    pub cooldown: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        BreakerPolicy { failures: 5, cooldown: Duration::from_secs(30) }
    }
}

/// A destination host's state, shared by every worker of a store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostState {
    /// The host (see [`host_of`]).
    pub host: String,
    /// Attempts failed in a row.
    pub failures: u32,
    /// Its breaker.
    pub breaker: Breaker,
    /// The cooldown in force (zero while closed).
    pub cooldown: Duration,
    /// When an open breaker lets its probe through (half-open: when the probe's
    /// claim lapses).
    pub probe_at: Option<DateTime<Utc>>,
    /// Until when the fleet sends it nothing (a `Retry-After`).
    pub paused_until: Option<DateTime<Utc>>,
}

/// How an attempt at a host went, for its breaker and pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReport {
    /// The host.
    pub host: String,
    /// Whether the attempt failed for want of a good answer (no connection,
    /// timeout, 5xx, 429); an answer of any other status is a success here.
    pub failed: bool,
    /// Until when the service asked the fleet to wait (`Retry-After` on a 429 or 503).
    pub pause_until: Option<DateTime<Utc>>,
}

impl HostState {
    /// The state after `report`, at `now`, under `policy`: a success closes the
    /// breaker; a failure counts, opens a closed breaker at `policy.failures`, and
    /// reopens a half-open one (its probe failed) with the cooldown doubled, up to
    /// [`MAX_COOLDOWN`]. A pause only ever moves later.
    pub fn apply(&mut self, report: &HostReport, policy: &BreakerPolicy, now: DateTime<Utc>) {
        if let Some(until) = report.pause_until
            && self.paused_until.is_none_or(|paused| paused < until)
        {
            self.paused_until = Some(until);
        }
        if !report.failed {
            self.failures = 0;
            self.breaker = Breaker::Closed;
            self.cooldown = Duration::ZERO;
            self.probe_at = None;
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let cooldown = match self.breaker {
            Breaker::Closed if self.failures >= policy.failures.max(1) => policy.cooldown,
            Breaker::HalfOpen => self.cooldown.max(policy.cooldown).saturating_mul(2).min(MAX_COOLDOWN),
            // Closed below the threshold, or open (a late failure of a record sent
            // before it opened): nothing more.
            _ => return,
        };
        self.breaker = Breaker::Open;
        self.cooldown = cooldown;
        self.probe_at = Some(now + TimeDelta::from_std(cooldown).unwrap_or(TimeDelta::MAX));
    }

    /// What a claim may take of this host at `now` (the stores read it from their
    /// columns with [`Gate::of`]).
    #[cfg(test)]
    pub(crate) fn gate(&self, now: DateTime<Utc>) -> Gate {
        Gate::of(
            self.breaker.as_str(),
            self.probe_at.map(|at| at.timestamp_millis()),
            self.paused_until.map(|at| at.timestamp_millis()),
            now.timestamp_millis(),
        )
    }
}

/// How often a busy worker reads the hosts' shared state (and writes its
/// reports): a breaker opened or a pause asked for by another worker's answer
/// reaches this worker's buffered records within this time.
pub(crate) const REFRESH: Duration = Duration::from_millis(200);

/// The most hosts a [`HostWatch`] remembers before it forgets those whose breaker is closed.
const MAX_KNOWN: usize = 4096;

/// A worker's view of the hosts' shared state, and the reports it has yet to write.
#[derive(Debug, Default)]
pub(crate) struct HostWatch {
    known: HashMap<String, HostState>,
    /// Reports not written yet, in order.
    pub reports: Vec<HostReport>,
}

impl HostWatch {
    /// Notes how an attempt at `host` went. Only what changes something is kept
    /// for the store — a failure, a pause, or a success at a host with failures
    /// or a breaker — so that a healthy fleet writes nothing more; the view takes
    /// it at once, so that this worker stops sending to a host it saw fail.
    pub fn note(&mut self, report: HostReport, policy: &BreakerPolicy, now: DateTime<Utc>) {
        let known = self.known.get(&report.host);
        let trivial = !report.failed
            && report.pause_until.is_none()
            && known.is_none_or(|state| state.failures == 0 && state.breaker == Breaker::Closed);
        if trivial {
            return;
        }
        let state = self
            .known
            .entry(report.host.clone())
            .or_insert_with(|| HostState { host: report.host.clone(), ..HostState::default() });
        state.apply(&report, policy, now);
        self.reports.push(report);
        // Bounded: a process sending to ever new failing hosts forgets the closed ones.
        if self.known.len() > MAX_KNOWN {
            self.known.retain(|_, state| state.breaker != Breaker::Closed);
        }
    }

    /// Whether a record for `host` must not be sent now: it is paused, or its
    /// breaker is open and its probe time has not come. A half-open breaker's
    /// record goes: a claim gives a half-open host's one record, its probe.
    pub fn shut(&self, host: &str, now: DateTime<Utc>) -> bool {
        self.known.get(host).is_some_and(|state| {
            state.paused_until.is_some_and(|until| until > now)
                || (state.breaker == Breaker::Open && state.probe_at.is_some_and(|at| at > now))
        })
    }

    /// What is known of `host`.
    pub fn state(&self, host: &str) -> Option<&HostState> {
        self.known.get(host)
    }

    /// Why a request to `host` must not be sent at `now`, for its outcome's error:
    /// the host is paused, or its breaker is open; `None` when it may be sent.
    pub fn refusal(&self, host: &str, now: DateTime<Utc>) -> Option<String> {
        let state = self.state(host).filter(|_| self.shut(host, now))?;
        let at = |time: Option<DateTime<Utc>>| {
            time.map_or_else(|| "-".to_owned(), |time| time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        };
        Some(match state.paused_until.filter(|until| *until > now) {
            Some(until) => format!("{host} is paused until {} (its Retry-After); nothing was sent", at(Some(until))),
            None => format!(
                "the circuit breaker of {host} is open after {} failed attempts in a row; it probes again at {}; \
                 nothing was sent",
                state.failures,
                at(state.probe_at)
            ),
        })
    }

    /// The store's view replaces this one, bar the reports not written yet.
    pub fn replace(&mut self, states: Vec<HostState>, policy: &BreakerPolicy, now: DateTime<Utc>) {
        self.known = states.into_iter().map(|state| (state.host.clone(), state)).collect();
        for report in &self.reports {
            let state = self
                .known
                .entry(report.host.clone())
                .or_insert_with(|| HostState { host: report.host.clone(), ..HostState::default() });
            state.apply(report, policy, now);
        }
    }
}

/// What a claim may take of a host's due records, by its breaker and pause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    /// Every due record.
    Closed,
    /// None: its breaker is open (or half-open with a probe out), or it is paused.
    Shut,
    /// One: the probe of a breaker whose cooldown has passed (or whose probe's
    /// lease lapsed without an outcome).
    Probe,
}

impl Gate {
    /// The gate of a host whose breaker is `breaker` (`closed`, `open`,
    /// `half-open`), probing at `probe_at` and paused until `paused_until`
    /// (milliseconds), at `now`.
    pub(crate) fn of(breaker: &str, probe_at: Option<i64>, paused_until: Option<i64>, now: i64) -> Gate {
        if paused_until.is_some_and(|until| until > now) {
            return Gate::Shut;
        }
        match breaker {
            "closed" => Gate::Closed,
            _ if probe_at.is_none_or(|at| at <= now) => Gate::Probe,
            _ => Gate::Shut,
        }
    }
}

/// A due record a claim may take: whose it is, where it goes, and when it was due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The record's id.
    pub id: i64,
    /// Its tenant (`""` for none).
    pub tenant: String,
    /// Its host.
    pub host: String,
    /// When it became due, in milliseconds.
    pub due: i64,
}

/// The ids of `candidates` in the order a claim takes them:
///
/// 1. within a tenant's host, the earliest due first (its turn at that host);
/// 2. within a tenant, by that turn, then the host whose earliest record has waited
///    longest: the tenant's hosts take turns;
/// 3. across tenants, by the turn within the tenant, then the tenant whose earliest
///    record has waited longest: tenants take turns.
///
/// So records of tenants A (hosts x, y) and B queue as `A·x B A·y A·x B …`.
pub(crate) fn fair_order(mut candidates: Vec<Candidate>) -> Vec<i64> {
    candidates.sort_by(|a, b| (&a.tenant, &a.host, a.due, a.id).cmp(&(&b.tenant, &b.host, b.due, b.id)));
    // Turn within (tenant, host), and each group's earliest due time.
    let mut host_turn = Vec::with_capacity(candidates.len());
    let mut host_head: HashMap<(&str, &str), i64> = HashMap::new();
    let mut tenant_head: HashMap<&str, i64> = HashMap::new();
    let mut previous: Option<(&str, &str)> = None;
    let mut turn = 0u64;
    for candidate in &candidates {
        let group = (candidate.tenant.as_str(), candidate.host.as_str());
        turn = if previous == Some(group) { turn + 1 } else { 1 };
        previous = Some(group);
        host_turn.push(turn);
        let head = host_head.entry(group).or_insert(candidate.due);
        *head = (*head).min(candidate.due);
        let head = tenant_head.entry(group.0).or_insert(candidate.due);
        *head = (*head).min(candidate.due);
    }
    // Turn within the tenant: by host turn, then host head, then host.
    let mut within: Vec<(usize, u64)> = (0..candidates.len()).map(|index| (index, host_turn[index])).collect();
    within.sort_by(|(a, a_turn), (b, b_turn)| {
        let (a, b) = (&candidates[*a], &candidates[*b]);
        let key = |c: &Candidate| (c.tenant.clone(), host_head[&(c.tenant.as_str(), c.host.as_str())], c.host.clone());
        (a.tenant.clone(), *a_turn, key(a)).cmp(&(b.tenant.clone(), *b_turn, key(b)))
    });
    let mut tenant_turn = vec![0u64; candidates.len()];
    let mut previous: Option<&str> = None;
    let mut turn = 0u64;
    for (index, _) in &within {
        let tenant = candidates[*index].tenant.as_str();
        turn = if previous == Some(tenant) { turn + 1 } else { 1 };
        previous = Some(tenant);
        tenant_turn[*index] = turn;
    }
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|index| {
        let candidate = &candidates[*index];
        (tenant_turn[*index], tenant_head[candidate.tenant.as_str()], candidate.tenant.clone())
    });
    order.into_iter().map(|index| candidates[index].id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_breaker_opens_after_its_failures_doubles_while_probes_fail_and_closes_on_success() {
        let policy = BreakerPolicy { failures: 3, cooldown: Duration::from_secs(30) };
        let now = Utc::now();
        let failed = HostReport { host: "x".into(), failed: true, pause_until: None };
        let mut state = HostState { host: "x".into(), ..HostState::default() };
        for _ in 0..2 {
            state.apply(&failed, &policy, now);
        }
        assert_eq!((state.breaker, state.failures), (Breaker::Closed, 2));
        state.apply(&failed, &policy, now);
        assert_eq!((state.breaker, state.cooldown), (Breaker::Open, Duration::from_secs(30)));
        assert_eq!(state.gate(now), Gate::Shut);
        assert_eq!(state.gate(now + TimeDelta::seconds(31)), Gate::Probe);
        let mut cooldowns = Vec::new();
        for _ in 0..6 {
            state.breaker = Breaker::HalfOpen;
            state.apply(&failed, &policy, now);
            cooldowns.push(state.cooldown.as_secs());
        }
        assert_eq!(cooldowns, [60, 120, 240, 480, 600, 600]);
        state.apply(&HostReport { failed: false, ..failed.clone() }, &policy, now);
        assert_eq!((state.breaker, state.failures, state.probe_at), (Breaker::Closed, 0, None));
    }

    #[test]
    fn a_pause_only_moves_later() {
        let (policy, now) = (BreakerPolicy::default(), Utc::now());
        let pause = |seconds| HostReport {
            host: "x".into(),
            failed: false,
            pause_until: Some(now + TimeDelta::seconds(seconds)),
        };
        let mut state = HostState::default();
        state.apply(&pause(10), &policy, now);
        state.apply(&pause(3), &policy, now);
        assert_eq!(state.paused_until, Some(now + TimeDelta::seconds(10)));
        assert_eq!(state.gate(now + TimeDelta::seconds(5)), Gate::Shut);
    }

    fn candidate(id: i64, tenant: &str, host: &str, due: i64) -> Candidate {
        Candidate { id, tenant: tenant.to_owned(), host: host.to_owned(), due }
    }

    #[test]
    fn hosts_are_named_in_lower_case_with_a_port_other_than_the_default() {
        assert_eq!(host_of("https://API.Example.org/x?y=1"), "api.example.org");
        assert_eq!(host_of("https://api.example.org:443/x"), "api.example.org");
        assert_eq!(host_of("http://127.0.0.2:8080/"), "127.0.0.2:8080");
        assert_eq!(host_of("http://user:pw@[::1]:9/"), "[::1]:9");
        assert_eq!(host_of("not a url"), "");
    }

    #[test]
    fn tenants_take_turns_and_a_tenants_hosts_take_turns() {
        // A floods x (ids 1-4, due first) and has one for y; B's two come later.
        let candidates = vec![
            candidate(1, "a", "x", 0),
            candidate(2, "a", "x", 0),
            candidate(3, "a", "x", 0),
            candidate(4, "a", "x", 0),
            candidate(5, "a", "y", 1),
            candidate(6, "b", "z", 5),
            candidate(7, "b", "z", 6),
        ];
        assert_eq!(fair_order(candidates), vec![1, 6, 5, 7, 2, 3, 4]);
    }

    #[test]
    fn one_tenant_one_host_keeps_the_due_order() {
        let candidates = vec![candidate(3, "", "x", 2), candidate(1, "", "x", 1), candidate(2, "", "x", 1)];
        assert_eq!(fair_order(candidates), vec![1, 2, 3]);
    }
}
