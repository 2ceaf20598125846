//! The terminal form of a plan: the clock and quota line, a line per unit (up-to-date units only
//! with `all`) styled by its action, and with `verbose` the full bodies.

use std::fmt::Write as _;

use super::{audience_text, clock_line, headline, links, pretty_body, when};
use crate::body::JsonBody;
use crate::plan::{Action, Plan, PlannedUnit};
use crate::printer::{Printer, Style};
use crate::quota::Quota;

fn style_of(action: Action) -> Style {
    match action {
        Action::Send => Style::Green,
        Action::Scheduled => Style::Cyan,
        Action::Changed | Action::Duplicate | Action::Unresolved => Style::Red,
        Action::Expired | Action::Untested => Style::Yellow,
        Action::Gone | Action::UpToDate => Style::Dim,
    }
}

/// The terminal form. `all` includes up-to-date units; `verbose` adds the full bodies.
pub(crate) fn human(
    plan: &Plan,
    quota: &Quota,
    printer: &Printer,
    all: bool,
    verbose: bool,
) -> String {
    let mut out = String::new();
    let shown: Vec<&PlannedUnit> = plan
        .actions
        .iter()
        .filter(|a| all || a.action != Action::UpToDate)
        .collect();
    let _ = writeln!(out, "Now {}.", clock_line(plan, quota, ";"));
    if !plan.errors.is_empty() {
        out.push('\n');
    }
    for e in &plan.errors {
        let _ = writeln!(out, "{}: {e}", printer.out_style(Style::Red, "error"));
    }
    if !shown.is_empty() {
        out.push('\n');
    }
    let width = shown
        .iter()
        .map(|a| a.key.chars().count())
        .max()
        .unwrap_or(0);
    for a in &shown {
        let style = style_of(a.action);
        let _ = writeln!(
            out,
            "  {} {:width$}  {}",
            printer.out_style(style, a.action.symbol()),
            printer.out_style(Style::Bold, &a.key),
            when(a, quota),
        );
        let body = a.body.as_ref().map(JsonBody::value);
        let audience = audience_text(body.as_ref());
        if matches!(
            a.action,
            Action::Send
                | Action::Scheduled
                | Action::Expired
                | Action::Duplicate
                | Action::Untested
        ) && !audience.is_empty()
        {
            let _ = writeln!(
                out,
                "      {} {audience}  {}",
                printer.out_style(Style::Dim, "to"),
                headline(body.as_ref())
            );
        }
        for line in links(a) {
            let _ = writeln!(out, "      {}", printer.out_style(Style::Dim, &line));
        }
        if let Some(note) = &a.note {
            let _ = writeln!(out, "      {}", printer.out_style(Style::Dim, note));
        }
        for warning in &a.warnings {
            let _ = writeln!(
                out,
                "      {} {warning}",
                printer.out_style(Style::Yellow, "warning:")
            );
        }
        if let Some(diff) = &a.diff {
            for line in diff.lines() {
                let styled = if line.starts_with('+') && !line.starts_with("+++") {
                    printer.out_style(Style::Green, line)
                } else if line.starts_with('-') && !line.starts_with("---") {
                    printer.out_style(Style::Red, line)
                } else {
                    line.to_owned()
                };
                let _ = writeln!(out, "      {styled}");
            }
        }
        if verbose && let Some(body) = &body {
            for line in pretty_body(body).lines() {
                let _ = writeln!(out, "      {}", printer.out_style(Style::Dim, line));
            }
        }
    }
    if !shown.is_empty() || !plan.errors.is_empty() {
        out.push('\n');
    }
    let summary = plan.summary_line();
    let style = if plan.has_errors() {
        Style::Red
    } else if plan.has_sends() {
        Style::Bold
    } else {
        Style::Green
    };
    let _ = writeln!(out, "{}", printer.out_style(style, &summary));
    out
}
