//! The HTTPS endpoint: TLS with client certificates, authentication, and each request answered
//! from the watch cache (reads) or through the backend (writes, logs), in the API server's
//! shapes: typed lists, `Table`s for `as=Table`, watch streams of JSON events, `Status` bodies.
//!
//! One thread runs the event loop; the backend's blocking calls run on tokio's blocking pool.
//! A refresher looks at the store every [`LOOK`] and after each write, so a list taken after a
//! write sees it and every watcher sees each change once, in version order.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;
use hyper::body::{Frame, Incoming};
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};

use crate::backend::{Backend, Column, ExecOptions, LogOptions};
use crate::cache::{Cache, Change, EventType, Key};
use crate::discovery;
use crate::patch::PatchType;
use crate::pki::Credentials;
use crate::request::{route, Query, Route, Target};
use crate::resource::{Resource, Subresource};
use crate::select::Selection;
use crate::status::{ApiError, Reason};

/// How often the store is looked at for changes made outside the server.
const LOOK: Duration = Duration::from_millis(250);

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The largest request body read (the API server's limit is 3 MiB for objects).
const MAX_BODY: usize = 3 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up TLS")]
    Tls(#[from] rustls::Error),
    #[error("cannot set up client-certificate verification")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("cannot start the server's event loop")]
    Runtime(#[source] std::io::Error),
}

struct Shared {
    backend: Arc<dyn Backend>,
    cache: Mutex<Cache>,
    changes: broadcast::Sender<Change>,
    /// One refresh at a time, so snapshots reach the cache in the order they were taken.
    refreshing: tokio::sync::Mutex<()>,
    token: String,
    address: SocketAddr,
}

impl Shared {
    fn cache(&self) -> MutexGuard<'_, Cache> {
        // The cache stays consistent whatever a panicking holder did: `update` changes it only
        // after computing each change.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a snapshot of the store into the cache and tells every watcher what changed.
    async fn refresh(self: &Arc<Self>) -> Result<(), ApiError> {
        let _one = self.refreshing.lock().await;
        let backend = Arc::clone(&self.backend);
        let snapshot = blocking(move || backend.snapshot()).await?;
        let mut cache = self.cache();
        for change in cache.update(snapshot) {
            // No receiver is no error: nobody watches.
            let _ = self.changes.send(change);
        }
        Ok(())
    }
}

/// Runs a blocking backend call on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the store's worker failed: {e}")))?
}

/// A bound server, ready to run.
pub struct Server {
    listener: std::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    shared: Arc<Shared>,
}

impl Server {
    /// Binds `address` (port 0: any free port) and prepares TLS for `credentials`: clients
    /// must present a certificate the CA signed, or the bearer token.
    pub fn bind(
        address: SocketAddr,
        credentials: &Credentials,
        backend: Arc<dyn Backend>,
    ) -> Result<Server, ServeError> {
        let listener = std::net::TcpListener::bind(address)
            .map_err(|source| ServeError::Bind { address, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { address, source })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(credentials.ca.clone())?;
        // Unauthenticated TLS is allowed so that a bearer token can admit a client instead;
        // a request with neither is refused with 401 before anything else is looked at.
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::clone(&provider),
        )
        .allow_unauthenticated()
        .build()?;
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                credentials.server_chain.clone(),
                credentials.server_key.clone_key(),
            )?;
        // HTTP/1.1 only: exec, attach and port-forward upgrade the connection to a WebSocket.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as u64);
        let (changes, _) = broadcast::channel(4096);
        Ok(Server {
            listener,
            tls: Arc::new(tls),
            shared: Arc::new(Shared {
                backend,
                cache: Mutex::new(Cache::new(start)),
                changes,
                refreshing: tokio::sync::Mutex::new(()),
                token: credentials.token.clone(),
                address: bound,
            }),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.address
    }

    /// Serves until the process ends.
    pub fn run(self) -> Result<(), ServeError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        runtime.block_on(async move {
            self.listener
                .set_nonblocking(true)
                .map_err(ServeError::Runtime)?;
            let listener =
                tokio::net::TcpListener::from_std(self.listener).map_err(ServeError::Runtime)?;
            if let Err(e) = self.shared.refresh().await {
                eprintln!("warning: {e}");
            }
            let shared = Arc::clone(&self.shared);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LOOK).await;
                    if let Err(e) = shared.refresh().await {
                        eprintln!("warning: {e}");
                    }
                }
            });
            let acceptor = tokio_rustls::TlsAcceptor::from(self.tls);
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(s) => s,
                    Err(e) => {
                        // Out of descriptors, say: wait a little rather than spin.
                        eprintln!("warning: cannot accept a connection: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let shared = Arc::clone(&self.shared);
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    let certified = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .is_some_and(|c| !c.is_empty());
                    let service = hyper::service::service_fn(move |req| {
                        let shared = Arc::clone(&shared);
                        async move { Ok::<_, Infallible>(handle(shared, req, certified, peer).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .with_upgrades()
                        .await;
                });
            }
        })
    }
}

