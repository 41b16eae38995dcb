//! `courier enqueue` with the real binary: a JSONL file of variables queued as one
//! record a line, in batched transactions, bad lines reported by number, and the
//! records then delivered by `courier worker` to a loopback server — on SQLite,
//! and on PostgreSQL when `COURIER_TEST_POSTGRES=1` (`tests/pg_support`).
#![cfg(feature = "cli")]

mod pg_support;
mod replay_support;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use pg_support::Cluster;
use replay_support::{Server, courier, list, stderr, stdout};

/// A spec that does not say `queue = true`: `enqueue` queues it all the same.
fn write_spec(folder: &Path) {
    let spec = "method = \"POST\"\nurl = \"${base}/${id}\"\nbody = \"json\"\n\
                payload = '{\"id\": \"${id}\", \"n\": ${toInteger(n)}}'\n";
    std::fs::write(folder.join("order.toml"), spec).unwrap();
}

/// Queues six lines, four of them bad, into `store`, then drains it: the two good
/// ones reach the server, each with its own key and body, the tenant stored.
fn bad_lines_are_reported_by_number_and_the_rest_delivered(store: &str) {
    let folder = tempfile::tempdir().unwrap();
    write_spec(folder.path());
    let server = Server::start();
    let base = server.url("/orders");
    let lines = [
        format!(r#"{{"base": "{base}", "id": "a1", "n": "1"}}"#),
        "[1, 2]".to_owned(),
        format!(r#"{{"base": "{base}", "id": "a3", "n": "lots"}}"#),
        r#"{"base": "http://10.1.2.3:9/orders", "id": "a4", "n": "4"}"#.to_owned(),
        String::new(),
        format!(r#"{{"base": "{base}", "id": "a6", "n": "6"}}"#),
        "{not json".to_owned(),
    ];
    std::fs::write(folder.path().join("lines.jsonl"), lines.join("\n") + "\n").unwrap();
    let queued = courier(folder.path())
        .env_remove("COURIER_ALLOW")
        .args(["enqueue", "order.toml", "--store", store, "--vars-jsonl", "lines.jsonl", "--tenant", "acme"])
        .args(["--allow", "127.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(queued.status.code(), Some(1), "{}", stderr(&queued));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&queued)).unwrap();
    assert_eq!((summary["queued"].as_u64(), summary["failed"].as_u64()), (Some(2), Some(4)), "{summary}");
    let errors = summary["errors"].as_array().unwrap();
    let numbers: Vec<u64> = errors.iter().map(|error| error["line"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [2, 3, 4, 7], "{summary}");
    let error = |line: usize| errors[line].to_string();
    assert!(error(0).contains("not a JSON object"), "{}", error(0));
    assert!(error(1).contains("lots") && error(1).contains("nothing was sent"), "{}", error(1));
    assert!(error(2).contains("10.1.2.3"), "{}", error(2));
    assert!(error(3).contains("not JSON"), "{}", error(3));

    let records = list(folder.path(), store);
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(records.iter().all(|record| record["state"] == "pending" && record["attempts"] == 0), "{records:?}");
    assert!(records.iter().all(|record| record["tenant"] == "acme"), "{records:?}");

    let worked = courier(folder.path()).args(["worker", "--store", store, "--until-empty"]).output().unwrap();
    assert!(worked.status.success(), "{}", stderr(&worked));
    assert_eq!(stdout(&worked).trim(), r#"{"delivered":2,"retried":0,"dead":0}"#);
    let mut seen = server.seen();
    seen.sort_by(|a, b| a.path.cmp(&b.path));
    let paths: Vec<&str> = seen.iter().map(|seen| seen.path.as_str()).collect();
    assert_eq!(paths, ["/orders/a1", "/orders/a6"]);
    assert_eq!(seen[1].body, br#"{"id": "a6", "n": 6}"#);
    let keys: Vec<&str> = seen.iter().filter_map(|seen| seen.header("idempotency-key")).collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    for (seen, record) in seen.iter().zip(&records) {
        assert_eq!(seen.header("idempotency-key"), record["idempotency_key"].as_str());
    }
    assert!(list(folder.path(), store).is_empty());
}

#[test]
fn enqueue_reports_bad_lines_by_number_and_queues_the_rest_on_sqlite() {
    bad_lines_are_reported_by_number_and_the_rest_delivered("queue.db");
}

#[test]
fn enqueue_reports_bad_lines_by_number_and_queues_the_rest_on_postgres() {
    let Some(cluster) = Cluster::start("enqueue_reports_bad_lines_by_number_and_queues_the_rest_on_postgres") else {
        return;
    };
    bad_lines_are_reported_by_number_and_the_rest_delivered(&cluster.url());
}

#[test]
fn enqueue_reads_stdin_in_batches_and_exits_0_when_every_line_was_queued() {
    const LINES: usize = 6000;
    let folder = tempfile::tempdir().unwrap();
    write_spec(folder.path());
    let mut child = courier(folder.path())
        .args(["enqueue", "order.toml", "--store", "queue.db", "--vars-jsonl", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        for n in 0..LINES {
            writeln!(stdin, r#"{{"base": "http://127.0.0.1:9/o", "id": "{n}", "n": "{n}"}}"#).unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), format!(r#"{{"queued":{LINES},"failed":0,"errors":[]}}"#));
    let records = list(folder.path(), "queue.db");
    assert_eq!(records.len(), LINES);
    let keys: std::collections::HashSet<&str> =
        records.iter().map(|record| record["idempotency_key"].as_str().unwrap()).collect();
    assert_eq!(keys.len(), LINES, "one key per record");
}

#[test]
fn enqueue_without_its_input_or_with_an_unreadable_one_is_bad_usage() {
    let folder = tempfile::tempdir().unwrap();
    write_spec(folder.path());
    let missing = courier(folder.path()).args(["enqueue", "order.toml", "--store", "q.db"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2), "{}", stderr(&missing));
    let unreadable = courier(folder.path())
        .args(["enqueue", "order.toml", "--store", "q.db", "--vars-jsonl", "nothing-here.jsonl"])
        .output()
        .unwrap();
    assert_eq!(unreadable.status.code(), Some(2), "{}", stderr(&unreadable));
    assert!(stderr(&unreadable).contains("nothing-here.jsonl"), "{}", stderr(&unreadable));
}

#[test]
fn lines_with_the_same_idempotency_key_queue_one_record() {
    let folder = tempfile::tempdir().unwrap();
    let spec = "method = \"POST\"\nurl = \"http://127.0.0.1:9/${id}\"\nidempotency_key = \"order-${id}\"\n";
    std::fs::write(folder.path().join("keyed.toml"), spec).unwrap();
    let lines = "{\"id\": \"1\"}\n{\"id\": \"2\"}\n{\"id\": \"1\"}\n";
    std::fs::write(folder.path().join("lines.jsonl"), lines).unwrap();
    let enqueue = || {
        courier(folder.path())
            .args(["enqueue", "keyed.toml", "--store", "q.db", "--vars-jsonl", "lines.jsonl"])
            .output()
            .unwrap()
    };
    for _ in 0..2 {
        let output = enqueue();
        assert!(output.status.success(), "{}", stderr(&output));
        assert_eq!(stdout(&output).trim(), r#"{"queued":3,"failed":0,"errors":[]}"#);
    }
    let records = list(folder.path(), "q.db");
    let mut keys: Vec<&str> = records.iter().map(|record| record["idempotency_key"].as_str().unwrap()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["order-1", "order-2"], "a repeated key, in the file or queued before, is one record");
}

/// Long lines are saved a few at a time: 64 lines of 1 MB each go in batches of at
/// most 16 MiB of input, so the process's peak memory stays far below what holding
/// the whole file's variables, bodies and records at once would take (about 160 MB
/// measured without the byte limit, about 65 MB with it).
#[cfg(target_os = "linux")]
#[test]
fn a_file_of_long_lines_is_queued_in_batches_of_bounded_size() {
    let folder = tempfile::tempdir().unwrap();
    let spec = "method = \"POST\"\nurl = \"http://127.0.0.1:9/big\"\nbody = \"json\"\npayload = '{\"n\": \"${n}\"}'\n";
    std::fs::write(folder.path().join("big.toml"), spec).unwrap();
    {
        let mut lines = std::io::BufWriter::new(std::fs::File::create(folder.path().join("big.jsonl")).unwrap());
        let long = "x".repeat(1_000_000);
        for n in 0..64 {
            writeln!(lines, r#"{{"n": "{long}{n}"}}"#).unwrap();
        }
    }
    let mut child = courier(folder.path())
        .args(["enqueue", "big.toml", "--store", "q.db", "--vars-jsonl", "big.jsonl"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The peak resident size, read until the process ends.
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    while child.try_wait().unwrap().is_none() {
        if let Some(kb) = std::fs::read_to_string(&status).ok().and_then(|text| {
            let line = text.lines().find(|line| line.starts_with("VmHWM:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        }) {
            peak_kb = peak_kb.max(kb);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), r#"{"queued":64,"failed":0,"errors":[]}"#);
    assert!(peak_kb > 0, "the peak was read");
    assert!(peak_kb < 110_000, "peak {peak_kb} kB: the batch held more than its byte limit");
}

/// A tenant rendered from a chat variable is a grouping key that the store indexes:
/// one too long is refused by its line; a host longer than DNS allows is cut for
/// the index. Neither fails the batch the other lines are inserted with (on
/// PostgreSQL an index entry over about 2.7 KB would).
#[test]
fn a_tenant_too_long_is_refused_by_line_and_a_host_too_long_fails_no_batch_on_postgres() {
    let Some(cluster) = Cluster::start("a_tenant_too_long_is_refused_by_line") else { return };
    let folder = tempfile::tempdir().unwrap();
    let spec = "method = \"POST\"\nurl = \"http://${host}/o\"\ntenant = \"${tenant}\"\n";
    std::fs::write(folder.path().join("order.toml"), spec).unwrap();
    // Letters that do not compress (PostgreSQL compresses a long index entry first).
    let mut seed = 7u32;
    let mut letter = || {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        char::from(b'a' + ((seed >> 16) % 26) as u8)
    };
    let labels: Vec<String> = (0..50).map(|_| (0..60).map(|_| letter()).collect()).collect();
    let long_host = format!("{}.example", labels.join("."));
    let lines = [
        r#"{"host": "shop.example", "tenant": "acme"}"#.to_owned(),
        format!(r#"{{"host": "shop.example", "tenant": "{}"}}"#, "t".repeat(3000)),
        format!(r#"{{"host": "{long_host}", "tenant": "acme"}}"#),
        format!(r#"{{"host": "shop.example", "tenant": "{}"}}"#, "t".repeat(courier::replay::MAX_TENANT_BYTES)),
    ];
    std::fs::write(folder.path().join("lines.jsonl"), lines.join("\n") + "\n").unwrap();
    let output = courier(folder.path())
        .args(["enqueue", "order.toml", "--store", &cluster.url(), "--vars-jsonl", "lines.jsonl"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((summary["queued"].as_u64(), summary["failed"].as_u64()), (Some(3), Some(1)), "{summary}");
    assert_eq!(summary["errors"][0]["line"], 2, "{summary}");
    let error = summary["errors"][0]["error"].as_str().unwrap();
    assert!(error.contains("tenant is 3000 bytes") && !error.contains("ttttt"), "{error}");
    let records = list(folder.path(), &cluster.url());
    assert!(records.iter().any(|record| record["url"].as_str().unwrap().contains(&long_host)), "{records:?}");
}
