//! gRPC health probes: `grpc.health.v1.Health/Check` over cleartext HTTP/2 with prior
//! knowledge, as grpc-go's plaintext dial in the kubelet's prober. The two messages are tiny, so
//! they are encoded and decoded here instead of through a protobuf code generator:
//! `HealthCheckRequest { string service = 1; }` and
//! `HealthCheckResponse { ServingStatus status = 1; }`.
//!
//! Results and messages follow the kubelet: `SERVING` is success; another status, a non-OK
//! `grpc-status`, a failed connection or the timeout is a failure.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;

use super::NetOutcome;

const PATH: &str = "/grpc.health.v1.Health/Check";
/// A health response is a few bytes; anything much larger is not one.
const MAX_RESPONSE: usize = 64 * 1024;
const SERVING: u64 = 1;

/// Runs one `Check(service)` against `host:port`, all of it within `timeout`, sending
/// `user_agent` (none when empty).
pub(super) fn check(
    host: &str,
    port: u16,
    service: &str,
    user_agent: &str,
    timeout: Duration,
) -> NetOutcome {
    // A current-thread runtime: the helper has joined the pod's network namespace on this thread,
    // and only this thread's sockets are in it.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return NetOutcome::Error(format!("cannot start the gRPC client: {e}")),
    };
    rt.block_on(check_async(host, port, service, user_agent, timeout))
}

async fn check_async(
    host: &str,
    port: u16,
    service: &str,
    user_agent: &str,
    timeout: Duration,
) -> NetOutcome {
    let authority = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let started = tokio::time::Instant::now();
    let within = go_duration(timeout);
    let client = match tokio::time::timeout(timeout, dial(host, port)).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            return NetOutcome::Failure(format!(
                "timeout: failed to connect service {authority:?} within {within}: {e}"
            ))
        }
        Err(_) => {
            return NetOutcome::Failure(format!(
                "timeout: failed to connect service {authority:?} within {within}: context deadline exceeded"
            ))
        }
    };
    let left = timeout.saturating_sub(started.elapsed());
    match tokio::time::timeout(left, call(client, &authority, service, user_agent, left)).await {
        Err(_) => NetOutcome::Failure(format!(
            "timeout: health rpc did not complete within {within}"
        )),
        Ok(Err(e)) => NetOutcome::Failure(format!("error: health rpc probe failed: {e}")),
        Ok(Ok(Reply::Status(0, _))) => NetOutcome::Failure(
            "error: health rpc probe failed: rpc error: code = Internal desc = no response message"
                .into(),
        ),
        Ok(Ok(Reply::Status(code, message))) => {
            let err = format!("rpc error: code = {} desc = {message}", code_name(code));
            match code {
                // Unimplemented: the server has no health service at all.
                12 => NetOutcome::Failure(format!(
                    "this server does not implement the grpc health protocol (grpc.health.v1.Health): {err}"
                )),
                4 => NetOutcome::Failure(format!(
                    "timeout: health rpc did not complete within {within}"
                )),
                _ => NetOutcome::Failure(format!("error: health rpc probe failed: {err}")),
            }
        }
        Ok(Ok(Reply::Serving(SERVING))) => NetOutcome::Success,
        Ok(Ok(Reply::Serving(other))) => NetOutcome::Failure(format!(
            "service unhealthy (responded with {:?})",
            status_name(other)
        )),
    }
}

type Client = h2::client::SendRequest<Bytes>;

/// A TCP connection and the HTTP/2 handshake; the connection task runs on this runtime.
async fn dial(host: &str, port: u16) -> Result<Client, String> {
    // Resolved here rather than by tokio, whose lookup would run on a blocking-pool thread.
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?
        .collect();
    let mut last = format!("dial tcp {host}:{port}: no address");
    for a in addrs {
        match tokio::net::TcpStream::connect(a).await {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                let (client, conn) = h2::client::handshake(tcp)
                    .await
                    .map_err(|e| format!("http2 handshake with {a}: {e}"))?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                return Ok(client);
            }
            Err(e) => last = format!("dial tcp {a}: connect: {e}"),
        }
    }
    Err(last)
}

/// What the server answered: a response message's status, or a non-OK `grpc-status` (with 0
/// meaning OK without a message).
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Serving(u64),
    Status(u32, String),
}

