//! `tandem __netprobe NETNS REQUEST_JSON`: an httpGet or tcpSocket check made from inside a pod's
//! network namespace, printing one JSON [`NetOutcome`] line on stdout.
//!
//! A pod's ports are only reachable inside its network namespace (its only interface is `lo`),
//! so the check runs in a short-lived process that first joins the namespace of the pod's pause
//! process with setns(2). setns(2) with CLONE_NEWNET changes the namespace of the calling thread
//! only; this process has a single thread, so every socket it opens afterwards is in the pod's
//! namespace. Keeping it out of the supervisor leaves the supervisor in the host's namespace.
//!
//! HTTP follows the kubelet's prober: GET with `User-Agent: kube-probe/1.33` and `Accept: */*`
//! unless the probe's headers override them (a `Host` header sets the request host), no
//! keep-alive, at most 10 KiB of body, success for 200–399, redirects followed only to the same
//! host (at most 10), a redirect elsewhere returned as a success with a warning.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

const MAX_BODY: usize = 10 * 1024;
const MAX_REDIRECTS: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetRequest {
    Tcp {
        host: String,
        port: u16,
        timeout_ms: u64,
    },
    Http {
        host: String,
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
        timeout_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetOutcome {
    Success,
    Warning(String),
    Failure(String),
    Error(String),
}

/// The body of `tandem __netprobe`. NETNS `-` stays in the current namespace (hostNetwork pods).
pub fn netprobe_main(netns: &str, request: &str) -> i32 {
    let outcome = match serde_json::from_str::<NetRequest>(request) {
        Err(e) => NetOutcome::Error(format!("bad request: {e}")),
        Ok(req) => match enter(netns) {
            Err(e) => NetOutcome::Error(e),
            Ok(()) => run(&req),
        },
    };
    match serde_json::to_string(&outcome) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(_) => 1,
    }
}

fn enter(netns: &str) -> Result<(), String> {
    if netns == "-" {
        return Ok(());
    }
    let f = std::fs::File::open(Path::new(netns))
        .map_err(|e| format!("cannot open the pod's network namespace {netns}: {e}"))?;
    nix::sched::setns(f, CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("cannot join the pod's network namespace: {e}"))
}

pub fn run(req: &NetRequest) -> NetOutcome {
    match req {
        NetRequest::Tcp {
            host,
            port,
            timeout_ms,
        } => {
            let deadline = Instant::now() + Duration::from_millis(*timeout_ms);
            match connect(host, *port, deadline) {
                Ok(_) => NetOutcome::Success,
                Err(e) => NetOutcome::Failure(e),
            }
        }
        NetRequest::Http {
            host,
            port,
            path,
            headers,
            timeout_ms,
        } => http_get(
            host,
            *port,
            path,
            headers,
            Instant::now() + Duration::from_millis(*timeout_ms),
        ),
    }
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("context deadline exceeded (Client.Timeout exceeded while awaiting headers)".into())
    } else {
        Ok(left)
    }
}

fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("dial tcp {host}:{port}: {e}"))?
        .collect();
    let mut last = format!("dial tcp {host}:{port}: no address");
    for a in addrs {
        match TcpStream::connect_timeout(&a, remaining(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("dial tcp {a}: connect: {e}"),
        }
    }
    Err(last)
}

/// One parsed response.
struct Response {
    status: u16,
    location: Option<String>,
    body: String,
}

fn http_get(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    deadline: Instant,
) -> NetOutcome {
    let (mut cur_host, mut cur_port, mut cur_path) = (host.to_string(), port, normalise_path(path));
    for _ in 0..=MAX_REDIRECTS {
        let res = match request(&cur_host, cur_port, &cur_path, headers, deadline) {
            Ok(r) => r,
            Err(e) => return NetOutcome::Failure(e),
        };
        if (300..400).contains(&res.status) {
            if let Some(loc) = &res.location {
                match resolve_location(loc, &cur_host, cur_port) {
                    Some((h, p, path)) if h == cur_host => {
                        (cur_host, cur_port, cur_path) = (h, p, path);
                        continue;
                    }
                    _ => {
                        return NetOutcome::Warning(format!(
                            "Probe terminated redirects, Response body: {}",
                            res.body
                        ))
                    }
                }
            }
        }
        return if (200..400).contains(&res.status) {
            NetOutcome::Success
        } else {
            NetOutcome::Failure(format!("HTTP probe failed with statuscode: {}", res.status))
        };
    }
    NetOutcome::Failure("stopped after 10 redirects".into())
}

