//! Command glue: load what the command needs, call the core, hand the result to the printer.
//! No rule of the domain lives here.

mod apply;
mod context;
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

use crate::cli::{Cli, Command, StateCommand};
use crate::exit::Exit;
use crate::printer::Printer;
use crate::project::Project;

use context::Context;
use validate::Loaded;

/// Runs a command, with the project and settings it needs resolved here, once (see
/// `context.rs`), in the order every command shares.
pub(crate) fn dispatch(cli: Cli, printer: &Printer) -> Result<Exit> {
    let global = &cli.global;
    // Plans or sends: the campaigns checked first ("No plan: …" and exit 1 on errors).
    let checked = |what: &str, run: &dyn Fn(&Context<'_>) -> Result<Exit>| match Context::checked(
        global, printer, what,
    )? {
        Some(cx) => run(&cx),
        None => Ok(Exit::Error),
    };
    match cli.command {
        Command::Validate => validate::run(global, printer),
        Command::Render(args) => render::run(global, &args, printer),
        Command::Plan(args) => checked("plan", &|cx| plan::run(cx, &args)),
        Command::Show(args) => plan::show(&args, printer),
        Command::Preview(args) => checked("preview", &|cx| preview::run(cx, &args)),
        Command::Apply(args) => checked("apply", &|cx| apply::run(cx, &args)),
        Command::SendTest(args) => checked("test send", &|cx| send_test::run(cx, &args)),
        Command::Quota => quota::run(&Context::configured(global, printer)?),
        Command::State(command) => {
            let cx = match command {
                // Edits about one unit: its current rendering is recorded.
                StateCommand::Import { .. } | StateCommand::Accept { .. } => {
                    Context::rendered(global, printer)?
                }
                StateCommand::List { .. }
                | StateCommand::Show { .. }
                | StateCommand::Resolve { .. }
                | StateCommand::Init { .. }
                | StateCommand::Pull { .. }
                | StateCommand::Push { .. }
                | StateCommand::ForgetRehearsals { .. }
                | StateCommand::Unlock { .. } => Context::configured(global, printer)?,
            };
            state::run(&cx, &command)
        }
        Command::Schema => schema::run(printer),
        Command::Init(args) => init::run(global, &args, printer),
        // The top level's catalogs: translations are not per environment.
        Command::L10n(command) => l10n::run(&Project::load(&global.dir)?, &command, printer),
        Command::Completions(args) => {
            let mut out = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "pushform", &mut out);
            printer.out(&String::from_utf8_lossy(&out));
            Ok(Exit::Ok)
        }
    }
}
