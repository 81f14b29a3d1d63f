//! What the engine has observed about one pod: one record per container, and whether (and why)
//! the pod is terminating. The driver mutates it from runtime events; the engine only reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use tandem_api::plan::{ContainerPlan, ContainerRole, PodPlan, Probe};
use tokio::time::Instant;

use crate::backoff::Backoff;

/// How one container instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub exit_code: i32,
    /// The signal that killed the process, if any (exit code is then 128 + signal).
    pub signal: Option<i32>,
    /// `Completed`, `Error`, `OOMKilled`, `StartError`, ...
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Instant>,
    pub finished_at: Instant,
}

impl Exit {
    pub fn from_code(
        exit_code: i32,
        signal: Option<i32>,
        oom: bool,
        started_at: Option<Instant>,
        finished_at: Instant,
    ) -> Self {
        let reason = if oom {
            "OOMKilled"
        } else if exit_code == 0 {
            "Completed"
        } else {
            "Error"
        };
        Exit {
            exit_code,
            signal,
            reason: reason.into(),
            message: None,
            started_at,
            finished_at,
        }
    }
}

/// The runtime state of a container's current instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Never created in this pod.
    NotCreated,
    /// A start is in flight (image, create, start, postStart).
    Creating {
        since: Instant,
    },
    Running {
        since: Instant,
    },
    Exited(Exit),
}

/// Why the kubelet stops a running container itself (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillReason {
    /// The liveness probe reached its failure threshold.
    Liveness,
    /// The startup probe reached its failure threshold.
    Startup,
    /// The postStart hook failed.
    PostStartHook,
    /// The pod is terminating (delete, completion, failed init container).
    PodTermination,
    /// The pod's sandbox is gone and a new one will be made (§2.3): it restarts with the new
    /// sandbox whatever its exit code, as the kubelet decides the restart with that kill.
    SandboxChanged,
    /// The container's spec (its image) changed while it ran (§1.7): it restarts whatever the
    /// restart policy.
    SpecChanged,
    /// A container exited into a `RestartAllContainers` rule (§2.7, KEP-5532): every container
    /// is stopped, without its grace period or preStop hook, and the pod starts again from its
    /// first init container in the same sandbox.
    RestartAllContainers,
}

/// How far the stop of a running container has gone: preStop hook, then the stop signal, then
/// SIGKILL once the grace period (at least [`crate::sync::MIN_GRACE`] after the signal) is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopping {
    pub reason: KillReason,
    /// When the kill began: the grace period counts from here, preStop time included (§4.2).
    pub started_at: Instant,
    pub grace: Duration,
    pub term_sent_at: Option<Instant>,
    /// When SIGKILL follows if the container is still running; set with the stop signal.
    pub kill_at: Option<Instant>,
    pub kill_sent: bool,
}

impl Stopping {
    pub fn deadline(&self) -> Instant {
        self.started_at + self.grace
    }
}

/// The three probes of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Run at the next opportunity whatever the period (readiness right after startup succeeds).
    pub triggered: bool,
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
            triggered: false,
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

/// Progress of one lifecycle hook for the current instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookState {
    NotRun,
    Running { since: Instant },
    Succeeded,
    Failed,
}

