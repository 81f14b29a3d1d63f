//! Reading objects: lists and single objects as themselves or as `Table`s (kubectl's `get`),
//! and watches that follow the changes after a version.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::backend::Column;
use crate::cache::{EventType, Key};
use crate::reply::{json_response, now_us, respond, Body};
use crate::request::{Query, Target};
use crate::resource::Resource;
use crate::select::Selection;
use crate::state::Shared;
use crate::status::{ApiError, Reason};

/// How a client asked to see objects: as themselves, or as a `Table` (`kubectl get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    Objects,
    /// The Table's apiVersion (`meta.k8s.io/v1` or `v1beta1`) and what each row carries.
    Table(&'static str, Include),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Include {
    None,
    Metadata,
    Object,
}

pub(crate) fn shape(req: &Request<Incoming>, query: &Query) -> Result<Shape, ApiError> {
    let accept = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The first acceptable type wins, as the API server negotiates.
    for media in accept.split(',') {
        let params: Vec<&str> = media.split(';').map(str::trim).collect();
        let table = params.contains(&"as=Table") && params.contains(&"g=meta.k8s.io");
        if table {
            let version = match params.contains(&"v=v1beta1") {
                true => "meta.k8s.io/v1beta1",
                false => "meta.k8s.io/v1",
            };
            let include = match query.get("includeObject") {
                None | Some("" | "Metadata") => Include::Metadata,
                Some("Object") => Include::Object,
                Some("None") => Include::None,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "unsupported includeObject {other:?}: must be None, Metadata or Object"
                    )))
                }
            };
            return Ok(Shape::Table(version, include));
        }
        let base = params.first().copied().unwrap_or("");
        if matches!(base, "application/json" | "*/*" | "application/*" | "") {
            return Ok(Shape::Objects);
        }
    }
    if accept.is_empty() {
        return Ok(Shape::Objects);
    }
    Err(ApiError::new(
        Reason::NotAcceptable,
        format!("only the following media types are accepted: application/json, application/json;as=Table;v=v1;g=meta.k8s.io (asked for {accept})"),
    ))
}

/// A list: `PodList` with the cache's version, or a `Table`.
pub(crate) fn listing(
    shared: &Shared,
    r: Resource,
    items: &[Arc<Value>],
    version: u64,
    shape: Shape,
) -> Value {
    match shape {
        Shape::Table(..) => table(shared, r, items, version, shape),
        Shape::Objects => json!({
            "kind": format!("{}List", r.kind()),
            "apiVersion": r.api_version(),
            "metadata": {"resourceVersion": version.to_string()},
            "items": items.iter().map(|o| (**o).clone()).collect::<Vec<_>>(),
        }),
    }
}

/// The objects as a `Table`, with the backend's columns and cells.
pub(crate) fn table(
    shared: &Shared,
    r: Resource,
    items: &[Arc<Value>],
    version: u64,
    shape: Shape,
) -> Value {
    let Shape::Table(api_version, include) = shape else {
        return Value::Null;
    };
    let refs: Vec<&Value> = items.iter().map(|o| o.as_ref()).collect();
    let (columns, cells) = shared.backend.table(r, &refs, now_us());
    let rows: Vec<Value> = items
        .iter()
        .zip(cells)
        .map(|(o, cells)| {
            let mut row = json!({"cells": cells});
            match include {
                Include::None => {}
                Include::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": api_version,
                        "metadata": o["metadata"],
                    })
                }
                Include::Object => row["object"] = (**o).clone(),
            }
            row
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": api_version,
        "metadata": {"resourceVersion": version.to_string()},
        "columnDefinitions": columns.iter().map(column).collect::<Vec<_>>(),
        "rows": rows,
    })
}

pub(crate) fn column(c: &Column) -> Value {
    json!({
        "name": c.name,
        "type": c.type_,
        "format": c.format,
        "description": c.description,
        "priority": c.priority,
    })
}

