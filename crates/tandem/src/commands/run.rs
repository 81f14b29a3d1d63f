//! `tandem run`: manifests → plans → images checked → one supervisor per pod → (foreground) logs
//! streamed until the pods end.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Context;
use tandem_api::plan::PullPolicy;
use tandem_image::{ImageStore, NamedAuth};
use tandem_kubelet::state::TerminationReason;
use tandem_network::PortMapping;
use tandem_supervisor::network::NetworkRequest;
use tandem_supervisor::proto::{Reply, Request};
use tandem_supervisor::statedir::{PodDir, Store};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use super::delete::delete_pod;
use super::image::ProgressView;
use super::object_store::Kept;
use super::read_sources;
use super::start::{node_name, now_time, random_uid, secrets_of, start_pod, Pulls};
use crate::cli::{PodArgs, RunArgs};
use crate::errors::{hint, hint_caused, Reported};

pub fn run(store: &Store, a: RunArgs) -> anyhow::Result<i32> {
    let ran = run_files(store, a);
    if ran.is_err() {
        // Nothing of a refused or failed run stays, the proxy its pods started included.
        super::service_proxy::settle(store);
    }
    ran
}

/// Reads and loads manifest files as `run` and `apply` take them, printing every problem
/// (then `nothing` says what did not happen) and every warning. `existing`: the uids of objects
/// the store has, which the objects updating them keep (`PlanOptions::existing`).
pub(super) fn load_files(
    store: &Store,
    files: &[PathBuf],
    existing: BTreeMap<(String, String, String), String>,
    strict: bool,
    nothing: &str,
) -> anyhow::Result<tandem_api::Loaded> {
    let sources = read_sources(files)?;
    let loaded = match tandem_api::load(
        &sources,
        &tandem_api::PlanOptions {
            node_name: node_name(),
            uid: Some(random_uid()),
            claims_dir: Some(store.volumes.display().to_string()),
            existing,
            strict,
            // What the store keeps (from `apply` or the API) satisfies the files' references.
            kept: [
                Kept::ConfigMaps,
                Kept::Secrets,
                Kept::Stored(tandem_apiserver::StoredKind::ServiceAccount),
            ]
            .into_iter()
            .flat_map(|k| super::object_store::list(store, k))
            .collect(),
            api_access: Some(super::object_store::api_access(store)?),
            ..Default::default()
        },
    ) {
        Ok(l) => l,
        Err(diags) => {
            for d in &diags.0 {
                eprintln!("{}", d.render(&sources));
            }
            eprintln!("error: {} problem(s) found; {nothing}", diags.0.len());
            return Err(Reported.into());
        }
    };
    for w in &loaded.warnings {
        eprintln!("{}", w.render(&sources));
    }
    Ok(loaded)
}

fn run_files(store: &Store, a: RunArgs) -> anyhow::Result<i32> {
    let mut files = a.filename.clone();
    files.extend(a.files.iter().cloned());
    let loaded = load_files(
        store,
        &files,
        BTreeMap::new(),
        a.strict,
        "nothing was started",
    )?;
    // Kept first, as the API server has them before the pods that read them: a pod's volumes
    // are kept current from the store from their start (§6.9 of docs/kubelet-rules.md).
    keep_references(store, loaded.references.iter().chain(&loaded.kept))?;
    let only_references = loaded.pods.is_empty()
        && loaded.workloads.is_empty()
        && loaded.services.is_empty()
        && loaded.endpoints.is_empty()
        && !(loaded.references.is_empty() && loaded.kept.is_empty());
    if only_references {
        return Ok(0);
    }
    let made = create_loaded(store, &a.pods, &a.publish, loaded)?;
    for (_, name) in &made.services {
        println!("service/{name} created");
    }
    if a.detach || (made.pods.is_empty() && made.workloads.is_empty()) {
        for (name, _) in &made.pods {
            println!("pod/{name} created");
        }
        for (kind, name, _) in &made.workloads {
            println!("{}/{name} created", kind.group_kind());
        }
        return Ok(0);
    }
    foreground(store, made)
}

