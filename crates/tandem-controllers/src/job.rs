//! The Job controller: pods until `completions` succeed (`parallelism` at a time), each index
//! once in `Indexed` mode; the pod back-off after failures (10 s doubling to 6 min), and failure
//! once more than `backoffLimit` pods failed or `activeDeadlineSeconds` passed. A failed pod is
//! judged by the `podFailurePolicy` first (pkg/controller/job/pod_failure_policy.go): a rule
//! matching its exit codes or conditions fails the Job, ignores the failure (not counted, the pod
//! replaced) or counts it. A pod with native sidecars succeeds when its main containers do, so
//! such a Job completes as on a cluster.

use std::collections::BTreeSet;

use k8s_openapi::api::batch::v1::{JobSpec, PodFailurePolicy};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};

use crate::naming::{generated_name, pod_from_template, Owner};
use crate::observed::{Action, OwnedPod, Phase};

/// The annotation and label with an Indexed Job pod's index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

const BACKOFF_BASE_US: i64 = 10_000_000;
const BACKOFF_MAX_US: i64 = 360_000_000;

/// How a Job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    /// Enough pods succeeded (conditions SuccessCriteriaMet, then Complete).
    Complete,
    /// Reason: `BackoffLimitExceeded` or `DeadlineExceeded` (FailureTarget, then Failed).
    Failed {
        reason: &'static str,
        message: String,
    },
}

/// One look at a Job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobLook {
    pub actions: Vec<Action>,
    pub active: i32,
    pub ready: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// `Indexed`: the succeeded indexes as the status writes them (`0-2,4`).
    pub completed_indexes: Option<String>,
    /// Set once the Job is over; its pods still running are being deleted.
    pub finished: Option<Finished>,
    /// When the back-off lets the next pod start.
    pub wake_at_us: Option<i64>,
    /// `spec.suspend`: no pod runs (those running are deleted) until it is resumed.
    pub suspended: bool,
}

