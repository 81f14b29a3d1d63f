//! The thin async loop around [`compute_actions`]: observations in, actions out.
//!
//! Runs on a single-threaded tokio runtime inside a `LocalSet` (the supervisor never creates
//! containers from more than one thread). Each turn: ask the engine, carry out its actions, publish
//! the status, then sleep until a runtime event, a control request or the engine's wake-up time.

use std::rc::Rc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
use tandem_api::plan::{ContainerPlan, PodPlan};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::events::{EventDetails, EventReason, EventType, ForcedSignal, PodEvent};
use tandem_api::plan::{Handler, PortAction};

use crate::action::{Action, PodPhase};
use crate::admission::RejectReason;
use crate::backoff::Backoff;
use crate::probe::ProbeKind;
use crate::runtime::{
    ContainerRuntime, HandlerKind, HandlerResult, RuntimeEvent, StartError, Started, StopSignal,
};
use crate::state::{
    HookKind, KillReason, Observed, TerminationReason, WaitingReason, DEADLINE_MESSAGE,
};
use crate::status::{pod_status, Clock, PodFacts};
use crate::sync::compute_actions;

/// How many times one probe run is tried when it cannot be carried out (kubelet
/// `maxProbeRetries`).
const MAX_PROBE_TRIES: usize = 3;

/// `Exec`, `HTTP`, `TCP`, `GRPC`, `Sleep`: the handler's kind in hook failure messages.
fn handler_type(h: &Handler) -> &'static str {
    match h {
        Handler::Exec { .. } => "Exec",
        Handler::HttpGet { .. } => "HTTP",
        Handler::TcpSocket { .. } => "TCP",
        Handler::Grpc { .. } => "GRPC",
        Handler::Sleep { .. } => "Sleep",
        Handler::PortNotFound { action, .. } => match action {
            PortAction::HttpGet => "HTTP",
            PortAction::TcpSocket => "TCP",
        },
    }
}

/// What a hook ran: the command line, the URL path, the port.
fn handler_target(h: &Handler) -> String {
    match h {
        Handler::Exec { command } => format!("[{}]", command.join(" ")),
        Handler::HttpGet { path, port, .. } => format!("{path} on port {port}"),
        Handler::TcpSocket { port, .. } | Handler::Grpc { port, .. } => format!("port {port}"),
        Handler::Sleep { seconds } => format!("{seconds}s"),
        Handler::PortNotFound { port, .. } => format!("port {port}"),
    }
}

/// Requests from outside the pod (the control socket, a signal in the foreground).
#[derive(Debug)]
pub enum Control {
    /// Stop the pod gracefully; `grace` overrides terminationGracePeriodSeconds.
    Delete { grace: Option<Duration> },
    /// Update the pod's spec: `(container, image)` pairs, the one mutable field of a running
    /// pod's containers (§1.7). All or nothing: a name the plan does not have rejects the whole
    /// update. `applied` hears the result once the new spec is in place and published.
    SetImages {
        images: Vec<(String, String)>,
        applied: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
    },
    /// Set pod conditions as a controller does through the status subresource (§5.2): only
    /// those of the pod's readiness gates, merged by type. All or nothing: a condition of
    /// another type, or a status other than True, False or Unknown, rejects the whole request.
    /// `applied` hears the result once the new status is published.
    SetConditions {
        conditions: Vec<PodCondition>,
        applied: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
    },
    /// Add an ephemeral container to the running pod (§1.8, `kubectl debug`): `spec` is the
    /// container as the API has it (for the pod's spec), `container` its plan. Refused when the
    /// pod is terminating or a container of the pod has its name. `applied` hears the result
    /// once the new spec is in place and published; the engine starts it on its next turn.
    AddEphemeral {
        container: Box<ContainerPlan>,
        spec: Box<k8s_openapi::api::core::v1::EphemeralContainer>,
        applied: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
    },
    /// Change the pod's labels, annotations or owners, as an update of the pod does; nothing
    /// the engine decides depends on them. `applied` hears the result once the observer has
    /// recorded them.
    SetMetadata {
        change: tandem_api::updates::MetadataChange,
        applied: Option<tokio::sync::oneshot::Sender<Result<(), String>>>,
    },
}

