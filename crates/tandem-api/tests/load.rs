//! `load` behaviour beyond the fixture corpus: uids, warnings on success, defaults on the object,
//! environment resolution, hostnames, and the edges of the input format.

mod common;

use common::{brief, load_err, load_ok, opts};
use tandem_api::env::{self, RuntimeFacts};
use tandem_api::plan::*;
use tandem_api::{load, PlanOptions, Severity, Source};

fn src(text: &str) -> Vec<Source> {
    vec![Source::new("pod.yaml", text)]
}

fn pod(name: &str, extra_spec: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n    - name: app\n      image: busybox:1.36\n{extra_spec}"
    )
}

fn facts() -> RuntimeFacts {
    RuntimeFacts {
        pod_ip: "10.0.0.5".into(),
        pod_ips: vec![],
        host_ip: "192.168.0.9".into(),
        node_allocatable_cpu_millis: 4000,
        node_allocatable_memory_bytes: 1 << 30,
    }
}

#[test]
fn uid_seed_metadata_and_derivation() {
    let text = format!(
        "{}---\n{}---\n{}",
        pod("a", ""),
        pod("b", ""),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: c\n  uid: given-uid\nspec:\n  containers: [{name: app, image: x:1}]\n"
    );
    let seeded = PlanOptions {
        node_name: "n".into(),
        uid: Some("6f1c2f4e-0000-4000-8000-000000000001".into()),
        claims_dir: None,
        ..Default::default()
    };
    let l = load(&src(&text), &seeded).expect("loads");
    let uids: Vec<_> = l.pods.iter().map(|p| p.plan.uid.clone()).collect();
    assert_eq!(uids[0], "6f1c2f4e-0000-4000-8000-000000000001");
    assert_ne!(uids[1], uids[0]);
    assert_eq!(uids[1].len(), 36);
    assert_eq!(uids[2], "given-uid");
    // Same seed, same uids: no clock, no randomness.
    let again = load(&src(&text), &seeded).expect("loads");
    assert_eq!(again.pods[1].plan.uid, uids[1]);

    // Without a seed: derived from namespace, name and content.
    let a1 = load_ok(&src(&pod("a", ""))).pods[0].plan.uid.clone();
    let a2 = load_ok(&src(&pod("a", ""))).pods[0].plan.uid.clone();
    let a3 = load_ok(&src(&pod("a", "      tty: true\n"))).pods[0]
        .plan
        .uid
        .clone();
    assert_eq!(a1, a2);
    assert_ne!(a1, a3);
    assert_eq!(a1.as_bytes()[14], b'8', "UUID version nibble: {a1}");
}

#[test]
fn warnings_do_not_fail_the_load() {
    let text = pod(
        "w",
        "  nodeSelector: {disktype: ssd}\n  priorityClassName: high\n",
    );
    let text = text.replace(
        "kind: Pod\nmetadata:\n  name: w\nspec:\n",
        "kind: Pod\nmetadata:\n  name: w\nspec:\n  tolerations: [{key: a, operator: Exists}]\n",
    );
    let l = load_ok(&src(&text));
    let got: Vec<_> = l.warnings.iter().map(brief).collect();
    assert_eq!(
        got,
        [
            "warning 6:3 Pod/w spec.tolerations | spec.tolerations is not supported by tandem and is ignored",
            "warning 10:3 Pod/w spec.nodeSelector | spec.nodeSelector is not supported by tandem and is ignored",
            "warning 11:22 Pod/w spec.priorityClassName | spec.priorityClassName is not supported by tandem and is ignored",
        ]
    );
    assert_eq!(l.pods.len(), 1);
}

#[test]
fn stdin_stdin_once_and_tty_reach_the_plan_quietly() {
    let l = load_ok(&src(&pod(
        "t",
        "      stdin: true\n      stdinOnce: true\n      tty: true\n",
    )));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.pods[0].plan.containers[0];
    assert!(c.stdin && c.stdin_once && c.tty, "{c:?}");
    let c = &load_ok(&src(&pod("t", "      stdin: true\n"))).pods[0]
        .plan
        .containers[0];
    assert!(c.stdin && !c.stdin_once && !c.tty, "{c:?}");
}

#[test]
fn errors_come_first_then_warnings_and_all_are_gathered() {
    let text = format!(
        "{}---\n{}",
        pod("one", "  affinity: {nodeAffinity: {}}\n"),
        pod("Two", "      ports: [{containerPort: 0}]\n")
    );
    let d = load_err(&src(&text));
    let got: Vec<_> =
        d.0.iter()
            .map(|d| (d.severity, d.line, d.field.as_str()))
            .collect();
    assert_eq!(
        got,
        [
            (Severity::Error, 14, "metadata.name"),
            (
                Severity::Error,
                19,
                "spec.containers[0].ports[0].containerPort"
            ),
            (Severity::Warning, 9, "spec.affinity"),
        ]
    );
}

#[test]
fn duplicate_pods_and_config_maps() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let text = format!("{}---\n{}---\n{cm}---\n{cm}", pod("p", ""), pod("p", ""));
    let d = load_err(&src(&text));
    let got: Vec<_> = d.0.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        got,
        [
            "Pod default/p is defined twice (first at pod.yaml:1)",
            "ConfigMap default/c is defined twice (first at pod.yaml:19)",
        ]
    );
}

#[test]
fn references_are_namespaced() {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: other}}\ndata: {{k: v}}\n---\n{}",
        pod("p", "      envFrom: [{configMapRef: {name: c}}]\n")
    );
    // Not in the pod's namespace: accepted, as the API server accepts it; the container waits.
    let l = load_ok(&src(&text));
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(
        l.warnings[0].message,
        "ConfigMap \"c\" not found in namespace \"default\" (referenced by envFrom of container \"app\"): the container waits (CreateContainerConfigError) until it exists"
    );
    assert_eq!(
        l.pods[0].plan.containers[0].env[0].value,
        EnvValue::FromObject(ObjectKeyRef {
            kind: ObjectKind::ConfigMap,
            name: "c".into(),
            key: None,
            optional: false,
        })
    );
    // Same namespace: found.
    let ok = text.replace(
        "kind: Pod\nmetadata:\n  name: p\n",
        "kind: Pod\nmetadata:\n  name: p\n  namespace: other\n",
    );
    let l = load_ok(&src(&ok));
    assert_eq!(l.pods[0].plan.namespace, "other");
    assert_eq!(l.pods[0].plan.containers[0].env[0].name, "k");
}

