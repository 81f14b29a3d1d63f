//! ContainerPlan + image config → OCI runtime spec. Pure: every input arrives as data, so the
//! rules (command and args, env precedence, mounts, namespaces) are table-tested without root.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, Linux, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDevice,
    LinuxDeviceCgroupBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxSeccomp, Mount,
    MountBuilder, Process, ProcessBuilder, RootBuilder, Spec, UserBuilder,
};
use oci_spec::OciSpecError;
use tandem_api::plan::ContainerPlan;
use tandem_image::ImageConfig;

#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error("container {container} has nothing to run: the image sets no Entrypoint or Cmd and the pod sets no command")]
    NoCommand { container: String },
    #[error("container {container}: unknown capability {name:?} (use a name from capabilities(7), with or without CAP_, or ALL)")]
    UnknownCapability { container: String, name: String },
    #[error("cannot build the OCI spec of container {container}")]
    Spec {
        container: String,
        #[source]
        source: oci_spec::OciSpecError,
    },
}

/// A bind mount into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindMount {
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

/// Everything [`build_spec`] needs, resolved by the caller.
#[derive(Debug, Clone)]
pub struct SpecInputs {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub rootfs: PathBuf,
    pub read_only_rootfs: bool,
    pub mounts: Vec<BindMount>,
    /// Namespaces joined by path (the sandbox's network, IPC and UTS).
    pub joined: Vec<(LinuxNamespaceType, PathBuf)>,
    pub cgroups_path: String,
    /// The host's cgroup v1 controller hierarchies
    /// (`tandem_runtime::cgroups::v1_controller_hierarchies`), none on a v2 host: a container
    /// joining a PID namespace it does not own is shown its cgroups from these (see `mounts`).
    pub cgroup_v1_hierarchies: Vec<PathBuf>,
    pub no_new_privileges: bool,
    /// `tty`: the process gets a pseudo-terminal of the container's devpts as its stdio and
    /// controlling terminal, made by the runtime and handed over its console socket.
    pub terminal: bool,
    pub resources: tandem_api::plan::Resources,
    /// `securityContext.privileged`: every capability, no masked or read-only paths, writable
    /// /sys, every device allowed, no seccomp filter.
    pub privileged: bool,
    /// `securityContext.capabilities.add` / `.drop` as written (`ALL`, `NET_ADMIN`, `CAP_CHOWN`).
    pub capabilities_add: Vec<String>,
    pub capabilities_drop: Vec<String>,
    /// The runtime's own bounding set: what "every capability" means on this host (containerd's
    /// rule), so a container never asks for one the kernel would refuse.
    pub host_capabilities: HashSet<Capability>,
    pub seccomp: Seccomp,
    /// Namespaced sysctls (the engine admitted them: safe, of no namespace shared with the host).
    pub sysctls: Vec<(String, String)>,
    /// `procMount: Unmasked`: /proc without masked or read-only paths.
    pub unmasked_proc: bool,
    pub pid: PidNamespace,
    /// Device nodes to create in the container (a privileged container gets the host's, see
    /// [`host_devices`]).
    pub devices: Vec<LinuxDevice>,
}

/// Whose processes the container sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PidNamespace {
    /// Its own (the default): its command is PID 1.
    Private,
    /// The pod's, held by the sandbox (`shareProcessNamespace`).
    Pod(PathBuf),
    /// Another container's (an ephemeral container's `targetContainerName`), by its init's
    /// `/proc/PID/ns/pid`.
    Container(PathBuf),
    /// The host's (`hostPID`).
    Host,
}

/// The seccomp filter of a container.
#[derive(Debug, Clone, PartialEq)]
pub enum Seccomp {
    /// tandem's allowlist ([`crate::seccomp::runtime_default`]) for the container's capabilities.
    RuntimeDefault,
    Unconfined,
    /// A `Localhost` profile, already loaded.
    Profile(Box<oci_spec::runtime::LinuxSeccomp>),
}

