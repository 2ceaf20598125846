//! The send protocol: the one place where plans, the state and the client meet.
//!
//! For each due unit, in plan order: write a `sending` record durably (off the machine, for a
//! shared backend), POST, then write the outcome durably. A crash between the two writes leaves `sending`, which every later run reads
//! as "maybe sent" and refuses to resend until a person resolves it; so a push is never sent
//! twice and never missing from the lock. After every send the plan is made again against the
//! real clock and the updated history, so a slot is only used when it is due, an expired unit is
//! never sent, and a saved plan applied late behaves like a fresh one. Nothing here prints: the
//! caller observes `Event`s.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, TimeDelta, Utc};

use crate::client::{self, SendOutcome};
use crate::plan::{self, Action, Plan, TestGate};
use crate::quota::{self, Quota};
use crate::render::Unit;
use crate::settings::Now;
use crate::state::{Lock, Outcome, Record, RecordError, Session, Status};

/// Anything that can POST a body: the real client, or a fake in tests.
pub trait Sender {
    fn send(&self, body: &[u8], request_id: &str) -> SendOutcome;
}

impl Sender for client::Client {
    fn send(&self, body: &[u8], request_id: &str) -> SendOutcome {
        client::Client::send(self, body, request_id)
    }
}

/// Test-only places to abort the process inside the protocol (`PUSHFORM_CRASH_AT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrashPoint {
    /// Right after the `sending` record is durable, before the request.
    AfterSending,
    /// Right after the answer is read, before anything is recorded.
    AfterResponse,
    /// Right before the outcome record is written.
    BeforeSent,
}

impl CrashPoint {
    pub fn parse(s: &str) -> Option<CrashPoint> {
        match s {
            "after-sending" => Some(CrashPoint::AfterSending),
            "after-response" => Some(CrashPoint::AfterResponse),
            "before-sent" => Some(CrashPoint::BeforeSent),
            _ => None,
        }
    }
}

pub struct Options<'a> {
    pub quota: &'a Quota,
    pub now: Now,
    /// Keep going: sleep until the next scheduled slot instead of stopping.
    pub wait: bool,
    pub crash_at: Option<CrashPoint>,
    /// Set by Ctrl-C: stop before the next send.
    pub stop: &'a AtomicBool,
    /// What every record of this run carries besides the send itself.
    pub stamp: Stamp,
    /// `require_test_in`: units whose content was not test-sent there are never sent.
    pub gate: Option<&'a TestGate>,
    /// The reviewed plan file being applied, if any: refused unless still fresh.
    pub saved: Option<Saved<'a>>,
}

/// A saved plan being applied, with what its staleness is judged against (see [`check_fresh`]).
#[derive(Clone, Copy)]
pub struct Saved<'a> {
    pub plan: &'a Plan,
    /// Every unit rendered from the campaign files.
    pub units: &'a [Unit],
    /// The units left by `--target`, before the plan's own selection.
    pub targeted: &'a [Unit],
}

/// The sends of a state whose fate is unknown (`sending` or `unknown`): while there is one,
/// nothing is sent, since its quota use and whether it reached users are both unknown.
#[derive(Debug)]
pub struct Unresolved {
    /// Key and note of each unresolved send, for the caller to list before the error.
    pub sends: Vec<(String, String)>,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "apply is blocked: {} unresolved {} (listed above). Resolve with `pushform state resolve KEY --sent` or `--not-sent`",
            self.sends.len(),
            if self.sends.len() == 1 {
                "send"
            } else {
                "sends"
            }
        )
    }
}

impl std::error::Error for Unresolved {}

/// Refuses a plan that holds an unresolved send (see [`Unresolved`]). A plan of any subset of
/// the units lists every unresolved send of the project, gone keys included.
pub fn check_unresolved(plan: &Plan) -> Result<(), Unresolved> {
    let sends: Vec<(String, String)> = plan
        .actions
        .iter()
        .filter(|a| a.action == Action::Unresolved)
        .map(|a| (a.key.clone(), a.note.clone().unwrap_or_default()))
        .collect();
    if sends.is_empty() {
        Ok(())
    } else {
        Err(Unresolved { sends })
    }
}

