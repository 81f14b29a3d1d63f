//! CrashLoopBackOff arithmetic, as the kubelet's back-off (client-go `flowcontrol.Backoff`) does it:
//! the first restart is immediate, later ones wait 10 s, 20 s, 40 s ... capped at 300 s, measured
//! from the previous exit; an entry untouched for twice the cap (10 minutes) is forgotten.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

pub const INITIAL: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(300);

/// One container's back-off entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backoff {
    pub delay_ms: u64,
    #[serde(skip, default = "Instant::now")]
    pub last_update: Instant,
}

impl Backoff {
    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms)
    }

    fn expired(&self, at: Instant) -> bool {
        at.saturating_duration_since(self.last_update) > 2 * MAX
    }
}

/// If a container that finished at `finished_at` must still wait before its restart, the instant
/// at which it may restart (`IsInBackOffSince`).
pub fn restart_not_before(
    entry: Option<&Backoff>,
    finished_at: Instant,
    now: Instant,
) -> Option<Instant> {
    let entry = entry?;
    if entry.expired(finished_at) {
        return None;
    }
    let ready_at = finished_at + entry.delay();
    (now < ready_at).then_some(ready_at)
}

/// The entry to record when a restart happens now (`Next`).
pub fn next(entry: Option<&Backoff>, now: Instant) -> Backoff {
    let delay = match entry {
        Some(e) if !e.expired(now) => (e.delay() * 2).min(MAX),
        _ => INITIAL,
    };
    Backoff {
        delay_ms: delay.as_millis() as u64,
        last_update: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kubelet's CrashLoopBackOff timing (docs/kubelet-rules.md §2.5, e2e T230): a container that
    /// exits immediately starts at 0, 0, 10, 30, 70, 150, 310 s.
    #[test]
    fn restart_times_for_a_container_that_exits_at_once() {
        let t0 = Instant::now();
        let mut entry: Option<Backoff> = None;
        let mut now = t0;
        let mut starts = vec![];
        for _ in 0..7 {
            if let Some(at) = restart_not_before(entry.as_ref(), now, now) {
                now = at;
            }
            if !starts.is_empty() {
                entry = Some(next(entry.as_ref(), now));
            }
            starts.push((now - t0).as_secs());
        }
        assert_eq!(starts, vec![0, 0, 10, 30, 70, 150, 310]);
    }

    #[test]
    fn delay_is_capped_at_five_minutes() {
        let t0 = Instant::now();
        let mut e = next(None, t0);
        for _ in 0..10 {
            e = next(Some(&e), t0);
        }
        assert_eq!(e.delay(), MAX);
    }

    #[test]
    fn entry_resets_after_ten_quiet_minutes() {
        let t0 = Instant::now();
        let e = next(Some(&next(None, t0)), t0);
        assert_eq!(e.delay(), Duration::from_secs(20));
        let later = t0 + Duration::from_secs(601);
        assert_eq!(next(Some(&e), later).delay(), INITIAL);
        assert_eq!(restart_not_before(Some(&e), later, later), None);
    }

    /// The edges, as client-go's `hasExpired` (strictly more than twice the cap) and
    /// `IsInBackOffSince` (strictly before the delay is over) draw them.
    #[test]
    fn the_edges_of_expiry_and_of_the_wait() {
        let t0 = Instant::now();
        let e = next(None, t0);
        let edge = t0 + 2 * MAX;
        assert_eq!(
            next(Some(&e), edge).delay(),
            2 * INITIAL,
            "not expired at exactly 2×cap"
        );
        assert_eq!(
            restart_not_before(Some(&e), edge, edge),
            Some(edge + INITIAL)
        );
        let finished = t0;
        let ready = finished + INITIAL;
        assert_eq!(
            restart_not_before(Some(&e), finished, ready - Duration::from_millis(1)),
            Some(ready)
        );
        assert_eq!(
            restart_not_before(Some(&e), finished, ready),
            None,
            "free at the delay"
        );
    }
}
