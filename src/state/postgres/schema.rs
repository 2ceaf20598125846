//! The database schema pushform owns: its migrations, in order, each in its own transaction
//! with its version row, under an advisory lock so two processes never migrate at once. A
//! database with a newer schema than this build knows is refused, never written.

use anyhow::bail;
use postgres::GenericClient;

use super::PgState;
use super::lock::advisory_key;
use super::read::db_error;

/// The schema this build creates, in order. Entry `n` takes the database from
/// version `n` to `n + 1`; each runs in its own transaction with its version
/// row, so a failed migration leaves the previous version intact. Never edit
/// a released entry: add one.
pub(super) const MIGRATIONS: &[&str] = &[
    // Version 1: scopes, records, and who holds a scope's write lock.
    r"
    CREATE TABLE pushform_scopes (
        scope          text PRIMARY KEY,
        lineage        text NOT NULL,
        serial         bigint NOT NULL CHECK (serial >= 0),
        format_version integer NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE pushform_records (
        id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        scope            text NOT NULL REFERENCES pushform_scopes (scope),
        project          text NOT NULL,
        key              text NOT NULL,
        campaign         text NOT NULL,
        locale           text,
        digest           text NOT NULL,
        body             text NOT NULL,
        body_json        jsonb GENERATED ALWAYS AS (body::jsonb) STORED,
        status           text NOT NULL
                         CHECK (status IN ('sending', 'sent', 'rejected', 'unknown')),
        attempted_at     timestamptz NOT NULL,
        attempted_offset integer NOT NULL,
        push_id          text,
        request_id       text,
        endpoint         text,
        error_code       bigint,
        error_message    text,
        source           text,
        resolved_at      timestamptz,
        resolved_offset  integer,
        accepted_digest  text,
        accepted_body    text,
        accepted_at      timestamptz,
        accepted_offset  integer,
        recorded_at      timestamptz NOT NULL DEFAULT now(),
        CHECK ((error_code IS NULL) = (error_message IS NULL)),
        CHECK ((resolved_at IS NULL) = (resolved_offset IS NULL)),
        CHECK ((accepted_digest IS NULL) = (accepted_body IS NULL)
           AND (accepted_digest IS NULL) = (accepted_at IS NULL)
           AND (accepted_digest IS NULL) = (accepted_offset IS NULL))
    );
    CREATE INDEX pushform_records_scope_id ON pushform_records (scope, id);
    CREATE INDEX pushform_records_scope_project_key ON pushform_records (scope, project, key);
    CREATE TABLE pushform_holders (
        scope       text PRIMARY KEY,
        backend_pid integer NOT NULL,
        holder      text NOT NULL,
        since       timestamptz NOT NULL DEFAULT now()
    );
    ",
    // Version 2: the record fields of environments and test sends. NULL is "absent", as in
    // the lockfile (a record without `kind` is a send), so records of version 1 read back
    // unchanged and a pull / push round trip stays exact.
    r"
    ALTER TABLE pushform_records
        ADD COLUMN kind         text CHECK (kind IN ('send', 'test')),
        ADD COLUMN environment  text,
        ADD COLUMN app_key_sha1 text,
        ADD COLUMN rehearsal    boolean;
    ",
];

/// The schema version this build reads and writes.
#[must_use]
pub fn schema_version_supported() -> i32 {
    MIGRATIONS.len() as i32
}

impl PgState {
    /// The schema version of the database, `None` before pushform created its tables.
    ///
    /// # Errors
    /// If the query fails.
    pub fn schema_version(&mut self) -> anyhow::Result<Option<i32>> {
        schema_version(&mut self.client)
    }

    /// Brings the schema to this build's version, running each missing
    /// migration in its own transaction, under an advisory lock so two
    /// pushform processes never migrate at once. A no-op (needing only
    /// SELECT) when the schema is current. Returns the version found and the
    /// version now.
    ///
    /// # Errors
    /// If a migration fails (that migration is rolled back), or the database
    /// has a newer schema than this build knows.
    pub fn migrate(&mut self) -> anyhow::Result<(Option<i32>, i32)> {
        let supported = schema_version_supported();
        let found = schema_version(&mut self.client)?;
        check_not_newer(found)?;
        if found == Some(supported) {
            return Ok((found, supported));
        }
        let key = advisory_key("pushform schema migration");
        self.client
            .execute("SELECT pg_advisory_lock($1)", &[&key])
            .map_err(|e| db_error(&e, "cannot take the migration lock"))?;
        let result = self.migrate_locked();
        let unlocked = self
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&key])
            .map_err(|e| db_error(&e, "cannot release the migration lock"));
        let now = result?;
        unlocked?;
        Ok((found, now))
    }

    fn migrate_locked(&mut self) -> anyhow::Result<i32> {
        self.client
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS pushform_schema_version (
                     version    integer PRIMARY KEY,
                     applied_at timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .map_err(|e| db_error(&e, "cannot create pushform_schema_version"))?;
        // Read again under the lock: another migrator may have finished meanwhile.
        let mut version = schema_version(&mut self.client)?.unwrap_or(0);
        check_not_newer(Some(version))?;
        while (version as usize) < MIGRATIONS.len() {
            let next = version + 1;
            let mut tx = self
                .client
                .transaction()
                .map_err(|e| db_error(&e, "cannot begin a migration"))?;
            tx.batch_execute(MIGRATIONS[version as usize])
                .map_err(|e| db_error(&e, &format!("schema migration to version {next} failed")))?;
            tx.execute(
                "INSERT INTO pushform_schema_version (version) VALUES ($1)",
                &[&next],
            )
            .map_err(|e| db_error(&e, &format!("cannot record schema version {next}")))?;
            tx.commit()
                .map_err(|e| db_error(&e, &format!("cannot commit schema version {next}")))?;
            version = next;
        }
        Ok(version)
    }
}

pub(super) fn schema_version(client: &mut impl GenericClient) -> anyhow::Result<Option<i32>> {
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('pushform_schema_version') IS NOT NULL",
            &[],
        )
        .map_err(|e| db_error(&e, "cannot read the schema version"))?
        .get(0);
    if !exists {
        return Ok(None);
    }
    Ok(client
        .query_one("SELECT max(version) FROM pushform_schema_version", &[])
        .map_err(|e| db_error(&e, "cannot read the schema version"))?
        .get(0))
}

pub(super) fn check_not_newer(found: Option<i32>) -> anyhow::Result<()> {
    let supported = schema_version_supported();
    match found {
        Some(found) if found > supported => bail!(
            "the PostgreSQL state has schema version {found}, newer than the {supported} this \
             pushform knows; upgrade pushform"
        ),
        _ => Ok(()),
    }
}
