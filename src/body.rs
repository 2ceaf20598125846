//! The `/push.json` request body, typed, with the provider's exact wire names.
//!
//! This is the one place that decides the bytes that are sent: fields serialise in declaration
//! order, absent optionals are omitted, and free-form `extras` maps are sorted, so a body has
//! exactly one serialisation and its SHA-1 digest changes exactly when what would be sent
//! changes. Every field is optional here on purpose: missing required fields are reported by
//! `validate` all at once, with their line, instead of failing the parse at the first one.
//! The same types generate the JSON Schema of campaign files (`pushform schema`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use sha1::{Digest, Sha1};

/// Free-form key/value data passed through to the app (`extras`). A BTreeMap keeps keys sorted.
pub(crate) type Extras = BTreeMap<String, serde_json::Value>;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    /// Target operating systems: `ios`, `android` (at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Vec<String>>,
    /// Sender user ID; required when `message` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fromuserid: Option<String>,
    /// Who receives the push.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Audience>,
    /// The in-app system message; omit it for a push-only notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// The notification shown by the operating system (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<Notification>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Audience {
    /// Tags, all of which a user must have (AND); at most 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Vec<String>>,
    /// Tags, any of which a user must have (OR); at most 20.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_or: Option<Vec<String>>,
    /// Explicit user IDs, at most 1000; they take precedence over tags and packageName.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userid: Option<Vec<String>>,
    /// Application package name (e.g. `com.example.student`).
    #[serde(
        rename = "packageName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub package_name: Option<String>,
    /// Push to every user of the App Key (required). When true, every other condition is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_to_all: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Message type: a built-in `RC:` type or a custom one (not `RC:`, at most 32 characters).
    #[serde(
        rename = "objectName",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub object_name: Option<String>,
    /// The message content. In a campaign file a mapping is rendered and serialised to compact
    /// JSON (sorted keys); a string is sent as is. At most 128 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "content_schema")]
    pub content: Option<String>,
    /// When true the message does not update the conversation list's last message.
    #[serde(
        rename = "disableUpdateLastMsg",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub disable_update_last_msg: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// Notification bar title, at most 50 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// 1 forces the push content to show even where the device hides it; 0 (default) does not.
    #[serde(
        rename = "forceShowPushContent",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub force_show_push_content: Option<i64>,
    /// Push content for every platform (else `ios.alert` and `android.alert` are needed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ios: Option<Ios>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub android: Option<Android>,
    #[serde(rename = "harmonyOS", default, skip_serializing_if = "Option::is_none")]
    pub harmony_os: Option<HarmonyOs>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ios {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Silent push: 1 on, 0 off.
    #[serde(
        rename = "contentAvailable",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub content_available: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// App badge, at most 9999; 0 or less clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badge: Option<i64>,
    #[serde(rename = "thread-id", default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(
        rename = "apns-collapse-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub apns_collapse_id: Option<String>,
    /// Rich push category; goes with `richMediaUri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(
        rename = "richMediaUri",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rich_media_uri: Option<String>,
    /// passive, active, time-sensitive or critical.
    #[serde(
        rename = "interruption-level",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub interruption_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras: Option<Extras>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Android {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honor: Option<Honor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hw: Option<Huawei>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mi: Option<Xiaomi>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oppo: Option<Oppo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vivo: Option<Vivo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fcm: Option<Fcm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extras: Option<Extras>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Honor {
    /// NORMAL or LOW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
    /// https URL of the large icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Huawei {
    #[serde(rename = "channelId", default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// NORMAL or LOW.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance: Option<String>,
    /// https URL of the large icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Upper-case letters, e.g. IM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Xiaomi {
    #[serde(rename = "channelId", default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// https URL of the large icon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_icon_uri: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Oppo {
    #[serde(rename = "channelId", default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// 1, 2 or 16; needs `category`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_level: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Vivo {
    /// "0" (operational, default) or "1" (system). A YAML number is taken as its digits.
    #[serde(
        default,
        deserialize_with = "string_or_int",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(with = "Option<StringOrInt>")]
    pub classification: Option<String>,
    /// Needs `classification`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Fcm {
    #[serde(rename = "channelId", default, skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collapse_key: Option<String>,
    /// https URL of the image.
    #[serde(rename = "imageUrl", default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HarmonyOs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ohos: Option<Ohos>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Ohos {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Schema-only: a value written either as a string or as an integer.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum StringOrInt {
    Str(String),
    Int(i64),
}

fn string_or_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Str(String),
        Int(i64),
    }
    Ok(Option::<Either>::deserialize(d)?.map(|v| match v {
        Either::Str(s) => s,
        Either::Int(i) => i.to_string(),
    }))
}

