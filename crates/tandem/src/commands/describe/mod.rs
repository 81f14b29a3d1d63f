//! `tandem describe KIND [NAME...]` (kubectl describe): pods, Services and every workload kind
//! laid out as kubectl 1.33 lays them out (`pkg/describe`): a pod's identity and status, every
//! container with its state, last state, probes, resources, environment and mounts, conditions,
//! volumes, QoS class, and the Events table with repeats folded into `(xN over AGE)`; a Service's
//! type, addresses and endpoints per port; a workload's replicas and its pods' phases, its
//! strategy, its pod template, conditions and its controller's events.
//! <https://kubernetes.io/docs/reference/kubectl/generated/kubectl_describe/>

mod layout;
mod pod;
mod service;
mod workload;

use k8s_openapi::api::core::v1::Pod;
use tandem_api::plan::PodPlan;
use tandem_api::{Workload, WorkloadKind};
use tandem_kubelet::events::PodEvent;
use tandem_supervisor::logs::now_us;
use tandem_supervisor::statedir::Store;

use super::{controller, existing_pod, list_pods, pod_name, read_pod, service_store};
use crate::cli::DescribeArgs;
use crate::errors::hint;

pub use pod::describe_pod;
pub use service::describe_service;

/// What a describe argument names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Pod,
    Service,
    Workload(WorkloadKind),
}

impl Kind {
    /// A resource word as kubectl reads it: plural, singular or short name.
    fn parse(word: &str) -> anyhow::Result<Kind> {
        match word.to_ascii_lowercase().as_str() {
            "pod" | "pods" | "po" => Ok(Kind::Pod),
            "service" | "services" | "svc" => Ok(Kind::Service),
            _ => WorkloadKind::from_resource(word)
                .map(Kind::Workload)
                .ok_or_else(|| {
                    hint(
                        format!("the server doesn't have a resource type \"{word}\""),
                        "tandem describes pods, services, deployments, replicasets, statefulsets, daemonsets, jobs, cronjobs and replicationcontrollers",
                    )
                }),
        }
    }

    /// The resource as the API server's NotFound names it, and as `tandem get` does.
    fn resource(self) -> (String, &'static str) {
        match self {
            Kind::Pod => ("pods".into(), "pods"),
            Kind::Service => ("services".into(), "services"),
            Kind::Workload(k) => (k.group_resource(), k.plural()),
        }
    }
}

/// The arguments as kubectl reads them: `KIND [NAME...]` (every object of the kind when no name
/// is given), or `KIND/NAME...`, kinds mixed.
fn targets(args: &[String]) -> anyhow::Result<Vec<(Kind, Option<String>)>> {
    let Some(first) = args.first() else {
        return Err(hint(
            "you must specify the type of resource to describe",
            "write `tandem describe pod NAME` (or `tandem describe pods` for all)",
        ));
    };
    if !first.contains('/') {
        let kind = Kind::parse(first)?;
        let mut out = vec![];
        for name in &args[1..] {
            if name.contains('/') {
                return Err(hint(
                    format!("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form (e.g. 'tandem describe {name}' instead of 'tandem describe {first} {name}')"),
                    "give either KIND NAME... or KIND/NAME...",
                ));
            }
            out.push((kind, Some(name.clone())));
        }
        if out.is_empty() {
            out.push((kind, None));
        }
        return Ok(out);
    }
    args.iter()
        .map(|arg| match arg.split_once('/') {
            Some((kind, name)) if !name.is_empty() => Ok((Kind::parse(kind)?, Some(name.into()))),
            _ => Err(hint(
                format!(
                    "arguments in resource/name form must have a single resource and name: {arg:?}"
                ),
                "write KIND/NAME, e.g. pod/web or deployment/web",
            )),
        })
        .collect()
}

