//! Every rule of docs/contract.md §4, each with a body that breaks it and the exact issue it must produce
//! (severity, field path, message), and the campaign-level rules checked over a project on disk.
//!
//! Body tests start from one valid body and change one thing with a JSON merge patch, then
//! compare the whole issue list: a rule that stops firing, fires twice, or drags another rule
//! along fails the test.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};

use super::{Issue, check, check_body, valid_id};
use crate::body::PushBody;
use crate::finding::{Finding, Severity};
use crate::project::Project;
use crate::render::render_all;

/// A body that breaks no rule.
fn valid_json() -> Value {
    json!({
        "platform": ["ios", "android"],
        "fromuserid": "ops-bot",
        "audience": {"packageName": "com.example.student", "is_to_all": false},
        "message": {"objectName": "RC:TxtMsg", "content": "{\"content\":\"hello\"}"},
        "notification": {"title": "Hello", "alert": "Hello, world"}
    })
}

/// RFC 7396 merge patch: `null` removes a field, objects merge, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(map) = target else {
        unreachable!("just made an object");
    };
    for (key, value) in fields {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The valid body with `patch` applied.
fn body(patch: &Value) -> PushBody {
    let mut value = valid_json();
    merge_patch(&mut value, patch);
    serde_json::from_value(value).expect("the patched body has the wire shape")
}

fn error(path: &str, message: &str) -> Issue {
    Issue {
        severity: Severity::Error,
        path: path.to_owned(),
        message: message.to_owned(),
    }
}

fn warning(path: &str, message: &str) -> Issue {
    Issue {
        severity: Severity::Warning,
        ..error(path, message)
    }
}

#[track_caller]
fn assert_issues(patch: &Value, expected: &[Issue]) {
    assert_eq!(check_body(&body(patch)), expected, "patch: {patch}");
}

fn strings(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

const ALERT_MISSING: &str = "is required: set `notification.alert`, or else `notification.ios.alert` and `notification.android.alert` for every targeted platform";
const USERID_IGNORES_PLATFORM: &str = "is ignored by the API when `audience.userid` is set";

// ---- the valid body, and every limit at its boundary --------------------------------------

#[test]
fn valid_body_has_no_issues() {
    assert_issues(&json!({}), &[]);
}

#[test]
fn push_only_notification_needs_no_message_nor_fromuserid() {
    assert_issues(&json!({"message": null, "fromuserid": null}), &[]);
}

#[test]
fn every_limit_at_its_boundary_passes() {
    let content = format!(
        "{{\"content\":\"{}\"}}",
        "x".repeat(super::MAX_CONTENT_BYTES - 14)
    );
    assert_eq!(content.len(), 128 * 1024);
    assert_issues(
        &json!({
            "audience": {"tag": strings("t", 20), "tag_or": strings("o", 20)},
            "message": {"content": content},
            "notification": {
                "title": "冬".repeat(50),
                "forceShowPushContent": 1,
                "ios": {"badge": 9999, "contentAvailable": 1, "interruption-level": "critical",
                        "richMediaUri": "https://example.com/a.png", "category": "promo"},
                "android": {
                    "honor": {"importance": "NORMAL", "image": "https://example.com/h.png"},
                    "hw": {"importance": "LOW", "category": "IM", "image": "https://example.com/w.png"},
                    "mi": {"large_icon_uri": "https://example.com/m.png"},
                    "oppo": {"category": "IM", "notify_level": 16},
                    "vivo": {"classification": "1", "category": "IM"},
                    "fcm": {"imageUrl": "https://example.com/f.png"}
                }
            }
        }),
        &[],
    );
    assert_issues(
        &json!({"audience": {"userid": strings("u", 1000), "packageName": null}}),
        &[warning("platform", USERID_IGNORES_PLATFORM)],
    );
    assert_issues(
        &json!({"message": {"objectName": "x".repeat(32), "content": "any format at all"}}),
        &[],
    );
    for level in ["passive", "active", "time-sensitive", "critical"] {
        assert_issues(
            &json!({"notification": {"ios": {"interruption-level": level}}}),
            &[],
        );
    }
    for v in [0, 1] {
        assert_issues(
            &json!({"notification": {"forceShowPushContent": v, "ios": {"contentAvailable": v}}}),
            &[],
        );
    }
    for level in [1, 2, 16] {
        assert_issues(
            &json!({"notification": {"android": {"oppo": {"category": "IM", "notify_level": level}}}}),
            &[],
        );
    }
}

#[test]
fn every_broken_rule_is_reported_at_once() {
    let issues = check_body(&body(&json!({
        "platform": [],
        "audience": {"is_to_all": null},
        "message": {"objectName": null},
        "notification": {"ios": {"badge": 10000}, "android": {"hw": {"importance": "HIGH"}}}
    })));
    let paths: Vec<&str> = issues.iter().map(|i| i.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "platform",
            "audience.is_to_all",
            "message.objectName",
            "notification.ios.badge",
            "notification.android.hw.importance"
        ]
    );
}

// ---- platform, fromuserid ----------------------------------------------------------------

#[test]
fn platform_missing() {
    assert_issues(
        &json!({"platform": null}),
        &[error(
            "platform",
            "is required: a list of `ios` and/or `android`",
        )],
    );
}

#[test]
fn platform_empty() {
    assert_issues(
        &json!({"platform": []}),
        &[error(
            "platform",
            "must name at least one of `ios`, `android`",
        )],
    );
}

#[test]
fn platform_bad_value_names_its_index() {
    assert_issues(
        &json!({"platform": ["ios", "web"]}),
        &[error(
            "platform.1",
            "`web` is not a platform: use `ios` or `android`",
        )],
    );
    // Lowercase on the wire: the renderer lowercases what users write, the body check does not.
    assert_issues(
        &json!({"platform": ["IOS"]}),
        &[error(
            "platform.0",
            "`IOS` is not a platform: use `ios` or `android`",
        )],
    );
}

#[test]
fn platform_with_userid_is_a_warning() {
    assert_issues(
        &json!({"audience": {"userid": ["u1"], "packageName": null}}),
        &[warning("platform", USERID_IGNORES_PLATFORM)],
    );
}

#[test]
fn fromuserid_required_with_message() {
    let expected = [error(
        "fromuserid",
        "is required when `message` is present (the sender of the system message)",
    )];
    assert_issues(&json!({"fromuserid": null}), &expected);
    assert_issues(&json!({"fromuserid": ""}), &expected);
}

// ---- audience ----------------------------------------------------------------------------

#[test]
fn audience_missing() {
    assert_issues(
        &json!({"audience": null}),
        &[error(
            "audience",
            "is required (at least `is_to_all: true` or `false` with a target)",
        )],
    );
}

#[test]
fn is_to_all_missing() {
    assert_issues(
        &json!({"audience": {"is_to_all": null}}),
        &[error(
            "audience.is_to_all",
            "is required: `true` to push to every user, `false` to push by tag, tag_or, userid or packageName",
        )],
    );
}

#[test]
fn is_to_all_true_with_targets_is_a_warning() {
    let expected = [warning(
        "audience.is_to_all",
        "is true, so the API ignores `tag`, `tag_or`, `userid` and `packageName`: this goes to every user",
    )];
    assert_issues(&json!({"audience": {"is_to_all": true}}), &expected);
    assert_issues(
        &json!({"audience": {"is_to_all": true, "packageName": null, "tag_or": ["a"]}}),
        &expected,
    );
    assert_issues(
        &json!({"audience": {"is_to_all": true, "packageName": null}}),
        &[],
    );
}

#[test]
fn more_than_20_tags() {
    assert_issues(
        &json!({"audience": {"tag": strings("t", 21)}}),
        &[error(
            "audience.tag",
            "has 21 tags; the API allows at most 20",
        )],
    );
    assert_issues(
        &json!({"audience": {"tag_or": strings("t", 21)}}),
        &[error(
            "audience.tag_or",
            "has 21 tags; the API allows at most 20",
        )],
    );
}

#[test]
fn more_than_1000_userids() {
    assert_issues(
        &json!({"audience": {"userid": strings("u", 1001), "packageName": null}}),
        &[
            warning("platform", USERID_IGNORES_PLATFORM),
            error(
                "audience.userid",
                "has 1001 user IDs; the API allows at most 1000",
            ),
        ],
    );
}

#[test]
fn userid_with_tags_is_a_warning() {
    let precedence = warning(
        "audience.userid",
        "takes precedence: the API ignores `tag`, `tag_or` and `packageName` when `userid` is set",
    );
    let platform = warning("platform", USERID_IGNORES_PLATFORM);
    assert_issues(
        &json!({"audience": {"userid": ["u1"], "tag": ["a"], "packageName": null}}),
        &[platform.clone(), precedence.clone()],
    );
    // packageName alone is a target the userid overrides too.
    assert_issues(
        &json!({"audience": {"userid": ["u1"]}}),
        &[platform, precedence],
    );
}

#[test]
fn is_to_all_false_targeting_nobody() {
    let expected = [error(
        "audience",
        "targets nobody: with `is_to_all: false` set at least one of `tag`, `tag_or`, `userid`, `packageName`",
    )];
    assert_issues(&json!({"audience": {"packageName": null}}), &expected);
    // Empty lists and an empty package name target nobody either.
    assert_issues(
        &json!({"audience": {"packageName": "", "tag": [], "tag_or": [], "userid": []}}),
        &expected,
    );
}

// ---- message -----------------------------------------------------------------------------

#[test]
fn object_name_missing() {
    let expected = [error(
        "message.objectName",
        "is required with `message` (e.g. RC:TxtMsg)",
    )];
    assert_issues(&json!({"message": {"objectName": null}}), &expected);
    assert_issues(&json!({"message": {"objectName": ""}}), &expected);
}

#[test]
fn unknown_rc_type() {
    assert_issues(
        &json!({"message": {"objectName": "RC:Nope"}}),
        &[error(
            "message.objectName",
            "`RC:Nope` is not a known built-in type, and custom types must not start with `RC:` (known: \
             RC:TxtMsg, RC:ImgMsg, RC:GIFMsg, RC:VcMsg, RC:HQVCMsg, RC:ImgTextMsg, RC:FileMsg, RC:LBSMsg, \
             RC:SightMsg, RC:CombineMsg, RC:ReferenceMsg, RC:CmdMsg, RC:InfoNtf, RC:ContactNtf, \
             RC:ProfileNtf, RC:CmdNtf, RC:GrpNtf)",
        )],
    );
}

#[test]
fn custom_type_longer_than_32_characters() {
    let name = "x".repeat(33);
    assert_issues(
        &json!({"message": {"objectName": name}}),
        &[error(
            "message.objectName",
            &format!("custom type `{name}` is 33 characters; at most 32 are allowed"),
        )],
    );
    // Characters, not bytes: 32 CJK characters are 96 bytes and pass.
    assert_issues(&json!({"message": {"objectName": "型".repeat(32)}}), &[]);
}

#[test]
fn txt_msg_content_needs_its_content_field() {
    assert_issues(
        &json!({"message": {"content": "{\"text\":\"hello\"}"}}),
        &[error(
            "message.content",
            "a RC:TxtMsg content needs `content`",
        )],
    );
    assert_issues(
        &json!({"message": {"objectName": "RC:ImgMsg", "content": "{\"content\":\"x\"}"}}),
        &[error(
            "message.content",
            "a RC:ImgMsg content needs `imageUri`",
        )],
    );
    assert_issues(
        &json!({"message": {"content": "plain text"}}),
        &[error(
            "message.content",
            "a RC:TxtMsg content must be a JSON object (write it as a mapping)",
        )],
    );
}

#[test]
fn content_missing() {
    assert_issues(
        &json!({"message": {"content": null}}),
        &[error("message.content", "is required with `message`")],
    );
}

#[test]
fn content_larger_than_128_kib() {
    let content = format!(
        "{{\"content\":\"{}\"}}",
        "x".repeat(super::MAX_CONTENT_BYTES - 13)
    );
    assert_issues(
        &json!({"message": {"content": content}}),
        &[error(
            "message.content",
            "is 131073 bytes; the API allows at most 131072 (128 KiB)",
        )],
    );
}

// ---- notification ------------------------------------------------------------------------

#[test]
fn notification_missing() {
    assert_issues(
        &json!({"notification": null}),
        &[error("notification", "is required (at least an `alert`)")],
    );
}

#[test]
fn title_longer_than_50_characters() {
    assert_issues(
        &json!({"notification": {"title": "x".repeat(51)}}),
        &[error(
            "notification.title",
            &format!(
                "is 51 characters; the API allows at most 50: \"{}\"",
                "x".repeat(51)
            ),
        )],
    );
    // Characters, not bytes: 50 CJK characters (150 bytes) pass, 51 do not.
    assert_issues(&json!({"notification": {"title": "冬".repeat(50)}}), &[]);
    assert_issues(
        &json!({"notification": {"title": "冬".repeat(51)}}),
        &[error(
            "notification.title",
            &format!(
                "is 51 characters; the API allows at most 50: \"{}\"",
                "冬".repeat(51)
            ),
        )],
    );
    // A very long rendering is quoted by its start.
    let issues = check_body(&body(&json!({"notification": {"title": "y".repeat(500)}})));
    assert!(
        issues[0]
            .message
            .ends_with(&format!(": \"{}\"…", "y".repeat(120))),
        "{issues:?}"
    );
}

#[test]
fn force_show_push_content_2() {
    assert_issues(
        &json!({"notification": {"forceShowPushContent": 2}}),
        &[error(
            "notification.forceShowPushContent",
            "must be 0 or 1, not 2",
        )],
    );
}

#[test]
fn alert_missing() {
    assert_issues(
        &json!({"notification": {"alert": null}}),
        &[error("notification.alert", ALERT_MISSING)],
    );
    assert_issues(
        &json!({"notification": {"alert": ""}}),
        &[error("notification.alert", ALERT_MISSING)],
    );
}

#[test]
fn platform_alerts_satisfy_the_alert_rule_per_targeted_platform() {
    let both =
        json!({"notification": {"alert": null, "ios": {"alert": "a"}, "android": {"alert": "b"}}});
    assert_issues(&both, &[]);
    assert_issues(
        &json!({"platform": ["ios"], "notification": {"alert": null, "ios": {"alert": "a"}}}),
        &[],
    );
    assert_issues(
        &json!({"platform": ["android"], "notification": {"alert": null, "android": {"alert": "b"}}}),
        &[],
    );
    // Both platforms targeted, one platform alert given: the other is named.
    assert_issues(
        &json!({"notification": {"alert": null, "ios": {"alert": "a"}}}),
        &[error(
            "notification.alert",
            "is required: set `notification.alert`, or else `notification.android.alert` for every targeted platform",
        )],
    );
    assert_issues(
        &json!({"platform": ["ios"], "notification": {"alert": null, "android": {"alert": "b"}}}),
        &[error(
            "notification.alert",
            "is required: set `notification.alert`, or else `notification.ios.alert` for every targeted platform",
        )],
    );
}

// ---- ios ---------------------------------------------------------------------------------

#[test]
fn badge_above_9999() {
    assert_issues(
        &json!({"notification": {"ios": {"badge": 10000}}}),
        &[error("notification.ios.badge", "is 10000; at most 9999")],
    );
}

#[test]
fn content_available_2() {
    assert_issues(
        &json!({"notification": {"ios": {"contentAvailable": 2}}}),
        &[error(
            "notification.ios.contentAvailable",
            "must be 0 or 1, not 2",
        )],
    );
}

#[test]
fn interruption_level_unknown() {
    assert_issues(
        &json!({"notification": {"ios": {"interruption-level": "urgent"}}}),
        &[error(
            "notification.ios.interruption-level",
            "`urgent` is not one of passive, active, time-sensitive, critical",
        )],
    );
}

#[test]
fn rich_media_uri_without_category() {
    assert_issues(
        &json!({"notification": {"ios": {"richMediaUri": "https://example.com/a.png"}}}),
        &[error(
            "notification.ios.richMediaUri",
            "needs `notification.ios.category` (they go together)",
        )],
    );
}

// ---- android vendors ---------------------------------------------------------------------

#[test]
fn honor_and_hw_importance() {
    assert_issues(
        &json!({"notification": {"android": {"honor": {"importance": "HIGH"}}}}),
        &[error(
            "notification.android.honor.importance",
            "`HIGH` is not NORMAL or LOW",
        )],
    );
    assert_issues(
        &json!({"notification": {"android": {"hw": {"importance": "low"}}}}),
        &[error(
            "notification.android.hw.importance",
            "`low` is not NORMAL or LOW",
        )],
    );
}

#[test]
fn hw_category_lowercase() {
    assert_issues(
        &json!({"notification": {"android": {"hw": {"category": "im"}}}}),
        &[error(
            "notification.android.hw.category",
            "`im` must be upper-case letters (e.g. IM, VOIP)",
        )],
    );
}

#[test]
fn oppo_notify_level_3() {
    assert_issues(
        &json!({"notification": {"android": {"oppo": {"category": "IM", "notify_level": 3}}}}),
        &[error(
            "notification.android.oppo.notify_level",
            "is 3; use 1 (bar), 2 (bar + lock screen) or 16 (bar + lock screen + banner + sound)",
        )],
    );
}

#[test]
fn oppo_notify_level_without_category() {
    assert_issues(
        &json!({"notification": {"android": {"oppo": {"notify_level": 2}}}}),
        &[error(
            "notification.android.oppo.notify_level",
            "needs `notification.android.oppo.category`",
        )],
    );
}

#[test]
fn vivo_classification_2() {
    let expected = [error(
        "notification.android.vivo.classification",
        "`2` is not \"0\" (operational) or \"1\" (system)",
    )];
    assert_issues(
        &json!({"notification": {"android": {"vivo": {"classification": "2"}}}}),
        &expected,
    );
    // A number is taken as its digits.
    assert_issues(
        &json!({"notification": {"android": {"vivo": {"classification": 2}}}}),
        &expected,
    );
}

#[test]
fn vivo_category_without_classification() {
    assert_issues(
        &json!({"notification": {"android": {"vivo": {"category": "IM"}}}}),
        &[error(
            "notification.android.vivo.category",
            "needs `notification.android.vivo.classification` (\"0\" or \"1\") to match it",
        )],
    );
}

#[test]
fn image_urls_must_be_https() {
    for (vendor, field) in [
        ("honor", "image"),
        ("hw", "image"),
        ("fcm", "imageUrl"),
        ("mi", "large_icon_uri"),
    ] {
        assert_issues(
            &json!({"notification": {"android": {vendor: {field: "http://example.com/a.png"}}}}),
            &[error(
                &format!("notification.android.{vendor}.{field}"),
                "`http://example.com/a.png` must be an https:// URL",
            )],
        );
    }
}

// ---- campaign-level rules, over a project on disk ----------------------------------------

/// A campaign that breaks no body rule; `extra` goes between `id` and `push`.
fn campaign(id: &str, extra: &str) -> String {
    format!(
        "id: {id}\n{extra}push:\n  platform: [ios]\n  audience: {{packageName: com.example, is_to_all: false}}\n  notification: {{alert: hi}}\n"
    )
}

/// Writes the files into a fresh project, loads, renders and checks it. Reading and rendering
/// must succeed without findings: the rule under test is `check`'s alone.
fn check_files(files: &[(&str, &str)]) -> Vec<Finding> {
    let dir = tempfile::tempdir().expect("temp dir");
    fs::create_dir_all(dir.path().join("campaigns")).expect("campaigns dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).expect("parent dir");
        fs::write(path, text).expect("write fixture");
    }
    let project = Project::load(dir.path()).expect("loads");
    assert_eq!(project.findings, [], "the fixture must parse");
    let (units, findings) = render_all(&project);
    assert_eq!(findings, [], "the fixture must render");
    check(&project, &units)
}

fn finding_at(
    severity: Severity,
    file: &str,
    line: Option<u32>,
    field: &str,
    message: &str,
) -> Finding {
    Finding {
        severity,
        file: Some(file.to_owned()),
        line,
        field: Some(field.to_owned()),
        unit: None,
        message: message.to_owned(),
        detail: None,
    }
}

#[test]
fn a_valid_project_has_no_findings() {
    assert_eq!(check_files(&[("campaigns/a.yaml", &campaign("a", ""))]), []);
}

#[test]
fn id_format() {
    for good in ["a", "0", "winter-sale-2026", "a.b_c-d"] {
        assert!(valid_id(good), "{good}");
    }
    for bad in ["", "Winter", "-a", ".a", "_a", "a b", "a/b", "é"] {
        assert!(!valid_id(bad), "{bad:?}");
    }
    assert_eq!(
        check_files(&[("campaigns/a.yaml", &campaign("Winter_Sale", ""))]),
        [finding_at(
            Severity::Error,
            "campaigns/a.yaml",
            Some(1),
            "id",
            "`Winter_Sale` is not a valid id: use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit",
        )]
    );
}

#[test]
fn duplicate_id_across_files_names_both() {
    let text = campaign("same", "");
    let findings = check_files(&[
        ("campaigns/a.yaml", &text),
        ("campaigns/sub/b.yaml", &text),
        ("campaigns/c.yml", &text),
    ]);
    let message = "id `same` is already used by campaigns/a.yaml; ids must be unique";
    assert_eq!(
        findings,
        [
            finding_at(Severity::Error, "campaigns/c.yml", Some(1), "id", message),
            finding_at(
                Severity::Error,
                "campaigns/sub/b.yaml",
                Some(1),
                "id",
                message
            ),
        ]
    );
}

#[test]
fn not_after_must_be_later_than_not_before() {
    for not_after in ["2026-12-01T10:00:00+08:00", "2026-12-01T01:59:59Z"] {
        let extra = format!("not_before: 2026-12-01T10:00:00+08:00\nnot_after: {not_after}\n");
        assert_eq!(
            check_files(&[("campaigns/a.yaml", &campaign("a", &extra))]),
            [finding_at(
                Severity::Error,
                "campaigns/a.yaml",
                Some(3),
                "not_after",
                "must be later than not_before (2026-12-01 10:00:00 +08:00)",
            )],
            "not_after: {not_after}"
        );
    }
    // The same instant written in another offset is equal, a second later is fine.
    let extra = "not_before: 2026-12-01T10:00:00+08:00\nnot_after: 2026-12-01T02:00:01Z\n";
    assert_eq!(
        check_files(&[("campaigns/a.yaml", &campaign("a", extra))]),
        []
    );
}

#[test]
fn overlapping_locale_audiences_warn() {
    let overlap = |reason: &str, line: u32| Finding {
        unit: Some("a/fr".to_owned()),
        ..finding_at(
            Severity::Warning,
            "campaigns/a.yaml",
            Some(line),
            "push.audience",
            &format!(
                "locales `en` and `fr` of campaign `a` overlap ({reason}): a user in both gets two pushes"
            ),
        )
    };
    // No locale audience: both locales go to the campaign's audience (written on line 7).
    assert_eq!(
        check_files(&[(
            "campaigns/a.yaml",
            &campaign("a", "locales:\n  en: {}\n  fr: {}\n")
        )]),
        [overlap("their audiences are identical", 7)]
    );
    // Shared user IDs.
    let findings = check_files(&[(
        "campaigns/a.yaml",
        &campaign(
            "a",
            "locales:\n  en: {audience: {userid: [u1, u2], packageName: ''}}\n  fr: {audience: {userid: [u2, u3], packageName: ''}}\n",
        ),
    )]);
    let audience: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.field.as_deref() == Some("push.audience"))
        .collect();
    assert_eq!(audience, [&overlap("1 user ID(s) are in both", 4)]);
    // One locale to everybody.
    let findings = check_files(&[(
        "campaigns/a.yaml",
        &campaign(
            "a",
            "locales:\n  en: {audience: {tag: [lang_en]}}\n  fr: {audience: {is_to_all: true, packageName: ''}}\n",
        ),
    )]);
    let audience: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.field.as_deref() == Some("push.audience"))
        .collect();
    assert_eq!(audience, [&overlap("one of them pushes to all users", 4)]);
    // A second file reusing the id is an id error, not two overlapping `en` locales.
    let twice = campaign("a", "locales:\n  en: {}\n");
    let findings = check_files(&[("campaigns/a.yaml", &twice), ("campaigns/b.yaml", &twice)]);
    assert!(
        findings.iter().any(|f| f.message.contains("already used")),
        "{findings:?}"
    );
    assert!(
        !findings.iter().any(|f| f.message.contains("overlap")),
        "{findings:?}"
    );
    // Distinct tags: no warning.
    assert_eq!(
        check_files(&[(
            "campaigns/a.yaml",
            &campaign(
                "a",
                "locales:\n  en: {audience: {tag: [lang_en]}}\n  fr: {audience: {tag: [lang_fr]}}\n"
            )
        )]),
        []
    );
}

