//! Writing: a connection holding its scope's write lock, the only way to write. Every write is
//! one transaction that checks the lock is still held and bumps the scope's serial from the one
//! it read (a compare-and-swap), and commits before it returns, so a `sending` record is durable
//! off the machine before the POST. An outcome is written by a conditional UPDATE that matches
//! only a `sending` row: a record with an outcome is never rewritten.

use anyhow::{Context, bail};
use chrono::{SubsecRound, Utc};
use postgres::GenericClient;

use super::lock::assert_locked;
use super::read::{db_error, load_in, missing_scope, read_meta};
use super::rows::{canonical_json, kind_str, offset_of, parse_status};
use super::schema::schema_version_supported;
use super::{PgState, ScopeRead, ScopeState, SettleError, StoredRecord};
use crate::state::format::{FORMAT_VERSION, Lock, Outcome, Record, Status};

/// A connection holding its scope's write lock; the only way to write.
/// Dropping it (or the session dying) releases the lock.
#[derive(Debug)]
pub struct PgWriter {
    pub(super) state: PgState,
    pub(super) key: i64,
}

impl PgWriter {
    /// The read side of this connection (same session, lock held).
    pub fn state(&mut self) -> &mut PgState {
        &mut self.state
    }

    /// The scope's whole history, as [`PgState::load_scope`], but a missing
    /// scope is an error: writes never start a history.
    ///
    /// # Errors
    /// If the scope is missing or a read fails.
    pub fn load(&mut self) -> anyhow::Result<ScopeState> {
        match self.state.load_scope()? {
            ScopeRead::Found(state) => Ok(state),
            ScopeRead::Missing { .. } => Err(missing_scope(&self.state.scope)),
        }
    }

