//! `pushform state …`: read the lockfile, and the few deliberate, recorded edits to it.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use chrono::DateTime;

use crate::cli::{GlobalArgs, LockWait, StateCommand};
use crate::exit::Exit;
use crate::lockfile::{Holder, Lock, LockGuard, LockStore, Record, Status};
use crate::printer::{Printer, Style};
use crate::project::Project;
use crate::render::Unit;
use crate::settings::Settings;

use super::validate::load;

pub fn run(global: &GlobalArgs, command: &StateCommand, printer: &Printer) -> Result<Exit> {
    match command {
        StateCommand::List => list(global, printer),
        StateCommand::Show { key } => show(global, key, printer),
        StateCommand::Import {
            key,
            sent_at,
            push_id,
            wait,
        } => import(global, key, sent_at, push_id.clone(), wait, printer),
        StateCommand::Accept { key, wait } => accept(global, key, wait, printer),
        StateCommand::Resolve {
            key,
            sent,
            not_sent: _, // clap guarantees exactly one of --sent and --not-sent
            push_id,
            wait,
        } => resolve(global, key, *sent, push_id.clone(), wait, printer),
    }
}

fn read_only(global: &GlobalArgs) -> Result<(Settings, Lock)> {
    let project = Project::load(&global.dir)?;
    let settings = Settings::resolve(global, &project.config)?;
    let store = LockStore::new(settings.lock_path.clone());
    let lock = store.load()?.ok_or_else(|| {
        anyhow!(
            "there is no lockfile at {} yet: nothing has been sent",
            store.path().display()
        )
    })?;
    Ok((settings, lock))
}

fn list(global: &GlobalArgs, printer: &Printer) -> Result<Exit> {
    let (_, lock) = read_only(global)?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "lineage {} · serial {} · {} records",
        lock.lineage,
        lock.serial,
        lock.sends.len()
    );
    let width = lock.sends.iter().map(|r| r.key.len()).max().unwrap_or(0);
    for r in &lock.sends {
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
        let _ = writeln!(
            out,
            "{:width$}  {:8}  {}  {}{extra}",
            r.key,
            status,
            r.attempted_at.to_rfc3339(),
            &r.digest[..r.digest.len().min(10)]
        );
    }
    printer.out(&out);
    Ok(Exit::Ok)
}

fn show(global: &GlobalArgs, key: &str, printer: &Printer) -> Result<Exit> {
    let (_, lock) = read_only(global)?;
    let records: Vec<&Record> = lock.sends.iter().filter(|r| r.key == key).collect();
    if records.is_empty() {
        bail!("the lockfile has no record of `{key}`");
    }
    printer.out(&format!("{}\n", serde_json::to_string_pretty(&records)?));
    Ok(Exit::Ok)
}

/// Loads the project and finds the current rendering of a unit.
fn rendered(global: &GlobalArgs, key: &str) -> Result<(Settings, Unit)> {
    let loaded = load(global)?;
    if loaded.has_errors() {
        bail!("the campaigns have errors; run `pushform validate` and fix them first");
    }
    let settings = Settings::resolve(global, &loaded.project.config)?;
    let unit = loaded
        .units
        .into_iter()
        .find(|u| u.key == key)
        .ok_or_else(|| {
            anyhow!(
                "no unit `{key}` in the campaign files (unit keys look like `id` or `id/locale`)"
            )
        })?;
    Ok((settings, unit))
}

fn acquire(settings: &Settings, wait: &LockWait, command: &str) -> Result<LockGuard> {
    let store = LockStore::new(settings.lock_path.clone());
    let holder = Holder::current(command);
    store
        .acquire(&holder, wait.lock_timeout.map(Duration::from_secs))
        .map_err(|e| anyhow!("{e}"))
}

fn import(
    global: &GlobalArgs,
    key: &str,
    sent_at: &str,
    push_id: Option<String>,
    wait: &LockWait,
    printer: &Printer,
) -> Result<Exit> {
    let (settings, unit) = rendered(global, key)?;
    let at = DateTime::parse_from_rfc3339(sent_at.trim())
        .with_context(|| format!("--sent-at `{sent_at}` is not an RFC 3339 time"))?;
    let mut guard = acquire(&settings, wait, "pushform state import")?;
    let mut lock = guard.load_or_create()?;
    if lock.sends.iter().any(|r| {
        r.key == key && matches!(r.status, Status::Sent | Status::Sending | Status::Unknown)
    }) {
        bail!(
            "the lockfile already has a sent or unresolved record of `{key}`; see `pushform state show {key}`"
        );
    }
    lock.append(Record {
        key: unit.key.clone(),
        campaign: unit.campaign.clone(),
        locale: unit.locale.clone(),
        digest: unit.digest.clone(),
        body: unit.body_json(),
        status: Status::Sent,
        attempted_at: at,
        push_id,
        request_id: None,
        endpoint: None,
        error: None,
        source: Some("import".to_owned()),
        resolved_at: None,
        accepted: None,
    });
    guard.write(&mut lock)?;
    printer.info(&format!(
        "Recorded `{key}` as sent at {at}; it will not be sent again and counts against the quota from then.\n"
    ));
    Ok(Exit::Ok)
}

fn accept(global: &GlobalArgs, key: &str, wait: &LockWait, printer: &Printer) -> Result<Exit> {
    let (settings, unit) = rendered(global, key)?;
    let mut guard = acquire(&settings, wait, "pushform state accept")?;
    let mut lock = guard.load_or_create()?;
    let now = settings.local(settings.now.get());
    lock.accept(key, unit.digest.clone(), unit.body_json(), now)
        .map_err(|e| anyhow!("{e}"))?;
    guard.write(&mut lock)?;
    printer.info(&format!(
        "Accepted the current rendering of `{key}` (sha1 {}) as its reference; the body really sent stays in the lockfile.\n",
        unit.digest
    ));
    Ok(Exit::Ok)
}

fn resolve(
    global: &GlobalArgs,
    key: &str,
    sent: bool,
    push_id: Option<String>,
    wait: &LockWait,
    printer: &Printer,
) -> Result<Exit> {
    let project = Project::load(&global.dir)?;
    let settings = Settings::resolve(global, &project.config)?;
    let mut guard = acquire(&settings, wait, "pushform state resolve")?;
    let mut lock = guard.load_or_create()?;
    let now = settings.local(settings.now.get());
    lock.resolve(key, sent, push_id, now)
        .map_err(|e| anyhow!("{e}"))?;
    guard.write(&mut lock)?;
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
