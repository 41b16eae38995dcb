//! Following a redirect: the next hop's URL, method and body, and the headers that
//! stay; and the GET that polls a `202` job's `Location`, held to the same rules. courier follows redirects itself (reqwest's own following is off) so that
//! every hop is checked against the destination policy before it is sent, https is
//! never left for http, and credentials never follow a hop to another origin.

use reqwest::header::{self, HeaderMap, HeaderValue};
use url::Url;

use crate::template::MAX_URL_BYTES;

use super::destination::Refusal;
use super::log::{Redactor, is_credential_header};

/// One request on the way: what is sent, and where.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) method: reqwest::Method,
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Vec<u8>>,
}

/// The statuses courier follows when the answer has a `Location`.
pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The headers that describe a body, dropped with it.
const BODY_HEADERS: [header::HeaderName; 5] = [
    header::CONTENT_TYPE,
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::CONTENT_DISPOSITION,
    header::TRANSFER_ENCODING,
];

/// The hop a redirect leads to, and the names of the headers dropped on the way.
///
/// - 303, and 301 or 302 after a POST, continue as a GET without the body (as
///   browsers do); 307 and 308 keep the method and the body.
/// - A hop from https to http, or to a scheme other than http(s), is refused.
/// - On a hop to another origin (scheme, host or port), `Authorization`,
///   `Proxy-Authorization`, `Cookie`, every header whose template asked for a secret
///   and every header that holds a secret or token of the run are dropped; a body that would be sent again to another origin is
///   refused, since it may hold what the first service alone was meant to read.
pub(crate) fn next_hop(
    hop: Hop,
    status: u16,
    location: &HeaderValue,
    redactor: &Redactor,
) -> Result<(Hop, Vec<String>), Refusal> {
    let from = Url::parse(&hop.url)
        .map_err(|error| Refusal::new(format!("to follow a redirect from {}: {error}", hop.url)))?;
    let to = target(&from, location, &format!("follow the {status} redirect"))?;
    let Hop { mut method, mut headers, mut body, .. } = hop;
    let becomes_get = status == 303 && method != reqwest::Method::HEAD
        || matches!(status, 301 | 302) && method == reqwest::Method::POST;
    if becomes_get {
        method = reqwest::Method::GET;
        body = None;
        for name in &BODY_HEADERS {
            headers.remove(name);
        }
    }
    let mut dropped = Vec::new();
    if from.origin() != to.origin() {
        if body.is_some() {
            return Err(Refusal::new(format!(
                "to follow the {status} redirect to {}: it would send the request's body again to another origin",
                to.origin().ascii_serialization()
            )));
        }
        dropped = drop_credentials(&mut headers, redactor);
    }
    Ok((Hop { method, url: to.into(), headers, body }, dropped))
}

/// The GET that polls a job: `location` (the `Location` of a `status` answer to
/// the request at `at`) resolved against `at`, with `request`'s headers but for
/// its body's, and — when the job is at another origin than `request` — without
/// its credentials (named in the list given back). Held to a redirect's rules:
/// http or https only, https never left for http, a URL of bounded length.
pub(crate) fn poll_hop(
    request: &Hop,
    at: &str,
    status: u16,
    location: &HeaderValue,
    redactor: &Redactor,
) -> Result<(Hop, Vec<String>), Refusal> {
    let from = Url::parse(at).map_err(|error| Refusal::new(format!("to poll a job from {at}: {error}")))?;
    let to = target(&from, location, &format!("poll the {status} job"))?;
    let mut headers = request.headers.clone();
    for name in &BODY_HEADERS {
        headers.remove(name);
    }
    let first = Url::parse(&request.url).map_err(|error| Refusal::new(format!("{}: {error}", request.url)))?;
    let dropped = if first.origin() == to.origin() { Vec::new() } else { drop_credentials(&mut headers, redactor) };
    Ok((Hop { method: reqwest::Method::GET, url: to.into(), headers, body: None }, dropped))
}

/// The URL `location` leads to from `from`, refused when it is too long, not
/// http(s), or leaves https for http. `what` names the step in the refusal.
fn target(from: &Url, location: &HeaderValue, what: &str) -> Result<Url, Refusal> {
    // Capped like a rendered URL, and not quoted: it is what is too long to show.
    if location.len() > MAX_URL_BYTES {
        return Err(Refusal::new(format!(
            "to {what}: its Location is {} bytes, more than the limit of {MAX_URL_BYTES}",
            location.len()
        )));
    }
    let written = String::from_utf8_lossy(location.as_bytes());
    let to = from.join(&written).map_err(|error| Refusal::new(format!("to {what} to {written:?}: {error}")))?;
    if to.as_str().len() > MAX_URL_BYTES {
        return Err(Refusal::new(format!(
            "to {what}: it leads to a URL of {} bytes, more than the limit of {MAX_URL_BYTES}",
            to.as_str().len()
        )));
    }
    if !matches!(to.scheme(), "http" | "https") {
        return Err(Refusal::new(format!("to {what} to {to}: only http and https are followed")));
    }
    if from.scheme() == "https" && to.scheme() == "http" {
        return Err(Refusal::new(format!("to {what} from {from} to {to}: it would leave https for http")));
    }
    Ok(to)
}

