//! Who may talk to the server: the rules that keep a web page the operator
//! happens to open from using the workbench. A browser sends any page's "simple"
//! cross-site POST (`Content-Type: text/plain`) without asking, and a page whose
//! name was rebound to 127.0.0.1 (DNS rebinding) reads the answers too; with
//! `--allow-send` the first made the server send a secret to the attacker's host.
//!
//! So, before any route runs:
//! - the `Host` must name the address the server listens on (`127.0.0.1:PORT`,
//!   `localhost:PORT`, `[::1]:PORT` on loopback, the address itself otherwise) or
//!   a name the operator gave with `--host` — else 403 (a rebound name fails here);
//! - an `Origin`, when present, must be the server's own (`http://` and the
//!   `Host`) — else 403: browsers send it on every cross-origin request and on
//!   every POST, and clients such as curl send none;
//! - a POST must say `Content-Type: application/json` — else 415: a page cannot
//!   send that type to another origin without a preflight, which the rules above refuse.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::ApiError;

/// The `Host` values the server answers, in lower case.
#[derive(Debug, Clone)]
pub(crate) struct Guard {
    hosts: Vec<String>,
}

impl Guard {
    /// The hosts of a server listening on `address`, with the operator's `names`
    /// (each as it is and with the port).
    pub(crate) fn new(address: SocketAddr, names: &[String]) -> Guard {
        let port = address.port();
        let ip = address.ip();
        let mut bases = Vec::new();
        if ip.is_loopback() || ip.is_unspecified() {
            bases.extend(["127.0.0.1".to_owned(), "localhost".to_owned(), "[::1]".to_owned()]);
        }
        if !ip.is_unspecified() {
            bases.push(match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            });
        }
        let mut hosts = Vec::new();
        for base in bases {
            // A browser leaves out the default port.
            if port == 80 {
                hosts.push(base.clone());
            }
            hosts.push(format!("{base}:{port}"));
        }
        for name in names {
            let name = name.to_ascii_lowercase();
            hosts.push(format!("{name}:{port}"));
            hosts.push(name);
        }
        hosts.sort();
        hosts.dedup();
        Guard { hosts }
    }

    /// Why `request` is refused, if it is.
    fn refusal(&self, request: &Request) -> Option<ApiError> {
        let headers = request.headers();
        let host = headers
            .get(header::HOST)
            .and_then(|value| value.to_str().ok())
            .or_else(|| request.uri().authority().map(|authority| authority.as_str()))
            .map(str::to_ascii_lowercase);
        let Some(host) = host.filter(|host| self.hosts.contains(host)) else {
            return Some(forbidden(
                "this server answers only requests addressed to the address it listens on \
                 (or a name given with `courier serve --host NAME`); the Host header names another",
            ));
        };
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = origin.to_str().is_ok_and(|origin| origin.eq_ignore_ascii_case(&format!("http://{host}")));
            if !own {
                return Some(forbidden(
                    "this server answers only its own page and clients that send no Origin: \
                     a request from another web page is refused",
                ));
            }
        }
        if request.method() == Method::POST && !is_json(request) {
            return Some(ApiError {
                status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
                message: "a POST to this server must have Content-Type: application/json".to_owned(),
            });
        }
        None
    }
}

fn forbidden(message: &str) -> ApiError {
    ApiError { status: StatusCode::FORBIDDEN, message: message.to_owned() }
}

/// Whether the request says its body is JSON (`application/json`, parameters allowed).
fn is_json(request: &Request) -> bool {
    let Some(value) = request.headers().get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// The middleware: a refused request never reaches a route.
pub(crate) async fn check(State(guard): State<Arc<Guard>>, request: Request, next: Next) -> Response {
    match guard.refusal(&request) {
        Some(refusal) => refusal.into_response(),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(guard: &Guard, method: &str, headers: &[(&str, &str)]) -> Option<u16> {
        let mut request = axum::http::Request::builder().method(method).uri("/v1/eval");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        guard.refusal(&request.body(axum::body::Body::empty()).unwrap()).map(|error| error.status.as_u16())
    }

    #[test]
    fn host_origin_and_content_type_rules() {
        let guard = Guard::new("127.0.0.1:7878".parse().unwrap(), &["Workbench.Example".to_owned()]);
        let json = ("content-type", "application/json; charset=utf-8");
        for host in ["127.0.0.1:7878", "localhost:7878", "[::1]:7878", "LOCALHOST:7878", "workbench.example"] {
            assert_eq!(refused(&guard, "POST", &[("host", host), json]), None, "{host}");
        }
        assert_eq!(refused(&guard, "POST", &[("host", "workbench.example:7878"), json]), None);
        for host in ["attacker.example:7878", "127.0.0.1:80", "localhost", "127.0.0.2:7878"] {
            assert_eq!(refused(&guard, "POST", &[("host", host), json]), Some(403), "{host}");
        }
        assert_eq!(refused(&guard, "GET", &[]), Some(403));
        let own = [("host", "127.0.0.1:7878"), ("origin", "http://127.0.0.1:7878"), json];
        assert_eq!(refused(&guard, "POST", &own), None);
        for origin in ["http://attacker.example", "null", "http://localhost:7878", "https://127.0.0.1:7878"] {
            let request = [("host", "127.0.0.1:7878"), ("origin", origin), json];
            assert_eq!(refused(&guard, "POST", &request), Some(403), "{origin}");
        }
        for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""] {
            let request = [("host", "127.0.0.1:7878"), ("content-type", content_type)];
            assert_eq!(refused(&guard, "POST", &request), Some(415), "{content_type:?}");
        }
        assert_eq!(refused(&guard, "GET", &[("host", "127.0.0.1:7878")]), None);
    }

    #[test]
    fn a_server_on_a_public_address_answers_that_address_and_the_operators_names() {
        let guard = Guard::new("192.0.2.7:80".parse().unwrap(), &[]);
        assert_eq!(refused(&guard, "GET", &[("host", "192.0.2.7:80")]), None);
        assert_eq!(refused(&guard, "GET", &[("host", "localhost:80")]), Some(403));
        let guard = Guard::new("0.0.0.0:8080".parse().unwrap(), &["box.lan".to_owned()]);
        assert_eq!(refused(&guard, "GET", &[("host", "box.lan:8080")]), None);
        assert_eq!(refused(&guard, "GET", &[("host", "0.0.0.0:8080")]), Some(403));
    }
}
