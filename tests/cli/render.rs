//! `pushform render`: the exact bodies of the sample repo (snapshotted), rendering determinism,
//! the digest as the identity of what would be sent, canonical `message.content`, and selecting
//! units by KEY.

use serde_json::Value;
use sha1::{Digest, Sha1};

use crate::support::{Repo, pushform, sample_repo};

#[test]
fn sample_repo_render_json() {
    let run = pushform(&sample_repo(), &["render", "--format", "json"]);
    run.success();
    assert_eq!(run.stderr, "");
    insta::assert_snapshot!(run.stdout);
}

#[test]
fn json_is_the_default_format_and_human_shows_the_same_digests() {
    let json = pushform(&sample_repo(), &["render"]);
    let explicit = pushform(&sample_repo(), &["render", "--format", "json"]);
    json.success();
    assert_eq!(json.stdout, explicit.stdout);

    let human = pushform(&sample_repo(), &["render", "--format", "human"]);
    human.success();
    for unit in json.json().as_array().expect("a JSON array") {
        let header = format!(
            "{} ({}) sha1:{}\n",
            unit["key"].as_str().unwrap(),
            unit["file"].as_str().unwrap(),
            unit["digest"].as_str().unwrap()
        );
        assert!(human.stdout.contains(&header), "{header}\n{}", human.stdout);
    }
}

// ---- determinism -------------------------------------------------------------------------

#[test]
fn two_renders_give_identical_output() {
    let first = pushform(&sample_repo(), &["render"]);
    let second = pushform(&sample_repo(), &["render"]);
    first.success();
    assert_eq!(first.stdout, second.stdout);
    // Nor does the folder it is run from change a byte (file names are relative to the root).
    let elsewhere = pushform(
        &std::env::temp_dir(),
        &["-C", sample_repo().to_str().unwrap(), "render"],
    );
    elsewhere.success();
    assert_eq!(first.stdout, elsewhere.stdout);
}

/// A campaign using every kind of sent field; `{content}`, `{title}`, `{tags}`, `{badge}` and
/// `{platform}` are filled in by the tests.
const DIGEST_TEMPLATE: &str = "\
id: d
push:
  platform: {platform}
  fromuserid: bot
  audience: {tag: {tags}, is_to_all: false}
  message:
    objectName: RC:TxtMsg
    content: {content}
  notification:
    title: {title}
    alert: Alert
    ios: {badge: {badge}}
";

struct Fields<'a> {
    platform: &'a str,
    tags: &'a str,
    content: &'a str,
    title: &'a str,
    badge: &'a str,
}

const BASE: Fields<'static> = Fields {
    platform: "[ios, android]",
    tags: "[a, b]",
    content: "{content: Hi, extra: {x: 1, y: [1, 2]}}",
    title: "Title",
    badge: "1",
};

fn campaign_text(f: &Fields) -> String {
    DIGEST_TEMPLATE
        .replace("{platform}", f.platform)
        .replace("{tags}", f.tags)
        .replace("{content}", f.content)
        .replace("{title}", f.title)
        .replace("{badge}", f.badge)
}

/// Renders a repo holding just this campaign text; returns (digest, body).
#[track_caller]
fn render_one(text: &str) -> (String, Value) {
    let repo = Repo::new();
    repo.file("campaigns/d.yaml", text);
    let run = repo.run(&["render"]);
    run.success();
    let units = run.json();
    assert_eq!(units.as_array().map(Vec::len), Some(1), "{units}");
    let digest = units[0]["digest"].as_str().expect("a digest").to_owned();
    (digest, units[0]["body"].clone())
}

#[test]
fn the_digest_is_the_sha1_of_the_exact_canonical_bytes() {
    let (digest, _) = render_one(&campaign_text(&BASE));
    let bytes = r#"{"platform":["ios","android"],"fromuserid":"bot","audience":{"tag":["a","b"],"is_to_all":false},"message":{"objectName":"RC:TxtMsg","content":"{\"content\":\"Hi\",\"extra\":{\"x\":1,\"y\":[1,2]}}"},"notification":{"title":"Title","alert":"Alert","ios":{"badge":1}}}"#;
    assert_eq!(digest, hex::encode(Sha1::digest(bytes.as_bytes())));
}

