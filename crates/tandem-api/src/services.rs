//! A v1 Service's fields: the API server's defaults (`pkg/apis/core/v1/defaults.go`,
//! `SetDefaults_Service`) and validation (`pkg/apis/core/validation`, `ValidateService`), in our
//! words. Allocation (a cluster IP, node ports) is the store's business, not this module's: a
//! Service here may still have an empty `clusterIP`.

use k8s_openapi::api::core::v1::{Endpoints, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cx::Cx;
use crate::cx::{enumerated, in_range};
use crate::names;
use crate::path::FieldPath;

/// `spec.type`, with what each type asks of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
    ExternalName,
}

impl ServiceType {
    pub const NAMES: [&'static str; 4] = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

    pub fn of(s: &Service) -> ServiceType {
        match s.spec.as_ref().and_then(|s| s.type_.as_deref()) {
            Some("NodePort") => ServiceType::NodePort,
            Some("LoadBalancer") => ServiceType::LoadBalancer,
            Some("ExternalName") => ServiceType::ExternalName,
            _ => ServiceType::ClusterIP,
        }
    }

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// Whether its ports are published on the node (NodePort and LoadBalancer).
    pub fn has_node_ports(self) -> bool {
        matches!(self, ServiceType::NodePort | ServiceType::LoadBalancer)
    }
}

/// `clusterIP: None`: no virtual IP; its name resolves to the endpoints themselves.
pub fn is_headless(s: &Service) -> bool {
    s.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()) == Some("None")
}

/// How long a client keeps its endpoint under `sessionAffinity: ClientIP` when
/// `sessionAffinityConfig.clientIP.timeoutSeconds` does not say (the API server's default).
pub const CLIENT_IP_TIMEOUT_SECONDS: i32 = 10800;

/// The defaults the API server gives a Service.
pub(crate) fn apply_defaults(s: &mut Service) {
    let ty = ServiceType::of(s);
    let spec = s.spec.get_or_insert_with(Default::default);
    spec.type_.get_or_insert_with(|| "ClusterIP".into());
    spec.session_affinity.get_or_insert_with(|| "None".into());
    if spec.session_affinity.as_deref() == Some("ClientIP") {
        let config = spec
            .session_affinity_config
            .get_or_insert_with(Default::default);
        config
            .client_ip
            .get_or_insert_with(Default::default)
            .timeout_seconds
            .get_or_insert(CLIENT_IP_TIMEOUT_SECONDS);
    }
    if ty != ServiceType::ExternalName {
        spec.internal_traffic_policy
            .get_or_insert_with(|| "Cluster".into());
        // Either of `clusterIP` and `clusterIPs` may be given: each fills the other (the
        // Service strategy's `NormalizeClusterIPs`).
        let first = spec
            .cluster_ips
            .as_ref()
            .and_then(|ips| ips.first().cloned());
        match (spec.cluster_ip.as_deref().filter(|c| !c.is_empty()), first) {
            (None, Some(first)) => spec.cluster_ip = Some(first),
            (Some(ip), None) => spec.cluster_ips = Some(vec![ip.to_string()]),
            _ => {}
        }
    }
    if ty.has_node_ports() {
        spec.external_traffic_policy
            .get_or_insert_with(|| "Cluster".into());
    }
    if ty == ServiceType::LoadBalancer {
        spec.allocate_load_balancer_node_ports.get_or_insert(true);
    }
    for p in spec.ports.iter_mut().flatten() {
        p.protocol.get_or_insert_with(|| "TCP".into());
        let unset = match &p.target_port {
            None => true,
            Some(IntOrString::Int(0)) => true,
            Some(IntOrString::String(s)) => s.is_empty(),
            Some(IntOrString::Int(_)) => false,
        };
        if unset {
            p.target_port = Some(IntOrString::Int(p.port));
        }
    }
}

/// Fields a cluster acts on that tandem's proxy does not yet: a warning each.
const NOT_ACTED_ON: &[(&str, &str)] = &[
    (
        "externalIPs",
        "only the cluster IP and node ports are routed",
    ),
    (
        "loadBalancerSourceRanges",
        "published ports are not filtered by source",
    ),
];

