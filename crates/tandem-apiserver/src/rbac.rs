//! Authorization by RBAC, decided as the API server's RBAC authorizer decides it
//! (`plugin/pkg/auth/authorizer/rbac` and the rule helpers of `pkg/apis/rbac/v1`): a request is
//! allowed when a binding that applies to its user grants a rule that covers it, and denied
//! otherwise (there is no deny rule). Bindings are ClusterRoleBindings (their ClusterRole over
//! every namespace) and the RoleBindings of the request's namespace (a Role of that namespace or
//! a ClusterRole, there only). A ClusterRole with an `aggregationRule` holds the rules of the
//! ClusterRoles its selectors pick, as the aggregation controller writes them. A cluster's
//! built-in roles and bindings are in [`crate::bootstrap`].
//!
//! Owns the decision and the words of a refusal. Never reads the store or a request: the caller
//! gives the objects and the request's attributes.

use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use serde_json::Value;

/// Who is asking: a user's name and groups, as authentication made them (an impersonated user
/// included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// The prefix of a service account's user name: `system:serviceaccount:NS:NAME`.
pub use tandem_tokens::SERVICE_ACCOUNT_PREFIX;

impl User {
    /// The user a service account's token authenticates as, with the groups every service
    /// account has (`serviceaccount.UserInfo`), and `system:authenticated`.
    pub fn service_account(namespace: &str, name: &str) -> User {
        User {
            name: format!("{SERVICE_ACCOUNT_PREFIX}{namespace}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{namespace}"),
                "system:authenticated".into(),
            ],
        }
    }

    fn as_service_account(&self) -> Option<(&str, &str)> {
        service_account_of(&self.name)
    }
}

/// `(namespace, name)` when a user name is a service account's.
pub fn service_account_of(user_name: &str) -> Option<(&str, &str)> {
    user_name
        .strip_prefix(SERVICE_ACCOUNT_PREFIX)?
        .split_once(':')
        .filter(|(ns, name)| !ns.is_empty() && !name.is_empty() && !name.contains(':'))
}

/// What a request does, as the authorizer sees it (`authorizer.Attributes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attributes {
    /// A request for an API object or collection.
    Resource {
        verb: String,
        api_group: String,
        resource: String,
        subresource: String,
        /// Empty at the cluster scope.
        namespace: String,
        /// Empty for a collection.
        name: String,
    },
    /// Any other path (`/version`, `/apis`, `/healthz`).
    NonResource { verb: String, path: String },
}

impl Attributes {
    fn verb(&self) -> &str {
        match self {
            Attributes::Resource { verb, .. } | Attributes::NonResource { verb, .. } => verb,
        }
    }
}

/// The RBAC objects to decide by: the store's and the built-in ones.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub roles: Vec<Role>,
    pub cluster_roles: Vec<ClusterRole>,
    pub role_bindings: Vec<RoleBinding>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
}

impl Policy {
    /// This policy with the objects given as the API serves them (an object that does not read
    /// as its kind is left out, as it grants nothing).
    pub fn with_objects(
        mut self,
        roles: &[Value],
        cluster_roles: &[Value],
        role_bindings: &[Value],
        cluster_role_bindings: &[Value],
    ) -> Policy {
        fn read<T: serde::de::DeserializeOwned>(values: &[Value]) -> Vec<T> {
            values
                .iter()
                .filter_map(|v| serde_json::from_value(v.clone()).ok())
                .collect()
        }
        self.roles.extend(read(roles));
        self.cluster_roles.extend(read(cluster_roles));
        self.role_bindings.extend(read(role_bindings));
        self.cluster_role_bindings
            .extend(read(cluster_role_bindings));
        self
    }

    fn cluster_role(&self, name: &str) -> Option<&ClusterRole> {
        self.cluster_roles
            .iter()
            .find(|r| r.metadata.name.as_deref() == Some(name))
    }

