//! `pushform validate`: exit codes, every finding reported in one run, and each kind of broken
//! input (YAML syntax, unknown keys, template errors, missing translations) pointing at the file
//! and line a user must edit.

use crate::support::{Repo, campaign, pushform, sample_repo};

#[test]
fn sample_repo_is_valid() {
    let run = pushform(&sample_repo(), &["validate"]);
    run.success();
    assert_eq!(run.stdout, "Valid: 4 campaigns rendered to 8 pushes.\n");
    assert_eq!(run.stderr, "");
}

#[test]
fn dir_flag_is_the_same_as_running_inside() {
    let repo = Repo::new();
    repo.file("campaigns/a.yaml", &campaign("a", "{alert: hi}"));
    let root = sample_repo();
    let inside = repo.run(&["validate"]);
    let outside = pushform(&root, &["-C", repo.path().to_str().unwrap(), "validate"]);
    inside.success();
    outside.success();
    assert_eq!(inside.stdout, "Valid: 1 campaign rendered to 1 push.\n");
    assert_eq!(outside.stdout, inside.stdout);
}

#[test]
fn not_a_repository_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = pushform(dir.path(), &["validate"]);
    run.failure()
        .stderr_has(&["error: ", "is not a pushform repository"]);
}

#[test]
fn warnings_are_shown_but_do_not_fail() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\npush:\n  platform: [ios]\n  audience: {packageName: p, is_to_all: true}\n  notification: {alert: hi}\n",
    );
    let run = repo.run(&["validate"]);
    run.success();
    assert_eq!(
        run.finding_lines(),
        [
            "warning: campaigns/a.yaml:4: push.audience.is_to_all: is true, so the API ignores `tag`, `tag_or`, `userid` and `packageName`: this goes to every user [a]"
        ]
    );
    assert_eq!(
        run.stdout,
        "Valid: 1 campaign rendered to 1 push, 1 warning.\n"
    );
}

#[test]
fn every_error_of_every_file_in_one_run() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &format!(
            "id: a\npush:\n  platform: [ios]\n  audience: {{packageName: p, is_to_all: false}}\n  notification:\n    title: \"{}\"\n    alert: hi\n    ios: {{badge: 10000}}\n",
            "x".repeat(51)
        ),
    )
    .file(
        "campaigns/b.yaml",
        "id: B\npush:\n  platform: [android]\n  audience: {tag: [x], is_to_all: false}\n  message: {objectName: RC:TxtMsg, content: {content: hi}}\n  notification: {alert: hi}\n",
    )
    .file(
        "campaigns/sub/c.yaml",
        "id: c\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    titel: Hello\n    alert: hi\n",
    )
    .file(
        "campaigns/sub/d.yaml",
        "id: d\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    alert: \"Hello {{ name }}\"\n",
    )
    .file(
        "campaigns/sub/e.yml",
        "id: e\npush:\n  platform: [ios]\n  audience: {packageName: p, is_to_all: true}\n  notification: {alert: hi}\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:6: push.notification.title: is 51 characters; the API allows at most 50: \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\" [a]",
            "error: campaigns/a.yaml:8: push.notification.ios.badge: is 10000; at most 9999 [a]",
            "error: campaigns/b.yaml:1: id: `B` is not a valid id: use lowercase letters, digits, `.`, `_` and `-`, starting with a letter or digit",
            "error: campaigns/b.yaml:3: push.fromuserid: is required when `message` is present (the sender of the system message) [B]",
            "error: campaigns/sub/c.yaml:6: push.notification.titel: unknown field `titel`, expected one of `title`, `forceShowPushContent`, `alert`, `ios`, `android`, `harmonyOS` [c]",
            "error: campaigns/sub/d.yaml:6: push.notification.alert: template error: undefined variable `name` [d]",
            "warning: campaigns/sub/e.yml:4: push.audience.is_to_all: is true, so the API ignores `tag`, `tag_or`, `userid` and `packageName`: this goes to every user [e]",
        ]
    );
    assert!(
        run.stderr
            .ends_with("Invalid: 6 errors, 1 warning in 5 campaigns.\n"),
        "{}",
        run.stderr
    );
}

