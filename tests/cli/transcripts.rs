//! Whole transcripts of the human output (exit code, stdout and stderr in full), snapshotted
//! with insta as minijinja-cli does, so a change to any line a user reads shows up in review.
//! The apply endings are in `apply/transcripts.rs`, next to the emulator harness.
//!
//! Each repository is built here, not copied from the sample, so the snapshots change only when
//! pushform's output does. Temp paths are `[REPO]`; see `support::transcript_settings`.

use crate::support::{Repo, pushform_with, transcript, transcript_settings};

/// 15:00 in Shanghai: inside the sending window of most repositories, on a day with a full quota.
const NOW: &str = "2026-11-26T15:00:00+08:00";

const CONFIG: &str = "\
quota:
  per_hour: 2
  per_day: 3
  timezone: Asia/Shanghai
defaults:
  push:
    platform: [ios, android]
";

/// Four units due now under a 2/hour, 3/day quota (two sent now, one at the next slot, one the
/// next day), a campaign in two locales, and one whose deadline has passed.
fn repo() -> Repo {
    let repo = Repo::new();
    repo.file("pushform.yaml", CONFIG)
        .file(
            "campaigns/a-launch.yaml",
            "id: launch\nlocales:\n  en:\n    audience: { tag: [lang_en] }\n    strings: { alert: \"Version 2 is here\" }\n  \
             de:\n    audience: { tag: [lang_de] }\n    strings: { alert: \"Version 2 ist da\" }\npush:\n  \
             audience: { packageName: com.example.app, is_to_all: false }\n  \
             notification: { title: \"Example\", alert: \"{{ t.alert }}\" }\n",
        )
        .file(
            "campaigns/b-survey.yaml",
            "id: survey\npriority: low\npush:\n  audience: { packageName: com.example.app, is_to_all: false, tag: [beta] }\n  \
             notification: { alert: \"Tell us how we did\" }\n",
        )
        .file(
            "campaigns/c-tips.yaml",
            "id: tips\npush:\n  audience: { packageName: com.example.app, is_to_all: false, tag: [new] }\n  \
             notification: { alert: \"Three tips for your first week\" }\n",
        )
        .file(
            "campaigns/d-sale.yaml",
            "id: sale\nnot_after: 2026-11-25T00:00:00+08:00\npush:\n  \
             audience: { packageName: com.example.app, is_to_all: false, tag: [all] }\n  \
             notification: { alert: \"Last day of the sale\" }\n",
        );
    repo.init_state();
    repo
}

fn snapshot(name: &str, repo: &Repo, args: &[&str]) {
    let run = pushform_with(repo.path(), &[("PUSHFORM_NOW", NOW)], args);
    let text = transcript(repo.path(), run.exit_code(), &run.stdout, &run.stderr);
    transcript_settings().bind(|| insta::assert_snapshot!(name, text));
}

#[test]
fn plan_transcript() {
    snapshot("plan", &repo(), &["plan"]);
}

#[test]
fn plan_all_verbose_transcript() {
    snapshot("plan_all_verbose", &repo(), &["plan", "--all", "-v"]);
}

#[test]
fn validate_transcript_of_a_valid_repository() {
    snapshot("validate_valid", &repo(), &["validate"]);
}

/// A typo in a field name: one finding, with file, line and the field it meant.
#[test]
fn validate_transcript_of_a_typo() {
    let repo = repo();
    repo.file(
        "campaigns/c-tips.yaml",
        "id: tips\npush:\n  audience: { packageName: com.example.app, is_to_all: false, tag: [new] }\n  \
         notification: { alret: \"Three tips for your first week\" }\n",
    );
    snapshot("validate_typo", &repo, &["validate"]);
}
