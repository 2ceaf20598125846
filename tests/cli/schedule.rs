//! Scheduling users can live with (plan only, clock pinned, history made with `state import`):
//! send windows, priority, the rename / re-send guard and its two acknowledgements. The same
//! guard against the emulator, where it must keep a push from going out, is in
//! `apply/rename.rs`.

use crate::support::{Repo, action, campaign};

/// 20:00 in Asia/Shanghai, an hour before the sample window closes.
const EVENING: &str = "2026-11-26T20:00:00+08:00";

fn import(repo: &Repo, key: &str, at: &str) {
    if !repo.path().join("pushform.lock").exists() {
        repo.init_state();
    }
    repo.run(&["state", "import", key, "--sent-at", at])
        .success();
}

#[track_caller]
fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "lacks {needle:?} in\n{text}");
}

fn three(config: &str) -> Repo {
    let repo = Repo::new();
    repo.file("pushform.yaml", config);
    for id in ["a", "b", "c"] {
        repo.file(
            &format!("campaigns/{id}.yaml"),
            &campaign(id, &format!("{{alert: \"hello from {id}\"}}")),
        );
    }
    repo
}

#[test]
fn a_queue_that_would_land_at_21_00_waits_for_09_00_the_next_day() {
    let repo = three("quota: {per_hour: 2, per_day: 3, timezone: Asia/Shanghai}\n");
    import(&repo, "a", "2026-11-26T20:00:00+08:00");
    import(&repo, "b", "2026-11-26T20:00:00+08:00");
    // Without a window: the hour quota puts c at 21:00.
    let plan = repo.run(&["--now", EVENING, "plan", "--format", "json"]);
    plan.success();
    let c = plan.json();
    assert_eq!(action(&c, "c")["scheduled_at"], "2026-11-26T13:00:00Z");
    assert_eq!(action(&c, "c")["reason"], "hour_quota");

    repo.file(
        "pushform.yaml",
        "quota: {per_hour: 2, per_day: 3, timezone: Asia/Shanghai}\n\
         schedule:\n  window: {from: \"09:00\", to: \"21:00\", timezone: Asia/Shanghai}\n",
    );
    let plan = repo.run(&["--now", EVENING, "plan", "--format", "json"]);
    plan.success();
    let plan = plan.json();
    let c = action(&plan, "c");
    assert_eq!(c["action"], "scheduled");
    assert_eq!(c["scheduled_at"], "2026-11-27T01:00:00Z");
    assert_eq!(c["reason"], "send_window");
    assert_eq!(c["send_window"], "09:00–21:00 Asia/Shanghai");
    let human = repo.run(&["--now", EVENING, "plan"]);
    has(
        &human.stdout,
        "~ c  at 2026-11-27 09:00:00 +08:00 (send window 09:00–21:00 Asia/Shanghai)",
    );
}

#[test]
fn a_locale_keeps_its_own_window_in_its_own_zone() {
    let repo = Repo::new();
    repo.file(
        "pushform.yaml",
        "schedule:\n  window: {from: \"09:00\", to: \"21:00\", timezone: Asia/Shanghai}\n",
    );
    repo.file(
        "campaigns/news.yaml",
        "id: news\nlocales:\n  zh-CN: {audience: {tag: [zh]}}\n  en:\n    audience: {tag: [en]}\n    \
         send_window: {from: \"08:00\", to: \"20:00\", timezone: America/New_York}\n\
         push:\n  platform: [ios]\n  audience: {is_to_all: false}\n  notification: {alert: \"news {{ locale }}\"}\n",
    );
    // 10:00 in Shanghai is 21:00 the day before in New York: zh-CN goes now, en at 08:00 EST.
    let plan = repo.run(&[
        "--now",
        "2026-11-26T10:00:00+08:00",
        "plan",
        "--format",
        "json",
    ]);
    plan.success();
    let plan = plan.json();
    assert_eq!(action(&plan, "news/zh-CN")["action"], "send");
    let en = action(&plan, "news/en");
    assert_eq!(en["scheduled_at"], "2026-11-26T13:00:00Z");
    assert_eq!(en["reason"], "send_window");
    assert_eq!(en["send_window"], "08:00–20:00 America/New_York");
}

