//! HTTPS and gRPC probes on real containers, as root, and where network probes dial: the pod IP
//! (the host's address for hostNetwork pods), as the kubelet, so a server listening on 127.0.0.1
//! only fails them, and 127.0.0.1 with one warning event for a pod without an address.
//!
//! gRPC: the checker image's `tandem-checker grpc-health-server` answers `grpc.health.v1.Health`
//! inside the pod; the probe reaches it inside the pod's network namespace. HTTPS: a hostNetwork
//! pod probes a rustls server this test runs on 127.0.0.1 with a self-signed certificate
//! (crates/tandem-runtime/tests/fixtures, test-only). Also, without root: the checker's server
//! on 127.0.0.1 against `tandem __netprobe`, the helper the supervisor runs for every probe.
//!
//! Traffic goes only to loopback and to the pods' own namespaces; every test has its own
//! `--root`, pod names and ports, so they run in parallel.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use support::{free_port, free_ports, require_root, stdout, Env, CHECKER_IMAGE, IMAGE};

const CERT: &str = include_str!("../../tandem-runtime/tests/fixtures/probe-tls.crt");
const KEY: &str = include_str!("../../tandem-runtime/tests/fixtures/probe-tls.key");

fn events(env: &Env, name: &str) -> String {
    stdout(&env.tandem(&["get", "events", "--for", &format!("pod/{name}")]))
}

fn wait(env: &Env, name: &str, cond: &str, secs: u64) -> bool {
    env.tandem(&[
        "wait",
        &format!("pod/{name}"),
        &format!("--for={cond}"),
        &format!("--timeout={secs}s"),
    ])
    .status
    .success()
}

fn run_detached(env: &Env, yaml: &str) {
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(
        out.status.success(),
        "run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A probe's port named after no containerPort: accepted with a warning (the API server accepts
/// it), and every run errors as the kubelet's does, so a readiness probe keeps the pod unready
/// and a liveness probe keeps its initial success (no restart).
#[test]
fn a_port_name_no_container_declares_errors_every_run() {
    let Some(()) = require_root("a_port_name_no_container_declares_errors_every_run") else {
        return;
    };
    let env = Env::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: unnamed}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sleep, \"3600\"]\n      readinessProbe: {{httpGet: {{port: metrics}}, periodSeconds: 1}}\n      livenessProbe: {{tcpSocket: {{port: admin}}, periodSeconds: 1}}\n"
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("port \"metrics\" does not name a containerPort of this container"),
        "{err}"
    );
    assert!(wait(
        &env,
        "unnamed",
        "jsonpath={.status.phase}=Running",
        30
    ));
    assert!(!wait(&env, "unnamed", "condition=Ready", 4));
    let ev = events(&env, "unnamed");
    assert!(
        ev.contains("Readiness probe errored: port metrics not found"),
        "{ev}"
    );
    assert!(
        ev.contains("Liveness probe errored: port admin not found"),
        "{ev}"
    );
    let pod = env.pod_json("unnamed");
    assert_eq!(
        pod["status"]["containerStatuses"][0]["restartCount"], 0,
        "{pod:#}"
    );
    assert!(env.tandem(&["delete", "pod", "unnamed"]).status.success());
}

fn grpc_pod(name: &str, port: u16, status: &str, probe: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  terminationGracePeriodSeconds: 2\n  containers:\n    - name: app\n      image: {CHECKER_IMAGE}\n      imagePullPolicy: Never\n      command: [/bin/tandem-checker, grpc-health-server, --port, \"{port}\", --status, {status}]\n{probe}"
    )
}

