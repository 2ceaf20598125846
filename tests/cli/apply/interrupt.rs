//! Ctrl-C (SIGINT) never cuts a send in half: apply finishes the send in flight, records it,
//! and stops before the next one, also while `--wait` sleeps for a slot.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use pushform::state::Status;

use super::harness::{KEY, Repo, SAMPLE_NOW, SECRET, assert_exactly_once, roomy_emulator};
use crate::support::Running;

/// Sends SIGINT to a pushform this test started, by its pid.
fn interrupt(running: &Running) {
    let status = std::process::Command::new("kill")
        .args(["-INT", &running.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -INT {}", running.pid());
}

/// Waits (bounded) until the emulator has accepted `n` pushes.
fn wait_for_received(emu: &pushform::emulator::Emulator, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while emu.received().len() < n && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(emu.received().len() >= n, "{n} pushes went out in time");
}

#[test]
fn ctrl_c_between_sends_stops_cleanly() {
    const UNITS: usize = 100;
    let repo = Repo::fixture(UNITS, 100_000, 100_000, 10);
    let emu = roomy_emulator();
    let running = repo.apply_cmd(&emu, SAMPLE_NOW).start();
    // Once pushes are going out, the handler is installed: interrupt mid-run.
    wait_for_received(&emu, 3);
    interrupt(&running);
    let ran = running.finish();
    ran.failure()
        .stderr_has("Interrupted after ")
        .stderr_has("the lockfile is consistent");
    let lock = repo.lock();
    let received = emu.received();
    assert!(received.len() < UNITS, "it stopped early");
    assert_eq!(lock.sends.len(), received.len(), "every attempt settled");
    assert_exactly_once(&lock, &received);
    assert!(
        ran.stderr
            .contains(&format!("Interrupted after {} sent", received.len())),
        "{ran}"
    );

    // The rest goes out with the next apply, once each.
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), UNITS);
    assert_exactly_once(&repo.lock(), &emu.received());
}

#[test]
fn ctrl_c_while_waiting_for_a_slot_stops_at_once() {
    let repo = Repo::fixture(2, 1000, 1000, 10);
    let in_a_minute =
        (Utc::now() + chrono::TimeDelta::seconds(60)).to_rfc3339_opts(SecondsFormat::Secs, true);
    repo.file(
        "campaigns/z-later.yaml",
        &format!(
            "id: later\nnot_before: {in_a_minute}\npush:\n  audience: {{ is_to_all: false, tag: \
             [late] }}\n  notification: {{ title: Later, alert: \"A minute later\" }}\n"
        ),
    );
    let emu = roomy_emulator();
    let running = repo
        .pushform()
        .endpoint(&emu.base_url())
        .creds(KEY, SECRET)
        .args(&["apply", "--auto-approve", "--wait"])
        .start();
    wait_for_received(&emu, 2);
    // Into the wait: both outcomes are in the lockfile (what apply writes just before it
    // says it waits), then a moment for the message.
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline
        && repo.try_lock().is_none_or(|lock| {
            lock.sends
                .iter()
                .filter(|r| r.status == Status::Sent)
                .count()
                < 2
        })
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    let interrupted = Instant::now();
    interrupt(&running);
    let ran = running.finish();
    assert!(
        // The wait is for a unit a minute away: 10 s is prompt even on a loaded runner.
        interrupted.elapsed() < Duration::from_secs(10),
        "stopped after {:?}",
        interrupted.elapsed()
    );
    ran.failure()
        .stderr_has("Waiting for the next slot")
        .stderr_has("Interrupted after 2 sent");
    assert_eq!(emu.requests(), 2, "the later unit was not sent");
    assert_exactly_once(&repo.lock(), &emu.received());
}
