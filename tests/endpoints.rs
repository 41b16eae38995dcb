//! Enterprise endpoints (#25) against real servers on loopback: `[sign]` checked by
//! the test's own HMAC and by the official Standard Webhooks library, `[poll]`
//! against a 202 job server, and Digest auth against the test's own server and
//! against httpbin. The Python parts run when `COURIER_TEST_PYTHON=1` says so,
//! with `standardwebhooks`, `httpbin` and `gunicorn` installed in the venv at
//! `COURIER_VENV` (default `target/ci-venv`); without it they print what they skip.
#![cfg(feature = "cli")]

mod common;
mod replay_support;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use common::{compile, context_with_secrets, event_names};
use courier::replay::Delivery;
use courier::request::{Cookies, Destinations, Executor, ExecutorOptions, Outcome};
use courier::{Context, Variables};
use hmac::{Hmac, Mac};
use replay_support::{Seen, Server};
use sha2::{Digest, Sha256};

/// A Standard Webhooks secret (the reference libraries' example) and its key.
const SIGNING: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SIGNING_KEY: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A POST whose JSON body is signed; `extra` goes among the top-level fields.
fn signed_spec(url: &str, extra: &str) -> String {
    format!(
        r#"method = "POST"
url = "{url}"
debug = true
body = "json"
payload = '{{"order": ${{order}}, "note": "Grüße, ${{order}}"}}'
{extra}
[sign]
scheme = "standard-webhooks"
secret = '${{secret("SIGNING")}}'
"#
    )
}

fn signing_context() -> Context {
    context_with_secrets(&[("SIGNING", SIGNING)])
}

