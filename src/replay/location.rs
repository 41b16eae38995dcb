//! Where a store is: a `postgres://` or `postgresql://` address names a PostgreSQL
//! database, anything else a SQLite file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(feature = "postgres")]
use super::pg::PostgresStore;
#[cfg(feature = "sqlite")]
use super::sqlite::SqliteStore;
use super::store::{ReplayStore, StoreError};

/// A store's location, as `--store` and `COURIER_STORE` give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A SQLite file (the embedded default).
    File(PathBuf),
    /// A PostgreSQL database's address.
    Postgres(String),
}

impl StoreLocation {
    /// The location `text` names: PostgreSQL when it starts with `postgres://` or
    /// `postgresql://` (in any case), else a file.
    pub fn parse(text: impl AsRef<Path>) -> StoreLocation {
        let path = text.as_ref();
        let lower = path.to_str().map(str::to_ascii_lowercase).unwrap_or_default();
        match path.to_str() {
            Some(url) if lower.starts_with("postgres://") || lower.starts_with("postgresql://") => {
                StoreLocation::Postgres(url.to_owned())
            }
            _ => StoreLocation::File(path.to_owned()),
        }
    }

    /// The store there, opened when first used. Only an address that does not
    /// parse fails here, or a kind of store this build leaves out (the `sqlite`
    /// and `postgres` features).
    pub fn store(&self) -> Result<Arc<dyn ReplayStore>, StoreError> {
        match self {
            #[cfg(feature = "sqlite")]
            StoreLocation::File(path) => Ok(Arc::new(SqliteStore::new(path))),
            #[cfg(feature = "postgres")]
            StoreLocation::Postgres(url) => Ok(Arc::new(PostgresStore::new(url)?)),
            #[cfg(not(all(feature = "sqlite", feature = "postgres")))]
            other => Err(StoreError(format!("courier was built without the store for {}", other.kind_feature()))),
        }
    }

    /// The cargo feature that builds this kind of store.
    #[cfg(not(all(feature = "sqlite", feature = "postgres")))]
    fn kind_feature(&self) -> &'static str {
        match self {
            StoreLocation::File(_) => "SQLite files (the sqlite feature)",
            StoreLocation::Postgres(_) => "PostgreSQL (the postgres feature)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_postgres_and_anything_else_a_file() {
        for url in ["postgres://u@127.0.0.1:5432/db", "postgresql://u@h/db", "POSTGRES://u@h/db"] {
            assert_eq!(StoreLocation::parse(url), StoreLocation::Postgres(url.to_owned()));
        }
        for file in ["queue.db", "postgres.db", "/var/lib/postgres://x", "postgres:/x"] {
            assert_eq!(StoreLocation::parse(file), StoreLocation::File(PathBuf::from(file)));
        }
    }
}
