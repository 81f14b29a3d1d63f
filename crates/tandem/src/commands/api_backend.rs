//! The store as the API endpoint sees it (tandem-apiserver's `Backend`): pods, events,
//! namespaces, workloads and Services read as `get` reads them, created as `run -d` creates
//! them, changed through their supervisors and controllers, deleted as `delete` deletes them;
//! logs as `logs` reads them, exec as `exec` starts it; and the tables kubectl's `get` prints,
//! with the CLI's own columns. Both doors lead to the same pods.

use std::io::Write;
use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Parser;
use k8s_openapi::api::core::v1::Pod;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde_json::{json, Value};
use tandem_api::Workload;
use tandem_apiserver::{
    Accepted, ApiError, Backend, Cause, Column, ExecEnd, ExecOptions, ExecStreams, LogOptions,
    LogStream, Object, Resource, StoredKind, WriteOptions,
};
use tandem_kubelet::status::{human_duration, kubectl_columns};
use tandem_supervisor::proto::{AttachRequest, ExecRequest, Request};
use tandem_supervisor::statedir::Store;

use super::control::Connection;
use super::object_store::{self, Kept};
use super::{list_pods, read_pod, services};
use crate::cli::PodArgs;

/// The namespaces every cluster has, listed whether or not a pod lives in them.
const BUILTIN_NAMESPACES: [&str; 4] = ["default", "kube-node-lease", "kube-public", "kube-system"];

/// The store, as the API endpoint reads and changes it.
pub(crate) struct StoreBackend {
    store: Store,
    /// The settings `run` would give pods from this environment (network, logs, registries).
    settings: PodArgs,
    /// Told of every file written in the store's pod, workload and Service directories.
    watch: std::sync::Mutex<StoreWatch>,
}

/// inotify(7) on the directories whose files the store's processes write: the pods',
/// workloads' and Services' directories and each directory in them (a file is replaced by a
/// rename, a log of events appended to).
struct StoreWatch {
    inotify: Option<Inotify>,
    watched: std::collections::BTreeSet<PathBuf>,
}

impl StoreWatch {
    fn new() -> StoreWatch {
        StoreWatch {
            inotify: Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok(),
            watched: Default::default(),
        }
    }

    /// Watches every directory of `tops` and those in them not yet watched.
    fn cover(&mut self, tops: &[&Path]) {
        let Some(ino) = &self.inotify else { return };
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CLOSE_WRITE
            | AddWatchFlags::IN_MODIFY;
        let dirs = tops.iter().flat_map(|top| {
            let inner = std::fs::read_dir(top)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir());
            std::iter::once(top.to_path_buf()).chain(inner)
        });
        let fresh: Vec<PathBuf> = dirs.filter(|d| !self.watched.contains(d)).collect();
        for d in fresh {
            if ino.add_watch(&d, flags).is_ok() {
                self.watched.insert(d);
            }
        }
        // Directories gone take their watches with them.
        self.watched.retain(|d| d.exists());
    }
}

/// `PodArgs` parsed from nothing but the environment: the defaults and TANDEM_* variables.
#[derive(Parser)]
struct SettingsOnly {
    #[command(flatten)]
    pods: PodArgs,
}

impl StoreBackend {
    /// The directory of a pod that exists, else the API server's NotFound.
    fn pod_dir(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<tandem_supervisor::statedir::PodDir, ApiError> {
        let dir = self.store.pod(namespace, name);
        match dir.root.exists() {
            true => Ok(dir),
            false => Err(ApiError::not_found("", "pods", name)),
        }
    }

    /// The pod, and the container `pods/exec` or `pods/attach` names (chosen as the API server
    /// chooses it), which must be running.
    fn running_container(
        &self,
        namespace: &str,
        name: &str,
        options: &ExecOptions,
    ) -> Result<(tandem_supervisor::statedir::PodDir, Pod, String), ApiError> {
        let dir = self.store.pod(namespace, name);
        let pod = read_pod(&dir).map_err(|_| ApiError::not_found("", "pods", name))?;
        let container = chosen_container(&pod, name, options.container.as_deref())?;
        super::exec::ensure_running(&dir, &pod, name, &container)
            .map_err(|e| ApiError::bad_request(e.to_string()))?;
        Ok((dir, pod, container))
    }

    pub(crate) fn new(store: Store) -> anyhow::Result<StoreBackend> {
        let settings = SettingsOnly::try_parse_from(["tandem"])
            .context("the TANDEM_* settings in the environment are not valid")?
            .pods;
        Ok(StoreBackend {
            store,
            settings,
            watch: std::sync::Mutex::new(StoreWatch::new()),
        })
    }

    fn namespace_object(name: &str, created: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "creationTimestamp": created,
                "labels": {"kubernetes.io/metadata.name": name},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        })
    }
}

/// Every object of the store, as the API shows it.
fn snapshot(store: &Store) -> Result<Vec<Object>, ApiError> {
    // Supervisors this process started are its children; each exits when its pod is gone.
    tandem_runtime::reaper::sweep(None);
    let dirs = match store.pods.exists() {
        true => list_pods(store).map_err(internal)?,
        false => vec![],
    };
    let mut objects = vec![];
    for dir in dirs {
        let Ok(pod) = read_pod(&dir) else { continue };
        for (i, e) in super::get::pod_events(&dir).into_iter().enumerate() {
            let event = super::get::v1_event(&pod, &e, i);
            objects.push(Object::from_value(Resource::Events, event));
        }
        let value = serde_json::to_value(&pod).map_err(|e| internal(e.into()))?;
        objects.push(Object::from_value(Resource::Pods, value));
    }
    for dir in super::controller::list(store) {
        let Ok(made) = dir.read_objects() else {
            continue;
        };
        for (i, e) in dir.read_events().into_iter().enumerate() {
            let event = super::get::workload_v1_event(&made, &e, i);
            objects.push(Object::from_value(Resource::Events, event));
        }
        for m in made {
            objects.push(Object::from_value(
                Resource::Workload(m.kind()),
                m.to_json(),
            ));
        }
    }
    for (resource, kind) in [
        (Resource::Services, services::Resource::Services),
        (Resource::Endpoints, services::Resource::Endpoints),
        (Resource::EndpointSlices, services::Resource::EndpointSlices),
    ] {
        for value in services::objects(store, kind).map_err(internal)? {
            objects.push(Object::from_value(resource, value));
        }
    }
    for kept in Kept::all().filter(|k| *k != Kept::Namespaces) {
        for value in object_store::list(store, kept) {
            objects.push(Object::from_value(kept.resource(), value));
        }
    }
    // The namespaces made through the API, those every cluster has, and each one something
    // lives in.
    let made = object_store::list(store, Kept::Namespaces);
    let mut namespaces: std::collections::BTreeSet<String> =
        BUILTIN_NAMESPACES.iter().map(|n| n.to_string()).collect();
    namespaces.extend(objects.iter().map(|o| o.namespace.clone()));
    namespaces.remove("");
    let created = object_store::store_created(store);
    for ns in namespaces {
        if !made.iter().any(|m| m["metadata"]["name"] == ns.as_str()) {
            let value = StoreBackend::namespace_object(&ns, &created);
            objects.push(Object::from_value(Resource::Namespaces, value));
        }
    }
    // Every namespace's `default` ServiceAccount, as the serviceaccounts controller makes it
    // (one the store keeps wins); none in a namespace being deleted.
    let live: Vec<(String, String)> = objects
        .iter()
        .filter(|o| o.resource == Resource::Namespaces)
        .map(|o| (o.name.clone(), created.clone()))
        .chain(made.iter().filter_map(|m| {
            let name = m["metadata"]["name"].as_str()?;
            let since = m["metadata"]["creationTimestamp"]
                .as_str()
                .unwrap_or(&created);
            m["metadata"]["deletionTimestamp"]
                .is_null()
                .then(|| (name.to_string(), since.to_string()))
        }))
        .collect();
    for (ns, since) in live {
        let kept = objects.iter().any(|o| {
            o.resource == DEFAULT_ACCOUNT.0 && o.namespace == ns && o.name == DEFAULT_ACCOUNT.1
        });
        if !kept {
            objects.push(Object::from_value(
                DEFAULT_ACCOUNT.0,
                object_store::default_account(&ns, &since),
            ));
        }
    }
    for value in made {
        objects.push(Object::from_value(Resource::Namespaces, value));
    }
    objects.push(Object::from_value(
        Resource::Nodes,
        super::node::object(&created),
    ));
    Ok(objects)
}

