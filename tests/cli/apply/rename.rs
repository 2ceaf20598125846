//! The rename case against the emulator: a campaign sent as `spring-sale` and renamed to
//! `spring-sale-2027` must not reach users again, until `resend_of` says it should, and then
//! exactly once more.

use super::harness::{Repo, records, roomy_emulator};
use pushform::state::Status;

const CAMPAIGN: &str = "push:\n  audience: { is_to_all: false, tag: [students] }\n  \
                        notification: { title: \"Spring sale\", alert: \"30% off everything\" }\n";

fn write(repo: &Repo, head: &str) {
    repo.file("campaigns/spring.yaml", &format!("{head}{CAMPAIGN}"));
}

#[test]
fn a_renamed_campaign_is_not_sent_again_until_resend_of_and_then_once() {
    let repo = Repo::fixture(0, 2, 3, 5);
    let emu = roomy_emulator();
    write(&repo, "id: spring-sale\n");
    repo.apply_cmd(&emu, "2026-11-26T02:00:00Z").run().success();
    assert_eq!(emu.received().len(), 1);

    // Renamed: the same bytes under a new key.
    write(&repo, "id: spring-sale-2027\n");
    let plan = repo
        .pushform()
        .now("2026-11-26T04:00:00Z")
        .endpoint(super::harness::REHEARSAL_ENDPOINT)
        .args(&["plan"])
        .run();
    plan.code(1)
        .stdout_has("! spring-sale-2027  duplicate of `spring-sale`");
    let ran = repo.apply_cmd(&emu, "2026-11-26T04:00:00Z").run();
    ran.failure().stderr_has("the plan has errors");
    assert_eq!(
        emu.received().len(),
        1,
        "the duplicate reached the provider"
    );
    assert!(records(&repo.lock(), "spring-sale-2027").is_empty());

    // A rename, said so: nothing to send, the old key's history is the new one's.
    write(&repo, "id: spring-sale-2027\nmoved_from: [spring-sale]\n");
    repo.apply_cmd(&emu, "2026-11-26T04:00:00Z")
        .run()
        .success()
        .stdout_has("No changes. Everything is sent.");
    assert_eq!(emu.received().len(), 1);

    // A deliberate second send: it goes out once, and a later apply sends nothing.
    write(&repo, "id: spring-sale-2027\nresend_of: spring-sale\n");
    repo.apply_cmd(&emu, "2026-11-26T04:00:00Z").run().success();
    repo.apply_cmd(&emu, "2026-11-26T06:00:00Z").run().success();
    let received = emu.received();
    assert_eq!(received.len(), 2);
    assert_eq!(received[0].bytes, received[1].bytes);
    let lock = repo.lock();
    let sent: Vec<_> = records(&lock, "spring-sale-2027")
        .into_iter()
        .filter(|r| r.status == Status::Sent)
        .collect();
    assert_eq!(sent.len(), 1);
}
