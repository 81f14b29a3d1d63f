//! Security context on real containers: fsGroup volume ownership, capabilities, privileged,
//! seccomp, sysctls. Each container prints what it really has (/proc/self/status, `id`,
//! `ls -ln`) and the test compares.

mod support;

use std::os::unix::fs::MetadataExt;

use support::*;

/// The value of a `Key:\tvalue` line of /proc/self/status as printed by the container.
fn status_field<'a>(logs: &'a str, key: &str) -> Option<&'a str> {
    logs.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::trim)
}

/// The `ls -ln` line of `name` in the logs: (mode, uid, gid).
fn ls_entry(logs: &str, name: &str) -> Option<(String, u32, u32)> {
    logs.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 9 && f[f.len() - 1] == name {
            Some((f[0].to_string(), f[2].parse().ok()?, f[3].parse().ok()?))
        } else {
            None
        }
    })
}

#[test]
fn fs_group_owns_shared_volumes_so_two_users_share_an_empty_dir() {
    let Some(()) = require_root("fs_group") else {
        return;
    };
    let env = Env::new();
    let yaml = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {key: secret-ish}
---
apiVersion: v1
kind: Pod
metadata: {name: fsg}
spec:
  restartPolicy: Never
  securityContext: {fsGroup: 2000}
  volumes:
    - {name: data, emptyDir: {}}
    - name: cfg
      configMap: {name: cfg, defaultMode: 0400}
  initContainers:
    - name: first
      image: localhost/tandem-busybox:1.35
      securityContext: {runAsUser: 1000, runAsGroup: 1000}
      command: ["sh", "-c", "echo one > /data/first && mkdir /data/sub && echo nested > /data/sub/f"]
      volumeMounts: [{name: data, mountPath: /data}]
  containers:
    - name: second
      image: localhost/tandem-busybox:1.35
      securityContext: {runAsUser: 1001, runAsGroup: 1001}
      command: ["sh", "-c", "id; echo two > /data/second && cat /data/first && cat /cfg/key && echo; ls -ln /data; ls -lnL /cfg/; ls -lnd /data"]
      volumeMounts:
        - {name: data, mountPath: /data}
        - {name: cfg, mountPath: /cfg}
"#;
    let out = env.run_yaml(yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let logs = stdout(&env.tandem(&["logs", "fsg", "-c", "second"]));
    // fsGroup is a supplementary group of every container.
    let groups = logs
        .lines()
        .find_map(|l| l.split_once("groups="))
        .map(|(_, g)| g);
    assert!(
        groups.is_some_and(|g| g.split(',').any(|g| g.starts_with("2000"))),
        "{logs}"
    );
    // The other user's file is readable, and a 0400 configMap file is readable by a non-root user
    // only because fsGroup gave it g+r.
    assert!(
        logs.contains("one\n") && logs.contains("secret-ish"),
        "{logs}"
    );
    let (mode, _, gid) = ls_entry(&logs, "key").expect("ls of /cfg/key");
    assert_eq!((mode.as_str(), gid), ("-r--r-----", 2000), "{logs}");
    // The emptyDir's root: world-writable as always, plus the setgid bit and the group.
    let (mode, _, gid) = ls_entry(&logs, "/data").expect("ls -d /data");
    assert_eq!((mode.as_str(), gid), ("drwxrwsrwx", 2000), "{logs}");

    // Files each user created belong to that user and, through the setgid directory, to fsGroup.
    let vol = env.pods_dir().join("default_fsg/volumes/data");
    for (file, uid) in [("first", 1000), ("second", 1001), ("sub/f", 1000)] {
        let m = std::fs::metadata(vol.join(file)).expect(file);
        assert_eq!((m.uid(), m.gid()), (uid, 2000), "{file}");
    }
    let sub = std::fs::metadata(vol.join("sub")).expect("sub");
    assert!(sub.mode() & 0o2000 != 0, "sub inherits setgid");
}

#[test]
fn fs_group_change_policy_on_root_mismatch_skips_a_matching_volume() {
    let Some(()) = require_root("fs_group_policy") else {
        return;
    };
    use tandem_supervisor::volumes::set_volume_ownership;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("vol");
    std::fs::create_dir(&root).expect("mkdir");
    std::fs::write(root.join("f"), "x").expect("write");
    std::os::unix::fs::symlink("/etc/passwd", root.join("link")).expect("symlink");
    let passwd_gid = std::fs::metadata("/etc/passwd").expect("passwd").gid();
    set_volume_ownership(&root, 3000, false, false).expect("Always");
    assert_eq!(std::fs::metadata(root.join("f")).expect("f").gid(), 3000);
    assert_eq!(
        std::fs::symlink_metadata(root.join("link"))
            .expect("link")
            .gid(),
        3000
    );
    // The symlink is re-grouped, never followed.
    assert_eq!(
        std::fs::metadata("/etc/passwd").expect("passwd").gid(),
        passwd_gid
    );
    // A file whose group drifted is left alone when the root already matches...
    std::os::unix::fs::chown(root.join("f"), None, Some(0)).expect("chown");
    set_volume_ownership(&root, 3000, false, true).expect("OnRootMismatch");
    assert_eq!(std::fs::metadata(root.join("f")).expect("f").gid(), 0);
    // ...and fixed once the root does not.
    std::os::unix::fs::chown(&root, None, Some(0)).expect("chown");
    set_volume_ownership(&root, 3000, false, true).expect("OnRootMismatch");
    assert_eq!(std::fs::metadata(root.join("f")).expect("f").gid(), 3000);
}

/// Prints the container's capabilities, no_new_privs and seccomp mode, then tries the things
/// the test expects to be allowed or refused.
const PROBE: &str = "grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status; ";

/// containerd's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
/// NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
const DEFAULT_CAPS: u64 = 0x0000_0000_a804_25fb;

fn caps_of(logs: &str) -> u64 {
    let hex = status_field(logs, "CapEff").unwrap_or_else(|| panic!("no CapEff in {logs}"));
    u64::from_str_radix(hex, 16).expect("hex")
}

#[test]
fn capabilities_add_drop_and_privileged_shape_the_capability_sets() {
    let Some(()) = require_root("capabilities") else {
        return;
    };
    let env = Env::new();
    let mounts_ro = "grep -E ' /proc/sys ' /proc/self/mountinfo | grep -q ' ro[ ,]' && echo proc-sys-ro || echo proc-sys-rw; ";
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: caps}}
spec:
  restartPolicy: Never
  containers:
    - name: default
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "{PROBE}{mounts_ro}"]
    - name: only-net-admin
      image: localhost/tandem-busybox:1.35
      securityContext:
        allowPrivilegeEscalation: false
        capabilities: {{drop: [ALL], add: [NET_ADMIN]}}
      command: ["sh", "-c", "{PROBE}chown 1:1 /tmp && echo chown-ok || echo chown-refused"]
    - name: tweaked
      image: localhost/tandem-busybox:1.35
      securityContext:
        capabilities: {{drop: [CAP_CHOWN, net_raw], add: [CAP_SYS_TIME]}}
      command: ["sh", "-c", "{PROBE}"]
    - name: all-but-one
      image: localhost/tandem-busybox:1.35
      securityContext:
        capabilities: {{add: [ALL], drop: [SYS_ADMIN]}}
      command: ["sh", "-c", "{PROBE}"]
    - name: privileged
      image: localhost/tandem-busybox:1.35
      securityContext: {{privileged: true}}
      command: ["sh", "-c", "{PROBE}{mounts_ro}mknod /tmp/kmsg c 1 11 && dd if=/tmp/kmsg of=/dev/null count=0 2>/dev/null && echo device-open"]