/// The ServiceAccount every namespace has.
const DEFAULT_ACCOUNT: (Resource, &str) = (
    Resource::Stored(StoredKind::ServiceAccount),
    tandem_api::DEFAULT_SERVICE_ACCOUNT,
);

/// Whether `o` is a `default` ServiceAccount the store does not keep (made by [`snapshot`]).
fn made_default_account(store: &Store, o: &Object) -> bool {
    (o.resource, o.name.as_str()) == DEFAULT_ACCOUNT
        && !Kept::Stored(StoredKind::ServiceAccount)
            .path(store, &o.namespace, &o.name)
            .exists()
}

fn internal(e: anyhow::Error) -> ApiError {
    ApiError::internal(format!("{e:#}"))
}

impl Backend for StoreBackend {
    fn field_managers_file(&self) -> Option<std::path::PathBuf> {
        Some(self.store.serve.join("managed-fields.json"))
    }

    fn wait_for_change(&self, timeout: std::time::Duration) {
        let mut watch = self.watch.lock().unwrap_or_else(|e| e.into_inner());
        let s = &self.store;
        watch.cover(&[&s.pods, &s.workloads, &s.services]);
        let Some(ino) = &watch.inotify else {
            drop(watch);
            std::thread::sleep(timeout);
            return;
        };
        let mut fds = [nix::poll::PollFd::new(
            ino.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        if nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms)).unwrap_or(0) > 0 {
            // What changed is read in the snapshot that follows; the events only wake it.
            while ino.read_events().is_ok_and(|e| !e.is_empty()) {}
        }
    }

    fn snapshot(&self) -> Result<Vec<Object>, ApiError> {
        snapshot(&self.store)
    }

