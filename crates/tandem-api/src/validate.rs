//! The API server's Pod validation (`pkg/apis/core/validation`), on the defaulted object, plus
//! the checks the kubelet would only fail at run time but that are knowable now.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, DownwardAPIVolumeFile, EnvVar, HTTPGetAction, KeyToPath,
    LifecycleHandler, Pod, PodSecurityContext, PodSpec, Probe, ResourceFieldSelector,
    SeccompProfile, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cx::{enumerated, in_range, list, Cx};
use crate::env::subscript;
use crate::names;
use crate::path::FieldPath;
use crate::plan::ContainerRole;
use crate::quantity::parse_quantity;
use crate::yaml::Value;

const ENV_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];
const VOLUME_FIELD_PATHS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "metadata.labels",
    "metadata.annotations",
];
const RESOURCE_FIELDS: &[&str] = &[
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
];
const CPU_DIVISORS: &[&str] = &["1m", "1"];
const MEMORY_DIVISORS: &[&str] = &[
    "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
];

/// `restartPolicyRules` limits of the API server.
const MAX_RESTART_RULES: usize = 20;
const MAX_EXIT_CODE_VALUES: usize = 255;

/// The fields whose value the API server takes from a fixed set (its `NotSupported` errors), with
/// that set in the order its messages list it.
const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"];
const SUPPLEMENTAL_GROUPS_POLICIES: &[&str] = &["Merge", "Strict"];
const FS_GROUP_CHANGE_POLICIES: &[&str] = &["OnRootMismatch", "Always"];
const HOST_PATH_TYPES: &[&str] = &[
    "",
    "DirectoryOrCreate",
    "Directory",
    "FileOrCreate",
    "File",
    "Socket",
    "CharDevice",
    "BlockDevice",
];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
const PROC_MOUNTS: &[&str] = &["Default", "Unmasked"];
const RESTART_RULE_ACTIONS: &[&str] = &["Restart", "RestartAllContainers"];
const EXIT_CODE_OPERATORS: &[&str] = &["In", "NotIn"];
const PROTOCOLS: &[&str] = &["TCP", "UDP", "SCTP"];
const MOUNT_PROPAGATIONS: &[&str] = &["None", "HostToContainer", "Bidirectional"];
const RECURSIVE_READ_ONLY: &[&str] = &["Disabled", "IfPossible", "Enabled"];
const SECCOMP_TYPES: &[&str] = &["RuntimeDefault", "Unconfined", "Localhost"];

/// The largest user or group id the API server accepts (`IsValidUserID`/`IsValidGroupID`:
/// `math.MaxInt32`). A larger value would wrap when it reaches the kernel as a 32-bit id —
/// 4294967296 would become uid 0 — so it never gets past validation.
const MAX_ID: i64 = i32::MAX as i64;

/// The API server's bound for `activeDeadlineSeconds` (`math.MaxInt32`; its own test of the
/// bound is `math.MaxInt32 + 1`).
const MAX_ACTIVE_DEADLINE: i64 = i32::MAX as i64;

/// Validates a defaulted Pod.
pub(crate) fn pod(cx: &mut Cx<'_>, pod: &Pod) {
    crate::objects::validate_metadata(cx, &pod.metadata);
    let Some(spec) = &pod.spec else {
        cx.error(&FieldPath::root().field("spec"), "spec is required");
        return;
    };
    Spec::new(cx, spec).run();
    if let Ok(json) = serde_json::to_value(pod) {
        crate::profiles::check(cx, &json);
    }
    pod_wide(cx, pod, spec);
}

const DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";
const MIRROR: &str = "kubernetes.io/config.mirror";

/// The rules of `ValidatePodCreate` that look at the pod as a whole: class names, the
/// annotations controllers and the kubelet read, and the claims generic ephemeral volumes make.
fn pod_wide(cx: &mut Cx<'_>, pod: &Pod, spec: &PodSpec) {
    let sp = FieldPath::root().field("spec");
    for (field, value) in [
        ("priorityClassName", &spec.priority_class_name),
        ("runtimeClassName", &spec.runtime_class_name),
    ] {
        if let Some(msg) = value
            .as_deref()
            .filter(|v| !v.is_empty())
            .and_then(names::dns1123_subdomain)
        {
            cx.error(&sp.field(field), msg);
        }
    }
    // The Priority admission plugin computes the priority from priorityClassName (0 without
    // one, as here: this machine has no PriorityClasses) and refuses a pod that gives another.
    if let Some(p) = spec
        .priority
        .filter(|p| *p != 0 && cx.given(&sp.field("priority")))
    {
        cx.error_hint(
            &sp.field("priority"),
            format!("the integer value of priority ({p}) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name"),
            "leave spec.priority out: it is set from spec.priorityClassName",
        );
    }
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let ap = FieldPath::root().field("metadata").field("annotations");
    if let Some(cost) = annotations.get(DELETION_COST) {
        // An int32 as Go's strconv writes one: no sign but '-'.
        let digits = cost.strip_prefix('-').unwrap_or(cost);
        let whole = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        if !whole || cost.parse::<i32>().is_err() {
            cx.error(
                &ap.key(DELETION_COST),
                format!("{cost:?} must be a 32-bit integer"),
            );
        }
    }
    if annotations.contains_key(MIRROR) && !cx.given(&sp.field("nodeName")) {
        cx.error(&ap.key(MIRROR), "a mirror pod must set spec.nodeName");
    }
    // A generic ephemeral volume's claim is named `<pod>-<volume>`: a valid name, and one no
    // other volume of the pod names as its own claim.
    let pod_name = pod.metadata.name.as_deref().unwrap_or_default();
    let volumes = spec.volumes.as_deref().unwrap_or_default();
    let mut generated = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        if v.ephemeral.is_some() {
            let claim = format!("{pod_name}-{}", v.name);
            if let Some(msg) = names::dns1123_subdomain(&claim) {
                cx.error(
                    &sp.field("volumes").index(i).field("name"),
                    format!("the claim this ephemeral volume makes, {claim:?}, is not a valid name: {msg}"),
                );
            }
            generated.push(claim);
        }
    }
    for (i, v) in volumes.iter().enumerate() {
        if let Some(c) = v
            .persistent_volume_claim
            .as_ref()
            .filter(|c| generated.contains(&c.claim_name))
        {
            cx.error(
                &sp.field("volumes")
                    .index(i)
                    .field("persistentVolumeClaim")
                    .field("claimName"),
                format!(
                    "{:?} is the claim of an ephemeral volume of this pod",
                    c.claim_name
                ),
            );
        }
    }
}

struct Spec<'c, 'a, 's> {
    cx: &'c mut Cx<'a>,
    spec: &'s PodSpec,
    p: FieldPath,
    volumes: HashMap<&'s str, &'s Volume>,
    containers: HashSet<&'s str>,
    /// `spec.resources.limits` as parsed (pod-level resources), which bound every container's.
    pod_limits: HashMap<String, crate::quantity::Quantity>,
}

impl<'c, 'a, 's> Spec<'c, 'a, 's> {
    fn new(cx: &'c mut Cx<'a>, spec: &'s PodSpec) -> Self {
        let volumes = spec
            .volumes
            .iter()
            .flatten()
            .map(|v| (v.name.as_str(), v))
            .collect();
        let containers = spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
            .map(|c| c.name.as_str())
            .collect();
        Spec {
            cx,
            spec,
            p: FieldPath::root().field("spec"),
            volumes,
            containers,
            pod_limits: HashMap::new(),
        }
    }

    fn run(&mut self) {
        let spec = self.spec;
        let p = self.p.clone();
        if spec.containers.is_empty() {
            self.cx.error_hint(
                &p.field("containers"),
                "a pod needs at least one container in spec.containers",
                "add `containers: [{name: app, image: ...}]`",
            );
        }
        self.pod_fields();
        if let Some(res) = &spec.resources {
            let parsed = self.requirements(res, &p.field("resources"), true);
            self.pod_limits = parsed
                .into_iter()
                .filter(|((field, _), _)| *field == "limits")
                .map(|((_, name), q)| (name.to_string(), q))
                .collect();
        }
        self.volumes();
        self.container_names();
        for (i, c) in spec.init_containers.iter().flatten().enumerate() {
            self.container(
                c,
                &p.field("initContainers").index(i),
                ContainerRole::of(true, c.restart_policy.as_deref()),
            );
        }
        for (i, c) in spec.containers.iter().enumerate() {
            self.container(c, &p.field("containers").index(i), ContainerRole::Main);
        }
        self.ports_across_containers();
        self.pod_requests_cover_containers();
        self.overhead();
    }

    /// `spec.overhead` is ignored here (with a warning), but its names are checked as the API
    /// server checks them: as a container's limits (`validateOverhead`), named so.
    fn overhead(&mut self) {
        let op = self.p.field("overhead");
        for (name, q) in self.spec.overhead.iter().flatten() {
            let at = op.key(name);
            let standard = matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage")
                || name.starts_with("hugepages-");
            let qualified = name.contains('/') && names::qualified_name(name).is_none();
            if !standard && !qualified {
                self.cx.error_named(
                    &at,
                    &op.field("limits").key(name),
                    format!("invalid overhead resource {name:?}: must be a standard resource type or fully qualified"),
                );
            } else {
                quantity(self.cx, &at, &q.0);
            }
        }
    }

