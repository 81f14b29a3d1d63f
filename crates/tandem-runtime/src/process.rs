//! Signals and process-tree housekeeping.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// Sends `signal` to `pid`; a process that is already gone is not an error.
pub fn send_signal(pid: i32, signal: Signal) -> Result<(), nix::Error> {
    match kill(Pid::from_raw(pid), signal) {
        Err(nix::Error::ESRCH) | Ok(()) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Sends the signal numbered `signo` to `pid`, real-time signals included (which nix's `Signal`
/// cannot name); a process that is already gone is not an error.
pub fn send_signal_number(pid: i32, signo: i32) -> Result<(), nix::Error> {
    if let Ok(signal) = Signal::try_from(signo) {
        return send_signal(pid, signal);
    }
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, signo) };
    match nix::Error::result(rc) {
        Err(nix::Error::ESRCH) | Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a process with this pid runs. A zombie does not: it has exited and only waits for
/// its parent to reap it, which for an orphan may take the host's init a while.
pub fn is_alive(pid: i32) -> bool {
    if matches!(kill(Pid::from_raw(pid), None), Err(nix::Error::ESRCH)) {
        return false;
    }
    // The state follows the command name, which may hold spaces and parentheses (proc(5)).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.get(stat.rfind(')')? + 2..)?.chars().next()?;
            Some(state != 'Z' && state != 'X')
        })
        .unwrap_or(true)
}

/// SIGKILLs every other process that has the open file `file` refers to (the same inode, found
/// through `/proc/*/fd`), again and again until none is left or `patience` runs out. Returns the
/// processes killed.
///
/// This is how a pipe's leaked write ends are taken back: a process forked without exec(2) keeps
/// every descriptor of its parent, close-on-exec or not, so when a parent dies its half-made
/// children may hold the parent's pipes open, and a reader waiting for EOF waits for them.
pub fn kill_holders(file: std::os::fd::BorrowedFd<'_>, patience: std::time::Duration) -> Vec<i32> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = nix::sys::stat::fstat(file.as_raw_fd()) else {
        return vec![];
    };
    let (dev, ino) = (target.st_dev, target.st_ino);
    let me = std::process::id() as i32;
    let deadline = std::time::Instant::now() + patience;
    let mut killed = vec![];
    loop {
        let holders: Vec<i32> = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid != me)
            .filter(|pid| {
                std::fs::read_dir(format!("/proc/{pid}/fd"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|fd| {
                        std::fs::metadata(fd.path()).is_ok_and(|m| m.dev() == dev && m.ino() == ino)
                    })
            })
            .collect();
        if holders.is_empty() || std::time::Instant::now() >= deadline {
            return killed;
        }
        for pid in holders {
            if send_signal(pid, Signal::SIGKILL).is_ok() && !killed.contains(&pid) {
                killed.push(pid);
            }
        }
        // A killed process holds its descriptors until it has exited.
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Lets SIGPIPE end this process again, as it ends `cat` or `grep`: the Rust runtime ignores it,
/// so a write to a closed pipe fails with EPIPE instead, and `print!` turns that into a panic
/// (`tandem get pods | head`). For commands whose only pipe is their standard output; a process
/// that writes to sockets whose peers may go must keep SIGPIPE ignored.
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler};
    // SAFETY: SIG_DFL installs no handler of ours, so no code runs in signal context; changing
    // the disposition is process-wide, which is the intent.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}
