//! Whole transcripts (exit code, stdout, stderr) of each way `apply` ends, against the emulator
//! with pushform's clock pinned: all sent with more scheduled, refused by the provider (1009, and
//! 1008 with the next slot), an unknown outcome, and no endpoint reachable. Snapshotted with
//! insta; push ids, request ids, lineages, ports and the temp folder are replaced by stand-ins.

use pushform::emulator::{Emulator, Fault};

use super::harness::{Repo, SAMPLE_NOW, dead_endpoint, emulator};
use crate::support::{Run, transcript, transcript_settings};

/// Four units (`c00`, `c01`, `c02/en`, `c02/de`) all due now under the provider's 2/hour, 3/day.
fn repo() -> Repo {
    Repo::fixture(4, 2, 3, 2)
}

fn snapshot(name: &str, repo: &Repo, ran: &Run) {
    let text = transcript(repo.path(), ran.exit_code(), &ran.stdout, &ran.stderr);
    transcript_settings().bind(|| insta::assert_snapshot!(name, text));
}

fn apply_with_fault(name: &str, fault: Fault) {
    let (repo, emu) = (repo(), emulator());
    emu.set_fault(fault, 1);
    let ran = repo.apply_cmd(&emu, SAMPLE_NOW).run();
    snapshot(name, &repo, &ran);
}

#[test]
fn apply_complete_with_more_scheduled() {
    let (repo, emu): (Repo, Emulator) = (repo(), emulator());
    let ran = repo.apply_cmd(&emu, SAMPLE_NOW).run();
    assert_eq!(emu.received().len(), 2);
    snapshot("apply_complete", &repo, &ran);
}

#[test]
fn apply_refused_not_enabled() {
    apply_with_fault("apply_refused_1009", Fault::NotEnabled);
}

#[test]
fn apply_refused_rate_limited() {
    apply_with_fault("apply_refused_1008", Fault::RateLimited);
}

#[test]
fn apply_outcome_unknown() {
    apply_with_fault("apply_unknown", Fault::Drop);
}

#[test]
fn apply_unreachable() {
    let repo = repo();
    let ran = repo
        .pushform()
        .endpoint(&dead_endpoint())
        .creds("test-key", "test-secret")
        .now(SAMPLE_NOW)
        .args(&["apply", "--auto-approve"])
        .run();
    snapshot("apply_unreachable", &repo, &ran);
}
