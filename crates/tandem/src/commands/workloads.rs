//! `get`, `scale`, `set image`, `rollout`, `create job` and `delete` of workloads, with kubectl's
//! columns and words; a command that names a workload whose controller is not running starts it
//! again.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;
use tandem_api::{Workload, WorkloadKind};
use tandem_kubelet::status::human_duration;
use tandem_supervisor::logs::now_us;
use tandem_supervisor::statedir::Store;

use super::controller::{self, WorkloadDir};
use crate::cli::{CreateJobArgs, GetArgs, Output, RolloutCommand, RolloutTarget, ScaleArgs};
use crate::errors::hint;
use crate::output::{table, yaml::to_yaml};

fn not_found(kind: WorkloadKind, name: &str) -> anyhow::Error {
    crate::errors::not_found(
        &kind.group_resource(),
        name,
        format!("`tandem get {}` lists them", kind.plural()),
    )
}

/// The workload of that kind and name, or kubectl's NotFound.
fn existing(
    store: &Store,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
) -> anyhow::Result<WorkloadDir> {
    let dir = WorkloadDir::of(store, kind, namespace, name);
    if dir.root.join("workload.json").exists() {
        Ok(dir)
    } else {
        Err(not_found(kind, name))
    }
}

/// [`existing`], with its controller started again if it is not running (killed, say): any
/// command that names a workload recovers it.
pub(crate) fn recovered(
    store: &Store,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
) -> anyhow::Result<WorkloadDir> {
    let dir = existing(store, kind, namespace, name)?;
    recover(&dir, kind, name);
    Ok(dir)
}

/// Gives a stored workload an update already judged (`tandem_api::updates::workload_update`):
/// its new object and the references its template now resolves against; its controller (started
/// again if it is not running) rolls out a new template, scales or resumes as the spec asks.
pub(crate) fn change(
    store: &Store,
    w: Workload,
    references: &[Value],
    spec_changed: bool,
) -> anyhow::Result<()> {
    let (kind, namespace, name) = (w.kind(), w.namespace().to_string(), w.name().to_string());
    let dir = existing(store, kind, &namespace, &name)?;
    dir.replace(w, references, spec_changed)?;
    recover(&dir, kind, &name);
    Ok(())
}

/// Starts a workload's controller that is not running, saying so on stderr.
fn recover(dir: &WorkloadDir, kind: WorkloadKind, name: &str) {
    let restarted = super::own_exe().and_then(|exe| dir.ensure_controller(&exe));
    match restarted {
        Ok(true) => eprintln!(
            "warning: the controller of {}/{name} was not running; it is started again",
            kind.group_kind()
        ),
        Ok(false) => {}
        Err(e) => eprintln!(
            "warning: the controller of {}/{name} is not running and could not be started: {e:#}",
            kind.group_kind()
        ),
    }
}

fn age(w: &Workload) -> String {
    match &w.metadata().creation_timestamp {
        Some(t) => human_duration(((now_us() - t.0.as_microsecond()).max(0) / 1_000_000) as u64),
        None => "<unknown>".into(),
    }
}

fn num(status: &Value, field: &str) -> i64 {
    status[field].as_i64().unwrap_or(0)
}

