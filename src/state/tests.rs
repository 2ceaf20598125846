//! Tests of the lockfile format, the planner's view and the file store (moved from the old
//! single-file module unchanged).

use super::file::{AcquireError, read_holder};
use super::format::parse_lock;
use super::*;
use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::json;
use std::fs;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn ts(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).unwrap()
}

fn record(key: &str, status: Status, digest: &str, at: &str) -> Record {
    let (campaign, locale) = match key.split_once('/') {
        Some((c, l)) => (c.to_owned(), Some(l.to_owned())),
        None => (key.to_owned(), None),
    };
    Record::attempt(
        key.to_owned(),
        campaign,
        locale,
        digest.to_owned(),
        json!({"title": digest}).into(),
        status,
        ts(at),
    )
}

fn lock_with(records: Vec<Record>) -> Lock {
    let mut lock = Lock::new();
    for r in records {
        lock.append(r);
    }
    lock
}

fn setup() -> (TempDir, LockStore) {
    let dir = TempDir::new().unwrap();
    let store = LockStore::new(dir.path().join("pushform.lock"));
    (dir, store)
}

fn full_record() -> Record {
    let mut r = record(
        "winter-sale-2026/en",
        Status::Sent,
        "d1",
        "2026-12-01T10:00:01+08:00",
    );
    r.body = json!({"z": 1, "a": {"y": [1, 2.5, null], "b": "ü\"\n"}}).into();
    r.push_id = Some("50whSR6kQiHb7YgFwQzXIb".into());
    r.request_id = Some("req-1".into());
    r.endpoint = Some("https://api.rong-api.com".into());
    r.error = Some(RecordError {
        code: -1,
        message: "m".into(),
    });
    r.source = Some("import".into());
    r.resolved_at = Some(ts("2026-12-02T00:00:00Z"));
    r.accepted = Some(Accepted {
        digest: "d2".into(),
        body: json!({"k": "v"}).into(),
        at: ts("2026-12-03T01:02:03-05:00"),
    });
    r
}

#[test]
fn round_trip_through_the_store() {
    let (_dir, store) = setup();
    assert!(store.load().unwrap().is_none());
    let mut guard = store
        .acquire(&Holder::current("pushform apply"), None)
        .unwrap();
    let mut lock = guard.load_or_create().unwrap();
    assert_eq!((lock.format_version, lock.serial), (1, 0));
    assert!(uuid::Uuid::parse_str(&lock.lineage).is_ok());
    lock.append(full_record());
    let mut sparse = record("spring", Status::Unknown, "d3", "2026-03-01T00:00:00Z");
    sparse.attempted_at = ts("2026-03-01T00:00:00.987654321Z");
    lock.append(sparse);
    guard.write(&mut lock).unwrap();
    let loaded = store.load().unwrap().unwrap();
    assert_eq!(loaded, lock);
    assert_eq!(guard.load_or_create().unwrap(), lock);
    // And the bytes are a fixed point: reserialising the loaded lock changes nothing.
    let bytes = fs::read_to_string(store.path()).unwrap();
    assert_eq!(to_pretty_json(&loaded), bytes);
}

#[test]
fn serialisation_is_the_documented_format() {
    let mut lock = Lock::new();
    lock.lineage = "L".into();
    lock.serial = 7;
    let mut r = record(
        "winter-sale-2026/en",
        Status::Sending,
        "abc",
        "2026-12-01T10:00:01.5+08:00",
    );
    r.body = json!({"z": [{"y": 1, "b": 2}], "a": 1}).into();
    lock.append(r);
    let mut r = record("solo", Status::Sent, "def", "2026-12-01T02:00:02Z");
    r.push_id = Some("P".into());
    lock.append(r);
    let expected = r#"{
  "format_version": 1,
  "lineage": "L",
  "serial": 7,
  "sends": [
    {
      "key": "winter-sale-2026/en",
      "campaign": "winter-sale-2026",
      "locale": "en",
      "digest": "abc",
      "body": {
        "a": 1,
        "z": [
          {
            "b": 2,
            "y": 1
          }
        ]
      },
      "status": "sending",
      "attempted_at": "2026-12-01T10:00:01+08:00"
    },
    {
      "key": "solo",
      "campaign": "solo",
      "locale": null,
      "digest": "def",
      "body": {
        "title": "def"
      },
      "status": "sent",
      "attempted_at": "2026-12-01T02:00:02+00:00",
      "push_id": "P"
    }
  ]
}
"#;
    assert_eq!(to_pretty_json(&lock), expected);
    assert_eq!(to_pretty_json(&lock), to_pretty_json(&lock.clone()));
}

