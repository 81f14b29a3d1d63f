//! What every description is made of, written as kubectl's `pkg/describe` writes it: labels and
//! annotations, containers (of a pod, or of a template: no status), probes, volumes, tolerations,
//! the Events table, times and ages.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStatus, EnvVar, Pod, PodSpec, PodTemplateSpec, Probe,
    Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use tandem_api::env::RuntimeFacts;
use tandem_api::plan::{PodPlan, ResourceFieldRef};
use tandem_kubelet::status::human_duration;

use crate::output::tabwriter::TabWriter;

/// Annotation values longer than this are cut, as kubectl cuts them.
const MAX_ANNOTATION: usize = 140;

/// `Title:\tk=v` lines, sorted by key, `<none>` when empty; annotations are cut as kubectl cuts
/// them.
pub(super) fn multiline(
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
pub(super) fn list(w: &mut TabWriter, title: &str, entries: &[String]) {
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
pub(super) struct EnvValues<'a> {
    pub pod: &'a Pod,
    pub plan: Option<&'a PodPlan>,
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

    /// A `fieldRef`'s value as kubectl shows it: kubectl's own scheme converts only
    /// `metadata.name` and `metadata.namespace` for a pod, and leaves the others blank.
    fn field(&self, path: &str) -> String {
        if !matches!(path, "metadata.name" | "metadata.namespace") {
            return String::new();
        }
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
        if self.plan.is_none() {
            return template_resource(container, resource, divisor);
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

/// A resource of a template's container as its environment would see it (no pod, no plan):
/// the container's own request or limit over the divisor, rounded up as the kubelet rounds it,
/// or `node allocatable` for a CPU or memory limit not set.
fn template_resource(container: &Container, resource: &str, divisor: &str) -> String {
    use tandem_api::quantity::parse_quantity;
    let Some((section, name)) = resource.split_once('.') else {
        return String::new();
    };
    let resources = container.resources.clone().unwrap_or_default();
    let map = if section == "limits" {
        resources.limits
    } else {
        resources.requests
    };
    let Some(q) = map.unwrap_or_default().get(name).map(|q| q.0.clone()) else {
        return match (section, name) {
            ("limits", "cpu" | "memory") => "node allocatable".into(),
            _ => "0".into(),
        };
    };
    let divisor = if divisor.trim().is_empty() {
        "1"
    } else {
        divisor
    };
    let (Ok(q), Ok(d)) = (parse_quantity(&q), parse_quantity(divisor)) else {
        return String::new();
    };
    let (amount, unit) = if name == "cpu" {
        (q.cpu_millis(), d.cpu_millis())
    } else {
        (q.bytes(), d.bytes())
    };
    match (amount, unit.filter(|u| *u > 0)) {
        (Some(a), Some(u)) => a.div_ceil(u).to_string(),
        _ => String::new(),
    }
}

/// A pod's containers, or (`space` "  ", no statuses) a template's, whose labels kubectl indents
/// and whose names it moves by one space.
pub(super) fn containers(
    w: &mut TabWriter,
    label: &str,
    list: &[Container],
    statuses: &[ContainerStatus],
    env: &EnvValues<'_>,
    space: &str,
) {
    let line = |w: &mut TabWriter, level: usize, text: String| {
        w.write(&"  ".repeat(level));
        w.write(&text);
        w.write("\n");
    };
    line(
        w,
        0,
        format!(
            "{space}{label}:{}",
            if list.is_empty() { " <none>" } else { "" }
        ),
    );
    let name_indent = if space.is_empty() { "" } else { " " };
    for c in list {
        let status = statuses.iter().find(|s| s.name == c.name);
        line(w, 1, format!("{name_indent}{}:", c.name));
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
        // kubectl 1.33 writes no port names (later releases add them).
        let port =
            |p: i32, proto: &Option<String>| format!("{p}/{}", proto.as_deref().unwrap_or("TCP"));
        let cports: Vec<String> = ports
            .iter()
            .map(|p| port(p.container_port, &p.protocol))
            .collect();
        let hports: Vec<String> = ports
            .iter()
            .map(|p| port(p.host_port.unwrap_or(0), &p.protocol))
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
pub(super) fn describe_probe(p: &Probe) -> String {
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

/// A pod's volumes, or (`space` "  ") a template's.
pub(super) fn volumes(w: &mut TabWriter, volumes: &[Volume], space: &str) {
    if volumes.is_empty() {
        w.write(&format!("{space}Volumes:\t<none>\n"));
        return;
    }
    w.write(&format!("{space}Volumes:\n"));
    let two = "    ";
    let name_indent = if space.is_empty() { "" } else { " " };
    for v in volumes {
        w.write(&format!("  {name_indent}{}:\n", v.name));
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

/// A pod's tolerations as kubectl lists them, sorted by key: `key=value:Effect`, ` op=Exists`
/// for a key tolerated whatever its value, ` for Ns`.
pub(super) fn tolerations(spec: &PodSpec) -> Vec<String> {
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
}

/// A pod's topology spread constraints, sorted by topology key, when it has any.
pub(super) fn topology_spread(w: &mut TabWriter, spec: &PodSpec, space: &str) {
    let mut list = spec.topology_spread_constraints.clone().unwrap_or_default();
    if list.is_empty() {
        return;
    }
    list.sort_by(|a, b| a.topology_key.cmp(&b.topology_key));
    w.write(&format!("{space}Topology Spread Constraints:\t"));
    for (i, t) in list.iter().enumerate() {
        if i > 0 {
            w.write(&format!("{space}\t"));
        }
        w.write(&format!(
            "{}:{} when max skew {} is exceeded",
            t.topology_key, t.when_unsatisfiable, t.max_skew
        ));
        if let Some(s) = &t.label_selector {
            w.write(&format!(
                " for selector {}",
                crate::commands::workloads::label_selector_text(s)
            ));
        }
        w.write("\n");
    }
}

/// A workload's pod template as kubectl's `DescribePodTemplate` writes it: the template's
/// labels, containers and volumes one level in, with no status.
pub(super) fn pod_template(w: &mut TabWriter, template: &PodTemplateSpec) {
    w.write("Pod Template:\n");
    let meta = template.metadata.clone().unwrap_or_default();
    let spec = template.spec.clone().unwrap_or_default();
    multiline(w, "  Labels", meta.labels.as_ref(), false);
    if meta.annotations.as_ref().is_some_and(|a| !a.is_empty()) {
        multiline(w, "  Annotations", meta.annotations.as_ref(), true);
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        w.write(&format!("  Service Account:\t{sa}\n"));
    }
    let pod = Pod {
        metadata: meta,
        spec: Some(spec.clone()),
        status: None,
    };
    let env = EnvValues {
        pod: &pod,
        plan: None,
    };
    if let Some(inits) = spec.init_containers.as_ref().filter(|i| !i.is_empty()) {
        containers(w, "Init Containers", inits, &[], &env, "  ");
    }
    containers(w, "Containers", &spec.containers, &[], &env, "  ");
    volumes(w, spec.volumes.as_deref().unwrap_or_default(), "  ");
    topology_spread(w, &spec, "  ");
    if let Some(p) = spec
        .priority_class_name
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        w.write(&format!("  Priority Class Name:\t{p}\n"));
    }
    multiline(w, "  Node-Selectors", spec.node_selector.as_ref(), false);
    list(w, "  Tolerations", &tolerations(&spec));
}

/// One event as the Events table shows it.
pub(super) struct EventRow {
    pub time_us: i64,
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    /// The component that recorded it: `kubelet`, `deployment-controller`, …
    pub from: String,
    pub message: String,
    /// What else tells two events with the same words apart: the container a pod's event is
    /// about.
    pub about: Option<String>,
}

/// The Events table: identical events (type, reason, source, what they are about, message)
/// folded into one with their count, as the event recorders fold them, ordered by their last
/// time.
pub(super) fn events(w: &mut TabWriter, events: &[EventRow], now_us: i64) {
    if events.is_empty() {
        w.write("Events:\t<none>\n");
        return;
    }
    struct Folded<'a> {
        first: i64,
        last: i64,
        count: usize,
        event: &'a EventRow,
    }
    let mut folded: Vec<Folded<'_>> = vec![];
    for e in events {
        let same = folded.iter_mut().find(|f| {
            f.event.kind == e.kind
                && f.event.reason == e.reason
                && f.event.from == e.from
                && f.event.about == e.about
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
            "  {}\t{}\t{interval}\t{}\t{}\n",
            f.event.kind,
            f.event.reason,
            f.event.from,
            f.event.message.trim()
        ));
    }
}

/// How long ago `t` was, as kubectl's ages read.
pub(super) fn age(t: &Time, now_us: i64) -> String {
    human_duration(((now_us - t.0.as_microsecond()).max(0) / 1_000_000) as u64)
}

/// `Mon, 02 Jan 2006 15:04:05 -0700` in this machine's time zone, as kubectl prints times.
pub(super) fn rfc1123z(t: &Time) -> String {
    let zoned = t.0.to_zoned(k8s_openapi::jiff::tz::TimeZone::system());
    zoned.strftime("%a, %d %b %Y %H:%M:%S %z").to_string()
}

/// Go's zero time, which kubectl prints for a time never set.
pub(super) fn rfc1123z_zero() -> String {
    "Mon, 01 Jan 0001 00:00:00 +0000".into()
}

#[cfg(test)]
mod tests {
    use super::*;

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
