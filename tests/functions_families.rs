//! The function families of issue #14 (fallbacks, dates, locale numbers, lists, JSON,
//! regex, validators, hashes and encodings, strings) through the public API, pinning
//! the edge cases the issue names. Every test runs against a fixed context.

use courier::{Context, Engine, Error, ErrorKind, Limits, Value, Variables};

fn context() -> Context {
    Context::from_json(
        r#"{"now": "2026-11-21T10:15:30.123Z", "time_zone": "Europe/Berlin", "locale": "de", "seed": 7}"#,
    )
    .unwrap()
}

fn run(engine: &Engine, source: &str, variables: &Variables, context: &Context) -> Result<Value, Error> {
    engine.compile_expression(source)?.evaluate(variables, context)
}

fn eval(source: &str) -> Value {
    run(&Engine::new(), source, &Variables::new(), &context()).unwrap_or_else(|error| panic!("{source}: {error}"))
}

fn eval_vars(source: &str, variables: &Variables) -> Value {
    run(&Engine::new(), source, variables, &context()).unwrap_or_else(|error| panic!("{source}: {error}"))
}

fn text(source: &str) -> String {
    eval(source).to_text()
}

/// The message of an evaluation error (it compiles, then fails).
fn error(source: &str) -> String {
    let expression = Engine::new().compile_expression(source).unwrap_or_else(|error| panic!("{source}: {error}"));
    match expression.evaluate(&Variables::new(), &context()) {
        Ok(value) => panic!("{source} should fail, but gave {value:?}"),
        Err(error) => {
            assert!(matches!(error.kind(), ErrorKind::Evaluation | ErrorKind::Limit), "{source}: {error}");
            error.message().to_owned()
        }
    }
}

/// The message of an expression that must not compile (a literal argument that can never work).
fn compile_error(source: &str) -> String {
    match Engine::new().compile_expression(source) {
        Ok(_) => panic!("{source} should not compile"),
        Err(error) => {
            assert_eq!(error.kind(), ErrorKind::InvalidArgument, "{source}: {error}");
            error.message().to_owned()
        }
    }
}

fn list(items: &[&str]) -> Value {
    Value::list(items.iter().map(|item| Value::from(*item)).collect())
}

fn json(value: &Value) -> String {
    let mut bytes = Vec::new();
    courier::value::write_json(value, &mut bytes).unwrap();
    String::from_utf8(bytes).unwrap()
}

// ---------------------------------------------------------------------------------------
// The catalog

/// Every function of these families has a summary and an example, and the example
/// evaluates to the value the catalog shows.
#[test]
fn catalog_examples_evaluate_to_their_values() {
    let engine = Engine::new();
    let names = [
        "coalesce",
        "ifEmpty",
        "dateAdd",
        "dateDiff",
        "dateParse",
        "dateStartOf",
        "dateInZone",
        "formatNumber",
        "parseNumber",
        "listContains",
        "listFirst",
        "listLast",
        "listSort",
        "listReverse",
        "listDistinct",
        "listSum",
        "listSlice",
        "jsonGet",
        "regexMatches",
        "regexFind",
        "isEmail",
        "isUrl",
        "isNumber",
        "isInteger",
        "hmacSha256",
        "md5",
        "sha1",
        "sha512",
        "urlDecode",
        "htmlEscape",
        "uuid",
        "stringIndexOf",
        "substringBefore",
        "substringAfter",
        "capitalize",
        "removeDiacritics",
        "stringPadStart",
        "stringPadEnd",
    ];
    for name in names {
        let function = engine.registry().get(name).unwrap_or_else(|| panic!("{name} is registered"));
        let doc = function.doc();
        assert!(!doc.summary.is_empty() && !doc.returns.is_empty(), "{name} has no summary");
        let (example, expected) = doc.example.unwrap_or_else(|| panic!("{name} has no example"));
        let value = run(&engine, example, &Variables::new(), &context()).unwrap_or_else(|e| panic!("{example}: {e}"));
        assert_eq!(json(&value), expected, "{example}");
    }
}

// ---------------------------------------------------------------------------------------
// Fallbacks

