//! The pod sandbox over the pod's life (§2.3): the pause process and the network attached to its
//! namespace, watched for the pause process's death and replaced when the engine asks.
//!
//! One [`SandboxSlot`] is shared by the runtime adapter (which replaces its content), the watcher
//! (which takes a dead pause process out of it) and teardown (which releases what is in it), so
//! whatever exists at any moment is released exactly once: a replacement that fails half-way
//! leaves in the slot only what it made, for teardown to undo.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use oci_spec::runtime::LinuxNamespaceType;
use tandem_api::plan::PodPlan;
use tandem_kubelet::runtime::RuntimeEvent;
use tandem_runtime::sandbox::Sandbox;
use tandem_runtime::userns::IdRange;
use tokio::sync::mpsc;

use crate::network::PodNetwork;
use crate::statedir::PodDir;

/// The current sandbox and its network attachment.
#[derive(Debug, Default)]
pub struct SandboxSlot {
    /// The pause process; `None` before the first one started and once teardown took it. A dead
    /// one stays here unreaped (a zombie whose pid nobody else can get) until a new sandbox
    /// replaces it or teardown stops it, since paths under `/proc/<pid>` may still be in use.
    pub sandbox: Option<Sandbox>,
    pub network: PodNetwork,
    /// The attempt number of the sandbox in the slot (0 for the first).
    pub attempt: u32,
}

pub type SharedSandbox = Rc<RefCell<SandboxSlot>>;

