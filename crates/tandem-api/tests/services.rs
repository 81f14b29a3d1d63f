//! Services as the API server takes them: defaults (`SetDefaults_Service`), and the rules of
//! `ValidateService` that a manifest can break, each reported at its field.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tandem_api::{load, PlanOptions, Severity, Source};

fn loaded(yaml: &str) -> Result<tandem_api::Loaded, tandem_api::Diagnostics> {
    load(&[Source::new("svc.yaml", yaml)], &PlanOptions::default())
}

/// The error messages of a manifest that must fail, as `field: message`.
fn errors(yaml: &str) -> Vec<String> {
    match loaded(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(d) => {
            d.0.iter()
                .filter(|d| d.severity == Severity::Error)
                .map(|d| format!("{}: {}", d.field, d.message))
                .collect()
        }
    }
}

fn service(spec: &str) -> String {
    format!("apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n{spec}")
}

#[test]
fn a_service_gets_the_api_servers_defaults() {
    let l = loaded(&service(
        "  selector: {app: web}\n  ports: [{port: 80}, {name: dns, port: 53, protocol: UDP, targetPort: 5353}]\n",
    ));
    // Two ports without names are refused (below); here one is named and one is not.
    let err = l.expect_err("two ports, one unnamed");
    assert!(
        err.0.iter().any(|d| d.field == "spec.ports[0].name"),
        "{err:?}"
    );
    let l = loaded(&service(
        "  selector: {app: web}\n  ports: [{name: http, port: 80}, {name: dns, port: 53, protocol: UDP, targetPort: 5353}]\n",
    ))
    .expect("valid");
    let s = &l.services[0].object;
    let spec = s.spec.clone().expect("spec");
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    assert_eq!(spec.internal_traffic_policy.as_deref(), Some("Cluster"));
    assert_eq!(spec.external_traffic_policy, None);
    let ports = spec.ports.expect("ports");
    assert_eq!(ports[0].protocol.as_deref(), Some("TCP"));
    assert_eq!(ports[0].target_port, Some(IntOrString::Int(80)));
    assert_eq!(ports[1].target_port, Some(IntOrString::Int(5353)));
    assert_eq!(s.metadata.namespace.as_deref(), Some("default"));
    assert!(s.metadata.uid.is_some());
}

#[test]
fn node_port_and_load_balancer_defaults() {
    let l = loaded(&service(
        "  type: LoadBalancer\n  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]\n",
    ))
    .expect("valid");
    let spec = l.services[0].object.spec.clone().expect("spec");
    assert_eq!(spec.external_traffic_policy.as_deref(), Some("Cluster"));
    assert_eq!(spec.allocate_load_balancer_node_ports, Some(true));
    assert_eq!(
        spec.ports.expect("ports")[0].target_port,
        Some(IntOrString::String("http".into()))
    );
}

#[test]
fn headless_and_external_name_services_need_no_ports() {
    let l = loaded(&format!(
        "{}---\n{}",
        service("  clusterIP: None\n  selector: {app: web}\n"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: db}\nspec: {type: ExternalName, externalName: db.example.com}\n"
    ))
    .expect("valid");
    assert_eq!(l.services.len(), 2);
    assert!(tandem_api::services::is_headless(&l.services[0].object));
}

