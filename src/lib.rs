//! pushform: campaign-as-code for the `/push.json` broadcast API.
//!
//! The crate is layered so that every arrow points down: `commands` (glue) use the core
//! (`render`, `validate`, and later `plan`), which uses the data model (`body`, `campaign`,
//! `config`, `node`). The core never touches the terminal, the network or the clock; `printer`
//! owns the output.
//!
//! The public surface is not a library API and carries no stability promise: the few modules
//! and items that are `pub` are so only because the integration tests (`tests/cli`) and the
//! examples (the provider emulator, the corpus generator) drive pushform from outside the
//! crate. Every other module is `pub(crate)`, so that rustc reports what nothing uses.

pub(crate) mod apply;
pub(crate) mod atomic;
pub(crate) mod body;
pub(crate) mod campaign;
pub mod cli;
pub(crate) mod client;
pub mod commands;
pub(crate) mod compare;
pub(crate) mod config;
#[cfg(feature = "emulator")]
pub mod emulator;
pub(crate) mod exit;
pub mod finding;
pub(crate) mod l10n;
pub(crate) mod node;
pub(crate) mod plan;
pub(crate) mod preview;
pub mod printer;
pub mod project;
pub(crate) mod quota;
pub mod render;
pub(crate) mod report;
pub(crate) mod settings;
pub mod state;
pub mod validate;
pub(crate) mod window;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

/// Parses the command line, runs the command, prints an error once, and maps it to an exit code.
pub fn run() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_exit(&err),
    };
    let printer = printer::Printer::new(cli.global.color, cli.global.quiet, cli.global.verbose);
    let exit = match commands::dispatch(cli, &printer) {
        Ok(exit) => exit,
        Err(err) => {
            printer.err(&format!(
                "{}: {err:#}\n",
                printer.err_style(printer::Style::Red, "error")
            ));
            exit::Exit::Error
        }
    };
    // Output that did not all arrive (a full disk under `plan --format json > plan.json`) is a
    // failure whatever the command concluded; a reader that closed the pipe is not.
    if let Some(problem) = printer.stdout_error() {
        printer.err(&format!(
            "{}: cannot write to stdout: {problem}; the output is incomplete\n",
            printer.err_style(printer::Style::Red, "error")
        ));
        return ExitCode::from(exit::Exit::Error.code());
    }
    ExitCode::from(exit.code())
}

/// `--help` and `--version` exit 0; every usage error exits 1 like any other error. clap's own
/// default is 2, which is `plan --detailed-exitcode`'s "pushes pending": a mistyped flag in a CI
/// plan step would read as "changes to review" instead of failing the check.
fn usage_exit(err: &clap::Error) -> ExitCode {
    // Printing fails only when the stream is closed; the exit code still tells.
    let _ = err.print();
    ExitCode::from(usage_code(err.kind()).code())
}

/// The exit code of a command line clap did not run: help and version are not errors.
fn usage_code(kind: ErrorKind) -> exit::Exit {
    match kind {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => exit::Exit::Ok,
        _ => exit::Exit::Error,
    }
}
