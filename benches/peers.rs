//! courier against its peers on equivalent work, in the same run, each peer in its
//! fastest form (precompiled, its fastest escaping), every output checked equal to
//! courier's before anything is timed.
//!
//! - `evaluate`: the predicate `toInteger(x) + 1 > 3 && flag == 'true'`, precompiled,
//!   against cel-interpreter, evalexpr and MiniJinja's compiled expressions (each
//!   with `toInteger` registered as a function).
//! - `render`: the newsletter payload of `examples/newsletter` to bytes and to a
//!   `serde_json::Value`, against MiniJinja with JSON auto-escaping (a `*.json`
//!   template: a bare hole prints JSON) and with `|tojson`, Tera 2 (a JSON string
//!   escaper as its auto-escape function) and handlebars.
//! - `url`: `${shop_url}/products/${product_id}/price?currency=${currency}` against
//!   Tera 1 (`urlencode_strict`) and MiniJinja (`urlencode`).
//! - `compile`: the predicate and the newsletter payload.
//!
//! Allocations per call are printed beside (a counting allocator that counts only
//! while it is asked to, so the timings do not pay for it). `docs/performance.md`
//! reports the figures.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use courier::template::{JsonTemplate, UrlTemplate};
use courier::{Context, Engine, Variables};
use criterion::{Criterion, criterion_group, criterion_main};
use evalexpr::{ContextWithMutableFunctions, ContextWithMutableVariables, DefaultNumericTypes, HashMapContext};

/// The predicate in each language's spelling.
const EXPRESSION: &str = "toInteger(x) + 1 > 3 && flag == 'true'";
const CEL_EXPRESSION: &str = "toInteger(x) + 1 > 3 && flag == 'true'";
const EVALEXPR_EXPRESSION: &str = "toInteger(x) + 1 > 3 && flag == \"true\"";
const MINIJINJA_EXPRESSION: &str = "toInteger(x) + 1 > 3 and flag == 'true'";

#[path = "support/counting.rs"]
mod counting;

/// Allocations per call of `f`, over 1,000 calls (after 10 to warm up).
///
/// The calls run inside `run`, one of the functions of [`loops`], so that under
/// callgrind its inclusive instruction count divided by 1,010 is the instructions
/// per call, for courier and every peer alike (`benches/support/instructions.sh`
/// prints them).
fn allocations_per_call(run: fn(u64, &mut dyn FnMut()), mut f: impl FnMut()) -> f64 {
    counting::allocations_per_call(1000, |count| run(count, &mut f))
}

/// One function per measured call, each with a body of its own (its name passes
/// through `black_box`) so that the compiler cannot merge them into one symbol.
mod loops {
    macro_rules! loops {
        ($($name:ident),* $(,)?) => {$(
            #[inline(never)]
            pub fn $name(count: u64, f: &mut dyn FnMut()) {
                std::hint::black_box(stringify!($name));
                for _ in 0..count {
                    f();
                }
            }
        )*};
    }

    loops!(
        evaluate_courier,
        evaluate_cel,
        evaluate_evalexpr,
        evaluate_minijinja,
        compile_predicate_courier,
        compile_predicate_cel,
        compile_predicate_evalexpr,
        compile_predicate_minijinja,
        render_courier_bytes,
        render_courier_value,
        render_minijinja_autoescape,
        render_minijinja_tojson,
        render_tera2,
        render_handlebars,
        render_minijinja_autoescape_value,
        render_tera2_value,
        compile_newsletter_courier,
        compile_newsletter_minijinja_autoescape,
        compile_newsletter_minijinja_tojson,
        compile_newsletter_tera2,
        url_courier,
        url_tera1,
        url_minijinja,
    );
}

/// EL's `toInteger` for a string, as each peer registers it.
fn to_integer(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok()
}

fn evalexpr_context() -> HashMapContext<DefaultNumericTypes> {
    let mut context = HashMapContext::<DefaultNumericTypes>::new();
    context.set_value("x".into(), evalexpr::Value::String("41".into())).unwrap();
    context.set_value("flag".into(), evalexpr::Value::String("true".into())).unwrap();
    context
        .set_function(
            "toInteger".into(),
            evalexpr::Function::new(|argument| {
                let text = argument.as_string()?;
                to_integer(&text)
                    .map(evalexpr::Value::Int)
                    .ok_or_else(|| evalexpr::EvalexprError::CustomMessage(format!("cannot convert {text:?}")))
            }),
        )
        .unwrap();
    context
}