impl HookState {
    pub fn finished(self) -> bool {
        matches!(self, HookState::Succeeded | HookState::Failed)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub state: RunState,
    /// Number of times the container was started, this start included; the attempt number of the
    /// current instance is `starts - 1`.
    pub starts: u32,
    /// The previous instance's end (`lastState.terminated`).
    pub last_exit: Option<Exit>,
    /// Why the container is waiting, when it is (`CrashLoopBackOff`, `RunContainerError`, ...).
    pub waiting: Option<(String, String)>,
    pub backoff: Option<Backoff>,
    pub stopping: Option<Stopping>,
    /// Why the kubelet last stopped this container itself; kept after the exit, because a
    /// container killed for a failed probe restarts whatever its exit code (§2.2).
    pub killed_for: Option<KillReason>,
    pub post_start: HookState,
    pub pre_stop: HookState,
    pub probes: Probes,
    /// [`crate::sync::spec_hash`] of the spec the current (or last) instance was started from;
    /// `None` before the first start. The engine compares it with the plan's to find a changed
    /// spec (§1.7), as the kubelet compares the hash label of the running container.
    pub spec_hash: Option<u64>,
    /// The image the current (or last) instance runs: the status reports it until a new
    /// instance starts, so a completed init container keeps its old image after an update.
    pub image: Option<String>,
    /// The record as it was before the start in flight, put back if that start never made a
    /// container (see [`NotCreated`]).
    pub before_start: Option<Box<BeforeStart>>,
    /// Starts that failed before a container existed, since the last one that made one.
    pub not_created: Option<NotCreated>,
    /// The ids the current (or last) instance runs with, once the runtime has said.
    pub user: Option<crate::runtime::ContainerUserIds>,
}

/// What a start changes in a record, kept to undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeStart {
    pub state: RunState,
    pub last_exit: Option<Exit>,
    pub backoff: Option<Backoff>,
}

/// A start that failed before any container existed (its image could not be pulled, its config
/// could not be built). The kubelet counts no restart for it and keeps no terminated state; it
/// retries a pull with the image back-off (10 s doubling to 5 min) and anything else on its next
/// pod sync (about 10 s later), showing the error as the waiting reason meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCreated {
    pub at: Instant,
    pub failures: u32,
    pub reason: crate::runtime::StartFailure,
    pub message: String,
}

impl NotCreated {
    /// When the next start may be tried.
    pub fn retry_at(&self) -> Instant {
        let delay = if self.reason == crate::runtime::StartFailure::ErrImagePull {
            let doublings = self.failures.saturating_sub(1).min(5);
            Duration::from_secs((10u64 << doublings).min(300))
        } else {
            Duration::from_secs(10)
        };
        self.at + delay
    }
}

impl ContainerRecord {
    pub fn new() -> Self {
        ContainerRecord {
            state: RunState::NotCreated,
            starts: 0,
            last_exit: None,
            waiting: None,
            backoff: None,
            stopping: None,
            killed_for: None,
            post_start: HookState::NotRun,
            pre_stop: HookState::NotRun,
            probes: Probes::new(),
            spec_hash: None,
            image: None,
            before_start: None,
            not_created: None,
            user: None,
        }
    }

    pub fn restart_count(&self) -> u32 {
        self.starts.saturating_sub(1)
    }

    /// Running or on its way to running: it holds resources and must be stopped before the pod ends.
    pub fn is_active(&self) -> bool {
        matches!(
            self.state,
            RunState::Creating { .. } | RunState::Running { .. }
        )
    }

    pub fn is_running(&self) -> bool {
        matches!(self.state, RunState::Running { .. })
    }

    /// Running with its postStart hook (if any) returned: what the kubelet reports as Running,
    /// since its `startContainer` only returns after postStart (§1.6).
    pub fn is_up(&self, c: &ContainerPlan) -> bool {
        self.is_running() && (c.post_start.is_none() || self.post_start.finished())
    }

    /// `started` (§0.2, §3.5): up, and no startup probe or it succeeded.
    pub fn started(&self, c: &ContainerPlan) -> bool {
        self.is_up(c)
            && (c.startup_probe.is_none()
                || self.probes.get(ProbeKind::Startup).result == ProbeResult::Success)
    }

    /// `ready` (§3.5): started, and no readiness probe or its last published result is Success.
    /// Regular init containers are ready once they exited 0.
    pub fn ready(&self, c: &ContainerPlan) -> bool {
        if c.role == ContainerRole::Init {
            return self.exit().is_some_and(|e| e.exit_code == 0);
        }
        self.started(c)
            && (c.readiness_probe.is_none()
                || self.probes.get(ProbeKind::Readiness).result == ProbeResult::Success)
    }

    pub fn exit(&self) -> Option<&Exit> {
        match &self.state {
            RunState::Exited(e) => Some(e),
            _ => None,
        }
    }
}

impl Default for ContainerRecord {
    fn default() -> Self {
        Self::new()
    }
}

