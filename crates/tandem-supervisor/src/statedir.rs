//! Where tandem keeps things on disk.
//!
//! ```text
//! <root>/images/                    the image store (tandem-image)
//! <root>/pods/.new-<namespace>_<name>-<pid>/   a pod `tandem run` (process <pid>) is still
//!                                   preparing; renamed to its name once complete (see [`Store::claim`])
//! <root>/pods/<namespace>_<name>/   one pod:
//!     pod.json        the v1 Pod with its status, rewritten atomically as it changes
//!     plan.json       the PodPlan the supervisor runs
//!     pull.json       registry settings and imagePullSecrets for its pulls (0600)
//!     events.jsonl    one PodEvent per line
//!     supervisor.pid  the supervisor's process id while it runs
//!     control.sock    the supervisor's control socket
//!     supervisor.log  what the supervisor printed (its own errors only)
//!     supervisor-died.json  why the supervisor died, when it panicked ([`SupervisorDeath`])
//!     logs/<container>/<restartCount>.log   CRI-format container logs
//!     volumes/<name>/ emptyDir, configMap, secret, downwardAPI and projected volumes
//!     etc-hosts, hostname, resolv.conf, shm/   files and the /dev/shm tmpfs every container shares
//!     network-request.json  the network and `-p` ports `run` asked for; network.json  the CNI attachment (for DEL)
//!     containers/<name>-<attempt>/          OCI bundle: config.json, shim.json, rootfs, upper, work
//!     runtime/        libcontainer's state for this pod's containers
//! <root>/{pods,workloads,services}/.gone-<pid>-<n>/   a directory process <pid> is removing,
//!                                   already out of its name (see [`remove_whole`])
//! <root>/workloads/<namespace>_<kind>_<name>/   one workload and its controller's files
//! <root>/services/<namespace>_<name>/  one Service: service.json, endpointslices.json
//! <root>/services/cluster-dns.json   the store's cluster DNS address, while it has pods or Services
//! <root>/services/proxy.lock, proxy.pid, proxy.log, proxy.table, proxy.sock   the store's proxy
//!                                   (Services, cluster DNS), its nftables table's name, its wake-up
//! ```
//! Defaults: images and volumes under /var/lib/tandem, pods, workloads and services under
//! /run/tandem; `--root DIR` puts them all under DIR.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Store {
    pub images: PathBuf,
    pub pods: PathBuf,
    /// One directory per workload (its object, status and controller).
    pub workloads: PathBuf,
    /// Directories that outlive pods: a StatefulSet's claim templates.
    pub volumes: PathBuf,
    /// One directory per Service (its object and endpoints), and the proxy's lock and log.
    pub services: PathBuf,
    /// `tandem serve`'s certificates, token, kubeconfig, lock and log (kept across reboots, so
    /// a kubeconfig handed out stays good).
    pub serve: PathBuf,
    /// Objects kept for others to use: ConfigMaps and Secrets made through the API
    /// (`configmaps/NS_NAME.json`, `secrets/NS_NAME.json`).
    pub objects: PathBuf,
}

impl Store {
    pub fn new(root: Option<&Path>) -> Self {
        match root {
            Some(r) => Store {
                images: r.join("images"),
                pods: r.join("pods"),
                workloads: r.join("workloads"),
                volumes: r.join("volumes"),
                services: r.join("services"),
                serve: r.join("serve"),
                objects: r.join("objects"),
            },
            None => Store {
                images: "/var/lib/tandem/images".into(),
                pods: "/run/tandem/pods".into(),
                workloads: "/run/tandem/workloads".into(),
                volumes: "/var/lib/tandem/volumes".into(),
                services: "/run/tandem/services".into(),
                serve: "/var/lib/tandem/serve".into(),
                objects: "/run/tandem/objects".into(),
            },
        }
    }

    pub fn pod(&self, namespace: &str, name: &str) -> PodDir {
        PodDir {
            root: self.pods.join(dir_name(namespace, name)),
        }
    }

    /// Where this process prepares a new pod: out of [`Store::list`]'s sight until
    /// [`Store::claim`] gives it its name, so a `run` killed half-way leaves no half-made pod.
    pub fn staging(&self, namespace: &str, name: &str) -> PodDir {
        PodDir {
            root: self.pods.join(format!(
                "{STAGING_PREFIX}{}-{}",
                dir_name(namespace, name),
                std::process::id()
            )),
        }
    }

