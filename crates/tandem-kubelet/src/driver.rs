//! The thin async loop around [`compute_actions`]: observations in, actions out.
//!
//! Runs on a single-threaded tokio runtime inside a `LocalSet` (the supervisor never creates
//! containers from more than one thread). Each turn: ask the engine, carry out its actions, publish
//! the status, then sleep until a runtime event, a control request or the engine's wake-up time.

use std::rc::Rc;
use std::time::Duration;

use k8s_openapi::api::core::v1::PodStatus;
use tandem_api::plan::PodPlan;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::events::{EventType, PodEvent};
use crate::runtime::{ContainerRuntime, RuntimeEvent, StartError};
use crate::state::{Exit, Observed, RunState, Stopping, Termination, TerminationReason};
use crate::status::{pod_status, Clock, PodFacts};
use crate::sync::{compute_actions, Action, PodPhase, StopSignal};

/// Requests from outside the pod (the control socket, a signal in the foreground).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop the pod gracefully; `grace` overrides terminationGracePeriodSeconds.
    Delete { grace: Option<Duration> },
}

/// Where the driver reports what happens. The supervisor persists both; tests collect them.
pub trait Observer {
    fn status(&mut self, status: &PodStatus, terminating: bool);
    fn event(&mut self, event: &PodEvent);
}

/// How the pod ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub phase: PodPhase,
    pub reason: TerminationReason,
    pub observed: Observed,
}

