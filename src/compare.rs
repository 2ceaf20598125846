//! What a change does to the queue: a plan compared with the plan of the base branch.
//!
//! The quota is shared, so a pull request that adds one campaign can delay campaigns that were
//! approved long ago. A plan of the whole repository lists every pending push and cannot say which
//! ones this change moved; comparing it with a plan saved from the base branch (`plan --out` there,
//! `plan --compare-to` here) can. This is a pure function of the two `Plan` values: matching is
//! by unit key, and printing the result is `report`'s job.

use chrono::{DateTime, TimeDelta, Utc};

use crate::plan::{Action, Plan};

/// Where a unit stands in one plan, for comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Goes out at this instant (`send` or `scheduled`).
    At(DateTime<Utc>),
    /// `expired`: no slot before its `not_after`.
    Expired,
}

/// A unit this change adds to the queue: pending here, not pending in the base plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Added {
    pub key: String,
    /// `None` when the unit is not pending in the base plan but is here and expired.
    pub at: Option<DateTime<Utc>>,
}

/// A unit pending in both plans whose slot this change moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Moved {
    pub key: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Moved {
    /// Later (positive) or earlier (negative).
    pub(crate) fn by(&self) -> TimeDelta {
        self.to - self.from
    }
}

/// A unit pending in the base plan that this change makes expire (or adds already expired).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Expiry {
    pub key: String,
    /// Its slot in the base plan; `None` for a unit new in this change.
    pub was: Option<DateTime<Utc>>,
}

/// What this change does to the queue, compared with the base plan.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Comparison {
    /// The base plan's `now` and lock serial, to say what was compared with what.
    pub base_now: Option<DateTime<Utc>>,
    pub base_serial: Option<u64>,
    /// New pending units, in this plan's order.
    pub added: Vec<Added>,
    /// Pending in both, at another time, in this plan's order.
    pub moved: Vec<Moved>,
    /// Expired here and not in the base plan.
    pub expired: Vec<Expiry>,
    /// Pending in the base plan and no longer pending here (removed, or now sent or blocked).
    pub dropped: Vec<String>,
}

impl Comparison {
    /// True when this change leaves every unit of the base queue where it was and adds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.moved.is_empty()
            && self.expired.is_empty()
            && self.dropped.is_empty()
    }
}

