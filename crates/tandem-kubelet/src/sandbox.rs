//! The pod sandbox's lifecycle (§2.3): what the engine knows of it, what it decides when the
//! runtime reports it lost, and how a new one resets the pod's records.
//!
//! The kubelet's `computePodActions` answers a dead sandbox with `KillPod` and `CreateSandbox`
//! in one step, because its `SyncPod` kills synchronously. Here the same decision comes in
//! stages, as data: [`Action::ReplaceSandbox`] (the `SandboxChanged` event), kills of every
//! container still running (ordered and graced as a pod termination), then
//! [`Action::CreateSandbox`] once nothing runs. A new sandbox purges the init containers'
//! instances, so initialization reruns from init container 0 while main containers wait.
//!
//! The same path, minus the new sandbox, restarts every container in place when one exits into a
//! `RestartAllContainers` rule (§2.7, KEP-5532): the kills of every container (without grace
//! period or preStop hook, as the kubelet's grace override 0), then
//! [`Action::RemoveAllContainers`] once nothing runs, which purges every instance — init
//! containers, sidecars and main containers — so the pod starts again from init container 0
//! with its sandbox, IP and volumes as they were.

use std::time::Duration;

use tandem_api::plan::{ContainerPlan, PodPlan, RestartPolicy};
use tokio::time::Instant;

use crate::state::{
    ContainerRecord, Exit, HookState, KillReason, Observed, Probes, RunState, TerminationReason,
};
use crate::sync::{restarts_all_containers, will_restart_after, Action, Decision};

/// The terminated reason (and waiting reason) of a container removed to restart every
/// container in place, as the kubelet reports it.
pub const RESTARTING_ALL_REASON: &str = "RestartingAllContainers";
/// The kubelet's message with [`RESTARTING_ALL_REASON`].
pub const RESTARTING_ALL_MESSAGE: &str =
    "The container is removed because RestartAllContainers in place";
/// The `AllContainersRestarting` condition's reason and message while the restart is in
/// progress.
pub const RESTART_ALL_STARTED_REASON: &str = "RestartAllContainersStarted";
pub const RESTART_ALL_STARTED_MESSAGE: &str = "container exited with restart policy rule";

/// The kubelet's event for a sandbox it replaces.
pub const SANDBOX_CHANGED_MESSAGE: &str = "Pod sandbox changed, it will be killed and re-created.";

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

/// Whether a pod whose sandbox is gone gets a new one (`computePodActions` with
/// `CreateSandbox`): not under restartPolicy Never once any container has a status (the pod has
/// run: it ends from what ran), nor when no main container would start again (OnFailure and all
/// succeeded: it is done). Otherwise yes, including a Never pod in which nothing ran yet.
pub fn should_recreate_sandbox(plan: &PodPlan, obs: &Observed) -> bool {
    let any_status = plan.all_containers().any(|c| obs.get(&c.name).starts > 0);
    if plan.restart_policy == RestartPolicy::Never && any_status {
        return false;
    }
    // Containers still running are killed for the new sandbox and restart with it; an exited one
    // restarts as its policy says (so not one that succeeded under OnFailure).
    plan.containers.iter().any(|c| {
        let rec = obs.get(&c.name);
        rec.exit().is_none() || will_restart_after(plan, c, rec)
    })
}

/// The engine's turn while the sandbox is not ready (and the pod is not terminating).
pub(crate) fn compute_sandbox_loss(
    plan: &PodPlan,
    obs: &Observed,
    grace: Duration,
    d: &mut Decision,
) {
    match &obs.sandbox.state {
        SandboxState::Ready | SandboxState::Creating => return,
        SandboxState::Failed(_) => {
            d.actions.push(Action::Terminate {
                reason: TerminationReason::SandboxCreationFailed,
                grace,
            });
            return;
        }
        SandboxState::Lost => {
            if !should_recreate_sandbox(plan, obs) {
                // KillPod without CreateSandbox: the pod ends with what its containers did.
                d.actions.push(Action::Terminate {
                    reason: TerminationReason::SandboxLost,
                    grace,
                });
                return;
            }
            d.actions.push(Action::ReplaceSandbox);
        }
        SandboxState::Replacing => {}
    }
    // killPodWithSyncResult: every container at once, with the pod's grace period, preStop
    // hooks, and sidecars after the main containers (§4.3, §4.4).
    if !kill_every_container(plan, obs, KillReason::SandboxChanged, grace, d) {
        d.actions.push(Action::CreateSandbox {
            attempt: obs.sandbox.attempt + 1,
        });
    }
}

/// Begins the kill of every running container that is not being stopped yet. Returns whether
/// any container is still active (running, or a start in flight, stopped once it runs).
fn kill_every_container(
    plan: &PodPlan,
    obs: &Observed,
    reason: KillReason,
    grace: Duration,
    d: &mut Decision,
) -> bool {
    let mut active = false;
    for c in plan.all_containers() {
        let rec = obs.get(&c.name);
        if !rec.is_active() {
            continue;
        }
        active = true;
        if rec.is_running() && rec.stopping.is_none() {
            d.actions.push(Action::Kill {
                container: c.name.clone(),
                reason,
                grace,
                message: format!("Stopping container {}", c.name),
            });
        }
    }
    active
}

/// The container whose exit asks for every container to restart (the kubelet's
/// `ShouldAllContainersRestart`): its current instance exited with a code whose first matching
/// rule has action `RestartAllContainers`. Its removal ends the restart, so it triggers once.
pub fn restart_all_trigger<'a>(plan: &'a PodPlan, obs: &Observed) -> Option<&'a ContainerPlan> {
    plan.all_containers().find(|c| {
        obs.get(&c.name)
            .exit()
            .is_some_and(|e| restarts_all_containers(c, e.exit_code))
    })
}

/// The engine's turn while every container restarts in place (§2.7): kill what runs, in no
/// order and with no grace period (the kubelet's override 0: no preStop hook, the 2 s minimum
/// after the stop signal), then remove every instance.
pub(crate) fn compute_restart_all(plan: &PodPlan, obs: &Observed, d: &mut Decision) {
    if !kill_every_container(
        plan,
        obs,
        KillReason::RestartAllContainers,
        Duration::ZERO,
        d,
    ) {
        d.actions.push(Action::RemoveAllContainers);
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

impl Observed {
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
            rec.waiting = Some((RESTARTING_ALL_REASON.into(), RESTARTING_ALL_MESSAGE.into()));
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
