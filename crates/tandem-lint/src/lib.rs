//! Seeing a multi-container Pod before and after it runs: the logic behind `tandem lint`,
//! `tandem graph` and `tandem timeline`.
//!
//! Owns:
//! - the lint rules ([`rules::RULES`], stable `TNDnnn` ids) for the classic multi-container mistakes
//!   and a Service that selects nothing or names a port no container has
//!   (helpers that start after or stop before the app, undeclared localhost ports, shared volumes
//!   without `fsGroup`, ...) and their located findings with a concrete fix ([`lint::lint`]), rendered
//!   rustc-style, as JSON or as SARIF 2.1.0 ([`report`]);
//! - the pod's topology as tandem understands it — roles, shared volumes, declared ports, localhost
//!   edges inferred from env, args and probes, external endpoints ([`topology`]) — and its drawings
//!   in Mermaid, DOT and SVG ([`graph`]);
//! - the timeline of a recorded run from its events and final status ([`timeline`]), drawn as SVG
//!   or a self-contained HTML page.
//!
//! Never: reads or writes files, talks to the network, reads the clock, or starts anything. Callers
//! hand in manifest text, `pod.json`/`events.jsonl` contents and the current time; everything here
//! is a pure function of its inputs, so the same input gives byte-identical output.

pub mod error;
pub mod graph;
pub mod lint;
pub mod report;
pub mod rules;
mod svg;
pub mod timeline;
pub mod topology;
mod yamlout;

pub use error::Error;
pub use lint::{lint, Finding, Fix, LintOptions};
pub use rules::{KubeVersion, Rule, Severity, RULES};
