//! The budget of one evaluation: the [`Limits`] an engine sets, and the steps and
//! bytes an evaluation spends against them ([`Budget`]).
//!
//! Evaluation spends steps for each node it visits; functions spend steps for their
//! work and bytes for the text they read and build. Both spend from one budget, so
//! it lives below both of them.

use std::cell::Cell;
use std::time::Instant;

use crate::error::{Error, ErrorKind};
use crate::syntax::NestingLimits;

/// The bounds that keep one evaluation small, whatever the template and variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Nesting depth and source size.
    pub nesting: NestingLimits,
    /// Largest rendered output or string a function may build, in bytes.
    pub max_output_bytes: usize,
    /// Most elements a function, a list or set literal, or a stream may hold.
    pub max_list_len: usize,
    /// Most evaluation steps (nodes visited, plus function work) in one evaluation.
    pub max_steps: u64,
    /// Most bytes one evaluation may build and process: every byte of text a
    /// function reads from its arguments and every byte it or `+=` builds spends
    /// from this one budget, so that no number of calls can multiply memory or time.
    pub max_work_bytes: u64,
    /// Largest compiled regex, in bytes.
    pub max_regex_bytes: usize,
    /// How deep `interpolate` may nest templates.
    pub max_interpolation_depth: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            nesting: NestingLimits::default(),
            max_output_bytes: 16 << 20,
            max_list_len: 100_000,
            max_steps: 1_000_000,
            max_work_bytes: 64 << 20,
            max_regex_bytes: 1 << 20,
            max_interpolation_depth: 8,
        }
    }
}

/// How often (in steps) an evaluation looks at the clock for its deadline.
const DEADLINE_CHECK_EVERY: u64 = 1024;

/// What one evaluation has spent of its [`Limits`], and when it must stop.
///
/// Not `Sync`: one evaluation runs on one thread, and a nested render
/// (`interpolate`) hands its spending back with [`Budget::take_spent_from`].
#[derive(Debug)]
pub struct Budget {
    limits: Limits,
    deadline: Option<Instant>,
    steps: Cell<u64>,
    /// Bytes built and processed so far, against [`Limits::max_work_bytes`].
    work_bytes: Cell<u64>,
}

impl Budget {
    /// A fresh budget under `limits`, refused past `deadline` when there is one.
    pub fn new(limits: Limits, deadline: Option<Instant>) -> Self {
        Budget { limits, deadline, steps: Cell::new(0), work_bytes: Cell::new(0) }
    }

    /// The limits this budget enforces.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Spends `steps`; now and then looks at the deadline.
    pub fn charge(&self, steps: u64) -> Result<(), Error> {
        let before = self.steps.get();
        let spent = before.saturating_add(steps);
        self.steps.set(spent);
        if spent > self.limits.max_steps {
            let message = format!("the evaluation took more than {} steps", self.limits.max_steps);
            return Err(Error::new(ErrorKind::Limit, message));
        }
        if before / DEADLINE_CHECK_EVERY != spent / DEADLINE_CHECK_EVERY {
            self.check_deadline()?;
        }
        Ok(())
    }

    /// Whether `bytes` more would stay within the byte budget, without spending them.
    pub fn afford_bytes(&self, bytes: usize) -> Result<(), Error> {
        let wanted = self.work_bytes.get().saturating_add(bytes as u64);
        let limit = self.limits.max_work_bytes;
        if wanted > limit {
            let message = format!("the evaluation would build and process more than {limit} bytes of text");
            return Err(Error::new(ErrorKind::Limit, message));
        }
        Ok(())
    }

    /// Spends `bytes` of the byte budget (text read or built), and looks at the deadline.
    pub fn spend_bytes(&self, bytes: usize) -> Result<(), Error> {
        if bytes == 0 {
            return Ok(());
        }
        self.afford_bytes(bytes)?;
        self.work_bytes.set(self.work_bytes.get().saturating_add(bytes as u64));
        self.check_deadline()
    }

    /// A fresh budget for a nested evaluation that goes on spending from this one.
    pub fn nested(&self) -> Budget {
        Budget {
            limits: self.limits,
            deadline: self.deadline,
            steps: Cell::new(self.steps.get()),
            work_bytes: Cell::new(self.work_bytes.get()),
        }
    }

    /// Takes over what a [`Budget::nested`] one spent, as if spent here.
    pub fn take_spent_from(&self, nested: &Budget) {
        self.steps.set(self.steps.get().max(nested.steps.get()));
        self.work_bytes.set(self.work_bytes.get().max(nested.work_bytes.get()));
    }

    /// Refuses to go on past the deadline (the request's total time limit).
    fn check_deadline(&self) -> Result<(), Error> {
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => {
                Err(Error::new(ErrorKind::Limit, "the evaluation ran past the request's time limit"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_past_the_limit_are_refused() {
        let budget = Budget::new(Limits { max_steps: 10, ..Limits::default() }, None);
        assert!(budget.charge(10).is_ok());
        let error = budget.charge(1).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Limit);
        assert_eq!(error.message(), "the evaluation took more than 10 steps");
    }

    #[test]
    fn bytes_are_refused_before_they_are_spent() {
        let budget = Budget::new(Limits { max_work_bytes: 100, ..Limits::default() }, None);
        assert!(budget.afford_bytes(100).is_ok());
        assert!(budget.afford_bytes(101).is_err());
        budget.spend_bytes(60).unwrap();
        assert!(budget.spend_bytes(41).is_err());
        assert!(budget.spend_bytes(40).is_ok());
    }

    #[test]
    fn a_nested_budget_spends_from_its_parent() {
        let budget = Budget::new(Limits { max_steps: 100, ..Limits::default() }, None);
        budget.charge(40).unwrap();
        let nested = budget.nested();
        nested.charge(50).unwrap();
        budget.take_spent_from(&nested);
        assert!(budget.charge(10).is_ok());
        assert!(budget.charge(1).is_err());
    }

    #[test]
    fn a_past_deadline_stops_the_spending_of_bytes() {
        let budget = Budget::new(Limits::default(), Some(Instant::now()));
        let error = budget.spend_bytes(1).unwrap_err();
        assert_eq!(error.message(), "the evaluation ran past the request's time limit");
    }
}