#[test]
fn bad_windows_are_validation_errors_naming_file_line_and_field() {
    let repo = Repo::new();
    repo.file(
        "pushform.yaml",
        "quota: {per_hour: 2}\nschedule:\n  window:\n    from: \"9 o'clock\"\n    to: \"21:00\"\n    timezone: Asia/Shanghia\n",
    );
    repo.file(
        "campaigns/a.yaml",
        "id: a\npriority: high\nsend_window: {from: \"25:00\", to: \"08:00\"}\nlocales:\n  en:\n    \
         send_window: {from: \"08:00\", to: \"08:00\"}\npush:\n  platform: [ios]\n  \
         audience: {is_to_all: false, tag: [en]}\n  notification: {alert: hi}\n",
    );
    let run = repo.run(&["validate"]);
    run.code(1);
    let lines = run.finding_lines();
    for expected in [
        "error: campaigns/a.yaml:3: send_window.from: `25:00` is not a time of day",
        "error: campaigns/a.yaml:6: locales.en.send_window.to: `from` and `to` are both 08:00",
        "error: pushform.yaml:4: schedule.window.from: `9 o'clock` is not a time of day",
        "error: pushform.yaml:6: schedule.window.timezone: `Asia/Shanghia` is not an IANA time zone",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "no {expected:?} in {lines:#?}"
        );
    }
    repo.file(
        "campaigns/a.yaml",
        "id: a\npriority: urgent\npush: {platform: [ios], audience: {is_to_all: true}, notification: {alert: hi}}\n",
    );
    let run = repo.run(&["validate"]);
    run.code(1);
    assert!(
        run.finding_lines()
            .iter()
            .any(|l| l.starts_with("error: campaigns/a.yaml:2: unknown variant `urgent`")),
        "{:#?}",
        run.finding_lines()
    );
}

#[test]
fn a_high_priority_campaign_goes_first_and_the_plan_says_who_waits_behind_it() {
    let repo = three("quota: {per_hour: 2, per_day: 3, timezone: Asia/Shanghai}\n");
    repo.file(
        "campaigns/c.yaml",
        &format!(
            "priority: high\n{}",
            campaign("c", "{alert: \"outage tonight\"}")
        ),
    );
    let now = "2026-11-26T15:00:00+08:00";
    let plan = repo.run(&["--now", now, "plan", "--format", "json"]);
    plan.success();
    let plan = plan.json();
    // File order alone would send a and b now; c is high, so it takes a slot first.
    assert_eq!(action(&plan, "c")["action"], "send");
    assert_eq!(action(&plan, "c")["priority"], "high");
    assert_eq!(action(&plan, "a")["action"], "send");
    assert_eq!(action(&plan, "a")["priority"], "normal");
    let b = action(&plan, "b");
    assert_eq!(b["action"], "scheduled");
    assert_eq!(b["waits_behind"], "c");
    let human = repo.run(&["--now", now, "plan"]);
    has(&human.stdout, "priority high");
    has(
        &human.stdout,
        "waits behind higher-priority `c`, which takes a slot first",
    );
    let md = repo.run(&["--now", now, "plan", "--format", "markdown"]);
    has(&md.stdout, "- `b`: waits behind higher-priority `c`");
}

