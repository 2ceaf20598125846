//! `l10n status`: how complete each locale is, computed from the files alone.
//!
//! For every campaign and every locale it renders in, each key of `t` its templates read is
//! looked up the way rendering looks it up (the campaign's `strings` of the locale, the
//! locale's catalog, then the same two for each locale of its fallback chain): found in the
//! locale itself, filled by a fallback (named), or missing (with every place looked in). Then
//! the catalog keys nothing reads, and the placeholders of the default locale a translation
//! lost (a warning: a translation may leave out `{{ n }}` on purpose, "one message").

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::campaign::Campaign;
use crate::l10n::{keys, placeholders, pseudo};
use crate::node::{Kind, Node};
use crate::project::{CATALOG_DIR, Project, TEMPLATES_DIR};

#[derive(Debug, Serialize)]
pub(crate) struct Status {
    /// `locales.default` of pushform.yaml.
    pub default_locale: Option<String>,
    pub locales: Vec<LocaleStatus>,
    /// Catalog keys no campaign or template reads.
    pub unused: Vec<Place>,
    /// Placeholders of the default locale's text missing from a translation.
    pub placeholders: Vec<PlaceholderLoss>,
}

impl Status {
    pub(crate) fn missing(&self) -> usize {
        self.locales.iter().map(|l| l.missing.len()).sum()
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct LocaleStatus {
    pub locale: String,
    /// (campaign, key) pairs read in this locale.
    pub used: usize,
    pub found: usize,
    pub fallback: Vec<Filled>,
    pub missing: Vec<Missing>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Filled {
    pub campaign: String,
    pub key: String,
    /// Where the text came from, e.g. `templates/locales/en.yaml`.
    pub from: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct Missing {
    pub campaign: String,
    pub key: String,
    /// Where the template reads it, e.g. `campaigns/a.yaml` `push.notification.title`.
    pub file: String,
    pub field: String,
    pub looked_in: Vec<String>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Place {
    pub file: String,
    pub line: u32,
    pub key: String,
}

#[derive(Debug, Serialize)]
pub(crate) struct PlaceholderLoss {
    pub file: String,
    pub line: u32,
    pub key: String,
    pub locale: String,
    /// Placeholders of the default locale's text not in this translation.
    pub missing: Vec<String>,
}

/// One place `t` looks in: where it is written, and its mapping.
struct Layer<'a> {
    name: String,
    node: Option<&'a Node>,
    locale: &'a str,
}

fn campaign_strings<'a>(campaign: &'a Campaign, locale: &str) -> Option<&'a Node> {
    campaign
        .locales
        .iter()
        .find(|l| l.name == locale)
        .and_then(|l| l.strings.as_ref())
        .filter(|s| s.as_map().is_some())
}

fn catalog_name(locale: &str) -> String {
    format!("{CATALOG_DIR}/{locale}.yaml")
}

/// The places `t` looks in for a campaign in a locale, in order (as rendering does).
fn layers<'a>(project: &'a Project, campaign: &'a Campaign, chain: &'a [String]) -> Vec<Layer<'a>> {
    let mut out = Vec::new();
    for l in chain {
        if let Some(s) = campaign_strings(campaign, l) {
            out.push(Layer {
                name: format!("{} locales.{l}.strings", campaign.file),
                node: Some(s),
                locale: l,
            });
        }
        out.push(Layer {
            name: if project.catalogs.contains_key(l) {
                catalog_name(l)
            } else {
                format!("{} (no such file)", catalog_name(l))
            },
            node: project.catalogs.get(l),
            locale: l,
        });
    }
    out
}

