//! Reading: a connection to the state database for one scope and project, no lock. Reads need
//! only SELECT, so `plan` can run with a read-only role, and a missing scope reads as an empty
//! state with a warning, never as a history started implicitly.

use std::fmt;

use anyhow::{Context, anyhow, bail};
use postgres::{Client, GenericClient};

use super::rows::{RECORD_COLUMNS, RECORD_COLUMNS_V1, stored_record};
use super::schema::{check_not_newer, schema_version};
use super::url::{Target, error_text};
use super::{PgSettings, ScopeMeta, ScopeRead, ScopeState};
use crate::state::format::{FORMAT_VERSION, Lock};

/// A connection to the state database for one scope and project. Reads need
/// only SELECT; writes go through [`PgWriter`](super::PgWriter), which holds the scope's lock.
pub struct PgState {
    pub(super) client: Client,
    pub(super) scope: String,
    pub(super) project: String,
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
}

pub(super) fn read_meta(
    client: &mut impl GenericClient,
    scope: &str,
) -> anyhow::Result<Option<ScopeMeta>> {
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

/// The scope's metadata and records, read from a database at schema `version`.
pub(super) fn load_in(
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

pub(super) fn missing_scope(scope: &str) -> anyhow::Error {
    anyhow!(
        "the PostgreSQL state has no scope {scope:?}: nothing is recorded there, and \
         pushform never starts a history implicitly. Run `pushform state init` to start it"
    )
}

pub(super) fn db_error(error: &postgres::Error, what: &str) -> anyhow::Error {
    anyhow!("{what}: {}", error_text(error))
}
