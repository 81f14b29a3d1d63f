//! Requests that stream for as long as their session lasts: a pod's log (followed) and a command
//! run in a container (exec over WebSocket, `crate::stream`).

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use tokio::sync::mpsc;

use crate::backend::{ExecOptions, LogOptions};
use crate::reply::{respond, Body};
use crate::request::Query;
use crate::resource::Resource;
use crate::state::{blocking, Shared};
use crate::status::ApiError;

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

pub(crate) async fn exec(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    namespace: String,
    name: String,
    query: &Query,
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
    if options.command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    if !(options.stdin || options.stdout || options.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let upgrade = crate::stream::upgrade(&req)?;
    known_pod(shared, &namespace, &name)?;
    let backend = Arc::clone(&shared.backend);
    let streams = blocking(move || backend.exec(&namespace, &name, &options)).await?;
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => crate::stream::serve_exec(upgraded, streams).await,
            Err(_) => (streams.abandon)(),
        }
    });
    Ok(upgrade.response(Body::Full(None)))
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
