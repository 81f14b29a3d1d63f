//! `tandem attach` and containers with `stdin`, `stdinOnce` and `tty` on real containers, as
//! root: input reaches the container's own process and its end closes a `stdinOnce` stdin;
//! output is followed from the moment of attaching; a terminal container is driven through its
//! own terminal (typed keys, a resize, its size and TERM), and what it printed is in its log.
//!
//! Every test uses its own `--root` and pod names, so they run in parallel.

mod support;

use std::io::{BufRead, BufReader, Write};

use support::{drive_terminal, require_root, stderr, stdout, wait_for, Env, Terminal, IMAGE};

fn name(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

/// Starts a pod and waits until every one of its containers runs.
fn running_pod(env: &Env, yaml: &str, pod: &str) {
    let out = env.run_yaml(yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("every container to run", 60, || {
        let v = env.pod_json(pod);
        let statuses = v["status"]["containerStatuses"].as_array()?.clone();
        statuses
            .iter()
            .all(|s| s["state"]["running"].is_object())
            .then_some(())
    });
}

fn container_state(env: &Env, pod: &str, container: &str) -> serde_json::Value {
    let v = env.pod_json(pod);
    v["status"]["containerStatuses"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == container).cloned())
        .map(|s| s["state"].clone())
        .unwrap_or_default()
}

#[test]
fn input_reaches_the_containers_process_and_stdin_once_closes_it() {
    if require_root("input_reaches_the_containers_process_and_stdin_once_closes_it").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("attach-in");
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  restartPolicy: Never
  containers:
    - name: once
      image: {IMAGE}
      imagePullPolicy: Never
      stdin: true
      stdinOnce: true
      command: [sh, -c, "wc -l; echo once-done"]
    - name: echo
      image: {IMAGE}
      imagePullPolicy: Never
      stdin: true
      command: [cat]
    - name: ticker
      image: {IMAGE}
      imagePullPolicy: Never
      command: [sh, -c, "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"]
"#
    );
    running_pod(&env, &yaml, &pod);

    // stdinOnce: 1000 lines, then the end of input, which the container reads as its own; the
    // session follows its output until it exits.
    let mut child = env.spawn_piped(&["attach", "-i", &pod, "-c", "once"]);
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for i in 0..1000 {
            writeln!(stdin, "line {i}").expect("write");
        }
    }
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1000\nonce-done\n");
    assert!(
        stderr(&out).contains("If you don't see a command prompt, try pressing enter."),
        "{}",
        stderr(&out)
    );
    wait_for("container once to have exited 0", 20, || {
        (container_state(&env, &pod, "once")["terminated"]["exitCode"] == 0).then_some(())
    });

    // Without stdinOnce: the session ends with the client's input, and the container's stdin
    // stays open for the next one.
    for word in ["first", "second"] {
        let mut child = env.spawn_piped(&["attach", "-i", "-q", &pod, "-c", "echo"]);
        let mut stdin = child.stdin.take().expect("stdin");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        writeln!(stdin, "{word}").expect("write");
        let line = lines.next().and_then(Result::ok);
        assert_eq!(line.as_deref(), Some(word));
        drop(stdin);
        let status = child.wait().expect("wait");
        assert!(status.success());
        assert!(
            container_state(&env, &pod, "echo")["running"].is_object(),
            "cat read an end of input it should not have"
        );
    }

    // Output only, from the moment of attaching: the ticker's lines go on past the first seen.
    let mut child = env.spawn_piped(&["attach", &pod, "-c", "ticker"]);
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first: Vec<String> = (0..3).filter_map(|_| lines.next()?.ok()).collect();
    let _ = child.kill();
    let _ = child.wait();
    let numbers: Vec<u64> = first
        .iter()
        .filter_map(|l| l.strip_prefix("tick ")?.parse().ok())
        .collect();
    assert_eq!(numbers.len(), 3, "{first:?}");
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");

    // Refusals: an unknown container, a container that is no longer running.
    let out = env.tandem(&["attach", &pod, "-c", "nope"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("container nope is not valid for pod"),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["attach", &pod, "-c", "once"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("is not running (terminated: Completed, exit code 0)"),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["delete", "pod", &pod, "--grace-period", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_terminal_container_is_driven_through_its_own_terminal() {
    if require_root("a_terminal_container_is_driven_through_its_own_terminal").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("attach-tty");
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  restartPolicy: Never
  containers:
    - name: shell
      image: {IMAGE}
      imagePullPolicy: Never
      stdin: true
      tty: true
      command: [sh]
"#
    );
    running_pod(&env, &yaml, &pod);
    let steps = serde_json::json!([
        ["expect", "try pressing enter."],
        ["send", "\r"],
        ["expect", "# "],
        ["send", "tty; stty size; echo term=$TERM; echo $((6*7))\r"],
        ["expect", "42"],
        ["resize", 40, 120],
        // The new size reaches the container's terminal on its own time.
        ["until", "40 120", "stty size\r"],
        ["send", "exit 3\r"],
    ]);
    let root = env.root.path().to_string_lossy().into_owned();
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let argv = [tandem, "--root", &root, "attach", "-it", &pod];
    let Terminal { shown, exit } = drive_terminal(&steps, argv, &[]);
    // The container's own terminal, set to the client's size, with containerd's TERM.
    assert!(
        shown.contains("/dev/pts/0\r\n30 100\r\nterm=xterm\r\n42"),
        "{shown}"
    );
    assert!(shown.contains("40 120"), "{shown}");
    assert_eq!(exit, 0, "{shown}");
    // The shell exited with its status; what the terminal showed is the container's log.
    wait_for("the shell to have exited 3", 20, || {
        (container_state(&env, &pod, "shell")["terminated"]["exitCode"] == 3).then_some(())
    });
    let logs = env.tandem(&["logs", &pod]);
    assert!(
        stdout(&logs).contains("term=xterm\r\n42"),
        "{}",
        stdout(&logs)
    );
    let out = env.tandem(&["delete", "pod", &pod, "--grace-period", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_ephemeral_container_joins_a_running_pod_and_its_targets_processes() {
    if require_root("an_ephemeral_container_joins_a_running_pod_and_its_targets_processes")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let pod = name("debug");
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: {IMAGE}
      imagePullPolicy: Never
      command: [sh, -c, "echo hello > /tmp/mark; exec sleep 3600"]
"#
    );
    running_pod(&env, &yaml, &pod);
    // A pod may not be created with one, as the API server says.
    let refused = env.run_yaml(
        &yaml
            .replace(&format!("name: {pod}}}"), &format!("name: {pod}-x}}"))
            .replace(
                "  containers:",
                &format!("  ephemeralContainers: [{{name: e, image: {IMAGE}}}]\n  containers:"),
            ),
        &["-d"],
    );
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("spec.ephemeralContainers cannot be set on create"),
        "{}",
        stderr(&refused)
    );

    // Added to the running pod: it sees app's processes, and app's files through them.
    let out = env.tandem(&[
        "debug",
        &pod,
        "--image",
        IMAGE,
        "--image-pull-policy=Never",
        "--target=app",
        "-c",
        "probe",
        "--",
        "sh",
        "-c",
        "ps -o comm; cat /proc/1/root/tmp/mark; hostname",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("the ephemeral container to have exited 0", 30, || {
        let v = env.pod_json(&pod);
        let s = v["status"]["ephemeralContainerStatuses"]
            .as_array()?
            .first()?
            .clone();
        (s["state"]["terminated"]["exitCode"] == 0).then_some(s)
    });
    let logs = env.tandem(&["logs", &pod, "-c", "probe"]);
    let printed = stdout(&logs);
    assert!(
        printed.contains("sleep") && printed.contains(&format!("hello\n{pod}\n")),
        "{printed}"
    );
    // Not restarted, no part of the pod's readiness or phase.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let v = env.pod_json(&pod);
    let s = &v["status"]["ephemeralContainerStatuses"][0];
    assert_eq!(
        (&s["restartCount"], &s["ready"]),
        (&0.into(), &false.into()),
        "{s}"
    );
    assert_eq!(v["status"]["phase"], "Running");
    assert_eq!(
        v["spec"]["ephemeralContainers"][0]["targetContainerName"],
        "app"
    );
    // Each instance's id and its image's, as a CRI runtime reports them.
    let app = &v["status"]["containerStatuses"][0];
    let uid = v["metadata"]["uid"].as_str().unwrap_or_default();
    assert_eq!(app["containerID"], format!("tandem://{uid}-app-0"), "{app}");
    let image_id = app["imageID"].as_str().unwrap_or_default();
    assert!(
        image_id.starts_with("localhost/tandem-busybox@sha256:") && image_id.len() == 32 + 64,
        "{image_id}"
    );
    assert_eq!(s["imageID"], app["imageID"]);
    let out = env.tandem(&["get", "pod", &pod]);
    assert!(
        stdout(&out).contains("1/1     Running   0"),
        "{}",
        stdout(&out)
    );
    let out = env.tandem(&["describe", "pod", &pod]);
    let described = stdout(&out);
    let section = described
        .split_once("Ephemeral Containers:\n  probe:\n")
        .map(|(_, after)| after)
        .unwrap_or_else(|| panic!("{described}"));
    assert!(section.contains("Terminated"), "{described}");

    // Refused as the API server refuses them: a name taken, a target that is not there.
    for (args, words) in [
        (
            vec!["-c", "probe"],
            "spec.ephemeralContainers[1].name: Duplicate value: \"probe\"",
        ),
        (vec!["-c", "app"], "Duplicate value: \"app\""),
        (
            vec!["--target", "nope"],
            "spec.ephemeralContainers[1].targetContainerName: Not found: \"nope\"",
        ),
    ] {
        let mut all = vec!["debug", &pod, "--image", IMAGE];
        all.extend(args);
        let out = env.tandem(&all);
        assert!(!out.status.success());
        assert!(stderr(&out).contains(words), "{}", stderr(&out));
    }

    // Interactive: a shell on the debug container's own terminal, attached at once.
    let steps = serde_json::json!([
        ["expect", "# "],
        ["send", "echo $((6*7)); ps -o comm | grep -c sleep\r"],
        ["expect", "42\r\n1"],
        ["send", "exit\r"],
    ]);
    let root = env.root.path().to_string_lossy().into_owned();
    let tandem = env!("CARGO_BIN_EXE_tandem");
    let argv = [
        tandem,
        "--root",
        &root,
        "debug",
        "-it",
        &pod,
        "--image",
        IMAGE,
        "--image-pull-policy=Never",
        "--target",
        "app",
        "--",
        "sh",
    ];
    let Terminal { shown, exit } = drive_terminal(&steps, argv, &[]);
    assert!(
        shown.contains("Defaulting debug container name to debugger-"),
        "{shown}"
    );
    assert!(
        shown.contains("the ephemeral container will not be restarted"),
        "{shown}"
    );
    assert_eq!(exit, 0, "{shown}");
    let out = env.tandem(&["delete", "pod", &pod]);
    assert!(out.status.success(), "{}", stderr(&out));
}
