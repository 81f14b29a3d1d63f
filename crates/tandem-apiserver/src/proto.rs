//! Request bodies in Kubernetes' protobuf encoding, which kubectl's typed clients send for
//! `kubectl create <kind>` and `auth can-i`: the `k8s\0` envelope around a `runtime.Unknown`,
//! opened here; the object inside is turned into its JSON form by `crate::protoobjects`. The
//! message types are kube-rs's `k8s-pb` (generated from the API's own .proto files).

use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::{json, Value};

use crate::protoobjects::Conversion;

use crate::status::{ApiError, Reason};

/// The media type of protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The envelope's first bytes.
const MAGIC: &[u8] = b"k8s\0";

/// The JSON form of a protobuf body whose kind is read here.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = |what: &str| ApiError::bad_request(format!("the protobuf body is not valid: {what}"));
    let inner = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("it does not start with the k8s envelope"))?;
    let unknown = Unknown::decode(inner).map_err(|e| bad(&e.to_string()))?;
    let type_meta = unknown.type_meta.unwrap_or_default();
    let (api_version, kind) = (
        type_meta.api_version.unwrap_or_default(),
        type_meta.kind.unwrap_or_default(),
    );
    let raw = unknown.raw.unwrap_or_default();
    // The questions of `kubectl auth can-i` (and `--list`) and `auth whoami`, read here: they
    // are answered, not stored.
    match (api_version.as_str(), kind.as_str()) {
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => {
            use k8s_pb::api::authorization::v1::SelfSubjectAccessReview;
            let review =
                SelfSubjectAccessReview::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            let spec = review.spec.unwrap_or_default();
            let mut out = json!({});
            if let Some(r) = spec.resource_attributes {
                out["resourceAttributes"] = json!({
                    "namespace": r.namespace.unwrap_or_default(),
                    "verb": r.verb.unwrap_or_default(),
                    "group": r.group.unwrap_or_default(),
                    "version": r.version.unwrap_or_default(),
                    "resource": r.resource.unwrap_or_default(),
                    "subresource": r.subresource.unwrap_or_default(),
                    "name": r.name.unwrap_or_default(),
                });
            }
            if let Some(n) = spec.non_resource_attributes {
                out["nonResourceAttributes"] = json!({
                    "path": n.path.unwrap_or_default(),
                    "verb": n.verb.unwrap_or_default(),
                });
            }
            return Ok(json!({"apiVersion": api_version, "kind": kind, "spec": out}));
        }
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => {
            use k8s_pb::api::authorization::v1::SelfSubjectRulesReview;
            let review =
                SelfSubjectRulesReview::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            let namespace = review.spec.and_then(|s| s.namespace).unwrap_or_default();
            return Ok(
                json!({"apiVersion": api_version, "kind": kind, "spec": {"namespace": namespace}}),
            );
        }
        ("authentication.k8s.io/v1", "SelfSubjectReview") => {
            return Ok(json!({"apiVersion": api_version, "kind": kind}));
        }
        // `kubectl create token`'s request.
        ("authentication.k8s.io/v1", "TokenRequest") => {
            use k8s_pb::api::authentication::v1::TokenRequest;
            let request = TokenRequest::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            let spec = request.spec.unwrap_or_default();
            let mut out = json!({"audiences": spec.audiences});
            if let Some(seconds) = spec.expiration_seconds {
                out["expirationSeconds"] = json!(seconds);
            }
            if let Some(b) = spec.bound_object_ref {
                out["boundObjectRef"] = json!({
                    "kind": b.kind.unwrap_or_default(),
                    "apiVersion": b.api_version.unwrap_or_default(),
                    "name": b.name.unwrap_or_default(),
                    "uid": b.u_id.unwrap_or_default(),
                });
            }
            return Ok(json!({"apiVersion": api_version, "kind": kind, "spec": out}));
        }
        _ => {}
    }
    let as_json = "send it as JSON instead, e.g. `kubectl create … --dry-run=client -o yaml | kubectl apply -f -`";
    let mut object = match crate::protoobjects::to_json(&api_version, &kind, &raw) {
        Ok(Some(object)) => object,
        Ok(None) => {
            return Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!("tandem does not read {kind} ({api_version}) in protobuf yet; {as_json}"),
            ))
        }
        Err(Conversion::Malformed(e)) => return Err(bad(&e)),
        Err(Conversion::Unread(at)) => {
            let at: Vec<String> = at
                .into_iter()
                .map(|a| {
                    if a.is_empty() {
                        "the object itself".into()
                    } else {
                        a
                    }
                })
                .collect();
            return Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!(
                    "this {kind} sets fields tandem does not read in protobuf yet (in {}); {as_json}",
                    at.join(", ")
                ),
            ));
        }
    };
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::api::core::v1::{ConfigMap, Secret};
    use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = Unknown {
            type_meta: Some(k8s_pb::apimachinery::pkg::runtime::TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        };
        [MAGIC, unknown.encode_to_vec().as_slice()].concat()
    }

    #[test]
    fn configmaps_and_secrets_read_as_their_json() {
        let cm = ConfigMap {
            metadata: Some(ObjectMeta {
                name: Some("web-config".into()),
                ..Default::default()
            }),
            data: [("greeting".to_string(), "hello".to_string())].into(),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "ConfigMap", cm.encode_to_vec())).expect("configmap");
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web-config"}, "data": {"greeting": "hello"}})
        );
        let s = Secret {
            metadata: Some(ObjectMeta {
                name: Some("tok".into()),
                ..Default::default()
            }),
            data: [("token".to_string(), b"s3cret".to_vec())].into(),
            r#type: Some("Opaque".into()),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "Secret", s.encode_to_vec())).expect("secret");
        assert_eq!(v["data"]["token"], "czNjcmV0");
        assert_eq!(v["type"], "Opaque");
        let e = decode(&envelope("v1", "Pod", vec![])).expect_err("a pod");
        assert_eq!(e.reason, Reason::UnsupportedMediaType);
        assert!(decode(b"{}").is_err());
    }
}
