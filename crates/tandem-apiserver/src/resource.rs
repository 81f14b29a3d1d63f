//! The resources this server serves, with what discovery says of each: its plural, kind, short
//! names, verbs, scope and the fields it can be selected by. One table, so discovery, routing,
//! OpenAPI and field selectors cannot disagree.

use tandem_api::WorkloadKind;

/// A served resource (a REST collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Namespaces,
    /// This machine, the one node.
    Nodes,
    Pods,
    Events,
    Services,
    Endpoints,
    EndpointSlices,
    ConfigMaps,
    Secrets,
    /// Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs, CronJobs and
    /// ReplicationControllers: the kinds with a pod template tandem runs.
    Workload(WorkloadKind),
    /// A question about the one asking, answered by the server itself and never stored.
    Review(Review),
    /// `metrics.k8s.io` PodMetrics (`kubectl top pod`): measured when asked, never stored.
    PodMetrics,
    /// `metrics.k8s.io` NodeMetrics (`kubectl top node`): measured when asked, never stored.
    NodeMetrics,
    /// A kind a cluster takes that tandem keeps without acting on it.
    Stored(StoredKind),
}

/// The questions a client asks about itself (`kubectl auth can-i`, `auth can-i --list`,
/// `auth whoami`) or, with the right to (`system:auth-delegator`), about others (a proxy
/// sidecar such as kube-rbac-proxy checking its callers), answered by RBAC ([`crate::rbac`])
/// and authentication, never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Review {
    /// SelfSubjectAccessReview: may I do this?
    Access,
    /// SelfSubjectRulesReview: what may I do in this namespace?
    Rules,
    /// SelfSubjectReview: who am I?
    Identity,
    /// SubjectAccessReview: may this user do this?
    SubjectAccess,
    /// LocalSubjectAccessReview: may this user do this in this namespace?
    LocalSubjectAccess,
    /// TokenReview: whose is this token?
    Token,
}

impl Review {
    pub const ALL: [Review; 6] = [
        Review::Access,
        Review::Rules,
        Review::Identity,
        Review::SubjectAccess,
        Review::LocalSubjectAccess,
        Review::Token,
    ];

    /// (group, plural, kind).
    fn row(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Review::Access => (
                "authorization.k8s.io",
                "selfsubjectaccessreviews",
                "SelfSubjectAccessReview",
            ),
            Review::Rules => (
                "authorization.k8s.io",
                "selfsubjectrulesreviews",
                "SelfSubjectRulesReview",
            ),
            Review::Identity => (
                "authentication.k8s.io",
                "selfsubjectreviews",
                "SelfSubjectReview",
            ),
            Review::SubjectAccess => (
                "authorization.k8s.io",
                "subjectaccessreviews",
                "SubjectAccessReview",
            ),
            Review::LocalSubjectAccess => (
                "authorization.k8s.io",
                "localsubjectaccessreviews",
                "LocalSubjectAccessReview",
            ),
            Review::Token => ("authentication.k8s.io", "tokenreviews", "TokenReview"),
        }
    }
}

/// The kinds a cluster takes that tandem keeps as an API server keeps them — created, listed,
/// watched, changed, deleted — while nothing on this machine acts on them (no tokens for
/// ServiceAccounts, no ingress controller, no autoscaler, no quota; RBAC objects authorize the
/// requests made to this server only):
/// each write is answered with a warning that says so, so an app's whole file applies and the
/// user knows what a cluster would do beyond it. A PersistentVolumeClaim is kept too: the claim's
/// data is a directory of the store, made when a pod first mounts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoredKind {
    ServiceAccount,
    PersistentVolumeClaim,
    PersistentVolume,
    LimitRange,
    ResourceQuota,
    PodTemplate,
    Role,
    RoleBinding,
    ClusterRole,
    ClusterRoleBinding,
    NetworkPolicy,
    Ingress,
    IngressClass,
    HorizontalPodAutoscaler,
    PodDisruptionBudget,
    PriorityClass,
    StorageClass,
}

