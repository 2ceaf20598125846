//! A pull request is untrusted input: each test builds a hostile repository in a temp dir (links
//! out of it, loops, FIFOs, templates that loop or grow, alias bombs spread over many files,
//! escape sequences, odd config and environment) and shows that pushform refuses it by name,
//! quickly, without reading or echoing what it must not.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use pushform::emulator::{Emulator, EmulatorConfig};

use super::support::{Repo, Run, campaign, files_below, pushform_with};

const SECRET: &str = "Hx7-APP-SECRET-must-never-leave";
const ENV_MARKER: &str = "env-marker-5b1e0c9d";
const FILE_MARKER: &str = "outside-file-marker-a41f";
const NOW: &str = "2026-11-26T06:00:00Z";

#[track_caller]
fn assert_never_shown(run: &Run, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "{secret} leaked\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// A file outside the repository, holding the marker.
fn outside() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("secret.txt");
    fs::write(&path, format!("{FILE_MARKER}\n")).expect("write");
    (dir, path)
}

#[test]
fn templates_linked_outside_the_repository_are_refused_and_never_read() {
    let (_outside, outside_file) = outside();
    let emu = Emulator::start(EmulatorConfig {
        app_secret: SECRET.to_owned(),
        ..EmulatorConfig::new(pushform::validate::check_json_body)
    })
    .expect("emulator");
    let repo = Repo::new();
    fs::create_dir_all(repo.path().join("templates")).expect("templates/");
    symlink(
        "/proc/self/environ",
        repo.path().join("templates/banner.txt"),
    )
    .expect("link");
    symlink(&outside_file, repo.path().join("templates/footer.txt")).expect("link");
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", "{alert: \"Hi {% include 'banner.txt' %}\"}"),
    )
    .file(
        "campaigns/b.yaml",
        &campaign("b", "{alert: \"{% import 'footer.txt' as f %}x\"}"),
    );
    let url = emu.base_url();
    let env = [
        ("PUSHFORM_TEST_MARKER", ENV_MARKER),
        ("RONGCLOUD_APP_KEY", "test-key"),
        ("RONGCLOUD_APP_SECRET", SECRET),
        ("PUSHFORM_ENDPOINT", url.as_str()),
        ("PUSHFORM_NOW", NOW),
    ];
    for args in [
        &["validate"][..],
        &["render"],
        &["plan"],
        &["plan", "--format", "markdown"],
        &["apply", "--auto-approve"],
    ] {
        let run = pushform_with(repo.path(), &env, args);
        run.failure().stderr_has(&[
            "templates/banner.txt leads outside the repository",
            "templates/footer.txt leads outside the repository",
        ]);
        assert_never_shown(&run, &[ENV_MARKER, SECRET, FILE_MARKER]);
    }
    assert_eq!(emu.requests(), 0, "nothing was sent");
    for file in files_below(repo.path()) {
        let text = fs::read_to_string(repo.path().join(&file)).unwrap_or_default();
        assert!(
            !text.contains(ENV_MARKER) && !text.contains(SECRET) && !text.contains(FILE_MARKER),
            "{} holds what it must not",
            file.display()
        );
    }
}

/// Plants a link in a repository.
type Plant<'a> = &'a dyn Fn(&Path);

#[test]
fn campaign_folders_files_and_config_linked_outside_are_refused() {
    let (outside_dir, outside_file) = outside();
    fs::write(
        outside_dir.path().join("c.yaml"),
        campaign("c", &format!("{{alert: {FILE_MARKER}}}")),
    )
    .expect("write");
    let cases: [(&str, Plant); 3] = [
        ("campaigns/team", &|root: &Path| {
            symlink(outside_dir.path(), root.join("campaigns/team")).expect("link");
        }),
        ("campaigns/c.yaml", &|root: &Path| {
            symlink(
                outside_dir.path().join("c.yaml"),
                root.join("campaigns/c.yaml"),
            )
            .expect("link");
        }),
        ("pushform.yaml", &|root: &Path| {
            symlink(&outside_file, root.join("pushform.yaml")).expect("link");
        }),
    ];
    for (name, plant) in cases {
        let repo = Repo::new();
        repo.file("campaigns/a.yaml", &campaign("a", "{alert: hi}"));
        plant(repo.path());
        let run = pushform_with(repo.path(), &[], &["validate"]);
        run.failure()
            .stderr_has(&[&format!("{name} leads outside the repository")]);
        assert_never_shown(&run, &[FILE_MARKER]);
    }
}

