//! The PostgreSQL state backend: one send history shared by every repository
//! that sends with the same App Key.
//!
//! The provider's quota (2 an hour, 3 a day) belongs to the App Key, not to a
//! repository. When several repositories send with one key, each must plan
//! against every send of the others, so their histories live in one *scope*
//! of a PostgreSQL database, each record tagged with the *project*
//! (repository) that made it. This module owns that database: it connects
//! (TLS with rustls, the password never shown), creates and migrates its own
//! tables, serialises writers with a session advisory lock per scope (freed
//! by the server when the session dies, like the file lock is freed with its
//! process), and reads and writes records with the same rules as the
//! lockfile:
//!
//! - no history starts implicitly: a missing scope is an error for every write
//!   and an empty state (with a warning) for reads, until `init_scope`;
//! - a `sending` record is committed before [`PgWriter::write_lock`] (what
//!   [`PgStore`]'s sessions use) or [`PgWriter::insert_sending`] returns, so it
//!   is durable off the machine before the POST;
//! - an outcome is written by a conditional UPDATE that only matches a
//!   `sending` row: a record with an outcome is never rewritten;
//! - reads need only SELECT, so `plan` can run with a read-only role.
//!
//! Records keep every lockfile record field exactly: the body is stored as its canonical
//! JSON text (a `jsonb` copy is generated beside it for operators' queries),
//! and each timestamp as a `timestamptz` plus its UTC offset, so a lockfile
//! imported and exported again is the same value.

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, FixedOffset, SubsecRound, Utc};
use postgres::{Client, GenericClient, Row};
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::body::JsonBody;
use sha1::{Digest, Sha1};

use super::format::{
    Accepted, FORMAT_VERSION, Lock, Outcome, Record, RecordError, RecordKind, Status,
};
use super::store::{Freshness, Holder, Session, Snapshot, Store};

mod url;

use url::{Target, error_text};

/// The environment variable read for the connection string when `state.url_env` is not set.
pub const DEFAULT_URL_ENV: &str = "PUSHFORM_DATABASE_URL";

/// How often a waiting [`PgState::lock_scope`] retries the advisory lock.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// The schema this build creates, in order. Entry `n` takes the database from
/// version `n` to `n + 1`; each runs in its own transaction with its version
/// row, so a failed migration leaves the previous version intact. Never edit
/// a released entry: add one.
const MIGRATIONS: &[&str] = &[
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

// ---------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------

/// The `state:` settings of the postgres backend, as resolved from `pushform.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgSettings {
    /// NAME of the environment variable holding the connection string.
    pub url_env: String,
    /// The history shared by every repository sending with one App Key.
    pub scope: String,
    /// This repository's name in the scope.
    pub project: String,
}

// ---------------------------------------------------------------------------
// What the store returns
// ---------------------------------------------------------------------------

/// A scope's metadata: the history's identity and its write counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeMeta {
    pub scope: String,
    /// As a lockfile's lineage: another lineage is another history.
    pub lineage: String,
    /// Bumped by every write in the scope.
    pub serial: u64,
}

/// One record and where it lives.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRecord {
    /// The row's id: the handle for [`PgWriter::settle`], increasing in write order.
    pub id: i64,
    /// The repository that wrote it.
    pub project: String,
    pub record: Record,
}

/// A scope's whole history, every project's records, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeState {
    pub meta: ScopeMeta,
    pub records: Vec<StoredRecord>,
}

impl ScopeState {
    /// The whole scope as a lockfile (projects are not part of that format):
    /// what `state pull` writes and `state push` reads back.
    #[must_use]
    pub fn to_lock(&self) -> Lock {
        self.lock_of(|_| true)
    }

    /// The scope as `project` sees it: every record, oldest first, those of other projects
    /// tagged with their `project` (so they count against the quota but are never taken for
    /// this project's units), this project's own untagged. What the store interface returns,
    /// and what `state pull` writes: a lockfile that plans the same on any backend.
    #[must_use]
    pub fn lock_for(&self, project: &str) -> Lock {
        let mut lock = self.to_lock();
        for (record, stored) in lock.sends.iter_mut().zip(&self.records) {
            if stored.project != project {
                record.project = Some(stored.project.clone());
            }
        }
        lock
    }

