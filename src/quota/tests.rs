//! The quota rules, proven: examples at DST changes and odd zones, and properties.

use super::*;
use chrono::{NaiveDate, TimeZone, Timelike};
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
fn brute_legal(sends: &[DateTime<Utc>], dates: &[NaiveDate], q: &Quota, t: DateTime<Utc>) -> bool {
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
