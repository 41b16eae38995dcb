//! Evaluation: compiling an AST into a program once and evaluating it many times.
//!
//! [`Engine`] holds the function registry and the limits. Compiling resolves every
//! call to its function and checks its arity, folds constant sub-expressions, and
//! gives an immutable, `Send + Sync` [`Expression`]; evaluating walks that program
//! against a [`VariableSource`] and a [`Context`], with short-circuiting, a step
//! budget, and errors placed at the span that failed.

mod compile;
mod streams;

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

use smallvec::SmallVec;

pub use crate::budget::Limits;
pub use compile::CheckOptions;
pub(crate) use compile::Compiler;
pub use streams::operation_names;

use crate::budget::Budget;
use crate::error::{Error, ErrorKind};
use crate::functions::{CallContext, Context, Function, NestedRenderer, RegisterError, Registry};
use crate::syntax::{BinaryOp, Segment, Span, UnaryOp};
use crate::value::ops::{self, Arithmetic, Relation};
use crate::value::{Value, ValueError};
use crate::variables::VariableSource;

/// What templates are compiled with: the functions they may call and the limits.
///
/// Cheap to clone; compiled expressions keep a reference to it.
#[derive(Clone)]
pub struct Engine {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) registry: Registry,
    pub(crate) limits: Limits,
    /// Whether reading an unset variable is an error (see [`Engine::set_strict`]).
    pub(crate) strict: bool,
}

impl Default for Engine {
    fn default() -> Self {
        Engine::new()
    }
}

impl Engine {
    /// An engine with every built-in function and the default limits.
    pub fn new() -> Self {
        Engine::with_registry(Registry::with_builtins())
    }

    /// An engine with the given functions.
    pub fn with_registry(registry: Registry) -> Self {
        Engine { shared: Arc::new(Shared { registry, limits: Limits::default(), strict: false }) }
    }

    /// Adds a host function (before compiling what calls it). A name a built-in
    /// has is refused: replacing a built-in would change every template that calls it.
    pub fn register(&mut self, function: Function) -> Result<(), RegisterError> {
        Arc::make_mut(&mut self.shared).registry.register_host(function)
    }

    /// Strict mode: what this engine compiles from now on fails, naming the
    /// variable, when it reads a variable that is not set (instead of reading null).
    /// `empty name` still tests whether one is set.
    ///
    /// ```
    /// use courier::{Context, Engine, Variables};
    ///
    /// let mut engine = Engine::new();
    /// engine.set_strict(true);
    /// let greeting = engine.compile_expression("\"Hi \" += name").unwrap();
    /// let error = greeting.evaluate(&Variables::new(), &Context::default()).unwrap_err();
    /// assert_eq!(error.message(), "variable name is not set");
    /// let check = engine.compile_expression("empty name").unwrap();
    /// assert!(check.evaluate(&Variables::new(), &Context::default()).is_ok());
    /// ```
    pub fn set_strict(&mut self, strict: bool) {
        Arc::make_mut(&mut self.shared).strict = strict;
    }

    /// Whether the engine is in strict mode.
    pub fn is_strict(&self) -> bool {
        self.shared.strict
    }

