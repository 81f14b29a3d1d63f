//! Workloads on this machine: each has a directory in the store (`workloads/NS_KIND_NAME/`: the
//! object as given, its status, the ConfigMaps and Secrets its pods resolve, the settings its
//! pods start with) and a controller process of its own, `tandem __control DIR`, as each pod has
//! its supervisor: no daemon. The controller looks at the workload's pods every half second,
//! asks `tandem_controllers::reconcile` what to do and does it: pods are started as `run`
//! starts them (a supervisor each) and deleted as `delete` deletes them.
//!
//! The CLI writes `workload.json` (a scale changes it) and the controller only `status.json`, so
//! neither overwrites the other. `delete` leaves a `deleting` mark: the controller deletes every
//! pod of the workload, gracefully and side by side, then removes the directory. A controller
//! killed with `kill -9` leaves its pods running; the next command naming the workload starts it
//! again, and `delete` does the controller's part itself. A CronJob's controller makes Jobs,
//! each a workload of its own.

use std::ffi::OsString;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use serde::{Deserialize, Serialize};
use tandem_api::{LoadedWorkload, Workload, WorkloadKind};
use tandem_controllers::events::WorkloadEvent;
use tandem_controllers::{Action, OwnedPod, Phase};
use tandem_runtime::helper::{Args, ArgsError, HelperArgs};
use tandem_supervisor::network::NetworkRequest;
use tandem_supervisor::statedir::{write_atomic, PodDir, Store};

use super::delete::delete_pod;
use super::start::{node_name, now_time, random_uid, start_pod, write_private, Pulls};
use crate::errors::hint;

/// How often a controller looks at its pods.
const PERIOD: std::time::Duration = std::time::Duration::from_millis(500);

/// What the pods of a workload start with: the `run` that created it gave these.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodSettings {
    pub network: NetworkRequest,
    pub pulls: tandem_image::PullSettings,
    pub pod_max_pids: Option<u64>,
    /// Absent from the settings of workloads made before the flag existed: none then.
    #[serde(default)]
    pub allowed_unsafe_sysctls: Vec<String>,
    pub container_logs: tandem_api::plan::ContainerLogPolicy,
    /// The store the workload lives in (its pods, images and claim directories).
    pub pods_dir: PathBuf,
    pub images_dir: PathBuf,
    pub volumes_dir: PathBuf,
    pub workloads_dir: PathBuf,
    /// Absent from the settings of workloads made before Services were run: beside
    /// `workloads_dir` then, as [`Store::new`] lays them out.
    #[serde(default)]
    pub services_dir: PathBuf,
}

impl PodSettings {
    fn store(&self) -> Store {
        Store {
            images: self.images_dir.clone(),
            pods: self.pods_dir.clone(),
            workloads: self.workloads_dir.clone(),
            volumes: self.volumes_dir.clone(),
            services: if self.services_dir.as_os_str().is_empty() {
                self.workloads_dir.with_file_name("services")
            } else {
                self.services_dir.clone()
            },
            // Beside the images and the workloads in both layouts `Store::new` makes.
            serve: self.images_dir.with_file_name("serve"),
            objects: self.workloads_dir.with_file_name("objects"),
        }
    }
}

/// A workload's directory in the store.
#[derive(Debug, Clone)]
pub struct WorkloadDir {
    pub root: PathBuf,
}

impl WorkloadDir {
    pub fn of(store: &Store, kind: WorkloadKind, namespace: &str, name: &str) -> WorkloadDir {
        // `NS_KIND_NAME`, kept within a file name's length as pod directories are.
        let kind_and_name = format!("{}_{name}", kind.plural());
        WorkloadDir {
            root: store.workloads.join(tandem_supervisor::statedir::dir_name(
                namespace,
                &kind_and_name,
            )),
        }
    }

    fn object(&self) -> PathBuf {
        self.root.join("workload.json")
    }
    fn status(&self) -> PathBuf {
        self.root.join("status.json")
    }
    fn references(&self) -> PathBuf {
        self.root.join("references.json")
    }
    /// The settings its pods start with, as the `run` that created it gave them.
    pub fn read_settings(&self) -> anyhow::Result<(PodSettings, Vec<serde_json::Value>)> {
        let settings = serde_json::from_slice(&std::fs::read(self.settings())?)?;
        Ok((settings, self.read_references()?))
    }

    fn read_references(&self) -> anyhow::Result<Vec<serde_json::Value>> {
        Ok(serde_json::from_slice(&std::fs::read(self.references())?)?)
    }

