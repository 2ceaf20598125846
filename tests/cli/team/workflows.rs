//! The CI workflow examples: valid YAML with the keys GitHub Actions and GitLab CI require, the
//! safety settings of the apply jobs, and every `pushform …` line in them run for real against a
//! copy of the sample repository (apply against an in-process emulator with dummy credentials).

use std::path::Path;

use chrono::DateTime;
use clap::Parser;
use serde_json::Value;

use pushform::emulator::{Emulator, EmulatorConfig};

use super::{NOW, sample_copy, sample_copy_without_state, yaml_value};
use crate::support::{Pushform, sample_repo};

const GITHUB_PLAN: &str = "examples/github-actions/pushform-plan.yml";
const GITHUB_APPLY: &str = "examples/github-actions/pushform-apply.yml";
const GITLAB: &str = "examples/gitlab-ci/.gitlab-ci.yml";

/// GitLab's top-level keywords; every other key not starting with `.` is a job.
const GITLAB_KEYWORDS: [&str; 11] = [
    "default",
    "include",
    "stages",
    "variables",
    "workflow",
    "image",
    "services",
    "cache",
    "before_script",
    "after_script",
    "spec",
];

fn load(file: &str) -> Value {
    yaml_value(&sample_repo().join(file))
}

fn github_jobs(workflow: &Value) -> &serde_json::Map<String, Value> {
    workflow["jobs"].as_object().expect("`jobs` is a mapping")
}

fn gitlab_jobs(pipeline: &Value) -> Vec<(&String, &Value)> {
    pipeline
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| !k.starts_with('.') && !GITLAB_KEYWORDS.contains(&k.as_str()))
        .collect()
}

#[test]
fn github_workflows_have_the_required_keys() {
    for file in [GITHUB_PLAN, GITHUB_APPLY] {
        let workflow = load(file);
        assert!(
            workflow.get("on").is_some_and(Value::is_object),
            "{file}: no `on`"
        );
        assert!(workflow["name"].is_string(), "{file}: no `name`");
        let jobs = github_jobs(&workflow);
        assert!(!jobs.is_empty(), "{file}: no jobs");
        for (name, job) in jobs {
            assert!(
                job["runs-on"].is_string(),
                "{file}: job {name} has no `runs-on`"
            );
            let steps = job["steps"]
                .as_array()
                .unwrap_or_else(|| panic!("{file}: job {name} has no `steps`"));
            assert!(!steps.is_empty(), "{file}: job {name} has no steps");
            for step in steps {
                assert!(
                    step.get("uses").is_some() != step.get("run").is_some(),
                    "{file}: job {name}: a step needs exactly one of `uses` and `run`: {step}"
                );
            }
        }
    }
}

#[test]
fn github_plan_runs_on_pull_requests_and_updates_one_comment() {
    let workflow = load(GITHUB_PLAN);
    assert!(workflow["on"].get("pull_request").is_some());
    assert_eq!(workflow["permissions"]["pull-requests"], "write");
    let steps = workflow["jobs"]["plan"]["steps"].as_array().unwrap();
    let script = steps
        .iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/github-script@"))
        })
        .expect("a github-script step posts the comment")["with"]["script"]
        .as_str()
        .unwrap();
    for needle in ["<!-- pushform-plan -->", "updateComment", "createComment"] {
        assert!(script.contains(needle), "the comment script lacks {needle}");
    }
}

