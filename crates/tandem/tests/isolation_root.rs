//! Isolation on real containers, seen from the inside: `tandem-checker` (crates/tandem-checker,
//! baked into localhost/tandem-checker:dev) reports what a container has and tries the escapes a
//! container must not manage; the tests compare. Needs root (namespaces, mounts, cgroups).

mod support;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use support::*;

/// Every value of `key: value` lines printed by the checker.
fn values<'a>(logs: &'a str, key: &str) -> Vec<&'a str> {
    logs.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix(": "))
        .collect()
}

fn value<'a>(logs: &'a str, key: &str) -> &'a str {
    values(logs, key)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no {key:?} in:\n{logs}"))
}

fn logs(env: &Env, pod: &str, container: &str) -> String {
    stdout(&env.tandem(&["logs", pod, "-c", container]))
}

/// The host's own value of a /proc/self/status field.
fn host_status(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .unwrap_or_default()
}

const CHECKED_PATHS: [&str; 15] = [
    "masked /proc/acpi",
    "masked /proc/kcore",
    "masked /proc/keys",
    "masked /proc/latency_stats",
    "masked /proc/timer_list",
    "masked /proc/timer_stats",
    "masked /proc/sched_debug",
    "masked /proc/scsi",
    "masked /sys/firmware",
    "masked /sys/devices/virtual/powercap",
    "readonly /proc/bus",
    "readonly /proc/fs",
    "readonly /proc/irq",
    "readonly /proc/sys",
    "readonly /proc/sysrq-trigger",
];

#[test]
fn containers_get_containerd_defaults_and_exactly_what_their_security_context_asks() {
    let Some(()) = require_root("isolation defaults") else {
        return;
    };
    let env = Env::with_checker();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: iso}
spec:
  restartPolicy: Never
  securityContext: {supplementalGroups: [4000]}
  volumes: [{name: data, emptyDir: {}}]
  containers:
    - name: plain
      image: localhost/tandem-checker:dev
      command: ["tandem-checker", "report"]
      resources: {limits: {memory: 64Mi, cpu: 500m}}
      volumeMounts: [{name: data, mountPath: /data}]
    - name: restricted
      image: localhost/tandem-checker:dev
      command: ["tandem-checker", "report"]
      securityContext:
        runAsUser: 1000
        runAsGroup: 3000
        allowPrivilegeEscalation: false
        readOnlyRootFilesystem: true
        capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
    - name: privileged
      image: localhost/tandem-checker:dev
      command: ["tandem-checker", "report"]
      securityContext: {privileged: true}
