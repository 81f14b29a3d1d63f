//! Pod status as the kubelet reports it: phase (§5.1), conditions (§5.2), container statuses
//! (§5.3), and the READY / STATUS / RESTARTS columns kubectl prints (§5.4).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
    ContainerStatus, ContainerUser, LinuxContainerUser, Pod, PodCondition, PodStatus,
    ResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use tandem_api::plan::{ContainerPlan, ContainerRole, PodPlan};
use tokio::time::Instant;

use crate::action::PodPhase;
use crate::rules::{all_containers_could_restart, will_restart_after};
use crate::sandbox::{RESTART_ALL_STARTED_MESSAGE, RESTART_ALL_STARTED_REASON};
use crate::state::{ContainerRecord, Exit, Observed, RunState, RESTARTING_ALL_REASON};

/// Maps the engine's monotonic instants to wall-clock time for the API objects.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub origin: Instant,
    /// Microseconds since the Unix epoch at `origin`.
    pub origin_wall_us: i64,
}

impl Clock {
    pub fn now_real() -> Self {
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        Clock {
            origin: Instant::now(),
            origin_wall_us: wall,
        }
    }

    pub fn wall_us(&self, at: Instant) -> i64 {
        if at >= self.origin {
            self.origin_wall_us + (at - self.origin).as_micros() as i64
        } else {
            self.origin_wall_us - (self.origin - at).as_micros() as i64
        }
    }

    pub fn time(&self, at: Instant) -> Time {
        Time(Timestamp::from_microsecond(self.wall_us(at)).unwrap_or(Timestamp::UNIX_EPOCH))
    }
}

/// Facts about the pod that are not container states.
#[derive(Debug, Clone, Default)]
pub struct PodFacts {
    pub sandbox_ready: bool,
    pub pod_ip: Option<String>,
    /// Every pod address (IPv4 first); `pod_ip` is the first.
    pub pod_ips: Vec<String>,
    pub host_ip: Option<String>,
    pub started_at: Option<Instant>,
    /// Set once the pod has ended; a pod never leaves a terminal phase.
    pub finished: Option<PodPhase>,
    /// Conditions set by something other than the kubelet, which readiness gates (§5.2) read:
    /// those `tandem patch pod NAME --subresource=status` sets ([`crate::driver::Control`]).
    /// They are reported first, as the kubelet keeps them.
    pub external_conditions: Vec<PodCondition>,
}

/// The pod's `reason` and `message` when the kubelet failed it itself (activeDeadlineSeconds,
/// eviction): such a pod is Failed from that moment, before its containers have stopped.
fn failed_by_kubelet(obs: &Observed) -> Option<(&'static str, String)> {
    use crate::state::TerminationReason;
    match obs.termination?.reason {
        TerminationReason::DeadlineExceeded => Some((
            "DeadlineExceeded",
            crate::state::DEADLINE_MESSAGE.to_string(),
        )),
        TerminationReason::Evicted => Some(("Evicted", obs.eviction.clone().unwrap_or_default())),
        TerminationReason::SandboxCreationFailed => {
            let why = match &obs.sandbox.state {
                crate::state::SandboxState::Failed(m) => m.as_str(),
                _ => "unknown error",
            };
            Some((
                "FailedCreatePodSandBox",
                format!("Failed to create pod sandbox: {why}"),
            ))
        }
        _ => None,
    }
}

