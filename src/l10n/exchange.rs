//! The round trip with translators, independent of the file format: what `l10n export` puts in
//! a file (source = the default locale's text, target = the locale's current text), and how
//! `l10n import` checks what came back and turns it into `templates/locales/<L>.yaml`.
//!
//! Only the shared catalogs travel: a campaign's own `strings` are written in the campaign file
//! and translated there. Import refuses the whole file when a source text no longer matches the
//! current default text (it was translated against an old wording) or a placeholder came back
//! changed: a push cannot be recalled, so a half-checked translation must not reach one.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::{Result, bail};

use crate::l10n::{keys, placeholders, plural};
use crate::node::{Kind, Node};
use crate::project::{CATALOG_DIR, Project};
use crate::validate::MAX_TITLE_CHARS;

/// What one locale's export holds.
#[derive(Debug)]
pub(crate) struct Export {
    pub source_locale: String,
    pub target_locale: String,
    /// The default locale's catalog, relative to the project root.
    pub original: String,
    pub units: Vec<Unit>,
}

/// One key of the catalog.
#[derive(Debug)]
pub(crate) struct Unit {
    pub key: String,
    /// The provider's length limit of the field this key is shown in (a notification title).
    pub maxwidth: Option<usize>,
    pub text: Text,
}

#[derive(Debug)]
pub(crate) enum Text {
    Single {
        source: String,
        target: Option<String>,
    },
    /// One form per CLDR category of the target locale, in CLDR order. The source of a form
    /// the source language lacks is its `other` (English has no `few`).
    Plural {
        /// The source language's singular (`one`, else `other`) and `other`: a PO entry's
        /// `msgid` and `msgid_plural`.
        singular: String,
        other: String,
        forms: Vec<Form>,
    },
}

#[derive(Debug)]
pub(crate) struct Form {
    pub category: &'static str,
    pub source: String,
    pub target: Option<String>,
}

fn text_of(node: &Node) -> Option<String> {
    match &node.kind {
        Kind::Str(s) => Some(s.clone()),
        _ => None,
    }
}

/// Keys of `t` shown in a notification title, by any campaign or the defaults.
fn title_keys(project: &Project) -> Vec<String> {
    let mut uses = Vec::new();
    if let Some(d) = &project.config.defaults.push {
        keys::uses_in_tree(d, "push", &mut uses);
    }
    for c in &project.campaigns {
        keys::uses_in_tree(&c.push, "push", &mut uses);
    }
    uses.into_iter()
        .filter(|(_, field)| field == "push.notification.title")
        .map(|(k, _)| k)
        .collect()
}

pub(crate) fn default_locale(project: &Project) -> Result<String> {
    match &project.config.locales.default {
        Some(d) => Ok(d.clone()),
        None => bail!(
            "the source text of a translation is the default locale's: set `locales.default` in pushform.yaml"
        ),
    }
}

/// The export of `locale`: every string and plural entry of the default locale's catalog.
pub(crate) fn export(project: &Project, locale: &str) -> Result<Export> {
    let default = default_locale(project)?;
    if locale == default {
        bail!(
            "`{locale}` is the default locale, the source of every translation: export another locale"
        );
    }
    let Some(source) = project.catalogs.get(&default) else {
        bail!(
            "nothing to translate: {CATALOG_DIR}/{default}.yaml (the default locale's catalog) does not exist"
        );
    };
    let target = project.catalogs.get(locale);
    let titles = title_keys(project);
    let categories = plural::categories(locale);
    let mut units = Vec::new();
    for (key, node) in keys::entries(source) {
        let current = target.and_then(|t| keys::lookup(t, &key));
        let text = if plural::is_plural(node) {
            let other = node.get("other").and_then(text_of).unwrap_or_default();
            let singular = node
                .get("one")
                .and_then(text_of)
                .unwrap_or_else(|| other.clone());
            let forms = categories
                .iter()
                .map(|&category| Form {
                    category,
                    source: node
                        .get(category)
                        .and_then(text_of)
                        .unwrap_or_else(|| other.clone()),
                    target: current
                        .filter(|c| plural::is_plural(c))
                        .and_then(|c| c.get(category))
                        .and_then(text_of),
                })
                .collect();
            Text::Plural {
                singular,
                other,
                forms,
            }
        } else {
            Text::Single {
                source: text_of(node).unwrap_or_default(),
                target: current.and_then(text_of),
            }
        };
        units.push(Unit {
            maxwidth: titles.iter().any(|t| t == &key).then_some(MAX_TITLE_CHARS),
            key,
            text,
        });
    }
    Ok(Export {
        source_locale: default,
        target_locale: locale.to_owned(),
        original: format!(
            "{CATALOG_DIR}/{}.yaml",
            project
                .config
                .locales
                .default
                .as_deref()
                .unwrap_or_default()
        ),
        units,
    })
}

