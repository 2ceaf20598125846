//! Findings: what `validate` (and every command that loads a project) has to say about the files.
//!
//! Validation never stops at the first problem: every check appends a `Finding`, and the
//! command decides what to do with the list (print all, fail on any error). A finding names the
//! file, line and field path a user must edit, and the unit it concerns when there is one.

use std::fmt;

use serde::Serialize;

use crate::node::Origin;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// File relative to the project root, when the finding comes from one.
    pub file: Option<String>,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// Dotted field path inside the file (`push.notification.title`), when the finding is about a field.
    pub(crate) field: Option<String>,
    /// The push unit concerned (`winter-sale/en`), when the finding is about one rendering.
    pub(crate) unit: Option<String>,
    pub message: String,
    /// Extra lines shown under the message (a source excerpt, a template backtrace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}

impl Finding {
    pub(crate) fn error(message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            file: None,
            line: None,
            field: None,
            unit: None,
            message: message.into(),
            detail: None,
        }
    }

    pub(crate) fn warning(message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            ..Finding::error(message)
        }
    }

    #[must_use]
    pub(crate) fn at(mut self, origin: &Origin) -> Self {
        self.file = origin.file.as_deref().map(str::to_owned);
        self.line = (origin.line > 0).then_some(origin.line);
        self
    }

    #[must_use]
    pub(crate) fn in_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }

    #[must_use]
    pub(crate) fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    #[must_use]
    pub(crate) fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    #[must_use]
    pub(crate) fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line: field: message [unit]`, without the severity word (the printer adds it).
    pub(crate) fn location(&self) -> String {
        let mut out = String::new();
        if let Some(file) = &self.file {
            out.push_str(file);
            if let Some(line) = self.line {
                out.push(':');
                out.push_str(&line.to_string());
            }
        }
        out
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let location = self.location();
        if !location.is_empty() {
            write!(f, "{location}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(unit) = &self.unit {
            write!(f, " [{unit}]")?;
        }
        Ok(())
    }
}

/// Findings in the order a reader wants them: by file, line, then severity, keeping the order
/// of the checks for ties (a stable sort). A problem in a field that several units share (a
/// catalog string, a campaign-wide field) is reported once, naming all the units.
pub fn sort(findings: &mut Vec<Finding>) {
    findings.sort_by(|a, b| {
        (
            a.file.is_none(),
            &a.file,
            a.line,
            a.severity,
            &a.field,
            &a.message,
        )
            .cmp(&(
                b.file.is_none(),
                &b.file,
                b.line,
                b.severity,
                &b.field,
                &b.message,
            ))
    });
    let mut merged: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings.drain(..) {
        if let Some(last) = merged.last_mut() {
            let same = last.severity == f.severity
                && last.file == f.file
                && last.line == f.line
                && last.field == f.field
                && last.message == f.message
                && last.detail == f.detail;
            if same {
                if let (Some(units), Some(unit)) = (&mut last.unit, f.unit)
                    && !units.split(", ").any(|u| u == unit)
                {
                    units.push_str(", ");
                    units.push_str(&unit);
                }
                continue;
            }
        }
        merged.push(f);
    }
    *findings = merged;
}

pub(crate) fn count(findings: &[Finding]) -> (usize, usize) {
    let errors = findings.iter().filter(|f| f.is_error()).count();
    (errors, findings.len() - errors)
}
