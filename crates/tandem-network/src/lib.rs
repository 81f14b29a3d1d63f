//! Pod networking through the standard CNI plugins (bridge, host-local, portmap, firewall,
//! loopback), called through the CNI protocol: one plugin process per step, the operation and the
//! container in `CNI_*` environment variables, the network configuration as JSON on stdin, a
//! result (or an error) as JSON on stdout.
//!
//! Owns: finding plugins (`/usr/lib/cni`, `/opt/cni/bin`), the built-in network configuration
//! list (bridge `tandem0`, host-local IPAM on `10.87.0.0/24`, portmap, firewall, loopback) and
//! loading another one by name or path, ADD/CHECK/DEL of a configuration list, parsing results
//! (interfaces and IPs), the attachment record a pod keeps on disk so DEL can run even when the
//! process that made the ADD is gone, published-port parsing and conflict checks, and a last sweep
//! of the per-container firewall rules a DEL without a network namespace cannot find.
//!
//! Never: creates or enters namespaces (it is handed a network namespace path, such as
//! `/proc/<pause>/ns/net`), knows what a Pod is, or prints.
//!
//! Layout: `config` (network configuration lists), `cni` (plugin invocation and results),
//! `attach` (ADD/CHECK/DEL and the attachment record), `ports` (`-p` and hostPort mappings),
//! `sweep` (per-container iptables rule removal).

mod attach;
mod builtin;
mod cni;
mod config;
pub mod ipam;
mod links;
mod nat;
mod ports;
mod record;
pub mod services;
mod sweep;

pub use attach::{add, check, del};
pub use cni::{CniResult, Interface, IpConfig};
pub use config::{find_plugin, NetworkConfig, Selection, DEFAULT_CONFIG_DIR, DEFAULT_PLUGIN_DIRS};
pub use ports::{conflicts, PortMapping};
pub use record::{read_attachment, AddRequest, Attachment, Backend, STATE_FILE};

use std::path::PathBuf;

pub use tandem_errors::ErrorKind;

/// Whether pods of the built-in network get IPv6 addresses too (the host has IPv6): a store's
/// Services are then dual-stack by default.
pub use builtin::ipv6_enabled;

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("CNI plugin {plugin:?} is not installed (looked in {dirs}); install it with `apt-get install containernetworking-plugins`")]
    PluginMissing { plugin: String, dirs: String },
    #[error("network configuration {source_name}: {reason}")]
    Config { source_name: String, reason: String },
    #[error("no CNI network named {name:?} in {}", dir.display())]
    NetworkNotFound { name: String, dir: PathBuf },
    #[error("CNI {command} of plugin {plugin} failed: {message}")]
    Plugin {
        plugin: String,
        command: String,
        code: Option<u64>,
        message: String,
    },
    #[error("cannot run CNI plugin {}", path.display())]
    Exec {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CNI plugin {plugin} returned an unusable result: {reason}")]
    BadResult { plugin: String, reason: String },
    #[error("cannot access the network state {}", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the network state {} is corrupt", path.display())]
    StateCorrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid port mapping {spec:?}: {reason}")]
    Port { spec: String, reason: String },
    #[error("cannot set up the pod's link: {step}: {reason}")]
    Netlink { step: String, reason: String },
    #[error("cannot set up the packet filter (nftables table inet tandem): {step}: {reason}")]
    PacketFilter { step: String, reason: String },
    #[error("no address left in {range} (allocations in {})", dir.display())]
    AddressesExhausted { range: String, dir: PathBuf },
}

impl NetworkError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            NetworkError::PluginMissing { .. } => ErrorKind::FailedPrecondition,
            NetworkError::NetworkNotFound { .. } => ErrorKind::NotFound,
            NetworkError::Config { .. } | NetworkError::Port { .. } => ErrorKind::InvalidArgument,
            NetworkError::AddressesExhausted { .. } => ErrorKind::Unavailable,
            NetworkError::Plugin { .. }
            | NetworkError::Netlink { .. }
            | NetworkError::PacketFilter { .. }
            | NetworkError::Exec { .. }
            | NetworkError::BadResult { .. }
            | NetworkError::State { .. }
            | NetworkError::StateCorrupt { .. } => ErrorKind::Internal,
        }
    }
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;
