//! The kubelet's per-container rules the decisions are made of: whether an exit restarts a
//! container (restart policy and restart rules, §2.1, §2.7), whether its spec changed (§1.7), and
//! the grace period of a kill (§4.2).

use std::time::Duration;

use tandem_api::plan::{
    seconds, ContainerPlan, ContainerRole, PodPlan, RestartAction, RestartPolicy,
};

use crate::state::{spec_hash, ContainerRecord, KillReason};

/// Whether a container that exited with `exit_code` is started again (§2.1). Sidecars always are;
/// ephemeral containers never are (§1.8).
pub fn should_restart(policy: RestartPolicy, role: ContainerRole, exit_code: i32) -> bool {
    match role {
        ContainerRole::Sidecar => true,
        ContainerRole::Ephemeral => false,
        ContainerRole::Init | ContainerRole::Main => match policy {
            RestartPolicy::Always => role == ContainerRole::Main || exit_code != 0,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        },
    }
}

/// The kubelet's `ContainerShouldRestart` (§2.7): a container with its own `restartPolicy` is
/// restarted when one of its rules matches the exit code, else as its policy says; without one,
/// as the pod's policy says (§2.1, an init container treating Always as OnFailure).
pub fn container_should_restart(plan: &PodPlan, c: &ContainerPlan, exit_code: i32) -> bool {
    if c.role == ContainerRole::Sidecar {
        return true;
    }
    match c.restart_policy {
        // The first matching rule decides, and either action restarts the container: alone
        // (Restart) or with every other one (RestartAllContainers, see [`restarts_all_containers`]).
        Some(_) if c.restart_rules.iter().any(|r| r.matches(exit_code)) => true,
        Some(RestartPolicy::Always) => true,
        Some(RestartPolicy::OnFailure) => exit_code != 0,
        Some(RestartPolicy::Never) => false,
        None => should_restart(plan.restart_policy, c.role, exit_code),
    }
}

/// Whether an exit with `exit_code` restarts every container of the pod (§2.7, KEP-5532): the
/// first of the container's rules that matches has action `RestartAllContainers`. Sidecars may
/// have such rules too.
pub fn restarts_all_containers(c: &ContainerPlan, exit_code: i32) -> bool {
    c.restart_rules
        .iter()
        .find(|r| r.matches(exit_code))
        .is_some_and(|r| r.action == RestartAction::RestartAllContainers)
}

/// Whether any container of the pod has a `RestartAllContainers` rule (the kubelet's
/// `AllContainersCouldRestart`): such a pod reports the `AllContainersRestarting` condition.
pub fn all_containers_could_restart(plan: &PodPlan) -> bool {
    plan.all_containers().any(|c| {
        c.restart_rules
            .iter()
            .any(|r| r.action == RestartAction::RestartAllContainers)
    })
}

/// The kubelet's `IsContainerRestartable` (§2.7): whether the container can restart at all, which
/// decides the restart after a liveness or startup kill, before any exit code is known.
pub fn is_container_restartable(plan: &PodPlan, c: &ContainerPlan) -> bool {
    if c.role == ContainerRole::Sidecar {
        return true;
    }
    match c.restart_policy {
        // Only a rule that restarts this container makes it restartable; a
        // RestartAllContainers rule restarts the pod's containers, not this one alone.
        Some(policy) => {
            c.restart_rules
                .iter()
                .any(|r| r.action == tandem_api::plan::RestartAction::Restart)
                || policy != RestartPolicy::Never
        }
        None => plan.restart_policy != RestartPolicy::Never,
    }
}

/// Whether an exited container restarts, counting how it ended: one the kubelet killed for a
/// failed liveness or startup probe restarts if it is restartable at all, whatever its exit
/// code (§2.2: the restart is decided with the kill, not from the exit).
pub fn will_restart_after(plan: &PodPlan, c: &ContainerPlan, rec: &ContainerRecord) -> bool {
    let Some(e) = rec.exit() else { return false };
    if c.role == ContainerRole::Ephemeral {
        return false;
    }
    // Killed for a new sandbox, or to restart every container: it starts again whatever its
    // exit code, as the kubelet picks the containers to start when it decides the kill (§2.3,
    // §2.7).
    if matches!(
        rec.killed_for,
        Some(KillReason::SandboxChanged | KillReason::RestartAllContainers)
    ) {
        return true;
    }
    let probe_kill = matches!(
        rec.killed_for,
        Some(KillReason::Liveness | KillReason::Startup)
    );
    // A container killed because its spec changed restarts regardless of the restart policy,
    // even Never (§1.7, §2.1): the kubelet decides the restart together with that kill.
    rec.killed_for == Some(KillReason::SpecChanged)
        || container_should_restart(plan, c, e.exit_code)
        || (probe_kill && c.role == ContainerRole::Main && is_container_restartable(plan, c))
}

/// Whether the container's current (or last) instance was started from another spec than the
/// plan's (§1.7). Unknown (never started, or a record built without a hash) counts as unchanged.
pub fn spec_changed(c: &ContainerPlan, rec: &ContainerRecord) -> bool {
    rec.spec_hash.is_some_and(|h| h != spec_hash(c))
}

/// The grace period of a kubelet-initiated kill of one container (§4.2): the probe's own
/// terminationGracePeriodSeconds for a probe kill when set, else the pod's.
pub fn kill_grace(plan: &PodPlan, c: &ContainerPlan, reason: KillReason) -> Duration {
    let probe = match reason {
        KillReason::Liveness => c.liveness_probe.as_ref(),
        KillReason::Startup => c.startup_probe.as_ref(),
        _ => None,
    };
    let secs = probe
        .and_then(|p| p.termination_grace_period_seconds)
        .unwrap_or(plan.termination_grace_period_seconds);
    seconds(secs)
}

pub fn pod_grace(plan: &PodPlan) -> Duration {
    seconds(plan.termination_grace_period_seconds)
}
