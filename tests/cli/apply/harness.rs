//! A small harness for the apply tests: a campaign repository in a temporary folder, an
//! in-process provider emulator, the `pushform` binary run with a clean environment, and the
//! invariant every test ends on (no push received twice, none received and missing from the lock).
//!
//! Every child process runs with a timeout, every wait loop is bounded in count and time, and
//! every server listens on 127.0.0.1 with an OS-assigned port.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use pushform::emulator::{Emulator, EmulatorConfig, Received};
use pushform::state::{Lock, LockStore, Record, Status};
use sha1::{Digest, Sha1};
use tempfile::TempDir;

/// The credentials the emulator accepts by default.
pub(super) const KEY: &str = "test-key";
pub(super) const SECRET: &str = "test-secret";

/// The sample repository's "now" at which two units are due, in UTC (15:00 in Asia/Shanghai).
pub(super) const SAMPLE_NOW: &str = "2026-11-26T07:00:00Z";
/// The same instant as the lockfile records it, in the configured time zone.
pub(super) const SAMPLE_NOW_LOCAL: &str = "2026-11-26T15:00:00+08:00";

/// A loopback endpoint for `plan` in a rehearsal (plan never contacts it): against the
/// default, real endpoints, plan refuses a state holding rehearsal records.
pub(super) const REHEARSAL_ENDPOINT: &str = "http://127.0.0.1:9";

/// No single pushform run may take longer than this.
const RUN_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// Repositories
// ---------------------------------------------------------------------------

/// A campaign repository in its own temporary folder.
pub(super) struct Repo {
    dir: TempDir,
}

impl Repo {
    /// A copy of the sample repository at the project root (8 units, quota 2/hour 3/day).
    pub(super) fn sample() -> Repo {
        let repo = Repo::empty();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        fs::copy(
            root.join("pushform.yaml"),
            repo.path().join("pushform.yaml"),
        )
        .expect("copy pushform.yaml");
        copy_tree(&root.join("campaigns"), &repo.path().join("campaigns"));
        copy_tree(&root.join("templates"), &repo.path().join("templates"));
        repo.init_state();
        repo
    }

    /// `pushform state init`: an empty state, as every repository needs before its first apply.
    pub(super) fn init_state(&self) {
        self.pushform().args(&["state", "init"]).run().ok();
    }

    /// `units` push units, all due at once under a quota of `per_hour`/`per_day`.
    ///
    /// Campaign `cNN` (one file each, `campaigns/cNN.yaml`, so plan order is file order) is
    /// a push-only notification to tag `tNN`; every third campaign fans out into two locales,
    /// so keys of both shapes (`cNN` and `cNN/en`) are exercised. Bodies are all distinct.
    pub(super) fn fixture(units: usize, per_hour: u32, per_day: u32, timeout_secs: u64) -> Repo {
        let repo = Repo::empty();
        repo.write(
            "pushform.yaml",
            &format!(
                "api:\n  timeout_secs: {timeout_secs}\nquota:\n  per_hour: {per_hour}\n  \
                 per_day: {per_day}\n  timezone: Asia/Shanghai\ndefaults:\n  push:\n    \
                 platform: [ios, android]\n"
            ),
        );
        let mut made = 0;
        let mut n = 0;
        while made < units {
            let text = if n % 3 == 2 && units - made >= 2 {
                made += 2;
                format!(
                    "id: c{n:02}\nlocales:\n  en:\n    audience: {{ tag: [t{n:02}_en] }}\n    \
                     strings: {{ alert: \"Hello number {n}\" }}\n  de:\n    audience: {{ tag: \
                     [t{n:02}_de] }}\n    strings: {{ alert: \"Hallo Nummer {n}\" }}\npush:\n  \
                     audience: {{ is_to_all: false }}\n  notification:\n    title: \"Title \
                     {n}\"\n    alert: \"{{{{ t.alert }}}}\"\n"
                )
            } else {
                made += 1;
                format!(
                    "id: c{n:02}\npush:\n  audience: {{ is_to_all: false, tag: [t{n:02}] }}\n  \
                     notification: {{ title: \"Title {n}\", alert: \"Alert number {n}\" }}\n"
                )
            };
            repo.write(&format!("campaigns/c{n:02}.yaml"), &text);
            n += 1;
        }
        // `state init` wants a pushform repository: campaigns/ exists even with no campaign yet.
        fs::create_dir_all(repo.path().join("campaigns")).expect("create campaigns/");
        repo.init_state();
        repo
    }

