//! The decision function: given the plan, what has been observed and the time, what to do next.
//!
//! This is the kubelet's `computePodActions` / `computeInitContainerActions` for one pod, written
//! as a pure function so every rule can be pinned by a table test. References in comments point at
//! the sections of docs/kubelet-rules.md, the kubelet rules this project conforms to.

use std::time::Duration;

use tandem_api::plan::{seconds, ContainerPlan, ContainerRole, PodPlan, VolumeSource};
use tokio::time::Instant;

use crate::action::{Action, Decision, PodPhase, EVICTION_GRACE};
use crate::backoff::{self};
use crate::probe::{ProbeKind, ProbeResult};
use crate::rules::{
    container_should_restart, is_container_restartable, kill_grace, pod_grace, spec_changed,
    will_restart_after,
};
use crate::runtime::{StopSignal, StorageUsage};
use crate::state::{
    ContainerRecord, HookKind, HookState, KillReason, Observed, RunState, TerminationReason,
    VolumeSetUp, WaitingReason, MIN_GRACE,
};

pub fn compute_actions(plan: &PodPlan, obs: &Observed, now: Instant) -> Decision {
    let mut d = Decision::default();
    let terminating = obs.termination.is_some();
    for (i, c) in plan.all_containers().enumerate() {
        let rec = obs.get(&c.name);
        if rec.is_running() && c.role != ContainerRole::Init {
            if c.post_start.is_some()
                && rec.post_start == HookState::NotRun
                && rec.stopping.is_none()
            {
                d.actions.push(Action::Hook {
                    container: c.name.clone(),
                    hook: HookKind::PostStart,
                });
            }
            schedule_probes(c, rec, terminating, now, &mut d);
            if !terminating && rec.stopping.is_none() {
                kill_if_unhealthy(plan, c, rec, &mut d);
            }
        }
        if rec.stopping.is_some() && rec.is_active() {
            progress_stop(plan, obs, i, c, now, &mut d);
        }
    }
    if terminating {
        compute_termination(plan, obs, now, &mut d);
    } else {
        compute_running(plan, obs, now, &mut d);
    }
    d
}

/// Probe workers (§3.3): which probes of a running container are due now, and when the next is.
fn schedule_probes(
    c: &ContainerPlan,
    rec: &ContainerRecord,
    terminating: bool,
    now: Instant,
    d: &mut Decision,
) {
    let RunState::Running { since } = rec.state else {
        return;
    };
    // The kubelet only sees the container as running once postStart returned.
    if !rec.is_up(c) {
        return;
    }
    let started = rec.started(c);
    for kind in ProbeKind::ALL {
        let Some(p) = kind.probe(c) else { continue };
        let t = rec.probes.get(kind);
        if t.on_hold || t.in_flight {
            continue;
        }
        // No liveness or startup probing once the pod terminates; readiness goes on (§4.7).
        if terminating && kind != ProbeKind::Readiness {
            continue;
        }
        // The startup probe gates the other two, and stops once it succeeded (§3.4).
        if (kind == ProbeKind::Startup) == started {
            continue;
        }
        // A probe that never ran is due at its initial delay: readiness and liveness run as
        // soon as the startup probe has succeeded (§3.4, where the kubelet triggers readiness).
        let first = since + secs(p.initial_delay_seconds);
        let due = match t.last_run_at {
            None => first,
            Some(last) => (last + secs(p.period_seconds.max(1))).max(first),
        };
        if due <= now {
            d.actions.push(Action::Probe {
                container: c.name.clone(),
                kind,
            });
        } else {
            d.wake(due);
        }
    }
}

fn secs(s: i32) -> Duration {
    seconds(s.into())
}

