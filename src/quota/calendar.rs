//! Natural days in a time zone: where a local-calendar day starts and ends as instants, across
//! DST changes, skipped dates and the edges of chrono's range. Apart from the engine because it
//! is the one place where wall-clock time is turned into instants, and it never panics.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc};
use chrono::{LocalResult, Timelike};
use chrono_tz::Tz;

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
pub(crate) fn day_bounds(t: DateTime<Utc>, tz: Tz) -> (DateTime<Utc>, DateTime<Utc>) {
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