    /// A repository already made in `dir` (e.g. a fresh clone), deleted with it.
    pub(super) fn from_dir(dir: TempDir) -> Repo {
        Repo { dir }
    }

    fn empty() -> Repo {
        Repo {
            dir: tempfile::Builder::new()
                .prefix("pushform-apply-")
                .tempdir()
                .expect("temp dir"),
        }
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(super) fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    pub(super) fn read(&self, rel: &str) -> String {
        let path = self.path().join(rel);
        fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    pub(super) fn lock_path(&self) -> PathBuf {
        self.path().join("pushform.lock")
    }

    fn store(&self) -> LockStore {
        LockStore::new(self.lock_path())
    }

    /// The lockfile, if there is one (it must parse).
    pub(super) fn try_lock(&self) -> Option<Lock> {
        self.store().load().expect("the lockfile parses")
    }

    /// The lockfile, which must exist.
    pub(super) fn lock(&self) -> Lock {
        self.try_lock().expect("a lockfile exists")
    }

    /// `pushform` in this repository, with a clean environment (see [`Pushform`]).
    pub(super) fn pushform(&self) -> Pushform {
        Pushform::new(self.path())
    }

    /// `pushform state import KEY --sent-at AT`, which must succeed: history made outside apply.
    pub(super) fn import(&self, key: &str, at: &str) {
        self.pushform()
            .args(&["state", "import", key, "--sent-at", at])
            .run()
            .ok();
    }

    /// `pushform` against `emu` with its credentials, at `now`.
    pub(super) fn apply_cmd(&self, emu: &Emulator, now: &str) -> Pushform {
        self.pushform()
            .endpoint(&emu.base_url())
            .creds(KEY, SECRET)
            .now(now)
            .args(&["apply", "--auto-approve"])
    }
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------
// Running pushform
// ---------------------------------------------------------------------------

/// One `pushform` invocation being prepared. The environment is the test's minus every
/// `PUSHFORM_*` and `RONGCLOUD_*` variable, plus `NO_COLOR=1`; the rest is set explicitly.
pub(super) struct Pushform {
    cmd: Command,
    line: Vec<String>,
}

/// How a run ended.
#[derive(Debug)]
pub(super) struct Ran {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    line: String,
}

impl Pushform {
    fn new(dir: &Path) -> Pushform {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("pushform"));
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy();
            if text.starts_with("PUSHFORM_") || text.starts_with("RONGCLOUD_") {
                cmd.env_remove(&name);
            }
        }
        cmd.env("NO_COLOR", "1").current_dir(dir);
        Pushform {
            cmd,
            line: vec!["pushform".to_owned()],
        }
    }

    pub(super) fn args(mut self, args: &[&str]) -> Self {
        self.cmd.args(args);
        self.line.extend(args.iter().map(|a| (*a).to_owned()));
        self
    }

    pub(super) fn env(mut self, name: &str, value: &str) -> Self {
        self.cmd.env(name, value);
        self.line.insert(0, format!("{name}={value}"));
        self
    }

    pub(super) fn endpoint(self, urls: &str) -> Self {
        self.env("PUSHFORM_ENDPOINT", urls)
    }

    pub(super) fn creds(mut self, key: &str, secret: &str) -> Self {
        // Not in `line`: a failing test must not print the secret either.
        self.cmd
            .env("RONGCLOUD_APP_KEY", key)
            .env("RONGCLOUD_APP_SECRET", secret);
        self
    }

    pub(super) fn now(self, rfc3339: &str) -> Self {
        self.env("PUSHFORM_NOW", rfc3339)
    }

    /// Runs to the end (stdin a closed pipe, so never a terminal), within a timeout.
    pub(super) fn run(self) -> Ran {
        let line = self.line.join(" ");
        let output = assert_cmd::Command::from_std(self.cmd)
            .timeout(RUN_TIMEOUT)
            .write_stdin("yes\n")
            .output()
            .unwrap_or_else(|e| panic!("{line}: {e}"));
        Ran {
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            line,
        }
    }
}

impl Pushform {
    /// Starts it in the background: no terminal, output discarded (for runs that get killed).
    pub(super) fn spawn(mut self) -> std::process::Child {
        self.cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.line.join(" ")))
    }

    /// Starts it in the background in a process group of its own, output discarded: kill it
    /// with [`kill_group`] and every process it started (git, and git's own children) dies with
    /// it, as on a runner that is lost.
    pub(super) fn spawn_group(mut self) -> std::process::Child {
        use std::os::unix::process::CommandExt as _;
        self.cmd
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.line.join(" ")))
    }

    /// Starts it in the background with its output captured; finish with [`Running::finish`].
    pub(super) fn start(mut self) -> Running {
        let child = self
            .cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", self.line.join(" ")));
        Running {
            child,
            line: self.line.join(" "),
            started: Instant::now(),
        }
    }
}

