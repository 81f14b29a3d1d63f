//! The probe client of `tandem __netprobe` against servers started here on 127.0.0.1: HTTPS
//! with a self-signed certificate (tests/fixtures/probe-tls.*, test-only, made with `openssl
//! req -x509`), and gRPC health servers over HTTP/2.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tandem_runtime::netprobe::{run, NetOutcome, NetRequest};

const CERT: &str = include_str!("fixtures/probe-tls.crt");
const KEY: &str = include_str!("fixtures/probe-tls.key");

fn server_config() -> Arc<rustls::ServerConfig> {
    let certs = vec![CertificateDer::from_pem_slice(CERT.as_bytes()).expect("cert")];
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).expect("key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server config"),
    )
}

/// What the TLS server saw of one request.
#[derive(Debug)]
struct Seen {
    sni: Option<String>,
    request: String,
}

/// A TLS server answering one connection per response, in order; reports each request.
fn tls_serve(responses: Vec<String>) -> (u16, mpsc::Receiver<Seen>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let cfg = server_config();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for r in responses {
            let Ok((tcp, _)) = l.accept() else { return };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
                return;
            };
            let mut s = rustls::StreamOwned::new(conn, tcp);
            let mut req = Vec::new();
            let mut buf = [0u8; 2048];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(r.as_bytes());
            s.conn.send_close_notify();
            let _ = s.flush();
            let _ = tx.send(Seen {
                sni: s.conn.server_name().map(str::to_string),
                request: String::from_utf8_lossy(&req).into_owned(),
            });
        }
    });
    (port, rx)
}

fn https(host: &str, port: u16, path: &str, headers: Vec<(String, String)>) -> NetOutcome {
    run(&NetRequest::Http {
        host: host.into(),
        port,
        path: path.into(),
        headers,
        timeout_ms: 3000,
        https: true,
        user_agent: "kube-probe/1.33".into(),
    })
}

#[test]
fn https_200_succeeds_without_checking_the_self_signed_certificate() {
    let (port, seen) = tls_serve(vec!["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".into()]);
    assert_eq!(
        https("127.0.0.1", port, "/healthz", vec![]),
        NetOutcome::Success
    );
    let s = seen.recv_timeout(Duration::from_secs(5)).expect("request");
    assert!(
        s.request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{}",
        s.request
    );
    assert!(
        s.request.contains("\r\nUser-Agent: kube-probe/1.33\r\n"),
        "{}",
        s.request
    );
    assert!(
        s.request
            .contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")),
        "{}",
        s.request
    );
    assert!(s.request.contains("\r\nAccept: */*\r\n"), "{}", s.request);
    // No SNI for an IP address.
    assert_eq!(s.sni, None);
}

#[test]
fn https_sends_the_probe_host_as_sni_and_the_probe_headers() {
    let (port, seen) = tls_serve(vec!["HTTP/1.1 204 No Content\r\n\r\n".into()]);
    let headers = vec![
        ("X-Probe".to_string(), "yes".to_string()),
        ("User-Agent".to_string(), "mine/1".to_string()),
    ];
    assert_eq!(https("localhost", port, "/", headers), NetOutcome::Success);
    let s = seen.recv_timeout(Duration::from_secs(5)).expect("request");
    assert_eq!(s.sni.as_deref(), Some("localhost"));
    assert!(s.request.contains("\r\nX-Probe: yes\r\n"), "{}", s.request);
    assert!(
        s.request.contains("\r\nUser-Agent: mine/1\r\n"),
        "{}",
        s.request
    );
    assert!(!s.request.contains("kube-probe"), "{}", s.request);
}

#[test]
fn https_404_fails_with_the_kubelets_message() {
    let (port, _seen) = tls_serve(vec!["HTTP/1.1 404 Not Found\r\n\r\nnope".into()]);
    assert_eq!(
        https("127.0.0.1", port, "/", vec![]),
        NetOutcome::Failure("HTTP probe failed with statuscode: 404".into())
    );
}

