//! Workloads as kubectl's describers lay them out (`describeDeployment`, `describeReplicaSet`,
//! `describeStatefulSet`, `describeDaemonSet`, `describeJob`, `describeCronJob`,
//! `describeReplicationController` in kubectl's `pkg/describe`): identity, replicas and the
//! phases of the pods the workload controls, its strategy, the pod template, conditions and the
//! events its controller recorded about it. kubectl 1.33's layout, the release installed here
//! (later releases add a CronJob's time zone and a StatefulSet's service name, pod management
//! policy and claim retention policy).

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job, JobTemplateSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tandem_api::Workload;
use tandem_controllers::events::WorkloadEvent;
use tandem_kubelet::status::human_duration;

use super::layout::{events, multiline, pod_template, rfc1123z, EventRow};
use crate::commands::workloads::{label_selector_text, selector_text};
use crate::output::tabwriter::TabWriter;

/// What a description needs beyond the object: the pods of its namespace (to count those it
/// controls by phase), its controller's events, and a Deployment's ReplicaSets.
pub(super) struct Context<'a> {
    pub pods: &'a [Pod],
    pub events: &'a [WorkloadEvent],
    pub replica_sets: &'a [&'a ReplicaSet],
    pub now_us: i64,
}

/// One workload described.
pub(super) fn describe(w: &Workload, cx: &Context<'_>) -> String {
    let mut out = TabWriter::default();
    match w {
        Workload::Deployment(d) => deployment(&mut out, w, d, cx),
        Workload::ReplicaSet(_) | Workload::ReplicationController(_) => replicated(&mut out, w, cx),
        Workload::StatefulSet(s) => stateful_set(&mut out, w, s, cx),
        Workload::DaemonSet(ds) => daemon_set(&mut out, w, ds, cx),
        Workload::Job(j) => job(&mut out, w, j),
        Workload::CronJob(c) => cron_job(&mut out, c),
    }
    let rows: Vec<EventRow> = cx
        .events
        .iter()
        .filter(|e| e.object_kind == w.kind().name() && e.object_name == w.name())
        .map(|e| EventRow {
            time_us: e.time_us,
            kind: format!("{:?}", e.kind),
            reason: e.reason.to_string(),
            from: e.source.clone(),
            message: e.message.clone(),
            about: None,
        })
        .collect();
    events(&mut out, &rows, cx.now_us);
    out.finish()
}

fn line(w: &mut TabWriter, text: String) {
    w.write(&text);
    w.write("\n");
}

fn name_and_namespace(w: &mut TabWriter, meta: &ObjectMeta) {
    line(
        w,
        format!("Name:\t{}", meta.name.as_deref().unwrap_or_default()),
    );
    line(
        w,
        format!(
            "Namespace:\t{}",
            meta.namespace.as_deref().unwrap_or("default")
        ),
    );
}

fn created(w: &mut TabWriter, meta: &ObjectMeta) {
    let at = meta
        .creation_timestamp
        .as_ref()
        .map_or_else(|| "<unknown>".to_string(), rfc1123z);
    line(w, format!("CreationTimestamp:\t{at}"));
}

fn labels_and_annotations(w: &mut TabWriter, meta: &ObjectMeta) {
    multiline(w, "Labels", meta.labels.as_ref(), false);
    multiline(w, "Annotations", meta.annotations.as_ref(), true);
}

fn controlled_by(w: &mut TabWriter, meta: &ObjectMeta) {
    if let Some(o) = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    {
        line(w, format!("Controlled By:\t{}/{}", o.kind, o.name));
    }
}

/// `Pods Status:` counts the pods whose controller is the workload, by phase.
fn pods_status(w: &mut TabWriter, uid: &str, cx: &Context<'_>) {
    let (mut running, mut waiting, mut succeeded, mut failed) = (0, 0, 0, 0);
    for p in cx.pods {
        let owned = p
            .metadata
            .owner_references
            .iter()
            .flatten()
            .any(|o| o.controller == Some(true) && o.uid == uid);
        if !owned {
            continue;
        }
        match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
            Some("Running") => running += 1,
            Some("Pending") => waiting += 1,
            Some("Succeeded") => succeeded += 1,
            Some("Failed") => failed += 1,
            _ => {}
        }
    }
    line(
        w,
        format!(
            "Pods Status:\t{running} Running / {waiting} Waiting / {succeeded} Succeeded / {failed} Failed"
        ),
    );
}

/// The `Conditions:` table of the kinds that print one, when the status has any.
fn conditions(w: &mut TabWriter, status: &serde_json::Value) {
    let Some(list) = status["conditions"].as_array().filter(|c| !c.is_empty()) else {
        return;
    };
    line(w, "Conditions:\n  Type\tStatus\tReason".into());
    line(w, "  ----\t------\t------".into());
    for c in list {
        let text = |f: &str| c[f].as_str().unwrap_or_default().to_string();
        line(
            w,
            format!(
                "  {} \t{}\t{}",
                text("type"),
                text("status"),
                text("reason")
            ),
        );
    }
}

