//! For template authors: `check` on request specs finds what loading them finds,
//! at the same places; strict mode; and the library fixes found on the way
//! (built-ins cannot be replaced, a panicking host function fails its call, maps
//! of text lend their variables).
#![cfg(feature = "cli")]

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use courier::request::CompiledRequest;
use courier::request::check::check_spec;
use courier::template::CheckOptions;
use courier::{Context, Engine, Function, JsonTemplate, Kind, Value, Variables};

/// Specs with problems of every kind: the spec's own rules, serde's, templates'.
const BAD_SPECS: &[&str] = &[
    "method = \"POTS\"\nurl = \"shop.example.org/${id}\"\ntimout = \"5s\"\ntimeout = 20\n",
    "url = \"https://x.org/${toInterger(x)}\"\n[headers]\nX-A = \"${a b}\"\n[[mappings]]\nsource = \"a..b\"\ntarget = \"\"\n",
    "method = \"POST\"\nurl = \"https://x.org\"\nbody = \"json\"\npayload = '''\n{\n  \"a\": ${a},\n  \"b\": ${1 +},\n}'''\n",
    "url = \"https://x.org\"\n[auth]\ntype = \"bearer\"\ntoken = \"Bearer ${t}\"\n",
    "url = \"https://x.org\"\n[auth]\ntype = \"oauth2\"\nclient_id = \"c\"\ngrant_typ = \"password\"\n",
    "{\n  \"url\": \"https://x.org/${a\",\n  \"method\": \"GETT\",\n  \"body\": {\"type\": \"xml\"}\n}\n",
    "url = \"https://x.org\"\n[body]\ntype = \"multipart\"\nfile = \"${f}\"\npayload = \"{}\"\n",
    "url = \"https://x.org\"\n[retry]\natempts = 3\nstatuses = [503, 99]\nbackoff = \"soon\"\n",
    "url = \"https://x.org\"\n[retry]\nattempts = 11\nconnection_errors = \"yes\"\n",
    "url = \"https://x.org\"\nqueue = true\n[retry]\nattempts = 3\n",
    "url = \"https://x.org\"\n[retry]\nattempts = \"3\"\n",
    "url = \"https://x.org\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"https://x.org/t\"\nclient_id = \"c\"\nexpired_statuses = 401\n",
    "url = \"https://x.org\"\n[auth]\ntype = \"oauth2\"\ntoken_url = \"https://x.org/t\"\nclient_id = \"c\"\nexpired_statuses = [404]\n",
    "url = \"https://x.org\"\n[auth]\ntype = \"bearer\"\ntoken = \"t\"\nexpired_statuses = [403]\n",
];

#[test]
fn check_finds_every_problem_loading_finds_at_the_same_place() {
    let engine = Engine::new();
    for spec in BAD_SPECS {
        let refused = CompiledRequest::from_text(&engine, spec, Path::new(".")).expect_err(spec);
        let found = check_spec(&engine, spec, Path::new("."), &CheckOptions::default());
        for problem in &refused.problems {
            let span = problem.span.expect("every problem of a text is placed");
            let at_same_place = found.iter().any(|finding| {
                finding.file == problem.file
                    && finding.diagnostic.span.line == span.line
                    && finding.diagnostic.span.column == span.column
                    && finding.diagnostic.message.contains(&problem.message)
            });
            assert!(at_same_place, "{spec}\n{problem:?} is not among\n{found:#?}");
        }
    }
}

#[test]
fn a_spec_without_problems_has_no_findings_and_loads() {
    let engine = Engine::new();
    let spec = "method = \"POST\"\nurl = \"https://x.org/a\"\nbody = \"json\"\npayload = '{\"a\": ${a}}'\n";
    assert!(check_spec(&engine, spec, Path::new("."), &CheckOptions::default()).is_empty());
    CompiledRequest::from_text(&engine, spec, Path::new(".")).unwrap();
}

#[test]
fn a_built_in_cannot_be_replaced_and_a_new_name_registers() {
    let mut engine = Engine::new();
    let error = engine.register(Function::new("toInteger", |_, _| Ok(Value::Int(7)))).unwrap_err();
    assert_eq!(error.to_string(), "toInteger is a built-in function: register the host function under another name");
    let value = engine.compile_expression("toInteger(\"41\") + 1").unwrap();
    assert_eq!(value.evaluate(&Variables::new(), &Context::default()).unwrap(), Value::Int(42));
    engine.register(Function::new("seven", |_, _| Ok(Value::Int(7)))).unwrap();
    // A host function may be replaced by the host itself.
    engine.register(Function::new("seven", |_, _| Ok(Value::Int(8)))).unwrap();
    let value = engine.compile_expression("seven()").unwrap();
    assert_eq!(value.evaluate(&Variables::new(), &Context::default()).unwrap(), Value::Int(8));
    assert!(!engine.registry().get("seven").unwrap().is_builtin());
    assert!(engine.registry().get("toInteger").unwrap().is_builtin());
}

