//! `pushform quota`: how much of the provider's quota is used, and when the next sends can go.

use std::fmt::Write as _;

use anyhow::Result;
use chrono::TimeDelta;

use crate::exit::Exit;
use crate::printer::Style;
use crate::quota;
use crate::state::{self, Freshness, Lock, LockIndex};

use super::context::Context;

pub(super) fn run(cx: &Context<'_>) -> Result<Exit> {
    let (settings, printer) = (&cx.settings, cx.printer);
    let store = state::open(settings);
    let snapshot = store.read(Freshness::Current)?;
    let lock = if let Some(lock) = snapshot.lock {
        lock
    } else {
        printer.err(&format!(
            "warning: {}\n",
            state::nothing_recorded(&store.describe())
        ));
        Lock::new()
    };
    let index = LockIndex::new(&lock);
    let now = settings.now.get();
    let q = &settings.quota;
    let usage = quota::usage(index.history(), q, now);
    // Inside the project's send window: a slot outside it is one no push could use.
    let slots = quota::free_slots_in(
        index.history(),
        q,
        now,
        now + TimeDelta::days(3),
        (q.per_day as usize) * 3 + 1,
        settings.send_window,
    );
    let fmt = |t: chrono::DateTime<chrono::Utc>| {
        settings
            .local(t)
            .format("%a %Y-%m-%d %H:%M:%S %:z")
            .to_string()
    };
    let mut out = String::new();
    let _ = writeln!(out, "Now {} ({}).", fmt(now), q.tz);
    let _ = writeln!(
        out,
        "Last 60 minutes: {} of {} sends used.",
        printer.out_style(Style::Bold, &usage.last_hour.to_string()),
        q.per_hour
    );
    let _ = writeln!(
        out,
        "Today ({} to {}): {} of {} sends used.",
        fmt(usage.day_start),
        fmt(usage.day_end),
        printer.out_style(Style::Bold, &usage.today.to_string()),
        q.per_day
    );
    if let Some(w) = &settings.send_window {
        let _ = writeln!(
            out,
            "Send window {w} (schedule.window; a campaign's own send_window may differ)."
        );
    }
    if slots.is_empty() {
        let _ = writeln!(out, "No free slot in the next 3 days.");
    } else {
        let _ = writeln!(
            out,
            "Next free slots (each assuming the previous ones are used):"
        );
        for t in slots {
            let label = if t == now { " (now)" } else { "" };
            let _ = writeln!(out, "  {}{label}", fmt(t));
        }
    }
    out.push_str(&crate::report::other_projects(&lock, now, q));
    printer.out(&out);
    Ok(Exit::Ok)
}
