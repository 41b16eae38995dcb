//! Receiving: a response mapped into the [`Outcome`] (status, body, events,
//! cookies, mappings, response headers), a failure recorded in it, and every
//! secret the run resolved redacted from all of it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::header::{self, HeaderMap};

use super::super::cookies;
use super::super::log::{LogEntry, Redactor};
use super::super::spec::{CompiledRequest, Method};
use super::Failure;
use super::outcome::Outcome;
use super::transport::{Response, Run};
use crate::events::{Event, EventKind};

/// The URL without its query and fragment, as events carry it.
pub(super) fn without_query(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    url[..end].to_owned()
}

/// Records a run that got no response: its error and its event.
pub(super) fn fail(outcome: &mut Outcome, failure: Failure, method: &str, url: &str) {
    outcome.events.push(Event {
        name: failure.kind,
        time: Utc::now(),
        method: method.to_owned(),
        url: url.to_owned(),
        status: None,
        error: Some(failure.message.clone()),
    });
    outcome.error = Some(failure.message);
    outcome.refused |= failure.refused;
}

/// Records an attempt that another followed: its event only (the status's, or
/// the failure's), for the outcome's variables and error are the last attempt's.
pub(super) fn record_event(
    outcome: &mut Outcome,
    result: Result<Response, Failure>,
    at: DateTime<Utc>,
    method: Method,
    url: &str,
) {
    let (kind, status, error) = match result {
        Ok(response) => match EventKind::for_status(response.status) {
            Some(kind) => (kind, Some(response.status), None),
            None => return,
        },
        Err(failure) => (failure.kind, None, Some(failure.message)),
    };
    outcome.events.push(Event {
        name: kind,
        time: at,
        method: method.as_str().to_owned(),
        url: without_query(url),
        status,
        error,
    });
}

/// Maps a response into the outcome: status and body variables, the status's
/// event, cookies, mappings and response headers. Mapping stops at `deadline`,
/// the request's total time limit: each mapping reads the response from its
/// start, and 5,000 of them on a 10 MB response took 68 s.
pub(super) fn receive(
    request: &CompiledRequest,
    response: &Response,
    url: &str,
    outcome: &mut Outcome,
    run: &mut Run,
    deadline: (Instant, Duration),
) {
    receive_status(request.method, response, url, outcome);
    for value in response.headers.get_all(header::SET_COOKIE) {
        if value.len() > cookies::MAX_COOKIE_BYTES {
            run.log.push(LogEntry::note(format!(
                "a Set-Cookie of {} bytes was ignored: cookies are capped at {} bytes (RFC 6265, 6.1)",
                value.len(),
                cookies::MAX_COOKIE_BYTES
            )));
            continue;
        }
        if let Some((name, value)) = cookies::saved(&request.cookies, &String::from_utf8_lossy(value.as_bytes())) {
            outcome.cookies.insert(name, value);
        }
    }
    if !request.mappings.is_empty() {
        match super::super::mapping::parse_response(&response.body) {
            Ok(json) => {
                let tree = super::super::mapping::Tree::new();
                for (done, mapping) in request.mappings.iter().enumerate() {
                    if Instant::now() >= deadline.0 {
                        let message = format!(
                            "the timeout of {} ran out while mapping the response: {done} of {} mappings were read",
                            humantime::format_duration(deadline.1),
                            request.mappings.len()
                        );
                        run.log.push(LogEntry::note(message.clone()));
                        let failure = Failure { kind: EventKind::Timeout, message, refused: false, connection: false };
                        fail(outcome, failure, request.method.as_str(), &without_query(url));
                        break;
                    }
                    match mapping.read(json, &tree) {
                        Ok(Some(value)) => {
                            outcome.variables.insert(mapping.target.clone(), value);
                        }
                        Ok(None) => {
                            let nearest = super::super::mapping::nearest_path(json, &mapping.source)
                                .map(|path| format!(" (did you mean {path}?)"))
                                .unwrap_or_default();
                            run.log.push(LogEntry::note(format!(
                                "mapping {:?} → {}: the response has no such field{nearest}; {} is unchanged",
                                mapping.source, mapping.target, mapping.target
                            )))
                        }
                        Err(why) => run.log.push(LogEntry::note(format!(
                            "mapping {:?} → {}: {why}; {} is unchanged",
                            mapping.source, mapping.target, mapping.target
                        ))),
                    }
                }
            }
            Err(_) => {
                // serde's "expected value at line 1 column 1" would not say what the body is.
                let content_type = response
                    .headers
                    .get(header::CONTENT_TYPE)
                    .map(|value| format!("Content-Type: {}", String::from_utf8_lossy(value.as_bytes())))
                    .unwrap_or_else(|| "no Content-Type".to_owned());
                for mapping in &request.mappings {
                    run.log.push(LogEntry::note(format!(
                        "mapping {:?} → {}: the response is not JSON ({content_type}), so no field can be read; {} is unchanged",
                        mapping.source, mapping.target, mapping.target
                    )));
                }
            }
        }
    }
    for (name, target) in &request.response_headers {
        match response.headers.get(name) {
            Some(value) => {
                outcome.variables.insert(target.clone(), String::from_utf8_lossy(value.as_bytes()).into_owned().into());
            }
            None => run.log.push(LogEntry::note(format!(
                "response header {name} → {target}: the response has no such header; {target} is unchanged"
            ))),
        }
    }
}

