//! The lifecycle engine: the kubelet's rules for one pod, as data.
//!
//! Owns: the order in which init containers, native sidecars and main containers start; restart
//! policy and CrashLoopBackOff; termination ordering and grace periods; pod phase, conditions and
//! container statuses; the events that explain each decision.
//!
//! Never: touches the kernel, the filesystem, a socket or an image. [`sync::compute_actions`] is a
//! pure function of (plan, observed state, now); [`driver::Driver`] is the thin async loop that feeds
//! it observations and hands its [`sync::Action`]s to a [`runtime::ContainerRuntime`]. All timing
//! goes through `tokio::time`, so the engine runs in paused virtual time under test.
//!
//! Layout: `backoff` (CrashLoopBackOff arithmetic), `state` (what the engine has observed), `sync`
//! (the decision function), `probe` (probe thresholds), `status` (phase, conditions, kubectl
//! columns), `runtime` (the seam), `sandbox`
//! (the pod sandbox's loss and re-creation, and the in-place restart of every container that
//! reuses it),
//! `driver` (the loop), `fake` (a scripted runtime for tests).

pub mod backoff;
pub mod driver;
pub mod events;
pub mod fake;
pub mod probe;
pub mod resources;
pub mod runtime;
pub mod sandbox;
pub mod state;
pub mod status;
pub mod sync;