/// A failed postStart hook, or a published startup/liveness failure, kills the container (§1.5,
/// §2.2, §1.2 for sidecars).
fn kill_if_unhealthy(plan: &PodPlan, c: &ContainerPlan, rec: &ContainerRecord, d: &mut Decision) {
    let noun = if c.role == ContainerRole::Sidecar {
        "Init container"
    } else {
        "Container"
    };
    // A changed spec kills a running main container once its postStart returned (the kubelet's
    // pod worker is busy until then), and a sidecar only once it is started: until then its
    // startup probe decides (§1.2 reverse scan, §1.7).
    let changed = spec_changed(c, rec)
        && match c.role {
            ContainerRole::Sidecar => rec.started(c),
            _ => rec.is_up(c),
        };
    let (reason, what) = if rec.post_start == HookState::Failed {
        (KillReason::PostStartHook, None)
    } else if changed {
        (KillReason::SpecChanged, None)
    } else if c.startup_probe.is_some()
        && rec.probes.get(ProbeKind::Startup).result == ProbeResult::Failure
    {
        (KillReason::Startup, Some("startup"))
    } else if c.liveness_probe.is_some()
        && rec.probes.get(ProbeKind::Liveness).result == ProbeResult::Failure
    {
        (KillReason::Liveness, Some("liveness"))
    } else {
        return;
    };
    let message = match what {
        // The kubelet's words: computePodActions adds "will be restarted" for a main container,
        // computeInitContainerActions says nothing more for a sidecar.
        None if reason == KillReason::SpecChanged && c.role == ContainerRole::Sidecar => {
            format!("Init container {} definition changed", c.name)
        }
        None if reason == KillReason::SpecChanged => {
            format!("Container {} definition changed, will be restarted", c.name)
        }
        None => format!("FailedPostStartHook: stopping container {}", c.name),
        Some(probe) => {
            let restart = is_container_restartable(plan, c);
            let mut m = format!("{noun} {} failed {probe} probe", c.name);
            if restart {
                m.push_str(", will be restarted");
            }
            m
        }
    };
    d.actions.push(Action::Kill {
        container: c.name.clone(),
        reason,
        grace: kill_grace(plan, c, reason),
        message,
    });
}

/// §4.4: during pod termination a sidecar's turn comes once every main container and every
/// sidecar declared after it has exited.
fn sidecar_turn(plan: &PodPlan, obs: &Observed, i: usize) -> bool {
    !plan.containers.iter().any(|c| obs.get(&c.name).is_active())
        && plan.init_containers[i + 1..]
            .iter()
            .filter(|l| l.role == ContainerRole::Sidecar)
            .all(|l| !obs.get(&l.name).is_active())
}

/// The kubelet's `killContainer` (§4.2), one step at a time: preStop (bounded by the grace
/// period, which it is charged to), the sidecar's turn, the stop signal with at least
/// [`MIN_GRACE`] before SIGKILL, then SIGKILL.
fn progress_stop(
    plan: &PodPlan,
    obs: &Observed,
    i: usize,
    c: &ContainerPlan,
    now: Instant,
    d: &mut Decision,
) {
    let rec = obs.get(&c.name);
    let Some(s) = rec.stopping else { return };
    if !rec.is_running() {
        // Still being created: the stop proceeds once it runs.
        return;
    }
    let deadline = s.deadline();
    match (s.term_sent_at, s.kill_at) {
        (None, _) => {
            if c.pre_stop.is_some() && !s.grace.is_zero() {
                match rec.pre_stop {
                    HookState::NotRun => {
                        d.actions.push(Action::Hook {
                            container: c.name.clone(),
                            hook: HookKind::PreStop,
                        });
                        d.wake(deadline);
                        return;
                    }
                    HookState::Running { .. } if now < deadline => {
                        d.wake(deadline);
                        return;
                    }
                    _ => {}
                }
            }
            if matches!(
                s.reason,
                KillReason::PodTermination | KillReason::SandboxChanged
            ) && c.role == ContainerRole::Sidecar
                && now < deadline
                && !sidecar_turn(plan, obs, i)
            {
                d.wake(deadline);
                return;
            }
            let kill_at = deadline.max(now + MIN_GRACE);
            d.actions.push(Action::Signal {
                container: c.name.clone(),
                signal: StopSignal::Term,
                kill_at,
            });
            d.wake(kill_at);
        }
        (Some(_), Some(kill_at)) if !s.kill_sent => {
            if now >= kill_at {
                d.actions.push(Action::Signal {
                    container: c.name.clone(),
                    signal: StopSignal::Kill,
                    kill_at: now,
                });
            } else {
                d.wake(kill_at);
            }
        }
        _ => {}
    }
}

