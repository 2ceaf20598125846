//! The compare-and-swap and the lease against a real bare repository on disk.

use std::path::Path;
use std::process::Command;

use super::*;
use crate::state::format::{Lock, Record, Status};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
}

/// A bare remote and two clones of it, each a store on the same state branch.
/// [`two_clones`] after `state init` from the first: an empty state on the remote.
fn two_clones_with_a_state() -> (tempfile::TempDir, GitStore, GitStore) {
    let (tmp, a, b) = two_clones();
    a.open(&holder(), None)
        .unwrap()
        .create(Lock::new(), "init")
        .unwrap();
    (tmp, a, b)
}

fn two_clones() -> (tempfile::TempDir, GitStore, GitStore) {
    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["init", "-q", "--bare", "r.git"]);
    for name in ["a", "b"] {
        git(tmp.path(), &["init", "-q", name]);
        git(
            &tmp.path().join(name),
            &["remote", "add", "origin", "../r.git"],
        );
    }
    let store = |n: &str| {
        GitStore::new(
            tmp.path().join(n),
            "origin".to_owned(),
            "pushform-state".to_owned(),
        )
    };
    let (a, b) = (store("a"), store("b"));
    (tmp, a, b)
}

fn record(key: &str) -> Record {
    Record {
        request_id: Some(format!("r-{key}")),
        ..Record::attempt(
            key.to_owned(),
            key.to_owned(),
            None,
            format!("d-{key}"),
            serde_json::json!({"k": key}).into(),
            Status::Sending,
            DateTime::parse_from_rfc3339("2026-11-26T15:00:00+08:00").unwrap(),
        )
    }
}

fn holder() -> Holder {
    Holder::current("test")
}

#[test]
fn a_writer_that_lost_the_race_re_reads_and_re_applies_its_edit() {
    let (_tmp, a, b) = two_clones_with_a_state();
    // Both read the same tip; b writes first.
    let mut sa = a.open(&holder(), None).unwrap();
    let mut sb = b.open(&holder(), None).unwrap();
    assert!(
        sb.commit("b", &mut |l| {
            l.append(record("x"));
            Ok(true)
        })
        .unwrap()
    );
    // a's push is rejected (not a fast-forward): it fetches, and its edit sees b's record.
    let mut seen = Vec::new();
    let written = sa
        .commit("a", &mut |l| {
            seen.push(l.sends.len());
            // "Still due?": x was taken by b, so a writes nothing for x...
            if l.sends.iter().any(|r| r.key == "x") {
                return Ok(false);
            }
            l.append(record("x"));
            Ok(true)
        })
        .unwrap();
    assert!(!written, "a re-planned on b's state and wrote nothing");
    assert_eq!(
        seen,
        [0, 1],
        "the edit ran on the stale state, then on the fetched one"
    );
    // ...and another key goes on top of b's commit.
    assert!(
        sa.commit("a2", &mut |l| {
            l.append(record("y"));
            Ok(true)
        })
        .unwrap()
    );
    let state = b.read(Freshness::Current).unwrap().lock.unwrap();
    let keys: Vec<&str> = state.sends.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["x", "y"]);
    assert_eq!(state.serial, 3, "init, b's write, a's write");
}

#[test]
fn a_live_lease_stops_other_writers_and_a_cleared_one_stops_its_holder() {
    let (_tmp, a, b) = two_clones_with_a_state();
    let mut sa = a.open(&holder(), None).unwrap();
    sa.lease().unwrap();
    let refused = b
        .open(&holder(), None)
        .err()
        .expect("b is refused")
        .to_string();
    assert!(refused.contains("is leased by"), "{refused}");
    // The operator clears the lease: a's next write finds it gone and stops.
    let tip = b.fetch().unwrap().unwrap();
    let lease_id = tip.lease.unwrap().id;
    let refused = b.unlock(&lease_id, false).unwrap_err().to_string();
    assert!(refused.contains("still in force"), "{refused}");
    assert!(refused.contains("--force"), "{refused}");
    assert!(
        b.fetch().unwrap().unwrap().lease.is_some(),
        "a live lease is not cleared without --force"
    );
    b.unlock(&lease_id, true).unwrap();
    let err = sa
        .commit("a", &mut |l| {
            l.append(record("x"));
            Ok(true)
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("lost its lease"), "{err}");
    assert!(
        b.read(Freshness::Current)
            .unwrap()
            .lock
            .unwrap()
            .sends
            .is_empty(),
        "nothing was written after the lease was lost"
    );
}

#[test]
fn a_writer_without_a_lease_that_lost_the_race_to_a_leased_apply_writes_nothing() {
    let (_tmp, a, b) = two_clones_with_a_state();
    // a is an operator's `state resolve` that read the state before the apply started.
    let mut sa = a.open(&holder(), None).unwrap();
    // b is an apply: it takes the lease and writes `sending` for x.
    let mut sb = b.open(&holder(), None).unwrap();
    sb.lease().unwrap();
    assert!(
        sb.commit("b", &mut |l| {
            l.append(record("x"));
            Ok(true)
        })
        .unwrap()
    );
    // a's push is rejected; the fetched tip carries b's live lease: a must not re-apply.
    let mut applied_on_b = false;
    let err = sa
        .commit("a", &mut |l| {
            if l.sends.iter().any(|r| r.key == "x") {
                applied_on_b = true;
                l.sends[0].status = Status::Rejected;
                return Ok(true);
            }
            l.append(record("y"));
            Ok(true)
        })
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("is leased by"), "{text}");
    assert!(!applied_on_b, "the edit never ran on the leased tip");
    let state = b.read(Freshness::Current).unwrap().lock.unwrap();
    assert_eq!(state.sends.len(), 1);
    assert_eq!(
        state.sends[0].status,
        Status::Sending,
        "b's send is untouched"
    );
}

