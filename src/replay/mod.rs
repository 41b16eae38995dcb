//! The delivery layer, above the executor: [`Delivery`] sends a request now (with
//! the spec's `[retry]`) and decides what to keep; replay and the queue: the
//! durable store of requests that failed for want of an answer (kept so that they can be listed, replayed and dropped) and of queued
//! requests (saved before anything is sent); the [`ReplayStore`] trait a runtime
//! implements over a shared database, its SQLite default ([`SqliteStore`]) and its
//! PostgreSQL store for many workers ([`PostgresStore`]); and the
//! [`Worker`] that sends what is due, under a lease, with backoff and a dead-letter
//! state.
//!
//! A record holds the request as rendered — method, URL, headers, body — and never
//! its credentials: the spec's `[auth]` and any header whose template reads a secret
//! are rendered again from the spec when the record is sent. `docs/replay.md` gives
//! the decisions and the delivery promise.
//!
//! Why here and not a module of its own: the worker (when to send a stored record
//! again), the store and the decision what to keep were already this module's, and
//! direct delivery makes the same decisions; the executor below it only sends and
//! reports, and imports nothing from here.

mod address;
mod deliver;
mod destinations;
mod enqueue;
mod keep;
mod limits;
mod location;
#[cfg(feature = "postgres")]
mod pg;
#[cfg(feature = "postgres")]
mod pg_queue;
mod retry;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod throttle;
mod worker;

pub use address::without_password;
pub use deliver::{Delivered, Delivery};
pub use destinations::{Breaker, BreakerPolicy, HostReport, HostState, MAX_COOLDOWN, MAX_HOST_BYTES, host_of};
pub use enqueue::Enqueued;
pub use keep::{Kept, MAX_TENANT_BYTES, worth_keeping};
pub use limits::{DestinationLimit, HostPattern, Limits, Rate};
pub use location::StoreLocation;
#[cfg(feature = "postgres")]
pub use pg::PostgresStore;
pub use retry::{backoff, retry_after};
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;
pub use store::{
    AsyncQueue, Backoff, Claim, Finish, HOLD_AHEAD, KeptCredentials, Lease, NewRecord, Planned, QueueCounts, Record,
    ReplayStore, Saved, Selection, State, StoreError, StoreFuture, Unreadable,
};
pub use worker::{
    DEFAULT_PER_HOST, Replayed, Report, SpecFiles, SpecSource, Verdict, Worker, WorkerOptions, replay,
    replay_with_lease,
};
