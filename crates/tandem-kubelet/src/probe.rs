//! The prober's bookkeeping (§3.3): consecutive results against the thresholds, what gets
//! published, and when a worker goes on hold. Pure; the observed state feeds it one raw result at
//! a time.

use tandem_api::plan::{ContainerPlan, Probe};
use tokio::time::Instant;

use crate::runtime::HandlerResult;

/// The three probes of a container.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ProbeKind {
    Startup,
    Liveness,
    Readiness,
}

impl ProbeKind {
    pub const ALL: [ProbeKind; 3] = [
        ProbeKind::Startup,
        ProbeKind::Liveness,
        ProbeKind::Readiness,
    ];

    /// As the kubelet capitalises it in event messages.
    pub fn label(self) -> &'static str {
        match self {
            ProbeKind::Startup => "Startup",
            ProbeKind::Liveness => "Liveness",
            ProbeKind::Readiness => "Readiness",
        }
    }

    pub fn probe(self, c: &ContainerPlan) -> Option<&Probe> {
        match self {
            ProbeKind::Startup => c.startup_probe.as_ref(),
            ProbeKind::Liveness => c.liveness_probe.as_ref(),
            ProbeKind::Readiness => c.readiness_probe.as_ref(),
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A published probe result (the prober's results cache).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ProbeResult {
    Unknown,
    Success,
    Failure,
}

/// One probe worker's state for the current container instance (§3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTrack {
    /// What the rest of the kubelet sees.
    pub result: ProbeResult,
    /// The last raw result and how many times in a row it came.
    pub last: Option<ProbeResult>,
    pub run: u32,
    /// When the last run began; the next is due a period later.
    pub last_run_at: Option<Instant>,
    pub in_flight: bool,
    /// No more probing of this instance (after a published liveness/startup failure).
    pub on_hold: bool,
}

impl ProbeTrack {
    /// The worker's initial result for a new container: readiness Failure, liveness Success,
    /// startup Unknown (§3.3).
    pub fn initial(kind: ProbeKind) -> Self {
        ProbeTrack {
            result: match kind {
                ProbeKind::Startup => ProbeResult::Unknown,
                ProbeKind::Liveness => ProbeResult::Success,
                ProbeKind::Readiness => ProbeResult::Failure,
            },
            last: None,
            run: 0,
            last_run_at: None,
            in_flight: false,
            on_hold: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probes(pub [ProbeTrack; 3]);

impl Probes {
    pub fn new() -> Self {
        Probes(ProbeKind::ALL.map(ProbeTrack::initial))
    }
    pub fn get(&self, kind: ProbeKind) -> &ProbeTrack {
        &self.0[kind.index()]
    }
    pub fn get_mut(&mut self, kind: ProbeKind) -> &mut ProbeTrack {
        &mut self.0[kind.index()]
    }
}

impl Default for Probes {
    fn default() -> Self {
        Self::new()
    }
}

/// A handler result as the prober counts it: `None` for results it discards (errors).
pub fn raw_result(r: &HandlerResult) -> Option<ProbeResult> {
    match r {
        HandlerResult::Success | HandlerResult::Warning(_) => Some(ProbeResult::Success),
        HandlerResult::Failure(_) => Some(ProbeResult::Failure),
        HandlerResult::Error(_) => None,
    }
}

/// Counts one raw result. A result is published once it came `successThreshold` (success) or
/// `failureThreshold` (failure) times in a row; a published liveness or startup failure puts the
/// worker on hold until the next instance. Returns whether the published result changed.
pub fn record(track: &mut ProbeTrack, kind: ProbeKind, probe: &Probe, raw: ProbeResult) -> bool {
    if track.last == Some(raw) {
        track.run = track.run.saturating_add(1);
    } else {
        track.last = Some(raw);
        track.run = 1;
    }
    let threshold = match raw {
        ProbeResult::Failure => probe.failure_threshold,
        _ => probe.success_threshold,
    }
    .max(1) as u32;
    if track.run < threshold {
        return false;
    }
    let changed = track.result != raw;
    track.result = raw;
    if raw == ProbeResult::Failure && kind != ProbeKind::Readiness {
        track.on_hold = true;
        track.run = 0;
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_api::plan::Handler;

    fn probe(success: i32, failure: i32) -> Probe {
        Probe {
            handler: Handler::Exec {
                command: vec!["true".into()],
            },
            initial_delay_seconds: 0,
            timeout_seconds: 1,
            period_seconds: 10,
            success_threshold: success,
            failure_threshold: failure,
            termination_grace_period_seconds: None,
        }
    }

    use ProbeResult::{Failure as F, Success as S, Unknown as U};

    /// (kind, successThreshold, failureThreshold, raw results, published result after each).
    #[test]
    fn thresholds_table() {
        type Row<'a> = (ProbeKind, i32, i32, &'a [ProbeResult], &'a [ProbeResult]);
        let rows: &[Row] = &[
            // readiness starts as Failure and needs successThreshold successes in a row
            (ProbeKind::Readiness, 1, 3, &[S], &[S]),
            (ProbeKind::Readiness, 2, 3, &[S, F, S, S], &[F, F, F, S]),
            (
                ProbeKind::Readiness,
                1,
                3,
                &[S, F, F, F, S],
                &[S, S, S, F, S],
            ),
            // liveness starts as Success; failureThreshold failures in a row publish Failure
            (
                ProbeKind::Liveness,
                1,
                3,
                &[F, F, S, F, F],
                &[S, S, S, S, S],
            ),
            (ProbeKind::Liveness, 1, 1, &[F], &[F]),
            (ProbeKind::Liveness, 1, 3, &[F, F, F], &[S, S, F]),
            // startup starts as Unknown
            (ProbeKind::Startup, 1, 3, &[F, S], &[U, S]),
            (ProbeKind::Startup, 1, 2, &[F, F], &[U, F]),
        ];
        for (kind, st, ft, raws, want) in rows {
            let p = probe(*st, *ft);
            let mut t = ProbeTrack::initial(*kind);
            let got: Vec<ProbeResult> = raws
                .iter()
                .map(|r| {
                    record(&mut t, *kind, &p, *r);
                    t.result
                })
                .collect();
            assert_eq!(&got, want, "{kind:?} st={st} ft={ft} {raws:?}");
        }
    }

    #[test]
    fn published_liveness_failure_puts_the_worker_on_hold_but_readiness_keeps_going() {
        let p = probe(1, 1);
        let mut l = ProbeTrack::initial(ProbeKind::Liveness);
        assert!(record(&mut l, ProbeKind::Liveness, &p, F));
        assert!(l.on_hold);
        let mut r = ProbeTrack::initial(ProbeKind::Readiness);
        record(&mut r, ProbeKind::Readiness, &p, S);
        assert!(record(&mut r, ProbeKind::Readiness, &p, F));
        assert!(!r.on_hold);
    }

    #[test]
    fn errors_are_discarded_and_warnings_count_as_success() {
        assert_eq!(raw_result(&HandlerResult::Error("x".into())), None);
        assert_eq!(raw_result(&HandlerResult::Warning("x".into())), Some(S));
        assert_eq!(raw_result(&HandlerResult::Failure("x".into())), Some(F));
    }
}
