//! Fairness between tenants and destinations (issue #22): the host a record is
//! sent to, and the order a claim takes due records in — round robin between the
//! tenants that have due records and, within a tenant, between its hosts — so
//! that one tenant's flood to one host delays another tenant's first due record
//! by at most one round, not by the whole flood.
//!
//! PostgreSQL orders in its claim's SQL (`claim_sql` in `pg.rs`); SQLite by
//! [`fair_order`]. Both follow the same rules, written down at [`fair_order`].

use std::collections::HashMap;

/// The host a URL is sent to, as fairness, limits and breakers name it: the host
/// in lower case, with `:PORT` when the URL names a port other than its scheme's
/// default; empty for a URL that does not parse (such a record cannot be sent
/// anyway).
pub fn host_of(url: &str) -> String {
    let Ok(url) = url::Url::parse(url) else { return String::new() };
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
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
