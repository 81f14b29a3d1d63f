//! Changes to objects that exist, judged as the API server's update validation judges them.
//!
//! A running Pod (`ValidatePodUpdate`): its spec is fixed once it exists except for the
//! containers' images (and a few fields tandem does not change yet: activeDeadlineSeconds,
//! tolerations, terminationGracePeriodSeconds). A workload (`ValidateDeploymentUpdate`,
//! `ValidateStatefulSetUpdate`, `ValidateJobUpdate`, …): its spec may change but for the
//! fields each kind fixes at creation (selectors, a StatefulSet's claims and service, a Job's
//! template). A Service: its cluster IPs are immutable. For every object the identity is immutable and labels and annotations may change
//! freely. Status in an update of the object itself is ignored, as the API server resets it.
//!
//! Works on the objects as JSON, the form PATCH produces them in.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use serde_json::Value;

/// What an accepted update changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodUpdate {
    /// Containers (init or main) whose image changes: name → new image.
    pub images: BTreeMap<String, String>,
    pub metadata: MetadataChange,
}

impl PodUpdate {
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.metadata.is_empty()
    }
}

/// What an update changes of an object's metadata: each part `None` when unchanged.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetadataChange {
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    /// A pod's owners (a controller adopting it, or letting it go when deleted with
    /// `propagationPolicy: Orphan`).
    pub owner_references: Option<Vec<OwnerReference>>,
}

impl MetadataChange {
    pub fn is_empty(&self) -> bool {
        self.labels.is_none() && self.annotations.is_none() && self.owner_references.is_none()
    }

    /// `meta` with the change made.
    pub fn apply_to(&self, meta: &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) {
        if let Some(l) = &self.labels {
            meta.labels = Some(l.clone()).filter(|l| !l.is_empty());
        }
        if let Some(a) = &self.annotations {
            meta.annotations = Some(a.clone()).filter(|a| !a.is_empty());
        }
        if let Some(o) = &self.owner_references {
            meta.owner_references = Some(o.clone()).filter(|o| !o.is_empty());
        }
    }
}

/// Why an update is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The API server refuses it too (`field`: where, `message`: its words).
    Forbidden { field: String, message: String },
    /// A cluster would take it; tandem does not act on it yet.
    NotSupported { field: String, message: String },
}

/// The API server's words for a spec change it refuses.
pub const SPEC_FORBIDDEN: &str = "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// Metadata fields nobody may change.
const IMMUTABLE: [&str; 4] = ["name", "namespace", "uid", "creationTimestamp"];

/// Metadata fields the server keeps itself: what a client sends there is not a change.
const SERVER_OWNED: [&str; 5] = [
    "resourceVersion",
    "managedFields",
    "generation",
    "selfLink",
    "deletionTimestamp",
];

/// Judges the change from `old` to `new` (both whole Pod objects).
pub fn pod_update(old: &Value, new: &Value) -> Result<PodUpdate, Refusal> {
    let mut update = PodUpdate {
        metadata: metadata_update(old, new, "on a running pod", Owners::MayChange)?,
        ..PodUpdate::default()
    };

    let (os, ns) = (&old["spec"], &new["spec"]);
    let mut spec = ns.clone();
    // Ephemeral containers change only through their own subresource (`crate::ephemeral`): an
    // update of the pod keeps them as they were, as the API server does.
    spec["ephemeralContainers"] = os["ephemeralContainers"].clone();
    if os.get("ephemeralContainers").is_none() {
        if let Some(m) = spec.as_object_mut() {
            m.remove("ephemeralContainers");
        }
    }
    for list in ["initContainers", "containers"] {
        let (old_list, new_list) = (
            os[list].as_array().cloned().unwrap_or_default(),
            ns[list].as_array().cloned().unwrap_or_default(),
        );
        if old_list.len() != new_list.len() {
            return Err(spec_forbidden());
        }
        for (i, (o, n)) in old_list.iter().zip(&new_list).enumerate() {
            if o["name"] != n["name"] {
                return Err(spec_forbidden());
            }
            if o["image"] != n["image"] {
                let Some(image) = n["image"].as_str().filter(|i| !i.trim().is_empty()) else {
                    return Err(Refusal::Forbidden {
                        field: format!("spec.{list}[{i}].image"),
                        message: "Required value".into(),
                    });
                };
                let name = n["name"].as_str().unwrap_or_default().to_string();
                update.images.insert(name, image.to_string());
                spec[list][i]["image"] = o["image"].clone();
            }
        }
    }
    if &spec != os {
        let changed = |f: &str| spec[f] != os[f];
        if let Some(f) = [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
        ]
        .into_iter()
        .find(|f| changed(f))
        {
            return Err(Refusal::NotSupported {
                field: format!("spec.{f}"),
                message: "changing it on a running pod is not supported by tandem yet".into(),
            });
        }
        return Err(spec_forbidden());
    }
    Ok(update)
}