#[test]
fn coalesce_skips_null_and_empty_text() {
    assert_eq!(eval("coalesce(null, \"\", 0, \"x\")"), Value::Int(0));
    assert_eq!(eval("coalesce(missing, \"\")"), Value::Null);
    assert_eq!(
        eval_vars("coalesce(nick, name)", &Variables::from_strings([("nick", ""), ("name", "Anna")])),
        Value::from("Anna")
    );
    assert_eq!(eval("ifEmpty(\"\", \"none\")"), Value::from("none"));
    assert_eq!(eval("ifEmpty(false, \"none\")"), Value::Bool(false));
    assert_eq!(eval("ifEmpty(null, 3)"), Value::Int(3));
}

// ---------------------------------------------------------------------------------------
// Dates

#[test]
fn date_add_clamps_month_ends_and_keeps_the_form() {
    assert_eq!(text("dateAdd(\"2026-01-31\", 1, \"months\")"), "2026-02-28");
    assert_eq!(text("dateAdd(\"2024-01-31\", 1, \"months\")"), "2024-02-29");
    assert_eq!(text("dateAdd(\"2024-02-29\", 1, \"years\")"), "2025-02-28");
    assert_eq!(text("dateAdd(\"2026-03-31\", -1, \"months\")"), "2026-02-28");
    assert_eq!(text("dateAdd(\"2026-11-21\", 14, \"days\")"), "2026-12-05");
    assert_eq!(text("dateAdd(\"2026-11-21\", -2, \"weeks\")"), "2026-11-07");
    // A date-time without offset stays one; with an offset it keeps it; Z stays Z.
    assert_eq!(text("dateAdd(\"2026-11-21T23:30\", 45, \"minutes\")"), "2026-11-22T00:15:00");
    assert_eq!(text("dateAdd(\"2026-03-28T12:00:00+01:00\", 1, \"days\")"), "2026-03-29T12:00:00+01:00");
    assert_eq!(text("dateAdd(\"2026-11-21T10:00:00Z\", 3, \"hours\")"), "2026-11-21T13:00:00Z");
    assert_eq!(text("dateAdd(\"2026-01-31T08:00:00.5Z\", 1, \"months\")"), "2026-02-28T08:00:00.5Z");
    // Epoch milliseconds are an instant in UTC.
    assert_eq!(text("dateAdd(0, 1, \"seconds\")"), "1970-01-01T00:00:01Z");
    assert_eq!(eval("dateAdd(null, 1, \"days\")"), Value::Null);
    assert!(error("dateAdd(\"2026-11-21\", 1, \"hours\")").contains("is a date, which has no hours"));
    assert!(error("dateAdd(\"21.11.2026\", 1, \"days\")").contains("cannot read"));
    assert!(error("dateAdd(\"2026-11-21\", 9223372036854775807, \"days\")").contains("outside the supported range"));
    assert!(compile_error("dateAdd(\"2026-11-21\", 1, \"fortnights\")").contains("unknown unit"));
}

#[test]
fn date_diff_truncates_toward_zero_and_goes_negative() {
    assert_eq!(eval("dateDiff(\"2026-01-01\", \"2026-01-15\", \"days\")"), Value::Int(14));
    assert_eq!(eval("dateDiff(\"2026-01-15\", \"2026-01-01\", \"days\")"), Value::Int(-14));
    assert_eq!(eval("dateDiff(\"2026-01-15\", \"2026-01-01\", \"weeks\")"), Value::Int(-2));
    assert_eq!(eval("dateDiff(\"2026-01-31\", \"2026-02-28\", \"months\")"), Value::Int(0));
    assert_eq!(eval("dateDiff(\"2026-02-28\", \"2026-01-31\", \"months\")"), Value::Int(0));
    assert_eq!(eval("dateDiff(\"1990-05-17\", \"2026-05-16\", \"years\")"), Value::Int(35));
    assert_eq!(eval("dateDiff(\"2026-01-01T10:00\", \"2026-01-03T09:00\", \"days\")"), Value::Int(1));
    assert_eq!(eval("dateDiff(\"2026-01-01T10:00\", \"2026-01-01T09:00:01\", \"hours\")"), Value::Int(0));
    // Offsets are compared as instants.
    assert_eq!(eval("dateDiff(\"2026-01-01T10:00+01:00\", \"2026-01-01T10:00Z\", \"minutes\")"), Value::Int(60));
    assert!(error("dateDiff(\"2026-01-01T10:00Z\", \"2026-01-02\", \"days\")").contains("offset"));
}