#[test]
fn validation_errors_name_their_field() {
    let table: &[(&str, &str, &str)] = &[
        ("  ports: []\n", "spec.ports", "Required value"),
        (
            "  ports: [{port: 80}, {port: 81}]\n",
            "spec.ports[0].name",
            "Required value",
        ),
        (
            "  ports: [{name: a, port: 80}, {name: a, port: 81}]\n",
            "spec.ports[1].name",
            "Duplicate value",
        ),
        (
            "  ports: [{name: a, port: 80}, {name: b, port: 80}]\n",
            "spec.ports[1]",
            "Duplicate value: port 80",
        ),
        (
            "  ports: [{port: 0}]\n",
            "spec.ports[0].port",
            "between 1 and 65535",
        ),
        (
            "  ports: [{port: 70000}]\n",
            "spec.ports[0].port",
            "between 1 and 65535",
        ),
        (
            "  ports: [{port: 80, protocol: ICMP}]\n",
            "spec.ports[0].protocol",
            "must be one of",
        ),
        (
            "  ports: [{port: 80, targetPort: Not_A_Name}]\n",
            "spec.ports[0].targetPort",
            "invalid targetPort",
        ),
        (
            "  type: Cluster\n  ports: [{port: 80}]\n",
            "spec.type",
            "must be one of",
        ),
        (
            "  ports: [{port: 80, nodePort: 30001}]\n",
            "spec.ports[0].nodePort",
            "may not be used when `type` is 'ClusterIP'",
        ),
        (
            "  type: NodePort\n  clusterIP: None\n  ports: [{port: 80}]\n",
            "spec.clusterIP",
            "may not be headless",
        ),
        (
            "  clusterIP: 10.96.0.300\n  ports: [{port: 80}]\n",
            "spec.clusterIP",
            "invalid clusterIP",
        ),
        (
            "  type: ExternalName\n",
            "spec.externalName",
            "Required value",
        ),
        (
            "  type: ExternalName\n  externalName: db.example.com\n  clusterIP: 10.96.0.5\n",
            "spec.clusterIP",
            "must be empty",
        ),
        (
            "  sessionAffinity: Sticky\n  ports: [{port: 80}]\n",
            "spec.sessionAffinity",
            "must be one of",
        ),
        (
            "  sessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\n  ports: [{port: 80}]\n",
            "spec.sessionAffinityConfig",
            "must not be set when session affinity is None",
        ),
        (
            "  sessionAffinity: ClientIP\n  sessionAffinityConfig: {clientIP: {timeoutSeconds: 86401}}\n  ports: [{port: 80}]\n",
            "spec.sessionAffinityConfig.clientIP.timeoutSeconds",
            "86400",
        ),
        (
            "  selector: {\"a b\": web}\n  ports: [{port: 80}]\n",
            "spec.selector[a b]",
            "invalid label key",
        ),
    ];
    for (spec, field, message) in table {
        let got = errors(&service(spec));
        assert!(
            got.iter()
                .any(|e| e.starts_with(&format!("{field}: ")) && e.contains(message)),
            "{spec}: expected {field}: …{message}…, got {got:?}"
        );
    }
}

#[test]
fn a_service_name_is_a_dns_label_starting_with_a_letter() {
    let got = errors(
        "apiVersion: v1\nkind: Service\nmetadata: {name: 1web}\nspec: {ports: [{port: 80}]}\n",
    );
    assert!(
        got.iter()
            .any(|e| e.starts_with("metadata.name: ") && e.contains("RFC 1035")),
        "{got:?}"
    );
}

#[test]
fn fields_not_acted_on_are_warnings() {
    let l = loaded(&service(
        "  sessionAffinity: ClientIP\n  externalIPs: [192.0.2.10]\n  ports: [{port: 80}]\n",
    ))
    .expect("valid");
    let warned: Vec<&str> = l.warnings.iter().map(|w| w.field.as_str()).collect();
    // ClientIP affinity is routed (docs/services.md), so only externalIPs is warned about.
    assert_eq!(warned, ["spec.externalIPs"], "{warned:?}");
    // The API server's default timeout for ClientIP affinity.
    let spec = l.services[0].object.spec.clone().expect("spec");
    let timeout = spec
        .session_affinity_config
        .and_then(|c| c.client_ip)
        .and_then(|c| c.timeout_seconds);
    assert_eq!(timeout, Some(10800));
}

#[test]
fn a_service_defined_twice_is_refused() {
    let one = service("  ports: [{port: 80}]\n");
    let got = errors(&format!("{one}---\n{one}"));
    assert!(got.iter().any(|e| e.contains("defined")), "{got:?}");
}

