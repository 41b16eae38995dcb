//! Snapshot tests of `courier check`: each folder of `tests/check/` holds input
//! files (`input*`), optionally `args` (more arguments, one a line), and the
//! expected output of the real binary: `expected.txt` (exit status and stderr of the
//! human form) and `expected.json` (stdout of `--format json`). Run with
//! `UPDATE_EXPECT=1` to write the expected files from what the binary prints.
#![cfg(feature = "cli")]

use std::path::{Path, PathBuf};
use std::process::Command;

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn run(case: &Path, args: &[String]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .current_dir(case)
        .args(args)
        .output()
        .expect("the courier binary runs");
    Run {
        status: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/check exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.is_dir())
        .collect();
    cases.sort();
    cases
}

fn arguments(case: &Path, format: &str) -> Vec<String> {
    let mut inputs: Vec<String> = std::fs::read_dir(case)
        .expect("case folder")
        .map(|entry| entry.expect("readable entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("input"))
        .collect();
    inputs.sort();
    let extra = std::fs::read_to_string(case.join("args")).unwrap_or_default();
    let mut args = vec!["check".to_owned()];
    args.extend(inputs);
    args.extend(extra.lines().filter(|line| !line.is_empty()).map(str::to_owned));
    args.extend(["--format".to_owned(), format.to_owned()]);
    args
}

/// Compares `actual` with the expected file (or writes it); returns a complaint.
fn compare(path: &Path, actual: &str) -> Option<String> {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, actual).expect("expected file is writable");
        return None;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    (expected != actual).then(|| format!("{}:\n--- expected\n{expected}--- actual\n{actual}---", path.display()))
}

#[test]
fn check_output_matches_the_snapshots() {
    let cases = cases();
    assert!(cases.len() >= 10, "the snapshot folders are there");
    let mut complaints = Vec::new();
    for case in &cases {
        let human = run(case, &arguments(case, "human"));
        let json = run(case, &arguments(case, "json"));
        if !human.stdout.is_empty() {
            complaints.push(format!("{}: the human form printed to stdout: {}", case.display(), human.stdout));
        }
        if human.status != json.status {
            complaints.push(format!(
                "{}: exit {} in human form, {} in json",
                case.display(),
                human.status,
                json.status
            ));
        }
        if json.status != 2 {
            // Valid JSON with one entry per human diagnostic.
            let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap_or_default();
            let entries = parsed.as_array().map_or(usize::MAX, Vec::len);
            let headings =
                human.stderr.lines().filter(|line| line.starts_with("error[") || line.starts_with("warning[")).count();
            if entries != headings {
                complaints.push(format!("{}: {entries} JSON entries, {headings} human ones", case.display()));
            }
        }
        let text = format!("exit: {}\n{}", human.status, human.stderr);
        complaints.extend(compare(&case.join("expected.txt"), &text));
        complaints.extend(compare(&case.join("expected.json"), &json.stdout));
    }
    assert!(complaints.is_empty(), "{}", complaints.join("\n\n"));
}
