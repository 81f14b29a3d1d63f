//! `tandem __exec BUNDLE INIT_FD TIMEOUT_MS STDIO -- ARGV...`: runs a command inside a running
//! container, as the CRI's Exec and ExecSync do: in the container's namespaces and cgroup, with
//! the user, supplementary groups, capabilities, `no_new_privs`, seccomp filter, environment and
//! working directory of the container's own process (its OCI spec, `BUNDLE/config.json`).
//!
//! Why a separate process: entering a mount namespace needs a single-threaded caller
//! (setns(2)), and a PID namespace is entered only by the children forked after the setns. The
//! helper joins the container's cgroup, enters every namespace of the container's init at once
//! through a pidfd of it (`INIT_FD`, inherited from the supervisor, which holds that pidfd as the
//! init's parent, so it cannot name a recycled pid), forks the command's process and waits for
//! it. Each step of the child follows the order the container's init takes (libcontainer's
//! init): ids with the capabilities kept, seccomp first when it needs `CAP_SYS_ADMIN` (no
//! `no_new_privs`), capabilities dropped, working directory, `no_new_privs`, seccomp last
//! otherwise, exec. Every descriptor beyond stdio is closed on exec (GHSA-xr7r-f8xq-vfvv: a
//! descriptor of the host leaking into a container lets it escape).
//!
//! STDIO says where the command's standard streams are:
//! - `capture`: stdout and stderr into one pipe read here (at most [`MAX_OUTPUT`] bytes, as the
//!   kubelet keeps of a probe's output), stdin the helper's (`/dev/null`); the [`ExecOutcome`]
//!   printed as one JSON line on stdout. Probes and hooks; a command still running at the
//!   timeout is SIGKILLed and reported as timed out, its background children left to the
//!   container, as with the kubelet's ExecSync.
//! - `pass:FD` and `terminal:FD`: the command takes the helper's stdin, stdout and stderr, and
//!   the outcome is written to descriptor FD. With `terminal`, they are the replica end of a
//!   pseudo-terminal of the container's own devpts, which becomes the command's controlling
//!   terminal. `tandem exec`; the command is killed with the helper (its parent-death signal).

use std::ffi::{CString, OsString};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::helper::{Args, ArgsError, HelperArgs};
use nix::fcntl::{fcntl, FcntlArg, FdFlag, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{ForkResult, Gid, Pid, Uid};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use serde::{Deserialize, Serialize};

/// Output kept from a command, as the kubelet keeps at most 10 KiB of probe output.
pub const MAX_OUTPUT: usize = 10 * 1024;

/// The exit status a shell gives a command it cannot find, which kubectl shows for it.
pub const NOT_FOUND: i32 = 127;
/// The exit status a shell gives a command found but not executable.
pub const NOT_EXECUTABLE: i32 = 126;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutcome {
    /// The command's exit code (128 + signal if a signal killed it; 127 or 126 when it could not
    /// be executed); `None` when it never got that far or timed out.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// With `capture`: combined stdout and stderr, lossily decoded.
    pub output: String,
    /// Why the command could not be run.
    pub error: Option<String>,
}

impl ExecOutcome {
    fn error(message: String) -> Self {
        ExecOutcome {
            exit_code: None,
            timed_out: false,
            output: String::new(),
            error: Some(message),
        }
    }
}

/// Where the command's standard streams are (see the module's documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecStdio {
    Capture,
    Pass { status_fd: RawFd },
    Terminal { status_fd: RawFd },
}

impl ExecStdio {
    fn to_arg(self) -> String {
        match self {
            ExecStdio::Capture => "capture".into(),
            ExecStdio::Pass { status_fd } => format!("pass:{status_fd}"),
            ExecStdio::Terminal { status_fd } => format!("terminal:{status_fd}"),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        if s == "capture" {
            return Some(ExecStdio::Capture);
        }
        let (mode, fd) = s.split_once(':')?;
        let status_fd = fd.parse().ok()?;
        match mode {
            "pass" => Some(ExecStdio::Pass { status_fd }),
            "terminal" => Some(ExecStdio::Terminal { status_fd }),
            _ => None,
        }
    }
}

/// `tandem __exec BUNDLE INIT_FD TIMEOUT_MS STDIO -- ARGV…`; a timeout of zero waits as long as
/// the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArgs {
    pub bundle: PathBuf,
    /// The inherited pidfd of the container's init.
    pub init_fd: RawFd,
    pub timeout: Duration,
    pub stdio: ExecStdio,
    pub argv: Vec<String>,
}

