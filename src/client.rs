//! The one place that talks to the provider's `POST /push.json`.
//!
//! A sent push can never be recalled and the API has no idempotency key, so the single job of this
//! module beyond signing is to say truthfully what happened to a request: [`SendOutcome::Sent`] (with the
//! provider's push id), [`SendOutcome::Rejected`] (the API answered a definite error, nothing was sent),
//! [`SendOutcome::Unreachable`] (provably never reached a server) or [`SendOutcome::Unknown`] (it may have
//! reached the API; only a human can tell). Every design choice below serves one rule: **a request
//! that may have reached the server is never sent again**, not by us, not by reqwest, not by hyper.
//! So failover to the backup data center happens only on connect-phase errors, redirects are not
//! followed, the connection pool is disabled, and anything ambiguous is `Unknown`.
//!
//! The module knows nothing of lockfiles, plans or the terminal: the caller records the outcome.
//! It is blocking on purpose (one push at a time, in order, is the whole protocol); call it from a
//! plain thread or `spawn_blocking`, never directly inside an async runtime.

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sha1::{Digest, Sha1};

/// The provider's App Key and App Secret.
///
/// The secret is only ever used to compute [`sign`]; `Debug` redacts it and there is deliberately
/// no `Display`, so it cannot end up in output, logs or files by accident.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Credentials {
    app_key: String,
    app_secret: String,
}

