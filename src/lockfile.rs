//! The lockfile: pushform's audit log of every send attempt.
//!
//! A push that has been handed to the provider can never be recalled, so
//! pushform must remember every attempt — including the ones whose outcome it
//! never learnt — before it makes the next one. `pushform.lock` is that memory:
//! an append-only list of send records, written as deterministic, pretty JSON
//! so it can be committed and reviewed like the campaigns themselves. This
//! module owns its format, the rules for how a record may change, the per-key
//! view the planner needs ([`LockIndex`]), and the store that reads and writes
//! the file. The store is built so the file can never tear or be lost: writers
//! are serialised by an OS lock on a sidecar file, every write goes through a
//! synced temporary file renamed into place (after the previous version has
//! been saved as a backup the same way), and a file that does not parse is
//! never overwritten.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::fs::{self, File, OpenOptions, Permissions, TryLockError};
use std::io::{self, ErrorKind, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, FixedOffset, SecondsFormat, SubsecRound, Utc};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// The only `format_version` this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// How often a waiting [`LockStore::acquire`] retries the OS lock.
const LOCK_POLL: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// The format
// ---------------------------------------------------------------------------

/// The whole lockfile.
///
/// Unknown fields are refused rather than ignored: the store rewrites the
/// whole file on every write, so a field this build does not know would
/// otherwise be silently dropped from the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub format_version: u32,
    /// Random id made when the lockfile was created; a file with another
    /// lineage is a different history, never to be overwritten by this one.
    pub lineage: String,
    /// Bumped by every write, so a concurrent or manual change is detectable.
    pub serial: u64,
    /// Append-only, oldest first.
    pub sends: Vec<Record>,
}

/// One send attempt of one unit (campaign × locale).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub key: String,
    pub campaign: String,
    /// Always written (as `null` when absent) so every record has the same shape.
    pub locale: Option<String>,
    /// SHA-1 hex of the body as rendered for this attempt.
    pub digest: String,
    #[serde(serialize_with = "serialize_sorted")]
    pub body: Value,
    pub status: Status,
    #[serde(with = "rfc3339_secs")]
    pub attempted_at: DateTime<FixedOffset>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// For `rejected` and `unknown` records: what the provider (or transport) said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<RecordError>,
    /// `"import"` for records made by `state import`, `"resolve"` once `state
    /// resolve` has settled the record by hand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// When `state resolve` settled the record (the attempt time is kept as is,
    /// because the quota history counts attempts, not resolutions).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "opt_rfc3339_secs"
    )]
    pub resolved_at: Option<DateTime<FixedOffset>>,
    /// Set by `state accept`: the rendering taken as reference after the
    /// campaign of a sent push was edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
}

/// Where a send attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Written before the request goes out; if it is still there afterwards,
    /// the process died mid-send and nobody knows whether the push went out.
    Sending,
    Sent,
    /// The provider refused it: nothing was delivered.
    Rejected,
    /// The request went out but no definite answer came back.
    Unknown,
}

impl Status {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Rejected => "rejected",
            Status::Unknown => "unknown",
        }
    }

    /// `sending` or `unknown`: the push may or may not have been delivered.
    #[must_use]
    pub fn is_unresolved(self) -> bool {
        matches!(self, Status::Sending | Status::Unknown)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error a provider (or the transport) gave for an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordError {
    pub code: i64,
    pub message: String,
}

/// A rendering accepted as the reference for an already sent push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Accepted {
    pub digest: String,
    #[serde(serialize_with = "serialize_sorted")]
    pub body: Value,
    #[serde(with = "rfc3339_secs")]
    pub at: DateTime<FixedOffset>,
}

/// How a `sending` record ends, for [`Lock::settle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent {
        push_id: Option<String>,
        request_id: Option<String>,
    },
    Rejected {
        request_id: Option<String>,
        error: RecordError,
    },
    Unknown {
        request_id: Option<String>,
        error: Option<RecordError>,
    },
}

