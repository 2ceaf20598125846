//! Two applies on one repository: the OS lock on the sidecar lets one send while the other is
//! refused at once, naming the holder, or waits with `--lock-timeout` and then finds nothing left.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};

use super::harness::{Repo, SAMPLE_NOW, assert_exactly_once, roomy_emulator};
use crate::support::Run;

/// Enough units that the winner holds the lock for a few hundred milliseconds.
const UNITS: usize = 40;

#[test]
fn two_applies_started_together_send_each_unit_once_and_one_is_refused() {
    // Started together, the two nearly always contend; if the scheduler happened to run them
    // one after the other, the run still checks exactly-once, and another attempt is made.
    for attempt in 0..3 {
        let repo = Repo::fixture(UNITS, 1000, 1000, 10);
        let emu = roomy_emulator();
        let barrier = Arc::new(Barrier::new(2));
        let runs: Vec<(u32, Run)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let barrier = Arc::clone(&barrier);
                    let command = repo.apply_cmd(&emu, SAMPLE_NOW);
                    scope.spawn(move || {
                        barrier.wait();
                        let running = command.start();
                        (running.pid(), running.finish())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });

        let received = emu.received();
        assert_eq!(received.len(), UNITS, "attempt {attempt}: {runs:#?}");
        assert_exactly_once(&repo.lock(), &received);

        let codes: Vec<Option<i32>> = runs.iter().map(|(_, r)| r.exit_code()).collect();
        match codes.as_slice() {
            // No contention this time: the second found everything sent; try again.
            [Some(0), Some(0)] => {}
            [Some(0), Some(1)] | [Some(1), Some(0)] => {
                let loser = usize::from(codes[0] == Some(0));
                let (winner_pid, winner) = &runs[1 - loser];
                let (_, refused) = &runs[loser];
                winner.stdout_has(&format!("Apply complete: {UNITS} sent"));
                refused
                    .stderr_has(&format!("is locked by pid {winner_pid} on host "))
                    .stderr_has("(pushform apply --auto-approve, since ")
                    .stderr_has("another apply is running")
                    .stderr_has("--lock-timeout");
                return;
            }
            _ => panic!("attempt {attempt}: unexpected exits: {runs:#?}"),
        }
    }
    panic!("three attempts and the two applies never contended for the lock");
}

#[test]
fn a_second_apply_is_refused_while_one_holds_the_lock_or_waits_with_lock_timeout() {
    let repo = Repo::fixture(3, 1000, 1000, 10);
    // One more unit, due in 20 s: `apply --wait` (on the real clock) sends the three due
    // units, then holds the lock while it waits for this one. The refusals below must happen
    // inside that wait, so it is long enough for a loaded runner to start three processes.
    let soon =
        (Utc::now() + chrono::TimeDelta::seconds(20)).to_rfc3339_opts(SecondsFormat::Secs, true);
    repo.file(
        "campaigns/z-later.yaml",
        &format!(
            "id: later\nnot_before: {soon}\npush:\n  audience: {{ is_to_all: false, tag: [late] }}\n  \
             notification: {{ title: Later, alert: \"A little later\" }}\n"
        ),
    );
    let emu = roomy_emulator();
    let real_clock = |args: &[&str]| {
        repo.pushform()
            .endpoint(&emu.base_url())
            .creds(super::harness::KEY, super::harness::SECRET)
            .args(args)
    };
    let holder = real_clock(&["apply", "--auto-approve", "--wait"]).start();
    let deadline = Instant::now() + Duration::from_secs(10);
    while emu.received().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(emu.received().len(), 3, "the holder sent what was due");

    // Without --lock-timeout: refused at once, naming the holder.
    let started = Instant::now();
    real_clock(&["apply", "--auto-approve"])
        .run()
        .failure()
        .stderr_has(&format!("is locked by pid {} on host ", holder.pid()))
        .stderr_has("pushform apply --auto-approve --wait");
    assert!(
        // The holder keeps the lock for most of 20 s: 5 s is "at once" even on a loaded runner.
        started.elapsed() < Duration::from_secs(5),
        "refused at once"
    );
    // `state resolve` writes the lock too, and is refused the same way.
    real_clock(&["state", "resolve", "c00", "--not-sent"])
        .run()
        .failure()
        .stderr_has(&format!("is locked by pid {}", holder.pid()));

    // With --lock-timeout: waits for the holder, then has nothing left to send.
    let waiter = real_clock(&["apply", "--auto-approve", "--lock-timeout", "60"]).start();
    let holder = holder.finish();
    holder.success().stdout_has("Apply complete: 4 sent");
    let waiter = waiter.finish();
    waiter
        .success()
        .stdout_has("No changes. Everything is sent.");
    let received = emu.received();
    assert_eq!(received.len(), 4);
    assert_eq!(emu.requests(), 4);
    assert_exactly_once(&repo.lock(), &received);
}