    /// `project`'s own records as a lockfile, with the scope's lineage and
    /// serial: the unit states of one repository (a key is a campaign ×
    /// locale of that repository, so another repository's `welcome/en` is
    /// another unit), and the value [`PgWriter::write_lock`] takes back.
    #[must_use]
    pub fn project_lock(&self, project: &str) -> Lock {
        self.lock_of(|r| r.project == project)
    }

    /// The `attempted_at` of every record of the scope, whichever project
    /// made it and whatever its status, in UTC and sorted: the quota history
    /// the App Key's sends share.
    #[must_use]
    pub fn history(&self) -> Vec<DateTime<Utc>> {
        let mut history: Vec<DateTime<Utc>> = self
            .records
            .iter()
            .map(|r| r.record.attempted_at.with_timezone(&Utc))
            .collect();
        history.sort_unstable();
        history
    }

    fn lock_of(&self, keep: impl Fn(&StoredRecord) -> bool) -> Lock {
        Lock {
            format_version: FORMAT_VERSION,
            lineage: self.meta.lineage.clone(),
            serial: self.meta.serial,
            sends: self
                .records
                .iter()
                .filter(|r| keep(r))
                .map(|r| r.record.clone())
                .collect(),
        }
    }
}

/// What a read finds: the scope, or an empty state and the warning to show.
#[derive(Debug, Clone, PartialEq)]
pub enum ScopeRead {
    Found(ScopeState),
    /// No scope (or no pushform tables) yet: nothing is recorded.
    Missing {
        warning: String,
    },
}

/// A `sending` record could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum SettleError {
    #[error("the PostgreSQL state scope {scope:?} has no record #{id}")]
    NoSuchRecord { scope: String, id: i64 },
    #[error("record #{id} ({key}) is {status}, not sending: only a sending record can be settled")]
    NotSending {
        id: i64,
        key: String,
        status: Status,
    },
    #[error(transparent)]
    Db(#[from] anyhow::Error),
}

/// The backend holding a scope's write lock, as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    /// The server process id of the holding session (`pg_terminate_backend` takes it).
    pub backend_pid: i32,
    /// What the holder wrote when it took the lock (command, host, pid), if readable.
    pub note: Option<String>,
    pub application_name: Option<String>,
    pub client_addr: Option<String>,
    /// When the holding session connected.
    pub since: Option<DateTime<Utc>>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server backend pid {}", self.backend_pid)?;
        let mut details = Vec::new();
        if let Some(note) = &self.note {
            details.push(note.clone());
        } else if let Some(name) = self.application_name.as_deref().filter(|s| !s.is_empty()) {
            details.push(format!("application {name}"));
        }
        if let Some(addr) = &self.client_addr {
            details.push(format!("from {addr}"));
        }
        if let Some(since) = &self.since {
            details.push(format!(
                "connected since {}",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ));
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        Ok(())
    }
}

