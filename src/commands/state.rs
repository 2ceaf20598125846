//! `pushform state …`: read the state, the few deliberate, recorded edits to it, and moving it
//! between backends. Every command goes through the store interface, so each behaves the same
//! on the file and the git backend.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context as _, Result, anyhow, bail};

use crate::cli::{LockWait, StateCommand, StateListFormat};
use crate::exit::Exit;
use crate::printer::{Printer, Style};
use crate::render::Unit;
use crate::settings::{Settings, StateSpec};
use crate::state::{self, Freshness, Holder, Lock, Record, Session, Status, Store};

use super::context::Context;

pub(super) fn run(cx: &Context<'_>, command: &StateCommand) -> Result<Exit> {
    match command {
        StateCommand::List { format } => list(cx, *format),
        StateCommand::Show { key } => show(cx, key),
        StateCommand::Import {
            key,
            sent_at,
            push_id,
            wait,
        } => import(cx, key, *sent_at, push_id.clone(), wait),
        StateCommand::Accept { key, wait } => accept(cx, key, wait),
        StateCommand::Resolve {
            key,
            sent,
            not_sent: _, // clap guarantees exactly one of --sent and --not-sent
            push_id,
            wait,
        } => resolve(cx, key, *sent, push_id.as_deref(), wait),
        StateCommand::Init { wait } => init(cx, wait),
        StateCommand::Pull { file } => pull(cx, file.as_deref()),
        StateCommand::Push { file, wait } => push(cx, file, wait),
        StateCommand::Unlock { lease_id, force } => unlock(cx, lease_id, *force),
        StateCommand::ForgetRehearsals { wait } => forget_rehearsals(cx, wait),
    }
}

/// A session on the configured backend, holding its write lock.
fn open_session(
    settings: &Settings,
    wait: &LockWait,
    command: &str,
) -> Result<(Box<dyn Store>, Box<dyn Session>)> {
    let store = state::open(settings);
    let holder = Holder::current(command);
    let session = store.open(&holder, wait.lock_timeout)?;
    Ok((store, session))
}

fn init(cx: &Context<'_>, wait: &LockWait) -> Result<Exit> {
    let printer = cx.printer;
    let (store, mut session) = open_session(&cx.settings, wait, "pushform state init")?;
    let lock = Lock::new();
    let lineage = lock.lineage.clone();
    session
        .create(lock, "pushform: state init (empty state)")
        .with_context(|| format!("no new state was created in {}", store.describe()))?;
    printer.info(&format!(
        "Created an empty state (lineage {lineage}) in {}.\n",
        store.describe()
    ));
    Ok(Exit::Ok)
}

/// Removes every rehearsal record (sent to a loopback emulator, so received by no one): the
/// one edit that deletes records, because they are not history, only a rehearsal's trace.
fn forget_rehearsals(cx: &Context<'_>, wait: &LockWait) -> Result<Exit> {
    let printer = cx.printer;
    let (store, mut session) =
        open_session(&cx.settings, wait, "pushform state forget-rehearsals")?;
    let mut removed = Vec::new();
    // This project's own: another project of a shared PostgreSQL scope forgets its own.
    let ours = |r: &crate::state::Record| r.is_rehearsal() && r.project.is_none();
    session.commit("pushform: rehearsal records removed", &mut |lock| {
        if let Some(r) = lock
            .sends
            .iter()
            .find(|r| ours(r) && r.status.is_unresolved())
        {
            bail!(
                "`{}` is a rehearsal record still `{}`; resolve it first (`pushform state \
                 resolve {} --sent` or `--not-sent`)",
                r.key,
                r.status,
                r.key
            );
        }
        removed = lock
            .sends
            .iter()
            .filter(|r| ours(r))
            .map(|r| r.key.clone())
            .collect();
        lock.sends.retain(|r| !ours(r));
        Ok(!removed.is_empty())
    })?;
    if removed.is_empty() {
        printer.info(&format!(
            "{} holds no rehearsal record.\n",
            store.describe()
        ));
    } else {
        printer.info(&format!(
            "Removed {} rehearsal {} ({}) from {}; those pushes are pending again.\n",
            removed.len(),
            if removed.len() == 1 {
                "record"
            } else {
                "records"
            },
            removed.join(", "),
            store.describe()
        ));
    }
    Ok(Exit::Ok)
}

fn pull(cx: &Context<'_>, file: Option<&Path>) -> Result<Exit> {
    let printer = cx.printer;
    let store = state::open(&cx.settings);
    let lock = store.read(Freshness::Current)?.lock.ok_or_else(|| {
        anyhow!(
            "nothing is recorded in {}: there is no state to pull",
            store.describe()
        )
    })?;
    let json = state::to_pretty_json(&lock);
    match file {
        Some(path) => {
            crate::atomic::write(path, json.as_bytes())?;
            printer.info(&format!(
                "Wrote the state of {} (lineage {}, serial {}, {} records) to {}.\n",
                store.describe(),
                lock.lineage,
                lock.serial,
                lock.sends.len(),
                path.display()
            ));
        }
        None => printer.out(&json),
    }
    Ok(Exit::Ok)
}