    /// Replaces the limits.
    pub fn set_limits(&mut self, limits: Limits) {
        Arc::make_mut(&mut self.shared).limits = limits;
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// The registered functions.
    pub fn registry(&self) -> &Registry {
        &self.shared.registry
    }

    /// Compiles one expression (without `${ }`).
    ///
    /// ```
    /// use courier::{Context, Engine, Value, Variables};
    ///
    /// let engine = Engine::new();
    /// let expression = engine.compile_expression("toInteger(x) + 1").unwrap();
    /// for (x, expected) in [("41", 42), ("1", 2)] {
    ///     let variables = Variables::from_strings([("x", x)]);
    ///     let value = expression.evaluate(&variables, &Context::default()).unwrap();
    ///     assert_eq!(value, Value::Int(expected));
    /// }
    /// ```
    pub fn compile_expression(&self, source: &str) -> Result<Expression, Error> {
        let source: Arc<str> = Arc::from(source);
        let ast = crate::syntax::parse_expression_with(&source, &self.shared.limits.nesting)
            .map_err(|error| Error::from_syntax(error, &source))?;
        let mut compiler = Compiler::new(&self.shared, &source, None);
        let root = compiler.compile(&ast);
        compiler.finish()?;
        Ok(Expression { source, root, shared: self.shared.clone() })
    }
}

/// A node of a compiled program.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(Value),
    Variable(Box<str>, Span),
    Call(Box<Call>),
    Member(Box<(Node, Node)>, Span),
    Unary(UnaryOp, Box<Node>, Span),
    Binary(BinaryOp, Box<(Node, Node)>, Span),
    Conditional(Box<(Node, Node, Node)>, Span),
    /// `[a, b]`, `{a, b}` (duplicates dropped), `{k: v}`.
    List(Box<[Node]>, Span),
    Set(Box<[Node]>, Span),
    Map(Box<[(Node, Node)]>, Span),
    /// A lambda's parameter: its slot on the parameter stack.
    Param(u32, Span),
    /// `target.op(args)`.
    Method(Box<MethodCall>),
    /// `(x -> ...)(args)`.
    Apply(Box<(Lambda, Box<[Node]>)>, Span),
    /// What compiled into a certain error (an unknown operation, a lambda where a
    /// value is read), raised when evaluated: EL reports these at evaluation, and
    /// the branch holding it may never be taken.
    Invalid(Box<Error>),
}

/// A compiled lambda.
#[derive(Debug, Clone)]
pub(crate) struct Lambda {
    /// How many parameters it declares.
    pub(crate) params: u32,
    /// The slot of its first parameter: the enclosing lambdas' parameters count.
    pub(crate) base: u32,
    pub(crate) body: Node,
    pub(crate) span: Span,
    pub(crate) body_span: Span,
}

/// A compiled `target.op(args)`.
#[derive(Debug, Clone)]
pub(crate) struct MethodCall {
    pub(crate) target: Node,
    pub(crate) op: streams::Op,
    pub(crate) name: &'static str,
    pub(crate) args: Box<[streams::Arg]>,
    pub(crate) span: Span,
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) function: Arc<Function>,
    pub(crate) args: Box<[Node]>,
    pub(crate) span: Span,
}

/// A compiled expression: immutable, `Send + Sync`, evaluated any number of times.
#[derive(Clone)]
pub struct Expression {
    source: Arc<str>,
    root: Node,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Expression").field("source", &self.source).finish_non_exhaustive()
    }
}

impl Expression {
    /// Evaluates to a typed value.
    pub fn evaluate(&self, variables: &dyn VariableSource, context: &Context) -> Result<Value, Error> {
        Runtime::new(&self.shared, &self.source, variables, context, 0).eval(&self.root)
    }

    /// Evaluates to the string form.
    pub fn evaluate_text(&self, variables: &dyn VariableSource, context: &Context) -> Result<String, Error> {
        self.evaluate(variables, context).map(|value| value.to_text())
    }

    /// The source it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// The state of one evaluation.
pub(crate) struct Runtime<'a> {
    shared: &'a Arc<Shared>,
    source: &'a Arc<str>,
    pub(crate) variables: &'a dyn VariableSource,
    pub(crate) context: &'a Context,
    budget: Budget,
    interpolation_depth: u32,
    /// The arguments of the lambdas being called, outermost first.
    params: RefCell<Vec<Value>>,
}

impl<'a> Runtime<'a> {
    pub(crate) fn new(
        shared: &'a Arc<Shared>,
        source: &'a Arc<str>,
        variables: &'a dyn VariableSource,
        context: &'a Context,
        interpolation_depth: u32,
    ) -> Self {
        Runtime {
            shared,
            source,
            variables,
            context,
            budget: Budget::new(shared.limits, context.deadline()),
            interpolation_depth,
            params: RefCell::new(Vec::new()),
        }
    }