pub(crate) fn compute(project: &Project) -> Status {
    let default = project.config.locales.default.clone();
    let mut per_locale: BTreeMap<String, LocaleStatus> = BTreeMap::new();
    let mut used_anywhere: BTreeSet<String> = BTreeSet::new();
    let defaults_uses = {
        let mut out = Vec::new();
        if let Some(d) = &project.config.defaults.push {
            keys::uses_in_tree(d, "push", &mut out);
        }
        out
    };
    for campaign in &project.campaigns {
        let mut uses: Vec<(String, String)> = Vec::new();
        keys::uses_in_tree(&campaign.push, "push", &mut uses);
        for l in &campaign.locales {
            if let Some(a) = &l.audience {
                keys::uses_in_tree(a, &format!("locales.{}.audience", l.name), &mut uses);
            }
        }
        uses.extend(defaults_uses.iter().cloned());
        let mut seen = BTreeSet::new();
        uses.retain(|(k, _)| seen.insert(k.clone()));
        used_anywhere.extend(uses.iter().map(|(k, _)| k.clone()));
        let locales: Vec<String> = if campaign.locales.is_empty() {
            default.iter().cloned().collect()
        } else {
            campaign.locales.iter().map(|l| l.name.clone()).collect()
        };
        for locale in locales {
            if locale == pseudo::LOCALE {
                continue;
            }
            let chain = project.config.chain(&locale);
            let layers = layers(project, campaign, &chain);
            let status = per_locale
                .entry(locale.clone())
                .or_insert_with(|| LocaleStatus {
                    locale: locale.clone(),
                    used: 0,
                    found: 0,
                    fallback: Vec::new(),
                    missing: Vec::new(),
                });
            for (key, field) in &uses {
                status.used += 1;
                let hit = layers
                    .iter()
                    .find(|layer| layer.node.and_then(|n| keys::lookup(n, key)).is_some());
                match hit {
                    Some(layer) if layer.locale == locale => status.found += 1,
                    Some(layer) => status.fallback.push(Filled {
                        campaign: campaign.id.clone(),
                        key: key.clone(),
                        from: layer.name.clone(),
                    }),
                    None => status.missing.push(Missing {
                        campaign: campaign.id.clone(),
                        key: key.clone(),
                        file: campaign.file.to_string(),
                        field: field.clone(),
                        looked_in: layers.iter().map(|l| l.name.clone()).collect(),
                    }),
                }
            }
        }
    }
    // A catalog no campaign renders in is still a locale of the project.
    for l in project.catalogs.keys() {
        per_locale.entry(l.clone()).or_insert_with(|| LocaleStatus {
            locale: l.clone(),
            used: 0,
            found: 0,
            fallback: Vec::new(),
            missing: Vec::new(),
        });
    }
    used_anywhere.extend(template_uses(project));

    let mut unused = Vec::new();
    for (locale, catalog) in &project.catalogs {
        for (key, _) in keys::entries(catalog) {
            if !used_anywhere.iter().any(|u| keys::covers(u, &key)) {
                unused.push(Place {
                    file: catalog_name(locale),
                    line: keys::key_line(catalog, &key),
                    key,
                });
            }
        }
    }

    let placeholders = default
        .as_deref()
        .map(|d| placeholder_losses(project, d))
        .unwrap_or_default();

    let mut locales: Vec<LocaleStatus> = per_locale.into_values().collect();
    // The default locale first, then by name.
    locales.sort_by_key(|l| (Some(&l.locale) != default.as_ref(), l.locale.clone()));
    Status {
        default_locale: default,
        locales,
        unused,
        placeholders,
    }
}

/// Keys read by the shared templates (`templates/**`, not the catalogs): macros may be handed
/// `t`. They count as used, so a key only a macro reads is not reported unused.
fn template_uses(project: &Project) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![project.root.join(TEMPLATES_DIR)];
    let catalogs = project.root.join(CATALOG_DIR);
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path == catalogs {
                continue;
            }
            // Folders are walked without following links; files are read only through the
            // repository's jail, like every other read of repository content.
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                stack.push(path);
            } else if let Ok(text) = project.jail.read(&path) {
                out.extend(keys::uses(&text));
            }
        }
    }
    out
}

/// All the placeholders of an entry (every form of a plural entry).
fn entry_placeholders(node: &Node) -> BTreeSet<String> {
    match &node.kind {
        Kind::Str(s) => placeholders::names(s).into_iter().collect(),
        Kind::Map(entries) => entries
            .iter()
            .flat_map(|e| entry_placeholders(&e.value))
            .collect(),
        _ => BTreeSet::new(),
    }
}

fn losses(
    source: &Node,
    translation: &Node,
    file: &str,
    locale: &str,
    out: &mut Vec<PlaceholderLoss>,
) {
    for (key, node) in keys::entries(translation) {
        let Some(original) = keys::lookup(source, &key) else {
            continue;
        };
        let have = entry_placeholders(node);
        let missing: Vec<String> = entry_placeholders(original)
            .into_iter()
            .filter(|p| !have.contains(p))
            .collect();
        if !missing.is_empty() {
            out.push(PlaceholderLoss {
                file: file.to_owned(),
                line: keys::key_line(translation, &key),
                key,
                locale: locale.to_owned(),
                missing,
            });
        }
    }
}

fn placeholder_losses(project: &Project, default: &str) -> Vec<PlaceholderLoss> {
    let mut out = Vec::new();
    if let Some(source) = project.catalogs.get(default) {
        for (locale, catalog) in &project.catalogs {
            if locale != default {
                losses(source, catalog, &catalog_name(locale), locale, &mut out);
            }
        }
    }
    for campaign in &project.campaigns {
        let Some(source) = campaign_strings(campaign, default) else {
            continue;
        };
        for l in &campaign.locales {
            if l.name != default
                && let Some(strings) = campaign_strings(campaign, &l.name)
            {
                let file = campaign.file.to_string();
                losses(source, strings, &file, &l.name, &mut out);
            }
        }
    }
    out
}
