//! `tandem __shim BUNDLE STATUS_FD GO_FD`: creates one container through libcontainer, starts
//! it, and hands it over to the supervisor.
//!
//! Why a separate process: libcontainer forks with a raw clone3(2), so glibc's fork handlers do
//! not run; doing that from the multi-threaded supervisor could deadlock on a lock held by another
//! thread at fork time. The shim is a fresh single-threaded process, and it lives only as long as
//! the creation: once the container runs it says so, waits for the parent's go and exits. The
//! container's init, the shim's child through CLONE_PARENT, then becomes the child of the
//! supervisor (a subreaper), which waits for it through a pidfd taken before the go
//! ([`crate::reaper`]), so no process stays behind per container.
//!
//! The container inherits the shim's stdin, stdout and stderr (the supervisor gives it /dev/null
//! or, for `stdin: true`, a pipe it keeps writing to, and two pipes feeding the log files). A
//! container with a terminal (`tty: true`, the spec's `process.terminal`) gets instead a
//! pseudo-terminal that libcontainer makes in the container's own devpts and sends, as runc
//! does, over a console socket the parent listens on ([`Console`]). The shim itself speaks only
//! on STATUS_FD, one JSON [`ShimMessage`] per line, and hears only GO_FD's end of file. Both ends
//! live here: [`shim_main`] is the child's, [`Shim`] and [`Container`] the parent's.

use crate::error_chain as chain;
use crate::helper::{Args, ArgsError, HelperArgs};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::mounts::{mount_spec, unmount, MountSpec};
use crate::reaper::{Adopted, Exit};

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
    /// For a container with a terminal: the socket its pseudo-terminal is sent to ([`Console`]).
    #[serde(default)]
    pub console_socket: Option<PathBuf>,
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
    /// The container runs; the shim waits for the go to exit.
    Started {
        pid: i32,
    },
    Failed {
        stage: ShimStage,
        message: String,
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
    /// libcontainer's start, or taking the started container over.
    Start,
}

/// `tandem __shim BUNDLE STATUS_FD GO_FD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimArgs {
    pub bundle: PathBuf,
    /// The inherited write end of the status pipe, by number.
    pub status_fd: RawFd,
    /// The inherited read end of the go pipe, by number: its end of file lets the shim exit.
    pub go_fd: RawFd,
}

impl HelperArgs for ShimArgs {
    const VERB: &'static str = "__shim";
    const PROGRAM: Option<&'static str> = Some("tandem-pod");

    fn to_args(&self) -> Vec<std::ffi::OsString> {
        vec![
            self.bundle.clone().into_os_string(),
            self.status_fd.to_string().into(),
            self.go_fd.to_string().into(),
        ]
    }