#[test]
fn a_panicking_host_function_fails_its_call() {
    let mut engine = Engine::new();
    engine
        .register(Function::new("explode", |args, _| panic!("host bug with {:?}", args[0])).param("x", Kind::Any))
        .unwrap();
    let template = JsonTemplate::compile(&engine, "{\"a\": ${explode(1)}}").unwrap();
    let error = template.render_to_value(&Variables::new(), &Context::default()).unwrap_err();
    assert_eq!(error.message(), "explode failed: the function panicked");
    assert_eq!(error.span().map(|span| span.column), Some(9));
}

#[test]
fn variables_have_their_own_get_and_a_map_of_text_lends_its_variables() {
    let variables = Variables::from_strings([("a", "1")]);
    assert_eq!(variables.get("a"), Some(Value::from("1")));
    assert_eq!(variables.get("b"), None);
    let host: HashMap<String, String> = HashMap::from([("age".to_owned(), "18".to_owned())]);
    let adult = Engine::new().compile_expression("age >= 18").unwrap();
    assert_eq!(adult.evaluate(&host, &Context::default()).unwrap(), Value::Bool(true));
}

#[test]
fn strict_mode_names_the_unset_variable() {
    let mut engine = Engine::new();
    engine.set_strict(true);
    let template = JsonTemplate::compile(&engine, "{\"email\": ${email}, \"known\": ${empty name}}").unwrap();
    let error = template.render_to_value(&Variables::new(), &Context::default()).unwrap_err();
    assert_eq!(error.message(), "variable email is not set");
    assert!(error.suggestion().unwrap().contains("--var email="), "{error}");
    let value = template.render_to_value(&Variables::from_strings([("email", "a@b.c")]), &Context::default()).unwrap();
    assert_eq!(value, serde_json::json!({"email": "a@b.c", "known": true}));
    // Not strict: the same template renders null.
    let relaxed = JsonTemplate::compile(&Engine::new(), "{\"email\": ${email}}").unwrap();
    assert_eq!(
        relaxed.render_to_value(&Variables::new(), &Context::default()).unwrap()["email"],
        serde_json::Value::Null
    );
}

#[test]
fn secret_outside_a_request_says_why_not() {
    let expression = Engine::new().compile_expression("secret(\"API_KEY\")").unwrap();
    let error = expression.evaluate(&Variables::new(), &Context::default()).unwrap_err();
    assert!(error.message().contains("only when a request is sent"), "{error}");
    assert!(!error.message().contains("the host"), "{error}");
}

fn courier(args: &[&str], folder: &Path) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_courier")).current_dir(folder).args(args).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn strict_on_the_command_line() {
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("p.json"), "{\"email\": ${email}, \"id\": ${id}}").unwrap();
    std::fs::write(folder.path().join("vars.json"), "{\"email\": \"a@b.c\"}").unwrap();
    let (status, stderr) = courier(&["render", "p.json", "--vars", "vars.json", "--strict"], folder.path());
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("variable id is not set"), "{stderr}");
    assert_eq!(courier(&["render", "p.json", "--vars", "vars.json"], folder.path()).0, 0);
    let (status, stderr) = courier(&["check", "p.json", "--vars", "vars.json", "--strict"], folder.path());
    assert_eq!(status, 1, "{stderr}");
    assert!(stderr.contains("error[undefined-variable]"), "{stderr}");
    assert_eq!(courier(&["check", "p.json", "--vars", "vars.json"], folder.path()).0, 0);
}

