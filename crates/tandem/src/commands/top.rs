//! `tandem top pod [NAME] [--containers]` (kubectl top pod): CPU and memory of each running
//! container, read from its cgroup (v1 or v2): CPU as the usage over a short window, in
//! millicores; memory as the working set the kubelet's summary reports (usage less inactive file
//! cache). A pod's figures are its containers' sums, as metrics-server's are.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use tandem_runtime::cgroups;
use tandem_supervisor::statedir::Store;

use super::{existing_pod, list_pods, pod_name, read_pod};
use crate::cli::{TopArgs, TopSort};
use crate::errors::hint;
use crate::output::table;

/// How long CPU usage is measured over.
pub(crate) const WINDOW: Duration = Duration::from_millis(500);

/// One running container's figures.
pub(crate) struct Usage {
    pub pod: String,
    pub container: String,
    /// CPU over the window.
    pub millicores: u64,
    /// The memory working set.
    pub bytes: u64,
}

/// Every running container of `pods`, its cgroup sampled at both ends of one [`WINDOW`]; a
/// container that exits during the window is left out.
pub(crate) fn measure(pods: &[Pod]) -> Vec<Usage> {
    let mut cgroups_of = vec![];
    for p in pods {
        let name = p.metadata.name.clone().unwrap_or_default();
        let uid = p.metadata.uid.clone().unwrap_or_default();
        for (container, attempt) in running(p) {
            cgroups_of.push((
                name.clone(),
                container.clone(),
                cgroups::container_cgroup(&uid, &container, attempt),
            ));
        }
    }
    let before: Vec<Option<u64>> = cgroups_of
        .iter()
        .map(|(_, _, c)| cgroups::cpu_usage_ns(c))
        .collect();
    let started = Instant::now();
    std::thread::sleep(WINDOW);
    let elapsed = started.elapsed().as_nanos().max(1) as u64;
    let mut usage: Vec<Usage> = vec![];
    for ((pod, container, cgroup), before) in cgroups_of.iter().zip(before) {
        let (Some(before), Some(after), Some(bytes)) = (
            before,
            cgroups::cpu_usage_ns(cgroup),
            cgroups::memory_working_set(cgroup),
        ) else {
            continue;
        };
        usage.push(Usage {
            pod: pod.clone(),
            container: container.clone(),
            millicores: after.saturating_sub(before).saturating_mul(1000) / elapsed,
            bytes,
        });
    }
    usage
}

pub fn top(store: &Store, a: TopArgs) -> anyhow::Result<i32> {
    if !matches!(a.resource.as_str(), "pod" | "pods" | "po") {
        return Err(hint(
            format!("tandem top shows pods, not {:?}", a.resource),
            "write `tandem top pod [NAME]`",
        ));
    }
    let selector = super::label_selector(a.selector.as_deref())?;
    let pods: Vec<Pod> = match &a.name {
        Some(n) => vec![read_pod(&existing_pod(store, &a.namespace, pod_name(n))?)?],
        None => list_pods(store)?
            .iter()
            .filter_map(|d| read_pod(d).ok())
            .filter(|p| p.metadata.namespace.as_deref().unwrap_or("default") == a.namespace)
            .filter(|p| {
                let labels = p.metadata.labels.clone().unwrap_or_default();
                selector.as_ref().is_none_or(|s| s.matches(&labels))
            })
            .collect(),
    };
    let mut usage = measure(&pods);
    if usage.is_empty() {
        return Err(match &a.name {
            Some(n) => hint(
                format!(
                    "metrics not available for pod {}/{}: it has no running container",
                    a.namespace,
                    pod_name(n)
                ),
                format!("`tandem get pod {}` shows its state", pod_name(n)),
            ),
            None => hint(
                format!(
                    "metrics not available yet: no running container in namespace {}",
                    a.namespace
                ),
                "start a pod with `tandem run -d`",
            ),
        });
    }
    let mib = |b: u64| format!("{}Mi", b / (1024 * 1024));
    let cores = |m: u64| format!("{m}m");
    if a.containers {
        sort(
            &mut usage,
            a.sort_by,
            |u| (u.millicores, u.bytes),
            |u| (u.pod.clone(), u.container.clone()),
        );
        let rows: Vec<Vec<String>> = usage
            .iter()
            .map(|u| {
                vec![
                    u.pod.clone(),
                    u.container.clone(),
                    cores(u.millicores),
                    mib(u.bytes),
                ]
            })
            .collect();
        print!(
            "{}",
            table(&["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"], &rows)
        );
        return Ok(0);
    }
    let mut per_pod: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for u in &usage {
        let e = per_pod.entry(u.pod.clone()).or_default();
        e.0 += u.millicores;
        e.1 += u.bytes;
    }
    let mut pods: Vec<(String, (u64, u64))> = per_pod.into_iter().collect();
    sort(
        &mut pods,
        a.sort_by,
        |p| p.1,
        |p| (p.0.clone(), String::new()),
    );
    let rows: Vec<Vec<String>> = pods
        .iter()
        .map(|(name, (m, b))| vec![name.clone(), cores(*m), mib(*b)])
        .collect();
    print!("{}", table(&["NAME", "CPU(cores)", "MEMORY(bytes)"], &rows));
    Ok(0)
}

/// By name, or by CPU or memory, highest first (kubectl's `--sort-by`).
fn sort<T>(
    items: &mut [T],
    by: Option<TopSort>,
    figures: impl Fn(&T) -> (u64, u64),
    name: impl Fn(&T) -> (String, String),
) {
    match by {
        None => items.sort_by_key(|i| name(i)),
        Some(TopSort::Cpu) => items.sort_by_key(|i| std::cmp::Reverse(figures(i).0)),
        Some(TopSort::Memory) => items.sort_by_key(|i| std::cmp::Reverse(figures(i).1)),
    }
}

/// The pod's running containers and their instance numbers: the cgroups below the pod's that
/// are named `<container>-<attempt>` after one of its containers, the highest attempt of each
/// (an exited instance's cgroup is removed as it ends).
fn running(pod: &Pod) -> Vec<(String, u32)> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let names: Vec<String> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| c.name.clone())
        .collect();
    let mut latest: BTreeMap<String, u32> = BTreeMap::new();
    for child in cgroups::children(&cgroups::pod_cgroup(&uid)) {
        let Some((name, attempt)) = child.rsplit_once('-') else {
            continue;
        };
        let (Ok(attempt), true) = (attempt.parse::<u32>(), names.iter().any(|n| n == name)) else {
            continue;
        };
        let e = latest.entry(name.to_string()).or_insert(attempt);
        *e = (*e).max(attempt);
    }
    latest.into_iter().collect()
}
