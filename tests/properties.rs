//! Property tests of the expression language: parsing never panics, printing an AST
//! and parsing it again gives the same AST, and evaluation never panics whatever
//! the variables hold.

use courier::syntax::{
    BinaryOp, Expr, ExprKind, Literal, MemberKey, Name, RESERVED, Span, UnaryOp, parse_expression, parse_template,
};
use courier::{Context, Engine, Template, Value, Variables};
use proptest::prelude::*;

fn expr(kind: ExprKind) -> Expr {
    Expr { kind, span: Span::default() }
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_]{0,6}".prop_filter("not a reserved word", |name| !RESERVED.contains(&name.as_str()))
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        (0..i64::MAX).prop_map(Literal::Integer),
        (0.0..1e300f64).prop_map(Literal::Float),
        ".{0,8}".prop_map(Literal::String),
    ]
}

const BINARY: [BinaryOp; 14] = [
    BinaryOp::Or,
    BinaryOp::And,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Gt,
    BinaryOp::Le,
    BinaryOp::Ge,
    BinaryOp::Concat,
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
];

fn arbitrary_expr() -> impl Strategy<Value = Expr> {
    let leaf = prop_oneof![
        literal().prop_map(|l| expr(ExprKind::Literal(l))),
        name().prop_map(|n| expr(ExprKind::Variable(n)))
    ];
    leaf.prop_recursive(6, 48, 4, |inner| {
        prop_oneof![
            (0..BINARY.len(), inner.clone(), inner.clone()).prop_map(|(op, left, right)| expr(ExprKind::Binary {
                op: BINARY[op],
                left: Box::new(left),
                right: Box::new(right)
            })),
            (prop_oneof![Just(UnaryOp::Negate), Just(UnaryOp::Not), Just(UnaryOp::Empty)], inner.clone())
                .prop_map(|(op, operand)| expr(ExprKind::Unary { op, operand: Box::new(operand) })),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(|(c, t, o)| expr(ExprKind::Conditional {
                condition: Box::new(c),
                then: Box::new(t),
                otherwise: Box::new(o)
            })),
            (name(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(text, args)| expr(ExprKind::Call { name: Name { text, span: Span::default() }, args })),
            (inner.clone(), name()).prop_map(|(target, key)| expr(ExprKind::Member {
                target: Box::new(target),
                key: MemberKey::Name(key)
            })),
            (inner.clone(), inner.clone()).prop_map(|(target, key)| expr(ExprKind::Member {
                target: Box::new(target),
                key: MemberKey::Index(Box::new(key))
            })),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|items| expr(ExprKind::List(items))),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|items| expr(ExprKind::Set(items))),
            prop::collection::vec((inner.clone(), inner.clone()), 1..3)
                .prop_map(|entries| expr(ExprKind::Map(entries))),
            (prop::collection::hash_set(name(), 0..3), inner.clone()).prop_map(|(params, body)| expr(
                ExprKind::Lambda {
                    params: params.into_iter().map(|text| Name { text, span: Span::default() }).collect(),
                    body: Box::new(body)
                }
            )),
            (inner.clone(), name(), prop::collection::vec(inner.clone(), 0..3)).prop_map(|(target, text, args)| {
                expr(ExprKind::Method { target: Box::new(target), name: Name { text, span: Span::default() }, args })
            }),
            (inner.clone(), prop::collection::vec(inner, 0..3))
                .prop_map(|(target, args)| expr(ExprKind::Apply { target: Box::new(target), args })),
        ]
    })
}

