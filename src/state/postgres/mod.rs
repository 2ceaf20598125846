//! The PostgreSQL state backend: one send history shared by every repository
//! that sends with the same App Key.
//!
//! The provider's quota (2 an hour, 3 a day) belongs to the App Key, not to a
//! repository. When several repositories send with one key, each must plan
//! against every send of the others, so their histories live in one *scope*
//! of a PostgreSQL database, each record tagged with the *project*
//! (repository) that made it. This module owns that database: it connects
//! (TLS with rustls, the password never shown), creates and migrates its own
//! tables, serialises writers with a session advisory lock per scope (freed
//! by the server when the session dies, like the file lock is freed with its
//! process), and reads and writes records with the same rules as the
//! lockfile:
//!
//! - no history starts implicitly: a missing scope is an error for every write
//!   and an empty state (with a warning) for reads, until `init_scope`;
//! - a `sending` record is committed before [`PgWriter::write_lock`] (what
//!   [`PgStore`]'s sessions use) or [`PgWriter::insert_sending`] returns, so it
//!   is durable off the machine before the POST;
//! - an outcome is written by a conditional UPDATE that only matches a
//!   `sending` row: a record with an outcome is never rewritten;
//! - reads need only SELECT, so `plan` can run with a read-only role.
//!
//! Records keep every lockfile record field exactly: the body is stored as its canonical
//! JSON text (a `jsonb` copy is generated beside it for operators' queries),
//! and each timestamp as a `timestamptz` plus its UTC offset, so a lockfile
//! imported and exported again is the same value.

mod lock;
mod read;
mod rows;
mod schema;
mod scope;
mod store;
mod url;
mod write;

pub use lock::{LockHolder, PgLockError};
pub use read::PgState;
pub use schema::schema_version_supported;
pub use scope::{ScopeMeta, ScopeRead, ScopeState, SettleError, StoredRecord};
pub use store::PgStore;
pub use write::PgWriter;

/// The environment variable read for the connection string when `state.url_env` is not set.
pub const DEFAULT_URL_ENV: &str = "PUSHFORM_DATABASE_URL";

/// The `state:` settings of the postgres backend, as resolved from `pushform.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// NAME of the environment variable holding the connection string.
    pub url_env: String,
    /// The history shared by every repository sending with one App Key.
    pub scope: String,
    /// This repository's name in the scope.
    pub project: String,
}

#[cfg(test)]
#[path = "../../../tests/cli/support/pg.rs"]
#[allow(dead_code)] // the CLI tests use the rest of the harness
mod test_cluster;

#[cfg(test)]
mod tests;
