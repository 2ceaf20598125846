//! Issue #5, the team workflow end to end: `pushform init`, the campaign schema, the CI workflow
//! files and the plan as a pull-request comment.
//!
//! Every test runs the real binary in a temporary copy of a repository (the sample repo at the
//! crate root, or a fresh `init`), never in the crate root itself, so a developer's local
//! `pushform.lock` cannot change the results. The environment is cleared of everything pushform
//! reads, and "now" is pinned where a plan depends on it.

mod init;
mod pr_comment;
mod schema;
mod workflows;

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

/// The instant the sample plans are made at: a Thursday afternoon in Shanghai, before every
/// sample campaign's `not_before` and `not_after`.
pub(crate) const NOW: &str = "2026-11-26T15:00:00+08:00";

/// The crate root, which is also the sample campaign repository.
pub(crate) fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `pushform` run in `dir`, with none of the caller's pushform or credential variables.
pub(crate) fn pushform(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_pushform"));
    cmd.current_dir(dir)
        .env_remove("PUSHFORM_NOW")
        .env_remove("PUSHFORM_ENDPOINT")
        .env_remove("RONGCLOUD_APP_KEY")
        .env_remove("RONGCLOUD_APP_SECRET")
        .env("NO_COLOR", "1");
    cmd
}

/// A private copy of the sample repository: its config, campaigns and templates, and an empty
/// state.
pub(crate) fn sample_copy() -> TempDir {
    let tmp = sample_copy_without_state();
    // An empty state, as `pushform state init` makes for every repository before its first apply.
    pushform(tmp.path())
        .args(["state", "init"])
        .assert()
        .success();
    tmp
}

/// The same without a state (no lockfile).
pub(crate) fn sample_copy_without_state() -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let root = crate_root();
    fs::copy(root.join("pushform.yaml"), tmp.path().join("pushform.yaml")).unwrap();
    copy_dir(&root.join("campaigns"), &tmp.path().join("campaigns"));
    copy_dir(&root.join("templates"), &tmp.path().join("templates"));
    tmp
}

/// A fresh `pushform init` in a temporary folder.
pub(crate) fn init_copy() -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    pushform(tmp.path()).arg("init").assert().success();
    tmp
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file below `dir` with its bytes, by path relative to `dir`, in path order.
pub(crate) fn snapshot_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                // `/` on every platform, as in the paths the tests compare with.
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((name, fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every `.yaml`/`.yml` file below `dir`, in path order.
pub(crate) fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = snapshot_tree(dir)
        .into_iter()
        .map(|(name, _)| dir.join(name))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    out.sort();
    out
}

/// A YAML file as JSON, the way editors and CI systems see it.
pub(crate) fn yaml_value(path: &Path) -> serde_json::Value {
    let text = fs::read_to_string(path).unwrap();
    serde_saphyr::from_str::<serde_json::Value>(&text)
        .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()))
}
