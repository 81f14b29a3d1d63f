//! Workloads as the API server takes them: every kind with a pod template loads with its
//! defaults, the rest of an app's file is accepted with a note per kind, and names that would
//! clash are refused before anything starts.

use serde_json::Value;
use tandem_api::{load, PlanOptions, Severity, Source, Workload, WorkloadKind};

const APP: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: web}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {LEVEL: debug}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - {name: proxy, image: busybox, restartPolicy: Always}
      containers:
        - name: app
          image: busybox
          envFrom: [{configMapRef: {name: web-config}}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: busybox}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, uid: 0b5c6f4e-1111-4222-8333-944455556666}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: busybox}]
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers: [{name: backup, image: busybox}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
"#;

#[test]
fn an_apps_file_loads_with_the_api_servers_defaults() {
    let l = load(&[Source::new("app.yaml", APP)], &PlanOptions::default()).expect("present");
    assert!(l.pods.is_empty());
    let kinds: Vec<WorkloadKind> = l.workloads.iter().map(|w| w.object.kind()).collect();
    assert_eq!(
        kinds,
        [
            WorkloadKind::Deployment,
            WorkloadKind::StatefulSet,
            WorkloadKind::Job,
            WorkloadKind::CronJob
        ]
    );
    let Workload::Deployment(d) = &l.workloads[0].object else {
        panic!("not a Deployment");
    };
    let ru = d
        .spec
        .strategy
        .as_ref()
        .expect("present")
        .rolling_update
        .as_ref()
        .expect("present");
    assert_eq!(
        serde_json::to_value(ru).expect("present"),
        serde_json::json!({"maxSurge": "25%", "maxUnavailable": "25%"})
    );
    assert_eq!(d.spec.revision_history_limit, Some(10));
    // The template's spec has the pod defaults, and its plan resolved the ConfigMap.
    let tspec = d.spec.template.spec.as_ref().expect("present");
    assert_eq!(tspec.restart_policy.as_deref(), Some("Always"));
    let plan = &l.workloads[0].template;
    assert_eq!(plan.init_containers[0].name, "proxy");
    assert!(
        plan.containers[0].env.iter().any(|e| e.name == "LEVEL"),
        "{:?}",
        plan.containers[0].env
    );
    let Workload::StatefulSet(s) = &l.workloads[1].object else {
        panic!("not a StatefulSet");
    };
    assert_eq!(
        s.spec.pod_management_policy.as_deref(),
        Some("OrderedReady")
    );
    assert_eq!(l.workloads[1].template.name, "db-0");
    let Workload::Job(j) = &l.workloads[2].object else {
        panic!("not a Job");
    };
    let js = j.spec.as_ref().expect("present");
    assert_eq!(
        (js.completions, js.parallelism, js.backoff_limit),
        (Some(1), Some(1), Some(6))
    );
    let uid = "0b5c6f4e-1111-4222-8333-944455556666";
    let selector = js
        .selector
        .as_ref()
        .expect("present")
        .match_labels
        .clone()
        .expect("present");
    assert_eq!(
        selector
            .get("batch.kubernetes.io/controller-uid")
            .map(String::as_str),
        Some(uid)
    );
    let labels = js
        .template
        .metadata
        .as_ref()
        .expect("present")
        .labels
        .clone()
        .expect("present");
    assert_eq!(labels.get("job-name").map(String::as_str), Some("migrate"));
    // The ConfigMap and the ServiceAccount are kept for the pods the workloads make later.
    let kept: Vec<&Value> = l
        .references
        .iter()
        .map(|r| &r["metadata"]["name"])
        .collect();
    assert_eq!(kept, ["web", "web-config"]);
    // One note per kind tandem does not apply.
    let notes: Vec<&str> = l.warnings.iter().map(|w| w.object.as_str()).collect();
    assert_eq!(notes, ["Ingress/web"]);
    assert!(l.warnings.iter().all(|w| w.severity == Severity::Warning));
    // What was stored reads back.
    let again = Workload::from_json(l.workloads[0].object.to_json()).expect("present");
    assert_eq!(again, l.workloads[0].object);
}

#[test]
fn a_template_that_fails_is_reported_inside_the_template_and_nothing_of_it_loads() {
    let text = APP.replace(
        "containers: [{name: db, image: busybox}]",
        "containers: [{name: db, image: \"\"}]",
    );
    let d = load(&[Source::new("app.yaml", &text)], &PlanOptions::default()).expect_err("refused");
    let errors: Vec<String> = d
        .errors()
        .map(|e| format!("{} {}", e.object, e.field))
        .collect();
    assert_eq!(
        errors,
        ["StatefulSet/db spec.template.spec.containers[0].image"]
    );
}

#[test]
fn objects_that_would_make_pods_of_one_name_are_refused() {
    let text = format!(
        "{APP}---\napiVersion: v1\nkind: Pod\nmetadata: {{name: db-0}}\nspec: {{containers: [{{name: a, image: busybox}}]}}\n---\n{}",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: busybox}]}}}\n"
    );
    let d = load(&[Source::new("app.yaml", &text)], &PlanOptions::default()).expect_err("refused");
    let messages: Vec<&str> = d.errors().map(|e| e.message.as_str()).collect();
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("Pod db-0 has the name of a pod StatefulSet db makes")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.starts_with("Deployment default/web is defined twice")),
        "{messages:?}"
    );
}

