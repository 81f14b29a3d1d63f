//! `tandem __netprobe NETNS REQUEST_JSON`: an httpGet, tcpSocket or gRPC check made from inside a
//! pod's network namespace, printing one JSON [`NetOutcome`] line on stdout.
//!
//! The caller chooses the host: as the kubelet, the pod IP unless the handler names one (the
//! supervisor falls back to 127.0.0.1 only for a pod without an address). Dialing the pod IP
//! from inside the pod reaches the same sockets as the kubelet dialing it from the node, so a
//! server bound to 127.0.0.1 only fails here as on a cluster. The check still runs inside the
//! pod's namespace: a pod without an address (`--network none`) is reachable only there, and a
//! pod's address need not be reachable from the host (a macvlan network, for one). So it runs in
//! a short-lived process that first joins the namespace of the pod's pause process with
//! setns(2). setns(2) with CLONE_NEWNET changes the namespace of the calling thread only; this
//! process has a single thread (the gRPC client's tokio runtime is current-thread and never uses
//! the blocking pool), so every socket it opens afterwards is in the pod's namespace. Keeping it
//! out of the supervisor leaves the supervisor in the host's namespace.
//!
//! HTTP follows the kubelet's prober: GET with the request's `user_agent` (the supervisor sends
//! `kube-probe/<major>.<minor>` of the release tandem follows) and `Accept: */*` unless the
//! probe's headers override them (a `Host` header sets the request host), no
//! keep-alive, at most 10 KiB of body, success for 200–399, redirects followed only to the same
//! host (at most 10), a redirect elsewhere returned as a success with a warning. HTTPS is the same
//! request over rustls with the certificate unchecked, as the kubelet's `InsecureSkipVerify`
//! (`tls`). gRPC is the Health Checking Protocol's `Check` over HTTP/2 (`grpc`).

use std::ffi::OsString;
use std::path::PathBuf;

use crate::helper::{Args, ArgsError, HelperArgs};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

mod grpc;
mod tls;

const MAX_BODY: usize = 10 * 1024;
/// The most header bytes a probe reads before giving up (Go's `DefaultMaxHeaderBytes`).
const MAX_HEADER: usize = 1 << 20;
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
        /// `scheme: HTTPS`.
        #[serde(default)]
        https: bool,
        /// The `User-Agent` header unless `headers` sets one; empty sends none (as an empty
        /// header value removes a default one).
        #[serde(default)]
        user_agent: String,
    },
    /// `grpc.health.v1.Health/Check` with this `service` ("" asks about the whole server).
    Grpc {
        host: String,
        port: u16,
        service: String,
        timeout_ms: u64,
        /// The `user-agent` of the call; empty sends none.
        #[serde(default)]
        user_agent: String,
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

/// `tandem __netprobe NETNS REQUEST`: one check from inside a network namespace (`-`: the
/// current one, for hostNetwork pods); REQUEST is the [`NetRequest`] as JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetprobeArgs {
    pub netns: Option<PathBuf>,
    pub request: NetRequest,
}

impl HelperArgs for NetprobeArgs {
    const VERB: &'static str = "__netprobe";
    const PROGRAM: Option<&'static str> = Some("tandem-pod");

    fn to_args(&self) -> Vec<OsString> {
        vec![
            self.netns
                .as_ref()
                .map_or_else(|| OsString::from("-"), |p| p.clone().into_os_string()),
            // A request is plain data: it always serializes.
            OsString::from(serde_json::to_string(&self.request).unwrap_or_default()),
        ]
    }

