//! The control endpoints under `/_emulator/`, for a user driving the emulator with curl: list what
//! was received, set or clear a fault, reset. They never meet a fault and never use one up. A
//! refusal set over HTTP must end by itself, since nothing can reach this endpoint while it lasts.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::Fault;
use super::http::{Head, Reply};
use super::server::Shared;
use super::state::lock;

/// The control endpoints, for a user driving the emulator with curl.
pub(super) fn control(shared: &Shared, head: &Head, body: &[u8]) -> Reply {
    match (head.method.as_str(), head.path.as_str()) {
        ("GET", "/_emulator/received") => {
            let list: Vec<Value> = lock(&shared.state)
                .received
                .iter()
                .map(|r| {
                    json!({
                        "body": serde_json::from_slice::<Value>(&r.bytes)
                            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&r.bytes).into_owned())),
                        "push_id": r.push_id,
                        "request_id": r.request_id,
                        "at_ms": r.at_ms,
                    })
                })
                .collect();
            let count = list.len();
            Reply::json(200, &Value::Array(list), format!("{count} received"))
        }
        ("POST", "/_emulator/fault") => match parse_fault_request(body) {
            Ok(Some(FaultRequest::Requests(fault, times))) => {
                lock(&shared.state).set_fault(fault, times, None);
                Reply::json(
                    200,
                    &json!({ "ok": true }),
                    format!("fault {} for {times} request(s)", fault.name()),
                )
            }
            Ok(Some(FaultRequest::RefuseFor(secs))) => {
                let until = Instant::now().checked_add(Duration::from_secs(secs));
                lock(&shared.state).set_fault(Fault::Refuse, 1, until);
                // Answered on this connection, already accepted; the next ones are refused.
                shared.sync_listener();
                Reply::json(
                    200,
                    &json!({ "ok": true }),
                    format!("fault refuse for {secs} s"),
                )
            }
            Ok(None) => {
                lock(&shared.state).clear_fault();
                Reply::json(200, &json!({ "ok": true }), "fault cleared")
            }
            Err(problem) => Reply::http_error(400, &problem),
        },
        ("POST", "/_emulator/reset") => {
            lock(&shared.state).reset();
            Reply::json(200, &json!({ "ok": true }), "reset")
        }
        (_, "/_emulator/received" | "/_emulator/fault" | "/_emulator/reset") => {
            Reply::http_error(405, "method not allowed")
        }
        _ => Reply::http_error(404, "not found"),
    }
}

/// A fault asked for over HTTP.
#[derive(Debug, PartialEq, Eq)]
enum FaultRequest {
    /// A per-request fault for the next `times` requests to `/push.json`.
    Requests(Fault, u32),
    /// `refuse` for this many seconds: while it refuses, nothing can reach the control
    /// endpoint to clear it, so it must end by itself.
    RefuseFor(u64),
}

/// The longest refusal asked for over HTTP.
const MAX_REFUSE_SECS: u64 = 3600;

/// `{"fault":"drop","times":1}` (`times` defaults to 1; `"none"` clears), or
/// `{"fault":"refuse","secs":10}`.
fn parse_fault_request(body: &[u8]) -> Result<Option<FaultRequest>, String> {
    const USAGE: &str = "expected {\"fault\":\"close_unread|stall_after_body|drop|http500|rate_limited|not_enabled|not_json|not_found|too_large|none\",\"times\":1} or {\"fault\":\"refuse\",\"secs\":10}";
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("{USAGE}: {e}"))?;
    let name = value
        .get("fault")
        .and_then(Value::as_str)
        .ok_or_else(|| USAGE.to_owned())?;
    let times = match value.get("times") {
        None => 1,
        Some(t) => t
            .as_u64()
            .and_then(|t| u32::try_from(t).ok())
            .ok_or_else(|| format!("times must be a small non-negative integer; {USAGE}"))?,
    };
    if name == "none" {
        return Ok(None);
    }
    let fault = Fault::from_name(name).ok_or_else(|| format!("unknown fault {name:?}; {USAGE}"))?;
    if fault == Fault::Refuse {
        let secs = value
            .get("secs")
            .and_then(Value::as_u64)
            .filter(|s| (1..=MAX_REFUSE_SECS).contains(s))
            .ok_or_else(|| {
                format!(
                    "refuse needs \"secs\" (1 to {MAX_REFUSE_SECS}): while it refuses, nothing can reach this endpoint to clear it"
                )
            })?;
        return Ok(Some(FaultRequest::RefuseFor(secs)));
    }
    Ok(Some(FaultRequest::Requests(fault, times)))
}
