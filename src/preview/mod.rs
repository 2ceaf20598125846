//! `pushform preview`: the plan and every notification as the phones will show them, as a
//! static site a reviewer opens from a CI artifact.
//!
//! Reviewers approve pushes from a table cell and a JSON body; marketing people would rather
//! look. The site is built for that, and for safety: HTML and CSS only (no script), nothing
//! loaded from the network (fonts come from the system, images are placeholders that name their
//! URL), every campaign string escaped, and the same plan always gives the same bytes.
//!
//! - `index.html`: the plan as a timeline, a row per day and 24 hours wide, with every slot,
//!   the sends already recorded, the 60-minute quota window each send occupies and the count
//!   against the day's quota; then every slot with its unit and reason; then the campaigns.
//!   Bands are drawn from a list of kinds, so send windows, once the plan carries them, are one
//!   more kind (`.band.send-window` is styled already).
//! - `units/<campaign>.html`: a row per platform view (iOS lock screen and banner, Android shade
//!   collapsed and expanded, HarmonyOS), a column per locale, built from the fields that win on
//!   each platform ([`phone`]) and clamped as it clamps ([`text`]); `changed` units show the body
//!   that was sent beside the new one.
//!
//! Building the site is pure ([`site`] returns the pages); writing it is the command's job.

mod campaign;
mod html;
mod index;
pub(crate) mod phone;
pub(crate) mod text;
mod timeline;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::body::PushBody;
use crate::plan::{Action, Plan, PlannedUnit};
use crate::quota::Quota;
use crate::report;

use campaign::campaign_page;
pub(crate) use html::{STYLE, esc};
use index::index;

/// One unit to show, in render order.
#[derive(Clone, Debug)]
pub(crate) struct UnitInput<'a> {
    pub key: &'a str,
    pub campaign: &'a str,
    pub locale: Option<&'a str>,
    pub file: &'a str,
    pub body: &'a PushBody,
    /// For a `changed` unit: the body that was sent.
    pub sent: Option<PushBody>,
}

/// A send already recorded in the lock (any status counts against the quota).
#[derive(Clone, Debug)]
pub(crate) struct Past {
    pub key: String,
    pub at: DateTime<Utc>,
    pub status: String,
}

/// What the site is built from.
pub(crate) struct Input<'a> {
    pub plan: &'a Plan,
    pub quota: &'a Quota,
    /// The units to give a page, in render order.
    pub units: Vec<UnitInput<'a>>,
    /// The lock's records, for the quota windows of the timeline.
    pub history: Vec<Past>,
}

/// One file of the site: its path relative to the site root, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    pub path: String,
    pub text: String,
}

/// Builds the site: `style.css`, `index.html` and one page per campaign.
pub(crate) fn site(input: &Input) -> Vec<Page> {
    let mut campaigns: BTreeMap<&str, Vec<&UnitInput>> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for u in &input.units {
        if !campaigns.contains_key(u.campaign) {
            order.push(u.campaign);
        }
        campaigns.entry(u.campaign).or_default().push(u);
    }
    // One lookup per unit, not a scan of the plan: a repository may have thousands.
    let by_key: Planned = input
        .plan
        .actions
        .iter()
        .map(|a| (a.key.as_str(), a))
        .collect();
    let mut pages = vec![
        Page {
            path: "style.css".to_owned(),
            text: STYLE.to_owned(),
        },
        Page {
            path: "index.html".to_owned(),
            text: index(input, &by_key, &order, &campaigns),
        },
    ];
    for campaign in order {
        pages.push(Page {
            path: format!("units/{}", page_name(campaign)),
            text: campaign_page(input, &by_key, campaign, &campaigns[campaign]),
        });
    }
    pages
}

/// A file name for a campaign id. Ids are `[a-z0-9][a-z0-9._-]*`; anything else (a gone key
/// from an old lock) is spelled out so no name can climb out of `units/`.
pub(crate) fn page_name(campaign: &str) -> String {
    let mut out = String::new();
    for c in campaign.chars() {
        let plain = c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
        // A dot, but never a leading one: no `..`, no hidden file.
        if plain || (c == '.' && !out.is_empty()) {
            out.push(c);
        } else {
            let _ = write!(out, "~{:x}", u32::from(c));
        }
    }
    format!("{out}.html")
}

fn local(t: DateTime<Utc>, quota: &Quota) -> String {
    t.with_timezone(&quota.tz)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string()
}

/// The machine name of an action (`send`, `up_to_date`, …), as in the JSON plan; also the
/// CSS class of its symbol. Taken from serde so that actions added later need no change here.
fn action_name(action: Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn symbol(action: Action) -> String {
    let s = match action {
        Action::UpToDate => "=",
        other => other.symbol(),
    };
    format!(
        "<span class=\"sym {}\" title=\"{}\">{}</span>",
        action_name(action),
        action_name(action),
        esc(s)
    )
}

/// "send now", "2026-11-27 00:00 +08:00 (day quota: …)", "expired: will not be sent".
fn when(a: &PlannedUnit, quota: &Quota) -> String {
    match (a.action, a.scheduled_at) {
        (Action::Send, _) => "send now".to_owned(),
        (Action::Scheduled, Some(at)) => match a.reason {
            Some(r) => format!("{} ({})", local(at, quota), report::reason_text(r, quota)),
            None => local(at, quota),
        },
        (Action::Expired, _) => "expired: will not be sent".to_owned(),
        (Action::Changed, _) => "changed after sending: apply is blocked".to_owned(),
        (Action::Gone, _) => "gone from the files".to_owned(),
        (Action::UpToDate, _) => "up to date".to_owned(),
        (other, _) if other.is_error() => {
            format!("{}: apply is blocked", action_name(other).replace('_', " "))
        }
        (other, _) => action_name(other).replace('_', " "),
    }
}

/// What the plan says about a unit's scheduling beyond its slot, read from its JSON form so
/// that fields a newer scheduler adds (`priority`, `send_window`) show up without a change
/// here: "priority high · send window 09:00–21:00 Asia/Shanghai".
fn scheduling_facts(a: &PlannedUnit) -> Option<String> {
    facts_of(&serde_json::to_value(a).ok()?)
}

fn facts_of(value: &serde_json::Value) -> Option<String> {
    let mut facts = Vec::new();
    if let Some(p) = value.get("priority").and_then(|v| v.as_str())
        && p != "normal"
    {
        facts.push(format!("priority {p}"));
    }
    if let Some(w) = value.get("send_window").and_then(|v| v.as_str()) {
        facts.push(format!("send window {w}"));
    }
    (!facts.is_empty()).then(|| facts.join(" · "))
}

/// The plan's units by key.
type Planned<'p> = HashMap<&'p str, &'p PlannedUnit>;
