//! The pod's network: which network the CLI asked for (`network-request.json`), the CNI ADD once
//! the sandbox exists and the DEL at teardown (through `tandem-network`, whose attachment record
//! `network.json` in the pod directory lets `tandem delete` run the DEL after a supervisor crash),
//! the pod's published ports, and the other pods' names for `/etc/hosts`.

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

/// `(ip, names)` of the other pods in the same store that have an address now: what the pod's
/// `/etc/hosts` lists so pods reach each other by name (kept current by [`refresh_peer_hosts`]).
pub fn peers(dir: &PodDir) -> Vec<(String, Vec<String>)> {
    let Some(parent) = dir.root.parent() else {
        return vec![];
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    let mut out = vec![];
    for d in dirs.into_iter().filter(|d| *d != dir.root) {
        let other = PodDir { root: d };
        let Ok(Some(att)) = tandem_network::read_attachment(&state_path(&other)) else {
            continue;
        };
        let Some(plan) = std::fs::read(other.plan_json())
            .ok()
            .and_then(|b| serde_json::from_slice::<PodPlan>(&b).ok())
        else {
            continue;
        };
        let mut names = vec![plan.name.clone()];
        if plan.hostname != plan.name {
            names.push(plan.hostname.clone());
        }
        names.push(format!("{}.{}", plan.name, plan.namespace));
        for ip in att.pod_ips() {
            out.push((ip, names.clone()));
        }
    }
    out
}

/// Rewrites `/etc/hosts` of every running pod in the store, so a pod that starts or goes is
/// seen by the others at once (there is no cluster DNS on one machine). Called after a pod's
/// network is attached and after it is detached.
///
/// The file is rewritten in place, never renamed: containers see it through a bind mount of the
/// file itself, which follows the inode (mount(2), MS_BIND), so only writing the same inode
/// reaches them. An exclusive flock(2) on the store keeps two supervisors from interleaving.
pub fn refresh_peer_hosts(dir: &PodDir) {
    let Some(parent) = dir.root.parent() else {
        return;
    };
    let Ok(_guard) = lock_hosts(dir) else {
        return;
    };
    let Ok(rd) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in rd.flatten() {
        let other = PodDir { root: entry.path() };
        if other.root == dir.root || other.live_supervisor().is_none() {
            continue;
        }
        let Ok(Some(att)) = tandem_network::read_attachment(&state_path(&other)) else {
            continue;
        };
        let Some(plan) = std::fs::read(other.plan_json())
            .ok()
            .and_then(|b| serde_json::from_slice::<PodPlan>(&b).ok())
        else {
            continue;
        };
        if plan.host_network {
            continue;
        }
        let hosts = crate::volumes::with_peers(
            crate::volumes::hosts_file(&plan, &att.pod_ips()),
            &peers(&other),
        );
        let _ = std::fs::write(other.etc_file("etc-hosts"), hosts);
    }
}

/// Writes the pod's own `/etc/hosts` with `content`, computed under the same store lock as
/// [`refresh_peer_hosts`] takes: a pod that lists its peers and writes its file while another
/// pod rewrites every file would otherwise interleave with it, or overwrite the newer list with
/// an older one. In place, as there: the file keeps its inode (and its owner, the pod's root
/// with a user namespace), which containers see through a bind mount.
pub fn write_own_hosts(dir: &PodDir, content: impl FnOnce() -> String) -> std::io::Result<()> {
    let _guard = lock_hosts(dir)?;
    std::fs::write(dir.etc_file("etc-hosts"), content())
}

/// An exclusive flock(2) on `<store>/hosts.lock`, beside the pods directory (which holds nothing
/// but pod directories), held until the guard drops.
fn lock_hosts(dir: &PodDir) -> std::io::Result<nix::fcntl::Flock<std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    let parent = dir.root.parent().unwrap_or(&dir.root);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(parent.parent().unwrap_or(parent).join("hosts.lock"))?;
    Flock::lock(lock, FlockArg::LockExclusive).map_err(|(_, errno)| errno.into())
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

    #[test]
    fn a_pod_writes_its_own_hosts_file_only_under_the_store_lock() {
        use nix::fcntl::{Flock, FlockArg};
        let store = tempfile::tempdir().expect("tempdir");
        let dir = PodDir {
            root: store.path().join("pods/default_p"),
        };
        std::fs::create_dir_all(&dir.root).expect("pod dir");
        let hosts = dir.etc_file("etc-hosts");
        std::fs::write(&hosts, "old\n").expect("hosts");
        // Held as another supervisor's refresh_peer_hosts holds it (flock(2) locks belong to the
        // open file, so a second open in this process conflicts like another process would).
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(store.path().join("hosts.lock"))
            .expect("lock file");
        let held = Flock::lock(lock, FlockArg::LockExclusive).expect("lock");
        let writer = {
            let dir = dir.clone();
            std::thread::spawn(move || write_own_hosts(&dir, || "new\n".into()))
        };
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert_eq!(
            std::fs::read_to_string(&hosts).expect("hosts"),
            "old\n",
            "written while the lock was held"
        );
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&hosts).expect("stat"));
        drop(held);
        writer.join().expect("writer").expect("write");
        assert_eq!(std::fs::read_to_string(&hosts).expect("hosts"), "new\n");
        let after = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&hosts).expect("stat"));
        assert_eq!(inode, after, "rewritten in place");
    }
}
