//! What a change does to the queue (`plan --compare-to`): one line per effect, shared by the
//! terminal and the pull-request comment, under a heading naming the base plan.

use std::fmt::Write as _;

use super::local;
use crate::compare::Comparison;
use crate::printer::{Printer, Style};
use crate::quota::Quota;

/// "+9h", "-30m", "+1d 2h": how far a comparison moved a unit.
pub(super) fn signed_duration(d: chrono::TimeDelta) -> String {
    let sign = if d < chrono::TimeDelta::zero() {
        "-"
    } else {
        "+"
    };
    let secs = d.num_seconds().unsigned_abs();
    let (days, hours, minutes, seconds) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    let mut parts = Vec::new();
    if days > 0 {
        parts.push(format!("{days}d"));
    }
    if hours > 0 {
        parts.push(format!("{hours}h"));
    }
    if minutes > 0 {
        parts.push(format!("{minutes}m"));
    }
    if seconds > 0 || parts.is_empty() {
        parts.push(format!("{seconds}s"));
    }
    format!("{sign}{}", parts.join(" "))
}

/// One line per effect of this change on the queue, shared by the terminal and the comment.
/// `code` wraps a unit key (backticks in Markdown, bold on a terminal).
pub(super) fn compare_lines(
    c: &Comparison,
    quota: &Quota,
    code: &dyn Fn(&str) -> String,
) -> Vec<String> {
    let mut lines = Vec::new();
    for a in &c.added {
        let when =
            a.at.map_or_else(String::new, |t| format!(" at {}", local(t, quota.tz)));
        lines.push(format!("adds {}{when}", code(&a.key)));
    }
    for m in &c.moved {
        lines.push(format!(
            "moves {} from {} to {} ({})",
            code(&m.key),
            local(m.from, quota.tz),
            local(m.to, quota.tz),
            signed_duration(m.by())
        ));
    }
    for e in &c.expired {
        let was = e.was.map_or_else(
            || " (new in this change)".to_owned(),
            |t| format!(" (was due {})", local(t, quota.tz)),
        );
        lines.push(format!(
            "makes {} expire: it will not be sent{was}",
            code(&e.key)
        ));
    }
    for key in &c.dropped {
        lines.push(format!(
            "takes {} out of the queue (removed, sent or blocked)",
            code(key)
        ));
    }
    lines
}

pub(super) fn compare_heading(c: &Comparison, quota: &Quota) -> String {
    let base = match (c.base_now, c.base_serial) {
        (Some(now), Some(serial)) => format!(
            "the base plan (made {}, lock serial {serial})",
            local(now, quota.tz)
        ),
        (Some(now), None) => format!("the base plan (made {}, no lockfile)", local(now, quota.tz)),
        _ => "the base plan".to_owned(),
    };
    if c.is_empty() {
        format!("Compared with {base}: this change adds nothing and moves nothing.")
    } else {
        format!("Compared with {base}, this change:")
    }
}

/// The terminal form of a comparison with the base plan (`plan --compare-to`).
pub(crate) fn human_compare(c: &Comparison, quota: &Quota, printer: &Printer) -> String {
    let mut out = format!("{}\n", compare_heading(c, quota));
    let code = |k: &str| printer.out_style(Style::Bold, k);
    for line in compare_lines(c, quota, &code) {
        let _ = writeln!(out, "  - {line}");
    }
    out
}
