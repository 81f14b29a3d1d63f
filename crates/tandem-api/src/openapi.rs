//! The OpenAPI v3 schemas of the kinds the API endpoint serves (`components.schemas` of
//! `/openapi/v3/…`), generated from the k8s-openapi types, whose schemas carry the API's own
//! field descriptions: what `kubectl explain` walks.

use k8s_openapi::api::{
    apps, authentication, authorization, autoscaling, batch, core, discovery, networking, policy,
    rbac, scheduling, storage,
};
use k8s_openapi::Resource;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// Adds the schema of the kind `(group, version, kind)` to `generator`, when one of the served
/// types is that kind; returns its schema name.
fn add(generator: &mut SchemaGenerator, group: &str, version: &str, kind: &str) -> Option<String> {
    fn of<T: JsonSchema + Resource>(
        g: &mut SchemaGenerator,
        gvk: (&str, &str, &str),
    ) -> Option<String> {
        (gvk == (T::GROUP, T::VERSION, T::KIND)).then(|| {
            g.subschema_for::<T>();
            T::schema_name().into_owned()
        })
    }
    type Adder = fn(&mut SchemaGenerator, (&str, &str, &str)) -> Option<String>;
    const SERVED: &[Adder] = &[
        of::<core::v1::Namespace>,
        of::<core::v1::Node>,
        of::<core::v1::Pod>,
        of::<core::v1::Event>,
        of::<core::v1::Service>,
        of::<core::v1::Endpoints>,
        of::<core::v1::ConfigMap>,
        of::<core::v1::Secret>,
        of::<core::v1::ServiceAccount>,
        of::<core::v1::PersistentVolumeClaim>,
        of::<core::v1::PersistentVolume>,
        of::<core::v1::LimitRange>,
        of::<core::v1::ResourceQuota>,
        of::<core::v1::PodTemplate>,
        of::<core::v1::ReplicationController>,
        of::<discovery::v1::EndpointSlice>,
        of::<apps::v1::Deployment>,
        of::<apps::v1::ReplicaSet>,
        of::<apps::v1::StatefulSet>,
        of::<apps::v1::DaemonSet>,
        of::<batch::v1::Job>,
        of::<batch::v1::CronJob>,
        of::<authorization::v1::SelfSubjectAccessReview>,
        of::<authorization::v1::SelfSubjectRulesReview>,
        of::<authentication::v1::SelfSubjectReview>,
        of::<rbac::v1::Role>,
        of::<rbac::v1::RoleBinding>,
        of::<rbac::v1::ClusterRole>,
        of::<rbac::v1::ClusterRoleBinding>,
        of::<networking::v1::NetworkPolicy>,
        of::<networking::v1::Ingress>,
        of::<networking::v1::IngressClass>,
        of::<autoscaling::v2::HorizontalPodAutoscaler>,
        of::<policy::v1::PodDisruptionBudget>,
        of::<scheduling::v1::PriorityClass>,
        of::<storage::v1::StorageClass>,
    ];
    SERVED
        .iter()
        .find_map(|adder| adder(generator, (group, version, kind)))
}

/// `components.schemas` for the kinds of one group version: each kind's schema, marked with its
/// `x-kubernetes-group-version-kind` as the API server marks it, and every schema they refer to
/// (`$ref: #/components/schemas/io.k8s.api.core.v1.PodSpec`). Kinds without a k8s-openapi type
/// (metrics) are left out.
pub fn components(group: &str, version: &str, kinds: &[&str]) -> Map<String, Value> {
    let mut generator = SchemaSettings::openapi3().into_generator();
    let named: Vec<(String, &str)> = kinds
        .iter()
        .filter_map(|k| add(&mut generator, group, version, k).map(|name| (name, *k)))
        .collect();
    let mut schemas = generator.take_definitions(true);
    for (name, kind) in named {
        if let Some(Value::Object(schema)) = schemas.get_mut(&name) {
            // k8s-openapi requires `metadata` (its field is not optional); the API's schema
            // does not, and `kubectl explain` would print it as required.
            if let Some(Value::Array(required)) = schema.get_mut("required") {
                required.retain(|r| r != "metadata");
                if required.is_empty() {
                    schema.remove("required");
                }
            }
            schema.insert(
                "x-kubernetes-group-version-kind".into(),
                json!([{"group": group, "kind": kind, "version": version}]),
            );
        }
    }
    schemas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kinds_schema_is_marked_and_its_fields_resolve() {
        let schemas = components("", "v1", &["Pod", "NoSuchKind"]);
        let pod = &schemas["io.k8s.api.core.v1.Pod"];
        assert_eq!(
            pod["x-kubernetes-group-version-kind"],
            json!([{"group": "", "kind": "Pod", "version": "v1"}])
        );
        // A field that is another type: its description beside a reference to it.
        let spec = &pod["properties"]["spec"];
        assert_eq!(
            spec["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.core.v1.PodSpec"
        );
        assert!(spec["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(pod.get("required").is_none(), "{pod}");
        let container = &schemas["io.k8s.api.core.v1.Container"];
        assert!(container["properties"]["restartPolicy"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("Always")));
        assert!(
            components("apps", "v1", &["Deployment"]).contains_key("io.k8s.api.apps.v1.Deployment")
        );
    }
}
