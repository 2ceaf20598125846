//! `index.html`: the timeline, then every slot with its unit and reason, then the campaigns,
//! each linking to its page. Units are linked by an anchor made from their key.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::timeline::timeline;
use super::{Input, Planned, UnitInput, esc, html, local, page_name, symbol, when};
use crate::plan::{Action, PlannedUnit};

/// The id of a unit's column on its campaign page: the key itself (ids and locales hold no
/// spaces; any whitespace is replaced all the same).
pub(super) fn anchor(key: &str) -> String {
    let key: String = key
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    format!("u-{key}")
}

pub(super) fn index(
    input: &Input,
    by_key: &Planned,
    order: &[&str],
    campaigns: &BTreeMap<&str, Vec<&UnitInput>>,
) -> String {
    let plan = input.plan;
    let quota = input.quota;
    let mut out = String::new();
    let _ = writeln!(out, "<h1>pushform preview</h1>");
    let _ = writeln!(out, "<p><strong>{}</strong></p>", esc(&plan.summary_line()));
    let _ = writeln!(
        out,
        "<p class=\"meta\">Planned at {} · quota {} an hour, {} a day ({}) · {}</p>",
        local(plan.now, quota),
        quota.per_hour,
        quota.per_day,
        esc(quota.tz.name()),
        match &plan.lock {
            Some(l) => format!("lock serial {} (lineage {})", l.serial, esc(&l.lineage)),
            None => "no lockfile yet".to_owned(),
        }
    );
    timeline(input, &mut out);

    let blocked: Vec<&PlannedUnit> = plan
        .actions
        .iter()
        .filter(|a| {
            matches!(
                a.action,
                Action::Expired | Action::Changed | Action::Unresolved
            )
        })
        .collect();
    if !blocked.is_empty() {
        out.push_str("<h2>Not sent</h2>\n<ul class=\"slots\">\n");
        for a in blocked {
            let _ = writeln!(
                out,
                "<li>{}<a href=\"units/{}#{}\">{}</a> <span class=\"reason\">{}{}</span></li>",
                symbol(a.action),
                esc(&page_name(&a.campaign)),
                esc(&anchor(&a.key)),
                esc(&a.key),
                esc(&when(a, quota)),
                a.note
                    .as_deref()
                    .map(|n| format!(": {}", esc(n)))
                    .unwrap_or_default()
            );
        }
        out.push_str("</ul>\n");
    }

    out.push_str("<h2>Campaigns</h2>\n<ul class=\"campaigns\">\n");
    for campaign in order {
        let units = &campaigns[campaign];
        let _ = write!(
            out,
            "<li><a href=\"units/{}\">{}</a> <span class=\"meta\">{}</span> ",
            esc(&page_name(campaign)),
            esc(campaign),
            esc(units[0].file)
        );
        for u in units {
            let action = by_key.get(u.key).map_or(Action::UpToDate, |a| a.action);
            let _ = write!(
                out,
                "{}<span>{}</span> ",
                symbol(action),
                esc(u.locale.unwrap_or("(default)"))
            );
        }
        out.push_str("</li>\n");
    }
    out.push_str("</ul>\n");
    html::page("pushform preview", "", &out)
}
