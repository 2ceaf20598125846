//! Presentation of a plan: human (terminal), JSON (scripts, saved plans) and Markdown (a
//! pull-request comment). These functions read a `Plan`; they never decide anything.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::body::PushBody;
use crate::plan::{Action, Plan, PlannedUnit};
use crate::printer::{Printer, Style};
use crate::quota::{Quota, Reason};

/// GitHub refuses comments over 65,536 characters; stay clear of it.
pub const MARKDOWN_LIMIT: usize = 65_000;

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M:%S %:z")
        .to_string()
}

pub fn reason_text(reason: Reason, quota: &Quota) -> String {
    match reason {
        Reason::HourQuota => format!("hour quota: {} sends in any 60 minutes", quota.per_hour),
        Reason::DayQuota => format!("day quota: {} sends a day in {}", quota.per_day, quota.tz),
        Reason::NotBefore => "not_before".to_owned(),
    }
}

/// "packageName com.example.student, tag lang_zh" from a body's audience.
pub fn audience_text(body: Option<&serde_json::Value>) -> String {
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
            match a.reason {
                Some(r) => format!("at {at} ({})", reason_text(r, quota)),
                None => format!("at {at}"),
            }
        }
        Action::Changed => "changed after sending".to_owned(),
        Action::Expired => "expired: will not be sent".to_owned(),
        Action::Unresolved => "unresolved: apply is blocked".to_owned(),
        Action::Gone => "gone from the files".to_owned(),
        Action::UpToDate => "up to date".to_owned(),
    }
}

fn style_of(action: Action) -> Style {
    match action {
        Action::Send => Style::Green,
        Action::Scheduled => Style::Cyan,
        Action::Changed | Action::Unresolved => Style::Red,
        Action::Expired => Style::Yellow,
        Action::Gone | Action::UpToDate => Style::Dim,
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

/// The terminal form. `all` includes up-to-date units; `verbose` adds the full bodies.
pub fn human(plan: &Plan, quota: &Quota, printer: &Printer, all: bool, verbose: bool) -> String {
    let mut out = String::new();
    let shown: Vec<&PlannedUnit> = plan
        .actions
        .iter()
        .filter(|a| all || a.action != Action::UpToDate)
        .collect();
    let _ = writeln!(out, "Now {}.", clock_line(plan, quota, ";"));
    if !shown.is_empty() {
        out.push('\n');
    }
    let width = shown
        .iter()
        .map(|a| a.key.chars().count())
        .max()
        .unwrap_or(0);
    for a in &shown {
        let style = style_of(a.action);
        let _ = writeln!(
            out,
            "  {} {:width$}  {}",
            printer.out_style(style, a.action.symbol()),
            printer.out_style(Style::Bold, &a.key),
            when(a, quota),
        );
        let audience = audience_text(a.body.as_ref());
        if matches!(a.action, Action::Send | Action::Scheduled | Action::Expired)
            && !audience.is_empty()
        {
            let _ = writeln!(
                out,
                "      {} {audience}  {}",
                printer.out_style(Style::Dim, "to"),
                headline(a.body.as_ref())
            );
        }
        if let Some(note) = &a.note {
            let _ = writeln!(out, "      {}", printer.out_style(Style::Dim, note));
        }
        if let Some(diff) = &a.diff {
            for line in diff.lines() {
                let styled = if line.starts_with('+') && !line.starts_with("+++") {
                    printer.out_style(Style::Green, line)
                } else if line.starts_with('-') && !line.starts_with("---") {
                    printer.out_style(Style::Red, line)
                } else {
                    line.to_owned()
                };
                let _ = writeln!(out, "      {styled}");
            }
        }
        if verbose && let Some(body) = &a.body {
            for line in pretty_body(body).lines() {
                let _ = writeln!(out, "      {}", printer.out_style(Style::Dim, line));
            }
        }
    }
    if !shown.is_empty() {
        out.push('\n');
    }
    let summary = plan.summary_line();
    let style = if plan.has_errors() {
        Style::Red
    } else if plan.has_sends() {
        Style::Bold
    } else {
        Style::Green
    };
    let _ = writeln!(out, "{}", printer.out_style(style, &summary));
    out
}

/// A body pretty-printed in wire field order (the order apply sends), not sorted.
fn pretty_body(body: &serde_json::Value) -> String {
    match serde_json::from_value::<PushBody>(body.clone()) {
        Ok(typed) => serde_json::to_string_pretty(&typed),
        Err(_) => serde_json::to_string_pretty(body),
    }
    .unwrap_or_default()
}

pub fn json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).unwrap_or_default();
    s.push('\n');
    s
}