#[test]
fn other_format_versions_are_refused_and_never_overwritten() {
    let (_dir, store) = setup();
    let mut lock = Lock::new();
    lock.format_version = 2;
    let text = to_pretty_json(&lock).replace("\"sends\"", "\"new_thing\": 1, \"sends\"");
    fs::write(store.path(), &text).unwrap();
    let err = format!("{:#}", store.load().unwrap_err());
    assert!(err.contains("format_version 2"), "{err}");
    assert!(err.contains("reads format_version 1 only"), "{err}");
    assert!(err.contains("upgrade pushform"), "{err}");

    let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
    assert!(guard.load_or_create().is_err());
    let mut mine = Lock::new();
    let err = format!("{:#}", guard.write(&mut mine).unwrap_err());
    assert!(err.contains("refusing to write"), "{err}");
    assert_eq!(fs::read_to_string(store.path()).unwrap(), text);
    assert_eq!(mine.serial, 0);

    fs::write(
        store.path(),
        r#"{"lineage": "x", "serial": 0, "sends": []}"#,
    )
    .unwrap();
    let err = format!("{:#}", store.load().unwrap_err());
    assert!(err.contains("no format_version"), "{err}");
}

#[test]
fn corrupted_lockfiles_fail_with_position_and_are_never_overwritten() {
    let valid = {
        let mut lock = lock_with(vec![full_record()]);
        lock.lineage = "L".into();
        to_pretty_json(&lock)
    };
    let truncated = valid[..valid.len() / 2].to_owned();
    let unknown_field = valid.replace("\"digest\": \"d1\"", "\"digset\": \"d1\"");
    let bad_status = valid.replace("\"status\": \"sent\"", "\"status\": \"lost\"");
    let bad_time = valid.replace("2026-12-01T10:00:01+08:00", "yesterday");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", truncated.into_bytes(), "truncated"),
        ("garbage", b"\x00\xffnot json at all".to_vec(), "line 1"),
        ("empty", Vec::new(), "line 1, column 0"),
        ("trailing", format!("{valid}}}").into_bytes(), "trailing"),
        ("not an object", b"[1, 2]".to_vec(), "line 1"),
        ("unknown field", unknown_field.into_bytes(), "digset"),
        ("bad status", bad_status.into_bytes(), "lost"),
        ("bad time", bad_time.into_bytes(), "yesterday"),
    ];
    for (name, bytes, needle) in cases {
        let (_dir, store) = setup();
        fs::write(store.path(), &bytes).unwrap();
        let err = format!("{:#}", store.load().unwrap_err());
        assert!(err.contains("pushform.lock at line "), "{name}: {err}");
        assert!(err.contains(", column "), "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");

        let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
        assert!(guard.load_or_create().is_err(), "{name}");
        let mut lock = Lock::new();
        let err = format!("{:#}", guard.write(&mut lock).unwrap_err());
        assert!(err.contains("refusing to write"), "{name}: {err}");
        assert!(err.contains("line "), "{name}: {err}");
        assert_eq!(fs::read(store.path()).unwrap(), bytes, "{name}");
        assert!(!store.backup_path().exists(), "{name}");
        assert_eq!(lock.serial, 0, "{name}");
    }
}

#[test]
fn a_corrupted_lockfile_with_a_backup_points_at_it_and_keeps_both() {
    let (_dir, store) = setup();
    let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
    let mut lock = guard.load_or_create().unwrap();
    guard.write(&mut lock).unwrap();
    lock.append(full_record());
    guard.write(&mut lock).unwrap();
    let backup = fs::read(store.backup_path()).unwrap();
    let whole = fs::read(store.path()).unwrap();
    let torn = &whole[..whole.len() - 10];
    fs::write(store.path(), torn).unwrap();
    let err = format!("{:#}", store.load().unwrap_err());
    assert!(err.contains("restore its previous version from"), "{err}");
    assert!(err.contains("pushform.lock.backup"), "{err}");
    assert!(guard.write(&mut lock).is_err());
    assert_eq!(fs::read(store.path()).unwrap(), torn);
    assert_eq!(fs::read(store.backup_path()).unwrap(), backup);
}

