use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;

use tandem_supervisor::proto::Request;
use tandem_supervisor::statedir::{PodDir, Store};

use super::object_store::{self, Kept};
use super::{existing_pod, pod_name, read_sources};
use crate::cli::DeleteArgs;
use crate::errors::hint;

pub fn delete(store: &Store, a: DeleteArgs) -> anyhow::Result<i32> {
    let deleted = delete_targets(store, a);
    // With the last pod and Service gone, `delete` returns once the proxy has gone too.
    super::service_proxy::settle(store);
    deleted
}

/// How `delete` deletes a workload: its `--grace-period` and `--cascade`.
fn deletion(a: &DeleteArgs) -> super::controller::Deletion {
    super::controller::Deletion {
        grace_seconds: a.grace_period,
        orphan: a.cascade == crate::cli::Cascade::Orphan,
    }
}

fn delete_targets(store: &Store, a: DeleteArgs) -> anyhow::Result<i32> {
    if !a.filename.is_empty() {
        return delete_file(store, &a);
    }
    let mut targets: Vec<(String, String)> = vec![];
    // A Service: `service NAME...` or `svc/NAME`.
    let is_service = |k: &str| {
        super::services::Resource::from_resource(k) == Some(super::services::Resource::Services)
    };
    let service_first = a.targets.first().is_some_and(|f| is_service(f));
    let services: Vec<&str> = a
        .targets
        .iter()
        .enumerate()
        .filter_map(|(i, t)| match t.split_once('/') {
            Some((k, n)) if is_service(k) => Some(n),
            None if service_first && i > 0 => Some(t.as_str()),
            _ => None,
        })
        .collect();
    if service_first || !services.is_empty() {
        for name in services {
            super::services::delete(store, &a.namespace, name)?;
        }
        return Ok(0);
    }
    // A ConfigMap or Secret: `configmap NAME...` or `cm/NAME` (not both kinds at once).
    let kept_kind = |k: &str| match k {
        "configmap" | "configmaps" | "cm" => Some(Kept::ConfigMaps),
        "secret" | "secrets" => Some(Kept::Secrets),
        _ => None,
    };
    let first_kept = a.targets.first().and_then(|f| kept_kind(f));
    let mut kept = vec![];
    for (i, t) in a.targets.iter().enumerate() {
        match (t.split_once('/'), first_kept) {
            (Some((k, n)), _) => kept.extend(kept_kind(k).map(|k| (k, n.to_string()))),
            (None, Some(k)) if i > 0 => kept.push((k, t.clone())),
            _ => {}
        }
    }
    if first_kept.is_some() || !kept.is_empty() {
        for (kind, name) in &kept {
            delete_kept(store, *kind, &a.namespace, name)?;
        }
        return Ok(0);
    }
    // A workload: `KIND NAME...` or `KIND/NAME`, deleted with its pods.
    let first_kind = a
        .targets
        .first()
        .and_then(|f| tandem_api::WorkloadKind::from_resource(f));
    let mut workloads = vec![];
    for t in &a.targets {
        match (t.split_once('/'), first_kind) {
            (Some((k, n)), _) => {
                if let Some(kind) = tandem_api::WorkloadKind::from_resource(k) {
                    workloads.push((kind, n.to_string()));
                }
            }
            (None, Some(kind)) if Some(t) != a.targets.first() => workloads.push((kind, t.clone())),
            _ => {}
        }
    }
    if first_kind.is_some() || !workloads.is_empty() {
        for (kind, name) in &workloads {
            super::workloads::delete(store, *kind, &a.namespace, name, deletion(&a))?;
        }
        return Ok(0);
    }
    for t in a.targets.iter().map(String::as_str) {
        if matches!(t, "pod" | "pods" | "po") {
            continue;
        }
        if !(t.starts_with("pod/")
            || t.starts_with("pods/")
            || a.targets
                .first()
                .is_some_and(|f| matches!(f.as_str(), "pod" | "pods" | "po")))
        {
            return Err(hint(
                format!("cannot delete {t:?}"),
                "write `tandem delete pod NAME` or `tandem delete -f FILE`",
            ));
        }
        targets.push((a.namespace.clone(), pod_name(t).to_string()));
    }
    if a.all {
        let pods = super::list_pods(store)?;
        targets.extend(
            pods.iter()
                .filter_map(|d| super::read_pod(d).ok())
                .map(|p| {
                    let ns = p.metadata.namespace.unwrap_or_else(|| "default".into());
                    (ns, p.metadata.name.unwrap_or_default())
                })
                .filter(|(ns, _)| *ns == a.namespace),
        );
        if targets.is_empty() {
            eprintln!("No resources found");
            return Ok(0);
        }
    }
    if targets.is_empty() {
        return Err(hint(
            "nothing to delete",
            "write `tandem delete pod NAME`, `tandem delete pods --all` or `tandem delete -f FILE`",
        ));
    }
    delete_pods(store, &targets, a.grace_period)?;
    Ok(0)
}