/// A refused change to the records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    #[error("the lockfile has no record #{index} (it has {len})")]
    NoSuchRecord { index: usize, len: usize },
    #[error(
        "record #{index} ({key}) is {status}, not sending: only a sending record can be settled"
    )]
    NotSending {
        index: usize,
        key: String,
        status: Status,
    },
    #[error("the lockfile has no record for {key}")]
    UnknownKey { key: String },
    #[error(
        "{key} cannot be resolved: its latest record is {status}; only a sending or unknown record can be resolved"
    )]
    NotResolvable { key: String, status: Status },
    #[error(
        "{key} cannot be accepted: its latest record is {status}; only a sent or unknown record can be accepted"
    )]
    NotAcceptable { key: String, status: Status },
    #[error("{key}: a push id can only be given when resolving it as sent")]
    PushIdWithoutSent { key: String },
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl Lock {
    /// An empty lockfile with a fresh lineage.
    #[must_use]
    pub fn new() -> Self {
        Lock {
            format_version: FORMAT_VERSION,
            lineage: uuid::Uuid::new_v4().to_string(),
            serial: 0,
            sends: Vec::new(),
        }
    }

    /// Appends a record and returns its index. Timestamps are truncated to
    /// whole seconds so the in-memory value equals what the file will hold.
    pub fn append(&mut self, mut record: Record) -> usize {
        record.attempted_at = record.attempted_at.trunc_subsecs(0);
        record.resolved_at = record.resolved_at.map(|at| at.trunc_subsecs(0));
        if let Some(accepted) = &mut record.accepted {
            accepted.at = accepted.at.trunc_subsecs(0);
        }
        self.sends.push(record);
        self.sends.len() - 1
    }

    /// Records the outcome of the `sending` record at `index`.
    ///
    /// # Errors
    /// [`LockError::NoSuchRecord`] for a bad index, [`LockError::NotSending`]
    /// if the record already has an outcome (outcomes are never rewritten).
    pub fn settle(&mut self, index: usize, outcome: Outcome) -> Result<(), LockError> {
        let len = self.sends.len();
        let record = self
            .sends
            .get_mut(index)
            .ok_or(LockError::NoSuchRecord { index, len })?;
        if record.status != Status::Sending {
            return Err(LockError::NotSending {
                index,
                key: record.key.clone(),
                status: record.status,
            });
        }
        match outcome {
            Outcome::Sent {
                push_id,
                request_id,
            } => {
                record.status = Status::Sent;
                record.push_id = push_id;
                record.request_id = request_id;
            }
            Outcome::Rejected { request_id, error } => {
                record.status = Status::Rejected;
                record.request_id = request_id;
                record.error = Some(error);
            }
            Outcome::Unknown { request_id, error } => {
                record.status = Status::Unknown;
                record.request_id = request_id;
                record.error = error;
            }
        }
        Ok(())
    }

    /// `state resolve`: settles by hand the latest `sending`/`unknown` record
    /// of `key`, as sent (optionally with the push id found in the provider's
    /// console) or as rejected (not delivered: the unit becomes pending
    /// again). Marks it `source: "resolve"` with `resolved_at: at`; the
    /// original error is kept for the audit trail. Returns the record's index.
    ///
    /// # Errors
    /// [`LockError::UnknownKey`] if the key has no record,
    /// [`LockError::NotResolvable`] (naming the latest record's status) if no
    /// record of the key is `sending`/`unknown`, and
    /// [`LockError::PushIdWithoutSent`] for a push id with `sent == false`.
    pub fn resolve(
        &mut self,
        key: &str,
        sent: bool,
        push_id: Option<String>,
        at: DateTime<FixedOffset>,
    ) -> Result<usize, LockError> {
        if !sent && push_id.is_some() {
            return Err(LockError::PushIdWithoutSent {
                key: key.to_owned(),
            });
        }
        let index = self.latest_of(
            key,
            |r| r.status.is_unresolved(),
            |key, status| LockError::NotResolvable { key, status },
        )?;
        let record = &mut self.sends[index];
        record.status = if sent { Status::Sent } else { Status::Rejected };
        if push_id.is_some() {
            record.push_id = push_id;
        }
        record.source = Some("resolve".to_owned());
        record.resolved_at = Some(at.trunc_subsecs(0));
        Ok(index)
    }

    /// `state accept`: records `digest`/`body` as the reference rendering of
    /// the latest `sent`/`unknown` record of `key` (replacing any earlier
    /// acceptance). Returns the record's index.
    ///
    /// # Errors
    /// [`LockError::UnknownKey`] if the key has no record,
    /// [`LockError::NotAcceptable`] (naming the latest record's status) if no
    /// record of the key is `sent`/`unknown`.
    pub fn accept(
        &mut self,
        key: &str,
        digest: String,
        body: Value,
        at: DateTime<FixedOffset>,
    ) -> Result<usize, LockError> {
        let index = self.latest_of(
            key,
            |r| matches!(r.status, Status::Sent | Status::Unknown),
            |key, status| LockError::NotAcceptable { key, status },
        )?;
        self.sends[index].accepted = Some(Accepted {
            digest,
            body,
            at: at.trunc_subsecs(0),
        });
        Ok(index)
    }

    /// Index of the latest record of `key` matching `wanted`; otherwise the
    /// error made by `refuse` from the key and its latest record's status.
    fn latest_of(
        &self,
        key: &str,
        wanted: impl Fn(&Record) -> bool,
        refuse: impl FnOnce(String, Status) -> LockError,
    ) -> Result<usize, LockError> {
        let mut latest_status = None;
        for (index, record) in self.sends.iter().enumerate().rev() {
            if record.key != key {
                continue;
            }
            if wanted(record) {
                return Ok(index);
            }
            latest_status.get_or_insert(record.status);
        }
        Err(match latest_status {
            Some(status) => refuse(key.to_owned(), status),
            None => LockError::UnknownKey {
                key: key.to_owned(),
            },
        })
    }
}

/// The lockfile as the file holds it: 2-space pretty JSON with a trailing
/// newline, fields in declaration order and body keys sorted, so the same
/// `Lock` always gives the same bytes.
///
/// # Panics
/// Never in practice: every map key in a `Lock` is a string, which is all
/// `serde_json` can fail on. [`LockGuard::write`] uses the fallible form.
#[must_use]
pub fn to_pretty_json(lock: &Lock) -> String {
    try_to_pretty_json(lock).expect("a Lock always serialises to JSON")
}

fn try_to_pretty_json(lock: &Lock) -> serde_json::Result<String> {
    let mut json = serde_json::to_string_pretty(lock)?;
    json.push('\n');
    Ok(json)
}

/// Serialises a JSON value with object keys sorted at every level. `serde_json`
/// sorts by default, but a dependency turning on its `preserve_order` feature
/// would silently make the file's bytes depend on insertion order.
fn serialize_sorted<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
    Sorted(value).serialize(serializer)
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

/// RFC 3339 with the offset kept and whole seconds, e.g. `2026-12-01T10:00:01+08:00`.
mod rfc3339_secs {
    use chrono::{DateTime, FixedOffset, SecondsFormat, SubsecRound};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::borrow::Cow;

    pub fn serialize<S: Serializer>(
        at: &DateTime<FixedOffset>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Secs, false))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<FixedOffset>, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        parse(&text).map_err(D::Error::custom)
    }

    pub(super) fn parse(text: &str) -> Result<DateTime<FixedOffset>, String> {
        DateTime::parse_from_rfc3339(text)
            .map(|at| at.trunc_subsecs(0))
            .map_err(|e| format!("invalid RFC 3339 timestamp {text:?}: {e}"))
    }
}

mod opt_rfc3339_secs {
    use chrono::{DateTime, FixedOffset};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::borrow::Cow;

    // serde's `with` hands the field by reference, hence `&Option`.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(
        at: &Option<DateTime<FixedOffset>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339_secs::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
        match Option::<Cow<str>>::deserialize(deserializer)? {
            Some(text) => super::rfc3339_secs::parse(&text)
                .map(Some)
                .map_err(D::Error::custom),
            None => Ok(None),
        }
    }
}

// ---------------------------------------------------------------------------
// The planner's view
// ---------------------------------------------------------------------------

/// Where one key stands, as the planner needs it.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyState<'a> {
    /// Delivered. `digest`/`body` are the effective reference: the accepted
    /// rendering if `state accept` set one, else what was sent.
    Sent { digest: &'a str, body: &'a Value },
    /// A `sending`/`unknown` record is not followed by any sent one: the push
    /// may have been delivered, so nothing may be sent until it is resolved.
    Unresolved { status: Status },
    /// Every record is `rejected`: nothing was delivered, the unit is pending again.
    AllRejected,
}

/// Per-key state and quota history, computed in one pass over the lock so the
/// planner never rescans the records per unit.
#[derive(Debug, Clone)]
pub struct LockIndex<'a> {
    states: HashMap<&'a str, KeyState<'a>>,
    keys: Vec<&'a str>,
    history: Vec<DateTime<Utc>>,
}

