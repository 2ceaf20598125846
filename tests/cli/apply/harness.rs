//! The apply tests' domain helpers, on top of the one harness (`support::Pushform`, which runs
//! the binary in a clean environment with a timeout): a campaign repository in a temporary
//! folder with its lockfile, an in-process provider emulator, what an operator does after a lost
//! run, and the invariant every test ends on (no push received twice, none received and missing
//! from the lock).
//!
//! Every wait loop is bounded in count and time, and every server listens on 127.0.0.1 with an
//! OS-assigned port.

use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use pushform::emulator::{Emulator, EmulatorConfig, Received};
use pushform::state::{Lock, LockStore, Record, Status};
use sha1::{Digest, Sha1};

use crate::support::{Pushform, copy_sample};

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

// ---------------------------------------------------------------------------
// Repositories
// ---------------------------------------------------------------------------

pub(super) use crate::support::Repo;

/// What the apply tests add to the one repository type: the sample and a numbered fixture,
/// the lockfile, and `pushform` against an emulator.
impl Repo {
    /// A copy of the sample repository at the project root (8 units, quota 2/hour 3/day).
    pub(super) fn sample() -> Repo {
        let repo = Repo::empty();
        copy_sample(repo.path());
        repo.init_state();
        repo
    }

    /// `units` push units, all due at once under a quota of `per_hour`/`per_day`.
    ///
    /// Campaign `cNN` (one file each, `campaigns/cNN.yaml`, so plan order is file order) is
    /// a push-only notification to tag `tNN`; every third campaign fans out into two locales,
    /// so keys of both shapes (`cNN` and `cNN/en`) are exercised. Bodies are all distinct.
    pub(super) fn fixture(units: usize, per_hour: u32, per_day: u32, timeout_secs: u64) -> Repo {
        let repo = Repo::empty();
        repo.file(
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
            repo.file(&format!("campaigns/c{n:02}.yaml"), &text);
            n += 1;
        }
        // `state init` wants a pushform repository: campaigns/ exists even with no campaign yet.
        fs::create_dir_all(repo.path().join("campaigns")).expect("create campaigns/");
        repo.init_state();
        repo
    }

    /// An empty folder, without even `campaigns/`.
    fn empty() -> Repo {
        Repo::from_dir(
            tempfile::Builder::new()
                .prefix("pushform-apply-")
                .tempdir()
                .expect("temp dir"),
        )
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

    /// `pushform` in this repository, through the one harness (a clean environment).
    pub(super) fn pushform(&self) -> Pushform {
        Pushform::new(self.path())
    }

    /// `pushform state import KEY --sent-at AT`, which must succeed: history made outside apply.
    pub(super) fn import(&self, key: &str, at: &str) {
        self.pushform()
            .args(&["state", "import", key, "--sent-at", at])
            .run()
            .success();
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

/// Waits until `emu` holds a request (under the stall fault, to kill a run mid-request),
/// bounded to 20 s.
#[track_caller]
pub(super) fn wait_for_request(emu: &Emulator) {
    let started = Instant::now();
    while emu.requests() == 0 && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(emu.requests(), 1, "the request reached the provider");
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
// What an operator does after a lost run
// ---------------------------------------------------------------------------

/// How an operator settles a send that a lost run left open: they look its request id up at
/// the provider and record `--sent` with the push id found there, or `--not-sent`.
pub(super) struct Resolution {
    /// Whether the provider had received it.
    pub(super) sent: bool,
    /// The `pushform` arguments that record it: `state resolve KEY …`.
    pub(super) args: Vec<String>,
}

/// The sends `lock` leaves open (`sending` or `unknown`), oldest first.
pub(super) fn open_sends(lock: &Lock) -> Vec<&Record> {
    lock.sends
        .iter()
        .filter(|r| r.status.is_unresolved())
        .collect()
}

/// The resolution of the open `record`, looked up in what `emu` received.
pub(super) fn resolution(record: &Record, emu: &Emulator) -> Resolution {
    let received = emu.received();
    let found = received
        .iter()
        .find(|r| r.request_id.is_some() && r.request_id == record.request_id);
    let mut args = vec!["state".to_owned(), "resolve".to_owned(), record.key.clone()];
    match found {
        Some(r) => args.extend([
            "--sent".to_owned(),
            "--push-id".to_owned(),
            r.push_id.clone(),
        ]),
        None => args.push("--not-sent".to_owned()),
    }
    Resolution {
        sent: found.is_some(),
        args,
    }
}

/// The operator's round after a lost run: every send `lock` left open (at most one, as a run
/// sends one push at a time) looked up at `emu` and recorded by `resolve`, which is given the
/// `pushform` arguments. Returns how many were settled.
#[track_caller]
pub(super) fn settle_open_sends(
    lock: &Lock,
    emu: &Emulator,
    mut resolve: impl FnMut(&[String]),
) -> usize {
    let open = open_sends(lock);
    assert!(open.len() <= 1, "at most one send in flight: {open:#?}");
    for record in &open {
        resolve(&resolution(record, emu).args);
    }
    open.len()
}

/// How many rounds a random-kill test runs: the variable `name` of the test process when set
/// (to soak for longer), else `default`.
pub(super) fn rounds(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// SplitMix64: a tiny, well-mixed generator, enough to spread the moments of random kills.
pub(super) fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
