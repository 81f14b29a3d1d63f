//! A workload's own fields (everything but its pod template, which is checked as a Pod): the
//! API server's defaults (`pkg/apis/apps/v1/defaults.go`, `pkg/apis/batch/v1/defaults.go`) and
//! validation (`pkg/apis/apps/validation`, `pkg/apis/batch/validation`), in its words.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cron::Schedule;
use crate::cx::Cx;
use crate::cx::{enumerated, in_range};
use crate::kinds::{Workload, WorkloadKind};
use crate::labels::Selector;
use crate::path::FieldPath;

/// The labels the Job controller's API strategy gives a Job's pods and selects them by.
pub const JOB_UID_LABEL: &str = "batch.kubernetes.io/controller-uid";
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

fn set<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn percent(s: &str) -> IntOrString {
    IntOrString::String(s.to_string())
}

/// The API server's defaults for the workload's own fields, and for a Job the selector and
/// labels its create strategy generates from the uid (already in `metadata.uid`).
pub(crate) fn apply_defaults(w: &mut Workload) {
    match w {
        Workload::Deployment(d) => {
            let s = &mut d.spec;
            set(&mut s.replicas, 1);
            let strategy = s.strategy.get_or_insert_with(Default::default);
            set(&mut strategy.type_, "RollingUpdate".to_string());
            if strategy.type_.as_deref() == Some("RollingUpdate") {
                let ru = strategy.rolling_update.get_or_insert_with(Default::default);
                set(&mut ru.max_unavailable, percent("25%"));
                set(&mut ru.max_surge, percent("25%"));
            }
            set(&mut s.revision_history_limit, 10);
            set(&mut s.progress_deadline_seconds, 600);
        }
        Workload::ReplicaSet(r) => {
            set(&mut r.spec.replicas, 1);
        }
        Workload::StatefulSet(st) => {
            let s = &mut st.spec;
            set(&mut s.replicas, 1);
            set(&mut s.pod_management_policy, "OrderedReady".to_string());
            let u = s.update_strategy.get_or_insert_with(Default::default);
            set(&mut u.type_, "RollingUpdate".to_string());
            if u.type_.as_deref() == Some("RollingUpdate") {
                set(
                    &mut u
                        .rolling_update
                        .get_or_insert_with(Default::default)
                        .partition,
                    0,
                );
            }
            set(&mut s.revision_history_limit, 10);
            let p = s
                .persistent_volume_claim_retention_policy
                .get_or_insert_with(Default::default);
            set(&mut p.when_deleted, "Retain".to_string());
            set(&mut p.when_scaled, "Retain".to_string());
        }
        Workload::DaemonSet(ds) => {
            let s = &mut ds.spec;
            let u = s.update_strategy.get_or_insert_with(Default::default);
            set(&mut u.type_, "RollingUpdate".to_string());
            if u.type_.as_deref() == Some("RollingUpdate") {
                let ru = u.rolling_update.get_or_insert_with(Default::default);
                set(&mut ru.max_unavailable, IntOrString::Int(1));
                set(&mut ru.max_surge, IntOrString::Int(0));
            }
            set(&mut s.revision_history_limit, 10);
        }
        Workload::Job(j) => {
            let uid = j.metadata.uid.clone().unwrap_or_default();
            let name = j.metadata.name.clone().unwrap_or_default();
            if let Some(s) = j.spec.as_mut() {
                job_spec_defaults(s);
                generate_job_selector(s, &uid, &name);
            }
        }
        Workload::CronJob(c) => {
            let s = &mut c.spec;
            set(&mut s.concurrency_policy, "Allow".to_string());
            set(&mut s.suspend, false);
            set(&mut s.successful_jobs_history_limit, 3);
            set(&mut s.failed_jobs_history_limit, 1);
            // The job template keeps what it says: a Job's defaults are the Job's, given each
            // Job the CronJob makes as it is created (there is no defaulting of a JobSpec
            // alone).
        }
        Workload::ReplicationController(rc) => {
            let labels = rc
                .spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.clone())
                .unwrap_or_default();
            let s = rc.spec.get_or_insert_with(Default::default);
            set(&mut s.replicas, 1);
            if s.selector.as_ref().is_none_or(BTreeMap::is_empty) && !labels.is_empty() {
                s.selector = Some(labels.clone());
            }
            if rc.metadata.labels.as_ref().is_none_or(BTreeMap::is_empty) && !labels.is_empty() {
                rc.metadata.labels = Some(labels);
            }
        }
    }
}