#[test]
fn grpc_readiness_serving_makes_the_pod_ready() {
    let Some(()) = require_root("grpc_readiness_serving_makes_the_pod_ready") else {
        return;
    };
    let env = Env::with_checker();
    let port = free_port();
    // The first probe waits a second: one sent before the server listens fails with "connection
    // refused", as on a cluster, and this test is about what a listening server answers.
    let probe = format!(
        "      readinessProbe:\n        grpc: {{port: {port}}}\n        initialDelaySeconds: 1\n        periodSeconds: 1\n"
    );
    let started = Instant::now();
    run_detached(&env, &grpc_pod("grpc-ready", port, "SERVING", &probe));
    assert!(
        wait(&env, "grpc-ready", "condition=Ready", 30),
        "never Ready: {}\n{}",
        env.pod_json("grpc-ready"),
        events(&env, "grpc-ready")
    );
    println!("Ready {:?} after run -d returned", started.elapsed());
    let ev = events(&env, "grpc-ready");
    // The prober's warnings ("Readiness probe warning: ..."); without the CNI plugins the pod
    // has no address and gets the loopback fallback's ProbeWarning, which is right there.
    assert!(!ev.contains("probe warning"), "{ev}");
    assert!(!ev.contains("Unhealthy"), "{ev}");
}

#[test]
fn grpc_readiness_for_an_unknown_service_keeps_the_pod_unready() {
    let Some(()) = require_root("grpc_readiness_for_an_unknown_service_keeps_the_pod_unready")
    else {
        return;
    };
    let env = Env::with_checker();
    let port = free_port();
    let probe = format!(
        "      readinessProbe:\n        grpc: {{port: {port}, service: nope}}\n        periodSeconds: 1\n"
    );
    run_detached(&env, &grpc_pod("grpc-nf", port, "SERVING", &probe));
    assert!(wait(
        &env,
        "grpc-nf",
        "jsonpath={.status.phase}=Running",
        30
    ));
    assert!(!wait(&env, "grpc-nf", "condition=Ready", 4));
    let ev = events(&env, "grpc-nf");
    assert!(
        ev.contains("Readiness probe failed: error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"),
        "{ev}"
    );
}

#[test]
fn grpc_liveness_not_serving_restarts_the_container() {
    let Some(()) = require_root("grpc_liveness_not_serving_restarts_the_container") else {
        return;
    };
    let env = Env::with_checker();
    let port = free_port();
    let probe = format!(
        "      livenessProbe:\n        grpc: {{port: {port}}}\n        periodSeconds: 1\n        failureThreshold: 1\n"
    );
    run_detached(&env, &grpc_pod("grpc-live", port, "NOT_SERVING", &probe));
    assert!(
        wait(
            &env,
            "grpc-live",
            "jsonpath={.status.containerStatuses[0].restartCount}=1",
            40
        ),
        "never restarted: {}\n{}",
        env.pod_json("grpc-live"),
        events(&env, "grpc-live")
    );
    let ev = events(&env, "grpc-live");
    assert!(
        ev.contains("Liveness probe failed: service unhealthy (responded with \"NOT_SERVING\")"),
        "{ev}"
    );
    assert!(ev.contains("failed liveness probe"), "{ev}");
}

/// A TLS server on 127.0.0.1 answering every request with `status`; reports each request.
fn tls_server(status: &str) -> (u16, mpsc::Receiver<String>) {
    let certs = vec![CertificateDer::from_pem_slice(CERT.as_bytes()).expect("cert")];
    let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).expect("key");
    let cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config"),
    );
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for tcp in l.incoming() {
            let Ok(tcp) = tcp else { continue };
            let _ = tcp.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(conn) = rustls::ServerConnection::new(cfg.clone()) else {
                continue;
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
            let _ = s.write_all(response.as_bytes());
            s.conn.send_close_notify();
            let _ = s.flush();
            if tx.send(String::from_utf8_lossy(&req).into_owned()).is_err() {
                return;
            }
        }
    });
    (port, rx)
}

fn https_pod(name: &str, port: u16) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  hostNetwork: true\n  terminationGracePeriodSeconds: 2\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n      readinessProbe:\n        httpGet: {{host: 127.0.0.1, port: {port}, path: /healthz, scheme: HTTPS}}\n        periodSeconds: 1\n"
    )
}