async fn call(
    client: Client,
    authority: &str,
    service: &str,
    user_agent: &str,
    timeout: Duration,
) -> Result<Reply, String> {
    let mut client = client.ready().await.map_err(|e| transport(&e))?;
    let mut req = http::Request::builder()
        .method("POST")
        .uri(format!("http://{authority}{PATH}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if !user_agent.is_empty() {
        req = req.header("user-agent", user_agent);
    }
    let req = req
        .header("grpc-timeout", format!("{}m", timeout.as_millis().max(1)))
        .body(())
        .map_err(|e| e.to_string())?;
    let (response, mut send) = client.send_request(req, false).map_err(|e| transport(&e))?;
    send.send_data(frame(&encode_request(service)), true)
        .map_err(|e| transport(&e))?;
    let response = response.await.map_err(|e| transport(&e))?;
    let (parts, mut body) = response.into_parts();
    // Trailers-only: an error status comes in the headers, with no body.
    if let Some(reply) = grpc_status(&parts.headers) {
        return Ok(reply);
    }
    if parts.status != http::StatusCode::OK {
        return Err(format!(
            "rpc error: code = Unknown desc = unexpected HTTP status code received from server: {}",
            parts.status
        ));
    }
    let mut data = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(|e| transport(&e))?;
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
        if data.len() > MAX_RESPONSE {
            return Err("rpc error: code = ResourceExhausted desc = response too large".into());
        }
    }
    let trailers = body.trailers().await.map_err(|e| transport(&e))?;
    match trailers.as_ref().and_then(grpc_status) {
        Some(Reply::Status(0, _)) => {}
        Some(reply) => return Ok(reply),
        None => return Err(
            "rpc error: code = Internal desc = server closed the stream without sending trailers"
                .into(),
        ),
    }
    let message =
        unframe(&data).ok_or("rpc error: code = Internal desc = malformed gRPC message frame")?;
    match message {
        None => Ok(Reply::Status(0, String::new())),
        Some(m) => decode_response(m).map(Reply::Serving).ok_or_else(|| {
            "rpc error: code = Internal desc = malformed HealthCheckResponse".into()
        }),
    }
}

fn transport(e: &h2::Error) -> String {
    format!("rpc error: code = Unavailable desc = {e}")
}

fn grpc_status(headers: &http::HeaderMap) -> Option<Reply> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some(Reply::Status(code, message))
}

/// `grpc-message` is percent-encoded (gRPC over HTTP/2, "Responses").
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The 5-byte gRPC message prefix (uncompressed, big-endian length) and the message.
fn frame(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(5 + message.len());
    out.push(0);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    Bytes::from(out)
}

/// The first message of a response body: `Ok(None)` for an empty body, `None` when malformed or
/// compressed (this client never asks for compression).
fn unframe(data: &[u8]) -> Option<Option<&[u8]>> {
    if data.is_empty() {
        return Some(None);
    }
    let (head, rest) = data.split_at_checked(5)?;
    if head[0] != 0 {
        return None;
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    rest.get(..len).map(Some)
}

/// `HealthCheckRequest`: field 1, length-delimited; proto3 leaves out an empty string.
pub(crate) fn encode_request(service: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if !service.is_empty() {
        out.push(0x0a);
        put_varint(&mut out, service.len() as u64);
        out.extend_from_slice(service.as_bytes());
    }
    out
}

/// `HealthCheckResponse.status`; 0 (UNKNOWN) when absent. Unknown fields are skipped.
pub(crate) fn decode_response(mut m: &[u8]) -> Option<u64> {
    let mut status = 0;
    while !m.is_empty() {
        let key = get_varint(&mut m)?;
        match key & 7 {
            0 => {
                let v = get_varint(&mut m)?;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            1 => m = m.get(8..)?,
            2 => {
                let len = usize::try_from(get_varint(&mut m)?).ok()?;
                m = m.get(len..)?;
            }
            5 => m = m.get(4..)?,
            _ => return None,
        }
    }
    Some(status)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(m: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = m.split_first()?;
        *m = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

fn status_name(s: u64) -> String {
    match s {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => n.to_string(),
    }
}

fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES
        .get(code as usize)
        .map_or_else(|| format!("Code({code})"), |n| (*n).to_string())
}

/// Go's `time.Duration` text for whole seconds or milliseconds, as in the kubelet's messages.
fn go_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_the_service_as_field_one() {
        assert_eq!(encode_request(""), Vec::<u8>::new());
        assert_eq!(encode_request("db"), b"\x0a\x02db".to_vec());
        let long = "s".repeat(200);
        let enc = encode_request(&long);
        // A length of 200 takes a two-byte varint.
        assert_eq!(&enc[..3], &[0x0a, 0xc8, 0x01]);
        assert_eq!(enc.len(), 203);
    }

    #[test]
    fn the_response_status_is_field_one_and_other_fields_are_skipped() {
        assert_eq!(decode_response(&[]), Some(0));
        assert_eq!(decode_response(&[0x08, 0x01]), Some(1));
        assert_eq!(decode_response(&[0x08, 0x02]), Some(2));
        // field 2 (string "x"), field 3 (fixed32), then status SERVING.
        assert_eq!(
            decode_response(&[0x12, 0x01, b'x', 0x1d, 0, 0, 0, 0, 0x08, 0x01]),
            Some(1)
        );
        assert_eq!(decode_response(&[0x08]), None);
        assert_eq!(decode_response(&[0x12, 0x05, b'x']), None);
    }

    #[test]
    fn grpc_frames_and_messages() {
        assert_eq!(&frame(b"\x08\x01")[..], &[0, 0, 0, 0, 2, 0x08, 0x01]);
        assert_eq!(
            unframe(&[0, 0, 0, 0, 2, 0x08, 0x01]),
            Some(Some(&[0x08, 0x01][..]))
        );
        assert_eq!(unframe(&[]), Some(None));
        assert_eq!(unframe(&[1, 0, 0, 0, 0]), None);
        assert_eq!(unframe(&[0, 0, 0, 0, 9, 0x08]), None);
        assert_eq!(percent_decode("unknown%20service%"), "unknown service%");
        assert_eq!(code_name(5), "NotFound");
        assert_eq!(code_name(99), "Code(99)");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    }
}