fn int_or_string(v: Option<&IntOrString>) -> String {
    match v {
        Some(IntOrString::Int(i)) => i.to_string(),
        Some(IntOrString::String(s)) => s.clone(),
        None => String::new(),
    }
}

fn set_or_unset<T: std::fmt::Display>(v: Option<T>, unit: &str) -> String {
    v.map_or_else(|| "<unset>".to_string(), |v| format!("{v}{unit}"))
}

fn deployment(w: &mut TabWriter, whole: &Workload, d: &Deployment, cx: &Context<'_>) {
    let meta = &d.metadata;
    let status = d.status.clone().unwrap_or_default();
    name_and_namespace(w, meta);
    created(w, meta);
    labels_and_annotations(w, meta);
    line(w, format!("Selector:\t{}", selector_text(whole)));
    line(
        w,
        format!(
            "Replicas:\t{} desired | {} updated | {} total | {} available | {} unavailable",
            d.spec.replicas.unwrap_or(1),
            status.updated_replicas.unwrap_or(0),
            status.replicas.unwrap_or(0),
            status.available_replicas.unwrap_or(0),
            status.unavailable_replicas.unwrap_or(0)
        ),
    );
    let strategy = d.spec.strategy.clone().unwrap_or_default();
    line(
        w,
        format!(
            "StrategyType:\t{}",
            strategy.type_.as_deref().unwrap_or_default()
        ),
    );
    line(
        w,
        format!(
            "MinReadySeconds:\t{}",
            d.spec.min_ready_seconds.unwrap_or(0)
        ),
    );
    if let Some(ru) = &strategy.rolling_update {
        line(
            w,
            format!(
                "RollingUpdateStrategy:\t{} max unavailable, {} max surge",
                int_or_string(ru.max_unavailable.as_ref()),
                int_or_string(ru.max_surge.as_ref())
            ),
        );
    }
    pod_template(w, &d.spec.template);
    conditions(w, &serde_json::to_value(&status).unwrap_or_default());
    // The new ReplicaSet runs the Deployment's template (its hash label says so); every other
    // one is old, scaled down or not.
    let (hash, _) = tandem_controllers::deployment::template_of(d);
    let is_new = |rs: &ReplicaSet| {
        rs.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(tandem_controllers::naming::POD_TEMPLATE_HASH))
            == Some(&hash)
    };
    let shown = |sets: Vec<&&ReplicaSet>| {
        let mut parts: Vec<String> = sets
            .iter()
            .map(|rs| {
                format!(
                    "{} ({}/{} replicas created)",
                    rs.metadata.name.as_deref().unwrap_or_default(),
                    rs.status.as_ref().map_or(0, |s| s.replicas),
                    rs.spec.replicas.unwrap_or(1)
                )
            })
            .collect();
        parts.sort();
        if parts.is_empty() {
            "<none>".to_string()
        } else {
            parts.join(", ")
        }
    };
    if !cx.replica_sets.is_empty() {
        let (new, old): (Vec<_>, Vec<_>) = cx.replica_sets.iter().partition(|rs| is_new(rs));
        line(w, format!("OldReplicaSets:\t{}", shown(old)));
        line(w, format!("NewReplicaSet:\t{}", shown(new)));
    }
}

/// A ReplicaSet or a ReplicationController: `describeReplicaSet` and
/// `describeReplicationController` write the same, but that a ReplicaSet names its controller.
fn replicated(w: &mut TabWriter, whole: &Workload, cx: &Context<'_>) {
    let meta = whole.metadata();
    let status = whole.to_json()["status"].clone();
    name_and_namespace(w, meta);
    line(w, format!("Selector:\t{}", selector_text(whole)));
    labels_and_annotations(w, meta);
    if matches!(whole, Workload::ReplicaSet(_)) {
        controlled_by(w, meta);
    }
    line(
        w,
        format!(
            "Replicas:\t{} current / {} desired",
            status["replicas"].as_i64().unwrap_or(0),
            whole.replicas().unwrap_or(1)
        ),
    );
    pods_status(w, whole.uid(), cx);
    pod_template(w, &whole.template().cloned().unwrap_or_default());
    conditions(w, &status);
}