"#;
    let out = env.run_yaml(yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));

    let plain = logs(&env, "iso", "plain");
    // containerd's default capability set (CAP_CHOWN ... CAP_AUDIT_WRITE, 14 capabilities) and
    // its RuntimeDefault seccomp filter.
    assert_eq!(value(&plain, "capeff"), "00000000a80425fb", "{plain}");
    assert_eq!(value(&plain, "capbnd"), "00000000a80425fb", "{plain}");
    assert_eq!(value(&plain, "capamb"), "0000000000000000", "{plain}");
    assert_eq!(value(&plain, "seccomp"), "2", "{plain}");
    assert_eq!(value(&plain, "nonewprivs"), "0", "{plain}");
    assert_eq!(value(&plain, "uid"), "0 0 0 0", "{plain}");
    assert!(value(&plain, "groups").split(' ').any(|g| g == "4000"));
    for key in CHECKED_PATHS {
        let v = value(&plain, key);
        let ok = if key.starts_with("masked") {
            v != "VISIBLE"
        } else {
            v == "ro" || v == "absent"
        };
        assert!(ok, "{key}: {v}");
    }
    // Only its own process, and none of the host's mounts.
    assert_eq!(value(&plain, "process count"), "1", "{plain}");
    assert!(value(&plain, "process 1").starts_with("tandem-checker report"));
    for m in values(&plain, "mount") {
        let point = m.split(' ').next().unwrap_or_default();
        let allowed = [
            "/",
            "/data",
            "/etc/hosts",
            "/etc/hostname",
            "/etc/resolv.conf",
            // The service account's token, CA and namespace, as on a cluster.
            "/var/run/secrets/kubernetes.io/serviceaccount",
        ]
        .contains(&point)
            || ["/proc", "/dev", "/sys"]
                .iter()
                .any(|p| point == *p || point.starts_with(&format!("{p}/")));
        assert!(allowed, "a mount the container should not see: {m}");
    }
    let limit = values(&plain, "cgroup memory.limit_in_bytes")
        .into_iter()
        .chain(values(&plain, "cgroup memory.max"))
        .next();
    assert_eq!(limit, Some("67108864"), "{plain}");
    let quota = values(&plain, "cgroup cpu.cfs_quota_us")
        .into_iter()
        .chain(values(&plain, "cgroup cpu.max"))
        .next();
    assert!(
        quota.is_some_and(|q| q == "50000" || q == "50000 100000"),
        "{plain}"
    );

    let restricted = logs(&env, "iso", "restricted");
    assert_eq!(value(&restricted, "uid"), "1000 1000 1000 1000");
    assert_eq!(value(&restricted, "gid"), "3000 3000 3000 3000");
    assert!(value(&restricted, "groups").split(' ').any(|g| g == "4000"));
    // Only NET_BIND_SERVICE (bit 10) is left in the bounding set; a non-root process gets no
    // effective capabilities from it.
    assert_eq!(value(&restricted, "capbnd"), "0000000000000400");
    assert_eq!(value(&restricted, "capeff"), "0000000000000000");
    assert_eq!(value(&restricted, "nonewprivs"), "1");
    assert_eq!(value(&restricted, "seccomp"), "2");
    assert!(
        values(&restricted, "mount").iter().any(|m| {
            let f: Vec<&str> = m.split(' ').collect();
            f[0] == "/" && f[2].split(',').any(|o| o == "ro")
        }),
        "readOnlyRootFilesystem: {restricted}"
    );

    let privileged = logs(&env, "iso", "privileged");
    assert_eq!(value(&privileged, "capeff"), host_status("CapBnd"));
    // The host's device nodes, as containerd gives a privileged container; only the default
    // few for the others.
    let host_block: Vec<String> = std::fs::read_dir("/dev")
        .expect("/dev")
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_block_device()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let seen: Vec<&str> = value(&privileged, "devices").split(' ').collect();
    for d in &host_block {
        assert!(
            seen.contains(&d.as_str()),
            "privileged lacks /dev/{d}: {seen:?}"
        );
    }
    let plain_devices: Vec<&str> = value(&plain, "devices").split(' ').collect();
    for d in ["full", "null", "random", "tty", "urandom", "zero"] {
        assert!(plain_devices.contains(&d), "{plain_devices:?}");
    }
    assert!(
        host_block
            .iter()
            .all(|d| !plain_devices.contains(&d.as_str())),
        "{plain_devices:?}"
    );
    assert_eq!(value(&privileged, "seccomp"), "0");
    if std::path::Path::new("/proc/keys").exists() {
        assert_eq!(value(&privileged, "masked /proc/keys"), "VISIBLE");
    }
}

