//! The postgres state backend end to end, against a real PostgreSQL (a throwaway cluster from
//! `support/pg.rs`) and the emulator. What must hold: the `sending` record is committed on the
//! server before the POST, so whatever happens to apply, its connection or the server, no push
//! is received twice and every received push ends up `sent` once an operator has settled what
//! was left open; and every repository of a scope plans against the App Key's whole history.
//!
//! Every run gets the connection string in `PUSHFORM_DATABASE_URL`, with the cluster's
//! password in it; [`Pg::run`] checks that no output ever shows that password.

use std::time::{Duration, Instant};

use pushform::emulator::{Emulator, Fault};
use pushform::state::Lock;
use pushform::state::postgres::{PgSettings, PgState, ScopeRead, ScopeState};

use super::harness::{
    REHEARSAL_ENDPOINT, Repo, SAMPLE_NOW, assert_exactly_once, emulator, roomy_emulator, rounds,
    settle, settle_open_sends, splitmix64, wait_for_request,
};
use crate::support::{Pushform, Run};

#[path = "../support/pg.rs"]
#[allow(dead_code)] // the library's own tests use the rest of the harness
mod pg;

use pg::Cluster;

/// One scope in a fresh database of a cluster, and the repositories sending into it.
struct Pg<'a> {
    cluster: &'a Cluster,
    url: String,
    scope: String,
}

impl<'a> Pg<'a> {
    /// A fresh database `name` on the shared cluster; the scope is not initialised.
    fn new(name: &str) -> Pg<'static> {
        Pg::on(Cluster::shared(), name)
    }

    fn on(cluster: &'a Cluster, name: &str) -> Pg<'a> {
        Pg {
            cluster,
            url: cluster.create_database(name),
            scope: "student-app".to_owned(),
        }
    }

    /// A repository of `units` units due at once (quota `per_hour`/`per_day`) keeping its
    /// state in this scope as `project` (`None`: the default, its folder's name). `title`
    /// makes its bodies its own, so two projects never send the same bytes.
    fn repo(
        &self,
        project: Option<&str>,
        title: &str,
        units: usize,
        per_hour: u32,
        per_day: u32,
    ) -> Repo {
        let repo = Repo::fixture(units, per_hour, per_day, 10);
        for f in [
            "pushform.lock",
            "pushform.lock.held",
            "pushform.lock.backup",
        ] {
            let _ = std::fs::remove_file(repo.path().join(f));
        }
        for entry in std::fs::read_dir(repo.path().join("campaigns")).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            std::fs::write(&path, text.replace("Title ", &format!("{title} "))).unwrap();
        }
        let config = repo.read("pushform.yaml");
        let project = project.map_or_else(String::new, |p| format!("  project: {p}\n"));
        repo.file(
            "pushform.yaml",
            &format!(
                "{config}state:\n  backend: postgres\n  scope: {}\n{project}",
                self.scope
            ),
        );
        repo
    }

    /// `pushform ARGS` in `repo`, with the connection string set.
    fn cmd(&self, repo: &Repo) -> Pushform {
        repo.pushform().env("PUSHFORM_DATABASE_URL", &self.url)
    }

    /// `pushform apply --auto-approve` in `repo` against `emu` at `now`.
    fn apply(&self, repo: &Repo, emu: &Emulator, now: &str) -> Pushform {
        repo.apply_cmd(emu, now)
            .env("PUSHFORM_DATABASE_URL", &self.url)
    }

    /// Runs and checks the password shows nowhere in the output.
    #[track_caller]
    fn run(&self, cmd: Pushform) -> Run {
        let ran = cmd.run();
        self.no_password(&ran);
        ran
    }

    #[track_caller]
    fn no_password(&self, ran: &Run) {
        let password = self.cluster.password();
        assert!(
            !ran.stdout.contains(password) && !ran.stderr.contains(password),
            "the database password leaked into the output of `{}`",
            ran.line()
        );
    }

    /// The whole scope, read as an operator would.
    fn scope(&self) -> Option<ScopeState> {
        let settings = PgSettings {
            url_env: "UNUSED".to_owned(),
            scope: self.scope.clone(),
            project: "operator".to_owned(),
        };
        let mut state = PgState::connect_url(&self.url, &settings, "test").expect("connect");
        match state.load_scope().expect("read the scope") {
            ScopeRead::Found(s) => Some(s),
            ScopeRead::Missing { .. } => None,
        }
    }

    /// The whole scope as one lockfile, each key prefixed with its project (`shop:c00`):
    /// two projects' `c00` are two units, which is what [`assert_exactly_once`] must see.
    fn lock(&self) -> Option<Lock> {
        let scope = self.scope()?;
        let mut lock = scope.to_lock();
        for (record, stored) in lock.sends.iter_mut().zip(&scope.records) {
            record.key = format!("{}:{}", stored.project, record.key);
        }
        Some(lock)
    }

    /// What an operator does after a lost run: look each open record of the scope up at the
    /// provider (`emu`) and resolve it from the repository `repo` that made it. Returns how
    /// many were settled.
    fn settle_as_operator(&self, repo: &Repo, emu: &Emulator) -> usize {
        let Some(scope) = self.scope() else {
            return 0;
        };
        settle_open_sends(&scope.to_lock(), emu, |args| {
            // The killed run's session may take a moment to end on the server.
            self.run(self.cmd(repo).args(args).args(&["--lock-timeout", "10"]))
                .success();
        })
    }
}

