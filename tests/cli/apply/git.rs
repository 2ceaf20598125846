//! The git state backend end to end: a bare repository on disk is the remote, every "runner" is
//! a fresh clone deleted after its run, and the emulator is the provider. What must hold: the
//! `sending` record is on the remote before the POST, so whatever happens to a runner no push
//! is received twice and every received push ends up `sent` on the remote.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pushform::emulator::Fault;
use pushform::state::{Lock, Status};
use tempfile::TempDir;

use super::harness::{
    Repo, SAMPLE_NOW, SECRET, assert_exactly_once, emulator, records, roomy_emulator, rounds,
    settle, settle_open_sends, splitmix64, wait_for_request,
};
use crate::support::kill_group;

const BRANCH: &str = "pushform-state";

/// `git` with a fixed identity (for the test's own commits) and no system or global config.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A bare repository holding a campaign repository (`main`) configured for the git backend.
struct Remote {
    tmp: TempDir,
}

impl Remote {
    /// `units` units all due at once, with the state on the git backend; no state branch yet.
    fn new(units: usize) -> Remote {
        Remote::with_quota(units, 100_000, 100_000)
    }

    /// As [`Remote::new`] under a quota of `per_hour`/`per_day`.
    fn with_quota(units: usize, per_hour: u32, per_day: u32) -> Remote {
        let tmp = tempfile::Builder::new()
            .prefix("pushform-remote-")
            .tempdir()
            .expect("temp dir");
        let bare = tmp.path().join("remote.git");
        git(
            tmp.path(),
            &["init", "-q", "--bare", "-b", "main", "remote.git"],
        );
        let seed = Repo::fixture(units, per_hour, per_day, 10);
        // The fixture starts a file state; this repository keeps its state on the remote.
        for f in [
            "pushform.lock",
            "pushform.lock.held",
            "pushform.lock.backup",
        ] {
            let _ = std::fs::remove_file(seed.path().join(f));
        }
        let config = seed.read("pushform.yaml");
        seed.file(
            "pushform.yaml",
            &format!("{config}state:\n  backend: git\n"),
        );
        git(seed.path(), &["init", "-q", "-b", "main"]);
        git(seed.path(), &["add", "-A"]);
        git(seed.path(), &["commit", "-q", "-m", "campaigns"]);
        git(
            seed.path(),
            &["remote", "add", "origin", bare.to_str().unwrap()],
        );
        git(seed.path(), &["push", "-q", "origin", "main"]);
        Remote { tmp }
    }

    fn bare(&self) -> PathBuf {
        self.tmp.path().join("remote.git")
    }

    /// A fresh clone: one CI runner. Dropping it deletes it.
    fn runner(&self) -> Repo {
        let dir = tempfile::Builder::new()
            .prefix("pushform-runner-")
            .tempdir()
            .expect("temp dir");
        git(
            self.tmp.path(),
            &[
                "clone",
                "-q",
                self.bare().to_str().unwrap(),
                dir.path().to_str().unwrap(),
            ],
        );
        Repo::from_dir(dir)
    }

    /// `pushform state init` from a runner of its own.
    fn init(&self) {
        self.runner()
            .pushform()
            .args(&["state", "init"])
            .run()
            .success()
            .stderr_has("Created an empty state");
    }