/// Requests and limits as cgroup settings, the way the kubelet converts them for the runtime:
/// memory limit → memory.limit (swap equal, so no swap); CPU limit → CFS quota; CPU request →
/// shares (1024 per core, at least 2).
pub fn linux_resources(
    r: &tandem_api::plan::Resources,
) -> Result<oci_spec::runtime::LinuxResources, oci_spec::OciSpecError> {
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};
    let mut b = LinuxResourcesBuilder::default().devices(Vec::new());
    if let Some(mem) = r.limits.memory_bytes {
        let mem = mem.min(i64::MAX as u64) as i64;
        b = b.memory(LinuxMemoryBuilder::default().limit(mem).swap(mem).build()?);
    }
    let mut cpu = LinuxCpuBuilder::default();
    let mut any_cpu = false;
    use tandem_kubelet::resources::{milli_cpu_to_quota, milli_cpu_to_shares, CPU_PERIOD_US};
    if let Some(req) = r.requests.cpu_millis.or(r.limits.cpu_millis) {
        cpu = cpu.shares(milli_cpu_to_shares(req));
        any_cpu = true;
    }
    if let Some(lim) = r.limits.cpu_millis {
        cpu = cpu
            .quota(milli_cpu_to_quota(lim).min(i64::MAX as u64) as i64)
            .period(CPU_PERIOD_US);
        any_cpu = true;
    }
    if any_cpu {
        b = b.cpu(cpu.build()?);
    }
    b.build()
}

/// The process arguments by Kubernetes' rules (docs/kubelet-rules.md §6.4): `command` replaces the
/// image Entrypoint and drops its Cmd; `args` replace Cmd; both are `$(VAR)`-expanded against the
/// container's final environment.
pub fn command_line(
    c: &ContainerPlan,
    image: &ImageConfig,
    env: &[(String, String)],
) -> Result<Vec<String>, TranslateError> {
    let lookup = |name: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let expand = |v: &Vec<String>| -> Vec<String> {
        v.iter()
            .map(|s| tandem_api::env::expand(s, lookup))
            .collect()
    };
    let argv = match (&c.command, &c.args) {
        (Some(cmd), args) => {
            let mut v = expand(cmd);
            v.extend(args.as_ref().map(expand).unwrap_or_default());
            v
        }
        (None, Some(args)) => {
            let mut v = image.entrypoint.clone().unwrap_or_default();
            v.extend(expand(args));
            v
        }
        (None, None) => {
            let mut v = image.entrypoint.clone().unwrap_or_default();
            v.extend(image.cmd.clone().unwrap_or_default());
            v
        }
    };
    if argv.is_empty() {
        return Err(TranslateError::NoCommand {
            container: c.name.clone(),
        });
    }
    Ok(argv)
}