#[test]
fn no_file_content_panics_the_parser() {
    let valid = to_pretty_json(&lock_with(vec![
        full_record(),
        record("b", Status::Rejected, "x", "2026-01-01T00:00:00Z"),
    ]))
    .into_bytes();
    let path = Path::new("pushform.lock");
    assert!(parse_lock(path, &valid).is_ok());
    for end in 0..valid.len() {
        let _ = parse_lock(path, &valid[..end]);
    }
    for i in 0..valid.len() {
        for replacement in [b'"', b'{', b'9', 0xff] {
            let mut bytes = valid.clone();
            bytes[i] = replacement;
            let _ = parse_lock(path, &bytes);
        }
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(parse_lock(path, deep.as_bytes()).is_err());
}

#[test]
fn every_write_bumps_serial_keeps_a_backup_and_leaves_no_temp_files() {
    let (dir, store) = setup();
    let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
    let mut lock = guard.load_or_create().unwrap();
    guard.write(&mut lock).unwrap();
    assert_eq!(lock.serial, 1);
    assert!(
        !store.backup_path().exists(),
        "nothing to back up on creation"
    );
    for n in 2..=4u64 {
        let before = fs::read(store.path()).unwrap();
        let index = lock.append(record(
            &format!("k{n}"),
            Status::Sending,
            "d",
            "2026-01-01T00:00:00Z",
        ));
        guard.write(&mut lock).unwrap();
        assert_eq!(lock.serial, n);
        assert_eq!(store.load().unwrap().unwrap().serial, n);
        assert_eq!(fs::read(store.backup_path()).unwrap(), before);
        lock.settle(
            index,
            Outcome::Sent {
                push_id: Some("p".into()),
                request_id: None,
            },
        )
        .unwrap();
    }
    let mut names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "pushform.lock",
            "pushform.lock.backup",
            "pushform.lock.held"
        ]
    );
}

#[test]
fn write_refuses_a_lockfile_changed_behind_its_back() {
    let (_dir, store) = setup();
    let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
    let mut lock = guard.load_or_create().unwrap();
    guard.write(&mut lock).unwrap();

    let mut stale = lock.clone();
    guard.write(&mut lock).unwrap();
    let on_disk = fs::read(store.path()).unwrap();
    let err = format!("{:#}", guard.write(&mut stale).unwrap_err());
    assert!(err.contains("serial 2 on disk, not 1"), "{err}");
    assert_eq!(stale.serial, 1);

    let mut stranger = Lock::new();
    stranger.serial = 2;
    let err = format!("{:#}", guard.write(&mut stranger).unwrap_err());
    assert!(err.contains("lineage"), "{err}");
    assert_eq!(fs::read(store.path()).unwrap(), on_disk);
}

#[test]
fn a_lockfile_deleted_beside_its_backup_is_not_silently_restarted() {
    let (_dir, store) = setup();
    let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
    let mut lock = guard.load_or_create().unwrap();
    guard.write(&mut lock).unwrap();
    guard.write(&mut lock).unwrap();
    fs::remove_file(store.path()).unwrap();
    let err = format!("{:#}", store.load().unwrap_err());
    assert!(err.contains("is missing but its backup"), "{err}");
    assert!(guard.load_or_create().is_err());
}

#[test]
fn settle_only_changes_sending_records() {
    let mut lock = lock_with(vec![record(
        "a",
        Status::Sending,
        "d",
        "2026-01-01T00:00:00Z",
    )]);
    let error = RecordError {
        code: 20005,
        message: "bad".into(),
    };
    lock.settle(
        0,
        Outcome::Rejected {
            request_id: Some("r".into()),
            error: error.clone(),
        },
    )
    .unwrap();
    assert_eq!(lock.sends[0].status, Status::Rejected);
    assert_eq!(lock.sends[0].error.as_ref(), Some(&error));
    let sent = Outcome::Sent {
        push_id: Some("p".into()),
        request_id: None,
    };
    assert_eq!(
        lock.settle(0, sent.clone()),
        Err(LockError::NotSending {
            index: 0,
            key: "a".into(),
            status: Status::Rejected
        })
    );
    assert_eq!(
        lock.settle(5, sent),
        Err(LockError::NoSuchRecord { index: 5, len: 1 })
    );
    assert_eq!(lock.sends[0].status, Status::Rejected);

    let i = lock.append(record("b", Status::Sending, "d", "2026-01-01T00:00:00Z"));
    lock.settle(
        i,
        Outcome::Unknown {
            request_id: None,
            error: None,
        },
    )
    .unwrap();
    assert_eq!(lock.sends[i].status, Status::Unknown);
    assert!(
        lock.settle(
            i,
            Outcome::Sent {
                push_id: None,
                request_id: None
            }
        )
        .is_err()
    );
}

