//! Compile and render arbitrary text templates; what renders must be UTF-8 text
//! within the output limit.
#![no_main]

use courier::{Context, Engine, Template, Variables};
use libfuzzer_sys::fuzz_target;

static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(Engine::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (source, x) = text.split_once('\0').unwrap_or((text, "value"));
    let engine = &*ENGINE;
    let Ok(template) = Template::compile(engine, source) else { return };
    let variables = Variables::from_strings([("x", x)]);
    if let Ok(output) = template.render(&variables, &Context::default()) {
        assert!(output.len() <= engine.limits().max_output_bytes);
    }
});
