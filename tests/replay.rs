//! The replay store from the command line, against a real server on loopback and
//! a real SQLite file: failed requests are kept, listed, replayed and dropped;
//! queued requests are saved first and sent by `courier worker`; refused and
//! exhausted ones go dead; and no secret ever reaches the file.

mod replay_support;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use replay_support::{Server, free_port, list, run, stderr, stdout};

const STORE: &str = "store.db";

fn write_spec(folder: &Path, name: &str, text: &str) {
    std::fs::write(folder.join(name), text).expect("the spec is written");
}

fn order_spec(url: &str, queue: bool) -> String {
    format!(
        "method = \"POST\"\nurl = \"{url}\"\nqueue = {queue}\nbody = \"json\"\npayload = '{{\"order\": ${{order}}}}'\n"
    )
}

fn outcome(output: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|_| panic!("an outcome: {}", stdout(output)))
}

#[test]
fn a_request_answered_503_is_kept_listed_and_replayed_once_the_server_is_back() {
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.answer_with(503);
    write_spec(folder.path(), "order.toml", &order_spec(&server.url("/orders"), false));

    let sent = run(folder.path(), &["send", "order.toml", "--var", "order=42", "--store", STORE]);
    assert!(sent.status.success(), "a response came: {}", stderr(&sent));
    assert_eq!(outcome(&sent)["replay"], serde_json::json!({"id": 1, "state": "failed"}));

    let records = list(folder.path(), STORE);
    assert_eq!(records.len(), 1, "{records:?}");
    let record = &records[0];
    assert_eq!(record["id"], 1);
    assert_eq!(record["method"], "POST");
    assert_eq!(record["url"], server.url("/orders"));
    assert_eq!(record["attempts"], 1);
    assert_eq!(record["state"], "failed");
    assert!(record["last_error"].as_str().unwrap().contains("503"), "{record}");

    let table = stdout(&run(folder.path(), &["replay", "list", "--store", STORE]));
    assert!(table.starts_with("ID"), "{table}");
    assert!(table.contains(&server.url("/orders")) && table.contains("failed"), "{table}");

    // Still failing: the attempt counts, the record stays.
    let replayed = run(folder.path(), &["replay", "run", "1", "--store", STORE]);
    assert_eq!(replayed.status.code(), Some(1), "{}", stdout(&replayed));
    assert!(stdout(&replayed).contains("failed: the service answered 503"), "{}", stdout(&replayed));
    let records = list(folder.path(), STORE);
    assert_eq!(records[0]["attempts"], 2);
    assert_eq!(records[0]["state"], "failed");

    server.answer_with(200);
    let replayed = run(folder.path(), &["replay", "run", "--all", "--store", STORE]);
    assert!(replayed.status.success(), "{}{}", stdout(&replayed), stderr(&replayed));
    assert!(stdout(&replayed).contains("delivered (200), removed"), "{}", stdout(&replayed));
    assert!(list(folder.path(), STORE).is_empty());

    // The same request each time, with the same idempotency key.
    let seen = server.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|request| request.body == br#"{"order": "42"}"#));
    assert_eq!(server.keys().len(), 1, "{:?}", server.keys());
    assert_eq!(server.keys().values().next(), Some(&3));
}

#[test]
fn a_request_to_a_server_that_is_down_is_kept_until_the_server_is_back() {
    let folder = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/orders");
    write_spec(folder.path(), "order.toml", &order_spec(&url, false));

    let sent = run(folder.path(), &["send", "order.toml", "--var", "order=7", "--store", STORE]);
    assert_eq!(sent.status.code(), Some(1), "no response came");
    assert_eq!(outcome(&sent)["replay"]["state"], "failed");
    let records = list(folder.path(), STORE);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["state"], "failed");
    let first_error = records[0]["last_error"].as_str().unwrap().to_owned();
    assert!(!first_error.is_empty());

    let replayed = run(folder.path(), &["replay", "run", "--all", "--store", STORE]);
    assert_eq!(replayed.status.code(), Some(1));
    let records = list(folder.path(), STORE);
    assert_eq!(records[0]["attempts"], 2, "a failed replay counts its attempt");

    let server = Server::start_on(port);
    let replayed = run(folder.path(), &["replay", "run", "1", "--store", STORE]);
    assert!(replayed.status.success(), "{}", stdout(&replayed));
    assert!(list(folder.path(), STORE).is_empty());
    assert_eq!(server.seen().len(), 1);
    assert_eq!(server.seen()[0].body, br#"{"order": "7"}"#);
}

