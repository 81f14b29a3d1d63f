//! What the engine has observed about one pod: one record per container, the pod sandbox, and
//! whether (and why) the pod is terminating; and every change to it. The driver changes it only
//! through the methods here (one per thing that can happen: a start begun, an exit, a probe
//! result, a deletion...), so each change is a plain function testable without the driver; the
//! engine only reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use tandem_api::plan::{ContainerPlan, ContainerRole, PodPlan, Probe};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::probe::{ProbeKind, ProbeResult, Probes};
use crate::runtime::{ContainerUserIds, StartFailure, StopSignal, StorageUsage};

/// The kubelet never gives a container less than this between SIGTERM and SIGKILL (§4.2).
pub const MIN_GRACE: Duration = Duration::from_secs(2);

/// A lifecycle hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    PostStart,
    PreStop,
}

/// The container's spec hash (the kubelet's `HashContainer`): FNV-1a over the planned spec as
/// JSON. Stable across processes, so it may be stored; only the image changes on a running pod.
pub fn spec_hash(c: &ContainerPlan) -> u64 {
    fnv1a(&serde_json::to_vec(c).unwrap_or_default())
}

/// 64-bit FNV-1a.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
/// SIGKILL once the grace period (at least [`MIN_GRACE`] after the signal) is over.
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
    /// Why the container is waiting, when it is, and the message shown with the reason.
    pub waiting: Option<(WaitingReason, String)>,
    pub backoff: Option<Backoff>,
    pub stopping: Option<Stopping>,
    /// Why the kubelet last stopped this container itself; kept after the exit, because a
    /// container killed for a failed probe restarts whatever its exit code (§2.2).
    pub killed_for: Option<KillReason>,
    pub post_start: HookState,
    pub pre_stop: HookState,
    pub probes: Probes,
    /// [`spec_hash`] of the spec the current (or last) instance was started from;
    /// `None` before the first start. The engine compares it with the plan's to find a changed
    /// spec (§1.7), as the kubelet compares the hash label of the running container.
    pub spec_hash: Option<u64>,
    /// The image the current (or last) instance runs: the status reports it until a new
    /// instance starts, so a completed init container keeps its old image after an update.
    pub image: Option<String>,
    /// What the runtime said of the current (or last) instance it made: its id and its
    /// image's, for the status.
    pub started: Option<crate::runtime::Started>,
    /// The record as it was before the start in flight, put back if that start never made a
    /// container (see [`NotCreated`]).
    pub before_start: Option<Box<BeforeStart>>,
    /// Starts that failed before a container existed, since the last one that made one.
    pub not_created: Option<NotCreated>,
    /// The ids the current (or last) instance runs with, once the runtime has said.
    pub user: Option<ContainerUserIds>,
}

/// What a start changes in a record, kept to undo it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BeforeStart {
    pub state: RunState,
    pub last_exit: Option<Exit>,
    pub backoff: Option<Backoff>,
}

/// Why a container waits, as the kubelet's waiting reasons name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingReason {
    /// It exited and waits out its restart back-off (§2.4).
    CrashLoopBackOff,
    /// Its image could not be pulled and the pull waits out the image back-off.
    ImagePullBackOff,
    /// A start failed with this reason and will be tried again.
    StartFailed(StartFailure),
    /// It was removed to restart every container in place (§2.7).
    RestartingAllContainers,
}

impl std::fmt::Display for WaitingReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitingReason::CrashLoopBackOff => f.write_str("CrashLoopBackOff"),
            WaitingReason::ImagePullBackOff => f.write_str("ImagePullBackOff"),
            WaitingReason::StartFailed(failure) => failure.fmt(f),
            WaitingReason::RestartingAllContainers => f.write_str(RESTARTING_ALL_REASON),
        }
    }
}

/// A start that failed before any container existed (its image could not be pulled, its config
/// could not be built). The kubelet counts no restart for it and keeps no terminated state; it
/// retries a pull with the image back-off (10 s doubling to 5 min) and anything else on its next
/// pod sync (about 10 s later), showing the error as the waiting reason meanwhile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCreated {
    pub at: Instant,
    pub failures: u32,
    pub reason: StartFailure,
    pub message: String,
}

