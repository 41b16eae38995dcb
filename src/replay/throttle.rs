//! Destination limits for direct sends, in one process: a host's `concurrency`
//! (requests in flight) and `rate` (requests started in a sliding window) from a
//! limits file, held by every attempt that `send`, `serve` or a library
//! [`super::Delivery`] makes. The queue's workers apply the same limits
//! fleet-wide through their store's claims; a direct send waits here instead.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::limits::{Limits, Rate};

/// Hosts kept before the idle ones are swept out.
const MAX_HOSTS: usize = 4096;

/// The longest window a `rate` may have (`"N/min"`).
const LONGEST_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// The use of each limited host, and a wake-up for the sends that wait.
#[derive(Debug, Default)]
pub(crate) struct Throttle {
    limits: Limits,
    hosts: Mutex<HashMap<String, HostUse>>,
    freed: Notify,
}

/// A limited host's requests in flight, and when those of a rated host that
/// ended still inside its window ended.
#[derive(Debug, Default)]
struct HostUse {
    in_flight: u32,
    ended: VecDeque<Instant>,
}

/// A request in flight to a limited host: its room is given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot<'a> {
    throttle: &'a Throttle,
    host: String,
    rated: bool,
}

/// Why a send may not start yet: the limit in the way, and until when at least.
enum Blocked {
    /// All of the host's `concurrency` is in flight: until one ends.
    InFlight(u32),
    /// The host's `rate` is used up: until the oldest request that ended leaves
    /// the window (`None`: all are in flight, until one ends).
    Rate(Rate, Option<Instant>),
}

impl Throttle {
    /// A throttle for `limits` (its `per_host` is the worker's and is not applied
    /// to direct sends).
    pub(crate) fn new(limits: Limits) -> Throttle {
        Throttle { limits: Limits { per_host: None, ..limits }, ..Throttle::default() }
    }

    /// Waits, until `deadline` at the latest, for room to send one request to
    /// `host`; the slot holds it until dropped. `Ok(None)`: the host has no limit.
    /// `Err` says which limit left no room in time; nothing may be sent then.
    pub(crate) async fn enter(&self, host: &str, deadline: Instant) -> Result<Option<Slot<'_>>, String> {
        let cap = self.limits.concurrency(host);
        let rate = self.limits.rate(host);
        if cap.is_none() && rate.is_none() {
            return Ok(None);
        }
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the look, so that a slot given back after it wakes this send.
            freed.as_mut().enable();
            let now = Instant::now();
            let blocked = {
                let mut hosts = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                if hosts.len() >= MAX_HOSTS && !hosts.contains_key(host) {
                    // Many hosts under a `*.suffix`: forget those idle for a longest window.
                    hosts.retain(|_, using| {
                        using.in_flight > 0 || using.ended.back().is_some_and(|last| now < *last + LONGEST_WINDOW)
                    });
                }
                let using = hosts.entry(host.to_owned()).or_default();
                if let Some(rate) = rate {
                    while using.ended.front().is_some_and(|end| now >= *end + rate.per) {
                        using.ended.pop_front();
                    }
                }
                // A request counts toward a rate from its start until a window after
                // it ended: however long it took to reach the service, no window of
                // the service's clock sees more than the rate.
                let started = using.in_flight as usize + using.ended.len();
                match (cap, rate) {
                    (Some(cap), _) if using.in_flight >= cap => Blocked::InFlight(cap),
                    (_, Some(rate)) if started >= rate.count as usize => {
                        Blocked::Rate(rate, using.ended.front().map(|end| *end + rate.per))
                    }
                    _ => {
                        using.in_flight += 1;
                        return Ok(Some(Slot { throttle: self, host: host.to_owned(), rated: rate.is_some() }));
                    }
                }
            };
            // Still no room at the deadline (the loop looks once more after each wait).
            if now >= deadline {
                return Err(refusal(host, &blocked));
            }
            let until = match blocked {
                Blocked::InFlight(_) | Blocked::Rate(_, None) => deadline,
                Blocked::Rate(_, Some(at)) => at.min(deadline),
            };
            tokio::select! {
                () = &mut freed => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    /// Gives a slot back: one fewer in flight (a rated host notes when it ended),
    /// and a host forgotten once idle.
    fn leave(&self, host: &str, rated: bool) {
        let mut hosts = self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(using) = hosts.get_mut(host) {
            using.in_flight = using.in_flight.saturating_sub(1);
            if rated {
                using.ended.push_back(Instant::now());
            }
            // A host with nothing in flight and nothing in a window is forgotten, so
            // the map holds only hosts in use (ends age out on the next look, or the sweep).
            if using.in_flight == 0 && using.ended.is_empty() {
                hosts.remove(host);
            }
        }
        drop(hosts);
        self.freed.notify_waiters();
    }
}

/// Why a send to `host` was refused: the limit that left no room in time.
fn refusal(host: &str, blocked: &Blocked) -> String {
    let limit = match blocked {
        Blocked::InFlight(cap) => format!("concurrency = {cap}: that many requests were in flight"),
        Blocked::Rate(rate, _) => format!("rate = \"{rate}\": the window was full"),
    };
    format!("the destination limit of {host} ({limit}) left no room within the request's timeout; nothing was sent")
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.throttle.leave(&self.host, self.rated);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::replay::limits::Limits;

    fn limits(text: &str) -> Limits {
        Limits { per_host: None, destinations: Limits::parse_file(text).expect("a limits file") }
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_at_its_concurrency_waits_for_a_slot_and_gives_up_at_the_deadline() {
        let throttle = Throttle::new(limits("[[destination]]\nhost = \"a.test\"\nconcurrency = 1\n"));
        let deadline = Instant::now() + Duration::from_secs(5);
        let first = throttle.enter("a.test", deadline).await.unwrap();
        assert!(first.is_some());
        assert!(throttle.enter("b.test", deadline).await.unwrap().is_none(), "another host has no limit");
        let error = throttle.enter("a.test", Instant::now() + Duration::from_millis(100)).await.unwrap_err();
        assert!(error.contains("concurrency = 1") && error.contains("nothing was sent"), "{error}");
        drop(first);
        assert!(throttle.enter("a.test", deadline).await.unwrap().is_some(), "the slot was given back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_host_at_its_rate_waits_for_its_oldest_start_to_leave_the_window() {
        let throttle = Throttle::new(limits("[[destination]]\nhost = \"a.test\"\nrate = \"2/s\"\n"));
        let start = Instant::now();
        let deadline = start + Duration::from_secs(5);
        for _ in 0..2 {
            throttle.enter("a.test", deadline).await.unwrap();
        }
        throttle.enter("a.test", deadline).await.unwrap();
        assert!(Instant::now() >= start + Duration::from_secs(1), "the third start waited a window");
        throttle.enter("a.test", deadline).await.unwrap();
        assert!(Instant::now() < start + Duration::from_millis(1001), "the fourth had room in the new window");
        let error = throttle.enter("a.test", Instant::now() + Duration::from_millis(10)).await.unwrap_err();
        assert!(error.contains("rate = \"2/s\""), "{error}");
    }
}
