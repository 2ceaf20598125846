//! The emulator's memory behind one lock: the pending fault (a per-request fault with its count,
//! or a refusal with its end), every push accepted, the request count, and the calls that count
//! against the quota, measured by the emulator's own clock (pinnable, so tests need not wait an
//! hour). Only a call that fits both windows is counted: a client hammering a full window does
//! not push its reopening further out.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::{EmulatorConfig, Fault, Received};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// How long connections are refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Refusal {
    #[default]
    No,
    UntilCleared,
    Until(Instant),
}

#[derive(Default)]
pub(super) struct State {
    /// A per-request fault (never `Refuse`) and how many more requests get it.
    pub(super) fault: Option<(Fault, u32)>,
    /// Whether connections are refused, and until when.
    refusing: Refusal,
    pub(super) received: Vec<Received>,
    pub(super) requests: u32,
    /// Times (ms) of the calls that counted against the quota.
    calls: Vec<i64>,
    pub(super) pinned_now: Option<i64>,
}

impl State {
    pub(super) fn reset(&mut self) {
        self.clear_fault();
        self.received.clear();
        self.requests = 0;
        self.calls.clear();
    }

    pub(super) fn now_ms(&self) -> i64 {
        self.pinned_now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_millis()).ok())
                .unwrap_or(0)
        })
    }

    /// Replaces the pending fault; `until` bounds a refusal in time (else it lasts until cleared).
    pub(super) fn set_fault(&mut self, fault: Fault, times: u32, until: Option<Instant>) {
        self.clear_fault();
        if times == 0 {
            return;
        }
        if fault == Fault::Refuse {
            self.refusing = until.map_or(Refusal::UntilCleared, Refusal::Until);
        } else {
            self.fault = Some((fault, times));
        }
    }

    pub(super) fn clear_fault(&mut self) {
        self.fault = None;
        self.refusing = Refusal::No;
    }

    pub(super) fn is_refusing(&self) -> bool {
        match self.refusing {
            Refusal::No => false,
            Refusal::UntilCleared => true,
            Refusal::Until(until) => Instant::now() < until,
        }
    }

    /// Takes one use of the pending per-request fault, if any.
    pub(super) fn take_fault(&mut self) -> Option<Fault> {
        let (fault, times) = self.fault?;
        self.fault = (times > 1).then_some((fault, times - 1));
        Some(fault)
    }

    /// Counts a call against the quota if it fits; `false` means over quota (not counted, so a
    /// client hammering a full window does not push its reopening further out).
    pub(super) fn admit(&mut self, now: i64, cfg: &EmulatorConfig) -> bool {
        // Calls older than both windows can never matter again.
        self.calls.retain(|&t| t > now.saturating_sub(2 * DAY_MS));
        let offset_ms = i64::from(cfg.utc_offset_secs) * 1000;
        let day = |t: i64| t.saturating_add(offset_ms).div_euclid(DAY_MS);
        let today = day(now);
        let last_hour = self
            .calls
            .iter()
            .filter(|&&t| t > now.saturating_sub(HOUR_MS))
            .count();
        let same_day = self.calls.iter().filter(|&&t| day(t) == today).count();
        if last_hour >= to_usize(cfg.per_hour) || same_day >= to_usize(cfg.per_day) {
            return false;
        }
        self.calls.push(now);
        true
    }
}

/// A poisoned lock only means another connection thread panicked mid-update; the data is still
/// the best we have, and the emulator must keep answering.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_usize(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
