use super::*;
use crate::project::Project;
use crate::render::Unit;
use crate::render::render_all;
use crate::state::{Lock, Record, RecordError, Status};

fn units(ids: &[&str]) -> (tempfile::TempDir, Vec<Unit>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("campaigns")).unwrap();
    for id in ids {
        std::fs::write(
            dir.path().join(format!("campaigns/{id}.yaml")),
            format!(
                "id: {id}\npush: {{platform: [ios], audience: {{is_to_all: false, packageName: p}}, notification: {{alert: {id}}}}}\n"
            ),
        )
        .unwrap();
    }
    let project = Project::load(dir.path()).unwrap();
    let (units, findings) = render_all(&project);
    assert!(findings.is_empty(), "{findings:?}");
    (dir, units)
}

fn record(unit: &Unit, status: Status, at: &str) -> Record {
    Record {
        locale: None,
        error: (status == Status::Rejected).then(|| RecordError {
            code: 1002,
            message: "bad".into(),
        }),
        ..unit.record(status, DateTime::parse_from_rfc3339(at).unwrap())
    }
}

fn quota() -> Quota {
    Quota {
        per_hour: 2,
        per_day: 3,
        tz: chrono_tz::Asia::Shanghai,
    }
}

fn now() -> DateTime<Utc> {
    "2026-11-26T07:00:00Z".parse().unwrap()
}

#[test]
fn keys_gone_from_the_files_are_planned_in_linear_time() {
    // 60,000 sent pushes whose campaigns were deleted: searching the records once per gone
    // key took minutes at this size; one pass takes a fraction of a second.
    let (_dir, units) = units(&["a"]);
    let mut lock = Lock::new();
    for i in 0..60_000 {
        let mut r = record(&units[0], Status::Sent, "2026-11-20T10:00:00+08:00");
        r.key = format!("gone-{i}");
        r.campaign.clone_from(&r.key);
        lock.sends.push(r);
    }
    let started = std::time::Instant::now();
    let plan = plan(&units, Some(&lock), now(), &quota());
    let took = started.elapsed();
    assert_eq!(plan.summary().gone, 60_000);
    let gone = plan.actions.iter().find(|a| a.key == "gone-59999").unwrap();
    assert_eq!(gone.campaign, "gone-59999");
    assert!(took < std::time::Duration::from_secs(5), "{took:?}");
}

#[test]
fn rejected_units_are_pending_again_and_their_attempts_count() {
    let (_dir, units) = units(&["a", "b"]);
    let mut lock = Lock::new();
    lock.append(record(
        &units[0],
        Status::Rejected,
        "2026-11-26T14:55:00+08:00",
    ));
    lock.append(record(
        &units[1],
        Status::Rejected,
        "2026-11-26T14:58:00+08:00",
    ));
    let plan = plan(&units, Some(&lock), now(), &quota());
    // Both attempts are in the last hour: nothing can go now, though nothing was sent.
    assert!(
        plan.actions.iter().all(|a| a.action == Action::Scheduled),
        "{plan:#?}"
    );
    assert_eq!(plan.actions[0].reason, Some(Reason::HourQuota));
}

#[test]
fn unresolved_blocks_and_says_how_to_resolve() {
    let (_dir, units) = units(&["a", "b"]);
    let mut lock = Lock::new();
    lock.append(record(
        &units[0],
        Status::Unknown,
        "2026-11-26T10:00:00+08:00",
    ));
    let plan = plan(&units, Some(&lock), now(), &quota());
    let a = plan.actions.iter().find(|x| x.key == "a").unwrap();
    assert_eq!(a.action, Action::Unresolved);
    assert!(
        a.note
            .as_deref()
            .unwrap()
            .contains("pushform state resolve a --sent")
    );
    assert!(plan.has_errors());
    assert_eq!(
        plan.summary_line(),
        "Plan: 1 to send now, 0 scheduled, 0 expired, 1 error."
    );
}

#[test]
fn display_order_is_by_action_then_time_then_file() {
    let (_dir, units) = units(&["a", "b", "c", "d"]);
    let mut lock = Lock::new();
    lock.append(record(&units[3], Status::Sent, "2026-11-20T10:00:00+08:00"));
    let plan = plan(&units, Some(&lock), now(), &quota());
    let order: Vec<(&str, Action)> = plan
        .actions
        .iter()
        .map(|a| (a.key.as_str(), a.action))
        .collect();
    assert_eq!(
        order,
        [
            ("a", Action::Send),
            ("b", Action::Send),
            ("c", Action::Scheduled),
            ("d", Action::UpToDate)
        ]
    );
    assert_eq!(
        plan.summary_line(),
        "Plan: 2 to send now, 1 scheduled, 0 expired, 0 errors."
    );
}

