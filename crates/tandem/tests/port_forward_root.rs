//! `tandem port-forward` on real pods, as root: HTTP to a server that listens on the pod's
//! 127.0.0.1 only, a container port by name, 20 connections at once, a port nobody listens on,
//! 100 connections opened and dropped leaving the supervisor's descriptors and memory where they
//! were, and the forwarder ending with the pod. Traffic stays on loopback and inside the test's own pod.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::Duration;

use support::{require_root, stderr, wait_for, Env, IMAGE};

/// Starts `tandem port-forward ARGS` and returns it with the local port of its first
/// `Forwarding from 127.0.0.1:PORT -> REMOTE` line.
fn forwarder(env: &Env, args: &[&str]) -> (Child, u16, BufReader<std::process::ChildStdout>) {
    let mut child = env
        .cmd()
        .arg("port-forward")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tandem port-forward");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("a line");
    let port = line
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|r| r.split_once(' '))
        .and_then(|(p, _)| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    (child, port, out)
}

fn get(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        .expect("send");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

#[test]
fn http_reaches_a_loopback_only_server_in_the_pod_many_connections_at_once() {
    if require_root("http_reaches_a_loopback_only_server_in_the_pod_many_connections_at_once")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let pod = format!("pf-{}", std::process::id());
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  containers:
    - name: web
      image: {IMAGE}
      imagePullPolicy: Never
      command: [sh, -c, "mkdir -p /www && echo hello-from-the-pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"]
      ports: [{{containerPort: 8080, name: http}}]
"#
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the pod to run", 30, || {
        (env.pod_json(&pod)["status"]["phase"] == "Running").then_some(())
    });
    let (mut child, port, mut out) = forwarder(&env, &[&pod, ":http"]);
    let reply = wait_for("the server to answer through the forward", 30, || {
        let r = get(port);
        r.contains("hello-from-the-pod").then_some(r)
    });
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    let mut handled = String::new();
    out.read_line(&mut handled).expect("a line");
    // The IPv6 loopback's line may come first when this machine has one.
    if handled.starts_with("Forwarding from [::1]") {
        handled.clear();
        out.read_line(&mut handled).expect("a line");
    }
    assert_eq!(handled, format!("Handling connection for {port}\n"));

    let replies: Vec<String> = (0..20)
        .map(|_| std::thread::spawn(move || get(port)))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("join"))
        .collect();
    assert!(
        replies.iter().all(|r| r.contains("hello-from-the-pod")),
        "{replies:?}"
    );

    let dir = env.pods_dir().join(format!("default_{pod}"));
    let supervisor = support::supervisor_pid(&dir);
    let fds = || std::fs::read_dir(format!("/proc/{supervisor}/fd")).map_or(0, |d| d.count());
    let (before, rss_before) = (fds(), support::rss_kib(supervisor));
    for _ in 0..100 {
        drop(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    }
    assert!(get(port).contains("hello-from-the-pod"));
    wait_for(
        "the supervisor's descriptors back where they were",
        20,
        || (fds() == before).then_some(()),
    );
    let rss_after = support::rss_kib(supervisor);
    assert!(
        rss_after <= rss_before + 1024,
        "the supervisor grew from {rss_before} KiB to {rss_after} KiB over 100 connections"
    );

    // A port nobody listens on: that connection is closed, the forwarder goes on. (Its stdout
    // is kept open: tandem, like cat, ends when its output is closed.)
    let (mut refused, refused_port, _kept_open) = forwarder(&env, &[&pod, ":9999"]);
    let mut s = TcpStream::connect(("127.0.0.1", refused_port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    assert_eq!(
        s.read(&mut buf).unwrap_or(0),
        0,
        "the connection was not closed"
    );
    refused.kill().expect("kill");
    let refused_out = refused.wait_with_output().expect("wait");
    assert!(
        String::from_utf8_lossy(&refused_out.stderr).contains("connection refused")
            || String::from_utf8_lossy(&refused_out.stderr).contains("Connection refused"),
        "{}",
        String::from_utf8_lossy(&refused_out.stderr)
    );
    assert!(get(port).contains("hello-from-the-pod"));

    // The forwarder ends with the pod.
    let out = env.tandem(&["delete", "pod", &pod, "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let status = wait_for("port-forward to end with the pod", 20, || {
        child.try_wait().expect("wait")
    });
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    assert!(
        err.contains(&format!("lost connection to pod {pod}")),
        "{err}"
    );
}
