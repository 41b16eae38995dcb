//! The compiler: from [`Expr`] to [`Node`], resolving functions and folding constants.
//!
//! It collects every problem rather than stopping at the first, so `courier check`
//! can report them all; in lint mode it also warns about likely mistakes and turns
//! constant sub-expressions that are certain to fail into errors.

use std::collections::HashSet;
use std::sync::Arc;

use super::streams::{Arg, OPERATIONS, Takes, operation_names};
use super::{Call, Lambda, MethodCall, Node, Runtime, Shared};
use crate::diagnostics::{Diagnostic, Severity, closest};
use crate::error::{Error, ErrorKind};
use crate::functions::Context;
use crate::syntax::{BinaryOp, Expr, ExprKind, Literal, MemberKey, Name, Span};
use crate::value::{Value, parse_java_double};
use crate::variables::NoVariables;

/// What [`check`](crate::template::check) looks for beyond hard errors.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// When known (the variables of a `--vars` file), a variable outside this set is
    /// reported as never defined.
    pub known_variables: Option<HashSet<String>>,
}

pub(crate) struct Compiler<'a> {
    shared: &'a Arc<Shared>,
    source: &'a Arc<str>,
    lint: Option<&'a CheckOptions>,
    diagnostics: Vec<Diagnostic>,
    /// How many branches that may not be taken (`?:`, the right of `&&` and `||`)
    /// enclose the node being compiled.
    guarded: u32,
    /// The parameters of the lambdas enclosing the node being compiled, outermost first.
    params: Vec<String>,
}

impl<'a> Compiler<'a> {
    pub(crate) fn new(shared: &'a Arc<Shared>, source: &'a Arc<str>, lint: Option<&'a CheckOptions>) -> Self {
        Compiler { shared, source, lint, diagnostics: Vec::new(), guarded: 0, params: Vec::new() }
    }

    /// The first error, if any problem was an error.
    pub(crate) fn finish(self) -> Result<(), Error> {
        match self.diagnostics.iter().find(|diagnostic| diagnostic.severity == Severity::Error) {
            Some(diagnostic) => Err(Error::from_diagnostic(diagnostic, kind_of(diagnostic.code), self.source)),
            None => Ok(()),
        }
    }

    /// Every problem found, errors and warnings.
    pub(crate) fn into_diagnostics(self) -> Vec<Diagnostic> {
        self.diagnostics
    }

    pub(crate) fn compile(&mut self, expr: &Expr) -> Node {
        match &expr.kind {
            ExprKind::Literal(literal) => Node::Const(literal_value(literal)),
            ExprKind::Variable(name) => {
                // The innermost parameter of that name hides the others and the variable.
                if let Some(slot) = self.params.iter().rposition(|param| param == name) {
                    return Node::Param(slot as u32, expr.span);
                }
                if self.lint.is_some() {
                    self.diagnostics.extend(crate::hints::foreign_literal(name, expr.span));
                }
                self.lint_variable(name, expr.span);
                Node::Variable(name.as_str().into(), expr.span)
            }
            ExprKind::Call { name, args } => self.compile_call(&name.text, name.span, args, expr.span),
            ExprKind::Member { target, key } => {
                let target = self.compile(target);
                let key = match key {
                    MemberKey::Name(name) => Node::Const(Value::from(name.as_str())),
                    MemberKey::Index(index) => self.compile(index),
                };
                self.fold(Node::Member(Box::new((target, key)), expr.span))
            }
            ExprKind::Unary { op, operand } => {
                let operand = self.compile(operand);
                self.fold(Node::Unary(*op, Box::new(operand), expr.span))
            }
            ExprKind::Binary { op, left, right } => {
                self.lint_binary(*op, left, right, expr.span);
                let left = self.compile(left);
                let short_circuit = matches!(op, BinaryOp::And | BinaryOp::Or);
                let right = self.guarded_if(short_circuit, |compiler| compiler.compile(right));
                self.fold(Node::Binary(*op, Box::new((left, right)), expr.span))
            }
            ExprKind::Conditional { condition, then, otherwise } => {
                let condition = self.compile(condition);
                let (then, otherwise) =
                    self.guarded_if(true, |compiler| (compiler.compile(then), compiler.compile(otherwise)));
                self.fold(Node::Conditional(Box::new((condition, then, otherwise)), expr.span))
            }
            ExprKind::List(items) => {
                let items = items.iter().map(|item| self.compile(item)).collect();
                self.fold(Node::List(items, expr.span))
            }
            ExprKind::Set(items) => {
                let items = items.iter().map(|item| self.compile(item)).collect();
                self.fold(Node::Set(items, expr.span))
            }
            ExprKind::Map(entries) => {
                let entries = entries.iter().map(|(key, value)| (self.compile(key), self.compile(value))).collect();
                self.fold(Node::Map(entries, expr.span))
            }
            ExprKind::Lambda { .. } => self.invalid(
                "lambda",
                "a lambda is not a value: pass it to an operation (filter, map, ...) or call it at once".into(),
                None,
                expr.span,
            ),
            ExprKind::Method { target, name, args } => self.compile_method(target, name, args, expr.span),
            ExprKind::Apply { target, args } => {
                let ExprKind::Lambda { params, body } = &target.kind else {
                    let message = "only a lambda can be called this way: (x -> ...)(argument)".to_owned();
                    return self.invalid("not-callable", message, None, target.span);
                };
                let args = args.iter().map(|arg| self.compile(arg)).collect();
                let lambda = self.compile_lambda(params, body, target.span);
                Node::Apply(Box::new((lambda, args)), expr.span)
            }
        }
    }