/// Expressions that exercise every operator and many functions on variables.
const PROGRAMS: &[&str] = &[
    "a + b",
    "a - b * c",
    "a / b",
    "a % b",
    "-a",
    "!a || b && c",
    "empty a ? b : c",
    "a < b",
    "a >= b",
    "a == b",
    "a != b",
    "a += b",
    "a[b]",
    "a.b",
    "toInteger(a) + toDouble(b)",
    "toBoolean(a)",
    "parseJson(a)",
    "toJson(a)",
    "stringConcat(a, b, c)",
    "[a, b, c].stream().sorted().toList()",
    "[a, b, c].stream().sorted((x, y) -> x - y).distinct().toList()",
    "[a, b, c].stream().map(x -> {x: [x, b]}).filter(m -> !empty m).count()",
    "[a, b].stream().sum() + [c].stream().average().orElse(0)",
    "[a, b, c].stream().max().get()",
    "{a, b, c}",
    "parseJson(a).stream().flatMap(x -> [x, b].stream()).limit(c).toList()",
    "[a].stream().reduce(b, (x, y) -> x += y)",
    "((x, y) -> x > y)(a, b)",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_never_panics(source in any::<String>()) {
        let _ = parse_expression(&source);
        let _ = parse_template(&source);
    }

    #[test]
    fn parsing_never_panics_on_expression_like_text(source in "[-+*/%!?:()\\[\\]., a-z0-9'\"<>=&|$\\{\\}\\\\]{0,40}") {
        let _ = parse_expression(&source);
        let _ = parse_template(&source);
    }

    #[test]
    fn printed_asts_parse_to_the_same_ast(ast in arbitrary_expr()) {
        let printed = ast.to_string();
        let reparsed = parse_expression(&printed);
        prop_assert!(reparsed.is_ok(), "{printed} does not parse: {:?}", reparsed.err());
        prop_assert_eq!(reparsed.unwrap(), ast, "printed as {}", printed);
    }

    #[test]
    fn evaluation_never_panics(program in 0..PROGRAMS.len(), a in any::<String>(), b in any::<String>(), c in any::<String>()) {
        let engine = Engine::new();
        let expression = engine.compile_expression(PROGRAMS[program]).unwrap();
        let variables = Variables::from_strings([("a", a.as_str()), ("b", b.as_str()), ("c", c.as_str())]);
        let _ = expression.evaluate(&variables, &Context::default());
    }

    #[test]
    fn evaluation_never_panics_on_numeric_text(program in 0..PROGRAMS.len(), a in "[-+]?[0-9]{0,20}(\\.[0-9]{0,5})?([eE][-+]?[0-9]{1,4})?", b in "[-+]?[0-9]{0,20}") {
        let engine = Engine::new();
        let expression = engine.compile_expression(PROGRAMS[program]).unwrap();
        let variables = Variables::from_strings([("a", a.as_str()), ("b", b.as_str()), ("c", "")]);
        let _ = expression.evaluate(&variables, &Context::default());
    }

    /// `filter` keeps what its predicate accepts: counting after it is counting with the predicate.
    #[test]
    fn filter_then_count_counts_with_the_predicate(items in prop::collection::vec(-50i64..50, 0..40), limit in -60i64..60) {
        let mut variables = Variables::new();
        variables.set("l", Value::list(items.iter().copied().map(Value::Int).collect()));
        variables.set("t", Value::Int(limit));
        let expression = Engine::new().compile_expression("l.stream().filter(x -> x > t).count()").unwrap();
        let counted = items.iter().filter(|item| **item > limit).count() as i64;
        prop_assert_eq!(expression.evaluate(&variables, &Context::default()).unwrap(), Value::Int(counted));
    }

    /// `sorted()` gives its elements in order, all of them: numbers, and text by UTF-16 units.
    #[test]
    fn sorted_is_an_ordered_permutation(numbers in prop::collection::vec(any::<i64>(), 0..40), texts in prop::collection::vec(".{0,4}", 0..20)) {
        let mut variables = Variables::new();
        variables.set("n", Value::list(numbers.iter().copied().map(Value::Int).collect()));
        variables.set("s", Value::list(texts.iter().map(|text| Value::from(text.as_str())).collect()));
        let sort = |source: &str| Engine::new().compile_expression(source).unwrap().evaluate(&variables, &Context::default()).unwrap();
        let mut expected = numbers.clone();
        expected.sort();
        prop_assert_eq!(sort("n.stream().sorted().toList()"), Value::list(expected.iter().copied().map(Value::Int).collect()));
        let mut expected = texts.clone();
        expected.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
        prop_assert_eq!(sort("s.stream().sorted().toList()"), Value::list(expected.iter().map(|text| Value::from(text.as_str())).collect()));
        // A comparator lambda sorts the other way, stably.
        let mut expected = numbers.clone();
        expected.sort_by(|a, b| b.cmp(a));
        prop_assert_eq!(sort("n.stream().sorted((a, b) -> a < b ? 1 : a > b ? -1 : 0).toList()"), Value::list(expected.iter().copied().map(Value::Int).collect()));
    }

    #[test]
    fn text_templates_render_variables_verbatim(text in any::<String>()) {
        let template = Template::compile(&Engine::new(), "<${x}>").unwrap();
        let variables = Variables::from_strings([("x", text.as_str())]);
        prop_assert_eq!(template.render(&variables, &Context::default()).unwrap(), format!("<{text}>"));
        prop_assert_eq!(Template::compile(&Engine::new(), "${x}").unwrap().evaluate(&variables, &Context::default()).unwrap(), Value::from(text.as_str()));
    }
}
