//! The state branch itself: fetch it into the private ref, read `pushform.lock` and
//! `lease.json` from a commit, and write by compare-and-swap: commit with plumbing on the tip
//! that was read, push without force, and tell a lost race (retry on the new tip) from a push the
//! remote refused (no retry fixes that). A branch this clone fetched and the remote no longer
//! has is a deleted history, never a fresh start.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;

use super::command::{redact, stderr_of};
use super::lease::{Lease, stamp};
use super::{GitStore, LEASE_FILE, LOCK_FILE};
use crate::state::format::{Lock, parse_lock, try_to_pretty_json};

/// The branch as fetched: its commit, the state, the lease if any.
#[derive(Debug, Clone)]
pub(super) struct Tip {
    pub(super) commit: String,
    pub(super) lock: Lock,
    pub(super) lease: Option<Lease>,
}

/// What a push did.
pub(super) enum Pushed {
    Done(String),
    /// Another writer moved the branch first (non-fast-forward).
    Moved,
}

impl GitStore {
    pub(super) fn stamp_path(&self) -> Result<PathBuf> {
        let name: String = self
            .branch
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        Ok(self
            .git_dir()?
            .join("pushform")
            .join(format!("fetched-{name}")))
    }

    /// Fetches the branch: `None` if the remote has no such branch. The last fetched copy is
    /// then kept (see [`GitStore::deleted_copy`]): a branch this clone saw is a deleted history,
    /// not a new one.
    pub(super) fn fetch(&self) -> Result<Option<Tip>> {
        self.check_remote()?;
        let head = format!("refs/heads/{}", self.branch);
        let listed = self.run(&["ls-remote", "--heads", &self.remote, &head], None)?;
        if !listed.status.success() {
            bail!(
                "cannot reach the git remote `{}` to read the state: {}",
                redact(&self.remote),
                stderr_of(&listed)
            );
        }
        let tracking = self.tracking_ref();
        if String::from_utf8_lossy(&listed.stdout).trim().is_empty() {
            return Ok(None);
        }
        self.ok(
            &[
                "fetch",
                "--no-tags",
                "--no-write-fetch-head",
                "--quiet",
                &self.remote,
                &format!("+{head}:{tracking}"),
            ],
            None,
        )
        .with_context(|| format!("cannot fetch the state from {}", self.place()))?;
        let stamp = self.stamp_path()?;
        if let Some(parent) = stamp.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&stamp, stamp_now());
        self.read_tip(&tracking).map(Some)
    }

    pub(super) fn read_tip(&self, rev: &str) -> Result<Tip> {
        let commit = self.ok(
            &["rev-parse", "--verify", &format!("{rev}^{{commit}}")],
            None,
        )?;
        let names = self.ok(&["ls-tree", "--name-only", &commit], None)?;
        if !names.lines().any(|n| n == LOCK_FILE) {
            bail!(
                "{} has no {LOCK_FILE} at its root: it is not a pushform state branch (pushform \
                 writes it only through `pushform state init` or `state push`)",
                self.place()
            );
        }
        let bytes = self
            .run(
                &["cat-file", "blob", &format!("{commit}:{LOCK_FILE}")],
                None,
            )?
            .stdout;
        let lock = parse_lock(
            Path::new(&format!("{LOCK_FILE} on {}", self.place())),
            &bytes,
        )?;
        let lease = if names.lines().any(|n| n == LEASE_FILE) {
            let text = self.ok(
                &["cat-file", "blob", &format!("{commit}:{LEASE_FILE}")],
                None,
            )?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{LEASE_FILE} on {} does not parse", self.place()))?,
            )
        } else {
            None
        };
        Ok(Tip {
            commit,
            lock,
            lease,
        })
    }

    /// Commits `lock` (and `lease`) on top of `parent` and pushes it without force.
    pub(super) fn push(
        &self,
        parent: Option<&str>,
        lock: &Lock,
        lease: Option<&Lease>,
        message: &str,
    ) -> Result<Pushed> {
        let json = try_to_pretty_json(lock).context("cannot serialise the state")?;
        let lock_blob = self.ok(&["hash-object", "-w", "--stdin"], Some(json.as_bytes()))?;
        let mut tree = format!("100644 blob {lock_blob}\t{LOCK_FILE}\n");
        if let Some(lease) = lease {
            let mut text = serde_json::to_string_pretty(lease)?;
            text.push('\n');
            let cached = self
                .lease_blob
                .borrow()
                .as_ref()
                .filter(|(t, _)| *t == text)
                .map(|(_, b)| b.clone());
            let blob = if let Some(blob) = cached {
                blob
            } else {
                let blob = self.ok(&["hash-object", "-w", "--stdin"], Some(text.as_bytes()))?;
                *self.lease_blob.borrow_mut() = Some((text, blob.clone()));
                blob
            };
            tree = format!("{tree}100644 blob {blob}\t{LEASE_FILE}\n");
        }
        let tree = self.ok(&["mktree"], Some(tree.as_bytes()))?;
        let mut args = vec!["commit-tree", "--no-gpg-sign", tree.as_str(), "-m", message];
        if let Some(parent) = parent {
            args.extend(["-p", parent]);
        }
        let commit = self.ok(&args, None)?;
        let target = format!("{commit}:refs/heads/{}", self.branch);
        let out = self.run(
            &["push", "--porcelain", "--no-verify", &self.remote, &target],
            None,
        )?;
        if out.status.success() {
            // The private ref stays what was last *fetched* (the copy `plan` may fall back to).
            return Ok(Pushed::Done(commit));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        if lost_the_race(&stdout, &String::from_utf8_lossy(&out.stderr)) {
            return Ok(Pushed::Moved);
        }
        // The refused ref's line (`!  src:dst  [remote rejected] (reason)`), then git's own words.
        let refused = stdout
            .lines()
            .filter(|l| l.starts_with('!'))
            .filter_map(|l| l.split('\t').nth(2))
            .collect::<Vec<_>>()
            .join("; ");
        let why = redact(&format!("{refused} {}", stderr_of(&out)));
        bail!(
            "the git remote `{}` refused the push: {}",
            redact(&self.remote),
            why.trim()
        )
    }

    /// This clone's last fetched copy of a branch the remote no longer has: the state branch
    /// was deleted after this clone read it.
    pub(super) fn deleted_copy(&self) -> Option<Tip> {
        let tracking = self.tracking_ref();
        self.run(&["rev-parse", "--verify", "--quiet", &tracking], None)
            .is_ok_and(|o| o.status.success())
            .then(|| self.read_tip(&tracking).ok())
            .flatten()
    }

    /// Why nothing is written while the remote branch is gone but this clone has a copy.
    pub(super) fn deleted(&self, copy: &Tip) -> anyhow::Error {
        let tracking = self.tracking_ref();
        anyhow!(
            "{} was deleted on the remote: this clone fetched it before (lineage {}, serial {}, \
             {} records, kept in {tracking}). Nothing is written on a deleted history, or every \
             unit it recorded could be sent again. Restore it with `git push {} \
             {tracking}:refs/heads/{}`; to start a new history (`state init`) or push another \
             copy (`state push`) on purpose, drop this clone's copy with `git update-ref -d \
             {tracking}` first",
            self.place(),
            copy.lock.lineage,
            copy.lock.serial,
            copy.lock.sends.len(),
            redact(&self.remote),
            self.branch
        )
    }

    pub(super) fn held(&self, lease: &Lease, waited: Option<Duration>) -> anyhow::Error {
        let wait = match waited {
            Some(d) => {
                format!(" and stayed so for {d:?}; wait longer with a larger --lock-timeout")
            }
            None => "; another apply is running. Wait for it, or pass --lock-timeout".to_owned(),
        };
        anyhow!(
            "the state on {} is leased by {}{wait}. If that run is dead (its lease expires by \
             itself), clear it with `pushform state unlock {} --force`",
            self.place(),
            lease.describe(),
            lease.id
        )
    }
}

/// Whether a failed push lost a compare-and-swap (another writer moved the branch first), as
/// opposed to the remote refusing it (a hook, permissions), which no retry fixes. `[rejected]`
/// is the client's fast-forward check; a push racing another one can also pass it and then lose
/// at the remote's own ref update (`failed to update ref`, `cannot lock ref … but expected …`).
pub(super) fn lost_the_race(stdout: &str, stderr: &str) -> bool {
    stdout.lines().any(|l| {
        l.starts_with('!')
            && (l.contains("[rejected]")
                || (l.contains("[remote rejected]")
                    && (l.contains("failed to update ref") || l.contains("cannot lock ref"))))
    }) || stderr.contains("cannot lock ref")
}

fn stamp_now() -> String {
    stamp(Utc::now())
}
