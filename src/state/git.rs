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

use std::cell::OnceCell;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::format::{Lock, parse_lock, try_to_pretty_json};
use super::store::{Freshness, Holder, Session, Snapshot, Store, hostname};

/// The state file at the root of the branch.
pub const LOCK_FILE: &str = "pushform.lock";
/// The lease file beside it, present while an apply sends.
pub const LEASE_FILE: &str = "lease.json";
/// How long a lease lasts without a write renewing it.
const LEASE_TTL: TimeDelta = TimeDelta::minutes(15);
/// Compare-and-swap attempts before giving up on a branch that keeps moving.
const CAS_ATTEMPTS: usize = 8;
/// How often a waiting `open` looks at the lease again.
const LEASE_POLL: Duration = Duration::from_millis(500);
/// The identity of pushform's commits when git has none configured.
const NAME: &str = "pushform";
const EMAIL: &str = "pushform@localhost";

/// Who sends, while they send: `lease.json` on the state branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// `GITHUB_RUN_ID` or `CI_JOB_ID` of the run holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_run: Option<String>,
    pub command: String,
    /// RFC 3339, UTC.
    pub started: String,
    /// RFC 3339, UTC; renewed by every write of the holder.
    pub expires: String,
}

impl Lease {
    fn new(holder: &Holder) -> Lease {
        let now = Utc::now();
        let ci_run = ["GITHUB_RUN_ID", "CI_JOB_ID"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()));
        Lease {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            host: hostname(),
            pid: holder.pid,
            ci_run,
            command: holder.command.clone(),
            started: stamp(now),
            expires: stamp(now + LEASE_TTL),
        }
    }

    /// Renewed for another [`LEASE_TTL`] once half of it is gone (so most writes carry the
    /// same lease and reuse its stored blob).
    fn renewed(&self) -> Lease {
        let due = DateTime::parse_from_rfc3339(&self.expires)
            .map_or(true, |t| t.with_timezone(&Utc) - Utc::now() < LEASE_TTL / 2);
        if !due {
            return self.clone();
        }
        Lease {
            expires: stamp(Utc::now() + LEASE_TTL),
            ..self.clone()
        }
    }

    /// Still in force by the real clock (an unreadable expiry counts as in force).
    fn is_live(&self) -> bool {
        DateTime::parse_from_rfc3339(&self.expires).map_or(true, |t| t > Utc::now())
    }

    fn describe(&self) -> String {
        let run = self
            .ci_run
            .as_deref()
            .map(|r| format!("CI run {r}, "))
            .unwrap_or_default();
        format!(
            "pid {} on host {} ({run}`{}`, since {}, until {}), lease id {}",
            self.pid, self.host, self.command, self.started, self.expires, self.id
        )
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The branch as fetched: its commit, the state, the lease if any.
#[derive(Debug, Clone)]
struct Tip {
    commit: String,
    lock: Lock,
    lease: Option<Lease>,
}

/// What a push did.
enum Pushed {
    Done(String),
    /// Another writer moved the branch first (non-fast-forward).
    Moved,
}

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

    /// Runs `git` in the project with `stdin`, pushform's identity when git has none, and no
    /// prompt for credentials (a CI job must fail, not hang).
    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
        let mut cmd = Command::new("git");
        cmd.arg("-C")
            .arg(&self.dir)
            .args(self.identity())
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!(
                    "the git state backend needs the `git` command, which is not on PATH: \
                     install git (or use `state: {{backend: file}}` in pushform.yaml)"
                )
            } else {
                anyhow!("cannot run git: {e}")
            }
        })?;
        if let Some(bytes) = stdin
            && let Some(mut pipe) = child.stdin.take()
        {
            pipe.write_all(bytes).context("cannot write to git")?;
        }
        child.wait_with_output().context("cannot run git")
    }

    /// `git args`, which must succeed; its stdout, trimmed.
    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String> {
        let out = self.run(args, stdin)?;
        if !out.status.success() {
            bail!(
                "`git {}` failed: {}",
                redact(&args.join(" ")),
                stderr_of(&out)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// `-c user.name=… -c user.email=…` unless git has both configured.
    fn identity(&self) -> &[String] {
        self.identity.get_or_init(|| {
            let has = |key: &str| {
                Command::new("git")
                    .arg("-C")
                    .arg(&self.dir)
                    .args(["config", "--get", key])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .output()
                    .is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty())
            };
            if has("user.name") && has("user.email") {
                Vec::new()
            } else {
                vec![
                    "-c".to_owned(),
                    format!("user.name={NAME}"),
                    "-c".to_owned(),
                    format!("user.email={EMAIL}"),
                ]
            }
        })
    }

    /// The repository's git dir; the project must be inside a git repository.
    fn git_dir(&self) -> Result<PathBuf> {
        let out = self.run(&["rev-parse", "--absolute-git-dir"], None)?;
        if !out.status.success() {
            bail!(
                "the git state backend needs {} to be inside a git repository (a clone with the \
                 remote `{}`): {}",
                self.dir.display(),
                redact(&self.remote),
                stderr_of(&out)
            );
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    }

    /// A named remote must exist; a URL or a path is used as it is.
    fn check_remote(&self) -> Result<()> {
        self.git_dir()?;
        let is_address = self.remote.contains(':') || self.remote.contains('/');
        if !is_address
            && !self
                .run(&["remote", "get-url", &self.remote], None)?
                .status
                .success()
        {
            bail!(
                "the git state backend's remote `{}` is not configured in {} (see `git remote -v`): \
                 add it, or set `state.remote` in pushform.yaml",
                self.remote,
                self.dir.display()
            );
        }
        Ok(())
    }

    fn stamp_path(&self) -> Result<PathBuf> {
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
    fn fetch(&self) -> Result<Option<Tip>> {
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
        .map_err(|e| anyhow!("cannot fetch the state from {}: {e}", self.place()))?;
        let stamp = self.stamp_path()?;
        if let Some(parent) = stamp.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        let _ = std::fs::write(&stamp, stamp_now());
        self.read_tip(&tracking).map(Some)
    }

    fn read_tip(&self, rev: &str) -> Result<Tip> {
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
    fn push(
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
    fn deleted_copy(&self) -> Option<Tip> {
        let tracking = self.tracking_ref();
        self.run(&["rev-parse", "--verify", "--quiet", &tracking], None)
            .is_ok_and(|o| o.status.success())
            .then(|| self.read_tip(&tracking).ok())
            .flatten()
    }

    /// Why nothing is written while the remote branch is gone but this clone has a copy.
    fn deleted(&self, copy: &Tip) -> anyhow::Error {
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

    fn held(&self, lease: &Lease, waited: Option<Duration>) -> anyhow::Error {
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
fn lost_the_race(stdout: &str, stderr: &str) -> bool {
    stdout.lines().any(|l| {
        l.starts_with('!')
            && (l.contains("[rejected]")
                || (l.contains("[remote rejected]")
                    && (l.contains("failed to update ref") || l.contains("cannot lock ref"))))
    }) || stderr.contains("cannot lock ref")
}

/// Git's error output on one line, without its generic advice, with any credentials in URLs
/// hidden.
fn stderr_of(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty()
                && !l.starts_with("Please make sure you have the correct access rights")
                && !l.starts_with("and the repository exists")
        })
        .collect();
    redact(&lines.join("; "))
}

/// Hides the user-info part of every URL in `text` (`https://oauth2:TOKEN@host` becomes
/// `https://***@host`): CI jobs put tokens in remote URLs, and errors end up in logs.
#[must_use]
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn stamp_now() -> String {
    stamp(Utc::now())
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
                return Err(super::no_state(&self.place()));
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

/// Write access to the state branch: the tip as last fetched or pushed, and our lease.
struct GitSession {
    store: GitStore,
    tip: Option<Tip>,
    lease: Option<Lease>,
    holder: Holder,
}

impl GitSession {
    /// Fetches again after a rejected push. The branch must still exist and, while we hold a
    /// lease, still carry ours: a cleared or taken-over lease stops every further write. Without
    /// a lease of our own (`state resolve`, `state forget`), the fetched tip must carry no live
    /// lease either, the same test `open` makes: the writer that moved first may be an apply
    /// that just wrote `sending`, and re-applying the edit on its tip could settle the record
    /// of a push still in flight (a `--not-sent` would then let the unit be sent twice).
    fn refresh(&mut self) -> Result<()> {
        let Some(tip) = self.store.fetch()? else {
            bail!(
                "{} was deleted while pushform was writing to it; nothing more is written. \
                 Restore it (or `pushform state push` a copy) before the next run",
                self.store.place()
            );
        };
        self.same_history(&tip)?;
        if self.lease.is_none()
            && let Some(other) = &tip.lease
            && other.is_live()
        {
            return Err(self.store.held(other, None).context(
                "the state moved while this command was writing and an apply now holds the \
                 lease; nothing was written",
            ));
        }
        if let Some(ours) = &self.lease
            && tip.lease.as_ref().map(|l| &l.id) != Some(&ours.id)
        {
            let now = match &tip.lease {
                Some(other) => format!("it is now held by {}", other.describe()),
                None => "it was cleared (`pushform state unlock`)".to_owned(),
            };
            bail!(
                "this apply lost its lease {} on {}: {now}; it stops writing",
                ours.id,
                self.store.place()
            );
        }
        self.tip = Some(tip);
        Ok(())
    }

    /// A fetched tip must continue the history this session read: a branch deleted and made
    /// again (`state init`) is another history, and a run adopting it mid-way would plan on
    /// its empty record and send everything again.
    fn same_history(&self, fetched: &Tip) -> Result<()> {
        if let Some(ours) = &self.tip
            && ours.lock.lineage != fetched.lock.lineage
        {
            bail!(
                "{} now holds another history (lineage {}) than the one this run read (lineage \
                 {}): it was deleted and created again meanwhile. Nothing more is written; check \
                 which history is the real one before the next run",
                self.store.place(),
                fetched.lock.lineage,
                ours.lock.lineage
            );
        }
        Ok(())
    }

    fn moved_too_often(&self) -> anyhow::Error {
        anyhow!(
            "{} kept moving under pushform ({CAS_ATTEMPTS} attempts): other writers are busy; \
             nothing was written, try again",
            self.store.place()
        )
    }
}

impl Session for GitSession {
    fn current(&self) -> Option<&Lock> {
        self.tip.as_ref().map(|t| &t.lock)
    }

    fn create(&mut self, mut lock: Lock, message: &str) -> Result<()> {
        if let Some(tip) = &self.tip {
            bail!(
                "{} already holds a state (lineage {}, serial {}, {} records)",
                self.store.place(),
                tip.lock.lineage,
                tip.lock.serial,
                tip.lock.sends.len()
            );
        }
        lock.serial = lock.serial.max(1);
        match self.store.push(None, &lock, None, message)? {
            Pushed::Done(commit) => {
                self.tip = Some(Tip {
                    commit,
                    lock,
                    lease: None,
                });
                Ok(())
            }
            Pushed::Moved => bail!(
                "{} was created by someone else meanwhile; nothing was written",
                self.store.place()
            ),
        }
    }

    fn commit(
        &mut self,
        message: &str,
        edit: &mut dyn FnMut(&mut Lock) -> Result<bool>,
    ) -> Result<bool> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(tip) = &self.tip else {
                return Err(super::no_state(&self.store.place()));
            };
            let mut next = tip.lock.clone();
            if !edit(&mut next)? {
                return Ok(false);
            }
            next.serial = next
                .serial
                .checked_add(1)
                .ok_or_else(|| anyhow!("the state serial cannot go past {}", next.serial))?;
            let lease = match &self.lease {
                Some(ours) => Some(ours.renewed()),
                None => tip.lease.clone(),
            };
            match self
                .store
                .push(Some(&tip.commit), &next, lease.as_ref(), message)?
            {
                Pushed::Done(commit) => {
                    if let Some(l) = &lease
                        && self.lease.is_some()
                    {
                        self.lease = Some(l.clone());
                    }
                    self.tip = Some(Tip {
                        commit,
                        lock: next,
                        lease,
                    });
                    return Ok(true);
                }
                Pushed::Moved => self.refresh()?,
            }
        }
        Err(self.moved_too_often())
    }

    fn lease(&mut self) -> Result<()> {
        if self.lease.is_some() {
            return Ok(());
        }
        let ours = Lease::new(&self.holder);
        for _ in 0..CAS_ATTEMPTS {
            let Some(tip) = &self.tip else {
                return Err(super::no_state(&self.store.place()));
            };
            if let Some(other) = &tip.lease
                && other.is_live()
            {
                return Err(self.store.held(other, None));
            }
            let message = format!(
                "pushform: lease {} taken by pid {} on {}",
                ours.id, ours.pid, ours.host
            );
            match self
                .store
                .push(Some(&tip.commit), &tip.lock, Some(&ours), &message)?
            {
                Pushed::Done(commit) => {
                    let lock = tip.lock.clone();
                    self.tip = Some(Tip {
                        commit,
                        lock,
                        lease: Some(ours.clone()),
                    });
                    self.lease = Some(ours);
                    return Ok(());
                }
                Pushed::Moved => {
                    let fetched = self
                        .store
                        .fetch()?
                        .ok_or_else(|| anyhow!("{} was deleted meanwhile", self.store.place()))?;
                    self.same_history(&fetched)?;
                    self.tip = Some(fetched);
                }
            }
        }
        Err(self.moved_too_often())
    }

    fn release(&mut self) -> Result<()> {
        let Some(ours) = self.lease.clone() else {
            return Ok(());
        };
        self.release_lease(&ours).map_err(|e| {
            anyhow!(
                "the lease {id} on {} could not be released ({e:#}); it expires at {}, or clear \
                 it with `pushform state unlock {id} --force`",
                self.store.place(),
                ours.expires,
                id = ours.id
            )
        })
    }
}

impl GitSession {
    fn release_lease(&mut self, ours: &Lease) -> Result<()> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(tip) = &self.tip else {
                return Ok(());
            };
            if tip.lease.as_ref().map(|l| &l.id) != Some(&ours.id) {
                self.lease = None;
                return Ok(());
            }
            let message = format!("pushform: lease {} released", ours.id);
            match self
                .store
                .push(Some(&tip.commit), &tip.lock, None, &message)?
            {
                Pushed::Done(commit) => {
                    let lock = tip.lock.clone();
                    self.tip = Some(Tip {
                        commit,
                        lock,
                        lease: None,
                    });
                    self.lease = None;
                    return Ok(());
                }
                Pushed::Moved => {
                    self.tip = self.store.fetch()?;
                }
            }
        }
        Err(self.moved_too_often())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_push_that_lost_the_race_is_told_from_a_refused_one() {
        let moved =
            "To ../r.git\n!\tabc:refs/heads/pushform-state\t[rejected] (fetch first)\nDone\n";
        assert!(lost_the_race(moved, ""));
        let raced = "!\tabc:refs/heads/pushform-state\t[remote rejected] (failed to update ref)\n";
        assert!(lost_the_race(
            raced,
            "remote: error: cannot lock ref 'refs/heads/pushform-state': is at 87ca but expected c696"
        ));
        let hook = "!\tabc:refs/heads/pushform-state\t[remote rejected] (hook declined)\n";
        assert!(!lost_the_race(hook, "remote: state branch is protected"));
        assert!(!lost_the_race(
            "",
            "fatal: Could not read from remote repository."
        ));
    }

    #[test]
    fn credentials_in_urls_are_hidden() {
        assert_eq!(
            redact(
                "fatal: unable to access 'https://oauth2:glpat-SECRET@gitlab.example/g/p.git/': 403"
            ),
            "fatal: unable to access 'https://***@gitlab.example/g/p.git/': 403"
        );
        assert_eq!(
            redact("https://x:y@a/b and ssh://git@host/r"),
            "https://***@a/b and ssh://***@host/r"
        );
        assert_eq!(redact("origin /srv/git/r.git"), "origin /srv/git/r.git");
    }

    #[test]
    fn a_lease_is_renewed_only_past_half_its_life() {
        let holder = Holder::current("pushform apply");
        let fresh = Lease::new(&holder);
        assert_eq!(fresh.renewed(), fresh, "a fresh lease is kept as it is");
        assert!(fresh.is_live());
        let old = Lease {
            expires: stamp(Utc::now() + TimeDelta::minutes(1)),
            ..fresh.clone()
        };
        let renewed = old.renewed();
        assert_eq!(renewed.id, old.id);
        assert!(renewed.expires > old.expires);
        let dead = Lease {
            expires: stamp(Utc::now() - TimeDelta::minutes(1)),
            ..fresh
        };
        assert!(!dead.is_live());
    }
}

/// The compare-and-swap and the lease against a real bare repository on disk.
#[cfg(test)]
mod cas_tests {
    use std::path::Path;
    use std::process::Command;

    use super::*;
    use crate::state::format::{Record, Status};

    fn git(dir: &Path, args: &[&str]) {
        let out = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    /// A bare remote and two clones of it, each a store on the same state branch.
    /// [`two_clones`] after `state init` from the first: an empty state on the remote.
    fn two_clones_with_a_state() -> (tempfile::TempDir, GitStore, GitStore) {
        let (tmp, a, b) = two_clones();
        a.open(&holder(), None)
            .unwrap()
            .create(Lock::new(), "init")
            .unwrap();
        (tmp, a, b)
    }

    fn two_clones() -> (tempfile::TempDir, GitStore, GitStore) {
        let tmp = tempfile::tempdir().unwrap();
        git(tmp.path(), &["init", "-q", "--bare", "r.git"]);
        for name in ["a", "b"] {
            git(tmp.path(), &["init", "-q", name]);
            git(
                &tmp.path().join(name),
                &["remote", "add", "origin", "../r.git"],
            );
        }
        let store = |n: &str| {
            GitStore::new(
                tmp.path().join(n),
                "origin".to_owned(),
                "pushform-state".to_owned(),
            )
        };
        let (a, b) = (store("a"), store("b"));
        (tmp, a, b)
    }

    fn record(key: &str) -> Record {
        Record {
            key: key.to_owned(),
            campaign: key.to_owned(),
            locale: None,
            digest: format!("d-{key}"),
            body: serde_json::json!({"k": key}).into(),
            status: Status::Sending,
            attempted_at: DateTime::parse_from_rfc3339("2026-11-26T15:00:00+08:00").unwrap(),
            push_id: None,
            request_id: Some(format!("r-{key}")),
            endpoint: None,
            error: None,
            source: None,
            resolved_at: None,
            accepted: None,
            project: None,
            kind: None,
            environment: None,
            app_key_sha1: None,
            rehearsal: None,
        }
    }

    fn holder() -> Holder {
        Holder::current("test")
    }

    #[test]
    fn a_writer_that_lost_the_race_re_reads_and_re_applies_its_edit() {
        let (_tmp, a, b) = two_clones_with_a_state();
        // Both read the same tip; b writes first.
        let mut sa = a.open(&holder(), None).unwrap();
        let mut sb = b.open(&holder(), None).unwrap();
        assert!(
            sb.commit("b", &mut |l| {
                l.append(record("x"));
                Ok(true)
            })
            .unwrap()
        );
        // a's push is rejected (not a fast-forward): it fetches, and its edit sees b's record.
        let mut seen = Vec::new();
        let written = sa
            .commit("a", &mut |l| {
                seen.push(l.sends.len());
                // "Still due?": x was taken by b, so a writes nothing for x...
                if l.sends.iter().any(|r| r.key == "x") {
                    return Ok(false);
                }
                l.append(record("x"));
                Ok(true)
            })
            .unwrap();
        assert!(!written, "a re-planned on b's state and wrote nothing");
        assert_eq!(
            seen,
            [0, 1],
            "the edit ran on the stale state, then on the fetched one"
        );
        // ...and another key goes on top of b's commit.
        assert!(
            sa.commit("a2", &mut |l| {
                l.append(record("y"));
                Ok(true)
            })
            .unwrap()
        );
        let state = b.read(Freshness::Current).unwrap().lock.unwrap();
        let keys: Vec<&str> = state.sends.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["x", "y"]);
        assert_eq!(state.serial, 3, "init, b's write, a's write");
    }

    #[test]
    fn a_live_lease_stops_other_writers_and_a_cleared_one_stops_its_holder() {
        let (_tmp, a, b) = two_clones_with_a_state();
        let mut sa = a.open(&holder(), None).unwrap();
        sa.lease().unwrap();
        let refused = b
            .open(&holder(), None)
            .err()
            .expect("b is refused")
            .to_string();
        assert!(refused.contains("is leased by"), "{refused}");
        // The operator clears the lease: a's next write finds it gone and stops.
        let tip = b.fetch().unwrap().unwrap();
        let lease_id = tip.lease.unwrap().id;
        let refused = b.unlock(&lease_id, false).unwrap_err().to_string();
        assert!(refused.contains("still in force"), "{refused}");
        assert!(refused.contains("--force"), "{refused}");
        assert!(
            b.fetch().unwrap().unwrap().lease.is_some(),
            "a live lease is not cleared without --force"
        );
        b.unlock(&lease_id, true).unwrap();
        let err = sa
            .commit("a", &mut |l| {
                l.append(record("x"));
                Ok(true)
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("lost its lease"), "{err}");
        assert!(
            b.read(Freshness::Current)
                .unwrap()
                .lock
                .unwrap()
                .sends
                .is_empty(),
            "nothing was written after the lease was lost"
        );
    }

    #[test]
    fn a_writer_without_a_lease_that_lost_the_race_to_a_leased_apply_writes_nothing() {
        let (_tmp, a, b) = two_clones_with_a_state();
        // a is an operator's `state resolve` that read the state before the apply started.
        let mut sa = a.open(&holder(), None).unwrap();
        // b is an apply: it takes the lease and writes `sending` for x.
        let mut sb = b.open(&holder(), None).unwrap();
        sb.lease().unwrap();
        assert!(
            sb.commit("b", &mut |l| {
                l.append(record("x"));
                Ok(true)
            })
            .unwrap()
        );
        // a's push is rejected; the fetched tip carries b's live lease: a must not re-apply.
        let mut applied_on_b = false;
        let err = sa
            .commit("a", &mut |l| {
                if l.sends.iter().any(|r| r.key == "x") {
                    applied_on_b = true;
                    l.sends[0].status = Status::Rejected;
                    return Ok(true);
                }
                l.append(record("y"));
                Ok(true)
            })
            .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("is leased by"), "{text}");
        assert!(!applied_on_b, "the edit never ran on the leased tip");
        let state = b.read(Freshness::Current).unwrap().lock.unwrap();
        assert_eq!(state.sends.len(), 1);
        assert_eq!(
            state.sends[0].status,
            Status::Sending,
            "b's send is untouched"
        );
    }

    #[test]
    fn a_run_never_adopts_a_history_made_anew_under_it() {
        let (tmp, a, b) = two_clones();
        let mut init = a.open(&holder(), None).unwrap();
        init.create(Lock::new(), "init").unwrap();
        let old = init.current().unwrap().lineage.clone();
        let mut writer = a.open(&holder(), None).unwrap();
        let mut leaser = a.open(&holder(), None).unwrap();
        // The branch is deleted and `state init` (from a clone that never saw it) makes a new one.
        git(
            &tmp.path().join("r.git"),
            &["update-ref", "-d", "refs/heads/pushform-state"],
        );
        let mut fresh = b.open(&holder(), None).unwrap();
        fresh.create(Lock::new(), "init again").unwrap();
        let new = fresh.current().unwrap().lineage.clone();

        let err = writer
            .commit("a", &mut |l| {
                l.append(record("x"));
                Ok(true)
            })
            .unwrap_err()
            .to_string();
        assert!(err.contains("another history"), "{err}");
        assert!(err.contains(&old) && err.contains(&new), "{err}");
        let err = leaser.lease().unwrap_err().to_string();
        assert!(err.contains("another history"), "{err}");
        let state = b.fetch().unwrap().unwrap();
        assert!(
            state.lock.sends.is_empty(),
            "nothing written on the new history"
        );
        assert!(state.lease.is_none(), "no lease taken on the new history");
    }

    #[test]
    fn a_deleted_branch_this_clone_saw_is_kept_and_refuses_writes_until_restored() {
        let (tmp, a, _b) = two_clones();
        let mut init = a.open(&holder(), None).unwrap();
        init.create(Lock::new(), "init").unwrap();
        let lineage = init.current().unwrap().lineage.clone();
        drop(init);
        // `a` fetches it (its copy is kept in the tracking ref), then the branch is deleted.
        a.open(&holder(), None).unwrap();
        git(
            &tmp.path().join("r.git"),
            &["update-ref", "-d", "refs/heads/pushform-state"],
        );
        let err = a.open(&holder(), None).err().expect("refused").to_string();
        assert!(err.contains("was deleted on the remote"), "{err}");
        assert!(err.contains(&lineage), "{err}");
        let restore =
            "git push origin refs/pushform/state/pushform-state:refs/heads/pushform-state";
        assert!(err.contains(restore), "{err}");
        // plan still reads (nothing), with the same warning.
        let read = a.read(Freshness::MayBeStale).unwrap();
        assert!(read.lock.is_none());
        assert!(
            read.warnings[0].contains("was deleted on the remote"),
            "{read:?}"
        );
        // The command it gives restores the history.
        let args: Vec<&str> = restore.split(' ').skip(1).collect();
        git(&a.dir, &args);
        let back = a.read(Freshness::Current).unwrap().lock.unwrap();
        assert_eq!(back.lineage, lineage);
        a.open(&holder(), None).unwrap();
    }

    #[test]
    fn no_state_branch_means_no_write_and_create_only_once() {
        let (_tmp, a, b) = two_clones();
        let mut sa = a.open(&holder(), None).unwrap();
        assert!(sa.current().is_none());
        let err = sa.commit("x", &mut |_| Ok(true)).unwrap_err().to_string();
        assert!(err.contains("pushform state init"), "{err}");
        let mut sb = b.open(&holder(), None).unwrap();
        sa.create(Lock::new(), "init").unwrap();
        // b opened before a created it: its create is a rejected push, not a second history.
        let err = sb.create(Lock::new(), "init").unwrap_err().to_string();
        assert!(err.contains("created by someone else"), "{err}");
    }
}