    fn show(&self, file: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(self.bare())
            .args(["show", &format!("{BRANCH}:{file}")])
            .output()
            .expect("git show");
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// The state on the remote's branch.
    fn lock(&self) -> Option<Lock> {
        self.show("pushform.lock")
            .map(|text| serde_json::from_str(&text).expect("the state on the remote parses"))
    }

    /// The id of the lease on the branch, if any.
    fn lease(&self) -> Option<String> {
        self.show("lease.json").map(|text| {
            let v: serde_json::Value = serde_json::from_str(&text).expect("lease.json parses");
            v["id"].as_str().expect("lease id").to_owned()
        })
    }

    /// The subjects of the state branch's commits, newest first.
    fn commits(&self) -> Vec<String> {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(self.bare())
            .args(["log", "--format=%s", BRANCH])
            .output()
            .expect("git log");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A real remote is another machine and does not die with the runner; here `git
    /// receive-pack` runs in the killed process group, and may leave a ref lock behind that a
    /// remote server would never keep. Removes those.
    fn remove_stale_ref_locks(&self) {
        fn walk(dir: &Path) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path);
                } else if path.extension().is_some_and(|e| e == "lock") {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        walk(&self.bare().join("refs"));
        let _ = std::fs::remove_file(self.bare().join("packed-refs.lock"));
    }

    /// Installs `script` as the remote's `update` hook.
    fn hook(&self, script: &str) {
        let path = self.bare().join("hooks").join("update");
        std::fs::write(&path, script).expect("write hook");
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
    }

    fn unhook(&self) {
        let _ = std::fs::remove_file(self.bare().join("hooks").join("update"));
    }

    /// What an operator does after a runner was lost: clear its lease, then settle each open
    /// record by looking its request up at the provider (`emu`). Returns how many were settled.
    fn settle_as_operator(&self, emu: &pushform::emulator::Emulator) -> usize {
        self.settle_from(&self.runner(), emu)
    }

    /// As [`Remote::settle_as_operator`], from the operator's own clone `runner`.
    fn settle_from(&self, runner: &Repo, emu: &pushform::emulator::Emulator) -> usize {
        if let Some(id) = self.lease() {
            runner
                .pushform()
                .args(&["state", "unlock", &id, "--force"])
                .run()
                .success();
        }
        let Some(lock) = self.lock() else {
            return 0;
        };
        settle_open_sends(&lock, emu, |args| {
            runner.pushform().args(args).run().success();
        })
    }
}

#[test]
fn apply_records_every_change_on_the_remote_and_a_second_run_writes_nothing() {
    let remote = Remote::new(4);
    remote.init();
    let emu = roomy_emulator();
    {
        let runner = remote.runner();
        let head = git(runner.path(), &["rev-parse", "HEAD"]);
        runner
            .apply_cmd(&emu, SAMPLE_NOW)
            .run()
            .success()
            .stdout_has("Apply complete: 4 sent. The state is on branch pushform-state of origin.");
        // Nothing of the state is left in the checkout: it lives on the remote only.
        assert!(!runner.lock_path().exists());
        assert_eq!(git(runner.path(), &["status", "--porcelain"]), "");
        // HEAD and the branches of the checkout are untouched; the fetched state is a private ref.
        assert_eq!(git(runner.path(), &["rev-parse", "HEAD"]), head);
        assert_eq!(
            git(
                runner.path(),
                &["for-each-ref", "--format=%(refname)", "refs/heads"]
            ),
            "refs/heads/main\n"
        );
        assert!(
            git(runner.path(), &["for-each-ref", "--format=%(refname)"])
                .contains("refs/pushform/state/pushform-state")
        );
    }
    let lock = remote.lock().expect("state on the remote");
    assert_exactly_once(&lock, &emu.received());
    assert_eq!(emu.received().len(), 4);
    assert_eq!(remote.lease(), None, "the lease is released");
    let commits = remote.commits();
    // One commit per record change, naming the key and the status.
    for r in &lock.sends {
        for status in ["sending", "sent"] {
            let subject = format!("pushform: {} {status}", r.key);
            assert!(commits.contains(&subject), "{subject} in {commits:#?}");
        }
    }
    let before = commits.len();
    remote
        .runner()
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .success()
        .stdout_has("No changes");
    assert_eq!(remote.commits().len(), before, "nothing due writes nothing");
    assert_eq!(emu.requests(), 4);
}

#[test]
fn an_apply_with_only_scheduled_units_writes_nothing() {
    let remote = Remote::with_quota(4, 2, 3);
    remote.init();
    let emu = roomy_emulator();
    remote
        .runner()
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .success()
        .stdout_has("Apply complete: 2 sent, 2 scheduled");
    let before = remote.commits();
    remote
        .runner()
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .success()
        .stdout_has("Apply complete: 0 sent, 2 scheduled");
    assert_eq!(remote.commits(), before, "no lease, no record: no commit");
    assert_eq!(emu.requests(), 2);
}

#[test]
fn no_state_branch_plan_warns_apply_refuses_and_a_deleted_branch_never_resends() {
    let remote = Remote::new(3);
    let emu = roomy_emulator();
    let runner = remote.runner();
    runner
        .pushform()
        .now(SAMPLE_NOW)
        .args(&["plan"])
        .run()
        .success()
        .stderr_has(
            "warning: nothing is recorded in branch pushform-state of the git remote origin yet",
        );
    runner
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("pushform state init");
    assert_eq!(emu.requests(), 0);
    assert_eq!(remote.lock(), None, "apply started no history");

    remote.init();
    remote.runner().apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), 3);

    // A botched cleanup deletes the state branch: apply must refuse, not send everything again.
    git(
        &remote.bare(),
        &["update-ref", "-d", &format!("refs/heads/{BRANCH}")],
    );
    remote
        .runner()
        .apply_cmd(&emu, "2026-11-27T07:00:00Z")
        .run()
        .failure()
        .stderr_has("nothing is recorded in branch pushform-state")
        .stderr_has("state init");
    assert_eq!(emu.requests(), 3);
}

