//! What the EndpointSlice controller (and the older Endpoints controller) make of a Service: the
//! pods its selector picks, each with its address, its readiness and the port every Service port
//! leads to on it (`pkg/controller/endpointslice`, `staging/src/k8s.io/endpointslice`).
//!
//! The rules kept: a pod without an IP or in a terminal phase is no endpoint; a pod being deleted
//! stays as a terminating endpoint (ready false, serving as its readiness says) so a proxy can
//! drain to it; `publishNotReadyAddresses` makes every endpoint ready; a named `targetPort` is
//! looked up per pod among its containers' ports (native sidecars' included) with the same
//! protocol, and a pod without it is no endpoint of that port; slices are per address type (the
//! Service's IP families: a dual-stack Service has IPv4 and IPv6 slices, each with the pods'
//! addresses of its family) and pods that resolve the ports alike share a slice; a Service with a selector that matches nothing has one empty slice; a Service
//! without a selector (or of type ExternalName) has none made for it, and is routed to the
//! slices given by hand with its name as their `kubernetes.io/service-name` label
//! ([`labelled_for`]), an Endpoints object given by hand mirrored into slices first ([`mirror`]).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    EndpointAddress, EndpointPort as CorePort, EndpointSubset, Endpoints, ObjectReference, Pod,
    Service,
};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointConditions, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::naming::derived_name;
use crate::observed::is_ready;

/// The label naming a slice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";
/// The label naming who manages a slice, and the value the EndpointSlice controller writes.
pub const MANAGED_BY_LABEL: &str = "endpointslice.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

/// The Service's selector, when it has one that endpoints are made for.
fn selector(service: &Service) -> Option<&BTreeMap<String, String>> {
    let spec = service.spec.as_ref()?;
    if spec.type_.as_deref() == Some("ExternalName") {
        return None;
    }
    spec.selector.as_ref().filter(|s| !s.is_empty())
}

fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.metadata.labels.as_ref();
    selector
        .iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The pod's address of `family` (an EndpointSlice's `addressType`), when it has one and is not
/// finished.
fn address(pod: &Pod, family: &str) -> Option<String> {
    let status = pod.status.as_ref()?;
    if matches!(status.phase.as_deref(), Some("Succeeded" | "Failed")) {
        return None;
    }
    let ips = status.pod_ips.iter().flatten().map(|p| p.ip.as_str());
    status
        .pod_ip
        .as_deref()
        .into_iter()
        .chain(ips)
        .find(|ip| address_type(ip) == Some(family))
        .map(str::to_string)
}

/// The address type of an address: `IPv4` or `IPv6`.
fn address_type(ip: &str) -> Option<&'static str> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(_) => Some("IPv4"),
        std::net::IpAddr::V6(_) => Some("IPv6"),
    }
}

/// The address types of the slices a Service has: its IP families (`getAddressTypesForService`:
/// from its cluster IP when it has none recorded; a headless Service without any, both).
fn address_types(service: &Service) -> Vec<String> {
    let spec = service.spec.as_ref();
    let families: Vec<String> = spec
        .and_then(|s| s.ip_families.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f == "IPv4" || f == "IPv6")
        .collect();
    if !families.is_empty() {
        return families;
    }
    match spec
        .and_then(|s| s.cluster_ip.as_deref())
        .and_then(address_type)
    {
        Some(family) => vec![family.to_string()],
        None => vec!["IPv4".into(), "IPv6".into()],
    }
}

/// The port a Service port leads to on `pod`: a number as given, a name looked up among the
/// ports of its containers and native sidecars with the Service port's protocol.
pub fn target_port(pod: &Pod, target: &IntOrString, protocol: &str) -> Option<i32> {
    match target {
        IntOrString::Int(n) => Some(*n),
        IntOrString::String(name) => {
            let spec = pod.spec.as_ref()?;
            let sidecars = spec
                .init_containers
                .iter()
                .flatten()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.iter().flatten())
                .find(|p| {
                    p.name.as_deref() == Some(name.as_str())
                        && p.protocol.as_deref().unwrap_or("TCP") == protocol
                })
                .map(|p| p.container_port)
        }
    }
}

