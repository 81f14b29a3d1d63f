//! A scripted [`ContainerRuntime`] for engine tests in paused time: each container follows a
//! [`Behavior`] per attempt, and every start, signal and exit is written to a marker log like the
//! one the kubelet's own e2e tests read (§7.0).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use tandem_api::plan::{ContainerPlan, Handler};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use tandem_kubelet::runtime::{
    ContainerRuntime, HandlerKind, HandlerResult, MountFailure, RuntimeEvent, SandboxFailure,
    StartError, StartFailure, Started, StopSignal,
};

/// What one instance of a container does.
#[derive(Debug, Clone)]
pub struct Behavior {
    /// How long the process runs before exiting by itself; `None` runs until signalled.
    pub run_for: Option<Duration>,
    pub exit_code: i32,
    /// How long it takes to exit after SIGTERM (with exit code 0); `None` ignores SIGTERM.
    pub term_after: Option<Duration>,
    /// Time spent creating and starting (image, postStart).
    pub start_delay: Duration,
    pub start_error: Option<StartError>,
    /// Exit code after a SIGTERM it handles.
    pub term_code: i32,
}

impl Behavior {
    /// Runs until told to stop and stops at once on SIGTERM.
    pub fn serve() -> Self {
        Behavior {
            run_for: None,
            exit_code: 0,
            term_after: Some(Duration::ZERO),
            start_delay: Duration::ZERO,
            start_error: None,
            term_code: 0,
        }
    }

    /// Exits with `code` after `after`.
    pub fn exit(after: Duration, code: i32) -> Self {
        Behavior {
            run_for: Some(after),
            exit_code: code,
            ..Behavior::serve()
        }
    }

    pub fn ignoring_term(mut self) -> Self {
        self.term_after = None;
        self
    }

    pub fn term_after(mut self, d: Duration) -> Self {
        self.term_after = Some(d);
        self
    }

    /// Exits with `code` when it handles SIGTERM.
    pub fn term_code(mut self, code: i32) -> Self {
        self.term_code = code;
        self
    }

    /// Fails to start with this waiting reason.
    pub fn start_error(reason: StartFailure) -> Self {
        Behavior {
            start_error: Some(StartError::new(reason, format!("{reason} (scripted)"))),
            ..Behavior::serve()
        }
    }
}

/// One call of a handler, as a script sees it.
#[derive(Debug, Clone, Copy)]
pub struct HandlerCall {
    /// The container instance.
    pub attempt: u32,
    /// How many times this handler ran before for this instance.
    pub n: u32,
    /// Time since the instance started.
    pub uptime: Duration,
}

/// What one handler run does: takes `takes` (`None`: never returns by itself), then reports
/// `result`. A run longer than its timeout reports a timeout failure instead; a run still going
/// when its container exits reports an error.
#[derive(Debug, Clone)]
pub struct HandlerScript {
    pub takes: Option<Duration>,
    pub result: HandlerResult,
}

impl HandlerScript {
    pub fn ok() -> Self {
        HandlerScript {
            takes: Some(Duration::ZERO),
            result: HandlerResult::Success,
        }
    }
    pub fn fail() -> Self {
        HandlerScript {
            takes: Some(Duration::ZERO),
            result: HandlerResult::Failure("exit status 1".into()),
        }
    }
    pub fn forever() -> Self {
        HandlerScript {
            takes: None,
            result: HandlerResult::Success,
        }
    }
    pub fn taking(mut self, d: Duration) -> Self {
        self.takes = Some(d);
        self
    }
}

type Script = Rc<dyn Fn(&HandlerCall) -> HandlerScript>;

/// One line of the marker log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub at: Instant,
    pub container: String,
    /// `Starting`, `Started`, `Exiting`, `SIGTERM`, `SIGKILL`.
    pub what: String,
}

#[derive(Default)]
struct Inner {
    scripts: HashMap<String, Vec<Behavior>>,
    signals: HashMap<(String, u32), mpsc::UnboundedSender<StopSignal>>,
    handlers: HashMap<(String, HandlerKind), Script>,
    calls: HashMap<(String, u32, HandlerKind), u32>,
    /// The argv of every exec handler run, in order.
    exec_argv: Vec<(String, HandlerKind, Vec<String>)>,
    /// Per running instance: when it started, and a flag raised when it exits.
    running: HashMap<(String, u32), (Instant, watch::Receiver<bool>)>,
    log: Vec<Mark>,
    /// The attempt number of the current sandbox.
    sandbox_attempt: u32,
    /// Sandbox attempts whose creation fails, with the message.
    sandbox_failures: HashMap<u32, String>,
    /// Until when the pod's awaited volumes cannot be set up (their object is missing).
    volumes_missing_until: Option<Instant>,
    /// While the pod's file volumes cannot be made again (their object deleted), from..until.
    resync_failing: Option<(Instant, Instant)>,
    /// The image each start was asked for: (container, attempt, image).
    images: Vec<(String, u32, String)>,
}