    /// Gives a prepared pod directory its name, atomically and only if no pod has it
    /// (renameat2(2) with RENAME_NOREPLACE): the claim on the name. Fails with
    /// `ErrorKind::AlreadyExists` when the name is taken, leaving `staged` as it is.
    pub fn claim(&self, staged: &PodDir, namespace: &str, name: &str) -> std::io::Result<PodDir> {
        let dir = self.pod(namespace, name);
        match nix::fcntl::renameat2(
            None,
            &staged.root,
            None,
            &dir.root,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Ok(()) => Ok(dir),
            // A filesystem without RENAME_NOREPLACE: rename(2) onto a missing name, which
            // fails on a pod directory already there (it is never empty).
            Err(nix::Error::EINVAL) => std::fs::rename(&staged.root, &dir.root)
                .map(|()| dir)
                .map_err(|e| match e.raw_os_error() {
                    Some(nix::libc::ENOTEMPTY) => {
                        std::io::Error::from(std::io::ErrorKind::AlreadyExists)
                    }
                    _ => e,
                }),
            Err(e) => Err(std::io::Error::from(e)),
        }
    }

    /// Removes what processes that died half-way left: pods a `run` was preparing before
    /// [`Store::claim`], and pod, workload and Service directories [`remove_whole`] had taken
    /// out of their names but not yet removed.
    pub fn sweep_leftovers(&self) {
        for parent in [&self.pods, &self.workloads, &self.services] {
            for e in std::fs::read_dir(parent).into_iter().flatten().flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                // `.new-<dir name>-<pid>` and `.gone-<pid>-<n>`.
                let pid = match name.strip_prefix(STAGING_PREFIX) {
                    Some(rest) => rest.rsplit_once('-').map(|(_, pid)| pid),
                    None => name
                        .strip_prefix(REMOVING_PREFIX)
                        .and_then(|rest| rest.split_once('-'))
                        .map(|(pid, _)| pid),
                };
                let Some(pid) = pid.and_then(|pid| pid.parse::<i32>().ok()) else {
                    continue;
                };
                if !tandem_runtime::process::is_alive(pid) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
    }

    /// Every pod directory, sorted by name; none when the store has no pods directory yet. A
    /// directory that cannot be read (another user's store, `--root` naming a file) is an error,
    /// never an empty list.
    pub fn list(&self) -> std::io::Result<Vec<PodDir>> {
        let rd = match std::fs::read_dir(&self.pods) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
            other => other?,
        };
        let mut dirs = vec![];
        for e in rd {
            let e = e?;
            if !e.file_name().to_string_lossy().starts_with('.') && e.file_type()?.is_dir() {
                dirs.push(PodDir { root: e.path() });
            }
        }
        dirs.sort_by(|a, b| a.root.cmp(&b.root));
        Ok(dirs)
    }
}

/// The name prefix of a pod directory still being prepared ([`Store::staging`]).
const STAGING_PREFIX: &str = ".new-";

/// The name prefix of a directory being removed ([`remove_whole`]).
const REMOVING_PREFIX: &str = ".gone-";

/// Removes a pod's, workload's or Service's directory as one step for everyone reading the
/// store: it is first renamed out of its name (rename(2) is atomic), so that the name is free
/// at once for a new object and no listing ever sees a half-removed one (a directory whose
/// object file is gone while the directory still holds the name), then removed. A process
/// killed in between leaves a `.gone-PID-N` directory, out of every listing's sight, that
/// [`Store::sweep_leftovers`] takes away. Removing a directory that is not there is no error.
pub fn remove_whole(dir: &Path) -> std::io::Result<()> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let gone = dir.with_file_name(format!("{REMOVING_PREFIX}{}-{n}", std::process::id()));
    let target = match std::fs::rename(dir, &gone) {
        Ok(()) => gone,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        // A directory that cannot move (a mount point: EBUSY) is removed where it is.
        Err(_) => dir.to_path_buf(),
    };
    match std::fs::remove_dir_all(&target) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The longest pod directory name written out in full. A namespace (63) and a pod name (253) may
/// together pass NAME_MAX (255 bytes); longer ones keep their start and add a hash of the whole,
/// leaving room for the staging prefix and a pid.
const DIR_NAME_MAX: usize = 200;

/// The file an object kept in the store is (`objects/configmaps/default_app.json`): `objects`
/// is [`Store::objects`], `resource` the kind's directory (its plural, qualified by its group).
pub fn kept_file(objects: &Path, resource: &str, namespace: &str, name: &str) -> PathBuf {
    objects
        .join(resource)
        .join(format!("{}.json", dir_name(namespace, name)))
}