/// `getPhase` (§5.1) over the engine's records.
pub fn phase(plan: &PodPlan, obs: &Observed, facts: &PodFacts) -> PodPhase {
    if let Some(p) = facts.finished {
        return p;
    }
    // A pod past its activeDeadlineSeconds, or evicted, is Failed at once, as the kubelet's
    // eviction handlers set it.
    if failed_by_kubelet(obs).is_some() {
        return PodPhase::Failed;
    }
    let initialized = obs.pod_has_initialized(plan);
    let (mut pending_init, mut failed_init_not_restartable, mut pending_sidecar) = (0, 0, 0);
    let (mut running, mut stopped, mut succeeded, mut waiting) = (0, 0, 0, 0);
    let mut stopped_not_restartable = 0;
    // Whether the engine will start this exited container again: by its policy and exit code,
    // or whatever they say when the kubelet itself killed it to restart it (a changed spec, a
    // new sandbox, a probe kill of a restartable container) or removed it to restart every
    // container (§2.7). The phase must agree with the engine, or it would flip to
    // Failed/Succeeded and back, which a pod never does (§5.1).
    let restarts = |c: &ContainerPlan, e: &Exit| {
        e.reason == RESTARTING_ALL_REASON || will_restart_after(plan, c, obs.get(&c.name))
    };
    for c in &plan.init_containers {
        let r = obs.get(&c.name);
        match (c.role, &r.state) {
            (ContainerRole::Sidecar, RunState::Running { .. }) if r.is_up(c) => {
                running += 1;
                if !r.started(c) {
                    pending_sidecar += 1;
                }
            }
            (ContainerRole::Sidecar, RunState::Exited(_)) => {}
            (ContainerRole::Sidecar, _) => pending_sidecar += 1,
            (_, RunState::Exited(e)) if e.exit_code != 0 => {
                if !restarts(c, e) {
                    failed_init_not_restartable += 1;
                }
            }
            (_, RunState::Exited(_)) => {}
            _ => pending_init += 1,
        }
    }
    for c in &plan.containers {
        let r = obs.get(&c.name);
        match &r.state {
            RunState::Running { .. } if r.is_up(c) => running += 1,
            RunState::Exited(e) => {
                stopped += 1;
                if e.exit_code == 0 {
                    succeeded += 1;
                }
                if !restarts(c, e) {
                    stopped_not_restartable += 1;
                }
            }
            // A new instance on its way up after an exit: stopped, as the kubelet counts a
            // waiting container with a last termination, but restarting by definition.
            _ if r.last_exit.is_some() => stopped += 1,
            _ => waiting += 1,
        }
    }
    // KEP-5307 (§5.1): a failed regular init container fails the pod only if it will not be
    // restarted; under the pod's Never that is every failed one.
    if failed_init_not_restartable > 0 {
        return PodPhase::Failed;
    }
    if pending_init > 0 || (pending_sidecar > 0 && !initialized) || waiting > 0 {
        return PodPhase::Pending;
    }
    if running > 0 {
        return PodPhase::Running;
    }
    // With per-container restart policies (§5.1, KEP-5307) the pod keeps Running while any
    // stopped main container will be restarted; this agrees with the pod-policy table when no
    // container sets its own.
    if stopped > 0 {
        return if stopped != stopped_not_restartable {
            PodPhase::Running
        } else if stopped == succeeded {
            PodPhase::Succeeded
        } else {
            PodPhase::Failed
        };
    }
    PodPhase::Pending
}

fn terminated(clock: &Clock, e: &Exit) -> ContainerStateTerminated {
    // The kubelet writes the state of a container removed for RestartAllContainers without
    // times: no runtime status is left to take them from (§2.7).
    let removed = e.reason == RESTARTING_ALL_REASON;
    ContainerStateTerminated {
        exit_code: e.exit_code,
        signal: e.signal,
        reason: Some(e.reason.clone()),
        message: e.message.clone(),
        started_at: e.started_at.filter(|_| !removed).map(|t| clock.time(t)),
        finished_at: (!removed).then(|| clock.time(e.finished_at)),
        container_id: None,
    }
}

fn default_waiting_reason(plan: &PodPlan) -> &'static str {
    if plan.init_containers.is_empty() {
        "ContainerCreating"
    } else {
        "PodInitializing"
    }
}

