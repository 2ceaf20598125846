//! Locales of one campaign whose audiences overlap: a user in both would get two pushes.

use std::collections::{BTreeMap, BTreeSet};

use crate::body::Audience;
use crate::finding::Finding;
use crate::render::Unit;

/// Warns where two locales of one campaign could reach the same user: that user would get two pushes.
pub(crate) fn overlapping_audiences(units: &[Unit], findings: &mut Vec<Finding>) {
    // By file too: two files that reuse one id are an id error (reported by `check_project`),
    // not two locales of one campaign; and a locale is never compared with itself.
    let mut by_campaign: BTreeMap<(&str, &str), Vec<&Unit>> = BTreeMap::new();
    for unit in units.iter().filter(|u| u.locale.is_some()) {
        by_campaign
            .entry((&unit.campaign, &unit.file))
            .or_default()
            .push(unit);
    }
    for group in by_campaign.values() {
        for (i, a) in group.iter().enumerate() {
            for b in group[i + 1..].iter().filter(|b| b.locale != a.locale) {
                let (Some(x), Some(y)) = (a.audience.as_ref(), b.audience.as_ref()) else {
                    continue;
                };
                let reason = if x.is_to_all == Some(true) || y.is_to_all == Some(true) {
                    Some("one of them pushes to all users".to_owned())
                } else if targeting(x) == targeting(y) {
                    Some("their audiences are identical".to_owned())
                } else {
                    let ux: BTreeSet<&String> = x.userid.iter().flatten().collect();
                    let common = y.userid.iter().flatten().filter(|u| ux.contains(u)).count();
                    (common > 0).then(|| format!("{common} user ID(s) are in both"))
                };
                if let Some(reason) = reason {
                    let origin = b.audience_origin.clone();
                    findings.push(
                        Finding::warning(format!(
                            "locales `{}` and `{}` of campaign `{}` overlap ({reason}): a user in both gets two pushes",
                            a.locale.as_deref().unwrap_or_default(),
                            b.locale.as_deref().unwrap_or_default(),
                            a.campaign
                        ))
                        .at(&origin)
                        .field("push.audience")
                        .unit(b.key.clone()),
                    );
                }
            }
        }
    }
}

type Targeting<'a> = (
    Option<&'a Vec<String>>,
    Option<&'a Vec<String>>,
    Option<&'a Vec<String>>,
    Option<&'a String>,
);

fn targeting(a: &Audience) -> Targeting<'_> {
    (
        a.tag.as_ref(),
        a.tag_or.as_ref(),
        a.userid.as_ref(),
        a.package_name.as_ref(),
    )
}
