//! The scope's write lock: a session advisory lock, keyed by a hash of the scope, so the server
//! frees it when the holding session dies, however it dies. A refused writer is told who holds
//! it (server pid, what the holder wrote, since when); every write checks again inside its
//! transaction that the lock is still held.

use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

use anyhow::bail;
use chrono::{DateTime, Utc};
use postgres::{Client, GenericClient};
use sha1::{Digest, Sha1};

use super::read::db_error;
use super::{PgState, PgWriter};

/// How often a waiting [`PgState::lock_scope`] retries the advisory lock.
const LOCK_POLL: Duration = Duration::from_millis(100);

/// How often a refused writer that then finds the lock free tries it again
/// before it gives up and says "another session" (a lock taken and released
/// faster than two queries).
const FREE_RETRIES: u32 = 3;

/// How long a refused writer waits for a holder that has just taken the lock
/// to write its note (command, host, pid), and how often it looks.
const NOTE_WAIT: Duration = Duration::from_millis(500);
const NOTE_POLL: Duration = Duration::from_millis(20);

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

impl PgState {
    /// Takes the scope's write lock: a session advisory lock, so the server
    /// frees it when this session ends, however it ends. Without `wait`,
    /// fails at once naming the holder (waiting up to 500 ms for a holder that has just taken
    /// the lock to write who it is); with `Some(d)`, retries every 100 ms
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
        let mut lookups = 0;
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
                _ => match settled_holder(&mut self.client, &self.scope, key)? {
                    // Released between our try and the look-up: it is free, try again.
                    Sighting::Free if lookups < FREE_RETRIES => lookups += 1,
                    sighting => {
                        return Err(PgLockError::Held {
                            holder: match sighting {
                                Sighting::Held(holder) => Some(Box::new(holder)),
                                Sighting::Free => None,
                            },
                            scope: self.scope,
                            waited: wait.filter(|d| !d.is_zero()),
                        });
                    }
                },
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

/// The advisory lock key of a scope: 64 bits of a SHA-1, so scopes never
/// share a lock by accident and other applications' small integer keys are
/// unlikely to collide with ours.
pub(super) fn scope_key(scope: &str) -> i64 {
    advisory_key(&format!("pushform scope\0{scope}"))
}

pub(super) fn advisory_key(text: &str) -> i64 {
    let digest = Sha1::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// What a refused writer saw when it looked for the lock's holder.
enum Sighting {
    Held(LockHolder),
    /// No session holds the lock any more: it was released after our try.
    Free,
}

/// The holder of the scope lock, once it has written its note: a holder
/// writes the note just after it takes the lock, so a writer refused in
/// between looks again for up to [`NOTE_WAIT`] rather than name a holder
/// without saying what it is. A holder that never writes one (it died, or
/// it is not pushform) is named without it.
fn settled_holder(client: &mut Client, scope: &str, key: i64) -> anyhow::Result<Sighting> {
    let started = Instant::now();
    loop {
        match lock_holder(client, scope, key)? {
            None => return Ok(Sighting::Free),
            Some(holder) if holder.note.is_some() || started.elapsed() >= NOTE_WAIT => {
                return Ok(Sighting::Held(holder));
            }
            Some(_) => std::thread::sleep(NOTE_POLL),
        }
    }
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

/// Fails unless this session holds the scope lock `key`. Writers hold it by
/// construction; checking inside the write's transaction costs one query and
/// turns a broken assumption into an error instead of two writers.
pub(super) fn assert_locked(client: &mut impl GenericClient, key: i64) -> anyhow::Result<()> {
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
