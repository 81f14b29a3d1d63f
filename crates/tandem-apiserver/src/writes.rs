//! Changing objects through the backend: create, patch or replace, delete, a workload's scale, and the
//! access review that answers `kubectl auth can-i`; each answers with the object as the cache
//! holds it after the change.

use std::sync::Arc;

use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};

use tandem_api::UnknownFields;

use crate::backend::WriteOptions;
use crate::patch::PatchType;
use crate::reply::{content_type, json_response, read_body, rfc3339_now, warn, Body};
use crate::request::Query;
use crate::resource::{Resource, Review, Subresource};
use crate::state::{blocking, ledger_key, Shared};
use crate::status::{ApiError, Reason};

/// The `dryRun` parameter: `All` or nothing, as the API server takes it.
pub(crate) fn dry_run(query: &Query) -> Result<bool, ApiError> {
    match query.get("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Unsupported value: {other:?}: supported values: \"All\""
        ))),
    }
}

/// The `dryRun` and `fieldValidation` parameters of a create or an update. An unknown field
/// is a warning when `fieldValidation` is not given, as the API server takes it; kubectl sends
/// Strict.
fn write_options(query: &Query) -> Result<WriteOptions, ApiError> {
    let unknown_fields = match query.get("fieldValidation") {
        None | Some("" | "Warn") => UnknownFields::Warn,
        Some("Strict") => UnknownFields::Refuse,
        Some("Ignore") => UnknownFields::Ignore,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation {other:?} is not one of Ignore, Warn or Strict"
            )))
        }
    };
    Ok(WriteOptions {
        dry_run: dry_run(query)?,
        unknown_fields,
    })
}

/// The field manager of a write: `fieldManager`, else the client's user agent's first word.
fn field_manager(req: &Request<Incoming>, query: &Query) -> String {
    let agent = req
        .headers()
        .get(http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    crate::fields::manager_of(query.get("fieldManager"), agent)
}

/// An object as the backend takes it: without `metadata.managedFields`, which the server keeps.
fn without_managers(object: &Value) -> Value {
    let mut out = object.clone();
    if let Some(meta) = out.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    out
}

/// A question answered and not stored: about the one asking (the kubeconfig's holder, or whom
/// it impersonates with `--as`) — `kubectl auth can-i` decided as the request itself would be,
/// `auth can-i --list` with the rules granted in a namespace, `auth whoami` with the user — or,
/// for whoever may create them, about another user (SubjectAccessReview, in a namespace with
/// LocalSubjectAccessReview) or a bearer token (TokenReview).
pub(crate) async fn review(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    review: Review,
    namespace: Option<&str>,
    user: &crate::rbac::User,
) -> Result<Response<Body>, ApiError> {
    let body = read_body(req).await?;
    let asked = if body.starts_with(b"k8s\0") {
        crate::proto::decode(&body)?
    } else {
        serde_json::from_slice::<Value>(&body)
            .map_err(|e| ApiError::bad_request(format!("the review is not valid JSON: {e}")))?
    };
    let mut spec = asked["spec"].clone();
    let authorizer = crate::access::Authorizer::new(shared);
    let status = match review {
        Review::Access => access_status(&authorizer, &spec, user, review)?,
        Review::SubjectAccess => access_status(&authorizer, &spec, &subject(&spec)?, review)?,
        Review::LocalSubjectAccess => {
            let namespace = namespace.unwrap_or_default();
            let attributes = &mut spec["resourceAttributes"];
            match attributes["namespace"].as_str().unwrap_or_default() {
                "" if attributes.is_object() => attributes["namespace"] = json!(namespace),
                asked if asked != namespace && attributes.is_object() => {
                    return Err(ApiError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {namespace}"
                    )))
                }
                _ => {}
            }
            access_status(&authorizer, &spec, &subject(&spec)?, review)?
        }
        Review::Token => token_status(shared, &spec),
        Review::Rules => {
            let namespace = spec["namespace"].as_str().unwrap_or_default();
            let rules = crate::rbac::rules_for(authorizer.policy(), user, namespace);
            let (paths, resources): (Vec<_>, Vec<_>) = rules
                .into_iter()
                .partition(|r| r.non_resource_urls.as_ref().is_some_and(|u| !u.is_empty()));
            json!({
                "resourceRules": resources.iter().map(|r| json!({
                    "verbs": r.verbs,
                    "apiGroups": r.api_groups.clone().unwrap_or_default(),
                    "resources": r.resources.clone().unwrap_or_default(),
                    "resourceNames": r.resource_names.clone().unwrap_or_default(),
                })).collect::<Vec<_>>(),
                "nonResourceRules": paths.iter().map(|r| json!({
                    "verbs": r.verbs,
                    "nonResourceURLs": r.non_resource_urls.clone().unwrap_or_default(),
                })).collect::<Vec<_>>(),
                "incomplete": false,
            })
        }
        Review::Identity => json!({"userInfo": {"username": user.name, "groups": user.groups}}),
    };
    let r = Resource::Review(review);
    let answer = json!({
        "kind": r.kind(),
        "apiVersion": r.api_version(),
        "metadata": {"creationTimestamp": null},
        "spec": spec,
        "status": status,
    });
    Ok(json_response(201, &answer))
}