#[test]
fn killed_while_the_provider_holds_the_request_the_remote_already_says_sending() {
    let remote = Remote::new(2);
    remote.init();
    let emu = emulator();
    emu.set_fault(Fault::StallAfterBody, 1);
    let runner = remote.runner();
    let mut child = runner.apply_cmd(&emu, SAMPLE_NOW).spawn_group();
    wait_for_request(&emu);
    assert_eq!(kill_group(&mut child), None, "killed mid-request");
    drop(runner);
    let lock = remote.lock().expect("state");
    let sending: Vec<_> = lock
        .sends
        .iter()
        .filter(|r| r.status == Status::Sending)
        .collect();
    assert_eq!(sending.len(), 1, "{lock:#?}");
    assert!(
        remote.lease().is_some(),
        "the dead run's lease is still there"
    );
    // A later runner is blocked, never resends.
    let emu_requests = emu.requests();
    remote
        .runner()
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("is leased by")
        .stderr_has("pushform state unlock");
    assert_eq!(emu.requests(), emu_requests);
}

/// Seeded SIGKILLs of a whole runner (pushform and its git processes) at random moments; after
/// each, the clone is deleted and an operator settles what is open. At the end a last apply
/// sends the rest: every push received exactly once, every received push `sent` on the remote.
#[test]
fn random_kills_of_runners_never_send_twice_nor_lose_a_send() {
    // Enough units that every round still has sends to cut (a send is two pushes, ~50 ms).
    const UNITS: usize = 60;
    const MAX_DELAY_MS: u64 = 1_000;
    let rounds = rounds("PUSHFORM_GIT_KILL_ROUNDS", 30);
    let remote = Remote::new(UNITS);
    remote.init();
    let emu = roomy_emulator();
    let started = Instant::now();
    let operator = remote.runner();
    let (mut killed, mut finished, mut settled) = (0, 0, 0);
    for round in 0..rounds {
        let delay = Duration::from_millis(splitmix64(round) % MAX_DELAY_MS);
        let runner = remote.runner();
        match runner
            .apply_cmd(&emu, SAMPLE_NOW)
            .args(&["-q"])
            .kill_after(delay)
        {
            None => killed += 1,
            Some(0) => finished += 1,
            Some(code) => panic!("round {round} ({delay:?}): apply exited {code}"),
        }
        drop(runner);
        remote.remove_stale_ref_locks();
        settle(&emu);
        settled += remote.settle_from(&operator, &emu);
        if let Some(lock) = remote.lock() {
            assert_exactly_once(&lock, &emu.received());
        }
    }
    let during = emu.received().len();
    let last = Instant::now();
    remote.runner().apply_cmd(&emu, SAMPLE_NOW).run().success();
    let last = last.elapsed();
    let lock = remote.lock().expect("state");
    assert_eq!(emu.received().len(), UNITS, "every unit went out");
    assert_exactly_once(&lock, &emu.received());
    eprintln!(
        "git kill -9: {rounds} rounds, {killed} killed, {finished} finished, {settled} settled by \
         the operator, {during} sent before the last apply, which took {last:?}; in {:?}",
        started.elapsed()
    );
    assert!(killed > 0, "no round was actually killed");
}