    /// A write transaction on this writer's session (the one holding the scope's lock).
    pub(super) fn begin(&mut self) -> anyhow::Result<postgres::Transaction<'_>> {
        self.state
            .client
            .transaction()
            .map_err(|e| db_error(&e, "cannot begin a write"))
    }

    /// Appends `record` (status `sending` as apply writes it, or any status
    /// for `state import`) for this project and bumps the scope's serial, in
    /// one transaction committed before returning: once this returns `Ok`,
    /// the record is on the server, so the POST may go out. Returns the
    /// record's id, the handle for [`PgWriter::settle`].
    ///
    /// # Errors
    /// If the scope is missing, the lock is no longer held, or the commit fails.
    pub fn insert_sending(&mut self, record: &Record) -> anyhow::Result<i64> {
        let (scope, project, key) = (
            self.state.scope.clone(),
            self.state.project.clone(),
            self.key,
        );
        let mut tx = self.begin()?;
        let serial = current_serial(&mut tx, &scope)?;
        bump_serial(&mut tx, &scope, key, serial)?;
        let id = insert_record(&mut tx, &scope, &project, record)?;
        tx.commit()
            .map_err(|e| db_error(&e, &format!("cannot commit the record of {}", record.key)))?;
        Ok(id)
    }

    /// Records the outcome of the `sending` record `id`, by an UPDATE that
    /// only matches a row still `sending`: an outcome is never rewritten.
    ///
    /// # Errors
    /// [`SettleError::NoSuchRecord`], [`SettleError::NotSending`] (naming the
    /// status found), or [`SettleError::Db`].
    pub fn settle(&mut self, id: i64, outcome: &Outcome) -> Result<(), SettleError> {
        let (scope, key) = (self.state.scope.clone(), self.key);
        let (status, push_id, request_id, error) = match outcome {
            Outcome::Sent {
                push_id,
                request_id,
            } => (
                Status::Sent,
                push_id.as_deref(),
                request_id.as_deref(),
                None,
            ),
            Outcome::Rejected { request_id, error } => {
                (Status::Rejected, None, request_id.as_deref(), Some(error))
            }
            Outcome::Unknown { request_id, error } => {
                (Status::Unknown, None, request_id.as_deref(), error.as_ref())
            }
        };
        let mut tx = self.begin()?;
        let serial = current_serial(&mut tx, &scope)?;
        bump_serial(&mut tx, &scope, key, serial)?;
        let updated = tx
            .execute(
                "UPDATE pushform_records
                    SET status = $3, push_id = $4, request_id = $5,
                        error_code = $6, error_message = $7
                  WHERE id = $1 AND scope = $2 AND status = 'sending'",
                &[
                    &id,
                    &scope,
                    &status.as_str(),
                    &push_id,
                    &request_id,
                    &error.map(|e| e.code),
                    &error.map(|e| e.message.as_str()),
                ],
            )
            .map_err(|e| db_error(&e, &format!("cannot settle record #{id}")))?;
        if updated == 0 {
            let found = tx
                .query_opt(
                    "SELECT key, status FROM pushform_records WHERE id = $1 AND scope = $2",
                    &[&id, &scope],
                )
                .map_err(|e| db_error(&e, &format!("cannot read record #{id}")))?;
            // The transaction rolls back on drop: the serial is not bumped.
            return Err(match found {
                None => SettleError::NoSuchRecord { scope, id },
                Some(row) => {
                    let status: String = row.get(1);
                    SettleError::NotSending {
                        id,
                        key: row.get(0),
                        status: parse_status(&status)?,
                    }
                }
            });
        }
        tx.commit()
            .map_err(|e| db_error(&e, &format!("cannot commit the outcome of record #{id}")))?;
        Ok(())
    }

    /// `state push`: loads a lockfile into an empty scope (creating the
    /// scope if there is none), as records of this project, keeping its
    /// lineage and serial. Refused if the scope already holds records: of
    /// another lineage it is another history; of the same lineage, they are
    /// already there.
    ///
    /// # Errors
    /// On the refusals above, a lockfile of another format version, or a
    /// failed write (nothing is written then).
    pub fn import_lock(&mut self, lock: &Lock) -> anyhow::Result<()> {
        if lock.format_version != FORMAT_VERSION {
            bail!(
                "cannot push a lockfile of format_version {}: this pushform writes {FORMAT_VERSION}",
                lock.format_version
            );
        }
        let (scope, project, key) = (
            self.state.scope.clone(),
            self.state.project.clone(),
            self.key,
        );
        let serial = i64::try_from(lock.serial).context("the lockfile serial is too large")?;
        let mut tx = self.begin()?;
        assert_locked(&mut tx, key)?;
        if let Some(meta) = read_meta(&mut tx, &scope)? {
            let count: i64 = tx
                .query_one(
                    "SELECT count(*) FROM pushform_records WHERE scope = $1",
                    &[&scope],
                )
                .map_err(|e| db_error(&e, "cannot count the records"))?
                .get(0);
            if count > 0 && meta.lineage != lock.lineage {
                bail!(
                    "refusing to push: the PostgreSQL state scope {scope:?} holds another \
                     history (lineage {}, {count} records), not lineage {}",
                    meta.lineage,
                    lock.lineage
                );
            }
            if count > 0 {
                bail!(
                    "refusing to push: the PostgreSQL state scope {scope:?} already holds \
                     {count} records of lineage {}; `pushform state pull` shows them",
                    meta.lineage
                );
            }
            tx.execute(
                "UPDATE pushform_scopes SET lineage = $2, serial = $3 WHERE scope = $1",
                &[&scope, &lock.lineage, &serial],
            )
            .map_err(|e| db_error(&e, "cannot update the scope"))?;
        } else {
            tx.execute(
                "INSERT INTO pushform_scopes (scope, lineage, serial, format_version)
                 VALUES ($1, $2, $3, $4)",
                &[&scope, &lock.lineage, &serial, &(FORMAT_VERSION as i32)],
            )
            .map_err(|e| db_error(&e, "cannot create the scope"))?;
        }
        // A record tagged with another project (a lockfile pulled from a shared scope) goes
        // back to that project; the rest are this project's.
        for record in &lock.sends {
            let owner = record.project.as_deref().unwrap_or(&project);
            insert_record(&mut tx, &scope, owner, record)?;
        }
        tx.commit()
            .map_err(|e| db_error(&e, "cannot commit the pushed lockfile"))?;
        Ok(())
    }

    /// Writes this project's records, as [`ScopeState::project_lock`] gave
    /// them and the commands changed them, the way the file backend's
    /// `LockGuard::write` does, so the commands' load, change, write loop
    /// works unchanged: records beyond the project's stored ones are
    /// appended, changed ones are updated by a conditional UPDATE on their
    /// stored status, and the scope's serial is bumped (and set in `lock`),
    /// all in one transaction committed before returning. Other projects'
    /// records are never touched. Returns the ids of the appended records.
    ///
    /// Only the changes the lockfile rules allow get through: a `sending` record may take
    /// any outcome, an `unknown` one may be resolved as sent or rejected, and
    /// otherwise only `accepted` may change; a record's identity (key,
    /// campaign, locale, digest, body, attempt time, endpoint, kind, environment, App Key
    /// hash, rehearsal mark) never does,
    /// and no record is ever removed but a settled rehearsal's (`state forget-rehearsals`:
    /// a send to a loopback emulator is no history).
    ///
    /// # Errors
    /// If the scope is missing, holds another lineage or serial than `lock`
    /// (it changed since it was loaded), on a refused change (nothing is
    /// written), or if the commit fails (`lock.serial` is then unchanged).
    pub fn write_lock(&mut self, lock: &mut Lock) -> anyhow::Result<Vec<i64>> {
        let (scope, project, key) = (
            self.state.scope.clone(),
            self.state.project.clone(),
            self.key,
        );
        let mut tx = self.begin()?;
        assert_locked(&mut tx, key)?;
        // `lock_scope` migrated the schema: it is this build's.
        let Some(mut stored) = load_in(&mut tx, &scope, schema_version_supported())? else {
            return Err(missing_scope(&scope));
        };
        // Another project's record in `lock` means the caller passed the
        // whole scope where this project's records belong: writing it would
        // copy that record as ours.
        for record in &lock.sends {
            if let Some(theirs) = stored
                .records
                .iter()
                .find(|r| r.project != project && r.record == *record)
            {
                bail!(
                    "refusing to write the PostgreSQL state scope {scope:?}: the records to \
                     write include record #{} of project {:?} ({}); write this project's own \
                     records (ScopeState::project_lock), not the whole scope",
                    theirs.id,
                    theirs.project,
                    theirs.record.key
                );
            }
        }
        stored.records.retain(|r| r.project == project);
        if stored.meta.lineage != lock.lineage {
            bail!(
                "refusing to write the PostgreSQL state scope {scope:?}: it holds lineage {}, \
                 not {} (it was replaced since it was loaded)",
                stored.meta.lineage,
                lock.lineage
            );
        }
        if stored.meta.serial != lock.serial {
            bail!(
                "refusing to write the PostgreSQL state scope {scope:?}: it is at serial {}, \
                 not {} (it changed since it was loaded)",
                stored.meta.serial,
                lock.serial
            );
        }
        // The new state is the stored one in order, perhaps with records changed as the rules
        // allow, settled rehearsal records left out, and records appended.
        let mut kept = Vec::with_capacity(stored.records.len());
        let mut forgotten = Vec::new();
        let mut next = 0;
        for old in &stored.records {
            let new = lock.sends.get(next);
            let change = new.map(|new| {
                if old.record == *new {
                    Ok(())
                } else {
                    check_change(old, new)
                }
            });
            match (new, change) {
                (Some(new), Some(Ok(()))) => {
                    kept.push((old, new));
                    next += 1;
                }
                // A rehearsal left out (the same attempt, changed, is a refused change instead).
                (new, _)
                    if old.record.is_rehearsal()
                        && new.is_none_or(|n| {
                            n.key != old.record.key || n.attempted_at != old.record.attempted_at
                        }) =>
                {
                    if old.record.status.is_unresolved() {
                        bail!(
                            "refusing to write the PostgreSQL state scope {scope:?}: record #{} \
                             ({}) is a rehearsal still `{}`, forgotten only once resolved",
                            old.id,
                            old.record.key,
                            old.record.status
                        );
                    }
                    forgotten.push(old.id);
                }
                (_, Some(Err(refused))) => return Err(refused),
                _ => bail!(
                    "refusing to write the PostgreSQL state scope {scope:?}: it holds {} records \
                     of project {project:?}, the new state only {} (records are never removed)",
                    stored.records.len(),
                    lock.sends.len()
                ),
            }
        }
        if !forgotten.is_empty() {
            tx.execute(
                "DELETE FROM pushform_records WHERE scope = $1 AND id = ANY($2)",
                &[&scope, &forgotten],
            )
            .map_err(|e| db_error(&e, "cannot remove the rehearsal records"))?;
        }
        for (old, new) in kept {
            if old.record != *new {
                update_record(&mut tx, &scope, old, new)?;
            }
        }
        let mut appended = Vec::new();
        for record in &lock.sends[next..] {
            appended.push(insert_record(&mut tx, &scope, &project, record)?);
        }
        bump_serial(&mut tx, &scope, key, stored.meta.serial)?;
        tx.commit()
            .map_err(|e| db_error(&e, "cannot commit the state"))?;
        lock.serial = stored.meta.serial + 1;
        Ok(appended)
    }

    /// Releases the lock and gives the connection back. Dropping the writer
    /// instead closes the connection, which releases the lock too.
    ///
    /// # Errors
    /// If a query fails (the lock then ends with the session, dropped here).
    pub fn unlock(mut self) -> anyhow::Result<PgState> {
        self.state
            .client
            .execute(
                "DELETE FROM pushform_holders WHERE scope = $1 AND backend_pid = pg_backend_pid()",
                &[&self.state.scope],
            )
            .map_err(|e| db_error(&e, "cannot clear the scope lock's holder"))?;
        self.state
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&self.key])
            .map_err(|e| db_error(&e, "cannot release the scope lock"))?;
        Ok(self.state)
    }
}