#[test]
fn service_links_as_the_kubelet_writes_them() {
    let l = loaded(
        "apiVersion: v1\nkind: Service\nmetadata: {name: my-db}\nspec:\n  clusterIP: 10.96.0.20\n  ports: [{name: pg, port: 5432}, {name: metrics, port: 9187, protocol: UDP}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: headless}\nspec: {clusterIP: None, ports: [{port: 80}]}\n",
    )
    .expect("valid");
    let objects: Vec<_> = l.services.iter().map(|s| s.object.clone()).collect();
    let env = tandem_api::services::environment(&objects);
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("MY_DB_SERVICE_HOST"), Some("10.96.0.20"));
    assert_eq!(get("MY_DB_SERVICE_PORT"), Some("5432"));
    assert_eq!(get("MY_DB_SERVICE_PORT_PG"), Some("5432"));
    assert_eq!(get("MY_DB_SERVICE_PORT_METRICS"), Some("9187"));
    assert_eq!(get("MY_DB_PORT"), Some("tcp://10.96.0.20:5432"));
    assert_eq!(get("MY_DB_PORT_5432_TCP"), Some("tcp://10.96.0.20:5432"));
    assert_eq!(get("MY_DB_PORT_5432_TCP_PROTO"), Some("tcp"));
    assert_eq!(get("MY_DB_PORT_5432_TCP_PORT"), Some("5432"));
    assert_eq!(get("MY_DB_PORT_5432_TCP_ADDR"), Some("10.96.0.20"));
    assert_eq!(get("MY_DB_PORT_9187_UDP"), Some("udp://10.96.0.20:9187"));
    // A headless Service has no variables.
    assert!(env.iter().all(|(n, _)| !n.starts_with("HEADLESS")));
    assert_eq!(env.len(), 13);
}

#[test]
fn endpoints_given_by_hand_are_validated() {
    let l = loaded(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: db-1, labels: {kubernetes.io/service-name: db}}\naddressType: IPv4\nendpoints: [{addresses: [192.0.2.10]}]\nports: [{name: pg, port: 5432}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: cache}\nsubsets: [{addresses: [{ip: 192.0.2.11}], ports: [{port: 6379}]}]\n",
    )
    .expect("valid");
    let kinds: Vec<&str> = l.endpoints.iter().map(|e| e.object.kind()).collect();
    assert_eq!(kinds, ["EndpointSlice", "Endpoints"]);
    assert_eq!(
        l.endpoints[0].object.metadata().namespace.as_deref(),
        Some("default")
    );
    let got = errors(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: bad, labels: {kubernetes.io/service-name: db}}\naddressType: IPv5\nendpoints: [{addresses: []}]\nports: [{port: 70000}]\n",
    );
    for (field, message) in [
        ("addressType", "must be one of"),
        ("endpoints[0].addresses", "between 1 and 100"),
        ("ports[0].port", "between 1 and 65535"),
    ] {
        assert!(
            got.iter()
                .any(|e| e.starts_with(&format!("{field}: ")) && e.contains(message)),
            "{field}: {got:?}"
        );
    }
    let got = errors(
        "apiVersion: v1\nkind: Endpoints\nmetadata: {name: cache}\nsubsets: [{addresses: [{ip: not-an-ip}]}]\n",
    );
    assert!(
        got.iter()
            .any(|e| e.starts_with("subsets[0].addresses[0].ip: ")),
        "{got:?}"
    );
    // A slice that names no Service is accepted with a warning: nothing routes to it.
    let l = loaded(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: loose}\naddressType: IPv4\nendpoints: [{addresses: [192.0.2.10]}]\n",
    )
    .expect("valid");
    assert!(
        l.warnings.iter().any(|w| w.field == "metadata.labels"),
        "{:?}",
        l.warnings
    );
}

