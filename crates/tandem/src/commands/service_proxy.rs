//! The store's proxy, `tandem __proxy SERVICES PODS`: one process per store, as each workload
//! has its controller (no daemon), running while the store has a Service or a running pod.
//! Every quarter second it reads the pods, asks `tandem_controllers::endpoints` for each
//! Service's endpoints, writes those that changed, rewrites the kernel's rules
//! (`tandem_network::services`) when what they route changed, and gives the cluster DNS server
//! it runs (`tandem_dns`) the names of the day; the store's cluster DNS address leads to that
//! server's loopback port. When the last Service and running pod go it removes its rules,
//! gives the cluster DNS address back and exits.
//!
//! It holds `proxy.lock` (flock) for its life, so one runs per store and a dead one is seen at
//! once; a command that makes a Service or a pod starts it when none runs, and after a kill -9
//! each pod's supervisor starts it again within two seconds (`tandem_supervisor::proxy`), as do
//! `get` and `delete` (the kernel's rules stay meanwhile: traffic flows, only endpoint changes
//! and DNS answers wait).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use tandem_api::services::{is_headless, ServiceType};
use tandem_controllers::endpoints::{endpoint_slices, labelled_for, members};
use tandem_network::services::{Backend, IpFamily, Transport, VirtualPort};
use tandem_supervisor::proxy::{self, ProxyArgs};
use tandem_supervisor::statedir::{write_atomic, Store};

use super::service_store::{
    allocation_lock, list, manual_slices, name_of, namespace_of, net_family, read_store_addresses,
    release_store_addresses, table_name,
};

/// How often the proxy looks at the pods.
const PERIOD: std::time::Duration = std::time::Duration::from_millis(250);

/// Starts the proxy when none runs and there is work for it: a Service, a pod (whose cluster
/// DNS it serves), or rules of Services that are gone. The proxy sees to the rest.
pub fn ensure_proxy(store: &Store, exe: &Path) -> anyhow::Result<()> {
    start_proxy(store, exe).map(drop)
}

/// [`ensure_proxy`], returning the proxy it started, if it started one.
fn start_proxy(store: &Store, exe: &Path) -> anyhow::Result<Option<std::process::Child>> {
    if proxy::running(&store.services) {
        return Ok(None);
    }
    if list(store).is_empty()
        && !has_pods(store)
        && !tandem_network::services::present(&table_name(store))
    {
        return Ok(None);
    }
    std::fs::create_dir_all(&store.services)
        .with_context(|| format!("cannot create {}", store.services.display()))?;
    let args = ProxyArgs {
        services: store.services.clone(),
        pods: store.pods.clone(),
    };
    // Not waited for: it outlives this command (whoever inherits it collects its exit).
    proxy::spawn(exe, &args, None)
        .map(Some)
        .context("cannot start the Services' proxy")
}

pub fn proxy_main(a: &ProxyArgs) -> i32 {
    proxy::leave_session();
    let mut store = Store::new(None);
    store.services = a.services.clone();
    store.pods = a.pods.clone();
    sweep_orphaned_tables();
    super::service_store::sweep_abandoned_reservations();
    match proxy(&store) {
        Ok(()) => 0,
        Err(e) => {
            // A store removed under the proxy (its directory gone mid-look) takes its rules
            // with it: nobody would start a proxy for it again to remove them.
            if !store.services.is_dir() {
                forget_table(&store);
            }
            eprintln!("error: {e:#}");
            1
        }
    }
}

/// Which store each Services table belongs to, machine-wide (tables are the machine's): one
/// file per table, named as the table and holding the store's Services directory, written when
/// the table is first made and removed with it.
const TABLE_RECORDS: &str = "/run/tandem/service-tables";

/// Removes the store's table, its record and `proxy.table`.
fn forget_table(store: &Store) {
    let name = table_name(store);
    if let Err(e) = tandem_network::services::remove(&name) {
        eprintln!("error: {e}");
        return;
    }
    let _ = std::fs::remove_file(Path::new(TABLE_RECORDS).join(&name));
    let _ = std::fs::remove_file(table_file(store));
}

