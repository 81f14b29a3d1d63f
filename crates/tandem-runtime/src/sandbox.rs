//! The pod sandbox: a pause process that holds the pod's network, IPC and UTS namespaces.
//!
//! Containers join the namespaces through `/proc/<pause>/ns/*`. Holding them with a process rather
//! than bind mounts means nothing is left on the host when the pod ends: the pause process dies
//! with its supervisor (PR_SET_PDEATHSIG), first killing every process of the pod's cgroup, and
//! the kernel frees the namespaces with it.

use crate::helper::{Args, ArgsError, HelperArgs};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sched::{unshare, CloneFlags};

use crate::userns::IdRange;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("cannot start the pod's pause process ({exe})")]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the pod's pause process failed: {message}")]
    Pause { message: String },
    #[error("the pod's pause process did not report its namespaces ready within {timeout:?} and was killed{stderr}")]
    Timeout { timeout: Duration, stderr: String },
}

impl SandboxError {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Internal
    }
}

/// A running sandbox. Dropping it does not stop it; call [`Sandbox::stop`].
#[derive(Debug)]
pub struct Sandbox {
    child: Child,
}

impl Sandbox {
    /// Starts `exe __pause HOSTNAME` (the entry point is [`pause_main`]) and waits until its
    /// namespaces are ready.
    pub fn start(exe: &Path, hostname: &str) -> Result<Sandbox, SandboxError> {
        Self::start_with(exe, hostname, false)
    }

    /// As [`Sandbox::start`]; with `host_network` the pause process keeps the host's network and
    /// UTS namespaces (a `hostNetwork` pod) and holds only the pod's IPC namespace.
    pub fn start_with(
        exe: &Path,
        hostname: &str,
        host_network: bool,
    ) -> Result<Sandbox, SandboxError> {
        Self::start_pod(exe, hostname, host_network, false, None)
    }

    /// As [`Sandbox::start_with`]; with `share_pid` the sandbox also holds a PID namespace
    /// (`shareProcessNamespace`) whose PID 1 is a child of the pause process that reaps orphans;
    /// containers join it through [`Sandbox::ns_path`]`("pid_for_children")`.
    ///
    /// With `user_ns` (`hostUsers: false`) the pause process first makes a user namespace, which
    /// gets this id range before the other namespaces are made, so they belong to it: the pod's
    /// root is then root over its own network, IPC and UTS namespaces and nothing else.
    pub fn start_pod(
        exe: &Path,
        hostname: &str,
        host_network: bool,
        share_pid: bool,
        user_ns: Option<IdRange>,
    ) -> Result<Sandbox, SandboxError> {
        Self::start_within(
            exe,
            hostname,
            host_network,
            share_pid,
            user_ns,
            HANDSHAKE_TIMEOUT,
        )
    }

