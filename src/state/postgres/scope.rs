//! What the store returns: a scope's metadata and records (each tagged with the project that
//! wrote it), the views of it the planner and `state pull` need, and the ways settling a
//! `sending` record can fail.

use chrono::{DateTime, Utc};

use crate::state::format::{FORMAT_VERSION, Lock, Record, Status};

/// A scope's metadata: the history's identity and its write counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeMeta {
    pub scope: String,
    /// As a lockfile's lineage: another lineage is another history.
    pub lineage: String,
    /// Bumped by every write in the scope.
    pub serial: u64,
}

/// One record and where it lives.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The row's id: the handle for [`PgWriter::settle`](super::PgWriter::settle), increasing
    /// in write order.
    pub id: i64,
    /// The repository that wrote it.
    pub project: String,
    pub record: Record,
}

/// A scope's whole history, every project's records, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeState {
    pub meta: ScopeMeta,
    pub records: Vec<StoredRecord>,
}

impl ScopeState {
    /// The whole scope as a lockfile (projects are not part of that format):
    /// what `state pull` writes and `state push` reads back.
    #[must_use]
    pub fn to_lock(&self) -> Lock {
        self.lock_of(|_| true)
    }

    /// The scope as `project` sees it: every record, oldest first, those of other projects
    /// tagged with their `project` (so they count against the quota but are never taken for
    /// this project's units), this project's own untagged. What the store interface returns,
    /// and what `state pull` writes: a lockfile that plans the same on any backend.
    #[must_use]
    pub fn lock_for(&self, project: &str) -> Lock {
        let mut lock = self.to_lock();
        for (record, stored) in lock.sends.iter_mut().zip(&self.records) {
            if stored.project != project {
                record.project = Some(stored.project.clone());
            }
        }
        lock
    }

    /// `project`'s own records as a lockfile, with the scope's lineage and
    /// serial: the unit states of one repository (a key is a campaign ×
    /// locale of that repository, so another repository's `welcome/en` is
    /// another unit), and the value [`PgWriter::write_lock`](super::PgWriter::write_lock)
    /// takes back.
    #[must_use]
    pub fn project_lock(&self, project: &str) -> Lock {
        self.lock_of(|r| r.project == project)
    }

    /// The `attempted_at` of every record of the scope, whichever project
    /// made it and whatever its status, in UTC and sorted: the quota history
    /// the App Key's sends share.
    #[must_use]
    pub fn history(&self) -> Vec<DateTime<Utc>> {
        let mut history: Vec<DateTime<Utc>> = self
            .records
            .iter()
            .map(|r| r.record.attempted_at.with_timezone(&Utc))
            .collect();
        history.sort_unstable();
        history
    }

    fn lock_of(&self, keep: impl Fn(&StoredRecord) -> bool) -> Lock {
        Lock {
            format_version: FORMAT_VERSION,
            lineage: self.meta.lineage.clone(),
            serial: self.meta.serial,
            sends: self
                .records
                .iter()
                .filter(|r| keep(r))
                .map(|r| r.record.clone())
                .collect(),
        }
    }
}

/// What a read finds: the scope, or an empty state and the warning to show.
#[derive(Debug, Clone, PartialEq)]
pub enum ScopeRead {
    Found(ScopeState),
    /// No scope (or no pushform tables) yet: nothing is recorded.
    Missing {
        warning: String,
    },
}

/// A `sending` record could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("the PostgreSQL state scope {scope:?} has no record #{id}")]
    NoSuchRecord { scope: String, id: i64 },
    #[error("record #{id} ({key}) is {status}, not sending: only a sending record can be settled")]
    NotSending {
        id: i64,
        key: String,
        status: Status,
    },
    #[error(transparent)]
    Db(#[from] anyhow::Error),
}
