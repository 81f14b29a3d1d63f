//! The good fixtures (tests/fixtures/good): their plans, field by field where it matters.

mod common;

use common::{good, load_ok, source};
use tandem_api::env::{self, RuntimeFacts};
use tandem_api::plan::*;

fn facts() -> RuntimeFacts {
    RuntimeFacts {
        pod_ip: "10.88.0.7".into(),
        pod_ips: vec!["10.88.0.7".into(), "fd00::7".into()],
        host_ip: "192.168.1.2".into(),
        node_allocatable_cpu_millis: 2000,
        node_allocatable_memory_bytes: 8 << 30,
    }
}

fn files(plan: &PodPlan, volume: &str) -> Vec<FileProjection> {
    match &plan.volume(volume).expect("volume").source {
        // What the volume holds when the pod starts with the objects it was loaded with.
        VolumeSource::Files { parts } => {
            tandem_api::env::volume_files(parts, &Default::default(), true).expect("files")
        }
        other => panic!("{volume}: not a files volume: {other:?}"),
    }
}

fn bytes(f: &FileProjection) -> &[u8] {
    match &f.content {
        FileContent::Bytes(b) => b,
        other => panic!("{}: not bytes: {other:?}", f.path),
    }
}

fn mount<'a>(c: &'a ContainerPlan, name: &str) -> &'a VolumeMount {
    c.volume_mounts
        .iter()
        .find(|m| m.name == name)
        .expect("mount")
}

/// Warnings other than those about features tandem does not enforce yet (they disappear as the
/// features land, and are not what these plan tests are about).
fn settled_warnings(loaded: &tandem_api::Loaded) -> Vec<&tandem_api::Diagnostic> {
    loaded
        .warnings
        .iter()
        .filter(|w| !w.message.contains(" yet"))
        .collect()
}