impl NotCreated {
    /// When the next start may be tried.
    pub fn retry_at(&self) -> Instant {
        let delay = if self.reason == StartFailure::ErrImagePull {
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
            started: None,
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

/// The changes the driver makes to a container's record, one per thing that happens to it.
impl ContainerRecord {
    /// A new instance is being started (`Action::Start`): the record says Creating, counts the
    /// start and forgets the previous instance's hooks, probes and stop, keeping what it needs to
    /// undo the start if no container is made. Returns the new instance's attempt number.
    pub fn start_begun(
        &mut self,
        c: &ContainerPlan,
        backoff: Option<Backoff>,
        now: Instant,
    ) -> u32 {
        self.before_start = Some(Box::new(BeforeStart {
            state: self.state.clone(),
            last_exit: self.last_exit.clone(),
            backoff: self.backoff,
        }));
        if let RunState::Exited(e) = &self.state {
            self.last_exit = Some(e.clone());
        }
        self.state = RunState::Creating { since: now };
        self.starts += 1;
        // What this instance is made from, to notice a later spec change (§1.7).
        self.spec_hash = Some(spec_hash(c));
        self.image = Some(c.image.clone());
        if backoff.is_some() {
            self.backoff = backoff;
        }
        self.waiting = None;
        self.stopping = None;
        self.killed_for = None;
        self.post_start = HookState::NotRun;
        self.pre_stop = HookState::NotRun;
        self.probes = Probes::new();
        self.restart_count()
    }

    /// The instance's process runs.
    pub fn start_succeeded(&mut self, started: crate::runtime::Started, now: Instant) {
        if let RunState::Creating { .. } = self.state {
            self.state = RunState::Running { since: now };
        }
        self.started = Some(started);
        self.before_start = None;
        self.not_created = None;
    }

    /// The start failed before a container existed: it is undone (no restart counted, no
    /// terminated state) and waits out its own retry delay (see [`NotCreated`]), the error shown
    /// as the waiting reason meanwhile.
    pub fn start_made_nothing(&mut self, reason: StartFailure, message: &str, now: Instant) {
        if let Some(before) = self.before_start.take() {
            self.state = before.state;
            self.last_exit = before.last_exit;
            self.backoff = before.backoff;
            self.starts = self.starts.saturating_sub(1);
        }
        let failures = self.not_created.as_ref().map_or(0, |n| n.failures) + 1;
        self.not_created = Some(NotCreated {
            at: now,
            failures,
            reason,
            message: message.into(),
        });
        self.waiting = Some((WaitingReason::StartFailed(reason), message.into()));
    }

    /// The container was made but could not start: the instance ends as the kubelet reports it
    /// (exit code 128, reason `StartError`) and restarts by the usual rules.
    pub fn start_failed(&mut self, reason: StartFailure, message: &str, now: Instant) {
        self.before_start = None;
        self.not_created = None;
        self.state = RunState::Exited(Exit {
            exit_code: 128,
            signal: None,
            reason: "StartError".into(),
            message: Some(message.into()),
            started_at: None,
            finished_at: now,
        });
        self.waiting = Some((WaitingReason::StartFailed(reason), message.into()));
    }

    /// The container must wait with `reason`; returns whether that reason is new.
    pub fn wait(&mut self, reason: WaitingReason, message: String) -> bool {
        let changed = self.waiting.as_ref().map(|w| w.0) != Some(reason);
        self.waiting = Some((reason, message));
        changed
    }

    /// The kubelet begins to stop the running instance (`killContainer`): the grace period counts
    /// from now; a kill of the kubelet's own (not the pod's termination) is remembered past the
    /// exit, since it decides the restart (§2.2).
    pub fn kill_begun(&mut self, reason: KillReason, grace: Duration, now: Instant) {
        self.stopping = Some(Stopping {
            reason,
            started_at: now,
            grace,
            term_sent_at: None,
            kill_at: None,
            kill_sent: false,
        });
        if reason != KillReason::PodTermination {
            self.killed_for = Some(reason);
        }
    }

    /// The stop signal went out (SIGKILL follows at `kill_at`), or SIGKILL itself did.
    pub fn stop_signal_sent(&mut self, signal: StopSignal, kill_at: Instant, now: Instant) {
        let Some(s) = self.stopping.as_mut() else {
            return;
        };
        match signal {
            StopSignal::Term => {
                s.term_sent_at = Some(now);
                s.kill_at = Some(kill_at);
            }
            StopSignal::Kill => s.kill_sent = true,
        }
    }

    fn hook_mut(&mut self, hook: HookKind) -> &mut HookState {
        match hook {
            HookKind::PostStart => &mut self.post_start,
            HookKind::PreStop => &mut self.pre_stop,
        }
    }

    /// A lifecycle hook of the current instance began to run.
    pub fn hook_begun(&mut self, hook: HookKind, now: Instant) {
        *self.hook_mut(hook) = HookState::Running { since: now };
    }

    /// A lifecycle hook of the current instance ended.
    pub fn hook_finished(&mut self, hook: HookKind, failed: bool) {
        *self.hook_mut(hook) = if failed {
            HookState::Failed
        } else {
            HookState::Succeeded
        };
    }

    /// A probe of the current instance began to run.
    pub fn probe_begun(&mut self, kind: ProbeKind, now: Instant) {
        let t = self.probes.get_mut(kind);
        t.in_flight = true;
        t.last_run_at = Some(now);
    }

    /// A probe run ended with `raw` (`None`: it could not be carried out, which the prober does
    /// not count). Returns whether the published result changed.
    pub fn probe_finished(
        &mut self,
        kind: ProbeKind,
        probe: &Probe,
        raw: Option<ProbeResult>,
    ) -> bool {
        self.probes.get_mut(kind).in_flight = false;
        let Some(raw) = raw.filter(|_| self.is_running()) else {
            return false;
        };
        crate::probe::record(self.probes.get_mut(kind), kind, probe, raw)
    }

    /// The runtime says which ids the current instance runs with.
    pub fn user_known(&mut self, user: ContainerUserIds) {
        self.user = Some(user);
    }

    /// Instance `attempt` exited. Returns its exit when that is news: a report about another
    /// instance, or about one that is not running, changes nothing.
    pub fn exited(
        &mut self,
        attempt: u32,
        exit_code: i32,
        signal: Option<i32>,
        oom: bool,
        at: Instant,
    ) -> Option<&Exit> {
        if self.starts == 0 || self.restart_count() != attempt {
            return None;
        }
        let started_at = match self.state {
            RunState::Running { since } | RunState::Creating { since } => since,
            _ => return None,
        };
        self.state = RunState::Exited(Exit::from_code(
            exit_code,
            signal,
            oom,
            Some(started_at),
            at,
        ));
        self.stopping = None;
        self.exit()
    }
}

impl Default for ContainerRecord {
    fn default() -> Self {
        Self::new()
    }
}

/// The kubelet's words for a pod stopped by `activeDeadlineSeconds`.
pub const DEADLINE_MESSAGE: &str = "Pod was active on the node longer than the specified deadline";

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
    /// Admission refused the pod ([`crate::admission::admit`]): Failed before anything started,
    /// with the rejection's reason and message.
    Rejected,
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
    pub sandbox: PodSandbox,
    /// Whether the pod's volumes are set up (§6.7).
    pub volumes: VolumeSetUp,
    /// Keeping its file volumes current once they are (§6.9).
    pub volume_resync: VolumeResync,
}

/// The pod's file volumes kept current (§6.9): when the next resync is due, whether one is
/// running, and the failure the last reported (warned about again only when it changes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeResync {
    /// `None`: now (the first, once the volumes are set up).
    pub due: Option<Instant>,
    pub running: bool,
    pub failing: Option<crate::runtime::MountFailure>,
}

/// How often a running pod's file volumes are compared with what they project (the kubelet
/// does it at each periodic pod sync, every minute by default; one machine can afford to look
/// more often, so a changed ConfigMap reaches its pods within seconds).
pub const VOLUME_RESYNC_PERIOD: Duration = Duration::from_secs(5);

/// The pod's volumes (§6.7): set up before any container is created. Only volumes that wait
/// for a ConfigMap or Secret, and image volumes, are set up by the engine; the others exist
/// before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeSetUp {
    Done,
    /// Not yet: the next try is due at `retry_at` (`None`: now), after `failures` failed ones.
    Pending {
        retry_at: Option<Instant>,
        failures: u32,
    },
    /// A try is in flight.
    Trying {
        failures: u32,
    },
}

