//! Deciding each unit's action against the state and the quota: the body of [`plan`].
//!
//! One function on purpose: every rule reads the same per-unit state (history, pending bodies,
//! the gate), and the order of the rules is the order of precedence of the actions.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::seen::{Seen, key_of, look_of_bytes};
use super::{
    Action, FORMAT_VERSION, LockRef, Plan, PlanError, PlannedUnit, QuotaRef, TestGate, diff,
};
use crate::quota::{self, Pending, Priority, Quota, Slot};
use crate::render::{Unit, unit_key};
use crate::state::{KeyState, Lock, LockIndex, Record, Status};

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
                    planned.body = Some(unit.json_body());
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
                planned.body = Some(unit.json_body());
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