/// The user a SubjectAccessReview asks about: its `user` and `groups`, as given (nothing is
/// added: the review is about exactly that user).
fn subject(spec: &Value) -> Result<crate::rbac::User, ApiError> {
    let name = spec["user"].as_str().unwrap_or_default().to_string();
    let groups: Vec<String> = spec["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if name.is_empty() && groups.is_empty() {
        return Err(ApiError::invalid(
            "authorization.k8s.io",
            "SubjectAccessReview",
            "",
            vec![crate::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: "Invalid value: \"\": at least one of user or group must be specified"
                    .into(),
                field: "spec.user".into(),
            }],
        ));
    }
    Ok(crate::rbac::User { name, groups })
}

/// A TokenReview's answer: the user a token authenticates, with the audiences it is good for
/// (those asked, else this server's), the service account's uid and the pod it is bound to as
/// the API server gives them; or not authenticated, with why.
fn token_status(shared: &Shared, spec: &Value) -> Value {
    let token = spec["token"].as_str().unwrap_or_default();
    let mut audiences = tandem_tokens::audiences(&spec["audiences"]);
    if audiences.is_empty() {
        audiences.push(tandem_tokens::ISSUER.into());
    }
    match crate::access::token_claims(shared, token, &audiences) {
        Ok(claims) => {
            let user =
                crate::rbac::User::service_account(&claims.namespace, &claims.service_account);
            let mut extra = serde_json::Map::new();
            if let Some((pod, pod_uid)) = &claims.pod {
                extra.insert("authentication.kubernetes.io/pod-name".into(), json!([pod]));
                extra.insert(
                    "authentication.kubernetes.io/pod-uid".into(),
                    json!([pod_uid]),
                );
            }
            let good: Vec<&String> = claims
                .audiences
                .iter()
                .filter(|a| audiences.contains(a))
                .collect();
            json!({
                "authenticated": true,
                "user": {
                    "username": user.name,
                    "uid": claims.service_account_uid,
                    "groups": user.groups,
                    "extra": extra,
                },
                "audiences": good,
            })
        }
        Err(why) => json!({"user": {}, "error": why}),
    }
}

