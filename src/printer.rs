//! The one owner of stdout and stderr: data goes to stdout, diagnostics and progress to stderr,
//! colour only on a terminal (or when forced) and never with `NO_COLOR`, and `-q` silences the
//! chatter but never the data or the errors. Nothing else in the crate prints.
//!
//! Both streams are `anstream` streams: in colour they pass the `anstyle` codes through (and
//! translate them for an old Windows console), without colour they strip them, so no caller asks
//! whether colour is on. The printer also owns the one status line (the `--wait` countdown,
//! redrawn in place on a terminal) and clears it before anything else is written, so no line is
//! printed over a half-erased countdown.
//!
//! A reader that closes stdout early (`pushform render | head`) has what it wanted: that is not an
//! error, and nothing more is written. Any other stdout failure (a full disk under
//! `plan --format json > plan.json`) is remembered and turned into exit 1 by [`crate::run`], so a
//! truncated file never looks like a success.
//!
//! Campaign text, lockfile records and server answers reach the terminal through here, and they
//! may come from an untrusted pull request: every control character in them is written as a
//! visible escape (`\u{1b}`), so no text can clear the screen, set the window title or hide a
//! line of the plan. Only pushform's own colour codes pass.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, PoisonError};

use anstream::{AutoStream, ColorChoice as StreamChoice};
use anstyle::AnsiColor;

use crate::finding::{Finding, Severity};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Style {
    Red,
    Green,
    Yellow,
    Cyan,
    Bold,
    Dim,
}

