//! Issue #11: requests against hostile authors and services — rendering inside the
//! request's deadline, credentials redacted in every form, framing headers refused,
//! local files confined, URLs and keys checked — each against a loopback server.
#![cfg(feature = "cli")]

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

/// Answers with `status` and a body that echoes every request header, as some
/// services' error pages do.
struct EchoHeaders(u16);

impl wiremock::Respond for EchoHeaders {
    fn respond(&self, request: &wiremock::Request) -> ResponseTemplate {
        let headers: Vec<String> = request
            .headers
            .iter()
            .map(|(name, value)| format!("{name}: {}", String::from_utf8_lossy(value.as_bytes())))
            .collect();
        ResponseTemplate::new(self.0).set_body_string(headers.join("\n"))
    }
}

async fn echoing(status: u16) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(EchoHeaders(status)).mount(&server).await;
    server
}

fn assert_no_form_of(text: &str, secrets: &[&str]) {
    use base64::Engine as _;
    for secret in secrets {
        let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
        assert!(!text.contains(secret) && !text.contains(&encoded), "{secret:?} or {encoded:?} in {text}");
    }
}

#[tokio::test]
async fn basic_credentials_echoed_by_a_service_are_redacted_in_the_outcome_and_the_store() {
    let server = echoing(500).await;
    let folder = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(courier::replay::SqliteStore::open(folder.path().join("store.db")).unwrap());
    let spec = format!(
        "url = \"{}/x\"\ndebug = true\n[auth]\ntype = \"basic\"\nusername = \"anna\"\npassword = '${{secret(\"PW\")}}'\n",
        server.uri()
    );
    std::fs::write(folder.path().join("echo.toml"), spec).unwrap();
    let request = courier::request::CompiledRequest::load(&common::engine(), folder.path().join("echo.toml")).unwrap();
    let executor = courier::replay::Delivery::new(common::executor()).with_store(store.clone());
    let context = common::context_with_secrets(&[("PW", "correct horse battery")]);
    let outcome =
        executor.execute(&request, &courier::Variables::new(), &context, &mut courier::request::Cookies::new()).await;
    assert_eq!(outcome.status, Some(500));
    assert!(outcome.replay.is_some(), "{outcome:?}");
    let shown = serde_json::to_string(&outcome).unwrap();
    assert!(shown.contains("[redacted]"), "{shown}");
    assert_no_form_of(&shown, &["anna:correct horse battery", "correct horse battery"]);
    use courier::replay::ReplayStore as _;
    let records = store.list().unwrap();
    let last_error = records[0].last_error.clone().unwrap();
    assert!(last_error.contains("500"), "{last_error}");
    assert_no_form_of(&last_error, &["anna:correct horse battery", "correct horse battery"]);
}

#[tokio::test]
async fn an_oauth2_clients_header_echoed_by_a_failing_token_endpoint_is_redacted() {
    let token_endpoint = echoing(401).await;
    let api = server_answering(ResponseTemplate::new(200)).await;
    let spec = format!(
        "url = \"{}/x\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"{}/token\"\nclient_id = \"app\"\nclient_secret = '${{secret(\"CS\")}}'\nclient_auth = \"header\"\n",
        api.uri(),
        token_endpoint.uri()
    );
    let context = common::context_with_secrets(&[("CS", "s3cr3t-client")]);
    let outcome = common::executor()
        .execute(&compile(&spec), &courier::Variables::new(), &context, &mut courier::request::Cookies::new())
        .await;
    let error = outcome.error.clone().expect("the token endpoint failed");
    assert!(error.contains("401") && error.contains("[redacted]"), "{error}");
    assert_no_form_of(&serde_json::to_string(&outcome).unwrap(), &["app:s3cr3t-client", "s3cr3t-client"]);
}

