//! One pod's supervisor process (`tandem __supervise POD_DIR`), in the shape of containerd's shim
//! and podman's conmon: it owns the pod from sandbox to teardown.
//!
//! Owns: the pod's private mount namespace, sandbox and volumes; the lifecycle engine's driver
//! wired to real containers ([`linux::LinuxRuntime`]); the control socket; the pod's status file,
//! event log and container logs in its state directory ([`statedir`]).
//!
//! Never: parses the command line or prints tables (the `tandem` binary does); decides lifecycle
//! rules (the engine does).
//!
//! Layout: `statedir` (paths), `translate` (plan → OCI spec, pure), `volumes` (with
//! `atomic_writer`, the layout that lets file volumes change under running containers, and
//! `tokens`, the service-account tokens of projected volumes), `users`, `devices` (the host's nodes for privileged containers), `logs`
//! (CRI format), `linux` (the runtime adapter), `network` (CNI attach/detach, published ports), `sandbox` (the pause process watched and
//! replaced, §2.3), `proto` + `server` (control socket), `attach` (a container's own streams for attach clients), `supervise`
//! (the process's main), `storage` (local-storage measurement for eviction), `proxy` (starting the store's proxy,
//! which serves its pods' cluster DNS).

pub mod atomic_writer;
pub mod attach;
pub mod devices;
pub mod etc_files;
pub mod linux;
pub mod logs;
pub mod network;
pub mod proto;
pub mod proxy;
pub mod sandbox;
pub mod seccomp;
pub mod server;
pub mod statedir;
pub mod storage;
pub mod supervise;
pub mod tokens;
pub mod translate;
pub mod users;
pub mod volumes;