    fn pod_fields(&mut self) {
        let spec = self.spec;
        let p = self.p.clone();
        let cx = &mut *self.cx;
        if let Some(rp) = spec.restart_policy.as_deref() {
            let path = p.field("restartPolicy");
            enumerated(cx, &path, "restartPolicy", rp, RESTART_POLICIES);
        }
        if let Some(t) = spec.termination_grace_period_seconds {
            if t < 0 {
                cx.error(
                    &p.field("terminationGracePeriodSeconds"),
                    format!("terminationGracePeriodSeconds must be 0 or more, got {t}"),
                );
            }
        }
        if let Some(t) = spec.active_deadline_seconds {
            in_range(
                cx,
                &p.field("activeDeadlineSeconds"),
                "activeDeadlineSeconds",
                t,
                1,
                MAX_ACTIVE_DEADLINE,
            );
        }
        dns(cx, spec, &p);
        host_names(cx, spec, &p);
        // `ValidatePodSpec`'s rules for the fields tandem reads or shows but does not act on.
        if spec.share_process_namespace == Some(true) && spec.host_pid == Some(true) {
            // Named where the API server's internal type keeps it (`spec.securityContext`).
            cx.error_named(
                &p.field("shareProcessNamespace"),
                &p.field("securityContext").field("shareProcessNamespace"),
                "shareProcessNamespace and hostPID cannot both be enabled",
            );
        }
        if let Some(node) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
            if let Some(msg) = names::dns1123_subdomain(node) {
                cx.error(
                    &p.field("nodeName"),
                    format!("invalid node name {node:?}: {msg}"),
                );
            }
        }
        if let Some(os) = &spec.os {
            enumerated(
                cx,
                &p.field("os").field("name"),
                "os.name",
                &os.name,
                &["linux", "windows"],
            );
        }
        for (i, g) in spec.readiness_gates.iter().flatten().enumerate() {
            if let Some(msg) = names::qualified_name(&g.condition_type) {
                cx.error(
                    &p.field("readinessGates").index(i).field("conditionType"),
                    format!("invalid condition type {:?}: {msg}", g.condition_type),
                );
            }
        }
        for (i, t) in spec.tolerations.iter().flatten().enumerate() {
            toleration(cx, t, &p.field("tolerations").index(i));
        }
        if let Ok(json) = serde_json::to_value(spec) {
            crate::scheduling::check(cx, &json, &p);
        }
        if let Some(sc) = &spec.security_context {
            pod_security_context(cx, spec, sc, &p.field("securityContext"));
        }
        // A user namespace cannot be combined with the host's namespaces (the API server
        // refuses these, and their resources would belong to the host's users anyway).
        if spec.host_users == Some(false) {
            // The API server names the last two by their Go names (`spec.HostPID`).
            for (on, field, named) in [
                (spec.host_network, "hostNetwork", "hostNetwork"),
                (spec.host_pid, "hostPID", "HostPID"),
                (spec.host_ipc, "hostIPC", "HostIPC"),
            ] {
                if on == Some(true) {
                    cx.error_named(
                        &self.p.field(field),
                        &self.p.field(named),
                        format!("{field} cannot be true when hostUsers is false"),
                    );
                }
            }
        }
    }

    fn volumes(&mut self) {
        let spec = self.spec;
        let vp = self.p.field("volumes");
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, v) in spec.volumes.iter().flatten().enumerate() {
            let p = vp.index(i);
            if v.name.is_empty() {
                self.cx.error(&p.field("name"), "volume name is required");
            } else if let Some(msg) = names::dns1123_label(&v.name) {
                self.cx.error(
                    &p.field("name"),
                    format!("invalid volume name {:?}: {msg}", v.name),
                );
            }
            if let Some(first) = seen.insert(&v.name, i) {
                self.cx.error(
                    &p.field("name"),
                    format!(
                        "duplicate volume name {:?} (also spec.volumes[{first}])",
                        v.name
                    ),
                );
            }
            // Exactly one source, counted on the input as written (or, for a volume that is
            // not in the input — a StatefulSet claim's stand-in — on the object).
            let sources: Vec<String> = match self.cx.root.at(&p).map(|n| &n.value) {
                Some(Value::Map(entries)) => entries
                    .iter()
                    .filter(|e| e.key != "name" && !e.value.is_null())
                    .map(|e| e.key.clone())
                    .collect(),
                Some(_) => Vec::new(),
                None => match serde_json::to_value(v) {
                    Ok(serde_json::Value::Object(m)) => {
                        m.keys().filter(|k| *k != "name").cloned().collect()
                    }
                    _ => Vec::new(),
                },
            };
            match sources.len() {
                // None: the API server makes it an emptyDir (`SetDefaults_Volume`), as the
                // defaults here do.
                0 | 1 => {}
                _ => self.cx.error(
                    &p.field(&sources[1]),
                    format!(
                        "volume {:?} may not specify more than one source, found {}",
                        v.name,
                        sources.join(" and ")
                    ),
                ),
            }
            self.volume_source(v, &p);
        }
    }

    fn volume_source(&mut self, v: &'s Volume, p: &FieldPath) {
        let cx = &mut *self.cx;
        if let Ok(json) = serde_json::to_value(v) {
            crate::stand_ins::check(cx, &json, p);
        }
        if let Some(e) = &v.empty_dir {
            if let Some(q) = &e.size_limit {
                quantity(cx, &p.field("emptyDir").field("sizeLimit"), &q.0);
            }
        }
        if let Some(c) = &v.persistent_volume_claim {
            let at = p.field("persistentVolumeClaim").field("claimName");
            if c.claim_name.is_empty() {
                cx.error(&at, "persistentVolumeClaim.claimName is required");
            } else if let Some(msg) = crate::names::dns1123_subdomain(&c.claim_name) {
                cx.error(&at, format!("invalid claim name {:?}: {msg}", c.claim_name));
            }
        }
        if let Some(i) = &v.image {
            let ip = p.field("image");
            match i.reference.as_deref() {
                None | Some("") => cx.error(&ip.field("reference"), "image.reference is required"),
                Some(r) if r.trim() != r => cx.error(
                    &ip.field("reference"),
                    "image.reference must not have leading or trailing whitespace",
                ),
                Some(_) => {}
            }
            if let Some(pp) = i.pull_policy.as_deref() {
                enumerated(
                    cx,
                    &ip.field("pullPolicy"),
                    "image.pullPolicy",
                    pp,
                    PULL_POLICIES,
                );
            }
        }
        if let Some(h) = &v.host_path {
            let hp = p.field("hostPath");
            if h.path.is_empty() {
                cx.error(&hp.field("path"), "hostPath.path is required");
            } else if h.path.split('/').any(|e| e == "..") {
                cx.error(&hp.field("path"), "hostPath.path must not contain '..'");
            }
            let t = h.type_.as_deref().unwrap_or_default();
            enumerated(cx, &hp.field("type"), "hostPath.type", t, HOST_PATH_TYPES);
        }
        if let Some(c) = &v.config_map {
            let cp = p.field("configMap");
            if c.name.is_empty() {
                cx.error(&cp.field("name"), "configMap.name is required");
            }
            mode(cx, &cp.field("defaultMode"), c.default_mode);
            key_to_paths(cx, c.items.as_deref(), &cp.field("items"));
        }
        if let Some(s) = &v.secret {
            let sp = p.field("secret");
            if s.secret_name.as_deref().is_none_or(str::is_empty) {
                cx.error(&sp.field("secretName"), "secret.secretName is required");
            }
            mode(cx, &sp.field("defaultMode"), s.default_mode);
            key_to_paths(cx, s.items.as_deref(), &sp.field("items"));
        }
        if let Some(d) = &v.downward_api {
            let dp = p.field("downwardAPI");
            mode(cx, &dp.field("defaultMode"), d.default_mode);
            self.downward_items(d.items.as_deref(), &dp.field("items"));
        }
        if let Some(pr) = &v.projected {
            let pp = p.field("projected");
            mode(self.cx, &pp.field("defaultMode"), pr.default_mode);
            let mut paths: HashMap<String, FieldPath> = HashMap::new();
            for (i, s) in pr.sources.iter().flatten().enumerate() {
                let sp = pp.field("sources").index(i);
                let mut kinds = Vec::new();
                if s.config_map.is_some() {
                    kinds.push("configMap");
                }
                if s.secret.is_some() {
                    kinds.push("secret");
                }
                if s.downward_api.is_some() {
                    kinds.push("downwardAPI");
                }
                if s.service_account_token.is_some() {
                    kinds.push("serviceAccountToken");
                }
                if s.cluster_trust_bundle.is_some() {
                    kinds.push("clusterTrustBundle");
                }
                if s.pod_certificate.is_some() {
                    kinds.push("podCertificate");
                }
                match kinds.len() {
                    0 => self.cx.error(
                        &sp,
                        "a projection must specify one source (configMap, secret or downwardAPI)",
                    ),
                    1 => {}
                    _ => self.cx.error(
                        &sp.field(kinds[1]),
                        format!(
                            "a projection may not specify more than one source, found {}",
                            kinds.join(" and ")
                        ),
                    ),
                }
                let mut item_paths: Vec<(String, FieldPath)> = Vec::new();
                if let Some(c) = &s.config_map {
                    let cp = sp.field("configMap");
                    if c.name.is_empty() {
                        self.cx
                            .error(&cp.field("name"), "configMap.name is required");
                    }
                    key_to_paths(self.cx, c.items.as_deref(), &cp.field("items"));
                    for (j, it) in c.items.iter().flatten().enumerate() {
                        item_paths
                            .push((it.path.clone(), cp.field("items").index(j).field("path")));
                    }
                }
                if let Some(c) = &s.secret {
                    let cp = sp.field("secret");
                    if c.name.is_empty() {
                        self.cx.error(&cp.field("name"), "secret.name is required");
                    }
                    key_to_paths(self.cx, c.items.as_deref(), &cp.field("items"));
                    for (j, it) in c.items.iter().flatten().enumerate() {
                        item_paths
                            .push((it.path.clone(), cp.field("items").index(j).field("path")));
                    }
                }
                if let Some(d) = &s.downward_api {
                    let dp = sp.field("downwardAPI");
                    self.downward_items(d.items.as_deref(), &dp.field("items"));
                    for (j, it) in d.items.iter().flatten().enumerate() {
                        item_paths
                            .push((it.path.clone(), dp.field("items").index(j).field("path")));
                    }
                }
                if let Some(t) = &s.service_account_token {
                    let tp = sp.field("serviceAccountToken");
                    let seconds = t.expiration_seconds.unwrap_or(3600);
                    if seconds < 10 * 60 {
                        self.cx.error(
                            &tp.field("expirationSeconds"),
                            format!(
                                "may not specify a duration less than 10 minutes, got {seconds}"
                            ),
                        );
                    } else if seconds > 1 << 32 {
                        self.cx.error(
                            &tp.field("expirationSeconds"),
                            format!("may not specify a duration larger than 2^32 seconds, got {seconds}"),
                        );
                    }
                    if t.path.is_empty() {
                        self.cx.error(&tp.field("path"), "path is required");
                    } else if let Some(msg) = names::local_non_reserved_path(&t.path) {
                        self.cx.error(&tp.field("path"), msg);
                    } else {
                        item_paths.push((t.path.clone(), tp.field("path")));
                    }
                }
                for (path, at) in item_paths {
                    if let Some(first) = paths.get(&path) {
                        self.cx.error(
                            &at,
                            format!("conflicting duplicate path {path:?} (also {first})"),
                        );
                    } else {
                        paths.insert(path, at);
                    }
                }
            }
        }
    }

    /// The items of a `downwardAPI` volume or projection at `p` (its `items`). The API server
    /// names an item's fields as if they were the source's (`downwardAPI.path` for
    /// `downwardAPI.items[0].path`), and so does this.
    fn downward_items(&mut self, items: Option<&[DownwardAPIVolumeFile]>, p: &FieldPath) {
        let source = p.parent();
        for (i, it) in items.unwrap_or_default().iter().enumerate() {
            let ip = p.index(i);
            self.cx.alias = Some((ip.clone(), source.clone()));
            self.downward_item(it, &ip);
            self.cx.alias = None;
        }
    }

    fn downward_item(&mut self, it: &DownwardAPIVolumeFile, ip: &FieldPath) {
        if it.path.is_empty() {
            self.cx.error(&ip.field("path"), "path is required");
        } else if let Some(msg) = names::local_non_reserved_path(&it.path) {
            self.cx
                .error(&ip.field("path"), format!("path {:?} {msg}", it.path));
        }
        mode(self.cx, &ip.field("mode"), it.mode);
        match (&it.field_ref, &it.resource_field_ref) {
            (Some(f), None) => {
                field_ref(
                    self.cx,
                    &f.field_path,
                    f.api_version.as_deref(),
                    VOLUME_FIELD_PATHS,
                    &ip.field("fieldRef"),
                );
            }
            (None, Some(r)) => {
                let rp = ip.field("resourceFieldRef");
                if r.container_name.as_deref().is_none_or(str::is_empty) {
                    self.cx.error(
                        &rp.field("containerName"),
                        "containerName is required in downwardAPI volumes",
                    );
                }
                self.resource_field_ref(r, &rp);
            }
            (None, None) => self
                .cx
                .error(ip, "a downwardAPI item needs fieldRef or resourceFieldRef"),
            (Some(_), Some(_)) => self.cx.error(
                &ip.field("resourceFieldRef"),
                "fieldRef and resourceFieldRef are mutually exclusive",
            ),
        }
    }

    fn resource_field_ref(&mut self, r: &ResourceFieldSelector, p: &FieldPath) {
        if let Some(name) = r.container_name.as_deref().filter(|n| !n.is_empty()) {
            if !self.containers.contains(name) {
                self.cx.error(
                    &p.field("containerName"),
                    format!("container {name:?} is not in this pod"),
                );
            }
        }
        if !enumerated(
            self.cx,
            &p.field("resource"),
            "resource",
            &r.resource,
            RESOURCE_FIELDS,
        ) {
            return;
        }
        // A zero divisor is the unset one (`validateContainerResourceDivisor`): 1.
        if let Some(d) = r
            .divisor
            .as_ref()
            .filter(|d| !parse_quantity(&d.0).is_ok_and(|q| q.is_zero()))
        {
            let allowed = if r.resource.ends_with(".cpu") {
                CPU_DIVISORS
            } else {
                MEMORY_DIVISORS
            };
            let ok = parse_quantity(&d.0).ok().is_some_and(|q| {
                allowed
                    .iter()
                    .filter_map(|a| parse_quantity(a).ok())
                    .any(|a| a == q)
            });
            if !ok {
                self.cx.error(
                    &p.field("divisor"),
                    format!(
                        "divisor for {} must be one of {}, got {:?}",
                        r.resource,
                        list(allowed),
                        d.0
                    ),
                );
            }
        }
    }

    fn container_names(&mut self) {
        let spec = self.spec;
        let mut seen: HashMap<&str, FieldPath> = HashMap::new();
        let init = spec
            .init_containers
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| (self.p.field("initContainers").index(i), c));
        let main = spec
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| (self.p.field("containers").index(i), c));
        // The API server checks the main containers first, then init containers against them
        // (`validateInitContainers`): a clash is reported at the init container.
        let all: Vec<(FieldPath, &Container)> = main.chain(init).collect();
        for (p, c) in all {
            if c.name.is_empty() {
                continue;
            }
            if let Some(first) = seen.get(c.name.as_str()) {
                self.cx.error(
                    &p.field("name"),
                    format!("duplicate container name {:?} (also {first})", c.name),
                );
            } else {
                seen.insert(&c.name, p);
            }
        }
    }

    fn container(&mut self, c: &'s Container, p: &FieldPath, slot: ContainerRole) {
        let kind = match slot {
            ContainerRole::Main => "container",
            _ => "init container",
        };
        self.resize_policy(c, &p.field("resizePolicy"));
        if c.name.is_empty() {
            self.cx
                .error(&p.field("name"), format!("{kind} name is required"));
        } else if let Some(msg) = names::dns1123_label(&c.name) {
            self.cx.error(
                &p.field("name"),
                format!("invalid {kind} name {:?}: {msg}", c.name),
            );
        }
        match c.image.as_deref() {
            None | Some("") => self.cx.error_hint(
                &p.field("image"),
                format!("{kind} {:?} needs an image", c.name),
                "add e.g. `image: nginx:1.27`",
            ),
            Some(img) if img.trim() != img => self.cx.error(
                &p.field("image"),
                "image must not have leading or trailing whitespace",
            ),
            Some(_) => {}
        }
        if let Some(pp) = c.image_pull_policy.as_deref() {
            let path = p.field("imagePullPolicy");
            enumerated(self.cx, &path, "imagePullPolicy", pp, PULL_POLICIES);
        }
        if let Some(tmp) = c.termination_message_policy.as_deref() {
            let path = p.field("terminationMessagePolicy");
            let allowed = TERMINATION_MESSAGE_POLICIES;
            enumerated(self.cx, &path, "terminationMessagePolicy", tmp, allowed);
        }
        self.restart_policy(c, p, slot);
        self.stop_signal(c, p);
        self.ports(c, p);
        self.env(c, p);
        self.volume_mounts(c, p);
        self.volume_devices(c, p);
        self.resources(c, p, slot);
        let ports: Vec<&ContainerPort> = c.ports.iter().flatten().collect();
        let probes = [
            ("livenessProbe", &c.liveness_probe),
            ("readinessProbe", &c.readiness_probe),
            ("startupProbe", &c.startup_probe),
        ];
        for (field, probe) in probes {
            let Some(probe) = probe else { continue };
            let pp = p.field(field);
            if slot == ContainerRole::Init {
                self.cx.error_hint(
                    &pp,
                    format!("{field} may not be set for init containers without restartPolicy: Always"),
                    "regular init containers run to completion and are never probed; make it a sidecar with `restartPolicy: Always` or remove the probe",
                );
                continue;
            }
            self.probe(probe, field, &pp, &ports);
        }
        if let Some(lc) = &c.lifecycle {
            let lp = p.field("lifecycle");
            if slot == ContainerRole::Init
                && (lc.post_start.is_some() || lc.pre_stop.is_some() || lc.stop_signal.is_some())
            {
                self.cx.error(
                    &lp,
                    "lifecycle may not be set for init containers without restartPolicy: Always",
                );
            } else {
                for (field, h) in [("postStart", &lc.post_start), ("preStop", &lc.pre_stop)] {
                    if let Some(h) = h {
                        self.lifecycle_handler(h, &lp.field(field), &ports);
                    }
                }
            }
        }
        if let Some(sc) = &c.security_context {
            let sp = p.field("securityContext");
            for (field, v) in [
                ("runAsUser", sc.run_as_user),
                ("runAsGroup", sc.run_as_group),
            ] {
                if let Some(v) = v {
                    in_range(self.cx, &sp.field(field), field, v, 0, MAX_ID);
                }
            }
            if let Some(pm) = sc.proc_mount.as_deref() {
                enumerated(
                    self.cx,
                    &sp.field("procMount"),
                    "procMount",
                    pm,
                    PROC_MOUNTS,
                );
            }
            if sc.privileged == Some(true) && sc.allow_privilege_escalation == Some(false) {
                self.cx.error(
                    &sp.field("allowPrivilegeEscalation"),
                    "cannot set allowPrivilegeEscalation to false and privileged to true",
                );
            }
            seccomp(
                self.cx,
                sc.seccomp_profile.as_ref(),
                &sp.field("seccompProfile"),
            );
        }
    }

    /// The container's own `restartPolicy` and `restartPolicyRules` (KEP-5307).
    fn restart_policy(&mut self, c: &Container, p: &FieldPath, slot: ContainerRole) {
        if let Some(rp) = c.restart_policy.as_deref() {
            let path = p.field("restartPolicy");
            enumerated(self.cx, &path, "restartPolicy", rp, RESTART_POLICIES);
        }
        let Some(rules) = c.restart_policy_rules.as_deref().filter(|r| !r.is_empty()) else {
            return;
        };
        let at = p.field("restartPolicyRules");
        let sidecar = slot == ContainerRole::Sidecar;
        if c.restart_policy.is_none() {
            self.cx.error_hint(
                &at,
                "restartPolicyRules requires the container's restartPolicy to be set",
                "set restartPolicy on the container, even if it is the pod's",
            );
        }
        if rules.len() > MAX_RESTART_RULES {
            self.cx.error(
                &at,
                format!(
                    "at most {MAX_RESTART_RULES} restartPolicyRules are allowed, got {}",
                    rules.len()
                ),
            );
        }
        for (i, rule) in rules.iter().enumerate() {
            let rp = at.index(i);
            match rule.action.as_str() {
                // A native sidecar restarts whatever its exit code: its rules may only restart
                // every container (KEP-5532 lets sidecars have rules for that alone).
                "Restart" if sidecar => self.cx.error_hint(
                    &rp.field("action"),
                    "action Restart is not allowed for init containers with restartPolicy: Always",
                    "a native sidecar is restarted whatever its exit code; use action RestartAllContainers to restart every container of the pod, or remove the rule",
                ),
                "Restart" | "RestartAllContainers" => {}
                other if sidecar => self.cx.error(
                    &rp.field("action"),
                    format!("action must be \"RestartAllContainers\", got {other:?}"),
                ),
                other => {
                    enumerated(
                        self.cx,
                        &rp.field("action"),
                        "action",
                        other,
                        RESTART_RULE_ACTIONS,
                    );
                }
            }
            let ep = rp.field("exitCodes");
            let Some(codes) = &rule.exit_codes else {
                self.cx.error(&ep, "exitCodes must be specified");
                continue;
            };
            enumerated(
                self.cx,
                &ep.field("operator"),
                "operator",
                &codes.operator,
                EXIT_CODE_OPERATORS,
            );
            let values = codes.values.as_deref().unwrap_or_default();
            if values.len() > MAX_EXIT_CODE_VALUES {
                self.cx.error(
                    &ep.field("values"),
                    format!(
                        "at most {MAX_EXIT_CODE_VALUES} values are allowed, got {}",
                        values.len()
                    ),
                );
            }
            let mut seen = HashSet::new();
            for (j, v) in values.iter().enumerate() {
                if !seen.insert(*v) {
                    self.cx
                        .error(&ep.field("values").index(j), format!("duplicate value {v}"));
                }
            }
        }
    }

    /// `lifecycle.stopSignal`: only with `spec.os.name`, and one of that OS's signals.
    fn stop_signal(&mut self, c: &Container, p: &FieldPath) {
        let Some(sig) = c.lifecycle.as_ref().and_then(|l| l.stop_signal.as_deref()) else {
            return;
        };
        let at = p.field("lifecycle").field("stopSignal");
        let os = self.spec.os.as_ref().map(|o| o.name.as_str()).unwrap_or("");
        let allowed = match os {
            "" => {
                self.cx.error_hint(
                    &at,
                    "stopSignal may only be set when spec.os.name is set",
                    "add `os: {name: linux}` to the pod's spec",
                );
                return;
            }
            "windows" => crate::signal::WINDOWS_STOP_SIGNALS,
            _ => crate::signal::LINUX_STOP_SIGNALS,
        };
        if !allowed.contains(&sig) {
            match crate::schema::did_you_mean(sig, allowed) {
                Some(near) => self.cx.error_hint(
                    &at,
                    format!("{sig:?} is not a supported stop signal for {os} pods"),
                    format!("did you mean {near:?}?"),
                ),
                None => self.cx.error(
                    &at,
                    format!("{sig:?} is not a supported stop signal for {os} pods"),
                ),
            }
        }
    }

    fn ports(&mut self, c: &Container, p: &FieldPath) {
        let host_network = self.spec.host_network.unwrap_or(false);
        let mut names_seen: HashMap<&str, usize> = HashMap::new();
        for (i, port) in c.ports.iter().flatten().enumerate() {
            let pp = p.field("ports").index(i);
            if !(1..=65535).contains(&port.container_port) {
                self.cx.error(
                    &pp.field("containerPort"),
                    format!(
                        "containerPort must be between 1 and 65535, got {}",
                        port.container_port
                    ),
                );
            }
            if let Some(hp) = port.host_port.filter(|h| *h != 0) {
                if !(1..=65535).contains(&hp) {
                    self.cx.error(
                        &pp.field("hostPort"),
                        format!("hostPort must be between 1 and 65535, got {hp}"),
                    );
                } else if host_network && hp != port.container_port {
                    self.cx.error(
                        &pp.field("hostPort"),
                        format!(
                            "with hostNetwork, hostPort must equal containerPort ({})",
                            port.container_port
                        ),
                    );
                }
            }
            if let Some(proto) = port.protocol.as_deref() {
                enumerated(self.cx, &pp.field("protocol"), "protocol", proto, PROTOCOLS);
            }
            if let Some(name) = port.name.as_deref() {
                if let Some(msg) = names::iana_svc_name(name) {
                    self.cx.error(
                        &pp.field("name"),
                        format!("invalid port name {name:?}: {msg}"),
                    );
                }
                if let Some(first) = names_seen.insert(name, i) {
                    self.cx.error(
                        &pp.field("name"),
                        format!("duplicate port name {name:?} (also ports[{first}])"),
                    );
                }
            }
        }
    }

    /// Host ports must not clash; container ports that clash share one network namespace.
    fn ports_across_containers(&mut self) {
        let spec = self.spec;
        let mut host: HashMap<(i32, String, String), FieldPath> = HashMap::new();
        let mut inner: HashMap<(i32, String), FieldPath> = HashMap::new();
        let groups = [
            (
                "initContainers",
                spec.init_containers.as_deref().unwrap_or_default(),
            ),
            ("containers", &spec.containers[..]),
        ];
        // Init containers run one at a time, so the host ports of one clash only with its own
        // (the API server checks each apart).
        for (ci, c) in spec.init_containers.iter().flatten().enumerate() {
            if ContainerRole::of(true, c.restart_policy.as_deref()) != ContainerRole::Init {
                continue;
            }
            let mut init_host: HashMap<(i32, String, String), FieldPath> = HashMap::new();
            for (i, port) in c.ports.iter().flatten().enumerate() {
                let Some(hp) = port.host_port.filter(|h| *h != 0) else {
                    continue;
                };
                let proto = port.protocol.clone().unwrap_or_else(|| "TCP".into());
                let key = (hp, proto.clone(), port.host_ip.clone().unwrap_or_default());
                let pp = self
                    .p
                    .field("initContainers")
                    .index(ci)
                    .field("ports")
                    .index(i);
                match init_host.get(&key) {
                    Some(first) => self.cx.error(
                        &pp.field("hostPort"),
                        format!("hostPort {hp}/{proto} is already used by {first}"),
                    ),
                    None => {
                        init_host.insert(key, pp);
                    }
                }
            }
        }
        for (group, containers) in groups {
            for (ci, c) in containers.iter().enumerate() {
                if group == "initContainers"
                    && ContainerRole::of(true, c.restart_policy.as_deref()) == ContainerRole::Init
                {
                    continue;
                }
                for (i, port) in c.ports.iter().flatten().enumerate() {
                    let pp = self.p.field(group).index(ci).field("ports").index(i);
                    let proto = port.protocol.clone().unwrap_or_else(|| "TCP".into());
                    if let Some(hp) = port.host_port.filter(|h| *h != 0) {
                        let key = (hp, proto.clone(), port.host_ip.clone().unwrap_or_default());
                        if let Some(first) = host.get(&key) {
                            self.cx.error(
                                &pp.field("hostPort"),
                                format!("hostPort {hp}/{proto} is already used by {first}"),
                            );
                        } else {
                            host.insert(key, pp.clone());
                        }
                    }
                    let key = (port.container_port, proto.clone());
                    if let Some(first) = inner.get(&key) {
                        self.cx.warn(
                            &pp.field("containerPort"),
                            format!("containerPort {}/{proto} is also declared by {first}: containers of a pod share one network namespace, so only one can listen on it", port.container_port),
                            None,
                        );
                    } else {
                        inner.insert(key, pp.clone());
                    }
                }
            }
        }
    }

    fn env(&mut self, c: &Container, p: &FieldPath) {
        for (i, e) in c.env.iter().flatten().enumerate() {
            self.env_var(e, &p.field("env").index(i));
        }
        for (i, ef) in c.env_from.iter().flatten().enumerate() {
            let ep = p.field("envFrom").index(i);
            match (&ef.config_map_ref, &ef.secret_ref) {
                (None, None) => self
                    .cx
                    .error(&ep, "envFrom needs configMapRef or secretRef"),
                (Some(_), Some(_)) => self.cx.error(
                    &ep.field("secretRef"),
                    "configMapRef and secretRef are mutually exclusive in one envFrom entry",
                ),
                (Some(r), None) => {
                    object_name(self.cx, &ep.field("configMapRef").field("name"), &r.name)
                }
                (None, Some(r)) => {
                    object_name(self.cx, &ep.field("secretRef").field("name"), &r.name)
                }
            }
            if let Some(prefix) = ef.prefix.as_deref().filter(|x| !x.is_empty()) {
                if let Some(msg) = names::env_var_name(prefix) {
                    self.cx.error(
                        &ep.field("prefix"),
                        format!("invalid prefix {prefix:?}: {msg}"),
                    );
                }
            }
        }
    }

    fn env_var(&mut self, e: &EnvVar, p: &FieldPath) {
        if let Some(msg) = names::env_var_name(&e.name) {
            self.cx.error(
                &p.field("name"),
                format!("invalid environment variable name {:?}: {msg}", e.name),
            );
        }
        let Some(from) = &e.value_from else { return };
        let vp = p.field("valueFrom");
        if e.value.as_deref().is_some_and(|v| !v.is_empty()) {
            self.cx
                .error(&vp, "valueFrom may not be set when value is not empty");
        }
        let mut kinds = Vec::new();
        if from.field_ref.is_some() {
            kinds.push("fieldRef");
        }
        if from.resource_field_ref.is_some() {
            kinds.push("resourceFieldRef");
        }
        if from.config_map_key_ref.is_some() {
            kinds.push("configMapKeyRef");
        }
        if from.secret_key_ref.is_some() {
            kinds.push("secretKeyRef");
        }
        if from.file_key_ref.is_some() {
            kinds.push("fileKeyRef");
        }
        match kinds.len() {
            0 => {
                self.cx.error(&vp, "valueFrom must specify one of fieldRef, resourceFieldRef, configMapKeyRef or secretKeyRef");
                return;
            }
            1 => {}
            _ => {
                self.cx.error(
                    &vp.field(kinds[1]),
                    format!(
                        "valueFrom may not specify more than one source, found {}",
                        kinds.join(" and ")
                    ),
                );
                return;
            }
        }
        if let Some(f) = &from.field_ref {
            field_ref(
                self.cx,
                &f.field_path,
                f.api_version.as_deref(),
                ENV_FIELD_PATHS,
                &vp.field("fieldRef"),
            );
        }
        if let Some(r) = &from.resource_field_ref {
            self.resource_field_ref(r, &vp.field("resourceFieldRef"));
        }
        for (field, name, key) in [
            (
                "configMapKeyRef",
                from.config_map_key_ref.as_ref().map(|r| (&r.name, &r.key)),
            ),
            (
                "secretKeyRef",
                from.secret_key_ref.as_ref().map(|r| (&r.name, &r.key)),
            ),
        ]
        .into_iter()
        .filter_map(|(f, r)| r.map(|(n, k)| (f, n, k)))
        {
            let rp = vp.field(field);
            object_name(self.cx, &rp.field("name"), name);
            if key.is_empty() {
                self.cx.error(&rp.field("key"), "key is required");
            } else if let Some(msg) = names::config_key(key) {
                self.cx
                    .error(&rp.field("key"), format!("invalid key {key:?}: {msg}"));
            }
        }
    }

    fn volume_mounts(&mut self, c: &Container, p: &FieldPath) {
        let mut paths: HashMap<&str, usize> = HashMap::new();
        for (i, m) in c.volume_mounts.iter().flatten().enumerate() {
            let mp = p.field("volumeMounts").index(i);
            self.volume_mount(m, &mp);
            // Mounts made under the container reach the host only from a privileged one, and a
            // recursively read-only mount propagates nothing (`validateMountPropagation`,
            // `validateMountRecursiveReadOnly`).
            let privileged = c.security_context.as_ref().and_then(|s| s.privileged) == Some(true);
            if m.mount_propagation.as_deref() == Some("Bidirectional") && !privileged {
                self.cx.error(
                    &mp.field("mountPropagation"),
                    "Bidirectional mount propagation is available only to privileged containers",
                );
            }
            let recursive = m
                .recursive_read_only
                .as_deref()
                .is_some_and(|r| r != "Disabled");
            if recursive && m.mount_propagation.as_deref().is_some_and(|p| p != "None") {
                self.cx.error(
                    &mp.field("recursiveReadOnly"),
                    "recursiveReadOnly requires mountPropagation None",
                );
            }
            // A volume is mounted or attached as a block device, never both.
            let devices = c.volume_devices.iter().flatten();
            for d in devices.filter(|d| !d.name.is_empty()) {
                if d.name == m.name {
                    self.cx.error(
                        &mp.field("name"),
                        format!(
                            "volume {:?} must not already exist in volumeDevices",
                            m.name
                        ),
                    );
                }
                if d.device_path == m.mount_path {
                    self.cx.error(
                        &mp.field("mountPath"),
                        format!(
                            "mountPath {:?} must not already exist as a path in volumeDevices",
                            m.mount_path
                        ),
                    );
                }
            }
            if !m.mount_path.is_empty() {
                let norm = m.mount_path.trim_end_matches('/');
                if let Some(first) = paths.insert(if norm.is_empty() { "/" } else { norm }, i) {
                    self.cx.error(
                        &mp.field("mountPath"),
                        format!("mountPath {:?} is already used by volumeMounts[{first}] of this container", m.mount_path),
                    );
                }
            }
        }
    }

    /// `volumeDevices` as the API server checks them (`ValidateVolumeDevices`), before tandem
    /// refuses them (no raw block device exists for a claim here): each names a claim or
    /// ephemeral volume once, at a path of its own, neither of which a volumeMount uses.
    fn volume_devices(&mut self, c: &Container, p: &FieldPath) {
        let mut names: HashSet<&str> = HashSet::new();
        let mut paths: HashSet<&str> = HashSet::new();
        for (i, d) in c.volume_devices.iter().flatten().enumerate() {
            let dp = p.field("volumeDevices").index(i);
            let (np, pp) = (dp.field("name"), dp.field("devicePath"));
            let mounts = || c.volume_mounts.iter().flatten();
            if d.name.is_empty() {
                self.cx.error(&np, "name is required");
            } else {
                if !names.insert(&d.name) {
                    self.cx
                        .error(&np, format!("volume {:?} must be unique", d.name));
                }
                match self.volumes.get(d.name.as_str()) {
                    None => self.cx.error(&np, format!("volume {:?} not found", d.name)),
                    Some(v) if v.persistent_volume_claim.is_none() && v.ephemeral.is_none() => {
                        self.cx.error(&np, format!("volume {:?}: can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode", d.name));
                    }
                    Some(_) => {}
                }
                if d.device_path.is_empty() {
                    self.cx.error(&pp, "devicePath is required");
                }
                if mounts().any(|m| m.name == d.name) {
                    self.cx.error(
                        &np,
                        format!("volume {:?} must not already exist in volumeMounts", d.name),
                    );
                }
            }
            if !d.device_path.is_empty() && !paths.insert(&d.device_path) {
                self.cx.error(
                    &pp,
                    format!("devicePath {:?} must be unique", d.device_path),
                );
            }
            if d.device_path.split('/').any(|e| e == "..") {
                self.cx.error(
                    &pp,
                    format!(
                        "devicePath {:?} can not contain backsteps ('..')",
                        d.device_path
                    ),
                );
            }
            if mounts().any(|m| m.mount_path == d.device_path) {
                self.cx.error(
                    &pp,
                    format!(
                        "devicePath {:?} must not already exist as a path in volumeMounts",
                        d.device_path
                    ),
                );
            }
        }
    }

    /// `resizePolicy` (`validateResizePolicy`): cpu and memory once each, restarting the
    /// container only where the pod restarts containers at all.
    fn resize_policy(&mut self, c: &Container, p: &FieldPath) {
        let restarts = self.spec.restart_policy.as_deref().unwrap_or("Always") == "Always";
        let mut seen = Vec::new();
        for (i, r) in c.resize_policy.iter().flatten().enumerate() {
            let name = r.resource_name.as_str();
            if !["cpu", "memory"].contains(&name) {
                self.cx.error(
                    p,
                    format!("resizePolicy resourceName must be cpu or memory, got {name:?}"),
                );
            } else if seen.contains(&name) {
                self.cx
                    .error(&p.index(i), format!("duplicate resizePolicy for {name}"));
            }
            seen.push(name);
            let policy = r.restart_policy.as_str();
            match policy {
                "NotRequired" => {}
                "RestartContainer" if restarts => {}
                "RestartContainer" => self.cx.error(
                    p,
                    "resizePolicy RestartContainer needs the pod's restartPolicy to be Always",
                ),
                _ => self.cx.error(
                    p,
                    format!("resizePolicy restartPolicy must be NotRequired or RestartContainer, got {policy:?}"),
                ),
            }
        }
    }

    fn volume_mount(&mut self, m: &VolumeMount, p: &FieldPath) {
        if m.name.is_empty() {
            self.cx
                .error(&p.field("name"), "volumeMount name is required");
        } else if !self.volumes.contains_key(m.name.as_str()) {
            let known: Vec<&str> = self.volumes.keys().copied().collect();
            let hint = match crate::schema::did_you_mean(&m.name, &known) {
                Some(s) => format!(
                    "did you mean {s:?}? Otherwise add a volume named {:?} to spec.volumes",
                    m.name
                ),
                None if known.is_empty() => format!(
                    "add `volumes: [{{name: {}, emptyDir: {{}}}}]` to the pod spec",
                    m.name
                ),
                None => {
                    let mut k = known.clone();
                    k.sort_unstable();
                    format!("volumes in this pod: {}", k.join(", "))
                }
            };
            self.cx.error_hint(
                &p.field("name"),
                format!(
                    "volumeMount refers to volume {:?}, which is not in spec.volumes",
                    m.name
                ),
                hint,
            );
        }
        if m.mount_path.is_empty() {
            self.cx
                .error(&p.field("mountPath"), "mountPath is required");
        } else if !m.mount_path.starts_with('/') {
            self.cx.error_hint(
                &p.field("mountPath"),
                format!("mountPath must be an absolute path, got {:?}", m.mount_path),
                format!("use \"/{}\"", m.mount_path),
            );
        }
        let sub_path = m.sub_path.as_deref().filter(|s| !s.is_empty());
        let sub_path_expr = m.sub_path_expr.as_deref().filter(|s| !s.is_empty());
        if sub_path.is_some() && sub_path_expr.is_some() {
            self.cx.error(
                &p.field("subPathExpr"),
                "subPath and subPathExpr are mutually exclusive",
            );
        }
        for (field, v) in [("subPath", sub_path), ("subPathExpr", sub_path_expr)] {
            if let Some(v) = v {
                if let Some(msg) = names::local_descending_path(v) {
                    self.cx
                        .error(&p.field(field), format!("{field} {v:?} {msg}"));
                }
            }
        }
        if let Some(mp) = m.mount_propagation.as_deref() {
            let path = p.field("mountPropagation");
            enumerated(self.cx, &path, "mountPropagation", mp, MOUNT_PROPAGATIONS);
        }
        if let Some(r) = m.recursive_read_only.as_deref() {
            let path = p.field("recursiveReadOnly");
            if enumerated(self.cx, &path, "recursiveReadOnly", r, RECURSIVE_READ_ONLY)
                && r != "Disabled"
                && m.read_only != Some(true)
            {
                self.cx.error(
                    &p.field("recursiveReadOnly"),
                    "recursiveReadOnly requires readOnly: true",
                );
            }
        }
    }

    fn resources(&mut self, c: &Container, p: &FieldPath, slot: ContainerRole) {
        let Some(res) = &c.resources else { return };
        let rp = p.field("resources");
        let parsed = self.requirements(res, &rp, false);
        // A main container's limit may not exceed the pod's (`validatePodResourceConsistency`,
        // which names it `spec.resources.containers[i][name].limits`). Requests are bounded by
        // the sum in [`Spec::pod_requests_cover_containers`]; init containers are not checked
        // there, and run inside the pod's cgroup anyway.
        let Some(i) = self.main_index(p).filter(|_| slot == ContainerRole::Main) else {
            return;
        };
        for ((field, name), q) in &parsed {
            let Some(pod) = self.pod_limits.get(*name).filter(|_| *field == "limits") else {
                continue;
            };
            if q > pod {
                let named = self
                    .p
                    .field("resources")
                    .field("containers")
                    .index(i)
                    .key(name)
                    .field("limits");
                self.cx.error_named(
                    &rp.field(field).key(name),
                    &named,
                    format!(
                        "limits.{name} ({q}) must be less than or equal to pod limits of {pod}"
                    ),
                );
            }
        }
    }

    /// The index of the main container at `p` (`spec.containers[i]`).
    fn main_index(&self, p: &FieldPath) -> Option<usize> {
        match p.strip_prefix(&self.p.field("containers"))?.segs() {
            [crate::path::Seg::Index(i)] => Some(*i),
            _ => None,
        }
    }

    /// Pod-level requests must cover what the containers request together, counted as the
    /// scheduler counts a pod (`AggregateContainerRequests`, KEP-753): every main container and
    /// sidecar, or, if more, each regular init container beside the sidecars declared before
    /// it. A request a container leaves out defaults to its limit.
    fn pod_requests_cover_containers(&mut self) {
        let Some(pod) = &self.spec.resources else {
            return;
        };
        let effective = |r: Option<&k8s_openapi::api::core::v1::ResourceRequirements>| {
            let mut out: HashMap<String, i128> = HashMap::new();
            // Limits first: a request given overrides the limit it would default from.
            let lists = r.into_iter().flat_map(|r| [&r.limits, &r.requests]);
            for (name, q) in lists.flatten().flatten() {
                if let Ok(q) = crate::quantity::parse_quantity(&q.0) {
                    out.insert(name.clone(), q.nano_value());
                }
            }
            out
        };
        let add = |into: &mut HashMap<String, i128>, from: &HashMap<String, i128>| {
            for (k, v) in from {
                *into.entry(k.clone()).or_default() += v;
            }
        };
        let mut total: HashMap<String, i128> = HashMap::new();
        for c in &self.spec.containers {
            add(&mut total, &effective(c.resources.as_ref()));
        }
        let mut sidecars: HashMap<String, i128> = HashMap::new();
        let mut init_peak: HashMap<String, i128> = HashMap::new();
        for c in self.spec.init_containers.iter().flatten() {
            let own = effective(c.resources.as_ref());
            let moment = if c.restart_policy.as_deref() == Some("Always") {
                add(&mut total, &own);
                add(&mut sidecars, &own);
                sidecars.clone()
            } else {
                let mut with = own;
                add(&mut with, &sidecars);
                with
            };
            for (k, v) in moment {
                let peak = init_peak.entry(k).or_default();
                *peak = (*peak).max(v);
            }
        }
        for (k, v) in init_peak {
            let t = total.entry(k).or_default();
            *t = (*t).max(v);
        }
        let requests = effective(Some(pod));
        // The pod's own quantities as written, whose format the message keeps.
        let pod_text: HashMap<&String, &str> = [&pod.limits, &pod.requests]
            .into_iter()
            .flatten()
            .flatten()
            .map(|(k, q)| (k, q.0.as_str()))
            .collect();
        let rp = self.p.field("resources");
        let mut names: Vec<&String> = requests.keys().collect();
        names.sort();
        for name in names {
            let containers = total.get(name).copied().unwrap_or(0);
            if containers > requests[name] {
                let at = if self.cx.given(&rp.field("requests").key(name)) {
                    rp.field("requests").key(name)
                } else {
                    rp.field("limits").key(name)
                };
                self.cx.error_named(
                    &at,
                    &rp.field("requests").key(name),
                    format!(
                        "must be greater than or equal to aggregate container requests of {}",
                        crate::quantity::from_nanos(
                            containers,
                            pod_text.get(name).copied().unwrap_or_default()
                        )
                    ),
                );
            }
        }
    }

    /// Checks one `resources` block (a container's, or with `pod_level` the pod's) and returns
    /// its quantities by (requests|limits, name).
    fn requirements<'r>(
        &mut self,
        res: &'r k8s_openapi::api::core::v1::ResourceRequirements,
        rp: &FieldPath,
        pod_level: bool,
    ) -> HashMap<(&'static str, &'r str), crate::quantity::Quantity> {
        let mut parsed: HashMap<(&'static str, &'r str), crate::quantity::Quantity> =
            HashMap::new();
        for (field, map) in [("requests", &res.requests), ("limits", &res.limits)] {
            for (name, q) in map.iter().flatten() {
                let qp = rp.field(field).key(name);
                if !self.cx.given(&qp) {
                    // Defaulted from the limit: already checked there.
                    continue;
                }
                let known = matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage");
                if pod_level
                    && !matches!(name.as_str(), "cpu" | "memory")
                    && !name.starts_with("hugepages-")
                {
                    self.cx.error(
                        &qp,
                        format!("pod-level resources support cpu, memory and hugepages-<size>, not {name:?}"),
                    );
                    continue;
                }
                if name.contains('/') {
                    if let Some(msg) = names::qualified_name(name) {
                        self.cx
                            .error(&qp, format!("invalid resource name {name:?}: {msg}"));
                        continue;
                    }
                }
                if !known {
                    if name.starts_with("hugepages-") || name.contains('/') {
                        self.cx.warn(
                            &qp,
                            format!("resource {name:?} is not enforced by tandem"),
                            None,
                        );
                    } else {
                        self.cx.error_hint(
                            &qp,
                            format!("unknown resource {name:?}: must be cpu, memory, ephemeral-storage, hugepages-<size> or a domain-qualified extended resource"),
                            "did you mean cpu or memory?",
                        );
                        continue;
                    }
                }
                if let Some(q) = quantity(self.cx, &qp, &q.0) {
                    parsed.insert((field, name.as_str()), q);
                }
            }
        }
        // Extended resources (a domain of the user's) and hugepages cannot be overcommitted:
        // whole numbers (extended), a limit, and requests equal to it (`ValidateResourceRequirements`).
        let exact = |name: &str| {
            name.starts_with("hugepages-")
                || (name.contains('/') && !name.contains("kubernetes.io/"))
        };
        if !pod_level {
            for ((field, name), q) in &parsed {
                let qp = rp.field(field).key(name);
                if name.contains('/') && exact(name) && q.milli_value() % 1000 != 0 {
                    self.cx
                        .error(&qp, format!("{field}.{name} must be an integer, got {q}"));
                }
                if *field == "requests" && exact(name) {
                    match parsed.get(&("limits", *name)) {
                        None => self.cx.error(
                            &rp.field("limits").key(name),
                            format!(
                                "a limit must be set for {name}, which cannot be overcommitted"
                            ),
                        ),
                        Some(lim) if lim != q => self
                            .cx
                            .error(&qp, format!("must be equal to the {name} limit of {lim}")),
                        Some(_) => {}
                    }
                }
            }
            let huge = parsed.keys().any(|(_, n)| n.starts_with("hugepages-"));
            let cpu_or_memory = parsed.keys().any(|(_, n)| matches!(*n, "cpu" | "memory"));
            if huge && !cpu_or_memory {
                self.cx
                    .error(rp, "hugepages require a cpu or memory request or limit");
            }
        }
        for ((field, name), req) in &parsed {
            if *field != "requests" || exact(name) {
                continue;
            }
            if let Some(lim) = parsed.get(&("limits", name)) {
                if req > lim {
                    // A defaulted request equals its limit, so this was written by the user.
                    self.cx.error(
                        &rp.field("requests").key(name),
                        format!("requests.{name} ({req}) must be less than or equal to limits.{name} ({lim})"),
                    );
                }
            }
        }
        parsed
    }

    fn probe(&mut self, probe: &Probe, which: &str, p: &FieldPath, ports: &[&ContainerPort]) {
        let mut handlers = Vec::new();
        if let Some(e) = &probe.exec {
            handlers.push("exec");
            if e.command.as_ref().is_none_or(Vec::is_empty) {
                self.cx.error(
                    &p.field("exec").field("command"),
                    "exec.command is required",
                );
            }
        }
        if let Some(h) = &probe.http_get {
            handlers.push("httpGet");
            self.http_get(h, &p.field("httpGet"), ports);
        }
        if let Some(t) = &probe.tcp_socket {
            handlers.push("tcpSocket");
            self.port(&t.port, &p.field("tcpSocket").field("port"), ports);
        }
        if let Some(g) = &probe.grpc {
            handlers.push("grpc");
            if !(1..=65535).contains(&g.port) {
                self.cx.error(
                    &p.field("grpc").field("port"),
                    format!("port must be between 1 and 65535, got {}", g.port),
                );
            }
        }
        match handlers.len() {
            0 => self.cx.error_hint(
                p,
                format!("{which} must specify a handler type"),
                "add one of exec, httpGet, tcpSocket or grpc",
            ),
            1 => {}
            _ => self.cx.error(
                &p.field(handlers[1]),
                format!(
                    "{which} may not specify more than one handler type, found {}",
                    handlers.join(" and ")
                ),
            ),
        }
        for (field, v, min) in [
            ("initialDelaySeconds", probe.initial_delay_seconds, 0),
            ("timeoutSeconds", probe.timeout_seconds, 1),
            ("periodSeconds", probe.period_seconds, 1),
            ("successThreshold", probe.success_threshold, 1),
            ("failureThreshold", probe.failure_threshold, 1),
        ] {
            if let Some(v) = v.filter(|v| *v < min) {
                self.cx.error(
                    &p.field(field),
                    format!("{field} must be at least {min}, got {v}"),
                );
            }
        }
        if which != "readinessProbe" {
            if let Some(s) = probe.success_threshold.filter(|s| *s > 1) {
                self.cx.error(
                    &p.field("successThreshold"),
                    format!("successThreshold must be 1 for {which}, got {s}"),
                );
            }
        }
        if let Some(t) = probe.termination_grace_period_seconds {
            if which == "readinessProbe" {
                self.cx.error(
                    &p.field("terminationGracePeriodSeconds"),
                    "terminationGracePeriodSeconds must not be set for readinessProbe",
                );
            } else if t <= 0 {
                self.cx.error(
                    &p.field("terminationGracePeriodSeconds"),
                    format!("terminationGracePeriodSeconds must be greater than 0, got {t}"),
                );
            }
        }
    }

    fn lifecycle_handler(&mut self, h: &LifecycleHandler, p: &FieldPath, ports: &[&ContainerPort]) {
        let mut handlers = Vec::new();
        if let Some(e) = &h.exec {
            handlers.push("exec");
            if e.command.as_ref().is_none_or(Vec::is_empty) {
                self.cx.error(
                    &p.field("exec").field("command"),
                    "exec.command is required",
                );
            }
        }
        if let Some(g) = &h.http_get {
            handlers.push("httpGet");
            self.http_get(g, &p.field("httpGet"), ports);
        }
        if let Some(t) = &h.tcp_socket {
            handlers.push("tcpSocket");
            self.port(&t.port, &p.field("tcpSocket").field("port"), ports);
            self.cx.warn(
                &p.field("tcpSocket"),
                "tcpSocket lifecycle handlers are deprecated and do nothing",
                Some("use exec, httpGet or sleep".into()),
            );
        }
        if let Some(s) = &h.sleep {
            handlers.push("sleep");
            let tgps = self
                .spec
                .termination_grace_period_seconds
                .unwrap_or(crate::defaults::DEFAULT_TGPS);
            if s.seconds < 0 || s.seconds > tgps {
                self.cx.error(
                    &p.field("sleep").field("seconds"),
                    format!("sleep.seconds must be between 0 and terminationGracePeriodSeconds ({tgps}), got {}", s.seconds),
                );
            }
        }
        match handlers.len() {
            0 => self.cx.error_hint(
                p,
                "a lifecycle handler must specify a handler type",
                "add one of exec, httpGet or sleep",
            ),
            1 => {}
            _ => self.cx.error(
                &p.field(handlers[1]),
                format!(
                    "a lifecycle handler may not specify more than one handler type, found {}",
                    handlers.join(" and ")
                ),
            ),
        }
    }

    fn http_get(&mut self, h: &HTTPGetAction, p: &FieldPath, ports: &[&ContainerPort]) {
        self.port(&h.port, &p.field("port"), ports);
        if let Some(s) = h.scheme.as_deref() {
            if !["HTTP", "HTTPS"].contains(&s) {
                self.cx.error(
                    &p.field("scheme"),
                    format!("scheme must be HTTP or HTTPS, got {s:?}"),
                );
            }
        }
        for (i, hd) in h.http_headers.iter().flatten().enumerate() {
            if let Some(msg) = names::http_header_name(&hd.name) {
                // Named at the list, as the API server names it.
                self.cx.error_named(
                    &p.field("httpHeaders").index(i).field("name"),
                    &p.field("httpHeaders"),
                    format!("invalid header name {:?}: {msg}", hd.name),
                );
            }
        }
    }

    fn port(&mut self, port: &IntOrString, p: &FieldPath, ports: &[&ContainerPort]) {
        match port {
            IntOrString::Int(n) => {
                if !(1..=65535).contains(n) {
                    self.cx
                        .error(p, format!("port must be between 1 and 65535, got {n}"));
                }
            }
            IntOrString::String(name) => {
                if let Ok(n) = name.parse::<i32>() {
                    self.cx.error_hint(
                        p,
                        format!("port {name:?} is a string"),
                        format!("write the number without quotes: {n}"),
                    );
                } else if let Some(msg) = names::iana_svc_name(name) {
                    self.cx
                        .error(p, format!("invalid port name {name:?}: {msg}"));
                } else if !ports
                    .iter()
                    .any(|cp| cp.name.as_deref() == Some(name.as_str()))
                {
                    let declared: Vec<&str> =
                        ports.iter().filter_map(|cp| cp.name.as_deref()).collect();
                    let hint = if declared.is_empty() {
                        format!("declare it: `ports: [{{name: {name}, containerPort: ...}}]`, or use the port number")
                    } else {
                        format!("named ports of this container: {}", declared.join(", "))
                    };
                    // The API server accepts it; the kubelet resolves the name at each run and
                    // errors (a probe keeps its initial result; a hook fails).
                    self.cx.warn(
                        p,
                        format!("port {name:?} does not name a containerPort of this container: every run of this check will fail with \"port {name} not found\""),
                        Some(hint),
                    );
                }
            }
        }
    }
}

