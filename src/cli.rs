//! Every command-line type, in one place. The parsed arguments are turned into a resolved
//! `Settings` value once (see `settings.rs`); commands never read the environment themselves.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::printer::ColorChoice;

const AFTER_HELP: &str = "\
Workflow:
  pushform validate                 check campaigns, templates and translations (no lock, no network)
  pushform plan                     what would be sent now, what is scheduled, what changed (in the PR)
  pushform apply --auto-approve     send what is due, in order, inside the quota (after merge, hourly)

Environment:
  RONGCLOUD_APP_KEY, RONGCLOUD_APP_SECRET   credentials for apply (names configurable in pushform.yaml)
  PUSHFORM_ENDPOINT                         comma-separated base URLs (rehearsals against the emulator)
  PUSHFORM_NOW                              pin \"now\" to an RFC 3339 instant (rehearsals and tests)
  NO_COLOR                                  disable colour

Exit codes: 0 ok, 1 error, 2 pending sends (plan --detailed-exitcode only).";

/// Campaign-as-code for the /push.json broadcast API.
///
/// Campaigns are templated, localised YAML files reviewed in git. pushform renders them to the
/// exact request bodies, compares them with the lockfile of what was already sent, plans every
/// send into the provider's quota (2 an hour, 3 a natural day), and applies the plan in order,
/// recording each send durably so that nothing is ever sent twice.
#[derive(Debug, Parser)]
#[command(name = "pushform", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Run in DIR, the campaign repository root (holding pushform.yaml and campaigns/).
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        value_name = "DIR",
        default_value = "."
    )]
    pub dir: PathBuf,
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Print only data and errors: no progress, no warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Pin "now" to this RFC 3339 instant for plan, apply, quota and the times apply records.
    #[arg(
        long,
        global = true,
        env = "PUSHFORM_NOW",
        value_name = "TIME",
        hide_env_values = true
    )]
    pub now: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, render and check every campaign; report all problems at once.
    ///
    /// Needs no lockfile, no credentials and no network. Exits 1 if any error is found.
    Validate,
    /// Print the exact request bodies, in file-path order then locale order.
    Render(RenderArgs),
    /// Print the JSON Schema (draft-07) of campaign files, for editors.
    ///
    /// Point your editor at it with a first line such as
    /// `# yaml-language-server: $schema=./campaign.schema.json`.
    Schema,
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Only these units: a campaign id (all its locales) or a unit key such as `winter-sale/en`.
    #[arg(value_name = "KEY")]
    pub keys: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RenderFormat::Json)]
    pub format: RenderFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RenderFormat {
    /// A JSON array of {key, campaign, locale, file, digest, body}.
    Json,
    /// Each body pretty-printed under a header line.
    Human,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
