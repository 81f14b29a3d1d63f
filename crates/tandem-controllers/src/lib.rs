//! What kube-controller-manager's workload controllers decide, for one machine: which pods a
//! Deployment, ReplicaSet, ReplicationController, StatefulSet, DaemonSet or Job should have, which
//! to create and which to delete, which Jobs a CronJob makes when, and the workload's status.
//!
//! Owns: pod names (pod-template hash, generated suffixes), the labels and owner references the
//! controllers give pods, the ordering rules of each controller, status and conditions.
//! Never: IO, the clock (`now` is an input), randomness (the suffixes' source is an input),
//! starting or stopping anything — the adapter in the `tandem` binary acts on [`Decision`]s.
//!
//! A Service's endpoints (the EndpointSlice controller's part) are in [`endpoints`]; what a
//! PodDisruptionBudget allows an eviction, in [`disruption`].
//!
//! Start at [`reconcile`]; [`pod_owner`] says which pods a workload's controller looks at.

pub mod cronjob;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod events;
pub mod job;
pub mod naming;
pub mod observed;
pub mod replicas;
pub mod statefulset;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::{json, Value};
use tandem_api::Workload;

use k8s_openapi::api::apps::v1::ReplicaSet;
use naming::{derived_uid, template_hash, Owner};
pub use observed::{Action, Decision, OwnedPod, Phase};
use replicas::{Counts, Replicas};

/// Who the pods of a workload name as their controller: the workload itself (for a
/// Deployment, its ReplicaSets: those of the last look, and the one of its current template).
pub fn pod_owners(w: &Workload, replica_sets: &[ReplicaSet]) -> Vec<String> {
    match w {
        Workload::Deployment(d) => {
            let name = format!("{}-{}", w.name(), template_hash(&d.spec.template));
            let mut uids: Vec<String> = replica_sets
                .iter()
                .filter_map(|rs| rs.metadata.uid.clone())
                .collect();
            uids.push(derived_uid(w.uid(), &name));
            uids.sort();
            uids.dedup();
            uids
        }
        _ => vec![w.uid().to_string()],
    }
}

/// The pods `w` adopts, as the controller-ref manager's `ClaimPods` does: pods of its namespace
/// its selector matches, with no controller and not being deleted (for a StatefulSet, also named
/// as its pods are), each with its owners after the adoption. Pods left by a workload deleted
/// with `propagationPolicy: Orphan` are adopted so by the next one that selects them. A
/// Deployment adopts ReplicaSets and a CronJob Jobs, not pods: none here.
pub fn adoptions(
    w: &Workload,
    pods: &[k8s_openapi::api::core::v1::Pod],
) -> Vec<(
    String,
    Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
)> {
    use tandem_api::kinds::WorkloadKind as K;
    if matches!(w.kind(), K::Deployment | K::CronJob) {
        return Vec::new();
    }
    let Some(selector) = w
        .selector()
        .and_then(|s| tandem_api::workloads::selector_of(&s).ok())
    else {
        return Vec::new();
    };
    pods.iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(w.namespace()))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            !p.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.controller == Some(true))
        })
        .filter(|p| selector.matches(&p.metadata.labels.clone().unwrap_or_default()))
        .filter(|p| {
            // A StatefulSet's member is named `NAME-ORDINAL` (`isMemberOf`).
            w.kind() != K::StatefulSet
                || p.metadata
                    .name
                    .as_deref()
                    .and_then(|n| n.rsplit_once('-'))
                    .is_some_and(|(parent, ordinal)| {
                        parent == w.name() && ordinal.parse::<u32>().is_ok()
                    })
        })
        .filter_map(|p| {
            let mut owners = p.metadata.owner_references.clone().unwrap_or_default();
            owners.push(self_owner(w).reference());
            Some((p.metadata.name.clone()?, owners))
        })
        .collect()
}

fn self_owner(w: &Workload) -> Owner {
    let kind = w.kind();
    Owner {
        api_version: kind.api_version().into(),
        kind: kind.name().into(),
        name: w.name().into(),
        uid: w.uid().into(),
    }
}

/// One look at a CronJob: the Jobs it made, the time and the zone its schedule is read in
/// (`spec.timeZone` as the adapter found it, else the machine's). Returns what to do and the
/// status.
pub fn reconcile_cronjob(
    w: &Workload,
    jobs: &[cronjob::OwnedJob],
    now_us: i64,
    tz: &jiff::tz::TimeZone,
) -> (cronjob::CronLook, Value) {
    let Workload::CronJob(c) = w else {
        let idle = cronjob::CronLook {
            actions: Vec::new(),
            scheduled_us: None,
            wake_at_us: None,
        };
        return (idle, Value::Null);
    };
    let created = c
        .metadata
        .creation_timestamp
        .as_ref()
        .map_or(now_us, |t| t.0.as_microsecond());
    let last = c
        .status
        .as_ref()
        .and_then(|s| s.last_schedule_time.as_ref())
        .map(|t| t.0.as_microsecond());
    let look = cronjob::manage(
        &self_owner(w),
        w.namespace(),
        &c.spec,
        tz,
        created,
        last,
        jobs,
        now_us,
    );
    let status = cronjob::status(w.namespace(), jobs, look.scheduled_us.or(last));
    (look, status)
}