/// Removes every credential from `headers` (`Authorization`, `Cookie`, every
/// header whose template asked for a secret or that holds one); their names.
fn drop_credentials(headers: &mut HeaderMap, redactor: &Redactor) -> Vec<String> {
    let mut dropped = Vec::new();
    let names: Vec<header::HeaderName> = headers.keys().cloned().collect();
    for name in names {
        let secret = headers
            .get_all(&name)
            .iter()
            .any(|value| redactor.holds_secret(&String::from_utf8_lossy(value.as_bytes())));
        if secret || redactor.is_secret_header(name.as_str()) || is_credential_header(name.as_str()) {
            headers.remove(&name);
            dropped.push(name.as_str().to_owned());
        }
    }
    dropped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(method: reqwest::Method, url: &str, body: Option<&[u8]>) -> Hop {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer t0ken"));
        headers.insert("x-api-key", HeaderValue::from_static("k3y"));
        headers.insert("x-shop", HeaderValue::from_static("42"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Hop { method, url: url.to_owned(), headers, body: body.map(<[u8]>::to_vec) }
    }

    fn secrets() -> Redactor {
        let redactor = Redactor::default();
        redactor.add("k3y");
        redactor
    }

    #[test]
    fn a_hop_within_the_origin_keeps_everything() {
        let location = HeaderValue::from_static("/next?a=1");
        let (next, dropped) =
            next_hop(hop(reqwest::Method::GET, "https://a.org/x", None), 302, &location, &secrets()).unwrap();
        assert_eq!(next.url, "https://a.org/next?a=1");
        assert!(dropped.is_empty());
        assert_eq!(next.headers.len(), 4);
    }

    #[test]
    fn a_hop_to_another_origin_drops_credentials_and_secrets() {
        let location = HeaderValue::from_static("https://a.org:8443/x");
        let (next, dropped) =
            next_hop(hop(reqwest::Method::GET, "https://a.org/x", None), 301, &location, &secrets()).unwrap();
        assert_eq!(dropped, ["authorization", "x-api-key"]);
        assert!(next.headers.contains_key("x-shop"));
        assert!(!next.headers.contains_key(header::AUTHORIZATION) && !next.headers.contains_key("x-api-key"));
    }

    #[test]
    fn a_header_whose_template_read_a_secret_is_dropped_even_when_its_value_hides_it() {
        let redactor = secrets();
        redactor.mark_secret_header("X-Signature");
        let mut first = hop(reqwest::Method::GET, "https://a.org/x", None);
        first.headers.insert("x-signature", HeaderValue::from_static("9f86d081884c7d65"));
        let location = HeaderValue::from_static("https://b.org/x");
        let (next, dropped) = next_hop(first, 302, &location, &redactor).unwrap();
        assert!(dropped.contains(&"x-signature".to_owned()), "{dropped:?}");
        assert!(!next.headers.contains_key("x-signature"));
    }

    #[test]
    fn methods_and_bodies_follow_the_status() {
        let location = HeaderValue::from_static("/y");
        let post = || hop(reqwest::Method::POST, "http://a.org/x", Some(b"{}"));
        for status in [301, 302, 303] {
            let (next, _) = next_hop(post(), status, &location, &secrets()).unwrap();
            assert_eq!((next.method, next.body), (reqwest::Method::GET, None), "{status}");
            assert!(!next.headers.contains_key(header::CONTENT_TYPE));
        }
        for status in [307, 308] {
            let (next, _) = next_hop(post(), status, &location, &secrets()).unwrap();
            assert_eq!((next.method, next.body.as_deref()), (reqwest::Method::POST, Some(&b"{}"[..])), "{status}");
        }
        let elsewhere = HeaderValue::from_static("http://b.org/y");
        let refusal = next_hop(post(), 307, &elsewhere, &secrets()).unwrap_err();
        assert!(refusal.message().contains("body again to another origin"), "{}", refusal.message());
    }

    #[test]
    fn a_poll_is_a_get_that_keeps_credentials_only_within_the_origin() {
        let request = hop(reqwest::Method::POST, "https://a.org/jobs", Some(b"{}"));
        let (same, dropped) =
            poll_hop(&request, "https://a.org/jobs", 202, &HeaderValue::from_static("/jobs/7"), &secrets()).unwrap();
        assert_eq!((same.method, same.url.as_str(), same.body), (reqwest::Method::GET, "https://a.org/jobs/7", None));
        assert!(dropped.is_empty() && same.headers.contains_key(header::AUTHORIZATION));
        assert!(!same.headers.contains_key(header::CONTENT_TYPE));
        let elsewhere = HeaderValue::from_static("https://b.org/jobs/7");
        let (other, dropped) = poll_hop(&request, "https://a.org/jobs", 202, &elsewhere, &secrets()).unwrap();
        assert_eq!(dropped, ["authorization", "x-api-key"]);
        assert!(other.headers.contains_key("x-shop"));
        let refusal =
            poll_hop(&request, "https://a.org/jobs", 202, &HeaderValue::from_static("http://a.org/7"), &secrets())
                .unwrap_err();
        assert!(refusal.message().contains("to poll the 202 job from"), "{}", refusal.message());
        assert!(refusal.message().contains("leave https for http"), "{}", refusal.message());
    }

    #[test]
    fn https_is_never_left_for_http_and_other_schemes_are_not_followed() {
        let get = || hop(reqwest::Method::GET, "https://a.org/x", None);
        let refusal = next_hop(get(), 302, &HeaderValue::from_static("http://a.org/x"), &secrets()).unwrap_err();
        assert!(refusal.message().contains("leave https for http"), "{}", refusal.message());
        let refusal = next_hop(get(), 302, &HeaderValue::from_static("file:///etc/passwd"), &secrets()).unwrap_err();
        assert!(refusal.message().contains("only http and https"), "{}", refusal.message());
    }
}
