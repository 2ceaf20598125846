//! Presentation of a plan: human (terminal), JSON (scripts, saved plans) and Markdown (a
//! pull-request comment). These functions read a `Plan`; they never decide anything.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::body::{JsonBody, PushBody};
use crate::compare::Comparison;
use crate::plan::{Action, Plan, PlannedUnit};
use crate::printer::{Printer, Style};
use crate::quota::{Quota, Reason};
use crate::state::{Lock, Record};

/// The sends of other projects (a shared postgres scope) that weigh on the quota from `now`:
/// those of the last 60 minutes, of today, and any recorded later, oldest first. None on the
/// file and git backends (their records have no project).
fn weighing<'a>(
    lock: &'a Lock,
    now: DateTime<Utc>,
    quota: &Quota,
) -> Vec<(DateTime<Utc>, &'a Record)> {
    let (day_start, _) = crate::quota::day_bounds(now, quota.tz);
    let from = now
        .checked_sub_signed(chrono::TimeDelta::hours(1))
        .map_or(day_start, |hour| hour.min(day_start));
    let mut theirs: Vec<(DateTime<Utc>, &Record)> = lock
        .sends
        .iter()
        .filter(|r| r.project.is_some())
        .map(|r| (r.attempted_at.with_timezone(&Utc), r))
        .filter(|(at, _)| *at >= from)
        .collect();
    theirs.sort_by_key(|(at, _)| *at);
    theirs
}

/// The other projects' sends that weigh on the quota now (the last 60 minutes, today and
/// later), one line each naming the project, so a reviewer sees who used the slots a unit waits
/// for. Empty when there are none.
#[must_use]
pub(crate) fn other_projects(lock: &Lock, now: DateTime<Utc>, quota: &Quota) -> String {
    let theirs = weighing(lock, now, quota);
    if theirs.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nQuota used by other projects of this state:\n");
    for (at, r) in theirs {
        let _ = writeln!(
            out,
            "  {}  project {}  {} ({})",
            local(at, quota.tz),
            r.project.as_deref().unwrap_or_default(),
            r.key,
            r.status.as_str()
        );
    }
    out
}

/// [`other_projects`] for the pull-request comment: a table under the plan.
#[must_use]
pub(crate) fn other_projects_markdown(lock: &Lock, now: DateTime<Utc>, quota: &Quota) -> String {
    let theirs = weighing(lock, now, quota);
    if theirs.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n**Quota used by other projects of this state**\n\n| when | project | unit | status |\n|---|---|---|---|\n",
    );
    for (at, r) in theirs {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {} |",
            local(at, quota.tz),
            md_escape(r.project.as_deref().unwrap_or_default()),
            r.key.replace('`', "'"),
            r.status.as_str()
        );
    }
    out
}

/// GitHub refuses comments over 65,536 characters; stay clear of it.
pub(crate) const MARKDOWN_LIMIT: usize = 65_000;

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