#[test]
fn resolve_touches_only_the_latest_unresolved_record() {
    let at = ts("2026-12-05T09:00:00.25+01:00");
    let mut lock = lock_with(vec![
        record("a", Status::Unknown, "d0", "2026-01-01T00:00:00Z"),
        record("a", Status::Unknown, "d1", "2026-01-02T00:00:00Z"),
        record("a", Status::Rejected, "d2", "2026-01-03T00:00:00Z"),
        record("b", Status::Sent, "d", "2026-01-01T00:00:00Z"),
        record("c", Status::Sending, "d", "2026-01-01T00:00:00Z"),
    ]);
    lock.sends[1].error = Some(RecordError {
        code: 0,
        message: "timeout".into(),
    });
    assert_eq!(lock.resolve("a", true, Some("P".into()), at).unwrap(), 1);
    let r = &lock.sends[1];
    assert_eq!(r.status, Status::Sent);
    assert_eq!(r.push_id.as_deref(), Some("P"));
    assert_eq!(r.source.as_deref(), Some("resolve"));
    assert_eq!(r.resolved_at, Some(ts("2026-12-05T09:00:00+01:00")));
    assert!(r.error.is_some(), "the original error stays for the audit");
    assert_eq!(lock.sends[0].status, Status::Unknown);

    // The older unknown is next; then nothing is left to resolve.
    assert_eq!(lock.resolve("a", false, None, at).unwrap(), 0);
    assert_eq!(lock.sends[0].status, Status::Rejected);
    let err = lock.resolve("a", true, None, at).unwrap_err();
    assert_eq!(
        err,
        LockError::NotResolvable {
            key: "a".into(),
            status: Status::Rejected
        }
    );
    assert!(err.to_string().contains("a cannot be resolved"));
    assert!(err.to_string().contains("rejected"));

    let err = lock.resolve("b", true, None, at).unwrap_err();
    assert!(
        err.to_string()
            .contains("b cannot be resolved: its latest record is sent")
    );
    assert_eq!(
        lock.resolve("zzz", true, None, at),
        Err(LockError::UnknownKey { key: "zzz".into() })
    );
    assert_eq!(
        lock.resolve("c", false, Some("P".into()), at),
        Err(LockError::PushIdWithoutSent { key: "c".into() })
    );
    assert_eq!(lock.sends[4].status, Status::Sending);
    lock.resolve("c", true, None, at).unwrap();
    assert_eq!(lock.sends[4].status, Status::Sent);
    assert_eq!(lock.sends[4].push_id, None);
}

#[test]
fn accept_marks_the_latest_sent_or_unknown_record() {
    let at = ts("2026-12-05T09:00:00Z");
    let mut lock = lock_with(vec![
        record("a", Status::Sent, "d0", "2026-01-01T00:00:00Z"),
        record("a", Status::Sent, "d1", "2026-01-02T00:00:00Z"),
        record("a", Status::Rejected, "d2", "2026-01-03T00:00:00Z"),
        record("r", Status::Rejected, "d", "2026-01-01T00:00:00Z"),
        record("s", Status::Sending, "d", "2026-01-01T00:00:00Z"),
    ]);
    assert_eq!(
        lock.accept("a", "n1".into(), json!({"v": 1}).into(), at)
            .unwrap(),
        1
    );
    assert_eq!(
        lock.accept("a", "n2".into(), json!({"v": 2}).into(), at)
            .unwrap(),
        1
    );
    let accepted = lock.sends[1].accepted.as_ref().unwrap();
    assert_eq!((accepted.digest.as_str(), accepted.at), ("n2", at));
    assert_eq!(lock.sends[1].digest, "d1", "the sent digest stays as sent");
    assert!(lock.sends[0].accepted.is_none());

    let err = lock
        .accept("r", "n".into(), json!({}).into(), at)
        .unwrap_err();
    assert_eq!(
        err,
        LockError::NotAcceptable {
            key: "r".into(),
            status: Status::Rejected
        }
    );
    assert!(
        lock.accept("s", "n".into(), json!({}).into(), at)
            .unwrap_err()
            .to_string()
            .contains("s cannot be accepted: its latest record is sending")
    );
    assert!(matches!(
        lock.accept("nope", "n".into(), json!({}).into(), at),
        Err(LockError::UnknownKey { .. })
    ));
}