fn content_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "The message content: a mapping (rendered, then sent as compact JSON with sorted keys) or a string sent as is.",
        "type": ["string", "object"]
    })
}

impl PushBody {
    /// The exact bytes POSTed: compact JSON, fields in declaration order, non-ASCII as UTF-8.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising plain structs, strings, integers and JSON values cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// A body held as the JSON bytes it was rendered to, and parsed only when read: a plan of
/// 30,000 pending pushes keeps 30,000 short byte strings, not 30,000 JSON trees (a parsed
/// `serde_json::Value` takes about ten times the memory of its text).
///
/// It reads and writes as the JSON value itself (so a plan file or a lockfile holds the body
/// as an object), with object keys sorted at every level, and two are equal when their JSON
/// values are. `serde_json` sorts by default, but a dependency turning on its `preserve_order`
/// feature would silently make a lockfile's bytes depend on insertion order: the sort is ours.
#[derive(Clone)]
pub struct JsonBody(std::sync::Arc<[u8]>);

impl JsonBody {
    /// The same bytes as a unit's, shared rather than copied (a plan holds one per pending unit).
    pub(crate) fn shared(bytes: &std::sync::Arc<[u8]>) -> JsonBody {
        JsonBody(std::sync::Arc::clone(bytes))
    }

    /// The body as a JSON value (`null` for bytes that are not JSON, which `from_bytes` is
    /// never given: they come from `PushBody::to_bytes` or from a parsed value).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// The JSON text, compact.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl From<&serde_json::Value> for JsonBody {
    fn from(value: &serde_json::Value) -> JsonBody {
        JsonBody(serde_json::to_vec(value).unwrap_or_default().into())
    }
}

impl From<serde_json::Value> for JsonBody {
    fn from(value: serde_json::Value) -> JsonBody {
        JsonBody::from(&value)
    }
}

impl PartialEq<JsonBody> for serde_json::Value {
    fn eq(&self, other: &JsonBody) -> bool {
        *self == other.value()
    }
}

impl PartialEq for JsonBody {
    fn eq(&self, other: &JsonBody) -> bool {
        self.0 == other.0 || self.value() == other.value()
    }
}

impl std::fmt::Debug for JsonBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

impl Serialize for JsonBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Sorted(&self.value()).serialize(serializer)
    }
}

struct Sorted<'a>(&'a serde_json::Value);

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            serde_json::Value::Array(items) => serializer.collect_seq(items.iter().map(Sorted)),
            serde_json::Value::Object(map) => {
                let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                serializer.collect_map(entries.into_iter().map(|(k, v)| (k, Sorted(v))))
            }
            other => other.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for JsonBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<JsonBody, D::Error> {
        serde_json::Value::deserialize(deserializer).map(|v| JsonBody::from(&v))
    }
}

/// Lowercase hex SHA-1 of the bytes: the identity of what is, or was, sent.
pub(crate) fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha1::digest(bytes))
}

/// The content digest of a body: the SHA-1 of its one serialisation without `audience`. A
/// unit and its `send-test` (the same body to test users) share it, so a test send is evidence
/// for exactly the content that was tested; `None` for bytes that are not a push body.
pub(crate) fn content_digest(bytes: &[u8]) -> Option<String> {
    let body: PushBody = serde_json::from_slice(bytes).ok()?;
    Some(content_digest_of(body))
}

