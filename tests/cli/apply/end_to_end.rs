//! The happy path against a faithful emulator: apply sends exactly the due units, in plan order,
//! as the bytes `render` shows, and records each one truthfully.

use serde_json::Value;

use super::harness::{
    KEY, Repo, SAMPLE_NOW, SAMPLE_NOW_LOCAL, SECRET, assert_exactly_once, emulator, ms, records,
    sha1_hex,
};
use pushform::state::Status;

/// `plan --format json` at `now`: the keys and digests to send now, in plan order, and the
/// earliest scheduled slot.
fn plan_at(repo: &Repo, now: &str) -> (Vec<(String, String)>, Option<String>) {
    let ran = repo
        .pushform()
        .now(now)
        .endpoint(super::harness::REHEARSAL_ENDPOINT)
        .args(&["plan", "--format", "json"])
        .run();
    ran.success();
    let plan: Value = serde_json::from_str(&ran.stdout).expect("plan JSON");
    let actions = plan["actions"].as_array().expect("actions");
    let sends = actions
        .iter()
        .filter(|a| a["action"] == "send")
        .map(|a| {
            (
                a["key"].as_str().expect("key").to_owned(),
                a["digest"].as_str().expect("digest").to_owned(),
            )
        })
        .collect();
    let next = actions
        .iter()
        .filter(|a| a["action"] == "scheduled")
        .filter_map(|a| a["scheduled_at"].as_str())
        .min()
        .map(str::to_owned);
    (sends, next)
}

/// Removes JSON whitespace outside strings: pretty JSON printed by serde_json becomes the
/// compact form serde_json would have written for the same value, in the same key order.
fn compact(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::new(), false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

#[test]
fn apply_sends_the_due_units_in_plan_order_as_rendered_and_records_them() {
    let repo = Repo::sample();
    let emu = emulator(); // the provider's own quota: 2 an hour, 3 a natural day in UTC+8
    emu.set_now(Some(ms(SAMPLE_NOW)));

    let (due, _) = plan_at(&repo, SAMPLE_NOW);
    let due_keys: Vec<&str> = due.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        due_keys,
        ["exam-reminder-2026-12/zh-CN", "exam-reminder-2026-12/en"]
    );

    repo.apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .success()
        .stdout_has("Apply complete: 2 sent, 6 scheduled")
        .stderr_has("exam-reminder-2026-12/en: sent (push id ");

    let received = emu.received();
    let lock = repo.lock();
    assert_eq!(received.len(), 2, "exactly the due units: {received:#?}");
    assert_eq!(lock.sends.len(), 2);
    for ((key, digest), (got, record)) in due.iter().zip(received.iter().zip(&lock.sends)) {
        // In plan order, one record per send.
        assert_eq!(&record.key, key);
        assert_eq!(record.status, Status::Sent);
        // The digest is the SHA-1 of the very bytes the provider received, and what plan showed.
        assert_eq!(sha1_hex(&got.bytes), record.digest, "{key}");
        assert_eq!(&record.digest, digest, "{key}");
        assert_eq!(record.push_id.as_deref(), Some(got.push_id.as_str()));
        assert_eq!(record.request_id, got.request_id);
        assert_eq!(record.endpoint.as_deref(), Some(emu.base_url().as_str()));
        // "Now" as pinned, in the configured time zone, to the second.
        assert_eq!(
            record.attempted_at.to_rfc3339(),
            SAMPLE_NOW_LOCAL,
            "{key}: attempted_at"
        );

        // The bytes sent are byte for byte the body `render` shows for the unit.
        let rendered = repo.pushform().args(&["render", key]).run();
        rendered.success();
        let rows: Value = serde_json::from_str(&rendered.stdout).expect("render JSON");
        assert_eq!(rows[0]["digest"].as_str(), Some(digest.as_str()));
        let sent = String::from_utf8(got.bytes.clone()).expect("UTF-8 body");
        assert!(
            compact(&rendered.stdout).ends_with(&format!("\"body\":{sent}}}]")),
            "{key}: sent {sent}\nrendered {}",
            rendered.stdout
        );
    }
    let text = repo.read("pushform.lock");
    assert_eq!(
        text.matches(&format!("\"attempted_at\": \"{SAMPLE_NOW_LOCAL}\""))
            .count(),
        2,
        "{text}"
    );

    // A second apply at the same moment has nothing to send and sends nothing.
    let serial = lock.serial;
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_eq!(emu.requests(), 2);
    assert_eq!(repo.lock().serial, serial, "nothing was written either");

    // Then follow the schedule slot by slot: each apply sends exactly what plan says is due,
    // in its order, and the emulator (counting the provider's quota by the same clock) never
    // has to refuse one.
    let mut now = plan_at(&repo, SAMPLE_NOW).1.expect("more is scheduled");
    for step in 0..12 {
        let (due, next) = plan_at(&repo, &now);
        assert!(
            !due.is_empty(),
            "step {step}: the earliest slot {now} has a send"
        );
        emu.set_now(Some(ms(&now)));
        let before = emu.received().len();
        repo.apply_cmd(&emu, &now).run().success();
        let received = emu.received();
        let lock = repo.lock();
        let sent_now: Vec<(String, String)> = received[before..]
            .iter()
            .map(|r| {
                let digest = sha1_hex(&r.bytes);
                let record = lock
                    .sends
                    .iter()
                    .find(|rec| rec.digest == digest)
                    .expect("recorded");
                (record.key.clone(), digest)
            })
            .collect();
        assert_eq!(sent_now, due, "step {step} at {now}");
        assert_eq!(emu.requests() as usize, received.len(), "no call refused");
        match next {
            Some(t) => now = t,
            None => break,
        }
    }
    let lock = repo.lock();
    assert_eq!(lock.sends.len(), 8, "all 8 units, once each");
    assert_exactly_once(&lock, &emu.received());
    let (due, next) = plan_at(&repo, "2026-12-31T00:00:00Z");
    assert!(due.is_empty() && next.is_none());
}