    fn parse(args: &[OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let netns = a.os("network namespace")?;
        let netns = (netns != "-").then(|| PathBuf::from(netns));
        let json = a.text("request")?;
        let request =
            serde_json::from_str(json).map_err(|e| a.error(format!("bad request: {e}")))?;
        a.end()?;
        Ok(NetprobeArgs { netns, request })
    }
}

/// The parent's end: runs `tandem __netprobe` (the binary at `exe`) and reads its outcome,
/// waiting at most `bound` (plus slack). The helper is killed if the caller stops waiting: it
/// holds the pod's network namespace and runs outside the pod cgroup, so it must not outlive
/// the check (it has no children to orphan).
pub async fn call(
    exe: &Path,
    args: &NetprobeArgs,
    bound: Option<Duration>,
) -> Result<NetOutcome, String> {
    crate::helper::run(exe, args, bound, true).await
}

/// The body of `tandem __netprobe`.
pub fn netprobe_main(args: &NetprobeArgs) -> i32 {
    let outcome = match enter(args.netns.as_deref()) {
        Err(e) => NetOutcome::Error(e),
        Ok(()) => run(&args.request),
    };
    match serde_json::to_string(&outcome) {
        Ok(line) => {
            println!("{line}");
            0
        }
        Err(_) => 1,
    }
}

fn enter(netns: Option<&Path>) -> Result<(), String> {
    let Some(netns) = netns else {
        return Ok(());
    };
    let f = std::fs::File::open(netns).map_err(|e| {
        format!(
            "cannot open the pod's network namespace {}: {e}",
            netns.display()
        )
    })?;
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
            https,
            user_agent,
        } => http_get(
            Target {
                https: *https,
                host: host.clone(),
                port: *port,
                path: normalise_path(path),
            },
            headers,
            user_agent,
            Instant::now() + Duration::from_millis(*timeout_ms),
        ),
        NetRequest::Grpc {
            host,
            port,
            service,
            timeout_ms,
            user_agent,
        } => grpc::check(
            host,
            *port,
            service,
            user_agent,
            Duration::from_millis(*timeout_ms),
        ),
    }
}

const HTTP_TIMEOUT: &str =
    "context deadline exceeded (Client.Timeout exceeded while awaiting headers)";

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(HTTP_TIMEOUT.into())
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

/// Where one request of a probe goes; redirects replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    fn scheme(&self) -> &'static str {
        if self.https {
            "https"
        } else {
            "http"
        }
    }

    fn default_port(&self) -> u16 {
        if self.https {
            443
        } else {
            80
        }
    }

    /// `host[:port]` as a Host header or URL authority (IPv6 literals in brackets).
    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == self.default_port() {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn url(&self) -> String {
        format!("{}://{}{}", self.scheme(), self.authority(), self.path)
    }
}