/// The stored plan as JSON.
fn plan_json(ran: &Run) -> serde_json::Value {
    serde_json::from_str(&ran.stdout).unwrap_or_else(|e| panic!("{e}: {ran}"))
}

#[test]
fn two_projects_in_one_scope_share_the_quota_and_see_who_used_it() {
    let pg = Pg::new("share");
    let shop = pg.repo(Some("shop"), "Shop", 2, 2, 3);
    let news = pg.repo(Some("news"), "News", 2, 2, 3);
    pg.run(pg.cmd(&shop).args(&["state", "init"]))
        .success()
        .stderr_has("Created an empty state")
        .stderr_has("scope student-app of the PostgreSQL state");
    // One scope, one history: the second project does not start another.
    pg.run(pg.cmd(&news).args(&["state", "init"]))
        .failure()
        .stderr_has("already holds a state");
    let emu = roomy_emulator();
    pg.run(pg.apply(&shop, &emu, SAMPLE_NOW))
        .success()
        .stdout_has("Apply complete: 2 sent");
    // Those sends went to the emulator and the scope keeps their rehearsal mark: a plan
    // against the real endpoints refuses the state (plans below name a loopback endpoint).
    pg.run(pg.cmd(&news).now(SAMPLE_NOW).args(&["plan"]))
        .failure()
        .stderr_has("the state holds 2 rehearsal records");

    // The same keys (c00, c01) in the other project are its own units, still to send; the
    // hour's two slots are the shop's, and the day's third is left.
    let plan = pg.run(
        pg.cmd(&news)
            .endpoint(REHEARSAL_ENDPOINT)
            .now(SAMPLE_NOW)
            .args(&["plan", "--format", "json"]),
    );
    plan.success();
    let plan = plan_json(&plan);
    let actions = plan["actions"].as_array().unwrap();
    let by_key = |key: &str| actions.iter().find(|a| a["key"] == key).unwrap().clone();
    assert_eq!(by_key("c00")["action"], "scheduled", "{plan:#}");
    assert_eq!(by_key("c00")["reason"], "hour_quota", "{plan:#}");
    assert_eq!(by_key("c00")["scheduled_at"], "2026-11-26T08:00:00Z");
    assert_eq!(by_key("c01")["reason"], "day_quota", "{plan:#}");
    assert_eq!(by_key("c01")["scheduled_at"], "2026-11-26T16:00:00Z");
    // The human plan names whose sends those are.
    pg.run(
        pg.cmd(&news)
            .endpoint(REHEARSAL_ENDPOINT)
            .now(SAMPLE_NOW)
            .args(&["plan"]),
    )
    .success()
    .stdout_has("Quota used by other projects of this state:")
    .stdout_has("2026-11-26 15:00:00 +08:00  project shop  c00 (sent)")
    .stdout_has("project shop  c01 (sent)");
    pg.run(
        pg.cmd(&news)
            .endpoint(REHEARSAL_ENDPOINT)
            .now(SAMPLE_NOW)
            .args(&["plan", "--format", "markdown"]),
    )
    .success()
    .stdout_has("**Quota used by other projects of this state**")
    .stdout_has("| 2026-11-26 15:00:00 +08:00 | shop | `c01` | sent |");
    pg.run(pg.cmd(&news).now(SAMPLE_NOW).args(&["quota"]))
        .success()
        .stdout_has("Last 60 minutes: 2 of 2 sends used.")
        .stdout_has("project shop  c00 (sent)");

    // Nothing goes out from the second project in the first project's hour.
    pg.run(pg.apply(&news, &emu, SAMPLE_NOW))
        .success()
        .stdout_has("Apply complete: 0 sent, 2 scheduled");
    assert_eq!(emu.received().len(), 2);
    pg.run(pg.apply(&news, &emu, "2026-11-26T08:00:00Z"))
        .success()
        .stdout_has("Apply complete: 1 sent");

    // Every project's `state list` shows every record of the scope and whose it is.
    let list = pg.run(pg.cmd(&shop).args(&["state", "list"]));
    list.success();
    assert_eq!(list.stdout.matches("shop  c0").count(), 2, "{list}");
    assert_eq!(list.stdout.matches("news  c00").count(), 1, "{list}");
    let json = pg.run(pg.cmd(&news).args(&["state", "list", "--format", "json"]));
    json.success();
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let projects: Vec<(&str, &str)> = json["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["project"].as_str().unwrap(), r["key"].as_str().unwrap()))
        .collect();
    assert_eq!(
        projects,
        [("shop", "c00"), ("shop", "c01"), ("news", "c00")]
    );
    assert_eq!(json["serial"], 6, "init, then two writes per send");
    assert_exactly_once(&pg.lock().unwrap(), &emu.received());

    // Rehearsal records leave the scope with `state forget-rehearsals`, each project's own.
    pg.run(pg.cmd(&shop).args(&["state", "forget-rehearsals"]))
        .success()
        .stderr_has("Removed 2 rehearsal records");
    let json = pg.run(pg.cmd(&news).args(&["state", "list", "--format", "json"]));
    json.success();
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let left: Vec<&str> = json["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["project"].as_str().unwrap())
        .collect();
    assert_eq!(left, ["news"], "{json:#}");
    // The other project's rehearsal still blocks a real plan, and the refusal says whose it is.
    pg.run(pg.cmd(&shop).now(SAMPLE_NOW).args(&["plan"]))
        .failure()
        .stderr_has("the state holds 1 rehearsal record")
        .stderr_has("those of other projects of this state (news) are removed by running it");
}

#[test]
fn a_missing_scope_plans_empty_with_a_warning_but_every_write_refuses() {
    let pg = Pg::new("missing_scope");
    // The project defaults to the repository folder's name.
    let repo = pg.repo(None, "Title", 2, 2, 3);
    let folder = repo
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let emu = emulator();
    pg.run(pg.cmd(&repo).now(SAMPLE_NOW).args(&["plan"]))
        .success()
        .stderr_has("warning: nothing is recorded in scope student-app")
        .stderr_has(&format!("(project {folder})"));
    pg.run(pg.apply(&repo, &emu, SAMPLE_NOW))
        .failure()
        .stderr_has("pushform state init");
    pg.run(
        pg.cmd(&repo)
            .args(&["state", "import", "c00", "--sent-at", SAMPLE_NOW]),
    )
    .failure()
    .stderr_has("pushform state init");
    pg.run(pg.cmd(&repo).args(&["state", "list"]))
        .failure()
        .stderr_has("nothing is recorded");
    assert_eq!(emu.requests(), 0);
    pg.run(pg.cmd(&repo).args(&["state", "init"])).success();
    pg.run(pg.apply(&repo, &emu, SAMPLE_NOW))
        .success()
        .stdout_has("Apply complete: 2 sent");
    let list = pg.run(pg.cmd(&repo).args(&["state", "list"]));
    list.success();
    assert_eq!(list.stdout.matches(&format!("{folder}  c0")).count(), 2);
    // A scope is required: there is no sensible default for the App Key's shared history.
    let config = repo.read("pushform.yaml");
    repo.file(
        "pushform.yaml",
        &config.replace("  scope: student-app\n", ""),
    );
    pg.run(pg.cmd(&repo).args(&["plan"]))
        .failure()
        .stderr_has("`state.scope` is required");
}

#[test]
fn connection_errors_fail_plan_clearly_and_apply_sends_nothing() {
    let pg = Pg::new("unreachable");
    let repo = pg.repo(Some("shop"), "Title", 2, 2, 3);
    pg.run(pg.cmd(&repo).args(&["state", "init"])).success();
    let emu = emulator();
    // The same password, a port where nothing listens.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        pg.url
            .replace(&format!(":{}/", pg.cluster.port()), &format!(":{port}/"))
    };
    assert!(dead.contains(pg.cluster.password()));
    for args in [&["plan"][..], &["quota"], &["state", "list"]] {
        let ran = repo
            .pushform()
            .env("PUSHFORM_DATABASE_URL", &dead)
            .now(SAMPLE_NOW)
            .args(args)
            .run();
        pg.no_password(&ran);
        ran.failure()
            .stderr_has("cannot read the PostgreSQL state")
            .stderr_has("***");
    }
    let ran = repo
        .apply_cmd(&emu, SAMPLE_NOW)
        .env("PUSHFORM_DATABASE_URL", &dead)
        .run();
    pg.no_password(&ran);
    ran.failure()
        .stderr_has("cannot open the PostgreSQL state for writing");
    // A wrong password is refused without echoing either password.
    let wrong = pg
        .url
        .replace(pg.cluster.password(), "not-the-password-123");
    let ran = repo
        .apply_cmd(&emu, SAMPLE_NOW)
        .env("PUSHFORM_DATABASE_URL", &wrong)
        .run();
    pg.no_password(&ran);
    assert!(!ran.stderr.contains("not-the-password-123"), "{ran}");
    ran.failure();
    // No variable at all: named, and nothing sent.
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .run()
        .failure()
        .stderr_has("PUSHFORM_DATABASE_URL is not set");
    assert_eq!(emu.requests(), 0);
    assert!(pg.lock().unwrap().sends.is_empty());
}

#[test]
fn applies_at_once_never_send_twice_and_the_refused_one_names_the_holder() {
    let pg = Pg::new("race");
    let shop = pg.repo(Some("shop"), "Shop", 6, 100_000, 100_000);
    let news = pg.repo(Some("news"), "News", 6, 100_000, 100_000);
    pg.run(pg.cmd(&shop).args(&["state", "init"])).success();
    let emu = roomy_emulator();
    // Two applies of one project and one of another, all at once, on one scope lock.
    let started: Vec<_> = [&shop, &shop, &news]
        .iter()
        .map(|r| pg.apply(r, &emu, SAMPLE_NOW).start())
        .collect();
    let ran: Vec<Run> = started
        .into_iter()
        .map(crate::support::Running::finish)
        .collect();
    for r in &ran {
        pg.no_password(r);
    }
    assert!(
        ran.iter().any(|r| r.exit_code() == Some(0)),
        "one of them sends: {ran:#?}"
    );
    for r in ran.iter().filter(|r| r.exit_code() != Some(0)) {
        r.stderr_has("the PostgreSQL state scope \"student-app\" is locked by server backend pid")
            .stderr_has("pushform apply --auto-approve on host");
    }
    assert_exactly_once(&pg.lock().unwrap(), &emu.received());
    // Waiting for the lock instead of failing: both finish what is left, nothing twice.
    let waiting: Vec<_> = [&shop, &news]
        .iter()
        .map(|r| {
            pg.apply(r, &emu, SAMPLE_NOW)
                .args(&["--lock-timeout", "20"])
                .start()
        })
        .collect();
    for r in waiting.into_iter().map(crate::support::Running::finish) {
        pg.no_password(&r);
        r.success();
    }
    assert_eq!(emu.received().len(), 12);
    assert_exactly_once(&pg.lock().unwrap(), &emu.received());
}

/// Seeded SIGKILLs of apply at random moments; after each, an operator settles what is open
/// from what the provider received. At the end a last apply sends the rest: every push
/// received exactly once, every received push `sent` in the scope.
#[test]
fn random_kills_of_apply_never_send_twice_nor_lose_a_send() {
    const UNITS: usize = 40;
    const MAX_DELAY_MS: u64 = 500;
    let rounds = rounds("PUSHFORM_PG_KILL_ROUNDS", 20);
    let pg = Pg::new("kill");
    let repo = pg.repo(Some("shop"), "Shop", UNITS, 100_000, 100_000);
    pg.run(pg.cmd(&repo).args(&["state", "init"])).success();
    let emu = roomy_emulator();
    let started = Instant::now();
    let (mut killed, mut finished, mut settled) = (0, 0, 0);
    for round in 0..rounds {
        let delay = Duration::from_millis(splitmix64(round) % MAX_DELAY_MS);
        match pg
            .apply(&repo, &emu, SAMPLE_NOW)
            .args(&["-q", "--lock-timeout", "10"])
            .kill_after(delay)
        {
            None => killed += 1,
            Some(0) => finished += 1,
            Some(code) => panic!("round {round} ({delay:?}): apply exited {code}"),
        }
        settle(&emu);
        settled += pg.settle_as_operator(&repo, &emu);
        assert_exactly_once(&pg.lock().unwrap(), &emu.received());
    }
    let during = emu.received().len();
    pg.run(
        pg.apply(&repo, &emu, SAMPLE_NOW)
            .args(&["--lock-timeout", "10"]),
    )
    .success();
    assert_eq!(emu.received().len(), UNITS, "every unit went out");
    assert_exactly_once(&pg.lock().unwrap(), &emu.received());
    eprintln!(
        "postgres kill -9: {rounds} rounds, {killed} killed, {finished} finished, {settled} \
         settled by the operator, {during} sent before the last apply; in {:?}",
        started.elapsed()
    );
    assert!(killed > 0, "no round was actually killed");
}

/// After apply lost its session mid-send: the scope says `sending` (committed before the
/// POST), a later apply is blocked and sends nothing, the operator resolves it, and the next
/// apply sends everything exactly once.
fn sending_blocks_until_resolved(pg: &Pg<'_>, repo: &Repo, emu: &Emulator, ran: &Run) {
    pg.no_password(ran);
    ran.failure().stderr_has("The state still says `sending`");
    let lock = pg.lock().unwrap();
    let sending: Vec<_> = lock
        .sends
        .iter()
        .filter(|r| r.status == pushform::state::Status::Sending)
        .collect();
    assert_eq!(sending.len(), 1, "{lock:#?}");
    let key = sending[0].key.trim_start_matches("shop:").to_owned();
    let requests = emu.requests();
    pg.run(pg.apply(repo, emu, SAMPLE_NOW))
        .failure()
        .stderr_has("apply is blocked: 1 unresolved send");
    pg.run(
        pg.cmd(repo)
            .endpoint(REHEARSAL_ENDPOINT)
            .now(SAMPLE_NOW)
            .args(&["plan"]),
    )
    .failure()
    .stdout_has(&format!("? {key}  unresolved: apply is blocked"));
    assert_eq!(emu.requests(), requests, "a blocked apply sends nothing");
    // The stalled request was never processed: the operator finds nothing at the provider.
    assert!(emu.received().is_empty());
    assert_eq!(pg.settle_as_operator(repo, emu), 1);
    pg.run(pg.apply(repo, emu, SAMPLE_NOW))
        .success()
        .stdout_has("Apply complete: 2 sent");
    assert_exactly_once(&pg.lock().unwrap(), &emu.received());
}

#[test]
fn a_terminated_connection_mid_send_leaves_sending_and_never_sends_twice() {
    let pg = Pg::new("terminate");
    let repo = pg.repo(Some("shop"), "Shop", 2, 100_000, 100_000);
    pg.run(pg.cmd(&repo).args(&["state", "init"])).success();
    let emu = roomy_emulator();
    emu.set_fault(Fault::StallAfterBody, 1);
    let running = pg.apply(&repo, &emu, SAMPLE_NOW).start();
    wait_for_request(&emu);
    // While the provider holds the request, an administrator ends apply's session.
    let mut admin = pg.cluster.admin(pg.url.rsplit('/').next().unwrap());
    let ended: bool = admin
        .query_one(
            "SELECT pg_terminate_backend(backend_pid) FROM pushform_holders WHERE scope = $1",
            &[&pg.scope],
        )
        .expect("terminate apply's session")
        .get(0);
    assert!(ended);
    let ran = running.finish();
    sending_blocks_until_resolved(&pg, &repo, &emu, &ran);
}

#[test]
fn a_server_restart_between_sending_and_the_outcome_leaves_sending() {
    // A cluster of its own: the restart cuts every session on it.
    let cluster = Cluster::start();
    let pg = Pg::on(&cluster, "restart");
    let repo = pg.repo(Some("shop"), "Shop", 2, 100_000, 100_000);
    pg.run(pg.cmd(&repo).args(&["state", "init"])).success();
    let emu = roomy_emulator();
    emu.set_fault(Fault::StallAfterBody, 1);
    let running = pg.apply(&repo, &emu, SAMPLE_NOW).start();
    wait_for_request(&emu);
    cluster.restart(true);
    let ran = running.finish();
    sending_blocks_until_resolved(&pg, &repo, &emu, &ran);
}

#[test]
fn state_push_moves_a_lockfile_history_into_a_scope_and_pull_gives_it_back() {
    let pg = Pg::new("migrate");
    // A repository on the file backend with three sends of history.
    let repo = Repo::fixture(3, 100_000, 100_000, 10);
    let emu = roomy_emulator();
    repo.apply_cmd(&emu, SAMPLE_NOW).run().success();
    let before = repo.lock();
    assert_eq!(before.sends.len(), 3);
    // `state list --format json` on the file backend: every record, no project.
    let listed = repo
        .pushform()
        .args(&["state", "list", "--format", "json"])
        .run();
    listed.success();
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert_eq!(listed["lineage"], before.lineage.as_str());
    assert_eq!(listed["serial"], before.serial);
    assert_eq!(
        listed["records"],
        serde_json::to_value(&before.sends).unwrap()
    );
    // It moves to the postgres backend: `state push` fills the new scope.
    let config = repo.read("pushform.yaml");
    repo.file(
        "pushform.yaml",
        &format!(
            "{config}state:\n  backend: postgres\n  scope: {}\n  project: shop\n",
            pg.scope
        ),
    );
    repo.file("migrated.lock", &repo.read("pushform.lock"));
    pg.run(pg.cmd(&repo).args(&["state", "push", "migrated.lock"]))
        .success()
        .stderr_has("(lineage ")
        .stderr_has("3 records) into scope student-app of the PostgreSQL state");
    // Nothing is sent again, and the history pulls back as it was pushed.
    pg.run(pg.apply(&repo, &emu, SAMPLE_NOW))
        .success()
        .stdout_has("No changes. Everything is sent.");
    let pulled = pg.run(pg.cmd(&repo).args(&["state", "pull"]));
    pulled.success();
    let lock: Lock = serde_json::from_str(&pulled.stdout).expect("a lockfile");
    assert_eq!(lock, before);
    // Pushing it again is refused: the scope already holds it.
    pg.run(pg.cmd(&repo).args(&["state", "push", "migrated.lock"]))
        .failure()
        .stderr_has("the same lineage: it is already there");
    // Another project pulls the scope with every record naming its project `shop`: a file
    // backend given that lockfile still counts them against the quota, as its own units never.
    let news = pg.repo(Some("news"), "News", 3, 100_000, 100_000);
    let theirs = pg.run(pg.cmd(&news).args(&["state", "pull"]));
    theirs.success();
    let theirs: Lock = serde_json::from_str(&theirs.stdout).expect("a lockfile");
    assert!(
        theirs
            .sends
            .iter()
            .all(|r| r.project.as_deref() == Some("shop"))
    );
    assert_eq!(emu.received().len(), 3);
    assert_exactly_once(&pg.lock().unwrap(), &emu.received());
}

#[test]
fn plan_needs_only_select_and_an_apply_that_cannot_write_sending_sends_nothing() {
    let pg = Pg::new("grants");
    let repo = pg.repo(Some("shop"), "Shop", 2, 100_000, 100_000);
    pg.run(pg.cmd(&repo).args(&["state", "init"])).success();
    let mut admin = pg.cluster.admin("grants");
    // Roles are cluster-wide: drop what an earlier run of this test left.
    admin
        .batch_execute(
            "DROP ROLE IF EXISTS pf_reader; DROP ROLE IF EXISTS pf_no_insert;
             CREATE ROLE pf_reader LOGIN PASSWORD 'reader-pw-1';
             GRANT SELECT ON pushform_schema_version, pushform_scopes, pushform_records
                TO pf_reader;
             CREATE ROLE pf_no_insert LOGIN PASSWORD 'writer-pw-1';
             GRANT SELECT ON pushform_schema_version, pushform_scopes, pushform_records
                TO pf_no_insert;
             GRANT UPDATE ON pushform_scopes TO pf_no_insert;
             GRANT SELECT, INSERT, UPDATE, DELETE ON pushform_holders TO pf_no_insert;",
        )
        .expect("create the roles");
    let emu = roomy_emulator();
    let reader = pg.cluster.url_for("pf_reader", "reader-pw-1", "grants");
    let ran = repo
        .pushform()
        .env("PUSHFORM_DATABASE_URL", &reader)
        .now(SAMPLE_NOW)
        .args(&["plan"])
        .run();
    ran.success().stdout_has("Plan: 2 to send now");
    assert!(!ran.stderr.contains("reader-pw-1"), "{ran}");
    // The scope lock is taken, but the `sending` record cannot be committed: nothing goes out.
    let writer = pg.cluster.url_for("pf_no_insert", "writer-pw-1", "grants");
    let ran = repo
        .apply_cmd(&emu, SAMPLE_NOW)
        .env("PUSHFORM_DATABASE_URL", &writer)
        .run();
    ran.failure()
        .stderr_has("permission denied for table pushform_records");
    assert!(!ran.stderr.contains("writer-pw-1"), "{ran}");
    assert_eq!(emu.requests(), 0, "nothing sent without the sending record");
    assert!(pg.lock().unwrap().sends.is_empty());
    // The same apply with the grants of the README sends both.
    admin
        .batch_execute("GRANT INSERT ON pushform_records TO pf_no_insert; GRANT UPDATE ON pushform_records TO pf_no_insert;")
        .expect("grant");
    repo.apply_cmd(&emu, SAMPLE_NOW)
        .env("PUSHFORM_DATABASE_URL", &writer)
        .run()
        .success()
        .stdout_has("Apply complete: 2 sent");
    assert_exactly_once(&pg.lock().unwrap(), &emu.received());
}
