//! `tandem exec [-i] [-t] POD [-c CONTAINER] -- COMMAND...` (kubectl exec): a command in a running
//! container, through the pod's supervisor, which starts it with the container's own namespaces,
//! cgroup, credentials and filters (tandem-runtime's `exec`).
//!
//! The command never gets this process's own descriptors: its stdio are pipes made here and
//! relayed (a terminal of the host in a container could be pushed input with TIOCSTI, a file
//! reopened through /proc), and with `-t` it runs on a pseudo-terminal of the container's own,
//! whose controlling end the supervisor hands back. Then this terminal is put in raw mode, so
//! keys such as Ctrl-C reach the command's terminal as they are typed, and window-size changes
//! are passed on. If this process ends first, the supervisor sees the connection close and
//! kills the command.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{ContainerState, Pod};
use nix::fcntl::OFlag;
use tandem_runtime::exec::ExecOutcome;
use tandem_supervisor::proto::{ExecRequest, Reply, Request};
use tandem_supervisor::statedir::{PodDir, Store};

use super::control::Connection;
use super::{choose_container, read_pod};
use crate::cli::ExecArgs;
use crate::errors::hint;

/// How long output still arriving after the command exited is relayed: background processes it
/// left may hold its pipes or terminal open for good.
const DRAIN: Duration = Duration::from_secs(1);

pub fn exec(store: &Store, a: ExecArgs) -> anyhow::Result<i32> {
    let (dir, _) = super::pod_of(store, &a.namespace, &a.pod, "exec into")?;
    let pod = read_pod(&dir)?;
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let (container, note) = choose_container(&pod, a.container.as_deref())?;
    if let (Some(note), false) = (note, a.quiet) {
        eprintln!("{note}");
    }
    ensure_running(&dir, &pod, name, &container)?;
    // As kubectl: a terminal only for stdin, and only when stdin is one.
    let tty = a.tty && a.stdin && {
        let is = std::io::stdin().is_terminal();
        if !is && !a.quiet {
            eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        }
        is
    };
    if !nix::unistd::geteuid().is_root() {
        return Err(hint(
            "tandem needs root to run a command in a container",
            "run it with sudo, or as root",
        ));
    }
    let request = ExecRequest {
        container: container.clone(),
        command: a.command.clone(),
        stdin: a.stdin,
        tty,
        size: tty
            .then(|| tandem_runtime::exec::terminal_size(std::io::stdout().as_fd()))
            .flatten(),
    };
    let mut conn = Connection::open(&dir, name)?;
    let outcome = if tty {
        on_terminal(&mut conn, &request, name)?
    } else {
        on_pipes(&mut conn, &request)?
    };
    finish(outcome, &a.command, &container, name)
}

/// Refuses a pod without a live supervisor and a container that is not running, with its state.
pub fn ensure_running(dir: &PodDir, pod: &Pod, name: &str, container: &str) -> anyhow::Result<()> {
    let status = pod.status.clone().unwrap_or_default();
    if dir.live_supervisor().is_none() {
        let phase = status.phase.unwrap_or_else(|| "Unknown".into());
        let why = status.reason.map(|r| format!(": {r}")).unwrap_or_default();
        return Err(hint(
            format!("pod {name} is not running (phase {phase}{why})"),
            status.message.unwrap_or_else(|| {
                format!("`tandem get pod {name}` shows how it ended; run it again to use it")
            }),
        ));
    }
    let state = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten())
        .find(|s| s.name == container)
        .and_then(|s| s.state.clone());
    if state.as_ref().is_some_and(|s| s.running.is_some()) {
        return Ok(());
    }
    Err(hint(
        format!(
            "container {container} in pod {name} is not running ({})",
            describe_state(state.as_ref())
        ),
        format!(
            "`tandem get pod {name}` shows its state; `tandem logs {name} -c {container}` what it printed"
        ),
    ))
}

/// A container state in a few words: `waiting: CrashLoopBackOff`, `terminated: Error, exit code 1`.
fn describe_state(state: Option<&ContainerState>) -> String {
    let Some(state) = state else {
        return "not started yet".into();
    };
    if let Some(t) = &state.terminated {
        let reason = t.reason.as_deref().unwrap_or("Terminated");
        return format!("terminated: {reason}, exit code {}", t.exit_code);
    }
    match state.waiting.as_ref().and_then(|w| w.reason.as_deref()) {
        Some(reason) => format!("waiting: {reason}"),
        None => "waiting".into(),
    }
}

/// How the command ended, as the supervisor reports it.
pub fn ended(conn: &mut Connection) -> anyhow::Result<ExecOutcome> {
    match conn.reply()? {
        Some((Reply::ExecEnded(outcome), _)) => Ok(outcome),
        _ => Err(conn.gone()),
    }
}

pub(super) fn pipe() -> anyhow::Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).context("cannot make a pipe")
}

