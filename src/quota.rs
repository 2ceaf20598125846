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

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono::{LocalResult, Timelike};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::window::Window;

/// The rolling window is exactly one hour: a send 60 minutes after another
/// already falls into a fresh window.
const HOUR: TimeDelta = TimeDelta::hours(1);

/// Send limits of one account. A limit of 0 means nothing can ever be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
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
pub enum Reason {
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
    pub const fn as_str(self) -> &'static str {
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
pub struct Pending {
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
    /// The hours in which it may go out; `None` means any time.
    pub window: Option<Window>,
    pub priority: Priority,
}

/// Where a pending unit lands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// It can be sent at `now`.
    Now,
    /// It has to wait until `at`, because of `reason`.
    At { at: DateTime<Utc>, reason: Reason },
    /// No legal slot exists at or before its `not_after` (or at all).
    Expired,
}

/// Sends already counted against the quota around `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
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
pub fn schedule(
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
            Outcome::Found { at, reason } => {
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
            Outcome::Expired { proven } => {
                if proven.is_some() {
                    floor = proven;
                }
            }
            // Later units of this priority start no earlier, so they cannot fare better.
            Outcome::Unreachable => dead = Some(start),
        }
    }
    slots
}

/// Counts the sends that weigh on a send at `now`.
#[must_use]
pub fn usage(history: &[DateTime<Utc>], quota: &Quota, now: DateTime<Utc>) -> Usage {
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
pub fn free_slots(
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
pub fn free_slots_in(
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
            Outcome::Found { at, .. } => {
                engine.line.commit(at);
                slots.push(at);
                start = at;
            }
            Outcome::Expired { .. } | Outcome::Unreachable => break,
        }
    }
    slots
}

/// Start of the natural day containing `t` in `tz`, and the start of the next
/// one.
///
/// Days follow the local calendar, so they last 23 or 25 hours across DST
/// changes; when local midnight does not exist the day starts at the first
/// instant of that date, when it exists twice at the earlier one, and a date
/// skipped entirely (Pacific/Apia, 2011-12-30) yields a day that ends where the
/// following existing date begins. In the rare historical spots where the
/// local calendar ran backwards over midnight (America/Sitka in 1867), and at
/// the very ends of the representable range, it falls back to the 24-hour day
/// of `t`'s own UTC offset so that the result still contains `t` (such days
/// may overlap their neighbours). Never panics; at the last representable
/// instant the end saturates to it.
#[must_use]
pub fn day_bounds(t: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let date = local_naive(t, tz).map(|local| local.date());
    let start = date.and_then(|d| first_instant_of(d, tz));
    let end = date
        .and_then(|d| d.succ_opt())
        .and_then(|d| first_instant_of(d, tz));
    match (start, end) {
        (Some(start), Some(end)) if start <= t && t < end => (start, end),
        _ => fixed_offset_day(t, tz),
    }
}

fn saturate_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `t` read on the wall clock of `tz`; `None` only at the edge of chrono's range.
fn local_naive(t: DateTime<Utc>, tz: Tz) -> Option<NaiveDateTime> {
    let offset = tz.offset_from_utc_datetime(&t.naive_utc()).fix();
    t.naive_utc()
        .checked_add_signed(TimeDelta::seconds(i64::from(offset.local_minus_utc())))
}

fn first_instant_of(date: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    let midnight = date.and_time(NaiveTime::MIN);
    match tz.from_local_datetime(&midnight) {
        LocalResult::Single(t) => Some(t.to_utc()),
        LocalResult::Ambiguous(a, b) => Some(a.to_utc().min(b.to_utc())),
        LocalResult::None => first_instant_at_or_after(midnight, tz),
    }
}

