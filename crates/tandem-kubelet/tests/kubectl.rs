//! The STATUS, READY and RESTARTS columns of `kubectl get pods` (docs/kubelet-rules.md §5.4) for
//! pod objects in the situations the kubelet's e2e tests and the sidecar KEP show.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use tandem_kubelet::status::kubectl_columns;

fn waiting(name: &str, reason: &str, restarts: i32) -> Value {
    json!({"name": name, "image": "i", "imageID": "", "ready": false, "restartCount": restarts,
           "state": {"waiting": {"reason": reason}}})
}
fn running(name: &str, ready: bool, started: bool) -> Value {
    json!({"name": name, "image": "i", "imageID": "", "ready": ready, "restartCount": 0,
           "started": started, "state": {"running": {"startedAt": "2024-01-01T00:00:00Z"}}})
}
fn terminated(name: &str, code: i32, reason: &str) -> Value {
    json!({"name": name, "image": "i", "imageID": "", "ready": code == 0, "restartCount": 0,
           "state": {"terminated": {"exitCode": code, "reason": reason}}})
}

/// `init` lists init containers as (name, sidecar).
fn pod(
    init: &[(&str, bool)],
    mains: &[&str],
    phase: &str,
    init_statuses: Vec<Value>,
    statuses: Vec<Value>,
    conditions: &[(&str, bool)],
    deleting: bool,
) -> Pod {
    let ic: Vec<Value> = init
        .iter()
        .map(|(n, s)| {
            if *s {
                json!({"name": n, "restartPolicy": "Always"})
            } else {
                json!({"name": n})
            }
        })
        .collect();
    let c: Vec<Value> = mains.iter().map(|n| json!({"name": n})).collect();
    let conds: Vec<Value> = conditions
        .iter()
        .map(|(t, ok)| json!({"type": t, "status": if *ok {"True"} else {"False"}}))
        .collect();
    let mut meta = json!({"name": "p"});
    if deleting {
        meta["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
    }
    serde_json::from_value(json!({
        "metadata": meta,
        "spec": {"initContainers": ic, "containers": c},
        "status": {"phase": phase, "initContainerStatuses": init_statuses,
                   "containerStatuses": statuses, "conditions": conds},
    }))
    .expect("a valid pod")
}

#[test]
fn kubectl_status_column_table() {
    let one_init_two_sidecars = [("init", false), ("s1", true), ("s2", true)];
    let rows: Vec<(&str, Pod, &str, &str)> = vec![
        (
            "first of three init containers running",
            pod(
                &one_init_two_sidecars,
                &["app"],
                "Pending",
                vec![
                    running("init", false, true),
                    waiting("s1", "PodInitializing", 0),
                    waiting("s2", "PodInitializing", 0),
                ],
                vec![waiting("app", "PodInitializing", 0)],
                &[("Initialized", false)],
                false,
            ),
            "0/3",
            "Init:0/3",
        ),
        (
            "init done, first sidecar started, second not yet",
            pod(
                &one_init_two_sidecars,
                &["app"],
                "Pending",
                vec![
                    terminated("init", 0, "Completed"),
                    running("s1", true, true),
                    running("s2", false, false),
                ],
                vec![waiting("app", "PodInitializing", 0)],
                &[("Initialized", false)],
                false,
            ),
            "1/3",
            "Init:2/3",
        ),
        (
            "all running",
            pod(
                &one_init_two_sidecars,
                &["app"],
                "Running",
                vec![
                    terminated("init", 0, "Completed"),
                    running("s1", true, true),
                    running("s2", true, true),
                ],
                vec![running("app", true, true)],
                &[("Initialized", true), ("Ready", true)],
                false,
            ),
            "3/3",
            "Running",
        ),
        (
            "an init container crash-looping",
            pod(
                &[("i1", false), ("i2", false), ("i3", false)],
                &["app"],
                "Pending",
                vec![
                    terminated("i1", 0, "Completed"),
                    waiting("i2", "CrashLoopBackOff", 3),
                    waiting("i3", "PodInitializing", 0),
                ],
                vec![waiting("app", "PodInitializing", 0)],
                &[("Initialized", false)],
                false,
            ),
            "0/1",
            "Init:CrashLoopBackOff",
        ),
        (
            "an init container failed",
            pod(
                &[("i1", false)],
                &["app"],
                "Failed",
                vec![terminated("i1", 1, "Error")],
                vec![waiting("app", "PodInitializing", 0)],
                &[("Initialized", false)],
                false,
            ),
            "0/1",
            "Init:Error",
        ),
        (
            "init done, main container being created",
            pod(
                &[("i1", false)],
                &["app"],
                "Pending",
                vec![terminated("i1", 0, "Completed")],
                vec![waiting("app", "PodInitializing", 0)],
                &[("Initialized", true)],
                false,
            ),
            "0/1",
            "PodInitializing",
        ),
        (
            "no init containers, being created",
            pod(
                &[],
                &["app"],
                "Pending",
                vec![],
                vec![waiting("app", "ContainerCreating", 0)],
                &[],
                false,
            ),
            "0/1",
            "ContainerCreating",
        ),
        (
            "running but not ready",
            pod(
                &[],
                &["a", "b"],
                "Running",
                vec![],
                vec![running("a", false, true), terminated("b", 0, "Completed")],
                &[("Initialized", true), ("Ready", false)],
                false,
            ),
            "0/2",
            "Completed",
        ),
        (
            "one done, one running and ready: NotReady",
            pod(
                &[],
                &["a", "b"],
                "Running",
                vec![],
                vec![terminated("a", 0, "Completed"), running("b", true, true)],
                &[("Initialized", true), ("Ready", false)],
                false,
            ),
            "1/2",
            "NotReady",
        ),
        (
            "job done",
            pod(
                &[("s", true)],
                &["app"],
                "Succeeded",
                vec![terminated("s", 0, "Completed")],
                vec![terminated("app", 0, "Completed")],
                &[("Initialized", true)],
                false,
            ),
            "0/2",
            "Completed",
        ),
        (
            "main container crash-looping",
            pod(
                &[],
                &["app"],
                "Running",
                vec![],
                vec![waiting("app", "CrashLoopBackOff", 4)],
                &[("Initialized", true)],
                false,
            ),
            "0/1",
            "CrashLoopBackOff",
        ),
        (
            "main container failed",
            pod(
                &[],
                &["app"],
                "Failed",
                vec![],
                vec![terminated("app", 2, "Error")],
                &[("Initialized", true)],
                false,
            ),
            "0/1",
            "Error",
        ),
        (
            "being deleted",
            pod(
                &[],
                &["app"],
                "Running",
                vec![],
                vec![running("app", true, true)],
                &[("Initialized", true), ("Ready", true)],
                true,
            ),
            "1/1",
            "Terminating",
        ),
    ];
    for (name, p, ready, status) in rows {
        let (r, s, _) = kubectl_columns(&p, 0);
        assert_eq!((r.as_str(), s.as_str()), (ready, status), "{name}");
    }
}

#[test]
fn restarts_column_sums_main_and_sidecar_restarts_with_the_last_restart_time() {
    let mut app = waiting("app", "CrashLoopBackOff", 4);
    app["lastState"] = json!({"terminated": {"exitCode": 1, "finishedAt": "1970-01-01T00:01:00Z"}});
    let mut s = running("s", true, true);
    s["restartCount"] = json!(2);
    let p = pod(
        &[("s", true)],
        &["app"],
        "Running",
        vec![s],
        vec![app],
        &[("Initialized", true)],
        false,
    );
    let (_, _, restarts) = kubectl_columns(&p, 90_000_000);
    assert_eq!(restarts, "6 (30s ago)");
}

/// kubectl's own printer tests, ported as data (`fixtures/kubectl_print_pod.json`, provenance in
/// its `about`): each pod's READY, STATUS and RESTARTS cells as kubectl prints them. The cases
/// marked `newer_than_1_33` show behaviour that came after the Kubernetes release tandem follows
/// (an init container waiting in `PodInitializing` printed as `Init:ContainerCreating`); they are
/// left out, and counted, so the table still says what changes when tandem moves on.
#[test]
fn kubectls_printer_tables_agree() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/kubectl_print_pod.json"
    );
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    let cases = doc["cases"].as_array().expect("cases");
    let mut failures = vec![];
    let mut checked = 0;
    for case in cases {
        if case["newer_than_1_33"] == true {
            continue;
        }
        let now: k8s_openapi::jiff::Timestamp = case["now"]
            .as_str()
            .expect("now")
            .parse()
            .expect("now is RFC 3339");
        let now_us = now.as_microsecond();
        let pod: Pod = serde_json::from_value(case["pod"].clone()).expect("a v1 Pod");
        let got = kubectl_columns(&pod, now_us);
        let e = &case["expect"];
        let want = (
            e["ready"].as_str().expect("ready").to_string(),
            e["status"].as_str().expect("status").to_string(),
            e["restarts"].as_str().expect("restarts").to_string(),
        );
        checked += 1;
        if got != want {
            failures.push(format!(
                "{} ({}): got {got:?}, kubectl prints {want:?}",
                case["source"], case["name"]
            ));
        }
    }
    assert_eq!(checked, 40, "cases checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Ages as kubectl prints them, apimachinery's duration table (`TestHumanDuration`) as data plus
/// the forms on the unit boundaries.
#[test]
fn ages_read_as_kubectl_prints_them() {
    use tandem_kubelet::status::human_duration;
    const H: u64 = 3600;
    let table = [
        (1, "1s"),
        (70, "70s"),
        (190, "3m10s"),
        (300, "5m"),
        (70 * 60, "70m"),
        (5 * H, "5h"),
        (5 * H + 3 * 60, "5h3m"),
        (47 * H, "47h"),
        (49 * H, "2d1h"),
        (3 * 24 * H, "3d"),
        ((8 * 24 + 2) * H, "8d"),
        (367 * 24 * H, "367d"),
        ((365 * 2 * 24 + 25) * H, "2y1d"),
        (365 * 2 * 24 * H, "2y"),
        ((365 * 8 * 24 + 2) * H, "8y"),
        // Each boundary, from both sides.
        (119, "119s"),
        (120, "2m"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * H - 1, "179m"),
        (3 * H, "3h"),
        (8 * H - 1, "7h59m"),
        (8 * H, "8h"),
        (48 * H - 1, "47h"),
        (48 * H, "2d"),
        (8 * 24 * H - 1, "7d23h"),
        (8 * 24 * H, "8d"),
        (2 * 365 * 24 * H - 1, "729d"),
        (8 * 365 * 24 * H - 1, "7y364d"),
        (10 * 365 * 24 * H, "10y"),
    ];
    for (secs, want) in table {
        assert_eq!(human_duration(secs), want, "{secs} s");
    }
}

/// Edges the ported tables leave out: exits without a reason, a regular init container that
/// reports itself started, a PodScheduled condition that is no gate, a last termination time
/// without a restart.
#[test]
fn cells_at_the_edges_of_printpod() {
    let cells = |v: Value| {
        let pod: Pod = serde_json::from_value(v).expect("a v1 Pod");
        kubectl_columns(&pod, 0)
    };
    let one_init = |state: Value, started: bool| {
        json!({"spec": {"initContainers": [{"name": "i"}], "containers": [{"name": "c"}]},
               "status": {"phase": "Pending", "initContainerStatuses": [
                   {"name": "i", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                    "started": started, "state": state}]}})
    };
    let one_main = |state: Value| {
        json!({"spec": {"containers": [{"name": "c"}]},
               "status": {"phase": "Running", "containerStatuses": [
                   {"name": "c", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                    "state": state}]}})
    };
    let table = [
        (
            one_init(json!({"terminated": {"exitCode": 137, "signal": 9}}), false),
            "Init:Signal:9",
        ),
        (
            one_init(
                json!({"terminated": {"exitCode": 2, "reason": "", "signal": 0}}),
                false,
            ),
            "Init:ExitCode:2",
        ),
        (one_init(json!({"running": {}}), true), "Init:0/1"),
        (
            one_main(json!({"terminated": {"exitCode": 137, "reason": "", "signal": 9}})),
            "Signal:9",
        ),
        (
            one_main(json!({"terminated": {"exitCode": 3, "signal": 0}})),
            "ExitCode:3",
        ),
    ];
    for (pod, status) in table {
        assert_eq!(cells(pod.clone()).1, status, "{pod}");
    }
    let scheduled = json!({"spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "SchedulingGated"}]}});
    assert_eq!(cells(scheduled).1, "Running");
    let finished_never_restarted = json!({"spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "c", "image": "x", "imageID": "", "ready": true, "restartCount": 0,
             "state": {"running": {}},
             "lastState": {"terminated": {"exitCode": 0, "finishedAt": "1970-01-01T00:00:00Z"}}}]}});
    assert_eq!(cells(finished_never_restarted).2, "0");
}
