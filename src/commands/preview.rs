//! `pushform preview`: plan, then write the preview site (see `preview`) into a folder.

use std::fs;
use std::path::Path;

use anyhow::{Context as _, Result, bail};

use crate::cli::PreviewArgs;
use crate::exit::Exit;
use crate::plan;
use crate::preview::{self, Input, Past, UnitInput};
use crate::state::{KeyState, Lock, LockIndex};

use super::context::Context;
use super::render::select;

/// Marks a folder as written by `pushform preview`, so that a second run may replace its pages
/// and no run ever writes into (or cleans) a folder that holds anything else.
const MARKER: &str = ".pushform-preview";

pub(super) fn run(cx: &Context<'_>, args: &PreviewArgs) -> Result<Exit> {
    let (settings, printer) = (&cx.settings, cx.printer);
    let selected = select(&cx.units, &args.keys)?;
    // The same state as `plan` reads, whichever backend holds it.
    let lock = super::state::read_for_plan(settings, printer)?;
    let plan = plan::plan(
        &cx.units,
        lock.as_ref(),
        settings.now.get(),
        &settings.quota,
    );
    let empty = Lock::default();
    let index = LockIndex::new(lock.as_ref().unwrap_or(&empty));
    let changed: std::collections::HashSet<&str> = plan
        .actions
        .iter()
        .filter(|a| a.action == plan::Action::Changed)
        .map(|a| a.key.as_str())
        .collect();
    let bodies: Vec<_> = selected.iter().map(|u| u.push_body()).collect();
    let units = selected
        .iter()
        .zip(&bodies)
        .map(|(u, body)| {
            let sent = match index.state(&u.key) {
                Some(KeyState::Sent { body, .. }) if changed.contains(u.key.as_str()) => {
                    serde_json::from_slice(body.as_bytes()).ok()
                }
                _ => None,
            };
            UnitInput {
                key: &u.key,
                campaign: &u.campaign,
                locale: u.locale.as_deref(),
                file: &u.file,
                body,
                sent,
            }
        })
        .collect();
    let history = lock
        .as_ref()
        .map(|l| {
            l.sends
                .iter()
                .map(|r| Past {
                    key: r.key.clone(),
                    at: r.attempted_at.to_utc(),
                    status: r.status.as_str().to_owned(),
                })
                .collect()
        })
        .unwrap_or_default();
    let pages = preview::site(&Input {
        plan: &plan,
        quota: &settings.quota,
        units,
        history,
    });
    let out = if args.out.is_absolute() || cx.global.dir == Path::new(".") {
        args.out.clone()
    } else {
        cx.global.dir.join(&args.out)
    };
    write_site(&out, &pages)?;
    printer.info(&format!(
        "Wrote the preview of {} {} to {}; open {}.\n",
        selected.len(),
        if selected.len() == 1 { "unit" } else { "units" },
        out.display(),
        out.join("index.html").display()
    ));
    Ok(Exit::Ok)
}

/// Writes the pages into `dir`: a new or empty folder, or one an earlier preview wrote (whose
/// pages are replaced, so a campaign that is gone leaves no stale page behind).
fn write_site(dir: &Path, pages: &[preview::Page]) -> Result<()> {
    if dir.exists() {
        let is_empty = fs::read_dir(dir)
            .with_context(|| format!("cannot read {}", dir.display()))?
            .next()
            .is_none();
        if !is_empty && !dir.join(MARKER).exists() {
            bail!(
                "{} exists and was not written by `pushform preview`; choose another folder with -o, or empty it",
                dir.display()
            );
        }
        let units = dir.join("units");
        if units.exists() {
            fs::remove_dir_all(&units)
                .with_context(|| format!("cannot remove the old pages in {}", units.display()))?;
        }
    }
    fs::create_dir_all(dir.join("units"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    fs::write(
        dir.join(MARKER),
        "Written by `pushform preview`; the next run replaces this folder's pages.\n",
    )
    .with_context(|| format!("cannot write into {}", dir.display()))?;
    for page in pages {
        let path = dir.join(&page.path);
        fs::write(&path, &page.text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}