fn job_spec_defaults(s: &mut batch::JobSpec) {
    if s.completions.is_none() && s.parallelism.is_none() {
        s.completions = Some(1);
    }
    set(&mut s.parallelism, 1);
    if s.backoff_limit_per_index.is_some() {
        set(&mut s.backoff_limit, i32::MAX);
    }
    set(&mut s.backoff_limit, 6);
    set(&mut s.completion_mode, "NonIndexed".to_string());
    set(&mut s.suspend, false);
    set(&mut s.manual_selector, false);
    let replacement = if s.pod_failure_policy.is_some() {
        "Failed"
    } else {
        "TerminatingOrFailed"
    };
    set(&mut s.pod_replacement_policy, replacement.to_string());
}

/// The Job strategy's generated selector (unless `manualSelector`): the pods carry the Job's uid
/// and name as labels, and the Job selects them by its uid.
fn generate_job_selector(s: &mut batch::JobSpec, uid: &str, name: &str) {
    if s.manual_selector == Some(true) || uid.is_empty() {
        return;
    }
    let labels = s
        .template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    for (k, v) in [
        (JOB_UID_LABEL, uid),
        (JOB_NAME_LABEL, name),
        ("controller-uid", uid),
        ("job-name", name),
    ] {
        labels.entry(k.to_string()).or_insert_with(|| v.to_string());
    }
    if s.selector.is_none() {
        s.selector = Some(LabelSelector {
            match_labels: Some(BTreeMap::from([(
                JOB_UID_LABEL.to_string(),
                uid.to_string(),
            )])),
            match_expressions: None,
        });
    }
}

/// A label selector as a [`Selector`]; the error is the API server's words for the first bad
/// requirement.
pub fn selector_of(s: &LabelSelector) -> Result<Selector, String> {
    use crate::labels::Requirement as R;
    let mut out = Vec::new();
    for (k, v) in s.match_labels.iter().flatten() {
        out.push(R::Equals(k.clone(), v.clone()));
    }
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default();
        let r = match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!(
                    "values must be given when `operator` is 'In' or 'NotIn' (key {:?})",
                    e.key
                ))
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                return Err(format!(
                "values may not be given when `operator` is 'Exists' or 'DoesNotExist' (key {:?})",
                e.key
            ))
            }
            "In" => R::In(e.key.clone(), values),
            "NotIn" => R::NotIn(e.key.clone(), values),
            "Exists" => R::Exists(e.key.clone()),
            "DoesNotExist" => R::DoesNotExist(e.key.clone()),
            other => {
                return Err(format!(
                    "{other:?} is not a valid selector operator (In, NotIn, Exists, DoesNotExist)"
                ))
            }
        };
        out.push(r);
    }
    Ok(Selector(out))
}

/// Fields of a workload's own that its controller here does not act on yet, by kind, with what
/// happens instead: a warning each when the input sets them, never silently ignored.
const NOT_ACTED_ON: &[(WorkloadKind, &[&str], &str)] = &[
    (
        WorkloadKind::StatefulSet,
        &["updateStrategy", "rollingUpdate", "maxUnavailable"],
        "pods are updated one at a time (the field is alpha, MaxUnavailableStatefulSet; a cluster with default feature gates drops it too)",
    ),
    (
        WorkloadKind::Job,
        &["managedBy"],
        "tandem's own Job controller runs the Job whatever controller it names",
    ),
];

