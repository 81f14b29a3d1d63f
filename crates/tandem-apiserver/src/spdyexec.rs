//! `pods/exec` over SPDY/3.1 (`v4.channel.k8s.io`), as kubectl before 1.30 asks for it and the
//! kubelet serves it: the client opens one stream per channel, each naming its `streamtype` —
//! `error`, and as the request asked, `stdin`, `stdout`, `stderr` (not with a terminal) and
//! `resize` (with one: terminal sizes as a sequence of JSON objects). Once every expected
//! stream is open the command runs (`crate::exec`); its output goes out on its streams, its end
//! as a `metav1.Status` on the error stream, and then every stream ends.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::backend::{ExecOptions, ExecStreams};
use crate::exec::{Input, Output};
use crate::spdy::{Decoder, Frame, Writer};

/// The stream protocol served.
pub(crate) const PROTOCOL: &str = "v4.channel.k8s.io";

/// The channels a request asks for, by the names its streams carry.
fn expected(options: &ExecOptions) -> Vec<&'static str> {
    let mut names = vec!["error"];
    for (wanted, name) in [
        (options.stdin, "stdin"),
        (options.stdout, "stdout"),
        (options.stderr && !options.tty, "stderr"),
        (options.tty, "resize"),
    ] {
        if wanted {
            names.push(name);
        }
    }
    names
}

/// Serves one exec session: `incoming` are the client's bytes, `outgoing` those sent back.
/// Returns once the command's end has been told, or the client has gone (which ends it).
pub(crate) async fn serve(
    mut incoming: mpsc::Receiver<Vec<u8>>,
    outgoing: mpsc::Sender<Vec<u8>>,
    streams: ExecStreams,
    options: &ExecOptions,
) {
    let writer = Writer::new(outgoing);
    let wanted = expected(options);
    let mut decoder = Decoder::new();
    let mut open: HashMap<&'static str, u32> = HashMap::new();
    let mut streams = Some(streams);
    let (in_tx, in_rx) = mpsc::channel::<Input>(32);
    let mut in_rx = Some(in_rx);
    let mut told: Option<tokio::task::JoinHandle<()>> = None;
    // Terminal sizes not yet whole.
    let mut sizes = Vec::new();
    loop {
        let bytes = tokio::select! {
            b = incoming.recv() => b,
            // The end has been told: nothing more to serve.
            _ = async { if let Some(t) = told.as_mut() { let _ = t.await; } }, if told.is_some() => break,
        };
        let Some(bytes) = bytes else { break };
        decoder.feed(&bytes);
        loop {
            let frame = match decoder.next() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(_) => return,
            };
            match frame {
                Frame::SynStream {
                    stream, headers, ..
                } => {
                    if !writer.send(Frame::SynReply { stream, fin: false }).await {
                        return;
                    }
                    let kind = headers
                        .iter()
                        .find(|(n, _)| n == "streamtype")
                        .map(|(_, v)| v.as_str());
                    if let Some(name) = wanted.iter().find(|w| Some(**w) == kind) {
                        open.insert(name, stream);
                    }
                    if open.len() == wanted.len() {
                        if let (Some(streams), Some(input)) = (streams.take(), in_rx.take()) {
                            told = Some(tokio::spawn(run(
                                streams,
                                input,
                                writer.clone(),
                                open.clone(),
                            )));
                        }
                    }
                }
                Frame::Data { stream, fin, data } => {
                    let input = if Some(&stream) == open.get("stdin") {
                        let mut inputs = vec![];
                        if !data.is_empty() {
                            inputs.push(Input::Stdin(Bytes::from(data)));
                        }
                        if fin {
                            inputs.push(Input::StdinEnd);
                        }
                        inputs
                    } else if Some(&stream) == open.get("resize") {
                        sizes.extend_from_slice(&data);
                        terminal_sizes(&mut sizes)
                    } else {
                        vec![]
                    };
                    for i in input {
                        let _ = in_tx.send(i).await;
                    }
                }
                Frame::Ping { id } => {
                    writer.send(Frame::Ping { id }).await;
                }
                Frame::GoAway => return,
                Frame::SynReply { .. } | Frame::RstStream { .. } | Frame::Ignored => {}
            }
        }
    }
    // Dropping `in_tx` tells a command still running that its client has gone.
}

/// The command run, its output sent on the streams opened for it, then its end.
async fn run(
    streams: ExecStreams,
    input: mpsc::Receiver<Input>,
    writer: Writer,
    open: HashMap<&'static str, u32>,
) {
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(32);
    let session = tokio::spawn(crate::exec::run(streams, input, out_tx));
    let stdout = open.get("stdout").copied();
    let stderr = open.get("stderr").copied().or(stdout);
    while let Some(output) = out_rx.recv().await {
        let (stream, data) = match output {
            Output::Stdout(b) => (stdout, b),
            Output::Stderr(b) => (stderr, b),
            Output::End(status) => {
                if let Some(&error) = open.get("error") {
                    let told = Frame::Data {
                        stream: error,
                        fin: true,
                        data: status.to_string().into_bytes(),
                    };
                    writer.send(told).await;
                }
                break;
            }
        };
        if let Some(stream) = stream {
            let frame = Frame::Data {
                stream,
                fin: false,
                data: data.to_vec(),
            };
            if !writer.send(frame).await {
                break;
            }
        }
    }
    for name in ["stdout", "stderr"] {
        if let Some(&stream) = open.get(name) {
            writer.fin(stream).await;
        }
    }
    let _ = session.await;
}

/// The whole terminal sizes at the front of `pending` (`{"Width":80,"Height":24}` one after
/// another, as Go's JSON encoder writes them), taken out of it.
fn terminal_sizes(pending: &mut Vec<u8>) -> Vec<Input> {
    let mut sizes = vec![];
    let mut values = serde_json::Deserializer::from_slice(pending).into_iter::<Value>();
    let mut used = 0;
    while let Some(Ok(size)) = values.next() {
        used = values.byte_offset();
        if let (Some(w), Some(h)) = (size["Width"].as_u64(), size["Height"].as_u64()) {
            sizes.push(Input::Resize {
                rows: h.min(u64::from(u16::MAX)) as u16,
                columns: w.min(u64::from(u16::MAX)) as u16,
            });
        }
    }
    pending.drain(..used);
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_streams_expected_follow_the_request() {
        let mut o = ExecOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        assert_eq!(expected(&o), ["error", "stdout", "stderr"]);
        o.stdin = true;
        o.tty = true;
        assert_eq!(expected(&o), ["error", "stdin", "stdout", "resize"]);
    }

    #[test]
    fn terminal_sizes_are_read_as_they_arrive() {
        let mut pending = br#"{"Width":80,"Height":24}{"Width":1"#.to_vec();
        assert_eq!(
            terminal_sizes(&mut pending),
            [Input::Resize {
                rows: 24,
                columns: 80
            }]
        );
        assert_eq!(pending, br#"{"Width":1"#);
        pending.extend_from_slice(br#"20,"Height":40}"#);
        assert_eq!(
            terminal_sizes(&mut pending),
            [Input::Resize {
                rows: 40,
                columns: 120
            }]
        );
        assert!(pending.is_empty());
    }
}
