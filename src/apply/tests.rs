//! The protocol run against in-memory states and senders.

use super::checks::Unresolved;
use super::outcome::OUTCOME_ATTEMPTS;
use super::*;
use crate::state::Outcome;

/// An in-memory state whose every write succeeds at once.
struct Memory(Lock, usize);

/// A state another runner writes to just before this one's first write lands (a lost
/// compare-and-swap: the edit is applied to the moved state).
struct Racing {
    inner: Memory,
    theirs: Option<Record>,
}

impl Session for Racing {
    fn current(&self) -> Option<&Lock> {
        self.inner.current()
    }
    fn create(&mut self, lock: Lock, message: &str) -> Result<()> {
        self.inner.create(lock, message)
    }
    fn commit(
        &mut self,
        message: &str,
        edit: &mut dyn FnMut(&mut Lock) -> Result<bool>,
    ) -> Result<bool> {
        if let Some(record) = self.theirs.take() {
            self.inner.0.append(record);
        }
        self.inner.commit(message, edit)
    }
    fn lease(&mut self) -> Result<()> {
        Ok(())
    }
    fn release(&mut self) -> Result<()> {
        Ok(())
    }
}

struct Counting(std::cell::Cell<usize>);

impl Sender for Counting {
    fn send(&self, _: &[u8], _: &str) -> SendOutcome {
        self.0.set(self.0.get() + 1);
        SendOutcome::Sent {
            push_id: "p".to_owned(),
            endpoint: "e".to_owned(),
        }
    }
}

/// Two units `a` and `b` rendered from a temporary project (kept alive by the `TempDir`).
fn two_units() -> (tempfile::TempDir, Vec<Unit>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("campaigns")).unwrap();
    for id in ["a", "b"] {
        std::fs::write(
            dir.path().join(format!("campaigns/{id}.yaml")),
            format!(
                "id: {id}\npush: {{platform: [ios], audience: {{is_to_all: false, packageName: p}}, notification: {{alert: {id}}}}}\n"
            ),
        )
        .unwrap();
    }
    let project = crate::project::Project::load(dir.path()).unwrap();
    let (units, findings) = crate::render::render_all(&project);
    assert!(findings.is_empty(), "{findings:?}");
    (dir, units)
}

const QUOTA: Quota = Quota {
    per_hour: 2,
    per_day: 3,
    tz: chrono_tz::Asia::Shanghai,
};

/// `apply` of `units` at the pinned now, with no saved plan and no interrupt.
fn apply_now(session: &mut dyn Session, units: &[Unit], sender: &dyn Sender) -> Result<Ending> {
    let stop = AtomicBool::new(false);
    apply(session, units, sender, &options(&stop, None), &mut |_| {})
}

fn options<'a>(stop: &'a AtomicBool, saved: Option<Saved<'a>>) -> Options<'a> {
    Options {
        quota: &QUOTA,
        now: Now::Pinned(
            DateTime::parse_from_rfc3339("2026-11-26T15:00:00+08:00")
                .unwrap()
                .with_timezone(&Utc),
        ),
        wait: false,
        crash_at: None,
        stop,
        stamp: Stamp::default(),
        gate: None,
        saved,
    }
}

#[test]
fn an_unresolved_send_that_lands_mid_run_stops_the_run_before_its_next_send() {
    let (_dir, units) = two_units();
    // Another runner's `sending` for `b` lands between this run's plan and its write.
    let mut theirs = sending("b", "theirs");
    theirs.digest.clone_from(&units[1].digest);
    theirs.body = units[1].body_json().into();
    let mut session = Racing {
        inner: Memory(Lock::new(), 0),
        theirs: Some(theirs),
    };
    let stop = AtomicBool::new(false);
    let opts = options(&stop, None);
    let sender = Counting(std::cell::Cell::new(0));
    let err = apply(&mut session, &units, &sender, &opts, &mut |_| {}).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("`a` was not sent"), "{text}");
    assert!(text.contains("1 unresolved send (`b`)"), "{text}");
    assert_eq!(sender.0.get(), 0, "nothing was sent");
    let keys: Vec<&str> = session
        .inner
        .0
        .sends
        .iter()
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(keys, ["b"], "no `sending` record of this run");
}