/// Rows of the API server's table for IP family defaulting at creation
/// (`TestCreateInitIPFields`, pkg/registry/core/service/storage): the cluster's families, the
/// Service's spec as given, what it gets or the refusal's field and words.
#[test]
fn ip_families_are_defaulted_as_the_api_server_defaults_them() {
    use tandem_api::services::{ip_families, IpFamily, IpFamily::V4, IpFamily::V6};
    type Want = Result<(&'static str, &'static [&'static str]), (&'static str, &'static str)>;
    let rows: Vec<(&[IpFamily], &str, Want)> = vec![
        (&[V4], "", Ok(("SingleStack", &["IPv4"]))),
        (&[V4, V6], "", Ok(("SingleStack", &["IPv4"]))),
        (
            &[V4],
            "  ipFamilyPolicy: PreferDualStack\n",
            Ok(("PreferDualStack", &["IPv4"])),
        ),
        (
            &[V4, V6],
            "  ipFamilyPolicy: PreferDualStack\n",
            Ok(("PreferDualStack", &["IPv4", "IPv6"])),
        ),
        (
            &[V4, V6],
            "  ipFamilyPolicy: RequireDualStack\n  ipFamilies: [IPv6]\n",
            Ok(("RequireDualStack", &["IPv6", "IPv4"])),
        ),
        (
            &[V4],
            "  ipFamilyPolicy: RequireDualStack\n",
            Err((
                "spec.ipFamilyPolicy",
                "this cluster is not configured for dual-stack services",
            )),
        ),
        (
            &[V4],
            "  ipFamilies: [IPv6]\n",
            Err(("spec.ipFamilies[0]", "not configured on this cluster")),
        ),
        (
            &[V4],
            "  clusterIP: 'fd00:10:96::5'\n",
            Err(("spec.clusterIPs[0]", "IPv6 is not configured on this cluster")),
        ),
        (
            &[V4, V6],
            "  clusterIP: 'fd00:10:96::5'\n",
            Ok(("SingleStack", &["IPv6"])),
        ),
        (
            &[V4, V6],
            "  clusterIPs: [10.96.0.5, 'fd00:10:96::5']\n",
            Err(("spec.ipFamilyPolicy", "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified")),
        ),
        (
            &[V4, V6],
            "  ipFamilies: [IPv4, IPv6]\n",
            Err(("spec.ipFamilyPolicy", "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified")),
        ),
        (
            &[V4, V6],
            "  ipFamilyPolicy: PreferDualStack\n  clusterIPs: ['fd00:10:96::5']\n",
            Ok(("PreferDualStack", &["IPv6", "IPv4"])),
        ),
        // Headless without a selector: dual-stack unless told, even on a single-stack cluster.
        (
            &[V4],
            "  clusterIP: None\n  selector: null\n",
            Ok(("RequireDualStack", &["IPv4", "IPv6"])),
        ),
        (&[V4], "  clusterIP: None\n", Ok(("SingleStack", &["IPv4"]))),
        (
            &[V4, V6],
            "  clusterIP: None\n  ipFamilyPolicy: PreferDualStack\n",
            Ok(("PreferDualStack", &["IPv4", "IPv6"])),
        ),
    ];
    for (cluster, given, want) in rows {
        let selector = if given.contains("selector: null") {
            ""
        } else {
            "  selector: {app: web}\n"
        };
        let yaml = service(&format!("{selector}  ports: [{{port: 80}}]\n{given}"));
        let mut s = loaded(&yaml).expect(&yaml).services.remove(0).object;
        let got = ip_families(&mut s, cluster).map(|()| {
            let spec = s.spec.clone().unwrap_or_default();
            (
                spec.ip_family_policy.unwrap_or_default(),
                spec.ip_families.unwrap_or_default(),
            )
        });
        match (got, want) {
            (Ok((policy, families)), Ok((p, f))) => assert_eq!(
                (
                    policy.as_str(),
                    families.iter().map(String::as_str).collect::<Vec<_>>()
                ),
                (p, f.to_vec()),
                "{given}"
            ),
            (Err(e), Err((field, message))) => {
                assert_eq!(
                    (e.field.as_str(), e.message.as_str()),
                    (field, message),
                    "{given}"
                )
            }
            (got, want) => panic!("{given}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn cluster_ips_and_families_are_checked_on_their_own() {
    for (spec, message) in [
        (
            "clusterIP: 10.96.0.5\n  clusterIPs: [10.96.0.6]",
            "spec.clusterIPs: first value must match `clusterIP`",
        ),
        (
            "clusterIPs: [None, 10.96.0.6]",
            "spec.clusterIPs: 'None' must be the first and only value",
        ),
        (
            "clusterIPs: [10.96.0.5, 10.96.0.6]\n  ipFamilyPolicy: PreferDualStack",
            "spec.clusterIPs: may specify no more than one IP for each IP family",
        ),
        (
            "clusterIPs: [10.96.0.5, 'fd00::5', 'fd00::6']",
            "spec.clusterIPs: may only hold up to 2 values",
        ),
        (
            "clusterIPs: [10.96.0.5]\n  ipFamilies: [IPv6]",
            "spec.clusterIPs[0]: expected an IPv6 value as indicated by `ipFamilies[0]`",
        ),
        (
            "ipFamilies: [IPv4, IPv4]",
            "spec.ipFamilies[1]: Duplicate value: \"IPv4\"",
        ),
        (
            "ipFamilyPolicy: DualStack",
            "spec.ipFamilyPolicy: ipFamilyPolicy must be one of",
        ),
    ] {
        let yaml = service(&format!(
            "  selector: {{app: web}}\n  ports: [{{port: 80}}]\n  {spec}\n"
        ));
        let errors = errors(&yaml);
        assert!(
            errors.iter().any(|e| e.starts_with(message)),
            "{spec}: {errors:?}"
        );
    }
}
