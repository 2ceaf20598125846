//! The §5 format of `pushform.lock`: the whole state, its records, the rules for how a record
//! may change, and its deterministic serialisation. Every backend stores exactly this document,
//! so a state can move between backends (`state pull` / `state push`) without translation.

use std::fmt;
use std::path::Path;

use crate::body::JsonBody;
use anyhow::{anyhow, bail};
use chrono::{DateTime, FixedOffset, SubsecRound};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The only `format_version` this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

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
    /// Written with object keys sorted at every level (see `JsonBody`).
    pub body: JsonBody,
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
    /// Set on records another repository made in a shared (postgres) state: they count against
    /// the quota here, but belong to that project's units, never to this one's. Absent on this
    /// repository's own records, and in every lockfile of a single repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    /// `send` (the default when absent, as in every record written before it existed) or
    /// `test`: a `send-test` to test users, which counts against the quota but never makes
    /// its unit sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<RecordKind>,
    /// The environment (`--env`) the record was written in, when the project declares some.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Hex SHA-1 of the App Key the request was signed with (never the key itself): a state
    /// is refused under another key, so a staging state never gates a production send.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_key_sha1: Option<String>,
    /// `true` when the request went to a loopback endpoint (a rehearsal against the
    /// emulator): no user received it, so a real endpoint refuses a state holding one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rehearsal: Option<bool>,
}

/// What a record is the attempt of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordKind {
    /// A send to the unit's audience.
    Send,
    /// A `send-test` to test users only.
    Test,
}

impl Record {
    /// One attempt of `key` with `body` (`digest` is its SHA-1) at `attempted_at`, in `status`,
    /// every other field absent: callers set what they know with `..Record::attempt(…)`.
    #[must_use]
    pub fn attempt(
        key: String,
        campaign: String,
        locale: Option<String>,
        digest: String,
        body: JsonBody,
        status: Status,
        attempted_at: DateTime<FixedOffset>,
    ) -> Record {
        Record {
            key,
            campaign,
            locale,
            digest,
            body,
            status,
            attempted_at,
            push_id: None,
            request_id: None,
            endpoint: None,
            error: None,
            source: None,
            resolved_at: None,
            accepted: None,
            project: None,
            kind: None,
            environment: None,
            app_key_sha1: None,
            rehearsal: None,
        }
    }

    /// A `send-test` record: quota history and test evidence, never a sent unit.
    #[must_use]
    pub fn is_test(&self) -> bool {
        self.kind == Some(RecordKind::Test)
    }

    /// A record of a rehearsal against a loopback endpoint.
    #[must_use]
    pub fn is_rehearsal(&self) -> bool {
        self.rehearsal == Some(true)
    }
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
    /// Written with object keys sorted at every level (see `JsonBody`).
    pub body: JsonBody,
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
        body: JsonBody,
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
            // Another project's `welcome/en` is another unit.
            if record.key != key || record.project.is_some() {
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
/// `serde_json` can fail on. `LockGuard::write` uses the fallible form.
#[must_use]
pub fn to_pretty_json(lock: &Lock) -> String {
    try_to_pretty_json(lock).expect("a Lock always serialises to JSON")
}

pub(crate) fn try_to_pretty_json(lock: &Lock) -> serde_json::Result<String> {
    let mut json = serde_json::to_string_pretty(lock)?;
    json.push('\n');
    Ok(json)
}

/// RFC 3339 with the offset kept and whole seconds, e.g. `2026-12-01T10:00:01+08:00`.
mod rfc3339_secs {
    use chrono::{DateTime, FixedOffset, SecondsFormat, SubsecRound};
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use std::borrow::Cow;

    pub(super) fn serialize<S: Serializer>(
        at: &DateTime<FixedOffset>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Secs, false))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
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
    pub(super) fn serialize<S: Serializer>(
        at: &Option<DateTime<FixedOffset>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::rfc3339_secs::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
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

/// Parses a lockfile's bytes, checking `format_version` before the shape so a
/// file from another version gets a version error, not a field error.
pub(crate) fn parse_lock(path: &Path, bytes: &[u8]) -> anyhow::Result<Lock> {
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
    let backup = {
        let mut name = path.as_os_str().to_owned();
        name.push(".backup");
        std::path::PathBuf::from(name)
    };
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
