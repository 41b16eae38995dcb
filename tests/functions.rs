//! The built-in functions through the public API: for every function its normal
//! result, what it makes of null and `""`, and its error text where it can fail.
//! The examples of `functions.md` appear verbatim. Every test runs against a fixed
//! context (clock, zone, locale, seed), so all of it is deterministic.

use std::collections::HashMap;
use std::sync::Arc;

use courier::functions::SecretResolver;
use courier::{Context, Engine, Error, ErrorKind, Limits, Value, Variables};

/// Saturday 21 November 2026, 11:15:30.123 in Berlin.
const CONTEXT: &str = r#"{
    "now": "2026-11-21T10:15:30.123Z",
    "time_zone": "Europe/Berlin",
    "locale": "de",
    "seed": 42,
    "params": {"campaign": "winter"},
    "client": {
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (iPhone)",
        "is_mobile": true,
        "location_href": "https://user@Shop.Example.org:8443/Winter/Sale?ref=Mail#top"
    },
    "tenant_name": "Acme",
    "sender_id": "sender-1",
    "sign_in_token": "token-1",
    "postback_payload_value": "BUY",
    "authenticated": true,
    "consent": {
        "newsletter_single_opt_in": true,
        "newsletter_single_opt_in_tags": ["sports"],
        "newsletter_double_opt_in": false,
        "newsletter_double_opt_in_tags": ["news"],
        "profiling_single_opt_in": true,
        "profiling_double_opt_in": false,
        "reminder_single_opt_in": true,
        "sms_single_opt_in": false,
        "sms_double_opt_in": true,
        "web_push_single_opt_in": true,
        "web_push_double_opt_in": false,
        "denied_any_single_opt_in": true
    },
    "newsletter_double_opt_in_url": "https://acme.example/doi/newsletter",
    "profiling_double_opt_in_url": "https://acme.example/doi/profiling",
    "num_participations": 3,
    "num_participations_bpmn_process": 1,
    "translations": {
        "de": {"greeting": "Hallo ${firstname}!", "broken": "${toInteger('x')}", "loop": "${interpolate('loop')}"},
        "en": {"greeting": "Hello ${firstname}!"}
    }
}"#;

fn context() -> Context {
    Context::from_json(CONTEXT).expect("the test context reads")
}

/// The test context with some fields replaced (`{"locale": "en"}`).
fn context_with(changes: &str) -> Context {
    let mut json: serde_json::Value = serde_json::from_str(CONTEXT).unwrap();
    let changes: serde_json::Value = serde_json::from_str(changes).unwrap();
    for (key, value) in changes.as_object().unwrap() {
        json[key] = value.clone();
    }
    Context::from_json(&json.to_string()).expect("the changed context reads")
}

fn run(engine: &Engine, source: &str, variables: &Variables, context: &Context) -> Result<Value, Error> {
    engine.compile_expression(source)?.evaluate(variables, context)
}

fn try_eval(source: &str) -> Result<Value, Error> {
    run(&Engine::new(), source, &Variables::new(), &context())
}

fn eval(source: &str) -> Value {
    try_eval(source).unwrap_or_else(|error| panic!("{source}: {error}"))
}

fn text(source: &str) -> String {
    eval(source).to_text()
}

fn eval_vars(source: &str, variables: &Variables) -> Value {
    run(&Engine::new(), source, variables, &context()).unwrap_or_else(|error| panic!("{source}: {error}"))
}

fn eval_in(source: &str, context: &Context) -> Value {
    run(&Engine::new(), source, &Variables::new(), context).unwrap_or_else(|error| panic!("{source}: {error}"))
}

fn vars(pairs: &[(&str, &str)]) -> Variables {
    Variables::from_strings(pairs.iter().copied())
}

fn list(items: &[&str]) -> Value {
    Value::list(items.iter().map(|item| Value::from(*item)).collect())
}

/// The message of an evaluation error (it compiles, then fails).
fn error(source: &str) -> String {
    error_with(&Engine::new(), source, &Variables::new())
}

fn error_with(engine: &Engine, source: &str, variables: &Variables) -> String {
    let expression = engine.compile_expression(source).unwrap_or_else(|error| panic!("{source} compiles: {error}"));
    match expression.evaluate(variables, &context()) {
        Ok(value) => panic!("{source} should fail, but gave {value:?}"),
        Err(error) => {
            assert!(matches!(error.kind(), ErrorKind::Evaluation | ErrorKind::Limit), "{source}: {error}");
            error.message().to_owned()
        }
    }
}

/// The error of an expression that must not compile.
fn compile_error(source: &str) -> Error {
    match Engine::new().compile_expression(source) {
        Ok(_) => panic!("{source} should not compile"),
        Err(error) => error,
    }
}

fn engine_with(limits: Limits) -> Engine {
    let mut engine = Engine::new();
    engine.set_limits(limits);
    engine
}

// ---------------------------------------------------------------------------------------
// The registry

/// Every built-in is called somewhere in this file or in `functions_families.rs` (the
/// families of issue #14), so none goes untested.
#[test]
fn every_builtin_is_exercised_here() {
    let source = [include_str!("functions.rs"), include_str!("functions_families.rs")].concat();
    let engine = Engine::new();
    let mut names: Vec<&str> = engine.registry().names().collect();
    names.sort_unstable();
    let missing: Vec<&str> = names.iter().copied().filter(|name| !source.contains(&format!("{name}("))).collect();
    assert!(missing.is_empty(), "not tested: {missing:?}");
    assert_eq!(names.len(), 81 + 39, "{names:?}");
}