#[test]
fn two_runners_at_once_never_send_twice() {
    let remote = Remote::new(6);
    remote.init();
    let emu = roomy_emulator();
    // Three runners racing for the same due units (two of them are "the" second runner).
    let runners = [remote.runner(), remote.runner(), remote.runner()];
    let started: Vec<_> = runners
        .iter()
        .map(|r| r.apply_cmd(&emu, SAMPLE_NOW).start())
        .collect();
    let ran: Vec<_> = started
        .into_iter()
        .map(crate::support::Running::finish)
        .collect();
    assert!(
        ran.iter().any(|r| r.exit_code() == Some(0)),
        "one of them sends: {ran:#?}"
    );
    for r in ran.iter().filter(|r| r.exit_code() != Some(0)) {
        // Refused by another's lease (or beaten to a write): nothing sent twice.
        assert!(
            r.stderr.contains("is leased by") || r.stderr.contains("lost its lease"),
            "{r}"
        );
    }
    drop(runners);
    assert_exactly_once(&remote.lock().expect("state"), &emu.received());
    // A later run finishes whatever is left.
    if remote.lease().is_some() {
        remote.settle_as_operator(&emu);
    }
    remote.runner().apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), 6);
    assert_exactly_once(&remote.lock().expect("state"), &emu.received());
}

#[test]
fn a_remote_refusing_the_state_branch_gets_nothing_sent() {
    let remote = Remote::new(2);
    remote.init();
    remote.hook(&format!(
        "#!/bin/sh\ncase \"$1\" in refs/heads/{BRANCH}) echo 'state branch is protected' >&2; exit 1;; esac\nexit 0\n"
    ));
    let emu = roomy_emulator();
    remote
        .runner()
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("refused the push");
    assert_eq!(
        emu.requests(),
        0,
        "nothing is sent unless the remote took `sending`"
    );
}

#[test]
fn a_remote_taking_sending_but_refusing_the_outcome_gets_exactly_one_send() {
    let remote = Remote::new(3);
    remote.init();
    // The lease and the first `sending` record are accepted; every push after that is refused.
    let counter = remote.tmp.path().join("pushes");
    remote.hook(&format!(
        "#!/bin/sh\nn=$(cat '{c}' 2>/dev/null || echo 0)\nn=$((n+1))\necho $n > '{c}'\n[ $n -le 2 ] || {{ echo 'refused' >&2; exit 1; }}\n",
        c = counter.display()
    ));
    let emu = roomy_emulator();
    let ran = remote.runner().apply_cmd(&emu, SAMPLE_NOW).run();
    ran.failure().stderr_has("WAS SENT");
    assert_eq!(emu.received().len(), 1, "exactly one send");
    let push_id = emu.received()[0].push_id.clone();
    let lock = remote.lock().expect("state");
    let key = lock.sends[0].key.clone();
    assert_eq!(lock.sends[0].status, Status::Sending);
    ran.stderr_has(&format!(
        "pushform state resolve {key} --sent --push-id {push_id}"
    ));
    assert!(!ran.stdout.contains(SECRET) && !ran.stderr.contains(SECRET));

    // Later runs are blocked (the remote says `sending`), never resend.
    remote.unhook();
    remote.runner().apply_cmd(&emu, SAMPLE_NOW).run().failure();
    assert_eq!(emu.requests(), 1);
    // The operator does what the message said; then everything goes out once.
    if let Some(id) = remote.lease() {
        remote
            .runner()
            .pushform()
            .args(&["state", "unlock", &id, "--force"])
            .run()
            .success();
    }
    remote
        .runner()
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("apply is blocked");
    assert_eq!(emu.requests(), 1);
    remote
        .runner()
        .pushform()
        .args(&["state", "resolve", &key, "--sent", "--push-id", &push_id])
        .run()
        .success();
    remote.runner().apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), 3);
    assert_exactly_once(&remote.lock().expect("state"), &emu.received());
}

