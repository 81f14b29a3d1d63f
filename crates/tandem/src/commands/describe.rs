//! `tandem describe pod [NAME...]` (kubectl describe): a pod laid out as kubectl 1.33 lays it out
//! (`describePod` in kubectl's `pkg/describe`): its identity and status, every container with its
//! state, last state, probes, resources, environment and mounts (init containers, native
//! sidecars among them, first), conditions, volumes, QoS class, node selectors and tolerations,
//! and the Events table with repeats folded into `(xN over AGE)`; `describe service` a Service as
//! `describeService` does (type, addresses, and per port its target, node port and endpoints).
//! <https://kubernetes.io/docs/reference/kubectl/generated/kubectl_describe/>

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStatus, EnvVar, Pod, Probe, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tandem_api::env::RuntimeFacts;
use tandem_api::plan::{PodPlan, ResourceFieldRef};
use tandem_kubelet::events::PodEvent;
use tandem_kubelet::status::human_duration;
use tandem_supervisor::logs::now_us;
use tandem_supervisor::statedir::Store;

use super::{existing_pod, list_pods, pod_name, read_pod, service_store};
use crate::cli::DescribeArgs;
use crate::errors::hint;
use crate::output::tabwriter::TabWriter;

/// Annotation values longer than this are cut, as kubectl cuts them.
const MAX_ANNOTATION: usize = 140;

