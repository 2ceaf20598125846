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
pub(crate) struct Settings {
    /// "Now": the real clock, or `PUSHFORM_NOW`/`--now` pinned.
    pub(crate) now: Now,
    pub(crate) quota: Quota,
    /// Where the state is kept.
    pub(crate) state: StateSpec,
    /// The environment (`--env`) these settings are for; `None` when none is declared.
    pub(crate) environment: Option<String>,
    /// Default recipients of `send-test`.
    pub(crate) test_to: Vec<String>,
    /// `schedule.window`, read in `quota.timezone` unless it names its own zone.
    pub(crate) send_window: Option<crate::window::Window>,
}

/// The state backend, resolved from `state:` (or the older `lock:`) in pushform.yaml.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StateSpec {
    File {
        path: PathBuf,
    },
    Git {
        /// The project folder: the git repository whose remote holds the branch.
        dir: PathBuf,
        remote: String,
        branch: String,
    },
    Postgres {
        /// NAME of the environment variable holding the connection string.
        url_env: String,
        /// The history shared by every repository sending with one App Key.
        scope: String,
        /// This repository's name in the scope.
        project: String,
    },
}

/// The clock. Pinned time is for rehearsals and tests; it also stamps the lock records.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Now {
    Real,
    Pinned(DateTime<Utc>),
}

impl Now {
    pub(crate) fn get(self) -> DateTime<Utc> {
        match self {
            Now::Real => Utc::now(),
            Now::Pinned(t) => t,
        }
    }

    pub(crate) fn is_pinned(self) -> bool {
        matches!(self, Now::Pinned(_))
    }
}

impl Settings {
    pub(crate) fn resolve(global: &GlobalArgs, config: &Config) -> Result<Settings> {
        if config.selected.is_none() && !config.environments.is_empty() {
            // Which App Key, which state, which quota: never a guess.
            bail!(
                "pushform.yaml declares environments ({}): say which one with --env NAME (or \
                 PUSHFORM_ENV)",
                config.environment_names()
            );
        }
        // Parsed and range-checked by clap (see `cli.rs`).
        let now = global.now.map_or(Now::Real, Now::Pinned);
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
            state,
            environment: config.selected.as_ref().map(|s| s.name.clone()),
            test_to: config.test_to.clone(),
            send_window: config.schedule.window_spec().map(|w| w.resolve(tz)),
        })
    }

    /// An instant in the provider's time zone, to the second, for people and the lock.
    pub(crate) fn local(&self, t: DateTime<Utc>) -> DateTime<chrono::FixedOffset> {
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
    nonblank("state.url_env", &state.url_env)?;
    nonblank("state.scope", &state.scope)?;
    nonblank("state.project", &state.project)?;
    if state.backend != StateBackend::Postgres
        && let Some(field) = [
            ("url_env", &state.url_env),
            ("scope", &state.scope),
            ("project", &state.project),
        ]
        .iter()
        .find_map(|(f, v)| v.as_ref().map(|_| *f))
    {
        bail!(
            "pushform.yaml: `state.{field}` is for the postgres backend; set `state.backend: \
             postgres` or remove it"
        );
    }
    match state.backend {
        StateBackend::Postgres => resolve_postgres(dir, &state),
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

/// `state: {backend: postgres}`: the scope is required (it names the App Key's shared history,
/// so no default can be right); the project defaults to the project folder's name.
fn resolve_postgres(
    dir: &std::path::Path,
    state: &crate::config::StateConfig,
) -> Result<StateSpec> {
    if let Some(field) = [
        ("path", &state.path),
        ("remote", &state.remote),
        ("branch", &state.branch),
    ]
    .iter()
    .find_map(|(f, v)| v.as_ref().map(|_| *f))
    {
        bail!(
            "pushform.yaml: `state.{field}` is not a setting of the postgres backend (it keeps \
             the state in the database named by `state.url_env`)"
        );
    }
    let Some(scope) = state.scope.clone() else {
        bail!(
            "pushform.yaml: `state.scope` is required with `state.backend: postgres`: the name of \
             the history every repository sending with this App Key shares (e.g. `scope: \
             student-app`)"
        );
    };
    let project = if let Some(project) = &state.project {
        project.clone()
    } else {
        let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let absolute = absolute.canonicalize().unwrap_or(absolute);
        absolute
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.trim().is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "pushform.yaml: the project folder {} has no name to use as \
                     `state.project`; set it",
                    dir.display()
                )
            })?
    };
    Ok(StateSpec::Postgres {
        url_env: state
            .url_env
            .clone()
            .unwrap_or_else(|| crate::state::postgres::DEFAULT_URL_ENV.to_owned()),
        scope,
        project,
    })
}

