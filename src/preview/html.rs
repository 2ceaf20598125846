//! The few HTML helpers the preview needs: escaping and the page shell.
//!
//! Everything that comes from a campaign (titles, bodies, keys, locales, URLs) is untrusted: it
//! goes through [`esc`] whether it lands in text or in an attribute, so no campaign can add
//! markup, a script or a network reference to the page.

use std::fmt::Write as _;

/// The stylesheet every page links (`style.css` at the site root).
pub(crate) const STYLE: &str = include_str!("style.css");

/// Escapes `s` for HTML text and for double- or single-quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: `root` is the relative path to the site root ("" or "../").
pub(super) fn page(title: &str, root: &str, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"pushform preview\">\n\
         <title>{}</title>\n<link rel=\"stylesheet\" href=\"{root}style.css\">\n</head>\n<body>\n{body}</body>\n</html>\n",
        esc(title)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_both_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn the_stylesheet_loads_nothing_from_anywhere() {
        assert!(!STYLE.contains("url("), "no images or fonts to fetch");
        assert!(!STYLE.contains("@import"));
        assert!(STYLE.contains("\"Noto Sans CJK SC\""));
    }
}
