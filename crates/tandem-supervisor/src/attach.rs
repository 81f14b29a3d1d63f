//! A running container's own standard streams, as the CRI's Attach reaches them (`tandem
//! attach`, the API's `pods/attach`, `kubectl run -it`).
//!
//! Output is read once, by the log pump (`crate::logs`), which hands every read to
//! [`Streams::publish`] as well; each attached client gets what is read from the moment it
//! attached on (nothing is replayed, as with the kubelet: the log has the past). Input from
//! clients goes to the container's stdin pipe (`stdin: true`) or to its terminal (`tty: true`).
//!
//! A session ends when the container's output ends (it exited), when the client goes, or when
//! the client's input ends, and then:
//! - with `stdinOnce` and no terminal, the container's stdin is closed (it reads its end) and the
//!   session goes on until the output ends, so what the command writes after its input is not
//!   lost (containerd ends such a session at once and may drop it);
//! - otherwise the session ends there, as containerd ends it.
//!
//! With `stdinOnce`, the first session that sent input closes the container's stdin when it
//! ends, however it ends. A terminal is never closed by a session (as with containerd).

use std::cell::{Cell, RefCell};
use std::os::fd::OwnedFd;
use std::rc::Rc;

use bytes::Bytes;
use tandem_runtime::fdio::Fd;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::broadcast;

use crate::proto::{AttachInput, AttachRequest};

/// One read of the container's output, or its end.
#[derive(Debug, Clone)]
enum Chunk {
    Data(Bytes),
    End,
}

/// Chunks kept for a client that is behind; one that falls further behind misses output (the
/// container is never held up by a slow client).
const BACKLOG: usize = 256;

/// One output stream of the container, fanned out to the attached clients.
struct Output {
    tx: broadcast::Sender<Chunk>,
    ended: Cell<bool>,
}

impl Output {
    fn new() -> Output {
        Output {
            tx: broadcast::channel(BACKLOG).0,
            ended: Cell::new(false),
        }
    }

    /// A new client's receiver; `None` once the stream has ended.
    fn subscribe(&self) -> Option<broadcast::Receiver<Chunk>> {
        (!self.ended.get()).then(|| self.tx.subscribe())
    }
}

/// Which output stream a read came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// The streams of one running container instance.
pub struct Streams {
    container: String,
    tty: bool,
    stdin_once: bool,
    /// Where clients' input goes: the write end of the stdin pipe, or the terminal. `None`
    /// without `stdin` and `tty`, and once `stdinOnce` closed it.
    input: RefCell<Option<Rc<Fd>>>,
    terminal: Option<Rc<Fd>>,
    stdout: Output,
    stderr: Output,
    /// A session that sent input has ended (what `stdinOnce` waits for).
    input_session_ended: Cell<bool>,
}

impl Streams {
    /// The streams of container `container`: `stdin` is the write end of its stdin pipe,
    /// `terminal` the controlling end of its terminal.
    pub fn new(
        container: &str,
        stdin_once: bool,
        stdin: Option<Fd>,
        terminal: Option<Rc<Fd>>,
    ) -> Streams {
        let input = match (&terminal, stdin) {
            (Some(t), _) => Some(Rc::clone(t)),
            (None, pipe) => pipe.map(Rc::new),
        };
        Streams {
            container: container.to_string(),
            tty: terminal.is_some(),
            stdin_once,
            input: RefCell::new(input),
            terminal,
            stdout: Output::new(),
            stderr: Output::new(),
            input_session_ended: Cell::new(false),
        }
    }

    fn output(&self, stream: Stream) -> &Output {
        match stream {
            Stream::Stdout => &self.stdout,
            Stream::Stderr => &self.stderr,
        }
    }

    /// Passes one read of the container's output on to the attached clients.
    pub fn publish(&self, stream: Stream, bytes: &[u8]) {
        if self.output(stream).tx.receiver_count() > 0 {
            let _ = self
                .output(stream)
                .tx
                .send(Chunk::Data(Bytes::copy_from_slice(bytes)));
        }
    }

    /// The stream has ended (the container exited): sessions end once they have passed on what
    /// came before.
    pub fn end(&self, stream: Stream) {
        let output = self.output(stream);
        output.ended.set(true);
        let _ = output.tx.send(Chunk::End);
    }

