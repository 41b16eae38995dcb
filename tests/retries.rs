//! The spec's `[retry]`: a direct send that tries again, against real servers on
//! loopback — through the `courier` binary for what a chat's call does, and through
//! the library's `Delivery` where the test needs the parts (no store, OAuth2).
#![cfg(feature = "cli")]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime};

use common::{BlockingServer as Server, write_spec};
use courier::replay::Delivery;
use courier::request::Cookies;
use courier::{Context, Variables};
use serde_json::Value as Json;
use wiremock::matchers::{any, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `courier send SPEC` with a store in `folder`, and how long it took.
fn send(folder: &Path, spec: &Path) -> (Output, Duration) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["send", spec.to_str().unwrap()])
        .current_dir(folder)
        .env("COURIER_ALLOW", "private")
        .env("COURIER_STORE", folder.join("replay.db"))
        .output()
        .expect("courier runs");
    (output, started.elapsed())
}

fn outcome(output: &Output) -> Json {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!("{error}: {}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
    })
}

fn event_names(outcome: &Json) -> Vec<String> {
    outcome["events"].as_array().unwrap().iter().map(|event| event["name"].as_str().unwrap().to_owned()).collect()
}

fn log_text(outcome: &Json) -> String {
    outcome["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["message"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn two_503s_with_retry_after_1_then_200_are_delivered_by_one_send_in_three_attempts() {
    let busy = ResponseTemplate::new(503).insert_header("Retry-After", "1");
    let server = Server::answering(busy, 2, ResponseTemplate::new(200).set_body_string("{\"ok\":true}"));
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(
        folder.path(),
        &format!("url = \"{}/orders\"\ntimeout = \"20s\"\n[retry]\nattempts = 3\n", server.uri()),
    );
    let (output, took) = send(folder.path(), &spec);
    let outcome = outcome(&output);
    assert_eq!(output.status.code(), Some(0), "{outcome}");
    assert_eq!(outcome["status"], 200, "{outcome}");
    assert_eq!(outcome["attempts"], 3, "{outcome}");
    assert_eq!(server.received().len(), 3);
    // Each Retry-After was honoured in full, and all of it well inside the 20 s limit.
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    // Every attempt is an event and in the log.
    assert_eq!(event_names(&outcome), ["api_http_status_code", "api_http_status_code"], "{outcome}");
    let log = log_text(&outcome);
    assert!(log.contains("attempt 1 of 3: the service answered 503; attempt 2 in 1s (Retry-After)"), "{log}");
    assert!(log.contains("attempt 2 of 3: the service answered 503; attempt 3 in 1s (Retry-After)"), "{log}");
    assert_eq!(log.matches("→ 503").count(), 2, "{log}");
    assert_eq!(log.matches("→ 200").count(), 1, "{log}");
    assert!(outcome.get("replay").is_none(), "delivered, not kept: {outcome}");
}

#[test]
fn a_wait_that_does_not_fit_the_time_left_fails_at_once() {
    let busy = ResponseTemplate::new(503).insert_header("Retry-After", "30");
    let server = Server::answering(busy, 10, ResponseTemplate::new(200));
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(
        folder.path(),
        &format!(
            "url = \"{}/orders\"\ntimeout = \"5s\"\n[retry]\nattempts = 3\nmax_retry_after = \"1m\"\n",
            server.uri()
        ),
    );
    let (output, took) = send(folder.path(), &spec);
    let outcome = outcome(&output);
    // The watchdog: not the 30 s asked for, nor the 5 s limit — at once.
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(outcome["status"], 503, "{outcome}");
    assert_eq!(outcome["attempts"], 1, "{outcome}");
    assert_eq!(server.received().len(), 1);
    let log = log_text(&outcome);
    assert!(log.contains("the wait before another (30s, Retry-After) does not fit the"), "{log}");
    // A 503 is kept for replay, with the one attempt it had.
    assert_eq!(outcome["replay"]["state"], "failed", "{outcome}");
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let when = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
    let busy = ResponseTemplate::new(429).insert_header("Retry-After", when.as_str());
    let server = Server::answering(busy, 1, ResponseTemplate::new(200));
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), &format!("url = \"{}/orders\"\n[retry]\nattempts = 2\n", server.uri()));
    let (output, took) = send(folder.path(), &spec);
    let outcome = outcome(&output);
    assert_eq!(outcome["status"], 200, "{outcome}");
    assert_eq!(outcome["attempts"], 2, "{outcome}");
    // The date has whole seconds: the wait is between one and two of them.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    assert!(log_text(&outcome).contains("(Retry-After)"), "{outcome}");
}

