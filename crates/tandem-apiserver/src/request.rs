//! A request's path and query read as the API server reads them: which resource, namespace,
//! name and subresource a path names, and the list, watch, delete and log options of the query.
//! Pure: no I/O, so every route is a table test.

use crate::resource::{Resource, Subresource};
use crate::status::ApiError;

/// Where a path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Version,
    Health,
    /// `/api`
    CoreVersions,
    /// `/apis`
    Groups,
    /// `/api/v1`, `/apis/G/V`
    GroupVersion {
        group: String,
        version: String,
    },
    OpenApiV2,
    OpenApiIndex,
    OpenApi {
        group: String,
        version: String,
    },
    /// A collection (`name` None) or one object, possibly a subresource of it.
    Object(Target),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource: Resource,
    /// None: across namespaces (or a cluster-scoped resource).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<Subresource>,
}

/// What the API server answers for a path it does not serve.
pub fn not_found() -> ApiError {
    ApiError::new(
        crate::status::Reason::NotFound,
        "the server could not find the requested resource",
    )
}

/// Reads a request path (without the query).
pub fn route(path: &str) -> Result<Route, ApiError> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let parts: Vec<&str> = match parts.as_slice() {
        [""] => vec![],
        _ => parts,
    };
    Ok(match parts.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "livez" | "readyz"] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["apis"] => Route::Groups,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", version] => Route::OpenApi {
            group: String::new(),
            version: version.to_string(),
        },
        ["openapi", "v3", "apis", group, version] => Route::OpenApi {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["api", version] => Route::GroupVersion {
            group: String::new(),
            version: version.to_string(),
        },
        ["apis", group, version] => Route::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["api", version, rest @ ..] => Route::Object(target("", version, rest)?),
        ["apis", group, version, rest @ ..] => Route::Object(target(group, version, rest)?),
        _ => return Err(not_found()),
    })
}

fn target(group: &str, version: &str, rest: &[&str]) -> Result<Target, ApiError> {
    let find = |plural: &str| Resource::find(group, version, plural).ok_or_else(not_found);
    let sub = |name: &str| Subresource::find(name).ok_or_else(not_found);
    let t = match rest {
        // A namespace is itself an object of `namespaces`.
        ["namespaces"] => Target {
            resource: find("namespaces")?,
            namespace: None,
            name: None,
            subresource: None,
        },
        ["namespaces", ns] => Target {
            resource: find("namespaces")?,
            namespace: None,
            name: Some(ns.to_string()),
            subresource: None,
        },
        ["namespaces", ns, plural] => Target {
            resource: find(plural)?,
            namespace: Some(ns.to_string()),
            name: None,
            subresource: None,
        },
        ["namespaces", ns, plural, name] => Target {
            resource: find(plural)?,
            namespace: Some(ns.to_string()),
            name: Some(name.to_string()),
            subresource: None,
        },
        ["namespaces", ns, plural, name, s] => Target {
            resource: find(plural)?,
            namespace: Some(ns.to_string()),
            name: Some(name.to_string()),
            subresource: Some(sub(s)?),
        },
        [plural] => Target {
            resource: find(plural)?,
            namespace: None,
            name: None,
            subresource: None,
        },
        [plural, name] => Target {
            resource: find(plural)?,
            namespace: None,
            name: Some(name.to_string()),
            subresource: None,
        },
        _ => return Err(not_found()),
    };
    // A namespaced resource is named only within its namespace.
    if t.resource.namespaced() && t.name.is_some() && t.namespace.is_none() {
        return Err(not_found());
    }
    if !t.resource.namespaced() && t.namespace.is_some() {
        return Err(not_found());
    }
    if t.subresource
        .is_some_and(|s| !t.resource.subresources().contains(&s))
    {
        return Err(not_found());
    }
    Ok(t)
}

/// A query string's parameters, first value of each name wins (as Go's `url.Values.Get`).
#[derive(Debug, Clone, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(query.unwrap_or_default().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter, in order (`command=sh&command=-c`).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean as Go's `strconv.ParseBool` reads it; absent is false.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "invalid value for {name}: {v:?} is not a boolean"
            ))),
        }
    }

    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "invalid value for {name}: {v:?} is not an integer"
                    ))
                })
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(path: &str) -> Target {
        match route(path) {
            Ok(Route::Object(t)) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_name_what_the_api_server_serves_there() {
        assert_eq!(route("/version"), Ok(Route::Version));
        assert_eq!(route("/api"), Ok(Route::CoreVersions));
        assert_eq!(
            route("/api/v1"),
            Ok(Route::GroupVersion {
                group: String::new(),
                version: "v1".into()
            })
        );
        let t = object("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(
            (
                t.resource,
                t.namespace.as_deref(),
                t.name.as_deref(),
                t.subresource
            ),
            (
                Resource::Pods,
                Some("default"),
                Some("web"),
                Some(Subresource::Log)
            )
        );
        let all = object("/api/v1/pods");
        assert_eq!(
            (all.resource, all.namespace, all.name),
            (Resource::Pods, None, None)
        );
        let ns = object("/api/v1/namespaces/kube-system");
        assert_eq!(
            (ns.resource, ns.name.as_deref()),
            (Resource::Namespaces, Some("kube-system"))
        );
        assert_eq!(
            object("/api/v1/namespaces/default/pods/web/attach").subresource,
            Some(Subresource::Attach)
        );
        assert_eq!(
            object("/api/v1/namespaces/default/pods/web/eviction").subresource,
            Some(Subresource::Eviction)
        );
        // A pod is named within a namespace only; namespaces are not in one; unknown paths and
        // subresources are not found.
        for bad in [
            "/api/v1/pods/web",
            "/api/v1/namespaces/default/pods/web/exec2",
            "/api/v1/namespaces/default/namespaces",
            "/api/v1/namespaces/default/widgets",
            "/api/v2/pods",
            "/nothing",
        ] {
            assert_eq!(
                route(bad).map_err(|e| e.reason),
                Err(crate::status::Reason::NotFound),
                "{bad}"
            );
        }
    }

    #[test]
    fn queries_read_as_go_reads_them() {
        let q = Query::parse(Some("watch=1&labelSelector=app%3Dweb&tailLines=10&x=maybe"));
        assert_eq!(q.flag("watch"), Ok(true));
        assert_eq!(q.get("labelSelector"), Some("app=web"));
        assert_eq!(q.integer("tailLines"), Ok(Some(10)));
        assert!(q.flag("x").is_err());
        assert_eq!(q.flag("follow"), Ok(false));
    }
}
