//! Structural checks against the OpenAPI schema of the k8s-openapi types: unknown fields (with
//! did-you-mean), wrong types, missing required fields. k8s-openapi itself ignores unknown fields
//! and defaults missing ones, so without this a typo would silently do nothing.

use std::sync::OnceLock;

use base64::Engine as _;
use k8s_openapi::api::apps::v1 as apps;
use k8s_openapi::api::batch::v1 as batch;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, ReplicationController, Secret, Service};
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::Value as J;

use crate::cx::Cx;
use crate::diag::Severity;
use crate::kinds::WorkloadKind;
use crate::path::FieldPath;
use crate::yaml::{Node, Value};

/// Which API type an object is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Pod,
    ConfigMap,
    Secret,
    ServiceAccount,
    Service,
    EndpointSlice,
    Endpoints,
    Workload(WorkloadKind),
}

fn root_schema<T: JsonSchema>() -> J {
    SchemaGenerator::default()
        .into_root_schema_for::<T>()
        .to_value()
}

fn schema_of(kind: Kind) -> &'static J {
    static POD: OnceLock<J> = OnceLock::new();
    static CONFIG_MAP: OnceLock<J> = OnceLock::new();
    static SECRET: OnceLock<J> = OnceLock::new();
    static SERVICE_ACCOUNT: OnceLock<J> = OnceLock::new();
    static SERVICE: OnceLock<J> = OnceLock::new();
    static ENDPOINT_SLICE: OnceLock<J> = OnceLock::new();
    static ENDPOINTS: OnceLock<J> = OnceLock::new();
    static WORKLOADS: [OnceLock<J>; 7] = [const { OnceLock::new() }; 7];
    match kind {
        Kind::Pod => POD.get_or_init(root_schema::<Pod>),
        Kind::ConfigMap => CONFIG_MAP.get_or_init(root_schema::<ConfigMap>),
        Kind::Secret => SECRET.get_or_init(root_schema::<Secret>),
        Kind::ServiceAccount => {
            SERVICE_ACCOUNT.get_or_init(root_schema::<k8s_openapi::api::core::v1::ServiceAccount>)
        }
        Kind::Service => SERVICE.get_or_init(root_schema::<Service>),
        Kind::EndpointSlice => ENDPOINT_SLICE
            .get_or_init(root_schema::<k8s_openapi::api::discovery::v1::EndpointSlice>),
        Kind::Endpoints => {
            ENDPOINTS.get_or_init(root_schema::<k8s_openapi::api::core::v1::Endpoints>)
        }
        Kind::Workload(w) => WORKLOADS[w as usize].get_or_init(|| match w {
            WorkloadKind::Deployment => root_schema::<apps::Deployment>(),
            WorkloadKind::ReplicaSet => root_schema::<apps::ReplicaSet>(),
            WorkloadKind::StatefulSet => root_schema::<apps::StatefulSet>(),
            WorkloadKind::DaemonSet => root_schema::<apps::DaemonSet>(),
            WorkloadKind::Job => root_schema::<batch::Job>(),
            WorkloadKind::CronJob => root_schema::<batch::CronJob>(),
            WorkloadKind::ReplicationController => root_schema::<ReplicationController>(),
        }),
    }
}

/// Outcome of the structural check of one object.
pub(crate) struct Checked {
    /// Values of the wrong type (already reported): blanked out before deserialisation so the
    /// rest of the object can still be checked.
    pub bad_values: Vec<FieldPath>,
}

/// Walks the object against its schema, reporting through `cx` and marking reported paths (and
/// the suggested spelling of a typo) as suppressed for later checks.
pub(crate) fn check(cx: &mut Cx<'_>, kind: Kind) -> Checked {
    let root = schema_of(kind);
    let mut walker = Walker {
        root,
        bad_values: Vec::new(),
    };
    let node = cx.root;
    walker.walk(cx, root, None, node, &FieldPath::root());
    Checked {
        bad_values: walker.bad_values,
    }
}

struct Walker<'s> {
    root: &'s J,
    bad_values: Vec<FieldPath>,
}

impl<'s> Walker<'s> {
    /// Follows `$ref`s; returns the schema and the name of the last referenced definition.
    fn resolve(&self, mut schema: &'s J, mut name: Option<&'s str>) -> (&'s J, Option<&'s str>) {
        for _ in 0..32 {
            let Some(r) = schema.get("$ref").and_then(J::as_str) else {
                break;
            };
            let Some(target) = r.strip_prefix('#').and_then(|p| self.root.pointer(p)) else {
                break;
            };
            name = r.rsplit('/').next();
            schema = target;
        }
        (schema, name)
    }

