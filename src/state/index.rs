//! The planner's view of a state: where each key stands and the quota history, built in one
//! pass so planning never rescans the records per unit.

use std::collections::HashMap;

use crate::body::JsonBody;
use chrono::{DateTime, FixedOffset, Utc};

use super::format::{Lock, Status};

/// Where one key stands, as the planner needs it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum KeyState<'a> {
    /// Delivered. `digest`/`body` are the effective reference: the accepted
    /// rendering if `state accept` set one, else what was sent.
    Sent { digest: &'a str, body: &'a JsonBody },
    /// A `sending`/`unknown` record is not followed by any sent one: the push
    /// may have been delivered, so nothing may be sent until it is resolved.
    Unresolved { status: Status },
    /// Every record is `rejected`: nothing was delivered, the unit is pending again.
    AllRejected,
}

/// Per-key state and quota history, computed in one pass over the lock so the
/// planner never rescans the records per unit.
#[derive(Debug, Clone)]
pub(crate) struct LockIndex<'a> {
    states: HashMap<&'a str, KeyState<'a>>,
    keys: Vec<&'a str>,
    history: Vec<DateTime<Utc>>,
    tested: HashMap<String, DateTime<FixedOffset>>,
}

impl<'a> LockIndex<'a> {
    /// Precedence per key: a `sending`/`unknown` record (not accepted) that
    /// comes after the latest sent-or-accepted record makes the key
    /// `Unresolved`; otherwise the latest sent-or-accepted record makes it
    /// `Sent`; otherwise (every record rejected) it is `AllRejected`.
    #[must_use]
    pub(crate) fn new(lock: &'a Lock) -> Self {
        #[derive(Default)]
        struct Seen {
            sent: Option<usize>,
            unresolved: Option<usize>,
        }
        let mut seen: HashMap<&'a str, Seen> = HashMap::new();
        let mut keys = Vec::new();
        let mut history = Vec::with_capacity(lock.sends.len());
        let mut tested = HashMap::new();
        for (index, record) in lock.sends.iter().enumerate() {
            history.push(record.attempted_at.with_timezone(&Utc));
            // Another project's send (a shared postgres scope) used a slot of the App Key's
            // quota, but is not a state of any of this repository's units.
            if record.project.is_some() {
                continue;
            }
            // A test send uses quota like any request, but it reached test users only: it is
            // evidence that its content was seen, never a sent (or maybe sent) unit.
            if record.is_test() {
                if record.status == Status::Sent
                    && let Some(content) = crate::body::content_digest(record.body.as_bytes())
                {
                    tested.insert(content, record.attempted_at);
                }
                continue;
            }
            let entry = seen.entry(record.key.as_str()).or_insert_with(|| {
                keys.push(record.key.as_str());
                Seen::default()
            });
            // An accepted record was explicitly taken as delivered-and-reference.
            if record.status == Status::Sent || record.accepted.is_some() {
                entry.sent = Some(index);
            } else if record.status.is_unresolved() {
                entry.unresolved = Some(index);
            }
        }
        history.sort_unstable();
        let states = seen
            .into_iter()
            .map(|(key, seen)| {
                let state = match (seen.sent, seen.unresolved) {
                    (sent, Some(u)) if sent.is_none_or(|s| u > s) => KeyState::Unresolved {
                        status: lock.sends[u].status,
                    },
                    (Some(s), _) => {
                        let record = &lock.sends[s];
                        match &record.accepted {
                            Some(accepted) => KeyState::Sent {
                                digest: &accepted.digest,
                                body: &accepted.body,
                            },
                            None => KeyState::Sent {
                                digest: &record.digest,
                                body: &record.body,
                            },
                        }
                    }
                    (None, _) => KeyState::AllRejected,
                };
                (key, state)
            })
            .collect();
        LockIndex {
            states,
            keys,
            history,
            tested,
        }
    }

    /// The key's state, or `None` if the lock has never seen it.
    #[must_use]
    pub(crate) fn state(&self, key: &str) -> Option<&KeyState<'a>> {
        self.states.get(key)
    }

    /// Every key in the lock, in order of first appearance.
    #[must_use]
    pub(crate) fn keys(&self) -> &[&'a str] {
        &self.keys
    }

    /// The `attempted_at` of every record, whatever its status and whichever project made it,
    /// in UTC and sorted ascending: the quota history.
    #[must_use]
    pub(crate) fn history(&self) -> &[DateTime<Utc>] {
        &self.history
    }

    /// Content digest (`body::content_digest`) → when its latest `sent` test record was
    /// attempted: what `require_test_in` asks of the environment it names.
    #[must_use]
    pub(crate) fn tested(&self) -> &HashMap<String, DateTime<FixedOffset>> {
        &self.tested
    }
}