/// Removes the tables of stores that no longer exist (removed by hand with their proxy killed,
/// say), as each proxy starts: their rules would still catch their old addresses, which other
/// stores may be given.
fn sweep_orphaned_tables() {
    for record in std::fs::read_dir(TABLE_RECORDS)
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(services) = std::fs::read_to_string(record.path()) else {
            continue;
        };
        if Path::new(services.trim()).is_dir() {
            continue;
        }
        let name = record.file_name().to_string_lossy().into_owned();
        match tandem_network::services::remove(&name) {
            Ok(()) => {
                let _ = std::fs::remove_file(record.path());
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
}

/// The pods of the store, read again only when their `pod.json` changed; a pod whose supervisor
/// is gone is not ready (its containers run unwatched: no probe says they are).
struct Pods {
    cache: HashMap<PathBuf, (SystemTime, Pod)>,
}

impl Pods {
    fn look(&mut self, store: &Store) -> Vec<Pod> {
        let dirs = store.list().unwrap_or_default();
        let mut seen = HashMap::new();
        for d in dirs {
            let path = d.pod_json();
            let Ok(modified) = std::fs::metadata(&path).and_then(|m| m.modified()) else {
                continue;
            };
            let pod = match self.cache.remove(&path) {
                Some((t, pod)) if t == modified => pod,
                _ => {
                    let Some(pod) = std::fs::read(&path)
                        .ok()
                        .and_then(|b| serde_json::from_slice::<Pod>(&b).ok())
                    else {
                        continue;
                    };
                    pod
                }
            };
            let mut shown = pod.clone();
            if d.live_supervisor().is_none() {
                for c in shown
                    .status
                    .iter_mut()
                    .flat_map(|s| s.conditions.iter_mut().flatten())
                {
                    if c.type_ == "Ready" {
                        c.status = "False".into();
                    }
                }
            }
            seen.insert(path, (modified, pod, shown));
        }
        let mut out = Vec::new();
        for (path, (t, pod, shown)) in seen {
            self.cache.insert(path, (t, pod));
            out.push(shown);
        }
        out
    }
}

/// The IP families a Service is routed in, each with its cluster IP when it has one: its
/// `ipFamilies` (with `clusterIPs` in the same order), else those of its cluster IPs.
fn families_of(s: &Service) -> Vec<(IpFamily, Option<IpAddr>)> {
    let spec = s.spec.clone().unwrap_or_default();
    let ips: Vec<IpAddr> = spec
        .cluster_ips
        .iter()
        .flatten()
        .chain(spec.cluster_ip.iter())
        .filter_map(|c| c.parse().ok())
        .collect();
    let named: Vec<IpFamily> = spec
        .ip_families
        .iter()
        .flatten()
        .filter_map(|f| tandem_api::services::IpFamily::parse(f).map(net_family))
        .collect();
    let mut families = if named.is_empty() {
        ips.iter().map(|ip| IpFamily::of(*ip)).collect()
    } else {
        named
    };
    families.dedup();
    families
        .into_iter()
        .map(|f| (f, ips.iter().copied().find(|ip| IpFamily::of(*ip) == f)))
        .collect()
}

/// What the kernel routes for one Service: a [`VirtualPort`] per TCP or UDP port and IP family,
/// its backends from the slices of that family (the slice port named as the Service port).
fn virtual_ports(s: &Service, slices: &[EndpointSlice]) -> Vec<VirtualPort> {
    let spec = s.spec.clone().unwrap_or_default();
    if ServiceType::of(s) == ServiceType::ExternalName {
        return Vec::new();
    }
    let affinity = (spec.session_affinity.as_deref() == Some("ClientIP")).then(|| {
        spec.session_affinity_config
            .as_ref()
            .and_then(|c| c.client_ip.as_ref())
            .and_then(|c| c.timeout_seconds)
            .unwrap_or(tandem_api::services::CLIENT_IP_TIMEOUT_SECONDS)
            .unsigned_abs()
    });
    let mut out = Vec::new();
    for p in spec.ports.unwrap_or_default() {
        let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
        let transport = match protocol.as_str() {
            "TCP" => Transport::Tcp,
            "UDP" => Transport::Udp,
            _ => continue,
        };
        let Ok(port) = u16::try_from(p.port) else {
            continue;
        };
        let port_name = p.name.clone().unwrap_or_default();
        for (family, cluster_ip) in families_of(s) {
            let mut backends = Vec::new();
            for slice in slices {
                let Some(target) = slice.ports.iter().flatten().find(|sp| {
                    sp.name.clone().unwrap_or_default() == port_name
                        && sp.protocol.as_deref() == Some(protocol.as_str())
                }) else {
                    continue;
                };
                let Some(target) = target.port.and_then(|n| u16::try_from(n).ok()) else {
                    continue;
                };
                for e in members(slice) {
                    let Some(ip) = e.addresses.first().and_then(|a| a.parse::<IpAddr>().ok())
                    else {
                        continue;
                    };
                    if IpFamily::of(ip) != family {
                        continue;
                    }
                    let c = e.conditions.clone().unwrap_or_default();
                    backends.push(Backend {
                        ip,
                        port: target,
                        ready: c.ready == Some(true),
                        serving: c.serving == Some(true),
                        terminating: c.terminating == Some(true),
                    });
                }
            }
            out.push(VirtualPort {
                name: format!(
                    "{}/{}:{}",
                    namespace_of(s),
                    name_of(s),
                    if port_name.is_empty() {
                        p.port.to_string()
                    } else {
                        port_name.clone()
                    }
                ),
                transport,
                family,
                cluster_ip,
                port,
                node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
                backends,
                affinity,
            });
        }
    }
    out
}

/// The proxy's wake-up: a datagram socket (`proxy.sock`) it waits on between looks, so a
/// deletion need not wait out a period to see it leave. Without one (a path too long for a
/// socket's address) it sleeps the period.
struct Wake(Option<std::os::unix::net::UnixDatagram>);

impl Wake {
    fn path(store: &Store) -> PathBuf {
        store.services.join("proxy.sock")
    }

    fn bind(store: &Store) -> Wake {
        let path = Self::path(store);
        let _ = std::fs::remove_file(&path);
        let socket = std::os::unix::net::UnixDatagram::bind(&path)
            .and_then(|s| s.set_read_timeout(Some(PERIOD)).map(|()| s));
        Wake(socket.ok())
    }

    /// Until a wake-up comes or a period has passed.
    fn wait(&self) {
        match &self.0 {
            Some(s) => {
                let mut buf = [0u8; 8];
                let _ = s.recv(&mut buf);
            }
            None => std::thread::sleep(PERIOD),
        }
    }

    fn remove(&self, store: &Store) {
        let _ = std::fs::remove_file(Self::path(store));
    }

    /// Wakes the store's proxy, if it waits.
    fn send(store: &Store) {
        if let Ok(s) = std::os::unix::net::UnixDatagram::unbound() {
            let _ = s.send_to(b"look", Self::path(store));
        }
    }
}

/// After a deletion: when the store has no Service and no pod left, wakes the proxy and waits
/// (at most 5 s) for it to remove its rules and exit, so that a `delete` that returns has left
/// nothing running.
pub fn settle(store: &Store) {
    // A proxy that is not running (killed, or failed) is started, to remove rules left behind;
    // it is given the time to take its lock (or to be done already), so the wait below sees it.
    let started = super::own_exe()
        .ok()
        .and_then(|exe| start_proxy(store, &exe).ok().flatten());
    if let Some(mut child) = started {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while !proxy::running(&store.services)
            && child.try_wait().ok().flatten().is_none()
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
    if !list(store).is_empty() || has_pods(store) {
        return;
    }
    // Its pid first: the proxy lets its lock go (and removes the file) a moment before its
    // process is gone, and a `delete` that returns has left nothing running.
    let pid = std::fs::read_to_string(store.services.join("proxy.pid")).unwrap_or_default();
    Wake::send(store);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let alive = || {
        proxy::running(&store.services)
            || pid.trim().parse::<u32>().is_ok_and(|pid| {
                // Gone, or a zombie (whose command line reads empty) its parent has yet to reap.
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
            })
    };
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Whether the store has a pod that runs or is being made (its staging directory, or its
/// directory before its supervisor took over, answered for by the `run` making it): the
/// cluster DNS is theirs. A finished pod kept for `logs` needs none.
fn has_pods(store: &Store) -> bool {
    std::fs::read_dir(&store.pods)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().is_dir())
        .any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            // A pod being removed (`.gone-…`, its supervisor finishing) is gone already.
            name.starts_with(".new-")
                || (!name.starts_with('.')
                    && tandem_supervisor::statedir::PodDir::open(e.path())
                        .live_supervisor()
                        .is_some())
        })
}

/// What DNS answers for the Services: names, cluster IPs, ready endpoints and named ports.
fn zone_of(services: &[(Service, Vec<EndpointSlice>)]) -> tandem_dns::Zone {
    use tandem_dns::zone::{Endpoint, Kind, Port};
    let mut zone = tandem_dns::Zone::default();
    for (s, slices) in services {
        let spec = s.spec.clone().unwrap_or_default();
        let cluster_ips: Vec<IpAddr> = families_of(s)
            .into_iter()
            .filter_map(|(_, ip)| ip)
            .collect();
        let kind = match ServiceType::of(s) {
            ServiceType::ExternalName => {
                Kind::ExternalName(spec.external_name.clone().unwrap_or_default())
            }
            _ if !cluster_ips.is_empty() => Kind::ClusterIp(cluster_ips),
            _ if is_headless(s) => Kind::Headless,
            _ => continue,
        };
        let ports = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let name = p.name.clone().filter(|n| !n.is_empty())?;
                let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
                let target_port = slices
                    .iter()
                    .flat_map(|sl| sl.ports.iter().flatten())
                    .find(|sp| {
                        sp.name.as_deref() == Some(name.as_str())
                            && sp.protocol.as_deref() == Some(protocol.as_str())
                    })
                    .and_then(|sp| sp.port)
                    .unwrap_or(p.port);
                Some(Port {
                    name,
                    protocol: protocol.to_ascii_lowercase(),
                    port: u16::try_from(p.port).ok()?,
                    target_port: u16::try_from(target_port).ok()?,
                })
            })
            .collect();
        let endpoints = slices
            .iter()
            .flat_map(members)
            .filter_map(|e| {
                Some(Endpoint {
                    ip: e.addresses.first()?.parse().ok()?,
                    hostname: e.hostname.clone(),
                    ready: e.conditions.as_ref().and_then(|c| c.ready) == Some(true),
                })
            })
            .collect();
        zone.services.insert(
            (namespace_of(s).to_string(), name_of(s).to_string()),
            tandem_dns::zone::Service {
                kind,
                ports,
                endpoints,
            },
        );
    }
    zone
}