fn cel_context() -> cel_interpreter::Context<'static> {
    let mut context = cel_interpreter::Context::default();
    context.add_variable_from_value("x", "41");
    context.add_variable_from_value("flag", "true");
    context.add_function("toInteger", |text: Arc<String>| {
        to_integer(&text).ok_or_else(|| cel_interpreter::ExecutionError::function_error("toInteger", "not a number"))
    });
    context
}

fn minijinja_environment() -> minijinja::Environment<'static> {
    let mut environment = minijinja::Environment::new();
    environment.add_function("toBoolean", |text: String| text.trim().eq_ignore_ascii_case("true"));
    environment.add_function("toInteger", |text: String| to_integer(&text).unwrap_or(0));
    environment.set_auto_escape_callback(|name| {
        if name.ends_with(".json") { minijinja::AutoEscape::Json } else { minijinja::AutoEscape::None }
    });
    environment
}

fn evaluate(c: &mut Criterion) {
    let engine = Engine::new();
    let context = Context::default();
    let variables = Variables::from_strings([("x", "41"), ("flag", "true")]);
    let compiled = engine.compile_expression(EXPRESSION).unwrap();
    assert_eq!(compiled.evaluate(&variables, &context).unwrap(), courier::Value::Bool(true));

    let cel = cel_interpreter::Program::compile(CEL_EXPRESSION).unwrap();
    let cel_context = cel_context();
    assert_eq!(cel.execute(&cel_context).unwrap(), cel_interpreter::Value::Bool(true));

    let evalexpr_context = evalexpr_context();
    let tree = evalexpr::build_operator_tree::<DefaultNumericTypes>(EVALEXPR_EXPRESSION).unwrap();
    assert_eq!(tree.eval_with_context(&evalexpr_context).unwrap(), evalexpr::Value::Boolean(true));

    let environment = minijinja_environment();
    let jinja = environment.compile_expression(MINIJINJA_EXPRESSION).unwrap();
    let jinja_context = minijinja::context! { x => "41", flag => "true" };
    assert_eq!(jinja.eval(&jinja_context).unwrap(), minijinja::Value::from(true));

    eprintln!(
        "allocations per evaluation: courier {}, cel-interpreter {}, evalexpr {}, minijinja {}",
        allocations_per_call(loops::evaluate_courier, || drop(compiled.evaluate(&variables, &context).unwrap())),
        allocations_per_call(loops::evaluate_cel, || drop(cel.execute(&cel_context).unwrap())),
        allocations_per_call(loops::evaluate_evalexpr, || drop(tree.eval_with_context(&evalexpr_context).unwrap())),
        allocations_per_call(loops::evaluate_minijinja, || drop(jinja.eval(&jinja_context).unwrap())),
    );
    let mut group = c.benchmark_group("evaluate");
    group.bench_function("courier", |b| b.iter(|| compiled.evaluate(black_box(&variables), &context).unwrap()));
    group.bench_function("cel-interpreter", |b| b.iter(|| cel.execute(black_box(&cel_context)).unwrap()));
    group.bench_function("evalexpr", |b| b.iter(|| tree.eval_with_context(black_box(&evalexpr_context)).unwrap()));
    group.bench_function("minijinja", |b| b.iter(|| jinja.eval(black_box(&jinja_context)).unwrap()));
    group.finish();

    eprintln!(
        "allocations per predicate compile: courier {}, cel-interpreter {}, evalexpr {}, minijinja {}",
        allocations_per_call(loops::compile_predicate_courier, || drop(engine.compile_expression(EXPRESSION).unwrap())),
        allocations_per_call(loops::compile_predicate_cel, || drop(
            cel_interpreter::Program::compile(CEL_EXPRESSION).unwrap()
        )),
        allocations_per_call(loops::compile_predicate_evalexpr, || drop(evalexpr::build_operator_tree::<
            DefaultNumericTypes,
        >(EVALEXPR_EXPRESSION))),
        allocations_per_call(loops::compile_predicate_minijinja, || drop(
            environment.compile_expression(MINIJINJA_EXPRESSION).unwrap()
        )),
    );
    let mut group = c.benchmark_group("compile");
    group.bench_function("courier-predicate", |b| b.iter(|| engine.compile_expression(black_box(EXPRESSION)).unwrap()));
    group.bench_function("cel-interpreter-predicate", |b| {
        b.iter(|| cel_interpreter::Program::compile(black_box(CEL_EXPRESSION)).unwrap())
    });
    group.bench_function("evalexpr-predicate", |b| {
        b.iter(|| evalexpr::build_operator_tree::<DefaultNumericTypes>(black_box(EVALEXPR_EXPRESSION)).unwrap())
    });
    group.bench_function("minijinja-predicate", |b| {
        b.iter(|| environment.compile_expression(black_box(MINIJINJA_EXPRESSION)).unwrap())
    });
    group.finish();
}