#[test]
fn writes_mounts_and_module_loads_without_privilege_fail() {
    let Some(()) = require_root("isolation escapes") else {
        return;
    };
    let env = Env::with_checker();
    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {key: value}
---
apiVersion: v1
kind: Pod
metadata: {name: ro}
spec:
  restartPolicy: Never
  volumes:
    - {name: data, emptyDir: {}}
    - {name: cfg, configMap: {name: cfg}}
  containers:
    - name: c
      image: localhost/tandem-checker:dev
      securityContext: {readOnlyRootFilesystem: true}
      command:
        - sh
        - -c
        - |
          tandem-checker try-write /ro/x /cfg/x /x /proc/sys/kernel/hostname /sys/kernel/x /data/ok
          mount -t tmpfs none /data 2>&1; echo "mount-exit: $?"
          insmod /bin/tandem-checker 2>&1; echo "insmod-exit: $?"
      volumeMounts:
        - {name: data, mountPath: /ro, readOnly: true}
        - {name: data, mountPath: /data}
        - {name: cfg, mountPath: /cfg}
"#;
    let out = env.run_yaml(yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let l = logs(&env, "ro", "c");
    // EROFS (30) for read-only volumes, configMaps, the read-only root and /proc/sys.
    for p in ["/ro/x", "/cfg/x", "/x", "/proc/sys/kernel/hostname"] {
        assert_eq!(value(&l, &format!("write {p}")), "denied errno 30", "{l}");
    }
    assert!(
        value(&l, "write /sys/kernel/x").starts_with("denied"),
        "{l}"
    );
    // The writable mount of the same volume works, so the refusals above are the mounts'.
    assert_eq!(value(&l, "write /data/ok"), "ok", "{l}");
    assert_ne!(value(&l, "mount-exit"), "0", "{l}");
    assert_ne!(value(&l, "insmod-exit"), "0", "{l}");
    // Refused for want of privilege (EPERM), not because the "module" was junk.
    assert!(l.contains("Operation not permitted"), "{l}");
    assert!(!l.contains("Invalid module format"), "{l}");
}

#[test]
fn no_host_descriptor_or_directory_reaches_containers_hooks_or_probes() {
    let Some(()) = require_root("leaked descriptors") else {
        return;
    };
    let env = Env::with_checker();
    // CVE-2024-21626 leaked a host directory descriptor (and through it a working directory
    // outside the root) into the container's process and into `exec`ed processes.
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: fds}
spec:
  restartPolicy: Never
  volumes: [{name: out, emptyDir: {}}]
  containers:
    - name: c
      image: localhost/tandem-checker:dev
      workingDir: /tmp
      command: ["sh", "-c", "tandem-checker fds > /out/main.new && mv /out/main.new /out/main; until [ -e /out/done ]; do sleep 0.2; done"]
      volumeMounts: [{name: out, mountPath: /out}]
      lifecycle:
        postStart:
          exec: {command: ["sh", "-c", "tandem-checker fds > /out/hook.new && mv /out/hook.new /out/hook"]}
      readinessProbe:
        exec: {command: ["sh", "-c", "tandem-checker fds > /out/probe.new && mv /out/probe.new /out/probe"]}
        periodSeconds: 1
    - name: reader
      image: localhost/tandem-checker:dev
      # Waits for all three reports however slow the machine (each is written aside and
      # renamed, so none is read half-written), then lets the main container end.
      command: ["sh", "-c", "for i in $(seq 300); do [ -s /out/main ] && [ -s /out/hook ] && [ -s /out/probe ] && break; sleep 0.2; done; for f in main hook probe; do echo \"== $f\"; cat /out/$f; done; touch /out/done"]
      volumeMounts: [{name: out, mountPath: /out}]
"#;
    let out = env.run_yaml(yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let l = logs(&env, "fds", "reader");
    for section in ["main", "hook", "probe"] {
        let body = l
            .split(&format!("== {section}\n"))
            .nth(1)
            .and_then(|b| b.split("== ").next())
            .unwrap_or_else(|| panic!("no {section} report in:\n{l}"));
        let fds: Vec<&str> = body
            .lines()
            .filter_map(|x| x.strip_prefix("fd ")?.split(':').next())
            .collect();
        // fd 1 is the redirect to /out/<section>.new; 0 and 2 are the runtime's. Nothing else.
        assert_eq!(fds, ["0", "1", "2"], "{section}:\n{body}");
        assert!(
            !body.contains("/sys/fs/cgroup") && !body.contains(&*env.root.path().to_string_lossy()),
            "{section}:\n{body}"
        );
        assert_eq!(
            value(body, "cwd climbs to root"),
            "true",
            "{section}:\n{body}"
        );
    }
    let main = l.split("== main\n").nth(1).unwrap_or_default();
    assert_eq!(value(main, "cwd"), "/tmp", "workingDir: {main}");
}

#[test]
fn the_host_tandem_binary_cannot_be_overwritten_through_proc_self_exe() {
    let Some(()) = require_root("CVE-2019-5736") else {
        return;
    };
    let env = Env::with_checker();
    // The program the probe runs (the helpers' and the supervisor's, beside `tandem`).
    let tandem = std::path::Path::new(env!("CARGO_BIN_EXE_tandem"));
    let binaries = [tandem.to_path_buf(), tandem.with_file_name("tandem-pod")];
    let stat = || {
        binaries
            .iter()
            .map(|b| {
                let m = std::fs::metadata(b).expect("stat the binary");
                (m.len(), m.mtime(), m.ino())
            })
            .collect::<Vec<_>>()
    };
    let before = stat();
    // The exploit of CVE-2019-5736: make the runtime execute its own binary inside the
    // container (an exec probe whose command is /proc/self/exe, here kept busy as an HTTP probe
    // client against a listener that never answers), grab /proc/PID/exe and write to it.
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: exe}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: localhost/tandem-checker:dev
      command: ["tandem-checker", "steal-exe", "6", "9999"]
      readinessProbe:
        exec:
          command:
            - /proc/self/exe
            - __netprobe
            - "-"
            - '{"http":{"host":"127.0.0.1","port":9999,"path":"/","headers":[],"timeout_ms":1500}}'
        periodSeconds: 1
        timeoutSeconds: 2
"#;
    let out = env.run_yaml(yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let l = logs(&env, "exe", "c");
    // The attack really reached the host binary (it ran in the container and was grabbed) ...
    let handles: usize = value(&l, "exe-handles").parse().expect("a count");
    assert!(
        handles >= 1,
        "the exploit never got hold of the binary:\n{l}"
    );
    // ... and could not open it for writing: the kernel refuses while the supervisor runs the
    // same file (ETXTBSY, 26).
    assert!(values(&l, "exe-opened-for-write").is_empty(), "{l}");
    assert!(
        value(&l, "exe-denied-errnos").split(',').any(|e| e == "26"),
        "{l}"
    );
    assert_eq!(before, stat());
}

#[test]
fn a_sub_path_swapped_for_a_symlink_never_reaches_the_host() {
    let Some(()) = require_root("subPath symlink swap") else {
        return;
    };
    let env = Env::with_checker();
    // A file only the host has: if a container ever sees it, a subPath led out of its volume.
    let marker = tempfile::Builder::new()
        .prefix("tandem-host-only-")
        .tempdir()
        .expect("marker dir");
    let marker_path = marker.path().to_string_lossy().into_owned();
    // The swapper flips `x` between a directory and a symlink to / while six containers mount
    // subPath x one after another (each mount re-checks, so every start is another attempt).
    let mut containers = String::new();
    for i in 0..6 {
        containers.push_str(&format!(
            r#"    - name: m{i}
      image: localhost/tandem-checker:dev
      command: ["sh", "-c", "if [ -e /mnt{marker_path} ]; then echo ESCAPED; else echo contained; fi >> /log/result"]
      volumeMounts:
        - {{name: vol, mountPath: /mnt, subPath: x}}
        - {{name: log, mountPath: /log}}
"#
        ));
    }
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: swap}}
spec:
  restartPolicy: Never
  volumes: [{{name: vol, emptyDir: {{}}}}, {{name: log, emptyDir: {{}}}}]
  initContainers:
    - name: swapper
      image: localhost/tandem-checker:dev
      restartPolicy: Always
      command: ["sh", "-c", "cd /vol; mkdir -p x; while true; do mv x d; ln -s / x; rm x; mv d x; done"]
      volumeMounts: [{{name: vol, mountPath: /vol}}]
  containers:
{containers}"#
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "run -d failed: {}", stderr(&out));
    // A container whose mount was refused (the swapper won that race) waits in back-off;
    // the others report. Give them a few seconds, then read what they saw.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let result_file = || {
        std::fs::read_dir(env.pods_dir())
            .ok()?
            .flatten()
            .next()
            .map(|d| d.path().join("volumes/log/result"))
    };
    let mut result = String::new();
    while std::time::Instant::now() < deadline {
        result = result_file()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        if result.lines().count() >= 6 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let events = stdout(&env.tandem(&["get", "events", "--for", "pod/swap"]));
    let _ = env.tandem(&["delete", "pod", "swap", "--grace-period", "0"]);
    assert!(!result.contains("ESCAPED"), "{result}\n{events}");
    assert!(
        result.contains("contained"),
        "no container ran:\n{result}\n{events}"
    );
}

