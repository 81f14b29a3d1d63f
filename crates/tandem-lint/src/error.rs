//! What can go wrong with the inputs of this crate.

/// An input that cannot be used as given.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// A `--disable` entry that names no rule.
    #[error("unknown lint rule {0:?}")]
    UnknownRule(String),
    /// Manifest validation (TND000) cannot be switched off.
    #[error("rule {0} (manifest validation) cannot be disabled")]
    NotDisableable(String),
    #[error("invalid Kubernetes version {0:?}: expected MAJOR.MINOR, e.g. 1.33")]
    KubeVersion(String),
    /// `pod.json` does not hold a v1 Pod.
    #[error("pod.json is not a v1 Pod: {0}")]
    PodJson(String),
}