/// `<namespace>_<name>`, or for a pair too long for a file name, its first 183 bytes, `~` and
/// the 16 hex digits of its FNV-1a hash: stable across builds and versions, as the name of a
/// directory that outlives them must be. (Workload directories are named the same way.)
pub fn dir_name(namespace: &str, name: &str) -> String {
    let full = format!("{namespace}_{name}");
    if full.len() <= DIR_NAME_MAX {
        return full;
    }
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let keep = (0..=DIR_NAME_MAX - 17)
        .rev()
        .find(|i| full.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}~{hash:016x}", &full[..keep])
}

/// Where a pod's control socket can be reached: its path, or, when that is longer than a socket
/// address holds (108 bytes with the NUL, unix(7)), the same file through an open descriptor of
/// the pod directory, `/proc/self/fd/N/control.sock`, which is short wherever the store is.
pub struct SocketAddr {
    path: PathBuf,
    /// Keeps the descriptor the path goes through open.
    _dir: Option<std::fs::File>,
}

impl SocketAddr {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `sun_path` holds 108 bytes, the terminating NUL included.
const SUN_PATH_MAX: usize = 107;

#[derive(Debug, Clone)]
pub struct PodDir {
    pub root: PathBuf,
}

impl PodDir {
    pub fn open(root: impl Into<PathBuf>) -> Self {
        PodDir { root: root.into() }
    }
    pub fn pod_json(&self) -> PathBuf {
        self.root.join("pod.json")
    }
    pub fn plan_json(&self) -> PathBuf {
        self.root.join("plan.json")
    }
    /// Registry settings for the pod's pulls (`tandem_image::PullSettings`, mode 0600).
    pub fn pull_json(&self) -> PathBuf {
        self.root.join("pull.json")
    }
    /// Where the store keeps the ConfigMap or Secret `name` of `namespace`
    /// ([`Store::objects`], a sibling of the pods' directory in either layout of [`Store::new`]):
    /// what a container whose references were not at hand reads when it is created.
    pub fn kept_object(
        &self,
        kind: tandem_api::plan::ObjectKind,
        namespace: &str,
        name: &str,
    ) -> PathBuf {
        kept_file(&self.store_objects(), kind.plural(), namespace, name)
    }
    /// Where the store keeps the ServiceAccount `name` of `namespace`.
    pub fn kept_account(&self, namespace: &str, name: &str) -> PathBuf {
        kept_file(&self.store_objects(), "serviceaccounts", namespace, name)
    }
    /// [`Store::objects`] of the pod's store.
    fn store_objects(&self) -> PathBuf {
        let store = self
            .root
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("/"));
        store.join("objects")
    }
    pub fn events(&self) -> PathBuf {
        self.root.join("events.jsonl")
    }
    pub fn pid_file(&self) -> PathBuf {
        self.root.join("supervisor.pid")
    }
    /// The control socket's path; to bind or connect, use [`PodDir::socket_addr`].
    pub fn socket(&self) -> PathBuf {
        self.root.join("control.sock")
    }
    pub fn supervisor_log(&self) -> PathBuf {
        self.root.join("supervisor.log")
    }
    pub fn logs(&self, container: &str) -> PathBuf {
        self.root.join("logs").join(container)
    }
    pub fn log_file(&self, container: &str, restart: u32) -> PathBuf {
        self.logs(container).join(format!("{restart}.log"))
    }
    pub fn volume(&self, name: &str) -> PathBuf {
        self.root.join("volumes").join(name)
    }
    pub fn bundle(&self, container: &str, attempt: u32) -> PathBuf {
        self.root
            .join("containers")
            .join(format!("{container}-{attempt}"))
    }
    pub fn runtime_state(&self) -> PathBuf {
        self.root.join("runtime")
    }
    pub fn etc_file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }
    /// Where volumeMount `index` of `container` with a subPath is pinned (a bind mount).
    pub fn sub_path(&self, container: &str, index: usize) -> PathBuf {
        self.root
            .join("subpaths")
            .join(container)
            .join(index.to_string())
    }
    pub fn shm(&self) -> PathBuf {
        self.root.join("shm")
    }

    pub fn death_record(&self) -> PathBuf {
        self.root.join("supervisor-died.json")
    }

    /// Why the supervisor died, if it recorded it ([`SupervisorDeath::record_on_panic`]).
    pub fn supervisor_death(&self) -> Option<SupervisorDeath> {
        serde_json::from_slice(&std::fs::read(self.death_record()).ok()?).ok()
    }

    /// The control socket's address for bind(2) and connect(2) (see [`SocketAddr`]).
    pub fn socket_addr(&self) -> std::io::Result<SocketAddr> {
        let path = self.socket();
        if path.as_os_str().len() <= SUN_PATH_MAX {
            return Ok(SocketAddr { path, _dir: None });
        }
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(&self.root)?;
        Ok(SocketAddr {
            path: PathBuf::from(format!("/proc/self/fd/{}/control.sock", dir.as_raw_fd())),
            _dir: Some(dir),
        })
    }

    /// The supervisor's pid, if it is still running.
    pub fn live_supervisor(&self) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        tandem_runtime::process::is_alive(pid).then_some(pid)
    }
}

