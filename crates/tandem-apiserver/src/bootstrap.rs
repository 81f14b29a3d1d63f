//! The roles and bindings every cluster has from its start (the API server's bootstrap policy,
//! `plugin/pkg/auth/authorizer/rbac/bootstrappolicy`): `cluster-admin` for `system:masters`,
//! discovery and self-review for every authenticated user, and the user-facing `admin`, `edit`
//! and `view`, aggregated from the `system:aggregate-to-*` roles as on a cluster (so a role a
//! chart labels `aggregate-to-view` extends `view` here too).
//!
//! Owns that data. Never evaluates it ([`crate::rbac`] does).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::rbac::Policy;

/// The built-in policy, made once.
pub(crate) fn policy() -> &'static Policy {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    POLICY.get_or_init(make)
}

/// The labels by which `admin`, `edit` and `view` pick the roles they aggregate.
const TO_ADMIN: &str = "rbac.authorization.k8s.io/aggregate-to-admin";
const TO_EDIT: &str = "rbac.authorization.k8s.io/aggregate-to-edit";
const TO_VIEW: &str = "rbac.authorization.k8s.io/aggregate-to-view";

/// The bootstrap policy's verb sets (`Read`, `Write`).
const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

fn make() -> Policy {
    let authenticated = [("Group", "system:authenticated")];
    Policy {
        cluster_roles: vec![
            role(
                "cluster-admin",
                &[],
                vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
            ),
            role(
                "system:discovery",
                &[],
                vec![urls(
                    &["get"],
                    &[
                        "/api",
                        "/api/*",
                        "/apis",
                        "/apis/*",
                        "/healthz",
                        "/livez",
                        "/openapi",
                        "/openapi/*",
                        "/readyz",
                        "/version",
                        "/version/",
                    ],
                )],
            ),
            role(
                "system:basic-user",
                &[],
                vec![
                    rule(
                        &["create"],
                        &["authorization.k8s.io"],
                        &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    ),
                    rule(
                        &["create"],
                        &["authentication.k8s.io"],
                        &["selfsubjectreviews"],
                    ),
                ],
            ),
            // What a component that authenticates and authorizes its own callers through this
            // server needs (kube-rbac-proxy, metrics servers): bound to its account by a chart.
            role(
                "system:auth-delegator",
                &[],
                vec![
                    rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
                    rule(
                        &["create"],
                        &["authorization.k8s.io"],
                        &["subjectaccessreviews"],
                    ),
                ],
            ),
            role(
                "system:public-info-viewer",
                &[],
                vec![urls(
                    &["get"],
                    &["/healthz", "/livez", "/readyz", "/version", "/version/"],
                )],
            ),
            aggregated("admin", &[], TO_ADMIN),
            aggregated("edit", &[(TO_ADMIN, "true")], TO_EDIT),
            aggregated("view", &[(TO_EDIT, "true")], TO_VIEW),
            role(
                "system:aggregate-to-admin",
                &[(TO_ADMIN, "true")],
                aggregate_to_admin(),
            ),
            role(
                "system:aggregate-to-edit",
                &[(TO_EDIT, "true")],
                aggregate_to_edit(),
            ),
            role(
                "system:aggregate-to-view",
                &[(TO_VIEW, "true")],
                aggregate_to_view(),
            ),
        ],
        cluster_role_bindings: vec![
            binding("cluster-admin", &[("Group", "system:masters")]),
            binding("system:discovery", &authenticated),
            binding("system:basic-user", &authenticated),
            binding(
                "system:public-info-viewer",
                &[
                    ("Group", "system:authenticated"),
                    ("Group", "system:unauthenticated"),
                ],
            ),
        ],
        ..Policy::default()
    }
}

/// `system:aggregate-to-admin`: what `admin` adds to `edit` (policy.go, Kubernetes 1.32–1.33).
fn aggregate_to_admin() -> Vec<PolicyRule> {
    vec![
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
        ),
        rule(
            &read_write(),
            &["rbac.authorization.k8s.io"],
            &["rolebindings", "roles"],
        ),
    ]
}

/// `system:aggregate-to-edit`: what `edit` adds to `view`.
fn aggregate_to_edit() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(
            WRITE,
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/exec",
                "pods/portforward",
                "pods/proxy",
            ],
        ),
        rule(&["create"], &[""], &["pods/eviction"]),
        rule(
            WRITE,
            &[""],
            &[
                "configmaps",
                "events",
                "persistentvolumeclaims",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "secrets",
                "serviceaccounts",
                "services",
                "services/proxy",
            ],
        ),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(
            WRITE,
            &["apps"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "replicasets",
                "replicasets/scale",
                "statefulsets",
                "statefulsets/scale",
            ],
        ),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["cronjobs", "jobs"]),
        rule(
            WRITE,
            &["extensions"],
            &[
                "daemonsets",
                "deployments",
                "deployments/rollback",
                "deployments/scale",
                "ingresses",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicationcontrollers/scale",
            ],
        ),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(
            WRITE,
            &["networking.k8s.io"],
            &["ingresses", "networkpolicies"],
        ),
        rule(&read_write(), &["coordination.k8s.io"], &["leases"]),
    ]
}