#[tokio::test]
async fn transformed_and_escaped_forms_of_a_secret_are_redacted() {
    let secret = "p4ss-w0rd-\u{e9}";
    let escaped: String = secret.encode_utf16().map(|unit| format!("\\u{unit:04x}")).collect();
    // The service echoes the secret `\u`-escaped, part of it only, and inside JSON in JSON.
    let body = format!(r#"{{"a": "{escaped}", "b": "p4ss\u002dw0rd-\u00e9", "c": "{{\"k\": \"{secret}\"}}"}}"#);
    let server = server_answering(ResponseTemplate::new(200).set_body_string(body)).await;
    let spec = format!(
        "url = \"{}/x\"\ndebug = true\n[headers]\nX-Key = '${{base64Encode(secret(\"K\"))}}'\nX-Tagged = '${{base64Encode(\"id:\" += secret(\"K\"))}}'\n",
        server.uri()
    );
    let request = compile(&spec);
    let context = common::context_with_secrets(&[("K", secret)]);
    let dry = common::executor()
        .dry_run(&request, &courier::Variables::new(), &context, &courier::request::Cookies::new())
        .unwrap();
    let dry = serde_json::to_string(&dry).unwrap();
    assert_no_form_of(&dry, &[secret, &format!("id:{secret}")]);
    assert!(dry.contains("[redacted]"), "{dry}");
    let outcome = common::executor()
        .execute(&request, &courier::Variables::new(), &context, &mut courier::request::Cookies::new())
        .await;
    assert_eq!(outcome.status, Some(200));
    let shown = serde_json::to_string(&outcome).unwrap();
    assert_no_form_of(&shown, &[secret, &format!("id:{secret}")]);
    let body = outcome.variables["api_client_response_body"].as_text().unwrap();
    assert!(!body.contains(&escaped) && !body.contains("p4ss\\u002dw0rd"), "{body}");
    assert_eq!(body.matches("[redacted]").count(), 3, "{body}");
}

fn file_spec(server: &MockServer, file: &str) -> String {
    format!("method = \"POST\"\nurl = \"{}/upload\"\n[body]\ntype = \"octet-stream\"\nfile = '{file}'\n", server.uri())
}

#[tokio::test]
async fn a_variable_cannot_name_a_local_file_to_upload() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let outcome = run(&compile(&file_spec(&server, "${upload}")), &[("upload", "/proc/self/environ")]).await;
    let error = outcome.error.clone().unwrap();
    assert!(error.contains("written literally in the spec"), "{error}");
    assert!(server.received_requests().await.unwrap().is_empty(), "nothing is sent");
}

#[tokio::test]
async fn local_files_are_read_only_inside_the_named_folder() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let inside = tempfile::tempdir_in(common::files_folder()).unwrap();
    std::fs::write(inside.path().join("ok.bin"), b"fine").unwrap();
    // A file beside the named folder, never inside it, wherever the clone lies.
    let elsewhere = tempfile::tempdir().unwrap();
    let outside_file = elsewhere.path().join("outside.toml");
    std::fs::write(&outside_file, "secret = 1").unwrap();
    let outside = outside_file.to_str().unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside, inside.path().join("link.toml")).unwrap();
    let ok = inside.path().join("ok.bin");
    let outcome = run(&compile(&file_spec(&server, ok.to_str().unwrap())), &[]).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let link = inside.path().join("link.toml");
    let dotted = format!("{}/../../../../../../../..{outside}", inside.path().display());
    for refused in [outside, link.to_str().unwrap(), dotted.as_str()] {
        if refused == link.to_str().unwrap() && !cfg!(unix) {
            continue;
        }
        let outcome = run(&compile(&file_spec(&server, refused)), &[]).await;
        let error = outcome.error.clone().unwrap_or_default();
        assert!(error.contains("not a file inside the folder"), "{refused}: {outcome:?}");
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1, "only the file inside was sent");
}

