//! Port forwarding as the kubelet serves it (`portforward.k8s.io`), over one SPDY session
//! ([`crate::spdy`]): for each connection it forwards, the client opens two streams with the
//! same `requestID` — an `error` stream, then a `data` stream, both naming the pod's `port` —
//! and the server connects to that port inside the pod, carries bytes both ways on the data
//! stream (a FIN from either side closes that direction), and reports a failure as text on the
//! error stream. Many connections share the session; each ends on its own, and all end with it.
//!
//! The session reads frames in one task and hands each stream's bytes to its connection; every
//! writer (each connection, and the replies to the client) encodes under one lock, so a
//! connection waiting on its pod never holds up another's.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::spdy::{Decoder, Frame, Writer};

/// The stream protocol, as both its SPDY and its WebSocket-tunnelled forms name it.
pub(crate) const PROTOCOL: &str = "portforward.k8s.io";

/// The WebSocket subprotocol of kubectl 1.31+: SPDY frames carried in binary messages.
pub(crate) const TUNNELED: &str = "SPDY/3.1+portforward.k8s.io";

/// The largest data frame written (the kubelet's copy buffer is this size too).
const CHUNK: usize = 32 * 1024;

/// Connects to a port of the pod, or says why not.
pub(crate) type Dial = Arc<
    dyn Fn(u16) -> Pin<Box<dyn Future<Output = Result<TcpStream, String>> + Send>> + Send + Sync,
>;

/// The two streams of one forwarded connection, as they are opened.
#[derive(Default)]
struct Pair {
    error: Option<u32>,
    data: Option<u32>,
    port: Option<Result<u16, String>>,
}

/// Serves one session: `incoming` are the bytes the client sends, `outgoing` those sent back.
/// Returns when the client has gone, or sent something that is not SPDY; every connection it
/// made is closed then.
pub(crate) async fn serve(
    mut incoming: mpsc::Receiver<Vec<u8>>,
    outgoing: mpsc::Sender<Vec<u8>>,
    dial: Dial,
) {
    let sender = Writer::new(outgoing);
    let mut decoder = Decoder::new();
    let mut pairs: HashMap<String, Pair> = HashMap::new();
    // The client's bytes for each data stream, to its connection; `None`: its FIN.
    let mut routes: HashMap<u32, mpsc::Sender<Option<Vec<u8>>>> = HashMap::new();
    let mut connections: HashMap<u32, JoinHandle<()>> = HashMap::new();
    'session: while let Some(bytes) = incoming.recv().await {
        decoder.feed(&bytes);
        loop {
            let frame = match decoder.next() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => break 'session,
            };
            match frame {
                Frame::SynStream {
                    stream, headers, ..
                } => {
                    if !sender.send(Frame::SynReply { stream, fin: false }).await {
                        break 'session;
                    }
                    let header = |name: &str| {
                        headers
                            .iter()
                            .find(|(n, _)| n == name)
                            .map(|(_, v)| v.as_str())
                    };
                    let request = header("requestid").unwrap_or("").to_string();
                    let pair = pairs.entry(request.clone()).or_default();
                    match header("streamtype") {
                        Some("error") => pair.error = Some(stream),
                        Some("data") => pair.data = Some(stream),
                        _ => {
                            let reset = Frame::RstStream {
                                stream,
                                status: crate::spdy::REFUSED_STREAM,
                            };
                            sender.send(reset).await;
                            continue;
                        }
                    }
                    let port = header("port").unwrap_or("");
                    pair.port = Some(
                        port.parse::<u16>()
                            .ok()
                            .filter(|p| *p > 0)
                            .ok_or_else(|| format!("invalid port header {port:?}")),
                    );
                    if let (Some(error), Some(data), Some(port)) =
                        (pair.error, pair.data, pair.port.clone())
                    {
                        pairs.remove(&request);
                        let (to_connection, from_client) = mpsc::channel(16);
                        routes.insert(data, to_connection);
                        let task = forward(
                            error,
                            data,
                            port,
                            from_client,
                            sender.clone(),
                            Arc::clone(&dial),
                        );
                        connections.insert(data, tokio::spawn(task));
                    }
                }
                Frame::Data { stream, fin, data } => {
                    // The error stream carries nothing from the client but its FIN.
                    let Some(route) = routes.get(&stream) else {
                        continue;
                    };
                    // Waiting here holds up reading the session: the client sends no faster
                    // than the pod takes.
                    if !data.is_empty() && route.send(Some(data)).await.is_err() {
                        routes.remove(&stream);
                        continue;
                    }
                    if fin {
                        let _ = route.send(None).await;
                        routes.remove(&stream);
                    }
                }
                Frame::RstStream { stream, .. } => {
                    routes.remove(&stream);
                    if let Some(task) = connections.remove(&stream) {
                        task.abort();
                    }
                }
                Frame::Ping { id } => {
                    if !sender.send(Frame::Ping { id }).await {
                        break 'session;
                    }
                }
                Frame::GoAway => break 'session,
                Frame::SynReply { .. } | Frame::Ignored => {}
            }
        }
        connections.retain(|_, task| !task.is_finished());
    }
    for task in connections.into_values() {
        task.abort();
    }
}

/// One forwarded connection: the pod's port dialled, then bytes both ways until the pod's side
/// has closed; a failure is told on the error stream, as the kubelet tells it.
async fn forward(
    error: u32,
    data: u32,
    port: Result<u16, String>,
    mut from_client: mpsc::Receiver<Option<Vec<u8>>>,
    sender: Writer,
    dial: Dial,
) {
    let connected = match port {
        Ok(port) => dial(port)
            .await
            .map_err(|e| format!("error forwarding port {port} to the pod: {e}")),
        Err(e) => Err(e),
    };
    let tcp = match connected {
        Ok(tcp) => tcp,
        Err(message) => {
            let told = Frame::Data {
                stream: error,
                fin: true,
                data: message.into_bytes(),
            };
            sender.send(told).await;
            sender.fin(data).await;
            return;
        }
    };
    let (mut read, mut write) = tcp.into_split();
    let up = async move {
        while let Some(Some(bytes)) = from_client.recv().await {
            if write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    };
    let down = {
        let sender = sender.clone();
        async move {
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let frame = Frame::Data {
                    stream: data,
                    fin: false,
                    data: buf[..n].to_vec(),
                };
                if !sender.send(frame).await {
                    return;
                }
            }
            sender.fin(data).await;
        }
    };
    // The connection is over when the pod has said all it will: the client may still be
    // sending, but its kubectl closes its end once the error stream ends (as a cluster's).
    let up = tokio::spawn(up);
    down.await;
    up.abort();
    sender.fin(error).await;
}