impl Credentials {
    /// Credentials as read from the environment.
    pub(crate) fn new(app_key: impl Into<String>, app_secret: impl Into<String>) -> Self {
        Self {
            app_key: app_key.into(),
            app_secret: app_secret.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("app_key", &self.app_key)
            .field("app_secret", &"<redacted>")
            .finish()
    }
}

/// The provider's request signature: lowercase hex SHA-1 of `AppSecret + Nonce + Timestamp`.
#[must_use]
pub(crate) fn sign(app_secret: &str, nonce: &str, timestamp_ms: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(app_secret.as_bytes());
    hasher.update(nonce.as_bytes());
    hasher.update(timestamp_ms.as_bytes());
    hex::encode(hasher.finalize())
}

/// Base URLs (primary, backup) of a provider data center, by the name used in `pushform.yaml`.
#[must_use]
pub(crate) fn data_center_endpoints(name: &str) -> Option<[&'static str; 2]> {
    match name {
        "cn" => Some(["https://api.rong-api.com", "https://api-b.rong-api.com"]),
        "sg" => Some([
            "https://api.sg-light-api.com",
            "https://api-b.sg-light-api.com",
        ]),
        "sg-b" => Some([
            "https://api.sg-b-light-api.com",
            "https://api-b.sg-b-light-api.com",
        ]),
        "na" => Some([
            "https://api.us-light-api.com",
            "https://api-b.us-light-api.com",
        ]),
        "sa" => Some([
            "https://api.sau-light-api.com",
            "https://api-b.sau-light-api.com",
        ]),
        _ => None,
    }
}

/// Parses `PUSHFORM_ENDPOINT`: comma-separated base URLs, primary first.
///
/// `https://` is accepted for any host; plain `http://` only for loopback (`127.0.0.0/8`,
/// `localhost`, `[::1]`), because the only plain-HTTP server a user should point pushform at is a
/// local emulator: anything else would send signed requests in clear over a network. The returned
/// URLs are normalised (lowercase host, no default port) without a trailing slash.
///
/// # Errors
/// An empty list or entry, an unparsable URL, another scheme, plain HTTP to a non-loopback host,
/// credentials, a query or a fragment in a URL.
pub(crate) fn parse_endpoints(list: &str) -> anyhow::Result<Vec<String>> {
    if list.trim().is_empty() {
        bail!(
            "no endpoint given: expected comma-separated base URLs such as https://api.rong-api.com"
        );
    }
    list.split(',')
        .enumerate()
        .map(|(i, entry)| {
            parse_endpoint(entry.trim())
                .with_context(|| format!("endpoint {} of {:?}", i + 1, redacted_list(list)))
        })
        .collect()
}

/// Checks and normalises one base URL; see [`parse_endpoints`].
fn parse_endpoint(raw: &str) -> anyhow::Result<String> {
    // Quoted in every error, but never with the user credentials it may (wrongly) carry.
    let shown = redacted(raw);
    if raw.is_empty() {
        bail!("empty entry: separate base URLs with single commas");
    }
    let url = Url::parse(raw).with_context(|| format!("{shown:?} is not a URL"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback(&url) {
                bail!(
                    "{shown:?} uses plain http:// to a host that is not loopback; use https:// \
                     (plain http is allowed only to 127.0.0.0/8, localhost and [::1], for a local emulator)"
                );
            }
        }
        other => {
            bail!("{shown:?} has scheme {other:?}; expected https:// (or http:// to loopback)")
        }
    }
    if url.host().is_none() {
        bail!("{shown:?} has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        // They would be sent and could be printed with the endpoint; credentials belong in env vars.
        bail!("{shown:?} contains user credentials; put only the base URL here");
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!(
            "{shown:?} has a query or fragment; expected a base URL such as https://api.rong-api.com"
        );
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `raw` with the user credentials of its authority (`user:password@`) masked, for messages.
///
/// Everything up to the last `@` is masked, not only up to the first `/`, `?` or `#`: a
/// password may contain those (`https://u:pa/ss@host`), and masking too much of a URL that has
/// an `@` in its path is the safe mistake.
fn redacted(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    match rest.rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => raw.to_owned(),
    }
}

/// A comma-separated endpoint list with every entry [`redacted`].
fn redacted_list(list: &str) -> String {
    list.split(',').map(redacted).collect::<Vec<_>>().join(",")
}

/// Whether every endpoint of a list (as [`parse_endpoints`] returns it) is loopback: a run
/// against them is a rehearsal, which no real user receives.
pub(crate) fn all_loopback(endpoints: &[String]) -> bool {
    !endpoints.is_empty()
        && endpoints
            .iter()
            .all(|e| Url::parse(e).is_ok_and(|url| is_loopback(&url)))
}

fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    // `host_str` brackets IPv6 literals; the URL parser has already lowercased domains.
    let literal = host.trim_start_matches('[').trim_end_matches(']');
    match literal.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip.is_loopback(),
        Ok(IpAddr::V6(ip)) => ip.is_loopback(),
        Err(_) => false,
    }
}

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

/// Sends signed push requests to a list of base URLs, primary first.
pub(crate) struct Client {
    endpoints: Vec<Endpoint>,
    timeout: Duration,
    creds: Credentials,
    app_key_header: HeaderValue,
}

struct Endpoint {
    /// As given (normalised), reported in every [`SendOutcome`].
    base: String,
    push_url: Url,
    /// One HTTP client per endpoint so proxy settings can differ (never proxy loopback).
    http: reqwest::blocking::Client,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field(
                "endpoints",
                &self.endpoints.iter().map(|e| &e.base).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("creds", &self.creds)
            .finish_non_exhaustive()
    }
}

/// Longest accepted timeout; far beyond any useful value, and it keeps deadline arithmetic (ours
/// and reqwest's) clear of overflow.
pub(crate) const MAX_TIMEOUT: Duration = Duration::from_hours(1);
/// Longest `X-Request-ID` the provider keeps.
const MAX_REQUEST_ID: usize = 36;
/// Answers are a few dozen bytes; anything bigger is not the API talking.
const MAX_ANSWER: usize = 64 * 1024;
/// How much of an unexpected answer is quoted in an `Unknown` reason.
const SNIPPET_CHARS: usize = 200;
/// Cap on a provider `errorMessage` we store and print.
const MAX_MESSAGE_CHARS: usize = 500;

impl Client {
    /// A client for `endpoints` (base URLs, primary first; each checked like
    /// [`parse_endpoints`] so plain HTTP can never reach a non-loopback host).
    ///
    /// `timeout` bounds connecting, sending and waiting for the answer's head, and again reading
    /// its body. The connect phase gets half of it, so that a black-holed primary fails over as a
    /// connect error instead of ending as an ambiguous overall timeout.
    ///
    /// Blocking: create, use and drop it outside any async runtime (or in `spawn_blocking`), as
    /// reqwest's blocking client panics when created or dropped inside one.
    ///
    /// # Errors
    /// No endpoint, an invalid endpoint, a zero timeout or one over an hour, an empty App Key or
    /// one that cannot be an HTTP header value, or a TLS backend that fails to initialise.
    pub(crate) fn new(
        endpoints: Vec<String>,
        timeout: Duration,
        creds: Credentials,
    ) -> anyhow::Result<Self> {
        if endpoints.is_empty() {
            bail!("no endpoint configured");
        }
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            bail!(
                "the request timeout must be more than zero and at most {} s, not {timeout:?}",
                MAX_TIMEOUT.as_secs()
            );
        }
        if creds.app_key.is_empty() {
            bail!("the App Key is empty");
        }
        let app_key_header = HeaderValue::from_str(&creds.app_key)
            .context("the App Key contains characters that cannot be sent in an HTTP header")?;
        let endpoints = endpoints
            .into_iter()
            .map(|raw| build_endpoint(&raw, timeout))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            endpoints,
            timeout,
            creds,
            app_key_header,
        })
    }

    /// Sends `body` exactly as given, trying endpoints in order but moving on only when the
    /// request provably never reached a server. `request_id` (≤ 36 visible ASCII characters) goes
    /// in `X-Request-ID`. Never panics and never sends the same request twice.
    #[must_use]
    pub(crate) fn send(&self, body: &[u8], request_id: &str) -> SendOutcome {
        if let Err(problem) = check_request_id(request_id) {
            return SendOutcome::Unreachable {
                reason: format!("not sent: {problem}"),
            };
        }
        let mut failures = Vec::new();
        for endpoint in &self.endpoints {
            match self.attempt(endpoint, body, request_id) {
                Attempt::Finished(outcome) => return outcome,
                Attempt::NotConnected(why) => failures.push(format!("{}: {why}", endpoint.base)),
            }
        }
        SendOutcome::Unreachable {
            reason: format!(
                "no endpoint could be connected to, nothing was sent ({})",
                failures.join("; ")
            ),
        }
    }

    fn attempt(&self, endpoint: &Endpoint, body: &[u8], request_id: &str) -> Attempt {
        let nonce = new_nonce();
        let timestamp = unix_ms_now().to_string();
        let signature = sign(&self.creds.app_secret, &nonce, &timestamp);
        let result = endpoint
            .http
            .post(endpoint.push_url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("App-Key", self.app_key_header.clone())
            .header("Nonce", nonce)
            .header("Timestamp", timestamp)
            .header("Signature", signature)
            .header("X-Request-ID", request_id)
            .body(body.to_vec())
            .send();
        let unknown = |reason: String| {
            Attempt::Finished(SendOutcome::Unknown {
                reason,
                endpoint: endpoint.base.clone(),
            })
        };
        match result {
            Ok(response) => {
                let status = response.status().as_u16();
                let answer = read_answer(response, self.timeout);
                Attempt::Finished(classify(
                    &endpoint.base,
                    status,
                    answer.as_deref().map_err(String::as_str),
                ))
            }
            // Connector errors (DNS, refused, unreachable, connect timeout, TLS handshake, proxy
            // tunnel): no byte of the HTTP request was written, so the backup is safe.
            Err(e) if e.is_connect() => Attempt::NotConnected(error_chain(&e)),
            // Built before any I/O: nothing left this process.
            Err(e) if e.is_builder() => Attempt::Finished(SendOutcome::Unreachable {
                reason: format!(
                    "not sent: the request could not be built: {}",
                    error_chain(&e)
                ),
            }),
            Err(e) if e.is_timeout() => unknown(format!(
                "no answer within {:?}; the push may or may not have gone out ({})",
                self.timeout,
                error_chain(&e)
            )),
            Err(e) => unknown(format!(
                "the connection failed after it was made; the push may or may not have gone out ({})",
                error_chain(&e)
            )),
        }
    }
}