#[test]
fn payload_file_errors_do_not_quote_the_file() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("bad.json"), "{\"a\": 1,\nTOPSECRET=hunter2 }").unwrap();
    let spec = "url = \"https://x.org\"\nbody = \"json\"\npayload_file = \"bad.json\"\n";
    let error = courier::request::CompiledRequest::from_toml(&common::engine(), spec, folder.path()).unwrap_err();
    let shown = error.to_string();
    assert!(shown.contains("bad.json:2:1") && !shown.contains("hunter2") && !shown.contains("TOPSECRET"), "{shown}");
    for path in ["../bad.json", "/etc/hostname"] {
        let spec = format!("url = \"https://x.org\"\nbody = \"json\"\npayload_file = \"{path}\"\n");
        let error = courier::request::CompiledRequest::from_toml(&common::engine(), &spec, folder.path()).unwrap_err();
        assert!(error.to_string().contains("inside the spec's folder"), "{error}");
    }
}

fn load_error(toml: &str) -> String {
    courier::request::CompiledRequest::from_toml(&common::engine(), toml, std::path::Path::new("."))
        .expect_err("the spec is refused")
        .to_string()
}

#[test]
fn framing_headers_are_refused_in_specs() {
    for name in [
        "Content-Length",
        "transfer-encoding",
        "Host",
        "Connection",
        "TE",
        "Upgrade",
        "Keep-Alive",
        "Proxy-Authorization",
    ] {
        let error = load_error(&format!("method = \"POST\"\nurl = \"https://x.org\"\n[headers]\n{name} = \"5\"\n"));
        assert!(error.contains(&format!("headers.{name}")) && error.contains("cannot set it"), "{name}: {error}");
    }
    // Headers that only describe the body are the author's.
    common::compile("url = \"https://x.org\"\n[headers]\nContent-Type = \"text/plain\"\nX-Proxy = \"1\"\n");
}

#[test]
fn absurd_durations_are_refused_with_the_maximum() {
    for field in ["timeout", "connect_timeout", "read_timeout"] {
        let error = load_error(&format!("url = \"https://x.org\"\n{field} = \"584542046090years\"\n"));
        assert!(error.contains(field) && error.contains("longer than the most a request may wait, 1h"), "{error}");
    }
    let most = courier::request::spec::MAX_DURATION;
    assert_eq!(most, Duration::from_secs(3600));
    common::compile("url = \"https://x.org\"\ntimeout = \"1h\"\n");
}

#[tokio::test]
async fn the_host_caps_the_total_time_limit() {
    let server = server_answering(ResponseTemplate::new(200).set_delay(Duration::from_secs(5))).await;
    let options = courier::request::ExecutorOptions { max_timeout: Duration::from_millis(300), ..common::options() };
    let spec = format!("url = \"{}/slow\"\ntimeout = \"1h\"\nread_timeout = \"1h\"\n", server.uri());
    let started = Instant::now();
    let outcome = courier::request::Executor::with_options(options)
        .execute(&compile(&spec), &courier::Variables::new(), &courier::Context::default(), &mut Default::default())
        .await;
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    assert_eq!(event_names(&outcome), ["api_http_timeout_exception"], "{outcome:?}");
}

fn render_url(template: &str, variables: &[(&str, &str)]) -> Result<String, courier::Error> {
    courier::UrlTemplate::compile(&common::engine(), template)
        .unwrap()
        .render(&courier::Variables::from_strings(variables.iter().copied()), &courier::Context::default())
}