/// Validates a defaulted Service.
pub(crate) fn validate(cx: &mut Cx<'_>, s: &Service) {
    let spec_at = FieldPath::root().field("spec");
    let Some(spec) = &s.spec else {
        return;
    };
    if let Some(name) = s.metadata.name.as_deref() {
        // Service names are DNS labels (RFC 1035: a letter first), as each is a DNS name.
        if let Some(msg) = names::dns1035_label(name) {
            cx.error(
                &FieldPath::root().field("metadata").field("name"),
                format!("invalid Service name {name:?}: {msg}"),
            );
        }
    }
    let ty_name = spec.type_.as_deref().unwrap_or("ClusterIP");
    if !enumerated(
        cx,
        &spec_at.field("type"),
        "type",
        ty_name,
        &ServiceType::NAMES,
    ) {
        return;
    }
    let ty = ServiceType::of(s);
    let headless = is_headless(s);
    for (field, what) in NOT_ACTED_ON {
        let at = spec_at.field(field);
        if cx.given(&at) {
            cx.warn(
                &at,
                format!("spec.{field} is not supported by tandem yet and is ignored: {what}"),
                None,
            );
        }
    }
    if spec.session_affinity.as_deref() == Some("None") && spec.session_affinity_config.is_some() {
        cx.error_hint(
            &spec_at.field("sessionAffinityConfig"),
            "must not be set when session affinity is None",
            "remove sessionAffinityConfig, or set `sessionAffinity: ClientIP`",
        );
    }
    enumerated(
        cx,
        &spec_at.field("sessionAffinity"),
        "sessionAffinity",
        spec.session_affinity.as_deref().unwrap_or("None"),
        &["None", "ClientIP"],
    );
    if let Some(t) = spec
        .session_affinity_config
        .as_ref()
        .and_then(|c| c.client_ip.as_ref())
        .and_then(|c| c.timeout_seconds)
    {
        in_range(
            cx,
            &spec_at
                .field("sessionAffinityConfig")
                .field("clientIP")
                .field("timeoutSeconds"),
            "timeoutSeconds",
            t.into(),
            1,
            86400,
        );
    }
    for (field, allowed) in [
        ("internalTrafficPolicy", &["Cluster", "Local"]),
        ("externalTrafficPolicy", &["Cluster", "Local"]),
    ] {
        let value = match field {
            "internalTrafficPolicy" => spec.internal_traffic_policy.as_deref(),
            _ => spec.external_traffic_policy.as_deref(),
        };
        if let Some(v) = value {
            enumerated(cx, &spec_at.field(field), field, v, allowed);
        }
    }
    if ty == ServiceType::ExternalName {
        external_name(cx, &spec_at, spec);
    } else {
        cluster_ip(cx, &spec_at, spec, ty);
    }
    let ports = spec.ports.as_deref().unwrap_or_default();
    if ports.is_empty() && !headless && ty != ServiceType::ExternalName {
        cx.error_hint(
            &spec_at.field("ports"),
            "ports: Required value",
            "a Service needs at least one port (`ports: [{port: 80}]`), unless it is headless (`clusterIP: None`)",
        );
    }
    for (i, p) in ports.iter().enumerate() {
        port(cx, &spec_at.field("ports").index(i), p, ports.len() > 1, ty);
    }
    for (i, p) in ports.iter().enumerate() {
        let at = spec_at.field("ports").index(i);
        if let Some(name) = p.name.as_deref().filter(|n| !n.is_empty()) {
            if ports[..i].iter().any(|q| q.name.as_deref() == Some(name)) {
                cx.error(&at.field("name"), format!("Duplicate value: {name:?}"));
            }
        }
        if ports[..i]
            .iter()
            .any(|q| q.port == p.port && q.protocol == p.protocol)
        {
            cx.error(
                &at,
                format!(
                    "Duplicate value: port {} with protocol {}",
                    p.port,
                    p.protocol.as_deref().unwrap_or("TCP")
                ),
            );
        }
        if let Some(n) = p.node_port.filter(|n| *n != 0) {
            if ports[..i]
                .iter()
                .any(|q| q.node_port == Some(n) && q.protocol == p.protocol)
            {
                cx.error(&at.field("nodePort"), format!("Duplicate value: {n}"));
            }
        }
    }
    if let Some(selector) = &spec.selector {
        for (k, v) in selector {
            let at = spec_at.field("selector").key(k);
            if let Some(msg) = names::qualified_name(k) {
                cx.error(&at, format!("invalid label key {k:?}: {msg}"));
            }
            if let Some(msg) = names::label_value(v) {
                cx.error(&at, format!("invalid label value {v:?}: {msg}"));
            }
        }
    }
}

