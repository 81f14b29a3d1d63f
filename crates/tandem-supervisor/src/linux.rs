//! The adapter: the engine's [`ContainerRuntime`] carried out with real containers.
//!
//! Each instance gets an OCI bundle in the pod directory, a `tandem __shim` process that creates
//! it through libcontainer and hands it over (this process then waits on its init through a
//! pidfd), and two pipes whose lines become the CRI log file.

use std::cell::RefCell;
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::rc::Rc;
use tandem_runtime::error_chain as chain;

use nix::sys::signal::Signal;
use oci_spec::runtime::LinuxNamespaceType;
use tandem_api::env::RuntimeFacts;
use tandem_api::plan::{ContainerPlan, ObjectKind, PodPlan, PullPolicy, VolumeSource};
use tandem_api::plan::{Handler, HttpScheme};
use tandem_image::{ImageStore, PullSettings, ResolvedImage};
use tandem_kubelet::runtime::StopSignal;
use tandem_kubelet::runtime::{
    ContainerRuntime, HandlerKind, HandlerResult, MountFailure, RuntimeEvent, SandboxFailure,
    StartError, StartFailure, Started,
};
use tandem_runtime::exec::{ExecOutcome, Session, SessionStdio};
use tandem_runtime::mounts::MountSpec;
use tandem_runtime::netprobe::NetprobeArgs;
use tandem_runtime::netprobe::{NetOutcome, NetRequest};
use tandem_runtime::shim::{
    container_id, Console, Container, Shim, ShimConfig, ShimFailure, ShimStage,
};
use tandem_runtime::userns::IdRange;
use tokio::sync::{broadcast, mpsc};
use tokio::time::Instant;

use crate::attach::{Stream, Streams};
use crate::logs::{pump, LogFile, LogLine};
use crate::proto::{AttachRequest, ExecRequest};
use crate::statedir::PodDir;
use crate::translate::{build_spec, command_line, merge_env, PidNamespace, Seccomp, SpecInputs};
use crate::volumes::container_mounts;
use tandem_runtime::fdio::{Fd, Reader};

/// The running container instances, by container name and attempt.
type Running = HashMap<(String, u32), Instance>;

/// A running container instance: its init, and its own streams for attach.
#[derive(Clone)]
struct Instance {
    container: Rc<Container>,
    streams: Rc<Streams>,
}

/// The console socket's name in a bundle (`tty: true`).
const CONSOLE_SOCKET: &str = "console.sock";

pub struct LinuxRuntime {
    pub plan: Rc<PodPlan>,
    pub dir: PodDir,
    pub exe: PathBuf,
    pub images: ImageStore,
    /// The sandbox's namespaces containers join; replaced with the sandbox (§2.3).
    namespaces: RefCell<Vec<(LinuxNamespaceType, PathBuf)>>,
    /// The pod's addresses for env, downward API and probes; a new sandbox brings new ones.
    facts: RefCell<RuntimeFacts>,
    /// The service-account tokens of the pod's projected volumes.
    tokens: crate::tokens::Tokens,
    pub events: mpsc::UnboundedSender<RuntimeEvent>,
    pub logs: broadcast::Sender<LogLine>,
    /// The running instances, by container and attempt: each one's init, whose pidfd this
    /// process signals and waits on.
    running: Rc<RefCell<Running>>,
    /// Woken whenever an instance has exited (and left `running`): ends the network hooks run
    /// against it (see [`LinuxRuntime::instance_gone`]).
    instance_exited: Rc<tokio::sync::Notify>,
    /// The stop signal of each container's current instance (see [`stop_signal`]).
    stop_signals: Rc<RefCell<HashMap<String, i32>>>,
    /// `hostUsers: false`: the host ids of the pod's user namespace.
    id_range: Option<IdRange>,
    /// The pod's sandbox, which [`ContainerRuntime::recreate_sandbox`] replaces.
    sandbox: Option<crate::sandbox::SharedSandbox>,
    /// The image volumes mounted so far (a set-up that failed on a later volume keeps them).
    image_volumes: RefCell<std::collections::HashSet<String>>,
}

/// The signal a container is stopped with (KEP-4960): `lifecycle.stopSignal`, else the image's
/// STOPSIGNAL, else SIGTERM, as containerd and CRI-O choose it. An image STOPSIGNAL that names no
/// signal falls back to SIGTERM rather than leaving the container unstoppable but by SIGKILL.
pub fn stop_signal(c: &ContainerPlan, image: &tandem_image::ImageConfig) -> i32 {
    c.stop_signal
        .as_deref()
        .or(image.stop_signal.as_deref())
        .and_then(tandem_api::signal::parse)
        .unwrap_or(tandem_api::signal::SIGTERM)
}

fn config_error(message: impl std::fmt::Display) -> StartError {
    StartError::new(
        StartFailure::CreateContainerConfigError,
        message.to_string(),
    )
}

/// Removes an instance's bundle, detaching every mount beneath it first, deepest first: the
/// root filesystem's overlay and the idmapped image layers (`BUNDLE/lower/N`) the shim mounted,
/// which outlive it (this process's mount namespace is the shim's). `std::fs::remove_dir_all`
/// would otherwise walk into them and delete the files of the shared layers and of the pod's
/// writable layer. If a mount will not go, the bundle stays for teardown, which detaches
/// everything under the pod directory first.
fn remove_bundle(bundle: &std::path::Path) {
    for m in tandem_runtime::mounts::mounts_under(bundle) {
        let _ = tandem_runtime::mounts::unmount(&m);
    }
    if tandem_runtime::mounts::mounts_under(bundle).is_empty() {
        let _ = std::fs::remove_dir_all(bundle);
    } else {
        eprintln!(
            "warning: {} still has mounts beneath it; left for the pod's teardown",
            bundle.display()
        );
    }
}