/// Bumps the scope's serial from `expected` (the serial this write was based on) inside a
/// write's transaction, failing if the scope is missing (no write starts a history), the lock
/// is not held, or the serial is no longer `expected`. The scope lock already excludes other
/// writers; the compare-and-swap turns a broken exclusion (a lock lost, an operator's manual
/// write) into a refused write instead of two writes based on the same state.
pub(super) fn bump_serial(
    client: &mut impl GenericClient,
    scope: &str,
    key: i64,
    expected: u64,
) -> anyhow::Result<()> {
    assert_locked(client, key)?;
    let expected = i64::try_from(expected).context("the scope serial is too large")?;
    let bumped = client
        .execute(
            "UPDATE pushform_scopes SET serial = serial + 1 WHERE scope = $1 AND serial = $2",
            &[&scope, &expected],
        )
        .map_err(|e| db_error(&e, "cannot bump the scope serial"))?;
    if bumped == 1 {
        return Ok(());
    }
    match read_meta(client, scope)? {
        None => Err(missing_scope(scope)),
        Some(meta) => bail!(
            "another writer moved first: the PostgreSQL state scope {scope:?} is at serial {},              not {expected} as this write read it; nothing was written",
            meta.serial
        ),
    }
}

/// The serial of the scope as this transaction sees it, for [`bump_serial`].
pub(super) fn current_serial(client: &mut impl GenericClient, scope: &str) -> anyhow::Result<u64> {
    read_meta(client, scope)?
        .map(|meta| meta.serial)
        .ok_or_else(|| missing_scope(scope))
}