fn container_status(
    plan: &PodPlan,
    c: &ContainerPlan,
    r: &ContainerRecord,
    clock: &Clock,
) -> ContainerStatus {
    let waiting = |reason: &str, message: Option<String>| ContainerState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message,
        }),
        ..Default::default()
    };
    let mut last = r.last_exit.as_ref().map(|e| ContainerState {
        terminated: Some(terminated(clock, e)),
        ..Default::default()
    });
    let up = r.is_up(c);
    let state = match &r.state {
        // Until postStart returned the kubelet still reports the container as being created.
        RunState::Running { .. } if !up => waiting(default_waiting_reason(plan), None),
        RunState::NotCreated | RunState::Creating { .. } => match &r.waiting {
            Some((reason, msg)) => waiting(&reason.to_string(), Some(msg.clone())),
            None => waiting(default_waiting_reason(plan), None),
        },
        RunState::Running { since } => ContainerState {
            running: Some(ContainerStateRunning {
                started_at: Some(clock.time(*since)),
            }),
            ..Default::default()
        },
        // A container waiting to restart shows Waiting, its last run moves to lastState. One that
        // will not restart stays Terminated whatever its start error was, as the kubelet shows
        // its reason cache only for containers it will start again.
        RunState::Exited(e) => match r
            .waiting
            .as_ref()
            .filter(|_| will_restart_after(plan, c, r))
        {
            Some((reason, msg)) => {
                last = Some(ContainerState {
                    terminated: Some(terminated(clock, e)),
                    ..Default::default()
                });
                waiting(&reason.to_string(), Some(msg.clone()))
            }
            None => ContainerState {
                terminated: Some(terminated(clock, e)),
                ..Default::default()
            },
        },
    };
    let ready = r.ready(c);
    ContainerStatus {
        name: c.name.clone(),
        // The image of the instance the status describes (the runtime's view, as the kubelet
        // reports it); the spec's until one was created (§1.7).
        image: r.image.clone().unwrap_or_else(|| c.image.clone()),
        // The instance's ids as the runtime gave them, once it made one (KEP-less: the
        // kubelet copies the CRI's `id` and `image_ref`).
        image_id: r
            .started
            .as_ref()
            .map(|s| s.image_id.clone())
            .unwrap_or_default(),
        container_id: r.started.as_ref().map(|s| s.container_id.clone()),
        ready,
        restart_count: r.restart_count() as i32,
        started: Some(match c.role {
            ContainerRole::Init => up,
            _ => r.started(c),
        }),
        state: Some(state),
        // Always written, empty until a run ended, as the kubelet writes it (`lastState: {}`).
        last_state: Some(last.unwrap_or_default()),
        // What the kubelet allocated the container and what it runs with (KEP-1287, on by
        // default since 1.33): its requests, and its requests and limits, as quantities.
        allocated_resources: quantities(&c.resources.requests),
        resources: Some(ResourceRequirements {
            requests: quantities(&c.resources.requests),
            limits: quantities(&c.resources.limits),
            ..Default::default()
        })
        .filter(|r| r.requests.is_some() || r.limits.is_some()),
        // KEP-3619: the identity the runtime gave the instance, once it exists.
        user: r
            .user
            .as_ref()
            .filter(|_| !matches!(r.state, RunState::NotCreated))
            .map(|u| ContainerUser {
                linux: Some(LinuxContainerUser {
                    uid: i64::from(u.uid),
                    gid: i64::from(u.gid),
                    supplemental_groups: Some(
                        u.supplemental_groups
                            .iter()
                            .map(|g| i64::from(*g))
                            .collect(),
                    ),
                }),
            }),
        ..Default::default()
    }
}