/// What discovery says of a stored kind: group, version, plural, kind, namespaced, short names.
struct StoredRow(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

impl StoredKind {
    pub const ALL: [StoredKind; 17] = [
        StoredKind::ServiceAccount,
        StoredKind::PersistentVolumeClaim,
        StoredKind::PersistentVolume,
        StoredKind::LimitRange,
        StoredKind::ResourceQuota,
        StoredKind::PodTemplate,
        StoredKind::Role,
        StoredKind::RoleBinding,
        StoredKind::ClusterRole,
        StoredKind::ClusterRoleBinding,
        StoredKind::NetworkPolicy,
        StoredKind::Ingress,
        StoredKind::IngressClass,
        StoredKind::HorizontalPodAutoscaler,
        StoredKind::PodDisruptionBudget,
        StoredKind::PriorityClass,
        StoredKind::StorageClass,
    ];

    fn row(self) -> StoredRow {
        const RBAC: &str = "rbac.authorization.k8s.io";
        const NET: &str = "networking.k8s.io";
        match self {
            StoredKind::ServiceAccount => {
                StoredRow("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"])
            }
            StoredKind::PersistentVolumeClaim => StoredRow(
                "",
                "v1",
                "persistentvolumeclaims",
                "PersistentVolumeClaim",
                true,
                &["pvc"],
            ),
            StoredKind::PersistentVolume => StoredRow(
                "",
                "v1",
                "persistentvolumes",
                "PersistentVolume",
                false,
                &["pv"],
            ),
            StoredKind::LimitRange => {
                StoredRow("", "v1", "limitranges", "LimitRange", true, &["limits"])
            }
            StoredKind::ResourceQuota => StoredRow(
                "",
                "v1",
                "resourcequotas",
                "ResourceQuota",
                true,
                &["quota"],
            ),
            StoredKind::PodTemplate => {
                StoredRow("", "v1", "podtemplates", "PodTemplate", true, &[])
            }
            StoredKind::Role => StoredRow(RBAC, "v1", "roles", "Role", true, &[]),
            StoredKind::RoleBinding => {
                StoredRow(RBAC, "v1", "rolebindings", "RoleBinding", true, &[])
            }
            StoredKind::ClusterRole => {
                StoredRow(RBAC, "v1", "clusterroles", "ClusterRole", false, &[])
            }
            StoredKind::ClusterRoleBinding => StoredRow(
                RBAC,
                "v1",
                "clusterrolebindings",
                "ClusterRoleBinding",
                false,
                &[],
            ),
            StoredKind::NetworkPolicy => StoredRow(
                NET,
                "v1",
                "networkpolicies",
                "NetworkPolicy",
                true,
                &["netpol"],
            ),
            StoredKind::Ingress => StoredRow(NET, "v1", "ingresses", "Ingress", true, &["ing"]),
            StoredKind::IngressClass => {
                StoredRow(NET, "v1", "ingressclasses", "IngressClass", false, &[])
            }
            StoredKind::HorizontalPodAutoscaler => StoredRow(
                "autoscaling",
                "v2",
                "horizontalpodautoscalers",
                "HorizontalPodAutoscaler",
                true,
                &["hpa"],
            ),
            StoredKind::PodDisruptionBudget => StoredRow(
                "policy",
                "v1",
                "poddisruptionbudgets",
                "PodDisruptionBudget",
                true,
                &["pdb"],
            ),
            StoredKind::PriorityClass => StoredRow(
                "scheduling.k8s.io",
                "v1",
                "priorityclasses",
                "PriorityClass",
                false,
                &["pc"],
            ),
            StoredKind::StorageClass => StoredRow(
                "storage.k8s.io",
                "v1",
                "storageclasses",
                "StorageClass",
                false,
                &["sc"],
            ),
        }
    }
}

/// A subresource of pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Log,
    Exec,
    Attach,
    /// A pod's `ephemeralcontainers`: the Pod, of which only `spec.ephemeralContainers` changes.
    EphemeralContainers,
    /// A pod's `status`: the Pod, of which only the status changes (here: the conditions of its
    /// readiness gates, the part a controller sets).
    Status,
    PortForward,
    /// `autoscaling/v1` Scale of the workloads with replicas.
    Scale,
    /// A pod's `eviction`: a `policy/v1` Eviction, which deletes the pod if its disruption
    /// budget allows.
    Eviction,
    /// A service account's `token`: an `authentication.k8s.io/v1` TokenRequest, answered with
    /// a token of that account (`kubectl create token`).
    Token,
}

impl Resource {
    /// Every served resource, in discovery's order.
    pub fn all() -> impl Iterator<Item = Resource> {
        [
            Resource::Namespaces,
            Resource::Nodes,
            Resource::Pods,
            Resource::Events,
            Resource::Services,
            Resource::Endpoints,
            Resource::EndpointSlices,
            Resource::ConfigMaps,
            Resource::Secrets,
        ]
        .into_iter()
        .chain(WorkloadKind::ALL.into_iter().map(Resource::Workload))
        .chain(Review::ALL.into_iter().map(Resource::Review))
        .chain([Resource::PodMetrics, Resource::NodeMetrics])
        .chain(StoredKind::ALL.into_iter().map(Resource::Stored))
    }