/// Writes a file atomically: a temporary sibling, fsync-free rename (state is rebuilt on crash).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
    }
    std::fs::rename(&tmp, path)
}

/// Why a pod's supervisor died, written by the supervisor itself as it goes and read by the CLI,
/// which shows it as the status message of the pod it left (phase `Unknown`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SupervisorDeath {
    pub message: String,
}

impl SupervisorDeath {
    /// Makes any panic of this process, in any thread or task, final: the panic is printed as
    /// usual (to `supervisor.log`), recorded in the pod directory, and the process exits with
    /// 101, Rust's panic status (exit, not abort: no core file is left to fill a disk). A
    /// panic caught by the async runtime would otherwise end only the task it hit (a container's
    /// exit would go unreported) and leave a supervisor that runs on but never moves the pod.
    pub fn record_on_panic(dir: &PodDir) {
        let record = dir.death_record();
        let print = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            print(info);
            let death = SupervisorDeath {
                message: format!("the pod's supervisor {info}"),
            };
            if let Ok(json) = serde_json::to_vec(&death) {
                let _ = write_atomic(&record, &json);
            }
            std::process::exit(101);
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_names_fit_a_file_name_and_stay_distinct_and_stable() {
        assert_eq!(dir_name("default", "web"), "default_web");
        let long = |c: &str| format!("{}.{}", "a".repeat(200), c.repeat(52));
        let (x, y) = (
            dir_name(&"n".repeat(63), &long("x")),
            dir_name(&"n".repeat(63), &long("y")),
        );
        assert_eq!(x.len(), DIR_NAME_MAX);
        assert_ne!(
            x, y,
            "names that share their start get distinct directories"
        );
        // The hash is part of the store's layout: it must not change between versions.
        assert_eq!(
            dir_name("default", &"z".repeat(253)),
            format!("default_{}~f06c4ba82152044b", "z".repeat(175))
        );
        let store = Store::new(Some(Path::new("/tmp/x")));
        let staged = store.staging(&"n".repeat(63), &long("x"));
        let staged_name = staged.root.file_name().map_or(0, |n| n.len());
        assert!(staged_name <= 255, "{staged_name}");
    }

    #[test]
    fn a_removed_directory_frees_its_name_at_once_and_leftovers_are_swept() {
        let root = tempfile::tempdir().expect("tempdir");
        let store = Store::new(Some(root.path()));
        let pod = store.pod("default", "web");
        std::fs::create_dir_all(pod.root.join("logs/app")).expect("pod dir");
        std::fs::write(pod.pod_json(), "{}").expect("pod.json");
        remove_whole(&pod.root).expect("removed");
        assert!(!pod.root.exists());
        remove_whole(&pod.root).expect("removing what is gone is no error");
        // What a removal killed half-way leaves is out of sight and swept once its process is
        // gone; one whose process lives is left to it.
        let dead = store
            .workloads
            .join(format!("{REMOVING_PREFIX}{}-0", i32::MAX));
        let live = store
            .services
            .join(format!("{REMOVING_PREFIX}{}-0", std::process::id()));
        for d in [&dead, &live] {
            std::fs::create_dir_all(d.join("inner")).expect("leftover");
        }
        std::fs::create_dir_all(&store.pods).expect("pods");
        assert!(store.list().expect("list").is_empty());
        store.sweep_leftovers();
        assert!(!dead.exists(), "a dead process's leftover is swept");
        assert!(live.exists(), "a live process's removal is its own");
    }

    #[test]
    fn a_long_socket_path_is_reached_through_the_directory() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let deep = tmp.path().join("d".repeat(120));
        std::fs::create_dir_all(&deep).expect("mkdir");
        let dir = PodDir::open(&deep);
        let addr = dir.socket_addr().expect("address");
        assert!(addr.path().as_os_str().len() <= SUN_PATH_MAX);
        let listener = std::os::unix::net::UnixListener::bind(addr.path()).expect("bind");
        assert!(dir.socket().exists(), "bound at the real path");
        let client = dir.socket_addr().expect("address");
        std::os::unix::net::UnixStream::connect(client.path()).expect("connect");
        drop(listener);
        let short = PodDir::open(tmp.path());
        assert_eq!(short.socket_addr().expect("address").path(), short.socket());
    }
}