/// An access review's answer: allowed, with the binding that allowed it, or not.
fn access_status(
    authorizer: &crate::access::Authorizer<'_>,
    spec: &Value,
    user: &crate::rbac::User,
    review: Review,
) -> Result<Value, ApiError> {
    let text = |v: &Value, f: &str| v[f].as_str().unwrap_or_default().to_string();
    let attrs = match (&spec["resourceAttributes"], &spec["nonResourceAttributes"]) {
        (r, _) if r.is_object() => crate::rbac::Attributes::Resource {
            verb: text(r, "verb"),
            api_group: text(r, "group"),
            resource: text(r, "resource"),
            subresource: text(r, "subresource"),
            namespace: text(r, "namespace"),
            name: text(r, "name"),
        },
        (_, n) if n.is_object() => crate::rbac::Attributes::NonResource {
            verb: text(n, "verb"),
            path: text(n, "path"),
        },
        _ => {
            return Err(ApiError::invalid(
                "authorization.k8s.io",
                Resource::Review(review).kind(),
                "",
                vec![crate::status::Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified".into(),
                    field: "spec.resourceAttributes".into(),
                }],
            ))
        }
    };
    Ok(match authorizer.decide(user, &attrs) {
        crate::rbac::Decision::Allowed(reason) => json!({"allowed": true, "reason": reason}),
        crate::rbac::Decision::Denied => json!({"allowed": false}),
    })
}

/// Checks that a submitted object is of the resource's kind and in the request's namespace,
/// which it is given when it names none (a cluster-scoped object is given none).
fn addressed(r: Resource, object: &mut Value, namespace: &str) -> Result<(), ApiError> {
    let (api_version, kind) = (
        object["apiVersion"].as_str().unwrap_or(""),
        object["kind"].as_str().unwrap_or(""),
    );
    if api_version != r.api_version() || kind != r.kind() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({}) or the kind ({kind}) is not {}",
            r.api_version(),
            r.kind()
        )));
    }
    if !r.namespaced() {
        // A cluster-scoped object is in no namespace, whatever it says.
        if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
        return Ok(());
    }
    match object["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() && ns != namespace => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), json!(namespace));
            }
            Ok(())
        }
    }
}

pub(crate) async fn create(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    r: Resource,
    namespace: String,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let write = write_options(query)?;
    let manager = field_manager(&req, query);
    let content_type = content_type(&req, "application/json");
    let protobuf = content_type.starts_with(crate::proto::MEDIA_TYPE);
    if !content_type.starts_with("application/json") && !protobuf {
        return Err(ApiError::new(
            Reason::UnsupportedMediaType,
            format!("the body of the request was in an unknown format - accepted media types include: application/json, {} (got {content_type})", crate::proto::MEDIA_TYPE),
        ));
    }
    let body = read_body(req).await?;
    let mut object: Value = match protobuf {
        true => crate::proto::decode(&body)?,
        false => serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the object provided is not valid JSON: {e}"))
        })?,
    };
    addressed(r, &mut object, &namespace)?;
    // Only `generateName`: a name is made for the object, as the API server's registry makes
    // it (a name taken is then AlreadyExists, as there).
    if object["metadata"]["name"]
        .as_str()
        .is_none_or(str::is_empty)
    {
        if let Some(base) = object["metadata"]["generateName"]
            .as_str()
            .filter(|b| !b.is_empty())
        {
            let name = tandem_api::names::generated(base, &fresh_seed());
            object["metadata"]["name"] = name.into();
        }
    }
    let Some(name) = object["metadata"]["name"].as_str().map(str::to_string) else {
        return Err(ApiError::invalid(
            r.group(),
            r.kind(),
            "",
            vec![crate::status::Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }],
        ));
    };
    let object = without_managers(&object);
    let backend = Arc::clone(&shared.backend);
    let (ns, submitted) = (namespace.clone(), object.clone());
    let created = blocking(move || backend.create(r, &ns, &submitted, write)).await?;
    let answer = match write.dry_run {
        true => object,
        false => {
            let time = rfc3339_now();
            let managers = crate::fields::update(None, &object, &[], &manager, &time);
            shared.record_managers(ledger_key(r, &namespace, &name), None, managers);
            shared.refresh().await?;
            shared
                .cache()
                .get(r, &namespace, &name)
                .map(|o| (*o).clone())
                .unwrap_or(object)
        }
    };
    let mut response = json_response(201, &answer);
    for w in created.warnings {
        warn(&mut response, &w);
    }
    Ok(response)
}