    /// A ClusterRole's rules: its own, or with an aggregation rule, those of every ClusterRole
    /// its selectors pick (theirs aggregated in turn).
    fn cluster_role_rules(&self, role: &ClusterRole, seen: &mut Vec<String>) -> Vec<PolicyRule> {
        let name = role.metadata.name.clone().unwrap_or_default();
        if seen.contains(&name) {
            return Vec::new();
        }
        seen.push(name);
        let Some(aggregation) = &role.aggregation_rule else {
            return role.rules.clone().unwrap_or_default();
        };
        let selectors: Vec<tandem_api::labels::Selector> = aggregation
            .cluster_role_selectors
            .iter()
            .flatten()
            .filter_map(|s| tandem_api::workloads::selector_of(s).ok())
            .collect();
        let mut rules = Vec::new();
        for other in &self.cluster_roles {
            let labels = other.metadata.labels.clone().unwrap_or_default();
            // An empty selector picks every ClusterRole, as `LabelSelectorAsSelector` reads it.
            if selectors.iter().any(|s| s.matches(&labels)) {
                rules.extend(self.cluster_role_rules(other, seen));
            }
        }
        rules
    }
}

/// The authorizer's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed, and by what (`RBAC: allowed by ClusterRoleBinding "b" of ClusterRole "r" to
    /// Group "g"`, the reason an access review reports).
    Allowed(String),
    Denied,
}

/// Decides `attrs` for `user` by `policy`.
pub fn authorize(policy: &Policy, user: &User, attrs: &Attributes) -> Decision {
    let namespace = match attrs {
        Attributes::Resource { namespace, .. } => namespace.as_str(),
        Attributes::NonResource { .. } => "",
    };
    let mut allowed = None;
    visit(policy, user, namespace, |rules, granted| {
        if rules.iter().any(|r| rule_allows(r, attrs)) {
            allowed = Some(granted());
        }
        allowed.is_some()
    });
    allowed.map_or(Decision::Denied, Decision::Allowed)
}

/// Every rule the bindings that apply to `user` grant in `namespace` (the cluster-wide ones
/// alone for `""`), as `kubectl auth can-i --list` lists them (`RulesFor`).
pub fn rules_for(policy: &Policy, user: &User, namespace: &str) -> Vec<PolicyRule> {
    let mut all = Vec::new();
    visit(policy, user, namespace, |rules, _| {
        all.extend(rules.iter().cloned());
        false
    });
    all
}

/// Calls `f` with the rules of each binding that applies to `user`, ClusterRoleBindings first,
/// then the RoleBindings of `namespace`, and what granted them (the reason an access review
/// gives), until `f` says it is done (`VisitRulesFor`).
fn visit(
    policy: &Policy,
    user: &User,
    namespace: &str,
    mut f: impl FnMut(&[PolicyRule], &dyn Fn() -> String) -> bool,
) {
    for b in &policy.cluster_role_bindings {
        let Some(subject) = applies(b.subjects.as_deref(), user, "") else {
            continue;
        };
        let Some(role) = policy
            .cluster_role(&b.role_ref.name)
            .filter(|_| b.role_ref.kind == "ClusterRole")
        else {
            continue;
        };
        let granted = || {
            format!(
                "RBAC: allowed by ClusterRoleBinding {:?} of ClusterRole {:?} to {}",
                b.metadata.name.as_deref().unwrap_or_default(),
                b.role_ref.name,
                describe(subject, "")
            )
        };
        if f(&policy.cluster_role_rules(role, &mut Vec::new()), &granted) {
            return;
        }
    }
    if namespace.is_empty() {
        return;
    }
    for b in &policy.role_bindings {
        if b.metadata.namespace.as_deref() != Some(namespace) {
            continue;
        }
        let Some(subject) = applies(b.subjects.as_deref(), user, namespace) else {
            continue;
        };
        let rules = match b.role_ref.kind.as_str() {
            "ClusterRole" => policy
                .cluster_role(&b.role_ref.name)
                .map(|r| policy.cluster_role_rules(r, &mut Vec::new())),
            "Role" => policy
                .roles
                .iter()
                .find(|r| {
                    r.metadata.name.as_deref() == Some(b.role_ref.name.as_str())
                        && r.metadata.namespace.as_deref() == Some(namespace)
                })
                .map(|r| r.rules.clone().unwrap_or_default()),
            _ => None,
        };
        let granted = || {
            format!(
                "RBAC: allowed by RoleBinding {:?} of {} {:?} to {}",
                format!(
                    "{}/{namespace}",
                    b.metadata.name.as_deref().unwrap_or_default()
                ),
                b.role_ref.kind,
                b.role_ref.name,
                describe(subject, namespace)
            )
        };
        if f(&rules.unwrap_or_default(), &granted) {
            return;
        }
    }
}