#[test]
fn env_resolution_follows_the_kubelet() {
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  FROM_CM: \"$(A)-literal\"\n  A: from-cm\n---\n";
    let text = format!(
        "{cm}{}",
        pod(
            "envs",
            "      envFrom: [{configMapRef: {name: c}}]\n      env:\n        - {name: EARLY, value: \"$(LATE)\"}\n        - {name: LATE, value: late}\n        - {name: A, value: \"$(A)+env\"}\n        - {name: ESCAPED, value: \"$$(A)\"}\n        - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}\n        - {name: IPS, valueFrom: {fieldRef: {fieldPath: status.podIPs}}}\n        - {name: HOST, valueFrom: {fieldRef: {fieldPath: status.hostIP}}}\n        - {name: MEM, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}\n        - {name: CPU_REQ, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}\n        - {name: FROM_FIELD, valueFrom: {fieldRef: {fieldPath: \"metadata.labels['x']\"}}}\n        - {name: EARLY, value: again}\n"
        )
    );
    let l = load_ok(&src(&text));
    let plan = &l.pods[0].plan;
    let c = &plan.containers[0];
    let got = env::resolve(plan, c, &facts(), &env::Objects::default()).expect("env");
    let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        got,
        [
            // envFrom first, keys sorted; values from ConfigMaps are never expanded.
            ("A", "from-cm+env"),
            ("FROM_CM", "$(A)-literal"),
            // A reference to a later variable stays literal; a later duplicate wins in place.
            ("EARLY", "again"),
            ("LATE", "late"),
            ("ESCAPED", "$(A)"),
            ("NODE", "node-1"),
            ("IPS", "10.0.0.5"),
            ("HOST", "192.168.0.9"),
            // No memory limit: node allocatable (1 GiB) / 1Mi.
            ("MEM", "1024"),
            ("CPU_REQ", "0"),
            ("FROM_FIELD", ""),
        ]
    );
    assert_eq!(
        c.env
            .iter()
            .filter(|e| e.name == "EARLY")
            .map(|e| e.value.clone())
            .collect::<Vec<_>>(),
        [
            EnvValue::Literal("$(LATE)".into()),
            EnvValue::Literal("again".into())
        ]
    );
}

#[test]
fn field_refs_and_resource_refs() {
    let text = pod(
        "refs",
        "      resources: {limits: {cpu: 1500m, memory: 256Mi, ephemeral-storage: 1Gi}}\n",
    )
    .replace(
        "  name: refs\n",
        "  name: refs\n  labels: {app: web}\n  annotations: {note: \"say \\\"hi\\\"\"}\n",
    );
    let l = load_ok(&src(&text));
    let plan = &l.pods[0].plan;
    let f = facts();
    for (path, want) in [
        ("metadata.name", "refs"),
        ("metadata.namespace", "default"),
        ("metadata.labels['app']", "web"),
        ("metadata.labels", "app=\"web\""),
        ("metadata.annotations", "note=\"say \\\"hi\\\"\""),
        ("spec.serviceAccountName", "default"),
        ("status.podIP", "10.0.0.5"),
    ] {
        assert_eq!(
            env::resolve_field_ref(plan, path, &f).expect(path),
            want,
            "{path}"
        );
    }
    assert_eq!(
        env::resolve_field_ref(plan, "metadata.uid", &f).expect("uid"),
        plan.uid
    );
    assert!(env::resolve_field_ref(plan, "spec.containers", &f).is_err());
    let r = |resource: &str, divisor: &str| ResourceFieldRef {
        container_name: "app".into(),
        resource: resource.into(),
        divisor: divisor.into(),
    };
    for (resource, divisor, want) in [
        ("limits.cpu", "1", "2"),
        ("limits.cpu", "1m", "1500"),
        ("requests.cpu", "1m", "1500"),
        ("limits.memory", "1Mi", "256"),
        ("limits.memory", "1", "268435456"),
        ("limits.ephemeral-storage", "1Gi", "1"),
    ] {
        let got = env::resolve_resource_field_ref(plan, &r(resource, divisor), &f).expect(resource);
        assert_eq!(got, want, "{resource} / {divisor}");
    }
    // Zero is the unset divisor (the API server's reading), 1; a negative one is no divisor.
    assert_eq!(
        env::resolve_resource_field_ref(plan, &r("limits.cpu", "0"), &f).expect("zero"),
        "2"
    );
    assert!(env::resolve_resource_field_ref(plan, &r("limits.cpu", "-1"), &f).is_err());
    let other = ResourceFieldRef {
        container_name: "nope".into(),
        ..r("limits.cpu", "1")
    };
    assert!(env::resolve_resource_field_ref(plan, &other, &f).is_err());
}

#[test]
fn hostname_rules() {
    // Cut to 63 characters ("a" * 62 + "."), then the trailing '.' goes.
    let long = format!("{}.bcd", "a".repeat(62));
    let l = load_ok(&src(&pod(&long, "")));
    assert_eq!(l.pods[0].plan.hostname, "a".repeat(62));
    let l = load_ok(&src(&pod("web", "  hostname: box\n  subdomain: svc\n")));
    assert_eq!(l.pods[0].plan.hostname, "box");
    assert_eq!(l.pods[0].plan.subdomain.as_deref(), Some("svc"));
}

