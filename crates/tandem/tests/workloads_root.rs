//! Workloads on real containers, as root: a Deployment with a native sidecar keeps its replicas
//! (a deleted pod is replaced, a scale down removes pods), a StatefulSet makes pod 1 only after
//! pod 0 is Ready and its claim directory outlives pod re-creation, an Indexed Job runs each
//! index once with at most `parallelism` pods at a time, and deleting a workload takes its pods
//! and its controller with it.

mod support;

use support::{kill9, require_root, stderr, stdout, wait_for, Env, IMAGE};

/// Pods of the store (name, phase, ready containers), from `get pods -o json`.
fn pods(env: &Env) -> Vec<(String, String, serde_json::Value)> {
    let out = env.tandem(&["get", "pods", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            (
                p["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p["status"]["phase"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                p,
            )
        })
        .collect()
}

/// A table with every run of blanks made one space, line by line.
fn squeezed(text: &str) -> String {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn running(env: &Env, prefix: &str) -> Vec<String> {
    pods(env)
        .into_iter()
        .filter(|(n, phase, _)| n.starts_with(prefix) && phase == "Running")
        .map(|(n, _, _)| n)
        .collect()
}

fn controllers(env: &Env) -> usize {
    let root = env.root.path().display().to_string();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            text.contains("__control") && text.contains(&root)
        })
        .count()
}