fn external_name(
    cx: &mut Cx<'_>,
    spec_at: &FieldPath,
    spec: &k8s_openapi::api::core::v1::ServiceSpec,
) {
    match spec.external_name.as_deref() {
        None | Some("") => cx.error_hint(
            &spec_at.field("externalName"),
            "externalName: Required value",
            "an ExternalName Service names the host it stands for (`externalName: db.example.com`)",
        ),
        Some(n) => {
            if let Some(msg) = names::dns1123_subdomain(n.trim_end_matches('.')) {
                cx.error(
                    &spec_at.field("externalName"),
                    format!("invalid externalName {n:?}: {msg}"),
                );
            }
        }
    }
    if spec.cluster_ip.as_deref().is_some_and(|c| !c.is_empty()) {
        cx.error(
            &spec_at.field("clusterIP"),
            "clusterIP must be empty for an ExternalName Service",
        );
    }
}

fn cluster_ip(
    cx: &mut Cx<'_>,
    spec_at: &FieldPath,
    spec: &k8s_openapi::api::core::v1::ServiceSpec,
    ty: ServiceType,
) {
    match spec.cluster_ip.as_deref() {
        None | Some("") => {}
        Some("None") if ty.has_node_ports() => cx.error(
            &spec_at.field("clusterIP"),
            format!(
                "a {} Service may not be headless (clusterIP: None)",
                ty.name()
            ),
        ),
        Some("None") => {}
        Some(ip) => {
            if ip.parse::<std::net::IpAddr>().is_err() {
                cx.error(
                    &spec_at.field("clusterIP"),
                    format!("invalid clusterIP {ip:?}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff), or None"),
                );
            }
        }
    }
    cluster_ips(cx, spec_at, spec);
}

/// `clusterIPs`, `ipFamilies` and `ipFamilyPolicy` on their own, before allocation
/// (`ValidateServiceClusterIPsRelatedFields`); what depends on the cluster's families is
/// [`ip_families`]'.
fn cluster_ips(
    cx: &mut Cx<'_>,
    spec_at: &FieldPath,
    spec: &k8s_openapi::api::core::v1::ServiceSpec,
) {
    let at = spec_at.field("clusterIPs");
    let ips = spec.cluster_ips.as_deref().unwrap_or_default();
    if let (Some(first), Some(given)) = (spec.cluster_ip.as_deref(), ips.first()) {
        if first != given {
            cx.error(&at, "first value must match `clusterIP`");
        }
    }
    let mut families = Vec::new();
    for (i, ip) in ips.iter().enumerate() {
        if ip == "None" && i == 0 {
            if ips.len() > 1 {
                cx.error(&at, "'None' must be the first and only value");
                return;
            }
            continue;
        }
        match ip.parse::<std::net::IpAddr>() {
            Ok(ip) => families.push(IpFamily::of(ip)),
            Err(_) => {
                cx.error(
                    &at.index(i),
                    format!("invalid IP address {ip:?}: must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"),
                );
                return;
            }
        }
    }
    if ips.len() > 2 {
        cx.error(&at, "may only hold up to 2 values");
    } else if families.len() == 2 && families[0] == families[1] {
        cx.error(&at, "may specify no more than one IP for each IP family");
    }
    let given = spec.ip_families.as_deref().unwrap_or_default();
    for (i, f) in given.iter().enumerate() {
        let field = spec_at.field("ipFamilies").index(i);
        if enumerated(cx, &field, "ipFamily", f, &["IPv4", "IPv6"]) && given[..i].contains(f) {
            cx.error(&field, format!("Duplicate value: {f:?}"));
        }
    }
    for (i, (family, named)) in families.iter().zip(given).enumerate() {
        if IpFamily::parse(named).is_some_and(|n| n != *family) {
            cx.error(
                &at.index(i),
                format!("expected an {named} value as indicated by `ipFamilies[{i}]`"),
            );
        }
    }
    if let Some(policy) = spec.ip_family_policy.as_deref() {
        enumerated(
            cx,
            &spec_at.field("ipFamilyPolicy"),
            "ipFamilyPolicy",
            policy,
            &IpFamilyPolicy::NAMES,
        );
    }
}

/// An IP family: a Service's `ipFamilies` entry, an EndpointSlice's `addressType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: std::net::IpAddr) -> IpFamily {
        match ip {
            std::net::IpAddr::V4(_) => IpFamily::V4,
            std::net::IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// The API's word: `IPv4`, `IPv6`.
    pub fn name(self) -> &'static str {
        match self {
            IpFamily::V4 => "IPv4",
            IpFamily::V6 => "IPv6",
        }
    }

    pub fn parse(text: &str) -> Option<IpFamily> {
        match text {
            "IPv4" => Some(IpFamily::V4),
            "IPv6" => Some(IpFamily::V6),
            _ => None,
        }
    }

    pub fn other(self) -> IpFamily {
        match self {
            IpFamily::V4 => IpFamily::V6,
            IpFamily::V6 => IpFamily::V4,
        }
    }
}