fn normalise_path(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

/// `(host, port, path)` of a Location header: absolute `http://h[:p]/x` or a path.
fn resolve_location(loc: &str, host: &str, port: u16) -> Option<(String, u16, String)> {
    if let Some(rest) = loc.strip_prefix("http://") {
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (h, p) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, 80),
        };
        return Some((h.to_string(), p, path.to_string()));
    }
    if loc.contains("://") {
        return None;
    }
    Some((host.to_string(), port, normalise_path(loc)))
}

fn request(
    host: &str,
    port: u16,
    path: &str,
    headers: &[(String, String)],
    deadline: Instant,
) -> Result<Response, String> {
    let mut stream = connect(host, port, deadline)?;
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let host_header = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| {
            if port == 80 {
                host.to_string()
            } else {
                format!("{host}:{port}")
            }
        });
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {host_header}\r\n");
    if !has("user-agent") {
        req.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has("accept") {
        req.push_str("Accept: */*\r\n");
    }
    for (k, v) in headers {
        // An explicitly empty value removes a default header, as in the kubelet.
        if k.eq_ignore_ascii_case("host") || v.is_empty() {
            continue;
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    let io = |e: std::io::Error| format!("Get \"http://{host}:{port}{path}\": {e}");
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(io)?;
    stream.write_all(req.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let mut head_end = None;
    loop {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(io)?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if head_end.is_none() {
            head_end = raw.windows(4).position(|w| w == b"\r\n\r\n");
        }
        if let Some(h) = head_end {
            if raw.len() >= h + 4 + MAX_BODY {
                break;
            }
        }
    }
    let h = head_end
        .ok_or_else(|| format!("Get \"http://{host}:{port}{path}\": malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..h]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("Get \"http://{host}:{port}{path}\": malformed status line"))?;
    let location = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().to_string());
    let body_end = raw.len().min(h + 4 + MAX_BODY);
    let body = String::from_utf8_lossy(&raw[h + 4..body_end]).into_owned();
    Ok(Response {
        status,
        location,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve(responses: Vec<&'static str>) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            for r in responses {
                let Ok((mut s, _)) = l.accept() else { return };
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(r.as_bytes());
            }
        });
        port
    }

    fn get(port: u16, path: &str) -> NetOutcome {
        run(&NetRequest::Http {
            host: "127.0.0.1".into(),
            port,
            path: path.into(),
            headers: vec![],
            timeout_ms: 2000,
        })
    }

    #[test]
    fn status_200_to_399_succeeds_and_400_fails() {
        let p = serve(vec!["HTTP/1.1 204 No Content\r\n\r\n"]);
        assert_eq!(get(p, "/"), NetOutcome::Success);
        let p = serve(vec!["HTTP/1.1 500 Oops\r\n\r\nbad"]);
        assert_eq!(
            get(p, "/healthz"),
            NetOutcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
    }

    #[test]
    fn same_host_redirects_are_followed_and_others_warn() {
        let p = serve(vec![
            "HTTP/1.1 302 Found\r\nLocation: /healthz\r\n\r\n",
            "HTTP/1.1 503 No\r\n\r\n",
        ]);
        assert_eq!(
            get(p, "/redirect"),
            NetOutcome::Failure("HTTP probe failed with statuscode: 503".into())
        );
        let p = serve(vec![
            "HTTP/1.1 302 Found\r\nLocation: http://0.0.0.0/\r\nContent-Length: 5\r\n\r\nFound",
        ]);
        assert_eq!(
            get(p, "/redirect"),
            NetOutcome::Warning("Probe terminated redirects, Response body: Found".into())
        );
    }

    #[test]
    fn tcp_connect_succeeds_on_an_open_port_and_fails_on_a_closed_one() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let ok = run(&NetRequest::Tcp {
            host: "127.0.0.1".into(),
            port,
            timeout_ms: 1000,
        });
        assert_eq!(ok, NetOutcome::Success);
        drop(l);
        let bad = run(&NetRequest::Tcp {
            host: "127.0.0.1".into(),
            port,
            timeout_ms: 1000,
        });
        assert!(matches!(bad, NetOutcome::Failure(_)), "{bad:?}");
    }
}