#[test]
fn a_fresh_runner_with_an_empty_home_commits_as_pushform_and_leaks_no_secret() {
    let remote = Remote::new(2);
    let home = tempfile::tempdir().expect("home");
    let emu = roomy_emulator();
    let bare_env = |p: crate::support::Pushform| {
        p.env("HOME", home.path().to_str().unwrap())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("XDG_CONFIG_HOME", home.path().to_str().unwrap())
    };
    let runner = remote.runner();
    let init = bare_env(runner.pushform().args(&["state", "init"])).run();
    init.success();
    let ran = bare_env(runner.apply_cmd(&emu, SAMPLE_NOW)).run();
    ran.success();
    assert_eq!(emu.received().len(), 2);
    let authors = Command::new("git")
        .arg("--git-dir")
        .arg(remote.bare())
        .args(["log", "--format=%an <%ae>", BRANCH])
        .output()
        .expect("git log");
    let authors = String::from_utf8_lossy(&authors.stdout);
    assert!(
        authors
            .lines()
            .all(|l| l == "pushform <pushform@localhost>"),
        "{authors}"
    );
    // The secret is in no commit, message, file of the branch, or output.
    let history = Command::new("git")
        .arg("--git-dir")
        .arg(remote.bare())
        .args(["log", "-p", "--all", "--format=%H %an %ae %s%n%b"])
        .output()
        .expect("git log -p");
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("pushform.lock"), "the history was read");
    for (what, text) in [
        ("history", history.as_ref()),
        ("stdout", ran.stdout.as_str()),
        ("stderr", ran.stderr.as_str()),
    ] {
        assert!(!text.contains(SECRET), "the App Secret is in the {what}");
    }
}

#[test]
fn a_crashed_apply_leaves_a_lease_that_state_unlock_clears() {
    let remote = Remote::new(2);
    remote.init();
    let emu = roomy_emulator();
    remote
        .runner()
        .apply_cmd(&emu, SAMPLE_NOW)
        .env("PUSHFORM_CRASH_AT", "after-sending")
        .run();
    assert_eq!(emu.requests(), 0);
    let lease = remote.lease().expect("the crashed run's lease");
    let runner = remote.runner();
    let blocked = runner.apply_cmd(&emu, SAMPLE_NOW).run();
    blocked
        .failure()
        .stderr_has("is leased by")
        .stderr_has(&format!("pushform state unlock {lease}"));
    // Waiting does not help against a dead holder, but it does wait.
    let t = Instant::now();
    runner
        .apply_cmd(&emu, SAMPLE_NOW)
        .args(&["--lock-timeout", "1"])
        .run()
        .failure()
        .stderr_has("stayed so for");
    assert!(t.elapsed() >= Duration::from_secs(1));
    runner
        .pushform()
        .args(&["state", "unlock", "not-the-id"])
        .run()
        .failure()
        .stderr_has("nothing cleared");
    // The lease has not expired: clearing it takes --force.
    runner
        .pushform()
        .args(&["state", "unlock", &lease])
        .run()
        .failure()
        .stderr_has("still in force")
        .stderr_has(&format!("pushform state unlock {lease} --force"));
    assert_eq!(remote.lease().as_deref(), Some(lease.as_str()));
    runner
        .pushform()
        .args(&["state", "unlock", &lease, "--force"])
        .run()
        .success();
    assert_eq!(remote.lease(), None);
    let key = records(&remote.lock().unwrap(), "c00").len();
    assert_eq!(key, 1, "the crashed run's `sending` record is kept");
    runner
        .pushform()
        .args(&["state", "resolve", "c00", "--not-sent"])
        .run()
        .success();
    runner.apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.received().len(), 2);
    assert_exactly_once(&remote.lock().unwrap(), &emu.received());
}