#[test]
fn the_store_defaults_to_the_working_directory_or_courier_store() {
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.answer_with(500);
    write_spec(folder.path(), "order.toml", &order_spec(&server.url("/orders"), false));

    assert!(run(folder.path(), &["send", "order.toml", "--var", "order=1"]).status.success());
    assert!(folder.path().join("courier-replay.db").exists());
    let output = replay_support::courier(folder.path())
        .args(["send", "order.toml", "--var", "order=2"])
        .env("COURIER_STORE", "elsewhere.db")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(list(folder.path(), "courier-replay.db").len(), 1);
    assert_eq!(list(folder.path(), "elsewhere.db").len(), 1);

    // A request that succeeds leaves no store behind.
    let clean = tempfile::tempdir().unwrap();
    server.answer_with(200);
    write_spec(clean.path(), "order.toml", &order_spec(&server.url("/orders"), false));
    assert!(run(clean.path(), &["send", "order.toml", "--var", "order=3"]).status.success());
    assert!(!clean.path().join("courier-replay.db").exists());
}

#[test]
fn a_queued_request_is_saved_before_anything_is_sent_and_the_worker_sends_it() {
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    write_spec(folder.path(), "order.toml", &order_spec(&server.url("/orders"), true));

    let sent = run(folder.path(), &["send", "order.toml", "--var", "order=5", "--store", STORE]);
    assert!(sent.status.success(), "{}", stderr(&sent));
    assert_eq!(outcome(&sent)["replay"], serde_json::json!({"id": 1, "state": "pending"}));
    assert_eq!(outcome(&sent)["status"], serde_json::Value::Null);
    assert!(server.seen().is_empty(), "nothing is sent by `send`");
    let records = list(folder.path(), STORE);
    assert_eq!(records[0]["state"], "pending");
    assert_eq!(records[0]["attempts"], 0);
    let key = records[0]["idempotency_key"].as_str().unwrap().to_owned();

    let worked = run(folder.path(), &["worker", "--store", STORE, "--until-empty"]);
    assert!(worked.status.success(), "{}", stderr(&worked));
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":1,"retried":0,"dead":0}"#);
    assert!(list(folder.path(), STORE).is_empty());
    let seen = server.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header("idempotency-key"), Some(key.as_str()));
    assert_eq!(seen[0].body, br#"{"order": "5"}"#);
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
}

#[test]
fn refused_and_exhausted_requests_go_dead_and_can_be_dropped() {
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    write_spec(folder.path(), "order.toml", &order_spec(&server.url("/orders"), true));

    // A 4xx other than 429 is an answer: no retry, the record goes dead at once.
    server.answer_with(422);
    assert!(run(folder.path(), &["send", "order.toml", "--var", "order=1", "--store", STORE]).status.success());
    let worked = run(folder.path(), &["worker", "--store", STORE, "--until-empty"]);
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":0,"retried":0,"dead":1}"#);
    let records = list(folder.path(), STORE);
    assert_eq!(records[0]["state"], "dead");
    assert!(records[0]["last_error"].as_str().unwrap().contains("422"));
    assert!(run(folder.path(), &["replay", "drop", "1", "--store", STORE]).status.success());
    assert!(list(folder.path(), STORE).is_empty());
    let again = run(folder.path(), &["replay", "drop", "1", "--store", STORE]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("no record 1"));

    // 503 twice with at most two attempts: retried after a backoff, then dead.
    server.answer_with(503);
    assert!(run(folder.path(), &["send", "order.toml", "--var", "order=2", "--store", STORE]).status.success());
    let worker = ["worker", "--store", STORE, "--until-empty", "--max-attempts", "2"];
    let first = run(folder.path(), &worker);
    assert_eq!(stdout(&first).trim(), r#"{"delivered":0,"retried":1,"dead":0}"#);
    let records = list(folder.path(), STORE);
    assert_eq!((records[0]["state"].as_str(), records[0]["attempts"].as_u64()), (Some("pending"), Some(1)));
    // Not due yet: the backoff after one attempt is between 0.5 s and 1 s.
    assert_eq!(stdout(&run(folder.path(), &worker)).trim(), r#"{"delivered":0,"retried":0,"dead":0}"#);
    std::thread::sleep(Duration::from_millis(1100));
    let second = run(folder.path(), &worker);
    assert_eq!(stdout(&second).trim(), r#"{"delivered":0,"retried":0,"dead":1}"#);
    let records = list(folder.path(), STORE);
    assert_eq!((records[0]["state"].as_str(), records[0]["attempts"].as_u64()), (Some("dead"), Some(2)));

    // A dead record can still be replayed by hand.
    server.answer_with(201);
    let replayed = run(folder.path(), &["replay", "run", "2", "--store", STORE]);
    assert!(replayed.status.success(), "{}", stdout(&replayed));
    assert!(list(folder.path(), STORE).is_empty());
}

/// Every file of the store: the database, its WAL and shared memory.
fn store_bytes(folder: &Path) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with(STORE))
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).unwrap())
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

