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

mod html;
pub(crate) mod phone;
pub(crate) mod text;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use crate::body::PushBody;
use crate::plan::{Action, Plan, PlannedUnit};
use crate::quota::Quota;
use crate::report;

pub(crate) use html::{STYLE, esc};
use phone::View;

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

/// Something on the timeline: a planned slot or a recorded send.
struct Event<'a> {
    at: DateTime<Utc>,
    key: &'a str,
    campaign: Option<&'a str>,
    /// `send`, `scheduled` or `past`.
    kind: String,
    what: String,
}

/// Hundredths of a percent of the day for a local time: deterministic positions.
fn position(t: DateTime<Utc>, quota: &Quota) -> u32 {
    let local = t.with_timezone(&quota.tz);
    let minutes = local.hour() * 60 + local.minute();
    minutes * 10_000 / 1440
}

fn pct(hundredths: u32) -> String {
    format!("{}.{:02}%", hundredths / 100, hundredths % 100)
}

fn timeline(input: &Input, out: &mut String) {
    let quota = input.quota;
    let plan = input.plan;
    let today = plan.now.with_timezone(&quota.tz).date_naive();
    let mut events: Vec<Event> = Vec::new();
    for a in &plan.actions {
        if let (Action::Send | Action::Scheduled, Some(at)) = (a.action, a.scheduled_at) {
            events.push(Event {
                at,
                key: &a.key,
                campaign: Some(&a.campaign),
                kind: action_name(a.action),
                what: {
                    let why = match a.reason {
                        Some(r) => report::reason_text(r, quota),
                        None => when(a, quota),
                    };
                    match scheduling_facts(a) {
                        Some(facts) => format!("{why} · {facts}"),
                        None => why,
                    }
                },
            });
        }
    }
    for p in &input.history {
        // Recorded sends of today, and of the last hour (whose window reaches into today).
        let day = p.at.with_timezone(&quota.tz).date_naive();
        if day >= today || p.at > plan.now - chrono::TimeDelta::hours(1) {
            events.push(Event {
                at: p.at,
                key: &p.key,
                campaign: None,
                kind: "past".to_owned(),
                what: format!("recorded: {}", p.status),
            });
        }
    }
    events.sort_by(|a, b| (a.at, a.key).cmp(&(b.at, b.key)));
    let mut days: BTreeSet<NaiveDate> = events
        .iter()
        .map(|e| e.at.with_timezone(&quota.tz).date_naive())
        .collect();
    days.insert(today);
    out.push_str("<h2>Timeline</h2>\n");
    let _ = writeln!(
        out,
        "<p class=\"meta\">Times in {}. Each send holds one of the {} sends of any 60 minutes \
         (shaded: the hour before it) and one of the {} sends of its natural day.</p>",
        esc(quota.tz.name()),
        quota.per_hour,
        quota.per_day
    );
    for day in days {
        let on_day: Vec<&Event> = events
            .iter()
            .filter(|e| e.at.with_timezone(&quota.tz).date_naive() == day)
            .collect();
        let _ = writeln!(
            out,
            "<section class=\"day\" id=\"day-{}\">\n<h3>{}<span>{} of {} sends of the day</span></h3>",
            day.format("%Y-%m-%d"),
            day.format("%a %-d %b %Y"),
            on_day.len(),
            quota.per_day
        );
        out.push_str("<div class=\"bar\">");
        for hour in (0..=24).step_by(3) {
            let _ = write!(
                out,
                "<span class=\"tick\" style=\"left:{}\">{hour:02}:00</span>",
                pct(hour * 10_000 / 24)
            );
        }
        // The quota window each send occupies: (t − 60 min, t], cut at midnight.
        for e in &on_day {
            let end = position(e.at, quota);
            let start = end.saturating_sub(10_000 / 24);
            let _ = write!(
                out,
                "<span class=\"band hour-window\" style=\"left:{};width:{}\"></span>",
                pct(start),
                pct(end - start)
            );
        }
        for e in &on_day {
            let _ = write!(
                out,
                "<span class=\"mark {}\" style=\"left:{}\" title=\"{}\"></span>",
                e.kind,
                pct(position(e.at, quota)),
                esc(e.key)
            );
        }
        out.push_str("</div>\n<ol class=\"slots\">\n");
        for e in &on_day {
            let time = e.at.with_timezone(&quota.tz).format("%H:%M:%S");
            let key = match e.campaign {
                Some(c) => format!(
                    "<a href=\"units/{}#{}\">{}</a>",
                    esc(&page_name(c)),
                    esc(&anchor(e.key)),
                    esc(e.key)
                ),
                None => format!("<span>{}</span>", esc(e.key)),
            };
            let sym = match e.kind.as_str() {
                "send" => symbol(Action::Send),
                "scheduled" => symbol(Action::Scheduled),
                _ => "<span class=\"sym past\" title=\"recorded\">✓</span>".to_owned(),
            };
            let _ = writeln!(
                out,
                "<li><time>{time}</time>{sym}{key} <span class=\"reason\">{}</span></li>",
                esc(&e.what)
            );
        }
        out.push_str("</ol>\n</section>\n");
    }
}

