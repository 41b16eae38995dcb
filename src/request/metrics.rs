//! The metrics courier records, through the `metrics` facade: their names, help
//! texts and labels, and the few calls that record them. A host that installs its
//! own recorder gets them in its own exporter; `courier serve` and
//! `courier worker --metrics` install a Prometheus one (`docs/operations.md`).
//!
//! Labels carry fixed words (a status class, a delivery's fate) or a destination's
//! host name (its breaker), never a URL, a path, a header or a value of a request;
//! at most [`MAX_HOST_LABELS`] hosts are named, the rest share the label `other`.

use std::time::Instant;

/// Requests sent (attempts), by the class of the status that answered.
pub const ATTEMPTS: &str = "courier_attempts_total";
/// How long each attempt took, from the first byte sent to the last byte read.
pub const ATTEMPT_DURATION: &str = "courier_attempt_duration_seconds";
/// Attempts in flight in this process.
pub const IN_FLIGHT: &str = "courier_in_flight";
/// Queued records' fates at the end of each claim.
pub const DELIVERIES: &str = "courier_deliveries_total";
/// Queued records due now.
pub const QUEUE_DUE: &str = "courier_queue_due";
/// Queued records waiting for a later time.
pub const QUEUE_WAITING: &str = "courier_queue_waiting";
/// Each destination host's circuit breaker: 1 open, 0.5 half-open, 0 closed.
pub const BREAKER_OPEN: &str = "courier_breaker_open";

/// Hosts named in [`BREAKER_OPEN`]'s labels at most; the others are `other`, so
/// that a tenant's many hosts cannot grow the page without end.
pub const MAX_HOST_LABELS: usize = 100;

/// The hosts named in labels so far, in this process.
static LABELLED_HOSTS: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// The buckets of [`ATTEMPT_DURATION`], in seconds: from a loopback answer to the
/// longest time limit a spec may set.
pub const DURATION_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0];

/// Gives each metric its help text and unit, for the recorder in force.
pub fn describe() {
    metrics::describe_counter!(
        ATTEMPTS,
        "Requests sent (attempts), by the class of the status that answered (none: no answer)"
    );
    metrics::describe_histogram!(
        ATTEMPT_DURATION,
        metrics::Unit::Seconds,
        "How long each attempt took, redirects and an OAuth2 token fetch included"
    );
    metrics::describe_gauge!(IN_FLIGHT, "Attempts in flight in this process");
    metrics::describe_counter!(
        DELIVERIES,
        "Queued records' fates at the end of each claim: delivered, retry, dead or refused"
    );
    metrics::describe_gauge!(QUEUE_DUE, "Queued records due now (read from the store at most once a second)");
    metrics::describe_gauge!(
        QUEUE_WAITING,
        "Queued records waiting for a later attempt (read from the store at most once a second)"
    );
    metrics::describe_gauge!(
        BREAKER_OPEN,
        "Each destination host's circuit breaker: 1 open, 0.5 half-open, 0 closed (at most 100 hosts, then other)"
    );
}

/// The class of a status for [`ATTEMPTS`]: `2xx` … `5xx`, `none` without an answer.
pub fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        Some(_) | None => "none",
    }
}

/// One attempt measured: in flight from [`AttemptTimer::start`] until it ends or is
/// dropped (an attempt cut short by the request's time limit counts as `none`).
pub(crate) struct AttemptTimer {
    started: Instant,
    ended: bool,
}

impl AttemptTimer {
    pub(crate) fn start() -> AttemptTimer {
        metrics::gauge!(IN_FLIGHT).increment(1.0);
        AttemptTimer { started: Instant::now(), ended: false }
    }

    /// The attempt was answered with `status`, or not at all.
    pub(crate) fn answered(mut self, status: Option<u16>) {
        self.record(Some(status));
    }

    /// Courier refused to send it: no attempt was made, so none is counted.
    pub(crate) fn refused(mut self) {
        self.record(None);
    }

    fn record(&mut self, answered: Option<Option<u16>>) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        metrics::gauge!(IN_FLIGHT).decrement(1.0);
        if let Some(status) = answered {
            metrics::counter!(ATTEMPTS, "status_class" => status_class(status)).increment(1);
            metrics::histogram!(ATTEMPT_DURATION).record(self.started.elapsed().as_secs_f64());
        }
    }
}

impl Drop for AttemptTimer {
    fn drop(&mut self) {
        self.record(Some(None));
    }
}

/// A queued record's fate at the end of a claim, for [`DELIVERIES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Acknowledged and removed.
    Delivered,
    /// Failed; due again later.
    Retry,
    /// Its attempts ran out.
    Dead,
    /// The service refused it (a 4xx other than 429), or courier's policy did.
    Refused,
}

impl Fate {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Fate::Delivered => "delivered",
            Fate::Retry => "retry",
            Fate::Dead => "dead",
            Fate::Refused => "refused",
        }
    }
}

/// Counts a queued record's fate.
pub fn delivery(fate: Fate) {
    metrics::counter!(DELIVERIES, "result" => fate.as_str()).increment(1);
}

/// Sets the queue's gauges.
pub fn queue(due: u64, waiting: u64) {
    metrics::gauge!(QUEUE_DUE).set(due as f64);
    metrics::gauge!(QUEUE_WAITING).set(waiting as f64);
}

/// Sets the breakers' gauges from each host's state (1 open, 0.5 half-open, 0
/// closed). Past [`MAX_HOST_LABELS`] hosts, `other` shows the most open of the rest.
pub fn breakers<'a>(states: impl IntoIterator<Item = (&'a str, f64)>) {
    let mut labelled = LABELLED_HOSTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut other: Option<f64> = None;
    for (host, value) in states {
        let known = labelled.iter().any(|known| known == host);
        if known || labelled.len() < MAX_HOST_LABELS {
            if !known {
                labelled.push(host.to_owned());
            }
            metrics::gauge!(BREAKER_OPEN, "host" => host.to_owned()).set(value);
        } else {
            other = Some(other.map_or(value, |most| most.max(value)));
        }
    }
    if let Some(value) = other {
        metrics::gauge!(BREAKER_OPEN, "host" => "other").set(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "serve")]
    #[test]
    fn past_a_hundred_hosts_the_breakers_share_the_label_other() {
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let hosts: Vec<String> = (0..MAX_HOST_LABELS + 5).map(|n| format!("h{n}.example")).collect();
        metrics::with_local_recorder(&recorder, || {
            breakers(hosts.iter().enumerate().map(|(n, host)| (host.as_str(), if n == 102 { 1.0 } else { 0.0 })));
        });
        let page = handle.render();
        let series: Vec<&str> = page.lines().filter(|line| line.starts_with(BREAKER_OPEN)).collect();
        assert_eq!(series.len(), MAX_HOST_LABELS + 1, "{page}");
        assert!(page.contains("courier_breaker_open{host=\"h0.example\"} 0"), "{page}");
        assert!(!page.contains("h102.example"), "{page}");
        assert!(page.contains("courier_breaker_open{host=\"other\"} 1"), "the most open of the rest: {page}");
    }

    #[test]
    fn statuses_fall_into_their_class() {
        let classes: Vec<_> =
            [Some(200), Some(302), Some(404), Some(503), Some(99), None].into_iter().map(status_class).collect();
        assert_eq!(classes, ["2xx", "3xx", "4xx", "5xx", "none", "none"]);
    }
}
