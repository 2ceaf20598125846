//! One test per fault the emulator injects, plus failover: the right record, exit code and
//! message, and across the applies that follow, no unit received twice.

use std::time::{Duration, Instant};

use pushform::emulator::{Emulator, EmulatorConfig, Fault};
use pushform::state::Status;

use super::harness::{
    KEY, Repo, SAMPLE_NOW, SECRET, assert_exactly_once, dead_endpoint, emulator, ms, records,
    roomy_emulator,
};

/// Four units all due at once: `c00`, `c01`, `c02/en`, `c02/de`.
const UNITS: [&str; 4] = ["c00", "c01", "c02/en", "c02/de"];

fn fixture(timeout_secs: u64) -> Repo {
    Repo::fixture(UNITS.len(), 100, 100, timeout_secs)
}

/// What the first unit's record must say after the fault.
enum Expect {
    /// Ambiguous: `unknown`; `received` is whether the push really went out.
    Unknown { received: bool },
    /// Definite: `rejected` with this provider code; the message must contain `hint`.
    Rejected { code: i64, hint: &'static str },
}

/// Apply with `fault` armed for one request, check the outcome, then carry on as an operator
/// would until everything is sent, checking that nothing is ever received twice.
fn survives(fault: Fault, timeout_secs: u64, expect: &Expect) {
    let repo = fixture(timeout_secs);
    let emu = roomy_emulator();
    emu.set_fault(fault, 1);

    let ran = repo.apply_cmd(&emu, SAMPLE_NOW).run();
    ran.failure();
    assert_eq!(emu.requests(), 1, "{fault:?}: one request, never retried");
    let lock = repo.lock();
    assert_eq!(
        lock.sends.len(),
        1,
        "{fault:?}: apply stopped at the first failure"
    );
    let record = &lock.sends[0];
    assert_eq!(record.key, "c00");
    assert_eq!(record.endpoint.as_deref(), Some(emu.base_url().as_str()));
    assert!(record.request_id.is_some());

    match *expect {
        Expect::Unknown { received } => {
            assert_eq!(record.status, Status::Unknown, "{fault:?}");
            assert_eq!(
                emu.received().len(),
                usize::from(received),
                "{fault:?}: did it go out?"
            );
            ran.stderr_has("c00: the outcome is UNKNOWN")
                .stderr_has("pushform state resolve c00 --sent [--push-id ID]")
                .stderr_has("pushform state resolve c00 --not-sent");

            // Nothing at all is sent while the outcome is unknown.
            repo.apply_cmd(&emu, SAMPLE_NOW)
                .run()
                .failure()
                .stderr_has("c00")
                .stderr_has("apply is blocked: 1 unresolved send")
                .stderr_has("pushform state resolve KEY --sent");
            assert_eq!(emu.requests(), 1, "{fault:?}: blocked apply sent nothing");

            // The operator checks with the provider and records the truth.
            let resolve = if received {
                let id = emu.received()[0].push_id.clone();
                repo.pushform()
                    .now(SAMPLE_NOW)
                    .args(&["state", "resolve", "c00", "--sent", "--push-id", &id])
                    .run()
            } else {
                repo.pushform()
                    .now(SAMPLE_NOW)
                    .args(&["state", "resolve", "c00", "--not-sent"])
                    .run()
            };
            resolve.success();
            let resolved = &repo.lock().sends[0];
            assert_eq!(resolved.source.as_deref(), Some("resolve"));
            assert_eq!(
                resolved.status,
                if received {
                    Status::Sent
                } else {
                    Status::Rejected
                }
            );
        }
        Expect::Rejected { code, hint } => {
            assert_eq!(record.status, Status::Rejected, "{fault:?}");
            assert_eq!(record.error.as_ref().map(|e| e.code), Some(code));
            assert!(emu.received().is_empty());
            ran.stderr_has(&format!("c00: the provider refused it (code {code}: "))
                .stderr_has("it was not sent")
                .stderr_has(hint);
        }
    }

    // Now everything goes out, each unit exactly once.
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .success()
        .stdout_has("Apply complete:");
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    let lock = repo.lock();
    let received = emu.received();
    assert_eq!(received.len(), UNITS.len(), "{fault:?}: {received:#?}");
    for key in UNITS {
        assert_eq!(
            records(&lock, key)
                .iter()
                .filter(|r| r.status == Status::Sent)
                .count(),
            1,
            "{fault:?}: {key}"
        );
    }
    assert_exactly_once(&lock, &received);
}

#[test]
fn a_connection_closed_unread_is_unknown_and_resolved_not_sent_it_goes_out_once() {
    // The server took the connection and closed it: it might have read the request.
    survives(Fault::CloseUnread, 10, &Expect::Unknown { received: false });
}

#[test]
fn a_stall_past_the_client_timeout_is_unknown() {
    let started = Instant::now();
    // `api.timeout_secs: 1` against a 3 s stall.
    survives(
        Fault::StallAfterBody,
        1,
        &Expect::Unknown { received: false },
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_stalled_apply_gives_up_at_the_configured_timeout() {
    let repo = fixture(1);
    // A 10 s stall against `api.timeout_secs: 1`: an apply that gives up well
    // before the stall ends gave up at its timeout, even on a loaded machine.
    let emu = Emulator::start(EmulatorConfig {
        per_hour: 100_000,
        per_day: 100_000,
        stall: Duration::from_secs(10),
        ..EmulatorConfig::new(pushform::validate::check_json_body)
    })
    .expect("the emulator starts");
    emu.set_fault(Fault::StallAfterBody, 1);
    let started = Instant::now();
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("UNKNOWN");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "gave up after {took:?}, not at the 1 s timeout"
    );
}

#[test]
fn a_push_accepted_but_never_answered_is_unknown_and_resolved_sent_never_again() {
    // The worst case: the push went out and the client never knew.
    survives(Fault::Drop, 10, &Expect::Unknown { received: true });
}

#[test]
fn a_500_is_unknown() {
    survives(Fault::Http500, 10, &Expect::Unknown { received: false });
}

#[test]
fn an_unreadable_answer_is_unknown() {
    survives(Fault::NotJson, 10, &Expect::Unknown { received: false });
}

#[test]
fn rate_limited_is_rejected_1008_and_names_the_next_slot() {
    survives(
        Fault::RateLimited,
        10,
        &Expect::Rejected {
            code: 1008,
            hint: "The next free slot by pushform's count is 2026-11-26 15:00:00 +08:00",
        },
    );
}

#[test]
fn service_not_enabled_is_rejected_1009_and_says_to_enable_it() {
    survives(
        Fault::NotEnabled,
        10,
        &Expect::Rejected {
            code: 1009,
            hint: "the broadcast service (\"Broadcast to Users\") is not enabled for this App Key. \
                   Enable it in the provider's console",
        },
    );
}

#[test]
fn a_1008_outside_pushforms_knowledge_is_reported_with_the_next_slot_by_its_count() {
    // The sample repo's real quota (2/hour, 3/day): one push went out at 14:30 outside apply.
    let repo = Repo::sample();
    let emu = emulator();
    emu.set_now(Some(ms(SAMPLE_NOW)));
    repo.import("maintenance-2026-12-06", "2026-11-26T14:30:00+08:00");
    emu.set_fault(Fault::RateLimited, 1);
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("exam-reminder-2026-12/zh-CN: the provider refused it (code 1008")
        .stderr_has("at most 2 per hour and 3 per natural day")
        // 14:30 (import) and 15:00 (the refused call) fill the hour until 15:30.
        .stderr_has("The next free slot by pushform's count is 2026-11-26 15:30:00 +08:00");
    assert!(emu.received().is_empty());

    // At that slot the unit goes out, once.
    let later = "2026-11-26T07:30:00Z";
    emu.set_now(Some(ms(later)));
    repo.apply_cmd(&emu, later).run().success();
    let lock = repo.lock();
    let statuses: Vec<(&str, Status)> = lock
        .sends
        .iter()
        .map(|r| (r.key.as_str(), r.status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("maintenance-2026-12-06", Status::Sent),
            ("exam-reminder-2026-12/zh-CN", Status::Rejected),
            ("exam-reminder-2026-12/zh-CN", Status::Sent),
        ]
    );
    assert_exactly_once(&lock, &emu.received());
}

#[test]
fn a_wrong_app_secret_is_rejected_1004_and_nothing_is_sent() {
    let repo = fixture(10);
    let emu = roomy_emulator();
    repo.pushform()
        .endpoint(&emu.base_url())
        .creds(KEY, "not-the-secret")
        .now(SAMPLE_NOW)
        .args(&["apply", "--auto-approve"])
        .run()
        .failure()
        .stderr_has("c00: the provider refused it (code 1004")
        .stderr_has("Check RONGCLOUD_APP_SECRET");
    assert_eq!(emu.requests(), 1);
    assert!(emu.received().is_empty());
    let lock = repo.lock();
    assert_eq!(lock.sends.len(), 1);
    assert_eq!(lock.sends[0].status, Status::Rejected);
    assert_eq!(lock.sends[0].error.as_ref().map(|e| e.code), Some(1004));

    // With the right secret everything goes out once.
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), UNITS.len());
    assert_exactly_once(&repo.lock(), &emu.received());
}

