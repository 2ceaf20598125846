//! A PostgreSQL connection string, taken apart before anything connects.
//!
//! The URL comes from the environment and holds a password, so this is where
//! the rules live that keep it safe: every message shows the string with the
//! password masked (and scrubs any spelling of it from driver errors), a
//! non-loopback server is only reached over TLS with a verified certificate
//! unless the string says `sslmode=disable`, and the libpq options the driver
//! does not know (`verify-full`, `sslrootcert`) are read here.

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use postgres::config::{Host, SslMode};
use postgres::{Client, Config};

/// A connection attempt that takes longer than this fails (unless the URL sets
/// `connect_timeout`): `plan` must fail clearly, not hang, when the server is away.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection string taken apart: what to connect with, and how to show it.
pub(super) struct Target {
    pub(super) config: Config,
    /// TLS roots: `None` when TLS is off.
    pub(super) tls_roots: Option<rustls::RootCertStore>,
    /// The connection string with its password replaced by `***`.
    pub(super) shown: String,
    /// Every spelling of the password, scrubbed from every error message.
    secrets: Vec<String>,
}

/// The libpq options this module interprets itself (tokio-postgres knows no
/// `verify-full` nor `sslrootcert`).
#[derive(Default)]
struct TlsOptions {
    sslmode: Option<String>,
    sslrootcert: Option<String>,
}

impl Target {
    pub(super) fn parse(url: &str) -> anyhow::Result<Target> {
        let split = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            split_url(url)
        } else {
            split_keywords(url)?
        };
        let mut secrets = split.secrets;
        let fail = |e: &dyn fmt::Display, secrets: &[String]| {
            anyhow!(
                "invalid PostgreSQL connection string {}: {}",
                split.shown,
                scrub(&e.to_string(), secrets)
            )
        };
        let mut config =
            Config::from_str(&split.rest).map_err(|e| fail(&error_text(&e), &secrets))?;
        if let Some(password) = config.get_password() {
            secrets.push(String::from_utf8_lossy(password).into_owned());
        }
        let local = config.get_hosts().iter().all(|host| match host {
            Host::Tcp(name) => is_loopback(name),
            Host::Unix(_) => true,
        }) && config.get_hostaddrs().iter().all(IpAddr::is_loopback);
        let mode = match split.tls.sslmode.as_deref() {
            Some("disable") => SslMode::Disable,
            // Loopback traffic never leaves the machine; anything else is
            // encrypted and verified unless the URL says `sslmode=disable`.
            None | Some("allow" | "prefer") if local => SslMode::Disable,
            None | Some("allow" | "prefer" | "require" | "verify-ca" | "verify-full") => {
                SslMode::Require
            }
            Some(other) => {
                return Err(fail(
                    &format!(
                        "sslmode {other:?} is not one of disable, allow, prefer, require, \
                         verify-ca, verify-full"
                    ),
                    &secrets,
                ));
            }
        };
        config.ssl_mode(mode);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let tls_roots = match mode {
            SslMode::Disable => None,
            _ => {
                Some(root_store(split.tls.sslrootcert.as_deref()).map_err(|e| fail(&e, &secrets))?)
            }
        };
        secrets.retain(|s| !s.is_empty());
        Ok(Target {
            config,
            tls_roots,
            shown: split.shown,
            secrets,
        })
    }

    pub(super) fn connect(&self) -> anyhow::Result<Client> {
        let result = match &self.tls_roots {
            None => self.config.connect(postgres::NoTls),
            Some(roots) => {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let tls = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .context("cannot set up TLS")?
                    .with_root_certificates(roots.clone())
                    .with_no_client_auth();
                self.config
                    .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
            }
        };
        result.map_err(|e| {
            let text = scrub(&error_text(&e), &self.secrets);
            let hint = if self.tls_roots.is_some() && text.contains("certificate") {
                " (a server whose certificate is signed by its own CA needs \
                 sslrootcert=PATH-TO-CA.pem in the connection string)"
            } else {
                ""
            };
            anyhow!(
                "cannot connect to the PostgreSQL state at {}: {text}{hint}",
                self.shown,
            )
        })
    }
}