#[test]
fn nothing_pending_says_everything_is_sent() {
    let (_dir, units) = units(&["a"]);
    let mut lock = Lock::new();
    lock.append(record(&units[0], Status::Sent, "2026-11-20T10:00:00+08:00"));
    let plan = plan(&units, Some(&lock), now(), &quota());
    assert_eq!(plan.summary_line(), "No changes. Everything is sent.");
    assert!(!plan.has_sends());
}

/// A record of `unit`'s body under another key.
fn record_as(unit: &Unit, key: &str, status: Status, at: &str) -> Record {
    Record {
        key: key.to_owned(),
        campaign: key.split('/').next().unwrap_or(key).to_owned(),
        ..record(unit, status, at)
    }
}

fn id_ref(id: &str) -> crate::campaign::IdRef {
    crate::campaign::IdRef {
        id: id.to_owned(),
        origin: crate::node::Origin::default(),
    }
}

#[test]
fn a_body_sent_or_maybe_sent_under_another_key_is_a_duplicate() {
    for status in [Status::Sent, Status::Sending, Status::Unknown] {
        let (_dir, units) = units(&["a"]);
        let mut lock = Lock::new();
        lock.append(record_as(
            &units[0],
            "old",
            status,
            "2026-11-20T10:00:00+08:00",
        ));
        let plan = plan(&units, Some(&lock), now(), &quota());
        let a = plan.actions.iter().find(|x| x.key == "a").unwrap();
        assert_eq!(a.action, Action::Duplicate, "{status}");
        assert_eq!(a.duplicate_of.as_deref(), Some("old"));
        assert!(a.note.as_deref().unwrap().contains("`old`"));
        assert!(plan.has_errors());
    }
    // A rejected attempt delivered nothing: not a duplicate.
    let (_dir, units) = units(&["a"]);
    let mut lock = Lock::new();
    lock.append(record_as(
        &units[0],
        "old",
        Status::Rejected,
        "2026-11-20T10:00:00+08:00",
    ));
    let plan = plan(&units, Some(&lock), now(), &quota());
    assert_eq!(plan.actions[0].action, Action::Send);
}

#[test]
fn one_body_pending_under_two_keys_is_sent_once_at_most() {
    let (_dir, mut units) = units(&["a", "b"]);
    let (bytes, digest) = (units[0].bytes.clone(), units[0].digest.clone());
    units[1].bytes = bytes;
    units[1].digest = digest;
    let plan = plan(&units, None, now(), &quota());
    let get = |key: &str| plan.actions.iter().find(|x| x.key == key).unwrap();
    assert_eq!(get("a").action, Action::Send);
    assert_eq!(get("b").action, Action::Duplicate);
    assert_eq!(get("b").duplicate_of.as_deref(), Some("a"));
    let note = get("b").note.as_deref().unwrap();
    assert!(note.contains("both would reach the same users."), "{note}");
    assert!(plan.has_errors());
}

#[test]
fn moved_from_takes_over_the_old_history_and_resend_of_allows_a_second_send() {
    let (_dir, mut units) = units(&["a"]);
    let mut lock = Lock::new();
    lock.append(record_as(
        &units[0],
        "old",
        Status::Sent,
        "2026-11-20T10:00:00+08:00",
    ));
    units[0].schedule.moved_from = vec![id_ref("old")];
    let moved = plan(&units, Some(&lock), now(), &quota());
    assert_eq!(moved.actions.len(), 1, "{moved:#?}"); // `old` is not gone
    assert_eq!(moved.actions[0].action, Action::UpToDate);
    assert_eq!(moved.actions[0].history_of.as_deref(), Some("old"));
    assert!(moved.errors.is_empty());

    units[0].schedule.moved_from.clear();
    units[0].schedule.resend_of = Some(id_ref("old"));
    let again = plan(&units, Some(&lock), now(), &quota());
    let a = again.actions.iter().find(|x| x.key == "a").unwrap();
    assert_eq!(a.action, Action::Send);
    assert!(a.warnings.is_empty());
    assert_eq!(
        again
            .actions
            .iter()
            .find(|x| x.key == "old")
            .unwrap()
            .action,
        Action::Gone
    );

    // An unresolved old key blocks the unit that takes it over.
    let mut lock = Lock::new();
    lock.append(record_as(
        &units[0],
        "old",
        Status::Unknown,
        "2026-11-20T10:00:00+08:00",
    ));
    units[0].schedule.resend_of = None;
    units[0].schedule.moved_from = vec![id_ref("old")];
    let blocked = plan(&units, Some(&lock), now(), &quota());
    assert_eq!(blocked.actions.len(), 1);
    assert_eq!(blocked.actions[0].action, Action::Unresolved);
    assert!(
        blocked.actions[0]
            .note
            .as_deref()
            .unwrap()
            .contains("resolve old")
    );
}