    /// A certain error raised when the node is evaluated, and reported by `check`.
    fn invalid(&mut self, code: &'static str, message: String, suggestion: Option<String>, span: Span) -> Node {
        if self.lint.is_some() {
            let mut diagnostic = Diagnostic::error(code, message.clone(), span);
            if let Some(suggestion) = &suggestion {
                diagnostic = diagnostic.with_suggestion(suggestion.clone());
            }
            self.diagnostics.push(diagnostic);
        }
        let error = Error::new(ErrorKind::Evaluation, message).at(span, self.source).with_suggestion(suggestion);
        Node::Invalid(Box::new(error))
    }

    fn compile_lambda(&mut self, params: &[Name], body: &Expr, span: Span) -> Lambda {
        let base = self.params.len();
        self.params.extend(params.iter().map(|param| param.text.clone()));
        let compiled = self.compile(body);
        self.params.truncate(base);
        Lambda { params: params.len() as u32, base: base as u32, body: compiled, span, body_span: body.span }
    }

    fn compile_method(&mut self, target: &Expr, name: &Name, args: &[Expr], span: Span) -> Node {
        let target = self.compile(target);
        let Some(&(known, op, forms)) = OPERATIONS.iter().find(|(known, ..)| *known == name.text) else {
            let suggestion = closest(&name.text, operation_names()).map(|known| format!("did you mean {known}?"));
            let message = format!("unknown operation {}", name.text);
            return self.invalid("unknown-operation", message, suggestion, name.span);
        };
        let Some(form) = forms.iter().find(|form| form.len() == args.len()) else {
            let counts: Vec<String> = forms.iter().map(|form| form.len().to_string()).collect();
            let message = format!("{known}() takes {} arguments, not {}", counts.join(" or "), args.len());
            return self.invalid("arity", message, None, span);
        };
        let mut compiled = Vec::with_capacity(args.len());
        for (arg, takes) in args.iter().zip(form.iter()) {
            compiled.push(match (takes, &arg.kind) {
                (Takes::Lambda(_), ExprKind::Lambda { params, body }) => {
                    Arg::Lambda(self.compile_lambda(params, body, arg.span))
                }
                (Takes::Lambda(count), _) => {
                    let example = match count {
                        0 => "() -> ...",
                        1 => "x -> ...",
                        _ => "(a, b) -> ...",
                    };
                    let message = format!("{known}() takes a lambda here, such as {example}");
                    return self.invalid("lambda-expected", message, None, arg.span);
                }
                (Takes::Value, _) => Arg::Value(self.compile(arg)),
            });
        }
        if self.lint.is_some() {
            self.lint_lambda_arity(known, form, args);
        }
        Node::Method(Box::new(MethodCall { target, op, name: known, args: compiled.into_boxed_slice(), span }))
    }

