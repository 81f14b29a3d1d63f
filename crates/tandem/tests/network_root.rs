//! Pod networking end to end, as root: pod IPs from the built-in network (made in-process) and
//! from a configuration list of one's own (through the CNI plugins), pod-to-pod HTTP by IP and by
//! name, published ports (hostPort and `run -p`) on 127.0.0.1, a localhost-only listener that
//! stays private, an ambassador reaching a server in a network namespace this test creates,
//! hostNetwork, the no-plugins fallback, and create/delete cycles (with a supervisor crash) that
//! leave nothing.
//!
//! Traffic goes only to loopback, pod IPs and the namespace made here. Every test uses its own
//! `--root`, pod names and host ports, so they run in parallel.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{
    attachment, free_port, free_ports, network_leftovers, require_root, stderr, stdout, uid_of,
    Env, IMAGE,
};

fn plugins_installed(test: &str) -> bool {
    let ok = std::path::Path::new("/usr/lib/cni/bridge").exists()
        || std::path::Path::new("/opt/cni/bin/bridge").exists();
    if !ok {
        tandem_testkit::skip(&format!(
            "{test} needs the CNI plugins (apt-get install containernetworking-plugins)"
        ));
    }
    ok
}

fn ready(test: &str) -> Option<Env> {
    require_root(test)?;
    plugins_installed(test).then(Env::new)
}

