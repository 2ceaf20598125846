//! The plan workflows build the preview, keep it as an artifact, link it from the comment with
//! the commit planned, and compare the plan with one of the base branch (`PUSHFORM_COMPARE_TO`).
//! (`team::workflows` runs every `pushform` line of them; this checks the wiring around them.)

use std::fs;

use serde_json::Value;

use crate::support::{Pushform, sample_repo};
use crate::team::{sample_copy, yaml_value};

use super::NOW;

fn step_index(steps: &[Value], name: &str) -> usize {
    steps
        .iter()
        .position(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step `{name}`"))
}

#[test]
fn github_plans_the_base_builds_uploads_and_links_the_preview_before_commenting() {
    let workflow = yaml_value(&sample_repo().join("examples/github-actions/pushform-plan.yml"));
    let steps = workflow["jobs"]["plan"]["steps"].as_array().unwrap();
    let base = step_index(steps, "Plan the base branch");
    let plan = steps.iter().position(|s| s["id"] == "plan").unwrap();
    let build = step_index(steps, "Build the preview");
    let upload = step_index(steps, "Upload the preview");
    let link = step_index(steps, "Link the preview and name the commit in the comment");
    let comment = step_index(steps, "Post or update the plan comment");
    assert!(base < plan && plan < build && build < upload && upload < link && link < comment);

    let base_run = steps[base]["run"].as_str().unwrap();
    assert!(base_run.contains("pushform plan --out \"$RUNNER_TEMP/base-plan.json\""));
    assert!(
        base_run.contains("PUSHFORM_COMPARE_TO=$RUNNER_TEMP/base-plan.json\" >> \"$GITHUB_ENV\"")
    );
    assert_eq!(steps[build]["run"], "pushform preview --out preview");
    assert!(
        steps[upload]["uses"]
            .as_str()
            .unwrap()
            .starts_with("actions/upload-artifact@")
    );
    assert_eq!(steps[upload]["with"]["path"], "preview/");
    assert_eq!(
        steps[link]["env"]["PREVIEW_URL"],
        "${{ steps.preview-upload.outputs.artifact-url }}"
    );
    let link_run = steps[link]["run"].as_str().unwrap();
    for needle in ["$PREVIEW_URL", "${HEAD_SHA}", ">> plan.md"] {
        assert!(link_run.contains(needle), "the link step lacks {needle}");
    }
}

#[test]
fn gitlab_plans_the_target_keeps_the_preview_and_links_it_in_the_note() {
    let pipeline = yaml_value(&sample_repo().join("examples/gitlab-ci/.gitlab-ci.yml"));
    let job = &pipeline["pushform-plan"];
    let script: Vec<&str> = job["script"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let all = script.join("\n");
    let at = |needle: &str| {
        all.find(needle)
            .unwrap_or_else(|| panic!("the plan job lacks {needle}"))
    };
    assert!(at("export PUSHFORM_COMPARE_TO=") < at("pushform plan --format markdown"));
    assert!(at("pushform preview --out preview") < at("cat preview-link.md >> plan.md"));
    assert!(at("artifacts/file/preview/index.html") < at("cat preview-link.md >> plan.md"));
    assert!(at("$CI_COMMIT_SHA") < at("cat preview-link.md >> plan.md"));
    assert!(at("cat preview-link.md >> plan.md") < at("PRIVATE-TOKEN"));
    let paths = job["artifacts"]["paths"].as_array().unwrap();
    assert!(paths.contains(&Value::from("preview/")), "{paths:?}");
}

#[test]
fn the_plan_comment_compares_with_the_base_plan_named_in_the_environment() {
    let repo = sample_copy();
    Pushform::new(repo.path())
        .args(&["plan", "--out", "base-plan.json"])
        .env("PUSHFORM_NOW", NOW)
        .assert()
        .success();
    fs::write(
        repo.path().join("campaigns/student/quiz-night.yaml"),
        "id: quiz-night-2026-11\npush:\n  audience: {packageName: com.example.student, is_to_all: false}\n  notification: {title: 学习通, alert: 今晚八点知识竞赛，快来参加！}\n",
    )
    .unwrap();
    let output = Pushform::new(repo.path())
        .args(&["plan", "--format", "markdown", "--detailed-exitcode"])
        .env("PUSHFORM_NOW", NOW)
        .env("PUSHFORM_COMPARE_TO", "base-plan.json")
        .output();
    assert_eq!(output.status.code(), Some(2));
    let comment = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "- adds `quiz-night-2026-11` at 2026-11-26 16:00:00 +08:00\n",
        "- moves `grading-week-2026/zh-CN` from 2026-11-26 16:00:00 +08:00 to 2026-11-27 09:00:00 +08:00 (+17h)\n",
    ] {
        assert!(comment.contains(needle), "lacks {needle:?}:\n{comment}");
    }
}
