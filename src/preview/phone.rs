//! What each platform shows of a push: the fields that win there, and the clamp it applies.
//!
//! The provider's body has shared fields (`notification.title`, `notification.alert`) and
//! per-platform ones that override them on their platform only: `ios.title` and `ios.alert` on
//! iOS, `android.alert` on Android, `harmonyOS.alert` on HarmonyOS. A reviewer who reads the
//! shared alert may approve a text that no iPhone shows, so each view is built from the fields
//! that win on its platform, and says which ones they were.
//!
//! The clamps are pushform's choice, deliberately on the short side of what current phones show
//! (fonts, sizes and settings vary): see [`VIEWS`]. A preview that shows a text in full promises
//! it fits; one that marks a cut says where a phone may cut it.

use crate::body::PushBody;

use super::text::{Clamped, Units};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Platform {
    Ios,
    Android,
    Harmony,
}

impl Platform {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Platform::Ios => "iOS",
            Platform::Android => "Android",
            Platform::Harmony => "HarmonyOS",
        }
    }
}

/// One way a platform shows a notification, and how much of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ViewSpec {
    pub platform: Platform,
    pub name: &'static str,
    /// CSS class of the card.
    pub class: &'static str,
    /// Width of the text box, in twentieths of an em (the page uses the same value in `em`).
    pub width: Units,
    pub title_lines: usize,
    pub body_lines: usize,
}

/// The views and their clamps. Every text box is 17 em wide (about 240 px at the page's 14 px,
/// a little narrower than a phone's notification text); titles get one line everywhere.
pub(crate) const VIEWS: [ViewSpec; 5] = [
    ViewSpec {
        platform: Platform::Ios,
        name: "Lock screen",
        class: "ios lock",
        width: 340,
        title_lines: 1,
        body_lines: 4,
    },
    ViewSpec {
        platform: Platform::Ios,
        name: "Banner",
        class: "ios banner",
        width: 340,
        title_lines: 1,
        body_lines: 2,
    },
    ViewSpec {
        platform: Platform::Android,
        name: "Shade, collapsed",
        class: "android collapsed",
        width: 340,
        title_lines: 1,
        body_lines: 1,
    },
    ViewSpec {
        platform: Platform::Android,
        name: "Shade, expanded",
        class: "android expanded",
        width: 340,
        title_lines: 1,
        body_lines: 8,
    },
    ViewSpec {
        platform: Platform::Harmony,
        name: "Notification centre",
        class: "harmony",
        width: 340,
        title_lines: 1,
        body_lines: 2,
    },
];

/// An image the platform would show; the preview draws a placeholder and never loads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Image {
    /// The field it comes from, e.g. `ios.richMediaUri`.
    pub field: &'static str,
    pub url: String,
}

/// A notification as one view of one platform shows it.
#[derive(Clone, Debug)]
pub(crate) struct View {
    pub spec: ViewSpec,
    pub title: Clamped,
    pub body: Clamped,
    /// The fields the title and body come from, e.g. `ios.alert`.
    pub title_field: Option<&'static str>,
    pub body_field: Option<&'static str>,
    pub badge: Option<i64>,
    pub image: Option<Image>,
    /// Short facts shown under the card: thread, interruption level, importance, category.
    pub facts: Vec<String>,
}

