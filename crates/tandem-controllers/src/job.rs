//! The Job controller: pods until `completions` succeed (`parallelism` at a time), each index
//! once in `Indexed` mode; the pod back-off after failures (10 s doubling to 6 min), and failure
//! once more than `backoffLimit` pods failed or `activeDeadlineSeconds` passed. A failed pod is
//! judged by the `podFailurePolicy` first (pkg/controller/job/pod_failure_policy.go): a rule
//! matching its exit codes or conditions fails the Job, ignores the failure (not counted, the pod
//! replaced) or counts it. A pod with native sidecars succeeds when its main containers do, so
//! such a Job completes as on a cluster. With `backoffLimitPerIndex` (an Indexed Job, KEP-3850)
//! each index has its own limit and back-off: an index past its limit, or failed by a
//! `FailIndex` rule, is not run again, and the Job fails once more indexes failed than
//! `maxFailedIndexes` allows, or once every index has succeeded or failed. A pod being deleted
//! is replaced at once (`podReplacementPolicy: TerminatingOrFailed`, the default without a pod
//! failure policy) or only once it has gone (`Failed`).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::batch::v1::{JobSpec, PodFailurePolicy};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector};

use crate::naming::{generated_name, pod_from_template, Owner};
use crate::observed::{Action, OwnedPod, Phase};

/// The annotation and label with an Indexed Job pod's index.
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";

/// The annotation with how many pods of a pod's index had failed when it was made
/// (`backoffLimitPerIndex`).
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";

const BACKOFF_BASE_US: i64 = 10_000_000;
const BACKOFF_MAX_US: i64 = 360_000_000;

/// How a Job ended: complete (conditions SuccessCriteriaMet, then Complete) or failed
/// (FailureTarget, then Failed), why and in what words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finished {
    Complete { reason: JobReason, message: String },
    Failed { reason: JobReason, message: String },
}

impl Finished {
    fn complete(reason: JobReason, message: impl Into<String>) -> Option<Finished> {
        Some(Finished::Complete {
            reason,
            message: message.into(),
        })
    }

    fn failed(reason: JobReason, message: impl Into<String>) -> Option<Finished> {
        Some(Finished::Failed {
            reason,
            message: message.into(),
        })
    }
}

/// The reasons of a finished Job's conditions, as the Job controller writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobReason {
    CompletionsReached,
    SuccessPolicy,
    BackoffLimitExceeded,
    DeadlineExceeded,
    PodFailurePolicy,
    /// More indexes failed than `maxFailedIndexes` allows.
    MaxFailedIndexesExceeded,
    /// Every index succeeded or failed, and some failed.
    FailedIndexes,
}

impl JobReason {
    const ALL: [JobReason; 7] = [
        JobReason::CompletionsReached,
        JobReason::SuccessPolicy,
        JobReason::BackoffLimitExceeded,
        JobReason::DeadlineExceeded,
        JobReason::PodFailurePolicy,
        JobReason::MaxFailedIndexesExceeded,
        JobReason::FailedIndexes,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobReason::CompletionsReached => "CompletionsReached",
            JobReason::SuccessPolicy => "SuccessPolicy",
            JobReason::BackoffLimitExceeded => "BackoffLimitExceeded",
            JobReason::DeadlineExceeded => "DeadlineExceeded",
            JobReason::PodFailurePolicy => "PodFailurePolicy",
            JobReason::MaxFailedIndexesExceeded => "MaxFailedIndexesExceeded",
            JobReason::FailedIndexes => "FailedIndexes",
        }
    }

    /// A condition's reason read back from a status.
    pub fn parse(reason: &str) -> Option<JobReason> {
        JobReason::ALL.into_iter().find(|r| r.as_str() == reason)
    }
}

