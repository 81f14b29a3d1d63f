//! Kubernetes manifests in, validated [`plan::PodPlan`]s out.
//!
//! Owns: reading YAML/JSON into the Kubernetes API types, locating every problem at file:line:col
//! with its field path, the API server's validation and defaults, and the plan the engine runs.
//! Never: touches the filesystem, the network, the clock or a container.
//!
//! Start at [`load`]: it takes the text of every manifest ([`Source`]) and returns one
//! [`LoadedPod`] per Pod, or every problem found as [`Diagnostics`]. The pipeline per document:
//! YAML events with positions ([`yaml`]) → structural check against the k8s-openapi schema
//! (unknown fields, types) → table of known-but-unsupported fields → deserialisation into
//! k8s-openapi types → API defaults → a Pod's admission (its ServiceAccount and token volume,
//! `admission`, with [`PlanOptions::api_access`]) → API validation → plan (ConfigMap/Secret
//! references resolved against the objects in the same sources). Besides: [`labels`], label selectors as kubectl's
//! `-l` and the API's selectors read and match them.

mod admission;
pub mod cron;
mod cx;
mod defaults;
pub mod diag;
pub mod duration;
pub mod env;
pub mod ephemeral;
pub mod kinds;
pub mod labels;
mod locate;
pub mod names;
mod objects;
pub use objects::{DEFAULT_SERVICE_ACCOUNT, ROOT_CA_CONFIG_MAP, ROOT_CA_KEY};
pub mod openapi;
mod path;
pub mod plan;
mod planner;
mod profiles;
pub mod quantity;
mod scheduling;
mod schema;
pub mod services;
pub mod signal;
mod stand_ins;
pub mod sysctls;
mod unsupported;
pub mod updates;
mod validate;
pub mod workloads;
mod yaml;

use std::collections::HashMap;

use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ReplicationController, Secret, Service};

pub use diag::{Diagnostic, Diagnostics, Severity, Source};
pub use kinds::{Workload, WorkloadKind};

pub use locate::{locate, written_pods, WrittenPod};

use cx::Cx;
use objects::namespace_of;
use path::FieldPath;
use yaml::{Node, Value};

/// The claims directory of plans made without [`PlanOptions::claims_dir`] (lint, graph).
const CLAIMS_PLACEHOLDER: &str = "/var/lib/tandem/volumes";

/// Namespace of objects that do not name one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The Kubernetes release (major, minor) whose API and kubelet tandem follows. One constant so
/// that everything naming the version agrees: `tandem lint --kube-version`'s default and the
/// prober's `User-Agent` ([`probe_user_agent`]).
pub const KUBERNETES_VERSION: (u32, u32) = (1, 33);

/// `kube-probe/<major>.<minor>`: the User-Agent of the kubelet's HTTP and gRPC probes, which
/// names the kubelet's release (servers log it, and some route probes by it).
pub fn probe_user_agent() -> String {
    let (major, minor) = KUBERNETES_VERSION;
    format!("kube-probe/{major}.{minor}")
}

/// Inputs to planning that do not come from the manifests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// `spec.nodeName` for pods that do not set it.
    pub node_name: String,
    /// Seed for pod uids when `metadata.uid` is absent: the first such Pod gets it verbatim, every
    /// further one a UUID derived from it and its namespace/name. `None`: uids are derived from
    /// namespace, name and content (stable, no clock, no randomness).
    pub uid: Option<String>,
    /// Where PersistentVolumeClaims live on this machine: a claim `C` of namespace `N` is the
    /// directory `claims_dir/N/C`. `None` for tools that do not run pods (a placeholder then).
    pub claims_dir: Option<String>,
    /// What an unknown field is: an error (the default, as `kubectl apply` asks by default and
    /// `run` always does), a warning, or nothing — the API server's `fieldValidation`.
    pub unknown_fields: UnknownFields,
    /// The uids of objects that exist already, by (kind, namespace, name): an object of the
    /// sources without a uid of its own that names one of them is an update of it and keeps its
    /// uid (a Job's generated selector and pod labels with it), as an update through the API
    /// server does (`tandem apply`).
    pub existing: std::collections::BTreeMap<(String, String, String), String>,
    /// Refuse a pod with a volume source that cannot exist on this machine (a network or cloud
    /// disk, a CSI driver, a generic ephemeral volume) instead of warning and running it with an
    /// empty directory standing in for the volume (`--strict`).
    pub strict: bool,
    /// The ConfigMaps and Secrets a store keeps (made earlier through the API or `apply`), as
    /// the API server stores them: a reference the sources do not satisfy reads them, as the
    /// API server's objects would be read. The sources' own objects of the same name win.
    pub kept: Vec<serde_json::Value>,
    /// Pods reach the store's API endpoint as a cluster's reach theirs: each Pod is admitted as
    /// the ServiceAccount admission plugin admits it (its account must exist; unless
    /// `automountServiceAccountToken: false` says otherwise, a projected `kube-api-access-…`
    /// volume of a token, the CA and the namespace is mounted in every container). `None` for
    /// tools that run no pod.
    pub api_access: Option<ApiAccess>,
}

/// What pods need of the store to reach its API endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiAccess {
    /// Where the key that signs service-account tokens is kept.
    pub token_key: String,
    /// The store's CA certificate (PEM): `ca.crt` of every namespace's `kube-root-ca.crt`.
    pub root_ca: String,
}

/// How unknown fields are taken (`fieldValidation=Strict|Warn|Ignore`). Either way they are
/// not kept: an object is read as the fields it knows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UnknownFields {
    #[default]
    Refuse,
    Warn,
    Ignore,
}