    /// A session for `req`, with the descriptors that came with it (see [`AttachRequest`]).
    pub fn session(
        self: &Rc<Self>,
        req: &AttachRequest,
        fds: Vec<OwnedFd>,
    ) -> Result<Session, String> {
        if req.tty != self.tty {
            return Err(match self.tty {
                true => format!("container {} has a terminal (tty: true)", self.container),
                false => format!("container {} has no terminal (tty: false)", self.container),
            });
        }
        if fds.len() != req.descriptors() {
            return Err(format!(
                "expected {} descriptor(s) with the request, got {}",
                req.descriptors(),
                fds.len()
            ));
        }
        let mut fds = fds.into_iter();
        let mut next = || -> Result<Fd, String> {
            let fd = fds.next().ok_or("a descriptor is missing")?;
            Fd::new(fd).map_err(|e| format!("cannot use a descriptor of the request: {e}"))
        };
        let stdin = if req.stdin { Some(next()?) } else { None };
        let stdout = next()?;
        let stderr = if req.tty { None } else { Some(next()?) };
        if let (Some(terminal), Some((rows, columns))) = (&self.terminal, req.size) {
            let _ = tandem_runtime::exec::resize_terminal(terminal.as_fd(), rows, columns);
        }
        // Subscribed now, so nothing read between the reply and the first poll is lost.
        Ok(Session {
            streams: Rc::clone(self),
            stdin,
            stdout: (stdout, self.stdout.subscribe()),
            stderr: stderr.map(|fd| (fd, self.stderr.subscribe())),
        })
    }

    /// Closes the container's stdin, if `stdinOnce` asks for it now.
    fn input_session_over(&self) {
        if self.stdin_once && !self.tty && !self.input_session_ended.replace(true) {
            self.input.borrow_mut().take();
        }
    }

    fn resize(&self, rows: u16, columns: u16) {
        if let Some(terminal) = &self.terminal {
            let _ = tandem_runtime::exec::resize_terminal(terminal.as_fd(), rows, columns);
        }
    }
}

/// One attached client.
pub struct Session {
    streams: Rc<Streams>,
    stdin: Option<Fd>,
    stdout: (Fd, Option<broadcast::Receiver<Chunk>>),
    stderr: Option<(Fd, Option<broadcast::Receiver<Chunk>>)>,
}

/// Passes output on to a client until the stream ends or the client's pipe breaks.
async fn copy_out(to: &Fd, from: Option<broadcast::Receiver<Chunk>>) {
    let Some(mut from) = from else { return };
    loop {
        match from.recv().await {
            Ok(Chunk::Data(bytes)) => {
                if to.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Ok(Chunk::End) | Err(broadcast::error::RecvError::Closed) => return,
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
        }
    }
}

/// Passes a client's input on to the container until it ends. Input for a container without
/// stdin (or whose stdin `stdinOnce` closed) is read and dropped, and its end ends nothing, as
/// the CRI's attach has no input to end then.
async fn copy_in(from: &Fd, streams: &Streams) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) if streams.input.borrow().is_none() => {
                return std::future::pending().await
            }
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let input = streams.input.borrow().clone();
        if let Some(input) = input {
            if input.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }
}

