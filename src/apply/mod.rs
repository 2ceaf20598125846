//! The send protocol: the one place where plans, the state and the client meet.
//!
//! For each due unit, in plan order: write a `sending` record durably (off the machine, for a
//! shared backend), POST, then write the outcome durably. A crash between the two writes leaves `sending`, which every later run reads
//! as "maybe sent" and refuses to resend until a person resolves it; so a push is never sent
//! twice and never missing from the lock. After every send the plan is made again against the
//! real clock and the updated history, so a slot is only used when it is due, an expired unit is
//! never sent, and a saved plan applied late behaves like a fresh one. Nothing here prints: the
//! caller observes `Event`s.
//!
//! This file is the loop and its types; `checks` holds the rules that refuse a run before
//! anything is sent, `outcome` the recording of a send's outcome and what to say when that fails.

mod checks;
mod outcome;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Result, anyhow};
use chrono::{DateTime, TimeDelta, Utc};

use crate::client::{self, SendOutcome};
use crate::plan::{self, Action, Plan, TestGate};
use crate::quota::{self, Quota};
use crate::render::Unit;
use crate::settings::Now;
use crate::state::{Lock, Record, Session, Status};

pub(crate) use checks::{
    Saved, app_key_sha1, check_app_key, check_fresh, check_rehearsals, check_unresolved,
};
use outcome::{After, SettledElsewhere, unrecorded_note};
pub(crate) use outcome::{record_outcome, settlement};

/// Anything that can POST a body: the real client, or a fake in tests.
pub(crate) trait Sender {
    fn send(&self, body: &[u8], request_id: &str) -> SendOutcome;
}

impl Sender for client::Client {
    fn send(&self, body: &[u8], request_id: &str) -> SendOutcome {
        client::Client::send(self, body, request_id)
    }
}

/// Test-only places to abort the process inside the protocol (`PUSHFORM_CRASH_AT`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CrashPoint {
    /// Right after the `sending` record is durable, before the request.
    AfterSending,
    /// Right after the answer is read, before anything is recorded.
    AfterResponse,
    /// Right before the outcome record is written.
    BeforeSent,
}

impl CrashPoint {
    pub(crate) fn parse(s: &str) -> Option<CrashPoint> {
        match s {
            "after-sending" => Some(CrashPoint::AfterSending),
            "after-response" => Some(CrashPoint::AfterResponse),
            "before-sent" => Some(CrashPoint::BeforeSent),
            _ => None,
        }
    }
}

pub(crate) struct Options<'a> {
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

/// The marks a run puts on every record it writes: its environment, the hash of its App Key,
/// and whether it is a rehearsal (every endpoint loopback).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Stamp {
    pub environment: Option<String>,
    pub app_key_sha1: Option<String>,
    pub rehearsal: bool,
}

impl Stamp {
    pub(crate) fn mark(&self, record: &mut Record) {
        record.environment.clone_from(&self.environment);
        record.app_key_sha1.clone_from(&self.app_key_sha1);
        record.rehearsal = self.rehearsal.then_some(true);
    }
}

/// What happened, for the caller to show as it happens.
#[derive(Clone, Debug)]
pub(crate) enum Event<'a> {
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
pub(crate) enum Ending {
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

/// Applies the pending units among `units` against the state held by `session`.
///
/// Every record change goes through [`Session::commit`], which returns only once the change is
/// durable where every later run reads it: for a shared backend that is off this machine, so
/// the `sending` intent outlives a runner that dies during the POST. The edit that writes
/// `sending` plans again on the state it is applied to, so a backend that had to re-read its
/// state (another writer moved first) never sends a unit that is no longer due.
///
/// Before anything else it enforces the two rules no caller may skip: nothing is sent while a
/// send of the state is unresolved ([`Unresolved`](checks::Unresolved)), and a saved plan is
/// applied only to the state and bodies it was made against ([`check_fresh`]).
pub(crate) fn apply(
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
            request_id: Some(request_id.clone()),
            ..unit.record(Status::Sending, local)
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
        let (settle, endpoint, status) = settlement(&outcome, &request_id);
        let ending = match outcome {
            SendOutcome::Sent { push_id, endpoint } => After::Continue { push_id, endpoint },
            SendOutcome::Rejected {
                code,
                http_status,
                message,
                ..
            } => After::Rejected {
                code,
                message: if message.is_empty() {
                    format!("HTTP {http_status}")
                } else {
                    message
                },
            },
            SendOutcome::Unknown { reason, .. } => After::Stop(Ending::Unknown {
                sent,
                key: unit.key.clone(),
                reason,
            }),
            SendOutcome::Unreachable { reason } => After::Stop(Ending::Unreachable {
                sent,
                key: unit.key.clone(),
                reason,
            }),
        };
        crash_if(opts, CrashPoint::BeforeSent);
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
pub(crate) fn select_targets<'u>(units: &'u [Unit], targets: &[String]) -> Result<Vec<&'u Unit>> {
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
