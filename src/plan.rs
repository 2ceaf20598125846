//! The plan: a pure function of (rendered units, lockfile, now, quota) to a `Plan` value
//! (DESIGN §6). It decides, for every unit, whether it goes out now, when it is scheduled and
//! why, whether it was edited after it was sent, and what blocks apply. Printing a plan is
//! `report`'s job; applying one is `apply`'s.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use similar::TextDiff;

use crate::quota::{self, Pending, Quota, Reason, Slot};
use crate::render::Unit;
use crate::state::{KeyState, Lock, LockIndex, Status};

/// Version of the JSON form of a plan (`plan --format json`, `plan --out`).
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `+` not in the lock; a quota slot is free now.
    Send,
    /// `~` not in the lock; the earliest legal time is later.
    Scheduled,
    /// `!` sent (or maybe sent) with another digest: an error.
    Changed,
    /// `x` no slot before `not_after`: will not be sent.
    Expired,
    /// `?` the lock holds `sending`/`unknown`: apply is blocked until `state resolve`.
    Unresolved,
    /// `-` in the lock but no longer in the files: nothing to do.
    Gone,
    /// sent with the same digest.
    UpToDate,
}

impl Action {
    pub fn symbol(self) -> &'static str {
        match self {
            Action::Send => "+",
            Action::Scheduled => "~",
            Action::Changed => "!",
            Action::Expired => "x",
            Action::Unresolved => "?",
            Action::Gone => "-",
            Action::UpToDate => " ",
        }
    }

    pub fn is_error(self) -> bool {
        matches!(self, Action::Changed | Action::Unresolved)
    }
}

/// The lock a plan was made against: a saved plan is stale once either changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockRef {
    pub lineage: String,
    pub serial: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlannedUnit {
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
    pub body: Option<serde_json::Value>,
    /// Unified diff, sent body → current body (changed).
    pub diff: Option<String>,
    /// A sentence for the reader: why it expired, what is unresolved and how to resolve it.
    pub note: Option<String>,
    #[serde(skip)]
    pub order: (usize, usize),
}

/// The quota a plan was made with, so a saved plan can be shown as it was made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaRef {
    pub per_hour: u32,
    pub per_day: u32,
    pub timezone: String,
}

impl QuotaRef {
    pub fn to_quota(&self) -> Option<Quota> {
        Some(Quota {
            per_hour: self.per_hour,
            per_day: self.per_day,
            tz: self.timezone.parse().ok()?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub now: DateTime<Utc>,
    pub lock: Option<LockRef>,
    pub quota: QuotaRef,
    pub actions: Vec<PlannedUnit>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub send: usize,
    pub scheduled: usize,
    pub expired: usize,
    pub errors: usize,
    pub gone: usize,
    pub up_to_date: usize,
}

impl Plan {
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for a in &self.actions {
            match a.action {
                Action::Send => s.send += 1,
                Action::Scheduled => s.scheduled += 1,
                Action::Expired => s.expired += 1,
                Action::Changed | Action::Unresolved => s.errors += 1,
                Action::Gone => s.gone += 1,
                Action::UpToDate => s.up_to_date += 1,
            }
        }
        s
    }

    pub fn has_errors(&self) -> bool {
        self.actions.iter().any(|a| a.action.is_error())
    }

    /// Units that will be sent, now or later.
    pub fn has_sends(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a.action, Action::Send | Action::Scheduled))
    }

    /// `Plan: 1 to send now, 3 scheduled, 0 expired, 1 error.` or `No changes. Everything is sent.`
    pub fn summary_line(&self) -> String {
        let s = self.summary();
        if s.send + s.scheduled + s.expired + s.errors == 0 {
            return "No changes. Everything is sent.".to_owned();
        }
        format!(
            "Plan: {} to send now, {} scheduled, {} expired, {} {}.",
            s.send,
            s.scheduled,
            s.expired,
            s.errors,
            if s.errors == 1 { "error" } else { "errors" }
        )
    }
}

