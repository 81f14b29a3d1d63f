//! The engine's decisions about the pod sandbox (§2.3): what it does when the runtime reports the
//! sandbox lost, and the in-place restart of every container (§2.7) that takes the same path.
//! What the engine knows of the sandbox, and how a new one resets the pod's records, is
//! `state`'s.
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

use crate::action::{Action, Decision};
use crate::rules::{restarts_all_containers, will_restart_after};
use crate::state::{KillReason, Observed, SandboxState, TerminationReason};

/// The `AllContainersRestarting` condition's reason and message while the restart is in
/// progress.
pub const RESTART_ALL_STARTED_REASON: &str = "RestartAllContainersStarted";
pub const RESTART_ALL_STARTED_MESSAGE: &str = "container exited with restart policy rule";

/// The kubelet's event for a sandbox it replaces.
pub const SANDBOX_CHANGED_MESSAGE: &str = "Pod sandbox changed, it will be killed and re-created.";

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