/// Why [`PgState::lock_scope`] did not get the lock.
#[derive(Debug, thiserror::Error)]
pub enum PgLockError {
    #[error("{}", held_message(scope, holder.as_deref(), *waited))]
    Held {
        scope: String,
        holder: Option<Box<LockHolder>>,
        waited: Option<Duration>,
    },
    #[error(transparent)]
    Db(#[from] anyhow::Error),
}

fn held_message(scope: &str, holder: Option<&LockHolder>, waited: Option<Duration>) -> String {
    let mut message = format!("the PostgreSQL state scope {scope:?} is locked by ");
    match holder {
        Some(holder) => {
            let _ = write!(message, "{holder}");
        }
        None => message.push_str("another session"),
    }
    match waited {
        Some(waited) => {
            let _ = write!(
                message,
                " and stayed locked for {waited:?}; another apply is running. Wait for it, \
                 or pass a longer --lock-timeout"
            );
        }
        None => message.push_str(
            "; another apply is running. Wait for it, or pass --lock-timeout \
             (the lock dies with its session)",
        ),
    }
    message
}

// ---------------------------------------------------------------------------
// Reading: a connection, no lock
// ---------------------------------------------------------------------------

/// A connection to the state database for one scope and project. Reads need
/// only SELECT; writes go through [`PgWriter`], which holds the scope's lock.
pub struct PgState {
    client: Client,
    scope: String,
    project: String,
    shown: String,
}

impl fmt::Debug for PgState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgState")
            .field("url", &self.shown)
            .field("scope", &self.scope)
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

impl PgState {
    /// Connects with the connection string in the environment variable
    /// `settings.url_env`. `application_name` is shown to other sessions (and
    /// in a refused lock's message), e.g. `"pushform apply"`.
    ///
    /// # Errors
    /// If the variable is unset or empty, the string does not parse, or the
    /// server cannot be reached; the password never appears in the message.
    pub fn connect(settings: &PgSettings, application_name: &str) -> anyhow::Result<PgState> {
        let url = std::env::var(&settings.url_env).map_err(|_| {
            anyhow!(
                "the environment variable {} is not set: it must hold the connection string \
                 of the PostgreSQL state (state.url_env in pushform.yaml names it)",
                settings.url_env
            )
        })?;
        if url.trim().is_empty() {
            bail!(
                "the environment variable {} is empty: it must hold the connection string \
                 of the PostgreSQL state",
                settings.url_env
            );
        }
        Self::connect_url(&url, settings, application_name)
            .with_context(|| format!("connection string from ${}", settings.url_env))
    }

    /// As [`PgState::connect`], with the connection string given.
    ///
    /// # Errors
    /// As [`PgState::connect`].
    pub fn connect_url(
        url: &str,
        settings: &PgSettings,
        application_name: &str,
    ) -> anyhow::Result<PgState> {
        if settings.scope.trim().is_empty() {
            bail!("state.scope is empty: the postgres backend needs the scope's name");
        }
        if settings.project.trim().is_empty() {
            bail!("state.project is empty: the postgres backend needs this repository's name");
        }
        let mut target = Target::parse(url)?;
        if target.config.get_application_name().is_none() {
            target.config.application_name(application_name);
        }
        let client = target.connect()?;
        Ok(PgState {
            client,
            scope: settings.scope.clone(),
            project: settings.project.clone(),
            shown: target.shown,
        })
    }

    /// The connection string as it may be shown (password masked).
    #[must_use]
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    #[must_use]
    pub fn scope(&self) -> &str {
        &self.scope
    }

    #[must_use]
    pub fn project(&self) -> &str {
        &self.project
    }

    /// This session's server process id.
    ///
    /// # Errors
    /// If the query fails.
    pub fn backend_pid(&mut self) -> anyhow::Result<i32> {
        Ok(self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(|e| db_error(&e, "cannot read the backend pid"))?
            .get(0))
    }

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

    /// `state init`: creates the scope with a fresh lineage (migrating the
    /// schema first). Never implicit: every write refuses a missing scope.
    ///
    /// # Errors
    /// If the scope already exists (naming its lineage) or a query fails.
    pub fn init_scope(&mut self) -> anyhow::Result<ScopeMeta> {
        self.migrate()?;
        let lineage = uuid::Uuid::new_v4().to_string();
        let created = self
            .client
            .execute(
                "INSERT INTO pushform_scopes (scope, lineage, serial, format_version)
                 VALUES ($1, $2, 0, $3) ON CONFLICT (scope) DO NOTHING",
                &[&self.scope, &lineage, &(FORMAT_VERSION as i32)],
            )
            .map_err(|e| db_error(&e, "cannot create the scope"))?;
        if created == 0 {
            let meta = read_meta(&mut self.client, &self.scope)?;
            let lineage = meta.map_or_else(|| "?".to_owned(), |m| m.lineage);
            bail!(
                "the PostgreSQL state scope {:?} already exists (lineage {lineage}); \
                 it is left as it is",
                self.scope
            );
        }
        Ok(ScopeMeta {
            scope: self.scope.clone(),
            lineage,
            serial: 0,
        })
    }

