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
    assert_eq!(ran.exit_code(), None, "{point}: must die abnormally: {ran}");
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
        .failure()
        .stderr_has("c00")
        .stderr_has("apply is blocked")
        .stderr_has("pushform state resolve KEY --sent");
    assert!(!refused.stderr.contains("locked by"), "{refused}");
    assert_eq!(emu.requests(), u32::from(reached));
    repo.pushform()
        .args(&["state", "list"])
        .run()
        .success()
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
    resolve.success();

    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
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
        .failure()
        .stderr_has("PUSHFORM_CRASH_AT `sometime`");
    assert_eq!(emu.requests(), 0);
}

/// Set in the copy of the test binary that [`no_variable_of_the_test_process_reaches_pushform`]
/// runs with a polluted environment.
const POLLUTED: &str = "PUSHFORM_HARNESS_TEST_POLLUTED";

/// A developer's shell or a CI runner may hold a crash point, a pinned clock, an environment,
/// an endpoint, credentials or a proxy: none of it may reach a test's pushform (once one
/// harness let `PUSHFORM_CRASH_AT` through). The test runs itself again in a copy of the test
/// binary whose environment holds them all; there, an apply through the harness must send
/// everything exactly once, as if they were not there.
#[test]
fn no_variable_of_the_test_process_reaches_pushform() {
    const NAME: &str = "apply::crash::no_variable_of_the_test_process_reaches_pushform";
    if std::env::var_os(POLLUTED).is_none() {
        let dead = "http://127.0.0.1:9";
        let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([NAME, "--exact", "--test-threads", "1"])
            .env(POLLUTED, "1")
            .env("PUSHFORM_CRASH_AT", "after-sending")
            .env("PUSHFORM_ENV", "no-such-environment")
            .env("PUSHFORM_NOW", "2030-01-01T00:00:00Z")
            .env("PUSHFORM_ENDPOINT", dead)
            .env("RONGCLOUD_APP_KEY", "not-the-key")
            .env("RONGCLOUD_APP_SECRET", "not-the-secret")
            .env("HTTP_PROXY", dead)
            .env("ALL_PROXY", dead)
            .output()
            .expect("run the test binary");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("test result: ok. 1 passed"),
            "the polluted run failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    assert_eq!(
        std::env::var("PUSHFORM_CRASH_AT").as_deref(),
        Ok("after-sending"),
        "this copy runs in the polluted environment"
    );
    let repo = Repo::fixture(UNITS.len(), 100, 100, 10);
    let emu = roomy_emulator();
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .success()
        .stdout_has("Apply complete: 4 sent");
    let received = emu.received();
    assert_eq!(received.len(), UNITS.len());
    assert_exactly_once(&repo.lock(), &received);
}
