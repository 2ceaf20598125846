//! Validation: every rule of the provider's `/push.json` page (docs/contract.md §4) and the campaign
//! rules, all reported at once.
//!
//! `check_body` is pure and knows nothing of files: it returns issues keyed by field path, which
//! `check` turns into findings with the file and line where each field was written. The test
//! emulator applies the same `check_body`, so what pushform accepts is what the provider would.

use std::collections::{BTreeMap, BTreeSet};

use crate::body::{Android, Audience, Ios, Message, PushBody};
use crate::finding::{Finding, Severity};
use crate::node::{Node, Origin};
use crate::project::Project;
use crate::render::Unit;

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

/// The id rule: lowercase, stable, usable in file names and keys.
pub(crate) fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
}

/// All campaign and body rules over a loaded, rendered project.
pub fn check(project: &Project, units: &[Unit]) -> Vec<Finding> {
    let mut findings = check_project(project);
    for unit in units {
        findings.extend(check_unit(unit, &unit.push_body()));
    }
    overlapping_audiences(units, &mut findings);
    findings
}

/// The rules across campaigns (ids, times, locale names) and of the config.
pub(crate) fn check_project(project: &Project) -> Vec<Finding> {
    let mut findings = Vec::new();
    let config = &project.config;
    findings.extend(config.schedule.findings());

    if config.quota.timezone.parse::<chrono_tz::Tz>().is_err() {
        findings.push(
            Finding::error(format!(
                "`{}` is not an IANA time zone (e.g. Asia/Shanghai)",
                config.quota.timezone
            ))
            .in_file(crate::config::FILE_NAME)
            .field("quota.timezone"),
        );
    }
    if crate::client::data_center_endpoints(&config.api.data_center).is_none() {
        findings.push(
            Finding::error(format!(
                "`{}` is not a data center: use cn, sg, sg-b, na or sa",
                config.api.data_center
            ))
            .in_file(crate::config::FILE_NAME)
            .field("api.data_center"),
        );
    }
    let max_timeout = crate::client::MAX_TIMEOUT.as_secs();
    if config.api.timeout_secs == 0 || config.api.timeout_secs > max_timeout {
        findings.push(
            Finding::error(format!(
                "must be between 1 and {max_timeout} seconds, not {}",
                config.api.timeout_secs
            ))
            .in_file(crate::config::FILE_NAME)
            .field("api.timeout_secs"),
        );
    }
    for (from, _) in &config.locales.fallback {
        let chain = config.chain(from);
        let last = chain.last().map(String::as_str).unwrap_or_default();
        if config
            .locales
            .fallback
            .get(last)
            .is_some_and(|next| chain.contains(next))
        {
            findings.push(
                Finding::error(format!(
                    "the fallback chain of `{from}` loops: {} → {from}",
                    chain.join(" → ")
                ))
                .in_file(crate::config::FILE_NAME)
                .field(format!("locales.fallback.{from}")),
            );
        }
    }

    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for campaign in &project.campaigns {
        if !valid_id(&campaign.id) {
            findings.push(
                Finding::error(format!(
                    "`{}` is not a valid id: use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit",
                    campaign.id
                ))
                .at(&campaign.id_origin)
                .field("id"),
            );
        }
        if let Some(first) = seen.insert(&campaign.id, &campaign.file) {
            findings.push(
                Finding::error(format!(
                    "id `{}` is already used by {first}; ids must be unique",
                    campaign.id
                ))
                .at(&campaign.id_origin)
                .field("id"),
            );
            seen.insert(&campaign.id, first);
        }
        if let (Some(before), Some(after)) = (campaign.not_before, campaign.not_after)
            && after <= before
        {
            findings.push(
                Finding::error(format!("must be later than not_before ({before})"))
                    .at(&campaign.not_after_origin)
                    .field("not_after"),
            );
        }
        let mut names = BTreeSet::new();
        for locale in &campaign.locales {
            if locale.name.trim().is_empty() || locale.name.contains(['/', ' ']) {
                findings.push(
                    Finding::error(format!(
                        "`{}` is not a locale name (e.g. en, zh-CN)",
                        locale.name
                    ))
                    .in_file(campaign.file.to_string())
                    .field("locales"),
                );
            }
            names.insert(locale.name.as_str());
        }
    }

    findings.extend(check_plurals(project));
    findings
}

/// How the finding about a campaign declaring the pseudo-locale starts: `render --locale en-XA`
/// declares it itself (in its own copy of the project) and drops exactly these findings.
pub(crate) const PSEUDO_DECLARED: &str = "`en-XA` is the pseudo-locale,";