/// The subject of `subjects` that `user` is, if any (`appliesToUser`). A ServiceAccount subject
/// without a namespace is of the binding's namespace.
fn applies<'s>(
    subjects: Option<&'s [Subject]>,
    user: &User,
    namespace: &str,
) -> Option<&'s Subject> {
    subjects?.iter().find(|s| match s.kind.as_str() {
        "User" => user.name == s.name,
        "Group" => user.groups.contains(&s.name),
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(namespace);
            !ns.is_empty() && user.as_service_account() == Some((ns, s.name.as_str()))
        }
        _ => false,
    })
}

/// A subject as an access review's reason names it (`describeSubject`): a service account as
/// `NAME/NAMESPACE`, its namespace the binding's when it gives none.
fn describe(s: &Subject, binding_namespace: &str) -> String {
    match s.kind.as_str() {
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            format!("ServiceAccount {:?}", format!("{}/{ns}", s.name))
        }
        kind => format!("{kind} {:?}", s.name),
    }
}

/// Whether one rule covers the request (`RuleAllows`).
pub fn rule_allows(rule: &PolicyRule, attrs: &Attributes) -> bool {
    if !has(&rule.verbs, attrs.verb()) {
        return false;
    }
    match attrs {
        Attributes::Resource {
            api_group,
            resource,
            subresource,
            name,
            ..
        } => {
            let groups = rule.api_groups.as_deref().unwrap_or_default();
            let names = rule.resource_names.as_deref().unwrap_or_default();
            has(groups, api_group)
                && resource_matches(
                    rule.resources.as_deref().unwrap_or_default(),
                    resource,
                    subresource,
                )
                && (names.is_empty() || names.iter().any(|n| n == name))
        }
        Attributes::NonResource { path, .. } => rule.non_resource_urls.iter().flatten().any(|u| {
            // Trailing stars make a prefix (`/apis/*` is not `/apis`).
            u == "*" || u == path || (u.ends_with('*') && path.starts_with(u.trim_end_matches('*')))
        }),
    }
}

/// A list that holds `value` or `*`.
fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|v| v == "*" || v == value)
}

/// `ResourceMatches`: `*` is every resource and subresource; `pods` only the collection and
/// its objects, `pods/log` that subresource; `*/scale` that subresource of every resource.
/// There is no `pods/*`: it names only a subresource called `*`.
fn resource_matches(rule: &[String], resource: &str, subresource: &str) -> bool {
    let combined = match subresource {
        "" => resource.to_string(),
        s => format!("{resource}/{s}"),
    };
    rule.iter().any(|r| {
        r == "*"
            || *r == combined
            || (!subresource.is_empty() && r.strip_prefix("*/") == Some(subresource))
    })
}