/// The signature Standard Webhooks defines, computed here from the received request.
fn expected_signature(id: &str, timestamp: &str, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD.decode(SIGNING_KEY).unwrap();
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// Asserts that no form of the signing secret is in `text`.
fn assert_no_signing_secret(text: &str, what: &str) {
    for form in [SIGNING, SIGNING_KEY] {
        assert!(!text.contains(form), "the signing secret is in {what}: {text}");
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn a_signed_request_carries_its_key_as_webhook_id_and_a_signature_over_the_bytes_sent() {
    let server = Server::start();
    let request = compile(&signed_spec(&server.url("/hooks"), ""));
    let variables = Variables::from_strings([("order", "7")]);
    let outcome = common::executor().execute(&request, &variables, &signing_context(), &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    let sent = &seen[0];
    // Courier made the key (nothing else gave one), and it is the webhook-id.
    let id = sent.header("webhook-id").expect("a webhook-id");
    assert_eq!(Some(id), sent.header("idempotency-key"));
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let timestamp = sent.header("webhook-timestamp").expect("a webhook-timestamp");
    assert!((timestamp.parse::<i64>().unwrap() - now()).abs() <= 5, "{timestamp}");
    assert_eq!(sent.body, "{\"order\": \"7\", \"note\": \"Grüße, 7\"}".as_bytes());
    assert_eq!(sent.header("webhook-signature"), Some(expected_signature(id, timestamp, &sent.body).as_str()));
    // The same signature does not fit a body one byte off.
    let mut tampered = sent.body.clone();
    tampered[10] ^= 1;
    assert_ne!(sent.header("webhook-signature"), Some(expected_signature(id, timestamp, &tampered).as_str()));
    assert_no_signing_secret(&serde_json::to_string(&outcome).unwrap(), "the outcome (debug log included)");
}

#[tokio::test]
async fn every_attempt_is_signed_anew_under_the_same_webhook_id() {
    let server = Server::start();
    server.answer_with(503);
    // The wait is at least half the backoff (jitter): over a second, so the times differ.
    let extra = "idempotency_key = \"order-${order}\"\n[retry]\nattempts = 2\nbackoff = \"2200ms\"";
    let request = compile(&signed_spec(&server.url("/hooks"), extra));
    let variables = Variables::from_strings([("order", "7")]);
    let delivery = Delivery::new(common::executor());
    let delivered = delivery.execute(&request, &variables, &signing_context(), &mut Cookies::new()).await;
    assert_eq!((delivered.outcome.status, delivered.attempts), (Some(503), 2), "{:?}", delivered.outcome);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let timestamps: Vec<i64> =
        seen.iter().map(|sent| sent.header("webhook-timestamp").unwrap().parse().unwrap()).collect();
    assert!(timestamps[1] > timestamps[0], "each attempt has its own time: {timestamps:?}");
    for sent in &seen {
        assert_eq!(sent.header("webhook-id"), Some("order-7"));
        let expected = expected_signature("order-7", sent.header("webhook-timestamp").unwrap(), &sent.body);
        assert_eq!(sent.header("webhook-signature"), Some(expected.as_str()));
    }
}

#[test]
fn a_kept_or_queued_signed_request_holds_a_reference_and_is_signed_again_when_sent() {
    let server = Server::start();
    server.answer_with(503);
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("hook.toml"), signed_spec(&server.url("/hooks"), "")).unwrap();
    let courier = |args: &[&str]| {
        replay_support::courier(folder.path()).args(args).env("COURIER_SECRET_SIGNING", SIGNING).output().unwrap()
    };
    let sent = courier(&["send", "hook.toml", "--var", "order=7", "--store", "store.db"]);
    let shown = replay_support::stdout(&sent);
    assert!(shown.contains("\"state\": \"failed\"") || shown.contains("\"state\":\"failed\""), "{shown}");
    assert_no_signing_secret(&shown, "send's output");
    // What the store wrote holds neither the secret nor its key, in any file.
    for entry in std::fs::read_dir(folder.path()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        for form in [SIGNING, SIGNING_KEY] {
            assert!(!bytes.windows(form.len()).any(|window| window == form.as_bytes()), "{}", path.display());
        }
    }
    server.answer_with(200);
    // Without the secret, the replay says which one is missing and sends nothing.
    let without = replay_support::courier(folder.path())
        .args(["replay", "run", "1", "--store", "store.db"])
        .env_remove("COURIER_SECRET_SIGNING")
        .output()
        .unwrap();
    let said = format!("{}{}", replay_support::stdout(&without), replay_support::stderr(&without));
    assert!(!without.status.success() && said.contains("SIGNING"), "{said}");
    assert_eq!(server.seen().len(), 1, "{said}");
    let replayed = courier(&["replay", "run", "1", "--store", "store.db"]);
    assert!(replayed.status.success(), "{}{}", replay_support::stdout(&replayed), replay_support::stderr(&replayed));
    assert_no_signing_secret(&replay_support::stdout(&replayed), "replay's output");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let id = seen[0].header("webhook-id").unwrap();
    assert_eq!(seen[1].header("webhook-id"), Some(id), "the replay is the same message");
    let replay = &seen[1];
    assert_eq!(replay.body, seen[0].body);
    let expected = expected_signature(id, replay.header("webhook-timestamp").unwrap(), &replay.body);
    assert_eq!(replay.header("webhook-signature"), Some(expected.as_str()));
    // A queued signed request is signed by the worker when it delivers it, under its key.
    std::fs::write(folder.path().join("queued.toml"), signed_spec(&server.url("/hooks"), "queue = true")).unwrap();
    let queued = courier(&["send", "queued.toml", "--var", "order=8", "--store", "store.db"]);
    assert!(replay_support::stdout(&queued).contains("pending"), "{}", replay_support::stdout(&queued));
    assert_eq!(server.seen().len(), 2, "nothing is sent before the worker claims it");
    let worked = courier(&["worker", "--store", "store.db", "--until-empty"]);
    assert!(worked.status.success(), "{}", replay_support::stderr(&worked));
    let delivered = server.seen().pop().unwrap();
    assert_eq!(delivered.body, "{\"order\": \"8\", \"note\": \"Grüße, 8\"}".as_bytes());
    let id = delivered.header("webhook-id").unwrap();
    assert_eq!(delivered.header("idempotency-key"), Some(id));
    let expected = expected_signature(id, delivered.header("webhook-timestamp").unwrap(), &delivered.body);
    assert_eq!(delivered.header("webhook-signature"), Some(expected.as_str()));
}

#[test]
fn a_dry_run_shows_the_signing_headers_with_the_signature_redacted() {
    let request = compile(&signed_spec("https://hooks.example.org/in", "[poll]\ninterval = \"2s\""));
    let variables = Variables::from_strings([("order", "7")]);
    let dry = Executor::new().dry_run(&request, &variables, &signing_context(), &Cookies::new()).unwrap();
    assert_eq!(dry.headers.get("webhook-id"), dry.headers.get("idempotency-key"));
    assert!(dry.headers.contains_key("webhook-timestamp"), "{dry:?}");
    assert_eq!(dry.headers.get("webhook-signature").map(String::as_str), Some("[redacted]"));
    let notes = dry.notes.join("\n");
    assert!(notes.contains("signed with Standard Webhooks"), "{notes}");
    assert!(notes.contains("GET its Location every 2s"), "{notes}");
    assert_no_signing_secret(&serde_json::to_string(&dry).unwrap(), "the dry run");
    // A secret that is not a whsec_ one is refused without being shown.
    let wrong = context_with_secrets(&[("SIGNING", "not-a-webhook-secret-at-all")]);
    let error = Executor::new().dry_run(&request, &variables, &wrong, &Cookies::new()).unwrap_err();
    assert!(error.contains("sign.secret") && error.contains("whsec_"), "{error}");
    assert!(!error.contains("not-a-webhook-secret-at-all"), "{error}");
}

/// The venv with the Python packages, when `COURIER_TEST_PYTHON` asks for the
/// Python tests; `None` (and a line saying what was skipped) otherwise.
fn python_venv(what: &str) -> Option<PathBuf> {
    if std::env::var_os("COURIER_TEST_PYTHON").is_none() {
        eprintln!(
            "skipped: {what} (set COURIER_TEST_PYTHON=1 with standardwebhooks, httpbin and gunicorn installed \
             in target/ci-venv or the venv COURIER_VENV names)"
        );
        return None;
    }
    let venv = std::env::var_os("COURIER_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv"));
    assert!(venv.join("bin/python").exists(), "COURIER_TEST_PYTHON is set but {} has no bin/python", venv.display());
    Some(venv)
}

/// What the official library says of `sent` under `secret`: `Ok` when it verifies.
fn official_verdict(venv: &Path, sent: &Seen, body: &[u8], secret: &str) -> Result<String, String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/endpoints_support/verify_webhook.py");
    let input = serde_json::json!({
        "secret": secret,
        "headers": sent.headers,
        "body_base64": base64::engine::general_purpose::STANDARD.encode(body),
    });
    let mut child = Command::new(venv.join("bin/python"))
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the venv's python runs");
    child.stdin.take().unwrap().write_all(input.to_string().as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    if output.status.success() { Ok(said) } else { Err(said) }
}

#[tokio::test]
async fn the_official_standard_webhooks_library_verifies_what_courier_signs() {
    let Some(venv) = python_venv("the Standard Webhooks library's verification") else { return };
    let server = Server::start();
    let request = compile(&signed_spec(&server.url("/hooks"), ""));
    let variables = Variables::from_strings([("order", "7")]);
    let outcome = common::executor().execute(&request, &variables, &signing_context(), &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let sent = &server.seen()[0];
    let verdict = official_verdict(&venv, sent, &sent.body, SIGNING);
    assert!(verdict.as_ref().is_ok_and(|said| said.contains("verified")), "{verdict:?}");
    // The twins: a body one byte off, and another secret, are refused by the same library.
    let mut tampered = sent.body.clone();
    tampered[10] ^= 1;
    let verdict = official_verdict(&venv, sent, &tampered, SIGNING);
    assert!(verdict.as_ref().is_err_and(|said| said.contains("refused")), "{verdict:?}");
    let other = "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE=";
    let verdict = official_verdict(&venv, sent, &sent.body, other);
    assert!(verdict.as_ref().is_err_and(|said| said.contains("refused")), "{verdict:?}");
}

// ---- [poll]: a 202 job server -------------------------------------------------

/// A request the job server saw.
#[derive(Debug, Clone)]
struct JobRequest {
    method: String,
    path: String,
    authorization: Option<String>,
    at: Instant,
}

/// A job server: a POST is answered 202 with `location`; each GET of the job is
/// answered 202 `pending` times (with `retry_after`, when set), then 200.
#[derive(Clone)]
struct Job {
    location: Arc<Mutex<String>>,
    pending: usize,
    retry_after: Option<&'static str>,
    gets: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<JobRequest>>>,
}

impl Job {
    fn new(pending: usize, retry_after: Option<&'static str>) -> Job {
        Job {
            location: Arc::new(Mutex::new("/jobs/1".to_owned())),
            pending,
            retry_after,
            gets: Arc::default(),
            seen: Arc::default(),
        }
    }

    fn seen(&self) -> Vec<JobRequest> {
        self.seen.lock().unwrap().clone()
    }
}

async fn job_answer(State(job): State<Job>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.to_str().unwrap().to_owned());
    let seen =
        JobRequest { method: method.to_string(), path: uri.path().to_owned(), authorization, at: Instant::now() };
    job.seen.lock().unwrap().push(seen);
    let mut answer = if method == Method::POST {
        let location = job.location.lock().unwrap().clone();
        (StatusCode::ACCEPTED, [(header::LOCATION, location)], "accepted").into_response()
    } else if job.gets.fetch_add(1, Ordering::SeqCst) < job.pending {
        (StatusCode::ACCEPTED, "still working").into_response()
    } else {
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"result": "done"}"#).into_response()
    };
    if let Some(wait) = job.retry_after {
        answer.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static(wait));
    }
    answer
}