/// Everything [`load`] accepted.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub pods: Vec<LoadedPod>,
    pub workloads: Vec<LoadedWorkload>,
    /// The PersistentVolumeClaims of the sources, as (namespace, name).
    pub claims: Vec<(String, String)>,
    /// The ConfigMaps, Secrets and ServiceAccounts of the sources as written, for the pods
    /// workloads make later (each such pod is loaded with them, as the API server would resolve
    /// its references and admit it then).
    pub references: Vec<serde_json::Value>,
    /// The objects of the sources tandem keeps as written for `tandem serve` (RBAC), for `run`
    /// and `apply` to keep in the store.
    pub kept: Vec<serde_json::Value>,
    /// The names made for objects that gave only `metadata.generateName`.
    pub generated_names: Vec<String>,
    pub services: Vec<LoadedService>,
    /// EndpointSlices and Endpoints given by hand (for Services without a selector).
    pub endpoints: Vec<LoadedEndpoints>,
    pub warnings: Vec<Diagnostic>,
}

/// An EndpointSlice or Endpoints object that passed validation, `metadata.namespace` filled.
#[derive(Debug, Clone)]
pub struct LoadedEndpoints {
    pub object: services::ManualEndpoints,
    pub file: String,
    pub line: usize,
}

/// A Service that passed validation, with the API server's defaults and `metadata.namespace`
/// and `metadata.uid` filled; its cluster IP and node ports are allocated when it is created.
#[derive(Debug, Clone)]
pub struct LoadedService {
    pub object: Service,
    pub file: String,
    /// Line where the object starts.
    pub line: usize,
}

/// A workload (an object with a pod template) that passed validation, its template included.
#[derive(Debug, Clone)]
pub struct LoadedWorkload {
    /// The object with the API server's defaults, in its own fields and in its template's spec;
    /// `metadata.namespace` and `metadata.uid` filled.
    pub object: Workload,
    /// The template planned as a pod named after the workload: what its pods will run (images,
    /// ports), for checks before anything starts.
    pub template: plan::PodPlan,
    pub file: String,
    /// Line where the object starts.
    pub line: usize,
    /// The template's usable imagePullSecrets (as [`LoadedPod::image_pull_secrets`]).
    pub image_pull_secrets: Vec<PullSecret>,
}

#[derive(Debug, Clone)]
pub struct LoadedPod {
    pub plan: plan::PodPlan,
    /// The Pod object as given, with metadata.namespace/uid filled and API defaults applied to spec.
    pub object: Pod,
    pub file: String,
    /// Line where the object starts.
    pub line: usize,
    /// `spec.imagePullSecrets` found in the same manifests with type
    /// `kubernetes.io/dockerconfigjson` (or the older `kubernetes.io/dockercfg`), in order.
    pub image_pull_secrets: Vec<PullSecret>,
}

/// Registry credentials of one imagePullSecret.
#[derive(Clone, PartialEq, Eq)]
pub struct PullSecret {
    pub name: String,
    /// A docker config.json document (`{"auths": {...}}`), decoded from the Secret.
    pub docker_config_json: Vec<u8>,
}

impl std::fmt::Debug for PullSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSecret")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The usable imagePullSecrets of a pod; a missing or mistyped one is a warning, as the
/// kubelet only logs it and pulls without it.
fn pull_secrets(
    cx: &mut Cx<'_>,
    pod: &Pod,
    namespace: &str,
    store: &objects::Store,
) -> Vec<PullSecret> {
    let mut out = Vec::new();
    let refs = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.clone())
        .unwrap_or_default();
    for (i, r) in refs.iter().enumerate() {
        let at = FieldPath::root()
            .field("spec")
            .field("imagePullSecrets")
            .index(i)
            .field("name");
        let Some(secret) = store.secret(namespace, &r.name) else {
            cx.warn(
                &at,
                format!(
                    "imagePullSecret {:?} is not in the given manifests; pulls go without it",
                    r.name
                ),
                Some(
                    "add the kubernetes.io/dockerconfigjson Secret to the files given to tandem"
                        .into(),
                ),
            );
            continue;
        };
        let json = match secret.kind.as_deref() {
            Some("kubernetes.io/dockerconfigjson") => secret.data.get(".dockerconfigjson").cloned(),
            Some("kubernetes.io/dockercfg") => secret.data.get(".dockercfg").map(|cfg| {
                let mut doc = b"{\"auths\":".to_vec();
                doc.extend_from_slice(cfg);
                doc.push(b'}');
                doc
            }),
            _ => None,
        };
        match json {
            Some(docker_config_json) => out.push(PullSecret {
                name: r.name.clone(),
                docker_config_json,
            }),
            None => cx.warn(
                &at,
                format!(
                    "Secret {:?} is not of type kubernetes.io/dockerconfigjson with a .dockerconfigjson key; pulls go without it",
                    r.name
                ),
                None,
            ),
        }
    }
    out
}

/// Parses all sources (multi-document YAML, or JSON), keeps v1 Pod, ConfigMap, Secret and List
/// (items of those kinds), validates, applies defaults, resolves configMap/secret refs against the
/// objects in the same sources, and plans every Pod.
///
/// `Err` carries every error found (not just the first), followed by the warnings; on success the
/// warnings are in [`Loaded::warnings`].
pub fn load(sources: &[Source], opts: &PlanOptions) -> Result<Loaded, Diagnostics> {
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut objects: Vec<(usize, Node, ObjKind)> = Vec::new();
    let mut aside = Aside::default();
    for (si, root) in parse_sources(sources, &mut diags) {
        collect(
            &sources[si].name,
            si,
            root,
            None,
            &mut objects,
            &mut aside,
            &mut diags,
        );
    }
    let checked = check_objects(sources, &objects, opts, &mut diags);
    let mut uids = Uids::new(opts);
    let pods = plan_pods(
        sources,
        checked.pods,
        &checked.store,
        opts,
        &mut uids,
        &mut diags,
    );
    let workloads = plan_workloads(
        sources,
        checked.workloads,
        &checked.store,
        opts,
        &mut uids,
        &mut diags,
    );
    let services = plan_services(sources, checked.services, &mut uids, &mut diags);
    let endpoints = plan_endpoints(sources, checked.endpoints, &mut diags);
    pod_name_clashes(&pods, &workloads, &mut diags);
    order_diagnostics(sources, &mut diags);
    if diags.iter().any(|d| d.severity == Severity::Error) {
        return Err(Diagnostics(diags));
    }
    Ok(Loaded {
        pods,
        workloads,
        claims: aside.claims,
        kept: aside.kept,
        references: checked.references,
        generated_names: checked.generated_names,
        services,
        endpoints,
        warnings: diags,
    })
}