#[test]
fn object_gets_api_defaults() {
    let text = pod(
        "d",
        "      livenessProbe: {httpGet: {port: 80}}\n      ports: [{containerPort: 80}]\n  volumes: [{name: s, secret: {secretName: s, optional: true}}, {name: i, downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}}]\n",
    );
    let l = load_ok(&src(&text));
    let spec = l.pods[0].object.spec.clone().expect("spec");
    let c = &spec.containers[0];
    let probe = c.liveness_probe.clone().expect("probe");
    assert_eq!(
        (
            probe.timeout_seconds,
            probe.period_seconds,
            probe.success_threshold,
            probe.failure_threshold,
            probe.initial_delay_seconds
        ),
        // initialDelaySeconds stays unset: 0 is its zero value, which the API server omits.
        (Some(1), Some(10), Some(1), Some(3), None)
    );
    let get = probe.http_get.expect("httpGet");
    assert_eq!(
        (get.path.as_deref(), get.scheme.as_deref()),
        (Some("/"), Some("HTTP"))
    );
    assert_eq!(
        c.ports.as_ref().expect("ports")[0].protocol.as_deref(),
        Some("TCP")
    );
    assert_eq!(
        c.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    assert_eq!(spec.enable_service_links, Some(true));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    let vols = spec.volumes.expect("volumes");
    assert_eq!(
        vols[0].secret.as_ref().and_then(|s| s.default_mode),
        Some(0o644)
    );
    assert_eq!(
        vols[1].downward_api.as_ref().and_then(|s| s.default_mode),
        Some(0o644)
    );
    // An optional missing Secret gives an empty volume, not an error (nor a wait).
    let plan = &l.pods[0].plan;
    let source = &plan.volume("s").expect("s").source;
    let VolumeSource::Files { parts } = source else {
        panic!("not files: {source:?}");
    };
    assert!(!source.set_up_late());
    assert_eq!(
        tandem_api::env::volume_files(parts, &Default::default(), true),
        Ok(vec![])
    );
    assert_eq!(
        plan.containers[0]
            .liveness_probe
            .as_ref()
            .map(|p| p.timeout_seconds),
        Some(1)
    );
}

#[test]
fn input_edges() {
    // Empty input and empty documents: nothing, no error.
    assert!(load_ok(&src("")).pods.is_empty());
    assert_eq!(
        load_ok(&src(&format!("---\n---\n{}---\n", pod("e", ""))))
            .pods
            .len(),
        1
    );
    // A document that is not an object.
    let d = load_err(&src("- a\n- b\n"));
    assert_eq!(brief(&d.0[0]), "error 1:1 - - | expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found a list");
    // Missing kind, missing apiVersion.
    let d = load_err(&src(
        "apiVersion: v1\nmetadata: {name: nokind}\n---\nkind: Pod\nmetadata: {name: noversion}\n",
    ));
    let got: Vec<_> = d.0.iter().map(brief).collect();
    assert_eq!(
        got,
        [
            "error 1:1 - kind | kind is required",
            "error 4:1 Pod/noversion apiVersion | apiVersion is required"
        ]
    );
    // Duplicate keys are located at the second one.
    let d = load_err(&src(&pod("k", "      image: again:1\n")));
    assert_eq!(
        brief(&d.0[0]),
        "error 9:7 - - | duplicate key \"image\" (first defined at line 8)"
    );
    // Secret data stays binary; missing key of a referenced Secret is located at the key.
    let text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata: {{bin: AAEC}}\n---\n{}",
        pod(
            "p",
            "      env: [{name: X, valueFrom: {secretKeyRef: {name: s, key: nope}}}]\n"
        )
    );
    // A key the Secret lacks: read again when the container is created, as the kubelet does.
    let l = load_ok(&src(&text));
    let w = &l.warnings[0];
    assert_eq!(
        (w.line, w.field.as_str()),
        (14, "spec.containers[0].env[0].valueFrom.secretKeyRef.key")
    );
    assert!(
        w.message
            .starts_with("key \"nope\" not found in Secret \"s\" (its keys: bin)"),
        "{}",
        w.message
    );
}

#[test]
fn init_container_rules() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: i}\nspec:\n  initContainers:\n    - name: once\n      image: x:1\n      restartPolicy: Never\n      lifecycle: {preStop: {exec: {command: [\"true\"]}}}\n    - name: side\n      image: x:1\n      restartPolicy: Always\n      livenessProbe: {exec: {command: [\"true\"]}}\n      lifecycle: {preStop: {exec: {command: [\"true\"]}}}\n  containers: [{name: app, image: x:1}]\n";
    let d = load_err(&src(text));
    let got: Vec<_> = d.0.iter().map(brief).collect();
    assert_eq!(
        got,
        [
            "error 9:7 Pod/i spec.initContainers[0].lifecycle | lifecycle may not be set for init containers without restartPolicy: Always",
        ]
    );
}

#[test]
fn container_restart_rules_are_validated_as_the_api_server_does() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: r}\nspec:\n  initContainers:\n    - name: side\n      image: x:1\n      restartPolicy: Always\n      restartPolicyRules: [{action: Restart, exitCodes: {operator: In, values: [1]}}]\n  containers:\n    - name: a\n      image: x:1\n      restartPolicyRules: [{action: Restart, exitCodes: {operator: In, values: [42]}}]\n    - name: b\n      image: x:1\n      restartPolicy: Never\n      restartPolicyRules:\n        - {action: Restart, exitCodes: {operator: Within, values: [3, 3]}}\n        - {action: Restart}\n        - {action: RestartAllContainers, exitCodes: {operator: NotIn, values: [0]}}\n        - {action: Ignore, exitCodes: {operator: In, values: [7]}}\n    - name: c\n      image: x:1\n      restartPolicy: Sometimes\n";
    let d = load_err(&src(text));
    let got: Vec<_> = d.0.iter().map(brief).collect();
    assert_eq!(
        got,
        [
            "error 9:37 Pod/r spec.initContainers[0].restartPolicyRules[0].action | action Restart is not allowed for init containers with restartPolicy: Always",
            "error 13:7 Pod/r spec.containers[0].restartPolicyRules | restartPolicyRules requires the container's restartPolicy to be set",
            "error 18:51 Pod/r spec.containers[1].restartPolicyRules[0].exitCodes.operator | operator must be one of In, NotIn, got \"Within\"",
            "error 18:71 Pod/r spec.containers[1].restartPolicyRules[0].exitCodes.values[1] | duplicate value 3",
            "error 19:11 Pod/r spec.containers[1].restartPolicyRules[1].exitCodes | exitCodes must be specified",
            "error 21:20 Pod/r spec.containers[1].restartPolicyRules[3].action | action must be one of Restart, RestartAllContainers, got \"Ignore\"",
            "error 24:22 Pod/r spec.containers[2].restartPolicy | restartPolicy must be one of Always, OnFailure, Never, got \"Sometimes\"",
        ]
    );
}

#[test]
fn container_restart_policies_are_accepted_and_planned() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: r}\nspec:\n  restartPolicy: Always\n  initContainers:\n    - {name: once, image: x:1, restartPolicy: Never}\n    - name: watcher\n      image: x:1\n      restartPolicy: Always\n      restartPolicyRules: [{action: RestartAllContainers, exitCodes: {operator: In, values: [88]}}]\n  containers:\n    - name: a\n      image: x:1\n      restartPolicy: Never\n      restartPolicyRules:\n        - {action: Restart, exitCodes: {operator: NotIn, values: [0, 1]}}\n        - {action: RestartAllContainers, exitCodes: {operator: In, values: [1]}}\n    - {name: b, image: x:1, restartPolicy: OnFailure}\n    - {name: c, image: x:1}\n";
    let l = load_ok(&src(text));
    let p = &l.pods[0].plan;
    assert_eq!(
        p.init_containers[0].restart_policy,
        Some(RestartPolicy::Never)
    );
    assert_eq!(p.containers[0].restart_policy, Some(RestartPolicy::Never));
    assert_eq!(
        p.containers[0].restart_rules,
        [
            RestartRule {
                operator: ExitCodeOperator::NotIn,
                values: vec![0, 1],
                action: RestartAction::Restart,
            },
            RestartRule {
                operator: ExitCodeOperator::In,
                values: vec![1],
                action: RestartAction::RestartAllContainers,
            }
        ]
    );
    // A sidecar keeps no restartPolicy of its own but may carry RestartAllContainers rules.
    assert_eq!(p.init_containers[1].restart_policy, None);
    assert_eq!(
        p.init_containers[1].restart_rules,
        [RestartRule {
            operator: ExitCodeOperator::In,
            values: vec![88],
            action: RestartAction::RestartAllContainers,
        }]
    );
    assert_eq!(
        p.containers[1].restart_policy,
        Some(RestartPolicy::OnFailure)
    );
    assert_eq!(p.containers[2].restart_policy, None);
}

