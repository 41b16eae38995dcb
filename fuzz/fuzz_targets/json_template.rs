//! Compile and render arbitrary JSON templates with an arbitrary variable value:
//! whenever rendering succeeds the bytes must be valid JSON, and equal to the value
//! rendering.
#![no_main]

use courier::template::JsonTemplate;
use courier::{Context, Engine, Variables};
use libfuzzer_sys::fuzz_target;

static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(Engine::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (source, x) = text.split_once('\0').unwrap_or((text, "1, \"admin\": true"));
    let Ok(template) = JsonTemplate::compile(&ENGINE, source) else { return };
    let variables = Variables::from_strings([("x", x)]);
    let context = Context::default();
    let mut bytes = Vec::new();
    if template.render_to_bytes(&variables, &context, &mut bytes).is_ok() {
        let parsed: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|error| panic!("rendered invalid JSON ({error}): {}", String::from_utf8_lossy(&bytes)));
        let value = template.render_to_value(&variables, &context).expect("bytes rendered, so the value renders");
        assert_eq!(parsed, value, "bytes and value renderings differ");
    }
});
