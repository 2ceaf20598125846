//! The sends of other projects sharing the state (a postgres scope) that weigh on the quota now,
//! named by project, so a reviewer sees who used the slots a unit waits for; on the terminal and
//! in the pull-request comment.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use super::local;
use super::markdown::md_escape;
use crate::quota::Quota;
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