#[test]
fn date_parse_reads_java_patterns() {
    assert_eq!(text("dateParse(\"21.11.2026\", \"dd.MM.yyyy\")"), "2026-11-21");
    assert_eq!(text("dateParse(\"5/1/26 7:05 PM\", \"d/M/yy h:mm a\")"), "2026-01-05T19:05:00");
    assert_eq!(text("dateParse(\"21. November 2026\", \"d. MMMM yyyy\")"), "2026-11-21");
    // The context's locale is de: German month names.
    assert_eq!(text("dateParse(\"3. März 2026\", \"d. MMMM yyyy\")"), "2026-03-03");
    assert!(error("dateParse(\"2026-11-21\", \"dd.MM.yyyy\")").contains("does not match"));
    assert!(error("dateParse(\"31.02.2026\", \"dd.MM.yyyy\")").contains("no day 31"));
    assert!(error("dateParse(\"21.11.2026x\", \"dd.MM.yyyy\")").contains("left over"));
    assert!(compile_error("dateParse(\"x\", \"dd.MM.yyyy Q\")").contains("'Q'"));
    assert!(compile_error("dateParse(\"x\", \"yyyy-MM-dd XXX\")").contains("offset"));
}

#[test]
fn date_start_of_and_in_zone() {
    assert_eq!(text("dateStartOf(\"2026-11-21\", \"week\")"), "2026-11-16");
    assert_eq!(text("dateStartOf(\"2026-11-21T10:15:30\", \"day\")"), "2026-11-21T00:00:00");
    assert_eq!(text("dateStartOf(\"2026-11-21T10:15:30Z\", \"year\")"), "2026-01-01T00:00:00Z");
    assert_eq!(text("dateStartOf(\"2026-11-21\", \"month\")"), "2026-11-01");
    assert!(compile_error("dateStartOf(\"2026-11-21\", \"quarter\")").contains("unknown unit"));
    assert_eq!(text("dateInZone(\"2026-11-21T10:00:00Z\", \"Europe/Berlin\")"), "2026-11-21T11:00:00+01:00");
    assert_eq!(text("dateInZone(\"2026-07-01T10:00:00+02:00\", \"UTC\")"), "2026-07-01T08:00:00Z");
    assert_eq!(text("dateInZone(0, \"America/New_York\")"), "1969-12-31T19:00:00-05:00");
    assert!(compile_error("dateInZone(0, \"Mars/Olympus\")").contains("unknown time zone"));
}

// ---------------------------------------------------------------------------------------
// Locale numbers

#[test]
fn format_number_uses_cldr_separators_per_locale() {
    assert_eq!(text("formatNumber(1234.5, \"#,##0.0\", \"de\")"), "1.234,5");
    assert_eq!(text("formatNumber(1234.5, \"#,##0.0\", \"de-CH\")"), "1’234.5");
    assert_eq!(text("formatNumber(1234.5, \"#,##0.0\", \"fr\")"), "1\u{202f}234,5");
    assert_eq!(text("formatNumber(1234.5, \"#,##0.0\", \"en\")"), "1,234.5");
    assert_eq!(text("formatNumber(1234.5, \"#,##0.0\", \"xx-YY\")"), "1,234.5");
    // The context's locale (de) when left out.
    assert_eq!(text("formatNumber(125.5, \"0.00\")"), "125,50");
    assert!(compile_error("formatNumber(1, \"0\", \"not a locale!\")").contains("not a locale tag"));
    let variables = Variables::from_strings([("tag", "de_CH!")]);
    let failed = run(&Engine::new(), "formatNumber(1, \"0\", tag)", &variables, &context()).unwrap_err();
    assert!(failed.message().contains("not a locale tag"), "{failed}");
}