pub fn describe(store: &Store, a: DescribeArgs) -> anyhow::Result<i32> {
    if a.args
        .iter()
        .any(|arg| is_service_kind(arg.split_once('/').map_or(arg.as_str(), |(kind, _)| kind)))
    {
        return describe_services(store, &a);
    }
    let mut names: Vec<String> = vec![];
    let mut kind_given = false;
    for (i, arg) in a.args.iter().enumerate() {
        match arg.split_once('/') {
            Some((kind, name)) if is_pod_kind(kind) => names.push(name.to_string()),
            Some((kind, _)) => return Err(unknown_kind(kind)),
            None if i == 0 && is_pod_kind(arg) => kind_given = true,
            None if i == 0 => return Err(unknown_kind(arg)),
            None => names.push(arg.clone()),
        }
    }
    if !kind_given && names.is_empty() {
        return Err(hint(
            "you must specify the type of resource to describe",
            "write `tandem describe pod NAME` (or `tandem describe pods` for all)",
        ));
    }
    let selector = super::label_selector(a.selector.as_deref())?;
    let dirs = if names.is_empty() {
        let mut dirs = vec![];
        for dir in list_pods(store)? {
            let Ok(pod) = read_pod(&dir) else { continue };
            let in_namespace =
                pod.metadata.namespace.as_deref().unwrap_or("default") == a.namespace;
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            if in_namespace && selector.as_ref().is_none_or(|s| s.matches(&labels)) {
                dirs.push((pod.metadata.name.clone().unwrap_or_default(), dir));
            }
        }
        if dirs.is_empty() {
            eprintln!("No resources found in {} namespace.", a.namespace);
            return Ok(0);
        }
        dirs.sort_by(|x, y| x.0.cmp(&y.0));
        dirs.into_iter().map(|(_, d)| d).collect()
    } else {
        names
            .iter()
            .map(|n| existing_pod(store, &a.namespace, pod_name(n)))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let now = now_us();
    let mut texts = vec![];
    for dir in dirs {
        let pod = read_pod(&dir)?;
        let plan: Option<PodPlan> = std::fs::read(dir.plan_json())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let events: Vec<PodEvent> = std::fs::read_to_string(dir.events())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        texts.push(describe_pod(&pod, plan.as_ref(), &events, now));
    }
    print!("{}", texts.join("\n\n"));
    Ok(0)
}

fn is_pod_kind(kind: &str) -> bool {
    matches!(kind, "pod" | "pods" | "po")
}

fn is_service_kind(kind: &str) -> bool {
    matches!(kind, "service" | "services" | "svc")
}

fn unknown_kind(kind: &str) -> anyhow::Error {
    hint(
        format!("the server doesn't have a resource type \"{kind}\""),
        "tandem describes pods and Services: `tandem describe pod NAME`, `tandem describe svc NAME`",
    )
}

/// `describe service [NAME...]` (`svc/NAME`): every Service of the namespace, or those named.
fn describe_services(store: &Store, a: &DescribeArgs) -> anyhow::Result<i32> {
    let mut names = vec![];
    for (i, arg) in a.args.iter().enumerate() {
        match arg.split_once('/') {
            Some((kind, name)) if is_service_kind(kind) => names.push(name.to_string()),
            Some((kind, _)) => return Err(unknown_kind(kind)),
            None if i == 0 && is_service_kind(arg) => {}
            None if i == 0 => return Err(unknown_kind(arg)),
            None => names.push(arg.clone()),
        }
    }
    let selector = super::label_selector(a.selector.as_deref())?;
    let given = service_store::manual_slices(store);
    let mut found: Vec<(String, String)> = service_store::list(store)
        .into_iter()
        .filter(|(_, s)| service_store::namespace_of(s) == a.namespace)
        .filter(|(_, s)| names.is_empty() || names.iter().any(|n| n == service_store::name_of(s)))
        .filter(|(_, s)| {
            let labels = s.metadata.labels.clone().unwrap_or_default();
            selector.as_ref().is_none_or(|sel| sel.matches(&labels))
        })
        .map(|(dir, s)| {
            let slices: Vec<_> = dir
                .slices()
                .into_iter()
                .chain(tandem_controllers::endpoints::labelled_for(&s, &given).cloned())
                .collect();
            (
                service_store::name_of(&s).to_string(),
                describe_service(&s, &slices),
            )
        })
        .collect();
    if let Some(missing) = names.iter().find(|n| !found.iter().any(|(f, _)| f == *n)) {
        return Err(crate::errors::not_found(
            "services",
            missing,
            "`tandem get services` lists the Services",
        ));
    }
    if found.is_empty() {
        eprintln!("No resources found in {} namespace.", a.namespace);
        return Ok(0);
    }
    found.sort();
    let texts: Vec<String> = found.into_iter().map(|(_, t)| t).collect();
    print!("{}", texts.join("\n\n"));
    Ok(0)
}

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

/// A pod as kubectl describes it; `now_us` dates the ages.
pub fn describe_pod(pod: &Pod, plan: Option<&PodPlan>, events: &[PodEvent], now_us: i64) -> String {
    let mut w = TabWriter::default();
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let line = |w: &mut TabWriter, level: usize, text: String| {
        w.write(&"  ".repeat(level));
        w.write(&text);
        w.write("\n");
    };
    line(
        &mut w,
        0,
        format!("Name:\t{}", meta.name.as_deref().unwrap_or_default()),
    );
    line(
        &mut w,
        0,
        format!(
            "Namespace:\t{}",
            meta.namespace.as_deref().unwrap_or("default")
        ),
    );
    if let Some(p) = spec.priority {
        line(&mut w, 0, format!("Priority:\t{p}"));
    }
    if let Some(p) = spec
        .priority_class_name
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        line(&mut w, 0, format!("Priority Class Name:\t{p}"));
    }
    if let Some(r) = spec.runtime_class_name.as_deref().filter(|r| !r.is_empty()) {
        line(&mut w, 0, format!("Runtime Class Name:\t{r}"));
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        line(&mut w, 0, format!("Service Account:\t{sa}"));
    }
    match spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        Some(node) => line(
            &mut w,
            0,
            format!(
                "Node:\t{node}/{}",
                status.host_ip.as_deref().unwrap_or_default()
            ),
        ),
        None => line(&mut w, 0, "Node:\t<none>".into()),
    }
    if let Some(t) = &status.start_time {
        line(&mut w, 0, format!("Start Time:\t{}", rfc1123z(t)));
    }
    multiline(&mut w, "Labels", meta.labels.as_ref(), false);
    multiline(&mut w, "Annotations", meta.annotations.as_ref(), true);
    let phase = status.phase.clone().unwrap_or_default();
    match (&meta.deletion_timestamp, phase.as_str()) {
        (Some(t), p) if p != "Failed" && p != "Succeeded" => {
            line(
                &mut w,
                0,
                format!("Status:\tTerminating (lasts {})", age(t, now_us)),
            );
            line(
                &mut w,
                0,
                format!(
                    "Termination Grace Period:\t{}s",
                    meta.deletion_grace_period_seconds.unwrap_or_default()
                ),
            );
        }
        _ => line(&mut w, 0, format!("Status:\t{phase}")),
    }
    if let Some(r) = status.reason.as_deref().filter(|r| !r.is_empty()) {
        line(&mut w, 0, format!("Reason:\t{r}"));
    }
    if let Some(m) = status.message.as_deref().filter(|m| !m.is_empty()) {
        line(&mut w, 0, format!("Message:\t{m}"));
    }
    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        line(&mut w, 0, format!("SeccompProfile:\t{}", profile.type_));
        if let Some(l) = &profile.localhost_profile {
            line(&mut w, 0, format!("LocalhostProfile:\t{l}"));
        }
    }
    line(
        &mut w,
        0,
        format!("IP:\t{}", status.pod_ip.as_deref().unwrap_or_default()),
    );
    match status.pod_ips.as_deref().filter(|ips| !ips.is_empty()) {
        None => line(&mut w, 0, "IPs:\t<none>".into()),
        Some(ips) => {
            line(&mut w, 0, "IPs:".into());
            for ip in ips {
                line(&mut w, 1, format!("IP:\t{}", ip.ip));
            }
        }
    }
    if let Some(owner) = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    {
        line(
            &mut w,
            0,
            format!("Controlled By:\t{}/{}", owner.kind, owner.name),
        );
    }
    let env_of = EnvValues { pod, plan };
    if let Some(inits) = spec.init_containers.as_ref().filter(|i| !i.is_empty()) {
        containers(
            &mut w,
            "Init Containers",
            inits,
            status
                .init_container_statuses
                .as_deref()
                .unwrap_or_default(),
            &env_of,
        );
    }
    containers(
        &mut w,
        "Containers",
        &spec.containers,
        status.container_statuses.as_deref().unwrap_or_default(),
        &env_of,
    );
    // kubectl describes them as containers (the same fields, but the target).
    let ephemeral: Vec<Container> = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .filter_map(|e| {
            let mut v = serde_json::to_value(e).ok()?;
            v.as_object_mut()?.remove("targetContainerName");
            serde_json::from_value(v).ok()
        })
        .collect();
    if !ephemeral.is_empty() {
        containers(
            &mut w,
            "Ephemeral Containers",
            &ephemeral,
            status
                .ephemeral_container_statuses
                .as_deref()
                .unwrap_or_default(),
            &env_of,
        );
    }
    let conditions = status.conditions.clone().unwrap_or_default();
    if let Some(gates) = spec.readiness_gates.as_ref().filter(|g| !g.is_empty()) {
        line(&mut w, 0, "Readiness Gates:".into());
        line(&mut w, 1, "Type\tStatus".into());
        for g in gates {
            let s = conditions
                .iter()
                .find(|c| c.type_ == g.condition_type)
                .map_or("<none>", |c| c.status.as_str());
            line(&mut w, 1, format!("{} \t{s} ", g.condition_type));
        }
    }
    if !conditions.is_empty() {
        line(&mut w, 0, "Conditions:".into());
        line(&mut w, 1, "Type\tStatus".into());
        for c in &conditions {
            line(&mut w, 1, format!("{} \t{} ", c.type_, c.status));
        }
    }
    volumes(&mut w, spec.volumes.as_deref().unwrap_or_default());
    line(
        &mut w,
        0,
        format!(
            "QoS Class:\t{}",
            status.qos_class.as_deref().unwrap_or_default()
        ),
    );
    multiline(&mut w, "Node-Selectors", spec.node_selector.as_ref(), false);
    let tolerations: Vec<String> = {
        let mut t = spec.tolerations.clone().unwrap_or_default();
        t.sort_by(|a, b| a.key.cmp(&b.key));
        t.iter()
            .map(|t| {
                let mut s = t.key.clone().unwrap_or_default();
                if let Some(v) = t.value.as_deref().filter(|v| !v.is_empty()) {
                    s.push_str(&format!("={v}"));
                }
                if let Some(e) = t.effect.as_deref().filter(|e| !e.is_empty()) {
                    s.push_str(&format!(":{e}"));
                }
                if t.operator.as_deref() == Some("Exists")
                    && t.value.as_deref().unwrap_or("").is_empty()
                {
                    s.push_str(if s.is_empty() {
                        "op=Exists"
                    } else {
                        " op=Exists"
                    });
                }
                if let Some(secs) = t.toleration_seconds {
                    s.push_str(&format!(" for {secs}s"));
                }
                s
            })
            .collect()
    };
    list(&mut w, "Tolerations", &tolerations);
    w.flush();
    describe_events(&mut w, events, now_us);
    w.finish()
}

