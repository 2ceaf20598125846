//! `pushform validate`, and the load-render-check pipeline every other command starts with.

use anyhow::Result;

use crate::cli::GlobalArgs;
use crate::config::Config;
use crate::exit::Exit;
use crate::finding::{self, Finding};
use crate::node::{Kind, Node};
use crate::printer::{Printer, Style};
use crate::project::Project;
use crate::render::{self, Unit};
use crate::validate;

/// A project read, rendered and checked.
pub(crate) struct Loaded {
    /// The project, its campaigns without their trees (`push`, `vars`, each locale's `audience`
    /// and `strings`): those are rendered into `units` and checked, and a repository of 10,000
    /// campaigns should not hold them through the rest of the command.
    pub(crate) project: Project,
    pub(crate) units: Vec<Unit>,
    pub(crate) findings: Vec<Finding>,
}

impl Loaded {
    pub(crate) fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}

pub(crate) fn load(global: &GlobalArgs) -> Result<Loaded> {
    load_env(global, global.env.as_deref())
}

/// The environments `validate` and `render` go through when no `--env` narrows them: every
/// declared one whose config merges (one that does not is already a finding).
pub(super) fn every_environment(global: &GlobalArgs, config: &Config) -> Vec<String> {
    if global.env.is_some() {
        return Vec::new();
    }
    config
        .environments
        .keys()
        .filter(|name| config.for_environment(name).is_ok())
        .cloned()
        .collect()
}

/// [`load`] in environment `env` (its config deep-merged over the top level).
pub(super) fn load_env(global: &GlobalArgs, env: Option<&str>) -> Result<Loaded> {
    Ok(load_project(Project::read_env(&global.dir, env)?))
}

/// Renders and checks a project already read (and perhaps turned into its pseudo-locale form).
pub(super) fn load_project(mut project: Project) -> Loaded {
    if project.inputs_broken() {
        // The config or a catalog did not parse: say so and stop, rather than render every unit
        // without it and report a cascade of false consequences.
        let mut findings = std::mem::take(&mut project.findings);
        findings.extend(validate::check_project(&project));
        finding::sort(&mut findings);
        return Loaded {
            project,
            units: Vec::new(),
            findings,
        };
    }
    // Each unit is checked as it is rendered and its tree and string sources (only needed to
    // locate findings) dropped at once: a repository of 30,000 units never holds 30,000 trees.
    // The campaigns' own trees go too, each once rendered: the project rules that read them
    // run first (their findings keep their place in the list).
    let project_findings = validate::check_project(&project);
    let mut unit_findings = Vec::new();
    let (units, mut findings) = render::render_all_with(&mut project, &mut |unit, body| {
        unit_findings.extend(validate::check_unit(unit, body));
        unit.tree = Node::new(Kind::Null);
        unit.strings_used = Vec::new();
    });
    findings.append(&mut project.findings);
    findings.extend(project_findings);
    findings.append(&mut unit_findings);
    validate::overlapping_audiences(&units, &mut findings);
    finding::sort(&mut findings);
    Loaded {
        project,
        units,
        findings,
    }
}

pub(super) fn run(global: &GlobalArgs, printer: &Printer) -> Result<Exit> {
    let mut loaded = load(global)?;
    // Every environment renders with its own defaults: check each (the top level alone is no
    // environment), report each problem once, and name the environments of a problem that
    // only some of them have.
    let environments = every_environment(global, &loaded.project.config);
    if !environments.is_empty() {
        let mut seen: Vec<(Finding, Vec<&str>)> = Vec::new();
        for name in &environments {
            let other = load_env(global, Some(name))?;
            for f in other.findings {
                match seen.iter_mut().find(|(g, _)| *g == f) {
                    Some((_, names)) => names.push(name),
                    None => seen.push((f, vec![name.as_str()])),
                }
            }
            loaded.units = other.units;
        }
        loaded.findings = seen
            .into_iter()
            .map(|(mut f, names)| {
                if names.len() < environments.len() {
                    f.message
                        .push_str(&format!(" (environment {})", names.join(", ")));
                }
                f
            })
            .collect();
    }
    finding::sort(&mut loaded.findings);
    printer.findings(&loaded.findings);
    let (errors, warnings) = finding::count(&loaded.findings);
    let campaigns = loaded.project.campaigns.len();
    let pushes = loaded.units.len();
    if errors > 0 {
        printer.err(&format!(
            "{} {errors} {}, {warnings} {} in {campaigns} {}.\n",
            printer.err_style(Style::Red, "Invalid:"),
            plural(errors, "error", "errors"),
            plural(warnings, "warning", "warnings"),
            plural(campaigns, "campaign", "campaigns"),
        ));
        return Ok(Exit::Error);
    }
    let warned = if warnings > 0 {
        format!(", {warnings} {}", plural(warnings, "warning", "warnings"))
    } else {
        String::new()
    };
    let each = if environments.is_empty() {
        String::new()
    } else {
        format!(
            " in each of {} environments ({})",
            environments.len(),
            environments.join(", ")
        )
    };
    printer.out(&format!(
        "{} {campaigns} {} rendered to {pushes} {}{each}{warned}.\n",
        printer.out_style(Style::Green, "Valid:"),
        plural(campaigns, "campaign", "campaigns"),
        plural(pushes, "push", "pushes"),
    ));
    Ok(Exit::Ok)
}

pub(super) fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}
