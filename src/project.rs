//! A campaign repository on disk (docs/contract.md §1), read once: the config, every campaign file in
//! path order, and the shared string catalogs. Problems in individual files become findings so
//! that one broken campaign does not hide the problems of the others.
//!
//! A pull request is untrusted input, and its plan runs in CI next to the runner's files and
//! environment. So every file read as repository content goes through `Jail::read`: it must be
//! a regular file, no larger than `MAX_FILE_BYTES`, whose real path (symbolic links resolved)
//! is inside the repository. A link to `/proc/self/environ` or `/etc/passwd`, a device, a FIFO
//! or a directory link that loops is refused by name, before a byte of it is read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::campaign::{self, Campaign, yaml_finding};
use crate::config::{self, Config};
use crate::finding::Finding;
use crate::node::{Node, YamlBudget, from_yaml, with_yaml_budget};

pub(crate) const CAMPAIGNS_DIR: &str = "campaigns";
pub(crate) const TEMPLATES_DIR: &str = "templates";
pub(crate) const CATALOG_DIR: &str = "templates/locales";

/// The largest file pushform reads as repository content (1 MiB). A campaign, a template or a
/// catalog is a few kilobytes; anything larger is a mistake or an attack.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The repository root that every read of repository content is confined to.
#[derive(Clone, Debug)]
pub(crate) struct Jail {
    /// The root as given (for joining and naming).
    root: PathBuf,
    /// The root with every symbolic link resolved (for the containment check).
    real_root: PathBuf,
}

impl Jail {
    pub(crate) fn new(root: &Path) -> Result<Jail> {
        let real_root = fs::canonicalize(root)
            .with_context(|| format!("cannot resolve the repository folder {}", root.display()))?;
        Ok(Jail {
            root: root.to_path_buf(),
            real_root,
        })
    }

    /// `path` as shown in messages: relative to the root, `/`-separated.
    pub(crate) fn name(&self, path: &Path) -> String {
        relative_name(&self.root, path)
    }

    /// The real path of `path` if it is inside the repository; an error naming it otherwise
    /// (a link that leaves the repository, or one that loops or dangles).
    pub(crate) fn resolve(&self, path: &Path) -> Result<PathBuf> {
        let name = self.name(path);
        // A loop of links fails here too (ELOOP), named.
        let real = fs::canonicalize(path).with_context(|| format!("cannot read {name}"))?;
        if !real.starts_with(&self.real_root) {
            bail!(
                "{name} leads outside the repository (a symbolic link); pushform reads only \
                 files inside it, so it was not read"
            );
        }
        Ok(real)
    }

    /// Reads a file of repository content as text, refusing (by name, without reading it) a
    /// path outside the repository, anything but a regular file, and a file over
    /// `MAX_FILE_BYTES`.
    pub(crate) fn read(&self, path: &Path) -> Result<String> {
        let name = self.name(path);
        let real = self.resolve(path)?;
        // Checked before opening: opening a FIFO blocks until a writer comes.
        let meta = fs::metadata(&real).with_context(|| format!("cannot read {name}"))?;
        if !meta.is_file() {
            bail!(
                "{name} is not a regular file (a device, FIFO, socket or folder); pushform reads \
                 only regular files, so it was not read"
            );
        }
        if meta.len() > MAX_FILE_BYTES {
            bail!(
                "{name} is {} bytes; pushform reads files of at most {MAX_FILE_BYTES} bytes (1 MiB)",
                meta.len()
            );
        }
        let file = fs::File::open(&real).with_context(|| format!("cannot read {name}"))?;
        // The checks above were on the path; this one is on what was opened.
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            bail!("{name} is not a regular file; it was not read");
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {name}"))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            bail!("{name} is larger than {MAX_FILE_BYTES} bytes (1 MiB); it was not read");
        }
        String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{name} is not UTF-8 text"))
    }
}

#[derive(Debug)]
pub struct Project {
    pub(crate) root: PathBuf,
    /// Every further read of repository content (templates) goes through it too.
    pub(crate) jail: Jail,
    pub(crate) config: Config,
    /// Campaigns that parsed, in file-path order.
    pub campaigns: Vec<Campaign>,
    /// `templates/locales/<L>.yaml`, by locale.
    pub(crate) catalogs: BTreeMap<String, Node>,
    /// Everything that was wrong while reading (rendering and validation add more).
    pub findings: Vec<Finding>,
    /// `pushform.yaml` exists but did not parse (its findings say why).
    pub(crate) config_broken: bool,
    /// Locales whose `templates/locales/<L>.yaml` exists but did not parse or is not a mapping.
    pub(crate) broken_catalogs: BTreeSet<String>,
}

impl Project {
    /// Reads the repository at `root` for a command that needs its config but renders nothing
    /// (`quota`, `state`): like [`Project::read`], but a `pushform.yaml` that does not parse is
    /// an error here, since going on with the default config would read the wrong lockfile or
    /// count the quota in the wrong time zone.
    pub fn load(root: &Path) -> Result<Project> {
        Project::load_env(root, None)
    }

    /// [`Project::load`] for environment `env` (`--env`): its config is the environment
    /// deep-merged over the top level.
    pub(crate) fn load_env(root: &Path, env: Option<&str>) -> Result<Project> {
        let project = Project::read_env(root, env)?;
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
        Project::read_env(root, None)
    }

