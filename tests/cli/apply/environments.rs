//! Environments and test sends against two emulators, each with its own App Key: a staging
//! and a production one. Production is gated by `require_test_in: staging`: a push goes out
//! there only once its exact content was test-sent in staging, to the test users only.

use std::time::Duration;

use pushform::emulator::{Emulator, EmulatorConfig};
use pushform::state::{Lock, LockStore, RecordKind, Status};
use serde_json::Value;

use super::harness::{Repo, records, sha1_hex};

const NOW: &str = "2026-11-26T07:00:00Z";
const STAGING_KEY: &str = "staging-key-4f1a";
const STAGING_SECRET: &str = "staging-secret";
const PROD_KEY: &str = "production-key-9c2e";
const PROD_SECRET: &str = "production-secret";

const CAMPAIGN: &str = "id: sale\npush:\n  audience: { is_to_all: false, tag: [vip] }\n  \
                        notification: { title: \"Winter sale\", alert: \"ALERT\" }\n";

fn emulator(key: &str, secret: &str) -> Emulator {
    Emulator::start(EmulatorConfig {
        app_key: key.to_owned(),
        app_secret: secret.to_owned(),
        stall: Duration::from_secs(3),
        ..EmulatorConfig::new(pushform::validate::check_json_body)
    })
    .expect("the emulator starts")
}

fn config(staging_url: &str, production_url: &str) -> String {
    format!(
        "quota: {{ per_hour: 2, per_day: 3, timezone: Asia/Shanghai }}\n\
         defaults:\n  push:\n    platform: [ios, android]\n\
         environments:\n\
         \x20 staging:\n\
         \x20   api: {{ endpoints: [\"{staging_url}\"], app_key_env: STAGING_KEY, app_secret_env: STAGING_SECRET }}\n\
         \x20   state: {{ path: pushform.staging.lock }}\n\
         \x20   test_to: [qa-1, qa-2]\n\
         \x20 production:\n\
         \x20   api: {{ endpoints: [\"{production_url}\"] }}\n\
         \x20   require_test_in: staging\n"
    )
}

fn campaign(alert: &str) -> String {
    CAMPAIGN.replace("ALERT", alert)
}

/// Two environments, each with an initialised state.
fn repo(staging: &Emulator, production: &Emulator) -> Repo {
    let repo = Repo::fixture(0, 2, 3, 5);
    std::fs::remove_file(repo.lock_path()).expect("the fixture's state goes");
    repo.file(
        "pushform.yaml",
        &config(&staging.base_url(), &production.base_url()),
    );
    repo.file("campaigns/sale.yaml", &campaign("30% off"));
    for env in ["staging", "production"] {
        repo.pushform()
            .args(&["--env", env, "state", "init"])
            .run()
            .success();
    }
    repo
}

fn lock_at(repo: &Repo, name: &str) -> Lock {
    LockStore::new(repo.path().join(name))
        .load()
        .expect("parses")
        .expect("exists")
}

fn send_test(repo: &Repo) -> crate::support::Run {
    repo.pushform()
        .env("STAGING_KEY", STAGING_KEY)
        .env("STAGING_SECRET", STAGING_SECRET)
        .now(NOW)
        .args(&["send-test", "sale", "--env", "staging", "--auto-approve"])
        .run()
}

fn apply_production(repo: &Repo, key: &str, secret: &str) -> crate::support::Run {
    repo.pushform()
        .creds(key, secret)
        .now(NOW)
        .args(&["--env", "production", "apply", "--auto-approve"])
        .run()
}

fn plan_production(repo: &Repo) -> crate::support::Run {
    repo.pushform()
        .now(NOW)
        .args(&["plan", "--env", "production"])
        .run()
}

