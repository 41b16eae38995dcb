//! The spec's `[retry]` table: what it says ([`RetrySpec`], read by serde like the
//! other fields) and what it compiles to ([`RetryPolicy`], checked numbers with
//! their defaults). Only the data lives here: deciding whether and when to send a
//! request again is the delivery layer's (`crate::replay`), above the executor.

use std::time::{Duration, SystemTime};

use serde::Deserialize;

use super::spec::Problems;

/// The statuses retried when `[retry]` names none: timeouts, rate limits and the
/// server errors that say "try again" (RFC 9110 15.5.9, RFC 8470, RFC 6585 4).
pub const DEFAULT_RETRY_STATUSES: [u16; 7] = [408, 425, 429, 500, 502, 503, 504];

/// The most attempts a spec may ask for.
pub const MAX_ATTEMPTS: u32 = 10;

/// `[retry]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included (1 to 10; `attempts = 3` alone turns
    /// retries on with the default statuses).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// The statuses that are retried (default 408, 425, 429, 500, 502, 503, 504).
    #[serde(default)]
    pub statuses: Option<Vec<u16>>,
    /// Whether a connection that could not be opened is retried (default true).
    #[serde(default)]
    pub connection_errors: Option<bool>,
    /// Whether a response that went silent (the read timeout) is retried (default true).
    #[serde(default)]
    pub timeouts: Option<bool>,
    /// The wait before the second attempt; it doubles for each further one (default 500ms).
    #[serde(default)]
    pub backoff: Option<String>,
    /// The longest wait between attempts (default 5s).
    #[serde(default)]
    pub max_backoff: Option<String>,
    /// The longest `Retry-After` honoured (default 30s): a service that asks for a
    /// longer wait is not sent the request again.
    #[serde(default)]
    pub max_retry_after: Option<String>,
}

/// `[retry]` compiled: every field checked, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// The statuses that are retried.
    pub statuses: Vec<u16>,
    /// Whether a connection that could not be opened is retried.
    pub connection_errors: bool,
    /// Whether a response that went silent is retried.
    pub timeouts: bool,
    /// The wait before the second attempt (before jitter).
    pub backoff: Duration,
    /// The longest wait between attempts (before jitter).
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            statuses: DEFAULT_RETRY_STATUSES.to_vec(),
            connection_errors: true,
            timeouts: true,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