#[tokio::test]
async fn an_over_long_url_is_refused_at_render_time_and_not_quoted() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let long = "a".repeat(70_000);
    let error = render_url("https://x.org/${id}", &[("id", &long)]).unwrap_err();
    assert_eq!(error.kind(), courier::ErrorKind::Limit);
    assert!(
        error.to_string().contains("more than the limit of 16384") && !error.to_string().contains(&"a".repeat(100))
    );
    let folder = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(courier::replay::SqliteStore::open(folder.path().join("store.db")).unwrap());
    let request = compile(&format!("url = \"{}/${{id}}\"\nqueue = true\n", server.uri()));
    let outcome = courier::replay::Delivery::new(common::executor())
        .with_store(store.clone())
        .execute(
            &request,
            &courier::Variables::from_strings([("id", long.as_str())]),
            &Default::default(),
            &mut Default::default(),
        )
        .await;
    assert!(outcome.replay.is_none(), "not kept: {outcome:?}");
    let shown = serde_json::to_string(&outcome).unwrap();
    assert!(shown.len() < 5_000 && shown.contains("nothing was sent"), "{shown}");
    use courier::replay::ReplayStore as _;
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn replay_list_shows_a_record_with_a_huge_url_shortened() {
    use courier::replay::{NewRecord, ReplayStore as _, Saved, State};
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("store.db");
    let url = format!("http://127.0.0.1:9/{}", "u".repeat(70_000));
    let request = courier::request::Prepared {
        method: courier::request::Method::Get,
        url: url.clone(),
        headers: Vec::new(),
        body: None,
        timeouts: Default::default(),
    };
    let saved = Saved { request, idempotency_key: "k".into(), spec_name: None, spec_sha256: None, credentials: None };
    let record = NewRecord {
        state: State::Failed,
        saved,
        attempts: 1,
        last_error: Some("e".repeat(70_000)),
        tenant: None,
        trace_context: None,
    };
    courier::replay::SqliteStore::open(&path).unwrap().insert(&[record]).unwrap();
    let listed = std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["replay", "list", "--store"])
        .arg(&path)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&listed.stdout);
    assert_eq!(listed.status.code(), Some(0), "{}", String::from_utf8_lossy(&listed.stderr));
    assert!(table.contains("http://127.0.0.1:9/uuu") && table.contains('…') && table.len() < 2_000, "{table}");
}

#[test]
fn a_base_value_cannot_swallow_the_path_and_no_path_segment_is_empty() {
    let error = render_url("${base}/users", &[("base", "https://x.org/api?")]).unwrap_err();
    assert!(error.to_string().contains("`?` or `#`"), "{error}");
    let error = render_url("${base}/users", &[("base", "https://x.org/#")]).unwrap_err();
    assert!(error.to_string().contains("`?` or `#`"), "{error}");
    // A base that is the whole URL may hold a query.
    assert_eq!(render_url("${url}", &[("url", "https://x.org/a?b=1")]).unwrap(), "https://x.org/a?b=1");
    let error = render_url("https://x.org/users/${id}/delete", &[("id", "")]).unwrap_err();
    assert!(error.to_string().contains("empty path segment"), "{error}");
    let error = render_url("${base}/users/${id}", &[("base", "https://x.org"), ("id", "")]).unwrap_err();
    assert!(error.to_string().contains("empty path segment"), "{error}");
    assert_eq!(
        render_url("https://x.org/users/${id}.json", &[("id", "")]).unwrap(),
        "https://x.org/users/.json",
        "an empty value inside a segment leaves the segment"
    );
}

#[test]
fn a_rendered_key_cannot_duplicate_another_key() {
    let template = courier::JsonTemplate::compile(
        &common::engine(),
        r#"{"role": "user", "${k}": "admin", "x": {"a_${j}": 1, "a_b": 2}}"#,
    )
    .unwrap();
    let context = courier::Context::default();
    for (k, j) in [("role", "c"), ("other", "b")] {
        let variables = courier::Variables::from_strings([("k", k), ("j", j)]);
        let mut out = Vec::new();
        let error = template.render_to_bytes(&variables, &context, &mut out).unwrap_err();
        assert!(error.to_string().contains("duplicates another key") && error.to_string().contains("twice"), "{error}");
        assert!(out.is_empty(), "nothing is half-written");
        let error = template.render_to_value(&variables, &context).unwrap_err();
        assert!(error.to_string().contains("duplicates another key"), "{error}");
    }
    let variables = courier::Variables::from_strings([("k", "name"), ("j", "c")]);
    let mut out = Vec::new();
    template.render_to_bytes(&variables, &context, &mut out).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out).unwrap(),
        serde_json::json!({"role": "user", "name": "admin", "x": {"a_c": 1, "a_b": 2}})
    );
}