#[test]
fn yaml_syntax_error_has_line_and_excerpt() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\npush:\n  platform: [ios\n  audience: {is_to_all: true}\n",
    )
    .file("campaigns/b.yaml", &campaign("b", "{alert: hi}"));
    let run = repo.run(&["validate"]);
    run.failure();
    // Said once: no second `error:` nor a second line number inside the message.
    assert_eq!(
        run.finding_lines(),
        ["error: campaigns/a.yaml:4: illegal placement of ':' indicator"]
    );
    // The excerpt names the file and shows the offending line, numbered, with a marker under it.
    run.stderr_has(&[
        "--> campaigns/a.yaml:4:11\n",
        "  3 |   platform: [ios\n",
        "  4 |   audience: {is_to_all: true}\n",
        "^",
    ]);
    // The broken file does not hide the valid one: it is still counted.
    run.stderr_has(&["Invalid: 1 error, 0 warnings in 1 campaign.\n"]);
}

#[test]
fn unknown_top_level_key_names_file_line_and_key() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\nnot_befor: 2026-12-01T10:00:00+08:00\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification: {alert: hi}\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:2: unknown field `not_befor`, expected one of id, description, not_before, not_after, vars, priority, send_window, moved_from, resend_of, locales, push"
        ]
    );
    run.stderr_has(&["--> campaigns/a.yaml:2:1\n", "  2 | not_befor: "]);
}

#[test]
fn unknown_key_deep_in_push_names_file_line_and_path() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    alert: hi\n    ios:\n      badge: 1\n      bdage: 2\n",
    )
    .file(
        "campaigns/b.yaml",
        "id: b\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    alert: hi\n    titel: Hello\n",
    )
    .file(
        "campaigns/c.yaml",
        "id: c\nlocales:\n  en:\n    audience: {tags: [x]}\npush:\n  platform: [ios]\n  audience: {is_to_all: false, packageName: p}\n  notification: {alert: hi}\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    let lines = run.finding_lines();
    assert_eq!(lines.len(), 3, "{}", run.stderr);
    assert!(
        lines[0].starts_with(
            "error: campaigns/a.yaml:9: push.notification.ios.bdage: unknown field `bdage`"
        ),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(
            "error: campaigns/b.yaml:7: push.notification.titel: unknown field `titel`"
        ),
        "{}",
        lines[1]
    );
    // A key inside a locale's audience is checked as part of the push it is merged into.
    assert!(
        lines[2].starts_with("error: campaigns/c.yaml:4: push.audience.tags: unknown field `tags`"),
        "{}",
        lines[2]
    );
}

#[test]
fn unknown_key_in_config_is_an_error() {
    let repo = Repo::new();
    repo.file("pushform.yaml", "quota:\n  per_hour: 2\n  per_days: 3\n")
        .file("campaigns/a.yaml", &campaign("a", "{alert: hi}"));
    let run = repo.run(&["validate"]);
    run.failure();
    let lines = run.finding_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: pushform.yaml:3: unknown field `per_days`"),
        "{}",
        lines[0]
    );
}

#[test]
fn template_syntax_error_names_file_and_line() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", "{\n    title: \"{{ oops \",\n    alert: hi}"),
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:6: push.notification.title: template error: syntax error: unexpected end of input, expected end of variable block"
        ]
    );
    run.stderr_has(&["  | {{ oops \n"]);
}

#[test]
fn template_error_in_a_multi_line_string_counts_lines_from_the_string() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    alert: |\n      first line\n      second {{ a.b }\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    let lines = run.finding_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with(
            "error: campaigns/a.yaml:8: push.notification.alert: template error: syntax error"
        ),
        "{}",
        lines[0]
    );
}

#[test]
fn undefined_variable_names_file_and_line() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\nvars: {name: Ada}\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    title: \"Hi {{ name }}\"\n    alert: \"{{ nmae }}\"\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:8: push.notification.alert: template error: undefined variable `nmae` (did you mean `name`?) [a]"
        ]
    );
    run.stderr_has(&["  | {{ nmae }}\n", "  |    ^^^^\n"]);
}

#[test]
fn error_inside_an_included_template_names_the_template_file() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", "{alert: \"{% include 'parts/footer.j2' %}\"}"),
    )
    .file("templates/parts/footer.j2", "Thanks,\n{{ team_name }}\n");
    let run = repo.run(&["validate"]);
    run.failure();
    let lines = run.finding_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with("error: templates/parts/footer.j2:2: push.notification.alert: "),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("undefined variable `team_name`"),
        "{}",
        lines[0]
    );
    // Which campaign leaf included it is said too.
    assert!(lines[0].contains("campaigns/a.yaml:5"), "{}", lines[0]);
}

