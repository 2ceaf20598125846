//! A campaign repository on disk (DESIGN §1), read once: the config, every campaign file in
//! path order, and the shared string catalogs. Problems in individual files become findings so
//! that one broken campaign does not hide the problems of the others.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::campaign::{self, Campaign, yaml_finding};
use crate::config::{self, Config};
use crate::finding::Finding;
use crate::node::{Node, from_yaml};

pub const CAMPAIGNS_DIR: &str = "campaigns";
pub const TEMPLATES_DIR: &str = "templates";
pub const CATALOG_DIR: &str = "templates/locales";

#[derive(Debug)]
pub struct Project {
    pub root: PathBuf,
    pub config: Config,
    /// Campaigns that parsed, in file-path order.
    pub campaigns: Vec<Campaign>,
    /// `templates/locales/<L>.yaml`, by locale.
    pub catalogs: BTreeMap<String, Node>,
    /// Everything that was wrong while reading (rendering and validation add more).
    pub findings: Vec<Finding>,
    /// `pushform.yaml` exists but did not parse (its findings say why).
    pub config_broken: bool,
    /// Locales whose `templates/locales/<L>.yaml` exists but did not parse or is not a mapping.
    pub broken_catalogs: BTreeSet<String>,
}

impl Project {
    /// Reads the repository at `root` for a command that needs its config but renders nothing
    /// (`quota`, `state`): like [`Project::read`], but a `pushform.yaml` that does not parse is
    /// an error here, since going on with the default config would read the wrong lockfile or
    /// count the quota in the wrong time zone.
    pub fn load(root: &Path) -> Result<Project> {
        let project = Project::read(root)?;
        if project.config_broken {
            let problems: Vec<String> = project
                .findings
                .iter()
                .filter(|f| f.file.as_deref() == Some(config::FILE_NAME))
                .map(|f| match &f.detail {
                    Some(detail) => format!("{f}\n{detail}"),
                    None => f.to_string(),
                })
                .collect();
            bail!("{}", problems.join("\n"));
        }
        Ok(project)
    }

    /// Reads the repository at `root`. Fails only when it is not a pushform repository at all or
    /// a file cannot be read; anything wrong inside a file is a finding.
    pub fn read(root: &Path) -> Result<Project> {
        let mut findings = Vec::new();
        let mut config_broken = false;
        let mut broken_catalogs = BTreeSet::new();
        let config_path = root.join(config::FILE_NAME);
        let config = if config_path.is_file() {
            let source = read(&config_path)?;
            match from_yaml::<Config>(&source) {
                Ok(mut config) => {
                    if let Some(push) = &mut config.defaults.push {
                        push.set_file(&Arc::from(config::FILE_NAME));
                    }
                    config
                }
                Err(err) => {
                    findings.push(yaml_finding(config::FILE_NAME, &source, &err));
                    config_broken = true;
                    Config::default()
                }
            }
        } else {
            Config::default()
        };

        let campaigns_dir = root.join(CAMPAIGNS_DIR);
        if !campaigns_dir.is_dir() {
            if config_path.is_file() {
                bail!(
                    "{} has no `{CAMPAIGNS_DIR}/` folder: campaigns are read from {CAMPAIGNS_DIR}/**/*.yaml",
                    root.display()
                );
            }
            bail!(
                "{} is not a pushform repository: it has neither {} nor a `{CAMPAIGNS_DIR}/` folder \
                 (run `pushform init` to start one, or pass -C DIR)",
                root.display(),
                config::FILE_NAME
            );
        }
        let mut files = Vec::new();
        collect_yaml(&campaigns_dir, &mut files)?;
        let mut relative: Vec<(String, PathBuf)> = files
            .into_iter()
            .map(|path| (relative_name(root, &path), path))
            .collect();
        relative.sort();

        // Reading and parsing dominate load time on a large repository and every file is
        // independent: parse in as many threads as there are cores, then join in path order.
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let chunk = relative.len().div_ceil(threads).max(1);
        let parsed: Vec<Result<(Vec<Campaign>, Vec<Finding>)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = relative
                .chunks(chunk)
                .map(|files| scope.spawn(move || parse_campaigns(files)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("a parser thread panicked")))
                })
                .collect()
        });
        let mut campaigns = Vec::with_capacity(relative.len());
        for part in parsed {
            let (mut c, mut f) = part?;
            campaigns.append(&mut c);
            findings.append(&mut f);
        }

        let mut catalogs = BTreeMap::new();
        let catalog_dir = root.join(CATALOG_DIR);
        if catalog_dir.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(&catalog_dir)
                .with_context(|| format!("cannot read {}", catalog_dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| is_yaml(p))
                .collect();
            entries.sort();
            for path in entries {
                let Some(locale) = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned)
                else {
                    continue;
                };
                let name = relative_name(root, &path);
                let source = read(&path)?;
                match from_yaml::<Node>(&source) {
                    Ok(mut node) if node.as_map().is_some() => {
                        node.set_file(&Arc::from(name.as_str()));
                        catalogs.insert(locale, node);
                    }
                    Ok(node) => {
                        findings.push(
                            Finding::error(format!(
                                "a string catalog must be a mapping of keys to strings, not {}",
                                node.type_name()
                            ))
                            .in_file(name),
                        );
                        broken_catalogs.insert(locale);
                    }
                    Err(err) => {
                        findings.push(yaml_finding(&name, &source, &err));
                        broken_catalogs.insert(locale);
                    }
                }
            }
        }

        Ok(Project {
            root: root.to_path_buf(),
            config,
            campaigns,
            catalogs,
            findings,
            config_broken,
            broken_catalogs,
        })
    }

    /// Whether an input every unit depends on (the config, a catalog) failed to parse. Rendering
    /// then only reports its consequences (platforms missing that the defaults set, translations
    /// missing that the catalog has) and buries the one real error among them: commands report
    /// the reading errors and stop instead.
    pub fn inputs_broken(&self) -> bool {
        self.config_broken || !self.broken_catalogs.is_empty()
    }

    pub fn templates_dir(&self) -> PathBuf {
        self.root.join(TEMPLATES_DIR)
    }
}

fn parse_campaigns(files: &[(String, PathBuf)]) -> Result<(Vec<Campaign>, Vec<Finding>)> {
    let mut campaigns = Vec::with_capacity(files.len());
    let mut findings = Vec::new();
    for (name, path) in files {
        let source = read(path)?;
        let name: Arc<str> = Arc::from(name.as_str());
        if let Some(campaign) = campaign::parse(&name, &source, &mut findings) {
            campaigns.push(campaign);
        }
    }
    Ok((campaigns, findings))
}

fn read(path: &Path) -> Result<String> {
    fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

fn is_yaml(path: &Path) -> bool {
    path.is_file()
        && matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        )
        && !path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'))
}

/// Every `.yaml`/`.yml` below `dir`, skipping hidden files and folders (editor swap files, `.git`).
fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", dir.display()))?;
        let path = entry.path();
        let hidden = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_yaml(&path, out)?;
        } else if is_yaml(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// `campaigns/sub/file.yaml`, with `/` on every platform so keys and output are the same everywhere.
fn relative_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
