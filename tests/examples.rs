//! The worked examples of `examples/`, rendered as the README promises.

mod common;

use common::{engine, example_vars, read_example};
use courier::template::{JsonTemplate, UrlTemplate};
use courier::{Context, Value};

#[test]
fn newsletter_payload_renders_to_the_expected_typed_json() {
    let template = JsonTemplate::compile(&engine(), &read_example("newsletter/payload.json")).unwrap();
    let variables = example_vars("newsletter/vars.json");
    let expected: serde_json::Value = serde_json::from_str(&read_example("newsletter/expected.json")).unwrap();

    let mut bytes = Vec::new();
    template.render_to_bytes(&variables, &Context::default(), &mut bytes).unwrap();
    let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(parsed, expected, "via bytes:\n{}", String::from_utf8_lossy(&bytes));

    let value = template.render_to_value(&variables, &Context::default()).unwrap();
    assert_eq!(value, expected, "via value");
    // Exactly: the consent is a boolean, the consumption an integer, the rest strings.
    assert_eq!(value["marketingOptIn"], serde_json::Value::Bool(true));
    assert_eq!(value["consumption"].to_string(), "3");
    assert_eq!(value["key"], "Muster, 1990-04-12");
    // The bytes keep the author's layout: one member a line, as payload.json has it.
    assert_eq!(bytes.iter().filter(|b| **b == b'\n').count(), read_example("newsletter/payload.json").lines().count());
}

#[test]
fn price_lookup_url_renders_to_the_expected_url() {
    let request: String = read_example("price-lookup/request.toml");
    let url_line = request.lines().find(|line| line.starts_with("url = ")).expect("request.toml has a url");
    let source = url_line.trim_start_matches("url = ").trim_matches('"');
    assert_eq!(source, "${shop_url}/products/${product_id}/price?currency=${currency}");

    let template = UrlTemplate::compile(&engine(), source).unwrap();
    let mut variables = example_vars("price-lookup/vars.json");
    variables.set("shop_url", Value::from("https://shop.example.org"));
    let url = template.render(&variables, &Context::default()).unwrap();
    assert_eq!(url, read_example("price-lookup/expected-url.txt").trim_end());
}

#[cfg(feature = "cli")]
#[test]
fn the_shipped_specs_check_clean_without_a_warning() {
    for spec in ["price-lookup/request.toml", "newsletter/request.toml"] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_courier"))
            .args(["check", "--format", "json", common::example(spec).to_str().unwrap()])
            .output()
            .unwrap();
        let found: serde_json::Value = serde_json::from_slice(&output.stdout).expect("check prints JSON");
        assert_eq!(found, serde_json::json!([]), "{spec}");
        assert_eq!(output.status.code(), Some(0), "{spec}");
    }
}
