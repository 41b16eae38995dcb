//! Collection literals, lambdas and stream operations against Tomcat's EL: each
//! case of `tests/conformance/collections.jsonl` holds what Tomcat 10.1 gave, and
//! courier must give the same (see the README there for the deviations allowed).

use courier::{Context, Engine, Value, Variables};
use serde_json::{Value as Json, json};

const CASES: &str = include_str!("conformance/collections.jsonl");

/// The variables the cases were evaluated with in Tomcat.
fn variables() -> Variables {
    let mut variables = Variables::new();
    variables.set("l", Value::list(vec![Value::Int(3), Value::Int(1), Value::Int(2)]));
    variables.set("s", Value::list(["b", "a", "10", "9"].into_iter().map(Value::from).collect()));
    variables
}

/// A courier value in the shape the Tomcat harness prints.
fn shape(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Bool(flag) => json!(flag),
        Value::Int(number) => json!({ "int": number }),
        Value::Float(_) => json!({ "float": value.to_text() }),
        Value::Decimal(_) => json!({ "decimal": value.to_text() }),
        Value::Str(text) => json!(text.as_ref()),
        Value::List(items) => Json::Array(items.iter().map(shape).collect()),
        Value::Map(map) => {
            json!({ "map": map.iter().map(|(key, value)| json!([key, shape(value)])).collect::<Vec<_>>() })
        }
    }
}

/// Tomcat's result with the documented deviations applied: sets become lists (in
/// the order courier gives them, checked as a multiset), maps keep courier's order
/// and have text keys.
fn agrees(expected: &Json, actual: &Json) -> bool {
    match (expected, actual) {
        (Json::Object(object), Json::Array(items)) if object.contains_key("set") => {
            let mut wanted: Vec<String> = object["set"].as_array().unwrap().iter().map(Json::to_string).collect();
            let mut got: Vec<String> = items.iter().map(Json::to_string).collect();
            wanted.sort();
            got.sort();
            wanted == got
        }
        (Json::Object(object), Json::Object(got)) if object.contains_key("map") => {
            let text_key = |key: &Json| match key {
                Json::String(text) => text.clone(),
                Json::Object(number) => number.values().next().map(|n| n.to_string()).unwrap_or_default(),
                other => other.to_string(),
            };
            let mut wanted: Vec<(String, &Json)> =
                object["map"].as_array().unwrap().iter().map(|pair| (text_key(&pair[0]), &pair[1])).collect();
            let mut have: Vec<(String, &Json)> =
                got["map"].as_array().unwrap().iter().map(|pair| (text_key(&pair[0]), &pair[1])).collect();
            wanted.sort_by(|a, b| a.0.cmp(&b.0));
            have.sort_by(|a, b| a.0.cmp(&b.0));
            wanted.len() == have.len() && wanted.iter().zip(&have).all(|(a, b)| a.0 == b.0 && agrees(a.1, b.1))
        }
        (Json::Array(wanted), Json::Array(got)) => {
            wanted.len() == got.len() && wanted.iter().zip(got).all(|(a, b)| agrees(a, b))
        }
        _ => expected == actual,
    }
}

#[test]
fn every_collection_case_agrees_with_tomcat() {
    let engine = Engine::new();
    let variables = variables();
    let mut failures = Vec::new();
    let mut count = 0;
    for line in CASES.lines().filter(|line| !line.trim().is_empty()) {
        let case: Json = serde_json::from_str(line).expect("each line is JSON");
        count += 1;
        let source = case["expr"].as_str().expect("expr");
        let result = engine.compile_expression(source).and_then(|e| e.evaluate(&variables, &Context::default()));
        let tomcat = &case["tomcat"];
        let verdict = match (tomcat.get("ok"), result) {
            (Some(expected), Ok(value)) if agrees(expected, &shape(&value)) => None,
            (Some(expected), Ok(value)) => Some(format!("Tomcat gave {expected}, courier {}", shape(&value))),
            (Some(expected), Err(error)) => Some(format!("Tomcat gave {expected}, courier failed: {error}")),
            (None, Ok(value)) => Some(format!("Tomcat failed ({}), courier gave {}", tomcat["error"], shape(&value))),
            (None, Err(_)) => None,
        };
        if let Some(why) = verdict {
            failures.push(format!("{} `{source}`: {why}", case["id"].as_str().unwrap_or("?")));
        }
    }
    assert!(count >= 90, "the case file is complete");
    assert!(failures.is_empty(), "{} of {count} cases disagree:\n{}", failures.len(), failures.join("\n"));
}

/// Every example of docs/language.md's section on collections and lambdas gives
/// the result the page shows.
#[test]
fn the_language_page_examples_hold() {
    let page = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/language.md"))
        .expect("docs/language.md");
    let block = page.split("```el examples\n").nth(1).expect("an examples block").split("```").next().unwrap();
    let mut variables = variables();
    variables
        .set("products", Value::from(r#"[{"name":"Tea","price":3,"stock":5},{"name":"Mug","price":8,"stock":0}]"#));
    let engine = Engine::new();
    let mut count = 0;
    for line in block.lines().filter(|line| !line.trim().is_empty()) {
        let (source, expected) = line.split_once('⇒').expect("expression ⇒ result");
        let value = engine
            .compile_expression(source.trim())
            .and_then(|expression| expression.evaluate(&variables, &Context::default()))
            .unwrap_or_else(|error| panic!("{source}: {error}"));
        assert_eq!(value.to_text(), expected.trim(), "{source}");
        count += 1;
    }
    assert!(count >= 30, "every operation has an example");
}

/// `check` knows lambda parameters (they are not unknown variables) and the
/// operations, and places each mistake.
#[test]
fn check_knows_parameters_and_operations() {
    use courier::template::{CheckOptions, TemplateKind, check};
    let options = CheckOptions { known_variables: Some(["products".to_owned()].into_iter().collect()) };
    let engine = Engine::new();
    let clean = "${parseJson(products).stream().map(p -> [p].stream().map(q -> q.name += p.name).toList()).toList()}";
    assert_eq!(check(&engine, clean, TemplateKind::Text, &options), vec![]);
    let source = "${products.stream().fliter(p -> p.ok)} ${products.stream().map((a, b) -> a)} ${p}";
    let found: Vec<(&str, String, Option<String>)> = check(&engine, source, TemplateKind::Text, &options)
        .into_iter()
        .map(|diagnostic| (diagnostic.code, source[diagnostic.span.range()].to_owned(), diagnostic.suggestion))
        .collect();
    assert_eq!(
        found,
        [
            ("unknown-operation", "fliter".to_owned(), Some("did you mean filter?".to_owned())),
            ("arity", "(a, b) -> a".to_owned(), None),
            ("undefined-variable", "p".to_owned(), None),
        ]
    );
    // At evaluation, the same mistakes are errors at their place.
    let error = engine
        .compile_expression("[1].stream().fliter(x -> x)")
        .unwrap()
        .evaluate(&variables(), &Context::default())
        .unwrap_err();
    assert_eq!((error.span().unwrap().column, error.suggestion()), (14, Some("did you mean filter?")));
    let error = engine
        .compile_expression("[1].stream().map((a, b) -> a).toList()")
        .unwrap()
        .evaluate(&variables(), &Context::default())
        .unwrap_err();
    assert_eq!((error.span().unwrap().column, error.message()), (18, "the lambda takes 2 arguments, and was given 1"));
}
