//! The HTTPS endpoint: TLS with client certificates, authentication, and each request answered
//! from the watch cache (reads) or through the backend (writes, logs), in the API server's
//! shapes: typed lists, `Table`s for `as=Table`, watch streams of JSON events, `Status` bodies.
//!
//! One thread runs the event loop; the backend's blocking calls run on tokio's blocking pool.
//! A refresher looks at the store every [`LOOK`] and after each write, so a list taken after a
//! write sees it and every watcher sees each change once, in version order.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use hyper::body::Incoming;
use serde_json::Value;

use crate::backend::Backend;
use crate::discovery;
use crate::pki::Credentials;
use crate::reply::{error_response, json_response, json_response_ok, respond, Body};
use crate::request::{route, Query, Route, Target};
use crate::resource::{Resource, Subresource};
use crate::state::Shared;
use crate::status::{ApiError, Reason};
use crate::{reads, sessions, writes};

/// How often the store is looked at for changes made outside the server when the backend has
/// not said it changed.
const LOOK: Duration = Duration::from_millis(250);

/// How long after a change is heard of the store is looked at.
const SETTLE: Duration = Duration::from_millis(5);

/// How long a TLS handshake may take before the connection is dropped.
const HANDSHAKE: Duration = Duration::from_secs(10);

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
        Ok(Server {
            listener,
            tls: Arc::new(tls),
            shared: Arc::new(Shared::new(
                backend,
                start,
                credentials.token.clone(),
                Arc::clone(&credentials.token_keys),
                bound,
            )),
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
                    let backend = Arc::clone(&shared.backend);
                    let _ = tokio::task::spawn_blocking(move || backend.wait_for_change(LOOK)).await;
                    // A change comes as a few writes in a row (a pod's status, then its events):
                    // one look after them.
                    tokio::time::sleep(SETTLE).await;
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
                // Small writes go at once, as Go's servers and clients send them: an exec's
                // keystrokes and SPDY's stream replies must not wait for an acknowledgement.
                let _ = stream.set_nodelay(true);
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

/// The request's bearer token, if it has one.
fn bearer(req: &Request<Incoming>) -> Option<&str> {
    req.headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Whether the request carries the server's bearer token.
fn bearer_ok(req: &Request<Incoming>, token: &str) -> bool {
    let Some(given) = bearer(req) else {
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
    // The kubeconfig's certificate or root's token: the cluster's admin; else a service
    // account's token.
    let user = match certified || bearer_ok(&req, &shared.token) {
        true => Ok(crate::access::admin()),
        false => crate::access::service_account_user(&shared, bearer(&req)),
    };
    let user = match user {
        Ok(user) => user,
        Err(why) => {
            eprintln!(
                "refused {} {} from {peer}: {why}",
                req.method(),
                req.uri().path()
            );
            return error_response(&ApiError::new(Reason::Unauthorized, "Unauthorized"));
        }
    };
    match dispatch(&shared, req, user).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn dispatch(
    shared: &Arc<Shared>,
    req: Request<Incoming>,
    user: crate::rbac::User,
) -> Result<Response<Body>, ApiError> {
    let query = Query::parse(req.uri().query());
    let route = route(req.uri().path())?;
    let user = {
        let authorizer = crate::access::Authorizer::new(shared);
        let user = crate::access::impersonated(&authorizer, req.headers(), user)?;
        let attrs = crate::access::attributes(req.method(), req.uri().path(), &route, &query);
        authorizer.check(&user, &attrs)?;
        user
    };
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    let aggregated = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .and_then(discovery::aggregated_version);
    let plain = |v: Value| Ok(json_response(200, &v));
    match route {
        Route::Health if get => Ok(respond(
            200,
            "text/plain",
            Body::Full(Some(Bytes::from("ok"))),
        )),
        Route::Version if get => plain(discovery::version()),
        Route::CoreVersions | Route::Groups if get && aggregated.is_some() => {
            let version = aggregated.unwrap_or_default();
            let doc = discovery::aggregated(matches!(route, Route::CoreVersions), version);
            Ok(respond(
                200,
                &discovery::aggregated_media(version),
                Body::Full(Some(Bytes::from(doc.to_string()))),
            ))
        }
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
            .map(|doc| respond(200, "application/json", Body::Full(Some(doc))))
            .ok_or_else(crate::request::not_found),
        Route::Object(t) => object(shared, req, t, &query, &user).await,
        _ => Err(not_allowed()),
    }
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
    user: &crate::rbac::User,
) -> Result<Response<Body>, ApiError> {
    let r = t.resource;
    let method = req.method().clone();
    if let (Resource::Review(review), &Method::POST, None, None) =
        (r, &method, &t.name, t.subresource)
    {
        return writes::review(shared, req, review, t.namespace.as_deref(), user).await;
    }
    match (&method, &t.name, t.subresource) {
        (&Method::GET, _, None) if matches!(r, Resource::PodMetrics | Resource::NodeMetrics) => {
            reads::metrics(shared, &t, query).await
        }
        (&Method::GET, None, None) if r.verbs().contains(&"list") => {
            reads::list(shared, &req, &t, query)
        }
        (&Method::GET, Some(name), None) if r.verbs().contains(&"get") => {
            let namespace = t.namespace.as_deref().unwrap_or("");
            reads::get(shared, &req, r, namespace, name, query)
        }
        (
            &Method::GET | &Method::POST,
            Some(name),
            Some(s @ (Subresource::Exec | Subresource::Attach)),
        ) => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            let attach = s == Subresource::Attach;
            sessions::exec(shared, req, namespace, name, query, attach).await
        }
        (&Method::GET | &Method::POST, Some(name), Some(Subresource::PortForward)) => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            sessions::port_forward(shared, req, namespace, name).await
        }
        (&Method::POST, Some(name), Some(Subresource::Token)) => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            writes::token_request(shared, req, namespace, name).await
        }
        (&Method::POST, Some(name), Some(Subresource::Eviction)) => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            writes::evict(shared, req, namespace, name).await
        }
        (&Method::GET | &Method::PATCH | &Method::PUT, Some(name), Some(Subresource::Scale)) => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            writes::scale(shared, req, r, namespace, name, query).await
        }
        (&Method::GET, Some(name), Some(Subresource::Log)) => {
            sessions::logs(
                shared,
                t.namespace.clone().unwrap_or_default(),
                name.clone(),
                query,
            )
            .await
        }
        (&Method::POST, None, None) if r.verbs().contains(&"create") => {
            let namespace = t.namespace.clone().unwrap_or_default();
            writes::create(shared, req, r, namespace, query).await
        }
        (&Method::PATCH | &Method::PUT, Some(name), None)
            if r.verbs().contains(&update_verb(&method)) =>
        {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            writes::update(shared, req, r, namespace, name, query, None).await
        }
        (
            &Method::GET,
            Some(name),
            Some(Subresource::EphemeralContainers | Subresource::Status),
        ) => {
            let namespace = t.namespace.as_deref().unwrap_or("");
            reads::get(shared, &req, r, namespace, name, query)
        }
        (
            &Method::PATCH | &Method::PUT,
            Some(name),
            Some(s @ (Subresource::EphemeralContainers | Subresource::Status)),
        ) => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            writes::update(shared, req, r, namespace, name, query, Some(s)).await
        }
        (&Method::DELETE, Some(name), None) if r.verbs().contains(&"delete") => {
            let (namespace, name) = (t.namespace.clone().unwrap_or_default(), name.clone());
            writes::delete(shared, req, r, namespace, name, query).await
        }
        _ => Err(not_allowed()),
    }
}

/// The verb discovery names a PATCH or a PUT by.
fn update_verb(method: &Method) -> &'static str {
    match *method {
        Method::PUT => "update",
        _ => "patch",
    }
}
