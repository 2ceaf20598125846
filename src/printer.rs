//! The one owner of stdout and stderr: data goes to stdout, diagnostics and progress to stderr,
//! colour only on a terminal (or when forced) and never with `NO_COLOR`, and `-q` silences the
//! chatter but never the data or the errors. Nothing else in the crate prints.
//!
//! Campaign text, lockfile records and server answers reach the terminal through here, and they
//! may come from an untrusted pull request: every control character in them is written as a
//! visible escape (`\u{1b}`), so no text can clear the screen, set the window title or hide a
//! line of the plan. Only pushform's own colour codes pass.

use std::borrow::Cow;
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
        let text = escape_controls(text, self.color_out);
        let mut stdout = io::stdout().lock();
        let _ = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush());
    }

    /// Diagnostics, always shown.
    pub fn err(&self, text: &str) {
        let text = escape_controls(text, self.color_err);
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

/// The escape sequences [`Printer::paint`] writes, without their leading ESC.
const OWN_COLOURS: &[&str] = &["[0m", "[1m", "[2m", "[31m", "[32m", "[33m", "[36m"];

/// `text` with every control character but newline and tab written as a visible `\u{..}`
/// escape. Kept as they are: pushform's own colour codes when `own_colours` (the stream is in
/// colour), and a carriage return that starts the text (pushform's own countdown line).
pub fn escape_controls(text: &str, own_colours: bool) -> Cow<'_, str> {
    let safe = |c: char| !c.is_control() || c == '\n' || c == '\t';
    if text.chars().all(safe) && !text.starts_with('\r') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    if let Some(after) = rest.strip_prefix('\r') {
        out.push('\r');
        rest = after;
    }
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        if safe(c) {
            out.push(c);
        } else if c == '\u{1b}'
            && own_colours
            && let Some(code) = OWN_COLOURS.iter().find(|code| rest.starts_with(**code))
        {
            out.push(c);
            out.push_str(code);
            rest = &rest[code.len()..];
        } else {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        let hostile = "title\u{1b}]0;owned\u{7}\u{1b}[2J\rgone\u{9b}31m\u{0}";
        let shown = escape_controls(hostile, false);
        assert_eq!(
            shown,
            "title\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{d}gone\\u{9b}31m\\u{0}"
        );
        assert!(!shown.chars().any(char::is_control));
        // Even in colour, only pushform's own codes pass.
        let coloured = escape_controls("\u{1b}[31merror\u{1b}[0m \u{1b}[2J", true);
        assert_eq!(coloured, "\u{1b}[31merror\u{1b}[0m \\u{1b}[2J");
    }

    #[test]
    fn plain_text_lines_tabs_and_a_leading_carriage_return_pass() {
        assert!(matches!(
            escape_controls("a\tb\nc 冬季", false),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            escape_controls("\r  a in 00:01:00 ", false),
            "\r  a in 00:01:00 "
        );
    }

    #[test]
    fn paint_output_survives_escaping_only_in_colour() {
        let p = Printer {
            color_out: true,
            color_err: true,
            quiet: false,
            verbose: 0,
        };
        for style in [
            Style::Red,
            Style::Green,
            Style::Yellow,
            Style::Cyan,
            Style::Bold,
            Style::Dim,
        ] {
            let painted = p.paint(true, style, "x");
            assert_eq!(escape_controls(&painted, true), painted);
        }
    }
}
