//! Where pushes go: the provider's data centers by name, and `PUSHFORM_ENDPOINT` lists checked
//! and normalised. Plain `http://` is accepted only to loopback (a local emulator), so signed
//! requests never cross a network in clear, and a URL's user credentials are masked in every
//! message. A list that is all loopback is a rehearsal, which no real user receives.

use std::net::IpAddr;

use anyhow::{Context, bail};
use reqwest::Url;

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
pub(super) fn parse_endpoint(raw: &str) -> anyhow::Result<String> {
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
pub(super) fn redacted(raw: &str) -> String {
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

pub(super) fn is_loopback(url: &Url) -> bool {
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