    /// Every record of the scope, whichever project wrote it, oldest first
    /// (the quota history belongs to the App Key). A missing scope, or a
    /// database pushform never initialised, is [`ScopeRead::Missing`]. Needs
    /// only SELECT.
    ///
    /// # Errors
    /// If a query fails, a row is not a valid record, or the schema is newer
    /// than this build.
    pub fn load_scope(&mut self) -> anyhow::Result<ScopeRead> {
        let version = schema_version(&mut self.client)?;
        check_not_newer(version)?;
        let missing = || ScopeRead::Missing {
            warning: format!(
                "the PostgreSQL state has no scope {:?} yet: nothing is recorded; \
                 `pushform state init` starts it",
                self.scope
            ),
        };
        if version.is_none() {
            return Ok(missing());
        }
        let mut tx = self
            .client
            .build_transaction()
            .read_only(true)
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .start()
            .map_err(|e| db_error(&e, "cannot begin a read"))?;
        let state = load_in(&mut tx, &self.scope, version.unwrap_or(0))?;
        tx.commit().map_err(|e| db_error(&e, "cannot end a read"))?;
        Ok(state.map_or_else(missing, ScopeRead::Found))
    }

    /// `state pull`: the scope as a lockfile value.
    ///
    /// # Errors
    /// If the scope is missing or a read fails.
    pub fn export_lock(&mut self) -> anyhow::Result<Lock> {
        match self.load_scope()? {
            ScopeRead::Found(state) => Ok(state.lock_for(&self.project)),
            ScopeRead::Missing { .. } => Err(missing_scope(&self.scope)),
        }
    }