/// This process's capability bounding set, from /proc/self/status (every capability if it cannot
/// be read).
fn own_bounding_set() -> std::collections::HashSet<oci_spec::runtime::Capability> {
    let mask = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(u64::MAX);
    crate::translate::capabilities_from_mask(mask)
}

/// The container's seccomp filter: RuntimeDefault unless it asks for Unconfined or a Localhost
/// profile, which is read from `seccomp/` next to the image store (`/var/lib/tandem/seccomp`, or
/// `<--root>/seccomp`).
fn seccomp_of(c: &ContainerPlan, images_root: &std::path::Path) -> Result<Seccomp, String> {
    let profile = match c.security.seccomp_profile.as_deref() {
        None | Some("RuntimeDefault") => return Ok(Seccomp::RuntimeDefault),
        Some("Unconfined") => return Ok(Seccomp::Unconfined),
        Some(other) => other,
    };
    let Some(name) = profile.strip_prefix("Localhost/") else {
        return Err(format!(
            "container {}: unknown seccompProfile type {profile:?}",
            c.name
        ));
    };
    let clean = !name.is_empty()
        && std::path::Path::new(name)
            .components()
            .all(|p| matches!(p, std::path::Component::Normal(_)));
    if !clean {
        return Err(format!(
            "container {}: seccompProfile.localhostProfile {name:?} must be a relative path without '..'",
            c.name
        ));
    }
    let dir = images_root
        .parent()
        .unwrap_or(std::path::Path::new("/"))
        .join("seccomp");
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "container {}: cannot read seccomp profile {}: {e}",
            c.name,
            path.display()
        )
    })?;
    let seccomp: oci_spec::runtime::LinuxSeccomp = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "container {}: seccomp profile {} is not an OCI seccomp profile: {e}",
            c.name,
            path.display()
        )
    })?;
    Ok(Seccomp::Profile(Box::new(seccomp)))
}

