//! The pod's `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`: what they say (as the kubelet
//! writes them, docs/kubelet-rules.md §6.2), writing them into the pod directory, and keeping
//! every running pod's `/etc/hosts` current as other pods come and go (there is no cluster DNS on
//! one machine, so pods find each other by name here).
//!
//! Never mounts anything: the containers' bind mounts of these files are `volumes`' concern.

use std::fs::Permissions;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use tandem_api::plan::{DnsPolicy, PodPlan};

use crate::statedir::PodDir;

#[derive(Debug, thiserror::Error)]
#[error("cannot write the pod's {path}")]
pub struct EtcFileError {
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// `/etc/hosts` as the kubelet writes it for a pod (docs/kubelet-rules.md §6.2).
pub fn hosts_file(plan: &PodPlan, pod_ips: &[String]) -> String {
    let mut s = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n",
    );
    for ip in pod_ips {
        match &plan.subdomain {
            Some(sub) => s.push_str(&format!(
                "{ip}\t{}.{sub}.{}.svc.cluster.local\t{}\n",
                plan.hostname, plan.namespace, plan.hostname
            )),
            None => s.push_str(&format!("{ip}\t{}\n", plan.hostname)),
        }
    }
    if !plan.host_aliases.is_empty() {
        s.push_str("\n# Entries added by HostAliases.\n");
        for a in &plan.host_aliases {
            s.push_str(&format!("{}\t{}\n", a.ip, a.hostnames.join("\t")));
        }
    }
    s
}

/// `/etc/hosts` of a hostNetwork pod: the node's own, then the host aliases (§6.2).
pub fn host_network_hosts_file(plan: &PodPlan, node_hosts: &str) -> String {
    let mut s = String::from("# Kubernetes-managed hosts file (host network).\n");
    s.push_str(node_hosts);
    if !s.ends_with('\n') {
        s.push('\n');
    }
    if !plan.host_aliases.is_empty() {
        s.push_str("\n# Entries added by HostAliases.\n");
        for a in &plan.host_aliases {
            s.push_str(&format!("{}\t{}\n", a.ip, a.hostnames.join("\t")));
        }
    }
    s
}

/// Appends the other tandem pods' addresses, so pods reach each other by name.
pub fn with_peers(mut hosts: String, peers: &[(String, Vec<String>)]) -> String {
    if !peers.is_empty() {
        hosts.push_str("\n# Other tandem pods, kept current by tandem.\n");
        for (ip, names) in peers {
            hosts.push_str(&format!("{ip}\t{}\n", names.join("\t")));
        }
    }
    hosts
}

/// `/etc/resolv.conf` as the kubelet writes it (`pkg/kubelet/network/dns`): for `ClusterFirst`
/// (and `ClusterFirstWithHostNet` on the host's network) the cluster DNS address, the search
/// path `NS.svc.cluster.local svc.cluster.local cluster.local` then the host's, and `ndots:5`; a
/// `ClusterFirst` pod on the host's network, `Default`, or a pod with no cluster DNS (loopback
/// only) gets the host's; `None` only its `dnsConfig`. `dnsConfig` is merged in last.
pub fn resolv_conf(plan: &PodPlan, host: &str, cluster_dns: Option<&str>) -> String {
    let (mut servers, mut searches, mut options) = (vec![], vec![], vec![]);
    let (mut host_servers, mut host_searches, mut host_options) = (vec![], vec![], vec![]);
    for line in host.lines() {
        let mut it = line.split_whitespace();
        match it.next() {
            Some("nameserver") => host_servers.extend(it.map(str::to_string)),
            Some("search") => host_searches.extend(it.map(str::to_string)),
            Some("options") => host_options.extend(it.map(str::to_string)),
            _ => {}
        }
    }
    let cluster_first = match plan.dns_policy {
        DnsPolicy::ClusterFirst => !plan.host_network,
        DnsPolicy::ClusterFirstWithHostNet => true,
        DnsPolicy::Default | DnsPolicy::None => false,
    };
    match (plan.dns_policy, cluster_dns.filter(|_| cluster_first)) {
        (DnsPolicy::None, _) => {}
        (_, Some(ip)) => {
            servers.push(ip.to_string());
            let domain = "cluster.local";
            searches.extend([
                format!("{}.svc.{domain}", plan.namespace),
                format!("svc.{domain}"),
                domain.to_string(),
            ]);
            searches.extend(host_searches);
            options.push("ndots:5".to_string());
        }
        (_, None) => {
            servers = host_servers;
            searches = host_searches;
            options = host_options;
        }
    }
    if let Some(cfg) = &plan.dns_config {
        servers.extend(cfg.nameservers.iter().cloned());
        searches.extend(cfg.searches.iter().cloned());
        for (name, value) in &cfg.options {
            options.retain(|o| o.split(':').next() != Some(name.as_str()));
            options.push(match value {
                Some(v) => format!("{name}:{v}"),
                None => name.clone(),
            });
        }
    }
    let mut s = String::new();
    for n in servers.iter().take(3) {
        s.push_str(&format!("nameserver {n}\n"));
    }
    if !searches.is_empty() {
        s.push_str(&format!("search {}\n", searches.join(" ")));
    }
    if !options.is_empty() {
        s.push_str(&format!("options {}\n", options.join(" ")));
    }
    s
}

