//! `plan --compare-to BASE`: what a pull request adds to the queue and which already planned
//! pushes it moves, compared with a plan saved from the base branch.

use crate::support::{Repo, campaign};

const NOW: &str = "2026-11-26T15:00:00+08:00";

fn add(repo: &Repo, id: &str) {
    repo.file(
        &format!("campaigns/{id}.yaml"),
        &campaign(id, &format!("{{alert: \"hello from {id}\"}}")),
    );
}

#[test]
fn a_pull_request_that_adds_one_campaign_moves_the_later_units() {
    // The base branch: a and b go now (2 an hour), c waits an hour for the hour quota.
    let repo = Repo::new();
    for id in ["a", "b", "c"] {
        add(&repo, id);
    }
    repo.run(&["--now", NOW, "plan", "--out", "base.json"])
        .success();

    // The pull request adds `aa`, which sorts before b: it takes b's slot now, b takes c's
    // (16:00), and c no longer fits in the day (3 a day): it moves to the next midnight.
    add(&repo, "aa");
    let human = repo.run(&["--now", NOW, "plan", "--compare-to", "base.json"]);
    human.success();
    let expected = [
        "Compared with the base plan (made 2026-11-26 15:00:00 +08:00, no lockfile), this change:",
        "  - adds aa at 2026-11-26 15:00:00 +08:00",
        "  - moves b from 2026-11-26 15:00:00 +08:00 to 2026-11-26 16:00:00 +08:00 (+1h)",
        "  - moves c from 2026-11-26 16:00:00 +08:00 to 2026-11-27 00:00:00 +08:00 (+8h)",
    ]
    .join("\n");
    assert!(
        human.stdout.contains(&expected),
        "--- expected\n{expected}\n--- stdout\n{}",
        human.stdout
    );

    let comment = repo.run(&[
        "--now",
        NOW,
        "plan",
        "--format",
        "markdown",
        "--compare-to",
        "base.json",
    ]);
    comment.success();
    for needle in [
        "Planned against no lockfile",
        "- adds `aa` at 2026-11-26 15:00:00 +08:00\n",
        "- moves `c` from 2026-11-26 16:00:00 +08:00 to 2026-11-27 00:00:00 +08:00 (+8h)\n",
    ] {
        assert!(
            comment.stdout.contains(needle),
            "comment lacks {needle:?}\n{}",
            comment.stdout
        );
    }
    // The comparison sits under the summary, before the table of actions.
    let moved_at = comment.stdout.find("moves `c`").unwrap();
    assert!(moved_at < comment.stdout.find("| | Push |").unwrap());
}

#[test]
fn a_change_that_pushes_a_unit_past_its_not_after_reports_the_new_expiry() {
    let repo = Repo::new();
    add(&repo, "a");
    add(&repo, "b");
    repo.file(
        "campaigns/c.yaml",
        "id: c\nnot_after: 2026-11-26T23:00:00+08:00\npush:\n  platform: [ios]\n  audience: {packageName: com.example, is_to_all: false}\n  notification: {alert: flash}\n",
    );
    repo.run(&["--now", NOW, "plan", "-o", "base.json"])
        .success();
    add(&repo, "aa");
    let run = repo.run(&["--now", NOW, "plan", "--compare-to", "base.json"]);
    run.success();
    assert!(
        run.stdout.contains(
            "  - makes c expire: it will not be sent (was due 2026-11-26 16:00:00 +08:00)"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unchanged_queue_says_so_and_a_bad_base_file_is_an_error() {
    let repo = Repo::new();
    add(&repo, "a");
    repo.run(&["--now", NOW, "plan", "-o", "base.json"])
        .success();
    let same = repo.run(&["--now", NOW, "plan", "--compare-to", "base.json"]);
    same.success();
    assert!(
        same.stdout
            .contains("this change adds nothing and moves nothing."),
        "{}",
        same.stdout
    );
    repo.file("broken.json", "{}");
    repo.run(&["--now", NOW, "plan", "--compare-to", "broken.json"])
        .failure()
        .stderr_has(&["broken.json is not a pushform plan file (no format_version)"]);
}
