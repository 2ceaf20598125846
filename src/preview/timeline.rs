//! The plan as a timeline on the index page: a row per day, 24 hours wide, with every planned
//! slot, every send already recorded, the 60-minute quota window each send occupies and the count
//! against the day's quota, all in the quota's time zone. Bands are drawn from a list of kinds,
//! so a new kind of band is one more entry.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Timelike, Utc};

use super::index::anchor;
use super::{Input, action_name, esc, page_name, scheduling_facts, symbol, when};
use crate::plan::Action;
use crate::quota::Quota;
use crate::report;

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

pub(super) fn timeline(input: &Input, out: &mut String) {
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