#[test]
fn links_that_stay_inside_the_repository_keep_working() {
    let repo = Repo::new();
    repo.file("common/banner.txt", "from inside")
        .file("templates/locales/en.yaml", "hello: Hello\n")
        .file(
            "elsewhere/a.yaml",
            &campaign("a", "{alert: \"{% include 'banner.txt' %}\"}"),
        );
    symlink(
        "../common/banner.txt",
        repo.path().join("templates/banner.txt"),
    )
    .expect("link");
    symlink("../elsewhere", repo.path().join("campaigns/linked")).expect("link");
    let run = pushform_with(repo.path(), &[], &["render", "--format", "json"]);
    run.success();
    assert_eq!(
        run.json()[0]["body"]["notification"]["alert"],
        "from inside"
    );
}

#[test]
fn a_folder_link_loop_is_an_error_not_an_endless_walk() {
    let repo = Repo::new();
    repo.file("campaigns/x/a.yaml", &campaign("a", "{alert: hi}"));
    symlink("..", repo.path().join("campaigns/x/up")).expect("link");
    let started = Instant::now();
    pushform_with(repo.path(), &[], &["validate"])
        .failure()
        .stderr_has(&[
            "campaigns/x/up",
            "loops back into a folder that contains it",
        ]);
    assert!(started.elapsed() < Duration::from_secs(20));

    // Two links that point at each other: the OS reports the loop.
    let repo = Repo::new();
    symlink("b", repo.path().join("campaigns/a")).expect("link");
    symlink("a", repo.path().join("campaigns/b")).expect("link");
    pushform_with(repo.path(), &[], &["validate"])
        .failure()
        .stderr_has(&["cannot read campaigns/"]);
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
}

#[test]
fn fifos_are_refused_without_hanging() {
    let repo = Repo::new();
    fs::create_dir_all(repo.path().join("templates")).expect("templates/");
    mkfifo(&repo.path().join("templates/pipe.txt"));
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", "{alert: \"{% include 'pipe.txt' %}\"}"),
    );
    // Killed after 60 s by the harness: before the fix, opening the FIFO waited for a writer.
    pushform_with(repo.path(), &[], &["validate"])
        .failure()
        .stderr_has(&[
            "push.notification.alert",
            "templates/pipe.txt is not a regular file",
        ]);

    let repo = Repo::new();
    mkfifo(&repo.path().join("campaigns/b.yaml"));
    pushform_with(repo.path(), &[], &["validate"])
        .failure()
        .stderr_has(&["campaigns/b.yaml is not a regular file"]);
}