#[test]
fn bad_timezone_in_config() {
    assert_eq!(
        check_files(&[
            ("pushform.yaml", "quota:\n  timezone: Mars/Olympus_Mons\n"),
            ("campaigns/a.yaml", &campaign("a", "")),
        ]),
        [finding_at(
            Severity::Error,
            "pushform.yaml",
            None,
            "quota.timezone",
            "`Mars/Olympus_Mons` is not an IANA time zone (e.g. Asia/Shanghai)",
        )]
    );
}

#[test]
fn looping_fallback_chain() {
    let findings = check_files(&[
        (
            "pushform.yaml",
            "locales:\n  fallback: {en-GB: en, en: en-GB}\n",
        ),
        ("campaigns/a.yaml", &campaign("a", "")),
    ]);
    let messages: Vec<(&str, &str)> = findings
        .iter()
        .map(|f| (f.field.as_deref().unwrap_or_default(), f.message.as_str()))
        .collect();
    assert_eq!(
        messages,
        [
            (
                "locales.fallback.en-GB",
                "the fallback chain of `en-GB` loops: en-GB → en → en-GB"
            ),
            (
                "locales.fallback.en",
                "the fallback chain of `en` loops: en → en-GB → en"
            ),
        ]
    );
}

#[test]
fn body_issues_point_at_the_line_of_the_field() {
    let text = "id: a\npush:\n  platform: [ios]\n  audience: {packageName: p, is_to_all: false}\n  notification:\n    alert: hi\n    ios:\n      badge: 10000\n";
    assert_eq!(
        check_files(&[("campaigns/a.yaml", text)]),
        [Finding {
            unit: Some("a".to_owned()),
            ..finding_at(
                Severity::Error,
                "campaigns/a.yaml",
                Some(8),
                "push.notification.ios.badge",
                "is 10000; at most 9999",
            )
        }]
    );
}