/// The metadata part of an update, as the API server's `ValidateObjectMetaUpdate` judges it:
/// identity immutable, labels and annotations free (but valid); the new labels and annotations
/// when they change. Other metadata (owners, finalizers) tandem does not change yet (`what`
/// says of which object, for the refusal).
/// Whether an update may change an object's `ownerReferences` here (a pod's: controllers adopt
/// and orphan pods; tandem's own controllers own workloads, whose owners do not change yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owners {
    MayChange,
    Fixed,
}

fn metadata_update(
    old: &Value,
    new: &Value,
    what: &str,
    owners: Owners,
) -> Result<MetadataChange, Refusal> {
    let (om, nm) = (&old["metadata"], &new["metadata"]);
    for f in IMMUTABLE {
        if !nm[f].is_null() && nm[f] != om[f] {
            return Err(Refusal::Forbidden {
                field: format!("metadata.{f}"),
                message: format!("Invalid value: {}: field is immutable", nm[f]),
            });
        }
    }
    let strings = |v: &Value, field: &str| -> Result<BTreeMap<String, String>, Refusal> {
        let Some(map) = v.as_object() else {
            return Ok(BTreeMap::new());
        };
        map.iter()
            .map(|(k, v)| match v.as_str() {
                Some(s) => Ok((k.clone(), s.to_string())),
                None => Err(Refusal::Forbidden {
                    field: format!("metadata.{field}"),
                    message: format!("Invalid value: {v}: must be a string"),
                }),
            })
            .collect()
    };
    let (old_labels, new_labels) = (
        strings(&om["labels"], "labels")?,
        strings(&nm["labels"], "labels")?,
    );
    if old_labels != new_labels {
        for (k, v) in &new_labels {
            if let Some(problem) = crate::names::qualified_name(k) {
                return Err(Refusal::Forbidden {
                    field: "metadata.labels".into(),
                    message: format!("Invalid value: {k:?}: {problem}"),
                });
            }
            if let Some(problem) = crate::names::label_value(v) {
                return Err(Refusal::Forbidden {
                    field: format!("metadata.labels[{k}]"),
                    message: format!("Invalid value: {v:?}: {problem}"),
                });
            }
        }
    }
    let (old_ann, new_ann) = (
        strings(&om["annotations"], "annotations")?,
        strings(&nm["annotations"], "annotations")?,
    );
    if old_ann != new_ann {
        if let Some(k) = new_ann
            .keys()
            .find(|k| crate::names::qualified_name(k).is_some())
        {
            return Err(Refusal::Forbidden {
                field: "metadata.annotations".into(),
                message: format!("Invalid value: {k:?}: not a qualified name"),
            });
        }
    }
    // Any other metadata change.
    let rest = |m: &Value| -> BTreeMap<String, Value> {
        m.as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| {
                        !SERVER_OWNED.contains(&k.as_str())
                            && !IMMUTABLE.contains(&k.as_str())
                            && k.as_str() != "labels"
                            && k.as_str() != "annotations"
                            && (owners == Owners::Fixed || k.as_str() != "ownerReferences")
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some((field, _)) = rest(nm)
        .into_iter()
        .find(|(k, v)| rest(om).get(k) != Some(v))
    {
        return Err(Refusal::NotSupported {
            field: format!("metadata.{field}"),
            message: format!("changing it {what} is not supported by tandem yet"),
        });
    }
    let owner_references = match owners {
        Owners::MayChange if om["ownerReferences"] != nm["ownerReferences"] => {
            Some(owner_references(&nm["ownerReferences"])?)
        }
        _ => None,
    };
    Ok(MetadataChange {
        labels: (old_labels != new_labels).then_some(new_labels),
        annotations: (old_ann != new_ann).then_some(new_ann),
        owner_references,
    })
}

/// `metadata.ownerReferences` checked as `ValidateOwnerReferences` checks them: each names its
/// owner's apiVersion, kind, name and uid; one at most is the controller.
fn owner_references(v: &Value) -> Result<Vec<OwnerReference>, Refusal> {
    let refs: Vec<OwnerReference> = match v {
        Value::Null => Vec::new(),
        v => serde_json::from_value(v.clone()).map_err(|e| Refusal::Forbidden {
            field: "metadata.ownerReferences".into(),
            message: format!("Invalid value: {e}"),
        })?,
    };
    for (i, r) in refs.iter().enumerate() {
        for (field, value) in [
            ("apiVersion", &r.api_version),
            ("kind", &r.kind),
            ("name", &r.name),
            ("uid", &r.uid),
        ] {
            if value.is_empty() {
                return Err(Refusal::Forbidden {
                    field: format!("metadata.ownerReferences[{i}].{field}"),
                    message: "Invalid value: \"\": must not be empty".into(),
                });
            }
        }
    }
    if refs.iter().filter(|r| r.controller == Some(true)).count() > 1 {
        return Err(Refusal::Forbidden {
            field: "metadata.ownerReferences".into(),
            message: "Only one reference can have Controller set to true".into(),
        });
    }
    Ok(refs)
}

/// What an accepted update of a workload changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkloadUpdate {
    /// The spec changed: a new generation, which the controller's status then reports as
    /// observed (what `kubectl rollout status` waits for).
    pub spec_changed: bool,
    /// The labels or annotations changed.
    pub metadata_changed: bool,
}

/// The fields of a StatefulSet's spec an update may change (all others are fixed at creation).
const STATEFULSET_MUTABLE: [&str; 7] = [
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "revisionHistoryLimit",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
];

/// The API server's words for a StatefulSet spec change it refuses.
pub const STATEFULSET_FORBIDDEN: &str = "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

/// Judges the change of a workload of `kind` from `old` to `new` (both whole objects, with the
/// API server's defaults: a field the client left out of a PATCH keeps its value).
pub fn workload_update(
    kind: crate::WorkloadKind,
    old: &Value,
    new: &Value,
) -> Result<WorkloadUpdate, Refusal> {
    use crate::WorkloadKind as K;
    let MetadataChange {
        labels,
        annotations,
        ..
    } = metadata_update(old, new, "on a workload", Owners::Fixed)?;
    let (os, ns) = (&old["spec"], &new["spec"]);
    let immutable = |field: &str| -> Result<(), Refusal> {
        match os[field] == ns[field] {
            true => Ok(()),
            false => Err(Refusal::Forbidden {
                field: format!("spec.{field}"),
                message: format!("Invalid value: {}: field is immutable", ns[field]),
            }),
        }
    };
    match kind {
        K::Deployment | K::ReplicaSet | K::DaemonSet => immutable("selector")?,
        K::StatefulSet => {
            let fixed = |s: &Value| -> BTreeMap<String, Value> {
                s.as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| !STATEFULSET_MUTABLE.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            };
            if fixed(os) != fixed(ns) {
                return Err(Refusal::Forbidden {
                    field: "spec".into(),
                    message: STATEFULSET_FORBIDDEN.into(),
                });
            }
        }
        K::Job => {
            for field in ["selector", "template", "completionMode", "podFailurePolicy"] {
                immutable(field)?;
            }
            // Indexed Jobs are elastic: completions may change along with parallelism.
            let elastic =
                ns["completionMode"] == "Indexed" && ns["completions"] == ns["parallelism"];
            if !elastic {
                immutable("completions")?;
            }
        }
        K::CronJob | K::ReplicationController => {}
    }
    Ok(WorkloadUpdate {
        spec_changed: os != ns,
        metadata_changed: labels.is_some() || annotations.is_some(),
    })
}

/// The fields of a Service's spec its creation allocated (the REST strategy's
/// `patchAllocatedValues`): an update that leaves them out keeps them.
const SERVICE_ALLOCATED: [&str; 4] = ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"];

/// Fills in what an update of a Service leaves out of what was allocated at its creation: its
/// cluster IPs, and each port's node port (matched by port and protocol), as the API server
/// keeps them; a type without node ports has none.
pub fn keep_allocated(old: &Value, new: &mut Value) {
    let (os, ns) = (&old["spec"], &mut new["spec"]);
    if !ns.is_object() {
        return;
    }
    if os["type"] == ns["type"] || ns["type"].is_null() {
        for f in SERVICE_ALLOCATED {
            if ns[f].is_null() || ns[f] == "" {
                ns[f] = os[f].clone();
            }
        }
    }
    let protocol = |p: &Value| p["protocol"].as_str().unwrap_or("TCP").to_string();
    let with_node_ports =
        |s: &Value| matches!(s["type"].as_str(), Some("NodePort" | "LoadBalancer"));
    let had_node_ports = with_node_ports(os);
    let has_node_ports = with_node_ports(ns);
    let Some(ports) = ns["ports"].as_array_mut() else {
        return;
    };
    if had_node_ports && !has_node_ports {
        // A type without node ports drops those the old type had (`dropTypeDependentFields`).
        for p in ports.iter_mut() {
            if let Some(p) = p.as_object_mut() {
                p.remove("nodePort");
            }
        }
        return;
    }
    for p in ports.iter_mut().filter(|p| p["nodePort"].is_null()) {
        let was = os["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["port"] == p["port"] && protocol(o) == protocol(p));
        if let Some(node_port) = was.map(|o| o["nodePort"].clone()).filter(|n| !n.is_null()) {
            p["nodePort"] = node_port;
        }
    }
}

/// Judges the change of a Service from `old` to `new` (both whole, `new` defaulted and with
/// [`keep_allocated`] applied): its cluster IPs are immutable, as the API server keeps them;
/// its type, IP families and node ports tandem does not change yet (a change there would
/// allocate or give back addresses). Whether anything changed.
pub fn service_update(old: &Value, new: &Value) -> Result<bool, Refusal> {
    let MetadataChange {
        labels,
        annotations,
        ..
    } = metadata_update(old, new, "on a Service", Owners::Fixed)?;
    let (os, ns) = (&old["spec"], &new["spec"]);
    for f in ["clusterIP", "clusterIPs"] {
        if os[f] != ns[f] {
            return Err(Refusal::Forbidden {
                field: format!("spec.{f}"),
                message: format!("Invalid value: {}: field is immutable", ns[f]),
            });
        }
    }
    for f in ["ipFamilyPolicy", "ipFamilies"] {
        if os[f] != ns[f] {
            return Err(Refusal::NotSupported {
                field: format!("spec.{f}"),
                message: "changing a Service's IP families (to or from dual-stack) is not supported by tandem yet; delete the Service and create it again".into(),
            });
        }
    }
    if os["type"] != ns["type"] {
        return Err(Refusal::NotSupported {
            field: "spec.type".into(),
            message: "changing a Service's type is not supported by tandem yet; delete the Service and create it again".into(),
        });
    }
    let node_ports = |s: &Value| -> Vec<(Value, Value)> {
        let mut ports: Vec<(Value, Value)> = s["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| !p["nodePort"].is_null())
            .map(|p| (p["nodePort"].clone(), p["protocol"].clone()))
            .collect();
        ports.sort_by_key(|(n, p)| (n.as_i64(), p.to_string()));
        ports
    };
    if node_ports(os) != node_ports(ns) {
        return Err(Refusal::NotSupported {
            field: "spec.ports".into(),
            message: "changing a Service's node ports is not supported by tandem yet; keep each port's nodePort, or delete the Service and create it again".into(),
        });
    }
    Ok(os != ns || labels.is_some() || annotations.is_some())
}

/// Whether the field a diagnostic names (`spec.template.spec.containers[0].image`,
/// `metadata.labels[app]`) holds the same in `old` and `new`. A warning about such a field is
/// not news of the update and is not repeated: the API server warns of what a request brings,
/// and a field the old object had (a default, say) is brought by no one.
pub fn unchanged(old: &Value, new: &Value, field: &str) -> bool {
    value_at(old, field) == value_at(new, field)
}

/// The value at a diagnostic's field path, if there is one.
fn value_at<'a>(mut v: &'a Value, field: &str) -> Option<&'a Value> {
    let mut rest = field;
    while !rest.is_empty() {
        rest = rest.strip_prefix('.').unwrap_or(rest);
        if let Some(inner) = rest.strip_prefix('[') {
            let (key, after) = inner.split_once(']')?;
            v = match key.parse::<usize>() {
                Ok(i) if v.is_array() => v.get(i)?,
                _ => v.get(key)?,
            };
            rest = after;
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            v = v.get(&rest[..end])?;
            rest = &rest[end..];
        }
    }
    Some(v)
}

fn spec_forbidden() -> Refusal {
    Refusal::Forbidden {
        field: "spec".into(),
        message: SPEC_FORBIDDEN.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "5",
                         "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "a:1"}],
                     "initContainers": [{"name": "side", "image": "s:1", "restartPolicy": "Always"}]},
            "status": {"phase": "Running"}
        })
    }

    #[test]
    fn images_labels_and_annotations_change_the_rest_is_refused_as_the_api_server_does() {
        let mut new = pod();
        new["spec"]["initContainers"][0]["image"] = json!("s:2");
        new["metadata"]["labels"]["tier"] = json!("front");
        new["metadata"]["annotations"] = json!({"note": "x"});
        new["metadata"]["resourceVersion"] = json!("9");
        new["status"] = json!({"phase": "Failed"});
        let u = pod_update(&pod(), &new).expect("allowed");
        assert_eq!(
            u.images,
            BTreeMap::from([("side".to_string(), "s:2".to_string())])
        );
        assert_eq!(u.metadata.labels.map(|l| l.len()), Some(2));
        assert_eq!(
            u.metadata.annotations.map(|a| a["note"].clone()),
            Some("x".to_string())
        );
        assert!(pod_update(&pod(), &pod()).expect("same").is_empty());
        // Owners change (a controller adopting the pod, or letting it go); two controllers are
        // refused as the API server refuses them.
        let owner = |uid: &str| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web", "uid": uid, "controller": true});
        let mut new = pod();
        new["metadata"]["ownerReferences"] = json!([owner("u1")]);
        let u = pod_update(&pod(), &new).expect("adopted");
        assert_eq!(u.metadata.owner_references.map(|o| o.len()), Some(1));
        new["metadata"]["ownerReferences"] = json!([owner("u1"), owner("u2")]);
        assert!(matches!(pod_update(&pod(), &new),
            Err(Refusal::Forbidden { message, .. }) if message == "Only one reference can have Controller set to true"));

        let mut new = pod();
        new["spec"]["containers"][0]["command"] = json!(["sh"]);
        assert_eq!(pod_update(&pod(), &new), Err(spec_forbidden()));
        let mut new = pod();
        new["spec"]["containers"][0]["name"] = json!("other");
        assert_eq!(pod_update(&pod(), &new), Err(spec_forbidden()));
        let mut new = pod();
        new["metadata"]["name"] = json!("other");
        assert!(
            matches!(pod_update(&pod(), &new), Err(Refusal::Forbidden { field, .. }) if field == "metadata.name")
        );
        let mut new = pod();
        new["spec"]["activeDeadlineSeconds"] = json!(30);
        assert!(
            matches!(pod_update(&pod(), &new), Err(Refusal::NotSupported { field, .. }) if field == "spec.activeDeadlineSeconds")
        );
        let mut new = pod();
        new["metadata"]["labels"]["bad key!"] = json!("x");
        assert!(matches!(
            pod_update(&pod(), &new),
            Err(Refusal::Forbidden { .. })
        ));
        let mut new = pod();
        new["spec"]["containers"][0]["image"] = json!("");
        assert!(
            matches!(pod_update(&pod(), &new), Err(Refusal::Forbidden { field, .. }) if field == "spec.containers[0].image")
        );
    }

    fn workload(kind: &str, spec: Value) -> Value {
        json!({"kind": kind, "metadata": {"name": "w", "namespace": "default", "uid": "u"},
               "spec": spec})
    }

    #[test]
    fn workloads_change_but_for_the_fields_each_kind_fixes_at_creation() {
        use crate::WorkloadKind as K;
        let template = json!({"metadata": {"labels": {"app": "w"}},
                              "spec": {"containers": [{"name": "c", "image": "a:1"}]}});
        let selector = json!({"matchLabels": {"app": "w"}});
        let deploy = workload(
            "Deployment",
            json!({"replicas": 1, "selector": selector, "template": template}),
        );
        let mut new = deploy.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("a:2");
        new["spec"]["replicas"] = json!(3);
        let u = workload_update(K::Deployment, &deploy, &new).expect("a new template");
        assert!(u.spec_changed && !u.metadata_changed);
        let mut relabelled = deploy.clone();
        relabelled["metadata"]["labels"] = json!({"tier": "web"});
        let u = workload_update(K::Deployment, &deploy, &relabelled).expect("new labels");
        assert!(!u.spec_changed && u.metadata_changed);
        let mut new = deploy.clone();
        new["spec"]["selector"] = json!({"matchLabels": {"app": "x"}});
        for kind in [K::Deployment, K::ReplicaSet, K::DaemonSet] {
            assert!(
                matches!(workload_update(kind, &deploy, &new), Err(Refusal::Forbidden { field, message })
                    if field == "spec.selector" && message.ends_with("field is immutable"))
            );
        }
        // A ReplicationController's selector may change.
        assert!(workload_update(K::ReplicationController, &deploy, &new).is_ok());

        let sts = workload(
            "StatefulSet",
            json!({"replicas": 1, "serviceName": "db", "selector": selector,
                                                  "template": template, "podManagementPolicy": "OrderedReady"}),
        );
        let mut new = sts.clone();
        new["spec"]["replicas"] = json!(2);
        new["spec"]["updateStrategy"] = json!({"type": "OnDelete"});
        new["spec"]["minReadySeconds"] = json!(5);
        assert!(workload_update(K::StatefulSet, &sts, &new).is_ok());
        for (field, value) in [
            ("serviceName", json!("other")),
            ("podManagementPolicy", json!("Parallel")),
            (
                "volumeClaimTemplates",
                json!([{"metadata": {"name": "data"}}]),
            ),
        ] {
            let mut new = sts.clone();
            new["spec"][field] = value;
            assert_eq!(
                workload_update(K::StatefulSet, &sts, &new),
                Err(Refusal::Forbidden {
                    field: "spec".into(),
                    message: STATEFULSET_FORBIDDEN.into()
                }),
                "{field}"
            );
        }

        let job = workload(
            "Job",
            json!({"completions": 2, "parallelism": 1, "completionMode": "NonIndexed",
                                         "selector": selector, "template": template, "suspend": true}),
        );
        let mut new = job.clone();
        new["spec"]["suspend"] = json!(false);
        new["spec"]["parallelism"] = json!(2);
        assert!(
            workload_update(K::Job, &job, &new)
                .expect("resumed")
                .spec_changed
        );
        for (field, value) in [
            ("template", json!({})),
            ("completions", json!(3)),
            ("completionMode", json!("Indexed")),
            ("selector", json!({})),
        ] {
            let mut new = job.clone();
            new["spec"][field] = value;
            assert!(
                matches!(workload_update(K::Job, &job, &new), Err(Refusal::Forbidden { field: f, .. }) if f == format!("spec.{field}")),
                "{field}"
            );
        }
        // An Indexed Job scales its completions with its parallelism.
        let mut indexed = job.clone();
        indexed["spec"]["completionMode"] = json!("Indexed");
        let mut new = indexed.clone();
        new["spec"]["completions"] = json!(4);
        new["spec"]["parallelism"] = json!(4);
        assert!(workload_update(K::Job, &indexed, &new).is_ok());

        let mut renamed = deploy.clone();
        renamed["metadata"]["uid"] = json!("other");
        assert!(
            matches!(workload_update(K::CronJob, &deploy, &renamed), Err(Refusal::Forbidden { field, .. }) if field == "metadata.uid")
        );
    }

    #[test]
    fn a_service_keeps_what_its_creation_allocated() {
        let old = json!({"metadata": {"name": "db", "uid": "u"},
            "spec": {"type": "NodePort", "clusterIP": "10.96.0.9", "clusterIPs": ["10.96.0.9"],
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack", "selector": {"app": "db"},
                     "ports": [{"port": 5432, "protocol": "TCP", "targetPort": 5432, "nodePort": 30100}]}});
        // A re-applied manifest names none of the allocated fields: they are kept.
        let mut new = json!({"metadata": {"name": "db", "uid": "u"},
            "spec": {"type": "NodePort", "selector": {"app": "db2"},
                     "ports": [{"port": 5432, "protocol": "TCP", "targetPort": "pg"}]}});
        keep_allocated(&old, &mut new);
        assert_eq!(new["spec"]["clusterIP"], "10.96.0.9");
        assert_eq!(new["spec"]["ports"][0]["nodePort"], 30100);
        assert_eq!(service_update(&old, &new), Ok(true));
        assert_eq!(service_update(&old, &old), Ok(false));

        let mut moved = new.clone();
        moved["spec"]["clusterIP"] = json!("10.96.0.10");
        assert!(matches!(service_update(&old, &moved),
            Err(Refusal::Forbidden { field, .. }) if field == "spec.clusterIP"));
        let mut upgraded = new.clone();
        upgraded["spec"]["ipFamilyPolicy"] = json!("PreferDualStack");
        assert!(matches!(service_update(&old, &upgraded),
            Err(Refusal::NotSupported { field, .. }) if field == "spec.ipFamilyPolicy"));
        let mut retyped = new.clone();
        retyped["spec"]["type"] = json!("ClusterIP");
        assert!(matches!(service_update(&old, &retyped),
            Err(Refusal::NotSupported { field, .. }) if field == "spec.type"));
        // A new port number needs a new node port.
        let mut new = json!({"spec": {"type": "NodePort", "ports": [{"port": 5433, "protocol": "TCP"}]},
                             "metadata": {"name": "db", "uid": "u"}});
        keep_allocated(&old, &mut new);
        assert!(matches!(service_update(&old, &new),
            Err(Refusal::NotSupported { field, .. }) if field == "spec.ports"));
    }

    #[test]
    fn a_warning_is_news_only_where_the_update_changed_something() {
        let old = json!({"spec": {"podReplacementPolicy": "TerminatingOrFailed",
            "template": {"metadata": {"labels": {"a.b/c": "1"}}, "spec": {"containers": [{"image": "x"}]}}}});
        let mut new = old.clone();
        new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("y");
        assert!(unchanged(&old, &new, "spec.podReplacementPolicy"));
        assert!(unchanged(
            &old,
            &new,
            "spec.template.metadata.labels[a.b/c]"
        ));
        assert!(!unchanged(
            &old,
            &new,
            "spec.template.spec.containers[0].image"
        ));
        assert!(!unchanged(&old, &new, "spec.template.spec.containers[0]"));
        assert!(unchanged(&old, &new, "spec.missing[3].x"));
    }
}

