//! The body rules: every rule of the provider's `/push.json` page (docs/contract.md §4) over a
//! typed `PushBody`, as issues keyed by field path. Pure: no files, no lines; `check_unit`
//! (in `mod.rs`) locates them. The test emulator applies the same rules (`check_json_body`).
//!
//! One file because the rules are one table of the provider's page, read top to bottom.

use crate::body::{Android, Audience, Ios, Message, PushBody};
use crate::finding::Severity;

/// Provider limits, named once.
pub(crate) const MAX_TAGS: usize = 20;
pub(crate) const MAX_USERIDS: usize = 1000;
pub(crate) const MAX_CONTENT_BYTES: usize = 128 * 1024;
pub(crate) const MAX_TITLE_CHARS: usize = 50;
pub(crate) const MAX_CUSTOM_TYPE_CHARS: usize = 32;
pub(crate) const MAX_BADGE: i64 = 9999;
/// What one notification may carry to a device: APNs takes a 4 KB payload, FCM a 4 KB
/// notification message (the vendor channels Android pushes go through are no larger).
pub(crate) const MAX_DEVICE_PAYLOAD_BYTES: usize = 4096;

/// One broken rule, by field path inside the body (`notification.ios.badge`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub severity: Severity,
    pub path: String,
    pub message: String,
}

fn error(issues: &mut Vec<Issue>, path: &str, message: impl Into<String>) {
    issues.push(Issue {
        severity: Severity::Error,
        path: path.to_owned(),
        message: message.into(),
    });
}

fn warn(issues: &mut Vec<Issue>, path: &str, message: impl Into<String>) {
    issues.push(Issue {
        severity: Severity::Warning,
        path: path.to_owned(),
        message: message.into(),
    });
}

/// Built-in message types whose content pushform checks, with the fields their content needs.
const KNOWN_TYPES: &[(&str, &[&str])] = &[
    ("RC:TxtMsg", &["content"]),
    ("RC:ImgMsg", &["content", "imageUri"]),
    ("RC:GIFMsg", &["remoteUrl", "width", "height"]),
    ("RC:VcMsg", &["content", "duration"]),
    ("RC:HQVCMsg", &["remoteUrl", "duration"]),
    ("RC:ImgTextMsg", &["title", "content"]),
    ("RC:FileMsg", &["name", "size", "type", "fileUrl"]),
    ("RC:LBSMsg", &["content", "latitude", "longitude", "poi"]),
    (
        "RC:SightMsg",
        &["sightUrl", "content", "duration", "size", "name"],
    ),
    (
        "RC:CombineMsg",
        &["remoteUrl", "conversationType", "nameList", "summaryList"],
    ),
    (
        "RC:ReferenceMsg",
        &["content", "referMsgUserId", "referMsg", "objName"],
    ),
    ("RC:CmdMsg", &["name"]),
    ("RC:InfoNtf", &["message"]),
    (
        "RC:ContactNtf",
        &["operation", "sourceUserId", "targetUserId"],
    ),
    ("RC:ProfileNtf", &["operation"]),
    ("RC:CmdNtf", &["name"]),
    (
        "RC:GrpNtf",
        &["operatorUserId", "operation", "data", "message"],
    ),
];