/// kubectl's columns for a kind, and one row.
pub(crate) fn columns(kind: WorkloadKind) -> &'static [&'static str] {
    match kind {
        WorkloadKind::Deployment => &["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        WorkloadKind::ReplicaSet | WorkloadKind::ReplicationController => {
            &["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
        }
        WorkloadKind::StatefulSet => &["NAME", "READY", "AGE"],
        WorkloadKind::DaemonSet => &[
            "NAME",
            "DESIRED",
            "CURRENT",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "NODE SELECTOR",
            "AGE",
        ],
        WorkloadKind::Job => &["NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE"],
        WorkloadKind::CronJob => &[
            "NAME",
            "SCHEDULE",
            "TIMEZONE",
            "SUSPEND",
            "ACTIVE",
            "LAST SCHEDULE",
            "AGE",
        ],
    }
}

pub(crate) fn row(w: &Workload) -> Vec<String> {
    let s = w.to_json()["status"].clone();
    let spec_replicas = i64::from(w.replicas().unwrap_or(1));
    let name = w.name().to_string();
    match w {
        Workload::Deployment(_) => vec![
            name,
            format!("{}/{spec_replicas}", num(&s, "readyReplicas")),
            num(&s, "updatedReplicas").to_string(),
            num(&s, "availableReplicas").to_string(),
            age(w),
        ],
        Workload::ReplicaSet(_) | Workload::ReplicationController(_) => vec![
            name,
            spec_replicas.to_string(),
            num(&s, "replicas").to_string(),
            num(&s, "readyReplicas").to_string(),
            age(w),
        ],
        Workload::StatefulSet(_) => vec![
            name,
            format!("{}/{spec_replicas}", num(&s, "readyReplicas")),
            age(w),
        ],
        Workload::DaemonSet(ds) => vec![
            name,
            num(&s, "desiredNumberScheduled").to_string(),
            num(&s, "currentNumberScheduled").to_string(),
            num(&s, "numberReady").to_string(),
            num(&s, "updatedNumberScheduled").to_string(),
            num(&s, "numberAvailable").to_string(),
            ds.spec
                .template
                .spec
                .as_ref()
                .and_then(|p| p.node_selector.as_ref())
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "<none>".into()),
            age(w),
        ],
        Workload::Job(j) => {
            let spec = j.spec.clone().unwrap_or_default();
            let completions = match spec.completions {
                Some(c) => format!("{}/{c}", num(&s, "succeeded")),
                None => format!(
                    "{}/1 of {}",
                    num(&s, "succeeded"),
                    spec.parallelism.unwrap_or(1)
                ),
            };
            let start = s["startTime"]
                .as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
            let end = s["completionTime"]
                .as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok());
            let duration = match start {
                Some(st) => {
                    let until = end.map_or(now_us(), |e| e.as_microsecond());
                    human_duration(((until - st.as_microsecond()).max(0) / 1_000_000) as u64)
                }
                None => String::new(),
            };
            vec![name, job_status(&s), completions, duration, age(w)]
        }
        Workload::CronJob(c) => vec![
            name,
            c.spec.schedule.clone(),
            c.spec.time_zone.clone().unwrap_or_else(|| "<none>".into()),
            if c.spec.suspend.unwrap_or(false) {
                "True"
            } else {
                "False"
            }
            .into(),
            s["active"].as_array().map_or(0, Vec::len).to_string(),
            s["lastScheduleTime"]
                .as_str()
                .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                .map_or_else(
                    || "<none>".into(),
                    |t| human_duration(((now_us() - t.as_microsecond()).max(0) / 1_000_000) as u64),
                ),
            age(w),
        ],
    }
}