#[test]
fn sidecar_logging_pod() {
    let loaded = good("sidecar-logging.yaml");
    assert!(
        settled_warnings(&loaded).is_empty(),
        "{:?}",
        loaded.warnings
    );
    assert_eq!(loaded.pods.len(), 1);
    let lp = &loaded.pods[0];
    assert_eq!((lp.file.as_str(), lp.line), ("sidecar-logging.yaml", 13));
    let p = &lp.plan;

    // Pod-level defaults.
    assert_eq!(p.name, "app-with-logging");
    assert_eq!(p.namespace, "default");
    assert_eq!(p.hostname, "app-with-logging");
    assert_eq!(p.restart_policy, RestartPolicy::Always);
    assert_eq!(p.termination_grace_period_seconds, 30);
    assert_eq!(p.dns_policy, DnsPolicy::ClusterFirst);
    assert_eq!(p.service_account_name, "default");
    assert_eq!(p.node_name, "node-1");
    assert!(p.enable_service_links);
    assert_eq!(p.uid.len(), 36);

    let names: Vec<_> = p
        .all_containers()
        .map(|c| (c.name.as_str(), c.role))
        .collect();
    assert_eq!(
        names,
        [
            ("app", ContainerRole::Main),
            ("log-shipper", ContainerRole::Main)
        ]
    );
    let app = p.container("app").expect("app");
    let shipper = p.container("log-shipper").expect("shipper");

    // Container defaults.
    assert_eq!(app.image_pull_policy, PullPolicy::IfNotPresent);
    assert_eq!(app.termination_message_path, "/dev/termination-log");
    assert_eq!(
        app.termination_message_policy,
        TerminationMessagePolicy::File
    );
    assert_eq!(app.command, None);
    assert_eq!(app.args, None);

    // Env order, unexpanded in the plan, expanded by resolve.
    assert_eq!(
        app.env,
        [
            EnvVar {
                name: "LOG_DIR".into(),
                value: EnvValue::Literal("/var/log/app".into())
            },
            EnvVar {
                name: "LOG_FILE".into(),
                value: EnvValue::Literal("$(LOG_DIR)/app.log".into())
            },
        ]
    );
    assert_eq!(
        env::resolve(p, app, &facts(), &env::Objects::default()).expect("env"),
        [
            ("LOG_DIR".to_string(), "/var/log/app".to_string()),
            ("LOG_FILE".to_string(), "/var/log/app/app.log".to_string()),
        ]
    );

    // The shared emptyDir: read-write for the app, read-only for the shipper; the ConfigMap volume
    // is read-only whatever the mount says.
    assert_eq!(
        p.volume("logs").expect("logs").source,
        VolumeSource::EmptyDir {
            memory: false,
            size_limit_bytes: None,
            size_limit_quantity: None,
        }
    );
    assert!(!mount(app, "logs").read_only);
    assert!(mount(shipper, "logs").read_only);
    assert!(mount(shipper, "fluent-config").read_only);
    assert_eq!(
        mount(shipper, "fluent-config").mount_path,
        "/fluent-bit/etc"
    );

    // Requests default to limits.
    assert_eq!(shipper.resources.limits.cpu_millis, Some(200));
    assert_eq!(shipper.resources.limits.memory_bytes, Some(64 << 20));
    assert_eq!(shipper.resources.requests, shipper.resources.limits);
    assert_eq!(app.resources, Resources::default());

    // ConfigMap items: chosen keys, paths and modes (0600 is octal in YAML).
    let cfg = files(p, "fluent-config");
    assert_eq!(cfg.len(), 2);
    assert_eq!(
        (cfg[0].path.as_str(), cfg[0].mode),
        ("fluent-bit.conf", 0o644)
    );
    assert!(bytes(&cfg[0]).starts_with(b"[INPUT]\n    Name tail\n"));
    assert_eq!(
        (cfg[1].path.as_str(), cfg[1].mode),
        ("parsers/parsers.conf", 0o600)
    );
    assert_eq!(bytes(&cfg[1]), b"[PARSER]\n");

    // downwardAPI: field references resolved when written (labels rendered k8s-style),
    // resources symbolic.
    let info = files(p, "podinfo");
    assert_eq!(info[0].path, "labels");
    let field = |f: &FileProjection| match &f.content {
        FileContent::FieldRef(path) => env::resolve_field_ref(p, path, &facts()).expect("field"),
        other => panic!("{}: not a field reference: {other:?}", f.path),
    };
    assert_eq!(field(&info[0]), "app=\"web\"\ntier=\"frontend\"");
    assert_eq!(field(&info[1]), "app-with-logging");
    let FileContent::ResourceFieldRef(r) = &info[2].content else {
        panic!("cpu_limit must stay symbolic: {:?}", info[2]);
    };
    assert_eq!(
        r,
        &ResourceFieldRef {
            container_name: "log-shipper".into(),
            resource: "limits.cpu".into(),
            divisor: "1m".into(),
        }
    );
    assert_eq!(
        env::resolve_resource_field_ref(p, r, &facts()).expect("cpu"),
        "200"
    );

    // The object carries the same defaults.
    let spec = lp.object.spec.as_ref().expect("spec");
    assert_eq!(lp.object.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(lp.object.metadata.uid.as_deref(), Some(p.uid.as_str()));
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.node_name.as_deref(), Some("node-1"));
    assert_eq!(
        spec.containers[0].image_pull_policy.as_deref(),
        Some("IfNotPresent")
    );
    let vols = spec.volumes.as_ref().expect("volumes");
    assert_eq!(
        vols[1].config_map.as_ref().and_then(|c| c.default_mode),
        Some(0o644)
    );
    let req = spec.containers[1]
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .expect("requests");
    assert_eq!(req.get("cpu").map(|q| q.0.as_str()), Some("200m"));
}