/// A file of the pod cgroup `/tandem/<uid>`, trimmed: `v1_controller/file` on a v1 host, else
/// `file` of the unified tree.
fn pod_cgroup_file(uid: &str, v1_controller: &str, file: &str) -> Option<String> {
    [
        format!("/sys/fs/cgroup/{v1_controller}/tandem/{uid}/{file}"),
        format!("/sys/fs/cgroup/tandem/{uid}/{file}"),
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim().to_string())
}

#[test]
fn the_pod_cgroup_is_sized_for_sidecars_and_caps_the_pods_processes() {
    let Some(()) = require_root("pod cgroup") else {
        return;
    };
    let env = Env::with_checker();
    // KEP-753: the init container runs beside the sidecar declared before it (100m+500m,
    // 10Mi+100Mi), which outweighs the steady state (sidecar + app: 300m, 60Mi).
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: sized}
spec:
  initContainers:
    - name: side
      image: localhost/tandem-checker:dev
      restartPolicy: Always
      command: ["sleep", "3600"]
      resources: {limits: {cpu: 100m, memory: 10Mi}}
    - name: setup
      image: localhost/tandem-checker:dev
      command: ["true"]
      resources: {limits: {cpu: 500m, memory: 100Mi}}
  containers:
    - name: app
      image: localhost/tandem-checker:dev
      command: ["sh", "-c", "i=0; while [ $i -lt 20 ]; do sleep 600 & i=$((i+1)); done; echo forked; sleep 600"]
      resources: {limits: {cpu: 200m, memory: 50Mi}}
