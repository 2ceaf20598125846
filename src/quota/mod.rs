//! Send-quota arithmetic for the provider's broadcast API.
//!
//! The provider rejects a broadcast once an account has sent `per_hour` times in
//! any rolling 60 minutes or `per_day` times on one natural (local-calendar) day,
//! and a rejected send still burns an attempt. Rather than discover that at
//! apply time, `pushform` plans every pending unit onto the earliest slot that
//! keeps both limits legal, so `plan` can show when each unit will go out and
//! why it waits, and `apply` never sends into a closed window. Everything here
//! is a pure function of its arguments (no clock, no I/O), which keeps plans
//! reproducible and lets the rules be property-tested.
//!
//! `calendar` holds the natural-day arithmetic (zones, DST, skipped dates); `engine` the
//! search for the earliest legal instant. This file is the API: the types, [`schedule`],
//! [`usage`] and the free-slot queries.

mod calendar;
mod engine;
#[cfg(test)]
mod tests;

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::window::Window;

pub(crate) use calendar::day_bounds;
use engine::{Engine, SlotSearch};

/// The rolling window is exactly one hour: a send 60 minutes after another
/// already falls into a fresh window.
const HOUR: TimeDelta = TimeDelta::hours(1);

/// Send limits of one account. A limit of 0 means nothing can ever be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Quota {
    /// Sends allowed in any window `(t - 60 min, t]`.
    pub per_hour: u32,
    /// Sends allowed on one natural day in `tz`.
    pub per_day: u32,
    /// Time zone whose calendar defines the natural day.
    pub tz: Tz,
}

/// Why a unit cannot go out now. Serialized with the machine names
/// `hour_quota`, `day_quota`, `not_before` and `send_window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Reason {
    /// The rolling 60-minute window is full.
    HourQuota,
    /// The natural day is full; the unit moves to the start of the next day.
    DayQuota,
    /// The unit's own `not_before` is later than now.
    NotBefore,
    /// The unit's send window is closed; it waits for the window to open.
    SendWindow,
}

impl Reason {
    /// The machine name, identical to the serde representation.
    #[must_use]
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Self::HourQuota => "hour_quota",
            Self::DayQuota => "day_quota",
            Self::NotBefore => "not_before",
            Self::SendWindow => "send_window",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which pending units pick their slots first. Ordered `High < Normal < Low`, so sorting
/// ascending puts the most urgent first.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    High,
    #[default]
    Normal,
    Low,
}

impl Priority {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The time constraints of one unit waiting to be sent. Both bounds are inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    /// The hours in which it may go out; `None` means any time.
    pub window: Option<Window>,
    pub priority: Priority,
}

/// Where a pending unit lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// It can be sent at `now`.
    Now,
    /// It has to wait until `at`, because of `reason`.
    At { at: DateTime<Utc>, reason: Reason },
    /// No legal slot exists at or before its `not_after` (or at all).
    Expired,
}

/// Sends already counted against the quota around `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Sends in `(now - 60 min, now]`.
    pub last_hour: u32,
    /// Sends on `now`'s natural day, including any recorded after `now`,
    /// because the day limit counts them too.
    pub today: u32,
    /// First instant of `now`'s natural day.
    pub day_start: DateTime<Utc>,
    /// First instant of the following natural day.
    pub day_end: DateTime<Utc>,
}