struct StartDone {
    container: String,
    attempt: u32,
    result: Result<(), StartError>,
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
    start_tx: mpsc::UnboundedSender<StartDone>,
    start_rx: mpsc::UnboundedReceiver<StartDone>,
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
        Driver { plan, runtime, observer, obs, facts, clock, runtime_rx, control_rx, start_tx, start_rx }
    }

    fn event(&mut self, kind: EventType, reason: &str, message: String, container: Option<&str>) {
        let attempt = container.map(|c| self.obs.get(c).restart_count());
        self.event_with(kind, reason, message, container, attempt, serde_json::Map::new());
    }

    fn event_with(
        &mut self,
        kind: EventType,
        reason: &str,
        message: String,
        container: Option<&str>,
        attempt: Option<u32>,
        details: serde_json::Map<String, serde_json::Value>,
    ) {
        let e = PodEvent {
            time_us: self.clock.wall_us(Instant::now()),
            kind,
            reason: reason.to_string(),
            message,
            container: container.map(str::to_string),
            attempt,
            details,
        };
        self.observer.event(&e);
    }

    fn publish(&mut self) {
        let status = pod_status(&self.plan, &self.obs, &self.facts, &self.clock);
        let terminating = self.obs.termination.is_some_and(|t| t.reason == TerminationReason::Deleted);
        self.observer.status(&status, terminating);
    }

    /// Runs the pod until it has ended. Must be called inside a `tokio::task::LocalSet`.
    pub async fn run(mut self) -> Outcome {
        self.facts.started_at = Some(Instant::now());
        loop {
            let now = Instant::now();
            let decision = compute_actions(&self.plan, &self.obs, now);
            let mut again = false;
            for action in decision.actions {
                match action {
                    Action::Finish { phase } => {
                        self.facts.finished = Some(phase);
                        let reason = self.obs.termination.map_or(TerminationReason::Completed, |t| t.reason);
                        self.publish();
                        return Outcome { phase, reason, observed: self.obs };
                    }
                    Action::Terminate { .. } => again = true,
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
            tokio::select! {
                Some(ev) = self.runtime_rx.recv() => self.on_runtime_event(ev),
                Some(done) = self.start_rx.recv() => self.on_start_done(done),
                Some(ctl) = self.control_rx.recv() => self.on_control(ctl),
                _ = sleep => {}
            }
        }
    }

    fn apply(&mut self, action: Action, now: Instant) {
        match action {
            Action::Start { container, backoff } => {
                let Some(plan) = self.plan.container(&container).cloned() else { return };
                let rec = self.obs.get_mut(&container);
                if let RunState::Exited(e) = &rec.state {
                    rec.last_exit = Some(e.clone());
                }
                rec.state = RunState::Creating { since: now };
                rec.starts += 1;
                if backoff.is_some() {
                    rec.backoff = backoff;
                }
                rec.waiting = None;
                rec.stopping = None;
                rec.started = false;
                rec.ready = false;
                let attempt = rec.restart_count();
                let runtime = Rc::clone(&self.runtime);
                let tx = self.start_tx.clone();
                tokio::task::spawn_local(async move {
                    let result = runtime.start(&plan, attempt).await;
                    let _ = tx.send(StartDone { container: plan.name.clone(), attempt, result });
                });
            }
            Action::Wait { container, reason, message } => {
                let changed = self.obs.get(&container).waiting.as_ref().map(|w| &w.0) != Some(&reason);
                if changed && reason == "CrashLoopBackOff" {
                    let msg = format!("Back-off restarting failed container {container} in pod {}", self.plan.name);
                    self.event(EventType::Warning, "BackOff", msg, Some(&container));
                }
                self.obs.get_mut(&container).waiting = Some((reason, message));
            }
            Action::Signal { container, signal, kill_at } => {
                let attempt = self.obs.get(&container).restart_count();
                match signal {
                    StopSignal::Term => {
                        self.obs.get_mut(&container).stopping =
                            Some(Stopping { term_sent_at: now, kill_at, kill_sent: false });
                        self.event(EventType::Normal, "Killing", format!("Stopping container {container}"), Some(&container));
                    }
                    StopSignal::Kill => {
                        if let Some(s) = self.obs.get_mut(&container).stopping.as_mut() {
                            s.kill_sent = true;
                        }
                        let mut details = serde_json::Map::new();
                        details.insert("signal".into(), "SIGKILL".into());
                        self.event_with(
                            EventType::Normal,
                            "Killing",
                            format!("Container {container} did not stop within its grace period, sending SIGKILL"),
                            Some(&container),
                            Some(attempt),
                            details,
                        );
                    }
                }
                let runtime = Rc::clone(&self.runtime);
                tokio::task::spawn_local(async move { runtime.signal(&container, attempt, signal).await });
            }
            Action::Terminate { reason, grace } => {
                if self.obs.termination.is_none() {
                    self.obs.termination = Some(Termination { reason, started_at: now, grace });
                }
            }
            Action::Finish { .. } => {}
        }
    }

    fn on_start_done(&mut self, done: StartDone) {
        let now = Instant::now();
        let rec = self.obs.get(&done.container);
        if rec.restart_count() != done.attempt || rec.starts == 0 {
            return;
        }
        match done.result {
            Ok(()) => {
                let name = done.container.clone();
                self.event(EventType::Normal, "Created", format!("Created container {name}"), Some(&name));
                self.event(EventType::Normal, "Started", format!("Started container {name}"), Some(&name));
                let rec = self.obs.get_mut(&done.container);
                if let RunState::Creating { .. } = rec.state {
                    rec.state = RunState::Running { since: now };
                    // Without probes a running container is started and ready (§3.5).
                    rec.started = true;
                    rec.ready = true;
                }
            }
            Err(e) => {
                let rec = self.obs.get_mut(&done.container);
                rec.state = RunState::Exited(Exit {
                    exit_code: 128,
                    signal: None,
                    reason: "StartError".into(),
                    message: Some(e.message.clone()),
                    started_at: None,
                    finished_at: now,
                });
                rec.waiting = Some((e.reason.clone(), e.message.clone()));
                let name = done.container;
                self.event(EventType::Warning, "Failed", format!("Error: {}: {}", e.reason, e.message), Some(&name));
            }
        }
    }

    fn on_runtime_event(&mut self, ev: RuntimeEvent) {
        match ev {
            RuntimeEvent::Exited { container, attempt, exit_code, signal, oom, at } => {
                let rec = self.obs.get(&container);
                if rec.starts == 0 || rec.restart_count() != attempt {
                    return;
                }
                let started_at = match rec.state {
                    RunState::Running { since } | RunState::Creating { since } => Some(since),
                    _ => return,
                };
                let exit = Exit::from_code(exit_code, signal, oom, started_at, at);
                let mut details = serde_json::Map::new();
                details.insert("exitCode".into(), exit_code.into());
                if let Some(s) = signal {
                    details.insert("signal".into(), s.into());
                }
                details.insert("reason".into(), exit.reason.clone().into());
                let rec = self.obs.get_mut(&container);
                rec.state = RunState::Exited(exit);
                rec.started = false;
                rec.ready = false;
                rec.stopping = None;
                self.event_with(
                    EventType::Normal,
                    "Exited",
                    format!("Container {container} exited with code {exit_code}"),
                    Some(&container),
                    Some(attempt),
                    details,
                );
            }
        }
    }

    fn on_control(&mut self, ctl: Control) {
        let now = Instant::now();
        match ctl {
            Control::Delete { grace } => {
                let grace =
                    grace.unwrap_or(Duration::from_secs(self.plan.termination_grace_period_seconds.max(0) as u64));
                match &mut self.obs.termination {
                    Some(t) => {
                        // A shorter grace period given later cuts the one in force, as kubectl's does.
                        if now + grace < t.deadline() {
                            t.grace = (now + grace) - t.started_at;
                        }
                        if t.reason == TerminationReason::Completed {
                            t.reason = TerminationReason::Deleted;
                        }
                    }
                    None => {
                        self.obs.termination = Some(Termination { reason: TerminationReason::Deleted, started_at: now, grace })
                    }
                }
            }
        }
    }
}