#[test]
fn plan_falls_back_to_the_last_fetched_copy_but_apply_never_does() {
    let remote = Remote::new(2);
    remote.init();
    let emu = roomy_emulator();
    let runner = remote.runner();
    runner
        .pushform()
        .now(SAMPLE_NOW)
        .args(&["plan"])
        .run()
        .success();
    // The remote goes away.
    let moved = remote.tmp.path().join("gone.git");
    std::fs::rename(remote.bare(), &moved).unwrap();
    runner
        .pushform()
        .now(SAMPLE_NOW)
        .args(&["plan"])
        .run()
        .success()
        .stderr_has("the last fetched copy of the state, fetched ")
        .stdout_has("Plan: 2 to send now");
    runner
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("cannot reach the git remote `origin`");
    runner.pushform().args(&["quota"]).run().failure();
    assert_eq!(emu.requests(), 0);
}

#[test]
fn state_pull_and_push_move_a_history_between_backends() {
    let remote = Remote::new(2);
    remote.init();
    let emu = roomy_emulator();
    remote.runner().apply_cmd(&emu, SAMPLE_NOW).run().success();
    let runner = remote.runner();
    let pulled = runner.pushform().args(&["state", "pull"]).run();
    pulled.success();
    let lock: Lock = serde_json::from_str(&pulled.stdout).expect("a lockfile");
    assert_eq!(Some(&lock), remote.lock().as_ref());
    runner
        .pushform()
        .args(&["state", "pull", "pulled.lock"])
        .run()
        .success()
        .stderr_has("to pulled.lock");
    assert_eq!(
        runner.read("pulled.lock"),
        pulled.stdout,
        "FILE gets what stdout got"
    );
    // Into the file backend: an empty one takes it.
    runner.file("saved.lock", &pulled.stdout);
    let config = runner
        .read("pushform.yaml")
        .replace("state:\n  backend: git\n", "");
    runner.file("pushform.yaml", &config);
    runner
        .pushform()
        .args(&["state", "push", "saved.lock"])
        .run()
        .success();
    assert_eq!(runner.lock(), lock);
    // A backend with a state refuses another push, whatever its lineage.
    let mut other = lock.clone();
    other.lineage = "another".to_owned();
    runner.file("other.lock", &pushform::state::to_pretty_json(&other));
    runner
        .pushform()
        .args(&["state", "push", "other.lock"])
        .run()
        .failure()
        .stderr_has("another lineage");
    // And the git backend refuses to be initialised twice.
    remote
        .runner()
        .pushform()
        .args(&["state", "init"])
        .run()
        .failure()
        .stderr_has("already holds a state");
}

#[test]
fn a_missing_git_or_remote_is_a_clear_error_and_nothing_is_sent() {
    let remote = Remote::new(1);
    remote.init();
    let emu = roomy_emulator();
    let runner = remote.runner();
    let empty = tempfile::tempdir().expect("empty PATH dir");
    runner
        .apply_cmd(&emu, SAMPLE_NOW)
        .env("PATH", empty.path().to_str().unwrap())
        .run()
        .failure()
        .stderr_has("needs the `git` command, which is not on PATH");
    git(runner.path(), &["remote", "remove", "origin"]);
    runner
        .apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("remote `origin` is not configured");
    runner
        .pushform()
        .args(&["state", "list"])
        .run()
        .failure()
        .stderr_has("remote `origin` is not configured");
    assert_eq!(emu.requests(), 0);
}