#[test]
fn the_api_servers_rules_for_workload_fields() {
    let cases: &[(&str, &str)] = &[
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n",
         "spec.strategy.rollingUpdate"),
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {strategy: {rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n",
         "spec.strategy.rollingUpdate.maxUnavailable"),
        ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {strategy: {rollingUpdate: {maxUnavailable: 120%}}, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n",
         "spec.strategy.rollingUpdate.maxUnavailable"),
        ("apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {name: a}\nspec: {selector: {}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n",
         "spec.selector"),
        ("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.template.spec.restartPolicy"),
        ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: a}\nspec: {podManagementPolicy: Sometimes, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n",
         "spec.podManagementPolicy"),
        ("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: a}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {activeDeadlineSeconds: 5, containers: [{name: a, image: x}]}}}\n",
         "spec.template.spec.activeDeadlineSeconds"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {parallelism: -1, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.parallelism"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {completionMode: Indexed, parallelism: 2, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.completions"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {podFailurePolicy: {rules: []}, template: {spec: {restartPolicy: OnFailure, containers: [{name: a, image: x}]}}}\n",
         "spec.template.spec.restartPolicy"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {podFailurePolicy: {rules: [{action: FailIndex, onExitCodes: {operator: In, values: [1]}}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.podFailurePolicy.rules[0].action"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {podFailurePolicy: {rules: [{action: Ignore, onExitCodes: {operator: In, values: [1]}, onPodConditions: [{type: DisruptionTarget}]}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.podFailurePolicy.rules[0]"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {podFailurePolicy: {rules: [{action: Count}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.podFailurePolicy.rules[0]"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {podFailurePolicy: {rules: [{action: Count, onExitCodes: {operator: In, values: [0, 1]}}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.podFailurePolicy.rules[0].onExitCodes.values[0]"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {podFailurePolicy: {rules: [{action: Count, onExitCodes: {operator: NotIn, values: [5, 2]}}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.podFailurePolicy.rules[0].onExitCodes.values"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {podFailurePolicy: {rules: [{action: FailJob, onExitCodes: {containerName: b, operator: In, values: [1]}}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.podFailurePolicy.rules[0].onExitCodes.containerName"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {podFailurePolicy: {rules: [{action: Ignore, onPodConditions: [{type: DisruptionTarget, status: Maybe}]}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.podFailurePolicy.rules[0].onPodConditions[0].status"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {completions: 2, successPolicy: {rules: [{succeededCount: 1}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.successPolicy"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {completionMode: Indexed, completions: 3, successPolicy: {rules: [{succeededIndexes: \"0,2-4\"}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.successPolicy.rules[0].succeededIndexes"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {completionMode: Indexed, completions: 5, successPolicy: {rules: [{succeededIndexes: \"0,2\", succeededCount: 3}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.successPolicy.rules[0].succeededCount"),
        ("apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {completionMode: Indexed, completions: 5, successPolicy: {rules: [{}]}, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n",
         "spec.successPolicy.rules[0]"),
        ("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: a}\nspec: {schedule: \"* * *\", jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}}}\n",
         "spec.schedule"),
        ("apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: a}\nspec: {schedule: \"@hourly\", concurrencyPolicy: Never, jobTemplate: {spec: {template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}}}\n",
         "spec.concurrencyPolicy"),
        ("apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: a}\n",
         "apiVersion"),
        ("apiVersion: v1\nkind: ReplicationController\nmetadata: {name: a}\nspec: {selector: {a: c}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n",
         "spec.template.metadata.labels"),
    ];
    for (text, field) in cases {
        let d =
            load(&[Source::new("w.yaml", *text)], &PlanOptions::default()).expect_err("refused");
        let fields: Vec<&str> = d.errors().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, [*field], "{text}");
    }
    // And what the API server accepts: an RC's selector defaults to its template's labels.
    let rc = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: a}\nspec: {template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n";
    let l = load(&[Source::new("w.yaml", rc)], &PlanOptions::default()).expect("present");
    let sel = l.workloads[0]
        .object
        .selector()
        .expect("present")
        .match_labels
        .expect("present");
    assert_eq!(sel.get("a").map(String::as_str), Some("b"));
}

#[test]
fn workload_fields_the_controllers_do_not_act_on_are_warned_about() {
    let text = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec: {completionMode: Indexed, completions: 2, backoffLimitPerIndex: 1, successPolicy: {rules: [{succeededCount: 1}]}, podFailurePolicy: {rules: []}, podReplacementPolicy: Failed, managedBy: example.com/batch, template: {spec: {restartPolicy: Never, containers: [{name: a, image: x}]}}}\n";
    let l = load(&[Source::new("w.yaml", text)], &PlanOptions::default()).expect("loads");
    let w: Vec<(&str, &str)> = l
        .warnings
        .iter()
        .map(|d| (d.field.as_str(), d.message.as_str()))
        .collect();
    // The pod failure, success and replacement policies and the back-off limit per index are
    // acted on; another controller named to manage the Job is not.
    assert_eq!(
        w,
        [(
            "spec.managedBy",
            "spec.managedBy is not supported by tandem's Job controller yet and is ignored: tandem's own Job controller runs the Job whatever controller it names"
        )]
    );
    // A StatefulSet's update strategy, ordinals and a DaemonSet's surge are acted on; only the
    // alpha maxUnavailable of a StatefulSet is warned about, at its whole path.
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec: {ordinals: {start: 3}, updateStrategy: {type: RollingUpdate, rollingUpdate: {partition: 1, maxUnavailable: 2}}, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n---\napiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: ds}\nspec: {updateStrategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}, selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {containers: [{name: a, image: x}]}}}\n";
    let l = load(&[Source::new("w.yaml", sts)], &PlanOptions::default()).expect("loads");
    let w: Vec<&str> = l.warnings.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(w, ["spec.updateStrategy.rollingUpdate.maxUnavailable"]);
    let bad = sts.replace("start: 3", "start: -1");
    let e = load(&[Source::new("w.yaml", &bad)], &PlanOptions::default())
        .expect_err("a negative start");
    assert!(format!("{e:?}").contains("spec.ordinals.start"), "{e:?}");
}

#[test]
fn a_templates_unsupported_fields_are_named_by_their_whole_path() {
    let text = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\nspec: {selector: {matchLabels: {a: b}}, template: {metadata: {labels: {a: b}}, spec: {nodeSelector: {disk: ssd}, containers: [{name: a, image: x}]}}}\n";
    let l = load(&[Source::new("w.yaml", text)], &PlanOptions::default()).expect("loads");
    let w: Vec<(&str, &str)> = l
        .warnings
        .iter()
        .map(|d| (d.field.as_str(), d.message.as_str()))
        .collect();
    assert_eq!(
        w,
        [(
            "spec.template.spec.nodeSelector",
            "spec.template.spec.nodeSelector is not supported by tandem and is ignored"
        )]
    );
}
