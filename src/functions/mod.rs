//! Functions: the registry, typed parameters, and the built-in library.
//!
//! A [`Function`] declares its parameters with a kind each; the evaluator coerces
//! arguments to those kinds before the body runs, and the compiler checks the
//! number of arguments and resolves the function once, so no name is looked up
//! while evaluating. Hosts register their own functions the same way.
//!
//! The built-ins live one file a family: conversion, strings (and lists), numbers,
//! dates, the chat runtime (functions that read the host's [`Context`]), and the
//! families authors know from peer tools: fallbacks, lists, JSON access, regex,
//! validators, and hashes, encodings and ids.

pub mod catalog;
mod context;
mod conversion;
mod date_math;
mod dates;
mod fallbacks;
mod hashes;
mod json;
#[cfg(feature = "http")]
pub(crate) use json::parse_query;
mod lists;
mod number_format;
mod numbers;
mod regex;
mod runtime;
mod strings;
mod validators;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

pub use context::{Client, Consent, Context, SecretResolver};

use crate::budget::{Budget, Limits};
use crate::value::{Value, ValueError};
use crate::variables::VariableSource;

/// An error raised by a function body; the evaluator adds the call's place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    message: String,
    limit: bool,
}

impl FunctionError {
    /// An error with its message.
    pub fn new(message: impl Into<String>) -> Self {
        FunctionError { message: message.into(), limit: false }
    }

    /// A safety limit was reached (a result too large, too many pieces).
    pub fn limit(message: impl Into<String>) -> Self {
        FunctionError { message: message.into(), limit: true }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether a safety limit was reached.
    pub fn is_limit(&self) -> bool {
        self.limit
    }
}

impl From<ValueError> for FunctionError {
    fn from(error: ValueError) -> Self {
        FunctionError::new(error.0)
    }
}

impl From<String> for FunctionError {
    fn from(message: String) -> Self {
        FunctionError::new(message)
    }
}

impl From<&str> for FunctionError {
    fn from(message: &str) -> Self {
        FunctionError::new(message.to_owned())
    }
}

/// The kind a parameter takes; arguments are coerced to it before the body runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any value, as it is.
    Any,
    /// The string form (null becomes `""`).
    Text,
    /// A number as arithmetic reads it: null and `""` are 0, strings are parsed.
    Number,
    /// A whole number (floats are truncated, strings read as integers).
    Integer,
    /// A boolean as `&&` reads it.
    Boolean,
}

impl Kind {
    /// The name the catalog uses: `any`, `text`, `number`, `integer`, `boolean`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Any => "any",
            Kind::Text => "text",
            Kind::Number => "number",
            Kind::Integer => "integer",
            Kind::Boolean => "boolean",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Any => "any value",
            Kind::Text => "text",
            Kind::Number => "a number",
            Kind::Integer => "a whole number",
            Kind::Boolean => "a boolean",
        }
    }
}

/// A declared parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// Its name, for messages and docs.
    pub name: &'static str,
    /// What it takes.
    pub kind: Kind,
    /// Whether it may be left out (only trailing parameters may).
    pub optional: bool,
}

/// What a function body receives besides its arguments.
pub struct CallContext<'a> {
    pub(crate) context: &'a Context,
    pub(crate) variables: &'a dyn VariableSource,
    pub(crate) budget: &'a Budget,
    /// Renders templates for `interpolate`: given by the evaluation above, since
    /// functions sit below templates and cannot compile one themselves.
    pub(crate) renderer: &'a dyn NestedRenderer,
}

/// Renders a text template in the variables and context of the evaluation that
/// called a function, spending from its budget (see [`CallContext::render_text`]).
pub(crate) trait NestedRenderer {
    /// The rendered text, or why it failed.
    fn render_text(&self, source: &str) -> Result<String, crate::Error>;
}