/// Writes the pod's /etc/hosts, /etc/hostname and /etc/resolv.conf (mode 0644), which its
/// containers get as bind mounts of these files.
pub fn write(
    plan: &PodPlan,
    dir: &PodDir,
    pod_ips: &[String],
    cluster_dns: Option<&str>,
) -> Result<(), EtcFileError> {
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if plan.host_network {
        let node = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        write_own_hosts(dir, || host_network_hosts_file(plan, &node))
    } else {
        rewrite_own_hosts(plan, dir, pod_ips)
    }?;
    for (name, content) in [
        ("hostname", format!("{}\n", plan.hostname)),
        ("resolv.conf", resolv_conf(plan, &host_resolv, cluster_dns)),
    ] {
        let path = dir.etc_file(name);
        std::fs::write(&path, content)
            .and_then(|()| std::fs::set_permissions(&path, Permissions::from_mode(0o644)))
            .map_err(|source| EtcFileError { path, source })?;
    }
    Ok(())
}

/// Rewrites the pod's own `/etc/hosts` for its (new) addresses with the peers known now: after
/// its sandbox was replaced.
pub fn rewrite_own_hosts(
    plan: &PodPlan,
    dir: &PodDir,
    pod_ips: &[String],
) -> Result<(), EtcFileError> {
    // The peers are listed under the lock other pods rewrite this file with.
    write_own_hosts(dir, || with_peers(hosts_file(plan, pod_ips), &peers(dir)))
}

/// Another pod's network attachment and plan, when it has an address and a readable plan.
fn attached(other: &PodDir) -> Option<(tandem_network::Attachment, PodPlan)> {
    let att = tandem_network::read_attachment(&crate::network::state_path(other)).ok()??;
    let plan = serde_json::from_slice(&std::fs::read(other.plan_json()).ok()?).ok()?;
    Some((att, plan))
}

/// A pod of the store that has an address: its directory, plan and addresses.
struct Addressed {
    dir: PodDir,
    plan: PodPlan,
    ips: Vec<String>,
}

impl Addressed {
    /// `(ip, names)` lines of this pod, as its peers list it.
    fn lines(&self) -> impl Iterator<Item = (String, Vec<String>)> + '_ {
        let plan = &self.plan;
        let mut names = vec![plan.name.clone()];
        if plan.hostname != plan.name {
            names.push(plan.hostname.clone());
        }
        names.push(format!("{}.{}", plan.name, plan.namespace));
        self.ips.iter().map(move |ip| (ip.clone(), names.clone()))
    }
}

