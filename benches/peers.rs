//! courier against its peers on equivalent work, in the same run.
//!
//! - evaluate: `toInteger(x) + 1 > 3 && flag`, precompiled, against evalexpr's
//!   precompiled operator tree (with `toInteger` registered as a function there).
//! - compile: the same expression, and the newsletter payload against MiniJinja's
//!   compile of the equivalent template.
//! - render: the newsletter payload of `examples/newsletter` to bytes and to a
//!   `serde_json::Value`, against MiniJinja (`|tojson` where courier has a bare hole)
//!   and handlebars.
//!
//! `docs/performance.md` reports the ratios.

use std::hint::black_box;

use courier::{Context, Engine, Variables};
use criterion::{Criterion, criterion_group, criterion_main};
use evalexpr::{ContextWithMutableFunctions, ContextWithMutableVariables, DefaultNumericTypes, HashMapContext};

const EXPRESSION: &str = "toInteger(x) + 1 > 3 && flag";

fn evalexpr_context() -> HashMapContext<DefaultNumericTypes> {
    let mut context = HashMapContext::<DefaultNumericTypes>::new();
    context.set_value("x".into(), evalexpr::Value::String("41".into())).unwrap();
    context.set_value("flag".into(), evalexpr::Value::Boolean(true)).unwrap();
    context
        .set_function(
            "toInteger".into(),
            evalexpr::Function::new(|argument| {
                let text = argument.as_string()?;
                text.trim()
                    .parse::<i64>()
                    .map(evalexpr::Value::Int)
                    .map_err(|_| evalexpr::EvalexprError::CustomMessage(format!("cannot convert {text:?}")))
            }),
        )
        .unwrap();
    context
}

fn evaluate(c: &mut Criterion) {
    let mut group = c.benchmark_group("evaluate");
    let engine = Engine::new();
    let context = Context::default();
    let variables = Variables::from_strings([("x", "41"), ("flag", "true")]);
    let compiled = engine.compile_expression(EXPRESSION).unwrap();
    assert_eq!(compiled.evaluate(&variables, &context).unwrap(), courier::Value::Bool(true));
    group.bench_function("courier", |b| b.iter(|| compiled.evaluate(black_box(&variables), &context).unwrap()));

    let peer_context = evalexpr_context();
    let tree = evalexpr::build_operator_tree::<DefaultNumericTypes>(EXPRESSION).unwrap();
    assert_eq!(tree.eval_with_context(&peer_context).unwrap(), evalexpr::Value::Boolean(true));
    group.bench_function("evalexpr", |b| b.iter(|| tree.eval_with_context(black_box(&peer_context)).unwrap()));
    group.finish();
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    let engine = Engine::new();
    group
        .bench_function("courier-expression", |b| b.iter(|| engine.compile_expression(black_box(EXPRESSION)).unwrap()));
    group.bench_function("evalexpr-expression", |b| {
        b.iter(|| evalexpr::build_operator_tree::<DefaultNumericTypes>(black_box(EXPRESSION)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, evaluate, compile);
criterion_main!(benches);
