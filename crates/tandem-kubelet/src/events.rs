//! Event records: every decision the engine acts on, with the kubelet's reason strings. They are
//! kept in the pod's state directory and feed `tandem get events` and the timeline, which reads
//! back the same [`EventDetails`] the driver wrote.

use serde::{Deserialize, Serialize};

use crate::probe::{ProbeKind, ProbeResult};
use crate::state::KillReason;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    Normal,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PodEvent {
    /// Microseconds since the Unix epoch.
    pub time_us: i64,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub reason: EventReason,
    pub message: String,
    /// The container the event is about (`spec.containers{name}` in kubectl's words); `None` for the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The container instance (0 for the first start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    /// What the timeline draws from the event, beyond its reason and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<EventDetails>,
}

/// The kubelet's event reasons, as `kubectl get events` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventReason {
    Created,
    Started,
    /// The container's process ended (tandem's own: the kubelet shows it in the status only).
    Exited,
    Killing,
    /// A container waits out its restart back-off, or an image its pull back-off.
    BackOff,
    /// A start failed.
    Failed,
    /// A probe failed or could not run.
    Unhealthy,
    ProbeWarning,
    /// A probe's published result changed (tandem's own, for the timeline).
    ProbeResult,
    FailedPostStartHook,
    FailedPreStopHook,
    DeadlineExceeded,
    Evicted,
    SandboxChanged,
    FailedCreatePodSandBox,
    /// A volume could not be set up (its ConfigMap or Secret is missing, its image cannot be
    /// had).
    FailedMount,
    /// Admission refused the pod for a sysctl ([`crate::admission::RejectReason`]).
    SysctlForbidden,
}

impl std::fmt::Display for EventReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Machine-readable detail of an event. Each kind has its own required fields, so a record reads
/// back as the kind it was written as (the JSON carries no tag: `{"exitCode": 0, ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EventDetails {
    /// `Exited`: how the instance ended.
    #[serde(rename_all = "camelCase")]
    Exit {
        exit_code: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
        /// `Completed`, `Error`, `OOMKilled`.
        reason: String,
    },
    /// `Killing` as the stop begins: why, and the grace period it has.
    #[serde(rename_all = "camelCase")]
    Kill {
        grace_period_seconds: f64,
        kill_reason: KillReason,
    },
    /// `Killing` once the grace period is over.
    ForceKill { signal: ForcedSignal },
    /// `ProbeResult`: a probe's published result changed.
    Probe {
        probe: ProbeKind,
        result: ProbeResult,
    },
}

/// The signal of a forced kill: always SIGKILL, named as the timeline shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForcedSignal {
    #[allow(clippy::upper_case_acronyms)]
    SIGKILL,
}

impl std::fmt::Display for EventDetails {
    /// `key=value` pairs in key order, as the events table shows them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventDetails::Exit {
                exit_code,
                signal,
                reason,
            } => {
                write!(f, "exitCode={exit_code}, reason={reason}")?;
                match signal {
                    Some(s) => write!(f, ", signal={s}"),
                    None => Ok(()),
                }
            }
            EventDetails::Kill {
                grace_period_seconds,
                kill_reason,
            } => write!(
                f,
                "gracePeriodSeconds={grace_period_seconds:?}, killReason={kill_reason:?}"
            ),
            EventDetails::ForceKill { signal } => write!(f, "signal={signal:?}"),
            EventDetails::Probe { probe, result } => {
                write!(f, "probe={}, result={result:?}", probe.label())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind reads back as itself from the JSON the driver writes, and the JSON keeps the
    /// shape event files have always had.
    #[test]
    fn details_read_back_as_the_kind_they_were_written_as() {
        let rows = [
            (
                EventDetails::Exit {
                    exit_code: 137,
                    signal: Some(9),
                    reason: "Error".into(),
                },
                r#"{"exitCode":137,"signal":9,"reason":"Error"}"#,
            ),
            (
                EventDetails::Exit {
                    exit_code: 0,
                    signal: None,
                    reason: "Completed".into(),
                },
                r#"{"exitCode":0,"reason":"Completed"}"#,
            ),
            (
                EventDetails::Kill {
                    grace_period_seconds: 30.0,
                    kill_reason: KillReason::Liveness,
                },
                r#"{"gracePeriodSeconds":30.0,"killReason":"Liveness"}"#,
            ),
            (
                EventDetails::ForceKill {
                    signal: ForcedSignal::SIGKILL,
                },
                r#"{"signal":"SIGKILL"}"#,
            ),
            (
                EventDetails::Probe {
                    probe: ProbeKind::Readiness,
                    result: ProbeResult::Success,
                },
                r#"{"probe":"Readiness","result":"Success"}"#,
            ),
        ];
        for (details, json) in rows {
            assert_eq!(serde_json::to_string(&details).expect("json"), json);
            let back: EventDetails = serde_json::from_str(json).expect(json);
            assert_eq!(back, details, "{json}");
        }
        assert!(serde_json::from_str::<EventDetails>(r#"{"probe":"Sideways"}"#).is_err());
    }

    /// What `get events` and the timeline's table show: the reason's own name, the details as
    /// `key=value` pairs in key order.
    #[test]
    fn reasons_and_details_read_as_the_kubelet_writes_them() {
        assert_eq!(
            EventReason::FailedPostStartHook.to_string(),
            "FailedPostStartHook"
        );
        assert_eq!(
            EventReason::FailedCreatePodSandBox.to_string(),
            "FailedCreatePodSandBox"
        );
        let shown = [
            (
                EventDetails::Exit {
                    exit_code: 137,
                    signal: Some(9),
                    reason: "Error".into(),
                },
                "exitCode=137, reason=Error, signal=9",
            ),
            (
                EventDetails::Kill {
                    grace_period_seconds: 30.0,
                    kill_reason: KillReason::PodTermination,
                },
                "gracePeriodSeconds=30.0, killReason=PodTermination",
            ),
            (
                EventDetails::ForceKill {
                    signal: ForcedSignal::SIGKILL,
                },
                "signal=SIGKILL",
            ),
            (
                EventDetails::Probe {
                    probe: ProbeKind::Liveness,
                    result: ProbeResult::Failure,
                },
                "probe=Liveness, result=Failure",
            ),
        ];
        for (details, text) in shown {
            assert_eq!(details.to_string(), text);
        }
    }
}
