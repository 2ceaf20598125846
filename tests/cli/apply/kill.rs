//! kill -9 at random moments: whatever instant apply dies at, an operator who resolves each
//! `sending` record by checking the provider ends with every push received exactly once and
//! every received push in the lockfile as sent.
//!
//! `PUSHFORM_KILL_ROUNDS` (default 30) runs more rounds for a local soak. Each round's delay
//! comes from a seed derived from the round number, so a failing round reproduces.

use std::time::{Duration, Instant};

use pushform::state::Status;

use super::harness::{
    Repo, SAMPLE_NOW, assert_exactly_once, open_sends, resolution, roomy_emulator, rounds, settle,
    splitmix64,
};

const UNITS: usize = 100;
/// The longest a round lets apply run before killing it. An apply here starts in ~25 ms and
/// then sends a push every ~8 ms, so kills land before, between and inside sends.
const MAX_DELAY_US: u64 = 100_000;
/// Stop starting rounds after this long, whatever the round count.
const BUDGET: Duration = Duration::from_secs(50);

#[test]
fn random_kill_9_never_sends_twice_nor_loses_a_send() {
    let rounds = rounds("PUSHFORM_KILL_ROUNDS", 30);
    let repo = Repo::fixture(UNITS, 100_000, 100_000, 10);
    let emu = roomy_emulator();
    let started = Instant::now();
    let (mut killed, mut finished, mut resolved_sent, mut resolved_not_sent) = (0, 0, 0, 0);

    for round in 0..rounds {
        if started.elapsed() > BUDGET {
            break;
        }
        let delay = Duration::from_micros(splitmix64(round) % MAX_DELAY_US);
        let context = format!("round {round} (kill after {delay:?})");
        let mut child = repo.apply_cmd(&emu, SAMPLE_NOW).args(&["-q"]).spawn();
        std::thread::sleep(delay);
        // SIGKILL on Unix; harmless if it has already exited.
        let _ = child.kill();
        let status = child.wait().expect("wait for the killed apply");
        match status.code() {
            None => killed += 1,
            Some(0) => finished += 1,
            Some(code) => panic!("{context}: apply exited {code} instead of being killed"),
        }
        settle(&emu);

        // The lockfile is whole whatever the moment (else this panics), and at most one send
        // was in flight.
        let Some(lock) = repo.try_lock() else {
            continue;
        };
        let in_flight = open_sends(&lock);
        assert!(in_flight.len() <= 1, "{context}: {in_flight:#?}");
        if let Some(record) = in_flight.first() {
            assert_eq!(record.status, Status::Sending, "{context}");
            // What an operator does: look the request up at the provider.
            let resolution = resolution(record, &emu);
            if resolution.sent {
                resolved_sent += 1;
            } else {
                resolved_not_sent += 1;
            }
            repo.pushform().args(&resolution.args).run().success();
        }
        assert_exactly_once(&repo.lock(), &emu.received());
    }

    let during = emu.received().len();
    // Finally an apply left alone sends the rest.
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    let lock = repo.lock();
    let received = emu.received();
    assert_eq!(received.len(), UNITS, "every unit went out");
    assert_exactly_once(&lock, &received);
    eprintln!(
        "kill -9: {killed} killed, {finished} finished, {resolved_sent} resolved as sent and {resolved_not_sent} as not sent, {during} sent before the last apply, in {:?}",
        started.elapsed()
    );
    assert!(killed > 0, "no round was actually killed");
}
