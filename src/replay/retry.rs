//! The spec's `[retry]` at work in a direct send: whether an attempt's result is
//! sent again, how long to wait first (exponential backoff with jitter, or the
//! service's `Retry-After`), and whether that wait fits the time left.

use std::time::{Duration, Instant, SystemTime};

use crate::events::EventKind;
use crate::request::{Attempt, Method, Prepared, RetryPolicy};

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Send again after `wait`; the note says why, for the log.
    Retry { wait: Duration, note: String },
    /// Stop here; the note, when there is one, says why no retry.
    Stop(Option<String>),
}

/// Why an attempt's result may be retried under `policy`, or `None`.
pub(crate) fn retried_because(policy: &RetryPolicy, attempt: &Attempt) -> Option<String> {
    match attempt {
        Attempt::Answered { status, .. } => {
            policy.statuses.contains(status).then(|| format!("the service answered {status}"))
        }
        // The whole time limit ran out: there is no time for another.
        Attempt::Failed { kind: EventKind::Timeout, .. } | Attempt::Failed { refused: true, .. } => None,
        Attempt::Failed { kind: EventKind::ConnectTimeout, .. } | Attempt::Failed { connection: true, .. } => {
            policy.connection_errors.then(|| "no connection could be opened".to_owned())
        }
        Attempt::Failed { kind: EventKind::SocketTimeout, .. } => {
            policy.timeouts.then(|| "the response went silent (read timeout)".to_owned())
        }
        Attempt::Failed { .. } => None,
    }
}

/// Whether a request may be sent more than once: GET, PUT and DELETE are
/// idempotent (RFC 9110 9.2.2); POST and PATCH only with an `Idempotency-Key`,
/// the same on every attempt.
pub(crate) fn may_resend(prepared: &Prepared) -> bool {
    match prepared.method {
        Method::Get | Method::Put | Method::Delete => true,
        Method::Post | Method::Patch => prepared
            .headers
            .iter()
            .any(|(name, value)| name.eq_ignore_ascii_case(crate::request::IDEMPOTENCY_HEADER) && !value.is_empty()),
    }
}

/// The wait before attempt `attempts + 1`, when `attempts` were sent:
/// `backoff · 2^(attempts-1)`, at most `max_backoff`, of which a random half is
/// taken off ("equal jitter"), so that requests that failed together do not come
/// back together.
pub fn backoff(policy: &RetryPolicy, attempts: u32) -> Duration {
    let full = policy.backoff.saturating_mul(1 << attempts.saturating_sub(1).min(20)).min(policy.max_backoff);
    full / 2 + full.mul_f64(rand::random::<f64>() / 2.0)
}

pub use crate::request::retry::retry_after;

/// What to do after attempt number `attempts` of a request under `policy`, with
/// the request's time limit running out at `deadline`.
pub(crate) fn next(policy: &RetryPolicy, attempt: &Attempt, attempts: u32, deadline: Instant) -> Next {
    let Some(why) = retried_because(policy, attempt) else {
        return Next::Stop(None);
    };
    let of = policy.attempts;
    if attempts >= of {
        return Next::Stop(Some(format!("attempt {attempts} of {of}: {why}; no attempts left")));
    }
    let asked = match attempt {
        Attempt::Answered { retry_after: Some(value), .. } => retry_after(value, SystemTime::now()),
        _ => None,
    };
    let (wait, source) = match asked {
        Some(wait) if wait > policy.max_retry_after => {
            return Next::Stop(Some(format!(
                "attempt {attempts} of {of}: {why} with Retry-After {}, longer than max_retry_after {}; not sent again",
                humantime::format_duration(wait),
                humantime::format_duration(policy.max_retry_after)
            )));
        }
        Some(wait) => (wait, "Retry-After"),
        None => (backoff(policy, attempts), "backoff"),
    };
    let left = deadline.saturating_duration_since(Instant::now());
    if wait >= left {
        return Next::Stop(Some(format!(
            "attempt {attempts} of {of}: {why}; the wait before another ({}, {source}) does not fit the {} left of the \
             request's time limit: not sent again",
            shown(wait),
            shown(left)
        )));
    }
    Next::Retry {
        wait,
        note: format!("attempt {attempts} of {of}: {why}; attempt {} in {} ({source})", attempts + 1, shown(wait)),
    }
}

/// A wait as text, to the millisecond.
fn shown(wait: Duration) -> String {
    humantime::format_duration(Duration::from_millis(wait.as_millis() as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            attempts: 5,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(1),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn backoff_doubles_with_equal_jitter_up_to_the_cap() {
        let policy = policy();
        for (attempts, full_ms) in [(1, 200), (2, 400), (3, 800), (4, 1000), (9, 1000), (200, 1000)] {
            let full = Duration::from_millis(full_ms);
            let waits: Vec<Duration> = (0..200).map(|_| backoff(&policy, attempts)).collect();
            assert!(waits.iter().all(|wait| *wait >= full / 2 && *wait <= full), "{attempts}: {waits:?}");
            // The jitter spreads the waits: not all the same.
            assert!(waits.iter().any(|wait| *wait != waits[0]), "{attempts}: no jitter");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO), "a past date");
        assert_eq!(retry_after("99999999999999999999999", now), Some(Duration::from_secs(u64::MAX)));
        for bad in ["", "-1", "1.5", "soon", "Wed, 21 Oct 2015"] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn statuses_and_failures_are_judged_by_the_policy() {
        let policy = policy();
        let answered = |status| Attempt::Answered { status, retry_after: None };
        let failed = |kind, connection| Attempt::Failed { kind, connection, refused: false };
        assert!(retried_because(&policy, &answered(503)).is_some());
        assert!(retried_because(&policy, &answered(404)).is_none());
        assert!(retried_because(&policy, &failed(EventKind::Exception, true)).is_some());
        assert!(retried_because(&policy, &failed(EventKind::ConnectTimeout, false)).is_some());
        assert!(retried_because(&policy, &failed(EventKind::SocketTimeout, false)).is_some());
        assert!(retried_because(&policy, &failed(EventKind::Timeout, false)).is_none());
        assert!(retried_because(&policy, &failed(EventKind::Exception, false)).is_none());
        let refused = Attempt::Failed { kind: EventKind::Exception, connection: true, refused: true };
        assert!(retried_because(&policy, &refused).is_none());
        let off = RetryPolicy { connection_errors: false, timeouts: false, ..policy };
        assert!(retried_because(&off, &failed(EventKind::Exception, true)).is_none());
        assert!(retried_because(&off, &failed(EventKind::SocketTimeout, false)).is_none());
    }

    #[test]
    fn a_wait_that_does_not_fit_the_time_left_stops_at_once() {
        let policy = policy();
        let busy = Attempt::Answered { status: 503, retry_after: Some("10".to_owned()) };
        let soon = Instant::now() + Duration::from_secs(5);
        assert!(matches!(next(&policy, &busy, 1, soon), Next::Stop(Some(note)) if note.contains("does not fit")));
        let later = Instant::now() + Duration::from_secs(20);
        assert!(matches!(next(&policy, &busy, 1, later), Next::Retry { wait, .. } if wait == Duration::from_secs(10)));
        assert!(matches!(next(&policy, &busy, 5, later), Next::Stop(Some(note)) if note.contains("no attempts left")));
        let too_long = Attempt::Answered { status: 503, retry_after: Some("31".to_owned()) };
        let far = Instant::now() + Duration::from_secs(600);
        assert!(matches!(next(&policy, &too_long, 1, far), Next::Stop(Some(note)) if note.contains("max_retry_after")));
    }
}
