//! The workload kinds: objects that make pods from a template (Deployment, ReplicaSet,
//! StatefulSet, DaemonSet, Job, CronJob, ReplicationController), by apiVersion and kind, and
//! [`Workload`], one such object in its API type.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{PodTemplateSpec, ReplicationController};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use serde::{Deserialize, Serialize};

/// A kind of object that holds a pod template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
    Job,
    CronJob,
    ReplicationController,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 7] = [
        WorkloadKind::Deployment,
        WorkloadKind::ReplicaSet,
        WorkloadKind::StatefulSet,
        WorkloadKind::DaemonSet,
        WorkloadKind::Job,
        WorkloadKind::CronJob,
        WorkloadKind::ReplicationController,
    ];

    /// `kind` as the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "Deployment",
            WorkloadKind::ReplicaSet => "ReplicaSet",
            WorkloadKind::StatefulSet => "StatefulSet",
            WorkloadKind::DaemonSet => "DaemonSet",
            WorkloadKind::Job => "Job",
            WorkloadKind::CronJob => "CronJob",
            WorkloadKind::ReplicationController => "ReplicationController",
        }
    }

    /// The one `apiVersion` the API server serves the kind at.
    pub fn api_version(self) -> &'static str {
        match self {
            WorkloadKind::Deployment
            | WorkloadKind::ReplicaSet
            | WorkloadKind::StatefulSet
            | WorkloadKind::DaemonSet => "apps/v1",
            WorkloadKind::Job | WorkloadKind::CronJob => "batch/v1",
            WorkloadKind::ReplicationController => "v1",
        }
    }

    /// The resource's plural, as kubectl and URLs name it (`deployments`).
    pub fn plural(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::ReplicaSet => "replicasets",
            WorkloadKind::StatefulSet => "statefulsets",
            WorkloadKind::DaemonSet => "daemonsets",
            WorkloadKind::Job => "jobs",
            WorkloadKind::CronJob => "cronjobs",
            WorkloadKind::ReplicationController => "replicationcontrollers",
        }
    }

    /// The resource with its group, as the API server's errors name it: `deployments.apps`,
    /// `jobs.batch`, `replicationcontrollers`.
    pub fn group_resource(self) -> String {
        self.with_group(self.plural())
    }

    /// The kind with its group, as kubectl names an object of it in what it reports:
    /// `deployment.apps` (`deployment.apps/web created`, `-o name`).
    pub fn group_kind(self) -> String {
        self.with_group(&self.name().to_ascii_lowercase())
    }

    fn with_group(self, word: &str) -> String {
        match self.api_version().split_once('/') {
            Some((group, _)) => format!("{word}.{group}"),
            None => word.to_string(),
        }
    }

    /// kubectl's short name, when the kind has one.
    pub fn short_name(self) -> Option<&'static str> {
        match self {
            WorkloadKind::Deployment => Some("deploy"),
            WorkloadKind::ReplicaSet => Some("rs"),
            WorkloadKind::StatefulSet => Some("sts"),
            WorkloadKind::DaemonSet => Some("ds"),
            WorkloadKind::Job => None,
            WorkloadKind::CronJob => Some("cj"),
            WorkloadKind::ReplicationController => Some("rc"),
        }
    }

    pub fn from_kind(kind: &str) -> Option<WorkloadKind> {
        WorkloadKind::ALL.into_iter().find(|k| k.name() == kind)
    }

    /// The kind a resource name on the command line means: plural, singular, short name or
    /// kind, in any case (`deploy`, `deployment`, `deployments`, `Deployment`).
    pub fn from_resource(word: &str) -> Option<WorkloadKind> {
        let w = word.to_ascii_lowercase();
        WorkloadKind::ALL.into_iter().find(|k| {
            w == k.plural()
                || w == k.name().to_ascii_lowercase()
                || k.short_name() == Some(w.as_str())
        })
    }

    /// Where the pod template is in an object of this kind.
    pub fn template_path(self) -> &'static [&'static str] {
        match self {
            WorkloadKind::CronJob => &["spec", "jobTemplate", "spec", "template"],
            _ => &["spec", "template"],
        }
    }
}