fn time(us: i64) -> Value {
    let t = k8s_openapi::jiff::Timestamp::from_microsecond(us)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    serde_json::to_value(Time(t)).unwrap_or(Value::Null)
}

/// A condition, keeping the last transition time from `previous` when its status is unchanged.
/// A Deployment's condition whose status and reason are unchanged stays as it was, update time
/// and all (the deployment controller's `SetDeploymentCondition`), but for progress being made
/// (`ReplicaSetUpdated`), which it records at each look: a settled Deployment does not change.
fn condition(
    previous: &Value,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now_us: i64,
) -> Value {
    let status = if status { "True" } else { "False" };
    condition_of(previous, type_, status, reason, message, now_us)
}

/// [`condition`] with its status as written (`Unknown` too).
fn condition_of(
    previous: &Value,
    type_: &str,
    status: &str,
    reason: &str,
    message: &str,
    now_us: i64,
) -> Value {
    let old = previous
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_));
    if let Some(c) = old.filter(|c| {
        c["status"] == status
            && c["reason"] == reason
            && reason != "ReplicaSetUpdated"
            && !c["lastUpdateTime"].is_null()
    }) {
        return c.clone();
    }
    let since = match old {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => time(now_us),
    };
    let mut c = json!({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    });
    if type_ == "Available" || type_ == "Progressing" {
        c["lastUpdateTime"] = time(now_us);
    }
    c
}

/// The Progressing condition of a Deployment as the deployment controller keeps it
/// (`syncRolloutStatus`, pkg/controller/deployment/progress.go): `NewReplicaSetCreated` when a
/// rollout makes its ReplicaSet, `ReplicaSetUpdated` again only when the rollout made progress
/// (more updated, ready or available replicas, fewer old ones), `NewReplicaSetAvailable` once
/// complete, and False with `ProgressDeadlineExceeded` when no progress was made for
/// `progressDeadlineSeconds`; none without a deadline. Also when to look again to see the
/// deadline pass.
fn progressing(
    d: &k8s_openapi::api::apps::v1::Deployment,
    previous: &Value,
    status: &Value,
    complete: bool,
    new_rs: &str,
    created: bool,
    now_us: i64,
) -> (Option<Value>, Option<i64>) {
    let Some(deadline) = d.spec.progress_deadline_seconds.filter(|s| *s != i32::MAX) else {
        return (None, None);
    };
    let deadline_us = i64::from(deadline) * 1_000_000;
    let current = previous
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"));
    let reason = current
        .and_then(|c| c["reason"].as_str())
        .unwrap_or_default();
    // Paused: Unknown, and no deadline runs; resumed: Unknown again until the rollout moves
    // (`checkPausedConditions`, pkg/controller/deployment/progress.go).
    let unknown = |reason: &str, message: &str| {
        condition_of(previous, "Progressing", "Unknown", reason, message, now_us)
    };
    if d.spec.paused == Some(true) {
        return (
            Some(unknown("DeploymentPaused", "Deployment is paused")),
            None,
        );
    }
    if reason == "DeploymentPaused" {
        let resumed = unknown("DeploymentResumed", "Deployment is resumed");
        return (Some(resumed), Some(now_us + deadline_us + 1_000_000));
    }
    let n = |v: &Value, f: &str| v[f].as_i64().unwrap_or(0);
    // A complete rollout is not looked at again until a new template or a scale makes one.
    if reason == "NewReplicaSetAvailable" && n(status, "replicas") == n(status, "updatedReplicas") {
        return (current.cloned(), None);
    }
    let set = |ok: bool, reason: &str, message: String| {
        Some(condition(
            previous,
            "Progressing",
            ok,
            reason,
            &message,
            now_us,
        ))
    };
    if complete {
        let message = format!("ReplicaSet \"{new_rs}\" has successfully progressed.");
        return (set(true, "NewReplicaSetAvailable", message), None);
    }
    let due = Some(now_us + deadline_us + 1_000_000);
    if created {
        let message = format!("Created new replica set \"{new_rs}\"");
        return (set(true, "NewReplicaSetCreated", message), due);
    }
    let Some(current) = current.filter(|_| !made_progress(previous, status)) else {
        let message = format!("ReplicaSet \"{new_rs}\" is progressing.");
        return (set(true, "ReplicaSetUpdated", message), due);
    };
    if timed_out(current, deadline, now_us) {
        let message = format!("ReplicaSet \"{new_rs}\" has timed out progressing.");
        return (set(false, "ProgressDeadlineExceeded", message), None);
    }
    let since = last_update_us(current).unwrap_or(now_us);
    (Some(current.clone()), Some(since + deadline_us + 1_000_000))
}

/// Whether a rollout made progress from one status to the next (`DeploymentProgressing`): more
/// updated, ready or available replicas, or fewer old ones.
fn made_progress(before: &Value, after: &Value) -> bool {
    let n = |v: &Value, f: &str| v[f].as_i64().unwrap_or(0);
    let old_replicas = |v: &Value| n(v, "replicas") - n(v, "updatedReplicas");
    n(after, "updatedReplicas") > n(before, "updatedReplicas")
        || old_replicas(after) < old_replicas(before)
        || n(after, "readyReplicas") > n(before, "readyReplicas")
        || n(after, "availableReplicas") > n(before, "availableReplicas")
}

