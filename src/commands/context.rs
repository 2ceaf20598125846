//! What a command that works on a project receives: the project read once, its settings (clock,
//! quota, state backend, environment) resolved once, and the printer. `dispatch` builds it, so
//! every command that reads `pushform.yaml` reads it the same way, with the same checks in the
//! same order, and no command loads the project or resolves settings by itself.
//!
//! Three ways to build one, by what the command does with the campaigns:
//! - [`Context::configured`]: none rendered (`quota`, the `state` commands that edit no unit).
//!   A `pushform.yaml` that does not parse is an error here, never silently the defaults.
//! - [`Context::checked`]: every campaign rendered and checked, the findings printed, and no
//!   context (after "No plan: …") when any is an error (`plan`, `preview`, `apply`, `send-test`).
//! - [`Context::rendered`]: rendered and refused on any error, without listing them
//!   (`state import`, `state accept`: `validate` lists them).
//!
//! Settings are resolved after the campaigns are checked, so a broken repository is reported
//! finding by finding before a setting that depends on it is refused.
//!
//! `validate`, `render` and `l10n` need no settings (no clock, quota or state): `validate` and
//! `render` read the project once per declared environment, and `l10n` the top level only.

use anyhow::{Result, bail};

use crate::cli::GlobalArgs;
use crate::config;
use crate::finding;
use crate::printer::Printer;
use crate::project::Project;
use crate::render::Unit;
use crate::settings::Settings;

use super::validate::load;

pub(crate) struct Context<'a> {
    /// The global options, for what is resolved again for another environment
    /// (`require_test_in`) and for paths relative to `-C`.
    pub(crate) global: &'a GlobalArgs,
    pub(crate) printer: &'a Printer,
    /// The project, in the `--env` environment when one is given.
    pub(crate) project: Project,
    /// Every unit, rendered and checked without error, in render order; empty when built by
    /// [`Context::configured`], which renders nothing.
    pub(crate) units: Vec<Unit>,
    pub(crate) settings: Settings,
}

impl<'a> Context<'a> {
    /// For a command that needs the config but no campaign: the one strict loading path
    /// (`Project::load_env`), and any error of `pushform.yaml` refuses it.
    pub(crate) fn configured(global: &'a GlobalArgs, printer: &'a Printer) -> Result<Self> {
        let project = Project::load_env(&global.dir, global.env.as_deref())?;
        if let Some(finding) = project
            .findings
            .iter()
            .find(|f| f.is_error() && f.file.as_deref() == Some(config::FILE_NAME))
        {
            bail!("{finding}; fix pushform.yaml first (`pushform validate` lists every problem)");
        }
        let settings = Settings::resolve(global, &project.config)?;
        Ok(Context {
            global,
            printer,
            project,
            units: Vec::new(),
            settings,
        })
    }

    /// For a command that plans or sends: loads, renders and validates the project and prints
    /// the findings. `None` when there are errors, after saying that there is no `what`.
    pub(crate) fn checked(
        global: &'a GlobalArgs,
        printer: &'a Printer,
        what: &str,
    ) -> Result<Option<Self>> {
        let loaded = load(global)?;
        printer.findings(&loaded.findings);
        if loaded.has_errors() {
            let (errors, _) = finding::count(&loaded.findings);
            printer.err(&format!(
                "No {what}: the campaigns have {errors} {} (listed above).\n",
                if errors == 1 { "error" } else { "errors" }
            ));
            return Ok(None);
        }
        let settings = Settings::resolve(global, &loaded.project.config)?;
        Ok(Some(Context {
            global,
            printer,
            project: loaded.project,
            units: loaded.units,
            settings,
        }))
    }

    /// For an edit of the state about one unit: the campaigns must render without error.
    pub(crate) fn rendered(global: &'a GlobalArgs, printer: &'a Printer) -> Result<Self> {
        let loaded = load(global)?;
        if loaded.has_errors() {
            bail!("the campaigns have errors; run `pushform validate` and fix them first");
        }
        let settings = Settings::resolve(global, &loaded.project.config)?;
        Ok(Context {
            global,
            printer,
            project: loaded.project,
            units: loaded.units,
            settings,
        })
    }
}