    fn fail(&self, error: ValueError, span: Span) -> Error {
        Error::new(ErrorKind::Evaluation, error.0).at(span, self.source)
    }

    /// Strict mode's error for an unset variable.
    fn unset(&self, name: &str, span: Span) -> Error {
        Error::new(ErrorKind::Evaluation, format!("variable {name} is not set")).at(span, self.source).with_suggestion(
            Some(format!("set {name} (--var {name}=...), or test it first: empty {name} ? ... : {name}")),
        )
    }

    fn step(&self, span: Span) -> Result<(), Error> {
        self.charge(1).map_err(|error| error.at(span, self.source))
    }

    /// Evaluates a node to an owned value.
    pub(crate) fn eval(&self, node: &Node) -> Result<Value, Error> {
        self.eval_ref(node).map(Cow::into_owned)
    }

    /// Evaluates a node, borrowing constants and stored variables instead of
    /// cloning them: reading a value that is already there costs nothing.
    pub(crate) fn eval_ref<'x>(&'x self, node: &'x Node) -> Result<Cow<'x, Value>, Error> {
        Ok(match node {
            Node::Const(value) => Cow::Borrowed(value),
            Node::Variable(name, span) => self.variable(name, *span)?,
            // `empty name` tests whether a variable is set, in strict mode too.
            Node::Unary(UnaryOp::Empty, operand, _) if matches!(**operand, Node::Variable(..)) => {
                let Node::Variable(name, _) = &**operand else { unreachable!("matched above") };
                let value = self.variables.lookup(name);
                Cow::Owned(Value::Bool(value.is_none_or(|value| ops::is_empty(&value))))
            }
            Node::Call(call) => Cow::Owned(self.call(call)?),
            Node::Member(pair, span) => {
                self.step(*span)?;
                let target = self.eval_ref(&pair.0)?;
                let key = self.eval_ref(&pair.1)?;
                Cow::Owned(ops::member(&target, &key).map_err(|error| self.fail(error, *span))?)
            }
            Node::Unary(op, operand, span) => {
                let value = self.eval_ref(operand)?;
                Cow::Owned(
                    match op {
                        UnaryOp::Negate => ops::negate(&value),
                        UnaryOp::Not => ops::to_boolean(&value).map(|truth| Value::Bool(!truth)),
                        UnaryOp::Empty => Ok(Value::Bool(ops::is_empty(&value))),
                    }
                    .map_err(|error| self.fail(error, *span))?,
                )
            }
            Node::Binary(op, pair, span) => Cow::Owned(self.binary(*op, &pair.0, &pair.1, *span)?),
            Node::Conditional(parts, span) => {
                let condition = self.eval_ref(&parts.0)?;
                let truth = ops::to_boolean(&condition).map_err(|error| self.fail(error, *span))?;
                self.eval_ref(if truth { &parts.1 } else { &parts.2 })?
            }
            Node::List(items, span) => Cow::Owned(Value::list(self.items(items, *span)?)),
            Node::Set(items, span) => Cow::Owned(Value::list(self.distinct(self.items(items, *span)?, *span)?)),
            Node::Map(entries, span) => Cow::Owned(self.map_literal(entries, *span)?),
            Node::Param(slot, span) => match self.params.borrow().get(*slot as usize) {
                Some(value) => Cow::Owned(value.clone()),
                None => return Err(self.fail(ValueError("a lambda parameter read outside its lambda".into()), *span)),
            },
            Node::Method(call) => Cow::Owned(self.settle(self.method(call)?, call.span)?),
            Node::Apply(pair, span) => Cow::Owned(self.settle(self.apply(&pair.0, &pair.1)?, *span)?),
            Node::Invalid(error) => return Err((**error).clone()),
        })
    }