#[test]
fn error_in_a_nested_include_names_the_innermost_template() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", "{alert: \"{% include 'outer.j2' %}\"}"),
    )
    .file("templates/outer.j2", "outer\n{% include 'inner.j2' %}\n")
    .file("templates/inner.j2", "a\nb\n{% if %}\n");
    let run = repo.run(&["validate"]);
    run.failure();
    let lines = run.finding_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with(
            "error: templates/inner.j2:3: push.notification.alert: template error: syntax error"
        ),
        "{}",
        lines[0]
    );
    run.stderr_has(&["  | {% if %}\n"]);
}

#[test]
fn syntax_error_inside_an_imported_macro_file_names_the_template_file() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", "{alert: \"{% import 'm.j2' as m %}{{ m.sign() }}\"}"),
    )
    .file(
        "templates/m.j2",
        "{% macro sign() %}\n-- {{ the team }}\n{% endmacro %}\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    let lines = run.finding_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].starts_with(
            "error: templates/m.j2:2: push.notification.alert: template error: syntax error"
        ),
        "{}",
        lines[0]
    );
}

/// A campaign that uses `t.title` and `t.alert`, in the given locales (flow-mapping values).
fn translated(locales: &str) -> String {
    format!(
        "id: promo\nlocales:\n{locales}push:\n  platform: [ios]\n  audience: {{packageName: p, is_to_all: false}}\n  notification:\n    title: \"{{{{ t.title }}}}\"\n    alert: \"{{{{ t.alert }}}}\"\n"
    )
}

#[test]
fn missing_translation_names_campaign_locale_and_key() {
    let repo = Repo::new();
    repo.file("templates/locales/fr.yaml", "alert: Bonjour\n")
        .file(
            "campaigns/a.yaml",
            &translated("  fr: {audience: {tag: [fr]}}\n"),
        );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:8: push.notification.title: missing translation `t.title` for locale `fr` of campaign `promo` (looked in templates/locales/fr.yaml) [promo/fr]"
        ]
    );
}

#[test]
fn fallback_chain_resolves_from_the_next_catalog() {
    let repo = Repo::new();
    repo.file("pushform.yaml", "locales:\n  fallback: {en-GB: en}\n")
        .file("templates/locales/en.yaml", "title: Sale\nalert: Colors\n")
        .file("templates/locales/en-GB.yaml", "alert: Colours\n")
        .file(
            "campaigns/a.yaml",
            &translated("  en-GB: {audience: {tag: [gb]}}\n"),
        );
    let run = repo.run(&["render"]);
    run.success();
    let units = run.json();
    assert_eq!(units.as_array().map(Vec::len), Some(1), "{units}");
    assert_eq!(units[0]["key"], "promo/en-GB");
    // The locale's own catalog wins; what it lacks comes from the next in the chain.
    assert_eq!(units[0]["body"]["notification"]["title"], "Sale");
    assert_eq!(units[0]["body"]["notification"]["alert"], "Colours");
}

#[test]
fn a_locale_without_catalog_or_chain_never_falls_back_to_another_language() {
    let repo = Repo::new();
    repo.file(
        "pushform.yaml",
        "locales:\n  default: en\n  fallback: {en-GB: en}\n",
    )
    .file("templates/locales/en.yaml", "title: Sale\nalert: Hello\n")
    .file("templates/locales/zh-CN.yaml", "title: 大促\nalert: 你好\n")
    .file(
        "campaigns/a.yaml",
        &translated("  en: {audience: {tag: [en]}}\n  de: {audience: {tag: [de]}}\n"),
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:9: push.notification.title: missing translation `t.title` for locale `de` of campaign `promo` (looked in templates/locales/de.yaml (no such file)) [promo/de]",
            "error: campaigns/a.yaml:10: push.notification.alert: missing translation `t.alert` for locale `de` of campaign `promo` (looked in templates/locales/de.yaml (no such file)) [promo/de]",
        ]
    );
    // Nothing is rendered while a translation is missing.
    let render = repo.run(&["render"]);
    render.failure();
    assert_eq!(render.stdout, "");
}