/// A toleration, by `validateTolerations`: an operator `Equal` or `Exists` (no value with
/// `Exists`, which alone may leave the key empty), an effect the scheduler knows, and
/// `tolerationSeconds` only for `NoExecute`.
fn toleration(cx: &mut Cx<'_>, t: &k8s_openapi::api::core::v1::Toleration, p: &FieldPath) {
    let key = t.key.as_deref().unwrap_or_default();
    let operator = t.operator.as_deref().unwrap_or("Equal");
    if !key.is_empty() {
        if let Some(msg) = names::qualified_name(key) {
            cx.error(
                &p.field("key"),
                format!("invalid toleration key {key:?}: {msg}"),
            );
        }
    } else if operator != "Exists" {
        cx.error(
            &p.field("operator"),
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        );
    }
    if enumerated(
        cx,
        &p.field("operator"),
        "operator",
        operator,
        &["Equal", "Exists"],
    ) && operator == "Exists"
        && t.value.as_deref().is_some_and(|v| !v.is_empty())
    {
        // At the operator, as the API server reports it.
        cx.error(
            &p.field("operator"),
            "value must be empty when `operator` is 'Exists'",
        );
    }
    let effect = t.effect.as_deref().unwrap_or_default();
    if !effect.is_empty() {
        enumerated(
            cx,
            &p.field("effect"),
            "effect",
            effect,
            &["NoSchedule", "PreferNoSchedule", "NoExecute"],
        );
    }
    if t.toleration_seconds.is_some() && effect != "NoExecute" {
        cx.error(
            &p.field("effect"),
            "tolerationSeconds may only be set when effect is NoExecute",
        );
    }
}