/// The documents of YAML (or JSON) sources as JSON values, read as [`load`] reads manifests (YAML
/// 1.1 scalars, as go-yaml v2 resolves them), for callers that take other shapes of data.
pub fn documents(sources: &[Source]) -> Result<Vec<serde_json::Value>, Diagnostics> {
    let mut diags = Vec::new();
    let docs: Vec<_> = parse_sources(sources, &mut diags)
        .into_iter()
        .map(|(_, root)| root.to_json())
        .collect();
    if diags.is_empty() {
        Ok(docs)
    } else {
        Err(Diagnostics(diags))
    }
}

/// Every YAML document of every source, with the index of its source; syntax errors go to `diags`.
fn parse_sources(sources: &[Source], diags: &mut Vec<Diagnostic>) -> Vec<(usize, Node)> {
    let mut docs = Vec::new();
    for (si, src) in sources.iter().enumerate() {
        let (parsed, errors) = yaml::parse_stream(&src.text);
        for e in errors {
            diags.push(Diagnostic {
                severity: Severity::Error,
                file: src.name.clone(),
                line: e.pos.line,
                column: e.pos.col,
                field: String::new(),
                object: String::new(),
                hint: e.message.starts_with("invalid YAML").then(|| {
                    "check the indentation here, and look for an unclosed [, { or quote on this \
                     or an earlier line"
                        .to_string()
                }),
                message: e.message,
                stage: diag::Stage::Validation,
            });
        }
        docs.extend(parsed.into_iter().map(|d| (si, d.root)));
    }
    docs
}

/// A Pod that passed the schema check, waiting to be defaulted, validated and planned once every
/// ConfigMap and Secret of the sources is known.
struct CheckedPod<'n> {
    source: usize,
    node: &'n Node,
    pod: Pod,
    /// Fields whose errors the schema check already reported.
    suppressed: Vec<FieldPath>,
    label: String,
}

/// A workload that passed the schema check, waiting like a [`CheckedPod`].
struct CheckedWorkload<'n> {
    source: usize,
    node: &'n Node,
    object: Workload,
    suppressed: Vec<FieldPath>,
    label: String,
}

struct CheckedService<'n> {
    source: usize,
    node: &'n Node,
    object: Service,
    suppressed: Vec<FieldPath>,
    label: String,
}

struct CheckedEndpoints<'n> {
    source: usize,
    node: &'n Node,
    object: services::ManualEndpoints,
    suppressed: Vec<FieldPath>,
    label: String,
}

/// What the schema check let through.
struct Checked<'n> {
    store: objects::Store,
    pods: Vec<CheckedPod<'n>>,
    workloads: Vec<CheckedWorkload<'n>>,
    services: Vec<CheckedService<'n>>,
    endpoints: Vec<CheckedEndpoints<'n>>,
    references: Vec<serde_json::Value>,
    generated_names: Vec<String>,
}

/// Checks every object against its schema (and pods and pod templates against what tandem does
/// not support yet), keeps the ConfigMaps and Secrets in a store, and returns the Pods and
/// workloads to plan.
fn check_objects<'n>(
    sources: &[Source],
    objects: &'n [(usize, Node, ObjKind)],
    opts: &PlanOptions,
    diags: &mut Vec<Diagnostic>,
) -> Checked<'n> {
    let unknown_fields = opts.unknown_fields;
    let mut generated_names = Vec::new();
    let mut store = objects::Store::default();
    let mut pods = Vec::new();
    let mut workloads = Vec::new();
    let mut services = Vec::new();
    let mut endpoints = Vec::new();
    let mut references = Vec::new();
    for (si, node, kind) in objects {
        let file = sources[*si].name.as_str();
        let mut cx = Cx::new(file, node, object_label(node, kind.name()));
        cx.unknown_fields = unknown_fields;
        cx.strict = opts.strict;
        let checked = schema::check(&mut cx, kind.schema());
        match kind {
            ObjKind::Pod => unsupported::check(&mut cx),
            ObjKind::Workload(w) => {
                let base = template_path(*w);
                if let Some(template) = node.at(&base) {
                    let mut tcx = Cx::nested(file, template, base, cx.object.clone());
                    tcx.strict = opts.strict;
                    unsupported::check(&mut tcx);
                    diags.append(&mut tcx.diags);
                }
            }
            ObjKind::ConfigMap | ObjKind::Secret | ObjKind::ServiceAccount => {
                references.push(node.to_json())
            }
            ObjKind::Service | ObjKind::EndpointSlice | ObjKind::Endpoints => {}
        }
        let mut json = node.to_json();
        for bad in &checked.bad_values {
            schema::blank(&mut json, bad);
        }
        // Only `generateName`: the API server makes the name, from the run's seed here (else
        // from the object, for tools that only read).
        let meta = &json["metadata"];
        if meta["name"].as_str().is_none_or(str::is_empty) {
            if let Some(base) = meta["generateName"].as_str().filter(|b| !b.is_empty()) {
                let seed = match opts.uid.as_deref() {
                    Some(u) => derive_uid(&[u, &si.to_string(), &node.pos.line.to_string()]),
                    None => derive_uid(&[&node.to_json().to_string()]),
                };
                let name = names::generated(base, &seed);
                generated_names.push(name.clone());
                json["metadata"]["name"] = name.into();
            }
        }
        match kind {
            ObjKind::Pod => {
                if let Some(pod) = deserialize::<Pod>(&mut cx, json) {
                    pods.push(CheckedPod {
                        source: *si,
                        node,
                        pod,
                        suppressed: std::mem::take(&mut cx.suppressed),
                        label: cx.object.clone(),
                    });
                }
            }
            ObjKind::ConfigMap => {
                if let Some(cm) = deserialize::<ConfigMap>(&mut cx, json) {
                    objects::add_config_map(&mut cx, &mut store, cm);
                }
            }
            ObjKind::Secret => {
                if let Some(s) = deserialize::<Secret>(&mut cx, json) {
                    objects::add_secret(&mut cx, &mut store, s);
                }
            }
            ObjKind::ServiceAccount => {
                if let Some(sa) = deserialize(&mut cx, json) {
                    objects::add_service_account(&mut cx, &mut store, sa);
                }
            }
            ObjKind::Service => {
                if let Some(object) = deserialize::<Service>(&mut cx, json) {
                    services.push(CheckedService {
                        source: *si,
                        node,
                        object,
                        suppressed: std::mem::take(&mut cx.suppressed),
                        label: cx.object.clone(),
                    });
                }
            }
            ObjKind::EndpointSlice | ObjKind::Endpoints => {
                let object = match kind {
                    ObjKind::EndpointSlice => {
                        deserialize(&mut cx, json).map(services::ManualEndpoints::Slice)
                    }
                    _ => deserialize(&mut cx, json).map(services::ManualEndpoints::Endpoints),
                };
                if let Some(object) = object {
                    endpoints.push(CheckedEndpoints {
                        source: *si,
                        node,
                        object,
                        suppressed: std::mem::take(&mut cx.suppressed),
                        label: cx.object.clone(),
                    });
                }
            }
            ObjKind::Workload(w) => {
                if let Some(object) = deserialize_workload(&mut cx, *w, json) {
                    workloads.push(CheckedWorkload {
                        source: *si,
                        node,
                        object,
                        suppressed: std::mem::take(&mut cx.suppressed),
                        label: cx.object.clone(),
                    });
                }
            }
        }
        diags.append(&mut cx.diags);
    }
    for object in &opts.kept {
        store.keep(object);
    }
    if let Some(access) = &opts.api_access {
        store.publish_root_ca(&access.root_ca);
    }
    Checked {
        store,
        pods,
        workloads,
        services,
        endpoints,
        references,
        generated_names,
    }
}