/// Serves `job` on `ip` (a loopback address: several play several hosts).
async fn serve_job(ip: &str, job: Job) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(job_answer).with_state(job);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

fn job_spec(address: SocketAddr, poll: &str, timeout: &str) -> String {
    format!(
        r#"method = "POST"
url = "http://{address}/jobs"
timeout = "{timeout}"
body = "json"
payload = '{{"report": "monthly"}}'
[auth]
type = "bearer"
token = '${{secret("TOKEN")}}'
[poll]
{poll}
[[mappings]]
source = "result"
target = "job_result"
"#
    )
}

async fn run_with(executor: &Executor, spec: &str) -> Outcome {
    let context = context_with_secrets(&[("TOKEN", "t0ken-of-the-shop")]);
    executor.execute(&compile(spec), &Variables::new(), &context, &mut Cookies::new()).await
}

fn log_of(outcome: &Outcome) -> String {
    outcome.log.iter().map(|entry| entry.message.as_str()).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn a_202_job_is_polled_at_its_location_until_done_and_the_mappings_read_the_last_answer() {
    let job = Job::new(2, None);
    let address = serve_job("127.0.0.1", job.clone()).await;
    let started = Instant::now();
    let outcome = run_with(&common::executor(), &job_spec(address, "interval = \"200ms\"", "10s")).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    assert_eq!(outcome.variables.get("job_result").and_then(|value| value.as_text()), Some("done"));
    let seen = job.seen();
    let requests: Vec<(&str, &str)> = seen.iter().map(|seen| (seen.method.as_str(), seen.path.as_str())).collect();
    assert_eq!(requests, [("POST", "/jobs"), ("GET", "/jobs/1"), ("GET", "/jobs/1"), ("GET", "/jobs/1")]);
    // The same origin: every poll carries the credentials.
    assert!(seen.iter().all(|seen| seen.authorization.as_deref() == Some("Bearer t0ken-of-the-shop")));
    // The first poll waits the interval too, and so does each after it.
    for pair in seen.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(190), "{:?}", pair[1].at - pair[0].at);
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    let log = log_of(&outcome);
    assert!(log.contains("poll 3 of at most 30 in 200ms"), "{log}");
    assert!(log.contains("the job answered 200 after 3 polls"), "{log}");
    assert!(!serde_json::to_string(&outcome).unwrap().contains("t0ken-of-the-shop"));
}