/// The rendered unit of `sale` in production: its exact bytes' digest and its body.
fn rendered(repo: &Repo) -> (String, Value) {
    let ran = repo
        .pushform()
        .args(&["--env", "production", "render", "sale"])
        .run();
    ran.success();
    let rows: Value = serde_json::from_str(&ran.stdout).expect("render JSON");
    (
        rows[0]["digest"].as_str().expect("digest").to_owned(),
        rows[0]["body"].clone(),
    )
}

#[test]
fn production_sends_only_what_staging_test_sent_and_records_name_env_and_key_hash() {
    let staging = emulator(STAGING_KEY, STAGING_SECRET);
    let production = emulator(PROD_KEY, PROD_SECRET);
    let repo = repo(&staging, &production);

    // Which App Key, which state: never a guess.
    for args in [
        &["plan"][..],
        &["quota"],
        &["state", "list"],
        &["apply", "--auto-approve"],
    ] {
        repo.pushform()
            .now(NOW)
            .args(args)
            .run()
            .failure()
            .stderr_has("declares environments (staging, production)")
            .stderr_has("--env NAME");
    }
    repo.pushform()
        .args(&["plan", "--env", "prod"])
        .run()
        .failure()
        .stderr_has("no environment `prod`; it declares staging, production");

    // Not test-sent yet: untested, blocked.
    plan_production(&repo)
        .success()
        .stdout_has("t sale  untested")
        .stdout_has("send-test sale --env staging");
    apply_production(&repo, PROD_KEY, PROD_SECRET).success();
    assert!(
        production.received().is_empty(),
        "an untested push went out"
    );

    // The test send: staging's emulator gets the exact body with only the test users.
    send_test(&repo)
        .success()
        .stdout_has("2 of 3 sends of this App Key's quota left today");
    let received = staging.received();
    assert_eq!(received.len(), 1);
    let test_bytes = String::from_utf8(received[0].bytes.clone()).expect("UTF-8");
    let test_audience = r#""audience":{"userid":["qa-1","qa-2"],"is_to_all":false}"#;
    assert!(test_bytes.contains(test_audience), "{test_bytes}");
    // The exact bytes, minus the audience: put the unit's audience back and it is the unit.
    let (digest, body) = rendered(&repo);
    let unit_bytes = test_bytes.replace(
        test_audience,
        r#""audience":{"tag":["vip"],"is_to_all":false}"#,
    );
    assert_eq!(sha1_hex(unit_bytes.as_bytes()), digest, "{unit_bytes}");
    let mut test_body: Value = serde_json::from_str(&test_bytes).expect("JSON");
    let mut unit_body = body;
    test_body.as_object_mut().unwrap().remove("audience");
    unit_body.as_object_mut().unwrap().remove("audience");
    assert_eq!(test_body, unit_body);

    // Recorded in staging as a test: it never makes the unit sent there.
    let staging_lock = lock_at(&repo, "pushform.staging.lock");
    let test = &staging_lock.sends[0];
    assert_eq!(test.kind, Some(RecordKind::Test));
    assert_eq!(test.status, Status::Sent);
    assert_eq!(test.environment.as_deref(), Some("staging"));
    assert_eq!(
        test.app_key_sha1.as_deref(),
        Some(sha1_hex(STAGING_KEY.as_bytes()).as_str())
    );
    // A test send to an emulator is no evidence for real endpoints: nobody saw it on a phone.
    repo.pushform()
        .endpoint("https://api.rong-api.com")
        .now(NOW)
        .args(&["plan", "--env", "production"])
        .run()
        .success()
        .stdout_has("t sale  untested");
    repo.pushform()
        .now(NOW)
        .args(&["--env", "staging", "plan"])
        .run()
        .success()
        .stdout_has("+ sale  send now");

    // An edit after the test send: untested again. Reverted: tested, as it was.
    repo.file("campaigns/sale.yaml", &campaign("40% off"));
    plan_production(&repo)
        .success()
        .stdout_has("t sale  untested");
    repo.file("campaigns/sale.yaml", &campaign("30% off"));
    plan_production(&repo)
        .success()
        .stdout_has("+ sale  send now")
        .stdout_has("test-sent at 2026-11-26 15:00:00 +08:00");
    let comment = repo
        .pushform()
        .now(NOW)
        .args(&["plan", "--env", "production", "--format", "markdown"])
        .run();
    comment
        .success()
        .stdout_has("| Test-sent in staging |")
        .stdout_has("✅ 2026-11-26 15:00:00 +08:00 |");

    // Production sends once, to the real audience.
    apply_production(&repo, PROD_KEY, PROD_SECRET).success();
    apply_production(&repo, PROD_KEY, PROD_SECRET).success();
    let received = production.received();
    assert_eq!(received.len(), 1);
    assert_eq!(sha1_hex(&received[0].bytes), digest);
    assert_eq!(staging.received().len(), 1, "production went to staging");
    let prod_lock = repo.lock();
    let sent = records(&prod_lock, "sale");
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].kind, None,
        "a send record has no kind: `send` by default"
    );
    assert_eq!(sent[0].environment.as_deref(), Some("production"));
    assert_eq!(
        sent[0].app_key_sha1.as_deref(),
        Some(sha1_hex(PROD_KEY.as_bytes()).as_str())
    );

    // The key hash, never the key.
    for file in ["pushform.lock", "pushform.staging.lock"] {
        let written = repo.read(file);
        for secret in [STAGING_KEY, STAGING_SECRET, PROD_KEY, PROD_SECRET] {
            assert!(!written.contains(secret), "{file} holds a credential");
        }
        assert!(written.contains("\"app_key_sha1\""), "{file}");
    }
}