"#
    );
    // Exit codes do not matter here: what each container reports does.
    let _ = env.run_yaml(&yaml, &[]);
    // An unmasked /proc needs a user namespace of the pod's own, as the API server requires.
    let unmasked = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: caps-unmasked}}
spec:
  restartPolicy: Never
  hostUsers: false
  containers:
    - name: unmasked
      image: localhost/tandem-busybox:1.35
      securityContext: {{procMount: Unmasked}}
      command: ["sh", "-c", "{PROBE}{mounts_ro}"]
"#
    );
    let _ = env.run_yaml(&unmasked, &[]);
    let logs = |c: &str| {
        let pod = if c == "unmasked" {
            "caps-unmasked"
        } else {
            "caps"
        };
        stdout(&env.tandem(&["logs", pod, "-c", c]))
    };
    // "Every capability" is every one the runtime itself holds.
    let own = std::fs::read_to_string("/proc/self/status").expect("status");
    let all = status_field(&own, "CapBnd")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .expect("CapBnd");
    let bit = |n: u32| 1u64 << n;

    let d = logs("default");
    assert_eq!(caps_of(&d), DEFAULT_CAPS, "{d}");
    assert_eq!(status_field(&d, "NoNewPrivs"), Some("0"), "{d}");
    assert!(d.contains("proc-sys-ro"), "{d}");

    let n = logs("only-net-admin");
    assert_eq!(caps_of(&n), bit(12), "CAP_NET_ADMIN only: {n}");
    assert_eq!(status_field(&n, "NoNewPrivs"), Some("1"), "{n}");
    assert!(n.contains("chown-refused"), "{n}");

    let t = logs("tweaked");
    assert_eq!(
        caps_of(&t),
        (DEFAULT_CAPS & !bit(0) & !bit(13)) | bit(25),
        "{t}"
    );

    let a = logs("all-but-one");
    assert_eq!(caps_of(&a), all & !bit(21), "{a}");

    let u = logs("unmasked");
    assert_eq!(caps_of(&u), DEFAULT_CAPS, "{u}");
    assert!(u.contains("proc-sys-rw"), "procMount Unmasked: {u}");

    let p = logs("privileged");
    assert_eq!(caps_of(&p), all, "{p}");
    assert_eq!(
        status_field(&p, "Seccomp"),
        Some("0"),
        "privileged is unconfined: {p}"
    );
    assert!(
        p.contains("proc-sys-rw") && p.contains("device-open"),
        "{p}"
    );
}

