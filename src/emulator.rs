//! A local stand-in for the provider's `POST /push.json`, for tests and user rehearsals.
//!
//! The real API cannot be used to test pushform: every call spends a scarce quota slot and a sent
//! push cannot be recalled. This emulator answers like the provider (signature check with HTTP 401,
//! body validation with 1002, the 2-per-hour / 3-per-natural-day quota with 429/1008, a push id on
//! success), counts the quota by its own clock (pinnable, so tests need not wait an hour), records
//! every body it accepted, and injects the faults that make sending ambiguous: a connection closed
//! unread, an answer that never comes, a push accepted but never acknowledged, 500, 429, 1009 and a
//! non-JSON answer. Those faults are what the send protocol must survive without sending twice.
//! It also refuses connections outright (`refuse`: nothing listens), the one failure after which
//! a client may safely try the backup endpoint.
//!
//! It accepts what the provider accepts from its own server SDK, and nothing more: the Python SDK
//! sends `message.content` URL-encoded (`%7B%22content%22…`) and signs with a Timestamp in
//! seconds, and the provider takes both, so the emulator checks the percent-decoded content when
//! the raw one is not valid for its type (the signature never depended on the timestamp's unit).
//!
//! It is deliberately small: `std::net`, one blocking thread per connection (bounded in number and
//! time), one request per connection, `Content-Length` bodies only. It depends on nothing else in
//! the crate, not even the client's signing code, so a bug there cannot hide itself here. The
//! body rules are the one thing it does not own: its caller passes them in ([`BodyRules`]; the
//! tests and the `emulator` example pass pushform's own, `validate::check_json_body`), so a body
//! the tool accepts is one the emulator accepts without the emulator importing the tool.
//! Dropping the [`Emulator`] stops it and joins all of its threads.
//!
//! Test infrastructure, not product: it is compiled only with the `emulator` cargo feature, which
//! the test suite turns on (a dev-dependency of the crate on itself) and `cargo install` does not.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha1::{Digest, Sha1};

/// The provider's body rules, as the emulator's caller sees them: `Ok` for a body the provider
/// takes, else the broken rules as one message (answered as HTTP 400, code 1002).
pub type BodyRules = fn(&Value) -> Result<(), String>;

/// How the emulator is set up. [`EmulatorConfig::new`] is the provider's quota with China's
/// natural day.
#[derive(Clone)]
pub struct EmulatorConfig {
    /// Where to listen; `None` is `127.0.0.1:0` (an OS-assigned port).
    pub addr: Option<SocketAddr>,
    pub app_key: String,
    pub app_secret: String,
    /// At most this many calls in any rolling 60 minutes.
    pub per_hour: u32,
    /// At most this many calls per natural day.
    pub per_day: u32,
    /// Where the natural day starts, as an offset from UTC (e.g. `8 * 3600` for China).
    pub utc_offset_secs: i32,
    /// How long [`Fault::StallAfterBody`] holds an answer back.
    pub stall: Duration,
    /// If set, one human-readable line per request (never the secret). A channel, not printing,
    /// so the library stays silent and the caller chooses where lines go.
    pub log: Option<Sender<String>>,
    /// The body rules a signed request within quota must pass. No default: an emulator that
    /// accepted any body would let a test pass that the provider would fail.
    pub body_rules: BodyRules,
}

impl EmulatorConfig {
    /// The provider's quota and natural day, checking bodies with `body_rules`.
    #[must_use]
    pub fn new(body_rules: BodyRules) -> Self {
        Self {
            addr: None,
            app_key: "test-key".to_owned(),
            app_secret: "test-secret".to_owned(),
            per_hour: 2,
            per_day: 3,
            utc_offset_secs: 8 * 3600,
            stall: Duration::from_secs(30),
            log: None,
            body_rules,
        }
    }
}

impl fmt::Debug for EmulatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmulatorConfig")
            .field("addr", &self.addr)
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .field("per_hour", &self.per_hour)
            .field("per_day", &self.per_day)
            .field("utc_offset_secs", &self.utc_offset_secs)
            .field("stall", &self.stall)
            .field("log", &self.log.is_some())
            .field("body_rules", &self.body_rules)
            .finish()
    }
}

/// A failure to inject into the next requests to `/push.json`. Requests to the control endpoints
/// (`/_emulator/…`) never meet a fault and never use one up, except `Refuse`, which acts before
/// any request exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Refuse connections: the emulator closes its listening socket, so a client's connect fails
    /// (`connection refused`, a connect-phase error: nothing can have been sent, and failing over
    /// to a backup is safe). Unlike the others it is not counted per request, since no request
    /// is ever seen: it lasts until the fault is cleared or replaced (`set_fault` with another
    /// fault or `times == 0`, `reset`), or, set over HTTP, for the `secs` given. Refused
    /// connections are not counted in `requests()`.
    Refuse,
    /// Read the request head of a `/push.json` request, then close without reading the body or
    /// answering: the client sees a reset or a closed connection after sending, an ambiguous
    /// failure (the provider might have read it). Nothing is processed.
    CloseUnread,
    /// Read the whole request, then hold the connection for `stall` without answering.
    /// Nothing is processed: the push is not accepted and no quota is spent.
    StallAfterBody,
    /// Process the request normally (a valid one is accepted and recorded), then close without
    /// answering: the push went out and the client never knew.
    Drop,
    /// Answer HTTP 500 `{"code":1000,...}` without processing.
    Http500,
    /// Answer HTTP 429 `{"code":1008,...}` without processing.
    RateLimited,
    /// Answer HTTP 403 `{"code":1009,...}` without processing.
    NotEnabled,
    /// Answer HTTP 200 with `<html>oops` without processing.
    NotJson,
    /// Answer HTTP 404 with `<html>not found` without processing (a proxy or a wrong path).
    NotFound,
    /// Answer HTTP 413 with a plain-text body without processing (a proxy's size limit).
    TooLarge,
}

