//! Reading the provider's answer and deciding what it means. The answer is read within a time
//! budget and a size cap, then classified with a fixed precedence: 3xx, 5xx and the provider's
//! internal error are ambiguous whatever the body says; then a JSON `code` decides; only then do
//! statuses that are definite by themselves stand in for a missing code. Server text is quoted
//! bounded and with control characters blanked, since it goes to terminals and files.

use std::io::Read;
use std::time::{Duration, Instant};

use super::outcome::{CODE_BAD_SIGNATURE, CODE_INTERNAL_ERROR, CODE_RATE_LIMITED, SendOutcome};

/// Answers are a few dozen bytes; anything bigger is not the API talking.
const MAX_ANSWER: usize = 64 * 1024;
/// How much of an unexpected answer is quoted in an `Unknown` reason.
const SNIPPET_CHARS: usize = 200;
/// Cap on a provider `errorMessage` we store and print.
const MAX_MESSAGE_CHARS: usize = 500;

/// Reads at most [`MAX_ANSWER`] bytes of the answer within `budget`; `Err` says why not.
pub(super) fn read_answer(
    mut response: reqwest::blocking::Response,
    budget: Duration,
) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + budget;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // Each read is itself bounded by the client timeout; the deadline stops a trickle.
        if Instant::now() > deadline {
            return Err(format!("reading the answer took longer than {budget:?}"));
        }
        match response.read(&mut chunk) {
            Ok(0) => return Ok(answer),
            Ok(n) => {
                answer.extend_from_slice(&chunk[..n]);
                if answer.len() > MAX_ANSWER {
                    return Err(format!("the answer is larger than {MAX_ANSWER} bytes"));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("reading the answer failed: {}", error_chain(&e))),
        }
    }
}

/// The parts of a provider answer `{"code":N,"id":"...","errorMessage":"..."}` we use.
struct Answer {
    code: Option<i64>,
    id: Option<String>,
    message: Option<String>,
}

fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let object = value.as_object()?;
    Some(Answer {
        code: object.get("code").and_then(serde_json::Value::as_i64),
        id: object
            .get("id")
            .and_then(serde_json::Value::as_str)
            .filter(|id| !id.is_empty())
            .map(str::to_owned),
        message: object
            .get("errorMessage")
            .and_then(serde_json::Value::as_str)
            .map(|m| printable(m, MAX_MESSAGE_CHARS)),
    })
}

/// Turns an HTTP answer (or the failure to read its body) into an [`SendOutcome`].
///
/// Precedence matters: 3xx and 5xx are ambiguous whatever the body says, and the provider's code
/// 1000 is its internal error, equally ambiguous; then a JSON `code` decides; only then do the
/// statuses that are definite by themselves (401, 429) stand in for a missing code.
pub(super) fn classify(endpoint: &str, status: u16, body: Result<&[u8], &str>) -> SendOutcome {
    let unknown = |reason: String| SendOutcome::Unknown {
        reason,
        endpoint: endpoint.to_owned(),
    };
    if (300..400).contains(&status) {
        return unknown(format!(
            "HTTP {status}: a redirect, which pushform never follows; the push may or may not have gone out"
        ));
    }
    if status >= 500 {
        return unknown(format!(
            "HTTP {status} server error{}; the push may or may not have gone out",
            describe_body(body)
        ));
    }
    let answer = body.ok().and_then(parse_answer);
    if let Some(Answer {
        code: Some(code),
        id,
        message,
    }) = answer
    {
        match code {
            200 if status == 200 => {
                return match id {
                    Some(push_id) => SendOutcome::Sent {
                        push_id,
                        endpoint: endpoint.to_owned(),
                    },
                    None => unknown(
                        "HTTP 200 with code 200 but no push id; the push probably went out"
                            .to_owned(),
                    ),
                };
            }
            CODE_INTERNAL_ERROR => {
                return unknown(format!(
                    "HTTP {status} with code 1000 (provider internal error{}); the push may or may not have gone out",
                    message.map(|m| format!(": {m}")).unwrap_or_default()
                ));
            }
            200 => {} // contradicts a non-200 status: not a recognisable answer
            code => {
                return SendOutcome::Rejected {
                    code,
                    http_status: status,
                    message: message.unwrap_or_else(|| format!("HTTP {status}")),
                    endpoint: endpoint.to_owned(),
                };
            }
        }
    }
    match status {
        401 => SendOutcome::Rejected {
            code: CODE_BAD_SIGNATURE,
            http_status: status,
            message: "HTTP 401 Unauthorized: signature refused".to_owned(),
            endpoint: endpoint.to_owned(),
        },
        429 => SendOutcome::Rejected {
            code: CODE_RATE_LIMITED,
            http_status: status,
            message: "HTTP 429 Too Many Requests".to_owned(),
            endpoint: endpoint.to_owned(),
        },
        // Any other client error: the provider refused the request as a whole (too large, no
        // such path, bad method) before processing it, so nothing was sent.
        400..=499 => SendOutcome::Rejected {
            code: i64::from(status),
            http_status: status,
            message: format!(
                "HTTP {status} {}: the request was refused and not processed{}",
                reason_phrase(status),
                describe_body(body)
            ),
            endpoint: endpoint.to_owned(),
        },
        _ => unknown(format!(
            "HTTP {status} without a recognisable answer{}; the push may or may not have gone out",
            describe_body(body)
        )),
    }
}

fn reason_phrase(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("client error")
}

fn describe_body(body: Result<&[u8], &str>) -> String {
    match body {
        Ok([]) => " (empty body)".to_owned(),
        Ok(bytes) => format!(
            " (body: {})",
            printable(&String::from_utf8_lossy(bytes), SNIPPET_CHARS)
        ),
        Err(why) => format!(" ({why})"),
    }
}

/// At most `max` characters, control characters blanked: server text goes to terminals and files.
fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// `e` and its sources on one line: reqwest's own message omits the cause users need.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}
