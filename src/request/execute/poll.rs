//! Polling a `202 Accepted` job (`[poll]`): the answer's `Location` asked with GET,
//! each poll checked like a redirect hop (the destination policy, credentials only
//! to the request's origin), after the answer's `Retry-After` or the spec's
//! interval, until another status comes — at most `max_polls` times and before the
//! request's deadline. The last answer is the request's.

use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{self, HeaderName};

use super::super::auth::DigestCredentials;
use super::super::log::{LogEntry, Redactor};
use super::super::poll::PollPolicy;
use super::super::redirect::{self, Hop};
use super::super::retry::retry_after;
use super::super::sign;
use super::super::spec::Timeouts;
use super::transport::{Response, Run};
use super::{Executor, Failure, Following};
use crate::events::EventKind;

/// How a dry run describes `[poll]`.
pub(super) fn describe(policy: &PollPolicy) -> String {
    let statuses: Vec<String> = policy.statuses.iter().map(u16::to_string).collect();
    format!(
        "an answer of {} is polled: GET its Location every {} (or its Retry-After), at most {} times, within the timeout",
        statuses.join(" or "),
        humantime::format_duration(policy.interval),
        policy.max_polls
    )
}

/// The polls logged one by one (their notes, requests and answers) besides the
/// last: those between are folded into one note, so that a job a hostile service
/// keeps pending for `max_polls` polls (with long `Location`s and large answers,
/// under `debug`) cannot grow the log without bound.
const POLLS_LOGGED: u32 = 10;

/// A poll that ran out of polls or of time: the request's timeout event.
fn gave_up(message: String) -> Failure {
    Failure { kind: EventKind::Timeout, message, refused: false, connection: false }
}

impl Executor {
    /// Polls the job `first` (an answer of one of the policy's statuses to
    /// `request`) until another status comes; that answer is given back. Digest
    /// `credentials` answer a challenge only at the request's origin.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn poll(
        &self,
        first: Response,
        request: &Hop,
        credentials: Option<&DigestCredentials>,
        policy: &PollPolicy,
        following: Following<'_>,
        timeouts: &Timeouts,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let mut request = request.clone();
        // The signature was the first request's: a poll is not that message.
        for name in [sign::ID_HEADER, sign::TIMESTAMP_HEADER, sign::SIGNATURE_HEADER] {
            request.headers.remove(HeaderName::from_static(name));
        }
        let (mut response, mut at, mut location) = (first, request.url.clone(), None);
        let mut polls = 0;
        // Where the last poll's log entries start, and the note the folded polls are counted in.
        let (mut last_poll, mut folded) = (None, None);
        while policy.statuses.contains(&response.status) {
            let status = response.status;
            // A poll's answer that names no new Location is asked at the same one again.
            match response.headers.get(header::LOCATION) {
                Some(value) => location = Some(value.clone()),
                None if polls == 0 => {
                    run.log
                        .push(LogEntry::note(format!("the {status} answer has no Location to poll: it is the answer")));
                    return Ok(response);
                }
                None => {}
            }
            let Some(location) = &location else { return Ok(response) };
            if polls >= policy.max_polls {
                return Err(gave_up(format!(
                    "the job was not done after {polls} polls (poll.max_polls = {}): the last answer was {status}",
                    policy.max_polls
                )));
            }
            let wait = response
                .headers
                .get(header::RETRY_AFTER)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| retry_after(value, SystemTime::now()))
                .unwrap_or(policy.interval);
            let left = following.deadline.saturating_duration_since(Instant::now());
            if wait >= left {
                return Err(gave_up(format!(
                    "the job was not done after {polls} polls: the next poll is due in {}, after the request's \
                     timeout runs out (in {})",
                    shown(wait),
                    shown(left)
                )));
            }
            let (hop, dropped) =
                redirect::poll_hop(&request, &at, status, location, redactor).map_err(Failure::refused)?;
            let mut note = format!(
                "the service answered {status}: poll {} of at most {} in {}: GET {}",
                polls + 1,
                policy.max_polls,
                shown(wait),
                hop.url
            );
            if !dropped.is_empty() {
                note.push_str(&format!(" (another origin: {} not sent)", dropped.join(", ")));
            }
            // Another poll follows, so the one before it was not the last.
            if polls > POLLS_LOGGED
                && let Some(start) = last_poll
            {
                fold(&mut run.log, start, &mut folded, polls);
            }
            last_poll = Some(run.log.len());
            run.log.push(LogEntry::note(note));
            tokio::time::sleep(wait).await;
            polls += 1;
            at = hop.url.clone();
            let answering = credentials.filter(|_| dropped.is_empty() && same_origin(&request.url, &hop.url));
            let sending = self.send_answering(hop, answering, timeouts, following.redirects, redactor, run);
            response = match tokio::time::timeout_at(following.deadline.into(), sending).await {
                Ok(Ok(response)) => response,
                Ok(Err(failure)) if failure.refused => {
                    let message = format!("poll {polls} of the {status} job: {}", failure.message);
                    return Err(Failure { message, ..failure });
                }
                Ok(Err(failure)) => return Err(failure),
                Err(_) => {
                    let message = format!(
                        "the job was not done after {polls} polls: the request's timeout ran out during poll {polls}"
                    );
                    run.interrupt(&message);
                    return Err(gave_up(message));
                }
            };
        }
        if polls > 0 {
            run.log.push(LogEntry::note(format!("the job answered {} after {polls} polls", response.status)));
        }
        Ok(response)
    }
}

/// Takes the entries of poll `poll` (from `start` on) out of `log`, counting it in
/// the note of the folded polls (added where the first of them stood).
fn fold(log: &mut Vec<LogEntry>, start: usize, folded: &mut Option<usize>, poll: u32) {
    log.truncate(start);
    let message = format!(
        "polls {} to {poll}: not logged one by one (the first {POLLS_LOGGED} polls and the last are)",
        POLLS_LOGGED + 1
    );
    match folded.and_then(|at| log.get_mut(at)) {
        Some(note) => note.message = message,
        None => {
            *folded = Some(log.len());
            log.push(LogEntry::note(message));
        }
    }
}

/// Whether two URLs share an origin.
pub(super) fn same_origin(first: &str, second: &str) -> bool {
    match (url::Url::parse(first), url::Url::parse(second)) {
        (Ok(first), Ok(second)) => first.origin() == second.origin(),
        _ => false,
    }
}

/// A wait as a person reads it, to the millisecond.
fn shown(wait: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_millis(wait.as_millis() as u64))
}