#[test]
fn a_state_written_under_another_app_key_is_refused_before_any_post() {
    let staging = emulator(STAGING_KEY, STAGING_SECRET);
    let production = emulator(PROD_KEY, PROD_SECRET);
    let repo = repo(&staging, &production);
    send_test(&repo).success();
    apply_production(&repo, PROD_KEY, PROD_SECRET).success();
    assert_eq!(production.received().len(), 1);

    // A second campaign, test-sent; then production with the staging credentials by mistake.
    repo.file(
        "campaigns/second.yaml",
        "id: second\npush:\n  audience: { is_to_all: false, tag: [vip] }\n  \
         notification: { title: \"Second\", alert: \"Another\" }\n",
    );
    repo.pushform()
        .env("STAGING_KEY", STAGING_KEY)
        .env("STAGING_SECRET", STAGING_SECRET)
        .now(NOW)
        .args(&["send-test", "second", "--env", "staging", "--auto-approve"])
        .run()
        .success();
    let before = repo.read("pushform.lock");
    let thief = emulator(STAGING_KEY, STAGING_SECRET);
    repo.pushform()
        .creds(STAGING_KEY, STAGING_SECRET)
        .endpoint(&thief.base_url())
        .now(NOW)
        .args(&["--env", "production", "apply", "--auto-approve"])
        .run()
        .failure()
        .stderr_has("this state was written with another App Key")
        .stderr_has(&sha1_hex(PROD_KEY.as_bytes()))
        .stderr_has("--new-app-key");
    assert_eq!(thief.requests(), 0, "a POST went out under the wrong key");
    assert_eq!(production.requests(), 1);
    assert_eq!(repo.read("pushform.lock"), before, "the state changed");

    // A deliberate rotation: acknowledged once, then the state is the new key's.
    repo.pushform()
        .creds(STAGING_KEY, STAGING_SECRET)
        .endpoint(&thief.base_url())
        .now(NOW)
        .args(&[
            "--env",
            "production",
            "apply",
            "--auto-approve",
            "--new-app-key",
        ])
        .run()
        .success();
    assert_eq!(thief.received().len(), 1);
    let last = repo.lock().sends.last().cloned().expect("a record");
    assert_eq!(last.key, "second");
    assert_eq!(
        last.app_key_sha1.as_deref(),
        Some(sha1_hex(STAGING_KEY.as_bytes()).as_str())
    );
}

