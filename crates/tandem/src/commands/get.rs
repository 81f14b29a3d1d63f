use k8s_openapi::api::core::v1::Pod;
use tandem_api::labels::{FieldSelector, POD_FIELDS};
use tandem_kubelet::events::PodEvent;
use tandem_kubelet::status::{human_duration, kubectl_columns};
use tandem_supervisor::logs::{now_us, rfc3339_nano};
use tandem_supervisor::statedir::Store;

use super::{existing_pod, list_pods, pod_name, read_pod};
use crate::cli::{GetArgs, Output};
use crate::errors::hint;
use crate::output::jsonpath::{show, Template};
use crate::output::{table, yaml::to_yaml};

pub fn get(store: &Store, mut a: GetArgs) -> anyhow::Result<i32> {
    if let Some((kind, name)) = a.resource.split_once('/') {
        if a.name.is_some() {
            return Err(hint(
                "there is a name in KIND/NAME and after it",
                "write `get KIND NAME` or `get KIND/NAME`",
            ));
        }
        a.name = Some(name.to_string());
        a.resource = kind.to_string();
    }
    if let Some(kind) = tandem_api::WorkloadKind::from_resource(&a.resource) {
        return super::workloads::get(store, kind, &a);
    }
    if let Some(r) = super::services::Resource::from_resource(&a.resource) {
        return super::services::get(store, r, &a);
    }
    match a.resource.as_str() {
        "pods" | "pod" | "po" => get_pods(store, &a),
        "all" => get_all(store, &a),
        "events" | "event" | "ev" => {
            let pod_only = [
                ("--selector", a.selector.is_some()),
                ("--field-selector", a.field_selector.is_some()),
                ("--all-namespaces", a.all_namespaces),
                ("--show-labels", a.show_labels),
                ("--watch", a.watch),
            ];
            if let Some((flag, _)) = pod_only.iter().find(|(_, set)| *set) {
                return Err(hint(
                    format!("{flag} is not supported for events yet"),
                    "use it with `tandem get pods`; `--for pod/NAME` picks one pod's events",
                ));
            }
            get_events(store, &a)
        }
        other => Err(hint(
            format!("the server doesn't have a resource type \"{other}\""),
            "tandem knows pods, events, services, endpoints, endpointslices, deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs and replicationcontrollers",
        )),
    }
}

/// `get all`: pods, Services, then each workload kind, as kubectl prints its `all` category (names
/// qualified by kind, a blank line between tables).
fn get_all(store: &Store, a: &GetArgs) -> anyhow::Result<i32> {
    let unsupported = [
        ("a name", a.name.is_some()),
        ("--selector", a.selector.is_some()),
        ("--field-selector", a.field_selector.is_some()),
        ("--show-labels", a.show_labels),
        ("--watch", a.watch),
        ("--sort-by", a.sort_by.is_some()),
        ("-o", !matches!(a.output, None | Some(Output::Wide))),
    ];
    if let Some((what, _)) = unsupported.iter().find(|(_, set)| *set) {
        return Err(hint(
            format!("{what} is not supported with `get all` yet"),
            "use it with one kind: `tandem get pods`, `tandem get deployments`, …",
        ));
    }
    let mut sections = vec![];
    let pods = selected_pods(store, a)?;
    if !pods.is_empty() {
        let now = now_us();
        let name_at = usize::from(a.all_namespaces);
        let rows: Vec<Vec<String>> = pods
            .iter()
            .map(|p| {
                let mut r = pod_row(p, a, now);
                r[name_at] = format!("pod/{}", r[name_at]);
                r
            })
            .collect();
        sections.push(table(&pod_header(a), &rows));
    }
    sections.extend(super::services::all_section(store, a)?);
    sections.extend(super::workloads::all_sections(store, a));
    if sections.is_empty() {
        a.say_none_found();
    }
    print!("{}", sections.join("\n"));
    Ok(0)
}