/// Keeps the files' ConfigMaps and Secrets in the store, as the API server keeps them, for the
/// containers that read them when they are created (and waited for them); prints what each
/// became (`configmap/settings created`).
pub(super) fn keep_references<'a>(
    store: &Store,
    references: impl IntoIterator<Item = &'a serde_json::Value>,
) -> anyhow::Result<()> {
    for object in references {
        let (what, outcome) = super::object_store::keep_from_file(store, object)?;
        println!("{what} {}", outcome.word());
    }
    Ok(())
}

/// What a `run` made, for a foreground `run` to follow (and delete on Ctrl-C).
pub(crate) struct Made {
    /// Services as (namespace, name).
    pub services: Vec<(String, String)>,
    /// Endpoints given by hand.
    pub endpoints: Vec<tandem_api::services::ManualEndpoints>,
    /// Pods as (name, directory).
    pub pods: Vec<(String, PodDir)>,
    pub workloads: Vec<(
        tandem_api::WorkloadKind,
        String,
        super::controller::WorkloadDir,
    )>,
}

/// Creates what loaded manifests hold, as `run` does: Services and their addresses first,
/// then every pod, then every workload's controller, with images pulled as each container's
/// imagePullPolicy says. All or nothing: what this call made is removed again when a later
/// part fails. `a` gives the settings pods get (network, logs, pids, registries).
pub(crate) fn create_loaded(
    store: &Store,
    a: &PodArgs,
    publish: &[String],
    mut loaded: tandem_api::Loaded,
) -> anyhow::Result<Made> {
    for p in &mut loaded.pods {
        p.plan.pod_max_pids = a.pod_max_pids;
        p.plan.allowed_unsafe_sysctls = a.allowed_unsafe_sysctls.clone();
        p.plan.container_logs = tandem_api::plan::ContainerLogPolicy {
            max_size: a.container_log_max_size,
            max_files: a.container_log_max_files,
        };
    }
    if loaded.pods.is_empty()
        && loaded.workloads.is_empty()
        && loaded.services.is_empty()
        && loaded.endpoints.is_empty()
    {
        return Err(hint(
            "the manifests hold no Pod, no workload and no Service",
            "tandem runs Pods, Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs and ReplicationControllers, and Services in front of them; ConfigMaps and Secrets only feed them",
        ));
    }
    for w in &loaded.workloads {
        if let tandem_api::Workload::CronJob(c) = &w.object {
            super::controller::time_zone(c.spec.time_zone.as_deref())?;
        }
    }
    if !loaded.workloads.is_empty() && !publish.is_empty() {
        return Err(hint(
            "-p publishes ports of one pod, but a workload makes several",
            "give the template's container ports a hostPort instead",
        ));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(hint(
            "tandem needs root to create containers",
            "run it with sudo, or as root",
        ));
    }

    super::service_store::adopt_range(store, a.service_cluster_ip_range)?;
    let net = network_request(store, a, publish, &loaded.pods)?;

    // Images, as each container's imagePullPolicy says; every pull finishes before any pod
    // starts, and pods sharing an image pull it once.
    let images = ImageStore::open(&store.images)
        .with_context(|| format!("cannot open the image store at {}", store.images.display()))?;
    let templates: Vec<tandem_api::LoadedPod> = loaded
        .workloads
        .iter()
        .map(|w| tandem_api::LoadedPod {
            plan: w.template.clone(),
            object: Default::default(),
            file: w.file.clone(),
            line: w.line,
            image_pull_secrets: w.image_pull_secrets.clone(),
        })
        .collect();
    let pulls = ensure_images(
        &images,
        &[loaded.pods.as_slice(), templates.as_slice()].concat(),
        &a.registry,
    )?;

    let exe = super::own_exe()?;
    std::fs::create_dir_all(&store.pods)
        .with_context(|| format!("cannot create {}", store.pods.display()))?;
    store.sweep_leftovers();
    // Services first, as their addresses are checked before anything runs (a node port taken
    // refuses the whole file).
    super::service_store::create(store, &loaded.services)?;
    if let Err(e) = super::service_store::create_manual(store, &loaded.endpoints) {
        for s in &loaded.services {
            let m = &s.object.metadata;
            let (ns, name) = (
                m.namespace.as_deref().unwrap_or_default(),
                m.name.as_deref().unwrap_or_default(),
            );
            let _ = super::service_store::remove(store, ns, name);
        }
        return Err(e);
    }
    // The file's Services are served from now on; pods get the proxy as each starts
    // (`start_pod`), so a file without Services asks nothing here (in an idle store that would
    // cost an `nft` exec looking for a table left by a killed proxy, which `delete` settles).
    if !loaded.services.is_empty() || !loaded.endpoints.is_empty() {
        super::service_proxy::ensure_proxy(store, &exe)?;
    }
    let service_names: Vec<(String, String)> = loaded
        .services
        .iter()
        .map(|s| {
            let m = &s.object.metadata;
            (
                m.namespace.clone().unwrap_or_default(),
                m.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let remove_services = || {
        for (ns, name) in &service_names {
            let _ = super::service_store::remove(store, ns, name);
        }
        for e in &loaded.endpoints {
            super::service_store::remove_manual(store, &e.object);
        }
    };
    let mut started: Vec<(String, PodDir)> = vec![];
    for p in &loaded.pods {
        match start_pod(store, &exe, p, &pulls, &net) {
            Ok(dir) => started.push((p.plan.name.clone(), dir)),
            Err(e) => {
                // Nothing half-made: the pods this command already started go too.
                for (_, dir) in &started {
                    let _ = delete_pod(dir, Some(0));
                }
                remove_services();
                return Err(e);
            }
        }
    }
    let settings = super::controller::PodSettings {
        network: net.clone(),
        pulls: pulls.settings.clone(),
        pod_max_pids: a.pod_max_pids,
        allowed_unsafe_sysctls: a.allowed_unsafe_sysctls.clone(),
        container_logs: tandem_api::plan::ContainerLogPolicy {
            max_size: a.container_log_max_size,
            max_files: a.container_log_max_files,
        },
        pods_dir: store.pods.clone(),
        images_dir: store.images.clone(),
        volumes_dir: store.volumes.clone(),
        workloads_dir: store.workloads.clone(),
        services_dir: store.services.clone(),
    };
    let mut created = vec![];
    for w in &mut loaded.workloads {
        let meta = w.object.metadata_mut();
        meta.creation_timestamp = Some(now_time());
        meta.generation = Some(1);
        match super::controller::create(store, &exe, w, &loaded.references, &settings) {
            Ok(dir) => created.push((w.object.kind(), w.object.name().to_string(), dir)),
            Err(e) => {
                // Nothing half-made: what this command started goes too.
                for (_, _, dir) in &created {
                    let _ = super::controller::delete(
                        store,
                        dir,
                        super::controller::Deletion {
                            grace_seconds: Some(0),
                            orphan: false,
                        },
                    );
                }
                for (_, dir) in &started {
                    let _ = delete_pod(dir, Some(0));
                }
                remove_services();
                return Err(e);
            }
        }
    }
    Ok(Made {
        services: service_names,
        endpoints: loaded.endpoints.iter().map(|e| e.object.clone()).collect(),
        pods: started,
        workloads: created,
    })
}

/// The network the pods join and the ports `-p` publishes, checked before any pod starts: the
/// network configuration loads, the plugins are there (else a warning, and loopback only), and no
/// published port is taken by a running pod or by another pod of this run.
fn network_request(
    store: &Store,
    a: &PodArgs,
    published: &[String],
    pods: &[tandem_api::LoadedPod],
) -> anyhow::Result<NetworkRequest> {
    let mut publish = vec![];
    for spec in published {
        publish.push(PortMapping::parse(spec).map_err(|e| {
            hint(
                e.to_string(),
                "write -p [HOSTIP:]HOSTPORT:CONTAINERPORT, e.g. -p 8080:80 or -p 127.0.0.1:8080:80/tcp",
            )
        })?);
    }
    if !publish.is_empty() && pods.len() != 1 {
        return Err(hint(
            format!("-p publishes ports of one pod, but the manifests hold {}", pods.len()),
            "run the pod that should publish the port on its own, or use ports[].hostPort in the manifest",
        ));
    }
    let req = NetworkRequest {
        network: a.network.clone(),
        config_dir: a.cni_config_dir.clone(),
        plugin_dirs: (!a.cni_plugin_dir.is_empty()).then(|| a.cni_plugin_dir.clone()),
        publish,
        cluster_dns: None,
    };
    let networked: Vec<&tandem_api::LoadedPod> =
        pods.iter().filter(|p| !p.plan.host_network).collect();
    if !req.publish.is_empty() && networked.is_empty() {
        return Err(hint(
            "-p cannot publish ports of a hostNetwork pod",
            "a hostNetwork pod listens on the host's addresses already",
        ));
    }
    if !networked.is_empty() && !req.is_none() {
        let cfg = tandem_network::NetworkConfig::load(&req.selection()).map_err(|e| {
            hint(
                e.to_string(),
                "give --network the name of a network in --cni-config-dir, a .conflist file, or none",
            )
        })?;
        let missing = cfg.missing_plugins();
        if !missing.is_empty() {
            let publishing = networked
                .iter()
                .find(|p| !tandem_supervisor::network::port_mappings(&p.plan, &req).is_empty());
            let what = format!(
                "the CNI plugins {} are not installed (looked in {})",
                missing.join(", "),
                cfg.plugin_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            const INSTALL: &str =
                "install them with `apt-get install containernetworking-plugins iptables`";
            if let Some(p) = publishing {
                return Err(hint(
                    format!("pod {} publishes ports, but {what}", p.plan.name),
                    INSTALL,
                ));
            }
            eprintln!("warning: {what}; pods get loopback networking only (no pod IP, no egress)");
            eprintln!("hint: {INSTALL}");
        }
    }
    // Ports already published: running pods of this store, then the pods of this run in order.
    let mut taken: Vec<(String, PortMapping)> = vec![];
    let publishing = pods
        .iter()
        .any(|p| !tandem_supervisor::network::port_mappings(&p.plan, &req).is_empty());
    // Only a run that publishes reads the other pods' plans.
    let running = if publishing {
        super::list_pods(store)?
    } else {
        vec![]
    };
    for d in running {
        if d.live_supervisor().is_none() {
            continue;
        }
        let Some(plan) = std::fs::read(d.plan_json())
            .ok()
            .and_then(|b| serde_json::from_slice::<tandem_api::plan::PodPlan>(&b).ok())
        else {
            continue;
        };
        for m in tandem_supervisor::network::port_mappings(&plan, &NetworkRequest::read(&d)) {
            taken.push((plan.name.clone(), m));
        }
    }
    for p in pods {
        for m in tandem_supervisor::network::port_mappings(&p.plan, &req) {
            if let Some((owner, _)) = taken.iter().find(|(_, t)| tandem_network::conflicts(t, &m)) {
                return Err(hint(
                    format!(
                        "pod {}: host port {}/{} is already published by pod {owner}; nothing was started",
                        p.plan.name, m.host_port, m.protocol
                    ),
                    format!(
                        "pick another host port, or delete pod {owner} first (`tandem delete pod {owner}`)"
                    ),
                ));
            }
            taken.push((p.plan.name.clone(), m));
        }
    }
    Ok(req)
}

/// Applies imagePullPolicy: `Never` needs the image here (else the run is refused with
/// ErrImageNeverPull); `IfNotPresent` pulls a missing image; `Always` pulls every time. Each
/// image is pulled once however many pods use it, with the pull secrets of those pods. A failed
/// pull is a warning: the pod starts and its supervisor retries with back-off
/// (ErrImagePull / ImagePullBackOff), as the kubelet does.
fn ensure_images(
    images: &ImageStore,
    pods: &[tandem_api::LoadedPod],
    registry: &crate::cli::RegistryArgs,
) -> anyhow::Result<Pulls> {
    // Normalised reference -> (as written, pods wanting it, their secrets).
    let mut wanted: BTreeMap<String, (String, Vec<String>, Vec<NamedAuth>)> = BTreeMap::new();
    for p in pods {
        for c in p.plan.all_containers() {
            if needs_pull(
                images,
                &p.plan.name,
                c,
                "fix the image reference in the manifest",
            )? {
                let key = tandem_image::Reference::parse(&c.image)
                    .map(|r| r.to_string())
                    .unwrap_or_else(|_| c.image.clone());
                let entry = wanted
                    .entry(key)
                    .or_insert_with(|| (c.image.clone(), vec![], vec![]));
                if !entry.1.contains(&p.plan.name) {
                    entry.1.push(p.plan.name.clone());
                    entry.2.extend(secrets_of(p));
                }
            }
        }
    }
    if !wanted.is_empty() {
        let rt = super::image::runtime()?;
        for (key, (written, users, secrets)) in wanted {
            let opts = super::image::pull_settings(registry, secrets)
                .options()
                .context("cannot read the registry settings")?;
            let view = ProgressView::new(false);
            if view.enabled {
                eprintln!("Pulling {key} (for pod {})", users.join(", "));
            }
            let result = rt.block_on(images.pull(&written, &opts, &|p| view.update(p)));
            view.finish();
            match result {
                Ok(r) => {
                    if view.enabled {
                        eprintln!("Pulled {} ({})", r.image.reference, r.resolved_digest);
                    }
                }
                Err(e) => {
                    let present = matches!(images.lookup(&written), Ok(Some(_)));
                    let err = super::image::pull_error(e, &written);
                    warn(&err);
                    if present {
                        eprintln!("warning: using the copy of {key} already in the store");
                    } else {
                        eprintln!("warning: pod {} starts anyway and retries the pull with back-off (ErrImagePull, then ImagePullBackOff); `tandem get events` shows each attempt", users.join(", "));
                    }
                }
            }
        }
    }
    Ok(Pulls {
        settings: super::image::pull_settings(registry, vec![]),
    })
}

/// What a container's imagePullPolicy asks for its image: `Never` needs it in the store (else
/// ErrImageNeverPull), `IfNotPresent` pulls it when missing, `Always` pulls it. `fix` is the hint
/// for an image reference that does not parse.
pub(super) fn needs_pull(
    images: &ImageStore,
    pod: &str,
    c: &tandem_api::plan::ContainerPlan,
    fix: &str,
) -> anyhow::Result<bool> {
    let present = images
        .lookup(&c.image)
        .map_err(|e| {
            hint_caused(
                e,
                format!(
                    "pod {pod}: container {}: invalid image {:?}",
                    c.name, c.image
                ),
                fix,
            )
        })?
        .is_some();
    Ok(match c.image_pull_policy {
        PullPolicy::Never if !present => {
            return Err(hint(
                format!("pod {pod}: container {}: image {:?} is not in the local store and its imagePullPolicy is Never (ErrImageNeverPull)", c.name, c.image),
                "load it with `tandem image load -i ARCHIVE`, `tandem image import ROOTFS.tar NAME` or `tandem image pull NAME`; `tandem image ls` lists what is here",
            ));
        }
        PullPolicy::Never => false,
        PullPolicy::IfNotPresent => !present,
        PullPolicy::Always => true,
    })
}

const COLORS: [&str; 6] = ["36", "33", "32", "35", "34", "31"];

/// Streams every container's output, prefixed with its name, until every pod has ended and every
/// workload is done (a Job finished; a Deployment, StatefulSet, DaemonSet, ReplicaSet or CronJob
/// never is); the pods workloads make are followed as they come. Ctrl-C or SIGTERM deletes the
/// workloads, pods and Services gracefully (a second one deletes the pods with no grace).
fn foreground(store: &Store, made: Made) -> anyhow::Result<i32> {
    let pods = made.pods;
    let workloads: Vec<super::controller::WorkloadDir> =
        made.workloads.into_iter().map(|(_, _, dir)| dir).collect();
    let (services, endpoints) = (made.services, made.endpoints);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let color = std::io::stdout().is_terminal();
        // Each pod's replies, then `None` once its supervisor closed the stream (it exits, and
        // a deleted pod's directory is gone, only after that).
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Option<Reply>)>();
        let multi = pods.len() > 1 || !workloads.is_empty();
        let mut followed: Vec<(String, PodDir)> = vec![];
        let mut ended: Vec<bool> = vec![];
        let mut closed: Vec<bool> = vec![];
        for (name, dir) in pods {
            attach(followed.len(), &name, &dir, false, &tx).await?;
            followed.push((name, dir));
            ended.push(false);
            closed.push(false);
        }
        // The pods given; the ones after them are the workloads'.
        let bare = followed.len();
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let mut look = tokio::time::interval(std::time::Duration::from_millis(250));
        // Stop signals received, and how many of them have been acted on: the first deletes the
        // pods gracefully, the second with no grace; any further one changes nothing.
        let (mut signals, mut acted) = (0u32, 0u32);
        let mut exit = 0;
        // Labels are padded to the longest container name of the pods, so columns never shift.
        let mut width = followed
            .iter()
            .filter_map(|(name, dir)| {
                let plan: tandem_api::plan::PodPlan = serde_json::from_slice(&std::fs::read(dir.plan_json()).ok()?).ok()?;
                plan.all_containers().map(|c| if multi { name.len() + 1 + c.name.len() } else { c.name.len() }).max()
            })
            .max()
            .unwrap_or(0);
        let mut palette: Vec<String> = vec![];
        let stdout = std::io::stdout();
        loop {
            // Checked before waiting again, whatever woke the last turn: a pod's stream that
            // closed as the last one must end the run at once, not at the next look.
            let done = workloads.iter().map(super::controller::is_done).collect::<Vec<_>>();
            if closed.iter().all(|c| *c) && done.iter().all(Option::is_some) {
                if exit == 0 && done.contains(&Some(false)) {
                    exit = 1;
                }
                break;
            }
            tokio::select! {
                msg = rx.recv() => {
                    let Some((i, reply)) = msg else { break };
                    let Some(reply) = reply else {
                        closed[i] = true;
                        // A pod that ended before its follower was heard (one refused at
                        // admission ends at once) tells how from its last status.
                        let status = if ended[i] { None } else { last_status(&followed[i].1) };
                        if let Some(status) = status.filter(|s| matches!(s.phase.as_deref(), Some("Failed" | "Succeeded"))) {
                            let phase = status.phase.unwrap_or_default();
                            let why = status.reason.map(|r| format!(" ({r})")).unwrap_or_default();
                            eprintln!("pod/{} ended: {phase}{why}", followed[i].0);
                            if let Some(message) = status.message {
                                eprintln!("  {message}");
                            }
                            if exit == 0 && i < bare && phase == "Failed" { exit = 1; }
                        }
                        continue;
                    };
                    match reply {
                        Reply::Log(l) => {
                            let label = if multi { format!("{}/{}", followed[i].0, l.container) } else { l.container.clone() };
                            width = width.max(label.len());
                            if !palette.contains(&label) { palette.push(label.clone()); }
                            let c = COLORS[palette.iter().position(|p| *p == label).unwrap_or(0) % COLORS.len()];
                            let mut out = stdout.lock();
                            let _ = if color {
                                writeln!(out, "\x1b[{c}m{label:<width$} |\x1b[0m {}", l.text)
                            } else {
                                writeln!(out, "{label:<width$} | {}", l.text)
                            };
                        }
                        Reply::Ended(e) => {
                            ended[i] = true;
                            let why = match e.reason {
                                TerminationReason::Deleted => " (stopped on request)",
                                TerminationReason::InitFailed => " (an init container failed)",
                                TerminationReason::DeadlineExceeded => " (activeDeadlineSeconds exceeded)",
                                TerminationReason::Evicted => " (evicted: a local storage limit was exceeded)",
                                TerminationReason::SandboxLost => " (its sandbox was lost)",
                                TerminationReason::SandboxCreationFailed => " (a new sandbox could not be made)",
                                TerminationReason::Rejected => " (refused at admission)",
                                TerminationReason::Completed => "",
                            };
                            eprintln!("pod/{} ended: {}{why}", followed[i].0, e.phase);
                            if e.reason == TerminationReason::Rejected {
                                if let Some(message) = last_status(&followed[i].1).and_then(|s| s.message) {
                                    eprintln!("  {message}");
                                }
                            }
                            // A workload's pods are its controller's to judge (a Job retries).
                            if exit == 0 && i < bare { exit = e.exit_code; }
                        }
                        Reply::Accepted | Reply::Rejected(_) | Reply::ExecEnded(_) | Reply::AttachEnded => {}
                    }
                }
                _ = look.tick() => {
                    // Pods the workloads made since the last look.
                    for w in &workloads {
                        for dir in super::controller::pods_of(store, w) {
                            if followed.iter().any(|(_, d)| d.root == dir.root) { continue; }
                            let Ok(pod) = super::read_pod(&dir) else { continue };
                            let name = pod.metadata.name.clone().unwrap_or_default();
                            let i = followed.len();
                            if attach(i, &name, &dir, true, &tx).await.is_err() {
                                // Ended (its supervisor gone) before it was found: what it
                                // wrote, then how it ended.
                                let Some(phase) = pod
                                    .status
                                    .and_then(|s| s.phase)
                                    .and_then(|p| serde_json::from_value(serde_json::Value::String(p)).ok())
                                else {
                                    continue;
                                };
                                for line in written_so_far(&dir) {
                                    let _ = tx.send((i, Some(Reply::Log(line))));
                                }
                                let _ = tx.send((i, Some(Reply::Ended(tandem_supervisor::proto::Ended {
                                    phase,
                                    reason: TerminationReason::Completed,
                                    exit_code: 0,
                                }))));
                                let _ = tx.send((i, None));
                            }
                            followed.push((name, dir));
                            ended.push(false);
                            closed.push(false);
                        }
                    }
                }
                _ = sigint.recv() => signals += 1,
                _ = sigterm.recv() => signals += 1,
            }
            while acted < signals.min(2) {
                acted += 1;
                let force = acted == 2;
                eprintln!("{}", if force { "forcing pods to stop" } else { "stopping pods gracefully (Ctrl-C again to force)" });
                if !force {
                    for (ns, name) in &services {
                        let _ = super::service_store::remove(store, ns, name);
                    }
                    for e in &endpoints {
                        super::service_store::remove_manual(store, e);
                    }
                    for w in &workloads {
                        let (store, w) = (store.clone(), w.clone());
                        // Each workload's controller deletes its pods; this waits for none of it.
                        tokio::task::spawn_blocking(move || super::controller::delete(&store, &w, Default::default()));
                    }
                }
                for (i, (_, dir)) in followed.iter().enumerate() {
                    if !ended[i] {
                        send_delete(dir, force.then_some(0)).await;
                    }
                }
            }
        }
        // Deleted pods remove themselves; completed ones stay for `get` and `logs` until deleted.
        Ok(exit)
    })
}

/// The pod's status as its supervisor last wrote it.
fn last_status(dir: &PodDir) -> Option<k8s_openapi::api::core::v1::PodStatus> {
    super::read_pod(dir).ok().and_then(|p| p.status)
}

/// Follows one pod's output and end through its supervisor's control socket; messages reach
/// `tx` tagged with `i`. With `replay`, what the containers wrote before is sent first (a pod
/// found after it started): read once the supervisor has accepted the attach, so no line falls
/// between the files and the stream, and lines in both are sent once.
async fn attach(
    i: usize,
    name: &str,
    dir: &PodDir,
    replay: bool,
    tx: &tokio::sync::mpsc::UnboundedSender<(usize, Option<Reply>)>,
) -> anyhow::Result<()> {
    let addr = dir
        .socket_addr()
        .with_context(|| format!("cannot attach to pod {name}"))?;
    let stream = tokio::net::UnixStream::connect(addr.path())
        .await
        .with_context(|| format!("cannot attach to pod {name}"))?;
    let (r, mut w) = stream.into_split();
    let mut req = serde_json::to_vec(&Request::Follow)?;
    req.push(b'\n');
    w.write_all(&req).await?;
    let mut lines = tokio::io::BufReader::new(r).lines();
    let mut seen = std::collections::HashSet::new();
    if replay {
        // The supervisor subscribes to its containers' output before it answers.
        let first = lines.next_line().await?.unwrap_or_default();
        if let Ok(reply) = serde_json::from_str::<Reply>(&first) {
            if !matches!(reply, Reply::Accepted) {
                let _ = tx.send((i, Some(reply)));
            }
        }
        for line in written_so_far(dir) {
            seen.insert((line.container.clone(), line.time_us, line.text.clone()));
            let _ = tx.send((i, Some(Reply::Log(line))));
        }
    }
    let tx = tx.clone();
    tokio::spawn(async move {
        let _keep = w;
        while let Ok(Some(l)) = lines.next_line().await {
            if let Ok(reply) = serde_json::from_str::<Reply>(&l) {
                if let Reply::Log(line) = &reply {
                    if seen.contains(&(line.container.clone(), line.time_us, line.text.clone())) {
                        continue;
                    }
                }
                let _ = tx.send((i, Some(reply)));
            }
        }
        let _ = tx.send((i, None));
    });
    Ok(())
}

/// Every line the pod's containers have written to their log files, oldest first.
fn written_so_far(dir: &PodDir) -> Vec<tandem_supervisor::logs::LogLine> {
    let Some(plan) = std::fs::read(dir.plan_json())
        .ok()
        .and_then(|b| serde_json::from_slice::<tandem_api::plan::PodPlan>(&b).ok())
    else {
        return vec![];
    };
    let mut out = vec![];
    for c in plan.all_containers() {
        let mut restart = 0;
        loop {
            let current = dir.log_file(&c.name, restart);
            let segments = tandem_supervisor::logs::segments(&current);
            if segments.is_empty() {
                break;
            }
            for file in segments {
                let bytes = std::fs::read(&file).unwrap_or_default();
                for r in bytes
                    .split(|b| *b == b'\n')
                    .filter_map(tandem_supervisor::logs::parse_record)
                {
                    let time_us = std::str::from_utf8(r.time)
                        .ok()
                        .and_then(|t| t.parse::<k8s_openapi::jiff::Timestamp>().ok())
                        .map_or(0, |t| t.as_microsecond());
                    out.push(tandem_supervisor::logs::LogLine {
                        container: c.name.clone(),
                        stream: String::from_utf8_lossy(r.stream).into_owned(),
                        partial: r.partial,
                        time_us,
                        text: String::from_utf8_lossy(r.content).into_owned(),
                    });
                }
            }
            restart += 1;
        }
    }
    out.sort_by_key(|l| l.time_us);
    out
}

async fn send_delete(dir: &PodDir, grace: Option<u64>) {
    let Ok(addr) = dir.socket_addr() else { return };
    if let Ok(mut s) = tokio::net::UnixStream::connect(addr.path()).await {
        if let Ok(mut req) = serde_json::to_vec(&Request::Delete {
            grace_seconds: grace,
        }) {
            req.push(b'\n');
            let _ = s.write_all(&req).await;
            // Keep the connection: dropping it is harmless, the request is already taken.
            tokio::spawn(async move {
                let mut buf = [0u8; 64];
                while tokio::io::AsyncReadExt::read(&mut s, &mut buf)
                    .await
                    .map(|n| n > 0)
                    .unwrap_or(false)
                {}
            });
        }
    }
}

/// Prints an error as a warning: `warning:`, `caused by:` lines, then its hint.
fn warn(e: &anyhow::Error) {
    eprintln!("warning: {e}");
    for cause in e.chain().skip(1) {
        eprintln!("caused by: {cause}");
    }
    if let Some(h) = e
        .chain()
        .find_map(|c| c.downcast_ref::<crate::errors::Hint>())
    {
        eprintln!("hint: {}", h.hint);
    }
}