pub(super) fn insert_record(
    client: &mut impl GenericClient,
    scope: &str,
    project: &str,
    record: &Record,
) -> anyhow::Result<i64> {
    let attempted_at = record.attempted_at.trunc_subsecs(0);
    let resolved_at = record.resolved_at.map(|at| at.trunc_subsecs(0));
    let accepted_at = record.accepted.as_ref().map(|a| a.at.trunc_subsecs(0));
    let row = client
        .query_one(
            "INSERT INTO pushform_records (scope, project, key, campaign, locale, digest, body,
                 status, attempted_at, attempted_offset, push_id, request_id, endpoint,
                 error_code, error_message, source, resolved_at, resolved_offset,
                 accepted_digest, accepted_body, accepted_at, accepted_offset,
                 kind, environment, app_key_sha1, rehearsal)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                     $17, $18, $19, $20, $21, $22, $23, $24, $25, $26)
             RETURNING id",
            &[
                &scope,
                &project,
                &record.key,
                &record.campaign,
                &record.locale,
                &record.digest,
                &canonical_json(&record.body)?,
                &record.status.as_str(),
                &attempted_at.with_timezone(&Utc),
                &offset_of(&attempted_at),
                &record.push_id,
                &record.request_id,
                &record.endpoint,
                &record.error.as_ref().map(|e| e.code),
                &record.error.as_ref().map(|e| e.message.as_str()),
                &record.source,
                &resolved_at.map(|at| at.with_timezone(&Utc)),
                &resolved_at.as_ref().map(offset_of),
                &record.accepted.as_ref().map(|a| a.digest.as_str()),
                &record
                    .accepted
                    .as_ref()
                    .map(|a| canonical_json(&a.body))
                    .transpose()?,
                &accepted_at.map(|at| at.with_timezone(&Utc)),
                &accepted_at.as_ref().map(offset_of),
                &record.kind.map(kind_str),
                &record.environment,
                &record.app_key_sha1,
                &record.rehearsal,
            ],
        )
        .map_err(|e| db_error(&e, &format!("cannot write the record of {}", record.key)))?;
    Ok(row.get(0))
}