/// One translation read back from a file.
#[derive(Debug, PartialEq)]
pub(crate) struct Translated {
    pub key: String,
    /// The CLDR category, for a form of a plural entry.
    pub form: Option<String>,
    /// The source text(s) the file says it translated: one, or (PO plurals) `msgid` and
    /// `msgid_plural`.
    pub source: Vec<String>,
    pub target: String,
}

/// A file read back: its target locale and translations (empty targets already left out).
#[derive(Debug)]
pub(crate) struct Imported {
    pub locale: String,
    pub entries: Vec<Translated>,
}

/// The source texts the current default locale gives to an imported entry, in the shape the
/// file carries them.
fn expected(export: &Export, entry: &Translated) -> Option<Vec<String>> {
    let unit = export.units.iter().find(|u| u.key == entry.key)?;
    match (&unit.text, &entry.form) {
        (Text::Single { source, .. }, None) => Some(vec![source.clone()]),
        (
            Text::Plural {
                singular,
                other,
                forms,
            },
            Some(form),
        ) => {
            if entry.source.len() == 2 {
                Some(vec![singular.clone(), other.clone()])
            } else {
                forms
                    .iter()
                    .find(|f| f.category == form)
                    .map(|f| vec![f.source.clone()])
            }
        }
        _ => None,
    }
}

/// Checks an imported file against the current default locale, and returns the catalog text to
/// write plus warnings (placeholders a translation left out).
pub(crate) fn import(project: &Project, imported: &Imported) -> Result<(String, Vec<String>)> {
    let export = export(project, &imported.locale)?;
    let mut stale = Vec::new();
    let mut damaged = Vec::new();
    let mut warnings = Vec::new();
    for entry in &imported.entries {
        let name = match &entry.form {
            Some(f) => format!("`{}` ({f})", entry.key),
            None => format!("`{}`", entry.key),
        };
        if let Some(problem) = entry.source.iter().find_map(|s| placeholders::damage(s)) {
            damaged.push(format!("{name} (source): {problem}"));
            continue;
        }
        match expected(&export, entry) {
            Some(texts) if texts == entry.source => {}
            Some(_) => {
                stale.push(name);
                continue;
            }
            None => {
                stale.push(format!("{name} (no longer in the default locale)"));
                continue;
            }
        }
        let allowed: Vec<&str> = entry
            .source
            .iter()
            .flat_map(|s| placeholders::codes(s))
            .collect();
        if let Some(problem) = placeholders::damage(&entry.target) {
            damaged.push(format!("{name}: {problem}"));
        }
        for code in placeholders::codes(&entry.target) {
            if !allowed.contains(&code) {
                damaged.push(format!(
                    "{name}: `{code}` is not a placeholder of the source"
                ));
            }
        }
        let have = placeholders::names(&entry.target);
        let lost: Vec<String> = entry
            .source
            .iter()
            .flat_map(|s| placeholders::names(s))
            .filter(|p| !have.contains(p))
            .collect();
        if !lost.is_empty() && entry.form.is_none() {
            warnings.push(format!("{name} leaves out {}", lost.join(", ")));
        }
    }
    if !stale.is_empty() {
        bail!(
            "refused: the source text of {} no longer matches {} (translated against an old text): export again and translate the changes",
            stale.join(", "),
            export.original
        );
    }
    if !damaged.is_empty() {
        bail!("refused: placeholders damaged in {}", damaged.join("; "));
    }
    let mut tree = Tree::new();
    if let Some(existing) = project.catalogs.get(&imported.locale) {
        tree = Tree::from_node(existing);
    }
    for entry in &imported.entries {
        let mut parts: Vec<&str> = entry.key.split('.').collect();
        if let Some(form) = &entry.form {
            parts.push(form);
        }
        tree.set(&parts, Item::Str(entry.target.clone()));
    }
    let mut out = format!(
        "# Strings for {}, written by `pushform l10n import` (sorted keys, quoted strings).\n",
        imported.locale
    );
    tree.write(0, &mut out);
    Ok((out, warnings))
}

