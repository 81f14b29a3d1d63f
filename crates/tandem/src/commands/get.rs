use k8s_openapi::api::core::v1::Pod;
use tandem_kubelet::events::PodEvent;
use tandem_kubelet::status::{human_duration, kubectl_columns};
use tandem_supervisor::logs::{now_us, rfc3339_nano};
use tandem_supervisor::statedir::Store;

use super::{existing_pod, list_pods, pod_name, read_pod};
use crate::cli::{GetArgs, Output};
use crate::errors::hint;
use crate::output::{table, yaml::to_yaml};

pub fn get(store: &Store, a: GetArgs) -> anyhow::Result<i32> {
    match a.resource.as_str() {
        "pods" | "pod" | "po" => get_pods(store, &a),
        "events" | "event" | "ev" => get_events(store, &a),
        other => Err(hint(
            format!("the server doesn't have a resource type \"{other}\""),
            "tandem knows `pods` and `events`",
        )),
    }
}

fn age(pod: &Pod) -> String {
    match &pod.metadata.creation_timestamp {
        Some(t) => human_duration(((now_us() - t.0.as_microsecond()).max(0) / 1_000_000) as u64),
        None => "<unknown>".into(),
    }
}

fn get_pods(store: &Store, a: &GetArgs) -> anyhow::Result<i32> {
    let pods: Vec<Pod> = match &a.name {
        Some(n) => vec![read_pod(&existing_pod(store, &a.namespace, pod_name(n))?)?],
        None => list_pods(store)?
            .iter()
            .filter_map(|d| read_pod(d).ok())
            .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == a.namespace)
            .collect(),
    };
    match a.output {
        Some(Output::Json) => {
            let v = if a.name.is_some() {
                serde_json::to_value(&pods[0])?
            } else {
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": pods, "metadata": {"resourceVersion": ""}})
            };
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        Some(Output::Yaml) => {
            let v = if a.name.is_some() {
                serde_json::to_value(&pods[0])?
            } else {
                serde_json::json!({"apiVersion": "v1", "kind": "List", "items": pods, "metadata": {"resourceVersion": ""}})
            };
            print!("{}", to_yaml(&v));
        }
        Some(Output::Name) => {
            for p in &pods {
                println!("pod/{}", p.metadata.name.clone().unwrap_or_default());
            }
        }
        wide => {
            if pods.is_empty() {
                eprintln!("No resources found in {} namespace.", a.namespace);
                return Ok(0);
            }
            let now = now_us();
            let rows: Vec<Vec<String>> = pods
                .iter()
                .map(|p| {
                    let (ready, status, restarts) = kubectl_columns(p, now);
                    let mut row = vec![
                        p.metadata.name.clone().unwrap_or_default(),
                        ready,
                        status,
                        restarts,
                        age(p),
                    ];
                    if wide == Some(Output::Wide) {
                        let st = p.status.clone().unwrap_or_default();
                        row.push(st.pod_ip.unwrap_or_else(|| "<none>".into()));
                        row.push(
                            p.spec
                                .as_ref()
                                .and_then(|s| s.node_name.clone())
                                .unwrap_or_else(|| "<none>".into()),
                        );
                    }
                    row
                })
                .collect();
            let mut header = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
            if wide == Some(Output::Wide) {
                header.extend(["IP", "NODE"]);
            }
            print!("{}", table(&header, &rows));
        }
    }
    Ok(0)
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
    let mut events: Vec<(String, PodEvent)> = vec![];
    for d in dirs {
        let pod = super::read_pod(&d).ok().and_then(|p| p.metadata.name);
        let text = std::fs::read_to_string(d.events()).unwrap_or_default();
        events.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .map(|e| (pod.clone().unwrap_or_default(), e)),
        );
    }
    events.sort_by_key(|(_, e)| e.time_us);
    if a.output == Some(Output::Json) || a.output == Some(Output::Yaml) {
        let items: Vec<serde_json::Value> = events
            .iter()
            .map(|(pod, e)| v1_event(&a.namespace, pod, e))
            .collect();
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items, "metadata": {"resourceVersion": ""}});
        if a.output == Some(Output::Json) {
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            print!("{}", to_yaml(&list));
        }
        return Ok(0);
    }
    let now = now_us();
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|(pod, e)| {
            let object = match &e.container {
                Some(c) => format!("pod/{pod} ({c})"),
                None => format!("pod/{pod}"),
            };
            vec![
                human_duration(((now - e.time_us).max(0) / 1_000_000) as u64),
                format!("{:?}", e.kind),
                e.reason.to_string(),
                object,
                e.message.clone(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], &rows)
    );
    Ok(0)
}

/// A v1 Event object for one recorded event (microsecond `eventTime`, as the kubelet's new events).
fn v1_event(namespace: &str, pod: &str, e: &PodEvent) -> serde_json::Value {
    let field_path = e
        .container
        .as_ref()
        .map(|c| format!("spec.containers{{{c}}}"));
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{pod}.{:x}", e.time_us), "namespace": namespace},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": namespace, "fieldPath": field_path},
        "reason": e.reason,
        "message": e.message,
        "type": format!("{:?}", e.kind),
        "eventTime": rfc3339_nano(e.time_us).replace("000Z", "Z"),
        "reportingComponent": "tandem",
        "source": {"component": "tandem"},
        "count": 1,
        "tandem": {"attempt": e.attempt, "details": e.details},
    })
}
