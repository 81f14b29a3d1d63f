//! What a client learns before it asks for objects: `/version`, the legacy discovery documents
//! (`/api`, `/api/v1`, `/apis`), and the OpenAPI v3 documents kubectl reads to learn that this
//! server checks fields itself (`fieldValidation` on each kind's PATCH), so it sends objects as
//! they are instead of checking them against a schema first, and whose schemas `kubectl
//! explain` walks.
//!
//! Aggregated discovery (`/api` and `/apis` as one `APIGroupDiscoveryList` each, KEP-3352) is
//! offered to a client that asks for it in `Accept` (kubectl from 1.26 does), so it learns
//! every resource in two requests rather than one per group version.

use serde_json::{json, Value};

use crate::resource::Resource;

/// The Kubernetes release whose API this server speaks.
pub fn version() -> Value {
    let (major, minor) = tandem_api::KUBERNETES_VERSION;
    json!({
        "major": major.to_string(),
        "minor": minor.to_string(),
        "gitVersion": format!("v{major}.{minor}.0+tandem.{}", env!("CARGO_PKG_VERSION")),
        "gitCommit": "",
        "gitTreeState": "",
        "buildDate": "",
        "goVersion": "",
        "compiler": "rustc",
        "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
    })
}

/// Go's name for this machine's architecture (`GOARCH`).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// `/api`: the core group's versions.
pub fn core_versions(server_address: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}],
    })
}

/// `/apis`: the named groups, each with its one served version.
pub fn groups() -> Value {
    let mut names: Vec<(&str, &str)> = Resource::all()
        .filter(|r| !r.group().is_empty())
        .map(|r| (r.group(), r.version()))
        .collect();
    // Each group once, in the order of the resource table.
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|n| seen.insert(*n));
    let groups: Vec<Value> = names
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// The versions of aggregated discovery this server writes, newest first: kubectl 1.30 and later
/// ask for `v2`, earlier ones for `v2beta1` (the same document).
const AGGREGATED: [&str; 2] = ["v2", "v2beta1"];

/// The aggregated discovery version a request's `Accept` asks for first among those this
/// server writes (the client's order is its preference), if any.
pub fn aggregated_version(accept: &str) -> Option<&'static str> {
    accept.split(',').find_map(|media| {
        let params: Vec<(&str, &str)> = media
            .split(';')
            .skip(1)
            .filter_map(|p| p.trim().split_once('='))
            .collect();
        let get = |k: &str| params.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        if get("g") != Some("apidiscovery.k8s.io") || get("as") != Some("APIGroupDiscoveryList") {
            return None;
        }
        AGGREGATED.into_iter().find(|a| Some(*a) == get("v"))
    })
}

/// The content type of an aggregated discovery document of `version`.
pub fn aggregated_media(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

/// `/api` (`core`) or `/apis` as an `APIGroupDiscoveryList` of `version`: every served group
/// with its version and each resource's kind, scope, verbs, names and subresources.
pub fn aggregated(core: bool, version: &str) -> Value {
    let mut groups: Vec<(&str, &str)> = Resource::all()
        .filter(|r| r.group().is_empty() == core)
        .map(|r| (r.group(), r.version()))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    groups.retain(|g| seen.insert(*g));
    let items: Vec<Value> = groups
        .into_iter()
        .map(|(group, gv)| {
            let resources: Vec<Value> = served(group, gv)
                .unwrap_or_default()
                .into_iter()
                .map(|r| {
                    let subresources: Vec<Value> = r
                        .subresources()
                        .iter()
                        .map(|s| {
                            let (g, v) = s.group_version().unwrap_or((group, gv));
                            json!({
                                "subresource": s.name(),
                                "responseKind": {"group": g, "version": v, "kind": s.kind()},
                                "verbs": s.verbs(),
                            })
                        })
                        .collect();
                    let mut resource = json!({
                        "resource": r.plural(),
                        "responseKind": {"group": group, "version": gv, "kind": r.kind()},
                        "scope": if r.namespaced() { "Namespaced" } else { "Cluster" },
                        "singularResource": r.singular(),
                        "verbs": r.verbs(),
                    });
                    if !r.short_names().is_empty() {
                        resource["shortNames"] = json!(r.short_names());
                    }
                    if !r.categories().is_empty() {
                        resource["categories"] = json!(r.categories());
                    }
                    if !subresources.is_empty() {
                        resource["subresources"] = json!(subresources);
                    }
                    resource
                })
                .collect();
            let mut meta = json!({"creationTimestamp": null});
            if !core {
                meta["name"] = json!(group);
            }
            json!({
                "metadata": meta,
                "versions": [{"version": gv, "resources": resources, "freshness": "Current"}],
            })
        })
        .collect();
    json!({
        "kind": "APIGroupDiscoveryList",
        "apiVersion": format!("apidiscovery.k8s.io/{version}"),
        "metadata": {},
        "items": items,
    })
}

/// The resources of one group version; `None` when it is not served.
fn served(group: &str, version: &str) -> Option<Vec<Resource>> {
    let served: Vec<Resource> = Resource::all()
        .filter(|r| r.group() == group && r.version() == version)
        .collect();
    (!served.is_empty()).then_some(served)
}

/// `/api/v1` (or `/apis/GROUP/VERSION`): the resources of one group version.
pub fn resources(group: &str, version: &str) -> Option<Value> {
    let served = served(group, version)?;
    let mut list = vec![];
    for r in served {
        list.push(json!({
            "name": r.plural(),
            "singularName": r.singular(),
            "namespaced": r.namespaced(),
            "kind": r.kind(),
            "verbs": r.verbs(),
            "shortNames": r.short_names(),
            "categories": r.categories(),
        }));
        for s in r.subresources() {
            let mut sub = json!({
                "name": format!("{}/{}", r.plural(), s.name()),
                "singularName": "",
                "namespaced": r.namespaced(),
                "kind": s.kind(),
                "verbs": s.verbs(),
            });
            if let Some((g, v)) = s.group_version() {
                sub["group"] = json!(g);
                sub["version"] = json!(v);
            }
            list.push(sub);
        }
    }
    let group_version = match group {
        "" => version.to_string(),
        g => format!("{g}/{version}"),
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    }))
}