enum Attempt {
    Finished(SendOutcome),
    NotConnected(String),
}

fn build_endpoint(raw: &str, timeout: Duration) -> anyhow::Result<Endpoint> {
    let base =
        parse_endpoint(raw.trim()).with_context(|| format!("endpoint {:?}", redacted(raw)))?;
    let push_url = Url::parse(&format!("{base}/push.json"))
        .with_context(|| format!("endpoint {base:?} cannot take /push.json"))?;
    let mut builder = reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout / 2)
        // A redirect would resend the body somewhere else: never follow, report 3xx as Unknown.
        .redirect(reqwest::redirect::Policy::none())
        // No idle connections, so hyper can never "retry" a request on a stale pooled connection.
        .pool_max_idle_per_host(0)
        // reqwest retries protocol NACKs by default; no retry is safe without an idempotency key.
        .retry(reqwest::retry::never())
        .user_agent(concat!("pushform/", env!("CARGO_PKG_VERSION")));
    let url = Url::parse(&base).context("normalised endpoint no longer parses")?;
    if is_loopback(&url) {
        // A proxy cannot reach our loopback, and HTTP_PROXY in a CI environment must not hijack
        // a rehearsal against the local emulator.
        builder = builder.no_proxy();
    }
    let http = builder
        .build()
        .context("cannot initialise the HTTP client")?;
    Ok(Endpoint {
        base,
        push_url,
        http,
    })
}

