//! Settings: the command line, `pushform.yaml` and the environment resolved once into one value
//! that commands receive. Nothing below the commands reads arguments or environment variables.

use std::path::PathBuf;

use anyhow::{Result, anyhow, bail};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::quota::Quota;

#[derive(Clone, Debug)]
pub struct Settings {
    /// "Now": the real clock, or `PUSHFORM_NOW`/`--now` pinned.
    pub now: Now,
    pub quota: Quota,
    pub lock_path: PathBuf,
}

/// The clock. Pinned time is for rehearsals and tests; it also stamps the lock records.
#[derive(Clone, Copy, Debug)]
pub enum Now {
    Real,
    Pinned(DateTime<Utc>),
}

impl Now {
    pub fn get(self) -> DateTime<Utc> {
        match self {
            Now::Real => Utc::now(),
            Now::Pinned(t) => t,
        }
    }

    pub fn is_pinned(self) -> bool {
        matches!(self, Now::Pinned(_))
    }
}

impl Settings {
    pub fn resolve(global: &GlobalArgs, config: &Config) -> Result<Settings> {
        let now = match &global.now {
            None => Now::Real,
            Some(text) => Now::Pinned(
                DateTime::parse_from_rfc3339(text.trim())
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|e| {
                        anyhow!("PUSHFORM_NOW / --now `{text}` is not an RFC 3339 time: {e}")
                    })?,
            ),
        };
        let tz: Tz = config.quota.timezone.parse().map_err(|_| {
            anyhow!(
                "pushform.yaml: quota.timezone `{}` is not an IANA time zone (e.g. Asia/Shanghai)",
                config.quota.timezone
            )
        })?;
        if config.lock.trim().is_empty() {
            bail!("pushform.yaml: `lock` must be a file path");
        }
        Ok(Settings {
            now,
            quota: Quota {
                per_hour: config.quota.per_hour,
                per_day: config.quota.per_day,
                tz,
            },
            lock_path: global.dir.join(&config.lock),
        })
    }

    /// An instant in the provider's time zone, to the second, for people and the lock.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
        t.with_timezone(&self.quota.tz).fixed_offset()
    }
}

/// Reads a secret from the environment; the error names the variable, never a value.
pub fn env_var(name: &str) -> Result<String> {
    let Ok(value) = std::env::var(name) else {
        bail!(
            "the environment variable {name} is not set: apply reads the App Key and App Secret \
             from the environment (the variable names are api.app_key_env and api.app_secret_env \
             in pushform.yaml)"
        );
    };
    if value.trim().is_empty() {
        bail!("the environment variable {name} is empty");
    }
    Ok(value)
}
