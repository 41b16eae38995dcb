//! Traces with the real binary: an OTLP/HTTP receiver on loopback (axum, the
//! protobuf decoded with `opentelemetry-proto`'s types) gets the spans of a
//! `courier send --otlp` and of a record queued by `courier enqueue --otlp` and
//! delivered by `courier worker` (the endpoint from `OTEL_EXPORTER_OTLP_ENDPOINT`),
//! and their trace id is the one of the `traceparent` the destination received;
//! no secret reaches the receiver in any form; without `--otlp` the requests still
//! carry a `traceparent` and `x-b3-traceid` of one trace id.
#![cfg(feature = "cli")]

mod replay_support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use prost::Message;
use replay_support::{Server, courier, stderr, stdout};

/// A span as the receiver decoded it.
#[derive(Debug, Clone)]
struct Received {
    name: String,
    trace_id: String,
    span_id: String,
    parent_span_id: String,
    attributes: HashMap<String, String>,
    service: String,
}

/// An OTLP/HTTP receiver on a free loopback port: keeps every body posted to
/// `/v1/traces`; stops when dropped.
struct Receiver {
    address: std::net::SocketAddr,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let app = axum::Router::new().route(
                    "/v1/traces",
                    axum::routing::post(move |body: axum::body::Bytes| {
                        let kept = kept.clone();
                        async move {
                            kept.lock().unwrap().push(body.to_vec());
                            ([("content-type", "application/x-protobuf")], Vec::<u8>::new())
                        }
                    }),
                );
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                ready_tx.send(listener.local_addr().unwrap()).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    })
                    .await;
            });
        });
        let address = ready_rx.recv().unwrap();
        Receiver { address, bodies, stop: Some(stop_tx), thread: Some(thread) }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every body received so far, as they came.
    fn raw(&self) -> Vec<Vec<u8>> {
        self.bodies.lock().unwrap().clone()
    }

    /// Every span received so far.
    fn spans(&self) -> Vec<Received> {
        let mut spans = Vec::new();
        for body in self.raw() {
            let request = ExportTraceServiceRequest::decode(body.as_slice()).expect("an OTLP protobuf body");
            for resource_spans in request.resource_spans {
                let resource = resource_spans.resource.map(|resource| attributes(&resource.attributes));
                let service = resource.and_then(|mut attributes| attributes.remove("service.name")).unwrap_or_default();
                for scope in resource_spans.scope_spans {
                    for span in scope.spans {
                        spans.push(Received {
                            name: span.name.clone(),
                            trace_id: hex(&span.trace_id),
                            span_id: hex(&span.span_id),
                            parent_span_id: hex(&span.parent_span_id),
                            attributes: attributes(&span.attributes),
                            service: service.clone(),
                        });
                    }
                }
            }
        }
        spans
    }

    /// The spans, once at least `count` came (for at most 10 s).
    fn wait_for(&self, count: usize) -> Vec<Received> {
        let start = Instant::now();
        loop {
            let spans = self.spans();
            if spans.len() >= count || start.elapsed() > Duration::from_secs(10) {
                return spans;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn attributes(list: &[opentelemetry_proto::tonic::common::v1::KeyValue]) -> HashMap<String, String> {
    list.iter()
        .map(|pair| {
            let value = match pair.value.as_ref().and_then(|value| value.value.as_ref()) {
                Some(any_value::Value::StringValue(text)) => text.clone(),
                Some(any_value::Value::IntValue(number)) => number.to_string(),
                Some(any_value::Value::BoolValue(flag)) => flag.to_string(),
                Some(any_value::Value::DoubleValue(number)) => number.to_string(),
                other => format!("{other:?}"),
            };
            (pair.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The trace id and parent span id of a `traceparent` value, checked for its form.
fn traceparent_ids(value: &str) -> (String, String, String) {
    let parts: Vec<&str> = value.split('-').collect();
    assert_eq!(parts.len(), 4, "{value}");
    assert_eq!(parts[0], "00", "{value}");
    assert_eq!((parts[1].len(), parts[2].len(), parts[3].len()), (32, 16, 2), "{value}");
    (parts[1].to_owned(), parts[2].to_owned(), parts[3].to_owned())
}

/// A `courier` command with no OpenTelemetry settings from outside.
fn clean_courier(folder: &Path) -> std::process::Command {
    let mut command = courier(folder);
    for name in [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_SERVICE_NAME",
        "OTEL_RESOURCE_ATTRIBUTES",
        "OTEL_TRACES_SAMPLER",
    ] {
        command.env_remove(name);
    }
    command
}

const SECRET: &str = "Tr4ce$ecret/Value";

fn names(spans: &[Received]) -> Vec<&str> {
    spans.iter().map(|span| span.name.as_str()).collect()
}

fn named<'a>(spans: &'a [Received], name: &str) -> Vec<&'a Received> {
    spans.iter().filter(|span| span.name == name).collect()
}

#[test]
fn a_send_exports_its_span_tree_in_the_trace_of_its_traceparent_and_no_secret() {
    let (server, receiver) = (Server::start(), Receiver::start());
    let folder = tempfile::tempdir().unwrap();
    let spec = folder.path().join("request.toml");
    std::fs::write(
        &spec,
        format!(
            "method = \"POST\"\nurl = '{}?key=${{secret(\"API_KEY\")}}'\nbody = \"json\"\npayload = '{{\"a\": 1}}'\n\
             [headers]\nX-Api-Key = '${{secret(\"API_KEY\")}}'\n[[mappings]]\nsource = \"ok\"\ntarget = \"ok\"\n",
            server.url("/hook")
        ),
    )
    .unwrap();
    let sent = clean_courier(folder.path())
        .args(["send", spec.to_str().unwrap(), "--otlp", &receiver.url(), "--debug"])
        .env("COURIER_SECRET_API_KEY", SECRET)
        .output()
        .unwrap();
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    assert!(stdout(&sent).contains("\"ok\""), "{}", stdout(&sent));

    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("x-api-key"), Some(SECRET), "the secret was sent");
    let (trace_id, parent, flags) = traceparent_ids(seen[0].header("traceparent").expect("a traceparent"));
    assert_eq!(seen[0].header("x-b3-traceid"), Some(trace_id.as_str()), "one trace id in both headers");
    assert_eq!(flags, "01", "the span was recorded");

    let spans = receiver.wait_for(5);
    let expected = ["courier.send", "courier.render", "courier.attempt", "courier.http", "courier.map"];
    for name in expected {
        assert_eq!(named(&spans, name).len(), 1, "one {name} in {:?}", names(&spans));
    }
    assert!(spans.iter().all(|span| span.trace_id == trace_id), "{spans:#?}");
    assert!(spans.iter().all(|span| span.service == "courier"), "{spans:#?}");
    let (send, http) = (named(&spans, "courier.send")[0], named(&spans, "courier.http")[0]);
    let attempt = named(&spans, "courier.attempt")[0];
    assert_eq!(http.span_id, parent, "the traceparent names the span that sent the request");
    assert_eq!(http.parent_span_id, attempt.span_id);
    assert_eq!(attempt.parent_span_id, send.span_id);
    assert_eq!(named(&spans, "courier.map")[0].parent_span_id, send.span_id);
    assert_eq!(named(&spans, "courier.render")[0].parent_span_id, send.span_id);
    assert_eq!(send.parent_span_id, "", "the send is the trace's root");
    assert_eq!(http.attributes.get("http.response.status_code").map(String::as_str), Some("200"));
    assert_eq!(http.attributes.get("server.address").map(String::as_str), Some("127.0.0.1"));
    assert_eq!(http.attributes.get("http.request.method").map(String::as_str), Some("POST"));
    assert_eq!(send.attributes.get("url.template").map(String::as_str), Some(server.url("/hook").as_str()));
    assert_eq!(send.attributes.get("courier.attempts").map(String::as_str), Some("1"));
    // Only the documented attributes: no source locations or thread names.
    let documented = [
        "http.request.method",
        "url.template",
        "server.address",
        "server.port",
        "courier.attempts",
        "courier.attempt",
        "courier.redirect",
        "http.response.status_code",
        "error.type",
    ];
    for span in &spans {
        for key in span.attributes.keys() {
            assert!(documented.contains(&key.as_str()), "{key} on {}", span.name);
        }
    }

    // No secret in any form in anything exported.
    let percent = percent_encoding::utf8_percent_encode(SECRET, percent_encoding::NON_ALPHANUMERIC).to_string();
    let base64 = base64::engine::general_purpose::STANDARD.encode(SECRET);
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
    for body in receiver.raw() {
        for form in [SECRET, percent.as_str(), base64.as_str(), url_safe.as_str(), "Tr4ce"] {
            assert!(
                !body.windows(form.len()).any(|window| window == form.as_bytes()),
                "the secret ({form}) was exported: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
}

/// Queues one POST to `server` with `courier enqueue --otlp` to `receiver`; the
/// folder and the store's path.
fn enqueue_one_traced(server: &Server, receiver: &Receiver) -> (tempfile::TempDir, String) {
    let folder = tempfile::tempdir().unwrap();
    let spec = folder.path().join("request.toml");
    std::fs::write(&spec, format!("method = \"POST\"\nurl = '{}'\n", server.url("/queued"))).unwrap();
    let vars = folder.path().join("vars.jsonl");
    std::fs::write(&vars, "{\"n\": \"1\"}\n").unwrap();
    let store = folder.path().join("queue.db");
    let store = store.to_str().unwrap();
    let enqueued = clean_courier(folder.path())
        .args(["enqueue", spec.to_str().unwrap(), "--vars-jsonl", vars.to_str().unwrap(), "--store", store])
        .args(["--otlp", &receiver.url()])
        .output()
        .unwrap();
    assert_eq!(enqueued.status.code(), Some(0), "{}", stderr(&enqueued));
    let store = store.to_owned();
    (folder, store)
}

#[test]
fn a_queued_records_delivery_joins_the_trace_of_its_enqueuer() {
    let (server, receiver) = (Server::start(), Receiver::start());
    let (folder, store) = enqueue_one_traced(&server, &receiver);
    let store = store.as_str();
    let enqueue_spans = receiver.wait_for(2);
    let enqueuer = named(&enqueue_spans, "courier.send");
    assert_eq!(enqueuer.len(), 1, "{enqueue_spans:#?}");
    assert!(server.seen().is_empty(), "queueing sends nothing");

    // The worker takes the collector from the environment, and the service name too.
    let worked = clean_courier(folder.path())
        .args(["worker", "--store", store, "--until-empty"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url())
        .env("OTEL_SERVICE_NAME", "courier-worker")
        .output()
        .unwrap();
    assert_eq!(worked.status.code(), Some(0), "{}", stderr(&worked));
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let (trace_id, parent, _) = traceparent_ids(seen[0].header("traceparent").expect("a traceparent"));
    assert_eq!(seen[0].header("x-b3-traceid"), Some(trace_id.as_str()));
    assert_eq!(enqueuer[0].trace_id, trace_id, "the delivery is in the enqueuer's trace");

    let spans = receiver.wait_for(enqueue_spans.len() + 4);
    let worker_spans: Vec<&Received> = spans.iter().filter(|span| span.service == "courier-worker").collect();
    let deliver = named(&spans, "courier.deliver");
    assert_eq!(deliver.len(), 1, "{spans:#?}");
    assert_eq!(deliver[0].service, "courier-worker");
    assert_eq!(deliver[0].parent_span_id, enqueuer[0].span_id, "the enqueuer's span is the delivery's parent");
    assert!(worker_spans.len() >= 4, "{worker_spans:#?}");
    assert!(worker_spans.iter().all(|span| span.trace_id == trace_id), "{worker_spans:#?}");
    let http: Vec<&&Received> = worker_spans.iter().filter(|span| span.name == "courier.http").collect();
    assert_eq!(http.len(), 1);
    assert_eq!(http[0].span_id, parent, "the traceparent names the span that sent the request");
    assert_eq!(deliver[0].attributes.get("courier.result").map(String::as_str), Some("delivered"));
}

#[test]
fn a_worker_without_otlp_sends_a_queued_record_in_its_enqueuers_trace() {
    let (server, receiver) = (Server::start(), Receiver::start());
    let (folder, store) = enqueue_one_traced(&server, &receiver);
    let store = store.as_str();
    let spans = receiver.wait_for(2);
    let enqueuer = named(&spans, "courier.send");
    assert_eq!(enqueuer.len(), 1, "{spans:#?}");
    let worked = clean_courier(folder.path()).args(["worker", "--store", store, "--until-empty"]).output().unwrap();
    assert_eq!(worked.status.code(), Some(0), "{}", stderr(&worked));
    let seen = server.seen();
    let (trace_id, parent, flags) = traceparent_ids(seen[0].header("traceparent").expect("a traceparent"));
    assert_eq!(trace_id, enqueuer[0].trace_id, "the kept trace id goes out without an exporter too");
    assert_ne!(parent, enqueuer[0].span_id, "a span id of the request's own");
    assert_eq!(flags, "00", "nothing recorded: not sampled");
    assert_eq!(receiver.spans().len(), spans.len(), "nothing more was exported");
}

#[test]
fn without_otlp_requests_still_carry_one_trace_id_in_both_headers() {
    let server = Server::start();
    let folder = tempfile::tempdir().unwrap();
    let spec = folder.path().join("request.toml");
    std::fs::write(
        &spec,
        format!("url = '{}'\n[retry]\nattempts = 2\nstatuses = [503]\nbackoff = \"10ms\"\n", server.url("/a")),
    )
    .unwrap();
    server.answer_with(503);
    let sent = clean_courier(folder.path()).args(["send", spec.to_str().unwrap()]).output().unwrap();
    assert!(stdout(&sent).contains("no attempts left"), "{}{}", stdout(&sent), stderr(&sent));
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "two attempts");
    let ids: Vec<(String, String, String)> =
        seen.iter().map(|seen| traceparent_ids(seen.header("traceparent").expect("a traceparent"))).collect();
    assert_eq!(ids[0].0, ids[1].0, "the attempts of one send share its trace id");
    assert_ne!(ids[0].1, ids[1].1, "each request has a span id of its own");
    assert!(ids.iter().all(|(_, _, flags)| flags == "00"), "nothing recorded: not sampled");
    for (seen, (trace_id, _, _)) in seen.iter().zip(&ids) {
        assert_eq!(seen.header("x-b3-traceid"), Some(trace_id.as_str()));
    }
}

#[test]
fn a_protocol_other_than_http_protobuf_and_a_bad_collector_url_are_refused() {
    let folder = tempfile::tempdir().unwrap();
    let spec = folder.path().join("request.toml");
    std::fs::write(&spec, "url = 'http://127.0.0.1:9/'\n").unwrap();
    let grpc = clean_courier(folder.path())
        .args(["send", spec.to_str().unwrap(), "--otlp", "http://127.0.0.1:4317"])
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    assert_eq!(grpc.status.code(), Some(2), "{}", stderr(&grpc));
    assert!(stderr(&grpc).contains("http/protobuf"), "{}", stderr(&grpc));
    let bad = clean_courier(folder.path())
        .args(["send", spec.to_str().unwrap(), "--otlp", "collector:4318"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert!(stderr(&bad).contains("--otlp"), "{}", stderr(&bad));
}

/// On a machine without a system CA store (simulated with an empty
/// `SSL_CERT_FILE` and `SSL_CERT_DIR`), `--otlp` to an http collector starts and
/// exports: the exporter's default client could not be built there, and courier
/// stopped with a usage error before sending anything.
#[test]
fn without_a_system_ca_store_an_http_collector_still_gets_the_spans() {
    let (server, receiver) = (Server::start(), Receiver::start());
    let folder = tempfile::tempdir().unwrap();
    let spec = folder.path().join("request.toml");
    std::fs::write(&spec, format!("url = '{}'\n", server.url("/hook"))).unwrap();
    let empty = folder.path().join("empty-store");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(folder.path().join("empty-store.pem"), "").unwrap();
    let sent = clean_courier(folder.path())
        .args(["send", spec.to_str().unwrap(), "--otlp", &receiver.url()])
        .env("SSL_CERT_FILE", folder.path().join("empty-store.pem"))
        .env("SSL_CERT_DIR", &empty)
        .output()
        .unwrap();
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    assert_eq!(server.seen().len(), 1);
    let spans = receiver.wait_for(1);
    assert!(names(&spans).contains(&"courier.send"), "{spans:?}");
}