/// A saved plan is applied only to the state it was made against, and only if it had no error.
///
/// Every unit of the campaign files the plan knew must still render to the digest it planned,
/// not only the ones it sends: an edit to a unit already sent turns it into a `!` error that a
/// plain apply refuses, and a saved plan must not slip past that. `targeted` are the units
/// left by `--target`; the plan's sends must all be among them.
pub fn check_fresh(saved: &Plan, lock: &Lock, units: &[Unit], targeted: &[Unit]) -> Result<()> {
    let current =
        (!lock.sends.is_empty() || lock.serial > 0).then_some((lock.lineage.as_str(), lock.serial));
    let planned = saved.lock.as_ref().map(|l| (l.lineage.as_str(), l.serial));
    if current != planned {
        let describe = |x: Option<(&str, u64)>| {
            x.map_or("no lockfile".to_owned(), |(l, s)| {
                format!("lineage {l} serial {s}")
            })
        };
        bail!(
            "stale plan: it was made against {}, but the lockfile is now at {}. Make a new plan",
            describe(planned),
            describe(current)
        );
    }
    // `file` is null for units known only from the lock (`gone`): nothing to render.
    for a in saved.actions.iter().filter(|a| a.file.is_some()) {
        let sends = matches!(a.action, Action::Send | Action::Scheduled);
        match (if sends { targeted } else { units })
            .iter()
            .find(|u| u.key == a.key)
        {
            None => bail!(
                "stale plan: `{}` is no longer in the campaign files (or not in --target). Make a new plan",
                a.key
            ),
            Some(u) if Some(&u.digest) != a.digest.as_ref() => bail!(
                "stale plan: the body of `{}` changed since the plan was made (sha1 {} now, {} planned). Make a new plan",
                a.key,
                u.digest,
                a.digest.as_deref().unwrap_or("none")
            ),
            Some(_) => {}
        }
    }
    // As a plain apply refuses a plan with errors, unless --target leaves them out.
    if let Some(a) = saved
        .actions
        .iter()
        .find(|a| a.action.is_error() && targeted.iter().any(|u| u.key == a.key))
    {
        bail!(
            "the saved plan has errors (`{}` is marked `{}`: {}); it cannot be applied. Fix them and make a new plan",
            a.key,
            a.action.symbol(),
            a.note
                .as_deref()
                .unwrap_or("see `pushform show` of the plan file")
        );
    }
    Ok(())
}

/// The marks a run puts on every record it writes: its environment, the hash of its App Key,
/// and whether it is a rehearsal (every endpoint loopback).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stamp {
    pub environment: Option<String>,
    pub app_key_sha1: Option<String>,
    pub rehearsal: bool,
}

impl Stamp {
    pub fn mark(&self, record: &mut Record) {
        record.environment.clone_from(&self.environment);
        record.app_key_sha1.clone_from(&self.app_key_sha1);
        record.rehearsal = self.rehearsal.then_some(true);
    }
}

/// Hex SHA-1 of an App Key: what records carry instead of the key.
pub fn app_key_sha1(app_key: &str) -> String {
    crate::body::digest(app_key.as_bytes())
}

/// Refuses a state whose latest key-marked record was written under another App Key, before
/// anything is sent: a staging key against the production state (or a state copied from
/// another app) would plan against a history that is not this key's. `rotated` is the
/// acknowledgement of a deliberate key rotation (`--new-app-key`).
pub fn check_app_key(lock: &Lock, sha1: &str, rotated: bool) -> Result<()> {
    let Some(last) = lock.sends.iter().rev().find(|r| r.app_key_sha1.is_some()) else {
        return Ok(());
    };
    let theirs = last.app_key_sha1.as_deref().unwrap_or_default();
    if theirs == sha1 || rotated {
        return Ok(());
    }
    Err(anyhow!(
        "this state was written with another App Key (sha1 {theirs}, latest record `{}` at \
         {}{}), and this run signs with App Key sha1 {sha1}: nothing was sent. Check that the \
         App Key variables and --env name the same app as the state. If the App Key was \
         rotated on purpose, pass --new-app-key once to accept the new key; its first record \
         marks the state as the new key's",
        last.key,
        last.attempted_at.to_rfc3339(),
        last.environment
            .as_deref()
            .map(|e| format!(", environment `{e}`"))
            .unwrap_or_default()
    ))
}

/// Refuses a state holding rehearsal records (sent to a loopback emulator, received by no
/// one) when the endpoints are real: those units would show as sent and never reach users.
pub fn check_rehearsals(lock: &Lock, rehearsal: bool) -> Result<()> {
    if rehearsal {
        return Ok(());
    }
    let keys: Vec<&str> = lock
        .sends
        .iter()
        .filter(|r| r.is_rehearsal())
        .map(|r| r.key.as_str())
        .collect();
    if let Some(first) = keys.first() {
        return Err(anyhow!(
            "the state holds {} rehearsal {} (sent to a loopback emulator, e.g. `{first}`), \
             but the endpoints are real: those pushes would count as sent and never reach \
             users. Nothing was sent. Remove them with `pushform state forget-rehearsals` (or \
             use a state of its own for rehearsals)",
            keys.len(),
            if keys.len() == 1 { "record" } else { "records" }
        ));
    }
    Ok(())
}