impl LinuxRuntime {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        plan: Rc<PodPlan>,
        dir: PodDir,
        exe: PathBuf,
        images: ImageStore,
        namespaces: Vec<(LinuxNamespaceType, PathBuf)>,
        facts: RuntimeFacts,
        events: mpsc::UnboundedSender<RuntimeEvent>,
        logs: broadcast::Sender<LogLine>,
    ) -> Self {
        let tokens = crate::tokens::Tokens::of(&plan, &dir);
        LinuxRuntime {
            plan,
            dir,
            exe,
            images,
            namespaces: RefCell::new(namespaces),
            facts: RefCell::new(facts),
            tokens,
            events,
            logs,
            running: Rc::default(),
            instance_exited: Rc::default(),
            stop_signals: Rc::default(),
            id_range: None,
            sandbox: None,
            image_volumes: RefCell::default(),
        }
    }

    /// The sandbox the pod runs in, watched and replaced through this runtime (§2.3).
    pub fn with_sandbox(mut self, slot: crate::sandbox::SharedSandbox) -> Self {
        self.sandbox = Some(slot);
        self
    }

    /// Containers join the pod's user namespace (it must be among `namespaces`), whose ids are
    /// `range` on the host.
    pub fn with_user_namespace(mut self, range: IdRange) -> Self {
        self.id_range = Some(range);
        self
    }

    fn user_namespace(&self) -> Option<(IdRange, PathBuf)> {
        let path = self
            .namespaces
            .borrow()
            .iter()
            .find(|(t, _)| *t == LinuxNamespaceType::User)
            .map(|(_, p)| p.clone())?;
        Some((self.id_range?, path))
    }

    /// The container's image, pulled first when it is missing and its imagePullPolicy allows
    /// (`tandem run` already pulled what the policy asks for before the pod started, so a
    /// present image is used as it is).
    async fn ensure_image(&self, c: &ContainerPlan) -> Result<ResolvedImage, StartError> {
        self.ensure(&c.image, c.image_pull_policy).await
    }

    /// The image `reference` from the store, pulled first when it is missing and `policy`
    /// allows (a container's image, or an image volume's).
    async fn ensure(
        &self,
        reference: &str,
        policy: PullPolicy,
    ) -> Result<ResolvedImage, StartError> {
        let present = matches!(self.images.lookup(reference), Ok(Some(_)));
        if !present {
            if policy == PullPolicy::Never {
                return Err(StartError::new(
                    StartFailure::ErrImageNeverPull,
                    format!(
                        "Container image {reference:?} is not present with pull policy of Never; load it with `tandem image load` or `tandem image import`"
                    ),
                ));
            }
            let pull_err = |message: String| StartError::new(StartFailure::ErrImagePull, message);
            let settings: PullSettings = match std::fs::read(self.dir.pull_json()) {
                Ok(bytes) => serde_json::from_slice(&bytes)
                    .map_err(|e| pull_err(format!("{}: {e}", self.dir.pull_json().display())))?,
                Err(_) => PullSettings::default(),
            };
            let opts = settings.options().map_err(|e| pull_err(chain(&e)))?;
            self.images
                .pull(reference, &opts, &tandem_image::progress::silent)
                .await
                .map_err(|e| {
                    pull_err(format!("failed to pull image {reference:?}: {}", chain(&e)))
                })?;
        }
        self.images.resolve(reference).map_err(|e| StartError {
            reason: if present {
                StartFailure::CreateContainerError
            } else {
                StartFailure::ErrImagePull
            },
            message: chain(&e),
        })
    }

    /// hostPID: the host's; shareProcessNamespace: the sandbox's (its pause process holds it, so
    /// its `pid_for_children` sits next to the IPC namespace every container joins).
    fn pid_namespace(&self, c: &ContainerPlan) -> Result<PidNamespace, StartError> {
        if self.plan.host_pid {
            return Ok(PidNamespace::Host);
        }
        if let Some(target) = &c.target_container {
            // The target's running instance: its init is this process's child, so its pid
            // names it until this process reaps it.
            let pid = self
                .instance(target)
                .map_err(|_| {
                    config_error(format!(
                        "the target container {target:?} of container {} is not running",
                        c.name
                    ))
                })?
                .container
                .pid();
            return Ok(PidNamespace::Container(PathBuf::from(format!(
                "/proc/{pid}/ns/pid"
            ))));
        }
        let ipc = self
            .namespaces
            .borrow()
            .iter()
            .find(|(t, _)| *t == LinuxNamespaceType::Ipc)
            .map(|(_, path)| path.clone());
        Ok(match ipc {
            Some(path) if self.plan.share_process_namespace => {
                PidNamespace::Pod(path.with_file_name("pid_for_children"))
            }
            _ => PidNamespace::Private,
        })
    }

    /// The kept ConfigMaps and Secrets of the pod's namespace among `refs`, as the store holds
    /// them now (those that are there; a missing one is the caller's to judge).
    fn kept_objects<'r>(
        &self,
        refs: impl Iterator<Item = (ObjectKind, &'r str)>,
    ) -> tandem_api::env::Objects {
        let mut objects = tandem_api::env::Objects::default();
        for (kind, name) in refs {
            let path = self.dir.kept_object(kind, &self.plan.namespace, name);
            let kept = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
            if let Some(object) = kept {
                objects.insert(kind, &object);
            }
        }
        objects
    }

    /// The OCI bundle of one instance, written to disk.
    fn prepare_bundle(
        &self,
        c: &ContainerPlan,
        attempt: u32,
        image: &ResolvedImage,
    ) -> Result<PathBuf, StartError> {
        let facts = self.facts.borrow().clone();
        let env_refs = tandem_api::env::object_refs(c).map(|r| (r.kind, r.name.as_str()));
        let pod_env = tandem_api::env::resolve(&self.plan, c, &facts, &self.kept_objects(env_refs))
            .map_err(config_error)?;
        let mut env = merge_env(&image.config.env, pod_env);
        // containerd starts every container's environment with HOSTNAME (the pod's, or under
        // hostNetwork the node's), which the image's and the pod's own may override.
        if !env.iter().any(|(k, _)| k == "HOSTNAME") {
            let hostname = match self.plan.host_network {
                true => nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                false => self.plan.hostname.clone(),
            };
            env.insert(0, ("HOSTNAME".into(), hostname));
        }
        if c.tty && !env.iter().any(|(k, _)| k == "TERM") {
            // As containerd gives a container with a terminal (its WithTTY option).
            env.push(("TERM".into(), "xterm".into()));
        }
        let args = command_line(c, &image.config, &env).map_err(config_error)?;
        let (uid, gid) = crate::users::resolve(c, image).map_err(config_error)?;
        if c.security.run_as_non_root == Some(true) && uid == 0 {
            return Err(config_error(format!(
                "container {} has runAsNonRoot and its image will run as root (set securityContext.runAsUser to a non-zero uid)",
                c.name
            )));
        }
        let mut groups = self.plan.security.supplemental_groups.clone();
        groups.extend(self.plan.security.fs_group);
        if self.plan.security.supplemental_groups_policy.as_deref() != Some("Strict") {
            groups.extend(crate::users::image_groups(image, uid));
        }
        groups.sort_unstable();
        groups.dedup();
        // containerStatuses[].user (KEP-3619): the process's groups include its primary one,
        // as the CRI reports them.
        let mut all_groups = vec![gid];
        all_groups.extend(groups.iter().copied().filter(|g| *g != gid));
        let _ = self.events.send(RuntimeEvent::User {
            container: c.name.clone(),
            attempt,
            user: tandem_kubelet::runtime::ContainerUserIds {
                uid,
                gid,
                supplemental_groups: all_groups,
            },
        });
        let mut mounts = container_mounts(&self.plan, c, &self.dir, &env, self.id_range)
            .map_err(|e| config_error(chain(&e)))?;
        if self.plan.host_ipc {
            // hostIPC: the host's IPC namespace, and its /dev/shm with it.
            for m in mounts.iter_mut().filter(|m| m.destination == "/dev/shm") {
                m.source = "/dev/shm".into();
            }
        }

        let bundle = self.dir.bundle(&c.name, attempt);
        remove_bundle(&bundle);
        let (rootfs, upper, work) = (
            bundle.join("rootfs"),
            bundle.join("upper"),
            bundle.join("work"),
        );
        for d in [&rootfs, &upper, &work] {
            std::fs::create_dir_all(d)
                .map_err(|e| config_error(format!("cannot create {}: {e}", d.display())))?;
        }
        let user_ns = self.user_namespace();
        if let Some((range, _)) = &user_ns {
            // The writable layer belongs to the pod's root: overlayfs gives the merged root
            // directory the upper directory's owner.
            let root = Some(range.host_base);
            std::os::unix::fs::chown(&upper, root, root)
                .map_err(|e| config_error(format!("cannot chown {}: {e}", upper.display())))?;
        }
        let inputs = SpecInputs {
            args,
            cwd: c
                .working_dir
                .clone()
                .or(image.config.working_dir.clone())
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".into()),
            env,
            uid,
            gid,
            additional_gids: groups,
            rootfs: rootfs.clone(),
            read_only_rootfs: c.security.read_only_root_filesystem,
            mounts,
            joined: self
                .namespaces
                .borrow()
                .iter()
                .filter(|(t, _)| !(self.plan.host_ipc && *t == LinuxNamespaceType::Ipc))
                .cloned()
                .collect(),
            cgroups_path: tandem_runtime::cgroups::container_cgroup(
                &self.plan.uid,
                &c.name,
                attempt,
            )
            .to_string_lossy()
            .into_owned(),
            cgroup_v1_hierarchies: tandem_runtime::cgroups::v1_controller_hierarchies(),
            no_new_privileges: c.security.allow_privilege_escalation == Some(false),
            terminal: c.tty,
            resources: c.resources.clone(),
            privileged: c.security.privileged,
            capabilities_add: c.security.capabilities_add.clone(),
            capabilities_drop: c.security.capabilities_drop.clone(),
            host_capabilities: own_bounding_set(),
            seccomp: seccomp_of(c, self.images.root()).map_err(config_error)?,
            sysctls: self.plan.security.sysctls.clone(),
            unmasked_proc: c.security.proc_mount.as_deref() == Some("Unmasked"),
            pid: self.pid_namespace(c)?,
            devices: if c.security.privileged {
                crate::devices::host_devices(std::path::Path::new("/dev"))
            } else {
                vec![]
            },
        };
        let spec = build_spec(&c.name, &inputs).map_err(config_error)?;
        spec.save(bundle.join("config.json"))
            .map_err(|e| config_error(format!("cannot write the OCI spec: {e}")))?;
        let m = image.rootfs_mount(&upper, &work);
        let shim = ShimConfig {
            id: container_id(&self.plan.uid, &c.name, attempt),
            state_root: self.dir.runtime_state(),
            rootfs,
            rootfs_mount: MountSpec {
                fstype: m.fstype,
                source: m.source,
                options: m.options,
            },
            idmap_userns: user_ns.map(|(_, path)| path),
            supervisor: std::process::id() as i32,
            console_socket: c.tty.then(|| bundle.join(CONSOLE_SOCKET)),
        };
        let json = serde_json::to_vec(&shim).map_err(config_error)?;
        std::fs::write(bundle.join("shim.json"), json).map_err(config_error)?;
        Ok(bundle)
    }
}

