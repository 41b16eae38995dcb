//! The executor against a real HTTP server on loopback (wiremock): each body type,
//! each auth, the OAuth2 token cache, cookies, mappings, the shipped examples, the
//! log and redaction.
#![cfg(feature = "http")]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{compile, context_with_secrets, event_names, executor, run};
use courier::request::{CompiledRequest, Cookies, Executor, ExecutorOptions};
use courier::{Context, Variables};
use serde_json::{Value as Json, json};
use wiremock::matchers::{any, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A server that answers every request with `response`.
async fn server_answering(response: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(response).mount(&server).await;
    server
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recording is on")
}

fn header_of<'a>(request: &'a Request, name: &str) -> &'a str {
    request.headers.get(name).map(|value| value.to_str().expect("ASCII header")).unwrap_or("")
}

fn read_json(path: &str) -> Json {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).expect("example file");
    serde_json::from_str(&text).expect("example JSON")
}

#[tokio::test]
async fn json_bodies_are_sent_as_typed_json() {
    let server = server_answering(ResponseTemplate::new(201)).await;
    let spec = format!(
        r#"
        method = "POST"
        url = "{}/subscribe"
        [body]
        type = "json"
        payload = '{{"email": ${{email}}, "n": ${{toInteger(n)}}, "greeting": "Hi ${{name}}!", "ok": ${{toBoolean(ok)}}}}'
        "#,
        server.uri()
    );
    let outcome = run(&compile(&spec), &[("email", "a@b.org"), ("n", "3"), ("name", "An\"na"), ("ok", "true")]).await;
    assert_eq!(outcome.status, Some(201), "{outcome:?}");
    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(header_of(&requests[0], "content-type"), "application/json");
    assert_eq!(
        String::from_utf8_lossy(&requests[0].body),
        r#"{"email": "a@b.org", "n": 3, "greeting": "Hi An\"na!", "ok": true}"#
    );
}

#[tokio::test]
async fn the_json_shorthand_reads_the_payload_file_beside_the_spec() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("payload.json"), r#"{"id": ${id}}"#).unwrap();
    let spec =
        format!("method = \"PUT\"\nurl = \"{}/x\"\nbody = \"json\"\npayload_file = \"payload.json\"\n", server.uri());
    let request = CompiledRequest::from_toml(&common::engine(), &spec, folder.path()).unwrap();
    let outcome = run(&request, &[("id", "7")]).await;
    assert_eq!(outcome.status, Some(200));
    let requests = received(&server).await;
    assert_eq!(requests[0].method.as_str(), "PUT");
    assert_eq!(requests[0].body, br#"{"id": "7"}"#);
}

#[tokio::test]
async fn form_bodies_are_url_encoded() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/form\"\n[body]\ntype = \"form\"\n[body.fields]\nname = \"${{name}}\"\n\"odd key\" = \"a&b=c ü\"\n",
        server.uri()
    );
    run(&compile(&spec), &[("name", "Anna Muster")]).await;
    let requests = received(&server).await;
    assert_eq!(header_of(&requests[0], "content-type"), "application/x-www-form-urlencoded");
    assert_eq!(String::from_utf8_lossy(&requests[0].body), "name=Anna+Muster&odd+key=a%26b%3Dc+%C3%BC");
}

#[tokio::test]
async fn base64_bodies_send_a_local_file_as_base64_text() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let folder = tempfile::tempdir_in(common::files_folder()).unwrap();
    let file = folder.path().join("receipt.bin");
    std::fs::write(&file, b"\x00\x01hello\xff").unwrap();
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/b64\"\n[body]\ntype = \"base64\"\nfile = '{}'\n",
        server.uri(),
        file.display()
    );
    let outcome = run(&compile(&spec), &[]).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let requests = received(&server).await;
    assert_eq!(requests[0].body, b"AAFoZWxsb/8=");
    assert_eq!(header_of(&requests[0], "content-type"), "text/plain");
    assert_eq!(header_of(&requests[0], "content-disposition"), "attachment; filename=\"receipt.bin\"");
}

#[tokio::test]
async fn octet_stream_bodies_send_the_raw_bytes() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let folder = tempfile::tempdir_in(common::files_folder()).unwrap();
    let bytes: Vec<u8> = (0..=255).collect();
    std::fs::write(folder.path().join("blob"), &bytes).unwrap();
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/raw\"\n[body]\ntype = \"octet-stream\"\nfile = \"blob\"\nfile_name = \"data.bin\"\n",
        server.uri()
    );
    let request = CompiledRequest::from_toml(&common::engine(), &spec, folder.path()).unwrap();
    let outcome = run(&request, &[]).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let requests = received(&server).await;
    assert_eq!(requests[0].body, bytes);
    assert_eq!(header_of(&requests[0], "content-type"), "application/octet-stream");
    assert_eq!(header_of(&requests[0], "content-disposition"), "attachment; filename=\"data.bin\"");
}

