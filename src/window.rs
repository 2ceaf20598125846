//! Send windows: the hours of the day in which a push may go out (`schedule.window` in
//! `pushform.yaml`, `send_window` on a campaign or one locale).
//!
//! The provider's day quota resets at midnight, so without a window queued pushes land at
//! 00:00. A window is read on the wall clock of its own time zone: an instant is inside when
//! its local reading `r` satisfies `from <= r < to` (or, for a window across midnight where
//! `from > to`, `r >= from || r < to`). That one definition settles the DST days: when the
//! clock skips an hour, the window opens at the first instant whose reading is at or after
//! `from` (a 02:30 opening on a spring-forward night in New York is 03:00 EDT); when the clock
//! repeats an hour, both readings of a repeated time count, so the window lasts an hour longer.

use std::fmt;

use chrono::{DateTime, Offset, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::finding::Finding;

const DAY_SECS: i64 = 86_400;

/// A resolved window: minutes after local midnight, `to` exclusive, `from != to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) tz: Tz,
}

impl Window {
    /// Whether `t`, read on the window's wall clock, lies inside it.
    #[must_use]
    pub(crate) fn contains(&self, t: DateTime<Utc>) -> bool {
        let reading = seconds_of_day(t, self.tz);
        let (from, to) = (i64::from(self.from) * 60, i64::from(self.to) * 60);
        if from < to {
            from <= reading && reading < to
        } else {
            reading >= from || reading < to
        }
    }

    /// The first instant at or after `t` inside the window; `None` if none exists within a
    /// week (never for a real zone) or at the end of representable time.
    ///
    /// Between two offset changes the wall clock runs at the speed of real time, so inside
    /// such a stretch the window can only be entered where the reading reaches `from`; at an
    /// offset change the reading jumps, and the instant of the change is a candidate too.
    /// Each step moves forward to one of these, so the loop ends.
    #[must_use]
    pub(crate) fn next_open(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let limit = t.checked_add_signed(TimeDelta::days(8))?;
        let from = TimeDelta::minutes(i64::from(self.from));
        let mut start = t;
        while start < limit {
            if self.contains(start) {
                return Some(start);
            }
            // Where the reading reaches `from` if the offset holds (within a day)...
            let mut wait = from - seconds_of_day_exact(start, self.tz);
            if wait <= TimeDelta::zero() {
                wait += TimeDelta::seconds(DAY_SECS);
            }
            let entry = start.checked_add_signed(wait)?;
            // ...unless the offset changes first: then look again from the change.
            start = next_offset_change(start, self.tz, entry);
        }
        None
    }
}

impl fmt::Display for Window {
    /// `09:00–21:00 Asia/Shanghai`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{} {}", hhmm(self.from), hhmm(self.to), self.tz)
    }
}

/// `HH:MM` of minutes after midnight.
#[must_use]
pub(crate) fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn offset_secs(t: DateTime<Utc>, tz: Tz) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

fn seconds_of_day(t: DateTime<Utc>, tz: Tz) -> i64 {
    (t.timestamp() + offset_secs(t, tz)).rem_euclid(DAY_SECS)
}

fn seconds_of_day_exact(t: DateTime<Utc>, tz: Tz) -> TimeDelta {
    TimeDelta::seconds(seconds_of_day(t, tz)) + TimeDelta::nanoseconds(i64::from(t.nanosecond()))
}

/// The first instant after `t` where `tz`'s offset differs from the offset at `t`, or `limit`
/// when there is none before it.
/// Offsets change at most a few times a year, never twice within six hours, so checking every
/// six hours and bisecting the first step that differs finds the change exactly.
fn next_offset_change(t: DateTime<Utc>, tz: Tz, limit: DateTime<Utc>) -> DateTime<Utc> {
    const STEP: i64 = 6 * 3600;
    let here = offset_secs(t, tz);
    let mut lo = t.timestamp();
    while lo < limit.timestamp() {
        let hi = (lo + STEP).min(limit.timestamp());
        let differs = |secs: i64| {
            DateTime::from_timestamp(secs, 0).is_some_and(|x| offset_secs(x, tz) != here)
        };
        if differs(hi) {
            let (mut a, mut b) = (lo, hi);
            while b - a > 1 {
                let mid = a + (b - a) / 2;
                if differs(mid) { b = mid } else { a = mid }
            }
            return DateTime::from_timestamp(b, 0).unwrap_or(limit).max(t);
        }
        lo = hi;
    }
    limit
}