    /// Takes the scope's write lock: a session advisory lock, so the server
    /// frees it when this session ends, however it ends. Without `wait`,
    /// fails at once naming the holder; with `Some(d)`, retries every 100 ms
    /// for up to `d`. Migrates the schema first (a no-op when current).
    /// `note` tells a refused writer who holds the lock (command, host, pid).
    ///
    /// # Errors
    /// [`PgLockError::Held`] as above, [`PgLockError::Db`] if a query fails.
    pub fn lock_scope(
        mut self,
        note: &str,
        wait: Option<Duration>,
    ) -> Result<PgWriter, PgLockError> {
        self.migrate()?;
        // Every write of this session is committed before the POST it guards: a server (or a
        // role, or a database) defaulting to an asynchronous commit could acknowledge a
        // `sending` row and then lose it in a crash, so this session waits for the WAL flush
        // whatever the default.
        self.client
            .batch_execute("SET synchronous_commit = on")
            .map_err(|e| db_error(&e, "cannot set synchronous_commit for the session"))?;
        let key = scope_key(&self.scope);
        let started = Instant::now();
        loop {
            let got: bool = self
                .client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map_err(|e| db_error(&e, "cannot take the scope lock"))?
                .get(0);
            if got {
                break;
            }
            let remaining = wait.and_then(|d| d.checked_sub(started.elapsed()));
            match remaining {
                Some(remaining) if !remaining.is_zero() => {
                    std::thread::sleep(remaining.min(LOCK_POLL));
                }
                _ => {
                    return Err(PgLockError::Held {
                        holder: lock_holder(&mut self.client, &self.scope, key)?.map(Box::new),
                        scope: self.scope,
                        waited: wait.filter(|d| !d.is_zero()),
                    });
                }
            }
        }
        self.client
            .execute(
                "INSERT INTO pushform_holders (scope, backend_pid, holder, since)
                 VALUES ($1, pg_backend_pid(), $2, now())
                 ON CONFLICT (scope) DO UPDATE
                 SET backend_pid = EXCLUDED.backend_pid, holder = EXCLUDED.holder,
                     since = EXCLUDED.since",
                &[&self.scope, &note],
            )
            .map_err(|e| db_error(&e, "cannot record the scope lock's holder"))?;
        Ok(PgWriter { state: self, key })
    }
}

fn schema_version(client: &mut impl GenericClient) -> anyhow::Result<Option<i32>> {
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

fn check_not_newer(found: Option<i32>) -> anyhow::Result<()> {
    let supported = schema_version_supported();
    match found {
        Some(found) if found > supported => bail!(
            "the PostgreSQL state has schema version {found}, newer than the {supported} this \
             pushform knows; upgrade pushform"
        ),
        _ => Ok(()),
    }
}

fn read_meta(client: &mut impl GenericClient, scope: &str) -> anyhow::Result<Option<ScopeMeta>> {
    let row = client
        .query_opt(
            "SELECT lineage, serial FROM pushform_scopes WHERE scope = $1",
            &[&scope],
        )
        .map_err(|e| db_error(&e, "cannot read the scope"))?;
    Ok(row.map(|row| ScopeMeta {
        scope: scope.to_owned(),
        lineage: row.get(0),
        serial: row.get::<_, i64>(1) as u64,
    }))
}

const RECORD_COLUMNS: &str = "id, project, key, campaign, locale, digest, body, status, \
     attempted_at, attempted_offset, push_id, request_id, endpoint, error_code, error_message, \
     source, resolved_at, resolved_offset, accepted_digest, accepted_body, accepted_at, \
     accepted_offset, kind, environment, app_key_sha1, rehearsal";

/// The columns of schema version 2 a version 1 database lacks, read as absent: a read needs
/// only SELECT, so `plan` with a read-only role reads a database no writer has migrated yet
/// (its records were all written before these fields existed).
const RECORD_COLUMNS_V1: &str = "id, project, key, campaign, locale, digest, body, status, \
     attempted_at, attempted_offset, push_id, request_id, endpoint, error_code, error_message, \
     source, resolved_at, resolved_offset, accepted_digest, accepted_body, accepted_at, \
     accepted_offset, NULL::text AS kind, NULL::text AS environment, \
     NULL::text AS app_key_sha1, NULL::boolean AS rehearsal";

/// The scope's metadata and records, read from a database at schema `version`.
fn load_in(
    client: &mut impl GenericClient,
    scope: &str,
    version: i32,
) -> anyhow::Result<Option<ScopeState>> {
    let Some(meta) = read_meta(client, scope)? else {
        return Ok(None);
    };
    let columns = if version >= 2 {
        RECORD_COLUMNS
    } else {
        RECORD_COLUMNS_V1
    };
    let rows = client
        .query(
            &format!("SELECT {columns} FROM pushform_records WHERE scope = $1 ORDER BY id"),
            &[&scope],
        )
        .map_err(|e| db_error(&e, "cannot read the records"))?;
    let records = rows
        .iter()
        .map(stored_record)
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Some(ScopeState { meta, records }))
}

fn stored_record(row: &Row) -> anyhow::Result<StoredRecord> {
    let id: i64 = row.get("id");
    let inner = || -> anyhow::Result<StoredRecord> {
        let status = parse_status(row.get("status"))?;
        let body: String = row.get("body");
        let error = match (
            row.get::<_, Option<i64>>("error_code"),
            row.get::<_, Option<String>>("error_message"),
        ) {
            (Some(code), Some(message)) => Some(RecordError { code, message }),
            _ => None,
        };
        let accepted = match row.get::<_, Option<String>>("accepted_digest") {
            Some(digest) => {
                let body: String = row.get("accepted_body");
                Some(Accepted {
                    digest,
                    body: serde_json::from_str(&body).context("accepted_body is not JSON")?,
                    at: at_offset(row.get("accepted_at"), row.get("accepted_offset"))?,
                })
            }
            None => None,
        };
        let resolved_at = match row.get::<_, Option<DateTime<Utc>>>("resolved_at") {
            Some(at) => Some(at_offset(at, row.get("resolved_offset"))?),
            None => None,
        };
        Ok(StoredRecord {
            id,
            project: row.get("project"),
            record: Record {
                key: row.get("key"),
                campaign: row.get("campaign"),
                locale: row.get("locale"),
                digest: row.get("digest"),
                body: serde_json::from_str(&body).context("body is not JSON")?,
                status,
                attempted_at: at_offset(row.get("attempted_at"), row.get("attempted_offset"))?,
                push_id: row.get("push_id"),
                request_id: row.get("request_id"),
                endpoint: row.get("endpoint"),
                error,
                source: row.get("source"),
                resolved_at,
                accepted,
                project: None,
                kind: row
                    .get::<_, Option<&str>>("kind")
                    .map(parse_kind)
                    .transpose()?,
                environment: row.get("environment"),
                app_key_sha1: row.get("app_key_sha1"),
                rehearsal: row.get("rehearsal"),
            },
        })
    };
    inner().with_context(|| format!("record #{id} of the PostgreSQL state is invalid"))
}

fn at_offset(at: DateTime<Utc>, offset: i32) -> anyhow::Result<DateTime<FixedOffset>> {
    let offset = FixedOffset::east_opt(offset)
        .ok_or_else(|| anyhow!("UTC offset {offset} s is out of range"))?;
    Ok(at.with_timezone(&offset))
}

fn offset_of(at: &DateTime<FixedOffset>) -> i32 {
    at.offset().local_minus_utc()
}

/// The advisory lock key of a scope: 64 bits of a SHA-1, so scopes never
/// share a lock by accident and other applications' small integer keys are
/// unlikely to collide with ours.
fn scope_key(scope: &str) -> i64 {
    advisory_key(&format!("pushform scope\0{scope}"))
}

fn advisory_key(text: &str) -> i64 {
    let digest = Sha1::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

fn lock_holder(client: &mut Client, scope: &str, key: i64) -> anyhow::Result<Option<LockHolder>> {
    // A bigint advisory key shows in pg_locks as classid (high half), objid
    // (low half) and objsubid 1.
    let high = (key >> 32) & 0xFFFF_FFFF;
    let low = key & 0xFFFF_FFFF;
    let row = client
        .query_opt(
            "SELECT l.pid, a.application_name, host(a.client_addr), a.backend_start,
                    (SELECT h.holder FROM pushform_holders h
                      WHERE h.scope = $3 AND h.backend_pid = l.pid)
               FROM pg_locks l
               LEFT JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
                AND l.classid::bigint = $1 AND l.objid::bigint = $2
                AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
              LIMIT 1",
            &[&high, &low, &scope],
        )
        .map_err(|e| db_error(&e, "cannot find who holds the scope lock"))?;
    Ok(row.map(|row| LockHolder {
        backend_pid: row.get(0),
        application_name: row.get(1),
        client_addr: row.get(2),
        since: row.get(3),
        note: row.get(4),
    }))
}

fn missing_scope(scope: &str) -> anyhow::Error {
    anyhow!(
        "the PostgreSQL state has no scope {scope:?}: nothing is recorded there, and \
         pushform never starts a history implicitly. Run `pushform state init` to start it"
    )
}

fn db_error(error: &postgres::Error, what: &str) -> anyhow::Error {
    anyhow!("{what}: {}", error_text(error))
}

// ---------------------------------------------------------------------------
// Writing: the scope lock held
// ---------------------------------------------------------------------------

/// A connection holding its scope's write lock; the only way to write.
/// Dropping it (or the session dying) releases the lock.
#[derive(Debug)]
pub struct PgWriter {
    state: PgState,
    key: i64,
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
    fn begin(&mut self) -> anyhow::Result<postgres::Transaction<'_>> {
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
    /// and no record is ever removed.
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
        if lock.sends.len() < stored.records.len() {
            bail!(
                "refusing to write the PostgreSQL state scope {scope:?}: it holds {} records \
                 of project {project:?}, the new state only {} (records are never removed)",
                stored.records.len(),
                lock.sends.len()
            );
        }
        for (old, new) in stored.records.iter().zip(&lock.sends) {
            if old.record != *new {
                check_change(old, new)?;
                update_record(&mut tx, &scope, old, new)?;
            }
        }
        let mut appended = Vec::new();
        for record in &lock.sends[stored.records.len()..] {
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

/// Fails unless this session holds the scope lock `key`. Writers hold it by
/// construction; checking inside the write's transaction costs one query and
/// turns a broken assumption into an error instead of two writers.
fn assert_locked(client: &mut impl GenericClient, key: i64) -> anyhow::Result<()> {
    let high = (key >> 32) & 0xFFFF_FFFF;
    let low = key & 0xFFFF_FFFF;
    let held: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_locks
                             WHERE pid = pg_backend_pid() AND locktype = 'advisory' AND granted
                               AND objsubid = 1 AND classid::bigint = $1 AND objid::bigint = $2)",
            &[&high, &low],
        )
        .map_err(|e| db_error(&e, "cannot check the scope lock"))?
        .get(0);
    if !held {
        bail!("this session no longer holds the scope lock; nothing was written");
    }
    Ok(())
}

/// Bumps the scope's serial from `expected` (the serial this write was based on) inside a
/// write's transaction, failing if the scope is missing (no write starts a history), the lock
/// is not held, or the serial is no longer `expected`. The scope lock already excludes other
/// writers; the compare-and-swap turns a broken exclusion (a lock lost, an operator's manual
/// write) into a refused write instead of two writes based on the same state.
fn bump_serial(
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
fn current_serial(client: &mut impl GenericClient, scope: &str) -> anyhow::Result<u64> {
    read_meta(client, scope)?
        .map(|meta| meta.serial)
        .ok_or_else(|| missing_scope(scope))
}

fn insert_record(
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

fn kind_str(kind: RecordKind) -> &'static str {
    match kind {
        RecordKind::Send => "send",
        RecordKind::Test => "test",
    }
}

fn parse_kind(text: &str) -> anyhow::Result<RecordKind> {
    Ok(match text {
        "send" => RecordKind::Send,
        "test" => RecordKind::Test,
        other => bail!("unknown kind {other:?}"),
    })
}

fn parse_status(text: &str) -> anyhow::Result<Status> {
    Ok(match text {
        "sending" => Status::Sending,
        "sent" => Status::Sent,
        "rejected" => Status::Rejected,
        "unknown" => Status::Unknown,
        other => bail!("unknown status {other:?}"),
    })
}

/// A body as stored: compact JSON with object keys sorted at every level, the
/// same value the lockfile writes (whatever serde_json's map order).
fn canonical_json(body: &JsonBody) -> anyhow::Result<String> {
    serde_json::to_string(&Sorted(&body.value())).context("cannot serialise a body")
}

struct Sorted<'a>(&'a Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Array(items) => serializer.collect_seq(items.iter().map(Sorted)),
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serializer.collect_map(entries.into_iter().map(|(k, v)| (k, Sorted(v))))
            }
            other => other.serialize(serializer),
        }
    }
}