/// Validates a defaulted workload's own fields; its template is validated as a Pod elsewhere.
pub(crate) fn validate(cx: &mut Cx<'_>, w: &Workload) {
    let spec = FieldPath::root().field("spec");
    let kind = w.kind();
    for (k, path, instead) in NOT_ACTED_ON {
        let at = path.iter().fold(spec.clone(), |p, f| p.field(f));
        if *k == kind && cx.given(&at) {
            cx.warn(
                &at,
                format!(
                    "spec.{} is not supported by tandem's {kind} controller yet and is ignored: {instead}",
                    path.join(".")
                ),
                None,
            );
        }
    }
    if w.template().is_none() {
        let at = kind
            .template_path()
            .iter()
            .fold(FieldPath::root(), |p, f| p.field(f));
        cx.error(&at, "a pod template is required");
        return;
    }
    match w {
        Workload::Deployment(d) => {
            let s = &d.spec;
            replicated(
                cx,
                kind,
                s.replicas,
                s.min_ready_seconds,
                s.revision_history_limit,
            );
            if let Some(st) = &s.strategy {
                deployment_strategy(cx, &spec.field("strategy"), st);
            }
            if let Some(p) = s.progress_deadline_seconds {
                if p <= s.min_ready_seconds.unwrap_or(0) {
                    cx.error(
                        &spec.field("progressDeadlineSeconds"),
                        "progressDeadlineSeconds must be greater than minReadySeconds",
                    );
                }
            }
        }
        Workload::ReplicaSet(r) => {
            let s = &r.spec;
            replicated(cx, kind, s.replicas, s.min_ready_seconds, None);
        }
        Workload::ReplicationController(rc) => {
            let Some(s) = &rc.spec else { return };
            replicated(cx, kind, s.replicas, s.min_ready_seconds, None);
        }
        Workload::StatefulSet(st) => {
            let s = &st.spec;
            replicated(
                cx,
                kind,
                s.replicas,
                s.min_ready_seconds,
                s.revision_history_limit,
            );
            statefulset(cx, &spec, s);
        }
        Workload::DaemonSet(ds) => {
            let s = &ds.spec;
            replicated(
                cx,
                kind,
                None,
                s.min_ready_seconds,
                s.revision_history_limit,
            );
            if let Some(t) = s.update_strategy.as_ref().and_then(|u| u.type_.as_deref()) {
                enumerated(
                    cx,
                    &spec.field("updateStrategy").field("type"),
                    "updateStrategy.type",
                    t,
                    &["RollingUpdate", "OnDelete"],
                );
            }
        }
        Workload::Job(j) => {
            if let Some(s) = &j.spec {
                job_spec(cx, &spec, s);
            }
        }
        Workload::CronJob(c) => cronjob(cx, &spec, &c.spec, w.name()),
    }
    selector_and_template(cx, w);
}

/// The checks shared by the kinds that keep a number of pods running.
fn replicated(
    cx: &mut Cx<'_>,
    kind: WorkloadKind,
    replicas: Option<i32>,
    min_ready: Option<i32>,
    history: Option<i32>,
) {
    let spec = FieldPath::root().field("spec");
    for (field, v) in [
        ("replicas", replicas),
        ("minReadySeconds", min_ready),
        ("revisionHistoryLimit", history),
    ] {
        if let Some(v) = v {
            in_range(cx, &spec.field(field), field, v.into(), 0, i32::MAX.into());
        }
    }
    let t = template_path(kind);
    let Some(template) = cx.root.at(&t) else {
        return;
    };
    let restart = template
        .get("spec")
        .and_then(|s| s.get("restartPolicy"))
        .and_then(crate::yaml::Node::as_str)
        .map(str::to_string);
    if let Some(r) = restart {
        let what = format!("restartPolicy of a {kind}'s pods");
        enumerated(
            cx,
            &t.field("spec").field("restartPolicy"),
            &what,
            &r,
            &["Always"],
        );
    }
    if template
        .get("spec")
        .and_then(|s| s.get("activeDeadlineSeconds"))
        .is_some_and(|n| !n.is_null())
    {
        cx.error(
            &t.field("spec").field("activeDeadlineSeconds"),
            format!("activeDeadlineSeconds in {kind} is not Supported"),
        );
    }
}

fn template_path(kind: WorkloadKind) -> FieldPath {
    kind.template_path()
        .iter()
        .fold(FieldPath::root(), |p, f| p.field(f))
}

