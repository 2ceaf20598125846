//! `PUSHFORM_CRASH_AT`: the process dies at each step of the send protocol. Whatever the step,
//! the lockfile says `sending`, the next apply refuses to send anything, and once an operator has
//! resolved it by checking the provider, everything goes out exactly once.

use std::os::unix::process::ExitStatusExt;

use pushform::state::Status;

use super::harness::{Repo, SAMPLE_NOW, assert_exactly_once, roomy_emulator};

const UNITS: [&str; 4] = ["c00", "c01", "c02/en", "c02/de"];

/// Crashes apply at `point`; `reached` is whether the request had gone out by then.
fn crash_at(point: &str, reached: bool) {
    let repo = Repo::fixture(UNITS.len(), 100, 100, 10);
    let emu = roomy_emulator();

    let ran = repo
        .apply_cmd(&emu, SAMPLE_NOW)
        .env("PUSHFORM_CRASH_AT", point)
        .run();
    assert_eq!(ran.code(), None, "{point}: must die abnormally: {ran}");
    assert_eq!(ran.status.signal(), Some(6), "{point}: SIGABRT: {ran}");

    // The intent was durable before the request; nothing recorded its outcome.
    let lock = repo.lock();
    assert_eq!(lock.sends.len(), 1, "{point}: {:#?}", lock.sends);
    let record = &lock.sends[0];
    assert_eq!(
        (record.key.as_str(), record.status),
        ("c00", Status::Sending)
    );
    assert!(
        record.request_id.is_some(),
        "the request id is known up front"
    );
    assert_eq!(record.push_id, None);
    let received = emu.received();
    assert_eq!(received.len(), usize::from(reached), "{point}");
    if reached {
        assert_eq!(received[0].request_id, record.request_id);
    }

    // The next apply sends nothing and says what to do; the dead holder left no stale lock.
    let refused = repo.apply_cmd(&emu, SAMPLE_NOW).run();
    refused
        .fails()
        .stderr_has("c00")
        .stderr_has("apply is blocked")
        .stderr_has("pushform state resolve KEY --sent");
    assert!(!refused.stderr.contains("locked by"), "{refused}");
    assert_eq!(emu.requests(), u32::from(reached));
    repo.pushform()
        .args(&["state", "list"])
        .run()
        .ok()
        .stdout_has("sending");

    // The operator checks with the provider and records the truth.
    let resolve = if reached {
        let id = received[0].push_id.clone();
        repo.pushform()
            .args(&["state", "resolve", "c00", "--sent", "--push-id", &id])
            .run()
    } else {
        repo.pushform()
            .args(&["state", "resolve", "c00", "--not-sent"])
            .run()
    };
    resolve.ok();

    repo.apply_cmd(&emu, SAMPLE_NOW).run().ok();
    repo.apply_cmd(&emu, SAMPLE_NOW).run().ok();
    let lock = repo.lock();
    let received = emu.received();
    assert_eq!(received.len(), UNITS.len(), "{point}");
    assert_exactly_once(&lock, &received);
}

#[test]
fn a_crash_after_sending_is_written_leaves_sending_and_nothing_sent() {
    crash_at("after-sending", false);
}

#[test]
fn a_crash_after_the_response_leaves_sending_for_a_push_that_went_out() {
    crash_at("after-response", true);
}

#[test]
fn a_crash_before_sent_is_written_leaves_sending_for_a_push_that_went_out() {
    crash_at("before-sent", true);
}

#[test]
fn an_unknown_crash_point_is_refused_before_anything_is_sent() {
    let repo = Repo::fixture(2, 100, 100, 10);
    let emu = roomy_emulator();
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .env("PUSHFORM_CRASH_AT", "sometime")
        .run()
        .fails()
        .stderr_has("PUSHFORM_CRASH_AT `sometime`");
    assert_eq!(emu.requests(), 0);
}
