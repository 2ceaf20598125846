//! `plan`, `show`, `quota` and the state commands that change what a plan says, with the clock
//! pinned by `--now` (the flag form of PUSHFORM_NOW) and history made with `state import`.

use crate::support::{Repo, action, campaign};

const NOW: &str = "2026-11-26T15:00:00+08:00";

fn repo(ids: &[&str]) -> Repo {
    let repo = Repo::new();
    for id in ids {
        repo.file(
            &format!("campaigns/{id}.yaml"),
            &campaign(id, &format!("{{alert: \"hello from {id}\"}}")),
        );
    }
    init_state(&repo);
    repo
}

/// `pushform state init` unless the repository has a state already (writes refuse without one).
fn init_state(repo: &Repo) {
    if !repo.path().join("pushform.lock").exists() {
        repo.run(&["state", "init"]).success();
    }
}

/// Records `key` as sent at `at` (RFC 3339), as history for the plan.
fn import(repo: &Repo, key: &str, at: &str) {
    repo.run(&["state", "import", key, "--sent-at", at])
        .success();
}

/// Asserts that stdout contains `needle`, printing stdout when it does not.
#[track_caller]
fn has(run: &crate::support::Run, needle: &str) {
    assert!(
        run.stdout.contains(needle),
        "stdout lacks {needle:?}\n--- stdout\n{}",
        run.stdout
    );
}

#[test]
fn recent_sends_push_the_plan_to_later_slots_with_reasons() {
    let repo = repo(&["a", "b", "c", "d"]);
    import(&repo, "a", "2026-11-26T14:30:00+08:00");
    import(&repo, "b", "2026-11-26T14:50:00+08:00");
    let run = repo.run(&["--now", NOW, "plan", "--format", "json"]);
    run.success();
    let plan = run.json();
    assert_eq!(plan["format_version"], 1);
    // Two sends in the last hour: c waits until a's send leaves the 60-minute window.
    let c = action(&plan, "c");
    assert_eq!(c["action"], "scheduled");
    assert_eq!(c["reason"], "hour_quota");
    assert_eq!(c["scheduled_at"], "2026-11-26T07:30:00Z");
    // a, b and c fill the natural day in Asia/Shanghai: d goes at the next local midnight.
    let d = action(&plan, "d");
    assert_eq!(d["action"], "scheduled");
    assert_eq!(d["reason"], "day_quota");
    assert_eq!(d["scheduled_at"], "2026-11-26T16:00:00Z");
    assert_eq!(action(&plan, "a")["action"], "up_to_date");

    let human = repo.run(&["--now", NOW, "plan"]);
    human.success();
    assert!(
        human
            .stdout
            .contains("~ c  at 2026-11-26 15:30:00 +08:00 (hour quota"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("~ d  at 2026-11-27 00:00:00 +08:00 (day quota"),
        "{}",
        human.stdout
    );
    assert!(
        human
            .stdout
            .contains("Plan: 0 to send now, 2 scheduled, 0 expired, 0 errors.")
    );
    assert!(
        !human.stdout.contains("up to date"),
        "up-to-date units are hidden without --all"
    );
    let all = repo.run(&["--now", NOW, "plan", "--all"]);
    has(&all, "a  up to date");
}

#[test]
fn a_sent_campaign_edited_afterwards_is_an_error_with_its_diff_until_accepted() {
    let repo = repo(&["a"]);
    repo.run(&[
        "state",
        "import",
        "a",
        "--sent-at",
        "2026-11-20T10:00:00+08:00",
        "--push-id",
        "P1",
    ])
    .success();
    repo.run(&["--now", NOW, "plan", "--detailed-exitcode"])
        .code(0);
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", "{alert: \"hello, edited\"}"),
    );
    let run = repo.run(&["--now", NOW, "plan", "--detailed-exitcode"]);
    run.failure();
    has(&run, "! a  changed after sending");
    has(&run, "-    \"alert\": \"hello from a\"\n");
    has(&run, "+    \"alert\": \"hello, edited\"\n");
    has(&run, "pushform state accept a");
    has(&run, "1 error.");

    repo.run(&["state", "accept", "a"]).success();
    let after = repo.run(&["--now", NOW, "plan", "--detailed-exitcode"]);
    after.code(0);
    has(&after, "No changes. Everything is sent.");
    // The body really sent stays in the lockfile.
    let lock: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("pushform.lock")).unwrap())
            .unwrap();
    assert_eq!(
        lock["sends"][0]["body"]["notification"]["alert"],
        "hello from a"
    );
    assert_eq!(
        lock["sends"][0]["accepted"]["body"]["notification"]["alert"],
        "hello, edited"
    );
}

#[test]
fn detailed_exitcode_is_0_2_and_1() {
    let repo = repo(&["a"]);
    repo.run(&["--now", NOW, "plan", "--detailed-exitcode"])
        .code(2);
    repo.run(&["--now", NOW, "plan"]).code(0);
    import(&repo, "a", "2026-11-20T10:00:00+08:00");
    repo.run(&["--now", NOW, "plan", "--detailed-exitcode"])
        .code(0);
    repo.file("campaigns/a.yaml", &campaign("a", "{alert: changed}"));
    repo.run(&["--now", NOW, "plan", "--detailed-exitcode"])
        .code(1);
}

