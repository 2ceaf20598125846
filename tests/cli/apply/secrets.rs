//! The App Secret is read from the environment and used only to sign: it appears in no output
//! of any command, verbose or failing, and in no file pushform writes.

use std::fs;
use std::time::Duration;

use pushform::emulator::{Emulator, EmulatorConfig, Fault};

use super::harness::{KEY, Repo, SAMPLE_NOW, dead_endpoint};
use crate::support::{Run, files_below};

const SECRET: &str = "Zq8-SECRET-d41d8cd98f00b204-never-print-me";

#[test]
fn the_app_secret_appears_in_no_output_and_no_file() {
    let repo = Repo::sample();
    let emu = Emulator::start(EmulatorConfig {
        app_secret: SECRET.to_owned(),
        stall: Duration::from_secs(3),
        ..EmulatorConfig::new(pushform::validate::check_json_body)
    })
    .expect("emulator");
    // Every command gets the secret in its environment, as in CI.
    let run_at = |now: &str, endpoint: &str, args: &[&str]| -> Run {
        repo.pushform()
            .endpoint(endpoint)
            .creds(KEY, SECRET)
            .now(now)
            .args(args)
            .run()
    };
    let run = |endpoint: &str, args: &[&str]| run_at(SAMPLE_NOW, endpoint, args);
    let url = emu.base_url();
    let mut runs = vec![
        run(&url, &["validate", "-v"]),
        run(&url, &["render"]),
        run(&url, &["plan", "-v"]),
        run(&url, &["plan", "--format", "json"]),
        run(&url, &["plan", "--format", "markdown"]),
        run(&url, &["plan", "--out", "saved-plan.json", "-v"]),
        run(&url, &["show", "saved-plan.json"]),
    ];
    // A push that goes out but whose answer is lost, so the unknown and resolve paths run too.
    emu.set_fault(Fault::Drop, 1);
    runs.push(run(&url, &["apply", "--auto-approve", "-v"]));
    runs.push(run(&url, &["apply", "--auto-approve", "-v"]));
    let push_id = emu.received()[0].push_id.clone();
    runs.push(run(
        &url,
        &[
            "state",
            "resolve",
            "exam-reminder-2026-12/zh-CN",
            "--sent",
            "--push-id",
            &push_id,
        ],
    ));
    runs.push(run(&url, &["apply", "--auto-approve", "-v"]));
    runs.push(run(&url, &["state", "list"]));
    runs.push(run(&url, &["state", "show", "exam-reminder-2026-12/zh-CN"]));
    runs.push(run(&url, &["quota"]));
    // The next morning more is due. Failing applies: a provider that rejects the signature,
    // nothing listening, a malformed endpoint list (whose error quotes it), and one carrying
    // the secret by mistake as a URL password (refused, and not quoted back).
    let later = "2026-11-27T01:00:00Z";
    let strict = Emulator::start(EmulatorConfig::new(pushform::validate::check_json_body))
        .expect("emulator");
    runs.push(run_at(
        later,
        &strict.base_url(),
        &["apply", "--auto-approve", "-v", "-v"],
    ));
    runs.push(run_at(
        later,
        &dead_endpoint(),
        &["apply", "--auto-approve", "-v"],
    ));
    runs.push(run_at(
        later,
        "http://user@127.0.0.1:1,,",
        &["apply", "--auto-approve", "-v"],
    ));
    runs.push(run_at(
        later,
        &format!("{url},https://pushform:{SECRET}@api-b.example.com"),
        &["apply", "--auto-approve", "-v"],
    ));

    assert_eq!(emu.received().len(), 2, "the sends really happened");
    assert_eq!(
        strict.requests(),
        1,
        "the signature was checked and refused"
    );
    let failed: Vec<i32> = runs.iter().filter_map(Run::exit_code).collect();
    assert_eq!(
        failed.iter().filter(|&&c| c == 1).count(),
        6,
        "unknown, blocked, bad signature, unreachable, two bad endpoints: {failed:?}"
    );
    for ran in &runs {
        assert!(
            !ran.stdout.contains(SECRET) && !ran.stderr.contains(SECRET),
            "the secret leaked in the output of `{}`",
            ran.line()
        );
    }

    // Every file in the repository: lockfile, backup, sidecar, plan file, any leftover.
    let all: Vec<_> = files_below(repo.path())
        .into_iter()
        .map(|file| repo.path().join(file))
        .collect();
    for name in [
        "pushform.lock",
        "pushform.lock.backup",
        "pushform.lock.held",
        "saved-plan.json",
    ] {
        assert!(
            all.contains(&repo.path().join(name)),
            "{name} was written: {all:?}"
        );
    }
    for path in &all {
        let bytes = fs::read(path).expect("read");
        assert!(
            !String::from_utf8_lossy(&bytes).contains(SECRET),
            "the secret leaked into {}",
            path.display()
        );
    }
}
