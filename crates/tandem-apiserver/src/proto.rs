//! Request bodies in Kubernetes' protobuf encoding, which kubectl's typed clients send for
//! `create configmap|secret|namespace|serviceaccount` and `auth can-i`: the `k8s\0` envelope around a
//! `runtime.Unknown`, and the objects of the kinds read here, turned into their JSON form. The
//! message types are kube-rs's `k8s-pb` (generated from the API's own .proto files); which fields
//! each kind has in JSON is written here.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_pb::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_pb::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_pb::apimachinery::pkg::runtime::Unknown;
use prost::Message as _;
use serde_json::{json, Map, Value};

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
    let b64 = |b: &[u8]| json!(base64::engine::general_purpose::STANDARD.encode(b));
    let mut object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => {
            let cm = ConfigMap::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            let mut o = json!({"metadata": metadata(cm.metadata)});
            if !cm.data.is_empty() {
                o["data"] = json!(cm.data);
            }
            if !cm.binary_data.is_empty() {
                let binary: BTreeMap<&String, Value> =
                    cm.binary_data.iter().map(|(k, v)| (k, b64(v))).collect();
                o["binaryData"] = json!(binary);
            }
            if let Some(i) = cm.immutable {
                o["immutable"] = json!(i);
            }
            o
        }
        ("v1", "Secret") => {
            let s = Secret::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            let mut o = json!({"metadata": metadata(s.metadata)});
            if !s.data.is_empty() {
                let data: BTreeMap<&String, Value> =
                    s.data.iter().map(|(k, v)| (k, b64(v))).collect();
                o["data"] = json!(data);
            }
            if !s.string_data.is_empty() {
                o["stringData"] = json!(s.string_data);
            }
            if let Some(t) = s.r#type {
                o["type"] = json!(t);
            }
            if let Some(i) = s.immutable {
                o["immutable"] = json!(i);
            }
            o
        }
        // `kubectl create namespace|serviceaccount`: names and labels only.
        ("v1", "Namespace") => {
            let n = Namespace::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            json!({"metadata": metadata(n.metadata)})
        }
        ("v1", "ServiceAccount") => {
            let sa = ServiceAccount::decode(raw.as_slice()).map_err(|e| bad(&e.to_string()))?;
            json!({"metadata": metadata(sa.metadata)})
        }
        // The review's answer does not depend on what it asks.
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => json!({"metadata": {}, "spec": {}}),
        _ => {
            return Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!(
                    "tandem reads protobuf bodies of ConfigMaps, Secrets, Namespaces and ServiceAccounts only, not of {kind} ({api_version}); send it as JSON: e.g. `kubectl create deployment … --dry-run=client -o yaml | kubectl apply -f -`"
                ),
            ))
        }
    };
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

/// The metadata a client may give a new object, as JSON.
fn metadata(meta: Option<ObjectMeta>) -> Value {
    let meta = meta.unwrap_or_default();
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            m.insert(k.into(), json!(v));
        }
    };
    put("name", meta.name);
    put("generateName", meta.generate_name);
    put("namespace", meta.namespace);
    if !meta.labels.is_empty() {
        m.insert("labels".into(), json!(meta.labels));
    }
    if !meta.annotations.is_empty() {
        m.insert("annotations".into(), json!(meta.annotations));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let e = decode(&envelope("apps/v1", "Deployment", vec![])).expect_err("deployment");
        assert_eq!(e.reason, Reason::UnsupportedMediaType);
        assert!(decode(b"{}").is_err());
    }
}
