//! `plan --out FILE` then `apply FILE`: exactly that plan is applied, and only to the state it
//! was made against. A plan gone stale (the lock or any unit changed since) sends nothing.

use serde_json::Value;

use pushform::emulator::Emulator;

use super::harness::{KEY, Repo, SAMPLE_NOW, SECRET, assert_exactly_once, emulator, ms, sha1_hex};
use crate::support::Run;

/// The sample repo with the emulator's quota clock pinned to pushform's.
fn setup() -> (Repo, Emulator) {
    let repo = Repo::sample();
    let emu = emulator();
    emu.set_now(Some(ms(SAMPLE_NOW)));
    (repo, emu)
}

fn save_plan(repo: &Repo, now: &str) -> Run {
    repo.pushform()
        .now(now)
        .endpoint(super::harness::REHEARSAL_ENDPOINT)
        .args(&["plan", "--out", "p.json"])
        .run()
}

/// Keys and digests of the saved plan's `send` actions, in order.
fn saved_sends(repo: &Repo) -> Vec<(String, String)> {
    let plan: Value = serde_json::from_str(&repo.read("p.json")).expect("plan file");
    plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter(|a| a["action"] == "send")
        .map(|a| {
            (
                a["key"].as_str().expect("key").to_owned(),
                a["digest"].as_str().expect("digest").to_owned(),
            )
        })
        .collect()
}

/// `apply p.json`: a saved plan needs no confirmation.
fn apply_saved(repo: &Repo, emu: &Emulator, now: &str) -> Run {
    repo.pushform()
        .endpoint(&emu.base_url())
        .creds(KEY, SECRET)
        .now(now)
        .args(&["apply", "p.json"])
        .run()
}

/// Replaces `from` by `to` in a campaign file of `repo`.
fn edit(repo: &Repo, file: &str, from: &str, to: &str) {
    let text = repo.read(file);
    assert!(text.contains(from), "{file} lacks {from:?}");
    repo.file(file, &text.replace(from, to));
}

#[test]
fn a_saved_plan_sends_exactly_its_sends_and_is_stale_once_applied() {
    let (repo, emu) = setup();
    save_plan(&repo, SAMPLE_NOW)
        .success()
        .stderr_has("Saved the plan to p.json");
    let planned = saved_sends(&repo);
    assert_eq!(planned.len(), 2);

    apply_saved(&repo, &emu, SAMPLE_NOW)
        .success()
        .stdout_has("Apply complete: 2 sent");
    let received: Vec<String> = emu.received().iter().map(|r| sha1_hex(&r.bytes)).collect();
    let digests: Vec<String> = planned.iter().map(|(_, d)| d.clone()).collect();
    assert_eq!(received, digests, "exactly the plan's sends, in its order");
    let lock = repo.lock();
    let keys: Vec<&str> = lock.sends.iter().map(|r| r.key.as_str()).collect();
    let planned_keys: Vec<&str> = planned.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, planned_keys);

    // The lock moved on: the same plan again is stale.
    apply_saved(&repo, &emu, SAMPLE_NOW)
        .failure()
        .stderr_has("stale plan: it was made against lineage")
        .stderr_has("Make a new plan");
    assert_eq!(emu.requests(), 2);
}

#[test]
fn a_saved_plan_is_stale_after_another_apply() {
    let (repo, emu) = setup();
    // A first apply makes the lockfile; the plan is saved against it.
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    let later = "2026-11-26T08:00:00Z";
    emu.set_now(Some(ms(later)));
    save_plan(&repo, later).success();
    let before = repo.lock();
    // Someone else applies in between.
    repo.apply_cmd(&emu, later).run().success();
    assert_eq!(emu.received().len(), 3);
    let after = repo.lock();
    apply_saved(&repo, &emu, later)
        .failure()
        .stderr_has(&format!(
            "stale plan: it was made against lineage {} serial {}, but the lockfile is now at \
             lineage {} serial {}",
            before.lineage, before.serial, after.lineage, after.serial
        ));
    assert_eq!(emu.requests(), 3);
    assert_exactly_once(&repo.lock(), &emu.received());
}

#[test]
fn a_saved_plan_is_stale_after_state_import() {
    let (repo, emu) = setup();
    save_plan(&repo, SAMPLE_NOW).success();
    repo.import("maintenance-2026-12-06", "2026-11-26T14:00:00+08:00");
    apply_saved(&repo, &emu, SAMPLE_NOW)
        .failure()
        .stderr_has("stale plan: it was made against lineage");
    assert_eq!(emu.requests(), 0);
}

