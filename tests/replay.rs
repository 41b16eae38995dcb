//! The replay store from the command line, against a real server on loopback and
//! a real SQLite file: failed requests are kept, listed, replayed and dropped;
//! queued requests are saved first and sent by `courier worker`; refused and
//! exhausted ones go dead; and no secret ever reaches the file.
#![cfg(feature = "cli")]

mod replay_support;

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use replay_support::{NoSpecs, Server, free_port, list, run, stderr, stdout};

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

    // A secret in the URL outside its query cannot be kept: the queued request is refused, nothing sent.
    write_spec(
        folder.path(),
        "in-url.toml",
        &format!("url = '{}/${{secret(\"KEY\")}}'\nqueue = true\n", server.url("/orders")),
    );
    let refused = with_secrets(&["send", "in-url.toml", "--store", STORE]);
    assert_eq!(refused.status.code(), Some(1));
    let refusal = "its URL reads a secret outside its query; nothing was sent";
    assert!(stdout(&refused).contains(refusal), "{}", stdout(&refused));
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

/// Every form a secret could be stored in: as it is, percent-encoded (as a URL and
/// as a form encodes it), JSON-escaped, Base64.
fn secret_forms(secret: &str) -> Vec<String> {
    let json = serde_json::Value::from(secret).to_string();
    vec![
        secret.to_owned(),
        percent_encoding::utf8_percent_encode(secret, percent_encoding::NON_ALPHANUMERIC).to_string(),
        url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
        json[1..json.len() - 1].to_owned(),
        base64::engine::general_purpose::STANDARD.encode(secret),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
    ]
}

