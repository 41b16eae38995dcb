//! Events: what a request run reports to the chat flow (`api_http_status_code_404`,
//! `api_socket_timeout_exception`, ...), the catalog of every event name the chat
//! platform knows, and the [`EventSink`] a host supplies to receive them.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Every event name the chat platform knows, with its description, one a line
/// (`name<TAB>description`), taken from the platform's event list.
const CATALOG: &str = include_str!("events/catalog.tsv");

/// What happened to a request, as the chat platform names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// The service answered 400.
    Status400,
    /// The service answered 403.
    Status403,
    /// The service answered 404.
    Status404,
    /// The service answered 500.
    Status500,
    /// The service answered another status of 400 or more.
    Status,
    /// The connection could not be opened in time.
    ConnectTimeout,
    /// The whole request ran out of time.
    Timeout,
    /// The connection went silent while waiting for or reading the response.
    SocketTimeout,
    /// Anything else: a refused connection, DNS, TLS, a template that failed, a file
    /// that could not be read, a secret that could not be resolved.
    Exception,
}

impl EventKind {
    /// Every kind courier emits.
    pub const ALL: [EventKind; 9] = [
        EventKind::Exception,
        EventKind::ConnectTimeout,
        EventKind::Status,
        EventKind::Status400,
        EventKind::Status403,
        EventKind::Status404,
        EventKind::Status500,
        EventKind::Timeout,
        EventKind::SocketTimeout,
    ];

    /// The event's name in the catalog.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Status400 => "api_http_status_code_400",
            EventKind::Status403 => "api_http_status_code_403",
            EventKind::Status404 => "api_http_status_code_404",
            EventKind::Status500 => "api_http_status_code_500",
            EventKind::Status => "api_http_status_code",
            EventKind::ConnectTimeout => "api_http_connect_timeout_exception",
            EventKind::Timeout => "api_http_timeout_exception",
            EventKind::SocketTimeout => "api_socket_timeout_exception",
            EventKind::Exception => "api_exception",
        }
    }

    /// The event for a response status, when the status is an error (400 or more).
    pub fn for_status(status: u16) -> Option<EventKind> {
        match status {
            400 => Some(EventKind::Status400),
            403 => Some(EventKind::Status403),
            404 => Some(EventKind::Status404),
            500 => Some(EventKind::Status500),
            _ if status >= 400 => Some(EventKind::Status),
            _ => None,
        }
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// One event: its name, when, which request (the URL without its query), and the
/// status or the error.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// What happened.
    pub name: EventKind,
    /// When it happened.
    pub time: DateTime<Utc>,
    /// The request's method.
    pub method: String,
    /// The request's URL without its query and fragment.
    pub url: String,
    /// The response status, when one came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// What went wrong, when no response came (or it could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Receives the events of every request run; the host decides where they go
/// (its analytics, its flow engine). Called once per event, after redaction.
pub trait EventSink: Send + Sync {
    /// Takes one event.
    fn emit(&self, event: &Event);
}

/// A sink that drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _: &Event) {}
}

/// A sink that keeps every event in memory, for tests and small hosts.
#[derive(Debug, Default)]
pub struct CollectEvents {
    events: Mutex<Vec<Event>>,
}

impl CollectEvents {
    /// The events received so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

impl EventSink for CollectEvents {
    fn emit(&self, event: &Event) {
        self.events.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(event.clone());
    }
}

/// One name of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct CatalogEntry {
    /// The event's name.
    pub name: &'static str,
    /// What it means.
    pub description: &'static str,
    /// Whether courier emits it.
    pub emitted: bool,
}

/// Every event name the chat platform knows, each once, in the platform's order.
pub fn catalog() -> impl Iterator<Item = CatalogEntry> {
    CATALOG.lines().filter_map(|line| {
        let (name, description) = line.split_once('\t')?;
        let emitted = EventKind::ALL.iter().any(|kind| kind.name() == name);
        Some(CatalogEntry { name, description, emitted })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_emitted_event_is_in_the_catalog_once() {
        let entries: Vec<CatalogEntry> = catalog().collect();
        for kind in EventKind::ALL {
            assert_eq!(entries.iter().filter(|entry| entry.name == kind.name()).count(), 1, "{}", kind.name());
        }
        assert_eq!(entries.iter().filter(|entry| entry.emitted).count(), EventKind::ALL.len());
        let mut names: Vec<&str> = entries.iter().map(|entry| entry.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), entries.len(), "a name appears twice");
        assert!(entries.iter().all(|entry| !entry.description.is_empty()));
    }

    #[test]
    fn statuses_map_to_their_events() {
        assert_eq!(EventKind::for_status(200), None);
        assert_eq!(EventKind::for_status(399), None);
        assert_eq!(EventKind::for_status(404), Some(EventKind::Status404));
        assert_eq!(EventKind::for_status(418), Some(EventKind::Status));
        assert_eq!(EventKind::for_status(503), Some(EventKind::Status));
    }
}