/// `?watch=1`: the changes after `resourceVersion` (or the current objects as ADDED, then the
/// changes), as JSON events, one per line, until `timeoutSeconds` or the client leaves.
pub(crate) fn watch(
    shared: &Arc<Shared>,
    t: &Target,
    selection: Selection,
    shape: Shape,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let r = t.resource;
    let namespace = t.namespace.clone();
    let from = match query.get("resourceVersion") {
        None | Some("" | "0") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version: {v:?}")))?,
        ),
    };
    let timeout = query
        .integer("timeoutSeconds")?
        .filter(|s| *s > 0)
        .map(|s| Duration::from_secs(s as u64));
    let relevant =
        move |k: &Key| k.resource == r && namespace.as_ref().is_none_or(|n| k.namespace == *n);
    // Subscribed under the cache's lock: no change falls between what is read here and what
    // the subscription brings.
    let (mut rx, start) = {
        let cache = shared.cache();
        let rx = shared.changes.subscribe();
        let start = match from {
            None => Ok((
                BTreeSet::new(),
                cache
                    .list(r, t.namespace.as_deref())
                    .into_iter()
                    .map(|o| (EventType::Added, key_of(r, &o), o, None))
                    .collect::<Vec<_>>(),
            )),
            Some(v) => cache.since(v).map(|changes| {
                // What matched at `v`: an object's state then is what its first later change
                // replaced, or what it is now.
                let mut then: BTreeMap<Key, Option<Arc<Value>>> = BTreeMap::new();
                for c in changes.iter().filter(|c| relevant(&c.key)) {
                    then.entry(c.key.clone())
                        .or_insert_with(|| c.previous.clone());
                }
                for o in cache.list(r, t.namespace.as_deref()) {
                    then.entry(key_of(r, &o)).or_insert(Some(o));
                }
                let matched = then
                    .into_iter()
                    .filter(|(_, o)| o.as_ref().is_some_and(|o| selection.matches(o)))
                    .map(|(k, _)| k)
                    .collect();
                let events = changes
                    .into_iter()
                    .filter(|c| relevant(&c.key))
                    .map(|c| (c.kind, c.key, c.object, c.previous))
                    .collect();
                (matched, events)
            }),
        };
        (rx, start)
    };
    let (tx, body) = mpsc::channel::<Bytes>(64);
    let shared = Arc::clone(shared);
    let line = move |kind: &str, object: &Value| -> Bytes {
        let object = match shape {
            Shape::Table(..) if kind != "ERROR" => {
                let version = object["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                table(&shared, r, &[Arc::new(object.clone())], version, shape)
            }
            _ => object.clone(),
        };
        let mut text = json!({"type": kind, "object": object}).to_string();
        text.push('\n');
        Bytes::from(text)
    };
    tokio::spawn(async move {
        let (mut matched, events) = match start {
            Ok(s) => s,
            Err(gone) => {
                let status = ApiError::new(
                    Reason::Expired,
                    format!("too old resource version: {} ({})", gone.asked, gone.oldest),
                )
                .status();
                let _ = tx.send(line("ERROR", &status)).await;
                return;
            }
        };
        let deadline = timeout.map(|d| tokio::time::Instant::now() + d);
        let mut pending = events.into_iter();
        loop {
            let next = match pending.next() {
                Some(e) => Some(e),
                None => {
                    let recv = rx.recv();
                    let got = match deadline {
                        Some(d) => match tokio::time::timeout_at(d, recv).await {
                            Ok(got) => got,
                            Err(_) => return,
                        },
                        None => recv.await,
                    };
                    match got {
                        Ok(c) if relevant(&c.key) => Some((c.kind, c.key, c.object, c.previous)),
                        Ok(_) => None,
                        // A watcher too slow to keep up is ended; the client watches again.
                        Err(_) => return,
                    }
                }
            };
            let Some((kind, key, object, _)) = next else {
                continue;
            };
            let was = matched.contains(&key);
            let is = kind != EventType::Deleted && selection.matches(&object);
            let said = match (was, is) {
                (false, true) => EventType::Added,
                (true, true) => EventType::Modified,
                (true, false) => EventType::Deleted,
                (false, false) => continue,
            };
            match is {
                true => matched.insert(key),
                false => matched.remove(&key),
            };
            if tx.send(line(said.as_str(), &object)).await.is_err() {
                return;
            }
        }
    });
    Ok(respond(200, "application/json", Body::Stream(body)))
}