/// The id of a unit's column on its campaign page: the key itself (ids and locales hold no
/// spaces; any whitespace is replaced all the same).
fn anchor(key: &str) -> String {
    let key: String = key
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    format!("u-{key}")
}

fn index(
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

/// The plan's units by key.
type Planned<'p> = HashMap<&'p str, &'p PlannedUnit>;

/// One column of a campaign page: a unit's body, or the body that was sent.
struct Column<'a> {
    unit: &'a UnitInput<'a>,
    body: &'a PushBody,
    label: String,
    views: Vec<View>,
}

fn campaign_page(input: &Input, by_key: &Planned, campaign: &str, units: &[&UnitInput]) -> String {
    let quota = input.quota;
    let mut columns: Vec<Column> = Vec::new();
    for u in units {
        let locale = u.locale.unwrap_or("default locale");
        if let Some(sent) = &u.sent {
            columns.push(Column {
                unit: u,
                body: sent,
                label: format!("{locale}: as sent"),
                views: phone::views(sent),
            });
            columns.push(Column {
                unit: u,
                body: u.body,
                label: format!("{locale}: new"),
                views: phone::views(u.body),
            });
        } else {
            columns.push(Column {
                unit: u,
                body: u.body,
                label: locale.to_owned(),
                views: phone::views(u.body),
            });
        }
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<p><a href=\"../index.html\">← plan</a></p>\n<h1>{}</h1>\n<p class=\"meta\">{}</p>",
        esc(campaign),
        esc(units[0].file)
    );
    let _ = writeln!(
        out,
        "<div class=\"grid\" style=\"grid-template-columns: repeat({}, var(--card))\">",
        columns.len()
    );
    for c in &columns {
        let a = by_key.get(c.unit.key).copied();
        let _ = write!(
            out,
            "<div class=\"colhead\" id=\"{}\">{}{}",
            esc(&anchor(c.unit.key)),
            a.map_or_else(|| symbol(Action::UpToDate), |a| symbol(a.action)),
            esc(&c.label)
        );
        let _ = write!(
            out,
            "<div class=\"meta\">{}</div><div class=\"meta\">to {}</div>",
            esc(&a.map_or_else(|| "up to date".to_owned(), |a| when(a, quota))),
            esc(&audience(c.body))
        );
        if let Some(facts) = a.and_then(scheduling_facts) {
            let _ = write!(out, "<div class=\"meta\">{}</div>", esc(&facts));
        }
        if c.unit.sent.is_some() {
            out.push_str("<div class=\"changed-note\">edited after sending</div>");
        }
        out.push_str("</div>\n");
    }
    // Rows: one per view of any column; a column whose body does not target that platform
    // shows why the cell is empty.
    for spec in &phone::VIEWS {
        if !columns
            .iter()
            .any(|c| c.views.iter().any(|v| v.spec.class == spec.class))
        {
            continue;
        }
        let _ = writeln!(
            out,
            "<div class=\"rowhead\">{} · {}</div>",
            spec.platform.name(),
            spec.name
        );
        for c in &columns {
            match c.views.iter().find(|v| v.spec.class == spec.class) {
                Some(v) => card(&mut out, v, c),
                None => {
                    let _ = writeln!(
                        out,
                        "<div class=\"empty\">not sent to {}</div>",
                        spec.platform.name()
                    );
                }
            }
        }
    }
    out.push_str("</div>\n<h2>Bodies</h2>\n");
    for c in &columns {
        let json = serde_json::to_string_pretty(c.body).unwrap_or_default();
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> {}</summary>\n<pre>{}</pre>\n</details>",
            esc(c.unit.key),
            esc(&c.label),
            esc(&json)
        );
    }
    html::page(&format!("{campaign} · pushform preview"), "../", &out)
}

fn audience(body: &PushBody) -> String {
    let value = serde_json::to_value(body).ok();
    report::audience_text(value.as_ref())
}

