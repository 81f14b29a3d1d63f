//! What the server asks of the store: the contract between the API and the binary that owns
//! the store (reading pods, starting and deleting them, reading their logs). Every call blocks;
//! the server runs them off its event loop.

use std::io::{Read, Write};

use serde_json::Value;
use tandem_api::UnknownFields;

use crate::cache::Object;
use crate::resource::Resource;
use crate::status::ApiError;

/// `pods/log` options, as `PodLogOptions` names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub timestamps: bool,
    pub tail_lines: Option<i64>,
    pub since_seconds: Option<i64>,
    /// RFC 3339.
    pub since_time: Option<String>,
    pub limit_bytes: Option<u64>,
}

/// A column of a server-side table (`metav1.TableColumnDefinition`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    /// OpenAPI type: `string`, `integer`, `date`, …
    pub type_: &'static str,
    /// `name` for the column that names the object.
    pub format: &'static str,
    pub description: &'static str,
    /// 0: always shown; 1: with `-o wide` only.
    pub priority: u8,
}

/// A log being read: writes it to the given writer until it ends, or the writer fails (the
/// client has gone; a follower flushes between looks so it finds out while the log is quiet).
pub type LogStream = Box<dyn FnOnce(&mut dyn Write) -> std::io::Result<()> + Send>;

/// `pods/exec` options, as `PodExecOptions` names them; `pods/attach`'s too
/// (`PodAttachOptions`: the same without a command).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub container: Option<String>,
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// How a command run by `pods/exec` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEnd {
    /// It exited with this code.
    Exited(i32),
    /// It exited with this code, and the runtime says why (e.g. the executable was not found).
    Failed { code: i32, message: String },
    /// It could not run, or its end is not known.
    Error(String),
}

/// A command started in a container, or a session attached to one: its streams (with a
/// terminal, stdout carries the terminal's output and stdin feeds it; there is no stderr), and
/// its end.
pub struct ExecStreams {
    pub stdin: Option<Box<dyn Write + Send>>,
    pub stdout: Option<Box<dyn Read + Send>>,
    pub stderr: Option<Box<dyn Read + Send>>,
    /// Sets the terminal's size (rows, columns); with a terminal only.
    pub resize: Option<Box<dyn Fn(u16, u16) + Send + Sync>>,
    /// Blocks until the command has ended.
    pub wait: Box<dyn FnOnce() -> ExecEnd + Send>,
    /// Ends the command (its client has gone) and makes `wait` return.
    pub abandon: Box<dyn Fn() + Send + Sync>,
}

/// A created or changed object's warnings, as the API server sends them (`Warning:` headers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Accepted {
    pub warnings: Vec<String>,
}

/// How a create or an update is carried out (`dryRun`, `fieldValidation`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Judged only, nothing changed.
    pub dry_run: bool,
    /// What an unknown field is.
    pub unknown_fields: UnknownFields,
}

/// The store, as the API server sees it.
pub trait Backend: Send + Sync + 'static {
    /// Every object served, as the store holds it now.
    fn snapshot(&self) -> Result<Vec<Object>, ApiError>;

    /// Where the server keeps the objects' field managers (`metadata.managedFields`, which the
    /// store does not hold) across restarts; none: for as long as it runs.
    fn field_managers_file(&self) -> Option<std::path::PathBuf> {
        None
    }

    /// Returns once the store may have changed, or after `timeout`: the server takes a snapshot
    /// after each return. Without a way to be told, it just waits.
    fn wait_for_change(&self, timeout: std::time::Duration) {
        std::thread::sleep(timeout);
    }

    /// Creates `object` (already checked to be of `resource`'s kind) in `namespace`; a dry run
    /// checks it as a creation would and changes nothing.
    fn create(
        &self,
        resource: Resource,
        namespace: &str,
        object: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError>;

    /// Changes `old` into `new` (the whole object after a PATCH, or as a PUT sent it), as an
    /// update of the object is judged and carried out; a dry run judges it only.
    fn update(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        old: &Value,
        new: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError>;

    /// Adds the ephemeral containers `new` (a pod) has and `old` has not, through the pod's
    /// `ephemeralcontainers` subresource (`kubectl debug`); nothing else of `new` is read.
    fn add_ephemeral_containers(
        &self,
        namespace: &str,
        name: &str,
        old: &Value,
        new: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError>;

    /// Changes a pod's status through its `status` subresource (`kubectl patch --subresource=
    /// status`, a controller): `new` is the pod after the change; only its status is read.
    fn update_pod_status(
        &self,
        namespace: &str,
        name: &str,
        old: &Value,
        new: &Value,
        write: WriteOptions,
    ) -> Result<Accepted, ApiError>;

    /// Gives a workload a new number of replicas (its `scale` subresource).
    fn scale(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        replicas: i32,
    ) -> Result<(), ApiError>;

    /// Starts a graceful deletion and returns at once; the object leaves the snapshot when it
    /// is gone. `orphan`: its dependents stay (`propagationPolicy: Orphan`).
    fn delete(
        &self,
        resource: Resource,
        namespace: &str,
        name: &str,
        grace_seconds: Option<u64>,
        orphan: bool,
    ) -> Result<(), ApiError>;

    /// Evicts a pod (`pods/eviction`): deleted gracefully (`grace_seconds`, else its own) if
    /// the PodDisruptionBudgets that select it allow it now, else `429 TooManyRequests`; a dry
    /// run judges only.
    fn evict(
        &self,
        namespace: &str,
        name: &str,
        grace_seconds: Option<u64>,
        dry_run: bool,
    ) -> Result<(), ApiError>;

    /// A pod's log, read as it grows when following (until the container ends). Errors (no
    /// such container, none chosen among several) come before anything is written.
    fn logs(
        &self,
        namespace: &str,
        name: &str,
        options: &LogOptions,
    ) -> Result<LogStream, ApiError>;

    /// The PodMetrics of the running pods of `namespace` (every namespace when `None`), or of
    /// one pod, measured now (`kubectl top pod`).
    fn pod_metrics(
        &self,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> Result<Vec<Value>, ApiError>;

    /// The node's NodeMetrics, measured now (`kubectl top node`).
    fn node_metrics(&self) -> Result<Vec<Value>, ApiError>;

    /// Starts a command in a running container of a pod (`pods/exec`).
    fn exec(
        &self,
        namespace: &str,
        name: &str,
        options: &ExecOptions,
    ) -> Result<ExecStreams, ApiError>;

    /// Attaches to the process already running in a container of a pod (`pods/attach`): its
    /// output from now on, and its input. `wait` returns once the session has ended.
    fn attach(
        &self,
        namespace: &str,
        name: &str,
        options: &ExecOptions,
    ) -> Result<ExecStreams, ApiError>;

    /// Connects to `port` on a running pod's own loopback, from inside its network namespace
    /// (`pods/portforward`), so a server listening on 127.0.0.1 in the pod is reached as with a
    /// cluster's kubelet.
    fn dial(&self, namespace: &str, name: &str, port: u16)
        -> Result<std::net::TcpStream, ApiError>;

    /// The columns of `resource`'s table and each object's cells, as the API server's printers
    /// compute them (`now_us`: the time ages are counted to).
    fn table(
        &self,
        resource: Resource,
        objects: &[&Value],
        now_us: i64,
    ) -> (Vec<Column>, Vec<Vec<Value>>);
}
