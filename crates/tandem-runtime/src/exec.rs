//! `tandem __exec STATE_ROOT ID TIMEOUT_MS -- ARGV...`: runs a command inside a running container
//! (an exec probe or hook) and prints one JSON [`ExecOutcome`] line on stdout.
//!
//! Why a separate process: libcontainer's tenant builder joins the container's namespaces and
//! forks with a raw clone3(2), which is only sound from a single-threaded caller (see `shim`).
//! Through CLONE_PARENT the command's process becomes this helper's child, so it can waitpid(2) it.
//!
//! The command's stdout and stderr go to one pipe that this process reads (up to [`MAX_OUTPUT`]
//! bytes, like the kubelet's probe output limit). A command still running at the timeout is
//! SIGKILLed and reported as timed out; its background children are left to the container, as
//! with the kubelet's ExecSync.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::error_chain as chain;
use crate::helper::{Args, ArgsError, HelperArgs};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// Output kept from a command, as the kubelet keeps at most 10 KiB of probe output.
pub const MAX_OUTPUT: usize = 10 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecOutcome {
    /// The command's exit code (128 + signal if a signal killed it); `None` when it never ran or
    /// timed out.
    pub exit_code: Option<i32>,
    pub timed_out: bool,
    /// Combined stdout and stderr, lossily decoded.
    pub output: String,
    /// Why the command could not be run at all.
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

/// `tandem __exec STATE_ROOT ID TIMEOUT_MS -- ARGV…`: ARGV run inside container ID (its
/// libcontainer state under STATE_ROOT); a timeout of zero waits as long as the command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecArgs {
    pub state_root: PathBuf,
    pub id: String,
    pub timeout: Duration,
    pub argv: Vec<String>,
}

impl HelperArgs for ExecArgs {
    const VERB: &'static str = "__exec";

    fn to_args(&self) -> Vec<OsString> {
        let mut args = vec![
            self.state_root.clone().into_os_string(),
            OsString::from(&self.id),
            OsString::from(self.timeout.as_millis().to_string()),
            OsString::from("--"),
        ];
        args.extend(self.argv.iter().map(OsString::from));
        args
    }

    fn parse(args: &[OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let state_root = PathBuf::from(a.os("state root")?);
        let id = a.text("container id")?.to_string();
        let timeout = Duration::from_millis(a.value("timeout in milliseconds")?);
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
            state_root,
            id,
            timeout,
            argv,
        })
    }
}

/// The parent's end: runs `tandem __exec` (the binary at `exe`) and reads its outcome. The helper
/// enforces `args.timeout`; it is never killed from here, as it must reap the command it ran.
pub async fn call(exe: &Path, args: &ExecArgs) -> Result<ExecOutcome, String> {
    let bound = (!args.timeout.is_zero()).then_some(args.timeout);
    crate::helper::run(exe, args, bound, false).await
}

/// The body of `tandem __exec`.
pub fn exec_main(args: &ExecArgs) -> i32 {
    let outcome = exec(&args.state_root, &args.id, args.timeout, &args.argv);
    reap_children();
    match serde_json::to_string(&outcome) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(_) => 1,
    }
}

fn exec(state_root: &Path, id: &str, timeout: Duration, argv: &[String]) -> ExecOutcome {
    if argv.is_empty() {
        return ExecOutcome::error("no command given".into());
    }
    let (read_end, write_end) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return ExecOutcome::error(format!("pipe: {e}")),
    };
    let write_err: OwnedFd = match write_end.try_clone() {
        Ok(f) => f,
        Err(e) => return ExecOutcome::error(format!("dup: {e}")),
    };
    let built = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(state_root)
        .map(|b| {
            b.with_stdout(write_end)
                .with_stderr(write_err)
                .as_tenant()
                .with_container_args(argv.to_vec())
                .with_detach(true)
        })
        .and_then(|b| b.build());
    let pid = match built {
        Ok(pid) => pid,
        Err(e) => return ExecOutcome::error(chain(&e)),
    };
    // Both write ends were moved into the builder and closed with it, so the pipe reaches EOF
    // once the command and anything it left behind close their copies.
    let _ = fcntl(read_end.as_raw_fd(), FcntlArg::F_SETFL(OFlag::O_NONBLOCK));
    let started = Instant::now();
    let mut output = Vec::new();
    let mut open = true;
    loop {
        if open {
            let mut fds = [PollFd::new(read_end.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(20u8));
            open = drain(&read_end, &mut output);
        } else {
            std::thread::sleep(Duration::from_millis(20));
        }
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, code)) => return finish(&read_end, output, Some(code)),
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                return finish(&read_end, output, Some(128 + sig as i32))
            }
            Ok(_) | Err(nix::Error::EINTR) => {}
            Err(e) => return ExecOutcome::error(format!("waitpid: {e}")),
        }
        if !timeout.is_zero() && started.elapsed() >= timeout {
            let _ = crate::process::send_signal(pid.as_raw(), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid.as_raw()), None);
            return ExecOutcome {
                exit_code: None,
                timed_out: true,
                output: String::from_utf8_lossy(&output).into_owned(),
                error: None,
            };
        }
    }
}

/// Waits for this process's remaining children (libcontainer's intermediate process) before
/// exiting. An unreaped child would be reparented to the supervisor, a subreaper that reaps only
/// strangers (crate::reaper), and the intermediate shares its session; a zombie that belongs to a container's PID namespace keeps that namespace's
/// init from finishing its exit (pid_namespaces(7)), which would hang the container's stop.
fn reap_children() {
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Err(nix::Error::ECHILD) => return,
            Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(10)),
            _ => {}
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

fn finish(read_end: &OwnedFd, mut output: Vec<u8>, exit_code: Option<i32>) -> ExecOutcome {
    // Whatever the command wrote just before exiting; background children may keep the pipe
    // open, so this does not wait for EOF.
    drain(read_end, &mut output);
    ExecOutcome {
        exit_code,
        timed_out: false,
        output: String::from_utf8_lossy(&output).into_owned(),
        error: None,
    }
}