#[test]
fn templates_that_loop_or_grow_are_stopped_by_fuel_and_size_caps() {
    let repo = Repo::new();
    repo.file(
        "campaigns/loops.yaml",
        &campaign(
            "loops",
            "{alert: \"{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}\"}",
        ),
    )
    .file(
        "campaigns/doubling.yaml",
        &campaign(
            "doubling",
            "{alert: \"{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}\"}",
        ),
    )
    .file(
        "campaigns/repeat.yaml",
        &campaign("repeat", "{alert: \"{{ 'x' * 60000000 }}\"}"),
    )
    .file(
        "campaigns/wide.yaml",
        &campaign("wide", "{alert: \"{{ 'x' * 200000 }}\"}"),
    );
    let started = Instant::now();
    let run = pushform_with(repo.path(), &[], &["validate"]);
    run.failure();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let lines = run.finding_lines();
    let line_of = |unit: &str| {
        lines
            .iter()
            .find(|l| l.ends_with(&format!("[{unit}]")))
            .unwrap_or_else(|| panic!("no finding for {unit}:\n{}", run.stderr))
            .to_string()
    };
    assert!(
        line_of("loops")
            .contains("push.notification.alert: template error: engine ran out of fuel")
    );
    assert!(line_of("doubling").contains("push.notification.alert"));
    assert!(line_of("repeat").contains("push.notification.alert"));
    assert!(
        line_of("wide").contains(
            "push.notification.alert: renders to 200000 bytes; one string may render to at most 131072 bytes"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn alerts_too_large_for_apns_and_fcm_fail_validate() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", &format!("{{alert: {}}}", "x".repeat(5000))),
    );
    pushform_with(repo.path(), &[], &["validate"])
        .failure()
        .stderr_has(&[
            "push.notification.alert: makes the Android notification 5025 bytes",
            "FCM and the vendor channels carry at most 4096 bytes",
            "push.notification.alert: makes the iOS notification 5021 bytes",
            "APNs carry at most 4096 bytes",
        ]);

    // 60 MB: refused by its size, before it is even parsed.
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign("a", &format!("{{alert: {}}}", "x".repeat(60 * 1024 * 1024))),
    );
    pushform_with(repo.path(), &[], &["validate"])
        .failure()
        .stderr_has(&[
            "campaigns/a.yaml is 62914",
            "pushform reads files of at most 1048576 bytes (1 MiB)",
        ]);
}

/// A campaign whose `vars` expand a 64 KiB string 700 times through aliases (10 × 10 × 7):
/// ~45 MB, well within every per-file limit.
fn alias_heavy(id: &str) -> String {
    format!(
        "id: {id}\nvars:\n  s: &s {}\n  a: &a [{}]\n  b: &b [{}]\n  c: [{}]\n{}",
        "y".repeat(64 * 1024),
        ["*s"; 10].join(", "),
        ["*a"; 10].join(", "),
        ["*b"; 7].join(", "),
        campaign(id, "{alert: hi}")
            .split_once('\n')
            .map(|(_, rest)| rest)
            .unwrap_or_default()
    )
}

#[test]
fn the_yaml_alias_budget_is_per_run_not_per_file() {
    let repo = Repo::new();
    repo.file("campaigns/c0.yaml", &alias_heavy("c0"));
    pushform_with(repo.path(), &[], &["validate"]).success();
    for i in 1..4 {
        repo.file(
            &format!("campaigns/c{i}.yaml"),
            &alias_heavy(&format!("c{i}")),
        );
    }
    pushform_with(repo.path(), &[], &["validate"])
        .failure()
        .stderr_has(&["expands to more than pushform's budget of 2000000 values per run"]);
}

#[test]
fn a_blank_endpoint_is_an_error_never_a_fall_back() {
    let repo = Repo::new();
    // Were the blank value ignored, this dead loopback endpoint (never the real provider)
    // would be tried instead, with another message.
    repo.file(
        "pushform.yaml",
        "api: {endpoints: ['http://127.0.0.1:9']}\n",
    )
    .file("campaigns/a.yaml", &campaign("a", "{alert: hi}"));
    for blank in ["", "  "] {
        let run = pushform_with(
            repo.path(),
            &[
                ("PUSHFORM_ENDPOINT", blank),
                ("RONGCLOUD_APP_KEY", "k"),
                ("RONGCLOUD_APP_SECRET", "s"),
                ("PUSHFORM_NOW", NOW),
            ],
            &["apply", "--auto-approve"],
        );
        run.failure()
            .stderr_has(&["PUSHFORM_ENDPOINT / --endpoint: no endpoint given"]);
    }
}

