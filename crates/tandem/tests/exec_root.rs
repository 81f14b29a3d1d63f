//! `tandem exec` on real containers, as root: the command runs as the container's own process
//! does (user, groups, capabilities, seccomp, cgroup, namespaces, environment, working
//! directory); exit statuses, stdin and its end, an interactive shell on a terminal (typed
//! keys, a resize, Ctrl-C), the default container, refusals, and a client killed mid-command
//! leaving nothing behind. Exec probes run the same way.
//!
//! Every test uses its own `--root` and pod names, so they run in parallel.

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

use support::{
    drive_terminal, pids_mentioning, require_root, stderr, stdout, wait_for, Env, Terminal, IMAGE,
};

fn name(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

/// A pod with a native sidecar `proxy`, a main container `app` running as 1000:3000 in /tmp with
/// FOO=bar, and a root main container `other`; `app` prints its own credentials and filters at
/// start, for exec'd commands to be compared with.
fn pod_yaml(pod: &str, annotations: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {pod}
  annotations: {{{annotations}}}
spec:
  enableServiceLinks: false
  initContainers:
    - name: proxy
      image: {IMAGE}
      imagePullPolicy: Never
      restartPolicy: Always
      command: [sleep, "3600"]
  containers:
    - name: app
      image: {IMAGE}
      imagePullPolicy: Never
      command: [sh, -c, "grep -E '^(Groups|Cap...|NoNewPrivs|Seccomp):' /proc/self/status; echo READY; exec sleep 3600"]
      workingDir: /tmp
      env: [{{name: FOO, value: bar}}]
      securityContext: {{runAsUser: 1000, runAsGroup: 3000}}
      readinessProbe:
        exec: {{command: [sh, -c, 'test "$(id -u):$(id -g)" = 1000:3000']}}
        periodSeconds: 1
    - name: other
      image: {IMAGE}
      imagePullPolicy: Never
      command: [sleep, "3600"]
"#
    )
}