/// Where the driver reports what happens. The supervisor persists both; tests collect them.
pub trait Observer {
    fn status(&mut self, status: &PodStatus, terminating: bool);
    fn event(&mut self, event: &PodEvent);
    /// The pod's plan is about to change to `plan` (an image update, §1.7; an ephemeral
    /// container; new labels or annotations, §6.9). An error refuses
    /// the change (it could not be recorded) and the engine keeps the old plan. Called before
    /// the status that follows it.
    fn plan_changed(&mut self, _plan: &PodPlan) -> Result<(), String> {
        Ok(())
    }
    /// An ephemeral container is about to be added (its spec as the API has it), just before
    /// [`Observer::plan_changed`] gets the plan with it. An error refuses it.
    fn ephemeral_added(
        &mut self,
        _spec: &k8s_openapi::api::core::v1::EphemeralContainer,
    ) -> Result<(), String> {
        Ok(())
    }
    /// The pod's labels, annotations or owners change. An error refuses the change.
    fn metadata_changed(
        &mut self,
        _change: &tandem_api::updates::MetadataChange,
    ) -> Result<(), String> {
        Ok(())
    }
}

/// How the pod ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub phase: PodPhase,
    pub reason: TerminationReason,
    pub observed: Observed,
}

/// Work the driver spawned, reporting back.
enum Done {
    Start {
        container: String,
        attempt: u32,
        result: Result<Started, StartError>,
    },
    Hook {
        container: String,
        attempt: u32,
        hook: HookKind,
        handler: Handler,
        result: HandlerResult,
    },
    Probe {
        container: String,
        attempt: u32,
        kind: ProbeKind,
        result: HandlerResult,
    },
    Sandbox {
        attempt: u32,
        result: Result<Vec<String>, crate::runtime::SandboxFailure>,
    },
    Volumes(Result<(), crate::runtime::MountFailure>),
    VolumesResynced(Result<(), crate::runtime::MountFailure>),
}

pub struct Driver<R: ContainerRuntime, O: Observer> {
    plan: Rc<PodPlan>,
    runtime: Rc<R>,
    observer: O,
    obs: Observed,
    facts: PodFacts,
    clock: Clock,
    runtime_rx: mpsc::UnboundedReceiver<RuntimeEvent>,
    control_rx: mpsc::UnboundedReceiver<Control>,
    start_tx: mpsc::UnboundedSender<Done>,
    start_rx: mpsc::UnboundedReceiver<Done>,
}

impl<R: ContainerRuntime, O: Observer> Driver<R, O> {
    pub fn new(
        plan: Rc<PodPlan>,
        runtime: Rc<R>,
        observer: O,
        facts: PodFacts,
        clock: Clock,
        runtime_rx: mpsc::UnboundedReceiver<RuntimeEvent>,
        control_rx: mpsc::UnboundedReceiver<Control>,
    ) -> Self {
        let (start_tx, start_rx) = mpsc::unbounded_channel();
        let obs = Observed::new(&plan);
        Driver {
            plan,
            runtime,
            observer,
            obs,
            facts,
            clock,
            runtime_rx,
            control_rx,
            start_tx,
            start_rx,
        }
    }

    fn event(
        &mut self,
        kind: EventType,
        reason: EventReason,
        message: String,
        container: Option<&str>,
    ) {
        let attempt = container.map(|c| self.obs.get(c).restart_count());
        self.event_with(kind, reason, message, container, attempt, None);
    }

    fn event_with(
        &mut self,
        kind: EventType,
        reason: EventReason,
        message: String,
        container: Option<&str>,
        attempt: Option<u32>,
        details: Option<EventDetails>,
    ) {
        let e = PodEvent {
            time_us: self.clock.wall_us(Instant::now()),
            kind,
            reason,
            message,
            container: container.map(str::to_string),
            attempt,
            details,
        };
        self.observer.event(&e);
    }

    fn publish(&mut self) {
        let status = pod_status(&self.plan, &self.obs, &self.facts, &self.clock);
        let terminating = self
            .obs
            .termination
            .is_some_and(|t| t.reason == TerminationReason::Deleted);
        self.observer.status(&status, terminating);
    }

