//! The re-send guard's view of the state: which bodies (by digest and by what a reader sees)
//! were sent, or may have been, under which keys.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::state::{Lock, Status};

/// What the state says about bodies under other keys: the re-send guard's view of the lock.
pub(super) struct Seen<'a> {
    /// Digest → keys of `sent`, `sending` or `unknown` records (and accepted renderings).
    pub(super) by_digest: HashMap<&'a str, Vec<(&'a str, Status)>>,
    /// (audience, title, alert) of `sent` records → keys.
    pub(super) by_look: HashMap<String, Vec<&'a str>>,
    /// Every campaign id the state knows, from records and keys.
    pub(super) ids: HashSet<&'a str>,
}

impl<'a> Seen<'a> {
    pub(super) fn new(lock: &'a Lock) -> Self {
        let mut seen = Seen {
            by_digest: HashMap::new(),
            by_look: HashMap::new(),
            ids: HashSet::new(),
        };
        // Another project's records (a shared scope) are its bodies and ids, not this one's.
        for r in lock
            .sends
            .iter()
            .filter(|r| r.project.is_none() && !r.is_test())
        {
            seen.ids.insert(r.campaign.as_str());
            seen.ids
                .insert(r.key.split_once('/').map_or(r.key.as_str(), |(id, _)| id));
            if r.status != Status::Rejected {
                seen.by_digest
                    .entry(r.digest.as_str())
                    .or_default()
                    .push((r.key.as_str(), r.status));
            }
            if let Some(accepted) = &r.accepted {
                seen.by_digest
                    .entry(accepted.digest.as_str())
                    .or_default()
                    .push((r.key.as_str(), Status::Sent));
            }
            if r.status == Status::Sent {
                seen.by_look
                    .entry(look_of_bytes(r.body.as_bytes()))
                    .or_default()
                    .push(r.key.as_str());
            }
        }
        seen
    }
}

/// What a reader sees of a push: its audience and notification title and alert.
fn look(body: &serde_json::Value) -> String {
    let field = |path: &str| body.pointer(path).cloned().unwrap_or_default();
    serde_json::json!([
        field("/audience"),
        field("/notification/title"),
        field("/notification/alert")
    ])
    .to_string()
}

/// [`look`] of a body's bytes, reading only the three fields instead of building the whole
/// JSON tree (it runs for every pending unit).
pub(super) fn look_of_bytes(bytes: &[u8]) -> String {
    #[derive(Deserialize)]
    struct Shape {
        #[serde(default)]
        audience: serde_json::Value,
        #[serde(default)]
        notification: Option<Headline>,
    }
    #[derive(Deserialize)]
    struct Headline {
        #[serde(default)]
        title: serde_json::Value,
        #[serde(default)]
        alert: serde_json::Value,
    }
    match serde_json::from_slice::<Shape>(bytes) {
        Ok(Shape {
            audience,
            notification,
        }) => {
            let (title, alert) = notification
                .map_or((serde_json::Value::Null, serde_json::Value::Null), |n| {
                    (n.title, n.alert)
                });
            serde_json::json!([audience, title, alert]).to_string()
        }
        // Not the shape of a body (a `notification` that is no mapping): the general form.
        Err(_) => look(&serde_json::from_slice(bytes).unwrap_or_default()),
    }
}

/// Whether `key` belongs to campaign `id` (`id` itself or `id/<locale>`).
pub(super) fn key_of(key: &str, id: &str) -> bool {
    key.strip_prefix(id)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}
