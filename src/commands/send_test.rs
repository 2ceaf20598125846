//! `pushform send-test KEY`: one push's exact body to test users only, so a person sees it on a
//! phone before its real audience does.
//!
//! It is a send like any other as far as the provider and the state are concerned: the same
//! signed client, the same journal (`sending` durable before the request, the outcome after),
//! and one send of the App Key's quota. So it is recorded, as a `test` record: quota history
//! and evidence for `require_test_in`, never a sent unit.

use anyhow::{Result, anyhow, bail};
use chrono::TimeDelta;

use crate::apply::{self, Stamp};
use crate::body;
use crate::cli::SendTestArgs;
use crate::client::{self, SendOutcome};
use crate::exit::Exit;
use crate::printer::{Printer, Style};
use crate::quota;
use crate::render::Unit;
use crate::report;
use crate::state::{self, Holder, Lock, LockIndex, Record, RecordKind, Status};

use super::apply::{endpoints, make_client};
use super::context::Context;

/// The provider's limit on `audience.userid`.
const MAX_TEST_USERS: usize = 1000;

pub(super) fn run(cx: &Context<'_>, args: &SendTestArgs) -> Result<Exit> {
    let (settings, printer) = (&cx.settings, cx.printer);
    let unit = find_unit(&cx.units, &args.key)?;
    let to = if args.to.is_empty() {
        settings.test_to.clone()
    } else {
        args.to.clone()
    };
    check_recipients(&to)?;
    let bytes = body::to_test_users(&unit.bytes, &to)
        .ok_or_else(|| anyhow!("internal error: the body of `{}` does not parse", unit.key))?;
    let config = &cx.project.config;
    let endpoints = endpoints(config, args.endpoint.as_ref())?;
    let rehearsal = client::all_loopback(&endpoints);
    let (client, key_sha1) = make_client(config, endpoints)?;

    let store = state::open(settings);
    let holder = Holder::current(format!("pushform send-test {}", unit.key));
    let mut session = store.open(&holder, args.lock_wait.lock_timeout)?;
    let lock = session
        .current()
        .cloned()
        .ok_or_else(|| state::no_state_error(&store.describe()))?;
    apply::check_rehearsals(&lock, rehearsal)?;
    apply::check_app_key(&lock, &key_sha1, args.new_app_key)?;
    let now = settings.now.get();
    check_quota(&lock, &settings.quota, now, settings)?;

    let where_ = settings
        .environment
        .as_deref()
        .map(|e| format!(" in `{e}`"))
        .unwrap_or_default();
    let value: serde_json::Value = serde_json::from_slice(&bytes)?;
    printer.out(&format!(
        "Test send of `{}`{where_} to {} test {} ({}) instead of its audience ({}).\n",
        unit.key,
        to.len(),
        if to.len() == 1 { "user" } else { "users" },
        to.join(", "),
        report::audience_text(Some(&unit.body_json()))
    ));
    if !args.auto_approve && !confirm(printer)? {
        printer.err("Test send cancelled; nothing was sent.\n");
        return Ok(Exit::Error);
    }

    let request_id = uuid::Uuid::new_v4().to_string();
    // The test users' body, not the unit's: its own digest.
    let mut record = Record {
        request_id: Some(request_id.clone()),
        kind: Some(RecordKind::Test),
        ..Record::attempt(
            unit.key.clone(),
            unit.campaign.clone(),
            unit.locale.clone(),
            body::digest(&bytes),
            value.into(),
            Status::Sending,
            settings.local(now),
        )
    };
    Stamp {
        environment: settings.environment.clone(),
        app_key_sha1: Some(key_sha1),
        rehearsal,
    }
    .mark(&mut record);
    session.lease()?;
    // 1. The intent, durably, before anything leaves the machine.
    session.commit(
        &format!("pushform: {} test sending", unit.key),
        &mut |lock: &mut Lock| {
            lock.append(record.clone());
            Ok(true)
        },
    )?;
    // 2. The request: the unit's bytes with the test audience.
    let outcome = client.send(&bytes, &request_id);
    // 3. The outcome, durably.
    let (settle, endpoint, status) = apply::settlement(&outcome, &request_id);
    let recorded = apply::record_outcome(
        session.as_mut(),
        &unit.key,
        &request_id,
        &settle,
        endpoint.as_deref(),
        status,
    );
    let after = session.current().cloned().unwrap_or(lock);
    if let Err(err) = session.release() {
        printer.err(&format!("warning: {err:#}\n"));
    }
    recorded.map_err(|e| {
        e.context(format!(
            "the outcome of the test send of `{}` could not be recorded; the state still says \
             `sending`: check the test device, then run `pushform state resolve {} --sent` or \
             `--not-sent`",
            unit.key, unit.key
        ))
    })?;
    Ok(finish(&outcome, unit, &after, settings, printer))
}

