//! `tandem logs` on real containers, as root: `-f` through rotations and restarts, waiting for a
//! container that has not started and ending with it; `--tail`, `--since`, `--since-time`,
//! `--limit-bytes`, `--prefix`, `--all-containers`, `-l`, and the refusals kubectl gives.
//!
//! Every test uses its own `--root` and pod names, so they run in parallel.

mod support;

use std::process::Stdio;

use support::{require_root, stderr, stdout, wait_for, Env, IMAGE};

fn name(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

/// Starts `tandem logs ARGS` in the background; its output is read when it ends.
fn spawn_logs(env: &Env, args: &[&str]) -> std::process::Child {
    env.cmd()
        .arg("logs")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn tandem logs")
}

/// Waits up to `secs` for `child` to end by itself, and returns its output.
fn ended_within(child: std::process::Child, secs: u64) -> std::process::Output {
    let pid = child.id() as i32;
    let waiter = std::thread::spawn(move || child.wait_with_output().expect("wait"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !waiter.is_finished() {
        if std::time::Instant::now() > deadline {
            support::kill9(pid);
            let out = waiter.join().expect("join");
            panic!(
                "tandem logs -f did not end within {secs} s; it printed: {}",
                stdout(&out)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    waiter.join().expect("join")
}

#[test]
fn follow_reads_through_rotations_and_ends_with_the_container() {
    if require_root("follow_reads_through_rotations_and_ends_with_the_container").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("logs-rotate");
    // About 270 records fill 16 KiB: 3000 lines rotate the file about ten times while followed,
    // in bursts of 1000 lines, so several times between two looks of the follower, which then
    // reads the files rotated out in between. Ten files kept: a follower slowed down by a busy
    // machine still finds them.
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}}}\nspec:\n  restartPolicy: Never\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, 'i=1; while [ $i -le 3000 ]; do echo line-$i; [ $((i % 1000)) = 0 ] && sleep 0.3; i=$((i+1)); done']\n"
    );
    let out = env.run_yaml(
        &yaml,
        &[
            "-d",
            "--container-log-max-size",
            "16Ki",
            "--container-log-max-files",
            "10",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let follower = spawn_logs(&env, &[&pod, "-f"]);
    let out = ended_within(follower, 60);
    assert!(out.status.success(), "{}", stderr(&out));
    let want: Vec<String> = (1..=3000).map(|i| format!("line-{i}")).collect();
    let got: Vec<String> = stdout(&out).lines().map(str::to_string).collect();
    assert_eq!(got.len(), want.len(), "lines lost or repeated");
    assert_eq!(got, want);
    let rotated = std::fs::read_dir(env.pods_dir().join(format!("default_{pod}/logs/app")))
        .expect("the log directory")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("0.log."))
        .count();
    assert!(rotated >= 1, "the log never rotated");
}

#[test]
fn follow_waits_for_a_container_and_goes_on_across_its_restart() {
    if require_root("follow_waits_for_a_container_and_goes_on_across_its_restart").is_none() {
        return;
    }
    let env = Env::new();
    let pod = name("logs-restart");
    // The first attempt fails, the second succeeds: under OnFailure the pod then succeeds.
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {pod}}}
spec:
  restartPolicy: OnFailure
  volumes: [{{name: data, emptyDir: {{}}}}]
  initContainers:
    - name: slow
      image: {IMAGE}
      imagePullPolicy: Never
      command: [sleep, "2"]
  containers:
    - name: app
      image: {IMAGE}
      imagePullPolicy: Never
      volumeMounts: [{{name: data, mountPath: /data}}]
      command: [sh, -c, 'n=$(($(cat /data/n 2>/dev/null || echo 0) + 1)); echo $n > /data/n; echo attempt-$n; [ $n -ge 2 ]']
"#
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Asked while the init container still runs: `app` has no log yet.
    let follower = spawn_logs(&env, &[&pod, "-c", "app", "-f"]);
    let out = ended_within(follower, 90);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "attempt-1\nattempt-2\n");
    assert_eq!(env.pod_json(&pod)["status"]["phase"], "Succeeded");
    // Both instances are there for --previous.
    let out = env.tandem(&["logs", &pod, "-c", "app", "--previous"]);
    assert_eq!(stdout(&out), "attempt-1\n");
}