/// Makes the plan. `units` are in render order (file path, then locale order).
pub fn plan(units: &[Unit], lock: Option<&Lock>, now: DateTime<Utc>, quota: &Quota) -> Plan {
    let empty = Lock::default();
    let index = LockIndex::new(lock.unwrap_or(&empty));
    let mut actions = Vec::with_capacity(units.len());
    let mut pending: Vec<(usize, Pending)> = Vec::new();

    for unit in units {
        let mut planned = PlannedUnit {
            key: unit.key.clone(),
            campaign: unit.campaign.clone(),
            locale: unit.locale.clone(),
            file: Some(unit.file.to_string()),
            action: Action::UpToDate,
            scheduled_at: None,
            reason: None,
            digest: Some(unit.digest.clone()),
            body: None,
            diff: None,
            note: None,
            order: (unit.file_index, unit.locale_index),
        };
        match index.state(&unit.key) {
            Some(KeyState::Sent { digest, body }) => {
                if *digest != unit.digest {
                    planned.action = Action::Changed;
                    planned.body = Some(unit.body_json());
                    planned.diff = Some(diff(body, &unit.body_json()));
                    planned.note = Some(format!(
                        "`{}` was already sent with another body; a push cannot be changed after sending. \
                         Revert the edit, give the campaign a new `id` to send it again, or run \
                         `pushform state accept {}` to take this rendering as the reference",
                        unit.key, unit.key
                    ));
                }
            }
            Some(KeyState::Unresolved { status }) => {
                planned.action = Action::Unresolved;
                planned.note = Some(unresolved_note(&unit.key, *status));
            }
            Some(KeyState::AllRejected) | None => {
                planned.body = Some(unit.body_json());
                pending.push((
                    actions.len(),
                    Pending {
                        not_before: unit.not_before.map(|t| t.with_timezone(&Utc)),
                        not_after: unit.not_after.map(|t| t.with_timezone(&Utc)),
                    },
                ));
                planned.action = Action::Scheduled;
            }
        }
        actions.push(planned);
    }

    let constraints: Vec<Pending> = pending.iter().map(|(_, p)| *p).collect();
    let slots = quota::schedule(index.history(), quota, now, &constraints);
    for ((i, p), slot) in pending.iter().zip(slots) {
        let planned = &mut actions[*i];
        match slot {
            Slot::Now => {
                planned.action = Action::Send;
                planned.scheduled_at = Some(now);
            }
            Slot::At { at, reason } => {
                planned.action = Action::Scheduled;
                planned.scheduled_at = Some(at);
                planned.reason = Some(reason);
            }
            Slot::Expired => {
                planned.action = Action::Expired;
                planned.note = Some(match p.not_after {
                    Some(t) if t < now => format!("its not_after ({t}) has passed"),
                    Some(t) => format!("no quota slot is free before its not_after ({t})"),
                    None => "the quota allows no sends at all".to_owned(),
                });
            }
        }
    }

    let current: HashSet<&str> = units.iter().map(|u| u.key.as_str()).collect();
    for key in index.keys() {
        if current.contains(key) {
            continue;
        }
        let latest = lock
            .and_then(|l| l.sends.iter().rev().find(|r| r.key == *key))
            .map(|r| (r.campaign.clone(), r.locale.clone(), r.digest.clone()));
        let Some((campaign, locale, digest)) = latest else {
            continue;
        };
        let action = match index.state(key) {
            Some(KeyState::Sent { .. }) => Action::Gone,
            Some(KeyState::Unresolved { .. }) => Action::Unresolved,
            // Never sent and no longer wanted: nothing to say.
            Some(KeyState::AllRejected) | None => continue,
        };
        let note = match index.state(key) {
            Some(KeyState::Unresolved { status }) => Some(unresolved_note(key, *status)),
            _ => Some("no longer in the campaign files; a sent push cannot be undone".to_owned()),
        };
        actions.push(PlannedUnit {
            key: (*key).to_owned(),
            campaign,
            locale,
            file: None,
            action,
            scheduled_at: None,
            reason: None,
            digest: Some(digest),
            body: None,
            diff: None,
            note,
            order: (usize::MAX, usize::MAX),
        });
    }

    // Display order: by action, sends by time, everything else in file order.
    actions.sort_by(|a, b| {
        (a.action, a.scheduled_at, a.order, &a.key).cmp(&(
            b.action,
            b.scheduled_at,
            b.order,
            &b.key,
        ))
    });
    Plan {
        format_version: FORMAT_VERSION,
        now,
        lock: lock.map(|l| LockRef {
            lineage: l.lineage.clone(),
            serial: l.serial,
        }),
        quota: QuotaRef {
            per_hour: quota.per_hour,
            per_day: quota.per_day,
            timezone: quota.tz.name().to_owned(),
        },
        actions,
    }
}

fn unresolved_note(key: &str, status: Status) -> String {
    format!(
        "the last attempt is `{status}`: it may have reached the provider. Check whether the push \
         arrived, then run `pushform state resolve {key} --sent [--push-id ID]` or `--not-sent`"
    )
}

