//! The rules that refuse a run before anything is sent: an unresolved send in the state, a
//! stale saved plan, another App Key's state, rehearsal records against real endpoints. They
//! sit apart from the loop so each one reads, and is tested, on its own; `apply` enforces the
//! first two whoever calls it.

use anyhow::{Result, anyhow, bail};

use crate::plan::{Action, Plan};
use crate::render::Unit;
use crate::state::Lock;

/// A saved plan being applied, with what its staleness is judged against (see [`check_fresh`]).
#[derive(Clone, Copy)]
pub(crate) struct Saved<'a> {
    pub plan: &'a Plan,
    /// Every unit rendered from the campaign files.
    pub units: &'a [Unit],
    /// The units left by `--target`, before the plan's own selection.
    pub targeted: &'a [Unit],
}

/// The sends of a state whose fate is unknown (`sending` or `unknown`): while there is one,
/// nothing is sent, since its quota use and whether it reached users are both unknown.
#[derive(Debug)]
pub(crate) struct Unresolved {
    /// Key and note of each unresolved send, for the caller to list before the error.
    pub sends: Vec<(String, String)>,
}

impl std::fmt::Display for Unresolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "apply is blocked: {} unresolved {} (listed above). Resolve with `pushform state resolve KEY --sent` or `--not-sent`",
            self.sends.len(),
            if self.sends.len() == 1 {
                "send"
            } else {
                "sends"
            }
        )
    }
}

impl std::error::Error for Unresolved {}

/// Refuses a plan that holds an unresolved send (see [`Unresolved`]). A plan of any subset of
/// the units lists every unresolved send of the project, gone keys included.
pub(crate) fn check_unresolved(plan: &Plan) -> Result<(), Unresolved> {
    let sends: Vec<(String, String)> = plan
        .actions
        .iter()
        .filter(|a| a.action == Action::Unresolved)
        .map(|a| (a.key.clone(), a.note.clone().unwrap_or_default()))
        .collect();
    if sends.is_empty() {
        Ok(())
    } else {
        Err(Unresolved { sends })
    }
}

/// A saved plan is applied only to the state it was made against, and only if it had no error.
///
/// Every unit of the campaign files the plan knew must still render to the digest it planned,
/// not only the ones it sends: an edit to a unit already sent turns it into a `!` error that a
/// plain apply refuses, and a saved plan must not slip past that. `targeted` are the units
/// left by `--target`; the plan's sends must all be among them.
pub(crate) fn check_fresh(
    saved: &Plan,
    lock: &Lock,
    units: &[Unit],
    targeted: &[Unit],
) -> Result<()> {
    let current =
        (!lock.sends.is_empty() || lock.serial > 0).then_some((lock.lineage.as_str(), lock.serial));
    let planned = saved.lock.as_ref().map(|l| (l.lineage.as_str(), l.serial));
    if current != planned {
        let describe = |x: Option<(&str, u64)>| {
            x.map_or("no lockfile".to_owned(), |(l, s)| {
                format!("lineage {l} serial {s}")
            })
        };
        bail!(
            "stale plan: it was made against {}, but the lockfile is now at {}. Make a new plan",
            describe(planned),
            describe(current)
        );
    }
    // `file` is null for units known only from the lock (`gone`): nothing to render.
    for a in saved.actions.iter().filter(|a| a.file.is_some()) {
        let sends = matches!(a.action, Action::Send | Action::Scheduled);
        match (if sends { targeted } else { units })
            .iter()
            .find(|u| u.key == a.key)
        {
            None => bail!(
                "stale plan: `{}` is no longer in the campaign files (or not in --target). Make a new plan",
                a.key
            ),
            Some(u) if Some(&u.digest) != a.digest.as_ref() => bail!(
                "stale plan: the body of `{}` changed since the plan was made (sha1 {} now, {} planned). Make a new plan",
                a.key,
                u.digest,
                a.digest.as_deref().unwrap_or("none")
            ),
            Some(_) => {}
        }
    }
    // As a plain apply refuses a plan with errors, unless --target leaves them out.
    if let Some(a) = saved
        .actions
        .iter()
        .find(|a| a.action.is_error() && targeted.iter().any(|u| u.key == a.key))
    {
        bail!(
            "the saved plan has errors (`{}` is marked `{}`: {}); it cannot be applied. Fix them and make a new plan",
            a.key,
            a.action.symbol(),
            a.note
                .as_deref()
                .unwrap_or("see `pushform show` of the plan file")
        );
    }
    Ok(())
}

/// Hex SHA-1 of an App Key: what records carry instead of the key.
pub(crate) fn app_key_sha1(app_key: &str) -> String {
    crate::body::digest(app_key.as_bytes())
}

/// Refuses a state whose latest key-marked record was written under another App Key, before
/// anything is sent: a staging key against the production state (or a state copied from
/// another app) would plan against a history that is not this key's. `rotated` is the
/// acknowledgement of a deliberate key rotation (`--new-app-key`).
pub(crate) fn check_app_key(lock: &Lock, sha1: &str, rotated: bool) -> Result<()> {
    let Some(last) = lock.sends.iter().rev().find(|r| r.app_key_sha1.is_some()) else {
        return Ok(());
    };
    let theirs = last.app_key_sha1.as_deref().unwrap_or_default();
    if theirs == sha1 || rotated {
        return Ok(());
    }
    Err(anyhow!(
        "this state was written with another App Key (sha1 {theirs}, latest record `{}` at \
         {}{}), and this run signs with App Key sha1 {sha1}: nothing was sent. Check that the \
         App Key variables and --env name the same app as the state. If the App Key was \
         rotated on purpose, pass --new-app-key once to accept the new key; its first record \
         marks the state as the new key's",
        last.key,
        last.attempted_at.to_rfc3339(),
        last.environment
            .as_deref()
            .map(|e| format!(", environment `{e}`"))
            .unwrap_or_default()
    ))
}

/// Refuses a state holding rehearsal records (sent to a loopback emulator, received by no
/// one) when the endpoints are real: those units would show as sent and never reach users.
pub(crate) fn check_rehearsals(lock: &Lock, rehearsal: bool) -> Result<()> {
    if rehearsal {
        return Ok(());
    }
    let keys: Vec<&str> = lock
        .sends
        .iter()
        .filter(|r| r.is_rehearsal())
        .map(|r| r.key.as_str())
        .collect();
    // In a shared PostgreSQL scope, each project forgets its own rehearsals.
    let mut others: Vec<&str> = lock
        .sends
        .iter()
        .filter(|r| r.is_rehearsal())
        .filter_map(|r| r.project.as_deref())
        .collect();
    others.sort_unstable();
    others.dedup();
    let whose = if others.is_empty() {
        String::new()
    } else {
        format!(
            "; those of other projects of this state ({}) are removed by running it in their \
             repositories",
            others.join(", ")
        )
    };
    if let Some(first) = keys.first() {
        return Err(anyhow!(
            "the state holds {} rehearsal {} (sent to a loopback emulator, e.g. `{first}`), \
             but the endpoints are real: those pushes would count as sent and never reach \
             users. Nothing was sent. Remove them with `pushform state forget-rehearsals` (or \
             use a state of its own for rehearsals){whose}",
            keys.len(),
            if keys.len() == 1 { "record" } else { "records" }
        ));
    }
    Ok(())
}