/// Assigns every pending unit its earliest legal slot.
///
/// `history`: instants of every earlier send attempt (any order, may contain
/// duplicates, and may contain instants after `now`).
/// `pending`: units in their tie-break order (file path, then locale order) as
/// given by the caller.
/// Returns one [`Slot`] per pending unit, in the same index order as `pending`.
///
/// Units are processed by a stable sort on (priority, `max(now, not_before)`).
/// Each one gets the earliest instant, not before that and not before the
/// slot of the previous unit of the same priority, that lies inside its send
/// window and at which one more send keeps every 60-minute window containing
/// it and its natural day within the quota. A unit whose slot would fall after
/// its `not_after` is [`Slot::Expired`] and uses no quota.
///
/// Priority decides who picks first, not who may go at all: the previous-slot
/// floor does not cross priorities, so a `normal` unit still takes a slot that
/// a `high` one could not use (its `not_before` or window is later) rather than
/// wait behind it.
///
/// The reason of a [`Slot::At`] is the constraint that last moved the unit: a
/// quota move or its window, else its own `not_before`, else (when only the
/// previous unit's later slot holds it back) the previous unit's reason. A
/// `not_before` equal to the previous slot counts as the unit's own.
#[must_use]
pub(crate) fn schedule(
    history: &[DateTime<Utc>],
    quota: &Quota,
    now: DateTime<Utc>,
    pending: &[Pending],
) -> Vec<Slot> {
    let mut slots = vec![Slot::Expired; pending.len()];
    let Some(mut engine) = Engine::new(history, quota, pending.len()) else {
        return slots;
    };

    let earliest = |p: &Pending| p.not_before.map_or(now, |nb| nb.max(now));
    let mut order: Vec<usize> = (0..pending.len()).collect();
    // Stable, so equal keys keep the caller's tie-break order.
    order.sort_by_key(|&i| (pending[i].priority, earliest(&pending[i])));

    // A lower bound for every later candidate plus the reason that put it there.
    // It carries the previous unit's slot (so ordering inherits that unit's
    // reason) and how far an expired unit's search proved every instant
    // illegal. Skipping that stretch is safe because later units start no
    // earlier and committing sends only removes legal instants; it is what
    // keeps the total work linear instead of every unit re-walking a full
    // stretch of days.
    let mut floor: Option<(DateTime<Utc>, Reason)> = None;
    let mut priority = None;
    // From here on nothing is legal for anyone (the end of representable time).
    let mut dead: Option<DateTime<Utc>> = None;
    for i in order {
        let unit = pending[i];
        // A new priority starts afresh: its units may start earlier than the last slot, so
        // neither the ordering floor nor a proven stretch carries over.
        if priority != Some(unit.priority) {
            priority = Some(unit.priority);
            floor = None;
        }
        let mut start = now;
        let mut reason = None;
        if let Some(nb) = unit.not_before
            && nb > start
        {
            start = nb;
            reason = Some(Reason::NotBefore);
        }
        if let Some((at, why)) = floor
            && at > start
        {
            start = at;
            reason = Some(why);
        }
        if dead.is_some_and(|d| start >= d) {
            continue;
        }
        match engine.search(start, reason, unit.not_after, unit.window) {
            SlotSearch::Found { at, reason } => {
                engine.line.commit(at);
                slots[i] = match reason {
                    // Every move sets a reason and moves strictly forward from
                    // `now`, so no reason means the slot is `now` itself.
                    None => Slot::Now,
                    Some(reason) => {
                        floor = Some((at, reason));
                        Slot::At { at, reason }
                    }
                };
            }
            SlotSearch::Expired { proven } => {
                if proven.is_some() {
                    floor = proven;
                }
            }
            // Later units of this priority start no earlier, so they cannot fare better.
            SlotSearch::Unreachable => dead = Some(start),
        }
    }
    slots
}

/// Counts the sends that weigh on a send at `now`.
#[must_use]
pub(crate) fn usage(history: &[DateTime<Utc>], quota: &Quota, now: DateTime<Utc>) -> Usage {
    let (day_start, day_end) = day_bounds(now, quota.tz);
    let hour_start = now.checked_sub_signed(HOUR);
    let last_hour = history
        .iter()
        .filter(|&&s| s <= now && hour_start.is_none_or(|h| s > h))
        .count();
    let today = history
        .iter()
        .filter(|&&s| day_start <= s && s < day_end)
        .count();
    Usage {
        last_hour: saturate_u32(last_hour),
        today: saturate_u32(today),
        day_start,
        day_end,
    }
}

/// The next `n` free slots from `from` (each one is a legal send assuming all
/// the previous free slots were used), stopping at `until` (inclusive).
///
/// Slots may repeat an instant when the quota allows several sends at once.
#[must_use]
pub(crate) fn free_slots(
    history: &[DateTime<Utc>],
    quota: &Quota,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    n: usize,
) -> Vec<DateTime<Utc>> {
    free_slots_in(history, quota, from, until, n, None)
}

/// [`free_slots`] inside a send window: each slot is also an instant the window is open.
#[must_use]
pub(crate) fn free_slots_in(
    history: &[DateTime<Utc>],
    quota: &Quota,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    n: usize,
    window: Option<Window>,
) -> Vec<DateTime<Utc>> {
    let mut slots = Vec::new();
    let Some(mut engine) = Engine::new(history, quota, n.min(1024)) else {
        return slots;
    };
    let mut start = from;
    // Bounded by `n`; each search is bounded on its own (see `Engine::search`).
    for _ in 0..n {
        match engine.search(start, None, Some(until), window) {
            SlotSearch::Found { at, .. } => {
                engine.line.commit(at);
                slots.push(at);
                start = at;
            }
            SlotSearch::Expired { .. } | SlotSearch::Unreachable => break,
        }
    }
    slots
}

fn saturate_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