/// The STATUS column of a Job, as kubectl 1.33 derives it from the conditions.
fn job_status(s: &Value) -> String {
    let conditions = s["conditions"].as_array().cloned().unwrap_or_default();
    let has = |t: &str| {
        conditions
            .iter()
            .any(|c| c["type"] == t && c["status"] == "True")
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("Suspended") {
        "Suspended"
    } else {
        "Running"
    }
    .into()
}

/// `tandem get KIND [NAME]` for a workload kind.
pub fn get(store: &Store, kind: WorkloadKind, a: &GetArgs) -> anyhow::Result<i32> {
    if let Some(flag) = a.pod_only_flag() {
        return Err(hint(
            format!("{flag} is not supported for {} yet", kind.plural()),
            "use it with `tandem get pods`",
        ));
    }
    let mut items = listed(store, kind, a);
    if let Some(n) = &a.name {
        items.retain(|w| w.name() == n);
        if items.is_empty() {
            return Err(not_found(kind, n));
        }
    }
    let json = |ws: &[Workload]| -> Value {
        match (&a.name, ws.first()) {
            (Some(_), Some(w)) => w.to_json(),
            _ => crate::output::list_of(ws.iter().map(Workload::to_json).collect()),
        }
    };
    match &a.output {
        Some(Output::Json) => println!("{}", serde_json::to_string_pretty(&json(&items))?),
        Some(Output::Yaml) => print!("{}", to_yaml(&json(&items))),
        Some(Output::JsonPath(t)) => print!("{}", t.render(&json(&items))),
        Some(Output::Name) => {
            for w in &items {
                println!("{}/{}", kind.group_kind(), w.name());
            }
        }
        Some(Output::CustomColumns(_)) => {
            return Err(hint(
                format!(
                    "-o custom-columns is not supported for {} yet",
                    kind.plural()
                ),
                "use -o jsonpath, json or yaml",
            ))
        }
        Some(Output::Wide) | None => {
            if items.is_empty() {
                a.say_none_found();
                return Ok(0);
            }
            print!("{}", table_of(kind, &items, a, false));
        }
    }
    Ok(0)
}

/// The workloads of a kind that `get` lists (a Deployment's ReplicaSets among ReplicaSets).
fn listed(store: &Store, kind: WorkloadKind, a: &GetArgs) -> Vec<Workload> {
    let mut items: Vec<Workload> = Vec::new();
    for d in controller::list(store) {
        // The workload as the API shows it, then (a Deployment's) the ReplicaSets it keeps.
        let Ok(mut objects) = d.read_objects() else {
            continue;
        };
        let w = objects.remove(0);
        if !(a.all_namespaces || w.namespace() == a.namespace) {
            continue;
        }
        if w.kind() == kind {
            recover(&d, kind, w.name());
            items.push(w);
        } else if kind == WorkloadKind::ReplicaSet && w.kind() == WorkloadKind::Deployment {
            items.extend(objects);
        }
    }
    items
}

/// kubectl's table of workloads of one kind; `qualified` names them `deployment.apps/web`, as
/// `get all` does.
fn table_of(kind: WorkloadKind, items: &[Workload], a: &GetArgs, qualified: bool) -> String {
    let mut header: Vec<&str> = columns(kind).to_vec();
    if a.all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let wide = a.output == Some(Output::Wide);
    // kubectl's wide columns: the template's containers and images, and the selector (which a
    // StatefulSet's wide output leaves out).
    let selector_column = kind != WorkloadKind::StatefulSet;
    if wide {
        header.extend(["CONTAINERS", "IMAGES"]);
        if selector_column {
            header.push("SELECTOR");
        }
    }
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|w| {
            let mut r = row(w);
            if qualified {
                r[0] = format!("{}/{}", kind.group_kind(), r[0]);
            }
            if a.all_namespaces {
                r.insert(0, w.namespace().to_string());
            }
            if wide {
                let cs = w
                    .template()
                    .and_then(|t| t.spec.clone())
                    .map(|s| s.containers)
                    .unwrap_or_default();
                let join = |f: &dyn Fn(&k8s_openapi::api::core::v1::Container) -> String| {
                    cs.iter().map(f).collect::<Vec<_>>().join(",")
                };
                r.push(join(&|c| c.name.clone()));
                r.push(join(&|c| c.image.clone().unwrap_or_default()));
                if selector_column {
                    r.push(selector_text(w));
                }
            }
            r
        })
        .collect();
    table(&header, &rows)
}

/// A workload's selector as kubectl prints it: `app=web,tier in (a,b)`; `<none>` when it has
/// none.
pub(crate) fn selector_text(w: &Workload) -> String {
    w.selector()
        .map_or_else(|| "<none>".into(), |s| label_selector_text(&s))
}

/// A label selector as kubectl prints one: `app=web,tier in (a,b),!canary`.
pub(crate) fn label_selector_text(s: &LabelSelector) -> String {
    let mut parts: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in s.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            _ => format!("!{}", e.key),
        });
    }
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(",")
    }
}

/// The workload sections of `get all`, in kubectl's order, each a table (empty kinds left out).
pub fn all_sections(store: &Store, a: &GetArgs) -> Vec<String> {
    [
        WorkloadKind::ReplicationController,
        WorkloadKind::DaemonSet,
        WorkloadKind::Deployment,
        WorkloadKind::ReplicaSet,
        WorkloadKind::StatefulSet,
        WorkloadKind::CronJob,
        WorkloadKind::Job,
    ]
    .into_iter()
    .filter_map(|kind| {
        let items = listed(store, kind, a);
        (!items.is_empty()).then(|| table_of(kind, &items, a, true))
    })
    .collect()
}