#[test]
fn https_readiness_passes_against_a_self_signed_server() {
    let Some(()) = require_root("https_readiness_passes_against_a_self_signed_server") else {
        return;
    };
    let env = Env::new();
    let (port, requests) = tls_server("200 OK");
    run_detached(&env, &https_pod("https-ok", port));
    assert!(
        wait(&env, "https-ok", "condition=Ready", 30),
        "never Ready: {}\n{}",
        env.pod_json("https-ok"),
        events(&env, "https-ok")
    );
    let req = requests
        .recv_timeout(Duration::from_secs(5))
        .expect("a probe request");
    assert!(req.starts_with("GET /healthz HTTP/1.1\r\n"), "{req}");
    let agent = format!("\r\nUser-Agent: {}\r\n", tandem_api::probe_user_agent());
    assert!(req.contains(&agent), "{req}");
    let ev = events(&env, "https-ok");
    assert!(!ev.contains("ProbeWarning"), "{ev}");
}

#[test]
fn https_readiness_fails_on_500() {
    let Some(()) = require_root("https_readiness_fails_on_500") else {
        return;
    };
    let env = Env::new();
    let (port, requests) = tls_server("500 Internal Server Error");
    run_detached(&env, &https_pod("https-500", port));
    assert!(wait(
        &env,
        "https-500",
        "jsonpath={.status.phase}=Running",
        30
    ));
    assert!(!wait(&env, "https-500", "condition=Ready", 4));
    assert!(requests.recv_timeout(Duration::from_secs(5)).is_ok());
    let ev = events(&env, "https-500");
    assert!(
        ev.contains("Readiness probe failed: HTTP probe failed with statuscode: 500"),
        "{ev}"
    );
    assert!(!ev.contains("ProbeWarning"), "{ev}");
}

#[test]
fn https_poststart_hook_reaches_a_self_signed_server() {
    let Some(()) = require_root("https_poststart_hook_reaches_a_self_signed_server") else {
        return;
    };
    let env = Env::new();
    let (port, requests) = tls_server("200 OK");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: https-hook}}\nspec:\n  hostNetwork: true\n  terminationGracePeriodSeconds: 2\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n      lifecycle:\n        postStart:\n          httpGet: {{host: 127.0.0.1, port: {port}, path: /poststart, scheme: HTTPS}}\n"
    );
    run_detached(&env, &yaml);
    assert!(
        wait(&env, "https-hook", "condition=Ready", 30),
        "never Ready: {}",
        events(&env, "https-hook")
    );
    let req = requests
        .recv_timeout(Duration::from_secs(5))
        .expect("the hook's request");
    assert!(req.starts_with("GET /poststart HTTP/1.1\r\n"), "{req}");
    let ev = events(&env, "https-hook");
    assert!(!ev.contains("FailedPostStartHook"), "{ev}");
}