fn style_of(action: Action) -> Style {
    match action {
        Action::Send => Style::Green,
        Action::Scheduled => Style::Cyan,
        Action::Changed | Action::Duplicate | Action::Unresolved => Style::Red,
        Action::Expired | Action::Untested => Style::Yellow,
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

/// The terminal form. `all` includes up-to-date units; `verbose` adds the full bodies.
pub(crate) fn human(
    plan: &Plan,
    quota: &Quota,
    printer: &Printer,
    all: bool,
    verbose: bool,
) -> String {
    let mut out = String::new();
    let shown: Vec<&PlannedUnit> = plan
        .actions
        .iter()
        .filter(|a| all || a.action != Action::UpToDate)
        .collect();
    let _ = writeln!(out, "Now {}.", clock_line(plan, quota, ";"));
    if !plan.errors.is_empty() {
        out.push('\n');
    }
    for e in &plan.errors {
        let _ = writeln!(out, "{}: {e}", printer.out_style(Style::Red, "error"));
    }
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
        let body = a.body.as_ref().map(JsonBody::value);
        let audience = audience_text(body.as_ref());
        if matches!(
            a.action,
            Action::Send
                | Action::Scheduled
                | Action::Expired
                | Action::Duplicate
                | Action::Untested
        ) && !audience.is_empty()
        {
            let _ = writeln!(
                out,
                "      {} {audience}  {}",
                printer.out_style(Style::Dim, "to"),
                headline(body.as_ref())
            );
        }
        for line in links(a) {
            let _ = writeln!(out, "      {}", printer.out_style(Style::Dim, &line));
        }
        if let Some(note) = &a.note {
            let _ = writeln!(out, "      {}", printer.out_style(Style::Dim, note));
        }
        for warning in &a.warnings {
            let _ = writeln!(
                out,
                "      {} {warning}",
                printer.out_style(Style::Yellow, "warning:")
            );
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
        if verbose && let Some(body) = &body {
            for line in pretty_body(body).lines() {
                let _ = writeln!(out, "      {}", printer.out_style(Style::Dim, line));
            }
        }
    }
    if !shown.is_empty() || !plan.errors.is_empty() {
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

pub(crate) fn json(plan: &Plan) -> String {
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
pub(crate) fn markdown(plan: &Plan, quota: &Quota) -> String {
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
    for e in &plan.errors {
        let _ = writeln!(head, "- ❌ {}\n", md_escape(&e.to_string()));
    }
    let shown: Vec<&PlannedUnit> = plan
        .actions
        .iter()
        .filter(|a| a.action != Action::UpToDate)
        .collect();
    let mut rows = String::new();
    if !shown.is_empty() {
        // Under `require_test_in`, whether and when each push was test-sent there.
        let tested_in = plan.require_test_in.as_deref();
        match tested_in {
            Some(env) => {
                let _ = writeln!(
                    rows,
                    "| | Push | When | Audience | Notification | Test-sent in {} |\n|---|---|---|---|---|---|",
                    md_escape(env)
                );
            }
            None => rows
                .push_str("| | Push | When | Audience | Notification |\n|---|---|---|---|---|\n"),
        }
        for a in &shown {
            let tested = match (tested_in, &a.tested_at) {
                (None, _) => String::new(),
                (Some(_), Some(at)) => {
                    format!(" ✅ {} |", at.format("%Y-%m-%d %H:%M:%S %:z"))
                }
                (Some(_), None) if a.action == Action::Untested => " ❌ never |".to_owned(),
                (Some(_), None) => " |".to_owned(),
            };
            let _ = writeln!(
                rows,
                "| `{}` | `{}` | {} | {} | {} |{tested}",
                a.action.symbol().trim().replace(' ', ""),
                a.key,
                md_escape(&when(a, quota)),
                md_escape(&audience_text(
                    a.body.as_ref().map(JsonBody::value).as_ref()
                )),
                md_escape(&headline(a.body.as_ref().map(JsonBody::value).as_ref())),
            );
        }
        rows.push('\n');
    }
    let mut details: Vec<String> = Vec::new();
    // Up to date only through `moved_from`: the reviewer should see whose history it took.
    for a in plan
        .actions
        .iter()
        .filter(|a| a.action == Action::UpToDate && a.history_of.is_some())
    {
        for line in links(a) {
            details.push(format!(
                "- `{}`: up to date; {}\n\n",
                a.key,
                md_escape(&line)
            ));
        }
    }
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
        for line in links(a) {
            let _ = write!(d, "- `{}`: {}\n\n", a.key, md_escape(&line));
        }
        for warning in &a.warnings {
            let _ = write!(d, "- ⚠️ `{}`: {}\n\n", a.key, md_escape(warning));
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
                pretty_body(&body.value())
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

/// "+9h", "-30m", "+1d 2h": how far a comparison moved a unit.
fn signed_duration(d: chrono::TimeDelta) -> String {
    let sign = if d < chrono::TimeDelta::zero() {
        "-"
    } else {
        "+"
    };
    let secs = d.num_seconds().unsigned_abs();
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if seconds > 0 || parts.is_empty() {
        parts.push(format!("{seconds}s"));
    }
    format!("{sign}{}", parts.join(" "))
}

/// One line per effect of this change on the queue, shared by the terminal and the comment.
/// `code` wraps a unit key (backticks in Markdown, bold on a terminal).
fn compare_lines(c: &Comparison, quota: &Quota, code: &dyn Fn(&str) -> String) -> Vec<String> {
    let mut lines = Vec::new();
    for a in &c.added {
        let when =
            a.at.map_or_else(String::new, |t| format!(" at {}", local(t, quota.tz)));
        lines.push(format!("adds {}{when}", code(&a.key)));
    }
    for m in &c.moved {
        lines.push(format!(
            "moves {} from {} to {} ({})",
            code(&m.key),
            local(m.from, quota.tz),
            local(m.to, quota.tz),
            signed_duration(m.by())
        ));
    }
    for e in &c.expired {
        let was = e.was.map_or_else(
            || " (new in this change)".to_owned(),
            |t| format!(" (was due {})", local(t, quota.tz)),
        );
        lines.push(format!(
            "makes {} expire: it will not be sent{was}",
            code(&e.key)
        ));
    }
    for key in &c.dropped {
        lines.push(format!(
            "takes {} out of the queue (removed, sent or blocked)",
            code(key)
        ));
    }
    lines
}

fn compare_heading(c: &Comparison, quota: &Quota) -> String {
    let base = match (c.base_now, c.base_serial) {
        (Some(now), Some(serial)) => format!(
            "the base plan (made {}, lock serial {serial})",
            local(now, quota.tz)
        ),
        (Some(now), None) => format!("the base plan (made {}, no lockfile)", local(now, quota.tz)),
        _ => "the base plan".to_owned(),
    };
    if c.is_empty() {
        format!("Compared with {base}: this change adds nothing and moves nothing.")
    } else {
        format!("Compared with {base}, this change:")
    }
}

/// The terminal form of a comparison with the base plan (`plan --compare-to`).
pub(crate) fn human_compare(c: &Comparison, quota: &Quota, printer: &Printer) -> String {
    let mut out = format!("{}\n", compare_heading(c, quota));
    let code = |k: &str| printer.out_style(Style::Bold, k);
    for line in compare_lines(c, quota, &code) {
        let _ = writeln!(out, "  - {line}");
    }
    out
}

/// "Lock serial 7 (lineage 3f2a…)": the state a plan was made against, for the comment.
fn lock_line(plan: &Plan) -> String {
    match &plan.lock {
        Some(lock) => format!(
            "Planned against lock serial {} (lineage `{}`).",
            lock.serial,
            md_escape(&lock.lineage)
        ),
        None => "Planned against no lockfile: nothing is recorded as sent yet.".to_owned(),
    }
}

/// The pull-request comment with the lock serial it was planned at and, with `--compare-to`,
/// what this change does to the queue, placed under the summary where reviewers look first.
pub(crate) fn markdown_with(plan: &Plan, quota: &Quota, comparison: Option<&Comparison>) -> String {
    let text = markdown(plan, quota);
    let mut extra = format!("{}\n\n", lock_line(plan));
    if let Some(c) = comparison {
        let _ = writeln!(extra, "**{}**\n", compare_heading(c, quota));
        let lines = compare_lines(c, quota, &|k: &str| format!("`{k}`"));
        // A comparison is short in practice; a pathological one must not push the comment
        // over the limit, so it is cut first, with a notice.
        let mut shown = 0;
        for line in &lines {
            if extra.len() + line.len() + text.len() + 200 > MARKDOWN_LIMIT {
                break;
            }
            let _ = writeln!(extra, "- {}", md_escape(line));
            shown += 1;
        }
        if shown < lines.len() {
            let _ = writeln!(
                extra,
                "- … and {} more: run `pushform plan --compare-to` to see them all",
                lines.len() - shown
            );
        }
        if !lines.is_empty() {
            extra.push('\n');
        }
    }
    // After the "Planned at" paragraph, which `markdown` always writes.
    match text
        .find("\nPlanned at ")
        .and_then(|at| text[at + 1..].find("\n\n").map(|end| at + 1 + end + 2))
    {
        Some(at) => format!("{}{extra}{}", &text[..at], &text[at..]),
        None => format!("{text}\n{extra}"),
    }
}

/// Tests of the comparison and lock lines (`plan --compare-to`); named apart from any general
/// `tests` module so the two can grow independently.
#[cfg(test)]
mod compare_tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::compare::{Added, Moved};
    use crate::plan::{FORMAT_VERSION, LockRef};

    fn quota() -> Quota {
        Quota {
            per_hour: 2,
            per_day: 3,
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    /// A plan from its JSON form, as `plan --out` saves it (newer fields take defaults).
    fn plan(lock: Option<LockRef>) -> Plan {
        serde_json::from_value(serde_json::json!({
            "format_version": FORMAT_VERSION, "now": "2026-11-26T07:00:00Z", "lock": serde_json::to_value(lock).unwrap(),
            "quota": {"per_hour": 2, "per_day": 3, "timezone": "Asia/Shanghai"},
            "actions": [],
        }))
        .unwrap()
    }

    #[test]
    fn durations_are_signed_and_short() {
        assert_eq!(signed_duration(TimeDelta::hours(26)), "+1d 2h");
        assert_eq!(signed_duration(TimeDelta::minutes(-30)), "-30m");
        assert_eq!(signed_duration(TimeDelta::seconds(61)), "+1m 1s");
        assert_eq!(signed_duration(TimeDelta::zero()), "+0s");
    }

    #[test]
    fn the_comment_names_the_lock_serial_and_puts_the_comparison_under_the_summary() {
        let p = plan(Some(LockRef {
            lineage: "abc".into(),
            serial: 7,
        }));
        let c = Comparison {
            base_now: Some(p.now),
            base_serial: Some(6),
            added: vec![Added {
                key: "new".into(),
                at: Some(p.now),
            }],
            moved: vec![Moved {
                key: "old/en".into(),
                from: p.now,
                to: p.now + TimeDelta::hours(9),
            }],
            ..Comparison::default()
        };
        let text = markdown_with(&p, &quota(), Some(&c));
        let planned_at = text.find("Planned at 2026-11-26 15:00:00 +08:00").unwrap();
        let serial = text
            .find("Planned against lock serial 7 (lineage `abc`).")
            .unwrap();
        let heading = text
            .find("**Compared with the base plan (made 2026-11-26 15:00:00 +08:00, lock serial 6), this change:**")
            .unwrap();
        assert!(planned_at < serial && serial < heading, "{text}");
        assert!(text.contains("- adds `new` at 2026-11-26 15:00:00 +08:00\n"));
        assert!(text.contains(
            "- moves `old/en` from 2026-11-26 15:00:00 +08:00 to 2026-11-27 00:00:00 +08:00 (+9h)\n"
        ));
        assert!(text.ends_with(
            "<sub>Generated by `pushform plan --format markdown`. Bodies are the exact JSON that `pushform apply` will send.</sub>\n"
        ));
        // Without a comparison, only the lock line is added.
        let plain = markdown_with(&plan(None), &quota(), None);
        assert!(plain.contains("Planned against no lockfile"));
        assert!(!plain.contains("Compared with"));
    }
}

#[cfg(test)]
mod other_projects_tests {
    use super::*;
    use crate::state::Status;

    fn record(key: &str, at: &str, project: Option<&str>) -> Record {
        Record {
            key: key.to_owned(),
            campaign: key.to_owned(),
            locale: None,
            digest: "d".to_owned(),
            body: serde_json::json!({}).into(),
            status: Status::Sent,
            attempted_at: DateTime::parse_from_rfc3339(at).unwrap(),
            push_id: None,
            request_id: None,
            endpoint: None,
            error: None,
            source: None,
            resolved_at: None,
            accepted: None,
            project: project.map(str::to_owned),
            kind: None,
            environment: None,
            app_key_sha1: None,
            rehearsal: None,
        }
    }

    #[test]
    fn names_the_other_projects_sends_that_weigh_on_the_quota_now() {
        let quota = Quota {
            per_hour: 2,
            per_day: 3,
            tz: chrono_tz::Asia::Shanghai,
        };
        let now = DateTime::parse_from_rfc3339("2026-11-26T15:00:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        let mut lock = Lock::new();
        for r in [
            record("yesterday", "2026-11-25T23:30:00+08:00", Some("shop")),
            record("mine", "2026-11-26T14:30:00+08:00", None),
            record("this-morning", "2026-11-26T09:00:00+08:00", Some("shop")),
            record("just-now", "2026-11-26T14:45:00+08:00", Some("news")),
        ] {
            lock.append(r);
        }
        let text = other_projects(&lock, now, &quota);
        assert_eq!(
            text,
            "\nQuota used by other projects of this state:\n  \
             2026-11-26 09:00:00 +08:00  project shop  this-morning (sent)\n  \
             2026-11-26 14:45:00 +08:00  project news  just-now (sent)\n"
        );
        assert_eq!(
            other_projects_markdown(&lock, now, &quota),
            "\n**Quota used by other projects of this state**\n\n\
             | when | project | unit | status |\n|---|---|---|---|\n\
             | 2026-11-26 09:00:00 +08:00 | shop | `this-morning` | sent |\n\
             | 2026-11-26 14:45:00 +08:00 | news | `just-now` | sent |\n"
        );
        lock.sends.retain(|r| r.project.is_none());
        assert_eq!(other_projects(&lock, now, &quota), "");
        assert_eq!(other_projects_markdown(&lock, now, &quota), "");
    }
}