pub fn describe(store: &Store, a: DescribeArgs) -> anyhow::Result<i32> {
    let targets = targets(&a.args)?;
    let selector = super::label_selector(a.selector.as_deref())?;
    let matches = |labels: Option<&std::collections::BTreeMap<String, String>>| {
        selector
            .as_ref()
            .is_none_or(|s| s.matches(&labels.cloned().unwrap_or_default()))
    };
    let now = now_us();
    let mut texts = vec![];
    for (kind, name) in targets {
        // Every object of the kind in the namespace, sorted by name; or the one named.
        let found: Vec<(String, String)> = match kind {
            Kind::Pod => pods(store, &a.namespace, name.as_deref(), now, &matches)?,
            Kind::Service => services(store, &a.namespace, name.as_deref(), &matches),
            Kind::Workload(k) => workloads(store, k, &a.namespace, name.as_deref(), now, &matches),
        };
        match name {
            Some(n) if found.is_empty() => {
                let (resource, plural) = kind.resource();
                return Err(crate::errors::not_found(
                    &resource,
                    &n,
                    format!("`tandem get {plural}` lists them"),
                ));
            }
            None if found.is_empty() => {
                eprintln!("No resources found in {} namespace.", a.namespace);
            }
            _ => texts.extend(found.into_iter().map(|(_, t)| t)),
        }
    }
    print!("{}", texts.join("\n\n"));
    Ok(0)
}

type Matches<'a> = dyn Fn(Option<&std::collections::BTreeMap<String, String>>) -> bool + 'a;

/// The pods described, with their names: the one named, or those of the namespace.
fn pods(
    store: &Store,
    namespace: &str,
    name: Option<&str>,
    now: i64,
    matches: &Matches<'_>,
) -> anyhow::Result<Vec<(String, String)>> {
    let dirs = match name {
        Some(n) => vec![existing_pod(store, namespace, pod_name(n))?],
        None => list_pods(store)?,
    };
    let mut out = vec![];
    for dir in dirs {
        let Ok(pod) = read_pod(&dir) else { continue };
        let in_namespace = pod.metadata.namespace.as_deref().unwrap_or("default") == namespace;
        if name.is_none() && !(in_namespace && matches(pod.metadata.labels.as_ref())) {
            continue;
        }
        let plan: Option<PodPlan> = std::fs::read(dir.plan_json())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let events: Vec<PodEvent> = std::fs::read_to_string(dir.events())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        out.push((pod_name, describe_pod(&pod, plan.as_ref(), &events, now)));
    }
    out.sort();
    Ok(out)
}

/// The Services described, with their names.
fn services(
    store: &Store,
    namespace: &str,
    name: Option<&str>,
    matches: &Matches<'_>,
) -> Vec<(String, String)> {
    let given = service_store::manual_slices(store);
    let mut out: Vec<(String, String)> = service_store::list(store)
        .into_iter()
        .filter(|(_, s)| service_store::namespace_of(s) == namespace)
        .filter(|(_, s)| match name {
            Some(n) => service_store::name_of(s) == n,
            None => matches(s.metadata.labels.as_ref()),
        })
        .map(|(dir, s)| {
            let slices: Vec<_> = dir
                .slices()
                .into_iter()
                .chain(tandem_controllers::endpoints::labelled_for(&s, &given).cloned())
                .collect();
            (
                service_store::name_of(&s).to_string(),
                describe_service(&s, &slices),
            )
        })
        .collect();
    out.sort();
    out
}

/// The workloads of a kind described, with their names (a Deployment's ReplicaSets among
/// ReplicaSets, with the pods they own).
fn workloads(
    store: &Store,
    kind: WorkloadKind,
    namespace: &str,
    name: Option<&str>,
    now: i64,
    matches: &Matches<'_>,
) -> Vec<(String, String)> {
    let pods: Vec<Pod> = list_pods(store)
        .unwrap_or_default()
        .iter()
        .filter_map(|d| read_pod(d).ok())
        .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == namespace)
        .collect();
    let mut out = vec![];
    for dir in controller::list(store) {
        let Ok(objects) = dir.read_objects() else {
            continue;
        };
        let Some(owner) = objects.first() else {
            continue;
        };
        if owner.namespace() != namespace {
            continue;
        }
        let events = dir.read_events();
        let sets: Vec<_> = objects
            .iter()
            .filter_map(|o| match o {
                Workload::ReplicaSet(rs) if owner.kind() == WorkloadKind::Deployment => Some(rs),
                _ => None,
            })
            .collect();
        for w in &objects {
            let wanted = w.kind() == kind
                && match name {
                    Some(n) => w.name() == n,
                    None => matches(w.metadata().labels.as_ref()),
                };
            if wanted {
                let context = workload::Context {
                    pods: &pods,
                    events: &events,
                    replica_sets: &sets,
                    now_us: now,
                };
                out.push((w.name().to_string(), workload::describe(w, &context)));
            }
        }
    }
    out.sort();
    out
}