fn last_update_us(condition: &Value) -> Option<i64> {
    serde_json::from_value::<Time>(condition["lastUpdateTime"].clone())
        .ok()
        .map(|t| t.0.as_microsecond())
}

/// Whether a Progressing condition has timed out (`DeploymentTimedOut`): it says so already, or
/// it was last updated more than `deadline` seconds ago and is not the one of a complete
/// rollout.
fn timed_out(condition: &Value, deadline: i32, now_us: i64) -> bool {
    match condition["reason"].as_str() {
        Some("NewReplicaSetAvailable") => false,
        Some("ProgressDeadlineExceeded") => true,
        _ => last_update_us(condition)
            .is_some_and(|since| since + i64::from(deadline) * 1_000_000 < now_us),
    }
}

/// One look at a workload: its pods (those [`pod_owners`] names), a Deployment's ReplicaSets of
/// the last look, the time, and a source of randomness for generated names.
pub fn reconcile(
    w: &Workload,
    pods: &[OwnedPod],
    replica_sets: &[ReplicaSet],
    now_us: i64,
    random: &mut dyn FnMut() -> u32,
) -> Decision {
    let owner = self_owner(w);
    let mut children = Vec::new();
    let mut expired = false;
    // The spec this look acted on: `rollout status` waits for it.
    let generation = w.metadata().generation.unwrap_or(1);
    let previous = w.to_json().get("status").cloned().unwrap_or(Value::Null);
    let namespace = w.namespace();
    let name = w.name();
    let mut wake_at_us = None;
    let (actions, status) = match w {
        Workload::Deployment(d) => {
            let replicas = d.spec.replicas.unwrap_or(1);
            let r = deployment::manage(d, replica_sets, pods, now_us, random);
            let (_, max_unavailable) = deployment::surge_and_unavailable(d, replicas);
            let available = r.total.available >= replicas - max_unavailable;
            let old_pods = r.total.replicas - r.updated.replicas;
            let complete =
                old_pods == 0 && r.updated.replicas == replicas && r.updated.available == replicas;
            let mut status = replica_status(r.total, generation);
            status["updatedReplicas"] = json!(r.updated.replicas);
            if replicas > r.total.available {
                status["unavailableReplicas"] = json!(replicas - r.total.available);
            }
            let new_rs = &r.new_name;
            let created = !replica_sets
                .iter()
                .any(|rs| rs.metadata.name.as_deref() == Some(new_rs.as_str()));
            let (progressing, due) =
                progressing(d, &previous, &status, complete, new_rs, created, now_us);
            wake_at_us = due;
            let mut conditions = vec![condition(
                &previous,
                "Available",
                available,
                if available {
                    "MinimumReplicasAvailable"
                } else {
                    "MinimumReplicasUnavailable"
                },
                if available {
                    "Deployment has minimum availability."
                } else {
                    "Deployment does not have minimum availability."
                },
                now_us,
            )];
            conditions.extend(progressing);
            status["conditions"] = json!(conditions);
            children = r.replica_sets;
            (r.actions, status)
        }
        // A ReplicaSet and a ReplicationController keep their replicas alike.
        Workload::ReplicaSet(_) | Workload::ReplicationController(_) => {
            let min_ready_seconds = match w {
                Workload::ReplicaSet(r) => r.spec.min_ready_seconds,
                Workload::ReplicationController(rc) => {
                    rc.spec.as_ref().and_then(|s| s.min_ready_seconds)
                }
                _ => None,
            };
            replicated(
                &w.template().cloned().unwrap_or_default(),
                w.replicas().unwrap_or(1),
                min_ready_seconds,
                &owner,
                namespace,
                pods,
                now_us,
                generation,
                random,
            )
        }
        Workload::DaemonSet(ds) => {
            let hash = template_hash(&ds.spec.template);
            let min_ready = ds.spec.min_ready_seconds.unwrap_or(0);
            // A changed template (`RollingUpdate` on one node): the pod on the old one is deleted
            // and made again, or with a `maxSurge` the new pod is made first and the old one
            // deleted once the new one is available; `OnDelete` waits.
            let strategy = ds.spec.update_strategy.as_ref();
            let on_delete = strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete");
            let surge = !on_delete
                && deployment::resolve(
                    strategy
                        .and_then(|u| u.rolling_update.as_ref())
                        .and_then(|r| r.max_surge.as_ref()),
                    1,
                    true,
                ) > 0;
            let on = |current: bool| {
                pods.iter().find(|p| {
                    p.is_active() && (p.revision.as_deref() == Some(hash.as_str())) == current
                })
            };
            let (stale, fresh) = (on(false), on(true));
            let (mut actions, c) = replicas::manage(
                &Replicas {
                    replicas: if surge && stale.is_some() { 2 } else { 1 },
                    template: &ds.spec.template,
                    namespace,
                    name_base: format!("{name}-"),
                    labels: vec![
                        (naming::REVISION_LABEL, hash.clone()),
                        ("pod-template-generation", generation.to_string()),
                    ],
                    owner: owner.clone(),
                    min_ready_seconds: min_ready,
                },
                pods,
                now_us,
                random,
            );
            let replaceable = match (surge, fresh) {
                (false, _) => true,
                (true, Some(f)) => f.is_available(min_ready, now_us),
                (true, None) => false,
            };
            if let (Some(p), true, false, true) =
                (stale, actions.is_empty(), on_delete, replaceable)
            {
                actions.push(Action::Delete(p.name.clone()));
            }
            let updated = pods
                .iter()
                .filter(|p| p.is_active() && p.revision.as_deref() == Some(hash.as_str()))
                .count();
            let status = json!({
                // Counted by node (this one), though a surge runs two pods on it for a while.
                "currentNumberScheduled": c.replicas.min(1),
                "desiredNumberScheduled": 1,
                "numberMisscheduled": 0,
                "numberReady": c.ready.min(1),
                "numberAvailable": c.available.min(1),
                "numberUnavailable": 1 - c.available.min(1),
                "updatedNumberScheduled": updated,
                "observedGeneration": generation,
            });
            (actions, status)
        }
        Workload::StatefulSet(st) => {
            let (actions, c, updated) =
                statefulset::manage(name, namespace, &st.spec, &owner, pods);
            let revision = format!("{name}-{}", template_hash(&st.spec.template));
            // The revision most pods are on until every one runs the update.
            let current = if updated == c.replicas {
                revision.clone()
            } else {
                pods.iter()
                    .filter_map(|p| p.revision.clone())
                    .find(|r| *r != revision)
                    .unwrap_or_else(|| revision.clone())
            };
            let status = json!({
                "replicas": c.replicas,
                "readyReplicas": c.ready,
                "availableReplicas": c.available,
                "currentReplicas": if current == revision { updated } else { c.replicas - updated },
                "updatedReplicas": updated,
                "currentRevision": current,
                "updateRevision": revision,
                "collisionCount": 0,
                "observedGeneration": generation,
            });
            (actions, status)
        }
        Workload::Job(j) => {
            let spec = j.spec.clone().unwrap_or_default();
            let start_us = previous
                .get("startTime")
                .and_then(|t| serde_json::from_value::<Time>(t.clone()).ok())
                .map_or(now_us, |t| t.0.as_microsecond());
            let already = job_finished(&previous);
            let look = job::manage(
                name, namespace, &spec, &owner, pods, start_us, now_us, already, random,
            );
            wake_at_us = look.wake_at_us;
            let status = job_status(&previous, &look, start_us, now_us);
            // ttlSecondsAfterFinished, from the time the Job's last condition says it ended.
            if let (Some(ttl), Some(ended)) =
                (spec.ttl_seconds_after_finished, finished_at(&status))
            {
                let due = ended + i64::from(ttl.max(0)) * 1_000_000;
                expired = now_us >= due;
                wake_at_us = Some(wake_at_us.map_or(due, |w| w.min(due)));
            }
            (look.actions.clone(), status)
        }
        // A CronJob makes Jobs, not pods: see [`reconcile_cronjob`].
        Workload::CronJob(_) => (Vec::new(), previous.clone()),
    };
    Decision {
        actions,
        status,
        replica_sets: children,
        expired,
        wake_at_us,
    }
}

