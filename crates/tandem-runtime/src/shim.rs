//! `tandem __shim BUNDLE STATUS_FD`: creates one container through libcontainer, starts it,
//! waits for it, and cleans up after it.
//!
//! Why a separate process: libcontainer forks with a raw clone3(2), so glibc's fork handlers do
//! not run; doing that from the multi-threaded supervisor could deadlock on a lock held by another
//! thread at fork time. The shim is a fresh single-threaded process. Through CLONE_PARENT the
//! container's init becomes the shim's own child, so the shim is also the one that can waitpid(2)
//! it and learn its exit status.
//!
//! The container inherits the shim's stdin, stdout and stderr (the supervisor gives it /dev/null
//! and two pipes feeding the log files). The shim itself speaks only on STATUS_FD, one JSON
//! [`ShimMessage`] per line. Both ends live here: [`shim_main`] is the child's, [`Shim`] the
//! parent's.

use crate::error_chain as chain;
use crate::helper::{Args, ArgsError, HelperArgs};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::mounts::{mount_spec, unmount, MountSpec};

/// What the shim needs besides the OCI bundle (`BUNDLE/config.json`); written as `BUNDLE/shim.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShimConfig {
    pub id: String,
    /// libcontainer's state directory for this pod's containers.
    pub state_root: PathBuf,
    /// Where the container's root filesystem is mounted (the spec's `root.path`).
    pub rootfs: PathBuf,
    pub rootfs_mount: MountSpec,
    /// `hostUsers: false`: the pod's user namespace (`/proc/<pause>/ns/user`). Each overlay
    /// lower layer is then mounted through its id mapping first ([`crate::userns::idmapped_bind`]),
    /// so the shared image layers look the pod's own without being copied.
    #[serde(default)]
    pub idmap_userns: Option<PathBuf>,
    /// The supervisor's pid: the shim dies with it (see [`shim_main`]).
    #[serde(default)]
    pub supervisor: i32,
}

fn read_config(bundle: &Path) -> Result<ShimConfig, String> {
    let path = bundle.join("shim.json");
    std::fs::read(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", path.display())))
}

/// Mounts the container's root filesystem; with a user namespace, over idmapped views of the
/// lower layers at `BUNDLE/lower/<n>`.
fn mount_rootfs(cfg: &ShimConfig, bundle: &Path) -> Result<(), String> {
    let Some(userns) = &cfg.idmap_userns else {
        return mount_spec(&cfg.rootfs_mount, &cfg.rootfs).map_err(|e| chain(&e));
    };
    let mut spec = cfg.rootfs_mount.clone();
    for opt in spec.options.iter_mut() {
        let Some(lowers) = opt.strip_prefix("lowerdir=") else {
            continue;
        };
        let mut mapped = vec![];
        for (n, lower) in lowers.split(':').enumerate() {
            let view = bundle.join("lower").join(n.to_string());
            std::fs::create_dir_all(&view)
                .map_err(|e| format!("cannot create {}: {e}", view.display()))?;
            crate::userns::idmapped_bind(Path::new(lower), &view, userns).map_err(|e| chain(&e))?;
            mapped.push(view.to_string_lossy().into_owned());
        }
        *opt = format!("lowerdir={}", mapped.join(":"));
    }
    mount_spec(&spec, &cfg.rootfs).map_err(|e| chain(&e))
}

/// Undoes [`mount_rootfs`]: the overlay first, then the views it was built on.
fn unmount_rootfs(cfg: &ShimConfig, bundle: &Path) {
    let _ = unmount(&cfg.rootfs);
    for m in crate::mounts::mounts_under(&bundle.join("lower")) {
        let _ = unmount(&m);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShimMessage {
    Started {
        pid: i32,
    },
    Failed {
        stage: ShimStage,
        message: String,
    },
    Exited {
        exit_code: i32,
        signal: Option<i32>,
        /// The kernel's OOM killer acted in the container's cgroup.
        #[serde(default)]
        oom: bool,
    },
}

/// Where a shim failed: `Config`, `Rootfs` and `Create` leave no container (the kubelet's
/// `CreateContainerError`); `Start` failed a created one (`RunContainerError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShimStage {
    /// Reading `shim.json`.
    Config,
    /// Mounting the root filesystem.
    Rootfs,
    /// libcontainer's create.
    Create,
    /// libcontainer's start.
    Start,
}

/// `tandem __shim BUNDLE STATUS_FD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimArgs {
    pub bundle: PathBuf,
    /// The inherited write end of the status pipe, by number.
    pub status_fd: RawFd,
}

impl HelperArgs for ShimArgs {
    const VERB: &'static str = "__shim";

    fn to_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            self.bundle.clone().into_os_string(),
            self.status_fd.to_string().into(),
        ]
    }

    fn parse(args: &[std::ffi::OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let bundle = PathBuf::from(a.os("bundle")?);
        let status_fd = a.value("status descriptor")?;
        a.end()?;
        Ok(ShimArgs { bundle, status_fd })
    }
}

