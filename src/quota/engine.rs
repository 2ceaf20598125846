//! The scheduler's search: all counted sends as one sorted timeline, and the earliest instant
//! from a start at which one more send keeps every rolling hour and natural day within the
//! quota and its send window open. Apart from the API so the search's invariants sit in one file.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::calendar::day_bounds;
use super::{HOUR, Quota, Reason};
use crate::window::Window;

/// All sends that count, as one sorted sequence: `merged` holds the history
/// before the latest committed slot plus every committed slot, `rest[next..]`
/// the remaining history, and every element of `merged` precedes every element
/// of `rest[next..]`. Slots mostly come in non-decreasing order, so committing
/// is mostly an append.
pub(super) struct Timeline {
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
    pub(super) fn commit(&mut self, t: DateTime<Utc>) {
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

/// What [`Engine::search`] found for one unit: a legal instant, proof that none is left before
/// its deadline, or that no representable instant is legal.
pub(super) enum SlotSearch {
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

pub(super) struct Engine {
    per_hour: usize,
    per_day: usize,
    tz: Tz,
    pub(super) line: Timeline,
}

impl Engine {
    /// `None` for a zero limit, where nothing can ever be legal.
    pub(super) fn new(history: &[DateTime<Utc>], quota: &Quota, extra: usize) -> Option<Self> {
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
    pub(super) fn search(
        &self,
        mut c: DateTime<Utc>,
        mut reason: Option<Reason>,
        not_after: Option<DateTime<Utc>>,
        window: Option<Window>,
    ) -> SlotSearch {
        let mut moved_by = None;
        let mut window_moved = false;
        let bound = self.line.len().saturating_mul(4).saturating_add(4);
        for _ in 0..bound {
            if not_after.is_some_and(|na| c > na) {
                return SlotSearch::Expired {
                    proven: moved_by.filter(|_| !window_moved).map(|why| (c, why)),
                };
            }
            let (next, why) = if let Some(w) = window.filter(|w| !w.contains(c)) {
                match w.next_open(c) {
                    Some(open) => (Some(open), Reason::SendWindow),
                    // No opening within reach: this unit cannot go, others may.
                    None => return SlotSearch::Expired { proven: None },
                }
            } else if let Some(day_end) = self.day_full(c) {
                (Some(day_end), Reason::DayQuota)
            } else if let Some(blocker) = self.hour_blocker(c) {
                (blocker.checked_add_signed(HOUR), Reason::HourQuota)
            } else {
                return SlotSearch::Found { at: c, reason };
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
                _ => return SlotSearch::Unreachable,
            }
        }
        SlotSearch::Unreachable
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
