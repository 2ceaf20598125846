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
use serde::{Deserialize, Serialize};

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
/// `hour_quota`, `day_quota` and `not_before`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The rolling 60-minute window is full.
    HourQuota,
    /// The natural day is full; the unit moves to the start of the next day.
    DayQuota,
    /// The unit's own `not_before` is later than now.
    NotBefore,
}

impl Reason {
    /// The machine name, identical to the serde representation.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HourQuota => "hour_quota",
            Self::DayQuota => "day_quota",
            Self::NotBefore => "not_before",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The time constraints of one unit waiting to be sent. Both bounds are inclusive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    pub not_before: Option<DateTime<Utc>>,
    pub not_after: Option<DateTime<Utc>>,
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
/// Units are processed by a stable sort on `max(now, not_before)`. Each one gets
/// the earliest instant, not before that and not before the previous unit's
/// slot, at which one more send keeps every 60-minute window containing it and
/// its natural day within the quota. A unit whose slot would fall after its
/// `not_after` is [`Slot::Expired`] and uses no quota.
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
    // Stable, so equal earliest times keep the caller's tie-break order.
    order.sort_by_key(|&i| earliest(&pending[i]));

    // A lower bound for every later candidate plus the reason that put it there.
    // It carries both the previous unit's slot (so ordering inherits that
    // unit's reason) and how far an expired unit's search already proved the
    // timeline full, so that later units never repeat that walk.
    let mut floor: Option<(DateTime<Utc>, Reason)> = None;
    for i in order {
        let unit = pending[i];
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
        match engine.search(start, reason, unit.not_after) {
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
            // Later units start no earlier, so they could not fare better.
            Outcome::Unreachable => break,
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
    let mut slots = Vec::new();
    let Some(mut engine) = Engine::new(history, quota, n.min(1024)) else {
        return slots;
    };
    let mut start = from;
    // Bounded by `n`; each search is bounded on its own (see `Engine::search`).
    for _ in 0..n {
        match engine.search(start, None, Some(until)) {
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
/// of `t`'s own UTC offset so that the result always contains `t`.
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
/// before the last committed slot plus every committed slot, `rest[next..]` the
/// remaining history. Slots are committed in non-decreasing order, so appending
/// keeps the concatenation sorted without ever inserting into the middle.
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

    /// Records a send at `t`, which must not precede any committed slot.
    fn commit(&mut self, t: DateTime<Utc>) {
        let moved = self.rest[self.next..].partition_point(|s| *s < t);
        self.merged
            .extend_from_slice(&self.rest[self.next..self.next + moved]);
        self.next += moved;
        self.merged.push(t);
    }
}

enum Outcome {
    /// `reason` is the last constraint that moved the candidate, `None` if none did.
    Found {
        at: DateTime<Utc>,
        reason: Option<Reason>,
    },
    /// Every instant from the search start up to (excluding) `proven.0` is
    /// illegal, `proven.1` being why; `None` if the quota moved nothing.
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

    /// Earliest legal instant `>= c`, giving up once past `not_after`.
    ///
    /// Termination: each hour move lands on `s + 60 min` for a counted send `s`
    /// with `s > c - 60 min`, pushing `s` out of every later window for good,
    /// and each day move leaves a day holding at least one send for good. So at
    /// most `2 * len` moves happen before a candidate is accepted or expires,
    /// and the loop bound below is never the one that stops it.
    fn search(
        &self,
        mut c: DateTime<Utc>,
        mut reason: Option<Reason>,
        not_after: Option<DateTime<Utc>>,
    ) -> Outcome {
        let mut moved_by = None;
        let bound = self.line.len().saturating_mul(2).saturating_add(2);
        for _ in 0..bound {
            if not_after.is_some_and(|na| c > na) {
                return Outcome::Expired {
                    proven: moved_by.map(|why| (c, why)),
                };
            }
            let (next, why) = if let Some(day_end) = self.day_full(c) {
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