fn standing(action: Action, at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Option<Standing> {
    match action {
        // A `send` goes out at its plan's `now`; two plans made seconds apart must not show
        // every due unit as moved, so `send` stands at the plan's own `now`, compared below.
        Action::Send => Some(Standing::At(at.unwrap_or(now))),
        Action::Scheduled => at.map(Standing::At),
        Action::Expired => Some(Standing::Expired),
        _ => None,
    }
}

/// Compares `head` (this change) with `base` (the base branch), by unit key.
///
/// A unit due now in both plans is never "moved", whatever the two plans' `now`: both say "send
/// now". Every other difference of slot is a move, to the second.
pub(crate) fn compare(base: &Plan, head: &Plan) -> Comparison {
    let base_units: std::collections::HashMap<&str, (Action, Option<Standing>)> = base
        .actions
        .iter()
        .map(|a| {
            (
                a.key.as_str(),
                (a.action, standing(a.action, a.scheduled_at, base.now)),
            )
        })
        .collect();
    let mut out = Comparison {
        base_now: Some(base.now),
        base_serial: base.lock.as_ref().map(|l| l.serial),
        ..Comparison::default()
    };
    let mut pending_here = std::collections::HashSet::new();
    for a in &head.actions {
        let Some(now_standing) = standing(a.action, a.scheduled_at, head.now) else {
            continue;
        };
        pending_here.insert(a.key.as_str());
        let before = base_units
            .get(a.key.as_str())
            .and_then(|(action, s)| s.map(|s| (*action, s)));
        match (before, now_standing) {
            // New, or expired before and now given a slot: either way it joins the queue.
            (None | Some((_, Standing::Expired)), Standing::At(at)) => out.added.push(Added {
                key: a.key.clone(),
                at: Some(at),
            }),
            (None, Standing::Expired) => out.expired.push(Expiry {
                key: a.key.clone(),
                was: None,
            }),
            (Some((Action::Send, _)), Standing::At(_)) if a.action == Action::Send => {}
            (Some((_, Standing::At(from))), Standing::At(to)) => {
                if from != to {
                    out.moved.push(Moved {
                        key: a.key.clone(),
                        from,
                        to,
                    });
                }
            }
            (Some((_, Standing::At(from))), Standing::Expired) => out.expired.push(Expiry {
                key: a.key.clone(),
                was: Some(from),
            }),
            // Expired in both: nothing new.
            (Some((_, Standing::Expired)), Standing::Expired) => {}
        }
    }
    for a in &base.actions {
        if matches!(a.action, Action::Send | Action::Scheduled)
            && !pending_here.contains(a.key.as_str())
        {
            out.dropped.push(a.key.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FORMAT_VERSION, PlannedUnit};

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A planned unit from its JSON form, as in a saved plan (newer fields take defaults).
    fn unit(key: &str, action: Action, at: Option<&str>) -> PlannedUnit {
        serde_json::from_value(serde_json::json!({
            "key": key, "campaign": key, "locale": null, "file": null, "action": action,
            "scheduled_at": at, "reason": null, "digest": null, "body": null, "diff": null,
            "note": null,
        }))
        .unwrap()
    }

    /// A plan from its JSON form, as `plan --out` saves it (newer fields take defaults).
    fn plan(now: &str, actions: Vec<PlannedUnit>) -> Plan {
        serde_json::from_value(serde_json::json!({
            "format_version": FORMAT_VERSION, "now": now, "lock": null,
            "quota": {"per_hour": 2, "per_day": 3, "timezone": "Asia/Shanghai"},
            "actions": serde_json::to_value(actions).unwrap(),
        }))
        .unwrap()
    }

    #[test]
    fn an_added_unit_that_takes_a_slot_moves_the_later_ones() {
        let base = plan(
            "2026-11-26T07:00:00Z",
            vec![
                unit("a", Action::Send, Some("2026-11-26T07:00:00Z")),
                unit("b", Action::Scheduled, Some("2026-11-26T08:00:00Z")),
                unit("c", Action::Scheduled, Some("2026-11-26T16:00:00Z")),
            ],
        );
        let head = plan(
            // Planned a few seconds later: `a` is due now in both and is not "moved".
            "2026-11-26T07:00:09Z",
            vec![
                unit("a", Action::Send, Some("2026-11-26T07:00:09Z")),
                unit("new", Action::Send, Some("2026-11-26T07:00:09Z")),
                unit("b", Action::Scheduled, Some("2026-11-26T16:00:00Z")),
                unit("c", Action::Expired, None),
            ],
        );
        let c = compare(&base, &head);
        assert_eq!(
            c.added,
            [Added {
                key: "new".into(),
                at: Some(t("2026-11-26T07:00:09Z"))
            }]
        );
        assert_eq!(c.moved.len(), 1);
        assert_eq!(c.moved[0].key, "b");
        assert_eq!(c.moved[0].by(), TimeDelta::hours(8));
        assert_eq!(
            c.expired,
            [Expiry {
                key: "c".into(),
                was: Some(t("2026-11-26T16:00:00Z"))
            }]
        );
        assert!(c.dropped.is_empty());
        assert!(!c.is_empty());
    }

    #[test]
    fn identical_plans_compare_empty_and_removed_units_are_dropped() {
        let base = plan(
            "2026-11-26T07:00:00Z",
            vec![
                unit("a", Action::Scheduled, Some("2026-11-26T08:00:00Z")),
                unit("gone", Action::Scheduled, Some("2026-11-26T09:00:00Z")),
                unit("old", Action::Expired, None),
            ],
        );
        assert!(compare(&base, &base).is_empty());
        let head = plan(
            "2026-11-26T07:00:00Z",
            vec![
                unit("a", Action::Scheduled, Some("2026-11-26T08:00:00Z")),
                unit("old", Action::Expired, None),
            ],
        );
        let c = compare(&base, &head);
        assert_eq!(c.dropped, ["gone"]);
        assert!(c.added.is_empty() && c.moved.is_empty() && c.expired.is_empty());
    }

    #[test]
    fn a_unit_due_now_that_this_change_delays_is_moved() {
        let base = plan(
            "2026-11-26T07:00:00Z",
            vec![unit("a", Action::Send, Some("2026-11-26T07:00:00Z"))],
        );
        let head = plan(
            "2026-11-26T07:00:00Z",
            vec![unit("a", Action::Scheduled, Some("2026-11-26T16:00:00Z"))],
        );
        let c = compare(&base, &head);
        assert_eq!(c.moved[0].by(), TimeDelta::hours(9));
    }
}