impl Session {
    /// Runs the session until it ends (see the module's documentation); `control` carries the
    /// client's [`AttachInput`] lines and ends when the client goes.
    pub async fn run(self, control: impl AsyncRead + Unpin) {
        let Session {
            streams,
            stdin,
            stdout,
            stderr,
        } = self;
        let output = async {
            let err = async {
                if let Some((fd, rx)) = stderr {
                    copy_out(&fd, rx).await;
                }
            };
            tokio::join!(copy_out(&stdout.0, stdout.1), err);
        };
        let client_gone = async {
            let mut lines = BufReader::new(control).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(AttachInput::Resize { rows, columns }) = serde_json::from_str(&line) {
                    streams.resize(rows, columns);
                }
            }
        };
        let input_ended = async {
            match &stdin {
                Some(fd) => copy_in(fd, &streams).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(output, client_gone);
        tokio::select! {
            () = &mut output => {}
            () = &mut client_gone => {}
            () = input_ended => {
                if streams.stdin_once && !streams.tty {
                    streams.input_session_over();
                    tokio::select! {
                        () = &mut output => {}
                        () = &mut client_gone => {}
                    }
                }
            }
        }
        if stdin.is_some() {
            streams.input_session_over();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe() -> (OwnedFd, OwnedFd) {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).expect("pipe")
    }

    /// Everything up to the end; a test whose end never comes fails rather than hangs.
    async fn read_all(fd: &Fd) -> Vec<u8> {
        let (mut all, mut buf) = (Vec::new(), [0u8; 256]);
        let read = async {
            while let Ok(n @ 1..) = fd.read(&mut buf).await {
                all.extend_from_slice(&buf[..n]);
            }
        };
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("the end of the stream within 10 s");
        all
    }

    /// A container with a stdin pipe, and one client session on pipes: the container's end of
    /// stdin, the client's input, stdout and stderr.
    struct Setup {
        streams: Rc<Streams>,
        session: Session,
        container_stdin: Fd,
        client_in: Fd,
        client_out: Fd,
    }

    fn setup(stdin_once: bool) -> Setup {
        let (c_r, c_w) = pipe();
        let streams = Rc::new(Streams::new(
            "app",
            stdin_once,
            Some(Fd::new(c_w).expect("fd")),
            None,
        ));
        let ((in_r, in_w), (out_r, out_w), (_, err_w)) = (pipe(), pipe(), pipe());
        let req = AttachRequest {
            container: "app".into(),
            stdin: true,
            tty: false,
            size: None,
        };
        let session = streams
            .session(&req, vec![in_r, out_w, err_w])
            .expect("session");
        Setup {
            streams,
            session,
            container_stdin: Fd::new(c_r).expect("fd"),
            client_in: Fd::new(in_w).expect("fd"),
            client_out: Fd::new(out_r).expect("fd"),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn stdin_once_gives_the_container_the_end_of_input_and_follows_output_to_its_end() {
        let s = setup(true);
        let (_control, client_control) = tokio::io::duplex(64);
        let client = async {
            s.client_in.write_all(b"hello").await.expect("write");
            drop(s.client_in);
            // The container reads the input, then its end: nothing else holds the pipe open.
            assert_eq!(read_all(&s.container_stdin).await, b"hello");
            // The session still passes output on, until the container's output ends.
            s.streams.publish(Stream::Stdout, b"bye");
            s.streams.end(Stream::Stdout);
            s.streams.end(Stream::Stderr);
            read_all(&s.client_out).await
        };
        let ((), out) = tokio::join!(s.session.run(client_control), client);
        assert_eq!(out, b"bye");
        assert!(s.streams.input.borrow().is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn without_stdin_once_the_session_ends_with_its_input_and_stdin_stays_open() {
        let s = setup(false);
        let (_control, client_control) = tokio::io::duplex(64);
        let client = async {
            s.client_in.write_all(b"one").await.expect("write");
            drop(s.client_in);
            // The session ends without any output having ended: the client sees its end.
            read_all(&s.client_out).await
        };
        let ((), out) = tokio::join!(s.session.run(client_control), client);
        assert_eq!(out, b"");
        let mut buf = [0u8; 8];
        let n = s.container_stdin.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..n], b"one");
        // Still open for the next client.
        let input = s.streams.input.borrow().clone().expect("stdin kept");
        input.write_all(b"two").await.expect("write");
        let n = s.container_stdin.read(&mut buf).await.expect("read");
        assert_eq!(&buf[..n], b"two");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_client_that_goes_ends_its_session_and_a_late_one_gets_no_past() {
        let s = setup(false);
        s.streams.publish(Stream::Stdout, b"before");
        // A second client, attached after that output.
        let ((out_r, out_w), (_, err_w)) = (pipe(), pipe());
        let req = AttachRequest {
            container: "app".into(),
            stdin: false,
            tty: false,
            size: None,
        };
        let late = s
            .streams
            .session(&req, vec![out_w, err_w])
            .expect("session");
        let late_out = Fd::new(out_r).expect("fd");
        let (control, client_control) = tokio::io::duplex(64);
        let client = async {
            s.streams.publish(Stream::Stdout, b"after");
            let mut buf = [0u8; 64];
            let n = late_out.read(&mut buf).await.expect("read");
            // The client hangs up: its session ends, and with it the client's output.
            drop(control);
            (buf[..n].to_vec(), read_all(&late_out).await)
        };
        let ((), out) = tokio::join!(late.run(client_control), client);
        assert_eq!(out, (b"after".to_vec(), vec![]));
        // An ended stream takes no new client.
        s.streams.end(Stream::Stdout);
        assert!(s.streams.stdout.subscribe().is_none());
    }

    #[test]
    fn a_request_must_agree_with_the_containers_terminal_and_bring_its_descriptors() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .expect("runtime");
        let _guard = rt.enter();
        let streams = Rc::new(Streams::new("app", false, None, None));
        let mut req = AttachRequest {
            container: "app".into(),
            stdin: false,
            tty: true,
            size: None,
        };
        let err = streams.session(&req, vec![pipe().1]).err();
        assert_eq!(
            err.as_deref(),
            Some("container app has no terminal (tty: false)")
        );
        req.tty = false;
        let err = streams.session(&req, vec![pipe().1]).err();
        assert_eq!(
            err.as_deref(),
            Some("expected 2 descriptor(s) with the request, got 1")
        );
    }
}