    /// The ConfigMaps and Secrets of `namespace` among `references`, which the pods it makes
    /// resolve their references against.
    fn write_references(
        &self,
        references: &[serde_json::Value],
        namespace: &str,
    ) -> anyhow::Result<()> {
        let in_namespace: Vec<&serde_json::Value> = references
            .iter()
            .filter(|r| r["metadata"]["namespace"].as_str().unwrap_or("default") == namespace)
            .collect();
        write_atomic(&self.references(), &serde_json::to_vec(&in_namespace)?)?;
        Ok(())
    }

    fn settings(&self) -> PathBuf {
        self.root.join("settings.json")
    }
    fn events(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }

    /// Appends events, one JSON line each.
    fn record(&self, events: &[WorkloadEvent]) {
        use std::io::Write;
        if events.is_empty() {
            return;
        }
        let mut text = Vec::new();
        for e in events {
            if let Ok(line) = serde_json::to_vec(e) {
                text.extend_from_slice(&line);
                text.push(b'\n');
            }
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.events());
        if let Err(e) = file.and_then(|mut f| f.write_all(&text)) {
            eprintln!("warning: cannot record events: {e}");
        }
    }

    /// The events its controller recorded, oldest first.
    pub fn read_events(&self) -> Vec<WorkloadEvent> {
        std::fs::read_to_string(self.events())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn replica_sets_file(&self) -> PathBuf {
        self.root.join("replicasets.json")
    }

    /// A Deployment's ReplicaSets as its controller last wrote them (none for other kinds).
    pub fn replica_sets(&self) -> Vec<ReplicaSet> {
        std::fs::read(self.replica_sets_file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn pid_file(&self) -> PathBuf {
        self.root.join("controller.pid")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("controller.log")
    }
    fn deleting(&self) -> PathBuf {
        self.root.join("deleting")
    }

    /// Marks the workload deleted, as `deletion` says: its controller (or whoever finds it
    /// gone) finishes the deletion.
    fn mark_deleted(&self, deletion: Deletion) -> anyhow::Result<()> {
        Ok(write_atomic(
            &self.deleting(),
            &serde_json::to_vec(&deletion)?,
        )?)
    }

    /// How the workload was deleted (a mark that cannot be read: as by default).
    fn deletion(&self) -> Deletion {
        std::fs::read(self.deleting())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// The workload with the status its controller last wrote.
    pub fn read(&self) -> anyhow::Result<Workload> {
        let bytes = std::fs::read(self.object())
            .with_context(|| format!("cannot read {}", self.object().display()))?;
        let mut v: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON", self.object().display()))?;
        if let Ok(status) = std::fs::read(self.status()) {
            if let Ok(s) = serde_json::from_slice::<serde_json::Value>(&status) {
                v["status"] = s;
            }
        }
        Workload::from_json(v)
            .with_context(|| format!("{} is not a workload", self.object().display()))
    }

    /// The workload with its status, then (for a Deployment) the ReplicaSets its controller
    /// keeps: every object it stands for in the API.
    pub fn read_objects(&self) -> anyhow::Result<Vec<Workload>> {
        let mut w = self.read()?;
        let sets = match w.kind() {
            WorkloadKind::Deployment => self.replica_sets(),
            _ => vec![],
        };
        // A Deployment carries the revision of its newest ReplicaSet, as the Deployment
        // controller annotates it (what `kubectl rollout history` and `describe` read).
        let newest = sets
            .iter()
            .map(tandem_controllers::deployment::revision)
            .max()
            .filter(|r| *r > 0);
        if let Some(revision) = newest {
            w.metadata_mut()
                .annotations
                .get_or_insert_with(Default::default)
                .insert(
                    tandem_controllers::deployment::REVISION.into(),
                    revision.to_string(),
                );
        }
        Ok(std::iter::once(w)
            .chain(sets.into_iter().map(Workload::ReplicaSet))
            .collect())
    }

    /// Replaces the workload's object (its spec: a scale); the controller sees it at its next look.
    pub fn write(&self, w: &Workload) -> anyhow::Result<()> {
        let mut v = w.to_json();
        if let Some(o) = v.as_object_mut() {
            o.remove("status");
        }
        write_atomic(&self.object(), &serde_json::to_vec_pretty(&v)?)?;
        Ok(())
    }

    /// Changes the workload's spec: a new generation, which its controller's status then
    /// reports as observed (what `rollout status` waits for).
    pub fn update(
        &self,
        change: impl FnOnce(&mut Workload) -> anyhow::Result<()>,
    ) -> anyhow::Result<Workload> {
        let mut w = self.read()?;
        change(&mut w)?;
        let meta = w.metadata_mut();
        meta.generation = Some(meta.generation.unwrap_or(1) + 1);
        self.write(&w)?;
        Ok(w)
    }

    /// Replaces the workload's object by an update's (labels, annotations and spec, already
    /// judged), with the references its template now resolves against; `spec_changed`: a new
    /// generation. The controller sees it at its next look.
    pub fn replace(
        &self,
        mut w: Workload,
        references: &[serde_json::Value],
        spec_changed: bool,
    ) -> anyhow::Result<()> {
        let generation = self.read()?.metadata().generation.unwrap_or(1);
        w.metadata_mut().generation = Some(generation + i64::from(spec_changed));
        self.write_references(references, w.namespace())?;
        self.write(&w)
    }

    fn lock_file(&self) -> PathBuf {
        self.root.join("controller.lock")
    }

    /// The controller's lock: an exclusive flock(2) on `controller.lock` that the controller
    /// holds for its life, so at most one controller runs per workload and a dead one (even one
    /// killed with kill -9) is seen at once. `None` when another process holds it.
    fn try_lock(&self) -> std::io::Result<Option<nix::fcntl::Flock<std::fs::File>>> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock_file())?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => Ok(Some(lock)),
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
            Err((_, e)) => Err(e.into()),
        }
    }

    /// Whether the workload's controller runs.
    pub fn controller_running(&self) -> bool {
        matches!(self.try_lock(), Ok(None))
    }

    /// Starts the workload's controller when none runs (one killed, say): the command that
    /// names the workload next recovers it, as the issue of a dead controller asks. Returns
    /// whether it had to.
    pub fn ensure_controller(&self, exe: &Path) -> anyhow::Result<bool> {
        if self.controller_running() || self.deleting().exists() {
            return Ok(false);
        }
        self.spawn_controller(exe)?;
        Ok(true)
    }

    /// `tandem __control DIR`, in a process group of its own (no terminal signal reaches it),
    /// writing to `controller.log`. A second one started at the same time finds the lock taken
    /// and exits.
    fn spawn_controller(&self, exe: &Path) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())?;
        let child = Command::new(exe)
            .args(ControlArgs::argv(&ControlArgs {
                dir: self.root.clone(),
            }))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("cannot start the workload's controller")?;
        std::fs::write(self.pid_file(), child.id().to_string())?;
        // Not waited for here: the controller outlives this command (its exit is reaped by
        // whoever inherits it).
        drop(child);
        Ok(())
    }
}

