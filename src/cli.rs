//! Every command-line type, in one place. The parsed arguments are turned into a resolved
//! `Settings` value once (see `settings.rs`), in the context `dispatch` builds for the commands
//! (see `commands/context.rs`); commands never read the environment themselves.
//!
//! Values with a syntax of their own (`--now`, `--sent-at`, `--lock-timeout`, `--endpoint`) are
//! parsed here by clap `value_parser`s into typed values, from the flag or from the environment
//! variable standing in for it alike: a malformed one is a usage error (exit 1) before anything
//! is read, and no command parses a string again.

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::printer::ColorChoice;

const AFTER_HELP: &str = "\
Workflow:
  pushform validate              check campaigns, templates, translations (offline)
  pushform plan                  what goes out now, what is scheduled and why (in the PR)
  pushform apply --auto-approve  send what is due, in order, in quota (after merge, hourly)

Environment:
  RONGCLOUD_APP_KEY, RONGCLOUD_APP_SECRET  credentials for apply (names set in pushform.yaml)
  PUSHFORM_ENDPOINT  comma-separated base URLs (rehearsals against the emulator)
  PUSHFORM_NOW       pin \"now\" to an RFC 3339 instant (rehearsals and tests)
  PUSHFORM_ENV       the environment (--env) when pushform.yaml declares environments
  NO_COLOR           disable colour

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
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// Run in DIR, the campaign repository root (holding pushform.yaml and campaigns/).
    #[arg(
        short = 'C',
        long = "dir",
        global = true,
        value_name = "DIR",
        default_value = "."
    )]
    pub(crate) dir: PathBuf,
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub(crate) color: ColorChoice,
    /// Print only data and errors: no progress, no warnings.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    /// Print more detail (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Pin "now" to this RFC 3339 instant for plan, apply, quota and the times apply records.
    #[arg(
        long,
        global = true,
        env = "PUSHFORM_NOW",
        value_name = "TIME",
        hide_env_values = true,
        value_parser = Worded(now_value)
    )]
    pub(crate) now: Option<DateTime<Utc>>,
    /// The environment (declared under `environments:` in pushform.yaml) to work in: needed
    /// by plan, apply, quota, state and send-test when environments are declared; validate
    /// and render check every environment without it.
    #[arg(long = "env", global = true, env = "PUSHFORM_ENV", value_name = "NAME")]
    pub(crate) env: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Parse, render and check every campaign; report all problems at once.
    ///
    /// Needs no lockfile, no credentials and no network. Exits 1 if any error is found.
    Validate,
    /// Print the exact request bodies, in file-path order then locale order.
    Render(RenderArgs),
    /// Show what apply would do: sent now, scheduled (when and why), changed, blocked.
    ///
    /// Compares the rendered campaigns with the lockfile and fits every pending push into the
    /// quota, in order. Needs no credentials and no network.
    Plan(PlanArgs),
    /// Print a plan saved with `plan --out FILE`.
    Show(ShowArgs),
    /// Write a static site: the plan as a timeline and every push as the phones show it.
    ///
    /// An index with the plan day by day (slots, reasons, quota windows), and a page per
    /// campaign with its locales side by side as iOS (lock screen, banner), Android (shade,
    /// collapsed and expanded) and HarmonyOS show them, from the fields that win on each
    /// platform, with the lines each platform cuts marked. HTML and CSS only: no script, nothing
    /// loaded from the network. Open DIR/index.html, or upload DIR as a CI artifact.
    Preview(PreviewArgs),
    /// Send what is due, in plan order, inside the quota; record every send in the lockfile.
    ///
    /// Without PLANFILE it plans, shows the plan and asks for `yes` (or takes --auto-approve).
    /// With PLANFILE (from `plan --out`) it applies exactly that plan and refuses it if the
    /// lockfile or any body changed since. Each send is written to the lockfile before the
    /// request (`sending`) and after it (`sent`, `rejected` or `unknown`); apply stops at the
    /// first push that is not sent. Credentials come from RONGCLOUD_APP_KEY and
    /// RONGCLOUD_APP_SECRET (or the names set in pushform.yaml).
    Apply(ApplyArgs),
    /// Send one push's exact body to test users only, to see it on a device first.
    ///
    /// The body is the unit's, byte for byte, with `audience` replaced by `{userid: [...],
    /// is_to_all: false}` (the --to users, or `test_to` in pushform.yaml). It goes through the
    /// same signed client and state as apply (`sending` recorded before the request, the
    /// outcome after) as a `test` record: it uses one send of the App Key's quota, as it does
    /// at the provider, and never makes the push sent. An environment with `require_test_in:
    /// ENV` sends a push only once its content has a sent test record in ENV.
    SendTest(SendTestArgs),
    /// Show quota usage (last 60 minutes, today) and the next free slots.
    Quota,
    /// Inspect the lockfile, import outside sends, and resolve uncertain ones.
    #[command(subcommand)]
    State(StateCommand),
    /// Print the JSON Schema (draft-07) of campaign files, for editors.
    ///
    /// Point your editor at it with a first line such as
    /// `# yaml-language-server: $schema=./campaign.schema.json`.
    Schema,
    /// Write a starter campaign repository into DIR.
    ///
    /// Config, a campaign in two locales, templates, string catalogs, the campaign schema and
    /// the CI workflows. Refuses to overwrite anything: if any of its files exists, it lists them and writes nothing.
    Init(InitArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Translation coverage, and the round trip with translators (XLIFF 2.0 or gettext PO).
    ///
    /// `status` reports, per locale, the keys of `t` campaigns read, found, filled by a
    /// fallback, and missing. `export` writes one locale's strings for a translation platform,
    /// the default locale's text as source; `import` writes the translations back into
    /// `templates/locales/<L>.yaml`.
    #[command(subcommand)]
    L10n(L10nCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum L10nCommand {
    /// Per locale: keys used, found, filled by fallback, missing; unused catalog keys; lost
    /// placeholders. Exits 1 if any key is missing.
    Status {
        /// Output format.
        #[arg(long, value_enum, default_value_t = L10nStatusFormat::Human)]
        format: L10nStatusFormat,
    },
    /// Write the catalog strings of one locale for translators: source = the default locale's
    /// text, target = the locale's current text (if any).
    ///
    /// Placeholders (`{{ name }}`, `{% … %}`) are inline codes in XLIFF and kept verbatim in PO;
    /// plural entries carry the locale's CLDR forms; a string shown as a notification title
    /// carries the provider's 50-character limit.
    Export {
        /// The locale to translate into, e.g. `ru`.
        #[arg(long, value_name = "L")]
        locale: String,
        /// Exchange format.
        #[arg(long, value_enum, default_value_t = L10nFormat::Xliff)]
        format: L10nFormat,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Write a translated XLIFF or PO file back into `templates/locales/<L>.yaml`.
    ///
    /// Refuses a file whose source text no longer matches the default locale (translated
    /// against an old text) or whose placeholders were damaged, naming the keys. The catalog is
    /// written with sorted keys and double-quoted strings, so re-imports diff cleanly.
    Import {
        /// An .xlf/.xliff or .po file from `l10n export`.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum L10nStatusFormat {
    /// A table and lists for people.
    Human,
    /// One JSON object, for scripts.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum L10nFormat {
    /// XLIFF 2.0.
    Xliff,
    /// gettext PO.
    Po,
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// Only these units: a campaign id (all its locales) or a unit key such as `winter-sale/en`.
    #[arg(value_name = "KEY")]
    pub(crate) keys: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RenderFormat::Json)]
    pub(crate) format: RenderFormat,
    /// Only units in this locale. `en-XA` is the pseudo-locale: the default locale's text
    /// accented, ~35% longer and bracketed, to find hard-coded and cut text; it is never planned
    /// or sent.
    #[arg(long, value_name = "L")]
    pub(crate) locale: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RenderFormat {
    /// A JSON array of {key, campaign, locale, file, digest, body}.
    Json,
    /// Each body pretty-printed under a header line.
    Human,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum StateListFormat {
    /// One line per record, for people.
    Human,
    /// `{"lineage", "serial", "records": [...]}`, each record as the lockfile holds it plus
    /// its `project` where the backend has one.
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum PlanFormat {
    /// For people, with colour on a terminal.
    Human,
    /// Versioned and stable, for scripts (the same form as `--out`).
    Json,
    /// A pull-request comment (kept under 65,000 characters).
    Markdown,
}

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub(crate) format: PlanFormat,
    /// Save the plan (JSON, no secrets) for `pushform apply FILE` or `pushform show FILE`.
    #[arg(short = 'o', long = "out", value_name = "FILE", value_parser = out_file)]
    pub(crate) out: Option<PathBuf>,
    /// Exit 0 when nothing is to be sent, 2 when pushes are due now or scheduled, 1 on error.
    #[arg(long)]
    pub(crate) detailed_exitcode: bool,
    /// Also list the units that are up to date.
    #[arg(long)]
    pub(crate) all: bool,
    /// The base URLs apply would send to (as for apply): a state holding rehearsal records
    /// is refused when they are not loopback.
    #[arg(long, env = "PUSHFORM_ENDPOINT", value_name = "URLS", value_parser = Worded(endpoints_value))]
    pub(crate) endpoint: Option<Endpoints>,
    /// Say what this change adds to the queue, which pending pushes it moves (from when to
    /// when) and which it makes expire, compared with BASE, a plan saved from the base branch
    /// with `pushform plan --out BASE` (human and markdown formats).
    #[arg(long, value_name = "BASE", env = "PUSHFORM_COMPARE_TO")]
    pub(crate) compare_to: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PreviewArgs {
    /// Only these campaigns or units (the timeline still shows the whole plan).
    #[arg(value_name = "KEY")]
    pub(crate) keys: Vec<String>,
    /// The folder to write (relative to -C); replaced if an earlier preview wrote it.
    #[arg(
        short = 'o',
        long = "out",
        value_name = "DIR",
        default_value = "preview"
    )]
    pub(crate) out: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct ApplyArgs {
    /// A plan saved with `pushform plan --out FILE`.
    #[arg(value_name = "PLANFILE")]
    pub(crate) plan: Option<PathBuf>,
    /// Do not ask for confirmation (needed when not on a terminal, e.g. in CI).
    #[arg(long)]
    pub(crate) auto_approve: bool,
    /// After the due sends, wait for the next slot and continue until everything is sent.
    #[arg(long)]
    pub(crate) wait: bool,
    /// Only these units: a campaign id (all its locales) or a unit key. Repeatable.
    #[arg(long, value_name = "KEY")]
    pub(crate) target: Vec<String>,
    #[command(flatten)]
    pub(crate) lock_wait: LockWait,
    /// Base URLs to send to, comma-separated, primary first (overrides pushform.yaml; for
    /// rehearsals against the emulator). Plain http:// is allowed only to loopback.
    #[arg(long, env = "PUSHFORM_ENDPOINT", value_name = "URLS", value_parser = Worded(endpoints_value))]
    pub(crate) endpoint: Option<Endpoints>,
    /// Accept a state last written under another App Key: the key was rotated on purpose.
    /// Without it such a state is refused before anything is sent.
    #[arg(long)]
    pub(crate) new_app_key: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SendTestArgs {
    /// The unit to test: a unit key such as `winter-sale/en`, or a campaign id with one locale.
    #[arg(value_name = "KEY")]
    pub(crate) key: String,
    /// A test user id to send to (repeatable); default: `test_to` in pushform.yaml.
    #[arg(long = "to", value_name = "USERID")]
    pub(crate) to: Vec<String>,
    /// Do not ask for confirmation (needed when not on a terminal, e.g. in CI).
    #[arg(long)]
    pub(crate) auto_approve: bool,
    #[command(flatten)]
    pub(crate) lock_wait: LockWait,
    /// Base URLs to send to, comma-separated, primary first (as for apply).
    #[arg(long, env = "PUSHFORM_ENDPOINT", value_name = "URLS", value_parser = Worded(endpoints_value))]
    pub(crate) endpoint: Option<Endpoints>,
    /// Accept a state last written under another App Key (a deliberate key rotation).
    #[arg(long)]
    pub(crate) new_app_key: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// A plan file written by `pushform plan --out FILE`.
    #[arg(value_name = "FILE")]
    pub(crate) file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Human)]
    pub(crate) format: PlanFormat,
}

#[derive(Debug, Args)]
pub(crate) struct LockWait {
    /// Wait up to this many seconds for another pushform holding the state (the lockfile's OS
    /// lock, the lease on the git state branch, or the postgres scope's advisory lock), instead
    /// of failing at once.
    #[arg(long, value_name = "SECONDS", value_parser = Worded(seconds_value))]
    pub(crate) lock_timeout: Option<Duration>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// List every record of the state (one per send attempt).
    ///
    /// With the postgres backend, the records of every project in the scope, each naming its
    /// project: they all count against the App Key's quota.
    List {
        /// Output format (`json`: every record in full, for scripts and operators).
        #[arg(long, value_enum, default_value_t = StateListFormat::Human)]
        format: StateListFormat,
    },
    /// Show every record of one unit, with its body.
    Show {
        /// A unit key, e.g. `winter-sale-2026/en`.
        key: String,
    },
    /// Record a push sent before adopting pushform, or outside it, so it is never sent again.
    ///
    /// The unit must be in the campaign files: its current rendering is recorded as what was sent.
    Import {
        /// A unit key, e.g. `winter-sale-2026/en`.
        key: String,
        /// When it was sent (RFC 3339); it counts against the quota from then.
        #[arg(long, value_name = "TIME", value_parser = Worded(sent_at_value))]
        sent_at: DateTime<FixedOffset>,
        /// The provider's push id, if known.
        #[arg(long, value_name = "ID")]
        push_id: Option<String>,
        #[command(flatten)]
        wait: LockWait,
    },
    /// Take the current rendering of a sent push as its reference (clears a `!` in the plan).
    ///
    /// Use it when an edit after sending was deliberate, e.g. a typo fixed for the record. The
    /// body that was really sent stays in the lockfile.
    Accept {
        /// A unit key, e.g. `winter-sale-2026/en`.
        key: String,
        #[command(flatten)]
        wait: LockWait,
    },
    /// Settle an attempt whose outcome is unknown, after checking with the provider.
    Resolve {
        /// A unit key, e.g. `winter-sale-2026/en`.
        key: String,
        /// The push did reach users.
        #[arg(
            long,
            conflicts_with = "not_sent",
            required_unless_present = "not_sent"
        )]
        sent: bool,
        /// The push did not go out: the unit becomes pending again.
        #[arg(long)]
        not_sent: bool,
        /// The provider's push id, with --sent.
        #[arg(long, value_name = "ID", requires = "sent")]
        push_id: Option<String>,
        #[command(flatten)]
        wait: LockWait,
    },
    /// Create an empty state (a new lineage) where there is none yet.
    ///
    /// pushform never starts a history by itself: until this has run, `apply` and every state
    /// write refuse, so a deleted lockfile or state branch can never send everything again.
    /// With the git backend it creates the state branch on the remote.
    Init {
        #[command(flatten)]
        wait: LockWait,
    },
    /// Write the backend's state as a lockfile: to FILE, or to stdout without one.
    ///
    /// With `state push`, this moves a team between backends (file to git and back).
    Pull {
        /// Where to write it (replaced atomically); stdout without it.
        file: Option<std::path::PathBuf>,
    },
    /// Upload a lockfile into a backend that has no state yet.
    ///
    /// Refused when the backend already holds a state: two histories are never merged.
    Push {
        /// A lockfile, e.g. the output of `state pull` or an old `pushform.lock`.
        file: std::path::PathBuf,
        #[command(flatten)]
        wait: LockWait,
    },
    /// Remove every rehearsal record (sent to a loopback emulator) from the state.
    ///
    /// Records written against a loopback endpoint are marked `rehearsal: true`: no user
    /// received them. plan and apply against real endpoints refuse a state holding any, since
    /// those pushes would count as sent; this removes them (they become pending again).
    ForgetRehearsals {
        #[command(flatten)]
        wait: LockWait,
    },
    /// Clear a stale lease left on the git state branch by an apply that died.
    ///
    /// Check first that its holder (named by the error that sent you here) is really gone:
    /// clearing the lease of a live apply lets a second one send beside it. A lease that has
    /// not expired yet is cleared only with --force.
    Unlock {
        /// The lease id, as printed by the refused command.
        lease_id: String,
        /// Clear the lease even though it has not expired (its holder is known to be dead).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The folder to write into (created if missing), relative to -C; default: the -C folder.
    #[arg(value_name = "DIR")]
    pub(crate) directory: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// `plan -out=plan.tfplan` (Terraform's spelling) is `-o` with the value `ut=plan.tfplan`:
/// refused, rather than silently writing a file of that name.
fn out_file(value: &str) -> Result<PathBuf, String> {
    if let Some(rest) = value.strip_prefix("ut=") {
        return Err(format!(
            "`-out={rest}` reads as `-o ut={rest}`; write `-o {rest}` or `--out {rest}`"
        ));
    }
    Ok(PathBuf::from(value))
}

/// Base URLs to send to, checked and normalised (`--endpoint`, `PUSHFORM_ENDPOINT`), primary
/// first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoints(pub(crate) Vec<String>);

/// A value parser whose errors are pushform's own sentences, reported as clap reports any usage
/// error (with the usage line; exit 1), but without clap's "invalid value '…' for '--flag'"
/// prefix: each sentence names the flag and the variable that may stand for it, and an endpoint
/// may carry credentials that must never be echoed whole.
#[derive(Clone, Copy)]
struct Worded<T>(fn(&str) -> Result<T, String>);

impl<T: Clone + Send + Sync + 'static> TypedValueParser for Worded<T> {
    type Value = T;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<T, clap::Error> {
        let Some(text) = value.to_str() else {
            let flag = arg.map_or_else(String::new, |a| format!("{a} "));
            return Err(cmd
                .clone()
                .error(ErrorKind::InvalidUtf8, format!("{flag}is not UTF-8 text")));
        };
        (self.0)(text).map_err(|message| cmd.clone().error(ErrorKind::ValueValidation, message))
    }
}

/// `--now` / `PUSHFORM_NOW`.
fn now_value(text: &str) -> Result<DateTime<Utc>, String> {
    input_time(text, "PUSHFORM_NOW / --now").map(|t| t.with_timezone(&Utc))
}

/// `state import --sent-at`: kept in the offset it was written with, as the record keeps it.
fn sent_at_value(text: &str) -> Result<DateTime<FixedOffset>, String> {
    input_time(text, "--sent-at")
}

/// `--lock-timeout`: whole seconds, as many as `u64` holds (waiting is overflow-safe).
fn seconds_value(text: &str) -> Result<Duration, String> {
    text.parse::<u64>().map(Duration::from_secs).map_err(|_| {
        format!("--lock-timeout `{text}` is not a whole number of seconds (e.g. --lock-timeout 30)")
    })
}

/// `--endpoint` / `PUSHFORM_ENDPOINT`. Set but blank is an error, never a fall back to the real
/// provider: a rehearsal whose variable came out empty must not send for real. The message
/// quotes entries with their credentials redacted.
fn endpoints_value(text: &str) -> Result<Endpoints, String> {
    crate::client::parse_endpoints(text)
        .map(Endpoints)
        .map_err(|e| format!("PUSHFORM_ENDPOINT / --endpoint: {e:#}"))
}

/// The earliest instant pushform accepts as input (`--now`, `--sent-at`): every time it writes
/// (in the provider's time zone, plus the days a schedule looks ahead) must still be a time it
/// can read back, which a year near 9999 is not.
fn earliest_time() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(0, 0).unwrap_or_default()
}

/// See [`earliest_time`]: 9000-01-01T00:00:00Z.
fn latest_time() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(221_845_392_000, 0).unwrap_or_default()
}