/// One look at a Job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobLook {
    pub actions: Vec<Action>,
    pub active: i32,
    /// Pods being deleted, still running their grace period (`status.terminating`).
    pub terminating: i32,
    pub ready: i32,
    pub succeeded: i32,
    pub failed: i32,
    /// `Indexed`: the succeeded indexes as the status writes them (`0-2,4`).
    pub completed_indexes: Option<String>,
    /// With `backoffLimitPerIndex`: the failed indexes, written the same way.
    pub failed_indexes: Option<String>,
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
    let terminating: Vec<&OwnedPod> = pods
        .iter()
        .filter(|p| p.deleting && !p.phase.is_terminal())
        .collect();
    // `Failed`: a pod being deleted still holds its place (and its index) until it has gone.
    let wait_for_terminating = spec.pod_replacement_policy.as_deref() == Some("Failed");
    let occupying: Vec<&OwnedPod> = match wait_for_terminating {
        true => active.iter().chain(&terminating).copied().collect(),
        false => active.clone(),
    };
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
    // Per index: its counted failures, when the last ended, and whether a rule failed it.
    let mut per_index: BTreeMap<i32, (i32, i64, bool)> = BTreeMap::new();
    for (p, j) in &failures {
        if let Some(i) = p.index {
            let e = per_index.entry(i).or_insert((0, 0, false));
            e.0 += 1;
            e.1 = e.1.max(p.finished_us.unwrap_or(p.created_us));
            e.2 |= *j == Judged::FailIndex;
        }
    }
    let index_limit = spec.backoff_limit_per_index.filter(|_| indexed);
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
    let failed_indexes: BTreeSet<i32> = match index_limit {
        Some(limit) => per_index
            .iter()
            .filter(|(i, (count, _, failed_by_rule))| {
                (*failed_by_rule || *count > limit) && !succeeded_indexes.contains(i)
            })
            .map(|(i, _)| *i)
            .collect(),
        None => BTreeSet::new(),
    };
    let mut look = JobLook {
        actions: Vec::new(),
        active: active.len() as i32,
        terminating: terminating.len() as i32,
        ready: active.iter().filter(|p| p.ready).count() as i32,
        succeeded,
        failed,
        completed_indexes: indexed.then(|| ranges(&succeeded_indexes)),
        failed_indexes: index_limit.map(|_| ranges(&failed_indexes)),
        finished: already,
        wake_at_us: None,
        suspended: false,
    };
    // In the Job controller's order: a failure by the pod failure policy, by the back-off
    // limit, by the deadline; then success by the success policy, then by completions.
    if look.finished.is_none() {
        let met = indexed
            .then(|| success_policy_met(spec, &succeeded_indexes))
            .flatten();
        let every_index_ended = completions.is_some_and(|c| {
            (0..c).all(|i| succeeded_indexes.contains(&i) || failed_indexes.contains(&i))
        });
        look.finished = if let Some(message) = fail_job {
            Finished::failed(JobReason::PodFailurePolicy, message)
        } else if spec
            .max_failed_indexes
            .is_some_and(|m| failed_indexes.len() as i32 > m)
        {
            Finished::failed(
                JobReason::MaxFailedIndexesExceeded,
                "Job has exceeded the specified maximal number of failed indexes",
            )
        } else if !failed_indexes.is_empty() && every_index_ended {
            Finished::failed(JobReason::FailedIndexes, "Job has failed indexes")
        } else if failed > backoff_limit {
            Finished::failed(
                JobReason::BackoffLimitExceeded,
                "Job has reached the specified backoff limit",
            )
        } else if spec
            .active_deadline_seconds
            .is_some_and(|d| now_us - start_us >= d.saturating_mul(1_000_000))
        {
            Finished::failed(
                JobReason::DeadlineExceeded,
                "Job was active longer than specified deadline",
            )
        } else if let Some(rule) = met {
            Finished::complete(
                JobReason::SuccessPolicy,
                format!("Matched rules at index {rule}"),
            )
        } else if completions.is_some_and(|c| succeeded >= c)
            || (completions.is_none() && succeeded > 0)
        {
            Finished::complete(
                JobReason::CompletionsReached,
                "Reached expected number of succeeded pods",
            )
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
    // 6 min, from the last failure; with `backoffLimitPerIndex`, each index by its own.
    let backoff_end = |count: i32, last: i64| {
        last + BACKOFF_BASE_US
            .saturating_mul(1 << (count - 1).clamp(0, 20))
            .min(BACKOFF_MAX_US)
    };
    if failed > 0 && index_limit.is_none() {
        let last = failures
            .iter()
            .map(|(p, _)| p.finished_us.unwrap_or(p.created_us))
            .max()
            .unwrap_or(0);
        let end = backoff_end(failed, last);
        if now_us < end {
            look.wake_at_us = Some(end);
            return look;
        }
    }
    let mut backing_off: BTreeSet<i32> = BTreeSet::new();
    if index_limit.is_some() {
        for (i, (count, last, _)) in &per_index {
            let end = backoff_end(*count, *last);
            if now_us < end && !failed_indexes.contains(i) {
                backing_off.insert(*i);
                look.wake_at_us = Some(look.wake_at_us.map_or(end, |w| w.min(end)));
            }
        }
    }
    let remaining = completions.map_or(1, |c| c - succeeded).max(0);
    let room = parallelism.min(remaining) - occupying.len() as i32;
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
        let busy: BTreeSet<i32> = occupying.iter().filter_map(|p| p.index).collect();
        let free = (0..completions.unwrap_or(0))
            .filter(|i| {
                !succeeded_indexes.contains(i)
                    && !busy.contains(i)
                    && !failed_indexes.contains(i)
                    && !backing_off.contains(i)
            })
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
            let annotations = pod
                .metadata
                .annotations
                .get_or_insert_with(Default::default);
            annotations.insert(COMPLETION_INDEX.into(), i.to_string());
            if index_limit.is_some() {
                let count = per_index.get(&i).map_or(0, |e| e.0);
                annotations.insert(INDEX_FAILURE_COUNT.into(), count.to_string());
            }
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

/// The first rule of an Indexed Job's `successPolicy` its succeeded indexes meet (KEP-3998):
/// every index of `succeededIndexes` succeeded, or `succeededCount` of them (of all indexes when
/// the rule names none).
fn success_policy_met(spec: &JobSpec, succeeded: &BTreeSet<i32>) -> Option<usize> {
    let completions = spec.completions.unwrap_or(0);
    spec.success_policy.as_ref()?.rules.iter().position(|rule| {
        let named = rule
            .succeeded_indexes
            .as_deref()
            .map(|text| tandem_api::workloads::indexes(text, completions).unwrap_or_default());
        let wanted = rule.succeeded_count.map(|n| n.max(0) as usize);
        match (named, wanted) {
            (Some(named), None) => named.is_subset(succeeded),
            (Some(named), Some(n)) => named.intersection(succeeded).count() >= n,
            (None, Some(n)) => succeeded.len() >= n,
            (None, None) => false,
        }
    })
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
    /// Counted, and the pod's index fails (with `backoffLimitPerIndex`).
    FailIndex,
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
            "FailIndex" => return Judged::FailIndex,
            "Count" => return Judged::Count,
            // A rule with an action the controller does not know is skipped, as upstream does.
            _ => continue,
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
        assert!(matches!(
            end.finished,
            Some(Finished::Complete {
                reason: JobReason::CompletionsReached,
                ..
            })
        ));
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
                reason: JobReason::BackoffLimitExceeded,
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
                reason: JobReason::DeadlineExceeded,
                ..
            })
        ));
        assert_eq!(late.actions, [Action::Delete("j-r".into())]);
    }

    /// `backoffLimitPerIndex` (KEP-3850): each index backs off and fails by itself; the Job
    /// fails once every index ended with some failed, or past `maxFailedIndexes`.
    #[test]
    fn each_index_has_its_own_backoff_limit() {
        let mut s = spec(3, 3, true);
        s.backoff_limit = Some(i32::MAX);
        s.backoff_limit_per_index = Some(1);
        let failed = |name: &str, i: i32, at: i64| OwnedPod {
            finished_us: Some(at),
            ..indexed(name, i, Phase::Failed)
        };
        // Index 0 failed once at 1 s: it waits out its back-off while 1 and 2 start.
        let first = [failed("j-0-a", 0, 1_000_000)];
        let l = look(&s, &first, 2_000_000);
        let made: Vec<String> = l
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Create(p) => p.metadata.name.clone(),
                _ => None,
            })
            .collect();
        assert_eq!(made.len(), 2, "{made:?}");
        assert!(made.iter().all(|n| !n.starts_with("j-0-")), "{made:?}");
        assert_eq!(l.wake_at_us, Some(11_000_000));
        assert_eq!(l.failed_indexes.as_deref(), Some(""));
        // Once it is over, index 0 runs again, its pod told how often it failed.
        let again = look(&s, &first, 11_000_000);
        let Some(Action::Create(retry)) = again.actions.first() else {
            panic!("{:?}", again.actions)
        };
        let annotations = retry.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(annotations[COMPLETION_INDEX], "0");
        assert_eq!(annotations[INDEX_FAILURE_COUNT], "1");

        // A second failure puts index 0 past its limit: never run again; the Job goes on.
        let pods = [
            failed("j-0-a", 0, 1_000_000),
            failed("j-0-b", 0, 20_000_000),
            indexed("j-1-a", 1, Phase::Succeeded),
            indexed("j-2-a", 2, Phase::Running),
        ];
        let l = look(&s, &pods, 100_000_000);
        assert_eq!(l.failed_indexes.as_deref(), Some("0"));
        assert_eq!(l.finished, None);
        assert!(l.actions.is_empty(), "{:?}", l.actions);
        // Every index has ended, one failed: the Job fails.
        let mut done = pods.clone();
        done[3] = indexed("j-2-a", 2, Phase::Succeeded);
        let l = look(&s, &done, 100_000_000);
        assert_eq!(
            l.finished,
            Finished::failed(JobReason::FailedIndexes, "Job has failed indexes")
        );
        assert_eq!(l.completed_indexes.as_deref(), Some("1-2"));
        // With maxFailedIndexes 0, the first failed index fails the Job at once and its
        // running pods go.
        s.max_failed_indexes = Some(0);
        let l = look(&s, &pods, 100_000_000);
        assert_eq!(
            l.finished,
            Finished::failed(
                JobReason::MaxFailedIndexesExceeded,
                "Job has exceeded the specified maximal number of failed indexes"
            )
        );
        assert_eq!(l.actions, [Action::Delete("j-2-a".into())]);
    }

    /// A `FailIndex` rule fails the pod's index at its first failure, whatever its limit.
    #[test]
    fn a_fail_index_rule_fails_the_index_at_once() {
        let policy: PodFailurePolicy = serde_json::from_value(serde_json::json!({
            "rules": [{"action": "FailIndex", "onExitCodes": {"operator": "In", "values": [42]}}]
        }))
        .expect("policy");
        let mut s = spec(2, 2, true);
        s.backoff_limit_per_index = Some(5);
        s.pod_failure_policy = Some(policy);
        let mut bad = indexed("j-1-a", 1, Phase::Failed);
        bad.exits = vec![("c".into(), 42)];
        let l = look(&s, &[bad, indexed("j-0-a", 0, Phase::Running)], 0);
        assert_eq!(l.failed_indexes.as_deref(), Some("1"));
        assert!(
            l.actions.is_empty(),
            "index 1 is not run again: {:?}",
            l.actions
        );
    }

    /// `podReplacementPolicy`: a pod being deleted is replaced at once (`TerminatingOrFailed`)
    /// or once it has gone (`Failed`); either way it counts as terminating.
    #[test]
    fn a_terminating_pod_is_replaced_as_the_replacement_policy_says() {
        let mut s = spec(2, 1, true);
        let deleting = OwnedPod {
            deleting: true,
            ..indexed("j-0-a", 0, Phase::Running)
        };
        for (policy, replaced) in [("TerminatingOrFailed", true), ("Failed", false)] {
            s.pod_replacement_policy = Some(policy.into());
            let l = look(&s, std::slice::from_ref(&deleting), 0);
            assert_eq!(l.terminating, 1, "{policy}");
            assert_eq!(l.active, 0, "{policy}");
            assert_eq!(!l.actions.is_empty(), replaced, "{policy}: {:?}", l.actions);
        }
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
                reason: JobReason::PodFailurePolicy,
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
                        reason: JobReason::BackoffLimitExceeded,
                        ..
                    })
                ),
                "{code}: {:?}",
                l.finished
            );
        }
    }

    /// An Indexed Job's success policy: the first rule its succeeded indexes meet completes it
    /// (SuccessPolicy, "Matched rules at index N") and its pods still running are deleted.
    #[test]
    fn a_success_policy_completes_an_indexed_job_by_its_first_rule_met() {
        let policy: k8s_openapi::api::batch::v1::SuccessPolicy =
            serde_json::from_value(serde_json::json!({"rules": [
                {"succeededIndexes": "0-1"},
                {"succeededCount": 3},
                {"succeededIndexes": "2,4", "succeededCount": 1},
            ]}))
            .expect("policy");
        let s = JobSpec {
            success_policy: Some(policy),
            ..spec(5, 5, true)
        };
        let pods = |done: &[i32]| -> Vec<OwnedPod> {
            (0..5)
                .map(|i| {
                    let phase = if done.contains(&i) {
                        Phase::Succeeded
                    } else {
                        Phase::Running
                    };
                    indexed(&format!("j-{i}"), i, phase)
                })
                .collect()
        };
        let ended = |done: &[i32]| look(&s, &pods(done), 10).finished;
        assert_eq!(ended(&[0]), None);
        assert_eq!(ended(&[3]), None);
        let met = |rule: usize| {
            Some(Finished::Complete {
                reason: JobReason::SuccessPolicy,
                message: format!("Matched rules at index {rule}"),
            })
        };
        assert_eq!(ended(&[0, 1]), met(0));
        assert_eq!(ended(&[1, 3, 0]), met(0));
        assert_eq!(ended(&[4]), met(2));
        assert_eq!(ended(&[1, 3]), None);
        let l = look(&s, &pods(&[0, 1]), 10);
        assert_eq!(
            l.actions.len(),
            3,
            "the other indexes' pods deleted: {:?}",
            l.actions
        );
        assert!(l.actions.iter().all(|a| matches!(a, Action::Delete(_))));
        // Without a policy the same Job needs all five.
        let plain = spec(5, 5, true);
        assert_eq!(look(&plain, &pods(&[0, 1, 2, 3]), 10).finished, None);
    }

    /// Upstream's `TestMatchPodFailurePolicy` (pkg/controller/job/pod_failure_policy_test.go),
    /// ported row for row but for the rule names tandem does not keep: (case, rules, the failed
    /// pod's exit codes, its conditions, the verdict). `FailIndex` counts the failure here as
    /// there.
    #[test]
    fn the_job_controllers_own_pod_failure_policy_table() {
        use serde_json::json;
        let fail = |m: &str| Judged::FailJob(m.to_string());
        fn disrupted(status: &'static str) -> Vec<(&'static str, &'static str)> {
            vec![("DisruptionTarget", status)]
        }
        let on_codes = |action: &str, op: &str, values: &[i32]| json!({"action": action, "onExitCodes": {"operator": op, "values": values}});
        let on_condition = |action: &str, type_: &str, status: &str| json!({"action": action, "onPodConditions": [{"type": type_, "status": status}]});
        /// (case, rules, the failed pod's exit codes, its conditions, the verdict).
        type Case<'a> = (
            &'a str,
            Option<Vec<serde_json::Value>>,
            Vec<(&'a str, i32)>,
            Vec<(&'a str, &'a str)>,
            Judged,
        );
        let cases: Vec<Case<'_>> = vec![
            ("unknown action for rule matching by exit codes - skip rule with unknown action",
             Some(vec![on_codes("UnknownAction", "In", &[1, 2]), on_codes("FailJob", "In", &[2, 3])]),
             vec![("main-container", 2)], vec![],
             fail("Container main-container for pod default/mypod failed with exit code 2 matching FailJob rule at index 1")),
            ("unknown action for rule matching by pod conditions - skip rule with unknown action",
             Some(vec![on_condition("UnkonwnAction", "DisruptionTarget", "True"), on_condition("Ignore", "DisruptionTarget", "True")]),
             vec![], disrupted("True"), Judged::Ignore),
            ("unknown operator - rule with unknown action is skipped for onExitCodes",
             Some(vec![on_codes("Ignore", "UnknownOperator", &[1, 2]), on_codes("FailJob", "In", &[2, 3])]),
             vec![("main-container", 2)], vec![],
             fail("Container main-container for pod default/mypod failed with exit code 2 matching FailJob rule at index 1")),
            ("no policy rules", None, vec![("", 2)], vec![], Judged::Count),
            ("ignore rule matched for exit codes",
             Some(vec![on_codes("Ignore", "In", &[1, 2, 3])]), vec![("", 2)], vec![], Judged::Ignore),
            ("ignore rule matched on negative exit codes - needed for Windows support",
             Some(vec![on_codes("Ignore", "In", &[-1073741676, -1073741510])]),
             vec![("", -1073741510)], vec![], Judged::Ignore),
            ("FailJob rule matched for exit codes",
             Some(vec![on_codes("FailJob", "In", &[1, 2, 3])]), vec![("main-container", 2)], vec![],
             fail("Container main-container for pod default/mypod failed with exit code 2 matching FailJob rule at index 0")),
            ("successful containers are skipped by the rules",
             Some(vec![on_codes("FailJob", "NotIn", &[111])]),
             vec![("main-container", 111), ("suppport-container", 0), ("init-container", 0)], vec![],
             Judged::Count),
            ("FailIndex rule matched for exit codes",
             Some(vec![on_codes("FailIndex", "In", &[1, 2, 3])]), vec![("", 2)], vec![], Judged::FailIndex),
            ("pod failure policy with NotIn operator and value 0",
             Some(vec![on_codes("FailJob", "NotIn", &[0])]),
             vec![("main-container", 1), ("suppport-container", 0)], vec![],
             fail("Container main-container for pod default/mypod failed with exit code 1 matching FailJob rule at index 0")),
            ("second jobfail rule matched for exit codes",
             Some(vec![on_codes("Count", "In", &[1, 2, 3]), on_codes("FailJob", "In", &[4, 5, 6])]),
             vec![("main-container", 6)], vec![],
             fail("Container main-container for pod default/mypod failed with exit code 6 matching FailJob rule at index 1")),
            ("count rule matched for exit codes",
             Some(vec![on_codes("Count", "In", &[1, 2, 3])]), vec![("bar", 2)], vec![], Judged::Count),
            ("FailIndex rule matched for pod conditions",
             Some(vec![on_condition("FailIndex", "DisruptionTarget", "True")]), vec![], disrupted("True"), Judged::FailIndex),
            ("ignore rule matched for pod conditions",
             Some(vec![on_condition("Ignore", "DisruptionTarget", "True")]), vec![], disrupted("True"), Judged::Ignore),
            ("ignore rule matches by the status=False",
             Some(vec![on_condition("Ignore", "DisruptionTarget", "False")]), vec![], disrupted("False"), Judged::Ignore),
            ("ignore rule matches by the status=Unknown",
             Some(vec![on_condition("Ignore", "DisruptionTarget", "Unknown")]), vec![], disrupted("Unknown"), Judged::Ignore),
            ("ignore rule does not match when status for pattern is False, but actual True",
             Some(vec![on_condition("Ignore", "DisruptionTarget", "False")]), vec![], disrupted("True"), Judged::Count),
            ("ignore rule does not match when status for pattern is True, but actual False",
             Some(vec![on_condition("Ignore", "DisruptionTarget", "True")]), vec![], disrupted("False"), Judged::Count),
            ("job fail rule matched for pod conditions",
             Some(vec![on_condition("FailJob", "DisruptionTarget", "True")]), vec![], disrupted("True"),
             fail("Pod default/mypod has condition DisruptionTarget matching FailJob rule at index 0")),
            ("count rule matched for pod conditions",
             Some(vec![on_condition("Count", "DisruptionTarget", "True")]), vec![], disrupted("True"), Judged::Count),
            ("no rule matched",
             Some(vec![
                 on_codes("Count", "NotIn", &[8]),
                 on_codes("Ignore", "In", &[1, 2, 3]),
                 on_codes("FailJob", "NotIn", &[5, 6, 7]),
                 on_condition("Count", "ResourceLimitExceeded", "True"),
                 on_condition("Ignore", "DisruptionTarget", "True"),
             ]),
             vec![("", 32)], vec![], Judged::Count),
            ("expected matching rule returned",
             Some(vec![on_condition("FailJob", "MaxFailedIndexesExceeded", "True"), on_condition("Ignore", "DisruptionTarget", "True")]),
             vec![], disrupted("True"), Judged::Ignore),
        ];
        for (name, rules, exits, conditions, want) in cases {
            let policy: Option<PodFailurePolicy> =
                rules.map(|r| serde_json::from_value(json!({"rules": r})).expect("policy"));
            let pod = OwnedPod {
                exits: exits.iter().map(|(c, e)| (c.to_string(), *e)).collect(),
                conditions: conditions
                    .iter()
                    .map(|(t, v)| (t.to_string(), v.to_string()))
                    .collect(),
                ..pod("mypod", Phase::Failed, false, 1)
            };
            assert_eq!(judge(policy.as_ref(), &pod, "default"), want, "{name}");
        }
    }
}