/// A catalog as written back: keys sorted (plural forms in CLDR order), strings double-quoted,
/// so the same content always gives the same bytes and a re-import diffs by line.
#[derive(Debug, Default)]
pub(crate) struct Tree(BTreeMap<String, Item>);

#[derive(Debug)]
pub(crate) enum Item {
    Str(String),
    /// A number or boolean, written as it was.
    Raw(String),
    Map(Tree),
}

impl Tree {
    pub(crate) fn new() -> Tree {
        Tree::default()
    }

    pub(crate) fn from_node(node: &Node) -> Tree {
        let mut tree = Tree::new();
        for e in node.as_map().unwrap_or_default() {
            let item = match &e.value.kind {
                Kind::Str(s) => Item::Str(s.clone()),
                Kind::Map(_) => Item::Map(Tree::from_node(&e.value)),
                Kind::Null => continue,
                _ => Item::Raw(e.value.to_json().to_string()),
            };
            tree.0.insert(e.key.clone(), item);
        }
        tree
    }

    fn set(&mut self, path: &[&str], item: Item) {
        match path {
            [] => {}
            [last] => {
                self.0.insert((*last).to_owned(), item);
            }
            [first, rest @ ..] => {
                let slot = self
                    .0
                    .entry((*first).to_owned())
                    .or_insert_with(|| Item::Map(Tree::new()));
                if !matches!(slot, Item::Map(_)) {
                    *slot = Item::Map(Tree::new());
                }
                if let Item::Map(t) = slot {
                    t.set(rest, item);
                }
            }
        }
    }

    fn write(&self, indent: usize, out: &mut String) {
        let mut keys: Vec<&String> = self.0.keys().collect();
        if !keys.is_empty()
            && keys
                .iter()
                .all(|k| plural::CATEGORIES.contains(&k.as_str()))
        {
            keys.sort_by_key(|k| plural::CATEGORIES.iter().position(|c| c == k));
        }
        for key in keys {
            let pad = " ".repeat(indent);
            let k = yaml_key(key);
            match &self.0[key] {
                Item::Str(s) => {
                    let _ = writeln!(out, "{pad}{k}: {}", quoted(s));
                }
                Item::Raw(r) => {
                    let _ = writeln!(out, "{pad}{k}: {r}");
                }
                Item::Map(t) => {
                    let _ = writeln!(out, "{pad}{k}:");
                    t.write(indent + 2, out);
                }
            }
        }
    }
}

/// A YAML double-quoted scalar: JSON's escapes are YAML's, and non-ASCII stays readable.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn yaml_key(key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        && !matches!(
            key.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        );
    if plain { key.to_owned() } else { quoted(key) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::from_yaml;

    #[test]
    fn catalogs_are_written_sorted_and_quoted() {
        let node: Node = from_yaml(
            "zeta: \"z\"\nalpha: \"say \\\"hi\\\"\\n\"\ninbox:\n  unread: {other: o, one: x, few: f}\nyes: 1\n",
        )
        .unwrap();
        let mut out = String::new();
        Tree::from_node(&node).write(0, &mut out);
        assert_eq!(
            out,
            "alpha: \"say \\\"hi\\\"\\n\"\ninbox:\n  unread:\n    one: \"x\"\n    few: \"f\"\n    other: \"o\"\n\"yes\": 1\nzeta: \"z\"\n"
        );
        let back: Node = from_yaml(&out).unwrap();
        assert_eq!(
            back.get("alpha").and_then(text_of).as_deref(),
            Some("say \"hi\"\n")
        );
    }
}