/// The first wait between two tries of a volume's set-up, doubled after each failure up to
/// [`VOLUME_RETRY_MAX`] (the kubelet's volume operations back off from 500 ms; its cap of two
/// minutes is shortened so a pod starts within seconds of its object's creation).
pub const VOLUME_RETRY_FIRST: Duration = Duration::from_millis(500);
pub const VOLUME_RETRY_MAX: Duration = Duration::from_secs(10);

impl VolumeSetUp {
    fn of(plan: &PodPlan) -> Self {
        match plan.volumes.iter().any(|v| v.source.set_up_late()) {
            true => VolumeSetUp::Pending {
                retry_at: None,
                failures: 0,
            },
            false => VolumeSetUp::Done,
        }
    }
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
            volumes: VolumeSetUp::of(plan),
            volume_resync: VolumeResync::default(),
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

/// The terminated reason (and waiting reason) of a container removed to restart every
/// container in place, as the kubelet reports it.
pub const RESTARTING_ALL_REASON: &str = "RestartingAllContainers";
/// The kubelet's message with [`RESTARTING_ALL_REASON`].
pub const RESTARTING_ALL_MESSAGE: &str =
    "The container is removed because RestartAllContainers in place";

/// Where the current sandbox is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxState {
    /// It holds the pod's namespaces: containers can be created in it.
    Ready,
    /// The runtime reported it gone; the engine has not decided yet.
    Lost,
    /// A new one will be made: every container is being stopped first.
    Replacing,
    /// The runtime is making the new one.
    Creating,
    /// Making the new one failed, with this message: the pod ends Failed.
    Failed(String),
}