/// The id of one container instance: `<pod uid>-<container>-<attempt>`.
pub fn container_id(pod_uid: &str, container: &str, attempt: u32) -> String {
    format!("{pod_uid}-{container}-{attempt}")
}

/// The body of `tandem __shim`. Returns the shim's exit status.
pub fn shim_main(args: &ShimArgs) -> i32 {
    let (bundle, status_fd) = (args.bundle.as_path(), args.status_fd);
    // Keep the status pipe out of the container: it must see only stdio.
    if fcntl(status_fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
        return 2;
    }
    // SAFETY: the supervisor passes the number of a pipe write end it opened for this process and
    // nothing else in this process owns it.
    let mut status = unsafe { File::from_raw_fd(status_fd) };
    let mut say = |m: &ShimMessage| {
        if let Ok(line) = serde_json::to_string(m) {
            let _ = writeln!(status, "{line}");
        }
    };
    // Die with the supervisor: with nobody left to report to, a shim has nothing to do, and the
    // pod's pause process is killing its container meanwhile (sandbox.rs). Checked against the
    // supervisor's pid afterwards, since it may have died before the prctl (prctl(2)).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    let cfg = match read_config(bundle) {
        Ok(c) => c,
        Err(e) => {
            say(&ShimMessage::Failed {
                stage: ShimStage::Config,
                message: e,
            });
            return 1;
        }
    };
    if nix::unistd::getppid().as_raw() != cfg.supervisor {
        return 2;
    }
    if let Err(message) = mount_rootfs(&cfg, bundle) {
        say(&ShimMessage::Failed {
            stage: ShimStage::Rootfs,
            message,
        });
        unmount_rootfs(&cfg, bundle);
        return 1;
    }
    let built = ContainerBuilder::new(cfg.id.clone(), SyscallType::default())
        .with_root_path(&cfg.state_root)
        .and_then(|b| {
            b.as_init(bundle)
                .with_systemd(false)
                .with_detach(true)
                .build()
        });
    let mut container = match built {
        Ok(c) => c,
        Err(e) => {
            say(&ShimMessage::Failed {
                stage: ShimStage::Create,
                message: chain(&e),
            });
            cleanup_state(&cfg);
            unmount_rootfs(&cfg, bundle);
            return 1;
        }
    };
    crate::fault::reached(crate::fault::FaultPoint::ShimAfterCreate);
    if let Err(e) = container.start() {
        say(&ShimMessage::Failed {
            stage: ShimStage::Start,
            message: chain(&e),
        });
        let _ = container.delete(true);
        unmount_rootfs(&cfg, bundle);
        return 1;
    }
    let Some(pid) = container.pid() else {
        say(&ShimMessage::Failed {
            stage: ShimStage::Start,
            message: "the container has no process id".into(),
        });
        let _ = container.delete(true);
        unmount_rootfs(&cfg, bundle);
        return 1;
    };
    say(&ShimMessage::Started { pid: pid.as_raw() });
    crate::fault::reached(crate::fault::FaultPoint::ShimAfterStart);
    let (exit_code, signal) = loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => break (code, None),
            Ok(WaitStatus::Signaled(_, sig, _)) => break (128 + sig as i32, Some(sig as i32)),
            Ok(_) | Err(nix::Error::EINTR) => continue,
            Err(_) => break (255, None),
        }
    };
    // Read the OOM count before the cgroup goes: delete removes it.
    let oom = crate::cgroups::oom_killed(&cgroups_path(bundle));
    // Delete first (it removes the container's cgroup and kills anything left in it), then report:
    // once the supervisor hears of the exit it may start the next instance.
    let _ = container.refresh_status();
    let _ = container.delete(true);
    unmount_rootfs(&cfg, bundle);
    say(&ShimMessage::Exited {
        exit_code,
        signal,
        oom,
    });
    0
}