/// PATCH (the object with the patch applied) or PUT (the object sent, whole), of the object or
/// of its `subresource` that changes part of it (a pod's `ephemeralcontainers`).
pub(crate) async fn update(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    r: Resource,
    namespace: String,
    name: String,
    query: &Query,
    subresource: Option<Subresource>,
) -> Result<Response<Body>, ApiError> {
    let write = write_options(query)?;
    let manager = field_manager(&req, query);
    let replace = req.method() == Method::PUT;
    let content_type = content_type(&req, if replace { "application/json" } else { "" });
    let patch_type = match replace {
        true if !content_type.starts_with("application/json") => {
            return Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!("the body of the request was in an unknown format - accepted media types include: application/json (got {content_type})"),
            ))
        }
        true => None,
        false => Some(PatchType::from_content_type(&content_type)?),
    };
    let body = read_body(req).await?;
    // (An apply to a subresource is refused by `patch::apply` below.)
    if patch_type == Some(PatchType::Apply) && subresource.is_none() {
        let apply = ServerSideApply {
            r,
            namespace,
            name,
            manager: query.get("fieldManager").map(str::to_string),
            force: query.get("force") == Some("true"),
            write,
        };
        return apply.run(shared, &body).await;
    }
    let Some(current) = shared.cache().get(r, &namespace, &name) else {
        return Err(ApiError::not_found(r.group(), r.plural(), &name));
    };
    let new = match patch_type {
        Some(kind) => crate::patch::apply(&current, &body, kind)?,
        None => {
            let mut sent: Value = serde_json::from_slice(&body).map_err(|e| {
                ApiError::bad_request(format!("the object provided is not valid JSON: {e}"))
            })?;
            addressed(r, &mut sent, &namespace)?;
            if sent["metadata"]["name"].as_str() != Some(name.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    sent["metadata"]["name"].as_str().unwrap_or_default()
                )));
            }
            sent
        }
    };
    // A version in the patch is a precondition: the object must not have changed since.
    let (asked, now) = (
        &new["metadata"]["resourceVersion"],
        &current["metadata"]["resourceVersion"],
    );
    if !asked.is_null() && asked != now {
        return Err(ApiError::new(
            Reason::Conflict,
            format!("Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again", qualified(r)),
        ));
    }
    if new["kind"] != current["kind"] || new["apiVersion"] != current["apiVersion"] {
        return Err(ApiError::bad_request(
            "the patch may not change the object's apiVersion or kind",
        ));
    }
    // Managers the client wrote itself (kubectl moving fields from client-side to server-side
    // apply rewrites them with a JSON patch) replace those kept; unchanged, they are the same.
    let written_managers = new["metadata"]
        .get("managedFields")
        .filter(|m| **m != current["metadata"]["managedFields"])
        .map(|m| {
            m.as_array()
                .into_iter()
                .flatten()
                .filter_map(crate::fields::Entry::from_json)
                .collect::<Vec<_>>()
        });
    let new = without_managers(&new);
    let backend = Arc::clone(&shared.backend);
    let (ns, n, old, changed) = (
        namespace.clone(),
        name.clone(),
        Arc::new(without_managers(&current)),
        new.clone(),
    );
    let before = Arc::clone(&old);
    let accepted = blocking(move || match subresource {
        Some(Subresource::EphemeralContainers) => {
            backend.add_ephemeral_containers(&ns, &n, &old, &changed, write)
        }
        Some(Subresource::Status) => backend.update_pod_status(&ns, &n, &old, &changed, write),
        _ => backend.update(r, &ns, &n, &old, &changed, write),
    })
    .await?;
    let answer = match write.dry_run {
        true => new,
        false => {
            let key = ledger_key(r, &namespace, &name);
            let uid = current["metadata"]["uid"].as_str();
            let base = written_managers.unwrap_or_else(|| shared.managers(&key, uid));
            let managers =
                crate::fields::update(Some(&before), &new, &base, &manager, &rfc3339_now());
            shared.record_managers(key, uid.map(str::to_string), managers);
            shared.refresh().await?;
            shared
                .cache()
                .get(r, &namespace, &name)
                .map_or(new, |o| (*o).clone())
        }
    };
    let mut response = json_response(200, &answer);
    for w in accepted.warnings {
        warn(&mut response, &w);
    }
    Ok(response)
}

