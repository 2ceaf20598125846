//! The plan: a pure function of (rendered units, lockfile, now, quota) to a `Plan` value
//! (docs/contract.md §6). It decides, for every unit, whether it goes out now, when it is scheduled and
//! why, whether it was edited after it was sent, and what blocks apply. Printing a plan is
//! `report`'s job; applying one is `apply`'s.
//!
//! It is also the guard against sending one push twice under two names: a pending unit whose
//! exact body was already sent (or may have been) under another key is an error until the
//! campaign says why (`moved_from` for a rename, `resend_of` for a deliberate second send).

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use similar::TextDiff;

use crate::body::JsonBody;
use crate::quota::{Priority, Quota, Reason};

/// Version of the JSON form of a plan (`plan --format json`, `plan --out`).
pub(crate) const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Action {
    /// `+` not in the lock; a quota slot is free now.
    Send,
    /// `~` not in the lock; the earliest legal time is later.
    Scheduled,
    /// `!` sent (or maybe sent) with another digest: an error.
    Changed,
    /// `!` not in the lock, but its exact body was sent (or may have been) under another key:
    /// an error, almost surely a renamed id or a copy.
    Duplicate,
    /// `x` no slot before `not_after`: will not be sent.
    Expired,
    /// `?` the lock holds `sending`/`unknown`: apply is blocked until `state resolve`.
    Unresolved,
    /// `t` pending, but its content was never test-sent in the environment named by
    /// `require_test_in`: blocked (apply never sends it) until `send-test` there.
    Untested,
    /// `-` in the lock but no longer in the files: nothing to do.
    Gone,
    /// sent with the same digest.
    UpToDate,
}

impl Action {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            Action::Send => "+",
            Action::Scheduled => "~",
            Action::Changed | Action::Duplicate => "!",
            Action::Expired => "x",
            Action::Unresolved => "?",
            Action::Untested => "t",
            Action::Gone => "-",
            Action::UpToDate => " ",
        }
    }

    pub(crate) fn is_error(self) -> bool {
        matches!(
            self,
            Action::Changed | Action::Duplicate | Action::Unresolved
        )
    }
}

/// The lock a plan was made against: a saved plan is stale once either changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LockRef {
    pub lineage: String,
    pub serial: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PlannedUnit {
    pub key: String,
    pub campaign: String,
    pub locale: Option<String>,
    /// The campaign file; `null` for units gone from the files.
    pub file: Option<String>,
    pub action: Action,
    /// When it goes out: now for `send`, the slot for `scheduled`.
    pub scheduled_at: Option<DateTime<Utc>>,
    pub reason: Option<Reason>,
    /// Digest of the current rendering (or of the lock's record for `gone`).
    pub digest: Option<String>,
    /// The body that would be sent (send, scheduled, changed, expired).
    pub body: Option<JsonBody>,
    /// Unified diff, sent body → current body (changed).
    pub diff: Option<String>,
    /// A sentence for the reader: why it expired, what is unresolved and how to resolve it.
    pub note: Option<String>,
    /// `high`, `normal` or `low`: who picks a quota slot first.
    #[serde(default)]
    pub priority: Priority,
    /// The send window in force, e.g. `09:00–21:00 Asia/Shanghai`; `null` for any time.
    #[serde(default)]
    pub send_window: Option<String>,
    /// A higher-priority unit that took a slot this one could have had.
    #[serde(default)]
    pub waits_behind: Option<String>,
    /// The campaign's former ids (`moved_from`).
    #[serde(default)]
    pub moved_from: Vec<String>,
    /// The old key whose history this unit took over, when it did.
    #[serde(default)]
    pub history_of: Option<String>,
    /// The campaign whose push this one deliberately sends again (`resend_of`).
    #[serde(default)]
    pub resend_of: Option<String>,
    /// For `duplicate`: the other key that already holds this exact body.
    #[serde(default)]
    pub duplicate_of: Option<String>,
    /// Things a reviewer should look at that do not block apply.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Under `require_test_in`: when this content was last test-sent there (`null`: never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tested_at: Option<DateTime<FixedOffset>>,
    #[serde(skip)]
    pub order: (usize, usize),
}

