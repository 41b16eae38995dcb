//! Parse, compile and evaluate arbitrary expressions against arbitrary variables.
//! The input is split at the first NUL: the expression, then the value of `x`.
//! `l` is a list and `j` JSON text, for the collection operations and lambdas that
//! the dictionary and the seeds write (`l.stream().flatMap(x -> ...)`).
#![no_main]

use courier::{Context, Engine, Variables};
use libfuzzer_sys::fuzz_target;

static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(Engine::new);

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (source, x) = text.split_once('\0').unwrap_or((text, "7"));
    let _ = courier::syntax::parse_expression(source);
    let Ok(expression) = ENGINE.compile_expression(source) else { return };
    let mut variables = Variables::from_strings([("x", x), ("y", "2.5"), ("s", "a,b")]);
    let list = (0..20).map(courier::Value::Int).chain([courier::Value::from(x), courier::Value::Null]);
    variables.set("l", courier::Value::list(list.collect()));
    variables.set("j", courier::Value::from(r#"[{"name": "a", "n": 1}, {"name": "b", "n": 2.5}]"#));
    if let Ok(value) = expression.evaluate(&variables, &Context::default()) {
        let _ = value.to_text();
        let _ = value.to_json();
    }
});