/// Builds the checker as tools/build-checker-image.sh does (std only, static), into `dir`.
fn build_checker(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("tandem-checker");
    let st = Command::new("rustc")
        .args(["--edition", "2021", "-C", "target-feature=+crt-static"])
        .args(["--crate-name", "tandem_checker"])
        .arg(support::repo().join("crates/tandem-checker/src/main.rs"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run rustc");
    assert!(st.success(), "rustc tandem-checker");
    out
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn netprobe(port: u16, service: &str) -> String {
    let req = serde_json::json!({"grpc": {"host": "127.0.0.1", "port": port, "service": service, "timeout_ms": 2000}});
    let out = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["__netprobe", "-", &req.to_string()])
        .output()
        .expect("run tandem __netprobe");
    stdout(&out).trim().to_string()
}

/// Without root: the in-container gRPC server and the probe helper agree on the protocol.
#[test]
fn the_checkers_grpc_server_answers_the_probe_helper() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checker = build_checker(dir.path());
    let start = |status: &str| {
        let port = free_port();
        let child = Command::new(&checker)
            .args(["grpc-health-server", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--status", status, "--service", "db"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the checker");
        let mut server = Server(child);
        // It prints one line once it listens.
        let mut first = [0u8; 1];
        if let Some(out) = server.0.stdout.as_mut() {
            let _ = out.read(&mut first);
        }
        (port, server)
    };
    let (port, _serving) = start("SERVING");
    assert_eq!(netprobe(port, ""), "\"success\"");
    let t = Instant::now();
    assert_eq!(netprobe(port, "db"), "\"success\"");
    println!("one gRPC probe through the helper: {:?}", t.elapsed());
    assert_eq!(
        netprobe(port, "other"),
        r#"{"failure":"error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"}"#
    );
    let (port, _not) = start("NOT_SERVING");
    assert_eq!(
        netprobe(port, ""),
        r#"{"failure":"service unhealthy (responded with \"NOT_SERVING\")"}"#
    );
}

fn plugins_installed(test: &str) -> bool {
    let ok = std::path::Path::new("/usr/lib/cni/bridge").exists()
        || std::path::Path::new("/opt/cni/bin/bridge").exists();
    if !ok {
        tandem_testkit::skip(&format!(
            "{test} needs a pod IP, so the CNI plugins (apt-get install containernetworking-plugins)"
        ));
    }
    ok
}

/// busybox httpd serving `ok` at `/`, listening on `listen` (`127.0.0.1:PORT` or `PORT`), with
/// `probe` under the container. busybox's nc cannot bind an address (no `-s`), so httpd is also
/// the loopback-only listener of the tcpSocket tests: a TCP connect is all they make.
fn httpd_pod(name: &str, listen: &str, host_network: bool, probe: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  hostNetwork: {host_network}\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: web\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"mkdir -p /w && echo ok > /w/index.html && exec httpd -f -p {listen} -h /w\"]\n{probe}"
    )
}

fn readiness(handler: &str) -> String {
    format!("      readinessProbe:\n        {handler}\n        periodSeconds: 1\n")
}

/// Runs a pod bound to loopback only and one bound to every address, both probed by `handler`
/// without a host on `port`: only the second may become Ready, and the first's failures name
/// the address probed, `want_host` (the pod IP when `None`).
fn loopback_only_fails_and_any_address_passes(
    env: &Env,
    prefix: &str,
    port: u16,
    host_network: bool,
    handler: &str,
    want_host: Option<&str>,
) {
    let (lo, any) = (format!("{prefix}-lo"), format!("{prefix}-any"));
    let probe = readiness(handler);
    run_detached(
        env,
        &httpd_pod(&lo, &format!("127.0.0.1:{port}"), host_network, &probe),
    );
    run_detached(
        env,
        &httpd_pod(&any, &port.to_string(), host_network, &probe),
    );
    assert!(
        wait(env, &any, "condition=Ready", 30),
        "{any} never Ready: {}\n{}",
        env.pod_json(&any),
        events(env, &any)
    );
    assert!(wait(env, &lo, "jsonpath={.status.phase}=Running", 30));
    assert!(
        !wait(env, &lo, "condition=Ready", 4),
        "{lo} (listening on 127.0.0.1 only) became Ready: {}",
        events(env, &lo)
    );
    let ip = match want_host {
        Some(h) => h.to_string(),
        None => env.pod_json(&lo)["status"]["podIP"]
            .as_str()
            .expect("a podIP")
            .to_string(),
    };
    let ev = events(env, &lo);
    assert!(ev.contains("Unhealthy"), "{ev}");
    assert!(
        ev.contains(&format!("Readiness probe failed: dial tcp {ip}:{port}"))
            || ev.contains(&format!(
                "Readiness probe failed: Get \"http://{ip}:{port}/\""
            )),
        "the failure does not name {ip}:{port}: {ev}"
    );
    for pod in [&lo, &any] {
        let ev = events(env, pod);
        assert!(!ev.contains("ProbeWarning"), "{pod}: {ev}");
    }
}

#[test]
fn http_readiness_dials_the_pod_ip_so_a_loopback_only_server_fails() {
    let test = "http_readiness_dials_the_pod_ip_so_a_loopback_only_server_fails";
    let Some(()) = require_root(test) else { return };
    if !plugins_installed(test) {
        return;
    }
    let env = Env::new();
    loopback_only_fails_and_any_address_passes(
        &env,
        "http",
        8080,
        false,
        "httpGet: {port: 8080, path: /}",
        None,
    );
}

#[test]
fn tcp_readiness_dials_the_pod_ip_so_a_loopback_only_server_fails() {
    let test = "tcp_readiness_dials_the_pod_ip_so_a_loopback_only_server_fails";
    let Some(()) = require_root(test) else { return };
    if !plugins_installed(test) {
        return;
    }
    let env = Env::new();
    loopback_only_fails_and_any_address_passes(
        &env,
        "tcp",
        8080,
        false,
        "tcpSocket: {port: 8080}",
        None,
    );
}

#[test]
fn host_network_probes_dial_the_host_ip() {
    let Some(()) = require_root("host_network_probes_dial_the_host_ip") else {
        return;
    };
    let env = Env::new();
    let [lo_port, any_port] = free_ports();
    // Two ports: both pods listen in the host's namespace.
    let probe = |port: u16| readiness(&format!("httpGet: {{port: {port}, path: /}}"));
    run_detached(
        &env,
        &httpd_pod(
            "hn-lo",
            &format!("127.0.0.1:{lo_port}"),
            true,
            &probe(lo_port),
        ),
    );
    run_detached(
        &env,
        &httpd_pod("hn-any", &any_port.to_string(), true, &probe(any_port)),
    );
    assert!(
        wait(&env, "hn-any", "condition=Ready", 30),
        "hn-any never Ready: {}\n{}",
        env.pod_json("hn-any"),
        events(&env, "hn-any")
    );
    let host_ip = env.pod_json("hn-lo")["status"]["hostIP"]
        .as_str()
        .expect("a hostIP")
        .to_string();
    assert_eq!(
        env.pod_json("hn-lo")["status"]["podIP"].as_str(),
        Some(host_ip.as_str())
    );
    assert!(
        !wait(&env, "hn-lo", "condition=Ready", 4),
        "hn-lo (127.0.0.1 only) became Ready: {}",
        events(&env, "hn-lo")
    );
    let ev = events(&env, "hn-lo");
    assert!(
        ev.contains(&format!(
            "Readiness probe failed: dial tcp {host_ip}:{lo_port}"
        )),
        "{ev}"
    );
}

#[test]
fn without_a_network_probes_dial_loopback_and_warn_once() {
    let Some(()) = require_root("without_a_network_probes_dial_loopback_and_warn_once") else {
        return;
    };
    let env = Env::new();
    let probes = "      readinessProbe:\n        httpGet: {port: 8080, path: /}\n        periodSeconds: 1\n      livenessProbe:\n        tcpSocket: {port: 8080}\n        periodSeconds: 1\n";
    let out = env.run_yaml(
        &httpd_pod("nonet", "127.0.0.1:8080", false, probes),
        &["-d", "--network", "none"],
    );
    assert!(out.status.success(), "run: {}", support::stderr(&out));
    assert!(
        wait(&env, "nonet", "condition=Ready", 30),
        "never Ready: {}\n{}",
        env.pod_json("nonet"),
        events(&env, "nonet")
    );
    assert!(env.pod_json("nonet")["status"]["podIP"].is_null());
    // Several probe periods: the warning is said once, not per probe run.
    std::thread::sleep(Duration::from_secs(3));
    let ev = events(&env, "nonet");
    let warnings: Vec<&str> = ev.lines().filter(|l| l.contains("ProbeWarning")).collect();
    assert_eq!(warnings.len(), 1, "{ev}");
    assert!(warnings[0].contains("no IP address"), "{ev}");
    assert!(warnings[0].contains("dial 127.0.0.1"), "{ev}");
    // A probe that runs before httpd listens may fail (as on a cluster); none fails after the
    // pod is Ready: loopback answers them.
    let ready_at = ev
        .find("Readiness probe of container web is now Success")
        .unwrap_or_else(|| panic!("never ready: {ev}"));
    assert!(!ev[ready_at..].contains("Unhealthy"), "{ev}");
    assert_eq!(
        env.pod_json("nonet")["status"]["containerStatuses"][0]["restartCount"],
        0
    );
}

/// Whether a TCP socket of this network namespace listens on `port` (/proc/net/tcp{,6}: the
/// local address's port in hex, state 0A).
fn listening(port: u16) -> bool {
    let local = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .any(|l| {
                let fields: Vec<&str> = l.split_whitespace().collect();
                fields.len() > 3 && fields[1].ends_with(&local) && fields[3] == "0A"
            })
    })
}