/// The pods a workload's controllers made (a CronJob's through its Jobs) that are still in the
/// store.
pub fn pods_of(store: &Store, dir: &WorkloadDir) -> Vec<PodDir> {
    let Ok(w) = dir.read() else {
        return Vec::new();
    };
    let owners: Vec<String> = match w.kind() {
        WorkloadKind::CronJob => owned_jobs(store, w.namespace(), w.uid())
            .iter()
            .flat_map(|(d, j)| tandem_controllers::pod_owners(j, &d.replica_sets()))
            .collect(),
        _ => tandem_controllers::pod_owners(&w, &dir.replica_sets()),
    };
    owned_pods(store, w.namespace(), &owners)
        .into_iter()
        .map(|(d, _)| d)
        .collect()
}

/// Whether a workload has nothing more to do: `Some(true)` for a Job that completed (or a
/// workload deleted), `Some(false)` for a Job that failed, `None` while it runs (Deployments,
/// StatefulSets, DaemonSets, ReplicaSets and CronJobs always do).
pub fn is_done(dir: &WorkloadDir) -> Option<bool> {
    let Ok(w) = dir.read() else {
        return Some(true);
    };
    if w.kind() != WorkloadKind::Job {
        return None;
    }
    let status = w.to_json()["status"].clone();
    status["conditions"].as_array()?.iter().find_map(|c| {
        let on = c["status"] == "True";
        match c["type"].as_str()? {
            "Complete" if on => Some(true),
            "Failed" if on => Some(false),
            _ => None,
        }
    })
}

/// Every workload directory of the store.
pub fn list(store: &Store) -> Vec<WorkloadDir> {
    let mut out: Vec<WorkloadDir> = std::fs::read_dir(&store.workloads)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            !e.file_name().to_string_lossy().starts_with('.')
                && e.path().join("workload.json").exists()
        })
        .map(|e| WorkloadDir { root: e.path() })
        .collect();
    out.sort_by(|a, b| a.root.cmp(&b.root));
    out
}

/// `tandem __control DIR`: the controller of one workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlArgs {
    pub dir: PathBuf,
}

impl HelperArgs for ControlArgs {
    const VERB: &'static str = "__control";

    fn to_args(&self) -> Vec<OsString> {
        vec![self.dir.clone().into_os_string()]
    }

