//! `pushform preview`: the static site. `site` runs the binary and checks what it wrote (files,
//! determinism, escaping, no network references, the sent/new columns of a changed unit);
//! `browser` opens the pages in a real headless Chromium and checks what it draws and cuts.

mod browser;
mod site;
mod workflows;

/// The instant the sample is previewed at (as in the plan tests).
pub(crate) const NOW: &str = "2026-11-26T15:00:00+08:00";

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
