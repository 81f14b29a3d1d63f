//! A scripted [`ContainerRuntime`] for engine tests in paused time: each container follows a
//! [`Behavior`] per attempt, and every start, signal and exit is written to a marker log like the
//! one the kubelet's own e2e tests read (§7.0).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use tandem_api::plan::ContainerPlan;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::runtime::{ContainerRuntime, RuntimeEvent, StartError};
use crate::sync::StopSignal;

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
}

impl Behavior {
    /// Runs until told to stop and stops at once on SIGTERM.
    pub fn serve() -> Self {
        Behavior { run_for: None, exit_code: 0, term_after: Some(Duration::ZERO), start_delay: Duration::ZERO, start_error: None }
    }

    /// Exits with `code` after `after`.
    pub fn exit(after: Duration, code: i32) -> Self {
        Behavior { run_for: Some(after), exit_code: code, ..Behavior::serve() }
    }

    pub fn ignoring_term(mut self) -> Self {
        self.term_after = None;
        self
    }

    pub fn term_after(mut self, d: Duration) -> Self {
        self.term_after = Some(d);
        self
    }
}

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
    log: Vec<Mark>,
}

pub struct FakeRuntime {
    tx: mpsc::UnboundedSender<RuntimeEvent>,
    inner: Rc<RefCell<Inner>>,
}

impl FakeRuntime {
    pub fn new(tx: mpsc::UnboundedSender<RuntimeEvent>) -> Self {
        FakeRuntime { tx, inner: Rc::default() }
    }

    /// Sets the behaviour of a container's attempts; the last one repeats.
    pub fn script(&self, container: &str, attempts: Vec<Behavior>) {
        self.inner.borrow_mut().scripts.insert(container.to_string(), attempts);
    }

    pub fn marks(&self) -> Vec<Mark> {
        self.inner.borrow().log.clone()
    }

    fn mark(inner: &Rc<RefCell<Inner>>, container: &str, what: &str) {
        inner.borrow_mut().log.push(Mark { at: Instant::now(), container: container.to_string(), what: what.to_string() });
    }
}

impl ContainerRuntime for FakeRuntime {
    async fn start(&self, container: &ContainerPlan, attempt: u32) -> Result<(), StartError> {
        let behavior = {
            let inner = self.inner.borrow();
            let script = inner.scripts.get(&container.name);
            script
                .and_then(|s| s.get(attempt as usize).or(s.last()))
                .cloned()
                .unwrap_or_else(Behavior::serve)
        };
        let name = container.name.clone();
        Self::mark(&self.inner, &name, "Starting");
        tokio::time::sleep(behavior.start_delay).await;
        if let Some(e) = behavior.start_error.clone() {
            return Err(e);
        }
        let (sig_tx, mut sig_rx) = mpsc::unbounded_channel();
        self.inner.borrow_mut().signals.insert((name.clone(), attempt), sig_tx);
        Self::mark(&self.inner, &name, "Started");
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
                                    _ = tokio::time::sleep(d) => break (0, None),
                                    Some(StopSignal::Kill) = sig_rx.recv() => break (137, Some(9)),
                                }
                            }
                        }
                    },
                }
            };
            Self::mark(&inner, &name, "Exiting");
            inner.borrow_mut().signals.remove(&(name.clone(), attempt));
            let _ = tx.send(RuntimeEvent::Exited { container: name, attempt, exit_code: code, signal, oom: false, at: Instant::now() });
        });
        Ok(())
    }

    async fn signal(&self, container: &str, attempt: u32, signal: StopSignal) {
        Self::mark(&self.inner, container, if signal == StopSignal::Kill { "SIGKILL" } else { "SIGTERM" });
        let tx = self.inner.borrow().signals.get(&(container.to_string(), attempt)).cloned();
        if let Some(tx) = tx {
            let _ = tx.send(signal);
        }
    }
}
