//! A lockfile that cannot be trusted stops apply before anything is sent, and is never
//! overwritten: the history of what went out is the one thing that must not be lost.

use super::harness::{Repo, SAMPLE_NOW, emulator, ms};

#[test]
fn a_damaged_or_missing_lockfile_stops_apply_before_any_send() {
    let repo = Repo::sample();
    let emu = emulator();
    emu.set_now(Some(ms(SAMPLE_NOW)));
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    // A second write, so that a backup exists.
    repo.import("maintenance-2026-12-06", "2026-11-25T10:00:00+08:00");
    let good = repo.read("pushform.lock");
    let later = "2026-11-26T08:00:00Z";
    emu.set_now(Some(ms(later)));

    let cut = good.len() / 2;
    for (what, content, expected) in [
        (
            "garbage",
            "{ not json".to_owned(),
            "cannot parse the lockfile",
        ),
        (
            "truncated",
            good[..cut].to_owned(),
            "(the file is truncated)",
        ),
        (
            "a newer format",
            good.replace("\"format_version\": 1", "\"format_version\": 2"),
            "written by a newer pushform",
        ),
        (
            "an unknown field",
            good.replace("\"serial\":", "\"surprise\": 1,\n  \"serial\":"),
            "unknown field `surprise`",
        ),
    ] {
        repo.file("pushform.lock", &content);
        repo.apply_cmd(&emu, later)
            .run()
            .failure()
            .stderr_has(expected);
        repo.pushform()
            .args(&["state", "resolve", "maintenance-2026-12-06", "--not-sent"])
            .run()
            .failure()
            .stderr_has(expected);
        assert_eq!(emu.requests(), 2, "{what}: nothing was sent");
        assert_eq!(
            repo.read("pushform.lock"),
            content,
            "{what}: never overwritten"
        );
    }

    // Deleted, with its backup still there: starting afresh would send everything again.
    std::fs::remove_file(repo.lock_path()).expect("rm");
    repo.apply_cmd(&emu, later)
        .run()
        .failure()
        .stderr_has("is missing but its backup")
        .stderr_has("pushform.lock.backup exists");
    assert_eq!(emu.requests(), 2);
    assert!(!repo.lock_path().exists());

    // Restored, all is well again: the due unit goes out.
    repo.file("pushform.lock", &good);
    repo.apply_cmd(&emu, later).run().success();
    assert_eq!(emu.requests(), 3);
}
