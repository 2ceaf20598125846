//! Integration tests of the `pushform` command line: one test binary (`autotests = false`), one
//! module per command, and a shared harness.
//!
//! - `support`: the one harness. The only way a test runs the built binary (`Pushform`, in
//!   `support/command.rs`: a clean environment, a timeout; `pushform(dir, args)` for short), the
//!   assertions on exit code, stdout and stderr (`Run`), a temp campaign repository builder
//!   (`Repo`) and the sample repository's copies. Read its module documentation first.
//! - `validate`, `render`, `schema`, `help`: the contract of each command (exit codes, the location of
//!   every finding, rendering determinism, the JSON Schema). Output that is part of the contract
//!   (`--help`, `render --format json` of the sample repo) is snapshotted with insta under
//!   `tests/cli/snapshots/`; review changes with `INSTA_UPDATE=always cargo test` and `git diff`.
//!   CI runs with `CI=true`, where a missing or changed snapshot fails.
//! - `apply`: the send protocol end to end against the in-process provider emulator: faults,
//!   failover, crash points, random kill -9, concurrent applies, saved plans, secrets. Its
//!   domain helpers (`apply/harness.rs`: repositories with their lockfile, the emulator, the
//!   operator's settling, the exactly-once invariant) build on `support`.
//! - `team`: `init`, the CI workflow examples (parsed, and each pushform command in them run),
//!   and the pull-request comment snapshot.
//! - `readme`: the README's links resolve in a checkout and its error examples are re-made from
//!   the sample repository and must match what pushform prints.
//! - `hostile`: a pull request is untrusted input: hostile repositories (links out, loops,
//!   FIFOs, templates that loop or grow, alias bombs, escape sequences) refused by name.
//! - `l10n`: plural forms through `render`, fallback through campaign strings, `l10n status`,
//!   the XLIFF and PO round trips and their refusals, and the pseudo-locale that is never planned.
//! - `output`: `--color` and `NO_COLOR`, a full disk on stdout (exit 1) and a closed pipe (exit 0).
//! - `transcripts`: whole transcripts (exit code, stdout, stderr) of the human `plan` and
//!   `validate`, snapshotted; the `apply` endings are in `apply/transcripts.rs`.
//! - `props`: property tests that call the library directly (no process per case) to show that
//!   no campaign text and no template makes loading, rendering or checking panic.

mod apply;
mod compare;
mod help;
mod hostile;
mod l10n;
mod output;
mod plan;
mod preview;
mod props;
mod readme;
mod render;
mod schedule;
mod schema;
mod support;
mod team;
mod transcripts;
mod validate;