    fn parse(args: &[std::ffi::OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let bundle = PathBuf::from(a.os("bundle")?);
        let status_fd = a.value("status descriptor")?;
        let go_fd = a.value("go descriptor")?;
        a.end()?;
        Ok(ShimArgs {
            bundle,
            status_fd,
            go_fd,
        })
    }
}

/// The id of one container instance: `<pod uid>-<container>-<attempt>`.
pub fn container_id(pod_uid: &str, container: &str, attempt: u32) -> String {
    format!("{pod_uid}-{container}-{attempt}")
}

/// The body of `tandem __shim`. Returns the shim's exit status.
pub fn shim_main(args: &ShimArgs) -> i32 {
    let (bundle, status_fd) = (args.bundle.as_path(), args.status_fd);
    // Keep both pipes out of the container: it must see only stdio.
    for fd in [status_fd, args.go_fd] {
        if fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)).is_err() {
            return 2;
        }
    }
    // SAFETY: the supervisor passes the number of a pipe write end it opened for this process and
    // nothing else in this process owns it.
    let mut status = unsafe { File::from_raw_fd(status_fd) };
    // SAFETY: as above, for the read end of the go pipe.
    let go = unsafe { File::from_raw_fd(args.go_fd) };
    // One write per message, shorter than PIPE_BUF, so it is atomic (pipe(7)): a shim killed
    // right after saying something has said all of it, and the parent reads whole lines.
    let mut say = |m: &ShimMessage| {
        if let Ok(mut line) = serde_json::to_string(m) {
            line.push('\n');
            let _ = status.write_all(line.as_bytes());
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
            b.with_console_socket(cfg.console_socket.clone())
                .as_init(bundle)
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
    let started = container.start().map_err(|e| chain(&e)).and_then(|()| {
        container
            .pid()
            .ok_or_else(|| "the container has no process id".to_string())
    });
    let pid = match started {
        Ok(pid) => pid,
        Err(message) => {
            say(&ShimMessage::Failed {
                stage: ShimStage::Start,
                message,
            });
            let _ = container.delete(true);
            unmount_rootfs(&cfg, bundle);
            return 1;
        }
    };
    say(&ShimMessage::Started { pid: pid.as_raw() });
    crate::fault::reached(crate::fault::FaultPoint::ShimAfterStart);
    // The parent opens a pidfd of the init, then closes its end of the go pipe. Exiting before
    // that would hand the init to the parent unannounced, where a sweep for strangers could
    // reap it and lose its exit status.
    wait_for_end_of_file(go);
    0
}

fn wait_for_end_of_file(mut pipe: File) {
    use std::io::Read;
    let mut buf = [0u8; 64];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The parent's end of a console socket (runc's `--console-socket`): libcontainer, in the
/// shim, connects to it before it forks the container, and the container's init sends over it
/// the controlling end of the pseudo-terminal it opened in the container's devpts (after
/// pivot_root, so the terminal is the container's own and `/dev/console` is its replica).
pub struct Console {
    listener: tokio::net::UnixListener,
}

impl Console {
    /// Listens at `path` (named as [`ShimConfig::console_socket`]). Bound through
    /// `/proc/self/fd/N/NAME`, a descriptor of its directory, since a bundle's path may be
    /// longer than a socket address holds (108 bytes, unix(7)).
    pub fn bind(path: &Path) -> std::io::Result<Console> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} names no socket in a directory", path.display()),
            ));
        };
        let dir = std::fs::File::open(dir)?;
        let short = Path::new("/proc/self/fd")
            .join(dir.as_raw_fd().to_string())
            .join(name);
        let listener = tokio::net::UnixListener::bind(&short)?;
        Ok(Console { listener })
    }

    /// The first descriptor sent by the first client.
    async fn receive(self) -> std::io::Result<OwnedFd> {
        let (stream, _) = self.listener.accept().await?;
        let mut buf = [0u8; 64];
        loop {
            stream.readable().await?;
            let got = stream.try_io(tokio::io::Interest::READABLE, || {
                crate::passfd::recv_with_fds(stream.as_fd(), &mut buf)
            });
            match got {
                Ok((_, fds)) if !fds.is_empty() => {
                    return fds.into_iter().next().ok_or_else(|| {
                        std::io::Error::other("the console socket's message had no descriptor")
                    })
                }
                Ok((0, _)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the console socket closed before a terminal came",
                    ))
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Why a shim gave no container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimFailure {
    /// Where it failed, as it said; `None` when it ended without saying (killed, or crashed).
    pub stage: Option<ShimStage>,
    pub message: String,
}

/// The parent's end: one `tandem __shim` process and its pipes.
pub struct Shim {
    child: tokio::process::Child,
    bundle: PathBuf,
    status: tokio::io::Lines<BufReader<tokio::net::unix::pipe::Receiver>>,
    /// The write end of the go pipe: dropped to let the shim exit.
    go: Option<OwnedFd>,
    /// Where the container's terminal comes, if it has one.
    console: Option<Console>,
    /// The shim said its container runs: from then on, nothing it leaves is cleaned after it.
    started: bool,
    /// The shim's exit, once heard, until what it wrote before it has been read.
    exit: Option<std::io::Result<std::process::ExitStatus>>,
    /// Set once the shim has been reaped.
    ended: Option<ShimEnd>,
}

/// How a shim ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShimEnd {
    /// It returned, having said what happened (`shim_main` returns 0, 1 or 2), or it died once
    /// its container ran, which leaves nothing to clean.
    Returned,
    /// It was killed or crashed before its container ran: what it left was killed (`orphans`
    /// processes still holding its status pipe, and the container's cgroup).
    Died { signal: Option<i32>, orphans: usize },
}

/// Marks an inherited descriptor's number as inheritable by the next spawned child. The caller
/// is single-threaded, so no other child can be spawned while it is.
fn inheritable(fd: &OwnedFd) -> std::io::Result<RawFd> {
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::empty()))?;
    Ok(fd.as_raw_fd())
}

