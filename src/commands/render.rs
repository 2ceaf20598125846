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

use super::validate::{load, load_env, load_project};

pub(super) fn run(global: &GlobalArgs, args: &RenderArgs, printer: &Printer) -> Result<Exit> {
    let mut each: Vec<(Option<String>, super::Loaded)> = Vec::new();
    if args.locale.as_deref() == Some(pseudo::LOCALE) {
        let mut project = Project::read_env(&global.dir, global.env.as_deref())?;
        pseudo::apply(&mut project)?;
        let mut loaded = load_project(project);
        // This copy of the project declares the pseudo-locale on purpose.
        loaded
            .findings
            .retain(|f| !f.message.starts_with(crate::validate::PSEUDO_DECLARED));
        each.push((None, loaded));
    } else {
        let loaded = load(global)?;
        // Without --env, every declared environment renders (its defaults may differ).
        for name in super::validate::every_environment(global, &loaded.project.config) {
            let other = load_env(global, Some(&name))?;
            each.push((Some(name), other));
        }
        if each.is_empty() {
            each.push((None, loaded));
        }
    }
    if let Some((_, bad)) = each.iter().find(|(_, l)| l.has_errors()) {
        printer.findings(&bad.findings);
        printer
            .err("Nothing rendered: fix the errors above (`pushform validate` lists them too).\n");
        return Ok(Exit::Error);
    }
    printer.findings(&each[0].1.findings);
    let mut units: Vec<(Option<&str>, &Unit)> = Vec::new();
    for (env, loaded) in &each {
        for u in select(&loaded.units, &args.keys)? {
            units.push((env.as_deref(), u));
        }
    }
    if let Some(locale) = &args.locale {
        let default = each[0].1.project.config.locales.default.as_deref();
        units.retain(|(_, u)| u.locale.as_deref().or(default) == Some(locale.as_str()));
    }
    let text = match args.format {
        RenderFormat::Json => {
            let list: Vec<Row> = units
                .iter()
                .map(|&(environment, u)| Row {
                    environment,
                    key: &u.key,
                    campaign: &u.campaign,
                    locale: u.locale.as_deref(),
                    file: &u.file,
                    digest: &u.digest,
                    body: u.push_body(),
                })
                .collect();
            format!("{}\n", serde_json::to_string_pretty(&list)?)
        }
        RenderFormat::Human => {
            let mut out = String::new();
            for (env, u) in units {
                let env = env.map(|e| format!("[{e}] ")).unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{env}{} {} {}",
                    printer.out_style(Style::Bold, &u.key),
                    printer.out_style(Style::Dim, &format!("({})", u.file)),
                    printer.out_style(Style::Dim, &format!("sha1:{}", u.digest))
                );
                let _ = writeln!(out, "{}\n", serde_json::to_string_pretty(&u.push_body())?);
            }
            out
        }
    };
    printer.out(&text);
    Ok(Exit::Ok)
}

/// Units named by KEY arguments (a campaign id or a unit key), in render order; all without any.
pub(super) fn select<'u>(units: &'u [Unit], keys: &[String]) -> Result<Vec<&'u Unit>> {
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
    /// Only when the project declares environments and no `--env` chose one.
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'a str>,
    key: &'a str,
    campaign: &'a str,
    locale: Option<&'a str>,
    file: &'a str,
    digest: &'a str,
    body: PushBody,
}