#[test]
fn expired_and_gone_units_are_shown_and_not_errors() {
    let repo = repo(&["kept"]);
    repo.file(
        "campaigns/late.yaml",
        &format!(
            "not_after: 2026-11-25T00:00:00+08:00\n{}",
            campaign("late", "{alert: too late}")
        ),
    );
    repo.file("campaigns/old.yaml", &campaign("old", "{alert: old}"));
    import(&repo, "old", "2026-11-01T10:00:00+08:00");
    std::fs::remove_file(repo.path().join("campaigns/old.yaml")).unwrap();
    let run = repo.run(&["--now", NOW, "plan"]);
    run.success();
    has(&run, "+ kept");
    has(&run, "x late  expired: will not be sent");
    has(&run, "has passed");
    has(&run, "- old   gone from the files");
    assert!(
        run.stdout
            .contains("Plan: 1 to send now, 0 scheduled, 1 expired, 0 errors."),
        "{}",
        run.stdout
    );
}

#[test]
fn a_saved_plan_shows_as_it_was_made() {
    let repo = repo(&["a", "b", "c"]);
    let made = repo.run(&["--now", NOW, "plan", "-o", "p.json"]);
    made.success();
    let shown = repo.run(&["show", "p.json"]);
    shown.success();
    assert!(
        shown
            .stdout
            .contains("Plan: 2 to send now, 1 scheduled, 0 expired, 0 errors."),
        "{}",
        shown.stdout
    );
    has(&shown, "Now 2026-11-26 15:00:00 +08:00");
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path().join("p.json")).unwrap())
            .unwrap();
    assert_eq!(saved["format_version"], 1);
    assert_eq!(saved["quota"]["timezone"], "Asia/Shanghai");
    repo.file("bad.json", "{\"format_version\": 9}");
    repo.run(&["show", "bad.json"])
        .failure()
        .stderr_has(&["format_version 9"]);
}

#[test]
fn quota_reports_usage_and_next_free_slots() {
    let repo = repo(&["a", "b"]);
    import(&repo, "a", "2026-11-26T14:30:00+08:00");
    import(&repo, "b", "2026-11-26T14:50:00+08:00");
    let run = repo.run(&["--now", NOW, "quota"]);
    run.success();
    has(&run, "Last 60 minutes: 2 of 2 sends used.");
    has(&run, "): 2 of 3 sends used.");
    has(&run, "Thu 2026-11-26 15:30:00 +08:00");
}

#[test]
fn quota_next_free_slots_honour_the_send_window() {
    // 20:30 in Shanghai with a 09:00-21:00 window: one slot before 21:00 (hour quota 2, one
    // used at 20:00), then the next morning, never at night.
    let repo = repo(&["a"]);
    repo.file(
        "pushform.yaml",
        "schedule:\n  window: { from: \"09:00\", to: \"21:00\", timezone: Asia/Shanghai }\n",
    );
    import(&repo, "a", "2026-11-26T20:00:00+08:00");
    let run = repo.run(&["--now", "2026-11-26T20:30:00+08:00", "quota"]);
    run.success();
    has(&run, "Send window 09:00–21:00 Asia/Shanghai");
    has(
        &run,
        "  Thu 2026-11-26 20:30:00 +08:00 (now)\n  Fri 2026-11-27 09:00:00 +08:00\n",
    );
    let slots = run.stdout.split("Next free slots").nth(1).expect("slots");
    for line in slots.lines().skip(1) {
        let hour: u32 = line[17..19].parse().expect("an hour");
        assert!((9..21).contains(&hour), "a slot outside the window: {line}");
    }
}

#[test]
fn state_import_refuses_unknown_keys_and_double_records() {
    let repo = repo(&["a"]);
    repo.run(&[
        "state",
        "import",
        "nope",
        "--sent-at",
        "2026-11-20T10:00:00+08:00",
    ])
    .failure()
    .stderr_has(&["no unit `nope`"]);
    repo.run(&["state", "import", "a", "--sent-at", "yesterday"])
        .failure()
        .stderr_has(&["not an RFC 3339 time"]);
    import(&repo, "a", "2026-11-20T10:00:00+08:00");
    repo.run(&[
        "state",
        "import",
        "a",
        "--sent-at",
        "2026-11-20T10:00:00+08:00",
    ])
    .failure()
    .stderr_has(&["already has a sent or unresolved record of `a`"]);
    let list = repo.run(&["state", "list"]);
    list.success();
    has(&list, "a  sent");
    has(&list, "(import)");
}

#[test]
fn a_corrupted_lockfile_stops_plan_and_is_left_untouched() {
    let repo = repo(&["a"]);
    repo.file("pushform.lock", "{\"format_version\": 1, \"lineage\": ");
    let before = std::fs::read(repo.path().join("pushform.lock")).unwrap();
    repo.run(&["--now", NOW, "plan"])
        .failure()
        .stderr_has(&["pushform.lock"]);
    repo.run(&[
        "state",
        "import",
        "a",
        "--sent-at",
        "2026-11-20T10:00:00+08:00",
    ])
    .failure();
    assert_eq!(
        std::fs::read(repo.path().join("pushform.lock")).unwrap(),
        before
    );
}

#[test]
fn terraform_style_out_flag_is_refused_and_writes_nothing() {
    let repo = repo(&["a"]);
    repo.run(&["--now", NOW, "plan", "-out=plan.tfplan"])
        .failure()
        .stderr_has(&[
            "`-out=plan.tfplan` reads as `-o ut=plan.tfplan`",
            "-o plan.tfplan",
        ]);
    assert!(!repo.path().join("ut=plan.tfplan").exists());
    assert!(!repo.path().join("plan.tfplan").exists());
}
