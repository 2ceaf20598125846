//! `pushform.yaml`, the optional project config (DESIGN §3). Every key is optional and unknown
//! keys are errors, so a typo such as `per_hours` cannot silently fall back to a default.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::body::PushBody;
use crate::finding::Finding;
use crate::node::Node;
use crate::window::{self, WindowFile, WindowSpec};

pub const FILE_NAME: &str = "pushform.yaml";

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub api: Api,
    pub quota: QuotaConfig,
    pub locales: Locales,
    pub defaults: Defaults,
    pub schedule: Schedule,
    /// Path of the lockfile, relative to the project root (the older spelling of `state.path`).
    pub lock: Option<String>,
    /// Where the state (the record of every send) is kept.
    pub state: Option<StateConfig>,
}

/// The lockfile path when neither `lock` nor `state.path` is set.
pub const DEFAULT_LOCK: &str = "pushform.lock";

/// `state:`: the backend holding the record of every send.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StateConfig {
    /// `file` (default): a lockfile on disk; `git`: a lockfile on a branch of a git remote;
    /// `postgres`: one history in a PostgreSQL database, shared by several repositories.
    pub backend: StateBackend,
    /// file: the lockfile, relative to the project root (default pushform.lock).
    pub path: Option<String>,
    /// git: the remote holding the state branch (a remote name or a URL; default origin).
    pub remote: Option<String>,
    /// git: the branch holding only pushform.lock (default pushform-state).
    pub branch: Option<String>,
    /// postgres: NAME of the environment variable holding the connection string (default
    /// PUSHFORM_DATABASE_URL).
    pub url_env: Option<String>,
    /// postgres: the shared history; every repository sending with this App Key uses the same one.
    pub scope: Option<String>,
    /// postgres: this repository's name in the scope (default: the project folder's name).
    pub project: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    #[default]
    File,
    Git,
    Postgres,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// cn | sg | sg-b | na | sa
    pub data_center: String,
    /// Explicit base URLs, primary first; they override `data_center`.
    pub endpoints: Vec<String>,
    pub timeout_secs: u64,
    /// Name of the environment variable holding the App Key.
    pub app_key_env: String,
    /// Name of the environment variable holding the App Secret.
    pub app_secret_env: String,
}

impl Default for Api {
    fn default() -> Self {
        Api {
            data_center: "cn".to_owned(),
            endpoints: Vec::new(),
            timeout_secs: 10,
            app_key_env: "RONGCLOUD_APP_KEY".to_owned(),
            app_secret_env: "RONGCLOUD_APP_SECRET".to_owned(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    /// Sends allowed in any 60-minute window.
    pub per_hour: u32,
    /// Sends allowed per natural day in `timezone`.
    pub per_day: u32,
    /// IANA time zone of the provider's natural day.
    pub timezone: String,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig {
            per_hour: 2,
            per_day: 3,
            timezone: "Asia/Shanghai".to_owned(),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Locales {
    /// The locale (`t`, `locale`) of campaigns that declare no `locales`.
    pub default: Option<String>,
    /// Explicit fallback chains, e.g. `zh-HK: zh-TW`. Never an implicit fall to another language.
    pub fallback: IndexMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Defaults {
    /// Deep-merged under every campaign's `push`.
    #[schemars(with = "Option<PushBody>")]
    pub push: Option<Node>,
}

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Schedule {
    /// Hours in which pushes may go out, e.g. `{from: "09:00", to: "21:00", timezone:
    /// Asia/Shanghai}`; a campaign's or locale's `send_window` replaces it. None: any time.
    pub window: Option<WindowFile>,
}

impl Schedule {
    /// The project's window, if it is written and valid (`findings` reports it otherwise).
    pub fn window_spec(&self) -> Option<WindowSpec> {
        self.window
            .as_ref()
            .and_then(|w| window::parse(FILE_NAME, "schedule.window", w, &mut Vec::new()))
    }

    /// What is wrong with `schedule`, with line and field.
    pub fn findings(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        if let Some(w) = &self.window {
            window::parse(FILE_NAME, "schedule.window", w, &mut findings);
        }
        findings
    }
}

impl Config {
    /// The file backend's lockfile path as written (`state.path`, else `lock`, else the default).
    pub fn lock_path(&self) -> &str {
        self.state
            .as_ref()
            .and_then(|s| s.path.as_deref())
            .or(self.lock.as_deref())
            .unwrap_or(DEFAULT_LOCK)
    }

    /// The fallback chain of a locale, the locale itself first; stops at a cycle.
    pub fn chain(&self, locale: &str) -> Vec<String> {
        let mut chain = vec![locale.to_owned()];
        let mut current = locale;
        while let Some(next) = self.locales.fallback.get(current) {
            if chain.iter().any(|l| l == next) {
                break;
            }
            chain.push(next.clone());
            current = next;
        }
        chain
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::from_yaml;

    #[test]
    fn defaults_apply_to_missing_keys() {
        let c: Config = from_yaml("quota: {per_hour: 1}\n").unwrap();
        assert_eq!(c.quota.per_hour, 1);
        assert_eq!(c.quota.per_day, 3);
        assert_eq!(c.quota.timezone, "Asia/Shanghai");
        assert_eq!(c.api.data_center, "cn");
        assert_eq!(c.lock_path(), "pushform.lock");
    }

    #[test]
    fn no_file_and_an_empty_file_mean_the_same() {
        let empty: Config = from_yaml("{}\n").unwrap();
        let none = Config::default();
        assert_eq!(none.lock_path(), empty.lock_path());
        assert_eq!(none.lock_path(), "pushform.lock");
        assert_eq!(none.quota.per_day, empty.quota.per_day);
        assert_eq!(none.api.timeout_secs, 10);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = from_yaml::<Config>("quota: {per_hours: 1}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("per_hours"), "{err}");
    }

    #[test]
    fn fallback_chain_stops_at_cycles() {
        let c: Config =
            from_yaml("locales: {fallback: {en-GB: en, en: en-GB, zh-HK: zh-TW}}\n").unwrap();
        assert_eq!(c.chain("en-GB"), ["en-GB", "en"]);
        assert_eq!(c.chain("zh-HK"), ["zh-HK", "zh-TW"]);
        assert_eq!(c.chain("fr"), ["fr"]);
    }
}