/// Text that looks like what the functions read: numbers, dates, patterns, zones, regexes.
fn interesting_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        any::<String>(),
        "-?[0-9]{1,20}(\\.[0-9]{0,4})?(E-?[0-9]{1,3})?",
        "[+-]?[0-9]{1,7}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{0,10})?)?(Z|[+-][0-9:]{1,5})?)?",
        "[yuMdDEaHkKhmsSXxZV' .:/-]{0,12}",
        "[a-zA-Z_/+-]{0,20}",
        "[()\\[\\]{}$\\\\.*+?|^a-c0-9<>=!-]{0,12}",
        // Number patterns, locale tags, units, JSON and paths, percent-encoding (issue #14).
        "[#0,.%‰;' a-zA-Z-]{0,12}",
        "(de|de-CH|fr|en|xx-YY|de_CH|en-|1|)(-[a-zA-Z0-9]{0,8})?",
        "(years|months|weeks|days|hours|minutes|seconds|day|week|month|year|)",
        "[\\[\\]{}\":,0-9a-z. -]{0,24}",
        "[a-z0-9.\\[\\]/~]{0,12}",
        "[%+0-9a-fA-FG-Z]{0,12}",
        "-?[0-9]{1,3}([.,'’\u{202f} ][0-9]{3}){0,3}([.,][0-9]{0,4})?",
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Every built-in, given any text in its arguments, returns a value or an
    /// evaluation error: it never panics, and never fails in any other way.
    #[test]
    fn no_builtin_panics_on_any_text(a in interesting_text(), b in interesting_text(), c in interesting_text()) {
        let engine = engine_with(Limits { max_output_bytes: 1 << 16, max_list_len: 1000, ..Limits::default() });
        let mut variables = vars(&[("a", &a), ("b", &b), ("c", &c), ("birthdate", &a)]);
        variables.set("l", list(&[&a, &b]));
        let context = context();
        let mut names: Vec<&str> = engine.registry().names().collect();
        names.sort_unstable();
        // secret() takes only a literal name (a compile-time rule, tested on its own).
        for name in names.into_iter().filter(|name| *name != "secret") {
            let function = engine.registry().get(name).unwrap();
            let most = function.max_args().unwrap_or(3).min(3);
            for count in function.min_args()..=most {
                for first in ["a", "l"] {
                    let args = [first, "b", "c"][..count].join(", ");
                    let source = format!("{name}({args})");
                    if let Err(error) = run(&engine, &source, &variables, &context) {
                        proptest::prop_assert!(
                            matches!(error.kind(), ErrorKind::Evaluation | ErrorKind::Limit),
                            "{source} with {a:?}, {b:?}, {c:?}: {error}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn secret_names_must_be_literals() {
    let error = compile_error("secret(name)");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert!(error.message().contains("literal"), "{error}");
}

#[test]
fn a_wrong_number_of_arguments_is_a_compile_error() {
    for source in ["stringConcat()", "round(1, 2, 3)", "localDate(1)", "substring(\"a\")", "secret()"] {
        assert_eq!(compile_error(source).kind(), ErrorKind::Arity, "{source}");
    }
    assert_eq!(compile_error("padZeroes(1)").message(), "padZeroes takes 2 arguments, not 1: padZeroes(value, width)");
}

// ---------------------------------------------------------------------------------------
// Conversion

#[test]
fn to_boolean() {
    assert_eq!(eval("toBoolean(\"true\")"), Value::Bool(true));
    assert_eq!(eval("toBoolean(\" TRUE \")"), Value::Bool(true));
    assert_eq!(eval("toBoolean(\"False\")"), Value::Bool(false));
    assert_eq!(eval("toBoolean(\"1\")"), Value::Bool(true));
    assert_eq!(eval("toBoolean(0)"), Value::Bool(false));
    assert_eq!(eval("toBoolean(true)"), Value::Bool(true));
    assert_eq!(eval("toBoolean(null)"), Value::Bool(false));
    assert_eq!(eval("toBoolean(\"\")"), Value::Bool(false));
    assert_eq!(error("toBoolean(\"yes\")"), "cannot convert \"yes\" to a boolean (expected true, false, 1 or 0)");
    assert_eq!(error("toBoolean(2)"), "cannot convert integer 2 to a boolean");
}

#[test]
fn to_integer() {
    assert_eq!(eval("toInteger(\"42\")"), Value::Int(42));
    assert_eq!(eval("toInteger(\" 7 \")"), Value::Int(7));
    assert_eq!(eval("toInteger(\"3.9\")"), Value::Int(3));
    assert_eq!(eval("toInteger(-3.9)"), Value::Int(-3));
    assert_eq!(eval("toInteger(null)"), Value::Int(0));
    assert_eq!(eval("toInteger(\"\")"), Value::Int(0));
    assert_eq!(error("toInteger(\"abc\")"), "cannot convert \"abc\" to an integer");
    assert_eq!(error("toInteger(1e30)"), "cannot convert float 1.0E30 to an integer (it is out of range)");
}

#[test]
fn to_double() {
    assert_eq!(eval("toDouble(\"2.5\")"), Value::Float(2.5));
    assert_eq!(eval("toDouble(3)"), Value::Float(3.0));
    assert_eq!(text("toDouble(\"1e-4\")"), "1.0E-4");
    assert_eq!(eval("toDouble(null)"), Value::Float(0.0));
    assert_eq!(eval("toDouble(\"\")"), Value::Float(0.0));
    assert_eq!(error("toDouble(\"x1\")"), "cannot convert \"x1\" to a number");
}

#[test]
fn to_string() {
    assert_eq!(eval("toString(3.0)"), Value::from("3.0"));
    assert_eq!(eval("toString(true)"), Value::from("true"));
    assert_eq!(eval("toString(null)"), Value::from(""));
    assert_eq!(eval("toString(\"\")"), Value::from(""));
    assert_eq!(
        eval_vars("toString(answers)", &Variables::from_json(&serde_json::json!({"answers": ["a", "b"]})).unwrap()),
        Value::from(r#"["a","b"]"#)
    );
}

#[test]
fn to_json() {
    assert_eq!(eval("toJson(\"a\\\"b\")"), Value::from(r#""a\"b""#));
    assert_eq!(eval("toJson(parseJson('{\"a\":[1,2.5,null]}'))"), Value::from(r#"{"a":[1,2.5,null]}"#));
    assert_eq!(eval("toJson(round(2, 2))"), Value::from("2.00"));
    assert_eq!(eval("toJson(null)"), Value::from("null"));
    assert_eq!(eval("toJson(\"\")"), Value::from("\"\""));
    assert_eq!(error("toJson(0.0 / 0)"), "NaN cannot be written as JSON: JSON has no such number");
}

#[test]
fn parse_json() {
    let value = eval("parseJson('{\"b\": [1, 2.5, \"x\", true], \"a\": null}')");
    assert_eq!(value.to_text(), r#"{"b":[1,2.5,"x",true],"a":null}"#);
    assert_eq!(eval("parseJson('[10, 20]')[1]"), Value::Int(20));
    assert_eq!(eval("parseJson('\"x\"')"), Value::from("x"));
    assert!(error("parseJson(\"{\")").starts_with("invalid JSON: "));
    // Null is the empty text, which is not JSON.
    assert!(error("parseJson(null)").starts_with("invalid JSON: EOF while parsing"));
}

// ---------------------------------------------------------------------------------------
// Strings and lists

#[test]
fn string_concat() {
    let variables = vars(&[("lastname", "Muster"), ("birthdate", "1990-05-17")]);
    assert_eq!(eval_vars("stringConcat(lastname, \", \", birthdate)", &variables), Value::from("Muster, 1990-05-17"));
    assert_eq!(eval("stringConcat(\"only\")"), Value::from("only"));
    assert_eq!(eval("stringConcat(1, 2.0, true, null, \"\")"), Value::from("12.0true"));
    assert_eq!(eval("stringConcat(\"}\", \"x\")"), Value::from("}x"));
    let small = engine_with(Limits { max_output_bytes: 5, ..Limits::default() });
    assert_eq!(
        error_with(&small, "stringConcat(a, b)", &vars(&[("a", "abc"), ("b", "def")])),
        "the result would be 6 bytes, more than the limit of 5"
    );
}

#[test]
fn string_contains() {
    assert_eq!(eval("stringContains(\"Hello world\", \"o w\")"), Value::Bool(true));
    assert_eq!(eval("stringContains(\"Hello\", \"x\")"), Value::Bool(false));
    let variables = Variables::from_json(&serde_json::json!({"answers": ["red apple", "pear"]})).unwrap();
    assert_eq!(eval_vars("stringContains(answers, \"apple\")", &variables), Value::Bool(true));
    assert_eq!(eval_vars("stringContains(answers, \"plum\")", &variables), Value::Bool(false));
    assert_eq!(eval("stringContains(12345, 34)"), Value::Bool(true));
    assert_eq!(eval("stringContains(null, \"\")"), Value::Bool(true));
    assert_eq!(eval("stringContains(null, \"a\")"), Value::Bool(false));
    assert_eq!(eval("stringContains(\"abc\", null)"), Value::Bool(true));
}

#[test]
fn string_starts_and_ends_with() {
    assert_eq!(eval("stringStartsWith(\"Hello\", \"He\")"), Value::Bool(true));
    assert_eq!(eval("stringStartsWith(\"Hello\", \"lo\")"), Value::Bool(false));
    assert_eq!(eval("stringEndsWith(\"Hello\", \"lo\")"), Value::Bool(true));
    assert_eq!(eval("stringEndsWith(\"Hello\", \"He\")"), Value::Bool(false));
    assert_eq!(eval("stringStartsWith(null, \"\")"), Value::Bool(true));
    assert_eq!(eval("stringEndsWith(\"\", \"x\")"), Value::Bool(false));
    assert_eq!(eval("stringStartsWith(\"x\", null)"), Value::Bool(true));
    assert_eq!(eval("stringEndsWith(1.50, \".5\")"), Value::Bool(true));
}

#[test]
fn string_length() {
    assert_eq!(eval("stringLength(\"Hello\")"), Value::Int(5));
    // Unicode scalar values, not bytes or UTF-16 units.
    assert_eq!(eval("stringLength(\"Grüße 👋\")"), Value::Int(7));
    assert_eq!(eval("stringLength(null)"), Value::Int(0));
    assert_eq!(eval("stringLength(\"\")"), Value::Int(0));
    assert_eq!(eval("stringLength(3.0)"), Value::Int(3));
}

#[test]
fn string_case_and_trim() {
    assert_eq!(eval("stringToLowerCase(\"ÄrGER\")"), Value::from("ärger"));
    assert_eq!(eval("stringToUpperCase(\"straße\")"), Value::from("STRASSE"));
    assert_eq!(eval("stringTrim(\"  a b \t\")"), Value::from("a b"));
    assert_eq!(eval("stringToLowerCase(null)"), Value::from(""));
    assert_eq!(eval("stringToUpperCase(\"\")"), Value::from(""));
    assert_eq!(eval("stringTrim(null)"), Value::from(""));
    assert_eq!(eval("stringTrim(\"   \")"), Value::from(""));
    // As Java's String.trim: a no-break space is not trimmed.
    assert_eq!(eval("stringTrim(\"\u{a0}x \")"), Value::from("\u{a0}x"));
}

#[test]
fn substring() {
    assert_eq!(eval("substring(\"Hello\", 1, 3)"), Value::from("el"));
    assert_eq!(eval("substring(\"Hello\", 2)"), Value::from("llo"));
    assert_eq!(eval("substring(\"Grüße\", 2, 4)"), Value::from("üß"));
    // Clamped to the string.
    assert_eq!(eval("substring(\"Hello\", -2, 99)"), Value::from("Hello"));
    assert_eq!(eval("substring(\"Hello\", 4, 2)"), Value::from(""));
    assert_eq!(eval("substring(\"Hello\", 9)"), Value::from(""));
    // Null text is empty, a null start is 0, a null end means the end.
    assert_eq!(eval("substring(null, 0, 2)"), Value::from(""));
    assert_eq!(eval("substring(\"Hello\", null, 2)"), Value::from("He"));
    assert_eq!(eval("substring(\"Hello\", 1, null)"), Value::from("ello"));
    assert_eq!(eval("substring(\"Hello\", 1, \"\")"), Value::from("ello"));
    assert_eq!(eval("substring(\"Hello\", \"1\", \"2\")"), Value::from("e"));
    assert_eq!(
        error("substring(\"Hello\", \"one\")"),
        "argument 2 of substring must be a whole number: cannot convert \"one\" to a number"
    );
    assert_eq!(
        error("substring(\"Hello\", 0, \"two\")"),
        "argument 3 of substring must be a whole number: cannot convert \"two\" to a number"
    );
}

#[test]
fn string_replace() {
    assert_eq!(eval("stringReplace(\"a.b.c\", \".\", \"-\")"), Value::from("a-b-c"));
    assert_eq!(eval("stringReplace(\"aaa\", \"aa\", \"b\")"), Value::from("ba"));
    // The target is literal text, not a pattern.
    assert_eq!(eval("stringReplace(\"a+b\", \"+\", \" plus \")"), Value::from("a plus b"));
    // As Java: the empty target matches between all characters.
    assert_eq!(eval("stringReplace(\"ab\", \"\", \"-\")"), Value::from("-a-b-"));
    let variables = Variables::from_json(&serde_json::json!({"answers": ["a-1", "b-2"]})).unwrap();
    assert_eq!(eval_vars("stringReplace(answers, \"-\", \"\")", &variables), list(&["a1", "b2"]));
    assert_eq!(eval("stringReplace(null, \"x\", \"y\")"), Value::from(""));
    assert_eq!(eval("stringReplace(\"a-b\", \"-\", null)"), Value::from("ab"));
    let small = engine_with(Limits { max_output_bytes: 10, ..Limits::default() });
    assert_eq!(
        error_with(&small, "stringReplace(x, \"a\", \"aaaa\")", &vars(&[("x", "aaaa")])),
        "the result would be 16 bytes, more than the limit of 10"
    );
}

#[test]
fn string_replace_all() {
    assert_eq!(eval(r#"stringReplaceAll("2026-11-21", "(\d+)-(\d+)-(\d+)", "$3.$2.$1")"#), Value::from("21.11.2026"));
    assert_eq!(eval(r##"stringReplaceAll("a1b22c333", "\d+", "#")"##), Value::from("a#b#c#"));
    assert_eq!(eval(r#"stringReplaceAll("2026-11", "(?<y>\d{4})-(?<m>\d\d)", "${m}/${y}")"#), Value::from("11/2026"));
    // `$12` with two groups is group 1, then the digit 2 (Java's rule).
    assert_eq!(eval(r#"stringReplaceAll("ab", "(a)(b)", "$12")"#), Value::from("a2"));
    // `\$` is a dollar sign; a group that did not take part is empty.
    assert_eq!(eval(r#"stringReplaceAll("5", "(\d)(x)?", "\$$1$2")"#), Value::from("$5"));
    // Empty matches as in Java.
    assert_eq!(eval(r#"stringReplaceAll("abc", "x*", "-")"#), Value::from("-a-b-c-"));
    assert_eq!(eval(r#"stringReplaceAll("abc", "b*", "-")"#), Value::from("-a--c-"));
    assert_eq!(eval(r#"stringReplaceAll("äö", "", "-")"#), Value::from("-ä-ö-"));
    assert_eq!(eval(r#"stringReplaceAll("aaa", "a*?", "-")"#), Value::from("-a-a-a-"));
    assert_eq!(eval(r#"stringReplaceAll("xaax", "^x|x$", "")"#), Value::from("aa"));
    let variables = Variables::from_json(&serde_json::json!({"answers": ["a 1", "b  2"], "pattern": "("})).unwrap();
    assert_eq!(eval_vars(r#"stringReplaceAll(answers, "\s+", "_")"#, &variables), list(&["a_1", "b_2"]));
    assert_eq!(eval(r#"stringReplaceAll(null, "^$", "empty")"#), Value::from("empty"));
    assert_eq!(eval(r#"stringReplaceAll("a-b", "-", null)"#), Value::from("ab"));
    // A pattern from a variable fails when evaluated.
    assert_eq!(
        error_with(&Engine::new(), "stringReplaceAll(\"x\", pattern, \"\")", &variables),
        "invalid regular expression \"(\": unclosed group"
    );
    assert_eq!(
        error_with(&Engine::new(), "stringReplaceAll(\"abc\", pattern, \"$2\")", &vars(&[("pattern", "(b)")])),
        "invalid replacement \"$2\": there is no group 2: the pattern has 1"
    );
}

#[test]
fn string_replace_all_checks_literals_when_compiling() {
    let error = compile_error("stringReplaceAll(x, \"(\", \"\")");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert_eq!(error.message(), "invalid regular expression \"(\": unclosed group");
    assert!(error.to_string().starts_with("line 1, column 21: "), "{error}");
    // Look-around is not in the regex crate's language.
    assert!(compile_error(r#"stringReplaceAll(x, "a(?=b)", "")"#).message().contains("look-around"));
    let error = compile_error("stringReplaceAll(x, \"a\", \"$\")");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        error.message(),
        "invalid replacement \"$\": a $ must be followed by a group number or {name}; write \\$ for a dollar sign"
    );
    assert_eq!(compile_error("stringReplaceAll(x, \"(a)\", \"$2\")").kind(), ErrorKind::InvalidArgument);
    assert_eq!(compile_error("stringReplaceAll(x, \"(?<a>.)\", \"${b}\")").kind(), ErrorKind::InvalidArgument);
    assert_eq!(compile_error("stringReplaceAll(x, y, \"a\\\\\")").kind(), ErrorKind::InvalidArgument);
    // A variable pattern with a literal replacement compiles; so does a good literal.
    assert!(Engine::new().compile_expression("stringReplaceAll(x, y, \"$1\")").is_ok());
    assert!(Engine::new().compile_expression(r#"stringReplaceAll(x, "(\d)", "[$1]")"#).is_ok());
}

#[test]
fn string_replace_all_is_bounded() {
    let limits = Limits { max_regex_bytes: 1000, max_output_bytes: 20, ..Limits::default() };
    let engine = engine_with(limits);
    let variables = vars(&[("x", "aaaaaaaaaa"), ("big", "a{1000}{1000}")]);
    assert_eq!(
        error_with(&engine, "stringReplaceAll(x, big, \"\")", &variables),
        "the regular expression \"a{1000}{1000}\" compiles to more than the limit of 1000 bytes"
    );
    let expression = engine.compile_expression("stringReplaceAll(x, \"a\", \"bbb\")").unwrap();
    let error = expression.evaluate(&variables, &context()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Limit);
    assert!(error.message().contains("more than the limit of 20"), "{error}");
}

#[test]
fn string_split() {
    assert_eq!(eval("stringSplit(\"a,b,,c\", \",\")"), list(&["a", "b", "", "c"]));
    assert_eq!(eval("stringSplit(\"a, b\", \", \")"), list(&["a", "b"]));
    assert_eq!(eval("stringSplit(\"a,\", \",\")"), list(&["a", ""]));
    // The separator is literal text, not a pattern.
    assert_eq!(eval("stringSplit(\"1.2.3\", \".\")"), list(&["1", "2", "3"]));
    assert_eq!(eval("stringSplit(\"abc\", \"x\")"), list(&["abc"]));
    assert_eq!(eval("stringSplit(\"añb\", \"\")"), list(&["a", "ñ", "b"]));
    assert_eq!(eval("stringSplit(null, \",\")"), list(&[]));
    assert_eq!(eval("stringSplit(\"\", \",\")"), list(&[]));
    assert_eq!(eval("arrayLength(stringSplit(\"a b c\", \" \"))"), Value::Int(3));
    let engine = engine_with(Limits { max_list_len: 3, ..Limits::default() });
    assert_eq!(
        run(&engine, "stringSplit(\"a,b,c\", \",\")", &Variables::new(), &context()).unwrap(),
        list(&["a", "b", "c"])
    );
    let expression = engine.compile_expression("stringSplit(x, \",\")").unwrap();
    let error = expression.evaluate(&vars(&[("x", "a,b,c,d")]), &context()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Limit);
    assert_eq!(error.message(), "stringSplit would make more than the limit of 3 pieces");
    assert_eq!(error_with(&engine, "stringSplit(x, \"\")", &vars(&[("x", "abcd")])), error.message());
}

#[test]
fn string_join() {
    let variables = Variables::from_json(&serde_json::json!({"answers": ["red", "green", "blue"]})).unwrap();
    assert_eq!(eval_vars("stringJoin(answers, \", \")", &variables), Value::from("red, green, blue"));
    assert_eq!(eval("stringJoin(parseJson('[1, 2.5, null, true]'), \"|\")"), Value::from("1|2.5||true"));
    assert_eq!(eval("stringJoin(stringSplit(\"a-b\", \"-\"), null)"), Value::from("ab"));
    assert_eq!(eval("stringJoin(null, \",\")"), Value::from(""));
    assert_eq!(eval("stringJoin(\"\", \",\")"), Value::from(""));
    assert_eq!(eval("stringJoin(\"single\", \",\")"), Value::from("single"));
    let small = engine_with(Limits { max_output_bytes: 8, ..Limits::default() });
    assert_eq!(
        error_with(&small, "stringJoin(answers, \", \")", &variables),
        "the result would be 10 bytes, more than the limit of 8"
    );
}

#[test]
fn pad_zeroes() {
    assert_eq!(eval("padZeroes(\"12\", 4)"), Value::from("0012"));
    assert_eq!(eval("padZeroes(7, 3)"), Value::from("007"));
    assert_eq!(eval("padZeroes(\"12345\", 3)"), Value::from("12345"));
    assert_eq!(eval("padZeroes(\"ä\", 2)"), Value::from("0ä"));
    assert_eq!(eval("padZeroes(\"5\", -1)"), Value::from("5"));
    // The string form is padded; a sign is just a character.
    assert_eq!(eval("padZeroes(-5, 3)"), Value::from("0-5"));
    assert_eq!(eval("padZeroes(null, 3)"), Value::from("000"));
    assert_eq!(eval("padZeroes(\"\", 2)"), Value::from("00"));
    assert_eq!(eval("padZeroes(\"12\", null)"), Value::from("12"));
    assert_eq!(
        error("padZeroes(\"1\", \"four\")"),
        "argument 2 of padZeroes must be a whole number: cannot convert \"four\" to a number"
    );
    assert_eq!(
        error("padZeroes(\"1\", 100000000)"),
        "the result would be 100000000 bytes, more than the limit of 16777216"
    );
}

#[test]
fn url_encode() {
    assert_eq!(eval("urlEncode(\"EUR & more\")"), Value::from("EUR%20%26%20more"));
    assert_eq!(eval("urlEncode(\"a/b?c=d#e+f\")"), Value::from("a%2Fb%3Fc%3Dd%23e%2Bf"));
    assert_eq!(eval("urlEncode(\"Grüße-._~\")"), Value::from("Gr%C3%BC%C3%9Fe-._~"));
    assert_eq!(eval("urlEncode(null)"), Value::from(""));
    assert_eq!(eval("urlEncode(\"\")"), Value::from(""));
}

#[test]
fn base64() {
    assert_eq!(eval("base64Encode(\"Hello, Wörld\")"), Value::from("SGVsbG8sIFfDtnJsZA=="));
    assert_eq!(eval("base64Decode(\"SGVsbG8sIFfDtnJsZA==\")"), Value::from("Hello, Wörld"));
    assert_eq!(eval("base64Decode(base64Encode(\"a\"))"), Value::from("a"));
    assert_eq!(eval("base64Encode(null)"), Value::from(""));
    assert_eq!(eval("base64Encode(\"\")"), Value::from(""));
    assert_eq!(eval("base64Decode(null)"), Value::from(""));
    assert_eq!(eval("base64Decode(\"\")"), Value::from(""));
    assert_eq!(
        error("base64Decode(\"abcde\")"),
        "cannot decode \"abcde\" as base64: its length is not that of base64 text"
    );
    assert_eq!(
        error("base64Decode(\"ab$=\")"),
        "cannot decode \"ab$=\" as base64: '$' at offset 2 is not a base64 character"
    );
    assert_eq!(
        error("base64Decode(\"YQ\")"),
        "cannot decode \"YQ\" as base64: its padding is missing or wrong (standard base64 ends with = or ==)"
    );
    // URL-safe base64 is another alphabet.
    assert!(error("base64Decode(\"-_8=\")").contains("is not a base64 character"));
    assert_eq!(
        error("base64Decode(\"ab€=\")"),
        "cannot decode \"ab€=\" as base64: '€' at offset 2 is not a base64 character"
    );
    assert_eq!(error("base64Decode(\"/w==\")"), "base64 \"/w==\" decodes to bytes that are not UTF-8 text");
}

#[test]
fn sha256() {
    assert_eq!(
        eval("sha256(\"abc\")"),
        Value::from("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    );
    let empty = Value::from("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(eval("sha256(\"\")"), empty);
    assert_eq!(eval("sha256(null)"), empty);
}

#[test]
fn array_length() {
    let variables = Variables::from_json(&serde_json::json!({"answers": ["a", "b", "c"], "one": "x"})).unwrap();
    assert_eq!(eval_vars("arrayLength(answers)", &variables), Value::Int(3));
    assert_eq!(eval_vars("arrayLength(one)", &variables), Value::Int(1));
    assert_eq!(eval("arrayLength(parseJson('[]'))"), Value::Int(0));
    assert_eq!(eval("arrayLength(parseJson('{\"a\": 1, \"b\": 2}'))"), Value::Int(1));
    assert_eq!(eval("arrayLength(null)"), Value::Int(0));
    assert_eq!(eval("arrayLength(\"\")"), Value::Int(1));
}

#[test]
fn push_literal() {
    let variables = Variables::from_json(&serde_json::json!({"cart": ["apple", "pear"]})).unwrap();
    assert_eq!(
        eval_vars("pushLiteral(cart, 5)", &variables),
        Value::list(vec![Value::from("apple"), Value::from("pear"), Value::Int(5)])
    );
    assert_eq!(eval("pushLiteral(null, \"a\")"), list(&["a"]));
    assert_eq!(eval("pushLiteral(\"x\", \"y\")"), list(&["x", "y"]));
    assert_eq!(eval("pushLiteral(\"\", \"y\")"), list(&["", "y"]));
    assert_eq!(eval("pushLiteral(pushLiteral(null, null), \"\")"), Value::list(vec![Value::Null, Value::from("")]));
    let engine = engine_with(Limits { max_list_len: 2, ..Limits::default() });
    assert_eq!(
        error_with(&engine, "pushLiteral(cart, \"plum\")", &variables),
        "pushLiteral would make a list of more than the limit of 2 elements"
    );
}

#[test]
fn push_variable() {
    let mut variables = Variables::from_json(&serde_json::json!({"cart": ["apple"], "item": "pear"})).unwrap();
    assert_eq!(eval_vars("pushVariable(cart, \"item\")", &variables), list(&["apple", "pear"]));
    assert_eq!(eval_vars("pushVariable(null, \"item\")", &variables), list(&["pear"]));
    assert_eq!(
        eval_vars("pushVariable(cart, \"missing\")", &variables),
        Value::list(vec![Value::from("apple"), Value::Null])
    );
    assert_eq!(eval_vars("pushVariable(cart, null)", &variables), Value::list(vec![Value::from("apple"), Value::Null]));
    // It reads the variable when evaluated, even with constant arguments.
    let expression = Engine::new().compile_expression("pushVariable(null, \"item\")").unwrap();
    variables.set("item", Value::from("plum"));
    assert_eq!(expression.evaluate(&variables, &context()).unwrap(), list(&["plum"]));
    let engine = engine_with(Limits { max_list_len: 1, ..Limits::default() });
    assert_eq!(
        error_with(&engine, "pushVariable(cart, \"item\")", &variables),
        "pushVariable would make a list of more than the limit of 1 elements"
    );
}

// ---------------------------------------------------------------------------------------
// Numbers

#[test]
fn increment() {
    assert_eq!(eval("increment(4)"), Value::Int(5));
    assert_eq!(eval("increment(\"4\", 2)"), Value::Int(6));
    assert_eq!(eval("increment(1.5)"), Value::Float(2.5));
    assert_eq!(eval("increment(10, \"-0.5\")"), Value::Float(9.5));
    assert_eq!(eval("increment(null)"), Value::Int(1));
    assert_eq!(eval("increment(\"\")"), Value::Int(1));
    assert_eq!(eval("increment(3, null)"), Value::Int(4));
    assert_eq!(eval("increment(3, \"\")"), Value::Int(4));
    assert_eq!(eval("increment(3, 0)"), Value::Int(3));
    assert_eq!(
        error("increment(\"abc\")"),
        "argument 1 of increment must be a number: cannot convert \"abc\" to a number"
    );
    assert_eq!(
        error("increment(1, \"x\")"),
        "argument 2 of increment must be a number: cannot convert \"x\" to a number"
    );
    assert_eq!(
        error("increment(true)"),
        "argument 1 of increment must be a number: cannot convert boolean true to a number"
    );
    assert_eq!(
        error("increment(9223372036854775807)"),
        "integer overflow: 9223372036854775807 + 1 does not fit in 64 bits"
    );
}

#[test]
fn max_and_min() {
    assert_eq!(eval("max(3, 7)"), Value::Int(7));
    assert_eq!(eval("min(3, 7)"), Value::Int(3));
    // Strings are compared as numbers: "10" is more than "9".
    assert_eq!(eval("max(\"9\", \"10\")"), Value::Int(10));
    assert_eq!(eval("min(\"9\", \"10\")"), Value::Int(9));
    assert_eq!(eval("max(2, 2.5)"), Value::Float(2.5));
    assert_eq!(eval("min(2, 2.5)"), Value::Float(2.0));
    assert_eq!(eval("max(-0.0, 0.0)").to_text(), "0.0");
    assert_eq!(eval("min(0.0, -0.0)").to_text(), "-0.0");
    assert_eq!(eval("max(1, 0.0 / 0)").to_text(), "NaN");
    assert_eq!(eval("max(round(1, 2), 1)"), eval("round(1, 2)"));
    assert_eq!(eval("min(null, 5)"), Value::Int(0));
    assert_eq!(eval("max(\"\", -5)"), Value::Int(0));
    assert_eq!(error("max(\"a\", 1)"), "argument 1 of max must be a number: cannot convert \"a\" to a number");
    assert_eq!(error("min(1, \"b\")"), "argument 2 of min must be a number: cannot convert \"b\" to a number");
}

#[test]
fn abs() {
    assert_eq!(eval("abs(-5)"), Value::Int(5));
    assert_eq!(eval("abs(\"-2.5\")"), Value::Float(2.5));
    assert_eq!(eval("abs(round(-1.5, 1))").to_text(), "1.5");
    assert_eq!(eval("abs(null)"), Value::Int(0));
    assert_eq!(eval("abs(\"\")"), Value::Int(0));
    assert_eq!(error("abs(-9223372036854775807 - 1)"), "abs(-9223372036854775808) does not fit in a 64-bit integer");
    assert_eq!(error("abs(\"minus\")"), "argument 1 of abs must be a number: cannot convert \"minus\" to a number");
}

#[test]
fn floor_and_ceil() {
    assert_eq!(eval("floor(2.7)"), Value::Int(2));
    assert_eq!(eval("floor(-2.1)"), Value::Int(-3));
    assert_eq!(eval("ceil(2.1)"), Value::Int(3));
    assert_eq!(eval("ceil(-2.7)"), Value::Int(-2));
    assert_eq!(eval("floor(\"5\")"), Value::Int(5));
    assert_eq!(eval("ceil(\"4.2\")"), Value::Int(5));
    assert_eq!(eval("ceil(round(2.01, 2))"), Value::Int(3));
    assert_eq!(eval("floor(null)"), Value::Int(0));
    assert_eq!(eval("ceil(\"\")"), Value::Int(0));
    assert_eq!(error("floor(1e30)"), "floor(1.0E30) does not fit in a 64-bit integer");
    assert_eq!(error("ceil(1.0 / 0)"), "ceil(Infinity) does not fit in a 64-bit integer");
    assert_eq!(error("floor(\"x\")"), "argument 1 of floor must be a number: cannot convert \"x\" to a number");
}

#[test]
fn round_to_an_integer() {
    assert_eq!(eval("round(2.5)"), Value::Int(3));
    assert_eq!(eval("round(null)"), Value::Int(0));
    assert_eq!(eval("round(-2.5)"), Value::Int(-3));
    assert_eq!(eval("round(2.4999)"), Value::Int(2));
    assert_eq!(eval("round(\"7.5\")"), Value::Int(8));
    assert_eq!(eval("round(41)"), Value::Int(41));
    assert_eq!(eval("round(\"\")"), Value::Int(0));
    assert_eq!(error("round(0.0 / 0)"), "round(NaN) does not fit in a 64-bit integer");
    assert_eq!(error("round(\"x\")"), "argument 1 of round must be a number: cannot convert \"x\" to a number");
}

#[test]
fn round_to_digits() {
    let rounded = eval("round(2.6666, 2)");
    assert_eq!(rounded.to_text(), "2.67");
    assert!(matches!(rounded, Value::Decimal(_)));
    let two = eval("round(2.0, 2)");
    assert_eq!(two.to_text(), "2.00");
    // JSON output keeps the places.
    assert_eq!(two.to_json().unwrap().to_string(), "2.00");
    assert_eq!(text("round(1.005, 2)"), "1.01");
    assert_eq!(text("round(-2.345, 2)"), "-2.35");
    assert_eq!(text("round(-0.001, 2)"), "0.00");
    assert_eq!(text("round(5, 3)"), "5.000");
    assert_eq!(text("round(\"3.14159\", 4)"), "3.1416");
    assert_eq!(text("round(round(2.6666, 3), 2)"), "2.67");
    assert_eq!(text("round(2.5, 0)"), "3");
    assert_eq!(text("round(null, 2)"), "0.00");
    assert_eq!(text("round(\"\", 1)"), "0.0");
    // Digits that are null or empty are left out: an integer.
    assert_eq!(eval("round(2.6666, null)"), Value::Int(3));
    assert_eq!(eval("round(2.6666, \"\")"), Value::Int(3));
    assert_eq!(error("round(1, 29)"), "round can keep 0 to 28 digits, not 29");
    assert_eq!(error("round(1, -1)"), "round can keep 0 to 28 digits, not -1");
    assert_eq!(error("round(1e30, 2)"), "round(1.0E30, 2) does not fit in a decimal");
    assert_eq!(error("round(10000000000, 28)"), "round(10000000000, 28) does not fit in a decimal");
    assert_eq!(error("round(1.0 / 0, 2)"), "cannot round Infinity to a decimal");
    assert_eq!(
        error("round(1, \"two\")"),
        "argument 2 of round must be a whole number: cannot convert \"two\" to a number"
    );
}

#[test]
fn random_int_is_seeded_and_in_range() {
    let expression = Engine::new().compile_expression("randomInt(1, 6)").unwrap();
    let draw = |context: &Context| -> Vec<i64> {
        (0..50)
            .map(|_| match expression.evaluate(&Variables::new(), context).unwrap() {
                Value::Int(value) => value,
                other => panic!("randomInt gave {other:?}"),
            })
            .collect()
    };
    let first = draw(&context());
    assert_eq!(first, draw(&context()), "the same seed gives the same numbers");
    assert!(first.iter().all(|value| (1..=6).contains(value)), "{first:?}");
    // Both ends of the closed range come up, and more than one value.
    assert!(first.contains(&1) && first.contains(&6), "{first:?}");
    assert_ne!(first, draw(&context_with(r#"{"seed": 7}"#)));
    assert_eq!(eval("randomInt(5, 5)"), Value::Int(5));
    assert_eq!(eval("randomInt(-9223372036854775807 - 1, -9223372036854775807 - 1)"), Value::Int(i64::MIN));
    assert!(matches!(eval("randomInt(\"-3\", \"3\")"), Value::Int(-3..=3)));
    assert_eq!(eval("randomInt(null, \"\")"), Value::Int(0));
    assert_eq!(error("randomInt(3, 1)"), "randomInt(3, 1): the lower bound 3 is greater than the upper bound 1");
    assert_eq!(
        error("randomInt(\"a\", 1)"),
        "argument 1 of randomInt must be a whole number: cannot convert \"a\" to a number"
    );
}

// ---------------------------------------------------------------------------------------
// Dates and times

#[test]
fn today_and_now() {
    assert_eq!(eval("localDate()"), Value::from("2026-11-21"));
    assert_eq!(eval("isoLocalDate()"), Value::from("2026-11-21"));
    assert_eq!(eval("isoLocalDateTime()"), Value::from("2026-11-21T11:15:30.123"));
    assert_eq!(eval("localDateYear()"), Value::Int(2026));
    assert_eq!(eval("localDateDayOfMonth()"), Value::Int(21));
    assert_eq!(eval("localDateDayOfYear()"), Value::Int(325));
    assert_eq!(eval("localDateDayOfWeek()"), Value::Int(6));
    assert_eq!(eval("now()"), Value::Int(1_795_256_130_123));
}

#[test]
fn today_is_in_the_context_time_zone() {
    let late = r#"{"now": "2026-11-21T23:30:00Z"}"#;
    assert_eq!(eval_in("localDate()", &context_with(late)), Value::from("2026-11-22"));
    assert_eq!(eval_in("localDateDayOfWeek()", &context_with(late)), Value::Int(7));
    assert_eq!(eval_in("isoLocalDateTime()", &context_with(late)), Value::from("2026-11-22T00:30:00.000"));
    let utc = context_with(r#"{"now": "2026-11-21T23:30:00Z", "time_zone": "UTC"}"#);
    assert_eq!(eval_in("localDate()", &utc), Value::from("2026-11-21"));
    assert_eq!(eval_in("localDateDayOfYear()", &utc), Value::Int(325));
    // Without a zone the context is in UTC.
    let bare = Context::from_json(r#"{"now": "2026-12-31T23:59:59.999Z"}"#).unwrap();
    assert_eq!(eval_in("isoLocalDateTime()", &bare), Value::from("2026-12-31T23:59:59.999"));
    assert_eq!(eval_in("localDateDayOfYear()", &bare), Value::Int(365));
    assert_eq!(eval_in("now()", &bare), Value::Int(1_798_761_599_999));
}

#[test]
fn date_functions_are_not_folded_at_compile_time() {
    let expression = Engine::new().compile_expression("localDate()").unwrap();
    assert_eq!(expression.evaluate(&Variables::new(), &context()).unwrap(), Value::from("2026-11-21"));
    let later = context_with(r#"{"now": "2027-01-02T12:00:00Z"}"#);
    assert_eq!(expression.evaluate(&Variables::new(), &later).unwrap(), Value::from("2027-01-02"));
}

#[test]
fn formatted_dates() {
    assert_eq!(eval("formattedDateToday()"), Value::from("21.11.26"));
    assert_eq!(eval("formattedDateTomorrow()"), Value::from("22.11.26"));
    let english = context_with(r#"{"locale": "en"}"#);
    assert_eq!(eval_in("formattedDateToday()", &english), Value::from("11/21/26"));
    assert_eq!(eval_in("formattedDateTomorrow()", &english), Value::from("11/22/26"));
    let new_year = context_with(r#"{"locale": "en-US", "now": "2026-12-31T12:00:00Z"}"#);
    assert_eq!(eval_in("formattedDateTomorrow()", &new_year), Value::from("1/1/27"));
    let cases = [
        ("de-CH", "21.11.26"),
        ("en-GB", "21/11/2026"),
        ("fr", "21/11/2026"),
        ("it", "21/11/26"),
        ("nl", "21-11-2026"),
        ("ja", "2026-11-21"),
    ];
    for (locale, expected) in cases {
        let context = context_with(&format!(r#"{{"locale": "{locale}"}}"#));
        assert_eq!(eval_in("formattedDateToday()", &context), Value::from(expected), "{locale}");
    }
}

#[test]
fn customer_age_years() {
    let age = |birthdate: &str| eval_vars("customerAgeYears()", &vars(&[("birthdate", birthdate)]));
    assert_eq!(age("1990-05-17"), Value::Int(36));
    assert_eq!(age("17.05.1990"), Value::Int(36));
    assert_eq!(age("17/05/1990"), Value::Int(36));
    assert_eq!(age(" 7.5.1990 "), Value::Int(36));
    // The birthday is today; tomorrow's is still to come.
    assert_eq!(age("21.11.1990"), Value::Int(36));
    assert_eq!(age("22.11.1990"), Value::Int(35));
    assert_eq!(age("2026-11-21"), Value::Int(0));
    // Unset, empty, unreadable, impossible and future birthdates give null.
    assert_eq!(eval("customerAgeYears()"), Value::Null);
    for unreadable in ["", "yesterday", "1990-5-17", "17.05.90", "30.02.1990", "2027-01-01"] {
        assert_eq!(age(unreadable), Value::Null, "{unreadable:?}");
    }
    // A 29 February birthday comes on 1 March in other years, as java.time's Period counts.
    let leap = vars(&[("birthdate", "29.02.2000")]);
    let on = |now: &str| {
        let context = context_with(&format!(r#"{{"now": "{now}"}}"#));
        run(&Engine::new(), "customerAgeYears()", &leap, &context).unwrap()
    };
    assert_eq!(on("2025-02-28T12:00:00Z"), Value::Int(24));
    assert_eq!(on("2025-03-01T12:00:00Z"), Value::Int(25));
    assert_eq!(on("2028-02-29T12:00:00Z"), Value::Int(28));
}

#[test]
fn convert_timestamp_ms_to_date_time() {
    assert_eq!(
        eval("convertTimestampMsToDateTime(1700000000000, \"yyyy-MM-dd HH:mm:ss\", \"Europe/Berlin\")"),
        Value::from("2023-11-14 23:13:20")
    );
    assert_eq!(
        eval("convertTimestampMsToDateTime(\"1700000000123\", \"dd.MM.yy'T'HH:mm:ss.SSSXXX\", \"America/New_York\")"),
        Value::from("14.11.23T17:13:20.123-05:00")
    );
    assert_eq!(
        eval("convertTimestampMsToDateTime(-1, \"yyyy-MM-dd'T'HH:mm:ss.SSSX\", \"UTC\")"),
        Value::from("1969-12-31T23:59:59.999Z")
    );
    // Null milliseconds are 0; a null or empty zone is the context's.
    assert_eq!(
        eval("convertTimestampMsToDateTime(null, \"yyyy-MM-dd HH:mm\", \"UTC\")"),
        Value::from("1970-01-01 00:00")
    );
    assert_eq!(eval("convertTimestampMsToDateTime(0, \"HH:mm VV\", null)"), Value::from("01:00 Europe/Berlin"));
    assert_eq!(eval("convertTimestampMsToDateTime(0, \"HH:mm\", \"\")"), Value::from("01:00"));
    assert_eq!(eval("convertTimestampMsToDateTime(0, null, \"UTC\")"), Value::from(""));
    let variables = vars(&[("zone", "Mars/Base"), ("pattern", "yyyy-MM-ddTHH")]);
    assert_eq!(
        error_with(&Engine::new(), "convertTimestampMsToDateTime(0, \"yyyy\", zone)", &variables),
        "unknown time zone \"Mars/Base\""
    );
    assert_eq!(
        error_with(&Engine::new(), "convertTimestampMsToDateTime(0, pattern, \"UTC\")", &variables),
        "unknown date pattern letter 'T' in \"yyyy-MM-ddTHH\"; to write it as text, quote it: 'T'"
    );
    assert_eq!(
        error("convertTimestampMsToDateTime(9223372036854775807, \"yyyy\", \"UTC\")"),
        "the timestamp 9223372036854775807 ms is outside the supported range of dates"
    );
    assert_eq!(
        error("convertTimestampMsToDateTime(\"soon\", \"yyyy\", \"UTC\")"),
        "argument 1 of convertTimestampMsToDateTime must be a whole number: cannot convert \"soon\" to a number"
    );
}

#[test]
fn format_date() {
    assert_eq!(eval("formatDate(\"2026-11-21\", \"dd.MM.yyyy\")"), Value::from("21.11.2026"));
    assert_eq!(eval("formatDate(\"2026-03-21\", \"EEEE, d. MMMM yyyy\")"), Value::from("Samstag, 21. März 2026"));
    let english = context_with(r#"{"locale": "en"}"#);
    assert_eq!(eval_in("formatDate(\"2026-03-21\", \"EEE, MMM d, yyyy\")", &english), Value::from("Sat, Mar 21, 2026"));
    // An instant (epoch milliseconds, or a date-time with Z or an offset) is shown in the zone...
    assert_eq!(
        eval("formatDate(1700000000000, \"yyyy-MM-dd'T'HH:mm:ssXXX\", \"UTC\")"),
        Value::from("2023-11-14T22:13:20Z")
    );
    assert_eq!(eval("formatDate(\"1700000000000\", \"HH:mm\")"), Value::from("23:13"));
    assert_eq!(eval("formatDate(\"2026-11-21T10:15:30Z\", \"HH:mm\", \"America/New_York\")"), Value::from("05:15"));
    assert_eq!(eval("formatDate(\"2026-11-21T10:15:30+05:30\", \"HH:mm:ss\", \"UTC\")"), Value::from("04:45:30"));
    // ...a date-time without an offset keeps its wall-clock time, placed in the zone.
    assert_eq!(eval("formatDate(\"2026-11-21T10:15:30.5\", \"HH:mm:ss.SSS XXX\")"), Value::from("10:15:30.500 +01:00"));
    assert_eq!(eval("formatDate(\"2026-07-01 08:00\", \"HH:mm Z\", \"Europe/Berlin\")"), Value::from("08:00 +0200"));
    assert_eq!(eval("formatDate(\"2026-11-21\", \"yyyy-MM-dd HH:mm\")"), Value::from("2026-11-21 00:00"));
    // Quoted text and quotes.
    assert_eq!(eval("formatDate(\"2026-11-21T09:05\", \"'um' H 'Uhr' mm, ''yy\")"), Value::from("um 9 Uhr 05, '26"));
    // Null and empty text are no date: the result is null.
    assert_eq!(eval("formatDate(null, \"dd.MM.yyyy\")"), Value::Null);
    assert_eq!(eval("formatDate(\"\", \"dd.MM.yyyy\")"), Value::Null);
    assert_eq!(
        error("formatDate(\"21.11.2026\", \"yyyy\")"),
        "cannot read \"21.11.2026\" as a date: expected an ISO date (2026-11-21), an ISO date-time \
         (2026-11-21T10:15:30, with Z or an offset for an instant) or epoch milliseconds"
    );
    assert!(error("formatDate(true, \"yyyy\")").starts_with("cannot read boolean true as a date"));
    assert_eq!(
        error_with(&Engine::new(), "formatDate(\"2026-11-21\", \"yyyy\", zone)", &vars(&[("zone", "Europe/Berlín")])),
        "unknown time zone \"Europe/Berlín\""
    );
    assert_eq!(
        error_with(&Engine::new(), "formatDate(\"2026-11-21\", pattern)", &vars(&[("pattern", "dd.MM.yyyy G")])),
        "the date pattern letter 'G' (in \"dd.MM.yyyy G\") is not supported"
    );
}

#[test]
fn dates_at_the_ends_of_the_range_fail_cleanly() {
    let range = "the date is outside the supported range of dates (the years -262143 to 262142)";
    // The largest instant chrono holds, 14 hours ahead, is past the last date it holds.
    assert_eq!(error("convertTimestampMsToDateTime(8210266876799999, \"yyyy-MM-dd\", \"Pacific/Kiritimati\")"), range);
    assert_eq!(eval("convertTimestampMsToDateTime(8210266876799999, \"yyyy\", \"UTC\")"), Value::from("+262142"));
    assert_eq!(error("formatDate(\"-262143-01-01T00:00\", \"yyyy\", \"Etc/GMT-14\")"), range);
    let first_day = context_with(r#"{"now": "-262143-01-01T00:00:00Z", "time_zone": "Etc/GMT+12"}"#);
    let expression = Engine::new().compile_expression("localDate()").unwrap();
    assert_eq!(expression.evaluate(&Variables::new(), &first_day).unwrap_err().message(), range);
}

#[test]
fn date_patterns_and_zones_are_checked_when_compiling() {
    let error = compile_error("formatDate(x, \"yyyy-MM-dd\", \"Mars/Base\")");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert_eq!(error.message(), "unknown time zone \"Mars/Base\"");
    let error = compile_error("convertTimestampMsToDateTime(x, \"yyyy-MM-ddTHH:mm\", \"UTC\")");
    assert_eq!(error.kind(), ErrorKind::InvalidArgument);
    assert!(error.message().contains("'T'"), "{error}");
    assert_eq!(
        compile_error("convertTimestampMsToDateTime(x, \"yyyy\", \"Europe/Nowhere\")").kind(),
        ErrorKind::InvalidArgument
    );
    // IANA names only: a fixed offset is not a zone here (Java's ZoneId.of would take it).
    assert_eq!(compile_error("formatDate(x, \"HH\", \"+01:00\")").message(), "unknown time zone \"+01:00\"");
    assert_eq!(compile_error("formatDate(x, \"HH\", \"europe/berlin\")").kind(), ErrorKind::InvalidArgument);
    assert_eq!(eval("formatDate(\"2026-11-21T10:00Z\", \"HH:mm XXX\", \"Etc/GMT-1\")"), Value::from("11:00 +01:00"));
    assert_eq!(
        compile_error("formatDate(x, \"ddd\")").message(),
        "the date pattern \"ddd\" has too many letters 'd': ddd"
    );
    assert_eq!(
        compile_error("formatDate(x, \"'open\")").message(),
        "the date pattern \"'open\" has a quote that is not closed"
    );
    assert_eq!(compile_error("formatDate(x, \"yyyy[-MM]\")").kind(), ErrorKind::InvalidArgument);
    // Good literals, and patterns or zones from variables, compile.
    for source in [
        "formatDate(x, \"yyyy-MM-dd'T'HH:mm:ss.SSSXXX\", \"Asia/Kolkata\")",
        "formatDate(x, pattern, zone)",
        "convertTimestampMsToDateTime(x, \"EEEE d. MMMM yyyy, hh:mm a\", null)",
    ] {
        assert!(Engine::new().compile_expression(source).is_ok(), "{source}");
    }
}

// ---------------------------------------------------------------------------------------
// The chat runtime

#[test]
fn params() {
    assert_eq!(eval("getParam(\"campaign\")"), Value::from("winter"));
    assert_eq!(eval("getParam(\"missing\")"), Value::Null);
    assert_eq!(eval("getParam(null)"), Value::Null);
    assert_eq!(eval("getParam(\"\")"), Value::Null);
}

#[test]
fn context_strings() {
    let cases = [
        ("clientLocale()", "de"),
        ("displayLanguage()", "de"),
        ("tenantName()", "Acme"),
        ("ipAddress()", "203.0.113.7"),
        ("userAgent()", "Mozilla/5.0 (iPhone)"),
        ("senderId()", "sender-1"),
        ("signInToken()", "token-1"),
        ("postbackPayloadValue()", "BUY"),
        ("newsletterDoubleOptInUrl()", "https://acme.example/doi/newsletter"),
        ("profilingDoubleOptInUrl()", "https://acme.example/doi/profiling"),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(source), Value::from(expected), "{source}");
    }
    let swiss = context_with(r#"{"locale": "de-CH", "display_language": "fr"}"#);
    assert_eq!(eval_in("clientLocale()", &swiss), Value::from("de-CH"));
    assert_eq!(eval_in("displayLanguage()", &swiss), Value::from("fr"));
    // A context that holds none of them: the locale defaults to en, the rest is null.
    let empty = Context::default();
    assert_eq!(eval_in("clientLocale()", &empty), Value::from("en"));
    assert_eq!(eval_in("displayLanguage()", &empty), Value::from("en"));
    for (source, _) in &cases[2..] {
        assert_eq!(eval_in(source, &empty), Value::Null, "{source}");
    }
}

#[test]
fn client_and_page() {
    assert_eq!(eval("isMobile()"), Value::Bool(true));
    assert_eq!(eval("locationHrefHost()"), Value::from("Shop.Example.org"));
    assert_eq!(eval("locationHrefHostLowerCase()"), Value::from("shop.example.org"));
    assert_eq!(eval("locationHrefPath()"), Value::from("/Winter/Sale"));
    assert_eq!(eval("locationHrefPathLowerCase()"), Value::from("/winter/sale"));
    let bare = context_with(r#"{"client": {"location_href": "https://example.org"}}"#);
    assert_eq!(eval_in("locationHrefHost()", &bare), Value::from("example.org"));
    assert_eq!(eval_in("locationHrefPath()", &bare), Value::from(""));
    let empty = Context::default();
    assert_eq!(eval_in("isMobile()", &empty), Value::Bool(false));
    for source in
        ["locationHrefHost()", "locationHrefPath()", "locationHrefHostLowerCase()", "locationHrefPathLowerCase()"]
    {
        assert_eq!(eval_in(source, &empty), Value::Null, "{source}");
    }
    let unreadable = context_with(r#"{"client": {"location_href": "not a url"}}"#);
    assert_eq!(eval_in("locationHrefHost()", &unreadable), Value::Null);
}

#[test]
fn runtime_functions_read_the_context_when_evaluated() {
    let expression = Engine::new().compile_expression("getParam(\"campaign\")").unwrap();
    assert_eq!(expression.evaluate(&Variables::new(), &context()).unwrap(), Value::from("winter"));
    let other = context_with(r#"{"params": {"campaign": "summer"}}"#);
    assert_eq!(expression.evaluate(&Variables::new(), &other).unwrap(), Value::from("summer"));
}

#[test]
fn has_bpmn_process_variable() {
    let mut variables = vars(&[("order_id", "A-1"), ("blank", ""), ("space", " ")]);
    variables.set("none", Value::list(Vec::new()));
    assert_eq!(eval_vars("hasBpmnProcessVariable(\"order_id\")", &variables), Value::Bool(true));
    assert_eq!(eval_vars("hasBpmnProcessVariable(\"space\")", &variables), Value::Bool(true));
    assert_eq!(eval_vars("hasBpmnProcessVariable(\"blank\")", &variables), Value::Bool(false));
    assert_eq!(eval_vars("hasBpmnProcessVariable(\"none\")", &variables), Value::Bool(false));
    assert_eq!(eval_vars("hasBpmnProcessVariable(\"missing\")", &variables), Value::Bool(false));
    assert_eq!(eval_vars("hasBpmnProcessVariable(null)", &variables), Value::Bool(false));
}

#[test]
fn translations() {
    assert_eq!(eval("i18nTranslate(\"greeting\")"), Value::from("Hallo ${firstname}!"));
    assert_eq!(eval("i18nTranslate(\"missing\")"), Value::Null);
    assert_eq!(eval("i18nTranslate(null)"), Value::Null);
    let english = context_with(r#"{"locale": "en-GB"}"#);
    assert_eq!(eval_in("i18nTranslate(\"greeting\")", &english), Value::from("Hello ${firstname}!"));
    let swiss = context_with(r#"{"locale": "de-CH", "display_language": "de-CH"}"#);
    assert_eq!(eval_in("i18nTranslate(\"greeting\")", &swiss), Value::from("Hallo ${firstname}!"));
    let french = context_with(r#"{"display_language": "fr"}"#);
    assert_eq!(eval_in("i18nTranslate(\"greeting\")", &french), Value::Null);
}

#[test]
fn interpolate() {
    let variables = vars(&[("firstname", "Anna")]);
    assert_eq!(eval_vars("interpolate(\"greeting\")", &variables), Value::from("Hallo Anna!"));
    assert_eq!(eval("interpolate(\"greeting\")"), Value::from("Hallo !"));
    assert_eq!(eval("interpolate(\"missing\")"), Value::Null);
    assert_eq!(eval("interpolate(\"\")"), Value::Null);
    assert!(error("interpolate(\"broken\")").contains("cannot convert \"x\" to an integer"));
    let engine = Engine::new();
    let error = engine
        .compile_expression("interpolate(\"loop\")")
        .unwrap()
        .evaluate(&Variables::new(), &context())
        .unwrap_err();
    assert!(error.message().contains("nest more than 8 levels"), "{error}");
}

#[test]
fn customer_state_and_consent() {
    let cases = [
        ("isAuthenticated()", true),
        ("hasDeniedAnySingleOptIn()", true),
        ("newsletterSingleOptIn()", true),
        ("newsletterSingleOptIn(\"sports\")", true),
        ("newsletterSingleOptIn(\"news\")", false),
        ("newsletterSingleOptIn(null)", true),
        ("newsletterSingleOptIn(\"\")", true),
        ("newsletterDoubleOptIn()", false),
        ("newsletterDoubleOptIn(\"news\")", true),
        ("newsletterDoubleOptIn(\"sports\")", false),
        ("profilingSingleOptIn()", true),
        ("profilingDoubleOptIn()", false),
        ("reminderSingleOptIn()", true),
        ("smsSingleOptIn()", false),
        ("smsDoubleOptIn()", true),
        ("webPushSingleOptIn()", true),
        ("webPushDoubleOptIn()", false),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(source), Value::Bool(expected), "{source}");
        assert_eq!(eval_in(source, &Context::default()), Value::Bool(false), "{source} without consent");
    }
}

#[test]
fn participations() {
    assert_eq!(eval("numParticipations()"), Value::Int(3));
    assert_eq!(eval("numParticipationsBpmnProcess()"), Value::Int(1));
    assert_eq!(eval_in("numParticipations()", &Context::default()), Value::Int(0));
    assert_eq!(eval_in("numParticipationsBpmnProcess()", &Context::default()), Value::Int(0));
}

struct Vault(HashMap<&'static str, &'static str>);

impl SecretResolver for Vault {
    fn resolve(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|value| value.to_string())
    }
}

#[test]
fn secrets() {
    let vault = Arc::new(Vault(HashMap::from([("API_KEY", "s3cr3t-value")])));
    let with_vault = context().with_secrets(vault);
    assert_eq!(eval_in("secret(\"API_KEY\")", &with_vault), Value::from("s3cr3t-value"));
    assert_eq!(
        eval_in("stringConcat(\"Bearer \", secret(\"API_KEY\"))", &with_vault),
        Value::from("Bearer s3cr3t-value")
    );
    let expression = Engine::new().compile_expression("secret(\"NOPE\")").unwrap();
    let unknown = expression.evaluate(&Variables::new(), &with_vault).unwrap_err();
    assert_eq!(unknown.message(), "unknown secret \"NOPE\"");
    assert!(!unknown.to_string().contains("s3cr3t"), "{unknown}");
    assert_eq!(
        error("secret(\"API_KEY\")"),
        "secret \"API_KEY\" is not available here: secrets are read only when a request is sent (courier send, or a Context with a secret resolver), so that eval and render never print one"
    );
    assert_eq!(
        error("secret(null)"),
        "secret \"\" is not available here: secrets are read only when a request is sent (courier send, or a Context with a secret resolver), so that eval and render never print one"
    );
}