"#;
    let out = env.run_yaml(yaml, &["-d", "--pod-max-pids", "16"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let pod = env.pod_json("sized");
    let uid = pod["metadata"]["uid"].as_str().expect("metadata.uid");
    let cg = |v1: &str, v2: &str| pod_cgroup_file(uid, v1, v2);
    let memory = cg("memory", "memory.limit_in_bytes").or_else(|| cg("-", "memory.max"));
    assert_eq!(memory.as_deref(), Some("115343360"), "110Mi");
    let quota = cg("cpu,cpuacct", "cpu.cfs_quota_us")
        .or_else(|| cg("cpu", "cpu.cfs_quota_us"))
        .or_else(|| cg("-", "cpu.max"));
    assert!(
        matches!(quota.as_deref(), Some("60000") | Some("60000 100000")),
        "{quota:?}"
    );
    assert_eq!(
        cg("pids", "pids.max").as_deref(),
        Some("16"),
        "--pod-max-pids"
    );
    // Each container's status says what it was given, as the kubelet's does: requests (copied
    // from the limits here) allocated, requests and limits in effect.
    let app = wait_for("the app's status with its resources", 20, || {
        let v = env.pod_json("sized");
        let s = v["status"]["containerStatuses"][0].clone();
        s["resources"].is_object().then_some(s)
    });
    assert_eq!(
        app["allocatedResources"],
        serde_json::json!({"cpu": "200m", "memory": "50Mi"}),
        "{app}"
    );
    assert_eq!(
        app["resources"],
        serde_json::json!({"requests": {"cpu": "200m", "memory": "50Mi"}, "limits": {"cpu": "200m", "memory": "50Mi"}}),
        "{app}"
    );
    // The app's 20 background processes run into the pod's limit.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut logs = String::new();
    while std::time::Instant::now() < deadline && !logs.contains("forked") {
        std::thread::sleep(std::time::Duration::from_millis(300));
        logs = stdout(&env.tandem(&["logs", "sized", "-c", "app"]));
    }
    let _ = env.tandem(&["delete", "pod", "sized", "--grace-period", "0"]);
    assert!(logs.contains("can't fork"), "{logs}");

    // Pod-level resources (KEP-2837) size the pod cgroup over containers that set none, and
    // alone decide the QoS class.
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: pod-level}
spec:
  resources: {limits: {cpu: 300m, memory: 64Mi}}
  containers:
    - name: app
      image: localhost/tandem-checker:dev
      command: ["sleep", "600"]
"#;
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    // `run -d` returns once the sandbox is up; the first status (with the QoS class) follows.
    let pod = support::wait_for("the pod's first status", 10, || {
        let pod = env.pod_json("pod-level");
        (!pod["status"]["qosClass"].is_null()).then_some(pod)
    });
    let uid = pod["metadata"]["uid"].as_str().expect("metadata.uid");
    let cg = |v1: &str, v2: &str| pod_cgroup_file(uid, v1, v2);
    let memory = cg("memory", "memory.limit_in_bytes").or_else(|| cg("-", "memory.max"));
    let quota = cg("cpu,cpuacct", "cpu.cfs_quota_us")
        .or_else(|| cg("cpu", "cpu.cfs_quota_us"))
        .or_else(|| cg("-", "cpu.max"));
    let _ = env.tandem(&["delete", "pod", "pod-level", "--grace-period", "0"]);
    assert_eq!(memory.as_deref(), Some("67108864"));
    assert!(
        matches!(quota.as_deref(), Some("30000") | Some("30000 100000")),
        "{quota:?}"
    );
    assert_eq!(pod["status"]["qosClass"], "Guaranteed");
}