#[test]
fn github_apply_is_serialised_hourly_and_leaves_the_state_to_pushform() {
    let workflow = load(GITHUB_APPLY);
    let on = &workflow["on"];
    assert_eq!(on["push"]["branches"], serde_json::json!(["main"]));
    assert_eq!(on["schedule"][0]["cron"], "5 * * * *");
    assert!(on.get("workflow_dispatch").is_some());
    assert_eq!(workflow["permissions"]["contents"], "write");
    let apply = &workflow["jobs"]["apply"];
    let concurrency = apply
        .get("concurrency")
        .or_else(|| workflow.get("concurrency"))
        .expect("apply has a concurrency group");
    assert_eq!(concurrency["group"], "pushform-apply");
    assert_eq!(
        concurrency["cancel-in-progress"], false,
        "a running apply must never be cancelled"
    );
    let steps: Vec<&str> = apply["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect();
    let all = steps.join("\n");
    for needle in ["secrets.RONGCLOUD_APP_KEY", "secrets.RONGCLOUD_APP_SECRET"] {
        assert!(
            apply.to_string().contains(needle),
            "apply does not use {needle}"
        );
    }
    // The state is on the state branch, written by pushform itself: no commit-back step that a
    // lost runner could skip.
    for needle in ["git add", "git commit", "git push", "upload-artifact"] {
        assert!(
            !apply.to_string().contains(needle),
            "the apply job still has a commit-back step ({needle})"
        );
    }
    assert!(all.contains("pushform apply --auto-approve"), "{all}");
    let rehearsal = &workflow["jobs"]["rehearsal"];
    assert!(
        rehearsal["env"]["PUSHFORM_ENDPOINT"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1")
    );
    assert!(
        !rehearsal.to_string().contains("secrets."),
        "the rehearsal must not use real secrets"
    );
}

/// Production behind a GitHub environment (required reviewers) and a GitLab protected one;
/// staging applied by its own job with its own key; the PR plan is production's.
#[test]
fn workflows_apply_staging_and_production_each_in_its_environment() {
    let github = load(GITHUB_APPLY);
    let jobs = github_jobs(&github);
    assert_eq!(jobs["apply"]["environment"], "production");
    assert_eq!(jobs["apply"]["env"]["PUSHFORM_ENV"], "production");
    assert_eq!(jobs["staging"]["environment"], "staging");
    assert_eq!(jobs["staging"]["env"]["PUSHFORM_ENV"], "staging");
    assert!(
        jobs["staging"]
            .to_string()
            .contains("secrets.RONGCLOUD_STAGING_APP_KEY")
    );
    assert_ne!(
        jobs["staging"]["concurrency"]["group"], jobs["apply"]["concurrency"]["group"],
        "staging and production hold different states: one must not wait for the other"
    );
    let plan = load(GITHUB_PLAN).to_string();
    assert!(plan.contains("\"PUSHFORM_ENV\":\"production\""), "{plan}");
    let gitlab = load(GITLAB);
    assert_eq!(
        gitlab["pushform-apply"]["environment"]["name"],
        "production"
    );
    assert_eq!(
        gitlab["pushform-apply"]["variables"]["PUSHFORM_ENV"],
        "production"
    );
    assert_eq!(
        gitlab["pushform-apply-staging"]["environment"]["name"],
        "staging"
    );
    assert_eq!(
        gitlab["pushform-plan"]["variables"]["PUSHFORM_ENV"],
        "production"
    );
    for file in [GITHUB_APPLY, GITLAB] {
        let text = std::fs::read_to_string(sample_repo().join(file)).unwrap();
        assert!(
            text.contains("pushform send-test welcome-2-0/en --env staging --auto-approve"),
            "{file}: no send-test recipe"
        );
    }
}

#[test]
fn gitlab_pipeline_has_the_required_keys() {
    let pipeline = load(GITLAB);
    let stages: Vec<&str> = pipeline["stages"]
        .as_array()
        .expect("`stages` is a list")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let jobs = gitlab_jobs(&pipeline);
    assert!(jobs.len() >= 3, "{jobs:?}");
    for (name, job) in &jobs {
        assert!(job["script"].is_array(), "job {name} has no `script`");
        let stage = job["stage"].as_str().unwrap_or("test");
        assert!(
            stages.contains(&stage),
            "job {name}: stage {stage} is not in `stages`"
        );
    }
    let apply = &pipeline["pushform-apply"];
    assert_eq!(apply["resource_group"], "pushform-apply");
    let script = apply["script"].to_string();
    for needle in ["git add", "git commit", "git push"] {
        assert!(
            !script.contains(needle),
            "the apply job still has a commit-back step ({needle})"
        );
    }
    assert!(script.contains("pushform apply --auto-approve"), "{script}");
    assert!(
        pipeline["pushform-plan"]["script"]
            .to_string()
            .contains("<!-- pushform-plan -->")
    );
}

/// The shell lines of each job: GitHub `run` steps, GitLab `before_script` and `script`.
fn job_scripts(file: &str) -> Vec<(String, Vec<String>)> {
    let doc = load(file);
    let mut out = Vec::new();
    if file == GITLAB {
        for (name, job) in gitlab_jobs(&doc) {
            let mut lines = Vec::new();
            let template = job["extends"].as_str().map(|t| &doc[t]);
            let before = job
                .get("before_script")
                .or_else(|| template.and_then(|t| t.get("before_script")));
            for part in [before, job.get("script")].into_iter().flatten() {
                for entry in part.as_array().unwrap() {
                    lines.extend(entry.as_str().unwrap().lines().map(str::to_owned));
                }
            }
            out.push((name.clone(), lines));
        }
    } else {
        for (name, job) in github_jobs(&doc) {
            let lines = job["steps"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["run"].as_str())
                .flat_map(|run| run.lines().map(str::to_owned))
                .collect();
            out.push((name.clone(), lines));
        }
    }
    out
}

/// Splits a shell line into words (quotes respected), and returns the words of a `pushform`
/// command that starts the line, up to the first redirection or control operator.
fn pushform_command(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in line.trim().chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    if words.first().map(String::as_str) != Some("pushform") {
        return None;
    }
    let end = words
        .iter()
        .position(|w| {
            matches!(w.as_str(), "|" | "||" | "&&" | ";" | "&")
                || w.starts_with('>')
                || w.starts_with("2>")
        })
        .unwrap_or(words.len());
    words.truncate(end);
    Some(words)
}

fn emulator() -> Emulator {
    let emulator = Emulator::start(EmulatorConfig {
        app_key: "rehearsal-key".to_owned(),
        app_secret: "rehearsal-secret".to_owned(),
        ..EmulatorConfig::new(pushform::validate::check_json_body)
    })
    .unwrap();
    let now = DateTime::parse_from_rfc3339(NOW).unwrap();
    emulator.set_now(Some(now.timestamp_millis()));
    emulator
}

/// Runs each job's pushform lines in order, in its own copy of the sample repository, the way
/// CI would; returns the subcommands seen in each job (jobs in name order).
fn run_pushform_lines(file: &str) -> Vec<(String, Vec<String>)> {
    let mut seen = Vec::new();
    for (job, lines) in job_scripts(file) {
        let mut subcommands = Vec::new();
        // A job that creates its own state starts without one; any other finds one (in CI, the
        // state branch that `pushform state init` made once).
        let own_state = lines
            .iter()
            .any(|l| pushform_command(l).is_some_and(|w| w[1..] == ["state", "init"]));
        let repo = if own_state {
            sample_copy_without_state()
        } else {
            sample_copy()
        };
        let emulator = emulator();
        for words in lines.iter().filter_map(|l| pushform_command(l)) {
            let shown = words.join(" ");
            assert!(
                !shown.contains('$'),
                "{file}, job {job}: `{shown}` uses a shell variable; keep pushform lines literal"
            );
            if let Err(e) = pushform::cli::Cli::try_parse_from(&words) {
                panic!("{file}, job {job}: `{shown}` does not parse:\n{e}");
            }
            let subcommand = words[1..]
                .iter()
                .take_while(|w| !w.starts_with('-'))
                .cloned()
                .collect::<Vec<_>>()
                .join(" ");
            run_one(file, &job, &words, repo.path(), &emulator);
            subcommands.push(subcommand);
        }
        if lines
            .iter()
            .any(|l| pushform_command(l).is_some_and(|w| w[1] == "apply"))
        {
            assert_eq!(
                emulator.received().len(),
                2,
                "{file}, job {job}: apply should send the two pushes due at {NOW}"
            );
        }
        seen.push((job, subcommands));
    }
    seen.sort();
    seen
}

fn jobs(expected: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    expected
        .iter()
        .map(|(job, subcommands)| {
            let subcommands = subcommands.iter().map(|s| (*s).to_owned()).collect();
            ((*job).to_owned(), subcommands)
        })
        .collect()
}

fn run_one(file: &str, job: &str, words: &[String], repo: &Path, emulator: &Emulator) {
    let mut cmd = Pushform::new(repo)
        .args(&words[1..])
        .env("PUSHFORM_NOW", NOW);
    if words[1] == "apply" {
        cmd = cmd
            .env("PUSHFORM_ENDPOINT", emulator.base_url())
            .env("RONGCLOUD_APP_KEY", "rehearsal-key")
            .env("RONGCLOUD_APP_SECRET", "rehearsal-secret");
    }
    let output = cmd.output();
    let code = output.status.code();
    let detailed = words.iter().any(|w| w == "--detailed-exitcode");
    let ok = code == Some(0) || (detailed && code == Some(2));
    assert!(
        ok,
        "{file}, job {job}: `{}` exited {code:?}\nstdout:\n{}\nstderr:\n{}",
        words.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

#[test]
fn every_pushform_line_of_the_github_workflows_runs() {
    assert_eq!(
        run_pushform_lines(GITHUB_PLAN),
        jobs(&[("plan", &["validate", "plan", "preview"])])
    );
    assert_eq!(
        run_pushform_lines(GITHUB_APPLY),
        jobs(&[
            ("apply", &["apply", "quota"]),
            ("rehearsal", &["state init", "apply", "state list"]),
            ("staging", &["apply", "quota"]),
        ])
    );
}

#[test]
fn every_pushform_line_of_the_gitlab_pipeline_runs() {
    assert_eq!(
        run_pushform_lines(GITLAB),
        jobs(&[
            ("pushform-apply", &["apply", "quota"]),
            ("pushform-apply-staging", &["apply", "quota"]),
            ("pushform-plan", &["preview", "plan"]),
            ("pushform-rehearsal", &["state init", "apply", "state list"]),
            ("pushform-validate", &["validate"]),
        ])
    );
}

/// pushform is installed from its git repository at a pinned commit (no crates.io release), the
/// placeholders marked as such.
#[test]
fn workflows_install_pushform_from_git_at_a_pinned_commit() {
    for file in [GITHUB_PLAN, GITHUB_APPLY, GITLAB] {
        let text = std::fs::read_to_string(sample_repo().join(file)).unwrap();
        assert!(
            text.contains("cargo install --locked --git \"$PUSHFORM_GIT\" --rev \"$PUSHFORM_REV\""),
            "{file}"
        );
        assert!(
            !text.contains("--version"),
            "{file} still installs a release"
        );
        assert!(
            text.contains("PLACEHOLDER"),
            "{file}: the placeholder is marked"
        );
    }
}

#[test]
fn the_line_splitter_stops_at_shell_operators() {
    let words = |l: &str| pushform_command(l).map(|w| w.join(" "));
    assert_eq!(
        words(
            "  pushform plan --format markdown --detailed-exitcode > plan.md 2> plan.err || code=$?"
        ),
        Some("pushform plan --format markdown --detailed-exitcode".to_owned())
    );
    assert_eq!(
        words("pushform quota || true"),
        Some("pushform quota".to_owned())
    );
    assert_eq!(
        words("pushform -C 'my repo' validate"),
        Some("pushform -C my repo validate".to_owned())
    );
    assert_eq!(words("command -v pushform || cargo install pushform"), None);
    assert_eq!(words("echo pushform plan"), None);
}