#[test]
fn what_is_not_sent_does_not_change_the_digest() {
    let (base, _) = render_one(&campaign_text(&BASE));
    let same = [
        // Keys of a message.content mapping in another order, nested too.
        campaign_text(&Fields {
            content: "{extra: {y: [1, 2], x: 1}, content: Hi}",
            ..BASE
        }),
        // Block style instead of flow style.
        campaign_text(&Fields {
            content: "\n      extra:\n        y: [1, 2]\n        x: 1\n      content: Hi",
            ..BASE
        }),
        // Quoting, comments, a description and unused vars.
        format!(
            "# a comment\ndescription: not sent\nvars: {{unused: 1}}\n{}",
            campaign_text(&Fields {
                title: "\"Title\"  # the title",
                ..BASE
            })
        ),
        // The same value through a template.
        format!(
            "vars: {{name: Title}}\n{}",
            campaign_text(&Fields {
                title: "\"{{ name }}\"",
                ..BASE
            })
        ),
        // Fields of push written in another order: the wire order is fixed.
        "id: d\npush:\n  notification:\n    ios: {badge: 1}\n    alert: Alert\n    title: Title\n  message:\n    content: {content: Hi, extra: {x: 1, y: [1, 2]}}\n    objectName: RC:TxtMsg\n  audience: {is_to_all: false, tag: [a, b]}\n  fromuserid: bot\n  platform: [ios, android]\n".to_owned(),
        // Platform names are lowercase on the wire.
        campaign_text(&Fields {
            platform: "[iOS, ANDROID]",
            ..BASE
        }),
    ];
    for text in same {
        assert_eq!(render_one(&text).0, base, "{text}");
    }
}

#[test]
fn every_sent_field_changes_the_digest() {
    let (base, _) = render_one(&campaign_text(&BASE));
    let changed = [
        (
            "title",
            Fields {
                title: "Title!",
                ..BASE
            },
        ),
        (
            "a tag",
            Fields {
                tags: "[a, c]",
                ..BASE
            },
        ),
        (
            "tag order",
            Fields {
                tags: "[b, a]",
                ..BASE
            },
        ),
        ("badge", Fields { badge: "2", ..BASE }),
        (
            "platform order",
            Fields {
                platform: "[android, ios]",
                ..BASE
            },
        ),
        (
            "a content value",
            Fields {
                content: "{content: Hi, extra: {x: 2, y: [1, 2]}}",
                ..BASE
            },
        ),
        (
            "a content list order",
            Fields {
                content: "{content: Hi, extra: {x: 1, y: [2, 1]}}",
                ..BASE
            },
        ),
    ];
    let mut seen = vec![base];
    for (what, fields) in changed {
        let (digest, _) = render_one(&campaign_text(&fields));
        assert!(
            !seen.contains(&digest),
            "changing {what} left the digest equal to an earlier one"
        );
        seen.push(digest);
    }
}

#[test]
fn content_mapping_is_compact_json_with_sorted_keys_and_utf8() {
    let text = "id: c\nvars: {n: 3}\npush:\n  platform: [ios]\n  fromuserid: bot\n  audience: {is_to_all: true}\n  message:\n    objectName: RC:TxtMsg\n    content:\n      z: 冬季\n      content: \"{{ n }} é\"\n      m: {y: 1, b: true, a: null}\n      list: [2, 1]\n  notification: {alert: hi}\n";
    let (digest, body) = render_one(text);
    assert_eq!(
        body["message"]["content"],
        r#"{"content":"3 é","list":[2,1],"m":{"a":null,"b":true,"y":1},"z":"冬季"}"#
    );
    // The bytes sent keep it as UTF-8 too: the digest is that of the unescaped text.
    let bytes = r#"{"platform":["ios"],"fromuserid":"bot","audience":{"is_to_all":true},"message":{"objectName":"RC:TxtMsg","content":"{\"content\":\"3 é\",\"list\":[2,1],\"m\":{\"a\":null,\"b\":true,\"y\":1},\"z\":\"冬季\"}"},"notification":{"alert":"hi"}}"#;
    assert_eq!(digest, hex::encode(Sha1::digest(bytes.as_bytes())));
}

