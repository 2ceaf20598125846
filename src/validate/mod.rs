//! Validation: every rule of the provider's `/push.json` page (docs/contract.md §4) and the campaign
//! rules, all reported at once.
//!
//! `check_body` is pure and knows nothing of files: it returns issues keyed by field path, which
//! `check` turns into findings with the file and line where each field was written. The test
//! emulator applies the same `check_body`, so what pushform accepts is what the provider would.
//!
//! `body` holds the body rules, `project` the rules across campaigns and of the config,
//! `overlap` the audiences of one campaign's locales; this file joins them.

mod body;
mod overlap;
mod project;

pub(crate) use body::*;
pub use body::{Issue, check_json_body};
pub(crate) use overlap::overlapping_audiences;
pub(crate) use project::*;

use crate::body::PushBody;
use crate::finding::Finding;
use crate::project::Project;
use crate::render::Unit;

/// All campaign and body rules over a loaded, rendered project.
pub fn check(project: &Project, units: &[Unit]) -> Vec<Finding> {
    let mut findings = check_project(project);
    for unit in units {
        findings.extend(check_unit(unit, &unit.push_body()));
    }
    overlapping_audiences(units, &mut findings);
    findings
}

/// The body rules of one unit, located in the files through the unit's rendered tree.
pub(crate) fn check_unit(unit: &Unit, body: &PushBody) -> Vec<Finding> {
    check_body(body)
        .into_iter()
        .map(|issue| {
            let origin = unit.tree.locate(&issue.path);
            let field = format!("push.{}", issue.path);
            let mut message = issue.message;
            if let Some((_, sources)) = unit.strings_used.iter().find(|(path, _)| *path == field) {
                let sources: Vec<String> = sources.iter().map(ToString::to_string).collect();
                message.push_str(&format!(" (text from {})", sources.join(", ")));
            }
            let finding = Finding {
                severity: issue.severity,
                ..Finding::error(message)
            };
            finding.at(&origin).field(field).unit(unit.key.clone())
        })
        .collect()
}

#[cfg(test)]
mod tests;
