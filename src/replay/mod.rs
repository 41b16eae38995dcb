//! Replay and the queue: the durable store of requests that failed for want of an
//! answer (kept so that they can be listed, replayed and dropped) and of queued
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

mod keep;
mod location;
mod pg;
mod sqlite;
mod store;
mod worker;

pub(crate) use keep::keep;
pub use keep::{Kept, worth_keeping};
pub use location::StoreLocation;
pub use pg::PostgresStore;
pub use sqlite::SqliteStore;
pub use store::{
    Backoff, Claim, Finish, KeptCredentials, Lease, NewRecord, Planned, Record, ReplayStore, Saved, Selection, State,
    StoreError,
};
pub use worker::{Replayed, Report, SpecFiles, SpecSource, Verdict, Worker, WorkerOptions, replay};