impl Shim {
    /// Starts `tandem __shim BUNDLE STATUS_FD GO_FD` (the binary at `exe`); the container it
    /// makes inherits the shim's stdout and stderr, pipes whose read ends [`Shim::take_output`]
    /// hands out, and `stdin` (else /dev/null). With `console`, the container's terminal is
    /// received on it while the shim creates the container.
    pub fn spawn(
        exe: &Path,
        bundle: &Path,
        stdin: Option<OwnedFd>,
        console: Option<Console>,
    ) -> std::io::Result<Shim> {
        let (status_r, status_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let (go_r, go_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let args = ShimArgs {
            bundle: bundle.to_path_buf(),
            status_fd: inheritable(&status_w)?,
            go_fd: inheritable(&go_r)?,
        };
        let child = tokio::process::Command::new(ShimArgs::program(exe))
            .args(args.argv())
            .stdin(stdin.map_or_else(Stdio::null, Stdio::from))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot start the shim {}: {e}", exe.display()),
                )
            })?;
        drop((status_w, go_r));
        let status = tokio::net::unix::pipe::Receiver::from_owned_fd(status_r)?;
        Ok(Shim {
            child,
            bundle: bundle.to_path_buf(),
            status: BufReader::new(status).lines(),
            go: Some(go_w),
            console,
            started: false,
            exit: None,
            ended: None,
        })
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

    /// Waits for the shim to start its container, and takes the container over: a pidfd of its
    /// init is opened while the shim still holds it ([`Adopted`]), then the shim is let go and
    /// reaped, which makes the init this process's child. The calling process must be a
    /// subreaper ([`crate::reaper::become_subreaper`]). On failure the shim has been reaped too,
    /// and what a shim that died left behind has been killed.
    pub async fn take_over(mut self) -> Result<Container, ShimFailure> {
        let console = self.console.take();
        let expects_terminal = console.is_some();
        let (first, terminal) = match console {
            None => (self.next().await, None),
            Some(console) => self.first_with_terminal(console).await,
        };
        let container = self.adopt(first, terminal).await?;
        if expects_terminal && container.terminal.is_none() {
            // Its output would reach no log and nobody could attach to it: it must not run.
            let _ = container.signal(nix::sys::signal::Signal::SIGKILL as i32);
            container.exited().await;
            return Err(ShimFailure {
                stage: Some(ShimStage::Start),
                message: "the container's terminal never came over its console socket".into(),
            });
        }
        Ok(container)
    }