#[test]
fn stop_signal_needs_the_pod_os_and_a_linux_signal() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: s}\nspec:\n  containers:\n    - name: a\n      image: x:1\n      lifecycle: {stopSignal: SIGUSR1}\n";
    let got: Vec<_> = load_err(&src(text)).0.iter().map(brief).collect();
    assert_eq!(
        got,
        ["error 8:31 Pod/s spec.containers[0].lifecycle.stopSignal | stopSignal may only be set when spec.os.name is set"]
    );
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: s}\nspec:\n  os: {name: linux}\n  containers:\n    - name: a\n      image: x:1\n      lifecycle: {stopSignal: SIGUSR3}\n";
    let d = load_err(&src(text));
    let got: Vec<_> = d.0.iter().map(brief).collect();
    assert_eq!(
        got,
        ["error 9:31 Pod/s spec.containers[0].lifecycle.stopSignal | \"SIGUSR3\" is not a supported stop signal for linux pods"]
    );
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: s}\nspec:\n  os: {name: linux}\n  containers:\n    - name: a\n      image: x:1\n      lifecycle: {stopSignal: SIGRTMIN+3}\n";
    let l = load_ok(&src(text));
    assert_eq!(
        l.pods[0].plan.containers[0].stop_signal.as_deref(),
        Some("SIGRTMIN+3")
    );
}

#[test]
fn readiness_gates_warn_that_their_conditions_must_be_set() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: g}\nspec:\n  readinessGates: [{conditionType: example.com/feature-1}]\n  containers: [{name: a, image: x:1}]\n";
    let l = load_ok(&src(text));
    assert_eq!(l.pods[0].plan.readiness_gates, ["example.com/feature-1"]);
    let got: Vec<_> = l.warnings.iter().map(brief).collect();
    assert_eq!(
        got,
        ["warning 5:3 Pod/g spec.readinessGates | spec.readinessGates names pod conditions that no controller sets on one machine: the pod is not Ready until you set each of them True"]
    );
}

#[test]
fn exec_probe_commands_are_expanded_with_the_static_env_only() {
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {FROM_CM: cm-value, K: k}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: e}\nspec:\n  containers:\n    - name: a\n      image: x:1\n      envFrom: [{configMapRef: {name: cm}}]\n      env:\n        - {name: FILE, value: /tmp/ready}\n        - {name: RAW, value: \"$(FILE)-x\"}\n        - {name: REF, valueFrom: {configMapKeyRef: {name: cm, key: K}}}\n      readinessProbe: {exec: {command: [test, -e, \"$(FILE)\", \"$(RAW)\", \"[$(REF)]\", \"$(FROM_CM)\", \"$$(FILE)\", \"$(NOPE)\"]}}\n      lifecycle: {postStart: {exec: {command: [touch, \"$(FILE)\"]}}}\n";
    let l = load_ok(&src(text));
    let c = &l.pods[0].plan.containers[0];
    let Some(Probe {
        handler: Handler::Exec { command },
        ..
    }) = &c.readiness_probe
    else {
        panic!("no exec readiness probe: {:?}", c.readiness_probe)
    };
    assert_eq!(
        command,
        &[
            "test",
            "-e",
            "/tmp/ready",
            "$(FILE)-x",
            "[]",
            "$(FROM_CM)",
            "$(FILE)",
            "$(NOPE)"
        ]
    );
    assert_eq!(
        c.post_start,
        Some(Handler::Exec {
            command: vec!["touch".into(), "$(FILE)".into()]
        })
    );
}

#[test]
fn json_errors_are_located_too() {
    let text = "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": \"j\"},\n  \"spec\": {\"containers\": [{\"name\": \"app\", \"imagee\": \"x:1\"}]}\n}\n";
    let d = load_err(&src(text));
    let got: Vec<_> = d.0.iter().map(brief).collect();
    assert_eq!(
        got,
        [
            "error 5:43 Pod/j spec.containers[0].imagee | unknown field \"imagee\" in Pod/j at spec.containers[0], did you mean \"image\"?",
        ]
    );
    let _ = opts();
}

#[test]
fn missing_required_fields_point_at_their_object() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: r}\nspec:\n  containers:\n    - image: x:1\n      ports:\n        - name: http\n";
    let d = load_err(&src(text));
    let got: Vec<_> = d.0.iter().map(brief).collect();
    assert_eq!(
        got,
        [
            "error 6:7 Pod/r spec.containers[0].name | missing required field \"name\"",
            "error 8:11 Pod/r spec.containers[0].ports[0].containerPort | missing required field \"containerPort\"",
        ]
    );
}

