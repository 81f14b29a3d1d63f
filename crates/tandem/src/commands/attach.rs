//! `tandem attach [-i] [-t] POD [-c CONTAINER]` (kubectl attach): this terminal on a running
//! container's own process: what it writes from now on, and, with `-i`, what is typed here as
//! its input. The supervisor fans the container's output out to every attached client and
//! passes input on (tandem-supervisor's `attach`); the session ends when the container exits,
//! when this process goes, or when its input ends (see there for `stdinOnce`).
//!
//! The container's streams are never this process's own descriptors: they are pipes made here
//! and relayed, as with `exec`. A container with `tty: true` has one output, its terminal's;
//! with `-i` on a terminal, this one is put in raw mode and its size changes are passed on.

use std::io::{IsTerminal, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use k8s_openapi::api::core::v1::Pod;
use tandem_supervisor::proto::{AttachInput, AttachRequest, Reply, Request};

use super::control::Connection;
use super::exec::{drained, ensure_running, forward_window_changes, pipe, relay, RawMode};
use super::{choose_container, existing_pod, pod_name, read_pod};
use crate::cli::AttachArgs;
use crate::errors::hint;
use tandem_supervisor::statedir::{PodDir, Store};

/// The client's ends of an attach session.
pub struct Attached {
    /// Feeds the container's input (with `stdin`); dropping it ends the input.
    pub stdin: Option<std::fs::File>,
    /// The container's stdout, or its terminal's output.
    pub stdout: std::fs::File,
    /// The container's stderr (none with a terminal).
    pub stderr: Option<std::fs::File>,
    /// Sends size changes; shutting it down ends the session.
    pub control: UnixStream,
    /// The control connection: [`ended`] waits on it.
    pub conn: Connection,
}

impl Attached {
    /// Starts a session of `request` through `conn`, with pipes made here.
    pub fn start(mut conn: Connection, request: &AttachRequest) -> anyhow::Result<Attached> {
        let input = match request.stdin {
            true => Some(pipe()?),
            false => None,
        };
        let (out_r, out_w) = pipe()?;
        let err = match request.tty {
            true => None,
            false => Some(pipe()?),
        };
        {
            let mut fds: Vec<BorrowedFd<'_>> = Vec::new();
            fds.extend(input.as_ref().map(|(r, _)| r.as_fd()));
            fds.push(out_w.as_fd());
            fds.extend(err.as_ref().map(|(_, w)| w.as_fd()));
            conn.send(&Request::AttachContainer(request.clone()), &fds)?;
        }
        // Only the supervisor holds the other ends now, so each pipe ends with the session.
        drop(out_w);
        let stdin = input.map(|(r, w)| {
            drop(r);
            std::fs::File::from(w)
        });
        let stderr = err.map(|(r, w)| {
            drop(w);
            std::fs::File::from(r)
        });
        conn.accepted(&format!("attach to container {}", request.container))?;
        Ok(Attached {
            stdin,
            stdout: std::fs::File::from(out_r),
            stderr,
            control: conn.closer()?,
            conn,
        })
    }
}

/// A function that passes a terminal's new size on to the container's, over `control`.
pub fn resizer(control: UnixStream) -> impl Fn(u16, u16) + Send + Sync + 'static {
    move |rows, columns| {
        if let Ok(mut line) = serde_json::to_vec(&AttachInput::Resize { rows, columns }) {
            line.push(b'\n');
            let _ = (&control).write_all(&line);
        }
    }
}

/// Blocks until the session on `conn` has ended (or the supervisor has gone with the pod).
pub fn ended(conn: &mut Connection) {
    while let Ok(Some((reply, _))) = conn.reply() {
        if reply == Reply::AttachEnded {
            return;
        }
    }
}

/// A container's `stdin`, `stdinOnce` and `tty` in the pod's spec (init, main or ephemeral).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stdio {
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
    /// It is an ephemeral container (it will not be restarted).
    pub ephemeral: bool,
}

impl Stdio {
    pub fn of(pod: &Pod, container: &str) -> Stdio {
        let Some(spec) = pod.spec.as_ref() else {
            return Stdio::default();
        };
        let of = |stdin: Option<bool>, stdin_once: Option<bool>, tty: Option<bool>| Stdio {
            stdin: stdin.unwrap_or(false),
            stdin_once: stdin_once.unwrap_or(false),
            tty: tty.unwrap_or(false),
            ephemeral: false,
        };
        if let Some(c) = spec
            .containers
            .iter()
            .chain(spec.init_containers.iter().flatten())
            .find(|c| c.name == container)
        {
            return of(c.stdin, c.stdin_once, c.tty);
        }
        spec.ephemeral_containers
            .iter()
            .flatten()
            .find(|c| c.name == container)
            .map_or_else(Stdio::default, |c| Stdio {
                ephemeral: true,
                ..of(c.stdin, c.stdin_once, c.tty)
            })
    }
}