/// Parses an RFC 3339 time given as input by `what` (`--now`, `--sent-at`), and checks its range.
fn input_time(text: &str, what: &str) -> Result<DateTime<FixedOffset>, String> {
    let t = DateTime::parse_from_rfc3339(text.trim())
        .map_err(|e| format!("{what} `{text}` is not an RFC 3339 time: {e}"))?;
    let utc = t.with_timezone(&Utc);
    if utc < earliest_time() || utc >= latest_time() {
        return Err(format!(
            "{what} `{text}` is out of range: pushform takes times from 1970-01-01 to the end of \
             year 8999"
        ));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    #[test]
    fn terraform_style_out_is_refused_with_the_right_spelling() {
        let err = out_file("ut=plan.tfplan").expect_err("refused");
        assert!(err.contains("-o plan.tfplan"), "{err}");
        assert_eq!(
            out_file("plan.json"),
            Ok(std::path::PathBuf::from("plan.json"))
        );
    }

    #[test]
    fn now_and_sent_at_take_rfc_3339_times_in_range() {
        let utc = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().with_timezone(&Utc);
        assert_eq!(
            now_value("2026-11-26T14:30:00+08:00"),
            Ok(utc("2026-11-26T06:30:00Z"))
        );
        assert_eq!(
            now_value(" 1970-01-01T00:00:00Z "),
            Ok(utc("1970-01-01T00:00:00Z"))
        );
        assert!(now_value("8999-12-31T23:59:59Z").is_ok());
        // --sent-at keeps the offset it was written with, as the record keeps it.
        let at = sent_at_value("2026-11-26T14:30:00+08:00").unwrap();
        assert_eq!(at.to_rfc3339(), "2026-11-26T14:30:00+08:00");
        for bad in [
            "9999-12-31T23:00:00Z",
            "9000-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(
                now_value(bad).unwrap_err(),
                format!(
                    "PUSHFORM_NOW / --now `{bad}` is out of range: pushform takes times from \
                     1970-01-01 to the end of year 8999"
                )
            );
            assert!(
                sent_at_value(bad)
                    .unwrap_err()
                    .starts_with(&format!("--sent-at `{bad}` is out of range")),
                "{bad}"
            );
        }
        for bad in ["yesterday", "2026-11-26", "2026-11-26 14:30", ""] {
            let err = sent_at_value(bad).unwrap_err();
            assert!(
                err.starts_with(&format!("--sent-at `{bad}` is not an RFC 3339 time: ")),
                "{err}"
            );
        }
        // The latest time, in the furthest time zone, is still one pushform can write and read.
        let far = latest_time().with_timezone(&chrono_tz::Pacific::Kiritimati);
        assert!(DateTime::parse_from_rfc3339(&far.to_rfc3339()).is_ok());
        assert!(earliest_time() < latest_time());
    }

    #[test]
    fn lock_timeout_takes_whole_seconds() {
        assert_eq!(seconds_value("0"), Ok(Duration::ZERO));
        assert_eq!(seconds_value("30"), Ok(Duration::from_secs(30)));
        assert_eq!(
            seconds_value("18446744073709551615"),
            Ok(Duration::from_secs(u64::MAX))
        );
        for bad in ["-1", "1.5", "30s", "", "18446744073709551616"] {
            assert_eq!(
                seconds_value(bad).unwrap_err(),
                format!(
                    "--lock-timeout `{bad}` is not a whole number of seconds (e.g. \
                     --lock-timeout 30)"
                )
            );
        }
    }

    #[test]
    fn endpoints_are_checked_and_their_credentials_never_echoed() {
        assert_eq!(
            endpoints_value("http://127.0.0.1:9, https://api.example.com"),
            Ok(Endpoints(vec![
                "http://127.0.0.1:9".to_owned(),
                "https://api.example.com".to_owned()
            ]))
        );
        for blank in ["", "  "] {
            let err = endpoints_value(blank).unwrap_err();
            assert!(
                err.starts_with("PUSHFORM_ENDPOINT / --endpoint: no endpoint given"),
                "{err}"
            );
        }
        let err = endpoints_value("http://api.example.com").unwrap_err();
        assert!(err.contains("not loopback"), "{err}");
        let err = endpoints_value("https://ops:hunter2-pw@api.example.com").unwrap_err();
        assert!(err.starts_with("PUSHFORM_ENDPOINT / --endpoint: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn malformed_values_are_usage_errors_in_pushforms_words() {
        let refused = |args: &[&str]| {
            let err = Cli::try_parse_from(args).expect_err("refused");
            assert_eq!(err.kind(), ErrorKind::ValueValidation, "{args:?}");
            err.to_string()
        };
        let err = refused(&["pushform", "--now", "soon", "plan"]);
        assert!(
            err.starts_with("error: PUSHFORM_NOW / --now `soon` is not an RFC 3339 time"),
            "{err}"
        );
        assert!(err.contains("Usage: pushform"), "{err}");
        let err = refused(&["pushform", "apply", "--lock-timeout", "ten"]);
        assert!(
            err.starts_with("error: --lock-timeout `ten` is not a whole number of seconds"),
            "{err}"
        );
        let err = refused(&["pushform", "state", "import", "k", "--sent-at", "now"]);
        assert!(
            err.starts_with("error: --sent-at `now` is not an RFC 3339 time"),
            "{err}"
        );
        // clap's own "invalid value '…'" would print the password.
        let err = refused(&[
            "pushform",
            "apply",
            "--endpoint",
            "https://ops:hunter2-pw@api.example.com",
        ]);
        assert!(
            err.starts_with("error: PUSHFORM_ENDPOINT / --endpoint: "),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");

        let cli = Cli::try_parse_from([
            "pushform",
            "--now",
            "2026-11-26T14:30:00+08:00",
            "apply",
            "--lock-timeout",
            "5",
            "--endpoint",
            "http://127.0.0.1:9",
        ])
        .expect("parsed");
        assert_eq!(
            cli.global.now.map(|t| t.to_rfc3339()).as_deref(),
            Some("2026-11-26T06:30:00+00:00")
        );
        let Command::Apply(apply) = cli.command else {
            panic!("not apply")
        };
        assert_eq!(apply.lock_wait.lock_timeout, Some(Duration::from_secs(5)));
        assert_eq!(
            apply.endpoint,
            Some(Endpoints(vec!["http://127.0.0.1:9".to_owned()]))
        );
    }

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