/// A window as written: `{from: "09:00", to: "21:00", timezone: Asia/Shanghai}`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowFile {
    /// `HH:MM`, 24-hour local time at which sending may start.
    #[schemars(with = "String")]
    pub(crate) from: Spanned<String>,
    /// `HH:MM`, exclusive; earlier than `from` for a window across midnight.
    #[schemars(with = "String")]
    pub(crate) to: Spanned<String>,
    /// IANA time zone the window is read in; default `quota.timezone`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub(crate) timezone: Option<Spanned<String>>,
}

/// A window checked but not yet given its default time zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowSpec {
    pub(crate) from: u32,
    pub(crate) to: u32,
    pub(crate) tz: Option<Tz>,
}

impl WindowSpec {
    #[must_use]
    pub(crate) fn resolve(self, default_tz: Tz) -> Window {
        Window {
            from: self.from,
            to: self.to,
            tz: self.tz.unwrap_or(default_tz),
        }
    }
}

/// Checks a written window; every problem becomes a finding at `file`, the value's line and
/// `field.from`/`field.to`/`field.timezone`.
pub(crate) fn parse(
    file: &str,
    field: &str,
    written: &WindowFile,
    findings: &mut Vec<Finding>,
) -> Option<WindowSpec> {
    let finding = |message: String, line: u64, name: &str| {
        let mut f = Finding::error(message)
            .in_file(file)
            .field(format!("{field}.{name}"));
        f.line = u32::try_from(line).ok().filter(|&l| l > 0);
        f
    };
    let mut time = |value: &Spanned<String>, name: &str| {
        let parsed = parse_hhmm(&value.value);
        if parsed.is_none() {
            findings.push(finding(
                format!(
                    "`{}` is not a time of day: write HH:MM on a 24-hour clock, e.g. \"09:00\"",
                    value.value
                ),
                value.referenced.line(),
                name,
            ));
        }
        parsed
    };
    let from = time(&written.from, "from");
    let to = time(&written.to, "to");
    let tz = match &written.timezone {
        None => Some(None),
        Some(zone) => {
            let parsed = zone.value.trim().parse::<Tz>().ok();
            if parsed.is_none() {
                findings.push(finding(
                    format!(
                        "`{}` is not an IANA time zone (e.g. Asia/Shanghai)",
                        zone.value
                    ),
                    zone.referenced.line(),
                    "timezone",
                ));
            }
            parsed.map(Some)
        }
    };
    let (from, to, tz) = (from?, to?, tz?);
    if from == to {
        findings.push(finding(
            format!(
                "`from` and `to` are both {}: the window would be empty; remove it to allow any time",
                hhmm(from)
            ),
            written.to.referenced.line(),
            "to",
        ));
        return None;
    }
    Some(WindowSpec { from, to, tz })
}

