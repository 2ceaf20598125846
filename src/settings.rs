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
    /// The file backend's lockfile (also set, unused, for other backends).
    pub lock_path: PathBuf,
    /// Where the state is kept.
    pub state: StateSpec,
}

/// The state backend, resolved from `state:` (or the older `lock:`) in pushform.yaml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateSpec {
    File {
        path: PathBuf,
    },
    Git {
        /// The project folder: the git repository whose remote holds the branch.
        dir: PathBuf,
        remote: String,
        branch: String,
    },
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
        let state = resolve_state(&global.dir, config)?;
        Ok(Settings {
            now,
            quota: Quota {
                per_hour: config.quota.per_hour,
                per_day: config.quota.per_day,
                tz,
            },
            lock_path: global.dir.join(config.lock_path()),
            state,
        })
    }

    /// An instant in the provider's time zone, to the second, for people and the lock.
    pub fn local(&self, t: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
        t.with_timezone(&self.quota.tz).fixed_offset()
    }
}

/// The state backend: `state:`, or the older top-level `lock:` (not both).
fn resolve_state(dir: &std::path::Path, config: &Config) -> Result<StateSpec> {
    use crate::config::StateBackend;
    let state = config.state.clone().unwrap_or_default();
    if config.lock.is_some() && config.state.is_some() {
        bail!(
            "pushform.yaml: `lock` and `state` are both set; `lock` is the older spelling of \
             `state.path`: keep only `state`"
        );
    }
    let nonblank = |field: &str, value: &Option<String>| -> Result<()> {
        match value {
            Some(v) if v.trim().is_empty() => bail!("pushform.yaml: `{field}` must not be empty"),
            _ => Ok(()),
        }
    };
    nonblank("lock", &config.lock)?;
    nonblank("state.path", &state.path)?;
    nonblank("state.remote", &state.remote)?;
    nonblank("state.branch", &state.branch)?;
    match state.backend {
        StateBackend::File => {
            if let Some(field) = [("remote", &state.remote), ("branch", &state.branch)]
                .iter()
                .find_map(|(f, v)| v.as_ref().map(|_| *f))
            {
                bail!(
                    "pushform.yaml: `state.{field}` is for the git backend; set `state.backend: \
                     git` or remove it"
                );
            }
            Ok(StateSpec::File {
                path: dir.join(config.lock_path()),
            })
        }
        StateBackend::Git => {
            if state.path.is_some() {
                bail!(
                    "pushform.yaml: `state.path` is for the file backend; the git backend keeps \
                     pushform.lock at the root of `state.branch`"
                );
            }
            if state.remote.as_deref().is_some_and(|r| r.starts_with('-')) {
                bail!("pushform.yaml: `state.remote` must be a remote name or a URL");
            }
            let branch = state.branch.unwrap_or_else(|| "pushform-state".to_owned());
            if branch.starts_with('-') || branch.contains("..") || branch.contains(' ') {
                bail!("pushform.yaml: `state.branch` `{branch}` is not a usable branch name");
            }
            Ok(StateSpec::Git {
                dir: dir.to_path_buf(),
                remote: state.remote.unwrap_or_else(|| "origin".to_owned()),
                branch,
            })
        }
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