    fn start_within(
        exe: &Path,
        hostname: &str,
        host_network: bool,
        share_pid: bool,
        user_ns: Option<IdRange>,
        timeout: Duration,
    ) -> Result<Sandbox, SandboxError> {
        let deadline = Instant::now() + timeout;
        let mut cmd = Command::new(PauseArgs::program(exe));
        cmd.args(
            PauseArgs {
                hostname: hostname.to_string(),
                parent: std::process::id() as i32,
                host_network,
                share_pid,
                user_ns: user_ns.is_some(),
            }
            .argv(),
        );
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                exe: exe.into(),
                source,
            })?;
        let mut out = child.stdout.take().map(|out| Handshake {
            out,
            buf: Vec::new(),
        });
        let mut next_line = |child: &mut Child| -> Result<String, SandboxError> {
            match out.as_mut().map(|o| o.line(deadline)) {
                None => Ok(String::new()),
                Some(Some(line)) => Ok(line),
                Some(None) => {
                    let _ = child.kill();
                    let stderr = child
                        .stderr
                        .take()
                        .map(|mut e| {
                            let mut text = String::new();
                            let _ = e.read_to_string(&mut text);
                            text
                        })
                        .unwrap_or_default();
                    let _ = child.wait();
                    let stderr = stderr.trim();
                    Err(SandboxError::Timeout {
                        timeout,
                        stderr: if stderr.is_empty() {
                            String::new()
                        } else {
                            format!(": {stderr}")
                        },
                    })
                }
            }
        };
        let mut line = next_line(&mut child)?;
        if let (Some(range), "userns") = (user_ns, line.trim()) {
            let mapped = crate::userns::write_maps(child.id() as i32, range);
            if let Err(e) = &mapped {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SandboxError::Pause {
                    message: crate::error_chain(e),
                });
            }
            if let Some(stdin) = child.stdin.as_mut() {
                let _ = writeln!(stdin, "mapped");
            }
            line = next_line(&mut child)?;
        }
        if line.trim() != "ready" {
            let _ = child.kill();
            let out = child
                .wait_with_output()
                .map(|o| String::from_utf8_lossy(&o.stderr).trim().to_string());
            return Err(SandboxError::Pause {
                message: out.unwrap_or_default(),
            });
        }
        // The pause process shares the pod's memory limit (it is in the pod cgroup, as the
        // kubelet puts it); like the kubelet's it must be the last thing the OOM killer picks,
        // since its death is the loss of the whole sandbox.
        let _ = std::fs::write(format!("/proc/{}/oom_score_adj", child.id()), "-998");
        Ok(Sandbox { child })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The pause process and its children (with `share_pid`, the PID namespace's init), which
    /// were forked before the caller could move the pause process into a cgroup.
    pub fn processes(&self) -> Vec<i32> {
        let pid = self.pid();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        std::iter::once(pid)
            .chain(children.split_whitespace().filter_map(|c| c.parse().ok()))
            .collect()
    }

    /// `/proc/<pid>/ns/<kind>` for `net`, `ipc`, `uts`, (with `share_pid`) `pid_for_children`
    /// or (with a user namespace) `user`.
    pub fn ns_path(&self, kind: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/{kind}", self.pid()))
    }

    /// Whether the pause process has exited: its namespaces are gone with it, unless a container
    /// still holds them.
    ///
    /// It is not reaped here (waitid(2) `WNOWAIT`): it stays a zombie, so its pid cannot be
    /// given to another process while `/proc/<pid>/ns/*` paths naming it are still handed to
    /// starts, probes and hooks; [`Sandbox::stop`] reaps it when the sandbox is replaced or torn
    /// down. Asking again gives the same answer.
    pub fn exited(&self) -> bool {
        use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
        // An error means the child is no longer ours to wait for: gone all the same.
        !matches!(
            waitid(Id::Pid(nix::unistd::Pid::from_raw(self.pid())), flags),
            Ok(WaitStatus::StillAlive)
        )
    }

    /// Kills the pause process (if it still runs) and reaps it. Safe after [`Sandbox::exited`]
    /// returned true: until this reaps it, the pid is still the zombie's.
    pub fn stop(mut self) {
        let _ = crate::process::send_signal(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// How long a new pause process has to report its namespaces ready. It only makes namespaces and
/// brings up `lo`, which takes milliseconds; the bound is for a pause process that hangs, which
/// would otherwise block the supervisor's only thread (and the pod with it) for good.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pause process's stdout during the handshake, read line by line with a deadline.
struct Handshake {
    out: ChildStdout,
    buf: Vec<u8>,
}

impl Handshake {
    /// The next line (what is left when the pipe closes first, as `read_line`), or `None` when
    /// `deadline` passes before it is complete.
    fn line(&mut self, deadline: Instant) -> Option<String> {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        loop {
            if let Some(end) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return Some(String::from_utf8_lossy(&line).into_owned());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let wait = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(self.out.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, wait) {
                // Timed out or interrupted: the deadline decides.
                Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
                Ok(_) => {}
                Err(_) => return Some(self.rest()),
            }
            let mut chunk = [0u8; 256];
            match self.out.read(&mut chunk) {
                Ok(0) => return Some(self.rest()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Some(self.rest()),
            }
        }
    }

    fn rest(&mut self) -> String {
        String::from_utf8_lossy(&std::mem::take(&mut self.buf)).into_owned()
    }
}

/// `tandem __pause HOSTNAME PARENT_PID [--host-network] [--share-pid] [--user-ns]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseArgs {
    pub hostname: String,
    /// The supervisor, whose death the pause process watches for.
    pub parent: i32,
    pub host_network: bool,
    pub share_pid: bool,
    pub user_ns: bool,
}

impl HelperArgs for PauseArgs {
    const VERB: &'static str = "__pause";
    const PROGRAM: Option<&'static str> = Some("tandem-pause");

    fn to_args(&self) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> =
            vec![self.hostname.clone().into(), self.parent.to_string().into()];
        for (on, flag) in [
            (self.host_network, "--host-network"),
            (self.share_pid, "--share-pid"),
            (self.user_ns, "--user-ns"),
        ] {
            if on {
                args.push(flag.into());
            }
        }
        args
    }

    fn parse(args: &[std::ffi::OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let mut parsed = PauseArgs {
            hostname: a.text("hostname")?.to_string(),
            parent: a.value("parent pid")?,
            host_network: false,
            share_pid: false,
            user_ns: false,
        };
        for flag in a.rest() {
            match flag.to_str() {
                Some("--host-network") => parsed.host_network = true,
                Some("--share-pid") => parsed.share_pid = true,
                Some("--user-ns") => parsed.user_ns = true,
                _ => return Err(a.error(format!("unknown flag {flag:?}"))),
            }
        }
        Ok(parsed)
    }
}

/// The body of `tandem __pause`. Never returns.
pub fn pause_main(args: &PauseArgs) -> ! {
    let &PauseArgs {
        ref hostname,
        parent,
        host_network,
        share_pid,
        user_ns,
    } = args;
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("{what}: {e}");
        std::process::exit(1)
    };
    // Die with the supervisor, and take the pod's containers along: a pod whose supervisor is
    // gone must not run on unsupervised (no probes, restarts or logs). The parent's death comes
    // as SIGTERM, held blocked and taken by `sigwait` below; checked against the parent pid
    // afterwards too, because the parent may have died before the prctl (prctl(2)).
    let mut term = SigSet::empty();
    term.add(Signal::SIGTERM);
    if let Err(e) = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&term), None) {
        fail("cannot block SIGTERM", &e);
    }
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGTERM) {
        fail("cannot set the parent-death signal", &e);
    }
    if nix::unistd::getppid().as_raw() != parent {
        std::process::exit(1);
    }
    if user_ns {
        // The user namespace first: namespaces made afterwards belong to it
        // (user_namespaces(7), "Interaction of user namespaces and other types of namespaces").
        // Its id maps can only be written from outside, by the parent, which then says so.
        if let Err(e) = unshare(CloneFlags::CLONE_NEWUSER) {
            fail("cannot create the pod's user namespace", &e);
        }
        let mut out = std::io::stdout();
        let _ = writeln!(out, "userns");
        let _ = out.flush();
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        if line.trim() != "mapped" {
            fail("the pod's user namespace got no id map", &line.trim());
        }
    }
    if host_network {
        if let Err(e) = unshare(CloneFlags::CLONE_NEWIPC) {
            fail("cannot create the pod's namespaces", &e);
        }
    } else {
        if let Err(e) =
            unshare(CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS)
        {
            fail("cannot create the pod's namespaces", &e);
        }
        if let Err(e) = nix::unistd::sethostname(hostname) {
            fail("cannot set the pod's hostname", &e);
        }
        // A new network namespace starts with `lo` down; every container of the pod talks over it.
        if let Err(e) = loopback_up() {
            fail("cannot bring up the loopback interface", &e);
        }
    }
    if share_pid {
        if let Err(e) = pid_namespace_init() {
            fail("cannot create the pod's PID namespace", &e);
        }
    }
    let mut out = std::io::stdout();
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    // Only SIGTERM is awaited; SIGKILL (the supervisor's stop) ends this process as it comes.
    let _ = term.wait();
    if nix::unistd::getppid().as_raw() != parent {
        stop_orphaned_pod();
    }
    std::process::exit(0)
}

