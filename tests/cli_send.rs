//! `courier send` and `courier events` from a shell's point of view, against a real
//! server on loopback: the outcome JSON, exit statuses, the session file (written
//! atomically, even when the process is killed), dry runs, and secrets that appear
//! nowhere.
#![cfg(feature = "cli")]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::{BlockingServer as Server, write_spec};
use serde_json::{Value as Json, json};
use wiremock::matchers::{any, path};
use wiremock::{Mock, ResponseTemplate};

fn courier(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.args(args).current_dir(env!("CARGO_MANIFEST_DIR")).env("COURIER_ALLOW", "private");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("courier runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn outcome(output: &Output) -> Json {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}{}", stdout(output), stderr(output)))
}

#[test]
fn the_event_catalog_lists_every_name_once_and_marks_ours() {
    let output = courier(&["events", "--format", "json"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let entries = outcome(&output);
    let entries = entries.as_array().unwrap();
    assert!(entries.len() > 200);
    let emitted: Vec<&str> =
        entries.iter().filter(|entry| entry["emitted"] == true).map(|entry| entry["name"].as_str().unwrap()).collect();
    assert_eq!(emitted.len(), 9);
    assert!(emitted.contains(&"api_socket_timeout_exception"));
    let human = stdout(&courier(&["events"], &[]));
    assert!(human.contains("* api_http_status_code_404"));
    assert!(human.contains("  welcome_sent "));
}

#[test]
fn a_dry_run_of_the_price_lookup_example_sends_nothing() {
    let output = courier(
        &[
            "send",
            "examples/price-lookup/request.toml",
            "--vars",
            "examples/price-lookup/vars.json",
            "--var",
            "shop_url=https://shop.example.org",
            "--dry-run",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let request = outcome(&output);
    let expected =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/price-lookup/expected-url.txt"))
            .unwrap();
    assert_eq!(request["method"], "GET");
    assert_eq!(request["url"], expected.trim());
    assert_eq!(request["body"], Json::Null);
    assert_eq!(request["headers"]["x-b3-traceid"].as_str().unwrap().len(), 32);
}

#[test]
fn send_prints_the_outcome_and_keeps_the_session() {
    let server = Server::start();
    server.mount(
        Mock::given(path("/login")).respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"user": {"name": "Anna"}}))
                .append_header("Set-Cookie", "SESSIONID=s-1; Path=/"),
        ),
    );
    server.mount(Mock::given(path("/cart")).respond_with(ResponseTemplate::new(404).set_body_string("empty")));
    let folder = tempfile::tempdir().unwrap();
    let session = folder.path().join("session.json");
    std::fs::write(&session, r#"{"variables": {"greeting": "hi", "user_name": "old"}, "cookies": {}}"#).unwrap();
    let login = write_spec(
        folder.path(),
        &format!(
            "url = \"{}/login\"\ncookies = [\"SESSIONID\"]\n[[mappings]]\nsource = \"user.name\"\ntarget = \"user_name\"\n",
            server.uri()
        ),
    );
    let session_arg = session.to_str().unwrap();
    let output = courier(&["send", login.to_str().unwrap(), "--session", session_arg, "--var", "x=1"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let first = outcome(&output);
    assert_eq!(first["status"], 200);
    assert_eq!(first["variables"]["user_name"], "Anna");
    assert_eq!(first["variables"]["api_client_status_code"], "200");
    assert_eq!(first["cookies"]["SESSIONID"], "s-1");
    assert_eq!(first["error"], Json::Null);
    assert_eq!(first["events"], json!([]));
    assert_eq!(first["log"][0]["status"], 200);
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&session).unwrap()).unwrap();
    assert_eq!(saved["variables"]["greeting"], "hi", "old variables stay");
    assert_eq!(saved["variables"]["x"], "1", "--var is kept");
    assert_eq!(saved["variables"]["user_name"], "Anna", "the outcome overrides");
    assert_eq!(saved["cookies"]["SESSIONID"], "s-1");

    // The next request of the session sends the cookie; a 404 is still a response.
    let cart = write_spec(folder.path(), &format!("url = \"{}/cart\"\ncookies = [\"SESSIONID\"]\n", server.uri()));
    let output = courier(&["send", cart.to_str().unwrap(), "--session", session_arg], &[]);
    assert_eq!(output.status.code(), Some(0));
    let second = outcome(&output);
    assert_eq!(second["status"], 404);
    assert_eq!(second["events"][0]["name"], "api_http_status_code_404");
    assert_eq!(second["events"][0]["status"], 404);
    let cookie = server.received()[1].headers.get("cookie").map(|value| value.to_str().unwrap().to_owned());
    assert_eq!(cookie.as_deref(), Some("SESSIONID=s-1"));
}

/// A mapping that reads a list of scalars sets a list variable: a JSON array in the
/// outcome and in the session file, read back as a list by the next send, whose json
/// body then holds it as an array; a string that only looks like a list stays a string.
#[test]
fn a_list_of_scalars_is_a_list_variable_in_the_outcome_the_session_and_the_next_payload() {
    let server = Server::start();
    // Raw text, so that the response spells 12.50 as written.
    let products = r#"{"products": [
        {"name": "Tea", "id": 7, "tags": ["green", "loose"]},
        {"name": "Mug", "id": 12.50, "tags": []}
    ]}"#;
    server.mount(
        Mock::given(path("/products"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(products, "application/json")),
    );
    server.mount(Mock::given(path("/order")).respond_with(ResponseTemplate::new(201)));
    let folder = tempfile::tempdir().unwrap();
    let session = folder.path().join("session.json");
    std::fs::write(&session, r#"{"variables": {"note": "[\"not\", \"a list\"]"}, "cookies": {}}"#).unwrap();
    let mapping = |source: &str, target: &str| format!("[[mappings]]\nsource = \"{source}\"\ntarget = \"{target}\"\n");
    let read = write_spec(
        folder.path(),
        &format!(
            "url = \"{}/products\"\n{}{}{}{}",
            server.uri(),
            mapping("$.products[*].name", "names"),
            mapping("$.products[*].id", "ids"),
            mapping("products[0].tags", "tags"),
            mapping("$.products[0]", "first"),
        ),
    );
    let session_arg = session.to_str().unwrap();
    let output = courier(&["send", read.to_str().unwrap(), "--session", session_arg], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let first = outcome(&output);
    assert_eq!(first["variables"]["names"], json!(["Tea", "Mug"]));
    // Numbers keep the response's spelling, as strings: a list variable holds text.
    assert_eq!(first["variables"]["ids"], json!(["7", "12.50"]));
    assert_eq!(first["variables"]["tags"], json!(["green", "loose"]));
    // A list of objects stays JSON text.
    assert_eq!(first["variables"]["first"], json!(r#"[{"name":"Tea","id":7,"tags":["green","loose"]}]"#));
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&session).unwrap()).unwrap();
    assert_eq!(saved["variables"]["names"], json!(["Tea", "Mug"]));
    assert_eq!(saved["variables"]["ids"], json!(["7", "12.50"]));
    assert_eq!(saved["variables"]["note"], json!(r#"["not", "a list"]"#), "a string stays a string");

    let payload = r#"{"names": ${names}, "count": ${arrayLength(names)}, "first": ${names[0]},
        "ids": ${ids.stream().map(id -> toDouble(id)).toList()}, "loud": ${tags.stream().map(t -> stringToUpperCase(t)).toList()},
        "note": ${note}, "note_items": ${arrayLength(note)}}"#;
    let order = write_spec(
        folder.path(),
        &format!("method = \"POST\"\nurl = \"{}/order\"\nbody = \"json\"\npayload = '''{payload}'''\n", server.uri()),
    );
    let output = courier(&["send", order.to_str().unwrap(), "--session", session_arg], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(outcome(&output)["status"], 201, "{}", stdout(&output));
    let sent: Json = serde_json::from_slice(&server.received()[1].body).unwrap();
    assert_eq!(
        sent,
        json!({"names": ["Tea", "Mug"], "count": 2, "first": "Tea", "ids": [7.0, 12.5], "loud": ["GREEN", "LOOSE"],
            "note": r#"["not", "a list"]"#, "note_items": 1})
    );
    // The session, written again, still holds the lists as lists.
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&session).unwrap()).unwrap();
    assert_eq!(saved["variables"]["tags"], json!(["green", "loose"]));
}

#[test]
fn no_response_exits_1_with_the_error_in_the_outcome() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), &format!("url = \"http://127.0.0.1:{port}/\"\n"));
    let output = courier(&["send", spec.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    let result = outcome(&output);
    assert_eq!(result["status"], Json::Null);
    assert_eq!(result["events"][0]["name"], "api_exception");
    assert!(result["error"].as_str().unwrap().to_lowercase().contains("refused"));
    assert!(stderr(&output).contains("error:"));
}

#[test]
fn a_spec_that_does_not_compile_is_refused_before_anything_runs() {
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), "url = \"http://127.0.0.1:9/${toInterger(x)}\"\n");
    let output = courier(&["send", spec.to_str().unwrap()], &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "");
    let message = stderr(&output);
    // At its line and column in the spec file, not in the url's text.
    assert!(message.contains("request.toml:1:29: url: unknown function toInterger"), "{message}");
    assert!(message.contains("did you mean toInteger?"), "{message}");
}

const SECRET: &str = "Sup3r$ecret/Value";

#[test]
fn a_secret_appears_nowhere() {
    let server = Server::start();
    // The service echoes the secret in its body and in a header.
    server.mount(Mock::given(any()).respond_with(
        ResponseTemplate::new(200).set_body_json(json!({"echo": SECRET})).insert_header("X-Echo", SECRET),
    ));
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(
        folder.path(),
        &format!(
            r#"
            method = "POST"
            url = '{}/hook?key=${{secret("API_KEY")}}'
            body = "json"
            payload = '{{"key": ${{secret("API_KEY")}}}}'
            [headers]
            X-Api-Key = '${{secret("API_KEY")}}'
            [auth]
            type = "basic"
            username = "bot"
            password = '${{secret("API_KEY")}}'
            [[mappings]]
            source = "echo"
            target = "echoed"
            [[response_headers]]
            header = "X-Echo"
            target = "echo_header"
            "#,
            server.uri()
        ),
    );
    let session = folder.path().join("session.json");
    let (spec, session) = (spec.to_str().unwrap(), session.to_str().unwrap());
    let env = [("COURIER_SECRET_API_KEY", SECRET)];
    let sent = courier(&["send", spec, "--session", session, "--debug"], &env);
    assert_eq!(sent.status.code(), Some(0), "{}", stderr(&sent));
    assert_eq!(server.received()[0].headers.get("x-api-key").unwrap(), SECRET, "the secret was used");
    let dry = courier(&["send", spec, "--dry-run"], &env);
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));

    // A secret read from a --secrets file, in a template that fails with the value in its message.
    let secrets = folder.path().join("secrets.json");
    std::fs::write(&secrets, json!({"API_KEY": SECRET}).to_string()).unwrap();
    let failing = folder.path().join("failing.toml");
    std::fs::write(&failing, format!("url = '{}/x?n=${{toInteger(secret(\"API_KEY\"))}}'\n", server.uri())).unwrap();
    let failed = courier(&["send", failing.to_str().unwrap(), "--secrets", secrets.to_str().unwrap()], &[]);
    assert_eq!(failed.status.code(), Some(1));
    assert!(outcome(&failed)["error"].as_str().unwrap().contains("[redacted]"), "{}", stdout(&failed));

    let session_text = std::fs::read_to_string(session).unwrap();
    let encoded = "Sup3r%24ecret%2FValue";
    for (what, text) in [
        ("stdout", stdout(&sent)),
        ("stderr", stderr(&sent)),
        ("session", session_text),
        ("dry-run stdout", stdout(&dry)),
        ("dry-run stderr", stderr(&dry)),
        ("failed stdout", stdout(&failed)),
        ("failed stderr", stderr(&failed)),
    ] {
        assert!(!text.contains(SECRET) && !text.contains(encoded), "the secret is in {what}: {text}");
    }
    assert_eq!(outcome(&sent)["variables"]["echoed"], "[redacted]");
}