#[test]
fn no_secret_reaches_the_store_and_credentials_are_applied_again_when_sent() {
    const PASSWORD: &str = "pw-Zq8#xV3!secret";
    const API_KEY: &str = "key-9f1c2e7a-secret";
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.answer_with(503);
    let spec = |queue: bool| {
        format!(
            r#"method = "POST"
url = "{}"
queue = {queue}
body = "json"
payload = '{{"order": ${{order}}}}'

[headers]
X-Api-Key = '${{secret("KEY")}}'
X-Shop = "${{shop_user}}"

[auth]
type = "basic"
username = "${{shop_user}}"
password = '${{secret("PW")}}'
"#,
            server.url("/orders")
        )
    };
    write_spec(folder.path(), "failing.toml", &spec(false));
    write_spec(folder.path(), "queued.toml", &spec(true));
    let with_secrets = |args: &[&str]| {
        replay_support::courier(folder.path())
            .args(args)
            .env("COURIER_SECRET_PW", PASSWORD)
            .env("COURIER_SECRET_KEY", API_KEY)
            .output()
            .unwrap()
    };
    // Hold the store open, so that what the commands write stays in the WAL too.
    let store = courier::replay::SqliteStore::open(folder.path().join(STORE)).unwrap();

    let failed =
        with_secrets(&["send", "failing.toml", "--var", "order=1", "--var", "shop_user=shop-7", "--store", STORE]);
    assert_eq!(outcome(&failed)["replay"]["state"], "failed", "{}", stdout(&failed));
    let queued =
        with_secrets(&["send", "queued.toml", "--var", "order=2", "--var", "shop_user=shop-7", "--store", STORE]);
    assert_eq!(outcome(&queued)["replay"]["state"], "pending", "{}", stdout(&queued));

    // A secret in the URL cannot be kept: the queued request is refused, nothing sent.
    write_spec(
        folder.path(),
        "in-url.toml",
        &format!("url = '{}?key=${{secret(\"KEY\")}}'\nqueue = true\n", server.url("/orders")),
    );
    let refused = with_secrets(&["send", "in-url.toml", "--store", STORE]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(stdout(&refused).contains("its URL reads a secret; nothing was sent"), "{}", stdout(&refused));
    assert!(!stdout(&refused).contains(API_KEY));

    use courier::replay::ReplayStore;
    assert_eq!(store.list().unwrap().len(), 2);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("shop-7:{PASSWORD}"));
    let files = store_bytes(folder.path());
    assert!(files.iter().any(|(name, bytes)| name.ends_with("-wal") && !bytes.is_empty()), "the WAL is searched too");
    for (name, bytes) in &files {
        for secret in [PASSWORD, API_KEY, &basic] {
            assert!(!contains(bytes, secret.as_bytes()), "{secret} is in {name}");
        }
    }

    // Sent again, with the secrets from the environment and the chat variable the
    // auth read, the credentials are back.
    server.answer_with(200);
    let worked = with_secrets(&["worker", "--store", STORE, "--until-empty"]);
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":1,"retried":0,"dead":0}"#, "{}", stderr(&worked));
    let replayed = with_secrets(&["replay", "run", "--all", "--store", STORE]);
    assert!(replayed.status.success(), "{}", stdout(&replayed));
    let seen = server.seen();
    assert_eq!(seen.len(), 3, "the failed send, then two deliveries");
    for request in &seen {
        assert_eq!(request.header("authorization"), Some(format!("Basic {basic}").as_str()));
        assert_eq!(request.header("x-api-key"), Some(API_KEY));
        assert_eq!(request.header("x-shop"), Some("shop-7"));
    }
    for (name, bytes) in store_bytes(folder.path()) {
        for secret in [PASSWORD, API_KEY, &basic] {
            assert!(!contains(&bytes, secret.as_bytes()), "{secret} is in {name}");
        }
    }
}