/// `KIND/NAME` or `KIND NAME` as a workload kind and name.
pub fn target(words: &[String]) -> anyhow::Result<(WorkloadKind, String)> {
    let (kind, name) = match words {
        [one] => one
            .split_once('/')
            .map(|(k, n)| (k.to_string(), n.to_string()))
            .ok_or_else(|| {
                hint(
                    format!("{one:?} names no kind"),
                    "write KIND/NAME, e.g. deployment/web",
                )
            })?,
        [k, n] => (k.clone(), n.clone()),
        _ => {
            return Err(hint(
                "expected one workload",
                "write KIND/NAME, e.g. deployment/web",
            ))
        }
    };
    let kind = WorkloadKind::from_resource(&kind).ok_or_else(|| {
        hint(
            format!("the server doesn't have a resource type \"{kind}\""),
            "workloads are deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs and replicationcontrollers",
        )
    })?;
    Ok((kind, name))
}

/// `tandem scale KIND/NAME --replicas N`.
pub fn scale(store: &Store, a: ScaleArgs) -> anyhow::Result<i32> {
    let (kind, name) = target(&a.target)?;
    if !matches!(
        kind,
        WorkloadKind::Deployment
            | WorkloadKind::ReplicaSet
            | WorkloadKind::StatefulSet
            | WorkloadKind::ReplicationController
    ) {
        return Err(hint(
            format!("{} cannot be scaled", kind.group_resource()),
            "scale deployments, replicasets, statefulsets or replicationcontrollers",
        ));
    }
    if a.replicas < 0 {
        return Err(hint(
            format!("--replicas must be 0 or more, got {}", a.replicas),
            "e.g. --replicas 3",
        ));
    }
    set_replicas(store, kind, &a.namespace, &name, a.replicas)?;
    println!("{}/{name} scaled", kind.group_kind());
    Ok(0)
}

