//! Root end-to-end tests of images from registries through the built binary: a pod whose image
//! lives in a password-protected registry (imagePullSecret), and a pod whose image does not
//! exist (ImagePullBackOff with events). The registry is Debian's `docker-registry`, started per
//! test on 127.0.0.1 with a random port and its storage in a temp dir, killed by pid at the end.

mod support;

use std::fs;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::*;
use tandem_testkit::Registry;

fn ready(test: &str, htpasswd: bool) -> bool {
    if require_root(test).is_none() {
        return false;
    }
    if let Some(why) = tandem_testkit::registry_missing(htpasswd) {
        tandem_testkit::skip(&format!("{test} {why}"));
        return false;
    }
    true
}

/// `tandem ARGS` with `yaml` on its standard input and the registry's `registries.conf`.
fn run_with(env: &Env, conf: &std::path::Path, args: &[&str], yaml: &str) -> std::process::Output {
    env.cmd()
        .args(args)
        .env("TANDEM_REGISTRIES_CONF", conf)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().expect("stdin").write_all(yaml.as_bytes())?;
            c.wait_with_output()
        })
        .expect("run")
}

fn b64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_pod_runs_from_a_private_registry_with_an_image_pull_secret() {
    if !ready("private_registry_pod", true) {
        return;
    }
    let reg = Registry::start(Some(("puller", "pw-123")));
    let env = Env::new();
    let conf = reg.insecure_conf();
    let auth_json = format!(
        r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
        reg.host(),
        b64("puller:pw-123")
    );
    let authfile = env.root.path().join("auth.json");
    fs::write(&authfile, &auth_json).expect("authfile");
    let remote = format!("{}/e2e/busybox:1.35", reg.host());
    let out = env
        .cmd()
        .args(["image", "push", IMAGE, &remote, "--authfile"])
        .arg(&authfile)
        .arg("--registries-conf")
        .arg(&conf)
        .output()
        .expect("push");
    assert!(out.status.success(), "push: {}", stderr(&out));
    let out = env.tandem(&["image", "rm", IMAGE]);
    assert!(out.status.success(), "rm: {}", stderr(&out));

    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: regcred\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: frompull\nspec:\n  restartPolicy: Never\n  imagePullSecrets:\n  - name: regcred\n  containers:\n  - name: a\n    image: {remote}\n    command: [\"sh\", \"-c\", \"echo pulled-and-ran\"]\n",
        b64(&auth_json)
    );
    let out = run_with(&env, &conf, &["run", "-"], &yaml);
    assert!(out.status.success(), "run: {}", stderr(&out));
    assert!(stdout(&out).contains("pulled-and-ran"), "{}", stdout(&out));
    let ls = stdout(&env.tandem(&["image", "ls"]));
    assert!(ls.contains(&format!("{}/e2e/busybox", reg.host())), "{ls}");
    let _ = env.tandem(&["delete", "pod", "frompull", "--grace-period", "0"]);

    // A pod that names no secret pulls with its ServiceAccount's, as the admission plugin gives
    // them: the image is gone from the store again, so the pull must be made, with credentials.
    let out = env.tandem(&["image", "rm", &remote]);
    assert!(out.status.success(), "rm: {}", stderr(&out));
    let yaml = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: puller\nimagePullSecrets:\n- name: regcred\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: byaccount\nspec:\n  restartPolicy: Never\n  serviceAccountName: puller\n  containers:\n  - name: a\n    image: {remote}\n    command: [\"sh\", \"-c\", \"echo pulled-as-its-account\"]\n"
    );
    let out = run_with(&env, &conf, &["run", "-d", "-"], &yaml);
    assert!(out.status.success(), "run: {}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut phase = String::new();
    while Instant::now() < deadline && phase != "Succeeded" {
        let out = env.tandem(&["get", "pod", "byaccount", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_default();
        phase = v["status"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(phase, "Succeeded");
    let logs = stdout(&env.tandem(&["logs", "byaccount"]));
    assert_eq!(logs, "pulled-as-its-account\n");
    let _ = env.tandem(&["delete", "pod", "byaccount", "--grace-period", "0"]);
}

#[test]
fn a_pod_whose_image_does_not_exist_ends_in_image_pull_back_off_with_events() {
    if !ready("image_pull_backoff", false) {
        return;
    }
    let reg = Registry::start(None);
    let env = Env::new();
    let conf = reg.insecure_conf();
    let yaml = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: nosuch\nspec:\n  containers:\n  - name: a\n    image: {}/does/not-exist:1\n",
        reg.host()
    );
    let out = run_with(&env, &conf, &["run", "-d", "-"], &yaml);
    assert!(out.status.success(), "the pod is created: {}", stderr(&out));
    assert!(stderr(&out).contains("was not found"), "{}", stderr(&out));
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut reason = String::new();
    let mut status = serde_json::Value::Null;
    while Instant::now() < deadline {
        let out = env.tandem(&["get", "pod", "nosuch", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_default();
        status = v["status"]["containerStatuses"][0].clone();
        reason = status["state"]["waiting"]["reason"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if reason == "ImagePullBackOff" {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(reason, "ImagePullBackOff");
    // No container was ever made: no restart counted, no terminated state (§1.5).
    assert_eq!(status["restartCount"], 0, "{status}");
    assert!(status["lastState"]["terminated"].is_null(), "{status}");
    let events = stdout(&env.tandem(&["get", "events", "--for", "pod/nosuch"]));
    assert!(events.contains("ErrImagePull"), "{events}");
    assert!(events.contains("Back-off pulling image"), "{events}");
    let out = env.tandem(&["delete", "pod", "nosuch", "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