/// The library as a host uses it: an executor with a store queues, and the worker
/// runs as a task of the host's runtime until the host aborts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_queues_through_the_executor_and_runs_the_worker_as_a_task() {
    use std::sync::Arc;

    use courier::replay::{ReplayStore, SpecSource, SqliteStore, State, Worker};
    use courier::request::{CompiledRequest, Cookies, Destinations, Executor, ExecutorOptions};
    use courier::{Context, Engine, Variables};

    // The server listens on loopback: allowed explicitly, as a host inside one network would.
    let private_executor = || {
        Executor::with_options(ExecutorOptions { destinations: Destinations::allowing_private(), ..Default::default() })
    };

    struct NoSpecs;
    impl SpecSource for NoSpecs {
        fn load(&self, name: &str) -> Result<CompiledRequest, String> {
            Err(format!("no spec {name}: these requests have no credentials"))
        }
    }

    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let store: Arc<dyn ReplayStore> = Arc::new(SqliteStore::new(folder.path().join("host.db")));
    let executor = private_executor().with_store(store.clone());
    let mut request =
        CompiledRequest::from_toml(&Engine::new(), &order_spec(&server.url("/orders"), true), folder.path()).unwrap();
    request.set_name("orders");
    for order in 0..20 {
        let variables = Variables::from_strings([("order", order.to_string().as_str())]);
        let outcome = executor.execute(&request, &variables, &Context::default(), &mut Cookies::new()).await;
        assert_eq!(outcome.replay.map(|kept| kept.state), Some(State::Pending), "{:?}", outcome.error);
    }
    assert!(server.seen().is_empty());
    assert_eq!(store.list().unwrap().len(), 20);

    let worker = Worker::new(store.clone(), private_executor(), Arc::new(NoSpecs), Context::default());
    let task = tokio::spawn(async move { worker.run().await });
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !store.list().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the worker did not drain the queue");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    task.abort();
    assert_eq!(server.keys().len(), 20);
    assert!(server.keys().values().all(|count| *count == 1));
}

#[test]
fn credentials_are_not_applied_from_a_spec_that_changed_since_the_request_was_saved() {
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let spec = format!(
        "method = \"POST\"\nurl = \"{}\"\nqueue = true\n\n[auth]\ntype = \"bearer\"\ntoken = '${{secret(\"TOKEN\")}}'\n",
        server.url("/orders")
    );
    write_spec(folder.path(), "queued.toml", &spec);
    let with_token = |args: &[&str]| {
        replay_support::courier(folder.path()).args(args).env("COURIER_SECRET_TOKEN", "t0ken").output().unwrap()
    };
    assert!(with_token(&["send", "queued.toml", "--store", STORE]).status.success());
    // The spec now points its credentials elsewhere; the waiting request keeps its URL.
    write_spec(folder.path(), "queued.toml", &spec.replace("/orders", "/elsewhere"));
    let worked = with_token(&["worker", "--store", STORE, "--until-empty"]);
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":0,"retried":1,"dead":0}"#);
    assert!(server.seen().is_empty(), "nothing is sent with another version's credentials");
    let records = list(folder.path(), STORE);
    assert!(records[0]["last_error"].as_str().unwrap().contains("changed since it was saved"), "{records:?}");

    // Put back, it applies again.
    write_spec(folder.path(), "queued.toml", &spec);
    let replayed = with_token(&["replay", "run", "1", "--store", STORE]);
    assert!(replayed.status.success(), "{}", stdout(&replayed));
    assert_eq!(server.seen()[0].header("authorization"), Some("Bearer t0ken"));
}