impl<'a> CallContext<'a> {
    /// The host's context: clock, time zone, locale, customer, random source.
    pub fn context(&self) -> &'a Context {
        self.context
    }

    /// The current value of a variable.
    pub fn variable(&self, name: &str) -> Option<Value> {
        self.variables.get(name)
    }

    /// The variables of this evaluation.
    pub fn variables(&self) -> &'a dyn VariableSource {
        self.variables
    }

    /// The limits in force.
    pub fn limits(&self) -> &'a Limits {
        self.budget.limits()
    }

    /// Refuses text longer than the output limit, or more than is left of the
    /// evaluation's byte budget; call before building large strings, with the size
    /// about to be built (or built so far: it can be called again as a result grows).
    /// The result is charged to the budget when the function returns.
    pub fn check_size(&self, bytes: usize) -> Result<(), FunctionError> {
        let limit = self.limits().max_output_bytes;
        if bytes > limit {
            return Err(FunctionError::limit(format!(
                "the result would be {bytes} bytes, more than the limit of {limit}"
            )));
        }
        self.budget.afford_bytes(bytes).map_err(|error| FunctionError::limit(error.message()))
    }

    /// Spends `steps` of the evaluation's step budget, for work a function does in
    /// proportion to its input beyond reading it (a regex match, say); refused past
    /// the budget or the context's deadline.
    pub fn charge_steps(&self, steps: u64) -> Result<(), FunctionError> {
        self.budget.charge(steps).map_err(|error| FunctionError::limit(error.message()))
    }

    /// Evaluates a text template in the current variables and context (for `interpolate`).
    pub fn render_text(&self, source: &str) -> Result<String, FunctionError> {
        self.renderer.render_text(source).map_err(|error| {
            // The nested template's own line and column would point into another text.
            let message = format!("the template {} failed: {}", Value::from(source).describe(), error.message());
            if error.kind() == crate::ErrorKind::Limit {
                FunctionError::limit(message)
            } else {
                FunctionError::new(message)
            }
        })
    }
}

type Body = dyn Fn(&[Value], &CallContext<'_>) -> Result<Value, FunctionError> + Send + Sync;
type Validator = dyn Fn(&[Option<&Value>]) -> Result<(), (usize, String)> + Send + Sync;
type ContextFree = dyn Fn(&[Option<&Value>]) -> bool + Send + Sync;

/// A function of the language: its name, parameters and body.
#[derive(Clone)]
pub struct Function {
    name: Arc<str>,
    params: Vec<Param>,
    variadic: bool,
    pure: bool,
    context_free: Option<Arc<ContextFree>>,
    validator: Option<Arc<Validator>>,
    doc: Doc,
    builtin: bool,
    body: Arc<Body>,
}

/// What the function catalog says of a function: a one-line summary, the kind of
/// its result, and an example call with the value it shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Doc {
    /// One line: what the function does.
    pub summary: &'static str,
    /// The kind of the result (`text`, `integer`, `number`, `boolean`, `list`, `any`…).
    pub returns: &'static str,
    /// An example expression and the JSON form of its value (`eval`'s output).
    pub example: Option<(&'static str, &'static str)>,
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Function({})", self.signature())
    }
}

impl Function {
    /// A function called `name` whose body takes the coerced arguments.
    ///
    /// ```
    /// use courier::{Engine, Function, Kind, Value, Context, Variables};
    ///
    /// let mut engine = Engine::new();
    /// engine.register(Function::new("shout", |args, _| Ok(Value::from(args[0].to_text().to_uppercase())))
    ///     .param("text", Kind::Text)).unwrap();
    /// let expression = engine.compile_expression("shout(name)").unwrap();
    /// let variables = Variables::from_strings([("name", "anna")]);
    /// let value = expression.evaluate(&variables, &Context::default()).unwrap();
    /// assert_eq!(value, Value::from("ANNA"));
    /// ```
    pub fn new(
        name: impl Into<Arc<str>>,
        body: impl Fn(&[Value], &CallContext<'_>) -> Result<Value, FunctionError> + Send + Sync + 'static,
    ) -> Self {
        Function {
            name: name.into(),
            params: Vec::new(),
            variadic: false,
            pure: true,
            context_free: None,
            validator: None,
            doc: Doc::default(),
            builtin: false,
            body: Arc::new(body),
        }
    }

    /// Adds a required parameter.
    pub fn param(mut self, name: &'static str, kind: Kind) -> Self {
        self.params.push(Param { name, kind, optional: false });
        self
    }

    /// Adds an optional parameter (after the required ones).
    pub fn optional(mut self, name: &'static str, kind: Kind) -> Self {
        self.params.push(Param { name, kind, optional: true });
        self
    }

    /// Makes the last parameter repeat: one or more of it.
    pub fn variadic(mut self) -> Self {
        self.variadic = true;
        self
    }

    /// Marks the function as reading the context or the variables, so that calls
    /// with constant arguments are not folded at compile time.
    pub fn reads_context(mut self) -> Self {
        self.pure = false;
        self
    }

    /// Marks the function as reading the context unless `free` says a call's constant
    /// arguments make it independent of it (`formatNumber` with a literal locale): such
    /// calls are folded, the others are not.
    pub fn reads_context_unless(mut self, free: impl Fn(&[Option<&Value>]) -> bool + Send + Sync + 'static) -> Self {
        self.pure = false;
        self.context_free = Some(Arc::new(free));
        self
    }

    /// Adds a compile-time check of constant arguments (a literal regex, a time zone):
    /// it gets each argument that is a constant, and names the argument it refuses.
    pub fn validate(
        mut self,
        validator: impl Fn(&[Option<&Value>]) -> Result<(), (usize, String)> + Send + Sync + 'static,
    ) -> Self {
        self.validator = Some(Arc::new(validator));
        self
    }

    /// Describes the function for the catalog: what it does and the kind it returns.
    pub fn summary(mut self, summary: &'static str, returns: &'static str) -> Self {
        self.doc.summary = summary;
        self.doc.returns = returns;
        self
    }

    /// Adds an example to the catalog: an expression and the JSON form of its value.
    pub fn example(mut self, expression: &'static str, value: &'static str) -> Self {
        self.doc.example = Some((expression, value));
        self
    }

    /// What the catalog says of the function.
    pub fn doc(&self) -> &Doc {
        &self.doc
    }

    /// Whether it is one of courier's built-ins (not a host's function).
    pub fn is_builtin(&self) -> bool {
        self.builtin
    }

    /// The declared kind of the last parameter repeats.
    pub fn is_variadic(&self) -> bool {
        self.variadic
    }

    /// The function's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The declared parameters.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// True when the result depends only on the arguments.
    pub fn is_pure(&self) -> bool {
        self.pure
    }

    /// True when a call with these constant arguments (`None` where an argument is
    /// not constant) depends only on its arguments, so that it may be folded.
    pub fn is_pure_for(&self, constants: &[Option<&Value>]) -> bool {
        self.pure || self.context_free.as_ref().is_some_and(|free| free(constants))
    }

    /// The fewest arguments it takes.
    pub fn min_args(&self) -> usize {
        self.params.iter().filter(|param| !param.optional).count()
    }

    /// The most arguments it takes, `None` when variadic.
    pub fn max_args(&self) -> Option<usize> {
        (!self.variadic).then_some(self.params.len())
    }

    /// `name(a, b?, c...)`, for messages.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .enumerate()
            .map(|(position, param)| {
                let suffix = if self.variadic && position + 1 == self.params.len() {
                    "..."
                } else if param.optional {
                    "?"
                } else {
                    ""
                };
                format!("{}{suffix}", param.name)
            })
            .collect();
        format!("{}({})", self.name, params.join(", "))
    }