    /// The shim's first message, and the terminal libcontainer sends (before the container
    /// starts, so before `Started`) while waiting for it.
    async fn first_with_terminal(
        &mut self,
        console: Console,
    ) -> (Option<ShimMessage>, Option<OwnedFd>) {
        let receive = console.receive();
        tokio::pin!(receive);
        let mut terminal = None;
        let first = loop {
            tokio::select! {
                got = &mut receive, if terminal.is_none() => {
                    terminal = Some(got.ok());
                }
                // Cancel-safe (see `next`).
                first = self.next() => break first,
            }
        };
        let terminal = match terminal {
            Some(t) => t,
            // Sent before the container was started: if it came at all, it is there by now.
            None if matches!(first, Some(ShimMessage::Started { .. })) => {
                tokio::time::timeout(std::time::Duration::from_secs(1), receive)
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            None => None,
        };
        (first, terminal)
    }

    /// Takes the container over once the shim said `first` (see [`Shim::take_over`]).
    async fn adopt(
        mut self,
        first: Option<ShimMessage>,
        terminal: Option<OwnedFd>,
    ) -> Result<Container, ShimFailure> {
        let adopted = match &first {
            Some(ShimMessage::Started { pid }) => {
                self.started = true;
                Some(Adopted::new(*pid).map_err(|e| (*pid, e)))
            }
            _ => None,
        };
        self.go = None;
        // Whatever it said, the shim is ending: hear it out, so it is reaped.
        while self.next().await.is_some() {}
        match (first, adopted) {
            (_, Some(Ok(init))) => Ok(Container {
                init,
                bundle: self.bundle,
                terminal,
            }),
            (_, Some(Err((pid, e)))) => {
                // Only short of descriptors: a container nobody could wait for must not run.
                let bundle = self.bundle.clone();
                let _ = tokio::task::spawn_blocking(move || remove_container(&bundle)).await;
                Err(ShimFailure {
                    stage: Some(ShimStage::Start),
                    message: format!("cannot open a pidfd of the container's init {pid}: {e}"),
                })
            }
            (Some(ShimMessage::Failed { stage, message }), None) => Err(ShimFailure {
                stage: Some(stage),
                message,
            }),
            _ => Err(ShimFailure {
                stage: None,
                message: self.end_message("before it started the container"),
            }),
        }
    }

    /// The shim's next message; `None` once it has ended and all it wrote has been read.
    ///
    /// The shim is watched as well as its pipe: a shim killed while it created the container
    /// leaves processes that hold the pipe open, so its EOF alone would never come. Once the shim
    /// is seen to have died, they are killed ([`clean_up_after_dead_shim`]),
    /// and the pipe ends after what the shim managed to write.
    async fn next(&mut self) -> Option<ShimMessage> {
        loop {
            let line = if self.ended.is_some() {
                self.status.next_line().await
            } else if self.exit.is_some() {
                // The shim is gone. What it wrote before it died is read first, since a `Started`
                // changes what its death means; but only what is there now, as processes it left
                // may hold the pipe open for good.
                if self.more_written() {
                    self.status.next_line().await
                } else {
                    if let Some(status) = self.exit.take() {
                        self.reaped(status).await;
                    }
                    continue;
                }
            } else {
                // Both are cancel-safe: a line half read stays buffered for the next call.
                tokio::select! {
                    line = self.status.next_line() => line,
                    status = self.child.wait() => {
                        self.exit = Some(status);
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
                        let status = match self.exit.take() {
                            Some(status) => status,
                            None => self.child.wait().await,
                        };
                        self.reaped(status).await;
                    }
                    return None;
                }
            }
        }
    }

    /// Whether a whole line, or the pipe's end, can be read without waiting. The shim writes
    /// each line at once, so readable data is a whole line.
    fn more_written(&mut self) -> bool {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        let reader = self.status.get_mut();
        if reader.buffer().contains(&b'\n') {
            return true;
        }
        let mut fds = [PollFd::new(reader.get_ref().as_fd(), PollFlags::POLLIN)];
        matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    async fn reaped(&mut self, status: std::io::Result<std::process::ExitStatus>) {
        use std::os::unix::process::ExitStatusExt;
        let status = status.ok();
        if self.started || matches!(status.and_then(|s| s.code()), Some(0..=2)) {
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

    /// Why the shim said nothing more, for a start error or the supervisor's log.
    fn end_message(&self, when: &str) -> String {
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
}

/// A running container, taken over from its shim: this process is its init's parent.
pub struct Container {
    init: Adopted,
    bundle: PathBuf,
    /// The controlling end of its terminal, until taken.
    terminal: Option<OwnedFd>,
}

/// How a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContainerExit {
    pub exit: Exit,
    /// The kernel's OOM killer acted in the container's cgroup.
    pub oom: bool,
}

impl Container {
    pub fn pid(&self) -> i32 {
        self.init.pid()
    }

    /// The controlling end of the container's terminal (`tty: true`), once.
    pub fn take_terminal(&mut self) -> Option<OwnedFd> {
        self.terminal.take()
    }

    /// A pidfd of the init (see [`crate::exec`]).
    pub fn init_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.init.pidfd()
    }

    /// The bundle the container was made from (its OCI spec, `config.json`).
    pub fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// Sends the signal numbered `signo` to the init; one that has exited is not an error.
    pub fn signal(&self, signo: i32) -> std::io::Result<()> {
        self.init.signal(signo)
    }

    /// Waits for the init to exit and reaps it, then takes away what the container leaves: its
    /// cgroup, with anything still in it, and libcontainer's state. The OOM count is read before
    /// the cgroup goes. The root filesystem's mounts are the bundle's owner's to detach.
    pub async fn exited(&self) -> ContainerExit {
        let exit = self.init.wait().await.unwrap_or(Exit {
            exit_code: 255,
            signal: None,
        });
        let bundle = self.bundle.clone();
        let oom = tokio::task::spawn_blocking(move || {
            let oom = crate::cgroups::oom_killed(&cgroups_path(&bundle));
            remove_container(&bundle);
            oom
        })
        .await
        .unwrap_or(false);
        ContainerExit { exit, oom }
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

/// How long taking a container away waits for the processes it killed to be gone.
const KILL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// Kills and removes the container's cgroup and removes libcontainer's state of it (what
/// libcontainer's delete does for a stopped container, without loading a state that names a pid
/// already reaped, and perhaps reused).
fn remove_container(bundle: &Path) {
    let cgroup = cgroups_path(bundle);
    if !cgroup.as_os_str().is_empty() {
        crate::cgroups::kill_and_remove(&cgroup, KILL_PATIENCE);
    }
    if let Ok(cfg) = read_config(bundle) {
        cleanup_state(&cfg);
    }
}

/// The parent's side of a shim that died before its container ran (killed with SIGKILL while it
/// created the container, or crashed): what it left behind is taken back, so the parent's reads
/// of the status and output pipes reach EOF and nothing of the instance runs on.
///
/// libcontainer forks the container's processes with clone3(2) and no exec until the very end, so
/// each of them holds every descriptor of the shim, `status` pipe included; an init that was
/// created but never started blocks forever waiting for the start signal. Those are found by the
/// pipe (`status` is the parent's read end: the same inode), killed, and reaped: with the shim
/// gone they are the caller's children, and one of them (libcontainer's intermediate process)
/// shares the caller's session, which the stranger sweep leaves alone. A container that had
/// already exec'd its command no longer holds the pipe, but runs in its own cgroup, which is
/// killed and removed next. libcontainer's state directory for the instance goes too. Mounts
/// under `bundle` are the caller's to detach (it removes the bundle). Returns how many processes
/// were found holding the pipe.
pub fn clean_up_after_dead_shim(bundle: &Path, status: std::os::fd::BorrowedFd<'_>) -> usize {
    let orphans = crate::process::kill_holders(status, KILL_PATIENCE);
    for pid in &orphans {
        let _ = nix::sys::wait::waitpid(
            nix::unistd::Pid::from_raw(*pid),
            Some(nix::sys::wait::WaitPidFlag::WNOHANG | nix::sys::wait::WaitPidFlag::__WALL),
        );
    }
    remove_container(bundle);
    orphans.len()
}

fn cleanup_state(cfg: &ShimConfig) {
    let _ = std::fs::remove_dir_all(cfg.state_root.join(&cfg.id));
}