/// Gives a workload that scales a new number of replicas; its controller makes or removes pods
/// to match.
pub(crate) fn set_replicas(
    store: &Store,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    replicas: i32,
) -> anyhow::Result<()> {
    let dir = recovered(store, kind, namespace, name)?;
    dir.update(|w| {
        match w {
            Workload::Deployment(d) => d.spec.replicas = Some(replicas),
            Workload::ReplicaSet(r) => r.spec.replicas = Some(replicas),
            Workload::StatefulSet(s) => s.spec.replicas = Some(replicas),
            Workload::ReplicationController(rc) => {
                rc.spec.get_or_insert_with(Default::default).replicas = Some(replicas)
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(())
}

/// `tandem delete KIND NAME`: the workload and its pods (cascading, each pod gracefully), or
/// the workload alone (`--cascade=orphan`).
pub fn delete(
    store: &Store,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    deletion: controller::Deletion,
) -> anyhow::Result<()> {
    let dir = existing(store, kind, namespace, name)?;
    controller::delete(store, &dir, deletion)?;
    println!("{} \"{name}\" deleted", kind.group_kind());
    Ok(())
}

/// `tandem set image KIND/NAME CONTAINER=IMAGE...`: a new template, which the controllers of
/// Deployments, StatefulSets and DaemonSets roll out (a ReplicaSet's, ReplicationController's or
/// CronJob's gives it to the pods or Jobs it makes next, as on a cluster). A Job's template is
/// immutable.
pub fn set_image(
    store: &Store,
    kind: WorkloadKind,
    namespace: &str,
    name: &str,
    images: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<()> {
    if kind == WorkloadKind::Job {
        return Err(hint(
            format!("jobs.batch \"{name}\" is invalid: spec.template: Invalid value: field is immutable"),
            "delete the Job and run it again with the new image",
        ));
    }
    let dir = recovered(store, kind, namespace, name)?;
    dir.update(|w| {
        let spec = w
            .template_mut()
            .and_then(|t| t.spec.as_mut())
            .ok_or_else(|| {
                hint(
                    format!("{} {name} has no pod template", kind.name()),
                    "check the manifest",
                )
            })?;
        let names: Vec<String> = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .map(|c| c.name.clone())
            .collect();
        for (container, image) in images {
            let found = spec
                .init_containers
                .iter_mut()
                .flatten()
                .chain(spec.containers.iter_mut())
                .find(|c| c.name == *container);
            match found {
                Some(c) => c.image = Some(image.clone()),
                None => {
                    return Err(hint(
                        format!("unable to find container named {container:?}"),
                        format!(
                            "{} {name} has the containers {}",
                            kind.name(),
                            names.join(", ")
                        ),
                    ))
                }
            }
        }
        Ok(())
    })?;
    println!("{}/{name} image updated", kind.group_kind());
    Ok(())
}

/// `rollout pause` (`to: true`) and `rollout resume` of a Deployment: its `spec.paused`.
fn pause(store: &Store, t: &RolloutTarget, to: bool) -> anyhow::Result<i32> {
    let (_, name, dir) = rollout_target(store, t, &[WorkloadKind::Deployment])?;
    let paused = |w: &Workload| match w {
        Workload::Deployment(d) => d.spec.paused == Some(true),
        _ => false,
    };
    // kubectl's words (`polymorphichelpers/objectpauser.go`, `objectresumer.go`).
    if paused(&dir.read()?) == to {
        return Err(hint(
            format!(
                "deployments.apps \"{name}\" is {}",
                if to { "already paused" } else { "not paused" }
            ),
            format!("`tandem get deployment {name} -o yaml` shows spec.paused"),
        ));
    }
    dir.update(|w| {
        if let Workload::Deployment(d) = w {
            d.spec.paused = to.then_some(true);
        }
        Ok(())
    })?;
    println!(
        "deployment.apps/{name} {}",
        if to { "paused" } else { "resumed" }
    );
    Ok(0)
}

/// The Deployment a `rollout` verb names.
fn rollout_target(
    store: &Store,
    t: &RolloutTarget,
    kinds: &[WorkloadKind],
) -> anyhow::Result<(WorkloadKind, String, WorkloadDir)> {
    let (kind, name) = target(&t.target)?;
    if !kinds.contains(&kind) {
        let names: Vec<&str> = kinds.iter().map(|k| k.plural()).collect();
        return Err(hint(
            format!("this rollout verb does not take {} yet", kind.plural()),
            format!("it takes {}", names.join(", ")),
        ));
    }
    let dir = recovered(store, kind, &t.namespace, &name)?;
    Ok((kind, name, dir))
}

/// Where a rollout is, in kubectl's words (`kubectl/pkg/polymorphichelpers/rollout_status.go`).
enum Progress {
    Waiting(String),
    Done(String),
    /// The rollout will not finish: kubectl's error.
    Failed(String),
}

fn rollout_progress(name: &str, w: &Workload) -> Progress {
    let s = w.to_json()["status"].clone();
    let generation = w.metadata().generation.unwrap_or(1);
    let kind_words = match w.kind() {
        WorkloadKind::DaemonSet => "daemon set",
        WorkloadKind::StatefulSet => "statefulset",
        _ => "deployment",
    };
    if num(&s, "observedGeneration") < generation {
        return Progress::Waiting(format!(
            "Waiting for {kind_words} spec update to be observed..."
        ));
    }
    match w {
        Workload::DaemonSet(_) => {
            let desired = num(&s, "desiredNumberScheduled");
            let (updated, available) = (
                num(&s, "updatedNumberScheduled"),
                num(&s, "numberAvailable"),
            );
            let waiting = format!("Waiting for daemon set {name:?} rollout to finish");
            if updated < desired {
                Progress::Waiting(format!(
                    "{waiting}: {updated} out of {desired} new pods have been updated..."
                ))
            } else if available < desired {
                Progress::Waiting(format!(
                    "{waiting}: {available} of {desired} updated pods are available..."
                ))
            } else {
                Progress::Done(format!("daemon set {name:?} successfully rolled out"))
            }
        }
        Workload::StatefulSet(st) => {
            let replicas = i64::from(st.spec.replicas.unwrap_or(1));
            let ready = num(&s, "readyReplicas");
            let updated = num(&s, "updatedReplicas");
            let revision = s["updateRevision"].as_str().unwrap_or_default();
            let partition = st
                .spec
                .update_strategy
                .as_ref()
                .and_then(|u| u.rolling_update.as_ref())
                .and_then(|r| r.partition)
                .map_or(0, i64::from);
            if ready < replicas {
                Progress::Waiting(format!(
                    "Waiting for {} pods to be ready...",
                    replicas - ready
                ))
            } else if partition > 0 {
                let want = (replicas - partition).max(0);
                if updated < want {
                    Progress::Waiting(format!("Waiting for partitioned roll out to finish: {updated} out of {want} new pods have been updated..."))
                } else {
                    Progress::Done(format!(
                        "partitioned roll out complete: {updated} new pods have been updated..."
                    ))
                }
            } else if updated < replicas {
                Progress::Waiting(format!("Waiting for statefulset rolling update to complete {updated} pods at revision {revision}..."))
            } else {
                Progress::Done(format!(
                    "statefulset rolling update complete {replicas} pods at revision {revision}..."
                ))
            }
        }
        _ => {
            let timed_out =
                s["conditions"].as_array().into_iter().flatten().any(|c| {
                    c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded"
                });
            if timed_out {
                return Progress::Failed(format!(
                    "deployment {name:?} exceeded its progress deadline"
                ));
            }
            let replicas = i64::from(w.replicas().unwrap_or(1));
            let (updated, total, available) = (
                num(&s, "updatedReplicas"),
                num(&s, "replicas"),
                num(&s, "availableReplicas"),
            );
            let waiting = format!("Waiting for deployment {name:?} rollout to finish");
            if updated < replicas {
                Progress::Waiting(format!(
                    "{waiting}: {updated} out of {replicas} new replicas have been updated..."
                ))
            } else if total > updated {
                Progress::Waiting(format!(
                    "{waiting}: {} old replicas are pending termination...",
                    total - updated
                ))
            } else if available < updated {
                Progress::Waiting(format!(
                    "{waiting}: {available} of {updated} updated replicas are available..."
                ))
            } else {
                Progress::Done(format!("deployment {name:?} successfully rolled out"))
            }
        }
    }
}

const ROLLING: &[WorkloadKind] = &[
    WorkloadKind::Deployment,
    WorkloadKind::StatefulSet,
    WorkloadKind::DaemonSet,
];

/// `tandem rollout status|restart|undo|history deployment/NAME`.
pub fn rollout(store: &Store, c: RolloutCommand) -> anyhow::Result<i32> {
    use tandem_controllers::deployment::{revision, REVISION};
    match c {
        RolloutCommand::Status(a) => {
            let (_, name, dir) = rollout_target(store, &a.target, ROLLING)?;
            let timeout = tandem_api::duration::parse_go(&a.timeout)
                .map_err(|e| hint(e, "write --timeout=2m"))?;
            let deadline = (!timeout.is_zero()).then(|| std::time::Instant::now() + timeout);
            let mut last = String::new();
            loop {
                let w = dir.read()?;
                match rollout_progress(&name, &w) {
                    Progress::Done(line) => {
                        println!("{line}");
                        return Ok(0);
                    }
                    Progress::Waiting(line) => {
                        if line != last {
                            println!("{line}");
                            last = line;
                        }
                    }
                    Progress::Failed(why) => return Err(hint(
                        why,
                        "`tandem describe deployment` and `tandem get pods` show what holds it up",
                    )),
                }
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Err(hint(
                        "timed out waiting for the condition",
                        "`tandem get pods` shows where the new pods are",
                    ));
                }
                if !dir.controller_running() {
                    return Err(hint(
                        format!(
                            "the controller of {name:?} is not running and could not be started"
                        ),
                        format!("its log: {}", dir.log().display()),
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        }
        RolloutCommand::Restart(t) => {
            let (kind, name, dir) = rollout_target(store, &t, ROLLING)?;
            let now = k8s_openapi::jiff::Timestamp::from_microsecond(now_us())
                .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)
                .strftime("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            dir.update(|w| {
                if let Some(t) = w.template_mut() {
                    t.metadata
                        .get_or_insert_with(Default::default)
                        .annotations
                        .get_or_insert_with(Default::default)
                        .insert("kubectl.kubernetes.io/restartedAt".into(), now.clone());
                }
                Ok(())
            })?;
            println!("{}/{name} restarted", kind.group_kind());
            Ok(0)
        }
        RolloutCommand::Undo(a) => {
            let (_, name, dir) = rollout_target(store, &a.target, &[WorkloadKind::Deployment])?;
            let mut sets = dir.replica_sets();
            sets.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
            let wanted = match a.to_revision {
                0 => sets.get(1),
                r => sets.iter().find(|rs| revision(rs) == r),
            }
            .ok_or_else(|| match a.to_revision {
                0 => hint(
                    "no rollout history found for deployment \"".to_string() + &name + "\"",
                    "a Deployment has history once its template changed",
                ),
                r => hint(
                    format!("unable to find specified revision {r} in history"),
                    format!("`tandem rollout history deployment/{name}` lists them"),
                ),
            })?;
            let mut template = wanted.spec.template.clone().unwrap_or_default();
            if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
                labels.remove(tandem_controllers::naming::POD_TEMPLATE_HASH);
            }
            dir.update(|w| {
                if let Some(t) = w.template_mut() {
                    *t = template.clone();
                }
                Ok(())
            })?;
            println!("deployment.apps/{name} rolled back");
            Ok(0)
        }
        RolloutCommand::Pause(t) => pause(store, &t, true),
        RolloutCommand::Resume(t) => pause(store, &t, false),
        RolloutCommand::History(t) => {
            let (_, name, dir) = rollout_target(store, &t, &[WorkloadKind::Deployment])?;
            let mut sets = dir.replica_sets();
            sets.sort_by_key(revision);
            println!("deployment.apps/{name} ");
            let rows: Vec<Vec<String>> = sets
                .iter()
                .filter(|rs| {
                    rs.metadata
                        .annotations
                        .as_ref()
                        .is_some_and(|a| a.contains_key(REVISION))
                })
                .map(|rs| {
                    let cause = rs
                        .metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get("kubernetes.io/change-cause"))
                        .cloned()
                        .unwrap_or_else(|| "<none>".into());
                    vec![revision(rs).to_string(), cause]
                })
                .collect();
            print!("{}", table(&["REVISION", "CHANGE-CAUSE"], &rows));
            Ok(0)
        }
    }
}

/// `tandem create job NAME --from=cronjob/CRON`: the CronJob's job template as a Job now, owned
/// by the CronJob and marked as made by hand (`cronjob.kubernetes.io/instantiate: manual`).
pub fn create_job(store: &Store, a: CreateJobArgs) -> anyhow::Result<i32> {
    let (kind, cron) = target(std::slice::from_ref(&a.from))?;
    if kind != WorkloadKind::CronJob {
        return Err(hint(
            format!("from must be an existing cronjob: {}", a.from),
            "write --from=cronjob/NAME",
        ));
    }
    let dir = recovered(store, kind, &a.namespace, &cron)?;
    let Workload::CronJob(c) = dir.read()? else {
        return Err(not_found(kind, &cron));
    };
    let owner = tandem_controllers::naming::Owner {
        api_version: "batch/v1".into(),
        kind: "CronJob".into(),
        name: cron.clone(),
        uid: c.metadata.uid.clone().unwrap_or_default(),
    };
    let mut job =
        tandem_controllers::cronjob::job(&owner, &a.namespace, &c.spec, &a.name, now_us());
    let annotations = job
        .metadata
        .annotations
        .get_or_insert_with(Default::default);
    annotations.remove(tandem_controllers::cronjob::SCHEDULED);
    annotations.insert("cronjob.kubernetes.io/instantiate".into(), "manual".into());
    let (settings, references) = dir.read_settings()?;
    let exe = super::own_exe()?;
    controller::create_job(store, &exe, &job, &settings, &references)?;
    println!("job.batch/{} created", a.name);
    Ok(0)
}