    /// Checks an argument count, with a message that shows the signature.
    pub(crate) fn check_arity(&self, count: usize) -> Result<(), String> {
        let (min, max) = (self.min_args(), self.max_args());
        if count >= min && max.is_none_or(|max| count <= max) {
            return Ok(());
        }
        let expected = match max {
            Some(max) if max == min => format!("{min}"),
            Some(max) => format!("{min} to {max}"),
            None => format!("at least {min}"),
        };
        let plural = if matches!(expected.as_str(), "1" | "at least 1") { "" } else { "s" };
        Err(format!("{} takes {expected} argument{plural}, not {count}: {}", self.name, self.signature()))
    }

    pub(crate) fn validate_constants(&self, constants: &[Option<&Value>]) -> Result<(), (usize, String)> {
        self.validator.as_ref().map_or(Ok(()), |validator| validator(constants))
    }

    /// The kind of the argument at `position`.
    fn kind_at(&self, position: usize) -> Kind {
        self.params.get(position).or(self.params.last()).map_or(Kind::Any, |param| param.kind)
    }

    /// Coerces the arguments to their kinds and runs the body.
    pub(crate) fn call(&self, args: &mut [Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
        for (position, arg) in args.iter_mut().enumerate() {
            let kind = self.kind_at(position);
            coerce_argument(arg, kind).map_err(|error| {
                FunctionError::new(format!(
                    "argument {} of {} must be {}: {}",
                    position + 1,
                    self.name,
                    kind.describe(),
                    error
                ))
            })?;
        }
        // A host function that panics fails its call instead of unwinding through
        // the renderer (the built-ins never panic; the guard costs nothing until then).
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.body)(args, cx)))
            .unwrap_or_else(|_| Err(FunctionError::new(format!("{} failed: the function panicked", self.name))))
    }
}

fn coerce_argument(arg: &mut Value, kind: Kind) -> Result<(), ValueError> {
    use crate::value::ops::{Domain, arithmetic_domain, to_boolean, to_number};
    let coerced = match kind {
        Kind::Any => return Ok(()),
        Kind::Text if matches!(arg, Value::Str(_)) => return Ok(()),
        Kind::Text => Value::from(arg.to_text()),
        Kind::Number => to_number(arg, arithmetic_domain(arg, &Value::Null))?.into(),
        Kind::Integer => to_number(arg, Domain::Int)?.into(),
        Kind::Boolean => Value::Bool(to_boolean(arg)?),
    };
    *arg = coerced;
    Ok(())
}