fn run_d(env: &Env, yaml: &str) {
    let path = env.root.path().join("app.yaml");
    std::fs::write(&path, yaml).expect("write manifest");
    let out = env.tandem(&["run", "-d", "-f", path.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Waits (up to a minute) until Job `name` has condition `condition`, and returns the Job as
/// `get -o json` shows it with that condition.
fn job_with_condition(
    env: &Env,
    name: &str,
    condition: &str,
) -> (serde_json::Value, serde_json::Value) {
    let out = env.tandem(&[
        "wait",
        &format!("job/{name}"),
        &format!("--for=condition={condition}"),
        "--timeout=60s",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let job: serde_json::Value =
        serde_json::from_str(&stdout(&env.tandem(&["get", "job", name, "-o", "json"])))
            .expect("json");
    let found = job["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == condition)
        .cloned()
        .unwrap_or_default();
    (job, found)
}

const LOOP: &str = "[sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]";

#[test]
fn a_deployment_keeps_its_replicas_and_goes_with_its_pods() {
    if require_root("a_deployment_keeps_its_replicas_and_goes_with_its_pods").is_none() {
        return;
    }
    let env = Env::new();
    run_d(
        &env,
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 3\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 5\n      initContainers:\n        - {{name: proxy, image: {IMAGE}, imagePullPolicy: Never, restartPolicy: Always, command: {LOOP}}}\n      containers:\n        - name: app\n          image: {IMAGE}\n          imagePullPolicy: Never\n          command: {LOOP}\n          readinessProbe: {{exec: {{command: [\"true\"]}}, periodSeconds: 1}}\n"
        ),
    );
    let first = wait_for("3 running pods", 60, || {
        let r = running(&env, "web-");
        (r.len() == 3).then_some(r)
    });
    // Named as the ReplicaSet controller names them, labelled and owned.
    let all = pods(&env);
    let (_, _, pod) = all.iter().find(|(n, _, _)| *n == first[0]).expect("pod");
    let hash = pod["metadata"]["labels"]["pod-template-hash"]
        .as_str()
        .expect("pod-template-hash")
        .to_string();
    assert!(
        first.iter().all(|n| n.starts_with(&format!("web-{hash}-"))
            && n.len() == format!("web-{hash}-").len() + 5),
        "{first:?}"
    );
    let owner = &pod["metadata"]["ownerReferences"][0];
    assert_eq!(
        (owner["kind"].as_str(), owner["name"].as_str()),
        (Some("ReplicaSet"), Some(format!("web-{hash}").as_str()))
    );
    let rows = stdout(&env.tandem(&["get", "deploy"]));
    let out = env.tandem(&[
        "wait",
        "deployment/web",
        "--for=condition=Available",
        "--timeout=30s",
    ]);
    assert_eq!(
        stdout(&out).trim(),
        "deployment.apps/web condition met",
        "{}",
        stderr(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(
        &env.tandem(&["get", "deployment", "web", "-o", "json"])
            .stdout,
    )
    .unwrap_or_default();
    assert_eq!(v["status"]["availableReplicas"], 3);
    assert!(
        rows.starts_with("NAME   READY   UP-TO-DATE   AVAILABLE   AGE"),
        "{rows}"
    );
    // `get all` as kubectl prints it: pods, then the Deployment and its ReplicaSet.
    let all = stdout(&env.tandem(&["get", "all"]));
    let firsts: Vec<&str> = all
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        firsts.iter().filter(|n| n.starts_with("pod/web-")).count(),
        3,
        "{all}"
    );
    assert!(firsts.contains(&"deployment.apps/web"), "{all}");
    assert!(
        firsts.contains(&format!("replicaset.apps/web-{hash}").as_str()),
        "{all}"
    );
    assert_eq!(all.matches("\n\nNAME ").count(), 2, "{all}");
    // -o wide adds the template's containers, images and the selector.
    let wide = squeezed(&stdout(&env.tandem(&["get", "deploy", "-o", "wide"])));
    assert!(wide.ends_with(&format!("app {IMAGE} app=web")), "{wide}");
    // The controllers' events, as kubectl get events shows them.
    let events = squeezed(&stdout(&env.tandem(&["get", "events"])));
    let rs_created =
        format!("Normal SuccessfulCreate replicaset/web-{hash} Created pod: web-{hash}-");
    assert_eq!(events.matches(&rs_created).count(), 3, "{events}");
    let scaled =
        format!("ScalingReplicaSet deployment/web Scaled up replica set web-{hash} from 0 to 3");
    assert!(events.contains(&scaled), "{events}");
    // A deleted pod is replaced.
    let out = env.tandem(&["delete", "pod", &first[0], "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let replaced = wait_for("a replacement", 60, || {
        let r = running(&env, "web-");
        (r.len() == 3 && !r.contains(&first[0])).then_some(r)
    });
    // Scaling down removes two pods gracefully; the sidecar stops after the app.
    let out = env.tandem(&["scale", "deployment/web", "--replicas", "1"]);
    assert_eq!(
        stdout(&out).trim(),
        "deployment.apps/web scaled",
        "{}",
        stderr(&out)
    );
    wait_for("one pod left", 60, || {
        let all = pods(&env);
        (all.len() == 1 && replaced.contains(&all[0].0)).then_some(())
    });
    assert_eq!(controllers(&env), 1);
    // Deleting the deployment takes its pod and its controller.
    let out = env.tandem(&["delete", "deployment", "web", "--grace-period", "0"]);
    assert_eq!(
        stdout(&out).trim(),
        "deployment.apps \"web\" deleted",
        "{}",
        stderr(&out)
    );
    assert!(pods(&env).is_empty());
    assert_eq!(controllers(&env), 0);
    let out = env.tandem(&["get", "deploy", "web"]);
    assert!(
        stderr(&out).contains("Error from server (NotFound): deployments.apps \"web\" not found"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_statefulset_starts_in_order_and_keeps_its_claims() {
    if require_root("a_statefulset_starts_in_order_and_keeps_its_claims").is_none() {
        return;
    }
    let env = Env::new();
    // Pod 0 becomes Ready only after 2 s: pod 1 must not exist before that.
    run_d(
        &env,
        &format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: db}}\nspec:\n  replicas: 2\n  serviceName: db\n  selector: {{matchLabels: {{app: db}}}}\n  template:\n    metadata: {{labels: {{app: db}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n        - name: db\n          image: {IMAGE}\n          imagePullPolicy: Never\n          command: [sh, -c, \"hostname >> /data/starts; trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n          volumeMounts: [{{name: data, mountPath: /data}}]\n          readinessProbe: {{exec: {{command: [\"true\"]}}, initialDelaySeconds: 2, periodSeconds: 1}}\n  volumeClaimTemplates:\n    - metadata: {{name: data}}\n      spec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}\n"
        ),
    );
    let ready_at = wait_for("db-0 ready", 60, || {
        let all = pods(&env);
        let (_, _, p) = all.iter().find(|(n, _, _)| n == "db-0")?;
        let ready = p["status"]["conditions"]
            .as_array()?
            .iter()
            .find(|c| c["type"] == "Ready" && c["status"] == "True")?;
        Some(ready["lastTransitionTime"].as_str()?.to_string())
    });
    let db1 = wait_for("db-1", 60, || {
        pods(&env)
            .into_iter()
            .find(|(n, _, _)| n == "db-1")
            .map(|(_, _, p)| p)
    });
    let created = db1["metadata"]["creationTimestamp"]
        .as_str()
        .expect("created")
        .to_string();
    assert!(
        created >= ready_at,
        "db-1 created at {created}, before db-0 was ready at {ready_at}"
    );
    assert_eq!(db1["spec"]["hostname"], "db-1");
    assert_eq!(db1["spec"]["subdomain"], "db");
    // db-0 deleted comes back under its name, with the file its first life wrote.
    let out = env.tandem(&["delete", "pod", "db-0", "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let starts = wait_for("db-0 again", 60, || {
        let out = env.tandem(&["exec", "db-0", "--", "cat", "/data/starts"]);
        let text = stdout(&out);
        (text.lines().count() == 2).then_some(text)
    });
    assert_eq!(starts, "db-0\ndb-0\n");
    // A restart rolls out from the highest ordinal down, each pod made again once the one
    // before is Ready.
    let out = env.tandem(&["rollout", "restart", "sts/db"]);
    assert_eq!(
        stdout(&out).trim(),
        "statefulset.apps/db restarted",
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["rollout", "status", "statefulset/db", "--timeout", "90s"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    assert!(
        text.contains("statefulset rolling update complete 2 pods at revision db-"),
        "{text}"
    );
    let created = |n: &str| {
        env.pod_json(n)["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        created("db-1") <= created("db-0"),
        "db-1 {} db-0 {}",
        created("db-1"),
        created("db-0")
    );
    let out = env.tandem(&["delete", "sts/db", "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        env.root
            .path()
            .join("volumes/default/data-db-0/starts")
            .exists(),
        "claims outlive the StatefulSet"
    );
}

#[test]
fn an_indexed_job_with_a_sidecar_runs_each_index_once_two_at_a_time() {
    if require_root("an_indexed_job_with_a_sidecar_runs_each_index_once_two_at_a_time").is_none() {
        return;
    }
    let env = Env::new();
    run_d(
        &env,
        &format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: work}}\nspec:\n  completions: 4\n  parallelism: 2\n  completionMode: Indexed\n  template:\n    spec:\n      restartPolicy: Never\n      initContainers:\n        - {{name: sidecar, image: {IMAGE}, imagePullPolicy: Never, restartPolicy: Always, command: {LOOP}}}\n      containers:\n        - name: work\n          image: {IMAGE}\n          imagePullPolicy: Never\n          command: [sh, -c, 'echo index=$JOB_COMPLETION_INDEX host=$(hostname); sleep 1']\n"
        ),
    );
    let waiter = env
        .cmd()
        .args([
            "wait",
            "job/work",
            "--for=condition=Complete",
            "--timeout=90s",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("wait");
    let mut most = 0;
    wait_for("the job complete", 90, || {
        most = most.max(
            pods(&env)
                .iter()
                .filter(|(_, phase, _)| phase == "Running" || phase == "Pending")
                .count(),
        );
        let v: serde_json::Value =
            serde_json::from_slice(&env.tandem(&["get", "job", "work", "-o", "json"]).stdout)
                .unwrap_or_default();
        let done = v["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Complete" && c["status"] == "True")
        });
        done.then_some(())
    });
    assert!(most <= 2, "{most} pods at once");
    let waited = waiter.wait_with_output().expect("wait");
    assert_eq!(stdout(&waited).trim(), "job.batch/work condition met");
    let mut seen: Vec<String> = pods(&env)
        .iter()
        .map(|(n, phase, _)| {
            assert_eq!(phase, "Succeeded", "{n}");
            stdout(&env.tandem(&["logs", n, "-c", "work"]))
                .trim()
                .to_string()
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "index=0 host=work-0",
            "index=1 host=work-1",
            "index=2 host=work-2",
            "index=3 host=work-3"
        ]
    );
    let rows = stdout(&env.tandem(&["get", "jobs"]));
    let row: Vec<&str> = rows
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], ["work", "Complete", "4/4"], "{rows}");
    let events = squeezed(&stdout(&env.tandem(&["get", "events"])));
    let created = "Normal SuccessfulCreate job/work Created pod: work-";
    assert_eq!(events.matches(created).count(), 4, "{events}");
    let completed = "Normal Completed job/work Job completed";
    assert_eq!(events.matches(completed).count(), 1, "{events}");
    let out = env.tandem(&["delete", "job", "work"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(pods(&env).is_empty());
}

/// Ready pods of the store, from `get pods -o json`.
fn ready(env: &Env) -> usize {
    pods(env)
        .iter()
        .filter(|(_, _, p)| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
        .count()
}

#[test]
fn a_rolling_update_never_drops_below_its_availability_budget_and_undoes() {
    if require_root("a_rolling_update_never_drops_below_its_availability_budget_and_undoes")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let tar = env.rootfs_tar();
    let out = env.tandem(&[
        "image",
        "import",
        tar.to_str().expect("utf-8"),
        "localhost/tandem-busybox:next",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // maxUnavailable 0: never fewer than 3 ready pods; maxSurge 1: never more than 4 pods. The
    // new pods become Ready only after a second, so the budget is what holds the line.
    run_d(
        &env,
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 3\n  strategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 5\n      containers:\n        - name: app\n          image: {IMAGE}\n          imagePullPolicy: Never\n          command: {LOOP}\n          readinessProbe: {{exec: {{command: [\"true\"]}}, initialDelaySeconds: 1, periodSeconds: 1}}\n"
        ),
    );
    wait_for("3 ready pods", 60, || (ready(&env) == 3).then_some(()));
    let before: Vec<String> = running(&env, "web-");
    let out = env.tandem(&[
        "set",
        "image",
        "deployment/web",
        "app=localhost/tandem-busybox:next",
    ]);
    assert_eq!(
        stdout(&out).trim(),
        "deployment.apps/web image updated",
        "{}",
        stderr(&out)
    );
    let mut status = env
        .cmd()
        .args(["rollout", "status", "deployment/web", "--timeout", "90s"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("rollout status");
    let (mut fewest, mut most) = (usize::MAX, 0);
    let done = loop {
        fewest = fewest.min(ready(&env));
        most = most.max(
            pods(&env)
                .iter()
                .filter(|(_, phase, _)| phase != "Succeeded" && phase != "Failed")
                .count(),
        );
        if let Some(s) = status.try_wait().expect("wait") {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut text = String::new();
    std::io::Read::read_to_string(status.stdout.as_mut().expect("stdout"), &mut text)
        .expect("read");
    assert!(done.success(), "{text}");
    assert!(
        text.ends_with("deployment \"web\" successfully rolled out\n"),
        "{text}"
    );
    assert!(fewest >= 3, "only {fewest} ready pods during the rollout");
    assert!(most <= 4, "{most} pods during the rollout");
    let after = running(&env, "web-");
    assert_eq!(after.len(), 3);
    assert!(
        after.iter().all(|n| !before.contains(n)),
        "{before:?} {after:?}"
    );
    for n in &after {
        let v = env.pod_json(n);
        assert_eq!(
            v["spec"]["containers"][0]["image"],
            "localhost/tandem-busybox:next"
        );
    }
    // Two ReplicaSets, the old one scaled to 0; undo brings the first template back.
    let rs = stdout(&env.tandem(&["get", "rs"]));
    assert_eq!(rs.lines().count(), 3, "{rs}");
    assert!(
        rs.lines().any(|l| l.split_whitespace().nth(1) == Some("0")),
        "{rs}"
    );
    let out = env.tandem(&["rollout", "undo", "deployment/web"]);
    assert_eq!(
        stdout(&out).trim(),
        "deployment.apps/web rolled back",
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["rollout", "status", "deployment/web", "--timeout", "90s"]);
    assert!(out.status.success(), "{}", stdout(&out));
    for n in running(&env, "web-") {
        assert_eq!(env.pod_json(&n)["spec"]["containers"][0]["image"], IMAGE);
    }
    let history = stdout(&env.tandem(&["rollout", "history", "deployment/web"]));
    let revisions: Vec<&str> = history
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, ["2", "3"], "{history}");
    // The Deployment carries its newest ReplicaSet's revision, as the controller annotates it.
    let deployment: serde_json::Value = serde_json::from_str(&stdout(&env.tandem(&[
        "get",
        "deployment",
        "web",
        "-o",
        "json",
    ])))
    .expect("json");
    assert_eq!(
        deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3",
        "{deployment:#}"
    );
}

#[test]
fn a_cronjob_runs_on_its_schedule_and_on_demand_and_goes_with_its_jobs() {
    if require_root("a_cronjob_runs_on_its_schedule_and_on_demand_and_goes_with_its_jobs").is_none()
    {
        return;
    }
    let env = Env::new();
    // `@every 2s` (the controller's parser takes it): the first run is due 2 s after creation.
    run_d(
        &env,
        &format!(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: tick}}\nspec:\n  schedule: \"@every 2s\"\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers:\n            - name: tick\n              image: {IMAGE}\n              imagePullPolicy: Never\n              command: [sh, -c, 'echo tick $(hostname)']\n"
        ),
    );
    let out = env.tandem(&["create", "job", "now", "--from=cronjob/tick"]);
    assert_eq!(
        stdout(&out).trim(),
        "job.batch/now created",
        "{}",
        stderr(&out)
    );
    let jobs = |env: &Env| -> Vec<serde_json::Value> {
        let v: serde_json::Value =
            serde_json::from_slice(&env.tandem(&["get", "jobs", "-o", "json"]).stdout)
                .unwrap_or_default();
        v["items"].as_array().cloned().unwrap_or_default()
    };
    let scheduled = wait_for("a scheduled job", 30, || {
        jobs(&env).into_iter().find(|j| {
            j["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("tick-"))
        })
    });
    let annotations = &scheduled["metadata"]["annotations"];
    assert!(
        annotations["batch.kubernetes.io/cronjob-scheduled-timestamp"].is_string(),
        "{annotations}"
    );
    assert_eq!(
        scheduled["metadata"]["ownerReferences"][0]["kind"],
        "CronJob"
    );
    let manual = jobs(&env)
        .into_iter()
        .find(|j| j["metadata"]["name"] == "now")
        .expect("the manual job");
    assert_eq!(
        manual["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"],
        "manual"
    );
    let out = env.tandem(&[
        "wait",
        "job/now",
        "--for=condition=Complete",
        "--timeout=60s",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let pod = pods(&env)
        .into_iter()
        .find(|(n, _, _)| n.starts_with("now-"))
        .expect("its pod")
        .0;
    assert_eq!(
        stdout(&env.tandem(&["logs", &pod])).trim(),
        format!("tick {pod}")
    );
    let rows = stdout(&env.tandem(&["get", "cronjobs"]));
    assert!(
        rows.starts_with("NAME   SCHEDULE    TIMEZONE   SUSPEND   ACTIVE   LAST SCHEDULE   AGE"),
        "{rows}"
    );
    let column = rows.find("LAST SCHEDULE").expect("the column");
    let cell = rows
        .lines()
        .nth(1)
        .unwrap_or_default()
        .get(column..)
        .unwrap_or_default();
    assert!(!cell.starts_with("<none>"), "a last schedule: {rows}");
    // Deleting the CronJob takes its Jobs, their pods and every controller.
    let out = env.tandem(&["delete", "cronjob", "tick"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(jobs(&env).is_empty());
    assert!(pods(&env).is_empty());
    assert_eq!(controllers(&env), 0);
}

#[test]
fn a_helm_style_file_runs_whole_and_its_claim_outlives_pods() {
    if require_root("a_helm_style_file_runs_whole_and_its_claim_outlives_pods").is_none() {
        return;
    }
    let env = Env::new();
    let yaml = format!(
        "---\n# Source: app/templates/serviceaccount.yaml\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: app}}\n---\n# Source: app/templates/pvc.yaml\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: app-data}}\nspec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Gi}}}}}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app-config}}\ndata: {{GREETING: hello}}\n---\napiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {{name: app}}\nspec: {{rules: [{{http: {{paths: [{{path: /, pathType: Prefix, backend: {{service: {{name: app, port: {{number: 80}}}}}}}}]}}}}]}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app, labels: {{app.kubernetes.io/name: app}}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app.kubernetes.io/name: app}}}}\n  template:\n    metadata: {{labels: {{app.kubernetes.io/name: app}}}}\n    spec:\n      serviceAccountName: app\n      terminationGracePeriodSeconds: 1\n      securityContext: {{runAsUser: 1000, fsGroup: 3000}}\n      containers:\n        - name: app\n          image: {IMAGE}\n          imagePullPolicy: Never\n          envFrom: [{{configMapRef: {{name: app-config}}}}]\n          command: [sh, -c, \"echo $GREETING from $(hostname) >> /data/log; trap 'exit 0' TERM; while true; do sleep 0.2; done\"]\n          volumeMounts: [{{name: data, mountPath: /data}}]\n      volumes:\n        - name: data\n          persistentVolumeClaim: {{claimName: app-data}}\n"
    );
    let path = env.root.path().join("app.yaml");
    std::fs::write(&path, yaml).expect("write");
    let file = path.to_str().expect("utf-8");
    let out = env.tandem(&["run", "-d", "-f", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The chart's ServiceAccount and ConfigMap are kept, as the API server keeps them.
    assert_eq!(
        stdout(&out).trim(),
        "serviceaccount/app created\nconfigmap/app-config created\ndeployment.apps/app created"
    );
    // One note for each kind that is not applied; the claim says what it becomes.
    let notes = stderr(&out);
    for kind in ["Ingress is accepted", "PersistentVolumeClaim is accepted"] {
        assert_eq!(notes.matches(kind).count(), 1, "{kind}: {notes}");
    }
    assert!(!notes.contains("ServiceAccount"), "{notes}");
    let first = wait_for("the app's pod", 60, || running(&env, "app-").pop());
    // The claim's directory takes fsGroup as a cluster's claim does, and keeps what the first pod
    // wrote for the next one.
    let log = wait_for("the first line", 30, || {
        let t = stdout(&env.tandem(&["exec", &first, "--", "cat", "/data/log"]));
        (!t.is_empty()).then_some(t)
    });
    assert_eq!(log, format!("hello from {first}\n"));
    // Its account's token is the pods' user's alone, and readable through fsGroup, as the
    // projected volume plugin writes it when every container runs as one user.
    let out = env.tandem(&[
        "exec",
        &first,
        "--",
        "stat",
        "-L",
        "-c",
        "%a %u %g",
        "/var/run/secrets/kubernetes.io/serviceaccount/token",
        "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    ]);
    assert_eq!(
        stdout(&out),
        "640 1000 3000\n644 0 3000\n",
        "{}",
        stderr(&out)
    );
    let data = env.root.path().join("volumes/default/app-data");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&data).expect("claim directory").gid(),
        3000
    );
    let out = env.tandem(&["delete", "pod", &first, "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let second = wait_for("a replacement", 60, || {
        running(&env, "app-").into_iter().find(|n| *n != first)
    });
    let log = wait_for("the second line", 30, || {
        let t = stdout(&env.tandem(&["exec", &second, "--", "cat", "/data/log"]));
        (t.lines().count() == 2).then_some(t)
    });
    assert_eq!(log, format!("hello from {first}\nhello from {second}\n"));
    // delete -f removes what the file made but keeps the claim unless asked.
    let out = env.tandem(&["delete", "-f", file, "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("persistentvolumeclaim \"app-data\" kept"),
        "{}",
        stderr(&out)
    );
    assert!(pods(&env).is_empty());
    assert!(data.join("log").exists());
    let out = env.tandem(&["run", "-d", "-f", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.tandem(&[
        "delete",
        "-f",
        file,
        "--include-volumes",
        "--grace-period",
        "0",
    ]);
    assert!(
        stdout(&out).contains("persistentvolumeclaim \"app-data\" deleted"),
        "{}",
        stdout(&out)
    );
    assert!(!data.exists());
    assert_eq!(controllers(&env), 0);
}

#[test]
fn a_killed_controller_leaves_its_pods_running_and_the_next_command_recovers_it() {
    if require_root("a_killed_controller_leaves_its_pods_running_and_the_next_command_recovers_it")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    run_d(
        &env,
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n        - {{name: app, image: {IMAGE}, imagePullPolicy: Never, command: {LOOP}}}\n"
        ),
    );
    let before = wait_for("2 running pods", 60, || {
        let r = running(&env, "web-");
        (r.len() == 2).then_some(r)
    });
    let dir = env.root.path().join("workloads/default_deployments_web");
    let pid: i32 = std::fs::read_to_string(dir.join("controller.pid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    kill9(pid);
    wait_for("the controller gone", 10, || {
        (controllers(&env) == 0).then_some(())
    });
    // Its pods keep running without it.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(running(&env, "web-"), before);
    // The next command naming the workload says so and starts it again.
    let out = env.tandem(&["get", "deployment", "web"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("the controller of deployment.apps/web was not running; it is started again"),
        "{}",
        stderr(&out)
    );
    wait_for("a controller again", 10, || {
        (controllers(&env) == 1).then_some(())
    });
    // It takes up the pods it finds (none made twice) and replaces a deleted one.
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(running(&env, "web-"), before);
    let out = env.tandem(&["delete", "pod", &before[0], "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_for("a replacement", 60, || {
        let r = running(&env, "web-");
        (r.len() == 2 && !r.contains(&before[0])).then_some(())
    });
    // Killed again, `delete` does its part: nothing of the workload is left.
    let pid: i32 = std::fs::read_to_string(dir.join("controller.pid"))
        .expect("pid")
        .trim()
        .parse()
        .expect("a pid");
    kill9(pid);
    wait_for("the controller gone", 10, || {
        (controllers(&env) == 0).then_some(())
    });
    let out = env.tandem(&["delete", "deployment", "web", "--grace-period", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(pods(&env).is_empty());
    assert!(!dir.exists());
    assert_eq!(controllers(&env), 0);
}

#[test]
fn a_finished_job_goes_after_its_ttl_and_a_suspended_one_runs_nothing() {
    if require_root("a_finished_job_goes_after_its_ttl_and_a_suspended_one_runs_nothing").is_none()
    {
        return;
    }
    let env = Env::new();
    let job = |name: &str, extra: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n{extra}  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: a, image: {IMAGE}, imagePullPolicy: Never, command: [sh, -c, 'echo done']}}]\n"
        )
    };
    run_d(
        &env,
        &format!(
            "{}---\n{}",
            job("short", "  ttlSecondsAfterFinished: 1\n"),
            job("held", "  suspend: true\n")
        ),
    );
    let out = env.tandem(&[
        "wait",
        "job/short",
        "--for=condition=Complete",
        "--timeout=60s",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // One second after it finished, the Job and its pod are gone.
    wait_for("the job deleted", 30, || {
        let out = env.tandem(&["get", "job", "short"]);
        (!out.status.success() && pods(&env).iter().all(|(n, _, _)| !n.starts_with("short-")))
            .then_some(())
    });
    // The suspended Job made no pod and says so.
    assert!(pods(&env).iter().all(|(n, _, _)| !n.starts_with("held-")));
    let rows = stdout(&env.tandem(&["get", "jobs"]));
    let row: Vec<&str> = rows
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(&row[..3], ["held", "Suspended", "0/1"], "{rows}");
    assert_eq!(controllers(&env), 1);
}

#[test]
fn run_in_the_foreground_follows_a_workloads_pods_and_ends_with_its_jobs() {
    if require_root("run_in_the_foreground_follows_a_workloads_pods_and_ends_with_its_jobs")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let job = |name: &str, backoff: u32, script: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  completions: 2\n  backoffLimit: {backoff}\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: main, image: {IMAGE}, imagePullPolicy: Never, command: [sh, -c, '{script}']}}]\n"
        )
    };
    // A Job that completes: every pod's line is printed (even those of pods found after they
    // started), and the command ends with it, exit status 0.
    let out = env.run_yaml(&job("ok", 6, "echo from $(hostname)"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("| from ok-")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    for l in lines {
        let (label, said) = l.split_once(" | ").expect("a label");
        assert_eq!(
            format!("from {}", label.trim().trim_end_matches("/main")),
            said,
            "{l}"
        );
    }
    // A Job that fails past its backoffLimit: exit status 1.
    let out = env.run_yaml(&job("bad", 0, "exit 3"), &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // A Deployment runs until Ctrl-C, which deletes it with its pods.
    let mut child = env
        .cmd()
        .args(["run", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin
            .write_all(format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: fg}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: fg}}}}\n  template:\n    metadata: {{labels: {{app: fg}}}}\n    spec:\n      terminationGracePeriodSeconds: 5\n      containers: [{{name: app, image: {IMAGE}, imagePullPolicy: Never, command: {LOOP}}}]\n").as_bytes())
            .expect("write");
    }
    wait_for("2 running pods", 60, || {
        (running(&env, "fg-").len() == 2).then_some(())
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopping pods gracefully"),
        "{}",
        stderr(&out)
    );
    assert!(pods(&env).iter().all(|(n, _, _)| !n.starts_with("fg-")));
    assert!(!env
        .root
        .path()
        .join("workloads/default_deployments_fg")
        .exists());
}

/// A Deployment whose pods never become ready stops progressing once its
/// `progressDeadlineSeconds` pass: Progressing False with ProgressDeadlineExceeded, and
/// `rollout status` fails with kubectl's words; a fixed template progresses again.
#[test]
fn a_stuck_rollout_exceeds_its_progress_deadline_and_a_fixed_one_completes() {
    if require_root("a_stuck_rollout_exceeds_its_progress_deadline_and_a_fixed_one_completes")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let deployment = |probe: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: stuck}}\nspec:\n  replicas: 1\n  progressDeadlineSeconds: 3\n  selector: {{matchLabels: {{app: stuck}}}}\n  template:\n    metadata: {{labels: {{app: stuck}}}}\n    spec:\n      terminationGracePeriodSeconds: 0\n      containers:\n      - name: c\n        image: {IMAGE}\n        imagePullPolicy: Never\n        command: [sleep, \"3600\"]\n        readinessProbe: {{exec: {{command: [\"{probe}\"]}}, periodSeconds: 1}}\n"
        )
    };
    // The deadline counts from the condition's time, written in whole seconds as the API
    // writes it: it can read up to a second before the Deployment was made, so the earliest
    // a correct controller may give up is two seconds after `run` began.
    let started = std::time::Instant::now();
    run_d(&env, &deployment("false"));
    let out = env.tandem(&["rollout", "status", "deployment/stuck", "--timeout=60s"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("deployment \"stuck\" exceeded its progress deadline"),
        "{}",
        stderr(&out)
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "not before the deadline"
    );
    let progressing = |env: &Env| -> serde_json::Value {
        let d: serde_json::Value = serde_json::from_str(&stdout(
            &env.tandem(&["get", "deploy", "stuck", "-o", "json"]),
        ))
        .expect("json");
        d["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Progressing")
            .cloned()
            .unwrap_or_default()
    };
    let c = progressing(&env);
    assert_eq!(
        (&c["status"], &c["reason"]),
        (
            &serde_json::json!("False"),
            &serde_json::json!("ProgressDeadlineExceeded")
        ),
        "{c:#}"
    );
    // The template fixed: a new rollout, which completes.
    let file = env.root.path().join("stuck.yaml");
    std::fs::write(&file, deployment("true")).expect("write");
    let out = env.tandem(&["apply", "-f", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.tandem(&["rollout", "status", "deployment/stuck", "--timeout=60s"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let c = progressing(&env);
    assert_eq!(
        (&c["status"], &c["reason"]),
        (
            &serde_json::json!("True"),
            &serde_json::json!("NewReplicaSetAvailable")
        ),
        "{c:#}"
    );
    let out = env.tandem(&["delete", "deployment", "stuck"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A Job's podFailurePolicy on real pods: an exit code its Ignore rule names is not counted (the
/// pod is replaced at once, and the Job completes with no failure counted although its
/// backoffLimit is 0); one its FailJob rule names fails the Job at once, with the controller's
/// reason and message.
#[test]
fn a_pod_failure_policy_ignores_one_exit_code_and_fails_the_job_on_another() {
    if require_root("a_pod_failure_policy_ignores_one_exit_code_and_fails_the_job_on_another")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    // Exit 3 the first time (a marker left in a claim), then 0; `fatal` exits 42 at once.
    let job = |name: &str, script: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:\n  backoffLimit: 0\n  podFailurePolicy:\n    rules:\n    - {{action: FailJob, onExitCodes: {{containerName: main, operator: In, values: [42]}}}}\n    - {{action: Ignore, onExitCodes: {{operator: In, values: [3]}}}}\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: {IMAGE}\n        imagePullPolicy: Never\n        command: [sh, -c, \"{script}\"]\n        volumeMounts: [{{name: data, mountPath: /data}}]\n      volumes: [{{name: data, persistentVolumeClaim: {{claimName: marks-{name}}}}}]\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: marks-{name}}}\nspec: {{accessModes: [ReadWriteOnce], resources: {{requests: {{storage: 1Mi}}}}}}\n"
        )
    };
    run_d(
        &env,
        &job(
            "retried",
            "if [ -f /data/again ]; then exit 0; fi; touch /data/again; exit 3",
        ),
    );
    let (status, _) = job_with_condition(&env, "retried", "Complete");
    assert_eq!(status["status"]["succeeded"], 1, "{status:#}");
    assert!(
        status["status"]["failed"].as_i64().unwrap_or(0) == 0,
        "{status:#}"
    );

    let path = env.root.path().join("fatal.yaml");
    std::fs::write(&path, job("fatal", "exit 42")).expect("write");
    let out = env.tandem(&["run", "-d", "-f", path.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (job, failed) = job_with_condition(&env, "fatal", "Failed");
    assert_eq!(failed["reason"], "PodFailurePolicy", "{job:#}");
    let message = failed["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("Container main for pod default/fatal-")
            && message.ends_with("failed with exit code 42 matching FailJob rule at index 0"),
        "{message}"
    );
    let events = stdout(&env.tandem(&["get", "events"]));
    assert!(
        events.contains("PodFailurePolicy") && events.contains("job/fatal"),
        "{events}"
    );
}

/// An Indexed Job whose success policy names index 0 completes once that index succeeds, with
/// the controller's reason, and its other indexes' pods are deleted.
#[test]
fn a_success_policy_completes_an_indexed_job_by_its_leader() {
    if require_root("a_success_policy_completes_an_indexed_job_by_its_leader").is_none() {
        return;
    }
    let env = Env::new();
    run_d(
        &env,
        &format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: leader}}\nspec:\n  completionMode: Indexed\n  completions: 3\n  parallelism: 3\n  successPolicy: {{rules: [{{succeededIndexes: \"0\"}}]}}\n  template:\n    spec:\n      restartPolicy: Never\n      terminationGracePeriodSeconds: 0\n      containers:\n      - name: c\n        image: {IMAGE}\n        imagePullPolicy: Never\n        command: [sh, -c, \"if [ $JOB_COMPLETION_INDEX = 0 ]; then sleep 1; exit 0; fi; exec sleep 300\"]\n"
        ),
    );
    let (job, complete) = job_with_condition(&env, "leader", "Complete");
    assert_eq!(
        (&complete["reason"], &complete["message"]),
        (
            &serde_json::json!("SuccessPolicy"),
            &serde_json::json!("Matched rules at index 0")
        ),
        "{job:#}"
    );
    assert_eq!(job["status"]["completedIndexes"], "0", "{job:#}");
    wait_for("the other indexes' pods gone", 30, || {
        running(&env, "leader-").is_empty().then_some(())
    });
}

/// `backoffLimitPerIndex` (KEP-3850): an Indexed Job whose index 1 fails by a `FailIndex` rule
/// runs its other indexes to success, never runs index 1 again, and fails once every index has
/// ended, with the failed indexes in its status.
#[test]
fn an_indexed_job_fails_one_index_by_its_own_limit_and_the_others_complete() {
    if require_root("an_indexed_job_fails_one_index_by_its_own_limit_and_the_others_complete")
        .is_none()
    {
        return;
    }
    let env = Env::new();
    let job = format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata: {{name: per-index}}\nspec:\n  completionMode: Indexed\n  completions: 3\n  parallelism: 3\n  backoffLimitPerIndex: 1\n  podFailurePolicy:\n    rules:\n    - {{action: FailIndex, onExitCodes: {{operator: In, values: [42]}}}}\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        image: {IMAGE}\n        imagePullPolicy: Never\n        command: [sh, -c, \"if [ $JOB_COMPLETION_INDEX = 1 ]; then exit 42; fi\"]\n"
    );
    run_d(&env, &job);
    let (job, failed) = job_with_condition(&env, "per-index", "Failed");
    let status = &job["status"];
    assert_eq!(status["failedIndexes"], "1", "{job:#}");
    assert_eq!(status["completedIndexes"], "0,2", "{job:#}");
    assert_eq!(
        (status["succeeded"].as_i64(), status["failed"].as_i64()),
        (Some(2), Some(1)),
        "{job:#}"
    );
    assert_eq!(failed["reason"], "FailedIndexes", "{job:#}");
    assert_eq!(failed["message"], "Job has failed indexes", "{job:#}");
    // Index 1 ran once: its failure was not retried.
    let pods = stdout(&env.tandem(&["get", "pods", "-o", "name"]));
    assert_eq!(
        pods.lines()
            .filter(|p| p.starts_with("pod/per-index-1-"))
            .count(),
        1,
        "{pods}"
    );
}

#[test]
fn ordinals_name_a_statefulsets_pods_and_a_daemonset_surges_its_update() {
    if require_root("ordinals_name_a_statefulsets_pods_and_a_daemonset_surges_its_update").is_none()
    {
        return;
    }
    let env = Env::new();
    let spec = |cmd: &str| {
        format!("    metadata: {{labels: {{app: x}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sh, -c, \"{cmd}\"]}}]\n")
    };
    run_d(
        &env,
        &format!(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: ord}}\nspec:\n  replicas: 2\n  ordinals: {{start: 3}}\n  podManagementPolicy: Parallel\n  selector: {{matchLabels: {{app: x}}}}\n  template:\n{}---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: agent}}\nspec:\n  updateStrategy: {{rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}\n  selector: {{matchLabels: {{app: agent}}}}\n  template:\n{}",
            spec("trap 'exit 0' TERM; while true; do sleep 0.2; done"),
            spec("trap 'exit 0' TERM; while true; do sleep 0.2; done").replace("app: x", "app: agent"),
        ),
    );
    // `ordinals.start: 3`: the pods are ord-3 and ord-4, each with its ordinal as index.
    let mut names = wait_for("ord-3 and ord-4", 60, || {
        let names = running(&env, "ord-");
        (names.len() == 2).then_some(names)
    });
    names.sort();
    assert_eq!(names, ["ord-3", "ord-4"]);
    let pod = env.pod_json("ord-4");
    assert_eq!(
        pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"],
        "4"
    );
    assert_eq!(pod["spec"]["hostname"], "ord-4");

    // maxSurge 1: a restarted DaemonSet runs its new pod before the old one goes, so some pod
    // of it runs at every moment sampled.
    let first = wait_for("the agent's pod", 60, || {
        running(&env, "agent-").first().cloned()
    });
    let out = env.tandem(&["rollout", "restart", "ds/agent"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut most = 0;
    let replaced = wait_for("the agent's pod replaced", 60, || {
        let now = running(&env, "agent-");
        assert!(!now.is_empty(), "no agent pod running");
        most = most.max(now.len());
        (now.len() == 1 && now[0] != first).then(|| now[0].clone())
    });
    assert_ne!(replaced, first);
    assert_eq!(most, 2, "the new pod never ran beside the old one");
    let out = env.tandem(&[
        "delete",
        "-f",
        env.root.path().join("app.yaml").to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_paused_deployment_scales_but_rolls_out_only_once_resumed() {
    if require_root("a_paused_deployment_scales_but_rolls_out_only_once_resumed").is_none() {
        return;
    }
    let env = Env::new();
    run_d(
        &env,
        &format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers: [{{name: c, image: {IMAGE}, imagePullPolicy: Never, command: [sh, -c, \"trap 'exit 0' TERM; while true; do sleep 0.2; done\"]}}]\n"),
    );
    let mut before = wait_for("two pods", 60, || {
        let names = running(&env, "web-");
        (names.len() == 2).then_some(names)
    });
    before.sort();
    let out = env.tandem(&["rollout", "pause", "deployment/web"]);
    assert_eq!(
        stdout(&out),
        "deployment.apps/web paused\n",
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["rollout", "pause", "deployment/web"]);
    assert!(
        stderr(&out).contains("deployments.apps \"web\" is already paused"),
        "{}",
        stderr(&out)
    );
    // A restart (a changed template) waits; a scale does not, and stays on the old template.
    assert!(env
        .tandem(&["rollout", "restart", "deployment/web"])
        .status
        .success());
    assert!(env
        .tandem(&["scale", "deployment/web", "--replicas", "3"])
        .status
        .success());
    let three = wait_for("three pods", 60, || {
        let names = running(&env, "web-");
        (names.len() == 3).then_some(names)
    });
    std::thread::sleep(std::time::Duration::from_secs(2));
    let template_of = |n: &str| {
        env.pod_json(n)["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let old_hash = template_of(&before[0]);
    assert!(
        three.iter().all(|n| template_of(n) == old_hash),
        "{three:?}"
    );
    assert!(
        before.iter().all(|n| three.contains(n)),
        "{before:?} {three:?}"
    );
    let described = stdout(&env.tandem(&["get", "deployment", "web", "-o", "json"]));
    assert!(described.contains("DeploymentPaused"), "{described}");
    // Resumed: the rollout runs to the end on the new template.
    let out = env.tandem(&["rollout", "resume", "deployment/web"]);
    assert_eq!(
        stdout(&out),
        "deployment.apps/web resumed\n",
        "{}",
        stderr(&out)
    );
    let out = env.tandem(&["rollout", "status", "deployment/web", "--timeout", "90s"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let after = wait_for("three new pods", 60, || {
        let names = running(&env, "web-");
        (names.len() == 3 && names.iter().all(|n| template_of(n) != old_hash)).then_some(names)
    });
    assert!(after.iter().all(|n| !three.contains(n)), "{after:?}");
    let out = env.tandem(&["rollout", "resume", "deployment/web"]);
    assert!(stderr(&out).contains("is not paused"), "{}", stderr(&out));
    assert!(env.tandem(&["delete", "deployment/web"]).status.success());
}