/// The value of the query parameter `name` in a query string.
fn query_value(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

#[test]
fn a_secret_in_the_query_is_kept_as_a_reference_and_filled_in_as_it_is_when_sent() {
    const QUERY_KEY: &str = "qk/9+Zx y&=s\u{e9}cret\"";
    const ROTATED: &str = "rotated-qk-2";
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.answer_with(503);
    let spec = |queue: bool| {
        format!("url = '{}?key=${{secret(\"QKEY\")}}&shop=${{shop}}'\nqueue = {queue}\n", server.url("/orders"))
    };
    write_spec(folder.path(), "failing.toml", &spec(false));
    write_spec(folder.path(), "queued.toml", &spec(true));
    let with_key = |key: &str, args: &[&str]| {
        replay_support::courier(folder.path()).args(args).env("COURIER_SECRET_QKEY", key).output().unwrap()
    };
    let failed = with_key(QUERY_KEY, &["send", "failing.toml", "--var", "shop=shop-7", "--store", STORE]);
    assert_eq!(outcome(&failed)["replay"]["state"], "failed", "{}", stdout(&failed));
    let queued = with_key(QUERY_KEY, &["send", "queued.toml", "--var", "shop=shop-7", "--store", STORE]);
    assert_eq!(outcome(&queued)["replay"]["state"], "pending", "{}", stdout(&queued));
    for output in [&failed, &queued] {
        for form in secret_forms(QUERY_KEY) {
            assert!(!stdout(output).contains(&form) && !stderr(output).contains(&form), "{form} in {}", stdout(output));
        }
    }

    // The store keeps the URL with the key redacted, the rest as sent.
    use courier::replay::ReplayStore;
    let records = courier::replay::SqliteStore::open(folder.path().join(STORE)).unwrap().list().unwrap();
    assert_eq!(records.len(), 2);
    for record in &records {
        let url = url::Url::parse(&record.saved.request.url).unwrap();
        assert_eq!(query_value(url.query().unwrap(), "key").as_deref(), Some("[redacted]"), "{url}");
        assert_eq!(query_value(url.query().unwrap(), "shop").as_deref(), Some("shop-7"), "{url}");
    }
    for (name, bytes) in store_bytes(folder.path()) {
        for form in secret_forms(QUERY_KEY) {
            assert!(!contains(&bytes, form.as_bytes()), "{form:?} is in {name}");
        }
    }

    // Sent again, the key is the secret as it is then: the worker's, then a rotated one.
    server.answer_with(200);
    let worked = with_key(QUERY_KEY, &["worker", "--store", STORE, "--until-empty"]);
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":1,"retried":0,"dead":0}"#, "{}", stderr(&worked));
    let replayed = with_key(ROTATED, &["replay", "run", "--all", "--store", STORE]);
    assert!(replayed.status.success(), "{}", stdout(&replayed));
    let keys: Vec<Option<String>> = server.seen().iter().map(|seen| query_value(&seen.query, "key")).collect();
    let sent = |key: &str| Some(key.to_owned());
    assert_eq!(keys, [sent(QUERY_KEY), sent(QUERY_KEY), sent(ROTATED)], "the failed send, the worker's, the replay's");
    assert!(server.seen().iter().all(|seen| query_value(&seen.query, "shop").as_deref() == Some("shop-7")));
    for output in [&worked, &replayed] {
        assert!(!stdout(output).contains(ROTATED) && !stdout(output).contains("qk%2F9"), "{}", stdout(output));
    }
}

/// The library as a host uses it: an executor with a store queues, and the worker
/// runs as a task of the host's runtime until the host aborts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_queues_through_the_executor_and_runs_the_worker_as_a_task() {
    use std::sync::Arc;

    use courier::replay::{ReplayStore, SqliteStore, State, Worker};
    use courier::request::{CompiledRequest, Cookies, Destinations, Executor, ExecutorOptions};
    use courier::{Context, Engine, Variables};

    // The server listens on loopback: allowed explicitly, as a host inside one network would.
    let private_executor = || {
        Executor::with_options(ExecutorOptions { destinations: Destinations::allowing_private(), ..Default::default() })
    };

    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let store: Arc<dyn ReplayStore> = Arc::new(SqliteStore::new(folder.path().join("host.db")));
    let executor = courier::replay::Delivery::new(private_executor()).with_store(store.clone());
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

/// A queued request's credentials are rendered again from the chat variables they
/// read, kept as JSON in the store: a list variable comes back a list, and a string
/// that looks like a list stays a string.
#[test]
fn kept_credential_variables_keep_lists_and_strings_apart() {
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.answer_with(200);
    let spec = format!(
        "url = \"{}\"\nqueue = true\n[headers]\nX-Api-Key = '${{secret(\"KEY\")}}:${{stringJoin(scopes, \"+\")}}:${{arrayLength(scopes)}}:${{arrayLength(note)}}'\n",
        server.url("/orders")
    );
    write_spec(folder.path(), "queued.toml", &spec);
    let vars = folder.path().join("vars.json");
    std::fs::write(&vars, r#"{"scopes": ["read", "write"], "note": "[\"a\", \"b\"]"}"#).unwrap();
    let with_secret = |args: &[&str]| {
        replay_support::courier(folder.path()).args(args).env("COURIER_SECRET_KEY", "k-1").output().unwrap()
    };
    let queued = with_secret(&["send", "queued.toml", "--vars", vars.to_str().unwrap(), "--store", STORE]);
    assert_eq!(outcome(&queued)["replay"]["state"], "pending", "{}", stdout(&queued));

    use courier::replay::ReplayStore;
    let store = courier::replay::SqliteStore::open(folder.path().join(STORE)).unwrap();
    let records = store.list().unwrap();
    let kept = records[0].saved.credentials.as_ref().expect("credentials are kept");
    assert_eq!(kept.variables["scopes"], serde_json::json!(["read", "write"]));
    assert_eq!(kept.variables["note"], serde_json::json!(r#"["a", "b"]"#));

    let worked = with_secret(&["worker", "--store", STORE, "--until-empty"]);
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":1,"retried":0,"dead":0}"#, "{}", stderr(&worked));
    // Two scopes joined, and the note one item: each read back as it was.
    assert_eq!(server.seen()[0].header("x-api-key"), Some("k-1:read+write:2:1"));
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

#[test]
fn a_corrupted_store_is_refused_on_open_and_nothing_is_reported_queued() {
    use courier::replay::{ReplayStore, SqliteStore};
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let path = folder.path().join(STORE);
    {
        // Enough records for many pages; closing checkpoints them into the file.
        let store = SqliteStore::open(&path).unwrap();
        let records: Vec<_> =
            (0..300).map(|n| replay_support::queued(&server.url("/orders"), format!("key-{n:04}"))).collect();
        store.insert(&records).unwrap();
    }
    // A page in the middle of the table goes bad; an insert, which appends at the
    // end, would not notice it.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8 * 4096, "the store has pages to spare: {}", bytes.len());
    bytes[4 * 4096..5 * 4096].fill(0xA5);
    std::fs::write(&path, bytes).unwrap();

    write_spec(folder.path(), "order.toml", &order_spec(&server.url("/orders"), true));
    let sent = run(folder.path(), &["send", "order.toml", "--var", "order=1", "--store", STORE]);
    assert_eq!(sent.status.code(), Some(1), "{}", stdout(&sent));
    assert!(!stdout(&sent).contains("\"pending\""), "not reported queued: {}", stdout(&sent));
    assert!(
        stderr(&sent).contains("corrupted") || stdout(&sent).contains("corrupted"),
        "{}{}",
        stdout(&sent),
        stderr(&sent)
    );
    let listed = run(folder.path(), &["replay", "list", "--store", STORE]);
    assert_eq!(listed.status.code(), Some(1));
    assert!(stderr(&listed).contains("corrupted"), "{}", stderr(&listed));
    assert!(server.seen().is_empty());
}

#[test]
fn a_read_only_store_can_be_listed() {
    use std::os::unix::fs::PermissionsExt;

    use courier::replay::{ReplayStore, SqliteStore};
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join(STORE);
    SqliteStore::open(&path).unwrap().insert(&[replay_support::queued("http://127.0.0.1:9/x", "k1".into())]).unwrap();
    // The file and its folder may be read, not written: no -wal or -shm can be made.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let root = std::process::Command::new("id").arg("-u").output().unwrap().stdout.trim_ascii() == b"0";
    // Root may write anything: the command runs as nobody then, from a copy of
    // the binary nobody can reach (the clone may lie in a folder only root may enter).
    let reachable = tempfile::tempdir().unwrap();
    let mut command = if root {
        std::fs::set_permissions(reachable.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let courier = reachable.path().join("courier");
        std::fs::copy(env!("CARGO_BIN_EXE_courier"), &courier).unwrap();
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "nobody", "--"]).arg(&courier);
        command
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
    };
    let listed = command
        .args(["replay", "list", "--format", "json", "--store"])
        .arg(&path)
        .current_dir(folder.path())
        .env_remove("COURIER_STORE")
        .output()
        .unwrap();
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    let records: Vec<serde_json::Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["idempotency_key"], "k1");
    let written = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(written & 0o777, 0o444);
}

#[test]
fn a_store_that_does_not_exist_is_a_usage_error_for_the_reading_commands() {
    let folder = tempfile::tempdir().unwrap();
    for args in [&["replay", "list"][..], &["replay", "drop", "1"], &["replay", "run", "--all"]] {
        let output =
            replay_support::courier(folder.path()).args(args).args(["--store", "missing.db"]).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("missing.db does not exist"), "{}", stderr(&output));
    }
    assert!(!folder.path().join("missing.db").exists(), "no file is created");
}

/// The worker reports a record delivered only once its deletion has committed, and
/// rides out a store that fails for a while.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reports_a_delivery_after_the_delete_commits_and_rides_out_store_errors() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use chrono::{DateTime, Utc};
    use courier::Context;
    use courier::replay::{
        Claim, Finish, Record, ReplayStore, SqliteStore, StoreError, Verdict, Worker, WorkerOptions,
    };
    use courier::request::{Destinations, Executor, ExecutorOptions};

    /// A store whose `finish` fails its first `failures` calls, as a database that went away would.
    struct Flaky {
        inner: SqliteStore,
        failures: AtomicUsize,
    }
    impl ReplayStore for Flaky {
        fn insert(&self, records: &[courier::replay::NewRecord]) -> Result<Vec<i64>, StoreError> {
            self.inner.insert(records)
        }
        fn list(&self) -> Result<Vec<Record>, StoreError> {
            self.inner.list()
        }
        fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Record>, StoreError> {
            self.inner.claim(claim)
        }
        fn finish(&self, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> Result<(), StoreError> {
            if self.failures.load(Ordering::SeqCst) > 0 {
                self.failures.fetch_sub(1, Ordering::SeqCst);
                return Err(StoreError("the connection was lost".to_owned()));
            }
            self.inner.finish(id, owner, finish, now)
        }
        fn remove(&self, id: i64) -> Result<bool, StoreError> {
            self.inner.remove(id)
        }
        fn renew(&self, ids: &[i64], owner: &str, until: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
            self.inner.renew(ids, owner, until)
        }
    }

    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let inner = SqliteStore::open(folder.path().join("flaky.db")).unwrap();
    let ids = inner.insert(&[replay_support::queued(&server.url("/orders"), "k1".into())]).unwrap();
    let store = Arc::new(Flaky { inner, failures: AtomicUsize::new(2) });
    let seen_at_report: Arc<Mutex<Vec<usize>>> = Arc::default();
    let store_errors = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (store_for_observer, seen, errors) = (store.clone(), seen_at_report.clone(), store_errors.clone());
        Worker::new(
            store.clone(),
            Executor::with_options(ExecutorOptions {
                destinations: Destinations::allowing_private(),
                ..Default::default()
            }),
            Arc::new(NoSpecs),
            Context::default(),
        )
        .with_options(WorkerOptions { poll: Duration::from_millis(20), ..WorkerOptions::default() })
        .observe(move |record, verdict| {
            assert!(matches!(verdict, Verdict::Delivered { .. }), "{verdict:?}");
            let left = store_for_observer.inner.list().unwrap();
            seen.lock().unwrap().push(left.iter().filter(|left| left.id == record.id).count());
        })
        .observe_store(move |_, _| {
            errors.fetch_add(1, Ordering::SeqCst);
        })
    };
    let report = tokio::time::timeout(Duration::from_secs(20), worker.run_until_empty()).await.unwrap().unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(*seen_at_report.lock().unwrap(), [0], "the record {} was gone when it was reported", ids[0]);
    assert_eq!(store_errors.load(Ordering::SeqCst), 2, "both failures were ridden out");
    assert_eq!(server.keys().len(), 1);
}

/// A send slower than the lease keeps its record: the worker renews the lease while
/// the send is in flight, so the send is not cut short and no other worker takes
/// the record meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_renewed_while_a_slow_send_is_in_flight() {
    use std::sync::Arc;

    use courier::Context;
    use courier::replay::{ReplayStore, SqliteStore, Worker, WorkerOptions};
    use courier::request::{Destinations, Executor, ExecutorOptions};

    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.delay(Duration::from_millis(2500));
    let path = folder.path().join("slow.db");
    SqliteStore::open(&path).unwrap().insert(&[replay_support::queued(&server.url("/slow"), "k1".into())]).unwrap();
    let options =
        WorkerOptions { lease: Duration::from_secs(1), poll: Duration::from_millis(20), ..WorkerOptions::default() };
    let worker = |owner: &str| {
        let store: Arc<dyn ReplayStore> = Arc::new(SqliteStore::new(&path));
        Worker::new(
            store,
            Executor::with_options(ExecutorOptions {
                destinations: Destinations::allowing_private(),
                ..Default::default()
            }),
            Arc::new(NoSpecs),
            Context::default(),
        )
        .with_options(WorkerOptions { owner: owner.to_owned(), ..options.clone() })
    };
    let (first, second) = (worker("first"), worker("second"));
    let slow = tokio::spawn(async move { first.run_until_empty().await });
    // Another worker looks all the while; it would take the record once a lease lapsed.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rival = tokio::spawn(async move { second.run().await });
    let report = tokio::time::timeout(Duration::from_secs(20), slow).await.unwrap().unwrap().unwrap();
    rival.abort();
    assert_eq!((report.delivered, report.retried), (1, 0), "{report:?}");
    assert_eq!(server.seen().len(), 1, "sent once, by one worker");
}