/// The Mozilla roots (webpki-roots, the same trust as the HTTPS client), or
/// only the certificates of `sslrootcert` when the URL names a file, as libpq
/// does: managed databases often sign with their own CA.
fn root_store(sslrootcert: Option<&str>) -> anyhow::Result<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let Some(path) = sslrootcert else {
        return Ok(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let mut store = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read sslrootcert {path}"))?;
    for cert in certs {
        let cert = cert.with_context(|| format!("cannot parse sslrootcert {path}"))?;
        store
            .add(cert)
            .with_context(|| format!("sslrootcert {path} holds an unusable certificate"))?;
    }
    if store.is_empty() {
        bail!("sslrootcert {path} holds no PEM certificate");
    }
    Ok(store)
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A connection string with the options this module reads taken out.
struct Split {
    rest: String,
    tls: TlsOptions,
    shown: String,
    secrets: Vec<String>,
}

/// `postgres[ql]://user:password@host:port/db?k=v&...`
fn split_url(url: &str) -> Split {
    let (scheme, after) = url.split_once("://").unwrap_or(("postgres", url));
    let (main, query) = match after.split_once('?') {
        Some((main, query)) => (main, Some(query)),
        None => (after, None),
    };
    let mut secrets = Vec::new();
    let authority_end = main.find('/').unwrap_or(main.len());
    let (authority, path) = main.split_at(authority_end);
    let shown_authority = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => match userinfo.split_once(':') {
            Some((user, password)) => {
                secrets.push(password.to_owned());
                secrets.push(percent_decode(password));
                format!("{user}:***@{hosts}")
            }
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let mut tls = TlsOptions::default();
    let mut kept = Vec::new();
    let mut shown_query = Vec::new();
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match percent_decode(key).as_str() {
            "sslmode" => tls.sslmode = Some(percent_decode(value)),
            "sslrootcert" => tls.sslrootcert = Some(percent_decode(value)),
            "password" => {
                secrets.push(value.to_owned());
                secrets.push(percent_decode(value));
                kept.push(pair);
                shown_query.push(format!("{key}=***"));
                continue;
            }
            _ => kept.push(pair),
        }
        shown_query.push(pair.to_owned());
    }
    let join = |base: String, parts: &[String]| {
        if parts.is_empty() {
            base
        } else {
            format!("{base}?{}", parts.join("&"))
        }
    };
    let kept: Vec<String> = kept.into_iter().map(str::to_owned).collect();
    Split {
        rest: join(format!("{scheme}://{authority}{path}"), &kept),
        tls,
        shown: join(format!("{scheme}://{shown_authority}{path}"), &shown_query),
        secrets,
    }
}

/// libpq's `key=value key='quoted value'` form.
fn split_keywords(text: &str) -> anyhow::Result<Split> {
    let mut tls = TlsOptions::default();
    let mut rest = Vec::new();
    let mut shown = Vec::new();
    let mut secrets = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            bail!(
                "invalid PostgreSQL connection string: expected `=` after {key:?} \
                 (use key=value pairs or a postgresql:// URL)"
            );
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => bail!(
                        "invalid PostgreSQL connection string: unterminated quote in the value of {key:?}"
                    ),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        let quoted = format!(
            "{key}='{}'",
            value.replace('\\', "\\\\").replace('\'', "\\'")
        );
        match key.as_str() {
            "sslmode" => tls.sslmode = Some(value),
            "sslrootcert" => tls.sslrootcert = Some(value),
            "password" => {
                shown.push(format!("{key}=***"));
                rest.push(quoted);
                secrets.push(value);
            }
            _ => {
                shown.push(quoted.clone());
                rest.push(quoted);
            }
        }
    }
    Ok(Split {
        rest: rest.join(" "),
        tls,
        shown: shown.join(" "),
        secrets,
    })
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(byte) = u8::from_str_radix(hex, 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with every secret replaced by `***`. Longest first, so a password
/// that contains another spelling of itself is not half-masked.
fn scrub(text: &str, secrets: &[String]) -> String {
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut text = text.to_owned();
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

/// A driver error with its causes (the server's message is in the source).
pub(super) fn error_text(error: &postgres::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            let _ = write!(text, ": {cause}");
        }
        source = cause_of(source);
    }
    text
}

fn cause_of<'a>(
    error: Option<&'a (dyn std::error::Error + 'static)>,
) -> Option<&'a (dyn std::error::Error + 'static)> {
    error.and_then(std::error::Error::source)
}