fn md_escape(s: &str) -> String {
    crate::printer::escape_controls(s, false)
        .replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A pull-request comment: summary, a table of actions, then collapsible bodies and diffs,
/// cut to stay under `MARKDOWN_LIMIT` with a notice saying what was left out.
pub fn markdown(plan: &Plan, quota: &Quota) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "<!-- pushform-plan -->\n### pushform plan\n");
    let icon = if plan.has_errors() {
        "❌"
    } else if plan.has_sends() {
        "📣"
    } else {
        "✅"
    };
    let _ = writeln!(head, "{icon} **{}**\n", plan.summary_line());
    let _ = writeln!(head, "Planned at {}.\n", clock_line(plan, quota, " ·"));
    let shown: Vec<&PlannedUnit> = plan
        .actions
        .iter()
        .filter(|a| a.action != Action::UpToDate)
        .collect();
    let mut rows = String::new();
    if !shown.is_empty() {
        rows.push_str("| | Push | When | Audience | Notification |\n|---|---|---|---|---|\n");
        for a in &shown {
            let _ = writeln!(
                rows,
                "| `{}` | `{}` | {} | {} | {} |",
                a.action.symbol().trim().replace(' ', ""),
                a.key,
                md_escape(&when(a, quota)),
                md_escape(&audience_text(a.body.as_ref())),
                md_escape(&headline(a.body.as_ref())),
            );
        }
        rows.push('\n');
    }
    let mut details: Vec<String> = Vec::new();
    for a in &shown {
        let mut d = String::new();
        if let Some(diff) = &a.diff {
            let _ = write!(
                d,
                "<details><summary>❗ <code>{}</code> changed after sending</summary>\n\n{}\n\n```diff\n{}```\n</details>\n\n",
                a.key,
                md_escape(a.note.as_deref().unwrap_or_default()),
                diff
            );
        } else if let Some(note) = &a.note {
            let _ = write!(d, "- `{}`: {}\n\n", a.key, md_escape(note));
        }
        if a.diff.is_none()
            && matches!(a.action, Action::Send | Action::Scheduled)
            && let Some(body) = &a.body
        {
            let _ = write!(
                d,
                "<details><summary><code>{}</code> body <sub>sha1 {}</sub></summary>\n\n```json\n{}\n```\n</details>\n\n",
                a.key,
                a.digest.as_deref().unwrap_or_default(),
                pretty_body(body)
            );
        }
        if !d.is_empty() {
            details.push(d);
        }
    }
    let footer = "<sub>Generated by `pushform plan --format markdown`. Bodies are the exact JSON that `pushform apply` will send.</sub>\n";

    let mut out = head;
    if out.len() + rows.len() + footer.len() > MARKDOWN_LIMIT {
        // Even the table is too long: keep as many rows as fit.
        let mut kept = String::new();
        let mut dropped = 0;
        for line in rows.lines() {
            if out.len() + kept.len() + line.len() + 400 < MARKDOWN_LIMIT {
                kept.push_str(line);
                kept.push('\n');
            } else {
                dropped += 1;
            }
        }
        let _ = write!(
            out,
            "{kept}\n> ⚠️ {dropped} rows and every body were left out to stay under GitHub's comment limit. Run `pushform plan` to see them all.\n\n"
        );
        out.push_str(footer);
        return out;
    }
    out.push_str(&rows);
    let mut omitted = 0;
    for d in &details {
        if out.len() + d.len() + footer.len() + 300 < MARKDOWN_LIMIT {
            out.push_str(d);
        } else {
            omitted += 1;
        }
    }
    if omitted > 0 {
        let _ = write!(
            out,
            "> ⚠️ {omitted} of {} bodies or diffs were left out to stay under GitHub's comment limit. Run `pushform plan -v` to see them all.\n\n",
            details.len()
        );
    }
    out.push_str(footer);
    out
}