#[tokio::test]
async fn polls_that_run_out_are_a_timeout_naming_the_poll_count() {
    let job = Job::new(100, None);
    let address = serve_job("127.0.0.1", job.clone()).await;
    let outcome = run_with(&common::executor(), &job_spec(address, "interval = \"10ms\"\nmax_polls = 3", "10s")).await;
    assert_eq!(outcome.status, None, "{outcome:?}");
    let error = outcome.error.clone().unwrap();
    assert!(error.contains("not done after 3 polls (poll.max_polls = 3)"), "{error}");
    assert_eq!(event_names(&outcome), ["api_http_timeout_exception"]);
    assert_eq!(job.seen().len(), 4, "the POST and at most 3 GETs");
    // The twin: one poll more, and the job is done.
    let done = Job::new(3, None);
    let address = serve_job("127.0.0.1", done).await;
    let outcome = run_with(&common::executor(), &job_spec(address, "interval = \"10ms\"\nmax_polls = 4", "10s")).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
}

/// A job kept pending for many polls: the first polls and the last are logged one
/// by one (under `debug`, with their exchanges), those between in one note, so the
/// log does not grow with every poll a hostile service asks for.
#[tokio::test]
async fn a_long_poll_logs_the_first_polls_and_the_last_and_counts_the_rest_in_one_note() {
    let job = Job::new(40, None);
    let address = serve_job("127.0.0.1", job.clone()).await;
    let spec =
        job_spec(address, "interval = \"1ms\"\nmax_polls = 50", "30s").replacen("method", "debug = true\nmethod", 1);
    let outcome = run_with(&common::executor(), &spec).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    assert_eq!(job.seen().len(), 42, "the POST and 41 GETs");
    let log = log_of(&outcome);
    for kept in [
        "poll 1 of at most 50",
        "poll 10 of at most 50",
        "polls 11 to 40: not logged one by one",
        "poll 41 of at most 50",
        "after 41 polls",
    ] {
        assert!(log.contains(kept), "{kept}: {log}");
    }
    for folded in ["poll 11 of at most 50", "poll 40 of at most 50"] {
        assert!(!log.contains(folded), "{folded}: {log}");
    }
    let exchanges = outcome.log.iter().filter(|entry| entry.response.is_some()).count();
    assert_eq!(exchanges, 12, "the first request, 10 polls and the last: {log}");
    // The twin: a job done within the first polls has every poll logged.
    let short = Job::new(3, None);
    let address = serve_job("127.0.0.1", short).await;
    let outcome = run_with(&common::executor(), &job_spec(address, "interval = \"1ms\"", "10s")).await;
    let log = log_of(&outcome);
    for poll in 1..=4 {
        assert!(log.contains(&format!("poll {poll} of at most 30")), "{poll}: {log}");
    }
    assert!(!log.contains("not logged one by one"), "{log}");
}

