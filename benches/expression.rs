//! Compiling and evaluating expressions, measured apart: a compiled expression is
//! evaluated without parsing again, so `evaluate` must cost a small fraction of
//! `compile`.

use std::hint::black_box;

use courier::{Context, Engine, Variables};
use criterion::{Criterion, criterion_group, criterion_main};

const EXPRESSION: &str = "toInteger(x) + 1 > 3 && flag";

fn compile_and_evaluate(c: &mut Criterion) {
    let engine = Engine::new();
    let context = Context::default();
    let variables = Variables::from_strings([("x", "41"), ("flag", "true")]);
    let mut group = c.benchmark_group("expression");
    group.bench_function("compile", |b| b.iter(|| engine.compile_expression(black_box(EXPRESSION)).unwrap()));
    let compiled = engine.compile_expression(EXPRESSION).unwrap();
    group.bench_function("evaluate", |b| b.iter(|| compiled.evaluate(black_box(&variables), &context).unwrap()));
    group.bench_function("compile+evaluate", |b| {
        b.iter(|| engine.compile_expression(black_box(EXPRESSION)).unwrap().evaluate(&variables, &context).unwrap())
    });
    group.finish();
}

criterion_group!(benches, compile_and_evaluate);
criterion_main!(benches);