fn stateful_set(w: &mut TabWriter, whole: &Workload, s: &StatefulSet, cx: &Context<'_>) {
    let meta = &s.metadata;
    name_and_namespace(w, meta);
    created(w, meta);
    line(w, format!("Selector:\t{}", selector_text(whole)));
    labels_and_annotations(w, meta);
    line(
        w,
        format!(
            "Replicas:\t{} desired | {} total",
            s.spec.replicas.unwrap_or(1),
            s.status.as_ref().map_or(0, |st| st.replicas)
        ),
    );
    let strategy = s.spec.update_strategy.clone().unwrap_or_default();
    line(
        w,
        format!(
            "Update Strategy:\t{}",
            strategy.type_.as_deref().unwrap_or_default()
        ),
    );
    if let Some(partition) = strategy.rolling_update.as_ref().and_then(|r| r.partition) {
        line(w, format!("  Partition:\t{partition}"));
        if let Some(m) = strategy
            .rolling_update
            .as_ref()
            .and_then(|r| r.max_unavailable.as_ref())
        {
            line(w, format!("  MaxUnavailable:\t{}", int_or_string(Some(m))));
        }
    }
    pods_status(w, whole.uid(), cx);
    pod_template(w, &s.spec.template);
    let claims = s.spec.volume_claim_templates.clone().unwrap_or_default();
    if claims.is_empty() {
        line(w, "Volume Claims:\t<none>".into());
    }
    if !claims.is_empty() {
        line(w, "Volume Claims:".into());
    }
    for c in &claims {
        let spec = c.spec.clone().unwrap_or_default();
        line(
            w,
            format!(
                "  Name:\t{}",
                c.metadata.name.as_deref().unwrap_or_default()
            ),
        );
        line(
            w,
            format!(
                "  StorageClass:\t{}",
                spec.storage_class_name.as_deref().unwrap_or_default()
            ),
        );
        multiline(w, "  Labels", c.metadata.labels.as_ref(), false);
        multiline(w, "  Annotations", c.metadata.annotations.as_ref(), false);
        let capacity = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map_or_else(|| "<default>".to_string(), |q| q.0.clone());
        line(w, format!("  Capacity:\t{capacity}"));
        line(
            w,
            format!(
                "  Access Modes:\t[{}]",
                spec.access_modes.unwrap_or_default().join(" ")
            ),
        );
    }
}

fn daemon_set(w: &mut TabWriter, whole: &Workload, ds: &DaemonSet, cx: &Context<'_>) {
    let meta = &ds.metadata;
    let status = ds.status.clone().unwrap_or_default();
    name_and_namespace(w, meta);
    line(w, format!("Selector:\t{}", selector_text(whole)));
    let node_selector = ds
        .spec
        .template
        .spec
        .as_ref()
        .and_then(|s| s.node_selector.clone())
        .unwrap_or_default()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    line(
        w,
        format!(
            "Node-Selector:\t{}",
            if node_selector.is_empty() {
                "<none>"
            } else {
                &node_selector
            }
        ),
    );
    labels_and_annotations(w, meta);
    // These lines have no tab in kubectl's layout either: they are not aligned.
    line(
        w,
        format!(
            "Desired Number of Nodes Scheduled: {}",
            status.desired_number_scheduled
        ),
    );
    line(
        w,
        format!(
            "Current Number of Nodes Scheduled: {}",
            status.current_number_scheduled
        ),
    );
    line(
        w,
        format!(
            "Number of Nodes Scheduled with Up-to-date Pods: {}",
            status.updated_number_scheduled.unwrap_or(0)
        ),
    );
    line(
        w,
        format!(
            "Number of Nodes Scheduled with Available Pods: {}",
            status.number_available.unwrap_or(0)
        ),
    );
    line(
        w,
        format!(
            "Number of Nodes Misscheduled: {}",
            status.number_misscheduled
        ),
    );
    pods_status(w, whole.uid(), cx);
    pod_template(w, &ds.spec.template);
}