#[test]
fn https_same_host_redirects_are_followed_over_tls() {
    let (port, seen) = tls_serve(vec![
        "HTTP/1.1 302 Found\r\nLocation: /next\r\n\r\n".into(),
        "HTTP/1.1 500 Oops\r\n\r\n".into(),
    ]);
    assert_eq!(
        https("127.0.0.1", port, "/start", vec![]),
        NetOutcome::Failure("HTTP probe failed with statuscode: 500".into())
    );
    let first = seen.recv_timeout(Duration::from_secs(5)).expect("first");
    let second = seen.recv_timeout(Duration::from_secs(5)).expect("second");
    assert!(
        first.request.starts_with("GET /start "),
        "{}",
        first.request
    );
    assert!(
        second.request.starts_with("GET /next "),
        "{}",
        second.request
    );
}

#[test]
fn https_absolute_same_host_redirect_is_followed() {
    // A server whose first answer redirects to itself by absolute URL.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    let (port2, _seen) = tls_serve(vec![format!(
        "HTTP/1.1 301 Moved\r\nLocation: https://127.0.0.1:{port}/other\r\n\r\n"
    )]);
    // Port `port` is closed: following the redirect fails to connect, which shows it was followed.
    let out = https("127.0.0.1", port2, "/", vec![]);
    assert!(
        matches!(&out, NetOutcome::Failure(m) if m.contains(&format!("127.0.0.1:{port}"))),
        "{out:?}"
    );
}

#[test]
fn https_redirect_to_another_host_is_a_success_with_a_warning() {
    let (port, _seen) = tls_serve(vec![
        "HTTP/1.1 302 Found\r\nLocation: https://example.invalid/\r\nContent-Length: 5\r\n\r\nFound"
            .into(),
    ]);
    assert_eq!(
        https("127.0.0.1", port, "/", vec![]),
        NetOutcome::Warning("Probe terminated redirects, Response body: Found".into())
    );
}

#[test]
fn https_against_a_plain_http_server_fails() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
        }
    });
    let out = https("127.0.0.1", port, "/", vec![]);
    assert!(
        matches!(&out, NetOutcome::Failure(m) if m.starts_with("Get \"https://127.0.0.1:")),
        "{out:?}"
    );
}

#[test]
fn https_times_out_on_a_server_that_never_handshakes() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let started = Instant::now();
    let out = run(&NetRequest::Http {
        host: "127.0.0.1".into(),
        port,
        path: "/".into(),
        headers: vec![],
        timeout_ms: 500,
        https: true,
        user_agent: String::new(),
    });
    assert!(
        matches!(&out, NetOutcome::Failure(m) if m.contains("Client.Timeout exceeded")),
        "{out:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(l);
}

// ---- gRPC ----

#[derive(Clone, Copy)]
enum Health {
    Serving,
    NotServing,
    /// Accepts the call and never answers.
    Silent,
}

/// An HTTP/2 gRPC health server on its own thread, knowing the services "" and "known".
fn grpc_serve(health: Health) -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    l.set_nonblocking(true).expect("nonblocking");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let l = tokio::net::TcpListener::from_std(l).expect("listener");
            loop {
                let Ok((tcp, _)) = l.accept().await else {
                    return;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(tcp).await else {
                        return;
                    };
                    while let Some(Ok((req, respond))) = conn.accept().await {
                        tokio::spawn(answer(req, respond, health, tx.clone()));
                    }
                });
            }
        });
    });
    (port, rx)
}