#[test]
fn index_precedence() {
    let t = "2026-01-01T00:00:00Z";
    let mut lock = lock_with(vec![
        record("rejected-then-sent", Status::Rejected, "r", t),
        record("rejected-then-sent", Status::Sent, "s", t),
        record("sent-then-unknown", Status::Sent, "s", t),
        record("sent-then-unknown", Status::Unknown, "u", t),
        record("all-rejected", Status::Rejected, "r1", t),
        record("all-rejected", Status::Rejected, "r2", t),
        record("accepted", Status::Sent, "s", t),
        record("only-sending", Status::Sending, "x", t),
        record("unknown-then-sent", Status::Unknown, "u", t),
        record("unknown-then-sent", Status::Sent, "s2", t),
        record("unknown-then-rejected", Status::Unknown, "u", t),
        record("unknown-then-rejected", Status::Rejected, "r", t),
        record("two-sent", Status::Sent, "old", t),
        record("two-sent", Status::Sent, "new", t),
        record("two-sent", Status::Rejected, "retry", t),
        record("accepted-unknown", Status::Unknown, "u", t),
        record("sent-unknown-rejected", Status::Sent, "s", t),
        record("sent-unknown-rejected", Status::Unknown, "u", t),
        record("sent-unknown-rejected", Status::Rejected, "r", t),
    ]);
    lock.accept("accepted", "acc".into(), json!({"a": 1}).into(), ts(t))
        .unwrap();
    lock.accept("accepted-unknown", "acc2".into(), json!({}).into(), ts(t))
        .unwrap();
    let index = LockIndex::new(&lock);
    let state = |key: &str| index.state(key).cloned();
    let digest_of = |key: &str| match index.state(key) {
        Some(KeyState::Sent { digest, .. }) => Some(*digest),
        _ => None,
    };
    assert_eq!(digest_of("rejected-then-sent"), Some("s"));
    assert_eq!(
        state("sent-then-unknown"),
        Some(KeyState::Unresolved {
            status: Status::Unknown
        })
    );
    assert_eq!(state("all-rejected"), Some(KeyState::AllRejected));
    assert_eq!(
        state("accepted"),
        Some(KeyState::Sent {
            digest: "acc",
            body: &json!({"a": 1}).into()
        })
    );
    assert_eq!(
        state("only-sending"),
        Some(KeyState::Unresolved {
            status: Status::Sending
        })
    );
    assert_eq!(digest_of("unknown-then-sent"), Some("s2"));
    // An unknown attempt is not cleared by a later rejection of another one.
    assert_eq!(
        state("unknown-then-rejected"),
        Some(KeyState::Unresolved {
            status: Status::Unknown
        })
    );
    assert_eq!(
        state("sent-unknown-rejected"),
        Some(KeyState::Unresolved {
            status: Status::Unknown
        })
    );
    assert_eq!(digest_of("two-sent"), Some("new"));
    assert_eq!(digest_of("accepted-unknown"), Some("acc2"));
    assert_eq!(index.state("never-sent"), None);
    assert_eq!(
        index.keys(),
        [
            "rejected-then-sent",
            "sent-then-unknown",
            "all-rejected",
            "accepted",
            "only-sending",
            "unknown-then-sent",
            "unknown-then-rejected",
            "two-sent",
            "accepted-unknown",
            "sent-unknown-rejected",
        ]
    );
}

