//! The plan: a pure function of (rendered units, lockfile, now, quota) to a `Plan` value
//! (docs/contract.md §6). It decides, for every unit, whether it goes out now, when it is scheduled and
//! why, whether it was edited after it was sent, and what blocks apply. Printing a plan is
//! `report`'s job; applying one is `apply`'s.
//!
//! It is also the guard against sending one push twice under two names: a pending unit whose
//! exact body was already sent (or may have been) under another key is an error until the
//! campaign says why (`moved_from` for a rename, `resend_of` for a deliberate second send).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};
use similar::TextDiff;

use crate::body::JsonBody;
use crate::quota::{self, Pending, Priority, Quota, Reason, Slot};
use crate::render::{Unit, unit_key};
use crate::state::{KeyState, Lock, LockIndex, Record, Status};

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

/// What the state says about bodies under other keys: the re-send guard's view of the lock.
struct Seen<'a> {
    /// Digest → keys of `sent`, `sending` or `unknown` records (and accepted renderings).
    by_digest: HashMap<&'a str, Vec<(&'a str, Status)>>,
    /// (audience, title, alert) of `sent` records → keys.
    by_look: HashMap<String, Vec<&'a str>>,
    /// Every campaign id the state knows, from records and keys.
    ids: HashSet<&'a str>,
}

impl<'a> Seen<'a> {
    fn new(lock: &'a Lock) -> Self {
        let mut seen = Seen {
            by_digest: HashMap::new(),
            by_look: HashMap::new(),
            ids: HashSet::new(),
        };
        // Another project's records (a shared scope) are its bodies and ids, not this one's.
        for r in lock
            .sends
            .iter()
            .filter(|r| r.project.is_none() && !r.is_test())
        {
            seen.ids.insert(r.campaign.as_str());
            seen.ids
                .insert(r.key.split_once('/').map_or(r.key.as_str(), |(id, _)| id));
            if r.status != Status::Rejected {
                seen.by_digest
                    .entry(r.digest.as_str())
                    .or_default()
                    .push((r.key.as_str(), r.status));
            }
            if let Some(accepted) = &r.accepted {
                seen.by_digest
                    .entry(accepted.digest.as_str())
                    .or_default()
                    .push((r.key.as_str(), Status::Sent));
            }
            if r.status == Status::Sent {
                seen.by_look
                    .entry(look_of_bytes(r.body.as_bytes()))
                    .or_default()
                    .push(r.key.as_str());
            }
        }
        seen
    }
}

/// What a reader sees of a push: its audience and notification title and alert.
fn look(body: &serde_json::Value) -> String {
    let field = |path: &str| body.pointer(path).cloned().unwrap_or_default();
    serde_json::json!([
        field("/audience"),
        field("/notification/title"),
        field("/notification/alert")
    ])
    .to_string()
}

/// [`look`] of a body's bytes, reading only the three fields instead of building the whole
/// JSON tree (it runs for every pending unit).
fn look_of_bytes(bytes: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Shape {
        #[serde(default)]
        audience: serde_json::Value,
        #[serde(default)]
        notification: Option<Headline>,
    }
    #[derive(Deserialize)]
    struct Headline {
        #[serde(default)]
        title: serde_json::Value,
        #[serde(default)]
        alert: serde_json::Value,
    }
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(Shape {
            audience,
            notification,
        }) => {
            let (title, alert) = notification
                .map_or((serde_json::Value::Null, serde_json::Value::Null), |n| {
                    (n.title, n.alert)
                });
            serde_json::json!([audience, title, alert]).to_string()
        }
        // Not the shape of a body (a `notification` that is no mapping): the general form.
        Err(_) => look(&serde_json::from_slice(bytes).unwrap_or_default()),
    }
}

