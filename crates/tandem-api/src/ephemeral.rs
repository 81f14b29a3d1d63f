//! Ephemeral containers added to a running pod (`kubectl debug`, `tandem debug`), judged as the
//! API server judges an update of `pods/ephemeralcontainers` (`ValidatePodEphemeralContainersUpdate`
//! and `validateEphemeralContainers`): only `spec.ephemeralContainers` is read; it may only grow;
//! a new one has a name no other container of the pod has, an image, a target that is one of the
//! pod's other containers, and none of the fields that would make it part of the workload
//! (ports, probes, lifecycle, resources, restart policy, subPath mounts).
//!
//! A container that passes is planned as a regular container of the same pod would be
//! ([`as_pod`] gives that pod for the loader), so its environment, mounts and security context
//! mean what they mean everywhere else.
//!
//! Works on the objects as JSON, the form PATCH produces them in.

use serde_json::Value;

use crate::updates::Refusal;

/// Fields of `EphemeralContainerCommon` an ephemeral container may set (the API server's
/// allow-list); any other is refused with its words.
const ALLOWED: [&str; 16] = [
    "name",
    "image",
    "command",
    "args",
    "workingDir",
    "envFrom",
    "env",
    "volumeMounts",
    "volumeDevices",
    "terminationMessagePath",
    "terminationMessagePolicy",
    "imagePullPolicy",
    "securityContext",
    "stdin",
    "stdinOnce",
    "tty",
];

const FOR_EPHEMERAL: &str = "Forbidden: cannot be set for an Ephemeral Container";

fn forbidden(field: String, message: impl Into<String>) -> Refusal {
    Refusal::Forbidden {
        field,
        message: message.into(),
    }
}

/// Go's zero value, as clients marshal structs (`"resources": {}`): not a field that is set.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

fn list(spec: &Value, name: &str) -> Vec<Value> {
    spec[name].as_array().cloned().unwrap_or_default()
}

/// The ephemeral containers an update adds (in order), or why it is refused. `old` and `new`
/// are the pod before and after the update (of the subresource: nothing else is read).
pub fn additions(old: &Value, new: &Value) -> Result<Vec<Value>, Refusal> {
    let (os, ns) = (&old["spec"], &new["spec"]);
    let (before, after) = (
        list(os, "ephemeralContainers"),
        list(ns, "ephemeralContainers"),
    );
    for (i, o) in before.iter().enumerate() {
        let name = o["name"].as_str().unwrap_or_default();
        match after.iter().find(|n| n["name"] == o["name"]) {
            None => {
                return Err(forbidden(
                    format!("spec.ephemeralContainers[{i}]"),
                    format!("Forbidden: existing ephemeral containers {name:?} may not be removed"),
                ))
            }
            Some(n) if n != o => {
                return Err(forbidden(
                    format!("spec.ephemeralContainers[{i}]"),
                    format!("Forbidden: existing ephemeral containers {name:?} may not be changed"),
                ))
            }
            Some(_) => {}
        }
    }
    let others: Vec<Value> = list(os, "initContainers")
        .into_iter()
        .chain(list(os, "containers"))
        .map(|c| c["name"].clone())
        .collect();
    // Names of the new list seen so far: each may come once.
    let mut taken: Vec<Value> = vec![];
    let mut added = vec![];
    for (i, c) in after.iter().enumerate() {
        let at = |f: &str| format!("spec.ephemeralContainers[{i}].{f}");
        if taken.contains(&c["name"]) {
            let name = c["name"].as_str().unwrap_or_default();
            return Err(forbidden(at("name"), format!("Duplicate value: {name:?}")));
        }
        if before.iter().any(|o| o["name"] == c["name"]) {
            taken.push(c["name"].clone());
            continue;
        }
        let Some(fields) = c.as_object() else {
            return Err(forbidden(
                format!("spec.ephemeralContainers[{i}]"),
                "Invalid value: must be an object",
            ));
        };
        if let Some(f) = fields
            .iter()
            .filter(|(_, v)| !is_zero(v))
            .map(|(k, _)| k.as_str())
            .find(|k| *k != "targetContainerName" && !ALLOWED.contains(k))
        {
            return Err(forbidden(at(f), FOR_EPHEMERAL));
        }
        let name = c["name"].as_str().unwrap_or_default();
        if name.is_empty() {
            return Err(forbidden(at("name"), "Required value"));
        }
        if let Some(problem) = crate::names::dns1123_label(name) {
            return Err(forbidden(
                at("name"),
                format!("Invalid value: {name:?}: {problem}"),
            ));
        }
        if others.contains(&c["name"]) || taken.contains(&c["name"]) {
            return Err(forbidden(at("name"), format!("Duplicate value: {name:?}")));
        }
        if c["image"].as_str().is_none_or(|i| i.trim().is_empty()) {
            return Err(forbidden(at("image"), "Required value"));
        }
        if let Some(target) = c["targetContainerName"].as_str().filter(|t| !t.is_empty()) {
            if !others.contains(&c["targetContainerName"]) {
                return Err(forbidden(
                    at("targetContainerName"),
                    format!("Not found: {target:?}"),
                ));
            }
        }
        for (m, mount) in list(c, "volumeMounts").iter().enumerate() {
            for f in ["subPath", "subPathExpr"] {
                if mount[f].as_str().is_some_and(|p| !p.is_empty()) {
                    return Err(forbidden(
                        at(&format!("volumeMounts[{m}].{f}")),
                        FOR_EPHEMERAL,
                    ));
                }
            }
        }
        taken.push(c["name"].clone());
        added.push(c.clone());
    }
    Ok(added)
}