#[test]
fn type_errors_do_not_hide_other_errors() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: t}\nspec:\n  containers:\n    - name: app\n      ports: [{containerPort: \"abc\"}]\n      volumeMounts: [{name: nope, mountPath: /x}]\n";
    let d = load_err(&src(text));
    let got: Vec<_> =
        d.0.iter()
            .map(|d| (d.line, d.column, d.field.as_str()))
            .collect();
    assert_eq!(
        got,
        [
            (6, 7, "spec.containers[0].image"), // missing: located at its container
            (7, 31, "spec.containers[0].ports[0].containerPort"),
            (8, 29, "spec.containers[0].volumeMounts[0].name"),
        ]
    );
    assert_eq!(d.0[0].message, "container \"app\" needs an image");
}

#[test]
fn unknown_field_without_a_close_match_lists_the_known_ones() {
    let d = load_err(&src(&pod("u", "      zzz: 1\n")));
    assert_eq!(
        brief(&d.0[0]),
        "error 9:7 Pod/u spec.containers[0].zzz | unknown field \"zzz\" in Pod/u at spec.containers[0]"
    );
    let hint = d.0[0].hint.clone().unwrap_or_default();
    assert!(
        hint.starts_with("known fields here: args, command, env, envFrom, image"),
        "{hint}"
    );
}

#[test]
fn port_conflicts() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: pc}\nspec:\n  hostNetwork: true\n  containers:\n    - {name: a, image: x:1, ports: [{containerPort: 80, hostPort: 8080}]}\n    - {name: b, image: x:1, ports: [{containerPort: 9000}, {containerPort: 9000, protocol: UDP}, {containerPort: 9001, name: p}, {containerPort: 9002, name: p}]}\n    - {name: c, image: x:1, ports: [{containerPort: 9000}]}\n";
    let d = load_err(&src(text));
    // hostNetwork and hostPort are implemented: no "not implemented yet" warnings among these.
    let got: Vec<_> =
        d.0.iter()
            .map(|d| (d.severity, d.field.as_str(), d.message.as_str()))
            .collect();
    assert_eq!(
        got,
        [
            (Severity::Error, "spec.containers[0].ports[0].hostPort", "with hostNetwork, hostPort must equal containerPort (80)"),
            (Severity::Error, "spec.containers[1].ports[3].name", "duplicate port name \"p\" (also ports[2])"),
            // On the host's network hostPort defaults to containerPort, so the two 9000/TCP
            // clash on the host as the API server finds.
            (Severity::Error, "spec.containers[2].ports[0].hostPort", "hostPort 9000/TCP is already used by spec.containers[1].ports[0]"),
            (Severity::Warning, "spec.containers[2].ports[0].containerPort", "containerPort 9000/TCP is also declared by spec.containers[1].ports[0]: containers of a pod share one network namespace, so only one can listen on it"),
        ]
    );
}

#[test]
fn projected_volume_and_binary_data() {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\ndata: {{a.txt: A, ENVKEY: e}}\nbinaryData: {{blob: AAH/}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData: {{pw: hunter2}}\n---\n{}",
        pod(
            "pj",
            "      envFrom: [{configMapRef: {name: cm}}]\n  volumes:\n    - name: all\n      projected:\n        defaultMode: 0440\n        sources:\n          - configMap: {name: cm, items: [{key: blob, path: bin/blob}, {key: a.txt, path: a.txt, mode: 0400}]}\n          - secret: {name: s}\n          - downwardAPI: {items: [{path: ns, fieldRef: {fieldPath: metadata.namespace}}]}\n          - serviceAccountToken: {path: token}\n"
        )
    );
    let l = load_ok(&src(&text));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let plan = &l.pods[0].plan;
    let VolumeSource::Files { parts } = &plan.volume("all").expect("all").source else {
        panic!("not files");
    };
    let files = tandem_api::env::volume_files(parts, &Default::default(), true).expect("files");
    let got: Vec<_> = files
        .iter()
        .map(|f| match &f.content {
            FileContent::Bytes(b) => (f.path.as_str(), f.mode, b.clone()),
            // Resolved when written, as labels can change.
            FileContent::FieldRef(path) => {
                let v = tandem_api::env::resolve_field_ref(plan, path, &Default::default());
                (f.path.as_str(), f.mode, v.expect("field").into_bytes())
            }
            // Issued by whoever writes the volume: here, what it is asked with.
            FileContent::Token(t) => (
                f.path.as_str(),
                f.mode,
                format!("{:?}/{}", t.audience, t.expiration_seconds).into_bytes(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            ("bin/blob", 0o440, vec![0u8, 1, 255]),
            ("a.txt", 0o400, b"A".to_vec()),
            ("pw", 0o440, b"hunter2".to_vec()),
            ("ns", 0o440, b"default".to_vec()),
            ("token", 0o440, b"None/3600".to_vec()),
        ]
    );
    // binaryData never reaches the environment.
    let names: Vec<_> = plan.containers[0]
        .env
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["ENVKEY", "a.txt"]);
    // Conflicting paths across sources are an error.
    let dup = text.replace("path: ns,", "path: a.txt,");
    let d = load_err(&src(&dup));
    assert_eq!(d.0[0].message, "conflicting duplicate path \"a.txt\" (also spec.volumes[0].projected.sources[0].configMap.items[1].path)");
}

#[test]
fn env_value_from_needs_exactly_one_source() {
    let d = load_err(&src(&pod(
        "vf",
        "      env:\n        - name: A\n          valueFrom:\n            fieldRef: {fieldPath: metadata.name}\n            resourceFieldRef: {resource: limits.cpu}\n        - name: B\n          valueFrom: {}\n",
    )));
    let got: Vec<_> = d.0.iter().map(brief).collect();
    assert_eq!(
        got,
        [
            "error 13:13 Pod/vf spec.containers[0].env[0].valueFrom.resourceFieldRef | valueFrom may not specify more than one source, found fieldRef and resourceFieldRef",
            "error 15:11 Pod/vf spec.containers[0].env[1].valueFrom | valueFrom must specify one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef",
        ]
    );
}

#[test]
fn typed_lists_imply_the_item_kind() {
    let text = "apiVersion: v1\nkind: PodList\nitems:\n  - metadata: {name: from-list}\n    spec: {containers: [{name: app, image: x:1}]}\n";
    let l = load_ok(&src(text));
    assert_eq!(l.pods[0].plan.name, "from-list");
    let d = load_err(&src("apiVersion: v1\nkind: List\nitemz: []\n"));
    assert_eq!(
        brief(&d.0[0]),
        "error 3:1 List itemz | unknown field \"itemz\" in List, did you mean \"items\"?"
    );
}

#[test]
fn image_pull_secrets_of_type_dockerconfigjson_are_carried_decoded() {
    // {"auths":{"r.io":{"auth":"dTpw"}}} base64-encoded, as kubectl writes it.
    let text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: regcred}}\ntype: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: eyJhdXRocyI6eyJyLmlvIjp7ImF1dGgiOiJkVHB3In19fQ==\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: opaque}}\nstringData: {{a: b}}\n---\n{}",
        pod(
            "p",
            "  imagePullSecrets: [{name: regcred}, {name: opaque}, {name: absent}]\n"
        )
    );
    let loaded = load(&src(&text), &opts()).expect("loads");
    let secrets = &loaded.pods[0].image_pull_secrets;
    assert_eq!(secrets.len(), 1);
    assert_eq!(secrets[0].name, "regcred");
    assert_eq!(
        secrets[0].docker_config_json,
        br#"{"auths":{"r.io":{"auth":"dTpw"}}}"#
    );
    let shown = format!("{:?}", secrets[0]);
    assert!(
        shown.contains("regcred") && !shown.contains("auths"),
        "Debug names the secret and hides its credentials: {shown}"
    );
    let warnings: Vec<&str> = loaded.warnings.iter().map(|w| w.field.as_str()).collect();
    assert!(
        warnings.contains(&"spec.imagePullSecrets[1].name"),
        "{warnings:?}"
    );
    assert!(
        warnings.contains(&"spec.imagePullSecrets[2].name"),
        "{warnings:?}"
    );
}