/// Starts the pod and waits until it is Ready: the exec readiness probe of `app` passes only
/// when it runs as the container's user.
fn ready_pod(env: &Env, pod: &str, annotations: &str) {
    let out = env.run_yaml(&pod_yaml(pod, annotations), &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for(
        "the pod to be Ready (its exec probe as uid 1000)",
        60,
        || {
            let v = env.pod_json(pod);
            v["status"]["conditions"]
                .as_array()?
                .iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
                .then_some(())
        },
    );
}

fn exec(env: &Env, args: &[&str]) -> Output {
    let mut all = vec!["exec"];
    all.extend_from_slice(args);
    env.tandem(&all)
}

#[test]
fn a_command_runs_as_the_containers_own_process_with_its_exit_status() {
    if require_root("a_command_runs_as_the_containers_own_process_with_its_exit_status").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("exec-as");
    ready_pod(&env, &pod, "");
    let own = wait_for("app's own credentials in its log", 30, || {
        let out = env.tandem(&["logs", &pod, "-c", "app"]);
        let text = stdout(&out);
        text.contains("READY").then(|| text.replace("READY\n", ""))
    });
    let out = exec(
        &env,
        &[
            &pod,
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "grep -E '^(Groups|Cap...|NoNewPrivs|Seccomp):' /proc/self/status",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        own,
        "credentials and filters differ from the container's"
    );
    assert!(own.contains("Seccomp:\t2"), "{own}");
    let out = exec(
        &env,
        &[
            &pod,
            "-c",
            "app",
            "--",
            "sh",
            "-c",
            "id -u; id -g; pwd; hostname; echo $HOSTNAME; echo $FOO; echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT; [ \"$(cat /proc/1/cgroup)\" = \"$(cat /proc/self/cgroup)\" ] && echo same-cgroup; [ \"$(readlink /proc/1/ns/pid)\" = \"$(readlink /proc/self/ns/pid)\" ] && echo same-pid-ns; ls /proc/self/fd",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let mut lines: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    // HOSTNAME in the environment, as containerd gives every container; the `kubernetes`
    // Service's variables even with enableServiceLinks false, as the kubelet gives them (its
    // address the range's first, or one of the next eight when other stores hold it).
    let kubernetes = lines.get_mut(6).map(std::mem::take).unwrap_or_default();
    let first_nine = (1..10).map(|n| format!("10.96.0.{n}:443"));
    assert!(
        first_nine.into_iter().any(|a| a == kubernetes),
        "{kubernetes}"
    );
    assert_eq!(
        lines[..9],
        [
            "1000",
            "3000",
            "/tmp",
            pod.as_str(),
            pod.as_str(),
            "bar",
            "",
            "same-cgroup",
            "same-pid-ns"
        ],
        "{lines:?}"
    );
    // stdio and the directory ls reads, nothing of the supervisor's or the helper's.
    assert_eq!(lines[9..], ["0", "1", "2", "3"], "{lines:?}");

    let out = exec(
        &env,
        &[
            &pod,
            "-c",
            "other",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\ncommand terminated with exit code 3\n");

    let out = exec(&env, &[&pod, "-c", "other", "--", "no-such-tool", "x"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exec: \"no-such-tool\": executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    let out = exec(&env, &[&pod, "-c", "other", "--", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
}

#[test]
fn stdin_is_passed_on_with_its_end() {
    if require_root("stdin_is_passed_on_with_its_end").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("exec-in");
    ready_pod(&env, &pod, "");
    let mut child = env
        .cmd()
        .args([
            "exec",
            "-i",
            &pod,
            "-c",
            "other",
            "--",
            "sh",
            "-c",
            "wc -l; echo end",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tandem exec");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for i in 0..1000 {
            writeln!(stdin, "line {i}").expect("write");
        }
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1000\nend\n");
    // Without -i the command reads nothing.
    let out = exec(&env, &[&pod, "-c", "other", "--", "cat"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn the_default_container_is_kubectls_and_a_stopped_one_is_refused_with_its_state() {
    if require_root("the_default_container_is_kubectls_and_a_stopped_one_is_refused_with_its_state")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let pod = name("exec-default");
    ready_pod(&env, &pod, "");
    let out = exec(&env, &[&pod, "--", "sh", "-c", "echo $FOO"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "bar\n");
    assert_eq!(
        stderr(&out),
        "Defaulted container \"app\" out of: app, other, proxy (init)\n"
    );
    let out = exec(&env, &[&pod, "-q", "--", "true"]);
    assert_eq!(stderr(&out), "");
    let out = exec(&env, &[&pod, "-c", "proxy", "--", "true"]);
    assert!(out.status.success(), "the native sidecar: {}", stderr(&out));
    let out = exec(&env, &[&pod, "-c", "nope", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("container nope is not valid for pod"),
        "{}",
        stderr(&out)
    );
    let out = exec(&env, &["nope", "--", "true"]);
    assert!(
        stderr(&out).contains("Error from server (NotFound): pods \"nope\" not found"),
        "{}",
        stderr(&out)
    );

    let annotated = name("exec-annotated");
    ready_pod(
        &env,
        &annotated,
        "kubectl.kubernetes.io/default-container: other",
    );
    let out = exec(&env, &[&annotated, "--", "id", "-u"]);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("0\n", ""));

    let done = name("exec-done");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {done}}}\nspec:\n  restartPolicy: Never\n  containers:\n    - name: job\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, 'exit 4']\n    - name: keep\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sleep, '3600']\n"
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the job container to end", 30, || {
        env.pod_json(&done)["status"]["containerStatuses"][0]["state"]["terminated"]
            .is_object()
            .then_some(())
    });
    let out = exec(&env, &[&done, "-c", "job", "--", "true"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "container job in pod {done} is not running (terminated: Error, exit code 4)"
        )),
        "{}",
        stderr(&out)
    );
}

#[test]
fn an_interactive_shell_gets_a_terminal_of_the_container_resized_and_interrupted() {
    if require_root("an_interactive_shell_gets_a_terminal_of_the_container_resized_and_interrupted")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let pod = name("exec-tty");
    ready_pod(&env, &pod, "");
    let steps = serde_json::json!([
        ["expect", "# "],
        ["send", "tty; stty size; echo $((6*7))\r"],
        ["expect", "42"],
        ["resize", 40, 120],
        // The new size reaches the container's terminal on its own time.
        ["until", "40 120", "stty size\r"],
        // Ctrl-C once the job is the terminal's foreground (it prints only then).
        ["send", "sh -c 'echo started; exec sleep 300'\r"],
        ["expect", "started\r\n"],
        ["send", "\u{3}"],
        ["send", "echo status-$?\r"],
        ["expect", "status-130"],
        ["send", "exit 7\r"],
    ]);
    let root = env.root.path().to_string_lossy().into_owned();
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let argv = [
        tandem, "--root", &root, "exec", "-it", &pod, "-c", "other", "--", "sh",
    ];
    let Terminal { shown, exit } = drive_terminal(&steps, argv, &[]);
    // The container's own devpts, the size it was started with, then the new one.
    assert!(shown.contains("/dev/pts/0\r\n30 100\r\n42"), "{shown}");
    assert!(shown.contains("40 120"), "{shown}");
    assert!(
        shown.contains("command terminated with exit code 7"),
        "{shown}"
    );
    assert_eq!(exit, 7, "{shown}");
    // Without a terminal on stdin, kubectl's warning and plain pipes.
    let out = exec(&env, &["-it", &pod, "-c", "other", "--", "tty"]);
    assert_eq!(stdout(&out), "not a tty\n");
    assert!(
        stderr(&out).starts_with(
            "Unable to use a TTY - input is not a terminal or the right kind of file\n"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_client_killed_mid_command_leaves_nothing_behind() {
    if require_root("a_client_killed_mid_command_leaves_nothing_behind").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("exec-kill");
    ready_pod(&env, &pod, "");
    let dir = env.pods_dir().join(format!("default_{pod}"));
    let supervisor = support::supervisor_pid(&dir);
    let fds = || std::fs::read_dir(format!("/proc/{supervisor}/fd")).map_or(0, |d| d.count());
    let before = fds();
    let marker = format!("{}", 500_000 + std::process::id() % 100_000);
    for stdin in [false, true] {
        let mut args = vec!["exec"];
        if stdin {
            args.push("-i");
        }
        args.extend([pod.as_str(), "-c", "other", "--", "sleep", marker.as_str()]);
        let mut client = env
            .cmd()
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn tandem exec");
        let needle = format!("sleep {marker}");
        wait_for("the command to run in the container", 30, || {
            // The client, the helper and the command itself.
            (pids_mentioning(&needle).len() >= 3).then_some(())
        });
        support::kill9(client.id() as i32);
        let _ = client.wait();
        wait_for("the command and its helper to be gone", 30, || {
            pids_mentioning(&needle).is_empty().then_some(())
        });
    }
    wait_for(
        "the supervisor's descriptors back where they were",
        10,
        || (fds() == before).then_some(()),
    );
    // Nothing waits to be reaped either: an exit may stand as a zombie for the moment between
    // the kernel's SIGCHLD and the reaper's sweep, never for longer.
    let zombies = || -> Vec<i32> {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| support::parent_of(*pid) == Some(supervisor))
            .filter(|pid| {
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                    s.rsplit(')')
                        .next()
                        .is_some_and(|r| r.trim_start().starts_with('Z'))
                })
            })
            .collect()
    };
    wait_for("every exit under the supervisor to be reaped", 10, || {
        zombies().is_empty().then_some(())
    });
}

#[test]
fn a_pod_whose_supervisor_died_is_refused_with_its_state() {
    if require_root("a_pod_whose_supervisor_died_is_refused_with_its_state").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("exec-lost");
    ready_pod(&env, &pod, "");
    let dir = env.pods_dir().join(format!("default_{pod}"));
    support::kill9(support::supervisor_pid(&dir));
    let out = wait_for("exec to be refused", 30, || {
        let out = exec(&env, &[&pod, "-c", "other", "--", "true"]);
        stderr(&out).contains("SupervisorLost").then_some(out)
    });
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(&format!(
            "error: pod {pod} is not running (phase Unknown: SupervisorLost)"
        )),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("tandem delete pod"),
        "{}",
        stderr(&out)
    );
}

/// A hundred exec sessions, each run to its end or its client killed at some moment of it,
/// leave the pod's supervisor with the descriptors it had and its memory where it was.
#[test]
fn a_hundred_exec_sessions_leave_the_supervisor_as_it_was() {
    if require_root("a_hundred_exec_sessions_leave_the_supervisor_as_it_was").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("exec-many");
    ready_pod(&env, &pod, "");
    let dir = env.pods_dir().join(format!("default_{pod}"));
    let supervisor = support::supervisor_pid(&dir);
    let fds = || std::fs::read_dir(format!("/proc/{supervisor}/fd")).map_or(0, |d| d.count());
    // A few sessions first, so that what a first session sets up once counts as "before".
    for _ in 0..5 {
        assert!(exec(&env, &[&pod, "-c", "other", "--", "true"])
            .status
            .success());
    }
    let (fds_before, rss_before) = (fds(), support::rss_kib(supervisor));
    // A number no other test's command sleeps for: those may run beside this one.
    let marker = format!("{}", 600_000 + std::process::id() % 100_000);
    for i in 0..100u64 {
        if i % 5 == 0 {
            let mut client = env
                .cmd()
                .args(["exec", "-i", &pod, "-c", "other", "--", "sleep", &marker])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn tandem exec");
            std::thread::sleep(std::time::Duration::from_millis(20 * (i % 15)));
            support::kill9(client.id() as i32);
            let _ = client.wait();
        } else {
            let out = exec(
                &env,
                &[&pod, "-c", "other", "--", "sh", "-c", "echo $0", "x"],
            );
            assert_eq!(stdout(&out), "x\n", "{}", stderr(&out));
        }
    }
    let needle = format!("sleep {marker}");
    wait_for("every dropped command gone", 30, || {
        pids_mentioning(&needle).is_empty().then_some(())
    });
    wait_for(
        "the supervisor's descriptors back where they were",
        10,
        || (fds() == fds_before).then_some(()),
    );
    let rss_after = support::rss_kib(supervisor);
    assert!(
        rss_after <= rss_before + 1024,
        "the supervisor grew from {rss_before} KiB to {rss_after} KiB over 100 sessions"
    );
    eprintln!("supervisor RSS {rss_before} KiB -> {rss_after} KiB over 100 exec sessions");
}