fn job(w: &mut TabWriter, whole: &Workload, j: &Job) {
    let meta = &j.metadata;
    let spec = j.spec.clone().unwrap_or_default();
    let status = j.status.clone().unwrap_or_default();
    name_and_namespace(w, meta);
    line(w, format!("Selector:\t{}", selector_text(whole)));
    labels_and_annotations(w, meta);
    controlled_by(w, meta);
    if let Some(p) = spec.parallelism {
        line(w, format!("Parallelism:\t{p}"));
    }
    line(
        w,
        format!("Completions:\t{}", set_or_unset(spec.completions, "")),
    );
    if let Some(m) = &spec.completion_mode {
        line(w, format!("Completion Mode:\t{m}"));
    }
    if let Some(s) = spec.suspend {
        line(w, format!("Suspend:\t{s}"));
    }
    if let Some(b) = spec.backoff_limit {
        line(w, format!("Backoff Limit:\t{b}"));
    }
    if let Some(t) = spec.ttl_seconds_after_finished {
        line(w, format!("TTL Seconds After Finished:\t{t}"));
    }
    if let Some(t) = &status.start_time {
        line(w, format!("Start Time:\t{}", rfc1123z(t)));
    }
    if let Some(t) = &status.completion_time {
        line(w, format!("Completed At:\t{}", rfc1123z(t)));
    }
    if let (Some(start), Some(end)) = (&status.start_time, &status.completion_time) {
        let secs = (end.0.as_second() - start.0.as_second()).max(0) as u64;
        line(w, format!("Duration:\t{}", human_duration(secs)));
    }
    if let Some(d) = spec.active_deadline_seconds {
        line(w, format!("Active Deadline Seconds:\t{d}s"));
    }
    let (active, succeeded, failed) = (
        status.active.unwrap_or(0),
        status.succeeded.unwrap_or(0),
        status.failed.unwrap_or(0),
    );
    match status.ready {
        Some(ready) => line(
            w,
            format!(
                "Pods Statuses:\t{active} Active ({ready} Ready) / {succeeded} Succeeded / {failed} Failed"
            ),
        ),
        None => line(
            w,
            format!("Pods Statuses:\t{active} Active / {succeeded} Succeeded / {failed} Failed"),
        ),
    }
    if spec.completion_mode.as_deref() == Some("Indexed") {
        line(
            w,
            format!(
                "Completed Indexes:\t{}",
                capped_indexes(status.completed_indexes.as_deref().unwrap_or_default(), 50)
            ),
        );
    }
    pod_template(w, &spec.template);
}

/// A Job's completed indexes (`1,3-5`), cut after the first comma past `soft_limit` bytes.
fn capped_indexes(indexes: &str, soft_limit: usize) -> String {
    if indexes.is_empty() {
        return "<none>".into();
    }
    match indexes
        .get(soft_limit..)
        .and_then(|rest| rest.find(','))
        .map(|i| soft_limit + i)
    {
        Some(comma) => format!("{}...", &indexes[..=comma]),
        None => indexes.to_string(),
    }
}

fn cron_job(w: &mut TabWriter, c: &CronJob) {
    let meta = &c.metadata;
    let spec = &c.spec;
    let status = c.status.clone().unwrap_or_default();
    name_and_namespace(w, meta);
    labels_and_annotations(w, meta);
    line(w, format!("Schedule:\t{}", spec.schedule));
    line(
        w,
        format!(
            "Concurrency Policy:\t{}",
            spec.concurrency_policy.as_deref().unwrap_or_default()
        ),
    );
    let suspend = spec
        .suspend
        .map(|s| if s { "True" } else { "False" }.to_string());
    line(w, format!("Suspend:\t{}", set_or_unset(suspend, "")));
    line(
        w,
        format!(
            "Successful Job History Limit:\t{}",
            set_or_unset(spec.successful_jobs_history_limit, "")
        ),
    );
    line(
        w,
        format!(
            "Failed Job History Limit:\t{}",
            set_or_unset(spec.failed_jobs_history_limit, "")
        ),
    );
    line(
        w,
        format!(
            "Starting Deadline Seconds:\t{}",
            set_or_unset(spec.starting_deadline_seconds, "s")
        ),
    );
    job_template(w, &spec.job_template);
    line(
        w,
        format!(
            "Last Schedule Time:\t{}",
            status
                .last_schedule_time
                .as_ref()
                .map_or_else(|| "<unset>".to_string(), rfc1123z)
        ),
    );
    let active: Vec<String> = status
        .active
        .iter()
        .flatten()
        .filter_map(|r| r.name.clone())
        .collect();
    line(
        w,
        format!(
            "Active Jobs:\t{}",
            if active.is_empty() {
                "<none>".to_string()
            } else {
                active.join(", ")
            }
        ),
    );
}

/// A CronJob's job template (`describeJobTemplate`).
fn job_template(w: &mut TabWriter, t: &JobTemplateSpec) {
    let spec = t.spec.clone().unwrap_or_default();
    let selector = spec.selector.as_ref().map(label_selector_text);
    line(w, format!("Selector:\t{}", set_or_unset(selector, "")));
    line(
        w,
        format!("Parallelism:\t{}", set_or_unset(spec.parallelism, "")),
    );
    line(
        w,
        format!("Completions:\t{}", set_or_unset(spec.completions, "")),
    );
    if let Some(d) = spec.active_deadline_seconds {
        line(w, format!("Active Deadline Seconds:\t{d}s"));
    }
    pod_template(w, &spec.template);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completed_indexes_are_cut_after_the_comma_past_the_limit() {
        assert_eq!(capped_indexes("", 50), "<none>");
        assert_eq!(capped_indexes("0-3,5", 50), "0-3,5");
        assert_eq!(capped_indexes("1,3,5,7,9", 3), "1,3,...");
        assert_eq!(capped_indexes("10-20,30", 2), "10-20,...");
    }
}
