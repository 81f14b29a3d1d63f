//! What the engine has observed about one pod: one record per container, and whether (and why)
//! the pod is terminating. The driver mutates it from runtime events; the engine only reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use tandem_api::plan::PodPlan;
use tokio::time::Instant;

use crate::backoff::Backoff;

/// How one container instance ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub exit_code: i32,
    /// The signal that killed the process, if any (exit code is then 128 + signal).
    pub signal: Option<i32>,
    /// `Completed`, `Error`, `OOMKilled`, `StartError`, ...
    pub reason: String,
    pub message: Option<String>,
    pub started_at: Option<Instant>,
    pub finished_at: Instant,
}

impl Exit {
    pub fn from_code(exit_code: i32, signal: Option<i32>, oom: bool, started_at: Option<Instant>, finished_at: Instant) -> Self {
        let reason = if oom {
            "OOMKilled"
        } else if exit_code == 0 {
            "Completed"
        } else {
            "Error"
        };
        Exit { exit_code, signal, reason: reason.into(), message: None, started_at, finished_at }
    }
}

/// The runtime state of a container's current instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// Never created in this pod.
    NotCreated,
    /// A start is in flight (image, create, start, postStart).
    Creating { since: Instant },
    Running { since: Instant },
    Exited(Exit),
}

/// How far the stop of a running container has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopping {
    pub term_sent_at: Instant,
    /// When SIGKILL follows if the container is still running.
    pub kill_at: Instant,
    pub kill_sent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRecord {
    pub state: RunState,
    /// Number of times the container was started, this start included; the attempt number of the
    /// current instance is `starts - 1`.
    pub starts: u32,
    /// The previous instance's end (`lastState.terminated`).
    pub last_exit: Option<Exit>,
    /// Why the container is waiting, when it is (`CrashLoopBackOff`, `RunContainerError`, ...).
    pub waiting: Option<(String, String)>,
    pub backoff: Option<Backoff>,
    /// Running and (no startupProbe or it succeeded).
    pub started: bool,
    pub ready: bool,
    pub stopping: Option<Stopping>,
}

impl ContainerRecord {
    pub fn new() -> Self {
        ContainerRecord {
            state: RunState::NotCreated,
            starts: 0,
            last_exit: None,
            waiting: None,
            backoff: None,
            started: false,
            ready: false,
            stopping: None,
        }
    }

    pub fn restart_count(&self) -> u32 {
        self.starts.saturating_sub(1)
    }

    /// Running or on its way to running: it holds resources and must be stopped before the pod ends.
    pub fn is_active(&self) -> bool {
        matches!(self.state, RunState::Creating { .. } | RunState::Running { .. })
    }

    pub fn exit(&self) -> Option<&Exit> {
        match &self.state {
            RunState::Exited(e) => Some(e),
            _ => None,
        }
    }
}

impl Default for ContainerRecord {
    fn default() -> Self {
        Self::new()
    }
}

/// Why the pod is being torn down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationReason {
    /// `tandem delete`, Ctrl-C or SIGTERM in the foreground.
    Deleted,
    /// Every main container finished and none will restart (restartPolicy Never/OnFailure).
    Completed,
    /// A regular init container failed under restartPolicy Never.
    InitFailed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termination {
    pub reason: TerminationReason,
    pub started_at: Instant,
    /// The whole pod's grace budget (deletion grace period, or terminationGracePeriodSeconds).
    pub grace: Duration,
}

impl Termination {
    pub fn deadline(&self) -> Instant {
        self.started_at + self.grace
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub containers: BTreeMap<String, ContainerRecord>,
    pub termination: Option<Termination>,
}

impl Observed {
    pub fn new(plan: &PodPlan) -> Self {
        Observed {
            containers: plan.all_containers().map(|c| (c.name.clone(), ContainerRecord::new())).collect(),
            termination: None,
        }
    }

    /// The record of a container the plan names. Records exist for every planned container.
    pub fn get(&self, name: &str) -> &ContainerRecord {
        static EMPTY: std::sync::OnceLock<ContainerRecord> = std::sync::OnceLock::new();
        self.containers.get(name).unwrap_or_else(|| EMPTY.get_or_init(ContainerRecord::new))
    }

    pub fn get_mut(&mut self, name: &str) -> &mut ContainerRecord {
        self.containers.entry(name.to_string()).or_default()
    }

    /// The kubelet's `podHasInitialized`: some main container has been created.
    pub fn pod_has_initialized(&self, plan: &PodPlan) -> bool {
        plan.containers.iter().any(|c| self.get(&c.name).starts > 0)
    }
}