/// `system:aggregate-to-view`: reading what an application is made of, Secrets excepted.
fn aggregate_to_view() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "configmaps",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
            ],
        ),
        rule(
            READ,
            &[""],
            &[
                "bindings",
                "events",
                "limitranges",
                "namespaces/status",
                "pods/log",
                "pods/status",
                "replicationcontrollers/status",
                "resourcequotas",
                "resourcequotas/status",
            ],
        ),
        rule(READ, &[""], &["namespaces"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "statefulsets",
                "statefulsets/scale",
                "statefulsets/status",
            ],
        ),
        rule(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &["batch"],
            &["cronjobs", "cronjobs/status", "jobs", "jobs/status"],
        ),
        rule(
            READ,
            &["extensions"],
            &[
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/scale",
                "deployments/status",
                "ingresses",
                "ingresses/status",
                "networkpolicies",
                "replicasets",
                "replicasets/scale",
                "replicasets/status",
                "replicationcontrollers/scale",
            ],
        ),
        rule(
            READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        rule(
            READ,
            &["networking.k8s.io"],
            &["ingresses", "ingresses/status", "networkpolicies"],
        ),
    ]
}

fn read_write() -> Vec<&'static str> {
    READ.iter().chain(WRITE).copied().collect()
}

fn strings(s: &[&str]) -> Vec<String> {
    s.iter().map(|v| v.to_string()).collect()
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: strings(verbs),
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        ..PolicyRule::default()
    }
}

fn urls(verbs: &[&str], paths: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: strings(verbs),
        non_resource_urls: Some(strings(paths)),
        ..PolicyRule::default()
    }
}

fn meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
    let mut all: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.insert("kubernetes.io/bootstrapping".into(), "rbac-defaults".into());
    ObjectMeta {
        name: Some(name.into()),
        labels: Some(all),
        annotations: Some(BTreeMap::from([(
            "rbac.authorization.kubernetes.io/autoupdate".to_string(),
            "true".to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

fn role(name: &str, labels: &[(&str, &str)], rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, labels),
        rules: Some(rules),
        ..ClusterRole::default()
    }
}

/// A ClusterRole whose rules are those of the ClusterRoles labelled `picks: "true"`.
fn aggregated(name: &str, labels: &[(&str, &str)], picks: &str) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, labels),
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(BTreeMap::from([(picks.to_string(), "true".to_string())])),
                ..LabelSelector::default()
            }]),
        }),
        rules: None,
    }
}

/// A ClusterRoleBinding of the ClusterRole of the same name.
fn binding(name: &str, subjects: &[(&str, &str)]) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, &[]),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: name.into(),
        },
        subjects: Some(
            subjects
                .iter()
                .map(|(kind, name)| Subject {
                    kind: kind.to_string(),
                    name: name.to_string(),
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    namespace: None,
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::{authorize, Attributes, Decision, User};
    use serde_json::json;

    fn can(p: &Policy, groups: &[&str], verb: &str, group: &str, resource: &str) -> bool {
        let user = User {
            name: "u".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
        let attrs = Attributes::Resource {
            verb: verb.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            namespace: "ns".into(),
            name: String::new(),
        };
        matches!(authorize(p, &user, &attrs), Decision::Allowed(_))
    }

    /// `view` reads an app but not its Secrets, `edit` changes it and reads Secrets, `admin`
    /// also grants roles; each holds the one below it through aggregation; `system:masters`
    /// may do anything, and every authenticated user may read discovery.
    #[test]
    fn the_built_in_roles_grant_what_a_clusters_do() {
        let bind = |group: &str, role: &str| {
            json!({"metadata": {"name": group}, "subjects": [{"kind": "Group", "name": group}],
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}})
        };
        let p = policy().clone().with_objects(
            &[],
            &[],
            &[],
            &[
                bind("viewers", "view"),
                bind("editors", "edit"),
                bind("admins", "admin"),
            ],
        );
        assert!(can(&p, &["viewers"], "list", "apps", "deployments"));
        assert!(can(&p, &["viewers"], "get", "", "pods/log"));
        assert!(!can(&p, &["viewers"], "get", "", "secrets"));
        assert!(!can(&p, &["viewers"], "create", "", "pods/exec"));
        assert!(can(&p, &["editors"], "get", "", "secrets"));
        assert!(can(&p, &["editors"], "patch", "apps", "deployments/scale"));
        assert!(can(&p, &["editors"], "create", "", "pods/exec"));
        assert!(can(&p, &["editors"], "list", "batch", "jobs"));
        assert!(!can(
            &p,
            &["editors"],
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings"
        ));
        assert!(can(
            &p,
            &["admins"],
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings"
        ));
        assert!(can(&p, &["admins"], "delete", "", "configmaps"));
        assert!(can(
            &p,
            &["system:masters"],
            "escalate",
            "anything.example.com",
            "widgets"
        ));
        assert!(!can(&p, &["system:authenticated"], "list", "", "pods"));
        let discovery = Attributes::NonResource {
            verb: "get".into(),
            path: "/apis/apps/v1".into(),
        };
        let anyone = User {
            name: "u".into(),
            groups: vec!["system:authenticated".into()],
        };
        assert!(matches!(
            authorize(&p, &anyone, &discovery),
            Decision::Allowed(_)
        ));
    }
}