/// Deletes a kept object; one that is not there is kubectl's NotFound.
fn delete_kept(store: &Store, kind: Kept, namespace: &str, name: &str) -> anyhow::Result<()> {
    let singular = kind.resource().printed();
    match object_store::remove(store, kind, namespace, name)? {
        true => {
            println!("{singular} \"{name}\" deleted");
            Ok(())
        }
        false => Err(crate::errors::not_found(
            kind.resource().plural(),
            name,
            format!(
                "`kubectl get {}` through `tandem serve` lists those kept",
                kind.resource().plural()
            ),
        )),
    }
}

/// Deletes pods by (namespace, name).
fn delete_pods(
    store: &Store,
    targets: &[(String, String)],
    grace: Option<u64>,
) -> anyhow::Result<()> {
    let dirs = targets
        .iter()
        .map(|(ns, name)| existing_pod(store, ns, name))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // Every pod is asked first, then waited for: they terminate side by side, each with its own
    // grace period, as the API server's deletions do.
    let asked: Vec<Deleting> = dirs
        .iter()
        .map(|d| Deleting::ask(d, grace))
        .collect::<anyhow::Result<_>>()?;
    for ((deleting, dir), (_, name)) in asked.into_iter().zip(&dirs).zip(targets) {
        deleting.finish(dir)?;
        println!("pod \"{name}\" deleted");
    }
    Ok(())
}

/// `delete -f FILE`: the file's workloads (with their pods), then its pods and Services, then — with
/// `--include-volumes`, once nothing can use them any more — its claims' directories.
fn delete_file(store: &Store, a: &DeleteArgs) -> anyhow::Result<i32> {
    let sources = read_sources(&a.filename)?;
    let loaded = tandem_api::load(
        &sources,
        &tandem_api::PlanOptions {
            node_name: String::new(),
            uid: None,
            claims_dir: None,
            ..Default::default()
        },
    )
    .map_err(|d| {
        hint(
            format!("cannot read the manifests: {d}"),
            "fix the manifest, or delete the pods by name",
        )
    })?;
    for w in &loaded.workloads {
        let o = &w.object;
        super::workloads::delete(store, o.kind(), o.namespace(), o.name(), deletion(a))?;
    }
    let pods: Vec<(String, String)> = loaded
        .pods
        .iter()
        .map(|p| (p.plan.namespace.clone(), p.plan.name.clone()))
        .collect();
    delete_pods(store, &pods, a.grace_period)?;
    for s in &loaded.services {
        let m = &s.object.metadata;
        let (ns, name) = (
            m.namespace.as_deref().unwrap_or("default"),
            m.name.as_deref().unwrap_or_default(),
        );
        super::services::delete(store, ns, name)?;
    }
    for e in &loaded.endpoints {
        if super::service_store::remove_manual(store, &e.object) {
            let name = e.object.metadata().name.clone().unwrap_or_default();
            match &e.object {
                tandem_api::services::ManualEndpoints::Slice(_) => {
                    println!("endpointslice.discovery.k8s.io \"{name}\" deleted")
                }
                tandem_api::services::ManualEndpoints::Endpoints(_) => {
                    println!("endpoints \"{name}\" deleted")
                }
            }
        }
    }
    // One not kept is reported and the rest still deleted, as kubectl goes on past a NotFound.
    let mut not_kept = false;
    for object in loaded.references.iter().chain(&loaded.kept) {
        let Some((kind, ns, name)) = Kept::identity(object) else {
            continue;
        };
        if let Err(e) = delete_kept(store, kind, &ns, &name) {
            crate::errors::report(&e);
            not_kept = true;
        }
    }
    for (ns, name) in &loaded.claims {
        let dir = store.volumes.join(ns).join(name);
        if !a.include_volumes {
            if dir.exists() {
                eprintln!(
                    "persistentvolumeclaim \"{name}\" kept ({}): --include-volumes deletes it with its data",
                    dir.display()
                );
            }
            continue;
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => println!("persistentvolumeclaim \"{name}\" deleted"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot delete the claim directory {}",
                    dir.display()
                )))
            }
        }
    }
    Ok(i32::from(not_kept))
}