    fn create(
        &self,
        resource: Resource,
        namespace: &str,
        object: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError> {
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.refuse_if_terminating(resource, namespace, &name)?;
        if let Some(kept) = Kept::of(resource) {
            return self.keep(kept, namespace, &name, object, write, None);
        }
        let loaded = self.load_submitted(resource, namespace, &name, object, write)?;
        let warnings = loaded.warnings.iter().map(|w| w.message.clone()).collect();
        let holds = match resource {
            Resource::Pods => loaded.pods.len(),
            Resource::Services => loaded.services.len(),
            Resource::Workload(_) => loaded.workloads.len(),
            _ => 0,
        };
        if holds != 1 {
            return Err(ApiError::internal(format!(
                "{} cannot be created here",
                resource.plural()
            )));
        }
        let exists = || match resource {
            Resource::Pods => self.store.pod(namespace, &name).root.exists(),
            Resource::Workload(kind) => {
                super::controller::WorkloadDir::of(&self.store, kind, namespace, &name)
                    .root
                    .join("workload.json")
                    .exists()
            }
            _ => services::objects(&self.store, services::Resource::Services)
                .unwrap_or_default()
                .iter()
                .any(|s| s["metadata"]["namespace"] == namespace && s["metadata"]["name"] == name),
        };
        if exists() {
            return Err(ApiError::already_exists(
                resource.group(),
                resource.plural(),
                &name,
            ));
        }
        if write.dry_run {
            return Ok(Accepted { warnings });
        }
        super::run::create_loaded(&self.store, &self.settings, &[], loaded).map_err(|e| {
            // A refused or failed creation leaves nothing, the proxy it started included.
            super::service_proxy::settle(&self.store);
            // A creation that failed removed what it made: an object there now is another's.
            match exists() {
                true => ApiError::already_exists(resource.group(), resource.plural(), &name),
                false => internal(e),
            }
        })?;
        Ok(Accepted { warnings })
    }

    fn update(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        old: &Value,
        new: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError> {
        if let Some(kept) = Kept::of(resource) {
            return self.keep(kept, namespace, name, new, write, Some(old));
        }
        match resource {
            Resource::Pods => {}
            Resource::Workload(kind) => {
                return self.update_workload(kind, namespace, name, old, new, write)
            }
            Resource::Services => return self.update_service(namespace, name, old, new, write),
            _ => {
                return Err(ApiError::internal(format!(
                    "{} cannot be changed here",
                    resource.plural()
                )))
            }
        }
        let update =
            tandem_api::updates::pod_update(old, new).map_err(|r| refusal(resource, name, r))?;
        if write.dry_run || update.is_empty() {
            return Ok(Accepted { warnings: vec![] });
        }
        let dir = self.store.pod(namespace, name);
        match super::metadata::apply_pod_update(&dir, name, &update).map_err(internal)? {
            Ok(()) => Ok(Accepted { warnings: vec![] }),
            Err(message) => Err(refusal(
                resource,
                name,
                tandem_api::updates::Refusal::NotSupported {
                    field: String::new(),
                    message,
                },
            )),
        }
    }

    fn scale(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), ApiError> {
        let Resource::Workload(kind) = resource else {
            return Err(ApiError::internal(format!(
                "{} do not scale",
                resource.plural()
            )));
        };
        let dir = super::controller::WorkloadDir::of(&self.store, kind, namespace, name);
        if !dir.root.join("workload.json").exists() {
            return Err(ApiError::not_found(
                resource.group(),
                resource.plural(),
                name,
            ));
        }
        super::workloads::set_replicas(&self.store, kind, namespace, name, replicas)
            .map_err(internal)
    }

    fn delete(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        grace_seconds: Option<u64>,
        orphan: bool,
    ) -> Result<(), ApiError> {
        let store = self.store.clone();
        match resource {
            Resource::Pods => {}
            Resource::Services => {
                // Its addresses and rules go at once; its pods stay, as on a cluster.
                return match super::service_store::remove(&store, namespace, name) {
                    Ok(true) => {
                        super::service_proxy::settle(&store);
                        Ok(())
                    }
                    Ok(false) => Err(ApiError::not_found("", "services", name)),
                    Err(e) => Err(internal(e)),
                };
            }
            Resource::Namespaces => return self.delete_namespace(name),
            Resource::ConfigMaps | Resource::Secrets | Resource::Stored(_) => {
                let kept = Kept::of(resource).unwrap_or(Kept::ConfigMaps);
                let removed = object_store::remove(&store, kept, namespace, name)
                    .map_err(|e| internal(e.into()))?;
                // A namespace's `default` ServiceAccount comes back at once, a new object (a
                // new uid, so the tokens of the old one end), as the serviceaccounts
                // controller makes it again — unless the namespace is going.
                if (resource, name) == DEFAULT_ACCOUNT
                    && !object_store::namespace_terminating(&store, namespace)
                {
                    let mut again = object_store::default_account(namespace, "");
                    again["metadata"]["uid"] = json!(super::start::random_uid());
                    again["metadata"]["creationTimestamp"] =
                        serde_json::to_value(super::start::now_time())
                            .map_err(|e| internal(e.into()))?;
                    object_store::put(&store, kept, namespace, name, &again)
                        .map_err(|e| internal(e.into()))?;
                    return Ok(());
                }
                if !removed {
                    return Err(ApiError::not_found(
                        resource.group(),
                        resource.plural(),
                        name,
                    ));
                }
                if resource == Resource::Stored(StoredKind::PersistentVolumeClaim) {
                    // Its data goes with it, as a dynamically provisioned volume's (reclaim
                    // policy Delete) — unless a pod still mounts it, which keeps it.
                    super::delete::remove_unused_claim(&store, namespace, name)
                        .map_err(internal)?;
                }
                return Ok(());
            }
            Resource::Workload(kind) => {
                let dir = super::controller::WorkloadDir::of(&store, kind, namespace, name);
                if !dir.root.join("workload.json").exists() {
                    return Err(ApiError::not_found(
                        resource.group(),
                        resource.plural(),
                        name,
                    ));
                }
                // Its controller deletes its pods (each gracefully) or lets them go, then
                // itself; watchers see them go.
                let deletion = super::controller::Deletion {
                    grace_seconds,
                    orphan,
                };
                std::thread::spawn(move || {
                    if let Err(e) = super::controller::delete(&store, &dir, deletion) {
                        eprintln!("warning: deleting {}: {e:#}", dir.root.display());
                    }
                    super::service_proxy::settle(&store);
                });
                return Ok(());
            }
            _ => {
                return Err(ApiError::internal(format!(
                    "{} cannot be deleted here",
                    resource.plural()
                )))
            }
        }
        let dir = self.pod_dir(namespace, name)?;
        let deleting = super::delete::Deleting::ask(&dir, grace_seconds).map_err(internal)?;
        // The pod leaves the store once its containers have stopped; the client learns it
        // through its watch, as from a cluster.
        std::thread::spawn(move || {
            if let Err(e) = deleting.finish(&dir) {
                eprintln!("warning: deleting {}: {e:#}", dir.root.display());
            }
            super::service_proxy::settle(&store);
        });
        Ok(())
    }

    fn evict(
        &self,
        namespace: &str,
        name: &str,
        grace_seconds: Option<u64>,
        dry_run: bool,
    ) -> Result<(), ApiError> {
        use tandem_controllers::disruption::{eviction, Verdict, REFUSED, SEVERAL};
        let objects = self.snapshot()?;
        let of = |r: Resource| {
            objects
                .iter()
                .filter(move |o| o.resource == r && o.namespace == namespace)
        };
        let pods: Vec<Pod> = of(Resource::Pods)
            .filter_map(|o| serde_json::from_value(o.value.clone()).ok())
            .collect();
        let budgets: Vec<k8s_openapi::api::policy::v1::PodDisruptionBudget> =
            of(Resource::Stored(StoredKind::PodDisruptionBudget))
                .filter_map(|o| serde_json::from_value(o.value.clone()).ok())
                .collect();
        let Some(pod) = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(name))
        else {
            return Err(ApiError::not_found("", "pods", name));
        };
        match eviction(pod, &budgets, &pods) {
            Verdict::Allowed => {}
            Verdict::Refused { cause } => {
                let mut e = ApiError::new(tandem_apiserver::Reason::TooManyRequests, REFUSED);
                e.details.causes = vec![tandem_apiserver::Cause {
                    reason: "DisruptionBudget".into(),
                    message: cause,
                    field: String::new(),
                }];
                return Err(e);
            }
            Verdict::SeveralBudgets => {
                return Err(ApiError::new(
                    tandem_apiserver::Reason::InternalError,
                    SEVERAL,
                ))
            }
        }
        if dry_run {
            return Ok(());
        }
        self.delete(Resource::Pods, namespace, name, grace_seconds, false)
    }

    fn logs(
        &self,
        namespace: &str,
        name: &str,
        options: &LogOptions,
    ) -> Result<LogStream, ApiError> {
        let dir = self.store.pod(namespace, name);
        let pod = read_pod(&dir).map_err(|_| ApiError::not_found("", "pods", name))?;
        let container = chosen_container(&pod, name, options.container.as_deref())?;
        super::logs::container_log(dir, &pod, container, options)
            .map_err(|e| ApiError::bad_request(format!("{e}")))
    }

    fn pod_metrics(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Value>, ApiError> {
        let mut pods: Vec<Pod> = vec![];
        for dir in list_pods(&self.store).map_err(internal)? {
            let Ok(pod) = read_pod(&dir) else { continue };
            let m = &pod.metadata;
            let ns = m.namespace.as_deref().unwrap_or("default");
            if namespace.is_none_or(|n| n == ns)
                && name.is_none_or(|n| m.name.as_deref() == Some(n))
            {
                pods.push(pod);
            }
        }
        let usage = super::top::measure(&pods);
        let timestamp = super::start::now_time();
        let window = format!("{}ms", super::top::WINDOW.as_millis());
        Ok(pods
            .iter()
            .filter_map(|p| {
                let pod_name = p.metadata.name.clone().unwrap_or_default();
                let containers: Vec<Value> = usage
                    .iter()
                    .filter(|u| u.pod == pod_name)
                    .map(|u| {
                        json!({
                            "name": u.container,
                            "usage": {"cpu": format!("{}m", u.millicores), "memory": format!("{}Ki", u.bytes / 1024)},
                        })
                    })
                    .collect();
                // A pod with no running container has no metrics, as metrics-server has none.
                (!containers.is_empty()).then(|| {
                    json!({
                        "kind": "PodMetrics",
                        "apiVersion": "metrics.k8s.io/v1beta1",
                        "metadata": {
                            "name": pod_name,
                            "namespace": p.metadata.namespace,
                            "labels": p.metadata.labels,
                            "creationTimestamp": timestamp,
                        },
                        "timestamp": timestamp,
                        "window": window,
                        "containers": containers,
                    })
                })
            })
            .collect())
    }

    fn node_metrics(&self) -> Result<Vec<Value>, ApiError> {
        Ok(vec![super::node::metrics()])
    }

    fn exec(
        &self,
        namespace: &str,
        name: &str,
        options: &ExecOptions,
    ) -> Result<ExecStreams, ApiError> {
        let (dir, _, container) = self.running_container(namespace, name, options)?;
        let request = ExecRequest {
            container: container.clone(),
            command: options.command.clone(),
            stdin: options.stdin,
            tty: options.tty,
            size: None,
        };
        let mut conn = Connection::open(&dir, name).map_err(internal)?;
        let closer = conn.closer().map_err(internal)?;
        let streams = match options.tty {
            true => on_terminal(&mut conn, &request, options),
            false => on_pipes(&mut conn, &request, options),
        }
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        let (stdin, stdout, stderr, resize) = streams;
        Ok(ExecStreams {
            stdin,
            stdout,
            stderr,
            resize,
            wait: Box::new(move || match super::exec::ended(&mut conn) {
                Ok(outcome) => match (outcome.exit_code, outcome.error) {
                    (Some(code), None) => ExecEnd::Exited(code),
                    (Some(code), Some(message)) => ExecEnd::Failed { code, message },
                    (None, Some(message)) => ExecEnd::Error(message),
                    (None, None) => {
                        ExecEnd::Error("the command ended without an exit status".into())
                    }
                },
                Err(e) => ExecEnd::Error(format!("{e:#}")),
            }),
            abandon: Box::new(move || {
                let _ = closer.shutdown(std::net::Shutdown::Both);
            }),
        })
    }

    fn add_ephemeral_containers(
        &self,
        namespace: &str,
        name: &str,
        old: &Value,
        new: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError> {
        let dir = self.pod_dir(namespace, name)?;
        let added = tandem_api::ephemeral::additions(old, new)
            .map_err(|r| refusal(Resource::Pods, name, r))?;
        let listed = new["spec"]["ephemeralContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let mut planned = vec![];
        for spec in added {
            let index = listed
                .iter()
                .position(|c| c["name"] == spec["name"])
                .unwrap_or_default();
            let plan = super::debug::planned(&self.store, old, &spec, index, write.unknown_fields)
                .map_err(|d| invalid(Resource::Pods, name, &d))?;
            let typed = serde_json::from_value(spec).map_err(|e| {
                ApiError::bad_request(format!("an ephemeral container does not read: {e}"))
            })?;
            planned.push((plan, typed));
        }
        if write.dry_run {
            return Ok(Accepted::default());
        }
        for (plan, typed) in planned {
            super::debug::add(&dir, name, plan, typed)
                .map_err(internal)?
                .map_err(|why| {
                    ApiError::bad_request(format!(
                        "no ephemeral container can be added to pod {name}: {why}"
                    ))
                })?;
        }
        Ok(Accepted::default())
    }

    fn update_pod_status(
        &self,
        namespace: &str,
        name: &str,
        old: &Value,
        new: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError> {
        let dir = self.pod_dir(namespace, name)?;
        let set = tandem_api::updates::status_conditions(old, new)
            .map_err(|r| refusal(Resource::Pods, name, r))?;
        if set.is_empty() || write.dry_run {
            return Ok(Accepted::default());
        }
        let conditions: Vec<k8s_openapi::api::core::v1::PodCondition> =
            serde_json::from_value(Value::Array(set)).map_err(|e| {
                ApiError::bad_request(format!("status.conditions do not read as conditions: {e}"))
            })?;
        let refused = |message: String| {
            refusal(
                Resource::Pods,
                name,
                tandem_api::updates::Refusal::Forbidden {
                    field: "status.conditions".into(),
                    message,
                },
            )
        };
        if dir.live_supervisor().is_none() {
            return Err(refused(format!(
                "pod {name} has ended; its status no longer changes"
            )));
        }
        let request = tandem_supervisor::proto::Request::SetConditions { conditions };
        super::supervisor_answer(&dir, name, &request)
            .map_err(internal)?
            .map_err(|why| refused(why.unwrap_or_else(|| "the pod is ending".into())))?;
        Ok(Accepted::default())
    }

    fn attach(
        &self,
        namespace: &str,
        name: &str,
        options: &ExecOptions,
    ) -> Result<ExecStreams, ApiError> {
        let (dir, pod, container) = self.running_container(namespace, name, options)?;
        // The container's own terminal decides how many outputs there are, whatever was asked.
        let tty = super::attach::Stdio::of(&pod, &container).tty;
        let request = AttachRequest {
            container,
            stdin: options.stdin,
            tty,
            size: None,
        };
        let conn = Connection::open(&dir, name).map_err(internal)?;
        let attached = super::attach::Attached::start(conn, &request)
            .map_err(|e| ApiError::bad_request(format!("{e:#}")))?;
        let super::attach::Attached {
            stdin,
            stdout,
            stderr,
            control,
            mut conn,
        } = attached;
        let closer = control.try_clone().map_err(|e| internal(e.into()))?;
        Ok(ExecStreams {
            stdin: stdin.map(|w| Box::new(w) as Box<dyn Write + Send>),
            stdout: wanted(stdout, options.stdout),
            stderr: stderr.and_then(|e| wanted(e, options.stderr)),
            resize: tty.then(|| {
                Box::new(super::attach::resizer(control)) as Box<dyn Fn(u16, u16) + Send + Sync>
            }),
            wait: Box::new(move || {
                super::attach::ended(&mut conn);
                ExecEnd::Exited(0)
            }),
            abandon: Box::new(move || {
                let _ = closer.shutdown(std::net::Shutdown::Both);
            }),
        })
    }

    fn dial(
        &self,
        namespace: &str,
        name: &str,
        port: u16,
    ) -> Result<std::net::TcpStream, ApiError> {
        let dir = self.pod_dir(namespace, name)?;
        if dir.live_supervisor().is_none() {
            return Err(ApiError::bad_request(format!(
                "pod {name} is not running, so no port of it can be reached"
            )));
        }
        super::port_forward::dial(&dir, name, port)
            .map_err(|e| ApiError::new(tandem_apiserver::Reason::InternalError, format!("{e:#}")))
    }

    fn table(
        &self,
        resource: Resource,
        objects: &[&Value],
        now_us: i64,
    ) -> (Vec<Column>, Vec<Vec<Value>>) {
        let age = |t: &Value| -> String {
            t.as_str()
                .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                .map_or_else(
                    || "<unknown>".into(),
                    |t| human_duration(((now_us - t.as_microsecond()).max(0) / 1_000_000) as u64),
                )
        };
        match resource {
            Resource::Pods => (
                POD_COLUMNS.to_vec(),
                objects
                    .iter()
                    .map(|o| {
                        let Ok(pod) = serde_json::from_value::<Pod>((*o).clone()) else {
                            return vec![];
                        };
                        pod_cells(&pod, now_us, age(&o["metadata"]["creationTimestamp"]))
                    })
                    .collect(),
            ),
            Resource::Namespaces => (
                NAMESPACE_COLUMNS.to_vec(),
                objects
                    .iter()
                    .map(|o| {
                        vec![
                            o["metadata"]["name"].clone(),
                            o["status"]["phase"].clone(),
                            json!(age(&o["metadata"]["creationTimestamp"])),
                        ]
                    })
                    .collect(),
            ),
            Resource::Events => (
                EVENT_COLUMNS.to_vec(),
                objects
                    .iter()
                    .map(|o| {
                        let seen = age(&o["eventTime"]);
                        let involved = &o["involvedObject"];
                        vec![
                            json!(seen),
                            o["type"].clone(),
                            o["reason"].clone(),
                            json!(format!(
                                "{}/{}",
                                involved["kind"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_ascii_lowercase(),
                                involved["name"].as_str().unwrap_or_default()
                            )),
                            json!(involved["fieldPath"].as_str().unwrap_or_default()),
                            json!(o["source"]["component"].as_str().unwrap_or_default()),
                            o["message"].clone(),
                            json!(seen),
                            o["count"].clone(),
                            o["metadata"]["name"].clone(),
                        ]
                    })
                    .collect(),
            ),
            Resource::Services | Resource::Endpoints | Resource::EndpointSlices => {
                let kind = match resource {
                    Resource::Services => services::Resource::Services,
                    Resource::Endpoints => services::Resource::Endpoints,
                    _ => services::Resource::EndpointSlices,
                };
                (
                    cli_columns(&services::wide_header(kind), resource == Resource::Services),
                    objects
                        .iter()
                        .map(|o| cells(services::row_of(kind, o, true)))
                        .collect(),
                )
            }
            Resource::Workload(kind) => (
                cli_columns(super::workloads::columns(kind), false),
                objects
                    .iter()
                    .map(|o| match Workload::from_json((*o).clone()) {
                        Ok(w) => cells(super::workloads::row(&w)),
                        Err(_) => vec![],
                    })
                    .collect(),
            ),
            Resource::ConfigMaps => (
                vec![NAME, column("Data", "The number of keys.", 0), AGE],
                objects
                    .iter()
                    .map(|o| {
                        vec![
                            o["metadata"]["name"].clone(),
                            json!(keys(o)),
                            json!(age(&o["metadata"]["creationTimestamp"])),
                        ]
                    })
                    .collect(),
            ),
            Resource::Secrets => (
                vec![
                    NAME,
                    column("Type", "The type of the secret.", 0),
                    column("Data", "The number of keys.", 0),
                    AGE,
                ],
                objects
                    .iter()
                    .map(|o| {
                        vec![
                            o["metadata"]["name"].clone(),
                            o["type"].clone(),
                            json!(keys(o)),
                            json!(age(&o["metadata"]["creationTimestamp"])),
                        ]
                    })
                    .collect(),
            ),
            Resource::Stored(StoredKind::PersistentVolumeClaim) => (
                vec![
                    NAME,
                    column("Status", "The phase of the claim.", 0),
                    column("Volume", "The volume bound to the claim.", 0),
                    column("Capacity", "The capacity of the claim.", 0),
                    column("Access Modes", "How the claim may be mounted.", 0),
                    column("StorageClass", "The storage class of the claim.", 0),
                    AGE,
                ],
                objects
                    .iter()
                    .map(|o| {
                        let modes = o["spec"]["accessModes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(Value::as_str)
                            .map(|m| match m {
                                "ReadWriteOnce" => "RWO",
                                "ReadOnlyMany" => "ROX",
                                "ReadWriteMany" => "RWX",
                                "ReadWriteOncePod" => "RWOP",
                                other => other,
                            })
                            .collect::<Vec<_>>()
                            .join(",");
                        vec![
                            o["metadata"]["name"].clone(),
                            o["status"]["phase"].clone(),
                            json!(o["spec"]["volumeName"].as_str().unwrap_or_default()),
                            json!(o["status"]["capacity"]["storage"]
                                .as_str()
                                .unwrap_or_default()),
                            json!(modes),
                            json!(o["spec"]["storageClassName"].as_str().unwrap_or("<unset>")),
                            json!(age(&o["metadata"]["creationTimestamp"])),
                        ]
                    })
                    .collect(),
            ),
            // Kept without being acted on: what identifies each, as a table without a printer
            // of its own shows it.
            Resource::Stored(_) => (
                vec![NAME, AGE],
                objects
                    .iter()
                    .map(|o| {
                        vec![
                            o["metadata"]["name"].clone(),
                            json!(age(&o["metadata"]["creationTimestamp"])),
                        ]
                    })
                    .collect(),
            ),
            Resource::Nodes => (
                vec![
                    NAME,
                    column("Status", "The status of the node.", 0),
                    column("Roles", "The roles of the node.", 0),
                    AGE,
                    column("Version", "Kubelet Version reported by the node.", 0),
                    column("Internal-IP", "List of internal IPs.", 1),
                    column("External-IP", "List of external IPs.", 1),
                    column("OS-Image", "OS image reported by the node.", 1),
                    column("Kernel-Version", "Kernel version reported by the node.", 1),
                    column(
                        "Container-Runtime",
                        "Container runtime reported by the node.",
                        1,
                    ),
                ],
                objects
                    .iter()
                    .map(|o| {
                        let status = &o["status"];
                        let ready = status["conditions"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|c| c["type"] == "Ready")
                            .is_some_and(|c| c["status"] == "True");
                        let address = |kind: &str| {
                            status["addresses"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .find(|a| a["type"] == kind)
                                .and_then(|a| a["address"].as_str())
                                .unwrap_or("<none>")
                                .to_string()
                        };
                        let info = &status["nodeInfo"];
                        vec![
                            o["metadata"]["name"].clone(),
                            json!(if ready { "Ready" } else { "NotReady" }),
                            json!("<none>"),
                            json!(age(&o["metadata"]["creationTimestamp"])),
                            info["kubeletVersion"].clone(),
                            json!(address("InternalIP")),
                            json!(address("ExternalIP")),
                            info["osImage"].clone(),
                            info["kernelVersion"].clone(),
                            info["containerRuntimeVersion"].clone(),
                        ]
                    })
                    .collect(),
            ),
            // Never stored, so never listed.
            Resource::Review(_) | Resource::PodMetrics | Resource::NodeMetrics => {
                (vec![NAME], vec![])
            }
        }
    }
}

/// How many keys a ConfigMap or Secret holds.
fn keys(o: &Value) -> usize {
    ["data", "binaryData"]
        .iter()
        .filter_map(|f| o[*f].as_object())
        .map(|m| m.len())
        .sum()
}

impl StoreBackend {
    /// A submitted object loaded as `run` loads a manifest (validated, defaulted, planned, a pod
    /// admitted), with the ConfigMaps and Secrets kept in its namespace, which its references
    /// resolve against as the API server's would.
    fn load_submitted(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        object: &Value,
        write: WriteOptions,
    ) -> Result<tandem_api::Loaded, ApiError> {
        let access = object_store::api_access(&self.store).map_err(internal)?;
        object_store::load_with_references(
            &self.store,
            namespace,
            format!("{}/{name}", resource.plural()),
            object,
            write.unknown_fields,
            Some(access),
        )
        .map_err(|diags| invalid(resource, name, &diags))
    }

    /// A workload changed as the API server changes one: the new object validated and
    /// defaulted as a creation is, judged against the old (`tandem_api::updates`), then given to
    /// its controller, which rolls out a new template, scales, or resumes as the new spec asks.
    fn update_workload(
        &self,
        kind: tandem_api::WorkloadKind,
        namespace: &str,
        name: &str,
        old: &Value,
        new: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError> {
        let resource = Resource::Workload(kind);
        let dir = super::controller::WorkloadDir::of(&self.store, kind, namespace, name);
        if !dir.root.join("workload.json").exists() {
            return Err(ApiError::not_found(
                resource.group(),
                resource.plural(),
                name,
            ));
        }
        let mut submitted = without_server_fields(new);
        // A Job's generated selector is generated again from its uid, as at its creation.
        if kind == tandem_api::WorkloadKind::Job && old["spec"]["manualSelector"] != json!(true) {
            if let Some(spec) = submitted["spec"].as_object_mut() {
                spec.remove("selector");
            }
        }
        let mut loaded = self.load_submitted(resource, namespace, name, &submitted, write)?;
        let Some(workload) = loaded.workloads.pop() else {
            return Err(ApiError::internal(format!(
                "{} cannot be changed here",
                resource.plural()
            )));
        };
        let judged_as = workload.object.to_json();
        let judged = tandem_api::updates::workload_update(kind, old, &judged_as)
            .map_err(|r| refusal(resource, name, r))?;
        let warnings = news(&loaded.warnings, old, &judged_as);
        if write.dry_run || judged == tandem_api::updates::WorkloadUpdate::default() {
            return Ok(Accepted { warnings });
        }
        super::workloads::change(
            &self.store,
            workload.object,
            &loaded.references,
            judged.spec_changed,
        )
        .map_err(internal)?;
        Ok(Accepted { warnings })
    }

    /// A Service changed as the API server changes one: what its creation allocated kept,
    /// the new object validated and defaulted as a creation is and judged against the old
    /// (`tandem_api::updates::service_update`); the proxy routes by it at its next look.
    fn update_service(
        &self,
        namespace: &str,
        name: &str,
        old: &Value,
        new: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError> {
        let resource = Resource::Services;
        let mut submitted = without_server_fields(new);
        tandem_api::updates::keep_allocated(old, &mut submitted);
        let mut loaded = self.load_submitted(resource, namespace, name, &submitted, write)?;
        let Some(service) = loaded.services.pop() else {
            return Err(ApiError::internal("services cannot be changed here"));
        };
        let judged_as = serde_json::to_value(&service.object).map_err(|e| internal(e.into()))?;
        let changed = tandem_api::updates::service_update(old, &judged_as)
            .map_err(|r| refusal(resource, name, r))?;
        let warnings = news(&loaded.warnings, old, &judged_as);
        if write.dry_run || !changed {
            return Ok(Accepted { warnings });
        }
        super::service_store::replace(&self.store, service.object).map_err(internal)?;
        super::service_proxy::settle(&self.store);
        Ok(Accepted { warnings })
    }

    /// Deletes a namespace with everything in it, as the namespace controller does: the
    /// namespace is `Terminating` at once (nothing new may be created in it), its workloads are
    /// deleted first (so nothing makes pods again), then its pods (each gracefully), Services,
    /// ConfigMaps, Secrets and kept objects; the namespace goes once nothing is left. The four
    /// every cluster has may not be deleted.
    fn delete_namespace(&self, name: &str) -> Result<(), ApiError> {
        if BUILTIN_NAMESPACES.contains(&name) {
            return Err(ApiError::new(
                tandem_apiserver::Reason::Forbidden,
                format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
            ));
        }
        let objects = self.snapshot()?;
        let held: Vec<&Object> = objects
            .iter()
            .filter(|o| o.namespace == name && o.resource != Resource::Events)
            .filter(|o| !made_default_account(&self.store, o))
            .collect();
        let made = object_store::list(&self.store, Kept::Namespaces)
            .into_iter()
            .find(|n| n["metadata"]["name"] == name);
        let Some(mut namespace) = made.or_else(|| {
            (!held.is_empty())
                .then(|| Self::namespace_object(name, &object_store::store_created(&self.store)))
        }) else {
            return Err(ApiError::not_found("", "namespaces", name));
        };
        if namespace["metadata"]["deletionTimestamp"].is_null() {
            namespace["metadata"]["deletionTimestamp"] =
                serde_json::to_value(super::start::now_time()).map_err(|e| internal(e.into()))?;
            namespace["status"]["phase"] = json!("Terminating");
            object_store::put(&self.store, Kept::Namespaces, "", name, &namespace)
                .map_err(|e| internal(e.into()))?;
        }
        let rank = |r: Resource| match r {
            Resource::Workload(_) => 0,
            Resource::Pods => 1,
            _ => 2,
        };
        let mut held: Vec<(Resource, String)> =
            held.iter().map(|o| (o.resource, o.name.clone())).collect();
        held.sort_by_key(|(r, _)| rank(*r));
        for (resource, object) in &held {
            // A pod its workload is deleting already, or one gone meanwhile, is no error.
            match self.delete(*resource, name, object, None, false) {
                Ok(()) => {}
                Err(e) if e.reason == tandem_apiserver::Reason::NotFound => {}
                Err(e) => eprintln!(
                    "warning: deleting {} {object} of namespace {name}: {e}",
                    resource.plural()
                ),
            }
        }
        let store = self.store.clone();
        let name = name.to_string();
        std::thread::spawn(move || {
            // The pods stop within their grace periods; a namespace that still holds something
            // after ten minutes stays Terminating, as one with a stuck finalizer does.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
            while std::time::Instant::now() < deadline {
                let empty = snapshot(&store).is_ok_and(|objects| {
                    !objects
                        .iter()
                        .any(|o| o.namespace == name && o.resource != Resource::Events)
                });
                if empty {
                    let _ = object_store::remove(&store, Kept::Namespaces, "", &name);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
        });
        Ok(())
    }

    /// Refuses a new object in a namespace being deleted, as the API server's namespace
    /// lifecycle admission does.
    fn refuse_if_terminating(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
    ) -> Result<(), ApiError> {
        let terminating = object_store::list(&self.store, Kept::Namespaces)
            .iter()
            .any(|n| {
                n["metadata"]["name"] == namespace && !n["metadata"]["deletionTimestamp"].is_null()
            });
        match terminating {
            true => Err(ApiError::new(
                tandem_apiserver::Reason::Forbidden,
                format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {namespace} because it is being terminated",
                    resource.plural()
                ),
            )),
            false => Ok(()),
        }
    }

    /// Keeps an object of a kept kind, checked as `run` checks one (`old`: the object it
    /// replaces, whose identity stays). A Secret's `stringData` is folded into `data` and its
    /// type defaults to Opaque, as the API server does; the data of an `immutable` ConfigMap or
    /// Secret may not change. A claim is Bound from the start (its data is a directory of this
    /// machine), a namespace Active.
    fn keep(
        &self,
        kept: Kept,
        namespace: &str,
        name: &str,
        object: &Value,
        write: WriteOptions,
        old: Option<&Value>,
    ) -> Result<Accepted, ApiError> {
        let resource = kept.resource();
        let mut object = without_server_fields(object);
        if kept == Kept::Secrets {
            object_store::secret_defaults(&mut object);
        }
        let warnings = match kept {
            // Checked here: the loader takes a Namespace as a note that none is needed to run.
            Kept::Namespaces => match tandem_api::names::dns1123_label(name) {
                Some(problem) => {
                    return Err(ApiError::invalid(
                        "",
                        resource.kind(),
                        name,
                        vec![Cause {
                            reason: "FieldValueInvalid".into(),
                            message: format!("Invalid value: {name:?}: {problem}"),
                            field: "metadata.name".into(),
                        }],
                    ))
                }
                None => vec![],
            },
            _ => {
                let sources = vec![tandem_api::Source::new(
                    format!("{}/{name}", resource.plural()),
                    object.to_string(),
                )];
                let loaded = tandem_api::load(
                    &sources,
                    &tandem_api::PlanOptions {
                        node_name: super::start::node_name(),
                        unknown_fields: write.unknown_fields,
                        ..Default::default()
                    },
                )
                .map_err(|diags| invalid(resource, name, &diags))?;
                let warnings = match old {
                    None => loaded.warnings.iter().map(|w| w.message.clone()).collect(),
                    Some(old) => news(&loaded.warnings, old, &object),
                };
                // Kept as the fields its type knows, as the API server decodes it: an unknown
                // field warned of (or ignored) is not kept.
                object = match kept {
                    Kept::ConfigMaps => {
                        known_fields::<k8s_openapi::api::core::v1::ConfigMap>(object)?
                    }
                    Kept::Secrets => known_fields::<k8s_openapi::api::core::v1::Secret>(object)?,
                    _ => object,
                };
                warnings
            }
        };
        let (uid, created) = match old {
            None => {
                // A namespace every cluster has, or one something lives in, exists already.
                let implied = || {
                    self.snapshot().is_ok_and(|all| {
                        all.iter()
                            .any(|o| o.resource == Resource::Namespaces && o.name == name)
                    })
                };
                if kept.path(&self.store, namespace, name).exists()
                    || (kept == Kept::Namespaces && implied())
                {
                    return Err(ApiError::already_exists(
                        resource.group(),
                        resource.plural(),
                        name,
                    ));
                }
                let now = serde_json::to_value(super::start::now_time())
                    .map_err(|e| internal(e.into()))?;
                (json!(super::start::random_uid()), now)
            }
            Some(old) => {
                let data_changed = ["data", "binaryData"].iter().any(|f| object[*f] != old[*f]);
                if old["immutable"] == json!(true) && data_changed {
                    return Err(ApiError::invalid(
                        "",
                        resource.kind(),
                        name,
                        vec![Cause {
                            reason: "FieldValueForbidden".into(),
                            message: "Forbidden: field is immutable when `immutable` is set".into(),
                            field: "data".into(),
                        }],
                    ));
                }
                let meta = &old["metadata"];
                (meta["uid"].clone(), meta["creationTimestamp"].clone())
            }
        };
        let meta = &mut object["metadata"];
        meta["uid"] = uid;
        meta["creationTimestamp"] = created;
        match resource.namespaced() {
            true => meta["namespace"] = json!(namespace),
            false => {
                if let Some(m) = meta.as_object_mut() {
                    m.remove("namespace");
                }
            }
        }
        match kept {
            Kept::Stored(StoredKind::PersistentVolumeClaim) => {
                let spec = &object["spec"];
                object["status"] = json!({
                    "phase": "Bound",
                    "accessModes": spec["accessModes"],
                    "capacity": {"storage": spec["resources"]["requests"]["storage"]},
                });
            }
            Kept::Namespaces => {
                object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
                object["spec"] = json!({"finalizers": ["kubernetes"]});
                object["status"] = json!({"phase": "Active"});
            }
            _ => {}
        }
        if !write.dry_run {
            object_store::put(&self.store, kept, namespace, name, &object)
                .map_err(|e| internal(e.into()))?;
        }
        Ok(Accepted { warnings })
    }
}

/// The loader's findings as the API server's `Invalid`: one cause per problem, at its field; or
/// its `Forbidden` when the object's admission refused it.
fn invalid(resource: Resource, name: &str, diags: &tandem_api::diag::Diagnostics) -> ApiError {
    // A valid object its admission refused is Forbidden, in the admission plugin's words.
    let refused = diags
        .errors()
        .find(|d| d.stage == tandem_api::diag::Stage::Admission);
    if let Some(d) = refused {
        return ApiError::new(tandem_apiserver::Reason::Forbidden, d.message.clone());
    }
    let causes = diags
        .0
        .iter()
        .map(|d| Cause {
            reason: "FieldValueInvalid".into(),
            message: d.message.clone(),
            field: d.field.clone(),
        })
        .collect();
    ApiError::invalid(resource.group(), resource.kind(), name, causes)
}

/// The loader's warnings about what an update changes (`old` into `new`): a field it left as
/// it was, a default say, was warned of when the object was created.
fn news(warnings: &[tandem_api::Diagnostic], old: &Value, new: &Value) -> Vec<String> {
    warnings
        .iter()
        .filter(|w| w.field.is_empty() || !tandem_api::updates::unchanged(old, new, &w.field))
        .map(|w| w.message.clone())
        .collect()
}

/// `object` read as a `T` and written again: what `T` does not know is gone.
fn known_fields<T: serde::de::DeserializeOwned + serde::Serialize>(
    object: Value,
) -> Result<Value, ApiError> {
    serde_json::from_value::<T>(object)
        .and_then(|t| serde_json::to_value(t))
        .map_err(|e| ApiError::bad_request(format!("the object is not valid: {e}")))
}

/// An object sent for an update without what the server keeps itself (its status, version,
/// generation and managed fields), which is not the client's to send.
fn without_server_fields(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(o) = object.as_object_mut() {
        o.remove("status");
    }
    if let Some(m) = object["metadata"].as_object_mut() {
        for owned in ["resourceVersion", "generation", "managedFields"] {
            m.remove(owned);
        }
    }
    object
}

/// An update refused (by the API server's rules, or as one tandem does not carry out yet) as
/// the API server's `Invalid`, at the field it names.
fn refusal(resource: Resource, name: &str, r: tandem_api::updates::Refusal) -> ApiError {
    let (tandem_api::updates::Refusal::Forbidden { field, message }
    | tandem_api::updates::Refusal::NotSupported { field, message }) = r;
    let cause = Cause {
        reason: "FieldValueForbidden".into(),
        message,
        field,
    };
    ApiError::invalid(resource.group(), resource.kind(), name, vec![cause])
}

/// The CLI's column headers as a table's columns (`NAME` names the object; with `last_wide`,
/// the last column is shown with `-o wide` only).
fn cli_columns(header: &[&'static str], last_wide: bool) -> Vec<Column> {
    header
        .iter()
        .enumerate()
        .map(|(i, h)| Column {
            name: h,
            type_: "string",
            format: if *h == "NAME" { "name" } else { "" },
            description: "",
            priority: u8::from(last_wide && i + 1 == header.len()),
        })
        .collect()
}

fn cells(row: Vec<String>) -> Vec<Value> {
    row.into_iter().map(Value::String).collect()
}

/// An exec's streams: stdin, stdout, stderr and the terminal's resizer.
type Streams = (
    Option<Box<dyn Write + Send>>,
    Option<Box<dyn std::io::Read + Send>>,
    Option<Box<dyn std::io::Read + Send>>,
    Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
);

/// Without a terminal: pipes for stdin (when asked), stdout and stderr; a stream the client
/// did not ask for is read and dropped here, so the command never blocks on it.
fn on_pipes(
    conn: &mut Connection,
    request: &ExecRequest,
    options: &ExecOptions,
) -> anyhow::Result<Streams> {
    let piped = super::exec::start_piped(conn, request)?;
    Ok((
        piped.stdin.map(|w| Box::new(w) as Box<dyn Write + Send>),
        wanted(piped.stdout, options.stdout),
        wanted(piped.stderr, options.stderr),
        None,
    ))
}

/// A stream the client asked for, as a reader; one it did not ask for is read and dropped
/// here, so the container never blocks on it.
fn wanted(file: std::fs::File, wanted: bool) -> Option<Box<dyn std::io::Read + Send>> {
    match wanted {
        true => Some(Box::new(file)),
        false => {
            std::thread::spawn(move || std::io::copy(&mut { file }, &mut std::io::sink()));
            None
        }
    }
}

/// With a terminal: the controlling end the supervisor hands back carries output and input,
/// and takes the client's size changes.
fn on_terminal(
    conn: &mut Connection,
    request: &ExecRequest,
    options: &ExecOptions,
) -> anyhow::Result<Streams> {
    conn.send(&Request::Exec(request.clone()), &[])?;
    let mut fds = conn.accepted(&format!(
        "run the command in container {}",
        request.container
    ))?;
    let master = std::fs::File::from(
        fds.pop()
            .ok_or_else(|| anyhow::anyhow!("the pod's supervisor gave no terminal"))?,
    );
    let input = master.try_clone()?;
    let sizer = master.try_clone()?;
    Ok((
        options
            .stdin
            .then(|| Box::new(input) as Box<dyn Write + Send>),
        Some(Box::new(master)),
        None,
        Some(Box::new(move |rows, cols| {
            use std::os::fd::AsFd as _;
            let _ = tandem_runtime::exec::resize_terminal(sizer.as_fd(), rows, cols);
        })),
    ))
}

/// The container `pods/log` and `pods/exec` use, chosen as the API server chooses it: the one
/// named, else the pod's only main container.
fn chosen_container(pod: &Pod, name: &str, asked: Option<&str>) -> Result<String, ApiError> {
    let spec = pod.spec.clone().unwrap_or_default();
    let names = |list: &[k8s_openapi::api::core::v1::Container]| -> Vec<String> {
        list.iter().map(|c| c.name.clone()).collect()
    };
    let mains = names(&spec.containers);
    let inits = names(spec.init_containers.as_deref().unwrap_or_default());
    let ephemeral = spec.ephemeral_containers.iter().flatten().map(|c| &c.name);
    match asked {
        Some(c) if mains.iter().chain(&inits).chain(ephemeral).any(|n| n == c) => Ok(c.to_string()),
        Some(c) => Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        ))),
        None if mains.len() == 1 => Ok(mains[0].clone()),
        None => {
            let mut message = format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                mains.join(" ")
            );
            if !inits.is_empty() {
                message.push_str(&format!(
                    " or one of the init containers: [{}]",
                    inits.join(" ")
                ));
            }
            Err(ApiError::bad_request(message))
        }
    }
}

fn pod_cells(pod: &Pod, now_us: i64, age: String) -> Vec<Value> {
    let (ready, status, restarts) = kubectl_columns(pod, now_us);
    let spec = pod.spec.clone().unwrap_or_default();
    let st = pod.status.clone().unwrap_or_default();
    let none = || "<none>".to_string();
    let gates = spec.readiness_gates.unwrap_or_default();
    let gates_cell = match gates.len() {
        0 => none(),
        n => {
            let met = gates
                .iter()
                .filter(|g| {
                    st.conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == g.condition_type && c.status == "True")
                })
                .count();
            format!("{met}/{n}")
        }
    };
    vec![
        json!(pod.metadata.name.clone().unwrap_or_default()),
        json!(ready),
        json!(status),
        json!(restarts),
        json!(age),
        json!(st.pod_ip.unwrap_or_else(none)),
        json!(spec.node_name.unwrap_or_else(none)),
        json!(st.nominated_node_name.unwrap_or_else(none)),
        json!(gates_cell),
    ]
}

const fn column(name: &'static str, description: &'static str, priority: u8) -> Column {
    Column {
        name,
        type_: "string",
        format: "",
        description,
        priority,
    }
}

const AGE: Column = column(
    "Age",
    "CreationTimestamp is a timestamp representing the server time when this object was created.",
    0,
);

const NAME: Column = Column {
    name: "Name",
    type_: "string",
    format: "name",
    description: "Name must be unique within a namespace.",
    priority: 0,
};

/// The API server's pod table (pkg/printers/internalversion's podColumnDefinitions).
const POD_COLUMNS: [Column; 9] = [
    NAME,
    column("Ready", "The aggregate readiness state of this pod for accepting traffic.", 0),
    column("Status", "The aggregate status of the containers in this pod.", 0),
    column("Restarts", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.", 0),
    AGE,
    column("IP", "IP address allocated to the pod. Routable at least within the cluster.", 1),
    column("Node", "NodeName is a request to schedule this pod onto a specific node.", 1),
    column("Nominated Node", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
    column("Readiness Gates", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
];

const NAMESPACE_COLUMNS: [Column; 3] = [
    NAME,
    column("Status", "The status of the namespace", 0),
    AGE,
];

const EVENT_COLUMNS: [Column; 10] = [
    column("Last Seen", "The time since the event was last seen.", 0),
    column("Type", "Type of this event (Normal, Warning).", 0),
    column("Reason", "Why the action was taken.", 0),
    column("Object", "The object this event is about.", 0),
    column("Subobject", "The part of the object the event is about.", 1),
    column("Source", "The component reporting this event.", 1),
    column(
        "Message",
        "A human-readable description of the status of this operation.",
        0,
    ),
    column(
        "First Seen",
        "The time at which the event was first recorded.",
        1,
    ),
    column("Count", "The number of times this event has occurred.", 1),
    Column {
        name: "Name",
        type_: "string",
        format: "name",
        description: "Name must be unique within a namespace.",
        priority: 1,
    },
];