/// Unified diff of the pretty-printed JSON bodies, sent → current.
pub fn diff(sent: &serde_json::Value, current: &serde_json::Value) -> String {
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
mod tests {
    use super::*;
    use crate::project::Project;
    use crate::render::render_all;
    use crate::state::{Record, RecordError};

    fn units(ids: &[&str]) -> (tempfile::TempDir, Vec<Unit>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("campaigns")).unwrap();
        for id in ids {
            std::fs::write(
                dir.path().join(format!("campaigns/{id}.yaml")),
                format!(
                    "id: {id}\npush: {{platform: [ios], audience: {{is_to_all: false, packageName: p}}, notification: {{alert: {id}}}}}\n"
                ),
            )
            .unwrap();
        }
        let project = Project::load(dir.path()).unwrap();
        let (units, findings) = render_all(&project);
        assert!(findings.is_empty(), "{findings:?}");
        (dir, units)
    }

    fn record(unit: &Unit, status: Status, at: &str) -> Record {
        Record {
            key: unit.key.clone(),
            campaign: unit.campaign.clone(),
            locale: None,
            digest: unit.digest.clone(),
            body: unit.body_json(),
            status,
            attempted_at: DateTime::parse_from_rfc3339(at).unwrap(),
            push_id: None,
            request_id: None,
            endpoint: None,
            error: (status == Status::Rejected).then(|| RecordError {
                code: 1002,
                message: "bad".into(),
            }),
            source: None,
            resolved_at: None,
            accepted: None,
        }
    }

    fn quota() -> Quota {
        Quota {
            per_hour: 2,
            per_day: 3,
            tz: chrono_tz::Asia::Shanghai,
        }
    }

    fn now() -> DateTime<Utc> {
        "2026-11-26T07:00:00Z".parse().unwrap()
    }

    #[test]
    fn rejected_units_are_pending_again_and_their_attempts_count() {
        let (_dir, units) = units(&["a", "b"]);
        let mut lock = Lock::new();
        lock.append(record(
            &units[0],
            Status::Rejected,
            "2026-11-26T14:55:00+08:00",
        ));
        lock.append(record(
            &units[1],
            Status::Rejected,
            "2026-11-26T14:58:00+08:00",
        ));
        let plan = plan(&units, Some(&lock), now(), &quota());
        // Both attempts are in the last hour: nothing can go now, though nothing was sent.
        assert!(
            plan.actions.iter().all(|a| a.action == Action::Scheduled),
            "{plan:#?}"
        );
        assert_eq!(plan.actions[0].reason, Some(Reason::HourQuota));
    }

    #[test]
    fn unresolved_blocks_and_says_how_to_resolve() {
        let (_dir, units) = units(&["a", "b"]);
        let mut lock = Lock::new();
        lock.append(record(
            &units[0],
            Status::Unknown,
            "2026-11-26T10:00:00+08:00",
        ));
        let plan = plan(&units, Some(&lock), now(), &quota());
        let a = plan.actions.iter().find(|x| x.key == "a").unwrap();
        assert_eq!(a.action, Action::Unresolved);
        assert!(
            a.note
                .as_deref()
                .unwrap()
                .contains("pushform state resolve a --sent")
        );
        assert!(plan.has_errors());
        assert_eq!(
            plan.summary_line(),
            "Plan: 1 to send now, 0 scheduled, 0 expired, 1 error."
        );
    }

    #[test]
    fn display_order_is_by_action_then_time_then_file() {
        let (_dir, units) = units(&["a", "b", "c", "d"]);
        let mut lock = Lock::new();
        lock.append(record(&units[3], Status::Sent, "2026-11-20T10:00:00+08:00"));
        let plan = plan(&units, Some(&lock), now(), &quota());
        let order: Vec<(&str, Action)> = plan
            .actions
            .iter()
            .map(|a| (a.key.as_str(), a.action))
            .collect();
        assert_eq!(
            order,
            [
                ("a", Action::Send),
                ("b", Action::Send),
                ("c", Action::Scheduled),
                ("d", Action::UpToDate)
            ]
        );
        assert_eq!(
            plan.summary_line(),
            "Plan: 2 to send now, 1 scheduled, 0 expired, 0 errors."
        );
    }

    #[test]
    fn nothing_pending_says_everything_is_sent() {
        let (_dir, units) = units(&["a"]);
        let mut lock = Lock::new();
        lock.append(record(&units[0], Status::Sent, "2026-11-20T10:00:00+08:00"));
        let plan = plan(&units, Some(&lock), now(), &quota());
        assert_eq!(plan.summary_line(), "No changes. Everything is sent.");
        assert!(!plan.has_sends());
    }

    #[test]
    fn diff_shows_message_content_parsed() {
        let sent = serde_json::json!({"message": {"content": "{\"content\":\"old\"}"}});
        let current = serde_json::json!({"message": {"content": "{\"content\":\"new\"}"}});
        let d = diff(&sent, &current);
        assert!(d.contains("-      \"content\": \"old\""), "{d}");
        assert!(d.contains("+      \"content\": \"new\""), "{d}");
    }
}
