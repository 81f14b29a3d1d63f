//! The control socket: the CLI's requests (`crate::proto`).

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use tandem_kubelet::driver::Control;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{broadcast, mpsc, watch, Notify};

use crate::linux::LinuxRuntime;
use crate::logs::LogLine;
use crate::proto::{AttachRequest, Ended, ExecRequest, Reply, Request};

#[derive(Clone)]
pub struct Shared {
    pub control: mpsc::UnboundedSender<Control>,
    pub logs: broadcast::Sender<LogLine>,
    pub ended: watch::Receiver<Option<Ended>>,
    /// Attach streams still sending; the supervisor lets them finish before it exits.
    pub attached: Rc<Attached>,
    /// Runs exec'd commands.
    pub runtime: Rc<LinuxRuntime>,
}

/// Counts attach streams, so the supervisor can wait for the last `Ended` reply to be written.
#[derive(Default)]
pub struct Attached {
    count: Cell<usize>,
    idle: Notify,
}

impl Attached {
    /// Waits until no attach stream is sending any more.
    pub async fn drained(&self) {
        while self.count.get() > 0 {
            self.idle.notified().await;
        }
    }
}

struct AttachGuard(Rc<Attached>);

impl AttachGuard {
    fn new(a: &Rc<Attached>) -> Self {
        a.count.set(a.count.get() + 1);
        AttachGuard(Rc::clone(a))
    }
}

impl Drop for AttachGuard {
    fn drop(&mut self) {
        self.0.count.set(self.0.count.get().saturating_sub(1));
        self.0.idle.notify_waiters();
    }
}

pub async fn serve(listener: UnixListener, shared: Shared) {
    while let Ok((stream, _)) = listener.accept().await {
        let s = shared.clone();
        tokio::task::spawn_local(async move { handle(stream, s).await });
    }
}

fn line_of(reply: &Reply) -> Option<Vec<u8>> {
    let mut line = serde_json::to_vec(reply).ok()?;
    line.push(b'\n');
    Some(line)
}

async fn send(w: &mut tokio::net::unix::OwnedWriteHalf, reply: &Reply) -> bool {
    let Some(line) = line_of(reply) else {
        return false;
    };
    w.write_all(&line).await.is_ok()
}

/// The request line and the descriptors sent with it. A client sends one line and then waits,
/// so nothing after the line is lost.
async fn read_request(stream: &UnixStream) -> Option<(Request, Vec<OwnedFd>)> {
    let (mut line, mut fds) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 4096];
    while !line.contains(&b'\n') {
        stream.readable().await.ok()?;
        let got = stream.try_io(Interest::READABLE, || {
            tandem_runtime::passfd::recv_with_fds(stream.as_fd(), &mut buf)
        });
        match got {
            Ok((0, _)) => return None,
            Ok((n, more)) => {
                line.extend_from_slice(&buf[..n]);
                fds.extend(more);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return None,
        }
        if line.len() > 1 << 20 {
            return None;
        }
    }
    let end = line.iter().position(|b| *b == b'\n')?;
    let req = serde_json::from_slice(&line[..end]).ok()?;
    Some((req, fds))
}