/// `Title:\tk=v` lines, sorted by key, `<none>` when empty; annotations are cut as kubectl cuts
/// them.
fn multiline(
    w: &mut TabWriter,
    title: &str,
    map: Option<&BTreeMap<String, String>>,
    annotations: bool,
) {
    let entries: Vec<String> = map
        .into_iter()
        .flatten()
        .filter(|(k, _)| {
            !(annotations && k.as_str() == "kubectl.kubernetes.io/last-applied-configuration")
        })
        .map(|(k, v)| {
            if !annotations {
                return format!("{k}={v}");
            }
            let v = v.strip_suffix('\n').unwrap_or(v);
            if v.len() + k.len() + 2 > MAX_ANNOTATION || v.contains('\n') {
                let lines: Vec<String> = v
                    .split('\n')
                    .map(|l| format!("\t  {}", shorten(l, MAX_ANNOTATION - 2)))
                    .collect();
                format!("{k}:\n{}", lines.join("\n"))
            } else {
                format!("{k}: {v}")
            }
        })
        .collect();
    list(w, title, &entries);
}

fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}

/// `Title:\tfirst` then `\tnext` lines, or `Title:\t<none>`.
fn list(w: &mut TabWriter, title: &str, entries: &[String]) {
    w.write(&format!("{title}:\t"));
    if entries.is_empty() {
        w.write("<none>\n");
        return;
    }
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            w.write("\t");
        }
        w.write(e);
        w.write("\n");
    }
}