/// Copies `from` to `to` until `from` ends, each read written out at once (interactive output
/// must not wait for a newline).
pub(super) fn relay(mut from: impl Read, mut to: impl Write) {
    let mut buf = [0u8; 8192];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.write_all(&buf[..n]).and_then(|()| to.flush()).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Relays into a writer that ends (closes) when the reader does: stdin to the command, whose
/// end of input is passed on.
pub(super) fn spawn_stdin(to: std::fs::File) {
    std::thread::spawn(move || relay(std::io::stdin().lock(), to));
}

/// Waits until every relay of output has ended, or [`DRAIN`] has passed.
pub(super) fn drained(done: &std::sync::mpsc::Receiver<()>, relays: usize) {
    let deadline = std::time::Instant::now() + DRAIN;
    for _ in 0..relays {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if done.recv_timeout(left).is_err() {
            return;
        }
    }
}

/// A command started with pipes: its stdin (with `request.stdin`), stdout and stderr here.
pub struct Piped {
    pub stdin: Option<std::fs::File>,
    pub stdout: std::fs::File,
    pub stderr: std::fs::File,
}

/// Starts `request` (without a terminal) through `conn`, with pipes made here.
pub fn start_piped(conn: &mut Connection, request: &ExecRequest) -> anyhow::Result<Piped> {
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let input = if request.stdin { Some(pipe()?) } else { None };
    {
        let mut fds: Vec<BorrowedFd<'_>> = Vec::new();
        if let Some((r, _)) = &input {
            fds.push(r.as_fd());
        }
        fds.push(out_w.as_fd());
        fds.push(err_w.as_fd());
        conn.send(&Request::Exec(request.clone()), &fds)?;
    }
    // Only the command holds the other ends now, so each pipe ends with it.
    drop((out_w, err_w));
    let stdin = input.map(|(r, w)| {
        drop(r);
        std::fs::File::from(w)
    });
    conn.accepted(&format!(
        "run the command in container {}",
        request.container
    ))?;
    Ok(Piped {
        stdin,
        stdout: std::fs::File::from(out_r),
        stderr: std::fs::File::from(err_r),
    })
}

fn on_pipes(conn: &mut Connection, request: &ExecRequest) -> anyhow::Result<ExecOutcome> {
    let piped = start_piped(conn, request)?;
    if let Some(w) = piped.stdin {
        spawn_stdin(w);
    }
    let (done_tx, done) = std::sync::mpsc::channel();
    for (from, to_stderr) in [(piped.stdout, false), (piped.stderr, true)] {
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            if to_stderr {
                relay(from, std::io::stderr());
            } else {
                relay(from, std::io::stdout());
            }
            let _ = done_tx.send(());
        });
    }
    let outcome = ended(conn)?;
    drained(&done, 2);
    Ok(outcome)
}

/// This terminal in raw mode until dropped.
pub(super) struct RawMode {
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    pub(super) fn enter() -> anyhow::Result<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).context("cannot read the terminal's settings")?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
            .context("cannot put the terminal in raw mode")?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin().as_fd(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}

fn on_terminal(
    conn: &mut Connection,
    request: &ExecRequest,
    name: &str,
) -> anyhow::Result<ExecOutcome> {
    conn.send(&Request::Exec(request.clone()), &[])?;
    let mut fds = conn.accepted(&format!(
        "run the command in container {}",
        request.container
    ))?;
    let Some(master) = fds.pop() else {
        return Err(hint(
            format!("the supervisor of pod {name} gave no terminal"),
            "run the command without -t",
        ));
    };
    let master = std::fs::File::from(master);
    let raw = RawMode::enter()?;
    spawn_stdin(master.try_clone().context("cannot share the terminal")?);
    let resized = master.try_clone().context("cannot share the terminal")?;
    forward_window_changes(move |rows, cols| {
        let _ = tandem_runtime::exec::resize_terminal(resized.as_fd(), rows, cols);
    });
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Read until the terminal hangs up (EIO once nothing holds its other end).
        relay(master, std::io::stdout());
        let _ = done_tx.send(());
    });
    let outcome = ended(conn);
    drained(&done, 1);
    drop(raw);
    outcome
}

/// Passes this terminal's size on (to `resize`, rows and columns) each time it changes
/// (SIGWINCH), from a thread of its own.
pub(super) fn forward_window_changes(resize: impl Fn(u16, u16) + Send + 'static) {
    use tokio::signal::unix::{signal, SignalKind};
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            let Ok(mut changes) = signal(SignalKind::window_change()) else {
                return;
            };
            while changes.recv().await.is_some() {
                if let Some((rows, cols)) =
                    tandem_runtime::exec::terminal_size(std::io::stdout().as_fd())
                {
                    resize(rows, cols);
                }
            }
        });
    });
}

/// The command's exit status becomes tandem's, with kubectl's line for a failure.
fn finish(
    outcome: ExecOutcome,
    command: &[String],
    container: &str,
    name: &str,
) -> anyhow::Result<i32> {
    match (outcome.exit_code, outcome.error) {
        (Some(code), Some(error)) => {
            eprintln!("error: {error}");
            eprintln!("command terminated with exit code {code}");
            Ok(code)
        }
        (None, Some(error)) => Err(hint(
            format!(
                "cannot run {:?} in container {container} of pod {name}: {error}",
                command.join(" ")
            ),
            format!("`tandem get pod {name}` shows the container's state"),
        )),
        (Some(0), None) => Ok(0),
        (Some(code), None) => {
            eprintln!("command terminated with exit code {code}");
            Ok(code)
        }
        (None, None) => Err(hint(
            format!(
                "the command in container {container} of pod {name} ended without an exit status"
            ),
            format!("the pod's supervisor log may say why: `tandem get pod {name}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_in_a_few_words() {
        let s: ContainerState =
            serde_json::from_str(r#"{"terminated":{"exitCode":0,"reason":"Completed"}}"#)
                .expect("state");
        assert_eq!(
            describe_state(Some(&s)),
            "terminated: Completed, exit code 0"
        );
        let s: ContainerState =
            serde_json::from_str(r#"{"waiting":{"reason":"CrashLoopBackOff"}}"#).expect("state");
        assert_eq!(describe_state(Some(&s)), "waiting: CrashLoopBackOff");
        assert_eq!(describe_state(None), "not started yet");
    }
}
