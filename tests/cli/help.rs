//! `--help` of the command and of each subcommand: part of the user-facing contract, snapshotted
//! so that any change to flags, wording or defaults shows up in review.

use crate::support::{pushform, sample_repo};

#[track_caller]
fn help(args: &[&str]) -> String {
    let run = pushform(&sample_repo(), args);
    run.success();
    assert_eq!(run.stderr, "");
    run.stdout.clone()
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn validate_help() {
    insta::assert_snapshot!(help(&["validate", "--help"]));
}

#[test]
fn render_help() {
    insta::assert_snapshot!(help(&["render", "--help"]));
}

#[test]
fn l10n_help() {
    insta::assert_snapshot!(help(&["l10n", "--help"]));
    insta::assert_snapshot!("l10n_export_help", help(&["l10n", "export", "--help"]));
}

#[test]
fn help_subcommand_is_the_same_as_the_flag() {
    assert_eq!(help(&["help", "render"]), help(&["render", "--help"]));
}

#[test]
fn usage_errors_exit_1_never_the_pending_code_2() {
    // 2 is reserved for `plan --detailed-exitcode` finding sends: a mistyped flag in the plan
    // step of CI must fail the check, not read as "pushes pending".
    for args in [
        &["plan", "--detailed-exitcod"][..],
        &["plan", "--format", "yaml"],
        &["frobnicate"],
        &[],
        &["state", "resolve", "k"],
    ] {
        let run = pushform(&sample_repo(), args);
        run.failure();
        assert!(run.stderr.contains("--help"), "{args:?}: {}", run.stderr);
    }
    pushform(&sample_repo(), &["--version"]).success();
    pushform(&sample_repo(), &["plan", "--help"]).success();
}

#[test]
fn preview_help() {
    insta::assert_snapshot!(help(&["preview", "--help"]));
}
