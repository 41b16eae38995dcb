//! Issue #11: requests against hostile authors and services — rendering inside the
//! request's deadline, credentials redacted in every form, framing headers refused,
//! local files confined, URLs and keys checked — each against a loopback server.

mod common;

use std::time::{Duration, Instant};

use common::{compile, event_names, run};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server_answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(response).mount(&server).await;
    server
}

#[tokio::test]
async fn rendering_counts_against_the_requests_total_time_limit() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    // Each hole is cheap, and all of them together stay inside the byte and step
    // budgets, but not inside 100 ms.
    let hole = r#"${stringLength(stringReplaceAll(x, "a", "b"))}"#;
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/x\"\ntimeout = \"100ms\"\n[body]\ntype = \"form\"\n[body.fields]\nq = '{}'\n",
        server.uri(),
        hole.repeat(20_000)
    );
    let request = compile(&spec);
    let x = "a".repeat(1000);
    let started = Instant::now();
    let outcome = run(&request, &[("x", x.as_str())]).await;
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    let error = outcome.error.clone().expect("the request failed");
    assert!(error.contains("time limit") && error.contains("nothing was sent"), "{error}");
    assert_eq!(event_names(&outcome), ["api_http_timeout_exception"], "{outcome:?}");
    assert!(server.received_requests().await.unwrap().is_empty());
}