    /// Evaluates a node that may give a stream or an optional (an operation, a
    /// lambda call); anything else is a value.
    pub(crate) fn flow(&self, node: &Node) -> Result<streams::Flow, Error> {
        match node {
            Node::Method(call) => self.method(call),
            Node::Apply(pair, _) => self.apply(&pair.0, &pair.1),
            _ => self.eval(node).map(streams::Flow::Value),
        }
    }

    fn apply(&self, lambda: &Lambda, args: &[Node]) -> Result<streams::Flow, Error> {
        let args = args.iter().map(|arg| self.eval(arg)).collect::<Result<Vec<_>, _>>()?;
        self.call_lambda(lambda, &args)
    }

    /// The values of a literal's items, one step each, within `max_list_len`.
    fn items(&self, items: &[Node], span: Span) -> Result<Vec<Value>, Error> {
        self.bounded(items.len(), span)?;
        self.charge(items.len() as u64 + 1).map_err(|error| error.at(span, self.source))?;
        items.iter().map(|item| self.eval(item)).collect()
    }

    /// A map literal: keys are their text (a JSON object's keys), in written order.
    fn map_literal(&self, entries: &[(Node, Node)], span: Span) -> Result<Value, Error> {
        self.charge(entries.len() as u64 + 1).map_err(|error| error.at(span, self.source))?;
        let mut map = crate::value::Map::with_capacity(entries.len());
        for (key, value) in entries {
            let key = self.eval_ref(key)?.to_text();
            map.insert(key, self.eval(value)?);
        }
        Ok(Value::map(map))
    }

    /// An operand of an operator or a call: a constant or a variable (the commonest
    /// operands) is lent in place, without a call into the tree walk.
    #[inline(always)]
    fn operand<'x>(&'x self, node: &'x Node) -> Result<Cow<'x, Value>, Error> {
        match node {
            Node::Const(value) => Ok(Cow::Borrowed(value)),
            Node::Variable(name, span) => self.variable(name, *span),
            _ => self.eval_ref(node),
        }
    }

