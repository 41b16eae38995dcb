//! The redirect-following send: every hop checked against the destination policy
//! and the secrets' host bindings before it goes out, at most the spec's number of
//! redirects followed, each one logged.

use reqwest::header::{self};

use super::super::destination;
use super::super::log::{LogEntry, Redactor};
use super::super::redirect::{self, Hop};
use super::super::spec::Timeouts;
use super::Executor;
use super::Failure;
use super::transport::{ClientTls, Response, Run};
use crate::template::MAX_URL_BYTES;
use tracing::Instrument;

impl Executor {
    /// Sends a request and follows up to `redirects` redirects (then the 3xx is the
    /// answer), checking every hop before it is sent; the log lists each hop.
    pub(super) async fn send_following(
        &self,
        mut hop: Hop,
        timeouts: &Timeouts,
        redirects: u32,
        redactor: &Redactor,
        run: &mut Run,
    ) -> Result<Response, Failure> {
        let mut followed = 0;
        loop {
            let (parsed, port) = self.check_hop(&hop, redactor)?;
            // The client certificate goes to the request's own origin only (that of
            // its first hop, not of a poll's), as its credentials do; the spec's CAs
            // are trusted on every hop.
            let own = run.origin.get_or_insert_with(|| parsed.origin()).clone() == parsed.origin();
            let tls = ClientTls::of(run, own);
            let client = self.client_for(&parsed, timeouts, port, tls).await?;
            let (method, url) = (hop.method.as_str(), hop.url.as_str());
            // The URL parsed for the check is the one sent: reqwest parses no string again.
            let span = hop_span(method, &parsed, port, followed);
            let request = client.request(hop.method.clone(), parsed);
            let sending = self.attempt(request, method, url, hop.headers.clone(), hop.body.clone(), timeouts.read, run);
            let response = sending.instrument(span.clone()).await;
            match &response {
                Ok(response) => span.record("http.response.status_code", response.status),
                Err(failure) => span.record("otel.status_code", "error").record("error.type", failure.kind.name()),
            };
            let mut response = response?;
            if followed > 0 {
                response.redirected = Some(Box::new(hop.clone()));
            }
            let location = response.headers.get(header::LOCATION).filter(|_| redirect::is_redirect(response.status));
            let Some(location) = location else { return Ok(response) };
            if followed == redirects {
                if redirects > 0 {
                    let to = match location.len() {
                        length if length > MAX_URL_BYTES => format!("a Location of {length} bytes"),
                        _ => format!("{:?}", String::from_utf8_lossy(location.as_bytes())),
                    };
                    run.log.push(LogEntry::note(format!(
                        "not following the {} to {to}: {redirects} redirects were followed already; the {} is the answer",
                        response.status, response.status
                    )));
                }
                return Ok(response);
            }
            followed += 1;
            let (next, dropped) =
                redirect::next_hop(hop, response.status, location, redactor).map_err(Failure::refused)?;
            let mut note = format!(
                "redirect {followed} of at most {redirects}: {} → {} {}",
                response.status, next.method, next.url
            );
            if !dropped.is_empty() {
                note.push_str(&format!(" (another origin: {} not sent)", dropped.join(", ")));
            }
            run.log.push(LogEntry::note(note));
            hop = next;
        }
    }

    /// Checks a hop before it is sent: its URL against the destination policy (an
    /// address written in it now, a name when the resolver resolves it), and every
    /// secret it carries against that secret's host binding. Gives the parsed URL
    /// and its port.
    pub(super) fn check_hop(&self, hop: &Hop, redactor: &Redactor) -> Result<(url::Url, u16), Failure> {
        let url = url::Url::parse(&hop.url)
            .map_err(|error| Failure::exception(format!("{} is not a URL: {error}; nothing was sent", hop.url)))?;
        let port = self.inner.options.destinations.check_url(&url).map_err(Failure::refused)?;
        if !redactor.bindings().is_empty() {
            // Copies the body as text: only when some secret of the run is bound.
            let texts = destination::carried_texts(&hop.url, &hop.headers, hop.body.as_deref());
            let host = url.host_str().unwrap_or_default();
            redactor.bindings().check(host, texts.iter().map(String::as_str)).map_err(Failure::refused)?;
        }
        Ok((url, port))
    }
}

/// The span of one HTTP request: its method, host, port and place in the redirect
/// chain; its status once answered. Never its URL, which may carry values.
fn hop_span(method: &str, url: &url::Url, port: u16, redirect: u32) -> tracing::Span {
    tracing::info_span!(
        "courier.http",
        otel.kind = "client",
        http.request.method = method,
        server.address = url.host_str().unwrap_or_default(),
        server.port = port,
        courier.redirect = redirect,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
        error.type = tracing::field::Empty,
    )
}