/// Resolves `valueFrom` entries for the Environment section.
struct EnvValues<'a> {
    pod: &'a Pod,
    plan: Option<&'a PodPlan>,
}

impl EnvValues<'_> {
    fn facts(&self) -> RuntimeFacts {
        let status = self.pod.status.clone().unwrap_or_default();
        RuntimeFacts {
            pod_ip: status.pod_ip.clone().unwrap_or_default(),
            pod_ips: status
                .pod_ips
                .iter()
                .flatten()
                .map(|i| i.ip.clone())
                .collect(),
            host_ip: status.host_ip.clone().unwrap_or_default(),
            ..Default::default()
        }
    }

    fn field(&self, path: &str) -> String {
        self.plan
            .and_then(|p| tandem_api::env::resolve_field_ref(p, path, &self.facts()).ok())
            .unwrap_or_default()
    }

    fn resource(
        &self,
        container: &Container,
        resource: &str,
        container_name: &str,
        divisor: &str,
    ) -> String {
        let target = if container_name.is_empty() {
            container.name.as_str()
        } else {
            container_name
        };
        let limit_unset =
            self.plan
                .and_then(|p| p.container(target))
                .is_some_and(|c| match resource {
                    "limits.cpu" => c.resources.limits.cpu_millis.is_none(),
                    "limits.memory" => c.resources.limits.memory_bytes.is_none(),
                    _ => false,
                });
        if limit_unset {
            return "node allocatable".into();
        }
        let r = ResourceFieldRef {
            container_name: target.to_string(),
            resource: resource.to_string(),
            divisor: divisor.to_string(),
        };
        self.plan
            .and_then(|p| tandem_api::env::resolve_resource_field_ref(p, &r, &self.facts()).ok())
            .unwrap_or_default()
    }
}

fn containers(
    w: &mut TabWriter,
    label: &str,
    list: &[Container],
    statuses: &[ContainerStatus],
    env: &EnvValues<'_>,
) {
    let line = |w: &mut TabWriter, level: usize, text: String| {
        w.write(&"  ".repeat(level));
        w.write(&text);
        w.write("\n");
    };
    line(
        w,
        0,
        format!("{label}:{}", if list.is_empty() { " <none>" } else { "" }),
    );
    for c in list {
        let status = statuses.iter().find(|s| s.name == c.name);
        line(w, 1, format!("{}:", c.name));
        if let Some(s) = status {
            line(
                w,
                2,
                format!(
                    "Container ID:\t{}",
                    s.container_id.as_deref().unwrap_or_default()
                ),
            );
        }
        line(
            w,
            2,
            format!("Image:\t{}", c.image.as_deref().unwrap_or_default()),
        );
        if let Some(s) = status {
            line(w, 2, format!("Image ID:\t{}", s.image_id));
        }
        let ports = c.ports.as_deref().unwrap_or_default();
        let port = |p: i32, proto: &Option<String>, name: &Option<String>| {
            let mut s = format!("{p}/{}", proto.as_deref().unwrap_or("TCP"));
            if let Some(n) = name.as_deref().filter(|n| !n.is_empty()) {
                s.push_str(&format!(" ({n})"));
            }
            s
        };
        let cports: Vec<String> = ports
            .iter()
            .map(|p| port(p.container_port, &p.protocol, &p.name))
            .collect();
        let hports: Vec<String> = ports
            .iter()
            .map(|p| port(p.host_port.unwrap_or(0), &p.protocol, &p.name))
            .collect();
        for (one, many, values) in [
            ("Port", "Ports", cports),
            ("Host Port", "Host Ports", hports),
        ] {
            let joined = values.join(", ");
            if joined.contains(',') {
                line(w, 2, format!("{many}:\t{joined}"));
            } else {
                line(
                    w,
                    2,
                    format!(
                        "{one}:\t{}",
                        if joined.is_empty() { "<none>" } else { &joined }
                    ),
                );
            }
        }
        if let Some(profile) = c
            .security_context
            .as_ref()
            .and_then(|s| s.seccomp_profile.as_ref())
        {
            line(w, 2, format!("SeccompProfile:\t{}", profile.type_));
            if let Some(l) = &profile.localhost_profile {
                line(w, 3, format!("LocalhostProfile:\t{l}"));
            }
        }
        for (title, words) in [("Command", &c.command), ("Args", &c.args)] {
            if let Some(words) = words.as_ref().filter(|w| !w.is_empty()) {
                line(w, 2, format!("{title}:"));
                for word in words {
                    for part in word.split('\n') {
                        line(w, 3, part.to_string());
                    }
                }
            }
        }
        if let Some(s) = status {
            state(w, "State", s.state.as_ref());
            if let Some(last) = s.last_state.as_ref().filter(|l| l.terminated.is_some()) {
                state(w, "Last State", Some(last));
            }
            line(
                w,
                2,
                format!("Ready:\t{}", if s.ready { "True" } else { "False" }),
            );
            line(w, 2, format!("Restart Count:\t{}", s.restart_count));
        }
        if let Some(r) = &c.resources {
            for (title, map) in [("Limits", &r.limits), ("Requests", &r.requests)] {
                if let Some(map) = map.as_ref().filter(|m| !m.is_empty()) {
                    line(w, 2, format!("{title}:"));
                    for (name, q) in map {
                        line(w, 3, format!("{name}:\t{}", q.0));
                    }
                }
            }
        }
        for (title, probe) in [
            ("Liveness", &c.liveness_probe),
            ("Readiness", &c.readiness_probe),
            ("Startup", &c.startup_probe),
        ] {
            if let Some(p) = probe {
                line(w, 2, format!("{title}:\t{}", describe_probe(p)));
            }
        }
        if let Some(from) = c.env_from.as_ref().filter(|f| !f.is_empty()) {
            line(w, 2, "Environment Variables from:".into());
            for e in from {
                let (name, kind, optional) = match (&e.config_map_ref, &e.secret_ref) {
                    (Some(cm), _) => (cm.name.clone(), "ConfigMap", cm.optional.unwrap_or(false)),
                    (None, Some(s)) => (s.name.clone(), "Secret", s.optional.unwrap_or(false)),
                    (None, None) => (String::new(), "", false),
                };
                match e.prefix.as_deref().filter(|p| !p.is_empty()) {
                    Some(p) => line(
                        w,
                        3,
                        format!("{name}\t{kind} with prefix '{p}'\tOptional: {optional}"),
                    ),
                    None => line(w, 3, format!("{name}\t{kind}\tOptional: {optional}")),
                }
            }
        }
        let vars = c.env.as_deref().unwrap_or_default();
        line(
            w,
            2,
            format!(
                "Environment:{}",
                if vars.is_empty() { "\t<none>" } else { "" }
            ),
        );
        for e in vars {
            env_line(w, c, e, env);
        }
        let mut mounts = c.volume_mounts.clone().unwrap_or_default();
        mounts.sort_by(|a, b| a.mount_path.cmp(&b.mount_path));
        line(
            w,
            2,
            format!("Mounts:{}", if mounts.is_empty() { "\t<none>" } else { "" }),
        );
        for m in &mounts {
            let mut flags = vec![if m.read_only == Some(true) {
                "ro".to_string()
            } else {
                "rw".to_string()
            }];
            if let Some(sub) = m.sub_path.as_deref().filter(|s| !s.is_empty()) {
                flags.push(format!("path={sub:?}"));
            }
            line(
                w,
                3,
                format!("{} from {} ({})", m.mount_path, m.name, flags.join(",")),
            );
        }
    }
}