    /// A variable's value, lent by the store; null when unset, or an error in strict mode.
    #[inline(always)]
    fn variable<'x>(&'x self, name: &str, span: Span) -> Result<Cow<'x, Value>, Error> {
        match self.variables.lookup(name) {
            Some(value) => Ok(value),
            None if self.shared.strict => Err(self.unset(name, span)),
            None => Ok(Cow::Owned(Value::Null)),
        }
    }

    fn binary(&self, op: BinaryOp, left: &Node, right: &Node, span: Span) -> Result<Value, Error> {
        self.step(span)?;
        let truth = |value: &Value| ops::to_boolean(value).map_err(|error| self.fail(error, span));
        match op {
            BinaryOp::And => {
                return Ok(Value::Bool(truth(&*self.eval_ref(left)?)? && truth(&*self.eval_ref(right)?)?));
            }
            BinaryOp::Or => {
                return Ok(Value::Bool(truth(&*self.eval_ref(left)?)? || truth(&*self.eval_ref(right)?)?));
            }
            _ => {}
        }
        let a = self.operand(left)?;
        let b = self.operand(right)?;
        if let Some(value) = same_type_binary(op, &a, &b) {
            return Ok(value);
        }
        let result = match op {
            BinaryOp::Add => ops::arithmetic(Arithmetic::Add, &a, &b),
            BinaryOp::Sub => ops::arithmetic(Arithmetic::Sub, &a, &b),
            BinaryOp::Mul => ops::arithmetic(Arithmetic::Mul, &a, &b),
            BinaryOp::Rem => ops::arithmetic(Arithmetic::Rem, &a, &b),
            BinaryOp::Div => ops::divide(&a, &b),
            BinaryOp::Eq => ops::equals(&a, &b).map(Value::Bool),
            BinaryOp::Ne => ops::equals(&a, &b).map(|equal| Value::Bool(!equal)),
            BinaryOp::Lt => ops::relate(Relation::Less, &a, &b).map(Value::Bool),
            BinaryOp::Gt => ops::relate(Relation::Greater, &a, &b).map(Value::Bool),
            BinaryOp::Le => ops::relate(Relation::LessOrEqual, &a, &b).map(Value::Bool),
            BinaryOp::Ge => ops::relate(Relation::GreaterOrEqual, &a, &b).map(Value::Bool),
            BinaryOp::Concat => return self.concat(&a, &b, span),
            BinaryOp::And | BinaryOp::Or => unreachable!("short-circuit operators return above"),
        };
        result.map_err(|error| self.fail(error, span))
    }

    /// `a += b`, refused before the text is built when it would pass the output limit.
    fn concat(&self, a: &Value, b: &Value, span: Span) -> Result<Value, Error> {
        let (a, b) = (a.text(), b.text());
        let length = a.len() + b.len();
        let limit = self.shared.limits.max_output_bytes;
        if length > limit {
            let message = format!("the joined text would be {length} bytes, more than the limit of {limit}");
            return Err(Error::new(ErrorKind::Limit, message).at(span, self.source));
        }
        self.spend_bytes(length).map_err(|error| error.at(span, self.source))?;
        let mut joined = String::with_capacity(length);
        joined.push_str(&a);
        joined.push_str(&b);
        Ok(Value::from(joined))
    }

    fn call(&self, call: &Call) -> Result<Value, Error> {
        self.step(call.span)?;
        // Most calls take a few arguments: keep them on the stack.
        let mut args: SmallVec<[Value; 4]> = SmallVec::with_capacity(call.args.len());
        for arg in call.args.iter() {
            args.push(self.operand(arg)?.into_owned());
        }
        // The text a function reads is work in proportion to its length, and what
        // it builds is memory: both spend from the evaluation's byte budget.
        let read: usize = args.iter().map(text_bytes).fold(0, usize::saturating_add);
        self.spend_bytes(read).map_err(|error| error.at(call.span, self.source))?;
        let cx = CallContext { context: self.context, variables: self.variables, budget: &self.budget, renderer: self };
        let result = call.function.call(&mut args, &cx).map_err(|error| {
            let kind = if error.is_limit() { ErrorKind::Limit } else { ErrorKind::Evaluation };
            Error::new(kind, error.message()).at(call.span, self.source)
        })?;
        self.spend_bytes(text_bytes(&result)).map_err(|error| error.at(call.span, self.source))?;
        Ok(result)
    }

    /// Spends `steps` of the evaluation's budget.
    fn charge(&self, steps: u64) -> Result<(), Error> {
        self.budget.charge(steps)
    }

    /// Spends `bytes` of the byte budget (text read or built).
    fn spend_bytes(&self, bytes: usize) -> Result<(), Error> {
        self.budget.spend_bytes(bytes)
    }

    /// Renders compiled text parts into `out`, `write_hole` deciding how each
    /// hole's value is written; refused past the output limit.
    pub(crate) fn render_parts(
        &self,
        parts: &[Part],
        mut write_hole: impl FnMut(&Value, Span, &mut String) -> Result<(), Error>,
        out: &mut String,
    ) -> Result<(), Error> {
        let limit = self.shared.limits.max_output_bytes;
        for part in parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Hole(node, span) => {
                    let value = self.eval_ref(node)?;
                    write_hole(&value, *span, out)?;
                    if out.len() > limit {
                        let message = format!("the output is larger than the limit of {limit} bytes");
                        return Err(Error::new(ErrorKind::Limit, message).at(*span, self.source));
                    }
                }
            }
        }
        Ok(())
    }
}

