//! What happened to one push request, as the caller records it ([`SendOutcome`]), the provider
//! error codes pushform tells apart, and what to tell the user about them. Only `Sent` and
//! `Unknown` may mean a push went out.

// The provider's error codes that pushform tells apart (the `code` of a JSON answer).
/// Its internal error: like a 5xx, the push may or may not have gone out.
pub(crate) const CODE_INTERNAL_ERROR: i64 = 1000;
/// A parameter of the body is invalid (HTTP 400): nothing was sent.
pub(crate) const CODE_INVALID_PARAMETER: i64 = 1002;
/// The signature does not match the App Key's secret (HTTP 401): nothing was sent.
pub(crate) const CODE_BAD_SIGNATURE: i64 = 1004;
/// The quota of the App Key is used up (HTTP 429): nothing was sent.
pub(crate) const CODE_RATE_LIMITED: i64 = 1008;
/// The broadcast service is not enabled for the App Key: nothing was sent.
pub(crate) const CODE_NOT_ENABLED: i64 = 1009;

/// What happened to one push request. Only `Sent` and `Unknown` may mean a push went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    /// The API accepted the push and gave its id.
    Sent { push_id: String, endpoint: String },
    /// The API answered a definite error: nothing was sent. `code` is the provider's error code
    /// (1004 for an HTTP 401 and 1008 for an HTTP 429 that carried none).
    Rejected {
        code: i64,
        http_status: u16,
        message: String,
        endpoint: String,
    },
    /// The request may have reached the API but no usable answer was read: timeout, dropped
    /// connection, 5xx, redirect, unreadable answer. Never resend automatically.
    Unknown { reason: String, endpoint: String },
    /// Provably not sent: no endpoint could be connected to (DNS, refused, unreachable, TLS
    /// handshake), or the request could not even be built. Safe to try again later.
    Unreachable { reason: String },
}

/// What the user should do about a provider error code, for codes where pushform knows better
/// than the provider's terse `errorMessage`.
#[must_use]
pub(crate) fn explain(code: i64) -> Option<&'static str> {
    match code {
        CODE_RATE_LIMITED => Some(
            "the provider's send quota for this App Key is used up. Every /push.json call made with \
             this App Key counts, including calls made outside pushform, and at most 2 per hour and \
             3 per natural day are allowed. Nothing was sent: see the next free slot with \
             `pushform quota` and apply again then (or use `apply --wait`)",
        ),
        CODE_NOT_ENABLED => Some(
            "the broadcast service (\"Broadcast to Users\") is not enabled for this App Key. Enable \
             it in the provider's console, then apply again. Calls made while it is disabled still \
             count against the quota",
        ),
        CODE_BAD_SIGNATURE | 401 => Some(
            "the provider refused the request signature: the App Secret does not match the App Key. \
             Check RONGCLOUD_APP_SECRET (or the variable named by api.app_secret_env) and the App Key",
        ),
        CODE_INVALID_PARAMETER => Some(
            "the provider rejected a parameter of the push body. Run `pushform validate` to find it; \
             if validate passes, the provider enforces a rule pushform does not know yet",
        ),
        _ => None,
    }
}
