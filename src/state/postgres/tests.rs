//! Tests of the PostgreSQL state backend against a real server (see
//! `tests/cli/support/pg.rs`): each test takes a database of its own in the
//! shared cluster, except the one that restarts the server.

use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use serde_json::json;

use super::schema::MIGRATIONS;
use super::test_cluster::Cluster;
use super::write::bump_serial;
use super::{
    DEFAULT_URL_ENV, PgLockError, PgSettings, PgState, PgWriter, ScopeRead, ScopeState, SettleError,
};
use crate::state::{
    Accepted, Lock, LockIndex, Outcome, Record, RecordError, RecordKind, Status, to_pretty_json,
};

fn settings(scope: &str, project: &str) -> PgSettings {
    PgSettings {
        url_env: DEFAULT_URL_ENV.to_owned(),
        scope: scope.to_owned(),
        project: project.to_owned(),
    }
}

fn connect(url: &str, scope: &str, project: &str) -> PgState {
    PgState::connect_url(url, &settings(scope, project), "pushform test")
        .unwrap_or_else(|e| panic!("connect: {e:#}"))
}

fn at(text: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(text).expect("a test timestamp")
}

fn record(key: &str, attempted_at: &str, status: Status) -> Record {
    let (campaign, locale) = key.split_once('/').unwrap_or((key, ""));
    Record {
        endpoint: Some("http://127.0.0.1:1".to_owned()),
        ..Record::attempt(
            key.to_owned(),
            campaign.to_owned(),
            (!locale.is_empty()).then(|| locale.to_owned()),
            format!("digest-of-{key}"),
            json!({"notification": {"title": format!("Hi {key}"), "alert": "é ✓"}, "platform": ["ios"]}).into(),
            status,
            at(attempted_at),
        )
    }
}

/// A fresh database with the scope initialised; returns its superuser URL.
fn scope_db(name: &str, scope: &str) -> String {
    let url = Cluster::shared().create_database(name);
    connect(&url, scope, "setup")
        .init_scope()
        .expect("init the scope");
    url
}

fn found(read: ScopeRead) -> ScopeState {
    match read {
        ScopeRead::Found(state) => state,
        ScopeRead::Missing { warning } => panic!("scope missing: {warning}"),
    }
}

// ---------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------

#[test]
fn migrations_are_versioned_and_idempotent() {
    let url = Cluster::shared().create_database("migrate_idempotent");
    let mut state = connect(&url, "s", "p");
    assert_eq!(state.schema_version().unwrap(), None);
    assert_eq!(state.migrate().unwrap(), (None, 2));
    assert_eq!(state.schema_version().unwrap(), Some(2));
    assert_eq!(state.migrate().unwrap(), (Some(2), 2));
    let mut admin = Cluster::shared().admin("migrate_idempotent");
    let versions: Vec<i32> = admin
        .query("SELECT version FROM pushform_schema_version", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(versions, [1, 2]);
    for table in ["pushform_scopes", "pushform_records", "pushform_holders"] {
        let exists: bool = admin
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
            .unwrap()
            .get(0);
        assert!(exists, "{table} missing");
    }
}

#[test]
fn concurrent_migrators_wait_for_each_other() {
    // Without the migration lock, one CREATE TABLE of the two would fail.
    let url = Cluster::shared().create_database("migrate_concurrent");
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            thread::spawn(move || connect(&url, "s", "p").migrate().map(|(_, now)| now))
        })
        .collect();
    for run in runs {
        assert_eq!(run.join().unwrap().expect("migrate"), 2);
    }
    let count: i64 = Cluster::shared()
        .admin("migrate_concurrent")
        .query_one("SELECT count(*) FROM pushform_schema_version", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 2);
}

#[test]
fn a_newer_schema_is_refused() {
    let url = scope_db("migrate_newer", "s");
    Cluster::shared()
        .admin("migrate_newer")
        .execute(
            "INSERT INTO pushform_schema_version (version) VALUES (99)",
            &[],
        )
        .unwrap();
    let err = connect(&url, "s", "p").load_scope().unwrap_err();
    assert!(
        format!("{err:#}").contains("schema version 99, newer than the 2"),
        "{err:#}"
    );
    let err = connect(&url, "s", "p").lock_scope("t", None).unwrap_err();
    assert!(err.to_string().contains("upgrade pushform"), "{err}");
}

// ---------------------------------------------------------------------------
// No implicit history
// ---------------------------------------------------------------------------

#[test]
fn a_missing_scope_reads_empty_with_a_warning_and_refuses_writes() {
    let url = Cluster::shared().create_database("missing_scope");
    // No tables at all yet: a read creates nothing.
    match connect(&url, "team", "p").load_scope().unwrap() {
        ScopeRead::Missing { warning } => {
            assert!(warning.contains("no scope \"team\""), "{warning}");
            assert!(warning.contains("state init"), "{warning}");
        }
        ScopeRead::Found(state) => panic!("found {state:?}"),
    }
    assert_eq!(connect(&url, "team", "p").schema_version().unwrap(), None);

    // Tables, but not this scope: writes refuse and leave nothing behind.
    let mut writer = connect(&url, "team", "p").lock_scope("t", None).unwrap();
    assert!(matches!(
        writer.state().load_scope().unwrap(),
        ScopeRead::Missing { .. }
    ));
    let err = writer.load().unwrap_err();
    assert!(format!("{err:#}").contains("state init"), "{err:#}");
    let err = writer
        .insert_sending(&record(
            "a/en",
            "2026-12-01T10:00:00+08:00",
            Status::Sending,
        ))
        .unwrap_err();
    assert!(format!("{err:#}").contains("no scope \"team\""), "{err:#}");
    assert!(connect(&url, "team", "p").export_lock().is_err());
    let rows: i64 = Cluster::shared()
        .admin("missing_scope")
        .query_one("SELECT count(*) FROM pushform_records", &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, 0);

    // `state init` is explicit, and only once.
    let meta = connect(&url, "team", "p").init_scope().unwrap();
    assert_eq!(meta.serial, 0);
    let state = found(connect(&url, "team", "p").load_scope().unwrap());
    assert_eq!(state.meta, meta);
    assert!(state.records.is_empty());
    let err = connect(&url, "team", "p").init_scope().unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("already exists (lineage {})", meta.lineage)),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// One history for several projects
