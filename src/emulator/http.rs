//! The HTTP/1.x plumbing, deliberately small: a request head parsed strictly (bounded size and
//! header count, no folding, no `Transfer-Encoding`, one consistent `Content-Length`), a body read
//! to its length before a deadline, and an answer written whole. An early error answer is followed
//! by a bounded drain, so closing with unread input does not reset the answer away.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The largest request head accepted (431 beyond).
const MAX_HEAD: usize = 64 * 1024;
/// The most header lines accepted (431 beyond).
const MAX_HEADERS: usize = 100;
/// The largest body accepted (413 beyond); the provider's own content limit is 128 KiB.
pub(super) const MAX_BODY: usize = 1024 * 1024;

/// After an early error answer, how long unread input is drained so the close is not a reset
/// that destroys the answer before the client reads it.
const LINGER: Duration = Duration::from_millis(500);

/// Why a request cannot be served normally.
pub(super) enum HttpError {
    /// The client went away or stalled: nothing useful can be written.
    Closed,
    /// Answer with this status and message.
    Status(u16, String),
}

/// A parsed request head.
pub(super) struct Head {
    pub(super) method: String,
    pub(super) path: String,
    headers: Vec<(String, String)>,
    pub(super) content_length: usize,
    /// Body bytes that arrived with the head.
    pub(super) rest: Vec<u8>,
}

impl Head {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer to write.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) content_type: &'static str,
    pub(super) body: String,
    /// Extra header lines, each ending in CRLF.
    pub(super) extra_headers: &'static str,
    /// What the log line says about it.
    pub(super) note: String,
}

impl Reply {
    pub(super) fn json(status: u16, body: &Value, note: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
            extra_headers: "",
            note: note.into(),
        }
    }

    /// The provider's error shape.
    pub(super) fn api_error(status: u16, code: i64, message: &str) -> Self {
        Self::json(
            status,
            &json!({ "code": code, "errorMessage": message }),
            format!("code {code}: {message}"),
        )
    }

    /// An HTTP-level error: deliberately without a provider `code`, since it is not the API
    /// answering.
    pub(super) fn http_error(status: u16, message: &str) -> Self {
        Self::json(status, &json!({ "error": message }), message.to_owned())
    }
}

/// Reads into `buf` before `deadline`; 0 means the peer closed.
fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, HttpError> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpError::Status(
                408,
                "request not received in time".to_owned(),
            ));
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(HttpError::Status(
                    408,
                    "request not received in time".to_owned(),
                ));
            }
            Err(_) => return Err(HttpError::Closed),
        }
    }
}

pub(super) fn read_head(stream: &mut TcpStream, deadline: Instant) -> Result<Head, HttpError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        // Only the new bytes (and 3 before them) can complete the terminator.
        let from = buf.len().saturating_sub(chunk.len() + 3);
        if let Some(end) = find(&buf[from..], b"\r\n\r\n").map(|i| i + from) {
            let mut head = parse_head(&buf[..end])?;
            head.rest = buf[end + 4..].to_vec();
            return Ok(head);
        }
        if buf.len() > MAX_HEAD {
            return Err(HttpError::Status(
                431,
                format!("request head larger than {MAX_HEAD} bytes"),
            ));
        }
        let n = read_some(stream, &mut chunk, deadline)?;
        if n == 0 {
            return Err(if buf.is_empty() {
                HttpError::Closed
            } else {
                HttpError::Status(400, "connection closed inside the request head".to_owned())
            });
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(bytes: &[u8]) -> Result<Head, HttpError> {
    let bad = |message: &str| HttpError::Status(400, message.to_owned());
    let text = std::str::from_utf8(bytes).map_err(|_| bad("request head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if method.is_empty() || method.len() > 16 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad("malformed method"));
    }
    if !target.starts_with('/') {
        return Err(bad("request target must be a path"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HttpError::Status(
            505,
            "only HTTP/1.x is supported".to_owned(),
        ));
    }
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() >= MAX_HEADERS {
            return Err(HttpError::Status(
                431,
                format!("more than {MAX_HEADERS} headers"),
            ));
        }
        if line.starts_with([' ', '\t']) {
            return Err(bad("folded header lines are not allowed"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("header line without ':'"))?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(bad("malformed header name"));
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut head = Head {
        method: method.to_owned(),
        path: target.split('?').next().unwrap_or(target).to_owned(),
        headers,
        content_length: 0,
        rest: Vec::new(),
    };
    if head.header("transfer-encoding").is_some() {
        return Err(HttpError::Status(
            501,
            "Transfer-Encoding is not supported: send Content-Length".to_owned(),
        ));
    }
    let mut length = None;
    for (name, value) in &head.headers {
        if !name.eq_ignore_ascii_case("content-length") {
            continue;
        }
        let parsed =
            (!value.is_empty() && value.len() <= 19 && value.bytes().all(|b| b.is_ascii_digit()))
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| bad("malformed Content-Length"))?;
        if length.is_some_and(|l| l != parsed) {
            return Err(bad("conflicting Content-Length headers"));
        }
        length = Some(parsed);
    }
    // Beyond usize means beyond MAX_BODY: saturate and let the size check answer 413.
    head.content_length = length.map_or(0, |l| usize::try_from(l).unwrap_or(usize::MAX));
    Ok(head)
}

pub(super) fn read_body(
    stream: &mut TcpStream,
    head: &Head,
    deadline: Instant,
) -> Result<Vec<u8>, HttpError> {
    let mut body = head.rest.clone();
    // One request per connection: anything after the body is ignored.
    body.truncate(head.content_length);
    let mut chunk = [0u8; 16 * 1024];
    while body.len() < head.content_length {
        let want = (head.content_length - body.len()).min(chunk.len());
        let n = read_some(stream, &mut chunk[..want], deadline)?;
        if n == 0 {
            return Err(HttpError::Closed);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok(body)
}

pub(super) fn write_reply(stream: &mut TcpStream, reply: &Reply) {
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n{}\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len(),
        reply.extra_headers,
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(reply.body.as_bytes());
    let _ = stream.flush();
}

/// Lets the client read an early answer: closing with unread input would send a reset, which can
/// destroy the answer in flight. Bounded by time and volume.
pub(super) fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let until = Instant::now() + LINGER;
    let mut drained = 0usize;
    let mut chunk = [0u8; 16 * 1024];
    while drained < 4 * MAX_BODY {
        match read_some(stream, &mut chunk, until) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}
