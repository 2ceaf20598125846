//! `pushform l10n` and localisation end to end: CLDR plurals through `render`, fallback through
//! a campaign's own strings, the coverage report, the XLIFF and PO round trip with its
//! refusals, and the pseudo-locale that renders but is never planned.

use std::fs;

use serde_json::Value;

use crate::support::Repo;

const CONFIG: &str = "\
locales:
  default: en
  fallback: { en-GB: en }
defaults:
  push: { platform: [ios], fromuserid: bot }
";

const EN: &str = "\
brand: Study
unread:
  one: \"{{ n }} new message for {{ name }}\"
  other: \"{{ n }} new messages for {{ name }}\"
";

const RU: &str = "\
brand: Учёба
unread:
  one: \"{{ n }} новое сообщение, {{ name }}\"
  few: \"{{ n }} новых сообщения, {{ name }}\"
  many: \"{{ n }} новых сообщений, {{ name }}\"
  other: \"{{ n }} сообщения, {{ name }}\"
";

/// A campaign in en, en-GB (no strings of its own) and ru, reading `t.title` (campaign strings),
/// `t.brand` and `t.unread` (catalogs).
fn campaign(count: u32) -> String {
    format!(
        "\
id: inbox
vars: {{ count: {count}, name: Ann }}
locales:
  en:
    audience: {{ tag: [lang_en] }}
    strings: {{ title: \"Inbox of {{{{ name }}}}\" }}
  en-GB:
    audience: {{ tag: [lang_en_gb] }}
  ru:
    audience: {{ tag: [lang_ru] }}
    strings: {{ title: Входящие }}
push:
  audience: {{ is_to_all: false }}
  notification:
    title: \"{{{{ t.title }}}}\"
    alert: \"{{{{ t.unread | plural(count) }}}}\"
"
    )
}

fn repo(count: u32) -> Repo {
    let repo = Repo::new();
    repo.file("pushform.yaml", CONFIG)
        .file("templates/locales/en.yaml", EN)
        .file("templates/locales/ru.yaml", RU)
        .file("campaigns/inbox.yaml", &campaign(count));
    repo
}

/// `notification.alert` of each unit, by key.
fn alerts(repo: &Repo, args: &[&str]) -> Vec<(String, String)> {
    let mut all = vec!["render", "--format", "json"];
    all.extend_from_slice(args);
    let run = repo.run(&all);
    run.success();
    run.json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|u| {
            (
                u["key"].as_str().unwrap_or_default().to_owned(),
                u["body"]["notification"]["alert"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

fn alert_of(repo: &Repo, key: &str) -> String {
    alerts(repo, &[key])
        .into_iter()
        .next()
        .map(|(_, a)| a)
        .expect("one unit")
}

#[test]
fn plural_picks_the_cldr_form_of_each_locale_and_renders_it_with_n() {
    for (count, ru) in [
        (1, "1 новое сообщение, Ann"),
        (3, "3 новых сообщения, Ann"),
        (11, "11 новых сообщений, Ann"),
        (21, "21 новое сообщение, Ann"),
    ] {
        let repo = repo(count);
        assert_eq!(alert_of(&repo, "inbox/ru"), ru);
    }
    let repo = repo(1);
    assert_eq!(alert_of(&repo, "inbox/en"), "1 new message for Ann");
    let repo = self::repo(21);
    assert_eq!(alert_of(&repo, "inbox/en"), "21 new messages for Ann");
}

#[test]
fn a_plural_entry_without_the_filter_and_the_filter_on_plain_text_are_errors() {
    let repo = repo(2);
    repo.file(
        "campaigns/inbox.yaml",
        &campaign(2).replace("t.unread | plural(count)", "t.unread"),
    );
    repo.run(&["validate"]).failure().stderr_has(&[
        "campaigns/inbox.yaml:16: push.notification.alert",
        "`t.unread` has plural forms (one, other): write `{{ t.unread | plural(n) }}`",
    ]);
    repo.file(
        "campaigns/inbox.yaml",
        &campaign(2).replace("t.unread | plural(count)", "t.brand | plural(count)"),
    );
    repo.run(&["validate"]).failure().stderr_has(&[
        "`plural` applies to a string of `t` written as CLDR plural forms",
        "not to the plain text 'Study'",
    ]);
}

#[test]
fn missing_plural_forms_are_named_with_file_line_and_field() {
    let repo = repo(2);
    repo.file(
        "templates/locales/ar.yaml",
        "unread:\n  one: واحدة\n  other: \"{{ n }}\"\n",
    );
    repo.run(&["validate"]).failure().stderr_has(&[
        "templates/locales/ar.yaml:1: t.unread: plural forms for `ar` lack `zero`, `two`, `few`, `many`: `ar` needs zero, one, two, few, many, other",
    ]);
}

#[test]
fn a_regional_locale_falls_back_through_the_campaign_strings_first() {
    let repo = repo(2);
    let run = repo.run(&["render", "--format", "json", "inbox/en-GB"]);
    run.success();
    // `t.title` is only in the campaign's `en` strings, rendered for en-GB.
    assert_eq!(
        run.json()[0]["body"]["notification"]["title"],
        "Inbox of Ann"
    );
    // A key nowhere names every place looked in, in order.
    repo.file(
        "campaigns/inbox.yaml",
        &campaign(2).replace("{{ t.title }}", "{{ t.subject }}"),
    );
    repo.run(&["validate"]).failure().stderr_has(&[
        "missing translation `t.subject` for locale `en-GB` of campaign `inbox` (looked in templates/locales/en-GB.yaml (no such file), locales.en.strings, templates/locales/en.yaml)",
    ]);
}

#[test]
fn status_reports_a_missing_and_an_unused_key_in_human_and_json() {
    let repo = repo(2);
    repo.file(
        "templates/locales/en.yaml",
        &format!("{EN}old_banner: Spring sale\n"),
    );
    // ru loses `t.title` (no campaign strings for ru) and `{{ name }}` in one form.
    repo.file(
        "campaigns/inbox.yaml",
        &campaign(2)
            .replace("    strings: { title: Входящие }\n", "")
            .replace("{{ t.title }}", "{{ t.title }} · {{ t.brand }}"),
    );
    repo.file("templates/locales/ru.yaml", &RU.replace(", {{ name }}", ""));
    let human = repo.run(&["l10n", "status"]);
    human.failure();
    insta::assert_snapshot!(human.stdout);

    let json = repo.run(&["l10n", "status", "--format", "json"]);
    json.failure();
    let status: Value = json.json();
    let ru = status["locales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["locale"] == "ru")
        .expect("ru");
    assert_eq!(ru["used"], 3);
    assert_eq!(ru["found"], 2);
    assert_eq!(ru["missing"][0]["key"], "title");
    assert_eq!(
        ru["missing"][0]["looked_in"],
        serde_json::json!(["templates/locales/ru.yaml"])
    );
    assert_eq!(status["unused"][0]["key"], "old_banner");
    assert_eq!(status["unused"][0]["line"], 5);
    assert_eq!(
        status["placeholders"][0]["missing"],
        serde_json::json!(["{{ name }}"])
    );

    // Everything found: exit 0.
    let complete = self::repo(2);
    complete.run(&["l10n", "status"]).success();
}

/// Replaces the first `<source>…</source>` of the unit `id` followed by its target (if any) with
/// `target`, as a translator's tool would.
fn translate_xliff(xliff: &str, id: &str, target: &str) -> String {
    let start = xliff.find(&format!("<unit id=\"{id}\"")).expect("the unit");
    let source_end =
        start + xliff[start..].find("</source>").expect("its source") + "</source>".len();
    let segment_end = start + xliff[start..].find("</segment>").expect("its segment");
    format!(
        "{}\n          <target>{target}</target>\n        {}",
        &xliff[..source_end],
        &xliff[segment_end..]
    )
}

#[test]
fn xliff_export_edit_import_then_render_shows_the_new_translation() {
    let repo = repo(5);
    let run = repo.run(&["l10n", "export", "--locale", "ru", "-o", "ru.xlf"]);
    run.success();
    let xliff = fs::read_to_string(repo.path().join("ru.xlf")).unwrap();
    assert!(xliff.contains("srcLang=\"en\" trgLang=\"ru\""), "{xliff}");
    assert!(
        xliff.contains("<source><ph id=\"1\" dataRef=\"d1\" disp=\"{{ n }}\"/> new messages for <ph id=\"2\" dataRef=\"d2\" disp=\"{{ name }}\"/></source>"),
        "{xliff}"
    );
    assert!(xliff.contains("<unit id=\"unread#few\">"), "{xliff}");
    // The placeholders move, as a translator may move them; their codes are untouched.
    let edited = translate_xliff(
        &xliff,
        "unread#many",
        "<ph id=\"2\" dataRef=\"d2\" disp=\"{{ name }}\"/>, у вас <ph id=\"1\" dataRef=\"d1\" disp=\"{{ n }}\"/> писем &amp; ответов",
    );
    fs::write(repo.path().join("ru.xlf"), edited).unwrap();
    repo.run(&["l10n", "import", "ru.xlf"]).success();
    let catalog = fs::read_to_string(repo.path().join("templates/locales/ru.yaml")).unwrap();
    assert!(
        catalog.contains("  many: \"{{ name }}, у вас {{ n }} писем & ответов\"\n"),
        "{catalog}"
    );
    assert_eq!(alert_of(&repo, "inbox/ru"), "Ann, у вас 5 писем & ответов");
    // Importing the same file again writes the same bytes.
    repo.run(&["l10n", "import", "ru.xlf"]).success();
    assert_eq!(
        fs::read_to_string(repo.path().join("templates/locales/ru.yaml")).unwrap(),
        catalog
    );
}

#[test]
fn po_export_edit_import_then_render_shows_the_new_translation() {
    let repo = repo(5);
    repo.run(&[
        "l10n", "export", "--locale", "ru", "--format", "po", "-o", "ru.po",
    ])
    .success();
    let po = fs::read_to_string(repo.path().join("ru.po")).unwrap();
    assert!(
        po.contains("\"X-Pushform-Plural-Categories: one few many other\\n\""),
        "{po}"
    );
    assert!(
        po.contains("msgctxt \"unread\"\nmsgid \"{{ n }} new message for {{ name }}\"\nmsgid_plural \"{{ n }} new messages for {{ name }}\"\nmsgstr[0]"),
        "{po}"
    );
    let edited = po.replace(
        "msgstr[2] \"{{ n }} новых сообщений, {{ name }}\"",
        "msgstr[2] \"{{ name }}: {{ n }} писем\"",
    );
    assert_ne!(edited, po);
    fs::write(repo.path().join("ru.po"), edited).unwrap();
    repo.run(&["l10n", "import", "ru.po"]).success();
    assert_eq!(alert_of(&repo, "inbox/ru"), "Ann: 5 писем");
}

#[test]
fn a_damaged_placeholder_or_a_changed_source_is_refused_and_nothing_written() {
    let repo = repo(5);
    let before = fs::read_to_string(repo.path().join("templates/locales/ru.yaml")).unwrap();
    repo.run(&[
        "l10n", "export", "--locale", "ru", "--format", "po", "-o", "ru.po",
    ])
    .success();
    let po = fs::read_to_string(repo.path().join("ru.po")).unwrap();

    // A placeholder renamed by the translator.
    fs::write(
        repo.path().join("ru.po"),
        po.replace("msgstr[0] \"{{ n }} новое", "msgstr[0] \"{{ число }} новое"),
    )
    .unwrap();
    repo.run(&["l10n", "import", "ru.po"]).failure().stderr_has(&[
        "refused: placeholders damaged in `unread` (one): `{{ число }}` is not a placeholder of the source",
    ]);
    // A placeholder cut in half.
    fs::write(
        repo.path().join("ru.po"),
        po.replace("msgstr \"Учёба\"", "msgstr \"Учёба {{ n }\""),
    )
    .unwrap();
    repo.run(&["l10n", "import", "ru.po"])
        .failure()
        .stderr_has(&["refused: placeholders damaged in `brand`: a stray `{{`"]);
    // XLIFF: a placeholder pointing at data the unit does not have.
    repo.run(&["l10n", "export", "--locale", "ru", "-o", "ru.xlf"])
        .success();
    let xliff = fs::read_to_string(repo.path().join("ru.xlf")).unwrap();
    fs::write(
        repo.path().join("ru.xlf"),
        xliff.replacen(
            "<target><ph id=\"1\" dataRef=\"d1\"",
            "<target><ph id=\"1\" dataRef=\"d9\"",
            1,
        ),
    )
    .unwrap();
    repo.run(&["l10n", "import", "ru.xlf"]).failure().stderr_has(&[
        "`unread#one`: a placeholder refers to `d9`, which the unit's originalData does not hold",
    ]);
    // The English text changed after the export.
    fs::write(repo.path().join("ru.po"), &po).unwrap();
    repo.file(
        "templates/locales/en.yaml",
        &EN.replace("brand: Study", "brand: Study+"),
    );
    repo.run(&["l10n", "import", "ru.po"])
        .failure()
        .stderr_has(&[
            "refused: the source text of `brand` no longer matches templates/locales/en.yaml",
        ]);
    assert_eq!(
        fs::read_to_string(repo.path().join("templates/locales/ru.yaml")).unwrap(),
        before
    );
}

#[test]
fn the_title_limit_travels_as_maxwidth() {
    let repo = repo(5);
    repo.file(
        "campaigns/inbox.yaml",
        &campaign(5).replace("{{ t.title }}", "{{ t.brand }}"),
    );
    let xliff = repo.run(&["l10n", "export", "--locale", "ru"]);
    xliff.success();
    assert!(
        xliff
            .stdout
            .contains("<unit id=\"brand\" slr:sizeRestriction=\"50\">"),
        "{}",
        xliff.stdout
    );
    assert!(
        !xliff.stdout.contains("<unit id=\"unread#one\" slr:"),
        "{}",
        xliff.stdout
    );
    let po = repo.run(&["l10n", "export", "--locale", "ru", "--format", "po"]);
    assert!(
        po.stdout.contains(
            "#. maxwidth: 50 characters (shown as a notification title)\nmsgctxt \"brand\""
        ),
        "{}",
        po.stdout
    );
}

#[test]
fn the_pseudo_locale_renders_but_is_never_planned() {
    let repo = repo(5);
    let pseudo = alerts(&repo, &["--locale", "en-XA"]);
    assert_eq!(pseudo.len(), 1, "{pseudo:?}");
    assert_eq!(pseudo[0].0, "inbox/en-XA");
    assert!(
        pseudo[0].1.starts_with("[5 ñéŵ ɱéššàĝéš ƒöŕ Ann ·"),
        "{}",
        pseudo[0].1
    );
    let plan = repo.run(&["plan", "--format", "json"]);
    plan.success();
    let text = plan.stdout.clone();
    assert!(
        text.contains("inbox/ru"),
        "the plan lists the real units: {text}"
    );
    assert!(!text.contains("en-XA"), "{text}");
    // Declared by hand, it stops validate (and so plan and apply).
    repo.file(
        "campaigns/inbox.yaml",
        &campaign(5).replace("  ru:\n", "  en-XA:\n    audience: { tag: [qa] }\n  ru:\n"),
    );
    repo.run(&["plan"])
        .failure()
        .stderr_has(&["`en-XA` is the pseudo-locale"]);
}

#[test]
fn the_readme_shows_l10n_status_and_export_of_this_repository_as_printed() {
    let readme = fs::read_to_string(crate::support::sample_repo().join("README.md")).unwrap();
    let status = crate::support::pushform(&crate::support::sample_repo(), &["l10n", "status"]);
    status.success();
    assert!(
        readme.contains(&format!("$ pushform l10n status\n{}```", status.stdout)),
        "README's status of this repository differs from:\n{}",
        status.stdout
    );
    let export = crate::support::pushform(
        &crate::support::sample_repo(),
        &["l10n", "export", "--locale", "en"],
    );
    export.success();
    let head: String = export
        .stdout
        .lines()
        .take(11)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        readme.contains(&head),
        "README's export excerpt differs from:\n{head}"
    );
}

#[test]
fn an_imported_target_language_that_is_not_a_tag_writes_nothing() {
    let repo = repo(5);
    repo.run(&[
        "l10n", "export", "--locale", "ru", "--format", "po", "-o", "ru.po",
    ])
    .success();
    let po = fs::read_to_string(repo.path().join("ru.po")).unwrap();
    fs::write(
        repo.path().join("ru.po"),
        po.replace("\"Language: ru\\n\"", "\"Language: ../../evil\\n\""),
    )
    .unwrap();
    repo.run(&["l10n", "import", "ru.po"])
        .failure()
        .stderr_has(&["`../../evil` (the target language of ru.po) is not a locale tag"]);
    assert!(!repo.path().join("evil.yaml").exists());
}
