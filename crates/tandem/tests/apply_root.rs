//! `tandem apply`: a file applied makes what is new, changes what exists to what it now says (a
//! Deployment's new template rolls out, a pod's new image restarts its container, a Service's
//! new port routes), says `unchanged` for the rest, and refuses the whole file when the API
//! server would refuse one change. As root, on real containers.

mod support;

use serde_json::Value;
use support::*;

const V2: &str = "localhost/tandem-busybox-app:2";

fn app(pod_image: &str, replicas: u32, mode: &str, port: u16, pod_command: &str) -> String {
    let sleep = "[sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]";
    format!(
        r#"apiVersion: v1
kind: ConfigMap
metadata: {{name: settings}}
data: {{mode: {mode}}}
---
apiVersion: v1
kind: Service
metadata: {{name: api}}
spec:
  selector: {{app: api}}
  ports: [{{port: {port}, targetPort: 8080}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: tool}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {{name: c, image: {pod_image}, imagePullPolicy: Never, command: {pod_command}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: api}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      terminationGracePeriodSeconds: 1
      initContainers:
      - {{name: proxy, image: {IMAGE}, imagePullPolicy: Never, restartPolicy: Always, command: {sleep}}}
      containers:
      - name: app
        image: {IMAGE}
        imagePullPolicy: Never
        command: {sleep}
        env: [{{name: MODE, valueFrom: {{configMapKeyRef: {{name: settings, key: mode}}}}}}]
"#
    )
}

fn apply(env: &Env, yaml: &str) -> std::process::Output {
    let file = env.root.path().join("app.yaml");
    std::fs::write(&file, yaml).expect("write");
    env.tandem(&["apply", "-f", file.to_str().expect("utf-8")])
}

/// The MODE each running pod of the Deployment sees, sorted.
fn modes(env: &Env) -> Vec<String> {
    let pods: Value = serde_json::from_str(&stdout(
        &env.tandem(&["get", "pods", "-l", "app=api", "-o", "json"]),
    ))
    .expect("json");
    let mut out: Vec<String> = pods["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .filter_map(|p| p["metadata"]["name"].as_str())
        .map(|name| {
            stdout(&env.tandem(&["exec", name, "-c", "app", "--", "sh", "-c", "echo $MODE"]))
                .trim()
                .to_string()
        })
        .collect();
    out.sort();
    out
}

#[test]
fn apply_makes_what_is_new_changes_what_exists_and_refuses_a_forbidden_change_whole() {
    if require_root(
        "apply_makes_what_is_new_changes_what_exists_and_refuses_a_forbidden_change_whole",
    )
    .is_none()
    {
        return;
    }
    let env = Env::new();
    let tar = env.rootfs_tar();
    let out = env.tandem(&[
        "image",
        "import",
        &tar.to_string_lossy(),
        V2,
        "--cmd",
        "[\"/bin/sh\"]",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sleep = "[sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]";

    // Made, in the order of the file.
    let out = apply(&env, &app(IMAGE, 2, "one", 80, sleep));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "configmap/settings created\nservice/api created\npod/tool created\ndeployment.apps/api created\n"
    );
    let out = env.tandem(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let first_ip = stdout(&env.tandem(&["get", "svc", "api", "-o", "jsonpath={.spec.clusterIP}"]));
    let tool_uid = uid_of(&env, "tool");
    wait_for("the pods' environment", 30, || {
        (modes(&env) == ["one", "one"]).then_some(())
    });

    // The same file again changes nothing.
    let out = apply(&env, &app(IMAGE, 2, "one", 80, sleep));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "configmap/settings unchanged\nservice/api unchanged\npod/tool unchanged\ndeployment.apps/api unchanged\n"
    );

    // A change the API server refuses (a pod's command) refuses the whole file: the
    // Deployment's new replica count is not applied either.
    let out = apply(&env, &app(IMAGE, 3, "one", 80, "[sleep, \"3600\"]"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("The Pod \"tool\" is invalid: spec: Forbidden: pod updates may not change fields other than"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("nothing was applied"),
        "{}",
        stderr(&out)
    );
    let replicas =
        stdout(&env.tandem(&["get", "deploy", "api", "-o", "jsonpath={.spec.replicas}"]));
    assert_eq!(replicas, "2");

    // What may change does: the pod's image (its container restarts with it), the Deployment's
    // replicas and template (a ConfigMap it reads changed with it: rolled out), the Service's
    // port (its cluster IP kept).
    let out = apply(&env, &app(V2, 3, "two", 81, sleep));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "configmap/settings configured\nservice/api configured\npod/tool configured\ndeployment.apps/api configured\n"
    );
    let pod = wait_for("the tool pod on its new image", 30, || {
        let pod = env.pod_json("tool");
        let s = &pod["status"]["containerStatuses"][0];
        (s["image"] == V2 && s["restartCount"] == 1 && s["state"]["running"].is_object())
            .then_some(pod)
    });
    assert_eq!(pod["metadata"]["uid"], tool_uid.as_str(), "the same pod");
    let svc: Value =
        serde_json::from_str(&stdout(&env.tandem(&["get", "svc", "api", "-o", "json"])))
            .expect("json");
    assert_eq!(svc["spec"]["ports"][0]["port"], 81);
    assert_eq!(svc["spec"]["clusterIP"], first_ip.as_str());
    // The template did not change, only what its pods read: no rollout, as on a cluster.
    let out = env.tandem(&["rollout", "status", "deployment/api", "--timeout=60s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let sets = stdout(&env.tandem(&["get", "rs", "-o", "name"]));
    assert_eq!(sets.lines().count(), 1, "{sets}");
    wait_for("a third replica", 30, || {
        (modes(&env).len() == 3).then_some(())
    });
    // A new template rolls out: the pods made for it read the new value.
    let edited = app(V2, 3, "two", 81, sleep).replace(
        "metadata: {labels: {app: api}}",
        "metadata: {labels: {app: api}, annotations: {rev: \"2\"}}",
    );
    let out = apply(&env, &edited);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deployment.apps/api configured\n"),
        "{}",
        stdout(&out)
    );
    let out = env.tandem(&["rollout", "status", "deployment/api", "--timeout=90s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("every replica on the new template", 60, || {
        (modes(&env) == ["two", "two", "two"]).then_some(())
    });
    let sets = stdout(&env.tandem(&["get", "rs", "-o", "name"]));
    assert_eq!(sets.lines().count(), 2, "{sets}");

    // An object named only by generateName would be new at every apply: refused, as kubectl
    // refuses it, and nothing made.
    let generated = format!("apiVersion: v1\nkind: Pod\nmetadata: {{generateName: once-}}\nspec: {{containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never}}]}}\n");
    let gen_file = env.root.path().join("gen.yaml");
    std::fs::write(&gen_file, generated).expect("write");
    let out = env.tandem(&["apply", "-f", gen_file.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot use generate name with apply"),
        "{}",
        stderr(&out)
    );
    assert!(!stdout(&env.tandem(&["get", "pods", "-o", "name"])).contains("once-"));

    let file = env.root.path().join("app.yaml");
    let out = env.tandem(&["delete", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A pod whose environment names a ConfigMap and a Secret that do not exist yet is accepted, as
/// a cluster accepts it: that container waits with CreateContainerConfigError while the others
/// run, and starts once `apply` brings the objects; they stay kept until deleted by name.
#[test]
fn a_container_waits_for_its_config_map_and_starts_once_it_is_applied() {
    let Some(()) = require_root("config_map_wait") else {
        return;
    };
    let env = Env::new();
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: {name: waits}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: app
    image: localhost/tandem-busybox:1.35
    imagePullPolicy: Never
    env: [{name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}]
    envFrom: [{secretRef: {name: creds}, prefix: APP_}]
    command: [sh, -c, "echo mode=$MODE token=$APP_TOKEN; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
  - name: helper
    image: localhost/tandem-busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
"#;
    let out = env.run_yaml(pod, &["-d"]);
    let said = stderr(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("ConfigMap \"settings\" not found in namespace \"default\"")
            && said.contains("Secret \"creds\" not found in namespace \"default\"")
            && said.contains("the container waits (CreateContainerConfigError) until it exists"),
        "{said}"
    );
    let waiting = wait_for(
        "app to wait for its ConfigMap and helper to run",
        30,
        || {
            let v = env.pod_json("waits");
            let statuses = v["status"]["containerStatuses"].as_array()?.clone();
            let of = |n: &str| statuses.iter().find(|s| s["name"] == n).cloned();
            let app = of("app")?;
            let helper_running = of("helper")?["state"]["running"].is_object();
            (app["state"]["waiting"]["reason"] == "CreateContainerConfigError" && helper_running)
                .then_some(app)
        },
    );
    // envFrom is read before env, as the kubelet reads them: the Secret is named first.
    assert_eq!(
        waiting["state"]["waiting"]["message"], "secret \"creds\" not found",
        "{waiting}"
    );

    let objects = env.root.path().join("objects.yaml");
    std::fs::write(
        &objects,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {TOKEN: t0k}\n",
    )
    .expect("write");
    let path = objects.to_str().expect("path");
    let applied = env.tandem(&["apply", "-f", path]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert_eq!(
        stdout(&applied).lines().collect::<Vec<_>>(),
        ["configmap/settings created", "secret/creds created"]
    );
    // Within one retry of the kubelet's (10 s), the container starts with what they hold.
    wait_for("app to start with the ConfigMap's value", 30, || {
        let logs = stdout(&env.tandem(&["logs", "waits", "-c", "app"]));
        logs.contains("mode=fast token=t0k").then_some(())
    });
    let again = env.tandem(&["apply", "-f", path]);
    assert_eq!(
        stdout(&again).lines().collect::<Vec<_>>(),
        ["configmap/settings unchanged", "secret/creds unchanged"]
    );

    let deleted = env.tandem(&["delete", "configmap", "settings"]);
    assert_eq!(stdout(&deleted).trim(), "configmap \"settings\" deleted");
    let gone = env.tandem(&["delete", "cm/settings"]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("Error from server (NotFound): configmaps \"settings\" not found"),
        "{}",
        stderr(&gone)
    );
    let deleted = env.tandem(&["delete", "-f", path]);
    assert!(
        stdout(&deleted).contains("secret \"creds\" deleted"),
        "{}",
        stdout(&deleted)
    );
}

/// A pod whose volumes project a ConfigMap and a Secret that do not exist yet is accepted, as a
/// cluster accepts it: it waits in ContainerCreating with a FailedMount event per try, no
/// container of it starts, and once `apply` brings both objects it starts with their files, in
/// their modes and with the pod's fsGroup.
#[test]
fn a_pod_waits_for_its_volumes_objects_and_starts_once_they_are_applied() {
    let Some(()) = require_root("volume_object_wait") else {
        return;
    };
    let env = Env::new();
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: {name: mounts}
spec:
  terminationGracePeriodSeconds: 1
  securityContext: {runAsUser: 1000, fsGroup: 3000}
  initContainers:
  - name: init
    image: localhost/tandem-busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, "cat /config/app.conf"]
    volumeMounts: [{name: config, mountPath: /config}]
  containers:
  - name: app
    image: localhost/tandem-busybox:1.35
    imagePullPolicy: Never
    command: [sh, -c, "ls -lnL /config/ /creds/api/; cat /creds/api/token; echo; trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    volumeMounts: [{name: config, mountPath: /config}, {name: creds, mountPath: /creds}]
  volumes:
  - name: config
    configMap:
      name: settings
      items: [{key: conf, path: app.conf, mode: 0440}]
  - name: creds
    projected:
      sources: [{secret: {name: creds, items: [{key: token, path: api/token}]}}]
      defaultMode: 0400
"#;
    let out = env.run_yaml(pod, &["-d"]);
    let said = stderr(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("ConfigMap \"settings\" not found in namespace \"default\" (referenced by volume \"config\"): the pod waits in ContainerCreating (FailedMount)")
            && said.contains("Secret \"creds\" not found in namespace \"default\" (referenced by projected volume \"creds\")"),
        "{said}"
    );
    let failed_mounts = |volume: &str| {
        env.event_records("mounts")
            .into_iter()
            .filter(|e| e["reason"] == "FailedMount")
            .filter_map(|e| e["message"].as_str().map(str::to_string))
            .filter(|m| m.contains(&format!("for volume \"{volume}\"")))
            .collect::<Vec<_>>()
    };
    let first = wait_for("a FailedMount event for the ConfigMap", 30, || {
        failed_mounts("config").first().cloned()
    });
    assert_eq!(
        first,
        "MountVolume.SetUp failed for volume \"config\" : configmap \"settings\" not found"
    );
    let v = env.pod_json("mounts");
    assert_eq!(v["status"]["phase"], "Pending", "{v}");
    for s in ["initContainerStatuses", "containerStatuses"] {
        assert_eq!(
            v["status"][s][0]["state"]["waiting"]["reason"], "PodInitializing",
            "{v}"
        );
    }
    let described = stdout(&env.tandem(&["get", "pod", "mounts"]));
    assert!(described.contains("Init:0/1"), "{described}");

    let objects = env.root.path().join("objects.yaml");
    std::fs::write(
        &objects,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {conf: level=debug}\n",
    )
    .expect("write");
    let applied = env.tandem(&["apply", "-f", objects.to_str().expect("path")]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    // The ConfigMap is there; the Secret is what the pod waits for now.
    wait_for("a FailedMount event for the Secret", 30, || {
        failed_mounts("creds")
            .iter()
            .any(|m| m.ends_with(": secret \"creds\" not found"))
            .then_some(())
    });
    assert!(
        env.pod_json("mounts")["status"]["initContainerStatuses"][0]["state"]["waiting"]
            .is_object()
    );

    std::fs::write(
        &objects,
        "apiVersion: v1\nkind: Secret\nmetadata: {name: creds}\nstringData: {token: t0k}\n",
    )
    .expect("write");
    let applied = env.tandem(&["apply", "-f", objects.to_str().expect("path")]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let logs = wait_for("app to list its volumes", 30, || {
        let logs = stdout(&env.tandem(&["logs", "mounts", "-c", "app"]));
        logs.contains("t0k").then_some(logs)
    });
    assert_eq!(
        stdout(&env.tandem(&["logs", "mounts", "-c", "init"])).trim(),
        "level=debug"
    );
    // The item's mode and the projected defaultMode, each with fsGroup's group read bit.
    let line = |name: &str| {
        logs.lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    };
    assert!(line("app.conf").starts_with("-r--r-----"), "{logs}");
    assert!(line("app.conf").ends_with(" 3000"), "{logs}");
    assert!(line("token").starts_with("-r--r-----"), "{logs}");
    let out = env.tandem(&["delete", "pod", "mounts"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// What the store keeps from an earlier `apply` (or the API) satisfies a later `run`'s
/// references, as the API server's objects would: no warning, the values read at once.
#[test]
fn a_run_reads_the_config_maps_the_store_keeps() {
    let Some(()) = require_root("run_reads_kept_objects") else {
        return;
    };
    let env = Env::new();
    let cm = env.root.path().join("cm.yaml");
    std::fs::write(
        &cm,
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: kept}\n",
    )
    .expect("write");
    let applied = env.tandem(&["apply", "-f", cm.to_str().expect("path")]);
    assert!(applied.status.success(), "{}", stderr(&applied));
    let pod = r#"
apiVersion: v1
kind: Pod
metadata: {name: reader}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: localhost/tandem-busybox:1.35
    imagePullPolicy: Never
    env: [{name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}]
    command: [sh, -c, "echo env=$MODE file=$(cat /config/mode)"]
    volumeMounts: [{name: config, mountPath: /config}]
  volumes: [{name: config, configMap: {name: settings}}]
"#;
    let out = env.run_yaml(pod, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not found"), "{}", stderr(&out));
    assert_eq!(
        stdout(&env.tandem(&["logs", "reader"])).trim(),
        "env=kept file=kept"
    );
}