#[test]
fn every_broken_leaf_of_a_unit_is_reported_at_its_own_line() {
    let repo = Repo::new();
    repo.file("templates/locales/en.yaml", "alert: Hello\n").file(
        "campaigns/a.yaml",
        "id: a\nlocales:\n  en: {}\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    title: \"{{ nosuch }}\"\n    alert: \"{{ t.alert }} {{ t.nope }}\"\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:8: push.notification.title: template error: undefined variable `nosuch` [a/en]",
            "error: campaigns/a.yaml:9: push.notification.alert: missing translation `t.nope` for locale `en` of campaign `a` (looked in templates/locales/en.yaml) [a/en]",
        ]
    );
}

#[test]
fn a_broken_catalog_string_is_reported_where_it_is_written() {
    let repo = Repo::new();
    repo.file(
        "templates/locales/en.yaml",
        "title: Hi\nalert: \"Hello {{ nobody }}\"\n",
    )
    .file(
        "campaigns/a.yaml",
        &translated("  en: {audience: {tag: [en]}}\n"),
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: templates/locales/en.yaml:2: t.alert: template error: undefined variable `nobody` [promo/en]"
        ]
    );
}

#[test]
fn template_error_after_crlf_and_non_ascii_lines_is_reported_not_a_crash() {
    // Regression: the excerpt counted one byte per line ending, so after `\r\n` lines its
    // offsets fell inside `é` and slicing the source panicked.
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign(
            "a",
            r#"{title: "\r\n\r\n\u00e9\r\n{{ nosuch }}", alert: hi}"#,
        ),
    );
    let run = repo.run(&["validate"]);
    run.failure();
    let lines = run.finding_lines();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    // The line is not pinned: lines inside a leaf are counted as if it were a block scalar,
    // which a double-quoted one with escaped line breaks is not (a known limitation).
    assert!(
        lines[0].starts_with("error: campaigns/a.yaml:")
            && lines[0].ends_with(
                ": push.notification.title: template error: undefined variable `nosuch` [a]"
            ),
        "{}",
        lines[0]
    );
    run.stderr_has(&["  | {{ nosuch }}\n", "  |    ^^^^^^\n"]);
}

#[test]
fn leaves_sharing_a_broken_or_missing_string_each_get_the_right_finding() {
    let repo = Repo::new();
    repo.file(
        "templates/locales/en.yaml",
        "broken: \"Hello {{ nobody }}\"\n",
    )
    .file(
        "campaigns/a.yaml",
        "id: a\nlocales:\n  en: {}\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    title: \"{{ t.broken }}\"\n    alert: \"{{ t.broken }}\"\n    ios: {alert: \"{{ t.gone }}\", title: \"{{ t.gone }}\"}\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    // The broken string once, where it is written; the missing key once per leaf asking for it.
    let missing = "missing translation `t.gone` for locale `en` of campaign `a` (looked in templates/locales/en.yaml) [a/en]";
    assert_eq!(
        run.finding_lines(),
        [
            format!("error: campaigns/a.yaml:10: push.notification.ios.alert: {missing}"),
            format!("error: campaigns/a.yaml:10: push.notification.ios.title: {missing}"),
            "error: templates/locales/en.yaml:1: t.broken: template error: undefined variable `nobody` [a/en]".to_owned(),
        ]
    );
}

#[test]
fn messages_speak_of_yaml_and_numbers_not_of_the_libraries() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\npush:\n  platform: [ios]\n  audience: {packageName: p, is_to_all: false}\n  notification:\n    alert: hi\n    title: t\n    alert: again\n",
    )
    .file(
        "campaigns/b.yaml",
        &campaign("b", "{alert: hi, ios: {badge: many}}"),
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:8: duplicate key `alert` (first at line 6)",
            "error: campaigns/b.yaml:5: push.notification.ios.badge: wrong type: found string \"many\", expected a whole number [b]",
        ]
    );
    assert!(!run.stderr.contains("DuplicateKeyPolicy"), "{}", run.stderr);
}