#[test]
fn tail_since_limits_prefixes_and_selectors_pick_what_kubectl_picks() {
    if require_root("tail_since_limits_prefixes_and_selectors_pick_what_kubectl_picks").is_none() {
        return;
    }
    let env = Env::new();
    let (one, two) = (name("logs-one"), name("logs-two"));
    for pod in [&one, &two] {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {pod}, labels: {{suite: logs-{}}}}}\nspec:\n  containers:\n    - name: app\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, 'seq 1 12; sleep 3600']\n    - name: side\n      image: {IMAGE}\n      imagePullPolicy: Never\n      command: [sh, -c, 'echo side-a; echo side-b; sleep 3600']\n",
            std::process::id()
        );
        let out = env.run_yaml(&yaml, &["-d"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    for pod in [&one, &two] {
        wait_for("both containers' lines", 30, || {
            let app = stdout(&env.tandem(&["logs", pod, "-c", "app"]));
            let side = stdout(&env.tandem(&["logs", pod, "-c", "side"]));
            (app.lines().count() == 12 && side.lines().count() == 2).then_some(())
        });
    }
    let logs = |args: &[&str]| {
        let mut all = vec!["logs"];
        all.extend_from_slice(args);
        env.tandem(&all)
    };
    let out = logs(&[&one]);
    assert_eq!(
        stderr(&out),
        "Defaulted container \"app\" out of: app, side\n"
    );
    assert_eq!(stdout(&out).lines().count(), 12);
    assert_eq!(stdout(&logs(&[&one, "--tail", "2"])), "11\n12\n");
    assert_eq!(stdout(&logs(&[&one, "--tail", "0"])), "");
    assert_eq!(stdout(&logs(&[&one, "--limit-bytes", "5"])), "1\n2\n3");
    assert_eq!(
        stdout(&logs(&[
            &one,
            "--all-containers",
            "--prefix",
            "--tail",
            "1"
        ])),
        format!("[pod/{one}/app] 12\n[pod/{one}/side] side-b\n")
    );
    assert_eq!(
        stdout(&logs(&[&one, "-c", "side", "--since", "1h"])),
        "side-a\nside-b\n"
    );
    assert_eq!(
        stdout(&logs(&[
            &one,
            "-c",
            "side",
            "--since-time",
            "2999-01-01T00:00:00Z"
        ])),
        ""
    );
    let out = logs(&[&one, "-c", "side", "--timestamps", "--tail", "1"]);
    let line = stdout(&out);
    let (time, text) = line.trim_end().split_once(' ').expect("a timestamp");
    assert_eq!(text, "side-b");
    assert!(
        time.len() == 30 && time.ends_with('Z') && time.as_bytes()[10] == b'T',
        "{time}"
    );
    // A selector: every matching pod's default container, the last 10 lines of each.
    let selector = format!("suite=logs-{}", std::process::id());
    let out = logs(&["-l", &selector, "--prefix", "-q"]);
    let printed = stdout(&out);
    let lines: Vec<&str> = printed.lines().collect();
    let mut want: Vec<String> = (3..=12).map(|i| format!("[pod/{one}/app] {i}")).collect();
    want.extend((3..=12).map(|i| format!("[pod/{two}/app] {i}")));
    let (first, second) = if one < two { (0, 10) } else { (10, 0) };
    assert_eq!(lines[first..first + 10], want[..10], "{lines:?}");
    assert_eq!(lines[second..second + 10], want[10..], "{lines:?}");
    let out = logs(&["-l", "suite=nobody"]);
    assert_eq!(stderr(&out), "No resources found in default namespace.\n");
    // Refusals, in kubectl's words where it has them.
    let out = logs(&[&one, "-c", "app", "--previous"]);
    assert!(
        stderr(&out).contains(&format!(
            "previous terminated container \"app\" in pod \"{one}\" not found"
        )),
        "{}",
        stderr(&out)
    );
    let out = logs(&[&one, "-f", "-p"]);
    assert!(stderr(&out).contains("only one of follow (-f) or previous (-p) is allowed"));
    let out = logs(&["-l", "app in (x"]);
    assert!(
        stderr(&out).contains("invalid selector"),
        "{}",
        stderr(&out)
    );
}