// ---------------------------------------------------------------------------
// The postgres backend behind the store interface
// ---------------------------------------------------------------------------

/// The `postgres` backend: a scope of a PostgreSQL database behind the `Store` trait.
///
/// Every read and every session is its own connection: a read needs only SELECT, and a
/// session holds the scope's advisory lock for as long as it lives (the lock, like the
/// connection, dies with the process). The state it hands out is [`ScopeState::lock_for`]
/// this project: the whole scope, other projects' records tagged, so the planner's quota
/// history is the App Key's while its unit states are this repository's.
#[derive(Debug, Clone)]
pub struct PgStore {
    settings: PgSettings,
}

impl PgStore {
    #[must_use]
    pub fn new(settings: PgSettings) -> Self {
        PgStore { settings }
    }
}

impl Store for PgStore {
    fn describe(&self) -> String {
        format!(
            "scope {} of the PostgreSQL state (project {})",
            self.settings.scope, self.settings.project
        )
    }

    fn read(&self, _freshness: Freshness) -> anyhow::Result<Snapshot> {
        // No stale fallback: there is no local copy of a database, and a plan against a
        // guessed history would schedule slots another repository may have used.
        let mut state = PgState::connect(&self.settings, "pushform (read)")
            .context("cannot read the PostgreSQL state")?;
        let lock = match state.load_scope()? {
            ScopeRead::Found(scope) => Some(scope.lock_for(&self.settings.project)),
            // The caller warns (or refuses) with its own words.
            ScopeRead::Missing { .. } => None,
        };
        Ok(Snapshot {
            lock,
            warnings: Vec::new(),
        })
    }