    /// [`Project::read`] for environment `env` (`--env`; `None`: the top level as written).
    /// An environment that is not declared is an error naming the declared ones.
    pub(crate) fn read_env(root: &Path, env: Option<&str>) -> Result<Project> {
        let mut findings = Vec::new();
        let mut config_broken = false;
        let mut broken_catalogs = BTreeSet::new();
        let jail = Jail::new(root)?;
        let budget = YamlBudget::per_run();
        let config_path = root.join(config::FILE_NAME);
        let config = if exists(&config_path) {
            let source = jail.read(&config_path)?;
            match with_yaml_budget(&budget, || from_yaml::<Config>(&source)) {
                Ok(mut config) => {
                    if let Some(push) = &mut config.defaults.push {
                        push.set_file(&Arc::from(config::FILE_NAME));
                    }
                    if !config.environments.is_empty() {
                        let mut tree: Option<Node> =
                            with_yaml_budget(&budget, || from_yaml::<Node>(&source)).ok();
                        if let Some(tree) = &mut tree {
                            tree.set_file(&Arc::from(config::FILE_NAME));
                        }
                        config.tree = tree;
                        findings.extend(config.environment_findings());
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
        let config = match env {
            Some(name) if !config_broken => config.for_environment(name)?,
            _ => config,
        };

        let campaigns_dir = root.join(CAMPAIGNS_DIR);
        if !campaigns_dir.is_dir() {
            if exists(&config_path) {
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
        collect_yaml(&jail, &campaigns_dir, &mut Vec::new(), &mut files)?;
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
                .map(|files| {
                    let (jail, budget) = (&jail, &budget);
                    scope.spawn(move || parse_campaigns(jail, budget, files))
                })
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
            jail.resolve(&catalog_dir)?;
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
                let source = jail.read(&path)?;
                match with_yaml_budget(&budget, || from_yaml::<Node>(&source)) {
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
            jail,
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
    pub(crate) fn inputs_broken(&self) -> bool {
        self.config_broken || !self.broken_catalogs.is_empty()
    }

    pub(crate) fn templates_dir(&self) -> PathBuf {
        self.root.join(TEMPLATES_DIR)
    }
}

fn parse_campaigns(
    jail: &Jail,
    budget: &YamlBudget,
    files: &[(String, PathBuf)],
) -> Result<(Vec<Campaign>, Vec<Finding>)> {
    let mut campaigns = Vec::with_capacity(files.len());
    let mut findings = Vec::new();
    for (name, path) in files {
        let source = jail.read(path)?;
        let name: Arc<str> = Arc::from(name.as_str());
        if let Some(campaign) =
            with_yaml_budget(budget, || campaign::parse(&name, &source, &mut findings))
        {
            campaigns.push(campaign);
        }
    }
    Ok((campaigns, findings))
}

/// Whether anything (a file, a link, even a dangling one) is at `path`: a `pushform.yaml` that
/// is a link out of the repository must be refused, not taken as absent.
fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// By name only: whether the file is anything but a regular file is for [`Jail::read`] to
/// refuse, loudly, rather than for the walk to skip silently.
fn is_yaml(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml")
    ) && !path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Every `.yaml`/`.yml` below `dir`, skipping hidden files and folders (editor swap files, `.git`).
/// A folder link is followed only inside the repository and never back into a folder being
/// walked (`ancestors`, real paths), so a link loop is an error instead of an endless walk.
fn collect_yaml(
    jail: &Jail,
    dir: &Path,
    ancestors: &mut Vec<PathBuf>,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    let real = jail.resolve(dir)?;
    if ancestors.contains(&real) {
        bail!(
            "{}: a folder link loops back into a folder that contains it; refusing to walk it",
            jail.name(dir)
        );
    }
    ancestors.push(real);
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", jail.name(dir)))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", jail.name(dir)))?;
        let hidden = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with('.'));
        if !hidden {
            paths.push(entry.path());
        }
    }
    for path in paths {
        let is_link = fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
        if is_link {
            // Resolving first refuses links that leave the repository or loop, whatever
            // their name, before their target is even looked at.
            let target = jail.resolve(&path)?;
            if target.is_dir() {
                collect_yaml(jail, &path, ancestors, out)?;
            } else if is_yaml(&path) {
                out.push(path);
            }
        } else if path.is_dir() {
            collect_yaml(jail, &path, ancestors, out)?;
        } else if is_yaml(&path) {
            out.push(path);
        }
    }
    ancestors.pop();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jail_reads_regular_files_inside_up_to_the_size_cap() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let jail = Jail::new(dir.path()).unwrap();
        let at_cap = dir.path().join("at-cap.yaml");
        fs::write(&at_cap, "x".repeat(MAX_FILE_BYTES as usize)).unwrap();
        assert_eq!(jail.read(&at_cap).unwrap().len(), MAX_FILE_BYTES as usize);
        let over = dir.path().join("over.yaml");
        fs::write(&over, "x".repeat(MAX_FILE_BYTES as usize + 1)).unwrap();
        let err = format!("{:#}", jail.read(&over).unwrap_err());
        assert_eq!(
            err,
            "over.yaml is 1048577 bytes; pushform reads files of at most 1048576 bytes (1 MiB)"
        );

        fs::write(outside.path().join("secret"), "s3cret").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("out")).unwrap();
        let err = format!("{:#}", jail.read(&dir.path().join("out")).unwrap_err());
        assert!(err.starts_with("out leads outside the repository"), "{err}");
        assert!(!err.contains("s3cret") && !err.contains(&*outside.path().to_string_lossy()));

        std::os::unix::fs::symlink("at-cap.yaml", dir.path().join("in")).unwrap();
        assert!(
            jail.read(&dir.path().join("in")).is_ok(),
            "a link inside is fine"
        );

        fs::create_dir(dir.path().join("folder")).unwrap();
        let err = format!("{:#}", jail.read(&dir.path().join("folder")).unwrap_err());
        assert!(err.contains("folder is not a regular file"), "{err}");
        let err = format!("{:#}", jail.read(Path::new("/dev/zero")).unwrap_err());
        assert!(err.contains("leads outside the repository"), "{err}");
    }
}