/// Running `tandem __netprobe` helpers of this test's binary whose request names `port`.
fn netprobes_for(port: u16) -> Vec<String> {
    let exe = std::fs::canonicalize(env!("CARGO_BIN_EXE_tandem")).expect("tandem binary");
    let needle = format!("\"port\":{port},");
    let mut found = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        // A zombie has no exe link: it runs nothing and holds no namespace.
        if std::fs::read_link(e.path().join("exe")).ok().as_ref() != Some(&exe) {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if args.get(1).map(String::as_str) == Some("__netprobe")
            && args.iter().any(|a| a.contains(&needle))
        {
            found.push(args.join(" "));
        }
    }
    found
}

#[test]
fn a_prestop_http_hook_that_gets_no_answer_leaves_no_helper_behind() {
    let Some(()) = require_root("a_prestop_http_hook_that_gets_no_answer_leaves_no_helper_behind")
    else {
        return;
    };
    let env = Env::new();
    let port = free_port();
    // A server in another pod that accepts and never answers: its stdin never ends, so nc never
    // closes its side, and the connection outlives the hooked pod. Both pods use the host's
    // network, so the hook reaches it on 127.0.0.1 without a pod network.
    let server = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: mute}}\nspec:\n  hostNetwork: true\n  terminationGracePeriodSeconds: 0\n  containers:\n    - name: nc\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"sleep 100000 | nc -l -p {port}\"]\n"
    );
    run_detached(&env, &server);
    assert!(
        wait(&env, "mute", "condition=Ready", 30),
        "server never Ready"
    );
    // Watched in the socket table: a test connection would use up nc's only accept.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        assert!(Instant::now() < deadline, "nc never listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let hooked = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: hooked}}\nspec:\n  hostNetwork: true\n  terminationGracePeriodSeconds: 30\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n      lifecycle:\n        preStop:\n          httpGet: {{host: 127.0.0.1, port: {port}, path: /prestop}}\n"
    );
    run_detached(&env, &hooked);
    assert!(wait(&env, "hooked", "condition=Ready", 30), "never Ready");
    let began = Instant::now();
    let out = env.tandem(&["delete", "pod", "hooked", "--grace-period", "2"]);
    assert!(
        out.status.success(),
        "delete: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("delete took {} ms", began.elapsed().as_millis());
    // The hook did reach the server, which never answered it.
    let logs = stdout(&env.tandem(&["logs", "mute"]));
    assert!(
        logs.contains("GET /prestop"),
        "the hook's request: {logs:?}"
    );
    // Killed when the container it ran against was; the kill takes effect at once.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut left = netprobes_for(port);
    while !left.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        left = netprobes_for(port);
    }
    let _ = env.tandem(&["delete", "pod", "mute", "--grace-period", "0"]);
    assert!(left.is_empty(), "helpers outlive the pod: {left:?}");
}
