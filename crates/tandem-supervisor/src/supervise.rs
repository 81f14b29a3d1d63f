//! The supervisor process's main: sandbox and volumes (before any thread exists), then the engine
//! on a single-threaded runtime, then teardown that leaves nothing behind.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use k8s_openapi::api::core::v1::{Pod, PodStatus};
use tandem_api::env::RuntimeFacts;
use tandem_api::plan::PodPlan;
use tandem_image::ImageStore;
use tandem_kubelet::action::PodPhase;
use tandem_kubelet::driver::{Control, Driver, Observer};
use tandem_kubelet::events::PodEvent;
use tandem_kubelet::state::TerminationReason;
use tandem_kubelet::status::{Clock, PodFacts};
use tandem_runtime::sandbox::Sandbox;
use tandem_runtime::userns::IdRange;
use tokio::sync::{broadcast, mpsc, watch};

use crate::linux::LinuxRuntime;
use crate::proto::Ended;
use crate::server::{serve, Attached, Shared};
use crate::statedir::{write_atomic, PodDir};

#[derive(Debug, thiserror::Error)]
pub enum SuperviseError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not valid")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Mount(#[from] tandem_runtime::mounts::MountError),
    #[error(transparent)]
    Cgroup(#[from] tandem_runtime::cgroups::CgroupError),
    #[error(transparent)]
    Userns(#[from] tandem_runtime::userns::UsernsError),
    #[error("hostUsers: false needs idmapped mounts of the image store, which this kernel or filesystem cannot make (Linux 5.19+ with ext4, xfs or btrfs, or tmpfs from 6.3; not overlayfs); remove hostUsers: false or keep images on such a filesystem with --root")]
    UserNamespaceUnsupported(#[source] tandem_runtime::userns::UsernsError),
    #[error(transparent)]
    Sandbox(#[from] tandem_runtime::sandbox::SandboxError),
    #[error(transparent)]
    Volume(#[from] crate::volumes::VolumeError),
    #[error(transparent)]
    EtcFile(#[from] crate::etc_files::EtcFileError),
    #[error("cannot open the image store")]
    Images(#[source] tandem_image::Error),
    #[error("cannot listen on {path}")]
    Listen {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the async runtime or become the subreaper of the pod's processes")]
    Runtime(#[source] std::io::Error),
    #[error("cannot set up the pod's network")]
    Network(#[from] tandem_network::NetworkError),
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SuperviseError> {
    let bytes = std::fs::read(path).map_err(|source| SuperviseError::Read {
        path: path.into(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| SuperviseError::Parse {
        path: path.into(),
        source,
    })
}

/// Writes pod.json and events.jsonl as the engine reports.
struct StateWriter {
    dir: PodDir,
    pod: Pod,
    last: Option<PodStatus>,
    events: Option<std::fs::File>,
    /// An ephemeral container being added: the next plan change puts it in the spec.
    adding: Option<k8s_openapi::api::core::v1::EphemeralContainer>,
}

impl StateWriter {
    fn now_time() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
        let us = crate::logs::now_us();
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::from_microsecond(us)
                .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        )
    }
}

impl Observer for StateWriter {
    fn status(&mut self, status: &PodStatus, terminating: bool) {
        let mut status = status.clone();
        // Conditions keep their transition time until their status changes; those set from
        // outside (readiness gates) come with theirs.
        let prev = self
            .last
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        for c in status.conditions.iter_mut().flatten() {
            c.last_transition_time = c.last_transition_time.clone().or_else(|| {
                prev.iter()
                    .find(|p| p.type_ == c.type_ && p.status == c.status)
                    .and_then(|p| p.last_transition_time.clone())
                    .or_else(|| Some(Self::now_time()))
            });
        }
        if self.last.as_ref() == Some(&status)
            && (self.pod.metadata.deletion_timestamp.is_some() == terminating)
        {
            return;
        }
        if terminating && self.pod.metadata.deletion_timestamp.is_none() {
            self.pod.metadata.deletion_timestamp = Some(Self::now_time());
        }
        self.pod.status = Some(status.clone());
        self.last = Some(status);
        if let Ok(bytes) = serde_json::to_vec_pretty(&self.pod) {
            let _ = write_atomic(&self.dir.pod_json(), &bytes);
        }
    }

    /// New labels, annotations or owners: the Pod records them (a downwardAPI volume's files
    /// follow through the plan, which `plan_changed` records).
    fn metadata_changed(
        &mut self,
        change: &tandem_api::updates::MetadataChange,
    ) -> Result<(), String> {
        let mut pod = self.pod.clone();
        change.apply_to(&mut pod.metadata);
        let bytes = serde_json::to_vec_pretty(&pod).map_err(|e| e.to_string())?;
        write_atomic(&self.dir.pod_json(), &bytes).map_err(|e| {
            format!(
                "cannot record the update in {}: {e}",
                self.dir.pod_json().display()
            )
        })?;
        self.pod = pod;
        Ok(())
    }

    fn ephemeral_added(
        &mut self,
        spec: &k8s_openapi::api::core::v1::EphemeralContainer,
    ) -> Result<(), String> {
        self.adding = Some(spec.clone());
        Ok(())
    }

    /// A new plan (an image update, §1.7; an ephemeral container; new labels): the Pod's spec
    /// and `plan.json` say what the containers run from now on (the status follows as
    /// instances restart).
    fn plan_changed(&mut self, plan: &PodPlan) -> Result<(), String> {
        let mut pod = self.pod.clone();
        if let (Some(spec), Some(added)) = (pod.spec.as_mut(), self.adding.take()) {
            spec.ephemeral_containers
                .get_or_insert_with(Vec::new)
                .push(added);
        }
        if let Some(spec) = pod.spec.as_mut() {
            let containers = spec
                .init_containers
                .iter_mut()
                .flatten()
                .chain(spec.containers.iter_mut());
            for c in containers {
                if let Some(p) = plan.container(&c.name) {
                    c.image = Some(p.image.clone());
                }
            }
        }
        // Both files first, then the change: a client is told "accepted" only for an update
        // that `get` and a restarted CLI will see.
        let write = |path: std::path::PathBuf, bytes: serde_json::Result<Vec<u8>>| {
            bytes
                .map_err(|e| e.to_string())
                .and_then(|b| write_atomic(&path, &b).map_err(|e| e.to_string()))
                .map_err(|e| format!("cannot record the update in {}: {e}", path.display()))
        };
        write(self.dir.plan_json(), serde_json::to_vec_pretty(plan))?;
        write(self.dir.pod_json(), serde_json::to_vec_pretty(&pod))?;
        self.pod = pod;
        Ok(())
    }

    fn event(&mut self, event: &PodEvent) {
        if self.events.is_none() {
            self.events = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.events())
                .ok();
        }
        if let (Some(f), Ok(line)) = (self.events.as_mut(), serde_json::to_string(event)) {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// Everything made before the engine starts, torn down in reverse by [`teardown`].
struct Setup {
    sandbox: Option<Sandbox>,
    network: crate::network::PodNetwork,
    /// `hostUsers: false`: the pod's host id range and the file that claims it.
    userns: Option<(IdRange, PathBuf)>,
    /// The host's mount namespace, left for the pod's own: where the store's proxy is started.
    host_mounts: Option<std::os::fd::OwnedFd>,
}

fn teardown(dir: &PodDir, plan: &PodPlan, setup: Setup) {
    // CNI DEL while the pause process still holds the namespace: its interfaces, address and
    // firewall rules are released before the namespace goes.
    if setup.network.attached {
        // A pause process that died is kept (unreaped) until stopped below, but holds nothing.
        let alive = setup.sandbox.as_ref().is_some_and(|s| !s.exited());
        if let Err(e) = crate::network::detach(dir, alive) {
            eprintln!("warning: {}", error_line(&e));
        }
        crate::etc_files::refresh_peer_hosts(dir);
    }
    tandem_runtime::fault::reached(tandem_runtime::fault::FaultPoint::SupervisorMidTeardown);
    if let Some(s) = setup.sandbox {
        s.stop();
    }
    // Anything a container left in the pod's cgroups dies with it, and the cgroups go once it
    // is gone.
    let cg = pod_cgroup_path(plan);
    let left = tandem_runtime::cgroups::kill_and_remove(&cg, std::time::Duration::from_secs(5));
    for d in left {
        eprintln!("warning: cannot remove cgroup {}", d.display());
    }
    for m in tandem_runtime::mounts::mounts_under(&dir.root) {
        let _ = tandem_runtime::mounts::unmount(&m);
    }
    if let Some((_, claim)) = setup.userns {
        tandem_runtime::userns::release(&claim);
    }
    let _ = std::fs::remove_dir_all(dir.root.join("containers"));
    let _ = std::fs::remove_dir_all(dir.runtime_state());
    let _ = std::fs::remove_file(dir.socket());
}

/// `tandem __supervise POD_DIR IMAGES_DIR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperviseArgs {
    pub pod_dir: PathBuf,
    pub images: PathBuf,
}

impl tandem_runtime::helper::HelperArgs for SuperviseArgs {
    const VERB: &'static str = "__supervise";
    const PROGRAM: Option<&'static str> = Some("tandem-pod");

    fn to_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            self.pod_dir.clone().into_os_string(),
            self.images.clone().into_os_string(),
        ]
    }

    fn parse(args: &[std::ffi::OsString]) -> Result<Self, tandem_runtime::helper::ArgsError> {
        let mut a = tandem_runtime::helper::Args::new(Self::VERB, args);
        let pod_dir = PathBuf::from(a.os("pod directory")?);
        let images = PathBuf::from(a.os("image store")?);
        a.end()?;
        Ok(SuperviseArgs { pod_dir, images })
    }
}

/// `tandem __supervise POD_DIR IMAGES_DIR`: reports "ok" (or an error line) on stdout once the pod
/// is accepted, then runs it to the end. Returns the process exit status.
pub fn supervise(dir: PodDir, images: &Path, exe: PathBuf) -> i32 {
    crate::statedir::SupervisorDeath::record_on_panic(&dir);
    let mut ready = std::io::stdout();
    let plan: PodPlan = match read_json(&dir.plan_json()) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(ready, "{}", error_line(&e));
            return 1;
        }
    };
    let mut setup = Setup {
        sandbox: None,
        network: Default::default(),
        userns: None,
        host_mounts: None,
    };
    match prepare(&dir, &plan, images, &exe, &mut setup) {
        Ok(()) => {}
        Err(e) => {
            teardown(&dir, &plan, setup);
            let _ = std::fs::remove_file(dir.pid_file());
            let _ = writeln!(ready, "{}", error_line(&e));
            return 1;
        }
    }
    match run(&dir, &plan, images, exe, &mut setup, ready) {
        // Torn down inside `run`, while the control connections are still open.
        Ok(_) => 0,
        Err(e) => {
            eprintln!("error: {}", error_line(&e));
            teardown(&dir, &plan, setup);
            let _ = std::fs::remove_file(dir.pid_file());
            1
        }
    }
}

fn error_line(e: &dyn std::error::Error) -> String {
    serde_json::json!({ "error": tandem_runtime::error_chain(e) }).to_string()
}

fn prepare(
    dir: &PodDir,
    plan: &PodPlan,
    images: &Path,
    exe: &Path,
    setup: &mut Setup,
) -> Result<(), SuperviseError> {
    // A session of its own: Ctrl-C in the terminal that ran `tandem run -d` must not reach the pod.
    let _ = nix::unistd::setsid();
    // The parent of the pod's containers once their shims exit, and of whatever else is orphaned
    // below it; the stranger sweep started with the async runtime reaps the latter
    // (tandem_runtime::reaper).
    tandem_runtime::reaper::become_subreaper().map_err(|e| SuperviseError::Runtime(e.into()))?;
    setup.host_mounts = Some(tandem_runtime::mounts::enter_private_mount_namespace()?);
    let _ = std::fs::write(dir.pid_file(), std::process::id().to_string());
    create_pod_cgroup(plan)?;
    let share_pid = plan.share_process_namespace && !plan.host_pid;
    let id_range = if plan.security.user_namespace {
        // One claim directory for the machine, not one per store: host ids are machine-wide,
        // and two stores (two `--root`s) each counting from the first free range would give
        // their pods the same ids. The owner is absolute because claimers of other stores, in
        // other working directories, check whether it still exists.
        let owner = std::path::absolute(&dir.root).unwrap_or_else(|_| dir.root.clone());
        let (range, claim) = tandem_runtime::userns::claim(
            Path::new(tandem_runtime::userns::HOST_CLAIM_DIR),
            &owner,
        )?;
        setup.userns = Some((range, claim));
        Some(range)
    } else {
        None
    };
    let sandbox = Sandbox::start_pod(exe, &plan.hostname, plan.host_network, share_pid, id_range)?;
    if id_range.is_some() {
        // Every container of the pod will build its root on idmapped views of the image store:
        // find out now, not as a CreateContainerError loop, if this kernel or filesystem cannot.
        let probe = dir.root.join("idmap-check");
        let checked = std::fs::create_dir_all(&probe)
            .map_err(|e| tandem_runtime::userns::UsernsError::Idmap {
                source_path: images.into(),
                target: probe.clone(),
                step: "mkdir",
                source: e,
            })
            .and_then(|()| {
                tandem_runtime::userns::idmapped_bind(images, &probe, &sandbox.ns_path("user"))
            });
        let _ = tandem_runtime::mounts::unmount(&probe);
        let _ = std::fs::remove_dir(&probe);
        if let Err(e) = checked {
            setup.sandbox = Some(sandbox);
            return Err(SuperviseError::UserNamespaceUnsupported(e));
        }
    }
    let netns = sandbox.ns_path("net");
    let joined = crate::sandbox::join_pod_cgroup(plan, &sandbox);
    setup.sandbox = Some(sandbox);
    joined?;
    let network = crate::network::attach(plan, dir, &netns)?;
    setup.network = network;
    // The cluster DNS is reached through the pod's network, or the host's own.
    let cluster_dns = crate::network::NetworkRequest::read(dir)
        .cluster_dns
        .filter(|_| setup.network.attached || plan.host_network);
    let nameserver = cluster_dns.as_ref().map(|c| c.ip.as_str());
    crate::etc_files::write(plan, dir, &setup.network.pod_ips, nameserver)?;
    crate::volumes::mount_shm(dir)?;
    if setup.network.attached {
        crate::etc_files::refresh_peer_hosts(dir);
    }
    crate::volumes::prepare(plan, dir, &runtime_facts(&setup.network))?;
    if let Some(range) = id_range {
        crate::volumes::give_to_user_namespace(dir, range)?;
    }
    Ok(())
}

/// The pod cgroup every container's cgroup is made in, sized as the kubelet sizes it (KEP-753:
/// sidecars count beside the main containers and the init containers after them).
fn create_pod_cgroup(plan: &PodPlan) -> Result<(), SuperviseError> {
    let sizing = tandem_kubelet::resources::pod_cgroup(plan);
    let limits = tandem_runtime::cgroups::PodLimits {
        memory_limit_bytes: sizing.memory_limit_bytes,
        cpu_quota_us: sizing.cpu_quota_us,
        cpu_period_us: tandem_kubelet::resources::CPU_PERIOD_US,
        cpu_shares: sizing.cpu_shares,
        pids_max: plan.pod_max_pids,
    };
    tandem_runtime::cgroups::create_pod_cgroup(&pod_cgroup_path(plan), &limits)?;
    Ok(())
}

fn pod_cgroup_path(plan: &PodPlan) -> PathBuf {
    tandem_runtime::cgroups::pod_cgroup(&plan.uid)
}

/// What `status.podIP(s)` and `status.hostIP` resolve to in env and downwardAPI volumes.
fn runtime_facts(net: &crate::network::PodNetwork) -> RuntimeFacts {
    RuntimeFacts {
        pod_ip: net.pod_ips.first().cloned().unwrap_or_default(),
        pod_ips: net.pod_ips.clone(),
        host_ip: net.host_ip.clone().unwrap_or_default(),
        ..Default::default()
    }
}

fn phase_exit_code(plan: &PodPlan, outcome: &tandem_kubelet::driver::Outcome) -> i32 {
    let killed = plan.all_containers().any(|c| {
        outcome
            .observed
            .get(&c.name)
            .exit()
            .is_some_and(|e| e.signal == Some(9))
    });
    if outcome.phase == PodPhase::Succeeded
        || (outcome.reason == TerminationReason::Deleted && !killed)
    {
        return 0;
    }
    plan.containers
        .iter()
        .filter_map(|c| outcome.observed.get(&c.name).exit().map(|e| e.exit_code))
        .find(|code| *code != 0)
        .unwrap_or(1)
}

/// The control socket, bound in place of any left by an earlier supervisor of this pod.
fn control_listener(dir: &PodDir) -> Result<std::os::unix::net::UnixListener, SuperviseError> {
    let _ = std::fs::remove_file(dir.socket());
    dir.socket_addr()
        .and_then(|addr| std::os::unix::net::UnixListener::bind(addr.path()))
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|source| SuperviseError::Listen {
            path: dir.socket(),
            source,
        })
}

/// SIGTERM or SIGINT to the supervisor is a graceful delete, as for a node's pod.
fn forward_stop_signals(control: &mpsc::UnboundedSender<Control>) {
    for kind in [
        tokio::signal::unix::SignalKind::terminate(),
        tokio::signal::unix::SignalKind::interrupt(),
    ] {
        if let Ok(mut sig) = tokio::signal::unix::signal(kind) {
            let tx = control.clone();
            tokio::task::spawn_local(async move {
                while sig.recv().await.is_some() {
                    let _ = tx.send(Control::Delete { grace: None });
                }
            });
        }
    }
}

/// Where the engine's status and events go, with the pod's first event when probes cannot reach
/// the pod's address (see [`crate::linux::loopback_fallback_warning`]).
fn state_writer(
    dir: &PodDir,
    pod: Pod,
    plan: &PodPlan,
    net: &crate::network::PodNetwork,
) -> StateWriter {
    let mut writer = StateWriter {
        dir: dir.clone(),
        pod,
        last: None,
        events: None,
        adding: None,
    };
    if let Some(message) = crate::linux::loopback_fallback_warning(plan, &runtime_facts(net)) {
        // Before any container starts, so it leads the pod's events.
        writer.event(&PodEvent {
            time_us: crate::logs::now_us(),
            kind: tandem_kubelet::events::EventType::Warning,
            reason: tandem_kubelet::events::EventReason::ProbeWarning,
            message,
            container: None,
            attempt: None,
            details: None,
        });
    }
    writer
}

/// Releases what the pod still holds once it has ended, and its directory if it was deleted (a
/// pod that ended by itself stays, for `get` and `logs`, until `tandem delete`).
fn release(
    dir: &PodDir,
    plan: &PodPlan,
    slot: &crate::sandbox::SharedSandbox,
    setup: &mut Setup,
    ended: &Ended,
) {
    let (sandbox, network) = {
        let mut s = slot.borrow_mut();
        (s.sandbox.take(), std::mem::take(&mut s.network))
    };
    teardown(
        dir,
        plan,
        Setup {
            sandbox,
            network,
            userns: setup.userns.take(),
            host_mounts: None,
        },
    );
    if ended.reason == TerminationReason::Deleted {
        let _ = crate::statedir::remove_whole(&dir.root);
    } else {
        let _ = std::fs::remove_file(dir.pid_file());
    }
}

fn run(
    dir: &PodDir,
    plan: &PodPlan,
    images: &Path,
    exe: PathBuf,
    setup: &mut Setup,
    mut ready: std::io::Stdout,
) -> Result<Ended, SuperviseError> {
    let images = ImageStore::open(images).map_err(SuperviseError::Images)?;
    let namespaces = setup
        .sandbox
        .as_ref()
        .map(|s| crate::sandbox::namespaces(plan, s, setup.userns.is_some()))
        .unwrap_or_default();
    let net = setup.network.clone();
    let exe_for_proxy = exe.clone();
    let pod: Pod = read_json(&dir.pod_json())?;
    let std_listener = control_listener(dir)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(SuperviseError::Runtime)?;
    let local = tokio::task::LocalSet::new();
    let plan = Rc::new(plan.clone());
    let result = local.block_on(&rt, async move {
        let listener = tokio::net::UnixListener::from_std(std_listener).map_err(|source| {
            SuperviseError::Listen {
                path: dir.socket(),
                source,
            }
        })?;
        tandem_runtime::reaper::spawn_sweeper().map_err(SuperviseError::Runtime)?;
        let (rt_tx, rt_rx) = mpsc::unbounded_channel();
        crate::storage::spawn_monitor(Rc::clone(&plan), dir.clone(), rt_tx.clone());
        // From here the sandbox lives in a slot: the watcher takes a dead pause process out of
        // it, the runtime puts a new sandbox in (§2.3), teardown releases what it holds.
        let slot = Rc::new(std::cell::RefCell::new(crate::sandbox::SandboxSlot {
            sandbox: setup.sandbox.take(),
            network: std::mem::take(&mut setup.network),
            attempt: 0,
        }));
        crate::sandbox::spawn_watch(Rc::clone(&slot), 0, rt_tx.clone());
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (log_tx, _) = broadcast::channel(1024);
        let (ended_tx, ended_rx) = watch::channel(None);
        let mut runtime = LinuxRuntime::new(
            Rc::clone(&plan),
            dir.clone(),
            exe,
            images,
            namespaces,
            runtime_facts(&net),
            rt_tx,
            log_tx.clone(),
        );
        if let Some((range, _)) = &setup.userns {
            runtime = runtime.with_user_namespace(*range);
        }
        let runtime = runtime.with_sandbox(Rc::clone(&slot));
        let runtime = Rc::new(runtime);
        let attached = Rc::new(Attached::default());
        let shared = Shared {
            control: ctl_tx.clone(),
            logs: log_tx,
            ended: ended_rx,
            attached: Rc::clone(&attached),
            runtime: Rc::clone(&runtime),
        };
        tokio::task::spawn_local(serve(listener, shared));
        forward_stop_signals(&ctl_tx);
        if let Some(host_mounts) = setup.host_mounts.take() {
            tokio::task::spawn_local(keep_proxy(dir.clone(), exe_for_proxy, host_mounts));
        }
        let writer = state_writer(dir, pod, &plan, &net);
        let facts = PodFacts {
            sandbox_ready: true,
            pod_ip: net.pod_ips.first().cloned(),
            pod_ips: net.pod_ips.clone(),
            host_ip: net.host_ip.clone(),
            ..Default::default()
        };
        let driver = Driver::new(
            Rc::clone(&plan),
            runtime,
            writer,
            facts,
            Clock::now_real(),
            rt_rx,
            ctl_rx,
        );
        // The pod is accepted: the CLI may return (`run -d`) or attach (foreground).
        let _ = writeln!(ready, "ok");
        let _ = ready.flush();
        let outcome = driver.run().await;
        let ended = Ended {
            phase: outcome.phase,
            reason: outcome.reason,
            exit_code: phase_exit_code(&plan, &outcome),
        };
        let _ = ended_tx.send(Some(ended.clone()));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), attached.drained()).await;
        // Tear down before this runtime (and with it every control connection) goes away: a
        // client that waits for EOF must find the pod gone when it gets it.
        release(dir, &plan, &slot, setup, &ended);
        // Exit here, with every control connection still open: the kernel closes them as the
        // process exits, so a client's EOF means this process is gone too. Returning would first
        // drop the connections, then take time to shut the runtime down while still alive.
        std::process::exit(0);
        #[allow(unreachable_code)]
        Ok::<Ended, SuperviseError>(ended)
    });
    result
}

/// How often a supervisor looks for its store's proxy.
const PROXY_LOOK: std::time::Duration = std::time::Duration::from_secs(2);

/// Starts the store's proxy again whenever it is gone (a kill -9, say): it answers the pod's
/// cluster DNS, so names resolve again within [`PROXY_LOOK`] and a moment. Only for a pod whose
/// resolv.conf names the cluster DNS.
async fn keep_proxy(dir: PodDir, exe: PathBuf, host_mounts: std::os::fd::OwnedFd) {
    use std::os::fd::AsFd as _;
    let Some(dns) = crate::network::NetworkRequest::read(&dir).cluster_dns else {
        return;
    };
    let Some(pods) = dir.root.parent().map(Path::to_path_buf) else {
        return;
    };
    let args = crate::proxy::ProxyArgs {
        services: dns.services,
        pods,
    };
    loop {
        tokio::time::sleep(PROXY_LOOK).await;
        // A store being removed (the pod's own directory gone) gets no proxy again.
        if !dir.root.exists() || !args.services.is_dir() {
            return;
        }
        if !crate::proxy::running(&args.services) {
            // Not waited for: the proxy leads a session of its own, so its exit is a stranger's
            // that the reaper's sweep collects (tandem_runtime::reaper).
            if let Err(e) = crate::proxy::spawn(&exe, &args, Some(host_mounts.as_fd())) {
                eprintln!("warning: cannot start the store's proxy: {e}");
            }
        }
    }
}