impl Fault {
    /// Every fault, in the order the documentation lists them.
    pub const ALL: [Fault; 10] = [
        Self::Refuse,
        Self::CloseUnread,
        Self::StallAfterBody,
        Self::Drop,
        Self::Http500,
        Self::RateLimited,
        Self::NotEnabled,
        Self::NotJson,
        Self::NotFound,
        Self::TooLarge,
    ];

    /// The fault of a name used by `POST /_emulator/fault` (one spelling per fault, the one
    /// [`Fault::name`] gives and the README lists).
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The canonical name, as accepted by [`Fault::from_name`].
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Refuse => "refuse",
            Self::CloseUnread => "close_unread",
            Self::StallAfterBody => "stall_after_body",
            Self::Drop => "drop",
            Self::Http500 => "http500",
            Self::RateLimited => "rate_limited",
            Self::NotEnabled => "not_enabled",
            Self::NotJson => "not_json",
            Self::NotFound => "not_found",
            Self::TooLarge => "too_large",
        }
    }
}

/// A push the emulator accepted (answered, or would have answered, `code` 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The request body exactly as received.
    pub bytes: Vec<u8>,
    pub push_id: String,
    /// The `X-Request-ID` header, if any.
    pub request_id: Option<String>,
    /// When it was accepted, by the emulator's clock (Unix ms).
    pub at_ms: i64,
}

