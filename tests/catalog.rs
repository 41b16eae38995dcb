//! The function catalog: every registered function is documented, every example
//! evaluates to the value it shows, and `courier functions --format json` lists
//! every function with its parameters.
#![cfg(feature = "cli")]

use std::process::Command;

use courier::Engine;
use courier::functions::catalog::{example_context, example_variables};

#[test]
fn every_function_has_a_summary_a_result_kind_and_an_example_that_holds() {
    let engine = Engine::new();
    let (context, variables) = (example_context(), example_variables());
    let mut complaints = Vec::new();
    for function in engine.registry().functions() {
        let doc = function.doc();
        if doc.summary.is_empty() || doc.returns.is_empty() {
            complaints.push(format!("{}: no summary or result kind", function.name()));
        }
        let Some((expression, shown)) = doc.example else {
            complaints.push(format!("{}: no example", function.name()));
            continue;
        };
        if !expression.contains(&format!("{}(", function.name())) {
            complaints.push(format!("{}: the example {expression} does not call it", function.name()));
        }
        let value = engine
            .compile_expression(expression)
            .and_then(|compiled| compiled.evaluate(&variables, &context))
            .map_err(|error| error.to_string())
            .and_then(|value| {
                let mut bytes = Vec::new();
                courier::value::write_json(&value, &mut bytes).map_err(|error| error.to_string())?;
                Ok(String::from_utf8(bytes).expect("JSON is UTF-8"))
            });
        match value {
            Ok(value) if value == shown => {}
            Ok(value) => {
                complaints.push(format!("{}: {expression} gives {value}, the catalog shows {shown}", function.name()))
            }
            Err(error) => complaints.push(format!("{}: {expression} fails: {error}", function.name())),
        }
    }
    assert!(complaints.is_empty(), "{}", complaints.join("\n"));
}

#[test]
fn the_json_catalog_lists_every_function_with_its_parameters() {
    let output = Command::new(env!("CARGO_BIN_EXE_courier")).args(["functions", "--format", "json"]).output().unwrap();
    assert!(output.status.success());
    let catalog: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let listed: Vec<&str> = catalog.as_array().unwrap().iter().map(|entry| entry["name"].as_str().unwrap()).collect();
    let engine = Engine::new();
    let registered: Vec<&str> = engine.registry().functions().iter().map(|function| function.name()).collect();
    assert_eq!(listed, registered);
    let concat = catalog.as_array().unwrap().iter().find(|entry| entry["name"] == "stringConcat").unwrap();
    assert_eq!(
        concat["params"],
        serde_json::json!([{"name": "value", "kind": "text", "optional": false, "variadic": true}])
    );
    assert_eq!(concat["returns"], "text");
    assert_eq!(concat["builtin"], true);
    let substring = catalog.as_array().unwrap().iter().find(|entry| entry["name"] == "substring").unwrap();
    assert_eq!(substring["params"][2]["optional"], true);
    assert_eq!(substring["example"]["value"], "\"cour\"");
    let text = Command::new(env!("CARGO_BIN_EXE_courier")).arg("functions").output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("substring(text, start, end?) → text"), "{text}");
}

#[test]
fn a_host_function_is_in_the_catalog_marked_as_the_host_s() {
    use courier::functions::catalog::catalog_json;
    use courier::{Function, Kind, Value};
    let mut engine = Engine::new();
    engine
        .register(
            Function::new("shout", |args, _| Ok(Value::from(args[0].to_text().to_uppercase())))
                .param("text", Kind::Text)
                .optional("times", Kind::Integer)
                .summary("The text in capitals", "text")
                .example(r#"shout("hi")"#, r#""HI""#),
        )
        .unwrap();
    let catalog = catalog_json(engine.registry());
    let shout = catalog.as_array().unwrap().iter().find(|entry| entry["name"] == "shout").expect("listed");
    assert_eq!(shout["builtin"], false);
    assert_eq!(shout["signature"], "shout(text, times?)");
    assert_eq!(
        shout["params"][1],
        serde_json::json!({"name": "times", "kind": "integer", "optional": true, "variadic": false})
    );
    assert_eq!(shout["example"], serde_json::json!({"expression": "shout(\"hi\")", "value": "\"HI\""}));
}
