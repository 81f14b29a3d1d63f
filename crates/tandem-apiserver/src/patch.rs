//! PATCH bodies applied as the API server applies them: JSON Patch (RFC 6902), JSON Merge
//! Patch (RFC 7386) and strategic merge patch — a merge patch whose lists of named things
//! (containers, env, ports, volumes, …) merge element by element on a key, with the directives
//! kubectl's `apply` writes (`$patch`, `$setElementOrder/…`, `$deleteFromPrimitiveList/…`,
//! `$retainKeys`). Pure functions on JSON.

use serde_json::{Map, Value};

use crate::status::{ApiError, Reason};

/// The patch types of the `Content-Type` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    /// Server-side apply (`application/apply-patch+yaml`).
    Apply,
}

impl PatchType {
    pub fn from_content_type(content_type: &str) -> Result<PatchType, ApiError> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/json-patch+json" => Ok(PatchType::Json),
            "application/merge-patch+json" => Ok(PatchType::Merge),
            "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => Ok(PatchType::Apply),
            other => Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got {other:?})"),
            )),
        }
    }
}

/// `original` with `patch` applied.
pub fn apply(original: &Value, patch: &[u8], kind: PatchType) -> Result<Value, ApiError> {
    let bad =
        |e: &dyn std::fmt::Display| ApiError::bad_request(format!("the patch is not valid: {e}"));
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_slice(patch).map_err(|e| bad(&e))?;
            let mut doc = original.clone();
            // A patch that cannot be applied is a 422, as the API server reports it.
            json_patch::patch(&mut doc, &ops).map_err(|e| {
                ApiError::new(Reason::Invalid, format!("the patch cannot be applied: {e}"))
            })?;
            Ok(doc)
        }
        PatchType::Merge => {
            let p: Value = serde_json::from_slice(patch).map_err(|e| bad(&e))?;
            let mut doc = original.clone();
            json_patch::merge(&mut doc, &p);
            Ok(doc)
        }
        PatchType::Strategic => {
            let p: Value = serde_json::from_slice(patch).map_err(|e| bad(&e))?;
            if !p.is_object() {
                return Err(bad(&"a strategic merge patch must be a JSON object"));
            }
            Ok(strategic(original, &p, ""))
        }
        // An apply is more than a patch: it needs the object's field managers
        // (`crate::fields::apply`, which the server calls instead).
        PatchType::Apply => Err(ApiError::new(
            Reason::UnsupportedMediaType,
            "server-side apply of a subresource (scale, status, ephemeralcontainers) is not supported by tandem yet; apply the object itself",
        )),
    }
}

/// The key a list's elements merge on, by the field's name and the name of the field it is in
/// (the `patchMergeKey` tags of the core types: the lists of a Pod, of pod templates and of a
/// Service, whose `spec.ports` merge on `port` where a container's merge on `containerPort`).
pub(crate) fn merge_key(parent: &str, field: &str) -> Option<&'static str> {
    Some(match field {
        "ports" if parent == "spec" => "port",
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "imagePullSecrets"
        | "volumes"
        | "env"
        | "resourceClaims"
        | "schedulingGates" => "name",
        "ports" => "containerPort",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "conditions" => "type",
        "readinessGates" => "conditionType",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        _ => return None,
    })
}

