//! `courier eval` and `courier render --as text` from a shell's point of view.
#![cfg(feature = "cli")]

use std::process::{Command, Output};

fn courier(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_courier")).args(args).output().expect("courier runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn evaluates_with_variables() {
    let output = courier(&["eval", "--var", "x=41", "--", "toInteger(x) + 1"]);
    assert_eq!((output.status.code(), stdout(&output).as_str()), (Some(0), "42\n"));
}

#[test]
fn compares_a_string_with_a_number_as_numbers() {
    assert_eq!(stdout(&courier(&["eval", "--", "\"18\" < 9"])), "false\n");
    assert_eq!(stdout(&courier(&["eval", "--", "\"18\" < \"9\""])), "true\n");
}

#[test]
fn prints_typed_json_or_text() {
    assert_eq!(stdout(&courier(&["eval", "--text", "--", "1.5 * 2"])), "3.0\n");
    assert_eq!(stdout(&courier(&["eval", "--", "1.5 * 2"])), "3.0\n");
    assert_eq!(stdout(&courier(&["eval", "--", "'3'"])), "\"3\"\n");
    assert_eq!(stdout(&courier(&["eval", "--", "null"])), "null\n");
    assert_eq!(stdout(&courier(&["eval", "--text", "--", "1/0"])), "Infinity\n");
}

#[test]
fn infinity_is_not_json() {
    let output = courier(&["eval", "--", "1/0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--text"), "{}", stderr(&output));
}

#[test]
fn a_failed_conversion_names_the_value_and_the_column() {
    let output = courier(&["eval", "--", "1 + toInteger(\"abc\")"]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("\"abc\""), "{message}");
    assert!(message.contains("column 5"), "{message}");
    assert!(stdout(&output).is_empty());
}

#[test]
fn a_syntax_error_shows_line_column_and_caret() {
    let output = courier(&["eval", "--", "1 +"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output),
        "error[syntax]: line 1, column 4: expected an expression, found the end of the input\n  |\n1 | 1 +\n  |    ^\n"
    );
}

#[test]
fn bad_usage_exits_2() {
    assert_eq!(courier(&["eval", "--nonsense", "1"]).status.code(), Some(2));
    assert_eq!(courier(&["eval", "--var", "novalue", "--", "1"]).status.code(), Some(2));
    assert_eq!(courier(&["eval", "--vars", "/nonexistent/vars.json", "--", "1"]).status.code(), Some(2));
}

#[test]
fn reads_variables_and_context_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let vars = dir.path().join("vars.json");
    std::fs::write(&vars, r#"{"a": "2", "b": "40", "answers": ["x", "y"]}"#).unwrap();
    let output = courier(&["eval", "--vars", vars.to_str().unwrap(), "--var", "b=5", "--", "a * b"]);
    assert_eq!(stdout(&output), "10\n");
    assert_eq!(stdout(&courier(&["eval", "--vars", vars.to_str().unwrap(), "--", "answers[1]"])), "\"y\"\n");
    let context = dir.path().join("context.json");
    std::fs::write(&context, r#"{"locale": "de", "seed": 7}"#).unwrap();
    assert_eq!(courier(&["eval", "--context", context.to_str().unwrap(), "--", "1"]).status.code(), Some(0));
    std::fs::write(&context, r#"{"unknown_field": 1}"#).unwrap();
    assert_eq!(courier(&["eval", "--context", context.to_str().unwrap(), "--", "1"]).status.code(), Some(2));
}

#[test]
fn renders_text_templates() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("greeting.txt");
    std::fs::write(&file, "Hello ${firstname}, you are ${toInteger(age) + 1} next year.").unwrap();
    let output =
        courier(&["render", file.to_str().unwrap(), "--as", "text", "--var", "firstname=Anna", "--var", "age=41"]);
    assert_eq!(stdout(&output), "Hello Anna, you are 42 next year.");
    std::fs::write(&file, "Hello ${firstname").unwrap();
    let output = courier(&["render", file.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("greeting.txt:1:7"), "{}", stderr(&output));
}

/// The CLDR data behind `formatNumber` reports missing entries on stderr in debug builds
/// unless routed through `log`; the command's output must stay the value alone.
#[test]
fn locale_numbers_print_only_the_value() {
    for locale in ["de", "de-CH", "fr", "ar", "xx-YY"] {
        let output = courier(&["eval", "--", &format!("formatNumber(1234.5, \"#,##0.0\", \"{locale}\")")]);
        assert_eq!(output.status.code(), Some(0), "{locale}: {}", stderr(&output));
        assert_eq!(stderr(&output), "", "{locale}");
    }
}
