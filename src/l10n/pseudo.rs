//! The pseudo-locale `en-XA`: the default locale's text, accented, about 35% longer and
//! bracketed, with every placeholder untouched.
//!
//! It shows, before any translator is involved, the text a template hard-codes (it stays plain
//! ASCII), the layout that breaks when a translation is longer (German runs about a third longer
//! than English) and a string cut short (the closing bracket is missing). It exists only for
//! `render --locale en-XA` (and a preview): it is made from a fresh copy of the project, never
//! written anywhere, and `plan` and `apply` never see it; a campaign that declares it is an
//! error (see `validate::check_plurals`).

use anyhow::{Result, bail};

use crate::campaign::Locale;
use crate::l10n::placeholders;
use crate::node::{Entry, Kind, Node};
use crate::project::Project;

/// The pseudo-locale's tag (CLDR's private-use region for pseudo-accents).
pub(crate) const LOCALE: &str = "en-XA";

/// How much longer pseudo text is than its source, in percent.
const GROWTH_PERCENT: usize = 35;

fn accent(c: char) -> char {
    const FROM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const TO: &str = "àƀçđéƒĝĥîĵķļɱñöþǫŕšţûṽŵẋýžÀƁÇĐÉƑĜĤÎĴĶĻṀÑÖÞǪŔŠŢÛṼŴẊÝŽ";
    FROM.chars()
        .position(|f| f == c)
        .and_then(|i| TO.chars().nth(i))
        .unwrap_or(c)
}

/// One string in pseudo form: text outside `{{ … }}`, `{% … %}` and `{# … #}` accented, then
/// padded and bracketed: `Hello {{ name }}` → `[Ĥéļļö {{ name }} ·····]`. A final newline (a
/// YAML block scalar's) stays last.
pub(crate) fn text(source: &str) -> String {
    let (body, newline) = match source.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (source, ""),
    };
    let mut out = String::with_capacity(body.len() * 2);
    let mut visible = 0usize;
    for piece in placeholders::split(body) {
        match piece {
            placeholders::Piece::Text(t) => {
                visible += t.chars().count();
                out.extend(t.chars().map(accent));
            }
            placeholders::Piece::Code(code) => out.push_str(code),
        }
    }
    // The brackets count towards the growth; at least one pad so even "OK" grows.
    let pad = (visible * GROWTH_PERCENT)
        .div_ceil(100)
        .saturating_sub(2)
        .max(1);
    format!("[{out} {}]{newline}", "·".repeat(pad))
}

/// Every string of a tree in pseudo form, keeping its shape and where it was written.
pub(crate) fn tree(node: &Node) -> Node {
    let kind = match &node.kind {
        Kind::Str(s) => Kind::Str(text(s)),
        Kind::Seq(items) => Kind::Seq(items.iter().map(tree).collect()),
        Kind::Map(entries) => Kind::Map(
            entries
                .iter()
                .map(|e| Entry {
                    key: e.key.clone(),
                    key_line: e.key_line,
                    value: tree(&e.value),
                })
                .collect(),
        ),
        other => other.clone(),
    };
    Node {
        kind,
        origin: node.origin.clone(),
    }
}

/// Turns a freshly read project into its pseudo-locale form: one `en-XA` unit per campaign that
/// has text in the default locale, its strings (and the default locale's catalogs, fallbacks
/// included) in pseudo form, its audience that of the default locale. Campaigns without
/// `locales` render in `en-XA` too. A campaign that does not declare the default locale has no
/// source text and is left out.
pub(crate) fn apply(project: &mut Project) -> Result<()> {
    let Some(default) = project.config.locales.default.clone() else {
        bail!(
            "the pseudo-locale `{LOCALE}` is made from the default locale: set `locales.default` in pushform.yaml"
        );
    };
    let chain = project.config.chain(&default);
    let mut catalog = Node::empty_map();
    for l in chain.iter().rev() {
        if let Some(c) = project.catalogs.get(l) {
            catalog = Node::merge_over(&catalog, c);
        }
    }
    project.catalogs.clear();
    project.catalogs.insert(LOCALE.to_owned(), tree(&catalog));
    project.config.locales.default = Some(LOCALE.to_owned());
    project.config.locales.fallback.clear();
    project.campaigns.retain_mut(|campaign| {
        if campaign.locales.is_empty() {
            return true;
        }
        let Some(source) = campaign.locales.iter().find(|l| l.name == default) else {
            return false;
        };
        let mut strings = Node::empty_map();
        for l in chain.iter().rev() {
            if let Some(s) = campaign
                .locales
                .iter()
                .find(|x| &x.name == l)
                .and_then(|x| x.strings.as_ref())
                .filter(|s| s.as_map().is_some())
            {
                strings = Node::merge_over(&strings, s);
            }
        }
        let pseudo = Locale {
            name: LOCALE.to_owned(),
            audience: source.audience.clone(),
            strings: Some(tree(&strings)),
            window: source.window,
        };
        campaign.locales = vec![pseudo];
        true
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudo_text_is_accented_longer_bracketed_and_keeps_placeholders() {
        let source = "Hello {{ name }}, you have {{ n }} new messages";
        let pseudo = text(source);
        assert!(pseudo.starts_with("[Ĥéļļö {{ name }}, ýöû ĥàṽé {{ n }} ñéŵ ɱéššàĝéš "));
        assert!(pseudo.ends_with("·]"));
        let grown = pseudo.chars().count() as f64 / source.chars().count() as f64;
        assert!((1.25..=1.45).contains(&grown), "{grown}: {pseudo}");
        assert_eq!(
            placeholders::codes(&pseudo),
            placeholders::codes(source),
            "placeholders untouched"
        );
    }

    #[test]
    fn tags_and_final_newline_are_kept() {
        assert_eq!(
            text("{% if vip %}Hi{% endif %}\n"),
            "[{% if vip %}Ĥî{% endif %} ·]\n"
        );
    }
}