impl std::fmt::Display for WorkloadKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One workload object in its API type.
// Every variant is a few kilobytes (the pod template); the clippy lint fires only on the spread
// between the smallest and the largest, and boxing some would make every match uneven.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Workload {
    Deployment(Deployment),
    ReplicaSet(ReplicaSet),
    StatefulSet(StatefulSet),
    DaemonSet(DaemonSet),
    Job(Job),
    CronJob(CronJob),
    ReplicationController(ReplicationController),
}

/// Runs `$body` with `$o` bound to the object inside any [`Workload`].
macro_rules! each {
    ($w:expr, $o:ident => $body:expr) => {
        match $w {
            Workload::Deployment($o) => $body,
            Workload::ReplicaSet($o) => $body,
            Workload::StatefulSet($o) => $body,
            Workload::DaemonSet($o) => $body,
            Workload::Job($o) => $body,
            Workload::CronJob($o) => $body,
            Workload::ReplicationController($o) => $body,
        }
    };
}

impl Workload {
    pub fn kind(&self) -> WorkloadKind {
        match self {
            Workload::Deployment(_) => WorkloadKind::Deployment,
            Workload::ReplicaSet(_) => WorkloadKind::ReplicaSet,
            Workload::StatefulSet(_) => WorkloadKind::StatefulSet,
            Workload::DaemonSet(_) => WorkloadKind::DaemonSet,
            Workload::Job(_) => WorkloadKind::Job,
            Workload::CronJob(_) => WorkloadKind::CronJob,
            Workload::ReplicationController(_) => WorkloadKind::ReplicationController,
        }
    }

    pub fn metadata(&self) -> &ObjectMeta {
        each!(self, o => &o.metadata)
    }

    pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
        each!(self, o => &mut o.metadata)
    }

    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }

    pub fn namespace(&self) -> &str {
        self.metadata()
            .namespace
            .as_deref()
            .unwrap_or(crate::DEFAULT_NAMESPACE)
    }

    pub fn uid(&self) -> &str {
        self.metadata().uid.as_deref().unwrap_or_default()
    }

    /// The pod template (for a CronJob, its job template's).
    pub fn template(&self) -> Option<&PodTemplateSpec> {
        match self {
            Workload::Deployment(o) => Some(&o.spec.template),
            Workload::ReplicaSet(o) => o.spec.template.as_ref(),
            Workload::StatefulSet(o) => Some(&o.spec.template),
            Workload::DaemonSet(o) => Some(&o.spec.template),
            Workload::Job(o) => o.spec.as_ref().map(|s| &s.template),
            Workload::CronJob(o) => o.spec.job_template.spec.as_ref().map(|s| &s.template),
            Workload::ReplicationController(o) => o.spec.as_ref().and_then(|s| s.template.as_ref()),
        }
    }

    pub fn template_mut(&mut self) -> Option<&mut PodTemplateSpec> {
        match self {
            Workload::Deployment(o) => Some(&mut o.spec.template),
            Workload::ReplicaSet(o) => o.spec.template.as_mut(),
            Workload::StatefulSet(o) => Some(&mut o.spec.template),
            Workload::DaemonSet(o) => Some(&mut o.spec.template),
            Workload::Job(o) => o.spec.as_mut().map(|s| &mut s.template),
            Workload::CronJob(o) => o.spec.job_template.spec.as_mut().map(|s| &mut s.template),
            Workload::ReplicationController(o) => o.spec.as_mut().and_then(|s| s.template.as_mut()),
        }
    }

    /// The label selector of the apps kinds (a Job's and CronJob's are generated; a
    /// ReplicationController's is a plain map, given here as matchLabels).
    pub fn selector(&self) -> Option<LabelSelector> {
        match self {
            Workload::Deployment(o) => Some(o.spec.selector.clone()),
            Workload::ReplicaSet(o) => Some(o.spec.selector.clone()),
            Workload::StatefulSet(o) => Some(o.spec.selector.clone()),
            Workload::DaemonSet(o) => Some(o.spec.selector.clone()),
            Workload::Job(o) => o.spec.as_ref().and_then(|s| s.selector.clone()),
            Workload::CronJob(_) => None,
            Workload::ReplicationController(o) => o
                .spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .map(|m| LabelSelector {
                    match_labels: Some(m),
                    match_expressions: None,
                }),
        }
    }

    /// `spec.replicas` of the kinds that have it.
    pub fn replicas(&self) -> Option<i32> {
        match self {
            Workload::Deployment(o) => o.spec.replicas,
            Workload::ReplicaSet(o) => o.spec.replicas,
            Workload::StatefulSet(o) => o.spec.replicas,
            Workload::ReplicationController(o) => o.spec.as_ref().and_then(|s| s.replicas),
            _ => None,
        }
    }

    /// The object as the API writes it (apiVersion and kind included).
    pub fn to_json(&self) -> serde_json::Value {
        each!(self, o => serde_json::to_value(o).unwrap_or_default())
    }

    /// Reads an object written by [`Workload::to_json`] (or any object of a workload kind).
    pub fn from_json(v: serde_json::Value) -> Result<Workload, serde_json::Error> {
        use serde::de::Error as _;
        let kind = v
            .get("kind")
            .and_then(serde_json::Value::as_str)
            .and_then(WorkloadKind::from_kind)
            .ok_or_else(|| serde_json::Error::custom("not an object of a workload kind"))?;
        Ok(match kind {
            WorkloadKind::Deployment => Workload::Deployment(serde_json::from_value(v)?),
            WorkloadKind::ReplicaSet => Workload::ReplicaSet(serde_json::from_value(v)?),
            WorkloadKind::StatefulSet => Workload::StatefulSet(serde_json::from_value(v)?),
            WorkloadKind::DaemonSet => Workload::DaemonSet(serde_json::from_value(v)?),
            WorkloadKind::Job => Workload::Job(serde_json::from_value(v)?),
            WorkloadKind::CronJob => Workload::CronJob(serde_json::from_value(v)?),
            WorkloadKind::ReplicationController => {
                Workload::ReplicationController(serde_json::from_value(v)?)
            }
        })
    }
}

impl Serialize for Workload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        each!(self, o => o.serialize(s))
    }
}

impl<'de> Deserialize<'de> for Workload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Workload, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Workload::from_json(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_words_name_their_kind() {
        for (word, kind) in [
            ("deploy", WorkloadKind::Deployment),
            ("deployments", WorkloadKind::Deployment),
            ("Deployment", WorkloadKind::Deployment),
            ("sts", WorkloadKind::StatefulSet),
            ("job", WorkloadKind::Job),
            ("cj", WorkloadKind::CronJob),
            ("rc", WorkloadKind::ReplicationController),
        ] {
            assert_eq!(WorkloadKind::from_resource(word), Some(kind), "{word}");
        }
        assert_eq!(WorkloadKind::from_resource("pods"), None);
        assert_eq!(
            WorkloadKind::Deployment.group_resource(),
            "deployments.apps"
        );
        assert_eq!(WorkloadKind::Job.group_kind(), "job.batch");
        assert_eq!(
            WorkloadKind::ReplicationController.group_kind(),
            "replicationcontroller"
        );
    }

    #[test]
    fn a_workload_reads_back_what_it_wrote() {
        let v = serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}
        });
        let w = Workload::from_json(v.clone()).expect("present");
        assert_eq!(w.kind(), WorkloadKind::Deployment);
        assert_eq!(w.name(), "web");
        assert_eq!(
            w.template()
                .expect("present")
                .spec
                .as_ref()
                .expect("present")
                .containers
                .len(),
            1
        );
        assert_eq!(w.to_json(), v);
        let back: Workload =
            serde_json::from_value(serde_json::to_value(&w).expect("present")).expect("present");
        assert_eq!(back, w);
    }
}