#[tokio::test]
async fn a_retry_after_past_the_timeout_ends_polling_at_once() {
    let job = Job::new(100, Some("30"));
    let address = serve_job("127.0.0.1", job.clone()).await;
    let started = Instant::now();
    let outcome = run_with(&common::executor(), &job_spec(address, "", "3s")).await;
    assert!(started.elapsed() < Duration::from_secs(2), "no wait that cannot end in time");
    let error = outcome.error.clone().unwrap_or_default();
    assert!(error.contains("not done after 0 polls: the next poll is due in 30s"), "{outcome:?}");
    assert_eq!(event_names(&outcome), ["api_http_timeout_exception"]);
    assert_eq!(job.seen().len(), 1);
    // A job that takes longer than the timeout is cut at it, the polls counted.
    let slow = Job::new(100, Some("1"));
    let address = serve_job("127.0.0.1", slow).await;
    let started = Instant::now();
    let outcome = run_with(&common::executor(), &job_spec(address, "", "2500ms")).await;
    assert!(started.elapsed() < Duration::from_millis(2800), "{:?}", started.elapsed());
    let error = outcome.error.clone().unwrap_or_default();
    assert!(error.contains("not done after 2 polls"), "{outcome:?}");
}

/// An executor that may reach 127.0.0.1 only.
fn loopback_one_only() -> Executor {
    let entries = Destinations::parse_list("127.0.0.1").unwrap();
    let destinations = entries.into_iter().fold(Destinations::public_only(), Destinations::with);
    Executor::with_options(ExecutorOptions { destinations, ..ExecutorOptions::default() })
}