/// The image's environment overlaid by the pod's (the pod wins on duplicate names), in order.
pub fn merge_env(image_env: &[String], pod_env: Vec<(String, String)>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = image_env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    for (k, v) in pod_env {
        match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
}

/// containerd's default capability set for a non-privileged container (RuntimeDefault).
pub const DEFAULT_CAPABILITIES: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Every capability oci-spec knows, `CAP_CHOWN` (0) to `CAP_CHECKPOINT_RESTORE` (40).
pub const ALL_CAPABILITIES: &[Capability] = &[
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::Kill,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setpcap,
    Capability::LinuxImmutable,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetAdmin,
    Capability::NetRaw,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::SysModule,
    Capability::SysRawio,
    Capability::SysChroot,
    Capability::SysPtrace,
    Capability::SysPacct,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysNice,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Mknod,
    Capability::Lease,
    Capability::AuditWrite,
    Capability::AuditControl,
    Capability::Setfcap,
    Capability::MacOverride,
    Capability::MacAdmin,
    Capability::Syslog,
    Capability::WakeAlarm,
    Capability::BlockSuspend,
    Capability::AuditRead,
    Capability::Perfmon,
    Capability::Bpf,
    Capability::CheckpointRestore,
];

/// The capabilities of a kernel bit mask (as in `CapBnd:` of /proc/PID/status).
pub fn capabilities_from_mask(mask: u64) -> HashSet<Capability> {
    ALL_CAPABILITIES
        .iter()
        .enumerate()
        .filter(|(bit, _)| mask & (1u64 << bit) != 0)
        .map(|(_, c)| *c)
        .collect()
}

/// A capability name as Kubernetes accepts it: any case, with or without `CAP_`.
pub fn parse_capability(name: &str) -> Option<Capability> {
    let upper = name.trim().to_ascii_uppercase();
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    bare.parse().ok()
}

/// The container's capability set, as containerd computes it: the default set (everything when
/// privileged); `add: [ALL]` makes it everything, `drop: [ALL]` empties it; then the named
/// additions, then the named drops.
/// Everything is limited to `host`, the runtime's own bounding set.
pub fn capability_set(
    container: &str,
    privileged: bool,
    add: &[String],
    drop: &[String],
    host: &HashSet<Capability>,
) -> Result<HashSet<Capability>, TranslateError> {
    let all = || host.clone();
    if privileged {
        return Ok(all());
    }
    let is_all = |n: &String| n.trim().eq_ignore_ascii_case("ALL");
    let parse = |n: &String| {
        parse_capability(n).ok_or_else(|| TranslateError::UnknownCapability {
            container: container.to_string(),
            name: n.clone(),
        })
    };
    let mut caps: HashSet<Capability> = DEFAULT_CAPABILITIES.iter().copied().collect();
    if add.iter().any(is_all) {
        caps = all();
    }
    if drop.iter().any(is_all) {
        caps.clear();
    }
    for n in add.iter().filter(|n| !is_all(n)) {
        caps.insert(parse(n)?);
    }
    for n in drop.iter().filter(|n| !is_all(n)) {
        caps.remove(&parse(n)?);
    }
    caps.retain(|c| host.contains(c));
    Ok(caps)
}

pub fn build_spec(container: &str, inputs: &SpecInputs) -> Result<Spec, TranslateError> {
    let caps = capability_set(
        container,
        inputs.privileged,
        &inputs.capabilities_add,
        &inputs.capabilities_drop,
        &inputs.host_capabilities,
    )?;
    let err = |source| TranslateError::Spec {
        container: container.to_string(),
        source,
    };
    let seccomp = match (&inputs.seccomp, inputs.privileged) {
        // containerd applies no filter to a privileged container.
        (_, true) | (Seccomp::Unconfined, _) => None,
        (Seccomp::RuntimeDefault, false) => {
            Some(crate::seccomp::runtime_default(&caps).map_err(err)?)
        }
        (Seccomp::Profile(p), false) => Some((**p).clone()),
    };
    let mut spec = Spec::default();
    spec.set_hostname(None);
    spec.set_process(Some(process(inputs, caps).map_err(err)?));
    spec.set_root(Some(
        RootBuilder::default()
            .path(inputs.rootfs.clone())
            .readonly(inputs.read_only_rootfs)
            .build()
            .map_err(err)?,
    ));
    spec.set_linux(Some(linux(inputs, seccomp).map_err(err)?));
    spec.set_mounts(Some(mounts(inputs).map_err(err)?));
    Ok(spec)
}

/// The container's process: command, environment, working directory, ids and capabilities.
fn process(inputs: &SpecInputs, caps: HashSet<Capability>) -> Result<Process, OciSpecError> {
    // Inheritable and ambient stay empty, as containerd sets them (CVE-2022-24769); oci-spec's
    // builder would otherwise fill them with its own defaults, capabilities that may not even be
    // in the bounding set.
    let capabilities = LinuxCapabilitiesBuilder::default()
        .inheritable(HashSet::new())
        .ambient(HashSet::new())
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps)
        .build()?;
    let user = UserBuilder::default()
        .uid(inputs.uid)
        .gid(inputs.gid)
        .additional_gids(inputs.additional_gids.clone())
        .build()?;
    let mut process = ProcessBuilder::default()
        .args(inputs.args.clone())
        .env(
            inputs
                .env
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )
        .cwd(inputs.cwd.clone())
        .terminal(inputs.terminal)
        .user(user)
        .capabilities(capabilities)
        .build()?;
    // Unset rather than `false`: libcontainer loads the seccomp filter while it still holds
    // CAP_SYS_ADMIN only when no_new_privileges is absent.
    process.set_no_new_privileges(inputs.no_new_privileges.then_some(true));
    Ok(process)
}