    fn open(&self, holder: &Holder, wait: Option<Duration>) -> anyhow::Result<Box<dyn Session>> {
        let state = PgState::connect(&self.settings, &holder.command)
            .context("cannot open the PostgreSQL state for writing")?;
        let note = format!(
            "{} on host {}, pid {}, since {}",
            holder.command, holder.host, holder.pid, holder.started
        );
        let mut writer = state.lock_scope(&note, wait).map_err(|e| anyhow!("{e}"))?;
        let lock = match writer.state().load_scope()? {
            ScopeRead::Found(scope) => Some(scope.lock_for(&self.settings.project)),
            ScopeRead::Missing { .. } => None,
        };
        Ok(Box::new(PgSession {
            writer,
            lock,
            place: self.describe(),
        }))
    }

    fn unlock(&self, lease_id: &str, _force: bool) -> anyhow::Result<String> {
        bail!(
            "the postgres backend has no lease `{lease_id}` to clear: its lock is a session \
             advisory lock, which the server frees when the holding session ends. A refused \
             command names the holder's server backend pid; if that session really hangs, an \
             administrator can end it with `SELECT pg_terminate_backend(PID)`"
        )
    }
}

/// A connection holding the scope's lock, and the scope as last read or written.
struct PgSession {
    writer: PgWriter,
    lock: Option<Lock>,
    place: String,
}