#[tokio::test]
async fn a_location_the_policy_refuses_is_not_polled_and_an_allowed_one_gets_no_credentials_of_another_origin() {
    let elsewhere = Job::new(0, None);
    let other = serve_job("127.0.0.2", elsewhere.clone()).await;
    let job = Job::new(0, None);
    *job.location.lock().unwrap() = format!("http://{other}/jobs/1");
    let address = serve_job("127.0.0.1", job.clone()).await;
    let spec = job_spec(address, "interval = \"10ms\"", "10s");
    let refused = run_with(&loopback_one_only(), &spec).await;
    assert!(refused.refused, "{refused:?}");
    let error = refused.error.clone().unwrap();
    assert!(error.contains("poll 1 of the 202 job") && error.contains("127.0.0.2"), "{error}");
    assert!(elsewhere.seen().is_empty(), "a refused Location is never asked");
    // The twin: allowed, it is polled, without the credentials of the first origin.
    let outcome = run_with(&common::executor(), &spec).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let polled = elsewhere.seen();
    assert_eq!(polled.len(), 1);
    assert_eq!((polled[0].method.as_str(), polled[0].authorization.as_deref()), ("GET", None));
    assert!(log_of(&outcome).contains("(another origin: authorization not sent)"), "{}", log_of(&outcome));
}

// ---- Digest -----------------------------------------------------------------

/// A Digest-protected server (RFC 7616, qop auth) for the user `anna`, written
/// from the RFC here, independently of courier's code.
#[derive(Clone)]
struct DigestServer {
    algorithm: &'static str,
    password: &'static str,
    authorizations: Arc<Mutex<Vec<Option<String>>>>,
}

const REALM: &str = "jobs@courier.test";
const NONCE: &str = "dcd98b7102dd2f0e8b11d0f600bfb0c093";

fn hex_hash(algorithm: &str, text: &str) -> String {
    let bytes = match algorithm {
        "MD5" => md5::Md5::digest(text.as_bytes()).to_vec(),
        _ => Sha256::digest(text.as_bytes()).to_vec(),
    };
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The `key=value` and `key="value"` pairs of an Authorization value (the test's
/// values hold no commas).
fn digest_fields(value: &str) -> HashMap<String, String> {
    let rest = value.strip_prefix("Digest ").unwrap_or_default();
    rest.split(", ")
        .filter_map(|pair| pair.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim_matches('"').to_owned()))
        .collect()
}

async fn digest_answer(State(server): State<DigestServer>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let authorization = headers.get(header::AUTHORIZATION).map(|value| value.to_str().unwrap().to_owned());
    server.authorizations.lock().unwrap().push(authorization.clone());
    let valid = authorization.as_deref().map(digest_fields).is_some_and(|fields| {
        let field = |name: &str| fields.get(name).cloned().unwrap_or_default();
        let h = |text: String| hex_hash(server.algorithm, &text);
        let ha1 = h(format!("anna:{REALM}:{}", server.password));
        let ha2 = h(format!("{method}:{}", uri.path_and_query().unwrap()));
        let expected = h(format!("{ha1}:{NONCE}:{}:{}:auth:{ha2}", field("nc"), field("cnonce")));
        field("username") == "anna"
            && field("uri") == uri.path_and_query().unwrap().as_str()
            && field("qop") == "auth"
            && field("opaque") == "opaque-7"
            && field("response") == expected
    });
    if valid {
        return (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], r#"{"authenticated": true}"#)
            .into_response();
    }
    let challenge = format!(
        "Digest realm=\"{REALM}\", qop=\"auth\", algorithm={}, nonce=\"{NONCE}\", opaque=\"opaque-7\"",
        server.algorithm
    );
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, challenge)], "who are you?").into_response()
}