    /// The API group (`""` for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Resource::Review(r) => r.row().0,
            Resource::PodMetrics | Resource::NodeMetrics => "metrics.k8s.io",
            Resource::EndpointSlices => "discovery.k8s.io",
            Resource::Workload(k) => k.api_version().split_once('/').map_or("", |(g, _)| g),
            Resource::Stored(k) => k.row().0,
            _ => "",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Resource::PodMetrics | Resource::NodeMetrics => "v1beta1",
            Resource::Stored(k) => k.row().1,
            _ => "v1",
        }
    }

    /// `v1`, or `apps/v1` for a named group.
    pub fn api_version(self) -> String {
        match self.group() {
            "" => self.version().to_string(),
            g => format!("{g}/{}", self.version()),
        }
    }

    pub fn plural(self) -> &'static str {
        match self {
            Resource::Namespaces => "namespaces",
            Resource::Nodes | Resource::NodeMetrics => "nodes",
            Resource::Pods => "pods",
            Resource::Events => "events",
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslices",
            Resource::ConfigMaps => "configmaps",
            Resource::Secrets => "secrets",
            Resource::Workload(k) => k.plural(),
            Resource::Review(r) => r.row().1,
            Resource::PodMetrics => "pods",
            Resource::Stored(k) => k.row().2,
        }
    }

    pub fn singular(self) -> String {
        self.kind().to_ascii_lowercase()
    }

    /// The singular as kubectl prints it in what it did: qualified by a named group
    /// (`configmap`, `deployment.apps`, `role.rbac.authorization.k8s.io`).
    pub fn printed(self) -> String {
        match self.group() {
            "" => self.singular(),
            group => format!("{}.{group}", self.singular()),
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Namespaces => "Namespace",
            Resource::Nodes => "Node",
            Resource::NodeMetrics => "NodeMetrics",
            Resource::Pods => "Pod",
            Resource::Events => "Event",
            Resource::Services => "Service",
            Resource::Endpoints => "Endpoints",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::ConfigMaps => "ConfigMap",
            Resource::Secrets => "Secret",
            Resource::Workload(k) => k.name(),
            Resource::Review(r) => r.row().2,
            Resource::PodMetrics => "PodMetrics",
            Resource::Stored(k) => k.row().3,
        }
    }

    pub fn short_names(self) -> Vec<&'static str> {
        match self {
            Resource::Namespaces => vec!["ns"],
            Resource::Nodes => vec!["no"],
            Resource::Pods => vec!["po"],
            Resource::Events => vec!["ev"],
            Resource::Services => vec!["svc"],
            Resource::Endpoints => vec!["ep"],
            Resource::ConfigMaps => vec!["cm"],
            Resource::Workload(k) => k.short_name().into_iter().collect(),
            Resource::Stored(k) => k.row().5.to_vec(),
            Resource::EndpointSlices
            | Resource::Secrets
            | Resource::Review(_)
            | Resource::PodMetrics
            | Resource::NodeMetrics => vec![],
        }
    }

    pub fn namespaced(self) -> bool {
        match self {
            Resource::Review(r) => r == Review::LocalSubjectAccess,
            Resource::Namespaces | Resource::Nodes | Resource::NodeMetrics => false,
            Resource::Stored(k) => k.row().4,
            _ => true,
        }
    }

    /// What clients may do, as discovery lists it. Only verbs this server serves.
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Resource::Events | Resource::Endpoints | Resource::EndpointSlices | Resource::Nodes => {
                &["get", "list", "watch"]
            }
            Resource::Namespaces => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            Resource::Pods
            | Resource::ConfigMaps
            | Resource::Secrets
            | Resource::Services
            | Resource::Workload(_)
            | Resource::Stored(_) => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            Resource::Review(_) => &["create"],
            Resource::PodMetrics | Resource::NodeMetrics => &["get", "list"],
        }
    }

    /// `kubectl get all` lists the resources of category `all`.
    pub fn categories(self) -> &'static [&'static str] {
        match self {
            Resource::Pods | Resource::Services | Resource::Workload(_) => &["all"],
            _ => &[],
        }
    }

    pub fn subresources(self) -> &'static [Subresource] {
        match self {
            Resource::Pods => &[
                Subresource::Log,
                Subresource::Exec,
                Subresource::Attach,
                Subresource::EphemeralContainers,
                Subresource::PortForward,
                Subresource::Status,
                Subresource::Eviction,
            ],
            Resource::Workload(
                WorkloadKind::Deployment
                | WorkloadKind::ReplicaSet
                | WorkloadKind::StatefulSet
                | WorkloadKind::ReplicationController,
            ) => &[Subresource::Scale],
            Resource::Stored(StoredKind::ServiceAccount) => &[Subresource::Token],
            _ => &[],
        }
    }

    /// The fields `fieldSelector` may name, as the API server's field label conversion
    /// functions allow them (`metadata.name` and `metadata.namespace` for every kind).
    pub fn selectable_fields(self) -> &'static [&'static str] {
        match self {
            Resource::Namespaces => &["metadata.name", "status.phase"],
            Resource::Nodes => &["metadata.name", "spec.unschedulable"],
            Resource::Pods => tandem_api::labels::POD_FIELDS,
            Resource::Events => &[
                "metadata.name",
                "metadata.namespace",
                "involvedObject.kind",
                "involvedObject.namespace",
                "involvedObject.name",
                "involvedObject.uid",
                "involvedObject.apiVersion",
                "involvedObject.resourceVersion",
                "involvedObject.fieldPath",
                "reason",
                "reportingComponent",
                "source",
                "type",
            ],
            Resource::Workload(WorkloadKind::Job) => {
                &["metadata.name", "metadata.namespace", "status.successful"]
            }
            Resource::Workload(WorkloadKind::ReplicaSet) => {
                &["metadata.name", "metadata.namespace", "status.replicas"]
            }
            Resource::Secrets => &["metadata.name", "metadata.namespace", "type"],
            Resource::Review(_) => &[],
            _ => &["metadata.name", "metadata.namespace"],
        }
    }

    /// The resource a path names: its group, version and plural.
    pub fn find(group: &str, version: &str, plural: &str) -> Option<Resource> {
        Resource::all()
            .find(|r| r.group() == group && r.version() == version && r.plural() == plural)
    }

    /// The resource whose objects are of `kind` in `api_version` (`apps/v1`, `Deployment`).
    pub fn of_kind(api_version: &str, kind: &str) -> Option<Resource> {
        Resource::all().find(|r| r.api_version() == api_version && r.kind() == kind)
    }
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Attach => "attach",
            Subresource::EphemeralContainers => "ephemeralcontainers",
            Subresource::Status => "status",
            Subresource::PortForward => "portforward",
            Subresource::Scale => "scale",
            Subresource::Eviction => "eviction",
            Subresource::Token => "token",
        }
    }

    pub fn find(name: &str) -> Option<Subresource> {
        match name {
            "log" => Some(Subresource::Log),
            "exec" => Some(Subresource::Exec),
            "attach" => Some(Subresource::Attach),
            "ephemeralcontainers" => Some(Subresource::EphemeralContainers),
            "status" => Some(Subresource::Status),
            "portforward" => Some(Subresource::PortForward),
            "scale" => Some(Subresource::Scale),
            "eviction" => Some(Subresource::Eviction),
            "token" => Some(Subresource::Token),
            _ => None,
        }
    }

    /// The group and version of its objects when they differ from the resource's.
    pub fn group_version(self) -> Option<(&'static str, &'static str)> {
        match self {
            Subresource::Scale => Some(("autoscaling", "v1")),
            Subresource::Eviction => Some(("policy", "v1")),
            Subresource::Token => Some(("authentication.k8s.io", "v1")),
            _ => None,
        }
    }

    /// The kind discovery names for it (`pods/log` is plain text, `pods/exec` a stream, both
    /// listed as `Pod` or `PodExecOptions` as the API server lists them).
    pub fn kind(self) -> &'static str {
        match self {
            Subresource::Log => "Pod",
            Subresource::Exec => "PodExecOptions",
            Subresource::Attach => "PodAttachOptions",
            Subresource::EphemeralContainers | Subresource::Status => "Pod",
            Subresource::PortForward => "PodPortForwardOptions",
            Subresource::Scale => "Scale",
            Subresource::Eviction => "Eviction",
            Subresource::Token => "TokenRequest",
        }
    }

    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Subresource::Log => &["get"],
            Subresource::Exec | Subresource::Attach | Subresource::PortForward => {
                &["create", "get"]
            }
            Subresource::Scale | Subresource::EphemeralContainers | Subresource::Status => {
                &["get", "patch", "update"]
            }
            Subresource::Eviction | Subresource::Token => &["create"],
        }
    }
}