impl HelperArgs for ExecArgs {
    const VERB: &'static str = "__exec";
    const PROGRAM: Option<&'static str> = Some("tandem-pod");

    fn to_args(&self) -> Vec<OsString> {
        let mut args = vec![
            self.bundle.clone().into_os_string(),
            OsString::from(self.init_fd.to_string()),
            OsString::from(self.timeout.as_millis().to_string()),
            OsString::from(self.stdio.to_arg()),
            OsString::from("--"),
        ];
        args.extend(self.argv.iter().map(OsString::from));
        args
    }

    fn parse(args: &[OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let bundle = PathBuf::from(a.os("bundle")?);
        let init_fd = a.value("init descriptor")?;
        let timeout = Duration::from_millis(a.value("timeout in milliseconds")?);
        let stdio = a.text("stdio")?;
        let stdio = ExecStdio::parse(stdio)
            .ok_or_else(|| a.error(format!("stdio is not valid: {stdio:?}")))?;
        if a.text("--")? != "--" {
            return Err(a.error("expected -- before the command"));
        }
        let argv = a
            .rest()
            .into_iter()
            .map(|s| s.to_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| a.error("the command is not UTF-8"))?;
        Ok(ExecArgs {
            bundle,
            init_fd,
            timeout,
            stdio,
            argv,
        })
    }
}

/// The command line of `tandem __exec`, keeping `keep` (descriptor numbers of this process)
/// open in the helper and nothing else beyond its stdio.
fn command(exe: &Path, args: &ExecArgs, keep: Vec<RawFd>) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(ExecArgs::program(exe));
    cmd.args(args.argv());
    // SAFETY: the closure runs in the forked child before exec and only calls fcntl(2), which is
    // async-signal-safe, on descriptor numbers the parent keeps open until the spawn returns.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &keep {
                if libc::fcntl(*fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd
}

/// The parent's end for probes and hooks: runs ARGV in the container whose init `init` is a
/// pidfd of, and reads the outcome. The helper enforces the timeout; it is never killed from
/// here, as it must reap the command it ran.
pub async fn call(
    exe: &Path,
    bundle: &Path,
    init: BorrowedFd<'_>,
    timeout: Duration,
    argv: &[String],
) -> Result<ExecOutcome, String> {
    let args = ExecArgs {
        bundle: bundle.to_path_buf(),
        init_fd: init.as_raw_fd(),
        timeout,
        stdio: ExecStdio::Capture,
        argv: argv.to_vec(),
    };
    let child = command(exe, &args, vec![args.init_fd])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the {} helper: {e}", ExecArgs::VERB))?;
    let wait = child.wait_with_output();
    let out = if timeout.is_zero() {
        wait.await
    } else {
        tokio::time::timeout(timeout + Duration::from_secs(30), wait)
            .await
            .map_err(|_| format!("the {} helper did not return", ExecArgs::VERB))?
    }
    .map_err(|e| format!("{} helper: {e}", ExecArgs::VERB))?;
    crate::helper::outcome::<ExecArgs, _>(&out.stdout)
}

/// The standard streams of a session's command.
pub enum SessionStdio {
    /// Pipe ends (stdin `None`: `/dev/null`). Never a descriptor of the host's own files or
    /// terminals: a container holding one could reopen it through /proc or push input into it.
    Pipes {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// The replica end of a pseudo-terminal of the container's devpts.
    Terminal(OwnedFd),
}

/// A command running in a container for a client (`tandem exec`).
pub struct Session {
    child: tokio::process::Child,
    status: tokio::net::unix::pipe::Receiver,
}

impl Session {
    /// Starts ARGV in the container whose init `init` is a pidfd of.
    pub fn spawn(
        exe: &Path,
        bundle: &Path,
        init: BorrowedFd<'_>,
        argv: &[String],
        stdio: SessionStdio,
    ) -> std::io::Result<Session> {
        let (status_r, status_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
        let status_fd = status_w.as_raw_fd();
        let (mode, stdin, stdout, stderr) = match stdio {
            SessionStdio::Pipes {
                stdin,
                stdout,
                stderr,
            } => (
                ExecStdio::Pass { status_fd },
                stdin.map_or_else(Stdio::null, Stdio::from),
                Stdio::from(stdout),
                Stdio::from(stderr),
            ),
            SessionStdio::Terminal(replica) => (
                ExecStdio::Terminal { status_fd },
                Stdio::from(replica.try_clone()?),
                Stdio::from(replica.try_clone()?),
                Stdio::from(replica),
            ),
        };
        let args = ExecArgs {
            bundle: bundle.to_path_buf(),
            init_fd: init.as_raw_fd(),
            timeout: Duration::ZERO,
            stdio: mode,
            argv: argv.to_vec(),
        };
        let child = command(exe, &args, vec![args.init_fd, status_fd])
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn()?;
        drop(status_w);
        Ok(Session {
            child,
            status: tokio::net::unix::pipe::Receiver::from_owned_fd(status_r)?,
        })
    }

    /// Waits for the command to end. Dropping the future (or the session) instead kills the
    /// helper, and with it the command.
    pub async fn outcome(&mut self) -> ExecOutcome {
        use tokio::io::AsyncReadExt;
        let mut line = Vec::new();
        let read = self.status.read_to_end(&mut line).await;
        let _ = self.child.wait().await;
        match read {
            Ok(_) => {
                crate::helper::outcome::<ExecArgs, _>(&line).unwrap_or_else(ExecOutcome::error)
            }
            Err(e) => ExecOutcome::error(format!("{} helper: {e}", ExecArgs::VERB)),
        }
    }
}

/// Opens a pseudo-terminal of the container's own devpts (so the command sees `/dev/pts/N` as
/// its terminal, as with a runtime's console socket), reached through the init's root
/// (`/proc/PID/root/dev/ptmx`, resolved inside that root with openat2(2)'s RESOLVE_IN_ROOT, so
/// no link of the container's leads out of it), and sized `rows` × `cols` when given. Returns
/// the controlling end and the replica (TIOCGPTPEER, no path looked up in the container).
pub fn open_terminal(
    init_pid: i32,
    size: Option<(u16, u16)>,
) -> std::io::Result<(OwnedFd, OwnedFd)> {
    use nix::fcntl::{openat2, OpenHow, ResolveFlag};
    let root = nix::fcntl::open(
        format!("/proc/{init_pid}/root").as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    // SAFETY: open(2) returned a new descriptor that nothing else owns.
    let root = unsafe { OwnedFd::from_raw_fd(root) };
    let how = OpenHow::new()
        .flags(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let master = openat2(root.as_raw_fd(), "dev/ptmx", how)?;
    // SAFETY: as above, for openat2(2).
    let master = unsafe { OwnedFd::from_raw_fd(master) };
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer, which outlives the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: TIOCGPTPEER takes open(2) flags by value and returns a new descriptor.
    let replica = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if replica == -1 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the ioctl returned a new descriptor that nothing else owns.
    let replica = unsafe { OwnedFd::from_raw_fd(replica) };
    if let Some((rows, cols)) = size {
        resize_terminal(master.as_fd(), rows, cols)?;
    }
    Ok((master, replica))
}

/// Sets a pseudo-terminal's window size (the foreground process group gets SIGWINCH).
pub fn resize_terminal(terminal: BorrowedFd<'_>, rows: u16, cols: u16) -> std::io::Result<()> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize through the pointer, which outlives the call.
    if unsafe { libc::ioctl(terminal.as_raw_fd(), libc::TIOCSWINSZ, &size) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A terminal's window size (rows, columns), if `fd` is one.
pub fn terminal_size(fd: BorrowedFd<'_>) -> Option<(u16, u16)> {
    let mut size = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a winsize through the pointer, which outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut size) };
    (rc == 0).then_some((size.ws_row, size.ws_col))
}

/// The body of `tandem __exec`.
pub fn exec_main(args: &ExecArgs) -> i32 {
    // SAFETY: the parent passes the number of a pidfd it opened for this process (`command`
    // keeps it open across the exec) and nothing else here owns it.
    let init = unsafe { OwnedFd::from_raw_fd(args.init_fd) };
    let _ = fcntl(init.as_raw_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    let mut report: Box<dyn Write> = match args.stdio {
        ExecStdio::Capture => Box::new(std::io::stdout()),
        ExecStdio::Pass { status_fd } | ExecStdio::Terminal { status_fd } => {
            let _ = fcntl(status_fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
            // SAFETY: as above, for the write end of the status pipe.
            Box::new(std::fs::File::from(unsafe {
                OwnedFd::from_raw_fd(status_fd)
            }))
        }
    };
    let outcome = exec(args, init.as_fd());
    match serde_json::to_string(&outcome) {
        Ok(line) if writeln!(report, "{line}").is_ok() => 0,
        _ => 1,
    }
}

fn exec(args: &ExecArgs, init: BorrowedFd<'_>) -> ExecOutcome {
    if args.argv.is_empty() {
        return ExecOutcome::error("no command given".into());
    }
    let config = args.bundle.join("config.json");
    let spec = match Spec::load(&config) {
        Ok(s) => s,
        Err(e) => {
            return ExecOutcome::error(format!(
                "cannot read the container's spec {}: {e}",
                config.display()
            ))
        }
    };
    let capture = match args.stdio {
        ExecStdio::Capture => match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
            Ok(p) => Some(p),
            Err(e) => return ExecOutcome::error(format!("pipe: {e}")),
        },
        _ => None,
    };
    // Not dumpable until the exec, which resets it (prctl(2)): the child is in the container's
    // PID namespace, where its processes could otherwise open `/proc/<pid>/exe`, the host's
    // tandem binary (CVE-2019-5736), before the command replaces it.
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        return ExecOutcome::error(format!("cannot make the helper undumpable: {e}"));
    }
    if let Err(e) = enter(&spec, init) {
        return ExecOutcome::error(e);
    }
    let (err_r, err_w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return ExecOutcome::error(format!("pipe: {e}")),
    };
    // The child is in the container's PID namespace, where this process has no pid (getppid(2)
    // gives 0): whether it is still there is asked of a pidfd.
    // SAFETY: pidfd_open(2) of this process, no flags; it returns a new descriptor or -1.
    let helper = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
    if helper < 0 {
        return ExecOutcome::error(format!("pidfd_open: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the descriptor was just returned to this process and nothing else owns it.
    let helper = unsafe { OwnedFd::from_raw_fd(helper as RawFd) };
    // SAFETY: this process is single-threaded (a fresh helper that started no thread), so the
    // child may run any code until it execs.
    let pid = match unsafe { nix::unistd::fork() } {
        Err(e) => return ExecOutcome::error(format!("fork: {e}")),
        Ok(ForkResult::Child) => {
            drop(err_r);
            let out = capture.as_ref().map(|(_, w)| w.as_fd());
            let (code, message) = child(&spec, args, out, helper.as_fd());
            let _ = nix::unistd::write(&err_w, message.as_bytes());
            // SAFETY: _exit(2) ends the forked child without running the parent's atexit
            // handlers or flushing its buffers twice.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => child,
    };
    drop(err_w);
    let (out_r, out_w) = capture.unzip();
    drop(out_w);
    // The child writes only if it could not exec; the close on exec ends the pipe otherwise.
    let mut message = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::fs::File::from(err_r), &mut message);
    let failed = (!message.is_empty()).then(|| String::from_utf8_lossy(&message).into_owned());
    let mut outcome = match out_r {
        Some(out) => captured(pid, &out, args.timeout),
        None => ExecOutcome {
            exit_code: wait_exit(pid),
            timed_out: false,
            output: String::new(),
            error: None,
        },
    };
    if failed.is_some() {
        outcome.error = failed;
    }
    outcome
}

/// Joins the container's cgroup and enters its namespaces, those its spec lists, all at once
/// through the pidfd of its init (setns(2) with a pidfd, Linux 5.8). The user namespace is
/// listed only when the container has one of its own, since entering one's own is refused.
fn enter(spec: &Spec, init: BorrowedFd<'_>) -> Result<(), String> {
    let linux = spec.linux().as_ref();
    if let Some(rel) = linux.and_then(|l| l.cgroups_path().as_ref()) {
        crate::cgroups::join(rel, std::process::id() as i32)
            .map_err(|e| format!("cannot join the container's cgroup: {e}"))?;
    }
    let flags = linux
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .fold(CloneFlags::empty(), |flags, ns| {
            flags
                | match ns.typ() {
                    LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
                    LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
                    LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
                    LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
                    LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
                    LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
                    LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
                    LinuxNamespaceType::Time => CloneFlags::empty(),
                }
        });
    nix::sched::setns(init, flags).map_err(|e| match e {
        nix::Error::ESRCH => "the container has exited".to_string(),
        e => format!("cannot enter the container's namespaces: {e}"),
    })
}

/// The forked child: becomes the container's process and execs ARGV. Returns only on failure:
/// the exit status and what went wrong.
fn child(
    spec: &Spec,
    args: &ExecArgs,
    capture: Option<BorrowedFd<'_>>,
    helper: BorrowedFd<'_>,
) -> (i32, String) {
    let fail = |what: &str, e: &dyn std::fmt::Display| (1, format!("{what}: {e}"));
    let Some(process) = spec.process().as_ref() else {
        return (1, "the container's spec has no process".into());
    };
    // A session of its own: signals for the helper's group do not reach it, and with a
    // terminal, that terminal becomes its controlling one (credentials(7)).
    if let Err(e) = nix::unistd::setsid() {
        return fail("setsid", &e);
    }
    let stdio = match (args.stdio, capture) {
        (ExecStdio::Terminal { .. }, _) => take_terminal(),
        (_, Some(out)) => onto_stdout_and_stderr(out),
        _ => Ok(()),
    };
    if let Err(e) = stdio {
        return fail("cannot set up the command's stdio", &e);
    }
    let user = process.user();
    let syscall = libcontainer::syscall::syscall::create_syscall();
    let gids: Vec<Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    let setgroups_denied =
        std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !(setgroups_denied && gids.is_empty()) {
        if let Err(e) = nix::unistd::setgroups(&gids) {
            return fail("cannot set the supplementary groups", &e);
        }
    }
    if let Err(e) = syscall.set_id(Uid::from_raw(user.uid()), Gid::from_raw(user.gid())) {
        return fail("cannot set the user", &e);
    }
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let no_new_privs = process.no_new_privileges().unwrap_or(false);
    // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN, which is about to go
    // (seccomp(2)); with it, the filter comes as late as it can.
    if let (Some(filter), false) = (seccomp, no_new_privs) {
        if let Err(e) = libcontainer::seccomp::initialize_seccomp(filter) {
            return fail("cannot load the seccomp filter", &e);
        }
    }
    if let Err(e) = libcontainer::capabilities::reset_effective(syscall.as_ref()) {
        return fail("cannot set the capabilities", &e);
    }
    if let Some(caps) = process.capabilities() {
        if let Err(e) = libcontainer::capabilities::drop_privileges(caps, syscall.as_ref()) {
            return fail("cannot drop the capabilities", &e);
        }
    }
    if let Err(e) = nix::unistd::chdir(process.cwd()) {
        return (
            1,
            format!(
                "cannot change to the working directory {}: {e}",
                process.cwd().display()
            ),
        );
    }
    let mut env: Vec<String> = process.env().clone().unwrap_or_default();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        let home =
            libcontainer::utils::get_user_home(user.uid()).unwrap_or_else(|| PathBuf::from("/"));
        env.push(format!("HOME={}", home.display()));
    }
    let program = match find_program(&args.argv[0], &env) {
        Ok(p) => p,
        Err(message) => return (NOT_FOUND, message),
    };
    let (Ok(path), Ok(argv), Ok(envp)) = (
        CString::new(program.into_os_string().into_encoded_bytes()),
        args.argv
            .iter()
            .map(|a| CString::new(a.as_bytes()))
            .collect::<Result<Vec<_>, _>>(),
        env.iter()
            .map(|e| CString::new(e.as_bytes()))
            .collect::<Result<Vec<_>, _>>(),
    ) else {
        return (1, "the command or environment holds a NUL byte".into());
    };
    if no_new_privs {
        if let Err(e) = nix::sys::prctl::set_no_new_privs() {
            return fail("cannot set no_new_privs", &e);
        }
        if let Some(filter) = seccomp {
            if let Err(e) = libcontainer::seccomp::initialize_seccomp(filter) {
                return fail("cannot load the seccomp filter", &e);
            }
        }
    }
    // Set after the credentials changed, which clear it (prctl(2)); checked against the helper,
    // which may have died before (its pidfd turns readable when it exits).
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    let mut helper = [PollFd::new(helper, PollFlags::POLLIN)];
    if poll(&mut helper, PollTimeout::ZERO) != Ok(0) {
        return (1, "the exec helper ended".into());
    }
    // Nothing of the helper's beyond stdio reaches the container: the init pidfd, the status
    // and error pipes are all close-on-exec already; this also covers anything inherited.
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets flags on this process's
    // descriptors from 3 up.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    let e = nix::unistd::execve(&path, &argv, &envp).unwrap_err();
    let code = if e == nix::Error::ENOENT {
        NOT_FOUND
    } else {
        NOT_EXECUTABLE
    };
    (code, format!("exec: {:?}: {}", args.argv[0], e.desc()))
}

/// Makes stdin, the pseudo-terminal replica, this new session's controlling terminal.
fn take_terminal() -> std::io::Result<()> {
    // SAFETY: TIOCSCTTY on stdin with 0: never steal a terminal that is another session's.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } == -1 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Points stdout and stderr at `out`.
fn onto_stdout_and_stderr(out: BorrowedFd<'_>) -> std::io::Result<()> {
    for target in [1, 2] {
        // SAFETY: dup2(2) of a descriptor this process holds onto stdout and stderr.
        if unsafe { libc::dup2(out.as_raw_fd(), target) } == -1 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The program ARGV[0] names: a path as given, or the first executable file of that name in the
/// directories of `PATH` (the container's, else the default one containerd gives).
fn find_program(name: &str, env: &[String]) -> Result<PathBuf, String> {
    if name.contains('/') {
        return Ok(PathBuf::from(name));
    }
    let path = env
        .iter()
        .rev()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file() && nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok())
        .ok_or_else(|| format!("exec: {name:?}: executable file not found in $PATH"))
}

/// Waits for the command and reads its exit status (128 + the signal that killed it).
fn wait_exit(pid: Pid) -> Option<i32> {
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => return Some(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Some(128 + sig as i32),
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(_) => return None,
        }
    }
}

/// Reads the command's output while it runs, until it exits or the timeout (zero: none).
fn captured(pid: Pid, out: &OwnedFd, timeout: Duration) -> ExecOutcome {
    let _ = fcntl(out.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let started = Instant::now();
    let mut output = Vec::new();
    let mut open = true;
    loop {
        if open {
            let mut fds = [PollFd::new(out.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(20u8));
            open = drain(out, &mut output);
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        let exit = match waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => Some(code),
            Ok(WaitStatus::Signaled(_, sig, _)) => Some(128 + sig as i32),
            Ok(_) | Err(nix::Error::EINTR) => None,
            Err(e) => return ExecOutcome::error(format!("waitpid: {e}")),
        };
        if let Some(code) = exit {
            // What it wrote just before exiting; background children may keep the pipe open,
            // so this does not wait for EOF.
            drain(out, &mut output);
            return ExecOutcome {
                exit_code: Some(code),
                timed_out: false,
                output: String::from_utf8_lossy(&output).into_owned(),
                error: None,
            };
        }
        if !timeout.is_zero() && started.elapsed() >= timeout {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            return ExecOutcome {
                exit_code: None,
                timed_out: true,
                output: String::from_utf8_lossy(&output).into_owned(),
                error: None,
            };
        }
    }
}

/// Reads what is available; returns false at EOF.
fn drain(fd: &OwnedFd, output: &mut Vec<u8>) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        match nix::unistd::read(fd.as_raw_fd(), &mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(output.len());
                output.extend_from_slice(&buf[..n.min(room)]);
            }
            Err(nix::Error::EINTR) => continue,
            Err(_) => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_program_is_looked_up_in_the_containers_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).expect("mkdir");
        let tool = bin.join("tool");
        std::fs::write(&tool, "#!/bin/sh\n").expect("write");
        let plain = bin.join("plain");
        std::fs::write(&plain, "data").expect("write");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let env = vec![format!("PATH=/nonexistent:{}", bin.display())];
        assert_eq!(find_program("tool", &env), Ok(tool));
        assert_eq!(
            find_program("plain", &env),
            Err("exec: \"plain\": executable file not found in $PATH".into())
        );
        assert_eq!(find_program("./rel/x", &env), Ok(PathBuf::from("./rel/x")));
    }

    #[test]
    fn stdio_modes_read_back() {
        for m in [
            ExecStdio::Capture,
            ExecStdio::Pass { status_fd: 9 },
            ExecStdio::Terminal { status_fd: 12 },
        ] {
            assert_eq!(ExecStdio::parse(&m.to_arg()), Some(m));
        }
        assert_eq!(ExecStdio::parse("pass:x"), None);
        assert_eq!(ExecStdio::parse("tty:3"), None);
    }
}