fn age(pod: &Pod) -> String {
    match &pod.metadata.creation_timestamp {
        Some(t) => human_duration(((now_us() - t.0.as_microsecond()).max(0) / 1_000_000) as u64),
        None => "<unknown>".into(),
    }
}

fn pod_field(p: &Pod, field: &str) -> String {
    let spec = p.spec.clone().unwrap_or_default();
    let status = p.status.clone().unwrap_or_default();
    match field {
        "metadata.name" => p.metadata.name.clone(),
        "metadata.namespace" => p.metadata.namespace.clone().or(Some("default".into())),
        "spec.nodeName" => spec.node_name,
        "spec.restartPolicy" => spec.restart_policy,
        "spec.schedulerName" => spec.scheduler_name,
        "spec.serviceAccountName" => spec.service_account_name,
        "spec.hostNetwork" => Some(spec.host_network.unwrap_or(false).to_string()),
        "status.phase" => status.phase,
        "status.podIP" => status.pod_ip,
        "status.nominatedNodeName" => status.nominated_node_name,
        _ => None,
    }
    .unwrap_or_default()
}

/// The pods `get` lists: the named one, or those of the namespace (or all) that the selectors
/// pick, by namespace and name.
fn selected_pods(store: &Store, a: &GetArgs) -> anyhow::Result<Vec<Pod>> {
    let labels = super::label_selector(a.selector.as_deref())?;
    let fields = a
        .field_selector
        .as_deref()
        .map(|f| FieldSelector::parse(f, POD_FIELDS))
        .transpose()
        .map_err(|e| hint(e, "write e.g. --field-selector status.phase=Running"))?;
    let mut pods: Vec<Pod> = match &a.name {
        Some(n) => vec![read_pod(&existing_pod(store, &a.namespace, pod_name(n))?)?],
        None => list_pods(store)?
            .iter()
            .filter_map(|d| read_pod(d).ok())
            .filter(|p| {
                a.all_namespaces
                    || p.metadata.namespace.as_deref().unwrap_or("default") == a.namespace
            })
            .collect(),
    };
    pods.retain(|p| {
        let l = p.metadata.labels.clone().unwrap_or_default();
        labels.as_ref().is_none_or(|s| s.matches(&l))
            && fields
                .as_ref()
                .is_none_or(|f| f.matches(|field| pod_field(p, field)))
    });
    pods.sort_by(|x, y| {
        (&x.metadata.namespace, &x.metadata.name).cmp(&(&y.metadata.namespace, &y.metadata.name))
    });
    if let Some(by) = &a.sort_by {
        let mut keyed: Vec<(Option<serde_json::Value>, Pod)> = pods
            .into_iter()
            .map(|p| {
                let v = serde_json::to_value(&p)
                    .ok()
                    .and_then(|v| by.values(&v).into_iter().next());
                (v, p)
            })
            .collect();
        // Stable, so equal keys keep the namespace and name order.
        keyed.sort_by(|(a, _), (b, _)| sort_key_cmp(a.as_ref(), b.as_ref()));
        pods = keyed.into_iter().map(|(_, p)| p).collect();
    }
    Ok(pods)
}

