//! Requests that stream for as long as their session lasts: a pod's log (followed), a command
//! run in a container or a session attached to one (over WebSocket, `crate::stream`, or SPDY,
//! `crate::spdyexec`) and a
//! pod's ports forwarded (SPDY, plain or inside a WebSocket, `crate::portforward`).

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::sync::mpsc;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_tungstenite::tungstenite::protocol::{Message, Role};
use tokio_tungstenite::WebSocketStream;

use crate::backend::{ExecOptions, LogOptions};
use crate::portforward;
use crate::reply::{respond, Body};
use crate::request::Query;
use crate::resource::Resource;
use crate::state::{blocking, Shared};
use crate::status::ApiError;
use crate::upgrade::{Offer, Upgrade};

pub(crate) async fn logs(
    shared: &Arc<Shared>,
    namespace: String,
    name: String,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let options = LogOptions {
        container: query
            .get("container")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        follow: query.flag("follow")?,
        previous: query.flag("previous")?,
        timestamps: query.flag("timestamps")?,
        tail_lines: query.integer("tailLines")?,
        since_seconds: query.integer("sinceSeconds")?,
        since_time: query
            .get("sinceTime")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        limit_bytes: query.integer("limitBytes")?.map(|b| b.max(0) as u64),
    };
    known_pod(shared, &namespace, &name)?;
    let backend = Arc::clone(&shared.backend);
    let stream = blocking(move || backend.logs(&namespace, &name, &options)).await?;
    let (tx, body) = mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx);
        // The stream ends when the log does or the client has gone (a write or flush fails).
        let _ = stream(&mut out);
    });
    Ok(respond(200, "text/plain", Body::Stream(body)))
}

/// `pods/exec` and `pods/attach` (`attach`): the same streams over the same protocols; an
/// attach has no command and joins the container's own process.
pub(crate) async fn exec(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    namespace: String,
    name: String,
    query: &Query,
    attach: bool,
) -> Result<Response<Body>, ApiError> {
    let options = ExecOptions {
        container: query
            .get("container")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        command: query.all("command"),
        stdin: query.flag("stdin")?,
        stdout: query.flag("stdout")?,
        stderr: query.flag("stderr")?,
        tty: query.flag("tty")?,
    };
    if options.command.is_empty() && !attach {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    if !(options.stdin || options.stdout || options.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let offer = Offer {
        websocket: &crate::stream::PROTOCOLS,
        spdy: Some(crate::spdyexec::PROTOCOL),
    };
    let upgrade = crate::upgrade::upgrade(&req, &offer)?;
    known_pod(shared, &namespace, &name)?;
    let backend = Arc::clone(&shared.backend);
    let asked = options.clone();
    let streams = blocking(move || match attach {
        true => backend.attach(&namespace, &name, &asked),
        false => backend.exec(&namespace, &name, &asked),
    })
    .await?;
    let websocket = matches!(upgrade, Upgrade::WebSocket { .. });
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(upgraded) => upgraded,
            Err(_) => return (streams.abandon)(),
        };
        match websocket {
            true => crate::stream::serve_exec(upgraded, streams).await,
            // kubectl before 1.30.
            false => {
                carry(upgraded, false, move |incoming, outgoing| async move {
                    crate::spdyexec::serve(incoming, outgoing, streams, &options).await
                })
                .await
            }
        }
    });
    Ok(upgrade.response(Body::Full(None)))
}

pub(crate) async fn port_forward(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    namespace: String,
    name: String,
) -> Result<Response<Body>, ApiError> {
    let offer = Offer {
        websocket: &[portforward::TUNNELED],
        spdy: Some(portforward::PROTOCOL),
    };
    let upgrade = crate::upgrade::upgrade(&req, &offer)?;
    known_pod(shared, &namespace, &name)?;
    let backend = Arc::clone(&shared.backend);
    let dial: portforward::Dial = Arc::new(move |port| {
        let (backend, namespace, name) = (Arc::clone(&backend), namespace.clone(), name.clone());
        Box::pin(async move {
            let std = blocking(move || backend.dial(&namespace, &name, port))
                .await
                .map_err(|e| e.message)?;
            std.set_nonblocking(true).map_err(|e| e.to_string())?;
            let _ = std.set_nodelay(true);
            tokio::net::TcpStream::from_std(std).map_err(|e| e.to_string())
        })
    });
    let websocket = matches!(upgrade, Upgrade::WebSocket { .. });
    tokio::spawn(async move {
        if let Ok(upgraded) = hyper::upgrade::on(req).await {
            let session = move |incoming, outgoing| portforward::serve(incoming, outgoing, dial);
            carry(upgraded, websocket, session).await;
        }
    });
    Ok(upgrade.response(Body::Full(None)))
}

/// Runs a SPDY `session` on an upgraded connection, its bytes carried in WebSocket binary
/// messages (`websocket`, the tunnelled form of kubectl 1.31+) or on the connection itself;
/// returns when the client has gone and the session has ended.
async fn carry<F, S>(upgraded: hyper::upgrade::Upgraded, websocket: bool, session: F)
where
    F: FnOnce(mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>) -> S,
    S: std::future::Future<Output = ()> + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(upgraded);
    let (to_session, incoming) = mpsc::channel::<Vec<u8>>(16);
    let (outgoing, from_session) = mpsc::channel::<Vec<u8>>(16);
    let session = tokio::spawn(session(incoming, outgoing));
    let writer = match websocket {
        true => over_websocket(io, to_session, from_session).await,
        false => over_connection(io, to_session, from_session).await,
    };
    // The client has gone: the session ends what it started, then nothing is left to send.
    let _ = session.await;
    writer.abort();
}

/// A session's bytes in WebSocket binary messages, either way (kubectl 1.31+). Reads until the
/// client goes; returns the task that writes.
async fn over_websocket(
    io: hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>,
    to_session: mpsc::Sender<Vec<u8>>,
    mut from_session: mpsc::Receiver<Vec<u8>>,
) -> tokio::task::JoinHandle<()> {
    let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut sink, mut stream) = ws.split();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = from_session.recv().await {
            if sink.send(Message::Binary(bytes.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    while let Some(Ok(message)) = stream.next().await {
        let sent = match message {
            Message::Binary(b) => to_session.send(b.to_vec()).await.is_ok(),
            Message::Close(_) => false,
            _ => true,
        };
        if !sent {
            break;
        }
    }
    writer
}

/// A session's bytes on the upgraded connection itself (SPDY, kubectl before 1.31). Reads
/// until the client goes; returns the task that writes.
async fn over_connection(
    io: hyper_util::rt::TokioIo<hyper::upgrade::Upgraded>,
    to_session: mpsc::Sender<Vec<u8>>,
    mut from_session: mpsc::Receiver<Vec<u8>>,
) -> tokio::task::JoinHandle<()> {
    let (mut read, mut write) = tokio::io::split(io);
    let writer = tokio::spawn(async move {
        while let Some(bytes) = from_session.recv().await {
            if write.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = write.shutdown().await;
    });
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match read.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to_session.send(buf[..n].to_vec()).await.is_err() {
                    break;
                }
            }
        }
    }
    writer
}

/// A writer into a response body; writing or flushing fails once the client has gone.
pub(crate) struct ChannelWriter(mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.is_closed() {
            true => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
            false => Ok(()),
        }
    }
}

/// NotFound unless the cache holds the pod.
fn known_pod(shared: &Shared, namespace: &str, name: &str) -> Result<(), ApiError> {
    match shared.cache().get(Resource::Pods, namespace, name) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("", "pods", name)),
    }
}