impl ContainerRuntime for LinuxRuntime {
    async fn start(&self, c: &ContainerPlan, attempt: u32) -> Result<Started, StartError> {
        let image = self.ensure_image(c).await?;
        let image_id = image.repo_digest.clone();
        let bundle = self.prepare_bundle(c, attempt, &image)?;
        self.stop_signals
            .borrow_mut()
            .insert(c.name.clone(), stop_signal(c, &image.config));
        let run_err = |m: String| StartError::new(StartFailure::RunContainerError, m);

        let log_dir = self.dir.logs(&c.name);
        std::fs::create_dir_all(&log_dir)
            .map_err(|e| run_err(format!("cannot create {}: {e}", log_dir.display())))?;
        let log_path = self.dir.log_file(&c.name, attempt);
        let log = LogFile::open(&log_path, self.plan.container_logs)
            .map_err(|e| run_err(format!("cannot open {}: {e}", log_path.display())))?;
        let log = Rc::new(RefCell::new(log));
        // `stdin: true`: a pipe whose write end stays here for attach (a terminal is its own
        // input). Close-on-exec, so no other container or helper inherits it.
        let (stdin_r, stdin_w) = match c.stdin && !c.tty {
            true => {
                let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                    .map_err(|e| run_err(format!("cannot make the container's stdin pipe: {e}")))?;
                let w = Fd::new(w)
                    .map_err(|e| run_err(format!("cannot hold the container's stdin: {e}")))?;
                (Some(r), Some(w))
            }
            false => (None, None),
        };
        let console = match c.tty {
            true => Some(
                Console::bind(&bundle.join(CONSOLE_SOCKET))
                    .map_err(|e| run_err(format!("cannot listen on the console socket: {e}")))?,
            ),
            false => None,
        };
        let mut shim = Shim::spawn(&self.exe, &bundle, stdin_r, console)
            .map_err(|e| run_err(e.to_string()))?;
        let (stdout, stderr) = shim.take_output();
        let mut container = match shim.take_over().await {
            Ok(container) => container,
            Err(ShimFailure { stage, message }) => {
                remove_bundle(&bundle);
                let failure = match stage {
                    Some(ShimStage::Config | ShimStage::Rootfs | ShimStage::Create) => {
                        StartFailure::CreateContainerError
                    }
                    Some(ShimStage::Start) | None => StartFailure::RunContainerError,
                };
                return Err(StartError::new(failure, message));
            }
        };
        let terminal = match container.take_terminal().map(Fd::new).transpose() {
            Ok(t) => t.map(Rc::new),
            Err(e) => {
                // Nobody could read it: the container must not run.
                let _ = container.signal(Signal::SIGKILL as i32);
                container.exited().await;
                remove_bundle(&bundle);
                return Err(run_err(format!(
                    "cannot read the container's terminal: {e}"
                )));
            }
        };
        let instance = Instance {
            container: Rc::new(container),
            streams: Rc::new(Streams::new(
                &c.name,
                c.stdin_once,
                stdin_w,
                terminal.clone(),
            )),
        };
        let key = (c.name.clone(), attempt);
        self.running
            .borrow_mut()
            .insert(key.clone(), instance.clone());

        let (name, tx, logs) = (c.name.clone(), self.events.clone(), self.logs.clone());
        let running = Rc::clone(&self.running);
        let instance_exited = Rc::clone(&self.instance_exited);
        tokio::task::spawn_local(async move {
            tandem_runtime::fault::reached(tandem_runtime::fault::FaultPoint::SupervisorPanic);
            let Instance { container, streams } = instance;
            let pumped = |from: Stream| {
                let streams = Rc::clone(&streams);
                move |bytes: &[u8]| streams.publish(from, bytes)
            };
            let out = async {
                // A terminal's output is the container's stdout, as CRI runtimes log it.
                let term = async {
                    if let Some(t) = terminal {
                        let (log, name, logs) = (Rc::clone(&log), name.clone(), logs.clone());
                        pump(Reader(t), log, name, "stdout", logs, pumped(Stream::Stdout)).await;
                    }
                };
                let pipe = async {
                    if let Some(s) = stdout {
                        let (log, name, logs) = (Rc::clone(&log), name.clone(), logs.clone());
                        pump(s, log, name, "stdout", logs, pumped(Stream::Stdout)).await;
                    }
                };
                tokio::join!(term, pipe);
                streams.end(Stream::Stdout);
            };
            let err = async {
                if let Some(s) = stderr {
                    let (log, name, logs) = (Rc::clone(&log), name.clone(), logs.clone());
                    pump(s, log, name, "stderr", logs, pumped(Stream::Stderr)).await;
                }
                streams.end(Stream::Stderr);
            };
            let ((), (), ended) = tokio::join!(out, err, container.exited());
            running.borrow_mut().remove(&key);
            // The hooks still running against it end (and kill their helpers) before the engine
            // hears of the exit: yielding lets the woken hook tasks run first, so a pod that ends
            // with this exit leaves no helper behind.
            instance_exited.notify_waiters();
            tokio::task::yield_now().await;
            remove_bundle(&bundle);
            let _ = tx.send(RuntimeEvent::Exited {
                container: key.0,
                attempt: key.1,
                exit_code: ended.exit.exit_code,
                signal: ended.exit.signal,
                oom: ended.oom,
                at: Instant::now(),
            });
        });
        Ok(Started {
            container_id: format!(
                "tandem://{}",
                container_id(&self.plan.uid, &c.name, attempt)
            ),
            image_id,
        })
    }