#[test]
fn a_saved_plan_is_stale_after_a_campaign_edit() {
    for (what, file, from, to, key) in [
        (
            "a unit to send now",
            "campaigns/student/exam-reminder.yaml",
            "Time to review!",
            "Time to revise!",
            "exam-reminder-2026-12/en",
        ),
        (
            "a scheduled unit",
            "campaigns/student/winter-sale-2026.yaml",
            "discount: 30",
            "discount: 40",
            "winter-sale-2026/zh-CN",
        ),
    ] {
        let (repo, emu) = setup();
        save_plan(&repo, SAMPLE_NOW).success();
        edit(&repo, file, from, to);
        apply_saved(&repo, &emu, SAMPLE_NOW)
            .failure()
            .stderr_has(&format!(
                "stale plan: the body of `{key}` changed since the plan was made"
            ));
        assert_eq!(emu.requests(), 0, "{what}");
        assert!(repo.try_lock().is_none_or(|l| l.sends.is_empty()), "{what}");
    }

    // A campaign removed since: stale as well.
    let (repo, emu) = setup();
    save_plan(&repo, SAMPLE_NOW).success();
    std::fs::remove_file(repo.path().join("campaigns/teacher/grading-week.yaml")).expect("rm");
    apply_saved(&repo, &emu, SAMPLE_NOW)
        .failure()
        .stderr_has("stale plan: `grading-week-2026/zh-CN` is no longer in the campaign files");
    assert_eq!(emu.requests(), 0);
}

#[test]
fn a_saved_plan_is_stale_after_an_edit_to_a_unit_already_sent() {
    let (repo, emu) = setup();
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    let later = "2026-11-26T08:00:00Z";
    emu.set_now(Some(ms(later)));
    save_plan(&repo, later).success();
    assert_eq!(
        saved_sends(&repo).len(),
        1,
        "grading-week-2026/zh-CN is due"
    );
    // After the plan, a push that already went out is edited: a plain apply now refuses
    // (`!` changed after sending), and so must the saved plan.
    edit(
        &repo,
        "campaigns/student/exam-reminder.yaml",
        "Time to review!",
        "Time to revise!",
    );
    repo.apply_cmd(&emu, later)
        .run()
        .failure()
        .stderr_has("the plan has errors");
    apply_saved(&repo, &emu, later)
        .failure()
        .stderr_has("stale plan: the body of `exam-reminder-2026-12/en` changed");
    assert_eq!(emu.requests(), 2, "nothing more was sent");
}

#[test]
fn a_saved_plan_with_errors_is_not_applied() {
    let (repo, emu) = setup();
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    edit(
        &repo,
        "campaigns/student/exam-reminder.yaml",
        "Time to review!",
        "Time to revise!",
    );
    let later = "2026-11-26T08:00:00Z";
    emu.set_now(Some(ms(later)));
    // `plan` fails on the `!` but saves the file; that plan must not be applied.
    save_plan(&repo, later)
        .failure()
        .stdout_has("exam-reminder-2026-12/en");
    apply_saved(&repo, &emu, later)
        .failure()
        .stderr_has("has errors");
    assert_eq!(emu.requests(), 2, "nothing more was sent");
}

#[test]
fn a_saved_plan_applied_late_never_sends_an_expired_unit() {
    let (repo, emu) = setup();
    save_plan(&repo, SAMPLE_NOW).success();
    // Applied after the not_after of winter-sale-2026 (12-03) and of maintenance (12-06 22:00),
    // inside the sample's 09:00-21:00 send window.
    let late = "2026-12-07T09:00:00+08:00";
    emu.set_now(Some(ms(late)));
    apply_saved(&repo, &emu, late).success();
    for later in [
        "2026-12-07T10:00:00+08:00",
        "2026-12-08T09:00:00+08:00",
        "2026-12-08T10:00:00+08:00",
    ] {
        emu.set_now(Some(ms(later)));
        repo.apply_cmd(&emu, later).run().success();
    }
    let lock = repo.lock();
    let keys: Vec<&str> = lock.sends.iter().map(|r| r.key.as_str()).collect();
    assert!(
        keys.iter()
            .all(|k| !k.starts_with("winter-sale") && !k.starts_with("maintenance")),
        "expired units were sent: {keys:?}"
    );
    assert_eq!(keys.len(), 5, "the other five went out: {keys:?}");
    assert_exactly_once(&lock, &emu.received());
}