impl Session for PgSession {
    fn current(&self) -> Option<&Lock> {
        self.lock.as_ref()
    }

    fn create(&mut self, lock: Lock, _message: &str) -> anyhow::Result<()> {
        if let Some(existing) = &self.lock {
            bail!(
                "{} already holds a state (lineage {}, serial {}, {} records)",
                self.place,
                existing.lineage,
                existing.serial,
                existing.sends.len()
            );
        }
        self.writer.import_lock(&lock)?;
        let project = self.writer.state().project().to_owned();
        self.lock = Some(self.writer.load()?.lock_for(&project));
        Ok(())
    }

    fn commit(
        &mut self,
        _message: &str,
        edit: &mut dyn FnMut(&mut Lock) -> anyhow::Result<bool>,
    ) -> anyhow::Result<bool> {
        let Some(current) = &self.lock else {
            return Err(super::no_state(&self.place));
        };
        let mut next = current.clone();
        if !edit(&mut next)? {
            return Ok(false);
        }
        // The edit sees the whole scope (the planner needs every project's sends) but may
        // change only this project's records: the others are written by their own projects.
        let theirs = |lock: &Lock| -> Vec<Record> {
            lock.sends
                .iter()
                .filter(|r| r.project.is_some())
                .cloned()
                .collect()
        };
        if theirs(current) != theirs(&next) {
            bail!(
                "internal error: a change to {} touched another project's record",
                self.place
            );
        }
        let mut own = Lock {
            format_version: next.format_version,
            lineage: next.lineage.clone(),
            serial: next.serial,
            sends: next
                .sends
                .iter()
                .filter(|r| r.project.is_none())
                .cloned()
                .collect(),
        };
        // One transaction, committed before this returns (a `sending` record is on the server
        // before the POST); the scope lock held by this session excludes every other writer.
        self.writer.write_lock(&mut own)?;
        next.serial = own.serial;
        self.lock = Some(next);
        Ok(true)
    }

    fn lease(&mut self) -> anyhow::Result<()> {
        // The advisory lock taken by `open` already excludes every other writer of the scope.
        Ok(())
    }

    fn release(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
#[path = "../../tests/cli/support/pg.rs"]
#[allow(dead_code)] // the CLI tests use the rest of the harness
mod test_cluster;

#[cfg(test)]
#[path = "postgres/tests.rs"]
mod tests;