/// The newsletter payload for MiniJinja with JSON auto-escaping (the template's name
/// ends in `.json`): a bare hole prints its value as JSON.
const MINIJINJA_JSON_NEWSLETTER: &str = r#"{
  "email": {{ email }},
  "firstName": {{ firstname }},
  "lastName": {{ lastname }},
  "birthdate": {{ birthdate }},
  "marketingOptIn": {{ toBoolean(consent_single_opt_in_newsletter) }},
  "consumption": {{ toInteger(consumption) }},
  "key": {{ lastname ~ ", " ~ birthdate }}
}"#;

/// The same without auto-escaping: `|tojson` where courier has a bare hole.
const MINIJINJA_TOJSON_NEWSLETTER: &str = r#"{
  "email": {{ email|tojson }},
  "firstName": {{ firstname|tojson }},
  "lastName": {{ lastname|tojson }},
  "birthdate": {{ birthdate|tojson }},
  "marketingOptIn": {{ toBoolean(consent_single_opt_in_newsletter)|tojson }},
  "consumption": {{ toInteger(consumption)|tojson }},
  "key": {{ (lastname ~ ", " ~ birthdate)|tojson }}
}"#;

/// Tera 2 with a JSON string escaper as its auto-escape function: strings stand in
/// quotes, the converted values bare.
const TERA2_NEWSLETTER: &str = r#"{
  "email": "{{ email }}",
  "firstName": "{{ firstname }}",
  "lastName": "{{ lastname }}",
  "birthdate": "{{ birthdate }}",
  "marketingOptIn": {{ consent_single_opt_in_newsletter | toBoolean }},
  "consumption": {{ consumption | toInteger }},
  "key": "{{ lastname }}, {{ birthdate }}"
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

fn newsletter() -> (String, Variables, BTreeMap<String, String>) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/newsletter");
    let payload = std::fs::read_to_string(root.join("payload.json")).unwrap();
    let vars: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("vars.json")).unwrap()).unwrap();
    let plain = vars.as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
    (payload, Variables::from_json(&vars).unwrap(), plain)
}

/// Writes `input` as the inside of a JSON string: Tera 2's auto-escape function.
fn escape_json_string(input: &str, output: &mut dyn Write) -> std::io::Result<()> {
    let mut start = 0;
    for (at, byte) in input.bytes().enumerate() {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            output.write_all(&input.as_bytes()[start..at])?;
            match byte {
                b'"' => output.write_all(b"\\\"")?,
                b'\\' => output.write_all(b"\\\\")?,
                control => write!(output, "\\u{control:04x}")?,
            }
            start = at + 1;
        }
    }
    output.write_all(&input.as_bytes()[start..])
}