    /// A lambda that declares more parameters than its operation gives fails when called.
    fn lint_lambda_arity(&mut self, known: &str, form: &[Takes], args: &[Expr]) {
        for (arg, takes) in args.iter().zip(form) {
            if let (Takes::Lambda(given), ExprKind::Lambda { params, .. }) = (takes, &arg.kind)
                && params.len() > *given as usize
            {
                let message = format!(
                    "{known}() calls its lambda with {given} argument{}, and this lambda takes {}",
                    if *given == 1 { "" } else { "s" },
                    params.len()
                );
                self.diagnostics.push(Diagnostic::error("arity", message, arg.span));
            }
        }
    }

    fn compile_call(&mut self, name: &str, name_span: Span, args: &[Expr], span: Span) -> Node {
        let compiled: Vec<Node> = args.iter().map(|arg| self.compile(arg)).collect();
        let Some(function) = self.shared.registry.get(name).cloned() else {
            let mut diagnostic = Diagnostic::error("unknown-function", format!("unknown function {name}"), name_span);
            if let Some(known) = closest(name, self.shared.registry.names()) {
                diagnostic = diagnostic.with_suggestion(format!("did you mean {known}?"));
            }
            self.diagnostics.push(diagnostic);
            return Node::Const(Value::Null);
        };
        if let Err(message) = function.check_arity(args.len()) {
            self.diagnostics.push(Diagnostic::error("arity", message, span));
            return Node::Const(Value::Null);
        }
        let constants: Vec<Option<&Value>> = compiled
            .iter()
            .map(|node| match node {
                Node::Const(value) => Some(value),
                _ => None,
            })
            .collect();
        if let Err((position, message)) = function.validate_constants(&constants) {
            let at = args.get(position).map_or(span, |arg| arg.span);
            self.diagnostics.push(Diagnostic::error("invalid-argument", message, at));
        }
        let pure = function.is_pure_for(&constants);
        let node = Node::Call(Box::new(Call { function, args: compiled.into_boxed_slice(), span }));
        if pure { self.fold(node) } else { node }
    }

    fn guarded_if<T>(&mut self, guarded: bool, compile: impl FnOnce(&mut Self) -> T) -> T {
        self.guarded += u32::from(guarded);
        let result = compile(self);
        self.guarded -= u32::from(guarded);
        result
    }

    /// Evaluates a node whose children are all constants; keeps it when that fails
    /// (it may sit in a branch never taken), and in lint mode reports the failure.
    fn fold(&mut self, node: Node) -> Node {
        let constant_children = match &node {
            Node::Call(call) => call.args.iter().all(is_const),
            Node::Member(pair, _) | Node::Binary(_, pair, _) => is_const(&pair.0) && is_const(&pair.1),
            Node::Unary(_, operand, _) => is_const(operand),
            Node::Conditional(parts, _) => is_const(&parts.0) && is_const(&parts.1) && is_const(&parts.2),
            Node::List(items, _) | Node::Set(items, _) => items.iter().all(is_const),
            Node::Map(entries, _) => entries.iter().all(|(key, value)| is_const(key) && is_const(value)),
            Node::Const(_)
            | Node::Variable(..)
            | Node::Param(..)
            | Node::Method(_)
            | Node::Apply(..)
            | Node::Invalid(_) => false,
        };
        if !constant_children {
            return node;
        }
        let context = Context::default();
        let runtime = Runtime::new(self.shared, self.source, &NoVariables, &context, 0);
        match runtime.eval(&node) {
            Ok(value) => Node::Const(value),
            Err(error) => {
                if self.lint.is_some()
                    && let Some(span) = error.span()
                {
                    // In a branch that may not be taken, it is a likely mistake, not a certain one.
                    let diagnostic = if self.guarded == 0 {
                        Diagnostic::error("certain-error", format!("this always fails: {}", error.message()), span)
                    } else {
                        let message = format!("this fails whenever this branch is taken: {}", error.message());
                        Diagnostic::warning("certain-error", message, span)
                    };
                    self.diagnostics.push(diagnostic);
                }
                node
            }
        }
    }

    fn lint_variable(&mut self, name: &str, span: Span) {
        let Some(known) = self.lint.and_then(|options| options.known_variables.as_ref()) else {
            return;
        };
        if known.contains(name) {
            return;
        }
        let mut diagnostic =
            Diagnostic::warning("undefined-variable", format!("variable {name} is never defined"), span);
        if let Some(close) = closest(name, known.iter().map(String::as_str)) {
            diagnostic = diagnostic.with_suggestion(format!("did you mean {close}?"));
        }
        self.diagnostics.push(diagnostic);
    }

