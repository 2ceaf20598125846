//! The rules across campaigns and of the config: ids, times, locale names, plural forms of
//! catalogs. They read the parsed project, not the rendered units.

use std::collections::{BTreeMap, BTreeSet};

use crate::finding::Finding;
use crate::node::{Node, Origin};
use crate::project::Project;

/// The id rule: lowercase, stable, usable in file names and keys.
pub(crate) fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// The rules across campaigns (ids, times, locale names) and of the config.
pub(crate) fn check_project(project: &Project) -> Vec<Finding> {
    let mut findings = Vec::new();
    let config = &project.config;
    findings.extend(config.schedule.findings());

    if config.quota.timezone.parse::<chrono_tz::Tz>().is_err() {
        findings.push(
            Finding::error(format!(
                "`{}` is not an IANA time zone (e.g. Asia/Shanghai)",
                config.quota.timezone
            ))
            .in_file(crate::config::FILE_NAME)
            .field("quota.timezone"),
        );
    }
    if crate::client::data_center_endpoints(&config.api.data_center).is_none() {
        findings.push(
            Finding::error(format!(
                "`{}` is not a data center: use cn, sg, sg-b, na or sa",
                config.api.data_center
            ))
            .in_file(crate::config::FILE_NAME)
            .field("api.data_center"),
        );
    }
    let max_timeout = crate::client::MAX_TIMEOUT.as_secs();
    if config.api.timeout_secs == 0 || config.api.timeout_secs > max_timeout {
        findings.push(
            Finding::error(format!(
                "must be between 1 and {max_timeout} seconds, not {}",
                config.api.timeout_secs
            ))
            .in_file(crate::config::FILE_NAME)
            .field("api.timeout_secs"),
        );
    }
    for (from, _) in &config.locales.fallback {
        let chain = config.chain(from);
        let last = chain.last().map(String::as_str).unwrap_or_default();
        if config
            .locales
            .fallback
            .get(last)
            .is_some_and(|next| chain.contains(next))
        {
            findings.push(
                Finding::error(format!(
                    "the fallback chain of `{from}` loops: {} → {from}",
                    chain.join(" → ")
                ))
                .in_file(crate::config::FILE_NAME)
                .field(format!("locales.fallback.{from}")),
            );
        }
    }

    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for campaign in &project.campaigns {
        if !valid_id(&campaign.id) {
            findings.push(
                Finding::error(format!(
                    "`{}` is not a valid id: use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit",
                    campaign.id
                ))
                .at(&campaign.id_origin)
                .field("id"),
            );
        }
        if let Some(first) = seen.insert(&campaign.id, &campaign.file) {
            findings.push(
                Finding::error(format!(
                    "id `{}` is already used by {first}; ids must be unique",
                    campaign.id
                ))
                .at(&campaign.id_origin)
                .field("id"),
            );
            seen.insert(&campaign.id, first);
        }
        if let (Some(before), Some(after)) = (campaign.not_before, campaign.not_after)
            && after <= before
        {
            findings.push(
                Finding::error(format!("must be later than not_before ({before})"))
                    .at(&campaign.not_after_origin)
                    .field("not_after"),
            );
        }
        let mut names = BTreeSet::new();
        for locale in &campaign.locales {
            if locale.name.trim().is_empty() || locale.name.contains(['/', ' ']) {
                findings.push(
                    Finding::error(format!(
                        "`{}` is not a locale name (e.g. en, zh-CN)",
                        locale.name
                    ))
                    .in_file(campaign.file.to_string())
                    .field("locales"),
                );
            }
            names.insert(locale.name.as_str());
        }
    }

    findings.extend(check_plurals(project));
    findings
}

/// How the finding about a campaign declaring the pseudo-locale starts: `render --locale en-XA`
/// declares it itself (in its own copy of the project) and drops exactly these findings.
pub(crate) const PSEUDO_DECLARED: &str = "`en-XA` is the pseudo-locale,";

/// Plural entries (a string of `t` written as CLDR forms) must have every form their locale
/// uses, `other` always: Russian needs `one few many other`, Japanese only `other`. A catalog's
/// entries are checked against the catalog's locale, a campaign's `strings` against the locale
/// they are written under. The pseudo-locale is derived, never declared.
pub(crate) fn check_plurals(project: &Project) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (locale, catalog) in &project.catalogs {
        plural_forms(locale, catalog, "t", &mut findings);
    }
    for campaign in &project.campaigns {
        for locale in &campaign.locales {
            if locale.name == crate::l10n::pseudo::LOCALE {
                findings.push(
                    Finding::error(format!(
                        "{PSEUDO_DECLARED} derived from the default locale for `render --locale {}` only; it is never planned or sent, so a campaign cannot declare it",
                        locale.name
                    ))
                    .in_file(campaign.file.to_string())
                    .field(format!("locales.{}", locale.name)),
                );
            }
            if let Some(strings) = &locale.strings {
                let field = format!("locales.{}.strings", locale.name);
                plural_forms(&locale.name, strings, &field, &mut findings);
            }
        }
    }
    findings
}

fn plural_forms(locale: &str, node: &Node, path: &str, findings: &mut Vec<Finding>) {
    use crate::l10n::plural;
    let Some(entries) = node.as_map() else {
        return;
    };
    for entry in entries {
        let field = format!("{path}.{}", entry.key);
        if plural::is_plural(&entry.value) {
            let missing = plural::missing(locale, &entry.value);
            if !missing.is_empty() {
                let quoted: Vec<String> = missing.iter().map(|c| format!("`{c}`")).collect();
                findings.push(
                    Finding::error(format!(
                        "plural forms for `{locale}` lack {}: `{locale}` needs {}",
                        quoted.join(", "),
                        plural::categories(locale).join(", ")
                    ))
                    .at(&Origin {
                        file: entry.value.origin.file.clone(),
                        line: entry.key_line,
                    })
                    .field(field),
                );
            }
        } else {
            plural_forms(locale, &entry.value, &field, findings);
        }
    }
}