/// The cluster DNS address's port 53, UDP and TCP, led to the server's loopback port.
fn dns_ports(ip: Ipv4Addr, port: u16) -> Vec<VirtualPort> {
    [("dns", Transport::Udp), ("dns-tcp", Transport::Tcp)]
        .into_iter()
        .map(|(name, transport)| VirtualPort {
            name: format!("cluster-dns:{name}"),
            transport,
            family: IpFamily::V4,
            cluster_ip: Some(IpAddr::V4(ip)),
            port: 53,
            node_port: None,
            backends: vec![Backend {
                ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
                port,
                ready: true,
                serving: true,
                terminating: false,
            }],
            affinity: None,
        })
        .collect()
}

/// Where `tandem serve` of the store listens, for the `kubernetes` Service to lead pods there
/// (`apiserver.json` beside the Services, written by `serve` as it starts): the API server's
/// own endpoint, as a cluster's API server writes its address to that Service's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct ApiEndpoint {
    /// `serve`'s process: an endpoint whose process is gone leads nowhere.
    pub pid: u32,
    pub address: std::net::SocketAddr,
}

impl ApiEndpoint {
    fn path(store: &Store) -> PathBuf {
        store.services.join("apiserver.json")
    }

    /// Says where `serve` listens, and wakes the proxy to lead the Service there.
    pub fn write(&self, store: &Store) -> anyhow::Result<()> {
        std::fs::create_dir_all(&store.services)?;
        let path = Self::path(store);
        write_atomic(&path, &serde_json::to_vec(self)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Wake::send(store);
        Ok(())
    }

    /// The endpoint of a `serve` that runs.
    fn read(store: &Store) -> Option<ApiEndpoint> {
        let e: ApiEndpoint =
            serde_json::from_slice(&std::fs::read(Self::path(store)).ok()?).ok()?;
        Path::new(&format!("/proc/{}", e.pid)).exists().then_some(e)
    }
}

/// The `kubernetes` Service's port 443, led to `serve` while it runs (refused otherwise).
fn api_port(ip: Ipv4Addr, endpoint: Option<ApiEndpoint>) -> VirtualPort {
    VirtualPort {
        name: "default/kubernetes:https".into(),
        transport: Transport::Tcp,
        family: IpFamily::V4,
        cluster_ip: Some(IpAddr::V4(ip)),
        port: 443,
        node_port: None,
        backends: endpoint
            .map(|e| Backend {
                ip: e.address.ip(),
                port: e.address.port(),
                ready: true,
                serving: true,
                terminating: false,
            })
            .into_iter()
            .collect(),
        affinity: None,
    }
}

/// `proxy.table`: the name of the store's table while it exists, for people (and tests) asking
/// `nft list table inet NAME` which rules are this store's.
fn table_file(store: &Store) -> PathBuf {
    store.services.join("proxy.table")
}

/// The proxy: looks, writes what changed, until no Service and no running pod is left.
fn proxy(store: &Store) -> anyhow::Result<()> {
    let Some(lock) = proxy::lock(&store.services)? else {
        return Ok(());
    };
    let wake = Wake::bind(store);
    std::fs::write(
        store.services.join("proxy.pid"),
        std::process::id().to_string(),
    )?;
    let host_resolvers = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let dns = tandem_dns::Dns::start(tandem_dns::upstreams(&host_resolvers))?;
    let mut pods = Pods {
        cache: HashMap::new(),
    };
    let mut routed: Option<Vec<VirtualPort>> = None;
    let mut answered: Option<tandem_dns::Zone> = None;
    loop {
        let services = list(store);
        if services.is_empty() && !has_pods(store) {
            if !store.services.is_dir() {
                // The store was removed under this process: its rules go, nothing is made again.
                forget_table(store);
                return Ok(());
            }
            // Decided under the allocation lock, under which Services and pods' directories
            // are made: one made after this look finds this process gone (its proxy lock let
            // go) and starts another.
            let _alloc = allocation_lock(store)?;
            if list(store).is_empty() && !has_pods(store) {
                forget_table(store);
                release_store_addresses(store);
                let _ = std::fs::remove_file(store.services.join("proxy.pid"));
                wake.remove(store);
                drop(lock);
                return Ok(());
            }
            continue;
        }
        let all_pods = pods.look(store);
        let mut ports = Vec::new();
        let mut sliced = Vec::new();
        let given = manual_slices(store);
        for (dir, s) in services {
            let mut slices = endpoint_slices(&s, &all_pods);
            if slices != dir.slices() {
                if let Err(e) = dir.write_slices(&slices) {
                    // A Service deleted since this look was taken: the next look has it gone.
                    if dir.root.exists() {
                        return Err(e);
                    }
                }
            }
            // kube-proxy routes every slice labelled with the Service's name, its
            // controller's and those given by hand (a Service without a selector has only those).
            slices.extend(labelled_for(&s, &given).cloned());
            ports.extend(virtual_ports(&s, &slices));
            sliced.push((s, slices));
        }
        let held = read_store_addresses(store);
        if let Some(ip) = held.dns {
            ports.extend(dns_ports(ip, dns.port()));
        }
        if let Some(ip) = held.kubernetes {
            let kubernetes = super::service_store::kubernetes_service_at(IpAddr::V4(ip));
            ports.push(api_port(ip, ApiEndpoint::read(store)));
            sliced.push((kubernetes, Vec::new()));
        }
        if routed.as_ref() != Some(&ports) {
            match tandem_network::services::sync(&table_name(store), &ports) {
                Ok(()) => {
                    if routed.is_none() {
                        std::fs::write(table_file(store), table_name(store))?;
                        std::fs::create_dir_all(TABLE_RECORDS)?;
                        write_atomic(
                            &Path::new(TABLE_RECORDS).join(table_name(store)),
                            store.services.as_os_str().as_encoded_bytes(),
                        )?;
                    }
                    routed = Some(ports)
                }
                Err(e) => eprintln!("error: {e}"),
            }
        }
        let zone = zone_of(&sliced);
        if answered.as_ref() != Some(&zone) {
            dns.set_zone(zone.clone());
            answered = Some(zone);
        }
        wake.wait();
    }
}