/// The first instant whose wall-clock reading is at least `local`, for a
/// `local` that falls into a gap. Offsets and transitions in the tz database are
/// whole seconds within ±16 h of UTC, so a binary search over whole seconds in
/// ±30 h is exact and takes at most 18 steps.
fn first_instant_at_or_after(local: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    const SPAN: i64 = 30 * 3600;
    let guess = local.and_utc().timestamp();
    let mut lo = guess
        .saturating_sub(SPAN)
        .max(DateTime::<Utc>::MIN_UTC.timestamp());
    let mut hi = guess
        .saturating_add(SPAN)
        .min(DateTime::<Utc>::MAX_UTC.timestamp());
    let reached = |secs: i64| {
        DateTime::from_timestamp(secs, 0)
            .and_then(|t| local_naive(t, tz))
            .is_some_and(|wall| wall >= local)
    };
    if !reached(hi) {
        return None;
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if reached(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

fn fixed_offset_day(t: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
    let since_midnight = local_naive(t, tz).map_or(TimeDelta::zero(), |local| {
        TimeDelta::seconds(i64::from(local.num_seconds_from_midnight()))
            + TimeDelta::nanoseconds(i64::from(local.nanosecond()))
    });
    let start = t
        .checked_sub_signed(since_midnight)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .min(t);
    let end = start
        .checked_add_signed(TimeDelta::days(1))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    // A leap-second reading can stretch a local day past 24 h; never end at or before `t`.
    let end = if end > t {
        end
    } else {
        t.checked_add_signed(TimeDelta::nanoseconds(1))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    };
    (start, end)
}

/// All sends that count, as one sorted sequence: `merged` holds the history
/// before the latest committed slot plus every committed slot, `rest[next..]`
/// the remaining history, and every element of `merged` precedes every element
/// of `rest[next..]`. Slots mostly come in non-decreasing order, so committing
/// is mostly an append.
struct Timeline {
    merged: Vec<DateTime<Utc>>,
    rest: Vec<DateTime<Utc>>,
    next: usize,
}

impl Timeline {
    fn new(history: &[DateTime<Utc>], extra: usize) -> Self {
        let mut rest = history.to_vec();
        rest.sort_unstable();
        Self {
            merged: Vec::with_capacity(rest.len().saturating_add(extra)),
            rest,
            next: 0,
        }
    }

    fn len(&self) -> usize {
        self.merged.len() + (self.rest.len() - self.next)
    }

    fn get(&self, i: usize) -> DateTime<Utc> {
        match i.checked_sub(self.merged.len()) {
            None => self.merged[i],
            Some(j) => self.rest[self.next + j],
        }
    }

    fn count_where(&self, below: impl Fn(&DateTime<Utc>) -> bool) -> usize {
        self.merged.partition_point(&below) + self.rest[self.next..].partition_point(&below)
    }

    fn count_lt(&self, x: DateTime<Utc>) -> usize {
        self.count_where(|s| *s < x)
    }

    fn count_le(&self, x: DateTime<Utc>) -> usize {
        self.count_where(|s| *s <= x)
    }

    /// Records a send at `t`. Within one priority slots come in non-decreasing
    /// order and this is an append; a lower priority may take a slot before
    /// a committed one, which costs one insertion into `merged`.
    fn commit(&mut self, t: DateTime<Utc>) {
        let moved = self.rest[self.next..].partition_point(|s| *s < t);
        self.merged
            .extend_from_slice(&self.rest[self.next..self.next + moved]);
        self.next += moved;
        if self.merged.last().is_none_or(|last| *last <= t) {
            self.merged.push(t);
        } else {
            let at = self.merged.partition_point(|s| *s <= t);
            self.merged.insert(at, t);
        }
    }
}

enum Outcome {
    /// `reason` is the last constraint that moved the candidate, `None` if none did.
    Found {
        at: DateTime<Utc>,
        reason: Option<Reason>,
    },
    /// Every instant from the search start up to (excluding) `proven.0` is
    /// illegal for any unit, `proven.1` being why; `None` if the quota moved
    /// nothing or the unit's own window moved it (which proves nothing for
    /// units with another window).
    Expired {
        proven: Option<(DateTime<Utc>, Reason)>,
    },
    /// No representable instant is legal.
    Unreachable,
}

struct Engine {
    per_hour: usize,
    per_day: usize,
    tz: Tz,
    line: Timeline,
}

impl Engine {
    /// `None` for a zero limit, where nothing can ever be legal.
    fn new(history: &[DateTime<Utc>], quota: &Quota, extra: usize) -> Option<Self> {
        if quota.per_hour == 0 || quota.per_day == 0 {
            return None;
        }
        Some(Self {
            per_hour: usize::try_from(quota.per_hour).unwrap_or(usize::MAX),
            per_day: usize::try_from(quota.per_day).unwrap_or(usize::MAX),
            tz: quota.tz,
            line: Timeline::new(history, extra),
        })
    }

    /// Earliest legal instant `>= c` inside `window`, giving up once past `not_after`.
    ///
    /// Termination: each hour move lands on `s + 60 min` for a counted send `s`
    /// with `s > c - 60 min`, pushing `s` out of every later window for good,
    /// and each day move leaves a day holding at least one send for good. So at
    /// most `2 * len` quota moves happen before a candidate is accepted or
    /// expires, and a window move only follows a quota move (or comes first).
    /// The loop bound only bites in the backwards-running calendars described
    /// at [`day_bounds`], where days may overlap, and there it is a hard stop.
    fn search(
        &self,
        mut c: DateTime<Utc>,
        mut reason: Option<Reason>,
        not_after: Option<DateTime<Utc>>,
        window: Option<Window>,
    ) -> Outcome {
        let mut moved_by = None;
        let mut window_moved = false;
        let bound = self.line.len().saturating_mul(4).saturating_add(4);
        for _ in 0..bound {
            if not_after.is_some_and(|na| c > na) {
                return Outcome::Expired {
                    proven: moved_by.filter(|_| !window_moved).map(|why| (c, why)),
                };
            }
            let (next, why) = if let Some(w) = window.filter(|w| !w.contains(c)) {
                match w.next_open(c) {
                    Some(open) => (Some(open), Reason::SendWindow),
                    // No opening within reach: this unit cannot go, others may.
                    None => return Outcome::Expired { proven: None },
                }
            } else if let Some(day_end) = self.day_full(c) {
                (Some(day_end), Reason::DayQuota)
            } else if let Some(blocker) = self.hour_blocker(c) {
                (blocker.checked_add_signed(HOUR), Reason::HourQuota)
            } else {
                return Outcome::Found { at: c, reason };
            };
            match next {
                Some(next) if next > c => {
                    c = next;
                    reason = Some(why);
                    moved_by = Some(why);
                    window_moved |= why == Reason::SendWindow;
                }
                // Past the end of representable time (or a leap-second reading
                // that chrono arithmetic cannot move past).
                _ => return Outcome::Unreachable,
            }
        }
        Outcome::Unreachable
    }

    /// The start of the next day if `c`'s day has no room left.
    fn day_full(&self, c: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (start, end) = day_bounds(c, self.tz);
        let used = self.line.count_lt(end) - self.line.count_lt(start);
        (used >= self.per_day).then_some(end)
    }

    /// A send `s` such that `per_hour` counted sends including `s` share a
    /// 60-minute window with `c`, choosing the latest such `s` so the next
    /// candidate, `s + 60 min`, skips as far as is safe. `None` if `c` fits.
    ///
    /// With `s` sorted, a window holding `c` and the run `s[i..i + p]` exists iff
    /// the run together with `c` spans less than 60 minutes. Runs entirely at or
    /// after `c` and runs entirely before it reduce to counting; only runs that
    /// straddle `c` need their own span checked, and there are fewer than `p`.
    fn hour_blocker(&self, c: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let p = self.per_hour;
        let lo = c
            .checked_sub_signed(HOUR)
            .map_or(0, |h| self.line.count_le(h));
        let mid = self.line.count_lt(c);
        let hi = c
            .checked_add_signed(HOUR)
            .map_or(self.line.len(), |h| self.line.count_lt(h));
        if hi - lo < p {
            return None;
        }
        if hi - mid >= p {
            return Some(self.line.get(hi - p));
        }
        if mid > 0 {
            let first = lo.max((mid + 1).saturating_sub(p));
            let last = (mid - 1).min(hi - p);
            for i in (first..=last).rev() {
                let head = self.line.get(i);
                if self.line.get(i + p - 1).signed_duration_since(head) < HOUR {
                    return Some(head);
                }
            }
        }
        (mid - lo >= p).then(|| self.line.get(mid - p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Asia, Australia, Pacific};
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("unambiguous local time")
            .to_utc()
    }

    fn quota(per_hour: u32, per_day: u32, tz: Tz) -> Quota {
        Quota {
            per_hour,
            per_day,
            tz,
        }
    }

    fn free() -> Pending {
        Pending::default()
    }

    fn after(not_before: DateTime<Utc>) -> Pending {
        Pending {
            not_before: Some(not_before),
            ..Pending::default()
        }
    }

    fn until(not_after: DateTime<Utc>) -> Pending {
        Pending {
            not_after: Some(not_after),
            ..Pending::default()
        }
    }

    fn at(at: DateTime<Utc>, reason: Reason) -> Slot {
        Slot::At { at, reason }
    }

    #[test]
    fn two_per_hour_three_per_day() {
        let now = utc("2026-05-10T10:00:00Z");
        let slots = schedule(&[], &quota(2, 3, Tz::UTC), now, &[free(); 5]);
        let next_day = utc("2026-05-11T00:00:00Z");
        assert_eq!(
            slots,
            [
                Slot::Now,
                Slot::Now,
                at(utc("2026-05-10T11:00:00Z"), Reason::HourQuota),
                at(next_day, Reason::DayQuota),
                // Only the ordering holds it back, so it inherits DayQuota.
                at(next_day, Reason::DayQuota),
            ]
        );
    }

    #[test]
    fn send_exactly_sixty_minutes_later_opens_a_new_window() {
        let history = [utc("2026-05-10T10:00:00Z"), utc("2026-05-10T10:30:00Z")];
        let q = quota(2, 10, Tz::UTC);
        let now = utc("2026-05-10T10:40:00Z");
        assert_eq!(
            schedule(&history, &q, now, &[free()]),
            [at(utc("2026-05-10T11:00:00Z"), Reason::HourQuota)]
        );
        let slots = free_slots(&history, &q, now, utc("2026-05-11T00:00:00Z"), 4);
        let expected =
            ["11:00", "11:30", "12:00", "12:30"].map(|hm| utc(&format!("2026-05-10T{hm}:00Z")));
        assert_eq!(slots, expected);
        assert_eq!(
            usage(&history, &q, utc("2026-05-10T10:59:59Z")).last_hour,
            2
        );
        assert_eq!(
            usage(&history, &q, utc("2026-05-10T11:00:00Z")).last_hour,
            1
        );
    }

    #[test]
    fn natural_day_follows_the_quota_time_zone() {
        // 23:30 and 00:00 in Shanghai: different local days, one UTC day.
        let history = [local(Asia::Shanghai, 2026, 5, 10, 23, 30)];
        let now = local(Asia::Shanghai, 2026, 5, 11, 0, 0);
        assert_eq!(now, utc("2026-05-10T16:00:00Z"));
        let in_shanghai = schedule(&history, &quota(2, 1, Asia::Shanghai), now, &[free()]);
        assert_eq!(in_shanghai, [Slot::Now]);
        let in_utc = schedule(&history, &quota(2, 1, Tz::UTC), now, &[free()]);
        assert_eq!(in_utc, [at(utc("2026-05-11T00:00:00Z"), Reason::DayQuota)]);
        assert_eq!(
            day_bounds(now, Asia::Shanghai),
            (utc("2026-05-10T16:00:00Z"), utc("2026-05-11T16:00:00Z"))
        );
        assert_eq!(usage(&history, &quota(2, 1, Asia::Shanghai), now).today, 0);
        assert_eq!(usage(&history, &quota(2, 1, Tz::UTC), now).today, 1);
    }

    #[test]
    fn new_york_dst_days_last_23_and_25_hours() {
        let ny = America::New_York;
        let spring = day_bounds(local(ny, 2026, 3, 8, 12, 0), ny);
        assert_eq!(
            spring,
            (utc("2026-03-08T05:00:00Z"), utc("2026-03-09T04:00:00Z"))
        );
        let fall = day_bounds(local(ny, 2026, 11, 1, 12, 0), ny);
        assert_eq!(
            fall,
            (utc("2026-11-01T04:00:00Z"), utc("2026-11-02T05:00:00Z"))
        );
        let (start, end) = day_bounds(local(ny, 2026, 6, 1, 12, 0), ny);
        assert_eq!(
            [spring.1 - spring.0, fall.1 - fall.0, end - start],
            [
                TimeDelta::hours(23),
                TimeDelta::hours(25),
                TimeDelta::hours(24)
            ]
        );
    }

    #[test]
    fn day_quota_moves_across_new_york_dst_days() {
        let ny = America::New_York;
        let q = quota(2, 1, ny);
        let spring = schedule(
            &[local(ny, 2026, 3, 8, 10, 0)],
            &q,
            local(ny, 2026, 3, 8, 11, 0),
            &[free()],
        );
        assert_eq!(spring, [at(utc("2026-03-09T04:00:00Z"), Reason::DayQuota)]);
        // 01:30 EDT and 01:30 EST, two hours apart, are on the same local day.
        let fall = schedule(
            &[utc("2026-11-01T05:30:00Z")],
            &q,
            utc("2026-11-01T07:30:00Z"),
            &[free()],
        );
        assert_eq!(fall, [at(utc("2026-11-02T05:00:00Z"), Reason::DayQuota)]);
    }

    #[test]
    fn midnight_in_a_gap_fold_or_skipped_date() {
        // Sao Paulo skipped 00:00-01:00 on 2018-11-04.
        let sp = America::Sao_Paulo;
        let (start, end) = day_bounds(utc("2018-11-04T15:00:00Z"), sp);
        assert_eq!(
            (start, end),
            (utc("2018-11-04T03:00:00Z"), utc("2018-11-05T02:00:00Z"))
        );
        assert_eq!(day_bounds(utc("2018-11-04T02:59:59Z"), sp).1, start);
        // Havana repeats 00:00-01:00 on 2026-11-01: the day starts at the first one.
        let havana = day_bounds(utc("2026-11-01T17:00:00Z"), America::Havana);
        assert_eq!(
            havana,
            (utc("2026-11-01T04:00:00Z"), utc("2026-11-02T05:00:00Z"))
        );
        // Apia skipped 2011-12-30 entirely.
        let apia = day_bounds(utc("2011-12-29T22:00:00Z"), Pacific::Apia);
        assert_eq!(
            apia,
            (utc("2011-12-29T10:00:00Z"), utc("2011-12-30T10:00:00Z"))
        );
    }

    #[test]
    fn day_bounds_contain_t_in_every_zone_and_never_panic() {
        let instants = [
            "1800-06-01T12:00:00Z",
            "1867-10-18T12:00:00Z",
            "1867-10-19T00:30:00Z",
            "1867-10-19T12:00:00Z",
            "1900-01-01T00:00:00Z",
            "1970-01-01T00:00:00Z",
            "2011-12-30T05:00:00Z",
            "2026-03-08T07:00:00Z",
            "2099-12-31T23:59:59Z",
        ]
        .map(utc);
        let extremes = [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC];
        for tz in chrono_tz::TZ_VARIANTS {
            for t in instants {
                let (start, end) = day_bounds(t, tz);
                assert!(start <= t && t < end, "{tz} {t}: {start} {end}");
                assert!(end - start <= TimeDelta::hours(48), "{tz} {t}");
            }
            for t in extremes {
                let (start, end) = day_bounds(t, tz);
                assert!(start <= t && t <= end, "{tz} {t:?}");
            }
        }
        // The calendar of Sitka ran back a day in 1867; scheduling across it still ends.
        let q = quota(1, 1, America::Sitka);
        let history: Vec<_> = (0..48).map(|h| instants[1] + TimeDelta::hours(h)).collect();
        let slots = schedule(&history, &q, instants[1], &[free(); 4]);
        assert!(slots.iter().all(|s| matches!(s, Slot::At { .. })));
        let _ = schedule(&[], &q, DateTime::<Utc>::MAX_UTC, &[free(); 2]);
        // A leap-second reading (nanoseconds >= 1e9) is accepted like any instant.
        let leap = utc("2016-12-31T23:59:60.5Z");
        let q = quota(1, 1, Asia::Kathmandu);
        let slots = schedule(&[leap, leap], &q, leap, &[free(); 2]);
        assert_eq!(slots[0], at(utc("2017-01-01T18:15:00Z"), Reason::DayQuota));
        assert_eq!(
            free_slots(&[leap], &q, leap, leap + TimeDelta::days(2), 5).len(),
            2
        );
    }

    #[test]
    fn not_before_is_the_reason_only_when_nothing_else_moved_the_unit() {
        let now = utc("2026-05-10T10:00:00Z");
        let q = quota(2, 3, Tz::UTC);
        let later = utc("2026-05-10T12:00:00Z");
        let past = utc("2026-05-10T09:00:00Z");
        assert_eq!(
            schedule(&[], &q, now, &[after(later), after(past)]),
            [at(later, Reason::NotBefore), Slot::Now]
        );
        // The day is full, so waiting until `later` is not enough.
        let history = [utc("2026-05-10T01:00:00Z"); 3];
        assert_eq!(
            schedule(&history, &q, now, &[after(later)]),
            [at(utc("2026-05-11T00:00:00Z"), Reason::DayQuota)]
        );
    }

    #[test]
    fn expired_units_take_no_slot() {
        let now = utc("2026-05-10T10:00:00Z");
        let q = quota(1, 5, Tz::UTC);
        let history = [utc("2026-05-10T09:50:00Z")];
        let slots = schedule(
            &history,
            &q,
            now,
            &[
                until(utc("2026-05-10T10:30:00Z")),
                free(),
                until(utc("2026-05-10T11:50:00Z")),
                until(past_of(now)),
            ],
        );
        assert_eq!(
            slots,
            [
                Slot::Expired,
                at(utc("2026-05-10T10:50:00Z"), Reason::HourQuota),
                // `not_after` is inclusive.
                at(utc("2026-05-10T11:50:00Z"), Reason::HourQuota),
                Slot::Expired,
            ]
        );
        let contradictory = Pending {
            not_before: Some(utc("2026-05-10T12:00:00Z")),
            not_after: Some(utc("2026-05-10T11:00:00Z")),
            ..Pending::default()
        };
        assert_eq!(schedule(&[], &q, now, &[contradictory]), [Slot::Expired]);
    }

    fn past_of(t: DateTime<Utc>) -> DateTime<Utc> {
        t - TimeDelta::minutes(1)
    }

    #[test]
    fn ordering_delay_inherits_the_previous_reason() {
        let now = utc("2026-05-10T10:00:00Z");
        let history = [utc("2026-05-10T08:00:00Z"), utc("2026-05-10T09:00:00Z")];
        let q = quota(2, 2, Tz::UTC);
        let noon = utc("2026-05-10T12:00:00Z");
        let next_day = utc("2026-05-11T00:00:00Z");
        assert_eq!(
            schedule(&history, &q, now, &[after(noon), free()]),
            // Processed as [free, after(noon)]; the second would say NotBefore on
            // its own, but it only waits because the first was pushed to tomorrow.
            [
                at(next_day, Reason::DayQuota),
                at(next_day, Reason::DayQuota)
            ]
        );
        // Its own not_before later than the previous slot is its own reason.
        let tomorrow_noon = utc("2026-05-11T12:00:00Z");
        assert_eq!(
            schedule(&history, &q, now, &[free(), after(tomorrow_noon)]),
            [
                at(next_day, Reason::DayQuota),
                at(tomorrow_noon, Reason::NotBefore)
            ]
        );
    }

    #[test]
    fn later_history_constrains_earlier_slots() {
        let q = quota(1, 10, Tz::UTC);
        let history = [utc("2026-05-10T10:30:00Z")];
        let one = |now: &str| schedule(&history, &q, utc(now), &[free()])[0];
        let clear = at(utc("2026-05-10T11:30:00Z"), Reason::HourQuota);
        assert_eq!(one("2026-05-10T10:00:00Z"), clear);
        assert_eq!(one("2026-05-10T09:31:00Z"), clear);
        assert_eq!(one("2026-05-10T09:30:00Z"), Slot::Now);
        assert_eq!(
            schedule(
                &history,
                &quota(2, 10, Tz::UTC),
                utc("2026-05-10T10:00:00Z"),
                &[free()]
            ),
            [Slot::Now]
        );
        // A send later today already fills a one-per-day quota.
        let late = [utc("2026-05-10T20:00:00Z")];
        assert_eq!(
            schedule(
                &late,
                &quota(1, 1, Tz::UTC),
                utc("2026-05-10T10:00:00Z"),
                &[free()]
            ),
            [at(utc("2026-05-11T00:00:00Z"), Reason::DayQuota)]
        );
    }

    #[test]
    fn sends_exactly_an_hour_apart_leave_room_between_them() {
        // Windows holding 10:30 hold at most one of 10:00 and 11:00.
        let history = [utc("2026-05-10T10:00:00Z"), utc("2026-05-10T11:00:00Z")];
        let now = utc("2026-05-10T10:30:00Z");
        assert_eq!(
            schedule(&history, &quota(2, 9, Tz::UTC), now, &[free(); 2]),
            [
                Slot::Now,
                at(utc("2026-05-10T11:30:00Z"), Reason::HourQuota)
            ]
        );
    }

    #[test]
    fn expired_units_do_not_repeat_a_long_search() {
        // One send a day already booked for years ahead and a one-a-day quota:
        // every unit would walk the whole range before expiring, unless the
        // first walk is remembered. Quadratic here would take minutes.
        let now = utc("2026-05-10T10:00:00Z");
        let history: Vec<_> = (0..5_000).map(|d| now + TimeDelta::days(d)).collect();
        let pending = vec![until(now + TimeDelta::days(4_900)); 5_000];
        let started = std::time::Instant::now();
        let slots = schedule(&history, &quota(2, 1, Tz::UTC), now, &pending);
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert!(slots.iter().all(|s| *s == Slot::Expired));
        let open = schedule(&history, &quota(2, 1, Tz::UTC), now, &[free()]);
        assert_eq!(open, [at(utc("2040-01-17T00:00:00Z"), Reason::DayQuota)]);
    }

    #[test]
    fn zero_limits_expire_everything() {
        let now = utc("2026-05-10T10:00:00Z");
        for q in [quota(0, 3, Tz::UTC), quota(2, 0, Tz::UTC)] {
            assert_eq!(schedule(&[], &q, now, &[free(); 3]), [Slot::Expired; 3]);
            assert!(free_slots(&[], &q, now, now + TimeDelta::days(9), 5).is_empty());
        }
    }

    #[test]
    fn usage_counts_hour_window_and_whole_day() {
        let ny = America::New_York;
        let now = local(ny, 2026, 3, 8, 12, 0);
        let history = [
            now - TimeDelta::minutes(60),
            now - TimeDelta::minutes(59),
            now,
            now + TimeDelta::hours(3),
            local(ny, 2026, 3, 7, 23, 0),
        ];
        let used = usage(&history, &quota(2, 3, ny), now);
        assert_eq!(
            used,
            Usage {
                last_hour: 2,
                today: 4,
                day_start: utc("2026-03-08T05:00:00Z"),
                day_end: utc("2026-03-09T04:00:00Z"),
            }
        );
    }

    fn windowed(w: Window) -> Pending {
        Pending {
            window: Some(w),
            ..Pending::default()
        }
    }

    fn ranked(priority: Priority) -> Pending {
        Pending {
            priority,
            ..Pending::default()
        }
    }

    #[test]
    fn a_queue_past_the_window_waits_for_the_next_morning() {
        let sh = Asia::Shanghai;
        let w = Window {
            from: 9 * 60,
            to: 21 * 60,
            tz: sh,
        };
        // 19:30, one an hour: the second lands at 20:30 (inside), the third would at 21:30
        // (outside), so it waits for 09:00, which the window set.
        let now = local(sh, 2026, 5, 10, 19, 30);
        let slots = schedule(&[], &quota(1, 9, sh), now, &[windowed(w); 3]);
        assert_eq!(
            slots,
            [
                Slot::Now,
                at(local(sh, 2026, 5, 10, 20, 30), Reason::HourQuota),
                at(local(sh, 2026, 5, 11, 9, 0), Reason::SendWindow),
            ]
        );
        // A full day moves to midnight, and the window then to 09:00.
        let history = [local(sh, 2026, 5, 10, 10, 0); 3];
        let slots = schedule(&history, &quota(2, 3, sh), now, &[windowed(w)]);
        assert_eq!(
            slots,
            [at(local(sh, 2026, 5, 11, 9, 0), Reason::SendWindow)]
        );
        // Without the window the same unit goes at midnight.
        let slots = schedule(&history, &quota(2, 3, sh), now, &[free()]);
        assert_eq!(slots, [at(local(sh, 2026, 5, 11, 0, 0), Reason::DayQuota)]);
    }

    #[test]
    fn each_unit_keeps_to_its_own_window_and_zone() {
        let ny = Window {
            from: 9 * 60,
            to: 21 * 60,
            tz: America::New_York,
        };
        let night = Window {
            from: 22 * 60,
            to: 2 * 60,
            tz: Tz::UTC,
        };
        let now = utc("2026-05-10T12:00:00Z"); // 08:00 in New York
        let slots = schedule(
            &[],
            &quota(5, 9, Tz::UTC),
            now,
            &[windowed(ny), windowed(night), free()],
        );
        assert_eq!(
            slots,
            [
                at(utc("2026-05-10T13:00:00Z"), Reason::SendWindow),
                at(utc("2026-05-10T22:00:00Z"), Reason::SendWindow),
                // Processed last (same start, later in file order), so it waits for the first.
                at(utc("2026-05-10T22:00:00Z"), Reason::SendWindow),
            ]
        );
    }

    #[test]
    fn higher_priority_picks_first_but_does_not_hold_others_back() {
        let now = utc("2026-05-10T10:00:00Z");
        let q = quota(1, 9, Tz::UTC);
        let slots = schedule(
            &[],
            &q,
            now,
            &[
                ranked(Priority::Low),
                ranked(Priority::Normal),
                ranked(Priority::High),
            ],
        );
        assert_eq!(
            slots,
            [
                at(utc("2026-05-10T12:00:00Z"), Reason::HourQuota),
                at(utc("2026-05-10T11:00:00Z"), Reason::HourQuota),
                Slot::Now,
            ]
        );
        // A high unit that cannot go before noon leaves the morning to a normal one.
        let late_high = Pending {
            not_before: Some(utc("2026-05-10T12:00:00Z")),
            priority: Priority::High,
            ..Pending::default()
        };
        assert_eq!(
            schedule(&[], &q, now, &[free(), late_high]),
            [
                Slot::Now,
                at(utc("2026-05-10T12:00:00Z"), Reason::NotBefore)
            ]
        );
    }

    #[test]
    fn reason_machine_names() {
        use serde::de::IntoDeserializer;
        use serde::de::value::{Error, StrDeserializer};
        for reason in [
            Reason::HourQuota,
            Reason::DayQuota,
            Reason::NotBefore,
            Reason::SendWindow,
        ] {
            let de: StrDeserializer<'_, Error> = reason.as_str().into_deserializer();
            assert_eq!(Reason::deserialize(de), Ok(reason));
            assert_eq!(reason.to_string(), reason.as_str());
        }
        assert_eq!(Reason::HourQuota.as_str(), "hour_quota");
        assert_eq!(Reason::SendWindow.as_str(), "send_window");
    }

    #[test]
    fn thirty_thousand_units_and_sends() {
        let now = utc("2026-05-10T10:00:00Z");
        let q = quota(2, 3, Australia::Lord_Howe);
        // A legal past: 3 a day, 90 minutes apart, ending just before now.
        let history: Vec<_> = (1..=30_000)
            .map(|i| now - TimeDelta::days(i / 3) - TimeDelta::minutes(90 * (i % 3) + 1))
            .collect();
        let pending: Vec<_> = (0..30_000_i64)
            .map(|i| Pending {
                not_before: (i % 7 == 0).then(|| now + TimeDelta::hours(i % 500)),
                not_after: (i % 5 == 0).then(|| now + TimeDelta::days(i % 300)),
                ..Pending::default()
            })
            .collect();
        let started = std::time::Instant::now();
        let slots = schedule(&history, &q, now, &pending);
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(5), "{elapsed:?}");
        let placed: Vec<_> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::At { at, .. } => Some(*at),
                _ => None,
            })
            .collect();
        assert!(placed.len() > 10_000);
        let mut per_day = std::collections::HashMap::<NaiveDate, u32>::new();
        for t in &placed {
            *per_day
                .entry(t.with_timezone(&q.tz).date_naive())
                .or_default() += 1;
        }
        assert!(per_day.values().all(|&n| n <= 3));
    }

    // ---- property tests -------------------------------------------------

    const ZONES: [Tz; 6] = [
        Asia::Shanghai,
        Tz::UTC,
        America::New_York,
        Australia::Lord_Howe,
        Asia::Kathmandu,
        chrono_tz::Europe::Berlin,
    ];

    /// Starts near DST changes of the zones above (New York: 03-08 and 11-01;
    /// London and Berlin: 03-29 and 10-25), plus a quiet one.
    const BASES: [&str; 7] = [
        "2026-03-07T00:00:00Z",
        "2026-03-28T00:00:00Z",
        "2026-04-03T00:00:00Z",
        "2026-10-02T00:00:00Z",
        "2026-10-24T00:00:00Z",
        "2026-10-30T00:00:00Z",
        "2026-06-15T00:00:00Z",
    ];

    /// Zones of send windows, each unit its own (a per-locale window).
    const WINDOW_ZONES: [Tz; 5] = [
        America::New_York,
        chrono_tz::Europe::London,
        Asia::Shanghai,
        Tz::UTC,
        Asia::Kathmandu,
    ];

    /// A window of at least 15 minutes: `from` anywhere, across midnight about half the time,
    /// often on the DST hours (01:00-03:00) and on quarter hours.
    fn window() -> impl Strategy<Value = Window> {
        let minute = prop_oneof![0..1440_u32, (0..96_u32).prop_map(|q| q * 15), 60..180_u32];
        (0..WINDOW_ZONES.len(), minute, 15..1425_u32).prop_map(|(zone, from, len)| Window {
            from,
            to: (from + len) % 1440,
            tz: WINDOW_ZONES[zone],
        })
    }

    fn priority() -> impl Strategy<Value = Priority> {
        prop_oneof![
            Just(Priority::High),
            Just(Priority::Normal),
            Just(Priority::Low)
        ]
    }

    #[derive(Debug, Clone)]
    struct Case {
        quota: Quota,
        now: DateTime<Utc>,
        history: Vec<DateTime<Utc>>,
        pending: Vec<Pending>,
    }

    /// Everything on whole minutes, so a minute-by-minute reference is exact:
    /// legality only changes at sends, sends + 60 min and local midnights,
    /// which are all whole minutes for these zones and years.
    fn case(max_history: usize, max_pending: usize) -> impl Strategy<Value = Case> {
        // Most offsets on a coarse grid, so sends exactly 60 minutes apart and
        // sends on local midnights come up often.
        let minutes = |range: std::ops::Range<i64>| {
            let quarters = (range.start / 15)..(range.end / 15);
            let hours = (range.start / 60)..(range.end / 60);
            prop_oneof![
                range,
                quarters.prop_map(|q| q * 15),
                hours.prop_map(|h| h * 60)
            ]
            .prop_map(TimeDelta::minutes)
        };
        (
            (0..ZONES.len(), 1..=4_u32, 1..=6_u32),
            (0..BASES.len(), minutes(0..4320)),
            prop::collection::vec(minutes(-2880..1440), 0..=max_history),
            prop::collection::vec(
                (
                    prop::option::of(minutes(-120..2880)),
                    prop::option::of(minutes(-60..4320)),
                    prop::option::weighted(0.5, window()),
                    priority(),
                ),
                0..=max_pending,
            ),
        )
            .prop_map(
                |((zone, per_hour, per_day), (base, offset), history, pending)| {
                    let now = utc(BASES[base]) + offset;
                    Case {
                        quota: quota(per_hour, per_day, ZONES[zone]),
                        now,
                        history: history.into_iter().map(|d| now + d).collect(),
                        pending: pending
                            .into_iter()
                            .map(|(nb, na, window, priority)| Pending {
                                not_before: nb.map(|d| now + d),
                                not_after: na.map(|d| now + d),
                                window,
                                priority,
                            })
                            .collect(),
                    }
                },
            )
    }

    fn slot_time(slot: Slot, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match slot {
            Slot::Now => Some(now),
            Slot::At { at, .. } => Some(at),
            Slot::Expired => None,
        }
    }

    fn processing_order(c: &Case) -> Vec<usize> {
        let mut order: Vec<usize> = (0..c.pending.len()).collect();
        order.sort_by_key(|&i| {
            let p = &c.pending[i];
            (p.priority, p.not_before.map_or(c.now, |nb| nb.max(c.now)))
        });
        order
    }

    /// Straight from the definition, on chrono's own local reading: `from <= r < to`, or
    /// `r >= from || r < to` across midnight.
    fn brute_in_window(w: Option<Window>, t: DateTime<Utc>) -> bool {
        let Some(w) = w else { return true };
        let local = t.with_timezone(&w.tz).time();
        let r = local.hour() * 60 + local.minute();
        if w.from < w.to {
            w.from <= r && r < w.to
        } else {
            r >= w.from || r < w.to
        }
    }

    fn date_in(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
        t.with_timezone(&tz).date_naive()
    }

    /// Straight from the definition: one more send at `t` leaves every
    /// window `(x - 60 min, x]` with `x` in `[t, t + 60 min)` and `t`'s local
    /// date within the quota.
    fn brute_legal(
        sends: &[DateTime<Utc>],
        dates: &[NaiveDate],
        q: &Quota,
        t: DateTime<Utc>,
    ) -> bool {
        let day = date_in(t, q.tz);
        let same_day = dates.iter().filter(|&&d| d == day).count();
        if same_day >= q.per_day as usize {
            return false;
        }
        (0..60).all(|k| {
            let x = t + TimeDelta::minutes(k);
            let in_window = sends.iter().filter(|&&s| x - HOUR < s && s <= x).count();
            in_window < q.per_hour as usize
        })
    }

    /// Minute-by-minute reference for `schedule`, `None` meaning expired.
    fn brute_schedule(c: &Case) -> Vec<Option<DateTime<Utc>>> {
        let mut sends = c.history.clone();
        let mut dates: Vec<NaiveDate> = sends.iter().map(|&s| date_in(s, c.quota.tz)).collect();
        let mut out = vec![None; c.pending.len()];
        let mut previous = c.now;
        let mut group = None;
        for i in processing_order(c) {
            let unit = c.pending[i];
            // The previous slot binds only within one priority.
            if group != Some(unit.priority) {
                group = Some(unit.priority);
                previous = c.now;
            }
            let start = unit
                .not_before
                .map_or(c.now, |nb| nb.max(c.now))
                .max(previous);
            let give_up = unit.not_after.unwrap_or(start + TimeDelta::days(9));
            let mut t = start;
            while t <= give_up
                && !(brute_in_window(unit.window, t) && brute_legal(&sends, &dates, &c.quota, t))
            {
                t += TimeDelta::minutes(1);
            }
            assert!(
                unit.not_after.is_some() || t <= give_up,
                "reference gave up"
            );
            if t <= give_up {
                sends.push(t);
                dates.push(date_in(t, c.quota.tz));
                out[i] = Some(t);
                previous = t;
            }
        }
        out
    }

    fn assert_invariants(c: &Case, slots: &[Slot]) {
        assert_eq!(slots.len(), c.pending.len());
        let times: Vec<_> = slots.iter().map(|&s| slot_time(s, c.now)).collect();
        for (slot, unit) in slots.iter().zip(&c.pending) {
            if let Slot::At { at, .. } = slot {
                assert!(*at > c.now, "At must be later than now: {slot:?}");
            }
            if let Some(t) = slot_time(*slot, c.now) {
                assert!(t >= c.now);
                assert!(brute_in_window(unit.window, t), "{slot:?} outside {unit:?}");

                assert!(
                    unit.not_before.is_none_or(|nb| t >= nb),
                    "{slot:?} {unit:?}"
                );
                assert!(unit.not_after.is_none_or(|na| t <= na), "{slot:?} {unit:?}");
            }
        }
        // Non-decreasing in processing order within each priority.
        for p in [Priority::High, Priority::Normal, Priority::Low] {
            let group: Vec<_> = processing_order(c)
                .into_iter()
                .filter(|&i| c.pending[i].priority == p)
                .filter_map(|i| times[i])
                .collect();
            assert!(group.windows(2).all(|w| w[0] <= w[1]), "{p}: {group:?}");
        }
        let mut ordered: Vec<_> = times.iter().flatten().copied().collect();
        ordered.sort_unstable();
        // Legal: every window and day holding a scheduled send stays within the quota.
        let mut all: Vec<_> = c
            .history
            .iter()
            .copied()
            .chain(ordered.iter().copied())
            .collect();
        all.sort_unstable();
        let dates: Vec<_> = all.iter().map(|&s| date_in(s, c.quota.tz)).collect();
        for &t in &ordered {
            let day = date_in(t, c.quota.tz);
            let same_day = dates.iter().filter(|&&d| d == day).count();
            assert!(
                same_day <= c.quota.per_day as usize,
                "day of {t} has {same_day}"
            );
            for k in 0..60 {
                let x = t + TimeDelta::minutes(k);
                let n = all.partition_point(|&s| s <= x) - all.partition_point(|&s| s <= x - HOUR);
                assert!(n <= c.quota.per_hour as usize, "window ending {x} has {n}");
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn schedule_matches_minute_reference(c in case(10, 6)) {
            let slots = schedule(&c.history, &c.quota, c.now, &c.pending);
            assert_invariants(&c, &slots);
            let times: Vec<_> = slots.iter().map(|&s| slot_time(s, c.now)).collect();
            prop_assert_eq!(times, brute_schedule(&c));
            prop_assert_eq!(&slots, &schedule(&c.history, &c.quota, c.now, &c.pending));
        }

        #[test]
        fn schedule_invariants_on_larger_inputs(c in case(60, 40)) {
            let slots = schedule(&c.history, &c.quota, c.now, &c.pending);
            assert_invariants(&c, &slots);
            prop_assert_eq!(&slots, &schedule(&c.history, &c.quota, c.now, &c.pending));
        }

        #[test]
        fn free_slots_agree_with_scheduling_identical_units(c in case(20, 0), n in 0..12_usize) {
            let until = c.now + TimeDelta::days(2);
            let units = vec![Pending { not_after: Some(until), ..Pending::default() }; n];
            let expected: Vec<_> = schedule(&c.history, &c.quota, c.now, &units)
                .into_iter()
                .filter_map(|s| slot_time(s, c.now))
                .collect();
            prop_assert_eq!(free_slots(&c.history, &c.quota, c.now, until, n), expected);
        }

        #[test]
        fn day_bounds_partition_local_dates(zone in 0..ZONES.len(), base in 0..BASES.len(), m in 0..20_000_i64) {
            let tz = ZONES[zone];
            let t = utc(BASES[base]) + TimeDelta::minutes(m);
            let (start, end) = day_bounds(t, tz);
            prop_assert!(start <= t && t < end);
            let day = date_in(t, tz);
            prop_assert_eq!(date_in(start, tz), day);
            prop_assert_eq!(date_in(end - TimeDelta::seconds(1), tz), day);
            prop_assert!(date_in(start - TimeDelta::seconds(1), tz) < day);
            prop_assert!(date_in(end, tz) > day);
        }
    }
}
