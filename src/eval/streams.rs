//! Collection operations: EL 3.0's `list.stream()` and the operations that follow
//! it, the optional results, and calling lambdas.
//!
//! Tomcat's `org.apache.el.stream` is the reference: each operation here answers as
//! its namesake there does, with the deviations docs/language.md lists. Streams run
//! eagerly, stage by stage, so a stream is a plain list of values; every element
//! visited and every lambda called spends a step, and no stream grows past
//! `max_list_len`.

use std::cmp::Ordering;
use std::collections::HashSet;

use super::{Error, ErrorKind, Lambda, MethodCall, Runtime};
use crate::syntax::Span;
use crate::value::Value;
use crate::value::ops::{self, Arithmetic, Domain, Number};

/// What evaluating an operation gives: a value, or one of the things that exist
/// only between operations (a stream, an optional).
#[derive(Debug)]
pub(crate) enum Flow {
    /// A value of the language.
    Value(Value),
    /// A stream's elements, in order.
    Stream(Vec<Value>),
    /// An optional result; `None` is empty.
    Optional(Option<Value>),
}

/// The operations, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Stream,
    Values,
    Filter,
    Map,
    FlatMap,
    Distinct,
    Sorted,
    Limit,
    Substream,
    ToList,
    Count,
    Sum,
    Average,
    Min,
    Max,
    AnyMatch,
    AllMatch,
    NoneMatch,
    FindFirst,
    Reduce,
    Get,
    OrElse,
    OrElseGet,
    IsPresent,
}

/// What one argument position takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Takes {
    /// A value.
    Value,
    /// A lambda, called with this many arguments.
    Lambda(u32),
}

use Takes::{Lambda as L, Value as V};

/// Every operation: its name, what it is, and the argument lists it accepts.
pub(crate) const OPERATIONS: &[(&str, Op, &[&[Takes]])] = &[
    ("stream", Op::Stream, &[&[]]),
    ("values", Op::Values, &[&[]]),
    ("filter", Op::Filter, &[&[L(1)]]),
    ("map", Op::Map, &[&[L(1)]]),
    ("flatMap", Op::FlatMap, &[&[L(1)]]),
    ("distinct", Op::Distinct, &[&[]]),
    ("sorted", Op::Sorted, &[&[], &[L(2)]]),
    ("limit", Op::Limit, &[&[V]]),
    ("substream", Op::Substream, &[&[V], &[V, V]]),
    ("toList", Op::ToList, &[&[]]),
    ("count", Op::Count, &[&[]]),
    ("sum", Op::Sum, &[&[]]),
    ("average", Op::Average, &[&[]]),
    ("min", Op::Min, &[&[], &[L(2)]]),
    ("max", Op::Max, &[&[], &[L(2)]]),
    ("anyMatch", Op::AnyMatch, &[&[L(1)]]),
    ("allMatch", Op::AllMatch, &[&[L(1)]]),
    ("noneMatch", Op::NoneMatch, &[&[L(1)]]),
    ("findFirst", Op::FindFirst, &[&[]]),
    ("reduce", Op::Reduce, &[&[L(2)], &[V, L(2)]]),
    ("get", Op::Get, &[&[]]),
    ("orElse", Op::OrElse, &[&[V]]),
    ("orElseGet", Op::OrElseGet, &[&[L(0)]]),
    ("isPresent", Op::IsPresent, &[&[]]),
];

/// The names of the operations, for "did you mean" and completion.
pub fn operation_names() -> impl Iterator<Item = &'static str> {
    OPERATIONS.iter().map(|(name, ..)| *name)
}

/// An argument of an operation, compiled.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Value(super::Node),
    Lambda(Lambda),
}

type Result<T> = std::result::Result<T, Error>;

