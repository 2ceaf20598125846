//! `pushform l10n status | export | import`: load, call `l10n`, print or write.

use std::fmt::Write as _;

use anyhow::{Context, Result, bail};

use crate::atomic;
use crate::cli::{L10nCommand, L10nFormat, L10nStatusFormat};
use crate::exit::Exit;
use crate::l10n::status::{self, Status};
use crate::l10n::{exchange, po, pseudo, xliff};
use crate::printer::{Printer, Style};
use crate::project::{CATALOG_DIR, Project};

pub(super) fn run(project: &Project, command: &L10nCommand, printer: &Printer) -> Result<Exit> {
    if !project.broken_catalogs.is_empty() {
        printer.findings(&project.findings);
        bail!("a string catalog does not parse (see above): fix it first");
    }
    match command {
        L10nCommand::Status { format } => {
            let status = status::compute(project);
            let text = match format {
                L10nStatusFormat::Json => format!("{}\n", serde_json::to_string_pretty(&status)?),
                L10nStatusFormat::Human => human(&status, printer),
            };
            printer.out(&text);
            Ok(if status.missing() > 0 {
                Exit::Error
            } else {
                Exit::Ok
            })
        }
        L10nCommand::Export {
            locale,
            format,
            out,
        } => {
            if locale == pseudo::LOCALE {
                bail!(
                    "`{locale}` is the pseudo-locale, made by pushform (`render --locale {locale}`): there is nothing to translate"
                );
            }
            let export = exchange::export(project, locale)?;
            let text = match format {
                L10nFormat::Xliff => xliff::write(&export),
                L10nFormat::Po => po::write(&export),
            };
            match out {
                Some(path) => {
                    atomic::write(path, text.as_bytes())?;
                    printer.info(&format!(
                        "Wrote {} ({} keys of {} to translate into {locale}).\n",
                        path.display(),
                        export.units.len(),
                        export.original
                    ));
                }
                None => printer.out(&text),
            }
            Ok(Exit::Ok)
        }
        L10nCommand::Import { file } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let ext = file
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or_default()
                .to_ascii_lowercase();
            let is_xliff = match ext.as_str() {
                "po" | "pot" => false,
                "xlf" | "xliff" | "xml" => true,
                _ => text.trim_start().starts_with('<'),
            };
            let imported = if is_xliff {
                xliff::read(&text)
            } else {
                po::read(&text)
            }
            .with_context(|| format!("cannot import {}", file.display()))?;
            // The locale names the file written: a tag, never a path.
            if imported.locale.is_empty()
                || !imported
                    .locale
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!(
                    "`{}` (the target language of {}) is not a locale tag such as ru or zh-TW",
                    imported.locale,
                    file.display()
                );
            }
            if imported.locale == pseudo::LOCALE {
                bail!(
                    "`{}` is the pseudo-locale: it is made by pushform, never imported",
                    imported.locale
                );
            }
            let (catalog, warnings) = exchange::import(project, &imported)
                .with_context(|| format!("cannot import {}", file.display()))?;
            for w in &warnings {
                printer.err(&format!(
                    "{}: {w}\n",
                    printer.err_style(Style::Yellow, "warning")
                ));
            }
            let name = format!("{CATALOG_DIR}/{}.yaml", imported.locale);
            let path = project.root.join(&name);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
                // A catalog folder that links out of the repository is not written through.
                project.jail.resolve(dir)?;
            }
            atomic::write(&path, catalog.as_bytes())?;
            printer.info(&format!(
                "Wrote {name}: {} translations from {}.\n",
                imported.entries.len(),
                file.display()
            ));
            Ok(Exit::Ok)
        }
    }
}

fn human(status: &Status, printer: &Printer) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Locales (default: {}):",
        status.default_locale.as_deref().unwrap_or("none")
    );
    let width = status
        .locales
        .iter()
        .map(|l| l.locale.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let _ = writeln!(
        out,
        "  {:<width$}  {:>4}  {:>5}  {:>8}  {:>7}",
        "locale", "used", "found", "fallback", "missing"
    );
    for l in &status.locales {
        let missing = if l.missing.is_empty() {
            "0".to_owned()
        } else {
            printer.out_style(Style::Red, &format!("{:>7}", l.missing.len()))
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {:>4}  {:>5}  {:>8}  {:>7}",
            l.locale,
            l.used,
            l.found,
            l.fallback.len(),
            missing
        );
    }
    let fallbacks: Vec<_> = status
        .locales
        .iter()
        .flat_map(|l| l.fallback.iter().map(move |f| (&l.locale, f)))
        .collect();
    if !fallbacks.is_empty() {
        out.push_str("\nFilled by fallback:\n");
        for (locale, f) in fallbacks {
            let _ = writeln!(
                out,
                "  {locale}: `t.{}` of {} from {}",
                f.key, f.campaign, f.from
            );
        }
    }
    if status.missing() > 0 {
        out.push_str("\nMissing:\n");
        for l in &status.locales {
            for m in &l.missing {
                let _ = writeln!(
                    out,
                    "  {}: `t.{}` of {} ({} {}), looked in {}",
                    printer.out_style(Style::Red, &l.locale),
                    m.key,
                    m.campaign,
                    m.file,
                    m.field,
                    m.looked_in.join(", ")
                );
            }
        }
    }
    if !status.unused.is_empty() {
        out.push_str("\nUnused catalog keys (no campaign or template reads them):\n");
        for u in &status.unused {
            let _ = writeln!(out, "  {}:{}: {}", u.file, u.line, u.key);
        }
    }
    if !status.placeholders.is_empty() {
        out.push_str("\nPlaceholders of the default locale missing from a translation:\n");
        for p in &status.placeholders {
            let _ = writeln!(
                out,
                "  {}: {}:{}: `t.{}` in {} leaves out {}",
                printer.out_style(Style::Yellow, "warning"),
                p.file,
                p.line,
                p.key,
                p.locale,
                p.missing.join(", ")
            );
        }
    }
    let missing = status.missing();
    let _ = writeln!(
        out,
        "\n{} missing, {} unused, {} placeholder {}.",
        missing,
        status.unused.len(),
        status.placeholders.len(),
        if status.placeholders.len() == 1 {
            "warning"
        } else {
            "warnings"
        }
    );
    out
}