/// `original` with the strategic merge `patch` applied; `parent`: the field both are in.
fn strategic(original: &Value, patch: &Value, parent: &str) -> Value {
    let (Some(orig), Some(p)) = (original.as_object(), patch.as_object()) else {
        return patch.clone();
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("replace") => {
            let mut replaced = p.clone();
            replaced.remove("$patch");
            return Value::Object(replaced);
        }
        Some("delete") => return Value::Null,
        _ => {}
    }
    let mut out: Map<String, Value> = orig.clone();
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(gone)) = (out.get_mut(field), v.as_array()) {
                list.retain(|e| !gone.contains(e));
            }
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), v) {
            (Some(o @ Value::Object(_)), Value::Object(_)) => strategic(o, v, k),
            (Some(Value::Array(o)), Value::Array(pl)) => match merge_key(parent, k) {
                Some(key) => Value::Array(merge_list(o, pl, key, k)),
                None => v.clone(),
            },
            (_, Value::Object(_)) => strategic(&Value::Object(Map::new()), v, k),
            _ => v.clone(),
        };
        if merged.is_null() {
            out.remove(k);
        } else {
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

/// Merges the elements of `patch` into `original` (the list `field`) by `key`: a matching
/// element is merged, a `$patch: delete` one removed, a new one appended.
fn merge_list(original: &[Value], patch: &[Value], key: &str, field: &str) -> Vec<Value> {
    let mut out: Vec<Value> = original.to_vec();
    if patch
        .iter()
        .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return patch
            .iter()
            .filter(|e| e.get("$patch").is_none())
            .cloned()
            .collect();
    }
    for element in patch {
        let Some(id) = element.get(key) else {
            out.push(element.clone());
            continue;
        };
        let at = out.iter().position(|o| o.get(key) == Some(id));
        let delete = element.get("$patch").and_then(Value::as_str) == Some("delete");
        match (at, delete) {
            (Some(i), true) => {
                out.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => out[i] = strategic(&out[i], element, field),
            (None, false) => out.push(strategic(&Value::Object(Map::new()), element, field)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
            "spec": {"containers": [
                {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}]},
                {"name": "side", "image": "s:1"}
            ]}
        })
    }

    #[test]
    fn strategic_merge_patches_merge_named_lists_by_their_key() {
        // What `kubectl apply` sends for an image change: the element order directive and the
        // changed element only.
        let patch = json!({
            "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {
                "$setElementOrder/containers": [{"name": "app"}, {"name": "side"}],
                "containers": [{"name": "side", "image": "s:2"}]
            }
        });
        let out = apply(&pod(), patch.to_string().as_bytes(), PatchType::Strategic).expect("patch");
        assert_eq!(out["spec"]["containers"][0]["image"], "a:1");
        assert_eq!(out["spec"]["containers"][1]["image"], "s:2");
        assert_eq!(out["spec"]["containers"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            out["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"],
            "{}"
        );
        // A label removed with null, an env entry added and one deleted by directive.
        let patch = json!({
            "metadata": {"labels": {"tier": null}},
            "spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}, {"name": "A", "$patch": "delete"}]}]}
        });
        let out = apply(&pod(), patch.to_string().as_bytes(), PatchType::Strategic).expect("patch");
        assert_eq!(out["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(
            out["spec"]["containers"][0]["env"],
            json!([{"name": "B", "value": "2"}])
        );
        // A Service's ports merge on their port, a container's on its containerPort.
        let service = json!({"spec": {"ports": [{"port": 80, "targetPort": 8080}, {"port": 443}],
            "template": {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "http"}]}]}}}});
        let patch = json!({"spec": {"$setElementOrder/ports": [{"port": 80}, {"port": 443}],
            "ports": [{"port": 80, "targetPort": 8081}],
            "template": {"spec": {"containers": [{"name": "app", "ports": [{"containerPort": 80, "name": "web"}]}]}}}});
        let out =
            apply(&service, patch.to_string().as_bytes(), PatchType::Strategic).expect("patch");
        assert_eq!(
            out["spec"]["ports"],
            json!([{"port": 80, "targetPort": 8081}, {"port": 443}])
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0]["ports"],
            json!([{"containerPort": 80, "name": "web"}])
        );
        // A merge patch replaces the list whole.
        let merge = json!({"spec": {"containers": [{"name": "side", "image": "s:3"}]}});
        let out = apply(&pod(), merge.to_string().as_bytes(), PatchType::Merge).expect("merge");
        assert_eq!(
            out["spec"]["containers"],
            json!([{"name": "side", "image": "s:3"}])
        );
    }

    #[test]
    fn json_patches_apply_their_operations_or_fail_whole() {
        let ops = json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "a:2"}]);
        let out = apply(&pod(), ops.to_string().as_bytes(), PatchType::Json).expect("patch");
        assert_eq!(out["spec"]["containers"][0]["image"], "a:2");
        let failing = json!([{"op": "test", "path": "/metadata/name", "value": "other"}]);
        let e =
            apply(&pod(), failing.to_string().as_bytes(), PatchType::Json).expect_err("test op");
        assert_eq!(e.reason, Reason::Invalid);
        assert_eq!(
            PatchType::from_content_type("application/apply-patch+yaml; charset=utf-8"),
            Ok(PatchType::Apply)
        );
        assert!(PatchType::from_content_type("text/plain").is_err());
    }
}