/// Every provider rule that can be checked on one body.
pub(crate) fn check_body(body: &PushBody) -> Vec<Issue> {
    let mut issues = Vec::new();
    let userid_set = body
        .audience
        .as_ref()
        .and_then(|a| a.userid.as_ref())
        .is_some_and(|u| !u.is_empty());

    // platform
    let mut targets: Vec<&str> = Vec::new();
    match &body.platform {
        None => error(
            &mut issues,
            "platform",
            "is required: a list of `ios` and/or `android`",
        ),
        Some(list) if list.is_empty() => error(
            &mut issues,
            "platform",
            "must name at least one of `ios`, `android`",
        ),
        Some(list) => {
            for (i, p) in list.iter().enumerate() {
                match p.as_str() {
                    "ios" | "android" => targets.push(p.as_str()),
                    other => error(
                        &mut issues,
                        &format!("platform.{i}"),
                        format!("`{other}` is not a platform: use `ios` or `android`"),
                    ),
                }
            }
            if userid_set {
                warn(
                    &mut issues,
                    "platform",
                    "is ignored by the API when `audience.userid` is set",
                );
            }
        }
    }

    // fromuserid
    if body.message.is_some() && body.fromuserid.as_deref().is_none_or(str::is_empty) {
        error(
            &mut issues,
            "fromuserid",
            "is required when `message` is present (the sender of the system message)",
        );
    }

    match &body.audience {
        None => error(
            &mut issues,
            "audience",
            "is required (at least `is_to_all: true` or `false` with a target)",
        ),
        Some(audience) => check_audience(audience, &mut issues),
    }

    if let Some(message) = &body.message {
        check_message(message, &mut issues);
    }

    match &body.notification {
        None => error(
            &mut issues,
            "notification",
            "is required (at least an `alert`)",
        ),
        Some(n) => {
            if let Some(title) = &n.title {
                let chars = title.chars().count();
                if chars > MAX_TITLE_CHARS {
                    error(
                        &mut issues,
                        "notification.title",
                        format!(
                            "is {chars} characters; the API allows at most {MAX_TITLE_CHARS}: {}",
                            shown(title)
                        ),
                    );
                }
            }
            if let Some(v) = n.force_show_push_content
                && v != 0
                && v != 1
            {
                error(
                    &mut issues,
                    "notification.forceShowPushContent",
                    format!("must be 0 or 1, not {v}"),
                );
            }
            let alert = n.alert.as_deref().is_some_and(|a| !a.is_empty());
            if !alert {
                let ios_alert = n
                    .ios
                    .as_ref()
                    .and_then(|i| i.alert.as_deref())
                    .is_some_and(|a| !a.is_empty());
                let android_alert = n
                    .android
                    .as_ref()
                    .and_then(|a| a.alert.as_deref())
                    .is_some_and(|a| !a.is_empty());
                let mut lacking = Vec::new();
                if targets.contains(&"ios") && !ios_alert {
                    lacking.push("`notification.ios.alert`");
                }
                if targets.contains(&"android") && !android_alert {
                    lacking.push("`notification.android.alert`");
                }
                if !lacking.is_empty() {
                    error(
                        &mut issues,
                        "notification.alert",
                        format!(
                            "is required: set `notification.alert`, or else {} for every targeted platform",
                            lacking.join(" and ")
                        ),
                    );
                }
            }
            if let Some(ios) = &n.ios {
                check_ios(ios, &mut issues);
            }
            if let Some(android) = &n.android {
                check_android(android, &mut issues);
            }
            // With `userid` the API ignores `platform`, and a body without one is already an
            // error: in both cases the notification may go through either channel.
            let channels: &[&str] = if targets.is_empty() || userid_set {
                &["ios", "android"]
            } else {
                &targets
            };
            for channel in channels {
                check_device_payload(n, channel, &mut issues);
            }
        }
    }
    issues
}

