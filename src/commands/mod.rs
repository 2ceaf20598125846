//! Command glue: load what the command needs, call the core, hand the result to the printer.
//! No rule of the domain lives here.

mod apply;
mod init;
mod l10n;
mod plan;
mod preview;
mod quota;
mod render;
pub mod schema;
mod send_test;
mod state;
mod validate;

use anyhow::Result;
use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::exit::Exit;
use crate::printer::Printer;

pub use validate::{Loaded, load};

pub fn dispatch(cli: Cli, printer: &Printer) -> Result<Exit> {
    let global = &cli.global;
    match cli.command {
        Command::Validate => validate::run(global, printer),
        Command::Render(args) => render::run(global, &args, printer),
        Command::Plan(args) => plan::run(global, &args, printer),
        Command::Show(args) => plan::show(&args, printer),
        Command::Preview(args) => preview::run(global, &args, printer),
        Command::Apply(args) => apply::run(global, &args, printer),
        Command::SendTest(args) => send_test::run(global, &args, printer),
        Command::Quota => quota::run(global, printer),
        Command::State(command) => state::run(global, &command, printer),
        Command::Schema => schema::run(printer),
        Command::Init(args) => init::run(global, &args, printer),
        Command::L10n(command) => l10n::run(global, &command, printer),
        Command::Completions(args) => {
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "pushform", &mut out);
            printer.out(&String::from_utf8_lossy(&out));
            Ok(Exit::Ok)
        }
    }
}
