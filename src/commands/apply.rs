//! `pushform apply`: glue around the send protocol in `apply.rs`.

use std::io::{BufRead, IsTerminal};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use crate::apply::{self, CrashPoint, Ending, Event, Options};
use crate::cli::{ApplyArgs, Endpoints};
use crate::client::{self, Client, Credentials};
use crate::config::Config;
use crate::exit::Exit;
use crate::plan::{self, Action};
use crate::printer::{Printer, Style};
use crate::render::Unit;
use crate::report;
use crate::settings::{Settings, StateSpec, env_var};
use crate::state::{self, Holder};

use super::context::Context;
use super::plan::read_plan;

pub(super) fn run(cx: &Context<'_>, args: &ApplyArgs) -> Result<Exit> {
    let (settings, printer, units) = (&cx.settings, cx.printer, &cx.units);
    if args.wait && settings.now.is_pinned() {
        bail!("--wait needs the real clock: unset PUSHFORM_NOW (or --now)");
    }
    let config = &cx.project.config;
    let endpoints = endpoints(config, args.endpoint.as_ref())?;
    let rehearsal = client::all_loopback(&endpoints);
    let (client, key_sha1) = make_client(config, endpoints)?;
    let crash_at = crash_point()?;

    let store = state::open(settings);
    let holder = Holder::current(command_line());
    let mut session = store.open(&holder, args.lock_wait.lock_timeout)?;
    // Never an implicit new history: a missing state may be a deleted one.
    let lock = session
        .current()
        .cloned()
        .ok_or_else(|| state::no_state_error(&store.describe()))?;
    let now = settings.now.get();
    // Before anything else reaches the network: the state must be this key's, and hold no
    // rehearsal when the endpoints are real.
    apply::check_rehearsals(&lock, rehearsal)?;
    apply::check_app_key(&lock, &key_sha1, args.new_app_key)?;
    let gate = super::plan::test_gate(cx, rehearsal)?;

    // Nothing is sent while any send of the lock is unresolved: its quota use and its fate are
    // unknown. The protocol enforces it too; checking here first fails before the plan is shown.
    let full = plan::plan_gated(units, Some(&lock), now, &settings.quota, gate.as_ref());
    if let Err(blocked) = apply::check_unresolved(&full) {
        for (key, note) in &blocked.sends {
            printer.err(&format!(
                "{} {key}: {note}\n",
                printer.err_style(Style::Red, "?"),
            ));
        }
        return Err(blocked.into());
    }

    let targeted: Vec<Unit> = apply::select_targets(units, &args.target)?
        .into_iter()
        .cloned()
        .collect();
    let saved = args.plan.as_deref().map(read_plan).transpose()?;
    let selected: Vec<Unit> = match &saved {
        Some(saved) => {
            apply::check_fresh(saved, &lock, units, &targeted)?;
            let keys: Vec<&str> = saved
                .actions
                .iter()
                .filter(|a| matches!(a.action, Action::Send | Action::Scheduled))
                .map(|a| a.key.as_str())
                .collect();
            targeted
                .iter()
                .filter(|u| keys.contains(&u.key.as_str()))
                .cloned()
                .collect()
        }
        None => targeted.clone(),
    };

    let plan = plan::plan_gated(&selected, Some(&lock), now, &settings.quota, gate.as_ref());
    // Show what is about to happen, unless a reviewed plan file is being applied as it is.
    if args.plan.is_none() || plan.has_errors() || !plan.has_sends() {
        let verbose = printer.verbose > 0;
        printer.out(&report::human(
            &plan,
            &settings.quota,
            printer,
            false,
            verbose,
        ));
        printer.out(&report::other_projects(&lock, now, &settings.quota));
    }
    if plan.has_errors() {
        bail!("the plan has errors (marked `!` above); fix them or leave them out with --target");
    }
    if !plan.has_sends() {
        return Ok(Exit::Ok);
    }
    if args.plan.is_none() && !args.auto_approve && !confirm(printer)? {
        printer.err("Apply cancelled; nothing was sent.\n");
        return Ok(Exit::Error);
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // Ctrl-C never kills a send in flight: it stops the loop before the next one.
        let _ = ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst));
    }
    let opts = Options {
        quota: &settings.quota,
        now: settings.now,
        wait: args.wait,
        crash_at,
        stop: &stop,
        stamp: apply::Stamp {
            environment: settings.environment.clone(),
            app_key_sha1: Some(key_sha1),
            rehearsal,
        },
        gate: gate.as_ref(),
        saved: saved.as_ref().map(|plan| apply::Saved {
            plan,
            units,
            targeted: &targeted,
        }),
    };
    let mut observe = |event: Event<'_>| progress(printer, settings, &event);
    // The protocol takes the lease before its first send: a run with nothing due writes nothing.
    let result = apply::apply(session.as_mut(), &selected, &client, &opts, &mut observe);
    if let Err(err) = session.release() {
        printer.err(&format!("warning: {err:#}\n"));
    }
    Ok(finish(&result?, settings, printer, &keep_note(settings)))
}

fn progress(printer: &Printer, settings: &Settings, event: &Event<'_>) {
    match event {
        Event::Sending { unit } => printer.info(&format!("{} sending…\n", unit.key)),
        Event::Sent {
            unit,
            push_id,
            endpoint,
        } => printer.info(&format!(
            "{} {}: sent (push id {push_id}, via {endpoint})\n",
            printer.err_style(Style::Green, "+"),
            unit.key
        )),
        Event::Waiting { until, key } => printer.info(&format!(
            "Waiting for the next slot at {} ({key}); Ctrl-C stops cleanly.\n",
            settings.local(*until).format("%Y-%m-%d %H:%M:%S %:z")
        )),
        Event::Tick { remaining, key } => {
            // The printer shows it only on a terminal, and clears it before the next line.
            let s = remaining.as_secs();
            printer.status(&format!(
                "  {key} in {:02}:{:02}:{:02}",
                s / 3600,
                (s / 60) % 60,
                s % 60
            ));
        }
    }
}

