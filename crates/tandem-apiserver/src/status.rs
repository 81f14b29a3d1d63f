//! Failures as the API server reports them: an HTTP status and a `metav1.Status` body whose
//! `reason` clients branch on (kubectl prints `Error from server (NotFound): pods "x" not found`
//! from it) — apimachinery's `StatusReason` values and the codes `errors.New*` give them.

use serde_json::{json, Value};

/// apimachinery's `metav1.StatusReason`, the ones this server gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    BadRequest,
    Unauthorized,
    /// 403: what nobody may do (deleting a namespace every cluster has).
    Forbidden,
    NotFound,
    MethodNotAllowed,
    NotAcceptable,
    AlreadyExists,
    Conflict,
    /// `410 Gone` for a watch from a version older than the server keeps.
    Expired,
    UnsupportedMediaType,
    Invalid,
    /// 429: an eviction its disruption budget does not allow now.
    TooManyRequests,
    InternalError,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Unauthorized => "Unauthorized",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Expired => "Expired",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::TooManyRequests => "TooManyRequests",
            Reason::Invalid => "Invalid",
            Reason::InternalError => "InternalError",
        }
    }

    pub fn code(self) -> u16 {
        match self {
            Reason::BadRequest => 400,
            Reason::Unauthorized => 401,
            Reason::Forbidden => 403,
            Reason::NotFound => 404,
            Reason::MethodNotAllowed => 405,
            Reason::NotAcceptable => 406,
            Reason::AlreadyExists | Reason::Conflict => 409,
            Reason::Expired => 410,
            Reason::UnsupportedMediaType => 415,
            Reason::TooManyRequests => 429,
            Reason::Invalid => 422,
            Reason::InternalError => 500,
        }
    }
}

/// One field's problem in an `Invalid` status (`metav1.StatusCause`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`, …
    pub reason: String,
    pub message: String,
    /// The field's path, e.g. `spec.containers[0].image`.
    pub field: String,
}

/// A request that failed, as the API server words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub reason: Reason,
    pub message: String,
    /// Boxed: errors travel in every `Result` of the server, details seldom.
    pub details: Box<Details>,
}

/// `Status.details`: what the failure is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    pub name: Option<String>,
    pub group: Option<String>,
    /// The resource, e.g. `pods` (the kind for `Invalid`, as the API server gives it).
    pub kind: Option<String>,
    pub causes: Vec<Cause>,
}

impl ApiError {
    pub fn new(reason: Reason, message: impl Into<String>) -> ApiError {
        ApiError {
            reason,
            message: message.into(),
            details: Box::default(),
        }
    }

    fn about(mut self, group: &str, resource: &str, name: &str) -> ApiError {
        self.details.name = Some(name.to_string()).filter(|n| !n.is_empty());
        self.details.group = Some(group.to_string()).filter(|g| !g.is_empty());
        self.details.kind = Some(resource.to_string());
        self
    }

    /// `pods "web" not found` (`pods.apps`-style names for other groups).
    pub fn not_found(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            Reason::NotFound,
            format!("{} \"{name}\" not found", qualified(group, resource)),
        )
        .about(group, resource, name)
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> ApiError {
        ApiError::new(
            Reason::AlreadyExists,
            format!("{} \"{name}\" already exists", qualified(group, resource)),
        )
        .about(group, resource, name)
    }

    /// `Pod "web" is invalid: spec.containers[0].image: Required value` (apimachinery's
    /// `NewInvalid`: the causes joined, in a list when there are several).
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let each: Vec<String> = causes
            .iter()
            .map(|c| match c.field.is_empty() {
                true => c.message.clone(),
                false => format!("{}: {}", c.field, c.message),
            })
            .collect();
        let joined = match each.len() {
            1 => each.concat(),
            _ => format!("[{}]", each.join(", ")),
        };
        let mut e = ApiError::new(
            Reason::Invalid,
            format!("{kind} \"{name}\" is invalid: {joined}"),
        )
        .about(group, kind, name);
        e.details.causes = causes;
        e
    }

    /// apimachinery's `NewForbidden`: `configmaps is forbidden: …`, `pods "web" is forbidden:
    /// …`, or `forbidden: …` for a request of no resource (empty `resource`).
    pub fn forbidden(group: &str, resource: &str, name: &str, why: &str) -> ApiError {
        let message = match (resource, name) {
            ("", _) => format!("forbidden: {why}"),
            (r, "") => format!("{} is forbidden: {why}", qualified(group, r)),
            (r, n) => format!("{} {n:?} is forbidden: {why}", qualified(group, r)),
        };
        let e = ApiError::new(Reason::Forbidden, message);
        match resource {
            "" => e,
            r => e.about(group, r, name),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(Reason::BadRequest, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            Reason::InternalError,
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// The body of the response: a `metav1.Status`.
    pub fn status(&self) -> Value {
        let mut details = serde_json::Map::new();
        let d = &self.details;
        if let Some(n) = &d.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &d.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &d.kind {
            details.insert("kind".into(), json!(k));
        }
        if !d.causes.is_empty() {
            let causes: Vec<Value> = d
                .causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect();
            details.insert("causes".into(), Value::Array(causes));
        }
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.reason.code(),
        });
        if !details.is_empty() {
            status["details"] = Value::Object(details);
        }
        status
    }
}

/// `pods`, or `deployments.apps` for a resource of a named group.
fn qualified(group: &str, resource: &str) -> String {
    match group {
        "" => resource.to_string(),
        g => format!("{resource}.{g}"),
    }
}

/// The `Success` status a deletion of a collection or a subresource may answer with.
pub fn success(group: &str, resource: &str, name: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_the_api_servers() {
        let e = ApiError::not_found("", "pods", "web");
        let s = e.status();
        assert_eq!(s["message"], "pods \"web\" not found");
        assert_eq!(s["reason"], "NotFound");
        assert_eq!(s["code"], 404);
        assert_eq!(s["details"], json!({"name": "web", "kind": "pods"}));
        assert_eq!(
            ApiError::already_exists("apps", "deployments", "web").message,
            "deployments.apps \"web\" already exists"
        );
        let one = ApiError::invalid(
            "",
            "Pod",
            "web",
            vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: "spec.containers[0].image".into(),
            }],
        );
        assert_eq!(
            one.message,
            "Pod \"web\" is invalid: spec.containers[0].image: Required value"
        );
        assert_eq!(one.status()["code"], 422);
        assert_eq!(
            one.status()["details"]["causes"][0]["field"],
            "spec.containers[0].image"
        );
        let two = ApiError::invalid(
            "",
            "Pod",
            "web",
            vec![
                Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value".into(),
                    field: "a".into(),
                },
                Cause {
                    reason: "FieldValueInvalid".into(),
                    message: "bad".into(),
                    field: "b".into(),
                },
            ],
        );
        assert_eq!(
            two.message,
            "Pod \"web\" is invalid: [a: Required value, b: bad]"
        );
        assert_eq!(ApiError::new(Reason::Expired, "x").status()["code"], 410);
    }
}