/// The parent's end: one `tandem __shim` process and its status pipe.
pub struct Shim {
    child: tokio::process::Child,
    bundle: PathBuf,
    status: tokio::io::Lines<BufReader<tokio::net::unix::pipe::Receiver>>,
    /// Set once the shim has been reaped.
    ended: Option<ShimEnd>,
}

/// How a shim ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShimEnd {
    /// It returned, having said what happened (`shim_main` returns 0, 1 or 2).
    Returned,
    /// It was killed or crashed: what it left was killed (`orphans` processes still holding its
    /// status pipe, and the container's cgroup).
    Died { signal: Option<i32>, orphans: usize },
}

impl Shim {
    /// Starts `tandem __shim BUNDLE FD` (the binary at `exe`); the container it makes inherits
    /// the shim's stdout and stderr, pipes whose read ends [`Shim::take_output`] hands out.
    pub fn spawn(exe: &Path, bundle: &Path) -> std::io::Result<Shim> {
        let (status_r, status_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        // The write end is inherited by the shim under its own number; the supervisor is
        // single-threaded, so no other child can be spawned while it is inheritable.
        fcntl(status_w.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))?;
        let args = ShimArgs {
            bundle: bundle.to_path_buf(),
            status_fd: status_w.as_raw_fd(),
        };
        let child = tokio::process::Command::new(exe)
            .args(args.argv())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot start the shim {}: {e}", exe.display()),
                )
            })?;
        drop(status_w);
        let status = tokio::net::unix::pipe::Receiver::from_owned_fd(status_r)?;
        Ok(Shim {
            child,
            bundle: bundle.to_path_buf(),
            status: BufReader::new(status).lines(),
            ended: None,
        })
    }

    /// The shim's next message; `None` once it has ended and all it wrote has been read.
    ///
    /// The shim is watched as well as its pipe: a shim killed while it created the container
    /// leaves processes that hold the pipe open, so its EOF alone would never come. Once the shim
    /// is seen to have died, they are killed ([`clean_up_after_dead_shim`]),
    /// and the pipe ends after what the shim managed to write.
    pub async fn next(&mut self) -> Option<ShimMessage> {
        loop {
            let line = if self.ended.is_some() {
                self.status.next_line().await
            } else {
                // Both are cancel-safe: a line half read stays buffered for the next call.
                tokio::select! {
                    line = self.status.next_line() => line,
                    status = self.child.wait() => {
                        self.reaped(status).await;
                        continue;
                    }
                }
            };
            match line {
                Ok(Some(l)) => {
                    if let Ok(m) = serde_json::from_str(&l) {
                        return Some(m);
                    }
                }
                Ok(None) | Err(_) => {
                    if self.ended.is_none() {
                        let status = self.child.wait().await;
                        self.reaped(status).await;
                    }
                    return None;
                }
            }
        }
    }

    async fn reaped(&mut self, status: std::io::Result<std::process::ExitStatus>) {
        use std::os::unix::process::ExitStatusExt;
        let status = status.ok();
        if matches!(status.and_then(|s| s.code()), Some(0..=2)) {
            self.ended = Some(ShimEnd::Returned);
            return;
        }
        let fd = self.status.get_ref().get_ref().as_fd().try_clone_to_owned();
        let bundle = self.bundle.clone();
        // Killing and waiting for processes to go may take a moment: not on the pod's thread.
        let orphans = tokio::task::spawn_blocking(move || match fd {
            Ok(fd) => clean_up_after_dead_shim(&bundle, fd.as_fd()),
            Err(_) => 0,
        })
        .await
        .unwrap_or(0);
        self.ended = Some(ShimEnd::Died {
            signal: status.and_then(|s| s.signal()),
            orphans,
        });
    }

    /// The read ends of the container's stdout and stderr (once).
    pub fn take_output(
        &mut self,
    ) -> (
        Option<tokio::process::ChildStdout>,
        Option<tokio::process::ChildStderr>,
    ) {
        (self.child.stdout.take(), self.child.stderr.take())
    }

    /// Why the shim said nothing more, for a start error or the supervisor's log.
    pub fn end_message(&self, when: &str) -> String {
        match self.ended {
            Some(ShimEnd::Died {
                signal: Some(sig),
                orphans,
            }) => format!(
                "the shim was killed by signal {sig} {when}; the {orphans} process(es) it left and the container's cgroup were killed"
            ),
            Some(ShimEnd::Died { orphans, .. }) => format!(
                "the shim crashed {when}; the {orphans} process(es) it left and the container's cgroup were killed"
            ),
            _ => format!("the shim exited {when}"),
        }
    }

    /// The exit to report when the shim ended without reporting one: a container whose shim died
    /// was killed with SIGKILL in the clean-up, and says so (as containerd reports a task whose
    /// shim died); otherwise nothing is known.
    pub fn unreported_exit(&self) -> (i32, Option<i32>, bool) {
        match self.ended {
            Some(ShimEnd::Died { .. }) => (
                128 + Signal::SIGKILL as i32,
                Some(Signal::SIGKILL as i32),
                false,
            ),
            _ => (255, None, false),
        }
    }
}