#[tokio::test]
async fn the_oauth2_token_exchange_is_in_the_debug_log_redacted() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"access_token": "tok-123", "refresh_token": "ref-456", "expires_in": 3600, "scope": "s"}),
        ))
        .mount(&server)
        .await;
    Mock::given(path("/api/me")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
    let spec = format!(
        "url = \"{0}/api/me\"\ndebug = true\n[auth]\ntype = \"oauth2\"\ntoken_url = \"{0}/oauth/token\"\n\
         grant_type = \"password\"\nclient_id = \"bot\"\nclient_secret = \"literal-cs\"\nusername = \"anna\"\n\
         password = \"${{secret(\\\"PW\\\")}}\"\nclient_auth = \"body\"\n",
        server.uri()
    );
    let request = common::compile(&spec);
    let context = common::context_with_secrets(&[("PW", "pw-789")]);
    let outcome =
        common::executor().execute(&request, &Variables::new(), &context, &mut courier::request::Cookies::new()).await;
    assert_eq!(outcome.status, Some(200), "{outcome:?}");
    let exchange =
        outcome.log.iter().find(|entry| entry.url.as_deref().is_some_and(|url| url.ends_with("/oauth/token")));
    let exchange = exchange.expect("the token exchange is logged");
    assert_eq!(exchange.status, Some(200));
    let sent = exchange.request.as_ref().expect("debug shows the token request");
    let body = sent.body.as_deref().unwrap();
    assert!(body.contains("grant_type=password") && body.contains("username=anna"), "{body}");
    assert!(body.contains("client_id=bot"), "{body}");
    assert!(sent.headers.contains_key("x-b3-traceid"), "{sent:?}");
    let answer = exchange.response.as_ref().expect("debug shows the token answer");
    assert!(answer.body.as_deref().unwrap().contains("\"expires_in\":3600"), "{answer:?}");
    // The token's trace id is the one sent.
    let received = server.received_requests().await.unwrap();
    let sent_trace = received[0].headers.get("x-b3-traceid").unwrap().to_str().unwrap();
    assert_eq!(exchange.trace_id.as_deref(), Some(sent_trace));
    let printed = serde_json::to_string(&outcome.log).unwrap();
    for secret in ["literal-cs", "pw-789", "tok-123", "ref-456"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
}

#[test]
fn hostile_specs_are_refused_with_a_place_not_a_panic() {
    let engine = Engine::new();
    let deep_toml = format!("url = \"https://x.org\"\na = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let deep_json = format!("{{\"url\": \"https://x.org\", \"a\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let unclosed = "url = \"https://x.org\"\npayload = '''\n{\"a\": ${x}".to_owned();
    let escapes = format!("{{\"url\": \"https://x.org/{}\\u00e9${{x y}}\"}}", "\\\"".repeat(10_000));
    let started = std::time::Instant::now();
    for spec in [&deep_toml, &deep_json, &unclosed, &escapes] {
        let refused = CompiledRequest::from_text(&engine, spec, Path::new(".")).expect_err("refused");
        assert!(refused.problems.iter().all(|problem| problem.span.is_some()), "{refused}");
        let found = check_spec(&engine, spec, Path::new("."), &CheckOptions::default());
        assert!(!found.is_empty());
    }
    // The escaped hole is placed at its written place in the JSON text.
    let found = check_spec(&engine, &escapes, Path::new("."), &CheckOptions::default());
    let syntax = found.iter().find(|finding| finding.diagnostic.code == "syntax").expect("the hole's error");
    assert_eq!(&escapes[syntax.diagnostic.span.range()], "y");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn a_template_that_fails_while_rendering_is_placed_in_the_file_the_author_edits() {
    let folder = tempfile::tempdir().unwrap();
    let spec = "method = \"POST\"\nurl = \"https://x.org/a\"\nbody = \"json\"\npayload = \"\"\"\n{\\\"n\\\": ${toInteger(n)}}\"\"\"\n";
    std::fs::write(folder.path().join("inline.toml"), spec).unwrap();
    std::fs::write(folder.path().join("payload.json"), "{\n  \"a\": ${toInteger(n)}\n}\n").unwrap();
    let spec = "method = \"POST\"\nurl = \"https://x.org/a\"\nbody = \"json\"\npayload_file = \"payload.json\"\n";
    std::fs::write(folder.path().join("file.toml"), spec).unwrap();
    let send = |spec: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_courier"))
            .current_dir(folder.path())
            .args(["send", spec, "--dry-run", "--var", "n=1,5"])
            .env("COURIER_ALLOW", "private")
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // Line 5, column 11 of the .toml: after the escaped quotes of `{\"n\": `.
    let stderr = send("inline.toml");
    assert!(stderr.contains("inline.toml:5:11: body.payload: cannot convert \"1,5\""), "{stderr}");
    assert!(stderr.contains("decimal comma"), "{stderr}");
    let stderr = send("file.toml");
    assert!(stderr.contains("payload.json:2:10: body.payload: cannot convert \"1,5\""), "{stderr}");
}