/// Start a container again now, or tell it to wait out its back-off.
fn restart(
    plan: &PodPlan,
    c: &ContainerPlan,
    obs: &Observed,
    now: Instant,
    d: &mut Decision,
) -> bool {
    let rec = obs.get(&c.name);
    if waits_after_a_failed_create(c, rec, now, d) {
        return false;
    }
    let finished_at = rec.exit().map_or(now, |e| e.finished_at);
    // The back-off key includes the spec hash (§2.5): the entry belongs to the spec the last
    // instance ran, so a changed spec (a new image) starts afresh (T227).
    let entry = rec.backoff.filter(|_| !spec_changed(c, rec));
    match backoff::restart_not_before(entry.as_ref(), finished_at, now) {
        Some(at) => {
            let delay = entry.map(|b| b.delay()).unwrap_or_default();
            d.actions.push(Action::Wait {
                container: c.name.clone(),
                reason: WaitingReason::CrashLoopBackOff,
                message: format!(
                    "back-off {} restarting failed container={} pod={}",
                    format_go_duration(delay),
                    c.name,
                    plan.name
                ),
            });
            d.wake(at);
            false
        }
        None => {
            d.actions.push(Action::Start {
                container: c.name.clone(),
                backoff: Some(backoff::next(entry.as_ref(), now)),
            });
            true
        }
    }
}

/// After a start that made no container (see [`crate::state::NotCreated`]): waits until its
/// retry time, showing the error, or for a failed pull, after the kubelet's next status
/// update (1 s), `ImagePullBackOff`. The spec changed since (a new image): no wait.
fn waits_after_a_failed_create(
    c: &ContainerPlan,
    rec: &crate::state::ContainerRecord,
    now: Instant,
    d: &mut Decision,
) -> bool {
    let Some(failed) = rec.not_created.as_ref() else {
        return false;
    };
    if spec_changed(c, rec) || now >= failed.retry_at() {
        return false;
    }
    let shown_for = Duration::from_secs(1);
    let pull = failed.reason == crate::runtime::StartFailure::ErrImagePull;
    let (reason, message) = if pull && now >= failed.at + shown_for {
        (
            WaitingReason::ImagePullBackOff,
            format!("Back-off pulling image {:?}", c.image),
        )
    } else {
        if pull {
            d.wake(failed.at + shown_for);
        }
        (
            WaitingReason::StartFailed(failed.reason),
            failed.message.clone(),
        )
    };
    d.actions.push(Action::Wait {
        container: c.name.clone(),
        reason,
        message,
    });
    d.wake(failed.retry_at());
    true
}

/// Go's `time.Duration` formatting for whole seconds and minutes: `10s`, `2m40s`, `5m0s`.
pub fn format_go_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Starts a container that never ran, or restarts one that exited (subject to back-off).
fn start_or_restart(
    plan: &PodPlan,
    c: &ContainerPlan,
    obs: &Observed,
    now: Instant,
    d: &mut Decision,
) -> bool {
    match obs.get(&c.name).state {
        RunState::NotCreated => {
            if waits_after_a_failed_create(c, obs.get(&c.name), now, d) {
                return false;
            }
            d.actions.push(Action::Start {
                container: c.name.clone(),
                backoff: None,
            });
            true
        }
        RunState::Exited(_) => restart(plan, c, obs, now, d),
        _ => false,
    }
}

/// What the init-container state machine decided.
struct InitDecision {
    to_start: Vec<usize>,
    initialized: bool,
    kill_pod: bool,
}