async fn serve_digest(server: DigestServer) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = axum::Router::new().fallback(digest_answer).with_state(server);
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

const DIGEST_PASSWORD: &str = "Circle of Life 7";

fn digest_spec(url: &str) -> String {
    format!(
        "url = \"{url}\"\ndebug = true\n[auth]\ntype = \"digest\"\nusername = \"${{user}}\"\n\
         password = '${{secret(\"DIGEST_PW\")}}'\n[[mappings]]\nsource = \"authenticated\"\ntarget = \"ok\"\n"
    )
}

async fn digest_run(url: &str, user: &str, password: &str) -> Outcome {
    let context = context_with_secrets(&[("DIGEST_PW", password)]);
    let variables = Variables::from_strings([("user", user)]);
    common::executor().execute(&compile(&digest_spec(url)), &variables, &context, &mut Cookies::new()).await
}

/// Asserts that the password is nowhere in the outcome, in the forms the redactor knows.
fn assert_no_password(outcome: &Outcome, password: &str) {
    let text = serde_json::to_string(outcome).unwrap();
    let base64 = base64::engine::general_purpose::STANDARD.encode(password);
    for form in [password, base64.as_str(), &password.replace(' ', "%20"), &password.replace(' ', "+")] {
        assert!(!text.contains(form), "{form} is in the outcome: {text}");
    }
}

#[tokio::test]
async fn digest_auth_answers_the_challenge_with_md5_and_sha_256() {
    for algorithm in ["MD5", "SHA-256"] {
        let server = DigestServer { algorithm, password: DIGEST_PASSWORD, authorizations: Arc::default() };
        let address = serve_digest(server.clone()).await;
        let outcome = digest_run(&format!("http://{address}/reports?month=3"), "anna", DIGEST_PASSWORD).await;
        assert_eq!(outcome.status, Some(200), "{algorithm}: {outcome:?}");
        assert_eq!(outcome.variables.get("ok").and_then(|value| value.as_text()), Some("true"));
        let sent = server.authorizations.lock().unwrap().clone();
        assert_eq!(sent.len(), 2, "the first request, then the answer");
        assert!(sent[0].is_none());
        assert!(sent[1].as_deref().is_some_and(|value| value.contains(&format!("algorithm={algorithm}"))));
        // The debug log shows the Authorization redacted; the password is nowhere.
        let logged = serde_json::to_string(&outcome.log).unwrap();
        assert!(!logged.contains("response=\\\""), "{logged}");
        assert_no_password(&outcome, DIGEST_PASSWORD);
    }
}

#[tokio::test]
async fn a_wrong_digest_password_is_answered_401_and_never_shown() {
    let server = DigestServer { algorithm: "SHA-256", password: DIGEST_PASSWORD, authorizations: Arc::default() };
    let address = serve_digest(server.clone()).await;
    let wrong = "Circle of Death 9";
    let outcome = digest_run(&format!("http://{address}/reports"), "anna", wrong).await;
    assert_eq!(outcome.status, Some(401), "{outcome:?}");
    assert_eq!(server.authorizations.lock().unwrap().len(), 2, "one answer, not a loop");
    assert_no_password(&outcome, wrong);
    // The twin: the right one passes on the same server.
    let outcome = digest_run(&format!("http://{address}/reports"), "anna", DIGEST_PASSWORD).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
}

