//! The seam between the engine and the host.
//!
//! Lifecycle of one container instance, as the engine drives it:
//! 1. [`ContainerRuntime::start`] creates and starts instance `attempt` of a container and returns
//!    once its process runs. The runtime owns everything the instance needs (rootfs, mounts, log
//!    file) and releases it when the instance exits.
//! 2. The runtime reports the exit through the [`RuntimeEvent`] channel it was built with; exits
//!    are delivered, never polled.
//! 3. [`ContainerRuntime::signal`] sends a stop signal to the running instance.
//! 4. [`ContainerRuntime::run_handler`] runs a probe or a lifecycle hook against the running
//!    instance: `exec` inside the container, `httpGet` and `tcpSocket` from inside the pod's
//!    network namespace. The engine decides when; the runtime only carries it out and reports.
//!
//! The pod sandbox (§2.3) exists before the engine starts, as attempt 0. When it dies the runtime
//! reports [`RuntimeEvent::SandboxLost`]; once every container has stopped, the engine may ask for
//! a new one with [`ContainerRuntime::recreate_sandbox`].

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use tandem_api::plan::{ContainerPlan, Handler, PodPlan};
use tokio::time::Instant;

/// How the engine asks a running instance to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// The container's stop signal: `lifecycle.stopSignal`, else the image's STOPSIGNAL, else
    /// SIGTERM. The runtime resolves it, since only the runtime knows the image.
    Term,
    Kill,
}

/// Local ephemeral storage in use, in bytes of allocated blocks (as `du` counts them), as the
/// runtime last measured it. What the kubelet's summary stats give its eviction manager.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StorageUsage {
    /// Disk-backed emptyDir volumes, by volume name.
    pub empty_dirs: BTreeMap<String, u64>,
    /// Per container: the writable layer of its current instance plus all its log files.
    pub containers: BTreeMap<String, u64>,
}

/// Why a start failed, as the kubelet's waiting reasons name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct StartError {
    pub reason: StartFailure,
    pub message: String,
}

impl StartError {
    pub fn new(reason: StartFailure, message: impl Into<String>) -> Self {
        StartError {
            reason,
            message: message.into(),
        }
    }
}

/// The kubelet's reasons for a failed start. What the engine does next depends on which: a
/// failure that made no container counts no restart, and a failed pull waits out the image
/// back-off (see [`crate::state::NotCreated`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartFailure {
    /// The image could not be pulled (or is not in the store and the policy allows a pull).
    ErrImagePull,
    /// The image is not in the store and `imagePullPolicy: Never` forbids a pull.
    ErrImageNeverPull,
    /// The image reference does not parse.
    InvalidImageName,
    /// The container's configuration could not be built (a missing key, an unknown user).
    CreateContainerConfigError,
    /// The runtime could not create the container.
    CreateContainerError,
    /// The container was created but could not be started.
    RunContainerError,
}

impl StartFailure {
    /// The reason as the kubelet writes it in a waiting state and an event.
    pub const fn as_str(self) -> &'static str {
        match self {
            StartFailure::ErrImagePull => "ErrImagePull",
            StartFailure::ErrImageNeverPull => "ErrImageNeverPull",
            StartFailure::InvalidImageName => "InvalidImageName",
            StartFailure::CreateContainerConfigError => "CreateContainerConfigError",
            StartFailure::CreateContainerError => "CreateContainerError",
            StartFailure::RunContainerError => "RunContainerError",
        }
    }

    /// Whether the start left no container behind: only `RunContainerError` made one (which
    /// then counts as an exited container).
    pub const fn made_no_container(self) -> bool {
        !matches!(self, StartFailure::RunContainerError)
    }
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something that happened to a container instance, reported by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    Exited {
        container: String,
        attempt: u32,
        exit_code: i32,
        signal: Option<i32>,
        oom: bool,
        at: Instant,
    },
    /// A local-storage measurement of the pod (§4.1 eviction), taken periodically by runtimes
    /// whose pod has an emptyDir `sizeLimit` or an `ephemeral-storage` limit to check.
    LocalStorage(StorageUsage),
    /// Sandbox `attempt` is gone (its pause process died): no container can be created in it.
    SandboxLost { attempt: u32 },
    /// The identity instance `attempt` of a container runs with, once the runtime has resolved
    /// it (image USER, runAsUser/Group, supplementalGroups and the policy's image groups, fsGroup):
    /// `containerStatuses[].user.linux` (KEP-3619).
    User {
        container: String,
        attempt: u32,
        user: ContainerUserIds,
    },
}

