//! The faults the emulator injects: what each one does to a request, and its one spelling on the
//! control endpoint. A fault makes sending ambiguous in one precise way; the send protocol must
//! survive every one of them without sending twice.

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