fn tera2_engine() -> tera2::Tera {
    let mut tera = tera2::Tera::new();
    tera.register_filter("toBoolean", |text: &str, _: tera2::Kwargs, _: &tera2::State| {
        text.trim().eq_ignore_ascii_case("true")
    });
    tera.register_filter("toInteger", |text: &str, _: tera2::Kwargs, _: &tera2::State| to_integer(text).unwrap_or(0));
    tera.set_escape_fn(escape_json_string);
    tera.autoescape_on([".json"]);
    tera.add_raw_template("newsletter.json", TERA2_NEWSLETTER).unwrap();
    tera
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
    let template = JsonTemplate::compile(&engine, &payload).unwrap();
    let expected = template.render_to_value(&variables, &context).unwrap();
    let same = |output: &[u8], peer: &str| {
        assert_eq!(serde_json::from_slice::<serde_json::Value>(output).unwrap(), expected, "{peer}");
    };

    let environment = minijinja_environment();
    let jinja_json = environment.template_from_named_str("newsletter.json", MINIJINJA_JSON_NEWSLETTER).unwrap();
    let jinja_tojson = environment.template_from_str(MINIJINJA_TOJSON_NEWSLETTER).unwrap();
    let jinja_context = minijinja::Value::from(plain.clone());
    same(jinja_json.render(&jinja_context).unwrap().as_bytes(), "minijinja auto-escape");
    same(jinja_tojson.render(&jinja_context).unwrap().as_bytes(), "minijinja tojson");

    let tera2 = tera2_engine();
    let tera2_context = tera2::Context::from_serialize(&plain).unwrap();
    same(tera2.render("newsletter.json", &tera2_context).unwrap().as_bytes(), "tera 2");

    let handlebars = handlebars_registry();
    same(handlebars.render("newsletter", &plain).unwrap().as_bytes(), "handlebars");

    let mut buffer = Vec::with_capacity(512);
    let mut peer_buffer = Vec::with_capacity(512);
    eprintln!(
        "allocations per render: courier-bytes {}, courier-value {}, minijinja-autoescape {}, minijinja-tojson {}, \
         tera2 {}, handlebars {}",
        allocations_per_call(loops::render_courier_bytes, || {
            buffer.clear();
            template.render_to_bytes(&variables, &context, &mut buffer).unwrap();
        }),
        allocations_per_call(loops::render_courier_value, || drop(
            template.render_to_value(&variables, &context).unwrap()
        )),
        allocations_per_call(loops::render_minijinja_autoescape, || drop(jinja_json.render(&jinja_context).unwrap())),
        allocations_per_call(loops::render_minijinja_tojson, || drop(jinja_tojson.render(&jinja_context).unwrap())),
        allocations_per_call(loops::render_tera2, || {
            peer_buffer.clear();
            tera2.render_to("newsletter.json", &tera2_context, &mut peer_buffer).unwrap();
        }),
        allocations_per_call(loops::render_handlebars, || drop(handlebars.render("newsletter", &plain).unwrap())),
    );
    eprintln!(
        "allocations per render to a serde_json::Value: minijinja-autoescape+parse {}, tera2+parse {}",
        allocations_per_call(loops::render_minijinja_autoescape_value, || {
            drop(serde_json::from_str::<serde_json::Value>(&jinja_json.render(&jinja_context).unwrap()).unwrap())
        }),
        allocations_per_call(loops::render_tera2_value, || {
            peer_buffer.clear();
            tera2.render_to("newsletter.json", &tera2_context, &mut peer_buffer).unwrap();
            drop(serde_json::from_slice::<serde_json::Value>(&peer_buffer).unwrap())
        }),
    );
    let mut group = c.benchmark_group("render");
    group.bench_function("courier-bytes", |b| {
        b.iter(|| {
            buffer.clear();
            template.render_to_bytes(black_box(&variables), &context, &mut buffer).unwrap();
        })
    });
    group.bench_function("minijinja-autoescape-string", |b| {
        b.iter(|| jinja_json.render(black_box(&jinja_context)).unwrap())
    });
    group.bench_function("minijinja-tojson-string", |b| {
        b.iter(|| jinja_tojson.render(black_box(&jinja_context)).unwrap())
    });
    group.bench_function("tera2-bytes", |b| {
        b.iter(|| {
            peer_buffer.clear();
            tera2.render_to("newsletter.json", black_box(&tera2_context), &mut peer_buffer).unwrap();
        })
    });
    group.bench_function("handlebars-string", |b| {
        b.iter(|| handlebars.render("newsletter", black_box(&plain)).unwrap())
    });
    group.bench_function("courier-value", |b| {
        b.iter(|| template.render_to_value(black_box(&variables), &context).unwrap())
    });
    group.bench_function("minijinja-autoescape-string+parse", |b| {
        b.iter(|| {
            serde_json::from_str::<serde_json::Value>(&jinja_json.render(black_box(&jinja_context)).unwrap()).unwrap()
        })
    });
    group.bench_function("tera2-bytes+parse", |b| {
        b.iter(|| {
            peer_buffer.clear();
            tera2.render_to("newsletter.json", black_box(&tera2_context), &mut peer_buffer).unwrap();
            serde_json::from_slice::<serde_json::Value>(&peer_buffer).unwrap()
        })
    });
    group.finish();

    let mut tera2_compiler = tera2_engine();
    eprintln!(
        "allocations per newsletter compile: courier {}, minijinja-autoescape {}, minijinja-tojson {}, tera2 {}",
        allocations_per_call(loops::compile_newsletter_courier, || drop(
            JsonTemplate::compile(&engine, &payload).unwrap()
        )),
        allocations_per_call(loops::compile_newsletter_minijinja_autoescape, || {
            drop(environment.template_from_named_str("newsletter.json", MINIJINJA_JSON_NEWSLETTER).unwrap())
        }),
        allocations_per_call(loops::compile_newsletter_minijinja_tojson, || drop(
            environment.template_from_str(MINIJINJA_TOJSON_NEWSLETTER).unwrap()
        )),
        allocations_per_call(loops::compile_newsletter_tera2, || tera2_compiler
            .add_raw_template("newsletter.json", TERA2_NEWSLETTER)
            .unwrap()),
    );
    let mut group = c.benchmark_group("compile");
    group.bench_function("courier-newsletter", |b| {
        b.iter(|| JsonTemplate::compile(&engine, black_box(&payload)).unwrap())
    });
    group.bench_function("minijinja-autoescape-newsletter", |b| {
        b.iter(|| {
            let template = environment.template_from_named_str("newsletter.json", black_box(MINIJINJA_JSON_NEWSLETTER));
            template.unwrap().name().len()
        })
    });
    group.bench_function("minijinja-tojson-newsletter", |b| {
        b.iter(|| environment.template_from_str(black_box(MINIJINJA_TOJSON_NEWSLETTER)).unwrap().name().len())
    });
    group.bench_function("tera2-newsletter", |b| {
        b.iter(|| tera2_compiler.add_raw_template("newsletter.json", black_box(TERA2_NEWSLETTER)).unwrap())
    });
    group.finish();
}