/// The container's own cgroup v1 directories as libcontainer would show them: a tmpfs at
/// /sys/fs/cgroup and, read-only, each controller hierarchy's directory of the container at the
/// hierarchy's name (`cpu,cpuacct`) and at each of its controllers' (`cpu`, `cpuacct`), where
/// the host has symbolic links.
fn own_cgroups(inputs: &SpecInputs, root: &Path) -> Result<Vec<Mount>, OciSpecError> {
    let flags = |extra: &[&str]| -> Vec<String> {
        ["nosuid", "noexec", "nodev"]
            .iter()
            .chain(extra)
            .map(|o| o.to_string())
            .collect()
    };
    let mut out = vec![MountBuilder::default()
        .destination(root)
        .typ("tmpfs")
        .source("tmpfs")
        .options(flags(&["mode=755"]))
        .build()?];
    let own = inputs.cgroups_path.trim_start_matches('/');
    for hierarchy in &inputs.cgroup_v1_hierarchies {
        let Some(name) = hierarchy.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let mut names = vec![name.to_string()];
        if name.contains(',') {
            names.extend(name.split(',').map(str::to_string));
        }
        for n in names {
            out.push(
                MountBuilder::default()
                    .destination(root.join(n))
                    .typ("bind")
                    .source(hierarchy.join(own))
                    .options(flags(&["rbind", "rprivate", "ro"]))
                    .build()?,
            );
        }
    }
    Ok(out)
}

/// The Linux part: namespaces (its own mount and pid namespaces, the pod's others), masked and
/// read-only paths, cgroup resources and devices, sysctls, the seccomp filter.
fn linux(inputs: &SpecInputs, seccomp: Option<LinuxSeccomp>) -> Result<Linux, OciSpecError> {
    let namespace = |typ, path: Option<&PathBuf>| {
        let mut b = LinuxNamespaceBuilder::default().typ(typ);
        if let Some(path) = path {
            b = b.path(path.clone());
        }
        b.build()
    };
    let mut namespaces = vec![namespace(LinuxNamespaceType::Mount, None)?];
    match &inputs.pid {
        PidNamespace::Host => {}
        PidNamespace::Private => namespaces.push(namespace(LinuxNamespaceType::Pid, None)?),
        PidNamespace::Pod(path) | PidNamespace::Container(path) => {
            namespaces.push(namespace(LinuxNamespaceType::Pid, Some(path))?);
        }
    }
    for (typ, path) in &inputs.joined {
        namespaces.push(namespace(*typ, Some(path))?);
    }
    let linux_defaults = Spec::default().linux().clone().unwrap_or_default();
    let unmasked = inputs.privileged || inputs.unmasked_proc;
    let (masked, readonly) = if unmasked {
        (vec![], vec![])
    } else {
        let mut masked = linux_defaults.masked_paths().clone().unwrap_or_default();
        // containerd also masks the RAPL energy counters (CVE-2020-8694, "Platypus"), which
        // the OCI defaults predate.
        masked.push("/sys/devices/virtual/powercap".into());
        (
            masked,
            linux_defaults.readonly_paths().clone().unwrap_or_default(),
        )
    };
    let mut resources = linux_resources(&inputs.resources)?;
    if inputs.privileged {
        resources.set_devices(Some(vec![LinuxDeviceCgroupBuilder::default()
            .allow(true)
            .access("rwm")
            .build()?]));
    }
    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces)
        .cgroups_path(PathBuf::from(&inputs.cgroups_path))
        .masked_paths(masked)
        .readonly_paths(readonly)
        .resources(resources)
        .sysctl(inputs.sysctls.iter().cloned().collect::<HashMap<_, _>>())
        .build()?;
    linux.set_seccomp(seccomp);
    if !inputs.devices.is_empty() {
        linux.set_devices(Some(inputs.devices.clone()));
    }
    Ok(linux)
}

