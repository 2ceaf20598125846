//! Runs the provider emulator in the foreground so a user can rehearse `pushform apply` against it:
//!
//! ```text
//! cargo run --features emulator --example emulator -- --port 8080 --app-key K --app-secret S
//! PUSHFORM_ENDPOINT=http://127.0.0.1:8080 RONGCLOUD_APP_KEY=K RONGCLOUD_APP_SECRET=S pushform apply
//! ```
//!
//! The emulator is test infrastructure behind the crate's `emulator` feature, so this example
//! needs `--features emulator` (Cargo says so if it is missing). It checks bodies with pushform's
//! own rules, prints the base URL, then one line per request, until Ctrl-C (the default SIGINT
//! handler ends the process).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use pushform::emulator::{Emulator, EmulatorConfig};
use pushform::validate::check_json_body;

/// Serves a local emulator of the provider's POST /push.json on 127.0.0.1 until Ctrl-C.
#[derive(Parser, Debug)]
#[command(
    name = "emulator",
    after_help = "\
Control: GET /_emulator/received, POST /_emulator/reset,
POST /_emulator/fault {\"fault\":\"drop\",\"times\":1} for the next pushes, with a fault among
  close_unread stall_after_body drop http500 rate_limited not_enabled not_json not_found too_large
  (none clears),
POST /_emulator/fault {\"fault\":\"refuse\",\"secs\":30} to refuse connections for 30 s."
)]
struct Args {
    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// App Key it accepts
    #[arg(long, default_value = "test-key", value_parser = non_empty)]
    app_key: String,
    /// App Secret it checks signatures with
    #[arg(long, default_value = "test-secret", value_parser = non_empty)]
    app_secret: String,
    /// Quota: calls in any 60 minutes
    #[arg(long, default_value_t = 2)]
    per_hour: u32,
    /// Quota: calls per natural day
    #[arg(long, default_value_t = 3)]
    per_day: u32,
    /// Where the natural day starts, in seconds east of UTC (28800 is UTC+8)
    #[arg(long, default_value_t = 8 * 3600, allow_negative_numbers = true)]
    utc_offset_secs: i32,
    /// How long the stall_after_body fault holds an answer, in seconds
    #[arg(long, default_value_t = 30)]
    stall_secs: u64,
}

fn non_empty(text: &str) -> Result<String, String> {
    if text.is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(text.to_owned())
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let (tx, rx) = mpsc::channel();
    let cfg = EmulatorConfig {
        addr: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port))),
        app_key: args.app_key.clone(),
        app_secret: args.app_secret,
        per_hour: args.per_hour,
        per_day: args.per_day,
        utc_offset_secs: args.utc_offset_secs,
        stall: Duration::from_secs(args.stall_secs),
        log: Some(tx),
        // pushform's own rules: what the tool accepts is what this stand-in accepts.
        ..EmulatorConfig::new(check_json_body)
    };
    let emulator = match Emulator::start(cfg) {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: cannot start the emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let banner = format!(
        "emulator listening on {} (App-Key {}; quota {}/hour, {}/day, day starts at {}); \
         Ctrl-C to stop\nexport PUSHFORM_ENDPOINT={}",
        emulator.base_url(),
        args.app_key,
        args.per_hour,
        args.per_day,
        utc_offset_label(args.utc_offset_secs),
        emulator.base_url(),
    );
    // Written, not println!'d: a closed stdout ends the emulator instead of panicking. The
    // emulator holds the log sender, so the loop otherwise runs until Ctrl-C.
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{banner}").is_ok() {
        for line in rx {
            if writeln!(out, "{line}").is_err() {
                break;
            }
        }
    }
    drop(emulator);
    ExitCode::SUCCESS
}

fn utc_offset_label(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}

#[cfg(test)]
mod tests {
    use super::Args;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Args::command().debug_assert();
    }
}