    async fn signal(&self, container: &str, attempt: u32, signal: StopSignal) {
        let running = self
            .running
            .borrow()
            .get(&(container.to_string(), attempt))
            .cloned();
        if let Some(Instance {
            container: init, ..
        }) = running
        {
            let signo = match signal {
                StopSignal::Term => self
                    .stop_signals
                    .borrow()
                    .get(container)
                    .copied()
                    .unwrap_or(tandem_api::signal::SIGTERM),
                StopSignal::Kill => Signal::SIGKILL as i32,
            };
            let _ = init.signal(signo);
        }
    }

    async fn set_up_volumes(&self) -> Result<(), MountFailure> {
        let objects = self.kept_objects(crate::volumes::projected_objects(&self.plan));
        let facts = self.facts.borrow().clone();
        crate::volumes::set_up_awaiting(
            &self.plan,
            &self.dir,
            &objects,
            &facts,
            &self.tokens,
            self.id_range,
        )?;
        for v in &self.plan.volumes {
            let VolumeSource::Image {
                reference,
                pull_policy,
            } = &v.source
            else {
                continue;
            };
            if self.image_volumes.borrow().contains(&v.name) {
                continue;
            }
            let failure = |message: String| MountFailure {
                volume: v.name.clone(),
                message,
            };
            let image = self
                .ensure(reference, *pull_policy)
                .await
                .map_err(|e| failure(e.message))?;
            crate::volumes::mount_image(&self.dir, &v.name, &image)
                .map_err(|e| failure(chain(&e)))?;
            self.image_volumes.borrow_mut().insert(v.name.clone());
        }
        Ok(())
    }

    async fn resync_volumes(&self, plan: &PodPlan) -> Result<(), MountFailure> {
        let objects = self.kept_objects(crate::volumes::projected_objects(plan));
        let facts = self.facts.borrow().clone();
        crate::volumes::resync(
            plan,
            &self.dir,
            &objects,
            &facts,
            &self.tokens,
            self.id_range,
        )
    }

    async fn recreate_sandbox(&self, attempt: u32) -> Result<Vec<String>, SandboxFailure> {
        let Some(slot) = &self.sandbox else {
            return Err(SandboxFailure("the pod has no sandbox to replace".into()));
        };
        let made = crate::sandbox::recreate(
            slot,
            &self.plan,
            &self.dir,
            &self.exe,
            self.id_range,
            attempt,
        )
        .map_err(|e| SandboxFailure(chain(&e)))?;
        *self.namespaces.borrow_mut() = made.namespaces;
        {
            let mut facts = self.facts.borrow_mut();
            facts.pod_ips = made.network.pod_ips.clone();
            facts.pod_ip = made.network.pod_ips.first().cloned().unwrap_or_default();
            if let Some(host_ip) = &made.network.host_ip {
                facts.host_ip = host_ip.clone();
            }
        }
        crate::sandbox::spawn_watch(Rc::clone(slot), attempt, self.events.clone());
        Ok(made.network.pod_ips)
    }