/// The provider's verdict on a body as sent (JSON): the typed body, then the error-severity rules
/// of `check_body`, all broken ones in one message. The body rules an emulator is given, so a
/// body pushform accepts is one the stand-in provider accepts, and a rule added to one is added
/// to both.
///
/// # Errors
/// The body does not deserialize (with the field path), or breaks a rule.
pub fn check_json_body(v: &serde_json::Value) -> Result<(), String> {
    let body: PushBody = serde_path_to_error::deserialize(v.clone())
        .map_err(|e| format!("invalid body at {}: {}", e.path(), e.inner()))?;
    let errors: Vec<String> = check_body(&body)
        .into_iter()
        .filter(|issue| issue.severity == Severity::Error)
        .map(|issue| format!("{}: {}", issue.path, issue.message))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The part of a notification that travels to the device through `channel` (APNs for `ios`,
/// FCM and the vendors' channels for `android`), as compact JSON: its title and alert (the
/// platform's own ones where set, which replace the common ones) and every other field of the
/// platform's section (badge, thread id, `extras`, vendor fields). The in-app `message` does not
/// go through these channels (the app fetches it over its own connection), so it is not counted.
/// The provider wraps this in a few bytes of its own, so staying under the limit is needed, not
/// sufficient; pushform cannot know those bytes exactly. Returns the size and the path of the
/// alert used, where an oversized payload is reported.
pub(crate) fn device_payload(n: &crate::body::Notification, channel: &str) -> (usize, String) {
    let mut payload = serde_json::Map::new();
    let mut put = |key: &str, value: Option<&String>| {
        if let Some(v) = value {
            payload.insert(key.to_owned(), serde_json::Value::String(v.clone()));
        }
    };
    let alert_path = if channel == "ios" {
        let ios = n.ios.clone().unwrap_or_default();
        put("title", ios.title.as_ref().or(n.title.as_ref()));
        put("alert", ios.alert.as_ref().or(n.alert.as_ref()));
        let rest = Ios {
            title: None,
            alert: None,
            ..ios.clone()
        };
        payload.insert(
            "ios".to_owned(),
            serde_json::to_value(rest).unwrap_or_default(),
        );
        if ios.alert.is_some() {
            "notification.ios.alert"
        } else {
            "notification.alert"
        }
    } else {
        let android = n.android.clone().unwrap_or_default();
        put("title", n.title.as_ref());
        put("alert", android.alert.as_ref().or(n.alert.as_ref()));
        let rest = Android {
            alert: None,
            ..android.clone()
        };
        payload.insert(
            "android".to_owned(),
            serde_json::to_value(rest).unwrap_or_default(),
        );
        if android.alert.is_some() {
            "notification.android.alert"
        } else {
            "notification.alert"
        }
    };
    let bytes = serde_json::to_vec(&payload).map_or(usize::MAX, |b| b.len());
    (bytes, alert_path.to_owned())
}

fn check_device_payload(n: &crate::body::Notification, channel: &str, issues: &mut Vec<Issue>) {
    let (bytes, path) = device_payload(n, channel);
    if bytes > MAX_DEVICE_PAYLOAD_BYTES {
        let (name, service) = if channel == "ios" {
            ("iOS", "APNs")
        } else {
            ("Android", "FCM and the vendor channels")
        };
        error(
            issues,
            &path,
            format!(
                "makes the {name} notification {bytes} bytes (title, alert and the `{channel}` \
                 fields as JSON); {service} carry at most {MAX_DEVICE_PAYLOAD_BYTES} bytes"
            ),
        );
    }
}

fn check_audience(a: &Audience, issues: &mut Vec<Issue>) {
    let non_empty = |v: &Option<Vec<String>>| v.as_ref().is_some_and(|v| !v.is_empty());
    let has_tag = non_empty(&a.tag);
    let has_tag_or = non_empty(&a.tag_or);
    let has_userid = non_empty(&a.userid);
    let has_package = a.package_name.as_deref().is_some_and(|p| !p.is_empty());
    for (field, list) in [("tag", &a.tag), ("tag_or", &a.tag_or)] {
        if let Some(list) = list
            && list.len() > MAX_TAGS
        {
            error(
                issues,
                &format!("audience.{field}"),
                format!("has {} tags; the API allows at most {MAX_TAGS}", list.len()),
            );
        }
    }
    if let Some(list) = &a.userid
        && list.len() > MAX_USERIDS
    {
        error(
            issues,
            "audience.userid",
            format!(
                "has {} user IDs; the API allows at most {MAX_USERIDS}",
                list.len()
            ),
        );
    }
    match a.is_to_all {
        None => error(
            issues,
            "audience.is_to_all",
            "is required: `true` to push to every user, `false` to push by tag, tag_or, userid or packageName",
        ),
        Some(true) => {
            if has_tag || has_tag_or || has_userid || has_package {
                warn(
                    issues,
                    "audience.is_to_all",
                    "is true, so the API ignores `tag`, `tag_or`, `userid` and `packageName`: this goes to every user",
                );
            }
        }
        Some(false) => {
            if !(has_tag || has_tag_or || has_userid || has_package) {
                error(
                    issues,
                    "audience",
                    "targets nobody: with `is_to_all: false` set at least one of `tag`, `tag_or`, `userid`, `packageName`",
                );
            }
            if has_userid && (has_tag || has_tag_or || has_package) {
                warn(
                    issues,
                    "audience.userid",
                    "takes precedence: the API ignores `tag`, `tag_or` and `packageName` when `userid` is set",
                );
            }
        }
    }
}

fn check_message(m: &Message, issues: &mut Vec<Issue>) {
    match m.object_name.as_deref() {
        None | Some("") => error(
            issues,
            "message.objectName",
            "is required with `message` (e.g. RC:TxtMsg)",
        ),
        Some(name) if name.starts_with("RC:") => {
            if let Some((_, fields)) = KNOWN_TYPES.iter().find(|(n, _)| *n == name) {
                if let Some(content) = &m.content {
                    match serde_json::from_str::<serde_json::Value>(content) {
                        Ok(serde_json::Value::Object(map)) => {
                            let missing: Vec<&str> = fields
                                .iter()
                                .copied()
                                .filter(|f| !map.contains_key(*f))
                                .collect();
                            if !missing.is_empty() {
                                error(
                                    issues,
                                    "message.content",
                                    format!("a {name} content needs {}", quoted(&missing)),
                                );
                            }
                        }
                        _ => error(
                            issues,
                            "message.content",
                            format!(
                                "a {name} content must be a JSON object (write it as a mapping)"
                            ),
                        ),
                    }
                }
            } else {
                error(
                    issues,
                    "message.objectName",
                    format!(
                        "`{name}` is not a known built-in type, and custom types must not start with `RC:` (known: {})",
                        KNOWN_TYPES
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
        Some(name) => {
            let chars = name.chars().count();
            if chars > MAX_CUSTOM_TYPE_CHARS {
                error(
                    issues,
                    "message.objectName",
                    format!(
                        "custom type `{name}` is {chars} characters; at most {MAX_CUSTOM_TYPE_CHARS} are allowed"
                    ),
                );
            }
        }
    }
    match &m.content {
        None => error(issues, "message.content", "is required with `message`"),
        Some(content) if content.len() > MAX_CONTENT_BYTES => error(
            issues,
            "message.content",
            format!(
                "is {} bytes; the API allows at most {MAX_CONTENT_BYTES} (128 KiB)",
                content.len()
            ),
        ),
        Some(_) => {}
    }
}

fn check_ios(ios: &Ios, issues: &mut Vec<Issue>) {
    if let Some(badge) = ios.badge
        && badge > MAX_BADGE
    {
        error(
            issues,
            "notification.ios.badge",
            format!("is {badge}; at most {MAX_BADGE}"),
        );
    }
    if let Some(v) = ios.content_available
        && v != 0
        && v != 1
    {
        error(
            issues,
            "notification.ios.contentAvailable",
            format!("must be 0 or 1, not {v}"),
        );
    }
    if let Some(level) = ios.interruption_level.as_deref()
        && !matches!(level, "passive" | "active" | "time-sensitive" | "critical")
    {
        error(
            issues,
            "notification.ios.interruption-level",
            format!("`{level}` is not one of passive, active, time-sensitive, critical"),
        );
    }
    if ios.rich_media_uri.is_some() && ios.category.is_none() {
        error(
            issues,
            "notification.ios.richMediaUri",
            "needs `notification.ios.category` (they go together)",
        );
    }
}

fn check_android(a: &Android, issues: &mut Vec<Issue>) {
    let importance = |issues: &mut Vec<Issue>, path: &str, v: Option<&str>| {
        if let Some(v) = v
            && v != "NORMAL"
            && v != "LOW"
        {
            error(issues, path, format!("`{v}` is not NORMAL or LOW"));
        }
    };
    let https = |issues: &mut Vec<Issue>, path: &str, v: Option<&str>| {
        if let Some(v) = v
            && !v.starts_with("https://")
        {
            error(issues, path, format!("`{v}` must be an https:// URL"));
        }
    };
    if let Some(honor) = &a.honor {
        importance(
            issues,
            "notification.android.honor.importance",
            honor.importance.as_deref(),
        );
        https(
            issues,
            "notification.android.honor.image",
            honor.image.as_deref(),
        );
    }
    if let Some(hw) = &a.hw {
        importance(
            issues,
            "notification.android.hw.importance",
            hw.importance.as_deref(),
        );
        https(issues, "notification.android.hw.image", hw.image.as_deref());
        if let Some(category) = hw.category.as_deref()
            && (category.is_empty()
                || !category.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        {
            error(
                issues,
                "notification.android.hw.category",
                format!("`{category}` must be upper-case letters (e.g. IM, VOIP)"),
            );
        }
    }
    if let Some(mi) = &a.mi {
        https(
            issues,
            "notification.android.mi.large_icon_uri",
            mi.large_icon_uri.as_deref(),
        );
    }
    if let Some(oppo) = &a.oppo
        && let Some(level) = oppo.notify_level
    {
        if !matches!(level, 1 | 2 | 16) {
            error(
                issues,
                "notification.android.oppo.notify_level",
                format!(
                    "is {level}; use 1 (bar), 2 (bar + lock screen) or 16 (bar + lock screen + banner + sound)"
                ),
            );
        }
        if oppo.category.is_none() {
            error(
                issues,
                "notification.android.oppo.notify_level",
                "needs `notification.android.oppo.category`",
            );
        }
    }
    if let Some(vivo) = &a.vivo {
        if let Some(c) = vivo.classification.as_deref()
            && c != "0"
            && c != "1"
        {
            error(
                issues,
                "notification.android.vivo.classification",
                format!("`{c}` is not \"0\" (operational) or \"1\" (system)"),
            );
        }
        if vivo.category.is_some() && vivo.classification.is_none() {
            error(
                issues,
                "notification.android.vivo.category",
                "needs `notification.android.vivo.classification` (\"0\" or \"1\") to match it",
            );
        }
    }
    if let Some(fcm) = &a.fcm {
        https(
            issues,
            "notification.android.fcm.imageUrl",
            fcm.image_url.as_deref(),
        );
    }
}

fn quoted(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A rendered value quoted for a message: in full when short enough to read, else its start.
fn shown(text: &str) -> String {
    const MAX: usize = 120;
    if text.chars().count() <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}
