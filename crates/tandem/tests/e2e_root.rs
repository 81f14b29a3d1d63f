//! The core path on real containers (tier T3): the examples run and are checked from inside the
//! containers; broken input is refused with located errors and leaves nothing; 50 pods come and
//! go without leaking mounts, cgroups, processes or files.

mod support;

use std::process::Stdio;
use std::time::Duration;

use support::*;

fn example(name: &str) -> String {
    std::fs::read_to_string(repo().join("examples").join(name)).expect("example")
}

#[test]
fn sidecar_logging_example_ships_the_apps_log_through_a_shared_volume() {
    let Some(()) = require_root("sidecar_logging_example") else {
        return;
    };
    let env = Env::new();
    let out = env.run_yaml(&example("sidecar-logging.yaml"), &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    // The app wrote to the emptyDir; the sidecar read the same file through its read-only mount.
    let shipped = stdout(&env.tandem(&["logs", "sidecar-logging", "-c", "log-shipper"]));
    for i in 1..=5 {
        assert!(
            shipped.contains(&format!("order placed by sidecar-logging #{i}")),
            "line {i} not shipped: {shipped}"
        );
    }
    // The native sidecar stopped after the app and got to flush.
    assert!(shipped.contains("shipper: flushed, exiting"), "{shipped}");
    let pod: serde_json::Value = serde_json::from_slice(
        &env.tandem(&["get", "pod", "sidecar-logging", "-o", "json"])
            .stdout,
    )
    .expect("json");
    assert_eq!(pod["status"]["phase"], "Succeeded");
    let app_end = pod["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"]
        .as_str()
        .expect("app finished")
        .to_string();
    let shipper_end = pod["status"]["initContainerStatuses"][0]["state"]["terminated"]
        ["finishedAt"]
        .as_str()
        .expect("sidecar finished")
        .to_string();
    assert!(
        app_end <= shipper_end,
        "sidecar stopped before the app: {app_end} > {shipper_end}"
    );
}

#[test]
fn ambassador_example_reaches_the_database_over_localhost() {
    let Some(()) = require_root("ambassador_example") else {
        return;
    };
    let env = Env::new();
    let out = env.run_yaml(&example("ambassador.yaml"), &[]);
    assert!(
        out.status.success(),
        "run failed: {} {}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("app: db: result for SELECT"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn adapter_example_serves_prometheus_text_converted_from_stats() {
    let Some(()) = require_root("adapter_example") else {
        return;
    };
    let env = Env::new();
    let out = env.run_yaml(&example("adapter.yaml"), &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("legacy_requests 42") && text.contains("legacy_errors 3"),
        "{text}"
    );
}

#[test]
fn configmap_and_secret_become_read_only_files_and_env() {
    let Some(()) = require_root("configmap_example") else {
        return;
    };
    let env = Env::new();
    let out = env.run_yaml(&example("configmap.yaml"), &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("level=debug token-length=6"),
        "envFrom prefix or secretKeyRef: {text}"
    );
    assert!(text.contains("format = json"), "configMap file: {text}");
    assert!(
        text.contains("-r--------"),
        "secret defaultMode 0400: {text}"
    );
    assert!(
        text.contains("config read-only"),
        "configMap volumes are read-only: {text}"
    );
}

const CHECKS: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: checks
spec:
  restartPolicy: Never
  volumes:
    - name: data
      emptyDir: {}
    - name: mem
      emptyDir: {medium: Memory, sizeLimit: 1Mi}
  containers:
    - name: writer
      image: localhost/tandem-busybox:1.35
      env:
        - {name: A, value: one}
        - {name: B, value: "$(A)-two"}
        - {name: C, value: "$$(A)"}
        - {name: NS, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
      workingDir: /tmp
      command: ["sh", "-c", "echo hostname=$(hostname); echo B=$B C=$C NS=$NS; echo cwd=$(pwd); echo id=$(id -u); echo shared > /data/file; grep -c '^127.0.0.1\tlocalhost$' /etc/hosts; cat /etc/hostname; df /mem | tail -1 | awk '{print \"memsize=\" $2}'; echo args: $0", "$(B)"]
      volumeMounts:
        - {name: data, mountPath: /data}
        - {name: mem, mountPath: /mem}
    - name: reader
      image: localhost/tandem-busybox:1.35
      securityContext: {runAsUser: 1000}
      command: ["sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do [ -f /data/file ] && break; sleep 0.1; done; cat /data/file; echo uid=$(id -u); (echo x > /data/other) 2>/dev/null && echo ro-broken || echo ro-ok"]
      volumeMounts:
        - {name: data, mountPath: /data, readOnly: true}
"#;

#[test]
fn containers_share_volumes_and_hostname_and_expand_env_like_kubernetes() {
    let Some(()) = require_root("container_checks") else {
        return;
    };
    let env = Env::new();
    let out = env.run_yaml(CHECKS, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let w = stdout(&env.tandem(&["logs", "checks", "-c", "writer"]));
    assert!(
        w.contains("hostname=checks"),
        "hostname is the pod name: {w}"
    );
    assert!(
        w.contains("B=one-two C=$(A) NS=default"),
        "env expansion: {w}"
    );
    assert!(w.contains("cwd=/tmp") && w.contains("id=0"), "{w}");
    assert!(
        w.lines().any(|l| l == "1"),
        "/etc/hosts is the kubelet's: {w}"
    );
    assert!(w.lines().any(|l| l == "checks"), "/etc/hostname: {w}");
    assert!(
        w.contains("memsize=1024"),
        "medium: Memory with sizeLimit is a 1Mi tmpfs: {w}"
    );
    assert!(w.contains("args: one-two"), "$(VAR) in args: {w}");
    let r = stdout(&env.tandem(&["logs", "checks", "-c", "reader"]));
    assert!(
        r.contains("shared") && r.contains("uid=1000") && r.contains("ro-ok"),
        "{r}"
    );
}

#[test]
fn broken_manifests_are_refused_with_located_errors_and_start_nothing() {
    let Some(()) = require_root("broken_manifests") else {
        return;
    };
    let env = Env::new();
    let cases = [
        ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  contianers:\n  - name: a\n    image: x\n", "did you mean \"containers\""),
        ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: a\n    image: x\n    ports:\n    - containerPort: 70000\n", "<stdin>:10:22"),
        ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: Bad_Name\nspec:\n  containers:\n  - name: a\n    image: x\n", "<stdin>:4:"),
        ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: bad\nspec:\n  containers:\n  - name: a\n    image: x\n    volumeMounts:\n    - name: nope\n      mountPath: /x\n", "nope"),
    ];
    for (yaml, expect) in cases {
        let out = env.run_yaml(yaml, &["-d"]);
        assert!(!out.status.success(), "accepted: {yaml}");
        assert!(
            stderr(&out).contains(expect),
            "expected {expect:?} in:\n{}",
            stderr(&out)
        );
        assert!(
            std::fs::read_dir(env.pods_dir())
                .map(|d| d.count())
                .unwrap_or(0)
                == 0,
            "something was created for {yaml}"
        );
    }
}

#[test]
fn a_missing_image_is_named_and_nothing_is_left() {
    let Some(()) = require_root("missing_image") else {
        return;
    };
    let env = Env::new();
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: noimage\nspec:\n  containers:\n  - name: a\n    image: localhost/does-not-exist:1\n    imagePullPolicy: Never\n";
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("localhost/does-not-exist:1")
            && err.contains("ErrImageNeverPull")
            && err.contains("hint:"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(env.pods_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0
    );
}

/// A small tmpfs the test owns, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = tempfile::Builder::new()
            .prefix("tandem-full-")
            .tempdir()
            .expect("tempdir");
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount");
        assert!(ok.success(), "mount tmpfs");
        SmallDisk { dir }
    }

    /// Everything below the disk that is a file (directories may stay: they are the store's
    /// skeleton, made before anything is written).
    fn files(&self) -> Vec<String> {
        fn walk(d: &std::path::Path, out: &mut Vec<String>) {
            for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else {
                    out.push(p.display().to_string());
                }
            }
        }
        let mut out = vec![];
        walk(self.dir.path(), &mut out);
        out
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l"])
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_full_disk_is_named_with_a_hint_and_leaves_nothing_half_made() {
    let Some(()) = require_root("full_disk") else {
        return;
    };
    // The busybox rootfs, kept as a tarball to import onto the small disks.
    let env = Env::new();
    let tar = env.rootfs_tar();
    let tandem = |root: &std::path::Path, args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("--root")
            .arg(root)
            .args(args)
            .output()
            .expect("tandem")
    };

    // An image that does not fit: the import fails, says why and what to do, and keeps nothing.
    let disk = SmallDisk::new("600k");
    let tar_s = tar.to_string_lossy();
    let out = tandem(
        disk.dir.path(),
        &["image", "import", &tar_s, "localhost/x:1"],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("error: cannot import"), "{err}");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("hint: the filesystem is full"), "{err}");
    let left: Vec<String> = disk
        .files()
        .into_iter()
        .filter(|f| !f.ends_with("/lock"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");

    // A pod whose state cannot be written: refused with the same advice, no pod left behind.
    let disk = SmallDisk::new("8m");
    let out = tandem(
        disk.dir.path(),
        &["image", "import", &tar_s, "localhost/tandem-busybox:1.35"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let filler = disk.dir.path().join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .output();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("--root")
        .arg(disk.dir.path())
        .args(["run", "-d", "--network", "none", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    {
        use std::io::Write;
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: full}\nspec:\n  containers:\n  - {name: a, image: localhost/tandem-busybox:1.35, command: [sleep, '60']}\n";
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(yaml.as_bytes()).expect("manifest");
    }
    let out = child.wait_with_output().expect("run");
    let err = stderr(&out);
    assert!(!out.status.success(), "a pod started on a full disk");
    assert!(err.contains("No space left on device"), "{err}");
    assert!(err.contains("hint: the filesystem is full"), "{err}");
    let pods = disk.dir.path().join("pods");
    assert_eq!(
        std::fs::read_dir(&pods).map(|d| d.count()).unwrap_or(0),
        0,
        "a half-made pod directory is left"
    );
    assert!(mounts_under(&pods).is_empty());
    let _ = std::fs::remove_file(&filler);
}

const SERVER: &str = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: NAME\nspec:\n  terminationGracePeriodSeconds: 5\n  containers:\n  - name: main\n    image: localhost/tandem-busybox:1.35\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n";

#[test]
fn a_pod_name_in_use_is_refused_and_the_running_pod_is_untouched() {
    let Some(()) = require_root("already_exists") else {
        return;
    };
    let env = Env::new();
    let yaml = SERVER.replace("NAME", "dup");
    assert!(env.run_yaml(&yaml, &["-d"]).status.success());
    let uid = uid_of(&env, "dup");
    let second = env.run_yaml(&yaml, &["-d"]);
    assert!(!second.status.success());
    assert!(
        stderr(&second).contains("pods \"dup\" already exists"),
        "{}",
        stderr(&second)
    );
    assert_eq!(uid_of(&env, "dup"), uid, "the running pod was replaced");
    let mut get = String::new();
    for _ in 0..100 {
        get = stdout(&env.tandem(&["get", "pods"]));
        if get.contains("Running") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        get.contains("dup") && get.contains("1/1") && get.contains("Running"),
        "{get}"
    );
    assert!(env.tandem(&["delete", "pod", "dup"]).status.success());
}

#[test]
fn ctrl_c_stops_a_foreground_pod_gracefully() {
    let Some(()) = require_root("ctrl_c") else {
        return;
    };
    let env = Env::new();
    let yaml = SERVER.replace("NAME", "fg");
    let path = env.root.path().join("fg.yaml");
    std::fs::write(&path, yaml).expect("write");
    let child = env
        .cmd()
        .arg("run")
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Wait for the pod to be running, then interrupt the CLI as a terminal would.
    for _ in 0..100 {
        if stdout(&env.tandem(&["get", "pods"])).contains("Running") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("signal");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "graceful stop exits 0: {}",
        stderr(&out)
    );
    assert!(
        !env.pods_dir().join("default_fg").exists(),
        "deleted pod left its directory"
    );
}

#[test]
fn fifty_pods_come_and_go_without_leaking_anything() {
    let Some(()) = require_root("fifty_pods") else {
        return;
    };
    let env = Env::new();
    let root = env.root.path().to_path_buf();
    let mut uids = vec![];
    for i in 0..50 {
        let name = format!("leak-{i}");
        let out = env.run_yaml(&SERVER.replace("NAME", &name), &["-d"]);
        assert!(out.status.success(), "pod {i}: {}", stderr(&out));
        uids.push(uid_of(&env, &name));
        let del = env.tandem(&["delete", "pod", &name, "--grace-period", "1"]);
        assert!(del.status.success(), "delete {i}: {}", stderr(&del));
    }
    assert_eq!(
        std::fs::read_dir(env.pods_dir())
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "pod directories left"
    );
    assert_eq!(mounts_under(&root), Vec::<String>::new(), "mounts left");
    let procs = processes_mentioning(&root.to_string_lossy());
    assert!(procs.is_empty(), "processes left: {procs:?}");
    for uid in &uids {
        assert_eq!(
            cgroups_of(uid),
            Vec::<std::path::PathBuf>::new(),
            "cgroups left for {uid}"
        );
    }
}

fn wait_for(env: &Env, pod: &str, needle: &str) -> String {
    let mut last = String::new();
    for _ in 0..200 {
        last = stdout(&env.tandem(&["get", "pod", pod, "-o", "json"]));
        if last.contains(needle) {
            return last;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("pod {pod} never showed {needle:?}: {last}");
}

#[test]
fn a_detached_pod_is_listed_shown_and_deleted_by_its_file() {
    let Some(()) = require_root("detached_lifecycle") else {
        return;
    };
    let env = Env::new();
    let file = env.root.path().join("pod.yaml");
    let yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{k: v}}\n---\n{}",
        SERVER.replace("NAME", "det")
    );
    std::fs::write(&file, yaml).expect("write");
    let file = file.to_string_lossy().into_owned();
    let out = env.tandem(&["run", "-d", "-f", &file]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The file's ConfigMap is kept, as `kubectl create -f` keeps it.
    assert_eq!(stdout(&out).trim(), "configmap/c created\npod/det created");
    wait_for(&env, "det", "\"Running\"");
    assert_eq!(
        stdout(&env.tandem(&["get", "pods", "-o", "name"])).trim(),
        "pod/det"
    );
    let yaml = stdout(&env.tandem(&["get", "pod", "det", "-o", "yaml"]));
    assert!(
        yaml.contains("phase: Running")
            && yaml.contains("kind: Pod")
            && yaml.contains("restartCount: 0"),
        "{yaml}"
    );
    let wide = stdout(&env.tandem(&["get", "pods", "-o", "wide"]));
    assert!(
        wide.starts_with("NAME") && wide.contains("NODE") && wide.contains("1/1"),
        "{wide}"
    );
    let events = stdout(&env.tandem(&["get", "events", "--for", "pod/det"]));
    assert!(
        events.contains("Started") && events.contains("pod/det (main)"),
        "{events}"
    );
    let del = env.tandem(&["delete", "-f", &file]);
    assert!(del.status.success(), "{}", stderr(&del));
    assert_eq!(
        stdout(&del).trim(),
        "pod \"det\" deleted\nconfigmap \"c\" deleted"
    );
    assert!(!env.pods_dir().join("default_det").exists());
    let missing = env.tandem(&["delete", "pod", "det"]);
    assert!(
        !missing.status.success() && stderr(&missing).contains("pods \"det\" not found"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn a_crashing_container_restarts_and_keeps_its_previous_log() {
    let Some(()) = require_root("crash_restart") else {
        return;
    };
    let env = Env::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: crash}
spec:
  restartPolicy: OnFailure
  volumes: [{name: d, emptyDir: {}}]
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /d/n; echo attempt-$n; exit 3"]
      volumeMounts: [{name: d, mountPath: /d}]
"#;
    assert!(env.run_yaml(yaml, &["-d"]).status.success());
    // The first restart is immediate; the second waits 10 s in CrashLoopBackOff.
    let status = wait_for(&env, "crash", "CrashLoopBackOff");
    let pod: serde_json::Value = serde_json::from_str(&status).expect("json");
    let c = &pod["status"]["containerStatuses"][0];
    assert_eq!(c["restartCount"], 1, "{c}");
    assert_eq!(c["lastState"]["terminated"]["exitCode"], 3, "{c}");
    assert_eq!(
        pod["status"]["phase"], "Running",
        "OnFailure keeps a crash-looping pod Running"
    );
    assert_eq!(stdout(&env.tandem(&["logs", "crash"])).trim(), "attempt-2");
    assert_eq!(
        stdout(&env.tandem(&["logs", "crash", "--previous"])).trim(),
        "attempt-1"
    );
    let get = stdout(&env.tandem(&["get", "pods"]));
    assert!(
        get.contains("CrashLoopBackOff") && get.contains("1 ("),
        "{get}"
    );
    assert!(env
        .tandem(&["delete", "pod", "crash", "--grace-period", "0"])
        .status
        .success());
}

#[test]
fn limits_are_enforced_and_a_memory_hog_is_oom_killed_while_its_sidecar_keeps_running() {
    let Some(()) = require_root("limits_oom") else {
        return;
    };
    let env = Env::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: hog}
spec:
  restartPolicy: OnFailure
  initContainers:
    - name: sidecar
      image: localhost/tandem-busybox:1.35
      restartPolicy: Always
      command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"]
  containers:
    - name: hog
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null; head -c 200m /dev/zero | tail"]
      resources:
        requests: {cpu: 250m, memory: 16Mi}
        limits: {cpu: 500m, memory: 16Mi}
"#;
    assert!(env.run_yaml(yaml, &["-d"]).status.success());
    let status = wait_for(&env, "hog", "\"restartCount\": 1");
    let pod: serde_json::Value = serde_json::from_str(&status).expect("json");
    let hog = &pod["status"]["containerStatuses"][0];
    let last = &hog["lastState"]["terminated"];
    assert_eq!(
        (last["reason"].as_str(), last["exitCode"].as_i64()),
        (Some("OOMKilled"), Some(137)),
        "{hog}"
    );
    let side = &pod["status"]["initContainerStatuses"][0];
    assert_eq!(
        (
            side["restartCount"].as_i64(),
            side["state"]["running"].is_object()
        ),
        (Some(0), true),
        "{side}"
    );
    let logs = stdout(&env.tandem(&["logs", "hog", "-c", "hog", "--previous"]));
    if std::path::Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        // cgroup v1 host: the container sees its own limits.
        assert!(
            logs.starts_with("16777216\n50000\n256\n"),
            "limits inside the container: {logs}"
        );
    }
    assert!(env
        .tandem(&["delete", "pod", "hog", "--grace-period", "0"])
        .status
        .success());
}

#[test]
fn active_deadline_seconds_stops_the_pod_and_fails_it() {
    let Some(()) = require_root("active_deadline") else {
        return;
    };
    let env = Env::new();
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: deadline\nspec:\n  activeDeadlineSeconds: 1\n  terminationGracePeriodSeconds: 2\n  containers:\n  - name: main\n    image: localhost/tandem-busybox:1.35\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n";
    let out = env.run_yaml(yaml, &[]);
    assert!(!out.status.success(), "a Failed pod exits non-zero");
    assert!(
        stderr(&out).contains("Failed (activeDeadlineSeconds exceeded)"),
        "{}",
        stderr(&out)
    );
    let pod: serde_json::Value =
        serde_json::from_slice(&env.tandem(&["get", "pod", "deadline", "-o", "json"]).stdout)
            .expect("json");
    assert_eq!(
        (
            pod["status"]["phase"].as_str(),
            pod["status"]["reason"].as_str()
        ),
        (Some("Failed"), Some("DeadlineExceeded"))
    );
}

/// No process per container: once a pod runs, each container's init is a child of the pod's
/// supervisor (the subreaper its shim handed it to) and no shim is left.
#[test]
fn a_running_pod_keeps_no_process_per_container_besides_the_container() {
    let Some(()) = require_root("no_process_per_container") else {
        return;
    };
    let env = Env::new();
    // Numbers of seconds no other test uses, to find each container's process by.
    let marker = 600_000 + 3 * (std::process::id() % 100_000);
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: lean}}
spec:
  initContainers:
    - {{name: side, image: localhost/tandem-busybox:1.35, restartPolicy: Always, command: [sleep, "{}"]}}
  containers:
    - {{name: a, image: localhost/tandem-busybox:1.35, command: [sleep, "{}"]}}
    - {{name: b, image: localhost/tandem-busybox:1.35, command: [sleep, "{}"]}}
"#,
        marker,
        marker + 1,
        marker + 2
    );
    assert!(env.run_yaml(&yaml, &["-d"]).status.success());
    let running = |v: &serde_json::Value| {
        ["initContainerStatuses", "containerStatuses"]
            .iter()
            .flat_map(|k| v["status"][k].as_array().into_iter().flatten())
            .filter(|c| c["state"]["running"].is_object())
            .count()
    };
    let mut pod = serde_json::Value::Null;
    for _ in 0..200 {
        pod = serde_json::from_str(&stdout(&env.tandem(&["get", "pod", "lean", "-o", "json"])))
            .unwrap_or_default();
        if running(&pod) == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(running(&pod), 3, "{pod}");
    let dir = env.pods_dir().join("default_lean");
    let supervisor = supervisor_pid(&dir);
    for n in marker..marker + 3 {
        let found = pids_mentioning(&format!("sleep {n}"));
        assert_eq!(found.len(), 1, "sleep {n}: {found:?}");
        assert_eq!(
            parent_of(found[0].0),
            Some(supervisor),
            "the parent of {:?}",
            found[0].1
        );
    }
    let shims = pids_mentioning(&format!("__shim {}", dir.display()));
    assert!(shims.is_empty(), "shims left: {shims:?}");
    assert!(env
        .tandem(&["delete", "pod", "lean", "--grace-period", "0"])
        .status
        .success());
}

/// `delete pods --all` deletes every pod of the namespace (each asked first, then waited for) and
/// none of another; with nothing left it says so, as kubectl does.
#[test]
fn delete_all_takes_every_pod_of_the_namespace_and_no_other() {
    let Some(()) = require_root("delete_all") else {
        return;
    };
    let env = Env::new();
    let yaml = |name: &str, ns: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n    - {{name: c, image: localhost/tandem-busybox:1.35, command: [sleep, \"3600\"]}}\n"
        )
    };
    for (name, ns) in [("a", "default"), ("b", "default"), ("c", "other")] {
        assert!(env.run_yaml(&yaml(name, ns), &["-d"]).status.success());
    }
    let out = env.tandem(&["delete", "pods", "--all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text, "pod \"a\" deleted\npod \"b\" deleted\n", "{text}");
    assert!(!env.pods_dir().join("default_a").exists());
    assert!(!env.pods_dir().join("default_b").exists());
    let left = stdout(&env.tandem(&["get", "pods", "-n", "other"]));
    assert!(left.contains("c "), "{left}");
    let again = env.tandem(&["delete", "pods", "--all"]);
    assert!(again.status.success());
    assert_eq!(stderr(&again).trim(), "No resources found");
    let out = env.tandem(&[
        "delete",
        "pods",
        "--all",
        "-n",
        "other",
        "--grace-period",
        "0",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!env.pods_dir().join("other_c").exists());
}
