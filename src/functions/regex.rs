//! Regular expressions: `regexMatches` (the whole text, as Java's `String.matches`)
//! and `regexFind` (the first match or one of its groups).
//!
//! The engine is the `regex` crate's, as for `stringReplaceAll`: linear in the text,
//! with no backreferences or lookaround, and compiled under the engine's size limit.

use super::strings::{RegexCache, regex_error};
use super::util::{coerce, fail, given, text};
use super::{CallContext, Function, FunctionError, Kind};
use crate::budget::Limits;
use crate::value::Value;

pub(super) fn functions() -> Vec<Function> {
    let regexes = RegexCache::default();
    let (matches_cache, find_cache) = (regexes.clone(), regexes.clone());
    vec![
        Function::new("regexMatches", move |args, cx| {
            let regex = compile(&matches_cache, &whole(text(args, 1)), text(args, 1), cx)?;
            Ok(Value::Bool(regex.is_match(text(args, 0))))
        })
        .param("text", Kind::Text)
        .param("pattern", Kind::Text)
        .validate(validate_pattern)
        .summary("whether the pattern matches the whole text, as Java's String.matches", "boolean")
        .example("regexMatches(\"AB-1234\", \"[A-Z]{2}-\\\\d+\")", "true"),
        Function::new("regexFind", move |args, cx| regex_find(&find_cache, args, cx))
            .param("text", Kind::Text)
            .param("pattern", Kind::Text)
            .optional("group", Kind::Any)
            .validate(validate_pattern)
            .summary("the first match of the pattern, or its numbered group; null when none", "text")
            .example("regexFind(\"order 4711 shipped\", \"order (\\\\d+)\", 1)", "\"4711\""),
    ]
}

/// The pattern anchored at both ends, so that it must match the whole text.
fn whole(pattern: &str) -> String {
    format!(r"\A(?:{pattern})\z")
}

fn compile(
    regexes: &RegexCache,
    compiled: &str,
    written: &str,
    cx: &CallContext<'_>,
) -> Result<std::sync::Arc<regex::Regex>, FunctionError> {
    let limit = cx.limits().max_regex_bytes;
    // Errors name the pattern as the author wrote it, not the anchored form.
    regexes.get(compiled, limit).map_err(|error| regex_error(written, error, limit))
}

fn regex_find(regexes: &RegexCache, args: &[Value], cx: &CallContext<'_>) -> Result<Value, FunctionError> {
    let (haystack, pattern) = (text(args, 0), text(args, 1));
    let regex = compile(regexes, pattern, pattern, cx)?;
    let group = match given(args, 2) {
        None => 0,
        Some(group) => match coerce(group, Kind::Integer, 2, "regexFind")? {
            Value::Int(group) => group,
            _ => 0,
        },
    };
    let groups = regex.captures_len() - 1;
    let Some(group) = usize::try_from(group).ok().filter(|group| *group <= groups) else {
        return fail(format!(
            "regexFind: there is no group {group} in {}: it has {groups}",
            Value::from(pattern).describe()
        ));
    };
    let found = regex.captures(haystack).and_then(|captures| captures.get(group));
    Ok(found.map(|found| Value::from(found.as_str())).unwrap_or_default())
}

/// A literal pattern must compile; the size limit is left to evaluation.
fn validate_pattern(constants: &[Option<&Value>]) -> Result<(), (usize, String)> {
    let Some(pattern) = constants.get(1).copied().flatten() else {
        return Ok(());
    };
    let (pattern, limit) = (pattern.to_text(), Limits::default().max_regex_bytes);
    match regex::RegexBuilder::new(&pattern).size_limit(limit).build() {
        Ok(_) | Err(regex::Error::CompiledTooBig(_)) => Ok(()),
        Err(error) => Err((1, regex_error(&pattern, error, limit).message().to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchoring_keeps_alternation_whole() {
        let regex = regex::Regex::new(&whole("a|ab")).unwrap();
        assert!(regex.is_match("ab"));
        assert!(!regex.is_match("abc"));
        assert!(!regex.is_match("xa"));
    }
}