    fn parse(args: &[OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let dir = PathBuf::from(a.os("workload directory")?);
        a.end()?;
        Ok(ControlArgs { dir })
    }
}

/// Stores a workload `run` loaded and starts its controller. A workload of that kind and name
/// already there is refused, as the API server refuses a second create.
pub fn create(
    store: &Store,
    exe: &Path,
    w: &LoadedWorkload,
    references: &[serde_json::Value],
    settings: &PodSettings,
) -> anyhow::Result<WorkloadDir> {
    let kind = w.object.kind();
    let (ns, name) = (w.object.namespace(), w.object.name());
    std::fs::create_dir_all(&store.workloads)
        .with_context(|| format!("cannot create {}", store.workloads.display()))?;
    let dir = WorkloadDir::of(store, kind, ns, name);
    if let Err(e) = std::fs::create_dir(&dir.root) {
        return Err(match e.kind() {
            std::io::ErrorKind::AlreadyExists => hint(
                format!("{} \"{name}\" already exists", kind.group_resource()),
                format!(
                    "delete it first with `tandem delete {} {name}`, or change its replicas with `tandem scale`",
                    kind.name().to_ascii_lowercase()
                ),
            ),
            _ => anyhow::Error::new(e).context(format!("cannot create {}", dir.root.display())),
        });
    }
    let made = (|| -> anyhow::Result<()> {
        dir.write_references(references, ns)?;
        // Mode 0600: the pull settings may name registry credentials.
        write_private(&dir.settings(), &serde_json::to_vec_pretty(settings)?)?;
        dir.write(&w.object)?;
        dir.spawn_controller(exe)
    })();
    if let Err(e) = made {
        let _ = std::fs::remove_dir_all(&dir.root);
        return Err(e);
    }
    Ok(dir)
}

/// Adopts the pods without a controller that the workload selects
/// (`tandem_controllers::adoptions`): each gets it as its controller, through its supervisor.
fn adopt(store: &Store, w: &Workload) {
    let pods: Vec<(PodDir, Pod)> = store
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| {
            let pod: Pod = serde_json::from_slice(&std::fs::read(d.pod_json()).ok()?).ok()?;
            Some((d, pod))
        })
        .collect();
    let just_pods: Vec<Pod> = pods.iter().map(|(_, p)| p.clone()).collect();
    for (name, owners) in tandem_controllers::adoptions(w, &just_pods) {
        let Some((dir, _)) = pods
            .iter()
            .find(|(_, p)| p.metadata.name.as_deref() == Some(name.as_str()))
        else {
            continue;
        };
        let update = tandem_api::updates::PodUpdate {
            metadata: tandem_api::updates::MetadataChange {
                owner_references: Some(owners),
                ..Default::default()
            },
            ..Default::default()
        };
        match super::metadata::apply_pod_update(dir, &name, &update) {
            Ok(Ok(())) => eprintln!("adopted pod {name}"),
            Ok(Err(why)) => eprintln!("warning: cannot adopt pod {name}: {why}"),
            Err(e) => eprintln!("warning: cannot adopt pod {name}: {e:#}"),
        }
    }
}

/// The uid of the pod's controller (`ownerReferences[]` with `controller: true`).
fn controller_uid(pod: &Pod) -> Option<&str> {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

/// The pods of the store whose controller is one of `owners`, read from their `pod.json`.
fn owned_pods(store: &Store, namespace: &str, owners: &[String]) -> Vec<(PodDir, Pod)> {
    store
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| {
            let pod: Pod = serde_json::from_slice(&std::fs::read(d.pod_json()).ok()?).ok()?;
            let owned = pod.metadata.namespace.as_deref() == Some(namespace)
                && controller_uid(&pod).is_some_and(|u| owners.iter().any(|o| o == u));
            owned.then_some((d, pod))
        })
        .collect()
}

fn micros(t: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>) -> Option<i64> {
    t.map(|t| t.0.as_microsecond())
}

/// A pod as the controllers read it: phase (Unknown when its supervisor is gone before it
/// finished), readiness and since when, restarts, and its index.
fn observe(dir: &PodDir, pod: &Pod) -> OwnedPod {
    let status = pod.status.clone().unwrap_or_default();
    let mut phase = Phase::parse(status.phase.as_deref().unwrap_or("Pending"));
    if !phase.is_terminal() && dir.live_supervisor().is_none() {
        phase = Phase::Unknown;
    }
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready");
    let containers = status.container_statuses.iter().flatten();
    let finished_us = containers
        .clone()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0.as_microsecond())
        .max();
    let meta = &pod.metadata;
    let index = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get(tandem_controllers::job::COMPLETION_INDEX))
        .and_then(|i| i.parse().ok());
    OwnedPod {
        name: meta.name.clone().unwrap_or_default(),
        phase,
        ready: ready.is_some_and(|c| c.status == "True"),
        ready_since_us: ready
            .filter(|c| c.status == "True")
            .and_then(|c| micros(c.last_transition_time.as_ref())),
        created_us: micros(meta.creation_timestamp.as_ref()).unwrap_or(0),
        finished_us,
        deleting: meta.deletion_timestamp.is_some(),
        index,
        restarts: containers.map(|c| c.restart_count).sum(),
        revision: meta
            .labels
            .as_ref()
            .and_then(|l| l.get(tandem_controllers::naming::REVISION_LABEL))
            .cloned(),
        owner_uid: controller_uid(pod).unwrap_or_default().to_string(),
        exits: status
            .container_statuses
            .iter()
            .flatten()
            .chain(status.init_container_statuses.iter().flatten())
            .filter_map(|c| {
                let code = c.state.as_ref()?.terminated.as_ref()?.exit_code;
                Some((c.name.clone(), code))
            })
            .collect(),
        conditions: status
            .conditions
            .iter()
            .flatten()
            .map(|c| (c.type_.clone(), c.status.clone()))
            .collect(),
    }
}