pub struct FakeRuntime {
    tx: mpsc::UnboundedSender<RuntimeEvent>,
    inner: Rc<RefCell<Inner>>,
}

impl FakeRuntime {
    pub fn new(tx: mpsc::UnboundedSender<RuntimeEvent>) -> Self {
        FakeRuntime {
            tx,
            inner: Rc::default(),
        }
    }

    /// Sets the behaviour of a container's attempts; the last one repeats.
    pub fn script(&self, container: &str, attempts: Vec<Behavior>) {
        self.inner
            .borrow_mut()
            .scripts
            .insert(container.to_string(), attempts);
    }

    /// Sets what a container's probe or hook handler does on each call (default: succeed at once).
    pub fn handler(
        &self,
        container: &str,
        kind: HandlerKind,
        script: impl Fn(&HandlerCall) -> HandlerScript + 'static,
    ) {
        self.inner
            .borrow_mut()
            .handlers
            .insert((container.to_string(), kind), Rc::new(script));
    }

    /// Number of times a container's handler of this kind ran, over all instances.
    /// The argv each exec handler of `kind` ran with, in order.
    pub fn exec_commands(&self, container: &str, kind: HandlerKind) -> Vec<Vec<String>> {
        self.inner
            .borrow()
            .exec_argv
            .iter()
            .filter(|(c, k, _)| c == container && *k == kind)
            .map(|(_, _, argv)| argv.clone())
            .collect()
    }

    pub fn handler_calls(&self, container: &str, kind: HandlerKind) -> u32 {
        self.inner
            .borrow()
            .calls
            .iter()
            .filter(|((c, _, k), _)| c == container && *k == kind)
            .map(|(_, n)| *n)
            .sum()
    }

    /// The image of each start of `container`, in order (image updates, §1.7).
    pub fn started_images(&self, container: &str) -> Vec<String> {
        self.inner
            .borrow()
            .images
            .iter()
            .filter(|(c, _, _)| c == container)
            .map(|(_, _, image)| image.clone())
            .collect()
    }

    /// The sandbox dies (§2.3): logged as `sandbox Lost` and reported to the engine. The
    /// containers keep running, as real ones do in the namespaces they hold, until killed.
    pub fn lose_sandbox(&self) {
        let attempt = self.inner.borrow().sandbox_attempt;
        Self::mark(&self.inner, "sandbox", "Lost");
        let _ = self.tx.send(RuntimeEvent::SandboxLost { attempt });
    }

    /// Making sandbox `attempt` fails with `message`.
    pub fn fail_sandbox(&self, attempt: u32, message: &str) {
        self.inner
            .borrow_mut()
            .sandbox_failures
            .insert(attempt, message.to_string());
    }

    /// The pod's awaited volumes cannot be set up before `until` (their object appears then).
    pub fn volumes_missing_until(&self, until: Instant) {
        self.inner.borrow_mut().volumes_missing_until = Some(until);
    }

    /// The pod's file volumes cannot be made again from `from` until `until` (their object is
    /// deleted, then made again).
    pub fn resync_failing(&self, from: Instant, until: Instant) {
        self.inner.borrow_mut().resync_failing = Some((from, until));
    }

    pub fn marks(&self) -> Vec<Mark> {
        self.inner.borrow().log.clone()
    }

    fn mark(inner: &Rc<RefCell<Inner>>, container: &str, what: &str) {
        inner.borrow_mut().log.push(Mark {
            at: Instant::now(),
            container: container.to_string(),
            what: what.to_string(),
        });
    }
}