#[test]
fn format_number_rounds_half_even() {
    assert_eq!(text("formatNumber(0.125, \"0.00\", \"en\")"), "0.12");
    assert_eq!(text("formatNumber(0.135, \"0.00\", \"en\")"), "0.14");
    assert_eq!(text("formatNumber(2.5, \"0\", \"en\")"), "2");
    assert_eq!(text("formatNumber(3.5, \"0\", \"en\")"), "4");
    assert_eq!(text("formatNumber(\"1.005\", \"0.00\", \"en\")"), "1.00");
    assert_eq!(text("formatNumber(-1234.567, \"#,##0.##\", \"en\")"), "-1,234.57");
    assert_eq!(text("formatNumber(0.256, \"0.0%\", \"en\")"), "25.6%");
    assert_eq!(text("formatNumber(7, \"000\", \"en\")"), "007");
    assert_eq!(text("formatNumber(0, \"#.##\", \"en\")"), "0");
    assert_eq!(text("formatNumber(0.5, \"#.##\", \"en\")"), ".5");
    assert_eq!(text("formatNumber(12.5, \"'CHF' #,##0.00\", \"de-CH\")"), "CHF 12.50");
    assert_eq!(text("formatNumber(-3, \"0;(0)\", \"en\")"), "(3)");
    assert_eq!(eval("formatNumber(null, \"0\", \"en\")"), Value::Null);
    assert!(compile_error("formatNumber(1, \"0.0#0\")").contains("number pattern"));
    assert!(error("formatNumber(\"abc\", \"0\", \"en\")").contains("cannot read"));
}

#[test]
fn parse_number_reads_the_locale_separators() {
    assert_eq!(eval("parseNumber(\"1.234,5\", \"de\")"), Value::Float(1234.5));
    assert_eq!(eval("parseNumber(\"1.234\", \"de\")"), Value::Int(1234));
    assert_eq!(eval("parseNumber(\"1’234.5\", \"de-CH\")"), Value::Float(1234.5));
    assert_eq!(eval("parseNumber(\"1'234\", \"de-CH\")"), Value::Int(1234));
    assert_eq!(eval("parseNumber(\"1 234,5\", \"fr\")"), Value::Float(1234.5));
    assert_eq!(eval("parseNumber(\"-1,234.5\", \"en\")"), Value::Float(-1234.5));
    assert_eq!(eval("parseNumber(\"125,50\")"), Value::Float(125.5));
    for bad in ["\"12abc\"", "\"1,2,\"", "\"1.234,5\", \"en\"", "\",5\"", "\"1,\""] {
        assert!(error(&format!("parseNumber({bad})")).contains("parseNumber"), "{bad}");
    }
    assert!(compile_error("parseNumber(\"1\", \"de-\")").contains("not a locale tag"));
}

// ---------------------------------------------------------------------------------------
// Lists

#[test]
fn lists_treat_single_values_and_null() {
    let variables = {
        let mut variables = Variables::new();
        variables.set("l", Value::list(vec![Value::Int(10), Value::from("9"), Value::Float(1.5), Value::Int(10)]));
        variables.set("ints", Value::list(vec![Value::Int(1), Value::from("2"), Value::Null]));
        variables
    };
    assert_eq!(
        eval_vars("listSort(l)", &variables),
        Value::list(vec![Value::Float(1.5), Value::Int(10), Value::Int(10), Value::from("9")])
    );
    assert_eq!(
        eval_vars("listDistinct(l)", &variables),
        Value::list(vec![Value::Int(10), Value::from("9"), Value::Float(1.5)])
    );
    assert_eq!(eval_vars("listSum(ints)", &variables), Value::Int(3));
    assert_eq!(eval_vars("listSum(l)", &variables), Value::Float(30.5));
    assert_eq!(eval_vars("listContains(l, 9)", &variables), Value::Bool(true));
    assert_eq!(
        eval_vars("listReverse(ints)", &variables),
        Value::list(vec![Value::Null, Value::from("2"), Value::Int(1)])
    );
    assert_eq!(eval_vars("listSlice(l, 1, 3)", &variables), Value::list(vec![Value::from("9"), Value::Float(1.5)]));
    assert_eq!(eval_vars("listSlice(l, -5, 99)", &variables).to_text(), "[10,\"9\",1.5,10]");
    assert_eq!(eval_vars("listSlice(l, 3, 1)", &variables), Value::list(vec![]));
    assert_eq!(eval_vars("listSlice(l, 2)", &variables), Value::list(vec![Value::Float(1.5), Value::Int(10)]));
    assert_eq!(eval("listFirst(null)"), Value::Null);
    assert_eq!(eval("listLast(\"solo\")"), Value::from("solo"));
    assert_eq!(eval("listSum(null)"), Value::Int(0));
    assert_eq!(eval("listSort(\"x\")"), list(&["x"]));
    assert!(error("listSum(stringSplit(\"1,x\", \",\"))").contains("listSum"));
    assert!(error("listSum(stringSplit(\"9223372036854775807,1\", \",\"))").contains("overflow"));
}

