//! The attachment record: what a pod's attachment to its network is, kept on disk
//! (`network.json` in the pod's directory) so DEL can run after a crash.
//!
//! The record is written before the network is made and again with the result once it is; it
//! holds the configuration list itself, so a DEL always runs against the configuration the ADD
//! used, even if the files on disk changed since.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{CniResult, NetworkError, PortMapping, Result};

/// The `source` of the built-in network's record and configuration.
pub const BUILTIN_SOURCE: &str = "built-in";

/// The attachment record's file name in a pod directory.
pub const STATE_FILE: &str = "network.json";

/// What to attach.
#[derive(Debug, Clone)]
pub struct AddRequest {
    /// Unique among everything attached to the network (the pod's uid).
    pub container_id: String,
    /// A network namespace path, e.g. `/proc/<pause pid>/ns/net`.
    pub netns: PathBuf,
    /// The interface name inside the namespace (`eth0`).
    pub ifname: String,
    pub port_mappings: Vec<PortMapping>,
}

/// A pod's attachment to a network, as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// The configuration list the ADD used.
    pub network: Value,
    pub source: String,
    pub plugin_dirs: Vec<PathBuf>,
    pub container_id: String,
    pub netns: PathBuf,
    pub ifname: String,
    #[serde(default)]
    pub port_mappings: Vec<PortMapping>,
    /// The list's final result; `None` while the ADD is under way or if it failed.
    #[serde(default)]
    pub result: Option<Value>,
    /// Who made the attachment (a record without one was made by the plugins).
    #[serde(default)]
    pub backend: Backend,
}

/// Who makes and removes an attachment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// The CNI plugins of the configuration list.
    #[default]
    Cni,
    /// tandem itself, for the built-in network ([`crate::builtin`]); `host_ifname` is the host
    /// end of the pod's veth.
    InProcess { host_ifname: String },
}

impl Attachment {
    /// The parsed result (empty when there is none).
    pub fn parsed(&self) -> CniResult {
        self.result
            .as_ref()
            .and_then(|r| CniResult::parse(r).ok())
            .unwrap_or_default()
    }

    pub fn pod_ips(&self) -> Vec<String> {
        self.parsed().pod_ips()
    }
}

pub(crate) fn write_state(path: &Path, a: &Attachment) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(a).map_err(|source| NetworkError::StateCorrupt {
        path: path.into(),
        source,
    })?;
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| NetworkError::State {
            path: path.into(),
            source,
        })
}

/// Reads an attachment record; `Ok(None)` when there is none.
pub fn read_attachment(path: &Path) -> Result<Option<Attachment>> {
    match std::fs::read(path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| NetworkError::StateCorrupt {
                    path: path.into(),
                    source,
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(NetworkError::State {
            path: path.into(),
            source,
        }),
    }
}
