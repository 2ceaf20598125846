//! pushform: campaign-as-code for the `/push.json` broadcast API.
//!
//! The crate is layered so that every arrow points down: `commands` (glue) use the core
//! (`render`, `validate`, and later `plan`), which uses the data model (`body`, `campaign`,
//! `config`, `node`). The core never touches the terminal, the network or the clock; `printer`
//! owns the output.

pub mod apply;
pub mod atomic;
pub mod body;
pub mod campaign;
pub mod cli;
pub mod client;
pub mod commands;
pub mod config;
pub mod emulator;
pub mod exit;
pub mod finding;
pub mod node;
pub mod plan;
pub mod printer;
pub mod project;
pub mod quota;
pub mod render;
pub mod report;
pub mod settings;
pub mod state;
pub mod validate;

/// The old name of [`state`], kept so code written against it keeps compiling.
pub use state as lockfile;

use std::process::ExitCode;

use clap::Parser;

/// Parses the command line, runs the command, prints an error once, and maps it to an exit code.
pub fn run() -> ExitCode {
    let cli = cli::Cli::parse();
    let printer = printer::Printer::new(cli.global.color, cli.global.quiet, cli.global.verbose);
    match commands::dispatch(cli, &printer) {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(err) => {
            printer.err(&format!(
                "{}: {err:#}\n",
                printer.err_style(printer::Style::Red, "error")
            ));
            ExitCode::from(exit::Exit::Error.code())
        }
    }
}