/// `linux.cgroupsPath` of the bundle's spec (empty when absent).
fn cgroups_path(bundle: &Path) -> PathBuf {
    oci_spec::runtime::Spec::load(bundle.join("config.json"))
        .ok()
        .and_then(|s| s.linux().clone())
        .and_then(|l| l.cgroups_path().clone())
        .unwrap_or_default()
}

/// How long the clean-up after a dead shim waits for the processes it killed to be gone.
const DEAD_SHIM_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// The parent's side of a shim that ended without reporting its container's exit (killed with
/// SIGKILL while it created the container, or crashed): what it left behind is taken back, so the
/// parent's reads of the status and output pipes reach EOF and nothing of the instance runs on.
///
/// libcontainer forks the container's processes with clone3(2) and no exec until the very end, so
/// each of them holds every descriptor of the shim, `status` pipe included; an init that was
/// created but never started blocks forever waiting for the start signal. Those are found by the
/// pipe (`status` is the parent's read end: the same inode) and killed; a container that had
/// already exec'd its command no longer holds the pipe, but runs in its own cgroup, which is
/// killed and removed next. libcontainer's state directory for the instance goes too. Mounts
/// under `bundle` are the caller's to detach (it removes the bundle). Returns how many processes
/// were found holding the pipe.
pub fn clean_up_after_dead_shim(bundle: &Path, status: std::os::fd::BorrowedFd<'_>) -> usize {
    let orphans = crate::process::kill_holders(status, DEAD_SHIM_PATIENCE);
    let cgroup = cgroups_path(bundle);
    if !cgroup.as_os_str().is_empty() {
        crate::cgroups::kill_and_remove(&cgroup, DEAD_SHIM_PATIENCE);
    }
    if let Ok(cfg) = read_config(bundle) {
        cleanup_state(&cfg);
    }
    orphans
}

fn cleanup_state(cfg: &ShimConfig) {
    let _ = std::fs::remove_dir_all(cfg.state_root.join(&cfg.id));
}