/// A problem of the campaign files found only against the state (validate has no state), such
/// as a `moved_from` naming an id the state has never seen. It blocks apply like any error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PlanError {
    pub file: String,
    pub line: Option<u32>,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}: {}", self.file, self.field, self.message),
            None => write!(f, "{}: {}: {}", self.file, self.field, self.message),
        }
    }
}

/// The quota a plan was made with, so a saved plan can be shown as it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct QuotaRef {
    pub per_hour: u32,
    pub per_day: u32,
    pub timezone: String,
}

impl QuotaRef {
    pub(crate) fn to_quota(&self) -> Option<Quota> {
        Some(Quota {
            per_hour: self.per_hour,
            per_day: self.per_day,
            tz: self.timezone.parse().ok()?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub format_version: u32,
    pub now: DateTime<Utc>,
    pub lock: Option<LockRef>,
    pub quota: QuotaRef,
    pub actions: Vec<PlannedUnit>,
    /// Errors of the files found against the state; see [`PlanError`].
    #[serde(default)]
    pub errors: Vec<PlanError>,
    /// The environment whose test sends gate this plan (`require_test_in`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_test_in: Option<String>,
}

/// `require_test_in`: the environment whose state must hold a `sent` test record of a unit's
/// content before the unit may go out here, and what that state holds.
#[derive(Clone, Debug, Default)]
pub(crate) struct TestGate {
    pub environment: String,
    /// Content digest → when it was last test-sent there (see `LockIndex::tested`).
    pub tested: HashMap<String, DateTime<FixedOffset>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub send: usize,
    pub scheduled: usize,
    pub expired: usize,
    pub errors: usize,
    pub gone: usize,
    pub up_to_date: usize,
    pub untested: usize,
}

impl Plan {
    pub(crate) fn summary(&self) -> Summary {
        let mut s = Summary {
            errors: self.errors.len(),
            ..Summary::default()
        };
        for a in &self.actions {
            match a.action {
                Action::Send => s.send += 1,
                Action::Scheduled => s.scheduled += 1,
                Action::Expired => s.expired += 1,
                Action::Changed | Action::Duplicate | Action::Unresolved => s.errors += 1,
                Action::Untested => s.untested += 1,
                Action::Gone => s.gone += 1,
                Action::UpToDate => s.up_to_date += 1,
            }
        }
        s
    }

    pub(crate) fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.actions.iter().any(|a| a.action.is_error())
    }

    /// Units that will be sent, now or later.
    pub(crate) fn has_sends(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a.action, Action::Send | Action::Scheduled))
    }

    /// `Plan: 1 to send now, 3 scheduled, 0 expired, 1 error.` or `No changes. Everything is sent.`
    pub(crate) fn summary_line(&self) -> String {
        let s = self.summary();
        if s.send + s.scheduled + s.expired + s.errors + s.untested == 0 {
            return "No changes. Everything is sent.".to_owned();
        }
        let untested = if s.untested > 0 {
            format!(", {} untested", s.untested)
        } else {
            String::new()
        };
        format!(
            "Plan: {} to send now, {} scheduled, {} expired{untested}, {} {}.",
            s.send,
            s.scheduled,
            s.expired,
            s.errors,
            if s.errors == 1 { "error" } else { "errors" }
        )
    }
}

mod decide;
mod seen;

pub(crate) use decide::{plan, plan_gated};

/// Unified diff of the pretty-printed JSON bodies, sent → current.
pub(crate) fn diff(sent: &serde_json::Value, current: &serde_json::Value) -> String {
    let old = pretty(sent);
    let new = pretty(current);
    TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header("sent", "current")
        .to_string()
}

fn pretty(v: &serde_json::Value) -> String {
    // A JSON string inside the body (message.content) is shown parsed, so an edit inside it
    // is one readable line of the diff instead of one changed line of escaped JSON.
    let mut v = v.clone();
    if let Some(content) = v.pointer_mut("/message/content")
        && let Some(text) = content.as_str()
        && let Ok(parsed @ serde_json::Value::Object(_)) =
            serde_json::from_str::<serde_json::Value>(text)
    {
        *content = parsed;
    }
    let mut s = serde_json::to_string_pretty(&v).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests;