/// The pod sandbox as observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSandbox {
    /// The attempt number of the current sandbox: 0 for the first.
    pub attempt: u32,
    pub state: SandboxState,
    /// When a re-created sandbox became ready; `None` for the first, which exists before the
    /// engine starts. Instances started before it belong to an earlier sandbox.
    pub created_at: Option<Instant>,
}

impl Default for PodSandbox {
    fn default() -> Self {
        PodSandbox {
            attempt: 0,
            state: SandboxState::Ready,
            created_at: None,
        }
    }
}

impl PodSandbox {
    pub fn ready(&self) -> bool {
        self.state == SandboxState::Ready
    }
}

/// Drops a container's current instance (`purgeInitContainers`, `RemoveContainer`): it has none
/// again, keeps its restart count, and `last` becomes its `lastState`.
fn purge_instance(rec: &mut ContainerRecord, last: Option<Exit>) {
    if last.is_some() {
        rec.last_exit = last;
    }
    rec.state = RunState::NotCreated;
    rec.waiting = None;
    rec.stopping = None;
    rec.killed_for = None;
    rec.post_start = HookState::NotRun;
    rec.pre_stop = HookState::NotRun;
    rec.probes = Probes::new();
}

/// The changes the driver makes to the pod as a whole.
impl Observed {
    /// The engine starts: `activeDeadlineSeconds` counts from now.
    pub fn pod_started(&mut self, now: Instant) {
        self.started_at = Some(now);
    }

    /// The pod begins to terminate for `reason`. Returns whether that is news: a pod already
    /// terminating keeps its first reason and grace period.
    pub fn terminate(&mut self, reason: TerminationReason, grace: Duration, now: Instant) -> bool {
        if self.termination.is_some() {
            return false;
        }
        self.termination = Some(Termination {
            reason,
            started_at: now,
            grace,
        });
        true
    }

    /// The pod is evicted with the kubelet's `message` (§4.1). Returns whether that is news.
    pub fn evict(&mut self, message: String, grace: Duration, now: Instant) -> bool {
        if !self.terminate(TerminationReason::Evicted, grace, now) {
            return false;
        }
        self.eviction = Some(message);
        true
    }

    /// A deletion with `grace` (`tandem delete`, Ctrl-C): begins the termination, or cuts the
    /// one in force when `grace` ends it sooner (as kubectl's shorter grace period does); every
    /// container being stopped gets at most the new deadline and still [`MIN_GRACE`] after its
    /// stop signal. A pod that was completing becomes deleted.
    pub fn delete(&mut self, grace: Duration, now: Instant) {
        let Some(t) = &mut self.termination else {
            self.terminate(TerminationReason::Deleted, grace, now);
            return;
        };
        let cut = now + grace;
        if cut < t.deadline() {
            t.grace = cut - t.started_at;
            for rec in self.containers.values_mut() {
                let Some(s) = rec.stopping.as_mut() else {
                    continue;
                };
                if s.deadline() > cut {
                    s.grace = cut.saturating_duration_since(s.started_at);
                }
                if let (Some(term), Some(k)) = (s.term_sent_at, s.kill_at) {
                    s.kill_at = Some(k.min(cut.max(term + MIN_GRACE)));
                }
            }
        }
        if t.reason == TerminationReason::Completed {
            t.reason = TerminationReason::Deleted;
        }
    }