#[test]
fn fails_over_to_the_backup_when_the_primary_refuses_connections() {
    let repo = fixture(10);
    let backup = roomy_emulator();
    let primary = dead_endpoint();
    repo.pushform()
        .endpoint(&format!("{primary},{}", backup.base_url()))
        .creds(KEY, SECRET)
        .now(SAMPLE_NOW)
        .args(&["apply", "--auto-approve"])
        .run()
        .success();
    assert_eq!(backup.requests() as usize, UNITS.len(), "each sent once");
    let lock = repo.lock();
    assert_eq!(lock.sends.len(), UNITS.len());
    for record in &lock.sends {
        assert_eq!(record.status, Status::Sent);
        assert_eq!(
            record.endpoint.as_deref(),
            Some(backup.base_url().as_str()),
            "{}",
            record.key
        );
    }
    assert_exactly_once(&lock, &backup.received());
}

#[test]
fn fails_over_to_the_backup_while_the_emulated_primary_refuses_connections() {
    // The emulator's `refuse` is a real connect-phase failure, so failover can be rehearsed
    // against two emulators, and the primary taken back into service.
    let repo = fixture(10);
    let (primary, backup) = (roomy_emulator(), roomy_emulator());
    primary.set_fault(Fault::Refuse, 1);
    repo.pushform()
        .endpoint(&format!("{},{}", primary.base_url(), backup.base_url()))
        .creds(KEY, SECRET)
        .now(SAMPLE_NOW)
        .args(&["apply", "--auto-approve"])
        .run()
        .success();
    assert_eq!(primary.requests(), 0);
    assert_eq!(
        backup.received().len(),
        UNITS.len(),
        "each sent once, via the backup"
    );
    assert_exactly_once(&repo.lock(), &backup.received());
}