/// `interpolate`'s renderer: a text template compiled and rendered in the current
/// variables and context, one level deeper, spending from this evaluation's budget.
impl NestedRenderer for Runtime<'_> {
    fn render_text(&self, source: &str) -> Result<String, Error> {
        let depth = self.interpolation_depth + 1;
        let max_depth = self.shared.limits.max_interpolation_depth;
        if depth > max_depth {
            let message = format!("templates nest more than {max_depth} levels through interpolate");
            return Err(Error::new(ErrorKind::Limit, message));
        }
        // Compiling costs work in proportion to the source, and the nested render
        // spends from this evaluation's budget: fan-out through translations that
        // interpolate each other many times cannot multiply the work.
        self.charge(1 + source.len() as u64 / 16)?;
        let source: Arc<str> = Arc::from(source);
        let parts = compile_text(self.shared, &source)?;
        let mut nested = Runtime::new(self.shared, &source, self.variables, self.context, depth);
        nested.budget = self.budget.nested();
        let mut out = String::new();
        let rendered = nested.render_parts(&parts, write_text, &mut out);
        self.budget.take_spent_from(&nested.budget);
        rendered.map(|()| out)
    }
}

/// A piece of a compiled text template: literal text, or a hole to evaluate.
#[derive(Debug, Clone)]
pub(crate) enum Part {
    Text(Box<str>),
    Hole(Node, Span),
}

/// Compiles a text template's source into its parts.
pub(crate) fn compile_text(shared: &Arc<Shared>, source: &Arc<str>) -> Result<Vec<Part>, Error> {
    let ast = crate::syntax::parse_template_with(source, &shared.limits.nesting)
        .map_err(|error| Error::from_syntax(error, source))?;
    let mut compiler = Compiler::new(shared, source, None);
    let parts = ast
        .segments
        .iter()
        .map(|segment| match segment {
            Segment::Text(text) => Part::Text(text.as_str().into()),
            Segment::Interpolation(expr, span) => Part::Hole(compiler.compile(expr), *span),
        })
        .collect();
    compiler.finish()?;
    Ok(parts)
}

/// The text context's way of writing a hole: its string form, as it is.
pub(crate) fn write_text(value: &Value, _: Span, out: &mut String) -> Result<(), Error> {
    value.write_text(out);
    Ok(())
}

/// The hot operators on two integers or two strings, answered without the general
/// coercion rules of [`ops`] (which give the same answer for these types: integers
/// compare and add as integers, two strings are equal when their texts are). `None`
/// for everything else, and for an overflow, whose error [`ops`] writes.
#[inline]
fn same_type_binary(op: BinaryOp, a: &Value, b: &Value) -> Option<Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => match op {
            BinaryOp::Add => x.checked_add(*y).map(Value::Int),
            BinaryOp::Sub => x.checked_sub(*y).map(Value::Int),
            BinaryOp::Mul => x.checked_mul(*y).map(Value::Int),
            BinaryOp::Eq => Some(Value::Bool(x == y)),
            BinaryOp::Ne => Some(Value::Bool(x != y)),
            BinaryOp::Lt => Some(Value::Bool(x < y)),
            BinaryOp::Gt => Some(Value::Bool(x > y)),
            BinaryOp::Le => Some(Value::Bool(x <= y)),
            BinaryOp::Ge => Some(Value::Bool(x >= y)),
            _ => None,
        },
        (Value::Str(x), Value::Str(y)) => match op {
            BinaryOp::Eq => Some(Value::Bool(x == y)),
            BinaryOp::Ne => Some(Value::Bool(x != y)),
            _ => None,
        },
        _ => None,
    }
}