/// Decides for a Job started at `start_us` (its `status.startTime`); `already` is how it ended
/// if it had (a finished Job makes no pods and only deletes those left).
#[allow(clippy::too_many_arguments)]
pub fn manage(
    name: &str,
    namespace: &str,
    spec: &JobSpec,
    owner: &Owner,
    pods: &[OwnedPod],
    start_us: i64,
    now_us: i64,
    already: Option<Finished>,
    random: &mut dyn FnMut() -> u32,
) -> JobLook {
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let completions = spec.completions;
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let active: Vec<&OwnedPod> = pods.iter().filter(|p| p.is_active()).collect();
    // Failed pods as the pod failure policy judges them, the first to end first: those it
    // ignores count for nothing; the first it fails the Job for ends it.
    let mut failures: Vec<(&OwnedPod, Judged)> = pods
        .iter()
        .filter(|p| p.phase == Phase::Failed)
        .map(|p| (p, judge(spec.pod_failure_policy.as_ref(), p, namespace)))
        .filter(|(_, j)| *j != Judged::Ignore)
        .collect();
    failures.sort_by_key(|(p, _)| p.finished_us.unwrap_or(p.created_us));
    let fail_job = failures.iter().find_map(|(_, j)| match j {
        Judged::FailJob(message) => Some(message.clone()),
        _ => None,
    });
    let failed = failures.len() as i32;
    let succeeded_indexes: BTreeSet<i32> = pods
        .iter()
        .filter(|p| p.phase == Phase::Succeeded)
        .filter_map(|p| p.index)
        .collect();
    let succeeded = if indexed {
        succeeded_indexes.len() as i32
    } else {
        pods.iter().filter(|p| p.phase == Phase::Succeeded).count() as i32
    };
    let mut look = JobLook {
        actions: Vec::new(),
        active: active.len() as i32,
        ready: active.iter().filter(|p| p.ready).count() as i32,
        succeeded,
        failed,
        completed_indexes: indexed.then(|| ranges(&succeeded_indexes)),
        finished: already,
        wake_at_us: None,
        suspended: false,
    };
    if look.finished.is_none() {
        look.finished = if let Some(message) = fail_job {
            Some(Finished::Failed {
                reason: "PodFailurePolicy",
                message,
            })
        } else if completions.is_some_and(|c| succeeded >= c)
            || (completions.is_none() && succeeded > 0)
        {
            Some(Finished::Complete)
        } else if failed > backoff_limit {
            Some(Finished::Failed {
                reason: "BackoffLimitExceeded",
                message: "Job has reached the specified backoff limit".into(),
            })
        } else if spec
            .active_deadline_seconds
            .is_some_and(|d| now_us - start_us >= d.saturating_mul(1_000_000))
        {
            Some(Finished::Failed {
                reason: "DeadlineExceeded",
                message: "Job was active longer than specified deadline".into(),
            })
        } else {
            None
        };
    }
    look.suspended = look.finished.is_none() && spec.suspend == Some(true);
    if look.finished.is_some() || look.suspended {
        look.actions = active
            .iter()
            .map(|p| Action::Delete(p.name.clone()))
            .collect();
        return look;
    }
    // The pod back-off: after n counted failures the next pod waits 10 s * 2^(n-1), at most
    // 6 min, from the last failure.
    if failed > 0 {
        let last = failures
            .iter()
            .map(|(p, _)| p.finished_us.unwrap_or(p.created_us))
            .max()
            .unwrap_or(0);
        let delay = BACKOFF_BASE_US
            .saturating_mul(1 << (failed - 1).clamp(0, 20))
            .min(BACKOFF_MAX_US);
        if now_us < last + delay {
            look.wake_at_us = Some(last + delay);
            return look;
        }
    }
    let remaining = completions.map_or(1, |c| c - succeeded).max(0);
    let room = parallelism.min(remaining) - look.active;
    if room <= 0 {
        return look;
    }
    let taken: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    let mut fresh = |base: &str| loop {
        let n = generated_name(base, random);
        if !taken.contains(&n.as_str()) {
            break n;
        }
    };
    if indexed {
        let busy: BTreeSet<i32> = active.iter().filter_map(|p| p.index).collect();
        let free = (0..completions.unwrap_or(0))
            .filter(|i| !succeeded_indexes.contains(i) && !busy.contains(i))
            .take(room as usize);
        for i in free {
            let pod_name = fresh(&format!("{name}-{i}-"));
            let mut pod = pod_from_template(
                &spec.template,
                &pod_name,
                namespace,
                &[(COMPLETION_INDEX, i.to_string())],
                owner,
            );
            pod.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(COMPLETION_INDEX.into(), i.to_string());
            let ps = pod.spec.get_or_insert_with(Default::default);
            ps.hostname = Some(format!("{name}-{i}"));
            for c in ps
                .init_containers
                .iter_mut()
                .flatten()
                .chain(ps.containers.iter_mut())
            {
                c.env.get_or_insert_with(Vec::new).push(EnvVar {
                    name: "JOB_COMPLETION_INDEX".into(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".into()),
                            field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                        }),
                        ..Default::default()
                    }),
                });
            }
            look.actions.push(Action::Create(Box::new(pod)));
        }
    } else {
        for _ in 0..room {
            let pod_name = fresh(&format!("{name}-"));
            look.actions.push(Action::Create(Box::new(pod_from_template(
                &spec.template,
                &pod_name,
                namespace,
                &[],
                owner,
            ))));
        }
    }
    look
}

/// What the pod failure policy makes of a failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Judged {
    /// Counted towards `backoffLimit` (no rule matched, or a `Count` rule did).
    Count,
    /// Not counted; the pod is replaced.
    Ignore,
    /// The Job fails, with this message.
    FailJob(String),
}

/// The first rule of `policy` that a failed pod matches, by a non-zero exit code of one of its
/// containers (main containers first) or by one of its conditions.
fn judge(policy: Option<&PodFailurePolicy>, pod: &OwnedPod, namespace: &str) -> Judged {
    for (index, rule) in policy
        .map_or(&[][..], |p| p.rules.as_slice())
        .iter()
        .enumerate()
    {
        let matched = if let Some(req) = &rule.on_exit_codes {
            pod.exits
                .iter()
                .find(|(container, code)| {
                    *code != 0
                        && req.container_name.as_ref().is_none_or(|n| n == container)
                        && match req.operator.as_str() {
                            "In" => req.values.contains(code),
                            "NotIn" => !req.values.contains(code),
                            _ => false,
                        }
                })
                .map(|(container, code)| {
                    format!(
                        "Container {container} for pod {namespace}/{} failed with exit code {code} matching {} rule at index {index}",
                        pod.name, rule.action
                    )
                })
        } else {
            pod.conditions
                .iter()
                .find(|(type_, status)| {
                    rule.on_pod_conditions.iter().flatten().any(|p| {
                        p.type_ == *type_ && p.status.as_deref().unwrap_or("True") == status
                    })
                })
                .map(|(type_, _)| {
                    format!(
                        "Pod {namespace}/{} has condition {type_} matching {} rule at index {index}",
                        pod.name, rule.action
                    )
                })
        };
        let Some(message) = matched else { continue };
        match rule.action.as_str() {
            "FailJob" => return Judged::FailJob(message),
            "Ignore" => return Judged::Ignore,
            "Count" => return Judged::Count,
            // `FailIndex` needs `backoffLimitPerIndex`, which is not acted on yet (a warning):
            // the failure counts, as a `Count` rule's would.
            _ => return Judged::Count,
        }
    }
    Judged::Count
}