#[test]
fn credentials_with_surrounding_whitespace_are_refused_by_name() {
    let repo = Repo::new();
    repo.file(
        "pushform.yaml",
        "api: {endpoints: ['http://127.0.0.1:9']}\n",
    )
    .file("campaigns/a.yaml", &campaign("a", "{alert: hi}"));
    for (key, secret, name) in [
        ("k", "secret-value\n", "RONGCLOUD_APP_SECRET"),
        (" k", "secret-value", "RONGCLOUD_APP_KEY"),
    ] {
        let run = pushform_with(
            repo.path(),
            &[
                ("RONGCLOUD_APP_KEY", key),
                ("RONGCLOUD_APP_SECRET", secret),
                ("PUSHFORM_NOW", NOW),
            ],
            &["apply", "--auto-approve"],
        );
        run.failure().stderr_has(&[&format!(
            "the environment variable {name} has spaces or a line break"
        )]);
        assert_never_shown(&run, &["secret-value"]);
    }
}

#[test]
fn numbers_keep_the_spelling_they_were_written_with() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &format!(
            "vars: {{code: 007, n: 12, f: 1.5, big: 1_000}}\n{}",
            campaign(
                "a",
                "{alert: \"{{ code }} {{ n }} {{ f }} {{ big }}\", title: 007}"
            )
        ),
    );
    let run = pushform_with(repo.path(), &[], &["render", "--format", "json"]);
    run.success();
    let notification = &run.json()[0]["body"]["notification"];
    assert_eq!(notification["alert"], "007 12 1.5 1_000");
    assert_eq!(notification["title"], "007");
}

#[test]
fn control_characters_are_escaped_in_every_human_output() {
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign(
            "a",
            r#"{title: "Sale\e]0;owned\a\e[2J", alert: "hi\rgone"}"#,
        ),
    );
    let env = [("PUSHFORM_NOW", NOW)];
    let mut runs = vec![
        pushform_with(repo.path(), &env, &["plan"]),
        pushform_with(repo.path(), &env, &["plan", "--all", "-v"]),
        pushform_with(repo.path(), &env, &["plan", "--format", "markdown"]),
    ];
    assert!(
        runs[0].stdout.contains(r"Sale\u{1b}]0;owned\u{7}\u{1b}[2J"),
        "{}",
        runs[0].stdout
    );
    repo.init_state();
    let import = pushform_with(
        repo.path(),
        &env,
        &[
            "state",
            "import",
            "a",
            "--sent-at",
            "2026-11-26T05:00:00Z",
            "--push-id",
            "id\u{1b}[2J\u{1b}]0;owned\u{7}",
        ],
    );
    import.success();
    runs.push(pushform_with(repo.path(), &env, &["state", "list"]));
    runs.push(pushform_with(repo.path(), &env, &["state", "show", "a"]));
    runs.push(pushform_with(repo.path(), &env, &["plan", "--all"]));
    assert!(
        runs.iter().any(|r| r.stdout.contains(r"id\u{1b}[2J")),
        "the push id is shown, escaped"
    );
    for run in runs {
        for text in [&run.stdout, &run.stderr] {
            assert!(
                !text
                    .chars()
                    .any(|c| c.is_control() && c != '\n' && c != '\t'),
                "a raw control character:\n{text:?}"
            );
        }
    }
}

#[test]
fn times_out_of_range_are_refused_at_input() {
    let repo = Repo::new();
    repo.file("campaigns/a.yaml", &campaign("a", "{alert: hi}"));
    for now in ["9999-12-31T23:00:00Z", "1969-12-31T23:59:59Z"] {
        pushform_with(repo.path(), &[("PUSHFORM_NOW", now)], &["plan"])
            .failure()
            .stderr_has(&["PUSHFORM_NOW / --now", "is out of range"]);
    }
    assert!(!repo.path().join("pushform.lock").exists());
}