    /// The runtime measured the pod's local storage.
    pub fn storage_measured(&mut self, usage: StorageUsage) {
        self.storage = Some(usage);
    }

    /// The lost sandbox will be replaced: every container is stopped first.
    pub fn sandbox_replacing(&mut self) {
        self.sandbox.state = SandboxState::Replacing;
    }

    /// The runtime is making the new sandbox.
    /// A try to set up the pod's volumes begins.
    pub fn volumes_trying(&mut self) {
        if let VolumeSetUp::Pending { failures, .. } = self.volumes {
            self.volumes = VolumeSetUp::Trying { failures };
        }
    }

    /// A try to set up the pod's volumes ended: done, or the next is due after the back-off.
    pub fn volumes_tried(&mut self, ok: bool, now: Instant) {
        let VolumeSetUp::Trying { failures } = self.volumes else {
            return;
        };
        self.volumes = match ok {
            true => VolumeSetUp::Done,
            false => {
                let wait = VOLUME_RETRY_FIRST
                    .saturating_mul(1 << failures.min(16))
                    .min(VOLUME_RETRY_MAX);
                VolumeSetUp::Pending {
                    retry_at: Some(now + wait),
                    failures: failures + 1,
                }
            }
        };
    }

    /// A resync of the file volumes begins (§6.9).
    pub fn volume_resync_begun(&mut self) {
        self.volume_resync.running = true;
    }

    /// A resync ended; the next is due a period later. Returns the failure to warn about: one
    /// that is not the one reported last.
    pub fn volume_resync_done(
        &mut self,
        result: Result<(), crate::runtime::MountFailure>,
        now: Instant,
    ) -> Option<crate::runtime::MountFailure> {
        let r = &mut self.volume_resync;
        r.running = false;
        r.due = Some(now + VOLUME_RESYNC_PERIOD);
        let failure = result.err();
        let news = failure.clone().filter(|f| r.failing.as_ref() != Some(f));
        r.failing = failure;
        news
    }

    pub fn sandbox_creating(&mut self) {
        self.sandbox.state = SandboxState::Creating;
    }
    /// The runtime reports sandbox `attempt` gone. Returns whether that is news: a report about
    /// an earlier sandbox, or a second one, changes nothing.
    pub fn sandbox_lost(&mut self, attempt: u32) -> bool {
        if attempt != self.sandbox.attempt || !self.sandbox.ready() {
            return false;
        }
        self.sandbox.state = SandboxState::Lost;
        true
    }

    /// Sandbox `attempt` is ready. The old init container instances are purged
    /// (`purgeInitContainers`): each init container and sidecar has no current instance again,
    /// its last run kept as `lastState` and its restart count kept, so initialization reruns
    /// from init container 0. Main containers keep their exits and restart by the usual rules
    /// once initialized.
    pub fn sandbox_created(&mut self, plan: &PodPlan, attempt: u32, now: Instant) {
        self.sandbox = PodSandbox {
            attempt,
            state: SandboxState::Ready,
            created_at: Some(now),
        };
        for c in &plan.init_containers {
            let rec = self.get_mut(&c.name);
            // Every container has stopped before a new sandbox is made; a record that somehow
            // still runs is left alone rather than lose track of its process.
            if rec.is_active() {
                continue;
            }
            let last = rec.exit().cloned();
            purge_instance(rec, last);
        }
    }