#[test]
fn grpc_and_https_probes_are_planned_without_warnings() {
    let extra = "      livenessProbe:\n        grpc: {port: 9000, service: db}\n      readinessProbe:\n        httpGet: {port: 8443, scheme: HTTPS}\n      startupProbe:\n        httpGet: {port: 8080}\n";
    let loaded = tandem_api::load(&src(&pod("pr", extra)), &PlanOptions::default()).expect("valid");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.pods[0].plan.containers[0];
    let handler = |p: &Option<Probe>| p.as_ref().map(|p| p.handler.clone());
    assert_eq!(
        handler(&c.liveness_probe),
        Some(Handler::Grpc {
            port: 9000,
            service: Some("db".into())
        })
    );
    assert!(matches!(
        handler(&c.readiness_probe),
        Some(Handler::HttpGet {
            port: 8443,
            scheme: HttpScheme::Https,
            ..
        })
    ));
}

#[test]
fn pod_level_resources_are_planned_and_bound_their_containers() {
    let ok = pod(
        "pl",
        "  resources: {limits: {cpu: 500m, memory: 64Mi}}\n  hostUsers: false\n",
    );
    let l = load_ok(&src(&ok));
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let plan = &l.pods[0].plan;
    let r = plan.resources.as_ref().expect("pod-level resources");
    assert_eq!(r.limits.cpu_millis, Some(500));
    assert_eq!(r.limits.memory_bytes, Some(64 << 20));
    assert!(plan.security.user_namespace);

    let bad = format!(
        "{}      resources: {{limits: {{memory: 128Mi}}}}\n  resources: {{limits: {{memory: 64Mi, ephemeral-storage: 1Gi}}}}\n  hostUsers: false\n  hostNetwork: true\n",
        pod("bad", "").trim_end_matches('\n').to_string() + "\n"
    );
    let d = load_err(&src(&bad));
    let got: Vec<String> = d.0.iter().map(brief).collect();
    let has = |field: &str, words: &str| got.iter().any(|g| g.contains(field) && g.contains(words));
    assert!(
        has(
            "spec.resources.limits[ephemeral-storage]",
            "pod-level resources support"
        ),
        "{got:#?}"
    );
    assert!(
        has(
            "spec.resources.containers[0][memory].limits",
            "must be less than or equal to pod limits of 64Mi"
        ),
        "{got:#?}"
    );
    assert!(
        has(
            "spec.resources.requests[memory]",
            "must be greater than or equal to aggregate container requests of 128Mi"
        ),
        "{got:#?}"
    );
    assert!(
        has("spec.hostNetwork", "cannot be true when hostUsers is false"),
        "{got:#?}"
    );
}

/// The API server's bounds on ids (`IsValidUserID`/`IsValidGroupID`: 0..=2147483647) and on
/// `activeDeadlineSeconds` (1..=2147483647), at both edges. Past them a value would wrap when it
/// reaches the kernel (uid 4294967296 is root) or overflow a deadline.
#[test]
fn ids_and_deadlines_are_bounded_as_the_api_server_bounds_them() {
    let cases: &[(&str, Option<&str>)] = &[
        ("  securityContext: {runAsUser: 2147483647}", None),
        (
            "  securityContext: {runAsUser: 4294967296}",
            Some("spec.securityContext.runAsUser | runAsUser must be between 0 and 2147483647, inclusive, got 4294967296"),
        ),
        (
            "  securityContext: {runAsUser: 2147483648}",
            Some("spec.securityContext.runAsUser | runAsUser must be between 0 and 2147483647, inclusive, got 2147483648"),
        ),
        (
            "  securityContext: {runAsGroup: -1}",
            Some("spec.securityContext.runAsGroup | runAsGroup must be between 0 and 2147483647, inclusive, got -1"),
        ),
        (
            "  securityContext: {fsGroup: 4294967297}",
            Some("spec.securityContext.fsGroup | fsGroup must be between 0 and 2147483647, inclusive, got 4294967297"),
        ),
        (
            "  securityContext: {supplementalGroups: [5, 4294967296]}",
            Some("spec.securityContext.supplementalGroups[1] | supplemental group must be between 0 and 2147483647, inclusive, got 4294967296"),
        ),
        (
            "      securityContext: {runAsUser: 4294967296}",
            Some("spec.containers[0].securityContext.runAsUser | runAsUser must be between 0 and 2147483647, inclusive, got 4294967296"),
        ),
        (
            "      securityContext: {runAsGroup: 9223372036854775807}",
            Some("spec.containers[0].securityContext.runAsGroup | runAsGroup must be between 0 and 2147483647, inclusive, got 9223372036854775807"),
        ),
        ("  activeDeadlineSeconds: 2147483647", None),
        (
            "  activeDeadlineSeconds: 2147483648",
            Some("spec.activeDeadlineSeconds | activeDeadlineSeconds must be between 1 and 2147483647, inclusive, got 2147483648"),
        ),
        (
            "  activeDeadlineSeconds: 9223372036854775807",
            Some("spec.activeDeadlineSeconds | activeDeadlineSeconds must be between 1 and 2147483647, inclusive, got 9223372036854775807"),
        ),
        (
            "  activeDeadlineSeconds: 0",
            Some("spec.activeDeadlineSeconds | activeDeadlineSeconds must be between 1 and 2147483647, inclusive, got 0"),
        ),
        // The API server bounds neither of these: the engine saturates them instead.
        ("  terminationGracePeriodSeconds: 9223372036854775807", None),
    ];
    for (extra, want) in cases {
        // Pod-level lines go under spec:, container-level ones under the container.
        let text = if extra.starts_with("      ") {
            pod("ids", &format!("{extra}\n"))
        } else {
            format!("{}{extra}\n", pod("ids", ""))
        };
        match want {
            None => {
                load_ok(&src(&text));
            }
            Some(want) => {
                let d = load_err(&src(&text));
                let got: Vec<String> =
                    d.0.iter()
                        .map(|x| {
                            brief(x)
                                .split_once("Pod/ids ")
                                .map(|(_, r)| r.to_string())
                                .unwrap_or_default()
                        })
                        .collect();
                assert_eq!(got, [*want], "for {extra:?}");
            }
        }
    }
}

