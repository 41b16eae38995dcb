//! What one HTTP exchange can end in, below the executor and the OAuth2 token
//! fetch that both send: [`Failure`] (why no response came, classified into an
//! event) and [`read_body`] (a response body read whole under the limits).

use std::time::Duration;

use super::destination::{self, Refusal};
use crate::events::EventKind;

/// Why no response came: the event to emit and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub(crate) kind: EventKind,
    pub(crate) message: String,
    /// Courier refused to send: nothing went out, and replaying cannot help.
    pub(crate) refused: bool,
    /// No connection could be opened: nothing reached the service.
    pub(crate) connection: bool,
}

impl Failure {
    pub(crate) fn exception(message: impl Into<String>) -> Self {
        Failure { kind: EventKind::Exception, message: message.into(), refused: false, connection: false }
    }

    /// Courier refused to send (an `api_exception`); the message says why.
    pub(crate) fn refused(refusal: Refusal) -> Self {
        Failure { kind: EventKind::Exception, message: refusal.to_string(), refused: true, connection: false }
    }

    /// Classifies a reqwest error: a timeout while connecting, a timeout while
    /// reading (reqwest's read timeout), or anything else.
    pub(crate) fn from_reqwest(error: &reqwest::Error) -> Self {
        if let Some(refusal) = destination::refusal_in(error) {
            return Failure::refused(refusal.clone());
        }
        let kind = match (error.is_timeout(), error.is_connect()) {
            (true, true) => EventKind::ConnectTimeout,
            (true, false) => EventKind::SocketTimeout,
            _ => EventKind::Exception,
        };
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Failure { kind, message, refused: false, connection: error.is_connect() }
    }
}

/// A timeout's failure with the spec's field whose limit ran out named, so that the
/// author knows which one to raise (reqwest says only "operation timed out").
pub(crate) fn name_the_limit(mut failure: Failure, read_timeout: Duration) -> Failure {
    match failure.kind {
        EventKind::SocketTimeout => {
            let limit = humantime::format_duration(read_timeout);
            failure
                .message
                .push_str(&format!(" (the spec's read_timeout = \"{limit}\" ran out: no byte came for that long)"));
        }
        EventKind::ConnectTimeout => {
            failure.message.push_str(" (the spec's connect_timeout ran out: no connection was opened in time)")
        }
        _ => {}
    }
    failure
}

/// Reads a response body chunk by chunk: at most `max_bytes`, and no chunk may take
/// longer than `read_timeout` to come.
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    read_timeout: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, Failure> {
    let too_large = || Failure::exception(format!("the response body is larger than the limit of {max_bytes} bytes"));
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    loop {
        match tokio::time::timeout(read_timeout, response.chunk()).await {
            Err(_) => {
                let limit = humantime::format_duration(read_timeout);
                let message =
                    format!("the response went silent for {limit} while reading (read_timeout = \"{limit}\")");
                return Err(Failure { kind: EventKind::SocketTimeout, message, refused: false, connection: false });
            }
            Ok(Err(error)) => return Err(name_the_limit(Failure::from_reqwest(&error), read_timeout)),
            Ok(Ok(None)) => return Ok(body),
            Ok(Ok(Some(chunk))) => {
                if body.len() + chunk.len() > max_bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
        }
    }
}
