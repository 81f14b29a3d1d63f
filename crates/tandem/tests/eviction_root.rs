//! Local-storage eviction (docs/kubelet-rules.md §4.1, §6.3; the kubelet's T246) on real containers,
//! as root: a disk-backed emptyDir over its `sizeLimit` and a container over its
//! `ephemeral-storage` limit evict the whole pod (Failed, reason Evicted, the kubelet's message,
//! an `Evicted` event, containers stopped with the 2 s minimum window, nothing restarted, nothing
//! left behind); a pod within its limits runs to its end.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn event_time(events: &[Value], reason: &str, container: Option<&str>) -> Option<i64> {
    events
        .iter()
        .find(|e| e["reason"] == reason && container.is_none_or(|c| e["container"] == c))
        .and_then(|e| e["time_us"].as_i64())
}

/// Runs `yaml` in the foreground to its end; returns how long that took.
fn run_to_end(env: &Env, yaml: &str) -> (std::process::Output, Duration) {
    let t = Instant::now();
    let out = env.run_yaml(yaml, &[]);
    (out, t.elapsed())
}

/// Asserts the pod was evicted with `message`, that the eviction came within `within` of the
/// writer's start, that its containers were stopped with the eviction's minimum window and not
/// restarted, and that nothing of the pod is left running or mounted. Returns the seconds from
/// the writer's start to the eviction.
fn assert_evicted(env: &Env, name: &str, writer: &str, message: &str, within: Duration) -> f64 {
    let pod = env.pod_json(name);
    let status = &pod["status"];
    assert_eq!(
        (
            status["phase"].as_str(),
            status["reason"].as_str(),
            status["message"].as_str()
        ),
        (Some("Failed"), Some("Evicted"), Some(message)),
        "{status:#}"
    );
    let evs = env.event_records(name);
    let evicted: Vec<&Value> = evs.iter().filter(|e| e["reason"] == "Evicted").collect();
    assert_eq!(evicted.len(), 1, "{evs:#?}");
    assert_eq!(evicted[0]["type"], "Warning");
    assert_eq!(evicted[0]["message"], message);
    let started = event_time(&evs, "Started", Some(writer)).expect("writer started");
    let at = event_time(&evs, "Evicted", None).expect("evicted");
    let after = (at - started) as f64 / 1e6;
    assert!(
        after >= 0.0 && after < within.as_secs_f64(),
        "evicted {after:.2} s after the writer started"
    );
    for s in status["containerStatuses"].as_array().into_iter().flatten() {
        assert_eq!(s["restartCount"], 0, "not restarted: {s:#}");
        assert!(s["state"]["terminated"].is_object(), "stopped: {s:#}");
    }
    // The writer ignores SIGTERM: SIGKILL comes 2 s after the stop signal (the eviction's
    // 1 s override, raised to the kubelet's minimum window).
    let killed = evs
        .iter()
        .find(|e| e["reason"] == "Exited" && e["container"] == writer)
        .expect("writer exited");
    assert_eq!(killed["details"]["signal"], 9, "{killed:#}");
    let window = (killed["time_us"].as_i64().unwrap_or(0) - at) as f64 / 1e6;
    assert!((1.9..4.0).contains(&window), "killed {window:.2} s after");

    let uid = pod["metadata"]["uid"].as_str().expect("uid");
    let root = env.root.path();
    assert_eq!(mounts_under(root), Vec::<String>::new(), "mounts left");
    // The store's proxy (cluster DNS) leaves within a quarter second of the last running pod.
    let mut procs = processes_mentioning(&root.to_string_lossy());
    for _ in 0..100 {
        if procs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        procs = processes_mentioning(&root.to_string_lossy());
    }
    assert!(procs.is_empty(), "processes left: {procs:?}");
    assert_eq!(cgroups_of(uid), Vec::<std::path::PathBuf>::new());
    after
}

const WRITE_AND_HOLD: &str = "trap '' TERM; dd if=/dev/zero of=TARGET bs=1M count=4 2>/dev/null; sync; while true; do sleep 0.1; done";

#[test]
fn evict_an_empty_dir_over_its_size_limit() {
    let Some(()) = require_root("evict_an_empty_dir_over_its_size_limit") else {
        return;
    };
    let env = Env::new();
    let command = WRITE_AND_HOLD.replace("TARGET", "/scratch/blob");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: scratch\nspec:\n  restartPolicy: Always\n  terminationGracePeriodSeconds: 30\n  containers:\n  - name: writer\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"{command}\"]\n    volumeMounts:\n    - {{name: scratch, mountPath: /scratch}}\n  volumes:\n  - name: scratch\n    emptyDir: {{sizeLimit: 1Mi}}\n"
    );
    let (out, took) = run_to_end(&env, &yaml);
    assert!(!out.status.success(), "an evicted pod exits non-zero");
    assert!(
        stderr(&out).contains("ended: Failed (evicted"),
        "{}",
        stderr(&out)
    );
    let after = assert_evicted(
        &env,
        "scratch",
        "writer",
        "Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Mi\". ",
        Duration::from_secs(4),
    );
    println!("evicted {after:.2} s after the writer started; pod ended {took:?} after run");
}

/// Two containers, so the pod's total (101Mi) has room and the container's own check names it.
#[test]
fn evict_a_container_over_its_ephemeral_storage_limit() {
    let Some(()) = require_root("evict_a_container_over_its_ephemeral_storage_limit") else {
        return;
    };
    let env = Env::new();
    let command = WRITE_AND_HOLD.replace("TARGET", "/blob");
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: rootfs\nspec:\n  restartPolicy: Always\n  containers:\n  - name: writer\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"{command}\"]\n    resources: {{limits: {{ephemeral-storage: 1Mi}}}}\n  - name: quiet\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 0.1; done\"]\n    resources: {{limits: {{ephemeral-storage: 100Mi}}}}\n"
    );
    let (out, took) = run_to_end(&env, &yaml);
    assert!(!out.status.success(), "{}", stderr(&out));
    let after = assert_evicted(
        &env,
        "rootfs",
        "writer",
        "Container writer exceeded its local ephemeral storage limit \"1Mi\". ",
        Duration::from_secs(4),
    );
    println!("evicted {after:.2} s after the writer started; pod ended {took:?} after run");
}

/// Within every limit (512 KiB in a 1Mi emptyDir, 512 KiB in a 2Mi writable layer, measured
/// for several seconds) the pod runs to its own end.
#[test]
fn evict_nothing_when_usage_stays_within_the_limits() {
    let Some(()) = require_root("evict_nothing_when_usage_stays_within_the_limits") else {
        return;
    };
    let env = Env::new();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: modest\nspec:\n  restartPolicy: Never\n  containers:\n  - name: app\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"dd if=/dev/zero of=/scratch/a bs=1k count=512 2>/dev/null; dd if=/dev/zero of=/b bs=1k count=512 2>/dev/null; sleep 3\"]\n    resources: {{limits: {{ephemeral-storage: 2Mi}}}}\n    volumeMounts:\n    - {{name: scratch, mountPath: /scratch}}\n  volumes:\n  - name: scratch\n    emptyDir: {{sizeLimit: 1Mi}}\n"
    );
    let (out, _) = run_to_end(&env, &yaml);
    assert!(out.status.success(), "{}", stderr(&out));
    let pod = env.pod_json("modest");
    assert_eq!(pod["status"]["phase"], "Succeeded", "{:#}", pod["status"]);
    assert!(pod["status"]["reason"].is_null());
    assert!(env
        .event_records("modest")
        .iter()
        .all(|e| e["reason"] != "Evicted"));
}
