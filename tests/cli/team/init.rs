//! `pushform init`: a starter repository that validates and plans as written, and a second run
//! that refuses to touch anything.

use std::fs;

use predicates::str::contains;

use super::{NOW, init_copy, snapshot_tree};
use crate::support::{Pushform, sample_repo};

const STARTER: [&str; 9] = [
    ".github/workflows/pushform-apply.yml",
    ".github/workflows/pushform-plan.yml",
    ".gitignore",
    "campaign.schema.json",
    "campaigns/welcome.yaml",
    "pushform.yaml",
    "templates/locales/en.yaml",
    "templates/locales/zh-CN.yaml",
    "templates/macros.j2",
];

/// `git` for the test's own setup, with a fixed identity.
fn git(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

#[test]
fn init_then_validate_and_plan_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    // A new repository with its remote: init creates the empty state on the state branch.
    git(tmp.path(), &["init", "-q", "--bare", "remote.git"]);
    let repo = tmp.path().join("new/repo");
    fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["remote", "add", "origin", "../../remote.git"]);
    Pushform::new(tmp.path())
        .args(&["init", "new/repo"])
        .assert()
        .success()
        .stdout(contains("Created a pushform repository in new/repo:"))
        .stdout(contains("  campaigns/welcome.yaml\n"))
        .stderr(contains(
            "Created an empty state in branch pushform-state of the git remote origin (production).",
        ))
        .stderr(contains(
            "Created an empty state in branch pushform-state-staging of the git remote origin (staging).",
        ))
        .stderr(contains("Next steps:"))
        .stderr(contains("cd new/repo"));
    let mut names: Vec<String> = snapshot_tree(&repo).into_iter().map(|(n, _)| n).collect();
    names.retain(|n| !n.starts_with(".git/"));
    assert_eq!(names, STARTER);

    Pushform::new(&repo)
        .arg("validate")
        .assert()
        .code(0)
        .stdout(
            "Valid: 1 campaign rendered to 2 pushes in each of 2 environments (staging, \
             production).\n",
        )
        .stderr("");
    // The starter has two environments: plan needs one; staging sends, production waits for
    // a test send in staging.
    Pushform::new(&repo)
        .arg("plan")
        .env("PUSHFORM_NOW", NOW)
        .assert()
        .code(1)
        .stderr(contains("declares environments (staging, production)"));
    Pushform::new(&repo)
        .args(&["plan", "--env", "staging"])
        .env("PUSHFORM_NOW", NOW)
        .assert()
        .code(0)
        .stdout(contains("+ welcome-2-0/en"))
        .stdout(contains("+ welcome-2-0/zh-CN"))
        .stdout(contains(
            "Plan: 2 to send now, 0 scheduled, 0 expired, 0 errors.",
        ))
        .stderr("");
    Pushform::new(&repo)
        .args(&["plan", "--env", "production"])
        .env("PUSHFORM_NOW", NOW)
        .assert()
        .code(0)
        .stdout(contains("t welcome-2-0/en"))
        .stdout(contains(
            "Plan: 0 to send now, 0 scheduled, 0 expired, 2 untested, 0 errors.",
        ));
}

#[test]
fn init_without_a_remote_says_how_to_create_the_state_later() {
    let tmp = tempfile::tempdir().unwrap();
    Pushform::new(tmp.path())
        .arg("init")
        .assert()
        .success()
        .stderr(contains("The state branches are not created yet"))
        .stderr(contains("pushform state init --env staging"));
    // Before it has a remote, plan says nothing is recorded yet; apply refuses.
    Pushform::new(tmp.path())
        .args(&["plan", "--env", "staging"])
        .env("PUSHFORM_NOW", NOW)
        .assert()
        .code(0)
        .stderr(contains("needs . to be inside a git repository"))
        .stderr(contains(
            "warning: nothing is recorded in branch pushform-state-staging",
        ))
        .stdout(contains("Plan: 2 to send now"));
    Pushform::new(tmp.path())
        .args(&["apply", "--auto-approve", "--env", "production"])
        .env("PUSHFORM_NOW", NOW)
        .env("RONGCLOUD_APP_KEY", "k")
        .env("RONGCLOUD_APP_SECRET", "s")
        .env("PUSHFORM_ENDPOINT", "http://127.0.0.1:9")
        .assert()
        .code(1)
        .stderr(contains("inside a git repository"));
}

