//! The variables a run read but that were not set: without strict mode they read
//! as null and the request is sent, so the outcome's log names each one (with the
//! closest name that is set), instead of sending `null` or `//` silently.

use std::borrow::Cow;
use std::sync::Mutex;

use crate::diagnostics::closest;
use crate::value::Value;
use crate::variables::VariableSource;

/// Most unset names noted for one run: a template that reads many stays bounded.
const MAX_NOTED: usize = 32;

/// Variables that note each name read but not set.
pub(super) struct NotingUnset<'a> {
    inner: &'a dyn VariableSource,
    unset: Mutex<Vec<String>>,
}

impl<'a> NotingUnset<'a> {
    pub(super) fn new(inner: &'a dyn VariableSource) -> Self {
        NotingUnset { inner, unset: Mutex::new(Vec::new()) }
    }

    fn note(&self, name: &str) {
        let mut unset = self.unset.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if unset.len() < MAX_NOTED && !unset.iter().any(|known| known == name) {
            unset.push(name.to_owned());
        }
    }

    /// One log note per unset name read, with the closest name that is set.
    pub(super) fn notes(&self) -> Vec<String> {
        let unset = self.unset.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if unset.is_empty() {
            return Vec::new();
        }
        let names = self.inner.names();
        unset
            .iter()
            .map(|name| {
                let close = closest(name, names.iter().map(String::as_str))
                    .map(|close| format!(" (did you mean {close}?)"))
                    .unwrap_or_default();
                format!(
                    "warning: variable {name} is not set and was read as null{close}; set it, or test it first: \
                     empty {name} ? ... : {name} (strict mode refuses to send then)"
                )
            })
            .collect()
    }
}

impl VariableSource for NotingUnset<'_> {
    fn get(&self, name: &str) -> Option<Value> {
        let value = self.inner.get(name);
        if value.is_none() {
            self.note(name);
        }
        value
    }

    fn lookup(&self, name: &str) -> Option<Cow<'_, Value>> {
        let value = self.inner.lookup(name);
        if value.is_none() {
            self.note(name);
        }
        value
    }

    fn names(&self) -> Vec<String> {
        self.inner.names()
    }
}