#[test]
fn two_environments_on_one_state_are_a_validation_error() {
    let repo = Repo::fixture(1, 2, 3, 5);
    let both = "environments:\n  staging:\n    state: { path: ./shared.lock }\n  \
                production:\n    state: { path: shared.lock }\n";
    repo.file("pushform.yaml", both);
    repo.pushform()
        .args(&["validate"])
        .run()
        .failure()
        .stderr_has(
            "environments `staging` and `production` share one state (the lockfile shared.lock)",
        );
    // Inheriting the top-level state is sharing it too; so is one git remote and branch.
    repo.file(
        "pushform.yaml",
        "environments:\n  staging: { test_to: [qa] }\n  production: {}\n",
    );
    repo.pushform()
        .args(&["validate"])
        .run()
        .failure()
        .stderr_has("share one state (the lockfile pushform.lock)");
    repo.file(
        "pushform.yaml",
        "environments:\n  staging:\n    state: { backend: git, branch: s }\n  \
         production:\n    state: { backend: git, remote: origin, branch: s }\n",
    );
    repo.pushform()
        .args(&["--env", "production", "plan"])
        .run()
        .failure()
        .stderr_has("share one state (branch s of git remote origin)");
    // Each its own: valid, and every environment is checked.
    repo.file(
        "pushform.yaml",
        "defaults: { push: { platform: [ios] } }\nenvironments:\n  staging:\n    \
         state: { path: staging.lock }\n  production: {}\n",
    );
    repo.pushform()
        .args(&["validate"])
        .run()
        .success()
        .stdout_has("in each of 2 environments (staging, production)");
}

#[test]
fn a_test_send_without_an_answer_is_journalled_unknown_and_counts_once_resolved() {
    let staging = emulator(STAGING_KEY, STAGING_SECRET);
    let production = emulator(PROD_KEY, PROD_SECRET);
    let repo = repo(&staging, &production);
    // The emulator takes the push, then drops the connection: maybe sent.
    staging.set_fault(pushform::emulator::Fault::Drop, 1);
    send_test(&repo)
        .failure()
        .stderr_has("the outcome of the test send is UNKNOWN")
        .stderr_has("pushform state resolve sale --sent");
    assert_eq!(staging.received().len(), 1);
    let lock = lock_at(&repo, "pushform.staging.lock");
    assert_eq!(lock.sends.len(), 1, "the journal lost the attempt");
    assert_eq!(lock.sends[0].status, Status::Unknown);
    assert_eq!(lock.sends[0].kind, Some(RecordKind::Test));
    // An unknown test send is no evidence, and blocks further test sends until resolved.
    plan_production(&repo)
        .success()
        .stdout_has("t sale  untested");
    send_test(&repo)
        .failure()
        .stderr_has("has an unresolved attempt");
    assert_eq!(staging.received().len(), 1);
    // Seen on the test device: resolved as sent, it is the evidence production waits for.
    repo.pushform()
        .now(NOW)
        .args(&["--env", "staging", "state", "resolve", "sale", "--sent"])
        .run()
        .success();
    plan_production(&repo)
        .success()
        .stdout_has("+ sale  send now");
}

#[test]
fn validate_checks_each_environment_and_names_the_one_with_a_problem() {
    let repo = Repo::fixture(1, 2, 3, 5);
    // The top level alone is no environment: it lacks the platform, staging sets it.
    repo.file(
        "pushform.yaml",
        "environments:\n  staging:\n    defaults: { push: { platform: [ios] } }\n    \
         state: { path: s.lock }\n  production: {}\n",
    );
    let ran = repo.pushform().args(&["validate"]).run();
    ran.failure()
        .stderr_has("push.platform: is required")
        .stderr_has("(environment production)")
        .stderr_has("Invalid: 1 error");
    repo.pushform()
        .args(&["--env", "staging", "validate"])
        .run()
        .success()
        .stdout_has("Valid: 1 campaign rendered to 1 push.");
}
