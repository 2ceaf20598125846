//! Rehearsal records: a send to a loopback emulator is marked `rehearsal: true`, and a state
//! holding one is refused by plan and apply against real endpoints, before any network, until
//! `state forget-rehearsals` removes them.

use super::harness::{KEY, Repo, SECRET, roomy_emulator};

const NOW: &str = "2026-11-26T02:00:00Z";
/// A real endpoint that must never be contacted: the refusal comes first.
const REAL: &str = "https://api.rong-api.com";

#[test]
fn a_rehearsal_state_is_refused_against_a_real_endpoint_until_its_rehearsals_are_forgotten() {
    let repo = Repo::fixture(2, 2, 3, 5);
    let emu = roomy_emulator();
    repo.apply_cmd(&emu, NOW).run().success();
    assert_eq!(emu.received().len(), 2);
    let lock = repo.lock();
    assert!(
        lock.sends.iter().all(|r| r.rehearsal == Some(true)),
        "{lock:?}"
    );
    let before = repo.read("pushform.lock");

    for args in [&["plan"][..], &["apply", "--auto-approve"]] {
        repo.pushform()
            .creds(KEY, SECRET)
            .endpoint(REAL)
            .now(NOW)
            .args(args)
            .run()
            .failure()
            .stderr_has("the state holds 2 rehearsal records")
            .stderr_has("pushform state forget-rehearsals")
            .stderr_has("Nothing was sent");
    }
    // The configured endpoint (api.data_center cn by default) is real too.
    repo.pushform()
        .now(NOW)
        .args(&["plan"])
        .run()
        .failure()
        .stderr_has("rehearsal records");
    assert_eq!(repo.read("pushform.lock"), before, "a record was added");

    repo.pushform()
        .args(&["state", "forget-rehearsals"])
        .run()
        .success()
        .stderr_has("Removed 2 rehearsal records");
    assert!(repo.lock().sends.is_empty());
    // Pending again, and plan against the real endpoint is allowed (nothing is contacted).
    repo.pushform()
        .endpoint(REAL)
        .now(NOW)
        .args(&["plan"])
        .run()
        .success()
        .stdout_has("Plan: 2 to send now");
}

#[test]
fn state_import_range_checks_sent_at_like_now() {
    let repo = Repo::fixture(1, 2, 3, 5);
    repo.pushform()
        .args(&[
            "state",
            "import",
            "c00",
            "--sent-at",
            "9999-12-31T23:00:00Z",
        ])
        .run()
        .failure()
        .stderr_has("--sent-at `9999-12-31T23:00:00Z` is out of range");
    assert!(
        repo.lock().sends.is_empty(),
        "an unreadable time was recorded"
    );
    repo.import("c00", "2026-11-26T10:00:00+08:00");
    assert_eq!(repo.lock().sends.len(), 1);
}
