//! The command line: `courier render` in each context and `courier check`'s exit
//! statuses, run as the real binary.
#![cfg(feature = "cli")]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::example;

struct Output {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Runs `courier` with `args`, `stdin` as its input, in `dir`.
fn courier_in(dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_courier"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the courier binary starts");
    child.stdin.take().expect("stdin is piped").write_all(stdin.as_bytes()).expect("stdin takes the input");
    let output = child.wait_with_output().expect("the courier binary runs");
    Output {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

fn courier(args: &[&str], stdin: &str) -> Output {
    courier_in(Path::new(env!("CARGO_MANIFEST_DIR")), args, stdin)
}

#[test]
fn render_text() {
    let out = courier(&["render", "-", "--var", "name=Anna \"A\"", "--as", "text"], "Hi ${name}! \\${x} ${1.5 * 2}\n");
    assert_eq!((out.status, out.stdout.as_str(), out.stderr.as_str()), (0, "Hi Anna \"A\"! ${x} 3.0\n", ""));
}

#[test]
fn render_json_prints_the_bytes_with_the_authors_layout() {
    let dir = tempfile::tempdir().unwrap();
    let payload = "{\n  \"name\": ${name},\n  \"n\":   ${toInteger(n)},\n  \"hi\": \"Hi ${name}\\n\"\n}\n";
    std::fs::write(dir.path().join("payload.json"), payload).unwrap();
    // `.json` means the json context without `--as`.
    let out = courier_in(dir.path(), &["render", "payload.json", "--var", "name=A\"</script>", "--var", "n=7"], "");
    assert_eq!(out.stderr, "");
    assert_eq!(out.status, 0);
    assert_eq!(
        out.stdout,
        "{\n  \"name\": \"A\\\"</script>\",\n  \"n\":   7,\n  \"hi\": \"Hi A\\\"</script>\\n\"\n}\n"
    );
}

#[test]
fn render_json_refuses_what_json_cannot_hold_and_prints_nothing() {
    let out = courier(&["render", "-", "--as", "json"], "{\"a\": 1, \"b\": ${1 / 0}}");
    assert_eq!(out.status, 1);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.starts_with("error[render]: <stdin>:1:15: Infinity cannot be written as JSON"),
        "{}",
        out.stderr
    );
}

#[test]
fn render_url_gives_the_price_lookup_url() {
    let vars = example("price-lookup/vars.json");
    let out = courier(
        &["render", "-", "--as", "url", "--vars", vars.to_str().unwrap(), "--var", "shop_url=https://shop.example.org"],
        "${shop_url}/products/${product_id}/price?currency=${currency}\n",
    );
    assert_eq!(out.stderr, "");
    assert_eq!(out.status, 0);
    assert_eq!(out.stdout, std::fs::read_to_string(example("price-lookup/expected-url.txt")).unwrap());
}

#[test]
fn render_header() {
    let out = courier(&["render", "-", "--as", "header", "--var", "token=abc def"], "Bearer ${token}\n");
    assert_eq!((out.status, out.stdout.as_str()), (0, "Bearer abc def\n"));
}

#[test]
fn header_injection_exits_1_and_prints_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["abc\r\nX-Admin: true", "abc\nX-Admin: true", "abc\0"] {
        // A NUL cannot be an argument: the value comes in a --vars file.
        let vars = dir.path().join("vars.json");
        std::fs::write(&vars, serde_json::json!({ "token": value }).to_string()).unwrap();
        let out = courier(&["render", "-", "--as", "header", "--vars", vars.to_str().unwrap()], "Bearer ${token}");
        assert_eq!(out.status, 1, "{value:?}");
        assert_eq!(out.stdout, "", "{value:?}");
        assert!(out.stderr.starts_with("error[render]: <stdin>:1:8: the value would put"), "{}", out.stderr);
        assert!(!out.stderr.contains("X-Admin"), "the value is not echoed: {}", out.stderr);
    }
}

#[test]
fn render_form() {
    let out = courier(&["render", "-", "--as", "form", "--var", "q=a b&c=d+é"], "x ${q}\n");
    assert_eq!((out.status, out.stdout.as_str()), (0, "x+a+b%26c%3Dd%2B%C3%A9\n"));
}

#[test]
fn render_reports_compile_errors_with_a_caret() {
    let out = courier(&["render", "-", "--as", "json"], "{\n  \"a\": ${x}\n  \"b\": 1\n}");
    assert_eq!(out.status, 1);
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
        "error[syntax]: <stdin>:3:3: a missing comma between two members or items\n  |\n3 |   \"b\": 1\n  |   ^\n  = help: write `,` before \"b\"\n"
    );
}

#[test]
fn check_exit_statuses() {
    // Clean, and warnings only: 0.
    assert_eq!(courier(&["check", "-"], "Hi ${name}").status, 0);
    let warned = courier(&["check", "-"], "${a < b}");
    assert_eq!(warned.status, 0);
    assert!(warned.stderr.starts_with("warning[text-comparison]"), "{}", warned.stderr);
    // An error: 1.
    let failed = courier(&["check", "-", "--as", "json"], "{\"a\": ${toInterger(x)}}");
    assert_eq!(failed.status, 1);
    assert!(failed.stderr.contains("= help: did you mean toInteger?"), "{}", failed.stderr);
    assert_eq!(failed.stdout, "");
    // Usage: 2, for a missing file (after checking the others), an unknown context, no file.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.txt"), "${1 +}").unwrap();
    let missing = courier_in(dir.path(), &["check", "bad.txt", "missing.txt"], "");
    assert_eq!(missing.status, 2);
    assert!(missing.stderr.contains("error[syntax]: bad.txt:1:6"), "{}", missing.stderr);
    assert!(missing.stderr.contains("error: cannot read missing.txt"), "{}", missing.stderr);
    assert_eq!(courier(&["check", "-", "--as", "xml"], "").status, 2);
    assert_eq!(courier(&["check"], "").status, 2);
    assert_eq!(courier(&["render", "-", "--as", "xml"], "").status, 2);
}

#[test]
fn check_json_format_goes_to_stdout() {
    let out = courier(&["check", "-", "--format", "json"], "a ${nope()}\n${1 +}");
    assert_eq!(out.status, 1);
    assert_eq!(out.stderr, "");
    let diagnostics: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let summary: Vec<(u64, u64, &str)> = diagnostics
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["line"].as_u64().unwrap(), d["column"].as_u64().unwrap(), d["code"].as_str().unwrap()))
        .collect();
    assert_eq!(summary, [(1, 5, "unknown-function"), (2, 6, "syntax")]);
    assert_eq!(diagnostics[0]["file"], "<stdin>");
    assert_eq!(diagnostics[0]["end"]["column"], 9);
}

#[test]
fn check_knows_the_variables_of_a_vars_file() {
    let vars = example("newsletter/vars.json");
    let out = courier(&["check", "-", "--vars", vars.to_str().unwrap()], "${firstname} ${lastnam}");
    assert_eq!(out.status, 0);
    assert!(out.stderr.starts_with("warning[undefined-variable]: <stdin>:1:16: variable lastnam is never defined"));
    assert!(out.stderr.contains("= help: did you mean lastname?"), "{}", out.stderr);
}