    /// Every container stopped for a `RestartAllContainers` rule (§2.7): each one that ran is
    /// removed. Its last run becomes the kubelet's `lastState` of a removed container
    /// (exit code 137, reason and message [`RESTARTING_ALL_REASON`] and
    /// [`RESTARTING_ALL_MESSAGE`], no times) and it waits with that reason until it starts
    /// again, init containers first. The sandbox, and so the pod IP and volumes, stay.
    pub fn all_containers_removed(&mut self, plan: &PodPlan, now: Instant) {
        for c in plan.all_containers() {
            let rec = self.get_mut(&c.name);
            // Nothing to remove from a container that never ran; one still running is left
            // alone rather than lose track of its process.
            if rec.starts == 0 || rec.is_active() {
                continue;
            }
            let removed = Exit {
                exit_code: 137,
                signal: None,
                reason: RESTARTING_ALL_REASON.into(),
                message: Some(RESTARTING_ALL_MESSAGE.into()),
                started_at: None,
                finished_at: now,
            };
            purge_instance(rec, Some(removed));
            rec.waiting = Some((
                WaitingReason::RestartingAllContainers,
                RESTARTING_ALL_MESSAGE.into(),
            ));
            rec.not_created = None;
            rec.before_start = None;
        }
    }

    /// Making sandbox `attempt` failed.
    pub fn sandbox_failed(&mut self, attempt: u32, message: String) {
        if attempt == self.sandbox.attempt + 1 {
            self.sandbox.state = SandboxState::Failed(message);
        }
    }

    /// Whether a container was removed to restart every container and has not started since.
    pub fn removed_for_restart_all(&self, name: &str) -> bool {
        let rec = self.get(name);
        rec.state == RunState::NotCreated
            && rec.last_exit.as_ref().is_some_and(|e| {
                e.reason == RESTARTING_ALL_REASON
                    && self.sandbox.created_at.is_none_or(|t| e.finished_at >= t)
            })
    }

