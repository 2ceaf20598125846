//! `pushform init [DIR]`: a starter campaign repository that validates and plans as written.
//!
//! The starter files are real files under `src/commands/init/` (and the CI workflows are the
//! very files of `examples/github-actions/`), embedded at build time, so they can be read,
//! linted and tested as what they are. The campaign schema is generated from the parser's types.
//!
//! Init never overwrites: if any file it would write already exists it lists them all and
//! writes nothing. Files are created with `create_new`, and if a write fails half-way the
//! files and folders made so far are removed again, so a run leaves either everything or nothing.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::cli::{GlobalArgs, InitArgs};
use crate::exit::Exit;
use crate::printer::{Printer, Style};

/// The starter files, by path relative to DIR, in the order they are listed to the user.
fn starter_files() -> Vec<(&'static str, String)> {
    let mut schema = serde_json::to_string_pretty(&super::schema::campaign_schema())
        .expect("a JSON value always serialises");
    schema.push('\n');
    vec![
        (
            "pushform.yaml",
            include_str!("init/pushform.yaml").to_owned(),
        ),
        (
            "campaigns/welcome.yaml",
            include_str!("init/campaigns/welcome.yaml").to_owned(),
        ),
        ("campaign.schema.json", schema),
        (
            "templates/macros.j2",
            include_str!("init/templates/macros.j2").to_owned(),
        ),
        (
            "templates/locales/en.yaml",
            include_str!("init/templates/locales/en.yaml").to_owned(),
        ),
        (
            "templates/locales/zh-CN.yaml",
            include_str!("init/templates/locales/zh-CN.yaml").to_owned(),
        ),
        (".gitignore", include_str!("init/gitignore").to_owned()),
        (
            ".github/workflows/pushform-plan.yml",
            include_str!("../../examples/github-actions/pushform-plan.yml").to_owned(),
        ),
        (
            ".github/workflows/pushform-apply.yml",
            include_str!("../../examples/github-actions/pushform-apply.yml").to_owned(),
        ),
    ]
}

pub(super) fn run(global: &GlobalArgs, args: &InitArgs, printer: &Printer) -> Result<Exit> {
    let dir = target_dir(&global.dir, args.directory.as_deref());
    let files = starter_files();

    let existing: Vec<&str> = files
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| fs::symlink_metadata(dir.join(name)).is_ok())
        .collect();
    if !existing.is_empty() {
        let list: String = existing.iter().flat_map(|n| ["\n  ", n]).collect();
        bail!(
            "{} already has {} {} that init would write:{list}\nNothing was written. \
             Move {} away, or run `pushform init` in another folder.",
            dir.display(),
            existing.len(),
            if existing.len() == 1 { "file" } else { "files" },
            if existing.len() == 1 { "it" } else { "them" },
        );
    }

    let mut written = Written::default();
    for (name, contents) in &files {
        if let Err(err) = written.create(&dir, name, contents.as_bytes()) {
            written.undo();
            return Err(err.context("nothing was written (the files made so far were removed)"));
        }
    }

    let mut out = format!(
        "{} a pushform repository in {}:\n",
        printer.out_style(Style::Green, "Created"),
        dir.display()
    );
    for (name, _) in &files {
        out.push_str(&format!("  {name}\n"));
    }
    printer.out(&out);
    printer.info(&init_state(&dir));
    printer.info(&next_steps(&dir, &global.dir, args.directory.as_deref()));
    Ok(Exit::Ok)
}

/// The state branches of the starter's environments (production's first).
const STATE_BRANCHES: [(&str, &str); 2] = [
    ("production", "pushform-state"),
    ("staging", "pushform-state-staging"),
];

/// A new repository gets an empty state at once when it can: inside a git repository whose
/// remote `origin` is reachable, the state branch of each environment is created (unless it
/// exists: then it is the team's history and is kept). Otherwise the message says how to create
/// them later.
fn init_state(dir: &Path) -> String {
    use crate::state::{Holder, Lock, Store, git::GitStore};
    let later = "The state branches are not created yet: once the repository has its remote \
                 `origin`, run `pushform state init --env staging` and `pushform state init \
                 --env production` (apply refuses to send until then).\n";
    let inside_git = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--git-dir"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !inside_git {
        return later.to_owned();
    }
    let mut said = String::new();
    for (env, branch) in STATE_BRANCHES {
        let store = GitStore::new(dir.to_path_buf(), "origin".to_owned(), branch.to_owned());
        let created = store
            .open(&Holder::current("pushform init"), None)
            .and_then(|mut session| {
                if session.current().is_some() {
                    return Ok(false);
                }
                session
                    .create(Lock::new(), "pushform: state init (empty state)")
                    .map(|()| true)
            });
        match created {
            Ok(true) => said.push_str(&format!(
                "Created an empty state in {} ({env}).\n",
                store.describe()
            )),
            Ok(false) => said.push_str(&format!(
                "Kept the existing state in {} ({env}).\n",
                store.describe()
            )),
            Err(err) => return format!("{said}{err:#}\n{later}"),
        }
    }
    said
}

