//! Lists: `listContains`, `listFirst`, `listLast`, `listSort`, `listReverse`,
//! `listDistinct`, `listSum`, `listSlice`.
//!
//! A value that is not a list counts as a list of that one value, and null as the
//! empty list, as `arrayLength` and `pushLiteral` read them. No function here makes a
//! list longer than the one it got, so the list limit holds by construction.

use std::borrow::Cow;
use std::collections::HashSet;

use super::util::{arg, coerce, given, integer};
use super::{CallContext, Function, FunctionError, Kind};
use crate::value::Value;
use crate::value::ops::{self, Arithmetic};

pub(super) fn functions() -> Vec<Function> {
    vec![
        Function::new("listContains", |args, _| Ok(Value::Bool(list_contains(arg(args, 0), arg(args, 1)))))
            .param("list", Kind::Any)
            .param("value", Kind::Any)
            .summary("whether an item equals the value (as == compares)", "boolean")
            .example("listContains(stringSplit(\"a,b\", \",\"), \"b\")", "true"),
        Function::new("listFirst", |args, _| Ok(items(arg(args, 0)).first().cloned().unwrap_or_default()))
            .param("list", Kind::Any)
            .summary("the first item, null when the list is empty", "any")
            .example("listFirst(stringSplit(\"a,b\", \",\"))", "\"a\""),
        Function::new("listLast", |args, _| Ok(items(arg(args, 0)).last().cloned().unwrap_or_default()))
            .param("list", Kind::Any)
            .summary("the last item, null when the list is empty", "any")
            .example("listLast(stringSplit(\"a,b\", \",\"))", "\"b\""),
        Function::new("listSort", |args, _| Ok(list_sort(arg(args, 0))))
            .param("list", Kind::Any)
            .summary("the items sorted by their text, in code point order", "list")
            .example("listSort(stringSplit(\"b,a,C\", \",\"))", "[\"C\",\"a\",\"b\"]"),
        Function::new("listReverse", |args, _| Ok(Value::list(items(arg(args, 0)).iter().rev().cloned().collect())))
            .param("list", Kind::Any)
            .summary("the items in reverse order", "list")
            .example("listReverse(stringSplit(\"a,b,c\", \",\"))", "[\"c\",\"b\",\"a\"]"),
        Function::new("listDistinct", |args, _| Ok(list_distinct(arg(args, 0))))
            .param("list", Kind::Any)
            .summary("the items without repeats, each where it first occurs", "list")
            .example("listDistinct(stringSplit(\"a,b,a\", \",\"))", "[\"a\",\"b\"]"),
        Function::new("listSum", |args, _| list_sum(arg(args, 0)))
            .param("list", Kind::Any)
            .summary("the sum of the items as + adds them (integers stay integers)", "number")
            .example("listSum(stringSplit(\"1,2,3\", \",\"))", "6"),
        Function::new("listSlice", list_slice)
            .param("list", Kind::Any)
            .param("start", Kind::Integer)
            .optional("end", Kind::Any)
            .summary("the items from start up to (not including) end, indices clamped as substring clamps them", "list")
            .example("listSlice(stringSplit(\"a,b,c,d\", \",\"), 1, 3)", "[\"b\",\"c\"]"),
    ]
}

/// The items of a value: a list's items, nothing for null, else the value itself.
fn items(value: &Value) -> Cow<'_, [Value]> {
    match value {
        Value::Null => Cow::Borrowed(&[]),
        Value::List(items) => Cow::Borrowed(items.as_slice()),
        single => Cow::Owned(vec![single.clone()]),
    }
}

/// `==` on each item; an item that cannot be compared with the value is not it.
fn list_contains(list: &Value, value: &Value) -> bool {
    items(list).iter().any(|item| ops::equals(item, value).unwrap_or(false))
}

/// Sorted by the string form, stably; the items themselves are returned unchanged.
fn list_sort(list: &Value) -> Value {
    let mut keyed: Vec<(String, Value)> = items(list).iter().map(|item| (item.to_text(), item.clone())).collect();
    // Rust orders strings by their UTF-8 bytes, which is code point order.
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    Value::list(keyed.into_iter().map(|(_, item)| item).collect())
}

/// Items are the same when they have the same type and the same string form, so
/// `1` and `"1"` are both kept, and lists and maps compare by their JSON.
fn list_distinct(list: &Value) -> Value {
    let mut seen = HashSet::new();
    let kept = items(list).iter().filter(|item| seen.insert((item.type_name(), item.to_text()))).cloned().collect();
    Value::list(kept)
}

/// Adds as `+` does: null and `""` are 0, numeric text is read, an integer overflow is
/// an error, and one float (or float text) makes the sum a float.
fn list_sum(list: &Value) -> Result<Value, FunctionError> {
    let mut sum = Value::Int(0);
    for (position, item) in items(list).iter().enumerate() {
        sum = ops::arithmetic(Arithmetic::Add, &sum, item).map_err(|error| {
            FunctionError::new(format!("listSum: item {} ({}): {error}", position, item.describe()))
        })?;
    }
    Ok(sum)
}

/// Indices count from 0; both clamp into the list, and an end before the start gives
/// the empty list (as `substring` does).
fn list_slice(args: &[Value], _: &CallContext<'_>) -> Result<Value, FunctionError> {
    let items = items(arg(args, 0));
    let length = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let start = integer(args, 1).clamp(0, length);
    let end = match given(args, 2) {
        None => length,
        Some(end) => match coerce(end, Kind::Integer, 2, "listSlice")? {
            Value::Int(end) => end.clamp(start, length),
            _ => start,
        },
    };
    // Both are within 0..=length.
    Ok(Value::list(items[start as usize..end as usize].to_vec()))
}