const URL: &str = "${shop_url}/products/${product_id}/price?currency=${currency}";
const TERA1_URL: &str =
    "{{ shop_url }}/products/{{ product_id | urlencode_strict }}/price?currency={{ currency | urlencode_strict }}";
const MINIJINJA_URL: &str =
    "{{ shop_url }}/products/{{ product_id|urlencode }}/price?currency={{ currency|urlencode }}";

fn url(c: &mut Criterion) {
    let pairs = [("shop_url", "https://shop.example.org"), ("product_id", "sku 4711"), ("currency", "EUR")];
    let engine = Engine::new();
    let context = Context::default();
    let variables = Variables::from_strings(pairs);
    let template = UrlTemplate::compile(&engine, URL).unwrap();
    let expected = template.render(&variables, &context).unwrap();
    assert_eq!(expected, "https://shop.example.org/products/sku%204711/price?currency=EUR");

    let mut tera1 = tera::Tera::default();
    tera1.add_raw_template("url", TERA1_URL).unwrap();
    let mut tera1_context = tera::Context::new();
    pairs.iter().for_each(|(name, value)| tera1_context.insert(*name, value));
    assert_eq!(tera1.render("url", &tera1_context).unwrap(), expected);

    let environment = minijinja_environment();
    let jinja = environment.template_from_str(MINIJINJA_URL).unwrap();
    let jinja_context: BTreeMap<String, String> =
        pairs.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    let jinja_context = minijinja::Value::from(jinja_context);
    assert_eq!(jinja.render(&jinja_context).unwrap(), expected);

    eprintln!(
        "allocations per URL: courier {}, tera1 {}, minijinja {}",
        allocations_per_call(loops::url_courier, || drop(template.render(&variables, &context).unwrap())),
        allocations_per_call(loops::url_tera1, || drop(tera1.render("url", &tera1_context).unwrap())),
        allocations_per_call(loops::url_minijinja, || drop(jinja.render(&jinja_context).unwrap())),
    );
    let mut group = c.benchmark_group("url");
    group.bench_function("courier", |b| b.iter(|| template.render(black_box(&variables), &context).unwrap()));
    group.bench_function("tera1", |b| b.iter(|| tera1.render("url", black_box(&tera1_context)).unwrap()));
    group.bench_function("minijinja", |b| b.iter(|| jinja.render(black_box(&jinja_context)).unwrap()));
    group.finish();
}

criterion_group!(benches, evaluate, render, url);
criterion_main!(benches);