fn http_get(
    mut target: Target,
    headers: &[(String, String)],
    user_agent: &str,
    deadline: Instant,
) -> NetOutcome {
    for _ in 0..=MAX_REDIRECTS {
        let res = match request(&target, headers, user_agent, deadline) {
            Ok(r) => r,
            Err(e) => return NetOutcome::Failure(e),
        };
        if (300..400).contains(&res.status) {
            if let Some(loc) = &res.location {
                match resolve_location(loc, &target) {
                    Some(next) if next.host == target.host => {
                        target = next;
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

/// The target of a Location header: absolute `http(s)://h[:p]/x`, scheme-relative `//h/x`, or a
/// path on the current host. `None` for other schemes or an unparsable authority.
fn resolve_location(loc: &str, cur: &Target) -> Option<Target> {
    let (https, rest) = if let Some(r) = loc.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = loc.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = loc.strip_prefix("//") {
        (cur.https, r)
    } else if loc.contains("://") {
        return None;
    } else {
        return Some(Target {
            path: normalise_path(loc),
            ..cur.clone()
        });
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut next = Target {
        https,
        host: String::new(),
        port: 0,
        path: path.to_string(),
    };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    next.host = host.to_string();
    next.port = match port {
        Some(p) => p.parse().ok()?,
        None => next.default_port(),
    };
    Some(next)
}

/// A probe connection: plain TCP or TLS over it. Timeouts are set on the TCP socket either way.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

fn request(
    target: &Target,
    headers: &[(String, String)],
    user_agent: &str,
    deadline: Instant,
) -> Result<Response, String> {
    let url = target.url();
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("Get \"{url}\": {HTTP_TIMEOUT}")
        }
        _ => format!("Get \"{url}\": {e}"),
    };
    let tcp = connect(&target.host, target.port, deadline)?;
    let mut stream = if target.https {
        Conn::Tls(Box::new(
            tls::client(&target.host, tcp).map_err(|e| format!("Get \"{url}\": {e}"))?,
        ))
    } else {
        Conn::Plain(tcp)
    };
    let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
    let host_header = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| target.authority());
    let mut req = format!("GET {} HTTP/1.1\r\nHost: {host_header}\r\n", target.path);
    if !has("user-agent") && !user_agent.is_empty() {
        req.push_str(&format!("User-Agent: {user_agent}\r\n"));
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
    // The TLS handshake happens inside the first write and reads too: both timeouts first.
    let left = remaining(deadline)?;
    stream.tcp().set_write_timeout(Some(left)).map_err(io)?;
    stream.tcp().set_read_timeout(Some(left)).map_err(io)?;
    stream.write_all(req.as_bytes()).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let mut head_end = None;
    loop {
        stream
            .tcp()
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(io)?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // A TLS peer that closes without close_notify: what arrived is the response, as
            // for a plain connection closed after the body.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(io(e)),
        };
        if n == 0 {
            break;
        }
        let before = raw.len();
        raw.extend_from_slice(&buf[..n]);
        if head_end.is_none() {
            // Only the new bytes (and the 3 before them) can complete the blank line.
            head_end = blank_line(&raw, before.saturating_sub(3));
            // The server is the container's: it must not make the host-side helper hold an
            // unbounded header block (Go's client stops at 1 MiB too).
            if head_end.is_none() && raw.len() > MAX_HEADER {
                return Err(format!(
                    "Get \"{url}\": net/http: server response headers exceeded {MAX_HEADER} bytes; aborted"
                ));
            }
        }
        if let Some((_, body)) = head_end {
            if raw.len() >= body + MAX_BODY {
                break;
            }
        }
    }
    let (h, body_start) =
        head_end.ok_or_else(|| format!("Get \"{url}\": malformed HTTP response"))?;
    let head = String::from_utf8_lossy(&raw[..h]);
    let mut lines = head.split('\n').map(|l| l.trim_end_matches('\r'));
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| format!("Get \"{url}\": malformed status line"))?;
    let location = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("location"))
        .map(|(_, v)| v.trim().to_string());
    let body_end = raw.len().min(body_start + MAX_BODY);
    let body = String::from_utf8_lossy(&raw[body_start..body_end]).into_owned();
    Ok(Response {
        status,
        location,
        body,
    })
}

/// Where the response's header block ends, searched from `from`: its length and where the body
/// starts. Lines may end in CRLF or a bare LF, as Go's HTTP client (the kubelet's prober)
/// accepts them: CGI scripts behind busybox's httpd answer with bare LFs.
fn blank_line(raw: &[u8], from: usize) -> Option<(usize, usize)> {
    (from..raw.len()).find_map(|i| {
        let rest = &raw[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some((i, i + 4))
        } else if rest.starts_with(b"\n\r\n") {
            Some((i, i + 3))
        } else if rest.starts_with(b"\n\n") {
            Some((i, i + 2))
        } else {
            None
        }
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
            https: false,
            user_agent: String::new(),
        })
    }

    #[test]
    fn status_200_to_399_succeeds_and_400_fails() {
        let p = serve(vec!["HTTP/1.1 204 No Content\r\n\r\n"]);
        assert_eq!(get(p, "/"), NetOutcome::Success);
        // Header lines ending in a bare LF (busybox httpd's CGI responses), as Go reads them.
        let p = serve(vec!["HTTP/1.1 200 OK\r\nContent-Type: text/plain\n\nok"]);
        assert_eq!(get(p, "/"), NetOutcome::Success);
        let p = serve(vec!["HTTP/1.1 503 No\nRetry-After: 1\n\n"]);
        assert_eq!(
            get(p, "/"),
            NetOutcome::Failure("HTTP probe failed with statuscode: 503".into())
        );
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

    /// The request head a probe sends, with `user_agent` and the probe's `headers`.
    fn head_of(user_agent: &str, headers: Vec<(String, String)>) -> String {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = l.local_addr().expect("addr").port();
        let server = std::thread::spawn(move || {
            let Ok((mut s, _)) = l.accept() else {
                return String::new();
            };
            let mut buf = [0u8; 2048];
            let n = s.read(&mut buf).unwrap_or(0);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let out = run(&NetRequest::Http {
            host: "127.0.0.1".into(),
            port,
            path: "/".into(),
            headers,
            timeout_ms: 2000,
            https: false,
            user_agent: user_agent.into(),
        });
        assert_eq!(out, NetOutcome::Success);
        server.join().expect("server")
    }

    #[test]
    fn the_user_agent_is_the_requests_unless_the_probe_sets_one() {
        let h = head_of("kube-probe/9.8", vec![]);
        assert!(h.contains("\r\nUser-Agent: kube-probe/9.8\r\n"), "{h}");
        let h = head_of("kube-probe/9.8", vec![("user-agent".into(), "mine".into())]);
        assert!(h.contains("\r\nuser-agent: mine\r\n"), "{h}");
        assert!(!h.contains("kube-probe"), "{h}");
        let h = head_of("", vec![]);
        assert!(!h.to_ascii_lowercase().contains("user-agent"), "{h}");
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
