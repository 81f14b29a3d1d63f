//! `labelSelector` and `fieldSelector` applied to objects as JSON: the selector grammars are
//! tandem-api's (apimachinery's), the fields each kind may be selected by are the resource
//! table's.

use serde_json::Value;
use tandem_api::labels::{FieldSelector, Selector};

use crate::resource::Resource;
use crate::status::ApiError;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    labels: Option<Selector>,
    fields: Option<FieldSelector>,
}

impl Selection {
    pub fn parse(
        resource: Resource,
        labels: Option<&str>,
        fields: Option<&str>,
    ) -> Result<Selection, ApiError> {
        let labels = labels
            .filter(|t| !t.trim().is_empty())
            .map(Selector::parse)
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("unable to parse requirement: {e}")))?;
        let fields = fields
            .filter(|t| !t.trim().is_empty())
            .map(|t| FieldSelector::parse(t, resource.selectable_fields()))
            .transpose()
            .map_err(|e| ApiError::bad_request(format!("field label not supported: {e}")))?;
        Ok(Selection { labels, fields })
    }

    pub fn matches(&self, object: &Value) -> bool {
        let labels_match = self.labels.as_ref().is_none_or(|s| {
            let labels = object["metadata"]["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default();
            s.matches(&labels)
        });
        labels_match
            && self
                .fields
                .as_ref()
                .is_none_or(|f| f.matches(|field| field_value(object, field)))
    }
}

/// A field's value as the API server's field label functions give it: text, `true`/`false`,
/// numbers in decimal, absent as empty; an event's `source` is its component.
fn field_value(object: &Value, field: &str) -> String {
    let path = match field {
        "source" => "source.component",
        other => other,
    };
    let mut v = object;
    for part in path.split('.') {
        v = &v[part];
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null if field == "spec.hostNetwork" => "false".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn selectors_pick_by_labels_and_fields() {
        let pod = json!({
            "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeName": "box"},
            "status": {"phase": "Running"},
        });
        let sel = |l: Option<&str>, f: Option<&str>| {
            Selection::parse(Resource::Pods, l, f)
                .expect("selector")
                .matches(&pod)
        };
        assert!(sel(
            Some("app=web"),
            Some("status.phase=Running,spec.nodeName=box")
        ));
        assert!(sel(None, Some("spec.hostNetwork=false")));
        assert!(!sel(Some("app!=web"), None));
        assert!(!sel(None, Some("metadata.name!=web-1")));
        let unknown = Selection::parse(Resource::Pods, None, Some("spec.image=x"))
            .expect_err("unknown field");
        assert_eq!(unknown.reason, crate::status::Reason::BadRequest);
        let event = json!({"involvedObject": {"name": "web-1", "kind": "Pod"}, "source": {"component": "kubelet"}});
        let s = Selection::parse(
            Resource::Events,
            None,
            Some("involvedObject.name=web-1,source=kubelet"),
        )
        .expect("selector");
        assert!(s.matches(&event));
    }
}
