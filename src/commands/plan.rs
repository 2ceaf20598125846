//! `pushform plan` and `pushform show`.

use std::fs;

use anyhow::{Context as _, Result, bail};

use crate::cli::{PlanArgs, PlanFormat, ShowArgs};
use crate::compare::{self, Comparison};
use crate::exit::Exit;
use crate::plan::{self, FORMAT_VERSION, Plan, TestGate};
use crate::printer::Printer;
use crate::quota::Quota;
use crate::report;
use crate::settings::Settings;
use crate::state::LockIndex;

use super::context::Context;

/// `require_test_in`: what the named environment's state holds of test sends, read as `plan`
/// reads a state (a stale copy can only lack the latest test sends: records are appended).
/// Unless this run is itself a rehearsal, a test send to a loopback emulator is no evidence:
/// nobody saw it on a device.
pub(crate) fn test_gate(cx: &Context<'_>, rehearsal: bool) -> Result<Option<TestGate>> {
    let config = &cx.project.config;
    let Some(env) = config
        .selected
        .as_ref()
        .and_then(|s| s.require_test_in.clone())
    else {
        return Ok(None);
    };
    let there = config.for_environment(&env).context("require_test_in")?;
    let settings = Settings::resolve(cx.global, &there)?;
    let mut lock = super::state::read_for_plan(&settings, cx.printer)?.unwrap_or_default();
    if !rehearsal {
        lock.sends.retain(|r| !r.is_rehearsal());
    }
    let tested = LockIndex::new(&lock).tested().clone();
    Ok(Some(TestGate {
        environment: env,
        tested,
    }))
}

pub(super) fn run(cx: &Context<'_>, args: &PlanArgs) -> Result<Exit> {
    let (settings, printer) = (&cx.settings, cx.printer);
    let lock = super::state::read_for_plan(settings, printer)?;
    let endpoints = super::apply::endpoints(&cx.project.config, args.endpoint.as_ref())?;
    let rehearsal = crate::client::all_loopback(&endpoints);
    if let Some(lock) = &lock {
        crate::apply::check_rehearsals(lock, rehearsal)?;
    }
    let gate = test_gate(cx, rehearsal)?;
    let plan = plan::plan_gated(
        &cx.units,
        lock.as_ref(),
        settings.now.get(),
        &settings.quota,
        gate.as_ref(),
    );
    if let Some(path) = &args.out {
        crate::atomic::write(path, report::json(&plan).as_bytes())?;
        printer.info(&format!(
            "Saved the plan to {}; apply it with `pushform apply {}`.\n",
            path.display(),
            path.display()
        ));
    }
    let comparison = match &args.compare_to {
        Some(base) => Some(compare::compare(&read_plan(base)?, &plan)),
        None => None,
    };
    present(
        &plan,
        &settings.quota,
        args.format,
        args.all,
        comparison.as_ref(),
        printer,
    );
    // Who used the slots the plan waits for, where the state is shared by several projects.
    if let Some(lock) = &lock {
        let (now, quota) = (settings.now.get(), &settings.quota);
        match args.format {
            PlanFormat::Human => printer.out(&report::other_projects(lock, now, quota)),
            PlanFormat::Markdown => printer.out(&report::other_projects_markdown(lock, now, quota)),
            PlanFormat::Json => {}
        }
    }
    Ok(exit_for(&plan, args.detailed_exitcode))
}

fn present(
    plan: &Plan,
    quota: &Quota,
    format: PlanFormat,
    all: bool,
    comparison: Option<&Comparison>,
    printer: &Printer,
) {
    let text = match format {
        PlanFormat::Human => {
            let mut text = report::human(plan, quota, printer, all, printer.verbose > 0);
            if let Some(c) = comparison {
                text.push('\n');
                text.push_str(&report::human_compare(c, quota, printer));
            }
            text
        }
        PlanFormat::Json => report::json(plan),
        PlanFormat::Markdown => report::markdown_with(plan, quota, comparison),
    };
    printer.out(&text);
}

pub(super) fn exit_for(plan: &Plan, detailed: bool) -> Exit {
    if plan.has_errors() {
        Exit::Error
    } else if detailed && plan.has_sends() {
        Exit::Pending
    } else {
        Exit::Ok
    }
}

/// Reads a saved plan, refusing files of another format or version.
pub(super) fn read_plan(path: &std::path::Path) -> Result<Plan> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("cannot read the plan file {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a pushform plan file (not JSON)", path.display()))?;
    match value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(FORMAT_VERSION) => {}
        Some(v) => bail!(
            "{} is a plan of format_version {v}; this pushform reads format_version {FORMAT_VERSION}",
            path.display()
        ),
        None => bail!(
            "{} is not a pushform plan file (no format_version)",
            path.display()
        ),
    }
    serde_json::from_value(value)
        .with_context(|| format!("{} is not a valid pushform plan file", path.display()))
}

pub(super) fn show(args: &ShowArgs, printer: &Printer) -> Result<Exit> {
    let plan = read_plan(&args.file)?;
    let Some(quota) = plan.quota.to_quota() else {
        bail!(
            "{}: unknown time zone `{}`",
            args.file.display(),
            plan.quota.timezone
        );
    };
    present(&plan, &quota, args.format, true, None, printer);
    Ok(if plan.has_errors() {
        Exit::Error
    } else {
        Exit::Ok
    })
}