/// A server-side apply (`PATCH` with `application/apply-patch+yaml`, `kubectl apply
/// --server-side`): the object is made from the applied configuration when there is none,
/// else the configuration is merged into it as [`crate::fields::apply`] decides.
struct ServerSideApply {
    r: Resource,
    namespace: String,
    name: String,
    manager: Option<String>,
    force: bool,
    write: WriteOptions,
}

impl ServerSideApply {
    async fn run(self, shared: &Arc<Shared>, body: &[u8]) -> Result<Response<Body>, ApiError> {
        let Some(manager) = self.manager.clone().filter(|m| !m.is_empty()) else {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                vec![crate::status::Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: is required for apply patch".into(),
                    field: "fieldManager".into(),
                }],
            ));
        };
        let mut applied = applied_configuration(body)?;
        addressed(self.r, &mut applied, &self.namespace)?;
        if applied["metadata"]["name"].as_str() != Some(self.name.as_str()) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({})",
                applied["metadata"]["name"].as_str().unwrap_or_default(),
                self.name
            )));
        }
        let applied = without_managers(&applied);
        let key = ledger_key(self.r, &self.namespace, &self.name);
        let time = rfc3339_now();
        let current = shared.cache().get(self.r, &self.namespace, &self.name);
        let Some(current) = current else {
            let (r, ns, object, write) =
                (self.r, self.namespace.clone(), applied.clone(), self.write);
            let backend = Arc::clone(&shared.backend);
            let created = blocking(move || backend.create(r, &ns, &object, write)).await?;
            let answer = match self.write.dry_run {
                true => applied,
                false => {
                    let managers =
                        crate::fields::apply(&json!({}), &[], &applied, &manager, true, &time)
                            .map(|a| a.managers)
                            .unwrap_or_default();
                    shared.record_managers(key, None, managers);
                    self.answer(shared, applied).await?
                }
            };
            let mut response = json_response(201, &answer);
            for w in created.warnings {
                warn(&mut response, &w);
            }
            return Ok(response);
        };
        let uid = current["metadata"]["uid"].as_str().map(str::to_string);
        let live = without_managers(&current);
        let managers = shared.managers(&key, uid.as_deref());
        let outcome = crate::fields::apply(&live, &managers, &applied, &manager, self.force, &time)
            .map_err(|conflicts| {
                let mut e = ApiError::new(
                    Reason::Conflict,
                    crate::fields::conflict_message(&conflicts),
                );
                e.details.causes = conflicts
                    .into_iter()
                    .map(|c| crate::status::Cause {
                        reason: "FieldManagerConflict".into(),
                        message: format!("conflict with {}", c.manager),
                        field: c.field,
                    })
                    .collect();
                e
            })?;
        let (r, ns, n, write) = (
            self.r,
            self.namespace.clone(),
            self.name.clone(),
            self.write,
        );
        let (old, new) = (live, outcome.object.clone());
        let backend = Arc::clone(&shared.backend);
        let accepted = blocking(move || backend.update(r, &ns, &n, &old, &new, write)).await?;
        let answer = match self.write.dry_run {
            true => outcome.object,
            false => {
                shared.record_managers(key, uid, outcome.managers);
                self.answer(shared, outcome.object).await?
            }
        };
        let mut response = json_response(200, &answer);
        for w in accepted.warnings {
            warn(&mut response, &w);
        }
        Ok(response)
    }

    /// The object as the cache holds it after the write.
    async fn answer(&self, shared: &Arc<Shared>, written: Value) -> Result<Value, ApiError> {
        shared.refresh().await?;
        Ok(shared
            .cache()
            .get(self.r, &self.namespace, &self.name)
            .map_or(written, |o| (*o).clone()))
    }
}

