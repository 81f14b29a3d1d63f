//! What a controller sees and what it decides, as data: the pods it owns, and the pods to create
//! or delete.

use k8s_openapi::api::core::v1::Pod;

/// Whether a pod's `Ready` condition is true.
pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// A pod's phase as the controllers read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
    /// Its supervisor is gone: neither running nor finished.
    Unknown,
}

impl Phase {
    pub fn parse(phase: &str) -> Phase {
        match phase {
            "Running" => Phase::Running,
            "Succeeded" => Phase::Succeeded,
            "Failed" => Phase::Failed,
            "Pending" => Phase::Pending,
            _ => Phase::Unknown,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Succeeded | Phase::Failed)
    }
}

/// One pod the workload owns, as its status says.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedPod {
    pub name: String,
    pub phase: Phase,
    /// The Ready condition is True.
    pub ready: bool,
    /// Microseconds since the epoch at which Ready last became True (for `minReadySeconds`).
    pub ready_since_us: Option<i64>,
    /// Microseconds since the epoch at which the pod was created.
    pub created_us: i64,
    /// Microseconds since the epoch at which its last container ended, for a finished pod.
    pub finished_us: Option<i64>,
    /// Being deleted (its grace period running): counted neither as active nor as finished.
    pub deleting: bool,
    /// The index a StatefulSet ordinal or an Indexed Job's completion index gives the pod.
    pub index: Option<i32>,
    /// The uid of its controller (`ownerReferences[].uid` with `controller: true`): for a
    /// Deployment's pods, the ReplicaSet that made them.
    pub owner_uid: String,
    /// Its `controller-revision-hash` label: the template revision a StatefulSet or DaemonSet
    /// made it from.
    pub revision: Option<String>,
    /// Restarts of its containers, summed (the ReplicaSet controller deletes the most
    /// restarted of equal pods first).
    pub restarts: i32,
    /// The exit codes of its containers that ended, main containers first, then init
    /// containers, as (container, code): what a Job's `podFailurePolicy` reads.
    pub exits: Vec<(String, i32)>,
    /// Its conditions as (type, status): `DisruptionTarget`, say, for a `podFailurePolicy`.
    pub conditions: Vec<(String, String)>,
}

impl OwnedPod {
    /// Counted by the controllers as one of the workload's current pods.
    pub fn is_active(&self) -> bool {
        !self.deleting && !self.phase.is_terminal()
    }

    /// Ready for at least `min_ready_seconds` at `now_us`.
    pub fn is_available(&self, min_ready_seconds: i32, now_us: i64) -> bool {
        self.ready
            && self
                .ready_since_us
                .is_none_or(|since| now_us - since >= i64::from(min_ready_seconds) * 1_000_000)
    }
}

/// What a controller asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this pod (named, labelled and owned).
    Create(Box<Pod>),
    /// Delete this pod gracefully.
    Delete(String),
}

/// The outcome of one look at a workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub actions: Vec<Action>,
    /// The workload's `status`, as the API type's JSON.
    pub status: serde_json::Value,
    /// A Deployment's ReplicaSets, the current one first (empty for the other kinds): the
    /// next look gets them back.
    pub replica_sets: Vec<k8s_openapi::api::apps::v1::ReplicaSet>,
    /// A finished Job whose `ttlSecondsAfterFinished` has passed: the adapter deletes it (and
    /// its pods), as the TTL-after-finished controller does.
    pub expired: bool,
    /// When to look again at the latest, in microseconds since the epoch, if something is
    /// waiting on the clock (a Job's back-off, `minReadySeconds`); pod changes wake the
    /// controller anyway.
    pub wake_at_us: Option<i64>,
}
