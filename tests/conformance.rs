//! Runs the 411 Jakarta EL conformance cases (`tests/conformance/el-cases.jsonl`) and
//! reports every failing case at once. Deviations would be listed in
//! `docs/language.md`; there are none.

use courier::{Context, Engine, ErrorKind, Value, Variables};
use serde_json::Value as Json;

const CASES: &str = include_str!("conformance/el-cases.jsonl");

fn expected_value(expect: &Json) -> Value {
    let value = &expect["value"];
    match expect["type"].as_str().expect("type") {
        "null" => Value::Null,
        "boolean" => Value::Bool(value.as_bool().expect("boolean")),
        "integer" => Value::Int(value.as_i64().expect("integer")),
        "string" => Value::from(value.as_str().expect("string")),
        "float" => Value::Float(match value {
            Json::String(text) => match text.as_str() {
                "Infinity" => f64::INFINITY,
                "-Infinity" => f64::NEG_INFINITY,
                _ => f64::NAN,
            },
            number => number.as_f64().expect("float"),
        }),
        other => panic!("unknown type {other}"),
    }
}

/// Checks one case; `Err` says how it failed.
fn run_case(engine: &Engine, case: &Json) -> Result<(), String> {
    let source = case["expr"].as_str().expect("expr");
    let variables = Variables::from_json(&case["vars"]).expect("vars are strings");
    let expect = &case["expect"];
    let compiled = engine.compile_expression(source);
    if expect["error"] == Json::Bool(true) {
        let phase = expect["phase"].as_str().expect("phase");
        return match (phase, compiled) {
            ("parse", Err(error)) if error.kind() == ErrorKind::Syntax => Ok(()),
            ("parse", Err(error)) => Err(format!("expected a syntax error, got {:?}: {error}", error.kind())),
            ("parse", Ok(_)) => Err("expected a syntax error, but it compiled".into()),
            (_, Err(error)) => Err(format!("expected an evaluation error, but it did not compile: {error}")),
            (_, Ok(expression)) => match expression.evaluate(&variables, &Context::default()) {
                Err(_) => Ok(()),
                Ok(value) => Err(format!("expected an evaluation error, got {value:?}")),
            },
        };
    }
    let expression = compiled.map_err(|error| format!("did not compile: {error}"))?;
    let value = expression.evaluate(&variables, &Context::default()).map_err(|error| format!("failed: {error}"))?;
    let expected = expected_value(expect);
    if value != expected {
        return Err(format!("expected {expected:?}, got {value:?}"));
    }
    let text = expect["text"].as_str().expect("text");
    if value.to_text() != text {
        return Err(format!("expected the text {text:?}, got {:?}", value.to_text()));
    }
    Ok(())
}

#[test]
fn every_conformance_case_passes() {
    let engine = Engine::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in CASES.lines().filter(|line| !line.trim().is_empty()) {
        let case: Json = serde_json::from_str(line).expect("each line is JSON");
        count += 1;
        if let Err(why) = run_case(&engine, &case) {
            failures.push(format!("{} `{}` {}: {why}", case["id"].as_str().unwrap_or("?"), case["expr"], case["vars"]));
        }
    }
    assert_eq!(count, 411, "the case file is complete");
    assert!(failures.is_empty(), "{} of {count} cases fail:\n{}", failures.len(), failures.join("\n"));
}
