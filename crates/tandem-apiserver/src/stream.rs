//! Streams over a WebSocket, as the API server and the kubelet serve `pods/exec`: the
//! `v5.channel.k8s.io` and `v4.channel.k8s.io` subprotocols, where each binary message starts
//! with its channel — 0 stdin, 1 stdout, 2 stderr, 3 the end as a `metav1.Status`, 4 terminal
//! size (`{"Width":…,"Height":…}`), and in v5, 255 to close one channel (stdin's end).
//!
//! The WebSocket framing is tungstenite's; the upgrade is answered by `crate::upgrade` on
//! hyper's connection, which hands the socket over once the 101 is sent.

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message, Role};

use crate::backend::ExecStreams;
use crate::exec::{Input, Output};

/// The subprotocols served, best first.
pub(crate) const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

/// Runs an exec session over the upgraded connection until the command has ended and its
/// status is sent, or the client has gone (then the command is ended too).
pub async fn serve_exec(upgraded: hyper::upgrade::Upgraded, streams: ExecStreams) {
    let io = hyper_util::rt::TokioIo::new(upgraded);
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut sink, mut incoming) = ws.split();
    let (in_tx, in_rx) = mpsc::channel::<Input>(32);
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(32);
    let session = tokio::spawn(crate::exec::run(streams, in_rx, out_tx));
    let reader = tokio::spawn(async move {
        while let Some(Ok(message)) = incoming.next().await {
            let data = match message {
                Message::Binary(d) => d,
                Message::Close(_) => break,
                _ => continue,
            };
            let input = match data.first() {
                Some(&STDIN) => Input::Stdin(data.slice(1..)),
                Some(&RESIZE) => {
                    let size: Value = serde_json::from_slice(&data[1..]).unwrap_or_default();
                    let (Some(w), Some(h)) = (size["Width"].as_u64(), size["Height"].as_u64())
                    else {
                        continue;
                    };
                    Input::Resize {
                        rows: h.min(u64::from(u16::MAX)) as u16,
                        columns: w.min(u64::from(u16::MAX)) as u16,
                    }
                }
                Some(&CLOSE) if data.get(1) == Some(&STDIN) => Input::StdinEnd,
                _ => continue,
            };
            if in_tx.send(input).await.is_err() {
                break;
            }
        }
        // The client has gone (or closed its side): dropping `in_tx` ends the command.
    });
    while let Some(output) = out_rx.recv().await {
        let message = match output {
            Output::Stdout(b) => framed(STDOUT, &b),
            Output::Stderr(b) => framed(STDERR, &b),
            Output::End(status) => {
                let _ = sink
                    .send(framed(ERROR, status.to_string().as_bytes()))
                    .await;
                // A normal closure (1000): clients read a close without a code as an error.
                Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: "".into(),
                }))
            }
        };
        let close = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || close {
            break;
        }
    }
    let _ = sink.close().await;
    reader.abort();
    let _ = session.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_starts_with_its_channel() {
        assert_eq!(
            framed(STDOUT, b"hi"),
            Message::Binary(Bytes::from_static(b"\x01hi"))
        );
    }
}