fn env_line(w: &mut TabWriter, c: &Container, e: &EnvVar, env: &EnvValues<'_>) {
    let pad = "      ";
    let Some(from) = &e.value_from else {
        for (i, part) in e
            .value
            .as_deref()
            .unwrap_or_default()
            .split('\n')
            .enumerate()
        {
            if i == 0 {
                w.write(&format!("{pad}{}:\t{part}\n", e.name));
            } else {
                w.write(&format!("{pad}\t{part}\n"));
            }
        }
        return;
    };
    if let Some(f) = &from.field_ref {
        let api = f.api_version.as_deref().unwrap_or("v1");
        w.write(&format!(
            "{pad}{}:\t{} ({api}:{})\n",
            e.name,
            env.field(&f.field_path),
            f.field_path
        ));
    } else if let Some(r) = &from.resource_field_ref {
        let value = env.resource(
            c,
            &r.resource,
            r.container_name.as_deref().unwrap_or_default(),
            r.divisor.as_ref().map_or("", |d| d.0.as_str()),
        );
        w.write(&format!("{pad}{}:\t{value} ({})\n", e.name, r.resource));
    } else if let Some(s) = &from.secret_key_ref {
        w.write(&format!(
            "{pad}{}:\t<set to the key '{}' in secret '{}'>\tOptional: {}\n",
            e.name,
            s.key,
            s.name,
            s.optional.unwrap_or(false)
        ));
    } else if let Some(cm) = &from.config_map_key_ref {
        w.write(&format!(
            "{pad}{}:\t<set to the key '{}' of config map '{}'>\tOptional: {}\n",
            e.name,
            cm.key,
            cm.name,
            cm.optional.unwrap_or(false)
        ));
    }
}

