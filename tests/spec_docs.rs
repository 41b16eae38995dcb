//! Every example of `docs/spec.md` works: each spec loads (and `check` finds
//! no error in it), each context and vars file loads, and the session file drives a
//! dry run of a spec. The page is the spec format's reference; this keeps it true.
#![cfg(feature = "cli")]

use std::path::Path;
use std::process::Command;

use courier::request::CompiledRequest;
use courier::request::check::check_spec;
use courier::template::CheckOptions;
use courier::{Context, Engine, Variables};

/// The code blocks of the page whose info string is `LANGUAGE ROLE`.
fn examples(role: &str) -> Vec<String> {
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/spec.md")).unwrap();
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        match &mut current {
            Some(block) if line == "```" => {
                found.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {
                let info = line.strip_prefix("```").unwrap_or_default();
                if info.split_whitespace().nth(1) == Some(role) {
                    current = Some(String::new());
                }
            }
        }
    }
    found
}

#[test]
fn every_spec_example_loads_and_checks_clean() {
    let specs = examples("spec");
    assert!(specs.len() >= 3, "the page shows its specs");
    let engine = Engine::new();
    for spec in &specs {
        CompiledRequest::from_text(&engine, spec, Path::new(".")).unwrap_or_else(|error| panic!("{error}\n{spec}"));
        let found = check_spec(&engine, spec, Path::new("."), &CheckOptions::default());
        // Warnings (a path segment that may render empty) are fine; no errors.
        let errors: Vec<_> = found
            .iter()
            .filter(|finding| finding.diagnostic.severity == courier::diagnostics::Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{spec}\n{errors:#?}");
    }
}

#[test]
fn every_context_and_vars_example_loads() {
    let contexts = examples("context");
    assert!(!contexts.is_empty());
    for context in &contexts {
        Context::from_json(context).unwrap_or_else(|error| panic!("{error}\n{context}"));
    }
    // The page shows the context the function catalog's examples run in.
    let shown: serde_json::Value = serde_json::from_str(&contexts[0]).unwrap();
    let catalog: serde_json::Value = serde_json::from_str(courier::functions::catalog::EXAMPLE_CONTEXT).unwrap();
    assert_eq!(shown, catalog);
    for vars in examples("vars") {
        Variables::from_json(&serde_json::from_str(&vars).unwrap()).unwrap();
    }
    // A context with a name the format does not have is refused.
    assert!(Context::from_json(r#"{"clock": "2024-03-15T09:30:00Z"}"#).is_err());
}

#[test]
fn the_session_example_drives_a_dry_run() {
    let sessions = examples("session");
    assert_eq!(sessions.len(), 1);
    let folder = tempfile::tempdir().unwrap();
    std::fs::write(folder.path().join("session.json"), &sessions[0]).unwrap();
    let spec = "url = \"${shop_url}/products/${product_id}/price?currency=${currency}\"\ncookies = [\"SESSIONID\"]\n";
    std::fs::write(folder.path().join("request.toml"), spec).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_courier"))
        .current_dir(folder.path())
        .args(["send", "request.toml", "--session", "session.json", "--dry-run", "--strict"])
        .env("COURIER_ALLOW", "private")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("https://shop.example.org/products/123/price?currency=EUR"), "{stdout}");
}

/// The fields a table of the spec takes, as its deserializer names them when it
/// refuses an unknown one: the loader's own list, so a new field cannot be missed.
fn fields_of<T: serde::de::DeserializeOwned>() -> Vec<String> {
    let refused = serde_json::from_value::<T>(serde_json::json!({ "\u{0}": 0 })).err().expect("an unknown field");
    let message = refused.to_string();
    let (_, expected) = message.split_once("expected").expect("serde lists the fields it expects");
    expected.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The text of the page from the heading `from` to the next heading of its level or above.
fn section<'a>(page: &'a str, from: &str) -> &'a str {
    let start = page.find(from).unwrap_or_else(|| panic!("docs/spec.md has a section {from}"));
    let rest = &page[start + from.len()..];
    let end = rest.find("\n## ").into_iter().chain(rest.find("\n### ")).min().unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn every_field_the_loader_takes_is_in_the_reference() {
    use courier::request::spec::{AuthSpec, BodyTable, MappingSpec, ResponseHeaderSpec, TlsSpec};
    use courier::request::{PollSpec, RequestSpec, RetrySpec, SignSpec};
    let page = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/spec.md")).unwrap();
    let tables: [(&str, Vec<String>, &str); 9] = [
        ("## Fields", fields_of::<RequestSpec>(), "| `{}` |"),
        ("### `[body]`", fields_of::<BodyTable>(), "| `{}` |"),
        ("### `[auth]`", fields_of::<AuthSpec>(), "| `{}` |"),
        ("### `[retry]`", fields_of::<RetrySpec>(), "| `{}` |"),
        ("### `[tls]`", fields_of::<TlsSpec>(), "| `{}` |"),
        ("### `[sign]`", fields_of::<SignSpec>(), "| `{}` |"),
        ("### `[poll]`", fields_of::<PollSpec>(), "| `{}` |"),
        ("### `[[mappings]]`", fields_of::<MappingSpec>(), "| `mappings[].{}` |"),
        ("### `[[mappings]]`", fields_of::<ResponseHeaderSpec>(), "| `response_headers[].{}` |"),
    ];
    let mut missing = Vec::new();
    for (heading, fields, row) in tables {
        assert!(fields.len() >= 2, "{heading}: the loader's list was read ({fields:?})");
        let text = section(&page, heading);
        for field in fields {
            if !text.contains(&row.replace("{}", &field)) {
                missing.push(format!("{heading}: {field}"));
            }
        }
    }
    assert!(missing.is_empty(), "fields the loader takes but docs/spec.md does not list: {missing:?}");
}
