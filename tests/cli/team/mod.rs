//! Issue #5, the team workflow end to end: `pushform init`, the campaign schema, the CI workflow
//! files and the plan as a pull-request comment.
//!
//! Every test runs the real binary in a temporary copy of a repository (the sample repo at the
//! crate root, or a fresh `init`), never in the crate root itself, so a developer's local
//! `pushform.lock` cannot change the results. Every run goes through the one harness
//! (`support::Pushform`, a clean environment), and "now" is pinned where a plan depends on it.

mod init;
mod pr_comment;
mod schema;
mod workflows;

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::support::{Pushform, copy_sample, files_below};

/// The instant the sample plans are made at: a Thursday afternoon in Shanghai, before every
/// sample campaign's `not_before` and `not_after`.
pub(crate) const NOW: &str = "2026-11-26T15:00:00+08:00";

/// A private copy of the sample repository: its config, campaigns and templates, and an empty
/// state.
pub(crate) fn sample_copy() -> TempDir {
    let tmp = sample_copy_without_state();
    // An empty state, as `pushform state init` makes for every repository before its first apply.
    Pushform::new(tmp.path())
        .args(&["state", "init"])
        .assert()
        .success();
    tmp
}

/// The same without a state (no lockfile).
pub(crate) fn sample_copy_without_state() -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_sample(tmp.path());
    tmp
}

/// A fresh `pushform init` in a temporary folder.
pub(crate) fn init_copy() -> TempDir {
    let tmp = tempfile::tempdir().unwrap();
    Pushform::new(tmp.path()).arg("init").assert().success();
    tmp
}

/// Every file below `dir` with its bytes, by path relative to `dir`, in path order.
pub(crate) fn snapshot_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = files_below(dir)
        .into_iter()
        .map(|path| {
            // `/` on every platform, as in the paths the tests compare with.
            let name = path.to_string_lossy().replace('\\', "/");
            (name, fs::read(dir.join(&path)).unwrap())
        })
        .collect();
    out.sort();
    out
}

/// Every `.yaml`/`.yml` file below `dir`, in path order.
pub(crate) fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = files_below(dir)
        .into_iter()
        .map(|path| dir.join(path))
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
