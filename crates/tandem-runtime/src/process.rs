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

/// Whether a process with this pid exists (signal 0, kill(2)).
pub fn is_alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(nix::Error::ESRCH))
}