fn name(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

/// A port nobody listens on now.
fn run_d(env: &Env, yaml: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["-d"];
    args.extend_from_slice(extra);
    env.run_yaml(yaml, &args)
}

/// status.podIP once set (and checks podIPs agrees).
fn pod_ip(env: &Env, pod: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = env.pod_json(pod);
        if let Some(ip) = v["status"]["podIP"].as_str() {
            assert_eq!(v["status"]["podIPs"][0]["ip"].as_str(), Some(ip), "{v}");
            return ip.to_string();
        }
        assert!(Instant::now() < deadline, "pod {pod} got no podIP: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET /` over HTTP/1.0; the body, or the error once `wait` has passed.
fn http_get(addr: &str, wait: Duration) -> Result<String, String> {
    let deadline = Instant::now() + wait;
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let sock = addr.parse().map_err(std::io::Error::other)?;
            let mut s = TcpStream::connect_timeout(&sock, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut body = String::new();
            s.read_to_string(&mut body)?;
            Ok(body)
        })();
        match attempt {
            Ok(b) if b.contains("200 OK") => return Ok(b),
            Ok(b) if Instant::now() >= deadline => return Err(format!("answer: {b}")),
            Err(e) if Instant::now() >= deadline => return Err(e.to_string()),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// A pod serving `text` with busybox httpd on `listen` (`PORT` or `IP:PORT`).
fn web_pod(pod: &str, text: &str, listen: &str, ports: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: web\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"mkdir -p /w && echo {text} > /w/index.html && exec httpd -f -v -p {listen} -h /w\"]\n      ports: [{ports}]\n"
    )
}

#[test]
fn pods_exchange_http_by_pod_ip_and_by_name() {
    let Some(env) = ready("pods_exchange_http_by_pod_ip_and_by_name") else {
        return;
    };
    let web = name("net-web");
    let out = run_d(
        &env,
        &web_pod(&web, "served-by-web", "8080", "{containerPort: 8080}"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ip = pod_ip(&env, &web);
    assert!(
        ip.starts_with("10.87.0."),
        "pod IP {ip} is not from the built-in network"
    );
    let client = name("net-client");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {client}}}\nspec:\n  restartPolicy: Never\n  containers:\n    - name: c\n      image: {IMAGE}\n      imagePullPolicy: Never\n      env: [{{name: MY_IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}]\n      command: [sh, -c, \"echo my-ip=$MY_IP; for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://{ip}:8080/ && break; sleep 0.5; done; echo by-ip-done; wget -qO- http://{web}:8080/ && echo by-name-done\"]\n"
    );
    let out = env.run_yaml(&yaml, &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert_eq!(
        text.matches("served-by-web").count(),
        2,
        "the client reached the server by IP and by name: {text}"
    );
    assert!(text.contains("by-name-done"), "{text}");
    // status.podIP reaches the container's environment.
    let my_ip = text
        .lines()
        .find_map(|l| l.split("my-ip=").nth(1))
        .expect("my-ip line")
        .trim()
        .to_string();
    assert!(my_ip.starts_with("10.87.0.") && my_ip != ip, "{text}");
    let out = env.tandem(&["delete", "pod", &web, &client, "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn pods_are_dual_stack_on_an_ipv6_host_and_talk_over_ipv6() {
    let Some(env) = ready("pods_are_dual_stack_on_an_ipv6_host_and_talk_over_ipv6") else {
        return;
    };
    if std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .map(|v| v.trim() != "0")
        .unwrap_or(true)
    {
        println!("skipped: this host has IPv6 disabled, so pods get IPv4 only");
        return;
    }
    let web = name("net-v6web");
    let out = run_d(
        &env,
        &web_pod(&web, "served-over-v6", "8080", "{containerPort: 8080}"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    pod_ip(&env, &web);
    let ips: Vec<String> = env.pod_json(&web)["status"]["podIPs"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["ip"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let v6 = ips
        .iter()
        .find(|ip| ip.contains(':'))
        .cloned()
        .unwrap_or_else(|| panic!("no IPv6 in podIPs: {ips:?}"));
    assert!(
        ips[0].starts_with("10.87.0.") && v6.starts_with("fd87:7a6e::"),
        "{ips:?}"
    );
    let client = name("net-v6client");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {client}}}\nspec:\n  restartPolicy: Never\n  containers:\n    - name: c\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- 'http://[{v6}]:8080/' && break; sleep 0.5; done; grep -c '{v6}' /etc/hosts\"]\n"
    );
    let out = env.run_yaml(&yaml, &[]);
    let text = stdout(&out);
    assert!(
        out.status.success() && text.contains("served-over-v6"),
        "{text}{}",
        stderr(&out)
    );
    assert!(
        text.lines()
            .any(|l| l.rsplit('|').next().map(str::trim) == Some("1")),
        "the other pod's IPv6 address is in /etc/hosts: {text}"
    );
    let out = env.tandem(&["delete", "pod", &web, &client, "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_pod_started_later_is_resolvable_by_name_and_vanishes_when_deleted() {
    let Some(env) = ready("a_pod_started_later_is_resolvable_by_name") else {
        return;
    };
    // The client starts first and waits for a name that does not exist yet.
    let client = name("net-early");
    let server = name("net-late");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {client}}}\nspec:\n  containers:\n    - name: c\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"trap 'exit 0' TERM; until wget -qO- http://{server}:8080/; do sleep 0.2; done; echo; echo reached; while true; do sleep 0.2; done & wait\"]\n"
    );
    assert!(run_d(&env, &yaml, &[]).status.success());
    pod_ip(&env, &client);
    let out = run_d(
        &env,
        &web_pod(&server, "late-but-found", "8080", "{containerPort: 8080}"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut logs = String::new();
    for _ in 0..100 {
        logs = stdout(&env.tandem(&["logs", &client]));
        if logs.contains("reached") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        logs.contains("late-but-found") && logs.contains("reached"),
        "{logs}"
    );
    let hosts = env.pods_dir().join(format!("default_{client}/etc-hosts"));
    assert!(std::fs::read_to_string(&hosts)
        .expect("hosts")
        .contains(&server));
    assert!(env
        .tandem(&["delete", "pod", &server, "--grace-period", "0"])
        .status
        .success());
    assert!(
        !std::fs::read_to_string(&hosts)
            .expect("hosts")
            .contains(&server),
        "a deleted pod's name stayed"
    );
    assert!(env
        .tandem(&["delete", "pod", &client, "--grace-period", "0"])
        .status
        .success());
}

#[test]
fn host_reaches_host_port_and_publish_on_localhost_and_conflicts_are_refused() {
    let Some(env) = ready("host_reaches_host_port_and_publish_on_localhost") else {
        return;
    };
    let [hp, pp] = free_ports();
    let web = name("net-pub");
    let out = run_d(
        &env,
        &web_pod(
            &web,
            "published-web",
            "8080",
            &format!("{{containerPort: 8080, hostPort: {hp}}}"),
        ),
        &["-p", &format!("127.0.0.1:{pp}:8080")],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for port in [hp, pp] {
        let body = http_get(&format!("127.0.0.1:{port}"), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("127.0.0.1:{port}: {e}"));
        assert!(body.contains("published-web"), "{body}");
    }
    // From another pod of the bridge through the host's address: destination-NATed back into
    // the bridge, and masqueraded so the answer returns through the host (hairpin).
    let host_ip = env.pod_json(&web)["status"]["hostIP"]
        .as_str()
        .expect("status.hostIP")
        .to_string();
    let client = name("net-pub-client");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {client}}}\nspec:\n  restartPolicy: Never\n  containers:\n    - name: c\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [timeout, \"10\", wget, -qO-, \"http://{host_ip}:{hp}/\"]\n"
    );
    let out = env.run_yaml(&yaml, &[]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("published-web"), "{}", stdout(&out));
    // The server saw the gateway, not the client: without the translation it would have
    // answered the client directly, from an address the client never called.
    let client_ip = env.pod_json(&client)["status"]["podIP"]
        .as_str()
        .expect("the client's podIP")
        .to_string();
    let served = stdout(&env.tandem(&["logs", &web]));
    assert!(served.contains("10.87.0.1]:"), "{served}");
    assert!(!served.contains(&format!("{client_ip}]:")), "{served}");
    env.tandem(&["delete", "pod", &client]);
    // The same host port for another pod is refused before anything starts.
    let other = name("net-pub-other");
    let out = run_d(
        &env,
        &web_pod(&other, "x", "8080", "{containerPort: 8080}"),
        &["-p", &format!("{hp}:8080")],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "host port {hp}/tcp is already published by pod {web}"
        )),
        "{err}"
    );
    assert!(!env.pods_dir().join(format!("default_{other}")).exists());
    let out = env.tandem(&["delete", "pod", &web, "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        http_get(&format!("127.0.0.1:{hp}"), Duration::ZERO).is_err(),
        "the mapping outlived the pod"
    );
}

#[test]
fn a_localhost_listener_is_not_reachable_from_outside_the_pod() {
    let Some(env) = ready("a_localhost_listener_is_not_reachable_from_outside_the_pod") else {
        return;
    };
    let pod = name("net-private");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - name: web\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"mkdir -p /w && echo private > /w/index.html && httpd -p 127.0.0.1:8080 -h /w && exec httpd -f -p 8081 -h /w\"]\n    - name: peer\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:8080/ && break; sleep 0.5; done; exec sleep 3600\"]\n"
    );
    let out = run_d(&env, &yaml, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ip = pod_ip(&env, &pod);
    // The public listener answers (so the pod is reachable at all) ...
    http_get(&format!("{ip}:8081"), Duration::from_secs(10)).expect("0.0.0.0 listener");
    // ... the loopback one does not, from the host ...
    assert!(http_get(&format!("{ip}:8080"), Duration::ZERO).is_err());
    // ... but does for the other container of the pod.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = stdout(&env.tandem(&["logs", &pod, "-c", "peer"]));
        if logs.contains("private") {
            break;
        }
        assert!(Instant::now() < deadline, "peer logs: {logs}");
        std::thread::sleep(Duration::from_millis(200));
    }
    env.tandem(&["delete", "pod", &pod, "--grace-period", "0"]);
}

/// A network namespace with a veth to the host; removed on drop.
struct TestNetns {
    name: String,
    host_if: String,
    server: Option<std::process::Child>,
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_ambassador_forwards_localhost_to_a_server_outside_the_pod() {
    let Some(env) = ready("an_ambassador_forwards_localhost_to_a_server_outside_the_pod") else {
        return;
    };
    // A server in a namespace of our own, at 198.18.K.2 (the benchmarking range, RFC 2544).
    let pid = std::process::id();
    let k = pid % 200 + 20;
    let mut ns = TestNetns {
        name: format!("tnd-amb-{pid}"),
        host_if: format!("tah{}", pid % 100_000),
        server: None,
    };
    let peer_if = format!("tap{}", pid % 100_000);
    let (host_addr, ns_addr) = (format!("198.18.{k}.1"), format!("198.18.{k}.2"));
    sh(&["ip", "netns", "add", &ns.name]);
    sh(&[
        "ip",
        "link",
        "add",
        &ns.host_if,
        "type",
        "veth",
        "peer",
        "name",
        &peer_if,
    ]);
    sh(&["ip", "link", "set", &peer_if, "netns", &ns.name]);
    sh(&[
        "ip",
        "addr",
        "add",
        &format!("{host_addr}/30"),
        "dev",
        &ns.host_if,
    ]);
    sh(&["ip", "link", "set", &ns.host_if, "up"]);
    sh(&[
        "ip",
        "-n",
        &ns.name,
        "addr",
        "add",
        &format!("{ns_addr}/30"),
        "dev",
        &peer_if,
    ]);
    sh(&["ip", "-n", &ns.name, "link", "set", &peer_if, "up"]);
    sh(&["ip", "-n", &ns.name, "link", "set", "lo", "up"]);
    let www = tempfile::tempdir().expect("tempdir");
    std::fs::write(www.path().join("index.html"), "outside-service\n").expect("index");
    ns.server = Some(
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "busybox",
                "httpd",
                "-f",
                "-p",
                &format!("{ns_addr}:80"),
                "-h",
            ])
            .arg(www.path())
            .spawn()
            .expect("server"),
    );
    let pod = name("net-amb");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 1\n  initContainers:\n    - name: ambassador\n      image: {IMAGE}\n      imagePullPolicy: Never\n      restartPolicy: Always\n      command: [nc, -ll, -p, \"9000\", -e, nc, {ns_addr}, \"80\"]\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://127.0.0.1:9000/ && exit 0; sleep 0.5; done; exit 1\"]\n"
    );
    let out = env.run_yaml(&yaml, &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("app") && text.contains("outside-service"),
        "{text}"
    );
    env.tandem(&["delete", "pod", &pod, "--grace-period", "0"]);
}

#[test]
fn host_network_pods_share_the_hosts_network() {
    let Some(env) = ready("host_network_pods_share_the_hosts_network") else {
        return;
    };
    let pod = name("net-host");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  hostNetwork: true\n  restartPolicy: Never\n  containers:\n    - name: c\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"echo host=$(hostname); head -1 /etc/hosts; ls /sys/class/net\"]\n"
    );
    let out = env.run_yaml(&yaml, &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        !stderr(&out).contains("hostNetwork"),
        "no not-implemented warning: {}",
        stderr(&out)
    );
    let host = nix::unistd::gethostname()
        .expect("hostname")
        .into_string()
        .expect("utf8");
    assert!(text.contains(&format!("host={host}")), "{text}");
    assert!(
        text.contains("# Kubernetes-managed hosts file (host network)."),
        "{text}"
    );
    // The interface of the host's default route is visible in the container.
    let routes = std::fs::read_to_string("/proc/net/route").expect("routes");
    if let Some(iface) = routes.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"00000000")).then(|| f[0].to_string())
    }) {
        assert!(
            text.lines()
                .any(|l| l.trim().ends_with(&format!("| {iface}"))),
            "{iface} missing: {text}"
        );
    }
    let v = env.pod_json(&pod);
    assert_eq!(v["status"]["podIP"], v["status"]["hostIP"], "{v}");
    env.tandem(&["delete", "pod", &pod]);
}