fn state(w: &mut TabWriter, title: &str, state: Option<&ContainerState>) {
    let pad = "    ";
    let inner = "      ";
    let state = state.cloned().unwrap_or_default();
    if let Some(r) = &state.running {
        w.write(&format!("{pad}{title}:\tRunning\n"));
        if let Some(t) = &r.started_at {
            w.write(&format!("{inner}Started:\t{}\n", rfc1123z(t)));
        }
    } else if let Some(t) = &state.terminated {
        w.write(&format!("{pad}{title}:\tTerminated\n"));
        if let Some(r) = t.reason.as_deref().filter(|r| !r.is_empty()) {
            w.write(&format!("{inner}Reason:\t{r}\n"));
        }
        if let Some(m) = t.message.as_deref().filter(|m| !m.is_empty()) {
            w.write(&format!("{inner}Message:\t{m}\n"));
        }
        w.write(&format!("{inner}Exit Code:\t{}\n", t.exit_code));
        if let Some(s) = t.signal.filter(|s| *s > 0) {
            w.write(&format!("{inner}Signal:\t{s}\n"));
        }
        let when = |t: &Option<Time>| t.as_ref().map_or_else(rfc1123z_zero, rfc1123z);
        w.write(&format!("{inner}Started:\t{}\n", when(&t.started_at)));
        w.write(&format!("{inner}Finished:\t{}\n", when(&t.finished_at)));
    } else {
        w.write(&format!("{pad}{title}:\tWaiting\n"));
        if let Some(r) = state
            .waiting
            .as_ref()
            .and_then(|wt| wt.reason.as_deref())
            .filter(|r| !r.is_empty())
        {
            w.write(&format!("{inner}Reason:\t{r}\n"));
        }
    }
}

/// A probe in one line: `exec [cat /tmp/ok] delay=0s timeout=1s period=10s #success=1 #failure=3`
/// as kubectl 1.33 writes it.
fn describe_probe(p: &Probe) -> String {
    let attrs = format!(
        "delay={}s timeout={}s period={}s successThreshold={} failureThreshold={}",
        p.initial_delay_seconds.unwrap_or(0),
        p.timeout_seconds.unwrap_or(1),
        p.period_seconds.unwrap_or(10),
        p.success_threshold.unwrap_or(1),
        p.failure_threshold.unwrap_or(3)
    );
    let port = |p: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString| match p {
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(i) => i.to_string(),
        k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(s) => s.clone(),
    };
    if let Some(e) = &p.exec {
        return format!(
            "exec [{}] {attrs}",
            e.command.clone().unwrap_or_default().join(" ")
        );
    }
    if let Some(h) = &p.http_get {
        let host = h.host.clone().unwrap_or_default();
        let port = port(&h.port);
        let hostport = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let scheme = h.scheme.as_deref().unwrap_or("HTTP").to_lowercase();
        return format!(
            "http-get {scheme}://{hostport}{} {attrs}",
            h.path.as_deref().unwrap_or_default()
        );
    }
    if let Some(t) = &p.tcp_socket {
        return format!(
            "tcp-socket {}:{} {attrs}",
            t.host.as_deref().unwrap_or_default(),
            port(&t.port)
        );
    }
    if let Some(g) = &p.grpc {
        return format!(
            "grpc <pod>:{} {} {attrs}",
            g.port,
            g.service.as_deref().unwrap_or_default()
        );
    }
    format!("unknown {attrs}")
}

