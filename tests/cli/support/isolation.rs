//! The harness's own promise: nothing of the test process's environment reaches the binary but
//! `PATH`, `TMPDIR` and the coverage profile path, and what a test sets itself always does.
//! (`apply/crash.rs` proves it end to end: a crash point in the test process never fires.)

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

use super::command::{PASSED_THROUGH, Pushform};
use super::sample_repo;

/// What the built command does to each variable: `None` removes it, `Some` sets it.
fn env_of(cmd: &Pushform) -> BTreeMap<OsString, Option<OsString>> {
    cmd.command()
        .get_envs()
        .map(|(name, value)| (name.to_owned(), value.map(OsStr::to_owned)))
        .collect()
}

/// Variables a developer's shell or a CI runner may hold, each of which would change a result.
const POLLUTION: &[&str] = &[
    "PUSHFORM_CRASH_AT",
    "PUSHFORM_APP_KEY",
    "PUSHFORM_NOW",
    "PUSHFORM_ENV",
    "PUSHFORM_ENDPOINT",
    "PUSHFORM_DATABASE_URL",
    "RONGCLOUD_APP_KEY",
    "RONGCLOUD_APP_SECRET",
    "STAGING_KEY",
    "HTTPS_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "HOME",
    "XDG_CONFIG_HOME",
    "GIT_DIR",
    "GIT_CONFIG_GLOBAL",
    "GITHUB_RUN_ID",
    "CI_JOB_ID",
    "HOSTNAME",
    "COLUMNS",
    "TERM",
    "CLICOLOR_FORCE",
];

#[test]
fn every_outer_variable_is_removed_but_path_and_tmpdir() {
    let outer = POLLUTION.iter().chain(PASSED_THROUGH).map(OsString::from);
    let env = env_of(&Pushform::isolated_from(&sample_repo(), outer));
    for name in POLLUTION {
        assert_eq!(
            env.get(OsStr::new(name)),
            Some(&None),
            "{name} of the test process reaches pushform"
        );
    }
    for name in PASSED_THROUGH {
        assert!(!env.contains_key(OsStr::new(name)), "{name} is passed on");
    }
    assert_eq!(
        env.get(OsStr::new("NO_COLOR")),
        Some(&Some(OsString::from("1")))
    );
}

#[test]
fn this_test_process_passes_on_nothing_it_was_not_asked_to() {
    let env = env_of(&Pushform::new(&sample_repo()));
    let mut checked = 0;
    for (name, _) in std::env::vars_os() {
        if PASSED_THROUGH.iter().any(|kept| name == **kept) {
            continue;
        }
        checked += 1;
        assert!(
            matches!(env.get(&name), Some(None)) || name == "NO_COLOR",
            "{} of the test process reaches pushform",
            name.display()
        );
    }
    // Cargo sets CARGO_MANIFEST_DIR and friends for every test process: there was something to
    // check.
    assert!(checked > 0);
}

#[test]
fn what_a_test_sets_itself_wins_over_the_removal() {
    let outer = POLLUTION.iter().map(OsString::from);
    let cmd = Pushform::isolated_from(&sample_repo(), outer)
        .now("2026-11-26T07:00:00Z")
        .env("HOME", "/nonexistent")
        .creds("k", "s");
    let env = env_of(&cmd);
    for (name, value) in [
        ("PUSHFORM_NOW", "2026-11-26T07:00:00Z"),
        ("HOME", "/nonexistent"),
        ("RONGCLOUD_APP_KEY", "k"),
        ("RONGCLOUD_APP_SECRET", "s"),
    ] {
        assert_eq!(
            env.get(OsStr::new(name)),
            Some(&Some(OsString::from(value))),
            "{name}"
        );
    }
    assert_eq!(env.get(OsStr::new("PUSHFORM_CRASH_AT")), Some(&None));
}
