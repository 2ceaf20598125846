//! `pushform.yaml`, the optional project config (docs/contract.md §3). Every key is optional and unknown
//! keys are errors, so a typo such as `per_hours` cannot silently fall back to a default.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::body::PushBody;
use crate::finding::Finding;
use crate::node::{Kind, Node, from_yaml, plain_words};
use crate::window::{self, WindowFile, WindowSpec};

pub(crate) const FILE_NAME: &str = "pushform.yaml";

/// Why [`Config::for_environment`] has no config for an environment; each names it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnvironmentError {
    #[error(
        "--env {name}: {file} declares no `environments`; drop --env (and PUSHFORM_ENV) or \
         declare it",
        file = FILE_NAME
    )]
    NoneDeclared { name: String },
    #[error("--env {name}: {file} has no environment `{name}`; it declares {declared}", file = FILE_NAME)]
    Undeclared { name: String, declared: String },
    /// The environment merged over the top level is not a valid config.
    #[error("{file}: environment `{name}`: {problem}", file = FILE_NAME)]
    Invalid { name: String, problem: String },
}

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    pub(crate) api: Api,
    pub(crate) quota: QuotaConfig,
    pub(crate) locales: Locales,
    pub(crate) defaults: Defaults,
    pub(crate) schedule: Schedule,
    /// Path of the lockfile, relative to the project root (the older spelling of `state.path`).
    pub(crate) lock: Option<String>,
    /// Where the state (the record of every send) is kept.
    pub(crate) state: Option<StateConfig>,
    /// Default recipients (user ids) of `pushform send-test`.
    pub(crate) test_to: Vec<String>,
    /// Named environments (e.g. `staging`, `production`), each deep-merged over the settings
    /// above. With any declared, the commands that send or read the state need `--env NAME`.
    pub(crate) environments: IndexMap<String, Environment>,
    /// The file as parsed, to merge an environment over (not a key of the file).
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) tree: Option<Node>,
    /// The environment this config was resolved for (not a key of the file).
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) selected: Option<Selected>,
}

/// One entry of `environments:`. Each section is deep-merged over the top-level one of the
/// same name; `test_to` replaces the top-level list.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Environment {
    #[schemars(with = "Option<Api>")]
    pub(crate) api: Option<Node>,
    #[schemars(with = "Option<QuotaConfig>")]
    pub(crate) quota: Option<Node>,
    #[schemars(with = "Option<StateConfig>")]
    pub(crate) state: Option<Node>,
    #[schemars(with = "Option<Defaults>")]
    pub(crate) defaults: Option<Node>,
    /// Default recipients (user ids) of `pushform send-test` in this environment.
    pub(crate) test_to: Option<Vec<String>>,
    /// Another environment whose state must hold a `sent` test send of a unit's content
    /// before the unit may go out here (a promotion gate).
    pub(crate) require_test_in: Option<String>,
}

/// The environment a [`Config`] was resolved for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selected {
    pub(crate) name: String,
    pub(crate) require_test_in: Option<String>,
}

/// The lockfile path when neither `lock` nor `state.path` is set.
pub(crate) const DEFAULT_LOCK: &str = "pushform.lock";