fn deployment_strategy(cx: &mut Cx<'_>, at: &FieldPath, st: &apps::DeploymentStrategy) {
    let t = st.type_.as_deref().unwrap_or("RollingUpdate");
    if !enumerated(
        cx,
        &at.field("type"),
        "strategy.type",
        t,
        &["Recreate", "RollingUpdate"],
    ) {
        return;
    }
    match (t, &st.rolling_update) {
        ("Recreate", Some(_)) => cx.error(
            &at.field("rollingUpdate"),
            "may not be specified when strategy `type` is 'Recreate'",
        ),
        ("RollingUpdate", Some(ru)) => {
            let ru_at = at.field("rollingUpdate");
            let surge = int_or_percent(cx, &ru_at.field("maxSurge"), ru.max_surge.as_ref(), None);
            let unavailable = int_or_percent(
                cx,
                &ru_at.field("maxUnavailable"),
                ru.max_unavailable.as_ref(),
                Some(100),
            );
            if surge == Some(0) && unavailable == Some(0) {
                cx.error(
                    &ru_at.field("maxUnavailable"),
                    "may not be 0 when `maxSurge` is 0",
                );
            }
        }
        _ => {}
    }
}

/// An int-or-percent field: a non-negative integer or `N%` (at most `max_percent`). Returns
/// the number or percentage when valid.
pub(crate) fn int_or_percent(
    cx: &mut Cx<'_>,
    at: &FieldPath,
    v: Option<&IntOrString>,
    max_percent: Option<i64>,
) -> Option<i64> {
    let n = match v? {
        IntOrString::Int(i) => i64::from(*i),
        IntOrString::String(s) => {
            let Some(n) = s.strip_suffix('%').and_then(|n| n.parse::<i64>().ok()) else {
                cx.error(
                    at,
                    format!("{s:?}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%', or '93%')"),
                );
                return None;
            };
            if let Some(max) = max_percent.filter(|m| n > *m) {
                cx.error(at, format!("{s:?} must not be greater than {max}%"));
                return None;
            }
            n
        }
    };
    if n < 0 {
        cx.error(at, format!("{n} must be greater than or equal to 0"));
        return None;
    }
    Some(n)
}

fn statefulset(cx: &mut Cx<'_>, spec: &FieldPath, s: &apps::StatefulSetSpec) {
    if let Some(start) = s.ordinals.as_ref().and_then(|o| o.start) {
        in_range(
            cx,
            &spec.field("ordinals").field("start"),
            "ordinals.start",
            start.into(),
            0,
            i32::MAX.into(),
        );
    }
    if let Some(p) = &s.pod_management_policy {
        enumerated(
            cx,
            &spec.field("podManagementPolicy"),
            "podManagementPolicy",
            p,
            &["OrderedReady", "Parallel"],
        );
    }
    if let Some(u) = &s.update_strategy {
        let at = spec.field("updateStrategy");
        if let Some(t) = &u.type_ {
            enumerated(
                cx,
                &at.field("type"),
                "updateStrategy.type",
                t,
                &["RollingUpdate", "OnDelete"],
            );
        }
        if let Some(p) = u.rolling_update.as_ref().and_then(|r| r.partition) {
            in_range(
                cx,
                &at.field("rollingUpdate").field("partition"),
                "partition",
                p.into(),
                0,
                i32::MAX.into(),
            );
        }
    }
    if let Some(p) = &s.persistent_volume_claim_retention_policy {
        let at = spec.field("persistentVolumeClaimRetentionPolicy");
        for (f, v) in [
            ("whenDeleted", &p.when_deleted),
            ("whenScaled", &p.when_scaled),
        ] {
            if let Some(v) = v {
                enumerated(cx, &at.field(f), f, v, &["Retain", "Delete"]);
            }
        }
    }
    for (i, claim) in s.volume_claim_templates.iter().flatten().enumerate() {
        let at = spec
            .field("volumeClaimTemplates")
            .index(i)
            .field("metadata")
            .field("name");
        match claim.metadata.name.as_deref() {
            None | Some("") => cx.error(&at, "a claim template needs a name"),
            Some(n) => {
                if let Some(msg) = crate::names::dns1123_subdomain(n) {
                    cx.error(&at, format!("invalid name {n:?}: {msg}"));
                }
            }
        }
    }
}

