//! The function catalog: every registered function with its parameters (kind,
//! optional, variadic), result kind, one-line summary and example, as JSON for
//! editors and tools and as text for people. The examples are evaluated against
//! [`EXAMPLE_CONTEXT`] and [`EXAMPLE_VARIABLES`], so that each shows the value it
//! really gives (a test holds every example to its value).

use std::fmt::Write;
use std::sync::Arc;

use super::{Context, Function, Registry, SecretResolver};
use crate::variables::Variables;

/// The `--context` file the catalog's examples are evaluated in.
pub const EXAMPLE_CONTEXT: &str = r#"{
  "now": "2024-03-15T09:30:00Z",
  "time_zone": "Europe/Berlin",
  "locale": "de-DE",
  "display_language": "de",
  "params": { "campaign": "spring" },
  "client": {
    "ip_address": "203.0.113.7",
    "user_agent": "Mozilla/5.0 (iPhone)",
    "is_mobile": true,
    "location_href": "https://Shop.Example.org/Checkout/Step-2?x=1"
  },
  "tenant_name": "Acme",
  "sender_id": "sender-17",
  "sign_in_token": "sign-in-token",
  "postback_payload_value": "YES",
  "authenticated": true,
  "consent": {
    "newsletter_single_opt_in": true,
    "newsletter_single_opt_in_tags": ["offers"],
    "newsletter_double_opt_in": false,
    "newsletter_double_opt_in_tags": [],
    "profiling_single_opt_in": true,
    "profiling_double_opt_in": false,
    "reminder_single_opt_in": true,
    "sms_single_opt_in": false,
    "sms_double_opt_in": false,
    "web_push_single_opt_in": true,
    "web_push_double_opt_in": false,
    "denied_any_single_opt_in": false
  },
  "newsletter_double_opt_in_url": "https://shop.example.org/confirm/newsletter",
  "profiling_double_opt_in_url": "https://shop.example.org/confirm/profiling",
  "num_participations": 3,
  "num_participations_bpmn_process": 1,
  "translations": { "de": { "greeting": "Hallo", "welcome": "Willkommen, ${firstname}!" } },
  "seed": 7
}"#;

/// The `--vars` file the catalog's examples are evaluated with.
pub const EXAMPLE_VARIABLES: &str = r#"{ "firstname": "Anna", "birthdate": "1990-05-20" }"#;

/// The secret `secret("API_TOKEN")` reads in the examples.
struct ExampleSecrets;

impl SecretResolver for ExampleSecrets {
    fn resolve(&self, name: &str) -> Option<String> {
        (name == "API_TOKEN").then(|| "example-token".to_owned())
    }
}

/// The context of the examples: [`EXAMPLE_CONTEXT`], with one secret.
pub fn example_context() -> Context {
    Context::from_json(EXAMPLE_CONTEXT).expect("the example context is valid").with_secrets(Arc::new(ExampleSecrets))
}

/// The variables of the examples: [`EXAMPLE_VARIABLES`].
pub fn example_variables() -> Variables {
    let json = serde_json::from_str(EXAMPLE_VARIABLES).expect("the example variables are JSON");
    Variables::from_json(&json).expect("the example variables are strings")
}

/// One function as the catalog's JSON shows it.
pub fn function_json(function: &Function) -> serde_json::Value {
    let last = function.params().len().saturating_sub(1);
    let params: Vec<serde_json::Value> = function
        .params()
        .iter()
        .enumerate()
        .map(|(position, param)| {
            serde_json::json!({
                "name": param.name,
                "kind": param.kind.name(),
                "optional": param.optional,
                "variadic": function.is_variadic() && position == last,
            })
        })
        .collect();
    let doc = function.doc();
    serde_json::json!({
        "name": function.name(),
        "builtin": function.is_builtin(),
        "signature": function.signature(),
        "params": params,
        "returns": doc.returns,
        "summary": doc.summary,
        "example": doc.example.map(|(expression, value)| serde_json::json!({ "expression": expression, "value": value })),
    })
}

/// Every function of `registry` as JSON, sorted by name.
pub fn catalog_json(registry: &Registry) -> serde_json::Value {
    serde_json::Value::Array(registry.functions().into_iter().map(|function| function_json(function)).collect())
}

/// Every function of `registry` for people: signature and result, summary, example.
pub fn catalog_text(registry: &Registry) -> String {
    let mut out = String::new();
    for function in registry.functions() {
        let doc = function.doc();
        let returns = if doc.returns.is_empty() { "any" } else { doc.returns };
        let _ = writeln!(out, "{} → {returns}", function.signature());
        if !doc.summary.is_empty() {
            let _ = writeln!(out, "    {}", doc.summary);
        }
        if let Some((expression, value)) = doc.example {
            let _ = writeln!(out, "    {expression}  ⇒  {value}");
        }
    }
    out
}