/// Indexes as the status writes them: `0-2,4,6-7`.
fn ranges(set: &BTreeSet<i32>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut it = set.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end = it.next().unwrap_or(end);
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicas::tests::pod;

    fn owner() -> Owner {
        Owner {
            api_version: "batch/v1".into(),
            kind: "Job".into(),
            name: "j".into(),
            uid: "u".into(),
        }
    }

    fn spec(completions: i32, parallelism: i32, indexed: bool) -> JobSpec {
        JobSpec {
            completions: Some(completions),
            parallelism: Some(parallelism),
            backoff_limit: Some(2),
            completion_mode: Some(if indexed { "Indexed" } else { "NonIndexed" }.into()),
            ..Default::default()
        }
    }

    fn indexed(name: &str, i: i32, phase: Phase) -> OwnedPod {
        OwnedPod {
            index: Some(i),
            ..pod(name, phase, false, 1)
        }
    }

    fn look(s: &JobSpec, pods: &[OwnedPod], now: i64) -> JobLook {
        manage("j", "default", s, &owner(), pods, 0, now, None, &mut || 0)
    }

    #[test]
    fn indexed_jobs_run_each_index_once_parallelism_at_a_time() {
        let s = spec(4, 2, true);
        let first = look(&s, &[], 0);
        assert_eq!(first.actions.len(), 2);
        let Action::Create(p) = &first.actions[1] else {
            panic!("no pod");
        };
        let ann = p.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(ann.get(COMPLETION_INDEX).map(String::as_str), Some("1"));
        assert_eq!(
            p.spec.as_ref().and_then(|s| s.hostname.clone()).as_deref(),
            Some("j-1")
        );
        let env = p
            .spec
            .as_ref()
            .expect("spec")
            .containers
            .first()
            .map(|c| c.env.clone());
        assert!(env.is_none(), "the default template has no containers");
        let pods = [
            indexed("j-0-a", 0, Phase::Succeeded),
            indexed("j-1-a", 1, Phase::Running),
        ];
        let next = look(&s, &pods, 0);
        assert_eq!(next.completed_indexes.as_deref(), Some("0"));
        let made: Vec<String> = next
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Create(p) => p
                    .metadata
                    .annotations
                    .clone()?
                    .get(COMPLETION_INDEX)
                    .cloned(),
                Action::Delete(_) => None,
            })
            .collect();
        assert_eq!(made, ["2"]);
        let done = [
            indexed("a", 0, Phase::Succeeded),
            indexed("b", 1, Phase::Succeeded),
            indexed("c", 2, Phase::Succeeded),
            indexed("d", 3, Phase::Succeeded),
            indexed("e", 3, Phase::Succeeded),
        ];
        let end = look(&s, &done, 0);
        assert_eq!(end.finished, Some(Finished::Complete));
        assert_eq!(
            (end.succeeded, end.completed_indexes.as_deref()),
            (4, Some("0-3"))
        );
    }

    #[test]
    fn failures_back_off_then_fail_the_job_past_the_limit() {
        let s = spec(1, 1, false);
        let mut failed = pod("j-a", Phase::Failed, false, 0);
        failed.finished_us = Some(1_000_000);
        // One failure: 10 s from it.
        let waiting = look(&s, std::slice::from_ref(&failed), 5_000_000);
        assert!(waiting.actions.is_empty());
        assert_eq!(waiting.wake_at_us, Some(11_000_000));
        assert_eq!(
            look(&s, std::slice::from_ref(&failed), 11_000_000)
                .actions
                .len(),
            1
        );
        let three: Vec<OwnedPod> = (0..3)
            .map(|i| pod(&format!("j-{i}"), Phase::Failed, false, 0))
            .collect();
        let over = look(&s, &three, 0);
        assert!(matches!(
            over.finished,
            Some(Finished::Failed {
                reason: "BackoffLimitExceeded",
                ..
            })
        ));
        // A deadline fails it too, and its running pod is deleted.
        let mut d = spec(1, 1, false);
        d.active_deadline_seconds = Some(5);
        let running = [pod("j-r", Phase::Running, true, 0)];
        let late = look(&d, &running, 6_000_000);
        assert!(matches!(
            late.finished,
            Some(Finished::Failed {
                reason: "DeadlineExceeded",
                ..
            })
        ));
        assert_eq!(late.actions, [Action::Delete("j-r".into())]);
    }

    #[test]
    fn a_suspended_job_runs_no_pod() {
        let mut s = spec(2, 2, false);
        s.suspend = Some(true);
        let running = [pod("j-r", Phase::Running, true, 0)];
        let l = look(&s, &running, 0);
        assert!(l.suspended);
        assert_eq!(l.actions, [Action::Delete("j-r".into())]);
        assert!(look(&s, &[], 0).actions.is_empty());
    }

    #[test]
    fn index_ranges_read_as_the_status_writes_them() {
        let set: BTreeSet<i32> = [0, 1, 2, 4, 6, 7].into_iter().collect();
        assert_eq!(ranges(&set), "0-2,4,6-7");
        assert_eq!(ranges(&BTreeSet::new()), "");
    }

    /// The pod failure policy, rule by rule in order: a matching FailJob rule fails the Job
    /// with the controller's message; an Ignore rule's failures count for nothing and wait for
    /// no back-off; a Count rule's, and those no rule matches, count.
    #[test]
    fn a_pod_failure_policy_fails_ignores_or_counts_each_failed_pod() {
        let policy: PodFailurePolicy = serde_json::from_value(serde_json::json!({"rules": [
            {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            {"action": "FailJob", "onExitCodes": {"containerName": "main", "operator": "In", "values": [42]}},
            {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [1]}},
        ]}))
        .expect("policy");
        let s = JobSpec {
            pod_failure_policy: Some(policy),
            backoff_limit: Some(0),
            ..spec(1, 1, false)
        };
        let failed = |name: &str, exits: &[(&str, i32)], conditions: &[(&str, &str)]| OwnedPod {
            exits: exits.iter().map(|(c, e)| (c.to_string(), *e)).collect(),
            conditions: conditions
                .iter()
                .map(|(t, v)| (t.to_string(), v.to_string()))
                .collect(),
            finished_us: Some(5),
            ..pod(name, Phase::Failed, false, 1)
        };
        // Disrupted twice: nothing counted, a new pod at once (backoffLimit 0 not reached).
        let disrupted = [
            failed("j-a", &[("main", 137)], &[("DisruptionTarget", "True")]),
            failed("j-b", &[("main", 137)], &[("DisruptionTarget", "True")]),
        ];
        let l = look(&s, &disrupted, 10);
        assert_eq!((l.finished.clone(), l.failed), (None, 0));
        assert_eq!(l.actions.len(), 1, "{:?}", l.actions);
        // Exit code 42 of `main` (a sidecar's 0 beside it matches nothing): the Job fails.
        let l = look(&s, &[failed("j-c", &[("main", 42), ("proxy", 0)], &[])], 10);
        assert_eq!(
            l.finished,
            Some(Finished::Failed {
                reason: "PodFailurePolicy",
                message: "Container main for pod default/j-c failed with exit code 42 matching FailJob rule at index 1".into()
            })
        );
        assert!(l.actions.is_empty());
        // Exit code 3 (NotIn [1]: counted) exceeds backoffLimit 0; so does 1, which no rule
        // matches.
        for code in [3, 1] {
            let l = look(&s, &[failed("j-d", &[("main", code)], &[])], 10);
            assert_eq!(l.failed, 1);
            assert!(
                matches!(
                    &l.finished,
                    Some(Finished::Failed {
                        reason: "BackoffLimitExceeded",
                        ..
                    })
                ),
                "{code}: {:?}",
                l.finished
            );
        }
    }
}
