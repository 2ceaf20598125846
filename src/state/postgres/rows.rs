//! A record as a row: the columns read (those of schema version 1 read as absent), each
//! timestamp kept as a `timestamptz` plus its UTC offset, and the body as canonical JSON text,
//! so a lockfile imported and exported again is the same value.

use anyhow::{Context, anyhow, bail};
use chrono::{DateTime, FixedOffset, Utc};
use postgres::Row;

use super::StoredRecord;
use crate::body::JsonBody;
use crate::state::format::{Accepted, Record, RecordError, RecordKind, Status};

pub(super) const RECORD_COLUMNS: &str = "id, project, key, campaign, locale, digest, body, status, \
     attempted_at, attempted_offset, push_id, request_id, endpoint, error_code, error_message, \
     source, resolved_at, resolved_offset, accepted_digest, accepted_body, accepted_at, \
     accepted_offset, kind, environment, app_key_sha1, rehearsal";

/// The columns of schema version 2 a version 1 database lacks, read as absent: a read needs
/// only SELECT, so `plan` with a read-only role reads a database no writer has migrated yet
/// (its records were all written before these fields existed).
pub(super) const RECORD_COLUMNS_V1: &str = "id, project, key, campaign, locale, digest, body, status, \
     attempted_at, attempted_offset, push_id, request_id, endpoint, error_code, error_message, \
     source, resolved_at, resolved_offset, accepted_digest, accepted_body, accepted_at, \
     accepted_offset, NULL::text AS kind, NULL::text AS environment, \
     NULL::text AS app_key_sha1, NULL::boolean AS rehearsal";

pub(super) fn stored_record(row: &Row) -> anyhow::Result<StoredRecord> {
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

pub(super) fn offset_of(at: &DateTime<FixedOffset>) -> i32 {
    at.offset().local_minus_utc()
}

pub(super) fn kind_str(kind: RecordKind) -> &'static str {
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

pub(super) fn parse_status(text: &str) -> anyhow::Result<Status> {
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
pub(super) fn canonical_json(body: &JsonBody) -> anyhow::Result<String> {
    serde_json::to_string(body).context("cannot serialise a body")
}
