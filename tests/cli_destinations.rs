//! The destination policy on the command line: `courier send`, `worker` and
//! `replay run` reach public destinations only unless `--allow` or `COURIER_ALLOW`
//! adds entries; a refusal exits 1 with the `api_exception` event.
#![cfg(feature = "cli")]

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value as Json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// `courier ARGS` in `folder`, with only the environment given (no COURIER_ALLOW
/// or COURIER_STORE from outside).
fn courier(folder: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_courier"));
    command.args(args).current_dir(folder).env_remove("COURIER_ALLOW").env_remove("COURIER_STORE");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("courier runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn outcome(output: &Output) -> Json {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("{error}: {}{}", text(&output.stdout), text(&output.stderr)))
}

/// A wiremock server on `ip` with its own runtime, for these synchronous tests.
struct Server {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
}

impl Server {
    fn on(ip: &str, response: ResponseTemplate) -> Server {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = TcpListener::bind((ip, 0)).unwrap();
        let server = runtime.block_on(MockServer::builder().listener(listener).start());
        runtime.block_on(Mock::given(any()).respond_with(response).mount(&server));
        Server { runtime, server }
    }

    fn uri(&self) -> String {
        self.server.uri()
    }

    fn hits(&self) -> usize {
        self.runtime.block_on(self.server.received_requests()).unwrap().len()
    }
}

/// A listener that accepts nothing, to prove no connection reached its address.
struct Trap(TcpListener);

impl Trap {
    fn on(ip: &str) -> Trap {
        let listener = TcpListener::bind((ip, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        Trap(listener)
    }

    fn url(&self) -> String {
        format!("http://{}/trap", self.0.local_addr().unwrap())
    }

    fn assert_untouched(&self) {
        match self.0.accept() {
            Err(error) if error.kind() == ErrorKind::WouldBlock => {}
            other => panic!("something reached {:?}: {other:?}", self.0.local_addr()),
        }
    }
}

fn spec(folder: &Path, name: &str, toml: &str) -> String {
    let path = folder.join(name);
    std::fs::write(&path, toml).unwrap();
    path.to_string_lossy().into_owned()
}

/// Exit 1, the `api_exception` event and no status, and an error that says courier
/// refused and why, never like a network failure.
fn assert_refused(output: &Output, why: &str) {
    assert_eq!(output.status.code(), Some(1), "{}{}", text(&output.stdout), text(&output.stderr));
    let json = outcome(output);
    assert_eq!(json["events"][0]["name"], "api_exception", "{json}");
    assert!(json.get("status").is_none_or(Json::is_null), "{json}");
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: courier refused"), "{stderr}");
    assert!(stderr.contains(why), "{stderr}");
    for network in ["tcp connect error", "os error", "error sending request"] {
        assert!(!stderr.contains(network), "{stderr}");
    }
}

#[test]
fn with_no_flags_send_refuses_loopback_and_nothing_connects() {
    let folder = tempfile::tempdir().unwrap();
    let trap = Trap::on("127.0.0.3");
    let refused = spec(folder.path(), "trap.toml", &format!("url = \"{}\"", trap.url()));
    let output = courier(folder.path(), &["send", &refused], &[]);
    assert_refused(&output, "127.0.0.3 is a loopback address");
    trap.assert_untouched();
    assert!(
        !folder.path().join("courier-replay.db").exists() || {
            let list = courier(folder.path(), &["replay", "list", "--format", "json"], &[]);
            outcome(&list).as_array().is_some_and(Vec::is_empty)
        }
    );
}

#[test]
fn allow_flags_and_the_environment_add_up() {
    let folder = tempfile::tempdir().unwrap();
    let first = Server::on("127.0.0.2", ResponseTemplate::new(200));
    let second = Server::on("127.0.0.4", ResponseTemplate::new(200));
    let trap = Trap::on("127.0.0.3");
    let env = [("COURIER_ALLOW", "127.0.0.4, 10.0.0.0/8")];
    for (name, url) in [("first.toml", first.uri()), ("second.toml", second.uri())] {
        let allowed = spec(folder.path(), name, &format!("url = \"{url}/ok\""));
        let output = courier(folder.path(), &["send", &allowed, "--allow", "127.0.0.2"], &env);
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        assert_eq!(outcome(&output)["status"], 200);
    }
    assert_eq!((first.hits(), second.hits()), (1, 1));
    let refused = spec(folder.path(), "trap.toml", &format!("url = \"{}\"", trap.url()));
    let output = courier(folder.path(), &["send", &refused, "--allow", "127.0.0.2"], &env);
    assert_refused(&output, "127.0.0.3");
    trap.assert_untouched();
}

#[test]
fn a_bad_entry_is_bad_usage() {
    let folder = tempfile::tempdir().unwrap();
    let public = spec(folder.path(), "a.toml", "url = \"https://example.org\"");
    let output = courier(folder.path(), &["send", &public, "--allow", "10.0.0.0/33"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--allow: \"10.0.0.0/33\" is not an allow entry"),
        "{}",
        text(&output.stderr)
    );
    let output = courier(folder.path(), &["send", &public], &[("COURIER_ALLOW", "private,host:0")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("COURIER_ALLOW: \"host:0\""), "{}", text(&output.stderr));
}

#[test]
fn redirects_zero_answers_the_redirect_and_a_refused_hop_exits_1() {
    let folder = tempfile::tempdir().unwrap();
    let trap = Trap::on("127.0.0.3");
    let server = Server::on("127.0.0.2", ResponseTemplate::new(302).insert_header("Location", trap.url().as_str()));
    let zero = spec(folder.path(), "zero.toml", &format!("url = \"{}/start\"\nredirects = 0", server.uri()));
    let output = courier(folder.path(), &["send", &zero, "--allow", "127.0.0.2"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(outcome(&output)["status"], 302);
    let follow = spec(folder.path(), "follow.toml", &format!("url = \"{}/start\"", server.uri()));
    let output = courier(folder.path(), &["send", &follow, "--allow", "127.0.0.2"], &[]);
    assert_refused(&output, "127.0.0.3 is a loopback address");
    assert_eq!(server.hits(), 2);
    trap.assert_untouched();
}

#[test]
fn a_secret_bound_to_hosts_in_the_environment_goes_nowhere_else() {
    let folder = tempfile::tempdir().unwrap();
    let trap = Trap::on("127.0.0.4");
    let toml = format!("url = \"{}\"\n[headers]\nX-Api-Key = \"${{secret(\\\"API_KEY\\\")}}\"\n", trap.url());
    let bound = spec(folder.path(), "bound.toml", &toml);
    let env = [
        ("COURIER_ALLOW", "private"),
        ("COURIER_SECRET_API_KEY", "k3y-s3cret"),
        ("COURIER_SECRET_API_KEY_HOSTS", "api.example.org, 127.0.0.2"),
    ];
    let output = courier(folder.path(), &["send", &bound], &env);
    assert_refused(&output, "the secret API_KEY to 127.0.0.4: it is bound to api.example.org, 127.0.0.2");
    assert!(!text(&output.stdout).contains("k3y-s3cret") && !text(&output.stderr).contains("k3y-s3cret"));
    trap.assert_untouched();
    // Transformed, it is still the secret: the template called secret("API_KEY").
    let toml = format!(
        "method = \"POST\"\nurl = \"{}\"\nbody = \"json\"\npayload = '{{\"k\": ${{stringToUpperCase(secret(\"API_KEY\"))}}}}'\n",
        trap.url()
    );
    let upper = spec(folder.path(), "upper.toml", &toml);
    let output = courier(folder.path(), &["send", &upper], &env);
    assert_refused(&output, "the secret API_KEY to 127.0.0.4: it is bound to api.example.org, 127.0.0.2");
    trap.assert_untouched();
    // A name ending in _HOSTS is a binding, never a secret.
    let toml = format!("url = \"{}\"\n[headers]\nX-Hosts = \"${{secret(\\\"API_KEY_HOSTS\\\")}}\"\n", trap.url());
    let hosts = spec(folder.path(), "hosts.toml", &toml);
    let output = courier(folder.path(), &["send", &hosts], &env);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("unknown secret"), "{}", text(&output.stderr));
    trap.assert_untouched();
}

#[test]
fn worker_and_replay_run_apply_the_policy_in_force_when_they_send() {
    let folder = tempfile::tempdir().unwrap();
    let server = Server::on("127.0.0.2", ResponseTemplate::new(201));
    let toml = format!(
        "method = \"POST\"\nurl = \"{}/orders\"\nqueue = true\nbody = \"json\"\npayload = '{{\"order\": 1}}'\n",
        server.uri()
    );
    let queued = spec(folder.path(), "queued.toml", &toml);
    // Queued with the host allowed: nothing is sent yet.
    let output = courier(folder.path(), &["send", &queued, "--allow", "127.0.0.2"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let id = outcome(&output)["replay"]["id"].as_i64().expect("queued");
    // The worker runs without the entry: refused, now dead, nothing sent.
    let output = courier(folder.path(), &["worker", "--until-empty"], &[]);
    assert!(text(&output.stderr).contains("courier refused"), "{}", text(&output.stderr));
    assert_eq!(server.hits(), 0);
    let list = outcome(&courier(folder.path(), &["replay", "list", "--format", "json"], &[]));
    assert_eq!(list[0]["state"], "dead", "{list}");
    // replay run with the entry in force sends it.
    let output = courier(folder.path(), &["replay", "run", &id.to_string(), "--allow", "127.0.0.2"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}{}", text(&output.stdout), text(&output.stderr));
    assert_eq!(server.hits(), 1);
}

#[test]
fn a_dry_run_says_when_courier_would_refuse_the_destination() {
    let folder = tempfile::tempdir().unwrap();
    let metadata = spec(folder.path(), "metadata.toml", "url = \"http://169.254.169.254/latest/meta-data/\"");
    let output = courier(folder.path(), &["send", &metadata, "--dry-run", "--allow", "private"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let notes = outcome(&output)["notes"].to_string();
    assert!(notes.contains("when sent, courier refused to connect to 169.254.169.254 port 80"), "{notes}");
    let public = spec(folder.path(), "public.toml", "url = \"https://shop.example.org/\"");
    let output = courier(folder.path(), &["send", &public, "--dry-run"], &[]);
    assert_eq!(outcome(&output)["notes"], serde_json::json!([]));
}