/// A `Retry-After` value as a wait from `now`: delay-seconds, or an HTTP date
/// (RFC 9110 10.2.3; a date in the past is no wait). `None` when it is neither.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        // More digits than a u64 holds is a very long wait all the same.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Checks `[retry]`, recording each problem at its field.
pub(crate) fn compile(spec: &RetrySpec, problems: &mut Problems) -> RetryPolicy {
    let default = RetryPolicy::default();
    let attempts = match spec.attempts {
        None => default.attempts,
        Some(attempts @ 1..=MAX_ATTEMPTS) => attempts,
        Some(attempts) => {
            problems.push(
                "retry.attempts",
                format!("{attempts} is not between 1 and {MAX_ATTEMPTS}: it counts every attempt, the first included"),
            );
            default.attempts
        }
    };
    let statuses = match &spec.statuses {
        None => default.statuses,
        Some(statuses) => {
            for (position, status) in statuses.iter().enumerate() {
                if !(400..=599).contains(status) {
                    problems.push(
                        format!("retry.statuses[{position}]"),
                        format!("{status} is not an error status (400 to 599)"),
                    );
                }
            }
            statuses.clone()
        }
    };
    let mut backoff = problems.duration("retry.backoff", spec.backoff.as_deref(), default.backoff);
    // Without its own cap, a longer first wait raises the cap to it.
    let max_backoff =
        problems.duration("retry.max_backoff", spec.max_backoff.as_deref(), default.max_backoff.max(backoff));
    if backoff > max_backoff {
        // Only a first wait the author wrote is their mistake; the default one yields.
        match spec.backoff {
            Some(_) => problems.push("retry.backoff", "is longer than retry.max_backoff"),
            None => backoff = max_backoff,
        }
    }
    RetryPolicy {
        attempts,
        statuses,
        connection_errors: spec.connection_errors.unwrap_or(default.connection_errors),
        timeouts: spec.timeouts.unwrap_or(default.timeouts),
        backoff,
        max_backoff,
        max_retry_after: problems.duration(
            "retry.max_retry_after",
            spec.max_retry_after.as_deref(),
            default.max_retry_after,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::Engine;
    use crate::request::CompiledRequest;

    fn load(text: &str) -> Result<CompiledRequest, super::super::SpecError> {
        CompiledRequest::from_toml(&Engine::new(), &format!("url = \"https://x.org\"\n{text}"), Path::new("."))
    }

    #[test]
    fn attempts_alone_turns_retries_on_with_the_default_statuses() {
        let request = load("[retry]\nattempts = 3\n").unwrap();
        let policy = request.retry().expect("a [retry] table");
        assert_eq!(policy.attempts, 3);
        assert_eq!(policy.statuses, [408, 425, 429, 500, 502, 503, 504]);
        assert!(policy.connection_errors && policy.timeouts);
        assert_eq!((policy.backoff, policy.max_backoff), (Duration::from_millis(500), Duration::from_secs(5)));
        assert!(load("").unwrap().retry().is_none());
    }

    #[test]
    fn a_queued_request_has_no_retry_table() {
        let error = load("queue = true\n[retry]\nattempts = 3\n").unwrap_err();
        assert!(error.to_string().contains("retry: a queued request is sent by the worker"), "{error}");
    }

    #[test]
    fn a_longer_first_wait_raises_the_default_cap_but_not_a_written_one() {
        let policy = load("[retry]\nattempts = 2\nbackoff = \"8s\"\n").unwrap().retry().cloned().unwrap();
        assert_eq!(policy.max_backoff, Duration::from_secs(8));
        let error = load("[retry]\nattempts = 2\nbackoff = \"8s\"\nmax_backoff = \"2s\"\n").unwrap_err();
        assert!(error.to_string().contains("retry.backoff: is longer than retry.max_backoff"), "{error}");
        // The default first wait, unwritten, yields to a smaller written cap.
        let policy = load("[retry]\nattempts = 2\nmax_backoff = \"100ms\"\n").unwrap().retry().cloned().unwrap();
        assert_eq!((policy.backoff, policy.max_backoff), (Duration::from_millis(100), Duration::from_millis(100)));
    }

    #[test]
    fn a_token_expired_status_is_not_also_a_retried_one() {
        let oauth2 = "[auth]\ntype = \"oauth2\"\ntoken_url = \"https://x.org/token\"\nclient_id = \"c\"\n\
                      client_secret = \"s\"\n";
        let error = load(&format!("{oauth2}[retry]\nattempts = 3\nstatuses = [503, 401]\n")).unwrap_err();
        assert!(error.to_string().contains("retry.statuses[1]: 401 means the token expired"), "{error}");
        let error = load(&format!("{oauth2}expired_statuses = [401, 403]\n[retry]\nattempts = 3\nstatuses = [403]\n"))
            .unwrap_err();
        assert!(error.to_string().contains("retry.statuses[0]: 403 means the token expired"), "{error}");
        assert!(load(&format!("{oauth2}[retry]\nattempts = 3\nstatuses = [403]\n")).is_ok());
        // Without OAuth2, a 401 may be retried like any status.
        assert!(load("[retry]\nattempts = 3\nstatuses = [401]\n").is_ok());
        let error = load(&format!("{oauth2}expired_statuses = []\n")).unwrap_err();
        assert!(error.to_string().contains("auth.expired_statuses: is empty"), "{error}");
    }
}