/// How long the pause process of a pod whose supervisor died waits for the pod's processes to go.
const ORPHAN_PATIENCE: Duration = Duration::from_secs(5);

/// The supervisor is gone: SIGKILLs every other process in this pod's cgroup (its containers,
/// their exec'd helpers, the PID namespace's init). Only from inside a pod's sandbox leaf
/// ([`crate::cgroups::own_pod_cgroup`]); a pause process that never got there (its supervisor
/// died first) kills nothing. What the processes leave (cgroups, the network attachment, the
/// pod directory) is `tandem delete`'s to remove.
fn stop_orphaned_pod() {
    let Some(pod) = crate::cgroups::own_pod_cgroup() else {
        return;
    };
    let me = std::process::id() as i32;
    let deadline = Instant::now() + ORPHAN_PATIENCE;
    loop {
        let others: Vec<i32> = crate::cgroups::pids_in(&pod)
            .into_iter()
            .filter(|p| *p != me)
            .collect();
        if others.is_empty() || Instant::now() >= deadline {
            return;
        }
        for pid in others {
            let _ = crate::process::send_signal(pid, Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Creates the pod's PID namespace and forks its PID 1: a process that only reaps the orphans
/// the kernel hands it, and dies with the pause process (and with it every process of the
/// namespace). The pause process keeps the namespace reachable as `ns/pid_for_children`.
fn pid_namespace_init() -> Result<(), nix::Error> {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    unshare(CloneFlags::CLONE_NEWPID)?;
    // SAFETY: the pause process is single-threaded (its entry point runs before any thread is
    // started), so the child may run arbitrary code after fork(2).
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { .. } => Ok(()),
        nix::unistd::ForkResult::Child => {
            let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
            let mut chld = SigSet::empty();
            chld.add(Signal::SIGCHLD);
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&chld), None);
            loop {
                let _ = chld.wait();
                while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                    if status == nix::sys::wait::WaitStatus::StillAlive {
                        break;
                    }
                }
            }
        }
    }
}