    fn lint_binary(&mut self, op: BinaryOp, left: &Expr, right: &Expr, span: Span) {
        if self.lint.is_none() {
            return;
        }
        let is_variable = |expr: &Expr| matches!(expr.kind, ExprKind::Variable(_));
        let relational = matches!(op, BinaryOp::Lt | BinaryOp::Gt | BinaryOp::Le | BinaryOp::Ge);
        if relational && is_variable(left) && is_variable(right) {
            self.diagnostics.push(
                Diagnostic::warning(
                    "text-comparison",
                    format!("`{left} {} {right}` compares two variables as text, so \"18\" < \"9\"", op.symbol()),
                    span,
                )
                .with_suggestion(format!("compare numbers: toInteger({left}) {} toInteger({right})", op.symbol())),
            );
        } else if relational && let (Some(left_number), Some(right_number)) = (as_number(left), as_number(right)) {
            // A number held as text (`"100"`) against a variable or another such text:
            // EL compares the two as text, so "100" < "9" — the same mistake as above.
            self.diagnostics.push(
                Diagnostic::warning(
                    "text-comparison",
                    format!("`{left} {} {right}` compares text, so \"100\" < \"9\"", op.symbol()),
                    span,
                )
                .with_suggestion(format!("compare numbers: {left_number} {} {right_number}", op.symbol())),
            );
        }
        let written = self.source.get(span.range()).unwrap_or_default();
        if op == BinaryOp::Sub && is_variable(left) && is_variable(right) && !written.contains(char::is_whitespace) {
            // `${first-name}`: a name with a hyphen reads as a subtraction.
            self.diagnostics.push(
                Diagnostic::warning(
                    "hyphen-in-name",
                    format!("`{written}` subtracts {right} from {left}: a variable name cannot hold `-`"),
                    span,
                )
                .with_suggestion(format!(
                    "name the variable with an underscore ({}); to subtract, write {left} - {right}",
                    written.replace('-', "_")
                )),
            );
        }
        let arithmetic = matches!(op, BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem);
        let non_numeric_text = |expr: &Expr| match &expr.kind {
            ExprKind::Literal(Literal::String(text)) => !text.is_empty() && parse_java_double(text).is_none(),
            _ => false,
        };
        let both_constant = matches!(left.kind, ExprKind::Literal(_)) && matches!(right.kind, ExprKind::Literal(_));
        if arithmetic && !both_constant && (non_numeric_text(left) || non_numeric_text(right)) {
            let mut diagnostic = Diagnostic::warning(
                "text-arithmetic",
                format!("`{}` on text that is not a number fails when evaluated", op.symbol()),
                span,
            );
            if op == BinaryOp::Add {
                diagnostic = diagnostic.with_suggestion(format!("to join text, write {left} += {right}"));
            }
            self.diagnostics.push(diagnostic);
        }
    }
}

/// How to write `expr` as a number, when it is text that may hold one: a variable
/// (`toInteger(price)`) or a string literal spelling a number (`"100"` → `100`).
fn as_number(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Variable(name) => Some(format!("toInteger({name})")),
        ExprKind::Literal(Literal::String(text)) if text.trim().parse::<f64>().is_ok_and(f64::is_finite) => {
            Some(text.trim().to_owned())
        }
        _ => None,
    }
}

fn is_const(node: &Node) -> bool {
    matches!(node, Node::Const(_))
}

fn literal_value(literal: &Literal) -> Value {
    match literal {
        Literal::Null => Value::Null,
        Literal::Bool(value) => Value::Bool(*value),
        Literal::Integer(value) => Value::Int(*value),
        Literal::Float(value) => Value::Float(*value),
        Literal::String(text) => Value::from(text.as_str()),
    }
}

fn kind_of(code: &str) -> ErrorKind {
    match code {
        "unknown-function" => ErrorKind::UnknownFunction,
        "arity" => ErrorKind::Arity,
        "invalid-argument" => ErrorKind::InvalidArgument,
        "syntax" => ErrorKind::Syntax,
        _ => ErrorKind::Evaluation,
    }
}
