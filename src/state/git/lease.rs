//! The lease: `lease.json` beside the state while an apply sends, saying who holds it (host,
//! pid, CI run, command), since when and until when. It expires by itself after [`LEASE_TTL`]
//! without a write, and every write of the holder renews it once half of that is gone.

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::state::store::{Holder, hostname};

/// How long a lease lasts without a write renewing it.
const LEASE_TTL: TimeDelta = TimeDelta::minutes(15);

/// Who sends, while they send: `lease.json` on the state branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub id: String,
    pub host: String,
    pub pid: u32,
    /// `GITHUB_RUN_ID` or `CI_JOB_ID` of the run holding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci_run: Option<String>,
    pub command: String,
    /// RFC 3339, UTC.
    pub started: String,
    /// RFC 3339, UTC; renewed by every write of the holder.
    pub expires: String,
}

impl Lease {
    pub(super) fn new(holder: &Holder) -> Lease {
        let now = Utc::now();
        let ci_run = ["GITHUB_RUN_ID", "CI_JOB_ID"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.trim().is_empty()));
        Lease {
            id: uuid::Uuid::new_v4().simple().to_string()[..12].to_owned(),
            host: hostname(),
            pid: holder.pid,
            ci_run,
            command: holder.command.clone(),
            started: stamp(now),
            expires: stamp(now + LEASE_TTL),
        }
    }

    /// Renewed for another [`LEASE_TTL`] once half of it is gone (so most writes carry the
    /// same lease and reuse its stored blob).
    pub(super) fn renewed(&self) -> Lease {
        let due = DateTime::parse_from_rfc3339(&self.expires)
            .map_or(true, |t| t.with_timezone(&Utc) - Utc::now() < LEASE_TTL / 2);
        if !due {
            return self.clone();
        }
        Lease {
            expires: stamp(Utc::now() + LEASE_TTL),
            ..self.clone()
        }
    }

    /// Still in force by the real clock (an unreadable expiry counts as in force).
    pub(super) fn is_live(&self) -> bool {
        DateTime::parse_from_rfc3339(&self.expires).map_or(true, |t| t > Utc::now())
    }

    pub(super) fn describe(&self) -> String {
        let run = self
            .ci_run
            .as_deref()
            .map(|r| format!("CI run {r}, "))
            .unwrap_or_default();
        format!(
            "pid {} on host {} ({run}`{}`, since {}, until {}), lease id {}",
            self.pid, self.host, self.command, self.started, self.expires, self.id
        )
    }
}

pub(super) fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
