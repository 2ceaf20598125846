//! `pushform render`: the exact bodies, for review and for scripts.

use std::fmt::Write as _;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::body::PushBody;
use crate::cli::{GlobalArgs, RenderArgs, RenderFormat};
use crate::exit::Exit;
use crate::printer::{Printer, Style};
use crate::render::Unit;

use crate::l10n::pseudo;
use crate::project::Project;

use super::validate::{load, load_project};

pub fn run(global: &GlobalArgs, args: &RenderArgs, printer: &Printer) -> Result<Exit> {
    let loaded = match args.locale.as_deref() {
        Some(pseudo::LOCALE) => {
            let mut project = Project::read(&global.dir)?;
            pseudo::apply(&mut project)?;
            let mut loaded = load_project(project);
            // This copy of the project declares the pseudo-locale on purpose.
            loaded
                .findings
                .retain(|f| !f.message.starts_with(crate::validate::PSEUDO_DECLARED));
            loaded
        }
        _ => load(global)?,
    };
    if loaded.has_errors() {
        printer.findings(&loaded.findings);
        printer
            .err("Nothing rendered: fix the errors above (`pushform validate` lists them too).\n");
        return Ok(Exit::Error);
    }
    printer.findings(&loaded.findings);
    let mut units = select(&loaded.units, &args.keys)?;
    if let Some(locale) = &args.locale {
        let default = loaded.project.config.locales.default.as_deref();
        units.retain(|u| u.locale.as_deref().or(default) == Some(locale.as_str()));
    }
    let text = match args.format {
        RenderFormat::Json => {
            let list: Vec<Row> = units
                .iter()
                .map(|u| Row {
                    key: &u.key,
                    campaign: &u.campaign,
                    locale: u.locale.as_deref(),
                    file: &u.file,
                    digest: &u.digest,
                    body: &u.body,
                })
                .collect();
            format!("{}\n", serde_json::to_string_pretty(&list)?)
        }
        RenderFormat::Human => {
            let mut out = String::new();
            for u in units {
                let _ = writeln!(
                    out,
                    "{} {} {}",
                    printer.out_style(Style::Bold, &u.key),
                    printer.out_style(Style::Dim, &format!("({})", u.file)),
                    printer.out_style(Style::Dim, &format!("sha1:{}", u.digest))
                );
                let _ = writeln!(out, "{}\n", serde_json::to_string_pretty(&u.body)?);
            }
            out
        }
    };
    printer.out(&text);
    Ok(Exit::Ok)
}

/// Units named by KEY arguments (a campaign id or a unit key), in render order; all without any.
pub fn select<'u>(units: &'u [Unit], keys: &[String]) -> Result<Vec<&'u Unit>> {
    if keys.is_empty() {
        return Ok(units.iter().collect());
    }
    for key in keys {
        if !units.iter().any(|u| &u.key == key || &u.campaign == key) {
            let known: Vec<&str> = units.iter().map(|u| u.key.as_str()).take(20).collect();
            bail!("no campaign or unit `{key}` (known: {})", known.join(", "));
        }
    }
    Ok(units
        .iter()
        .filter(|u| keys.iter().any(|k| k == &u.key || k == &u.campaign))
        .collect())
}

/// One entry of `render --format json`; the body keeps its wire field order.
#[derive(Serialize)]
struct Row<'a> {
    key: &'a str,
    campaign: &'a str,
    locale: Option<&'a str>,
    file: &'a str,
    digest: &'a str,
    body: &'a PushBody,
}
