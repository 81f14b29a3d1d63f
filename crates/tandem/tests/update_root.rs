//! Image update of a running pod (docs/kubelet-rules.md §1.7; the kubelet's T3, T29) on real
//! containers, as root, through `tandem set image`: a running main container of a Never pod is
//! killed ("definition changed") and restarted with the new image; an image that cannot be had
//! fails the command and leaves the pod alone; a completed init container is not re-run.
//!
//! The second image is the busybox rootfs imported again with USER app (uid 1000), so a
//! container tells which image it runs by printing `id -u`.

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const V2: &str = "localhost/tandem-busybox-app:2";

/// A store with the busybox image, and the same rootfs as [`V2`] running as uid 1000.
fn env_with_second_image() -> Env {
    let env = Env::new();
    let tar = env.rootfs_tar();
    let tar = tar.to_string_lossy().into_owned();
    let out = env.tandem(&[
        "image",
        "import",
        &tar,
        V2,
        "--cmd",
        "[\"/bin/sh\"]",
        "--user",
        "app",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    env
}

fn status_of<'a>(pod: &'a Value, list: &str, container: &str) -> &'a Value {
    pod["status"][list]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == container))
        .unwrap_or_else(|| panic!("status of {container}: {pod:#}"))
}

fn spec_image(pod: &Value, list: &str, container: &str) -> String {
    pod["spec"][list]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["name"] == container))
        .and_then(|c| c["image"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Polls until `ok` holds for the pod (at most `within`).
fn wait_until(env: &Env, name: &str, within: Duration, ok: impl Fn(&Value) -> bool) -> Value {
    let end = Instant::now() + within;
    loop {
        let pod = env.pod_json(name);
        if ok(&pod) {
            return pod;
        }
        assert!(Instant::now() < end, "timed out: {pod:#}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn wait_ready(env: &Env, name: &str) {
    let out = env.tandem(&[
        "wait",
        &format!("pod/{name}"),
        "--for=condition=Ready",
        "--timeout=30s",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Prints the uid it runs as, then serves until SIGTERM.
const SERVE: &str = "trap 'exit 0' TERM; echo uid=$(id -u); while true; do sleep 0.2; done";

fn never_pod() -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 5\n  containers:\n  - name: app\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"{SERVE}\"]\n  - name: other\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"{SERVE}\"]\n"
    )
}

#[test]
fn set_image_restarts_a_running_container_of_a_never_pod() {
    let Some(()) = require_root("set_image_restarts_a_running_container_of_a_never_pod") else {
        return;
    };
    let env = env_with_second_image();
    let out = env.run_yaml(&never_pod(), &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_ready(&env, "web");

    let out = env.tandem(&["set", "image", "pod/web", &format!("app={V2}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "pod/web image updated");
    // The spec says the new image at once; the status once the new instance runs.
    assert_eq!(spec_image(&env.pod_json("web"), "containers", "app"), V2);

    let pod = wait_until(&env, "web", Duration::from_secs(30), |p| {
        let s = status_of(p, "containerStatuses", "app");
        s["restartCount"] == 1 && s["state"]["running"].is_object() && s["ready"] == true
    });
    assert_eq!(pod["status"]["phase"], "Running");
    let app = status_of(&pod, "containerStatuses", "app");
    assert_eq!(app["image"], V2, "{app:#}");
    assert_eq!(app["lastState"]["terminated"]["exitCode"], 0, "{app:#}");
    let other = status_of(&pod, "containerStatuses", "other");
    assert_eq!(
        (&other["restartCount"], &other["image"]),
        (&Value::from(0), &Value::from(IMAGE))
    );

    let killing: Vec<Value> = env
        .event_records("web")
        .into_iter()
        .filter(|e| e["reason"] == "Killing")
        .collect();
    assert_eq!(killing.len(), 1, "{killing:#?}");
    assert_eq!(killing[0]["container"], "app");
    assert_eq!(
        killing[0]["message"],
        "Container app definition changed, will be restarted"
    );

    // The old instance ran as root, the new one as the second image's user.
    let logs = |extra: &[&str]| {
        let mut args = vec!["logs", "web", "-c", "app"];
        args.extend_from_slice(extra);
        stdout(&env.tandem(&args))
    };
    let end = Instant::now() + Duration::from_secs(10);
    while !logs(&[]).contains("uid=1000") && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(logs(&[]).trim(), "uid=1000");
    assert_eq!(logs(&["--previous"]).trim(), "uid=0");

    let out = env.tandem(&["delete", "pod", "web", "--grace-period", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn set_image_to_a_missing_image_fails_and_leaves_the_pod_alone() {
    let Some(()) = require_root("set_image_to_a_missing_image_fails_and_leaves_the_pod_alone")
    else {
        return;
    };
    let env = Env::new();
    let out = env.run_yaml(&never_pod(), &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_ready(&env, "web");

    // IfNotPresent (a tagged image): the pull is tried and fails before the pod is touched.
    let out = env.tandem(&["set", "image", "pod/web", "app=localhost/tandem-missing:1"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("error: cannot pull image localhost/tandem-missing:1")
            && err.contains("hint:"),
        "{err}"
    );
    // An unknown container or pod is named, with a hint.
    let out = env.tandem(&["set", "image", "web", &format!("nope={IMAGE}")]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("error: unable to find container named \"nope\"")
            && err.contains("hint: pod web has the containers app, other"),
        "{err}"
    );
    let out = env.tandem(&["set", "image", "pod/ghost", &format!("app={IMAGE}")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("Error from server (NotFound): pods \"ghost\" not found"),
        "{}",
        stderr(&out)
    );

    std::thread::sleep(Duration::from_secs(2));
    let pod = env.pod_json("web");
    assert_eq!(spec_image(&pod, "containers", "app"), IMAGE);
    let app = status_of(&pod, "containerStatuses", "app");
    assert_eq!(app["restartCount"], 0, "{app:#}");
    assert_eq!(app["image"], IMAGE);
    assert!(app["state"]["running"].is_object(), "{app:#}");
    assert!(env
        .event_records("web")
        .iter()
        .all(|e| e["reason"] != "Killing"));

    let out = env.tandem(&["delete", "pod", "web", "--grace-period", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn set_image_on_a_completed_init_container_changes_nothing() {
    let Some(()) = require_root("set_image_on_a_completed_init_container_changes_nothing") else {
        return;
    };
    let env = env_with_second_image();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  restartPolicy: Always\n  terminationGracePeriodSeconds: 5\n  initContainers:\n  - name: init\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"echo init uid=$(id -u)\"]\n  containers:\n  - name: app\n    image: {IMAGE}\n    command: [\"sh\", \"-c\", \"{SERVE}\"]\n"
    );
    let out = env.run_yaml(&yaml, &["-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_ready(&env, "web");

    let out = env.tandem(&["set", "image", "pod/web", &format!("init={V2}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_secs(3));

    let pod = env.pod_json("web");
    assert_eq!(spec_image(&pod, "initContainers", "init"), V2);
    let init = status_of(&pod, "initContainerStatuses", "init");
    assert_eq!(init["restartCount"], 0, "{init:#}");
    assert_eq!(
        init["image"], IMAGE,
        "the status keeps the image it ran: {init:#}"
    );
    assert_eq!(init["state"]["terminated"]["exitCode"], 0, "{init:#}");
    let app = status_of(&pod, "containerStatuses", "app");
    assert_eq!(app["restartCount"], 0, "{app:#}");
    assert!(app["state"]["running"].is_object(), "{app:#}");
    let starts = env
        .event_records("web")
        .iter()
        .filter(|e| e["reason"] == "Started" && e["container"] == "init")
        .count();
    assert_eq!(starts, 1);
    assert!(env
        .event_records("web")
        .iter()
        .all(|e| e["reason"] != "Killing"));

    let out = env.tandem(&["delete", "pod", "web", "--grace-period", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