/// Whether `key` belongs to campaign `id` (`id` itself or `id/<locale>`).
fn key_of(key: &str, id: &str) -> bool {
    key.strip_prefix(id)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// Makes the plan. `units` are in render order (file path, then locale order).
pub(crate) fn plan(units: &[Unit], lock: Option<&Lock>, now: DateTime<Utc>, quota: &Quota) -> Plan {
    plan_gated(units, lock, now, quota, None)
}

/// [`plan`] under `require_test_in`: a unit that would go out (now or later) whose content has
/// no `sent` test record in `gate` is `untested` instead, and takes no quota slot.
#[allow(clippy::too_many_lines)] // one pass per unit, then the scheduler; split it and the flow hides
pub(crate) fn plan_gated(
    units: &[Unit],
    lock: Option<&Lock>,
    now: DateTime<Utc>,
    quota: &Quota,
    gate: Option<&TestGate>,
) -> Plan {
    let empty = Lock::default();
    let index = LockIndex::new(lock.unwrap_or(&empty));
    let seen = Seen::new(lock.unwrap_or(&empty));
    let mut actions = Vec::with_capacity(units.len());
    let mut pending: Vec<(usize, Pending)> = Vec::new();
    let mut errors: Vec<PlanError> = Vec::new();
    // Old keys taken over by `moved_from`: no longer `gone`.
    let mut claimed: HashSet<String> = HashSet::new();
    // Digest → key of the pending units so far: one body pending twice is a copy too.
    let mut pending_bodies: HashMap<String, String> = HashMap::new();

    for unit in units {
        let links = &unit.schedule;
        for (field, r) in links
            .moved_from
            .iter()
            .map(|r| ("moved_from", r))
            .chain(links.resend_of.iter().map(|r| ("resend_of", r)))
        {
            if seen.ids.contains(r.id.as_str()) {
                continue;
            }
            let error = PlanError {
                file: r.origin.file.as_deref().unwrap_or(&unit.file).to_owned(),
                line: (r.origin.line > 0).then_some(r.origin.line),
                field: field.to_owned(),
                message: format!(
                    "`{}` is not in the state: {field} must name an id that was sent or imported \
                     before (check its spelling)",
                    r.id
                ),
            };
            if !errors.contains(&error) {
                errors.push(error);
            }
        }
        let old_keys: Vec<String> = links
            .moved_from
            .iter()
            .map(|r| unit_key(&r.id, unit.locale.as_deref()))
            .collect();
        claimed.extend(old_keys.iter().cloned());
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
            priority: links.priority,
            send_window: links.window.map(|w| w.to_string()),
            waits_behind: None,
            moved_from: links.moved_from.iter().map(|r| r.id.clone()).collect(),
            history_of: None,
            resend_of: links.resend_of.as_ref().map(|r| r.id.clone()),
            duplicate_of: None,
            warnings: Vec::new(),
            tested_at: None,
            order: (unit.file_index, unit.locale_index),
        };
        // Its own history first; else the history of the first former key that has one.
        let decided = |state: Option<&KeyState<'_>>| {
            matches!(
                state,
                Some(KeyState::Sent { .. } | KeyState::Unresolved { .. })
            )
        };
        let (state, history_key) = match index.state(&unit.key) {
            own if decided(own) => (own, unit.key.as_str()),
            own => old_keys
                .iter()
                .find_map(|k| {
                    let state = index.state(k);
                    decided(state).then_some((state, k.as_str()))
                })
                .unwrap_or((own, unit.key.as_str())),
        };
        if history_key != unit.key {
            planned.history_of = Some(history_key.to_owned());
        }
        match state {
            Some(KeyState::Sent { digest, body }) => {
                if *digest != unit.digest {
                    planned.action = Action::Changed;
                    planned.body = Some(JsonBody::from_bytes(&unit.bytes));
                    planned.diff = Some(diff(&body.value(), &unit.body_json()));
                    planned.note = Some(if history_key == unit.key {
                        format!(
                            "`{}` was already sent with another body; a push cannot be changed after sending. \
                             Revert the edit, give the campaign a new `id` to send it again, or run \
                             `pushform state accept {}` to take this rendering as the reference",
                            unit.key, unit.key
                        )
                    } else {
                        format!(
                            "`{}` takes over `{history_key}` (moved_from), which was sent with another body; \
                             a push cannot be changed after sending. Revert the edit, drop `moved_from` and \
                             add `resend_of` to send it again, or run `pushform state accept {history_key}` \
                             to take this rendering as the reference",
                            unit.key
                        )
                    });
                }
            }
            Some(KeyState::Unresolved { status }) => {
                planned.action = Action::Unresolved;
                planned.note = Some(unresolved_note(history_key, *status));
            }
            Some(KeyState::AllRejected) | None => {
                planned.body = Some(JsonBody::from_bytes(&unit.bytes));
                // Keys whose history may hold this body without it being a re-send.
                let ours = |key: &str| {
                    key == unit.key
                        || old_keys.iter().any(|k| k == key)
                        || links.resend_of.as_ref().is_some_and(|r| key_of(key, &r.id))
                };
                let twin = seen
                    .by_digest
                    .get(unit.digest.as_str())
                    .and_then(|keys| keys.iter().rev().find(|(k, _)| !ours(k)));
                if let Some((other, status)) = twin {
                    let other_id = other.split_once('/').map_or(*other, |(id, _)| id);
                    planned.action = Action::Duplicate;
                    planned.duplicate_of = Some((*other).to_owned());
                    let moved = links.moved_from.iter().any(|r| r.id == other_id);
                    planned.note = Some(if moved {
                        format!(
                            "this exact body (sha1 {}) is already `{status}` under `{other}`, a key of \
                             `{other_id}` named in moved_from but not the one this push takes over \
                             (moved_from maps each locale to the same locale of the old id): sending it \
                             would reach the same users twice. To send it again on purpose, add \
                             `resend_of: {other_id}`",
                            unit.digest
                        )
                    } else {
                        format!(
                            "this exact body (sha1 {}) is already `{status}` under `{other}`: sending it \
                             would reach the same users twice. If the campaign was renamed, add \
                             `moved_from: [{other_id}]`; to send it again on purpose, add `resend_of: {other_id}`",
                            unit.digest
                        )
                    });
                    actions.push(planned);
                    continue;
                }
                if let Some(other) = pending_bodies.get(&unit.digest) {
                    planned.action = Action::Duplicate;
                    planned.duplicate_of = Some(other.clone());
                    planned.note = Some(format!(
                        "this exact body (sha1 {}) is also pending as `{other}`: both would reach \
                         the same users. Delete one of the two (or make the bodies differ)",
                        unit.digest
                    ));
                    actions.push(planned);
                    continue;
                }
                pending_bodies.insert(unit.digest.clone(), unit.key.clone());
                let looks = look_of_bytes(&unit.bytes);
                if let Some(other) = seen
                    .by_look
                    .get(&looks)
                    .and_then(|keys| keys.iter().rev().find(|k| !ours(k)))
                {
                    planned.warnings.push(format!(
                        "same audience, title and alert as `{other}`, already sent: the users of \
                         `{other}` would see this notification again"
                    ));
                }
                if let Some(gate) = gate {
                    let content = crate::body::content_digest(&unit.bytes);
                    planned.tested_at = content.and_then(|c| gate.tested.get(&c).copied());
                    if planned.tested_at.is_none() {
                        planned.action = Action::Untested;
                        planned.note = Some(format!(
                            "this content was never test-sent in `{env}` (require_test_in): run \
                             `pushform send-test {key} --env {env}` and check it on a test device",
                            env = gate.environment,
                            key = unit.key
                        ));
                        actions.push(planned);
                        continue;
                    }
                }
                pending.push((
                    actions.len(),
                    Pending {
                        not_before: unit.not_before.map(|t| t.with_timezone(&Utc)),
                        not_after: unit.not_after.map(|t| t.with_timezone(&Utc)),
                        window: links.window,
                        priority: links.priority,
                    },
                ));
                planned.action = Action::Scheduled;
            }
        }
        actions.push(planned);
    }

    let constraints: Vec<Pending> = pending.iter().map(|(_, p)| *p).collect();
    let slots = quota::schedule(index.history(), quota, now, &constraints);
    for ((i, p), slot) in pending.iter().zip(&slots) {
        let planned = &mut actions[*i];
        match *slot {
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
                let within = match p.window {
                    Some(w) => format!("inside its send window ({w}) "),
                    None => String::new(),
                };
                planned.note = Some(match p.not_after {
                    Some(t) if t < now => format!("its not_after ({t}) has passed"),
                    Some(t) => format!("no quota slot is free {within}before its not_after ({t})"),
                    None if p.window.is_some() => format!("no quota slot is free {within}"),
                    None => "the quota allows no sends at all".to_owned(),
                });
            }
        }
    }
    // A unit waits behind a higher-priority one when, without the higher priorities, it
    // would go earlier (or at all). One more schedule per lower priority tells.
    let time_of = |slot: Slot| match slot {
        Slot::Now => Some(now),
        Slot::At { at, .. } => Some(at),
        Slot::Expired => None,
    };
    for level in [Priority::Normal, Priority::Low] {
        if !constraints.iter().any(|c| c.priority < level) {
            continue;
        }
        let kept: Vec<usize> = (0..constraints.len())
            .filter(|&n| constraints[n].priority >= level)
            .collect();
        let alone_constraints: Vec<Pending> = kept.iter().map(|&n| constraints[n]).collect();
        let alone = quota::schedule(index.history(), quota, now, &alone_constraints);
        for (&n, without) in kept.iter().zip(alone) {
            if constraints[n].priority != level {
                continue;
            }
            let with = time_of(slots[n]);
            let Some(without) = time_of(without) else {
                continue;
            };
            if with.is_some_and(|t| t <= without) {
                continue;
            }
            // Name the higher-priority unit closest before this one's slot.
            let ahead = (0..constraints.len())
                .filter(|&m| constraints[m].priority < level)
                .filter_map(|m| time_of(slots[m]).map(|t| (t, m)))
                .filter(|(t, _)| with.is_none_or(|w| *t <= w))
                .max_by_key(|(t, _)| *t)
                .map(|(_, m)| pending[m].0);
            if let Some(j) = ahead {
                actions[pending[n].0].waits_behind = Some(actions[j].key.clone());
            }
        }
    }

    let current: HashSet<&str> = units.iter().map(|u| u.key.as_str()).collect();
    // The latest record of every key gone from the files, in one pass: searching the records
    // once per gone key made a plan quadratic in them.
    let mut latest_of: HashMap<&str, &Record> = HashMap::new();
    for record in lock.map_or(&[][..], |l| &l.sends[..]) {
        if record.project.is_none() && !record.is_test() && !current.contains(record.key.as_str()) {
            latest_of.insert(record.key.as_str(), record);
        }
    }
    for key in index.keys() {
        if current.contains(key) || claimed.contains(*key) {
            continue;
        }
        let latest = latest_of
            .get(key)
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
            _ => Some(
                "no longer in the campaign files; a sent push cannot be undone (if the campaign \
                 was renamed, add `moved_from` to it)"
                    .to_owned(),
            ),
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
            priority: Priority::Normal,
            send_window: None,
            waits_behind: None,
            moved_from: Vec::new(),
            history_of: None,
            resend_of: None,
            duplicate_of: None,
            warnings: Vec::new(),
            tested_at: None,
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
        errors,
        require_test_in: gate.map(|g| g.environment.clone()),
    }
}