/// What happened, for the caller to show as it happens.
#[derive(Clone, Debug)]
pub enum Event<'a> {
    Sending {
        unit: &'a Unit,
    },
    Sent {
        unit: &'a Unit,
        push_id: String,
        endpoint: String,
    },
    Waiting {
        until: DateTime<Utc>,
        key: String,
    },
    Tick {
        remaining: Duration,
        key: String,
    },
}

/// How an apply ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ending {
    /// Everything due was sent; `scheduled` remain for later (0 with --wait).
    Done {
        sent: usize,
        scheduled: usize,
        next: Option<DateTime<Utc>>,
    },
    /// The provider refused a push: nothing was sent for it. `next` is the next free slot.
    Rejected {
        sent: usize,
        key: String,
        code: i64,
        message: String,
        next: Option<DateTime<Utc>>,
    },
    /// The outcome of a push is unknown: it may have been sent.
    Unknown {
        sent: usize,
        key: String,
        reason: String,
    },
    /// No endpoint could be reached: nothing was sent.
    Unreachable {
        sent: usize,
        key: String,
        reason: String,
    },
    /// Ctrl-C between sends.
    Interrupted { sent: usize },
}

/// How many times the outcome of a send is offered to the store, and the first pause between
/// attempts (doubled each time): a store that cannot take the outcome leaves `sending`, which
/// blocks every later run, so it is worth a few seconds of retrying.
const OUTCOME_ATTEMPTS: u32 = 5;
const OUTCOME_BACKOFF: Duration = Duration::from_millis(200);