async fn handle(stream: UnixStream, shared: Shared) {
    let Some((req, fds)) = read_request(&stream).await else {
        return;
    };
    match req {
        Request::Exec(req) => return exec(stream, req, fds, &shared.runtime).await,
        Request::AttachContainer(req) => return attach(stream, req, fds, &shared.runtime).await,
        Request::Dial { port } => {
            let dialled = shared.runtime.dial(port).await;
            return match dialled {
                Ok(socket) => {
                    let _ = send_fds(&stream, &Reply::Accepted, &[socket.as_fd()]).await;
                }
                Err(message) => {
                    let _ = send_fds(&stream, &Reply::Rejected(message), &[]).await;
                }
            };
        }
        _ => {}
    }
    let (_, mut w) = stream.into_split();
    match req {
        Request::Exec(_) | Request::AttachContainer(_) | Request::Dial { .. } => {}
        Request::Delete { grace_seconds } => {
            let _ = shared.control.send(Control::Delete {
                grace: grace_seconds.map(Duration::from_secs),
            });
            let _ = send(&mut w, &Reply::Accepted).await;
            // Hold the connection: the client sees EOF when this process is gone.
            std::future::pending::<()>().await;
        }
        Request::SetConditions { conditions } => {
            let reply = applied(
                &shared,
                "the pod has ended; its status no longer changes",
                |tx| Control::SetConditions {
                    conditions,
                    applied: Some(tx),
                },
            )
            .await;
            let _ = send(&mut w, &reply).await;
        }
        Request::SetMetadata(change) => {
            let ended = "the pod has ended; its metadata no longer changes";
            let reply = applied(&shared, ended, |tx| Control::SetMetadata {
                change,
                applied: Some(tx),
            })
            .await;
            let _ = send(&mut w, &reply).await;
        }
        Request::AddEphemeral { container, spec } => {
            let ended = "the pod has ended; no container is added to it";
            let reply = applied(&shared, ended, |tx| Control::AddEphemeral {
                container,
                spec,
                applied: Some(tx),
            })
            .await;
            let _ = send(&mut w, &reply).await;
        }
        Request::SetImage { images } => {
            let ended = "the pod has ended; its containers will not run again";
            let reply = applied(&shared, ended, |tx| Control::SetImages {
                images: images.into_iter().collect(),
                applied: Some(tx),
            })
            .await;
            let _ = send(&mut w, &reply).await;
        }
        Request::Follow => {
            let mut guard = Some(AttachGuard::new(&shared.attached));
            let mut logs = shared.logs.subscribe();
            let mut ended = shared.ended.clone();
            // A pod that ended before the client came (a pod refused at admission ends at
            // once) is told at the first turn, as one that ends later is.
            ended.mark_changed();
            if !send(&mut w, &Reply::Accepted).await {
                return;
            }
            loop {
                tokio::select! {
                    biased;
                    line = logs.recv() => match line {
                        Ok(l) => if !send(&mut w, &Reply::Log(l)).await { return },
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    changed = ended.changed() => {
                        if changed.is_err() { return; }
                        let e = ended.borrow().clone();
                        if let Some(e) = e {
                            // Drain what is still queued so no line is lost at the end.
                            while let Ok(l) = logs.try_recv() {
                                if !send(&mut w, &Reply::Log(l)).await { return; }
                            }
                            let _ = send(&mut w, &Reply::Ended(e)).await;
                            // Sent: the supervisor may exit now. The connection stays open until
                            // it does, so the client's EOF means the pod is gone.
                            guard.take();
                            std::future::pending::<()>().await;
                        }
                    }
                }
            }
        }
    }
}

/// Hands the driver a change (`control`, given where to answer) and waits for its answer: the
/// driver answers once the change is in place, so a `get` right after the client returns sees
/// it. No answer means the engine has stopped: the pod has ended (`ended` says what that means
/// for the change).
async fn applied(
    shared: &Shared,
    ended: &str,
    control: impl FnOnce(tokio::sync::oneshot::Sender<Result<(), String>>) -> Control,
) -> Reply {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sent = shared.control.send(control(tx));
    match (sent, rx.await) {
        (Ok(()), Ok(Ok(()))) => Reply::Accepted,
        (Ok(()), Ok(Err(message))) => Reply::Rejected(message),
        _ => Reply::Rejected(ended.into()),
    }
}

/// Sends one reply line with descriptors attached.
async fn send_fds(
    stream: &UnixStream,
    reply: &Reply,
    fds: &[std::os::fd::BorrowedFd<'_>],
) -> std::io::Result<()> {
    let line =
        line_of(reply).ok_or_else(|| std::io::Error::other("a reply that cannot be written"))?;
    loop {
        stream.writable().await?;
        let sent = stream.try_io(Interest::WRITABLE, || {
            tandem_runtime::passfd::send_with_fds(stream.as_fd(), &line, fds)
        });
        match sent {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => return other,
        }
    }
}

/// Runs a client's command until it exits, or until the client hangs up, which kills it (the
/// session's helper is killed as it is dropped, and the command with it).
async fn exec(stream: UnixStream, req: ExecRequest, fds: Vec<OwnedFd>, runtime: &LinuxRuntime) {
    let (mut session, master) = match runtime.exec_session(&req, fds) {
        Ok(started) => started,
        Err(message) => {
            let (_, mut w) = stream.into_split();
            let _ = send(&mut w, &Reply::Rejected(message)).await;
            return;
        }
    };
    let passed: Vec<_> = master.iter().map(AsFd::as_fd).collect();
    if send_fds(&stream, &Reply::Accepted, &passed).await.is_err() {
        return;
    }
    drop(passed);
    drop(master);
    let (mut r, mut w) = stream.into_split();
    let mut buf = [0u8; 64];
    let outcome = tokio::select! {
        outcome = session.outcome() => outcome,
        _ = r.read(&mut buf) => return,
    };
    let _ = send(&mut w, &Reply::ExecEnded(outcome)).await;
}

/// Attaches a client to a container's own streams until the session ends (`crate::attach`).
async fn attach(stream: UnixStream, req: AttachRequest, fds: Vec<OwnedFd>, runtime: &LinuxRuntime) {
    let (r, mut w) = stream.into_split();
    let session = match runtime.attach_session(&req, fds) {
        Ok(session) => session,
        Err(message) => {
            let _ = send(&mut w, &Reply::Rejected(message)).await;
            return;
        }
    };
    if !send(&mut w, &Reply::Accepted).await {
        return;
    }
    session.run(r).await;
    let _ = send(&mut w, &Reply::AttachEnded).await;
}
