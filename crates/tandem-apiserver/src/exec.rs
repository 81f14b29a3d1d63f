//! A command run in a container for a client, whatever carries its streams (a WebSocket's
//! channels, `crate::stream`; SPDY streams, `crate::spdyexec`): the client's input (stdin and
//! its end, terminal sizes) goes to the command, its output comes back, and its end is told as
//! the kubelet tells it, a `metav1.Status`. A client that goes ends the command.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::backend::{ExecEnd, ExecStreams};

/// How long output still arriving after the command ended is passed on: what it left in the
/// background may hold its streams open for good.
const DRAIN: Duration = Duration::from_secs(1);

/// What the client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    Stdin(Bytes),
    /// Stdin has ended.
    StdinEnd,
    /// The terminal's new size.
    Resize {
        rows: u16,
        columns: u16,
    },
}

/// What goes back to the client.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Output {
    Stdout(Bytes),
    Stderr(Bytes),
    /// The command's end, as the status the error stream carries; nothing follows.
    End(Value),
}

/// How a stream's bytes go back: as stdout or as stderr.
type ToOutput = fn(Bytes) -> Output;

/// The end of a command as the status on the error channel: Success, or Failure with
/// `NonZeroExitCode` and the code as a cause, which kubectl turns into its own exit status.
pub(crate) fn end_status(end: &ExecEnd) -> Value {
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

/// Copies a stream's output until it ends or the client's writer has gone.
fn pump(mut from: Box<dyn Read + Send>, as_output: ToOutput, to: mpsc::Sender<Output>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if to
                    .blocking_send(as_output(Bytes::copy_from_slice(&buf[..n])))
                    .is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Runs the command's session: `input` from the client (closed when it has gone, which ends
/// the command), `output` back to it, ending with [`Output::End`].
pub(crate) async fn run(
    streams: ExecStreams,
    mut input: mpsc::Receiver<Input>,
    output: mpsc::Sender<Output>,
) {
    let ExecStreams {
        stdin,
        stdout,
        stderr,
        resize,
        wait,
        abandon,
    } = streams;
    let abandon = Arc::new(abandon);
    // Output: one thread per stream; `done` counts the ones that have ended.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(2);
    let has_stderr = stderr.is_some();
    let mut pumps = 0;
    let outputs: [(_, ToOutput); 2] = [(stdout, Output::Stdout), (stderr, Output::Stderr)];
    for (from, as_output) in outputs {
        let Some(from) = from else { continue };
        pumps += 1;
        let (to, done) = (output.clone(), done_tx.clone());
        tokio::task::spawn_blocking(move || {
            pump(from, as_output, to);
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
            while let Some(i) = input.recv().await {
                match i {
                    Input::Stdin(data) => {
                        let _ = in_tx.send(Some(data));
                    }
                    Input::StdinEnd => {
                        let _ = in_tx.send(None);
                    }
                    Input::Resize { rows, columns } => {
                        if let Some(f) = &resize {
                            f(rows, columns);
                        }
                    }
                }
            }
            // The client has gone: the command goes too.
            abandon();
        })
    };
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
        let told = Bytes::from(format!("{message}\n"));
        let _ = output
            .send(match has_stderr {
                true => Output::Stderr(told),
                false => Output::Stdout(told),
            })
            .await;
    }
    let _ = output.send(Output::End(end_status(&end))).await;
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
    }
}
