//! courier: declarative API calls from chat flows.
//!
//! Template authors write `${...}` expressions — a safe subset of Jakarta EL — in
//! JSON payloads, URLs, headers and text. courier parses them with a pest grammar,
//! compiles them once, and evaluates them many times against variables that the
//! chat stores as strings, with EL's coercion rules and a library of functions.
//!
//! Data flows one way: source → [`syntax`] (AST with spans) → [`eval`] (compiled
//! program) → [`value`] → [`template`] rendering by context.
//!
//! ```
//! use courier::{Context, Engine, Value, Variables};
//!
//! let engine = Engine::new();
//! // Compile once...
//! let adult = engine.compile_expression("toInteger(age) >= 18").unwrap();
//! // ...evaluate many times, against any variable source.
//! let context = Context::default();
//! for (age, expected) in [("17", false), ("18", true)] {
//!     let variables = Variables::from_strings([("age", age)]);
//!     assert_eq!(adult.evaluate(&variables, &context).unwrap(), Value::Bool(expected));
//! }
//! ```

mod budget;
pub mod diagnostics;
mod error;
pub mod eval;
pub mod events;
pub mod functions;
mod hints;
#[cfg(feature = "http")]
pub mod replay;
#[cfg(feature = "http")]
pub mod request;
#[cfg(feature = "serve")]
pub mod serve;
pub mod syntax;
pub mod template;
pub mod value;
pub mod variables;

pub use error::{Error, ErrorKind};
pub use eval::{Engine, Expression, Limits};
pub use functions::{CallContext, Context, Doc, Function, FunctionError, Kind, Registry};
pub use template::{FormTemplate, HeaderTemplate, JsonTemplate, Template, TemplateKind, UrlTemplate};
pub use value::Value;
pub use variables::{NoVariables, VariableSource, Variables};

/// The README's Rust examples, compiled and run as doc tests so that they stay true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;
