//! The preview's tests: the site's pages, built from crafted plans and bodies.

use super::*;
use crate::plan::FORMAT_VERSION;
use crate::quota::Reason;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn quota() -> Quota {
    Quota {
        per_hour: 2,
        per_day: 3,
        tz: chrono_tz::Asia::Shanghai,
    }
}

fn body(title: &str, alert: &str) -> PushBody {
    serde_json::from_value(serde_json::json!({
            "platform": ["ios", "android"],
            "audience": {"packageName": "com.example.app", "is_to_all": false},
            "notification": {"title": title, "alert": alert,
                             "ios": {"richMediaUri": "https://cdn.example.com/a.png", "category": "img"}}
        }))
        .unwrap()
}

/// A planned unit built from its JSON form, as a saved plan holds it (fields a newer plan
/// adds take their defaults).
fn planned(key: &str, action: Action, at: Option<&str>, reason: Option<Reason>) -> PlannedUnit {
    let (campaign, locale) = key
        .split_once('/')
        .map_or((key, None), |(c, l)| (c, Some(l)));
    serde_json::from_value(serde_json::json!({
        "key": key, "campaign": campaign, "locale": locale,
        "file": format!("campaigns/{campaign}.yaml"), "action": action,
        "scheduled_at": at, "reason": reason,
        "digest": null, "body": null, "diff": null, "note": null,
    }))
    .unwrap()
}

/// A plan from its JSON form, as `plan --out` saves it (newer fields take defaults).
fn plan(actions: Vec<PlannedUnit>) -> Plan {
    serde_json::from_value(serde_json::json!({
        "format_version": FORMAT_VERSION, "now": "2026-11-26T07:00:00Z", "lock": null,
        "quota": {"per_hour": 2, "per_day": 3, "timezone": "Asia/Shanghai"},
        "actions": serde_json::to_value(actions).unwrap(),
    }))
    .unwrap()
}

fn unit<'a>(key: &'a str, body: &'a PushBody) -> UnitInput<'a> {
    let (campaign, locale) = key
        .split_once('/')
        .map_or((key, None), |(c, l)| (c, Some(l)));
    UnitInput {
        key,
        campaign,
        locale,
        file: "campaigns/x.yaml",
        body,
        sent: None,
    }
}

fn page<'p>(pages: &'p [Page], path: &str) -> &'p str {
    &pages
        .iter()
        .find(|p| p.path == path)
        .unwrap_or_else(|| panic!("no page {path}"))
        .text
}

/// Every `src=`, `href=` and `url(` target of a page or stylesheet.
fn references(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for opener in ["src=\"", "href=\"", "url("] {
        for (at, _) in text.match_indices(opener) {
            let rest = &text[at + opener.len()..];
            let end = rest.find(['"', ')']).unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
        }
    }
    out
}

/// The site of a plan with one unit, `key`, to send now with `body`, and no history.
fn one_send_site(key: &str, body: &PushBody) -> Vec<Page> {
    let p = plan(vec![planned(
        key,
        Action::Send,
        Some("2026-11-26T07:00:00Z"),
        None,
    )]);
    site(&Input {
        plan: &p,
        quota: &quota(),
        units: vec![unit(key, body)],
        history: Vec::new(),
    })
}