    async fn run_handler(
        &self,
        c: &ContainerPlan,
        attempt: u32,
        kind: HandlerKind,
        handler: &Handler,
        timeout: Option<std::time::Duration>,
    ) -> HandlerResult {
        let instance = (c.name.clone(), attempt);
        let Some(Instance { container, .. }) = self.running.borrow().get(&instance).cloned() else {
            return HandlerResult::Error(format!("container {} is not running", c.name));
        };
        let facts = self.facts.borrow().clone();
        let timeout_ms = timeout.map_or(0, |t| t.as_millis() as u64);
        // Hooks come without a timeout, but the network helper needs a deadline: a day stands for
        // none. What bounds a hook is its container: the hook ends when the instance exits
        // (which the engine brings about at the end of a preStop's grace period), and its helper
        // is killed with it (`net`).
        let hook = matches!(kind, HandlerKind::PostStart | HandlerKind::PreStop);
        let bound = hook.then_some(&instance);
        let net_timeout_ms = if timeout_ms == 0 {
            24 * 3600 * 1000
        } else {
            timeout_ms
        };
        match handler {
            Handler::Exec { command } => {
                let call = tandem_runtime::exec::call(
                    &self.exe,
                    container.bundle(),
                    container.init_fd(),
                    timeout.unwrap_or_default(),
                    command,
                );
                match call.await {
                    Err(e) => HandlerResult::Error(e),
                    Ok(o) => exec_result(kind, command, o),
                }
            }
            Handler::HttpGet {
                host,
                port,
                path,
                scheme,
                headers,
            } => {
                self.net(
                    NetRequest::Http {
                        host: probe_host(host.as_deref(), &facts),
                        port: *port,
                        path: path.clone(),
                        headers: headers.clone(),
                        timeout_ms: net_timeout_ms,
                        https: *scheme == HttpScheme::Https,
                        user_agent: tandem_api::probe_user_agent(),
                    },
                    timeout,
                    bound,
                )
                .await
            }
            Handler::TcpSocket { host, port } => {
                self.net(
                    NetRequest::Tcp {
                        host: probe_host(host.as_deref(), &facts),
                        port: *port,
                        timeout_ms: net_timeout_ms,
                    },
                    timeout,
                    bound,
                )
                .await
            }
            // gRPC has no `host`: the kubelet always dials the pod IP.
            Handler::Grpc { port, service } => {
                self.net(
                    NetRequest::Grpc {
                        host: probe_host(None, &facts),
                        port: *port,
                        service: service.clone().unwrap_or_default(),
                        timeout_ms: net_timeout_ms,
                        user_agent: tandem_api::probe_user_agent(),
                    },
                    timeout,
                    bound,
                )
                .await
            }
            Handler::Sleep { seconds } => {
                tokio::time::sleep(tandem_api::plan::seconds(*seconds)).await;
                HandlerResult::Success
            }
            Handler::PortNotFound { port, .. } => {
                HandlerResult::Error(format!("port {port} not found"))
            }
        }
    }
}

/// The loopback address network handlers fall back to in a pod without an address.
const LOOPBACK: &str = "127.0.0.1";

/// The address a network handler dials: its `host` when it names one, else the pod IP (the first
/// of podIPs, IPv4 first, as the kubelet's `status.podIP`; the host's address for hostNetwork
/// pods), else 127.0.0.1 when the pod has none (`--network none`, CNI plugins missing), where
/// the pod is reachable only on its loopback ([`loopback_fallback_warning`] says so once).
pub fn probe_host(host: Option<&str>, facts: &RuntimeFacts) -> String {
    match host {
        Some(h) if !h.is_empty() => h.to_string(),
        _ if facts.pod_ip.is_empty() => LOOPBACK.to_string(),
        _ => facts.pod_ip.clone(),
    }
}

/// A network handler that dials the pod IP when the pod has one: httpGet and tcpSocket without
/// `host`, and every grpc check.
fn dials_pod_ip(h: &Handler) -> bool {
    match h {
        Handler::HttpGet { host, .. } | Handler::TcpSocket { host, .. } => {
            host.as_deref().is_none_or(str::is_empty)
        }
        Handler::Grpc { .. } => true,
        Handler::Exec { .. } | Handler::Sleep { .. } | Handler::PortNotFound { .. } => false,
    }
}

/// The message of the one warning event a pod without an address gets when some probe or hook of
/// it would dial the pod IP: those checks dial 127.0.0.1 instead, so a server listening on
/// loopback only passes them here but would fail them on a cluster. `None` when the pod has an
/// address or nothing dials it.
///
/// One event at start, not one per check: the fallback is a property of the pod's network,
/// decided once, and a warning per probe run would bury the events that matter.
pub fn loopback_fallback_warning(plan: &PodPlan, facts: &RuntimeFacts) -> Option<String> {
    if !facts.pod_ip.is_empty() {
        return None;
    }
    let names: Vec<&str> = plan
        .all_containers()
        .filter(|c| {
            [&c.startup_probe, &c.liveness_probe, &c.readiness_probe]
                .into_iter()
                .flatten()
                .map(|p| &p.handler)
                .chain(c.post_start.iter())
                .chain(c.pre_stop.iter())
                .any(dials_pod_ip)
        })
        .map(|c| c.name.as_str())
        .collect();
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "the pod has no IP address (loopback networking only), so the httpGet, tcpSocket and grpc probes and hooks of container(s) {} dial {LOOPBACK} inside the pod instead of the pod IP; a server listening on {LOOPBACK} only passes them here but fails them on a cluster",
        names.join(", ")
    ))
}