/// A deletion asked of a pod's supervisor, not yet finished.
pub(super) struct Deleting {
    /// The supervisor's connection, which it holds open until it exits; `None` when it was
    /// not running.
    supervisor: Option<UnixStream>,
}

impl Deleting {
    pub(super) fn ask(dir: &PodDir, grace: Option<u64>) -> anyhow::Result<Deleting> {
        let mut supervisor = None;
        if dir.live_supervisor().is_some() {
            if let Ok(mut s) = dir
                .socket_addr()
                .and_then(|addr| UnixStream::connect(addr.path()))
            {
                let mut req = serde_json::to_vec(&Request::Delete {
                    grace_seconds: grace,
                })?;
                req.push(b'\n');
                s.write_all(&req)?;
                supervisor = Some(s);
            }
        }
        Ok(Deleting { supervisor })
    }

    /// Waits for the supervisor to exit, then removes what is left of the pod.
    pub(super) fn finish(self, dir: &PodDir) -> anyhow::Result<()> {
        let asked = self.supervisor.is_some();
        if let Some(s) = self.supervisor {
            let mut r = BufReader::new(s);
            let mut line = String::new();
            while r.read_line(&mut line).map(|n| n > 0).unwrap_or(false) {
                line.clear();
            }
        }
        remove(dir, !asked)
    }
}

/// Removes a claim's directory (its data) unless a running pod of the store mounts it; whether
/// it did. A claim deleted through the API goes with its data, as a dynamically provisioned
/// volume with reclaim policy Delete does; one in use keeps it, as the claim's protection
/// finalizer would until its pods are gone.
pub(crate) fn remove_unused_claim(
    store: &Store,
    namespace: &str,
    name: &str,
) -> anyhow::Result<bool> {
    let mounted = super::list_pods(store)?.into_iter().any(|dir| {
        let Ok(pod) = super::read_pod(&dir) else {
            return false;
        };
        let mounts = pod.metadata.namespace.as_deref() == Some(namespace)
            && pod
                .spec
                .iter()
                .flat_map(|s| s.volumes.iter().flatten())
                .filter_map(|v| v.persistent_volume_claim.as_ref())
                .any(|c| c.claim_name == name);
        mounts && dir.live_supervisor().is_some()
    });
    if mounted {
        return Ok(false);
    }
    let dir = store.volumes.join(namespace).join(name);
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context(format!(
            "cannot delete the claim directory {}",
            dir.display()
        ))),
    }
}

/// Stops a pod through its supervisor and returns once the pod is gone; a pod whose supervisor
/// has already exited (it completed, or crashed) is cleaned up here.
pub fn delete_pod(dir: &PodDir, grace: Option<u64>) -> anyhow::Result<()> {
    Deleting::ask(dir, grace)?.finish(dir)
}

/// Removes a pod's directory and what a dead supervisor left. `orphaned`: no supervisor took
/// the pod down, so none took its name out of the other pods' /etc/hosts either.
fn remove(dir: &PodDir, orphaned: bool) -> anyhow::Result<()> {
    cleanup_leftovers(dir);
    tandem_supervisor::statedir::remove_whole(&dir.root)?;
    if orphaned {
        tandem_supervisor::etc_files::refresh_peer_hosts(dir);
    }
    Ok(())
}

/// What a supervisor that died without tearing down could have left: its CNI attachment (the
/// address, port mappings and firewall rules; the interfaces died with the pause process's
/// namespace), processes in the pod's cgroups and the cgroups themselves. Mounts die with the
/// supervisor's mount namespace.
fn cleanup_leftovers(dir: &PodDir) {
    if let Err(e) = tandem_supervisor::network::detach(dir, false) {
        eprintln!("warning: pod network of {}: {e}", dir.root.display());
    }
    let Ok(bytes) = std::fs::read(dir.plan_json()) else {
        return;
    };
    let Ok(plan) = serde_json::from_slice::<tandem_api::plan::PodPlan>(&bytes) else {
        return;
    };
    let cg = tandem_runtime::cgroups::pod_cgroup(&plan.uid);
    for d in tandem_runtime::cgroups::kill_and_remove(&cg, std::time::Duration::from_secs(5)) {
        eprintln!("warning: cannot remove cgroup {}", d.display());
    }
}
