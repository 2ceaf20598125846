//! Tests of the lines about other projects' sends in a shared state.

use super::*;
use crate::state::{Lock, Record, Status};

fn record(key: &str, at: &str, project: Option<&str>) -> Record {
    Record {
        project: project.map(str::to_owned),
        ..Record::attempt(
            key.to_owned(),
            key.to_owned(),
            None,
            "d".to_owned(),
            serde_json::json!({}).into(),
            Status::Sent,
            DateTime::parse_from_rfc3339(at).unwrap(),
        )
    }
}

#[test]
fn names_the_other_projects_sends_that_weigh_on_the_quota_now() {
    let quota = Quota {
        per_hour: 2,
        per_day: 3,
        tz: chrono_tz::Asia::Shanghai,
    };
    let now = DateTime::parse_from_rfc3339("2026-11-26T15:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc);
    let mut lock = Lock::new();
    for r in [
        record("yesterday", "2026-11-25T23:30:00+08:00", Some("shop")),
        record("mine", "2026-11-26T14:30:00+08:00", None),
        record("this-morning", "2026-11-26T09:00:00+08:00", Some("shop")),
        record("just-now", "2026-11-26T14:45:00+08:00", Some("news")),
    ] {
        lock.append(r);
    }
    let text = other_projects(&lock, now, &quota);
    assert_eq!(
        text,
        "\nQuota used by other projects of this state:\n  \
             2026-11-26 09:00:00 +08:00  project shop  this-morning (sent)\n  \
             2026-11-26 14:45:00 +08:00  project news  just-now (sent)\n"
    );
    assert_eq!(
        other_projects_markdown(&lock, now, &quota),
        "\n**Quota used by other projects of this state**\n\n\
             | when | project | unit | status |\n|---|---|---|---|\n\
             | 2026-11-26 09:00:00 +08:00 | shop | `this-morning` | sent |\n\
             | 2026-11-26 14:45:00 +08:00 | news | `just-now` | sent |\n"
    );
    lock.sends.retain(|r| r.project.is_none());
    assert_eq!(other_projects(&lock, now, &quota), "");
    assert_eq!(other_projects_markdown(&lock, now, &quota), "");
}