/// kubectl's `--sort-by` order: missing values first, numbers by value, the rest as text.
fn sort_key_cmp(
    a: Option<&serde_json::Value>,
    b: Option<&serde_json::Value>,
) -> std::cmp::Ordering {
    match (a, b) {
        (None, None) => std::cmp::Ordering::Equal,
        (None, Some(_)) => std::cmp::Ordering::Less,
        (Some(_), None) => std::cmp::Ordering::Greater,
        (Some(a), Some(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            _ => show(a).cmp(&show(b)),
        },
    }
}

/// The table's columns for `a`.
fn pod_header(a: &GetArgs) -> Vec<&'static str> {
    let mut header = vec![];
    if a.all_namespaces {
        header.push("NAMESPACE");
    }
    header.extend(["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    if a.output == Some(Output::Wide) {
        header.extend(["IP", "NODE"]);
    }
    if a.show_labels {
        header.push("LABELS");
    }
    header
}

/// One pod's row, as kubectl prints it.
fn pod_row(p: &Pod, a: &GetArgs, now: i64) -> Vec<String> {
    let (ready, status, restarts) = kubectl_columns(p, now);
    let mut row = vec![];
    if a.all_namespaces {
        row.push(
            p.metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
        );
    }
    row.extend([
        p.metadata.name.clone().unwrap_or_default(),
        ready,
        status,
        restarts,
        age(p),
    ]);
    if a.output == Some(Output::Wide) {
        let st = p.status.clone().unwrap_or_default();
        row.push(st.pod_ip.unwrap_or_else(|| "<none>".into()));
        row.push(
            p.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_else(|| "<none>".into()),
        );
    }
    if a.show_labels {
        let labels: Vec<String> = p
            .metadata
            .labels
            .iter()
            .flatten()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        row.push(if labels.is_empty() {
            "<none>".into()
        } else {
            labels.join(",")
        });
    }
    row
}

fn get_pods(store: &Store, a: &GetArgs) -> anyhow::Result<i32> {
    if a.for_object.is_some() {
        return Err(hint(
            "--for applies to events",
            "write `tandem get events --for pod/NAME`",
        ));
    }
    if a.watch && !matches!(a.output, None | Some(Output::Wide)) {
        return Err(hint(
            "--watch prints the table as it changes; it does not go with -o json, yaml or name",
            "drop -o, or drop --watch",
        ));
    }
    let pods = selected_pods(store, a)?;
    let list = |pods: &[Pod]| {
        crate::output::list_of(
            pods.iter()
                .filter_map(|p| serde_json::to_value(p).ok())
                .collect(),
        )
    };
    let object = || -> anyhow::Result<serde_json::Value> {
        Ok(match (&a.name, pods.first()) {
            (Some(_), Some(p)) => serde_json::to_value(p)?,
            _ => list(&pods),
        })
    };
    match &a.output {
        Some(Output::Json) => println!("{}", serde_json::to_string_pretty(&object()?)?),
        Some(Output::Yaml) => print!("{}", to_yaml(&object()?)),
        Some(Output::JsonPath(t)) => print!("{}", t.render(&object()?)),
        Some(Output::CustomColumns(columns)) => {
            let items: Vec<serde_json::Value> = pods
                .iter()
                .map(serde_json::to_value)
                .collect::<Result<_, _>>()?;
            print!("{}", custom_columns(columns, &items));
        }
        Some(Output::Name) => {
            for p in &pods {
                println!("pod/{}", p.metadata.name.clone().unwrap_or_default());
            }
        }
        Some(Output::Wide) | None => {
            let header = pod_header(a);
            if pods.is_empty() && !a.watch {
                a.say_none_found();
                return Ok(0);
            }
            let now = now_us();
            let rows: Vec<Vec<String>> = pods.iter().map(|p| pod_row(p, a, now)).collect();
            print!("{}", table(&header, &rows));
            if a.watch {
                return watch(store, a, &header, &rows);
            }
        }
    }
    Ok(0)
}

/// `-w`: a row each time a pod's row changes (its age aside), as kubectl's watch prints one per
/// change, padded to the columns of the first table. Runs until interrupted.
fn watch(
    store: &Store,
    a: &GetArgs,
    header: &[&str],
    first: &[Vec<String>],
) -> anyhow::Result<i32> {
    use std::io::Write;
    let age = header.iter().position(|h| *h == "AGE");
    let key = |row: &[String]| -> Vec<String> {
        row.iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != age)
            .map(|(_, c)| c.clone())
            .collect()
    };
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in first {
        for (i, c) in row.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let name_at = usize::from(a.all_namespaces);
    let mut last: std::collections::BTreeMap<(String, String), Vec<String>> = first
        .iter()
        .map(|r| ((r[0].clone(), r[name_at].clone()), key(r)))
        .collect();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        // A pod named on the command line that is gone ends the watch, as its deletion does.
        let pods = match selected_pods(store, a) {
            Ok(p) => p,
            Err(_) if a.name.is_some() => return Ok(0),
            Err(e) => return Err(e),
        };
        let now = now_us();
        let mut out = std::io::stdout().lock();
        for p in &pods {
            let row = pod_row(p, a, now);
            let id = (row[0].clone(), row[name_at].clone());
            if last.get(&id) != Some(&key(&row)) {
                let cells: Vec<String> = row
                    .iter()
                    .enumerate()
                    .map(|(i, c)| match widths.get(i) {
                        Some(w) if i + 1 < row.len() => format!("{c:<w$}   "),
                        _ => c.clone(),
                    })
                    .collect();
                writeln!(out, "{}", cells.concat().trim_end())?;
                last.insert(id, key(&row));
            }
        }
        out.flush()?;
    }
}