/// A host function refused because a built-in has its name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} is a built-in function: register the host function under another name")]
pub struct RegisterError {
    /// The name asked for.
    pub name: String,
}

/// The functions a template can call, by name.
#[derive(Clone, Default)]
pub struct Registry {
    functions: HashMap<Arc<str>, Arc<Function>>,
}

impl Registry {
    /// A registry with no functions.
    pub fn empty() -> Self {
        Registry::default()
    }

    /// A registry with every built-in function.
    pub fn with_builtins() -> Self {
        let mut registry = Registry::empty();
        for function in conversion::functions()
            .into_iter()
            .chain(strings::functions())
            .chain(numbers::functions())
            .chain(dates::functions())
            .chain(runtime::functions())
            .chain(date_math::functions())
            .chain(number_format::functions())
            .chain(fallbacks::functions())
            .chain(lists::functions())
            .chain(json::functions())
            .chain(regex::functions())
            .chain(validators::functions())
            .chain(hashes::functions())
        {
            registry.register(Function { builtin: true, ..function });
        }
        registry
    }

    /// Adds a function, replacing one of the same name.
    pub fn register(&mut self, function: Function) {
        self.functions.insert(function.name.clone(), Arc::new(function));
    }

    /// Adds a host function, refusing a name a built-in has (replacing one would
    /// change what every template calling it means); another host function of the
    /// same name is replaced.
    pub fn register_host(&mut self, function: Function) -> Result<(), RegisterError> {
        if self.get(&function.name).is_some_and(|existing| existing.builtin) {
            return Err(RegisterError { name: function.name.to_string() });
        }
        self.register(Function { builtin: false, ..function });
        Ok(())
    }

    /// Every registered function, sorted by name.
    pub fn functions(&self) -> Vec<&Arc<Function>> {
        let mut functions: Vec<&Arc<Function>> = self.functions.values().collect();
        functions.sort_by(|a, b| a.name.cmp(&b.name));
        functions
    }

    /// The function called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<Function>> {
        self.functions.get(name)
    }

    /// Every registered name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.functions.keys().map(|name| &**name)
    }
}

/// Helpers shared by the built-in families.
pub(crate) mod util {
    use super::FunctionError;
    use crate::value::Value;

    /// The argument at `position`, or null when it was left out.
    pub(crate) fn arg(args: &[Value], position: usize) -> &Value {
        static NULL: Value = Value::Null;
        args.get(position).unwrap_or(&NULL)
    }

    /// The text of an argument declared as [`super::Kind::Text`].
    pub(crate) fn text(args: &[Value], position: usize) -> &str {
        arg(args, position).as_str().unwrap_or("")
    }

    /// The integer of an argument declared as [`super::Kind::Integer`].
    pub(crate) fn integer(args: &[Value], position: usize) -> i64 {
        match arg(args, position) {
            Value::Int(value) => *value,
            _ => 0,
        }
    }

    /// An optional argument, `None` when it was left out or is null or `""`: for an
    /// optional parameter all three mean "not given".
    pub(crate) fn given(args: &[Value], position: usize) -> Option<&Value> {
        match args.get(position)? {
            Value::Null => None,
            Value::Str(text) if text.is_empty() => None,
            value => Some(value),
        }
    }

    /// Coerces an argument declared as [`super::Kind::Any`] (because null there means
    /// "left out") to `kind`, with the message a declared kind gives; `position` is 0-based.
    pub(crate) fn coerce(
        value: &Value,
        kind: super::Kind,
        position: usize,
        function: &str,
    ) -> Result<Value, FunctionError> {
        let mut value = value.clone();
        super::coerce_argument(&mut value, kind).map_err(|error| {
            FunctionError::new(format!("argument {} of {function} must be {}: {error}", position + 1, kind.describe()))
        })?;
        Ok(value)
    }

    /// Reads a quoted literal of a Java pattern (`DateTimeFormatter`, `DecimalFormat`)
    /// after its opening quote: `''` is a quote, inside quotes or alone. `Err` when
    /// the quote is not closed.
    pub(crate) fn quoted_literal(
        chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
        literal: &mut String,
    ) -> Result<(), ()> {
        if chars.next_if_eq(&'\'').is_some() {
            literal.push('\'');
            return Ok(());
        }
        loop {
            match chars.next() {
                Some('\'') if chars.next_if_eq(&'\'').is_some() => literal.push('\''),
                Some('\'') => return Ok(()),
                Some(c) => literal.push(c),
                None => return Err(()),
            }
        }
    }

    /// A message naming the function and what went wrong.
    pub(crate) fn fail<T>(message: impl Into<String>) -> Result<T, FunctionError> {
        Err(FunctionError::new(message.into()))
    }
}
