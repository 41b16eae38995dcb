//! Parse, compile and evaluate arbitrary expressions against arbitrary variables.
//! The input is split at the first NUL: the expression, then the value of `x`.
#![no_main]

use courier::{Context, Engine, Variables};
use libfuzzer_sys::fuzz_target;

static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(Engine::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (source, x) = text.split_once('\0').unwrap_or((text, "7"));
    let _ = courier::syntax::parse_expression(source);
    let Ok(expression) = ENGINE.compile_expression(source) else { return };
    let variables = Variables::from_strings([("x", x), ("y", "2.5"), ("s", "a,b")]);
    if let Ok(value) = expression.evaluate(&variables, &Context::default()) {
        let _ = value.to_text();
        let _ = value.to_json();
    }
});
