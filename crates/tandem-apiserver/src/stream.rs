//! Streams over a WebSocket, as the API server and the kubelet serve `pods/exec`: the
//! `v5.channel.k8s.io` and `v4.channel.k8s.io` subprotocols, where each binary message starts
//! with its channel — 0 stdin, 1 stdout, 2 stderr, 3 the end as a `metav1.Status`, 4 terminal
//! size (`{"Width":…,"Height":…}`), and in v5, 255 to close one channel (stdin's end).
//!
//! The WebSocket framing is tungstenite's; the upgrade is answered by `crate::upgrade` on
//! hyper's connection, which hands the socket over once the 101 is sent.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Message, Role};

use crate::backend::{ExecEnd, ExecStreams};
use crate::upgrade::Offer;

/// The subprotocols served, best first.
pub(crate) const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;
const CLOSE: u8 = 255;

/// How long output still arriving after the command ended is passed on: what it left in the
/// background may hold its streams open for good.
const DRAIN: Duration = Duration::from_secs(1);

/// What exec upgrades to: a WebSocket with one of its subprotocols (SPDY, kubectl before
/// 1.30, is refused with what to use instead).
pub(crate) const EXEC: Offer = Offer {
    websocket: &PROTOCOLS,
    spdy: None,
};

/// The end of a command as the status on the error channel: Success, or Failure with
/// `NonZeroExitCode` and the code as a cause, which kubectl turns into its own exit status.
fn end_status(end: &ExecEnd) -> Value {
    let failure = |message: &str, code: Option<i32>| {
        let mut s = json!({"metadata": {}, "status": "Failure", "message": message});
        match code {
            Some(c) => {
                s["reason"] = json!("NonZeroExitCode");
                s["details"] =
                    json!({"causes": [{"reason": "ExitCode", "message": c.to_string()}]});
            }
            None => s["reason"] = json!("InternalError"),
        }
        s
    };
    match end {
        ExecEnd::Exited(0) => json!({"metadata": {}, "status": "Success"}),
        ExecEnd::Exited(code) => failure(
            &format!("command terminated with non-zero exit code: exit status {code}"),
            Some(*code),
        ),
        ExecEnd::Failed { code, message } => failure(message, Some(*code)),
        ExecEnd::Error(message) => failure(message, None),
    }
}

fn framed(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

/// Copies a stream into framed messages until it ends or the socket's writer has gone.
fn pump(mut from: Box<dyn Read + Send>, channel: u8, to: mpsc::Sender<Message>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to.blocking_send(framed(channel, &buf[..n])).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Runs an exec session over the upgraded connection until the command has ended and its
/// status is sent, or the client has gone (then the command is ended too).
pub async fn serve_exec(upgraded: hyper::upgrade::Upgraded, streams: ExecStreams) {
    let io = hyper_util::rt::TokioIo::new(upgraded);
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(io, Role::Server, None).await;
    let (mut sink, mut incoming) = ws.split();
    let ExecStreams {
        stdin,
        stdout,
        stderr,
        resize,
        wait,
        abandon,
    } = streams;
    let abandon = Arc::new(abandon);
    let (out_tx, mut out_rx) = mpsc::channel::<Message>(32);
    // Output: one thread per stream; `done` counts the ones that have ended.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(2);
    let has_stderr = stderr.is_some();
    let mut pumps = 0;
    for (from, channel) in [(stdout, STDOUT), (stderr, STDERR)] {
        let Some(from) = from else { continue };
        pumps += 1;
        let (to, done) = (out_tx.clone(), done_tx.clone());
        tokio::task::spawn_blocking(move || {
            pump(from, channel, to);
            let _ = done.blocking_send(());
        });
    }
    drop(done_tx);
    // Input: written by a thread of its own, so a full pipe holds up only stdin.
    let (in_tx, in_rx) = std::sync::mpsc::channel::<Option<Bytes>>();
    if let Some(mut to) = stdin {
        tokio::task::spawn_blocking(move || {
            while let Ok(Some(data)) = in_rx.recv() {
                if to.write_all(&data).and_then(|()| to.flush()).is_err() {
                    return;
                }
            }
            // `None` or a closed channel: stdin's end, passed on by dropping the writer.
        });
    }
    let reader = {
        let abandon = Arc::clone(&abandon);
        tokio::spawn(async move {
            while let Some(Ok(message)) = incoming.next().await {
                let data = match message {
                    Message::Binary(d) => d,
                    Message::Close(_) => break,
                    _ => continue,
                };
                match data.first() {
                    Some(&STDIN) => {
                        let _ = in_tx.send(Some(data.slice(1..)));
                    }
                    Some(&RESIZE) => {
                        let size: Value = serde_json::from_slice(&data[1..]).unwrap_or_default();
                        if let (Some(f), Some(w), Some(h)) =
                            (&resize, size["Width"].as_u64(), size["Height"].as_u64())
                        {
                            f(
                                h.min(u64::from(u16::MAX)) as u16,
                                w.min(u64::from(u16::MAX)) as u16,
                            );
                        }
                    }
                    Some(&CLOSE) if data.get(1) == Some(&STDIN) => {
                        let _ = in_tx.send(None);
                    }
                    _ => {}
                }
            }
            // The client has gone (or closed its side): the command goes too.
            abandon();
        })
    };
    let writer = tokio::spawn(async move {
        while let Some(m) = out_rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let end = tokio::task::spawn_blocking(wait)
        .await
        .unwrap_or_else(|e| ExecEnd::Error(format!("the exec's worker failed: {e}")));
    // Output still on its way is passed on first, for a moment at most.
    let _ = tokio::time::timeout(DRAIN, async {
        for _ in 0..pumps {
            if done_rx.recv().await.is_none() {
                break;
            }
        }
    })
    .await;
    // Why the command could not run goes where its errors would have (kubectl prints only the
    // exit code of a failed command).
    if let ExecEnd::Failed { message, .. } = &end {
        let channel = if has_stderr { STDERR } else { STDOUT };
        let _ = out_tx
            .send(framed(channel, format!("{message}\n").as_bytes()))
            .await;
    }
    let status = end_status(&end).to_string();
    let _ = out_tx.send(framed(ERROR, status.as_bytes())).await;
    // A normal closure (1000): clients read a close without a code as an error.
    let _ = out_tx
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    drop(out_tx);
    let _ = writer.await;
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_reads_as_the_kubelet_reports_it() {
        assert_eq!(end_status(&ExecEnd::Exited(0))["status"], "Success");
        let s = end_status(&ExecEnd::Exited(3));
        assert_eq!(s["reason"], "NonZeroExitCode");
        assert_eq!(
            s["details"]["causes"][0],
            json!({"reason": "ExitCode", "message": "3"})
        );
        let s = end_status(&ExecEnd::Error("container app is not running".into()));
        assert_eq!(
            (s["status"].as_str(), s["reason"].as_str()),
            (Some("Failure"), Some("InternalError"))
        );
        assert_eq!(
            framed(STDOUT, b"hi"),
            Message::Binary(Bytes::from_static(b"\x01hi"))
        );
    }
}