#[test]
fn history_has_every_attempt_of_every_status_in_utc() {
    let lock = lock_with(vec![
        record("a", Status::Sent, "d", "2026-01-01T10:00:00+08:00"),
        record("b", Status::Rejected, "d", "2026-01-01T01:00:00Z"),
        record("c", Status::Unknown, "d", "2026-01-01T00:30:00Z"),
        record("d", Status::Sending, "d", "2026-01-01T03:00:00+00:00"),
        record("a", Status::Rejected, "d", "2026-01-01T04:00:00Z"),
    ]);
    let index = LockIndex::new(&lock);
    let history: Vec<String> = index
        .history()
        .iter()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .collect();
    assert_eq!(
        history,
        [
            "2026-01-01T00:30:00Z",
            "2026-01-01T01:00:00Z",
            "2026-01-01T02:00:00Z",
            "2026-01-01T03:00:00Z",
            "2026-01-01T04:00:00Z",
        ]
    );
}

#[test]
fn a_second_acquirer_is_refused_with_the_holders_info() {
    let (dir, first) = setup();
    let second = LockStore::new(dir.path().join("pushform.lock"));
    let holder = Holder {
        pid: 123,
        host: "x".into(),
        command: "pushform apply".into(),
        started: "2026-12-01T02:00:00Z".into(),
    };
    let guard = first.acquire(&holder, None).unwrap();
    let err = second
        .acquire(&Holder::current("pushform apply"), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the lockfile ".to_owned()
            + &first.path().display().to_string()
            + " is locked by pid 123 on host x (pushform apply, since \
               2026-12-01T02:00:00Z); another apply is running. Wait for it, \
               or pass --lock-timeout"
    );
    match err {
        AcquireError::Held {
            holder: Some(h),
            waited: None,
            ..
        } => assert_eq!(h, holder),
        other => panic!("expected Held with the holder, got {other:?}"),
    }
    // The lockfile itself is never locked: a reader needs no lock.
    assert!(second.load().unwrap().is_none());

    // A bounded wait that runs out says so.
    let started = Instant::now();
    let err = second
        .acquire(&Holder::current("t"), Some(Duration::from_millis(250)))
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert!(err.to_string().contains("stayed locked for 250ms"), "{err}");
    assert!(err.to_string().contains("a longer --lock-timeout"), "{err}");

    drop(guard);
    assert!(fs::read(first.held_path()).unwrap().is_empty());
    let me = Holder::current("pushform apply");
    let again = second.acquire(&me, None).unwrap();
    assert_eq!(read_holder(&second.held_path()), Some(me));
    drop(again);
    first.acquire(&holder, None).unwrap();
}

#[test]
fn a_waiting_acquirer_gets_the_lock_once_released() {
    let (dir, first) = setup();
    let second = LockStore::new(dir.path().join("pushform.lock"));
    let guard = first.acquire(&Holder::current("first"), None).unwrap();
    let (locked_tx, locked_rx) = mpsc::channel();
    let releaser = thread::spawn(move || {
        locked_tx.send(()).unwrap();
        thread::sleep(Duration::from_millis(100));
        drop(guard);
    });
    locked_rx.recv().unwrap();
    let started = Instant::now();
    let me = Holder::current("second");
    // A generous bound: under a loaded CI the releaser may sleep well past
    // its 100 ms; what matters is that the waiter gets the lock once freed.
    let guard = second.acquire(&me, Some(Duration::from_secs(20))).unwrap();
    assert!(started.elapsed() < Duration::from_secs(20));
    releaser.join().unwrap();
    assert_eq!(read_holder(&second.held_path()), Some(me));
    assert!(matches!(
        first.acquire(&Holder::current("third"), None),
        Err(AcquireError::Held { .. })
    ));
    drop(guard);
}

#[test]
fn holder_current_describes_this_process() {
    let h = Holder::current("pushform apply");
    assert_eq!(h.pid, std::process::id());
    assert_eq!(h.command, "pushform apply");
    assert!(!h.host.is_empty());
    assert!(DateTime::parse_from_rfc3339(&h.started).is_ok());
    assert!(h.started.ends_with('Z'));
}

