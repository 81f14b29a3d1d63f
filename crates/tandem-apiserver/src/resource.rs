//! The resources this server serves, with what discovery says of each: its plural, kind, short
//! names, verbs, scope and the fields it can be selected by. One table, so discovery, routing,
//! OpenAPI and field selectors cannot disagree.

use tandem_api::WorkloadKind;

/// A served resource (a REST collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    Namespaces,
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
    /// `kubectl auth can-i`: answered by the server itself (the kubeconfig's holder may do
    /// everything served).
    SelfSubjectAccessReviews,
    /// `metrics.k8s.io` PodMetrics (`kubectl top pod`): measured when asked, never stored.
    PodMetrics,
}

/// A subresource of pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subresource {
    Log,
    Exec,
    /// `autoscaling/v1` Scale of the workloads with replicas.
    Scale,
}

impl Resource {
    pub const ALL: [Resource; 17] = [
        Resource::Namespaces,
        Resource::Pods,
        Resource::Events,
        Resource::Services,
        Resource::Endpoints,
        Resource::EndpointSlices,
        Resource::ConfigMaps,
        Resource::Secrets,
        Resource::Workload(WorkloadKind::Deployment),
        Resource::Workload(WorkloadKind::ReplicaSet),
        Resource::Workload(WorkloadKind::StatefulSet),
        Resource::Workload(WorkloadKind::DaemonSet),
        Resource::Workload(WorkloadKind::Job),
        Resource::Workload(WorkloadKind::CronJob),
        Resource::Workload(WorkloadKind::ReplicationController),
        Resource::SelfSubjectAccessReviews,
        Resource::PodMetrics,
    ];

    /// The API group (`""` for the core group).
    pub fn group(self) -> &'static str {
        match self {
            Resource::SelfSubjectAccessReviews => "authorization.k8s.io",
            Resource::PodMetrics => "metrics.k8s.io",
            Resource::EndpointSlices => "discovery.k8s.io",
            Resource::Workload(k) => k.api_version().split_once('/').map_or("", |(g, _)| g),
            _ => "",
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Resource::PodMetrics => "v1beta1",
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
            Resource::Pods => "pods",
            Resource::Events => "events",
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslices",
            Resource::ConfigMaps => "configmaps",
            Resource::Secrets => "secrets",
            Resource::Workload(k) => k.plural(),
            Resource::SelfSubjectAccessReviews => "selfsubjectaccessreviews",
            Resource::PodMetrics => "pods",
        }
    }

    pub fn singular(self) -> String {
        self.kind().to_ascii_lowercase()
    }

    pub fn kind(self) -> &'static str {
        match self {
            Resource::Namespaces => "Namespace",
            Resource::Pods => "Pod",
            Resource::Events => "Event",
            Resource::Services => "Service",
            Resource::Endpoints => "Endpoints",
            Resource::EndpointSlices => "EndpointSlice",
            Resource::ConfigMaps => "ConfigMap",
            Resource::Secrets => "Secret",
            Resource::Workload(k) => k.name(),
            Resource::SelfSubjectAccessReviews => "SelfSubjectAccessReview",
            Resource::PodMetrics => "PodMetrics",
        }
    }

    pub fn short_names(self) -> Vec<&'static str> {
        match self {
            Resource::Namespaces => vec!["ns"],
            Resource::Pods => vec!["po"],
            Resource::Events => vec!["ev"],
            Resource::Services => vec!["svc"],
            Resource::Endpoints => vec!["ep"],
            Resource::ConfigMaps => vec!["cm"],
            Resource::Workload(k) => k.short_name().into_iter().collect(),
            Resource::EndpointSlices
            | Resource::Secrets
            | Resource::SelfSubjectAccessReviews
            | Resource::PodMetrics => vec![],
        }
    }

    pub fn namespaced(self) -> bool {
        !matches!(
            self,
            Resource::Namespaces | Resource::SelfSubjectAccessReviews
        )
    }

    /// What clients may do, as discovery lists it. Only verbs this server serves.
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Resource::Namespaces
            | Resource::Events
            | Resource::Endpoints
            | Resource::EndpointSlices => &["get", "list", "watch"],
            Resource::Pods
            | Resource::ConfigMaps
            | Resource::Secrets
            | Resource::Services
            | Resource::Workload(_) => &[
                "create", "delete", "get", "list", "patch", "update", "watch",
            ],
            Resource::SelfSubjectAccessReviews => &["create"],
            Resource::PodMetrics => &["get", "list"],
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
            Resource::Pods => &[Subresource::Log, Subresource::Exec],
            Resource::Workload(
                WorkloadKind::Deployment
                | WorkloadKind::ReplicaSet
                | WorkloadKind::StatefulSet
                | WorkloadKind::ReplicationController,
            ) => &[Subresource::Scale],
            _ => &[],
        }
    }

    /// The fields `fieldSelector` may name, as the API server's field label conversion
    /// functions allow them (`metadata.name` and `metadata.namespace` for every kind).
    pub fn selectable_fields(self) -> &'static [&'static str] {
        match self {
            Resource::Namespaces => &["metadata.name", "status.phase"],
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
            Resource::SelfSubjectAccessReviews => &[],
            _ => &["metadata.name", "metadata.namespace"],
        }
    }

    /// The resource a path names: its group, version and plural.
    pub fn find(group: &str, version: &str, plural: &str) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| r.group() == group && r.version() == version && r.plural() == plural)
    }

    /// The resource whose objects are of `kind` in `api_version` (`apps/v1`, `Deployment`).
    pub fn of_kind(api_version: &str, kind: &str) -> Option<Resource> {
        Resource::ALL
            .into_iter()
            .find(|r| r.api_version() == api_version && r.kind() == kind)
    }
}

impl Subresource {
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Log => "log",
            Subresource::Exec => "exec",
            Subresource::Scale => "scale",
        }
    }

    pub fn find(name: &str) -> Option<Subresource> {
        match name {
            "log" => Some(Subresource::Log),
            "exec" => Some(Subresource::Exec),
            "scale" => Some(Subresource::Scale),
            _ => None,
        }
    }

    /// The group and version of its objects when they differ from the resource's.
    pub fn group_version(self) -> Option<(&'static str, &'static str)> {
        match self {
            Subresource::Scale => Some(("autoscaling", "v1")),
            _ => None,
        }
    }

    /// The kind discovery names for it (`pods/log` is plain text, `pods/exec` a stream, both
    /// listed as `Pod` or `PodExecOptions` as the API server lists them).
    pub fn kind(self) -> &'static str {
        match self {
            Subresource::Log => "Pod",
            Subresource::Exec => "PodExecOptions",
            Subresource::Scale => "Scale",
        }
    }

    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Subresource::Log => &["get"],
            Subresource::Exec => &["create", "get"],
            Subresource::Scale => &["get", "patch", "update"],
        }
    }
}
