//! The pod sandbox's lifecycle (§2.3): what the engine knows of it, what it decides when the
//! runtime reports it lost, and how a new one resets the pod's records.
//!
//! The kubelet's `computePodActions` answers a dead sandbox with `KillPod` and `CreateSandbox`
//! in one step, because its `SyncPod` kills synchronously. Here the same decision comes in
//! stages, as data: [`Action::ReplaceSandbox`] (the `SandboxChanged` event), kills of every
//! container still running (ordered and graced as a pod termination), then
//! [`Action::CreateSandbox`] once nothing runs. A new sandbox purges the init containers'
//! instances, so initialization reruns from init container 0 while main containers wait.

use std::time::Duration;

use tandem_api::plan::{PodPlan, RestartPolicy};
use tokio::time::Instant;

use crate::state::{HookState, KillReason, Observed, Probes, RunState, TerminationReason};
use crate::sync::{will_restart_after, Action, Decision};

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
                reason: KillReason::SandboxChanged,
                grace,
                message: format!("Stopping container {}", c.name),
            });
        }
    }
    if !active {
        d.actions.push(Action::CreateSandbox {
            attempt: obs.sandbox.attempt + 1,
        });
    }
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
            if let RunState::Exited(e) = &rec.state {
                rec.last_exit = Some(e.clone());
            }
            rec.state = RunState::NotCreated;
            rec.waiting = None;
            rec.stopping = None;
            rec.killed_for = None;
            rec.post_start = HookState::NotRun;
            rec.pre_stop = HookState::NotRun;
            rec.probes = Probes::new();
        }
    }

    /// Making sandbox `attempt` failed.
    pub fn sandbox_failed(&mut self, attempt: u32, message: String) {
        if attempt == self.sandbox.attempt + 1 {
            self.sandbox.state = SandboxState::Failed(message);
        }
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