/// Applies the pending units among `units` against the state held by `session`.
///
/// Every record change goes through [`Session::commit`], which returns only once the change is
/// durable where every later run reads it: for a shared backend that is off this machine, so
/// the `sending` intent outlives a runner that dies during the POST. The edit that writes
/// `sending` plans again on the state it is applied to, so a backend that had to re-read its
/// state (another writer moved first) never sends a unit that is no longer due.
///
/// Before anything else it enforces the two rules no caller may skip: nothing is sent while a
/// send of the state is unresolved ([`Unresolved`]), and a saved plan is applied only to the
/// state and bodies it was made against ([`check_fresh`]).
pub fn apply(
    session: &mut dyn Session,
    units: &[Unit],
    sender: &dyn Sender,
    opts: &Options<'_>,
    observe: &mut dyn FnMut(Event<'_>),
) -> Result<Ending> {
    {
        let lock = current(session)?;
        let now = opts.now.get();
        check_unresolved(&plan::plan_gated(
            units,
            Some(lock),
            now,
            opts.quota,
            opts.gate,
        ))?;
        if let Some(saved) = &opts.saved {
            check_fresh(saved.plan, lock, saved.units, saved.targeted)?;
        }
    }
    let mut sent = 0;
    loop {
        if opts.stop.load(Ordering::SeqCst) {
            return Ok(Ending::Interrupted { sent });
        }
        let now = opts.now.get();
        let lock = current(session)?;
        let plan = plan::plan_gated(units, Some(lock), now, opts.quota, opts.gate);
        let Some(action) = plan.actions.iter().find(|a| a.action == Action::Send) else {
            let next = next_scheduled(&plan);
            match next {
                Some((until, key)) if opts.wait => {
                    if !sleep_until(until, &key, opts, observe) {
                        return Ok(Ending::Interrupted { sent });
                    }
                    continue;
                }
                _ => {
                    let scheduled = plan
                        .actions
                        .iter()
                        .filter(|a| a.action == Action::Scheduled)
                        .count();
                    return Ok(Ending::Done {
                        sent,
                        scheduled,
                        next: next.map(|(t, _)| t),
                    });
                }
            }
        };
        let unit = units.iter().find(|u| u.key == action.key).ok_or_else(|| {
            anyhow!(
                "internal error: planned unit {} is not rendered",
                action.key
            )
        })?;

        // 1. The intent, durably, before anything leaves the machine.
        let request_id = uuid::Uuid::new_v4().to_string();
        let local = now.with_timezone(&opts.quota.tz).fixed_offset();
        let mut record = Record {
            key: unit.key.clone(),
            campaign: unit.campaign.clone(),
            locale: unit.locale.clone(),
            digest: unit.digest.clone(),
            body: unit.body_json(),
            status: Status::Sending,
            attempted_at: local,
            push_id: None,
            request_id: Some(request_id.clone()),
            endpoint: None,
            error: None,
            source: None,
            resolved_at: None,
            accepted: None,
            project: None,
            kind: None,
            environment: None,
            app_key_sha1: None,
            rehearsal: None,
        };
        opts.stamp.mark(&mut record);
        // Other runners see who is sending (a no-op once held, and for the file backend).
        session.lease()?;
        let written = session.commit(
            &format!("pushform: {} sending", unit.key),
            &mut |lock: &mut Lock| {
                // On the state as the store has it now: still due?
                let fresh = plan::plan_gated(units, Some(lock), now, opts.quota, opts.gate);
                // An unresolved send blocks every run, not only at its start: another runner's
                // `sending` (or `unknown`) may have landed since, and its quota use and fate are
                // unknown.
                let unresolved: Vec<&str> = fresh
                    .actions
                    .iter()
                    .filter(|a| a.action == Action::Unresolved)
                    .map(|a| a.key.as_str())
                    .collect();
                if let Some(first) = unresolved.first() {
                    return Err(anyhow!(
                        "`{}` was not sent: the state now holds {} unresolved {} (`{first}`{}), \
                         written since this run started. Nothing more is sent; once it is settled \
                         (`pushform state resolve {first} --sent` or `--not-sent`), run apply again",
                        unit.key,
                        unresolved.len(),
                        if unresolved.len() == 1 { "send" } else { "sends" },
                        if unresolved.len() > 1 { ", …" } else { "" }
                    ));
                }
                let due = fresh
                    .actions
                    .iter()
                    .any(|a| a.key == unit.key && a.action == Action::Send);
                if due {
                    lock.append(record.clone());
                }
                Ok(due)
            },
        )?;
        if !written {
            // Another writer changed the state first and this unit is no longer due: plan again.
            continue;
        }
        crash_if(opts, CrashPoint::AfterSending);
        observe(Event::Sending { unit });

        // 2. The request: the exact bytes that were planned and digested.
        let outcome = sender.send(&unit.bytes, &request_id);
        crash_if(opts, CrashPoint::AfterResponse);

        // 3. The outcome, durably.
        let rid = Some(request_id.clone());
        let (settle, endpoint, ending) = match outcome {
            SendOutcome::Sent { push_id, endpoint } => (
                Outcome::Sent {
                    push_id: Some(push_id.clone()),
                    request_id: rid,
                },
                Some(endpoint.clone()),
                After::Continue { push_id, endpoint },
            ),
            SendOutcome::Rejected {
                code,
                http_status,
                message,
                endpoint,
            } => {
                let message = if message.is_empty() {
                    format!("HTTP {http_status}")
                } else {
                    message
                };
                (
                    Outcome::Rejected {
                        request_id: rid,
                        error: RecordError {
                            code,
                            message: message.clone(),
                        },
                    },
                    Some(endpoint),
                    After::Rejected { code, message },
                )
            }
            SendOutcome::Unknown { reason, endpoint } => (
                Outcome::Unknown {
                    request_id: rid,
                    error: Some(RecordError {
                        code: 0,
                        message: reason.clone(),
                    }),
                },
                Some(endpoint),
                After::Stop(Ending::Unknown {
                    sent,
                    key: unit.key.clone(),
                    reason,
                }),
            ),
            SendOutcome::Unreachable { reason } => (
                // Provably not sent: the unit stays pending; the attempt is kept for the record.
                Outcome::Rejected {
                    request_id: rid,
                    error: RecordError {
                        code: 0,
                        message: format!("not sent, no endpoint reachable: {reason}"),
                    },
                },
                None,
                After::Stop(Ending::Unreachable {
                    sent,
                    key: unit.key.clone(),
                    reason,
                }),
            ),
        };
        crash_if(opts, CrashPoint::BeforeSent);
        let status = match &settle {
            Outcome::Sent { .. } => Status::Sent,
            Outcome::Rejected { .. } => Status::Rejected,
            Outcome::Unknown { .. } => Status::Unknown,
        };
        if let Err(err) = record_outcome(
            session,
            &unit.key,
            &request_id,
            &settle,
            endpoint.as_deref(),
            status,
        ) {
            // Say what really happened so the operator can record it by hand: the store still
            // says `sending` (which blocks every later apply), or another writer settled the
            // record while the push was in flight.
            let settled = err.downcast_ref::<SettledElsewhere>().map(|s| s.status);
            let what = unrecorded_note(&unit.key, &ending, settled, &local.to_rfc3339());
            return Err(err.context(what));
        }

        match ending {
            After::Continue { push_id, endpoint } => {
                sent += 1;
                observe(Event::Sent {
                    unit,
                    push_id,
                    endpoint,
                });
            }
            After::Rejected { code, message } => {
                return Ok(Ending::Rejected {
                    sent,
                    key: unit.key.clone(),
                    code,
                    message,
                    next: next_free(current(session)?, opts.quota, opts.now.get()),
                });
            }
            After::Stop(ending) => return Ok(ending),
        }
    }
}

fn current(session: &dyn Session) -> Result<&Lock> {
    session
        .current()
        .ok_or_else(|| anyhow!("internal error: the state vanished during apply"))
}

/// Settles the `sending` record of `request_id`, retrying a store that cannot take it yet.
/// The record is found by its request id, not its position, so a state re-read after another
/// writer moved still gets the right record; one already settled the same way is left alone.
pub(crate) fn record_outcome(
    session: &mut dyn Session,
    key: &str,
    request_id: &str,
    settle: &Outcome,
    endpoint: Option<&str>,
    status: Status,
) -> Result<()> {
    let message = format!("pushform: {key} {status}");
    let mut edit = |lock: &mut Lock| -> Result<bool> {
        let index = lock
            .sends
            .iter()
            .position(|r| r.request_id.as_deref() == Some(request_id))
            .ok_or_else(|| {
                anyhow!(
                    "the `sending` record of `{key}` (request {request_id}) is gone from the state"
                )
            })?;
        let found = lock.sends[index].status;
        if found == status {
            return Ok(false);
        }
        if found != Status::Sending {
            return Err(SettledElsewhere {
                key: key.to_owned(),
                request_id: request_id.to_owned(),
                status: found,
            }
            .into());
        }
        lock.settle(index, settle.clone())
            .map_err(|e| anyhow!("{e}"))?;
        lock.sends[index].endpoint = endpoint.map(str::to_owned);
        Ok(true)
    };
    let mut pause = OUTCOME_BACKOFF;
    let mut attempt = 1;
    loop {
        match session.commit(&message, &mut edit) {
            Ok(_) => return Ok(()),
            // No retry changes another writer's decision.
            Err(err) if err.downcast_ref::<SettledElsewhere>().is_some() => return Err(err),
            Err(err) if attempt >= OUTCOME_ATTEMPTS => {
                return Err(err.context(format!("{attempt} attempts to record the outcome failed")));
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause *= 2;
                attempt += 1;
            }
        }
    }
}

/// The `sending` record of a push in flight was settled by another writer (e.g. `state
/// resolve`) before its outcome could be recorded: the state no longer says `sending`.
#[derive(Debug, thiserror::Error)]
#[error(
    "the record of `{key}` (request {request_id}) is already {status}: another writer changed \
     it while the push was in flight"
)]
pub(crate) struct SettledElsewhere {
    key: String,
    request_id: String,
    status: Status,
}