/// SIGKILL to the whole process group led by `child` (see [`Pushform::spawn_group`]), then
/// reaps it. `None` if it was killed, its exit code if it had already ended.
pub(super) fn kill_group(child: &mut std::process::Child) -> Option<i32> {
    let _ = Command::new("kill")
        .args(["-9", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    child.wait().expect("wait for the killed group").code()
}

/// A pushform started in the background.
pub(super) struct Running {
    child: std::process::Child,
    line: String,
    started: Instant,
}

impl Running {
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for it to end, killing it if it runs past the timeout.
    pub(super) fn finish(mut self) -> Ran {
        // Drain the pipes on their own threads so a chatty child never blocks on a full pipe.
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = drain(self.child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(self.child.stderr.take().map(|p| Box::new(p) as _));
        let mut status = None;
        while status.is_none() && self.started.elapsed() < RUN_TIMEOUT {
            status = self.child.try_wait().expect("try_wait");
            std::thread::sleep(Duration::from_millis(10));
        }
        let status = status.unwrap_or_else(|| {
            let _ = self.child.kill();
            self.child.wait().expect("wait")
        });
        Ran {
            status,
            stdout: stdout.join().expect("stdout"),
            stderr: stderr.join().expect("stderr"),
            line: self.line,
        }
    }
}

impl Ran {
    /// The command line run (environment variables and arguments, never credentials).
    pub(super) fn line(&self) -> &str {
        &self.line
    }

    /// The exit code, `None` if killed by a signal.
    pub(super) fn code(&self) -> Option<i32> {
        self.status.code()
    }

    #[track_caller]
    pub(super) fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code(), Some(code), "unexpected exit of {self}");
        self
    }

    #[track_caller]
    pub(super) fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    #[track_caller]
    pub(super) fn fails(&self) -> &Self {
        self.expect_code(1)
    }

    #[track_caller]
    pub(super) fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?} in {self}"
        );
        self
    }

    #[track_caller]
    pub(super) fn stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout.contains(needle),
            "stdout lacks {needle:?} in {self}"
        );
        self
    }
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` ({})\n--- stdout\n{}--- stderr\n{}---",
            self.line, self.status, self.stdout, self.stderr
        )
    }
}

// ---------------------------------------------------------------------------
// The emulator
// ---------------------------------------------------------------------------

/// An emulator with the provider's default quota (2/hour, 3/day, UTC+8 days).
pub(super) fn emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        stall: Duration::from_secs(3),
        ..EmulatorConfig::new(pushform::validate::check_json_body)
    })
    .expect("the emulator starts")
}

/// An emulator whose quota never gets in the way.
pub(super) fn roomy_emulator() -> Emulator {
    Emulator::start(EmulatorConfig {
        per_hour: 100_000,
        per_day: 100_000,
        stall: Duration::from_secs(3),
        ..EmulatorConfig::new(pushform::validate::check_json_body)
    })
    .expect("the emulator starts")
}

/// A loopback base URL where nothing listens: bind an OS-assigned port, note it, let it go.
pub(super) fn dead_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Waits until the emulator has seen no new request for a while, as an operator checking the
/// provider's console later would: a killed client may have left a whole request in the socket
/// that the emulator has yet to read. Bounded to 3 s.
pub(super) fn settle(emu: &Emulator) {
    let quiet = Duration::from_millis(200);
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut seen = (emu.requests(), emu.received().len());
    let mut since = Instant::now();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let now = (emu.requests(), emu.received().len());
        if now != seen {
            seen = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return;
        }
    }
}

/// Unix ms of an RFC 3339 instant (to pin the emulator's quota clock to pushform's).
pub(super) fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("RFC 3339")
        .timestamp_millis()
}

pub(super) fn sha1_hex(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

// ---------------------------------------------------------------------------
// The invariant
// ---------------------------------------------------------------------------

/// Records of `lock` for `key`, oldest first.
pub(super) fn records<'a>(lock: &'a Lock, key: &str) -> Vec<&'a Record> {
    lock.sends.iter().filter(|r| r.key == key).collect()
}

/// The contract across every failure: every body the emulator accepted is in the lock as sent
/// (with that digest, and with the emulator's push id when apply itself recorded it), no body
/// was accepted twice, nothing is in the lock as sent that the emulator did not accept
/// (imports aside), and no record is left unresolved.
#[track_caller]
pub(super) fn assert_exactly_once(lock: &Lock, received: &[Received]) {
    let mut by_digest: HashMap<String, &Received> = HashMap::new();
    for r in received {
        let digest = sha1_hex(&r.bytes);
        assert!(
            by_digest.insert(digest.clone(), r).is_none(),
            "the emulator received the body {digest} twice:\n{}",
            String::from_utf8_lossy(&r.bytes)
        );
    }
    for (digest, r) in &by_digest {
        let sent: Vec<&Record> = lock
            .sends
            .iter()
            .filter(|rec| rec.digest == *digest && rec.status == Status::Sent)
            .collect();
        assert_eq!(
            sent.len(),
            1,
            "received body {digest} (push id {}) must be in the lock as sent exactly once; lock: {:#?}",
            r.push_id,
            lock.sends
        );
        let rec = sent[0];
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&r.bytes).expect("JSON body"),
            rec.body,
            "{}: the lock's body is what was received",
            rec.key
        );
        if rec.source.is_none() {
            assert_eq!(
                rec.push_id.as_deref(),
                Some(r.push_id.as_str()),
                "{}: apply recorded the emulator's push id",
                rec.key
            );
            assert_eq!(
                rec.request_id.as_deref(),
                r.request_id.as_deref(),
                "{}: the lock keeps the X-Request-ID that was sent",
                rec.key
            );
        }
    }
    for rec in &lock.sends {
        if rec.status == Status::Sent && rec.source.as_deref() != Some("import") {
            assert!(
                by_digest.contains_key(&rec.digest),
                "{} is in the lock as sent but the emulator never received it",
                rec.key
            );
        }
        assert!(
            !rec.status.is_unresolved(),
            "{} is still {} in the lock",
            rec.key,
            rec.status
        );
    }
    let mut sent_per_key: HashMap<&str, usize> = HashMap::new();
    for rec in lock.sends.iter().filter(|r| r.status == Status::Sent) {
        *sent_per_key.entry(&rec.key).or_default() += 1;
    }
    for (key, n) in sent_per_key {
        assert_eq!(n, 1, "{key} is in the lock as sent {n} times");
    }
}
