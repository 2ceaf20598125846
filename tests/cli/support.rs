//! The harness every CLI test uses.
//!
//! - [`Repo`] is a throwaway campaign repository in a temp dir: write files into it with
//!   [`Repo::file`], run the binary in it with [`Repo::run`]. It is deleted when dropped.
//! - [`Pushform`] (`command.rs`) is the one way a test runs the built binary: a builder that
//!   starts from an environment the test process cannot leak into (no `PUSHFORM_*`,
//!   `RONGCLOUD_*`, proxy, `HOME`, CI or terminal variable; only `PATH` and `TMPDIR` kept;
//!   `NO_COLOR` set), and runs, spawns or starts it with a timeout. [`pushform`] and
//!   [`pushform_with`] are its one-line forms. The apply and team harnesses build on it.
//! - [`Run`] is what came back: exit status, stdout and stderr as text, with assertions that
//!   print the command line and all output when they fail.
//! - [`sample_repo`] is the project's own root, the sample campaign repository (docs/contract.md §1);
//!   [`copy_sample`] copies it (configuration, campaigns, templates) into a temp folder.
//! - [`transcript`] and [`transcript_settings`] make a whole run one snapshot; [`action`] reads
//!   one unit's action out of `plan --format json`.

mod command;
mod isolation;

use std::fs;
use std::path::{Path, PathBuf};

pub(crate) use command::{Pushform, Run, Running, kill_group};

/// The repository root of this crate, which is itself a working campaign repository.
pub(crate) fn sample_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies the sample repository's configuration, campaigns and templates into `to` (no state).
pub(crate) fn copy_sample(to: &Path) {
    let root = sample_repo();
    fs::copy(root.join("pushform.yaml"), to.join("pushform.yaml")).expect("copy pushform.yaml");
    for dir in ["campaigns", "templates"] {
        copy_dir(&root.join(dir), &to.join(dir));
    }
}

/// Copies the folder `from` to `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create the target folder");
    for entry in fs::read_dir(from).expect("read the folder") {
        let entry = entry.expect("read a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy a file");
        }
    }
}

/// Every regular file below `dir`, as paths relative to it, in path order. Links are neither
/// followed nor listed (a hostile repository links outside itself).
pub(crate) fn files_below(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read the folder") {
            let path = entry.expect("read a folder entry").path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                walk(root, &path, out);
            } else if meta.is_file() {
                out.push(path.strip_prefix(root).expect("below the root").to_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A campaign repository in a temp dir, deleted when dropped. The one repository type of the
/// CLI tests: the apply harness adds its constructors (the sample, a numbered fixture) and
/// lockfile readers to it (`apply/harness.rs`).
pub(crate) struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    /// An empty repository with an empty `campaigns/` folder to start with.
    pub(crate) fn new() -> Repo {
        let repo = Repo::from_dir(tempfile::tempdir().expect("create a temp dir"));
        fs::create_dir(repo.path().join("campaigns")).expect("create campaigns/");
        repo
    }

    /// A repository already made in `dir` (e.g. a fresh clone), deleted with it.
    pub(crate) fn from_dir(dir: tempfile::TempDir) -> Repo {
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
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
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

/// Runs the built `pushform` binary in `dir` with `args`, in the clean environment of
/// [`Pushform`].
pub(crate) fn pushform(dir: &Path, args: &[&str]) -> Run {
    Pushform::new(dir).args(args).run()
}

/// Like [`pushform`], with `env` set on top of the clean environment.
pub(crate) fn pushform_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
    Pushform::new(dir).envs(env).args(args).run()
}

/// The action for unit `key` in a plan as JSON (`plan --format json`).
#[track_caller]
pub(crate) fn action<'a>(plan: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .find(|a| a["key"] == key)
        .unwrap_or_else(|| panic!("no action for {key} in {plan:#}"))
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
