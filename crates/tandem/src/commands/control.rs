//! The CLI's end of a pod supervisor's control socket for requests that pass descriptors
//! (`exec`, `port-forward`): one request line, then reply lines with what came attached.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use anyhow::Context;
use tandem_runtime::passfd::{recv_with_fds, send_with_fds};
use tandem_supervisor::proto::{Reply, Request};
use tandem_supervisor::statedir::PodDir;

use crate::errors::hint;

/// The control connection to the pod's supervisor, read one reply line at a time with the
/// descriptors that came with it.
pub struct Connection {
    socket: UnixStream,
    pending: Vec<u8>,
    name: String,
}

impl Connection {
    pub fn open(dir: &PodDir, name: &str) -> anyhow::Result<Connection> {
        let socket = dir
            .socket_addr()
            .and_then(|addr| UnixStream::connect(addr.path()))
            .map_err(|e| {
                crate::errors::hint_caused(
                    e,
                    format!("cannot reach the supervisor of pod {name}"),
                    format!("the pod may have just ended; `tandem get pod {name}` shows it"),
                )
            })?;
        Ok(Connection {
            socket,
            pending: Vec::new(),
            name: name.to_string(),
        })
    }

    /// A second handle on the connection, to end it from another thread: the supervisor then
    /// ends what the request started (an exec's command).
    pub fn closer(&self) -> anyhow::Result<UnixStream> {
        self.socket
            .try_clone()
            .with_context(|| format!("cannot share the connection to pod {}", self.name))
    }

    pub fn send(&self, request: &Request, fds: &[BorrowedFd<'_>]) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(request)?;
        line.push(b'\n');
        send_with_fds(self.socket.as_fd(), &line, fds)
            .with_context(|| format!("cannot reach the supervisor of pod {}", self.name))
    }

    /// The next reply; `None` once the supervisor has closed the connection.
    pub fn reply(&mut self) -> anyhow::Result<Option<(Reply, Vec<OwnedFd>)>> {
        let mut fds = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=end).collect();
                let reply = serde_json::from_slice(&line[..end]).with_context(|| {
                    format!(
                        "the supervisor of pod {} answered in a way this tandem cannot read",
                        self.name
                    )
                })?;
                return Ok(Some((reply, fds)));
            }
            let (n, more) = match recv_with_fds(self.socket.as_fd(), &mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("lost the supervisor of pod {}", self.name))
                }
            };
            if n == 0 {
                return Ok(None);
            }
            self.pending.extend_from_slice(&buf[..n]);
            fds.extend(more);
        }
    }

    /// The supervisor's `accepted`, with its descriptors, or its refusal as an error; `what` is
    /// what was asked ("run the command in container app").
    pub fn accepted(&mut self, what: &str) -> anyhow::Result<Vec<OwnedFd>> {
        match self.reply()? {
            Some((Reply::Accepted, fds)) => Ok(fds),
            Some((Reply::Rejected(message), _)) => Err(hint(
                format!("cannot {what} in pod {}: {message}", self.name),
                format!("`tandem get pod {}` shows its containers' state", self.name),
            )),
            _ => Err(self.gone()),
        }
    }

    pub fn gone(&self) -> anyhow::Error {
        hint(
            format!(
                "the supervisor of pod {} closed the connection before the command ended",
                self.name
            ),
            format!(
                "the pod may have just ended; `tandem get pod {}` shows it",
                self.name
            ),
        )
    }
}
