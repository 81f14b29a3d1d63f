//! The pod sandbox: a pause process that holds the pod's network, IPC and UTS namespaces.
//!
//! Containers join the namespaces through `/proc/<pause>/ns/*`. Holding them with a process rather
//! than bind mounts means nothing is left on the host when the pod ends: the pause process dies
//! with its supervisor (PR_SET_PDEATHSIG), and the kernel frees the namespaces with it.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::sched::{unshare, CloneFlags};

use crate::userns::IdRange;
use nix::sys::signal::Signal;

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
        let mut cmd = Command::new(exe);
        cmd.arg("__pause")
            .arg(hostname)
            .arg(std::process::id().to_string());
        if host_network {
            cmd.arg("--host-network");
        }
        if share_pid {
            cmd.arg("--share-pid");
        }
        if user_ns.is_some() {
            cmd.arg("--user-ns");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                exe: exe.into(),
                source,
            })?;
        let mut line = String::new();
        let mut out = child.stdout.take().map(BufReader::new);
        if let Some(out) = out.as_mut() {
            let _ = out.read_line(&mut line);
        }
        if let (Some(range), "userns") = (user_ns, line.trim()) {
            line.clear();
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
            if let Some(out) = out.as_mut() {
                let _ = out.read_line(&mut line);
            }
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
        Ok(Sandbox { child })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// `/proc/<pid>/ns/<kind>` for `net`, `ipc`, `uts`, (with `share_pid`) `pid_for_children`
    /// or (with a user namespace) `user`.
    pub fn ns_path(&self, kind: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/{kind}", self.pid()))
    }

    /// Whether the pause process has exited (reaping it): its namespaces are gone with it, unless
    /// a container still holds them. Once this returned true the pid may belong to another
    /// process, so the sandbox must be dropped, never [`Sandbox::stop`]ped.
    pub fn exited(&mut self) -> bool {
        // An error means the child is no longer ours to wait for: gone all the same.
        !matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stop(mut self) {
        let _ = crate::process::send_signal(self.pid(), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// The body of `tandem __pause HOSTNAME PARENT_PID [--host-network] [--share-pid] [--user-ns]`.
/// Never returns.
pub fn pause_main(
    hostname: &str,
    parent: i32,
    host_network: bool,
    share_pid: bool,
    user_ns: bool,
) -> ! {
    let fail = |what: &str, e: &dyn std::fmt::Display| -> ! {
        eprintln!("{what}: {e}");
        std::process::exit(1)
    };
    // Die with the supervisor: a pause process must never outlive its pod. Checked against the
    // parent pid afterwards, because the parent may have died before the prctl (prctl(2)).
    if let Err(e) = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL) {
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
    loop {
        nix::unistd::pause();
    }
}

/// Creates the pod's PID namespace and forks its PID 1: a process that only reaps the orphans
/// the kernel hands it, and dies with the pause process (and with it every process of the
/// namespace). The pause process keeps the namespace reachable as `ns/pid_for_children`.
fn pid_namespace_init() -> Result<(), nix::Error> {
    use nix::sys::signal::{SigSet, SigmaskHow};
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