#[test]
fn without_a_terminal_and_without_auto_approve_nothing_is_sent() {
    let repo = Repo::sample();
    let emu = emulator();
    // stdin is a pipe holding "yes": still not a terminal, so no confirmation is possible.
    let ran = repo
        .pushform()
        .endpoint(&emu.base_url())
        .creds(KEY, SECRET)
        .now(SAMPLE_NOW)
        .args(&["apply"])
        .run();
    ran.failure()
        .stderr_has("apply needs --auto-approve")
        .stderr_has("nothing was sent");
    assert_eq!(emu.requests(), 0);
    assert!(
        repo.try_lock().is_none_or(|l| l.sends.is_empty()),
        "no record was written"
    );
    assert!(
        records(
            &repo.try_lock().unwrap_or_default(),
            "exam-reminder-2026-12/en"
        )
        .is_empty()
    );
}

#[test]
fn target_sends_only_the_named_units_in_plan_order() {
    let repo = Repo::fixture(4, 100, 100, 10); // c00, c01, c02/en, c02/de
    let emu = super::harness::roomy_emulator();
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .args(&["--target", "c02", "--target", "c00"])
        .run()
        .success()
        .stdout_has("Apply complete: 3 sent");
    let keys: Vec<String> = repo.lock().sends.into_iter().map(|r| r.key).collect();
    assert_eq!(
        keys,
        ["c00", "c02/en", "c02/de"],
        "file order, then locale order"
    );
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .args(&["--target", "c9"])
        .run()
        .failure()
        .stderr_has("--target c9: no such campaign or unit");
    assert_eq!(emu.requests(), 3);
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    assert_exactly_once(&repo.lock(), &emu.received());
    assert_eq!(emu.requests(), 4);
}