/// The configuration of an apply: YAML (JSON is YAML too), one object.
fn applied_configuration(body: &[u8]) -> Result<Value, ApiError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the applied configuration is not UTF-8"))?;
    let mut documents =
        tandem_api::documents(&[tandem_api::Source::new("apply", text)]).map_err(|d| {
            ApiError::bad_request(format!("the applied configuration is not valid YAML: {d}"))
        })?;
    match documents.len() {
        1 => Ok(documents.remove(0)),
        n => Err(ApiError::bad_request(format!(
            "the applied configuration must be one object, not {n}"
        ))),
    }
}

/// `serviceaccounts/NAME/token` (`kubectl create token`): a token of the service account, for
/// `expirationSeconds` (an hour unless asked; ten minutes to 2³² seconds, as the API server
/// allows), for the audiences asked (this server's unless asked), bound to a pod when asked
/// (good only while it exists). The answer is the TokenRequest with its status, `201`.
pub(crate) async fn token_request(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    namespace: String,
    name: String,
) -> Result<Response<Body>, ApiError> {
    const GROUP: &str = "authentication.k8s.io";
    let body = read_body(req).await?;
    let mut request: Value = if body.starts_with(b"k8s\0") {
        crate::proto::decode(&body)?
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!("the TokenRequest is not valid JSON: {e}"))
        })?
    };
    let account = shared
        .cache()
        .get(
            Resource::Stored(crate::resource::StoredKind::ServiceAccount),
            &namespace,
            &name,
        )
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", &name))?;
    let spec = &mut request["spec"];
    let seconds = spec["expirationSeconds"].as_i64().unwrap_or(3600);
    let too = match seconds {
        s if s < 600 => Some("may not specify a duration less than 10 minutes"),
        s if s > (1 << 32) - 1 => Some("may not specify a duration larger than 2^32 seconds"),
        _ => None,
    };
    if let Some(why) = too {
        return Err(ApiError::invalid(
            GROUP,
            "TokenRequest",
            &name,
            vec![crate::status::Cause {
                reason: "FieldValueInvalid".into(),
                message: format!("Invalid value: {seconds}: {why}"),
                field: "spec.expirationSeconds".into(),
            }],
        ));
    }
    spec["expirationSeconds"] = json!(seconds);
    let mut audiences = tandem_tokens::audiences(&spec["audiences"]);
    if audiences.is_empty() {
        audiences.push(tandem_tokens::ISSUER.into());
        spec["audiences"] = json!(audiences);
    }
    let bound = &spec["boundObjectRef"];
    let pod = match bound["kind"].as_str() {
        None | Some("") => None,
        Some("Pod") => {
            let pod_name = bound["name"].as_str().unwrap_or_default().to_string();
            let pod = shared
                .cache()
                .get(Resource::Pods, &namespace, &pod_name)
                .ok_or_else(|| ApiError::not_found("", "pods", &pod_name))?;
            let uid = pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match bound["uid"].as_str().filter(|u| !u.is_empty()) {
                Some(asked) if asked != uid => {
                    return Err(ApiError::new(
                        Reason::Conflict,
                        format!("the UID in the bound object reference ({asked}) does not match the UID in record. The object might have been deleted and then recreated"),
                    ))
                }
                _ => Some((pod_name, uid)),
            }
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "cannot bind a token to a {other}: tandem binds tokens to pods only"
            )))
        }
    };
    let now = crate::reply::now_us() / 1_000_000;
    let claims = tandem_tokens::Claims {
        namespace: namespace.clone(),
        service_account: name.clone(),
        service_account_uid: account["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .into(),
        pod,
        audiences,
        issued_at: now,
        expires_at: now + seconds,
    };
    let token = shared.token_keys.issue(&claims);
    let expires = time::OffsetDateTime::from_unix_timestamp(claims.expires_at)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let answer = json!({
        "kind": "TokenRequest",
        "apiVersion": format!("{GROUP}/v1"),
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": request["spec"],
        "status": {"token": token, "expirationTimestamp": expires},
    });
    Ok(json_response(201, &answer))
}