pub(crate) fn key_of(r: Resource, o: &Value) -> Key {
    Key {
        resource: r,
        namespace: o["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        name: o["metadata"]["name"].as_str().unwrap_or("").to_string(),
    }
}

/// A collection: its list at the cache's version, or a watch of it (`?watch=1`).
pub(crate) fn list(
    shared: &Arc<Shared>,
    req: &Request<Incoming>,
    t: &Target,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let r = t.resource;
    let shape = shape(req, query)?;
    let selection = Selection::parse(r, query.get("labelSelector"), query.get("fieldSelector"))?;
    if query.flag("watch")? {
        return watch(shared, t, selection, shape, query);
    }
    let (version, items) = {
        let cache = shared.cache();
        let items: Vec<Arc<Value>> = cache
            .list(r, t.namespace.as_deref())
            .into_iter()
            .filter(|o| selection.matches(o))
            .collect();
        (cache.version(), items)
    };
    Ok(json_response(
        200,
        &listing(shared, r, &items, version, shape),
    ))
}

/// One object, as itself or as a one-row `Table`.
pub(crate) fn get(
    shared: &Arc<Shared>,
    req: &Request<Incoming>,
    r: Resource,
    namespace: &str,
    name: &str,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let shape = shape(req, query)?;
    let (version, found) = {
        let cache = shared.cache();
        (cache.version(), cache.get(r, namespace, name))
    };
    let object = found.ok_or_else(|| ApiError::not_found(r.group(), r.plural(), name))?;
    Ok(json_response(
        200,
        &match shape {
            Shape::Objects => (*object).clone(),
            Shape::Table(..) => table(shared, r, &[object], version, shape),
        },
    ))
}

/// `kubectl top pod`: PodMetrics measured now, of one pod or those the selector picks.
pub(crate) async fn metrics(
    shared: &Arc<Shared>,
    t: &Target,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let r = t.resource;
    let measured = match r {
        Resource::NodeMetrics => Resource::Nodes,
        _ => Resource::Pods,
    };
    let selection = Selection::parse(
        measured,
        query.get("labelSelector"),
        query.get("fieldSelector"),
    )?;
    let backend = Arc::clone(&shared.backend);
    let (namespace, name) = (t.namespace.clone(), t.name.clone());
    let items = crate::state::blocking(move || match measured {
        Resource::Nodes => backend.node_metrics(),
        _ => backend.pod_metrics(namespace.as_deref(), name.as_deref()),
    })
    .await?;
    // One node: asked by name, it is that one or none.
    let items: Vec<Value> = match (&t.name, measured) {
        (Some(name), Resource::Nodes) => items
            .into_iter()
            .filter(|m| m["metadata"]["name"] == name.as_str())
            .collect(),
        _ => items,
    };
    match &t.name {
        Some(name) => items
            .into_iter()
            .next()
            .map(|m| json_response(200, &m))
            .ok_or_else(|| ApiError::not_found(r.group(), r.plural(), name)),
        None => {
            let items: Vec<Value> = items.into_iter().filter(|m| selection.matches(m)).collect();
            Ok(json_response(
                200,
                &json!({
                    "kind": format!("{}List", r.kind()),
                    "apiVersion": r.api_version(),
                    "metadata": {},
                    "items": items,
                }),
            ))
        }
    }
}