// ---------------------------------------------------------------------------------------
// JSON

#[test]
fn json_get_reads_mapping_paths_and_keeps_types() {
    let body =
        r#"{"price": {"amount": 12.50, "currency": "CHF"}, "items": [{"name": "Tee", "n": 2}], "ok": true, "a/b": 1}"#;
    let variables = Variables::from_strings([("api_client_response_body", body)]);
    let get = |path: &str| eval_vars(&format!("jsonGet(api_client_response_body, \"{path}\")"), &variables);
    assert_eq!(get("price.amount").to_text(), "12.5");
    assert_eq!(get("items.0.name"), Value::from("Tee"));
    assert_eq!(get("items[0].n"), Value::Int(2));
    assert_eq!(get("/price/currency"), Value::from("CHF"));
    assert_eq!(get("/a~1b"), Value::Int(1));
    assert_eq!(get("ok"), Value::Bool(true));
    assert_eq!(get("items").to_text(), r#"[{"name":"Tee","n":2}]"#);
    assert_eq!(get("price.missing"), Value::Null);
    assert_eq!(get("items[3].name"), Value::Null);
    // A parsed value works the same.
    assert_eq!(
        eval_vars("jsonGet(parseJson(api_client_response_body), \"items[0].name\")", &variables),
        Value::from("Tee")
    );
    assert_eq!(eval("jsonGet(\"\", \"a\")"), Value::Null);
    assert!(error("jsonGet(\"not json\", \"a\")").contains("is not JSON"));
    assert!(compile_error("jsonGet(\"{}\", \"a..b\")").contains("not a field path"));
}

#[test]
fn json_path_selects_a_nodelist() {
    let body = r#"{"products": [{"name": "Tea", "stock": 5}, {"name": "Mug", "stock": 0}], "total": 2}"#;
    let variables = Variables::from_strings([("body", body)]);
    let query = |q: &str| eval_vars(&format!("jsonPath(body, \"{q}\")"), &variables).to_text();
    assert_eq!(query("$.products[*].name"), r#"["Tea","Mug"]"#);
    assert_eq!(query("$.products[?@.stock > 0].name"), r#"["Tea"]"#);
    assert_eq!(query("$..stock"), "[5,0]");
    assert_eq!(query("$.total"), "[2]");
    assert_eq!(query("$.missing"), "[]");
    // A parsed value, null and blank text work too: always a list.
    assert_eq!(eval_vars("jsonPath(parseJson(body), '$.products[1].name')", &variables).to_text(), r#"["Mug"]"#);
    assert_eq!(eval("jsonPath(null, '$')").to_text(), "[]");
    assert_eq!(eval("jsonPath('', '$.a')").to_text(), "[]");
    assert!(error("jsonPath('not json', '$.a')").contains("is not JSON"));
    // An invalid query written as a literal is refused when compiling.
    assert!(compile_error("jsonPath('{}', '$.a[')").contains("invalid JSONPath query"));
    // A selection past the list limit is refused.
    let engine = {
        let mut engine = Engine::new();
        engine.set_limits(courier::Limits { max_list_len: 3, ..courier::Limits::default() });
        engine
    };
    let error =
        engine.compile_expression("jsonPath('[1,2,3,4]', '$[*]')").unwrap().evaluate(&Variables::new(), &context());
    assert_eq!(error.unwrap_err().kind(), ErrorKind::Limit);
}

// ---------------------------------------------------------------------------------------
// Regex

#[test]
fn regex_matches_the_whole_text() {
    assert_eq!(eval("regexMatches(\"abc\", \"b\")"), Value::Bool(false));
    assert_eq!(eval("regexMatches(\"abc\", \"a.c\")"), Value::Bool(true));
    assert_eq!(eval("regexMatches(\"ab\", \"a|ab\")"), Value::Bool(true));
    assert_eq!(eval("regexMatches(\"abc\", \"a|ab\")"), Value::Bool(false));
    assert_eq!(eval("regexFind(\"order 4711, order 42\", \"order (\\\\d+)\")"), Value::from("order 4711"));
    assert_eq!(eval("regexFind(\"order 4711\", \"order (\\\\d+)\", 1)"), Value::from("4711"));
    assert_eq!(eval("regexFind(\"none\", \"\\\\d+\")"), Value::Null);
    assert_eq!(eval("regexFind(\"ab\", \"a(x)?b\", 1)"), Value::Null);
    assert!(error("regexFind(\"ab\", \"a(b)\", 2)").contains("no group 2"));
    assert!(compile_error("regexMatches(\"a\", \"(\")").contains("invalid regular expression"));
}

/// The engine is linear: a pattern that backtracks exponentially elsewhere returns at once.
#[test]
fn regex_stays_linear_on_catastrophic_patterns() {
    let variables = Variables::from_strings([("text", format!("{}!", "a".repeat(50_000)).as_str())]);
    let started = std::time::Instant::now();
    assert_eq!(eval_vars("regexMatches(text, \"(a+)+$\")", &variables), Value::Bool(false));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
}

// ---------------------------------------------------------------------------------------
// Validators

#[test]
fn validators_answer_booleans_and_never_fail() {
    let cases = [
        ("isEmail(\"anna@example.ch\")", true),
        ("isEmail(\"anna@example\")", false),
        ("isEmail(null)", false),
        ("isUrl(\"https://example.org/x\")", true),
        ("isUrl(\"ftp://example.org\")", false),
        ("isUrl(\"example.org\")", false),
        ("isNumber(\"-1.5e3\")", true),
        ("isNumber(\"1,5\")", false),
        ("isNumber(\" 1\")", false),
        ("isNumber(\"NaN\")", false),
        ("isNumber(12)", true),
        ("isInteger(\"-42\")", true),
        ("isInteger(\"4.0\")", false),
        ("isInteger(\"9223372036854775808\")", false),
    ];
    for (source, expected) in cases {
        assert_eq!(eval(source), Value::Bool(expected), "{source}");
    }
}

// ---------------------------------------------------------------------------------------
// Hashes, encodings, ids

#[test]
fn hashes_are_lowercase_hex() {
    // RFC 4231 test case 2.
    assert_eq!(
        text("hmacSha256(\"what do ya want for nothing?\", \"Jefe\")"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(text("md5(\"\")"), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(text("sha1(\"abc\")"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(
        text("sha512(\"abc\")"),
        "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
    );
}

#[test]
fn url_decode_reads_plus_as_space_as_java_does() {
    assert_eq!(text("urlDecode(\"a+b%20c\")"), "a b c");
    assert_eq!(text("urlDecode(\"%2B%25\")"), "+%");
    assert_eq!(text("urlDecode(\"%C3%BC\")"), "ü");
    assert_eq!(text("urlDecode(\"%FF\")"), "\u{fffd}");
    assert!(error("urlDecode(\"100%\")").contains("not followed by two hex digits"));
    assert!(error("urlDecode(\"%zz\")").contains("offset 0"));
    assert!(error("urlDecode(\"%+1\")").contains("hex digits"));
}

#[test]
fn html_escape_writes_the_five_entities() {
    assert_eq!(text("htmlEscape(\"& < > \\\" '\")"), "&amp; &lt; &gt; &quot; &#39;");
    assert_eq!(text("htmlEscape(\"Zürich\")"), "Zürich");
}

#[test]
fn uuid_is_version_4_and_repeats_with_a_seed() {
    let first = text("uuid()");
    assert_eq!(first.len(), 36);
    assert_eq!(&first[14..15], "4", "{first}");
    assert!(matches!(&first[19..20], "8" | "9" | "a" | "b"), "{first}");
    assert_eq!(first, first.to_lowercase());
    // A fresh context with the same seed gives the same id; two calls in one differ.
    assert_eq!(text("uuid()"), first);
    let both = eval("stringConcat(uuid(), \" \", uuid())").to_text();
    let (a, b) = both.split_once(' ').unwrap();
    assert_eq!(a, first);
    assert_ne!(a, b);
}

// ---------------------------------------------------------------------------------------
// Strings

#[test]
fn string_helpers() {
    assert_eq!(eval("stringIndexOf(\"Grüezi\", \"ezi\")"), Value::Int(3));
    assert_eq!(eval("stringIndexOf(\"abc\", \"x\")"), Value::Int(-1));
    assert_eq!(eval("stringIndexOf(\"abc\", \"\")"), Value::Int(0));
    assert_eq!(text("substringBefore(\"a-b-c\", \"-\")"), "a");
    assert_eq!(text("substringBefore(\"abc\", \"-\")"), "abc");
    assert_eq!(text("substringAfter(\"a-b-c\", \"-\")"), "b-c");
    assert_eq!(text("substringAfter(\"abc\", \"-\")"), "");
    assert_eq!(text("capitalize(\"anna maria\")"), "Anna maria");
    assert_eq!(text("capitalize(\"ßtraße\")"), "ßtraße");
    assert_eq!(text("capitalize(\"\")"), "");
    assert_eq!(text("removeDiacritics(\"Müller\")"), "Muller");
    assert_eq!(text("removeDiacritics(\"Straße Ærø Łódź\")"), "Straße Ærø Łodz");
    assert_eq!(text("removeDiacritics(\"한국어\")"), "한국어");
    assert_eq!(text("stringPadStart(\"7\", 5, \"ab\")"), "abab7");
    assert_eq!(text("stringPadEnd(\"7\", 4, \"ab\")"), "7aba");
    assert_eq!(text("stringPadStart(\"long\", 2, \"x\")"), "long");
    assert_eq!(text("stringPadStart(\"7\", 3, \"\")"), "7");
    assert_eq!(text("stringPadStart(\"ü\", 3, \"é\")"), "ééü");
}

/// Padding to a huge width is refused before the text is built.
#[test]
fn padding_is_bounded_by_the_output_limit() {
    let mut engine = Engine::new();
    engine.set_limits(Limits { max_output_bytes: 1 << 16, ..Limits::default() });
    let error = run(&engine, "stringPadStart(\"x\", 1000000000, \"ab\")", &Variables::new(), &context()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Limit, "{error}");
    let error =
        run(&engine, "htmlEscape(stringPadEnd(\"\", 20000, \"&\"))", &Variables::new(), &context()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Limit, "{error}");
    let error = run(
        &engine,
        "formatNumber(1, \"0.0\", \"en\") + formatNumber(1, stringPadEnd(\"0\", 300, \"0\"), \"en\")",
        &Variables::new(),
        &context(),
    );
    assert!(error.is_ok(), "{error:?}");
}

// ---------------------------------------------------------------------------------------
// No panics on hostile arguments, with arguments shaped for each family

fn date_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        "[+-]?[0-9]{1,7}-[0-9]{1,2}-[0-9]{1,2}([T ][0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2}(\\.[0-9]{0,10})?)?(Z|[+-][0-9:]{1,5})?)?",
        any::<i64>().prop_map(|ms| ms.to_string()),
        Just("+262142-12-31T23:59:59Z".to_owned()),
        Just("-262143-01-01".to_owned()),
        Just("-262143-01-01T00:00:00+18:00".to_owned()),
        any::<String>(),
    ]
}

fn unit() -> impl proptest::strategy::Strategy<Value = String> {
    "(years|months|weeks|days|hours|minutes|seconds|day|week|month|year|x)"
}

/// Calls `source` with the variables a, b, c set to the texts and checks that it
/// returns a value or an evaluation (or limit) error.
fn survives(source: &str, texts: [&str; 3]) -> Result<(), proptest::test_runner::TestCaseError> {
    let mut engine = Engine::new();
    engine.set_limits(Limits { max_output_bytes: 1 << 16, ..Limits::default() });
    let variables = Variables::from_strings([("a", texts[0]), ("b", texts[1]), ("c", texts[2])]);
    if let Err(error) = run(&engine, source, &variables, &context()) {
        proptest::prop_assert!(
            matches!(error.kind(), ErrorKind::Evaluation | ErrorKind::Limit),
            "{source} with {texts:?}: {error}"
        );
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    #[test]
    fn date_functions_never_panic(date in date_text(), other in date_text(), amount in proptest::prelude::any::<i64>(), unit in unit(), pattern in "[yuMdDEaHkKhmsS' .:/-]{0,12}") {
        let amount = amount.to_string();
        survives("dateAdd(a, b, c)", [&date, &amount, &unit])?;
        survives("dateDiff(a, b, c)", [&date, &other, &unit])?;
        survives("dateStartOf(a, c)", [&date, &amount, &unit])?;
        survives("dateInZone(a, \"Pacific/Kiritimati\")", [&date, &amount, &unit])?;
        survives("dateParse(a, b)", [&date, &pattern, &unit])?;
        survives("dateParse(formatDate(a, b), b)", [&date, &pattern, &unit])?;
    }

    #[test]
    fn number_functions_never_panic(number in "-?[0-9]{0,30}(\\.[0-9]{0,30})?(E-?[0-9]{1,3})?|.{0,8}", pattern in "[#0,.%‰;'E¤ a-z-]{0,16}", locale in "(de|de-CH|fr|en|ar|xx-YY|de_CH|en-|)(-[a-zA-Z0-9]{0,8})?|.{0,6}") {
        survives("formatNumber(a, b, c)", [&number, &pattern, &locale])?;
        survives("formatNumber(toDouble(a), b, c)", [&number, &pattern, &locale])?;
        survives("parseNumber(a, c)", [&number, &pattern, &locale])?;
        survives("parseNumber(formatNumber(a, b, c), c)", [&number, &pattern, &locale])?;
    }

    #[test]
    fn text_functions_never_panic(text in ".{0,40}", path in "[a-z0-9.\\[\\]/~]{0,12}|.{0,8}", width in -5i64..100_000) {
        let width = width.to_string();
        survives("jsonGet(a, b)", [&text, &path, &width])?;
        survives("urlDecode(a)", [&text, &path, &width])?;
        survives("stringPadStart(a, c, b)", [&text, &path, &width])?;
        survives("stringPadEnd(b, c, a)", [&text, &path, &width])?;
        survives("regexFind(a, b, c)", [&text, &path, &width])?;
        survives("removeDiacritics(a) + capitalize(a) + htmlEscape(a)", [&text, &path, &width])?;
        survives("listSlice(stringSplit(a, \"\"), c, b)", [&text, &path, &width])?;
    }
}

/// Parsing a formatted number gives the number back, in every locale the issue names.
#[test]
fn format_then_parse_round_trips() {
    for locale in ["de", "de-CH", "fr", "en", "xx-YY"] {
        for number in ["0.5", "-1234.5", "1234567.25", "7"] {
            let source = format!("parseNumber(formatNumber({number}, \"#,##0.0#\", \"{locale}\"), \"{locale}\")");
            assert_eq!(eval(&source).to_text(), Value::Float(number.parse().unwrap()).to_text(), "{source}");
        }
    }
}

/// The fuzz dictionary names every built-in, so that the expression fuzz target
/// reaches each of them.
#[test]
fn the_fuzz_dictionary_names_every_builtin() {
    let dictionary = include_str!("../fuzz/dictionary.txt");
    let engine = Engine::new();
    let mut missing: Vec<&str> =
        engine.registry().names().filter(|name| !dictionary.contains(&format!("\"{name}(\""))).collect();
    missing.sort_unstable();
    assert!(missing.is_empty(), "not in fuzz/dictionary.txt: {missing:?}");
}
