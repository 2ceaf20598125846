//! The README is part of the product: its links must work from a checkout (no link out of the
//! repository), its install line must be the reproducible one, and the errors it shows must be
//! what pushform really prints, so each example is re-made here from the sample repository.

use std::fs;

use crate::support::{Repo, copy_sample, sample_repo};

fn readme() -> String {
    fs::read_to_string(sample_repo().join("README.md")).expect("README.md")
}

/// The targets of `[text](target)` links that point into the repository.
fn relative_links(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        let external = ["http://", "https://", "mailto:", "#"]
            .iter()
            .any(|p| target.starts_with(p));
        if !external && !target.is_empty() {
            out.push(target.split('#').next().unwrap_or(target).to_owned());
        }
    }
    out
}

#[test]
fn every_relative_link_resolves_inside_the_checkout() {
    let text = readme();
    let links = relative_links(&text);
    assert!(!links.is_empty(), "the README links to its examples");
    let root = sample_repo();
    for link in &links {
        assert!(
            !link.starts_with("../") && !link.starts_with('/'),
            "{link}: points out of the repository"
        );
        assert!(
            root.join(link).exists(),
            "{link}: no such file in the checkout"
        );
    }
    // The design notes beside the repository are not shipped: no link may lead out to them.
    let outside = ["..", "shared"].join("/");
    assert!(!text.contains(&outside), "{outside} is not shipped");
    assert!(!text.contains("DESIGN.md"), "DESIGN.md is not shipped");
}

#[test]
fn install_is_locked_and_the_first_build_time_is_stated() {
    let text = readme();
    assert!(text.contains("cargo install --locked --path ."));
    assert!(
        !text.contains("cargo install --path"),
        "every install line is --locked"
    );
    // The figure measured for the release profile on an idle machine (BENCHMARKS.md, round 4),
    // and where the slower whole-program build went.
    assert!(text.contains("about 2½ minutes"));
    assert!(text.contains("--profile dist"));
}

/// A copy of the sample campaign repository with `edits` applied: (file, from, to), each `from`
/// replaced once.
fn sample_with(edits: &[(&str, &str, &str)]) -> Repo {
    let repo = Repo::new();
    copy_sample(repo.path());
    for (file, from, to) in edits {
        let path = repo.path().join(file);
        let text = fs::read_to_string(&path).expect("sample file");
        assert!(text.contains(from), "{file} lacks {from:?}");
        fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }
    repo
}

#[track_caller]
fn shown_in_readme(repo: &Repo) {
    let run = repo.run(&["validate"]);
    run.failure();
    let example = format!("$ pushform validate\n{}```", run.stderr);
    assert!(
        readme().contains(&example),
        "the README does not show this real output:\n{}",
        run.stderr
    );
}

#[test]
fn the_readme_shows_a_typo_and_a_missing_translation_as_validate_prints_them() {
    shown_in_readme(&sample_with(&[
        (
            "campaigns/student/exam-reminder.yaml",
            "      alert: \"Finals",
            "      body: \"Finals",
        ),
        (
            "campaigns/student/winter-sale-2026.yaml",
            "    title: \"{{ t.title }}\"",
            "    titel: \"{{ t.title }}\"",
        ),
    ]));
}

#[test]
fn the_readme_shows_misspelt_variables_as_validate_prints_them() {
    shown_in_readme(&sample_with(&[
        (
            "campaigns/teacher/grading-week.yaml",
            "{{ deadline_en }}",
            "{{ dealine_en }}",
        ),
        (
            "campaigns/student/winter-sale-2026.yaml",
            "m.percent_off(discount, locale) }} everything",
            "m.percent_off(discont, locale) }} everything",
        ),
    ]));
}