/// cpu, memory and ephemeral-storage as the kubelet writes them back: millicores (`250m`, `1`)
/// and bytes in binary units (`64Mi`); `None` when the list is empty.
fn quantities(list: &tandem_api::plan::ResourceList) -> Option<BTreeMap<String, Quantity>> {
    let cpu = |m: u64| match m % 1000 {
        0 => (m / 1000).to_string(),
        _ => format!("{m}m"),
    };
    let bytes = |b: u64| tandem_api::quantity::canonical_bytes_like(b, "Mi");
    let out: BTreeMap<String, Quantity> = [
        ("cpu", list.cpu_millis.map(cpu)),
        ("memory", list.memory_bytes.map(bytes)),
        ("ephemeral-storage", list.ephemeral_storage_bytes.map(bytes)),
    ]
    .into_iter()
    .filter_map(|(name, q)| Some((name.to_string(), Quantity(q?))))
    .collect();
    (!out.is_empty()).then_some(out)
}

fn condition(
    kind: &str,
    ok: bool,
    reason: Option<String>,
    message: Option<String>,
) -> PodCondition {
    PodCondition {
        type_: kind.to_string(),
        status: if ok { "True" } else { "False" }.to_string(),
        reason: if ok { None } else { reason },
        message: if ok { None } else { message },
        ..Default::default()
    }
}

/// Ready (§5.2): ContainersReady when that is not True; then False with reason
/// `ReadinessGatesNotReady` while the condition of any readiness gate is missing or not True.
fn ready_condition(
    plan: &PodPlan,
    facts: &PodFacts,
    containers_ready: bool,
    reason: &str,
    message: Option<String>,
) -> PodCondition {
    if !containers_ready {
        return condition("Ready", false, Some(reason.into()), message);
    }
    let unready: Vec<String> = plan
        .readiness_gates
        .iter()
        .filter_map(
            |gate| match facts.external_conditions.iter().find(|c| &c.type_ == gate) {
                None => Some(format!(
                    "corresponding condition of pod readiness gate {gate:?} does not exist."
                )),
                Some(c) if c.status != "True" => Some(format!(
                    "the status of pod readiness gate {gate:?} is not \"True\", but {}",
                    c.status
                )),
                Some(_) => None,
            },
        )
        .collect();
    condition(
        "Ready",
        unready.is_empty(),
        Some("ReadinessGatesNotReady".into()),
        Some(unready.join(", ")),
    )
}

/// `AllContainersRestarting` (§2.7, §5.2), for a pod with a `RestartAllContainers` rule only:
/// True from the exit that asked for it until every container is removed; False otherwise,
/// with reason PodCompleted or PodFailed once the pod has ended.
fn all_containers_restarting(
    plan: &PodPlan,
    obs: &Observed,
    phase: PodPhase,
) -> Option<PodCondition> {
    if !all_containers_could_restart(plan) {
        return None;
    }
    let (status, reason, message) = match phase {
        PodPhase::Succeeded => ("False", Some("PodCompleted"), None),
        PodPhase::Failed => ("False", Some("PodFailed"), None),
        _ if crate::sandbox::restart_all_trigger(plan, obs).is_some() => (
            "True",
            Some(RESTART_ALL_STARTED_REASON),
            Some(RESTART_ALL_STARTED_MESSAGE),
        ),
        _ => ("False", None, None),
    };
    Some(PodCondition {
        type_: "AllContainersRestarting".into(),
        status: status.into(),
        reason: reason.map(Into::into),
        message: message.map(Into::into),
        ..Default::default()
    })
}