#[test]
fn a_run_never_adopts_a_history_made_anew_under_it() {
    let (tmp, a, b) = two_clones();
    let mut init = a.open(&holder(), None).unwrap();
    init.create(Lock::new(), "init").unwrap();
    let old = init.current().unwrap().lineage.clone();
    let mut writer = a.open(&holder(), None).unwrap();
    let mut leaser = a.open(&holder(), None).unwrap();
    // The branch is deleted and `state init` (from a clone that never saw it) makes a new one.
    git(
        &tmp.path().join("r.git"),
        &["update-ref", "-d", "refs/heads/pushform-state"],
    );
    let mut fresh = b.open(&holder(), None).unwrap();
    fresh.create(Lock::new(), "init again").unwrap();
    let new = fresh.current().unwrap().lineage.clone();

    let err = writer
        .commit("a", &mut |l| {
            l.append(record("x"));
            Ok(true)
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("another history"), "{err}");
    assert!(err.contains(&old) && err.contains(&new), "{err}");
    let err = leaser.lease().unwrap_err().to_string();
    assert!(err.contains("another history"), "{err}");
    let state = b.fetch().unwrap().unwrap();
    assert!(
        state.lock.sends.is_empty(),
        "nothing written on the new history"
    );
    assert!(state.lease.is_none(), "no lease taken on the new history");
}

#[test]
fn a_deleted_branch_this_clone_saw_is_kept_and_refuses_writes_until_restored() {
    let (tmp, a, _b) = two_clones();
    let mut init = a.open(&holder(), None).unwrap();
    init.create(Lock::new(), "init").unwrap();
    let lineage = init.current().unwrap().lineage.clone();
    drop(init);
    // `a` fetches it (its copy is kept in the tracking ref), then the branch is deleted.
    a.open(&holder(), None).unwrap();
    git(
        &tmp.path().join("r.git"),
        &["update-ref", "-d", "refs/heads/pushform-state"],
    );
    let err = a.open(&holder(), None).err().expect("refused").to_string();
    assert!(err.contains("was deleted on the remote"), "{err}");
    assert!(err.contains(&lineage), "{err}");
    let restore = "git push origin refs/pushform/state/pushform-state:refs/heads/pushform-state";
    assert!(err.contains(restore), "{err}");
    // plan still reads (nothing), with the same warning.
    let read = a.read(Freshness::MayBeStale).unwrap();
    assert!(read.lock.is_none());
    assert!(
        read.warnings[0].contains("was deleted on the remote"),
        "{read:?}"
    );
    // The command it gives restores the history.
    let args: Vec<&str> = restore.split(' ').skip(1).collect();
    git(&a.dir, &args);
    let back = a.read(Freshness::Current).unwrap().lock.unwrap();
    assert_eq!(back.lineage, lineage);
    a.open(&holder(), None).unwrap();
}

#[test]
fn no_state_branch_means_no_write_and_create_only_once() {
    let (_tmp, a, b) = two_clones();
    let mut sa = a.open(&holder(), None).unwrap();
    assert!(sa.current().is_none());
    let err = sa.commit("x", &mut |_| Ok(true)).unwrap_err().to_string();
    assert!(err.contains("pushform state init"), "{err}");
    let mut sb = b.open(&holder(), None).unwrap();
    sa.create(Lock::new(), "init").unwrap();
    // b opened before a created it: its create is a rejected push, not a second history.
    let err = sb.create(Lock::new(), "init").unwrap_err().to_string();
    assert!(err.contains("created by someone else"), "{err}");
}