fn unresolved_note(key: &str, status: Status) -> String {
    format!(
        "the last attempt is `{status}`: it may have reached the provider. Check whether the push \
         arrived, then run `pushform state resolve {key} --sent [--push-id ID]` or `--not-sent`"
    )
}

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
            body: unit.body_json().into(),
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
            project: None,
            kind: None,
            environment: None,
            app_key_sha1: None,
            rehearsal: None,
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
    fn keys_gone_from_the_files_are_planned_in_linear_time() {
        // 60,000 sent pushes whose campaigns were deleted: searching the records once per gone
        // key took minutes at this size; one pass takes a fraction of a second.
        let (_dir, units) = units(&["a"]);
        let mut lock = Lock::new();
        for i in 0..60_000 {
            let mut r = record(&units[0], Status::Sent, "2026-11-20T10:00:00+08:00");
            r.key = format!("gone-{i}");
            r.campaign.clone_from(&r.key);
            lock.sends.push(r);
        }
        let started = std::time::Instant::now();
        let plan = plan(&units, Some(&lock), now(), &quota());
        let took = started.elapsed();
        assert_eq!(plan.summary().gone, 60_000);
        let gone = plan.actions.iter().find(|a| a.key == "gone-59999").unwrap();
        assert_eq!(gone.campaign, "gone-59999");
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
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

    /// A record of `unit`'s body under another key.
    fn record_as(unit: &Unit, key: &str, status: Status, at: &str) -> Record {
        Record {
            key: key.to_owned(),
            campaign: key.split('/').next().unwrap_or(key).to_owned(),
            ..record(unit, status, at)
        }
    }

    fn id_ref(id: &str) -> crate::campaign::IdRef {
        crate::campaign::IdRef {
            id: id.to_owned(),
            origin: crate::node::Origin::default(),
        }
    }

    #[test]
    fn a_body_sent_or_maybe_sent_under_another_key_is_a_duplicate() {
        for status in [Status::Sent, Status::Sending, Status::Unknown] {
            let (_dir, units) = units(&["a"]);
            let mut lock = Lock::new();
            lock.append(record_as(
                &units[0],
                "old",
                status,
                "2026-11-20T10:00:00+08:00",
            ));
            let plan = plan(&units, Some(&lock), now(), &quota());
            let a = plan.actions.iter().find(|x| x.key == "a").unwrap();
            assert_eq!(a.action, Action::Duplicate, "{status}");
            assert_eq!(a.duplicate_of.as_deref(), Some("old"));
            assert!(a.note.as_deref().unwrap().contains("`old`"));
            assert!(plan.has_errors());
        }
        // A rejected attempt delivered nothing: not a duplicate.
        let (_dir, units) = units(&["a"]);
        let mut lock = Lock::new();
        lock.append(record_as(
            &units[0],
            "old",
            Status::Rejected,
            "2026-11-20T10:00:00+08:00",
        ));
        let plan = plan(&units, Some(&lock), now(), &quota());
        assert_eq!(plan.actions[0].action, Action::Send);
    }

    #[test]
    fn one_body_pending_under_two_keys_is_sent_once_at_most() {
        let (_dir, mut units) = units(&["a", "b"]);
        let (bytes, digest) = (units[0].bytes.clone(), units[0].digest.clone());
        units[1].bytes = bytes;
        units[1].digest = digest;
        let plan = plan(&units, None, now(), &quota());
        let get = |key: &str| plan.actions.iter().find(|x| x.key == key).unwrap();
        assert_eq!(get("a").action, Action::Send);
        assert_eq!(get("b").action, Action::Duplicate);
        assert_eq!(get("b").duplicate_of.as_deref(), Some("a"));
        let note = get("b").note.as_deref().unwrap();
        assert!(note.contains("both would reach the same users."), "{note}");
        assert!(plan.has_errors());
    }

    #[test]
    fn moved_from_takes_over_the_old_history_and_resend_of_allows_a_second_send() {
        let (_dir, mut units) = units(&["a"]);
        let mut lock = Lock::new();
        lock.append(record_as(
            &units[0],
            "old",
            Status::Sent,
            "2026-11-20T10:00:00+08:00",
        ));
        units[0].schedule.moved_from = vec![id_ref("old")];
        let moved = plan(&units, Some(&lock), now(), &quota());
        assert_eq!(moved.actions.len(), 1, "{moved:#?}"); // `old` is not gone
        assert_eq!(moved.actions[0].action, Action::UpToDate);
        assert_eq!(moved.actions[0].history_of.as_deref(), Some("old"));
        assert!(moved.errors.is_empty());

        units[0].schedule.moved_from.clear();
        units[0].schedule.resend_of = Some(id_ref("old"));
        let again = plan(&units, Some(&lock), now(), &quota());
        let a = again.actions.iter().find(|x| x.key == "a").unwrap();
        assert_eq!(a.action, Action::Send);
        assert!(a.warnings.is_empty());
        assert_eq!(
            again
                .actions
                .iter()
                .find(|x| x.key == "old")
                .unwrap()
                .action,
            Action::Gone
        );

        // An unresolved old key blocks the unit that takes it over.
        let mut lock = Lock::new();
        lock.append(record_as(
            &units[0],
            "old",
            Status::Unknown,
            "2026-11-20T10:00:00+08:00",
        ));
        units[0].schedule.resend_of = None;
        units[0].schedule.moved_from = vec![id_ref("old")];
        let blocked = plan(&units, Some(&lock), now(), &quota());
        assert_eq!(blocked.actions.len(), 1);
        assert_eq!(blocked.actions[0].action, Action::Unresolved);
        assert!(
            blocked.actions[0]
                .note
                .as_deref()
                .unwrap()
                .contains("resolve old")
        );
    }

    #[test]
    fn only_units_that_a_higher_priority_really_delays_wait_behind_it() {
        let (_dir, mut units) = units(&["a", "b", "c", "d", "e"]);
        units[3].schedule.priority = Priority::High;
        // Far in the future: no one takes its slot then.
        units[4].not_before = Some("2026-12-10T10:00:00+08:00".parse().unwrap());
        let plan = plan(&units, None, now(), &quota());
        let get = |key: &str| plan.actions.iter().find(|x| x.key == key).unwrap();
        assert_eq!(get("d").action, Action::Send);
        assert_eq!(get("a").action, Action::Send);
        assert_eq!(get("a").waits_behind, None);
        // Without d, b would go now and c at 16:00.
        assert_eq!(get("b").waits_behind.as_deref(), Some("d"));
        assert_eq!(get("c").waits_behind.as_deref(), Some("d"));
        assert_eq!(get("e").waits_behind, None);
        assert_eq!(get("e").reason, Some(Reason::NotBefore));
    }

    #[test]
    fn moved_from_maps_keys_by_locale_and_says_so_when_they_do_not_match() {
        let (_dir, mut units) = units(&["a"]);
        let mut lock = Lock::new();
        // Sent as `old/en`; the unit has no locale, so it maps to `old`.
        lock.append(record_as(
            &units[0],
            "old/en",
            Status::Sent,
            "2026-11-20T10:00:00+08:00",
        ));
        units[0].schedule.moved_from = vec![id_ref("old")];
        let plan = plan(&units, Some(&lock), now(), &quota());
        let a = plan.actions.iter().find(|x| x.key == "a").unwrap();
        assert_eq!(a.action, Action::Duplicate);
        assert!(
            a.note.as_deref().unwrap().contains("named in moved_from"),
            "{a:#?}"
        );
    }

    #[test]
    fn a_window_that_opens_after_not_after_expires_the_unit_and_says_so() {
        let (_dir, mut units) = units(&["a"]);
        units[0].schedule.window = Some(crate::window::Window {
            from: 20 * 60,
            to: 21 * 60,
            tz: chrono_tz::Asia::Shanghai,
        });
        units[0].not_after = Some("2026-11-26T19:00:00+08:00".parse().unwrap());
        let plan = plan(&units, None, now(), &quota());
        assert_eq!(plan.actions[0].action, Action::Expired);
        let note = plan.actions[0].note.as_deref().unwrap();
        assert!(
            note.contains("inside its send window (20:00–21:00 Asia/Shanghai)"),
            "{note}"
        );
        assert_eq!(
            plan.actions[0].send_window.as_deref(),
            Some("20:00–21:00 Asia/Shanghai")
        );
    }

    #[test]
    fn references_to_ids_the_state_never_saw_are_errors() {
        let (_dir, mut units) = units(&["a"]);
        units[0].schedule.moved_from = vec![id_ref("nope")];
        let plan = plan(&units, None, now(), &quota());
        assert_eq!(plan.errors.len(), 1);
        assert_eq!(plan.errors[0].field, "moved_from");
        assert!(plan.has_errors());
        assert_eq!(
            plan.summary_line(),
            "Plan: 1 to send now, 0 scheduled, 0 expired, 1 error."
        );
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
