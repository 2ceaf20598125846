//! The postgres backend behind the store interface: a read is one connection, a session is one
//! connection holding the scope's lock, and the state handed out is the whole scope as this
//! project sees it.

use std::time::Duration;

use anyhow::{Context, bail};

use super::{PgSettings, PgState, PgWriter, ScopeRead};
use crate::state::format::{Lock, Record};
use crate::state::store::{Freshness, Holder, Session, Snapshot, Store};

/// The `postgres` backend: a scope of a PostgreSQL database behind the `Store` trait.
///
/// Every read and every session is its own connection: a read needs only SELECT, and a
/// session holds the scope's advisory lock for as long as it lives (the lock, like the
/// connection, dies with the process). The state it hands out is
/// [`ScopeState::lock_for`](super::ScopeState::lock_for) this project: the whole scope, other projects' records tagged, so the planner's quota
/// history is the App Key's while its unit states are this repository's.
#[derive(Debug, Clone)]
pub struct PgStore {
    settings: PgSettings,
}

impl PgStore {
    #[must_use]
    pub fn new(settings: PgSettings) -> Self {
        PgStore { settings }
    }
}

impl Store for PgStore {
    fn describe(&self) -> String {
        format!(
            "scope {} of the PostgreSQL state (project {})",
            self.settings.scope, self.settings.project
        )
    }

    fn read(&self, _freshness: Freshness) -> anyhow::Result<Snapshot> {
        // No stale fallback: there is no local copy of a database, and a plan against a
        // guessed history would schedule slots another repository may have used.
        let mut state = PgState::connect(&self.settings, "pushform (read)")
            .context("cannot read the PostgreSQL state")?;
        let lock = match state.load_scope()? {
            ScopeRead::Found(scope) => Some(scope.lock_for(&self.settings.project)),
            // The caller warns (or refuses) with its own words.
            ScopeRead::Missing { .. } => None,
        };
        Ok(Snapshot {
            lock,
            warnings: Vec::new(),
        })
    }

    fn open(&self, holder: &Holder, wait: Option<Duration>) -> anyhow::Result<Box<dyn Session>> {
        let state = PgState::connect(&self.settings, &holder.command)
            .context("cannot open the PostgreSQL state for writing")?;
        let note = format!(
            "{} on host {}, pid {}, since {}",
            holder.command, holder.host, holder.pid, holder.started
        );
        let mut writer = state.lock_scope(&note, wait)?;
        let lock = match writer.state().load_scope()? {
            ScopeRead::Found(scope) => Some(scope.lock_for(&self.settings.project)),
            ScopeRead::Missing { .. } => None,
        };
        Ok(Box::new(PgSession {
            writer,
            lock,
            place: self.describe(),
        }))
    }

    fn unlock(&self, lease_id: &str, _force: bool) -> anyhow::Result<String> {
        bail!(
            "the postgres backend has no lease `{lease_id}` to clear: its lock is a session \
             advisory lock, which the server frees when the holding session ends. A refused \
             command names the holder's server backend pid; if that session really hangs, an \
             administrator can end it with `SELECT pg_terminate_backend(PID)`"
        )
    }
}

/// A connection holding the scope's lock, and the scope as last read or written.
struct PgSession {
    writer: PgWriter,
    lock: Option<Lock>,
    place: String,
}

impl Session for PgSession {
    fn current(&self) -> Option<&Lock> {
        self.lock.as_ref()
    }

    fn create(&mut self, lock: Lock, _message: &str) -> anyhow::Result<()> {
        if let Some(existing) = &self.lock {
            bail!(
                "{} already holds a state (lineage {}, serial {}, {} records)",
                self.place,
                existing.lineage,
                existing.serial,
                existing.sends.len()
            );
        }
        self.writer.import_lock(&lock)?;
        let project = self.writer.state().project().to_owned();
        self.lock = Some(self.writer.load()?.lock_for(&project));
        Ok(())
    }

    fn commit(
        &mut self,
        _message: &str,
        edit: &mut dyn FnMut(&mut Lock) -> anyhow::Result<bool>,
    ) -> anyhow::Result<bool> {
        let Some(current) = &self.lock else {
            return Err(crate::state::no_state(&self.place));
        };
        let mut next = current.clone();
        if !edit(&mut next)? {
            return Ok(false);
        }
        // The edit sees the whole scope (the planner needs every project's sends) but may
        // change only this project's records: the others are written by their own projects.
        let theirs = |lock: &Lock| -> Vec<Record> {
            lock.sends
                .iter()
                .filter(|r| r.project.is_some())
                .cloned()
                .collect()
        };
        if theirs(current) != theirs(&next) {
            bail!(
                "internal error: a change to {} touched another project's record",
                self.place
            );
        }
        let mut own = Lock {
            format_version: next.format_version,
            lineage: next.lineage.clone(),
            serial: next.serial,
            sends: next
                .sends
                .iter()
                .filter(|r| r.project.is_none())
                .cloned()
                .collect(),
        };
        // One transaction, committed before this returns (a `sending` record is on the server
        // before the POST); the scope lock held by this session excludes every other writer.
        self.writer.write_lock(&mut own)?;
        next.serial = own.serial;
        self.lock = Some(next);
        Ok(true)
    }

    fn lease(&mut self) -> anyhow::Result<()> {
        // The advisory lock taken by `open` already excludes every other writer of the scope.
        Ok(())
    }

    fn release(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}