/// Plural entries (a string of `t` written as CLDR forms) must have every form their locale
/// uses, `other` always: Russian needs `one few many other`, Japanese only `other`. A catalog's
/// entries are checked against the catalog's locale, a campaign's `strings` against the locale
/// they are written under. The pseudo-locale is derived, never declared.
pub(crate) fn check_plurals(project: &Project) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (locale, catalog) in &project.catalogs {
        plural_forms(locale, catalog, "t", &mut findings);
    }
    for campaign in &project.campaigns {
        for locale in &campaign.locales {
            if locale.name == crate::l10n::pseudo::LOCALE {
                findings.push(
                    Finding::error(format!(
                        "{PSEUDO_DECLARED} derived from the default locale for `render --locale {}` only; it is never planned or sent, so a campaign cannot declare it",
                        locale.name
                    ))
                    .in_file(campaign.file.to_string())
                    .field(format!("locales.{}", locale.name)),
                );
            }
            if let Some(strings) = &locale.strings {
                let field = format!("locales.{}.strings", locale.name);
                plural_forms(&locale.name, strings, &field, &mut findings);
            }
        }
    }
    findings
}

fn plural_forms(locale: &str, node: &Node, path: &str, findings: &mut Vec<Finding>) {
    use crate::l10n::plural;
    let Some(entries) = node.as_map() else {
        return;
    };
    for entry in entries {
        let field = format!("{path}.{}", entry.key);
        if plural::is_plural(&entry.value) {
            let missing = plural::missing(locale, &entry.value);
            if !missing.is_empty() {
                let quoted: Vec<String> = missing.iter().map(|c| format!("`{c}`")).collect();
                findings.push(
                    Finding::error(format!(
                        "plural forms for `{locale}` lack {}: `{locale}` needs {}",
                        quoted.join(", "),
                        plural::categories(locale).join(", ")
                    ))
                    .at(&Origin {
                        file: entry.value.origin.file.clone(),
                        line: entry.key_line,
                    })
                    .field(field),
                );
            }
        } else {
            plural_forms(locale, &entry.value, &field, findings);
        }
    }
}

/// The body rules of one unit, located in the files through the unit's rendered tree.
pub(crate) fn check_unit(unit: &Unit, body: &PushBody) -> Vec<Finding> {
    check_body(body)
        .into_iter()
        .map(|issue| {
            let origin = unit.tree.locate(&issue.path);
            let field = format!("push.{}", issue.path);
            let mut message = issue.message;
            if let Some((_, sources)) = unit.strings_used.iter().find(|(path, _)| *path == field) {
                let sources: Vec<String> = sources.iter().map(ToString::to_string).collect();
                message.push_str(&format!(" (text from {})", sources.join(", ")));
            }
            let finding = Finding {
                severity: issue.severity,
                ..Finding::error(message)
            };
            finding.at(&origin).field(field).unit(unit.key.clone())
        })
        .collect()
}

/// Warns where two locales of one campaign could reach the same user: that user would get two pushes.
pub(crate) fn overlapping_audiences(units: &[Unit], findings: &mut Vec<Finding>) {
    // By file too: two files that reuse one id are an id error (reported by `check_project`),
    // not two locales of one campaign; and a locale is never compared with itself.
    let mut by_campaign: BTreeMap<(&str, &str), Vec<&Unit>> = BTreeMap::new();
    for unit in units.iter().filter(|u| u.locale.is_some()) {
        by_campaign
            .entry((&unit.campaign, &unit.file))
            .or_default()
            .push(unit);
    }
    for group in by_campaign.values() {
        for (i, a) in group.iter().enumerate() {
            for b in group[i + 1..].iter().filter(|b| b.locale != a.locale) {
                let (Some(x), Some(y)) = (a.audience.as_ref(), b.audience.as_ref()) else {
                    continue;
                };
                let reason = if x.is_to_all == Some(true) || y.is_to_all == Some(true) {
                    Some("one of them pushes to all users".to_owned())
                } else if targeting(x) == targeting(y) {
                    Some("their audiences are identical".to_owned())
                } else {
                    let ux: BTreeSet<&String> = x.userid.iter().flatten().collect();
                    let common = y.userid.iter().flatten().filter(|u| ux.contains(u)).count();
                    (common > 0).then(|| format!("{common} user ID(s) are in both"))
                };
                if let Some(reason) = reason {
                    let origin = b.audience_origin.clone();
                    findings.push(
                        Finding::warning(format!(
                            "locales `{}` and `{}` of campaign `{}` overlap ({reason}): a user in both gets two pushes",
                            a.locale.as_deref().unwrap_or_default(),
                            b.locale.as_deref().unwrap_or_default(),
                            a.campaign
                        ))
                        .at(&origin)
                        .field("push.audience")
                        .unit(b.key.clone()),
                    );
                }
            }
        }
    }
}

type Targeting<'a> = (
    Option<&'a Vec<String>>,
    Option<&'a Vec<String>>,
    Option<&'a Vec<String>>,
    Option<&'a String>,
);

fn targeting(a: &Audience) -> Targeting<'_> {
    (
        a.tag.as_ref(),
        a.tag_or.as_ref(),
        a.userid.as_ref(),
        a.package_name.as_ref(),
    )
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