impl LinuxRuntime {
    /// Starts a command for a client in the running instance of `req.container` (`tandem
    /// exec`), with the descriptors that came with the request (see [`ExecRequest`]). Returns
    /// the session and, with a terminal, its controlling end for the client.
    pub fn exec_session(
        &self,
        req: &ExecRequest,
        mut fds: Vec<OwnedFd>,
    ) -> Result<(Session, Option<OwnedFd>), String> {
        if req.command.is_empty() {
            return Err("no command given".into());
        }
        if fds.len() != req.descriptors() {
            return Err(format!(
                "expected {} descriptor(s) with the request, got {}",
                req.descriptors(),
                fds.len()
            ));
        }
        let container = self.instance(&req.container)?.container;
        let (stdio, master) = if req.tty {
            let (master, replica) = tandem_runtime::exec::open_terminal(container.pid(), req.size)
                .map_err(|e| format!("cannot open a terminal in the container: {e}"))?;
            (SessionStdio::Terminal(replica), Some(master))
        } else {
            let stderr = fds.pop();
            let stdout = fds.pop();
            let (Some(stdout), Some(stderr)) = (stdout, stderr) else {
                return Err("the request came without its stdout and stderr".into());
            };
            let stdin = fds.pop();
            (
                SessionStdio::Pipes {
                    stdin,
                    stdout,
                    stderr,
                },
                None,
            )
        };
        let session = Session::spawn(
            &self.exe,
            container.bundle(),
            container.init_fd(),
            &req.command,
            stdio,
        )
        .map_err(|e| format!("cannot start the exec helper: {e}"))?;
        Ok((session, master))
    }

    /// The running instance of `container`.
    fn instance(&self, container: &str) -> Result<Instance, String> {
        self.running
            .borrow()
            .iter()
            .find(|((name, _), _)| name == container)
            .map(|(_, i)| i.clone())
            .ok_or_else(|| format!("container {container} is not running"))
    }

    /// An attach session of a client to the running instance of `req.container`, with the
    /// descriptors that came with the request (see [`AttachRequest`]).
    pub fn attach_session(
        &self,
        req: &AttachRequest,
        fds: Vec<OwnedFd>,
    ) -> Result<crate::attach::Session, String> {
        self.instance(&req.container)?.streams.session(req, fds)
    }

    /// A connection to `port` on the pod's loopback, made from inside its network namespace
    /// (`tandem port-forward`), on a thread of its own so the pod's thread never blocks on it.
    pub async fn dial(&self, port: u16) -> Result<OwnedFd, String> {
        let netns = self
            .namespaces
            .borrow()
            .iter()
            .find(|(k, _)| *k == LinuxNamespaceType::Network)
            .map(|(_, p)| p.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let dialled = tandem_runtime::netns::dial_loopback(
                netns.as_deref(),
                port,
                std::time::Duration::from_secs(5),
            );
            let _ = tx.send(dialled);
        });
        match rx.await {
            Ok(Ok(stream)) => Ok(OwnedFd::from(stream)),
            Ok(Err(e)) => Err(format!("dial tcp 127.0.0.1:{port} in the pod: {e}")),
            Err(_) => Err("the dialling thread ended without an answer".into()),
        }
    }

    /// Returns once instance `key` has exited (at once if it has).
    async fn instance_gone(&self, key: &(String, u32)) {
        loop {
            let exited = self.instance_exited.notified();
            tokio::pin!(exited);
            // Registered before the check, so an exit right after it is not missed.
            exited.as_mut().enable();
            if !self.running.borrow().contains_key(key) {
                return;
            }
            exited.await;
        }
    }

    /// An httpGet, tcpSocket or gRPC check from inside the pod's network namespace. With
    /// `instance`, the check ends (an error) when that instance exits.
    async fn net(
        &self,
        req: NetRequest,
        timeout: Option<std::time::Duration>,
        instance: Option<&(String, u32)>,
    ) -> HandlerResult {
        let netns = self
            .namespaces
            .borrow()
            .iter()
            .find(|(k, _)| *k == LinuxNamespaceType::Network)
            .map(|(_, p)| p.clone());
        let args = NetprobeArgs {
            netns,
            request: req,
        };
        let run = tandem_runtime::netprobe::call(&self.exe, &args, timeout);
        let output = match instance {
            Some(key) => tokio::select! {
                out = run => out,
                () = self.instance_gone(key) => {
                    return HandlerResult::Error(format!("container {} exited", key.0));
                }
            },
            None => run.await,
        };
        match output {
            Err(e) => HandlerResult::Error(e),
            Ok(NetOutcome::Success) => HandlerResult::Success,
            Ok(NetOutcome::Warning(m)) => HandlerResult::Warning(m),
            Ok(NetOutcome::Failure(m)) => HandlerResult::Failure(m),
            Ok(NetOutcome::Error(m)) => HandlerResult::Error(m),
        }
    }
}