/// The kubelet's `computeInitContainerActions` (§1.2), scanning the init containers in reverse.
/// Kills for failed probes are decided by [`kill_if_unhealthy`]; here a sidecar that is being
/// killed, or not started yet, only holds back the containers after it.
fn compute_init(plan: &PodPlan, obs: &Observed) -> InitDecision {
    let inits = &plan.init_containers;
    let mut out = InitDecision {
        to_start: vec![],
        initialized: inits.is_empty() || obs.pod_has_initialized(plan),
        kill_pod: false,
    };
    let mut previously = out.initialized;
    let mut any_status = false;
    for i in (0..inits.len()).rev() {
        let c = &inits[i];
        let sidecar = c.role == ContainerRole::Sidecar;
        let rec = obs.get(&c.name);
        // No instance: never started, or purged with an old sandbox (§2.3).
        if rec.state == RunState::NotCreated {
            if previously && sidecar {
                out.to_start.push(i);
            }
            continue;
        }
        any_status = true;
        if previously && !sidecar {
            continue;
        }
        match &rec.state {
            RunState::NotCreated => {}
            // A start in flight (the kubelet's synchronous startContainer has no such state):
            // nothing after it may start yet.
            RunState::Creating { .. } => break,
            RunState::Running { .. } if !sidecar => {}
            RunState::Running { .. } => {
                if !rec.started(c) {
                    break;
                }
                if i + 1 == inits.len() {
                    out.initialized = true;
                } else if !previously {
                    out.to_start.push(i + 1);
                }
            }
            RunState::Exited(_) if sidecar => out.to_start.push(i),
            RunState::Exited(e) if e.exit_code != 0 => {
                if !container_should_restart(plan, c, e.exit_code) {
                    out.kill_pod = true;
                    return out;
                }
                out.to_start.push(i);
            }
            RunState::Exited(_) => {
                if i + 1 == inits.len() {
                    out.initialized = true;
                } else {
                    out.to_start.push(i + 1);
                }
            }
        }
        previously = true;
    }
    if !any_status && !inits.is_empty() {
        out.to_start.push(0);
    }
    out.to_start.reverse();
    out.to_start.dedup();
    out
}