impl<'a> LockIndex<'a> {
    /// Precedence per key: a `sending`/`unknown` record (not accepted) that
    /// comes after the latest sent-or-accepted record makes the key
    /// `Unresolved`; otherwise the latest sent-or-accepted record makes it
    /// `Sent`; otherwise (every record rejected) it is `AllRejected`.
    #[must_use]
    pub fn new(lock: &'a Lock) -> Self {
        #[derive(Default)]
        struct Seen {
            sent: Option<usize>,
            unresolved: Option<usize>,
        }
        let mut seen: HashMap<&'a str, Seen> = HashMap::new();
        let mut keys = Vec::new();
        let mut history = Vec::with_capacity(lock.sends.len());
        for (index, record) in lock.sends.iter().enumerate() {
            history.push(record.attempted_at.with_timezone(&Utc));
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
        }
    }

    /// The key's state, or `None` if the lock has never seen it.
    #[must_use]
    pub fn state(&self, key: &str) -> Option<&KeyState<'a>> {
        self.states.get(key)
    }

    /// Every key in the lock, in order of first appearance.
    #[must_use]
    pub fn keys(&self) -> &[&'a str] {
        &self.keys
    }

    /// The `attempted_at` of every record, whatever its status, in UTC and
    /// sorted ascending: the quota history.
    #[must_use]
    pub fn history(&self) -> &[DateTime<Utc>] {
        &self.history
    }
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

/// Who holds the write lock, written into the sidecar so a blocked command can
/// say who is in its way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub host: String,
    pub command: String,
    /// RFC 3339, UTC.
    pub started: String,
}

impl Holder {
    /// This process, running `command` (e.g. `"pushform apply"`), starting now.
    #[must_use]
    pub fn current(command: impl Into<String>) -> Self {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            command: command.into(),
            started: Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

fn hostname() -> String {
    let from_file = fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_owned());
    from_file
        .into_iter()
        .chain(std::env::var("HOSTNAME").ok().map(|s| s.trim().to_owned()))
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Why [`LockStore::acquire`] did not get the lock.
#[derive(Debug, thiserror::Error)]
pub enum AcquireError {
    /// Another process holds the lock. `holder` is what it wrote into the
    /// sidecar (absent if unreadable, e.g. caught mid-write); `waited` is the
    /// timeout that ran out, if one was given.
    #[error("{}", held_message(lockfile, holder.as_ref(), *waited))]
    Held {
        lockfile: PathBuf,
        holder: Option<Holder>,
        waited: Option<Duration>,
    },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn held_message(lockfile: &Path, holder: Option<&Holder>, waited: Option<Duration>) -> String {
    let mut message = format!("the lockfile {} is locked", lockfile.display());
    match holder {
        Some(h) => {
            let _ = write!(
                message,
                " by pid {} on host {} ({}, since {})",
                h.pid, h.host, h.command, h.started
            );
        }
        None => message.push_str(" by another process"),
    }
    match waited {
        Some(waited) => {
            let _ = write!(
                message,
                " and stayed locked for {waited:?}; another apply is running. \
                 Wait for it, or pass a longer --lock-timeout"
            );
        }
        None => message.push_str("; another apply is running. Wait for it, or pass --lock-timeout"),
    }
    message
}

/// Reads and writes one `pushform.lock`. A small interface on purpose, so a
/// shared backend can stand in for the local file later.
#[derive(Debug, Clone)]
pub struct LockStore {
    path: PathBuf,
}

impl LockStore {
    #[must_use]
    pub fn new(path: PathBuf) -> Self {
        LockStore { path }
    }

    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `<lockfile>.backup`: the previous version, kept by every write.
    #[must_use]
    pub fn backup_path(&self) -> PathBuf {
        with_suffix(&self.path, ".backup")
    }

    /// `<lockfile>.held`: the sidecar carrying the OS lock and the holder info.
    #[must_use]
    pub fn held_path(&self) -> PathBuf {
        with_suffix(&self.path, ".held")
    }

    /// Reads the lockfile without taking the OS lock (for `plan`): writes
    /// replace the file by rename, so a reader always sees a whole version.
    /// `None` if there is no lockfile yet.
    ///
    /// # Errors
    /// If the file cannot be read or does not parse (naming the file, line and
    /// column), has another `format_version`, or is missing while its backup
    /// exists (the history was deleted: starting afresh would re-send).
    pub fn load(&self) -> anyhow::Result<Option<Lock>> {
        load_from(&self.path)
    }

    /// Takes the exclusive write lock. Without `wait`, fails at once with
    /// [`AcquireError::Held`] if another process holds it; with `Some(d)`,
    /// retries every 100 ms for up to `d`. The lock is an OS lock on the
    /// sidecar (never on the lockfile, which each write replaces by rename),
    /// so it dies with its holder's process: there is no stale lock to clear.
    ///
    /// # Errors
    /// [`AcquireError::Held`] as above, [`AcquireError::Io`] if the sidecar
    /// cannot be opened, locked or written.
    pub fn acquire(
        &self,
        holder: &Holder,
        wait: Option<Duration>,
    ) -> Result<LockGuard, AcquireError> {
        let held_path = self.held_path();
        let io_error = |source| AcquireError::Io {
            path: held_path.clone(),
            source,
        };
        // No truncation on open: until we hold the lock, the content is the
        // current holder's, which is exactly what a refusal should report.
        // The sidecar is never deleted either: unlinking it while another
        // process waits on it would let two processes hold "the" lock.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&held_path)
            .map_err(io_error)?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let remaining = wait.and_then(|d| d.checked_sub(started.elapsed()));
                    match remaining {
                        Some(remaining) if !remaining.is_zero() => {
                            std::thread::sleep(remaining.min(LOCK_POLL));
                        }
                        _ => {
                            return Err(AcquireError::Held {
                                lockfile: self.path.clone(),
                                holder: read_holder(&held_path),
                                waited: wait.filter(|d| !d.is_zero()),
                            });
                        }
                    }
                }
                Err(TryLockError::Error(source)) => return Err(io_error(source)),
            }
        }
        let mut guard = LockGuard {
            path: self.path.clone(),
            held: file,
        };
        // On failure the guard is dropped here, which releases the lock.
        guard.record_holder(holder).map_err(io_error)?;
        Ok(guard)
    }
}