/// A response body: whole, or streamed from a channel (watches, followed logs).
pub enum Body {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Body::Stream(rx) => rx.poll_recv(cx).map(|d| d.map(|d| Ok(Frame::data(d)))),
        }
    }
}

fn respond(code: u16, content_type: &str, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

fn json_response(code: u16, value: &Value) -> Response<Body> {
    respond(
        code,
        "application/json",
        Body::Full(Some(Bytes::from(value.to_string()))),
    )
}

fn error_response(e: &ApiError) -> Response<Body> {
    json_response(e.reason.code(), &e.status())
}

/// Whether the request carries the server's bearer token.
fn bearer_ok(req: &Request<Incoming>, token: &str) -> bool {
    let Some(given) = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    // Compared in constant time: the answer's timing says nothing of how much matched.
    given.len() == token.len()
        && given
            .bytes()
            .zip(token.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
    certified: bool,
    peer: SocketAddr,
) -> Response<Body> {
    if !certified && !bearer_ok(&req, &shared.token) {
        eprintln!(
            "refused {} {} from {peer}: no client certificate and no valid bearer token",
            req.method(),
            req.uri().path()
        );
        return error_response(&ApiError::new(Reason::Unauthorized, "Unauthorized"));
    }
    match dispatch(&shared, req).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

/// How a client asked to see objects: as themselves, or as a `Table` (`kubectl get`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Objects,
    /// The Table's apiVersion (`meta.k8s.io/v1` or `v1beta1`) and what each row carries.
    Table(&'static str, Include),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Include {
    None,
    Metadata,
    Object,
}

fn shape(req: &Request<Incoming>, query: &Query) -> Result<Shape, ApiError> {
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

async fn dispatch(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(req.uri().query());
    let route = route(req.uri().path())?;
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    let plain = |v: Value| Ok(json_response(200, &v));
    match route {
        Route::Health if get => Ok(respond(
            200,
            "text/plain",
            Body::Full(Some(Bytes::from("ok"))),
        )),
        Route::Version if get => plain(discovery::version()),
        Route::CoreVersions if get => plain(discovery::core_versions(&shared.address.to_string())),
        Route::Groups if get => plain(discovery::groups()),
        Route::GroupVersion { group, version } if get => discovery::resources(&group, &version)
            .map(json_response_ok)
            .ok_or_else(crate::request::not_found),
        Route::OpenApiV2 if get => {
            let protobuf = req
                .headers()
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("protobuf"));
            let media = match protobuf {
                true => discovery::OPENAPI_V2_PROTOBUF,
                false => "application/json",
            };
            Ok(respond(
                200,
                media,
                Body::Full(Some(Bytes::from(discovery::openapi_v2(protobuf)))),
            ))
        }
        Route::OpenApiIndex if get => plain(discovery::openapi_index()),
        Route::OpenApi { group, version } if get => discovery::openapi_document(&group, &version)
            .map(json_response_ok)
            .ok_or_else(crate::request::not_found),
        Route::Object(t) => object(shared, req, t, &query).await,
        Route::NotYet { what, instead } => Err(ApiError::bad_request(format!(
            "{what} is not supported by tandem yet; {instead}"
        ))),
        _ => Err(not_allowed()),
    }
}

fn json_response_ok(v: Value) -> Response<Body> {
    json_response(200, &v)
}

fn not_allowed() -> ApiError {
    ApiError::new(
        Reason::MethodNotAllowed,
        "the server does not allow this method on the requested resource",
    )
}

async fn object(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    t: Target,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let r = t.resource;
    let method = req.method().clone();
    match (&method, &t.name, t.subresource) {
        (&Method::POST, None, None) if r == Resource::SelfSubjectAccessReviews => {
            access_review(req).await
        }
        (&Method::GET, None, None) if r.verbs().contains(&"list") => {
            let shape = shape(&req, query)?;
            let selection =
                Selection::parse(r, query.get("labelSelector"), query.get("fieldSelector"))?;
            if query.flag("watch")? {
                return watch(shared, &t, selection, shape, query);
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
        (&Method::GET, Some(name), None) if r.verbs().contains(&"get") => {
            let shape = shape(&req, query)?;
            let (version, found) = {
                let cache = shared.cache();
                (
                    cache.version(),
                    cache.get(r, t.namespace.as_deref().unwrap_or(""), name),
                )
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
        (&Method::GET | &Method::POST, Some(name), Some(Subresource::Exec)) => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            exec(shared, req, namespace, name, query).await
        }
        (&Method::GET | &Method::PATCH | &Method::PUT, Some(name), Some(Subresource::Scale)) => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            scale(shared, req, r, namespace, name, query).await
        }
        (&Method::GET, Some(name), Some(Subresource::Log)) => {
            logs(
                shared,
                t.namespace.clone().unwrap_or_default(),
                name.clone(),
                query,
            )
            .await
        }
        (&Method::POST, None, None) if r.verbs().contains(&"create") => {
            let namespace = t.namespace.clone().unwrap_or_default();
            create(shared, req, r, namespace, query).await
        }
        (&Method::PATCH, Some(name), None) if r.verbs().contains(&"patch") => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            patch(shared, req, r, namespace, name, query).await
        }
        (&Method::DELETE, Some(name), None) if r.verbs().contains(&"delete") => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            delete(shared, req, r, namespace, name, query).await
        }
        _ => Err(not_allowed()),
    }
}

/// `kubectl auth can-i`: whoever got in holds the kubeconfig, and may do all that is served. The
/// review's spec is echoed when it came as JSON; kubectl sends it as protobuf, which is not read
/// (the answer does not depend on it) and answered in JSON, which clients accept.
async fn access_review(req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let body = read_body(req).await?;
    let spec = serde_json::from_slice::<Value>(&body)
        .map(|v| v["spec"].clone())
        .unwrap_or_else(|_| json!({}));
    let review = json!({
        "kind": Resource::SelfSubjectAccessReviews.kind(),
        "apiVersion": Resource::SelfSubjectAccessReviews.api_version(),
        "metadata": {},
        "spec": spec,
        "status": {
            "allowed": true,
            "reason": "tandem admits only the holders of its kubeconfig, and lets them do all it serves",
        },
    });
    Ok(json_response(201, &review))
}

/// A list: `PodList` with the cache's version, or a `Table`.
fn listing(
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

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The objects as a `Table`, with the backend's columns and cells.
fn table(shared: &Shared, r: Resource, items: &[Arc<Value>], version: u64, shape: Shape) -> Value {
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

fn column(c: &Column) -> Value {
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
fn watch(
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

fn key_of(r: Resource, o: &Value) -> Key {
    Key {
        resource: r,
        namespace: o["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string(),
        name: o["metadata"]["name"].as_str().unwrap_or("").to_string(),
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let limited = http_body_util::Limited::new(req.into_body(), MAX_BODY);
    limited.collect().await.map(|c| c.to_bytes()).map_err(|e| {
        ApiError::new(
            Reason::BadRequest,
            format!("cannot read the request body: {e}"),
        )
    })
}

/// The `dryRun` parameter: `All` or nothing, as the API server takes it.
fn dry_run(query: &Query) -> Result<bool, ApiError> {
    match query.get("dryRun") {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Unsupported value: {other:?}: supported values: \"All\""
        ))),
    }
}

async fn create(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    r: Resource,
    namespace: String,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let dry_run = dry_run(query)?;
    let strict = match query.get("fieldValidation") {
        None | Some("" | "Strict" | "Warn") => true,
        Some("Ignore") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "fieldValidation {other:?} is not one of Ignore, Warn or Strict"
            )))
        }
    };
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
    if !content_type.starts_with("application/json") {
        return Err(ApiError::new(
            Reason::UnsupportedMediaType,
            format!("the body of the request was in an unknown format - accepted media types include: application/json (got {content_type})"),
        ));
    }
    let body = read_body(req).await?;
    let mut object: Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!("the object provided is not valid JSON: {e}"))
    })?;
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
    match object["metadata"]["namespace"].as_str() {
        Some(ns) if !ns.is_empty() && ns != namespace => return Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), json!(namespace));
            }
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
    let backend = Arc::clone(&shared.backend);
    let (ns, submitted) = (namespace.clone(), object.clone());
    let created = blocking(move || backend.create(r, &ns, &submitted, dry_run, strict)).await?;
    let answer = match dry_run {
        true => object,
        false => {
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

async fn patch(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    r: Resource,
    namespace: String,
    name: String,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let dry_run = dry_run(query)?;
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let kind = PatchType::from_content_type(&content_type)?;
    let body = read_body(req).await?;
    let Some(current) = shared.cache().get(r, &namespace, &name) else {
        return Err(ApiError::not_found(r.group(), r.plural(), &name));
    };
    let new = crate::patch::apply(&current, &body, kind)?;
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
    let backend = Arc::clone(&shared.backend);
    let (ns, n, old, changed) = (
        namespace.clone(),
        name.clone(),
        Arc::clone(&current),
        new.clone(),
    );
    blocking(move || backend.update(r, &ns, &n, &old, &changed, dry_run)).await?;
    if dry_run {
        return Ok(json_response(200, &new));
    }
    shared.refresh().await?;
    let answer = shared
        .cache()
        .get(r, &namespace, &name)
        .map_or(new, |o| (*o).clone());
    Ok(json_response(200, &answer))
}

/// A workload's `autoscaling/v1` Scale: its replicas asked for and had, and its selector.
fn scale_of(object: &Value) -> Value {
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
async fn scale(
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
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_string();
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
fn qualified(r: Resource) -> String {
    match r.group() {
        "" => r.plural().to_string(),
        g => format!("{}.{g}", r.plural()),
    }
}

/// Adds a `Warning` header as the API server sends one (RFC 7234 warn-code 299).
fn warn(response: &mut Response<Body>, text: &str) {
    let clean: String = text
        .chars()
        .map(|c| if c == '"' || c.is_control() { '\'' } else { c })
        .collect();
    if let Ok(v) = http::HeaderValue::from_str(&format!("299 - \"{clean}\"")) {
        response.headers_mut().append(http::header::WARNING, v);
    }
}

async fn delete(
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
    let Some(current) = shared.cache().get(r, &namespace, &name) else {
        return Err(ApiError::not_found(r.group(), r.plural(), &name));
    };
    let mut answer = (*current).clone();
    if !dry_run {
        let backend = Arc::clone(&shared.backend);
        let (ns, n) = (namespace.clone(), name.clone());
        let grace_seconds = grace.map(|g| g.max(0) as u64);
        blocking(move || backend.delete(r, &ns, &n, grace_seconds)).await?;
        shared.refresh().await?;
        if let Some(now) = shared.cache().get(r, &namespace, &name) {
            answer = (*now).clone();
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
fn answer_grace(object: &Value) -> i64 {
    object["spec"]["terminationGracePeriodSeconds"]
        .as_i64()
        .unwrap_or(30)
}

fn rfc3339_now() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

async fn logs(
    shared: &Arc<Shared>,
    namespace: String,
    name: String,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let options = LogOptions {
        container: query
            .get("container")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        follow: query.flag("follow")?,
        previous: query.flag("previous")?,
        timestamps: query.flag("timestamps")?,
        tail_lines: query.integer("tailLines")?,
        since_seconds: query.integer("sinceSeconds")?,
        since_time: query
            .get("sinceTime")
            .filter(|t| !t.is_empty())
            .map(str::to_string),
        limit_bytes: query.integer("limitBytes")?.map(|b| b.max(0) as u64),
    };
    if shared
        .cache()
        .get(Resource::Pods, &namespace, &name)
        .is_none()
    {
        return Err(ApiError::not_found("", "pods", &name));
    }
    let backend = Arc::clone(&shared.backend);
    let stream = blocking(move || backend.logs(&namespace, &name, &options)).await?;
    let (tx, body) = mpsc::channel::<Bytes>(16);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter(tx);
        // The stream ends when the log does or the client has gone (a write or flush fails).
        let _ = stream(&mut out);
    });
    Ok(respond(200, "text/plain", Body::Stream(body)))
}

async fn exec(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    namespace: String,
    name: String,
    query: &Query,
) -> Result<Response<Body>, ApiError> {
    let options = ExecOptions {
        container: query
            .get("container")
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        command: query.all("command"),
        stdin: query.flag("stdin")?,
        stdout: query.flag("stdout")?,
        stderr: query.flag("stderr")?,
        tty: query.flag("tty")?,
    };
    if options.command.is_empty() {
        return Err(ApiError::bad_request("you must specify at least 1 command"));
    }
    if !(options.stdin || options.stdout || options.stderr) {
        return Err(ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    let upgrade = crate::stream::upgrade(&req)?;
    if shared
        .cache()
        .get(Resource::Pods, &namespace, &name)
        .is_none()
    {
        return Err(ApiError::not_found("", "pods", &name));
    }
    let backend = Arc::clone(&shared.backend);
    let streams = blocking(move || backend.exec(&namespace, &name, &options)).await?;
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => crate::stream::serve_exec(upgraded, streams).await,
            Err(_) => (streams.abandon)(),
        }
    });
    Ok(upgrade.response(Body::Full(None)))
}

/// A writer into a response body; writing or flushing fails once the client has gone.
struct ChannelWriter(mpsc::Sender<Bytes>);

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Bytes::copy_from_slice(buf))
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self.0.is_closed() {
            true => Err(std::io::Error::from(std::io::ErrorKind::BrokenPipe)),
            false => Ok(()),
        }
    }
}