fn compute_running(plan: &PodPlan, obs: &Observed, now: Instant, d: &mut Decision) {
    // A pod the node refuses never starts anything (the kubelet's admission, before its sync).
    if crate::admission::admit(plan).is_err() {
        d.actions.push(Action::Terminate {
            reason: TerminationReason::Rejected,
            grace: Duration::ZERO,
        });
        return;
    }
    // activeDeadlineSeconds (§4.1) counts from the pod's start, init time included.
    if let (Some(secs), Some(start)) = (plan.active_deadline_seconds, obs.started_at) {
        let deadline = start + seconds(secs);
        if now >= deadline {
            d.actions.push(Action::Terminate {
                reason: TerminationReason::DeadlineExceeded,
                grace: pod_grace(plan),
            });
            return;
        }
        d.wake(deadline);
    }
    if let Some(message) = obs
        .storage
        .as_ref()
        .and_then(|usage| local_storage_eviction(plan, usage))
    {
        d.actions.push(Action::Evict {
            message,
            grace: EVICTION_GRACE,
        });
        return;
    }
    // No container starts or restarts without a sandbox (§2.3).
    if !obs.sandbox.ready() {
        crate::sandbox::compute_sandbox_loss(plan, obs, pod_grace(plan), d);
        return;
    }
    // No container is created before the pod's volumes are set up (§6.7, the kubelet's
    // WaitForAttachAndMount).
    match obs.volumes {
        VolumeSetUp::Done => {}
        VolumeSetUp::Trying { .. } => return,
        VolumeSetUp::Pending { retry_at, .. } => {
            match retry_at.filter(|at| *at > now) {
                Some(at) => d.wake(at),
                None => d.actions.push(Action::SetUpVolumes),
            }
            return;
        }
    }
    // Set up, file volumes are kept current while the pod runs (§6.9).
    let resync = &obs.volume_resync;
    if plan.volumes.iter().any(|v| v.source.resyncs()) && !resync.running {
        match resync.due.filter(|at| *at > now) {
            Some(at) => d.wake(at),
            None => d.actions.push(Action::ResyncVolumes),
        }
    }
    // A container exited into a RestartAllContainers rule (§2.7): nothing restarts on its own
    // until every container is stopped and removed.
    if crate::sandbox::restart_all_trigger(plan, obs).is_some() {
        crate::sandbox::compute_restart_all(plan, obs, d);
        return;
    }
    // Ephemeral containers (§1.8): each started once, as soon as it is added, whatever
    // initialization has reached; never restarted, and no part of the pod's completion.
    for c in &plan.ephemeral_containers {
        if obs.get(&c.name).state == RunState::NotCreated {
            start_or_restart(plan, c, obs, now, d);
        }
    }
    let init = compute_init(plan, obs);
    if init.kill_pod {
        d.actions.push(Action::Terminate {
            reason: TerminationReason::InitFailed,
            grace: pod_grace(plan),
        });
        return;
    }
    for i in &init.to_start {
        if let Some(c) = plan.init_containers.get(*i) {
            start_or_restart(plan, c, obs, now, d);
        }
    }
    if !init.initialized {
        return;
    }

    // Main containers (§1.4): one at a time in spec order; the next is created only once the
    // previous one runs and its postStart hook returned.
    let mut busy = plan.containers.iter().any(|c| {
        let r = obs.get(&c.name);
        r.is_active() && !r.is_up(c)
    });
    let mut keep = false;
    for c in &plan.containers {
        let rec = obs.get(&c.name);
        match &rec.state {
            RunState::NotCreated => {
                keep = true;
                if !busy {
                    busy = start_or_restart(plan, c, obs, now, d);
                }
            }
            RunState::Creating { .. } | RunState::Running { .. } => keep = true,
            RunState::Exited(_) => {
                if will_restart_after(plan, c, rec) {
                    keep = true;
                    if !busy {
                        busy = restart(plan, c, obs, now, d);
                    }
                }
            }
        }
    }

    // Job-style completion (§2.2, §4.6): no main container runs or will run again; the
    // sidecars are stopped in reverse order and the phase comes from the main containers alone.
    if !keep && !plan.containers.is_empty() {
        d.actions.push(Action::Terminate {
            reason: TerminationReason::Completed,
            grace: pod_grace(plan),
        });
    }
}

/// Pod termination (§4.3): every running container is killed at once (preStop hooks all start
/// together); nothing restarts; the pod finishes when nothing is left running.
fn compute_termination(plan: &PodPlan, obs: &Observed, now: Instant, d: &mut Decision) {
    let Some(term) = obs.termination else { return };
    let deadline = term.deadline();
    let mut any_active = false;
    for c in plan.all_containers() {
        let rec = obs.get(&c.name);
        if !rec.is_active() {
            continue;
        }
        any_active = true;
        if rec.is_running() && rec.stopping.is_none() {
            d.actions.push(Action::Kill {
                container: c.name.clone(),
                reason: KillReason::PodTermination,
                grace: deadline.saturating_duration_since(now),
                message: format!("Stopping container {}", c.name),
            });
        }
    }
    if !any_active {
        d.actions.push(Action::Finish {
            phase: final_phase(plan, obs, term.reason),
        });
    }
}

/// The phase of a pod whose containers have all stopped (§4.6, §5.1 with `podIsTerminal`): from
/// the main containers alone; a failed init container fails the pod.
pub fn final_phase(plan: &PodPlan, obs: &Observed, reason: TerminationReason) -> PodPhase {
    if matches!(
        reason,
        TerminationReason::InitFailed
            | TerminationReason::DeadlineExceeded
            | TerminationReason::Evicted
            | TerminationReason::SandboxCreationFailed
            | TerminationReason::Rejected
    ) {
        return PodPhase::Failed;
    }
    let mut any = false;
    for c in &plan.containers {
        match obs.get(&c.name).exit() {
            Some(e) if e.exit_code == 0 => any = true,
            Some(_) => return PodPhase::Failed,
            None => {}
        }
    }
    if any {
        PodPhase::Succeeded
    } else {
        PodPhase::Failed
    }
}