/// The v1 PodStatus of the pod now. Transition times are filled by the caller, which knows the
/// previous status.
pub fn pod_status(plan: &PodPlan, obs: &Observed, facts: &PodFacts, clock: &Clock) -> PodStatus {
    // A pod refused at admission never got further: the kubelet's `rejectPod` writes its phase,
    // reason, message and QoS class only (so `kubectl get` shows the reason).
    if let Some(r) = crate::admission::admit(plan).err() {
        return PodStatus {
            phase: Some(PodPhase::Failed.as_str().into()),
            reason: Some(r.reason.as_str().into()),
            message: Some(r.status_message()),
            qos_class: Some(qos_class(plan).into()),
            ..Default::default()
        };
    }
    let phase = phase(plan, obs, facts);
    let statuses = |cs: &[ContainerPlan]| -> Vec<ContainerStatus> {
        cs.iter()
            .map(|c| container_status(plan, c, obs.get(&c.name), clock))
            .collect()
    };
    let init_statuses = statuses(&plan.init_containers);
    let main_statuses = statuses(&plan.containers);
    // Never ready: readiness is the regular containers' (the kubelet's probe manager sets it
    // for those only).
    let ephemeral_statuses: Vec<ContainerStatus> = statuses(&plan.ephemeral_containers)
        .into_iter()
        .map(|s| ContainerStatus { ready: false, ..s })
        .collect();

    let incomplete: Vec<&str> = plan
        .init_containers
        .iter()
        .zip(&init_statuses)
        .filter(|(c, s)| {
            if c.role == ContainerRole::Sidecar {
                s.started != Some(true)
            } else {
                !s.ready
            }
        })
        .map(|(c, _)| c.name.as_str())
        .collect();
    let initialized =
        obs.any_main_created(plan) || incomplete.is_empty() || phase == PodPhase::Succeeded;
    let unready: Vec<&str> = plan
        .sized_containers()
        .zip(init_statuses.iter().chain(&main_statuses))
        .filter(|(c, s)| c.role != ContainerRole::Init && !s.ready)
        .map(|(c, _)| c.name.as_str())
        .collect();
    let (cr_ok, cr_reason, cr_msg) = match phase {
        PodPhase::Succeeded => (false, "PodCompleted", None),
        PodPhase::Failed => (false, "PodFailed", None),
        _ if !unready.is_empty() => (
            false,
            "ContainersNotReady",
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        ),
        _ => (true, "", None),
    };
    let conditions = vec![
        condition(
            "PodReadyToStartContainers",
            facts.sandbox_ready && obs.sandbox.ready() && facts.finished.is_none(),
            None,
            None,
        ),
        condition(
            "Initialized",
            initialized,
            Some("ContainersNotInitialized".into()),
            Some(format!(
                "containers with incomplete status: [{}]",
                incomplete.join(" ")
            )),
        ),
        ready_condition(plan, facts, cr_ok, cr_reason, cr_msg.clone()),
        condition("ContainersReady", cr_ok, Some(cr_reason.into()), cr_msg),
        condition("PodScheduled", true, None, None),
    ];
    let conditions = conditions
        .into_iter()
        .chain(all_containers_restarting(plan, obs, phase))
        .collect::<Vec<_>>();
    let conditions: Vec<PodCondition> = facts
        .external_conditions
        .iter()
        .cloned()
        .chain(conditions)
        .collect();
    let (reason, message) = match failed_by_kubelet(obs) {
        Some((reason, message)) => (Some(reason.to_string()), Some(message)),
        None => (None, None),
    };
    PodStatus {
        reason,
        message,
        phase: Some(phase.as_str().to_string()),
        conditions: Some(conditions),
        host_ip: facts.host_ip.clone(),
        pod_ip: facts.pod_ip.clone(),
        pod_ips: (!facts.pod_ips.is_empty()).then(|| {
            facts
                .pod_ips
                .iter()
                .map(|ip| k8s_openapi::api::core::v1::PodIP { ip: ip.clone() })
                .collect()
        }),
        host_ips: facts
            .host_ip
            .as_ref()
            .map(|ip| vec![k8s_openapi::api::core::v1::HostIP { ip: ip.clone() }]),
        start_time: facts.started_at.map(|t| clock.time(t)),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(main_statuses),
        ephemeral_container_statuses: (!ephemeral_statuses.is_empty())
            .then_some(ephemeral_statuses),
        qos_class: Some(qos_class(plan).into()),
        ..Default::default()
    }
}