impl Session for Memory {
    fn current(&self) -> Option<&Lock> {
        Some(&self.0)
    }
    fn create(&mut self, lock: Lock, _: &str) -> Result<()> {
        self.0 = lock;
        Ok(())
    }
    fn commit(&mut self, _: &str, edit: &mut dyn FnMut(&mut Lock) -> Result<bool>) -> Result<bool> {
        self.1 += 1;
        let mut next = self.0.clone();
        let changed = edit(&mut next)?;
        if changed {
            self.0 = next;
        }
        Ok(changed)
    }
    fn lease(&mut self) -> Result<()> {
        Ok(())
    }
    fn release(&mut self) -> Result<()> {
        Ok(())
    }
}

fn sending(key: &str, request_id: &str) -> Record {
    Record {
        request_id: Some(request_id.to_owned()),
        ..Record::attempt(
            key.to_owned(),
            key.to_owned(),
            None,
            "d".to_owned(),
            serde_json::json!({}).into(),
            Status::Sending,
            DateTime::parse_from_rfc3339("2026-11-26T15:00:00+08:00").unwrap(),
        )
    }
}

#[test]
fn an_outcome_for_a_record_another_writer_settled_is_refused_at_once_and_told_plainly() {
    let mut lock = Lock::new();
    let mut record = sending("x", "r1");
    record.status = Status::Rejected;
    lock.append(record);
    let mut session = Memory(lock, 0);
    let sent = Outcome::Sent {
        push_id: Some("p1".to_owned()),
        request_id: Some("r1".to_owned()),
    };
    let err = record_outcome(&mut session, "x", "r1", &sent, None, Status::Sent).unwrap_err();
    let settled = err.downcast_ref::<SettledElsewhere>().map(|s| s.status);
    assert_eq!(settled, Some(Status::Rejected), "{err:#}");
    assert_eq!(session.1, 1, "no retry changes another writer's decision");
    assert_eq!(
        session.0.sends[0].status,
        Status::Rejected,
        "nothing written"
    );

    let ending = After::Continue {
        push_id: "p1".to_owned(),
        endpoint: "e".to_owned(),
    };
    let note = unrecorded_note("x", &ending, settled, "2026-11-26T15:00:00+08:00");
    assert!(!note.contains("still says `sending`"), "{note}");
    assert!(note.contains("WAS SENT (push id p1)"), "{note}");
    assert!(note.contains("`rejected`"), "{note}");
    assert!(
        note.contains("pushform state import x --sent-at 2026-11-26T15:00:00+08:00 --push-id p1"),
        "{note}"
    );
    // Still `sending`: the old advice stands.
    let note = unrecorded_note("x", &ending, None, "2026-11-26T15:00:00+08:00");
    assert!(note.contains("still says `sending`"), "{note}");
}

#[test]
fn an_outcome_for_a_sending_record_is_written_once() {
    let mut lock = Lock::new();
    lock.append(sending("x", "r1"));
    let mut session = Memory(lock, 0);
    let sent = Outcome::Sent {
        push_id: Some("p1".to_owned()),
        request_id: Some("r1".to_owned()),
    };
    record_outcome(&mut session, "x", "r1", &sent, Some("e"), Status::Sent).unwrap();
    assert_eq!(session.0.sends[0].status, Status::Sent);
    assert_eq!(session.0.sends[0].endpoint.as_deref(), Some("e"));
}

#[test]
fn apply_called_directly_sends_nothing_while_the_state_holds_an_unresolved_send() {
    let (_dir, units) = two_units();
    let mut lock = Lock::new();
    let mut theirs = sending("b", "theirs");
    theirs.digest.clone_from(&units[1].digest);
    lock.append(theirs);
    let mut session = Memory(lock, 0);
    let sender = Counting(std::cell::Cell::new(0));
    let err = apply_now(&mut session, &units, &sender).unwrap_err();
    let blocked = err.downcast_ref::<Unresolved>().expect("refused up front");
    assert_eq!(blocked.sends.len(), 1);
    assert_eq!(blocked.sends[0].0, "b");
    assert_eq!(
        format!("{err:#}"),
        "apply is blocked: 1 unresolved send (listed above). Resolve with `pushform state resolve KEY --sent` or `--not-sent`"
    );
    assert_eq!(sender.0.get(), 0, "nothing was sent");
    assert_eq!(
        session.1, 0,
        "nothing was written, not even a `sending` intent"
    );
}

