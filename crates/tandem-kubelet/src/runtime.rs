//! The seam between the engine and the host.
//!
//! Lifecycle of one container instance, as the engine drives it:
//! 1. [`ContainerRuntime::start`] creates and starts instance `attempt` of a container and returns
//!    once its process runs. The runtime owns everything the instance needs (rootfs, mounts, log
//!    file) and releases it when the instance exits.
//! 2. The runtime reports the exit through the [`RuntimeEvent`] channel it was built with; exits
//!    are delivered, never polled.
//! 3. [`ContainerRuntime::signal`] sends a stop signal to the running instance.

use std::future::Future;

use tandem_api::plan::ContainerPlan;
use tokio::time::Instant;

use crate::sync::StopSignal;

/// Why a start failed, as the kubelet's waiting reasons name it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct StartError {
    /// `CreateContainerConfigError`, `CreateContainerError`, `RunContainerError`, `ErrImageNeverPull`, ...
    pub reason: String,
    pub message: String,
}

/// Something that happened to a container instance, reported by the runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuntimeEvent {
    Exited { container: String, attempt: u32, exit_code: i32, signal: Option<i32>, oom: bool, at: Instant },
}

pub trait ContainerRuntime: 'static {
    fn start(&self, container: &ContainerPlan, attempt: u32) -> impl Future<Output = Result<(), StartError>>;
    fn signal(&self, container: &str, attempt: u32, signal: StopSignal) -> impl Future<Output = ()>;
}
