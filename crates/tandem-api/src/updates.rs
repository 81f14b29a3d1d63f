//! A change to a running Pod, judged as the API server's `ValidatePodUpdate` judges it: a pod's
//! spec is fixed once it exists except for the containers' images (and a few fields tandem does
//! not change yet: activeDeadlineSeconds, tolerations, terminationGracePeriodSeconds), its
//! identity is immutable, and its labels and annotations may change freely. Status in an update
//! of the pod itself is ignored, as the API server resets it.
//!
//! Works on the objects as JSON, the form PATCH produces them in.

use std::collections::BTreeMap;

use serde_json::Value;

/// What an accepted update changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodUpdate {
    /// Containers (init or main) whose image changes: name → new image.
    pub images: BTreeMap<String, String>,
    /// The new labels, when they change.
    pub labels: Option<BTreeMap<String, String>>,
    /// The new annotations, when they change.
    pub annotations: Option<BTreeMap<String, String>>,
}

impl PodUpdate {
    pub fn is_empty(&self) -> bool {
        self.images.is_empty() && self.labels.is_none() && self.annotations.is_none()
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
    let mut update = PodUpdate::default();
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
        update.labels = Some(new_labels);
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
        update.annotations = Some(new_ann);
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
            message: "changing it on a running pod is not supported by tandem yet".into(),
        });
    }

    let (os, ns) = (&old["spec"], &new["spec"]);
    let mut spec = ns.clone();
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
        assert_eq!(u.labels.map(|l| l.len()), Some(2));
        assert_eq!(
            u.annotations.map(|a| a["note"].clone()),
            Some("x".to_string())
        );
        assert!(pod_update(&pod(), &pod()).expect("same").is_empty());

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
}