/// The rename case of the issue, with imported history: the renamed campaign is an error
/// naming the old key until `moved_from` (up to date) or `resend_of` (sent again) says why.
#[test]
fn a_renamed_campaign_is_a_duplicate_until_moved_from_or_resend_of() {
    let repo = Repo::new();
    let body = "{title: Spring sale, alert: \"30% off everything\"}";
    repo.file("campaigns/spring.yaml", &campaign("spring-sale", body));
    import(&repo, "spring-sale", "2026-11-20T10:00:00+08:00");
    let now = "2026-11-26T15:00:00+08:00";
    repo.run(&["--now", now, "plan"]).success();

    repo.file("campaigns/spring.yaml", &campaign("spring-sale-2027", body));
    let run = repo.run(&["--now", now, "plan"]);
    run.code(1);
    has(
        &run.stdout,
        "! spring-sale-2027  duplicate of `spring-sale`: will not be sent",
    );
    has(&run.stdout, "add `moved_from: [spring-sale]`");
    has(&run.stdout, "1 error.");
    let json = repo.run(&["--now", now, "plan", "--format", "json"]);
    let plan = json.json();
    let unit = action(&plan, "spring-sale-2027");
    assert_eq!(unit["action"], "duplicate");
    assert_eq!(unit["duplicate_of"], "spring-sale");
    let md = repo.run(&["--now", now, "plan", "--format", "markdown"]);
    has(
        &md.stdout,
        "| `!` | `spring-sale-2027` | duplicate of `spring-sale`",
    );

    // A rename: the new id takes over the old key's history; the old key is not `gone`.
    repo.file(
        "campaigns/spring.yaml",
        &format!(
            "moved_from: [spring-sale]\n{}",
            campaign("spring-sale-2027", body)
        ),
    );
    let run = repo.run(&["--now", now, "plan", "--all", "--detailed-exitcode"]);
    run.code(0);
    has(&run.stdout, "spring-sale-2027  up to date");
    has(
        &run.stdout,
        "moved from `spring-sale`: takes over the history of `spring-sale`",
    );
    assert!(!run.stdout.contains("gone"), "{}", run.stdout);
    has(&run.stdout, "No changes. Everything is sent.");
    let plan = repo.run(&["--now", now, "plan", "--format", "json"]).json();
    assert_eq!(
        action(&plan, "spring-sale-2027")["history_of"],
        "spring-sale"
    );
    assert_eq!(
        action(&plan, "spring-sale-2027")["moved_from"][0],
        "spring-sale"
    );
    let md = repo.run(&["--now", now, "plan", "--format", "markdown"]);
    has(
        &md.stdout,
        "- `spring-sale-2027`: up to date; moved from `spring-sale`: takes over the history of `spring-sale`",
    );
    // Taken over, an edit is `changed` against the old key's body.
    repo.file(
        "campaigns/spring.yaml",
        &format!(
            "moved_from: [spring-sale]\n{}",
            campaign(
                "spring-sale-2027",
                "{title: Spring sale, alert: \"40% off\"}"
            )
        ),
    );
    let run = repo.run(&["--now", now, "plan"]);
    run.code(1);
    has(&run.stdout, "! spring-sale-2027  changed after sending");
    has(&run.stdout, "pushform state accept spring-sale");

    // A deliberate second send.
    repo.file(
        "campaigns/spring.yaml",
        &format!(
            "resend_of: spring-sale\n{}",
            campaign("spring-sale-2027", body)
        ),
    );
    let run = repo.run(&["--now", now, "plan", "--detailed-exitcode"]);
    run.code(2);
    has(&run.stdout, "+ spring-sale-2027  send now");
    has(
        &run.stdout,
        "resend of `spring-sale`: sending the same push again is intended",
    );
    let md = repo.run(&["--now", now, "plan", "--format", "markdown"]);
    has(
        &md.stdout,
        "- `spring-sale-2027`: resend of `spring-sale`: sending the same push again is intended",
    );
    let plan = repo.run(&["--now", now, "plan", "--format", "json"]).json();
    assert_eq!(
        action(&plan, "spring-sale-2027")["resend_of"],
        "spring-sale"
    );
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("  - spring-sale ") && l.ends_with("gone from the files")),
        "{}",
        run.stdout
    );
}

