//! `POST /push.json` as the provider answers it: the injected fault first, then signature (401,
//! 1004), quota (429, 1008), header and body rules (400, 1002), and on success a push id and a
//! record of the body exactly as received. The signature is computed here, independently of the
//! client's code, so a bug there cannot hide itself here; the body rules are the caller's.

use serde_json::{Value, json};
use sha1::{Digest, Sha1};

use super::http::{Head, Reply};
use super::server::{Shared, stall};
use super::state::lock;
use super::{BodyRules, Fault, Received};

pub(super) const PUSH_PATH: &str = "/push.json";

/// Handles a `/push.json` request whose body was read; `None` means close without answering.
pub(super) fn push(
    shared: &Shared,
    head: &Head,
    body: Vec<u8>,
    fault: Option<Fault>,
) -> Option<Reply> {
    let log_line = |note: &str| format!("{} {} -> {note}", head.method, head.path);
    match fault {
        Some(Fault::StallAfterBody) => {
            shared.log(|| log_line("no answer (fault stall_after_body)"));
            stall(shared);
            None
        }
        Some(Fault::Http500) => Some(Reply::api_error(500, 1000, "internal server error")),
        Some(Fault::RateLimited) => Some(Reply::api_error(429, 1008, "too many requests")),
        Some(Fault::NotEnabled) => Some(Reply::api_error(403, 1009, "service not enabled")),
        Some(Fault::NotJson) => Some(Reply {
            status: 200,
            content_type: "text/html",
            body: "<html>oops".to_owned(),
            extra_headers: "",
            note: "<html>oops (fault not_json)".to_owned(),
        }),
        Some(fault @ (Fault::NotFound | Fault::TooLarge)) => {
            let (status, text) = if fault == Fault::NotFound {
                (404, "<html>not found")
            } else {
                (413, "request entity too large")
            };
            Some(Reply {
                status,
                content_type: "text/html",
                body: text.to_owned(),
                extra_headers: "",
                note: format!("{text} (fault {})", fault.name()),
            })
        }
        Some(Fault::Drop) => {
            let reply = process(shared, head, body);
            shared.log(|| {
                log_line(&format!(
                    "{} {}, answer withheld and connection closed (fault drop)",
                    reply.status, reply.note
                ))
            });
            None
        }
        // Neither gets this far; treat them like no fault rather than panic.
        Some(Fault::Refuse | Fault::CloseUnread) | None => Some(process(shared, head, body)),
    }
}

/// What the provider does with a request: signature, quota, body, accept.
fn process(shared: &Shared, head: &Head, body: Vec<u8>) -> Reply {
    let cfg = &shared.cfg;
    let signed = match (
        head.header("app-key"),
        head.header("nonce"),
        head.header("timestamp"),
        head.header("signature"),
    ) {
        (Some(key), Some(nonce), Some(timestamp), Some(signature)) => {
            key == cfg.app_key && signature == sign(&cfg.app_secret, nonce, timestamp)
        }
        _ => false,
    };
    if !signed {
        return Reply::api_error(401, 1004, "signature error");
    }
    let now = {
        let mut state = lock(&shared.state);
        let now = state.now_ms();
        if !state.admit(now, cfg) {
            return Reply::api_error(429, 1008, "too many requests");
        }
        now
    };
    if let Err(problem) = check_headers(head).and_then(|()| {
        let value: Value =
            serde_json::from_slice(&body).map_err(|e| format!("body is not valid JSON: {e}"))?;
        check_body(cfg.body_rules, &value)
    }) {
        return Reply::api_error(400, 1002, &problem);
    }
    let push_id = new_push_id();
    let request_id = head.header("x-request-id").map(str::to_owned);
    let note = format!(
        "accepted push {push_id} (request id {})",
        request_id.as_deref().unwrap_or("none")
    );
    lock(&shared.state).received.push(Received {
        bytes: body,
        push_id: push_id.clone(),
        request_id,
        at_ms: now,
    });
    Reply::json(200, &json!({ "code": 200, "id": push_id }), note)
}

/// Header rules of the client contract, checked so a client regression shows up in tests.
fn check_headers(head: &Head) -> Result<(), String> {
    let content_type = head.header("content-type").unwrap_or("");
    if !content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    {
        return Err(format!(
            "Content-Type must be application/json, got {content_type:?}"
        ));
    }
    if head
        .header("nonce")
        .is_some_and(|n| n.is_empty() || n.len() > 18)
    {
        return Err("Nonce must be 1 to 18 characters".to_owned());
    }
    if head.header("x-request-id").is_some_and(|id| id.len() > 36) {
        return Err("X-Request-ID must be at most 36 characters".to_owned());
    }
    Ok(())
}

/// The provider's body rules that the emulator enforces (HTTP 400, code 1002 when broken).
///
/// # Errors
/// The broken rules, as a message.
pub(super) fn check_body(rules: BodyRules, v: &Value) -> Result<(), String> {
    let raw = rules(v);
    if raw.is_err()
        && let Some(decoded) = with_decoded_content(v)
        && rules(&decoded).is_ok()
    {
        // The provider's own SDK sends `message.content` URL-encoded, and the provider takes it.
        return Ok(());
    }
    raw
}

/// `v` with `message.content` percent-decoded, if it is a string with a valid `%XX` escape and
/// decodes to UTF-8. `+` stays `+`: the SDK encodes spaces as `%20`.
fn with_decoded_content(v: &Value) -> Option<Value> {
    let content = v.get("message")?.get("content")?.as_str()?;
    if !content.contains('%') {
        return None;
    }
    let bytes = content.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).ok()?;
    let mut v = v.clone();
    v["message"]["content"] = Value::String(decoded);
    Some(v)
}

/// The provider's signature, computed here independently of the client's code on purpose.
pub(super) fn sign(secret: &str, nonce: &str, timestamp: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(secret.as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.update(timestamp.as_bytes());
    hex::encode(hasher.finalize())
}

/// 22 random base-62 characters, the shape of the provider's push ids.
fn new_push_id() -> String {
    const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = uuid::Uuid::new_v4().as_u128();
    (0..22)
        .map(|_| {
            let digit = usize::try_from(n % 62).unwrap_or(0);
            n /= 62;
            char::from(ALPHABET[digit])
        })
        .collect()
}