#[test]
fn runtime_default_seccomp_refuses_namespaces_and_mounts_but_runs_workloads() {
    let Some(()) = require_root("seccomp") else {
        return;
    };
    let env = Env::new();
    let profiles = env.root.path().join("seccomp/profiles");
    std::fs::create_dir_all(&profiles).expect("mkdir");
    // A Localhost profile of our own: everything allowed except mkdir.
    std::fs::write(
        profiles.join("no-mkdir.json"),
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":1}]}"#,
    )
    .expect("profile");
    let attempts = "unshare -U true 2>/dev/null && echo unshare-ok || echo unshare-refused; \
                    unshare -m true 2>/dev/null && echo unshare-m-ok || echo unshare-m-refused; \
                    mount -t tmpfs none /tmp 2>/dev/null && echo mount-ok || echo mount-refused; \
                    mkdir /tmp/d 2>/dev/null && echo mkdir-ok || echo mkdir-refused; \
                    echo hi | sed s/hi/workload/ | sort | head -1; sleep 0.1 & wait; echo done";
    let yaml = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: sec}}
spec:
  restartPolicy: Never
  containers:
    - name: default
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "{PROBE}{attempts}"]
    - name: admin
      image: localhost/tandem-busybox:1.35
      securityContext: {{capabilities: {{add: [SYS_ADMIN]}}}}
      command: ["sh", "-c", "{PROBE}{attempts}"]
    - name: unconfined
      image: localhost/tandem-busybox:1.35
      securityContext: {{seccompProfile: {{type: Unconfined}}}}
      command: ["sh", "-c", "{PROBE}{attempts}"]
    - name: localhost
      image: localhost/tandem-busybox:1.35
      securityContext:
        seccompProfile: {{type: Localhost, localhostProfile: profiles/no-mkdir.json}}
      command: ["sh", "-c", "{PROBE}{attempts}"]
