//! kill -9 at the worst moments, as root, through the fault points of `TANDEM_FAULT`
//! (tandem-runtime's `fault` module): whatever dies, the pod says what happened, `delete`
//! returns, and nothing is left behind — processes, mounts, cgroups, network attachments, state.
//!
//! Every test uses its own `--root` and pod names, so they run in parallel. One test, output
//! into a closed pipe, needs no root.

mod support;

use std::process::Output;
use std::time::Instant;

use support::{
    attachment, cgroups_of, mounts_under, network_leftovers, parent_of, pids_mentioning,
    processes_mentioning, require_root, stderr, uid_of, wait_for, Env, IMAGE,
};

fn name(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

/// `tandem run -d` of a manifest with `TANDEM_FAULT=fault` in its environment.
fn run_with_fault(env: &Env, fault: &str, yaml: &str) -> Output {
    env.run_yaml_with(yaml, &["-d"], &[("TANDEM_FAULT", fault)])
}

/// A one-container pod running `command` (a YAML flow sequence) with `spec` lines added.
fn pod_yaml(pod: &str, spec: &str, command: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n{spec}  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: {command}\n"
    )
}

/// `tandem delete pod NAME --grace-period 0`, which must return within `secs`.
fn delete_within(env: &Env, pod: &str, secs: u64) {
    let started = Instant::now();
    let mut child = env
        .cmd()
        .args(["delete", "pod", pod, "--grace-period", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tandem delete");
    let status = wait_for("tandem delete to return", secs, || {
        child.try_wait().expect("wait for tandem delete")
    });
    assert!(
        status.success(),
        "delete failed after {:?}",
        started.elapsed()
    );
}

/// Everything of the pod that is still on the host once it is deleted.
fn leftovers(env: &Env, pod: &str, uid: &str, made: &[(String, String, String)]) -> Vec<String> {
    let dir = env.pods_dir().join(format!("default_{pod}"));
    let mut left: Vec<String> = processes_mentioning(&dir.to_string_lossy());
    left.extend(processes_mentioning(uid));
    left.extend(cgroups_of(uid).iter().map(|c| c.display().to_string()));
    left.extend(mounts_under(env.root.path()));
    left.extend(network_leftovers(made));
    if dir.exists() {
        left.push(format!("{} still exists", dir.display()));
    }
    left
}

/// The state of container 0 and its last state, from `get pod -o json`.
fn states(env: &Env, pod: &str) -> (serde_json::Value, serde_json::Value) {
    let v = env.pod_json(pod);
    let c = &v["status"]["containerStatuses"][0];
    (c["state"].clone(), c["lastState"].clone())
}

/// A shim killed after libcontainer created the container but before it started it leaves an
/// init blocked waiting for the start signal and holding the shim's pipes. That used to hang
/// the pod for good (`ContainerCreating`, then `Terminating`, and a `delete` that never
/// returned). Now the supervisor sees the shim die, kills what it left, and reports a start
/// error the engine retries; `delete` takes everything away.
#[test]
fn a_shim_killed_while_it_creates_the_container_does_not_hang_the_pod() {
    if require_root("a_shim_killed_while_it_creates_the_container_does_not_hang_the_pod").is_none()
    {
        return;
    }
    let env = Env::new();
    let pod = name("shim-create");
    let yaml = pod_yaml(&pod, "", "[sleep, \"3600\"]");
    let out = run_with_fault(&env, "shim-after-create", &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    let uid = uid_of(&env, &pod);
    let made: Vec<_> = attachment(&env.pods_dir().join(format!("default_{pod}")))
        .into_iter()
        .collect();
    let message = wait_for("the start error of the killed shim", 30, || {
        let (state, last) = states(&env, &pod);
        [&state["waiting"], &last["terminated"]]
            .iter()
            .filter_map(|s| s["message"].as_str())
            .find(|m| m.contains("the shim was killed by signal 9 before it started the container"))
            .map(str::to_string)
    });
    // The blocked init held the pipe: it was found and killed.
    assert!(
        message.contains("the 1 process(es) it left"),
        "unexpected message: {message}"
    );
    // Retried, and failing the same way, not stuck: a second start happened.
    wait_for("a retried start", 30, || {
        let v = env.pod_json(&pod);
        (v["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(1)).then_some(())
    });
    delete_within(&env, &pod, 30);
    let left = leftovers(&env, &pod, &uid, &made);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// A shim killed once it has reported its container started takes nothing with it: the
/// supervisor holds a pidfd of the container's init by then, and the init, handed to the
/// supervisor (a subreaper) as the shim dies, runs on as its child. Its exit is heard as any
/// other's (`delete` stops it), and nothing is left behind.
#[test]
fn a_shim_killed_after_the_start_leaves_its_container_running_under_the_supervisor() {
    if require_root(
        "a_shim_killed_after_the_start_leaves_its_container_running_under_the_supervisor",
    )
    .is_none()
    {
        return;
    }
    let env = Env::new();
    let pod = name("shim-start");
    // A number of seconds no other test uses, to find the container's process by it.
    let marker = 100_000 + std::process::id() % 100_000;
    let yaml = pod_yaml(
        &pod,
        "  restartPolicy: Never\n",
        &format!("[sleep, \"{marker}\"]"),
    );
    let out = run_with_fault(&env, "shim-after-start", &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    let uid = uid_of(&env, &pod);
    let dir = env.pods_dir().join(format!("default_{pod}"));
    let made: Vec<_> = attachment(&dir).into_iter().collect();
    wait_for("the container to run", 30, || {
        let (state, _) = states(&env, &pod);
        state["running"].is_object().then_some(())
    });
    let supervisor = support::supervisor_pid(&dir);
    let sleeping = pids_mentioning(&format!("sleep {marker}"));
    assert_eq!(sleeping.len(), 1, "{sleeping:?}");
    assert_eq!(parent_of(sleeping[0].0), Some(supervisor));
    // Still running a while later, never restarted.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let v = env.pod_json(&pod);
    assert_eq!(v["status"]["phase"], "Running", "{v}");
    assert_eq!(
        v["status"]["containerStatuses"][0]["restartCount"], 0,
        "{v}"
    );
    delete_within(&env, &pod, 30);
    let sleeping = processes_mentioning(&format!("sleep {marker}"));
    assert!(
        sleeping.is_empty(),
        "the container still runs: {sleeping:?}"
    );
    let left = leftovers(&env, &pod, &uid, &made);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// A panic in any of the supervisor's tasks ends the supervisor (the async runtime would catch
/// it and leave a supervisor that never moves the pod again), and the pod says so: `Unknown`,
/// `SupervisorLost`, the panic's message and the log's path. `delete` removes what is left.
#[test]
fn a_panicking_supervisor_leaves_a_pod_that_says_so() {
    if require_root("a_panicking_supervisor_leaves_a_pod_that_says_so").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("sup-panic");
    let marker = 300_000 + std::process::id() % 100_000;
    let yaml = pod_yaml(&pod, "", &format!("[sleep, \"{marker}\"]"));
    let out = run_with_fault(&env, "supervisor-panic", &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    let uid = uid_of(&env, &pod);
    let made: Vec<_> = attachment(&env.pods_dir().join(format!("default_{pod}")))
        .into_iter()
        .collect();
    let status = wait_for("the pod to show its supervisor lost", 30, || {
        let v = env.pod_json(&pod);
        (v["status"]["phase"] == "Unknown").then(|| v["status"].clone())
    });
    assert_eq!(status["reason"], "SupervisorLost", "{status}");
    let message = status["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("panicked at") && message.contains("fault point supervisor-panic reached"),
        "{message}"
    );
    assert!(message.contains("supervisor.log"), "{message}");
    // The container does not run on unsupervised.
    wait_for("the container to be stopped", 15, || {
        processes_mentioning(&format!("sleep {marker}"))
            .is_empty()
            .then_some(())
    });
    delete_within(&env, &pod, 30);
    let left = leftovers(&env, &pod, &uid, &made);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// In the foreground, the first Ctrl-C stops the pods gracefully and a second one forces them:
/// a container that ignores SIGTERM under a 600 s grace period is gone within seconds of the
/// second. (The second press used to do nothing: its counter jumped past the branch.)
#[test]
fn a_second_ctrl_c_forces_the_pods_to_stop() {
    if require_root("a_second_ctrl_c_forces_the_pods_to_stop").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("ctrl-c");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  terminationGracePeriodSeconds: 600\n  containers:\n    - name: stubborn\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"trap '' TERM; echo up; while true; do sleep 1; done\"]\n"
    );
    let path = env.root.path().join("ctrl-c.yaml");
    std::fs::write(&path, yaml).expect("write the manifest");
    let mut child = env
        .cmd()
        .arg("run")
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tandem run");
    wait_for("the pod to run", 30, || {
        (env.pod_json(&pod)["status"]["phase"] == "Running").then_some(())
    });
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let interrupt =
        || nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("send SIGINT");
    interrupt();
    // The graceful stop waits on the container, which ignores SIGTERM.
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(
        child.try_wait().expect("poll tandem run").is_none(),
        "the first Ctrl-C must stop gracefully, not at once"
    );
    interrupt();
    let forced = Instant::now();
    wait_for("the forced stop", 30, || {
        child.try_wait().expect("poll tandem run")
    });
    let out = child.wait_with_output().expect("collect tandem run");
    let err = stderr(&out);
    assert!(err.contains("stopping pods gracefully"), "{err}");
    assert!(err.contains("forcing pods to stop"), "{err}");
    assert!(
        forced.elapsed() < std::time::Duration::from_secs(30),
        "the forced stop took {:?}",
        forced.elapsed()
    );
    assert!(
        !env.pods_dir().join(format!("default_{pod}")).exists(),
        "the stopped pod left its directory"
    );
}

/// `tandem run` killed while it writes a pod's files leaves no pod: `get` does not list it, the
/// next `run` of the same pod succeeds (it used to say AlreadyExists while `get` and `delete`
/// said NotFound), and sweeps what the killed one left.
#[test]
fn a_run_killed_before_it_claims_the_name_leaves_no_pod() {
    if require_root("a_run_killed_before_it_claims_the_name_leaves_no_pod").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("run-killed");
    let yaml = pod_yaml(&pod, "", "[sleep, \"3600\"]");
    let out = run_with_fault(&env, "run-before-claim", &yaml);
    assert_eq!(out.status.code(), None, "the fault point kills the CLI");
    let listed = support::stdout(&env.tandem(&["get", "pods"]));
    assert!(!listed.contains(&pod), "{listed}");
    let staged = std::fs::read_dir(env.pods_dir())
        .expect("the pods directory")
        .count();
    assert_eq!(staged, 1, "the killed run's staging directory");
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let entries: Vec<String> = std::fs::read_dir(env.pods_dir())
        .expect("the pods directory")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, [format!("default_{pod}")], "swept and started");
    delete_within(&env, &pod, 30);
}

/// `tandem run` killed once the pod has its name but before its supervisor starts leaves a pod
/// that says so (`Unknown`, `SupervisorLost`), which `delete` removes.
#[test]
fn a_run_killed_before_the_supervisor_starts_leaves_a_pod_that_says_so() {
    if require_root("a_run_killed_before_the_supervisor_starts_leaves_a_pod_that_says_so").is_none()
    {
        return;
    }
    let env = Env::new();
    let pod = name("run-claimed");
    let yaml = pod_yaml(&pod, "", "[sleep, \"3600\"]");
    let out = run_with_fault(&env, "run-after-claim", &yaml);
    assert_eq!(out.status.code(), None, "the fault point kills the CLI");
    let status = env.pod_json(&pod)["status"].clone();
    assert_eq!(status["phase"], "Unknown", "{status}");
    assert_eq!(status["reason"], "SupervisorLost", "{status}");
    delete_within(&env, &pod, 30);
    assert!(env.pod_json(&pod).is_null(), "the pod is gone");
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    delete_within(&env, &pod, 30);
}

/// Output into a pipe nobody reads any more (`tandem lint … | head -1`) ends the command as it
/// ends `cat`, by SIGPIPE, instead of a panic. Needs no root.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let (read, write) = nix::unistd::pipe().expect("pipe");
    drop(read);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .args(["graph", "-o", "mermaid"])
        .arg(support::repo().join("examples/sidecar-logging.yaml"))
        .stdout(std::process::Stdio::from(write))
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run tandem graph");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(nix::libc::SIGPIPE), "{out:?}");
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

/// A cluster allows pod names of 253 characters. Such a pod runs, logs and is deleted like any
/// other, though its directory name and control socket path would not fit the kernel's limits
/// as they are (NAME_MAX 255 with the namespace; a socket address of 108 bytes).
#[test]
fn a_pod_with_the_longest_name_a_cluster_allows_runs() {
    if require_root("a_pod_with_the_longest_name_a_cluster_allows_runs").is_none() {
        return;
    }
    let env = Env::new();
    let tag = std::process::id().to_string();
    let pod = format!(
        "{}.{}.{}.{tag}{}",
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61 - tag.len())
    );
    assert_eq!(pod.len(), 253);
    let yaml = pod_yaml(
        &pod,
        "",
        "[sh, -c, \"echo hello from a long name; sleep 3600\"]",
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the pod to run", 30, || {
        (env.pod_json(&pod)["status"]["phase"] == "Running").then_some(())
    });
    let listed = support::stdout(&env.tandem(&["get", "pods"]));
    assert!(listed.contains(&pod), "{listed}");
    wait_for("its log line", 30, || {
        support::stdout(&env.tandem(&["logs", &pod]))
            .contains("hello from a long name")
            .then_some(())
    });
    delete_within(&env, &pod, 30);
    assert!(env.pod_json(&pod).is_null(), "the pod is gone");
}

/// The size of every file under `dir`.
fn bytes_under(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let m = e.metadata().expect("metadata");
            if m.is_dir() {
                bytes_under(&e.path())
            } else {
                m.len()
            }
        })
        .sum()
}

/// A container writing as fast as it can fills no disk: its log rotates at
/// `--container-log-max-size` and keeps `--container-log-max-files` files (it used to leave
/// 2.4 GiB in 20 s), and the supervisor's memory stays flat. `logs` reads across rotations:
/// numbered lines come out without a gap and end at the last. Binary output is stored as
/// written.
#[test]
fn logs_rotate_under_a_flood_and_keep_their_bytes() {
    if require_root("logs_rotate_under_a_flood_and_keep_their_bytes").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("log-flood");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  containers:\n    - name: flood\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"head -c 30000000 /dev/zero | tr '\\\\000' x; echo; seq 1 50000; echo counted; sleep 3600\"]\n    - name: binary\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"printf 'a\\\\377\\\\376\\\\000z\\\\n\\\\200\\\\n'; sleep 3600\"]\n"
    );
    let out = env.run_yaml(
        &yaml,
        &[
            "-d",
            "--container-log-max-size",
            "256Ki",
            "--container-log-max-files",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let logs = |c: &str| env.tandem(&["logs", &pod, "-c", c]).stdout;
    wait_for("the flood to be counted", 120, || {
        String::from_utf8_lossy(&logs("flood"))
            .contains("counted")
            .then_some(())
    });
    let dir = env.pods_dir().join(format!("default_{pod}"));
    let kept = bytes_under(&dir.join("logs/flood"));
    // Each file passes its size by one batch of records at most before it rotates.
    let bound = 3 * ((256 << 10) + tandem_supervisor::logs::FLUSH_AT as u64 + (16 << 10));
    assert!(kept <= bound, "30 MB of output left {kept} bytes of logs");
    let text = String::from_utf8_lossy(&logs("flood")).into_owned();
    let numbers: Vec<u32> = text.lines().filter_map(|l| l.parse().ok()).collect();
    assert_eq!(numbers.last(), Some(&50000), "the newest lines are kept");
    assert!(
        numbers.windows(2).all(|w| w[1] == w[0] + 1),
        "no line is lost between rotated files"
    );
    let supervisor = support::supervisor_pid(&dir);
    let rss_kib: u64 = std::fs::read_to_string(format!("/proc/{supervisor}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .expect("VmRSS");
    assert!(
        rss_kib < 64 << 10,
        "the supervisor holds {rss_kib} KiB after the flood"
    );
    // Bytes as written: invalid UTF-8 and a NUL.
    assert_eq!(logs("binary"), b"a\xff\xfe\x00z\n\x80\n");
    delete_within(&env, &pod, 30);
}

/// A supervisor killed with kill -9 takes its pod's containers along (the pause process, told
/// by the kernel of its parent's death, kills everything in the pod's cgroup): nothing runs on
/// unsupervised. The pod says `Unknown`/`SupervisorLost`; `delete` removes the rest.
#[test]
fn a_killed_supervisor_stops_its_pods_containers() {
    if require_root("a_killed_supervisor_stops_its_pods_containers").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("sup-killed");
    let marker = 200_000 + std::process::id() % 100_000;
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  shareProcessNamespace: true\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sleep, \"{marker}\"]\n    - name: helper\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sleep, \"{}\"]\n",
        marker + 1
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = env.pods_dir().join(format!("default_{pod}"));
    let uid = uid_of(&env, &pod);
    let made: Vec<_> = attachment(&dir).into_iter().collect();
    wait_for("both containers to run", 30, || {
        (processes_mentioning(&format!("sleep {marker}")).len() == 1
            && processes_mentioning(&format!("sleep {}", marker + 1)).len() == 1)
            .then_some(())
    });
    support::kill9(support::supervisor_pid(&dir));
    wait_for("the containers to be stopped", 15, || {
        (processes_mentioning(&format!("sleep {marker}")).is_empty()
            && processes_mentioning(&format!("sleep {}", marker + 1)).is_empty())
        .then_some(())
    });
    let status = env.pod_json(&pod)["status"].clone();
    assert_eq!(status["phase"], "Unknown", "{status}");
    assert_eq!(status["reason"], "SupervisorLost", "{status}");
    delete_within(&env, &pod, 30);
    let left = leftovers(&env, &pod, &uid, &made);
    assert!(left.is_empty(), "left behind: {left:#?}");
}

/// Another user's store is an error that says so, not an empty one: `get pods` used to say "No
/// resources found" (exit 0) and `logs`/`delete` "not found" to a user who may not read root's
/// store. `--root` naming a file is an error too.
#[test]
fn a_store_that_cannot_be_read_is_an_error_not_an_empty_store() {
    if require_root("a_store_that_cannot_be_read_is_an_error_not_an_empty_store").is_none() {
        return;
    }
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let pods = env.pods_dir();
    std::fs::create_dir_all(&pods).expect("the pods directory");
    // A store of root's that others may reach but not read, as /run/tandem/pods would be.
    let open_up = |p: &std::path::Path, mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    open_up(env.root.path(), 0o711);
    open_up(&pods, 0o700);
    let as_nobody = |args: &[&str]| {
        env.cmd()
            .args(args)
            .uid(65534)
            .gid(65534)
            .output()
            .expect("run tandem as nobody")
    };
    for args in [
        &["get", "pods"][..],
        &["logs", "web"][..],
        &["delete", "pod", "web"][..],
    ] {
        let out = as_nobody(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "{args:?}: {err}");
        assert!(err.contains("cannot read the pods in"), "{args:?}: {err}");
        assert!(err.contains("run tandem with sudo"), "{args:?}: {err}");
        assert!(!err.contains("not found"), "{args:?}: {err}");
    }
    let file = env.root.path().join("not-a-directory");
    std::fs::write(&file, "").expect("a file");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("--root")
        .arg(&file)
        .args(["get", "pods"])
        .output()
        .expect("run tandem");
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("must name a directory"),
        "{}",
        stderr(&out)
    );
}

/// Twenty `tandem run -d` at once, of distinct pods, all succeed; four at once of one pod: one
/// succeeds, the others get AlreadyExists, and the pod that runs is the winner's, untouched.
#[test]
fn concurrent_runs_claim_names_atomically() {
    if require_root("concurrent_runs_claim_names_atomically").is_none() {
        return;
    }
    let env = Env::new();
    let base = name("many");
    let yaml = |pod: &str, text: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, \"echo {text}; sleep 3600\"]\n"
        )
    };
    let run_all = |manifests: Vec<String>| -> Vec<Output> {
        std::thread::scope(|s| {
            let handles: Vec<_> = manifests
                .iter()
                .map(|m| s.spawn(|| env.run_yaml(m, &["-d"])))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a run thread"))
                .collect()
        })
    };
    let distinct: Vec<String> = (0..20)
        .map(|i| yaml(&format!("{base}-{i}"), "distinct"))
        .collect();
    for (i, out) in run_all(distinct).iter().enumerate() {
        assert!(out.status.success(), "pod {i}: {}", stderr(out));
    }
    let listed = support::stdout(&env.tandem(&["get", "pods"]));
    assert_eq!(listed.matches(&base).count(), 20, "{listed}");

    let same = format!("{base}-same");
    let outs = run_all(
        (0..4)
            .map(|i| yaml(&same, &format!("writer-{i}")))
            .collect(),
    );
    let winners: Vec<usize> = (0..4).filter(|i| outs[*i].status.success()).collect();
    assert_eq!(winners.len(), 1, "exactly one run wins");
    for (i, out) in outs.iter().enumerate() {
        if i != winners[0] {
            assert!(
                stderr(out).contains(&format!("pods \"{same}\" already exists")),
                "{}",
                stderr(out)
            );
        }
    }
    let winner = format!("writer-{}", winners[0]);
    wait_for("the winner's output", 30, || {
        support::stdout(&env.tandem(&["logs", &same]))
            .contains(&winner)
            .then_some(())
    });
    let staged: Vec<_> = std::fs::read_dir(env.pods_dir())
        .expect("pods")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(staged.is_empty(), "the losers left {staged:?}");
    let mut all: Vec<String> = (0..20).map(|i| format!("{base}-{i}")).collect();
    all.push(same);
    let mut args = vec!["delete", "pod", "--grace-period", "0"];
    args.extend(all.iter().map(String::as_str));
    let out = env.tandem(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(env.pods_dir())
        .expect("pods")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A supervisor killed in the middle of its teardown (network detached, sandbox, cgroups and
/// mounts not yet gone): the `delete` that asked for it finishes the job, and nothing is left.
#[test]
fn a_supervisor_killed_mid_teardown_leaves_what_delete_removes() {
    if require_root("a_supervisor_killed_mid_teardown_leaves_what_delete_removes").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("mid-teardown");
    let yaml = pod_yaml(&pod, "", "[sleep, \"3600\"]");
    let out = run_with_fault(&env, "supervisor-mid-teardown", &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    let uid = uid_of(&env, &pod);
    let made: Vec<_> = attachment(&env.pods_dir().join(format!("default_{pod}")))
        .into_iter()
        .collect();
    wait_for("the pod to run", 30, || {
        (env.pod_json(&pod)["status"]["phase"] == "Running").then_some(())
    });
    // The supervisor dies half-way through the delete's teardown; the delete finishes the job.
    delete_within(&env, &pod, 30);
    assert!(env.pod_json(&pod).is_null(), "the pod is gone");
    let left = leftovers(&env, &pod, &uid, &made);
    assert!(left.is_empty(), "left behind: {left:#?}");
}
