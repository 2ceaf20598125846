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

mod answer;
mod endpoints;
mod outcome;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use sha1::{Digest, Sha1};

use answer::{classify, error_chain, read_answer};
pub(crate) use endpoints::{all_loopback, data_center_endpoints, parse_endpoints};
use endpoints::{is_loopback, parse_endpoint, redacted};
pub(crate) use outcome::{CODE_RATE_LIMITED, SendOutcome, explain};

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