/// `HH:MM` (or `H:MM`) with `00:00 <= t <= 24:00`, as minutes; `24:00` only makes sense as `to`.
fn parse_hhmm(text: &str) -> Option<u32> {
    let (h, m) = text.trim().split_once(':')?;
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !digits(h) || !digits(m) {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    match (h, m) {
        (0..=23, 0..=59) => Some(h * 60 + m),
        (24, 0) => Some(24 * 60),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America, Asia, Europe};

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn window(from: &str, to: &str, tz: Tz) -> Window {
        Window {
            from: parse_hhmm(from).unwrap(),
            to: parse_hhmm(to).unwrap(),
            tz,
        }
    }

    #[test]
    fn times_of_day() {
        assert_eq!(parse_hhmm("09:00"), Some(540));
        assert_eq!(parse_hhmm("9:30"), Some(570));
        assert_eq!(parse_hhmm("23:59"), Some(1439));
        assert_eq!(parse_hhmm("24:00"), Some(1440));
        for bad in [
            "24:01", "9", "09:5", "09:60", "-1:00", "aa:bb", "", "09:00:00", "123:00",
        ] {
            assert_eq!(parse_hhmm(bad), None, "{bad}");
        }
    }

    #[test]
    fn inside_and_across_midnight() {
        let day = window("09:00", "21:00", Asia::Shanghai);
        assert!(day.contains(utc("2026-05-10T01:00:00Z"))); // 09:00
        assert!(!day.contains(utc("2026-05-10T13:00:00Z"))); // 21:00, exclusive
        assert!(!day.contains(utc("2026-05-10T00:59:59Z")));
        assert_eq!(
            day.next_open(utc("2026-05-10T13:00:00Z")),
            Some(utc("2026-05-11T01:00:00Z"))
        );
        let night = window("22:00", "02:00", Tz::UTC);
        assert!(night.contains(utc("2026-05-10T23:00:00Z")));
        assert!(night.contains(utc("2026-05-10T01:59:00Z")));
        assert!(!night.contains(utc("2026-05-10T02:00:00Z")));
        assert_eq!(
            night.next_open(utc("2026-05-10T02:00:00Z")),
            Some(utc("2026-05-10T22:00:00Z"))
        );
        assert_eq!(day.to_string(), "09:00–21:00 Asia/Shanghai");
    }

    #[test]
    fn a_skipped_opening_opens_at_the_first_later_reading() {
        // New York skips 02:00-03:00 on 2026-03-08.
        let w = window("02:30", "04:00", America::New_York);
        assert_eq!(
            w.next_open(utc("2026-03-08T05:00:00Z")),
            Some(utc("2026-03-08T07:00:00Z")) // 03:00 EDT
        );
    }

    #[test]
    fn a_repeated_hour_counts_twice() {
        // London repeats 01:00-02:00 on 2026-10-25: 00:00Z-01:00Z BST, 01:00Z-02:00Z GMT.
        let w = window("01:00", "01:30", Europe::London);
        assert!(w.contains(utc("2026-10-25T00:15:00Z")));
        assert!(!w.contains(utc("2026-10-25T00:45:00Z")));
        assert_eq!(
            w.next_open(utc("2026-10-25T00:45:00Z")),
            Some(utc("2026-10-25T01:00:00Z"))
        );
        // Entered by the jump itself: reading 01:59 BST falls back to 01:00 GMT.
        let wide = window("00:30", "01:20", Europe::London);
        assert_eq!(
            wide.next_open(utc("2026-10-25T00:40:00Z")),
            Some(utc("2026-10-25T01:00:00Z"))
        );
    }

    #[test]
    fn written_windows_are_checked_with_field_and_line() {
        let written: WindowFile =
            crate::node::from_yaml("from: \"9h\"\nto: \"25:00\"\ntimezone: Mars/Olympus\n")
                .unwrap();
        let mut findings = Vec::new();
        assert_eq!(
            parse("pushform.yaml", "schedule.window", &written, &mut findings),
            None
        );
        let fields: Vec<_> = findings
            .iter()
            .map(|f| (f.field.as_deref().unwrap(), f.line.unwrap()))
            .collect();
        assert_eq!(
            fields,
            [
                ("schedule.window.from", 1),
                ("schedule.window.to", 2),
                ("schedule.window.timezone", 3)
            ]
        );
        assert!(
            findings
                .iter()
                .all(|f| f.file.as_deref() == Some("pushform.yaml"))
        );
        let empty: WindowFile = crate::node::from_yaml("from: \"09:00\"\nto: \"09:00\"\n").unwrap();
        let mut findings = Vec::new();
        assert_eq!(parse("c.yaml", "send_window", &empty, &mut findings), None);
        assert!(findings[0].message.contains("empty"), "{findings:?}");
    }
}