/// `dnsPolicy` and `dnsConfig`, as the API server checks them.
fn dns(cx: &mut Cx<'_>, spec: &PodSpec, p: &FieldPath) {
    let dns_policy = spec.dns_policy.as_deref().unwrap_or("ClusterFirst");
    enumerated(
        cx,
        &p.field("dnsPolicy"),
        "dnsPolicy",
        dns_policy,
        DNS_POLICIES,
    );
    let dc = p.field("dnsConfig");
    let nameservers = spec
        .dns_config
        .as_ref()
        .and_then(|d| d.nameservers.clone())
        .unwrap_or_default();
    if dns_policy == "None" && nameservers.is_empty() {
        cx.error_hint(
            &dc.field("nameservers"),
            "dnsPolicy None needs at least one nameserver in dnsConfig.nameservers",
            "add `dnsConfig: {nameservers: [1.1.1.1]}` or use another dnsPolicy",
        );
    }
    if let Some(d) = &spec.dns_config {
        if nameservers.len() > 3 {
            cx.error(
                &dc.field("nameservers"),
                "at most 3 nameservers are allowed",
            );
        }
        for (i, ns) in nameservers.iter().enumerate() {
            if ns.parse::<IpAddr>().is_err() {
                cx.error(
                    &dc.field("nameservers").index(i),
                    format!("nameserver must be an IP address, got {ns:?}"),
                );
            }
        }
        let searches = d.searches.as_deref().unwrap_or_default();
        if searches.len() > 32 {
            cx.error(
                &dc.field("searches"),
                "at most 32 search domains are allowed",
            );
        }
        // The resolver's limit on the whole list, spaces included.
        let length =
            searches.iter().map(String::len).sum::<usize>() + searches.len().saturating_sub(1);
        if length > 2048 {
            cx.error(
                &dc.field("searches"),
                format!("the search list may not be longer than 2048 characters, got {length}"),
            );
        }
        for (i, domain) in searches.iter().enumerate() {
            // A single "." (no search) is allowed, and labels may hold underscores
            // (RelaxedDNSSearchValidation): `_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?` each.
            let name = domain.strip_suffix('.').unwrap_or(domain);
            let label_ok = |l: &str| {
                let l = l.strip_prefix('_').unwrap_or(l).as_bytes();
                let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
                l.first().is_some_and(alnum)
                    && l.last().is_some_and(alnum)
                    && l.iter().all(|c| alnum(c) || *c == b'-' || *c == b'_')
            };
            let valid = name.len() <= 253 && name.split('.').all(label_ok);
            if domain != "." && !valid {
                cx.error(
                    &dc.field("searches").index(i),
                    format!("invalid search domain {domain:?}: each must be a DNS subdomain (underscores allowed) or \".\""),
                );
            }
        }
        for (i, o) in d.options.iter().flatten().enumerate() {
            if o.name.as_deref().is_none_or(str::is_empty) {
                cx.error(
                    &dc.field("options").index(i).field("name"),
                    "option name is required",
                );
            }
        }
    }
}

