//! Errors at run time that say how to fix them: `courier send` against a loopback
//! server, each mistake an author makes, and the hint its outcome gives.
#![cfg(feature = "cli")]

mod common;

use std::process::Command;
use std::time::Duration;

use common::{BlockingServer as Server, write_spec};
use serde_json::Value;
use wiremock::ResponseTemplate;

/// Sends the spec `text` and returns the outcome (stdout) with stderr appended as `"stderr"`.
fn send(text: &str) -> Value {
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), text);
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["send", spec.to_str().unwrap()])
        .env("COURIER_ALLOW", "private")
        .env_remove("COURIER_SECRET_NOPE")
        .output()
        .unwrap();
    let mut outcome: Value = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if outcome.is_null() {
        outcome = serde_json::json!({});
    }
    outcome["stderr"] = Value::String(stderr);
    outcome
}

/// The outcome's error, its log messages and stderr, as one text to search.
fn told(outcome: &Value) -> String {
    let log: Vec<&str> =
        outcome["log"].as_array().into_iter().flatten().filter_map(|e| e["message"].as_str()).collect();
    format!(
        "{} | {} | {}",
        outcome["error"].as_str().unwrap_or_default(),
        log.join(" | "),
        outcome["stderr"].as_str().unwrap_or_default()
    )
}

#[test]
fn an_unknown_secret_names_the_variable_and_the_secrets_file() {
    let server = Server::answering(ResponseTemplate::new(200), 1, ResponseTemplate::new(200));
    let outcome = send(&format!("url = \"{}/x\"\n[headers]\nX-Key = '${{secret(\"NOPE\")}}'\n", server.uri()));
    let said = told(&outcome);
    assert!(
        said.contains("unknown secret \"NOPE\"")
            && said.contains("COURIER_SECRET_NOPE")
            && said.contains("--secrets FILE"),
        "{said}"
    );
    assert!(server.received().is_empty(), "nothing was sent");
}

#[test]
fn a_local_file_body_names_the_files_option() {
    let server = Server::answering(ResponseTemplate::new(200), 1, ResponseTemplate::new(200));
    let outcome = send(&format!(
        "method = \"POST\"\nurl = \"{}/x\"\n[body]\ntype = \"octet-stream\"\nfile = \"blob.bin\"\n",
        server.uri()
    ));
    let said = told(&outcome);
    assert!(said.contains("--files DIR"), "{said}");
}

#[test]
fn a_mapping_on_a_response_that_is_not_json_says_so_with_its_content_type() {
    let page = ResponseTemplate::new(200).set_body_raw("<html>hi</html>", "text/html; charset=utf-8");
    let server = Server::answering(page, 1, ResponseTemplate::new(200));
    let outcome =
        send(&format!("url = \"{}/x\"\n[[mappings]]\nsource = \"price\"\ntarget = \"price\"\n", server.uri()));
    let said = told(&outcome);
    assert!(
        said.contains("not JSON (Content-Type: text/html; charset=utf-8)") && !said.contains("line 1 column"),
        "{said}"
    );
}

#[test]
fn a_mapping_that_matches_nothing_suggests_the_nearest_path() {
    let body = ResponseTemplate::new(200)
        .set_body_raw(r#"{"price": {"amount": 12.50}, "variants": [{"id": 7}]}"#, "application/json");
    let server = Server::answering(body, 10, ResponseTemplate::new(200));
    for (source, nearest) in
        [("price.ammount", "price.amount"), ("variants.id", "variants[0].id"), ("/price/ammount", "price.amount")]
    {
        let outcome =
            send(&format!("url = \"{}/x\"\n[[mappings]]\nsource = \"{source}\"\ntarget = \"v\"\n", server.uri()));
        let said = told(&outcome);
        assert!(said.contains(&format!("did you mean {nearest}?")), "{source}: {said}");
    }
}

/// A server that reads a request and answers nothing for three seconds.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let _ = std::io::Read::read(&mut stream, &mut [0u8; 4096]);
                std::thread::sleep(Duration::from_secs(3));
                drop(stream);
            });
        }
    });
    format!("http://{address}")
}

#[test]
fn a_timeout_names_the_limit_that_ran_out() {
    let server = silent_server();
    let outcome = send(&format!("url = \"{server}/x\"\nread_timeout = \"300ms\"\ntimeout = \"10s\"\n"));
    let said = told(&outcome);
    assert!(said.contains("read_timeout = \"300ms\""), "{said}");
    let outcome = send(&format!("url = \"{server}/x\"\ntimeout = \"300ms\"\n"));
    let said = told(&outcome);
    assert!(said.contains("timeout = \"300ms\""), "{said}");
}

#[test]
fn an_unset_variable_read_without_strict_mode_is_named_in_the_log() {
    let server = Server::answering(ResponseTemplate::new(200), 10, ResponseTemplate::new(200));
    let folder = tempfile::tempdir().unwrap();
    let spec = write_spec(folder.path(), &format!("url = \"{}/x?e=${{emial}}\"\n", server.uri()));
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["send", spec.to_str().unwrap(), "--var", "email=anna@example.org"])
        .env("COURIER_ALLOW", "private")
        .output()
        .unwrap();
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    let said = told(&outcome);
    assert!(said.contains("variable emial is not set") && said.contains("did you mean email?"), "{said}");
    assert_eq!(outcome["status"], 200, "without strict mode it is still sent");
    // A set variable is not named.
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .args(["send", spec.to_str().unwrap(), "--var", "emial=anna@example.org"])
        .env("COURIER_ALLOW", "private")
        .output()
        .unwrap();
    let outcome: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(!told(&outcome).contains("not set"), "{outcome}");
}