/// The ids a container process runs with, as the runtime resolved them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerUserIds {
    pub uid: u32,
    pub gid: u32,
    pub supplemental_groups: Vec<u32>,
}

/// Why one of the pod's volumes could not be set up: the volume and the cause, displayed as the
/// kubelet's `FailedMount` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("MountVolume.SetUp failed for volume {volume:?} : {message}")]
pub struct MountFailure {
    pub volume: String,
    pub message: String,
}

/// Why a new sandbox could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SandboxFailure(pub String);

/// What a handler runs for; runtimes use it to name the run in logs and marker files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandlerKind {
    PostStart,
    PreStop,
    Startup,
    Liveness,
    Readiness,
}

impl HandlerKind {
    /// `PostStart`, `PreStop`, `Startup`, `Liveness`, `Readiness` (the e2e harness's prefixes).
    pub fn label(self) -> &'static str {
        match self {
            HandlerKind::PostStart => "PostStart",
            HandlerKind::PreStop => "PreStop",
            HandlerKind::Startup => "Startup",
            HandlerKind::Liveness => "Liveness",
            HandlerKind::Readiness => "Readiness",
        }
    }
}

/// How one handler run went, in the prober's terms (§3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandlerResult {
    Success,
    /// Success, with something the user should know (an HTTP redirect to another host).
    Warning(String),
    /// The check failed: non-zero exit, timeout, bad HTTP status, refused connection.
    Failure(String),
    /// The check could not be carried out at all; the prober discards such results.
    Error(String),
}

/// What a start made, as the container's status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Started {
    /// The instance's id with the runtime's scheme (`tandem://…`, as `containerd://…`).
    pub container_id: String,
    /// The image it runs, by repository and digest (`docker.io/library/busybox@sha256:…`).
    pub image_id: String,
}

pub trait ContainerRuntime: 'static {
    fn start(
        &self,
        container: &ContainerPlan,
        attempt: u32,
    ) -> impl Future<Output = Result<Started, StartError>>;
    fn signal(&self, container: &str, attempt: u32, signal: StopSignal)
        -> impl Future<Output = ()>;
    /// Runs an `exec`, `httpGet`, `tcpSocket` or `grpc` handler against instance `attempt` of
    /// `container` (`sleep` handlers never reach the runtime). `timeout` bounds the run; `None`
    /// waits as long as it takes (exec hooks have no timeout, §1.6).
    fn run_handler(
        &self,
        container: &ContainerPlan,
        attempt: u32,
        kind: HandlerKind,
        handler: &Handler,
        timeout: Option<Duration>,
    ) -> impl Future<Output = HandlerResult>;
    /// Sets up the volumes that are set up late (`VolumeSource::set_up_late`: those awaiting
    /// their ConfigMaps and Secrets, image volumes; the kubelet's `WaitForAttachAndMount` and
    /// image volume pulls); called until it succeeds, before any container of the pod is
    /// created. A volume set up once stays so; the first that cannot be yet is the error.
    fn set_up_volumes(&self) -> impl Future<Output = Result<(), MountFailure>>;
    /// Writes the pod's file volumes again where what they project changed (§6.9: a
    /// ConfigMap's or Secret's keys in the store, `plan`'s labels and annotations), each as one
    /// atomic change; a volume that cannot be made now keeps its files, and the first such is
    /// the error.
    fn resync_volumes(&self, plan: &PodPlan) -> impl Future<Output = Result<(), MountFailure>>;
    /// Replaces the lost sandbox with sandbox `attempt`, made as the first one was, once every
    /// container of the pod has stopped; returns the pod's new addresses (`status.podIPs`, IPv4
    /// first; empty without a pod network). On failure nothing of the new sandbox is left.
    fn recreate_sandbox(
        &self,
        attempt: u32,
    ) -> impl Future<Output = Result<Vec<String>, SandboxFailure>>;
}