    fn walk(
        &mut self,
        cx: &mut Cx<'_>,
        schema: &'s J,
        name: Option<&'s str>,
        node: &Node,
        path: &FieldPath,
    ) {
        let (schema, name) = self.resolve(schema, name);
        if node.is_null() {
            return;
        }
        if schema
            .get("x-kubernetes-int-or-string")
            .and_then(J::as_bool)
            .unwrap_or(false)
        {
            let quantity = name.is_some_and(|n| n.ends_with(".Quantity"));
            let ok = match node.value {
                Value::Int(_) | Value::Str(_) => true,
                Value::Float(_) => quantity,
                _ => false,
            };
            if !ok {
                let expected = if quantity {
                    "a quantity (e.g. 500m, 1Gi)"
                } else {
                    "an integer or a string"
                };
                self.type_error(cx, path, node, expected, None);
            }
            return;
        }
        match schema.get("type").and_then(J::as_str) {
            Some("object") => self.object(cx, schema, node, path),
            Some("array") => match &node.value {
                Value::Seq(items) => {
                    if let Some(item_schema) = schema.get("items") {
                        for (i, item) in items.iter().enumerate() {
                            self.walk(cx, item_schema, None, item, &path.index(i));
                        }
                    }
                }
                _ => self.type_error(cx, path, node, "a list", None),
            },
            Some("string") => match &node.value {
                Value::Str(s) => {
                    if schema.get("format").and_then(J::as_str) == Some("byte")
                        && base64::engine::general_purpose::STANDARD.decode(s).is_err()
                    {
                        self.bad_values.push(path.clone());
                        cx.push_at(
                            Severity::Error,
                            path,
                            node.pos,
                            "invalid base64 value: Secret data must be base64-encoded".into(),
                            Some(
                                "encode it (e.g. `printf %s 'value' | base64`) or put the plain \
                                 text under stringData instead of data"
                                    .into(),
                            ),
                        );
                        cx.suppressed.push(path.clone());
                    }
                }
                Value::Int(_) | Value::Float(_) | Value::Bool(_) => {
                    let plain = node.plain.clone().unwrap_or_default();
                    let hint = if matches!(node.value, Value::Bool(_)) {
                        format!("YAML reads a plain {plain} as a boolean; quote it: \"{plain}\"")
                    } else {
                        format!("quote it: \"{plain}\"")
                    };
                    self.type_error(cx, path, node, "a string", Some(hint));
                }
                _ => self.type_error(cx, path, node, "a string", None),
            },
            Some("integer") => {
                let format = schema.get("format").and_then(J::as_str);
                match &node.value {
                    Value::Int(i) => {
                        let (lo, hi, what) = if format == Some("int32") {
                            (
                                i128::from(i32::MIN),
                                i128::from(i32::MAX),
                                "a 32-bit integer",
                            )
                        } else {
                            (
                                i128::from(i64::MIN),
                                i128::from(i64::MAX),
                                "a 64-bit integer",
                            )
                        };
                        if *i < lo || *i > hi {
                            self.type_error(cx, path, node, what, None);
                        }
                    }
                    Value::Str(s) => {
                        let hint = s
                            .trim()
                            .parse::<i64>()
                            .ok()
                            .map(|v| format!("remove the quotes: {v}"));
                        self.type_error(cx, path, node, "an integer", hint);
                    }
                    _ => self.type_error(cx, path, node, "an integer", None),
                }
            }
            Some("number") if !matches!(node.value, Value::Int(_) | Value::Float(_)) => {
                self.type_error(cx, path, node, "a number", None);
            }
            Some("boolean") => match &node.value {
                Value::Bool(_) => {}
                Value::Str(s) if s == "true" || s == "false" => {
                    let hint = format!("remove the quotes: {s}");
                    self.type_error(cx, path, node, "a boolean", Some(hint));
                }
                _ => self.type_error(cx, path, node, "a boolean (true or false)", None),
            },
            _ => {}
        }
    }