/// The pod `pod` with `container` (an ephemeral container) as its one regular container and no
/// init or ephemeral containers: what the loader validates and plans it as.
pub fn as_pod(pod: &Value, container: &Value) -> Value {
    let mut c = container.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("targetContainerName");
    }
    let meta = &pod["metadata"];
    let mut spec = pod["spec"].clone();
    if let Some(m) = spec.as_object_mut() {
        m.remove("initContainers");
        m.remove("ephemeralContainers");
        m.insert("containers".into(), Value::Array(vec![c]));
    }
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": meta["labels"],
            "annotations": meta["annotations"],
        },
        "spec": spec,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(ephemeral: Value) -> Value {
        json!({"metadata": {"name": "web"}, "spec": {
            "initContainers": [{"name": "proxy", "image": "p"}],
            "containers": [{"name": "app", "image": "a"}],
            "ephemeralContainers": ephemeral,
        }})
    }

    fn refused(old: &Value, new: &Value) -> (String, String) {
        match additions(old, new) {
            Err(
                Refusal::Forbidden { field, message } | Refusal::NotSupported { field, message },
            ) => (field, message),
            Ok(added) => panic!("accepted: {added:?}"),
        }
    }

    #[test]
    fn only_new_containers_with_allowed_fields_and_known_targets_are_added() {
        // As kubectl sends it: Go's zero values for the fields it does not set.
        let debug = json!({"name": "debugger", "image": "busybox", "targetContainerName": "app",
            "stdin": true, "tty": true, "command": ["sh"], "resources": {}, "ports": [],
            "restartPolicy": ""});
        let old = pod(json!([]));
        let added = additions(&old, &pod(json!([debug.clone()]))).expect("added");
        assert_eq!(added, std::slice::from_ref(&debug));
        // A second one beside it: only the new one is added.
        let two = pod(json!([debug.clone(), {"name": "d2", "image": "busybox"}]));
        let added = additions(&pod(json!([debug.clone()])), &two).expect("added");
        assert_eq!(added[0]["name"], "d2");
        // The same name once more, beside the one that exists.
        let again = pod(json!([debug.clone(), {"name": "debugger", "image": "busybox"}]));
        let (f, m) = refused(&pod(json!([debug.clone()])), &again);
        assert_eq!(
            (f.as_str(), m.as_str()),
            (
                "spec.ephemeralContainers[1].name",
                "Duplicate value: \"debugger\""
            )
        );

        let cases = [
            (
                json!({"name": "d", "image": "b", "ports": [{"containerPort": 80}]}),
                "spec.ephemeralContainers[0].ports",
                FOR_EPHEMERAL,
            ),
            (
                json!({"name": "d", "image": "b", "readinessProbe": {"exec": {"command": ["true"]}}}),
                "spec.ephemeralContainers[0].readinessProbe",
                FOR_EPHEMERAL,
            ),
            (
                json!({"name": "d", "image": "b", "resources": {"limits": {"cpu": "1"}}}),
                "spec.ephemeralContainers[0].resources",
                FOR_EPHEMERAL,
            ),
            (
                json!({"name": "d", "image": "b", "restartPolicy": "Always"}),
                "spec.ephemeralContainers[0].restartPolicy",
                FOR_EPHEMERAL,
            ),
            (
                json!({"name": "app", "image": "b"}),
                "spec.ephemeralContainers[0].name",
                "Duplicate value: \"app\"",
            ),
            (
                json!({"name": "d", "image": " "}),
                "spec.ephemeralContainers[0].image",
                "Required value",
            ),
            (
                json!({"name": "d", "image": "b", "targetContainerName": "nope"}),
                "spec.ephemeralContainers[0].targetContainerName",
                "Not found: \"nope\"",
            ),
            (
                json!({"name": "d", "image": "b", "volumeMounts": [{"name": "v", "mountPath": "/v", "subPath": "x"}]}),
                "spec.ephemeralContainers[0].volumeMounts[0].subPath",
                FOR_EPHEMERAL,
            ),
            (
                json!({"name": "Bad_Name", "image": "b"}),
                "spec.ephemeralContainers[0].name",
                "Invalid value",
            ),
        ];
        for (c, field, words) in cases {
            let (f, m) = refused(&old, &pod(json!([c])));
            assert_eq!(f, field, "{m}");
            assert!(m.contains(words), "{m}");
        }
        // Existing ones may be neither changed nor removed.
        let (f, m) = refused(&pod(json!([debug.clone()])), &pod(json!([])));
        assert_eq!(
            (f.as_str(), m.contains("may not be removed")),
            ("spec.ephemeralContainers[0]", true)
        );
        let mut changed = debug.clone();
        changed["image"] = json!("other");
        let (_, m) = refused(&pod(json!([debug])), &pod(json!([changed])));
        assert!(m.contains("may not be changed"), "{m}");
    }

    #[test]
    fn an_ephemeral_container_is_planned_as_the_pods_only_container() {
        let p = pod(json!([]));
        let as_pod = as_pod(
            &p,
            &json!({"name": "d", "image": "b", "targetContainerName": "app"}),
        );
        assert_eq!(
            as_pod["spec"]["containers"],
            json!([{"name": "d", "image": "b"}])
        );
        assert!(as_pod["spec"].get("initContainers").is_none());
        assert_eq!(as_pod["metadata"]["name"], "web");
    }
}