/// Reads a secret from the environment; the error names the variable, never a value.
pub(crate) fn env_var(name: &str) -> Result<String> {
    let Ok(value) = std::env::var(name) else {
        bail!(
            "the environment variable {name} is not set: apply reads the App Key and App Secret \
             from the environment (the variable names are api.app_key_env and api.app_secret_env \
             in pushform.yaml)"
        );
    };
    check_secret(name, &value)?;
    Ok(value)
}

/// The rules of [`env_var`] on a value; errors name the variable, never the value.
fn check_secret(name: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        bail!("the environment variable {name} is empty");
    }
    if value.trim() != value {
        // A trailing newline from `echo` or a file is the usual cause. Trimming silently would
        // hide which of two values the provider really checks against.
        bail!(
            "the environment variable {name} has spaces or a line break before or after its \
             value; remove them (pushform does not trim credentials)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_postgres_backend_needs_a_scope_and_names_the_project_after_the_folder() {
        use crate::config::{StateBackend, StateConfig};
        let dir = tempfile::Builder::new()
            .prefix("team-shop-")
            .tempdir()
            .unwrap();
        let with = |state: StateConfig| Config {
            state: Some(state),
            ..Config::default()
        };
        let postgres = StateConfig {
            backend: StateBackend::Postgres,
            scope: Some("student-app".to_owned()),
            ..StateConfig::default()
        };
        let folder = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            resolve_state(dir.path(), &with(postgres.clone())).unwrap(),
            StateSpec::Postgres {
                url_env: "PUSHFORM_DATABASE_URL".to_owned(),
                scope: "student-app".to_owned(),
                project: folder,
            }
        );
        let named = StateConfig {
            project: Some("shop".to_owned()),
            url_env: Some("DB".to_owned()),
            ..postgres.clone()
        };
        assert!(matches!(
            resolve_state(dir.path(), &with(named)).unwrap(),
            StateSpec::Postgres { project, url_env, .. } if project == "shop" && url_env == "DB"
        ));
        let refused = |state: StateConfig, expected: &str| {
            let err = resolve_state(dir.path(), &with(state))
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{err}");
        };
        refused(
            StateConfig {
                scope: None,
                ..postgres.clone()
            },
            "`state.scope` is required",
        );
        refused(
            StateConfig {
                scope: Some(" ".to_owned()),
                ..postgres.clone()
            },
            "`state.scope` must not be empty",
        );
        refused(
            StateConfig {
                path: Some("x.lock".to_owned()),
                ..postgres
            },
            "`state.path` is not a setting of the postgres backend",
        );
        refused(
            StateConfig {
                scope: Some("student-app".to_owned()),
                ..StateConfig::default()
            },
            "`state.scope` is for the postgres backend",
        );
    }

    #[test]
    fn secrets_are_taken_exactly_or_refused_by_name() {
        // On values, not the environment: setting variables needs `unsafe` in edition 2024.
        assert!(check_secret("X", "abc").is_ok());
        for bad in ["abc\n", " abc", "abc\t", "\r\nabc"] {
            let err = check_secret("RONGCLOUD_APP_SECRET", bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("RONGCLOUD_APP_SECRET"), "{err}");
            assert!(!err.contains("abc"), "{err}");
        }
    }
}