#[cfg(test)]
mod tests {
    use postgres::config::SslMode;

    use super::{Target, scrub};

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e:#}"))
    }

    #[test]
    fn loopback_goes_without_tls_and_anything_else_with_it() {
        let cases = [
            ("postgresql://u:p@127.0.0.1:5432/db", SslMode::Disable),
            ("postgresql://u:p@localhost/db", SslMode::Disable),
            ("postgresql://u:p@[::1]:5432/db", SslMode::Disable),
            ("host=/var/run/postgresql dbname=db", SslMode::Disable),
            ("postgresql://u:p@db.example.com/db", SslMode::Require),
            (
                "postgresql://u:p@db.example.com/db?sslmode=prefer",
                SslMode::Require,
            ),
            (
                "postgresql://u:p@db.example.com/db?sslmode=verify-full",
                SslMode::Require,
            ),
            (
                "postgresql://u:p@db.example.com/db?sslmode=disable",
                SslMode::Disable,
            ),
            (
                "postgresql://u:p@127.0.0.1/db?sslmode=require",
                SslMode::Require,
            ),
            ("host=db.example.com sslmode=verify-ca", SslMode::Require),
            (
                "postgresql://u:p@127.0.0.1,db.example.com/db",
                SslMode::Require,
            ),
        ];
        for (url, mode) in cases {
            let target = target(url);
            assert_eq!(target.config.get_ssl_mode(), mode, "{url}");
            assert_eq!(
                target.tls_roots.is_some(),
                mode == SslMode::Require,
                "{url}"
            );
        }
        let err = Target::parse("postgresql://u:pw@h/db?sslmode=sometimes")
            .err()
            .unwrap();
        assert!(err.to_string().contains("sslmode \"sometimes\""), "{err}");
        assert!(!err.to_string().contains("pw@"), "{err}");
    }

    #[test]
    fn shown_urls_mask_the_password() {
        let cases = [
            (
                "postgresql://alice:hunter2@db.example.com:5432/state?sslmode=require",
                "postgresql://alice:***@db.example.com:5432/state?sslmode=require",
            ),
            (
                "postgres://db.example.com/state?user=alice&password=hunter2",
                "postgres://db.example.com/state?user=alice&password=***",
            ),
            (
                "host=db.example.com password = 'hun ter\\'2' user=alice",
                "host='db.example.com' password=*** user='alice'",
            ),
            (
                "postgresql://alice@db.example.com/s",
                "postgresql://alice@db.example.com/s",
            ),
        ];
        for (url, shown) in cases {
            let target = target(url);
            assert_eq!(target.shown, shown);
            assert!(!target.shown.contains("hunter2") && !target.shown.contains("hun ter"));
        }
        assert_eq!(
            target("host=h password = 'hun ter\\'2' user=alice")
                .config
                .get_password(),
            Some(&b"hun ter'2"[..])
        );
    }

    #[test]
    fn sslrootcert_replaces_the_default_roots() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = Target::parse(&format!(
            "postgresql://u:p@db.example.com/db?sslrootcert={}",
            missing.display()
        ))
        .err()
        .unwrap();
        assert!(
            format!("{err:#}").contains("cannot read sslrootcert"),
            "{err:#}"
        );
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let err = Target::parse(&format!(
            "host=db.example.com sslrootcert={}",
            empty.display()
        ))
        .err()
        .unwrap();
        assert!(
            format!("{err:#}").contains("holds no PEM certificate"),
            "{err:#}"
        );
        let default = target("postgresql://u:p@db.example.com/db");
        assert!(default.tls_roots.unwrap().len() > 50, "the Mozilla roots");
    }

    #[test]
    fn scrub_masks_every_spelling_longest_first() {
        let secrets = ["ab".to_owned(), "abcd".to_owned(), String::new()];
        assert_eq!(scrub("x abcd y ab z", &secrets), "x *** y *** z");
    }
}