#[test]
fn never_fails_over_once_the_primary_was_reached() {
    let repo = fixture(10);
    let (primary, backup) = (roomy_emulator(), roomy_emulator());
    primary.set_fault(Fault::Drop, 1);
    let endpoints = format!("{},{}", primary.base_url(), backup.base_url());
    repo.pushform()
        .endpoint(&endpoints)
        .creds(KEY, SECRET)
        .now(SAMPLE_NOW)
        .args(&["apply", "--auto-approve"])
        .run()
        .failure()
        .stderr_has("UNKNOWN");
    assert_eq!(primary.received().len(), 1);
    assert_eq!(backup.requests(), 0, "the backup must not send it again");
    let lock = repo.lock();
    assert_eq!(lock.sends.len(), 1);
    assert_eq!(lock.sends[0].status, Status::Unknown);
    assert_eq!(
        lock.sends[0].endpoint.as_deref(),
        Some(primary.base_url().as_str())
    );
}

#[test]
fn no_endpoint_reachable_sends_nothing_and_leaves_the_unit_pending() {
    let repo = fixture(10);
    repo.pushform()
        .endpoint(&format!("{},{}", dead_endpoint(), dead_endpoint()))
        .creds(KEY, SECRET)
        .now(SAMPLE_NOW)
        .args(&["apply", "--auto-approve"])
        .run()
        .failure()
        .stderr_has("c00: not sent, no endpoint could be reached");
    let lock = repo.lock();
    assert_eq!(lock.sends.len(), 1);
    assert_eq!(lock.sends[0].status, Status::Rejected);
    assert_eq!(lock.sends[0].endpoint, None);

    // Provably not sent: the next apply sends it without any resolving.
    let emu = roomy_emulator();
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), UNITS.len());
    assert_exactly_once(&repo.lock(), &emu.received());
}

/// A fault armed for several requests must not turn into several pushes.
#[test]
fn a_fault_that_persists_is_still_one_request_per_apply() {
    let repo = fixture(10);
    let emu = Emulator::start(EmulatorConfig {
        per_hour: 1000,
        per_day: 1000,
        ..EmulatorConfig::new(pushform::validate::check_json_body)
    })
    .expect("emulator");
    emu.set_fault(Fault::Http500, 5);
    for _ in 0..3 {
        repo.apply_cmd(&emu, SAMPLE_NOW).run().failure();
    }
    assert_eq!(emu.requests(), 1, "blocked after the first unknown");
}

#[test]
fn a_404_is_rejected_with_its_status_and_goes_out_once_later() {
    // A proxy or a wrong path answered: the provider never processed the request.
    survives(
        Fault::NotFound,
        10,
        &Expect::Rejected {
            code: 404,
            hint: "HTTP 404 Not Found: the request was refused and not processed",
        },
    );
}

#[test]
fn a_413_is_rejected_with_its_status_and_goes_out_once_later() {
    survives(
        Fault::TooLarge,
        10,
        &Expect::Rejected {
            code: 413,
            hint: "HTTP 413 Payload Too Large: the request was refused and not processed",
        },
    );
}