/// A running emulator; dropping it stops it.
pub struct Emulator {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

/// The largest request head accepted (431 beyond).
const MAX_HEAD: usize = 64 * 1024;
/// The most header lines accepted (431 beyond).
const MAX_HEADERS: usize = 100;
/// The largest body accepted (413 beyond); the provider's own content limit is 128 KiB.
const MAX_BODY: usize = 1024 * 1024;
/// Connections served at once; more are closed unread so a flood cannot exhaust threads.
const MAX_CONNECTIONS: usize = 64;
/// Time a client gets to send a whole request; bounds every connection thread.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// After an early error answer, how long unread input is drained so the close is not a reset
/// that destroys the answer before the client reads it.
const LINGER: Duration = Duration::from_millis(500);
/// Granularity at which a stall notices that the emulator is stopping.
const STALL_SLICE: Duration = Duration::from_millis(20);
const PUSH_PATH: &str = "/push.json";
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

impl Emulator {
    /// Binds `cfg.addr` (default `127.0.0.1:0`) and serves on background threads.
    ///
    /// # Errors
    /// The address cannot be bound, or the accepting thread cannot be started.
    pub fn start(cfg: EmulatorConfig) -> io::Result<Emulator> {
        let addr = cfg
            .addr
            .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let listener = TcpListener::bind(addr)?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            cfg,
            addr: local_addr,
            state: Mutex::new(State::default()),
            conns: Mutex::new(Conns::default()),
            stopping: AtomicBool::new(false),
            listening: AtomicBool::new(true),
        });
        let for_thread = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("emulator-accept".to_owned())
            .spawn(move || accept_loop(listener, &for_thread))?;
        Ok(Emulator {
            shared,
            local_addr,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT` (a wildcard bind is reported as its loopback address).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", reachable(self.local_addr))
    }

    /// The next `times` requests to `/push.json` get `fault`, then service is normal again
    /// (for [`Fault::Refuse`], connections are refused until the fault is cleared or replaced).
    /// Replaces any fault still pending; `times == 0` clears it. Returns once the listening
    /// socket is in the state the fault asks for, so the next connection sees it.
    pub fn set_fault(&self, fault: Fault, times: u32) {
        lock(&self.shared.state).set_fault(fault, times, None);
        self.shared.sync_listener();
    }

    /// Every body accepted so far, in order.
    #[must_use]
    pub fn received(&self) -> Vec<Received> {
        lock(&self.shared.state).received.clone()
    }

    /// Every `/push.json` request seen so far, whatever its outcome.
    #[must_use]
    pub fn requests(&self) -> u32 {
        lock(&self.shared.state).requests
    }

    /// Pins the quota clock to `t_ms` (Unix ms), or back to real time with `None`.
    pub fn set_now(&self, t_ms: Option<i64>) {
        lock(&self.shared.state).pinned_now = t_ms;
    }

    /// Forgets everything seen and any pending fault (the clock setting stays).
    pub fn reset(&self) {
        lock(&self.shared.state).reset();
        self.shared.sync_listener();
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("base_url", &self.base_url())
            .field("cfg", &self.shared.cfg)
            .finish_non_exhaustive()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // `accept` blocks; a connection of our own wakes it up to see `stopping`. While refusing
        // there is no `accept` to wake: the acceptor polls `stopping` and can be joined.
        let woke = TcpStream::connect_timeout(&reachable(self.local_addr), Duration::from_secs(1))
            .is_ok()
            || !self.shared.listening.load(Ordering::SeqCst);
        let handles = {
            let mut conns = lock(&self.shared.conns);
            conns.stopping = true;
            // Unblocks every read and write in the connection threads at once.
            for stream in conns.open.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
            std::mem::take(&mut conns.handles)
        };
        if woke && let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        // If the wake-up failed the acceptor is left to exit at its next connection rather than
        // hanging this drop.
        for handle in handles {
            let _ = handle.join();
        }
    }
}

struct Shared {
    cfg: EmulatorConfig,
    /// The bound address, to listen on again after a refusal.
    addr: SocketAddr,
    state: Mutex<State>,
    conns: Mutex<Conns>,
    stopping: AtomicBool,
    /// Whether the listening socket is open (false while refusing connections).
    listening: AtomicBool,
}

/// How long connections are refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Refusal {
    #[default]
    No,
    UntilCleared,
    Until(Instant),
}

#[derive(Default)]
struct State {
    /// A per-request fault (never `Refuse`) and how many more requests get it.
    fault: Option<(Fault, u32)>,
    /// Whether connections are refused, and until when.
    refusing: Refusal,
    received: Vec<Received>,
    requests: u32,
    /// Times (ms) of the calls that counted against the quota.
    calls: Vec<i64>,
    pinned_now: Option<i64>,
}

impl State {
    fn reset(&mut self) {
        self.clear_fault();
        self.received.clear();
        self.requests = 0;
        self.calls.clear();
    }

    fn now_ms(&self) -> i64 {
        self.pinned_now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_millis()).ok())
                .unwrap_or(0)
        })
    }

    /// Replaces the pending fault; `until` bounds a refusal in time (else it lasts until cleared).
    fn set_fault(&mut self, fault: Fault, times: u32, until: Option<Instant>) {
        self.clear_fault();
        if times == 0 {
            return;
        }
        if fault == Fault::Refuse {
            self.refusing = until.map_or(Refusal::UntilCleared, Refusal::Until);
        } else {
            self.fault = Some((fault, times));
        }
    }

    fn clear_fault(&mut self) {
        self.fault = None;
        self.refusing = Refusal::No;
    }

    fn is_refusing(&self) -> bool {
        match self.refusing {
            Refusal::No => false,
            Refusal::UntilCleared => true,
            Refusal::Until(until) => Instant::now() < until,
        }
    }

    /// Takes one use of the pending per-request fault, if any.
    fn take_fault(&mut self) -> Option<Fault> {
        let (fault, times) = self.fault?;
        self.fault = (times > 1).then_some((fault, times - 1));
        Some(fault)
    }

    /// Counts a call against the quota if it fits; `false` means over quota (not counted, so a
    /// client hammering a full window does not push its reopening further out).
    fn admit(&mut self, now: i64, cfg: &EmulatorConfig) -> bool {
        // Calls older than both windows can never matter again.
        self.calls.retain(|&t| t > now.saturating_sub(2 * DAY_MS));
        let offset_ms = i64::from(cfg.utc_offset_secs) * 1000;
        let day = |t: i64| t.saturating_add(offset_ms).div_euclid(DAY_MS);
        let today = day(now);
        let last_hour = self
            .calls
            .iter()
            .filter(|&&t| t > now.saturating_sub(HOUR_MS))
            .count();
        let same_day = self.calls.iter().filter(|&&t| day(t) == today).count();
        if last_hour >= to_usize(cfg.per_hour) || same_day >= to_usize(cfg.per_day) {
            return false;
        }
        self.calls.push(now);
        true
    }
}

#[derive(Default)]
struct Conns {
    next_id: u64,
    /// Clones of the open connections, so `drop` can shut them down.
    open: HashMap<u64, TcpStream>,
    handles: Vec<JoinHandle<()>>,
    stopping: bool,
}

impl Shared {
    fn log(&self, line: impl FnOnce() -> String) {
        if let Some(log) = &self.cfg.log {
            // A closed receiver only means nobody listens any more.
            let _ = log.send(line());
        }
    }

    fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    fn is_refusing(&self) -> bool {
        lock(&self.state).is_refusing()
    }

    /// Waits (up to 2 s) until the listening socket is closed while refusing and open otherwise,
    /// waking the acceptor out of `accept` if it has to close it.
    fn sync_listener(&self) {
        let listen = !self.is_refusing();
        if self.listening.load(Ordering::SeqCst) == listen {
            return;
        }
        if !listen {
            let _ = TcpStream::connect_timeout(&reachable(self.addr), Duration::from_secs(1));
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.listening.load(Ordering::SeqCst) != listen && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A poisoned lock only means another connection thread panicked mid-update; the data is still
/// the best we have, and the emulator must keep answering.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The address a local client should use for `addr` (a wildcard bind becomes loopback).
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()))
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    }
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
    let mut listener = Some(listener);
    while !shared.is_stopping() {
        if shared.is_refusing() {
            // Refusing: no socket listens, so connecting fails in the client's connect phase.
            if listener.take().is_some() {
                shared.listening.store(false, Ordering::SeqCst);
                shared.log(|| {
                    "listening socket closed: connections are refused (fault refuse)".to_owned()
                });
            }
            thread::sleep(STALL_SLICE);
            continue;
        }
        if listener.is_none() {
            let Ok(l) = TcpListener::bind(shared.addr) else {
                thread::sleep(Duration::from_millis(50));
                continue;
            };
            shared.listening.store(true, Ordering::SeqCst);
            shared.log(|| "listening again".to_owned());
            listener = Some(l);
        }
        let Some(current) = &listener else {
            continue;
        };
        let stream = match current.accept() {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) {
                    thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
        };
        if shared.is_stopping() {
            break;
        }
        if shared.is_refusing() {
            // The wake-up connection of `sync_listener` (or one that raced it): not served.
            drop(stream);
            continue;
        }
        spawn_connection(stream, shared);
    }
}

fn spawn_connection(stream: TcpStream, shared: &Arc<Shared>) {
    let mut conns = lock(&shared.conns);
    if conns.stopping {
        return;
    }
    // Finished threads need no join; forgetting their handles keeps the list short.
    conns.handles.retain(|h| !h.is_finished());
    if conns.open.len() >= MAX_CONNECTIONS {
        shared.log(|| format!("connection closed unread: {MAX_CONNECTIONS} already open"));
        return;
    }
    let Ok(clone) = stream.try_clone() else {
        return;
    };
    let id = conns.next_id;
    conns.next_id = conns.next_id.wrapping_add(1);
    conns.open.insert(id, clone);
    let for_thread = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("emulator-conn".to_owned())
        .spawn(move || {
            serve(stream, &for_thread);
            lock(&for_thread.conns).open.remove(&id);
        });
    match spawned {
        Ok(handle) => conns.handles.push(handle),
        Err(_) => {
            conns.open.remove(&id);
        }
    }
}

/// Why a request cannot be served normally.
enum HttpError {
    /// The client went away or stalled: nothing useful can be written.
    Closed,
    /// Answer with this status and message.
    Status(u16, String),
}

/// A parsed request head.
struct Head {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    content_length: usize,
    /// Body bytes that arrived with the head.
    rest: Vec<u8>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer to write.
struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    /// Extra header lines, each ending in CRLF.
    extra_headers: &'static str,
    /// What the log line says about it.
    note: String,
}

impl Reply {
    fn json(status: u16, body: &Value, note: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
            extra_headers: "",
            note: note.into(),
        }
    }

    /// The provider's error shape.
    fn api_error(status: u16, code: i64, message: &str) -> Self {
        Self::json(
            status,
            &json!({ "code": code, "errorMessage": message }),
            format!("code {code}: {message}"),
        )
    }

    /// An HTTP-level error: deliberately without a provider `code`, since it is not the API
    /// answering.
    fn http_error(status: u16, message: &str) -> Self {
        Self::json(status, &json!({ "error": message }), message.to_owned())
    }
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let deadline = Instant::now() + REQUEST_DEADLINE;
    let head = match read_head(&mut stream, deadline) {
        Ok(head) => head,
        Err(HttpError::Closed) => return,
        Err(HttpError::Status(status, message)) => {
            let reply = Reply::http_error(status, &message);
            shared.log(|| format!("? ? -> {status} {message}"));
            write_reply(&mut stream, &reply);
            linger(&mut stream);
            return;
        }
    };
    let line = |reply_note: &str| format!("{} {} -> {reply_note}", head.method, head.path);
    let is_push = head.path == PUSH_PATH;
    if is_push && head.method != "POST" {
        let mut reply = Reply::http_error(405, "use POST for /push.json");
        reply.extra_headers = "Allow: POST\r\n";
        finish(&mut stream, shared, &head, &reply, true);
        return;
    }
    let fault = if is_push {
        let mut state = lock(&shared.state);
        state.requests = state.requests.saturating_add(1);
        state.take_fault()
    } else {
        None
    };
    if head.content_length > MAX_BODY {
        let reply = Reply::http_error(413, &format!("body larger than {MAX_BODY} bytes"));
        finish(&mut stream, shared, &head, &reply, true);
        return;
    }
    if fault == Some(Fault::CloseUnread) {
        shared.log(|| line("closed unread (fault close_unread)"));
        return;
    }
    let expects_continue = head
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    if expects_continue && head.rest.len() < head.content_length {
        // curl waits a second for this before sending a body over 1 KiB.
        let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let body = match read_body(&mut stream, &head, deadline) {
        Ok(body) => body,
        Err(HttpError::Closed) => return,
        Err(HttpError::Status(status, message)) => {
            finish(
                &mut stream,
                shared,
                &head,
                &Reply::http_error(status, &message),
                true,
            );
            return;
        }
    };
    let reply = if is_push {
        push(shared, &head, body, fault)
    } else {
        Some(control(shared, &head, &body))
    };
    if let Some(reply) = reply {
        finish(&mut stream, shared, &head, &reply, false);
    }
}

/// Writes `reply`, logs it, and closes (draining unread input first if `unread`).
fn finish(stream: &mut TcpStream, shared: &Shared, head: &Head, reply: &Reply, unread: bool) {
    shared.log(|| {
        format!(
            "{} {} -> {} {}",
            head.method, head.path, reply.status, reply.note
        )
    });
    write_reply(stream, reply);
    if unread {
        linger(stream);
    }
}

/// Handles a `/push.json` request whose body was read; `None` means close without answering.
fn push(shared: &Shared, head: &Head, body: Vec<u8>, fault: Option<Fault>) -> Option<Reply> {
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
fn check_body(rules: BodyRules, v: &Value) -> Result<(), String> {
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

/// The control endpoints, for a user driving the emulator with curl.
fn control(shared: &Shared, head: &Head, body: &[u8]) -> Reply {
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

/// Holds the connection for `cfg.stall`, waking up early when the emulator stops.
fn stall(shared: &Shared) {
    // A stall too long to represent lasts until the emulator stops.
    let until = Instant::now().checked_add(shared.cfg.stall);
    while !shared.is_stopping() {
        let left = until.map_or(STALL_SLICE, |u| u.saturating_duration_since(Instant::now()));
        if left.is_zero() {
            break;
        }
        thread::sleep(left.min(STALL_SLICE));
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

fn read_head(stream: &mut TcpStream, deadline: Instant) -> Result<Head, HttpError> {
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

fn read_body(stream: &mut TcpStream, head: &Head, deadline: Instant) -> Result<Vec<u8>, HttpError> {
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

fn write_reply(stream: &mut TcpStream, reply: &Reply) {
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
fn linger(stream: &mut TcpStream) {
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

/// The provider's signature, computed here independently of the client's code on purpose.
fn sign(secret: &str, nonce: &str, timestamp: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::{Emulator, EmulatorConfig, Fault, lock, sign};
    use serde_json::{Value, json};
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpStream};
    use std::time::{Duration, Instant};

    const BODY: &str =
        r#"{"platform":["ios"],"audience":{"is_to_all":true},"notification":{"alert":"hi"}}"#;

    /// The test suite is the emulator's caller: it passes pushform's own body rules.
    fn config() -> EmulatorConfig {
        EmulatorConfig::new(crate::validate::check_json_body)
    }

    fn check_body(v: &Value) -> Result<(), String> {
        super::check_body(crate::validate::check_json_body, v)
    }

    fn start(cfg: EmulatorConfig) -> Emulator {
        Emulator::start(cfg).expect("emulator starts on an OS-assigned port")
    }

    fn addr(emu: &Emulator) -> String {
        emu.base_url().trim_start_matches("http://").to_owned()
    }

    /// Sends raw bytes, half-closes, and returns (status, body) of the answer (0 if none).
    fn raw(emu: &Emulator, request: &[u8]) -> (u16, String) {
        let mut stream = TcpStream::connect(addr(emu)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = stream.write_all(request);
        let _ = stream.shutdown(Shutdown::Write);
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        parse_answer(&answer)
    }

    fn parse_answer(answer: &[u8]) -> (u16, String) {
        let text = String::from_utf8_lossy(answer);
        let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    fn signed(key: &str, secret: &str, body: &str) -> Vec<u8> {
        let (nonce, timestamp) = ("12345", "1700000000000");
        format!(
            "POST /push.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nApp-Key: {key}\r\n\
             Nonce: {nonce}\r\nTimestamp: {timestamp}\r\nSignature: {}\r\nX-Request-ID: r-1\r\n\
             Content-Length: {}\r\n\r\n{body}",
            sign(secret, nonce, timestamp),
            body.len()
        )
        .into_bytes()
    }

    fn code(body: &str) -> Option<i64> {
        serde_json::from_str::<Value>(body)
            .ok()?
            .get("code")?
            .as_i64()
    }

    #[test]
    fn accepts_a_signed_valid_push_and_records_it() {
        let emu = start(config());
        let (status, body) = raw(&emu, &signed("test-key", "test-secret", BODY));
        assert_eq!((status, code(&body)), (200, Some(200)), "{body}");
        let received = emu.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].bytes, BODY.as_bytes());
        assert_eq!(received[0].push_id.len(), 22);
        assert!(body.contains(&received[0].push_id));
        assert_eq!(received[0].request_id.as_deref(), Some("r-1"));
        assert_eq!(emu.requests(), 1);
    }

    #[test]
    fn bad_signature_or_key_is_401_1004_and_spends_no_quota() {
        let emu = start(config());
        for request in [
            signed("test-key", "wrong", BODY),
            signed("other-key", "test-secret", BODY),
            format!(
                "POST /push.json HTTP/1.1\r\nContent-Length: {}\r\n\r\n{BODY}",
                BODY.len()
            )
            .into_bytes(),
        ] {
            let (status, body) = raw(&emu, &request);
            assert_eq!((status, code(&body)), (401, Some(1004)), "{body}");
        }
        assert_eq!(emu.requests(), 3);
        // All of the quota (2 per hour) is still there.
        for _ in 0..2 {
            assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 200);
        }
    }

    #[test]
    fn invalid_bodies_are_400_1002() {
        let emu = start(EmulatorConfig {
            per_hour: 10,
            per_day: 10,
            ..config()
        });
        let (status, body) = raw(&emu, &signed("test-key", "test-secret", "not json"));
        assert_eq!((status, code(&body)), (400, Some(1002)), "{body}");
        let (status, body) = raw(
            &emu,
            &signed("test-key", "test-secret", r#"{"platform":[]}"#),
        );
        assert_eq!((status, code(&body)), (400, Some(1002)), "{body}");
        assert!(emu.received().is_empty());
    }

    #[test]
    fn check_body_enforces_the_provider_rules() {
        let good = json!({
            "platform": ["ios", "android"],
            "fromuserid": "ops",
            "audience": {"is_to_all": false, "tag": ["lang_en"]},
            "notification": {"title": "t".repeat(50), "alert": "hi"},
            "message": {"objectName": "RC:TxtMsg", "content": "{\"content\":\"hi\"}"}
        });
        assert_eq!(check_body(&good), Ok(()));
        let broken = |path: &[&str], value: Value| {
            let mut v = good.clone();
            let (last, parents) = path.split_last().expect("path");
            let mut target = &mut v;
            for key in parents {
                target = target.get_mut(*key).expect("parent");
            }
            if value.is_null() {
                target.as_object_mut().expect("object").remove(*last);
            } else {
                target[*last] = value;
            }
            check_body(&v).expect_err(&format!("{path:?} should be refused"))
        };
        assert!(broken(&["platform"], json!([])).contains("platform"));
        assert!(broken(&["platform"], json!(["web"])).contains("platform"));
        assert!(broken(&["platform"], Value::Null).contains("platform"));
        assert!(broken(&["audience"], json!("all")).contains("audience"));
        assert!(broken(&["audience", "is_to_all"], json!("yes")).contains("is_to_all"));
        assert!(broken(&["notification"], Value::Null).contains("notification"));
        assert!(broken(&["notification", "title"], json!("t".repeat(51))).contains("title"));
        assert!(broken(&["message", "objectName"], Value::Null).contains("objectName"));
        assert!(broken(&["message", "content"], json!(7)).contains("content"));
        assert!(
            broken(&["message", "content"], json!("x".repeat(128 * 1024 + 1))).contains("128 KiB")
        );
        assert!(broken(&["fromuserid"], Value::Null).contains("fromuserid"));
        assert!(check_body(&json!([1])).is_err());
    }

    #[test]
    fn quota_counts_rolling_hour_and_natural_day_by_its_own_clock() {
        let emu = start(config()); // 2/hour, 3/day, day starts at UTC+8
        // 2024-01-01T16:30:00Z = 2024-01-02 00:30 in UTC+8: a fresh natural day there.
        let t0: i64 = 1_704_126_600_000;
        let minute = 60_000;
        let send = |t: i64| {
            emu.set_now(Some(t));
            let (status, body) = raw(&emu, &signed("test-key", "test-secret", BODY));
            (status, code(&body))
        };
        assert_eq!(send(t0), (200, Some(200)));
        assert_eq!(send(t0 + minute), (200, Some(200)));
        assert_eq!(
            send(t0 + 30 * minute),
            (429, Some(1008)),
            "2 per rolling hour"
        );
        assert_eq!(
            send(t0 + 60 * minute - 1),
            (429, Some(1008)),
            "t0 is still inside the hour"
        );
        assert_eq!(send(t0 + 60 * minute), (200, Some(200)), "t0 left the hour");
        assert_eq!(
            send(t0 + 5 * 60 * minute),
            (429, Some(1008)),
            "3 per natural day"
        );
        // The next natural day in UTC+8 starts at 16:00Z.
        let next_day = t0 - 30 * minute + 24 * 60 * minute;
        assert_eq!(send(next_day - 1), (429, Some(1008)));
        assert_eq!(send(next_day), (200, Some(200)));
        let at: Vec<i64> = emu.received().iter().map(|r| r.at_ms).collect();
        assert_eq!(at, [t0, t0 + minute, t0 + 60 * minute, next_day]);
    }

    #[test]
    fn faults_apply_to_the_next_pushes_only() {
        let emu = start(EmulatorConfig {
            per_hour: 10,
            per_day: 10,
            ..config()
        });
        let request = signed("test-key", "test-secret", BODY);
        // A control request neither meets a push fault nor uses it up, whichever the fault.
        for fault in Fault::ALL.into_iter().filter(|f| *f != Fault::Refuse) {
            emu.set_fault(fault, 1);
            assert_eq!(
                raw(&emu, b"GET /_emulator/received HTTP/1.1\r\n\r\n").0,
                200,
                "{fault:?}"
            );
            assert_eq!(emu.requests(), 0, "{fault:?}");
            assert_eq!(
                lock(&emu.shared.state).fault,
                Some((fault, 1)),
                "{fault:?} is still pending"
            );
        }
        emu.set_fault(Fault::Http500, 2);
        let (status, body) = raw(&emu, &request);
        assert_eq!((status, code(&body)), (500, Some(1000)));
        assert_eq!(raw(&emu, &request).0, 500);
        assert_eq!(raw(&emu, &request).0, 200);
        emu.set_fault(Fault::RateLimited, 1);
        assert_eq!(
            raw(&emu, &request),
            (
                429,
                json!({"code":1008,"errorMessage":"too many requests"}).to_string()
            )
        );
        emu.set_fault(Fault::NotEnabled, 1);
        assert_eq!(code(&raw(&emu, &request).1), Some(1009));
        emu.set_fault(Fault::NotJson, 1);
        assert_eq!(raw(&emu, &request), (200, "<html>oops".to_owned()));
        emu.set_fault(Fault::Drop, 1);
        assert_eq!(raw(&emu, &request), (0, String::new()), "no answer at all");
        emu.set_fault(Fault::CloseUnread, 1);
        assert_eq!(raw(&emu, &request), (0, String::new()));
        assert_eq!(emu.requests(), 8);
        assert_eq!(
            emu.received().len(),
            2,
            "the normal push and the dropped one"
        );
    }

    #[test]
    fn control_endpoints_drive_it_from_outside() {
        let emu = start(config());
        let post = |path: &str, body: &str| {
            let request = format!(
                "POST {path} HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            raw(&emu, request.as_bytes())
        };
        assert_eq!(
            post("/_emulator/fault", r#"{"fault":"drop","times":1}"#).0,
            200
        );
        assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 0);
        let (status, list) = raw(&emu, b"GET /_emulator/received HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(status, 200);
        let list: Value = serde_json::from_str(&list).expect("JSON list");
        assert_eq!(
            list[0]["body"],
            serde_json::from_str::<Value>(BODY).expect("body")
        );
        assert_eq!(list[0]["request_id"], "r-1");
        assert_eq!(list[0]["push_id"].as_str().map(str::len), Some(22));
        assert!(list[0]["at_ms"].is_i64());
        assert_eq!(post("/_emulator/fault", r#"{"fault":"nope"}"#).0, 400);
        assert_eq!(post("/_emulator/fault", "{").0, 400);
        assert_eq!(post("/_emulator/reset", "").0, 200);
        assert!(emu.received().is_empty());
        assert_eq!(emu.requests(), 0);
    }

    #[test]
    fn garbage_gets_4xx_and_never_kills_the_server() {
        let emu = start(config());
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (b"garbage\r\n\r\n".to_vec(), 400),
            (b"\x00\xff\xfe\r\n\r\n".to_vec(), 400),
            (b"GET / HTTP/1.1\r\n\r\n".to_vec(), 404),
            (b"GET /push.json HTTP/1.1\r\n\r\n".to_vec(), 405),
            (b"GET http://x/ HTTP/1.1\r\n\r\n".to_vec(), 400),
            (b"GET / HTTP/2.0\r\n\r\n".to_vec(), 505),
            (
                b"POST /push.json HTTP/1.1\r\nContent-Length: x\r\n\r\n".to_vec(),
                400,
            ),
            (
                b"POST /push.json HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"
                    .to_vec(),
                400,
            ),
            (
                b"POST /push.json HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"
                    .to_vec(),
                400,
            ),
            (
                b"POST /push.json HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n".to_vec(),
                413,
            ),
            (
                b"POST /push.json HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
                501,
            ),
            (b"GET / HTTP/1.1\r\n folded\r\n\r\n".to_vec(), 400),
            (b"GET / HTTP/1.1\r\nno colon\r\n\r\n".to_vec(), 400),
            (
                format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(70_000)).into_bytes(),
                431,
            ),
            (
                ("GET / HTTP/1.1\r\n".to_owned() + &"A: b\r\n".repeat(101) + "\r\n").into_bytes(),
                431,
            ),
            (b"GET / HTTP/1.1\r\nHost: x".to_vec(), 400),
            (
                b"POST /push.json HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc".to_vec(),
                0,
            ),
            (Vec::new(), 0),
        ];
        for (request, expected) in cases {
            let (status, _) = raw(&emu, &request);
            assert_eq!(status, expected, "{:?}", String::from_utf8_lossy(&request));
        }
        // Still serving.
        assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 200);
    }

    #[test]
    fn answers_expect_100_continue() {
        let emu = start(config());
        let request = signed("test-key", "test-secret", BODY);
        let split = request
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("head end");
        let (head, body) = request.split_at(split + 4);
        let head =
            String::from_utf8_lossy(head).replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
        let mut stream = TcpStream::connect(addr(&emu)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        stream.write_all(head.as_bytes()).expect("head");
        let mut interim = [0u8; 25];
        stream.read_exact(&mut interim).expect("100 Continue");
        assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
        stream.write_all(body).expect("body");
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        assert_eq!(parse_answer(&answer).0, 200);
    }

    #[test]
    fn drop_stops_it_promptly_even_while_stalling() {
        let emu = start(EmulatorConfig {
            stall: Duration::from_secs(30),
            ..config()
        });
        let address = addr(&emu);
        emu.set_fault(Fault::StallAfterBody, 1);
        let request = signed("test-key", "test-secret", BODY);
        let client = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(address).expect("connect");
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            stream.write_all(&request).expect("request");
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            answer
        });
        let waiting = Instant::now();
        while emu.requests() == 0 && waiting.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(50)); // let it enter the stall
        let address = addr(&emu);
        let stopping = Instant::now();
        drop(emu);
        assert!(
            stopping.elapsed() < Duration::from_secs(2),
            "{:?}",
            stopping.elapsed()
        );
        assert!(
            client.join().expect("client thread").is_empty(),
            "stalled, never answered"
        );
        assert!(TcpStream::connect(address).is_err(), "no longer listening");
    }

    #[test]
    fn config_debug_hides_the_secret() {
        let cfg = EmulatorConfig {
            app_secret: "s3cr3t-value".to_owned(),
            ..config()
        };
        assert!(!format!("{cfg:?}").contains("s3cr3t-value"));
        assert_eq!(
            Fault::from_name(Fault::StallAfterBody.name()),
            Some(Fault::StallAfterBody)
        );
    }

    #[test]
    fn refuse_refuses_the_connection_itself_until_cleared() {
        let emu = start(config());
        emu.set_fault(Fault::Refuse, 1);
        for _ in 0..3 {
            let err = TcpStream::connect(addr(&emu)).expect_err("nothing listens");
            assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
        }
        assert_eq!(emu.requests(), 0, "no request was ever made");
        emu.set_fault(Fault::Refuse, 0);
        assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 200);
        // Replacing it with another fault, or a reset, listens again too.
        emu.set_fault(Fault::Refuse, 1);
        assert!(TcpStream::connect(addr(&emu)).is_err());
        emu.reset();
        assert_eq!(
            raw(&emu, b"GET /_emulator/received HTTP/1.1\r\n\r\n").0,
            200
        );
        // Dropped while refusing, it still stops at once.
        emu.set_fault(Fault::Refuse, 1);
        let stopping = Instant::now();
        drop(emu);
        assert!(
            stopping.elapsed() < Duration::from_secs(1),
            "{:?}",
            stopping.elapsed()
        );
    }

    #[test]
    fn refuse_over_http_needs_secs_and_ends_by_itself() {
        let emu = start(config());
        let post = |body: &str| {
            let request = format!(
                "POST /_emulator/fault HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            raw(&emu, request.as_bytes())
        };
        let (status, answer) = post(r#"{"fault":"refuse"}"#);
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("secs"), "{answer}");
        assert_eq!(post(r#"{"fault":"refuse","secs":1}"#).0, 200);
        assert!(TcpStream::connect(addr(&emu)).is_err(), "refused");
        let waited = Instant::now();
        while TcpStream::connect(addr(&emu)).is_err() {
            assert!(waited.elapsed() < Duration::from_secs(5), "listens again");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(raw(&emu, &signed("test-key", "test-secret", BODY)).0, 200);
    }

    #[test]
    fn fault_names_have_one_spelling() {
        for fault in Fault::ALL {
            assert_eq!(Fault::from_name(fault.name()), Some(fault));
        }
        for alias in ["stall", "500", "refused", "Refuse"] {
            assert_eq!(Fault::from_name(alias), None, "{alias}");
        }
    }

    /// The two requests of `push_unittest.py` in the provider's Python server SDK
    /// (`rc-server-sdk` 3.2.0): headers in its order and bodies byte for byte as it builds them
    /// (`json.dumps` with its default separators, `message.content` URL-encoded by
    /// `urllib.parse.quote`, a Timestamp in seconds), with that test's App Key and Secret.
    #[test]
    fn accepts_both_requests_of_the_providers_python_sdk() {
        const KEY: &str = "8luwapkvucoil";
        const SECRET: &str = "y0icysjl4h3LWz";
        let broadcast = r#"{"platform": ["ios", "android"], "fromuserid": "fromuseId1", "audience": {"tag": ["女", "年轻"], "tag_or": ["北京", "上海"], "userid": ["123", "456"], "is_to_all": false}, "message": {"content": "%7B%22content%22%3A%20%221111%22%2C%20%22extra%22%3A%20%22aa%22%7D", "objectName": "RC:TxtMsg"}, "notification": {"alert": "this is a push", "ios": {"alert": "iOS 通知显示内容", "extras": {"id": "1", "name": "2"}, "contentAvailable": 1}, "android": {"alert": "Android 通知显示内容", "extras": {"id": "1", "name": "2"}}}}"#;
        let push = r#"{"platform": ["ios", "android"], "audience": {"tag": ["女", "年轻"], "tag_or": ["北京", "上海"], "userid": ["123", "456"], "is_to_all": false}, "notification": {"alert": "this is a push", "ios": {"title": "标题", "alert": "iOS 通知显示内容", "extras": {"id": "1", "name": "2"}}, "android": {"alert": "Android 通知显示内容", "extras": {"id": "1", "name": "2"}}}}"#;
        // The SDK's Content-Length for each, as captured from it.
        assert_eq!((broadcast.len(), push.len()), (535, 382));
        let sdk_request = |body: &str, nonce: &str| {
            let timestamp = "1795984305";
            format!(
                "POST /push.json HTTP/1.1\r\nAccept-Encoding: identity\r\nContent-Length: {}\r\n\
                 Host: 127.0.0.1\r\nApp-Key: {KEY}\r\nNonce: {nonce}\r\nTimestamp: {timestamp}\r\n\
                 Signature: {}\r\nUser-Agent: rc-python-sdk/3.2.0\r\n\
                 Content-Type: application/json\r\nConnection: close\r\n\r\n{body}",
                body.len(),
                sign(SECRET, nonce, timestamp),
            )
            .into_bytes()
        };
        let emu = start(EmulatorConfig {
            app_key: KEY.to_owned(),
            app_secret: SECRET.to_owned(),
            ..config()
        });
        for (name, body, nonce) in [
            ("test_push", push, "662286317"),
            ("test_broadcast", broadcast, "249932923"),
        ] {
            let (status, answer) = raw(&emu, &sdk_request(body, nonce));
            assert_eq!(
                (status, code(&answer)),
                (200, Some(200)),
                "{name}: {answer}"
            );
        }
        let received = emu.received();
        assert_eq!(received.len(), 2);
        assert_eq!(received[1].bytes, broadcast.as_bytes(), "recorded as sent");

        // Strict on everything else: a content that is not JSON even when decoded, or broken
        // percent escapes, is still refused.
        for content in ["%7Bnot%20json", "%ZZ", "%7B%22content%22%3A%201%7D%"] {
            let mut v: Value = serde_json::from_str(broadcast).expect("json");
            v["message"]["content"] = json!(content);
            assert!(check_body(&v).is_err(), "{content}");
        }
    }
}