fn push(cx: &Context<'_>, file: &Path, wait: &LockWait) -> Result<Exit> {
    let printer = cx.printer;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let lock = state::parse_lock(file, &bytes)?;
    let (store, mut session) = open_session(&cx.settings, wait, "pushform state push")?;
    if let Some(existing) = session.current() {
        let why = if existing.lineage == lock.lineage {
            "the same lineage: it is already there".to_owned()
        } else {
            format!(
                "another lineage ({}, serial {}, {} records); two histories are never merged",
                existing.lineage,
                existing.serial,
                existing.sends.len()
            )
        };
        bail!(
            "{} already holds a state of {why}. `state push` only fills an empty backend",
            store.describe()
        );
    }
    let (lineage, records) = (lock.lineage.clone(), lock.sends.len());
    session.create(
        lock,
        &format!(
            "pushform: state push of {} ({records} records)",
            file.display()
        ),
    )?;
    printer.info(&format!(
        "Pushed {} (lineage {lineage}, {records} records) into {}.\n",
        file.display(),
        store.describe()
    ));
    Ok(Exit::Ok)
}

fn unlock(cx: &Context<'_>, lease_id: &str, force: bool) -> Result<Exit> {
    let printer = cx.printer;
    let store = state::open(&cx.settings);
    let held = store.unlock(lease_id, force)?;
    printer.info(&format!(
        "Cleared the lease held by {held} on {}.\n",
        store.describe()
    ));
    Ok(Exit::Ok)
}

/// The state for `plan`: the backend's, or its last fetched copy when it cannot be reached,
/// with the warnings printed (a stale copy, nothing recorded yet).
pub(crate) fn read_for_plan(settings: &Settings, printer: &Printer) -> Result<Option<Lock>> {
    let store = state::open(settings);
    let snapshot = store.read(Freshness::MayBeStale)?;
    for warning in &snapshot.warnings {
        printer.err(&format!("warning: {warning}\n"));
    }
    if snapshot.lock.is_none() {
        printer.err(&format!(
            "warning: {}\n",
            state::nothing_recorded(&store.describe())
        ));
    }
    Ok(snapshot.lock)
}

/// The state as it is now, which must exist.
fn read_only(settings: &Settings) -> Result<Lock> {
    let store = state::open(settings);
    let lock = store.read(Freshness::Current)?.lock.ok_or_else(|| {
        anyhow!(
            "nothing is recorded in {} yet: nothing has been sent (a new repository starts \
             with `pushform state init`)",
            store.describe()
        )
    })?;
    Ok(lock)
}

/// `state list --format json`: a struct, not a `json!` map, so the fields keep the lockfile's
/// order.
#[derive(serde::Serialize)]
struct Listing<'a> {
    lineage: &'a str,
    serial: u64,
    records: Vec<Record>,
}

/// This repository's project name in a shared state (postgres), `None` for file and git.
fn own_project(settings: &Settings) -> Option<&str> {
    match &settings.state {
        StateSpec::Postgres { project, .. } => Some(project),
        StateSpec::File { .. } | StateSpec::Git { .. } => None,
    }
}

fn list(cx: &Context<'_>, format: StateListFormat) -> Result<Exit> {
    let printer = cx.printer;
    let lock = read_only(&cx.settings)?;
    let own = own_project(&cx.settings);
    // Where the backend has projects, every record names its own, this repository's too.
    let project_of = |r: &Record| r.project.as_deref().or(own).map(str::to_owned);
    if format == StateListFormat::Json {
        let records: Vec<Record> = lock
            .sends
            .iter()
            .map(|r| Record {
                project: project_of(r),
                ..r.clone()
            })
            .collect();
        let listing = Listing {
            lineage: &lock.lineage,
            serial: lock.serial,
            records,
        };
        printer.out(&format!("{}\n", serde_json::to_string_pretty(&listing)?));
        return Ok(Exit::Ok);
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lineage {} · serial {} · {} records",
        lock.lineage,
        lock.serial,
        lock.sends.len()
    );
    let width = lock.sends.iter().map(|r| r.key.len()).max().unwrap_or(0);
    let projects: Vec<Option<String>> = lock.sends.iter().map(project_of).collect();
    let project_width = projects
        .iter()
        .map(|p| p.as_ref().map_or(0, String::len))
        .max()
        .unwrap_or(0);
    for (r, project) in lock.sends.iter().zip(&projects) {
        let status = match r.status {
            Status::Sent => printer.out_style(Style::Green, "sent"),
            Status::Rejected => printer.out_style(Style::Yellow, "rejected"),
            Status::Sending | Status::Unknown => printer.out_style(Style::Red, r.status.as_str()),
        };
        let mut extra = String::new();
        if let Some(id) = &r.push_id {
            let _ = write!(extra, " push_id {id}");
        }
        if let Some(e) = &r.error {
            let _ = write!(extra, " error {}: {}", e.code, e.message);
        }
        if let Some(s) = &r.source {
            let _ = write!(extra, " ({s})");
        }
        if r.accepted.is_some() {
            extra.push_str(" (accepted edit)");
        }
        let project = match project {
            Some(p) => format!("{p:project_width$}  "),
            None if project_width > 0 => " ".repeat(project_width + 2),
            None => String::new(),
        };
        if r.is_test() {
            extra.push_str(" (test send)");
        }
        if r.is_rehearsal() {
            extra.push_str(" (rehearsal)");
        }
        let _ = writeln!(
            out,
            "{project}{:width$}  {:8}  {}  {}{extra}",
            r.key,
            status,
            r.attempted_at.to_rfc3339(),
            &r.digest[..r.digest.len().min(10)]
        );
    }
    printer.out(&out);
    Ok(Exit::Ok)
}

