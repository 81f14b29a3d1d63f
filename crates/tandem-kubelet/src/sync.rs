//! The decision function: given the plan, what has been observed and the time, what to do next.
//!
//! This is the kubelet's `computePodActions` / `computeInitContainerActions` for one pod, written
//! as a pure function so every rule can be pinned by a table test. References in comments point at
//! the sections of the kubelet semantics this project conforms to.

use std::time::Duration;

use tandem_api::plan::{ContainerPlan, ContainerRole, PodPlan, RestartPolicy};
use tokio::time::Instant;

use crate::backoff::{self, Backoff};
use crate::state::{Observed, RunState, TerminationReason};

/// The kubelet never gives a container less than this between SIGTERM and SIGKILL (§4.2).
pub const MIN_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    Term,
    Kill,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// One thing the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create and start a new instance; `backoff` is the entry to record for this restart.
    Start { container: String, backoff: Option<Backoff> },
    /// The container must wait before it restarts.
    Wait { container: String, reason: String, message: String },
    /// Send a stop signal; for `Term`, SIGKILL follows at `kill_at`.
    Signal { container: String, signal: StopSignal, kill_at: Instant },
    /// Begin tearing the pod down.
    Terminate { reason: TerminationReason, grace: Duration },
    /// Nothing runs and nothing will: the pod has ended with this phase.
    Finish { phase: PodPhase },
}

/// What [`compute_actions`] decided, and when it wants to be asked again at the latest.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub actions: Vec<Action>,
    pub wake_at: Option<Instant>,
}

impl Decision {
    fn wake(&mut self, at: Instant) {
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }
}

/// Whether a container that exited with `exit_code` is started again (§2.1). Sidecars always are.
pub fn should_restart(policy: RestartPolicy, role: ContainerRole, exit_code: i32) -> bool {
    match role {
        ContainerRole::Sidecar => true,
        ContainerRole::Init | ContainerRole::Main => match policy {
            RestartPolicy::Always => role == ContainerRole::Main || exit_code != 0,
            RestartPolicy::OnFailure => exit_code != 0,
            RestartPolicy::Never => false,
        },
    }
}

pub fn compute_actions(plan: &PodPlan, obs: &Observed, now: Instant) -> Decision {
    let mut d = Decision::default();
    if obs.termination.is_some() {
        compute_termination(plan, obs, now, &mut d);
    } else {
        compute_running(plan, obs, now, &mut d);
    }
    d
}