/// The built-in network is made in-process: with no CNI plugin anywhere in sight the pod gets
/// its address, and its record says who made it.
#[test]
fn the_builtin_network_needs_no_plugins() {
    let Some(()) = require_root("the_builtin_network_needs_no_plugins") else {
        return;
    };
    let env = Env::new();
    let empty = tempfile::tempdir().expect("tempdir");
    let dir = empty.path().to_str().expect("utf8");
    let pod = name("net-inproc");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  restartPolicy: Never\n  containers:\n    - name: c\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"ip -4 addr show eth0; ip route\"]\n"
    );
    let out = env.run_yaml(&yaml, &["--cni-plugin-dir", dir]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}{err}");
    assert!(!err.contains("warning"), "{err}");
    let ip = env.pod_json(&pod)["status"]["podIP"]
        .as_str()
        .expect("a pod IP")
        .to_string();
    assert!(ip.starts_with("10.87.0."), "{ip}");
    assert!(text.contains(&format!("inet {ip}/24")), "{text}");
    assert!(text.contains("default via 10.87.0.1 dev eth0"), "{text}");
    env.tandem(&["delete", "pod", &pod]);
}

/// A configuration list of the user's own runs through its plugins; without them, pods keep
/// loopback only (with the hint to install them), and publishing ports is refused up front.
#[test]
fn a_conflist_of_ones_own_runs_through_the_plugins_or_leaves_loopback_only() {
    let Some(env) =
        ready("a_conflist_of_ones_own_runs_through_the_plugins_or_leaves_loopback_only")
    else {
        return;
    };
    let conf_dir = tempfile::tempdir().expect("tempdir");
    let net = format!("tt{}", std::process::id() % 100_000);
    let bridge = format!("{net}br");
    let subnet = format!(
        "10.{}.{}",
        100 + std::process::id() % 100,
        std::process::id() % 250
    );
    let conflist = conf_dir.path().join(format!("{net}.conflist"));
    std::fs::write(
        &conflist,
        format!(
            r#"{{"cniVersion": "1.0.0", "name": "{net}", "plugins": [{{"type": "bridge", "bridge": "{bridge}", "isGateway": true, "ipam": {{"type": "host-local", "ranges": [[{{"subnet": "{subnet}.0/24"}}]], "routes": [{{"dst": "0.0.0.0/0"}}]}}}}, {{"type": "loopback"}}]}}"#
        ),
    )
    .expect("conflist");
    let conflist = conflist.to_str().expect("utf8");
    let pod = name("net-own");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  restartPolicy: Never\n  containers:\n    - name: c\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"ls /sys/class/net; ip -4 addr show\"]\n"
    );
    let out = env.run_yaml(&yaml, &["--network", conflist]);
    let text = stdout(&out);
    let _ = Command::new("ip").args(["link", "del", &bridge]).status();
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(text.contains(&format!("inet {subnet}.")), "{text}");
    env.tandem(&["delete", "pod", &pod]);
    let _ = std::fs::remove_dir_all(format!("/var/lib/cni/networks/{net}"));

    let empty = tempfile::tempdir().expect("tempdir");
    let dir = empty.path().to_str().expect("utf8");
    let out = env.run_yaml(&yaml, &["--network", conflist, "--cni-plugin-dir", dir]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert!(out.status.success(), "{text}{err}");
    assert!(
        err.contains("apt-get install containernetworking-plugins"),
        "{err}"
    );
    assert!(text.contains("lo") && !text.contains("eth0"), "{text}");
    assert!(env.pod_json(&pod)["status"]["podIP"].is_null());
    env.tandem(&["delete", "pod", &pod]);
    // Publishing cannot work without them: refused up front.
    let out = run_d(
        &env,
        &yaml,
        &[
            "--network",
            conflist,
            "--cni-plugin-dir",
            dir,
            "-p",
            &format!("{}:80", free_port()),
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("publishes ports"), "{}", stderr(&out));
}

#[test]
fn fifty_create_delete_cycles_and_a_crash_leave_nothing_behind() {
    let Some(env) = ready("fifty_create_delete_cycles_and_a_crash_leave_nothing_behind") else {
        return;
    };
    let pod = name("net-cycle");
    let port = free_port();
    let yaml = web_pod(
        &pod,
        "cycle",
        "8080",
        &format!("{{containerPort: 8080, hostPort: {port}}}"),
    );
    let mut made = vec![];
    for i in 0..50 {
        let out = run_d(&env, &yaml, &[]);
        assert!(out.status.success(), "cycle {i}: {}", stderr(&out));
        made.push(
            attachment(&env.pods_dir().join(format!("default_{pod}")))
                .expect("an attachment record"),
        );
        let out = env.tandem(&["delete", "pod", &pod, "--grace-period", "0"]);
        assert!(out.status.success(), "cycle {i}: {}", stderr(&out));
    }
    // A supervisor killed outright: `delete` runs the CNI DEL itself.
    let out = run_d(&env, &yaml, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    made.push(
        attachment(&env.pods_dir().join(format!("default_{pod}"))).expect("an attachment record"),
    );
    let uid = uid_of(&env, &pod);
    support::kill9(support::supervisor_pid(
        &env.pods_dir().join(format!("default_{pod}")),
    ));
    let out = env.tandem(&["delete", "pod", &pod, "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(made.last().map(|m| m.0.as_str()), Some(uid.as_str()));
    // The veth goes with the namespace, which the kernel frees shortly after the pause process.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = network_leftovers(&made);
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(http_get(&format!("127.0.0.1:{port}"), Duration::ZERO).is_err());
}