/// `hostAliases`, `hostname`, `subdomain` and `serviceAccountName`: addresses and DNS names.
fn host_names(cx: &mut Cx<'_>, spec: &PodSpec, p: &FieldPath) {
    for (i, a) in spec.host_aliases.iter().flatten().enumerate() {
        let ap = p.field("hostAliases").index(i);
        if a.ip.parse::<IpAddr>().is_err() {
            cx.error(
                &ap.field("ip"),
                format!("ip must be an IP address, got {:?}", a.ip),
            );
        }
        for (j, h) in a.hostnames.iter().flatten().enumerate() {
            if let Some(msg) = names::dns1123_subdomain(h) {
                cx.error(
                    &ap.field("hostnames").index(j),
                    format!("invalid hostname {h:?}: {msg}"),
                );
            }
        }
    }
    for (field, value) in [("hostname", &spec.hostname), ("subdomain", &spec.subdomain)] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            if let Some(msg) = names::dns1123_label(v) {
                cx.error(&p.field(field), format!("invalid {field} {v:?}: {msg}"));
            }
        }
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        if let Some(msg) = names::dns1123_subdomain(sa) {
            cx.error(
                &p.field("serviceAccountName"),
                format!("invalid serviceAccountName {sa:?}: {msg}"),
            );
        }
    }
}

