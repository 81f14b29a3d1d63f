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

/// Whether a process with this pid exists (signal 0, kill(2)).
pub fn is_alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(nix::Error::ESRCH))
}