fn read_holder(held_path: &Path) -> Option<Holder> {
    let bytes = fs::read(held_path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Proof of holding the write lock; the only way to write the lockfile.
/// Dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    path: PathBuf,
    held: File,
}

impl LockGuard {
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lockfile as on disk, or a new empty one (fresh lineage, serial 0)
    /// if there is none yet.
    ///
    /// # Errors
    /// As [`LockStore::load`].
    pub fn load_or_create(&self) -> anyhow::Result<Lock> {
        Ok(load_from(&self.path)?.unwrap_or_default())
    }

    /// Durably writes `lock` with `serial` bumped (left unchanged if the write
    /// fails). Refuses, touching nothing, if the file on disk does not parse
    /// or is not the version `lock` was loaded from (other lineage or serial).
    /// Otherwise saves the on-disk version to `<lockfile>.backup`, then
    /// replaces the lockfile — each through a synced temporary file in the
    /// same folder renamed into place — and syncs the folder.
    ///
    /// # Errors
    /// On the refusals above and on any I/O error.
    pub fn write(&mut self, lock: &mut Lock) -> anyhow::Result<()> {
        let previous = read_bytes(&self.path)?;
        if let Some(bytes) = &previous {
            let on_disk = parse_lock(&self.path, bytes).with_context(|| {
                format!("refusing to write the lockfile {}", self.path.display())
            })?;
            if on_disk.lineage != lock.lineage {
                bail!(
                    "refusing to write the lockfile {}: it holds lineage {} on disk, not {} \
                     (it was replaced since it was loaded)",
                    self.path.display(),
                    on_disk.lineage,
                    lock.lineage
                );
            }
            if on_disk.serial != lock.serial {
                bail!(
                    "refusing to write the lockfile {}: it is at serial {} on disk, not {} \
                     (it changed since it was loaded)",
                    self.path.display(),
                    on_disk.serial,
                    lock.serial
                );
            }
        }
        let loaded_serial = lock.serial;
        lock.serial = loaded_serial
            .checked_add(1)
            .ok_or_else(|| anyhow!("the lockfile serial cannot go past {loaded_serial}"))?;
        let result = self.replace(lock, previous.as_deref());
        if result.is_err() {
            lock.serial = loaded_serial;
        }
        result
    }

    fn replace(&self, lock: &Lock, previous: Option<&[u8]>) -> anyhow::Result<()> {
        let json = try_to_pretty_json(lock).context("cannot serialise the lockfile")?;
        let dir = parent_dir(&self.path);
        // Keep the mode someone gave the lockfile; temp files start at 0600.
        let permissions = fs::metadata(&self.path).ok().map(|m| m.permissions());
        if let Some(previous) = previous {
            let backup = with_suffix(&self.path, ".backup");
            write_atomic(dir, &backup, previous, permissions.clone())?;
        }
        write_atomic(dir, &self.path, json.as_bytes(), permissions)?;
        sync_dir(dir)
    }

    fn record_holder(&mut self, holder: &Holder) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(holder).map_err(io::Error::other)?;
        self.held.set_len(0)?;
        self.held.seek(SeekFrom::Start(0))?;
        self.held.write_all(&json)?;
        self.held.write_all(b"\n")?;
        self.held.flush()
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Best effort: the holder info is stale once we let go, and closing the
        // file releases the OS lock even if the explicit unlock fails.
        let _ = self.held.set_len(0);
        let _ = self.held.unlock();
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn read_bytes(path: &Path) -> anyhow::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow!(e).context(format!("cannot read the lockfile {}", path.display()))),
    }
}

fn load_from(path: &Path) -> anyhow::Result<Option<Lock>> {
    let Some(bytes) = read_bytes(path)? else {
        // Writes replace the lockfile by rename, so it is never missing once
        // it has existed: a lone backup means the history was deleted, and
        // starting an empty one would send everything again.
        let backup = with_suffix(path, ".backup");
        let orphaned = backup.try_exists().with_context(|| {
            format!("cannot check for the lockfile backup {}", backup.display())
        })?;
        if orphaned {
            bail!(
                "the lockfile {} is missing but its backup {} exists; restore it \
                 (copy the backup to the lockfile) or, to really start a new \
                 history, delete the backup",
                path.display(),
                backup.display()
            );
        }
        return Ok(None);
    };
    parse_lock(path, &bytes).map(Some)
}

/// Parses a lockfile's bytes, checking `format_version` before the shape so a
/// file from another version gets a version error, not a field error.
fn parse_lock(path: &Path, bytes: &[u8]) -> anyhow::Result<Lock> {
    #[derive(Deserialize)]
    struct Probe {
        format_version: Option<Value>,
    }
    let probe: Probe = serde_json::from_slice(bytes).map_err(|e| parse_error(path, &e))?;
    match probe.format_version {
        Some(v) if v == FORMAT_VERSION => {}
        Some(v) => {
            let newer = v.as_u64().is_some_and(|n| n > u64::from(FORMAT_VERSION));
            bail!(
                "the lockfile {} has format_version {v}, but this build of pushform reads \
                 format_version {FORMAT_VERSION} only{}",
                path.display(),
                if newer {
                    "; it was written by a newer pushform: upgrade pushform"
                } else {
                    ""
                }
            );
        }
        None => bail!(
            "the lockfile {} has no format_version; this build of pushform reads \
             format_version {FORMAT_VERSION}",
            path.display()
        ),
    }
    serde_json::from_slice(bytes).map_err(|e| parse_error(path, &e))
}

fn parse_error(path: &Path, error: &serde_json::Error) -> anyhow::Error {
    // serde_json ends its message with " at line L column C"; say it once.
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let what = full.strip_suffix(&position).unwrap_or(&full);
    let truncated = if error.is_eof() {
        " (the file is truncated)"
    } else {
        ""
    };
    // Only point at the backup if there is one (there is none before the
    // second write).
    let backup = with_suffix(path, ".backup");
    let restore = if backup.is_file() {
        format!(
            ", or restore its previous version from {}",
            backup.display()
        )
    } else {
        String::new()
    };
    anyhow!(
        "cannot parse the lockfile {} at line {}, column {}: {what}{truncated}; pushform will \
         not write to it until it parses: fix it by hand{restore}",
        path.display(),
        error.line(),
        error.column(),
    )
}