/// DIR relative to `-C`, and `-C` alone when DIR is not given.
fn target_dir(base: &Path, dir: Option<&Path>) -> PathBuf {
    match dir {
        None => base.to_path_buf(),
        Some(dir) if base == Path::new(".") => dir.to_path_buf(),
        Some(dir) => base.join(dir),
    }
}

fn next_steps(dir: &Path, base: &Path, arg: Option<&Path>) -> String {
    let cd = if arg.is_none() && base == Path::new(".") {
        String::new()
    } else {
        format!("  cd {}\n", dir.display())
    };
    format!(
        "\nNext steps:\n{cd}\
         \x20 pushform validate     check the starter campaign, its templates and translations\n\
         \x20 pushform plan --env staging\n\
         \x20                       see what apply would send in staging, to whom, and when\n\
         \x20 pushform send-test welcome-2-0/en --env staging\n\
         \x20                       see it on a test device (production sends only what was\n\
         \x20                       test-sent in staging)\n\
         \x20 Edit campaigns/welcome.yaml (your app's packageName, tags and strings), then commit:\n\
         \x20   git init -b main && git add . && git commit -m \"Start pushform\"\n\
         \x20 and, once the remote `origin` exists: pushform state init --env staging (and\n\
         \x20 --env production)\n\
         \x20 The workflows in .github/workflows plan every pull request and apply main hourly.\n\
         \x20 Add the secrets RONGCLOUD_APP_KEY and RONGCLOUD_APP_SECRET to the GitHub environment\n\
         \x20 `production`, RONGCLOUD_STAGING_APP_KEY and _SECRET to `staging`, and run the\n\
         \x20 \"pushform apply\" workflow once with \"rehearsal\" ticked before the first real apply.\n"
    )
}

/// What this run created, so that a failure can take it back.
#[derive(Default)]
struct Written {
    files: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl Written {
    fn create(&mut self, root: &Path, name: &str, contents: &[u8]) -> Result<()> {
        let path = root.join(name);
        if let Some(parent) = path.parent() {
            self.create_dirs(parent)
                .with_context(|| format!("cannot create the folder {}", parent.display()))?;
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        self.files.push(path.clone());
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Like `create_dir_all`, remembering each folder it made, outermost first.
    fn create_dirs(&mut self, dir: &Path) -> io::Result<()> {
        if dir.as_os_str().is_empty() || dir.is_dir() {
            return Ok(());
        }
        if let Some(parent) = dir.parent() {
            self.create_dirs(parent)?;
        }
        match fs::create_dir(dir) {
            Ok(()) => {
                self.dirs.push(dir.to_path_buf());
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(err) => Err(err),
        }
    }

    /// Best effort: a folder is removed only if it is empty again.
    fn undo(&mut self) {
        for file in self.files.drain(..).rev() {
            let _ = fs::remove_file(file);
        }
        for dir in self.dirs.drain(..).rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_is_relative_to_dash_c() {
        let dot = Path::new(".");
        assert_eq!(target_dir(dot, None), PathBuf::from("."));
        assert_eq!(target_dir(dot, Some(Path::new("x"))), PathBuf::from("x"));
        assert_eq!(
            target_dir(Path::new("a"), Some(Path::new("x"))),
            PathBuf::from("a/x")
        );
        assert_eq!(target_dir(Path::new("a"), None), PathBuf::from("a"));
    }

    #[test]
    fn a_failed_write_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("repo");
        let mut written = Written::default();
        written.create(&root, "a/b/one.txt", b"1").unwrap();
        // A file where a folder must go: the second create fails.
        written.create(&root, "c", b"file").unwrap();
        assert!(written.create(&root, "c/two.txt", b"2").is_err());
        written.undo();
        assert!(
            !root.exists(),
            "left behind: {:?}",
            fs::read_dir(tmp.path())
        );
    }

    #[test]
    fn the_campaign_points_at_the_schema() {
        let files = starter_files();
        let (_, campaign) = files
            .iter()
            .find(|(name, _)| *name == "campaigns/welcome.yaml")
            .unwrap();
        assert_eq!(
            campaign.lines().next(),
            Some("# yaml-language-server: $schema=../campaign.schema.json")
        );
        assert!(
            files
                .iter()
                .any(|(name, _)| *name == "campaign.schema.json")
        );
    }
}