/// A Digest challenge that comes after a redirect is the last hop's: answered there
/// (its method and URI), so a POST answered `303` is not sent again; and a
/// challenge from another origin the redirect led to gets no answer at all.
#[tokio::test]
async fn a_digest_challenge_after_a_redirect_is_answered_at_its_hop_within_the_origin_only() {
    let other = DigestServer { algorithm: "SHA-256", password: DIGEST_PASSWORD, authorizations: Arc::default() };
    let elsewhere = serve_digest(other.clone()).await;
    let server = DigestServer { algorithm: "SHA-256", password: DIGEST_PASSWORD, authorizations: Arc::default() };
    let posts = Arc::new(AtomicUsize::new(0));
    let counted = posts.clone();
    let router = axum::Router::new()
        .route(
            "/orders",
            axum::routing::post(move || async move {
                counted.fetch_add(1, Ordering::SeqCst);
                (StatusCode::SEE_OTHER, [(header::LOCATION, "/orders/5")]).into_response()
            }),
        )
        .route(
            "/away",
            axum::routing::post(move || async move {
                (StatusCode::SEE_OTHER, [(header::LOCATION, format!("http://{elsewhere}/orders/5"))]).into_response()
            }),
        )
        .fallback(digest_answer)
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let post = |url: String| {
        let spec = format!("method = \"POST\"\nbody = \"json\"\npayload = '{{\"n\": 1}}'\n{}", digest_spec(&url));
        let context = context_with_secrets(&[("DIGEST_PW", DIGEST_PASSWORD)]);
        let variables = Variables::from_strings([("user", "anna")]);
        async move { common::executor().execute(&compile(&spec), &variables, &context, &mut Cookies::new()).await }
    };
    let outcome = post(format!("http://{address}/orders")).await;
    assert_eq!(outcome.status, Some(200), "{}", log_of(&outcome));
    assert_eq!(posts.load(Ordering::SeqCst), 1, "the POST was not sent again");
    let sent = server.authorizations.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "GET /orders/5, then with the answer: {sent:?}");
    assert!(sent[1].as_deref().is_some_and(|value| value.contains("uri=\"/orders/5\"")), "{sent:?}");
    assert_no_password(&outcome, DIGEST_PASSWORD);
    // Another origin's challenge is not answered: nothing is sent again, anywhere.
    let outcome = post(format!("http://{address}/away")).await;
    assert_eq!(outcome.status, Some(401), "{}", log_of(&outcome));
    assert!(log_of(&outcome).contains("another origin, which gets no answer"), "{}", log_of(&outcome));
    assert_eq!(other.authorizations.lock().unwrap().clone(), [None], "one GET, without Authorization");
}

/// httpbin served by gunicorn from the venv, on a free loopback port; killed on drop.
struct Httpbin {
    child: std::process::Child,
    address: String,
}

impl Drop for Httpbin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_httpbin(venv: &Path) -> Httpbin {
    let port = replay_support::free_port();
    let address = format!("127.0.0.1:{port}");
    let child = Command::new(venv.join("bin/gunicorn"))
        .args(["--bind", &address, "--workers", "1", "httpbin:app"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gunicorn runs");
    let server = Httpbin { child, address };
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(&server.address).is_err() {
        assert!(Instant::now() < deadline, "httpbin did not start on {}", server.address);
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

#[tokio::test]
async fn httpbin_accepts_courier_s_digest_answers() {
    let Some(venv) = python_venv("Digest auth against httpbin") else { return };
    let httpbin = start_httpbin(&venv);
    for algorithm in ["MD5", "SHA-256"] {
        let url = format!("http://{}/digest-auth/auth/user/passwd/{algorithm}", httpbin.address);
        let outcome = digest_run(&url, "user", "passwd").await;
        assert_eq!(outcome.status, Some(200), "{algorithm}: {outcome:?}");
        assert_eq!(outcome.variables.get("ok").and_then(|value| value.as_text()), Some("true"), "{outcome:?}");
        // The twin: a wrong password is refused by the same server.
        let outcome = digest_run(&url, "user", "not-the-passwd").await;
        assert_eq!(outcome.status, Some(401), "{algorithm}: {outcome:?}");
        assert_no_password(&outcome, "not-the-passwd");
    }
}
