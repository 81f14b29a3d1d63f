//! The supervisor as the parent of its containers: a child subreaper (prctl(2)
//! `PR_SET_CHILD_SUBREAPER`) that waits for each container's init through a pidfd, and reaps the
//! strangers being a subreaper brings.
//!
//! A shim creates one container and exits once it runs ([`crate::shim`]). The container's init
//! is the shim's child (libcontainer clones it with `CLONE_PARENT`), so when the shim exits the
//! kernel hands it to the nearest subreaper among its ancestors: the supervisor. There is then no
//! process per container besides the container itself. [`Adopted`] holds a pidfd of the init,
//! opened while the shim still runs, so the pid can never name another process; signals go
//! through it (pidfd_send_signal(2)) and the exit is read from it (waitid(2) `P_PIDFD`).
//!
//! A subreaper is handed every orphan below it, not only the inits it waits for: what an exec
//! helper killed at its timeout leaves in a container, the orphans of a container in the host's
//! PID namespace, the PID 1 of a dead pause process's namespace. Nobody waits for those by pid,
//! so [`spawn_sweeper`] reaps them. It must not take the exit of a child this process spawned
//! itself (tokio and std wait for those by pid, and would get `ECHILD`), so a zombie is reaped
//! only as a stranger: not an adopted init, and either in another session or in a nested PID
//! namespace. The supervisor leads its own session and its helpers stay in it, while every
//! container process calls setsid(2) in libcontainer's init and a pod's PID 1 lives in the pod's
//! PID namespace. Reaping matters beyond the pid a zombie keeps: a zombie that belongs to a
//! container's PID namespace keeps that namespace's init from finishing its exit
//! (pid_namespaces(7)), so the container would never be seen to stop.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// The inits this process waits for through their pidfd: never a stranger.
static ADOPTED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn adopted() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    // The set stays consistent whatever a panicking holder did: each change is one insert or
    // remove.
    ADOPTED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Makes this process the subreaper of everything it starts (prctl(2)).
pub fn become_subreaper() -> nix::Result<()> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// How a process ended, as the kubelet reports it: a signal as `128 + n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub exit_code: i32,
    pub signal: Option<i32>,
}

impl Exit {
    fn of(status: WaitStatus) -> Option<Exit> {
        match status {
            WaitStatus::Exited(_, code) => Some(Exit {
                exit_code: code,
                signal: None,
            }),
            WaitStatus::Signaled(_, sig, _) => Some(Exit {
                exit_code: 128 + sig as i32,
                signal: Some(sig as i32),
            }),
            _ => None,
        }
    }
}

/// A process this one will wait for through a pidfd: a container's init, a grandchild until its
/// shim exits and a child from then on.
#[derive(Debug)]
pub struct Adopted {
    pid: i32,
    fd: AsyncFd<OwnedFd>,
}