#[test]
fn a_post_without_retry_is_sent_once_and_with_retry_carries_one_key_on_every_attempt() {
    let server = Server::answering(ResponseTemplate::new(503), 100, ResponseTemplate::new(503));
    let folder = tempfile::tempdir().unwrap();
    let post = |retry: &str| {
        format!(
            "method = \"POST\"\nurl = \"{}/orders\"\nbody = \"json\"\npayload = '{{\"n\": 1}}'\n{retry}",
            server.uri()
        )
    };
    let (output, _) = send(folder.path(), &write_spec(folder.path(), &post("")));
    assert_eq!(outcome(&output)["attempts"], 1);
    assert_eq!(server.received().len(), 1, "no [retry]: no extra attempt");

    let spec = write_spec(folder.path(), &post("[retry]\nattempts = 3\nbackoff = \"10ms\"\n"));
    let (output, _) = send(folder.path(), &spec);
    let outcome = outcome(&output);
    assert_eq!(outcome["attempts"], 3, "{outcome}");
    let received = server.received();
    assert_eq!(received.len(), 4);
    let keys: Vec<&str> =
        received[1..].iter().map(|request| request.headers.get("idempotency-key").unwrap().to_str().unwrap()).collect();
    assert!(!keys[0].is_empty());
    assert!(keys.iter().all(|key| *key == keys[0]), "one key on every attempt: {keys:?}");
    assert!(log_text(&outcome).contains("attempt 3 of 3: the service answered 503; no attempts left"), "{outcome}");
}

#[tokio::test]
async fn the_executor_alone_sends_once_and_says_why() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let request = common::compile(&format!("url = \"{}/x\"\n[retry]\nattempts = 3\nbackoff = \"5ms\"\n", server.uri()));
    let outcome =
        common::executor().execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert!(
        outcome.log.iter().any(|entry| entry.message.contains("applied by the delivery layer")),
        "{:?}",
        outcome.log
    );
}

#[tokio::test]
async fn without_a_store_a_retried_post_carries_one_key_and_a_plain_one_none() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(502)).mount(&server).await;
    let delivery = Delivery::new(common::executor());
    let spec = |retry: &str| {
        common::compile(&format!(
            "method = \"PATCH\"\nurl = \"{}/orders/1\"\nbody = \"json\"\npayload = '{{\"n\": 1}}'\n{retry}",
            server.uri()
        ))
    };
    let send = |request| {
        let delivery = delivery.clone();
        async move { delivery.execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await }
    };
    let once = send(spec("")).await;
    assert_eq!((once.attempts, once.status), (1, Some(502)));
    let retried = send(spec("debug = true\n[retry]\nattempts = 4\nbackoff = \"5ms\"\n")).await;
    assert_eq!(retried.attempts, 4, "{:?}", retried.log);
    // With debug, the log shows each attempt's request, its key the same each time.
    let logged: Vec<&str> = retried
        .log
        .iter()
        .filter_map(|entry| entry.request.as_ref()?.headers.get("idempotency-key").map(String::as_str))
        .collect();
    assert_eq!(logged.len(), 4, "{:?}", retried.log);
    assert!(logged.iter().all(|key| *key == logged[0]), "{logged:?}");
    let received = server.received_requests().await.unwrap();
    assert_eq!(received.len(), 5);
    assert!(received[0].headers.get("idempotency-key").is_none(), "nothing may send it again: no key");
    let keys: Vec<_> = received[1..].iter().map(|request| request.headers.get("idempotency-key").cloned()).collect();
    assert!(keys[0].is_some() && keys.iter().all(|key| *key == keys[0]), "{keys:?}");
}

