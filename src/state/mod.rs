//! pushform's state: the audit log of every send attempt, and where it is kept.
//!
//! A push that has been handed to the provider can never be recalled, so pushform must remember
//! every attempt — including the ones whose outcome it never learnt — before it makes the next
//! one, and that memory must outlive the machine that sent. This module owns the format
//! ([`mod@format`]: `pushform.lock`, the same document in every backend), the per-key view the
//! planner needs (`index`), the store interface (`store`) and its backends: `file` (the
//! lockfile on disk), [`git`] (the lockfile on a branch of a git remote, shared by every CI
//! runner) and [`postgres`] (one scope of a PostgreSQL database, shared by every repository
//! sending with one App Key).
//!
//! No backend ever starts a history by itself: a missing lockfile or state branch reads as
//! "nothing recorded" (a warning for `plan`) and every write refuses until `pushform state init`
//! has created an empty state, so a deleted lockfile or a moved setting can never resend
//! everything.

pub(crate) mod file;
pub mod format;
pub mod git;
pub(crate) mod index;
pub mod postgres;
pub(crate) mod store;

#[cfg(test)]
mod tests;

pub use crate::body::JsonBody;
pub(crate) use file::FileStore;
pub use file::LockStore;
pub use format::*;
pub(crate) use index::{KeyState, LockIndex};
pub(crate) use store::{Freshness, Holder, Session, Store};

use crate::settings::{Settings, StateSpec};

/// The backend `settings` name.
#[must_use]
pub(crate) fn open(settings: &Settings) -> Box<dyn Store> {
    match &settings.state {
        StateSpec::File { path } => Box::new(FileStore::new(path.clone())),
        StateSpec::Git {
            dir,
            remote,
            branch,
        } => Box::new(git::GitStore::new(
            dir.clone(),
            remote.clone(),
            branch.clone(),
        )),
        StateSpec::Postgres {
            url_env,
            scope,
            project,
        } => Box::new(postgres::PgStore::new(postgres::PgSettings {
            url_env: url_env.clone(),
            scope: scope.clone(),
            project: project.clone(),
        })),
    }
}

/// The refusal of every write when nothing is recorded yet.
pub(crate) fn no_state_error(place: &str) -> anyhow::Error {
    no_state(place)
}

pub(crate) fn no_state(place: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "nothing is recorded in {place}: there is no state yet. pushform never starts a history \
         by itself (a deleted or moved state would send everything again). If this is a new \
         repository, run `pushform state init`; if the state was deleted or moved, restore it \
         (or point `state:` in pushform.yaml back at it)"
    )
}

/// The warning of a read that found nothing recorded.
#[must_use]
pub(crate) fn nothing_recorded(place: &str) -> String {
    format!(
        "nothing is recorded in {place} yet: this assumes nothing was ever sent. apply refuses \
         to send until `pushform state init` creates the state (if it was deleted or moved, \
         restore it instead)"
    )
}