/// The status into the outcome: the status and body variables, the status's event.
pub(super) fn receive_status(method: Method, response: &Response, url: &str, outcome: &mut Outcome) {
    let status = response.status;
    outcome.status = Some(status);
    outcome.retry_after =
        response.headers.get(header::RETRY_AFTER).and_then(|value| value.to_str().ok()).map(str::to_owned);
    let text = decode(&response.headers, &response.body);
    outcome.variables.insert("api_client_status_code".to_owned(), status.to_string().into());
    outcome.variables.insert("api_client_response_body".to_owned(), text.into());
    if let Some(kind) = EventKind::for_status(status) {
        outcome.events.push(Event {
            name: kind,
            time: Utc::now(),
            method: method.as_str().to_owned(),
            url: without_query(url),
            status: Some(status),
            error: None,
        });
    }
}

/// The body as text, decoded by the charset its Content-Type names (UTF-8 otherwise).
pub(super) fn decode(headers: &HeaderMap, body: &[u8]) -> String {
    let charset = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).and_then(|value| {
        value.split(';').skip(1).find_map(|parameter| {
            let (key, value) = parameter.split_once('=')?;
            key.trim().eq_ignore_ascii_case("charset").then(|| value.trim().trim_matches('"').to_owned())
        })
    });
    let encoding =
        charset.and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes())).unwrap_or(encoding_rs::UTF_8);
    encoding.decode(body).0.into_owned()
}

/// Replaces every secret the run resolved (and the tokens it fetched) in
/// everything the outcome hands back.
pub(super) fn redact_outcome(redactor: &Redactor, outcome: &mut Outcome) {
    if redactor.is_empty() {
        return;
    }
    let variables = outcome.variables.values_mut().flat_map(|value| value.texts_mut());
    for value in variables.chain(outcome.cookies.values_mut()) {
        redactor.redact_in_place(value);
    }
    for event in &mut outcome.events {
        redactor.redact_in_place(&mut event.url);
        if let Some(error) = &mut event.error {
            redactor.redact_in_place(error);
        }
    }
    for entry in &mut outcome.log {
        redactor.redact_in_place(&mut entry.message);
        for text in [&mut entry.url, &mut entry.method].into_iter().flatten() {
            redactor.redact_in_place(text);
        }
        for exchange in [&mut entry.request, &mut entry.response].into_iter().flatten() {
            for value in exchange.headers.values_mut() {
                redactor.redact_in_place(value);
            }
            if let Some(body) = &mut exchange.body {
                redactor.redact_in_place(body);
            }
        }
    }
    for text in [&mut outcome.error, &mut outcome.retry_after].into_iter().flatten() {
        redactor.redact_in_place(text);
    }
}