#[derive(Debug, thiserror::Error)]
pub enum RecreateError {
    #[error("cannot release the old sandbox's network")]
    Detach(#[source] tandem_network::NetworkError),
    #[error(transparent)]
    Sandbox(#[from] tandem_runtime::sandbox::SandboxError),
    #[error("cannot attach the new sandbox to the pod network")]
    Attach(#[source] tandem_network::NetworkError),
    #[error(transparent)]
    EtcFile(#[from] crate::etc_files::EtcFileError),
    #[error("cannot give the new sandbox its /dev/shm")]
    Shm(#[from] crate::volumes::VolumeError),
    #[error("cannot give {path} to the pod's user namespace")]
    ShmOwner {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot move the new pause process into the pod cgroup")]
    Cgroup(#[from] tandem_runtime::cgroups::CgroupError),
}

/// The namespaces every container joins: the pause process's network, IPC and UTS namespaces
/// (and user namespace, with `hostUsers: false`); only IPC for a hostNetwork pod, which keeps the
/// host's network and UTS namespaces.
pub fn namespaces(
    plan: &PodPlan,
    sandbox: &Sandbox,
    user_namespace: bool,
) -> Vec<(LinuxNamespaceType, PathBuf)> {
    if plan.host_network {
        return vec![(LinuxNamespaceType::Ipc, sandbox.ns_path("ipc"))];
    }
    let mut joined = vec![
        (LinuxNamespaceType::Network, sandbox.ns_path("net")),
        (LinuxNamespaceType::Ipc, sandbox.ns_path("ipc")),
        (LinuxNamespaceType::Uts, sandbox.ns_path("uts")),
    ];
    if user_namespace {
        joined.push((LinuxNamespaceType::User, sandbox.ns_path("user")));
    }
    joined
}

/// Moves the pause process (and the PID namespace's init it forked) into a leaf of the pod cgroup
/// `/tandem/<uid>`, so that `--pod-max-pids`, the pod's memory limit and teardown's cgroup kill
/// reach it as they reach the containers. A leaf, not the pod cgroup itself: see
/// [`tandem_runtime::cgroups::add_process`].
pub fn join_pod_cgroup(
    plan: &PodPlan,
    sandbox: &Sandbox,
) -> Result<(), tandem_runtime::cgroups::CgroupError> {
    let leaf = tandem_runtime::cgroups::sandbox_cgroup(&plan.uid);
    for pid in sandbox.processes() {
        tandem_runtime::cgroups::add_process(&leaf, pid)?;
    }
    Ok(())
}

/// How often the watcher looks at the pause process when no SIGCHLD woke it: a safety net, since
/// signals of several children may arrive as one.
const WATCH_FALLBACK: Duration = Duration::from_secs(1);

/// Watches the pause process of sandbox `attempt` (a child of this process): when it exits,
/// reports [`RuntimeEvent::SandboxLost`], leaving it in the slot unreaped (see
/// [`SandboxSlot::sandbox`]). Ends then, or when the slot holds another attempt or no pause
/// process (teardown took it).
pub fn spawn_watch(slot: SharedSandbox, attempt: u32, events: mpsc::UnboundedSender<RuntimeEvent>) {
    tokio::task::spawn_local(async move {
        let mut sigchld =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()).ok();
        loop {
            {
                let s = slot.borrow();
                if s.attempt != attempt {
                    return;
                }
                let Some(pause) = s.sandbox.as_ref() else {
                    return;
                };
                if pause.exited() {
                    let _ = events.send(RuntimeEvent::SandboxLost { attempt });
                    return;
                }
            }
            match sigchld.as_mut() {
                Some(sig) => {
                    tokio::select! {
                        _ = sig.recv() => {}
                        _ = tokio::time::sleep(WATCH_FALLBACK) => {}
                    }
                }
                None => tokio::time::sleep(WATCH_FALLBACK / 4).await,
            }
        }
    });
}

/// What a new sandbox gives the pod.
pub struct Recreated {
    pub namespaces: Vec<(LinuxNamespaceType, PathBuf)>,
    pub network: PodNetwork,
}

/// Replaces the lost sandbox with sandbox `attempt`, made as `prepare` made the first: CNI DEL of
/// the old attachment, a new pause process with the same options (the same user-namespace id
/// range), CNI ADD (a new pod IP), the pod's `/etc/hosts` rewritten for it and a fresh `/dev/shm`
/// for the new IPC namespace. Every container has stopped by now (the engine waits for that).
///
/// Blocking, on the supervisor's only thread: the pause process must be its child (its
/// parent-death signal follows the thread that forked it).
pub fn recreate(
    slot: &SharedSandbox,
    plan: &PodPlan,
    dir: &PodDir,
    exe: &Path,
    id_range: Option<IdRange>,
    attempt: u32,
) -> Result<Recreated, RecreateError> {
    let result = replace(&mut slot.borrow_mut(), plan, dir, exe, id_range, attempt);
    // The other pods' /etc/hosts follow this pod's address, whether it has a new one or none.
    crate::etc_files::refresh_peer_hosts(dir);
    result
}

fn replace(
    s: &mut SandboxSlot,
    plan: &PodPlan,
    dir: &PodDir,
    exe: &Path,
    id_range: Option<IdRange>,
    attempt: u32,
) -> Result<Recreated, RecreateError> {
    s.attempt = attempt;
    if s.network.attached {
        // CNI DEL, told whether a pause process still holds the namespace (a dead one is kept
        // until below, but holds nothing). On failure the attachment stays recorded (and
        // `attached`), for teardown to retry.
        let alive = s.sandbox.as_ref().is_some_and(|p| !p.exited());
        crate::network::detach(dir, alive).map_err(RecreateError::Detach)?;
        s.network = PodNetwork {
            host_ip: s.network.host_ip.clone(),
            ..Default::default()
        };
    }
    if let Some(old) = s.sandbox.take() {
        // Never two sandboxes: one still running is killed, a dead one reaped; nothing names
        // its pid any more (the caller replaces the namespace paths with the new ones).
        old.stop();
    }
    let share_pid = plan.share_process_namespace && !plan.host_pid;
    let sandbox = Sandbox::start_pod(exe, &plan.hostname, plan.host_network, share_pid, id_range)?;
    let netns = sandbox.ns_path("net");
    let namespaces = namespaces(plan, &sandbox, id_range.is_some());
    let joined = join_pod_cgroup(plan, &sandbox);
    s.sandbox = Some(sandbox);
    joined?;
    s.network = crate::network::attach(plan, dir, &netns).map_err(RecreateError::Attach)?;
    if !plan.host_network {
        crate::etc_files::rewrite_own_hosts(plan, dir, &s.network.pod_ips)?;
    }
    // A new IPC namespace gets an empty /dev/shm, as containerd gives each sandbox its own.
    let shm = dir.shm();
    // Best effort: a /dev/shm that is not mounted any more is simply mounted again.
    let _ = tandem_runtime::mounts::unmount(&shm);
    crate::volumes::mount_shm(dir)?;
    if let Some(range) = id_range {
        let root = Some(range.host_base);
        std::os::unix::fs::chown(&shm, root, root).map_err(|source| RecreateError::ShmOwner {
            path: shm.clone(),
            source,
        })?;
    }
    Ok(Recreated {
        namespaces,
        network: s.network.clone(),
    })
}
