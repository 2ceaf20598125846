//! Runs the provider emulator in the foreground so a user can rehearse `pushform apply` against it:
//!
//! ```text
//! cargo run --example emulator -- --port 8080 --app-key K --app-secret S
//! PUSHFORM_ENDPOINT=http://127.0.0.1:8080 RONGCLOUD_APP_KEY=K RONGCLOUD_APP_SECRET=S pushform apply
//! ```
//!
//! Arguments are parsed by hand to keep the example free of dependencies. It prints the base URL,
//! then one line per request, until Ctrl-C (the default SIGINT handler ends the process).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use pushform::emulator::{Emulator, EmulatorConfig};

const USAGE: &str = "\
usage: emulator [--port N] [--app-key KEY] [--app-secret SECRET] [--per-hour N] [--per-day N]
                [--utc-offset-secs N] [--stall-secs N]

Serves a local emulator of the provider's POST /push.json on 127.0.0.1 until Ctrl-C.
  --port N              port to listen on (default 0: any free port)
  --app-key KEY         App Key it accepts (default test-key)
  --app-secret SECRET   App Secret it checks signatures with (default test-secret)
  --per-hour N          quota: calls in any 60 minutes (default 2)
  --per-day N           quota: calls per natural day (default 3)
  --utc-offset-secs N   where the natural day starts, seconds east of UTC (default 28800, UTC+8)
  --stall-secs N        how long the stall_after_body fault holds an answer (default 30)

Control: GET /_emulator/received, POST /_emulator/reset,
POST /_emulator/fault {\"fault\":\"drop\",\"times\":1} for the next pushes, with a fault among
  close_unread stall_after_body drop http500 rate_limited not_enabled not_json (none clears),
POST /_emulator/fault {\"fault\":\"refuse\",\"secs\":30} to refuse connections for 30 s.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (tx, rx) = mpsc::channel();
    let cfg = match parse_args(&args) {
        Ok(cfg) => EmulatorConfig {
            log: Some(tx),
            ..cfg
        },
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let (app_key, per_hour, per_day, offset) = (
        cfg.app_key.clone(),
        cfg.per_hour,
        cfg.per_day,
        cfg.utc_offset_secs,
    );
    let emulator = match Emulator::start(cfg) {
        Ok(emulator) => emulator,
        Err(e) => {
            eprintln!("error: cannot start the emulator: {e}");
            return ExitCode::FAILURE;
        }
    };
    let banner = format!(
        "emulator listening on {} (App-Key {app_key}; quota {per_hour}/hour, {per_day}/day, \
         day starts at {}); Ctrl-C to stop\nexport PUSHFORM_ENDPOINT={}",
        emulator.base_url(),
        utc_offset_label(offset),
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

fn parse_args(args: &[String]) -> Result<EmulatorConfig, String> {
    let mut cfg = EmulatorConfig::default();
    let mut port: u16 = 0;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag {
            "--port" => port = number(flag, &value()?)?,
            "--app-key" => cfg.app_key = value()?,
            "--app-secret" => cfg.app_secret = value()?,
            "--per-hour" => cfg.per_hour = number(flag, &value()?)?,
            "--per-day" => cfg.per_day = number(flag, &value()?)?,
            "--utc-offset-secs" => cfg.utc_offset_secs = number(flag, &value()?)?,
            "--stall-secs" => cfg.stall = Duration::from_secs(number(flag, &value()?)?),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if cfg.app_key.is_empty() || cfg.app_secret.is_empty() {
        return Err("--app-key and --app-secret must not be empty".to_owned());
    }
    cfg.addr = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    Ok(cfg)
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} expects a number, got {text:?}"))
}

fn utc_offset_label(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60)
}