impl Adopted {
    /// Opens a pidfd of `pid` and keeps it out of the stranger sweep. `pid` must be a process
    /// nobody but this one can reap (a child of a child that does not wait for it): then it
    /// names the same process, alive or a zombie, until this one reaps it.
    pub fn new(pid: i32) -> io::Result<Adopted> {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1; it
        // touches no memory of ours.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the descriptor was just returned by the kernel and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
        // SAFETY: the AsyncFd owns the descriptor, so it stays open (and names this pidfd) for
        // as long as it is registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        adopted().insert(pid);
        Ok(Adopted { pid, fd })
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The pidfd, to hand to a helper that enters the process's namespaces.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }

    /// Sends the signal numbered `signo` (real-time signals included); one that has already
    /// exited is not an error.
    pub fn signal(&self, signo: i32) -> io::Result<()> {
        // SAFETY: pidfd_send_signal(2) with a pidfd this value owns, a signal number, no siginfo
        // (the kernel fills it in as kill(2) would) and no flags.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.fd.get_ref().as_raw_fd(),
                signo,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        match rc {
            0 => Ok(()),
            _ => match io::Error::last_os_error() {
                e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
                e => Err(e),
            },
        }
    }

    /// Waits for the process to exit and reaps it. It must be this process's child by then (its
    /// shim reaped): a pidfd turns readable at the exit of any process, but only the parent can
    /// take the status.
    pub async fn wait(&self) -> io::Result<Exit> {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::__WALL;
        loop {
            let mut ready = self.fd.readable().await?;
            match waitid(Id::PIDFd(self.fd.get_ref().as_fd()), flags) {
                Err(nix::Error::EINTR) => {}
                Err(e) => return Err(e.into()),
                Ok(status) => match Exit::of(status) {
                    Some(exit) => return Ok(exit),
                    None => ready.clear_ready(),
                },
            }
        }
    }
}

impl Drop for Adopted {
    fn drop(&mut self) {
        // Unreaped, it is a stranger from now on, for the sweep to reap.
        adopted().remove(&self.pid);
    }
}

/// How often the sweep looks again while one of this process's own children stands unreaped in
/// front of the zombies behind it.
const LINGER_RECHECK: Duration = Duration::from_secs(1);

/// Reaps strangers on every SIGCHLD for as long as the async runtime runs (see the module
/// header). Needs a tokio runtime with signals enabled.
pub fn spawn_sweeper() -> io::Result<()> {
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())?;
    tokio::spawn(async move {
        // Orphans handed over before the runtime ran sent their SIGCHLD to nobody.
        let mut blocked = sweep(None);
        loop {
            if blocked.is_some() {
                tokio::select! {
                    _ = sigchld.recv() => {}
                    _ = tokio::time::sleep(LINGER_RECHECK) => {}
                }
            } else if sigchld.recv().await.is_none() {
                return;
            }
            // The owners of this process's own children were woken by the same signal: let them
            // reap theirs first.
            tokio::task::yield_now().await;
            blocked = sweep(blocked);
        }
    });
    Ok(())
}

/// One pass: reaps the zombie children that are strangers, in the order the kernel lists them
/// (waitid(2) `WNOWAIT` shows the first without reaping it). Stops at the first zombie that is
/// not a stranger, which its owner is about to reap, and returns its pid. If the same one stood
/// first last time, it lingers (a dead pause process is kept until its sandbox is replaced), and
/// the strangers behind it are found by a walk of /proc instead.
pub fn sweep(blocked_before: Option<i32>) -> Option<i32> {
    let peek = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    loop {
        let pid = waitid(Id::All, peek | WaitPidFlag::__WALL)
            .ok()
            .and_then(|s| s.pid())?
            .as_raw();
        if is_stranger(pid) {
            reap(pid);
            continue;
        }
        if blocked_before == Some(pid) {
            zombie_children()
                .into_iter()
                .filter(|p| is_stranger(*p))
                .for_each(reap);
        }
        return Some(pid);
    }
}

fn reap(pid: i32) {
    let _ = waitpid(
        Pid::from_raw(pid),
        Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL),
    );
}

/// Whether `pid` (a zombie child) is nobody's to wait for but the sweep's.
fn is_stranger(pid: i32) -> bool {
    if adopted().contains(&pid) {
        return false;
    }
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return false;
    };
    let field = |name: &str| -> Vec<i32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let own_session = nix::unistd::getsid(None).map(|s| s.as_raw()).ok();
    let nested = field("NSpid:").len() > 1;
    let foreign_session = field("NSsid:").first().copied() != own_session;
    nested || foreign_session
}

/// This process's children that are zombies, from /proc (proc(5): the state and the parent
/// follow the command name, which may hold spaces and parentheses).
fn zombie_children() -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                let mut rest = stat
                    .get(stat.rfind(')').map_or(stat.len(), |i| i + 1)..)
                    .unwrap_or("")
                    .split_whitespace();
                rest.next() == Some("Z") && rest.next().and_then(|p| p.parse().ok()) == Some(me)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_read_as_the_kubelet_reports_them() {
        let pid = Pid::from_raw(1);
        assert_eq!(
            Exit::of(WaitStatus::Exited(pid, 3)),
            Some(Exit {
                exit_code: 3,
                signal: None
            })
        );
        assert_eq!(
            Exit::of(WaitStatus::Signaled(pid, nix::sys::signal::SIGKILL, false)),
            Some(Exit {
                exit_code: 137,
                signal: Some(9)
            })
        );
        assert_eq!(Exit::of(WaitStatus::StillAlive), None);
    }
}