#[test]
fn ids_reach_the_plan_as_kernel_ids() {
    let text = format!(
        "{}  securityContext: {{runAsUser: 2147483647, runAsGroup: 7, fsGroup: 8, supplementalGroups: [9]}}\n",
        pod("ids", "")
    );
    let loaded = load_ok(&src(&text));
    let plan = &loaded.pods[0].plan;
    assert_eq!(plan.security.run_as_user, Some(2147483647u32));
    assert_eq!(plan.security.fs_group, Some(8u32));
    assert_eq!(plan.security.supplemental_groups, vec![9u32]);
    assert_eq!(plan.containers[0].security.run_as_user, Some(2147483647u32));
    assert_eq!(plan.containers[0].security.run_as_group, Some(7u32));
}

#[test]
fn seconds_from_a_manifest_saturate() {
    use std::time::Duration;
    assert_eq!(seconds(-5), Duration::ZERO);
    assert_eq!(seconds(30), Duration::from_secs(30));
    assert_eq!(seconds(i64::MAX), Duration::from_secs(MAX_SECONDS));
    // The longest wait still fits on a monotonic clock.
    assert!(std::time::Instant::now()
        .checked_add(seconds(i64::MAX))
        .is_some());
}

/// A huge value is quoted by its start: a 100,000-character name reported in each of its
/// diagnostics used to print the whole of it every time, and its source line too.
#[test]
fn diagnostics_quote_a_huge_value_by_its_start() {
    let name = "a".repeat(100_000);
    let text = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n    - name: {name}\n      image: busybox:1.36\n"
    );
    let sources = src(&text);
    let d = load_err(&sources);
    assert!(d.0.len() >= 2, "{}", d.0.len());
    for diag in &d.0 {
        assert!(
            diag.message.chars().count() < 1100,
            "{}",
            diag.message.len()
        );
        assert!(diag.object.chars().count() < 1100, "{}", diag.object.len());
        let rendered = diag.render(&sources);
        assert!(rendered.len() < 4000, "{}", rendered.len());
        assert!(rendered.contains("bytes in all"), "{rendered}");
    }
}

/// The older `kubernetes.io/dockercfg` Secret holds the `auths` map itself; it is carried as the
/// config.json document it stands for.
#[test]
fn image_pull_secrets_of_the_older_dockercfg_type_are_wrapped_as_config_json() {
    // {"r.io":{"auth":"dTpw"}} base64-encoded.
    let text = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: old}}\ntype: kubernetes.io/dockercfg\ndata:\n  .dockercfg: eyJyLmlvIjp7ImF1dGgiOiJkVHB3In19\n---\n{}",
        pod("p", "  imagePullSecrets: [{name: old}]\n")
    );
    let loaded = load_ok(&src(&text));
    let secrets = &loaded.pods[0].image_pull_secrets;
    assert_eq!(secrets.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(
        secrets[0].docker_config_json,
        br#"{"auths":{"r.io":{"auth":"dTpw"}}}"#
    );
}

/// Where a pod's namespace and uid come from: its own fields when set (an empty string counts as
/// unset), else `default` and a uid derived from the pod; a uid seed names the first pod without
/// one, and an empty seed is no seed.
#[test]
fn namespace_and_uid_come_from_the_pod_then_the_seed_then_the_content() {
    let two = format!(
        "{}\n---\n{}",
        pod("a", "").replace(
            "  name: a\n",
            "  name: a\n  namespace: team\n  uid: given\n"
        ),
        pod("b", "").replace("  name: b\n", "  name: b\n  namespace: \"\"\n  uid: \"\"\n")
    );
    let loaded = load_ok(&src(&two));
    let (a, b) = (&loaded.pods[0].plan, &loaded.pods[1].plan);
    assert_eq!((a.namespace.as_str(), a.uid.as_str()), ("team", "given"));
    assert_eq!(b.namespace, "default");
    assert_eq!(b.uid.len(), 36, "derived: {}", b.uid);
    let seeded = |seed: &str| {
        let o = tandem_api::PlanOptions {
            node_name: "n".into(),
            uid: Some(seed.into()),
            claims_dir: None,
            ..Default::default()
        };
        let l = load(&src(&two), &o).expect("loads");
        l.pods[1].plan.uid.clone()
    };
    assert_eq!(
        seeded("seed-1"),
        "seed-1",
        "the first pod without a uid gets the seed"
    );
    assert_eq!(seeded(""), b.uid, "an empty seed is no seed");
}

/// Defaults the API server applies that the plan shows: the deprecated `serviceAccount` when
/// `serviceAccountName` is missing, and a hook's httpGet path `/` and scheme HTTP.
#[test]
fn the_legacy_service_account_and_hook_http_defaults_apply() {
    let extra = "  serviceAccount: robot\n";
    let hook = "      lifecycle:\n        postStart:\n          httpGet: {port: 8080}\n";
    let text = pod("p", extra).replace(
        "      image: busybox:1.36\n",
        &format!("      image: busybox:1.36\n{hook}"),
    );
    let loaded = load_ok(&src(&text));
    let plan = &loaded.pods[0].plan;
    assert_eq!(plan.service_account_name, "robot");
    match &plan.containers[0].post_start {
        Some(Handler::HttpGet { path, scheme, .. }) => {
            assert_eq!((path.as_str(), scheme), ("/", &HttpScheme::Http));
        }
        other => panic!("{other:?}"),
    }
    let plain = load_ok(&src(&pod("q", "  serviceAccount: \"\"\n")));
    assert_eq!(plain.pods[0].plan.service_account_name, "default");
}

/// A List with `items: null` holds nothing (and is no error); a workload without a selector is
/// refused there; an unnamed object is labelled as such.
#[test]
fn empty_lists_workloads_and_unnamed_objects_are_reported_as_they_are() {
    let l = load_ok(&src(&format!(
        "apiVersion: v1\nkind: List\nitems:\n---\n{}",
        pod("p", "")
    )));
    assert_eq!(l.pods.len(), 1);
    let d = load_err(&src(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: [{name: a, image: x:1}]}}}\n",
    ));
    assert_eq!(d.0[0].field, "spec.selector", "{:?}", d.0);
    let d = load_err(&src("apiVersion: v1\nkind: Pod\nmetadata: {name: \"\"}\nspec: {containers: [{name: a, image: x:1, ports: [{containerPort: 0}]}]}\n"));
    assert!(d.0.iter().all(|d| d.object == "Pod/<unnamed>"), "{:?}", d.0);
}