/// The bytes of text in a value: a string's length, a list's or map's strings' lengths.
fn text_bytes(value: &Value) -> usize {
    match value {
        Value::Str(text) => text.len(),
        Value::List(items) => items.iter().map(text_bytes).fold(items.len(), usize::saturating_add),
        Value::Map(map) => map
            .iter()
            .map(|(key, value)| key.len().saturating_add(text_bytes(value)))
            .fold(map.len(), usize::saturating_add),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variables::{NoVariables, Variables};
    use proptest::strategy::Just;

    fn eval(source: &str) -> Result<Value, Error> {
        Engine::new().compile_expression(source)?.evaluate(&NoVariables, &Context::default())
    }

    #[test]
    fn compiled_expressions_are_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Expression>();
        assert_send_sync::<Engine>();
    }

    #[test]
    fn short_circuit_skips_failing_operands() {
        assert_eq!(eval("false && toInteger('x') == 1").unwrap(), Value::Bool(false));
        assert_eq!(eval("true || toInteger('x') == 1").unwrap(), Value::Bool(true));
        assert_eq!(eval("true ? 1 : toInteger('x')").unwrap(), Value::Int(1));
    }

    #[test]
    fn errors_name_value_and_place() {
        let error = eval("1 +\n toInteger(\"abc\")").unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Evaluation);
        assert_eq!(
            error.to_string(),
            "line 2, column 2: cannot convert \"abc\" to an integer (in: toInteger(\"abc\"))"
        );
    }

    #[test]
    fn unknown_variables_are_null() {
        let expression = Engine::new().compile_expression("missing == null").unwrap();
        assert_eq!(expression.evaluate(&Variables::new(), &Context::default()).unwrap(), Value::Bool(true));
    }

    /// What the general rules of [`ops`] answer, for comparison with the fast path.
    fn general_binary(op: BinaryOp, a: &Value, b: &Value) -> Result<Value, ValueError> {
        match op {
            BinaryOp::Add => ops::arithmetic(Arithmetic::Add, a, b),
            BinaryOp::Sub => ops::arithmetic(Arithmetic::Sub, a, b),
            BinaryOp::Mul => ops::arithmetic(Arithmetic::Mul, a, b),
            BinaryOp::Eq => ops::equals(a, b).map(Value::Bool),
            BinaryOp::Ne => ops::equals(a, b).map(|equal| Value::Bool(!equal)),
            BinaryOp::Lt => ops::relate(Relation::Less, a, b).map(Value::Bool),
            BinaryOp::Gt => ops::relate(Relation::Greater, a, b).map(Value::Bool),
            BinaryOp::Le => ops::relate(Relation::LessOrEqual, a, b).map(Value::Bool),
            BinaryOp::Ge => ops::relate(Relation::GreaterOrEqual, a, b).map(Value::Bool),
            other => unreachable!("{other:?} has no fast path"),
        }
    }

    const FAST_OPS: [BinaryOp; 9] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Eq,
        BinaryOp::Ne,
        BinaryOp::Lt,
        BinaryOp::Gt,
        BinaryOp::Le,
        BinaryOp::Ge,
    ];

    proptest::proptest! {
        /// The fast path answers as the general rules do wherever it answers, and
        /// leaves overflows to them.
        #[test]
        fn the_fast_path_agrees_with_the_general_rules(
            x in proptest::prop_oneof![proptest::num::i64::ANY, -3i64..3, Just(i64::MAX), Just(i64::MIN)],
            y in proptest::prop_oneof![proptest::num::i64::ANY, -3i64..3, Just(i64::MAX), Just(i64::MIN)],
            s in "[a-c0-9 .eE-]{0,3}",
            t in "[a-c0-9 .eE-]{0,3}",
        ) {
            for op in FAST_OPS {
                for (a, b) in [(Value::Int(x), Value::Int(y)), (Value::from(s.as_str()), Value::from(t.as_str()))] {
                    if let Some(fast) = same_type_binary(op, &a, &b) {
                        let general = general_binary(op, &a, &b);
                        proptest::prop_assert_eq!(Some(&fast), general.as_ref().ok(), "{:?} {:?} {:?}", a, op, b);
                    } else if let (Value::Int(_), Value::Int(_)) = (&a, &b) {
                        proptest::prop_assert!(general_binary(op, &a, &b).is_err(), "{:?} {:?} {:?}", a, op, b);
                    }
                }
            }
        }
    }

    #[test]
    fn the_step_budget_stops_long_work() {
        let mut engine = Engine::new();
        engine.set_limits(Limits { max_steps: 10, ..Limits::default() });
        let expression = engine.compile_expression(&vec!["x"; 20].join(" + ")).unwrap();
        let error = expression.evaluate(&NoVariables, &Context::default()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Limit);
    }
}