/// The eviction manager's `localStorageEviction` for one pod (§4.1, §6.3), in its order: an
/// emptyDir over its `sizeLimit`, then the pod over the sum of its containers' `ephemeral-storage`
/// limits (`PodLimits`: present when any container sets one; counting every container's writable
/// layer and logs plus the disk-backed emptyDirs), then a main container over its own limit
/// (writable layer and logs). Returns the kubelet's eviction message, trailing space included.
pub fn local_storage_eviction(plan: &PodPlan, usage: &StorageUsage) -> Option<String> {
    for v in &plan.volumes {
        let VolumeSource::EmptyDir {
            size_limit_bytes: Some(limit),
            size_limit_quantity,
            ..
        } = &v.source
        else {
            continue;
        };
        let used = usage.empty_dirs.get(&v.name).copied();
        if *limit > 0 && used.is_some_and(|u| u > *limit) {
            let limit = size_limit_quantity
                .clone()
                .unwrap_or_else(|| limit.to_string());
            return Some(format!(
                "Usage of EmptyDir volume {:?} exceeds the limit {limit:?}. ",
                v.name
            ));
        }
    }
    if let Some(limit) = crate::resources::pod_limits(plan).ephemeral_storage_bytes {
        let total: u64 = usage
            .containers
            .values()
            .chain(usage.empty_dirs.values())
            .fold(0u64, |a, b| a.saturating_add(*b));
        if total > limit {
            // The sum keeps the format of the first limit it adds, as apimachinery's does.
            let like = plan
                .containers
                .iter()
                .chain(&plan.init_containers)
                .find_map(|c| c.resources.limits.ephemeral_storage_quantity.clone())
                .unwrap_or_default();
            return Some(format!(
                "Pod ephemeral local storage usage exceeds the total limit of containers {}. ",
                tandem_api::quantity::canonical_bytes_like(limit, &like)
            ));
        }
    }
    for c in &plan.containers {
        let limits = &c.resources.limits;
        let Some(limit) = limits.ephemeral_storage_bytes.filter(|l| *l > 0) else {
            continue;
        };
        if usage.containers.get(&c.name).is_some_and(|u| *u > limit) {
            let limit = limits
                .ephemeral_storage_quantity
                .clone()
                .unwrap_or_else(|| limit.to_string());
            return Some(format!(
                "Container {} exceeded its local ephemeral storage limit {limit:?}. ",
                c.name
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_api::plan::{VolumePlan, VolumeSource};

    /// The eviction manager's edges: an emptyDir is over its `sizeLimit` only when it uses more
    /// than it, and a `sizeLimit` of zero is no limit (its `Sign() == 1` check).
    #[test]
    fn an_empty_dir_is_evicted_only_over_a_positive_size_limit() {
        let mut plan = PodPlan::new(
            "p",
            vec![],
            vec![ContainerPlan::new("app", ContainerRole::Main, "busybox")],
        );
        let volume = |limit| VolumePlan {
            name: "cache".into(),
            source: VolumeSource::EmptyDir {
                memory: false,
                size_limit_bytes: Some(limit),
                size_limit_quantity: None,
            },
        };
        let using = |bytes| StorageUsage {
            empty_dirs: [("cache".to_string(), bytes)].into(),
            ..Default::default()
        };
        plan.volumes = vec![volume(1024)];
        assert_eq!(
            local_storage_eviction(&plan, &using(1024)),
            None,
            "at the limit"
        );
        assert!(local_storage_eviction(&plan, &using(1025)).is_some());
        plan.volumes = vec![volume(0)];
        assert_eq!(local_storage_eviction(&plan, &using(1 << 30)), None);
    }
}
