//! The Linux container runtime: namespaces, mounts, processes, cgroups.
//!
//! Owns: the pod sandbox (a pause process holding the pod's network, IPC and UTS namespaces), the
//! shim that creates one container through youki's embedded `libcontainer` from a single-threaded
//! process and hands it over, the supervisor's side of being its containers' parent, mount helpers for the supervisor's private mount namespace, signals,
//! and cgroup clean-up. It is handed OCI specs and mount descriptions as data.
//!
//! Never: knows what a Pod, a probe or an image format is; parses YAML; decides anything about a
//! lifecycle. This is the only crate of the workspace allowed `unsafe`, and every block says why
//! it is sound.
//!
//! Layout: `helper` (the typed command lines of the helper processes, both ends), `sandbox`
//! (pause process), `reaper` (the subreaper: pidfds of container inits, strangers reaped),
//! `shim` (`tandem __shim`: create and start; the parent's take-over, wait and delete),
//! `exec` (`tandem __exec`: a command inside a running container with the container's own
//! credentials and filters, for exec probes, hooks and `tandem exec`; its pseudo-terminals),
//! `passfd` (descriptors sent over a unix socket), `fdio` (descriptors read and written from async code), `netns` (connections from inside a pod's
//! network namespace),
//! `netprobe` (`tandem __netprobe`: httpGet (HTTP and HTTPS), tcpSocket and gRPC health checks
//! from inside a pod's network namespace), `mounts` (mount namespace and mount calls), `process`
//! (signals; killing whatever still holds a pipe), `cgroups`, `fault` (`TANDEM_FAULT`: kill -9 at a named point, for tests).

pub mod cgroups;
pub mod exec;
pub mod fault;
pub mod fdio;
pub mod helper;
pub mod mounts;
pub mod netns;
pub mod netprobe;
pub mod passfd;
pub mod process;
pub mod reaper;
pub mod sandbox;
pub mod shim;
pub mod userns;

pub use tandem_errors::{error_chain, ErrorKind};
