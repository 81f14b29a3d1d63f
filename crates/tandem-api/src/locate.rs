//! Looking things up in manifest text after the fact, for tools that report on objects rather than
//! on the load itself (the linter, the graph): where a field is written, and the Pods as written even
//! when the manifest set does not load.

use k8s_openapi::api::core::v1::Pod;

use crate::diag::Source;
use crate::kinds::WorkloadKind;
use crate::path::FieldPath;
use crate::yaml::{self, Node, Value};

/// A Pod as written in a manifest (no defaults applied), or a workload's pod template as a Pod
/// named after the workload, with where it starts.
#[derive(Debug, Clone)]
pub struct WrittenPod {
    pub object: Pod,
    pub file: String,
    /// Line where the object starts: the same line [`crate::LoadedPod::line`] gives.
    pub line: usize,
    /// `Pod/NAME`, or the workload holding the template (`Deployment/NAME`).
    pub label: String,
    /// Where the pod's fields are inside the object: `""` for a Pod, `spec.template.` for most
    /// workloads (with the dot, so that `base + "spec.containers[0]"` is the whole path).
    pub base: String,
}

/// Every `v1` Pod of the sources (documents and items of Lists) and every workload's pod template
/// that deserialises, in source order, whether or not the whole set would [`crate::load`]. Those
/// that do not deserialise are left out: `load` reports why.
pub fn written_pods(sources: &[Source]) -> Vec<WrittenPod> {
    let mut out = Vec::new();
    for src in sources {
        let (docs, _) = yaml::parse_stream(&src.text);
        for doc in docs {
            collect_pods(&src.name, &doc.root, false, &mut out);
        }
    }
    out
}

fn collect_pods(file: &str, node: &Node, in_pod_list: bool, out: &mut Vec<WrittenPod>) {
    let kind = node.get("kind").and_then(Node::as_str);
    let api_version = node.get("apiVersion").and_then(Node::as_str);
    let is_pod = match (kind, api_version) {
        (Some("Pod"), Some("v1")) => true,
        (None, None) => in_pod_list && matches!(node.value, Value::Map(_)),
        _ => false,
    };
    if is_pod {
        if let Ok(object) = serde_json::from_value::<Pod>(node.to_json()) {
            let name = object.metadata.name.as_deref().unwrap_or("<unnamed>");
            out.push(WrittenPod {
                label: format!("Pod/{name}"),
                object,
                file: file.to_string(),
                line: node.pos.line,
                base: String::new(),
            });
        }
        return;
    }
    let workload = kind
        .and_then(WorkloadKind::from_kind)
        .filter(|w| Some(w.api_version()) == api_version);
    if let Some(w) = workload {
        let template = w.template_path().iter().try_fold(node, |n, f| n.get(f));
        let name = node
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Node::as_str)
            .unwrap_or("<unnamed>");
        if let Some(t) = template {
            let pod = serde_json::json!({
                "metadata": t.get("metadata").map(Node::to_json),
                "spec": t.get("spec").map(Node::to_json),
            });
            if let Ok(mut object) = serde_json::from_value::<Pod>(pod) {
                object.metadata.name = Some(name.to_string());
                out.push(WrittenPod {
                    object,
                    file: file.to_string(),
                    line: node.pos.line,
                    label: format!("{}/{name}", w.name()),
                    base: format!("{}.", w.template_path().join(".")),
                });
            }
        }
        return;
    }
    if matches!(kind, Some("List" | "PodList")) && api_version == Some("v1") {
        if let Some(Value::Seq(items)) = node.get("items").map(|n| &n.value) {
            for item in items {
                collect_pods(file, item, kind == Some("PodList"), out);
            }
        }
    }
}

/// Where `field_path` (`spec.containers[1].ports[0]`, `metadata.annotations[tandem.dev/x]`) of the
/// object starting at `object_line` is written in `text`, as a 1-based `(line, column)`: a scalar's
/// value, or the key of a mapping or list. When the field is absent, the deepest ancestor that is
/// present. `None` when no object starts at that line or the path does not parse.
pub fn locate(text: &str, object_line: usize, field_path: &str) -> Option<(usize, usize)> {
    let path = parse_path(field_path)?;
    let (docs, _) = yaml::parse_stream(text);
    let object = docs.iter().find_map(|d| object_at(&d.root, object_line))?;
    let pos = object.locate(&path);
    Some((pos.line, pos.col))
}

/// The object (a document, or an item of a List) that starts at `line`.
fn object_at(node: &Node, line: usize) -> Option<&Node> {
    if !matches!(node.value, Value::Map(_)) {
        return None;
    }
    if node.pos.line == line {
        return Some(node);
    }
    match node.get("items").map(|n| &n.value) {
        Some(Value::Seq(items)) => items.iter().find_map(|i| object_at(i, line)),
        _ => None,
    }
}

/// Parses the notation [`FieldPath`] displays: `a.b[3].c`, `[key]` for a map key (may contain dots).
fn parse_path(s: &str) -> Option<FieldPath> {
    let mut path = FieldPath::root();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let end = after.find(']')?;
            let inner = &after[..end];
            path = match inner.parse::<usize>() {
                Ok(i) => path.index(i),
                Err(_) => path.key(inner),
            };
            rest = &after[end + 1..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            path = path.field(&rest[..end]);
            rest = &rest[end..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    tandem.dev/x: \"1\"\nspec:\n  containers:\n    - name: a\n      image: busybox\n      ports:\n        - containerPort: 80\n";

    #[test]
    fn paths_round_trip_through_display() {
        for p in [
            "spec.containers[1].ports[0].containerPort",
            "data[app.conf]",
            "a",
        ] {
            assert_eq!(parse_path(p).map(|f| f.to_string()).as_deref(), Some(p));
        }
        assert!(parse_path("a..b").is_none());
        assert!(parse_path("a[1").is_none());
    }

    #[test]
    fn locates_fields_keys_and_absent_fields_in_the_right_document() {
        assert_eq!(
            locate(TEXT, 6, "spec.containers[0].ports[0].containerPort"),
            Some((17, 26))
        );
        assert_eq!(locate(TEXT, 6, "spec.containers[0]"), Some((14, 7)));
        // Absent: the deepest present ancestor (the container's first key).
        assert_eq!(
            locate(TEXT, 6, "spec.containers[0].resources"),
            Some((14, 7))
        );
        assert_eq!(
            locate(TEXT, 6, "metadata.annotations[tandem.dev/x]"),
            Some((11, 19))
        );
        assert_eq!(locate(TEXT, 1, "metadata.name"), Some((4, 9)));
        assert_eq!(locate(TEXT, 2, "metadata"), None);
    }

    #[test]
    fn written_pods_keep_pods_that_do_not_load() {
        // The volume without a name fails `load`; the Pod is still there as written.
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: a\n      image: x\n  volumes:\n    - name: C\n      configMap:\n        name: missing\n---\napiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Pod\n    metadata:\n      name: q\n    spec:\n      containers: [{name: b, image: bb}]\n";
        let sources = [Source::new("m.yaml", text)];
        assert!(crate::load(&sources, &Default::default()).is_err());
        let pods = written_pods(&sources);
        let names: Vec<_> = pods
            .iter()
            .map(|p| (p.object.metadata.name.clone().unwrap_or_default(), p.line))
            .collect();
        assert_eq!(names, vec![("p".to_string(), 1), ("q".to_string(), 17)]);
        assert_eq!(locate(text, 17, "spec.containers[0].image"), Some((22, 37)));
    }
}