/// Writes `bytes` to `target` so that `target` is always either its old or its
/// new content: a synced temp file in the same folder (a rename is only atomic
/// within one filesystem), renamed over it. On failure the temp file is removed.
fn write_atomic(
    dir: &Path,
    target: &Path,
    bytes: &[u8],
    permissions: Option<Permissions>,
) -> anyhow::Result<()> {
    let context = || format!("cannot write {}", target.display());
    let prefix = match target.file_name() {
        Some(name) => format!(".{}.", name.to_string_lossy()),
        None => ".pushform.".to_owned(),
    };
    let mut temp = tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(context)?;
    temp.write_all(bytes).with_context(context)?;
    if let Some(permissions) = permissions {
        temp.as_file()
            .set_permissions(permissions)
            .with_context(context)?;
    }
    temp.as_file().sync_all().with_context(context)?;
    temp.persist(target)
        .map_err(|e| e.error)
        .with_context(context)?;
    Ok(())
}

/// Makes the renames themselves durable.
fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        let context = || format!("cannot sync the folder {}", dir.display());
        let handle = File::open(dir).with_context(context)?;
        match handle.sync_all() {
            Err(e) if e.kind() != ErrorKind::Unsupported => Err(e).with_context(context),
            _ => Ok(()),
        }
    }
    // Elsewhere a folder cannot be opened as a file; the rename is what we get.
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::mpsc;
    use std::thread;
    use tempfile::TempDir;

    fn ts(text: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(text).unwrap()
    }

    fn record(key: &str, status: Status, digest: &str, at: &str) -> Record {
        let (campaign, locale) = match key.split_once('/') {
            Some((c, l)) => (c.to_owned(), Some(l.to_owned())),
            None => (key.to_owned(), None),
        };
        Record {
            key: key.to_owned(),
            campaign,
            locale,
            digest: digest.to_owned(),
            body: json!({"title": digest}),
            status,
            attempted_at: ts(at),
            push_id: None,
            request_id: None,
            endpoint: None,
            error: None,
            source: None,
            resolved_at: None,
            accepted: None,
        }
    }

    fn lock_with(records: Vec<Record>) -> Lock {
        let mut lock = Lock::new();
        for r in records {
            lock.append(r);
        }
        lock
    }

    fn setup() -> (TempDir, LockStore) {
        let dir = TempDir::new().unwrap();
        let store = LockStore::new(dir.path().join("pushform.lock"));
        (dir, store)
    }

    fn full_record() -> Record {
        let mut r = record(
            "winter-sale-2026/en",
            Status::Sent,
            "d1",
            "2026-12-01T10:00:01+08:00",
        );
        r.body = json!({"z": 1, "a": {"y": [1, 2.5, null], "b": "ü\"\n"}});
        r.push_id = Some("50whSR6kQiHb7YgFwQzXIb".into());
        r.request_id = Some("req-1".into());
        r.endpoint = Some("https://api.rong-api.com".into());
        r.error = Some(RecordError {
            code: -1,
            message: "m".into(),
        });
        r.source = Some("import".into());
        r.resolved_at = Some(ts("2026-12-02T00:00:00Z"));
        r.accepted = Some(Accepted {
            digest: "d2".into(),
            body: json!({"k": "v"}),
            at: ts("2026-12-03T01:02:03-05:00"),
        });
        r
    }

    #[test]
    fn round_trip_through_the_store() {
        let (_dir, store) = setup();
        assert!(store.load().unwrap().is_none());
        let mut guard = store
            .acquire(&Holder::current("pushform apply"), None)
            .unwrap();
        let mut lock = guard.load_or_create().unwrap();
        assert_eq!((lock.format_version, lock.serial), (1, 0));
        assert!(uuid::Uuid::parse_str(&lock.lineage).is_ok());
        lock.append(full_record());
        let mut sparse = record("spring", Status::Unknown, "d3", "2026-03-01T00:00:00Z");
        sparse.attempted_at = ts("2026-03-01T00:00:00.987654321Z");
        lock.append(sparse);
        guard.write(&mut lock).unwrap();
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded, lock);
        assert_eq!(guard.load_or_create().unwrap(), lock);
        // And the bytes are a fixed point: reserialising the loaded lock changes nothing.
        let bytes = fs::read_to_string(store.path()).unwrap();
        assert_eq!(to_pretty_json(&loaded), bytes);
    }

    #[test]
    fn serialisation_is_the_documented_format() {
        let mut lock = Lock::new();
        lock.lineage = "L".into();
        lock.serial = 7;
        let mut r = record(
            "winter-sale-2026/en",
            Status::Sending,
            "abc",
            "2026-12-01T10:00:01.5+08:00",
        );
        r.body = json!({"z": [{"y": 1, "b": 2}], "a": 1});
        lock.append(r);
        let mut r = record("solo", Status::Sent, "def", "2026-12-01T02:00:02Z");
        r.push_id = Some("P".into());
        lock.append(r);
        let expected = r#"{
  "format_version": 1,
  "lineage": "L",
  "serial": 7,
  "sends": [
    {
      "key": "winter-sale-2026/en",
      "campaign": "winter-sale-2026",
      "locale": "en",
      "digest": "abc",
      "body": {
        "a": 1,
        "z": [
          {
            "b": 2,
            "y": 1
          }
        ]
      },
      "status": "sending",
      "attempted_at": "2026-12-01T10:00:01+08:00"
    },
    {
      "key": "solo",
      "campaign": "solo",
      "locale": null,
      "digest": "def",
      "body": {
        "title": "def"
      },
      "status": "sent",
      "attempted_at": "2026-12-01T02:00:02+00:00",
      "push_id": "P"
    }
  ]
}
"#;
        assert_eq!(to_pretty_json(&lock), expected);
        assert_eq!(to_pretty_json(&lock), to_pretty_json(&lock.clone()));
    }

    #[test]
    fn other_format_versions_are_refused_and_never_overwritten() {
        let (_dir, store) = setup();
        let mut lock = Lock::new();
        lock.format_version = 2;
        let text = to_pretty_json(&lock).replace("\"sends\"", "\"new_thing\": 1, \"sends\"");
        fs::write(store.path(), &text).unwrap();
        let err = format!("{:#}", store.load().unwrap_err());
        assert!(err.contains("format_version 2"), "{err}");
        assert!(err.contains("reads format_version 1 only"), "{err}");
        assert!(err.contains("upgrade pushform"), "{err}");

        let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
        assert!(guard.load_or_create().is_err());
        let mut mine = Lock::new();
        let err = format!("{:#}", guard.write(&mut mine).unwrap_err());
        assert!(err.contains("refusing to write"), "{err}");
        assert_eq!(fs::read_to_string(store.path()).unwrap(), text);
        assert_eq!(mine.serial, 0);

        fs::write(
            store.path(),
            r#"{"lineage": "x", "serial": 0, "sends": []}"#,
        )
        .unwrap();
        let err = format!("{:#}", store.load().unwrap_err());
        assert!(err.contains("no format_version"), "{err}");
    }

    #[test]
    fn corrupted_lockfiles_fail_with_position_and_are_never_overwritten() {
        let valid = {
            let mut lock = lock_with(vec![full_record()]);
            lock.lineage = "L".into();
            to_pretty_json(&lock)
        };
        let truncated = valid[..valid.len() / 2].to_owned();
        let unknown_field = valid.replace("\"digest\": \"d1\"", "\"digset\": \"d1\"");
        let bad_status = valid.replace("\"status\": \"sent\"", "\"status\": \"lost\"");
        let bad_time = valid.replace("2026-12-01T10:00:01+08:00", "yesterday");
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("truncated", truncated.into_bytes(), "truncated"),
            ("garbage", b"\x00\xffnot json at all".to_vec(), "line 1"),
            ("empty", Vec::new(), "line 1, column 0"),
            ("trailing", format!("{valid}}}").into_bytes(), "trailing"),
            ("not an object", b"[1, 2]".to_vec(), "line 1"),
            ("unknown field", unknown_field.into_bytes(), "digset"),
            ("bad status", bad_status.into_bytes(), "lost"),
            ("bad time", bad_time.into_bytes(), "yesterday"),
        ];
        for (name, bytes, needle) in cases {
            let (_dir, store) = setup();
            fs::write(store.path(), &bytes).unwrap();
            let err = format!("{:#}", store.load().unwrap_err());
            assert!(err.contains("pushform.lock at line "), "{name}: {err}");
            assert!(err.contains(", column "), "{name}: {err}");
            assert!(err.contains(needle), "{name}: {err}");

            let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
            assert!(guard.load_or_create().is_err(), "{name}");
            let mut lock = Lock::new();
            let err = format!("{:#}", guard.write(&mut lock).unwrap_err());
            assert!(err.contains("refusing to write"), "{name}: {err}");
            assert!(err.contains("line "), "{name}: {err}");
            assert_eq!(fs::read(store.path()).unwrap(), bytes, "{name}");
            assert!(!store.backup_path().exists(), "{name}");
            assert_eq!(lock.serial, 0, "{name}");
        }
    }

    #[test]
    fn a_corrupted_lockfile_with_a_backup_points_at_it_and_keeps_both() {
        let (_dir, store) = setup();
        let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
        let mut lock = guard.load_or_create().unwrap();
        guard.write(&mut lock).unwrap();
        lock.append(full_record());
        guard.write(&mut lock).unwrap();
        let backup = fs::read(store.backup_path()).unwrap();
        let whole = fs::read(store.path()).unwrap();
        let torn = &whole[..whole.len() - 10];
        fs::write(store.path(), torn).unwrap();
        let err = format!("{:#}", store.load().unwrap_err());
        assert!(err.contains("restore its previous version from"), "{err}");
        assert!(err.contains("pushform.lock.backup"), "{err}");
        assert!(guard.write(&mut lock).is_err());
        assert_eq!(fs::read(store.path()).unwrap(), torn);
        assert_eq!(fs::read(store.backup_path()).unwrap(), backup);
    }

    #[test]
    fn no_file_content_panics_the_parser() {
        let valid = to_pretty_json(&lock_with(vec![
            full_record(),
            record("b", Status::Rejected, "x", "2026-01-01T00:00:00Z"),
        ]))
        .into_bytes();
        let path = Path::new("pushform.lock");
        assert!(parse_lock(path, &valid).is_ok());
        for end in 0..valid.len() {
            let _ = parse_lock(path, &valid[..end]);
        }
        for i in 0..valid.len() {
            for replacement in [b'"', b'{', b'9', 0xff] {
                let mut bytes = valid.clone();
                bytes[i] = replacement;
                let _ = parse_lock(path, &bytes);
            }
        }
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse_lock(path, deep.as_bytes()).is_err());
    }

    #[test]
    fn every_write_bumps_serial_keeps_a_backup_and_leaves_no_temp_files() {
        let (dir, store) = setup();
        let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
        let mut lock = guard.load_or_create().unwrap();
        guard.write(&mut lock).unwrap();
        assert_eq!(lock.serial, 1);
        assert!(
            !store.backup_path().exists(),
            "nothing to back up on creation"
        );
        for n in 2..=4u64 {
            let before = fs::read(store.path()).unwrap();
            let index = lock.append(record(
                &format!("k{n}"),
                Status::Sending,
                "d",
                "2026-01-01T00:00:00Z",
            ));
            guard.write(&mut lock).unwrap();
            assert_eq!(lock.serial, n);
            assert_eq!(store.load().unwrap().unwrap().serial, n);
            assert_eq!(fs::read(store.backup_path()).unwrap(), before);
            lock.settle(
                index,
                Outcome::Sent {
                    push_id: Some("p".into()),
                    request_id: None,
                },
            )
            .unwrap();
        }
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "pushform.lock",
                "pushform.lock.backup",
                "pushform.lock.held"
            ]
        );
    }

    #[test]
    fn write_refuses_a_lockfile_changed_behind_its_back() {
        let (_dir, store) = setup();
        let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
        let mut lock = guard.load_or_create().unwrap();
        guard.write(&mut lock).unwrap();

        let mut stale = lock.clone();
        guard.write(&mut lock).unwrap();
        let on_disk = fs::read(store.path()).unwrap();
        let err = format!("{:#}", guard.write(&mut stale).unwrap_err());
        assert!(err.contains("serial 2 on disk, not 1"), "{err}");
        assert_eq!(stale.serial, 1);

        let mut stranger = Lock::new();
        stranger.serial = 2;
        let err = format!("{:#}", guard.write(&mut stranger).unwrap_err());
        assert!(err.contains("lineage"), "{err}");
        assert_eq!(fs::read(store.path()).unwrap(), on_disk);
    }

    #[test]
    fn a_lockfile_deleted_beside_its_backup_is_not_silently_restarted() {
        let (_dir, store) = setup();
        let mut guard = store.acquire(&Holder::current("t"), None).unwrap();
        let mut lock = guard.load_or_create().unwrap();
        guard.write(&mut lock).unwrap();
        guard.write(&mut lock).unwrap();
        fs::remove_file(store.path()).unwrap();
        let err = format!("{:#}", store.load().unwrap_err());
        assert!(err.contains("is missing but its backup"), "{err}");
        assert!(guard.load_or_create().is_err());
    }

    #[test]
    fn settle_only_changes_sending_records() {
        let mut lock = lock_with(vec![record(
            "a",
            Status::Sending,
            "d",
            "2026-01-01T00:00:00Z",
        )]);
        let error = RecordError {
            code: 20005,
            message: "bad".into(),
        };
        lock.settle(
            0,
            Outcome::Rejected {
                request_id: Some("r".into()),
                error: error.clone(),
            },
        )
        .unwrap();
        assert_eq!(lock.sends[0].status, Status::Rejected);
        assert_eq!(lock.sends[0].error.as_ref(), Some(&error));
        let sent = Outcome::Sent {
            push_id: Some("p".into()),
            request_id: None,
        };
        assert_eq!(
            lock.settle(0, sent.clone()),
            Err(LockError::NotSending {
                index: 0,
                key: "a".into(),
                status: Status::Rejected
            })
        );
        assert_eq!(
            lock.settle(5, sent),
            Err(LockError::NoSuchRecord { index: 5, len: 1 })
        );
        assert_eq!(lock.sends[0].status, Status::Rejected);

        let i = lock.append(record("b", Status::Sending, "d", "2026-01-01T00:00:00Z"));
        lock.settle(
            i,
            Outcome::Unknown {
                request_id: None,
                error: None,
            },
        )
        .unwrap();
        assert_eq!(lock.sends[i].status, Status::Unknown);
        assert!(
            lock.settle(
                i,
                Outcome::Sent {
                    push_id: None,
                    request_id: None
                }
            )
            .is_err()
        );
    }

    #[test]
    fn resolve_touches_only_the_latest_unresolved_record() {
        let at = ts("2026-12-05T09:00:00.25+01:00");
        let mut lock = lock_with(vec![
            record("a", Status::Unknown, "d0", "2026-01-01T00:00:00Z"),
            record("a", Status::Unknown, "d1", "2026-01-02T00:00:00Z"),
            record("a", Status::Rejected, "d2", "2026-01-03T00:00:00Z"),
            record("b", Status::Sent, "d", "2026-01-01T00:00:00Z"),
            record("c", Status::Sending, "d", "2026-01-01T00:00:00Z"),
        ]);
        lock.sends[1].error = Some(RecordError {
            code: 0,
            message: "timeout".into(),
        });
        assert_eq!(lock.resolve("a", true, Some("P".into()), at).unwrap(), 1);
        let r = &lock.sends[1];
        assert_eq!(r.status, Status::Sent);
        assert_eq!(r.push_id.as_deref(), Some("P"));
        assert_eq!(r.source.as_deref(), Some("resolve"));
        assert_eq!(r.resolved_at, Some(ts("2026-12-05T09:00:00+01:00")));
        assert!(r.error.is_some(), "the original error stays for the audit");
        assert_eq!(lock.sends[0].status, Status::Unknown);

        // The older unknown is next; then nothing is left to resolve.
        assert_eq!(lock.resolve("a", false, None, at).unwrap(), 0);
        assert_eq!(lock.sends[0].status, Status::Rejected);
        let err = lock.resolve("a", true, None, at).unwrap_err();
        assert_eq!(
            err,
            LockError::NotResolvable {
                key: "a".into(),
                status: Status::Rejected
            }
        );
        assert!(err.to_string().contains("a cannot be resolved"));
        assert!(err.to_string().contains("rejected"));

        let err = lock.resolve("b", true, None, at).unwrap_err();
        assert!(
            err.to_string()
                .contains("b cannot be resolved: its latest record is sent")
        );
        assert_eq!(
            lock.resolve("zzz", true, None, at),
            Err(LockError::UnknownKey { key: "zzz".into() })
        );
        assert_eq!(
            lock.resolve("c", false, Some("P".into()), at),
            Err(LockError::PushIdWithoutSent { key: "c".into() })
        );
        assert_eq!(lock.sends[4].status, Status::Sending);
        lock.resolve("c", true, None, at).unwrap();
        assert_eq!(lock.sends[4].status, Status::Sent);
        assert_eq!(lock.sends[4].push_id, None);
    }

    #[test]
    fn accept_marks_the_latest_sent_or_unknown_record() {
        let at = ts("2026-12-05T09:00:00Z");
        let mut lock = lock_with(vec![
            record("a", Status::Sent, "d0", "2026-01-01T00:00:00Z"),
            record("a", Status::Sent, "d1", "2026-01-02T00:00:00Z"),
            record("a", Status::Rejected, "d2", "2026-01-03T00:00:00Z"),
            record("r", Status::Rejected, "d", "2026-01-01T00:00:00Z"),
            record("s", Status::Sending, "d", "2026-01-01T00:00:00Z"),
        ]);
        assert_eq!(
            lock.accept("a", "n1".into(), json!({"v": 1}), at).unwrap(),
            1
        );
        assert_eq!(
            lock.accept("a", "n2".into(), json!({"v": 2}), at).unwrap(),
            1
        );
        let accepted = lock.sends[1].accepted.as_ref().unwrap();
        assert_eq!((accepted.digest.as_str(), accepted.at), ("n2", at));
        assert_eq!(lock.sends[1].digest, "d1", "the sent digest stays as sent");
        assert!(lock.sends[0].accepted.is_none());

        let err = lock.accept("r", "n".into(), json!({}), at).unwrap_err();
        assert_eq!(
            err,
            LockError::NotAcceptable {
                key: "r".into(),
                status: Status::Rejected
            }
        );
        assert!(
            lock.accept("s", "n".into(), json!({}), at)
                .unwrap_err()
                .to_string()
                .contains("s cannot be accepted: its latest record is sending")
        );
        assert!(matches!(
            lock.accept("nope", "n".into(), json!({}), at),
            Err(LockError::UnknownKey { .. })
        ));
    }

    #[test]
    fn index_precedence() {
        let t = "2026-01-01T00:00:00Z";
        let mut lock = lock_with(vec![
            record("rejected-then-sent", Status::Rejected, "r", t),
            record("rejected-then-sent", Status::Sent, "s", t),
            record("sent-then-unknown", Status::Sent, "s", t),
            record("sent-then-unknown", Status::Unknown, "u", t),
            record("all-rejected", Status::Rejected, "r1", t),
            record("all-rejected", Status::Rejected, "r2", t),
            record("accepted", Status::Sent, "s", t),
            record("only-sending", Status::Sending, "x", t),
            record("unknown-then-sent", Status::Unknown, "u", t),
            record("unknown-then-sent", Status::Sent, "s2", t),
            record("unknown-then-rejected", Status::Unknown, "u", t),
            record("unknown-then-rejected", Status::Rejected, "r", t),
            record("two-sent", Status::Sent, "old", t),
            record("two-sent", Status::Sent, "new", t),
            record("two-sent", Status::Rejected, "retry", t),
            record("accepted-unknown", Status::Unknown, "u", t),
            record("sent-unknown-rejected", Status::Sent, "s", t),
            record("sent-unknown-rejected", Status::Unknown, "u", t),
            record("sent-unknown-rejected", Status::Rejected, "r", t),
        ]);
        lock.accept("accepted", "acc".into(), json!({"a": 1}), ts(t))
            .unwrap();
        lock.accept("accepted-unknown", "acc2".into(), json!({}), ts(t))
            .unwrap();
        let index = LockIndex::new(&lock);
        let state = |key: &str| index.state(key).cloned();
        let digest_of = |key: &str| match index.state(key) {
            Some(KeyState::Sent { digest, .. }) => Some(*digest),
            _ => None,
        };
        assert_eq!(digest_of("rejected-then-sent"), Some("s"));
        assert_eq!(
            state("sent-then-unknown"),
            Some(KeyState::Unresolved {
                status: Status::Unknown
            })
        );
        assert_eq!(state("all-rejected"), Some(KeyState::AllRejected));
        assert_eq!(
            state("accepted"),
            Some(KeyState::Sent {
                digest: "acc",
                body: &json!({"a": 1})
            })
        );
        assert_eq!(
            state("only-sending"),
            Some(KeyState::Unresolved {
                status: Status::Sending
            })
        );
        assert_eq!(digest_of("unknown-then-sent"), Some("s2"));
        // An unknown attempt is not cleared by a later rejection of another one.
        assert_eq!(
            state("unknown-then-rejected"),
            Some(KeyState::Unresolved {
                status: Status::Unknown
            })
        );
        assert_eq!(
            state("sent-unknown-rejected"),
            Some(KeyState::Unresolved {
                status: Status::Unknown
            })
        );
        assert_eq!(digest_of("two-sent"), Some("new"));
        assert_eq!(digest_of("accepted-unknown"), Some("acc2"));
        assert_eq!(index.state("never-sent"), None);
        assert_eq!(
            index.keys(),
            [
                "rejected-then-sent",
                "sent-then-unknown",
                "all-rejected",
                "accepted",
                "only-sending",
                "unknown-then-sent",
                "unknown-then-rejected",
                "two-sent",
                "accepted-unknown",
                "sent-unknown-rejected",
            ]
        );
    }

    #[test]
    fn history_has_every_attempt_of_every_status_in_utc() {
        let lock = lock_with(vec![
            record("a", Status::Sent, "d", "2026-01-01T10:00:00+08:00"),
            record("b", Status::Rejected, "d", "2026-01-01T01:00:00Z"),
            record("c", Status::Unknown, "d", "2026-01-01T00:30:00Z"),
            record("d", Status::Sending, "d", "2026-01-01T03:00:00+00:00"),
            record("a", Status::Rejected, "d", "2026-01-01T04:00:00Z"),
        ]);
        let index = LockIndex::new(&lock);
        let history: Vec<String> = index
            .history()
            .iter()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
            .collect();
        assert_eq!(
            history,
            [
                "2026-01-01T00:30:00Z",
                "2026-01-01T01:00:00Z",
                "2026-01-01T02:00:00Z",
                "2026-01-01T03:00:00Z",
                "2026-01-01T04:00:00Z",
            ]
        );
    }

    #[test]
    fn a_second_acquirer_is_refused_with_the_holders_info() {
        let (dir, first) = setup();
        let second = LockStore::new(dir.path().join("pushform.lock"));
        let holder = Holder {
            pid: 123,
            host: "x".into(),
            command: "pushform apply".into(),
            started: "2026-12-01T02:00:00Z".into(),
        };
        let guard = first.acquire(&holder, None).unwrap();
        let err = second
            .acquire(&Holder::current("pushform apply"), None)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the lockfile ".to_owned()
                + &first.path().display().to_string()
                + " is locked by pid 123 on host x (pushform apply, since \
                   2026-12-01T02:00:00Z); another apply is running. Wait for it, \
                   or pass --lock-timeout"
        );
        match err {
            AcquireError::Held {
                holder: Some(h),
                waited: None,
                ..
            } => assert_eq!(h, holder),
            other => panic!("expected Held with the holder, got {other:?}"),
        }
        // The lockfile itself is never locked: a reader needs no lock.
        assert!(second.load().unwrap().is_none());

        // A bounded wait that runs out says so.
        let started = Instant::now();
        let err = second
            .acquire(&Holder::current("t"), Some(Duration::from_millis(250)))
            .unwrap_err();
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert!(err.to_string().contains("stayed locked for 250ms"), "{err}");
        assert!(err.to_string().contains("a longer --lock-timeout"), "{err}");

        drop(guard);
        assert!(fs::read(first.held_path()).unwrap().is_empty());
        let me = Holder::current("pushform apply");
        let again = second.acquire(&me, None).unwrap();
        assert_eq!(read_holder(&second.held_path()), Some(me));
        drop(again);
        first.acquire(&holder, None).unwrap();
    }

    #[test]
    fn a_waiting_acquirer_gets_the_lock_once_released() {
        let (dir, first) = setup();
        let second = LockStore::new(dir.path().join("pushform.lock"));
        let guard = first.acquire(&Holder::current("first"), None).unwrap();
        let (locked_tx, locked_rx) = mpsc::channel();
        let releaser = thread::spawn(move || {
            locked_tx.send(()).unwrap();
            thread::sleep(Duration::from_millis(100));
            drop(guard);
        });
        locked_rx.recv().unwrap();
        let started = Instant::now();
        let me = Holder::current("second");
        let guard = second
            .acquire(&me, Some(Duration::from_millis(300)))
            .unwrap();
        assert!(started.elapsed() < Duration::from_millis(300));
        releaser.join().unwrap();
        assert_eq!(read_holder(&second.held_path()), Some(me));
        assert!(matches!(
            first.acquire(&Holder::current("third"), None),
            Err(AcquireError::Held { .. })
        ));
        drop(guard);
    }

    #[test]
    fn holder_current_describes_this_process() {
        let h = Holder::current("pushform apply");
        assert_eq!(h.pid, std::process::id());
        assert_eq!(h.command, "pushform apply");
        assert!(!h.host.is_empty());
        assert!(DateTime::parse_from_rfc3339(&h.started).is_ok());
        assert!(h.started.ends_with('Z'));
    }
}
