//! The lifecycle engine: the kubelet's rules for one pod, as data.
//!
//! Owns: the order in which init containers, native sidecars and main containers start; restart
//! policy and CrashLoopBackOff; termination ordering and grace periods; pod phase, conditions and
//! container statuses; the events that explain each decision.
//!
//! Never: touches the kernel, the filesystem, a socket or an image. [`sync::compute_actions`] is a
//! pure function of (plan, observed state, now); [`driver::Driver`] is the thin async loop that feeds
//! it observations and hands its [`action::Action`]s to a [`runtime::ContainerRuntime`]. All timing
//! goes through `tokio::time`, so the engine runs in paused virtual time under test.
//!
//! Reading order (each module uses only those before it): `admission` (whether the node runs the
//! pod at all), `backoff` (CrashLoopBackOff arithmetic), `runtime` (the seam: what the engine asks
//! of a runtime and what it hears back), `probe` (probe results against their thresholds), `state`
//! (what the engine has observed, and every change to it), `events` (the records that explain each
//! decision), `action` (what the engine decides, as data), `rules` (the per-container restart and
//! grace rules), `sandbox` (the decisions when the sandbox is lost or every container restarts in
//! place), `sync` (the decision function), `resources` and `status` (the pod's status as the API
//! shows it), `driver` (the loop that carries decisions out). The scripted runtime the engine is
//! tested against lives with the tests (`tests/support/fake.rs`), outside the product.

pub mod action;
pub mod admission;
pub mod backoff;
pub mod driver;
pub mod events;
pub mod probe;
pub mod resources;
pub mod rules;
pub mod runtime;
pub mod sandbox;
pub mod state;
pub mod status;
pub mod sync;