/// A pod the controller asked for, loaded as `run` loads a Pod (the workload's ConfigMaps and
/// Secrets beside it, so its references resolve as they did for the template).
fn load_pod(
    pod: &Pod,
    references: &[serde_json::Value],
    settings: &PodSettings,
) -> anyhow::Result<tandem_api::LoadedPod> {
    let mut loaded = load_object(
        serde_json::to_value(pod)?,
        "v1",
        "Pod",
        references,
        settings,
    )?
    .pods
    .pop()
    .context("the pod did not load")?;
    loaded.plan.pod_max_pids = settings.pod_max_pids;
    loaded.plan.allowed_unsafe_sysctls = settings.allowed_unsafe_sysctls.clone();
    loaded.plan.container_logs = settings.container_logs;
    Ok(loaded)
}

/// An object a controller makes, loaded as `run` loads a manifest: validated and defaulted as
/// the API server would, with the workload's ConfigMaps and Secrets beside it and a fresh uid.
fn load_object(
    mut doc: serde_json::Value,
    api_version: &str,
    kind: &str,
    references: &[serde_json::Value],
    settings: &PodSettings,
) -> anyhow::Result<tandem_api::Loaded> {
    doc["apiVersion"] = api_version.into();
    doc["kind"] = kind.into();
    let mut sources = vec![tandem_api::Source::new(
        "object.json",
        serde_json::to_string(&doc)?,
    )];
    for (i, r) in references.iter().enumerate() {
        sources.push(tandem_api::Source::new(
            format!("reference-{i}.json"),
            r.to_string(),
        ));
    }
    let store = settings.store();
    let opts = tandem_api::PlanOptions {
        node_name: node_name(),
        uid: Some(random_uid()),
        claims_dir: Some(settings.volumes_dir.display().to_string()),
        // Its pods are admitted against the ServiceAccounts kept now, as the API server admits
        // a pod a controller creates.
        kept: super::object_store::list(
            &store,
            super::object_store::Kept::Stored(tandem_apiserver::StoredKind::ServiceAccount),
        ),
        api_access: Some(super::object_store::api_access(&store)?),
        ..Default::default()
    };
    tandem_api::load(&sources, &opts).map_err(|d| anyhow::anyhow!("{d}"))
}

fn now_us() -> i64 {
    tandem_supervisor::logs::now_us()
}

/// A source of random indexes for generated names.
fn random() -> impl FnMut() -> u32 {
    let mut file = std::fs::File::open("/dev/urandom").ok();
    move || {
        let mut b = [0u8; 4];
        if let Some(f) = file.as_mut() {
            let _ = std::io::Read::read_exact(f, &mut b);
        }
        u32::from_le_bytes(b)
    }
}

/// The controller process: looks, decides, acts, until the workload is deleted.
pub fn control_main(a: &ControlArgs) -> i32 {
    let dir = WorkloadDir {
        root: a.dir.clone(),
    };
    match control(&dir) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    }
}

