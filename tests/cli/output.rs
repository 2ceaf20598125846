//! The output layer seen from outside: `--color` and `NO_COLOR`, and what happens when stdout
//! cannot take the output (a full disk is a failure, a reader that went away is not).

use std::process::Stdio;

use crate::support::{Pushform, pushform_with, sample_repo};

/// A time at which the sample repository has pushes to plan.
const NOW: &str = "2026-11-26T15:00:00+08:00";

fn has_escape(text: &str) -> bool {
    text.contains('\u{1b}')
}

#[test]
fn colour_follows_the_flag_and_no_color_only_decides_auto() {
    let plan = |env: &[(&str, &str)], color: &str| {
        let run = pushform_with(
            &sample_repo(),
            &[&[("PUSHFORM_NOW", NOW)], env].concat(),
            &["plan", "--color", color],
        );
        run.success();
        run
    };
    // The harness sets NO_COLOR; `always` still colours, `auto` on a pipe and `never` do not.
    let always = plan(&[], "always");
    assert!(has_escape(&always.stdout), "{:?}", always.stdout);
    assert!(always.stdout.contains("\u{1b}[1m"), "{:?}", always.stdout);
    for color in ["auto", "never"] {
        let run = plan(&[("NO_COLOR", "")], color);
        assert!(
            !has_escape(&run.stdout),
            "--color {color}: {:?}",
            run.stdout
        );
        assert!(
            !has_escape(&run.stderr),
            "--color {color}: {:?}",
            run.stderr
        );
    }
    // Diagnostics on stderr follow the same flag.
    let repo = crate::support::Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\npush: {platform: [ios], audence: {}}\n",
    );
    let always = pushform_with(repo.path(), &[], &["validate", "--color", "always"]);
    always.failure();
    assert!(
        always.stderr.contains("\u{1b}[31merror\u{1b}[0m"),
        "{:?}",
        always.stderr
    );
    let never = pushform_with(repo.path(), &[], &["validate", "--color", "never"]);
    never.failure();
    assert!(!has_escape(&never.stderr), "{:?}", never.stderr);
}

/// A full disk under `plan --format json > plan.json` is exit 1 with a message, never exit 0
/// with truncated JSON that a later step would take for the plan.
#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_on_stdout_fails_the_command() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let output = Pushform::new(&sample_repo())
        .args(&["plan", "--format", "json"])
        .env("PUSHFORM_NOW", NOW)
        .into_std()
        .stdout(full)
        .output()
        .expect("run pushform");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: cannot write to stdout:") && stderr.contains("incomplete"),
        "{stderr}"
    );
}

/// A reader that closed the pipe (`pushform plan | head -1`) has what it wanted: exit 0, no
/// error, no panic.
#[test]
fn a_closed_pipe_on_stdout_is_not_an_error() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    for args in [&["plan", "--format", "json"][..], &["plan"], &["validate"]] {
        let output = Pushform::new(&sample_repo())
            .args(args)
            .env("PUSHFORM_NOW", NOW)
            .into_std()
            .stdout(writer.try_clone().expect("clone the pipe"))
            .stderr(Stdio::piped())
            .output()
            .expect("run pushform");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
    }
}