/// A unit key, or a campaign id that has exactly one unit.
fn find_unit<'u>(units: &'u [Unit], key: &str) -> Result<&'u Unit> {
    if let Some(unit) = units.iter().find(|u| u.key == key) {
        return Ok(unit);
    }
    let of_campaign: Vec<&Unit> = units.iter().filter(|u| u.campaign == key).collect();
    match of_campaign.as_slice() {
        [one] => Ok(one),
        [] => {
            bail!("no unit `{key}` in the campaign files (unit keys look like `id` or `id/locale`)")
        }
        many => {
            let keys: Vec<&str> = many.iter().map(|u| u.key.as_str()).collect();
            bail!(
                "`{key}` has {} units ({}): name one, each test send uses a send of the quota",
                many.len(),
                keys.join(", ")
            )
        }
    }
}

fn check_recipients(to: &[String]) -> Result<()> {
    if to.is_empty() {
        bail!(
            "no test users: pass --to USERID (repeatable) or set `test_to` in pushform.yaml (for \
             the environment)"
        );
    }
    if let Some(bad) = to
        .iter()
        .find(|u| u.trim().is_empty() || u.trim() != u.as_str())
    {
        bail!("test user id {bad:?} is blank or has spaces around it");
    }
    if to.len() > MAX_TEST_USERS {
        bail!(
            "{} test users: the provider takes at most {MAX_TEST_USERS} user ids",
            to.len()
        );
    }
    Ok(())
}

/// A test send uses the quota like any send: refused when no send may go now, or while a send
/// of the state is unresolved (its quota use is unknown).
fn check_quota(
    lock: &Lock,
    q: &quota::Quota,
    now: chrono::DateTime<chrono::Utc>,
    settings: &crate::settings::Settings,
) -> Result<()> {
    if let Some(r) = lock.sends.iter().find(|r| r.status.is_unresolved()) {
        bail!(
            "`{}` has an unresolved attempt ({}): resolve it with `pushform state resolve {} \
             --sent` or `--not-sent` first; nothing was sent",
            r.key,
            r.status,
            r.key
        );
    }
    let index = LockIndex::new(lock);
    let next = quota::free_slots(index.history(), q, now, now + TimeDelta::days(3), 1);
    match next.first() {
        Some(t) if *t == now => Ok(()),
        Some(t) => bail!(
            "no send of the quota is free now (a test send uses one, as at the provider); the \
             next free slot is {}. Nothing was sent",
            settings.local(*t).format("%Y-%m-%d %H:%M:%S %:z")
        ),
        None => bail!("no send of the quota is free in the next 3 days; nothing was sent"),
    }
}

fn finish(
    outcome: &SendOutcome,
    unit: &Unit,
    after: &Lock,
    settings: &crate::settings::Settings,
    printer: &Printer,
) -> Exit {
    let key = &unit.key;
    match outcome {
        SendOutcome::Sent { push_id, endpoint } => {
            let q = &settings.quota;
            let now = settings.now.get();
            let used = quota::usage(LockIndex::new(after).history(), q, now).today;
            let left = q.per_day.saturating_sub(used);
            printer.out(&printer.out_style(
                Style::Green,
                &format!(
                    "Test send of `{key}` sent (push id {push_id}, via {endpoint}); recorded as a \
                     test, the push itself is not sent. {left} of {} sends of this App Key's \
                     quota left today.\n",
                    q.per_day
                ),
            ));
            Exit::Ok
        }
        SendOutcome::Rejected { code, message, .. } => {
            let mut text =
                format!("{key}: the provider refused the test send (code {code}: {message}).\n");
            if let Some(help) = client::explain(*code) {
                text.push_str(&format!("  {help}.\n"));
            }
            printer.err(&format!(
                "{}: {text}",
                printer.err_style(Style::Red, "error")
            ));
            Exit::Error
        }
        SendOutcome::Unknown { reason, .. } => {
            printer.err(&format!(
                "{}: {key}: the outcome of the test send is UNKNOWN ({reason}). Check the test \
                 device, then run `pushform state resolve {key} --sent` or `--not-sent`.\n",
                printer.err_style(Style::Red, "error")
            ));
            Exit::Error
        }
        SendOutcome::Unreachable { reason } => {
            printer.err(&format!(
                "{}: {key}: the test send was not sent, no endpoint could be reached ({reason}).\n",
                printer.err_style(Style::Red, "error")
            ));
            Exit::Error
        }
    }
}

fn confirm(printer: &Printer) -> Result<bool> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        bail!("send-test needs --auto-approve when it is not run on a terminal (nothing was sent)");
    }
    printer.err(
        "\nSend this test push? It uses one send of the App Key's quota.\n  Only 'yes' will be accepted: ",
    );
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