"#
    );
    let out = env.run_yaml(&yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let logs = |c: &str| stdout(&env.tandem(&["logs", "sec", "-c", c]));

    let d = logs("default");
    assert_eq!(status_field(&d, "Seccomp"), Some("2"), "filtered: {d}");
    for want in [
        "unshare-refused",
        "unshare-m-refused",
        "mount-refused",
        "mkdir-ok",
        "workload",
        "done",
    ] {
        assert!(d.contains(want), "{want}: {d}");
    }
    // With CAP_SYS_ADMIN the filter lets mount namespaces and mounts through.
    let a = logs("admin");
    assert_eq!(status_field(&a, "Seccomp"), Some("2"), "{a}");
    assert!(a.contains("unshare-m-ok") && a.contains("mount-ok"), "{a}");

    let u = logs("unconfined");
    assert_eq!(status_field(&u, "Seccomp"), Some("0"), "{u}");
    // Without the filter an unprivileged user namespace can be made (as the host allows it).
    assert!(u.contains("mount-refused") && u.contains("done"), "{u}");

    let l = logs("localhost");
    assert_eq!(status_field(&l, "Seccomp"), Some("2"), "{l}");
    assert!(l.contains("mkdir-refused") && l.contains("workload"), "{l}");
}

#[test]
fn a_missing_localhost_seccomp_profile_is_a_config_error() {
    let Some(()) = require_root("seccomp_missing") else {
        return;
    };
    let env = Env::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: nosec}
spec:
  restartPolicy: Never
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      securityContext:
        seccompProfile: {type: Localhost, localhostProfile: missing.json}
      command: ["true"]
"#;
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(out.status.success(), "run -d: {}", stderr(&out));
    let (reason, msg) = env.waiting_for("nosec", 0, "CreateContainerConfigError");
    assert!(msg.contains("missing.json"), "{msg}");
    assert_eq!(reason, "CreateContainerConfigError");
}