/// The runtime's default mounts minus /dev/shm (containers share the pod's: one IPC namespace),
/// then the volumes and the pod's files as bind mounts.
fn mounts(inputs: &SpecInputs) -> Result<Vec<Mount>, OciSpecError> {
    let cgroup_root = PathBuf::from("/sys/fs/cgroup");
    // A container joining a PID namespace it does not own (the pod's shared one, or an
    // ephemeral container's target's) on a cgroup v1 host gets its cgroups mounted from the
    // spec, not by libcontainer: libcontainer 0.7 looks its init's pid (a pid of the joined
    // namespace) up in the host's /proc to find them, where that pid names another process or
    // none, and the create fails (`Procfs(NotFound("/proc/9"))`).
    let emulated = !inputs.cgroup_v1_hierarchies.is_empty()
        && matches!(
            inputs.pid,
            PidNamespace::Pod(_) | PidNamespace::Container(_)
        );
    let mut mounts = vec![];
    for mut m in Spec::default().mounts().clone().unwrap_or_default() {
        if m.destination() == &PathBuf::from("/dev/shm") {
            continue;
        }
        if emulated && m.destination() == &cgroup_root {
            mounts.extend(own_cgroups(inputs, &cgroup_root)?);
            continue;
        }
        // A privileged container gets a writable /sys.
        if inputs.privileged && m.destination() == &PathBuf::from("/sys") {
            let options = m.options().clone().unwrap_or_default();
            m.set_options(Some(options.into_iter().filter(|o| o != "ro").collect()));
        }
        mounts.push(m);
    }
    for m in &inputs.mounts {
        let mut options = vec!["rbind".to_string(), "rprivate".to_string()];
        if m.read_only {
            options.push("ro".into());
        }
        mounts.push(
            MountBuilder::default()
                .destination(m.destination.clone())
                .typ("bind")
                .source(m.source.clone())
                .options(options)
                .build()?,
        );
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_api::plan::*;

    fn c(command: Option<&[&str]>, args: Option<&[&str]>) -> ContainerPlan {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut c = ContainerPlan::new("app", ContainerRole::Main, "busybox");
        c.command = command.map(v);
        c.args = args.map(v);
        c
    }

    fn image() -> ImageConfig {
        ImageConfig {
            entrypoint: Some(vec!["/entry".into()]),
            cmd: Some(vec!["default-arg".into()]),
            ..Default::default()
        }
    }

    #[test]
    fn command_and_args_follow_kubernetes_rules() {
        let env = vec![("NAME".to_string(), "world".to_string())];
        let run = |cmd, args| command_line(&c(cmd, args), &image(), &env).expect("argv");
        assert_eq!(run(None, None), ["/entry", "default-arg"]);
        assert_eq!(run(None, Some(&["$(NAME)"])), ["/entry", "world"]);
        assert_eq!(run(Some(&["/bin/echo"]), None), ["/bin/echo"]);
        assert_eq!(
            run(
                Some(&["/bin/echo", "hi $(NAME)"]),
                Some(&["$(MISSING)", "$$(NAME)"])
            ),
            ["/bin/echo", "hi world", "$(MISSING)", "$(NAME)"]
        );
    }

    #[test]
    fn an_image_without_command_and_a_pod_without_one_is_an_error() {
        let err =
            command_line(&c(None, None), &ImageConfig::default(), &[]).expect_err("no command");
        assert!(err.to_string().contains("has nothing to run"));
    }

    #[test]
    fn pod_env_overrides_image_env_in_place() {
        let merged = merge_env(
            &["PATH=/bin".into(), "A=1".into()],
            vec![("A".into(), "2".into()), ("B".into(), "3".into())],
        );
        assert_eq!(
            merged,
            [
                ("PATH".into(), "/bin".into()),
                ("A".into(), "2".into()),
                ("B".into(), "3".into())
            ]
        );
    }

    #[test]
    fn requests_and_limits_become_cgroup_settings_as_the_kubelet_sets_them() {
        let mut r = Resources::default();
        r.requests.cpu_millis = Some(250);
        r.limits.cpu_millis = Some(500);
        r.limits.memory_bytes = Some(64 << 20);
        let res = linux_resources(&r).expect("resources");
        let mem = res.memory().expect("memory");
        assert_eq!((mem.limit(), mem.swap()), (Some(64 << 20), Some(64 << 20)));
        let cpu = res.cpu().clone().expect("cpu");
        assert_eq!(
            (cpu.shares(), cpu.quota(), cpu.period()),
            (Some(256), Some(50_000), Some(100_000))
        );
        // A tiny request still gets the kernel's minimum weight; no limits means no caps.
        let mut small = Resources::default();
        small.requests.cpu_millis = Some(1);
        let res = linux_resources(&small).expect("resources");
        assert_eq!(res.cpu().clone().and_then(|c| c.shares()), Some(2));
        assert!(res.memory().is_none() && res.cpu().clone().and_then(|c| c.quota()).is_none());
    }

    #[test]
    fn capabilities_follow_containerds_add_and_drop_rules() {
        let host: HashSet<Capability> = ALL_CAPABILITIES.iter().copied().collect();
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let set =
            |add: &[&str], drop: &[&str]| capability_set("c", false, &v(add), &v(drop), &host);
        let default: HashSet<Capability> = DEFAULT_CAPABILITIES.iter().copied().collect();
        assert_eq!(set(&[], &[]).expect("caps"), default);
        assert_eq!(
            set(&["net_admin"], &["ALL"]).expect("caps"),
            [Capability::NetAdmin].into_iter().collect()
        );
        let all_but = set(&["ALL"], &["CAP_SYS_ADMIN"]).expect("caps");
        assert_eq!(all_but.len(), ALL_CAPABILITIES.len() - 1);
        assert!(!all_but.contains(&Capability::SysAdmin));
        assert!(set(&["NOT_A_CAP"], &[]).is_err());
        // Nothing beyond what the runtime holds, even for privileged.
        let small: HashSet<Capability> = [Capability::Chown].into_iter().collect();
        assert_eq!(
            capability_set("c", true, &[], &[], &small).expect("caps"),
            small
        );
        assert_eq!(capabilities_from_mask(0xa80425fb), default);
    }

    #[test]
    fn spec_joins_sandbox_namespaces_and_shares_dev_shm() {
        let inputs = SpecInputs {
            args: vec!["/bin/true".into()],
            env: vec![],
            cwd: "/".into(),
            uid: 1000,
            gid: 1000,
            additional_gids: vec![2000],
            rootfs: "/r".into(),
            read_only_rootfs: false,
            mounts: vec![BindMount {
                source: "/pod/shm".into(),
                destination: "/dev/shm".into(),
                read_only: false,
            }],
            joined: vec![(LinuxNamespaceType::Network, "/proc/1/ns/net".into())],
            cgroups_path: "/tandem/u/app-0".into(),
            cgroup_v1_hierarchies: vec![],
            no_new_privileges: false,
            terminal: false,
            resources: Resources::default(),
            privileged: false,
            capabilities_add: vec![],
            capabilities_drop: vec![],
            host_capabilities: ALL_CAPABILITIES.iter().copied().collect(),
            seccomp: Seccomp::RuntimeDefault,
            sysctls: vec![],
            unmasked_proc: false,
            pid: PidNamespace::Private,
            devices: vec![],
        };
        let spec = build_spec("app", &inputs).expect("spec");
        let linux = spec.linux().clone().expect("linux");
        let ns = linux.namespaces().clone().expect("namespaces");
        assert!(ns
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_some()));
        assert!(ns
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Pid && n.path().is_none()));
        let shm: Vec<_> = spec
            .mounts()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| m.destination() == &PathBuf::from("/dev/shm"))
            .collect();
        assert_eq!(shm.len(), 1);
        assert_eq!(shm[0].source().clone(), Some(PathBuf::from("/pod/shm")));
        assert_eq!(spec.process().as_ref().map(|p| p.user().uid()), Some(1000));
        // RuntimeDefault: a filter; masked /proc paths; no no_new_privs unless asked.
        assert!(
            linux.seccomp().is_some()
                && !linux.masked_paths().clone().unwrap_or_default().is_empty()
        );
        assert_eq!(
            spec.process().as_ref().and_then(|p| p.no_new_privileges()),
            None
        );

        // The cgroup filesystem's mounts: (destination, type, source).
        let cgroupfs = |spec: &Spec| -> Vec<(String, String, String)> {
            spec.mounts()
                .iter()
                .flatten()
                .filter(|m| m.destination().starts_with("/sys/fs/cgroup"))
                .map(|m| {
                    let text = |p: Option<&Path>| p.map(|p| p.display().to_string());
                    (
                        m.destination().display().to_string(),
                        m.typ().clone().unwrap_or_default(),
                        text(m.source().as_deref()).unwrap_or_default(),
                    )
                })
                .collect()
        };
        let runtimes = vec![(
            "/sys/fs/cgroup".to_string(),
            "cgroup".to_string(),
            "cgroup".to_string(),
        )];
        assert_eq!(cgroupfs(&spec), runtimes);
        // Another container's PID namespace (an ephemeral container's target): joined by path;
        // on a v1 host its own cgroups mounted from the spec (see `mounts`), on a v2 host the
        // runtime's cgroup filesystem.
        let v1 = vec![
            PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
            PathBuf::from("/sys/fs/cgroup/memory"),
        ];
        let debug = SpecInputs {
            pid: PidNamespace::Container("/proc/42/ns/pid".into()),
            terminal: true,
            cgroup_v1_hierarchies: v1.clone(),
            ..inputs.clone()
        };
        let spec = build_spec("debugger", &debug).expect("spec");
        let ns = spec.linux().clone().and_then(|l| l.namespaces().clone());
        assert!(ns
            .iter()
            .flatten()
            .any(|n| n.typ() == LinuxNamespaceType::Pid
                && n.path().as_deref() == Some(std::path::Path::new("/proc/42/ns/pid"))));
        let own = |at: &str, hierarchy: &str| {
            (
                format!("/sys/fs/cgroup/{at}"),
                "bind".to_string(),
                format!("/sys/fs/cgroup/{hierarchy}/tandem/u/app-0"),
            )
        };
        assert_eq!(
            cgroupfs(&spec),
            vec![
                (
                    "/sys/fs/cgroup".to_string(),
                    "tmpfs".to_string(),
                    "tmpfs".to_string()
                ),
                own("cpu,cpuacct", "cpu,cpuacct"),
                own("cpu", "cpu,cpuacct"),
                own("cpuacct", "cpu,cpuacct"),
                own("memory", "memory"),
            ]
        );
        let shared = SpecInputs {
            pid: PidNamespace::Pod("/proc/7/ns/pid_for_children".into()),
            cgroup_v1_hierarchies: v1,
            ..inputs.clone()
        };
        assert_eq!(
            cgroupfs(&build_spec("app", &shared).expect("spec")).len(),
            5
        );
        let v2 = SpecInputs {
            pid: PidNamespace::Container("/proc/42/ns/pid".into()),
            ..inputs.clone()
        };
        assert_eq!(cgroupfs(&build_spec("app", &v2).expect("spec")), runtimes);
        assert_eq!(
            spec.process().as_ref().map(|p| p.terminal()),
            Some(Some(true))
        );

        let privileged = SpecInputs {
            privileged: true,
            ..inputs
        };
        let spec = build_spec("app", &privileged).expect("spec");
        let linux = spec.linux().clone().expect("linux");
        assert!(linux.seccomp().is_none());
        assert!(linux.masked_paths().clone().unwrap_or_default().is_empty());
        assert!(linux
            .readonly_paths()
            .clone()
            .unwrap_or_default()
            .is_empty());
        let sys = spec
            .mounts()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.destination() == &PathBuf::from("/sys"))
            .expect("/sys");
        assert!(!sys
            .options()
            .clone()
            .unwrap_or_default()
            .contains(&"ro".to_string()));
    }
}
