//! `tandem serve` driven by the real kubectl, as root, on real containers: a user's day of
//! apply, wait, get, get -w, logs, exec (-i, -t), auth can-i, label, annotate, re-apply (pods,
//! workloads, Services), patch, replace, edit and
//! delete works against pods that
//! `tandem` itself sees as its own (and the other way round); only the kubeconfig's holders get
//! in; a watch from a version the server no longer keeps is told 410 Gone. Each kubectl release
//! installed beside the default one reads and creates pods too.

mod support;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use support::{drive_terminal, require_root, stderr, stdout, wait_for, Env, Terminal, IMAGE};

/// A foreground `tandem serve` on a free port, stopped (by its pid) when dropped.
struct Serving {
    child: Child,
    kubeconfig: PathBuf,
    url: String,
}

impl Serving {
    fn start(env: &Env) -> Serving {
        let mut child = env
            .cmd()
            .args(["serve", "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(env.root.path().join("serve.err")).expect("log"))
            .spawn()
            .expect("start tandem serve");
        let mut first = String::new();
        let out = child.stdout.take().expect("stdout");
        std::io::BufReader::new(out)
            .read_line(&mut first)
            .expect("serve's first line");
        let url = first
            .trim()
            .strip_prefix("serving the Kubernetes API on ")
            .unwrap_or_else(|| panic!("serve said {first:?}"))
            .to_string();
        Serving {
            child,
            kubeconfig: env.root.path().join("serve/kubeconfig"),
            url,
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// kubectl (or `binary`, one of the versioned ones) set up for the kubeconfig, to be started.
fn kubectl_command(binary: &str, kubeconfig: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(binary);
    c.env("KUBECONFIG", kubeconfig)
        // No cache of another server's discovery or OpenAPI documents.
        .env("HOME", kubeconfig.parent().expect("serve dir"))
        .args(args);
    c
}

/// kubectl (or `binary`, one of the versioned ones) run to its end with the kubeconfig.
fn kubectl_as(binary: &str, kubeconfig: &Path, args: &[&str]) -> Output {
    kubectl_command(binary, kubeconfig, args)
        .output()
        .expect("run kubectl")
}

fn kubectl(s: &Serving, args: &[&str]) -> Output {
    kubectl_as("kubectl", &s.kubeconfig, args)
}

/// `kubectl apply` of `yaml` (written to `path`), which must be refused with `words` in the
/// error.
fn apply_refused(s: &Serving, path: &Path, yaml: &str, words: &str) {
    std::fs::write(path, yaml).expect("write the manifest");
    let out = kubectl(s, &["apply", "-f", path.to_str().expect("utf-8")]);
    assert!(!out.status.success(), "{yaml} was taken");
    assert!(stderr(&out).contains(words), "{words}: {}", stderr(&out));
}

fn kubectl_installed(test: &str) -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // tools/setup.sh installs it; only a machine set up by hand can lack it.
        tandem_testkit::skip(&format!(
            "{test} needs kubectl (tools/setup.sh installs it)"
        ));
    }
    found
}

fn pod_yaml(name: &str, labels: &str, sleep: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{{labels}}}
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["sh", "-c", "trap 'exit 0' TERM; i=0; while true; do echo line $i; i=$((i+1)); sleep 0.2; done"]
  - name: side
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep {sleep}; done"]
"#
    )
}

#[test]
fn a_kubectl_users_day_works_against_tandem_serve() {
    if require_root("a_kubectl_users_day_works_against_tandem_serve").is_none()
        || !kubectl_installed("a_kubectl_users_day_works_against_tandem_serve")
    {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let file = env.root.path().join("web.yaml");
    std::fs::write(&file, pod_yaml("web", "app: web", "0.2")).expect("write");
    let file = file.to_str().expect("utf-8");

    // Created with kubectl's defaults: client-side apply with server-side field validation.
    let out = kubectl(&serving, &["apply", "-f", file]);
    assert_eq!(stdout(&out), "pod/web created\n", "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"],
    );
    assert_eq!(stdout(&out), "pod/web condition met\n", "{}", stderr(&out));

    // The server's table, as a cluster prints it; and tandem sees the same pod.
    let out = kubectl(&serving, &["get", "pods"]);
    let lines: Vec<Vec<String>> = stdout(&out)
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
        "{}",
        stdout(&out)
    );
    assert_eq!(
        lines[1][..4],
        ["web", "2/2", "Running", "0"],
        "{}",
        stdout(&out)
    );
    let wide = stdout(&kubectl(&serving, &["get", "pods", "-o", "wide"]));
    assert!(
        wide.starts_with("NAME ")
            && wide.contains("NOMINATED NODE")
            && wide.contains("READINESS GATES"),
        "{wide}"
    );
    let ours = env.tandem(&["get", "pod", "web", "-o", "json"]);
    let theirs = kubectl(&serving, &["get", "pod", "web", "-o", "json"]);
    let (ours, theirs): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&ours.stdout).expect("tandem's json"),
        serde_json::from_slice(&theirs.stdout).expect("kubectl's json"),
    );
    assert_eq!(ours["metadata"]["uid"], theirs["metadata"]["uid"]);
    assert!(theirs["metadata"]["resourceVersion"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));

    // Logs, whole and from the tail.
    let out = kubectl(&serving, &["logs", "web", "-c", "app"]);
    assert!(
        stdout(&out).starts_with("line 0\nline 1\n"),
        "{}",
        stderr(&out)
    );
    let out = kubectl(&serving, &["logs", "web", "-c", "app", "--tail=1"]);
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));

    // exec over WebSocket: streams apart, the exit status kubectl's, stdin with its end, a
    // terminal of the size the client has, a missing program said so.
    let out = kubectl(
        &serving,
        &[
            "exec",
            "web",
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(3), "out\n")
    );
    assert_eq!(stderr(&out), "err\ncommand terminated with exit code 3\n");
    let mut cat = kubectl_command("kubectl", &serving.kubeconfig, &[])
        .args([
            "exec",
            "-i",
            "web",
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "cat; echo done",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("kubectl exec -i");
    {
        use std::io::Write;
        let mut input = cat.stdin.take().expect("stdin");
        input.write_all(b"hello\n").expect("write");
    }
    let out = cat.wait_with_output().expect("exec -i");
    assert_eq!(
        (out.status.code(), stdout(&out).as_str()),
        (Some(0), "hello\ndone\n")
    );
    let out = kubectl(
        &serving,
        &["exec", "web", "-c", "app", "--", "no-such-program"],
    );
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    let script = format!(
        "stty rows 40 cols 120; KUBECONFIG={} HOME={} kubectl exec -it web -c app -- sh -c 'stty size; exit 4'",
        serving.kubeconfig.display(),
        env.root.path().join("serve").display()
    );
    let out = Command::new("script")
        .args(["-qec", &script, "/dev/null"])
        .output()
        .expect("script");
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(stdout(&out).contains("40 120"), "{}", stdout(&out));
    // Metrics measured when asked, as metrics-server's: `kubectl top pod`.
    let out = kubectl(&serving, &["top", "pod", "web", "--containers"]);
    let top = stdout(&out);
    assert!(top.starts_with("POD "), "{top}{}", stderr(&out));
    assert!(
        top.contains("\nweb   app ") && top.contains("\nweb   side "),
        "{top}"
    );
    // This machine is the one node: listed Ready, described with the pods it runs, measured.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("host name");
    let host = host.trim();
    let nodes = stdout(&kubectl(&serving, &["get", "nodes"]));
    let row: Vec<&str> = nodes
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..3], [host, "Ready", "<none>"], "{nodes}");
    assert!(row[4].starts_with("v1."), "{nodes}");
    let described = stdout(&kubectl(&serving, &["describe", "node", host]));
    assert!(
        described.contains("Container Runtime Version:  tandem://")
            && described.contains("Non-terminated Pods:")
            && described.contains(" web "),
        "{described}"
    );
    let out = kubectl(&serving, &["top", "node"]);
    let top = stdout(&out);
    assert!(
        top.starts_with("NAME ") && top.contains("MEMORY(bytes)"),
        "{top}{}",
        stderr(&out)
    );
    assert!(
        top.lines().nth(1).is_some_and(|l| l.starts_with(host)),
        "{top}"
    );
    let out = kubectl(&serving, &["auth", "can-i", "create", "pods"]);
    assert_eq!(stdout(&out), "yes\n", "{}", stderr(&out));

    // Labels and annotations change on the running pod; a re-apply of an edited file too.
    let out = kubectl(&serving, &["label", "pod", "web", "stage=test"]);
    assert_eq!(stdout(&out), "pod/web labeled\n", "{}", stderr(&out));
    let out = kubectl(&serving, &["annotate", "pod", "web", "note=hello"]);
    assert_eq!(stdout(&out), "pod/web annotated\n", "{}", stderr(&out));
    std::fs::write(file, pod_yaml("web", "app: web, tier: front", "0.2")).expect("write");
    let out = kubectl(&serving, &["apply", "-f", file]);
    assert_eq!(stdout(&out), "pod/web configured\n", "{}", stderr(&out));
    let labels = wait_for("the labels in tandem's view", 10, || {
        let v = env.pod_json("web");
        let l = v["metadata"]["labels"].clone();
        (l["tier"] == "front" && l["stage"] == "test").then_some(v)
    });
    assert_eq!(labels["metadata"]["annotations"]["note"], "hello");

    // A change the API server forbids is refused in its words, and nothing changes.
    apply_refused(
        &serving,
        Path::new(file),
        &pod_yaml("web", "app: web, tier: front", "0.3"),
        "The Pod \"web\" is invalid: spec: Forbidden: pod updates may not change fields other than",
    );
    // An unknown field is refused before anything is created.
    apply_refused(
        &serving,
        &env.root.path().join("bad.yaml"),
        &pod_yaml("bad", "app: bad", "0.2").replace(
            "  terminationGracePeriodSeconds: 5\n",
            "  terminationGracePeriod: 5\n",
        ),
        "terminationGracePeriod",
    );
    assert_eq!(env.pod_json("bad"), serde_json::Value::Null);

    // A pod tandem runs shows up in kubectl's list and watch.
    let mut watch = kubectl_command("kubectl", &serving.kubeconfig, &[])
        .args(["get", "pods", "-w"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl get -w");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = std::sync::Arc::clone(&lines);
        let out = watch.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for l in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                lines.lock().expect("lines").push(l);
            }
        })
    };
    let seen = |what: &str, f: &dyn Fn(&str) -> bool| {
        wait_for(what, 30, || {
            lines
                .lock()
                .expect("lines")
                .iter()
                .any(|l| f(l))
                .then_some(())
        })
    };
    seen("web in the first list", &|l: &str| l.starts_with("web "));
    let other = env.root.path().join("other.yaml");
    std::fs::write(&other, pod_yaml("other", "app: other", "0.2")).expect("write");
    let out = env.tandem(&["run", "-d", "-f", other.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    seen("other running, in the watch", &|l: &str| {
        l.starts_with("other ") && l.contains("Running")
    });

    // Deleted with kubectl: graceful, seen terminating, then gone for both.
    let out = kubectl(&serving, &["delete", "pod", "web"]);
    assert_eq!(stdout(&out), "pod \"web\" deleted\n", "{}", stderr(&out));
    seen("web terminating, in the watch", &|l: &str| {
        l.starts_with("web ") && l.contains("Terminating")
    });
    let out = kubectl(&serving, &["get", "pod", "web"]);
    assert_eq!(
        stderr(&out),
        "Error from server (NotFound): pods \"web\" not found\n"
    );
    assert_eq!(env.pod_json("web"), serde_json::Value::Null);
    let _ = watch.kill();
    let _ = watch.wait();
    let _ = reader.join();

    let out = kubectl(&serving, &["delete", "-f", other.to_str().expect("utf-8")]);
    assert_eq!(stdout(&out), "pod \"other\" deleted\n", "{}", stderr(&out));
    assert!(!serving.url.is_empty());
}

#[test]
fn only_the_kubeconfigs_holders_get_in_and_old_watches_are_gone() {
    if require_root("only_the_kubeconfigs_holders_get_in_and_old_watches_are_gone").is_none()
        || !kubectl_installed("only_the_kubeconfigs_holders_get_in_and_old_watches_are_gone")
    {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let dir = env.root.path().join("serve");
    // A kubeconfig with the CA but no client certificate: refused, as a cluster refuses.
    let anonymous = dir.join("anonymous.yaml");
    let config = std::fs::read_to_string(&serving.kubeconfig).expect("kubeconfig");
    let stripped: String = config
        .lines()
        .filter(|l| !l.contains("client-certificate-data") && !l.contains("client-key-data"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replace("  user:\n", "  user: {}\n");
    std::fs::write(&anonymous, stripped).expect("write");
    // (kubectl asks for a user name on its terminal when it has no credentials at all: a
    // wrong token stands for the stranger here.)
    let out = kubectl_as(
        "kubectl",
        &anonymous,
        &["--token", "not-the-token", "get", "pods"],
    );
    assert!(!out.status.success());
    // Discovery is refused first, in the words kubectl has for a 401.
    assert!(
        stderr(&out).ends_with(
            "error: You must be logged in to the server (the server has asked for the client to provide credentials)\n"
        ),
        "{}",
        stderr(&out)
    );
    let log = std::fs::read_to_string(env.root.path().join("serve.err")).expect("serve's log");
    assert!(log.contains("refused GET /api from 127.0.0.1:"), "{log}");
    // The bearer token from the store lets the same client in.
    let token = std::fs::read_to_string(dir.join("token")).expect("token");
    let out = kubectl_as(
        "kubectl",
        &anonymous,
        &["--token", token.trim(), "get", "namespaces", "-o", "name"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("namespace/default\n"),
        "{}",
        stdout(&out)
    );
    // Plain HTTP gets no answer from the API.
    let address = serving.url.trim_start_matches("https://");
    let mut plain = std::net::TcpStream::connect(address).expect("connect");
    use std::io::{Read, Write};
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let _ = plain.write_all(b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut answer = vec![];
    let _ = plain.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("PodList"));

    // A watch from a version older than the server keeps ends at once with 410 Expired.
    let out = kubectl(
        &serving,
        &[
            "get",
            "--raw",
            "/api/v1/namespaces/default/pods?watch=1&resourceVersion=1",
        ],
    );
    let event: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stdout(&out)));
    assert_eq!(event["type"], "ERROR");
    assert_eq!(event["object"]["code"], 410);
    assert_eq!(event["object"]["reason"], "Expired");
}

#[test]
fn every_installed_kubectl_release_lists_creates_and_execs_into_pods() {
    if require_root("every_installed_kubectl_release_lists_creates_and_execs_into_pods").is_none()
        || !kubectl_installed("every_installed_kubectl_release_lists_creates_and_execs_into_pods")
    {
        return;
    }
    // The releases installed beside the default one (kubectl.1.27 … kubectl.1.33).
    let dir = std::fs::canonicalize(
        Command::new("sh")
            .args(["-c", "command -v kubectl"])
            .output()
            .map(|o| stdout(&o).trim().to_string())
            .unwrap_or_default(),
    )
    .ok()
    .and_then(|p| p.parent().map(Path::to_path_buf));
    let mut releases: Vec<PathBuf> = dir
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kubectl.1."))
        })
        .collect();
    releases.sort();
    if releases.is_empty() {
        releases.push(PathBuf::from("kubectl"));
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    for (i, binary) in releases.iter().enumerate() {
        let binary = binary.to_str().expect("utf-8");
        let name = format!("v{i}");
        let file = env.root.path().join(format!("{name}.yaml"));
        std::fs::write(&file, pod_yaml(&name, "app: v", "0.2")).expect("write");
        let out = kubectl_as(
            binary,
            &serving.kubeconfig,
            &["apply", "-f", file.to_str().expect("utf-8")],
        );
        assert_eq!(
            stdout(&out),
            format!("pod/{name} created\n"),
            "{binary}: {}",
            stderr(&out)
        );
        let out = kubectl_as(
            binary,
            &serving.kubeconfig,
            &["get", "pods", "-l", "app=v", "-o", "name"],
        );
        assert!(
            stdout(&out).contains(&format!("pod/{name}\n")),
            "{binary}: {}",
            stderr(&out)
        );
        // Exec: over SPDY before 1.30, over a WebSocket since; input, output and the exit code
        // either way.
        let out = kubectl_as(
            binary,
            &serving.kubeconfig,
            &[
                "wait",
                "--for=condition=Ready",
                &format!("pod/{name}"),
                "--timeout=60s",
            ],
        );
        assert!(out.status.success(), "{binary}: {}", stderr(&out));
        let mut exec = kubectl_command(
            binary,
            &serving.kubeconfig,
            &[
                "exec",
                "-i",
                &name,
                "-c",
                "side",
                "--",
                "sh",
                "-c",
                "read l; echo got $l; echo oops >&2; exit 3",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubectl exec");
        {
            use std::io::Write as _;
            let mut stdin = exec.stdin.take().expect("stdin");
            stdin.write_all(b"line\n").expect("write stdin");
        }
        let out = exec.wait_with_output().expect("kubectl exec");
        assert_eq!(stdout(&out), "got line\n", "{binary}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("oops\n"),
            "{binary}: {}",
            stderr(&out)
        );
        assert_eq!(out.status.code(), Some(3), "{binary}: {}", stderr(&out));
        // `kubectl run -i --rm`: a pod with stdin (and stdinOnce), attached to (SPDY before
        // 1.30, a WebSocket since), its input ended, its exit code kubectl's, then deleted.
        let once = format!("{name}-run");
        let mut run = kubectl_command(
            binary,
            &serving.kubeconfig,
            &[
                "run",
                &once,
                "-i",
                "--rm",
                "--restart=Never",
                &format!("--image={IMAGE}"),
                "--image-pull-policy=Never",
                "--",
                "sh",
                "-c",
                "wc -l; exit 4",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kubectl run");
        {
            use std::io::Write as _;
            let mut stdin = run.stdin.take().expect("stdin");
            stdin.write_all(b"a\nb\nc\n").expect("write stdin");
        }
        let out = run.wait_with_output().expect("kubectl run");
        assert!(
            stdout(&out).starts_with("3\n"),
            "{binary}: {} / {}",
            stdout(&out),
            stderr(&out)
        );
        assert_eq!(out.status.code(), Some(4), "{binary}: {}", stderr(&out));
        // kubectl does not wait for the deletion it asks for (on a cluster either): the pod is
        // gone soon after.
        wait_for(&format!("{binary}: --rm to delete the pod"), 30, || {
            let out = kubectl_as(binary, &serving.kubeconfig, &["get", "pod", &once]);
            stderr(&out).contains("NotFound").then_some(())
        });
        let out = kubectl_as(
            binary,
            &serving.kubeconfig,
            &["delete", "pod", &name, "--wait=false"],
        );
        assert_eq!(
            stdout(&out),
            format!("pod \"{name}\" deleted\n"),
            "{binary}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn an_apps_file_of_workloads_and_services_applies_rolls_out_and_deletes_with_kubectl() {
    if require_root(
        "an_apps_file_of_workloads_and_services_applies_rolls_out_and_deletes_with_kubectl",
    )
    .is_none()
        || !kubectl_installed(
            "an_apps_file_of_workloads_and_services_applies_rolls_out_and_deletes_with_kubectl",
        )
    {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let file = support::repo().join("examples/two-tier.yaml");
    let file = file.to_str().expect("utf-8");
    let out = kubectl(&serving, &["apply", "-f", file]);
    assert_eq!(
        stdout(&out),
        "service/postgres created\nservice/postgres-pods created\nstatefulset.apps/postgres created\nservice/web created\ndeployment.apps/web created\n",
        "{}",
        stderr(&out)
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=90s"],
    );
    assert!(
        stdout(&out).ends_with("deployment \"web\" successfully rolled out\n"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "statefulset/postgres", "--timeout=90s"],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    // `get all` as against a cluster: every kind of category all, each under its own header.
    let all = stdout(&kubectl(&serving, &["get", "all"]));
    for needle in [
        "pod/postgres-0 ",
        "service/web ",
        "deployment.apps/web ",
        "replicaset.apps/web-",
        "statefulset.apps/postgres ",
    ] {
        assert!(all.contains(needle), "{needle} in {all}");
    }
    let deploy = stdout(&kubectl(&serving, &["get", "deploy", "web"]));
    let row: Vec<&str> = deploy
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["web", "2/2", "2", "2"], "{deploy}");
    // `describe` finds a workload's events by its uid, as against a cluster.
    let described = stdout(&kubectl(&serving, &["describe", "deployment", "web"]));
    assert!(
        described.contains("ScalingReplicaSet")
            && described.contains("deployment-controller  Scaled up replica set web-"),
        "{described}"
    );
    // The file edited and applied again: the Deployment rolls its pods out with the new
    // template, the Service takes its new label, what did not change is left alone.
    let text = std::fs::read_to_string(file).expect("read the example");
    let edited = text
        .replace(
            "            - {name: DB_PORT, value: \"5432\"}\n",
            "            - {name: DB_PORT, value: \"5432\"}\n            - {name: RELEASE, value: \"2\"}\n",
        )
        .replace(
            "kind: Service\nmetadata:\n  name: web\n",
            "kind: Service\nmetadata:\n  name: web\n  labels: {tier: front}\n",
        );
    assert!(edited.contains("RELEASE") && edited.contains("tier: front"));
    let edited_file = env.root.path().join("edited.yaml");
    std::fs::write(&edited_file, &edited).expect("write the edited file");
    let edited_file = edited_file.to_str().expect("utf-8");
    let out = kubectl(&serving, &["apply", "-f", edited_file]);
    assert_eq!(
        stdout(&out),
        "service/postgres unchanged\nservice/postgres-pods unchanged\nstatefulset.apps/postgres unchanged\nservice/web configured\ndeployment.apps/web configured\n",
        "{}",
        stderr(&out)
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=90s"],
    );
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = kubectl(
        &serving,
        &[
            "exec",
            "deployment/web",
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "echo $RELEASE",
        ],
    );
    assert_eq!(stdout(&out), "2\n", "{}", stderr(&out));
    let rs = stdout(&kubectl(
        &serving,
        &["get", "rs", "-l", "app=web", "-o", "name"],
    ));
    assert_eq!(
        rs.lines().count(),
        2,
        "the old ReplicaSet is kept for undo: {rs}"
    );
    wait_for("only pods of the new template", 60, || {
        let pods = env.tandem(&["get", "pods", "-l", "app=web", "-o", "json"]);
        let pods: serde_json::Value = serde_json::from_str(&stdout(&pods)).ok()?;
        let items = pods["items"].as_array()?;
        let new = |p: &serde_json::Value| {
            p["spec"]["containers"][0]["env"]
                .to_string()
                .contains("RELEASE")
        };
        (items.len() == 2 && items.iter().all(new)).then_some(())
    });
    let label = env.tandem(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.metadata.labels.tier}",
    ]);
    assert_eq!(stdout(&label), "front");
    // A change the API server forbids is refused in its words.
    apply_refused(
        &serving,
        &env.root.path().join("renamed.yaml"),
        &edited.replace("serviceName: postgres-pods", "serviceName: postgres"),
        "The StatefulSet \"postgres\" is invalid: spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template'",
    );
    // kubectl's rollout pause and resume patch spec.paused, which the controller follows.
    for (verb, said, paused) in [("pause", "paused", "true"), ("resume", "resumed", "")] {
        let out = kubectl(&serving, &["rollout", verb, "deployment/web"]);
        assert_eq!(
            stdout(&out),
            format!("deployment.apps/web {said}\n"),
            "{}",
            stderr(&out)
        );
        let out = kubectl(
            &serving,
            &["get", "deployment", "web", "-o", "jsonpath={.spec.paused}"],
        );
        assert_eq!(stdout(&out), paused, "{}", stderr(&out));
    }
    // Scaled through the scale subresource, as kubectl scales.
    let out = kubectl(&serving, &["scale", "deployment/web", "--replicas=3"]);
    assert_eq!(
        stdout(&out),
        "deployment.apps/web scaled\n",
        "{}",
        stderr(&out)
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=90s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let web_pods = || {
        stdout(&env.tandem(&["get", "pods", "-l", "app=web", "-o", "name"]))
            .lines()
            .count()
    };
    assert_eq!(web_pods(), 3);
    let out = kubectl(&serving, &["scale", "deployment/web", "--replicas=2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the third web pod gone", 60, || {
        (web_pods() == 2).then_some(())
    });
    // The Endpoints of the Service name both web pods; tandem sees the same Service.
    let ep = stdout(&kubectl(
        &serving,
        &["get", "endpoints", "web", "-o", "json"],
    ));
    let ep: serde_json::Value = serde_json::from_str(&ep).expect("endpoints json");
    assert_eq!(
        ep["subsets"][0]["addresses"].as_array().map(Vec::len),
        Some(2),
        "{ep}"
    );
    let svc = stdout(&kubectl(
        &serving,
        &["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"],
    ));
    let ours = stdout(&env.tandem(&["get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}"]));
    assert_eq!(svc, ours);
    assert!(svc.starts_with("10.96."), "{svc}");

    let out = kubectl(&serving, &["delete", "-f", edited_file]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("every pod gone", 60, || {
        let out = env.tandem(&["get", "pods", "-o", "name"]);
        stdout(&out).is_empty().then_some(())
    });
    let out = kubectl(&serving, &["get", "all"]);
    assert_eq!(stdout(&out), "", "{}", stdout(&out));
}

/// `kubectl patch` or `kubectl replace` of an object, expected to succeed with `said`.
fn changed(s: &Serving, args: &[&str], said: &str) {
    let out = kubectl(s, args);
    assert_eq!(stdout(&out), said, "{args:?}: {}", stderr(&out));
}

/// `kubectl patch` expected to be refused with `words` in its error.
/// How many pods a label selector picks that run.
fn running_pods(s: &Serving, selector: &str) -> usize {
    let out = kubectl(
        s,
        &[
            "get",
            "pods",
            "-l",
            selector,
            "--field-selector=status.phase=Running",
            "-o",
            "name",
        ],
    );
    stdout(&out).lines().count()
}

fn change_refused(s: &Serving, args: &[&str], words: &str) {
    let out = kubectl(s, args);
    assert!(!out.status.success(), "{args:?} was taken");
    assert!(stderr(&out).contains(words), "{args:?}: {}", stderr(&out));
}

#[test]
fn workloads_and_services_change_as_the_api_server_lets_them() {
    let test = "workloads_and_services_change_as_the_api_server_lets_them";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let file = env.root.path().join("app.yaml");
    std::fs::write(
        &file,
        format!(
            r#"apiVersion: batch/v1
kind: Job
metadata:
  name: once
spec:
  suspend: true
  template:
    spec:
      restartPolicy: Never
      containers:
      - {{name: c, image: {IMAGE}, imagePullPolicy: Never, command: ["true"]}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: Never
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: NodePort
  selector: {{app: web}}
  ports: [{{port: 80, targetPort: 8080}}]
"#
        ),
    )
    .expect("write the manifest");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A suspended Job resumed by a patch runs to its end.
    let out = kubectl(
        &serving,
        &[
            "wait",
            "--for=condition=Suspended",
            "job/once",
            "--timeout=30s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    changed(
        &serving,
        &[
            "patch",
            "job",
            "once",
            "-p",
            r#"{"spec":{"suspend":false}}"#,
        ],
        "job.batch/once patched\n",
    );
    let out = kubectl(
        &serving,
        &[
            "wait",
            "--for=condition=Complete",
            "job/once",
            "--timeout=60s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // What the API server fixes at creation stays, in its words.
    change_refused(
        &serving,
        &[
            "patch",
            "job",
            "once",
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/spec/template/spec/containers/0/command","value":["false"]}]"#,
        ],
        "The Job \"once\" is invalid: spec.template: Invalid value:",
    );
    change_refused(
        &serving,
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}"#,
        ],
        "spec.selector: Invalid value:",
    );
    change_refused(
        &serving,
        &[
            "patch",
            "service",
            "web",
            "-p",
            r#"{"spec":{"clusterIP":"10.96.0.250","clusterIPs":["10.96.0.250"]}}"#,
        ],
        "spec.clusterIP: Invalid value: \"10.96.0.250\": field is immutable",
    );
    change_refused(
        &serving,
        &[
            "patch",
            "service",
            "web",
            "-p",
            r#"{"spec":{"type":"ClusterIP"}}"#,
        ],
        "changing a Service's type is not supported by tandem yet",
    );
    change_refused(
        &serving,
        &[
            "patch",
            "service",
            "web",
            "-p",
            r#"{"spec":{"ipFamilyPolicy":"PreferDualStack"}}"#,
        ],
        "changing a Service's IP families (to or from dual-stack) is not supported by tandem yet",
    );
    // A dual-stack Service through kubectl: a cluster IP per family where pods have IPv6.
    let dual = env.root.path().join("dual.yaml");
    std::fs::write(
        &dual,
        "apiVersion: v1\nkind: Service\nmetadata: {name: dual}\nspec:\n  ipFamilyPolicy: PreferDualStack\n  selector: {app: web}\n  ports: [{port: 80}]\n",
    )
    .expect("write");
    let out = kubectl(&serving, &["apply", "-f", dual.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let families = stdout(&kubectl(
        &serving,
        &["get", "svc", "dual", "-o", "jsonpath={.spec.ipFamilies}"],
    ));
    let expected = match tandem_network::ipv6_enabled() {
        true => r#"["IPv4","IPv6"]"#,
        false => r#"["IPv4"]"#,
    };
    assert_eq!(families.trim(), expected);
    let out = kubectl(&serving, &["delete", "-f", dual.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));

    // `kubectl replace` with a Deployment read (once its status settled) and edited: a new
    // generation, one more pod.
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut deploy: serde_json::Value = serde_json::from_str(&stdout(&kubectl(
        &serving,
        &["get", "deploy", "web", "-o", "json"],
    )))
    .expect("deployment json");
    let generation = deploy["metadata"]["generation"]
        .as_i64()
        .expect("generation");
    deploy["spec"]["replicas"] = serde_json::json!(2);
    let replaced = env.root.path().join("replaced.json");
    std::fs::write(&replaced, deploy.to_string()).expect("write");
    changed(
        &serving,
        &["replace", "-f", replaced.to_str().expect("utf-8")],
        "deployment.apps/web replaced\n",
    );
    // Replaced again from the same (now stale) version: a conflict, as on a cluster.
    change_refused(
        &serving,
        &["replace", "-f", replaced.to_str().expect("utf-8")],
        "the object has been modified; please apply your changes to the latest version and try again",
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let now = stdout(&kubectl(
        &serving,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.generation} {.status.readyReplicas}",
        ],
    ));
    assert_eq!(now, format!("{} 2", generation + 1));
    // A dry run changes nothing; a template patch rolls out.
    changed(
        &serving,
        &[
            "set",
            "env",
            "deployment/web",
            "MODE=dry",
            "--dry-run=server",
        ],
        "deployment.apps/web env updated (server dry run)\n",
    );
    changed(
        &serving,
        &["set", "env", "deployment/web", "MODE=live"],
        "deployment.apps/web env updated\n",
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["exec", "deployment/web", "--", "sh", "-c", "echo $MODE"],
    );
    assert_eq!(stdout(&out), "live\n", "{}", stderr(&out));
    // kubectl's rollout verbs are patches too: restart, then undo to the template before it.
    changed(
        &serving,
        &["rollout", "restart", "deployment/web"],
        "deployment.apps/web restarted\n",
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    changed(
        &serving,
        &["rollout", "undo", "deployment/web"],
        "deployment.apps/web rolled back\n",
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let restarted = stdout(&kubectl(
        &serving,
        &[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.metadata.annotations}",
        ],
    ));
    assert!(!restarted.contains("restartedAt"), "{restarted}");
    // The undo brought back the ReplicaSet of that template (its revision moves up), as the
    // deployment controller does, rather than making a new one.
    let sets = stdout(&kubectl(
        &serving,
        &["get", "rs", "-l", "app=web", "-o", "name"],
    ));
    assert_eq!(sets.lines().count(), 3, "{sets}");
    // `kubectl edit`, with an editor that changes the replicas.
    let out = kubectl_command("kubectl", &serving.kubeconfig, &["edit", "deployment/web"])
        .env(
            "KUBE_EDITOR",
            "sed -i -e 's/^  replicas: 2$/  replicas: 1/'",
        )
        .output()
        .expect("run kubectl edit");
    assert_eq!(
        stdout(&out),
        "deployment.apps/web edited\n",
        "{}",
        stderr(&out)
    );
    let replicas = kubectl(
        &serving,
        &["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"],
    );
    assert_eq!(stdout(&replicas), "1");
    // A Service's selector and target port change; its node port stays.
    let port = stdout(&kubectl(
        &serving,
        &[
            "get",
            "svc",
            "web",
            "-o",
            "jsonpath={.spec.ports[0].nodePort}",
        ],
    ));
    changed(
        &serving,
        &[
            "patch",
            "service",
            "web",
            "-p",
            r#"{"spec":{"ports":[{"port":80,"targetPort":9090}]}}"#,
        ],
        "service/web patched\n",
    );
    let ours = env.tandem(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.ports[0].nodePort} {.spec.ports[0].targetPort}",
    ]);
    assert_eq!(stdout(&ours), format!("{port} 9090"));

    let out = kubectl(
        &serving,
        &[
            "delete",
            "-f",
            file.to_str().expect("utf-8"),
            "--cascade=foreground",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_helm_style_file_applies_whole_and_what_tandem_does_not_run_is_kept_with_a_warning() {
    let test =
        "a_helm_style_file_applies_whole_and_what_tandem_does_not_run_is_kept_with_a_warning";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let file = env.root.path().join("chart.yaml");
    std::fs::write(
        &file,
        format!(
            r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: app}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: "system:app-reader"}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get, list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: app}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "system:app-reader"}}
subjects: [{{kind: ServiceAccount, name: app}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: data}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: 1Gi}}}}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: web}}
spec:
  podSelector: {{matchLabels: {{app: web}}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web}}
spec:
  rules: [{{host: web.example, http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: web, port: {{number: 80}}}}}}}}]}}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: web}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
  minReplicas: 1
  maxReplicas: 3
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      serviceAccountName: app
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: Never
        command: ["sh", "-c", "trap 'exit 0' TERM; echo kept > /data/file; while true; do sleep 0.2; done"]
        volumeMounts: [{{name: data, mountPath: /data}}]
      volumes: [{{name: data, persistentVolumeClaim: {{claimName: data}}}}]
"#
        ),
    )
    .expect("write the chart's output");
    let file = file.to_str().expect("utf-8");
    let out = kubectl(&serving, &["apply", "-f", file]);
    assert_eq!(
        stdout(&out),
        "serviceaccount/app created\nclusterrole.rbac.authorization.k8s.io/system:app-reader created\nrolebinding.rbac.authorization.k8s.io/app created\npersistentvolumeclaim/data created\nnetworkpolicy.networking.k8s.io/web created\ningress.networking.k8s.io/web created\nhorizontalpodautoscaler.autoscaling/web created\ndeployment.apps/web created\n",
        "{}",
        stderr(&out)
    );
    // kubectl prints the server's warnings: what a cluster would do that tandem does not.
    for warning in [
        "Warning: Ingress is accepted but not applied by tandem: no ingress controller routes to it",
        "Warning: NetworkPolicy is accepted but not applied by tandem: pod traffic is not filtered by policy",
        "Warning: HorizontalPodAutoscaler is accepted but not applied by tandem",
    ] {
        assert!(stderr(&out).contains(warning), "{warning} in {}", stderr(&out));
    }
    let listed = stdout(&kubectl(
        &serving,
        &[
            "get",
            "sa,clusterrole,rolebinding,pvc,netpol,ing,hpa",
            "-o",
            "name",
        ],
    ));
    // With the namespace's own `default` account, as a cluster lists it.
    assert_eq!(
        listed,
        "serviceaccount/app\nserviceaccount/default\nclusterrole.rbac.authorization.k8s.io/system:app-reader\nrolebinding.rbac.authorization.k8s.io/app\npersistentvolumeclaim/data\nnetworkpolicy.networking.k8s.io/web\ningress.networking.k8s.io/web\nhorizontalpodautoscaler.autoscaling/web\n"
    );
    let pvc = stdout(&kubectl(&serving, &["get", "pvc", "data"]));
    let row: Vec<&str> = pvc
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(row[..4], ["data", "Bound", "1Gi", "RWO"], "{pvc}");
    // Applied again unchanged: nothing sent, nothing warned.
    let out = kubectl(&serving, &["apply", "-f", file]);
    assert!(
        stdout(&out).contains("ingress.networking.k8s.io/web unchanged\n"),
        "{}",
        stdout(&out)
    );
    assert!(!stderr(&out).contains("Warning"), "{}", stderr(&out));
    // A name the API server refuses is refused.
    apply_refused(
        &serving,
        &env.root.path().join("bad.yaml"),
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: Data_1}\nspec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n",
        "invalid name \"Data_1\"",
    );

    // Namespaces: made (kubectl sends protobuf for these), listed, deleted with what they hold;
    // those every cluster has stay.
    changed(
        &serving,
        &["create", "namespace", "team"],
        "namespace/team created\n",
    );
    changed(
        &serving,
        &["create", "serviceaccount", "bot", "-n", "team"],
        "serviceaccount/bot created\n",
    );
    change_refused(
        &serving,
        &["create", "namespace", "default"],
        "AlreadyExists",
    );
    change_refused(
        &serving,
        &["delete", "namespace", "default"],
        "namespaces \"default\" is forbidden: this namespace may not be deleted",
    );
    // Namespaces take labels, those every cluster has too (injection switches live there).
    changed(
        &serving,
        &["label", "namespace", "default", "istio-injection=disabled"],
        "namespace/default labeled\n",
    );
    let labels = stdout(&kubectl(
        &serving,
        &[
            "get",
            "namespace",
            "default",
            "-o",
            "jsonpath={.metadata.labels}",
        ],
    ));
    assert_eq!(
        labels,
        r#"{"istio-injection":"disabled","kubernetes.io/metadata.name":"default"}"#
    );
    changed(
        &serving,
        &["delete", "namespace", "team"],
        "namespace \"team\" deleted\n",
    );
    let left = kubectl(&serving, &["get", "sa", "bot", "-n", "team"]);
    assert!(stderr(&left).contains("NotFound"), "{}", stderr(&left));

    // The claim's data is a directory of the store: kept while a pod mounts it, even when the
    // claim is deleted; a claim nobody mounts goes with its data.
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let claim = env.root.path().join("volumes/default/data");
    wait_for("the pod's file in the claim", 30, || {
        std::fs::read_to_string(claim.join("file"))
            .ok()
            .filter(|t| t == "kept\n")
    });
    changed(
        &serving,
        &["delete", "pvc", "data"],
        "persistentvolumeclaim \"data\" deleted\n",
    );
    assert!(
        claim.join("file").exists(),
        "a mounted claim's data is kept"
    );
    let out = kubectl(
        &serving,
        &["delete", "-f", file, "--ignore-not-found", "--wait"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("every pod gone", 60, || {
        stdout(&env.tandem(&["get", "pods", "-o", "name"]))
            .is_empty()
            .then_some(())
    });
    let out = kubectl(&serving, &["apply", "-f", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(&serving, &["delete", "deployment", "web", "--wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("every pod gone", 60, || {
        stdout(&env.tandem(&["get", "pods", "-o", "name"]))
            .is_empty()
            .then_some(())
    });
    changed(
        &serving,
        &["delete", "pvc", "data"],
        "persistentvolumeclaim \"data\" deleted\n",
    );
    assert!(!claim.exists(), "a claim nobody mounts goes with its data");
    let out = kubectl(&serving, &["delete", "-f", file, "--ignore-not-found"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let left = stdout(&kubectl(
        &serving,
        &[
            "get",
            "sa,clusterrole,rolebinding,pvc,netpol,ing,hpa",
            "-o",
            "name",
        ],
    ));
    // The namespace's own `default` account stays, as on a cluster.
    assert_eq!(left, "serviceaccount/default\n");
}

/// A `kubectl port-forward` running in the background (killed when dropped), with the local
/// port it chose.
struct Forwarding {
    child: Child,
    port: u16,
}

impl Forwarding {
    fn start(binary: &str, s: &Serving, target: &str, remote: &str) -> Forwarding {
        let mut child = kubectl_command(
            binary,
            &s.kubeconfig,
            &["port-forward", target, &format!(":{remote}")],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kubectl port-forward");
        let port = forwarded_port(&mut child);
        Forwarding { child, port }
    }

    /// One HTTP/1.0 GET through the forwarded port: the whole answer.
    fn get(&self) -> String {
        use std::io::{Read as _, Write as _};
        let mut c = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        c.set_read_timeout(Some(std::time::Duration::from_secs(20)))
            .expect("timeout");
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("send");
        let mut answer = String::new();
        let _ = c.read_to_string(&mut answer);
        answer
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The local port a `kubectl port-forward` chose, from its first line ("Forwarding from
/// 127.0.0.1:41234 -> 8080"); the rest of its output is read away (it writes a line per
/// connection, and would fail on a closed pipe).
fn forwarded_port(child: &mut Child) -> u16 {
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("its first line");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    first
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port-forward said {first:?}"))
}

/// How many descriptors a process holds.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

#[test]
fn kubectl_port_forward_reaches_a_server_listening_on_the_pods_loopback() {
    let test = "kubectl_port_forward_reaches_a_server_listening_on_the_pods_loopback";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let file = env.root.path().join("www.yaml");
    std::fs::write(
        &file,
        format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: www}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: www}}}}
  template:
    metadata: {{labels: {{app: www}}}}
    spec:
      terminationGracePeriodSeconds: 1
      initContainers:
      - name: proxy
        image: {IMAGE}
        imagePullPolicy: Never
        restartPolicy: Always
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
      containers:
      - name: web
        image: {IMAGE}
        imagePullPolicy: Never
        ports: [{{name: http, containerPort: 8080}}]
        command: ["sh", "-c", "mkdir -p /www && echo hello from the pod > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www"]
        readinessProbe:
          exec: {{command: ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]}}
          periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata: {{name: www}}
spec:
  selector: {{app: www}}
  ports: [{{port: 80, targetPort: http}}]
"#
        ),
    )
    .expect("write the manifest");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/www", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The server listens on the pod's 127.0.0.1 only: reached from inside its network namespace.
    let serve_pid = serving.child.id();
    let before = fds(serve_pid);
    {
        let forwarding = Forwarding::start("kubectl", &serving, "deployment/www", "8080");
        assert!(
            forwarding.get().ends_with("hello from the pod\n"),
            "{}",
            forwarding.get()
        );
        // 20 connections at once, each answered whole.
        let port = forwarding.port;
        let answers: Vec<String> = (0..20)
            .map(|_| {
                let f = Forwarding {
                    child: Command::new("true").spawn().expect("true"),
                    port,
                };
                std::thread::spawn(move || f.get())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().expect("a connection"))
            .collect();
        assert!(
            answers.iter().all(|a| a.ends_with("hello from the pod\n")),
            "{answers:?}"
        );
        // A Service's port is led to its target port on a pod of it.
        let svc = Forwarding::start("kubectl", &serving, "svc/www", "80");
        assert!(svc.get().ends_with("hello from the pod\n"));
    }
    // Before 1.31 kubectl speaks SPDY over the upgraded connection itself.
    let old = "/usr/lib/google-cloud-sdk/bin/kubectl.1.27";
    if Path::new(old).exists() {
        let forwarding = Forwarding::start(old, &serving, "deployment/www", "8080");
        assert!(forwarding.get().ends_with("hello from the pod\n"));
    }
    // A port nothing listens on: the connection closes and kubectl says why.
    let pod = stdout(&kubectl(
        &serving,
        &["get", "pods", "-l", "app=www", "-o", "name"],
    ));
    let out = kubectl_command(
        "kubectl",
        &serving.kubeconfig,
        &["port-forward", pod.trim(), ":9999"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("start kubectl port-forward");
    let mut forwarding = Forwarding {
        child: out,
        port: 0,
    };
    forwarding.port = forwarded_port(&mut forwarding.child);
    assert_eq!(forwarding.get(), "");
    let mut err = String::new();
    use std::io::Read as _;
    let _ = forwarding
        .child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err);
    assert!(
        err.contains("error forwarding port 9999 to the pod"),
        "{err}"
    );
    drop(forwarding);
    // Every session ended leaves nothing open in the server.
    wait_for("serve's descriptors back where they were", 20, || {
        (fds(serve_pid) <= before).then_some(())
    });
}

/// The environment kubectl needs for the server (as [`kubectl_command`] sets it).
fn kubectl_env(s: &Serving) -> [(&str, &Path); 2] {
    [
        ("KUBECONFIG", s.kubeconfig.as_path()),
        ("HOME", s.kubeconfig.parent().expect("serve dir")),
    ]
}

/// The full path of a kubectl (`name` on the PATH or beside it), as a program to exec.
fn kubectl_path(name: &str) -> PathBuf {
    let found = Command::new("sh")
        .args(["-c", "command -v kubectl"])
        .output()
        .map(|o| stdout(&o).trim().to_string())
        .unwrap_or_default();
    let default = std::fs::canonicalize(found).expect("kubectl on the PATH");
    match name {
        "kubectl" => default,
        other => default.with_file_name(other),
    }
}

#[test]
fn kubectl_run_it_attach_and_debug_reach_a_containers_own_terminal_and_input() {
    if require_root("kubectl_run_it_attach_and_debug_reach_a_containers_own_terminal_and_input")
        .is_none()
        || !kubectl_installed(
            "kubectl_run_it_attach_and_debug_reach_a_containers_own_terminal_and_input",
        )
    {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    // `kubectl run -it --rm`: a terminal container attached to, typed into and resized, its
    // exit code kubectl's, deleted after; over SPDY (1.27) and over a WebSocket (the default).
    for release in ["kubectl.1.27", "kubectl"] {
        let binary = kubectl_path(release);
        if !binary.exists() {
            continue;
        }
        let steps = serde_json::json!([
            ["expect", "try pressing enter."],
            ["send", "\r"],
            ["expect", "# "],
            ["send", "tty; stty size; echo $((6*7))\r"],
            ["expect", "42"],
            ["resize", 40, 120],
            // The new size reaches the container's terminal on its own time.
            ["until", "40 120", "stty size\r"],
            ["send", "exit 5\r"],
        ]);
        let image = format!("--image={IMAGE}");
        let argv = [
            binary.as_os_str(),
            "run".as_ref(),
            "shell".as_ref(),
            "-it".as_ref(),
            "--rm".as_ref(),
            "--restart=Never".as_ref(),
            image.as_ref(),
            "--image-pull-policy=Never".as_ref(),
            "--".as_ref(),
            "sh".as_ref(),
        ];
        let Terminal { shown, exit } = drive_terminal(&steps, argv, &kubectl_env(&serving));
        assert!(
            shown.contains("/dev/pts/0\r\n30 100\r\n42"),
            "{release}: {shown}"
        );
        assert!(shown.contains("40 120"), "{release}: {shown}");
        assert!(
            shown.contains("pod \"shell\" deleted"),
            "{release}: {shown}"
        );
        assert_eq!(exit, 5, "{release}: {shown}");
        let out = kubectl(&serving, &["get", "pod", "shell"]);
        assert!(
            stderr(&out).contains("NotFound"),
            "{release}: {}",
            stdout(&out)
        );
    }

    // `kubectl attach -i` to a container with stdin: a line in, the same line out; the session
    // ends with the input, and the container reads on.
    let file = env.root.path().join("cat.yaml");
    std::fs::write(
        &file,
        format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: cat}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: cat
    image: {IMAGE}
    imagePullPolicy: Never
    stdin: true
    command: [cat]
"#
        ),
    )
    .expect("write the manifest");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["wait", "--for=condition=Ready", "pod/cat", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for word in ["hello", "again"] {
        let mut attach = kubectl_command("kubectl", &serving.kubeconfig, &["attach", "-i", "cat"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kubectl attach");
        let mut stdin = attach.stdin.take().expect("stdin");
        let mut lines = std::io::BufReader::new(attach.stdout.take().expect("stdout")).lines();
        {
            use std::io::Write as _;
            writeln!(stdin, "{word}").expect("write stdin");
        }
        let line = lines.next().and_then(Result::ok);
        assert_eq!(line.as_deref(), Some(word));
        drop(stdin);
        let out = attach.wait_with_output().expect("kubectl attach");
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let seen = env.pod_json("cat");
    assert!(
        seen["status"]["containerStatuses"][0]["state"]["running"].is_object(),
        "{seen}"
    );

    // `kubectl debug`: an ephemeral container through `pods/ephemeralcontainers`, in the
    // target's process namespace; then interactive, over SPDY (1.27) and a WebSocket.
    let out = kubectl(
        &serving,
        &[
            "debug",
            "cat",
            &format!("--image={IMAGE}"),
            "--image-pull-policy=Never",
            "--target=cat",
            "-c",
            "kd",
            "--",
            "sh",
            "-c",
            "ps -o comm",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the debug container to have run", 30, || {
        let v = env.pod_json("cat");
        let s = v["status"]["ephemeralContainerStatuses"][0].clone();
        s["state"]["terminated"].is_object().then_some(())
    });
    let out = kubectl(&serving, &["logs", "cat", "-c", "kd"]);
    assert!(stdout(&out).contains("cat\n"), "{}", stdout(&out));
    for release in ["kubectl.1.27", "kubectl"] {
        let binary = kubectl_path(release);
        if !binary.exists() {
            continue;
        }
        let steps = serde_json::json!([
            ["expect", "# "],
            ["send", "echo $((6*7))\r"],
            ["expect", "42"],
            ["send", "exit\r"],
        ]);
        let image = format!("--image={IMAGE}");
        let argv = [
            binary.as_os_str(),
            "debug".as_ref(),
            "-it".as_ref(),
            "cat".as_ref(),
            image.as_ref(),
            "--image-pull-policy=Never".as_ref(),
            "--target=cat".as_ref(),
            "--".as_ref(),
            "sh".as_ref(),
        ];
        let Terminal { shown, exit } = drive_terminal(&steps, argv, &kubectl_env(&serving));
        assert_eq!(exit, 0, "{release}: {shown}");
    }
    let v = env.pod_json("cat");
    assert_eq!(
        v["spec"]["ephemeralContainers"].as_array().map(Vec::len),
        Some(3),
        "{v}"
    );
    let out = kubectl(&serving, &["delete", "pod", "cat"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `kubectl patch --subresource=status`: a readiness gate's condition, as its controller sets
/// it, makes the pod Ready; the kubelet's part of the status is refused.
#[test]
fn kubectl_patch_of_the_status_sets_a_readiness_gate_and_nothing_else() {
    if require_root("kubectl_patch_of_the_status_sets_a_readiness_gate_and_nothing_else").is_none()
        || !kubectl_installed("kubectl_patch_of_the_status_sets_a_readiness_gate_and_nothing_else")
    {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let gated = env.root.path().join("gated.yaml");
    std::fs::write(
        &gated,
        format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: gated}}
spec:
  terminationGracePeriodSeconds: 1
  readinessGates: [{{conditionType: example.com/gate}}]
  containers:
  - {{name: app, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, "3600"]}}
"#
        ),
    )
    .expect("write the manifest");
    let out = kubectl(&serving, &["apply", "-f", gated.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &[
            "wait",
            "--for=condition=ContainersReady",
            "pod/gated",
            "--timeout=60s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let ready = |s: &Serving| {
        let out = kubectl(
            s,
            &[
                "get",
                "pod",
                "gated",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ],
        );
        stdout(&out)
    };
    assert_eq!(ready(&serving), "False");
    for (patch, words) in [
        (r#"{"status":{"phase":"Failed"}}"#, "status.phase"),
        (
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
            "is not a readiness gate",
        ),
    ] {
        let out = kubectl(
            &serving,
            &[
                "patch",
                "pod",
                "gated",
                "--subresource=status",
                "--type=merge",
                "-p",
                patch,
            ],
        );
        assert!(!out.status.success(), "{patch} was taken");
        assert!(stderr(&out).contains(words), "{patch}: {}", stderr(&out));
    }
    let out = kubectl(
        &serving,
        &[
            "patch",
            "pod",
            "gated",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"example.com/gate","status":"True"}]}}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/gated",
            "--timeout=30s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(&serving, &["delete", "pod", "gated"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn kubectl_create_of_each_kind_makes_it_from_protobuf() {
    let test = "kubectl_create_of_each_kind_makes_it_from_protobuf";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let image = format!("--image={IMAGE}");
    let loop_ = "trap 'exit 0' TERM; while true; do sleep 0.2; done";
    // kubectl's typed clients send these in protobuf; each is made as from its JSON.
    let made = [
        (
            vec![
                "create",
                "deployment",
                "web",
                &image,
                "--port=80",
                "-r",
                "2",
                "--",
                "sh",
                "-c",
                loop_,
            ],
            "deployment.apps/web created\n",
        ),
        (
            vec!["create", "job", "once", &image, "--", "true"],
            "job.batch/once created\n",
        ),
        (
            vec![
                "create",
                "cronjob",
                "nightly",
                &image,
                "--schedule=0 3 * * *",
                "--",
                "true",
            ],
            "cronjob.batch/nightly created\n",
        ),
        (
            vec!["create", "service", "nodeport", "web", "--tcp=80:80"],
            "service/web created\n",
        ),
        (
            vec![
                "create",
                "role",
                "reader",
                "--verb=get,list",
                "--resource=pods",
            ],
            "role.rbac.authorization.k8s.io/reader created\n",
        ),
        (
            vec![
                "create",
                "rolebinding",
                "read",
                "--role=reader",
                "--serviceaccount=default:app",
            ],
            "rolebinding.rbac.authorization.k8s.io/read created\n",
        ),
        (
            vec!["create", "priorityclass", "high", "--value=1000"],
            "priorityclass.scheduling.k8s.io/high created\n",
        ),
    ];
    for (args, said) in made {
        changed(&serving, &args, said);
    }
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &[
            "wait",
            "--for=condition=Complete",
            "job/once",
            "--timeout=60s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Read back as the flags asked: the container's port and command, the Service's selector
    // and ports, the rule, the binding's subject, the class's value.
    let deploy = stdout(&kubectl(&serving, &["get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[0].ports[0].containerPort} {.spec.template.spec.containers[0].command[0]}"]));
    assert_eq!(deploy, "80 sh");
    let svc = stdout(&env.tandem(&[
        "get",
        "svc",
        "web",
        "-o",
        "jsonpath={.spec.selector.app} {.spec.ports[0].targetPort} {.spec.type}",
    ]));
    assert_eq!(svc, "web 80 NodePort");
    let rule = stdout(&kubectl(
        &serving,
        &["get", "role", "reader", "-o", "jsonpath={.rules[0].verbs}"],
    ));
    assert_eq!(rule, r#"["get","list"]"#);
    let subject = stdout(&kubectl(
        &serving,
        &[
            "get",
            "rolebinding",
            "read",
            "-o",
            "jsonpath={.subjects[0].kind}/{.subjects[0].name} {.roleRef.name}",
        ],
    ));
    assert_eq!(subject, "ServiceAccount/app reader");
    let value = stdout(&kubectl(
        &serving,
        &["get", "priorityclass", "high", "-o", "jsonpath={.value}"],
    ));
    assert_eq!(value, "1000");
    // A Job copied from a CronJob carries all of its stored template: more than is read here
    // in protobuf, so it is refused, saying where, never made without it.
    change_refused(
        &serving,
        &["create", "job", "manual", "--from=cronjob/nightly"],
        "this Job sets fields tandem does not read in protobuf yet",
    );
    let out = kubectl(&serving, &["get", "job", "manual"]);
    assert!(!out.status.success(), "nothing was made");
}

/// Runs `crates/tandem/tests/python/SCRIPT` (with the image as its argument) with the Python
/// `kubernetes` client against a fresh store's `tandem serve`; it prints "ok" when every check
/// held. Skips (saying why) only where the client is not installed.
fn python_client_passes(test: &str, script: &str) {
    if require_root(test).is_none() {
        return;
    }
    // tools/setup.sh makes this environment; only a machine set up by hand lacks it.
    let python = support::repo().join("target/python-kubernetes/bin/python");
    if !python.exists() {
        tandem_testkit::skip(&format!(
            "the Python kubernetes client is not installed at {} (tools/setup.sh installs it)",
            python.display()
        ));
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let out = Command::new(&python)
        .arg(
            support::repo()
                .join("crates/tandem/tests/python")
                .join(script),
        )
        .arg(IMAGE)
        .env("KUBECONFIG", &serving.kubeconfig)
        .output()
        .expect("run python");
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out), "ok\n");
}

#[test]
fn the_python_client_lists_creates_watches_reads_logs_and_deletes() {
    python_client_passes(
        "the_python_client_lists_creates_watches_reads_logs_and_deletes",
        "client.py",
    );
}

/// Eviction (`pods/eviction`) through the Python client: refused with 429 while a
/// PodDisruptionBudget needs the pod, granted once a looser one allows it (`python/eviction.py`).
#[test]
fn an_eviction_is_refused_while_the_disruption_budget_needs_the_pod() {
    python_client_passes(
        "an_eviction_is_refused_while_the_disruption_budget_needs_the_pod",
        "eviction.py",
    );
}

#[test]
fn configmaps_and_secrets_made_with_kubectl_feed_the_pods_made_after_them() {
    if require_root("configmaps_and_secrets_made_with_kubectl_feed_the_pods_made_after_them")
        .is_none()
        || !kubectl_installed(
            "configmaps_and_secrets_made_with_kubectl_feed_the_pods_made_after_them",
        )
    {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let out = kubectl(
        &serving,
        &[
            "create",
            "configmap",
            "web-config",
            "--from-literal=greeting=hello",
        ],
    );
    assert_eq!(
        stdout(&out),
        "configmap/web-config created\n",
        "{}",
        stderr(&out)
    );
    let out = kubectl(
        &serving,
        &[
            "create",
            "secret",
            "generic",
            "web-secret",
            "--from-literal=token=s3cret",
        ],
    );
    assert_eq!(
        stdout(&out),
        "secret/web-secret created\n",
        "{}",
        stderr(&out)
    );
    let out = kubectl(&serving, &["get", "configmaps"]);
    let row: Vec<String> = stdout(&out)
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(row[..2], ["web-config", "1"], "{}", stdout(&out));
    let out = kubectl(
        &serving,
        &[
            "get",
            "secret",
            "web-secret",
            "-o",
            "jsonpath={.type} {.data.token}",
        ],
    );
    assert_eq!(stdout(&out), "Opaque czNjcmV0", "{}", stderr(&out));

    let pod = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: fed
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    imagePullPolicy: Never
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    env:
    - name: GREETING
      valueFrom: {{configMapKeyRef: {{name: web-config, key: greeting}}}}
    volumeMounts: [{{name: secret, mountPath: /secret}}]
  volumes:
  - name: secret
    secret: {{secretName: web-secret}}
"#
    );
    let file = env.root.path().join("fed.yaml");
    std::fs::write(&file, pod).expect("write");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert_eq!(stdout(&out), "pod/fed created\n", "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["wait", "--for=condition=Ready", "pod/fed", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &[
            "exec",
            "fed",
            "--",
            "sh",
            "-c",
            "echo $GREETING; cat /secret/token",
        ],
    );
    assert_eq!(stdout(&out), "hello\ns3cret", "{}", stderr(&out));
    // A Secret rotated with kubectl reaches the running pod's volume, as a kubelet's resync
    // brings it; the environment keeps what the container started with.
    let out = kubectl(
        &serving,
        &[
            "patch",
            "secret",
            "web-secret",
            "--type=merge",
            "-p",
            r#"{"data":{"token":"cm90YXRlZA=="}}"#,
        ],
    );
    assert_eq!(
        stdout(&out),
        "secret/web-secret patched\n",
        "{}",
        stderr(&out)
    );
    wait_for("the rotated token in the pod", 20, || {
        let script = "echo $GREETING; cat /secret/token";
        let out = kubectl(&serving, &["exec", "fed", "--", "sh", "-c", script]);
        (stdout(&out) == "hello\nrotated").then_some(())
    });

    // A ConfigMap that does not exist yet: the pod is made, as the API server makes it, and its
    // container waits (CreateContainerConfigError) until kubectl creates the ConfigMap.
    let missing = std::fs::read_to_string(&file)
        .expect("read")
        .replace("name: fed", "name: unfed")
        .replace("name: web-config", "name: no-such-config");
    std::fs::write(&file, &missing).expect("write");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert_eq!(stdout(&out), "pod/unfed created\n", "{}", stderr(&out));
    let reason = "jsonpath={.status.containerStatuses[0].state.waiting.reason}";
    wait_for("unfed to wait for its ConfigMap", 30, || {
        let out = kubectl(&serving, &["get", "pod", "unfed", "-o", reason]);
        (stdout(&out) == "CreateContainerConfigError").then_some(())
    });
    let out = kubectl(
        &serving,
        &[
            "create",
            "configmap",
            "no-such-config",
            "--from-literal=greeting=late",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/unfed",
            "--timeout=60s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["exec", "unfed", "--", "sh", "-c", "echo $GREETING"],
    );
    assert_eq!(stdout(&out), "late\n", "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["delete", "pod/unfed", "configmap/no-such-config"],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    // A Secret a volume names that does not exist yet: the pod waits in ContainerCreating with
    // FailedMount events, as kubectl shows them, until kubectl creates the Secret.
    let unmounted = std::fs::read_to_string(&file)
        .expect("read")
        .replace("name: unfed", "name: unmounted")
        .replace("name: no-such-config", "name: web-config")
        .replace("secretName: web-secret", "secretName: late-secret");
    std::fs::write(&file, &unmounted).expect("write");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert_eq!(stdout(&out), "pod/unmounted created\n", "{}", stderr(&out));
    let events = wait_for("a FailedMount event through the API", 30, || {
        let out = kubectl(&serving, &["describe", "pod", "unmounted"]);
        let text = stdout(&out);
        text.contains("FailedMount").then_some(text)
    });
    assert!(
        events.contains(
            "MountVolume.SetUp failed for volume \"secret\" : secret \"late-secret\" not found"
        ),
        "{events}"
    );
    let out = kubectl(&serving, &["get", "pod", "unmounted", "--no-headers"]);
    assert!(
        stdout(&out).contains("ContainerCreating"),
        "{}",
        stdout(&out)
    );
    let out = kubectl(
        &serving,
        &[
            "create",
            "secret",
            "generic",
            "late-secret",
            "--from-literal=token=late",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &[
            "wait",
            "--for=condition=Ready",
            "pod/unmounted",
            "--timeout=60s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["exec", "unmounted", "--", "cat", "/secret/token"],
    );
    assert_eq!(stdout(&out), "late", "{}", stderr(&out));
    let out = kubectl(&serving, &["delete", "pod/unmounted", "secret/late-secret"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A kind not read in protobuf is refused with what to do instead, and nothing is made.
    let out = kubectl(&serving, &["create", "quota", "q", "--hard=pods=2"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "tandem does not read ResourceQuota (v1) in protobuf yet; send it as JSON instead"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!kubectl(&serving, &["get", "quota", "q"]).status.success());

    let out = kubectl(&serving, &["delete", "configmap", "web-config"]);
    assert_eq!(
        stdout(&out),
        "configmap \"web-config\" deleted\n",
        "{}",
        stderr(&out)
    );
    let out = kubectl(&serving, &["get", "configmap", "web-config"]);
    assert_eq!(
        stderr(&out),
        "Error from server (NotFound): configmaps \"web-config\" not found\n"
    );
}

#[test]
fn serve_killed_mid_stream_takes_no_pod_with_it_and_comes_back() {
    if require_root("serve_killed_mid_stream_takes_no_pod_with_it_and_comes_back").is_none()
        || !kubectl_installed("serve_killed_mid_stream_takes_no_pod_with_it_and_comes_back")
    {
        return;
    }
    let env = Env::new();
    let mut serving = Serving::start(&env);
    let file = env.root.path().join("web.yaml");
    std::fs::write(&file, pod_yaml("web", "app: web", "0.2")).expect("write");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["wait", "--for=condition=Ready", "pod/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // The version of a list as the server gave it (kubectl's own `get -o jsonpath` of a list
    // prints the list it builds itself, without one).
    let list = kubectl(
        &serving,
        &["get", "--raw", "/api/v1/namespaces/default/pods"],
    );
    let list: serde_json::Value = serde_json::from_slice(&list.stdout).expect("a pod list");
    let version = list["metadata"]["resourceVersion"]
        .as_str()
        .filter(|v| !v.is_empty())
        .expect("a list's version")
        .to_string();
    let uid = env.pod_json("web")["metadata"]["uid"].clone();
    // Clients streaming when the server dies: a watch and a followed log.
    let streams: Vec<std::process::Child> = [
        vec!["get", "pods", "-w"],
        vec!["logs", "-f", "web", "-c", "app"],
    ]
    .into_iter()
    .map(|args| {
        kubectl_command("kubectl", &serving.kubeconfig, &[])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("kubectl stream")
    })
    .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    support::kill9(serving.child.id() as i32);
    let _ = serving.child.wait();
    // Their streams end with it (how each reports it is kubectl's business).
    for mut s in streams {
        wait_for("the client's stream to end with the server", 30, || {
            s.try_wait().ok().flatten()
        });
    }
    // The pod runs on, untouched.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let pod = env.pod_json("web");
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(pod["metadata"]["uid"], uid);
    assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 0);

    // Started again: the same pods, the same credentials; a watch from before is Gone.
    let again = Serving::start(&env);
    let out = kubectl(
        &again,
        &["get", "pod", "web", "-o", "jsonpath={.metadata.uid}"],
    );
    assert_eq!(
        serde_json::Value::String(stdout(&out)),
        uid,
        "{}",
        stderr(&out)
    );
    let path = format!(
        "/api/v1/namespaces/default/pods?watch=1&resourceVersion={version}&timeoutSeconds=10"
    );
    let out = kubectl(&again, &["get", "--raw", &path]);
    let event: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", stdout(&out)));
    assert_eq!(event["object"]["code"], 410, "{event}");
    let out = kubectl(&again, &["delete", "pod", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn bad_bodies_get_the_api_servers_answers_and_make_nothing() {
    if require_root("bad_bodies_get_the_api_servers_answers_and_make_nothing").is_none()
        || !kubectl_installed("bad_bodies_get_the_api_servers_answers_and_make_nothing")
    {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let create = |body: &str, path: &str| {
        let file = env.root.path().join("body.json");
        std::fs::write(&file, body).expect("write");
        kubectl(
            &serving,
            &["create", "--raw", path, "-f", file.to_str().expect("utf-8")],
        )
    };
    let pods = "/api/v1/namespaces/default/pods";
    let strict = "/api/v1/namespaces/default/pods?fieldValidation=Strict";
    let valid = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"x"}},"spec":{{"containers":[{{"name":"a","image":"{IMAGE}","imagePullPolicy":"Never"}}]}}}}"#
    );
    for (body, path, words) in [
        ("{not json".to_string(), pods, "BadRequest"),
        (
            valid.replace(r#""kind":"Pod""#, r#""kind":"Service""#),
            pods,
            "does not match the expected API version",
        ),
        (
            valid.replace(r#""name":"x"}"#, r#""name":"x","namespace":"other"}"#),
            pods,
            "does not match the namespace sent on the request",
        ),
        (
            valid.replace(r#""image":"#, r#""imagePolicy":"Never","image":"#),
            strict,
            "imagePolicy",
        ),
        (valid.replace(r#""name":"a","#, ""), pods, "is invalid"),
        (
            valid.clone(),
            "/api/v1/namespaces/default/widgets",
            "NotFound",
        ),
    ] {
        let out = create(&body, path);
        assert!(!out.status.success(), "{body} was taken");
        assert!(
            stderr(&out).contains(words),
            "{words} for {body}: {}",
            stderr(&out)
        );
    }
    let out = env.tandem(&["get", "pods", "-o", "name"]);
    assert_eq!(stdout(&out), "", "nothing was made");
    // A name taken is a conflict, and the first pod stays.
    let out = create(&valid, pods);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = create(&valid, pods);
    assert!(stderr(&out).contains("AlreadyExists"), "{}", stderr(&out));
    let out = kubectl(&serving, &["delete", "pod", "x", "--grace-period=0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // An unknown field is a warning when the client says nothing (as the API server's
    // default) or asks for Warn, nothing with Ignore; either way it is not kept.
    let unknown = valid.replace(r#""image":"#, r#""imagePolicy":"Never","image":"#);
    for (name, query, warned) in [
        ("w1", "", true),
        ("w2", "?fieldValidation=Warn", true),
        ("w3", "?fieldValidation=Ignore", false),
    ] {
        let body = unknown.replace(r#""name":"x""#, &format!(r#""name":"{name}""#));
        let out = create(&body, &format!("{pods}{query}"));
        assert!(out.status.success(), "{query}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).contains("Warning: unknown field 'imagePolicy'"),
            warned,
            "{query}: {}",
            stderr(&out)
        );
        let kept = kubectl(&serving, &["get", "pod", name, "-o", "json"]);
        assert!(!stdout(&kept).contains("imagePolicy"), "{}", stdout(&kept));
    }
    // `kubectl apply --validate=ignore` sends Ignore.
    let file = env.root.path().join("cm.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: loose}\ndata: {a: b}\nextra: 1\n",
    )
    .expect("write");
    let file = file.to_str().expect("utf-8");
    apply_refused(
        &serving,
        Path::new(file),
        &std::fs::read_to_string(file).expect("read"),
        "unknown field \"extra\"",
    );
    let out = kubectl(&serving, &["apply", "--validate=ignore", "-f", file]);
    assert_eq!(
        stdout(&out),
        "configmap/loose created\n",
        "{}",
        stderr(&out)
    );
    let kept: serde_json::Value = serde_json::from_str(&stdout(&kubectl(
        &serving,
        &["get", "cm", "loose", "-o", "json"],
    )))
    .expect("configmap json");
    assert!(
        kept["extra"].is_null() && kept["data"]["a"] == "b",
        "{kept}"
    );
}

/// `tandem describe` of every kind it runs reads byte for byte as the real kubectl's describers
/// write the same objects served by `tandem serve`: a Deployment with a native sidecar and its
/// ReplicaSet, a StatefulSet with a claim template, a DaemonSet, an Indexed Job, a CronJob, a
/// ReplicationController, and their pods (whose events come from the kubelet).
#[test]
fn describe_of_every_workload_kind_reads_as_kubectls_own() {
    let test = "describe_of_every_workload_kind_reads_as_kubectls_own";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let sleep = "[sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]";
    let yaml = format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, labels: {{app: web}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      initContainers:
      - {{name: proxy, image: {IMAGE}, imagePullPolicy: Never, restartPolicy: Always, command: {sleep}}}
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: Never
        command: {sleep}
        ports: [{{name: http, containerPort: 8080}}]
        env:
        - {{name: POD, valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}}}
        - {{name: IP, valueFrom: {{fieldRef: {{fieldPath: status.podIP}}}}}}
        - {{name: MEM, valueFrom: {{resourceFieldRef: {{resource: limits.memory, divisor: 1Mi}}}}}}
        resources: {{limits: {{memory: 64Mi}}}}
        volumeMounts: [{{name: data, mountPath: /data}}]
      volumes: [{{name: data, emptyDir: {{}}}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: db}}
spec:
  serviceName: db
  replicas: 1
  selector: {{matchLabels: {{app: db}}}}
  template:
    metadata: {{labels: {{app: db}}, annotations: {{team: data}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: {sleep}, volumeMounts: [{{name: data, mountPath: /data}}]}}]
  volumeClaimTemplates:
  - metadata: {{name: data}}
    spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {{name: agent}}
spec:
  selector: {{matchLabels: {{app: agent}}}}
  template:
    metadata: {{labels: {{app: agent}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: {sleep}}}]
---
apiVersion: batch/v1
kind: Job
metadata: {{name: once}}
spec:
  completions: 2
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: ["true"]}}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {{name: tick}}
spec:
  schedule: "0 0 1 1 *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: ["true"]}}]
---
apiVersion: v1
kind: ReplicationController
metadata: {{name: old}}
spec:
  replicas: 1
  template:
    metadata: {{labels: {{app: old}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: {sleep}}}]
"#
    );
    let file = env.root.path().join("kinds.yaml");
    std::fs::write(&file, yaml).expect("write");
    let out = env.tandem(&["run", "-d", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Settled: every pod Running or finished, the Job complete, the Deployment available.
    wait_for("the workloads settled", 60, || {
        let out = kubectl(
            &serving,
            &["get", "pods", "-o", "jsonpath={.items[*].status.phase}"],
        );
        let phases = stdout(&out);
        let settled = phases.split_whitespace().count() == 7
            && phases
                .split_whitespace()
                .all(|p| p == "Running" || p == "Succeeded");
        let job = stdout(&kubectl(
            &serving,
            &["get", "job", "once", "-o", "jsonpath={.status.succeeded}"],
        ));
        (settled && job == "2").then_some(())
    });
    let describe = |kind: &str| -> (String, String) {
        let theirs = kubectl(&serving, &["describe", kind]);
        assert!(theirs.status.success(), "{}", stderr(&theirs));
        let ours = env.tandem(&["describe", kind]);
        assert!(ours.status.success(), "{}", stderr(&ours));
        (stdout(&theirs), stdout(&ours))
    };
    for kind in [
        "deployments",
        "replicasets",
        "statefulsets",
        "daemonsets",
        "jobs",
        "cronjobs",
        "replicationcontrollers",
        "pods",
    ] {
        // Ages move on by the second: the two are taken again until they fall in the same one.
        let (theirs, ours) = (0..5)
            .map(|_| describe(kind))
            .find(|(t, o)| t == o)
            .unwrap_or_else(|| describe(kind));
        assert_eq!(
            ours, theirs,
            "tandem describe {kind} differs from kubectl's"
        );
    }
    // What each says, beyond being kubectl's words.
    let (_, deployment) = describe("deployment/web");
    for line in [
        "Replicas:               2 desired | 2 updated | 2 total | 2 available | 0 unavailable",
        "RollingUpdateStrategy:  25% max unavailable, 25% max surge",
        "      MEM:  64 (limits.memory)",
        "OldReplicaSets:  <none>",
        "  Normal  ScalingReplicaSet",
    ] {
        assert!(deployment.contains(line), "{line:?} in {deployment}");
    }
    assert!(
        !deployment.contains("Service Account:")
            && !deployment.contains("      memory:  64Mi\n    Requests:"),
        "a template keeps only its spec's defaults: {deployment}"
    );
    let (_, sets) = describe("rs");
    assert!(sets.contains("Controlled By:  Deployment/web"), "{sets}");
    assert!(
        sets.contains("Pods Status:    2 Running / 0 Waiting / 0 Succeeded / 0 Failed"),
        "{sets}"
    );
    assert_eq!(
        sets.matches("SuccessfulCreate").count(),
        2,
        "one event per pod made: {sets}"
    );
    let (_, job) = describe("job/once");
    assert!(job.contains("Completed Indexes:  0-1"), "{job}");
    assert!(job.contains("2 Succeeded"), "{job}");
    let (_, sts) = describe("sts/db");
    assert!(
        sts.contains("Volume Claims:\n  Name:          data"),
        "{sts}"
    );
    // Unknown names and kinds get kubectl's words.
    let out = env.tandem(&["describe", "deployment", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Error from server (NotFound): deployments.apps \"nope\" not found"),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["describe", "widgets"]);
    assert!(
        stderr(&out).contains("the server doesn't have a resource type \"widgets\""),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["delete", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// An object with only `generateName` is made with a name made for it, through kubectl and
/// through `tandem run` alike, a new one each time.
#[test]
fn generate_name_gets_a_made_name_through_kubectl_and_run() {
    let test = "generate_name_gets_a_made_name_through_kubectl_and_run";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let file = env.root.path().join("gen.yaml");
    std::fs::write(
        &file,
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{generateName: gen-}}\nspec:\n  terminationGracePeriodSeconds: 0\n  containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, \"3600\"]}}]\n"),
    )
    .expect("write");
    let file = file.to_str().expect("utf-8");
    let made = |out: &Output| -> String {
        let text = stdout(out);
        let name = text
            .strip_prefix("pod/")
            .and_then(|t| t.strip_suffix(" created\n"))
            .unwrap_or_else(|| panic!("{text}{}", stderr(out)))
            .to_string();
        let suffix = name.strip_prefix("gen-").expect("the base first");
        assert!(
            suffix.len() == 5
                && suffix
                    .chars()
                    .all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)),
            "{name}"
        );
        name
    };
    let first = made(&kubectl(&serving, &["create", "-f", file]));
    let second = made(&kubectl(&serving, &["create", "-f", file]));
    let third = made(&env.tandem(&["run", "-d", "-f", file]));
    assert!(first != second && second != third && first != third);
    let names = stdout(&env.tandem(&["get", "pods", "-o", "name"]));
    for n in [&first, &second, &third] {
        assert!(names.contains(&format!("pod/{n}\n")), "{n} in {names}");
    }
}

/// kubectl learns every resource from aggregated discovery in two requests, and `kubectl
/// explain` walks the schemas of the OpenAPI v3 documents, as against a cluster, with installed
/// releases from 1.27 (the first to read v3 by default).
#[test]
fn kubectl_discovers_the_api_in_two_requests_and_explains_its_schemas() {
    let test = "kubectl_discovers_the_api_in_two_requests_and_explains_its_schemas";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    for release in ["kubectl", "kubectl.1.27", "kubectl.1.30"] {
        let binary = kubectl_path(release);
        if !binary.exists() {
            continue;
        }
        let binary = binary.to_str().expect("utf-8");
        let out = kubectl_as(
            binary,
            &serving.kubeconfig,
            &["explain", "pod.spec.initContainers.restartPolicy"],
        );
        let text = stdout(&out);
        assert!(out.status.success(), "{release}: {}", stderr(&out));
        assert!(
            text.starts_with("KIND:       Pod\nVERSION:    v1\n"),
            "{release}: {text}"
        );
        assert!(
            text.contains("FIELD: restartPolicy <string>"),
            "{release}: {text}"
        );
        assert!(
            text.contains("RestartPolicy defines the restart behavior"),
            "{release}: {text}"
        );

        let out = kubectl_as(
            binary,
            &serving.kubeconfig,
            &["explain", "deployment.spec.strategy"],
        );
        let text = stdout(&out);
        assert!(
            text.starts_with("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n"),
            "{release}: {text}"
        );
        assert!(
            text.contains("rollingUpdate\t<RollingUpdateDeployment>"),
            "{release}: {text}"
        );
        assert!(text.contains("type\t<string>"), "{release}: {text}");

        let out = kubectl_as(
            binary,
            &serving.kubeconfig,
            &["explain", "pod.spec.nosuchfield"],
        );
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("field \"nosuchfield\" does not exist"),
            "{release}: {}",
            stderr(&out)
        );
    }
    // Aggregated discovery: every resource learnt from `/api` and `/apis` alone, by kubectl
    // 1.33 (v2) and 1.27 (v2beta1).
    for release in ["kubectl", "kubectl.1.27"] {
        let binary = kubectl_path(release);
        if !binary.exists() {
            continue;
        }
        let home = serving
            .kubeconfig
            .parent()
            .expect("serve dir")
            .join(".kube");
        let _ = std::fs::remove_dir_all(&home);
        let binary = binary.to_str().expect("utf-8");
        let out = kubectl_as(binary, &serving.kubeconfig, &["api-resources", "-v=6"]);
        assert!(out.status.success(), "{release}: {}", stderr(&out));
        let log = stderr(&out);
        let gets: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("GET") && l.contains("/api"))
            .filter_map(|l| l.split("https://").nth(1))
            .map(|u| u.split_once('/').map_or(u, |(_, path)| path))
            .map(|p| p.split(['?', '"', ' ']).next().unwrap_or_default())
            .collect();
        assert_eq!(gets, ["api", "apis"], "{release}: {log}");
        let text = stdout(&out);
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == ["pods", "po", "v1", "true", "Pod"]),
            "{release}: {text}"
        );
        assert!(text.contains("cronjobs"), "{release}: {text}");
    }
    // The whole tree of a kind, as `--recursive` prints it.
    let out = kubectl(&serving, &["explain", "cronjob", "--recursive"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("        initContainers\t<[]Container>"),
        "{text}"
    );
}

/// `kubectl delete namespace` takes everything in it along, as the namespace controller does:
/// workloads first, then pods (each within its grace period), Services, ConfigMaps; until it is
/// gone the namespace is Terminating and nothing new may be made in it.
#[test]
fn deleting_a_namespace_deletes_what_it_holds() {
    let test = "deleting_a_namespace_deletes_what_it_holds";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    // A fresh store's built-in namespaces and node are as old as the store, not as 1970.
    for object in ["namespace/default", "node"] {
        let out = kubectl(
            &serving,
            &[
                "get",
                object,
                "-o",
                "jsonpath={.items[0].metadata.creationTimestamp}{.metadata.creationTimestamp}",
            ],
        );
        assert!(
            !stdout(&out).starts_with("1970"),
            "{object}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(
            stdout(&out).starts_with("20"),
            "{object}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let file = env.root.path().join("shop.yaml");
    // The bare pod ignores SIGTERM and takes its whole grace period (3 s) to go.
    std::fs::write(
        &file,
        format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: shop}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: settings, namespace: shop}}
data: {{mode: fast}}
---
apiVersion: v1
kind: Service
metadata: {{name: web, namespace: shop}}
spec:
  selector: {{app: web}}
  ports: [{{port: 80}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, "3600"]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: slow, namespace: shop}}
spec:
  terminationGracePeriodSeconds: 3
  containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sh, -c, "trap '' TERM; while true; do sleep 0.2; done"]}}]
"#
        ),
    )
    .expect("write");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &[
            "wait",
            "--for=condition=Ready",
            "pod",
            "--all",
            "-n",
            "shop",
            "--timeout=60s",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&kubectl(
        &serving,
        &["get", "pods", "-n", "shop", "-o", "name"],
    ));
    assert_eq!(listed.lines().count(), 3, "{listed}");

    let out = kubectl(&serving, &["delete", "namespace", "shop", "--wait=false"]);
    assert_eq!(
        stdout(&out),
        "namespace \"shop\" deleted\n",
        "{}",
        stderr(&out)
    );
    let phase = stdout(&kubectl(
        &serving,
        &["get", "namespace", "shop", "-o", "jsonpath={.status.phase}"],
    ));
    assert_eq!(phase, "Terminating");
    let out = kubectl(&serving, &["create", "configmap", "late", "-n", "shop"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("configmaps \"late\" is forbidden: unable to create new content in namespace shop because it is being terminated"),
        "{}",
        stderr(&out)
    );
    let out = kubectl(
        &serving,
        &["wait", "--for=delete", "namespace/shop", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["get", "all,configmaps", "-n", "shop", "-o", "name"],
    );
    assert_eq!(stdout(&out), "", "{}", stderr(&out));
    // Nothing of it is left on the machine either.
    let pods = stdout(&env.tandem(&["get", "pods", "-A", "-o", "name"]));
    assert!(pods.is_empty(), "{pods}");
}

/// `kubectl apply --server-side`: created from the applied configuration, its fields owned by
/// kubectl; a field left out of the next apply goes; a field another manager changed is a
/// conflict kubectl reports (with the API server's words) until `--force-conflicts`; a
/// Deployment applied so runs its pods and scales by a second apply.
#[test]
fn server_side_apply_owns_fields_removes_dropped_ones_and_reports_conflicts() {
    let test = "server_side_apply_owns_fields_removes_dropped_ones_and_reports_conflicts";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let file = env.root.path().join("settings.yaml");
    let path = file.to_str().expect("utf-8");
    let settings = |data: &str| {
        std::fs::write(
            &file,
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {{app: demo}}\ndata: {data}\n"),
        )
        .expect("write");
    };
    settings("{a: \"1\", b: \"2\"}");
    let out = kubectl(&serving, &["apply", "--server-side", "-f", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("configmap/settings serverside-applied"),
        "{}",
        stdout(&out)
    );
    let object = |s: &Serving| -> serde_json::Value {
        let out = kubectl(
            s,
            &[
                "get",
                "configmap",
                "settings",
                "-o",
                "json",
                "--show-managed-fields",
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("json")
    };
    let cm = object(&serving);
    let managed = &cm["metadata"]["managedFields"];
    assert_eq!(managed[0]["manager"], "kubectl", "{managed}");
    assert_eq!(managed[0]["operation"], "Apply", "{managed}");
    assert_eq!(
        managed[0]["fieldsV1"],
        serde_json::json!({"f:data": {".": {}, "f:a": {}, "f:b": {}},
                           "f:metadata": {"f:labels": {".": {}, "f:app": {}}}}),
        "{managed}"
    );
    // A key left out of the manifest goes.
    settings("{a: \"1\"}");
    let out = kubectl(&serving, &["apply", "--server-side", "-f", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(object(&serving)["data"], serde_json::json!({"a": "1"}));
    // Another manager changes a: the next apply of a's old value is a conflict.
    let out = kubectl(
        &serving,
        &[
            "patch",
            "configmap",
            "settings",
            "--field-manager=ops",
            "-p",
            r#"{"data":{"a":"9"}}"#,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(&serving, &["apply", "--server-side", "-f", path]);
    assert!(!out.status.success(), "the conflict was not reported");
    let said = stderr(&out);
    assert!(
        said.contains("Apply failed with 1 conflict: conflict with \"ops\" using v1")
            && said.contains(".data.a"),
        "{said}"
    );
    assert!(said.contains("--force-conflicts"), "{said}");
    assert_eq!(object(&serving)["data"]["a"], "9", "nothing was written");
    let out = kubectl(
        &serving,
        &["apply", "--server-side", "--force-conflicts", "-f", path],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let cm = object(&serving);
    assert_eq!(cm["data"]["a"], "1");
    let managers: Vec<&str> = cm["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["manager"].as_str())
        .collect();
    assert_eq!(managers, ["kubectl"], "ops lost a to the forced apply");
    let out = kubectl(
        &serving,
        &["apply", "--server-side", "--field-manager=", "-f", path],
    );
    assert!(!out.status.success());

    // A Deployment applied server-side runs its pods; a second apply scales it.
    let deploy = env.root.path().join("web.yaml");
    let write_deploy = |replicas: u32| {
        std::fs::write(
            &deploy,
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - {{name: app, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, \"3600\"]}}\n"
            ),
        )
        .expect("write");
    };
    let deploy_path = deploy.to_str().expect("utf-8");
    write_deploy(1);
    let out = kubectl(&serving, &["apply", "--server-side", "-f", deploy_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    write_deploy(2);
    let out = kubectl(&serving, &["apply", "--server-side", "-f", deploy_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("two running replicas", 60, || {
        (running_pods(&serving, "app=web") == 2).then_some(())
    });
    let out = kubectl(&serving, &["delete", "-f", deploy_path, "-f", path]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `kubectl delete --cascade=orphan`: the workload goes and its pods keep running, without it
/// as their owner; the next StatefulSet of that name adopts them (the same pods, not made
/// again). A Deployment's ReplicaSet stays as a ReplicaSet of its own, which then scales.
#[test]
fn orphaned_pods_keep_running_and_the_next_statefulset_adopts_them() {
    let test = "orphaned_pods_keep_running_and_the_next_statefulset_adopts_them";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let file = env.root.path().join("sts.yaml");
    let path = file.to_str().expect("utf-8");
    std::fs::write(
        &file,
        format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  serviceName: web\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - {{name: app, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, \"3600\"]}}\n"),
    )
    .expect("write");
    let out = kubectl(&serving, &["apply", "-f", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["rollout", "status", "statefulset/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pods = |s: &Serving| -> Vec<(String, String, String)> {
        let out = kubectl(
            s,
            &[
                "get",
                "pods",
                "-l",
                "app=web",
                "-o",
                r#"jsonpath={range .items[*]}{.metadata.name} {.metadata.uid} {.metadata.ownerReferences[0].uid}{"\n"}{end}"#,
            ],
        );
        let mut v: Vec<(String, String, String)> = stdout(&out)
            .lines()
            .filter_map(|l| {
                let mut w = l.split(' ');
                Some((
                    w.next()?.into(),
                    w.next()?.into(),
                    w.next().unwrap_or("").into(),
                ))
            })
            .collect();
        v.sort();
        v
    };
    let before = pods(&serving);
    assert_eq!(before.len(), 2, "{before:?}");
    let out = kubectl(
        &serving,
        &["delete", "statefulset", "web", "--cascade=orphan"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the StatefulSet to go", 30, || {
        (!kubectl(&serving, &["get", "statefulset", "web"])
            .status
            .success())
        .then_some(())
    });
    let orphans = pods(&serving);
    assert_eq!(
        orphans
            .iter()
            .map(|(n, u, o)| (n.as_str(), u.as_str(), o.as_str()))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|(n, u, _)| (n.as_str(), u.as_str(), ""))
            .collect::<Vec<_>>(),
        "the same pods, without an owner"
    );
    // Made again: it adopts them rather than making new ones.
    let out = kubectl(&serving, &["apply", "-f", path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let uid = stdout(&kubectl(
        &serving,
        &[
            "get",
            "statefulset",
            "web",
            "-o",
            "jsonpath={.metadata.uid}",
        ],
    ));
    let adopted = wait_for("the pods adopted", 30, || {
        let now = pods(&serving);
        now.iter().all(|(_, _, owner)| *owner == uid).then_some(now)
    });
    assert_eq!(
        adopted
            .iter()
            .map(|(n, u, _)| (n.clone(), u.clone()))
            .collect::<Vec<_>>(),
        before
            .iter()
            .map(|(n, u, _)| (n.clone(), u.clone()))
            .collect::<Vec<_>>()
    );
    let out = kubectl(
        &serving,
        &["rollout", "status", "statefulset/web", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(&serving, &["delete", "-f", path]);
    assert!(out.status.success(), "{}", stderr(&out));

    // A Deployment's ReplicaSet stays, with its pod, and scales on its own.
    let deploy = env.root.path().join("deploy.yaml");
    std::fs::write(
        &deploy,
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: api}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: api}}}}\n  template:\n    metadata: {{labels: {{app: api}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - {{name: app, image: {IMAGE}, imagePullPolicy: Never, command: [sleep, \"3600\"]}}\n"),
    )
    .expect("write");
    let deploy_path = deploy.to_str().expect("utf-8");
    let out = kubectl(&serving, &["apply", "-f", deploy_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["rollout", "status", "deployment/api", "--timeout=60s"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let pod_uid = |s: &Serving| {
        stdout(&kubectl(
            s,
            &[
                "get",
                "pods",
                "-l",
                "app=api",
                "-o",
                "jsonpath={.items[*].metadata.uid}",
            ],
        ))
    };
    let first = pod_uid(&serving);
    let out = kubectl(
        &serving,
        &["delete", "deployment", "api", "--cascade=orphan"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rs = wait_for("the ReplicaSet on its own", 30, || {
        let out = kubectl(
            &serving,
            &[
                "get",
                "replicasets",
                "-l",
                "app=api",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
        );
        let name = stdout(&out).trim().to_string();
        (!name.is_empty()
            && !kubectl(&serving, &["get", "deployment", "api"])
                .status
                .success())
        .then_some(name)
    });
    assert_eq!(pod_uid(&serving), first, "the pod kept running");
    let out = kubectl(&serving, &["scale", "replicaset", &rs, "--replicas=2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("two pods of the ReplicaSet", 60, || {
        (running_pods(&serving, "app=api") == 2).then_some(())
    });
    let out = kubectl(&serving, &["delete", "replicaset", &rs]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// RBAC as a cluster's: the kubeconfig's holder is the admin and may act as anyone
/// (`--as`, `--as-group`); whom it impersonates gets what the store's Roles, ClusterRoles and
/// bindings grant (and the built-in `view`, `edit`, `admin` and discovery roles), and is
/// refused the rest in the API server's words. `kubectl auth can-i` answers the same.
#[test]
fn impersonated_users_get_what_their_rbac_bindings_grant_and_no_more() {
    if require_root("impersonated_users_get_what_their_rbac_bindings_grant_and_no_more").is_none()
        || !kubectl_installed("impersonated_users_get_what_their_rbac_bindings_grant_and_no_more")
    {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let rbac = r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: config-reader}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: app-reads-config}
subjects: [{kind: ServiceAccount, name: app}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: config-reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: qa-views}
subjects: [{kind: Group, name: qa, apiGroup: rbac.authorization.k8s.io}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
"#;
    let file = env.root.path().join("rbac.yaml");
    std::fs::write(&file, rbac).expect("write");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sa = "--as=system:serviceaccount:default:app";
    let can_i = |args: &[&str]| {
        let mut all = vec!["auth", "can-i"];
        all.extend_from_slice(args);
        let out = kubectl(&serving, &all);
        (stdout(&out).trim().to_string(), out.status.code())
    };
    assert_eq!(can_i(&["list", "configmaps", sa]), ("yes".into(), Some(0)));
    assert_eq!(
        can_i(&["list", "configmaps", "-n", "kube-system", sa]),
        ("no".into(), Some(1))
    );
    assert_eq!(can_i(&["list", "secrets", sa]), ("no".into(), Some(1)));
    assert_eq!(can_i(&["get", "/version", sa]), ("yes".into(), Some(0)));
    assert_eq!(
        can_i(&["delete", "pods", "--all-namespaces"]),
        ("yes".into(), Some(0))
    );

    let out = kubectl(&serving, &["get", "configmaps", sa]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(&serving, &["get", "secrets", sa]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Error from server (Forbidden): secrets is forbidden: User \"system:serviceaccount:default:app\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""),
        "{}",
        stderr(&out)
    );
    // A group bound to the built-in `view`: reads pods and deployments, changes nothing, and
    // does not read Secrets.
    let qa = ["--as=jane", "--as-group=qa"];
    let out = kubectl(&serving, &["get", "pods,deployments", qa[0], qa[1]]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        can_i(&["get", "secrets", qa[0], qa[1]]),
        ("no".into(), Some(1))
    );
    let out = kubectl(&serving, &["create", "configmap", "nope", qa[0], qa[1]]);
    assert!(
        stderr(&out).contains("configmaps is forbidden: User \"jane\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"default\""),
        "{}",
        stderr(&out)
    );
    // Without the group, jane is only authenticated: discovery, and nothing else.
    let out = kubectl(&serving, &["get", "pods", "--as=jane"]);
    assert!(stderr(&out).contains("(Forbidden)"), "{}", stderr(&out));
    // Who am I, and what may I do here.
    let out = kubectl(&serving, &["auth", "whoami", qa[0], qa[1]]);
    let who = stdout(&out);
    assert!(
        who.contains("jane") && who.contains("[qa system:authenticated]"),
        "{who}{}",
        stderr(&out)
    );
    let out = kubectl(&serving, &["auth", "can-i", "--list", sa]);
    let rules = stdout(&out);
    let row = |resource: &str| {
        rules
            .lines()
            .find(|l| l.split_whitespace().next() == Some(resource))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert_eq!(
        row("configmaps"),
        "configmaps [] [] [get list watch]",
        "{rules}"
    );
    assert_eq!(
        row("selfsubjectaccessreviews.authorization.k8s.io"),
        "selfsubjectaccessreviews.authorization.k8s.io [] [] [create]",
        "{rules}"
    );
    assert!(row("secrets").is_empty(), "{rules}");
}

/// `kubectl create token` gives a service account's token; a kubeconfig with only that token
/// (no client certificate) acts as the account, with what its RBAC bindings grant; the token
/// stops working when the account is deleted, and a too short duration is refused as the API
/// server refuses it. Every namespace has a `default` account, made again when deleted.
#[test]
fn a_service_accounts_token_acts_as_the_account() {
    let test = "a_service_accounts_token_acts_as_the_account";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let rbac = r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader-views}
subjects: [{kind: ServiceAccount, name: reader}]
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
"#;
    let file = env.root.path().join("reader.yaml");
    std::fs::write(&file, rbac).expect("write");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(&serving, &["create", "token", "reader"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let token = stdout(&out).trim().to_string();
    assert_eq!(token.split('.').count(), 3, "{token}");

    // A kubeconfig of the token alone, made with kubectl's own commands.
    let config = env.root.path().join("reader.kubeconfig");
    let ca = env.root.path().join("ca.crt");
    let ca_pem = std::fs::read_to_string(env.root.path().join("serve/ca.crt")).expect("ca");
    std::fs::write(&ca, ca_pem).expect("write ca");
    for args in [
        vec![
            "config",
            "set-cluster",
            "t",
            "--server",
            serving.url.as_str(),
            "--certificate-authority",
            ca.to_str().expect("utf-8"),
        ],
        vec![
            "config",
            "set-credentials",
            "reader",
            "--token",
            token.as_str(),
        ],
        vec![
            "config",
            "set-context",
            "reader",
            "--cluster",
            "t",
            "--user",
            "reader",
            "--namespace",
            "default",
        ],
        vec!["config", "use-context", "reader"],
    ] {
        let out = kubectl_as("kubectl", &config, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let as_reader = |args: &[&str]| kubectl_as("kubectl", &config, args);
    let out = as_reader(&["auth", "whoami"]);
    assert!(
        stdout(&out).contains("system:serviceaccount:default:reader"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = as_reader(&["get", "pods"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = as_reader(&["get", "secrets"]);
    assert!(
        stderr(&out).contains("secrets is forbidden: User \"system:serviceaccount:default:reader\" cannot list resource \"secrets\""),
        "{}",
        stderr(&out)
    );
    let out = as_reader(&["get", "pods", "-n", "kube-system"]);
    assert!(stderr(&out).contains("(Forbidden)"), "{}", stderr(&out));

    // Too short a token, as the API server refuses it.
    let out = kubectl(&serving, &["create", "token", "reader", "--duration=1m"]);
    assert!(
        stderr(&out).contains("spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"),
        "{}",
        stderr(&out)
    );
    let out = kubectl(&serving, &["create", "token", "nobody"]);
    assert!(
        stderr(&out).contains("serviceaccounts \"nobody\" not found"),
        "{}",
        stderr(&out)
    );
    // Every namespace has its `default` account, as the serviceaccounts controller makes it:
    // one may have tokens; deleted, it comes back as a new object (whose old tokens end).
    let out = kubectl(&serving, &["get", "serviceaccounts", "-A", "-o", "name"]);
    assert_eq!(
        stdout(&out).matches("serviceaccount/default").count(),
        4,
        "{}",
        stdout(&out)
    );
    let uid = |s: &Serving| {
        stdout(&kubectl(
            s,
            &["get", "sa", "default", "-o", "jsonpath={.metadata.uid}"],
        ))
    };
    let before = uid(&serving);
    let out = kubectl(&serving, &["create", "token", "default"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(&serving, &["delete", "sa", "default", "--timeout=20s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = uid(&serving);
    assert!(!after.is_empty() && after != before, "{before} {after}");
    let out = kubectl(&serving, &["create", "namespace", "shop"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["get", "sa", "default", "-n", "shop", "-o", "name"],
    );
    assert_eq!(stdout(&out), "serviceaccount/default\n", "{}", stderr(&out));

    // The account gone, its token is no one's.
    let out = kubectl(&serving, &["delete", "serviceaccount", "reader"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let refused = wait_for("the token to be refused", 10, || {
        let out = as_reader(&["get", "pods"]);
        (!out.status.success()).then(|| stderr(&out))
    });
    assert!(refused.contains("Unauthorized"), "{refused}");
}

/// A pod reaches the API as a cluster's pods do: through the `kubernetes` Service (its
/// environment and its DNS name) with the token, CA and namespace of its projected
/// `kube-api-access` volume — here the real kubectl run inside the container, with nothing but
/// its in-cluster configuration — as its account, authorized by RBAC; the account deleted, its
/// token is refused. A pod started with `tandem run` gets the same, as the namespace's
/// `default` account.
#[test]
fn a_pods_own_token_reaches_the_api_through_the_kubernetes_service() {
    let test = "a_pods_own_token_reaches_the_api_through_the_kubernetes_service";
    if require_root(test).is_none() || !kubectl_installed(test) {
        return;
    }
    let env = Env::new();
    let serving = Serving::start(&env);
    let kubectl_binary = kubectl_path("kubectl");
    let pod = |name: &str, account: &str| {
        format!(
            r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  serviceAccountName: {account}
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: {IMAGE}
    command: [sleep, "3600"]
    env: [{{name: HOME, value: /tmp}}]
    volumeMounts: [{{name: kubectl, mountPath: /bin/kubectl}}]
  volumes:
  - name: kubectl
    hostPath: {{path: {}, type: File}}
"#,
            kubectl_binary.display()
        )
    };
    let file = env.root.path().join("reader.yaml");
    let objects = format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: reader}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: pod-reader}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get, list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: reader-reads-pods}}
subjects: [{{kind: ServiceAccount, name: reader}}]
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}}
---
{}"#,
        pod("reader", "reader")
    );
    std::fs::write(&file, objects).expect("write");
    let out = kubectl(&serving, &["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ready = |pod: &str| {
        let out = kubectl(
            &serving,
            &["wait", "--for=condition=Ready", pod, "--timeout=60s"],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    };
    ready("pod/reader");
    // A pod of an account that does not exist is refused as the admission plugin refuses it.
    let ghost = env.root.path().join("ghost.yaml");
    std::fs::write(&ghost, pod("ghost", "nobody")).expect("write");
    let out = kubectl(&serving, &["apply", "-f", ghost.to_str().expect("utf-8")]);
    assert!(
        stderr(&out).contains("Error from server (Forbidden): error when creating")
            && stderr(&out).contains("pods \"ghost\" is forbidden: error looking up service account default/nobody: serviceaccount \"nobody\" not found"),
        "{}",
        stderr(&out)
    );
    let inside =
        |pod: &str, script: &str| kubectl(&serving, &["exec", pod, "--", "sh", "-c", script]);
    // The volume the admission added, as kubectl shows it.
    let out = kubectl(
        &serving,
        &[
            "get",
            "pod",
            "reader",
            "-o",
            "jsonpath={.spec.volumes[1].name} {.spec.containers[0].volumeMounts[1].mountPath}",
        ],
    );
    let shown = stdout(&out);
    assert!(
        shown.starts_with("kube-api-access-")
            && shown.ends_with(" /var/run/secrets/kubernetes.io/serviceaccount"),
        "{shown}"
    );
    let out = inside(
        "reader",
        "cd /var/run/secrets/kubernetes.io/serviceaccount && cat namespace && echo && stat -c %a ..data/token && cat ca.crt",
    );
    let ca = std::fs::read_to_string(env.root.path().join("serve/ca.crt")).expect("ca");
    assert_eq!(
        stdout(&out),
        format!("default\n644\n{ca}"),
        "{}",
        stderr(&out)
    );
    // The kubelet's environment leads to the Service; kubectl's in-cluster configuration
    // reads it and the volume's files, nothing else.
    let out = inside(
        "reader",
        "kubectl auth whoami -o jsonpath='{.status.userInfo.username}' && echo && kubectl get pods -o name && kubectl get pod reader -o jsonpath='{.spec.serviceAccountName}'",
    );
    assert_eq!(
        stdout(&out),
        "system:serviceaccount:default:reader\npod/reader\nreader",
        "{}",
        stderr(&out)
    );
    let out = inside("reader", "kubectl get secrets");
    assert!(
        stderr(&out).contains("secrets is forbidden: User \"system:serviceaccount:default:reader\" cannot list resource \"secrets\""),
        "{}",
        stderr(&out)
    );
    // By the Service's DNS name (the cluster DNS answers it), which the server's certificate
    // carries.
    let out = inside(
        "reader",
        "KUBERNETES_SERVICE_HOST=kubernetes.default.svc kubectl get pods -o name",
    );
    assert_eq!(stdout(&out), "pod/reader\n", "{}", stderr(&out));

    // A sidecar that checks its callers through the API (kube-rbac-proxy's way): with
    // `system:auth-delegator` bound to its account, a TokenReview of a token and a
    // SubjectAccessReview of a user, as the API server answers them.
    let out = inside(
        "reader",
        "printf '{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{\"token\":\"%s\"}}' $(cat /var/run/secrets/kubernetes.io/serviceaccount/token) | kubectl create -f - -o jsonpath='{.status.authenticated}'",
    );
    assert!(
        stderr(&out).contains("tokenreviews.authentication.k8s.io is forbidden"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let out = kubectl(
        &serving,
        &[
            "create",
            "clusterrolebinding",
            "reader-delegates",
            "--clusterrole=system:auth-delegator",
            "--serviceaccount=default:reader",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = inside(
        "reader",
        "printf '{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{\"token\":\"%s\"}}' $(cat /var/run/secrets/kubernetes.io/serviceaccount/token) | kubectl create -f - -o jsonpath='{.status.user.username} {.status.user.extra.authentication\\.kubernetes\\.io/pod-name} {.status.audiences}'",
    );
    assert_eq!(
        stdout(&out),
        "system:serviceaccount:default:reader [\"reader\"] [\"https://kubernetes.default.svc.cluster.local\"]",
        "{}",
        stderr(&out)
    );
    let review = |verb: &str, resource: &str| {
        format!("printf '{{\"apiVersion\":\"authorization.k8s.io/v1\",\"kind\":\"SubjectAccessReview\",\"spec\":{{\"user\":\"system:serviceaccount:default:reader\",\"resourceAttributes\":{{\"namespace\":\"default\",\"verb\":\"{verb}\",\"resource\":\"{resource}\"}}}}}}' | kubectl create -f - -o jsonpath='{{.status.allowed}}'")
    };
    let out = inside("reader", &review("list", "pods"));
    assert_eq!(stdout(&out), "true", "{}", stderr(&out));
    let out = inside("reader", &review("list", "secrets"));
    assert_eq!(stdout(&out), "false", "{}", stderr(&out));
    // A token that is no one's is not authenticated.
    let out = inside(
        "reader",
        "printf '{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{\"token\":\"a.b.c\"}}' | kubectl create -f - -o jsonpath='{.status.authenticated}'",
    );
    assert_eq!(stdout(&out), "", "{}", stderr(&out));
    assert!(out.status.success(), "{}", stderr(&out));

    // A file of `tandem run`: its account and RBAC are kept before its pod starts, as
    // `kubectl apply` of it would keep them, and its pod acts as that account.
    let run_file = env.root.path().join("runner.yaml");
    let runner = format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: runner}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: pod-lister}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: runner-lists-pods}}
subjects: [{{kind: ServiceAccount, name: runner}}]
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-lister}}
---
{}"#,
        pod("plain", "runner")
    );
    std::fs::write(&run_file, runner).expect("write");
    let run_path = run_file.to_str().expect("utf-8");
    let out = env.tandem(&["run", "-d", "-f", run_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "serviceaccount/runner created\nclusterrole.rbac.authorization.k8s.io/pod-lister created\nrolebinding.rbac.authorization.k8s.io/runner-lists-pods created\npod/plain created\n"
    );
    assert!(!stderr(&out).contains("Warning"), "{}", stderr(&out));
    ready("pod/plain");
    let out = inside(
        "plain",
        "kubectl auth whoami -o jsonpath='{.status.userInfo.username}' && echo && kubectl get pods -o name; kubectl get pod plain",
    );
    assert_eq!(
        stdout(&out),
        "system:serviceaccount:default:runner\npod/plain\npod/reader\n"
    );
    assert!(
        stderr(&out).contains("pods \"plain\" is forbidden: User \"system:serviceaccount:default:runner\" cannot get resource \"pods\""),
        "{}",
        stderr(&out)
    );
    let out = kubectl(
        &serving,
        &[
            "get",
            "configmap",
            "kube-root-ca.crt",
            "-o",
            "jsonpath={.data.ca\\.crt}",
        ],
    );
    assert_eq!(stdout(&out), ca);

    // The account deleted, the pod's token is no one's.
    let out = kubectl(&serving, &["delete", "serviceaccount", "reader"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = inside("reader", "kubectl get pods");
    assert!(stderr(&out).contains("Unauthorized"), "{}", stderr(&out));
    // `delete -f` takes the file's account and RBAC with its pod.
    let out = env.tandem(&["delete", "-f", run_path]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kubectl(
        &serving,
        &["get", "sa,clusterrole,rolebinding", "-o", "name"],
    );
    let left = stdout(&out);
    assert!(
        !left.contains("runner")
            && !left.contains("pod-lister")
            && left.contains("serviceaccount/default"),
        "{left}"
    );
    let out = kubectl(&serving, &["delete", "pods", "--all", "--wait"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
