//! No command starts a history by itself (a deleted or moved lockfile must never resend
//! everything), a symlinked lockfile is followed, a broken pushform.yaml is never read as the
//! defaults, and temp files of a killed write are cleaned by the next one.

use super::harness::{Repo, SAMPLE_NOW, roomy_emulator};

#[test]
fn a_missing_lockfile_makes_apply_refuse_until_state_init() {
    let repo = Repo::fixture(2, 100_000, 100_000, 10);
    std::fs::remove_file(repo.lock_path()).expect("the fixture has a state");
    let emu = roomy_emulator();
    repo.pushform()
        .now(SAMPLE_NOW)
        .args(&["plan"])
        .run()
        .success()
        .stderr_has("warning: nothing is recorded in the lockfile")
        .stdout_has("Plan: 2 to send now");
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("there is no state yet")
        .stderr_has("pushform state init");
    assert_eq!(emu.requests(), 0);
    assert!(!repo.lock_path().exists(), "apply created no lockfile");
    for write in [
        vec!["state", "resolve", "c00", "--not-sent"],
        vec![
            "state",
            "import",
            "c00",
            "--sent-at",
            "2026-11-26T10:00:00+08:00",
        ],
    ] {
        repo.pushform()
            .args(&write)
            .run()
            .failure()
            .stderr_has("pushform state init");
    }
    assert!(!repo.lock_path().exists(), "no state write created one");

    repo.pushform()
        .args(&["state", "init"])
        .run()
        .success()
        .stderr_has("Created an empty state");
    repo.pushform()
        .args(&["state", "init"])
        .run()
        .failure()
        .stderr_has("already holds a state");
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), 2);
    // `state pull` gives the file backend's state as it is.
    let pulled = repo.pushform().args(&["state", "pull"]).run();
    pulled.success();
    assert_eq!(
        serde_json::from_str::<pushform::state::Lock>(&pulled.stdout).expect("a lockfile"),
        repo.lock()
    );

    // Moving the lockfile setting is the same as deleting it: refused, nothing resent.
    let config = repo.read("pushform.yaml");
    repo.file("pushform.yaml", &format!("{config}lock: moved.lock\n"));
    repo.apply_cmd(&emu, "2026-11-27T07:00:00Z")
        .run()
        .failure()
        .stderr_has("moved.lock");
    assert_eq!(emu.requests(), 2);
}

#[test]
fn lock_and_state_both_set_is_an_error() {
    let repo = Repo::fixture(1, 100_000, 100_000, 10);
    let config = repo.read("pushform.yaml");
    repo.file(
        "pushform.yaml",
        &format!("{config}lock: a.lock\nstate:\n  path: b.lock\n"),
    );
    repo.pushform()
        .now(SAMPLE_NOW)
        .args(&["plan"])
        .run()
        .failure()
        .stderr_has("`lock` and `state` are both set");
}

#[test]
fn state_settings_of_the_other_backend_are_errors() {
    let repo = Repo::fixture(1, 100_000, 100_000, 10);
    let config = repo.read("pushform.yaml");
    for (state, message) in [
        (
            "state:\n  backend: file\n  remote: origin\n",
            "`state.remote` is for the git backend",
        ),
        (
            "state:\n  backend: git\n  path: x.lock\n",
            "`state.path` is for the file backend",
        ),
        ("state:\n  backend: svn\n", "svn"),
    ] {
        repo.file("pushform.yaml", &format!("{config}{state}"));
        repo.pushform()
            .now(SAMPLE_NOW)
            .args(&["plan"])
            .run()
            .failure()
            .stderr_has(message);
    }
}

#[test]
fn a_symlinked_lockfile_is_followed_by_every_write_and_the_os_lock() {
    let shared = tempfile::tempdir().expect("shared dir");
    let target = shared.path().join("team.lock");
    let (a, b) = (
        Repo::fixture(2, 100_000, 100_000, 10),
        Repo::fixture(2, 100_000, 100_000, 10),
    );
    for repo in [&a, &b] {
        std::fs::remove_file(repo.lock_path()).unwrap();
        std::fs::remove_file(repo.path().join("pushform.lock.held")).unwrap();
        std::os::unix::fs::symlink(&target, repo.lock_path()).unwrap();
    }
    a.pushform().args(&["state", "init"]).run().success();
    let emu = roomy_emulator();
    a.apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), 2);
    for repo in [&a, &b] {
        let meta = std::fs::symlink_metadata(repo.lock_path()).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "the link is kept, not replaced"
        );
        assert!(!repo.path().join("pushform.lock.held").exists());
    }
    assert!(
        shared.path().join("team.lock.held").exists(),
        "the OS lock is beside the target"
    );
    assert!(shared.path().join("team.lock.backup").exists());
    // The second checkout shares the history: nothing is sent again.
    b.apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .success()
        .stdout_has("No changes");
    assert_eq!(emu.requests(), 2);
}

#[test]
fn quota_and_state_list_refuse_a_broken_pushform_yaml() {
    let repo = Repo::fixture(1, 2, 3, 10);
    repo.import("c00", "2026-11-26T14:30:00+08:00");
    repo.pushform()
        .now(SAMPLE_NOW)
        .args(&["quota"])
        .run()
        .success()
        .stdout_has("Last 60 minutes: 1 of 2 sends used.");
    repo.file("pushform.yaml", "quota:\n  per_hour: [2\n");
    for cmd in [vec!["quota"], vec!["state", "list"]] {
        repo.pushform()
            .now(SAMPLE_NOW)
            .args(&cmd)
            .run()
            .failure()
            .stderr_has("pushform.yaml");
    }
}

#[test]
fn temp_files_left_by_a_killed_write_are_removed_by_the_next_one() {
    let repo = Repo::fixture(1, 100_000, 100_000, 10);
    let stale = [
        ".pushform.lock.Xy12ab.tmp",
        ".pushform.lock.backup.Qw34cd.tmp",
    ];
    for name in stale {
        repo.file(name, "{\"half\": ");
    }
    repo.file("notes.tmp", "not ours");
    let emu = roomy_emulator();
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    for name in stale {
        assert!(!repo.path().join(name).exists(), "{name} is removed");
    }
    assert_eq!(repo.read("notes.tmp"), "not ours");
}