/// An exec outcome in the prober's terms: exit 0 succeeds, anything else fails with the output.
fn exec_result(kind: HandlerKind, command: &[String], o: ExecOutcome) -> HandlerResult {
    if let Some(e) = o.error {
        return HandlerResult::Error(e);
    }
    if o.timed_out {
        return HandlerResult::Failure(format!("command {:?} timed out", command.join(" ")));
    }
    match o.exit_code {
        Some(0) => HandlerResult::Success,
        Some(code) => {
            let out = o.output.trim_end().to_string();
            if matches!(kind, HandlerKind::PostStart | HandlerKind::PreStop) {
                HandlerResult::Failure(format!(
                    "command '{}' exited with {code}: {out}",
                    command.join(" ")
                ))
            } else {
                HandlerResult::Failure(out)
            }
        }
        None => HandlerResult::Error("the command did not report an exit status".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_api::plan::ContainerRole;

    fn probe(handler: Handler) -> Option<tandem_api::plan::Probe> {
        Some(tandem_api::plan::Probe {
            handler,
            initial_delay_seconds: 0,
            timeout_seconds: 1,
            period_seconds: 10,
            success_threshold: 1,
            failure_threshold: 3,
            termination_grace_period_seconds: None,
        })
    }

    fn facts(pod_ip: &str) -> RuntimeFacts {
        RuntimeFacts {
            pod_ip: pod_ip.into(),
            pod_ips: [pod_ip]
                .iter()
                .filter(|i| !i.is_empty())
                .map(|i| i.to_string())
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn network_handlers_dial_the_pod_ip_and_loopback_only_without_one() {
        assert_eq!(probe_host(None, &facts("10.87.0.5")), "10.87.0.5");
        assert_eq!(probe_host(Some(""), &facts("10.87.0.5")), "10.87.0.5");
        assert_eq!(
            probe_host(Some("db.local"), &facts("10.87.0.5")),
            "db.local"
        );
        assert_eq!(probe_host(None, &facts("")), "127.0.0.1");
        assert_eq!(probe_host(Some("10.0.0.9"), &facts("")), "10.0.0.9");

        let mut web = ContainerPlan::new("web", ContainerRole::Main, "busybox");
        web.readiness_probe = probe(Handler::HttpGet {
            host: None,
            port: 8080,
            path: "/".into(),
            scheme: HttpScheme::Http,
            headers: vec![],
        });
        let mut db = ContainerPlan::new("db", ContainerRole::Main, "busybox");
        db.liveness_probe = probe(Handler::TcpSocket {
            host: Some("127.0.0.1".into()),
            port: 5432,
        });
        db.pre_stop = Some(Handler::Exec {
            command: vec!["true".into()],
        });
        let mut rpc = ContainerPlan::new("rpc", ContainerRole::Main, "busybox");
        rpc.post_start = Some(Handler::Grpc {
            port: 9000,
            service: None,
        });
        let plan = PodPlan::new("p", vec![], vec![web, db, rpc]);
        assert_eq!(loopback_fallback_warning(&plan, &facts("10.87.0.5")), None);
        let warning = loopback_fallback_warning(&plan, &facts("")).expect("a warning");
        // db names its host and runs exec: it is not affected.
        assert!(
            warning.contains("of container(s) web, rpc dial 127.0.0.1"),
            "{warning}"
        );
        let quiet = PodPlan::new(
            "q",
            vec![],
            vec![ContainerPlan::new("c", ContainerRole::Main, "b")],
        );
        assert_eq!(loopback_fallback_warning(&quiet, &facts("")), None);
    }

    #[test]
    fn stop_signal_comes_from_the_pod_then_the_image_then_sigterm() {
        let mut c = ContainerPlan::new("c", ContainerRole::Main, "busybox");
        let mut image = tandem_image::ImageConfig::default();
        assert_eq!(stop_signal(&c, &image), 15);
        image.stop_signal = Some("QUIT".into());
        assert_eq!(stop_signal(&c, &image), 3);
        c.stop_signal = Some("SIGUSR1".into());
        assert_eq!(stop_signal(&c, &image), 10);
        c.stop_signal = None;
        image.stop_signal = Some("SIGNOPE".into());
        assert_eq!(stop_signal(&c, &image), 15);
    }

    #[test]
    fn a_bundle_is_removed_only_after_the_mounts_beneath_it_are_detached() {
        if !nix::unistd::geteuid().is_root() {
            tandem_testkit::skip("bind mounts need root");
            return;
        }
        /// Detaches what the test mounted even when an assertion fails first.
        struct Mounted(Vec<std::path::PathBuf>);
        impl Drop for Mounted {
            fn drop(&mut self) {
                for m in self.0.iter().rev() {
                    let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
                }
            }
        }
        let dir = tempfile::tempdir().expect("tempdir");
        // A shared image layer and a pod's writable layer, as a dead shim leaves them mounted.
        let (layer, upper) = (dir.path().join("layer"), dir.path().join("upper"));
        let bundle = dir.path().join("containers/c-0");
        let (lower, rootfs) = (bundle.join("lower/0"), bundle.join("rootfs"));
        for d in [&layer, &upper, &lower, &rootfs] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(layer.join("bin"), "layer").expect("layer file");
        std::fs::create_dir(upper.join("nested")).expect("nested");
        std::fs::write(upper.join("nested/data"), "pod").expect("upper file");
        let mut mounted = Mounted(vec![]);
        for (source, target) in [
            (&layer, lower.clone()),
            (&upper, rootfs.clone()),
            (&layer, rootfs.join("nested")),
        ] {
            nix::mount::mount(
                Some(source.as_path()),
                &target,
                None::<&str>,
                nix::mount::MsFlags::MS_BIND,
                None::<&str>,
            )
            .expect("bind mount");
            mounted.0.push(target);
        }
        remove_bundle(&bundle);
        assert!(
            tandem_runtime::mounts::mounts_under(&bundle).is_empty(),
            "every mount under the bundle is detached"
        );
        assert!(!bundle.exists(), "the bundle is removed");
        assert_eq!(
            std::fs::read_to_string(layer.join("bin")).expect("the layer's file survives"),
            "layer"
        );
        assert_eq!(
            std::fs::read_to_string(upper.join("nested/data")).expect("the upper file survives"),
            "pod"
        );
    }
}