#[allow(clippy::too_many_arguments)]
fn replicated(
    template: &k8s_openapi::api::core::v1::PodTemplateSpec,
    replicas: i32,
    min_ready_seconds: Option<i32>,
    owner: &Owner,
    namespace: &str,
    pods: &[OwnedPod],
    now_us: i64,
    generation: i64,
    random: &mut dyn FnMut() -> u32,
) -> (Vec<Action>, Value) {
    let (actions, c) = replicas::manage(
        &Replicas {
            replicas,
            template,
            namespace,
            name_base: format!("{}-", owner.name),
            labels: vec![],
            owner: owner.clone(),
            min_ready_seconds: min_ready_seconds.unwrap_or(0),
        },
        pods,
        now_us,
        random,
    );
    (actions, replica_status(c, generation))
}

fn replica_status(c: Counts, generation: i64) -> Value {
    json!({
        "replicas": c.replicas,
        "fullyLabeledReplicas": c.replicas,
        "readyReplicas": c.ready,
        "availableReplicas": c.available,
        "observedGeneration": generation,
    })
}

/// When a Job ended: the time of its Complete or Failed condition.
fn finished_at(status: &Value) -> Option<i64> {
    status["conditions"].as_array()?.iter().find_map(|c| {
        let ended = (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True";
        let t: Time = serde_json::from_value(c["lastTransitionTime"].clone()).ok()?;
        ended.then(|| t.0.as_microsecond())
    })
}

/// How a Job's earlier status says it ended.
fn job_finished(previous: &Value) -> Option<job::Finished> {
    let conditions = previous.get("conditions")?.as_array()?;
    conditions.iter().find_map(|c| {
        if c["status"] != "True" {
            return None;
        }
        let message = c["message"].as_str().unwrap_or_default().to_string();
        let reason = c["reason"].as_str().and_then(job::JobReason::parse);
        match c["type"].as_str()? {
            "Complete" | "SuccessCriteriaMet" => Some(job::Finished::Complete {
                reason: reason.unwrap_or(job::JobReason::CompletionsReached),
                message,
            }),
            "Failed" | "FailureTarget" => Some(job::Finished::Failed {
                reason: reason.unwrap_or(job::JobReason::BackoffLimitExceeded),
                message,
            }),
            _ => None,
        }
    })
}

/// A Job's status: counts, start and completion times, and its conditions as the Job
/// controller sets them (SuccessCriteriaMet or FailureTarget at once, Complete or Failed once
/// no pod of it runs any more).
fn job_status(previous: &Value, look: &job::JobLook, start_us: i64, now_us: i64) -> Value {
    let mut status = json!({
        "startTime": time(start_us),
        "active": look.active,
        "ready": look.ready,
        "succeeded": look.succeeded,
        "failed": look.failed,
        "terminating": look.terminating,
    });
    if let Some(ci) = &look.completed_indexes {
        status["completedIndexes"] = json!(ci);
    }
    if let Some(fi) = &look.failed_indexes {
        status["failedIndexes"] = json!(fi);
    }
    if look.suspended {
        status["conditions"] = json!([condition(
            previous,
            "Suspended",
            true,
            "JobSuspended",
            "Job suspended",
            now_us
        )]);
        return status;
    }
    let Some(finished) = &look.finished else {
        return status;
    };
    let drained = look.active == 0;
    let (target, last, reason, message) = match finished {
        job::Finished::Complete { reason, message } => {
            ("SuccessCriteriaMet", "Complete", reason.as_str(), message)
        }
        job::Finished::Failed { reason, message } => {
            ("FailureTarget", "Failed", reason.as_str(), message)
        }
    };
    let mut conditions = vec![condition(previous, target, true, reason, message, now_us)];
    if drained {
        conditions.push(condition(previous, last, true, reason, message, now_us));
        if matches!(finished, job::Finished::Complete { .. }) {
            status["completionTime"] = previous
                .get("completionTime")
                .cloned()
                .unwrap_or_else(|| time(now_us));
        }
    }
    status["conditions"] = json!(conditions);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Workload {
        let l = tandem_api::load(
            &[tandem_api::Source::new("w.yaml", yaml)],
            &tandem_api::PlanOptions::default(),
        )
        .expect("loads");
        l.workloads[0].object.clone()
    }

    fn running(name: &str) -> OwnedPod {
        OwnedPod {
            name: name.into(),
            phase: Phase::Running,
            ready: true,
            ready_since_us: Some(0),
            created_us: 0,
            finished_us: None,
            deleting: false,
            index: None,
            restarts: 0,
            exits: vec![],
            conditions: vec![],
            revision: None,
            owner_uid: String::new(),
        }
    }

    /// `n` running, ready pods `PREFIX-i` owned by the ReplicaSet `uid`.
    fn owned_by(uid: &str, prefix: &str, n: usize) -> Vec<OwnedPod> {
        (0..n)
            .map(|i| OwnedPod {
                owner_uid: uid.to_string(),
                ..running(&format!("{prefix}-{i}"))
            })
            .collect()
    }

    const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 3\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: a, image: busybox}]}\n";

    #[test]
    fn orphans_its_selector_matches_are_adopted_and_others_left_alone() {
        let sts = load(
            &DEPLOYMENT
                .replace("Deployment", "StatefulSet")
                .replace("  replicas: 3\n", "  replicas: 3\n  serviceName: web\n"),
        );
        let pod = |name: &str, labels: serde_json::Value, extra: serde_json::Value| {
            let mut p =
                json!({"metadata": {"name": name, "namespace": "default", "labels": labels}});
            if let Value::Object(m) = extra {
                for (k, v) in m {
                    p["metadata"][k] = v;
                }
            }
            serde_json::from_value::<k8s_openapi::api::core::v1::Pod>(p).expect("pod")
        };
        let web = json!({"app": "web"});
        let controlled = json!({"ownerReferences": [{"apiVersion": "apps/v1", "kind": "StatefulSet",
            "name": "old", "uid": "u0", "controller": true}]});
        let pods = [
            pod("web-0", web.clone(), json!({})),
            pod("web-1", web.clone(), controlled),
            pod(
                "web-2",
                web.clone(),
                json!({"deletionTimestamp": "2026-01-01T00:00:00Z"}),
            ),
            pod("other-0", web.clone(), json!({})),
            pod("web-3", json!({"app": "db"}), json!({})),
            pod("web-x", web.clone(), json!({})),
        ];
        let adopted = adoptions(&sts, &pods);
        assert_eq!(adopted.len(), 1, "{adopted:?}");
        let (name, owners) = &adopted[0];
        assert_eq!(name, "web-0");
        assert_eq!(owners[0].uid, sts.uid());
        assert_eq!(
            (owners[0].kind.as_str(), owners[0].controller),
            ("StatefulSet", Some(true))
        );
        // A Deployment's pods are its ReplicaSets': it adopts none itself.
        assert!(adoptions(&load(DEPLOYMENT), &pods).is_empty());
    }

    #[test]
    fn a_deployments_pods_belong_to_the_replicaset_of_its_template() {
        let w = load(DEPLOYMENT);
        let d = reconcile(&w, &[], &[], 0, &mut || 1);
        assert_eq!(d.actions.len(), 3);
        let rs = &d.replica_sets[0];
        let rs_name = rs.metadata.name.clone().unwrap_or_default();
        let rs_uid = rs.metadata.uid.clone().unwrap_or_default();
        assert!(rs_name.starts_with("web-"), "{rs_name}");
        assert_eq!(
            pod_owners(&w, &d.replica_sets),
            std::slice::from_ref(&rs_uid)
        );
        assert_eq!(
            rs.metadata.owner_references.as_ref().expect("owner")[0].kind,
            "Deployment"
        );
        let Action::Create(p) = &d.actions[0] else {
            panic!("no pod");
        };
        let name = p.metadata.name.clone().unwrap_or_default();
        assert!(name.starts_with(&format!("{rs_name}-")), "{name}");
        assert_eq!(
            p.metadata.owner_references.as_ref().expect("owner")[0].uid,
            rs_uid
        );
        assert_eq!(d.status["conditions"][0]["type"], "Available");
        assert_eq!(d.status["conditions"][0]["status"], "False");
        let pods = owned_by(&rs_uid, &rs_name, 3);
        let d = reconcile(&w, &pods, &d.replica_sets, 1, &mut || 1);
        assert!(d.actions.is_empty());
        assert_eq!(d.status["availableReplicas"], 3);
        assert_eq!(d.status["conditions"][0]["status"], "True");
        assert_eq!(
            d.status["conditions"][1]["reason"],
            "NewReplicaSetAvailable"
        );
    }

    #[test]
    fn a_daemonset_replaces_its_pod_in_place_or_with_a_surge_new_first() {
        const DS: &str = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: agent}\nspec:\n  selector: {matchLabels: {app: a}}\n  minReadySeconds: 5\n  template:\n    metadata: {labels: {app: a}}\n    spec: {containers: [{name: a, image: busybox}]}\n";
        let old = OwnedPod {
            revision: Some("old".into()),
            ..running("agent-old")
        };
        let creates = |d: &Decision| {
            d.actions
                .iter()
                .filter(|a| matches!(a, Action::Create(_)))
                .count()
        };
        // Default (maxUnavailable 1, maxSurge 0): the old pod goes first.
        let w = load(DS);
        let d = reconcile(&w, std::slice::from_ref(&old), &[], 0, &mut || 1);
        assert_eq!(d.actions, [Action::Delete("agent-old".into())]);
        // maxSurge 1: the new pod first, the old one deleted once the new one is available
        // (ready for minReadySeconds); counted as one node's pod meanwhile.
        let w = load(&DS.replace(
            "  minReadySeconds: 5\n",
            "  minReadySeconds: 5\n  updateStrategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}\n",
        ));
        let d = reconcile(&w, std::slice::from_ref(&old), &[], 0, &mut || 1);
        assert_eq!((creates(&d), d.actions.len()), (1, 1), "{:?}", d.actions);
        let Action::Create(p) = &d.actions[0] else {
            panic!("no pod");
        };
        let hash = p.metadata.labels.clone().unwrap_or_default()[naming::REVISION_LABEL].clone();
        let fresh = OwnedPod {
            revision: Some(hash),
            ready_since_us: Some(1_000_000),
            ..running("agent-new")
        };
        let both = [old.clone(), fresh];
        let d = reconcile(&w, &both, &[], 3_000_000, &mut || 1);
        assert!(d.actions.is_empty(), "{:?}", d.actions);
        assert_eq!(d.status["currentNumberScheduled"], 1);
        let d = reconcile(&w, &both, &[], 6_000_001, &mut || 1);
        assert_eq!(d.actions, [Action::Delete("agent-old".into())]);
    }

    #[test]
    fn a_paused_deployment_scales_but_does_not_roll_out_until_resumed() {
        let w = load(DEPLOYMENT);
        let first = reconcile(&w, &[], &[], 0, &mut || 1);
        let rs = first.replica_sets[0].clone();
        let uid = rs.metadata.uid.clone().unwrap_or_default();
        let pods = owned_by(&uid, "web", 3);
        let settled = reconcile(&w, &pods, &first.replica_sets, 1, &mut || 1);
        let with = |text: &str| {
            let mut w = load(text);
            if let Workload::Deployment(d) = &mut w {
                d.status = serde_json::from_value(settled.status.clone()).ok();
            }
            w
        };
        // A new image and four replicas, paused: no new ReplicaSet, one more pod of the old one.
        let changed = DEPLOYMENT
            .replace("image: busybox", "image: busybox:2")
            .replace("replicas: 3", "replicas: 4\n  paused: true");
        let d = reconcile(&with(&changed), &pods, &settled.replica_sets, 2, &mut || 1);
        assert_eq!(d.replica_sets.len(), 1, "{:?}", d.replica_sets);
        assert_eq!(d.replica_sets[0].spec.replicas, Some(4));
        let created: Vec<_> = d
            .actions
            .iter()
            .filter_map(|a| match a {
                Action::Create(p) => p
                    .metadata
                    .owner_references
                    .as_ref()
                    .map(|o| o[0].uid.clone()),
                Action::Delete(_) => None,
            })
            .collect();
        assert_eq!(created, [uid]);
        assert_eq!(d.status["updatedReplicas"], 0);
        let progressing = &d.status["conditions"][1];
        assert_eq!(
            (&progressing["status"], &progressing["reason"]),
            (&json!("Unknown"), &json!("DeploymentPaused"))
        );
        // Resumed: the new template's ReplicaSet is made and the rollout goes on.
        let mut resumed = with(&changed.replace("\n  paused: true", ""));
        if let Workload::Deployment(dep) = &mut resumed {
            dep.status = serde_json::from_value(d.status.clone()).ok();
        }
        let r = reconcile(&resumed, &pods, &d.replica_sets, 3, &mut || 1);
        assert_eq!(r.replica_sets.len(), 2, "{:?}", r.replica_sets);
        assert_eq!(r.status["conditions"][1]["reason"], "DeploymentResumed");
    }

    #[test]
    fn a_job_is_complete_once_its_pods_are_gone_and_stays_so() {
        let mut w = load("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec: {restartPolicy: Never, containers: [{name: a, image: busybox}]}\n");
        let mut done = running("j-a");
        done.phase = Phase::Succeeded;
        let d = reconcile(&w, &[done.clone(), running("j-b")], &[], 5, &mut || 1);
        assert_eq!(d.actions, [Action::Delete("j-b".into())]);
        let types: Vec<&str> = d.status["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(types, ["SuccessCriteriaMet"]);
        if let Workload::Job(j) = &mut w {
            j.status = serde_json::from_value(d.status.clone()).ok();
        }
        let d = reconcile(&w, &[done], &[], 9, &mut || 1);
        assert!(d.actions.is_empty());
        let types: Vec<&str> = d.status["conditions"]
            .as_array()
            .expect("conditions")
            .iter()
            .filter_map(|c| c["type"].as_str())
            .collect();
        assert_eq!(types, ["SuccessCriteriaMet", "Complete"]);
        assert_eq!(d.status["succeeded"], 1);
        assert!(d.status["completionTime"].is_string());
    }

    #[test]
    fn a_settled_deployments_conditions_do_not_change_from_look_to_look() {
        let first = condition(
            &Value::Null,
            "Available",
            true,
            "MinimumReplicasAvailable",
            "m",
            1_000_000,
        );
        let previous = json!({"conditions": [first.clone()]});
        // A later look with the same status and reason: the same condition, update time and all.
        assert_eq!(
            condition(
                &previous,
                "Available",
                true,
                "MinimumReplicasAvailable",
                "m",
                9_000_000
            ),
            first
        );
        // Progress being made is recorded at each look; a new reason is a new update.
        let progressing = json!({"conditions": [condition(&Value::Null, "Progressing", true, "ReplicaSetUpdated", "p", 1_000_000)]});
        let later = condition(
            &progressing,
            "Progressing",
            true,
            "ReplicaSetUpdated",
            "p",
            9_000_000,
        );
        assert_eq!(later["lastUpdateTime"], time(9_000_000));
        assert_eq!(later["lastTransitionTime"], time(1_000_000));
        let done = condition(
            &progressing,
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            "p",
            9_000_000,
        );
        assert_eq!(done["lastUpdateTime"], time(9_000_000));
    }

    /// A rollout stuck for `progressDeadlineSeconds` turns Progressing False, and progress
    /// after it True again, as the deployment controller's `syncRolloutStatus` has it.
    #[test]
    fn a_rollout_without_progress_for_its_deadline_stops_progressing() {
        let deployment = |deadline: i32| -> k8s_openapi::api::apps::v1::Deployment {
            serde_json::from_value(json!({
                "metadata": {"name": "web"},
                "spec": {"replicas": 2, "progressDeadlineSeconds": deadline,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}]}}}
            }))
            .expect("deployment")
        };
        let d = deployment(10);
        let counts = |updated: i64, ready: i64| {
            json!({"replicas": 2, "updatedReplicas": updated, "readyReplicas": ready,
                "availableReplicas": ready})
        };
        let s = 1_000_000;
        let with = |status: &Value, c: &Option<Value>| {
            let mut v = status.clone();
            v["conditions"] = json!([c.clone().expect("a condition")]);
            v
        };
        // The rollout makes its ReplicaSet.
        let (c, due) = progressing(&d, &Value::Null, &counts(0, 0), false, "web-1", true, 0);
        assert_eq!(
            c.as_ref().map(|c| c["reason"].clone()),
            Some(json!("NewReplicaSetCreated"))
        );
        assert_eq!(due, Some(11 * s));
        // One pod updated: progress, the clock starts again.
        let previous = with(&counts(0, 0), &c);
        let (c, due) = progressing(&d, &previous, &counts(1, 0), false, "web-1", false, 5 * s);
        let c1 = c.clone().expect("a condition");
        assert_eq!(
            (c1["reason"].clone(), c1["status"].clone()),
            (json!("ReplicaSetUpdated"), json!("True"))
        );
        assert_eq!(due, Some(16 * s));
        // Nothing moves: the condition stays as it was until its deadline has passed.
        let previous = with(&counts(1, 0), &c);
        let (same, due) = progressing(&d, &previous, &counts(1, 0), false, "web-1", false, 14 * s);
        assert_eq!(same, Some(c1.clone()));
        assert_eq!(due, Some(16 * s));
        let (c, due) = progressing(&d, &previous, &counts(1, 0), false, "web-1", false, 16 * s);
        let stuck = c.clone().expect("a condition");
        assert_eq!(
            (
                stuck["status"].clone(),
                stuck["reason"].clone(),
                stuck["message"].clone()
            ),
            (
                json!("False"),
                json!("ProgressDeadlineExceeded"),
                json!("ReplicaSet \"web-1\" has timed out progressing.")
            )
        );
        assert_eq!(due, None);
        // It stays so without progress; progress makes it True again; complete, it settles.
        let previous = with(&counts(1, 0), &c);
        let (again, _) = progressing(&d, &previous, &counts(1, 0), false, "web-1", false, 30 * s);
        assert_eq!(
            again.expect("a condition")["reason"],
            "ProgressDeadlineExceeded"
        );
        let (c, _) = progressing(&d, &previous, &counts(2, 1), false, "web-1", false, 31 * s);
        let moving = c.clone().expect("a condition");
        assert_eq!(
            (
                moving["status"].clone(),
                moving["lastTransitionTime"].clone()
            ),
            (json!("True"), time(31 * s))
        );
        let previous = with(&counts(2, 1), &c);
        let (c, due) = progressing(&d, &previous, &counts(2, 2), true, "web-1", false, 32 * s);
        assert_eq!(
            c.as_ref().map(|c| c["reason"].clone()),
            Some(json!("NewReplicaSetAvailable"))
        );
        assert_eq!(due, None);
        let previous = with(&counts(2, 2), &c);
        let (settled, _) = progressing(&d, &previous, &counts(2, 1), false, "web-1", false, 90 * s);
        assert_eq!(settled, c, "a scale or a lost pod is no rollout");
        // No deadline (the API's "none", 2^31-1): no Progressing condition at all.
        let (none, due) = progressing(
            &deployment(i32::MAX),
            &Value::Null,
            &counts(0, 0),
            false,
            "web-1",
            true,
            0,
        );
        assert_eq!((none, due), (None, None));
    }

    /// Upstream's own tables (pkg/controller/deployment/util/deployment_util_test.go):
    /// `TestResolveFenceposts` (the rows the loader does not refuse first),
    /// `TestDeploymentProgressing` and `TestDeploymentTimedOut`, ported row for row.
    #[test]
    fn the_deployment_controllers_own_tables() {
        use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
        // ResolveFenceposts: (maxSurge, maxUnavailable, desired) → (surge, unavailable).
        type Fencepost<'a> = (Option<&'a str>, Option<&'a str>, i32, (i32, i32));
        let fenceposts: &[Fencepost<'_>] = &[
            (Some("0%"), Some("0%"), 0, (0, 1)),
            (Some("39%"), Some("39%"), 10, (4, 3)),
            (None, Some("39%"), 10, (0, 3)),
            (Some("39%"), None, 10, (4, 0)),
            (None, None, 10, (0, 1)),
        ];
        for (surge, unavailable, desired, want) in fenceposts {
            let mut d: k8s_openapi::api::apps::v1::Deployment = Default::default();
            d.spec.strategy = Some(k8s_openapi::api::apps::v1::DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(k8s_openapi::api::apps::v1::RollingUpdateDeployment {
                    max_surge: surge.map(|s| IntOrString::String(s.into())),
                    max_unavailable: unavailable.map(|s| IntOrString::String(s.into())),
                }),
            });
            assert_eq!(
                deployment::surge_and_unavailable(&d, *desired),
                *want,
                "{surge:?} {unavailable:?} {desired}"
            );
        }
        // DeploymentProgressing: (current, updated, ready, available) before and after.
        let status = |c: i64, u: i64, r: i64, a: i64| json!({"replicas": c, "updatedReplicas": u, "readyReplicas": r, "availableReplicas": a});
        let table = [
            (
                "updated pods",
                status(10, 4, 4, 4),
                status(10, 6, 4, 4),
                true,
            ),
            (
                "not progressing",
                status(10, 4, 4, 4),
                status(10, 4, 4, 4),
                false,
            ),
            (
                "old pods removed",
                status(10, 4, 6, 6),
                status(8, 4, 6, 6),
                true,
            ),
            (
                "less new pods",
                status(10, 7, 3, 3),
                status(10, 6, 3, 3),
                false,
            ),
            (
                "less overall but more new pods",
                status(10, 4, 7, 7),
                status(8, 8, 5, 5),
                true,
            ),
            (
                "more ready pods",
                status(10, 10, 9, 8),
                status(10, 10, 10, 8),
                true,
            ),
            (
                "more available pods",
                status(10, 10, 10, 9),
                status(10, 10, 10, 10),
                true,
            ),
        ];
        for (name, before, after, want) in table {
            assert_eq!(made_progress(&before, &after), want, "{name}");
        }
        // DeploymentTimedOut: a Progressing condition last updated at 00:01:SS, now 00:01:20.
        let at = |secs: i64| 1_451_606_400_000_000 + (60 + secs) * 1_000_000;
        let cond = |reason: &str, updated: i64| json!({"type": "Progressing", "status": "True", "reason": reason, "lastUpdateTime": time(updated)});
        assert!(
            timed_out(&cond("", at(9)), 10, at(20)),
            "11 s past a 10 s deadline"
        );
        assert!(!timed_out(&cond("", at(11)), 10, at(20)), "9 s");
        assert!(
            !timed_out(&cond("NewReplicaSetAvailable", 0), 10, at(20)),
            "a complete one"
        );
        // Without a deadline (nil, or the API's infinite 2^31-1) no Progressing condition is
        // kept at all, so none times out.
        let mut d: k8s_openapi::api::apps::v1::Deployment = Default::default();
        let previous = json!({"conditions": [cond("", at(9))]});
        for none in [None, Some(i32::MAX)] {
            d.spec.progress_deadline_seconds = none;
            let (c, _) = progressing(
                &d,
                &previous,
                &status(1, 1, 0, 0),
                false,
                "rs",
                false,
                at(20),
            );
            assert_eq!(c, None);
        }
    }
}