/// `pods/NAME/eviction` (a `policy/v1` or `v1beta1` Eviction, what `kubectl drain` and the
/// clients' `evict` send): the pod is deleted if its disruption budget allows, as the backend
/// judges; the answer is a `Status` of success, `201`.
pub(crate) async fn evict(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    namespace: String,
    name: String,
) -> Result<Response<Body>, ApiError> {
    let body = read_body(req).await?;
    let eviction: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the Eviction is not valid JSON: {e}")))?;
    // A body without a kind is an Eviction, as the endpoint decodes it (the Python client
    // sends none).
    if !eviction["kind"].is_null() && eviction["kind"] != "Eviction" {
        return Err(ApiError::bad_request(format!(
            "the body of an eviction must be an Eviction, not {}",
            eviction["kind"]
        )));
    }
    if let Some(named) = eviction["metadata"]["name"].as_str() {
        if named != name {
            return Err(ApiError::bad_request(format!(
                "name in URL does not match name in Eviction object: {name} != {named}"
            )));
        }
    }
    if shared
        .cache()
        .get(Resource::Pods, &namespace, &name)
        .is_none()
    {
        return Err(ApiError::not_found("", "pods", &name));
    }
    let options = &eviction["deleteOptions"];
    let grace = options["gracePeriodSeconds"]
        .as_i64()
        .map(|g| g.max(0) as u64);
    let dry_run = options["dryRun"]
        .as_array()
        .is_some_and(|d| d.iter().any(|v| v == "All"));
    let backend = Arc::clone(&shared.backend);
    let (ns, n) = (namespace.clone(), name.clone());
    blocking(move || backend.evict(&ns, &n, grace, dry_run)).await?;
    if !dry_run {
        shared.refresh().await?;
    }
    let mut status = crate::status::success("", "pods", &name);
    status["code"] = json!(201);
    Ok(json_response(201, &status))
}

/// A workload's `autoscaling/v1` Scale: its replicas asked for and had, and its selector.
pub(crate) fn scale_of(object: &Value) -> Value {
    let meta = &object["metadata"];
    let selector = object["spec"]["selector"]["matchLabels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
            "creationTimestamp": meta["creationTimestamp"],
        },
        "spec": {"replicas": object["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": object["status"]["replicas"].as_i64().unwrap_or(0), "selector": selector},
    })
}

/// `…/scale`: read, or changed by PATCH or PUT (only `spec.replicas` is taken).
pub(crate) async fn scale(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    r: Resource,
    namespace: String,
    name: String,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let Some(current) = shared.cache().get(r, &namespace, &name) else {
        return Err(ApiError::not_found(r.group(), r.plural(), &name));
    };
    let before = scale_of(&current);
    let method = req.method().clone();
    if method == Method::GET {
        return Ok(json_response(200, &before));
    }
    let dry_run = dry_run(query)?;
    let content_type = content_type(&req, "application/json");
    let body = read_body(req).await?;
    let after = match method {
        Method::PUT => serde_json::from_slice::<Value>(&body)
            .map_err(|e| ApiError::bad_request(format!("the Scale is not valid JSON: {e}")))?,
        _ => crate::patch::apply(&before, &body, PatchType::from_content_type(&content_type)?)?,
    };
    let replicas = after["spec"]["replicas"]
        .as_i64()
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::invalid(
                "autoscaling",
                "Scale",
                &name,
                vec![crate::status::Cause {
                    reason: "FieldValueInvalid".into(),
                    message: format!(
                        "Invalid value: {}: must be greater than or equal to 0",
                        after["spec"]["replicas"]
                    ),
                    field: "spec.replicas".into(),
                }],
            )
        })?;
    if !dry_run {
        let backend = Arc::clone(&shared.backend);
        let (ns, n) = (namespace.clone(), name.clone());
        blocking(move || backend.scale(r, &ns, &n, replicas)).await?;
        shared.refresh().await?;
    }
    let now = shared.cache().get(r, &namespace, &name).unwrap_or(current);
    let mut answer = scale_of(&now);
    answer["spec"]["replicas"] = json!(replicas);
    Ok(json_response(200, &answer))
}

