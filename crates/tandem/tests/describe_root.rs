//! `tandem describe pod` of a real crash-looping pod with a native sidecar, as root: the last
//! state, restart count, probes, mounts and the Events table with repeats folded, as kubectl
//! shows them.

mod support;

use support::{require_root, stderr, stdout, wait_for, Env, IMAGE};

#[test]
fn a_crash_looping_pod_shows_its_last_state_and_folded_back_off_events() {
    if require_root("a_crash_looping_pod_shows_its_last_state_and_folded_back_off_events").is_none()
    {
        return;
    }
    let env = Env::new();
    let pod = format!("describe-{}", std::process::id());
    let yaml = format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {pod}, labels: {{app: web}}}}
spec:
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
      command: [sh, -c, "sleep 1; exit 3"]
      readinessProbe: {{exec: {{command: ["true"]}}, periodSeconds: 2}}
      volumeMounts: [{{name: data, mountPath: /data, readOnly: true}}]
  volumes: [{{name: data, emptyDir: {{}}}}]
"#
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("two restarts", 90, || {
        (env.pod_json(&pod)["status"]["containerStatuses"][0]["restartCount"].as_i64() >= Some(2))
            .then_some(())
    });
    let out = env.tandem(&["describe", "pod", &pod]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for want in [
        format!("Name:             {pod}\n"),
        "Init Containers:\n  proxy:\n".to_string(),
        "    Last State:     Terminated\n      Reason:       Error\n      Exit Code:    3\n".into(),
        "    Readiness:      exec [true] delay=0s timeout=1s period=2s successThreshold=1 failureThreshold=3\n".into(),
        "      /data from data (ro)\n".into(),
        // Aligned with the token volume's fields, as kubectl 1.33 prints them on a cluster.
        "\n  kube-api-access-".into(),
        "    ConfigMapName:           kube-root-ca.crt\n    Optional:                false\n    DownwardAPI:             true\nQoS Class:                   BestEffort\n".into(),
        "Events:\n  Type     Reason".into(),
    ] {
        assert!(text.contains(&want), "missing {want:?} in:\n{text}");
    }
    let restarts = text
        .lines()
        .filter(|l| l.trim_start().starts_with("Restart Count:"))
        .map(|l| l.split_whitespace().last().unwrap_or_default().to_string())
        .collect::<Vec<_>>();
    assert_eq!(restarts[0], "0", "{text}");
    assert!(restarts[1].parse::<u32>().is_ok_and(|n| n >= 2), "{text}");
    // Every start of app is one line, folded: `(xN over AGE)`.
    let started = text
        .lines()
        .find(|l| l.contains("Started container app"))
        .unwrap_or_default();
    assert!(started.contains(" (x"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("Warning  BackOff")),
        "{text}"
    );
    // kubectl's words for what is not there.
    let out = env.tandem(&["describe", "pod", "nope"]);
    assert!(
        stderr(&out).contains("pods \"nope\" not found"),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["describe", "service", "x"]);
    assert!(
        stderr(&out).contains("Error from server (NotFound): services \"x\" not found"),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["describe", "widget", "x"]);
    assert!(
        stderr(&out).contains("the server doesn't have a resource type \"widget\""),
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["describe", "pods", "-l", "app=web"]);
    assert!(
        stdout(&out).starts_with(&format!("Name:             {pod}\n")),
        "{}",
        stdout(&out)
    );
}