/// Every pod in the store of `dir` that has an address now, each read once, in name order.
fn addressed(dir: &PodDir) -> Vec<Addressed> {
    let Some(parent) = dir.root.parent() else {
        return vec![];
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.into_iter()
        .filter_map(|d| {
            let dir = PodDir { root: d };
            let (att, plan) = attached(&dir)?;
            Some(Addressed {
                ips: att.pod_ips(),
                dir,
                plan,
            })
        })
        .collect()
}

/// The lines of every pod in `all` but the one at `own`.
fn lines_of_others(all: &[Addressed], own: &std::path::Path) -> Vec<(String, Vec<String>)> {
    all.iter()
        .filter(|p| p.dir.root != own)
        .flat_map(Addressed::lines)
        .collect()
}

/// `(ip, names)` of the other pods in the same store that have an address now: what the pod's
/// `/etc/hosts` lists so pods reach each other by name (kept current by [`refresh_peer_hosts`]).
pub fn peers(dir: &PodDir) -> Vec<(String, Vec<String>)> {
    lines_of_others(&addressed(dir), &dir.root)
}

/// Rewrites `/etc/hosts` of every running pod in the store, so a pod that starts or goes is
/// seen by the others at once (there is no cluster DNS on one machine). Called after a pod's
/// network is attached and after it is detached.
///
/// The file is rewritten in place, never renamed: containers see it through a bind mount of the
/// file itself, which follows the inode (mount(2), MS_BIND), so only writing the same inode
/// reaches them. An exclusive flock(2) on the store keeps two supervisors from interleaving.
pub fn refresh_peer_hosts(dir: &PodDir) {
    let Ok(_guard) = lock_hosts(dir) else {
        return;
    };
    // Every pod's plan and addresses are read once, not once per pod rewritten: the work of one
    // refresh grows with the number of pods, not with its square.
    let all = addressed(dir);
    for other in &all {
        if other.dir.root == dir.root
            || other.plan.host_network
            || other.dir.live_supervisor().is_none()
        {
            continue;
        }
        let hosts = with_peers(
            hosts_file(&other.plan, &other.ips),
            &lines_of_others(&all, &other.dir.root),
        );
        let _ = std::fs::write(other.dir.etc_file("etc-hosts"), hosts);
    }
}

/// Writes the pod's own `/etc/hosts` with `content`, computed under the same store lock as
/// [`refresh_peer_hosts`] takes: a pod that lists its peers and writes its file while another
/// pod rewrites every file would otherwise interleave with it, or overwrite the newer list with
/// an older one. In place, as there: the file keeps its inode (and its owner, the pod's root
/// with a user namespace), which containers see through a bind mount.
pub fn write_own_hosts(dir: &PodDir, content: impl FnOnce() -> String) -> Result<(), EtcFileError> {
    let path = dir.etc_file("etc-hosts");
    lock_hosts(dir)
        .and_then(|_guard| std::fs::write(&path, content()))
        .and_then(|()| std::fs::set_permissions(&path, Permissions::from_mode(0o644)))
        .map_err(|source| EtcFileError { path, source })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_merges_dns_config_options() {
        let mut plan_dns = tandem_api::plan::DnsConfig::default();
        plan_dns.nameservers.push("10.0.0.53".into());
        plan_dns.options.push(("ndots".into(), Some("2".into())));
        let host = "nameserver 1.1.1.1\nsearch example.org\noptions ndots:1 rotate\n";
        let out = resolv_conf_with(DnsPolicy::Default, Some(plan_dns.clone()), host, None);
        assert_eq!(out, "nameserver 1.1.1.1\nnameserver 10.0.0.53\nsearch example.org\noptions rotate ndots:2\n");
        let none = resolv_conf_with(
            DnsPolicy::None,
            Some(plan_dns.clone()),
            host,
            Some("10.96.0.10"),
        );
        assert_eq!(none, "nameserver 10.0.0.53\noptions ndots:2\n");
        // ClusterFirst with the cluster's DNS: its address, the namespace's search path first,
        // the host's after it, ndots:5 (the host's options are not the cluster's).
        let cluster = resolv_conf_with(DnsPolicy::ClusterFirst, None, host, Some("10.96.0.10"));
        assert_eq!(cluster, "nameserver 10.96.0.10\nsearch default.svc.cluster.local svc.cluster.local cluster.local example.org\noptions ndots:5\n");
        let merged = resolv_conf_with(
            DnsPolicy::ClusterFirst,
            Some(plan_dns),
            host,
            Some("10.96.0.10"),
        );
        assert_eq!(merged, "nameserver 10.96.0.10\nnameserver 10.0.0.53\nsearch default.svc.cluster.local svc.cluster.local cluster.local example.org\noptions ndots:2\n");
        // Without a cluster DNS (a pod with loopback only): the host's, as the kubelet falls
        // back to Default.
        let fallback = resolv_conf_with(DnsPolicy::ClusterFirst, None, host, None);
        assert_eq!(
            fallback,
            "nameserver 1.1.1.1\nsearch example.org\noptions ndots:1 rotate\n"
        );
    }

    fn resolv_conf_with(
        policy: DnsPolicy,
        cfg: Option<tandem_api::plan::DnsConfig>,
        host: &str,
        cluster_dns: Option<&str>,
    ) -> String {
        let plan: PodPlan = serde_json::from_value(serde_json::json!({
            "name": "p", "namespace": "default", "uid": "u", "labels": {}, "annotations": {}, "hostname": "p",
            "subdomain": null, "restart_policy": "Always", "termination_grace_period_seconds": 30,
            "active_deadline_seconds": null, "init_containers": [], "containers": [], "volumes": [],
            "dns_policy": policy, "dns_config": cfg, "host_aliases": [], "host_network": false, "host_pid": false,
            "host_ipc": false, "share_process_namespace": false, "service_account_name": "default",
            "node_name": "n", "security": {"run_as_user": null, "run_as_group": null, "run_as_non_root": null,
            "fs_group": null, "fs_group_change_policy": null, "supplemental_groups": [], "sysctls": []},
            "enable_service_links": true
        }))
        .expect("plan");
        resolv_conf(&plan, host, cluster_dns)
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