/// `spec.ipFamilyPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpFamilyPolicy {
    SingleStack,
    PreferDualStack,
    RequireDualStack,
}

impl IpFamilyPolicy {
    pub const NAMES: [&'static str; 3] = ["SingleStack", "PreferDualStack", "RequireDualStack"];

    pub fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    fn parse(text: &str) -> Option<IpFamilyPolicy> {
        [
            IpFamilyPolicy::SingleStack,
            IpFamilyPolicy::PreferDualStack,
            IpFamilyPolicy::RequireDualStack,
        ]
        .into_iter()
        .find(|p| p.name() == text)
    }
}

/// Why a Service's IP families cannot be had on this cluster: the field, and the API server's
/// words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FamilyRefusal {
    pub field: String,
    pub value: String,
    pub message: String,
}

/// Fills in a validated Service's `ipFamilyPolicy` and `ipFamilies` for a cluster whose Service
/// ranges have `cluster` families (its first, the default, first), as the API server does at
/// creation before it allocates (`initIPFamilyFields`): the policy is SingleStack unless given
/// (RequireDualStack for a headless Service without selector); families come from the cluster IPs
/// given, else the cluster's first; a policy other than SingleStack adds the other family where
/// the cluster has it (a headless Service without selector, always). An ExternalName Service has
/// none. The cluster IPs themselves are the allocator's.
pub fn ip_families(s: &mut Service, cluster: &[IpFamily]) -> Result<(), FamilyRefusal> {
    if ServiceType::of(s) == ServiceType::ExternalName {
        return Ok(());
    }
    let headless = is_headless(s);
    let spec = s.spec.get_or_insert_with(Default::default);
    let selectorless = spec.selector.as_ref().is_none_or(|m| m.is_empty());
    let policy = match spec.ip_family_policy.as_deref() {
        Some(given) => IpFamilyPolicy::parse(given).unwrap_or(IpFamilyPolicy::SingleStack),
        None if headless && selectorless => IpFamilyPolicy::RequireDualStack,
        None => IpFamilyPolicy::SingleStack,
    };
    spec.ip_family_policy = Some(policy.name().into());
    let refuse = |field: &str, value: String, message: &str| FamilyRefusal {
        field: field.to_string(),
        value,
        message: message.to_string(),
    };
    let ips = spec.cluster_ips.clone().unwrap_or_default();
    let mut families: Vec<IpFamily> = spec
        .ip_families
        .iter()
        .flatten()
        .filter_map(|f| IpFamily::parse(f))
        .collect();
    if policy == IpFamilyPolicy::SingleStack {
        if ips.len() == 2 {
            return Err(refuse("spec.ipFamilyPolicy", policy.name().into(), "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
        }
        if families.len() == 2 {
            return Err(refuse("spec.ipFamilyPolicy", policy.name().into(), "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
        }
    }
    for (i, ip) in ips.iter().enumerate() {
        let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
            break; // `None`
        };
        let family = IpFamily::of(ip);
        if i >= families.len() {
            if !cluster.contains(&family) {
                return Err(refuse(
                    &format!("spec.clusterIPs[{i}]"),
                    ip.to_string(),
                    &format!("{} is not configured on this cluster", family.name()),
                ));
            }
            families.push(family);
        }
    }
    let primary = cluster.first().copied().unwrap_or(IpFamily::V4);
    if headless && selectorless {
        if families.is_empty() {
            families.push(primary);
        }
        if families.len() < 2 && policy != IpFamilyPolicy::SingleStack {
            families.push(families[0].other());
        }
    } else {
        if policy == IpFamilyPolicy::RequireDualStack && cluster.len() < 2 {
            return Err(refuse(
                "spec.ipFamilyPolicy",
                policy.name().into(),
                "this cluster is not configured for dual-stack services",
            ));
        }
        if let Some((i, f)) = families
            .iter()
            .enumerate()
            .find(|(_, f)| !cluster.contains(f))
        {
            return Err(refuse(
                &format!("spec.ipFamilies[{i}]"),
                f.name().into(),
                "not configured on this cluster",
            ));
        }
        if families.is_empty() {
            families.push(primary);
        }
        if policy != IpFamilyPolicy::SingleStack && families.len() == 1 && cluster.len() == 2 {
            families.push(families[0].other());
        }
    }
    spec.ip_families = Some(families.iter().map(|f| f.name().to_string()).collect());
    Ok(())
}

fn port(cx: &mut Cx<'_>, at: &FieldPath, p: &ServicePort, many: bool, ty: ServiceType) {
    match p.name.as_deref().filter(|n| !n.is_empty()) {
        None if many => cx.error_hint(
            &at.field("name"),
            "name: Required value",
            "a Service with more than one port names each of them",
        ),
        None => {}
        Some(n) => {
            if let Some(msg) = names::dns1123_label(n) {
                cx.error(&at.field("name"), format!("invalid port name {n:?}: {msg}"));
            }
        }
    }
    in_range(cx, &at.field("port"), "port", p.port.into(), 1, 65535);
    let protocol = p.protocol.as_deref().unwrap_or("TCP");
    if enumerated(
        cx,
        &at.field("protocol"),
        "protocol",
        protocol,
        &["TCP", "UDP", "SCTP"],
    ) && protocol == "SCTP"
    {
        cx.warn(
            &at.field("protocol"),
            "SCTP ports are not routed by tandem yet",
            None,
        );
    }
    match &p.target_port {
        Some(IntOrString::Int(n)) => {
            in_range(
                cx,
                &at.field("targetPort"),
                "targetPort",
                (*n).into(),
                1,
                65535,
            );
        }
        Some(IntOrString::String(s)) => {
            if let Some(msg) = names::iana_svc_name(s) {
                cx.error(
                    &at.field("targetPort"),
                    format!("invalid targetPort {s:?}: {msg}"),
                );
            }
        }
        None => {}
    }
    if let Some(n) = p.node_port.filter(|n| *n != 0) {
        if ty.has_node_ports() {
            in_range(cx, &at.field("nodePort"), "nodePort", n.into(), 1, 65535);
        } else {
            cx.error_hint(
                &at.field("nodePort"),
                format!("may not be used when `type` is '{}'", ty.name()),
                "a nodePort needs `type: NodePort` (or LoadBalancer)",
            );
        }
    }
}

/// The environment variables the kubelet gives a container for the Services of its namespace
/// that have a cluster IP (`enableServiceLinks`, `pkg/kubelet/envvars`): `WEB_SERVICE_HOST`,
/// `WEB_SERVICE_PORT` (the first port), `WEB_SERVICE_PORT_HTTP` per named port, and the Docker
/// link variables `WEB_PORT=tcp://IP:PORT`, `WEB_PORT_80_TCP{,_PROTO,_PORT,_ADDR}`. Names are
/// upper-cased with `-` as `_`. Sorted by name: the kubelet gives no order either.
pub fn environment(services: &[Service]) -> Vec<(String, String)> {
    fn var_name(s: &str) -> String {
        s.to_ascii_uppercase().replace('-', "_")
    }
    let mut out = Vec::new();
    for s in services {
        let spec = s.spec.clone().unwrap_or_default();
        let Some(ip) = spec.cluster_ip.filter(|ip| !ip.is_empty() && ip != "None") else {
            continue;
        };
        let name = var_name(s.metadata.name.as_deref().unwrap_or_default());
        let ports = spec.ports.unwrap_or_default();
        out.push((format!("{name}_SERVICE_HOST"), ip.clone()));
        for (i, p) in ports.iter().enumerate() {
            let protocol = p.protocol.as_deref().unwrap_or("TCP");
            let lower = protocol.to_ascii_lowercase();
            let url = format!("{lower}://{ip}:{}", p.port);
            if i == 0 {
                out.push((format!("{name}_SERVICE_PORT"), p.port.to_string()));
                out.push((format!("{name}_PORT"), url.clone()));
            }
            if let Some(port_name) = p.name.as_deref().filter(|n| !n.is_empty()) {
                out.push((
                    format!("{name}_SERVICE_PORT_{}", var_name(port_name)),
                    p.port.to_string(),
                ));
            }
            let prefix = format!("{name}_PORT_{}_{}", p.port, protocol.to_ascii_uppercase());
            out.push((format!("{prefix}_PROTO"), lower));
            out.push((format!("{prefix}_PORT"), p.port.to_string()));
            out.push((format!("{prefix}_ADDR"), ip.clone()));
            out.push((prefix, url));
        }
    }
    out.sort();
    out
}

/// Endpoints given by hand, for a Service without a selector (an external database behind a
/// name, say): an EndpointSlice labelled `kubernetes.io/service-name`, or the older Endpoints
/// object named as its Service.
#[derive(Debug, Clone, PartialEq)]
pub enum ManualEndpoints {
    Slice(EndpointSlice),
    Endpoints(Endpoints),
}

impl ManualEndpoints {
    pub fn kind(&self) -> &'static str {
        match self {
            ManualEndpoints::Slice(_) => "EndpointSlice",
            ManualEndpoints::Endpoints(_) => "Endpoints",
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        match self {
            ManualEndpoints::Slice(s) => &s.metadata,
            ManualEndpoints::Endpoints(e) => &e.metadata,
        }
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        match self {
            ManualEndpoints::Slice(s) => &mut s.metadata,
            ManualEndpoints::Endpoints(e) => &mut e.metadata,
        }
    }
}

/// The label tying an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn endpoint_port(
    cx: &mut Cx<'_>,
    at: &FieldPath,
    name: Option<&str>,
    port: Option<i32>,
    protocol: Option<&str>,
) {
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        if let Some(msg) = names::dns1123_label(n) {
            cx.error(&at.field("name"), format!("invalid port name {n:?}: {msg}"));
        }
    }
    if let Some(p) = port {
        in_range(cx, &at.field("port"), "port", p.into(), 1, 65535);
    }
    enumerated(
        cx,
        &at.field("protocol"),
        "protocol",
        protocol.unwrap_or("TCP"),
        &["TCP", "UDP", "SCTP"],
    );
}

fn address(cx: &mut Cx<'_>, at: &FieldPath, ip: &str) {
    if ip.parse::<std::net::IpAddr>().is_err() {
        cx.error(
            at,
            format!("invalid IP address {ip:?}: must be a valid IP address"),
        );
    }
}

/// The API server's checks of an EndpointSlice or Endpoints object that tandem acts on
/// (`ValidateEndpointSlice`, `ValidateEndpoints`): address types, addresses, ports.
pub(crate) fn validate_manual(cx: &mut Cx<'_>, m: &ManualEndpoints) {
    let root = FieldPath::root();
    match m {
        ManualEndpoints::Slice(s) => {
            let at = root.field("addressType");
            if enumerated(
                cx,
                &at,
                "addressType",
                &s.address_type,
                &["IPv4", "IPv6", "FQDN"],
            ) && s.address_type == "FQDN"
            {
                cx.warn(
                    &at,
                    "FQDN endpoints are not routed (kube-proxy routes IPv4 and IPv6 slices only)",
                    None,
                );
            }
            let labels = s.metadata.labels.clone().unwrap_or_default();
            if !labels.contains_key(SERVICE_NAME_LABEL) {
                cx.warn(
                    &root.field("metadata").field("labels"),
                    format!("an EndpointSlice without the label {SERVICE_NAME_LABEL} belongs to no Service and is not used"),
                    None,
                );
            }
            for (i, e) in s.endpoints.iter().flatten().enumerate() {
                let at = root.field("endpoints").index(i).field("addresses");
                if e.addresses.is_empty() || e.addresses.len() > 100 {
                    cx.error(&at, "must have between 1 and 100 addresses");
                }
                if s.address_type == "IPv4" {
                    for (j, a) in e.addresses.iter().enumerate() {
                        address(cx, &at.index(j), a);
                    }
                }
            }
            for (i, p) in s.ports.iter().flatten().enumerate() {
                let at = root.field("ports").index(i);
                endpoint_port(cx, &at, p.name.as_deref(), p.port, p.protocol.as_deref());
            }
        }
        ManualEndpoints::Endpoints(e) => {
            for (i, subset) in e.subsets.iter().flatten().enumerate() {
                let at = root.field("subsets").index(i);
                for (field, list) in [
                    ("addresses", &subset.addresses),
                    ("notReadyAddresses", &subset.not_ready_addresses),
                ] {
                    for (j, a) in list.iter().flatten().enumerate() {
                        address(cx, &at.field(field).index(j).field("ip"), &a.ip);
                    }
                }
                for (j, p) in subset.ports.iter().flatten().enumerate() {
                    let at = at.field("ports").index(j);
                    endpoint_port(
                        cx,
                        &at,
                        p.name.as_deref(),
                        Some(p.port),
                        p.protocol.as_deref(),
                    );
                }
            }
        }
    }
}