/// A table with one column per `HEADER:PATH`, one row per object; a path with no value shows
/// `<none>`, several values are joined with commas, as kubectl shows them.
fn custom_columns(columns: &[(String, Template)], items: &[serde_json::Value]) -> String {
    let header: Vec<&str> = columns.iter().map(|(h, _)| h.as_str()).collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|(_, t)| {
                    let values: Vec<String> = t.values(item).iter().map(show).collect();
                    if values.is_empty() {
                        "<none>".to_string()
                    } else {
                        values.join(",")
                    }
                })
                .collect()
        })
        .collect();
    table(&header, &rows)
}

fn get_events(store: &Store, a: &GetArgs) -> anyhow::Result<i32> {
    let only = a
        .for_object
        .as_deref()
        .map(pod_name)
        .or(a.name.as_deref().map(pod_name));
    let dirs = match only {
        Some(n) => vec![existing_pod(store, &a.namespace, n)?],
        None => list_pods(store)?,
    };
    let mut events: Vec<(Pod, usize, PodEvent)> = vec![];
    for d in dirs {
        let Ok(pod) = super::read_pod(&d) else {
            continue;
        };
        if pod.metadata.namespace.as_deref().unwrap_or("default") != a.namespace {
            continue;
        }
        events.extend(
            pod_events(&d)
                .into_iter()
                .enumerate()
                .map(|(i, e)| (pod.clone(), i, e)),
        );
    }
    // Each event as (time, kubectl's row, v1 Event): the pods', then (unless one pod is asked
    // for) the workload controllers'.
    let now = now_us();
    let age = |t: i64| human_duration(((now - t).max(0) / 1_000_000) as u64);
    let mut all: Vec<(i64, Vec<String>, serde_json::Value)> = events
        .iter()
        .map(|(pod, i, e)| {
            let name = pod.metadata.name.as_deref().unwrap_or_default();
            let object = match &e.container {
                Some(c) => format!("pod/{name} ({c})"),
                None => format!("pod/{name}"),
            };
            let row = vec![
                age(e.time_us),
                format!("{:?}", e.kind),
                e.reason.to_string(),
                object,
                e.message.clone(),
            ];
            (e.time_us, row, v1_event(pod, e, *i))
        })
        .collect();
    if only.is_none() {
        for dir in super::controller::list(store) {
            let Ok(made) = dir.read_objects() else {
                continue;
            };
            if made.first().is_none_or(|w| w.namespace() != a.namespace) {
                continue;
            }
            for (i, e) in dir.read_events().into_iter().enumerate() {
                let row = vec![
                    age(e.time_us),
                    format!("{:?}", e.kind),
                    e.reason.to_string(),
                    format!("{}/{}", e.object_kind.to_ascii_lowercase(), e.object_name),
                    e.message.clone(),
                ];
                all.push((e.time_us, row, workload_v1_event(&made, &e, i)));
            }
        }
    }
    all.sort_by_key(|(t, _, _)| *t);
    let items: Vec<serde_json::Value> = all.iter().map(|(_, _, v)| v.clone()).collect();
    let list = || crate::output::list_of(items.clone());
    match &a.output {
        Some(Output::Json) => {
            println!("{}", serde_json::to_string_pretty(&list())?);
            return Ok(0);
        }
        Some(Output::Yaml) => {
            print!("{}", to_yaml(&list()));
            return Ok(0);
        }
        Some(Output::JsonPath(t)) => {
            print!("{}", t.render(&list()));
            return Ok(0);
        }
        Some(Output::CustomColumns(columns)) => {
            print!("{}", custom_columns(columns, &items));
            return Ok(0);
        }
        Some(Output::Name) => {
            for e in &items {
                println!(
                    "event/{}",
                    e["metadata"]["name"].as_str().unwrap_or_default()
                );
            }
            return Ok(0);
        }
        Some(Output::Wide) | None => {}
    }
    let rows: Vec<Vec<String>> = all.into_iter().map(|(_, row, _)| row).collect();
    print!(
        "{}",
        table(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], &rows)
    );
    Ok(0)
}