#[test]
fn host_users_false_gives_the_pod_its_own_ids_and_keeps_volumes_usable() {
    let Some(()) = require_root("user namespaces") else {
        return;
    };
    let env = Env::with_checker();
    // A host directory only host root may write: the pod's root must not be host root.
    let host_dir = tempfile::Builder::new()
        .prefix("tandem-userns-host-")
        .tempdir()
        .expect("host dir");
    std::fs::set_permissions(
        host_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let yaml = format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata: {{name: cfg}}
data: {{key: value}}
---
apiVersion: v1
kind: Pod
metadata: {{name: userns}}
spec:
  hostUsers: false
  restartPolicy: Never
  securityContext: {{fsGroup: 2000}}
  volumes:
    - {{name: data, emptyDir: {{}}}}
    - {{name: cfg, configMap: {{name: cfg, defaultMode: 0440}}}}
    - {{name: host, hostPath: {{path: "{host}"}}}}
  initContainers:
    - name: as-root
      image: localhost/tandem-checker:dev
      command: ["sh", "-c", "echo root > /data/root-file && tandem-checker try-write /host/x /etc/x"]
      volumeMounts:
        - {{name: data, mountPath: /data}}
        - {{name: host, mountPath: /host}}
  containers:
    - name: as-user
      image: localhost/tandem-checker:dev
      securityContext: {{runAsUser: 1000, runAsGroup: 1000}}
      command: ["sh", "-c", "echo user > /data/user-file && cat /cfg/key && echo && cat /data/root-file && tandem-checker report"]
      volumeMounts:
        - {{name: data, mountPath: /data}}
        - {{name: cfg, mountPath: /cfg}}
"#,
        host = host_dir.path().display()
    );
    let out = env.run_yaml(&yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));

    let root_logs = logs(&env, "userns", "as-root");
    // Root in the pod writes its own rootfs and volumes, but not a host directory of host root.
    assert_eq!(value(&root_logs, "write /etc/x"), "ok", "{root_logs}");
    assert_eq!(
        value(&root_logs, "write /host/x"),
        "denied errno 13",
        "{root_logs}"
    );
    assert!(!host_dir.path().join("x").exists());

    let user_logs = logs(&env, "userns", "as-user");
    assert!(user_logs.contains("value\nroot\n"), "{user_logs}");
    let map: Vec<u64> = value(&user_logs, "uid_map")
        .split_whitespace()
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(map.len(), 3, "one mapping: {user_logs}");
    let base = map[1];
    assert_eq!((map[0], map[2]), (0, 65536), "{user_logs}");
    assert!(base >= 65536 && base.is_multiple_of(65536), "{base}");
    assert_eq!(value(&user_logs, "uid"), "1000 1000 1000 1000");
    assert!(value(&user_logs, "groups").split(' ').any(|g| g == "2000"));

    // On the host, what the pod wrote belongs to its range: root is base, 1000 is base+1000,
    // and files inherit the fsGroup (base+2000) from the setgid volume directory.
    let data = std::fs::read_dir(env.pods_dir())
        .expect("pods")
        .flatten()
        .next()
        .expect("the pod's directory")
        .path()
        .join("volumes/data");
    let owner = |f: &str| {
        let m = std::fs::metadata(data.join(f)).expect(f);
        (u64::from(m.uid()), u64::from(m.gid()))
    };
    assert_eq!(owner("root-file"), (base, base + 2000));
    assert_eq!(owner("user-file"), (base + 1000, base + 2000));
}

