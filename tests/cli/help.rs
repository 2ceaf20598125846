//! `--help` of the command and of each subcommand: part of the user-facing contract, snapshotted
//! so that any change to flags, wording or defaults shows up in review.

use crate::support::{pushform, pushform_with, sample_repo};

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
fn malformed_values_are_usage_errors_naming_the_flag() {
    // Parsed by clap before anything is read: exit 1 (never 2), the flag named, the usage shown.
    for (env, args, expected) in [
        (
            &[][..],
            &["--now", "tomorrow", "plan"][..],
            "error: PUSHFORM_NOW / --now `tomorrow` is not an RFC 3339 time",
        ),
        (
            &[("PUSHFORM_NOW", "9999-12-31T23:00:00Z")],
            &["quota"],
            "error: PUSHFORM_NOW / --now `9999-12-31T23:00:00Z` is out of range",
        ),
        (
            &[],
            &["apply", "--auto-approve", "--lock-timeout", "5m"],
            "error: --lock-timeout `5m` is not a whole number of seconds",
        ),
        (
            &[],
            &["state", "init", "--lock-timeout=-1"],
            "error: --lock-timeout `-1` is not a whole number of seconds",
        ),
    ] {
        let run = pushform_with(&sample_repo(), env, args);
        run.failure()
            .stderr_has(&[expected, "Usage: pushform", "--help"]);
        assert_eq!(run.stdout, "", "{args:?}");
    }
}

#[test]
fn preview_help() {
    insta::assert_snapshot!(help(&["preview", "--help"]));
}