fn content_digest_of(mut body: PushBody) -> String {
    body.audience = None;
    digest(&body.to_bytes())
}

/// The same body sent to these user ids only: `audience` replaced by `{userid: [...],
/// is_to_all: false}`, every other field byte for byte as it was. `None` for bytes that are
/// not a push body.
pub(crate) fn to_test_users(bytes: &[u8], userids: &[String]) -> Option<Vec<u8>> {
    let mut body: PushBody = serde_json::from_slice(bytes).ok()?;
    body.audience = Some(Audience {
        userid: Some(userids.to_vec()),
        is_to_all: Some(false),
        ..Audience::default()
    });
    Some(body.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_body_differs_from_its_unit_in_audience_only() {
        let unit = br#"{"platform":["ios"],"audience":{"tag":["vip"],"is_to_all":false},"notification":{"title":"Hi","alert":"Sale"}}"#;
        let test = to_test_users(unit, &["qa-1".to_owned()]).unwrap();
        assert_eq!(
            String::from_utf8(test.clone()).unwrap(),
            r#"{"platform":["ios"],"audience":{"userid":["qa-1"],"is_to_all":false},"notification":{"title":"Hi","alert":"Sale"}}"#
        );
        assert_eq!(content_digest(unit), content_digest(&test));
        let value: serde_json::Value = serde_json::from_slice(&test).unwrap();
        // A lockfile holds bodies with sorted keys: the same content, the same digest.
        let sorted = serde_json::to_vec(&value).unwrap();
        assert_ne!(sorted, test);
        assert_eq!(content_digest(&sorted), content_digest(unit));
        let edited = br#"{"platform":["ios"],"audience":{"tag":["vip"],"is_to_all":false},"notification":{"title":"Hi","alert":"Sale!"}}"#;
        assert_ne!(content_digest(unit), content_digest(edited));
        assert_eq!(content_digest(b"not json"), None);
    }

    #[test]
    fn wire_names_and_field_order() {
        let body: PushBody = serde_json::from_value(serde_json::json!({
            "notification": {"ios": {"thread-id": "t", "apns-collapse-id": "c", "interruption-level": "active",
                                     "contentAvailable": 0, "richMediaUri": "https://x", "category": "c"},
                             "harmonyOS": {"ohos": {"category": "IM"}},
                             "android": {"hw": {"channelId": "x"}, "vivo": {"classification": 1}}},
            "audience": {"is_to_all": false, "packageName": "p"},
            "platform": ["ios"],
        }))
        .unwrap();
        let text = String::from_utf8(body.to_bytes()).unwrap();
        assert_eq!(
            text,
            r#"{"platform":["ios"],"audience":{"packageName":"p","is_to_all":false},"notification":{"ios":{"contentAvailable":0,"thread-id":"t","apns-collapse-id":"c","category":"c","richMediaUri":"https://x","interruption-level":"active"},"android":{"hw":{"channelId":"x"},"vivo":{"classification":"1"}},"harmonyOS":{"ohos":{"category":"IM"}}}}"#
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err =
            serde_json::from_value::<PushBody>(serde_json::json!({"notification": {"titel": "x"}}))
                .unwrap_err()
                .to_string();
        assert!(err.contains("unknown field `titel`"), "{err}");
    }

    #[test]
    fn digest_is_sha1_hex() {
        assert_eq!(digest(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn non_ascii_is_kept_as_utf8() {
        let body = PushBody {
            notification: Some(Notification {
                title: Some("冬季大促".into()),
                ..Notification::default()
            }),
            ..PushBody::default()
        };
        assert_eq!(
            String::from_utf8(body.to_bytes()).unwrap(),
            r#"{"notification":{"title":"冬季大促"}}"#
        );
    }
}
