//! The one interface every state backend implements (`file`, `git` and `postgres`): read the state,
//! take exclusive write access, and make one record change durable.
//!
//! The send protocol's invariant lives on this seam: `Session::commit` returns only once the
//! change is durable *where every later run will read it* (the local disk for `file`, the remote
//! branch for `git`, a committed transaction for `postgres`), so a `sending` record committed before a POST can never be lost with the
//! machine. Writes are edits, not whole states: a backend that finds the state moved under it
//! (another writer won a compare-and-swap) re-reads it and applies the same edit again, and the
//! edit itself decides whether it still applies (a unit no longer due is not sent).
//!
//! How each backend maps onto it: `file` takes an OS lock in `open` and writes the whole
//! lockfile atomically in `commit`; `git` checks the lease in `open`, takes it in `lease`, and
//! pushes one commit per `commit` as a compare-and-swap. `postgres` takes a session advisory
//! lock for its scope in `open` (so `lease` has nothing left to do), `commit` runs the edit on
//! the state it read and writes the changed records in one transaction, and `current` is the
//! whole scope as of its last read or write, other projects' records tagged with their project.

use std::fs;
use std::time::Duration;

use anyhow::Result;
use chrono::{SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::format::Lock;

/// Who holds the write lock, written into the sidecar so a blocked command can
/// say who is in its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Holder {
    pub(crate) pid: u32,
    pub(crate) host: String,
    pub(crate) command: String,
    /// RFC 3339, UTC.
    pub(crate) started: String,
}

impl Holder {
    /// This process, running `command` (e.g. `"pushform apply"`), starting now.
    #[must_use]
    pub(crate) fn current(command: impl Into<String>) -> Self {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            command: command.into(),
            started: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

pub(crate) fn hostname() -> String {
    let from_file = fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned());
    from_file
        .into_iter()
        .chain(std::env::var("HOSTNAME").ok().map(|s| s.trim().to_owned()))
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Freshness {
    /// The backend's current state, or an error (`quota`, `state list`, every write).
    Current,
    /// `plan` only: when the backend cannot be reached, the last copy this machine fetched, with
    /// a warning giving its age.
    MayBeStale,
}

/// What a read found.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    /// `None`: nothing is recorded (no lockfile, no state branch). Never an implicit new history.
    pub(crate) lock: Option<Lock>,
    /// What the reader must be told (a stale copy was used).
    pub(crate) warnings: Vec<String>,
}

/// A state backend.
pub(crate) trait Store {
    /// Where the state lives, for messages: `the lockfile ./pushform.lock`, `branch
    /// pushform-state on origin`.
    fn describe(&self) -> String;

    /// Reads the state without taking any lock.
    ///
    /// # Errors
    /// When the backend cannot be read (and `freshness` allows no fallback) or the state does
    /// not parse.
    fn read(&self, freshness: Freshness) -> Result<Snapshot>;

    /// Exclusive write access for this process: the file backend's OS lock, or a check that no
    /// other holder's lease is live. Fails at once naming the holder, or waits up to `wait`.
    ///
    /// # Errors
    /// When another holder is in the way, or the backend cannot be read.
    fn open(&self, holder: &Holder, wait: Option<Duration>) -> Result<Box<dyn Session>>;

    /// Clears a lease left by a dead holder (`state unlock`); one still in force only with
    /// `force`.
    ///
    /// # Errors
    /// When the backend has no such lease, it is still in force without `force`, or it cannot
    /// be written.
    fn unlock(&self, lease_id: &str, force: bool) -> Result<String>;
}

/// Write access to a backend, held until dropped.
pub(crate) trait Session {
    /// The state as read when the session opened or last wrote; `None` if nothing is recorded.
    fn current(&self) -> Option<&Lock>;

    /// Writes a whole state where there is none (`state init`, `state push`).
    ///
    /// # Errors
    /// When the backend already has a state, or the write fails.
    fn create(&mut self, lock: Lock, message: &str) -> Result<()>;

    /// Applies `edit` to the current state and makes the result durable, `serial` + 1.
    /// `edit` returns `Ok(false)` when there is nothing to write (any more): then nothing is
    /// written and `commit` returns `Ok(false)`. If the backend's state moved since it was read
    /// (another writer), it is read again and `edit` applied to it afresh, a bounded number of
    /// times. `message` names the change (the key and the status) where the backend keeps one.
    ///
    /// # Errors
    /// When there is no state (`state init` first), the edit fails, or the write cannot be made
    /// durable; then the backend is unchanged or its state is unknown, never half-written.
    fn commit(
        &mut self,
        message: &str,
        edit: &mut dyn FnMut(&mut Lock) -> Result<bool>,
    ) -> Result<bool>;

    /// Takes the lease that covers a run of sends (`git`: a record on the branch other runners
    /// see), unless this session holds it already. Nothing to do where the OS lock of `open`
    /// already excludes every other writer. Taken only when a send is due, so that a run with
    /// nothing to send writes nothing.
    ///
    /// # Errors
    /// When another holder took the lease, or it cannot be written.
    fn lease(&mut self) -> Result<()>;

    /// Lets the lease go (best effort for the caller: a lease left behind expires).
    ///
    /// # Errors
    /// When the release cannot be written.
    fn release(&mut self) -> Result<()>;
}
