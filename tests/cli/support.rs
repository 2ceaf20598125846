//! The harness every CLI test uses.
//!
//! - [`Repo`] is a throwaway campaign repository in a temp dir: write files into it with
//!   [`Repo::file`], run the binary in it with [`Repo::run`]. It is deleted when dropped.
//! - [`pushform`] runs the built binary in a folder, with an environment that cannot leak into
//!   the result: every `PUSHFORM_*` and `RONGCLOUD_*` variable removed (a developer's pinned
//!   clock or real credentials must never reach a test), `NO_COLOR` set and the terminal width
//!   variables removed (so `--help` wraps the same everywhere).
//! - [`Run`] is what came back: exit code, stdout and stderr as text, with assertions that print
//!   all three when they fail.
//! - [`sample_repo`] is the project's own root, the sample campaign repository (docs/contract.md §1).

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

/// The repository root of this crate, which is itself a working campaign repository.
pub(crate) fn sample_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A campaign repository in a temp dir, with an empty `campaigns/` folder to start with.
pub(crate) struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    pub(crate) fn new() -> Repo {
        let dir = tempfile::tempdir().expect("create a temp dir");
        fs::create_dir(dir.path().join("campaigns")).expect("create campaigns/");
        Repo { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `path` (relative to the repo root), creating folders; replaces any old file.
    pub(crate) fn file(&self, path: &str, text: &str) -> &Repo {
        let path = self.dir.path().join(path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent folders");
        }
        fs::write(&path, text).expect("write fixture file");
        self
    }

    /// Runs `pushform ARGS…` in this repo.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        pushform(self.path(), args)
    }

    /// `pushform state init`: the empty state every repository needs before its first write
    /// (`state import`, `apply`), since pushform never starts a history by itself.
    pub(crate) fn init_state(&self) -> &Repo {
        self.run(&["state", "init"]).success();
        self
    }
}

/// A minimal campaign that breaks no rule, with `notification` written as given (a flow mapping).
pub(crate) fn campaign(id: &str, notification: &str) -> String {
    format!(
        "id: {id}\npush:\n  platform: [ios, android]\n  audience: {{packageName: com.example, is_to_all: false}}\n  notification: {notification}\n"
    )
}

/// The outcome of one run of the binary.
#[derive(Debug)]
pub(crate) struct Run {
    /// The exit code; -1 if the process was killed by a signal (a crash, which no test expects).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    #[track_caller]
    pub(crate) fn code(&self, expected: i32) -> &Run {
        assert_eq!(
            self.code, expected,
            "exit code\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts exit code 0.
    #[track_caller]
    pub(crate) fn success(&self) -> &Run {
        self.code(0)
    }

    /// Asserts exit code 1 (an error, reported, not a crash).
    #[track_caller]
    pub(crate) fn failure(&self) -> &Run {
        self.code(1)
    }

    /// Asserts that stderr contains every one of `needles`, in that order.
    #[track_caller]
    pub(crate) fn stderr_has(&self, needles: &[&str]) -> &Run {
        let mut rest = self.stderr.as_str();
        for needle in needles {
            match rest.find(needle) {
                Some(at) => rest = &rest[at + needle.len()..],
                None => panic!(
                    "stderr lacks {needle:?} (after the earlier needles)\n--- stderr\n{}",
                    self.stderr
                ),
            }
        }
        self
    }

    /// The error and warning lines of stderr (`error: …`, `warning: …`), without excerpts.
    pub(crate) fn finding_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error: ") || l.starts_with("warning: "))
            .collect()
    }

    /// Stdout parsed as JSON.
    #[track_caller]
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err})\n--- stdout\n{}\n--- stderr\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the built `pushform` binary in `dir` with `args`, in a clean environment (see the
/// module documentation).
pub(crate) fn pushform(dir: &Path, args: &[&str]) -> Run {
    pushform_with(dir, &[], args)
}

/// Like [`pushform`], with `env` set on top of the clean environment, and killed (failing the
/// test) if it runs longer than 60 s: for inputs that once hung.
pub(crate) fn pushform_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut cmd = Command::from_std(clean_command(dir));
    cmd.timeout(std::time::Duration::from_mins(1));
    for (name, value) in env {
        cmd.env(name, value);
    }
    let output = cmd.args(args).output().expect("run pushform");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// The built binary to run in `dir`, in the clean environment of [`pushform`], for a test that
/// wires the standard streams itself (a full disk, a closed pipe).
pub(crate) fn clean_command(dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_pushform"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("PUSHFORM_") || name.starts_with("RONGCLOUD_") {
            cmd.env_remove(&*name);
        }
    }
    for name in ["COLUMNS", "LINES", "CLICOLOR", "CLICOLOR_FORCE", "TERM"] {
        cmd.env_remove(name);
    }
    cmd.env("NO_COLOR", "1").current_dir(dir);
    cmd
}

/// A whole run as one text to snapshot, as minijinja-cli's `assert_cmd_snapshot!` does: the exit
/// code, then stdout and stderr in full, with `dir` (a temp folder) written as `[REPO]`.
pub(crate) fn transcript(dir: &Path, code: Option<i32>, stdout: &str, stderr: &str) -> String {
    let code = code.map_or_else(|| "killed by a signal".to_owned(), |c| c.to_string());
    let text =
        format!("exit code: {code}\n----- stdout -----\n{stdout}----- stderr -----\n{stderr}");
    let dir = dir.display().to_string();
    // A macOS temp folder is reached through a symlink: either spelling is the repository.
    let real = dir_real(&dir);
    text.replace(&real, "[REPO]").replace(&dir, "[REPO]")
}

fn dir_real(dir: &str) -> String {
    fs::canonicalize(dir).map_or_else(|_| dir.to_owned(), |p| p.display().to_string())
}

/// Snapshot settings that replace the parts of a transcript that differ on every run by
/// stand-ins: UUIDs (lineages, request ids), the emulator's port, push ids and OS error numbers.
pub(crate) fn transcript_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(
        r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        "[UUID]",
    );
    settings.add_filter(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:[PORT]");
    settings.add_filter(r"push id [A-Za-z0-9]+", "push id [PUSH_ID]");
    // The number behind "connection refused" differs between Linux, macOS and Windows.
    settings.add_filter(r"\(os error \d+\)", "(os error [N])");
    settings
}