/// What to tell the operator when the outcome of a send could not be recorded: `settled` is
/// the status another writer gave the record meanwhile, `None` when it still says `sending`.
fn unrecorded_note(key: &str, ending: &After, settled: Option<Status>, attempted: &str) -> String {
    match (ending, settled) {
        (After::Continue { push_id, .. }, None) => format!(
            "`{key}` WAS SENT (push id {push_id}) but recording it failed. The state still says \
             `sending`, so later runs are blocked and will not resend it; once the problem is \
             fixed run `pushform state resolve {key} --sent --push-id {push_id}`"
        ),
        (_, None) => format!(
            "the outcome of `{key}` could not be recorded. The state still says `sending`; check \
             the provider, then run `pushform state resolve {key} --sent` or `--not-sent`"
        ),
        (After::Continue { push_id, .. }, Some(Status::Sent)) => format!(
            "`{key}` WAS SENT (push id {push_id}); another writer had already recorded it as \
             sent meanwhile, without this push id"
        ),
        (After::Continue { push_id, .. }, Some(status)) => format!(
            "`{key}` WAS SENT (push id {push_id}), but while it was in flight another writer \
             changed its record to `{status}`: the state does not record this send, and a later \
             run may send it again. Record it now with `pushform state import {key} --sent-at \
             {attempted} --push-id {push_id}`"
        ),
        (After::Stop(Ending::Unknown { .. }), Some(status)) => format!(
            "`{key}` MAY HAVE BEEN SENT (its outcome is unknown), and while it was in flight \
             another writer changed its record to `{status}`. Check the provider; if it was \
             sent and the state does not say so, record it with `pushform state import {key} \
             --sent-at {attempted}`"
        ),
        (_, Some(status)) => format!(
            "`{key}` was not sent, and while the attempt was in flight another writer changed \
             its record to `{status}`; nothing else was recorded"
        ),
    }
}

/// What the loop does once an outcome is recorded.
enum After {
    Continue { push_id: String, endpoint: String },
    Rejected { code: i64, message: String },
    Stop(Ending),
}

fn crash_if(opts: &Options<'_>, point: CrashPoint) {
    if opts.crash_at == Some(point) {
        // Test hook: die like a killed process, without unwinding or flushing anything.
        std::process::abort();
    }
}

fn next_scheduled(plan: &Plan) -> Option<(DateTime<Utc>, String)> {
    plan.actions
        .iter()
        .filter(|a| a.action == Action::Scheduled)
        .filter_map(|a| a.scheduled_at.map(|t| (t, a.key.clone())))
        .min()
}

fn next_free(lock: &Lock, quota: &Quota, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let index = crate::state::LockIndex::new(lock);
    quota::free_slots(index.history(), quota, now, now + TimeDelta::days(3), 1)
        .into_iter()
        .next()
}

