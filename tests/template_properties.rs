//! Properties of rendering with hostile variable values, and of `check` against
//! `compile` on arbitrary sources.

use courier::diagnostics::Severity;
use courier::template::{CheckOptions, FormTemplate, HeaderTemplate, JsonTemplate, Template, UrlTemplate, check};
use courier::{Context, Engine, ErrorKind, TemplateKind, Value, Variables};
use percent_encoding::percent_decode_str;
use proptest::prelude::*;

/// Text built from pieces that break naive escaping, mixed with any characters.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => any::<char>().prop_map(String::from),
        1 => prop::sample::select(vec![
            "\"", "\\", "\n", "\r\n", "\t", "\u{0}", "\u{1f}", "\u{7f}", "\u{2028}", "</script>", "😀", "é",
            "1, \"admin\": true", "\"}, {\"x\": \"", "${x}", "\\${", "\\u0000", "%", "%2e", "%zz", "&", "=", "+", " ",
            "/", "?", "#", ".", "..", "\\/", "'",
        ])
        .prop_map(str::to_owned),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

fn one(value: &str) -> Variables {
    Variables::from_strings([("v", value)])
}

/// Renders a json template both ways; checks the bytes are JSON equal to the value.
fn render_json(source: &str, variables: &Variables) -> serde_json::Value {
    let template = JsonTemplate::compile(&Engine::new(), source).unwrap();
    let mut bytes = Vec::new();
    template.render_to_bytes(variables, &Context::default(), &mut bytes).unwrap();
    let parsed: serde_json::Value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)));
    let value = template.render_to_value(variables, &Context::default()).unwrap();
    assert_eq!(parsed, value);
    parsed
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn json_holes_hold_any_string_as_one_string(v in hostile()) {
        let variables = one(&v);
        prop_assert_eq!(&render_json(r#"{"a": ${v}, "b": 1}"#, &variables), &serde_json::json!({"a": v, "b": 1}));
        let inside = render_json(r#"{"a": "<${v}>${v}", "b": 1}"#, &variables);
        prop_assert_eq!(&inside, &serde_json::json!({"a": format!("<{v}>{v}"), "b": 1}));
        let keyed = JsonTemplate::compile(&Engine::new(), r#"{${v}: 1, "b": 2}"#).unwrap();
        if v == "b" {
            // A rendered key may not duplicate a literal one (issue #11, 17).
            let error = keyed.render_to_value(&variables, &Context::default()).unwrap_err();
            prop_assert!(error.message().contains("duplicates another key"), "{}", error);
        } else {
            prop_assert_eq!(&render_json(r#"{${v}: 1, "b": 2}"#, &variables), &serde_json::json!({v.clone(): 1, "b": 2}));
        }
        let in_key = render_json(r#"{"k${v}": [${v}]}"#, &variables);
        prop_assert_eq!(&in_key, &serde_json::json!({format!("k{v}"): [v]}));
    }

    #[test]
    fn json_lists_of_any_strings_are_arrays_of_them(items in prop::collection::vec(hostile(), 0..5)) {
        let mut variables = Variables::new();
        variables.set("v", Value::list(items.iter().map(|item| Value::from(item.as_str())).collect()));
        prop_assert_eq!(render_json("[${v}, \"${v}\"]", &variables), serde_json::json!([items, serde_json::to_string(&items).unwrap()]));
    }

    #[test]
    fn url_holes_decode_to_the_input(v in hostile()) {
        let template = UrlTemplate::compile(&Engine::new(), "https://x.org/a/${v}/b?q=${v}&r=1#${v}").unwrap();
        let rendered = template.render(&one(&v), &Context::default());
        // A dot segment would move the request, an empty one change the resource.
        if v == "." || v == ".." || v.is_empty() {
            prop_assert_eq!(rendered.unwrap_err().kind(), ErrorKind::Render);
            return Ok(());
        }
        let rendered = rendered.unwrap();
        let url = url::Url::parse(&rendered).unwrap();
        prop_assert_eq!(url.as_str(), rendered.as_str(), "rendered as sent");
        let segments: Vec<&str> = url.path_segments().unwrap().collect();
        prop_assert_eq!(segments.len(), 3, "one segment: {}", rendered);
        prop_assert_eq!(percent_decode_str(segments[1]).decode_utf8().unwrap(), v.as_str());
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        prop_assert_eq!(pairs, vec![("q".to_owned(), v.clone()), ("r".to_owned(), "1".to_owned())]);
        prop_assert_eq!(percent_decode_str(url.fragment().unwrap()).decode_utf8().unwrap(), v.as_str());
    }

    #[test]
    fn form_values_decode_to_the_input(v in hostile()) {
        let out = FormTemplate::compile(&Engine::new(), "${v}").unwrap().render(&one(&v), &Context::default()).unwrap();
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(format!("f={out}&g=1").as_bytes()).into_owned().collect();
        prop_assert_eq!(decoded, vec![("f".to_owned(), v), ("g".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn header_values_never_hold_a_line_break(v in hostile()) {
        let rendered = HeaderTemplate::compile(&Engine::new(), "x ${v}").unwrap().render(&one(&v), &Context::default());
        if v.chars().any(|c| c.is_ascii_control() && c != '\t') {
            prop_assert_eq!(rendered.unwrap_err().kind(), ErrorKind::Render);
        } else {
            prop_assert_eq!(rendered.unwrap(), format!("x {v}"));
        }
    }

    #[test]
    fn check_finds_an_error_exactly_when_compile_fails(source in template_source(), x in hostile()) {
        let engine = Engine::new();
        let variables = Variables::from_strings([("x", x.as_str()), ("y", "https://x.org")]);
        let context = Context::default();
        for kind in TemplateKind::ALL {
            // What compiles renders to a value or an error, never a panic.
            let compiled = match kind {
                TemplateKind::Text => Template::compile(&engine, &source).map(|t| drop(t.render(&variables, &context))),
                TemplateKind::Json => JsonTemplate::compile(&engine, &source).map(|t| {
                    drop(t.render_to_bytes(&variables, &context, &mut Vec::new()));
                    drop(t.render_to_value(&variables, &context));
                }),
                TemplateKind::Url => UrlTemplate::compile(&engine, &source).map(|t| drop(t.render(&variables, &context))),
                TemplateKind::Header => {
                    HeaderTemplate::compile(&engine, &source).map(|t| drop(t.render(&variables, &context)))
                }
                TemplateKind::Form => FormTemplate::compile(&engine, &source).map(|t| drop(t.render(&variables, &context))),
            };
            let diagnostics = check(&engine, &source, kind, &CheckOptions::default());
            // `certain-error` is check's own: compiling keeps such a constant, which
            // may stand in a branch never taken.
            let hard = diagnostics.iter().filter(|d| d.severity == Severity::Error && d.code != "certain-error");
            let spans: Vec<_> = hard.map(|d| d.span).collect();
            match &compiled {
                Ok(()) => prop_assert!(spans.is_empty(), "{} {:?} compiles, check says {:?}", kind, source, diagnostics),
                Err(error) => prop_assert!(
                    error.span().is_some_and(|span| spans.contains(&span)),
                    "{} {:?} fails with {}, check says {:?}", kind, source, error, diagnostics
                ),
            }
            for diagnostic in &diagnostics {
                prop_assert!(diagnostic.span.end as usize <= source.len());
                prop_assert!(source.is_char_boundary(diagnostic.span.start as usize));
            }
        }
    }
}

/// Sources made of the pieces templates are made of, broken in every way.
fn template_source() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "${",
        "}",
        "{",
        "[",
        "]",
        "\"",
        "'",
        "\\",
        "\\${",
        ":",
        ",",
        " ",
        "\n",
        "x",
        "y",
        "1",
        "1.5",
        "-",
        "+",
        "(",
        ")",
        "toInteger(",
        "toInterger(",
        "parseJson('[1]')",
        "1 / 0",
        "?",
        "#",
        "/",
        "%",
        "%20",
        "https://x.org",
        "http://",
        "..",
        "é",
        "true",
        "null",
        "\r",
        "\t",
        "\u{1}",
    ]);
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}