/// Kills `courier send` while it writes the session (the moment the session folder
/// changes, or a few milliseconds later) and at moments spread over its run, again
/// and again: the session file must always be whole JSON, the old content or the new.
#[test]
fn the_session_file_is_never_half_written_even_when_the_process_is_killed() {
    let server = Server::start();
    server.mount(Mock::given(any()).respond_with(ResponseTemplate::new(200).set_body_string("ok")));
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), &format!("url = \"{}/\"\n", server.uri()));
    let session = folder.path().join("session.json");
    // A large session, so that writing it takes a while.
    let filler = "x".repeat(100);
    let variables: serde_json::Map<String, Json> =
        (0..20_000).map(|index| (format!("v{index}"), Json::from(filler.as_str()))).collect();
    let mut current = json!({"variables": variables, "cookies": {}});
    std::fs::write(&session, serde_json::to_string(&current).unwrap()).unwrap();

    let run = |round: usize| {
        Command::new(env!("CARGO_BIN_EXE_courier"))
            .env("COURIER_ALLOW", "private")
            .args(["send", spec.to_str().unwrap(), "--session", session.to_str().unwrap()])
            .args(["--var", &format!("round={round}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    assert!(run(0).wait().unwrap().success());
    let full_run = started.elapsed();
    current = serde_json::from_str(&std::fs::read_to_string(&session).unwrap()).unwrap();

    let rounds = 23; // the last one, 23 % 4 == 3, runs to its end
    let mut killed = 0;
    for round in 1..=rounds {
        let before = folder_state(folder.path());
        let mut child = run(round);
        let spawned = Instant::now();
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            let kill_now = match round % 4 {
                // The moment the write begins (a temporary file appears, or the file changes).
                0 => folder_state(folder.path()) != before,
                // A little later: during the write, the flush or the rename.
                1 => {
                    folder_state(folder.path()) != before && {
                        std::thread::sleep(std::time::Duration::from_millis(round as u64 / 3));
                        true
                    }
                }
                // Anywhere in the run.
                2 => spawned.elapsed() >= full_run.mul_f64(round as f64 / rounds as f64),
                // Not at all: the new session is written.
                _ => false,
            };
            if kill_now {
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap(); // SIGKILL
                    killed += 1;
                }
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        child.wait().unwrap();
        let text = std::fs::read_to_string(&session).unwrap();
        let now: Json = serde_json::from_str(&text).unwrap_or_else(|error| panic!("round {round}: not JSON: {error}"));
        let round_written = now["variables"]["round"].as_str().unwrap();
        if round_written == round.to_string() {
            assert_eq!(now["variables"]["v19999"], filler.as_str());
            current = now;
        } else {
            assert_eq!(now, current, "round {round}: neither the old session nor the new");
        }
    }
    assert!(killed > 0, "no run was killed while it ran ({full_run:?})");
    assert_eq!(current["variables"]["round"], rounds.to_string(), "the last run, not killed, wrote its session");
    eprintln!("{killed} of {rounds} runs killed while running; a whole run takes {full_run:?}");
}

/// What a folder holds: each file's name, size and modification time.
fn folder_state(folder: &Path) -> Vec<(std::ffi::OsString, u64, Option<std::time::SystemTime>)> {
    let mut state: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let metadata = entry.metadata().ok()?;
            Some((entry.file_name(), metadata.len(), metadata.modified().ok()))
        })
        .collect();
    state.sort();
    state
}