async fn answer(
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    health: Health,
    seen: mpsc::Sender<String>,
) {
    let path = req.uri().path().to_string();
    let ua = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut body = req.into_body();
    let mut data = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    // 5-byte prefix, then field 1 (tag 0x0a), a one-byte length and the name.
    let service = match data.get(5..) {
        Some([0x0a, n, name @ ..]) if name.len() == usize::from(*n) => {
            String::from_utf8_lossy(name).into_owned()
        }
        _ => String::new(),
    };
    let _ = seen.send(format!("{path} {ua} service={service:?}"));
    if let Health::Silent = health {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        return;
    }
    let ok = http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc");
    if !service.is_empty() && service != "known" {
        let Ok(head) = ok
            .header("grpc-status", "5")
            .header("grpc-message", "unknown%20service")
            .body(())
        else {
            return;
        };
        let _ = respond.send_response(head, true);
        return;
    }
    let status: u8 = match health {
        Health::Serving => 1,
        _ => 2,
    };
    let Ok(head) = ok.body(()) else { return };
    let Ok(mut send) = respond.send_response(head, false) else {
        return;
    };
    let _ = send.send_data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]), false);
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let _ = send.send_trailers(trailers);
}

fn grpc(port: u16, service: &str, timeout_ms: u64) -> NetOutcome {
    run(&NetRequest::Grpc {
        host: "127.0.0.1".into(),
        port,
        service: service.into(),
        timeout_ms,
        user_agent: "kube-probe/1.33".into(),
    })
}

#[test]
fn grpc_serving_succeeds_and_sends_the_service_name() {
    let (port, seen) = grpc_serve(Health::Serving);
    assert_eq!(grpc(port, "", 2000), NetOutcome::Success);
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(5)).expect("call"),
        "/grpc.health.v1.Health/Check kube-probe/1.33 service=\"\""
    );
    assert_eq!(grpc(port, "known", 2000), NetOutcome::Success);
    assert_eq!(
        seen.recv_timeout(Duration::from_secs(5)).expect("call"),
        "/grpc.health.v1.Health/Check kube-probe/1.33 service=\"known\""
    );
}

#[test]
fn grpc_not_serving_fails() {
    let (port, _seen) = grpc_serve(Health::NotServing);
    assert_eq!(
        grpc(port, "", 2000),
        NetOutcome::Failure("service unhealthy (responded with \"NOT_SERVING\")".into())
    );
}

#[test]
fn grpc_unknown_service_fails_with_not_found() {
    let (port, _seen) = grpc_serve(Health::Serving);
    assert_eq!(
        grpc(port, "other", 2000),
        NetOutcome::Failure(
            "error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"
                .into()
        )
    );
}

#[test]
fn grpc_a_server_that_never_answers_times_out() {
    let (port, _seen) = grpc_serve(Health::Silent);
    let started = Instant::now();
    assert_eq!(
        grpc(port, "", 700),
        NetOutcome::Failure("timeout: health rpc did not complete within 700ms".into())
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(650) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn grpc_a_closed_port_fails_to_connect() {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    let out = grpc(port, "", 1000);
    assert!(
        matches!(&out, NetOutcome::Failure(m) if m.starts_with(&format!("timeout: failed to connect service \"127.0.0.1:{port}\" within 1s: "))),
        "{out:?}"
    );
}

#[test]
fn grpc_a_plain_tcp_server_that_stays_silent_times_out() {
    // Accepts TCP and never speaks HTTP/2.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let out = grpc(port, "", 500);
    assert!(
        matches!(&out, NetOutcome::Failure(m) if m.starts_with("timeout: ")),
        "{out:?}"
    );
    drop(l);
}

#[test]
fn http_headers_without_end_are_cut_off_at_one_mebibyte() {
    // A server in a container could otherwise make the host-side helper hold any amount.
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n");
            let line =
                b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
            while s.write_all(line).is_ok() {}
        }
    });
    let started = Instant::now();
    let out = run(&NetRequest::Http {
        host: "127.0.0.1".into(),
        port,
        path: "/".into(),
        headers: vec![],
        timeout_ms: 20_000,
        https: false,
        user_agent: "kube-probe/1.33".into(),
    });
    assert!(
        matches!(&out, NetOutcome::Failure(m) if m.contains("headers exceeded")),
        "{out:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cut off, not timed out"
    );
}