/// `pods`, or `deployments.apps`, as conflict messages name a resource.
pub(crate) fn qualified(r: Resource) -> String {
    match r.group() {
        "" => r.plural().to_string(),
        g => format!("{}.{g}", r.plural()),
    }
}

pub(crate) async fn delete(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    r: Resource,
    namespace: String,
    name: String,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let dry_run = dry_run(query)?;
    let body = read_body(req).await?;
    let options: Value = match body.is_empty() {
        true => json!({}),
        false => serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the DeleteOptions provided are not valid JSON: {e}"
            ))
        })?,
    };
    let grace = match query.integer("gracePeriodSeconds")? {
        Some(g) => Some(g),
        None => options["gracePeriodSeconds"].as_i64(),
    };
    // What becomes of the dependents: a workload's pods go with it (Background; Foreground too,
    // the workload then going last), or stay without it as their owner (Orphan).
    let policy = query
        .get("propagationPolicy")
        .map(str::to_string)
        .or_else(|| options["propagationPolicy"].as_str().map(str::to_string))
        .or_else(|| (options["orphanDependents"] == json!(true)).then(|| "Orphan".to_string()));
    let orphan = match policy.as_deref() {
        None | Some("" | "Background" | "Foreground") => false,
        Some("Orphan") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Unsupported value: {other:?}: supported values: \"Orphan\", \"Background\", \"Foreground\""
            )))
        }
    };
    let Some(current) = shared.cache().get(r, &namespace, &name) else {
        return Err(ApiError::not_found(r.group(), r.plural(), &name));
    };
    let mut answer = (*current).clone();
    if !dry_run {
        let backend = Arc::clone(&shared.backend);
        let (ns, n) = (namespace.clone(), name.clone());
        let grace_seconds = grace.map(|g| g.max(0) as u64);
        blocking(move || backend.delete(r, &ns, &n, grace_seconds, orphan)).await?;
        shared.refresh().await?;
        // Still there while it goes gracefully; another object of the name (made again at
        // once, as a namespace's `default` ServiceAccount is) is not the one deleted.
        if let Some(now) = shared.cache().get(r, &namespace, &name) {
            if now["metadata"]["uid"] == current["metadata"]["uid"] {
                answer = (*now).clone();
            }
        }
    }
    // Deletion is graceful: until the object is gone it carries when it will be.
    if answer["metadata"]["deletionTimestamp"].is_null() {
        let meta = &mut answer["metadata"];
        meta["deletionTimestamp"] = json!(rfc3339_now());
        meta["deletionGracePeriodSeconds"] = json!(grace.unwrap_or_else(|| answer_grace(&current)));
    }
    Ok(json_response(200, &answer))
}

/// The grace period a pod asks for (`spec.terminationGracePeriodSeconds`, 30 by default).
pub(crate) fn answer_grace(object: &Value) -> i64 {
    object["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(30)
}

/// A seed no other request gets: the clock to the nanosecond and a count of this process's.
fn fresh_seed() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{now}-{n}-{}", std::process::id())
}
