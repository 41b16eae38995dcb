//! `courier serve` over real HTTP on loopback: every route answers as docs/api.md
//! and /openapi.json say, every rejection is JSON with a 4xx, and a spec sent to
//! the API never reads the server's disk.

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
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.env_remove("COURIER_ALLOW");
    // Tests send to loopback servers, which the destination policy refuses by default.
    if let Some(allow) = allow {
        command.env("COURIER_ALLOW", allow);
    }
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