#[test]
fn supplemental_groups_policy_merges_the_images_groups_unless_strict() {
    let Some(()) = require_root("supplementalGroupsPolicy") else {
        return;
    };
    let env = Env::with_checker();
    // The image's /etc/group lists user app (1000) in staff (50).
    let pod = |name: &str, policy: &str| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  securityContext: {{runAsUser: 1000, runAsGroup: 1000, supplementalGroups: [4000]{policy}}}
  containers:
    - name: c
      image: localhost/tandem-checker:dev
      command: ["tandem-checker", "report"]
"#
        )
    };
    for (name, policy, staff) in [
        ("merge", "", true),
        ("strict", ", supplementalGroupsPolicy: Strict", false),
    ] {
        let out = env.run_yaml(&pod(name, policy), &[]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let l = logs(&env, name, "c");
        let groups: Vec<&str> = value(&l, "groups").split(' ').collect();
        assert!(groups.contains(&"4000"), "{name}: {groups:?}");
        assert_eq!(groups.contains(&"50"), staff, "{name}: {groups:?}");
        // The status says the same (containerStatuses[].user, KEP-3619).
        let user = &env.pod_json(name)["status"]["containerStatuses"][0]["user"]["linux"];
        assert_eq!(
            (&user["uid"], &user["gid"]),
            (&1000.into(), &1000.into()),
            "{user}"
        );
        let reported: Vec<i64> = user["supplementalGroups"]
            .as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
            .unwrap_or_default();
        assert!(reported.contains(&4000), "{user}");
        assert_eq!(reported.contains(&50), staff, "{user}");
    }
}

#[test]
fn the_images_user_is_honoured_by_name_or_number_and_run_as_non_root_refuses_root() {
    let Some(()) = require_root("image USER") else {
        return;
    };
    let env = Env::new();
    // The same root filesystem as the busybox image, with USER set by name and by number.
    let tar = env.rootfs_tar();
    for (reference, user) in [
        ("localhost/by-name:1", "app"),
        ("localhost/by-number:1", "1000:50"),
    ] {
        let tar = tar.to_string_lossy();
        let out = env.tandem(&["image", "import", &tar, reference, "--user", user]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: users}
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true}
  containers:
    - name: by-name
      image: localhost/by-name:1
      command: ["sh", "-c", "echo ids $(id -u) $(id -g)"]
    - name: by-number
      image: localhost/by-number:1
      command: ["sh", "-c", "echo ids $(id -u) $(id -g)"]
"#;
    let out = env.run_yaml(yaml, &[]);
    assert!(out.status.success(), "run: {}", stderr(&out));
    assert!(logs(&env, "users", "by-name").contains("ids 1000 1000"));
    assert!(logs(&env, "users", "by-number").contains("ids 1000 50"));

    // An image that runs as root under runAsNonRoot: the container never starts.
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: rooted}
spec:
  securityContext: {runAsNonRoot: true}
  containers:
    - name: app
      image: localhost/tandem-busybox:1.35
      command: ["sleep", "60"]
"#;
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let (reason, message) = env.waiting_for("rooted", 0, "CreateContainerConfigError");
    let _ = env.tandem(&["delete", "pod", "rooted", "--grace-period", "0"]);
    assert_eq!(reason, "CreateContainerConfigError", "{message}");
    assert!(
        message.contains("container app") && message.contains("runAsNonRoot"),
        "{message}"
    );
}

