//! Who a request is and whether it may do what it asks, as the API server's filters decide
//! before any handler runs: the user authentication made (the kubeconfig's holder, in
//! `system:masters`, or a service account by its token), impersonation (`Impersonate-User`, `Impersonate-Group`: kubectl's `--as`,
//! `--as-group`), and the RBAC decision for the request's attributes ([`crate::rbac`]), refused
//! in the API server's words.
//!
//! Never decides a rule itself: [`crate::rbac`] does; this module reads requests and the store's
//! RBAC objects.

use http::{HeaderMap, Method};
use serde_json::Value;

use crate::rbac::{self, Attributes, Decision, Policy, User};
use crate::request::{Query, Route};
use crate::resource::{Resource, StoredKind};
use crate::state::Shared;
use crate::status::ApiError;

/// The kubeconfig's holder (its certificate's subject, or the bearer token kept for root): a
/// cluster's admin.
pub(crate) fn admin() -> User {
    User {
        name: crate::pki::USER.to_string(),
        groups: vec!["system:masters".into(), "system:authenticated".into()],
    }
}

/// The service account a bearer token is of: one this server signed, unexpired, whose
/// service account (and pod, for a token bound to one) still exists as it did when the token
/// was made. The error says why not, for the server's log; the client hears only 401.
pub(crate) fn service_account_user(shared: &Shared, token: Option<&str>) -> Result<User, String> {
    let token = token.ok_or("no client certificate and no bearer token")?;
    let claims = token_claims(shared, token, &[tandem_tokens::ISSUER.to_string()])?;
    Ok(User::service_account(
        &claims.namespace,
        &claims.service_account,
    ))
}

/// The claims of a service-account token good for one of `audiences` now: signed by this
/// server, unexpired, its account (and pod) still there with the uids it names.
pub(crate) fn token_claims(
    shared: &Shared,
    token: &str,
    audiences: &[String],
) -> Result<tandem_tokens::Claims, String> {
    let now = crate::reply::now_us() / 1_000_000;
    let claims = shared
        .token_keys
        .verify_for(token, now, audiences)
        .map_err(|e| format!("a bearer token that is not the server's: {e}"))?;
    let cache = shared.cache();
    let account = cache.get(
        Resource::Stored(StoredKind::ServiceAccount),
        &claims.namespace,
        &claims.service_account,
    );
    let uid = account
        .as_ref()
        .and_then(|a| a["metadata"]["uid"].as_str().map(str::to_string));
    if uid.as_deref() != Some(claims.service_account_uid.as_str()) {
        return Err(format!(
            "the token's service account {}/{} is gone",
            claims.namespace, claims.service_account
        ));
    }
    if let Some((pod, pod_uid)) = &claims.pod {
        let alive = cache
            .get(Resource::Pods, &claims.namespace, pod)
            .is_some_and(|p| {
                p["metadata"]["uid"] == pod_uid.as_str()
                    && p["metadata"]["deletionTimestamp"].is_null()
            });
        if !alive {
            return Err(format!(
                "the token's pod {}/{pod} is gone",
                claims.namespace
            ));
        }
    }
    Ok(claims)
}

/// What the request does, as the authorizer sees it (the API server's `RequestInfo`): the verb
/// from the method (`get` or `list`, `watch` with `?watch`, `create`, `update`, `patch`,
/// `delete` or `deletecollection`), the resource, subresource, namespace and name; or a path.
pub(crate) fn attributes(method: &Method, path: &str, route: &Route, query: &Query) -> Attributes {
    let Route::Object(t) = route else {
        return Attributes::NonResource {
            verb: method.as_str().to_ascii_lowercase(),
            path: path.to_string(),
        };
    };
    let watch = query.get("watch").is_some_and(|w| w == "true" || w == "1");
    let verb = match *method {
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD if t.name.is_none() => "list",
        Method::GET | Method::HEAD => "get",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if t.name.is_none() => "deletecollection",
        Method::DELETE => "delete",
        _ => "",
    };
    Attributes::Resource {
        verb: verb.to_string(),
        api_group: t.resource.group().to_string(),
        resource: t.resource.plural().to_string(),
        subresource: t
            .subresource
            .map(|s| s.name().to_string())
            .unwrap_or_default(),
        namespace: t.namespace.clone().unwrap_or_default(),
        name: t.name.clone().unwrap_or_default(),
    }
}

/// One request's authorizer: the built-in policy first (the kubeconfig's holder needs no
/// more), then with the store's Roles, ClusterRoles and bindings, read once for all the
/// decisions the request needs (its impersonation checks, its own) and only if one does.
pub(crate) struct Authorizer<'s> {
    shared: &'s Shared,
    store: std::cell::OnceCell<Policy>,
}