#[test]
fn content_string_is_sent_as_is() {
    let text = "id: c\npush:\n  platform: [ios]\n  fromuserid: bot\n  audience: {is_to_all: true}\n  message:\n    objectName: App:Custom\n    content: '{ \"z\": 1,   \"a\": \"\\u00e9\" }'\n  notification: {alert: hi}\n";
    let (_, body) = render_one(text);
    assert_eq!(body["message"]["content"], r#"{ "z": 1,   "a": "\u00e9" }"#);
}

// ---- selecting units ---------------------------------------------------------------------

fn keys(stdout_json: &Value) -> Vec<&str> {
    stdout_json
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|u| u["key"].as_str().expect("a key"))
        .collect()
}

#[test]
fn all_units_in_file_path_then_locale_order() {
    let run = pushform(&sample_repo(), &["render"]);
    run.success();
    assert_eq!(
        keys(&run.json()),
        [
            "exam-reminder-2026-12/zh-CN",
            "exam-reminder-2026-12/en",
            "winter-sale-2026/zh-CN",
            "winter-sale-2026/en",
            "grading-week-2026/zh-CN",
            "grading-week-2026/zh-TW",
            "grading-week-2026/en",
            "maintenance-2026-12-06",
        ]
    );
}

#[test]
fn key_selects_a_campaign_by_id() {
    let run = pushform(&sample_repo(), &["render", "winter-sale-2026"]);
    run.success();
    assert_eq!(
        keys(&run.json()),
        ["winter-sale-2026/zh-CN", "winter-sale-2026/en"]
    );
}

#[test]
fn key_selects_a_unit_by_its_key() {
    let run = pushform(&sample_repo(), &["render", "winter-sale-2026/en"]);
    run.success();
    let units = run.json();
    assert_eq!(keys(&units), ["winter-sale-2026/en"]);
    assert_eq!(units[0]["locale"], "en");
    assert_eq!(units[0]["campaign"], "winter-sale-2026");
}

#[test]
fn several_keys_keep_render_order() {
    let run = pushform(
        &sample_repo(),
        &[
            "render",
            "maintenance-2026-12-06",
            "exam-reminder-2026-12/en",
        ],
    );
    run.success();
    let units = run.json();
    assert_eq!(
        keys(&units),
        ["exam-reminder-2026-12/en", "maintenance-2026-12-06"]
    );
    // A campaign without locales has a null locale.
    assert_eq!(units[1]["locale"], Value::Null);
}

#[test]
fn unknown_key_exits_1_naming_it() {
    for args in [
        &["render", "no-such-campaign"][..],
        &["render", "winter-sale-2026", "no-such-campaign"][..],
        // A locale the campaign does not have.
        &["render", "winter-sale-2026/fr"][..],
    ] {
        let run = pushform(&sample_repo(), args);
        run.failure();
        assert_eq!(run.stdout, "", "{args:?}");
        let key = args.last().unwrap();
        run.stderr_has(&["error: ", &format!("`{key}`")]);
    }
}

#[test]
fn nothing_is_rendered_while_there_are_errors() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification: {alert: hi, ios: {badge: 10000}}\n",
    );
    let run = repo.run(&["render"]);
    run.failure();
    assert_eq!(run.stdout, "");
    run.stderr_has(&[
        "error: campaigns/a.yaml:5: push.notification.ios.badge: is 10000; at most 9999 [a]",
        "Nothing rendered",
    ]);
}
