//! A host's own `reqwest::Client` through the executor (`Executor::with_client`):
//! it is the client that sends, and the destination policy still holds for every
//! request and redirect hop, names included (courier resolves them itself, since its
//! resolver cannot be installed on a host's client). Loopback addresses play the hosts.
#![cfg(feature = "http")]

mod common;

use std::io::ErrorKind;
use std::net::TcpListener;

use common::{compile, event_names};
use courier::request::{Cookies, Destinations, Entry, Executor, ExecutorOptions, Outcome};
use courier::{Context, Variables};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// The host's client: a header of its own shows that it sent the request.
fn host_client() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-host-client", reqwest::header::HeaderValue::from_static("yes"));
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

fn executor_allowing(entries: &[&str]) -> Executor {
    let mut destinations = Destinations::public_only();
    for entry in entries {
        destinations.allow(entry.parse::<Entry>().unwrap());
    }
    Executor::with_options(ExecutorOptions { destinations, ..ExecutorOptions::default() }).with_client(host_client())
}

async fn server_on(ip: &str, response: ResponseTemplate) -> MockServer {
    let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|error| panic!("bind {ip}: {error}"));
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(any()).respond_with(response).mount(&server).await;
    server
}

/// A listener that accepts nothing: [`assert_untouched`] proves nothing connected.
fn trap(ip: &str) -> TcpListener {
    let listener = TcpListener::bind((ip, 0)).unwrap_or_else(|error| panic!("bind {ip}: {error}"));
    listener.set_nonblocking(true).expect("non-blocking");
    listener
}

fn assert_untouched(listener: &TcpListener) {
    match listener.accept() {
        Err(error) if error.kind() == ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("something connected to {:?} from {from}", listener.local_addr()),
        Err(error) => panic!("accept failed: {error}"),
    }
}

async fn send(executor: &Executor, url: &str) -> Outcome {
    executor
        .execute(&compile(&format!("url = \"{url}\"")), &Variables::new(), &Context::default(), &mut Cookies::new())
        .await
}

fn assert_refused(outcome: &Outcome, names: &[&str]) {
    assert_eq!(outcome.status, None, "{outcome:?}");
    assert_eq!(event_names(outcome), ["api_exception"], "{outcome:?}");
    assert!(outcome.refused, "{outcome:?}");
    let error = outcome.error.as_deref().expect("an error");
    assert!(error.starts_with("courier refused"), "{error}");
    for name in names {
        assert!(error.contains(name), "{error} names {name}");
    }
}

#[tokio::test]
async fn the_host_client_sends_where_the_policy_allows() {
    let server = server_on("127.0.0.2", ResponseTemplate::new(200).set_body_string("{}")).await;
    let outcome = send(&executor_allowing(&["127.0.0.2"]), &format!("{}/ok", server.uri())).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let received = server.received_requests().await.expect("recording is on");
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].headers.get("x-host-client").map(|v| v.as_bytes()), Some(&b"yes"[..]));
}

#[tokio::test]
async fn the_host_client_cannot_reach_what_the_policy_refuses() {
    let refused = trap("127.0.0.3");
    let port = refused.local_addr().unwrap().port();
    let public_only = Executor::new().with_client(host_client());
    // An address in the URL, as always.
    assert_refused(&send(&public_only, &format!("http://127.0.0.3:{port}/x")).await, &["loopback address"]);
    assert_untouched(&refused);
    // A name: courier resolves it before the host's client does.
    let local = trap("127.0.0.1");
    let local_port = local.local_addr().unwrap().port();
    assert_refused(&send(&public_only, &format!("http://localhost:{local_port}/x")).await, &["localhost"]);
    assert_untouched(&local);
    // A redirect hop to a refused host.
    let target = format!("http://127.0.0.3:{port}/hop");
    let server = server_on("127.0.0.2", ResponseTemplate::new(302).insert_header("Location", target.as_str())).await;
    let outcome = send(&executor_allowing(&["127.0.0.2"]), &format!("{}/start", server.uri())).await;
    assert_refused(&outcome, &["127.0.0.3", "loopback address"]);
    assert_untouched(&refused);
}