    fn object(&mut self, cx: &mut Cx<'_>, schema: &'s J, node: &Node, path: &FieldPath) {
        let Value::Map(entries) = &node.value else {
            self.type_error(cx, path, node, "a mapping", None);
            return;
        };
        let props = schema.get("properties").and_then(J::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        if props.is_none() && additional.is_none() {
            // Free-form (e.g. RawExtension): anything goes.
            return;
        }
        for entry in entries {
            match (props.and_then(|p| p.get(&entry.key)), additional) {
                (Some(sub), _) => {
                    self.walk(cx, sub, None, &entry.value, &path.field(&entry.key));
                }
                (None, Some(add)) => {
                    self.walk(cx, add, None, &entry.value, &path.key(&entry.key));
                }
                (None, None) => {
                    let known: Vec<&str> = props
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    self.unknown(cx, path, &entry.key, entry.key_pos, &known);
                }
            }
        }
        // Required fields (the root's `metadata` is checked with a better message later).
        if path.is_root() {
            return;
        }
        if let Some(required) = schema.get("required").and_then(J::as_array) {
            for req in required.iter().filter_map(J::as_str) {
                let present = entries.iter().any(|e| e.key == req && !e.value.is_null());
                if !present {
                    let field = path.field(req);
                    if cx.suppressed.iter().any(|s| field.starts_with(s)) {
                        continue;
                    }
                    let pos = cx.root.locate(path);
                    cx.push_at(
                        Severity::Error,
                        &field,
                        pos,
                        format!("missing required field \"{req}\""),
                        None,
                    );
                    cx.suppressed.push(field);
                }
            }
        }
    }

    fn unknown(
        &mut self,
        cx: &mut Cx<'_>,
        path: &FieldPath,
        key: &str,
        key_pos: crate::yaml::Pos,
        known: &[&str],
    ) {
        let field = path.field(key);
        let at = if path.is_root() {
            String::new()
        } else {
            format!(" at {path}")
        };
        let suggestion = did_you_mean(key, known);
        let (message, hint) = match &suggestion {
            Some(s) => (
                format!(
                    "unknown field \"{key}\" in {}{at}, did you mean \"{s}\"?",
                    cx.object
                ),
                None,
            ),
            None => {
                let mut names: Vec<&str> = known.to_vec();
                names.sort_unstable();
                (
                    format!("unknown field \"{key}\" in {}{at}", cx.object),
                    Some(format!("known fields here: {}", names.join(", "))),
                )
            }
        };
        match cx.unknown_fields {
            crate::UnknownFields::Refuse => {
                cx.push_at(Severity::Error, &field, key_pos, message, hint);
                cx.suppressed.push(field);
            }
            crate::UnknownFields::Warn => {
                cx.push_at(Severity::Warning, &field, key_pos, message, hint)
            }
            crate::UnknownFields::Ignore => {}
        }
        if let Some(s) = suggestion {
            // The intended field is "missing" only because of the typo: say it once.
            cx.suppressed.push(path.field(s));
        }
    }

    fn type_error(
        &mut self,
        cx: &mut Cx<'_>,
        path: &FieldPath,
        node: &Node,
        expected: &str,
        hint: Option<String>,
    ) {
        self.bad_values.push(path.clone());
        let pos = cx.root.locate(path);
        cx.push_at(
            Severity::Error,
            path,
            pos,
            format!("expected {expected}, found {}", node.describe()),
            hint,
        );
        cx.suppressed.push(path.clone());
    }
}

/// Replaces the value at `path` with null (absent).
pub(crate) fn blank(json: &mut J, path: &FieldPath) {
    use crate::path::Seg;
    let Some((last, parents)) = path.segs().split_last() else {
        *json = J::Null;
        return;
    };
    let mut cur = json;
    for seg in parents {
        let next = match (seg, cur) {
            (Seg::Field(k) | Seg::Key(k), J::Object(m)) => m.get_mut(k),
            (Seg::Index(i), J::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (last, cur) {
        (Seg::Field(k) | Seg::Key(k), J::Object(m)) => {
            m.remove(k);
        }
        (Seg::Index(i), J::Array(a)) => {
            if let Some(slot) = a.get_mut(*i) {
                *slot = J::Null;
            }
        }
        _ => {}
    }
}

/// The closest known name, if close enough to be a plausible typo.
pub(crate) fn did_you_mean<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = key.to_ascii_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for k in known {
        let d = strsim::damerau_levenshtein(&lower, &k.to_ascii_lowercase());
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    let (d, k) = best?;
    let limit = (key.chars().count().max(k.chars().count()) / 3).max(1);
    (d <= limit).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        let known = ["containers", "initContainers", "volumes", "restartPolicy"];
        assert_eq!(did_you_mean("contianers", &known), Some("containers"));
        assert_eq!(did_you_mean("Volumes", &known), Some("volumes"));
        assert_eq!(did_you_mean("restartpolicy", &known), Some("restartPolicy"));
        assert_eq!(did_you_mean("foo", &known), None);
    }

    #[test]
    fn schemas_resolve_to_objects_with_properties() {
        let pod = schema_of(Kind::Pod);
        let w = Walker {
            root: pod,
            bad_values: Vec::new(),
        };
        let (spec, _) = w.resolve(&pod["properties"]["spec"], None);
        assert!(spec["properties"].get("containers").is_some());
    }
}