#[test]
fn plural_forms_a_locale_needs_and_lacks_are_named() {
    let strings = "locales:\n  ja:\n    strings:\n      unread: {one: \"{{ n }} 件\"}\n";
    let findings = check_files(&[
        ("campaigns/a.yaml", &campaign("a", strings)),
        (
            "templates/locales/ru.yaml",
            "brand: Учёба\ninbox:\n  unread:\n    one: \"{{ n }} сообщение\"\n    other: \"{{ n }} сообщений\"\n",
        ),
        (
            "templates/locales/en.yaml",
            "unread: {one: a message, other: \"{{ n }} messages\"}\n",
        ),
    ]);
    assert_eq!(
        findings,
        [
            finding_at(
                Severity::Error,
                "templates/locales/ru.yaml",
                Some(3),
                "t.inbox.unread",
                "plural forms for `ru` lack `few`, `many`: `ru` needs one, few, many, other",
            ),
            finding_at(
                Severity::Error,
                "campaigns/a.yaml",
                Some(5),
                "locales.ja.strings.unread",
                "plural forms for `ja` lack `other`: `ja` needs other",
            ),
        ]
    );
}

#[test]
fn a_campaign_cannot_declare_the_pseudo_locale() {
    let findings = check_files(&[(
        "campaigns/a.yaml",
        &campaign("a", "locales:\n  en-XA:\n    strings: {}\n"),
    )]);
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(
        findings[0].message.contains("never planned or sent"),
        "{findings:?}"
    );
    assert_eq!(findings[0].field.as_deref(), Some("locales.en-XA"));
}