#[tokio::test]
async fn multipart_bodies_send_a_file_fetched_from_a_url_and_text_fields() {
    let server = MockServer::start().await;
    let image = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();
    Mock::given(method("GET"))
        .and(path("/uploads/receipt.jpg"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(image.clone()))
        .mount(&server)
        .await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let spec = format!(
        r#"
        method = "POST"
        url = "{0}/customers/${{customer_id}}/files"
        [body]
        type = "multipart"
        file = "${{upload_url}}"
        file_name = "receipt.jpg"
        content_type = "image/jpeg"
        field = "document"
        [body.fields]
        customer = "${{customer_id}}"
        "#,
        server.uri()
    );
    let upload_url = format!("{}/uploads/receipt.jpg", server.uri());
    let outcome = run(&compile(&spec), &[("customer_id", "42"), ("upload_url", &upload_url)]).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let requests = received(&server).await;
    let post = requests.iter().find(|request| request.method.as_str() == "POST").unwrap();
    assert_eq!(post.url.path(), "/customers/42/files");
    let content_type = header_of(post, "content-type");
    let boundary = content_type.strip_prefix("multipart/form-data; boundary=").expect("a multipart content type");
    let mut expected = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"customer\"\r\n\r\n42\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"document\"; filename=\"receipt.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    expected.extend_from_slice(&image);
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert_eq!(post.body, expected);
}

#[tokio::test]
async fn local_files_need_the_hosts_permission() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/raw\"\n[body]\ntype = \"octet-stream\"\nfile = \"Cargo.toml\"\n",
        server.uri()
    );
    let executor = Executor::with_options(ExecutorOptions { local_files: None, ..common::options() });
    let outcome = executor.execute(&compile(&spec), &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(outcome.status, None);
    assert_eq!(event_names(&outcome), ["api_exception"]);
    assert!(outcome.error.as_deref().unwrap().contains("does not allow reading local files"), "{outcome:?}");
    assert!(received(&server).await.is_empty(), "nothing is sent");
}

#[tokio::test]
async fn basic_auth_sends_the_encoded_credentials() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let spec = format!(
        "url = \"{}/\"\n[auth]\ntype = \"basic\"\nusername = \"${{user}}\"\npassword = \"pa:ss\"\n",
        server.uri()
    );
    run(&compile(&spec), &[("user", "anna")]).await;
    // base64("anna:pa:ss")
    assert_eq!(header_of(&received(&server).await[0], "authorization"), "Basic YW5uYTpwYTpzcw==");
}

#[tokio::test]
async fn bearer_auth_adds_the_prefix() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let spec = format!("url = \"{}/\"\n[auth]\ntype = \"bearer\"\ntoken = \"${{token}}\"\n", server.uri());
    run(&compile(&spec), &[("token", "abc.def")]).await;
    assert_eq!(header_of(&received(&server).await[0], "authorization"), "Bearer abc.def");
}

/// A token endpoint answering tokens `t1`, `t2`, ... in turn, counting its calls.
struct TokenEndpoint {
    calls: Arc<AtomicUsize>,
}

impl Respond for TokenEndpoint {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        ResponseTemplate::new(200)
            .set_body_json(json!({"access_token": format!("t{call}"), "token_type": "bearer", "expires_in": 3600}))
            .set_delay(Duration::from_millis(200))
    }
}

async fn token_endpoint(server: &MockServer) -> Arc<AtomicUsize> {
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(TokenEndpoint { calls: calls.clone() })
        .mount(server)
        .await;
    calls
}

fn oauth_spec(server: &MockServer, auth: &str) -> String {
    format!("url = \"{0}/api/me\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"{0}/oauth/token\"\n{auth}", server.uri())
}

