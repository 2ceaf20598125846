//! `pushform apply` end to end: the send protocol against the in-process provider emulator,
//! under every fault the emulator can inject, at every crash point, under random kill -9, with
//! two applies racing, with saved plans, and with a secret that must never leak.
//!
//! The invariant behind every test (docs/contract.md §7, §9): a push is never received twice and never
//! received without being in the lockfile as sent. See `harness.rs` for the helpers.

mod harness;

mod concurrency;
mod crash;
mod damaged_lock;
mod end_to_end;
mod environments;
mod faults;
mod git;
mod interrupt;
mod kill;
mod no_history;
mod postgres;
mod rehearsal;
mod rename;
mod saved_plan;
mod secrets;
mod transcripts;