/// The pod's QoS class as the kubelet computes it (`GetPodQOS`), over every container — init
/// containers and sidecars included — and CPU and memory only. A request left out defaults to the
/// limit, as the API server defaults it. BestEffort: no container requests or limits anything;
/// Guaranteed: every container has CPU and memory limits equal to its requests; else Burstable.
/// With pod-level resources (`spec.resources`) only those count, as one "container".
pub fn qos_class(plan: &PodPlan) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    // With pod-level resources (KEP-2837) they alone decide the class.
    let pod_level = plan
        .resources
        .iter()
        .filter(|r| {
            [
                r.requests.cpu_millis,
                r.requests.memory_bytes,
                r.limits.cpu_millis,
                r.limits.memory_bytes,
            ]
            .iter()
            .any(Option::is_some)
        })
        .collect::<Vec<_>>();
    let container_level = plan
        .sized_containers()
        .map(|c| &c.resources)
        .collect::<Vec<_>>();
    let considered = if pod_level.is_empty() {
        container_level
    } else {
        pod_level
    };
    for r in considered {
        let nonzero = |v: Option<u64>| v.filter(|v| *v > 0);
        let (lim_cpu, lim_mem) = (nonzero(r.limits.cpu_millis), nonzero(r.limits.memory_bytes));
        let req_cpu = nonzero(r.requests.cpu_millis).or(lim_cpu);
        let req_mem = nonzero(r.requests.memory_bytes).or(lim_mem);
        any |= [lim_cpu, lim_mem, req_cpu, req_mem]
            .iter()
            .any(Option::is_some);
        guaranteed &=
            lim_cpu.is_some() && lim_mem.is_some() && req_cpu == lim_cpu && req_mem == lim_mem;
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

/// Whether a main container that is not running will run again.
pub fn will_restart(plan: &PodPlan, c: &ContainerPlan, r: &ContainerRecord) -> bool {
    will_restart_after(plan, c, r)
}

/// The READY, STATUS and RESTARTS columns of `kubectl get pods` for a Pod object (§5.4).
/// `now_us` is the current time in microseconds since the Unix epoch (for "(5m ago)").
pub fn kubectl_columns(pod: &Pod, now_us: i64) -> (String, String, String) {
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let init_specs = spec.init_containers.unwrap_or_default();
    // A status is matched to its spec by name: one naming no sidecar counts as none.
    let sidecar_names: Vec<&str> = init_specs
        .iter()
        .filter(|c| c.restart_policy.as_deref() == Some("Always"))
        .map(|c| c.name.as_str())
        .collect();
    let is_sidecar = |s: &ContainerStatus| sidecar_names.contains(&s.name.as_str());
    let sidecars = sidecar_names.len();
    let total = spec.containers.len() + sidecars;
    let phase = status.phase.clone().unwrap_or_default();
    let mut reason = status
        .reason
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| phase.clone());
    // A pod held back by a scheduling gate (KEP-3521) says so.
    let gated = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "PodScheduled" && c.reason.as_deref() == Some("SchedulingGated"));
    if gated {
        reason = "SchedulingGated".into();
    }
    let (mut restarts, mut sidecar_restarts, mut ready) = (0, 0, 0);
    // The latest restart: over every container while initializing, over the sidecars and the
    // main containers once initialized (as the count is).
    let (mut last_restart, mut last_sidecar_restart): (Option<Timestamp>, Option<Timestamp>) =
        (None, None);
    let later = |last: &mut Option<Timestamp>, s: &ContainerStatus| {
        let finished = s
            .last_state
            .as_ref()
            .and_then(|l| l.terminated.as_ref())
            .and_then(|t| t.finished_at.as_ref());
        if let Some(t) = finished {
            if last.is_none_or(|l| t.0 > l) {
                *last = Some(t.0);
            }
        }
    };
    let mut initializing = false;
    let init_statuses = status.init_container_statuses.clone().unwrap_or_default();
    for (i, s) in init_statuses.iter().enumerate() {
        restarts += s.restart_count;
        later(&mut last_restart, s);
        if is_sidecar(s) {
            sidecar_restarts += s.restart_count;
            later(&mut last_sidecar_restart, s);
        }
        let st = s.state.clone().unwrap_or_default();
        if st.terminated.as_ref().is_some_and(|t| t.exit_code == 0) {
            continue;
        }
        if is_sidecar(s) && s.started == Some(true) {
            if s.ready {
                ready += 1;
            }
            continue;
        }
        reason = if let Some(t) = &st.terminated {
            match (&t.reason, t.signal) {
                (Some(r), _) if !r.is_empty() => format!("Init:{r}"),
                (_, Some(sig)) if sig != 0 => format!("Init:Signal:{sig}"),
                _ => format!("Init:ExitCode:{}", t.exit_code),
            }
        } else if let Some(r) = st
            .waiting
            .as_ref()
            .and_then(|w| w.reason.clone())
            .filter(|r| !r.is_empty() && r != "PodInitializing")
        {
            format!("Init:{r}")
        } else {
            format!("Init:{}/{}", i, init_specs.len())
        };
        initializing = true;
        break;
    }
    let initialized_cond = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Initialized" && c.status == "True");
    let ready_cond = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    if !initializing || initialized_cond {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for s in status.container_statuses.iter().flatten().rev() {
            restarts += s.restart_count;
            later(&mut last_restart, s);
            let st = s.state.clone().unwrap_or_default();
            if let Some(r) = st
                .waiting
                .as_ref()
                .and_then(|w| w.reason.clone())
                .filter(|r| !r.is_empty())
            {
                reason = r;
            } else if let Some(t) = &st.terminated {
                reason = match (&t.reason, t.signal) {
                    (Some(r), _) if !r.is_empty() => r.clone(),
                    (_, Some(sig)) if sig != 0 => format!("Signal:{sig}"),
                    _ => format!("ExitCode:{}", t.exit_code),
                };
            } else if s.ready && st.running.is_some() {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if ready_cond {
                "Running".into()
            } else {
                "NotReady".into()
            };
        }
    }
    // Deleted: Terminating until the pod has ended (a finished pod keeps its last word), or
    // Unknown when its node is unreachable.
    if pod.metadata.deletion_timestamp.is_some() {
        if status.reason.as_deref() == Some("NodeLost") {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    let restarts_col = match last_restart {
        Some(t) if restarts > 0 => {
            let ago = (now_us - t.as_microsecond()).max(0) / 1_000_000;
            format!("{restarts} ({} ago)", human_duration(ago as u64))
        }
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason, restarts_col)
}

/// kubectl's age format (apimachinery's `duration.HumanDuration`): `45s`, `3m12s` (`5m` on the
/// minute), `42m`, `5h3m` (`5h`), `20h`, `3d4h` (`3d`), `90d`, `2y3d` (`2y`), `10y`.
pub fn human_duration(secs: u64) -> String {
    let (minutes, hours) = (secs / 60, secs / 3600);
    let pair = |a: u64, unit_a: &str, b: u64, unit_b: &str| {
        if b == 0 {
            format!("{a}{unit_a}")
        } else {
            format!("{a}{unit_a}{b}{unit_b}")
        }
    };
    match secs {
        s if s < 120 => format!("{s}s"),
        s if minutes < 10 => pair(minutes, "m", s % 60, "s"),
        _ if minutes < 3 * 60 => format!("{minutes}m"),
        _ if hours < 8 => pair(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => pair(hours / 24, "d", hours % 24, "h"),
        _ if hours < 24 * 365 * 2 => format!("{}d", hours / 24),
        _ if hours < 24 * 365 * 8 => pair(hours / 24 / 365, "y", (hours / 24) % 365, "d"),
        _ => format!("{}y", hours / 24 / 365),
    }
}