fn check_request_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the request id is empty".to_owned());
    }
    if id.len() > MAX_REQUEST_ID {
        return Err(format!(
            "the request id {id:?} is longer than {MAX_REQUEST_ID} characters"
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "the request id {id:?} must be visible ASCII characters only"
        ));
    }
    Ok(())
}

/// Random decimal digits, at most 18 of them (the provider's limit). `uuid`'s v4 generator is the
/// OS-seeded randomness this crate already has.
fn new_nonce() -> String {
    const LIMIT: u128 = 1_000_000_000_000_000_000; // 10^18: at most 18 digits
    (uuid::Uuid::new_v4().as_u128() % LIMIT).to_string()
}

/// Real wall-clock Unix milliseconds: the provider checks `Timestamp` against its own clock, so a
/// pinned "now" (`PUSHFORM_NOW`) must never leak into it.
fn unix_ms_now() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Reads at most [`MAX_ANSWER`] bytes of the answer within `budget`; `Err` says why not.
fn read_answer(
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
fn classify(endpoint: &str, status: u16, body: Result<&[u8], &str>) -> SendOutcome {
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
fn error_chain(e: &dyn std::error::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::{
        Client, Credentials, SendOutcome, classify, data_center_endpoints, explain, new_nonce,
        parse_endpoints, redacted, sign,
    };
    use crate::emulator::{Emulator, EmulatorConfig, Fault};
    use std::net::TcpListener;
    use std::time::{Duration, Instant};

    /// Odd spacing and key order on purpose: the emulator must receive exactly these bytes.
    const BODY: &[u8] = br#"{ "platform":["ios","android"],"audience":{"is_to_all":true},  "notification":{"alert":"Hi \u00e9","title":"T"}}"#;

    fn emulator() -> Emulator {
        Emulator::start(EmulatorConfig {
            stall: Duration::from_secs(3),
            ..EmulatorConfig::new(crate::validate::check_json_body)
        })
        .expect("emulator starts on an OS-assigned port")
    }

    fn client(endpoints: Vec<String>, secret: &str, timeout: Duration) -> Client {
        Client::new(endpoints, timeout, Credentials::new("test-key", secret)).expect("client")
    }

    fn client_for(emu: &Emulator) -> Client {
        client(vec![emu.base_url()], "test-secret", Duration::from_secs(5))
    }

    /// A loopback port where nothing listens: bind one, note it, let it go.
    fn dead_endpoint() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    /// Sends once with `fault` armed; asserts the client did not retry.
    fn with_fault(fault: Fault, timeout: Duration) -> (SendOutcome, Emulator) {
        let emu = emulator();
        emu.set_fault(fault, 1);
        let outcome = client(vec![emu.base_url()], "test-secret", timeout).send(BODY, "req-fault");
        assert_eq!(
            emu.requests(),
            1,
            "exactly one request for {fault:?}: {outcome:?}"
        );
        (outcome, emu)
    }

    fn assert_unknown(outcome: &SendOutcome) {
        assert!(
            matches!(outcome, SendOutcome::Unknown { .. }),
            "{outcome:?}"
        );
    }

    #[test]
    fn sign_matches_the_providers_known_answer() {
        assert_eq!(
            sign("Y1W2MeFwwwRxa0", "14314", "1408710653000"),
            "30be0bbca9c9b2e27578701e9fda2358a814c88f"
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug() {
        let creds = Credentials::new("my-key", "Sup3rS3cret");
        let shown = format!("{creds:?}");
        assert!(
            shown.contains("my-key") && shown.contains("<redacted>"),
            "{shown}"
        );
        assert!(!shown.contains("Sup3rS3cret"));
        let client = Client::new(
            vec!["https://api.rong-api.com".into()],
            Duration::from_secs(1),
            creds,
        )
        .expect("client");
        assert!(!format!("{client:?}").contains("Sup3rS3cret"));
    }

    #[test]
    fn nonces_are_short_decimal_and_vary() {
        let a = new_nonce();
        assert!(
            !a.is_empty() && a.len() <= 18 && a.bytes().all(|b| b.is_ascii_digit()),
            "{a}"
        );
        assert!((0..5).any(|_| new_nonce() != a));
    }

    #[test]
    fn data_centers_have_primary_and_backup() {
        assert_eq!(
            data_center_endpoints("cn"),
            Some(["https://api.rong-api.com", "https://api-b.rong-api.com"])
        );
        for name in ["sg", "sg-b", "na", "sa"] {
            let [primary, backup] = data_center_endpoints(name).expect(name);
            assert!(primary.starts_with("https://api.") && backup.starts_with("https://api-b."));
            assert_eq!(
                parse_endpoints(&format!("{primary},{backup}"))
                    .expect("valid")
                    .len(),
                2
            );
        }
        assert_eq!(data_center_endpoints("eu"), None);
    }

    #[test]
    fn parse_endpoints_allows_plain_http_only_to_loopback() {
        assert_eq!(
            parse_endpoints(" https://api.rong-api.com/ , https://API-B.rong-api.com:8443/base/")
                .expect("https"),
            [
                "https://api.rong-api.com",
                "https://api-b.rong-api.com:8443/base"
            ]
        );
        assert_eq!(
            parse_endpoints(
                "http://127.0.0.1:8080/,http://127.9.9.9,http://localhost:1,http://[::1]:2"
            )
            .expect("loopback"),
            [
                "http://127.0.0.1:8080",
                "http://127.9.9.9",
                "http://localhost:1",
                "http://[::1]:2"
            ]
        );
        for (bad, why) in [
            ("http://api.rong-api.com", "not loopback"),
            ("http://10.0.0.1:8080", "not loopback"),
            ("http://128.0.0.1", "not loopback"),
            ("http://localhost.example.com", "not loopback"),
            ("ftp://127.0.0.1", "scheme"),
            ("api.rong-api.com", "not a URL"),
            ("https://user:pw@api.rong-api.com", "credentials"),
            ("https://api.rong-api.com/?x=1", "query"),
            ("https://a.example,,https://b.example", "empty entry"),
            ("", "no endpoint"),
        ] {
            let error = format!("{:#}", parse_endpoints(bad).expect_err(bad));
            assert!(error.contains(why), "{bad}: {error}");
        }
        let error = Client::new(
            vec!["http://example.com".into()],
            Duration::from_secs(1),
            Credentials::new("k", "s"),
        )
        .expect_err("the client checks endpoints too");
        assert!(format!("{error:#}").contains("not loopback"));
    }

    #[test]
    fn endpoint_errors_never_quote_user_credentials() {
        for list in [
            "https://ops:hunter2-pw@api.rong-api.com",
            "ftp://ops:hunter2-pw@127.0.0.1/x",
            "http://ops:hunter2-pw@example.com",
            "https://api.rong-api.com,https://hunter2-pw@api-b.rong-api.com/?q=1",
            // Passwords with the characters that end a URL's authority.
            "https://ops:hun/ter2-pw@api.rong-api.com",
            "https://ops:hun#ter2-pw@api.rong-api.com",
            "https://ops:hun?ter2-pw@api.rong-api.com",
            "http://ops:a/b?c#hunter2-pw@127.0.0.1:9",
        ] {
            let error = format!("{:#}", parse_endpoints(list).expect_err(list));
            assert!(
                !error.contains("hunter2") && !error.contains("ter2-pw"),
                "{error}"
            );
            assert!(error.contains("***@"), "{error}");
        }
        // An `@` in a path cannot be told from one in a password: masked too, the safe way.
        assert_eq!(redacted("https://a.example/p@q"), "https://***@q");
        assert_eq!(redacted("https://a.example/p"), "https://a.example/p");
        assert_eq!(redacted("not a url"), "not a url");
    }

    #[test]
    fn answers_are_classified_conservatively() {
        let rejected = |o: SendOutcome| match o {
            SendOutcome::Rejected {
                code, http_status, ..
            } => Some((code, http_status)),
            _ => None,
        };
        let ok = |s: &'static str| Ok(s.as_bytes());
        let e = "https://e";
        assert_eq!(
            classify(e, 200, ok(r#"{"code":200,"id":"abc"}"#)),
            SendOutcome::Sent {
                push_id: "abc".into(),
                endpoint: e.into()
            }
        );
        assert_eq!(
            rejected(classify(
                e,
                400,
                ok(r#"{"code":1002,"errorMessage":"bad"}"#)
            )),
            Some((1002, 400))
        );
        assert_eq!(
            rejected(classify(
                e,
                200,
                ok(r#"{"code":1009,"errorMessage":"off"}"#)
            )),
            Some((1009, 200))
        );
        assert_eq!(rejected(classify(e, 401, ok(""))), Some((1004, 401)));
        assert_eq!(rejected(classify(e, 401, Err("reset"))), Some((1004, 401)));
        assert_eq!(
            rejected(classify(e, 429, ok("<html>slow down"))),
            Some((1008, 429))
        );
        assert_eq!(
            rejected(classify(e, 429, ok(r#"{"code":1008}"#))),
            Some((1008, 429))
        );
        for (status, body) in [
            (200, r#"{"code":200}"#), // sent, but no id to prove it
            (200, r#"{"code":200,"id":""}"#),
            (201, r#"{"code":200,"id":"x"}"#),
            (200, r#"{"code":1000,"errorMessage":"internal"}"#),
            (500, r#"{"code":1002,"errorMessage":"bad"}"#),
            (502, "<html>bad gateway"),
            (302, ""),
            (200, "<html>oops"),
            (200, r#"{"id":"x"}"#),
            (200, r#"{"code":"200","id":"x"}"#),
            (200, "[1,2]"),
        ] {
            assert_unknown(&classify(e, status, ok(body)));
        }
        assert_unknown(&classify(e, 200, Err("connection reset")));
        // Any other 4xx: refused as a whole, never processed, whatever the body says.
        for (status, body) in [
            (400, r#"{"code":200,"id":"x"}"#),
            (404, "<html>not found"),
            (413, ""),
            (405, "method"),
        ] {
            assert_eq!(
                rejected(classify(e, status, ok(body))),
                Some((i64::from(status), status)),
                "{status}"
            );
        }
        let SendOutcome::Rejected { message, .. } = classify(e, 413, ok("")) else {
            panic!("rejected");
        };
        assert!(
            message.contains("HTTP 413 Payload Too Large") && message.contains("not processed"),
            "{message}"
        );
        let SendOutcome::Rejected { message, .. } = classify(
            e,
            400,
            Ok(format!(
                r#"{{"code":1002,"errorMessage":"a\nb{}"}}"#,
                "x".repeat(900)
            )
            .as_bytes()),
        ) else {
            panic!("rejected");
        };
        assert!(
            message.starts_with("a b") && message.chars().count() <= 501,
            "{message}"
        );
    }

    #[test]
    fn explain_covers_the_codes_users_can_act_on() {
        assert!(
            explain(1008)
                .is_some_and(|t| t.contains("outside pushform") && t.contains("3 per natural day"))
        );
        assert!(explain(1009).is_some_and(|t| t.contains("Broadcast to Users")));
        assert!(explain(1004).is_some_and(|t| t.contains("RONGCLOUD_APP_SECRET")));
        assert_eq!(explain(401), explain(1004));
        assert!(explain(1002).is_some_and(|t| t.contains("pushform validate")));
        assert_eq!(explain(1000), None);
        assert_eq!(explain(0), None);
    }

    #[test]
    fn sends_the_exact_bytes_and_returns_the_push_id() {
        let emu = emulator();
        let outcome = client_for(&emu).send(BODY, "0b9d7c1e-3f4a-4b5c-9d8e-7f6a5b4c3d2e");
        let received = emu.received();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0].bytes, BODY);
        assert_eq!(
            received[0].request_id.as_deref(),
            Some("0b9d7c1e-3f4a-4b5c-9d8e-7f6a5b4c3d2e")
        );
        assert_eq!(
            outcome,
            SendOutcome::Sent {
                push_id: received[0].push_id.clone(),
                endpoint: emu.base_url()
            }
        );
        assert_eq!(emu.requests(), 1);
    }

    #[test]
    fn an_invalid_request_id_is_refused_before_sending() {
        let emu = emulator();
        let client = client_for(&emu);
        for id in ["", "has space", &"x".repeat(37)] {
            assert!(
                matches!(client.send(BODY, id), SendOutcome::Unreachable { .. }),
                "{id:?}"
            );
        }
        assert_eq!(emu.requests(), 0);
    }

    #[test]
    fn a_connection_closed_unread_is_unknown() {
        // The server took the connection: it might have read the request before closing.
        let (outcome, emu) = with_fault(Fault::CloseUnread, Duration::from_secs(5));
        assert_unknown(&outcome);
        assert!(emu.received().is_empty());
    }

    #[test]
    fn a_stall_past_the_timeout_is_unknown() {
        let started = Instant::now();
        let (outcome, _emu) = with_fault(Fault::StallAfterBody, Duration::from_secs(1));
        assert_unknown(&outcome);
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_millis(2900),
            "gave up at the timeout: {elapsed:?}"
        );
    }

    #[test]
    fn a_push_accepted_but_never_answered_is_unknown_and_was_received() {
        let (outcome, emu) = with_fault(Fault::Drop, Duration::from_secs(5));
        assert_unknown(&outcome);
        assert_eq!(emu.received().len(), 1, "the worst case: it went out");
        assert_eq!(emu.received()[0].bytes, BODY);
    }

    #[test]
    fn server_errors_and_unreadable_answers_are_unknown() {
        for fault in [Fault::Http500, Fault::NotJson] {
            let (outcome, emu) = with_fault(fault, Duration::from_secs(5));
            assert_unknown(&outcome);
            assert!(emu.received().is_empty());
        }
    }

    #[test]
    fn definite_api_errors_are_rejected() {
        for (fault, expected) in [
            (Fault::RateLimited, (1008, 429)),
            (Fault::NotEnabled, (1009, 403)),
        ] {
            let (outcome, _emu) = with_fault(fault, Duration::from_secs(5));
            match outcome {
                SendOutcome::Rejected {
                    code, http_status, ..
                } => {
                    assert_eq!((code, http_status), expected);
                }
                other => panic!("{fault:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_wrong_secret_is_rejected_1004() {
        let emu = emulator();
        let outcome = client(
            vec![emu.base_url()],
            "not-the-secret",
            Duration::from_secs(5),
        )
        .send(BODY, "r");
        assert!(
            matches!(
                outcome,
                SendOutcome::Rejected {
                    code: 1004,
                    http_status: 401,
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert!(emu.received().is_empty());
    }

    #[test]
    fn an_invalid_body_is_rejected_1002() {
        let emu = emulator();
        let outcome = client_for(&emu).send(br#"{"platform":["web"]}"#, "r");
        assert!(
            matches!(
                outcome,
                SendOutcome::Rejected {
                    code: 1002,
                    http_status: 400,
                    ..
                }
            ),
            "{outcome:?}"
        );
    }

    #[test]
    fn the_third_push_within_an_hour_is_rejected_1008() {
        let emu = emulator();
        emu.set_now(Some(1_704_126_600_000));
        let client = client_for(&emu);
        assert!(matches!(client.send(BODY, "r1"), SendOutcome::Sent { .. }));
        assert!(matches!(client.send(BODY, "r2"), SendOutcome::Sent { .. }));
        let outcome = client.send(BODY, "r3");
        assert!(
            matches!(
                outcome,
                SendOutcome::Rejected {
                    code: 1008,
                    http_status: 429,
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert_eq!(emu.received().len(), 2);
    }

    #[test]
    fn fails_over_only_when_the_primary_cannot_be_connected_to() {
        let backup = emulator();
        let outcome = client(
            vec![dead_endpoint(), backup.base_url()],
            "test-secret",
            Duration::from_secs(5),
        )
        .send(BODY, "r");
        assert!(
            matches!(&outcome, SendOutcome::Sent { endpoint, .. } if *endpoint == backup.base_url()),
            "{outcome:?}"
        );
        assert_eq!(backup.received().len(), 1);
        assert_eq!(backup.requests(), 1);
    }

    #[test]
    fn never_fails_over_after_the_primary_was_reached() {
        let (primary, backup) = (emulator(), emulator());
        primary.set_fault(Fault::Drop, 1);
        let outcome = client(
            vec![primary.base_url(), backup.base_url()],
            "test-secret",
            Duration::from_secs(5),
        )
        .send(BODY, "r");
        assert!(
            matches!(&outcome, SendOutcome::Unknown { endpoint, .. } if *endpoint == primary.base_url()),
            "{outcome:?}"
        );
        assert_eq!(primary.received().len(), 1);
        assert_eq!(
            backup.requests(),
            0,
            "the push went out once; the backup must not send it again"
        );
    }

    #[test]
    fn fails_over_when_the_primary_refuses_connections() {
        let (primary, backup) = (emulator(), emulator());
        primary.set_fault(Fault::Refuse, 1);
        let outcome = client(
            vec![primary.base_url(), backup.base_url()],
            "test-secret",
            Duration::from_secs(5),
        )
        .send(BODY, "r");
        assert!(
            matches!(&outcome, SendOutcome::Sent { endpoint, .. } if *endpoint == backup.base_url()),
            "{outcome:?}"
        );
        assert_eq!(primary.requests(), 0);
        assert_eq!(backup.received().len(), 1);
    }

    #[test]
    fn all_endpoints_refused_is_unreachable() {
        let (a, b) = (dead_endpoint(), dead_endpoint());
        let outcome = client(
            vec![a.clone(), b.clone()],
            "test-secret",
            Duration::from_secs(5),
        )
        .send(BODY, "r");
        let SendOutcome::Unreachable { reason } = outcome else {
            panic!("{outcome:?}");
        };
        assert!(reason.contains(&a) && reason.contains(&b), "{reason}");
    }
}