impl Runtime<'_> {
    /// An evaluation error at `span`.
    fn error_at(&self, message: impl Into<String>, span: Span) -> Error {
        Error::new(ErrorKind::Evaluation, message).at(span, self.source)
    }

    /// Turns what an operation gave into a value; a stream or an optional left
    /// unfinished is an error that says how to finish it.
    pub(crate) fn settle(&self, flow: Flow, span: Span) -> Result<Value> {
        match flow {
            Flow::Value(value) => Ok(value),
            Flow::Stream(_) => Err(self.error_at("this is a stream, not a value", span).with_suggestion(Some(
                "end it with toList(), count(), findFirst() or another terminal operation".into(),
            ))),
            Flow::Optional(_) => Err(self
                .error_at("this is an optional result, not a value", span)
                .with_suggestion(Some("read it with get(), orElse(default) or isPresent()".into()))),
        }
    }

    /// Calls a lambda with `args`: its parameters are bound above the enclosing
    /// lambdas' ones for the time of the call.
    pub(crate) fn call_lambda(&self, lambda: &Lambda, args: &[Value]) -> Result<Flow> {
        self.step(lambda.span)?;
        let wanted = lambda.params as usize;
        if args.len() < wanted {
            let message = format!(
                "the lambda takes {wanted} argument{}, and was given {}",
                if wanted == 1 { "" } else { "s" },
                args.len()
            );
            return Err(self.error_at(message, lambda.span));
        }
        let base = lambda.base as usize;
        // A lambda is called only while its enclosing lambdas' bodies are evaluated,
        // so the stack holds exactly their parameters; the tail is kept in case not.
        let saved = {
            let mut params = self.params.borrow_mut();
            let keep = base.min(params.len());
            let tail = params.split_off(keep);
            params.resize(base, Value::Null);
            params.extend(args[..wanted].iter().cloned());
            tail
        };
        let result = self.flow(&lambda.body);
        let mut params = self.params.borrow_mut();
        params.truncate(base);
        params.extend(saved);
        result
    }

    /// Calls a lambda and settles its result into a value.
    fn call_value(&self, lambda: &Lambda, args: &[Value]) -> Result<Value> {
        let flow = self.call_lambda(lambda, args)?;
        self.settle(flow, lambda.body_span)
    }

    /// Evaluates `target.op(args)`.
    pub(crate) fn method(&self, call: &MethodCall) -> Result<Flow> {
        self.step(call.span)?;
        let target = self.flow(&call.target)?;
        // EL reads nothing from null: `missing.stream().toList()` is null.
        if let Flow::Value(Value::Null) = target {
            return Ok(Flow::Value(Value::Null));
        }
        match call.op {
            Op::Stream => self.open_stream(target, call),
            Op::Values => match target {
                Flow::Value(Value::Map(map)) => Ok(Flow::Value(Value::list(map.values().cloned().collect()))),
                other => Err(self.wrong_receiver(&other, "values()", "a map", call.span)),
            },
            Op::Get | Op::OrElse | Op::OrElseGet | Op::IsPresent => match target {
                Flow::Optional(value) => self.optional(value, call),
                other => Err(self.wrong_receiver(&other, call.name, "an optional result", call.span)),
            },
            _ => match target {
                Flow::Stream(items) => self.stream_op(items, call),
                Flow::Value(Value::List(_)) => Err(self
                    .error_at(format!("{}() is an operation of streams, and this is a list", call.name), call.span)
                    .with_suggestion(Some(format!("write list.stream().{}(...)", call.name)))),
                other => Err(self.wrong_receiver(&other, call.name, "a stream", call.span)),
            },
        }
    }

    fn wrong_receiver(&self, target: &Flow, name: &str, wanted: &str, span: Span) -> Error {
        let what = match target {
            Flow::Value(value) => value.describe(),
            Flow::Stream(_) => "a stream".into(),
            Flow::Optional(_) => "an optional result".into(),
        };
        self.error_at(format!("{name}() works on {wanted}, not on {what}"), span)
    }

    fn open_stream(&self, target: Flow, call: &MethodCall) -> Result<Flow> {
        match target {
            Flow::Value(Value::List(items)) => {
                self.charge(items.len() as u64).map_err(|error| error.at(call.span, self.source))?;
                Ok(Flow::Stream(items.as_ref().clone()))
            }
            Flow::Value(Value::Map(_)) => Err(self
                .error_at("a map has no stream()", call.span)
                .with_suggestion(Some("stream its values: map.values().stream()".into()))),
            other => Err(self.wrong_receiver(&other, "stream", "a list or a set", call.span)),
        }
    }

    /// The value of argument `at`.
    fn arg_value(&self, call: &MethodCall, at: usize) -> Result<Value> {
        match &call.args[at] {
            Arg::Value(node) => self.eval(node),
            Arg::Lambda(lambda) => Err(self.error_at("a lambda is not a value here", lambda.span)),
        }
    }

    /// The lambda of argument `at` (the compiler made sure there is one).
    fn arg_lambda<'c>(&self, call: &'c MethodCall, at: usize) -> Result<&'c Lambda> {
        match &call.args[at] {
            Arg::Lambda(lambda) => Ok(lambda),
            Arg::Value(_) => Err(self.error_at(format!("{}() takes a lambda here", call.name), call.span)),
        }
    }

    /// One step for each element visited.
    fn visit(&self, items: usize, span: Span) -> Result<()> {
        self.charge(items as u64).map_err(|error| error.at(span, self.source))
    }

    /// Refuses a stream that would grow past `max_list_len`.
    pub(super) fn bounded(&self, length: usize, span: Span) -> Result<()> {
        let max = self.shared.limits.max_list_len;
        if length > max {
            let message = format!("the list would have more than {max} elements, the limit");
            return Err(Error::new(ErrorKind::Limit, message).at(span, self.source));
        }
        Ok(())
    }

    fn stream_op(&self, items: Vec<Value>, call: &MethodCall) -> Result<Flow> {
        let span = call.span;
        self.visit(items.len(), span)?;
        Ok(match call.op {
            Op::Filter => {
                let lambda = self.arg_lambda(call, 0)?;
                let mut kept = Vec::new();
                for item in items {
                    let verdict = self.call_value(lambda, std::slice::from_ref(&item))?;
                    if ops::to_boolean(&verdict).map_err(|error| self.error_at(error.0, lambda.body_span))? {
                        kept.push(item);
                    }
                }
                Flow::Stream(kept)
            }
            Op::Map => {
                let lambda = self.arg_lambda(call, 0)?;
                let mapped = items.iter().map(|item| self.call_value(lambda, std::slice::from_ref(item)));
                Flow::Stream(mapped.collect::<Result<_>>()?)
            }
            Op::FlatMap => Flow::Stream(self.flat_map(items, call)?),
            Op::Distinct => Flow::Stream(self.distinct(items, span)?),
            Op::Sorted => Flow::Stream(self.sorted(items, call)?),
            Op::Limit => {
                let end = self.index_arg(call, 0)?;
                Flow::Stream(items.into_iter().take(end).collect())
            }
            Op::Substream => {
                let start = self.index_arg(call, 0)?;
                let end = if call.args.len() > 1 { self.index_arg(call, 1)? } else { usize::MAX };
                Flow::Stream(items.into_iter().take(end).skip(start).collect())
            }
            Op::ToList => {
                self.bounded(items.len(), span)?;
                Flow::Value(Value::list(items))
            }
            Op::Count => Flow::Value(Value::Int(items.len() as i64)),
            Op::Sum => Flow::Value(self.sum(&items, span)?),
            Op::Average => match items.len() {
                0 => Flow::Optional(None),
                count => {
                    let sum = self.sum(&items, span)?;
                    let average = ops::divide(&sum, &Value::Int(count as i64));
                    Flow::Optional(Some(average.map_err(|error| self.error_at(error.0, span))?))
                }
            },
            Op::Min | Op::Max => Flow::Optional(self.extreme(items, call)?),
            Op::AnyMatch | Op::AllMatch | Op::NoneMatch => Flow::Optional(self.matching(items, call)?),
            Op::FindFirst => Flow::Optional(items.into_iter().next().filter(|first| !first.is_null())),
            Op::Reduce => self.reduce(items, call)?,
            Op::Stream | Op::Values | Op::Get | Op::OrElse | Op::OrElseGet | Op::IsPresent => {
                unreachable!("dispatched before")
            }
        })
    }

    /// The elements without repeats, first ones kept. Telling a list or a map apart
    /// costs its text, which spends the byte budget.
    pub(super) fn distinct(&self, items: Vec<Value>, span: Span) -> Result<Vec<Value>> {
        let mut seen = HashSet::new();
        let mut kept = Vec::new();
        for item in items {
            let key = identity(&item);
            self.budget.spend_bytes(key.1.len()).map_err(|error| error.at(span, self.source))?;
            if seen.insert(key) {
                kept.push(item);
            }
        }
        Ok(kept)
    }

    fn flat_map(&self, items: Vec<Value>, call: &MethodCall) -> Result<Vec<Value>> {
        let lambda = self.arg_lambda(call, 0)?;
        let mut out = Vec::new();
        for item in items {
            let more = match self.call_lambda(lambda, std::slice::from_ref(&item))? {
                Flow::Stream(more) => more,
                Flow::Value(Value::List(more)) => more.as_ref().clone(),
                other => {
                    let what = match other {
                        Flow::Value(value) => value.describe(),
                        _ => "an optional result".into(),
                    };
                    let message = format!("flatMap's lambda must give a stream or a list, not {what}");
                    return Err(self.error_at(message, lambda.body_span));
                }
            };
            self.visit(more.len(), call.span)?;
            self.bounded(out.len().saturating_add(more.len()), call.span)?;
            out.extend(more);
        }
        Ok(out)
    }

    /// An argument read as Java's `Number.intValue()` reads it, negatives as 0.
    fn index_arg(&self, call: &MethodCall, at: usize) -> Result<usize> {
        let value = self.arg_value(call, at)?;
        match ops::to_number(&value, Domain::Int) {
            Ok(Number::Int(number)) => Ok(usize::try_from(number).unwrap_or(0)),
            Ok(_) => unreachable!("to_number gives the domain asked for"),
            Err(error) => Err(self.error_at(error.0, call.span)),
        }
    }

    fn sum(&self, items: &[Value], span: Span) -> Result<Value> {
        items.iter().try_fold(Value::Int(0), |sum, item| {
            ops::arithmetic(Arithmetic::Add, &sum, item).map_err(|error| self.error_at(error.0, span))
        })
    }

    /// A comparator lambda's answer, read as Java's `intValue()` of it.
    fn compare_with(&self, lambda: &Lambda, a: &Value, b: &Value) -> Result<Ordering> {
        let answer = self.call_value(lambda, &[a.clone(), b.clone()])?;
        match ops::to_number(&answer, Domain::Int) {
            Ok(Number::Int(number)) => Ok(number.cmp(&0)),
            Ok(_) => unreachable!("to_number gives the domain asked for"),
            Err(error) => Err(self.error_at(error.0, lambda.body_span)),
        }
    }

    fn natural(&self, a: &Value, b: &Value, span: Span) -> Result<Ordering> {
        self.step(span)?;
        ops::natural_order(a, b).map_err(|error| {
            self.error_at(error.0, span).with_suggestion(Some("give a comparator: sorted((a, b) -> ...)".into()))
        })
    }

    fn sorted(&self, items: Vec<Value>, call: &MethodCall) -> Result<Vec<Value>> {
        if call.args.is_empty() {
            return merge_sort(items, &mut |a, b| self.natural(a, b, call.span));
        }
        let lambda = self.arg_lambda(call, 0)?;
        merge_sort(items, &mut |a, b| self.compare_with(lambda, a, b))
    }

    /// `min` and `max`: the first of the extreme elements.
    fn extreme(&self, items: Vec<Value>, call: &MethodCall) -> Result<Option<Value>> {
        let wanted = if call.op == Op::Max { Ordering::Greater } else { Ordering::Less };
        let lambda = if call.args.is_empty() { None } else { Some(self.arg_lambda(call, 0)?) };
        let mut items = items.into_iter();
        let Some(mut best) = items.next() else { return Ok(None) };
        if lambda.is_none() && best.is_null() {
            return Err(self.error_at("cannot compare null", call.span));
        }
        for item in items {
            let ordering = match lambda {
                Some(lambda) => self.compare_with(lambda, &item, &best)?,
                None => self.natural(&item, &best, call.span)?,
            };
            if ordering == wanted {
                best = item;
            }
        }
        Ok(Some(best).filter(|best| !best.is_null()))
    }

    /// `anyMatch`, `allMatch`, `noneMatch`: empty for an empty stream, as in Tomcat.
    fn matching(&self, items: Vec<Value>, call: &MethodCall) -> Result<Option<Value>> {
        if items.is_empty() {
            return Ok(None);
        }
        let lambda = self.arg_lambda(call, 0)?;
        // anyMatch and noneMatch stop at the first match, allMatch at the first miss.
        let stop_at = call.op != Op::AllMatch;
        for item in items {
            let verdict = match self.call_value(lambda, std::slice::from_ref(&item))? {
                Value::Bool(verdict) => verdict,
                other => {
                    let message = format!("{}'s lambda must give true or false, not {}", call.name, other.describe());
                    return Err(self.error_at(message, lambda.body_span));
                }
            };
            if verdict == stop_at {
                return Ok(Some(Value::Bool(if call.op == Op::NoneMatch { !stop_at } else { stop_at })));
            }
        }
        Ok(Some(Value::Bool(if call.op == Op::NoneMatch { stop_at } else { !stop_at })))
    }

    fn reduce(&self, items: Vec<Value>, call: &MethodCall) -> Result<Flow> {
        let seeded = call.args.len() == 2;
        let lambda = self.arg_lambda(call, usize::from(seeded))?;
        let mut items = items.into_iter();
        let seed = if seeded { Some(self.arg_value(call, 0)?) } else { items.next() };
        let Some(mut total) = seed else { return Ok(Flow::Optional(None)) };
        if !seeded && total.is_null() {
            return Ok(Flow::Optional(None));
        }
        for item in items {
            total = self.call_value(lambda, &[total, item])?;
        }
        Ok(if seeded { Flow::Value(total) } else { Flow::Optional(Some(total).filter(|total| !total.is_null())) })
    }

    fn optional(&self, value: Option<Value>, call: &MethodCall) -> Result<Flow> {
        Ok(Flow::Value(match (call.op, value) {
            (Op::IsPresent, value) => Value::Bool(value.is_some()),
            (Op::Get, Some(value)) => value,
            (Op::Get, None) => {
                return Err(self
                    .error_at("get() on an empty optional result", call.span)
                    .with_suggestion(Some("give a default: orElse(...)".into())));
            }
            (Op::OrElse | Op::OrElseGet, Some(value)) => value,
            (Op::OrElse, None) => self.arg_value(call, 0)?,
            (Op::OrElseGet, None) => self.call_value(self.arg_lambda(call, 0)?, &[])?,
            _ => unreachable!("dispatched before"),
        }))
    }
}