/// Why the pod is being torn down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TerminationReason {
    /// `tandem delete`, Ctrl-C or SIGTERM in the foreground.
    Deleted,
    /// Every main container finished and none will restart (restartPolicy Never/OnFailure).
    Completed,
    /// A regular init container failed under restartPolicy Never.
    InitFailed,
    /// The pod ran longer than `activeDeadlineSeconds` (§4.1): Failed, reason DeadlineExceeded.
    DeadlineExceeded,
    /// The eviction manager's local-storage check (§4.1, §6.3): an emptyDir over its `sizeLimit`
    /// or containers over their `ephemeral-storage` limits. Failed, reason Evicted; the message
    /// is [`Observed::eviction`].
    Evicted,
    /// The sandbox was lost and the pod gets no new one (§2.3: restartPolicy Never after its
    /// containers ran, or nothing left to restart): it ends with what its containers did.
    SandboxLost,
    /// A new sandbox could not be made after the old one was lost: Failed, with the message in
    /// [`Observed::sandbox`].
    SandboxCreationFailed,
}

/// Local ephemeral storage in use, in bytes of allocated blocks (as `du` counts them), as the
/// runtime last measured it. What the kubelet's summary stats give its eviction manager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageUsage {
    /// Disk-backed emptyDir volumes, by volume name.
    pub empty_dirs: BTreeMap<String, u64>,
    /// Per container: the writable layer of its current instance plus all its log files.
    pub containers: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    pub reason: TerminationReason,
    pub started_at: Instant,
    /// The whole pod's grace budget (deletion grace period, or terminationGracePeriodSeconds).
    pub grace: Duration,
}

impl Termination {
    pub fn deadline(&self) -> Instant {
        self.started_at + self.grace
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub containers: BTreeMap<String, ContainerRecord>,
    pub termination: Option<Termination>,
    /// When the pod started on this machine (status.startTime): `activeDeadlineSeconds` counts
    /// from here, init containers included.
    pub started_at: Option<Instant>,
    /// The runtime's last local-storage measurement (only made when the pod has a limit to check).
    pub storage: Option<StorageUsage>,
    /// Why the pod was evicted: the kubelet's message, for the status and the `Evicted` event.
    pub eviction: Option<String>,
    /// The pod sandbox (§2.3), as the runtime reports it.
    pub sandbox: crate::sandbox::PodSandbox,
}

impl Observed {
    pub fn new(plan: &PodPlan) -> Self {
        Observed {
            containers: plan
                .all_containers()
                .map(|c| (c.name.clone(), ContainerRecord::new()))
                .collect(),
            termination: None,
            started_at: None,
            storage: None,
            eviction: None,
            sandbox: Default::default(),
        }
    }

    /// The record of a container the plan names. Records exist for every planned container.
    pub fn get(&self, name: &str) -> &ContainerRecord {
        static EMPTY: std::sync::OnceLock<ContainerRecord> = std::sync::OnceLock::new();
        self.containers
            .get(name)
            .unwrap_or_else(|| EMPTY.get_or_init(ContainerRecord::new))
    }

    pub fn get_mut(&mut self, name: &str) -> &mut ContainerRecord {
        self.containers.entry(name.to_string()).or_default()
    }

    /// The kubelet's `podHasInitialized`: some main container exists in the runtime as created
    /// or running (an exited one deliberately does not count, §1.2).
    pub fn pod_has_initialized(&self, plan: &PodPlan) -> bool {
        plan.containers
            .iter()
            .any(|c| self.get(&c.name).is_active())
    }

    /// Some main container has ever been created (`HasAnyRegularContainerStarted`, §5.2).
    /// In a re-created sandbox only instances created in it count: the pod is initialized
    /// again once the rerun init sequence is done (§2.3).
    /// A main container removed to restart every container in place still counts: the pod
    /// stays initialized through that restart (§2.7).
    pub fn any_main_created(&self, plan: &PodPlan) -> bool {
        plan.containers
            .iter()
            .any(|c| self.in_current_sandbox(&c.name) || self.removed_for_restart_all(&c.name))
    }
}
