//! The pod's network: which network the CLI asked for (`network-request.json`), the CNI ADD once
//! the sandbox exists and the DEL at teardown (through `tandem-network`, whose attachment record
//! `network.json` in the pod directory lets `tandem delete` run the DEL after a supervisor crash),
//! and the pod's published ports.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tandem_api::plan::PodPlan;
use tandem_network::{NetworkConfig, NetworkError, PortMapping, Selection};

use crate::statedir::PodDir;

/// The request's file name in a pod directory (written by `tandem run`).
pub const REQUEST_FILE: &str = "network-request.json";

/// What `tandem run` asked for the pod's network.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NetworkRequest {
    /// `None`: the built-in network; `none`: loopback only; otherwise a network name (in
    /// `config_dir`) or a configuration file.
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub config_dir: Option<PathBuf>,
    #[serde(default)]
    pub plugin_dirs: Option<Vec<PathBuf>>,
    /// `tandem run -p` publications.
    #[serde(default)]
    pub publish: Vec<PortMapping>,
    /// The store's cluster DNS, the nameserver of `ClusterFirst` pods (`None`: the host's
    /// resolvers, as the kubelet without a `clusterDNS`).
    #[serde(default)]
    pub cluster_dns: Option<ClusterDns>,
}

/// Where a pod's cluster DNS is: its address, and the store whose proxy answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterDns {
    pub ip: String,
    /// The store's Services directory (the proxy's lock and log).
    pub services: PathBuf,
}

impl NetworkRequest {
    pub fn read(dir: &PodDir) -> NetworkRequest {
        std::fs::read(dir.root.join(REQUEST_FILE))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub fn selection(&self) -> Selection {
        Selection {
            network: self.network.clone(),
            config_dir: self.config_dir.clone(),
            plugin_dirs: self.plugin_dirs.clone(),
        }
    }

    /// Loopback only, by request.
    pub fn is_none(&self) -> bool {
        self.network.as_deref() == Some("none")
    }
}

/// The attachment record's path for a pod.
pub fn state_path(dir: &PodDir) -> PathBuf {
    dir.root.join(tandem_network::STATE_FILE)
}

/// Every port the pod publishes on the host: its containers' hostPorts and `run -p`.
pub fn port_mappings(plan: &PodPlan, req: &NetworkRequest) -> Vec<PortMapping> {
    let mut out: Vec<PortMapping> = plan
        .all_containers()
        .flat_map(|c| c.ports.iter())
        .filter_map(|p| {
            Some(PortMapping {
                host_port: p.host_port.filter(|h| *h > 0)?,
                container_port: p.container_port,
                protocol: p.protocol.to_ascii_lowercase(),
                host_ip: p.host_ip.clone().unwrap_or_default(),
            })
        })
        .collect();
    out.extend(req.publish.iter().cloned());
    out
}

/// The pod's addresses once its network is up.
#[derive(Debug, Clone, Default)]
pub struct PodNetwork {
    pub pod_ips: Vec<String>,
    pub host_ip: Option<String>,
    /// A CNI attachment was made and must be deleted at teardown.
    pub attached: bool,
}

/// Attaches the pod's network namespace `netns` to its network. Without the plugins the pod keeps
/// loopback only (the CLI has warned), unless it publishes ports, which cannot work then.
pub fn attach(plan: &PodPlan, dir: &PodDir, netns: &Path) -> Result<PodNetwork, NetworkError> {
    let host_ip = host_ip();
    if plan.host_network {
        return Ok(PodNetwork {
            pod_ips: host_ip.iter().cloned().collect(),
            host_ip,
            attached: false,
        });
    }
    let req = NetworkRequest::read(dir);
    if req.is_none() {
        return Ok(PodNetwork {
            host_ip,
            ..Default::default()
        });
    }
    let cfg = NetworkConfig::load(&req.selection())?;
    let ports = port_mappings(plan, &req);
    let missing = cfg.missing_plugins();
    if let Some(first) = missing.first() {
        if !ports.is_empty() {
            return Err(NetworkError::PluginMissing {
                plugin: first.clone(),
                dirs: cfg
                    .plugin_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        eprintln!(
            "warning: CNI plugins {} not found; the pod has loopback networking only",
            missing.join(", ")
        );
        return Ok(PodNetwork {
            host_ip,
            ..Default::default()
        });
    }
    let att = tandem_network::add(
        &cfg,
        &tandem_network::AddRequest {
            container_id: plan.uid.clone(),
            netns: netns.into(),
            ifname: "eth0".into(),
            port_mappings: ports,
        },
        &state_path(dir),
    )?;
    Ok(PodNetwork {
        pod_ips: att.pod_ips(),
        host_ip,
        attached: true,
    })
}

/// Deletes the pod's attachment, if it has one. `netns_alive`: the namespace recorded is still
/// held by the pod's pause process.
pub fn detach(dir: &PodDir, netns_alive: bool) -> Result<(), NetworkError> {
    tandem_network::del(&state_path(dir), netns_alive)
}

/// The host's address on the interface of its default route (status.hostIP).
pub fn host_ip() -> Option<String> {
    let routes = std::fs::read_to_string("/proc/net/route").ok()?;
    let iface = routes.lines().skip(1).find_map(|l| {
        let mut f = l.split_whitespace();
        let (name, dest) = (f.next()?, f.next()?);
        (dest == "00000000").then(|| name.to_string())
    })?;
    nix::ifaddrs::getifaddrs()
        .ok()?
        .filter(|a| a.interface_name == iface)
        .find_map(|a| a.address?.as_sockaddr_in().map(|s| s.ip().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_ports_and_publications_become_port_mappings() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: x:1\n      ports:\n        - {containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}\n        - {containerPort: 53, protocol: UDP}\n";
        let loaded = tandem_api::load(
            &[tandem_api::Source::new("p.yaml", yaml)],
            &tandem_api::PlanOptions {
                node_name: "n".into(),
                uid: None,
                claims_dir: None,
                ..Default::default()
            },
        )
        .expect("manifest");
        let plan = &loaded.pods[0].plan;
        let req = NetworkRequest {
            publish: vec![PortMapping::parse("9090:90/udp").expect("spec")],
            ..Default::default()
        };
        let got: Vec<String> = port_mappings(plan, &req)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["127.0.0.1:8080:80/tcp", "9090:90/udp"]);
    }
}