/// What `distinct` and set literals tell apart: Java's `equals`, under which `1`,
/// `1.0` and `"1"` are three values.
pub(crate) fn identity(value: &Value) -> (&'static str, String) {
    (value.type_name(), value.to_text())
}

/// A stable merge sort with a comparator that may fail. The standard library's
/// sorts may panic on a comparator that is not a total order, which a lambda
/// written by anyone need not be; this one just gives some order.
fn merge_sort(items: Vec<Value>, compare: &mut dyn FnMut(&Value, &Value) -> Result<Ordering>) -> Result<Vec<Value>> {
    let mut runs: Vec<Vec<Value>> = items.into_iter().map(|item| vec![item]).collect();
    while runs.len() > 1 {
        let mut merged = Vec::with_capacity(runs.len().div_ceil(2));
        let mut pending = runs.into_iter();
        while let Some(left) = pending.next() {
            match pending.next() {
                Some(right) => merged.push(merge(left, right, compare)?),
                None => merged.push(left),
            }
        }
        runs = merged;
    }
    Ok(runs.pop().unwrap_or_default())
}

fn merge(
    left: Vec<Value>,
    right: Vec<Value>,
    compare: &mut dyn FnMut(&Value, &Value) -> Result<Ordering>,
) -> Result<Vec<Value>> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    while let (Some(a), Some(b)) = (left.peek(), right.peek()) {
        // Equal elements keep their order: the left one goes first.
        if compare(b, a)? == Ordering::Less {
            out.extend(right.next());
        } else {
            out.extend(left.next());
        }
    }
    out.extend(left);
    out.extend(right);
    Ok(out)
}