fn control(dir: &WorkloadDir) -> anyhow::Result<()> {
    // Held until this process ends; another controller of the workload means this one is not
    // needed.
    let Some(_lock) = dir.try_lock()? else {
        return Ok(());
    };
    std::fs::write(dir.pid_file(), std::process::id().to_string())?;
    let (settings, _) = dir.read_settings()?;
    let store = settings.store();
    let exe = super::own_exe()?;
    let pulls = Pulls {
        settings: settings.pulls.clone(),
    };
    let mut rng = random();
    let mut replica_sets = dir.replica_sets();
    loop {
        reap_exited_children();
        if dir.deleting().exists() {
            return finish_deletion(&store, dir);
        }
        // Read at each look: an update of the workload may bring new ones with a new template.
        let (w, references) = (dir.read()?, dir.read_references()?);
        if let Workload::CronJob(c) = &w {
            let wait = cron_look(
                &store,
                &exe,
                dir,
                &w,
                c.spec.time_zone.as_deref(),
                &settings,
                &references,
            )?;
            std::thread::sleep(wait);
            continue;
        }
        adopt(&store, &w);
        let owners = tandem_controllers::pod_owners(&w, &replica_sets);
        let pods = owned_pods(&store, w.namespace(), &owners);
        let observed: Vec<OwnedPod> = pods.iter().map(|(d, p)| observe(d, p)).collect();
        let decision =
            tandem_controllers::reconcile(&w, &observed, &replica_sets, now_us(), &mut rng);
        let now = now_us();
        let mut events = vec![];
        // Who a pod's events name: its ReplicaSet for a Deployment's pods, else the workload.
        let owner_of = |pod: &Pod| -> (String, String) {
            let rs = pod
                .metadata
                .owner_references
                .iter()
                .flatten()
                .find(|o| o.kind == "ReplicaSet")
                .map(|o| o.name.as_str());
            tandem_controllers::events::pod_event_owner(w.kind(), w.name(), rs)
        };
        for action in decision.actions {
            match action {
                Action::Create(pod) => {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    let (kind, owner) = owner_of(&pod);
                    let started = load_pod(&pod, &references, &settings)
                        .and_then(|lp| start_pod(&store, &exe, &lp, &pulls, &settings.network));
                    match started {
                        Ok(_) => {
                            eprintln!("created pod {name}");
                            events.push(WorkloadEvent::created((&kind, &owner), "pod", &name, now));
                        }
                        Err(e) => {
                            eprintln!("error: cannot create pod {name}: {e:#}");
                            let error = format!("pods \"{name}\": {e:#}");
                            events.push(WorkloadEvent::failed_create((&kind, &owner), &error, now));
                        }
                    }
                }
                Action::Delete(name) => {
                    if let Some((d, p)) = pods
                        .iter()
                        .find(|(_, p)| p.metadata.name.as_deref() == Some(&name))
                    {
                        eprintln!("deleting pod {name}");
                        let (kind, owner) = owner_of(p);
                        events.push(WorkloadEvent::deleted((&kind, &owner), "pod", &name, now));
                        let d = d.clone();
                        // Each deletion takes its grace period: side by side, not in turn.
                        std::thread::spawn(move || delete_pod(&d, None));
                    }
                }
            }
        }
        if w.kind() == WorkloadKind::Deployment {
            events.extend(tandem_controllers::events::scaling(
                w.name(),
                &replica_sets,
                &decision.replica_sets,
                now,
            ));
        }
        if w.kind() == WorkloadKind::Job {
            let before = w.to_json()["status"].clone();
            events.extend(tandem_controllers::events::job_transitions(
                w.name(),
                &before,
                &decision.status,
                now,
            ));
        }
        dir.record(&events);
        // The ReplicaSets first: a controller killed between the two writes finds its pods'
        // owners again.
        if decision.replica_sets != replica_sets {
            replica_sets = decision.replica_sets;
            write_atomic(
                &dir.replica_sets_file(),
                &serde_json::to_vec_pretty(&replica_sets)?,
            )?;
        }
        write_atomic(&dir.status(), &serde_json::to_vec_pretty(&decision.status)?)?;
        if decision.expired {
            // ttlSecondsAfterFinished: the Job goes, with its pods.
            eprintln!("deleting the finished job: its ttlSecondsAfterFinished has passed");
            dir.mark_deleted(Deletion::default())?;
            continue;
        }
        std::thread::sleep(until(decision.wake_at_us));
    }
}

/// Collects the exit of every child that has ended: the supervisors this controller started
/// (a pod's supervisor exits when its pod is deleted) and a CronJob's Job controllers are its
/// children, and nothing here waits for them, so without this each would stay a zombie for the
/// controller's life. Nothing the controller does needs a child's exit status.
fn reap_exited_children() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// How long to sleep until `wake_at_us`, at most a [`PERIOD`].
fn until(wake_at_us: Option<i64>) -> std::time::Duration {
    wake_at_us
        .map(|t| std::time::Duration::from_micros((t - now_us()).max(0) as u64))
        .map_or(PERIOD, |d| d.min(PERIOD))
}

/// The zone a CronJob's schedule is read in: `spec.timeZone` from the machine's zoneinfo, else
/// the machine's own zone (as kube-controller-manager reads a schedule without one).
pub fn time_zone(name: Option<&str>) -> anyhow::Result<jiff::tz::TimeZone> {
    match name {
        Some(n) => jiff::tz::TimeZone::get(n).map_err(|e| {
            hint(
                format!("unknown time zone {n:?}: {e}"),
                "give an IANA zone such as Europe/Berlin (the tzdata package provides them)",
            )
        }),
        None => Ok(jiff::tz::TimeZone::system()),
    }
}

