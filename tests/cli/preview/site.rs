//! The site `pushform preview` writes, checked as files.

use std::fs;

use crate::support::{Repo, campaign, files_below};
use crate::team::sample_copy;

use super::{NOW, references};

#[test]
fn the_sample_preview_has_an_index_a_page_per_campaign_and_is_deterministic() {
    let repo = sample_copy();
    let run = crate::support::pushform(repo.path(), &["--now", NOW, "preview"]);
    run.success();
    assert!(
        run.stderr
            .contains("Wrote the preview of 8 units to preview"),
        "{}",
        run.stderr
    );
    let site = repo.path().join("preview");
    let names: Vec<String> = files_below(&site)
        .iter()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect();
    assert_eq!(
        names,
        [
            ".pushform-preview",
            "index.html",
            "style.css",
            "units/exam-reminder-2026-12.html",
            "units/grading-week-2026.html",
            "units/maintenance-2026-12-06.html",
            "units/winter-sale-2026.html",
        ]
    );
    let index = fs::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains("Plan: 2 to send now, 6 scheduled, 0 expired, 0 errors."));
    assert!(index.contains("id=\"day-2026-11-27\""));
    let grading = fs::read_to_string(site.join("units/grading-week-2026.html")).unwrap();
    for locale in ["zh-CN", "zh-TW", "en"] {
        assert!(grading.contains(&format!("lang=\"{locale}\"")), "{locale}");
    }
    assert!(grading.contains("期末成績錄入已開放"));

    // A second run into another folder writes the same bytes.
    let again = crate::support::pushform(repo.path(), &["--now", NOW, "preview", "-o", "again"]);
    again.success();
    for name in files_below(&site) {
        assert_eq!(
            fs::read(site.join(&name)).unwrap(),
            fs::read(repo.path().join("again").join(&name)).unwrap(),
            "{} differs between two runs",
            name.display()
        );
    }
}

#[test]
fn no_page_references_anything_but_the_site_itself() {
    let repo = sample_copy();
    // Rich media and vendor images, and text that tries to add markup.
    fs::write(
        repo.path().join("campaigns/hostile.yaml"),
        "id: hostile\npush:\n  audience: {packageName: com.example, is_to_all: false}\n  notification:\n    title: \"<script src=https://evil.example/x.js></script>\"\n    alert: \"<img src='https://evil.example/i.png'> <link rel=stylesheet href=//evil.example/s.css>\"\n    ios: {richMediaUri: 'https://cdn.example.com/a.png', category: img}\n    android: {hw: {image: 'https://cdn.example.com/b.png'}}\n",
    )
    .unwrap();
    crate::support::pushform(repo.path(), &["--now", NOW, "preview"]).success();
    let site = repo.path().join("preview");
    let mut checked = 0;
    for name in files_below(&site) {
        let text = fs::read_to_string(site.join(&name)).unwrap();
        let lower = text.to_ascii_lowercase();
        for tag in ["<script", "<img", "<link rel=stylesheet href=//", "@import"] {
            assert!(!lower.contains(tag), "{} contains {tag}", name.display());
        }
        for target in references(&text) {
            let path = target.split('#').next().unwrap();
            assert!(
                !target.contains(':') && !target.starts_with("//"),
                "{} references {target}",
                name.display()
            );
            // Every link resolves to a file of the site.
            if !path.is_empty() {
                let from = site.join(&name);
                let resolved = from.parent().unwrap().join(path);
                assert!(
                    resolved.exists(),
                    "{}: {target} does not exist",
                    name.display()
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked > 20,
        "only {checked} references found: the parser is broken"
    );
    let hostile = fs::read_to_string(site.join("units/hostile.html")).unwrap();
    assert!(hostile.contains("&lt;script src=https://evil.example/x.js&gt;&lt;/script&gt;"));
    assert!(hostile.contains("image from android.hw.image (not loaded)"));
}

#[test]
fn a_changed_unit_shows_the_body_that_was_sent_beside_the_new_one() {
    let repo = Repo::new();
    repo.file(
        "campaigns/sale.yaml",
        &campaign("sale", "{title: Sale, alert: \"Now 30% off\"}"),
    );
    repo.init_state();
    repo.run(&[
        "state",
        "import",
        "sale",
        "--sent-at",
        "2026-11-25T10:00:00+08:00",
    ])
    .success();
    repo.file(
        "campaigns/sale.yaml",
        &campaign("sale", "{title: Sale, alert: \"Now 40% off\"}"),
    );
    repo.run(&["--now", NOW, "preview"]).success();
    let page = fs::read_to_string(repo.path().join("preview/units/sale.html")).unwrap();
    let sent = page.find("default locale: as sent").expect("a sent column");
    let new = page.find("default locale: new").expect("a new column");
    assert!(sent < new);
    assert!(page.contains(">Now 30% off<") && page.contains(">Now 40% off<"));
    // The recorded send is on the timeline of its day only if it is today; the index says why
    // this unit will not go out.
    let index = fs::read_to_string(repo.path().join("preview/index.html")).unwrap();
    assert!(index.contains("changed after sending: apply is blocked"));
}

#[test]
fn keys_select_the_pages_and_a_foreign_folder_is_never_written() {
    let repo = sample_copy();
    let run = crate::support::pushform(
        repo.path(),
        &["--now", NOW, "preview", "winter-sale-2026/en"],
    );
    run.success();
    let site = repo.path().join("preview");
    assert!(site.join("units/winter-sale-2026.html").exists());
    assert!(!site.join("units/grading-week-2026.html").exists());
    // The timeline still shows the whole plan: the quota is shared.
    let index = fs::read_to_string(site.join("index.html")).unwrap();
    assert!(index.contains("grading-week-2026/en"));

    // A later run replaces the pages of the earlier one.
    crate::support::pushform(repo.path(), &["--now", NOW, "preview", "grading-week-2026"])
        .success();
    assert!(!site.join("units/winter-sale-2026.html").exists());
    assert!(site.join("units/grading-week-2026.html").exists());

    fs::create_dir(repo.path().join("docs")).unwrap();
    fs::write(repo.path().join("docs/notes.md"), "mine").unwrap();
    crate::support::pushform(repo.path(), &["--now", NOW, "preview", "-o", "docs"])
        .failure()
        .stderr_has(&["was not written by `pushform preview`"]);
    assert_eq!(
        fs::read_to_string(repo.path().join("docs/notes.md")).unwrap(),
        "mine"
    );

    crate::support::pushform(repo.path(), &["preview", "no-such-campaign"])
        .failure()
        .stderr_has(&["no campaign or unit `no-such-campaign`"]);
}