#[test]
fn safe_sysctls_are_set_in_the_pods_namespaces_and_others_refused() {
    let Some(()) = require_root("sysctls") else {
        return;
    };
    let env = Env::new();
    let yaml = r#"
apiVersion: v1
kind: Pod
metadata: {name: sysctl}
spec:
  restartPolicy: Never
  securityContext:
    sysctls:
      - {name: net.ipv4.ip_unprivileged_port_start, value: "80"}
      - {name: kernel.shm_rmid_forced, value: "1"}
      - {name: net/ipv4/tcp_keepalive_time, value: "600"}
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      resources: {limits: {cpu: 100m, memory: 32Mi}}
      command: ["sh", "-c", "cat /proc/sys/net/ipv4/ip_unprivileged_port_start /proc/sys/kernel/shm_rmid_forced /proc/sys/net/ipv4/tcp_keepalive_time"]
"#;
    let out = env.run_yaml(yaml, &[]);
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let logs = stdout(&env.tandem(&["logs", "sysctl"]));
    assert_eq!(
        logs.split_whitespace().collect::<Vec<_>>(),
        ["80", "1", "600"],
        "{logs}"
    );
    // Limits equal to (defaulted) requests on every container: Guaranteed.
    let v: serde_json::Value =
        serde_json::from_slice(&env.tandem(&["get", "pod", "sysctl", "-o", "json"]).stdout)
            .expect("pod json");
    assert_eq!(v["status"]["qosClass"], "Guaranteed");
    // The host's values are untouched.
    assert_ne!(
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .unwrap_or_default()
            .trim(),
        "80"
    );

    // A sysctl outside the safe set passes the API server's checks (a warning says what comes)
    // and the kubelet refuses the pod at admission: Failed, SysctlForbidden, nothing started.
    let bad = yaml
        .replace("name: sysctl}", "name: unsafe}")
        .replace("kernel.shm_rmid_forced", "kernel.msgmax");
    let out = env.run_yaml(&bad, &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("sysctl \"kernel.msgmax\" is not in the kubelet's safe set")
            && err
                .contains("Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted"),
        "{err}"
    );
    let v = env.pod_json("unsafe");
    assert_eq!(v["status"]["phase"], "Failed", "{v}");
    assert_eq!(v["status"]["reason"], "SysctlForbidden", "{v}");
    assert!(stdout(&env.tandem(&["logs", "unsafe"])).is_empty());
    let events = env.event_records("unsafe");
    assert!(
        events.iter().any(|e| e["reason"] == "SysctlForbidden"
            && e["message"] == "forbidden sysctl: \"kernel.msgmax\" not allowlisted"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e["reason"] == "Started"),
        "{events:?}"
    );
    let listed = stdout(&env.tandem(&["get", "pod", "unsafe"]));
    assert!(listed.contains("SysctlForbidden"), "{listed}");

    // A node that allows them (the kubelet's --allowed-unsafe-sysctls) runs such a pod, with
    // the values set in the pod's own namespaces.
    let allowed = r#"
apiVersion: v1
kind: Pod
metadata: {name: allowed}
spec:
  restartPolicy: Never
  securityContext:
    sysctls:
      - {name: kernel.msgmax, value: "12345"}
      - {name: net.core.somaxconn, value: "1234"}
  containers:
    - name: c
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "cat /proc/sys/kernel/msgmax /proc/sys/net/core/somaxconn"]
"#;
    let out = env.run_yaml(
        allowed,
        &["--allowed-unsafe-sysctls", "kernel.msg*,net.core.somaxconn"],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let logs = stdout(&env.tandem(&["logs", "allowed"]));
    assert_eq!(
        logs.split_whitespace().collect::<Vec<_>>(),
        ["12345", "1234"],
        "{logs}"
    );
    assert_ne!(
        std::fs::read_to_string("/proc/sys/kernel/msgmax")
            .unwrap_or_default()
            .trim(),
        "12345"
    );
    // A workload's pods get the node's allowance its `run` gave, as every pod of that node.
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: tuned}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: tuned}}\n  template:\n    metadata: {labels: {app: tuned}}\n    spec:\n      terminationGracePeriodSeconds: 0\n      securityContext: {sysctls: [{name: net.core.somaxconn, value: \"2345\"}]}\n      containers:\n      - name: c\n        image: localhost/tandem-busybox:1.35\n        imagePullPolicy: Never\n        command: [sh, -c, \"cat /proc/sys/net/core/somaxconn; sleep 3600\"]\n";
    let out = env.run_yaml(
        deployment,
        &["-d", "--allowed-unsafe-sysctls", "net.core.*"],
    );
    assert!(out.status.success(), "run failed: {}", stderr(&out));
    let logs = wait_for("the deployment's pod to print", 30, || {
        let logs = stdout(&env.tandem(&["logs", "deployment/tuned"]));
        (!logs.is_empty()).then_some(logs)
    });
    assert_eq!(logs.trim(), "2345");
    // exec, like logs, picks the workload's pod as kubectl does.
    let out = env.tandem(&[
        "exec",
        "deployment/tuned",
        "--",
        "cat",
        "/proc/sys/net/core/somaxconn",
    ]);
    assert_eq!(stdout(&out).trim(), "2345", "{}", stderr(&out));
    let out = env.tandem(&["delete", "deployment", "tuned"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // A pattern the kubelet refuses is refused before anything runs.
    let out = env.run_yaml(allowed, &["--allowed-unsafe-sysctls", "vm.max_map_count"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("the sysctls \"vm.max_map_count\" are not known to be namespaced"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn share_process_namespace_host_pid_and_host_ipc_choose_what_containers_see() {
    let Some(()) = require_root("pid_ipc") else {
        return;
    };
    let env = Env::new();
    // Each container lists the processes it can see and the IPC namespace it is in.
    let probe = "sleep 2 & ls /proc | grep -c '^[0-9]' > /tmp/n; echo procs=$(cat /tmp/n); readlink /proc/self/ns/ipc; ps -o pid,args | grep -q '[s]leep 31' && echo sees-peer; wait";
    let pod = |name: &str, extra: &str| {
        format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
{extra}
  containers:
    - name: peer
      image: localhost/tandem-busybox:1.35
      command: ["sleep", "31"]
    - name: c
      image: localhost/tandem-busybox:1.35
      command: ["sh", "-c", "sleep 1; {probe}"]
"#
        )
    };
    let run = |name: &str, extra: &str| {
        let out = env.run_yaml(&pod(name, extra), &["-d"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let mut logs = String::new();
        for _ in 0..100 {
            logs = stdout(&env.tandem(&["logs", name, "-c", "c"]));
            if logs.contains("ipc:[") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = env.tandem(&["delete", "pod", name, "--grace-period", "0"]);
        logs
    };
    let procs = |logs: &str| -> usize {
        logs.lines()
            .find_map(|l| l.strip_prefix("procs="))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no procs= in {logs}"))
    };
    let host_ipc = std::fs::read_link("/proc/self/ns/ipc").expect("ipc ns");
    let host_ipc = host_ipc.to_string_lossy().into_owned();

    let private = run("private", "");
    assert!(!private.contains("sees-peer"), "{private}");
    assert!(procs(&private) < 10, "{private}");
    assert!(!private.contains(&host_ipc), "{private}");

    let shared = run("shared", "  shareProcessNamespace: true");
    assert!(shared.contains("sees-peer"), "{shared}");
    assert!(procs(&shared) < 20, "{shared}");

    let host = run("host", "  hostPID: true\n  hostIPC: true");
    assert!(procs(&host) > 20 || host.contains("sees-peer"), "{host}");
    assert!(host.contains(&host_ipc), "{host}");
}

/// Every container of a pod that shares its process namespace starts at its first create and
/// reads its own cgroup limits, however many the pod has. On a cgroup v1 host libcontainer looked
/// a pid of the joined namespace up in the host's /proc to find the cgroups to show: a container
/// whose init got a number the host has no process of failed its first create
/// (CreateContainerError, started again 10 s on).
#[test]
fn a_shared_process_namespace_of_ten_containers_starts_each_at_once_with_its_own_cgroups() {
    let Some(()) = require_root("shared_pid_many") else {
        return;
    };
    let env = Env::new();
    let containers: String = (0..10)
        .map(|i| {
            format!(
                "    - name: c{i}\n      image: {IMAGE}\n      imagePullPolicy: Never\n      resources: {{limits: {{memory: {}Mi}}}}\n      command: [sh, -c, \"cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; exec sleep 3600\"]\n",
                32 + i
            )
        })
        .collect();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: many}}\nspec:\n  shareProcessNamespace: true\n  terminationGracePeriodSeconds: 0\n  containers:\n{containers}"
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("every container running", 30, || {
        let pod = env.pod_json("many");
        let statuses = pod["status"]["containerStatuses"].as_array()?.clone();
        (statuses.len() == 10 && statuses.iter().all(|s| s["state"]["running"].is_object()))
            .then_some(())
    });
    let pod = env.pod_json("many");
    for s in pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        assert_eq!(s["restartCount"], 0, "{s:#}");
    }
    let failed: Vec<_> = env
        .event_records("many")
        .into_iter()
        .filter(|e| e["type"] == "Warning")
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    for i in 0..10u64 {
        let logs = stdout(&env.tandem(&["logs", "many", "-c", &format!("c{i}")]));
        assert_eq!(logs.trim(), ((32 + i) << 20).to_string(), "c{i}");
    }
    let out = env.tandem(&["delete", "pod", "many"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
