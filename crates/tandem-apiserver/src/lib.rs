//! A Kubernetes API endpoint for one machine's store, so kubectl and every client built on
//! client-go, kube-rs or the Python client reach tandem's pods as they reach a cluster's.
//!
//! Owns: the REST protocol as the API server speaks it — paths and query options
//! ([`request`]), discovery and OpenAPI ([`discovery`]), `Status` bodies ([`status`]),
//! resource versions and watches ([`cache`]), selectors ([`select`]), patches ([`patch`]),
//! field managers and server-side apply ([`fields`]),
//! reads as objects, tables and watches, writes, logs, exec over WebSocket ([`stream`]) or SPDY
//! and port-forward over SPDY, TLS
//! with client certificates and the credentials and kubeconfig ([`pki`]), authorization by
//! RBAC with impersonation ([`rbac`]), the HTTPS server and its routing ([`server`]).
//! Never: reads the store, starts or stops anything, or decides what an object means: every
//! object comes from, and every change goes to, the [`Backend`] the binary gives it.
//!
//! Reading order: `resource → cache → status → backend → discovery → patch → fields → rbac →
//! bootstrap → pki → protoobjects → proto → reply → request → select → state → access → reads →
//! upgrade → exec → stream → spdy → spdyexec → portforward → sessions → writes → server`.

mod access;
pub mod backend;
mod bootstrap;
pub mod cache;
pub mod discovery;
mod exec;
pub mod fields;
pub mod patch;
pub mod pki;
mod portforward;
pub mod proto;
mod protoobjects;
pub mod rbac;
mod reads;
mod reply;
pub mod request;
pub mod resource;
pub mod select;
pub mod server;
mod sessions;
mod spdy;
mod spdyexec;
mod state;
pub mod status;
pub mod stream;
mod upgrade;
mod writes;

pub use backend::{
    Accepted, Backend, Column, ExecEnd, ExecOptions, ExecStreams, LogOptions, LogStream,
    WriteOptions,
};
pub use cache::Object;
pub use pki::Credentials;
pub use resource::{Resource, StoredKind};
pub use server::{ServeError, Server};
pub use status::{ApiError, Cause, Details, Reason};