#[test]
fn validate_checks_the_data_center_and_the_timeout() {
    let repo = Repo::new();
    repo.file(
        "pushform.yaml",
        "api: {data_center: mars, timeout_secs: 0}\n",
    )
    .file("campaigns/a.yaml", &campaign("a", "{alert: hi}"));
    pushform_with(repo.path(), &[], &["validate"])
        .failure()
        .stderr_has(&[
            "pushform.yaml: api.data_center: `mars` is not a data center",
            "pushform.yaml: api.timeout_secs: must be between 1 and 3600 seconds, not 0",
        ]);
}

#[test]
fn many_leaves_that_each_loop_share_one_budget_per_push() {
    // 300 leaves that each loop until their own fuel runs out: the push's budget stops them
    // after a few, instead of running all 300 to exhaustion.
    let extras: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "k{i}: \"{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}\""
            )
        })
        .collect();
    let repo = Repo::new();
    repo.file(
        "campaigns/a.yaml",
        &campaign(
            "a",
            &format!("{{alert: hi, ios: {{extras: {{{}}}}}}}", extras.join(", ")),
        ),
    );
    let run = pushform_with(repo.path(), &[], &["validate"]);
    run.failure();
    let lines = run.finding_lines();
    let out_of_fuel = lines
        .iter()
        .filter(|l| l.contains("engine ran out of fuel"))
        .count();
    let unit_budget = lines
        .iter()
        .filter(|l| l.contains("the templates of this push need more than 2000000 fuel"))
        .count();
    assert!(
        (1..=11).contains(&out_of_fuel),
        "{out_of_fuel}\n{}",
        run.stderr
    );
    assert_eq!(unit_budget, 1, "{}", run.stderr);
}

#[test]
fn a_template_that_crashes_the_template_engine_is_an_error_not_a_panic() {
    // Found by `props::mutated_campaign_files_never_panic`: minijinja 3.1 reaches `unreachable!`
    // compiling an import whose target is an expression. A pull request must not crash pushform.
    let repo = Repo::new();
    repo.file("templates/macros.j2", "{% macro f() %}x{% endmacro %}")
        .file(
            "campaigns/a.yaml",
            &campaign(
                "a",
                "{title: T, alert: \"{% import 'macros.j2' as m*a %}x\"}",
            ),
        );
    let run = pushform_with(repo.path(), &[], &["validate"]);
    run.code(1);
    assert!(
        run.stderr
            .contains("campaigns/a.yaml:5: push.notification.alert: template error"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn a_broken_pushform_yaml_is_reported_by_every_command_that_reads_it() {
    let repo = Repo::new();
    repo.file("campaigns/a.yaml", &campaign("a", "{alert: hi}"))
        .file("pushform.yaml", "quota:\n  per_hour: [2\n");
    let env = [("PUSHFORM_NOW", NOW)];
    // Each names the file (the ones that render list it as a finding, "No plan: …" after).
    for args in [
        &["validate"][..],
        &["render"],
        &["plan"],
        &["preview"],
        &["apply", "--auto-approve"],
        &["send-test", "a", "--to", "u1", "--auto-approve"],
        &["quota"],
        &["state", "list"],
        &["state", "show", "a"],
        &["state", "init"],
        &["state", "pull"],
        &["state", "resolve", "a", "--sent"],
        &["state", "forget-rehearsals"],
        &["state", "unlock", "0123456789ab"],
        &["l10n", "status"],
    ] {
        let run = pushform_with(repo.path(), &env, args);
        run.failure().stderr_has(&["pushform.yaml"]);
        assert!(!run.stderr.contains("panicked"), "{args:?}: {}", run.stderr);
    }
    // The edits about one unit refuse before touching the state, and say where to look.
    for args in [
        &["state", "import", "a", "--sent-at", "2026-11-26T05:00:00Z"][..],
        &["state", "accept", "a"],
    ] {
        pushform_with(repo.path(), &env, args)
            .failure()
            .stderr_has(&["the campaigns have errors", "pushform validate"]);
    }
    assert!(
        !repo.path().join("pushform.lock").exists(),
        "no command wrote a state with the default config"
    );
}