/// The conditions an update of a pod's `status` subresource sets (new or changed, by type), or
/// why it is refused: the rest of the status is the kubelet's, and on this machine tandem's
/// kubelet is the only writer of it. Which conditions may be set from outside (a readiness
/// gate's) is the pod's to judge (`PodPlan::gate_condition_problem`). Nothing outside the
/// status is read, as the API server's status strategy keeps the rest of the object.
pub fn status_conditions(old: &Value, new: &Value) -> Result<Vec<Value>, Refusal> {
    let empty = serde_json::Map::new();
    let (os, ns) = (
        old["status"].as_object().unwrap_or(&empty),
        new["status"].as_object().unwrap_or(&empty),
    );
    if let Some(field) = os
        .keys()
        .chain(ns.keys())
        .filter(|k| *k != "conditions")
        .find(|k| os.get(*k) != ns.get(*k))
    {
        return Err(Refusal::NotSupported {
            field: format!("status.{field}"),
            message: "the pod's kubelet sets it: only the conditions of the pod's readiness gates are set from outside".into(),
        });
    }
    let before = os
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let changed = ns
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|c| !before.iter().any(|o| o == c))
        .collect();
    Ok(changed)
}

#[cfg(test)]
mod status_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_status_update_sets_only_conditions() {
        let old = json!({"status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": "False"},
            {"type": "example.com/gate", "status": "False"}]}});
        let mut new = old.clone();
        new["status"]["conditions"][1]["status"] = json!("True");
        new["spec"] = json!({"ignored": true});
        assert_eq!(
            status_conditions(&old, &new),
            Ok(vec![json!({"type": "example.com/gate", "status": "True"})])
        );
        assert_eq!(status_conditions(&old, &old), Ok(vec![]));
        let mut phase = old.clone();
        phase["status"]["phase"] = json!("Succeeded");
        assert!(matches!(
            status_conditions(&old, &phase),
            Err(Refusal::NotSupported { field, .. }) if field == "status.phase"
        ));
    }
}