#[test]
fn a_broken_config_or_catalog_is_reported_alone_without_its_cascade() {
    // One typo in pushform.yaml used to give an error for every unit (platform and sender
    // missing, which the defaults set) with the real one last.
    let repo = Repo::new();
    repo.file(
        "pushform.yaml",
        "locales: {default: en}\ndefualts:\n  push: {platform: [ios], fromuserid: ops}\n",
    )
    .file(
        "campaigns/a.yaml",
        "id: a\nlocales: {en: {}, fr: {audience: {tag: [fr]}}}\npush:\n  audience: {packageName: p, is_to_all: false}\n  message: {objectName: RC:TxtMsg, content: {content: hi}}\n  notification: {alert: \"{{ t.hello }}\"}\n",
    )
    .file("templates/locales/en.yaml", "hello: Hello\n")
    .file("templates/locales/fr.yaml", "hello: Bonjour\n");
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(run.finding_lines().len(), 1, "{}", run.stderr);
    run.stderr_has(&["error: pushform.yaml:2: unknown field `defualts`"]);
    for command in ["plan", "render"] {
        let run = repo.run(&[command]);
        run.failure();
        assert_eq!(run.finding_lines().len(), 1, "{command}: {}", run.stderr);
    }
    // Commands that only need the config stop too, rather than use the default one (another
    // lockfile path, another quota time zone).
    for command in [&["quota"][..], &["state", "list"]] {
        repo.run(command)
            .failure()
            .stderr_has(&["error: pushform.yaml:2: unknown field `defualts`"]);
    }

    // A catalog that exists but does not parse is named with its line, not "(no such file)".
    repo.file(
        "pushform.yaml",
        "locales: {default: en}\ndefaults:\n  push: {platform: [ios], fromuserid: ops}\n",
    )
    .file("templates/locales/fr.yaml", "hello: \"Bonjour\n");
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(run.finding_lines().len(), 1, "{}", run.stderr);
    run.stderr_has(&["error: templates/locales/fr.yaml:1"]);
    assert!(!run.stderr.contains("no such file"), "{}", run.stderr);
    assert!(
        !run.stderr.contains("missing translation"),
        "{}",
        run.stderr
    );

    // Fixed, it validates.
    repo.file("templates/locales/fr.yaml", "hello: Bonjour\n");
    repo.run(&["validate"]).success();
}

#[test]
fn a_misspelt_variable_is_named_with_the_closest_defined_name() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\nvars: {deadline_en: December 20}\nlocales:\n  en:\n    strings:\n      body: \"Submit by {{ deadlin_en }}.\"\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification: {alert: \"{{ t.body }}\"}\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:6: t.body: template error: undefined variable `deadlin_en` (did you mean `deadline_en`?) [a/en]"
        ]
    );
}

#[test]
fn a_misspelt_macro_argument_names_the_call_site_and_the_macro_line() {
    // The undefined value is made at the call in the campaign and only fails inside the macro:
    // the finding is at the campaign line, and names the macro line too.
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        "id: a\nvars: {discount: 30}\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    alert: \"{% import 'macros.j2' as m %}{{ m.off(discont) }}\"\n",
    )
    .file(
        "templates/macros.j2",
        "{% macro off(discount) -%}\n{{ 100 - discount }}% off\n{%- endmacro %}\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: campaigns/a.yaml:7: push.notification.alert: template error: undefined variable `discont` (did you mean `discount`?), passed to the macro failing at templates/macros.j2:2: tried to use - operator on unsupported types number and undefined [a]"
        ]
    );
    run.stderr_has(&["templates/macros.j2:2:\n", "| {{ 100 - discount }}% off"]);

    // Misspelt inside the macro itself: the macro line, the parameter it meant, and the caller.
    repo.file(
        "campaigns/a.yaml",
        "id: a\nvars: {discount: 30}\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    alert: \"{% import 'macros.j2' as m %}{{ m.off(discount) }}\"\n",
    )
    .file(
        "templates/macros.j2",
        "{% macro off(discount) -%}\n{{ discont }}% off\n{%- endmacro %}\n",
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [
            "error: templates/macros.j2:2: push.notification.alert: template error: undefined variable `discont` (did you mean `discount`?) (included from campaigns/a.yaml:7) [a]"
        ]
    );
}

#[test]
fn a_title_too_long_shows_the_rendered_title_and_the_string_it_came_from() {
    let repo = Repo::new();
    let long = "A title from the catalog that is much too long for a push";
    repo.file(
        "campaigns/a.yaml",
        "id: a\nlocales:\n  en: {}\npush:\n  platform: [ios]\n  audience: {is_to_all: true}\n  notification:\n    title: \"{{ t.title }}!\"\n    alert: hi\n",
    )
    .file(
        "templates/locales/en.yaml",
        &format!("other: x\ntitle: {long}\n"),
    );
    let run = repo.run(&["validate"]);
    run.failure();
    assert_eq!(
        run.finding_lines(),
        [format!(
            "error: campaigns/a.yaml:8: push.notification.title: is 58 characters; the API allows at most 50: \"{long}!\" (text from templates/locales/en.yaml:2) [a/en]"
        )]
    );
}