/// Runs the command line in `folder`, with loopback destinations allowed.
fn courier_cli(folder: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
        .current_dir(folder)
        .env("COURIER_ALLOW", "private")
        .env_remove("COURIER_STORE")
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn usage_errors_exit_2_with_a_message() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("ok.toml"), "url = \"http://127.0.0.1:9/\"\n").unwrap();
    for args in [
        &["send", "missing.toml"][..],
        &["send", "ok.toml", "--var", "=v", "--dry-run"],
        &["send", "ok.toml", "--var", "a b=v", "--dry-run"],
        &["worker", "--lease", "0s", "--until-empty"],
        &["worker", "--lease", "584542046090years", "--until-empty"],
    ] {
        let output = courier_cli(folder.path(), args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

#[tokio::test]
async fn a_session_that_cannot_be_written_is_found_out_before_sending() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("spec.toml"), format!("url = \"{}/x\"\n", server.uri())).unwrap();
    std::fs::create_dir(folder.path().join("a-folder")).unwrap();
    let path = folder.path().to_owned();
    let outputs = tokio::task::spawn_blocking(move || {
        ["a-folder", "no/such/folder/session.json"]
            .map(|session| courier_cli(&path, &["send", "spec.toml", "--session", session]))
    })
    .await
    .unwrap();
    for output in outputs {
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("cannot be written"), "{stderr}");
    }
    assert!(server.received_requests().await.unwrap().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_callers_idempotency_key_makes_a_retry_the_same_record() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let folder = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(courier::replay::SqliteStore::open(folder.path().join("store.db")).unwrap());
    let executor = courier::replay::Delivery::new(common::executor()).with_store(store.clone());
    let queued = compile(&format!("url = \"{}/orders\"\nqueue = true\n", server.uri()));
    let variables = courier::Variables::new();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let outcome = executor
            .execute_with_key(&queued, &variables, &Default::default(), &mut Default::default(), Some("order-42"))
            .await;
        ids.push(outcome.replay.expect("queued").id);
    }
    assert_eq!(ids[0], ids[1], "one record for one logical request");
    // The spec's own key, rendered from the session.
    let keyed =
        compile(&format!("url = \"{}/orders\"\nqueue = true\nidempotency_key = \"order-${{n}}\"\n", server.uri()));
    let mut kept = Vec::new();
    for n in ["7", "7", "8"] {
        let variables = courier::Variables::from_strings([("n", n)]);
        let outcome = executor.execute(&keyed, &variables, &Default::default(), &mut Default::default()).await;
        kept.push(outcome.replay.expect("queued").id);
    }
    assert_eq!(kept[0], kept[1]);
    assert_ne!(kept[1], kept[2]);
    use courier::replay::ReplayStore as _;
    let keys: Vec<String> = store.list().unwrap().into_iter().map(|record| record.saved.idempotency_key).collect();
    assert_eq!(keys, ["order-42", "order-7", "order-8"]);
    // Sent at once, the key goes out as the header.
    let sent = compile(&format!("url = \"{}/orders\"\n", server.uri()));
    common::executor()
        .execute_with_key(&sent, &variables, &Default::default(), &mut Default::default(), Some("k-1"))
        .await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.last().unwrap().headers.get("idempotency-key").unwrap(), "k-1");
}