/// The events a pod's supervisor recorded, oldest first.
pub(super) fn pod_events(dir: &tandem_supervisor::statedir::PodDir) -> Vec<PodEvent> {
    std::fs::read_to_string(dir.events())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// An Event's name: its object's, then a hex number that grows with time as the recorders' do
/// (theirs is the time in nanoseconds), told apart by the event's place among its object's, as
/// a controller records several events in one look, at one time.
fn event_name(object: &str, time_us: i64, index: usize) -> String {
    let n = time_us
        .saturating_mul(1000)
        .saturating_add((index % 1000) as i64);
    format!("{object}.{n:x}")
}

/// A v1 Event object for one event a workload controller recorded (the `index`th of its
/// workload's), about one of `made` (the workload and its ReplicaSets).
pub(super) fn workload_v1_event(
    made: &[tandem_api::Workload],
    e: &tandem_controllers::events::WorkloadEvent,
    index: usize,
) -> serde_json::Value {
    let namespace = made.first().map_or("default", |w| w.namespace());
    let api_version =
        tandem_api::WorkloadKind::from_kind(&e.object_kind).map_or("apps/v1", |k| k.api_version());
    // `kubectl describe` finds an object's events by its uid too.
    let uid = made
        .iter()
        .find(|w| w.kind().name() == e.object_kind && w.name() == e.object_name)
        .map(|w| w.uid());
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(&e.object_name, e.time_us, index), "namespace": namespace},
        "involvedObject": {"apiVersion": api_version, "kind": e.object_kind, "name": e.object_name, "namespace": namespace, "uid": uid},
        "reason": e.reason,
        "message": e.message,
        "type": format!("{:?}", e.kind),
        "eventTime": rfc3339_nano(e.time_us).replace("000Z", "Z"),
        "reportingComponent": e.source,
        "source": {"component": e.source},
        "count": 1,
    })
}

/// A v1 Event object for one recorded event of `pod` (microsecond `eventTime`, as the kubelet's
/// new events).
pub(super) fn v1_event(pod: &Pod, e: &PodEvent, index: usize) -> serde_json::Value {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let field_path = e
        .container
        .as_ref()
        .map(|c| format!("spec.containers{{{c}}}"));
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(name, e.time_us, index), "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": name, "namespace": namespace, "uid": pod.metadata.uid, "fieldPath": field_path},
        "reason": e.reason,
        "message": e.message,
        "type": format!("{:?}", e.kind),
        "eventTime": rfc3339_nano(e.time_us).replace("000Z", "Z"),
        "reportingComponent": "kubelet",
        "source": {"component": "kubelet", "host": pod.spec.as_ref().and_then(|s| s.node_name.clone())},
        "count": 1,
        "tandem": {"attempt": e.attempt, "details": e.details},
    })
}