/// What the API server refuses of fields tandem reads but does not act on (tolerations, node
/// name, OS, readiness gates, topology spread, process namespace with hostPID, the size of all
/// annotations), and what it accepts that tandem once refused (a volume with no source is an
/// emptyDir, a zero divisor is the unset one).
#[test]
fn the_api_servers_rules_for_fields_tandem_does_not_act_on() {
    let refused = [
        ("  tolerations: [{key: k, operator: Bogus}]\n", "spec.tolerations[0].operator"),
        ("  tolerations: [{operator: Equal, value: v}]\n", "spec.tolerations[0].operator"),
        ("  tolerations: [{key: k, operator: Exists, value: v}]\n", "spec.tolerations[0].operator"),
        ("  tolerations: [{key: k, effect: Sometimes}]\n", "spec.tolerations[0].effect"),
        ("  tolerations: [{key: k, effect: NoSchedule, tolerationSeconds: 5}]\n", "spec.tolerations[0].effect"),
        // Named where the API server names it (a field of its internal type).
        ("  shareProcessNamespace: true\n  hostPID: true\n", "spec.securityContext.shareProcessNamespace"),
        ("  nodeName: \"Bad Node\"\n", "spec.nodeName"),
        // The Priority admission plugin's: no class here, so the priority must be 0 or absent.
        ("  priority: 1000\n", "spec.priority"),
        ("  os: {name: plan9}\n", "spec.os.name"),
        ("  readinessGates: [{conditionType: \"Bad Gate!\"}]\n", "spec.readinessGates[0].conditionType"),
        ("  topologySpreadConstraints: [{maxSkew: 0, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}]\n", "spec.topologySpreadConstraints[0].maxSkew"),
        ("  topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: Maybe}]\n", "spec.topologySpreadConstraints[0].whenUnsatisfiable"),
    ];
    for (extra, field) in refused {
        let d = load_err(&src(&format!("{}{extra}", pod("p", ""))));
        let fields: Vec<&str> = d.errors().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, [field], "{extra}");
    }
    let big = "a".repeat(256 * 1024);
    let text = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p, annotations: {{note: \"{big}\"}}}}\nspec: {{containers: [{{name: app, image: x:1}}]}}\n");
    let d = load_err(&src(&text));
    let fields: Vec<&str> = d.errors().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["metadata.annotations"]);

    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes: [{name: scratch}]\n  tolerations: [{operator: Exists}, {key: k, operator: Exists, effect: NoExecute, tolerationSeconds: 30}]\n  containers:\n    - name: app\n      image: x:1\n      resources: {limits: {cpu: \"2\"}}\n      volumeMounts: [{name: scratch, mountPath: /s}]\n      env: [{name: CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu, divisor: \"0\"}}}]\n";
    let l = load_ok(&src(text));
    let spec = l.pods[0].object.spec.clone().expect("spec");
    let volume = &spec.volumes.expect("volumes")[0];
    assert!(volume.empty_dir.is_some(), "{volume:?}");
    let plan = &l.pods[0].plan;
    let r = ResourceFieldRef {
        container_name: "app".into(),
        resource: "limits.cpu".into(),
        divisor: "0".into(),
    };
    assert_eq!(
        env::resolve_resource_field_ref(plan, &r, &facts()).expect("resolved"),
        "2"
    );
}

/// An object with only `generateName` gets a name as the API server makes one: the base and five
/// characters of its generator's alphabet, different per run (seed), stable for a reader.
#[test]
fn generate_name_makes_the_name_as_the_api_server_does() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {generateName: web-}\nspec: {containers: [{name: app, image: x:1}]}\n---\napiVersion: batch/v1\nkind: Job\nmetadata: {generateName: migrate-}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: app, image: x:1}]}}}\n";
    let with = |seed: Option<&str>| {
        let opts = PlanOptions {
            uid: seed.map(str::to_string),
            ..PlanOptions::default()
        };
        let l = load(&src(text), &opts).expect("loads");
        (
            l.pods[0].plan.name.clone(),
            l.workloads[0].object.name().to_string(),
        )
    };
    let (pod, job) = with(Some("11111111-2222-4333-8444-555555555555"));
    let alphabet = "bcdfghjklmnpqrstvwxz2456789";
    for (name, base) in [(&pod, "web-"), (&job, "migrate-")] {
        let suffix = name.strip_prefix(base).expect("the base first");
        assert!(
            suffix.len() == 5 && suffix.chars().all(|c| alphabet.contains(c)),
            "{name}"
        );
    }
    let (other, _) = with(Some("99999999-2222-4333-8444-555555555555"));
    assert_ne!(pod, other, "another run, another name");
    assert_eq!(with(None), with(None), "a reader sees one name");
    assert_eq!(
        tandem_api::names::generated(&"x".repeat(70), "s").len(),
        63,
        "the base is cut to 58 bytes"
    );
}

#[test]
fn a_disk_this_machine_cannot_have_is_stood_in_for_and_refused_under_strict() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  volumes:\n    - {name: share, nfs: {server: nfs.example.com, path: /exports}}\n    - name: scratch\n      ephemeral:\n        volumeClaimTemplate:\n          spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n  containers:\n    - name: app\n      image: x:1\n      volumeMounts: [{name: share, mountPath: /share}, {name: scratch, mountPath: /scratch}]\n";
    let l = load_ok(&src(text));
    let got: Vec<_> = l.warnings.iter().map(brief).collect();
    assert_eq!(
        got,
        [
            "warning 6:21 Pod/p spec.volumes[0].nfs | nfs volume \"share\" cannot exist on this machine: an empty directory stands in for it, one per pod",
            "warning 8:7 Pod/p spec.volumes[1].ephemeral | ephemeral volume \"scratch\" cannot exist on this machine: an empty directory stands in for it, one per pod",
        ]
    );
    for v in &l.pods[0].plan.volumes {
        assert!(
            matches!(
                v.source,
                VolumeSource::EmptyDir {
                    memory: false,
                    size_limit_bytes: None,
                    ..
                }
            ),
            "{v:?}"
        );
    }
    let strict = PlanOptions {
        strict: true,
        ..opts()
    };
    let d = load(&src(text), &strict).expect_err("refused under strict");
    let fields: Vec<&str> = d.errors().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["spec.volumes[0].nfs", "spec.volumes[1].ephemeral"]);

    // Checked as the API server checks them, at its field paths.
    let bad = text.replace("path: /exports", "path: exports");
    let d = load_err(&src(&bad));
    let fields: Vec<&str> = d.errors().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["spec.volumes[0].nfs.path"]);
}
