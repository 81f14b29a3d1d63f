//! What the engine decides, as data: the [`Action`]s the driver carries out and the [`Decision`]
//! that carries them with the time the engine wants to be asked again.

use std::time::Duration;

use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::probe::ProbeKind;
use crate::runtime::StopSignal;
use crate::state::{HookKind, KillReason, TerminationReason, WaitingReason};

/// The grace period override of a local-storage eviction (the eviction manager's
/// `immediateEvictionGracePeriodSeconds`): preStop hooks and sidecar turns get at most this,
/// and every container still gets [`MIN_GRACE`] after its stop signal.
pub const EVICTION_GRACE: Duration = Duration::from_secs(1);

/// The pod's phase as the engine decides it (the API's `status.phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl PodPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            PodPhase::Pending => "Pending",
            PodPhase::Running => "Running",
            PodPhase::Succeeded => "Succeeded",
            PodPhase::Failed => "Failed",
        }
    }
}

impl std::fmt::Display for PodPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create and start a new instance; `backoff` is the entry to record for this restart.
    Start {
        container: String,
        backoff: Option<Backoff>,
    },
    /// The container must wait before it restarts.
    Wait {
        container: String,
        reason: WaitingReason,
        message: String,
    },
    /// Begin the kubelet's `killContainer` for one running container: record why and the grace
    /// period, emit `Killing`; preStop, the stop signal and SIGKILL follow as further actions.
    Kill {
        container: String,
        reason: KillReason,
        grace: Duration,
        message: String,
    },
    /// Run a lifecycle hook of the current instance.
    Hook { container: String, hook: HookKind },
    /// Run one probe of the current instance now.
    Probe { container: String, kind: ProbeKind },
    /// Send a stop signal; for `Term`, SIGKILL follows at `kill_at`.
    Signal {
        container: String,
        signal: StopSignal,
        kill_at: Instant,
    },
    /// Begin tearing the pod down.
    Terminate {
        reason: TerminationReason,
        grace: Duration,
    },
    /// Evict the pod (§4.1): tear it down as [`TerminationReason::Evicted`] with `grace`, and
    /// report `message` as the pod's status message and in an `Evicted` event.
    Evict { message: String, grace: Duration },
    /// Nothing runs and nothing will: the pod has ended with this phase.
    Finish { phase: PodPhase },
    /// The lost sandbox will be replaced (§2.3): the `SandboxChanged` event; the kills of
    /// every container follow as [`Action::Kill`]s.
    ReplaceSandbox,
    /// Set up the volumes set up late: those awaiting ConfigMaps and Secrets, image volumes (§6.7).
    SetUpVolumes,
    /// Write the pod's file volumes again where what they project changed (§6.9).
    ResyncVolumes,
    /// Every container has stopped: make sandbox `attempt` (`CreateSandbox`).
    CreateSandbox { attempt: u32 },
    /// A container exited into a `RestartAllContainers` rule and every container has stopped
    /// (§2.7): remove their instances, so the pod starts again from its first init container
    /// in the same sandbox (the kubelet's `RemoveContainer` of each).
    RemoveAllContainers,
}

/// What [`crate::sync::compute_actions`] decided, and when it wants to be asked again at the latest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub actions: Vec<Action>,
    pub wake_at: Option<Instant>,
}

impl Decision {
    pub(crate) fn wake(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    /// The containers this decision starts, in order (for table tests).
    pub fn starts(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Start { container, .. } => Some(container.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The containers this decision begins to kill, in order (for table tests).
    pub fn kills(&self) -> Vec<&str> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Kill { container, .. } => Some(container.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Whether this decision tears the pod down (the kubelet's `KillPod`).
    pub fn kills_pod(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Terminate { .. } | Action::Evict { .. }))
    }
}
