//! The listener and the connection threads: accept (or refuse, by closing the listening socket),
//! one bounded thread per connection, one request per connection, each request routed to the
//! `/push.json` handler or to the control endpoints. Every thread is bounded in time, and a stop
//! reaches every blocking read and write at once.

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::control::control;
use super::http::{Head, HttpError, MAX_BODY, Reply, linger, read_body, read_head, write_reply};
use super::push::{PUSH_PATH, push};
use super::state::{State, lock};
use super::{EmulatorConfig, Fault};

/// Connections served at once; more are closed unread so a flood cannot exhaust threads.
const MAX_CONNECTIONS: usize = 64;
/// Time a client gets to send a whole request; bounds every connection thread.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Granularity at which a stall notices that the emulator is stopping.
const STALL_SLICE: Duration = Duration::from_millis(20);

/// What the handle and every thread share: the setup, the state, the open connections, and
/// the flags that stop the emulator and say whether it listens.
pub(super) struct Shared {
    pub(super) cfg: EmulatorConfig,
    /// The bound address, to listen on again after a refusal.
    pub(super) addr: SocketAddr,
    pub(super) state: Mutex<State>,
    pub(super) conns: Mutex<Conns>,
    pub(super) stopping: AtomicBool,
    /// Whether the listening socket is open (false while refusing connections).
    pub(super) listening: AtomicBool,
}

/// The connections being served, so a stop can reach every one of them.
#[derive(Default)]
pub(super) struct Conns {
    next_id: u64,
    /// Clones of the open connections, so `drop` can shut them down.
    pub(super) open: HashMap<u64, TcpStream>,
    pub(super) handles: Vec<JoinHandle<()>>,
    pub(super) stopping: bool,
}

impl Shared {
    pub(super) fn log(&self, line: impl FnOnce() -> String) {
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
    pub(super) fn sync_listener(&self) {
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

/// The address a local client should use for `addr` (a wildcard bind becomes loopback).
pub(super) fn reachable(addr: SocketAddr) -> SocketAddr {
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

pub(super) fn accept_loop(listener: TcpListener, shared: &Arc<Shared>) {
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

/// Holds the connection for `cfg.stall`, waking up early when the emulator stops.
pub(super) fn stall(shared: &Shared) {
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