fn deserialize_workload(
    cx: &mut Cx<'_>,
    kind: WorkloadKind,
    json: serde_json::Value,
) -> Option<Workload> {
    Some(match kind {
        WorkloadKind::Deployment => {
            Workload::Deployment(deserialize::<apps::Deployment>(cx, json)?)
        }
        WorkloadKind::ReplicaSet => {
            Workload::ReplicaSet(deserialize::<apps::ReplicaSet>(cx, json)?)
        }
        WorkloadKind::StatefulSet => {
            Workload::StatefulSet(deserialize::<apps::StatefulSet>(cx, json)?)
        }
        WorkloadKind::DaemonSet => Workload::DaemonSet(deserialize::<apps::DaemonSet>(cx, json)?),
        WorkloadKind::Job => Workload::Job(deserialize::<batch::Job>(cx, json)?),
        WorkloadKind::CronJob => Workload::CronJob(deserialize::<batch::CronJob>(cx, json)?),
        WorkloadKind::ReplicationController => {
            Workload::ReplicationController(deserialize::<ReplicationController>(cx, json)?)
        }
    })
}

/// Where a kind's pod template is, as a path.
fn template_path(kind: WorkloadKind) -> FieldPath {
    kind.template_path()
        .iter()
        .fold(FieldPath::root(), |p, f| p.field(f))
}

/// Gives objects their uids: `metadata.uid` when written, else the seed for the first object
/// without one and uids derived from it for the rest, else uids derived from the object.
struct Uids<'o> {
    seed: Option<&'o str>,
    seed_used: bool,
    existing: &'o std::collections::BTreeMap<(String, String, String), String>,
}

impl<'o> Uids<'o> {
    fn new(opts: &'o PlanOptions) -> Uids<'o> {
        Uids {
            seed: opts.uid.as_deref().filter(|s| !s.is_empty()),
            seed_used: false,
            existing: &opts.existing,
        }
    }

    fn uid(
        &mut self,
        written: Option<&str>,
        kind: &str,
        namespace: &str,
        name: &str,
        node: &Node,
    ) -> String {
        let key = (kind.to_string(), namespace.to_string(), name.to_string());
        match (written.filter(|u| !u.is_empty()), self.seed) {
            (Some(u), _) => u.to_string(),
            (None, _) if self.existing.contains_key(&key) => self.existing[&key].clone(),
            // The seed names the first object without a uid; the others get uids derived from it.
            (None, Some(seed)) if self.seed_used => derive_uid(&[seed, namespace, name]),
            (None, Some(seed)) => {
                self.seed_used = true;
                seed.to_string()
            }
            (None, None) => derive_uid(&[namespace, name, &node.to_json().to_string()]),
        }
    }
}

/// Reports an object whose kind, namespace and name an earlier one had.
fn defined_twice(
    cx: &mut Cx<'_>,
    seen: &mut HashMap<(String, String, String), (String, usize)>,
    kind: &str,
    namespace: &str,
    name: &str,
) {
    if name.is_empty() {
        return;
    }
    let key = (kind.to_string(), namespace.to_string(), name.to_string());
    if let Some((f, line)) = seen.get(&key) {
        cx.error(
            &FieldPath::root().field("metadata").field("name"),
            format!("{kind} {namespace}/{name} is defined twice (first at {f}:{line})"),
        );
    } else {
        seen.insert(key, (cx.file.to_string(), cx.root.pos.line));
    }
}

/// What a pod being planned is: a Pod being created (admitted as the API server admits it), or
/// a workload's template checked as a pod (stored as written; its pods are admitted as made).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Created {
    Pod,
    Template,
}

