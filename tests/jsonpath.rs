//! The JSONPath Compliance Test Suite (`tests/jsonpath/cts.json`) run against
//! `jsonPath`: every valid query selects the nodes the suite expects, in order (or
//! in one of the orders it allows), and every invalid one is an error. The document
//! goes in as JSON text, as a response body does.

use courier::value::from_json;
use courier::{Context, Engine, Value, Variables};
use serde_json::Value as Json;

const SUITE: &str = include_str!("jsonpath/cts.json");

#[test]
fn the_compliance_test_suite_passes() {
    let suite: Json = serde_json::from_str(SUITE).expect("the suite is JSON");
    let expression = Engine::new().compile_expression("jsonPath(document, query)").unwrap();
    let mut failures = Vec::new();
    let tests = suite["tests"].as_array().expect("tests");
    for case in tests {
        let name = case["name"].as_str().unwrap_or("?");
        let query = case["selector"].as_str().expect("selector");
        let mut variables = Variables::new();
        variables.set("query", Value::from(query));
        variables.set("document", Value::from(case["document"].to_string()));
        let result = expression.evaluate(&variables, &Context::default());
        let failure = if case["invalid_selector"] == Json::Bool(true) {
            result.ok().map(|value| format!("an invalid query gave {value}"))
        } else {
            let allowed: Vec<Value> = match case.get("results") {
                Some(Json::Array(orders)) => orders.iter().map(from_json).collect(),
                _ => vec![from_json(&case["result"])],
            };
            match result {
                Ok(value) if allowed.contains(&value) => None,
                Ok(value) => Some(format!("gave {value}, expected {}", allowed[0])),
                Err(error) => Some(format!("failed: {error}")),
            }
        };
        if let Some(why) = failure {
            failures.push(format!("{name} `{query}`: {why}"));
        }
    }
    assert!(tests.len() > 700, "the suite is complete");
    assert!(failures.is_empty(), "{} of {} cases fail:\n{}", failures.len(), tests.len(), failures.join("\n"));
}

/// Runs `case` on its own thread and fails when it takes longer than 20 s: the
/// JSONPath parser's time grows exponentially with nested filters.
fn within_deadline<T: Send + 'static>(case: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(case());
    });
    receiver.recv_timeout(std::time::Duration::from_secs(20)).expect("finished before the deadline")
}

#[test]
fn a_query_nested_deep_is_refused_before_it_is_parsed() {
    // Found by the response_mapping fuzz target: 20 unclosed `[?` took seconds to refuse.
    let hostile = format!("$.items{}", "[?@.s".repeat(20));
    let refused = within_deadline(move || {
        let expression = courier::Engine::new().compile_expression("jsonPath('[]', q)").unwrap();
        let variables = courier::Variables::from_strings([("q", hostile.as_str())]);
        expression.evaluate(&variables, &courier::Context::default()).unwrap_err().message().to_owned()
    });
    assert!(refused.contains("nests brackets 20 deep, more than the limit of 8"), "{refused}");
    // At the limit the parser still answers at once, refusing or not.
    let at_limit = format!("$.items{}", "[?@.s".repeat(8));
    within_deadline(move || {
        courier::Engine::new().compile_expression(&format!("jsonPath('[]', '{at_limit}')")).is_err()
    });
    // Brackets inside string literals do not count.
    let quoted = format!("$['{}']", "[".repeat(40));
    let listed = within_deadline(move || {
        let expression = courier::Engine::new().compile_expression(&format!("jsonPath('{{}}', \"{quoted}\")")).unwrap();
        expression.evaluate(&courier::Variables::new(), &courier::Context::default()).unwrap().to_text()
    });
    assert_eq!(listed, "[]");
}

#[test]
fn a_unicode_escape_cut_short_is_an_invalid_query_not_a_panic() {
    // Found by the response_mapping fuzz target: the parser panics on a `\u` escape
    // whose digits are missing (it reports incomplete input, which it does not expect).
    let expression = Engine::new().compile_expression("jsonPath('{}', q)").unwrap();
    for query in ["$[':i\\u", "$['\\u12", "$['\\uD83D']", "$[\"\\uD83D\\u00"] {
        let variables = Variables::from_strings([("q", query)]);
        let error = expression.evaluate(&variables, &Context::default()).unwrap_err();
        assert!(error.message().contains("needs four hex digits"), "{query}: {error}");
    }
    // A whole escape, and a whole surrogate pair, read as they should.
    for (query, document, expected) in
        [("$['\\u00e9']", r#"{"é": 1}"#, "[1]"), ("$['\\uD83D\\uDE00']", r#"{"😀": 2}"#, "[2]")]
    {
        let expression = Engine::new().compile_expression(&format!("jsonPath(j, \"{query}\")")).unwrap();
        let variables = Variables::from_strings([("j", document)]);
        let value = expression.evaluate(&variables, &Context::default()).unwrap();
        assert_eq!(value.to_json().unwrap().to_string(), expected, "{query}: {value:?}");
    }
}