fn job_spec(cx: &mut Cx<'_>, spec: &FieldPath, s: &batch::JobSpec) {
    for (field, v, min) in [
        ("parallelism", s.parallelism, 0),
        ("completions", s.completions, 0),
        ("backoffLimit", s.backoff_limit, 0),
        ("backoffLimitPerIndex", s.backoff_limit_per_index, 0),
        ("maxFailedIndexes", s.max_failed_indexes, 0),
        ("ttlSecondsAfterFinished", s.ttl_seconds_after_finished, 0),
    ] {
        if let Some(v) = v {
            in_range(
                cx,
                &spec.field(field),
                field,
                v.into(),
                min,
                i32::MAX.into(),
            );
        }
    }
    if let Some(d) = s.active_deadline_seconds {
        in_range(
            cx,
            &spec.field("activeDeadlineSeconds"),
            "activeDeadlineSeconds",
            d,
            1,
            i64::MAX,
        );
    }
    let mode = s.completion_mode.as_deref().unwrap_or("NonIndexed");
    if enumerated(
        cx,
        &spec.field("completionMode"),
        "completionMode",
        mode,
        &["NonIndexed", "Indexed"],
    ) && mode == "Indexed"
        && s.completions.is_none()
    {
        cx.error(
            &spec.field("completions"),
            "completions is required when completionMode is Indexed",
        );
    }
    if mode != "Indexed" && s.backoff_limit_per_index.is_some() {
        cx.error(
            &spec.field("backoffLimitPerIndex"),
            "backoffLimitPerIndex requires completionMode Indexed",
        );
    }
    if cx.given(&spec.field("selector")) && s.manual_selector != Some(true) {
        cx.error_hint(
            &spec.field("selector"),
            "`selector` will be auto-generated",
            "remove spec.selector, or set spec.manualSelector: true to choose it yourself",
        );
    }
    let template = spec.field("template").field("spec").field("restartPolicy");
    let restart = s
        .template
        .spec
        .as_ref()
        .and_then(|p| p.restart_policy.as_deref())
        .unwrap_or("Always");
    enumerated(
        cx,
        &template,
        "restartPolicy of a Job's pods",
        restart,
        &["OnFailure", "Never"],
    );
    if s.pod_failure_policy.is_some() && restart != "Never" {
        cx.error(
            &template,
            "only \"Never\" is supported when podFailurePolicy is specified",
        );
    }
    if let Some(policy) = &s.pod_failure_policy {
        pod_failure_policy(cx, &spec.field("podFailurePolicy"), s, policy);
    }
    if let Some(policy) = &s.success_policy {
        success_policy(cx, &spec.field("successPolicy"), mode, s, policy);
    }
}

/// A Job's `successPolicy`, by the API server's rules (`validateSuccessPolicy`): an Indexed
/// Job's, 1 to 20 rules, each with `succeededIndexes` (in the format of `completedIndexes`,
/// below `completions`) or `succeededCount` (at most `completions`, and at most the indexes it
/// names) or both.
fn success_policy(
    cx: &mut Cx<'_>,
    at: &FieldPath,
    mode: &str,
    s: &batch::JobSpec,
    policy: &batch::SuccessPolicy,
) {
    if mode != "Indexed" {
        cx.error(at, "successPolicy requires completionMode Indexed");
        return;
    }
    let completions = s.completions.unwrap_or(0);
    let rules_at = at.field("rules");
    if policy.rules.is_empty() || policy.rules.len() > 20 {
        cx.error(&rules_at, "must have from 1 to 20 rules");
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        let rule_at = rules_at.index(i);
        if rule.succeeded_count.is_none() && rule.succeeded_indexes.is_none() {
            cx.error(
                &rule_at,
                "at least one of succeededCount or succeededIndexes must be specified",
            );
        }
        let named = rule.succeeded_indexes.as_deref().and_then(|text| {
            indexes(text, completions)
                .map_err(|e| {
                    cx.error(
                        &rule_at.field("succeededIndexes"),
                        format!("error parsing succeededIndexes: {e}"),
                    )
                })
                .ok()
        });
        if let Some(n) = rule.succeeded_count {
            let count_at = rule_at.field("succeededCount");
            if n < 0 {
                cx.error(&count_at, "must be greater than or equal to 0");
            } else if n > completions {
                cx.error(
                    &count_at,
                    format!("must be less than or equal to {completions} (the number of specified completions)"),
                );
            } else if let Some(named) = named.filter(|named| n as usize > named.len()) {
                cx.error(
                    &count_at,
                    format!("must be less than or equal to {} (the number of indexes in the specified succeededIndexes field)", named.len()),
                );
            }
        }
    }
}