/// The key of a group version in the OpenAPI v3 index: `api/v1`, `apis/apps/v1`.
fn openapi_key(group: &str, version: &str) -> String {
    match group {
        "" => format!("api/{version}"),
        g => format!("apis/{g}/{version}"),
    }
}

/// `/openapi/v3`: where each group version's document is. The hash is the document's without
/// its schemas, and the release's: the schemas come from the types this build was made with, so
/// two builds of one release serve the same ones, and clients keep them cached until it changes.
pub fn openapi_index() -> Value {
    let mut paths = serde_json::Map::new();
    for r in Resource::all() {
        let key = openapi_key(r.group(), r.version());
        let Some(doc) = build_openapi_document(r.group(), r.version(), false) else {
            continue;
        };
        let hash = openapi_hash(&json!([env!("CARGO_PKG_VERSION"), doc]));
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

/// A stable hash of a document, so clients cache it until it changes.
fn openapi_hash(doc: &Value) -> String {
    // FNV-1a: stable across runs and builds, unlike std's hasher.
    let mut h: u64 = 0xcbf29ce484222325;
    for b in doc.to_string().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{h:016X}")
}

/// `/openapi/v3/api/v1`: the paths of one group version, each operation with its kind
/// (`x-kubernetes-group-version-kind`) and query parameters, and the schemas of its kinds with
/// every type they use (what `kubectl explain` walks), as JSON. Made when first asked for and
/// kept, as text (the core group's is some 400 kB). No operation says it takes a strategic
/// merge patch body, so `kubectl apply` keeps computing its patches from the types it knows
/// (the schemas lack the patch strategies and merge keys it would need).
pub fn openapi_document(group: &str, version: &str) -> Option<bytes::Bytes> {
    type Made = std::collections::HashMap<(String, String), bytes::Bytes>;
    static MADE: std::sync::Mutex<Option<Made>> = std::sync::Mutex::new(None);
    let key = (group.to_string(), version.to_string());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    let made = made.get_or_insert_with(Made::new);
    if let Some(doc) = made.get(&key) {
        return Some(doc.clone());
    }
    let doc = build_openapi_document(group, version, true)?;
    let text = bytes::Bytes::from(serde_json::to_vec(&doc).ok()?);
    made.insert(key, text.clone());
    Some(text)
}

fn build_openapi_document(group: &str, version: &str, schemas: bool) -> Option<Value> {
    let served = served(group, version)?;
    let kinds: Vec<&str> = served.iter().map(|r| r.kind()).collect();
    let query = |name: &str| json!({"name": name, "in": "query", "schema": {"type": "string"}});
    let mut paths = serde_json::Map::new();
    for r in served {
        let gvk = json!({"group": r.group(), "version": r.version(), "kind": r.kind()});
        let prefix = match group {
            "" => format!("/api/{version}"),
            g => format!("/apis/{g}/{version}"),
        };
        let collection = match r.namespaced() {
            true => format!("{prefix}/namespaces/{{namespace}}/{}", r.plural()),
            false => format!("{prefix}/{}", r.plural()),
        };
        let op = |action: &str, params: &[&str]| {
            json!({
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": params.iter().map(|p| query(p)).collect::<Vec<_>>(),
                "responses": {"200": {"description": "OK"}},
            })
        };
        let mut coll = serde_json::Map::new();
        coll.insert(
            "get".into(),
            op(
                "list",
                &[
                    "labelSelector",
                    "fieldSelector",
                    "watch",
                    "resourceVersion",
                    "timeoutSeconds",
                ],
            ),
        );
        let mut item = serde_json::Map::new();
        item.insert("get".into(), op("get", &[]));
        if r.verbs().contains(&"create") {
            coll.insert(
                "post".into(),
                op("post", &["dryRun", "fieldManager", "fieldValidation"]),
            );
        }
        if r.verbs().contains(&"patch") {
            item.insert(
                "patch".into(),
                op(
                    "patch",
                    &["dryRun", "fieldManager", "fieldValidation", "force"],
                ),
            );
        }
        if r.verbs().contains(&"delete") {
            item.insert(
                "delete".into(),
                op(
                    "delete",
                    &["dryRun", "gracePeriodSeconds", "propagationPolicy"],
                ),
            );
        }
        paths.insert(collection.clone(), Value::Object(coll));
        paths.insert(format!("{collection}/{{name}}"), Value::Object(item));
    }
    let (major, minor) = tandem_api::KUBERNETES_VERSION;
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": format!("v{major}.{minor}.0")},
        "paths": paths,
        "components": {"schemas": match schemas {
            true => tandem_api::openapi::components(group, version, &kinds),
            false => serde_json::Map::new(),
        }},
    }))
}

