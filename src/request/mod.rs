//! Requests: a declarative request spec run against a customer's web service.
//!
//! Data flows one way: a spec file ([`spec`]) is loaded into a [`CompiledRequest`]
//! whose templates are compiled once; the [`Executor`] renders it against a
//! session's variables (headers, [`body`], [`auth`]), sends it, and maps the
//! response ([`mapping`], [`cookies`]) into an [`Outcome`] of variables, cookies,
//! events and [`log`] entries, with every secret redacted.
//!
//! The executor sends and reports; it never decides to send again or to keep a
//! request. The delivery layer above it (`crate::replay`: `Delivery`, the worker)
//! does, through `Executor::call` (crate-internal: a run step by step) and
//! [`Executor::send_prepared`]; the spec's `[retry]` ([`retry`]) is data here.
//!
//! ```no_run
//! use courier::request::{CompiledRequest, Cookies, Executor};
//! use courier::{Context, Engine, Variables};
//!
//! # async fn run() {
//! let request = CompiledRequest::load(&Engine::new(), "price-lookup/request.toml").unwrap();
//! let executor = Executor::new(); // one per process: connection pools and token cache
//! let variables = Variables::from_strings([("shop_url", "https://shop.example.org"), ("product_id", "123")]);
//! let mut cookies = Cookies::new();
//! let outcome = executor.execute(&request, &variables, &Context::default(), &mut cookies).await;
//! println!("{:?} {:?}", outcome.status, outcome.variables.get("product_price"));
//! # }
//! ```

pub mod auth;
pub mod body;
pub mod check;
pub mod cookies;
pub mod destination;
mod digest;
mod exchange;
mod execute;
mod fields;
pub mod lists;
pub mod log;
pub mod mapping;
pub mod metrics;
pub mod poll;
mod proxy;
mod redirect;
pub mod retry;
pub mod sign;
pub mod source;
pub mod spec;
mod tls;
pub mod trace;

pub use body::Body;
pub use cookies::Cookies;
pub use destination::{Destinations, Entry};
pub(crate) use execute::{Attempt, Call, KeyChoice, Sent, differs_only_in_query};
pub use execute::{
    Credentials, DryRun, Executor, ExecutorOptions, IDEMPOTENCY_HEADER, Outcome, Prepared, TRACE_HEADER,
    new_idempotency_key,
};
pub use log::{Exchange, LogEntry, REDACTED};
pub use mapping::Variable;
pub use poll::{PollPolicy, PollSpec};
pub use proxy::EgressProxy;
pub use retry::{DEFAULT_RETRY_STATUSES, RetryPolicy, RetrySpec};
pub use sign::{SignScheme, SignSpec};
pub use source::SpecFormat;
pub use spec::{CompiledRequest, Method, Problem, RequestSpec, SpecError, TemplateField, Timeouts};
pub(crate) use tls::ca_is_pem;
pub use tls::system_roots_present;
