//! Step 3 of a send: writing its outcome durably, retried while the store cannot take it, and
//! what to tell the operator when it could not be written (the push may be out while the state
//! still says `sending`).

use std::time::Duration;

use anyhow::{Result, anyhow};

use crate::client::SendOutcome;
use crate::state::{Lock, Outcome, RecordError, Session, Status};

use super::Ending;

/// How many times the outcome of a send is offered to the store, and the first pause between
/// attempts (doubled each time): a store that cannot take the outcome leaves `sending`, which
/// blocks every later run, so it is worth a few seconds of retrying.
pub(super) const OUTCOME_ATTEMPTS: u32 = 5;
pub(super) const OUTCOME_BACKOFF: Duration = Duration::from_millis(200);

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
        lock.settle(index, settle.clone())?;
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
pub(super) struct SettledElsewhere {
    key: String,
    request_id: String,
    pub(super) status: Status,
}

/// What to tell the operator when the outcome of a send could not be recorded: `settled` is
/// the status another writer gave the record meanwhile, `None` when it still says `sending`.
pub(super) fn unrecorded_note(
    key: &str,
    ending: &After,
    settled: Option<Status>,
    attempted: &str,
) -> String {
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
pub(super) enum After {
    Continue { push_id: String, endpoint: String },
    Rejected { code: i64, message: String },
    Stop(Ending),
}

/// What the state records for an answer of the provider: the outcome, the endpoint that
/// answered (none when nothing was reachable), and the status it gives the record. One mapping
/// for `apply` and `send-test`, so a test send is recorded exactly as a send is.
pub(crate) fn settlement(
    outcome: &SendOutcome,
    request_id: &str,
) -> (Outcome, Option<String>, Status) {
    let rid = Some(request_id.to_owned());
    match outcome {
        SendOutcome::Sent { push_id, endpoint } => (
            Outcome::Sent {
                push_id: Some(push_id.clone()),
                request_id: rid,
            },
            Some(endpoint.clone()),
            Status::Sent,
        ),
        SendOutcome::Rejected {
            code,
            http_status,
            message,
            endpoint,
        } => (
            Outcome::Rejected {
                request_id: rid,
                error: RecordError {
                    code: *code,
                    message: if message.is_empty() {
                        format!("HTTP {http_status}")
                    } else {
                        message.clone()
                    },
                },
            },
            Some(endpoint.clone()),
            Status::Rejected,
        ),
        SendOutcome::Unknown { reason, endpoint } => (
            Outcome::Unknown {
                request_id: rid,
                error: Some(RecordError {
                    code: 0,
                    message: reason.clone(),
                }),
            },
            Some(endpoint.clone()),
            Status::Unknown,
        ),
        SendOutcome::Unreachable { reason } => (
            Outcome::Rejected {
                request_id: rid,
                error: RecordError {
                    code: 0,
                    message: format!("not sent, no endpoint reachable: {reason}"),
                },
            },
            None,
            Status::Rejected,
        ),
    }
}