/// The first present, non-empty field of `candidates`, with its name.
fn first(candidates: &[(&'static str, Option<&String>)]) -> (Option<&'static str>, String) {
    candidates
        .iter()
        .find_map(|(name, v)| {
            v.filter(|s| !s.is_empty())
                .map(|s| (Some(*name), s.clone()))
        })
        .unwrap_or((None, String::new()))
}

/// The platforms a body reaches: those in `platform`, or all when `audience.userid` is set
/// (the provider then ignores `platform`). HarmonyOS goes with Android.
pub(crate) fn targets(body: &PushBody) -> Vec<Platform> {
    let by_user = body
        .audience
        .as_ref()
        .and_then(|a| a.userid.as_ref())
        .is_some_and(|u| !u.is_empty());
    let listed = |p: &str| {
        body.platform
            .as_ref()
            .is_some_and(|list| list.iter().any(|x| x.eq_ignore_ascii_case(p)))
    };
    let mut out = Vec::new();
    if by_user || listed("ios") {
        out.push(Platform::Ios);
    }
    if by_user || listed("android") {
        out.push(Platform::Android);
        out.push(Platform::Harmony);
    }
    out
}

/// Every view of the platforms `body` reaches, in `VIEWS` order.
pub(crate) fn views(body: &PushBody) -> Vec<View> {
    let targets = targets(body);
    VIEWS
        .iter()
        .filter(|spec| targets.contains(&spec.platform))
        .map(|spec| view(body, *spec))
        .collect()
}

pub(crate) fn view(body: &PushBody, spec: ViewSpec) -> View {
    let n = body.notification.clone().unwrap_or_default();
    let ios = n.ios.clone().unwrap_or_default();
    let android = n.android.clone().unwrap_or_default();
    let harmony = n.harmony_os.clone().unwrap_or_default();
    let mut facts = Vec::new();
    let mut badge = None;
    let mut image = None;
    let ((title_field, title), (body_field, text)) = match spec.platform {
        Platform::Ios => {
            badge = ios.badge;
            if let Some(url) = &ios.rich_media_uri {
                image = Some(Image {
                    field: "ios.richMediaUri",
                    url: url.clone(),
                });
            }
            if let Some(t) = &ios.thread_id {
                facts.push(format!("grouped in thread “{t}”"));
            }
            if let Some(c) = &ios.apns_collapse_id {
                facts.push(format!("replaces earlier pushes with collapse id “{c}”"));
            }
            if let Some(level) = &ios.interruption_level {
                facts.push(format!("interruption level {level}"));
            }
            if let Some(c) = &ios.category {
                facts.push(format!("category {c}"));
            }
            if ios.content_available == Some(1) {
                facts.push("content-available: wakes the app in the background".to_owned());
            }
            (
                first(&[
                    ("ios.title", ios.title.as_ref()),
                    ("notification.title", n.title.as_ref()),
                ]),
                first(&[
                    ("ios.alert", ios.alert.as_ref()),
                    ("notification.alert", n.alert.as_ref()),
                ]),
            )
        }
        Platform::Android => {
            let vendors = [
                (
                    "android.hw.image",
                    android.hw.as_ref().and_then(|v| v.image.clone()),
                ),
                (
                    "android.honor.image",
                    android.honor.as_ref().and_then(|v| v.image.clone()),
                ),
                (
                    "android.mi.large_icon_uri",
                    android.mi.as_ref().and_then(|v| v.large_icon_uri.clone()),
                ),
                (
                    "android.fcm.imageUrl",
                    android.fcm.as_ref().and_then(|v| v.image_url.clone()),
                ),
            ];
            image = vendors
                .into_iter()
                .find_map(|(field, url)| url.map(|url| Image { field, url }));
            if let Some(i) = android.hw.as_ref().and_then(|v| v.importance.as_ref()) {
                facts.push(format!("Huawei importance {i}"));
            }
            if let Some(i) = android.honor.as_ref().and_then(|v| v.importance.as_ref()) {
                facts.push(format!("Honor importance {i}"));
                if i == "LOW" && image.is_some() {
                    facts.push("Honor shows no image for LOW messages".to_owned());
                }
            }
            if let Some(o) = &android.oppo {
                if let Some(c) = &o.category {
                    facts.push(format!("OPPO category {c}"));
                }
                if let Some(level) = o.notify_level {
                    facts.push(format!("OPPO notify level {level}"));
                }
            }
            if let Some(c) = android
                .vivo
                .as_ref()
                .and_then(|v| v.classification.as_ref())
            {
                let kind = if c == "1" { "system" } else { "operational" };
                facts.push(format!("vivo classification {c} ({kind})"));
            }
            (
                first(&[("notification.title", n.title.as_ref())]),
                first(&[
                    ("android.alert", android.alert.as_ref()),
                    ("notification.alert", n.alert.as_ref()),
                ]),
            )
        }
        Platform::Harmony => {
            let ohos = harmony.ohos.clone().unwrap_or_default();
            if let Some(url) = &ohos.image {
                image = Some(Image {
                    field: "harmonyOS.ohos.image",
                    url: url.clone(),
                });
            }
            if let Some(c) = &ohos.category {
                facts.push(format!("category {c}"));
            }
            (
                first(&[("notification.title", n.title.as_ref())]),
                first(&[
                    ("harmonyOS.alert", harmony.alert.as_ref()),
                    ("notification.alert", n.alert.as_ref()),
                ]),
            )
        }
    };
    if n.force_show_push_content == Some(1) {
        facts.push("shown even where the user hides previews (forceShowPushContent)".to_owned());
    }
    View {
        spec,
        title: Clamped::new(&title, spec.width, spec.title_lines, true),
        body: Clamped::new(&text, spec.width, spec.body_lines, false),
        title_field,
        body_field,
        badge,
        image,
        facts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> PushBody {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn platform_fields_win_on_their_platform_only() {
        let b = body(serde_json::json!({
            "platform": ["ios", "android"],
            "notification": {
                "title": "Shared title", "alert": "Shared alert",
                "ios": {"title": "iOS title", "alert": "iOS alert", "badge": 3, "thread-id": "promo"},
                "android": {"alert": "Android alert"},
            }
        }));
        let views = views(&b);
        assert_eq!(views.len(), 5);
        let ios = &views[0];
        assert_eq!(ios.title.lines, ["iOS title"]);
        assert_eq!(ios.body.lines, ["iOS alert"]);
        assert_eq!(
            (ios.title_field, ios.body_field),
            (Some("ios.title"), Some("ios.alert"))
        );
        assert_eq!(ios.badge, Some(3));
        assert!(ios.facts.iter().any(|f| f.contains("promo")));
        let android = &views[2];
        assert_eq!(android.title.lines, ["Shared title"]);
        assert_eq!(android.body.lines, ["Android alert"]);
        assert_eq!(android.badge, None);
        let harmony = &views[4];
        assert_eq!(harmony.body.lines, ["Shared alert"]);
        assert_eq!(harmony.body_field, Some("notification.alert"));
    }

    #[test]
    fn only_targeted_platforms_are_shown_unless_sent_to_user_ids() {
        let ios_only =
            body(serde_json::json!({"platform": ["ios"], "notification": {"alert": "x"}}));
        assert_eq!(targets(&ios_only), [Platform::Ios]);
        assert_eq!(views(&ios_only).len(), 2);
        let by_user = body(serde_json::json!({
            "platform": ["ios"], "audience": {"userid": ["u1"], "is_to_all": false},
            "notification": {"alert": "x"}
        }));
        assert_eq!(targets(&by_user).len(), 3);
    }

    #[test]
    fn images_are_taken_from_the_platform_fields() {
        let b = body(serde_json::json!({
            "platform": ["ios", "android"],
            "notification": {"alert": "x",
                "ios": {"richMediaUri": "https://example.com/a.png", "category": "img"},
                "android": {"honor": {"image": "https://example.com/b.png", "importance": "LOW"}},
                "harmonyOS": {"ohos": {"image": "https://example.com/c.png"}}}
        }));
        let v = views(&b);
        assert_eq!(v[0].image.as_ref().unwrap().field, "ios.richMediaUri");
        assert_eq!(
            v[2].image.as_ref().unwrap().url,
            "https://example.com/b.png"
        );
        assert!(v[2].facts.iter().any(|f| f.contains("no image for LOW")));
        assert_eq!(v[4].image.as_ref().unwrap().field, "harmonyOS.ohos.image");
    }

    #[test]
    fn a_long_alert_is_cut_by_the_collapsed_shade_and_not_by_the_lock_screen() {
        let b = body(serde_json::json!({
            "platform": ["ios", "android"],
            "notification": {"title": "t", "alert": "Grading is open. Please submit final grades by December 20."}
        }));
        let v = views(&b);
        assert!(!v[0].body.is_cut(), "{:?}", v[0].body);
        assert!(v[2].body.is_cut(), "{:?}", v[2].body);
        assert!(!v[3].body.is_cut());
    }
}