impl Style {
    fn anstyle(self) -> anstyle::Style {
        match self {
            Style::Red => AnsiColor::Red.on_default(),
            Style::Green => AnsiColor::Green.on_default(),
            Style::Yellow => AnsiColor::Yellow.on_default(),
            Style::Cyan => AnsiColor::Cyan.on_default(),
            Style::Bold => anstyle::Style::new().bold(),
            Style::Dim => anstyle::Style::new().dimmed(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Printer {
    /// Whether stdout, and stderr, are in colour: decided once from `--color`, `NO_COLOR` and
    /// the terminal, never `Auto`.
    out_color: StreamChoice,
    err_color: StreamChoice,
    pub(crate) quiet: bool,
    pub(crate) verbose: u8,
    /// Whether stderr is a terminal, where a status line can be redrawn in place.
    err_tty: bool,
    /// Shared by clones: they write to the same streams.
    streams: Arc<Mutex<Streams>>,
}

/// What the printer remembers between writes.
#[derive(Debug, Default)]
struct Streams {
    /// The width of the status line now on stderr; 0 when there is none.
    status_width: usize,
    /// The reader closed stdout: the data is no longer wanted, and that is not an error.
    out_closed: bool,
    /// The first other stdout failure; nothing more is written to stdout after it.
    out_failed: Option<io::Error>,
    /// Where a test printer writes (stdout, stderr) instead of the process's streams.
    #[cfg(test)]
    captured: Option<(Vec<u8>, Vec<u8>)>,
}

impl Printer {
    pub(crate) fn new(choice: ColorChoice, quiet: bool, verbose: u8) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| {
            let on = match choice {
                ColorChoice::Always => true,
                ColorChoice::Never => false,
                ColorChoice::Auto => tty && !no_color,
            };
            if on {
                StreamChoice::Always
            } else {
                StreamChoice::Never
            }
        };
        let err_tty = io::stderr().is_terminal();
        Printer {
            out_color: decide(io::stdout().is_terminal()),
            err_color: decide(err_tty),
            quiet,
            verbose,
            err_tty,
            streams: Arc::default(),
        }
    }

    /// A printer for tests and for rendering into strings: no colour.
    pub fn plain() -> Self {
        Printer {
            out_color: StreamChoice::Never,
            err_color: StreamChoice::Never,
            quiet: false,
            verbose: 0,
            err_tty: false,
            streams: Arc::default(),
        }
    }

    fn paint(choice: StreamChoice, style: Style, text: &str) -> String {
        // Painted only for a stream in colour, so that text rendered for a string (a test, a
        // file) carries no codes either; a stream without colour would strip them anyway.
        if choice == StreamChoice::Never {
            return text.to_owned();
        }
        let style = style.anstyle();
        format!("{style}{text}{style:#}")
    }

    /// Styles text bound for stdout.
    pub(crate) fn out_style(&self, style: Style, text: &str) -> String {
        Self::paint(self.out_color, style, text)
    }

    /// Styles text bound for stderr.
    pub(crate) fn err_style(&self, style: Style, text: &str) -> String {
        Self::paint(self.err_color, style, text)
    }

    /// Data. A closed pipe (`pushform render | head`) is not an error: the reader has what it
    /// wanted. Any other failure is kept for `Printer::stdout_error`.
    pub(crate) fn out(&self, text: &str) {
        let text = escape_controls(text, self.out_color != StreamChoice::Never);
        let mut streams = self.lock();
        self.clear_status(&mut streams);
        if streams.out_closed || streams.out_failed.is_some() {
            return;
        }
        match streams.write(Stream::Out, self.out_color, &text) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => streams.out_closed = true,
            Err(e) => streams.out_failed = Some(e),
        }
    }

    /// Diagnostics, always shown.
    pub(crate) fn err(&self, text: &str) {
        let text = escape_controls(text, self.err_color != StreamChoice::Never);
        let mut streams = self.lock();
        self.clear_status(&mut streams);
        // Where would a failure to write a diagnostic be reported? The exit code still tells.
        let _ = streams.write(Stream::Err, self.err_color, &text);
    }

    /// Progress and chatter, silenced by `-q`.
    pub(crate) fn info(&self, text: &str) {
        if !self.quiet {
            self.err(text);
        }
    }

    /// One line of progress redrawn in place on stderr (the `--wait` countdown): shown only on a
    /// terminal and without `-q`, replaced by the next status, and cleared before the next
    /// message on either stream. `text` is one line, without a newline.
    pub(crate) fn status(&self, text: &str) {
        if self.quiet || !self.err_tty {
            return;
        }
        let text = escape_controls(text, self.err_color != StreamChoice::Never);
        let mut streams = self.lock();
        self.clear_status(&mut streams);
        if streams
            .write(Stream::Err, self.err_color, &format!("\r{text}"))
            .is_ok()
        {
            streams.status_width = text.chars().count();
        }
    }

    /// The stdout failure that was not a closed pipe, if any: the data the command produced did
    /// not all arrive, so the command must not exit 0.
    pub(crate) fn stdout_error(&self) -> Option<String> {
        self.lock().out_failed.as_ref().map(ToString::to_string)
    }

    /// Blanks the status line, if one is shown, and returns the cursor to its start.
    fn clear_status(&self, streams: &mut Streams) {
        if streams.status_width > 0 {
            let blank = format!("\r{}\r", " ".repeat(streams.status_width));
            let _ = streams.write(Stream::Err, self.err_color, &blank);
            streams.status_width = 0;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Streams> {
        // A panic while printing leaves nothing half-updated that matters here.
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
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

    pub(crate) fn findings(&self, findings: &[Finding]) {
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

#[derive(Clone, Copy)]
enum Stream {
    Out,
    Err,
}

impl Streams {
    /// Writes and flushes `text` through an `anstream` stream in `choice`.
    // `self` holds the capture buffers of a test printer; elsewhere these are the process's streams.
    #[cfg_attr(not(test), allow(clippy::unused_self))]
    fn write(&mut self, stream: Stream, choice: StreamChoice, text: &str) -> io::Result<()> {
        fn through<W: anstream::stream::RawStream + anstream::stream::AsLockedWrite>(
            raw: W,
            choice: StreamChoice,
            text: &str,
        ) -> io::Result<()> {
            let mut stream = AutoStream::new(raw, choice);
            stream.write_all(text.as_bytes())?;
            stream.flush()
        }
        #[cfg(test)]
        if let Some((out, err)) = &mut self.captured {
            return match stream {
                Stream::Out => through(out, choice, text),
                Stream::Err => through(err, choice, text),
            };
        }
        match stream {
            Stream::Out => through(io::stdout().lock(), choice, text),
            Stream::Err => through(io::stderr().lock(), choice, text),
        }
    }
}

/// The escape sequences [`Style`] paints with (`anstyle`), without their leading ESC.
const OWN_COLOURS: &[&str] = &["[0m", "[1m", "[2m", "[31m", "[32m", "[33m", "[36m"];

/// `text` with every control character but newline and tab written as a visible `\u{..}`
/// escape. Kept as they are: pushform's own colour codes when `own_colours` (the stream is in
/// colour), and a carriage return that starts the text (pushform's own countdown line).
pub(crate) fn escape_controls(text: &str, own_colours: bool) -> Cow<'_, str> {
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

    const STYLES: [Style; 6] = [
        Style::Red,
        Style::Green,
        Style::Yellow,
        Style::Cyan,
        Style::Bold,
        Style::Dim,
    ];

    /// A printer writing into buffers, as if stderr were a terminal when `err_tty`.
    fn captured(colour: bool, err_tty: bool, quiet: bool) -> Printer {
        let choice = if colour {
            StreamChoice::Always
        } else {
            StreamChoice::Never
        };
        let p = Printer {
            out_color: choice,
            err_color: choice,
            quiet,
            verbose: 0,
            err_tty,
            streams: Arc::default(),
        };
        p.lock().captured = Some((Vec::new(), Vec::new()));
        p
    }

    /// What a captured printer wrote: (stdout, stderr).
    fn written(p: &Printer) -> (String, String) {
        let streams = p.lock();
        let (out, err) = streams.captured.as_ref().expect("a captured printer");
        (
            String::from_utf8_lossy(out).into_owned(),
            String::from_utf8_lossy(err).into_owned(),
        )
    }

    #[test]
    fn paint_output_survives_escaping_only_in_colour() {
        let p = captured(true, false, false);
        for style in STYLES {
            let painted = p.out_style(style, "x");
            assert_ne!(painted, "x", "{style:?} paints in colour");
            assert_eq!(escape_controls(&painted, true), painted);
        }
    }

    #[test]
    fn colour_reaches_the_stream_only_when_on() {
        let on = captured(true, false, false);
        on.out(&format!("{}\n", on.out_style(Style::Red, "error")));
        on.err(&on.err_style(Style::Bold, "b"));
        assert_eq!(
            written(&on),
            (
                "\u{1b}[31merror\u{1b}[0m\n".to_owned(),
                "\u{1b}[1mb\u{1b}[0m".to_owned()
            )
        );
        let off = captured(false, false, false);
        for style in STYLES {
            assert_eq!(off.out_style(style, "x"), "x");
            assert_eq!(off.err_style(style, "x"), "x");
        }
        // Text from a campaign never carries an escape sequence to the terminal, in colour or not.
        off.out("a\u{1b}[2Jb\n");
        on.out("a\u{1b}[2Jb\n");
        assert_eq!(written(&off).0, "a\\u{1b}[2Jb\n");
        assert!(written(&on).0.ends_with("a\\u{1b}[2Jb\n"));
    }

    #[test]
    fn the_status_line_is_redrawn_in_place_and_cleared_before_the_next_line() {
        let p = captured(false, true, false);
        p.status("  a in 00:01:00");
        p.status("  a in 00:00:59");
        p.out("data\n");
        p.err("next\n");
        let (out, err) = written(&p);
        assert_eq!(out, "data\n");
        let blank = format!("\r{}\r", " ".repeat(15));
        assert_eq!(
            err,
            format!("\r  a in 00:01:00{blank}\r  a in 00:00:59{blank}next\n")
        );
    }

    #[test]
    fn no_status_line_off_a_terminal_or_with_quiet() {
        for p in [captured(false, false, false), captured(false, true, true)] {
            p.status("  a in 00:01:00");
            p.err("next\n");
            assert_eq!(written(&p), (String::new(), "next\n".to_owned()));
        }
    }
}