#[test]
fn a_second_init_refuses_and_changes_nothing() {
    let repo = init_copy();
    fs::write(repo.path().join("pushform.lock"), "{}\n").unwrap();
    let before = snapshot_tree(repo.path());
    let mut expected = String::from(". already has 9 files that init would write:\n");
    for name in [
        "pushform.yaml",
        "campaigns/welcome.yaml",
        "campaign.schema.json",
        "templates/macros.j2",
        "templates/locales/en.yaml",
        "templates/locales/zh-CN.yaml",
        ".gitignore",
        ".github/workflows/pushform-plan.yml",
        ".github/workflows/pushform-apply.yml",
    ] {
        expected.push_str(&format!("  {name}\n"));
    }
    Pushform::new(repo.path())
        .arg("init")
        .assert()
        .code(1)
        .stdout("")
        .stderr(format!(
            "error: {expected}Nothing was written. Move them away, or run `pushform init` in another folder.\n"
        ));
    assert!(before == snapshot_tree(repo.path()), "init changed files");
}

#[test]
fn one_existing_file_is_enough_to_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(".gitignore"), "target/\n").unwrap();
    Pushform::new(tmp.path())
        .arg("init")
        .assert()
        .code(1)
        .stderr(contains(
            "already has 1 file that init would write:\n  .gitignore\n",
        ))
        .stderr(contains("Move it away"));
    let after = snapshot_tree(tmp.path());
    assert_eq!(after, [(".gitignore".to_owned(), b"target/\n".to_vec())]);
}

#[test]
fn starter_files_have_one_source() {
    let repo = init_copy();
    for name in ["pushform-plan.yml", "pushform-apply.yml"] {
        assert_eq!(
            fs::read(repo.path().join(".github/workflows").join(name)).unwrap(),
            fs::read(sample_repo().join("examples/github-actions").join(name)).unwrap(),
            "{name} differs from examples/github-actions/{name}"
        );
    }
    let schema = Pushform::new(repo.path()).arg("schema").assert().success();
    assert_eq!(
        fs::read(repo.path().join("campaign.schema.json")).unwrap(),
        schema.get_output().stdout,
        "campaign.schema.json differs from `pushform schema`"
    );
    let campaign = fs::read_to_string(repo.path().join("campaigns/welcome.yaml")).unwrap();
    assert_eq!(
        campaign.lines().next(),
        Some("# yaml-language-server: $schema=../campaign.schema.json")
    );
}

#[test]
fn starter_config_writes_out_every_key() {
    let repo = init_copy();
    let config = fs::read_to_string(repo.path().join("pushform.yaml")).unwrap();
    for key in [
        "api:",
        "data_center:",
        "endpoints:",
        "timeout_secs:",
        "app_key_env:",
        "app_secret_env:",
        "quota:",
        "per_hour:",
        "per_day:",
        "timezone:",
        "locales:",
        "default:",
        "fallback:",
        "defaults:",
        "push:",
        "state:",
        "backend:",
        "remote:",
        "branch:",
        "environments:",
        "staging:",
        "production:",
        "test_to:",
        "require_test_in:",
    ] {
        let lines: Vec<&str> = config.lines().collect();
        let index = lines
            .iter()
            .position(|l| l.trim_start().starts_with(key))
            .unwrap_or_else(|| panic!("pushform.yaml has no `{key}`"));
        // Explained on its own line, or by a comment just above it (or above its sibling).
        let commented = lines[index].contains('#')
            || lines[index.saturating_sub(2)..index]
                .iter()
                .any(|l| l.trim_start().starts_with('#'));
        assert!(commented, "`{key}` in pushform.yaml has no comment");
    }
}