    /// Runs the pod until it has ended. Must be called inside a `tokio::task::LocalSet`.
    pub async fn run(mut self) -> Outcome {
        let started = Instant::now();
        self.facts.started_at = Some(started);
        self.obs.pod_started(started);
        loop {
            let now = Instant::now();
            let decision = compute_actions(&self.plan, &self.obs, now);
            let mut again = false;
            for action in decision.actions {
                match action {
                    Action::Finish { phase } => {
                        self.facts.finished = Some(phase);
                        let reason = self
                            .obs
                            .termination
                            .map_or(TerminationReason::Completed, |t| t.reason);
                        self.publish();
                        return Outcome {
                            phase,
                            reason,
                            observed: self.obs,
                        };
                    }
                    // These change what the engine decides next without any outside event.
                    Action::Terminate { .. }
                    | Action::Evict { .. }
                    | Action::Kill { .. }
                    | Action::RemoveAllContainers => again = true,
                    _ => {}
                }
                self.apply(action, now);
            }
            self.publish();
            if again {
                continue;
            }
            let sleep = async {
                match decision.wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // In this order when several are ready: what the runtime reports (an exit) first, so
            // a handler result that raced with its container's exit is read against the state
            // after the exit, and dropped when its instance is gone.
            tokio::select! {
                biased;
                Some(ev) = self.runtime_rx.recv() => self.on_runtime_event(ev),
                Some(done) = self.start_rx.recv() => self.on_done(done),
                Some(ctl) = self.control_rx.recv() => self.on_control(ctl),
                _ = sleep => {}
            }
        }
    }

    /// Carries out one action: the observed state changes through its own methods, work that
    /// takes time is spawned and reports back as [`Done`], and events say what happened.
    fn apply(&mut self, action: Action, now: Instant) {
        match action {
            Action::Start { container, backoff } => self.start(&container, backoff, now),
            Action::Wait {
                container,
                reason,
                message,
            } => self.wait(&container, reason, message),
            Action::Kill {
                container,
                reason,
                grace,
                message,
            } => self.kill(&container, reason, grace, message, now),
            Action::Hook { container, hook } => self.run_hook(&container, hook, now),
            Action::Probe { container, kind } => self.run_probe(&container, kind, now),
            Action::Signal {
                container,
                signal,
                kill_at,
            } => self.signal(container, signal, kill_at, now),
            Action::Terminate { reason, grace } => {
                if !self.obs.terminate(reason, grace, now) {
                    return;
                }
                match reason {
                    TerminationReason::DeadlineExceeded => self.event(
                        EventType::Warning,
                        EventReason::DeadlineExceeded,
                        DEADLINE_MESSAGE.into(),
                        None,
                    ),
                    TerminationReason::Rejected => {
                        if let Err(r) = crate::admission::admit(&self.plan) {
                            let event = match r.reason {
                                RejectReason::SysctlForbidden => EventReason::SysctlForbidden,
                            };
                            self.event(EventType::Warning, event, r.message, None);
                        }
                    }
                    _ => {}
                }
            }
            Action::Evict { message, grace } => {
                if self.obs.evict(message.clone(), grace, now) {
                    self.event(EventType::Warning, EventReason::Evicted, message, None);
                }
            }
            Action::Finish { .. } => {}
            Action::ReplaceSandbox => {
                self.obs.sandbox_replacing();
                self.event(
                    EventType::Normal,
                    EventReason::SandboxChanged,
                    crate::sandbox::SANDBOX_CHANGED_MESSAGE.into(),
                    None,
                );
            }
            Action::RemoveAllContainers => self.obs.all_containers_removed(&self.plan, now),
            Action::SetUpVolumes => {
                self.obs.volumes_trying();
                let runtime = Rc::clone(&self.runtime);
                let tx = self.start_tx.clone();
                tokio::task::spawn_local(async move {
                    let _ = tx.send(Done::Volumes(runtime.set_up_volumes().await));
                });
            }
            Action::ResyncVolumes => {
                self.obs.volume_resync_begun();
                let runtime = Rc::clone(&self.runtime);
                let plan = Rc::clone(&self.plan);
                let tx = self.start_tx.clone();
                tokio::task::spawn_local(async move {
                    let result = runtime.resync_volumes(&plan).await;
                    let _ = tx.send(Done::VolumesResynced(result));
                });
            }
            Action::CreateSandbox { attempt } => {
                self.obs.sandbox_creating();
                let runtime = Rc::clone(&self.runtime);
                let tx = self.start_tx.clone();
                tokio::task::spawn_local(async move {
                    let result = runtime.recreate_sandbox(attempt).await;
                    let _ = tx.send(Done::Sandbox { attempt, result });
                });
            }
        }
    }

    /// Starts a new instance of `container` in the background.
    fn start(&mut self, container: &str, backoff: Option<Backoff>, now: Instant) {
        let Some(plan) = self.plan.container(container).cloned() else {
            return;
        };
        let attempt = self.obs.get_mut(container).start_begun(&plan, backoff, now);
        let runtime = Rc::clone(&self.runtime);
        let tx = self.start_tx.clone();
        tokio::task::spawn_local(async move {
            let result = runtime.start(&plan, attempt).await;
            let _ = tx.send(Done::Start {
                container: plan.name.clone(),
                attempt,
                result,
            });
        });
    }

    /// The container waits; a new back-off is an event, as the kubelet's.
    fn wait(&mut self, container: &str, reason: WaitingReason, message: String) {
        let changed = self.obs.get_mut(container).wait(reason, message.clone());
        if changed && reason == WaitingReason::CrashLoopBackOff {
            let msg = format!(
                "Back-off restarting failed container {container} in pod {}",
                self.plan.name
            );
            self.event(
                EventType::Warning,
                EventReason::BackOff,
                msg,
                Some(container),
            );
        }
        if changed && reason == WaitingReason::ImagePullBackOff {
            self.event(
                EventType::Normal,
                EventReason::BackOff,
                message,
                Some(container),
            );
        }
    }

    /// Begins the kubelet's `killContainer`: the preStop hook and the signals follow as actions.
    fn kill(
        &mut self,
        container: &str,
        reason: KillReason,
        grace: Duration,
        message: String,
        now: Instant,
    ) {
        let rec = self.obs.get_mut(container);
        rec.kill_begun(reason, grace, now);
        let attempt = rec.restart_count();
        let details = EventDetails::Kill {
            grace_period_seconds: grace.as_secs_f64(),
            kill_reason: reason,
        };
        self.event_with(
            EventType::Normal,
            EventReason::Killing,
            message,
            Some(container),
            Some(attempt),
            Some(details),
        );
    }

    /// Runs a lifecycle hook of the current instance in the background (`Sleep` here).
    fn run_hook(&mut self, container: &str, hook: HookKind, now: Instant) {
        let Some(plan) = self.plan.container(container).cloned() else {
            return;
        };
        let handler = match hook {
            HookKind::PostStart => plan.post_start.clone(),
            HookKind::PreStop => plan.pre_stop.clone(),
        };
        let Some(handler) = handler else { return };
        let rec = self.obs.get_mut(container);
        rec.hook_begun(hook, now);
        let attempt = rec.restart_count();
        let kind = match hook {
            HookKind::PostStart => HandlerKind::PostStart,
            HookKind::PreStop => HandlerKind::PreStop,
        };
        let runtime = Rc::clone(&self.runtime);
        let tx = self.start_tx.clone();
        tokio::task::spawn_local(async move {
            let result = match &handler {
                Handler::Sleep { seconds } => {
                    tokio::time::sleep(tandem_api::plan::seconds(*seconds)).await;
                    HandlerResult::Success
                }
                h => runtime.run_handler(&plan, attempt, kind, h, None).await,
            };
            let _ = tx.send(Done::Hook {
                container: plan.name.clone(),
                attempt,
                hook,
                handler,
                result,
            });
        });
    }

    /// Runs one probe of the current instance in the background.
    fn run_probe(&mut self, container: &str, kind: ProbeKind, now: Instant) {
        let Some(plan) = self.plan.container(container).cloned() else {
            return;
        };
        let Some(probe) = kind.probe(&plan).cloned() else {
            return;
        };
        let rec = self.obs.get_mut(container);
        rec.probe_begun(kind, now);
        let attempt = rec.restart_count();
        let hk = match kind {
            ProbeKind::Startup => HandlerKind::Startup,
            ProbeKind::Liveness => HandlerKind::Liveness,
            ProbeKind::Readiness => HandlerKind::Readiness,
        };
        let timeout = Duration::from_secs(probe.timeout_seconds.max(1) as u64);
        let runtime = Rc::clone(&self.runtime);
        let tx = self.start_tx.clone();
        tokio::task::spawn_local(async move {
            // The kubelet's prober tries a probe that could not be carried out (an
            // error, not a failure) up to three times before giving up on this period
            // (`maxProbeRetries`).
            let mut result = HandlerResult::Error(String::new());
            for _ in 0..MAX_PROBE_TRIES {
                result = runtime
                    .run_handler(&plan, attempt, hk, &probe.handler, Some(timeout))
                    .await;
                if !matches!(result, HandlerResult::Error(_)) {
                    break;
                }
            }
            let _ = tx.send(Done::Probe {
                container: plan.name.clone(),
                attempt,
                kind,
                result,
            });
        });
    }

    /// Sends a stop signal to the current instance; SIGKILL is an event.
    fn signal(&mut self, container: String, signal: StopSignal, kill_at: Instant, now: Instant) {
        let rec = self.obs.get_mut(&container);
        rec.stop_signal_sent(signal, kill_at, now);
        let attempt = rec.restart_count();
        if signal == StopSignal::Kill {
            let details = EventDetails::ForceKill {
                signal: ForcedSignal::SIGKILL,
            };
            self.event_with(
                EventType::Normal,
                EventReason::Killing,
                format!(
                    "Container {container} did not stop within its grace period, sending SIGKILL"
                ),
                Some(&container),
                Some(attempt),
                Some(details),
            );
        }
        let runtime = Rc::clone(&self.runtime);
        tokio::task::spawn_local(async move { runtime.signal(&container, attempt, signal).await });
    }

    /// Whether `attempt` is still the current instance of `container`.
    fn current(&self, container: &str, attempt: u32) -> bool {
        let rec = self.obs.get(container);
        rec.starts > 0 && rec.restart_count() == attempt
    }

    fn on_done(&mut self, done: Done) {
        match done {
            Done::Start {
                container,
                attempt,
                result,
            } => self.on_start_done(container, attempt, result),
            Done::Hook {
                container,
                attempt,
                hook,
                handler,
                result,
            } => self.on_hook_done(container, attempt, hook, &handler, result),
            Done::Probe {
                container,
                attempt,
                kind,
                result,
            } => self.on_probe_done(container, attempt, kind, result),
            Done::Sandbox { attempt, result } => self.on_sandbox_done(attempt, result),
            Done::Volumes(result) => {
                if let Err(e) = &result {
                    self.event(
                        EventType::Warning,
                        EventReason::FailedMount,
                        e.to_string(),
                        None,
                    );
                }
                self.obs.volumes_tried(result.is_ok(), Instant::now());
            }
            Done::VolumesResynced(result) => {
                if let Some(e) = self.obs.volume_resync_done(result, Instant::now()) {
                    self.event(
                        EventType::Warning,
                        EventReason::FailedMount,
                        e.to_string(),
                        None,
                    );
                }
            }
        }
    }

    /// A new sandbox is ready (its addresses become the pod's), or could not be made.
    fn on_sandbox_done(
        &mut self,
        attempt: u32,
        result: Result<Vec<String>, crate::runtime::SandboxFailure>,
    ) {
        match result {
            Ok(ips) => {
                self.obs
                    .sandbox_created(&self.plan, attempt, Instant::now());
                self.facts.pod_ip = ips.first().cloned();
                self.facts.pod_ips = ips;
            }
            Err(e) => {
                self.event(
                    EventType::Warning,
                    EventReason::FailedCreatePodSandBox,
                    format!("Failed to create pod sandbox: {e}"),
                    None,
                );
                self.obs.sandbox_failed(attempt, e.to_string());
            }
        }
    }

    fn on_hook_done(
        &mut self,
        container: String,
        attempt: u32,
        hook: HookKind,
        handler: &Handler,
        result: HandlerResult,
    ) {
        if !self.current(&container, attempt) {
            return;
        }
        let failure = match &result {
            HandlerResult::Failure(m) | HandlerResult::Error(m) => Some(m.clone()),
            _ => None,
        };
        self.obs
            .get_mut(&container)
            .hook_finished(hook, failure.is_some());
        let Some(err) = failure else { return };
        // A preStop hook that fails when its container is already gone is not worth an event.
        if hook == HookKind::PreStop && !self.obs.get(&container).is_running() {
            return;
        }
        let (reason, what) = match hook {
            HookKind::PostStart => (EventReason::FailedPostStartHook, "PostStartHook"),
            HookKind::PreStop => (EventReason::FailedPreStopHook, "PreStopHook"),
        };
        let message = format!(
            "{what} failed: {} lifecycle hook ({}) for Container \"{container}\" in Pod \"{}\" failed - error: {err}",
            handler_type(handler),
            handler_target(handler),
            self.plan.name
        );
        self.event(EventType::Warning, reason, message, Some(&container));
    }

    fn on_probe_done(
        &mut self,
        container: String,
        attempt: u32,
        kind: ProbeKind,
        result: HandlerResult,
    ) {
        if !self.current(&container, attempt) {
            return;
        }
        let Some(probe) = self
            .plan
            .container(&container)
            .and_then(|c| kind.probe(c))
            .cloned()
        else {
            return;
        };
        let raw = crate::probe::raw_result(&result);
        let changed = self
            .obs
            .get_mut(&container)
            .probe_finished(kind, &probe, raw);
        if !self.obs.get(&container).is_running() {
            return;
        }
        let label = kind.label();
        match &result {
            HandlerResult::Failure(m) => self.event(
                EventType::Warning,
                EventReason::Unhealthy,
                format!("{label} probe failed: {m}"),
                Some(&container),
            ),
            HandlerResult::Error(m) => self.event(
                EventType::Warning,
                EventReason::Unhealthy,
                format!("{label} probe errored: {m}"),
                Some(&container),
            ),
            HandlerResult::Warning(m) => self.event(
                EventType::Warning,
                EventReason::ProbeWarning,
                format!("{label} probe warning: {m}"),
                Some(&container),
            ),
            HandlerResult::Success => {}
        }
        if let Some(raw) = raw.filter(|_| changed) {
            let details = EventDetails::Probe {
                probe: kind,
                result: raw,
            };
            self.event_with(
                EventType::Normal,
                EventReason::ProbeResult,
                format!("{label} probe of container {container} is now {raw:?}"),
                Some(&container),
                Some(attempt),
                Some(details),
            );
        }
    }

    fn on_start_done(
        &mut self,
        container: String,
        attempt: u32,
        result: Result<Started, StartError>,
    ) {
        let now = Instant::now();
        if !self.current(&container, attempt) {
            return;
        }
        match result {
            Ok(started) => {
                let name = container.clone();
                self.event(
                    EventType::Normal,
                    EventReason::Created,
                    format!("Created container {name}"),
                    Some(&name),
                );
                self.event(
                    EventType::Normal,
                    EventReason::Started,
                    format!("Started container {name}"),
                    Some(&name),
                );
                self.obs.get_mut(&container).start_succeeded(started, now);
            }
            Err(e) if e.reason.made_no_container() => {
                self.obs
                    .get_mut(&container)
                    .start_made_nothing(e.reason, &e.message, now);
                self.event(
                    EventType::Warning,
                    EventReason::Failed,
                    format!("Error: {}: {}", e.reason, e.message),
                    Some(&container),
                );
            }
            Err(e) => {
                self.obs
                    .get_mut(&container)
                    .start_failed(e.reason, &e.message, now);
                self.event(
                    EventType::Warning,
                    EventReason::Failed,
                    format!("Error: {}: {}", e.reason, e.message),
                    Some(&container),
                );
            }
        }
    }

    fn on_runtime_event(&mut self, ev: RuntimeEvent) {
        match ev {
            RuntimeEvent::LocalStorage(usage) => self.obs.storage_measured(usage),
            RuntimeEvent::User {
                container,
                attempt,
                user,
            } => {
                if self.current(&container, attempt) {
                    self.obs.get_mut(&container).user_known(user);
                }
            }
            RuntimeEvent::SandboxLost { attempt } => {
                self.obs.sandbox_lost(attempt);
            }
            RuntimeEvent::Exited {
                container,
                attempt,
                exit_code,
                signal,
                oom,
                at,
            } => {
                let rec = self.obs.get_mut(&container);
                let Some(exit) = rec.exited(attempt, exit_code, signal, oom, at) else {
                    return;
                };
                let details = EventDetails::Exit {
                    exit_code,
                    signal,
                    reason: exit.reason.clone(),
                };
                self.event_with(
                    EventType::Normal,
                    EventReason::Exited,
                    format!("Container {container} exited with code {exit_code}"),
                    Some(&container),
                    Some(attempt),
                    Some(details),
                );
            }
        }
    }

    /// Puts new images into the plan. The engine compares each running container's spec with
    /// the plan on its next turn and decides what the change means (§1.7); a terminating pod
    /// takes the new spec but restarts nothing.
    fn set_images(&mut self, images: &[(String, String)]) -> Result<(), String> {
        if let Some((name, _)) = images
            .iter()
            .find(|(name, _)| self.plan.container(name).is_none())
        {
            return Err(format!("unable to find container named {name:?}"));
        }
        let mut plan = (*self.plan).clone();
        for (name, image) in images {
            if let Some(c) = plan
                .init_containers
                .iter_mut()
                .chain(plan.containers.iter_mut())
                .find(|c| &c.name == name)
            {
                c.image = image.clone();
            }
        }
        if plan != *self.plan {
            self.observer.plan_changed(&plan)?;
            self.plan = Rc::new(plan);
            self.publish();
        }
        Ok(())
    }

    /// New labels or annotations into the plan, which downwardAPI volumes project: their
    /// files are written again at once (§6.9).
    fn metadata_into_plan(
        &mut self,
        change: &tandem_api::updates::MetadataChange,
    ) -> Result<(), String> {
        let mut plan = (*self.plan).clone();
        if let Some(labels) = &change.labels {
            plan.labels = labels.clone();
        }
        if let Some(annotations) = &change.annotations {
            plan.annotations = annotations.clone();
        }
        if plan != *self.plan {
            self.observer.plan_changed(&plan)?;
            self.plan = Rc::new(plan);
            self.obs.volume_resync.due = None;
        }
        Ok(())
    }

    /// Puts an ephemeral container into the plan (§1.8); the engine starts it on its next turn.
    fn add_ephemeral(
        &mut self,
        container: ContainerPlan,
        spec: &k8s_openapi::api::core::v1::EphemeralContainer,
    ) -> Result<(), String> {
        if self.obs.termination.is_some() {
            return Err("the pod is terminating; no container is added to it".into());
        }
        if self.plan.container(&container.name).is_some() {
            return Err(format!(
                "a container named {:?} already exists in the pod",
                container.name
            ));
        }
        let mut plan = (*self.plan).clone();
        plan.ephemeral_containers.push(container);
        self.observer.ephemeral_added(spec)?;
        self.observer.plan_changed(&plan)?;
        self.plan = Rc::new(plan);
        self.publish();
        Ok(())
    }

    /// Records conditions of readiness gates (§5.2). A condition keeps its lastTransitionTime
    /// while its status stays; a new status gets the time given, else now.
    fn set_conditions(&mut self, conditions: Vec<PodCondition>) -> Result<(), String> {
        if let Some(problem) = conditions
            .iter()
            .find_map(|c| self.plan.gate_condition_problem(&c.type_, &c.status))
        {
            return Err(problem);
        }
        let now = self.clock.time(Instant::now());
        for mut c in conditions {
            let known = &mut self.facts.external_conditions;
            match known.iter_mut().find(|k| k.type_ == c.type_) {
                Some(k) => {
                    c.last_transition_time = if k.status == c.status {
                        k.last_transition_time.clone()
                    } else {
                        c.last_transition_time.or_else(|| Some(now.clone()))
                    };
                    *k = c;
                }
                None => {
                    c.last_transition_time = c.last_transition_time.or_else(|| Some(now.clone()));
                    known.push(c);
                }
            }
        }
        self.publish();
        Ok(())
    }

    fn on_control(&mut self, ctl: Control) {
        let now = Instant::now();
        match ctl {
            Control::SetConditions {
                conditions,
                applied,
            } => {
                let result = self.set_conditions(conditions);
                if let Some(tx) = applied {
                    let _ = tx.send(result);
                }
            }
            Control::SetImages { images, applied } => {
                let result = self.set_images(&images);
                if let Some(tx) = applied {
                    let _ = tx.send(result);
                }
            }
            Control::AddEphemeral {
                container,
                spec,
                applied,
            } => {
                let result = self.add_ephemeral(*container, &spec);
                if let Some(tx) = applied {
                    let _ = tx.send(result);
                }
            }
            Control::SetMetadata { change, applied } => {
                let result = self
                    .observer
                    .metadata_changed(&change)
                    .and_then(|()| self.metadata_into_plan(&change));
                if let Some(tx) = applied {
                    let _ = tx.send(result);
                }
            }
            Control::Delete { grace } => {
                // No deadline may overflow: a grace given is saturated as the manifest's are.
                let grace = grace.map_or_else(
                    || crate::rules::pod_grace(&self.plan),
                    |g| g.min(Duration::from_secs(tandem_api::plan::MAX_SECONDS)),
                );
                self.obs.delete(grace, now);
            }
        }
    }
}