#[test]
fn host_users_false_pods_of_different_stores_get_disjoint_id_ranges() {
    let Some(()) = require_root("user namespace ranges across stores") else {
        return;
    };
    // Two stores (two --root directories) on one machine, as the root tests run in parallel:
    // host ids are the machine's, so their pods' ranges must not overlap.
    let envs = [Env::new(), Env::new()];
    let yaml = |name: &str| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  hostUsers: false
  terminationGracePeriodSeconds: 0
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "cat /proc/self/uid_map; exec sleep 3600"]
"#
        )
    };
    let names = ["ranges-a", "ranges-b"];
    // Both start at once, so both claim while neither pod has its range yet.
    let outs: Vec<_> = std::thread::scope(|s| {
        let runs: Vec<_> = envs
            .iter()
            .zip(names)
            .map(|(env, name)| s.spawn(move || env.run_yaml(&yaml(name), &["-d"])))
            .collect();
        runs.into_iter()
            .map(|r| r.join().expect("run thread"))
            .collect()
    });
    let mut bases = vec![];
    for ((env, name), out) in envs.iter().zip(names).zip(&outs) {
        assert!(out.status.success(), "run {name}: {}", stderr(out));
        let mut map = vec![];
        for _ in 0..100 {
            let logs = logs(env, name, "c");
            map = logs
                .split_whitespace()
                .filter_map(|n| n.parse::<u64>().ok())
                .collect();
            if map.len() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert_eq!(map.len(), 3, "{name}: one uid_map line, got {map:?}");
        assert_eq!((map[0], map[2]), (0, 65536), "{name}: {map:?}");
        bases.push(map[1]);
    }
    for (env, name) in envs.iter().zip(names) {
        let out = env.tandem(&["delete", "pod", name, "--grace-period", "0"]);
        assert!(out.status.success(), "delete {name}: {}", stderr(&out));
    }
    let (a, b) = (bases[0], bases[1]);
    assert!(
        a + 65536 <= b || b + 65536 <= a,
        "the two stores' pods share host ids: {a} and {b}"
    );
    // Their claims went with them: none left naming either store's pods.
    for e in std::fs::read_dir("/run/tandem/userns")
        .expect("the host's claim directory")
        .flatten()
    {
        let holder = std::fs::read_to_string(e.path()).unwrap_or_default();
        for env in &envs {
            assert!(
                !holder.starts_with(&*env.root.path().to_string_lossy()),
                "claim {:?} of a deleted pod is left: {holder}",
                e.file_name()
            );
        }
    }
}

#[test]
fn a_store_that_cannot_idmap_refuses_host_users_false_pods_with_the_reason() {
    let Some(()) = require_root("idmap preflight") else {
        return;
    };
    // An image store on overlayfs, which cannot be mounted through an id mapping.
    let base = tempfile::Builder::new()
        .prefix("tandem-ovl-store-")
        .tempdir()
        .expect("tempdir");
    let (lower, upper, work, root) = (
        base.path().join("l"),
        base.path().join("u"),
        base.path().join("w"),
        base.path().join("root"),
    );
    for d in [&lower, &upper, &work, &root] {
        std::fs::create_dir_all(d).expect("mkdir");
    }
    let mounted = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o"])
        .arg(format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        ))
        .arg(&root)
        .status()
        .expect("mount");
    assert!(mounted.success());
    let tandem = |args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("--root")
            .arg(&root)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tandem");
        if let Some(text) = stdin {
            let _ = child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes());
        }
        child.wait_with_output().expect("tandem")
    };
    let built = std::process::Command::new("bash")
        .arg(repo().join("tools/build-busybox-image.sh"))
        .arg(env!("CARGO_BIN_EXE_tandem"))
        .arg("--root")
        .arg(&root)
        .output()
        .expect("build");
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: nomap}\nspec:\n  hostUsers: false\n  containers:\n  - {name: a, image: localhost/tandem-busybox:1.35, command: [sleep, '60']}\n";
    let out = tandem(&["run", "-d", "--network", "none", "-"], Some(yaml));
    let pods = std::fs::read_dir(root.join("pods"))
        .map(|d| d.count())
        .unwrap_or(0);
    let left_mounts = mounts_under(&root.join("pods"));
    let _ = tandem(&["delete", "pod", "nomap", "--grace-period", "0"], None);
    let _ = std::process::Command::new("umount")
        .arg("-l")
        .arg(&root)
        .status();
    assert!(built.status.success(), "{}", stderr(&built));
    let err = stderr(&out);
    assert!(!out.status.success(), "the pod started: {err}");
    assert!(err.contains("needs idmapped mounts"), "{err}");
    assert_eq!(pods, 0, "a half-made pod is left");
    assert!(left_mounts.is_empty(), "{left_mounts:?}");
}