/// Sets IFF_UP on `lo` (netdevice(7), SIOCSIFFLAGS).
fn loopback_up() -> Result<(), nix::Error> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    // SAFETY: ifreq is a plain C struct for which all-zero bytes are a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the interface named in `req` and writes its flags into `req`,
    // which lives for the duration of the call; the socket fd is open.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(nix::Error::last());
    }
    // SAFETY: after a successful SIOCGIFFLAGS the flags member of the union is the active one.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: as above; SIOCSIFFLAGS only reads `req`.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(nix::Error::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for `tandem __pause`: a shell script run as `exe __pause HOSTNAME PPID`. Kept
    /// beside the test binary rather than in /tmp, which may be mounted noexec.
    fn fake_pause(body: &str) -> (tempfile::TempDir, PathBuf) {
        let exe = std::env::current_exe().expect("current exe");
        let dir = tempfile::tempdir_in(exe.parent().expect("target dir")).expect("tempdir");
        let path = dir.path().join("pause.sh");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        (dir, path)
    }

    /// Starts the fake pause, retrying a spawn that raced another test thread's fork while the
    /// script was still open for writing (ETXTBSY).
    fn start(exe: &Path, timeout: Duration) -> Result<Sandbox, SandboxError> {
        for _ in 0..20 {
            match Sandbox::start_within(exe, "p", false, false, None, timeout) {
                Err(SandboxError::Spawn { source, .. })
                    if source.raw_os_error() == Some(libc::ETXTBSY) =>
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                other => return other,
            }
        }
        panic!("the script stayed busy");
    }

    fn state(pid: i32) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.get(stat.rfind(')')? + 2..)?.chars().next()
    }

    #[test]
    fn a_dead_pause_process_stays_a_zombie_until_stopped() {
        let (_dir, exe) = fake_pause("echo ready\nexec sleep 600");
        let sandbox = start(&exe, Duration::from_secs(30)).expect("sandbox");
        let pid = sandbox.pid();
        assert!(!sandbox.exited());
        crate::process::send_signal(pid, Signal::SIGKILL).expect("kill the pause process");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sandbox.exited() {
            assert!(Instant::now() < deadline, "the death was not noticed");
            std::thread::sleep(Duration::from_millis(10));
        }
        // Noticed, not reaped: the pid is still the zombie's, so no other process can get it
        // while paths under /proc/<pid> are in use; asking again does not reap it either.
        assert!(sandbox.exited());
        assert_eq!(
            state(pid),
            Some('Z'),
            "/proc/{pid} of the dead pause process"
        );
        sandbox.stop();
        assert_eq!(state(pid), None, "stop() reaps the zombie");
    }

    #[test]
    fn a_pause_process_that_never_reports_ready_fails_the_start() {
        let (_dir, exe) = fake_pause("echo starting >&2\nexec sleep 600");
        let began = Instant::now();
        let err = start(&exe, Duration::from_millis(300)).expect_err("no sandbox");
        assert!(began.elapsed() < Duration::from_secs(10), "the start hung");
        let text = err.to_string();
        assert!(
            matches!(err, SandboxError::Timeout { .. }) && text.contains("starting"),
            "{text}"
        );
    }
}