/// The media type of `/openapi/v2` in protobuf, the form client-go reads. Clients ask for it
/// as `…spec.v2@v1.0+protobuf`; the answer names it with a dot, as Go's media type parser
/// refuses the `@`.
pub const OPENAPI_V2_PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// `/openapi/v2`: a Swagger 2.0 document without paths or definitions yet. kubectl before 1.29
/// fetches it for `apply` (it merges by the types it knows when the document has none); the
/// checks go by OpenAPI v3. `protobuf`: in gnostic's `openapi_v2.Document` encoding (swagger =
/// 1, info = 2 with title = 1 and version = 2, paths = 8), else JSON.
pub fn openapi_v2(protobuf: bool) -> Vec<u8> {
    let (major, minor) = tandem_api::KUBERNETES_VERSION;
    let version = format!("v{major}.{minor}.0");
    if !protobuf {
        return json!({
            "swagger": "2.0",
            "info": {"title": "Kubernetes", "version": version},
            "paths": {},
            "definitions": {},
        })
        .to_string()
        .into_bytes();
    }
    let message = |write: &dyn Fn(&mut protobuf::CodedOutputStream) -> protobuf::Result<()>| {
        let mut bytes = vec![];
        let mut os = protobuf::CodedOutputStream::vec(&mut bytes);
        // Writing into a Vec fails only when memory does.
        let _ = write(&mut os).and_then(|()| os.flush());
        drop(os);
        bytes
    };
    let info = message(&|os| {
        os.write_string(1, "Kubernetes")?;
        os.write_string(2, &version)
    });
    message(&|os| {
        os.write_string(1, "2.0")?;
        os.write_bytes(2, &info)?;
        os.write_bytes(8, &[])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_discovery_goes_to_those_who_ask_for_it() {
        let kubectl_1_33 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kubectl_1_33), Some("v2"));
        let kubectl_1_27 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(aggregated_version(kubectl_1_27), Some("v2beta1"));
        assert_eq!(aggregated_version("application/json"), None);
        let core = aggregated(true, "v2");
        assert_eq!(core["kind"], "APIGroupDiscoveryList");
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["resource"] == "pods"))
            .cloned()
            .expect("pods");
        assert_eq!(
            pods["responseKind"],
            json!({"group": "", "version": "v1", "kind": "Pod"})
        );
        assert_eq!(pods["scope"], "Namespaced");
        assert!(pods["subresources"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["subresource"] == "exec")));
        let groups = aggregated(false, "v2");
        assert!(groups["items"]
            .as_array()
            .is_some_and(|g| g.iter().any(|g| g["metadata"]["name"] == "apps")));
    }

    #[test]
    fn pods_are_discovered_with_their_log_subresource() {
        let v1 = resources("", "v1").expect("v1");
        let names: Vec<&str> = v1["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert!(
            names.contains(&"pods") && names.contains(&"pods/log"),
            "{names:?}"
        );
        let apps = resources("apps", "v1").expect("apps/v1");
        let scale = apps["resources"]
            .as_array()
            .expect("resources")
            .iter()
            .find(|r| r["name"] == "deployments/scale")
            .cloned()
            .expect("deployments/scale");
        assert_eq!(
            (scale["group"].as_str(), scale["kind"].as_str()),
            (Some("autoscaling"), Some("Scale"))
        );
        assert!(resources("apps", "v2").is_none());
        let groups = groups();
        let names: Vec<&str> = groups["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .filter_map(|g| g["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "discovery.k8s.io",
                "apps",
                "batch",
                "authorization.k8s.io",
                "authentication.k8s.io",
                "metrics.k8s.io",
                "rbac.authorization.k8s.io",
                "networking.k8s.io",
                "autoscaling",
                "policy",
                "scheduling.k8s.io",
                "storage.k8s.io"
            ]
        );
        let index = openapi_index();
        let url = index["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .expect("url");
        assert!(url.starts_with("/openapi/v3/api/v1?hash="), "{url}");
        // swagger "2.0", info {title, version}, empty paths, as protobuf fields.
        let pb = openapi_v2(true);
        assert!(pb.starts_with(b"\x0a\x032.0\x12"), "{pb:?}");
        assert!(pb.ends_with(b"\x42\x00"), "{pb:?}");
        let v: Value = serde_json::from_slice(&openapi_v2(false)).expect("json");
        assert_eq!(v["swagger"], "2.0");
    }
}
