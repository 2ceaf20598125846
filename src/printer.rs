//! The one owner of stdout and stderr: data goes to stdout, diagnostics and progress to stderr,
//! colour only on a terminal (or when forced) and never with `NO_COLOR`, and `-q` silences the
//! chatter but never the data or the errors. Nothing else in the crate prints.

use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};

use crate::finding::{Finding, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug)]
pub enum Style {
    Red,
    Green,
    Yellow,
    Cyan,
    Bold,
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Red => "31",
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Cyan => "36",
            Style::Bold => "1",
            Style::Dim => "2",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Printer {
    pub color_out: bool,
    pub color_err: bool,
    pub quiet: bool,
    pub verbose: u8,
}

impl Printer {
    pub fn new(choice: ColorChoice, quiet: bool, verbose: u8) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Printer {
            color_out: decide(io::stdout().is_terminal()),
            color_err: decide(io::stderr().is_terminal()),
            quiet,
            verbose,
        }
    }

    /// A printer for tests and for rendering into strings: no colour.
    pub fn plain() -> Self {
        Printer {
            color_out: false,
            color_err: false,
            quiet: false,
            verbose: 0,
        }
    }

    pub fn paint(&self, enabled: bool, style: Style, text: &str) -> String {
        if enabled {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text.to_owned()
        }
    }

    /// Styles text bound for stdout.
    pub fn out_style(&self, style: Style, text: &str) -> String {
        self.paint(self.color_out, style, text)
    }

    /// Styles text bound for stderr.
    pub fn err_style(&self, style: Style, text: &str) -> String {
        self.paint(self.color_err, style, text)
    }

    /// Data. A closed pipe (`pushform render | head`) is not an error: the reader has what it wanted.
    pub fn out(&self, text: &str) {
        let mut stdout = io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    /// Diagnostics, always shown.
    pub fn err(&self, text: &str) {
        let mut stderr = io::stderr().lock();
        let _ = stderr
            .write_all(text.as_bytes())
            .and_then(|()| stderr.flush());
    }

    /// Progress and chatter, silenced by `-q`.
    pub fn info(&self, text: &str) {
        if !self.quiet {
            self.err(text);
        }
    }

    /// Detail shown with `-v`.
    pub fn debug(&self, text: &str) {
        if self.verbose > 0 {
            self.err(text);
        }
    }

    pub fn format_finding(&self, f: &Finding) -> String {
        let mut out = String::new();
        let label = match f.severity {
            Severity::Error => self.err_style(Style::Red, "error"),
            Severity::Warning => self.err_style(Style::Yellow, "warning"),
        };
        let _ = writeln!(out, "{label}: {f}");
        if let Some(detail) = &f.detail {
            for line in detail.lines() {
                let _ = writeln!(out, "  {}", self.err_style(Style::Dim, line));
            }
        }
        out
    }

    pub fn findings(&self, findings: &[Finding]) {
        let mut text = String::new();
        for f in findings {
            if f.severity == Severity::Warning && self.quiet {
                continue;
            }
            text.push_str(&self.format_finding(f));
        }
        self.err(&text);
    }
}