/// Start a container again now, or tell it to wait out its back-off.
fn restart(plan: &PodPlan, c: &ContainerPlan, obs: &Observed, now: Instant, d: &mut Decision) -> bool {
    let rec = obs.get(&c.name);
    let finished_at = rec.exit().map_or(now, |e| e.finished_at);
    match backoff::restart_not_before(rec.backoff.as_ref(), finished_at, now) {
        Some(at) => {
            let delay = rec.backoff.map(|b| b.delay()).unwrap_or_default();
            d.actions.push(Action::Wait {
                container: c.name.clone(),
                reason: "CrashLoopBackOff".into(),
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
                backoff: Some(backoff::next(rec.backoff.as_ref(), now)),
            });
            true
        }
    }
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

fn compute_running(plan: &PodPlan, obs: &Observed, now: Instant, d: &mut Decision) {
    let initialized_before = obs.pod_has_initialized(plan);
    let mut init_done = true;

    // Init containers and sidecars (§1.2). Before the pod has initialized they go strictly one at
    // a time; afterwards completed init containers never run again and sidecars restart alone.
    for c in &plan.init_containers {
        let rec = obs.get(&c.name);
        if initialized_before {
            if c.role == ContainerRole::Sidecar {
                match &rec.state {
                    RunState::NotCreated => d.actions.push(Action::Start { container: c.name.clone(), backoff: None }),
                    RunState::Exited(_) => {
                        restart(plan, c, obs, now, d);
                    }
                    _ => {}
                }
            }
            continue;
        }
        let proceed = match (&rec.state, c.role) {
            (RunState::NotCreated, _) => {
                d.actions.push(Action::Start { container: c.name.clone(), backoff: None });
                false
            }
            (RunState::Creating { .. }, _) => false,
            (RunState::Running { .. }, ContainerRole::Sidecar) => rec.started,
            (RunState::Running { .. }, _) => false,
            (RunState::Exited(_), ContainerRole::Sidecar) => {
                restart(plan, c, obs, now, d);
                false
            }
            (RunState::Exited(e), _) if e.exit_code == 0 => true,
            (RunState::Exited(e), role) => {
                if should_restart(plan.restart_policy, role, e.exit_code) {
                    restart(plan, c, obs, now, d);
                } else {
                    d.actions.push(Action::Terminate {
                        reason: TerminationReason::InitFailed,
                        grace: Duration::from_secs(plan.termination_grace_period_seconds.max(0) as u64),
                    });
                    return;
                }
                false
            }
        };
        if !proceed {
            init_done = false;
            break;
        }
    }
    if !init_done {
        return;
    }

    // Main containers (§1.4): one at a time in spec order; the next is created only once the
    // previous one runs (its postStart returned).
    if plan.containers.iter().any(|c| matches!(obs.get(&c.name).state, RunState::Creating { .. })) {
        return;
    }
    let mut all_done = true;
    for c in &plan.containers {
        let rec = obs.get(&c.name);
        match &rec.state {
            RunState::NotCreated => {
                d.actions.push(Action::Start { container: c.name.clone(), backoff: None });
                return;
            }
            RunState::Creating { .. } => return,
            RunState::Running { .. } => all_done = false,
            RunState::Exited(e) => {
                if should_restart(plan.restart_policy, c.role, e.exit_code) {
                    all_done = false;
                    if restart(plan, c, obs, now, d) {
                        return;
                    }
                }
            }
        }
    }

    // Job-style completion (§4.6): every main container is done and none restarts; the sidecars
    // are stopped in reverse order and the phase comes from the main containers alone.
    if all_done && !plan.containers.is_empty() {
        d.actions.push(Action::Terminate {
            reason: TerminationReason::Completed,
            grace: Duration::from_secs(plan.termination_grace_period_seconds.max(0) as u64),
        });
    }
}

fn compute_termination(plan: &PodPlan, obs: &Observed, now: Instant, d: &mut Decision) {
    let Some(term) = obs.termination else { return };
    let deadline = term.deadline();
    let kill_at = deadline.max(now + MIN_GRACE);

    let mut any_active = false;
    let mains_active = plan.containers.iter().any(|c| obs.get(&c.name).is_active());
    for (i, c) in plan.all_containers().enumerate() {
        let rec = obs.get(&c.name);
        match (&rec.state, rec.stopping) {
            (RunState::Creating { .. }, _) => any_active = true,
            (RunState::Running { .. }, None) => {
                any_active = true;
                // §4.4: a sidecar's turn comes once every main container and every sidecar
                // declared after it has exited, or when the grace budget is spent.
                let turn = c.role != ContainerRole::Sidecar
                    || now >= deadline
                    || (!mains_active
                        && plan.init_containers[i + 1..]
                            .iter()
                            .filter(|l| l.role == ContainerRole::Sidecar)
                            .all(|l| !obs.get(&l.name).is_active()));
                if turn {
                    d.actions.push(Action::Signal { container: c.name.clone(), signal: StopSignal::Term, kill_at });
                    d.wake(kill_at);
                } else {
                    d.wake(deadline);
                }
            }
            (RunState::Running { .. }, Some(s)) => {
                any_active = true;
                if !s.kill_sent {
                    if now >= s.kill_at {
                        d.actions.push(Action::Signal { container: c.name.clone(), signal: StopSignal::Kill, kill_at: now });
                    } else {
                        d.wake(s.kill_at);
                    }
                }
            }
            _ => {}
        }
    }
    if !any_active {
        d.actions.push(Action::Finish { phase: final_phase(plan, obs, term.reason) });
    }
}

/// The phase of a pod whose containers have all stopped (§4.6, §5.1 with `podIsTerminal`): from
/// the main containers alone; a failed init container fails the pod.
pub fn final_phase(plan: &PodPlan, obs: &Observed, reason: TerminationReason) -> PodPhase {
    if reason == TerminationReason::InitFailed {
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