impl ContainerRuntime for FakeRuntime {
    async fn start(&self, container: &ContainerPlan, attempt: u32) -> Result<Started, StartError> {
        let behavior = {
            let inner = self.inner.borrow();
            let script = inner.scripts.get(&container.name);
            script
                .and_then(|s| s.get(attempt as usize).or(s.last()))
                .cloned()
                .unwrap_or_else(Behavior::serve)
        };
        let name = container.name.clone();
        self.inner
            .borrow_mut()
            .images
            .push((name.clone(), attempt, container.image.clone()));
        Self::mark(&self.inner, &name, "Starting");
        tokio::time::sleep(behavior.start_delay).await;
        if let Some(e) = behavior.start_error.clone() {
            return Err(e);
        }
        let (sig_tx, mut sig_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = watch::channel(false);
        {
            let mut inner = self.inner.borrow_mut();
            inner.signals.insert((name.clone(), attempt), sig_tx);
            inner
                .running
                .insert((name.clone(), attempt), (Instant::now(), exit_rx));
        }
        Self::mark(&self.inner, &name, "Started");
        let sec = &container.security;
        let _ = self.tx.send(RuntimeEvent::User {
            container: name.clone(),
            attempt,
            user: tandem_kubelet::runtime::ContainerUserIds {
                uid: sec.run_as_user.unwrap_or(0),
                gid: sec.run_as_group.unwrap_or(0),
                supplemental_groups: vec![],
            },
        });
        let inner = Rc::clone(&self.inner);
        let tx = self.tx.clone();
        tokio::task::spawn_local(async move {
            let run = async {
                match behavior.run_for {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(run);
            let (code, signal) = loop {
                tokio::select! {
                    _ = &mut run => break (behavior.exit_code, None),
                    Some(sig) = sig_rx.recv() => match sig {
                        StopSignal::Kill => break (137, Some(9)),
                        StopSignal::Term => {
                            if let Some(d) = behavior.term_after {
                                // Keep listening for SIGKILL while shutting down.
                                tokio::select! {
                                    _ = tokio::time::sleep(d) => break (behavior.term_code, None),
                                    Some(StopSignal::Kill) = sig_rx.recv() => break (137, Some(9)),
                                }
                            }
                        }
                    },
                }
            };
            Self::mark(&inner, &name, "Exiting");
            {
                let mut i = inner.borrow_mut();
                i.signals.remove(&(name.clone(), attempt));
                i.running.remove(&(name.clone(), attempt));
            }
            let _ = exit_tx.send(true);
            let _ = tx.send(RuntimeEvent::Exited {
                container: name,
                attempt,
                exit_code: code,
                signal,
                oom: false,
                at: Instant::now(),
            });
        });
        Ok(Started {
            container_id: format!("fake://{}-{attempt}", container.name),
            image_id: format!("{}@sha256:fake", container.image),
        })
    }

    async fn signal(&self, container: &str, attempt: u32, signal: StopSignal) {
        Self::mark(
            &self.inner,
            container,
            if signal == StopSignal::Kill {
                "SIGKILL"
            } else {
                "SIGTERM"
            },
        );
        let tx = self
            .inner
            .borrow()
            .signals
            .get(&(container.to_string(), attempt))
            .cloned();
        if let Some(tx) = tx {
            let _ = tx.send(signal);
        }
    }

    async fn set_up_volumes(&self) -> Result<(), MountFailure> {
        let missing = self.inner.borrow().volumes_missing_until;
        if missing.is_some_and(|until| Instant::now() < until) {
            Self::mark(&self.inner, "volumes", "FailedMount");
            return Err(MountFailure {
                volume: "config".into(),
                message: "configmap \"app-config\" not found".into(),
            });
        }
        Self::mark(&self.inner, "volumes", "SetUp");
        Ok(())
    }

    async fn resync_volumes(&self, _plan: &tandem_api::plan::PodPlan) -> Result<(), MountFailure> {
        let failing = self.inner.borrow().resync_failing;
        let now = Instant::now();
        if failing.is_some_and(|(from, until)| from <= now && now < until) {
            Self::mark(&self.inner, "volumes", "ResyncFailed");
            return Err(MountFailure {
                volume: "config".into(),
                message: "configmap \"app-config\" not found".into(),
            });
        }
        Self::mark(&self.inner, "volumes", "Resync");
        Ok(())
    }

    async fn recreate_sandbox(&self, attempt: u32) -> Result<Vec<String>, SandboxFailure> {
        Self::mark(&self.inner, "sandbox", "Creating");
        if let Some(m) = self.inner.borrow().sandbox_failures.get(&attempt) {
            return Err(SandboxFailure(m.clone()));
        }
        self.inner.borrow_mut().sandbox_attempt = attempt;
        Self::mark(&self.inner, "sandbox", "Ready");
        // A new address per sandbox, as a CNI plugin hands out.
        Ok(vec![format!("10.88.0.{}", attempt + 2)])
    }

    async fn run_handler(
        &self,
        container: &ContainerPlan,
        attempt: u32,
        kind: HandlerKind,
        handler: &Handler,
        timeout: Option<Duration>,
    ) -> HandlerResult {
        let name = container.name.clone();
        let (script, call, exited) = {
            let mut inner = self.inner.borrow_mut();
            if let Handler::Exec { command } = handler {
                inner.exec_argv.push((name.clone(), kind, command.clone()));
            }
            let Some((since, exited)) = inner.running.get(&(name.clone(), attempt)).cloned() else {
                return HandlerResult::Error(format!("container {name} is not running"));
            };
            let n = inner
                .calls
                .entry((name.clone(), attempt, kind))
                .or_insert(0);
            let call = HandlerCall {
                attempt,
                n: *n,
                uptime: Instant::now() - since,
            };
            *n += 1;
            let script = inner.handlers.get(&(name.clone(), kind)).cloned();
            (script, call, exited)
        };
        let run = script.map_or_else(HandlerScript::ok, |f| f(&call));
        let label = format!("{}-{name}", kind.label());
        Self::mark(&self.inner, &label, "Starting");
        Self::mark(&self.inner, &label, "Started");
        let mut exited = exited;
        let work = async {
            match run.takes {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let limit = async {
            match timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let result = tokio::select! {
            _ = work => run.result,
            _ = limit => HandlerResult::Failure(format!(
                "command timed out after {}s",
                timeout.map_or(0, |t| t.as_secs())
            )),
            _ = exited.wait_for(|e| *e) => HandlerResult::Error(format!("container {name} exited")),
        };
        Self::mark(&self.inner, &label, "Exiting");
        result
    }
}