/// Defaults, validates and plans one pod (a Pod, or a workload's template as a pod): what a Pod
/// and a template have in common.
fn plan_pod(
    cx: &mut Cx<'_>,
    pod: &mut Pod,
    uid: &str,
    store: &objects::Store,
    opts: &PlanOptions,
    created: Created,
) -> (plan::PodPlan, Vec<PullSecret>) {
    let namespace = namespace_of(&pod.metadata);
    defaults::apply(pod, &namespace, uid, &opts.node_name);
    let access = opts.api_access.as_ref();
    if let (Some(_), Created::Pod) = (access, created) {
        admission::service_account(cx, pod, store, uid);
    }
    validate::pod(cx, pod);
    let claims_dir = opts.claims_dir.as_deref().unwrap_or(CLAIMS_PLACEHOLDER);
    let token_key = access.map(|a| a.token_key.as_str());
    let plan = planner::plan(cx, pod, store, claims_dir, token_key);
    let image_pull_secrets = pull_secrets(cx, pod, &namespace, store);
    (plan, image_pull_secrets)
}

/// Defaults, validates and plans each Pod; a Pod with errors is reported and left out.
fn plan_pods(
    sources: &[Source],
    pods: Vec<CheckedPod<'_>>,
    store: &objects::Store,
    opts: &PlanOptions,
    uids: &mut Uids<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<LoadedPod> {
    let mut loaded = Vec::new();
    let mut seen = HashMap::new();
    for CheckedPod {
        source,
        node,
        mut pod,
        suppressed,
        label,
    } in pods
    {
        let file = sources[source].name.as_str();
        let mut cx = Cx::new(file, node, label);
        cx.suppressed = suppressed;
        let namespace = namespace_of(&pod.metadata);
        let name = pod.metadata.name.clone().unwrap_or_default();
        defined_twice(&mut cx, &mut seen, "Pod", &namespace, &name);
        let uid = uids.uid(pod.metadata.uid.as_deref(), "Pod", &namespace, &name, node);
        let (plan, image_pull_secrets) =
            plan_pod(&mut cx, &mut pod, &uid, store, opts, Created::Pod);
        if !cx.has_errors() {
            loaded.push(LoadedPod {
                plan,
                object: pod,
                file: file.to_string(),
                line: node.pos.line,
                image_pull_secrets,
            });
        }
        diags.append(&mut cx.diags);
    }
    loaded
}

/// The name a workload's template is checked under: the first pod a StatefulSet makes, else the
/// workload's own name (its pods' names start with it).
fn stand_in_pod_name(w: &Workload) -> String {
    match w.kind() {
        WorkloadKind::StatefulSet => format!("{}-0", w.name()),
        _ => w.name().to_string(),
    }
}

/// A StatefulSet's pods get a claim per claim template (see tandem-controllers): its template is
/// checked with a stand-in for each, as mounts name them.
fn claim_volumes(w: &Workload, pod: &mut Pod) {
    let Workload::StatefulSet(st) = w else {
        return;
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    let volumes = spec.volumes.get_or_insert_with(Vec::new);
    for claim in st.spec.volume_claim_templates.iter().flatten() {
        let Some(name) = claim.metadata.name.clone() else {
            continue;
        };
        if volumes.iter().all(|v| v.name != name) {
            volumes.push(k8s_openapi::api::core::v1::Volume {
                name: name.clone(),
                persistent_volume_claim: Some(
                    k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                        claim_name: format!("{name}-{pod_name}"),
                        read_only: None,
                    },
                ),
                ..Default::default()
            });
        }
    }
}

/// Defaults and validates each workload's own fields, then its template as a pod (findings
/// located inside the template); a workload with errors is reported and left out.
fn plan_workloads(
    sources: &[Source],
    workloads: Vec<CheckedWorkload<'_>>,
    store: &objects::Store,
    opts: &PlanOptions,
    uids: &mut Uids<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<LoadedWorkload> {
    let mut loaded = Vec::new();
    let mut seen = HashMap::new();
    for CheckedWorkload {
        source,
        node,
        mut object,
        suppressed,
        label,
    } in workloads
    {
        let file = sources[source].name.as_str();
        let kind = object.kind();
        let mut cx = Cx::new(file, node, label.clone());
        cx.suppressed = suppressed.clone();
        let named = objects::validate_metadata(&mut cx, object.metadata()).is_some();
        let namespace = namespace_of(object.metadata());
        let name = object.name().to_string();
        defined_twice(&mut cx, &mut seen, kind.name(), &namespace, &name);
        let uid = uids.uid(
            object.metadata().uid.as_deref(),
            kind.name(),
            &namespace,
            &name,
            node,
        );
        let meta = object.metadata_mut();
        meta.namespace = Some(namespace.clone());
        meta.uid = Some(uid.clone());
        workloads::apply_defaults(&mut object);
        workloads::validate(&mut cx, &object);
        let base = template_path(kind);
        let template = match (node.at(&base), object.template().cloned()) {
            (Some(template_node), Some(t)) if named => {
                let mut tcx = Cx::nested(file, template_node, base.clone(), label);
                tcx.suppressed = suppressed
                    .iter()
                    .filter_map(|p| p.strip_prefix(&base))
                    .collect();
                let mut pod = Pod {
                    metadata: t.metadata.clone().unwrap_or_default(),
                    spec: t.spec.clone(),
                    status: None,
                };
                pod.metadata.name = Some(stand_in_pod_name(&object));
                pod.metadata.namespace = Some(namespace.clone());
                pod.metadata.generate_name = None;
                claim_volumes(&object, &mut pod);
                let planned = plan_pod(&mut tcx, &mut pod, &uid, store, opts, Created::Template);
                // The stored template carries the API defaults of its spec, as on a cluster
                // (not a Pod's own: no service account, node, requests from limits), and not
                // the claims' stand-ins.
                if let Some(spec) = object.template_mut().and_then(|t| t.spec.as_mut()) {
                    defaults::pod_spec(spec);
                }
                cx.diags.append(&mut tcx.diags);
                Some(planned)
            }
            _ => None,
        };
        if let (Some((template, image_pull_secrets)), false) = (template, cx.has_errors()) {
            loaded.push(LoadedWorkload {
                object,
                template,
                file: file.to_string(),
                line: node.pos.line,
                image_pull_secrets,
            });
        }
        diags.append(&mut cx.diags);
    }
    loaded
}

/// Defaults and validates each Service; one with errors is reported and left out.
fn plan_services(
    sources: &[Source],
    services: Vec<CheckedService<'_>>,
    uids: &mut Uids<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<LoadedService> {
    let mut loaded = Vec::new();
    let mut seen = HashMap::new();
    for CheckedService {
        source,
        node,
        mut object,
        suppressed,
        label,
    } in services
    {
        let file = sources[source].name.as_str();
        let mut cx = Cx::new(file, node, label);
        cx.suppressed = suppressed;
        objects::validate_metadata(&mut cx, &object.metadata);
        let namespace = namespace_of(&object.metadata);
        let name = object.metadata.name.clone().unwrap_or_default();
        defined_twice(&mut cx, &mut seen, "Service", &namespace, &name);
        let uid = uids.uid(
            object.metadata.uid.as_deref(),
            "Service",
            &namespace,
            &name,
            node,
        );
        object.metadata.namespace = Some(namespace);
        object.metadata.uid = Some(uid);
        services::apply_defaults(&mut object);
        services::validate(&mut cx, &object);
        if !cx.has_errors() {
            loaded.push(LoadedService {
                object,
                file: file.to_string(),
                line: node.pos.line,
            });
        }
        diags.append(&mut cx.diags);
    }
    loaded
}

/// Validates EndpointSlices and Endpoints given by hand; one with errors is reported and left
/// out.
fn plan_endpoints(
    sources: &[Source],
    given: Vec<CheckedEndpoints<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<LoadedEndpoints> {
    let mut loaded = Vec::new();
    let mut seen = HashMap::new();
    for CheckedEndpoints {
        source,
        node,
        mut object,
        suppressed,
        label,
    } in given
    {
        let file = sources[source].name.as_str();
        let mut cx = Cx::new(file, node, label);
        cx.suppressed = suppressed;
        let meta = object.metadata_mut();
        objects::validate_metadata(&mut cx, meta);
        let namespace = namespace_of(meta);
        let name = meta.name.clone().unwrap_or_default();
        meta.namespace = Some(namespace.clone());
        defined_twice(&mut cx, &mut seen, object.kind(), &namespace, &name);
        services::validate_manual(&mut cx, &object);
        if !cx.has_errors() {
            loaded.push(LoadedEndpoints {
                object,
                file: file.to_string(),
                line: node.pos.line,
            });
        }
        diags.append(&mut cx.diags);
    }
    loaded
}

/// Pods a StatefulSet will make (`NAME-0` ..) must not be Pods of the same sources.
fn pod_name_clashes(pods: &[LoadedPod], workloads: &[LoadedWorkload], diags: &mut Vec<Diagnostic>) {
    for w in workloads {
        let Workload::StatefulSet(_) = &w.object else {
            continue;
        };
        let replicas = w.object.replicas().unwrap_or(1).max(0);
        for p in pods {
            let clash = p.plan.namespace == w.object.namespace()
                && (0..replicas).any(|i| p.plan.name == format!("{}-{i}", w.object.name()));
            if clash {
                diags.push(Diagnostic {
                    severity: Severity::Error,
                    file: p.file.clone(),
                    line: p.line,
                    column: 1,
                    field: "metadata.name".into(),
                    object: format!("Pod/{}", p.plan.name),
                    message: format!(
                        "Pod {} has the name of a pod StatefulSet {} makes ({}:{})",
                        p.plan.name,
                        w.object.name(),
                        w.file,
                        w.line
                    ),
                    hint: Some("rename the Pod or the StatefulSet".into()),
                    stage: diag::Stage::Validation,
                });
            }
        }
    }
}

/// Errors before warnings, then in the order of the sources as given, by line and column; each
/// diagnostic once.
fn order_diagnostics(sources: &[Source], diags: &mut Vec<Diagnostic>) {
    let order: HashMap<&str, usize> = sources
        .iter()
        .enumerate()
        .rev()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    diags.sort_by_key(|d| {
        (
            d.severity,
            order.get(d.file.as_str()).copied().unwrap_or(usize::MAX),
            d.line,
            d.column,
        )
    });
    diags.dedup();
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ObjKind {
    Pod,
    ConfigMap,
    Secret,
    ServiceAccount,
    Service,
    EndpointSlice,
    Endpoints,
    Workload(WorkloadKind),
}

impl ObjKind {
    fn name(self) -> &'static str {
        match self {
            ObjKind::Pod => "Pod",
            ObjKind::ConfigMap => "ConfigMap",
            ObjKind::Secret => "Secret",
            ObjKind::ServiceAccount => "ServiceAccount",
            ObjKind::Service => "Service",
            ObjKind::EndpointSlice => "EndpointSlice",
            ObjKind::Endpoints => "Endpoints",
            ObjKind::Workload(w) => w.name(),
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            ObjKind::Workload(w) => w.api_version(),
            ObjKind::EndpointSlice => "discovery.k8s.io/v1",
            _ => "v1",
        }
    }

    fn schema(self) -> schema::Kind {
        match self {
            ObjKind::Pod => schema::Kind::Pod,
            ObjKind::ConfigMap => schema::Kind::ConfigMap,
            ObjKind::Secret => schema::Kind::Secret,
            ObjKind::ServiceAccount => schema::Kind::ServiceAccount,
            ObjKind::Service => schema::Kind::Service,
            ObjKind::EndpointSlice => schema::Kind::EndpointSlice,
            ObjKind::Endpoints => schema::Kind::Endpoints,
            ObjKind::Workload(w) => schema::Kind::Workload(w),
        }
    }

    fn from_kind(kind: &str) -> Option<ObjKind> {
        match kind {
            "Pod" => Some(ObjKind::Pod),
            "ConfigMap" => Some(ObjKind::ConfigMap),
            "Secret" => Some(ObjKind::Secret),
            "ServiceAccount" => Some(ObjKind::ServiceAccount),
            "Service" => Some(ObjKind::Service),
            "EndpointSlice" => Some(ObjKind::EndpointSlice),
            "Endpoints" => Some(ObjKind::Endpoints),
            _ => WorkloadKind::from_kind(kind).map(ObjKind::Workload),
        }
    }
}

fn object_label(node: &Node, kind: &str) -> String {
    match node
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Node::as_str)
    {
        Some(name) if !name.is_empty() => format!("{kind}/{name}"),
        _ => format!("{kind}/<unnamed>"),
    }
}

/// Kinds a cluster takes that tandem keeps as written and acts on beside the pods: RBAC, which
/// authorizes requests to `tandem serve` (from kubectl and from pods' tokens). `run` and
/// `apply` keep them in the store ([`Loaded::kept`]), as `kubectl apply` through `serve` does.
const KEPT_AS_WRITTEN: &[(&str, &str)] = &[
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
];

/// Kinds a cluster takes that tandem does not apply, each with what it would do there: accepted
/// with one warning each, so the rest of an app's file runs.
const NOT_APPLIED: &[(&str, &str, &str)] = &[
    (
        "v1",
        "Namespace",
        "namespaces need no creating here: each object's metadata.namespace is used as written",
    ),
    (
        "v1",
        "PersistentVolumeClaim",
        "a claim is a directory of this machine, whatever its storage class, size and access modes",
    ),
    ("v1", "PersistentVolume", "volumes are not provisioned"),
    ("v1", "LimitRange", "no admission defaults are applied"),
    ("v1", "ResourceQuota", "no quota is enforced"),
    ("v1", "PodTemplate", "a PodTemplate makes no pods by itself"),
    (
        "networking.k8s.io/v1",
        "NetworkPolicy",
        "pod traffic is not filtered by policy",
    ),
    (
        "networking.k8s.io/v1",
        "Ingress",
        "no ingress controller routes to it",
    ),
    (
        "networking.k8s.io/v1",
        "IngressClass",
        "no ingress controller routes to it",
    ),
    (
        "autoscaling/v1",
        "HorizontalPodAutoscaler",
        "replicas are not scaled on load",
    ),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        "replicas are not scaled on load",
    ),
    (
        "policy/v1",
        "PodDisruptionBudget",
        "nothing evicts pods voluntarily on one machine",
    ),
    (
        "scheduling.k8s.io/v1",
        "PriorityClass",
        "every pod runs on this machine without preemption",
    ),
    (
        "storage.k8s.io/v1",
        "StorageClass",
        "volumes are not provisioned",
    ),
    (
        "apiextensions.k8s.io/v1",
        "CustomResourceDefinition",
        "custom resources are not served",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
        "no admission webhooks are called",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
        "no admission webhooks are called",
    ),
];

/// API groups of Kubernetes itself: an unknown kind there is a mistake, not a custom resource.
fn is_builtin_group(api_version: &str) -> bool {
    match api_version.split_once('/') {
        None => true,
        Some((group, _)) => !group.contains('.') || group.ends_with(".k8s.io"),
    }
}

/// What the sources hold beside the objects planned.
#[derive(Default)]
struct Aside {
    /// PersistentVolumeClaims, as (namespace, name).
    claims: Vec<(String, String)>,
    /// Objects kept as written ([`KEPT_AS_WRITTEN`]).
    kept: Vec<serde_json::Value>,
}

/// Sorts one document (or List item) into the objects to check, reporting what tandem does not
/// take. `list_kind` is the item kind implied by a typed list (`PodList`).
fn collect(
    file: &str,
    si: usize,
    node: Node,
    list_kind: Option<ObjKind>,
    out: &mut Vec<(usize, Node, ObjKind)>,
    aside: &mut Aside,
    diags: &mut Vec<Diagnostic>,
) {
    if node.is_null() {
        return;
    }
    let mut cx = Cx::new(file, &node, String::new());
    let root = FieldPath::root();
    if !matches!(node.value, Value::Map(_)) {
        cx.error_hint(
            &root,
            format!(
                "expected a Kubernetes object (a mapping with apiVersion, kind and metadata), found {}",
                node.describe()
            ),
            "a Pod starts with `apiVersion: v1` and `kind: Pod`",
        );
        diags.append(&mut cx.diags);
        return;
    }
    let kind = node.get("kind").and_then(Node::as_str).map(str::to_string);
    if let Some(k) = &kind {
        cx.object = object_label(&node, k);
    }
    let api_version = node
        .get("apiVersion")
        .and_then(Node::as_str)
        .map(str::to_string);
    let (kind, api_version) = match (kind, api_version, list_kind) {
        (Some(k), Some(a), _) => (k, a),
        (None, None, Some(lk)) => (lk.name().to_string(), "v1".to_string()),
        (k, a, _) => {
            if k.is_none() {
                cx.error_hint(
                    &root.field("kind"),
                    "kind is required",
                    "add `kind: Pod` (or ConfigMap, Secret, List)",
                );
            }
            if a.is_none() {
                cx.error_hint(
                    &root.field("apiVersion"),
                    "apiVersion is required",
                    "add `apiVersion: v1`",
                );
            }
            diags.append(&mut cx.diags);
            return;
        }
    };
    cx.object = object_label(&node, &kind);
    let obj = ObjKind::from_kind(&kind);
    let is_list = kind == "List"
        || kind
            .strip_suffix("List")
            .and_then(ObjKind::from_kind)
            .is_some();
    let expected = match obj {
        Some(o) => o.api_version(),
        None if is_list => "v1",
        None => "",
    };
    if !expected.is_empty() && api_version != expected {
        cx.error_hint(
            &root.field("apiVersion"),
            format!("apiVersion {api_version:?} is not served for kind {kind}: it is {expected}"),
            format!("use `apiVersion: {expected}`"),
        );
        diags.append(&mut cx.diags);
        return;
    }
    if let Some(obj) = obj {
        out.push((si, node, obj));
        return;
    }
    if is_list {
        let item_kind = kind.strip_suffix("List").and_then(ObjKind::from_kind);
        cx.object.clone_from(&kind);
        let Value::Map(entries) = node.value.clone() else {
            return;
        };
        let known = ["apiVersion", "kind", "metadata", "items"];
        for e in &entries {
            if !known.contains(&e.key.as_str()) {
                let hint = schema::did_you_mean(&e.key, &known)
                    .map_or_else(String::new, |s| format!(", did you mean \"{s}\"?"));
                cx.push_at(
                    Severity::Error,
                    &root.field(&e.key),
                    e.key_pos,
                    format!("unknown field \"{}\" in {kind}{hint}", e.key),
                    None,
                );
            }
        }
        diags.append(&mut cx.diags);
        for e in entries {
            if e.key != "items" {
                continue;
            }
            match e.value.value {
                Value::Seq(items) => {
                    for item in items {
                        collect(file, si, item, item_kind, out, aside, diags);
                    }
                }
                Value::Null => {}
                _ => {
                    let node = e.value;
                    let mut cx = Cx::new(file, &node, kind.clone());
                    cx.error(
                        &FieldPath::root(),
                        format!(
                            "items of a {kind} must be a list, found {}",
                            node.describe()
                        ),
                    );
                    diags.append(&mut cx.diags);
                }
            }
        }
        return;
    }
    let not_applied = NOT_APPLIED
        .iter()
        .find(|(v, k, _)| *k == kind && *v == api_version);
    let kept = KEPT_AS_WRITTEN.contains(&(api_version.as_str(), kind.as_str()));
    if not_applied.is_some() || kept {
        // Named as the API server would have it: RBAC objects by a path segment
        // (`system:aggregate-to-view`), every other kind by a DNS subdomain.
        let meta = node.get("metadata");
        let text = |f: &str| {
            meta.and_then(|m| m.get(f))
                .and_then(Node::as_str)
                .map(str::to_string)
        };
        if let Some(name) = text("name").filter(|n| !n.is_empty()) {
            let problem = match api_version.starts_with("rbac.authorization.k8s.io/") {
                true => names::path_segment(&name),
                false => names::dns1123_subdomain(&name),
            };
            match problem {
                Some(msg) => cx.error(
                    &root.field("metadata").field("name"),
                    format!("invalid name {name:?}: {msg}"),
                ),
                None if kind == "PersistentVolumeClaim" => aside.claims.push((
                    text("namespace").unwrap_or_else(|| DEFAULT_NAMESPACE.to_string()),
                    name,
                )),
                None if kept => aside.kept.push(node.to_json()),
                None => {}
            }
        }
    }
    if kept {
        // Nothing to say: kept, and acted on by `tandem serve`.
    } else if let Some((_, _, what)) = not_applied {
        cx.warn(
            &root.field("kind"),
            format!("{kind} is accepted but not applied by tandem: {what}"),
            None,
        );
    } else if !is_builtin_group(&api_version) {
        cx.warn(
            &root.field("kind"),
            format!(
                "{kind} ({api_version}) is a custom resource: accepted but not applied by tandem"
            ),
            None,
        );
    } else {
        let known: Vec<&str> = [
            "Pod",
            "ConfigMap",
            "Secret",
            "Service",
            "EndpointSlice",
            "Endpoints",
            "List",
        ]
        .into_iter()
        .chain(WorkloadKind::ALL.iter().map(|w| w.name()))
        .chain(NOT_APPLIED.iter().map(|(_, k, _)| *k))
        .chain(KEPT_AS_WRITTEN.iter().map(|(_, k)| *k))
        .collect();
        let hint = match schema::did_you_mean(&kind, &known) {
            Some(k) => format!("did you mean {k}?"),
            None => "tandem runs Pods and workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) with their ConfigMaps and Secrets".into(),
        };
        cx.error_hint(
            &root.field("kind"),
            format!("no matches for kind {kind:?} in version {api_version:?}"),
            hint,
        );
    }
    diags.append(&mut cx.diags);
}

/// Deserialises with the path of any error, reported at its location.
fn deserialize<T: serde::de::DeserializeOwned>(
    cx: &mut Cx<'_>,
    json: serde_json::Value,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(json) {
        Ok(v) => Some(v),
        Err(err) => {
            let mut p = FieldPath::root();
            for seg in err.path().iter() {
                p = match seg {
                    serde_path_to_error::Segment::Seq { index } => p.index(*index),
                    serde_path_to_error::Segment::Map { key } => {
                        // Map keys inside free-form maps and struct fields look alike here.
                        p.field(key)
                    }
                    serde_path_to_error::Segment::Enum { variant } => p.field(variant),
                    serde_path_to_error::Segment::Unknown => p,
                };
            }
            let msg = format!("invalid value: {}", err.inner());
            cx.error(&p, msg);
            None
        }
    }
}

/// A UUID-shaped, stable identifier: FNV-1a (128 bit) of the parts, with version 8 and the RFC 4122
/// variant bits set.
pub fn derive_uid(parts: &[&str]) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0u8)) {
            h ^= u128::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    h = (h & !(0xF << 76)) | (0x8 << 76);
    h = (h & !(0x3 << 62)) | (0x2 << 62);
    let hex = format!("{h:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_user_agent_names_the_emulated_release() {
        assert_eq!(KUBERNETES_VERSION, (1, 33));
        assert_eq!(probe_user_agent(), "kube-probe/1.33");
    }

    #[test]
    fn derived_uids_are_uuid_shaped_and_stable() {
        let a = derive_uid(&["default", "web", "{}"]);
        assert_eq!(a, derive_uid(&["default", "web", "{}"]));
        assert_ne!(a, derive_uid(&["default", "web2", "{}"]));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "8");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        // 128-bit FNV-1a of "default\0web\0", version 8 and the variant set: stored uids keep
        // their meaning across versions.
        assert_eq!(
            derive_uid(&["default", "web"]),
            "8b7a54ae-2644-88d6-8969-03242d749a64"
        );
    }
}
