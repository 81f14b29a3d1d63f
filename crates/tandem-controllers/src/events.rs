//! The events the controllers record, as kube-controller-manager's controllers record them
//! (`kubectl get events`): what was made and deleted, a Deployment's scaling of its ReplicaSets,
//! how a Job ended.

use k8s_openapi::api::apps::v1::ReplicaSet;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tandem_api::WorkloadKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

/// The controllers' event reasons that tandem records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventReason {
    SuccessfulCreate,
    FailedCreate,
    SuccessfulDelete,
    ScalingReplicaSet,
    Completed,
    BackoffLimitExceeded,
    DeadlineExceeded,
    /// A Job failed by a rule of its `podFailurePolicy`.
    PodFailurePolicy,
    SuspendedJob,
}

impl std::fmt::Display for EventReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// One event, about the workload or one of its ReplicaSets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadEvent {
    /// Microseconds since the Unix epoch.
    pub time_us: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub reason: EventReason,
    pub message: String,
    /// The object it is about: `Deployment`, `ReplicaSet`, `Job`, …
    pub object_kind: String,
    pub object_name: String,
    /// The controller that recorded it (`replicaset-controller`, `job-controller`, …).
    pub source: String,
}

/// The component name of a kind's controller, as events' `source` says it.
pub fn source_of(kind: &str) -> String {
    format!("{}-controller", kind.to_ascii_lowercase())
}

impl WorkloadEvent {
    fn new(
        kind: EventType,
        reason: EventReason,
        message: String,
        object: (&str, &str),
        time_us: i64,
    ) -> Self {
        WorkloadEvent {
            time_us,
            kind,
            reason,
            message,
            object_kind: object.0.to_string(),
            object_name: object.1.to_string(),
            source: source_of(object.0),
        }
    }

    /// `Created pod: NAME` (or `Created job: NAME` for a CronJob), by the object that owns it.
    pub fn created(owner: (&str, &str), what: &str, name: &str, time_us: i64) -> Self {
        let message = format!("Created {what}: {name}");
        Self::new(
            EventType::Normal,
            EventReason::SuccessfulCreate,
            message,
            owner,
            time_us,
        )
    }

    /// `Error creating: …`, a warning.
    pub fn failed_create(owner: (&str, &str), error: &str, time_us: i64) -> Self {
        let message = format!("Error creating: {error}");
        Self::new(
            EventType::Warning,
            EventReason::FailedCreate,
            message,
            owner,
            time_us,
        )
    }

    /// `Deleted pod: NAME`.
    pub fn deleted(owner: (&str, &str), what: &str, name: &str, time_us: i64) -> Self {
        let message = format!("Deleted {what}: {name}");
        Self::new(
            EventType::Normal,
            EventReason::SuccessfulDelete,
            message,
            owner,
            time_us,
        )
    }
}

/// A Deployment's scaling of its ReplicaSets between two looks: `Scaled up replica set
/// web-7d4b9c8f5 from 0 to 3` (the Deployment controller's words).
pub fn scaling(
    deployment: &str,
    before: &[ReplicaSet],
    after: &[ReplicaSet],
    time_us: i64,
) -> Vec<WorkloadEvent> {
    let wanted = |sets: &[ReplicaSet], name: &str| {
        sets.iter()
            .find(|rs| rs.metadata.name.as_deref() == Some(name))
            .and_then(|rs| rs.spec.replicas)
            .unwrap_or(0)
    };
    after
        .iter()
        .filter_map(|rs| {
            let name = rs.metadata.name.as_deref()?;
            let (from, to) = (wanted(before, name), wanted(after, name));
            let direction = match to.cmp(&from) {
                std::cmp::Ordering::Greater => "up",
                std::cmp::Ordering::Less => "down",
                std::cmp::Ordering::Equal => return None,
            };
            Some(WorkloadEvent::new(
                EventType::Normal,
                EventReason::ScalingReplicaSet,
                format!("Scaled {direction} replica set {name} from {from} to {to}"),
                ("Deployment", deployment),
                time_us,
            ))
        })
        .collect()
}

/// How a Job's status changed between two looks, as the Job controller reports it: completed,
/// failed (with its reason), suspended.
pub fn job_transitions(
    job: &str,
    before: &Value,
    after: &Value,
    time_us: i64,
) -> Vec<WorkloadEvent> {
    let has = |status: &Value, t: &str| -> Option<Value> {
        status["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == t && c["status"] == "True")
            .cloned()
    };
    let mut out = vec![];
    for (condition, kind) in [
        ("Complete", EventType::Normal),
        ("Failed", EventType::Warning),
        ("Suspended", EventType::Normal),
    ] {
        let Some(c) = has(after, condition).filter(|_| has(before, condition).is_none()) else {
            continue;
        };
        let message = c["message"].as_str().unwrap_or_default().to_string();
        let (reason, message) = match condition {
            "Complete" => (EventReason::Completed, "Job completed".to_string()),
            "Suspended" => (EventReason::SuspendedJob, "Job suspended".to_string()),
            // A failure's event is its condition's reason and message.
            _ => match c["reason"].as_str().and_then(crate::job::JobReason::parse) {
                Some(crate::job::JobReason::DeadlineExceeded) => {
                    (EventReason::DeadlineExceeded, message)
                }
                Some(crate::job::JobReason::PodFailurePolicy) => {
                    (EventReason::PodFailurePolicy, message)
                }
                _ => (EventReason::BackoffLimitExceeded, message),
            },
        };
        out.push(WorkloadEvent::new(
            kind,
            reason,
            message,
            ("Job", job),
            time_us,
        ));
    }
    out
}

/// Who a pod's creation and deletion events name: the ReplicaSet for a Deployment's pods, else
/// the workload.
pub fn pod_event_owner(
    kind: WorkloadKind,
    workload: &str,
    pod_owner_rs: Option<&str>,
) -> (String, String) {
    match (kind, pod_owner_rs) {
        (WorkloadKind::Deployment, Some(rs)) => ("ReplicaSet".into(), rs.into()),
        _ => (kind.name().into(), workload.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str, replicas: i32) -> ReplicaSet {
        let mut r = ReplicaSet::default();
        r.metadata.name = Some(name.into());
        r.spec.replicas = Some(replicas);
        r
    }

    #[test]
    fn a_deployment_says_how_it_scaled_its_replicasets() {
        let e = scaling(
            "web",
            &[rs("web-a", 3)],
            &[rs("web-b", 1), rs("web-a", 2)],
            5,
        );
        let messages: Vec<&str> = e.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "Scaled up replica set web-b from 0 to 1",
                "Scaled down replica set web-a from 3 to 2"
            ]
        );
        assert!(e
            .iter()
            .all(|e| e.object_kind == "Deployment" && e.source == "deployment-controller"));
        assert!(scaling("web", &[rs("web-a", 3)], &[rs("web-a", 3)], 5).is_empty());
    }

    #[test]
    fn a_jobs_end_is_reported_once() {
        let done = serde_json::json!({"conditions": [{"type": "Complete", "status": "True"}]});
        let failed = serde_json::json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]});
        let none = serde_json::json!({});
        let e = job_transitions("pi", &none, &done, 1);
        assert_eq!(
            (e.len(), e[0].reason, e[0].message.as_str()),
            (1, EventReason::Completed, "Job completed")
        );
        assert!(job_transitions("pi", &done, &done, 2).is_empty());
        let f = job_transitions("pi", &none, &failed, 1);
        assert_eq!(
            (f[0].kind, f[0].reason),
            (EventType::Warning, EventReason::BackoffLimitExceeded)
        );
    }
}