#[test]
fn only_units_that_a_higher_priority_really_delays_wait_behind_it() {
    let (_dir, mut units) = units(&["a", "b", "c", "d", "e"]);
    units[3].schedule.priority = Priority::High;
    // Far in the future: no one takes its slot then.
    units[4].not_before = Some("2026-12-10T10:00:00+08:00".parse().unwrap());
    let plan = plan(&units, None, now(), &quota());
    let get = |key: &str| plan.actions.iter().find(|x| x.key == key).unwrap();
    assert_eq!(get("d").action, Action::Send);
    assert_eq!(get("a").action, Action::Send);
    assert_eq!(get("a").waits_behind, None);
    // Without d, b would go now and c at 16:00.
    assert_eq!(get("b").waits_behind.as_deref(), Some("d"));
    assert_eq!(get("c").waits_behind.as_deref(), Some("d"));
    assert_eq!(get("e").waits_behind, None);
    assert_eq!(get("e").reason, Some(Reason::NotBefore));
}

#[test]
fn moved_from_maps_keys_by_locale_and_says_so_when_they_do_not_match() {
    let (_dir, mut units) = units(&["a"]);
    let mut lock = Lock::new();
    // Sent as `old/en`; the unit has no locale, so it maps to `old`.
    lock.append(record_as(
        &units[0],
        "old/en",
        Status::Sent,
        "2026-11-20T10:00:00+08:00",
    ));
    units[0].schedule.moved_from = vec![id_ref("old")];
    let plan = plan(&units, Some(&lock), now(), &quota());
    let a = plan.actions.iter().find(|x| x.key == "a").unwrap();
    assert_eq!(a.action, Action::Duplicate);
    assert!(
        a.note.as_deref().unwrap().contains("named in moved_from"),
        "{a:#?}"
    );
}

#[test]
fn a_window_that_opens_after_not_after_expires_the_unit_and_says_so() {
    let (_dir, mut units) = units(&["a"]);
    units[0].schedule.window = Some(crate::window::Window {
        from: 20 * 60,
        to: 21 * 60,
        tz: chrono_tz::Asia::Shanghai,
    });
    units[0].not_after = Some("2026-11-26T19:00:00+08:00".parse().unwrap());
    let plan = plan(&units, None, now(), &quota());
    assert_eq!(plan.actions[0].action, Action::Expired);
    let note = plan.actions[0].note.as_deref().unwrap();
    assert!(
        note.contains("inside its send window (20:00–21:00 Asia/Shanghai)"),
        "{note}"
    );
    assert_eq!(
        plan.actions[0].send_window.as_deref(),
        Some("20:00–21:00 Asia/Shanghai")
    );
}

#[test]
fn references_to_ids_the_state_never_saw_are_errors() {
    let (_dir, mut units) = units(&["a"]);
    units[0].schedule.moved_from = vec![id_ref("nope")];
    let plan = plan(&units, None, now(), &quota());
    assert_eq!(plan.errors.len(), 1);
    assert_eq!(plan.errors[0].field, "moved_from");
    assert!(plan.has_errors());
    assert_eq!(
        plan.summary_line(),
        "Plan: 1 to send now, 0 scheduled, 0 expired, 1 error."
    );
}

#[test]
fn diff_shows_message_content_parsed() {
    let sent = serde_json::json!({"message": {"content": "{\"content\":\"old\"}"}});
    let current = serde_json::json!({"message": {"content": "{\"content\":\"new\"}"}});
    let d = diff(&sent, &current);
    assert!(d.contains("-      \"content\": \"old\""), "{d}");
    assert!(d.contains("+      \"content\": \"new\""), "{d}");
}
