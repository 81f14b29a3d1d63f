//! A Service as kubectl's `describeService` lays it out.

use super::layout::multiline;
use crate::output::tabwriter::TabWriter;

/// A Service as kubectl describes it (`describeService`): identity, selector, type and
/// addresses, then per port its target, node port and ready endpoints.
pub fn describe_service(
    s: &k8s_openapi::api::core::v1::Service,
    slices: &[k8s_openapi::api::discovery::v1::EndpointSlice],
) -> String {
    use tandem_api::services::ServiceType;
    let mut w = TabWriter::default();
    let meta = &s.metadata;
    let spec = s.spec.clone().unwrap_or_default();
    let mut line = |text: String| {
        w.write(&text);
        w.write("\n");
    };
    line(format!(
        "Name:\t{}",
        meta.name.as_deref().unwrap_or_default()
    ));
    line(format!(
        "Namespace:\t{}",
        meta.namespace.as_deref().unwrap_or("default")
    ));
    multiline(&mut w, "Labels", meta.labels.as_ref(), false);
    multiline(&mut w, "Annotations", meta.annotations.as_ref(), true);
    let mut line = |text: String| {
        w.write(&text);
        w.write("\n");
    };
    let selector = spec
        .selector
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    line(format!("Selector:\t{selector}"));
    let ty = ServiceType::of(s);
    line(format!("Type:\t{}", ty.name()));
    if let Some(p) = &spec.ip_family_policy {
        line(format!("IP Family Policy:\t{p}"));
    }
    if let Some(f) = &spec.ip_families {
        line(format!("IP Families:\t{}", f.join(",")));
    }
    if let Some(ip) = &spec.cluster_ip {
        line(format!("IP:\t{ip}"));
    }
    if let Some(ips) = &spec.cluster_ips {
        line(format!("IPs:\t{}", ips.join(",")));
    }
    if let Some(n) = &spec.external_name {
        line(format!("External Name:\t{n}"));
    }
    let ingress = s
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.clone())
        .unwrap_or_default();
    for i in ingress {
        let mode = i.ip_mode.map(|m| format!(" ({m})")).unwrap_or_default();
        line(format!(
            "LoadBalancer Ingress:\t{}{mode}",
            i.ip.or(i.hostname).unwrap_or_default()
        ));
    }
    for p in spec.ports.iter().flatten() {
        let name = p.name.clone().filter(|n| !n.is_empty());
        let shown = name.clone().unwrap_or_else(|| "<unset>".into());
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        line(format!("Port:\t{shown}  {}/{protocol}", p.port));
        let target = match &p.target_port {
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                n.to_string()
            }
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s)) => s.clone(),
            None => p.port.to_string(),
        };
        line(format!("TargetPort:\t{target}/{protocol}"));
        if let Some(n) = p.node_port {
            line(format!("NodePort:\t{shown}  {n}/{protocol}"));
        }
        // The ready endpoints of this port, from the slices that carry it.
        let mut endpoints = vec![];
        for slice in slices {
            let Some(port) = slice
                .ports
                .iter()
                .flatten()
                .find(|sp| sp.name.clone().filter(|n| !n.is_empty()) == name)
                .and_then(|sp| sp.port)
            else {
                continue;
            };
            for e in tandem_controllers::endpoints::members(slice) {
                if e.conditions.as_ref().and_then(|c| c.ready) == Some(true) {
                    endpoints.extend(e.addresses.iter().map(|a| format!("{a}:{port}")));
                }
            }
        }
        let shown = if endpoints.is_empty() {
            "<none>".to_string()
        } else {
            endpoints.join(",")
        };
        line(format!("Endpoints:\t{shown}"));
    }
    line(format!(
        "Session Affinity:\t{}",
        spec.session_affinity.as_deref().unwrap_or("None")
    ));
    if let Some(p) = &spec.external_traffic_policy {
        line(format!("External Traffic Policy:\t{p}"));
    }
    if let Some(p) = &spec.internal_traffic_policy {
        line(format!("Internal Traffic Policy:\t{p}"));
    }
    line("Events:\t<none>".to_string());
    w.finish()
}