// ---- what reaches the device: APNs and FCM payloads ----------------------------------------

#[test]
fn the_device_payload_limit_counts_what_reaches_the_device() {
    use super::{MAX_DEVICE_PAYLOAD_BYTES, device_payload};
    // The payload of the valid body with an empty alert, to size the alert to the byte.
    let base = body(&json!({"notification": {"alert": ""}}));
    let notification = base.notification.as_ref().unwrap();
    let (ios_base, _) = device_payload(notification, "ios");
    let (android_base, _) = device_payload(notification, "android");
    assert_eq!(
        android_base,
        ios_base + 4,
        "the same but for the section's name"
    );
    let fill = MAX_DEVICE_PAYLOAD_BYTES - android_base;
    // At the limit: fine, even with a large in-app message, which does not reach the device.
    assert_issues(
        &json!({
            "notification": {"alert": "x".repeat(fill)},
            "message": {"content": format!("{{\"content\":\"{}\"}}", "m".repeat(100_000))}
        }),
        &[],
    );
    // One byte over on Android only.
    assert_issues(
        &json!({"notification": {"alert": "x".repeat(fill + 1)}}),
        &[error(
            "notification.alert",
            "makes the Android notification 4097 bytes (title, alert and the `android` fields as JSON); FCM and the vendor channels carry at most 4096 bytes",
        )],
    );
    // Four more bytes and iOS is over too.
    assert_issues(
        &json!({"notification": {"alert": "x".repeat(fill + 5)}}),
        &[
            error(
                "notification.alert",
                "makes the iOS notification 4097 bytes (title, alert and the `ios` fields as JSON); APNs carry at most 4096 bytes",
            ),
            error(
                "notification.alert",
                "makes the Android notification 4101 bytes (title, alert and the `android` fields as JSON); FCM and the vendor channels carry at most 4096 bytes",
            ),
        ],
    );
    // A platform's own alert replaces the common one on that channel only; extras count.
    assert_issues(
        &json!({"notification": {"ios": {"alert": "y".repeat(5000)}}}),
        &[error(
            "notification.ios.alert",
            "makes the iOS notification 5037 bytes (title, alert and the `ios` fields as JSON); APNs carry at most 4096 bytes",
        )],
    );
    assert_issues(
        &json!({"platform": ["android"], "notification": {"android": {"extras": {"k": "z".repeat(4100)}}}}),
        &[error(
            "notification.alert",
            "makes the Android notification 4170 bytes (title, alert and the `android` fields as JSON); FCM and the vendor channels carry at most 4096 bytes",
        )],
    );
}