/// The pod's `securityContext`: ids in range, the fixed-value policies, safe sysctls only, the
/// seccomp profile.
fn pod_security_context(cx: &mut Cx<'_>, spec: &PodSpec, sc: &PodSecurityContext, sp: &FieldPath) {
    for (field, v) in [
        ("runAsUser", sc.run_as_user),
        ("runAsGroup", sc.run_as_group),
        ("fsGroup", sc.fs_group),
    ] {
        if let Some(v) = v {
            in_range(cx, &sp.field(field), field, v, 0, MAX_ID);
        }
    }
    for (i, g) in sc.supplemental_groups.iter().flatten().enumerate() {
        let path = sp.field("supplementalGroups").index(i);
        in_range(cx, &path, "supplemental group", *g, 0, MAX_ID);
    }
    if let Some(policy) = sc.supplemental_groups_policy.as_deref() {
        let path = sp.field("supplementalGroupsPolicy");
        let allowed = SUPPLEMENTAL_GROUPS_POLICIES;
        enumerated(cx, &path, "supplementalGroupsPolicy", policy, allowed);
    }
    if let Some(policy) = sc.fs_group_change_policy.as_deref() {
        let path = sp.field("fsGroupChangePolicy");
        let allowed = FS_GROUP_CHANGE_POLICIES;
        enumerated(cx, &path, "fsGroupChangePolicy", policy, allowed);
    }
    sysctls(cx, spec, sc, &sp.field("sysctls"));
    seccomp(cx, sc.seccomp_profile.as_ref(), &sp.field("seccompProfile"));
}