/// A token endpoint handing out `tok-1` then `tok-2`, and an API that answers
/// `expired` to `tok-1` and 200 to `tok-2`.
async fn oauth2_server(expired: u16) -> MockServer {
    let server = MockServer::start().await;
    let token = |value: &str| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({"access_token": value, "expires_in": 3600}))
    };
    Mock::given(method("POST")).and(path("/token")).respond_with(token("tok-1")).up_to_n_times(1).mount(&server).await;
    Mock::given(method("POST")).and(path("/token")).respond_with(token("tok-2")).mount(&server).await;
    Mock::given(path("/api"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(expired))
        .mount(&server)
        .await;
    Mock::given(path("/api"))
        .and(header("authorization", "Bearer tok-2"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    server
}

fn oauth2_spec(server: &MockServer, expired_statuses: &str) -> courier::request::CompiledRequest {
    common::compile(&format!(
        "url = \"{0}/api\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"{0}/token\"\nclient_id = \"bot\"\n\
         client_secret = \"cs\"\n{expired_statuses}",
        server.uri()
    ))
}

async fn token_fetches(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().iter().filter(|request| request.url.path() == "/token").count()
}

#[tokio::test]
async fn a_403_counts_as_token_expired_when_the_spec_says_so_one_refetch_one_resend() {
    let server = oauth2_server(403).await;
    let request = oauth2_spec(&server, "expired_statuses = [401, 403]\n");
    let outcome =
        common::executor().execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(200), "{:?}", outcome.log);
    assert_eq!(token_fetches(&server).await, 2);
    let api_calls =
        server.received_requests().await.unwrap().iter().filter(|request| request.url.path() == "/api").count();
    assert_eq!(api_calls, 2, "one resend");
    assert!(
        outcome.log.iter().any(|entry| entry.message.contains("answered 403: the token expired")),
        "{:?}",
        outcome.log
    );
}

#[tokio::test]
async fn by_default_only_401_means_token_expired() {
    let server = oauth2_server(403).await;
    let outcome = common::executor()
        .execute(&oauth2_spec(&server, ""), &Variables::new(), &Context::default(), &mut Cookies::new())
        .await;
    assert_eq!(outcome.status, Some(403));
    assert_eq!(token_fetches(&server).await, 1, "no refetch for a 403");

    let server = oauth2_server(401).await;
    let outcome = common::executor()
        .execute(&oauth2_spec(&server, ""), &Variables::new(), &Context::default(), &mut Cookies::new())
        .await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(token_fetches(&server).await, 2, "one refetch for a 401");
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[tokio::test]
async fn a_connection_error_is_retried_when_enabled_and_not_when_disabled() {
    let port = closed_port();
    let sink = std::sync::Arc::new(courier::events::CollectEvents::default());
    let delivery = Delivery::new(common::executor().with_sink(sink.clone()));
    let spec = |switch: &str| {
        common::compile(&format!(
            "url = \"http://127.0.0.1:{port}/x\"\n[retry]\nattempts = 3\nbackoff = \"10ms\"\n{switch}"
        ))
    };
    let retried = delivery.execute(&spec(""), &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(retried.attempts, 3, "{:?}", retried.log);
    assert_eq!(common::event_names(&retried), ["api_exception"; 3]);
    assert!(retried.log.iter().any(|entry| entry.message.contains("no connection could be opened; attempt 2")));
    // The host's sink hears of every attempt too.
    assert_eq!(sink.events().len(), 3);
    let once = delivery
        .execute(&spec("connection_errors = false\n"), &Variables::new(), &Context::default(), &mut Cookies::new())
        .await;
    assert_eq!(once.attempts, 1);
    assert_eq!(common::event_names(&once), ["api_exception"]);
}

/// Retries that a server's late start rescues: connection refused, then a server.
#[tokio::test]
async fn a_server_that_starts_late_is_reached_by_a_retry() {
    let port = closed_port();
    let starter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        let server = MockServer::builder().listener(listener).start().await;
        Mock::given(any()).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        tokio::time::sleep(Duration::from_secs(10)).await;
        drop(server);
    });
    let spec = common::compile(&format!(
        "url = \"http://127.0.0.1:{port}/x\"\n[retry]\nattempts = 6\nbackoff = \"200ms\"\nmax_backoff = \"400ms\"\n"
    ));
    let delivered = Delivery::new(common::executor())
        .execute(&spec, &Variables::new(), &Context::default(), &mut Cookies::new())
        .await;
    starter.abort();
    assert_eq!(delivered.status, Some(200), "{:?}", delivered.log);
    assert!(delivered.attempts > 1, "{:?}", delivered.log);
}

#[test]
fn check_places_retry_problems_at_their_line_and_column() {
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), "url = \"https://x.org\"\n[retry]\natempts = 3\n");
    let output = Command::new(env!("CARGO_BIN_EXE_courier")).args(["check", spec.to_str().unwrap()]).output().unwrap();
    let shown = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert_ne!(output.status.code(), Some(0), "{shown}");
    assert!(shown.contains("request.toml:3:1"), "{shown}");
    assert!(shown.contains("unknown field `atempts`") && shown.contains("`attempts`"), "{shown}");

    let spec = write_spec(
        folder.path(),
        "url = \"https://x.org\"\n[retry]\nattempts = 0\nstatuses = [503, 200]\nbackoff = \"soon\"\n",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_courier")).args(["check", spec.to_str().unwrap()]).output().unwrap();
    let shown = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(shown.contains("request.toml:3:12") && shown.contains("0 is not between 1 and 10"), "{shown}");
    assert!(shown.contains("request.toml:4:18") && shown.contains("200 is not an error status"), "{shown}");
    assert!(shown.contains("request.toml:5:11") && shown.contains("\"soon\" is not a duration"), "{shown}");

    // A value of the wrong type is placed at its key inside the table, not at the table.
    let spec = write_spec(folder.path(), "url = \"https://x.org\"\n[retry]\nattempts = 3\nbackoff = 5\n");
    let output = Command::new(env!("CARGO_BIN_EXE_courier")).args(["check", spec.to_str().unwrap()]).output().unwrap();
    let shown = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(shown.contains("request.toml:4:11") && shown.contains("write \"5s\""), "{shown}");
}

#[tokio::test]
async fn a_host_caps_the_attempts_a_spec_asks_for() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let options = courier::request::ExecutorOptions { max_attempts: 2, ..common::options() };
    let delivery = Delivery::new(courier::request::Executor::with_options(options));
    let request = common::compile(&format!("url = \"{}/x\"\n[retry]\nattempts = 5\nbackoff = \"5ms\"\n", server.uri()));
    let outcome = delivery.execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(outcome.attempts, 2, "{:?}", outcome.log);
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[tokio::test]
async fn each_attempts_event_carries_the_time_that_attempt_ended() {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "1")).mount(&server).await;
    let delivery = Delivery::new(common::executor());
    let request = common::compile(&format!("url = \"{}/x\"\n[retry]\nattempts = 2\n", server.uri()));
    let outcome = delivery.execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(outcome.attempts, 2, "{:?}", outcome.log);
    // The first event is stamped when its answer came, not after the one-second wait.
    let gap = outcome.events[1].time - outcome.events[0].time;
    assert!(gap >= chrono::Duration::milliseconds(900), "{gap:?}");
}