#[test]
fn ambassador_pod() {
    let loaded = good("ambassador.yaml");
    assert!(
        settled_warnings(&loaded).is_empty(),
        "{:?}",
        loaded.warnings
    );
    let p = &loaded.pods[0].plan;
    assert_eq!(p.restart_policy, RestartPolicy::OnFailure);
    let app = p.container("app").expect("app");
    let proxy = p.container("cloud-sql-proxy").expect("proxy");

    // Pod securityContext is the default, the container's wins.
    assert_eq!(app.security.run_as_user, Some(1000));
    assert_eq!(app.security.run_as_non_root, Some(true));
    assert_eq!(
        app.security.seccomp_profile.as_deref(),
        Some("RuntimeDefault")
    );
    assert_eq!(proxy.security.run_as_user, Some(2000));
    assert_eq!(proxy.security.run_as_non_root, Some(true));
    assert_eq!(proxy.security.allow_privilege_escalation, Some(false));
    assert_eq!(proxy.security.capabilities_drop, ["ALL"]);
    assert!(!proxy.security.privileged);
    assert_eq!(p.security.run_as_user, Some(1000));

    assert_eq!(proxy.image_pull_policy, PullPolicy::IfNotPresent);
    assert_eq!(proxy.command, None);
    assert_eq!(
        proxy.args.as_deref(),
        Some(
            &[
                "--port=5432".to_string(),
                "project:region:instance".to_string()
            ][..]
        )
    );

    // Named port resolved, probe defaults filled.
    assert_eq!(
        proxy.readiness_probe,
        Some(Probe {
            handler: Handler::TcpSocket {
                host: None,
                port: 5432
            },
            initial_delay_seconds: 0,
            timeout_seconds: 1,
            period_seconds: 10,
            success_threshold: 1,
            failure_threshold: 3,
            termination_grace_period_seconds: None,
        })
    );
    assert_eq!(proxy.ports[0].protocol, "TCP");

    // Env: expansion against earlier vars, fieldRef from runtime facts.
    assert_eq!(app.env[3].value, EnvValue::FieldRef("status.podIP".into()));
    let env = env::resolve(p, app, &facts(), &env::Objects::default()).expect("env");
    assert_eq!(
        env,
        [
            ("DB_HOST".to_string(), "localhost".to_string()),
            ("DB_PORT".to_string(), "5432".to_string()),
            (
                "DB_URL".to_string(),
                "postgres://localhost:5432/app".to_string()
            ),
            ("POD_IP".to_string(), "10.88.0.7".to_string()),
        ]
    );
}

#[test]
fn adapter_pod_from_json() {
    let loaded = good("adapter.yaml");
    let p = &loaded.pods[0].plan;
    assert_eq!(p.namespace, "monitoring");
    let app = p.container("app").expect("app");
    let adapter = p.container("prometheus-adapter").expect("adapter");
    assert_eq!(
        app.liveness_probe
            .as_ref()
            .map(|pr| (&pr.handler, pr.period_seconds, pr.timeout_seconds)),
        Some((
            &Handler::HttpGet {
                host: None,
                port: 8080,
                path: "/healthz".into(),
                scheme: HttpScheme::Http,
                headers: vec![],
            },
            5,
            1
        ))
    );
    assert_eq!(
        adapter.readiness_probe.as_ref().map(|pr| &pr.handler),
        Some(&Handler::HttpGet {
            host: None,
            port: 9090,
            path: "/metrics".into(),
            scheme: HttpScheme::Http,
            headers: vec![],
        })
    );
    assert_eq!(
        adapter.ports,
        [ContainerPort {
            name: Some("metrics".into()),
            container_port: 9090,
            protocol: "TCP".into(),
            host_port: None,
            host_ip: None,
        }]
    );
    assert_eq!(
        adapter.env,
        [EnvVar {
            name: "SOURCE_URL".into(),
            value: EnvValue::Literal("http://localhost:8080/stats".into())
        }]
    );
}