/// What `tandem attach` (and `tandem debug -i`) was asked for.
pub struct Asked {
    pub stdin: bool,
    pub tty: bool,
    pub quiet: bool,
}

pub fn attach(store: &Store, a: AttachArgs) -> anyhow::Result<i32> {
    let name = pod_name(&a.pod);
    let dir = existing_pod(store, &a.namespace, name)?;
    let pod = read_pod(&dir)?;
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if let Some(phase @ ("Succeeded" | "Failed")) = phase {
        return Err(hint(
            format!("cannot attach a container in a completed pod; current phase is {phase}"),
            format!("`tandem logs {name}` shows what its containers printed"),
        ));
    }
    let (container, note) = choose_container(&pod, a.container.as_deref())?;
    if let (Some(note), false) = (note, a.quiet) {
        eprintln!("{note}");
    }
    let asked = Asked {
        stdin: a.stdin,
        tty: a.tty,
        quiet: a.quiet,
    };
    attach_to(&dir, &pod, &container, &asked)
}

/// Attaches this process to `container` of the pod in `dir` until the session ends.
pub fn attach_to(dir: &PodDir, pod: &Pod, container: &str, a: &Asked) -> anyhow::Result<i32> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let container = container.to_string();
    ensure_running(dir, pod, name, &container)?;
    let spec = Stdio::of(pod, &container);
    let has_tty = spec.tty;
    // kubectl's rules: a terminal only if the container has one, and only for input that is one.
    if a.tty && !has_tty && !a.quiet {
        eprintln!("error: Unable to use a TTY - container {container} did not allocate one");
    }
    let raw = a.stdin && has_tty && {
        let is = std::io::stdin().is_terminal();
        if !is && a.tty && !a.quiet {
            eprintln!("Unable to use a TTY - input is not a terminal or the right kind of file");
        }
        is
    };
    if a.stdin && !spec.stdin && !has_tty && !a.quiet {
        eprintln!(
            "warning: container {container} was not started with stdin: true; what is typed here reaches nothing"
        );
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(hint(
            "tandem needs root to attach to a container",
            "run it with sudo, or as root",
        ));
    }
    let request = AttachRequest {
        container: container.clone(),
        stdin: a.stdin,
        tty: has_tty,
        size: raw
            .then(|| tandem_runtime::exec::terminal_size(std::io::stdout().as_fd()))
            .flatten(),
    };
    if !a.quiet {
        eprintln!("If you don't see a command prompt, try pressing enter.");
    }
    let Attached {
        stdin,
        stdout,
        stderr,
        control,
        mut conn,
    } = Attached::start(Connection::open(dir, name)?, &request)?;
    let raw_mode = match raw {
        true => {
            forward_window_changes(resizer(control));
            Some(RawMode::enter()?)
        }
        false => None,
    };
    if let Some(w) = stdin {
        // Dropped at the end of this stdin: the container's input ends with it.
        std::thread::spawn(move || relay(std::io::stdin().lock(), w));
    }
    let (done_tx, done) = std::sync::mpsc::channel();
    let mut relays = 0;
    for (from, to_stderr) in [(Some(stdout), false), (stderr, true)] {
        let Some(from) = from else { continue };
        relays += 1;
        let done_tx = done_tx.clone();
        std::thread::spawn(move || {
            match to_stderr {
                true => relay(from, std::io::stderr()),
                false => relay(from, std::io::stdout()),
            }
            let _ = done_tx.send(());
        });
    }
    let stdin_once = spec.stdin_once;
    ended(&mut conn);
    drained(&done, relays);
    drop(raw_mode);
    if raw && !stdin_once && !a.quiet {
        // kubectl's words, for a container that restarts and for one that does not.
        match spec.ephemeral {
            false => println!(
                "Session ended, resume using 'tandem attach {name} -c {container} -i -t' command when the pod is running"
            ),
            true => println!(
                "Session ended, the ephemeral container will not be restarted but may be reattached using 'tandem attach {name} -c {container} -i -t' if it is still running"
            ),
        }
    }
    Ok(0)
}