#[test]
fn moved_from_and_resend_of_must_name_an_id_in_the_state() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &format!(
            "moved_from:\n  - a-old\nresend_of: a-first\n{}",
            campaign("a", "{alert: hi}")
        ),
    );
    // validate has no state: it cannot know.
    repo.run(&["validate"]).success();
    let run = repo.run(&["--now", "2026-11-26T15:00:00+08:00", "plan"]);
    run.code(1);
    has(
        &run.stdout,
        "error: campaigns/a.yaml:2: moved_from: `a-old` is not in the state",
    );
    has(
        &run.stdout,
        "error: campaigns/a.yaml:3: resend_of: `a-first` is not in the state",
    );
    has(&run.stdout, "2 errors.");
    let plan = repo
        .run(&[
            "--now",
            "2026-11-26T15:00:00+08:00",
            "plan",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(plan["errors"][0]["field"], "moved_from");
    assert_eq!(plan["errors"][0]["line"], 2);
}

#[test]
fn a_look_alike_with_another_body_is_only_a_warning() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", "{title: Hi, alert: \"hello\"}"),
    );
    import(&repo, "a", "2026-11-20T10:00:00+08:00");
    // Same audience, title and alert; another body (a badge).
    repo.file(
        "campaigns/b.yaml",
        &campaign("b", "{title: Hi, alert: \"hello\", ios: {badge: 3}}"),
    );
    let run = repo.run(&["--now", "2026-11-26T15:00:00+08:00", "plan"]);
    run.success();
    has(&run.stdout, "+ b  send now");
    has(
        &run.stdout,
        "warning: same audience, title and alert as `a`, already sent",
    );
    let plan = repo
        .run(&[
            "--now",
            "2026-11-26T15:00:00+08:00",
            "plan",
            "--format",
            "json",
        ])
        .json();
    assert_eq!(action(&plan, "b")["action"], "send");
    let warnings = action(&plan, "b")["warnings"].as_array().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}

/// The starter of `pushform init` shows every scheduling key, commented out; each one, switched
/// on as written, validates and plans as its comment says.
#[test]
fn the_starter_shows_every_scheduling_key_and_each_works_when_uncommented() {
    let dir = tempfile::tempdir().expect("temp dir");
    crate::support::pushform(dir.path(), &["init", "repo"]).success();
    let root = dir.path().join("repo");
    let uncomment = |file: &str, keys: &[&str]| {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for line in text.lines() {
            let body = line.trim_start();
            let indent = &line[..line.len() - body.len()];
            match body.strip_prefix("# ") {
                Some(rest) if keys.iter().any(|k| rest.trim_start().starts_with(k)) => {
                    out.push_str(indent);
                    out.push_str(rest);
                }
                _ => out.push_str(line),
            }
            out.push('\n');
        }
        assert_ne!(out, text, "{file} has none of {keys:?}");
        std::fs::write(&path, out).unwrap();
    };
    uncomment("pushform.yaml", &["schedule:", "window:"]);
    uncomment(
        "campaigns/welcome.yaml",
        &["priority:", "send_window:", "moved_from:", "resend_of:"],
    );
    crate::support::pushform(&root, &["validate"]).success();
    let run = crate::support::pushform(
        &root,
        &[
            "--now",
            "2026-11-26T15:00:00+08:00",
            // The starter declares environments: plan needs one.
            "--env",
            "staging",
            "plan",
            "--format",
            "json",
        ],
    );
    // No state yet: the history links name ids it has never seen.
    run.code(1);
    let plan = run.json();
    let fields: Vec<&str> = plan["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["moved_from", "resend_of"]);
    let en = action(&plan, "welcome-2-0/en");
    assert_eq!(en["send_window"], "09:00–21:00 America/New_York");
    assert_eq!(en["priority"], "normal");
    assert_eq!(
        action(&plan, "welcome-2-0/zh-CN")["send_window"],
        "09:00–21:00 Asia/Shanghai"
    );
}
