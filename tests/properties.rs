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
            (inner.clone(), inner).prop_map(|(target, key)| expr(ExprKind::Member {
                target: Box::new(target),
                key: MemberKey::Index(Box::new(key))
            })),
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

    #[test]
    fn text_templates_render_variables_verbatim(text in any::<String>()) {
        let template = Template::compile(&Engine::new(), "<${x}>").unwrap();
        let variables = Variables::from_strings([("x", text.as_str())]);
        prop_assert_eq!(template.render(&variables, &Context::default()).unwrap(), format!("<{text}>"));
        prop_assert_eq!(Template::compile(&Engine::new(), "${x}").unwrap().evaluate(&variables, &Context::default()).unwrap(), Value::from(text.as_str()));
    }
}