/// The Jobs of the store whose controller is the CronJob `uid`.
fn owned_jobs(store: &Store, namespace: &str, uid: &str) -> Vec<(WorkloadDir, Workload)> {
    list(store)
        .into_iter()
        .filter_map(|d| {
            let w = d.read().ok()?;
            let owned = w.kind() == WorkloadKind::Job
                && w.namespace() == namespace
                && w.metadata()
                    .owner_references
                    .iter()
                    .flatten()
                    .any(|o| o.uid == uid && o.controller == Some(true));
            owned.then_some((d, w))
        })
        .collect()
}

/// A Job as the CronJob controller reads it.
fn observe_job(w: &Workload) -> tandem_controllers::cronjob::OwnedJob {
    let status = w.to_json()["status"].clone();
    let finished = status["conditions"].as_array().and_then(|cs| {
        cs.iter()
            .find(|c| c["status"] == "True" && (c["type"] == "Complete" || c["type"] == "Failed"))
    });
    let micros_of = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_microsecond())
    };
    tandem_controllers::cronjob::OwnedJob {
        name: w.name().to_string(),
        uid: w.uid().to_string(),
        created_us: micros(w.metadata().creation_timestamp.as_ref()).unwrap_or(0),
        succeeded: finished.map(|c| c["type"] == "Complete"),
        finished_us: finished.and_then(|c| micros_of(&c["lastTransitionTime"])),
    }
}

/// Stores a Job (a CronJob's, or `create job --from`) as `run` stores one, loaded with the
/// ConfigMaps and Secrets it may use (validated and defaulted as the API server would), and
/// starts its controller.
pub fn create_job(
    store: &Store,
    exe: &Path,
    job: &k8s_openapi::api::batch::v1::Job,
    settings: &PodSettings,
    references: &[serde_json::Value],
) -> anyhow::Result<WorkloadDir> {
    let mut w = load_object(
        serde_json::to_value(job)?,
        "batch/v1",
        "Job",
        references,
        settings,
    )?
    .workloads
    .pop()
    .context("the Job did not load")?;
    let meta = w.object.metadata_mut();
    meta.creation_timestamp = Some(now_time());
    meta.generation = Some(1);
    create(store, exe, &w, references, settings)
}

/// One look at a CronJob: its Jobs made, deleted, its status written; returns how long to
/// sleep.
fn cron_look(
    store: &Store,
    exe: &Path,
    dir: &WorkloadDir,
    w: &Workload,
    zone: Option<&str>,
    settings: &PodSettings,
    references: &[serde_json::Value],
) -> anyhow::Result<std::time::Duration> {
    use tandem_controllers::cronjob::CronAction;
    let tz = match time_zone(zone) {
        Ok(tz) => tz,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(PERIOD * 20);
        }
    };
    let jobs = owned_jobs(store, w.namespace(), w.uid());
    let observed: Vec<_> = jobs.iter().map(|(_, j)| observe_job(j)).collect();
    let now = now_us();
    let (look, status) = tandem_controllers::reconcile_cronjob(w, &observed, now, &tz);
    let owner = ("CronJob", w.name());
    let mut events = vec![];
    for action in look.actions {
        match action {
            CronAction::CreateJob(job) => {
                let name = job.metadata.name.clone().unwrap_or_default();
                match create_job(store, exe, &job, settings, references) {
                    Ok(_) => {
                        eprintln!("created job {name}");
                        events.push(WorkloadEvent::created(owner, "job", &name, now));
                    }
                    Err(e) => {
                        eprintln!("error: cannot create job {name}: {e:#}");
                        let error = format!("jobs.batch \"{name}\": {e:#}");
                        events.push(WorkloadEvent::failed_create(owner, &error, now));
                    }
                }
            }
            CronAction::DeleteJob(name) => {
                if let Some((d, _)) = jobs.iter().find(|(_, j)| j.name() == name) {
                    eprintln!("deleting job {name}");
                    events.push(WorkloadEvent::deleted(owner, "job", &name, now));
                    let (store, d) = (store.clone(), d.clone());
                    std::thread::spawn(move || delete(&store, &d, Deletion::default()));
                }
            }
        }
    }
    dir.record(&events);
    write_atomic(&dir.status(), &serde_json::to_vec_pretty(&status)?)?;
    Ok(until(look.wake_at_us))
}