#[test]
fn apply_called_directly_refuses_a_stale_saved_plan_before_sending() {
    let (_dir, units) = two_units();
    let stop = AtomicBool::new(false);
    let now = options(&stop, None).now.get();
    let fresh = plan::plan(&units, None, now, &QUOTA);

    // Made against another state (lineage and serial).
    let mut other_state = fresh.clone();
    other_state.lock = Some(plan::LockRef {
        lineage: "l-old".to_owned(),
        serial: 3,
    });
    // A body edited since the plan was made (its digest).
    let mut edited = fresh.clone();
    edited.actions[0].digest = Some("0000".to_owned());

    for (saved, expected) in [
        (
            &other_state,
            "stale plan: it was made against lineage l-old serial 3, but the lockfile is now at no lockfile. Make a new plan".to_owned(),
        ),
        (
            &edited,
            format!(
                "stale plan: the body of `a` changed since the plan was made (sha1 {} now, 0000 planned). Make a new plan",
                units[0].digest
            ),
        ),
    ] {
        let mut session = Memory(Lock::new(), 0);
        let sender = Counting(std::cell::Cell::new(0));
        let saved = Saved {
            plan: saved,
            units: &units,
            targeted: &units,
        };
        let err = apply(
            &mut session,
            &units,
            &sender,
            &options(&stop, Some(saved)),
            &mut |_| {},
        )
        .unwrap_err();
        assert_eq!(format!("{err:#}"), expected);
        assert_eq!(sender.0.get(), 0, "nothing was sent");
        assert_eq!(session.1, 0, "nothing was written");
    }

    // The same plan, still fresh, is applied.
    let mut session = Memory(Lock::new(), 0);
    let sender = Counting(std::cell::Cell::new(0));
    let saved = Saved {
        plan: &fresh,
        units: &units,
        targeted: &units,
    };
    let ending = apply(
        &mut session,
        &units,
        &sender,
        &options(&stop, Some(saved)),
        &mut |_| {},
    )
    .unwrap();
    assert!(matches!(ending, Ending::Done { sent: 2, .. }), "{ending:?}");
}

/// A state that takes the `sending` intent and then refuses every later write.
struct Failing(Memory);

impl Session for Failing {
    fn current(&self) -> Option<&Lock> {
        self.0.current()
    }
    fn create(&mut self, lock: Lock, message: &str) -> Result<()> {
        self.0.create(lock, message)
    }
    fn commit(
        &mut self,
        message: &str,
        edit: &mut dyn FnMut(&mut Lock) -> Result<bool>,
    ) -> Result<bool> {
        if self.0.1 >= 1 {
            self.0.1 += 1;
            return Err(anyhow!("disk full"));
        }
        self.0.commit(message, edit)
    }
    fn lease(&mut self) -> Result<()> {
        Ok(())
    }
    fn release(&mut self) -> Result<()> {
        Ok(())
    }
}

#[test]
fn a_push_sent_whose_outcome_cannot_be_recorded_is_reported_as_sent_with_the_resolve_command() {
    let (_dir, units) = two_units();
    let mut session = Failing(Memory(Lock::new(), 0));
    let sender = Counting(std::cell::Cell::new(0));
    let err = apply_now(&mut session, &units, &sender).unwrap_err();
    let text = format!("{err:#}");
    assert!(text.starts_with("`a` WAS SENT (push id p)"), "{text}");
    assert!(
        text.contains("run `pushform state resolve a --sent --push-id p`"),
        "{text}"
    );
    assert!(text.contains("disk full"), "{text}");
    assert_eq!(sender.0.get(), 1, "sent exactly once, never retried");
    assert_eq!(
        session.0.1,
        1 + OUTCOME_ATTEMPTS as usize,
        "the intent, then every attempt at the outcome"
    );
    let record = &session.0.0.sends[0];
    assert_eq!(
        record.status,
        Status::Sending,
        "the state still says `sending`"
    );
    assert_eq!(session.0.0.sends.len(), 1, "`b` was not attempted");
}
