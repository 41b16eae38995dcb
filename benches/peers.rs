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

#[path = "support/counting.rs"]
mod counting;

/// Allocations per call of `f`, over 1,000 calls.
fn allocations_per_call(mut f: impl FnMut()) -> f64 {
    counting::allocations_per_call(1000, |calls| (0..calls).for_each(|_| f()))
}

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
    eprintln!(
        "allocations per evaluation: courier {}, evalexpr {}",
        allocations_per_call(|| drop(compiled.evaluate(&variables, &context).unwrap())),
        allocations_per_call(|| drop(tree.eval_with_context(&peer_context).unwrap())),
    );
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

/// The newsletter payload as MiniJinja writes it: `|tojson` where courier has a bare hole.
const MINIJINJA_NEWSLETTER: &str = r#"{
  "email": {{ email|tojson }},
  "firstName": {{ firstname|tojson }},
  "lastName": {{ lastname|tojson }},
  "birthdate": {{ birthdate|tojson }},
  "marketingOptIn": {{ toBoolean(consent_single_opt_in_newsletter)|tojson }},
  "consumption": {{ toInteger(consumption)|tojson }},
  "key": {{ (lastname ~ ", " ~ birthdate)|tojson }}
}"#;

/// The same for handlebars, with the helpers it needs.
const HANDLEBARS_NEWSLETTER: &str = r#"{
  "email": {{{json email}}},
  "firstName": {{{json firstname}}},
  "lastName": {{{json lastname}}},
  "birthdate": {{{json birthdate}}},
  "marketingOptIn": {{{toBoolean consent_single_opt_in_newsletter}}},
  "consumption": {{{toInteger consumption}}},
  "key": {{{json (concat lastname ", " birthdate)}}}
}"#;

fn newsletter() -> (String, Variables, std::collections::BTreeMap<String, String>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/newsletter");
    let payload = std::fs::read_to_string(root.join("payload.json")).unwrap();
    let vars: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("vars.json")).unwrap()).unwrap();
    let plain = vars.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
    (payload, Variables::from_json(&vars).unwrap(), plain)
}

fn minijinja_environment() -> minijinja::Environment<'static> {
    let mut environment = minijinja::Environment::new();
    environment.add_function("toBoolean", |text: String| text.trim().eq_ignore_ascii_case("true"));
    environment.add_function("toInteger", |text: String| text.trim().parse::<i64>().unwrap_or(0));
    environment
}

fn handlebars_registry() -> handlebars::Handlebars<'static> {
    use handlebars::handlebars_helper;
    handlebars_helper!(json: |value: Json| serde_json::to_string(value).unwrap());
    handlebars_helper!(to_boolean: |text: str| text.trim().eq_ignore_ascii_case("true"));
    handlebars_helper!(to_integer: |text: str| text.trim().parse::<i64>().unwrap_or(0));
    handlebars_helper!(concat: |*args| args.iter().map(|a| a.as_str().unwrap_or_default()).collect::<String>());
    let mut registry = handlebars::Handlebars::new();
    registry.register_escape_fn(handlebars::no_escape);
    registry.register_helper("json", Box::new(json));
    registry.register_helper("toBoolean", Box::new(to_boolean));
    registry.register_helper("toInteger", Box::new(to_integer));
    registry.register_helper("concat", Box::new(concat));
    registry.register_template_string("newsletter", HANDLEBARS_NEWSLETTER).unwrap();
    registry
}

fn render(c: &mut Criterion) {
    let (payload, variables, plain) = newsletter();
    let engine = Engine::new();
    let context = Context::default();
    let template = courier::template::JsonTemplate::compile(&engine, &payload).unwrap();
    let expected = template.render_to_value(&variables, &context).unwrap();

    let environment = minijinja_environment();
    let jinja = environment.template_from_str(MINIJINJA_NEWSLETTER).unwrap();
    let jinja_context = minijinja::Value::from(plain.clone());
    let jinja_output = jinja.render(&jinja_context).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&jinja_output).unwrap(), expected);

    let handlebars = handlebars_registry();
    let handlebars_output = handlebars.render("newsletter", &plain).unwrap();
    assert_eq!(serde_json::from_str::<serde_json::Value>(&handlebars_output).unwrap(), expected);

    let mut buffer = Vec::with_capacity(512);
    eprintln!(
        "allocations per render: courier-bytes {}, courier-value {}, minijinja {}, handlebars {}",
        allocations_per_call(|| {
            buffer.clear();
            template.render_to_bytes(&variables, &context, &mut buffer).unwrap();
        }),
        allocations_per_call(|| drop(template.render_to_value(&variables, &context).unwrap())),
        allocations_per_call(|| drop(jinja.render(&jinja_context).unwrap())),
        allocations_per_call(|| drop(handlebars.render("newsletter", &plain).unwrap())),
    );
    let mut group = c.benchmark_group("render");
    group.bench_function("courier-bytes", |b| {
        b.iter(|| {
            buffer.clear();
            template.render_to_bytes(black_box(&variables), &context, &mut buffer).unwrap();
        })
    });
    group.bench_function("minijinja-string", |b| b.iter(|| jinja.render(black_box(&jinja_context)).unwrap()));
    group.bench_function("handlebars-string", |b| {
        b.iter(|| handlebars.render("newsletter", black_box(&plain)).unwrap())
    });
    group.bench_function("courier-value", |b| {
        b.iter(|| template.render_to_value(black_box(&variables), &context).unwrap())
    });
    group.bench_function("minijinja-string+parse", |b| {
        b.iter(|| serde_json::from_str::<serde_json::Value>(&jinja.render(black_box(&jinja_context)).unwrap()).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("compile");
    group.bench_function("courier-newsletter", |b| {
        b.iter(|| courier::template::JsonTemplate::compile(&engine, black_box(&payload)).unwrap())
    });
    group.bench_function("minijinja-newsletter", |b| {
        b.iter(|| environment.template_from_str(black_box(MINIJINJA_NEWSLETTER)).unwrap().name().len())
    });
    group.finish();
}

criterion_group!(benches, evaluate, compile, render);
criterion_main!(benches);