    /// Whether the current instance of a container was started in the current sandbox.
    pub fn in_current_sandbox(&self, name: &str) -> bool {
        let rec = self.get(name);
        let Some(created) = self.sandbox.created_at else {
            return rec.starts > 0;
        };
        match &rec.state {
            RunState::NotCreated => false,
            RunState::Creating { since } | RunState::Running { since } => *since >= created,
            RunState::Exited(e) => e.started_at.is_some_and(|s| s >= created),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_api::plan::{ContainerRole, PodPlan};

    fn app() -> ContainerPlan {
        ContainerPlan::new("app", ContainerRole::Main, "busybox")
    }

    #[test]
    fn a_start_that_made_no_container_is_undone_and_counted_for_its_retry() {
        let t0 = Instant::now();
        let mut rec = ContainerRecord::new();
        assert_eq!(rec.start_begun(&app(), None, t0), 0);
        rec.start_made_nothing(StartFailure::ErrImagePull, "no such host", t0);
        assert_eq!(rec.state, RunState::NotCreated);
        assert_eq!(rec.starts, 0, "no restart counted");
        assert!(rec.before_start.is_none());
        assert_eq!(rec.not_created.as_ref().map(|n| n.failures), Some(1));
        assert_eq!(
            rec.waiting
                .as_ref()
                .map(|w| (w.0.to_string(), w.1.as_str())),
            Some(("ErrImagePull".to_string(), "no such host"))
        );
        rec.start_begun(&app(), None, t0);
        rec.start_made_nothing(StartFailure::ErrImagePull, "no such host", t0);
        assert_eq!(rec.not_created.as_ref().map(|n| n.failures), Some(2));
        // A start that works forgets the failures.
        rec.start_begun(&app(), None, t0);
        rec.start_succeeded(Default::default(), t0);
        assert!(matches!(rec.state, RunState::Running { .. }));
        assert!(rec.not_created.is_none() && rec.waiting.is_none());
    }

    #[test]
    fn an_exit_of_another_instance_changes_nothing() {
        let t0 = Instant::now();
        let mut rec = ContainerRecord::new();
        rec.start_begun(&app(), None, t0);
        rec.start_succeeded(Default::default(), t0);
        assert!(
            rec.exited(1, 0, None, false, t0).is_none(),
            "attempt 1 never ran"
        );
        assert!(rec.is_running());
        let exit = rec.exited(0, 137, Some(9), false, t0).cloned();
        assert_eq!(
            exit.map(|e| (e.exit_code, e.reason)),
            Some((137, "Error".into()))
        );
        assert!(
            rec.exited(0, 0, None, false, t0).is_none(),
            "reported twice"
        );
    }

    #[test]
    fn a_shorter_deletion_cuts_the_grace_in_force_but_keeps_the_minimum_after_the_signal() {
        let t0 = Instant::now();
        let plan = PodPlan::new("p", vec![], vec![app()]);
        let mut obs = Observed::new(&plan);
        assert!(obs.terminate(TerminationReason::Completed, Duration::from_secs(30), t0));
        assert!(!obs.terminate(TerminationReason::Deleted, Duration::from_secs(1), t0));
        let rec = obs.get_mut("app");
        rec.start_begun(&app(), None, t0);
        rec.start_succeeded(Default::default(), t0);
        rec.kill_begun(KillReason::PodTermination, Duration::from_secs(30), t0);
        rec.stop_signal_sent(StopSignal::Term, t0 + Duration::from_secs(30), t0);
        obs.delete(Duration::ZERO, t0);
        let t = obs.termination.expect("terminating");
        assert_eq!(
            t.reason,
            TerminationReason::Deleted,
            "a completing pod becomes deleted"
        );
        assert_eq!(t.grace, Duration::ZERO);
        let s = obs.get("app").stopping.expect("stopping");
        assert_eq!(s.grace, Duration::ZERO);
        assert_eq!(
            s.kill_at,
            Some(t0 + MIN_GRACE),
            "SIGKILL no sooner than MIN_GRACE"
        );
        assert_eq!(
            obs.get("app").killed_for,
            None,
            "a pod termination is not a kill of its own"
        );
    }

    /// The published FNV-1a test vectors, so a stored hash means the same in every version.
    #[test]
    fn the_spec_hash_is_fnv_1a() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        let (a, mut b) = (app(), app());
        b.image = "busybox:2".into();
        assert_ne!(spec_hash(&a), spec_hash(&b));
    }

    #[test]
    fn a_lost_sandbox_is_replaced_then_created_and_only_news_counts() {
        let t0 = Instant::now();
        let plan = PodPlan::new("p", vec![], vec![app()]);
        let mut obs = Observed::new(&plan);
        assert!(obs.sandbox_lost(0));
        assert!(!obs.sandbox_lost(0), "the same loss twice");
        assert_eq!(obs.sandbox.state, SandboxState::Lost);
        obs.sandbox_replacing();
        assert_eq!(obs.sandbox.state, SandboxState::Replacing);
        obs.sandbox_creating();
        assert_eq!(obs.sandbox.state, SandboxState::Creating);
        obs.sandbox_failed(2, "not this one".into());
        assert_eq!(
            obs.sandbox.state,
            SandboxState::Creating,
            "a failure of another attempt"
        );
        obs.sandbox_created(&plan, 1, t0);
        assert!(obs.sandbox.ready());
        assert!(!obs.sandbox_lost(0), "a report about the old sandbox");
    }

    /// After a re-created sandbox, a main container removed to restart every container still
    /// counts as created (the pod stays initialized, §2.7); one that ran only in the old sandbox
    /// does not.
    #[test]
    fn a_container_removed_for_a_restart_of_all_counts_as_created_in_a_new_sandbox() {
        let t0 = Instant::now();
        let later = |s| t0 + Duration::from_secs(s);
        let plan = PodPlan::new("p", vec![], vec![app()]);
        let mut obs = Observed::new(&plan);
        let rec = obs.get_mut("app");
        rec.start_begun(&app(), None, t0);
        rec.start_succeeded(Default::default(), t0);
        rec.exited(0, 1, None, false, later(1));
        // The old sandbox is replaced: what ran in it does not count.
        obs.sandbox_created(&plan, 1, later(2));
        assert!(!obs.removed_for_restart_all("app"));
        assert!(!obs.any_main_created(&plan));
        let rec = obs.get_mut("app");
        rec.start_begun(&app(), None, later(3));
        rec.start_succeeded(Default::default(), later(3));
        rec.exited(1, 42, None, false, later(4));
        obs.all_containers_removed(&plan, later(5));
        assert!(obs.removed_for_restart_all("app"));
        assert!(obs.any_main_created(&plan));
        assert_eq!(
            obs.get("app").waiting.as_ref().map(|w| w.0),
            Some(WaitingReason::RestartingAllContainers)
        );
        // Removed before the sandbox that is current now: it does not count.
        obs.sandbox_created(&plan, 2, later(6));
        assert!(!obs.removed_for_restart_all("app"));
    }
}
