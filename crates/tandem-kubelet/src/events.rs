//! Event records: every decision the engine acts on, with the kubelet's reason strings. They are
//! kept in the pod's state directory and feed `tandem get events` and the timeline.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodEvent {
    /// Microseconds since the Unix epoch.
    pub time_us: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    /// `Created`, `Started`, `Killing`, `BackOff`, ...
    pub reason: String,
    pub message: String,
    /// The container the event is about (`spec.containers{name}` in kubectl's words); `None` for the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The container instance (0 for the first start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// Machine-readable detail for the timeline: exit code, signal, phase.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub details: serde_json::Map<String, serde_json::Value>,
}