/// One notification card; the text boxes carry the platform's clamp, and a cut text its mark.
fn card(out: &mut String, v: &View, c: &Column) {
    let lang = c.unit.locale.unwrap_or("");
    let app = c
        .body
        .audience
        .as_ref()
        .and_then(|a| a.package_name.clone())
        .unwrap_or_else(|| "app".to_owned());
    let _ = write!(
        out,
        "<figure class=\"card {}\"{}>",
        v.spec.class,
        if lang.is_empty() {
            String::new()
        } else {
            format!(" lang=\"{}\"", esc(lang))
        }
    );
    let badge = v
        .badge
        .filter(|b| *b > 0)
        .map(|b| format!("<span class=\"badge\">{b}</span>"))
        .unwrap_or_default();
    let _ = write!(
        out,
        "<div class=\"head\"><span class=\"icon\">{badge}</span><span class=\"app\">{}</span><span>now</span></div>",
        esc(&app)
    );
    let mut marks = Vec::new();
    for (class, text) in [("title", &v.title), ("body", &v.body)] {
        if text.lines.is_empty() {
            continue;
        }
        let cut = text.is_cut();
        let _ = write!(
            out,
            "<div class=\"text {class}{}\" data-lines=\"{}\" data-limit=\"{}\" style=\"width:{}em;-webkit-line-clamp:{};line-clamp:{}\">{}</div>",
            if cut { " cut" } else { "" },
            text.lines.len(),
            text.limit,
            fmt_em(v.spec.width),
            text.limit,
            text.limit,
            esc(&text.lines.join("\n"))
        );
        if cut {
            marks.push(format!(
                "✂ {class} cut after {} {}: {} more {} ({} characters) hidden",
                text.limit,
                if text.limit == 1 { "line" } else { "lines" },
                text.lines.len() - text.limit,
                if text.lines.len() - text.limit == 1 {
                    "line"
                } else {
                    "lines"
                },
                text.hidden_chars()
            ));
        }
    }
    if v.title.lines.is_empty() && v.body.lines.is_empty() {
        out.push_str("<div class=\"empty\">no title and no alert: nothing is shown</div>");
    }
    for m in &marks {
        let _ = write!(out, "<div class=\"cutmark\">{}</div>", esc(m));
    }
    if let Some(image) = &v.image {
        let _ = write!(
            out,
            "<div class=\"image\">image from {} (not loaded): {}</div>",
            esc(image.field),
            esc(&image.url)
        );
    }
    let mut facts: Vec<String> = Vec::new();
    if let Some(f) = v.title_field {
        facts.push(format!("title from {f}"));
    }
    if let Some(f) = v.body_field {
        facts.push(format!("text from {f}"));
    }
    if let Some(b) = v.badge {
        facts.push(if b > 0 {
            format!("badge {b}")
        } else {
            "clears the badge".to_owned()
        });
    }
    facts.extend(v.facts.iter().cloned());
    out.push_str("<figcaption><ul>");
    for f in facts {
        let _ = write!(out, "<li>{}</li>", esc(&f));
    }
    out.push_str("</ul></figcaption></figure>\n");
}