#[test]
fn campaign_text_is_escaped_and_no_page_references_the_network() {
    let hostile = body(
        "<script>alert(1)</script>",
        "\"><img src=\"https://evil.example/x.png\"> & <a href=//evil.example>",
    );
    let pages = one_send_site("evil/en\"x", &hostile);
    for page in &pages {
        let lower = page.text.to_lowercase();
        assert!(!lower.contains("<script"), "{}", page.path);
        assert!(!lower.contains("<img"), "{}", page.path);
        assert!(!lower.contains("<a href=//"), "{}", page.path);
        for target in references(&page.text) {
            assert!(
                !target.contains(':') && !target.starts_with("//"),
                "{} references {target}",
                page.path
            );
        }
    }
    let unit_page = page(&pages, "units/evil.html");
    assert!(unit_page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(unit_page.contains("lang=\"en&quot;x\""), "{unit_page}");
    // The rich media image is a placeholder naming its URL, never loaded.
    assert!(
        unit_page
            .contains("image from ios.richMediaUri (not loaded): https://cdn.example.com/a.png")
    );
}

#[test]
fn texts_the_platform_cuts_are_marked_and_clamped_the_others_are_not() {
    let long = body(
        "Winter sale",
        "Thirty percent off everything in the store for three days only, starting Monday morning.",
    );
    let pages = one_send_site("sale", &long);
    let html = page(&pages, "units/sale.html");
    let cards: Vec<&str> = html.split("<figure class=\"card ").skip(1).collect();
    assert_eq!(cards.len(), 5, "iOS ×2, Android ×2, HarmonyOS");
    let card = |class: &str| *cards.iter().find(|c| c.starts_with(class)).unwrap();
    // The Android shade, collapsed, shows one line of the body: cut, clamped, marked.
    let collapsed = card("android collapsed");
    assert!(collapsed.contains("class=\"text body cut\""), "{collapsed}");
    assert!(collapsed.contains("-webkit-line-clamp:1;line-clamp:1"));
    assert!(collapsed.contains("✂ body cut after 1 line: 2 more lines"));
    // The lock screen shows four lines: the same body is whole there, and not marked.
    let lock = card("ios lock");
    assert!(lock.contains("class=\"text body\""), "{lock}");
    assert!(lock.contains("line-clamp:4"));
    assert!(!lock.contains("✂"));
    // Titles get one line everywhere; this one fits.
    assert!(!html.contains("text title cut"));
    assert!(lock.contains("title from notification.title"));
}

#[test]
fn changed_units_show_the_sent_body_beside_the_new_one() {
    let new = body("Sale", "Now 40% off");
    let mut u = unit("sale/en", &new);
    u.sent = Some(body("Sale", "Now 30% off"));
    let p = plan(vec![planned("sale/en", Action::Changed, None, None)]);
    let pages = site(&Input {
        plan: &p,
        quota: &quota(),
        units: vec![u],
        history: Vec::new(),
    });
    let html = page(&pages, "units/sale.html");
    let sent = html
        .find("en: as sent")
        .expect("a column for the sent body");
    let new_col = html.find("en: new").expect("a column for the new body");
    assert!(sent < new_col);
    assert!(html.contains("repeat(2, var(--card))"));
    assert!(html.contains(">Now 30% off<") && html.contains(">Now 40% off<"));
    assert!(html.contains("edited after sending"));
    let index = page(&pages, "index.html");
    assert!(index.contains("<h2>Not sent</h2>"));
    assert!(index.contains("changed after sending: apply is blocked"));
}

#[test]
fn the_timeline_has_a_row_per_day_with_slots_reasons_and_quota_windows() {
    let b = body("t", "a");
    let p = plan(vec![
        planned("a", Action::Send, Some("2026-11-26T07:00:00Z"), None),
        planned(
            "b",
            Action::Scheduled,
            Some("2026-11-26T08:00:00Z"),
            Some(Reason::HourQuota),
        ),
        planned(
            "c",
            Action::Scheduled,
            Some("2026-11-26T16:00:00Z"),
            Some(Reason::DayQuota),
        ),
    ]);
    let pages = site(&Input {
        plan: &p,
        quota: &quota(),
        units: vec![unit("a", &b), unit("b", &b), unit("c", &b)],
        history: vec![Past {
            key: "old".into(),
            at: t("2026-11-26T02:00:00Z"),
            status: "sent".into(),
        }],
    });
    let index = page(&pages, "index.html");
    // Shanghai time: the recorded send at 10:00, a now (15:00), b at 16:00; c the next day.
    let today = index.split("id=\"day-2026-11-26\"").nth(1).unwrap();
    let today = &today[..today.find("</section>").unwrap()];
    assert!(today.contains("3 of 3 sends of the day"), "{today}");
    assert!(today.contains("<time>10:00:00</time><span class=\"sym past\""));
    assert!(today.contains("hour quota: 2 sends in any 60 minutes"));
    // 16:00 is 66.66% of the day; its quota window starts an hour earlier.
    assert!(today.contains("class=\"mark scheduled\" style=\"left:66.66%\""));
    assert!(today.contains("class=\"band hour-window\" style=\"left:62.50%;width:4.16%\""));
    let tomorrow = index.split("id=\"day-2026-11-27\"").nth(1).unwrap();
    assert!(tomorrow.contains("day quota: 3 sends a day in Asia/Shanghai"));
    assert!(tomorrow.contains("1 of 3 sends of the day"));
    assert!(index.contains("href=\"units/c.html#u-c\""));
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let b = body("冬季大促", "全场7折，仅限三天！");
    let p = plan(vec![planned(
        "s/zh-CN",
        Action::Send,
        Some("2026-11-26T07:00:00Z"),
        None,
    )]);
    let build = || {
        site(&Input {
            plan: &p,
            quota: &quota(),
            units: vec![unit("s/zh-CN", &b)],
            history: Vec::new(),
        })
    };
    assert_eq!(build(), build());
    let pages = build();
    assert_eq!(
        pages.iter().map(|p| p.path.as_str()).collect::<Vec<_>>(),
        ["style.css", "index.html", "units/s.html"]
    );
    assert!(page(&pages, "units/s.html").contains("lang=\"zh-CN\""));
}

#[test]
fn priority_and_send_window_are_shown_when_the_plan_carries_them() {
    let json = serde_json::json!({"priority": "high", "send_window": "09:00–21:00 Asia/Shanghai"});
    assert_eq!(
        facts_of(&json).as_deref(),
        Some("priority high · send window 09:00–21:00 Asia/Shanghai")
    );
    assert_eq!(facts_of(&serde_json::json!({"priority": "normal"})), None);
    assert_eq!(facts_of(&serde_json::json!({})), None);
}

#[test]
fn page_names_cannot_leave_the_units_folder() {
    assert_eq!(page_name("winter-sale-2026"), "winter-sale-2026.html");
    assert_eq!(page_name("../x"), "~2e.~2fx.html");
    assert!(!page_name("a/b").contains('/'));
}