#[tokio::test]
async fn an_over_long_cookie_is_neither_kept_nor_sent_and_the_log_says_so() {
    let huge = format!("SESSIONID={}; Path=/", "c".repeat(100_000));
    let server = server_answering(
        ResponseTemplate::new(200).append_header("Set-Cookie", huge.as_str()).append_header("Set-Cookie", "lang=de"),
    )
    .await;
    let request = compile(&format!("url = \"{}/x\"\ncookies = [\"SESSIONID\", \"lang\"]\n", server.uri()));
    let mut jar = courier::request::Cookies::new();
    let outcome = common::executor().execute(&request, &courier::Variables::new(), &Default::default(), &mut jar).await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(jar.get("lang").map(String::as_str), Some("de"));
    assert!(!jar.contains_key("SESSIONID"), "the huge cookie is not kept");
    assert!(outcome.log.iter().any(|entry| entry.message.contains("capped at 4096 bytes")), "{:?}", outcome.log);
    // A session that holds one anyway does not send it.
    jar.insert("SESSIONID".into(), "c".repeat(100_000));
    common::executor().execute(&request, &courier::Variables::new(), &Default::default(), &mut jar).await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.last().unwrap().headers.get("cookie").unwrap(), "lang=de");
}

/// A spec of `count` headers, sent to a closed loopback port.
fn spec_with_headers(count: usize) -> String {
    let mut spec = String::from("url = \"http://127.0.0.1:9/\"\n[headers]\n");
    for number in 0..count {
        spec.push_str(&format!("X-H{number} = \"v\"\n"));
    }
    spec
}

#[test]
fn too_many_headers_are_a_problem_of_the_spec_never_a_panic() {
    // 25,000 headers overflowed the HTTP client's header map: send exited 101.
    let error = load_error(&spec_with_headers(25_000));
    assert!(error.contains("headers: has 25000 entries; a spec may have at most 1000"), "{error}");
    common::compile(&spec_with_headers(courier::request::lists::MAX_HEADERS));
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("many.toml"), spec_with_headers(25_000)).unwrap();
    for args in [&["check", "many.toml"][..], &["send", "many.toml"], &["send", "many.toml", "--dry-run"]] {
        let output = courier_cli(folder.path(), args);
        let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
        assert_ne!(output.status.code(), Some(101), "{args:?}: {said}");
        assert_ne!(output.status.code(), Some(0), "{args:?}: {said}");
        assert!(said.contains("at most 1000"), "{args:?}: {said}");
    }
    let long_lists =
        "url = \"https://x.org\"\n".to_owned() + &"[[mappings]]\nsource = \"a\"\ntarget = \"t\"\n".repeat(10_001);
    assert!(load_error(&long_lists).contains("mappings: has 10001 entries"));
}

#[tokio::test]
async fn the_value_of_a_header_that_called_secret_is_redacted_when_echoed() {
    let server = echoing(500).await;
    let spec =
        format!("url = \"{}/x\"\n[headers]\nX-Signature = '${{sha256(secret(\"K\") += \"body\")}}'\n", server.uri());
    let context = common::context_with_secrets(&[("K", "k-1")]);
    let outcome = common::executor()
        .execute(&compile(&spec), &courier::Variables::new(), &context, &mut courier::request::Cookies::new())
        .await;
    assert_eq!(outcome.status, Some(500));
    let signature = {
        use sha2::Digest as _;
        sha2::Sha256::digest(b"k-1body").iter().map(|byte| format!("{byte:02x}")).collect::<String>()
    };
    let shown = serde_json::to_string(&outcome).unwrap();
    assert!(!shown.contains(&signature), "{shown}");
    assert!(outcome.variables["api_client_response_body"].to_string().contains("x-signature: [redacted]"), "{shown}");
}