/// `state:`: the backend holding the record of every send.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct StateConfig {
    /// `file` (default): a lockfile on disk; `git`: a lockfile on a branch of a git remote;
    /// `postgres`: one history in a PostgreSQL database, shared by several repositories.
    pub(crate) backend: StateBackend,
    /// file: the lockfile, relative to the project root (default pushform.lock).
    pub(crate) path: Option<String>,
    /// git: the remote holding the state branch (a remote name or a URL; default origin).
    pub(crate) remote: Option<String>,
    /// git: the branch holding only pushform.lock (default pushform-state).
    pub(crate) branch: Option<String>,
    /// postgres: NAME of the environment variable holding the connection string (default
    /// PUSHFORM_DATABASE_URL).
    pub(crate) url_env: Option<String>,
    /// postgres: the shared history; every repository sending with this App Key uses the same one.
    pub(crate) scope: Option<String>,
    /// postgres: this repository's name in the scope (default: the project folder's name).
    pub(crate) project: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum StateBackend {
    #[default]
    File,
    Git,
    Postgres,
}

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Api {
    /// cn | sg | sg-b | na | sa
    pub(crate) data_center: String,
    /// Explicit base URLs, primary first; they override `data_center`.
    pub(crate) endpoints: Vec<String>,
    pub(crate) timeout_secs: u64,
    /// Name of the environment variable holding the App Key.
    pub(crate) app_key_env: String,
    /// Name of the environment variable holding the App Secret.
    pub(crate) app_secret_env: String,
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
pub(crate) struct QuotaConfig {
    /// Sends allowed in any 60-minute window.
    pub(crate) per_hour: u32,
    /// Sends allowed per natural day in `timezone`.
    pub(crate) per_day: u32,
    /// IANA time zone of the provider's natural day.
    pub(crate) timezone: String,
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
pub(crate) struct Locales {
    /// The locale (`t`, `locale`) of campaigns that declare no `locales`.
    pub(crate) default: Option<String>,
    /// Explicit fallback chains, e.g. `zh-HK: zh-TW`. Never an implicit fall to another language.
    pub(crate) fallback: IndexMap<String, String>,
}

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Defaults {
    /// Deep-merged under every campaign's `push`.
    #[schemars(with = "Option<PushBody>")]
    pub(crate) push: Option<Node>,
}

#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Schedule {
    /// Hours in which pushes may go out, e.g. `{from: "09:00", to: "21:00", timezone:
    /// Asia/Shanghai}`; a campaign's or locale's `send_window` replaces it. None: any time.
    pub(crate) window: Option<WindowFile>,
}

impl Schedule {
    /// The project's window, if it is written and valid (`findings` reports it otherwise).
    pub(crate) fn window_spec(&self) -> Option<WindowSpec> {
        self.window
            .as_ref()
            .and_then(|w| window::parse(FILE_NAME, "schedule.window", w, &mut Vec::new()))
    }

    /// What is wrong with `schedule`, with line and field.
    pub(crate) fn findings(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        if let Some(w) = &self.window {
            window::parse(FILE_NAME, "schedule.window", w, &mut findings);
        }
        findings
    }
}

impl Config {
    /// `staging, production`: the declared environments, for messages.
    pub(crate) fn environment_names(&self) -> String {
        let names: Vec<&str> = self.environments.keys().map(String::as_str).collect();
        names.join(", ")
    }

    /// This config with environment `name` deep-merged over it: what every command of that
    /// environment reads. The error names the environment and the field.
    pub(crate) fn for_environment(&self, name: &str) -> Result<Config, EnvironmentError> {
        let Some(env) = self.environments.get(name) else {
            return Err(if self.environments.is_empty() {
                EnvironmentError::NoneDeclared {
                    name: name.to_owned(),
                }
            } else {
                EnvironmentError::Undeclared {
                    name: name.to_owned(),
                    declared: self.environment_names(),
                }
            });
        };
        let tree = self.tree.clone().unwrap_or_else(Node::empty_map);
        let without = |node: Option<&Node>, drop: &[&str]| -> Node {
            match node.map(|n| &n.kind) {
                Some(Kind::Map(entries)) => Node {
                    kind: Kind::Map(
                        entries
                            .iter()
                            .filter(|e| !drop.contains(&e.key.as_str()))
                            .cloned()
                            .collect(),
                    ),
                    origin: node.map(|n| n.origin.clone()).unwrap_or_default(),
                },
                _ => Node::empty_map(),
            }
        };
        let base = without(Some(&tree), &["environments"]);
        let over = without(
            tree.get("environments").and_then(|e| e.get(name)),
            &["test_to", "require_test_in"],
        );
        let merged = Node::merge_over(&base, &over);
        // JSON is YAML: the merged tree goes through the same typed parse as the file.
        let text = serde_json::to_string(&merged.to_json()).unwrap_or_default();
        let mut config: Config = from_yaml(&text).map_err(|e| EnvironmentError::Invalid {
            name: name.to_owned(),
            problem: plain_words(&e.to_string(), None),
        })?;
        // Keep the lines of `defaults.push` for findings about it.
        config.defaults.push = merged.get("defaults").and_then(|d| d.get("push")).cloned();
        config.environments.clone_from(&self.environments);
        config.test_to = env.test_to.clone().unwrap_or_else(|| self.test_to.clone());
        config.tree.clone_from(&self.tree);
        config.selected = Some(Selected {
            name: name.to_owned(),
            require_test_in: env.require_test_in.clone(),
        });
        Ok(config)
    }

    /// Where this config keeps its state, as a value two environments must never share: the
    /// file backend's path (lexically normalised) or the git backend's remote and branch.
    pub(crate) fn state_identity(&self) -> String {
        let state = self.state.clone().unwrap_or_default();
        match state.backend {
            StateBackend::File => {
                let path: std::path::PathBuf = std::path::Path::new(self.lock_path())
                    .components()
                    .filter(|c| !matches!(c, std::path::Component::CurDir))
                    .collect();
                format!("the lockfile {}", path.display())
            }
            StateBackend::Git => format!(
                "branch {} of git remote {}",
                state.branch.as_deref().unwrap_or("pushform-state"),
                state.remote.as_deref().unwrap_or("origin")
            ),
            // The same scope behind the same variable is one history; a scope is the App Key's,
            // so two environments (two App Keys) never share one.
            StateBackend::Postgres => format!(
                "postgres scope {} of ${}",
                state.scope.as_deref().unwrap_or(""),
                state
                    .url_env
                    .as_deref()
                    .unwrap_or(crate::state::postgres::DEFAULT_URL_ENV)
            ),
        }
    }

    /// What is wrong with `environments`: an environment that does not merge into a valid
    /// config, a `require_test_in` naming no other environment, two environments on one state.
    pub(crate) fn environment_findings(&self) -> Vec<Finding> {
        let mut findings = Vec::new();
        let tree = self.tree.clone().unwrap_or_else(Node::empty_map);
        let mut states: Vec<(String, &str)> = Vec::new();
        for (name, env) in &self.environments {
            let field = format!("environments.{name}");
            let origin = tree.locate(&field);
            match self.for_environment(name) {
                Ok(config) => {
                    let identity = config.state_identity();
                    if let Some((_, other)) = states.iter().find(|(id, _)| *id == identity) {
                        findings.push(
                            Finding::error(format!(
                                "environments `{other}` and `{name}` share one state \
                                 ({identity}): each environment needs its own `state`, or a \
                                 send in one would count as sent in the other"
                            ))
                            .at(&origin)
                            .field(format!("{field}.state")),
                        );
                    }
                    states.push((identity, name.as_str()));
                }
                Err(err) => {
                    findings.push(
                        Finding::error(err.to_string())
                            .at(&origin)
                            .field(field.clone()),
                    );
                }
            }
            if let Some(gate) = &env.require_test_in {
                if gate == name {
                    findings.push(
                        Finding::error(format!(
                            "`{name}` cannot require a test send in itself: name another environment"
                        ))
                        .at(&tree.locate(&format!("{field}.require_test_in")))
                        .field(format!("{field}.require_test_in")),
                    );
                } else if !self.environments.contains_key(gate) {
                    findings.push(
                        Finding::error(format!(
                            "require_test_in `{gate}` is not an environment; {FILE_NAME} declares {}",
                            self.environment_names()
                        ))
                        .at(&tree.locate(&format!("{field}.require_test_in")))
                        .field(format!("{field}.require_test_in")),
                    );
                }
            }
        }
        findings
    }

    /// The file backend's lockfile path as written (`state.path`, else `lock`, else the default).
    pub(crate) fn lock_path(&self) -> &str {
        self.state
            .as_ref()
            .and_then(|s| s.path.as_deref())
            .or(self.lock.as_deref())
            .unwrap_or(DEFAULT_LOCK)
    }

    /// The fallback chain of a locale, the locale itself first; stops at a cycle.
    pub(crate) fn chain(&self, locale: &str) -> Vec<String> {
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

    /// A config as `Project::read` makes it: typed, with its tree for environment merges.
    fn with_tree(text: &str) -> Config {
        let mut c: Config = from_yaml(text).unwrap();
        let mut tree: Node = from_yaml(text).unwrap();
        tree.set_file(&std::sync::Arc::from(FILE_NAME));
        c.tree = Some(tree);
        c
    }

    #[test]
    fn an_environment_is_deep_merged_over_the_top_level() {
        let c = with_tree(
            "api: { timeout_secs: 7, app_key_env: TOP_KEY }\nquota: { per_day: 5 }\n\
             defaults: { push: { platform: [ios], fromuserid: bot } }\ntest_to: [top]\n\
             environments:\n  staging:\n    api: { app_key_env: STAGING_KEY }\n    \
             defaults: { push: { fromuserid: qa-bot } }\n    state: { path: s.lock }\n    \
             test_to: [qa-1]\n  production:\n    require_test_in: staging\n",
        );
        let staging = c.for_environment("staging").unwrap();
        assert_eq!(staging.api.app_key_env, "STAGING_KEY");
        assert_eq!(
            staging.api.timeout_secs, 7,
            "a sibling key of the top level is kept"
        );
        assert_eq!(staging.quota.per_day, 5);
        assert_eq!(staging.lock_path(), "s.lock");
        assert_eq!(staging.test_to, ["qa-1"]);
        let push = staging.defaults.push.as_ref().unwrap().to_json();
        assert_eq!(push["fromuserid"], "qa-bot");
        assert_eq!(push["platform"], serde_json::json!(["ios"]));
        let production = c.for_environment("production").unwrap();
        assert_eq!(production.api.app_key_env, "TOP_KEY");
        assert_eq!(production.test_to, ["top"]);
        assert_eq!(
            production.selected.unwrap().require_test_in.as_deref(),
            Some("staging")
        );
        let err = c.for_environment("prod").unwrap_err().to_string();
        assert!(err.contains("it declares staging, production"), "{err}");
        // Both fall back to the top-level lockfile for production only: no sharing here.
        assert!(c.environment_findings().is_empty());
    }

    #[test]
    fn environment_findings_name_the_shared_state_and_a_bad_gate() {
        let c = with_tree(
            "environments:\n  a:\n    state: { path: ./x/../x/p.lock }\n  \
             b:\n    state: { path: x/../x/p.lock }\n    require_test_in: c\n  \
             d:\n    require_test_in: d\n    quota: { per_hours: 1 }\n",
        );
        let messages: Vec<String> = c
            .environment_findings()
            .iter()
            .map(|f| {
                format!(
                    "{}:{}: {}",
                    f.file.as_deref().unwrap_or("?"),
                    f.line.unwrap_or(0),
                    f.message
                )
            })
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`a` and `b` share one state")),
            "{messages:?}"
        );
        assert!(
            messages.iter().any(|m| m.starts_with("pushform.yaml:")
                && m.contains("require_test_in `c` is not an environment")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("`d` cannot require a test send in itself")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("environment `d`") && m.contains("per_hours")),
            "{messages:?}"
        );
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
