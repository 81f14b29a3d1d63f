//! Kubernetes manifests in, validated [`plan::PodPlan`]s out.
//!
//! Owns: reading YAML/JSON into the Kubernetes API types, locating every problem at file:line:col
//! with its field path, the API server's validation and defaults, and the plan the engine runs.
//! Never: touches the filesystem, the network, the clock or a container.

pub mod plan;