#[test]
fn native_sidecar_pod() {
    let loaded = good("native-sidecar.yaml");
    assert!(
        settled_warnings(&loaded).is_empty(),
        "{:?}",
        loaded.warnings
    );
    let p = &loaded.pods[0].plan;
    let roles: Vec<_> = p
        .all_containers()
        .map(|c| (c.name.as_str(), c.role))
        .collect();
    assert_eq!(
        roles,
        [
            ("init-config", ContainerRole::Init),
            ("istio-proxy", ContainerRole::Sidecar),
            ("app", ContainerRole::Main),
        ]
    );
    assert_eq!(p.init_containers.len(), 2);
    let sidecar = p.container("istio-proxy").expect("sidecar");
    let app = p.container("app").expect("app");

    // A startup probe on a sidecar is allowed; its named port resolves; httpGet defaults apply.
    let startup = sidecar.startup_probe.as_ref().expect("startup probe");
    assert_eq!(
        startup.handler,
        Handler::HttpGet {
            host: None,
            port: 15001,
            path: "/".into(),
            scheme: HttpScheme::Http,
            headers: vec![],
        }
    );
    assert_eq!(
        (startup.failure_threshold, startup.success_threshold),
        (3, 1)
    );

    // `myapp` has no tag: Always.
    assert_eq!(app.image_pull_policy, PullPolicy::Always);
    assert_eq!(app.pre_stop, Some(Handler::Sleep { seconds: 5 }));

    // Secret: stringData merged over decoded data; env value verbatim.
    assert_eq!(
        sidecar.env,
        [EnvVar {
            name: "TOKEN".into(),
            value: EnvValue::Literal("s3cr3t".into())
        }]
    );
    let certs = files(p, "certs");
    let listed: Vec<_> = certs
        .iter()
        .map(|f| (f.path.as_str(), f.mode, bytes(f)))
        .collect();
    assert_eq!(
        listed,
        [
            ("tls.crt", 0o400, &b"certificate"[..]),
            ("token", 0o400, &b"s3cr3t"[..]),
        ]
    );
    assert!(mount(sidecar, "certs").read_only);
    assert_eq!(
        p.volume("work").expect("work").source,
        VolumeSource::EmptyDir {
            memory: true,
            size_limit_bytes: Some(64 << 20),
            size_limit_quantity: Some("64Mi".into()),
        }
    );
}

#[test]
fn multi_document_file_with_a_list() {
    let loaded = good("multi-doc-list.yaml");
    let names: Vec<_> = loaded
        .pods
        .iter()
        .map(|p| (p.plan.name.as_str(), p.line))
        .collect();
    assert_eq!(names, [("first", 12), ("second", 26)]);
    // envFrom: every key of the ConfigMap with the prefix, sorted by key.
    let first = &loaded.pods[0].plan.containers[0];
    let env: Vec<_> = first
        .env
        .iter()
        .map(|e| (e.name.as_str(), &e.value))
        .collect();
    assert_eq!(
        env,
        [
            ("APP_LEVEL", &EnvValue::Literal("3".into())),
            ("APP_MODE", &EnvValue::Literal("fast".into())),
            ("APP_log.level", &EnvValue::Literal("debug".into())),
        ]
    );
    // configMapKeyRef resolved from the List in the same file; the optional missing key is
    // looked for again when the container is created (and left out if still missing).
    let second = &loaded.pods[1].plan.containers[0];
    assert_eq!(
        second.env,
        [
            EnvVar {
                name: "MODE".into(),
                value: EnvValue::Literal("fast".into())
            },
            EnvVar {
                name: "MISSING".into(),
                value: EnvValue::FromObject(ObjectKeyRef {
                    kind: ObjectKind::ConfigMap,
                    name: "settings".into(),
                    key: Some("nope".into()),
                    optional: true,
                })
            }
        ]
    );
}

#[test]
fn config_map_from_another_source() {
    // The pod of the sidecar-logging fixture, with its ConfigMap in a second "file".
    let full = source("good", "sidecar-logging.yaml");
    let (cm, pod) = full.text.split_once("\n---\n").expect("two documents");
    let sources = [
        tandem_api::Source::new("pod.yaml", pod),
        tandem_api::Source::new("config.yaml", cm),
    ];
    let loaded = load_ok(&sources);
    assert_eq!(files(&loaded.pods[0].plan, "fluent-config").len(), 2);
    assert_eq!(loaded.pods[0].file, "pod.yaml");
    assert_eq!(loaded.pods[0].line, 1);
}