/// Sleeps until `until` in short steps so Ctrl-C is honoured; false if interrupted.
fn sleep_until(
    until: DateTime<Utc>,
    key: &str,
    opts: &Options<'_>,
    observe: &mut dyn FnMut(Event<'_>),
) -> bool {
    observe(Event::Waiting {
        until,
        key: key.to_owned(),
    });
    loop {
        if opts.stop.load(Ordering::SeqCst) {
            return false;
        }
        let now = opts.now.get();
        if now >= until {
            return true;
        }
        let remaining = (until - now).to_std().unwrap_or_default();
        observe(Event::Tick {
            remaining,
            key: key.to_owned(),
        });
        std::thread::sleep(remaining.min(Duration::from_millis(500)));
    }
}

/// Keys named by `--target` (a campaign id or a unit key) must exist.
pub fn select_targets<'u>(units: &'u [Unit], targets: &[String]) -> Result<Vec<&'u Unit>> {
    if targets.is_empty() {
        return Ok(units.iter().collect());
    }
    let mut found = HashSet::new();
    let selected: Vec<&Unit> = units
        .iter()
        .filter(|u| {
            targets.iter().any(|t| {
                let hit = t == &u.key || t == &u.campaign;
                if hit {
                    found.insert(t.as_str());
                }
                hit
            })
        })
        .collect();
    if let Some(missing) = targets.iter().find(|t| !found.contains(t.as_str())) {
        return Err(anyhow!(
            "--target {missing}: no such campaign or unit in the campaign files"
        ));
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory state whose every write succeeds at once.
    struct Memory(Lock, usize);

    /// A state another runner writes to just before this one's first write lands (a lost
    /// compare-and-swap: the edit is applied to the moved state).
    struct Racing {
        inner: Memory,
        theirs: Option<Record>,
    }

    impl Session for Racing {
        fn current(&self) -> Option<&Lock> {
            self.inner.current()
        }
        fn create(&mut self, lock: Lock, message: &str) -> Result<()> {
            self.inner.create(lock, message)
        }
        fn commit(
            &mut self,
            message: &str,
            edit: &mut dyn FnMut(&mut Lock) -> Result<bool>,
        ) -> Result<bool> {
            if let Some(record) = self.theirs.take() {
                self.inner.0.append(record);
            }
            self.inner.commit(message, edit)
        }
        fn lease(&mut self) -> Result<()> {
            Ok(())
        }
        fn release(&mut self) -> Result<()> {
            Ok(())
        }
    }

    struct Counting(std::cell::Cell<usize>);

    impl Sender for Counting {
        fn send(&self, _: &[u8], _: &str) -> SendOutcome {
            self.0.set(self.0.get() + 1);
            SendOutcome::Sent {
                push_id: "p".to_owned(),
                endpoint: "e".to_owned(),
            }
        }
    }

    /// Two units `a` and `b` rendered from a temporary project (kept alive by the `TempDir`).
    fn two_units() -> (tempfile::TempDir, Vec<Unit>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("campaigns")).unwrap();
        for id in ["a", "b"] {
            std::fs::write(
                dir.path().join(format!("campaigns/{id}.yaml")),
                format!(
                    "id: {id}\npush: {{platform: [ios], audience: {{is_to_all: false, packageName: p}}, notification: {{alert: {id}}}}}\n"
                ),
            )
            .unwrap();
        }
        let project = crate::project::Project::load(dir.path()).unwrap();
        let (units, findings) = crate::render::render_all(&project);
        assert!(findings.is_empty(), "{findings:?}");
        (dir, units)
    }

    const QUOTA: Quota = Quota {
        per_hour: 2,
        per_day: 3,
        tz: chrono_tz::Asia::Shanghai,
    };

    fn options<'a>(stop: &'a AtomicBool, saved: Option<Saved<'a>>) -> Options<'a> {
        Options {
            quota: &QUOTA,
            now: Now::Pinned(
                DateTime::parse_from_rfc3339("2026-11-26T15:00:00+08:00")
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            wait: false,
            crash_at: None,
            stop,
            stamp: Stamp::default(),
            gate: None,
            saved,
        }
    }

    #[test]
    fn an_unresolved_send_that_lands_mid_run_stops_the_run_before_its_next_send() {
        let (_dir, units) = two_units();
        // Another runner's `sending` for `b` lands between this run's plan and its write.
        let mut theirs = sending("b", "theirs");
        theirs.digest.clone_from(&units[1].digest);
        theirs.body = units[1].body_json();
        let mut session = Racing {
            inner: Memory(Lock::new(), 0),
            theirs: Some(theirs),
        };
        let stop = AtomicBool::new(false);
        let opts = options(&stop, None);
        let sender = Counting(std::cell::Cell::new(0));
        let err = apply(&mut session, &units, &sender, &opts, &mut |_| {}).unwrap_err();
        let text = format!("{err:#}");
        assert!(text.contains("`a` was not sent"), "{text}");
        assert!(text.contains("1 unresolved send (`b`)"), "{text}");
        assert_eq!(sender.0.get(), 0, "nothing was sent");
        let keys: Vec<&str> = session
            .inner
            .0
            .sends
            .iter()
            .map(|r| r.key.as_str())
            .collect();
        assert_eq!(keys, ["b"], "no `sending` record of this run");
    }

    impl Session for Memory {
        fn current(&self) -> Option<&Lock> {
            Some(&self.0)
        }
        fn create(&mut self, lock: Lock, _: &str) -> Result<()> {
            self.0 = lock;
            Ok(())
        }
        fn commit(
            &mut self,
            _: &str,
            edit: &mut dyn FnMut(&mut Lock) -> Result<bool>,
        ) -> Result<bool> {
            self.1 += 1;
            let mut next = self.0.clone();
            let changed = edit(&mut next)?;
            if changed {
                self.0 = next;
            }
            Ok(changed)
        }
        fn lease(&mut self) -> Result<()> {
            Ok(())
        }
        fn release(&mut self) -> Result<()> {
            Ok(())
        }
    }

    fn sending(key: &str, request_id: &str) -> Record {
        Record {
            key: key.to_owned(),
            campaign: key.to_owned(),
            locale: None,
            digest: "d".to_owned(),
            body: serde_json::json!({}),
            status: Status::Sending,
            attempted_at: DateTime::parse_from_rfc3339("2026-11-26T15:00:00+08:00").unwrap(),
            push_id: None,
            request_id: Some(request_id.to_owned()),
            endpoint: None,
            error: None,
            source: None,
            resolved_at: None,
            accepted: None,
            project: None,
            kind: None,
            environment: None,
            app_key_sha1: None,
            rehearsal: None,
        }
    }

    #[test]
    fn an_outcome_for_a_record_another_writer_settled_is_refused_at_once_and_told_plainly() {
        let mut lock = Lock::new();
        let mut record = sending("x", "r1");
        record.status = Status::Rejected;
        lock.append(record);
        let mut session = Memory(lock, 0);
        let sent = Outcome::Sent {
            push_id: Some("p1".to_owned()),
            request_id: Some("r1".to_owned()),
        };
        let err = record_outcome(&mut session, "x", "r1", &sent, None, Status::Sent).unwrap_err();
        let settled = err.downcast_ref::<SettledElsewhere>().map(|s| s.status);
        assert_eq!(settled, Some(Status::Rejected), "{err:#}");
        assert_eq!(session.1, 1, "no retry changes another writer's decision");
        assert_eq!(
            session.0.sends[0].status,
            Status::Rejected,
            "nothing written"
        );

        let ending = After::Continue {
            push_id: "p1".to_owned(),
            endpoint: "e".to_owned(),
        };
        let note = unrecorded_note("x", &ending, settled, "2026-11-26T15:00:00+08:00");
        assert!(!note.contains("still says `sending`"), "{note}");
        assert!(note.contains("WAS SENT (push id p1)"), "{note}");
        assert!(note.contains("`rejected`"), "{note}");
        assert!(
            note.contains(
                "pushform state import x --sent-at 2026-11-26T15:00:00+08:00 --push-id p1"
            ),
            "{note}"
        );
        // Still `sending`: the old advice stands.
        let note = unrecorded_note("x", &ending, None, "2026-11-26T15:00:00+08:00");
        assert!(note.contains("still says `sending`"), "{note}");
    }

    #[test]
    fn an_outcome_for_a_sending_record_is_written_once() {
        let mut lock = Lock::new();
        lock.append(sending("x", "r1"));
        let mut session = Memory(lock, 0);
        let sent = Outcome::Sent {
            push_id: Some("p1".to_owned()),
            request_id: Some("r1".to_owned()),
        };
        record_outcome(&mut session, "x", "r1", &sent, Some("e"), Status::Sent).unwrap();
        assert_eq!(session.0.sends[0].status, Status::Sent);
        assert_eq!(session.0.sends[0].endpoint.as_deref(), Some("e"));
    }

    #[test]
    fn apply_called_directly_sends_nothing_while_the_state_holds_an_unresolved_send() {
        let (_dir, units) = two_units();
        let mut lock = Lock::new();
        let mut theirs = sending("b", "theirs");
        theirs.digest.clone_from(&units[1].digest);
        lock.append(theirs);
        let mut session = Memory(lock, 0);
        let stop = AtomicBool::new(false);
        let sender = Counting(std::cell::Cell::new(0));
        let err = apply(
            &mut session,
            &units,
            &sender,
            &options(&stop, None),
            &mut |_| {},
        )
        .unwrap_err();
        let blocked = err.downcast_ref::<Unresolved>().expect("refused up front");
        assert_eq!(blocked.sends.len(), 1);
        assert_eq!(blocked.sends[0].0, "b");
        assert_eq!(
            format!("{err:#}"),
            "apply is blocked: 1 unresolved send (listed above). Resolve with `pushform state resolve KEY --sent` or `--not-sent`"
        );
        assert_eq!(sender.0.get(), 0, "nothing was sent");
        assert_eq!(
            session.1, 0,
            "nothing was written, not even a `sending` intent"
        );
    }

    #[test]
    fn apply_called_directly_refuses_a_stale_saved_plan_before_sending() {
        let (_dir, units) = two_units();
        let stop = AtomicBool::new(false);
        let now = options(&stop, None).now.get();
        let fresh = plan::plan(&units, None, now, &QUOTA);

        // Made against another state (lineage and serial).
        let mut other_state = fresh.clone();
        other_state.lock = Some(plan::LockRef {
            lineage: "l-old".to_owned(),
            serial: 3,
        });
        // A body edited since the plan was made (its digest).
        let mut edited = fresh.clone();
        edited.actions[0].digest = Some("0000".to_owned());

        for (saved, expected) in [
            (
                &other_state,
                "stale plan: it was made against lineage l-old serial 3, but the lockfile is now at no lockfile. Make a new plan".to_owned(),
            ),
            (
                &edited,
                format!(
                    "stale plan: the body of `a` changed since the plan was made (sha1 {} now, 0000 planned). Make a new plan",
                    units[0].digest
                ),
            ),
        ] {
            let mut session = Memory(Lock::new(), 0);
            let sender = Counting(std::cell::Cell::new(0));
            let saved = Saved {
                plan: saved,
                units: &units,
                targeted: &units,
            };
            let err = apply(
                &mut session,
                &units,
                &sender,
                &options(&stop, Some(saved)),
                &mut |_| {},
            )
            .unwrap_err();
            assert_eq!(format!("{err:#}"), expected);
            assert_eq!(sender.0.get(), 0, "nothing was sent");
            assert_eq!(session.1, 0, "nothing was written");
        }

        // The same plan, still fresh, is applied.
        let mut session = Memory(Lock::new(), 0);
        let sender = Counting(std::cell::Cell::new(0));
        let saved = Saved {
            plan: &fresh,
            units: &units,
            targeted: &units,
        };
        let ending = apply(
            &mut session,
            &units,
            &sender,
            &options(&stop, Some(saved)),
            &mut |_| {},
        )
        .unwrap();
        assert!(matches!(ending, Ending::Done { sent: 2, .. }), "{ending:?}");
    }

    /// A state that takes the `sending` intent and then refuses every later write.
    struct Failing(Memory);

    impl Session for Failing {
        fn current(&self) -> Option<&Lock> {
            self.0.current()
        }
        fn create(&mut self, lock: Lock, message: &str) -> Result<()> {
            self.0.create(lock, message)
        }
        fn commit(
            &mut self,
            message: &str,
            edit: &mut dyn FnMut(&mut Lock) -> Result<bool>,
        ) -> Result<bool> {
            if self.0.1 >= 1 {
                self.0.1 += 1;
                return Err(anyhow!("disk full"));
            }
            self.0.commit(message, edit)
        }
        fn lease(&mut self) -> Result<()> {
            Ok(())
        }
        fn release(&mut self) -> Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_push_sent_whose_outcome_cannot_be_recorded_is_reported_as_sent_with_the_resolve_command() {
        let (_dir, units) = two_units();
        let mut session = Failing(Memory(Lock::new(), 0));
        let stop = AtomicBool::new(false);
        let sender = Counting(std::cell::Cell::new(0));
        let err = apply(
            &mut session,
            &units,
            &sender,
            &options(&stop, None),
            &mut |_| {},
        )
        .unwrap_err();
        let text = format!("{err:#}");
        assert!(text.starts_with("`a` WAS SENT (push id p)"), "{text}");
        assert!(
            text.contains("run `pushform state resolve a --sent --push-id p`"),
            "{text}"
        );
        assert!(text.contains("disk full"), "{text}");
        assert_eq!(sender.0.get(), 1, "sent exactly once, never retried");
        assert_eq!(
            session.0.1,
            1 + OUTCOME_ATTEMPTS as usize,
            "the intent, then every attempt at the outcome"
        );
        let record = &session.0.0.sends[0];
        assert_eq!(
            record.status,
            Status::Sending,
            "the state still says `sending`"
        );
        assert_eq!(session.0.0.sends.len(), 1, "`b` was not attempted");
    }
}