fn volumes(w: &mut TabWriter, volumes: &[Volume]) {
    if volumes.is_empty() {
        w.write("Volumes:\t<none>\n");
        return;
    }
    w.write("Volumes:\n");
    let two = "    ";
    for v in volumes {
        w.write(&format!("  {}:\n", v.name));
        if let Some(e) = &v.empty_dir {
            let size = e
                .size_limit
                .as_ref()
                .map(|q| q.0.clone())
                .filter(|q| !q.is_empty() && q != "0")
                .unwrap_or_else(|| "<unset>".into());
            w.write(&format!(
                "{two}Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n{two}Medium:\t{}\n{two}SizeLimit:\t{size}\n",
                e.medium.as_deref().unwrap_or_default()
            ));
        } else if let Some(h) = &v.host_path {
            w.write(&format!(
                "{two}Type:\tHostPath (bare host directory volume)\n{two}Path:\t{}\n{two}HostPathType:\t{}\n",
                h.path,
                h.type_.as_deref().unwrap_or("<none>")
            ));
        } else if let Some(s) = &v.secret {
            w.write(&format!(
                "{two}Type:\tSecret (a volume populated by a Secret)\n{two}SecretName:\t{}\n{two}Optional:\t{}\n",
                s.secret_name.as_deref().unwrap_or_default(),
                s.optional.unwrap_or(false)
            ));
        } else if let Some(c) = &v.config_map {
            w.write(&format!(
                "{two}Type:\tConfigMap (a volume populated by a ConfigMap)\n{two}Name:\t{}\n{two}Optional:\t{}\n",
                c.name,
                c.optional.unwrap_or(false)
            ));
        } else if let Some(d) = &v.downward_api {
            w.write(&format!(
                "{two}Type:\tDownwardAPI (a volume populated by information about the pod)\n{two}Items:\n"
            ));
            for item in d.items.iter().flatten() {
                if let Some(f) = &item.field_ref {
                    w.write(&format!("      {} -> {}\n", f.field_path, item.path));
                }
                if let Some(r) = &item.resource_field_ref {
                    w.write(&format!("      {} -> {}\n", r.resource, item.path));
                }
            }
        } else if let Some(p) = &v.projected {
            w.write(&format!(
                "{two}Type:\tProjected (a volume that contains injected data from multiple sources)\n"
            ));
            for s in p.sources.iter().flatten() {
                if let Some(sec) = &s.secret {
                    w.write(&format!(
                        "{two}SecretName:\t{}\n{two}Optional:\t{}\n",
                        sec.name,
                        sec.optional.unwrap_or(false)
                    ));
                } else if s.downward_api.is_some() {
                    w.write(&format!("{two}DownwardAPI:\ttrue\n"));
                } else if let Some(cm) = &s.config_map {
                    w.write(&format!(
                        "{two}ConfigMapName:\t{}\n{two}Optional:\t{}\n",
                        cm.name,
                        cm.optional.unwrap_or(false)
                    ));
                } else if let Some(t) = &s.service_account_token {
                    w.write(&format!(
                        "{two}TokenExpirationSeconds:\t{}\n",
                        t.expiration_seconds.unwrap_or(3607)
                    ));
                }
            }
        } else if let Some(c) = &v.persistent_volume_claim {
            w.write(&format!(
                "{two}Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n{two}ClaimName:\t{}\n{two}ReadOnly:\t{}\n",
                c.claim_name,
                c.read_only.unwrap_or(false)
            ));
        } else if let Some(i) = &v.image {
            w.write(&format!(
                "{two}Type:\tImage (a container image or OCI artifact)\n{two}Reference:\t{}\n{two}PullPolicy:\t{}\n",
                i.reference.as_deref().unwrap_or_default(),
                i.pull_policy.as_deref().unwrap_or_default()
            ));
        } else {
            w.write("  <unknown>\n");
        }
    }
}

/// The Events table: identical events (type, reason, container, message) folded into one with
/// their count, as the kubelet's event recorder folds them, ordered by their last time.
fn describe_events(w: &mut TabWriter, events: &[PodEvent], now_us: i64) {
    if events.is_empty() {
        w.write("Events:\t<none>\n");
        return;
    }
    struct Folded<'a> {
        first: i64,
        last: i64,
        count: usize,
        event: &'a PodEvent,
    }
    let mut folded: Vec<Folded<'_>> = vec![];
    for e in events {
        let same = folded.iter_mut().find(|f| {
            f.event.kind == e.kind
                && f.event.reason == e.reason
                && f.event.container == e.container
                && f.event.message == e.message
        });
        match same {
            Some(f) => {
                f.count += 1;
                f.first = f.first.min(e.time_us);
                f.last = f.last.max(e.time_us);
            }
            None => folded.push(Folded {
                first: e.time_us,
                last: e.time_us,
                count: 1,
                event: e,
            }),
        }
    }
    folded.sort_by_key(|f| f.last);
    let ago = |t: i64| human_duration(((now_us - t).max(0) / 1_000_000) as u64);
    w.write("Events:\n  Type\tReason\tAge\tFrom\tMessage\n");
    w.write("  ----\t------\t----\t----\t-------\n");
    for f in &folded {
        let interval = if f.count > 1 {
            format!("{} (x{} over {})", ago(f.last), f.count, ago(f.first))
        } else {
            ago(f.first)
        };
        w.write(&format!(
            "  {:?}\t{}\t{interval}\t{}\t{}\n",
            f.event.kind,
            f.event.reason,
            "kubelet",
            f.event.message.trim()
        ));
    }
}

/// How long ago `t` was, as kubectl's ages read.
fn age(t: &Time, now_us: i64) -> String {
    human_duration(((now_us - t.0.as_microsecond()).max(0) / 1_000_000) as u64)
}

