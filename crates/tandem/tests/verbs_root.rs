//! Every verb of a debugging day on a pod whose helper is a native sidecar (an init container
//! with `restartPolicy: Always`), as root on real containers: get, exec, logs, describe,
//! port-forward, cp both ways, top, attach and debug all reach the sidecar as they reach the
//! app.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::Duration;

use support::{require_root, stderr, stdout, wait_for, Env, IMAGE};

#[test]
fn every_daily_verb_reaches_a_native_sidecar() {
    if require_root("every_daily_verb_reaches_a_native_sidecar").is_none() {
        return;
    }
    let env = Env::new();
    let pod = format!("side-{}", std::process::id());
    // The sidecar serves on the pod's loopback only and echoes its input to its log.
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {pod}, labels: {{app: side}}}}
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
  - name: proxy
    image: {IMAGE}
    imagePullPolicy: Never
    restartPolicy: Always
    stdin: true
    command: [sh, -c, "mkdir -p /www && echo from-the-sidecar > /www/index.html && httpd -p 127.0.0.1:9080 -h /www && echo proxy-started && exec cat"]
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: [sh, -c, "echo app-started; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
"#
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("both containers ready", 60, || {
        let table = stdout(&env.tandem(&["get", "pod", &pod]));
        table.contains(" 2/2 ").then_some(())
    });

    // exec
    let out = env.tandem(&["exec", &pod, "-c", "proxy", "--", "cat", "/www/index.html"]);
    assert_eq!(stdout(&out), "from-the-sidecar\n", "{}", stderr(&out));

    // logs
    let logs = stdout(&env.tandem(&["logs", &pod, "-c", "proxy"]));
    assert!(logs.contains("proxy-started"), "{logs}");
    let all = stdout(&env.tandem(&["logs", &pod, "--all-containers", "--prefix"]));
    for line in [
        format!("[pod/{pod}/proxy] proxy-started"),
        format!("[pod/{pod}/app] app-started"),
    ] {
        assert!(all.contains(&line), "{line} in {all}");
    }

    // describe
    let described = stdout(&env.tandem(&["describe", "pod", &pod]));
    let init = described
        .split("Init Containers:\n")
        .nth(1)
        .and_then(|rest| rest.split("Containers:\n").next())
        .unwrap_or_default();
    assert!(init.contains("  proxy:\n"), "{described}");
    assert!(init.contains("State:          Running"), "{described}");

    // port-forward to the sidecar's loopback-only server
    let mut forward = env
        .cmd()
        .args(["port-forward", &pod, ":9080"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn port-forward");
    // Its output is kept open while it runs: tandem, like cat, ends when its output is closed.
    let mut said = BufReader::new(forward.stdout.take().expect("stdout"));
    let mut first = String::new();
    said.read_line(&mut first).expect("a line");
    let port: u16 = first
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|r| r.split_once(' '))
        .and_then(|(p, _)| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    assert!(reply.contains("from-the-sidecar"), "{reply}");
    forward.kill().expect("kill");
    let _ = forward.wait();
    drop(said);

    // cp, both ways
    let here = env.root.path().join("copied");
    let out = env.tandem(&[
        "cp",
        "-c",
        "proxy",
        &format!("{pod}:/www"),
        here.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(here.join("index.html")).expect("copied file"),
        "from-the-sidecar\n"
    );
    std::fs::write(here.join("index.html"), "changed-here\n").expect("write");
    let out = env.tandem(&[
        "cp",
        "-c",
        "proxy",
        here.join("index.html").to_str().expect("utf-8"),
        &format!("{pod}:/www/index.html"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.tandem(&["exec", &pod, "-c", "proxy", "--", "cat", "/www/index.html"]);
    assert_eq!(stdout(&out), "changed-here\n");

    // top
    let top = stdout(&env.tandem(&["top", "pod", &pod, "--containers"]));
    for c in ["proxy", "app"] {
        assert!(
            top.lines().any(|l| l.split_whitespace().nth(1) == Some(c)),
            "{c} in {top}"
        );
    }

    // attach: input reaches the sidecar's process, which echoes it to its log
    let mut attached = env.spawn_piped(&["attach", "-i", &pod, "-c", "proxy"]);
    attached
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello-through-attach\n")
        .expect("write");
    wait_for("the input in the sidecar's log", 20, || {
        stdout(&env.tandem(&["logs", &pod, "-c", "proxy"]))
            .contains("hello-through-attach")
            .then_some(())
    });
    let _ = attached.kill();
    let _ = attached.wait();

    // debug: an ephemeral container in the sidecar's process namespace sees its server
    let out = env.tandem(&[
        "debug",
        &pod,
        "--image",
        IMAGE,
        "--image-pull-policy",
        "Never",
        "--target",
        "proxy",
        "-c",
        "dbg",
        "--",
        "ps",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let seen = wait_for("the debug container's ps", 30, || {
        let logs = stdout(&env.tandem(&["logs", &pod, "-c", "dbg"]));
        logs.contains("httpd").then_some(logs)
    });
    assert!(seen.contains("cat"), "{seen}");

    let out = env.tandem(&["delete", "pod", &pod]);
    assert!(out.status.success(), "{}", stderr(&out));
}