/// `validateSysctls`: names well formed and not repeated, none of a namespace the pod shares
/// with the host. A name outside the kubelet's safe set is the kubelet's to refuse (at
/// admission, `SysctlForbidden`): said here as a warning.
fn sysctls(cx: &mut Cx<'_>, spec: &PodSpec, sc: &PodSecurityContext, p: &FieldPath) {
    use crate::sysctls::{name_problem, namespace_of, Namespace, SAFE};
    let mut seen = std::collections::HashSet::new();
    for (i, s) in sc.sysctls.iter().flatten().enumerate() {
        let field = p.index(i).field("name");
        if s.name.is_empty() {
            cx.error(&field, "sysctl name is required");
            continue;
        }
        if let Some(problem) = name_problem(&s.name) {
            cx.error(
                &field,
                format!("invalid sysctl name {:?}: {problem}", s.name),
            );
            continue;
        }
        if !seen.insert(s.name.as_str()) {
            cx.error(&field, format!("sysctl {:?} is set twice", s.name));
            continue;
        }
        let shared = match namespace_of(&s.name) {
            Some(Namespace::Net) if spec.host_network == Some(true) => Some("hostNetwork"),
            Some(Namespace::Ipc) if spec.host_ipc == Some(true) => Some("hostIPC"),
            _ => None,
        };
        if let Some(host) = shared {
            cx.error(
                &field,
                format!("sysctl {:?} may not be specified when {host} is true: it would change the host's own", s.name),
            );
        } else if !SAFE.contains(&crate::sysctls::dotted(&s.name).as_str()) {
            cx.warn(
                &field,
                format!(
                    "sysctl {:?} is not in the kubelet's safe set: a kubelet refuses the pod at admission (SysctlForbidden) unless its --allowed-unsafe-sysctls names it",
                    s.name
                ),
                Some(format!(
                    "allow it here as on such a node: `tandem run --allowed-unsafe-sysctls '{}'` (`apply` too; TANDEM_ALLOWED_UNSAFE_SYSCTLS for `serve`); the safe set: {}",
                    crate::sysctls::dotted(&s.name),
                    SAFE.join(", ")
                )),
            );
        }
    }
}