/// Twentieths of an em as a CSS number: 340 → "17", 345 → "17.25".
fn fmt_em(u: text::Units) -> String {
    let whole = u / 20;
    let frac = u % 20 * 5;
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FORMAT_VERSION;
    use crate::quota::Reason;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn quota() -> Quota {
        Quota {
            per_hour: 2,
            per_day: 3,
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    fn body(title: &str, alert: &str) -> PushBody {
        serde_json::from_value(serde_json::json!({
            "platform": ["ios", "android"],
            "audience": {"packageName": "com.example.app", "is_to_all": false},
            "notification": {"title": title, "alert": alert,
                             "ios": {"richMediaUri": "https://cdn.example.com/a.png", "category": "img"}}
        }))
        .unwrap()
    }

    /// A planned unit built from its JSON form, as a saved plan holds it (fields a newer plan
    /// adds take their defaults).
    fn planned(key: &str, action: Action, at: Option<&str>, reason: Option<Reason>) -> PlannedUnit {
        let (campaign, locale) = key
            .split_once('/')
            .map_or((key, None), |(c, l)| (c, Some(l)));
        serde_json::from_value(serde_json::json!({
            "key": key, "campaign": campaign, "locale": locale,
            "file": format!("campaigns/{campaign}.yaml"), "action": action,
            "scheduled_at": at, "reason": reason,
            "digest": null, "body": null, "diff": null, "note": null,
        }))
        .unwrap()
    }

    /// A plan from its JSON form, as `plan --out` saves it (newer fields take defaults).
    fn plan(actions: Vec<PlannedUnit>) -> Plan {
        serde_json::from_value(serde_json::json!({
            "format_version": FORMAT_VERSION, "now": "2026-11-26T07:00:00Z", "lock": null,
            "quota": {"per_hour": 2, "per_day": 3, "timezone": "Asia/Shanghai"},
            "actions": serde_json::to_value(actions).unwrap(),
        }))
        .unwrap()
    }

    fn unit<'a>(key: &'a str, body: &'a PushBody) -> UnitInput<'a> {
        let (campaign, locale) = key
            .split_once('/')
            .map_or((key, None), |(c, l)| (c, Some(l)));
        UnitInput {
            key,
            campaign,
            locale,
            file: "campaigns/x.yaml",
            body,
            sent: None,
        }
    }

    fn page<'p>(pages: &'p [Page], path: &str) -> &'p str {
        &pages
            .iter()
            .find(|p| p.path == path)
            .unwrap_or_else(|| panic!("no page {path}"))
            .text
    }

    /// Every `src=`, `href=` and `url(` target of a page or stylesheet.
    fn references(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for opener in ["src=\"", "href=\"", "url("] {
            for (at, _) in text.match_indices(opener) {
                let rest = &text[at + opener.len()..];
                let end = rest.find(['"', ')']).unwrap_or(rest.len());
                out.push(rest[..end].to_owned());
            }
        }
        out
    }

    #[test]
    fn campaign_text_is_escaped_and_no_page_references_the_network() {
        let hostile = body(
            "<script>alert(1)</script>",
            "\"><img src=\"https://evil.example/x.png\"> & <a href=//evil.example>",
        );
        let p = plan(vec![planned(
            "evil/en\"x",
            Action::Send,
            Some("2026-11-26T07:00:00Z"),
            None,
        )]);
        let pages = site(&Input {
            plan: &p,
            quota: &quota(),
            units: vec![unit("evil/en\"x", &hostile)],
            history: Vec::new(),
        });
        for page in &pages {
            let lower = page.text.to_lowercase();
            assert!(!lower.contains("<script"), "{}", page.path);
            assert!(!lower.contains("<img"), "{}", page.path);
            assert!(!lower.contains("<a href=//"), "{}", page.path);
            for target in references(&page.text) {
                assert!(
                    !target.contains(':') && !target.starts_with("//"),
                    "{} references {target}",
                    page.path
                );
            }
        }
        let unit_page = page(&pages, "units/evil.html");
        assert!(unit_page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(unit_page.contains("lang=\"en&quot;x\""), "{unit_page}");
        // The rich media image is a placeholder naming its URL, never loaded.
        assert!(
            unit_page.contains(
                "image from ios.richMediaUri (not loaded): https://cdn.example.com/a.png"
            )
        );
    }

    #[test]
    fn texts_the_platform_cuts_are_marked_and_clamped_the_others_are_not() {
        let long = body(
            "Winter sale",
            "Thirty percent off everything in the store for three days only, starting Monday morning.",
        );
        let p = plan(vec![planned(
            "sale",
            Action::Send,
            Some("2026-11-26T07:00:00Z"),
            None,
        )]);
        let pages = site(&Input {
            plan: &p,
            quota: &quota(),
            units: vec![unit("sale", &long)],
            history: Vec::new(),
        });
        let html = page(&pages, "units/sale.html");
        let cards: Vec<&str> = html.split("<figure class=\"card ").skip(1).collect();
        assert_eq!(cards.len(), 5, "iOS ×2, Android ×2, HarmonyOS");
        let card = |class: &str| *cards.iter().find(|c| c.starts_with(class)).unwrap();
        // The Android shade, collapsed, shows one line of the body: cut, clamped, marked.
        let collapsed = card("android collapsed");
        assert!(collapsed.contains("class=\"text body cut\""), "{collapsed}");
        assert!(collapsed.contains("-webkit-line-clamp:1;line-clamp:1"));
        assert!(collapsed.contains("✂ body cut after 1 line: 2 more lines"));
        // The lock screen shows four lines: the same body is whole there, and not marked.
        let lock = card("ios lock");
        assert!(lock.contains("class=\"text body\""), "{lock}");
        assert!(lock.contains("line-clamp:4"));
        assert!(!lock.contains("✂"));
        // Titles get one line everywhere; this one fits.
        assert!(!html.contains("text title cut"));
        assert!(lock.contains("title from notification.title"));
    }

    #[test]
    fn changed_units_show_the_sent_body_beside_the_new_one() {
        let new = body("Sale", "Now 40% off");
        let mut u = unit("sale/en", &new);
        u.sent = Some(body("Sale", "Now 30% off"));
        let p = plan(vec![planned("sale/en", Action::Changed, None, None)]);
        let pages = site(&Input {
            plan: &p,
            quota: &quota(),
            units: vec![u],
            history: Vec::new(),
        });
        let html = page(&pages, "units/sale.html");
        let sent = html
            .find("en: as sent")
            .expect("a column for the sent body");
        let new_col = html.find("en: new").expect("a column for the new body");
        assert!(sent < new_col);
        assert!(html.contains("repeat(2, var(--card))"));
        assert!(html.contains(">Now 30% off<") && html.contains(">Now 40% off<"));
        assert!(html.contains("edited after sending"));
        let index = page(&pages, "index.html");
        assert!(index.contains("<h2>Not sent</h2>"));
        assert!(index.contains("changed after sending: apply is blocked"));
    }

    #[test]
    fn the_timeline_has_a_row_per_day_with_slots_reasons_and_quota_windows() {
        let b = body("t", "a");
        let p = plan(vec![
            planned("a", Action::Send, Some("2026-11-26T07:00:00Z"), None),
            planned(
                "b",
                Action::Scheduled,
                Some("2026-11-26T08:00:00Z"),
                Some(Reason::HourQuota),
            ),
            planned(
                "c",
                Action::Scheduled,
                Some("2026-11-26T16:00:00Z"),
                Some(Reason::DayQuota),
            ),
        ]);
        let pages = site(&Input {
            plan: &p,
            quota: &quota(),
            units: vec![unit("a", &b), unit("b", &b), unit("c", &b)],
            history: vec![Past {
                key: "old".into(),
                at: t("2026-11-26T02:00:00Z"),
                status: "sent".into(),
            }],
        });
        let index = page(&pages, "index.html");
        // Shanghai time: the recorded send at 10:00, a now (15:00), b at 16:00; c the next day.
        let today = index.split("id=\"day-2026-11-26\"").nth(1).unwrap();
        let today = &today[..today.find("</section>").unwrap()];
        assert!(today.contains("3 of 3 sends of the day"), "{today}");
        assert!(today.contains("<time>10:00:00</time><span class=\"sym past\""));
        assert!(today.contains("hour quota: 2 sends in any 60 minutes"));
        // 16:00 is 66.66% of the day; its quota window starts an hour earlier.
        assert!(today.contains("class=\"mark scheduled\" style=\"left:66.66%\""));
        assert!(today.contains("class=\"band hour-window\" style=\"left:62.50%;width:4.16%\""));
        let tomorrow = index.split("id=\"day-2026-11-27\"").nth(1).unwrap();
        assert!(tomorrow.contains("day quota: 3 sends a day in Asia/Shanghai"));
        assert!(tomorrow.contains("1 of 3 sends of the day"));
        assert!(index.contains("href=\"units/c.html#u-c\""));
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let b = body("冬季大促", "全场7折，仅限三天！");
        let p = plan(vec![planned(
            "s/zh-CN",
            Action::Send,
            Some("2026-11-26T07:00:00Z"),
            None,
        )]);
        let build = || {
            site(&Input {
                plan: &p,
                quota: &quota(),
                units: vec![unit("s/zh-CN", &b)],
                history: Vec::new(),
            })
        };
        assert_eq!(build(), build());
        let pages = build();
        assert_eq!(
            pages.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
            ["style.css", "index.html", "units/s.html"]
        );
        assert!(page(&pages, "units/s.html").contains("lang=\"zh-CN\""));
    }

    #[test]
    fn priority_and_send_window_are_shown_when_the_plan_carries_them() {
        let json =
            serde_json::json!({"priority": "high", "send_window": "09:00–21:00 Asia/Shanghai"});
        assert_eq!(
            facts_of(&json).as_deref(),
            Some("priority high · send window 09:00–21:00 Asia/Shanghai")
        );
        assert_eq!(facts_of(&serde_json::json!({"priority": "normal"})), None);
        assert_eq!(facts_of(&serde_json::json!({})), None);
    }

    #[test]
    fn page_names_cannot_leave_the_units_folder() {
        assert_eq!(page_name("winter-sale-2026"), "winter-sale-2026.html");
        assert_eq!(page_name("../x"), "~2e.~2fx.html");
        assert!(!page_name("a/b").contains('/'));
    }
}