/// Indexes written as a Job's `completedIndexes` and a success policy's `succeededIndexes` are:
/// `1,3-5,7`, each below `completions`, in increasing order (`validateIndexesFormat`).
pub fn indexes(text: &str, completions: i32) -> Result<std::collections::BTreeSet<i32>, String> {
    let mut out = std::collections::BTreeSet::new();
    let mut previous: Option<i32> = None;
    for fragment in text.split(',') {
        let parts: Vec<&str> = fragment.split('-').collect();
        if parts.len() > 2 {
            return Err(format!(
                "the fragment {fragment:?} violates the requirement that an index interval can have at most two parts"
            ));
        }
        let mut bounds = vec![];
        for p in &parts {
            let n: i32 = p
                .parse()
                .map_err(|_| format!("cannot convert string to integer for index: {p:?}"))?;
            if n >= completions {
                return Err(format!("too large index: {p:?}"));
            }
            if let Some(before) = previous.filter(|b| n <= *b) {
                return Err(format!(
                    "non-increasing order, previous: {before}, current: {n}"
                ));
            }
            previous = Some(n);
            bounds.push(n);
        }
        let (first, last) = (bounds[0], *bounds.last().unwrap_or(&bounds[0]));
        out.extend(first..=last);
    }
    Ok(out)
}

/// A Job's `podFailurePolicy`, by the API server's rules (`validatePodFailurePolicy` in
/// pkg/apis/batch/validation): at most 20 rules, each with an action and exactly one of
/// `onExitCodes` (In or NotIn, 1 to 255 ordered unique values, no 0 for In, a container of the
/// template) and `onPodConditions` (at most 20 patterns, status True, False or Unknown).
fn pod_failure_policy(
    cx: &mut Cx<'_>,
    at: &FieldPath,
    s: &batch::JobSpec,
    policy: &batch::PodFailurePolicy,
) {
    let rules_at = at.field("rules");
    if policy.rules.len() > 20 {
        cx.error(
            &rules_at,
            format!("must have at most 20 items, got {}", policy.rules.len()),
        );
    }
    let containers: Vec<&str> = s
        .template
        .spec
        .iter()
        .flat_map(|p| {
            p.init_containers
                .iter()
                .flatten()
                .chain(p.containers.iter())
        })
        .map(|c| c.name.as_str())
        .collect();
    for (i, rule) in policy.rules.iter().enumerate() {
        let rule_at = rules_at.index(i);
        let action_at = rule_at.field("action");
        if rule.action == "FailIndex" {
            if s.backoff_limit_per_index.is_none() {
                cx.error(
                    &action_at,
                    "FailIndex requires the backoffLimitPerIndex to be set",
                );
            }
        } else {
            enumerated(
                cx,
                &action_at,
                "action",
                &rule.action,
                &["Count", "FailIndex", "FailJob", "Ignore"],
            );
        }
        let conditions = rule.on_pod_conditions.as_deref().unwrap_or_default();
        match (&rule.on_exit_codes, conditions.is_empty()) {
            (Some(_), false) => cx.error(
                &rule_at,
                "specifying both onExitCodes and onPodConditions is not supported",
            ),
            (None, true) => cx.error(
                &rule_at,
                "specifying one of onExitCodes and onPodConditions is required",
            ),
            _ => {}
        }
        if let Some(req) = &rule.on_exit_codes {
            let req_at = rule_at.field("onExitCodes");
            enumerated(
                cx,
                &req_at.field("operator"),
                "operator",
                &req.operator,
                &["In", "NotIn"],
            );
            if let Some(name) = &req.container_name {
                if !containers.contains(&name.as_str()) {
                    cx.error(
                        &req_at.field("containerName"),
                        format!("{name:?} must be one of the container or initContainer names in the pod template"),
                    );
                }
            }
            let values_at = req_at.field("values");
            if req.values.is_empty() || req.values.len() > 255 {
                cx.error(&values_at, "must have from 1 to 255 values");
            }
            for (j, v) in req.values.iter().enumerate() {
                if req.operator == "In" && *v == 0 {
                    cx.error(&values_at.index(j), "must not be 0 for the In operator");
                }
                if req.values[..j].contains(v) {
                    cx.error(&values_at.index(j), format!("duplicate value {v}"));
                }
            }
            if req.values.windows(2).any(|w| w[0] > w[1]) {
                cx.error(&values_at, "must be ordered");
            }
        }
        let patterns_at = rule_at.field("onPodConditions");
        if conditions.len() > 20 {
            cx.error(
                &patterns_at,
                format!("must have at most 20 items, got {}", conditions.len()),
            );
        }
        for (j, p) in conditions.iter().enumerate() {
            let status = p.status.as_deref().unwrap_or("True");
            enumerated(
                cx,
                &patterns_at.index(j).field("status"),
                "status",
                status,
                &["False", "True", "Unknown"],
            );
        }
    }
}