/// `Mon, 02 Jan 2006 15:04:05 -0700` in this machine's time zone, as kubectl prints times.
fn rfc1123z(t: &Time) -> String {
    let zoned = t.0.to_zoned(k8s_openapi::jiff::tz::TimeZone::system());
    zoned.strftime("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// Go's zero time, which kubectl prints for a time never set.
fn rfc1123z_zero() -> String {
    "Mon, 01 Jan 0001 00:00:00 +0000".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crash-looping pod with a native sidecar, laid out line for line as kubectl 1.33's
    /// `describePod` writes it: tabwriter columns per run of lines (a container without a
    /// command has one run from `Container ID:` to `Mounts:`, so all of it is padded to
    /// `Restart Count:`), condition cells keeping their trailing space, flushed before Events.
    #[test]
    fn a_pod_reads_as_kubectl_describes_it() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "initContainers": [{"name": "proxy", "image": "busybox", "restartPolicy": "Always",
                    "ports": [{"containerPort": 15001, "protocol": "TCP"}]}],
                "containers": [{"name": "app", "image": "busybox", "command": ["sh", "-c", "exit 1"],
                    "env": [{"name": "MODE", "value": "a\nb"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}]}],
                "volumes": [{"name": "data", "emptyDir": {}}]
            },
            "status": {
                "phase": "Running", "podIP": "10.87.0.5", "podIPs": [{"ip": "10.87.0.5"}],
                "qosClass": "BestEffort",
                "conditions": [{"type": "Ready", "status": "False"}],
                "initContainerStatuses": [{"name": "proxy", "image": "busybox", "imageID": "", "ready": true,
                    "restartCount": 0, "state": {"running": {"startedAt": "2026-12-05T10:00:00Z"}}}],
                "containerStatuses": [{"name": "app", "image": "busybox", "imageID": "", "ready": false,
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "startedAt": "2026-12-05T10:00:40Z", "finishedAt": "2026-12-05T10:00:41Z"}}}]
            }
        }))
        .expect("a pod");
        let event = |secs: i64, kind: &str, reason: &str, message: &str| -> PodEvent {
            serde_json::from_value(serde_json::json!({
                "time_us": (1_796_551_200 + secs) * 1_000_000,
                "type": kind, "reason": reason, "message": message
            }))
            .expect("an event")
        };
        let events = vec![
            event(0, "Normal", "Started", "Started container proxy"),
            event(
                10,
                "Warning",
                "BackOff",
                "Back-off restarting failed container app",
            ),
            event(
                30,
                "Warning",
                "BackOff",
                "Back-off restarting failed container app",
            ),
        ];
        let now = (1_796_551_200 + 60) * 1_000_000;
        let text = describe_pod(&pod, None, &events, now);
        let want = "\
Name:         web
Namespace:    default
Node:         <none>
Labels:       app=web
Annotations:  <none>
Status:       Running
IP:           10.87.0.5
IPs:
  IP:  10.87.0.5
Init Containers:
  proxy:
    Container ID:   
    Image:          busybox
    Image ID:       
    Port:           15001/TCP
    Host Port:      0/TCP
    State:          Running
      Started:      Sat, 05 Dec 2026 10:00:00 +0000
    Ready:          True
    Restart Count:  0
    Environment:    <none>
    Mounts:         <none>
Containers:
  app:
    Container ID:  
    Image:         busybox
    Image ID:      
    Port:          <none>
    Host Port:     <none>
    Command:
      sh
      -c
      exit 1
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
      Started:      Sat, 05 Dec 2026 10:00:40 +0000
      Finished:     Sat, 05 Dec 2026 10:00:41 +0000
    Ready:          False
    Restart Count:  3
    Environment:
      MODE:  a
             b
    Mounts:
      /data from data (ro)
Conditions:
  Type    Status
  Ready   False 
Volumes:
  data:
    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:      
    SizeLimit:   <unset>
QoS Class:       BestEffort
Node-Selectors:  <none>
Tolerations:     <none>
Events:
  Type     Reason   Age                From     Message
  ----     ------   ----               ----     -------
  Normal   Started  60s                kubelet  Started container proxy
  Warning  BackOff  30s (x2 over 50s)  kubelet  Back-off restarting failed container app
";
        // Times are printed in this machine's zone, as kubectl prints them; elsewhere than in
        // UTC, only those lines differ.
        let utc =
            rfc1123z(&Time("2026-12-05T10:00:00Z".parse().expect("a time"))).ends_with("+0000");
        let strip = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| utc || !(l.contains("Started:") || l.contains("Finished:")))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(strip(&text), strip(want));
    }

    #[test]
    fn probes_read_as_kubectl_writes_them() {
        let p: Probe = serde_json::from_str(
            r#"{"httpGet":{"path":"/healthz","port":8080},"periodSeconds":5}"#,
        )
        .expect("probe");
        assert_eq!(
            describe_probe(&p),
            "http-get http://:8080/healthz delay=0s timeout=1s period=5s successThreshold=1 failureThreshold=3"
        );
        let p: Probe =
            serde_json::from_str(r#"{"exec":{"command":["cat","/tmp/ok"]},"failureThreshold":1}"#)
                .expect("probe");
        assert_eq!(
            describe_probe(&p),
            "exec [cat /tmp/ok] delay=0s timeout=1s period=10s successThreshold=1 failureThreshold=1"
        );
        let p: Probe = serde_json::from_str(r#"{"tcpSocket":{"port":"http"}}"#).expect("probe");
        assert!(describe_probe(&p).starts_with("tcp-socket :http delay=0s"));
    }
}
