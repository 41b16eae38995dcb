//! The spec's `[poll]` table: the asynchronous `202 Accepted` pattern. What it
//! says ([`PollSpec`]), what it compiles to ([`PollPolicy`]), and how long to wait
//! before the next poll. The polling itself (GET the `Location`, checked like a
//! redirect hop, until another status comes) is the executor's.

use std::time::Duration;

use serde::Deserialize;

use super::spec::Problems;

/// The statuses polled when `[poll]` names none.
pub const DEFAULT_POLL_STATUSES: [u16; 1] = [202];

/// The polls made when `[poll]` does not say.
pub const DEFAULT_MAX_POLLS: u32 = 30;

/// The most polls a spec may ask for.
pub const MOST_POLLS: u32 = 1_000;

/// `[poll]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollSpec {
    /// The statuses that mean "not done yet: ask the `Location` again" (default `[202]`).
    #[serde(default)]
    pub statuses: Option<Vec<u16>>,
    /// The wait before each poll when the answer has no `Retry-After` (default `1s`).
    #[serde(default)]
    pub interval: Option<String>,
    /// The most GETs of the `Location` (default 30).
    #[serde(default)]
    pub max_polls: Option<u32>,
}

/// `[poll]` compiled: every field checked, defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollPolicy {
    /// The statuses polled.
    pub statuses: Vec<u16>,
    /// The wait before a poll when the answer names none.
    pub interval: Duration,
    /// The most polls.
    pub max_polls: u32,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            statuses: DEFAULT_POLL_STATUSES.to_vec(),
            interval: Duration::from_secs(1),
            max_polls: DEFAULT_MAX_POLLS,
        }
    }
}

/// Checks `[poll]`, recording each problem at its field.
pub(crate) fn compile(spec: &PollSpec, problems: &mut Problems) -> PollPolicy {
    let default = PollPolicy::default();
    let statuses = match &spec.statuses {
        None => default.statuses,
        Some(statuses) => {
            if statuses.is_empty() {
                problems.push("poll.statuses", "is empty: write [202]");
            }
            for (position, status) in statuses.iter().enumerate() {
                // A 3xx is a redirect (followed), an error is an answer: only a
                // success that says "accepted, not done" is polled.
                if !(200..=299).contains(status) || *status == 200 {
                    problems.push(
                        format!("poll.statuses[{position}]"),
                        format!("{status} does not say a job is under way: write a 2xx status such as 202"),
                    );
                }
            }
            statuses.clone()
        }
    };
    let max_polls = match spec.max_polls {
        None => default.max_polls,
        Some(polls @ 1..=MOST_POLLS) => polls,
        Some(polls) => {
            problems.push("poll.max_polls", format!("{polls} is not between 1 and {MOST_POLLS}"));
            default.max_polls
        }
    };
    PollPolicy {
        statuses,
        interval: problems.duration("poll.interval", spec.interval.as_deref(), default.interval),
        max_polls,
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
    fn an_empty_poll_table_takes_the_defaults() {
        let request = load("[poll]\n").unwrap();
        assert_eq!(request.poll(), Some(&PollPolicy::default()));
        assert_eq!(PollPolicy::default().statuses, [202]);
        assert!(load("").unwrap().poll().is_none());
    }

    #[test]
    fn statuses_polls_and_interval_are_checked() {
        let error = load("[poll]\nstatuses = [202, 500, 200]\nmax_polls = 0\ninterval = \"0s\"\n").unwrap_err();
        let text = error.to_string();
        for expected in [
            "poll.statuses[1]: 500 does not say",
            "poll.statuses[2]: 200 does not say",
            "poll.max_polls: 0 is not between",
            "poll.interval: must be longer than zero",
        ] {
            assert!(text.contains(expected), "{expected}\n{text}");
        }
        let policy = load("[poll]\nstatuses = [202, 204]\nmax_polls = 5\ninterval = \"250ms\"\n").unwrap();
        let policy = policy.poll().unwrap();
        assert_eq!((policy.max_polls, policy.interval), (5, Duration::from_millis(250)));
    }
}