/// What the user has to do with the state after an apply: commit the lockfile, or nothing.
fn keep_note(settings: &Settings) -> String {
    match &settings.state {
        StateSpec::File { path } => format!(" Commit {}.", path.display()),
        StateSpec::Git { remote, branch, .. } => {
            format!(" The state is on branch {branch} of {remote}.")
        }
        StateSpec::Postgres { scope, .. } => {
            format!(" The state is in scope {scope} of the PostgreSQL state.")
        }
    }
}

fn finish(ending: &Ending, settings: &Settings, printer: &Printer, keep: &str) -> Exit {
    let at = |t: chrono::DateTime<chrono::Utc>| {
        settings
            .local(t)
            .format("%Y-%m-%d %H:%M:%S %:z")
            .to_string()
    };
    match ending {
        Ending::Done {
            sent,
            scheduled,
            next,
        } => {
            let mut line = format!("Apply complete: {sent} sent");
            if *scheduled > 0 {
                line.push_str(&format!(", {scheduled} scheduled"));
                if let Some(t) = next {
                    line.push_str(&format!(
                        " (next slot {}; run apply again then, or use --wait)",
                        at(*t)
                    ));
                }
            }
            line.push_str(&format!(".{keep}\n"));
            printer.out(&printer.out_style(Style::Green, &line));
            Exit::Ok
        }
        Ending::Rejected {
            sent,
            key,
            code,
            message,
            next,
        } => {
            let mut text = format!(
                "{key}: the provider refused it (code {code}: {message}); it was not sent.\n"
            );
            if let Some(help) = client::explain(*code) {
                text.push_str(&format!("  {help}.\n"));
            }
            if *code == client::CODE_RATE_LIMITED
                && let Some(t) = next
            {
                text.push_str(&format!(
                    "  The next free slot by pushform's count is {}.\n",
                    at(*t)
                ));
            }
            text.push_str(&format!("Stopped after {sent} sent.{keep}\n"));
            printer.err(&format!(
                "{}: {text}",
                printer.err_style(Style::Red, "error")
            ));
            Exit::Error
        }
        Ending::Unknown { sent, key, reason } => {
            printer.err(&format!(
                "{}: {key}: the outcome is UNKNOWN ({reason}). The push may have reached users.\n  \
                 Check in the provider's console or with your users whether it arrived, then run\n  \
                 `pushform state resolve {key} --sent [--push-id ID]` or `pushform state resolve {key} --not-sent`.\n  \
                 Apply refuses to send anything until then. Stopped after {sent} sent.{keep}\n",
                printer.err_style(Style::Red, "error")
            ));
            Exit::Error
        }
        Ending::Unreachable { sent, key, reason } => {
            printer.err(&format!(
                "{}: {key}: not sent, no endpoint could be reached ({reason}). It stays pending; apply again later.\n  \
                 Stopped after {sent} sent.{keep}\n",
                printer.err_style(Style::Red, "error")
            ));
            Exit::Error
        }
        Ending::Interrupted { sent } => {
            printer.err(&format!(
                "Interrupted after {sent} sent; the {} is consistent.{keep}\n",
                match settings.state {
                    StateSpec::File { .. } => "lockfile",
                    StateSpec::Git { .. } | StateSpec::Postgres { .. } => "state",
                }
            ));
            Exit::Error
        }
    }
}

/// The endpoints a run sends to: `--endpoint`/`PUSHFORM_ENDPOINT`, else `api.endpoints`, else
/// the data centre's.
pub(crate) fn endpoints(
    config: &Config,
    endpoint_override: Option<&Endpoints>,
) -> Result<Vec<String>> {
    // Checked by clap (see `cli.rs`): set but blank never got this far.
    Ok(if let Some(Endpoints(list)) = endpoint_override {
        list.clone()
    } else if !config.api.endpoints.is_empty() {
        client::parse_endpoints(&config.api.endpoints.join(","))?
    } else {
        client::data_center_endpoints(&config.api.data_center)
            .ok_or_else(|| {
                anyhow!(
                    "pushform.yaml: api.data_center `{}` is not one of cn, sg, sg-b, na, sa",
                    config.api.data_center
                )
            })?
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    })
}

/// The signed client, and the hex SHA-1 of its App Key for the records.
pub(crate) fn make_client(config: &Config, endpoints: Vec<String>) -> Result<(Client, String)> {
    let key = env_var(&config.api.app_key_env)?;
    let secret = env_var(&config.api.app_secret_env)?;
    let key_sha1 = apply::app_key_sha1(&key);
    let client = Client::new(
        endpoints,
        Duration::from_secs(config.api.timeout_secs),
        Credentials::new(key, secret),
    )?;
    Ok((client, key_sha1))
}

/// The internal crash hook used by the crash-safety tests (`PUSHFORM_CRASH_AT`).
fn crash_point() -> Result<Option<CrashPoint>> {
    match std::env::var("PUSHFORM_CRASH_AT") {
        Ok(v) if !v.is_empty() => CrashPoint::parse(&v).map(Some).ok_or_else(|| {
            anyhow!("PUSHFORM_CRASH_AT `{v}` is not after-sending, after-response or before-sent")
        }),
        _ => Ok(None),
    }
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("pushform {}", args.join(" "))
}

fn confirm(printer: &Printer) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("apply needs --auto-approve when it is not run on a terminal (nothing was sent)");
    }
    printer.err("\nDo you want to send these pushes? A sent push cannot be recalled.\n  Only 'yes' will be accepted: ");
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