/// `replay run` by hand renews its lease as the worker does: a send slower than the
/// lease is not cut short, and a worker looking all the while does not take the
/// record meanwhile (it would, once the lease lapsed, and send it a second time).
#[test]
fn replay_run_renews_its_lease_while_a_slow_send_is_in_flight() {
    use courier::replay::{ReplayStore, SqliteStore};

    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.delay(Duration::from_millis(2500));
    SqliteStore::open(folder.path().join(STORE))
        .unwrap()
        .insert(&[replay_support::queued(&server.url("/slow"), "k1".into())])
        .unwrap();
    let started = std::time::Instant::now();
    let by_hand = replay_support::courier(folder.path())
        .args(["replay", "run", "1", "--lease", "1s", "--store", STORE])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once `replay run` holds the record, a worker looks all the while.
    std::thread::sleep(Duration::from_millis(400));
    let mut rival = replay_support::courier(folder.path())
        .args(["worker", "--store", STORE, "--lease", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let replayed = by_hand.wait_with_output().unwrap();
    let took = started.elapsed();
    // Let the rival look once more after the send, then stop it.
    std::thread::sleep(Duration::from_millis(1500));
    rival.kill().unwrap();
    rival.wait().unwrap();
    assert_eq!(replayed.status.code(), Some(0), "{}{}", stdout(&replayed), stderr(&replayed));
    assert!(stdout(&replayed).contains("delivered"), "{}", stdout(&replayed));
    assert!(took >= Duration::from_millis(2400), "the slow answer was waited for: {took:?}");
    assert_eq!(server.seen().len(), 1, "sent once: the rival worker never had the record");
}

/// A queued request answered 503 with `Retry-After` waits at least that long for
/// its next attempt (up to the worker's longest backoff), not the shorter backoff.
#[tokio::test]
async fn the_worker_schedules_the_next_attempt_after_the_services_retry_after() {
    use std::sync::Arc;

    use courier::Context;
    use courier::replay::{ReplayStore, SqliteStore, Worker, WorkerOptions};
    use wiremock::matchers::{any, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(path("/asks"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", "120"))
        .mount(&server)
        .await;
    Mock::given(any()).respond_with(ResponseTemplate::new(503)).mount(&server).await;
    let folder = tempfile::tempdir().unwrap();
    let store: Arc<dyn ReplayStore> = Arc::new(SqliteStore::new(folder.path().join(STORE)));
    store
        .insert(&[
            replay_support::queued(&format!("{}/asks", server.uri()), "asks".into()),
            replay_support::queued(&format!("{}/plain", server.uri()), "plain".into()),
        ])
        .unwrap();
    let options = WorkerOptions { backoff: Duration::from_secs(1), ..WorkerOptions::default() };
    let executor = courier::request::Executor::with_options(courier::request::ExecutorOptions {
        destinations: courier::request::Destinations::allowing_private(),
        ..Default::default()
    });
    let report = Worker::new(store.clone(), executor, Arc::new(NoSpecs), Context::default())
        .with_options(options)
        .run_until_empty()
        .await
        .unwrap();
    assert_eq!(report.retried, 2, "{report:?}");
    let now = chrono::Utc::now();
    let wait_of = |key: &str| {
        let records = store.list().unwrap();
        let record = records.iter().find(|record| record.saved.idempotency_key == key).unwrap();
        (record.next_attempt_at - now).num_seconds()
    };
    assert!((110..=120).contains(&wait_of("asks")), "{}", wait_of("asks"));
    assert!(wait_of("plain") <= 1, "{}", wait_of("plain"));
}

/// A lease of any length, up to `Duration::MAX`, is taken as it is by the worker and
/// by `replay run`: the claim's expiry in the store, the renewal interval and the
/// send's deadline are all computed from it, and none may overflow or panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_longest_lease_neither_panics_nor_stalls() {
    use std::sync::Arc;

    use courier::Context;
    use courier::replay::{ReplayStore, SqliteStore, Worker, WorkerOptions, replay_with_lease};
    use courier::request::{Destinations, Executor, ExecutorOptions};

    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let path = folder.path().join("long.db");
    let records = [
        replay_support::queued(&server.url("/one"), "k1".into()),
        replay_support::queued(&server.url("/two"), "k2".into()),
    ];
    SqliteStore::open(&path).unwrap().insert(&records[..1]).unwrap();
    let executor = Executor::with_options(ExecutorOptions {
        destinations: Destinations::allowing_private(),
        ..Default::default()
    });
    let store: Arc<dyn ReplayStore> = Arc::new(SqliteStore::new(&path));
    let worker = Worker::new(store.clone(), executor.clone(), Arc::new(NoSpecs), Context::default()).with_options(
        WorkerOptions { lease: Duration::MAX, poll: Duration::from_millis(20), ..WorkerOptions::default() },
    );
    let report = tokio::time::timeout(Duration::from_secs(20), worker.run_until_empty()).await.unwrap().unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    SqliteStore::open(&path).unwrap().insert(&records[1..]).unwrap();
    let replayed = tokio::time::timeout(
        Duration::from_secs(20),
        replay_with_lease(store, &executor, &NoSpecs, &Context::default(), None, Duration::MAX),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(replayed.len(), 1);
    assert_eq!(server.seen().len(), 2, "both sent once");
}

#[test]
fn a_services_control_characters_are_shown_escaped_on_the_terminal() {
    use courier::replay::{ReplayStore, SqliteStore};
    let folder = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(folder.path().join(STORE)).unwrap();
    let hostile = "\u{1b}]0;owned\u{7}\u{1b}[2J\u{202e}";
    let mut record = replay_support::queued(&format!("http://127.0.0.1:{}/{hostile}", free_port()), "k".to_owned());
    record.last_error = Some(format!("the service answered: {hostile}"));
    store.insert(&[record]).unwrap();
    drop(store);
    let table = stdout(&run(folder.path(), &["replay", "list", "--store", STORE]));
    let worker = run(folder.path(), &["worker", "--until-empty", "--max-attempts", "1", "--store", STORE]);
    let replayed = run(folder.path(), &["replay", "run", "--all", "--store", STORE]);
    for (what, text) in [("list", table), ("worker", stderr(&worker)), ("run", stdout(&replayed))] {
        assert!(!text.contains(['\u{1b}', '\u{7}', '\u{202e}']), "{what}: {text:?}");
        assert!(text.contains("\\u{1b}]0;owned\\u{7}") || text.contains("%1B"), "{what}: {text:?}");
    }
}

#[test]
fn an_unreadable_row_is_set_aside_and_the_queue_goes_on() {
    use courier::replay::{ReplayStore, SqliteStore};
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    server.answer_with(200);
    let store = SqliteStore::open(folder.path().join(STORE)).unwrap();
    let records: Vec<_> =
        ["k1", "k2"].iter().map(|key| replay_support::queued(&server.url("/orders"), (*key).to_owned())).collect();
    let ids = store.insert(&records).unwrap();
    drop(store);
    // A row written outside courier: its headers are not JSON.
    let connection = rusqlite::Connection::open(folder.path().join(STORE)).unwrap();
    connection.execute("UPDATE requests SET headers = 'not json' WHERE id = ?1", [ids[0]]).unwrap();
    drop(connection);

    let listed = list(folder.path(), STORE);
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!((listed[0]["id"].clone(), listed[0]["state"].clone()), (ids[0].into(), "unreadable".into()));
    let worker = run(folder.path(), &["worker", "--until-empty", "--store", STORE]);
    assert!(worker.status.success(), "{}", stderr(&worker));
    assert_eq!(server.seen().len(), 1, "the readable record was delivered");
    let store = SqliteStore::open(folder.path().join(STORE)).unwrap();
    let mut left = Vec::new();
    store.each(&mut |record| left.push(record)).unwrap();
    let [Err(parked)] = left.as_slice() else { panic!("{left:?}") };
    assert_eq!(parked.id, ids[0]);
    let connection = rusqlite::Connection::open(folder.path().join(STORE)).unwrap();
    let (state, error): (String, String) = connection
        .query_row("SELECT state, last_error FROM requests WHERE id = ?1", [ids[0]], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!(state, "dead");
    assert!(error.contains("courier cannot read this record") && error.contains("set aside as dead"), "{error}");
}

/// The worker claims ahead of its sends and settles in batches: 300 requests take a
/// handful of claims and far fewer settle transactions than deliveries, every one
/// written through `finish_many` (never one `finish` a record), and each record is
/// reported only once its batch has committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_claims_many_records_at_once_and_settles_them_in_batches() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use chrono::{DateTime, Utc};
    use courier::Context;
    use courier::replay::{Claim, Finish, Record, ReplayStore, SqliteStore, StoreError, Worker, WorkerOptions};
    use courier::request::{Destinations, Executor, ExecutorOptions};

    /// Counts the calls, and the records settled in each batch.
    #[derive(Default)]
    struct Calls {
        claims: AtomicUsize,
        singles: AtomicUsize,
        batches: Mutex<Vec<usize>>,
    }
    struct Counting {
        inner: SqliteStore,
        calls: Arc<Calls>,
    }
    impl ReplayStore for Counting {
        fn insert(&self, records: &[courier::replay::NewRecord]) -> Result<Vec<i64>, StoreError> {
            self.inner.insert(records)
        }
        fn list(&self) -> Result<Vec<Record>, StoreError> {
            self.inner.list()
        }
        fn claim(&self, claim: &Claim<'_>) -> Result<Vec<Record>, StoreError> {
            self.calls.claims.fetch_add(1, Ordering::SeqCst);
            self.inner.claim(claim)
        }
        fn finish(&self, id: i64, owner: &str, finish: &Finish, now: DateTime<Utc>) -> Result<(), StoreError> {
            self.calls.singles.fetch_add(1, Ordering::SeqCst);
            self.inner.finish(id, owner, finish, now)
        }
        fn finish_many(&self, owner: &str, settled: &[(i64, Finish)], now: DateTime<Utc>) -> Result<(), StoreError> {
            self.calls.batches.lock().unwrap().push(settled.len());
            self.inner.finish_many(owner, settled, now)
        }
        fn remove(&self, id: i64) -> Result<bool, StoreError> {
            self.inner.remove(id)
        }
        fn renew(&self, ids: &[i64], owner: &str, until: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
            self.inner.renew(ids, owner, until)
        }
    }

    const REQUESTS: usize = 300;
    let folder = tempfile::tempdir().unwrap();
    let server = Server::start();
    let inner = SqliteStore::open(folder.path().join("batches.db")).unwrap();
    let records: Vec<_> =
        (0..REQUESTS).map(|n| replay_support::queued(&server.url("/orders"), format!("k{n:03}"))).collect();
    inner.insert(&records).unwrap();
    let calls = Arc::new(Calls::default());
    let store = Arc::new(Counting { inner, calls: calls.clone() });
    let reported_before_commit = Arc::new(AtomicUsize::new(0));
    let worker = {
        let (observed, early) = (store.clone(), reported_before_commit.clone());
        Worker::new(
            store.clone(),
            Executor::with_options(ExecutorOptions {
                destinations: Destinations::allowing_private(),
                ..Default::default()
            }),
            Arc::new(NoSpecs),
            Context::default(),
        )
        .with_options(WorkerOptions { concurrency: 4, batch: 64, ..WorkerOptions::default() })
        .observe(move |record, _| {
            if observed.inner.list().unwrap().iter().any(|left| left.id == record.id) {
                early.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let report = tokio::time::timeout(Duration::from_secs(60), worker.run_until_empty()).await.unwrap().unwrap();
    assert_eq!(report.delivered, REQUESTS);
    assert_eq!(server.keys().len(), REQUESTS);
    assert_eq!(reported_before_commit.load(Ordering::SeqCst), 0, "a record was reported before its batch committed");
    let claims = calls.claims.load(Ordering::SeqCst);
    assert!(claims <= 3 * REQUESTS / 32 + 2, "{claims} claims for {REQUESTS} records: not batched");
    assert_eq!(calls.singles.load(Ordering::SeqCst), 0, "settled one by one");
    let batches = calls.batches.lock().unwrap().clone();
    assert_eq!(batches.iter().sum::<usize>(), REQUESTS, "{batches:?}");
    assert!(batches.len() < REQUESTS, "one settle per delivery: {batches:?}");
}