fn seccomp(cx: &mut Cx<'_>, s: Option<&SeccompProfile>, p: &FieldPath) {
    let Some(s) = s else { return };
    let path = p.field("type");
    if !enumerated(cx, &path, "seccompProfile.type", &s.type_, SECCOMP_TYPES) {
        return;
    }
    if s.type_ == "Localhost" && s.localhost_profile.as_deref().is_none_or(str::is_empty) {
        cx.error(
            &p.field("localhostProfile"),
            "localhostProfile is required when type is Localhost",
        );
    } else if s.type_ != "Localhost" && s.localhost_profile.is_some() {
        cx.error(
            &p.field("localhostProfile"),
            "localhostProfile may only be set when type is Localhost",
        );
    }
}

fn mode(cx: &mut Cx<'_>, p: &FieldPath, mode: Option<i32>) {
    if let Some(m) = mode {
        if !(0..=0o777).contains(&m) {
            cx.error_hint(
                p,
                format!("mode must be between 0 and 0777 (octal) / 511 (decimal), got {m}"),
                "in YAML write octal with a leading zero (0644); in JSON use decimal (420)",
            );
        }
    }
}

fn key_to_paths(cx: &mut Cx<'_>, items: Option<&[KeyToPath]>, p: &FieldPath) {
    for (i, it) in items.unwrap_or_default().iter().enumerate() {
        let ip = p.index(i);
        if it.key.is_empty() {
            cx.error(&ip.field("key"), "key is required");
        }
        if it.path.is_empty() {
            cx.error(&ip.field("path"), "path is required");
        } else if let Some(msg) = names::local_non_reserved_path(&it.path) {
            cx.error(&ip.field("path"), format!("path {:?} {msg}", it.path));
        }
        mode(cx, &ip.field("mode"), it.mode);
    }
}

fn field_ref(
    cx: &mut Cx<'_>,
    path: &str,
    api_version: Option<&str>,
    allowed: &[&str],
    p: &FieldPath,
) {
    if let Some(v) = api_version.filter(|v| !v.is_empty() && *v != "v1") {
        cx.error(
            &p.field("apiVersion"),
            format!("fieldRef.apiVersion must be v1, got {v:?}"),
        );
    }
    let subscripted = ["metadata.labels", "metadata.annotations"]
        .iter()
        .find_map(|prefix| subscript(path, prefix).map(|key| (prefix, key)));
    if let Some((prefix, key)) = subscripted {
        // Annotation keys are compared without case (`validateDownwardAPIVolumeFile` lower-cases
        // them); label keys as written.
        let checked = match *prefix {
            "metadata.annotations" => key.to_ascii_lowercase(),
            _ => key.to_string(),
        };
        if let Some(msg) = names::qualified_name(&checked) {
            cx.error(
                &p.field("fieldPath"),
                format!("invalid key {key:?} in {prefix}: {msg}"),
            );
        }
        return;
    }
    if !allowed.contains(&path) {
        cx.error_hint(
            &p.field("fieldPath"),
            format!("unsupported fieldPath {path:?}"),
            format!(
                "supported: {}, metadata.labels['<key>'], metadata.annotations['<key>']",
                list(allowed)
            ),
        );
    }
}

/// The name of a ConfigMap or Secret a reference names (`ValidateConfigMapName`,
/// `ValidateSecretName`: a DNS subdomain).
fn object_name(cx: &mut Cx<'_>, p: &FieldPath, name: &str) {
    if name.is_empty() {
        cx.error(p, "name is required");
    } else if let Some(msg) = names::dns1123_subdomain(name) {
        cx.error(p, format!("invalid name {name:?}: {msg}"));
    }
}

fn quantity(cx: &mut Cx<'_>, p: &FieldPath, text: &str) -> Option<crate::quantity::Quantity> {
    match parse_quantity(text) {
        Ok(q) if q.is_negative() => {
            cx.error(p, format!("quantity must be 0 or more, got {text:?}"));
            None
        }
        Ok(q) => Some(q),
        Err(e) => {
            cx.error(p, e.to_string());
            None
        }
    }
}