#[tokio::test]
async fn oauth2_client_credentials_in_the_header() {
    let server = MockServer::start().await;
    let calls = token_endpoint(&server).await;
    Mock::given(path("/api/me")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let spec = oauth_spec(
        &server,
        "client_id = \"chat-bot\"\nclient_secret = \"${secret(\\\"CLIENT_SECRET\\\")}\"\nscope = \"customers:write\"\nclient_auth = \"header\"\n",
    );
    let context = context_with_secrets(&[("CLIENT_SECRET", "s3cret")]);
    let outcome = executor().execute(&compile(&spec), &Variables::new(), &context, &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let requests = received(&server).await;
    let token_request = &requests[0];
    // base64("chat-bot:s3cret")
    assert_eq!(header_of(token_request, "authorization"), "Basic Y2hhdC1ib3Q6czNjcmV0");
    assert_eq!(header_of(token_request, "content-type"), "application/x-www-form-urlencoded");
    assert_eq!(String::from_utf8_lossy(&token_request.body), "grant_type=client_credentials&scope=customers%3Awrite");
    assert_eq!(header_of(&requests[1], "authorization"), "Bearer t1");
}

#[tokio::test]
async fn oauth2_password_grant_with_credentials_in_the_body_and_a_prefix() {
    let server = MockServer::start().await;
    token_endpoint(&server).await;
    Mock::given(path("/api/me")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let spec = oauth_spec(
        &server,
        "grant_type = \"password\"\nclient_id = \"bot\"\nclient_secret = \"cs\"\nusername = \"${user}\"\npassword = \"p w\"\nclient_auth = \"body\"\nheader_prefix = \"Token\"\n",
    );
    let outcome = run(&compile(&spec), &[("user", "anna")]).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let requests = received(&server).await;
    assert_eq!(header_of(&requests[0], "authorization"), "");
    assert_eq!(
        String::from_utf8_lossy(&requests[0].body),
        "grant_type=password&username=anna&password=p+w&client_id=bot&client_secret=cs"
    );
    assert_eq!(header_of(&requests[1], "authorization"), "Token t1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_requests_share_one_token_fetch() {
    let server = MockServer::start().await;
    let calls = token_endpoint(&server).await;
    Mock::given(path("/api/me"))
        .and(header("authorization", "Bearer t1"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let request = Arc::new(compile(&oauth_spec(&server, "client_id = \"bot\"\nclient_secret = \"cs\"\n")));
    let executor = executor();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (executor, request) = (executor.clone(), request.clone());
            tokio::spawn(async move {
                executor.execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await
            })
        })
        .collect();
    for task in tasks {
        let outcome = task.await.unwrap();
        assert_eq!(outcome.status, Some(200), "{outcome:?}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one token fetch for 50 requests");
    // A later request still uses the cached token.
    let outcome = executor.execute(&request, &Variables::new(), &Context::default(), &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(200));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_401_fetches_a_new_token_once_and_sends_again_once() {
    let server = MockServer::start().await;
    let calls = token_endpoint(&server).await;
    Mock::given(path("/api/me"))
        .and(header("authorization", "Bearer t2"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    Mock::given(path("/api/me")).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    let request = compile(&oauth_spec(&server, "client_id = \"bot\"\n"));
    let outcome = run(&request, &[]).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let api_calls: Vec<String> = received(&server)
        .await
        .iter()
        .filter(|request| request.url.path() == "/api/me")
        .map(|request| header_of(request, "authorization").to_owned())
        .collect();
    assert_eq!(api_calls, ["Bearer t1", "Bearer t2"]);
    assert!(outcome.events.is_empty());
}

#[tokio::test]
async fn a_second_401_is_the_answer() {
    let server = MockServer::start().await;
    let calls = token_endpoint(&server).await;
    Mock::given(path("/api/me")).respond_with(ResponseTemplate::new(401)).mount(&server).await;
    let outcome = run(&compile(&oauth_spec(&server, "client_id = \"bot\"\n")), &[]).await;
    assert_eq!(outcome.status, Some(401));
    assert_eq!(event_names(&outcome), ["api_http_status_code"]);
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one refetch");
    let api_calls = received(&server).await.iter().filter(|request| request.url.path() == "/api/me").count();
    assert_eq!(api_calls, 2, "one retry");
}

#[tokio::test]
async fn a_failing_token_endpoint_is_an_api_exception_and_nothing_is_sent() {
    let server = MockServer::start().await;
    Mock::given(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_client"})))
        .mount(&server)
        .await;
    let outcome = run(&compile(&oauth_spec(&server, "client_id = \"bot\"\n")), &[]).await;
    assert_eq!(outcome.status, None);
    assert_eq!(event_names(&outcome), ["api_exception"]);
    assert!(outcome.error.as_deref().unwrap().contains("invalid_client"), "{outcome:?}");
    assert!(received(&server).await.iter().all(|request| request.url.path() == "/oauth/token"));
}

#[tokio::test]
async fn cookies_set_by_one_response_are_sent_by_the_next_request() {
    let server = MockServer::start().await;
    Mock::given(path("/login"))
        .respond_with(
            ResponseTemplate::new(200)
                .append_header("Set-Cookie", "SESSIONID=abc123; Path=/; HttpOnly")
                .append_header("Set-Cookie", "tracking=xyz; Path=/"),
        )
        .mount(&server)
        .await;
    Mock::given(path("/cart")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let login = compile(&format!("url = \"{}/login\"\ncookies = [\"SESSIONID\"]\n", server.uri()));
    let cart = compile(&format!("url = \"{}/cart\"\ncookies = [\"SESSIONID\"]\n", server.uri()));
    let executor = executor();
    let mut session = Cookies::new();
    let first = executor.execute(&login, &Variables::new(), &Context::default(), &mut session).await;
    assert_eq!(first.cookies.get("SESSIONID").map(String::as_str), Some("abc123"));
    assert!(!first.cookies.contains_key("tracking"), "only listed cookies are saved");
    assert_eq!(session.get("SESSIONID").map(String::as_str), Some("abc123"));
    executor.execute(&cart, &Variables::new(), &Context::default(), &mut session).await;
    let requests = received(&server).await;
    assert_eq!(header_of(&requests[0], "cookie"), "");
    assert_eq!(header_of(&requests[1], "cookie"), "SESSIONID=abc123");
}

#[tokio::test]
async fn the_price_lookup_example_maps_its_response() {
    let server =
        server_answering(ResponseTemplate::new(200).set_body_json(read_json("examples/price-lookup/response.json")))
            .await;
    let request = CompiledRequest::load(&common::engine(), Path::new("examples/price-lookup/request.toml")).unwrap();
    let mut variables = Variables::from_json(&read_json("examples/price-lookup/vars.json")).unwrap();
    variables.set("shop_url", courier::Value::from(server.uri().as_str()));
    let outcome = executor().execute(&request, &variables, &Context::default(), &mut Cookies::new()).await;
    let requests = received(&server).await;
    assert_eq!(requests[0].url.path(), "/products/123%20abc%2Fx/price");
    assert_eq!(requests[0].url.query(), Some("currency=EUR%20%26%20more"));
    for (name, value) in read_json("examples/price-lookup/expected-variables.json").as_object().unwrap() {
        assert_eq!(outcome.variables.get(name).map(|variable| json!(variable)).as_ref(), Some(value), "{name}");
    }
    assert_eq!(
        serde_json::from_str::<Json>(outcome.variables["api_client_response_body"].as_text().unwrap()).unwrap(),
        read_json("examples/price-lookup/response.json")
    );
}

#[tokio::test]
async fn the_newsletter_example_posts_its_typed_payload_and_maps_the_answer() {
    let answer = json!({"status": "success", "subscriberId": "9cc2d7a1-888f-49bd-a169-5d196c900ced"});
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/newsletter/subscribe"))
        .respond_with(ResponseTemplate::new(200).set_body_json(answer))
        .mount(&server)
        .await;
    let request = CompiledRequest::load(&common::engine(), Path::new("examples/newsletter/request.toml")).unwrap();
    let mut variables = Variables::from_json(&read_json("examples/newsletter/vars.json")).unwrap();
    variables.set("shop_url", courier::Value::from(server.uri().as_str()));
    let outcome = executor().execute(&request, &variables, &Context::default(), &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let requests = received(&server).await;
    assert_eq!(header_of(&requests[0], "content-type"), "application/json");
    let sent: Json = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent, read_json("examples/newsletter/expected.json"));
    assert_eq!(outcome.variables["subscription_status"], "success");
    assert_eq!(outcome.variables["subscriber_id"], "9cc2d7a1-888f-49bd-a169-5d196c900ced");
}

#[tokio::test]
async fn the_consultant_example_maps_a_flat_and_a_nested_field() {
    let server =
        server_answering(ResponseTemplate::new(200).set_body_json(read_json("examples/consultant/response.json")))
            .await;
    let mappings = std::fs::read_to_string("examples/consultant/mappings.toml").unwrap();
    let spec = format!("method = \"GET\"\nurl = \"{}/consultant\"\n{mappings}", server.uri());
    let outcome = run(&compile(&spec), &[]).await;
    for (name, value) in read_json("examples/consultant/expected-variables.json").as_object().unwrap() {
        assert_eq!(outcome.variables.get(name).map(|variable| json!(variable)).as_ref(), Some(value), "{name}");
    }
}

#[tokio::test]
async fn a_missing_field_leaves_its_target_alone_and_is_logged() {
    let body = json!({"items": [{"id": 7, "tags": ["a"]}], "empty": null});
    let server =
        server_answering(ResponseTemplate::new(200).set_body_json(body).insert_header("X-Request-Id", "r-1")).await;
    let spec = format!(
        r#"
        url = "{}/items"
        [[mappings]]
        source = "items.0.id"
        target = "first_id"
        [[mappings]]
        source = "/items/0/tags"
        target = "tags"
        [[mappings]]
        source = "items.3.id"
        target = "fourth_id"
        [[response_headers]]
        header = "X-Request-Id"
        target = "request_id"
        [[response_headers]]
        header = "X-Missing"
        target = "missing_header"
        "#,
        server.uri()
    );
    let outcome = run(&compile(&spec), &[]).await;
    assert_eq!(outcome.variables["first_id"], "7");
    // A list of scalars is a list variable.
    assert_eq!(outcome.variables["tags"].as_list(), Some(&["a".to_owned()][..]));
    assert_eq!(outcome.variables["request_id"], "r-1");
    assert!(!outcome.variables.contains_key("fourth_id"));
    assert!(!outcome.variables.contains_key("missing_header"));
    let messages: Vec<&str> = outcome.log.iter().map(|entry| entry.message.as_str()).collect();
    assert!(
        messages.iter().any(|message| message.contains("\"items.3.id\"") && message.contains("fourth_id")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|message| message.contains("x-missing") && message.contains("missing_header")),
        "{messages:?}"
    );
    assert_eq!(outcome.error, None, "a missing field is not an error");
}

#[tokio::test]
async fn every_request_carries_a_fresh_trace_id_also_in_the_log() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let request = compile(&format!("url = \"{}/\"\n", server.uri()));
    let first = run(&request, &[]).await;
    let second = run(&request, &[]).await;
    let requests = received(&server).await;
    let ids: Vec<&str> = requests.iter().map(|request| header_of(request, "x-b3-traceid")).collect();
    assert!(ids.iter().all(|id| id.len() == 32 && id.bytes().all(|byte| byte.is_ascii_hexdigit())), "{ids:?}");
    assert_ne!(ids[0], ids[1]);
    assert_eq!(first.log[0].trace_id.as_deref(), Some(ids[0]));
    assert_eq!(second.log[0].trace_id.as_deref(), Some(ids[1]));
}

#[tokio::test]
async fn the_log_keeps_bodies_only_with_debug_and_never_credentials() {
    let server = server_answering(ResponseTemplate::new(404).set_body_string("no such todo")).await;
    let spec = |debug: bool| {
        format!(
            "method = \"POST\"\nurl = \"{}/todoes/1\"\ndebug = {debug}\nbody = \"json\"\npayload = '{{\"a\": 1}}'\ncookies = [\"S\"]\n[headers]\nX-Shop = \"7\"\n[auth]\ntype = \"bearer\"\ntoken = \"tok-123\"\n",
            server.uri()
        )
    };
    let quiet = run(&compile(&spec(false)), &[]).await;
    let entry = &quiet.log[0];
    assert_eq!((entry.method.as_deref(), entry.status), (Some("POST"), Some(404)));
    assert!(entry.url.as_deref().unwrap().ends_with("/todoes/1"));
    assert!(entry.duration_ms.is_some());
    assert!(entry.request.is_none() && entry.response.is_none());

    let variables = Variables::new();
    let mut cookies: Cookies = [("S".to_owned(), "cookie-value".to_owned())].into_iter().collect();
    let loud = executor().execute(&compile(&spec(true)), &variables, &Context::default(), &mut cookies).await;
    let entry = &loud.log[0];
    let request = entry.request.as_ref().unwrap();
    assert_eq!(request.body.as_deref(), Some(r#"{"a": 1}"#));
    assert_eq!(request.headers["x-shop"], "7");
    assert_eq!(request.headers["authorization"], "[redacted]");
    assert_eq!(request.headers["cookie"], "[redacted]");
    assert_eq!(entry.response.as_ref().unwrap().body.as_deref(), Some("no such todo"));
    let text = serde_json::to_string(&loud).unwrap();
    assert!(!text.contains("tok-123") && !text.contains("cookie-value"), "{text}");
}

#[tokio::test]
async fn secrets_are_redacted_everywhere_in_the_outcome() {
    let secret = "hunter2-Secret!";
    // The server echoes the secret back in its body and a header.
    let server = server_answering(
        ResponseTemplate::new(500)
            .set_body_json(json!({"echo": secret, "token": "ok", "list": ["a", secret]}))
            .insert_header("X-Echo", secret),
    )
    .await;
    let spec = format!(
        r#"
        method = "POST"
        url = '{}/hook?key=${{secret("API_KEY")}}'
        debug = true
        body = "json"
        payload = '{{"key": ${{secret("API_KEY")}}}}'
        [headers]
        X-Api-Key = '${{secret("API_KEY")}}'
        [[mappings]]
        source = "echo"
        target = "echoed"
        [[mappings]]
        source = "$.list[*]"
        target = "echoed_list"
        [[response_headers]]
        header = "X-Echo"
        target = "echo_header"
        "#,
        server.uri()
    );
    let context = context_with_secrets(&[("API_KEY", secret)]);
    let outcome = executor().execute(&compile(&spec), &Variables::new(), &context, &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(500));
    // It was sent...
    let requests = received(&server).await;
    assert_eq!(header_of(&requests[0], "x-api-key"), secret);
    // ...and appears nowhere in what comes back, in any encoding.
    let text = serde_json::to_string(&outcome).unwrap();
    for form in [secret, "hunter2-Secret%21"] {
        assert!(!text.contains(form), "{form} leaked: {text}");
    }
    assert!(text.contains("[redacted]"));
    assert_eq!(outcome.variables["echoed"], "[redacted]");
    // Each item of a list variable is redacted too.
    assert_eq!(json!(outcome.variables["echoed_list"]), json!(["a", "[redacted]"]));
}

#[tokio::test]
async fn an_unknown_secret_is_named_and_nothing_is_sent() {
    let server = server_answering(ResponseTemplate::new(200)).await;
    let spec = format!("url = \"{}/\"\n[headers]\nX-Key = \"${{secret(\\\"NOPE\\\")}}\"\n", server.uri());
    let context = context_with_secrets(&[("OTHER", "x")]);
    let outcome = executor().execute(&compile(&spec), &Variables::new(), &context, &mut Cookies::new()).await;
    assert_eq!(event_names(&outcome), ["api_exception"]);
    let error = outcome.error.unwrap();
    assert!(error.contains("NOPE") && error.contains("headers.X-Key"), "{error}");
    assert!(received(&server).await.is_empty());
}

/// The carousel example end to end: the products response, mapped through JSONPath
/// queries into variables, builds a typed carousel payload from the list.
#[tokio::test]
async fn the_carousel_example_builds_a_payload_from_a_jsonpath_mapping() {
    let shop =
        server_answering(ResponseTemplate::new(200).set_body_json(read_json("examples/carousel/products.json"))).await;
    let products = CompiledRequest::load(&common::engine(), Path::new("examples/carousel/products.toml")).unwrap();
    let mut variables = Variables::from_json(&read_json("examples/carousel/vars.json")).unwrap();
    variables.set("shop_url", courier::Value::from(shop.uri().as_str()));
    let outcome = executor().execute(&products, &variables, &Context::default(), &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    // Names are scalars: a list variable. Products are objects: their JSON text.
    assert_eq!(json!(outcome.variables["product_names"]), json!(["Green tea", "Mug", "Teapot"]));
    assert_eq!(json!(outcome.variables["in_stock_names"]), json!(["Green tea", "Teapot"]));
    let in_stock: Json = serde_json::from_str(outcome.variables["in_stock"].as_text().unwrap()).unwrap();
    assert_eq!(in_stock.as_array().map(Vec::len), Some(2), "{in_stock}");
    outcome.apply_to(&mut variables);
    assert_eq!(variables.get("product_names").and_then(|names| names.as_list().map(<[_]>::len)), Some(3));

    let channel = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/messages"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&channel)
        .await;
    variables.set("channel_url", courier::Value::from(channel.uri().as_str()));
    let send = CompiledRequest::load(&common::engine(), Path::new("examples/carousel/send.toml")).unwrap();
    let outcome = executor().execute(&send, &variables, &Context::default(), &mut Cookies::new()).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let requests = received(&channel).await;
    let sent: Json = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(sent, read_json("examples/carousel/expected-payload.json"));
    // Typed: the count is a number, each element an object.
    assert_eq!(sent["count"], json!(2));
    assert!(sent["elements"][0].is_object());
}
