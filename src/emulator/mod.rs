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

mod control;
mod fault;
mod http;
mod push;
mod server;
mod state;
#[cfg(test)]
mod tests;

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use serde_json::Value;

pub use fault::Fault;
use server::{Conns, Shared, accept_loop, reachable};
use state::{State, lock};

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
