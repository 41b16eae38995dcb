//! Variables: where an evaluation reads names from.
//!
//! A host lends its own store by implementing [`VariableSource`]; nothing is copied
//! into courier. [`Variables`] is the store the command line and tests use.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use indexmap::IndexMap;

use crate::value::Value;

/// Something that knows the values of variables by name.
///
/// `get` is called once per variable use while evaluating; returning a [`Value`]
/// clones an `Arc` at most, so a store that keeps `Value`s lends them without
/// allocating.
pub trait VariableSource {
    /// The value of `name`, or `None` when it is not set (it then evaluates to null).
    fn get(&self, name: &str) -> Option<Value>;

    /// The value of `name`, borrowed when the store holds it as a [`Value`]: the
    /// evaluator reads variables through this, so a store that lends its values
    /// saves a reference count per use. The default clones through [`get`](Self::get).
    fn lookup(&self, name: &str) -> Option<Cow<'_, Value>> {
        self.get(name).map(Cow::Owned)
    }

    /// The names that are set, for a hint that names the closest one to a name
    /// read but not set ("did you mean email?"); the default names none.
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

impl<T: VariableSource + ?Sized> VariableSource for &T {
    fn get(&self, name: &str) -> Option<Value> {
        (**self).get(name)
    }

    fn lookup(&self, name: &str) -> Option<Cow<'_, Value>> {
        (**self).lookup(name)
    }

    fn names(&self) -> Vec<String> {
        (**self).names()
    }
}

impl<S: BuildHasher> VariableSource for HashMap<String, Value, S> {
    fn get(&self, name: &str) -> Option<Value> {
        HashMap::get(self, name).cloned()
    }

    fn lookup(&self, name: &str) -> Option<Cow<'_, Value>> {
        HashMap::get(self, name).map(Cow::Borrowed)
    }
}

/// A host's own map of text, lent without copying it: each value is read as text.
impl<S: BuildHasher> VariableSource for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<Value> {
        HashMap::get(self, name).map(|text| Value::from(text.as_str()))
    }
}

impl VariableSource for BTreeMap<String, Value> {
    fn get(&self, name: &str) -> Option<Value> {
        BTreeMap::get(self, name).cloned()
    }

    fn lookup(&self, name: &str) -> Option<Cow<'_, Value>> {
        BTreeMap::get(self, name).map(Cow::Borrowed)
    }
}

impl<S: BuildHasher> VariableSource for IndexMap<String, Value, S> {
    fn get(&self, name: &str) -> Option<Value> {
        IndexMap::get(self, name).cloned()
    }

    fn lookup(&self, name: &str) -> Option<Cow<'_, Value>> {
        IndexMap::get(self, name).map(Cow::Borrowed)
    }
}

/// No variables at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoVariables;

impl VariableSource for NoVariables {
    fn get(&self, _: &str) -> Option<Value> {
        None
    }
}

/// A session's variables in insertion order: strings, or lists of strings for
/// multiple-choice answers (any [`Value`] may be stored).
///
/// Names are hashed with FxHash: they are short, chosen by template authors rather
/// than by customers, and looked up on every use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variables {
    values: IndexMap<String, Value, rustc_hash::FxBuildHasher>,
}

/// A `--vars` file or session that is not an object of strings and lists of strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VariablesError(pub String);

impl Variables {
    /// No variables.
    pub fn new() -> Self {
        Variables::default()
    }

    /// Variables from name/text pairs, borrowed or owned.
    ///
    /// ```
    /// use courier::{Value, Variables};
    ///
    /// let borrowed = Variables::from_strings([("city", "Oslo")]);
    /// let owned = Variables::from_strings(vec![("city".to_string(), "Oslo".to_string())]);
    /// assert_eq!(borrowed.get("city"), owned.get("city"));
    /// assert_eq!(owned.get("city"), Some(Value::from("Oslo")));
    /// ```
    pub fn from_strings<N, T>(pairs: impl IntoIterator<Item = (N, T)>) -> Self
    where
        N: Into<String>,
        T: AsRef<str>,
    {
        pairs.into_iter().map(|(name, text)| (name, Value::from(text.as_ref()))).collect()
    }