/// Refuses a change the lockfile rules forbid (see [`PgWriter::write_lock`]).
fn check_change(old: &StoredRecord, new: &Record) -> anyhow::Result<()> {
    let (id, before) = (old.id, &old.record);
    let same_identity = before.key == new.key
        && before.campaign == new.campaign
        && before.locale == new.locale
        && before.digest == new.digest
        && before.body == new.body
        && before.attempted_at == new.attempted_at.trunc_subsecs(0)
        // What the attempt was (a send or a test), where and with which key it was made:
        // stamped when it is written, never changed after.
        && before.kind == new.kind
        && before.environment == new.environment
        && before.app_key_sha1 == new.app_key_sha1
        && before.rehearsal == new.rehearsal
        // The endpoint that answered is learnt with the outcome: a `sending` record takes it.
        && (before.endpoint == new.endpoint
            || (before.status == Status::Sending && before.endpoint.is_none()));
    if !same_identity {
        bail!(
            "refusing to write: record #{id} ({}) would become another attempt \
             (key, campaign, locale, digest, body, attempt time, endpoint, kind, environment, \
             App Key hash and rehearsal mark never change)",
            before.key
        );
    }
    let only_accepted_changes = || {
        let mut unchanged = new.clone();
        unchanged.accepted.clone_from(&before.accepted);
        unchanged.attempted_at = before.attempted_at;
        unchanged == *before
    };
    let allowed = match (before.status, new.status) {
        // An outcome, from apply or `state resolve`.
        (Status::Sending, _) => true,
        // `state resolve` of an unknown record keeps what the transport said.
        (Status::Unknown, Status::Sent | Status::Rejected) => {
            before.request_id == new.request_id && before.error == new.error
        }
        // `state accept`.
        (a, b) if a == b => only_accepted_changes(),
        _ => false,
    };
    if !allowed {
        bail!(
            "refusing to write: record #{id} ({}) is {}; this change would rewrite its outcome \
             (only a sending record takes an outcome, an unknown one is resolved as sent or \
             rejected, and otherwise only an accepted rendering is added)",
            before.key,
            before.status
        );
    }
    Ok(())
}

/// The UPDATE of one record's changeable columns, matching only while the
/// row still has the status it was loaded with.
fn update_record(
    client: &mut impl GenericClient,
    scope: &str,
    old: &StoredRecord,
    new: &Record,
) -> anyhow::Result<()> {
    let resolved_at = new.resolved_at.map(|at| at.trunc_subsecs(0));
    let accepted_at = new.accepted.as_ref().map(|a| a.at.trunc_subsecs(0));
    let updated = client
        .execute(
            "UPDATE pushform_records
                SET status = $4, push_id = $5, request_id = $6, error_code = $7,
                    error_message = $8, source = $9, resolved_at = $10, resolved_offset = $11,
                    accepted_digest = $12, accepted_body = $13, accepted_at = $14,
                    accepted_offset = $15, endpoint = $16
              WHERE id = $1 AND scope = $2 AND status = $3",
            &[
                &old.id,
                &scope,
                &old.record.status.as_str(),
                &new.status.as_str(),
                &new.push_id,
                &new.request_id,
                &new.error.as_ref().map(|e| e.code),
                &new.error.as_ref().map(|e| e.message.as_str()),
                &new.source,
                &resolved_at.map(|at| at.with_timezone(&Utc)),
                &resolved_at.as_ref().map(offset_of),
                &new.accepted.as_ref().map(|a| a.digest.as_str()),
                &new.accepted
                    .as_ref()
                    .map(|a| canonical_json(&a.body))
                    .transpose()?,
                &accepted_at.map(|at| at.with_timezone(&Utc)),
                &accepted_at.as_ref().map(offset_of),
                &new.endpoint,
            ],
        )
        .map_err(|e| db_error(&e, &format!("cannot update record #{}", old.id)))?;
    if updated != 1 {
        bail!(
            "record #{} ({}) is no longer {}: nothing was written",
            old.id,
            old.record.key,
            old.record.status
        );
    }
    Ok(())
}
