//! The `git` backend: the state is `pushform.lock` (the same format as the file backend) at the
//! root of a branch of a git remote, so it survives the CI runner that wrote it and every runner
//! reads the same history.
//!
//! Why git: the repository already has a remote that every runner can reach with the
//! environment's own credentials (a CI token, an SSH key), and a push without force is a
//! compare-and-swap: it only lands on top of the tip it was built on. Every write is one commit
//! on the fetched tip; a rejected push means another writer moved first, so the state is fetched
//! again and the edit re-applied (the edit itself re-checks that a unit is still due). The
//! `sending` record is on the remote before the POST, so the intent outlives the runner.
//!
//! Beside `pushform.lock` the branch carries `lease.json` while an apply sends: who holds it
//! (host, pid, CI run, command), since when and until when. A second apply sees it and stops (or
//! waits); `pushform state unlock ID` clears one whose holder died. The lease is renewed by every
//! record the holder writes.
//!
//! Everything runs through the `git` command in the project's repository, touching only objects
//! and the private ref `refs/pushform/state/<branch>` (the last fetched copy, which `plan` may
//! fall back to, and which is kept when the remote branch is deleted: this clone then writes
//! nothing until the branch is restored, since a deleted history is not a fresh start): never the worktree, the index, HEAD or any branch of the checkout. Commits are
//! made with plumbing (`hash-object`, `mktree`, `commit-tree`) and pushed without running the
//! local pre-push hook. Without a git identity (a fresh CI runner) pushform commits as itself.

mod branch;
mod command;
mod lease;
mod session;

#[cfg(test)]
mod cas_tests;
#[cfg(test)]
mod tests;

use std::cell::OnceCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, Utc};

use super::store::{Freshness, Holder, Session, Snapshot, Store};
use branch::Pushed;
pub use command::redact;
pub use lease::Lease;
use session::GitSession;

/// The state file at the root of the branch.
pub const LOCK_FILE: &str = "pushform.lock";
/// The lease file beside it, present while an apply sends.
pub const LEASE_FILE: &str = "lease.json";

/// Compare-and-swap attempts before giving up on a branch that keeps moving.
const CAS_ATTEMPTS: usize = 8;
/// How often a waiting `open` looks at the lease again.
const LEASE_POLL: Duration = Duration::from_millis(500);

/// The git backend of one project.
#[derive(Debug, Clone)]
pub struct GitStore {
    dir: PathBuf,
    remote: String,
    branch: String,
    identity: OnceCell<Vec<String>>,
    /// The last lease written and its blob id: a lease unchanged since is not stored again.
    lease_blob: std::cell::RefCell<Option<(String, String)>>,
}

impl GitStore {
    #[must_use]
    pub fn new(dir: PathBuf, remote: String, branch: String) -> Self {
        GitStore {
            dir,
            remote,
            branch,
            identity: OnceCell::new(),
            lease_blob: std::cell::RefCell::default(),
        }
    }

    fn place(&self) -> String {
        format!(
            "branch {} of the git remote {}",
            self.branch,
            redact(&self.remote)
        )
    }

    fn tracking_ref(&self) -> String {
        format!("refs/pushform/state/{}", self.branch)
    }
}

impl Store for GitStore {
    fn describe(&self) -> String {
        self.place()
    }

    fn read(&self, freshness: Freshness) -> Result<Snapshot> {
        // A new repository without its remote yet has nothing recorded anywhere: `plan` says so
        // (apply refuses all the same). An unreachable remote is another matter, below.
        if freshness == Freshness::MayBeStale
            && let Err(err) = self.check_remote()
        {
            return Ok(Snapshot {
                lock: None,
                warnings: vec![format!("{err:#}")],
            });
        }
        match self.fetch() {
            Ok(None) => Ok(Snapshot {
                lock: None,
                warnings: self
                    .deleted_copy()
                    .map(|copy| format!("{:#}", self.deleted(&copy)))
                    .into_iter()
                    .collect(),
            }),
            Ok(tip) => Ok(Snapshot {
                lock: tip.map(|t| t.lock),
                warnings: Vec::new(),
            }),
            Err(err) if freshness == Freshness::MayBeStale => {
                let tracking = self.tracking_ref();
                let has_copy = self
                    .run(&["rev-parse", "--verify", "--quiet", &tracking], None)
                    .is_ok_and(|o| o.status.success());
                if !has_copy {
                    return Err(anyhow!(
                        "{err:#}; and this clone has no fetched copy of the state to fall back to"
                    ));
                }
                let tip = self.read_tip(&tracking)?;
                let age = self
                    .stamp_path()
                    .ok()
                    .and_then(|p| std::fs::read_to_string(p).ok())
                    .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok())
                    .map_or("of unknown age".to_owned(), |t| {
                        let mins = (Utc::now() - t.with_timezone(&Utc)).num_minutes();
                        format!("fetched {mins} minutes ago ({})", t.to_rfc3339())
                    });
                Ok(Snapshot {
                    lock: Some(tip.lock),
                    warnings: vec![format!(
                        "{err:#}; this plan uses the last fetched copy of the state, {age}: it \
                         may miss sends made since"
                    )],
                })
            }
            Err(err) => Err(err),
        }
    }

    fn open(&self, holder: &Holder, wait: Option<Duration>) -> Result<Box<dyn Session>> {
        let started = Instant::now();
        loop {
            let tip = self.fetch()?;
            if tip.is_none()
                && let Some(copy) = self.deleted_copy()
            {
                return Err(self.deleted(&copy));
            }
            if let Some(lease) = tip.as_ref().and_then(|t| t.lease.as_ref())
                && lease.is_live()
            {
                match wait.and_then(|d| d.checked_sub(started.elapsed())) {
                    Some(rest) if !rest.is_zero() => {
                        std::thread::sleep(rest.min(LEASE_POLL));
                        continue;
                    }
                    _ => return Err(self.held(lease, wait.filter(|d| !d.is_zero()))),
                }
            }
            return Ok(Box::new(GitSession {
                store: self.clone(),
                tip,
                lease: None,
                holder: holder.clone(),
            }));
        }
    }

    fn unlock(&self, lease_id: &str, force: bool) -> Result<String> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(tip) = self.fetch()? else {
                return Err(crate::state::no_state(&self.place()));
            };
            let Some(lease) = &tip.lease else {
                bail!("{} holds no lease: nothing to clear", self.place());
            };
            if lease.id != lease_id {
                bail!(
                    "the lease on {} is held by {}, not `{lease_id}`: nothing cleared",
                    self.place(),
                    lease.describe()
                );
            }
            if lease.is_live() && !force {
                bail!(
                    "the lease {lease_id} on {} is still in force: it is held by {}. Clearing \
                     the lease of a live apply lets a second one send beside it; nothing was \
                     cleared. Check that this holder is really gone (its CI run, its host), then \
                     run `pushform state unlock {lease_id} --force`, or wait until it expires",
                    self.place(),
                    lease.describe()
                );
            }
            let message = format!("pushform: lease {lease_id} cleared by `state unlock`");
            if let Pushed::Done(_) = self.push(Some(&tip.commit), &tip.lock, None, &message)? {
                return Ok(lease.describe());
            }
        }
        bail!(
            "{} kept moving; the lease was not cleared, try again",
            self.place()
        )
    }
}