#[tokio::test]
async fn a_secret_escaped_twice_with_ascii_escapes_is_redacted() {
    let secret = "p4ss-w\u{f6}rd\"x";
    // Python's json.dumps of the JSON body it was sent, quoted in its own JSON answer.
    let once = r#"p4ss-w\u00f6rd\"x"#;
    let twice = r#"p4ss-w\\u00f6rd\\\"x"#;
    let body = format!(r#"{{"echo": "{{\"k\": \"{once}\"}}", "again": "{twice}"}}"#);
    let server = server_answering(ResponseTemplate::new(200).set_body_string(body)).await;
    let spec = format!("url = \"{}/x\"\n[headers]\nX-Key = '${{secret(\"K\")}}'\n", server.uri());
    let context = common::context_with_secrets(&[("K", secret)]);
    let outcome = common::executor()
        .execute(&compile(&spec), &courier::Variables::new(), &context, &mut courier::request::Cookies::new())
        .await;
    assert_eq!(outcome.status, Some(200));
    let body = outcome.variables["api_client_response_body"].as_text().unwrap();
    assert!(!body.contains("u00f6rd"), "{body}");
    assert_eq!(body.matches("[redacted]").count(), 2, "{body}");
}

#[tokio::test]
async fn mapping_a_large_response_stops_at_the_requests_timeout() {
    // Each mapping reads the response from its start: 5,000 of them on 10 MB took 68.6 s.
    let body = format!(r#"{{"pad": "{}", "a": 1}}"#, "x".repeat(10_000_000));
    let server = server_answering(ResponseTemplate::new(200).set_body_raw(body, "application/json")).await;
    let mut spec = format!("url = \"{}/x\"\ntimeout = \"2s\"\n", server.uri());
    for number in 0..5_000 {
        spec.push_str(&format!("[[mappings]]\nsource = \"a\"\ntarget = \"t{number}\"\n"));
    }
    let started = std::time::Instant::now();
    let outcome = common::executor()
        .execute(&compile(&spec), &courier::Variables::new(), &courier::Context::default(), &mut Default::default())
        .await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(outcome.status, Some(200));
    let error = outcome.error.as_deref().unwrap_or_default();
    assert!(error.contains("the timeout of 2s ran out while mapping the response"), "{error}");
    assert!(outcome.variables.contains_key("t0") && !outcome.variables.contains_key("t4999"));
}

#[tokio::test]
async fn an_over_long_redirect_location_is_refused_and_not_quoted() {
    let location = format!("/next?{}", "a".repeat(60_000));
    let server = server_answering(ResponseTemplate::new(302).insert_header("Location", location.as_str())).await;
    for redirects in [5, 0] {
        let spec = format!("url = \"{}/x\"\nredirects = {redirects}\n", server.uri());
        let outcome = common::executor()
            .execute(&compile(&spec), &courier::Variables::new(), &courier::Context::default(), &mut Default::default())
            .await;
        let shown = serde_json::to_string(&outcome).unwrap();
        assert!(!shown.contains(&"a".repeat(1_000)), "the Location is quoted: {} bytes", shown.len());
        if redirects > 0 {
            let error = outcome.error.as_deref().unwrap_or_default();
            assert!(error.contains("its Location is 60006 bytes, more than the limit of 16384"), "{error}");
        }
    }
}

#[test]
fn a_payload_file_linked_out_of_its_folder_is_refused_unread() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("private.json"), "top-secret-token {").unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path().join("private.json"), folder.path().join("payload.json")).unwrap();
    std::fs::write(folder.path().join("real.json"), "{\"a\": 1}").unwrap();
    std::os::unix::fs::symlink(folder.path().join("real.json"), folder.path().join("inside.json")).unwrap();
    let spec = "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload_file = \"payload.json\"\n";
    let error = courier::request::CompiledRequest::from_toml(&common::engine(), spec, folder.path()).unwrap_err();
    let error = error.to_string();
    assert!(error.contains("payload.json: a link leads out of the spec's folder"), "{error}");
    assert!(!error.contains("top-secret"), "{error}");
    let inside = spec.replace("payload.json", "inside.json");
    courier::request::CompiledRequest::from_toml(&common::engine(), &inside, folder.path())
        .expect("a link inside is fine");
    // The command line's check and a server's --files folder say the same.
    std::fs::write(folder.path().join("spec.toml"), spec).unwrap();
    let output = courier_cli(folder.path(), &["check", "spec.toml"]);
    let said = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("a link leads out") && !said.contains("top-secret"), "{said}");
}