fn show(cx: &Context<'_>, key: &str) -> Result<Exit> {
    let lock = read_only(&cx.settings)?;
    // Another project's unit of the same key (a shared scope) is not this one.
    let records: Vec<&Record> = lock
        .sends
        .iter()
        .filter(|r| r.key == key && r.project.is_none())
        .collect();
    if records.is_empty() {
        bail!("the state has no record of `{key}`");
    }
    cx.printer
        .out(&format!("{}\n", serde_json::to_string_pretty(&records)?));
    Ok(Exit::Ok)
}

/// The current rendering of a unit.
fn rendered<'c>(cx: &'c Context<'_>, key: &str) -> Result<&'c Unit> {
    cx.units.iter().find(|u| u.key == key).ok_or_else(|| {
        anyhow!("no unit `{key}` in the campaign files (unit keys look like `id` or `id/locale`)")
    })
}

fn import(
    cx: &Context<'_>,
    key: &str,
    at: chrono::DateTime<chrono::FixedOffset>,
    push_id: Option<String>,
    wait: &LockWait,
) -> Result<Exit> {
    let (settings, unit) = (&cx.settings, rendered(cx, key)?);
    // `at` was range-checked like --now by clap: a time it could not read back never reaches
    // the state.
    let (_store, mut session) = open_session(settings, wait, "pushform state import")?;
    let record = Record {
        push_id,
        source: Some("import".to_owned()),
        environment: settings.environment.clone(),
        ..unit.record(Status::Sent, at)
    };
    session.commit(&format!("pushform: {key} sent (import)"), &mut |lock| {
        if lock.sends.iter().any(|r| {
            r.key == key
                && r.project.is_none()
                && matches!(r.status, Status::Sent | Status::Sending | Status::Unknown)
        }) {
            bail!(
                "the state already has a sent or unresolved record of `{key}`; see `pushform state show {key}`"
            );
        }
        lock.append(record.clone());
        Ok(true)
    })?;
    cx.printer.info(&format!(
        "Recorded `{key}` as sent at {at}; it will not be sent again and counts against the quota from then.\n"
    ));
    Ok(Exit::Ok)
}

fn accept(cx: &Context<'_>, key: &str, wait: &LockWait) -> Result<Exit> {
    let (settings, unit) = (&cx.settings, rendered(cx, key)?);
    let (_store, mut session) = open_session(settings, wait, "pushform state accept")?;
    let now = settings.local(settings.now.get());
    session.commit(&format!("pushform: {key} accepted"), &mut |lock| {
        lock.accept(key, unit.digest.clone(), unit.json_body(), now)?;
        Ok(true)
    })?;
    cx.printer.info(&format!(
        "Accepted the current rendering of `{key}` (sha1 {}) as its reference; the body really sent stays in the lockfile.\n",
        unit.digest
    ));
    Ok(Exit::Ok)
}

fn resolve(
    cx: &Context<'_>,
    key: &str,
    sent: bool,
    push_id: Option<&str>,
    wait: &LockWait,
) -> Result<Exit> {
    let (settings, printer) = (&cx.settings, cx.printer);
    let (_store, mut session) = open_session(settings, wait, "pushform state resolve")?;
    let now = settings.local(settings.now.get());
    let status = if sent { "sent" } else { "not sent" };
    session.commit(
        &format!("pushform: {key} resolved as {status}"),
        &mut |lock| {
            lock.resolve(key, sent, push_id.map(str::to_owned), now)?;
            Ok(true)
        },
    )?;
    if sent {
        printer.info(&format!(
            "Recorded `{key}` as sent; it will not be sent again.\n"
        ));
    } else {
        printer.info(&format!(
            "Recorded `{key}` as not sent; the next plan schedules it again (the attempt still counts against the quota).\n"
        ));
    }
    Ok(Exit::Ok)
}