    /// Reads a JSON object whose values are strings or lists of strings.
    pub fn from_json(json: &serde_json::Value) -> Result<Self, VariablesError> {
        let serde_json::Value::Object(entries) = json else {
            return Err(VariablesError("variables must be a JSON object of strings".into()));
        };
        let mut variables = Variables::new();
        for (name, value) in entries {
            variables.set(name, variable_value(name, value)?);
        }
        Ok(variables)
    }

    /// Sets a variable.
    pub fn set(&mut self, name: impl Into<String>, value: Value) {
        self.values.insert(name.into(), value);
    }

    /// Sets every variable of `other`, overriding.
    pub fn extend(&mut self, other: Variables) {
        self.values.extend(other.values);
    }

    /// Iterates over names and values in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(name, value)| (name.as_str(), value))
    }

    /// The number of variables.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of `name`, when it is set (a copy: text shares its buffer).
    pub fn get(&self, name: &str) -> Option<Value> {
        self.values.get(name).cloned()
    }

    /// Whether `name` is set.
    pub fn contains(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// The variables as a JSON object (strings stay strings, lists arrays).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.values
                .iter()
                .map(|(name, value)| (name.clone(), value.to_json().unwrap_or_else(|_| value.to_text().into())))
                .collect(),
        )
    }
}

fn variable_value(name: &str, json: &serde_json::Value) -> Result<Value, VariablesError> {
    match json {
        serde_json::Value::String(text) => Ok(Value::from(text.as_str())),
        serde_json::Value::Array(items) => items
            .iter()
            .map(|item| match item {
                serde_json::Value::String(text) => Ok(Value::from(text.as_str())),
                other => Err(VariablesError(format!("variable {name:?}: a list may hold only strings, not {other}"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Value::list),
        other => Err(VariablesError(format!(
            "variable {name:?} must be a string or a list of strings (variables are stored as text), not {other}"
        ))),
    }
}

/// Variables from name/value pairs; a later pair overrides an earlier one.
///
/// ```
/// use courier::{Value, Variables};
///
/// let variables: Variables = [("n", Value::Int(1)), ("tags", Value::list(vec![Value::from("a")]))].into_iter().collect();
/// assert_eq!(variables.get("n"), Some(Value::Int(1)));
/// ```
impl<N: Into<String>> FromIterator<(N, Value)> for Variables {
    fn from_iter<I: IntoIterator<Item = (N, Value)>>(pairs: I) -> Self {
        let mut variables = Variables::new();
        for (name, value) in pairs {
            variables.set(name, value);
        }
        variables
    }
}

impl VariableSource for Variables {
    fn get(&self, name: &str) -> Option<Value> {
        self.values.get(name).cloned()
    }

    fn lookup(&self, name: &str) -> Option<Cow<'_, Value>> {
        self.values.get(name).map(Cow::Borrowed)
    }

    fn names(&self) -> Vec<String> {
        self.values.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_of_strings_load() {
        let json = serde_json::json!({"a": "1", "b": ["x", "y"]});
        let variables = Variables::from_json(&json).unwrap();
        assert_eq!(variables.get("a"), Some(Value::from("1")));
        assert_eq!(variables.get("b").unwrap().to_text(), r#"["x","y"]"#);
        assert_eq!(variables.to_json(), json);
    }

    #[test]
    fn lists_and_list_looking_strings_round_trip_apart() {
        let list = Value::list(vec![Value::from("a"), Value::from("")]);
        let variables: Variables =
            [("list", list.clone()), ("text", Value::from(r#"["a", ""]"#))].into_iter().collect();
        let again = Variables::from_json(&variables.to_json()).unwrap();
        assert_eq!(again.get("list"), Some(list));
        assert_eq!(again.get("text"), Some(Value::from(r#"["a", ""]"#)));
    }

    #[test]
    fn other_json_is_refused_with_the_name() {
        let error = Variables::from_json(&serde_json::json!({"age": 18})).unwrap_err();
        assert!(error.0.contains("\"age\""), "{error}");
        assert!(Variables::from_json(&serde_json::json!(["a"])).is_err());
    }
}
