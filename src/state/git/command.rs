//! Running `git` in the project's repository: pushform's identity when git has none, never a
//! credentials prompt (a CI job must fail, not hang), the repository and remote checked first,
//! and git's error output shown on one line with any credentials in URLs hidden.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use anyhow::{Context, Result, anyhow, bail};

use super::GitStore;

/// The identity of pushform's commits when git has none configured.
const NAME: &str = "pushform";
const EMAIL: &str = "pushform@localhost";

impl GitStore {
    /// Runs `git` in the project with `stdin`, pushform's identity when git has none, and no
    /// prompt for credentials (a CI job must fail, not hang).
    pub(super) fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<Output> {
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
                anyhow::Error::new(e).context("cannot run git")
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
    pub(super) fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<String> {
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
    pub(super) fn git_dir(&self) -> Result<PathBuf> {
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
    pub(super) fn check_remote(&self) -> Result<()> {
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
}

/// Git's error output on one line, without its generic advice, with any credentials in URLs
/// hidden.
pub(super) fn stderr_of(out: &Output) -> String {
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
