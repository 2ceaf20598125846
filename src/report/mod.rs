//! Presentation of a plan: human (terminal), JSON (scripts, saved plans) and Markdown (a
//! pull-request comment). These functions read a `Plan`; they never decide anything.

mod compare;
mod human;
mod markdown;
mod other_projects;

#[cfg(test)]
mod compare_tests;
#[cfg(test)]
mod other_projects_tests;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::body::PushBody;
use crate::plan::{Action, Plan, PlannedUnit};
use crate::quota::{Quota, Reason};

pub(crate) use compare::human_compare;
pub(crate) use human::human;
pub(crate) use markdown::markdown_with;
pub(crate) use other_projects::{other_projects, other_projects_markdown};

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

pub(crate) fn reason_text(reason: Reason, quota: &Quota) -> String {
    match reason {
        Reason::HourQuota => format!("hour quota: {} sends in any 60 minutes", quota.per_hour),
        Reason::DayQuota => format!("day quota: {} sends a day in {}", quota.per_day, quota.tz),
        Reason::NotBefore => "not_before".to_owned(),
        Reason::SendWindow => "send window".to_owned(),
    }
}

/// "packageName com.example.student, tag lang_zh" from a body's audience.
pub(crate) fn audience_text(body: Option<&serde_json::Value>) -> String {
    let Some(a) = body.and_then(|b| b.get("audience")) else {
        return String::new();
    };
    if a.get("is_to_all").and_then(serde_json::Value::as_bool) == Some(true) {
        return "ALL USERS".to_owned();
    }
    let mut parts = Vec::new();
    if let Some(p) = a.get("packageName").and_then(|v| v.as_str()) {
        parts.push(format!("packageName {p}"));
    }
    for (field, label) in [("tag", "tag"), ("tag_or", "tag_or")] {
        if let Some(list) = a.get(field).and_then(|v| v.as_array()) {
            let names: Vec<&str> = list.iter().filter_map(|v| v.as_str()).collect();
            parts.push(format!(
                "{label} {}",
                names.join(if field == "tag" { "+" } else { "|" })
            ));
        }
    }
    if let Some(list) = a.get("userid").and_then(|v| v.as_array()) {
        parts.push(format!("{} user IDs", list.len()));
    }
    parts.join(", ")
}

fn headline(body: Option<&serde_json::Value>) -> String {
    let Some(n) = body.and_then(|b| b.get("notification")) else {
        return String::new();
    };
    let title = n.get("title").and_then(|v| v.as_str()).unwrap_or_default();
    let alert = n.get("alert").and_then(|v| v.as_str()).unwrap_or_default();
    let text = match (title.is_empty(), alert.is_empty()) {
        (false, false) => format!("{title}: {alert}"),
        (false, true) => title.to_owned(),
        _ => alert.to_owned(),
    };
    let short: String = text.chars().take(72).collect();
    let ellipsis = if text.chars().count() > 72 { "…" } else { "" };
    format!("\"{}{ellipsis}\"", short.replace('\n', " "))
}

fn when(a: &PlannedUnit, quota: &Quota) -> String {
    match a.action {
        Action::Send => "send now".to_owned(),
        Action::Scheduled => {
            let at = a
                .scheduled_at
                .map(|t| local(t, quota.tz))
                .unwrap_or_default();
            match (a.reason, &a.send_window) {
                (Some(Reason::SendWindow), Some(w)) => format!("at {at} (send window {w})"),
                (Some(r), _) => format!("at {at} ({})", reason_text(r, quota)),
                (None, _) => format!("at {at}"),
            }
        }
        Action::Changed => "changed after sending".to_owned(),
        Action::Duplicate => match &a.duplicate_of {
            Some(other) => format!("duplicate of `{other}`: will not be sent"),
            None => "duplicate: will not be sent".to_owned(),
        },
        Action::Expired => "expired: will not be sent".to_owned(),
        Action::Unresolved => "unresolved: apply is blocked".to_owned(),
        Action::Untested => "untested: will not be sent until test-sent".to_owned(),
        Action::Gone => "gone from the files".to_owned(),
        Action::UpToDate => "up to date".to_owned(),
    }
}

/// "2026-11-26 15:00:00 +08:00; quota 2 an hour, 3 a day (Asia/Shanghai)": when the plan was
/// made and under which quota, the first thing a reviewer needs to judge the slots.
fn clock_line(plan: &Plan, quota: &Quota, separator: &str) -> String {
    format!(
        "{}{separator} quota {} an hour, {} a day ({})",
        local(plan.now, quota.tz),
        quota.per_hour,
        quota.per_day,
        quota.tz
    )
}

/// Lines under a unit about priority and history links, for the terminal and the PR comment:
/// `priority high`, `waits behind higher-priority `x``, `moved from `a``, `resend of `b``.
fn links(a: &PlannedUnit) -> Vec<String> {
    let mut lines = Vec::new();
    if a.priority != crate::quota::Priority::Normal {
        lines.push(format!("priority {}", a.priority));
    }
    if let Some(key) = &a.waits_behind {
        lines.push(format!(
            "waits behind higher-priority `{key}`, which takes a slot first"
        ));
    }
    if !a.moved_from.is_empty() {
        let ids: Vec<String> = a.moved_from.iter().map(|id| format!("`{id}`")).collect();
        let took = match &a.history_of {
            Some(key) => format!(": takes over the history of `{key}`"),
            None => String::new(),
        };
        lines.push(format!("moved from {}{took}", ids.join(", ")));
    }
    if let Some(id) = &a.resend_of {
        lines.push(format!(
            "resend of `{id}`: sending the same push again is intended"
        ));
    }
    if let Some(at) = &a.tested_at {
        lines.push(format!(
            "test-sent at {}",
            at.format("%Y-%m-%d %H:%M:%S %:z")
        ));
    }
    lines
}

/// A body pretty-printed in wire field order (the order apply sends), not sorted.
fn pretty_body(body: &serde_json::Value) -> String {
    match serde_json::from_value::<PushBody>(body.clone()) {
        Ok(typed) => serde_json::to_string_pretty(&typed),
        Err(_) => serde_json::to_string_pretty(body),
    }
    .unwrap_or_default()
}

pub(crate) fn json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).unwrap_or_default();
    s.push('\n');
    s
}
