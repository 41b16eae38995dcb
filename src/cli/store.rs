//! Which replay store a command opens: `--store`, `COURIER_STORE` or the default
//! file, and how a reading command opens it.

use std::path::PathBuf;
use std::sync::Arc;

use courier::replay::{ReplayStore, SqliteStore, StoreLocation};

use super::Failure;

/// The store used when neither `--store` nor `COURIER_STORE` names one.
const DEFAULT_STORE: &str = "courier-replay.db";

/// The store: `--store`, else `COURIER_STORE`, else `courier-replay.db`; a
/// `postgres://` or `postgresql://` address is a PostgreSQL database, anything else a
/// SQLite file.
pub(crate) fn store_location(store: Option<PathBuf>) -> StoreLocation {
    StoreLocation::parse(
        store
            .or_else(|| std::env::var_os("COURIER_STORE").filter(|value| !value.is_empty()).map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE)),
    )
}

/// The store at `location`, opened when first used; an address that does not parse is bad usage.
pub(crate) fn store_at(location: &StoreLocation) -> Result<Arc<dyn ReplayStore>, Failure> {
    location.store().map_err(|error| Failure::usage(error.0))
}

/// The store a reading command uses: a SQLite file must exist (reading commands do
/// not create one; a missing file is bad usage, exit 2), and is opened read-only,
/// so that a file the user may only read can still be listed.
pub(crate) fn existing_store(location: &StoreLocation, read_only: bool) -> Result<Arc<dyn ReplayStore>, Failure> {
    match location {
        StoreLocation::File(path) if !path.exists() => Err(Failure::usage(format!(
            "the replay store {} does not exist",
            courier::replay::without_password(&path.to_string_lossy())
        ))),
        StoreLocation::File(path) if read_only => Ok(Arc::new(
            SqliteStore::open_read_only(path).map_err(|error| Failure::error(format!("error: {error}\n")))?,
        )),
        location => store_at(location),
    }
}