impl<'s> Authorizer<'s> {
    pub(crate) fn new(shared: &'s Shared) -> Authorizer<'s> {
        Authorizer {
            shared,
            store: std::cell::OnceCell::new(),
        }
    }

    /// The built-in policy with the store's Roles, ClusterRoles and bindings.
    pub(crate) fn policy(&self) -> &Policy {
        self.store.get_or_init(|| {
            let of = |kind: StoredKind| -> Vec<Value> {
                let cache = self.shared.cache();
                cache
                    .list(Resource::Stored(kind), None)
                    .iter()
                    .map(|v| (**v).clone())
                    .collect()
            };
            crate::bootstrap::policy().clone().with_objects(
                &of(StoredKind::Role),
                &of(StoredKind::ClusterRole),
                &of(StoredKind::RoleBinding),
                &of(StoredKind::ClusterRoleBinding),
            )
        })
    }

    /// The RBAC decision for `user`.
    pub(crate) fn decide(&self, user: &User, attrs: &Attributes) -> Decision {
        match rbac::authorize(crate::bootstrap::policy(), user, attrs) {
            allowed @ Decision::Allowed(_) => allowed,
            Decision::Denied => rbac::authorize(self.policy(), user, attrs),
        }
    }

    /// Refuses `attrs` unless `user` may, as the API server refuses it (403 `Forbidden`).
    pub(crate) fn check(&self, user: &User, attrs: &Attributes) -> Result<(), ApiError> {
        if let Decision::Allowed(_) = self.decide(user, attrs) {
            return Ok(());
        }
        let why = rbac::forbidden_message(user, attrs);
        Err(match attrs {
            Attributes::NonResource { .. } => ApiError::forbidden("", "", "", &why),
            Attributes::Resource {
                api_group,
                resource,
                name,
                ..
            } => ApiError::forbidden(api_group, resource, name, &why),
        })
    }
}

/// The user the request acts as: `user`, or whom its `Impersonate-*` headers name, when `user`
/// may impersonate each part (the verb `impersonate` on `users` or `serviceaccounts`, each of
/// `groups`, each `userextras/KEY` value and `uids`), checked in that order. An impersonated
/// service account without groups given has its own; any user but `system:anonymous` is in
/// `system:authenticated`, which is in `system:unauthenticated` (impersonation.go).
pub(crate) fn impersonated(
    authorizer: &Authorizer<'_>,
    headers: &HeaderMap,
    user: User,
) -> Result<User, ApiError> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    };
    let groups = values("Impersonate-Group");
    let uids = values("Impersonate-Uid");
    let extras: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str().strip_prefix("impersonate-extra-")?;
            Some((key.to_string(), v.to_str().ok()?.to_string()))
        })
        .collect();
    let Some(name) = values("Impersonate-User").into_iter().next() else {
        let asked: Vec<&str> = [
            (!groups.is_empty(), "Impersonate-Group"),
            (!extras.is_empty(), "Impersonate-Extra"),
            (!uids.is_empty(), "Impersonate-Uid"),
        ]
        .into_iter()
        .filter_map(|(given, header)| given.then_some(header))
        .collect();
        return match asked.is_empty() {
            true => Ok(user),
            false => Err(ApiError::internal(format!(
                "requested [{}] without impersonating a user",
                asked.join(" ")
            ))),
        };
    };
    // What each impersonate check is about: (API group, resource, subresource, namespace, name).
    let mut checks: Vec<(&str, &str, String, String, String)> = Vec::new();
    let mut as_user = match rbac::service_account_of(&name) {
        Some((ns, sa)) => {
            checks.push(("", "serviceaccounts", String::new(), ns.into(), sa.into()));
            let mut u = User::service_account(ns, sa);
            u.groups.retain(|g| g != "system:authenticated");
            u
        }
        None => {
            checks.push(("", "users", String::new(), String::new(), name.clone()));
            User {
                name: name.clone(),
                groups: Vec::new(),
            }
        }
    };
    if !groups.is_empty() {
        as_user.groups = groups.clone();
    }
    for g in groups {
        checks.push(("", "groups", String::new(), String::new(), g));
    }
    for (key, value) in extras {
        checks.push((
            "authentication.k8s.io",
            "userextras",
            key,
            String::new(),
            value,
        ));
    }
    for uid in uids {
        checks.push((
            "authentication.k8s.io",
            "uids",
            String::new(),
            String::new(),
            uid,
        ));
    }
    let mark = match name.as_str() {
        "system:anonymous" => "system:unauthenticated",
        _ => "system:authenticated",
    };
    let marked = as_user
        .groups
        .iter()
        .any(|g| g == mark || (mark == "system:authenticated" && g == "system:unauthenticated"));
    if !marked {
        as_user.groups.push(mark.into());
    }
    for (api_group, resource, subresource, namespace, target) in checks {
        let attrs = Attributes::Resource {
            verb: "impersonate".into(),
            api_group: api_group.into(),
            resource: resource.into(),
            subresource,
            namespace,
            name: target.clone(),
        };
        if let Decision::Denied = authorizer.decide(&user, &attrs) {
            let why = rbac::forbidden_message(&user, &attrs);
            return Err(ApiError::forbidden(api_group, resource, &target, &why));
        }
    }
    Ok(as_user)
}