// ---------------------------------------------------------------------------

#[test]
fn two_projects_in_one_scope_share_one_history() {
    let url = scope_db("two_projects", "student-app");
    let mut marketing = connect(&url, "student-app", "marketing")
        .lock_scope("marketing apply", None)
        .unwrap();
    let first = marketing
        .insert_sending(&record(
            "sale/en",
            "2026-12-01T10:00:00+08:00",
            Status::Sending,
        ))
        .unwrap();
    marketing
        .settle(
            first,
            &Outcome::Sent {
                push_id: Some("push-1".to_owned()),
                request_id: None,
            },
        )
        .unwrap();
    marketing.unlock().unwrap();

    let mut product = connect(&url, "student-app", "product")
        .lock_scope("product apply", None)
        .unwrap();
    let second = product
        .insert_sending(&record(
            "release/de",
            "2026-12-01T11:00:00+08:00",
            Status::Sending,
        ))
        .unwrap();
    drop(product);

    // Another scope on the same server is another history.
    connect(&url, "other-app", "x").init_scope().unwrap();
    let mut other = connect(&url, "other-app", "x")
        .lock_scope("x", None)
        .unwrap();
    other
        .insert_sending(&record(
            "elsewhere",
            "2026-12-01T10:30:00+08:00",
            Status::Sending,
        ))
        .unwrap();

    // A third project reads every record of the scope, oldest first.
    let state = found(connect(&url, "student-app", "reader").load_scope().unwrap());
    let seen: Vec<(i64, &str, &str, Status)> = state
        .records
        .iter()
        .map(|r| {
            (
                r.id,
                r.project.as_str(),
                r.record.key.as_str(),
                r.record.status,
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (first, "marketing", "sale/en", Status::Sent),
            (second, "product", "release/de", Status::Sending),
        ]
    );
    assert_eq!(state.meta.serial, 3, "two inserts and a settle");
    let lock = state.to_lock();
    assert_eq!(lock.sends.len(), 2);
    assert_eq!(lock.sends[0].push_id.as_deref(), Some("push-1"));
}

// ---------------------------------------------------------------------------
// The writer's lock
// ---------------------------------------------------------------------------

#[test]
fn a_second_writer_fails_at_once_naming_the_holder_until_the_first_session_dies() {
    let url = scope_db("two_writers", "s");
    let note = "pushform apply, pid 4242 on host ci-runner-7";
    let mut first = connect(&url, "s", "a").lock_scope(note, None).unwrap();
    let first_pid = first.state().backend_pid().unwrap();

    let started = Instant::now();
    let err = connect(&url, "s", "b")
        .lock_scope("second", None)
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "not at once");
    match &err {
        PgLockError::Held {
            scope,
            holder: Some(holder),
            waited: None,
        } => {
            assert_eq!(scope, "s");
            assert_eq!(holder.backend_pid, first_pid);
            assert_eq!(holder.note.as_deref(), Some(note));
        }
        other => panic!("expected Held with its holder, got {other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&format!("backend pid {first_pid}")),
        "{message}"
    );
    assert!(message.contains(note), "{message}");
    assert!(message.contains("--lock-timeout"), "{message}");

    // Waiting gives up after the timeout, and says it waited.
    let started = Instant::now();
    let err = connect(&url, "s", "b")
        .lock_scope("second", Some(Duration::from_millis(400)))
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(
        matches!(
            &err,
            PgLockError::Held {
                waited: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("stayed locked for"), "{err}");

    // The first session dies (its connection killed, as a dead runner's
    // would time out): the server frees the lock, a waiting writer gets it.
    let waiter = {
        let url = url.clone();
        thread::spawn(move || {
            connect(&url, "s", "b")
                .lock_scope("second", Some(Duration::from_secs(20)))
                .map(|mut w| w.state().backend_pid().unwrap())
        })
    };
    thread::sleep(Duration::from_millis(300));
    let killed: bool = Cluster::shared()
        .admin("two_writers")
        .query_one("SELECT pg_terminate_backend($1)", &[&first_pid])
        .unwrap()
        .get(0);
    assert!(killed);
    let second_pid = waiter
        .join()
        .unwrap()
        .expect("the lock is free once its session died");
    assert_ne!(second_pid, first_pid);

    // And the dead writer can write nothing any more.
    let err = first
        .insert_sending(&record("a", "2026-12-01T10:00:00Z", Status::Sending))
        .unwrap_err();
    assert!(format!("{err:#}").contains("cannot"), "{err:#}");
}

/// A session of database `db` that takes advisory lock `key` outside pushform, then, 150 ms
/// later, does `then` with it, and keeps its session 3 s more. Returns once the lock is held.
fn raw_holder(
    db: &'static str,
    key: i64,
    then: impl FnOnce(&mut postgres::Client) + Send + 'static,
) -> thread::JoinHandle<()> {
    let (locked, holding) = std::sync::mpsc::channel();
    let holder = thread::spawn(move || {
        let mut raw = Cluster::shared().admin(db);
        raw.query_one("SELECT pg_advisory_lock($1)", &[&key])
            .unwrap();
        locked.send(()).unwrap();
        thread::sleep(Duration::from_millis(150));
        then(&mut raw);
        thread::sleep(Duration::from_secs(3));
    });
    holding.recv().unwrap();
    holder
}

/// A refused writer looks for the holder with a second query; the holder may
/// have taken the lock but not yet written its note, or released the lock in
/// between. The first is waited for (the refusal says who holds it), the
/// second is a free lock (taken, not refused).
#[test]
fn a_refused_writer_waits_for_the_holders_note_and_takes_a_lock_freed_meanwhile() {
    let url = scope_db("refusal_races", "s");
    let key = super::lock::scope_key("s");
    // A holder that has the lock and writes its note a moment later.
    let second = connect(&url, "s", "b");
    let holder = raw_holder("refusal_races", key, |raw| {
        raw.execute(
            "INSERT INTO pushform_holders (scope, backend_pid, holder, since)
             VALUES ('s', pg_backend_pid(), 'late note', now())",
            &[],
        )
        .unwrap();
    });
    match second.lock_scope("second", None) {
        Err(PgLockError::Held {
            holder: Some(holder),
            ..
        }) => assert_eq!(holder.note.as_deref(), Some("late note")),
        Err(other) => panic!("expected the holder with its note, got {other:?}"),
        Ok(_) => panic!("the lock was held"),
    }
    holder.join().unwrap();

    // A holder that releases the lock while the refused writer looks for it.
    let second = connect(&url, "s", "b");
    let holder = raw_holder("refusal_races", key, move |raw| {
        raw.query_one("SELECT pg_advisory_unlock($1)", &[&key])
            .unwrap();
    });
    second
        .lock_scope("second", None)
        .expect("the lock was freed before the refusal was written: it is taken");
    holder.join().unwrap();
}

#[test]
fn unlock_frees_the_scope_for_the_next_writer() {
    let url = scope_db("unlock", "s");
    let first = connect(&url, "s", "a").lock_scope("first", None).unwrap();
    assert!(connect(&url, "s", "b").lock_scope("b", None).is_err());
    let mut state = first.unlock().unwrap();
    assert!(found(state.load_scope().unwrap()).records.is_empty());
    let holders: i64 = Cluster::shared()
        .admin("unlock")
        .query_one("SELECT count(*) FROM pushform_holders", &[])
        .unwrap()
        .get(0);
    assert_eq!(holders, 0, "the holder row goes with the lock");
    connect(&url, "s", "b")
        .lock_scope("b", None)
        .expect("free again");
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

#[test]
fn insert_sending_is_committed_before_it_returns() {
    let url = scope_db("durable", "s");
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let sending = record("sale/en", "2026-12-01T10:00:01+08:00", Status::Sending);
    let id = writer.insert_sending(&sending).unwrap();
    // The writer does nothing more (no commit to come): another session must
    // already see the row, or a crash now would lose it.
    let mut other = Cluster::shared().admin("durable");
    let row = other
        .query_one(
            "SELECT project, key, status, body, body_json::text, attempted_offset
               FROM pushform_records WHERE id = $1",
            &[&id],
        )
        .expect("the sending row is visible from another session");
    assert_eq!(row.get::<_, &str>(0), "p");
    assert_eq!(row.get::<_, &str>(1), "sale/en");
    assert_eq!(row.get::<_, &str>(2), "sending");
    assert_eq!(
        row.get::<_, &str>(3),
        r#"{"notification":{"alert":"é ✓","title":"Hi sale/en"},"platform":["ios"]}"#
    );
    assert!(row.get::<_, &str>(4).contains("\"platform\": [\"ios\"]"));
    assert_eq!(row.get::<_, i32>(5), 8 * 3600);
    let seen = found(connect(&url, "s", "reader").load_scope().unwrap());
    assert_eq!(seen.records[0].record, sending);
}

#[test]
fn settle_changes_only_a_sending_row() {
    let url = scope_db("settle", "s");
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let sent = writer
        .insert_sending(&record("a", "2026-12-01T10:00:00+08:00", Status::Sending))
        .unwrap();
    let rejected = writer
        .insert_sending(&record("b", "2026-12-01T11:00:00+08:00", Status::Sending))
        .unwrap();
    let unknown = writer
        .insert_sending(&record("c", "2026-12-01T12:00:00+08:00", Status::Sending))
        .unwrap();
    writer
        .settle(
            sent,
            &Outcome::Sent {
                push_id: Some("p1".to_owned()),
                request_id: Some("r1".to_owned()),
            },
        )
        .unwrap();
    writer
        .settle(
            rejected,
            &Outcome::Rejected {
                request_id: Some("r2".to_owned()),
                error: RecordError {
                    code: 1008,
                    message: "quota".to_owned(),
                },
            },
        )
        .unwrap();
    writer
        .settle(
            unknown,
            &Outcome::Unknown {
                request_id: None,
                error: None,
            },
        )
        .unwrap();
    let before = writer.load().unwrap();
    let statuses: Vec<Status> = before.records.iter().map(|r| r.record.status).collect();
    assert_eq!(statuses, [Status::Sent, Status::Rejected, Status::Unknown]);
    assert_eq!(before.records[0].record.push_id.as_deref(), Some("p1"));
    assert_eq!(before.records[0].record.request_id.as_deref(), Some("r1"));
    assert_eq!(
        before.records[1].record.error,
        Some(RecordError {
            code: 1008,
            message: "quota".to_owned()
        })
    );
    assert_eq!(before.records[2].record.error, None);

    // An outcome is never rewritten, and a refused settle changes nothing.
    let err = writer
        .settle(
            sent,
            &Outcome::Rejected {
                request_id: None,
                error: RecordError {
                    code: 1,
                    message: "x".to_owned(),
                },
            },
        )
        .unwrap_err();
    assert!(
        matches!(&err, SettleError::NotSending { id, status: Status::Sent, key } if *id == sent && key == "a"),
        "{err:?}"
    );
    assert!(err.to_string().contains("is sent, not sending"), "{err}");
    let err = writer
        .settle(
            999_999,
            &Outcome::Unknown {
                request_id: None,
                error: None,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, SettleError::NoSuchRecord { id: 999_999, .. }),
        "{err:?}"
    );
    assert_eq!(
        writer.load().unwrap(),
        before,
        "nothing changed, serial included"
    );
}

#[test]
fn a_record_of_another_scope_cannot_be_settled() {
    let url = scope_db("settle_scope", "s");
    connect(&url, "t", "p").init_scope().unwrap();
    let mut in_t = connect(&url, "t", "p").lock_scope("t", None).unwrap();
    let id = in_t
        .insert_sending(&record("a", "2026-12-01T10:00:00Z", Status::Sending))
        .unwrap();
    let mut in_s = connect(&url, "s", "p").lock_scope("s", None).unwrap();
    let err = in_s
        .settle(
            id,
            &Outcome::Sent {
                push_id: None,
                request_id: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, SettleError::NoSuchRecord { .. }), "{err:?}");
    assert_eq!(
        in_t.load().unwrap().records[0].record.status,
        Status::Sending
    );
}

#[test]
fn a_server_restart_between_sending_and_settle_leaves_sending() {
    // A cluster of its own: the restart cuts every session.
    let cluster = Cluster::start();
    let url = cluster.create_database("restart");
    connect(&url, "s", "p").init_scope().unwrap();
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let id = writer
        .insert_sending(&record(
            "a/en",
            "2026-12-01T10:00:00+08:00",
            Status::Sending,
        ))
        .unwrap();
    // As a crash would: no shutdown checkpoint, the WAL is replayed.
    cluster.restart(true);
    let err = writer
        .settle(
            id,
            &Outcome::Sent {
                push_id: Some("lost".to_owned()),
                request_id: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, SettleError::Db(_)), "{err:?}");
    drop(writer);

    let mut reader = connect(&url, "s", "p");
    let state = found(reader.load_scope().unwrap());
    assert_eq!(state.records.len(), 1);
    assert_eq!(state.records[0].record.status, Status::Sending);
    assert_eq!(state.records[0].record.push_id, None);
    // The dead session's lock went with the restart.
    reader
        .lock_scope("next apply", None)
        .expect("lock free after restart");
}

#[test]
fn write_lock_runs_the_lockfile_loop_of_the_commands() {
    let url = scope_db("write_lock", "s");
    // Another project's records first, one of them with the same key as
    // ours: a key is a unit of one repository.
    let mut other = connect(&url, "s", "other")
        .lock_scope("other", None)
        .unwrap();
    let theirs = record("sale/en", "2026-11-30T10:00:00Z", Status::Sending);
    other.insert_sending(&theirs).unwrap();
    drop(other);

    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let scope = writer.load().unwrap();
    assert_eq!(
        scope.history().len(),
        1,
        "their attempt counts in our quota"
    );
    let mut lock = scope.project_lock("p");
    assert!(lock.sends.is_empty(), "their sale/en is not ours");
    assert_eq!(lock.serial, 1);
    let sale = lock.append(record(
        "sale/en",
        "2026-12-01T10:00:00+08:00",
        Status::Sending,
    ));
    let ids = writer.write_lock(&mut lock).unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(lock.serial, 2);
    let status: String = Cluster::shared()
        .admin("write_lock")
        .query_one(
            "SELECT status FROM pushform_records WHERE id = $1",
            &[&ids[0]],
        )
        .unwrap()
        .get(0);
    assert_eq!(status, "sending", "committed before the POST");

    lock.settle(
        sale,
        Outcome::Sent {
            push_id: Some("p1".to_owned()),
            request_id: None,
        },
    )
    .unwrap();
    let lost = lock.append(record(
        "lost/en",
        "2026-12-01T11:00:00+08:00",
        Status::Sending,
    ));
    writer.write_lock(&mut lock).unwrap();
    lock.settle(
        lost,
        Outcome::Unknown {
            request_id: Some("r".to_owned()),
            error: Some(RecordError {
                code: -1,
                message: "timeout".to_owned(),
            }),
        },
    )
    .unwrap();
    writer.write_lock(&mut lock).unwrap();
    lock.resolve(
        "lost/en",
        true,
        Some("p2".to_owned()),
        at("2026-12-02T09:00:00+08:00"),
    )
    .unwrap();
    lock.accept(
        "sale/en",
        "d2".to_owned(),
        json!({"x": 1}).into(),
        at("2026-12-02T10:00:00Z"),
    )
    .unwrap();
    writer.write_lock(&mut lock).unwrap();

    let state = found(connect(&url, "s", "reader").load_scope().unwrap());
    assert_eq!(
        state.project_lock("p"),
        lock,
        "the database holds what the commands wrote"
    );
    assert_eq!(
        state.project_lock("other").sends,
        [theirs],
        "theirs untouched"
    );
    let owners: Vec<&str> = state.records.iter().map(|r| r.project.as_str()).collect();
    assert_eq!(owners, ["other", "p", "p"]);
    assert_eq!(state.meta.serial, 5, "one insert and four writes");
    assert_eq!(
        state.history(),
        [
            at("2026-11-30T10:00:00Z"),
            at("2026-12-01T10:00:00+08:00"),
            at("2026-12-01T11:00:00+08:00")
        ]
    );
}

#[test]
fn write_lock_removes_settled_rehearsal_records_and_nothing_else() {
    let url = scope_db("write_lock_rehearsals", "s");
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let mut lock = writer.load().unwrap().project_lock("p");
    let mut rehearsed = record("a", "2026-12-01T09:00:00Z", Status::Sent);
    rehearsed.rehearsal = Some(true);
    lock.append(rehearsed);
    let mut open = record("b", "2026-12-01T09:30:00Z", Status::Unknown);
    open.rehearsal = Some(true);
    lock.append(open);
    lock.append(record("c", "2026-12-01T10:00:00Z", Status::Sent));
    writer.write_lock(&mut lock).unwrap();

    // An unresolved rehearsal is not forgotten: it may have reached someone.
    let mut all_gone = lock.clone();
    all_gone.sends.retain(|r| !r.is_rehearsal());
    let err = writer.write_lock(&mut all_gone).unwrap_err();
    assert!(
        format!("{err:#}").contains("(b) is a rehearsal still `unknown`"),
        "{err:#}"
    );
    // A real send is never removed.
    let mut real_gone = lock.clone();
    real_gone.sends.retain(|r| r.key != "c");
    let err = writer.write_lock(&mut real_gone).unwrap_err();
    assert!(
        format!("{err:#}").contains("records are never removed"),
        "{err:#}"
    );

    // `state forget-rehearsals` once the open one is settled: the settled rehearsal goes, in
    // the same write that appends a new record.
    let mut forgot = lock.clone();
    forgot.sends.retain(|r| r.key != "a");
    forgot.append(record("d", "2026-12-01T11:00:00Z", Status::Sent));
    writer.write_lock(&mut forgot).unwrap();
    let keys: Vec<String> = writer
        .load()
        .unwrap()
        .project_lock("p")
        .sends
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, ["b", "c", "d"]);
}

#[test]
fn write_lock_refuses_what_the_lockfile_rules_forbid() {
    let url = scope_db("write_lock_refused", "s");
    let mut q = connect(&url, "s", "q").lock_scope("q", None).unwrap();
    q.insert_sending(&record("b", "2026-12-01T09:00:00Z", Status::Sending))
        .unwrap();
    drop(q);
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let mut lock = writer.load().unwrap().project_lock("p");
    let sent = lock.append(record("a", "2026-12-01T10:00:00Z", Status::Sending));
    lock.settle(
        sent,
        Outcome::Sent {
            push_id: Some("p".to_owned()),
            request_id: None,
        },
    )
    .unwrap();
    writer.write_lock(&mut lock).unwrap();
    let before = writer.load().unwrap();

    let refused = |lock: &mut Lock, writer: &mut PgWriter, expected: &str| {
        let err = writer.write_lock(lock).unwrap_err();
        assert!(format!("{err:#}").contains(expected), "{err:#}");
    };
    let mut rewritten = lock.clone();
    rewritten.sends[0].status = Status::Rejected;
    refused(&mut rewritten, &mut writer, "would rewrite its outcome");
    let mut other_body = lock.clone();
    other_body.sends[0].body = json!({"other": true}).into();
    refused(&mut other_body, &mut writer, "would become another attempt");
    let mut fewer = lock.clone();
    fewer.sends.clear();
    refused(&mut fewer, &mut writer, "records are never removed");
    let mut stale = lock.clone();
    stale.serial -= 1;
    refused(&mut stale, &mut writer, "it changed since it was loaded");
    let mut replaced = lock.clone();
    replaced.lineage = "another".to_owned();
    refused(&mut replaced, &mut writer, "it holds lineage");
    // The whole scope where the project's records belong: another project's
    // record would be copied as ours.
    let mut whole = writer.load().unwrap().to_lock();
    refused(
        &mut whole,
        &mut writer,
        "include record #1 of project \"q\"",
    );
    assert_eq!(writer.load().unwrap(), before, "nothing written");
    assert_eq!(rewritten.serial, lock.serial, "serial untouched on refusal");
}

#[test]
fn a_writer_cut_off_between_sending_and_settle_leaves_sending() {
    let url = scope_db("terminated_mid_send", "s");
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let pid = writer.state().backend_pid().unwrap();
    let id = writer
        .insert_sending(&record(
            "a/en",
            "2026-12-01T10:00:00+08:00",
            Status::Sending,
        ))
        .unwrap();
    // The POST would go out here; then the database connection is cut.
    let mut admin = Cluster::shared().admin("terminated_mid_send");
    assert!(
        admin
            .query_one("SELECT pg_terminate_backend($1)", &[&pid])
            .unwrap()
            .get::<_, bool>(0)
    );
    let err = writer
        .settle(
            id,
            &Outcome::Sent {
                push_id: Some("p".to_owned()),
                request_id: None,
            },
        )
        .unwrap_err();
    assert!(matches!(err, SettleError::Db(_)), "{err:?}");
    let state = found(connect(&url, "s", "p").load_scope().unwrap());
    assert_eq!(state.records.len(), 1);
    assert_eq!(state.records[0].record.status, Status::Sending);
    connect(&url, "s", "p")
        .lock_scope("next", Some(Duration::from_secs(10)))
        .expect("the cut session's lock is gone");
}

#[test]
fn racing_writers_record_each_unit_once() {
    // Each writer does what apply does for every unit: take the lock, load,
    // skip a unit that has a record, else record it sending and settle it.
    let url = scope_db("racing_writers", "s");
    let units: Vec<String> = (0..6).map(|i| format!("unit-{i}/en")).collect();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (url, units) = (url.clone(), units.clone());
            thread::spawn(move || {
                let mut sent = 0;
                for unit in &units {
                    let mut writer = connect(&url, "s", &format!("project-{w}"))
                        .lock_scope(&format!("writer {w}"), Some(Duration::from_secs(30)))
                        .expect("the lock comes free");
                    let state = writer.load().unwrap();
                    if state.records.iter().any(|r| &r.record.key == unit) {
                        continue;
                    }
                    let id = writer
                        .insert_sending(&record(unit, "2026-12-01T10:00:00Z", Status::Sending))
                        .unwrap();
                    writer
                        .settle(
                            id,
                            &Outcome::Sent {
                                push_id: Some(format!("{w}-{unit}")),
                                request_id: None,
                            },
                        )
                        .unwrap();
                    sent += 1;
                    writer.unlock().unwrap();
                }
                sent
            })
        })
        .collect();
    let total: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(total, units.len(), "every unit sent exactly once");
    let state = found(connect(&url, "s", "reader").load_scope().unwrap());
    let mut keys: Vec<&str> = state
        .records
        .iter()
        .map(|r| r.record.key.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, units.iter().map(String::as_str).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------
// state push / pull
// ---------------------------------------------------------------------------

fn sample_lock() -> Lock {
    let mut sent = record(
        "winter-sale-2026/en",
        "2026-12-01T10:00:01+08:00",
        Status::Sent,
    );
    sent.push_id = Some("50whSR6kQiHb7YgFwQzXIb".to_owned());
    sent.request_id = Some("req-1".to_owned());
    sent.accepted = Some(Accepted {
        digest: "new-digest".to_owned(),
        body: json!({"b": [1, 2.5, {"z": null, "a": true}], "a": "x"}).into(),
        at: at("2026-12-02T09:00:00-05:30"),
    });
    let mut rejected = record(
        "winter-sale-2026/de",
        "2026-12-01T11:00:00Z",
        Status::Rejected,
    );
    rejected.error = Some(RecordError {
        code: 1008,
        message: "rate limited".to_owned(),
    });
    let mut resolved = record("old-campaign", "2026-11-30T23:59:59+14:00", Status::Sent);
    resolved.locale = None;
    resolved.source = Some("resolve".to_owned());
    resolved.resolved_at = Some(at("2026-12-01T08:00:00+01:00"));
    resolved.error = Some(RecordError {
        code: -1,
        message: "connection reset".to_owned(),
    });
    resolved.endpoint = None;
    let mut imported = record("imported/fr", "2026-10-01T12:00:00+02:00", Status::Sent);
    imported.source = Some("import".to_owned());
    // Every field of environments and test sends, and each absent and present value
    // distinguished: `kind: send` is not an absent kind, `rehearsal: false` not an absent mark.
    sent.kind = Some(RecordKind::Send);
    sent.environment = Some("production".to_owned());
    sent.app_key_sha1 = Some("ab".repeat(20));
    sent.rehearsal = Some(false);
    let mut tested = record(
        "winter-sale-2026/en",
        "2026-11-30T09:00:00+01:00",
        Status::Sent,
    );
    tested.kind = Some(RecordKind::Test);
    tested.environment = Some("staging".to_owned());
    tested.app_key_sha1 = Some("cd".repeat(20));
    tested.rehearsal = Some(true);
    tested.push_id = Some("test-push".to_owned());
    let sending = record(
        "winter-sale-2026/fr",
        "2026-12-01T12:00:00+08:00",
        Status::Sending,
    );
    Lock {
        format_version: 1,
        lineage: "5c8e7a1e-0000-4000-8000-000000000001".to_owned(),
        serial: 17,
        sends: vec![imported, tested, sent, rejected, resolved, sending],
    }
}

#[test]
fn a_pushed_lockfile_pulls_back_identical() {
    let url = Cluster::shared().create_database("push_pull");
    let lock = sample_lock();
    // Into a scope that does not exist yet: `state push` creates it.
    let mut writer = connect(&url, "s", "p")
        .lock_scope("state push", None)
        .unwrap();
    writer.import_lock(&lock).unwrap();
    drop(writer);
    let pulled = connect(&url, "s", "p").export_lock().unwrap();
    assert_eq!(pulled, lock);
    assert_eq!(to_pretty_json(&pulled), to_pretty_json(&lock));
    let state = found(connect(&url, "s", "other").load_scope().unwrap());
    assert!(state.records.iter().all(|r| r.project == "p"));
    // Pulled by another project, every record names its project `p`, and pushed again (by
    // that other project, into a new scope) each goes back to `p`.
    let theirs = connect(&url, "s", "other").export_lock().unwrap();
    assert!(
        theirs
            .sends
            .iter()
            .all(|r| r.project.as_deref() == Some("p"))
    );
    let mut writer = connect(&url, "t", "other")
        .lock_scope("state push", None)
        .unwrap();
    writer.import_lock(&theirs).unwrap();
    drop(writer);
    assert_eq!(connect(&url, "t", "p").export_lock().unwrap(), lock);

    // Into an empty initialised scope: it takes the lockfile's lineage.
    let url = scope_db("push_into_empty", "s");
    let mut writer = connect(&url, "s", "p")
        .lock_scope("state push", None)
        .unwrap();
    writer.import_lock(&lock).unwrap();
    assert_eq!(writer.state().export_lock().unwrap(), lock);
    // Writes after it carry on from its serial.
    writer
        .insert_sending(&record("next", "2026-12-03T10:00:00Z", Status::Sending))
        .unwrap();
    assert_eq!(writer.load().unwrap().meta.serial, 18);
}

#[test]
fn a_push_over_existing_records_is_refused() {
    let url = scope_db("push_refused", "s");
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    writer
        .insert_sending(&record("a", "2026-12-01T10:00:00Z", Status::Sending))
        .unwrap();
    let before = writer.load().unwrap();

    let err = writer.import_lock(&sample_lock()).unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("another history"), "{message}");
    assert!(message.contains(&before.meta.lineage), "{message}");

    let mut same_lineage = sample_lock();
    same_lineage.lineage.clone_from(&before.meta.lineage);
    let err = writer.import_lock(&same_lineage).unwrap_err();
    assert!(
        format!("{err:#}").contains("already holds 1 records"),
        "{err:#}"
    );

    let mut future = sample_lock();
    future.format_version = 2;
    assert!(writer.import_lock(&future).is_err());
    assert_eq!(writer.load().unwrap(), before, "nothing written");
}

// ---------------------------------------------------------------------------
// Permissions and connections
// ---------------------------------------------------------------------------

#[test]
fn reading_needs_only_select() {
    let url = scope_db("select_only", "s");
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    writer
        .insert_sending(&record("a", "2026-12-01T10:00:00Z", Status::Sending))
        .unwrap();
    drop(writer);
    let mut admin = Cluster::shared().admin("select_only");
    admin
        .batch_execute(
            "DROP ROLE IF EXISTS pushform_plan_reader;
             CREATE ROLE pushform_plan_reader LOGIN PASSWORD 'reader-secret';
             GRANT SELECT ON pushform_schema_version, pushform_scopes, pushform_records
                TO pushform_plan_reader;",
        )
        .unwrap();
    let reader_url =
        Cluster::shared().url_for("pushform_plan_reader", "reader-secret", "select_only");
    let state = found(connect(&reader_url, "s", "plan").load_scope().unwrap());
    assert_eq!(state.records.len(), 1);
    assert_eq!(
        connect(&reader_url, "s", "plan").migrate().unwrap(),
        (Some(2), 2)
    );
    // Writing is not for this role.
    let err = connect(&reader_url, "s", "plan")
        .lock_scope("apply", None)
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[test]
fn writing_needs_only_the_documented_grants() {
    let url = scope_db("writer_grants", "s");
    connect(&url, "s", "p").migrate().unwrap();
    Cluster::shared()
        .admin("writer_grants")
        .batch_execute(
            "DROP ROLE IF EXISTS pushform_apply_writer;
             CREATE ROLE pushform_apply_writer LOGIN PASSWORD 'writer-secret';
             GRANT SELECT ON pushform_schema_version TO pushform_apply_writer;
             GRANT SELECT, INSERT, UPDATE ON pushform_scopes, pushform_records
                TO pushform_apply_writer;
             GRANT SELECT, INSERT, UPDATE, DELETE ON pushform_holders TO pushform_apply_writer;",
        )
        .unwrap();
    let writer_url =
        Cluster::shared().url_for("pushform_apply_writer", "writer-secret", "writer_grants");
    let mut writer = connect(&writer_url, "s", "ci")
        .lock_scope("apply", None)
        .unwrap();
    let id = writer
        .insert_sending(&record("a", "2026-12-01T10:00:00Z", Status::Sending))
        .unwrap();
    writer
        .settle(
            id,
            &Outcome::Sent {
                push_id: None,
                request_id: None,
            },
        )
        .unwrap();
    let mut lock = writer.load().unwrap().project_lock("ci");
    lock.append(record("b", "2026-12-01T11:00:00Z", Status::Sending));
    writer.write_lock(&mut lock).unwrap();
    let mut state = writer.unlock().unwrap();
    assert_eq!(found(state.load_scope().unwrap()).records.len(), 2);
    // Creating a scope is a write too, but not a schema change.
    let mut other = connect(&writer_url, "t", "ci");
    other.init_scope().unwrap();
}

#[test]
fn connection_errors_never_show_the_password() {
    let cluster = Cluster::shared();
    let secret = "S3cr3t-p@ss/w:rd";
    let encoded = "S3cr3t-p%40ss%2Fw%3Ard";
    let cases = [
        // The server refuses the password.
        format!(
            "postgresql://postgres:{encoded}@127.0.0.1:{}/postgres",
            cluster.port()
        ),
        // Nobody listens.
        format!("postgres://postgres:{encoded}@127.0.0.1:1/postgres"),
        // The keyword form.
        format!(
            "host=127.0.0.1 port={} user=postgres password='{secret}' dbname=postgres",
            cluster.port()
        ),
        // A password in the query string, and an option the driver refuses.
        format!(
            "postgresql://127.0.0.1:{}/postgres?user=postgres&password={encoded}&nonsense=1",
            cluster.port()
        ),
    ];
    for url in &cases {
        let err = PgState::connect_url(url, &settings("s", "p"), "t").unwrap_err();
        let message = format!("{err:#} {err:?}");
        assert!(!message.contains(secret), "{message}");
        assert!(!message.contains(encoded), "{message}");
        assert!(message.contains("***"), "{message}");
    }
    let err = PgState::connect_url(&cases[0], &settings("s", "p"), "t").unwrap_err();
    assert!(
        format!("{err:#}").contains("password authentication failed"),
        "{err:#}"
    );
    let err = PgState::connect_url(&cases[3], &settings("s", "p"), "t").unwrap_err();
    assert!(
        format!("{err:#}").contains("unknown option `nonsense`"),
        "{err:#}"
    );
}

#[test]
fn connect_names_the_variable_it_reads() {
    // Setting a variable needs `unsafe` in edition 2024 (and this crate
    // forbids it), so only an unset one is tried here; the CLI tests set it
    // on the child process.
    let name = "PUSHFORM_TEST_PG_URL_NEVER_SET";
    let mut config = settings("s", "p");
    config.url_env = name.to_owned();
    let err = PgState::connect(&config, "t").unwrap_err();
    assert!(err.to_string().contains(name), "{err}");
    assert!(err.to_string().contains("state.url_env"), "{err}");
    let url = Cluster::shared().url("postgres");
    let err = PgState::connect_url(&url, &settings(" ", "p"), "t").unwrap_err();
    assert!(err.to_string().contains("state.scope is empty"), "{err}");
    let err = PgState::connect_url(&url, &settings("s", ""), "t").unwrap_err();
    assert!(err.to_string().contains("state.project is empty"), "{err}");
    let url = Cluster::shared().create_database("shown_url");
    let mut state = connect(&url, "s", "p");
    assert!(state.backend_pid().unwrap() > 0);
    assert!(
        state.shown_url().contains("postgres:***@127.0.0.1"),
        "{}",
        state.shown_url()
    );
    assert!(!state.shown_url().contains(Cluster::shared().password()));
}

fn session_uses_tls(state: &mut PgState) -> bool {
    state
        .client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0)
}

#[test]
fn tls_is_used_and_verified() {
    let cluster = Cluster::shared();
    let ca = cluster.enable_tls();
    cluster.create_database("tls");
    let base = cluster.url("tls");
    let with_ca = format!("{base}?sslmode=verify-full&sslrootcert={}", ca.display());
    assert!(session_uses_tls(&mut connect(&with_ca, "s", "p")));
    let by_name = format!(
        "host=localhost port={} user=postgres password={} dbname=tls sslmode=require sslrootcert={}",
        cluster.port(),
        cluster.password(),
        ca.display()
    );
    assert!(session_uses_tls(&mut connect(&by_name, "s", "p")));

    // The Mozilla roots do not know the test CA: the certificate is refused.
    let err = PgState::connect_url(&format!("{base}?sslmode=require"), &settings("s", "p"), "t")
        .unwrap_err();
    let message = format!("{err:#}");
    assert!(message.contains("invalid peer certificate"), "{message}");
    assert!(message.contains("sslrootcert=PATH"), "{message}");
    assert!(!message.contains(cluster.password()), "{message}");

    // Loopback without sslmode: plain, even though the server offers TLS.
    assert!(!session_uses_tls(&mut connect(&base, "s", "p")));
}

#[test]
fn a_sending_record_takes_the_endpoint_of_its_outcome_and_keeps_it() {
    let url = scope_db("endpoint", "s");
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let mut lock = writer.load().unwrap().project_lock("p");
    let mut sending = record("a", "2026-12-01T10:00:00Z", Status::Sending);
    // As apply writes it: the endpoint is not known before the POST.
    sending.endpoint = None;
    let index = lock.append(sending);
    writer.write_lock(&mut lock).unwrap();
    lock.settle(
        index,
        Outcome::Sent {
            push_id: Some("p1".to_owned()),
            request_id: Some("r1".to_owned()),
        },
    )
    .unwrap();
    lock.sends[index].endpoint = Some("http://127.0.0.1:2".to_owned());
    writer.write_lock(&mut lock).unwrap();
    assert_eq!(writer.load().unwrap().project_lock("p"), lock);
    // Once it has an outcome, the endpoint is part of the attempt.
    let mut moved = lock.clone();
    moved.sends[index].endpoint = Some("http://127.0.0.1:3".to_owned());
    let err = writer.write_lock(&mut moved).unwrap_err();
    assert!(
        format!("{err:#}").contains("would become another attempt"),
        "{err:#}"
    );
}

// ---------------------------------------------------------------------------
// Schema version 2: the fields of environments and test sends
// ---------------------------------------------------------------------------

/// A database as a pushform of schema version 1 left it: its tables, one scope, one record
/// written with the version 1 columns.
fn version_1_db(name: &str) -> String {
    let url = Cluster::shared().create_database(name);
    let mut admin = Cluster::shared().admin(name);
    admin
        .batch_execute(
            "CREATE TABLE pushform_schema_version (
                 version    integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .unwrap();
    admin.batch_execute(MIGRATIONS[0]).unwrap();
    admin
        .batch_execute(
            "INSERT INTO pushform_schema_version (version) VALUES (1);
             INSERT INTO pushform_scopes (scope, lineage, serial, format_version)
             VALUES ('s', 'lineage-v1', 3, 1);
             INSERT INTO pushform_records (scope, project, key, campaign, locale, digest, body,
                 status, attempted_at, attempted_offset, push_id, endpoint)
             VALUES ('s', 'p', 'welcome/en', 'welcome', 'en', 'd1', '{\"a\":1}', 'sent',
                 '2026-11-01T09:00:00Z', 3600, 'push-1', 'https://api.example.test');",
        )
        .unwrap();
    url
}

#[test]
fn a_database_at_schema_version_1_migrates_to_2_and_keeps_its_records() {
    let url = version_1_db("migrate_from_v1");
    let mut state = connect(&url, "s", "p");
    assert_eq!(state.schema_version().unwrap(), Some(1));
    // Read before any writer migrated (as a read-only `plan` would): the new fields are absent.
    let before = found(state.load_scope().unwrap());
    assert_eq!(before.meta.serial, 3);
    assert_eq!(before.records.len(), 1);
    let old = &before.records[0].record;
    assert_eq!(old.push_id.as_deref(), Some("push-1"));
    assert_eq!(old.attempted_at, at("2026-11-01T10:00:00+01:00"));
    assert_eq!(
        (
            &old.kind,
            &old.environment,
            &old.app_key_sha1,
            &old.rehearsal
        ),
        (&None, &None, &None, &None)
    );

    assert_eq!(state.migrate().unwrap(), (Some(1), 2));
    assert_eq!(found(state.load_scope().unwrap()), before, "records kept");

    // And the migrated table takes the new fields.
    let mut writer = state.lock_scope("apply", None).unwrap();
    let mut lock = writer.load().unwrap().project_lock("p");
    let mut marked = record("welcome/de", "2026-11-02T09:00:00Z", Status::Sending);
    marked.environment = Some("production".to_owned());
    marked.app_key_sha1 = Some("ef".repeat(20));
    marked.rehearsal = Some(true);
    lock.append(marked.clone());
    writer.write_lock(&mut lock).unwrap();
    let after = writer.load().unwrap();
    assert_eq!(after.records[0], before.records[0]);
    assert_eq!(after.records[1].record, marked);
    assert_eq!(after.meta.serial, 4);
}

#[test]
fn a_test_record_is_stored_and_read_back_as_a_test_record() {
    let url = scope_db("test_record", "s");
    let mut writer = connect(&url, "s", "p")
        .lock_scope("send-test", None)
        .unwrap();
    let mut lock = writer.load().unwrap().project_lock("p");
    let mut test = record("welcome/en", "2026-12-01T10:00:00Z", Status::Sending);
    test.kind = Some(RecordKind::Test);
    test.environment = Some("staging".to_owned());
    test.app_key_sha1 = Some("12".repeat(20));
    lock.append(test.clone());
    writer.write_lock(&mut lock).unwrap();
    // Its outcome, as send-test settles it.
    lock.sends[0].status = Status::Sent;
    lock.sends[0].push_id = Some("test-push".to_owned());
    writer.write_lock(&mut lock).unwrap();
    drop(writer);

    let read = connect(&url, "s", "p").export_lock().unwrap();
    assert_eq!(read, lock);
    let stored = &read.sends[0];
    assert!(stored.is_test(), "{stored:?}");
    assert_eq!(stored.status, Status::Sent);
    // It uses quota but is never the sent state of its unit.
    let index = LockIndex::new(&read);
    assert_eq!(index.state("welcome/en"), None);
    assert_eq!(index.history().len(), 1);
    assert_eq!(
        index.tested().keys().cloned().collect::<Vec<_>>(),
        crate::body::content_digest(test.body.as_bytes())
            .into_iter()
            .collect::<Vec<_>>()
    );

    // What a record was never changes: a test send cannot become a send of its unit.
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let mut rewritten = writer.load().unwrap().project_lock("p");
    rewritten.sends[0].kind = None;
    let err = writer.write_lock(&mut rewritten).unwrap_err();
    assert!(
        format!("{err:#}").contains("would become another attempt"),
        "{err:#}"
    );
    let mut moved = writer.load().unwrap().project_lock("p");
    moved.sends[0].app_key_sha1 = Some("34".repeat(20));
    assert!(writer.write_lock(&mut moved).is_err());
    let after = writer.load().unwrap().project_lock("p");
    assert_eq!(after.sends, lock.sends, "nothing written");
}

#[test]
fn the_serial_bump_is_a_compare_and_swap() {
    let url = scope_db("serial_cas", "s");
    let mut writer = connect(&url, "s", "p").lock_scope("apply", None).unwrap();
    let key = writer.key;
    // Another writer's commit (with the lock lost, or by hand) moved the serial to 1 after
    // this write read 0: the bump from 0 matches no row.
    Cluster::shared()
        .admin("serial_cas")
        .execute(
            "UPDATE pushform_scopes SET serial = 1 WHERE scope = 's'",
            &[],
        )
        .unwrap();
    let mut tx = writer.state.client.transaction().unwrap();
    let err = bump_serial(&mut tx, "s", key, 0).unwrap_err();
    assert!(
        format!("{err:#}").contains("another writer moved first"),
        "{err:#}"
    );
    drop(tx);
    let mut tx = writer.state.client.transaction().unwrap();
    bump_serial(&mut tx, "s", key, 1).unwrap();
    tx.commit().unwrap();
    assert_eq!(writer.load().unwrap().meta.serial, 2);
    // A missing scope is still named as such.
    let mut tx = writer.state.client.transaction().unwrap();
    let err = bump_serial(&mut tx, "nope", key, 0).unwrap_err();
    assert!(format!("{err:#}").contains("state init"), "{err:#}");
}

#[test]
fn a_writer_commits_synchronously_whatever_the_database_default() {
    let url = scope_db("sync_commit", "s");
    Cluster::shared()
        .admin("sync_commit")
        .batch_execute("ALTER DATABASE sync_commit SET synchronous_commit = off")
        .unwrap();
    let show = |state: &mut PgState| -> String {
        state
            .client
            .query_one("SHOW synchronous_commit", &[])
            .unwrap()
            .get(0)
    };
    let mut state = connect(&url, "s", "p");
    assert_eq!(show(&mut state), "off", "the database default applies");
    let mut writer = state.lock_scope("apply", None).unwrap();
    assert_eq!(show(writer.state()), "on");
}