/// A Service port as one pod resolves it: the port's name, the pod's port number, the protocol.
type ResolvedPort = (Option<String>, i32, String);

/// The slices the EndpointSlice controller keeps for `service`, given the pods of the store.
pub fn endpoint_slices(service: &Service, pods: &[Pod]) -> Vec<EndpointSlice> {
    let Some(selector) = selector(service) else {
        return Vec::new();
    };
    let namespace = service.metadata.namespace.clone().unwrap_or_default();
    let name = service.metadata.name.clone().unwrap_or_default();
    let spec = service.spec.clone().unwrap_or_default();
    let ports = spec.ports.unwrap_or_default();
    let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
    let mut selected: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.metadata.namespace.as_deref() == Some(namespace.as_str()))
        .filter(|p| selects(selector, p))
        .collect();
    selected.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    // Per address type, pods grouped by the ports they resolve, as the controller groups them
    // into slices.
    let mut groups: BTreeMap<(String, Vec<ResolvedPort>), Vec<Endpoint>> = BTreeMap::new();
    for (family, pod) in address_types(service)
        .into_iter()
        .flat_map(|f| selected.iter().map(move |p| (f.clone(), *p)))
    {
        let Some(ip) = address(pod, &family) else {
            continue;
        };
        let resolved: Vec<ResolvedPort> = ports
            .iter()
            .filter_map(|p| {
                let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
                let port = target_port(pod, &target, &protocol)?;
                Some((p.name.clone(), port, protocol))
            })
            .collect();
        let terminating = pod.metadata.deletion_timestamp.is_some();
        let ready = is_ready(pod);
        let pod_spec = pod.spec.as_ref();
        let hostname = pod_spec
            .and_then(|s| s.hostname.clone())
            .filter(|_| pod_spec.and_then(|s| s.subdomain.as_deref()) == Some(name.as_str()));
        groups
            .entry((family, resolved))
            .or_default()
            .push(Endpoint {
                addresses: vec![ip],
                conditions: Some(EndpointConditions {
                    ready: Some(publish_not_ready || (ready && !terminating)),
                    serving: Some(publish_not_ready || ready),
                    terminating: Some(terminating),
                }),
                hostname,
                node_name: pod_spec.and_then(|s| s.node_name.clone()),
                target_ref: Some(ObjectReference {
                    kind: Some("Pod".into()),
                    namespace: Some(namespace.clone()),
                    name: pod.metadata.name.clone(),
                    uid: pod.metadata.uid.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            });
    }
    // The placeholder slice of a Service whose selector matches nothing, per address type.
    for family in address_types(service) {
        if !groups.keys().any(|(f, _)| *f == family) {
            groups.insert((family, Vec::new()), Vec::new());
        }
    }
    let uid = service.metadata.uid.clone().unwrap_or_default();
    groups
        .into_iter()
        .map(|((family, ports), endpoints)| {
            // The first family's names stay as they were before slices had a second family.
            let key = match family.as_str() {
                "IPv4" => format!("{uid}/{ports:?}"),
                _ => format!("{uid}/{family}/{ports:?}"),
            };
            EndpointSlice {
                metadata: ObjectMeta {
                    name: Some(derived_name(&format!("{name}-"), &key)),
                    generate_name: Some(format!("{name}-")),
                    namespace: Some(namespace.clone()),
                    labels: Some(BTreeMap::from([
                        (SERVICE_NAME_LABEL.to_string(), name.clone()),
                        (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
                    ])),
                    owner_references: Some(vec![OwnerReference {
                        api_version: "v1".into(),
                        kind: "Service".into(),
                        name: name.clone(),
                        uid: uid.clone(),
                        controller: Some(true),
                        block_owner_deletion: Some(true),
                    }]),
                    ..Default::default()
                },
                address_type: family,
                endpoints: Some(endpoints),
                ports: Some(
                    ports
                        .into_iter()
                        .map(|(name, port, protocol)| EndpointPort {
                            name: Some(name.unwrap_or_default()),
                            port: Some(port),
                            protocol: Some(protocol),
                            app_protocol: None,
                        })
                        .collect(),
                ),
            }
        })
        .collect()
}

/// A slice's endpoints (none when the field is absent).
pub fn members(slice: &EndpointSlice) -> &[Endpoint] {
    slice.endpoints.as_deref().unwrap_or_default()
}

/// The v1 Endpoints object of the same Service: one subset per slice of its first IP family with
/// endpoints, ready addresses apart from not-ready ones; terminating pods are left out (unless
/// `publishNotReadyAddresses`), as the Endpoints controller leaves them.
pub fn endpoints(service: &Service, slices: &[EndpointSlice]) -> Endpoints {
    // The Endpoints controller gives each pod's address of the Service's first family only.
    let primary = address_types(service).into_iter().next();
    let subsets: Vec<EndpointSubset> = slices
        .iter()
        .filter(|s| primary.as_deref() == Some(s.address_type.as_str()))
        .filter_map(|s| {
            let mut ready = Vec::new();
            let mut not_ready = Vec::new();
            for e in members(s) {
                let c = e.conditions.clone().unwrap_or_default();
                let address = EndpointAddress {
                    ip: e.addresses.first().cloned().unwrap_or_default(),
                    hostname: e.hostname.clone(),
                    node_name: e.node_name.clone(),
                    target_ref: e.target_ref.clone(),
                };
                match (c.ready == Some(true), c.terminating == Some(true)) {
                    (true, _) => ready.push(address),
                    (false, false) => not_ready.push(address),
                    (false, true) => {}
                }
            }
            if ready.is_empty() && not_ready.is_empty() {
                return None;
            }
            Some(EndpointSubset {
                addresses: (!ready.is_empty()).then_some(ready),
                not_ready_addresses: (!not_ready.is_empty()).then_some(not_ready),
                ports: s.ports.as_ref().map(|ports| {
                    ports
                        .iter()
                        .map(|p| CorePort {
                            name: p.name.clone().filter(|n| !n.is_empty()),
                            port: p.port.unwrap_or_default(),
                            protocol: p.protocol.clone(),
                            app_protocol: None,
                        })
                        .collect()
                }),
            })
        })
        .collect();
    Endpoints {
        metadata: ObjectMeta {
            name: service.metadata.name.clone(),
            namespace: service.metadata.namespace.clone(),
            labels: service.metadata.labels.clone(),
            ..Default::default()
        },
        subsets: (!subsets.is_empty()).then_some(subsets),
    }
}

/// The label the EndpointSlice mirroring controller writes on the slices it makes.
pub const MIRRORED_BY: &str = "endpointslicemirroring-controller.k8s.io";

/// What the EndpointSlice mirroring controller makes of an Endpoints object written by hand
/// (for a Service without a selector): one slice per subset, ready addresses ready, not-ready
/// ones not, labelled with the Service's name (`pkg/controller/endpointslicemirroring`).
pub fn mirror(e: &Endpoints) -> Vec<EndpointSlice> {
    let name = e.metadata.name.clone().unwrap_or_default();
    let namespace = e.metadata.namespace.clone();
    e.subsets
        .iter()
        .flatten()
        .enumerate()
        .flat_map(|(i, subset)| ["IPv4", "IPv6"].map(|family| (i, subset, family)))
        .filter_map(|(i, subset, family)| {
            let endpoint = |a: &EndpointAddress, ready: bool| Endpoint {
                addresses: vec![a.ip.clone()],
                conditions: Some(EndpointConditions {
                    ready: Some(ready),
                    serving: Some(ready),
                    terminating: Some(false),
                }),
                hostname: a.hostname.clone(),
                node_name: a.node_name.clone(),
                target_ref: a.target_ref.clone(),
                ..Default::default()
            };
            let of_family = |a: &&EndpointAddress| address_type(&a.ip) == Some(family);
            let endpoints: Vec<Endpoint> = subset
                .addresses
                .iter()
                .flatten()
                .filter(of_family)
                .map(|a| endpoint(a, true))
                .chain(
                    subset
                        .not_ready_addresses
                        .iter()
                        .flatten()
                        .filter(of_family)
                        .map(|a| endpoint(a, false)),
                )
                .collect();
            if endpoints.is_empty() {
                return None;
            }
            let uid = e.metadata.uid.clone().unwrap_or_else(|| name.clone());
            let key = match family {
                "IPv4" => format!("{uid}/{i}"),
                _ => format!("{uid}/{family}/{i}"),
            };
            Some(EndpointSlice {
                metadata: ObjectMeta {
                    name: Some(derived_name(&format!("{name}-"), &key)),
                    generate_name: Some(format!("{name}-")),
                    namespace: namespace.clone(),
                    labels: Some(BTreeMap::from([
                        (SERVICE_NAME_LABEL.to_string(), name.clone()),
                        (MANAGED_BY_LABEL.to_string(), MIRRORED_BY.to_string()),
                    ])),
                    ..Default::default()
                },
                address_type: family.into(),
                endpoints: Some(endpoints),
                ports: Some(
                    subset
                        .ports
                        .iter()
                        .flatten()
                        .map(|p| EndpointPort {
                            name: Some(p.name.clone().unwrap_or_default()),
                            port: Some(p.port),
                            protocol: Some(p.protocol.clone().unwrap_or_else(|| "TCP".into())),
                            app_protocol: p.app_protocol.clone(),
                        })
                        .collect(),
                ),
            })
        })
        .collect()
}

/// The slices given by hand that belong to `service`: of its namespace, labelled with its
/// name. kube-proxy routes these beside the controller's.
pub fn labelled_for<'a>(
    service: &Service,
    given: &'a [EndpointSlice],
) -> impl Iterator<Item = &'a EndpointSlice> {
    let name = service.metadata.name.clone();
    let namespace = service.metadata.namespace.clone();
    given.iter().filter(move |s| {
        s.metadata.namespace == namespace
            && s.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(SERVICE_NAME_LABEL))
                == name.as_ref()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Service as stored: single-stack IPv4 unless its spec says otherwise.
    fn service(mut spec: serde_json::Value) -> Service {
        if spec.get("ipFamilies").is_none() {
            spec["ipFamilies"] = json!(["IPv4"]);
        }
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
            "spec": spec,
        }))
        .expect("service")
    }

    fn pod(name: &str, ip: Option<&str>, ready: bool, extra: serde_json::Value) -> Pod {
        let mut p = json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("uid-{name}"),
                         "labels": {"app": "web"}},
            "spec": {"nodeName": "node", "containers": [{"name": "c", "image": "i",
                "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
        });
        if let Some(ip) = ip {
            p["status"]["podIP"] = json!(ip);
        }
        if let serde_json::Value::Object(m) = extra {
            for (k, v) in m {
                match k.as_str() {
                    "deletionTimestamp" => p["metadata"][k] = v,
                    "phase" => p["status"]["phase"] = v,
                    _ => p["spec"][k] = v,
                }
            }
        }
        serde_json::from_value(p).expect("pod")
    }

    fn conditions(e: &Endpoint) -> (bool, bool, bool) {
        let c = e.conditions.clone().unwrap_or_default();
        (
            c.ready == Some(true),
            c.serving == Some(true),
            c.terminating == Some(true),
        )
    }

    #[test]
    fn ready_pods_are_ready_endpoints_with_named_ports_resolved() {
        let svc = service(json!({"selector": {"app": "web"},
            "ports": [{"name": "web", "port": 80, "targetPort": "http", "protocol": "TCP"}]}));
        let pods = [
            pod("b", Some("10.87.0.3"), true, json!({})),
            pod("a", Some("10.87.0.2"), false, json!({})),
            pod("c", None, true, json!({})),
            pod("d", Some("10.87.0.4"), true, json!({"phase": "Succeeded"})),
        ];
        let slices = endpoint_slices(&svc, &pods);
        assert_eq!(slices.len(), 1);
        let s = &slices[0];
        let ports = s.ports.clone().unwrap_or_default();
        assert_eq!(ports[0].port, Some(8080));
        assert_eq!(ports[0].name.as_deref(), Some("web"));
        let names: Vec<_> = members(s)
            .iter()
            .map(|e| e.target_ref.clone().and_then(|r| r.name))
            .collect();
        assert_eq!(names, [Some("a".into()), Some("b".into())]);
        assert_eq!(conditions(&members(s)[0]), (false, false, false));
        assert_eq!(conditions(&members(s)[1]), (true, true, false));
        let labels = s.metadata.labels.clone().unwrap_or_default();
        assert_eq!(labels[SERVICE_NAME_LABEL], "web");
        // The same look gives the same name.
        assert_eq!(
            endpoint_slices(&svc, &pods)[0].metadata.name,
            s.metadata.name
        );
        let ep = endpoints(&svc, &slices);
        let subset = &ep.subsets.expect("subsets")[0];
        assert_eq!(subset.addresses.as_ref().map(Vec::len), Some(1));
        assert_eq!(subset.not_ready_addresses.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn terminating_pods_serve_but_are_not_ready() {
        let svc = service(json!({"selector": {"app": "web"}, "ports": [{"port": 80}]}));
        let pods = [pod(
            "a",
            Some("10.87.0.2"),
            true,
            json!({"deletionTimestamp": "2026-01-01T00:00:00Z"}),
        )];
        let slices = endpoint_slices(&svc, &pods);
        assert_eq!(conditions(&members(&slices[0])[0]), (false, true, true));
        // The port defaults to the Service port's number.
        assert_eq!(
            slices[0].ports.clone().unwrap_or_default()[0].port,
            Some(80)
        );
        assert!(endpoints(&svc, &slices).subsets.is_none());
    }

    #[test]
    fn publish_not_ready_makes_every_endpoint_ready() {
        let svc = service(
            json!({"selector": {"app": "web"}, "publishNotReadyAddresses": true,
            "ports": [{"port": 80}]}),
        );
        let slices = endpoint_slices(&svc, &[pod("a", Some("10.87.0.2"), false, json!({}))]);
        assert_eq!(conditions(&members(&slices[0])[0]), (true, true, false));
    }

    #[test]
    fn an_unknown_port_name_leaves_the_pod_out_of_that_port() {
        let svc = service(json!({"selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": "metrics"}]}));
        let slices = endpoint_slices(&svc, &[pod("a", Some("10.87.0.2"), true, json!({}))]);
        assert_eq!(slices.len(), 1);
        assert_eq!(slices[0].ports.clone().unwrap_or_default().len(), 0);
        assert_eq!(members(&slices[0]).len(), 1);
    }

    #[test]
    fn a_dual_stack_service_has_a_slice_per_family_and_endpoints_of_its_first() {
        let svc = service(json!({"selector": {"app": "web"}, "ports": [{"port": 80}],
            "ipFamilies": ["IPv6", "IPv4"]}));
        let mut dual = pod("a", Some("10.87.0.2"), true, json!({}));
        if let Some(status) = dual.status.as_mut() {
            status.pod_ips = Some(
                ["10.87.0.2", "fd87:7a6e::2"]
                    .map(|ip| k8s_openapi::api::core::v1::PodIP { ip: ip.into() })
                    .to_vec(),
            );
        }
        let v4_only = pod("b", Some("10.87.0.3"), true, json!({}));
        let slices = endpoint_slices(&svc, &[dual, v4_only]);
        let of = |family: &str| -> Vec<String> {
            slices
                .iter()
                .filter(|s| s.address_type == family)
                .flat_map(members)
                .flat_map(|e| e.addresses.clone())
                .collect()
        };
        assert_eq!(of("IPv4"), ["10.87.0.2", "10.87.0.3"]);
        assert_eq!(of("IPv6"), ["fd87:7a6e::2"]);
        let names: std::collections::BTreeSet<_> =
            slices.iter().map(|s| s.metadata.name.clone()).collect();
        assert_eq!(names.len(), slices.len(), "{names:?}");
        // The Endpoints object holds the first family's addresses only.
        let e = endpoints(&svc, &slices);
        let ips: Vec<String> = e
            .subsets
            .iter()
            .flatten()
            .flat_map(|s| s.addresses.iter().flatten().map(|a| a.ip.clone()))
            .collect();
        assert_eq!(ips, ["fd87:7a6e::2"]);
        // Addresses given by hand are mirrored into a slice per family.
        let given: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "ext", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "192.0.2.1"}, {"ip": "2001:db8::1"}],
                         "ports": [{"port": 80}]}]}))
        .expect("endpoints");
        let mirrored: Vec<(String, Vec<String>)> = mirror(&given)
            .iter()
            .map(|s| {
                (
                    s.address_type.clone(),
                    members(s)
                        .iter()
                        .flat_map(|e| e.addresses.clone())
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            mirrored,
            [
                ("IPv4".to_string(), vec!["192.0.2.1".to_string()]),
                ("IPv6".to_string(), vec!["2001:db8::1".to_string()])
            ]
        );
    }

    #[test]
    fn no_match_is_one_empty_slice_and_no_selector_none() {
        let svc = service(json!({"selector": {"app": "other"}, "ports": [{"port": 80}]}));
        let slices = endpoint_slices(&svc, &[pod("a", Some("10.87.0.2"), true, json!({}))]);
        assert_eq!(slices.len(), 1);
        assert!(members(&slices[0]).is_empty());
        let bare = service(json!({"ports": [{"port": 80}]}));
        assert!(endpoint_slices(&bare, &[pod("a", Some("10.87.0.2"), true, json!({}))]).is_empty());
    }

    #[test]
    fn endpoints_by_hand_are_mirrored_and_found_by_their_label() {
        let e: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": "192.0.2.10"}], "notReadyAddresses": [{"ip": "192.0.2.11"}],
                         "ports": [{"name": "pg", "port": 5432}]}],
        }))
        .expect("endpoints");
        let slices = mirror(&e);
        assert_eq!(slices.len(), 1);
        let conds: Vec<_> = members(&slices[0]).iter().map(conditions).collect();
        assert_eq!(conds, [(true, true, false), (false, false, false)]);
        assert_eq!(
            slices[0].ports.clone().unwrap_or_default()[0].port,
            Some(5432)
        );
        let svc: Service = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "default"}, "spec": {"ports": [{"port": 5432}]}}))
        .expect("service");
        assert_eq!(labelled_for(&svc, &slices).count(), 1);
        let other: Service = serde_json::from_value(json!({
            "metadata": {"name": "db", "namespace": "other"}}))
        .expect("service");
        assert_eq!(labelled_for(&other, &slices).count(), 0);
    }

    #[test]
    fn hostnames_only_under_the_pods_subdomain() {
        let svc = service(
            json!({"selector": {"app": "web"}, "clusterIP": "None", "ports": [{"port": 80}]}),
        );
        let pods = [
            pod(
                "web-0",
                Some("10.87.0.2"),
                true,
                json!({"hostname": "web-0", "subdomain": "web"}),
            ),
            pod(
                "x",
                Some("10.87.0.3"),
                true,
                json!({"hostname": "x", "subdomain": "other"}),
            ),
        ];
        let slices = endpoint_slices(&svc, &pods);
        let hosts: Vec<_> = members(&slices[0])
            .iter()
            .map(|e| e.hostname.clone())
            .collect();
        assert_eq!(hosts, [Some("web-0".into()), None]);
    }
}