/// Deletes every pod the workload owns (a CronJob: every Job), gracefully and side by side
/// (with the grace period the `deleting` mark holds, if any), then its directory.
fn finish_deletion(store: &Store, dir: &WorkloadDir) -> anyhow::Result<()> {
    let w = dir.read()?;
    let deletion = dir.deletion();
    if deletion.orphan {
        orphan_dependents(store, dir, &w)?;
        tandem_supervisor::statedir::remove_whole(&dir.root)?;
        return Ok(());
    }
    let grace = deletion.grace_seconds;
    if w.kind() == WorkloadKind::CronJob {
        let handles: Vec<_> = owned_jobs(store, w.namespace(), w.uid())
            .into_iter()
            .map(|(d, _)| {
                let store = store.clone();
                std::thread::spawn(move || delete(&store, &d, deletion))
            })
            .collect();
        for h in handles {
            let _ = h.join();
        }
        tandem_supervisor::statedir::remove_whole(&dir.root)?;
        return Ok(());
    }
    let owners = tandem_controllers::pod_owners(&w, &dir.replica_sets());
    let handles: Vec<_> = owned_pods(store, w.namespace(), &owners)
        .into_iter()
        .map(|(d, _)| std::thread::spawn(move || delete_pod(&d, grace)))
        .collect();
    for h in handles {
        let _ = h.join();
    }
    tandem_supervisor::statedir::remove_whole(&dir.root)?;
    Ok(())
}

/// What the garbage collector does for a workload deleted with `propagationPolicy: Orphan`:
/// its dependents stay, without it among their owners. A Deployment's ReplicaSets become
/// ReplicaSets of their own (their pods keep them as owners and keep running); a CronJob's Jobs,
/// Jobs of their own; any other workload's pods, pods without a controller, which the next
/// workload that selects them adopts.
fn orphan_dependents(store: &Store, dir: &WorkloadDir, w: &Workload) -> anyhow::Result<()> {
    let without_owner =
        |owners: &Option<Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>| {
            owners
                .iter()
                .flatten()
                .filter(|o| o.uid != w.uid())
                .cloned()
                .collect::<Vec<_>>()
        };
    match w.kind() {
        WorkloadKind::CronJob => {
            for (job, _) in owned_jobs(store, w.namespace(), w.uid()) {
                job.update(|j| {
                    let meta = j.metadata_mut();
                    meta.owner_references =
                        Some(without_owner(&meta.owner_references)).filter(|o| !o.is_empty());
                    Ok(())
                })?;
            }
        }
        WorkloadKind::Deployment => {
            let (settings, _) = dir.read_settings()?;
            let references = dir.read_references()?;
            let exe = super::own_exe()?;
            for rs in dir.replica_sets() {
                let mut rs = rs;
                rs.metadata.owner_references =
                    Some(without_owner(&rs.metadata.owner_references)).filter(|o| !o.is_empty());
                let (uid, created) = (
                    rs.metadata.uid.clone(),
                    rs.metadata.creation_timestamp.clone(),
                );
                rs.metadata.resource_version = None;
                let mut loaded = load_object(
                    serde_json::to_value(&rs)?,
                    "apps/v1",
                    "ReplicaSet",
                    &references,
                    &settings,
                )?
                .workloads
                .pop()
                .context("the ReplicaSet did not load")?;
                // Its pods name it by its uid: it keeps it.
                let meta = loaded.object.metadata_mut();
                meta.uid = uid;
                meta.creation_timestamp = created;
                meta.generation = Some(1);
                create(store, &exe, &loaded, &references, &settings)?;
            }
        }
        _ => {
            let owners = tandem_controllers::pod_owners(w, &[]);
            for (pod_dir, pod) in owned_pods(store, w.namespace(), &owners) {
                let name = pod.metadata.name.clone().unwrap_or_default();
                let update = tandem_api::updates::PodUpdate {
                    metadata: tandem_api::updates::MetadataChange {
                        owner_references: Some(without_owner(&pod.metadata.owner_references)),
                        ..Default::default()
                    },
                    ..Default::default()
                };
                if let Err(why) = super::metadata::apply_pod_update(&pod_dir, &name, &update)? {
                    eprintln!("warning: pod {name} keeps its owner: {why}");
                }
            }
        }
    }
    Ok(())
}

/// How a workload is deleted: the grace period of its pods, and whether they are kept
/// (`propagationPolicy: Orphan`, `--cascade=orphan`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    pub grace_seconds: Option<u64>,
    pub orphan: bool,
}

/// `tandem delete KIND NAME`: marks the workload deleted and waits for its controller to delete
/// its pods (or let them go) and itself; a controller that is gone has its part done here.
pub fn delete(store: &Store, dir: &WorkloadDir, deletion: Deletion) -> anyhow::Result<()> {
    dir.mark_deleted(deletion)?;
    loop {
        if !dir.root.exists() {
            return Ok(());
        }
        if !dir.controller_running() {
            return finish_deletion(store, dir);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