fn cronjob(cx: &mut Cx<'_>, spec: &FieldPath, s: &batch::CronJobSpec, name: &str) {
    // The Job's name is the CronJob's plus an 11-character suffix: 52 keeps it within 63.
    if name.len() > 52 {
        cx.error(
            &FieldPath::root().field("metadata").field("name"),
            "a CronJob's name must be no more than 52 characters",
        );
    }
    if s.schedule.is_empty() {
        cx.error(&spec.field("schedule"), "schedule is required");
    } else if let Err(e) = Schedule::parse(&s.schedule) {
        cx.error(
            &spec.field("schedule"),
            format!("invalid schedule {:?}: {e}", s.schedule),
        );
    }
    if let Some(tz) = &s.time_zone {
        if tz.is_empty() || tz.contains(' ') || tz.starts_with('/') || tz.contains("..") {
            cx.error(&spec.field("timeZone"), format!("unknown time zone {tz:?}"));
        }
    }
    if let Some(p) = &s.concurrency_policy {
        enumerated(
            cx,
            &spec.field("concurrencyPolicy"),
            "concurrencyPolicy",
            p,
            &["Allow", "Forbid", "Replace"],
        );
    }
    for (field, v) in [
        ("startingDeadlineSeconds", s.starting_deadline_seconds),
        (
            "successfulJobsHistoryLimit",
            s.successful_jobs_history_limit.map(i64::from),
        ),
        (
            "failedJobsHistoryLimit",
            s.failed_jobs_history_limit.map(i64::from),
        ),
    ] {
        if let Some(v) = v {
            in_range(cx, &spec.field(field), field, v, 0, i64::MAX);
        }
    }
    if let Some(js) = &s.job_template.spec {
        job_spec(cx, &spec.field("jobTemplate").field("spec"), js);
    }
}

/// The selector is valid, not empty, and selects the template's own labels.
fn selector_and_template(cx: &mut Cx<'_>, w: &Workload) {
    let kind = w.kind();
    let Some(selector) = w.selector() else {
        return;
    };
    // A missing selector of the apps kinds is the schema check's "missing required field".
    let at = FieldPath::root().field("spec").field("selector");
    let sel = match selector_of(&selector) {
        Ok(s) => s,
        Err(e) => {
            cx.error(&at, e);
            return;
        }
    };
    if sel.0.is_empty() {
        cx.error(
            &at,
            format!(
                "empty selector is invalid for {}",
                kind.name().to_ascii_lowercase()
            ),
        );
        return;
    }
    let labels = w
        .template()
        .and_then(|t: &PodTemplateSpec| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    if !sel.matches(&labels) {
        cx.error_hint(
            &template_path(kind).field("metadata").field("labels"),
            "`selector` does not match template `labels`",
            "give the template every label the selector asks for",
        );
    }
}