#[test]
fn another_projects_records_count_in_the_history_but_are_no_unit_state() {
    // A shared scope: `welcome/en` of project `shop` is sent and `news` of `shop` is unresolved,
    // while this project's own `welcome/en` was rejected.
    let mut theirs = record("welcome/en", Status::Sent, "d1", "2026-01-01T10:00:00Z");
    theirs.project = Some("shop".to_owned());
    let mut unresolved = record("news", Status::Sending, "d2", "2026-01-01T11:00:00Z");
    unresolved.project = Some("shop".to_owned());
    let ours = record("welcome/en", Status::Rejected, "d3", "2026-01-01T09:00:00Z");
    let lock = lock_with(vec![ours, theirs, unresolved]);
    let index = LockIndex::new(&lock);
    assert_eq!(index.history().len(), 3);
    assert_eq!(index.state("welcome/en"), Some(&KeyState::AllRejected));
    assert_eq!(index.state("news"), None);
    assert_eq!(index.keys(), ["welcome/en"]);
}

#[test]
fn resolve_and_accept_never_take_another_projects_record() {
    let mut theirs = record("welcome/en", Status::Sending, "d1", "2026-01-01T10:00:00Z");
    theirs.project = Some("shop".to_owned());
    let mut lock = lock_with(vec![theirs.clone()]);
    let at = ts("2026-01-02T00:00:00Z");
    assert!(matches!(
        lock.resolve("welcome/en", true, None, at),
        Err(LockError::UnknownKey { .. })
    ));
    assert!(matches!(
        lock.accept(
            "welcome/en",
            "d9".to_owned(),
            serde_json::json!({}).into(),
            at
        ),
        Err(LockError::UnknownKey { .. })
    ));
    assert_eq!(lock.sends, [theirs]);
}

#[test]
fn the_project_tag_is_written_only_when_set_and_read_back() {
    let own = record("a", Status::Sent, "d", "2026-01-01T10:00:00Z");
    let mut theirs = own.clone();
    theirs.project = Some("shop".to_owned());
    let lock = lock_with(vec![own, theirs]);
    let json = to_pretty_json(&lock);
    assert_eq!(json.matches("\"project\"").count(), 1, "{json}");
    let back = parse_lock(Path::new("pushform.lock"), json.as_bytes()).unwrap();
    assert_eq!(back, lock);
}

#[test]
fn a_test_record_is_quota_history_and_test_evidence_never_a_sent_unit() {
    let mut test = record("sale", Status::Sent, "t1", "2026-11-26T15:00:00+08:00");
    test.kind = Some(RecordKind::Test);
    test.body = json!({"audience": {"userid": ["qa"], "is_to_all": false},
                       "notification": {"title": "Hi"}})
    .into();
    let mut unsettled = record("other", Status::Sending, "t2", "2026-11-26T15:10:00+08:00");
    unsettled.kind = Some(RecordKind::Test);
    let lock = lock_with(vec![test, unsettled]);
    let index = LockIndex::new(&lock);
    assert_eq!(index.state("sale"), None, "a test send made the unit sent");
    assert_eq!(index.state("other"), None, "a test send blocks the unit");
    assert!(index.keys().is_empty(), "test keys would show as gone");
    assert_eq!(index.history().len(), 2, "test sends use quota");
    let content = crate::body::content_digest(br#"{"notification":{"title":"Hi"}}"#).unwrap();
    assert_eq!(
        index.tested().get(&content),
        Some(&ts("2026-11-26T15:00:00+08:00"))
    );
    assert_eq!(index.tested().len(), 1, "only a sent test is evidence");
}

#[test]
fn records_without_the_environment_fields_read_and_write_as_before() {
    let lock = lock_with(vec![record(
        "k",
        Status::Sent,
        "d",
        "2026-11-26T15:00:00+08:00",
    )]);
    let text = to_pretty_json(&lock);
    for field in ["kind", "environment", "app_key_sha1", "rehearsal"] {
        assert!(!text.contains(field), "{field} written when absent");
    }
    let mut marked = lock.clone();
    marked.sends[0].kind = Some(RecordKind::Test);
    marked.sends[0].environment = Some("staging".into());
    marked.sends[0].app_key_sha1 = Some("ab".repeat(20));
    marked.sends[0].rehearsal = Some(true);
    let text = to_pretty_json(&marked);
    assert!(text.contains("\"kind\": \"test\""), "{text}");
    let back = parse_lock(Path::new("pushform.lock"), text.as_bytes()).unwrap();
    assert_eq!(back, marked);
}