/// The message of a refusal, in the API server's words (`forbiddenMessage`).
pub fn forbidden_message(user: &User, attrs: &Attributes) -> String {
    match attrs {
        Attributes::NonResource { verb, path } => {
            format!("User {:?} cannot {verb} path {path:?}", user.name)
        }
        Attributes::Resource {
            verb,
            api_group,
            resource,
            subresource,
            namespace,
            ..
        } => {
            let resource = match subresource.as_str() {
                "" => resource.clone(),
                s => format!("{resource}/{s}"),
            };
            match namespace.as_str() {
                "" => format!(
                    "User {:?} cannot {verb} resource {resource:?} in API group {api_group:?} at the cluster scope",
                    user.name
                ),
                ns => format!(
                    "User {:?} cannot {verb} resource {resource:?} in API group {api_group:?} in the namespace {ns:?}",
                    user.name
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(verb: &str, group: &str, resource: &str, sub: &str, ns: &str, name: &str) -> Attributes {
        Attributes::Resource {
            verb: verb.into(),
            api_group: group.into(),
            resource: resource.into(),
            subresource: sub.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn rule(v: Value) -> PolicyRule {
        serde_json::from_value(v).expect("rule")
    }

    /// `RuleAllows` row by row: verbs, groups, resources with subresources, names and paths.
    #[test]
    fn rules_cover_what_the_api_servers_rules_cover() {
        let pods =
            rule(json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}));
        assert!(rule_allows(&pods, &res("get", "", "pods", "", "ns", "p")));
        assert!(!rule_allows(
            &pods,
            &res("delete", "", "pods", "", "ns", "p")
        ));
        assert!(!rule_allows(
            &pods,
            &res("get", "apps", "pods", "", "ns", "p")
        ));
        // `pods` is not its subresources.
        assert!(!rule_allows(
            &pods,
            &res("get", "", "pods", "log", "ns", "p")
        ));
        let log = rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/log"]}));
        assert!(rule_allows(&log, &res("get", "", "pods", "log", "ns", "p")));
        assert!(!rule_allows(&log, &res("get", "", "pods", "", "ns", "p")));
        let any_scale = rule(json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*/scale"]}));
        assert!(rule_allows(
            &any_scale,
            &res("update", "apps", "deployments", "scale", "ns", "d")
        ));
        assert!(!rule_allows(
            &any_scale,
            &res("update", "apps", "deployments", "", "ns", "d")
        ));
        // No `pods/*` wildcard upstream: it is a subresource named `*`.
        let star = rule(json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods/*"]}));
        assert!(!rule_allows(
            &star,
            &res("get", "", "pods", "exec", "ns", "p")
        ));
        assert!(!rule_allows(&star, &res("get", "", "pods", "", "ns", "p")));
        // Names narrow get, not list or create (which have none).
        let named = rule(
            json!({"verbs": ["get", "list", "create"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"]}),
        );
        assert!(rule_allows(
            &named,
            &res("get", "", "configmaps", "", "ns", "app")
        ));
        assert!(!rule_allows(
            &named,
            &res("get", "", "configmaps", "", "ns", "other")
        ));
        assert!(!rule_allows(
            &named,
            &res("list", "", "configmaps", "", "ns", "")
        ));
        assert!(!rule_allows(
            &named,
            &res("create", "", "configmaps", "", "ns", "")
        ));
        let paths = rule(json!({"verbs": ["get"], "nonResourceURLs": ["/healthz", "/apis/*"]}));
        let path = |p: &str| Attributes::NonResource {
            verb: "get".into(),
            path: p.into(),
        };
        assert!(rule_allows(&paths, &path("/healthz")));
        assert!(rule_allows(&paths, &path("/apis/apps/v1")));
        assert!(!rule_allows(&paths, &path("/healthz/ready")));
        assert!(!rule_allows(&paths, &path("/api")));
        // A resource rule never covers a path, nor a path rule a resource.
        assert!(!rule_allows(&pods, &path("/healthz")));
        assert!(!rule_allows(&paths, &res("get", "", "pods", "", "ns", "p")));
    }

    fn policy() -> Policy {
        Policy::default().with_objects(
            &[json!({"metadata": {"name": "cm-reader", "namespace": "app"}, "rules": [{"verbs": ["get", "list", "watch"], "apiGroups": [""], "resources": ["configmaps"]}]})],
            &[
                json!({"metadata": {"name": "pod-reader"}, "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]}),
                json!({"metadata": {"name": "viewer"}, "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate-to-viewer": "true"}}]}}),
                json!({"metadata": {"name": "secret-lister", "labels": {"example.com/aggregate-to-viewer": "true"}}, "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["secrets"]}]}),
            ],
            &[
                json!({"metadata": {"name": "sa-reads-cms", "namespace": "app"}, "subjects": [{"kind": "ServiceAccount", "name": "worker"}], "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cm-reader"}}),
                json!({"metadata": {"name": "devs-read-pods", "namespace": "app"}, "subjects": [{"kind": "Group", "name": "devs"}], "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "pod-reader"}}),
            ],
            &[json!({"metadata": {"name": "ann-views"}, "subjects": [{"kind": "User", "name": "ann"}], "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "viewer"}})],
        )
    }

    #[test]
    fn bindings_grant_their_roles_to_their_subjects_where_they_apply() {
        let p = policy();
        let worker = User::service_account("app", "worker");
        let allowed =
            |u: &User, a: &Attributes| matches!(authorize(&p, u, a), Decision::Allowed(_));
        // A RoleBinding's ServiceAccount without a namespace is of the binding's namespace.
        assert!(allowed(
            &worker,
            &res("list", "", "configmaps", "", "app", "")
        ));
        assert!(!allowed(
            &worker,
            &res("list", "", "configmaps", "", "other", "")
        ));
        assert!(!allowed(
            &worker,
            &res("list", "", "configmaps", "", "", "")
        ));
        assert!(!allowed(
            &User::service_account("other", "worker"),
            &res("list", "", "configmaps", "", "app", "")
        ));
        assert!(!allowed(
            &worker,
            &res("list", "", "secrets", "", "app", "")
        ));
        // A ClusterRole bound by a RoleBinding grants in that namespace only.
        let dev = User {
            name: "bob".into(),
            groups: vec!["devs".into()],
        };
        assert!(allowed(&dev, &res("get", "", "pods", "", "app", "p")));
        assert!(!allowed(&dev, &res("get", "", "pods", "", "default", "p")));
        // An aggregated ClusterRole holds the rules of the roles its selector picks.
        let ann = User {
            name: "ann".into(),
            groups: vec![],
        };
        assert!(allowed(
            &ann,
            &res("list", "", "secrets", "", "default", "")
        ));
        assert!(allowed(&ann, &res("list", "", "secrets", "", "", "")));
        assert!(!allowed(
            &ann,
            &res("get", "", "secrets", "", "default", "s")
        ));
        assert_eq!(
            authorize(&p, &worker, &res("get", "", "configmaps", "", "app", "c")),
            Decision::Allowed("RBAC: allowed by RoleBinding \"sa-reads-cms/app\" of Role \"cm-reader\" to ServiceAccount \"worker/app\"".into())
        );
    }

    #[test]
    fn a_refusal_reads_as_the_api_servers() {
        let u = User::service_account("app", "worker");
        assert_eq!(
            forbidden_message(&u, &res("list", "", "secrets", "", "app", "")),
            "User \"system:serviceaccount:app:worker\" cannot list resource \"secrets\" in API group \"\" in the namespace \"app\""
        );
        assert_eq!(
            forbidden_message(&u, &res("get", "apps", "deployments", "scale", "", "")),
            "User \"system:serviceaccount:app:worker\" cannot get resource \"deployments/scale\" in API group \"apps\" at the cluster scope"
        );
        let path = Attributes::NonResource {
            verb: "get".into(),
            path: "/metrics".into(),
        };
        assert_eq!(
            forbidden_message(&u, &path),
            "User \"system:serviceaccount:app:worker\" cannot get path \"/metrics\""
        );
    }
}
