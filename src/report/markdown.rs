//! The pull-request comment: summary, a table of actions, then collapsible bodies, cut to stay
//! under GitHub's size limit with a notice saying what was left out; every campaign string is
//! escaped so it cannot break the table or add markup.

use std::fmt::Write as _;

use super::compare::{compare_heading, compare_lines};
use super::{audience_text, clock_line, headline, links, pretty_body, when};
use crate::body::JsonBody;
use crate::compare::Comparison;
use crate::plan::{Action, Plan, PlannedUnit};
use crate::quota::Quota;

/// GitHub refuses comments over 65,536 characters; stay clear of it.
pub(crate) const MARKDOWN_LIMIT: usize = 65_000;

pub(super) fn md_escape(s: &str) -> String {
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
