//! `pushform preview`: the static site. `site` runs the binary and checks what it wrote (files,
//! determinism, escaping, no network references, the sent/new columns of a changed unit);
//! `browser` opens the pages in a real headless Chromium and checks what it draws and cuts.

mod browser;
mod site;
mod workflows;

use std::fs;
use std::path::{Path, PathBuf};

/// The instant the sample is previewed at (as in the plan tests).
pub(crate) const NOW: &str = "2026-11-26T15:00:00+08:00";

/// Every file below `dir`, relative paths with `/`, in path order.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Every `src="…"`, `href="…"` and `url(…)` target in a page or stylesheet.
pub(crate) fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for opener in ["src=\"", "src='", "href=\"", "href='", "url("] {
        let lower = text.to_ascii_lowercase();
        for (at, _) in lower.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let end = rest.find(['"', '\'', ')']).unwrap_or(rest.len());
            out.push(rest[..end].trim().to_owned());
        }
    }
    out
}
