//! Services in the store and the addresses they hold. Each Service has a directory
//! (`services/NS_NAME/`: `service.json`, the object as created with its cluster IP and node
//! ports, and `endpointslices.json`, which the proxy keeps); the store has one cluster DNS
//! address while it has running pods or Services (`cluster-dns.json`). Cluster IPs, node ports
//! and cluster DNS addresses are reserved machine-wide, so two stores never route one twice.
//! Nothing here starts a process: the callers start the proxy (`service_proxy`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;
use tandem_api::services::{is_headless, IpFamily, ManualEndpoints, ServiceType};
use tandem_api::{LoadedEndpoints, LoadedService};
use tandem_network::services::{ServiceRange, ServiceRanges};
use tandem_supervisor::statedir::{write_atomic, Store};

use crate::errors::{hint, server_error};

/// The file naming the store's Service ranges while it has Services or pods.
fn range_file(store: &Store) -> PathBuf {
    store.services.join("range")
}

/// The store's Service ranges: those its first Service or pod was made with, else the default
/// (dual-stack where pods have IPv6 addresses).
pub fn ranges(store: &Store) -> ServiceRanges {
    let ipv6 = tandem_network::ipv6_enabled();
    std::fs::read_to_string(range_file(store))
        .ok()
        .and_then(|t| ServiceRanges::parse(t.trim(), ipv6).ok())
        .unwrap_or_else(|| ServiceRanges::default_for(ipv6))
}

/// The packet filter's word for an API family.
pub(super) fn net_family(family: IpFamily) -> tandem_network::services::IpFamily {
    match family {
        IpFamily::V4 => tandem_network::services::IpFamily::V4,
        IpFamily::V6 => tandem_network::services::IpFamily::V6,
    }
}

/// The API families of the store's ranges, its first first.
fn families(ranges: ServiceRanges) -> Vec<IpFamily> {
    [IpFamily::V4, IpFamily::V6]
        .into_iter()
        .filter(|f| ranges.of(net_family(*f)).is_some())
        .collect()
}

/// Makes `wanted` (`--service-cluster-ip-range`) the store's Service range. A store holding
/// Services or pods keeps the range their addresses came from: a different one is refused.
pub fn adopt_range(store: &Store, wanted: Option<ServiceRanges>) -> anyhow::Result<()> {
    let Some(wanted) = wanted else {
        return Ok(());
    };
    let _lock = allocation_lock(store)?;
    let have = ranges(store);
    if have == wanted {
        return Ok(());
    }
    if !list(store).is_empty() || read_cluster_dns(store).is_some() {
        return Err(hint(
            format!(
                "the store's Services and pods have addresses from {have}: --service-cluster-ip-range {wanted} cannot apply while they exist"
            ),
            "delete its Services, workloads and pods first (`tandem delete -f FILE` for each file run), or use another store (--root) for this range",
        ));
    }
    let path = range_file(store);
    write_atomic(&path, format!("{wanted}\n").as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The range node ports come from (`--service-node-port-range`).
pub const NODE_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// A Service's directory in the store.
#[derive(Debug, Clone)]
pub struct ServiceDir {
    pub root: PathBuf,
}

impl ServiceDir {
    pub fn of(store: &Store, namespace: &str, name: &str) -> ServiceDir {
        ServiceDir {
            root: store
                .services
                .join(tandem_supervisor::statedir::dir_name(namespace, name)),
        }
    }
    fn object(&self) -> PathBuf {
        self.root.join("service.json")
    }
    fn slices_file(&self) -> PathBuf {
        self.root.join("endpointslices.json")
    }
    pub fn read(&self) -> anyhow::Result<Service> {
        let bytes = std::fs::read(self.object())
            .with_context(|| format!("cannot read {}", self.object().display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not valid", self.object().display()))
    }
    /// Records the Service's EndpointSlices (the proxy's part).
    pub fn write_slices(&self, slices: &[EndpointSlice]) -> anyhow::Result<()> {
        Ok(write_atomic(
            &self.slices_file(),
            &serde_json::to_vec_pretty(slices)?,
        )?)
    }

    /// The EndpointSlices the proxy wrote last (none before its first look).
    pub fn slices(&self) -> Vec<EndpointSlice> {
        std::fs::read(self.slices_file())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }
}

/// Every Service of the store, with its object.
pub fn list(store: &Store) -> Vec<(ServiceDir, Service)> {
    let mut out: Vec<(ServiceDir, Service)> = std::fs::read_dir(&store.services)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| ServiceDir { root: e.path() })
        .filter_map(|d| Some((d.clone(), d.read().ok()?)))
        .collect();
    out.sort_by(|a, b| a.0.root.cmp(&b.0.root));
    out
}

pub(super) fn name_of(s: &Service) -> &str {
    s.metadata.name.as_deref().unwrap_or_default()
}

pub(super) fn namespace_of(s: &Service) -> &str {
    s.metadata.namespace.as_deref().unwrap_or("default")
}

/// The allocation lock: an exclusive flock(2) on `services/.lock`, held while cluster IPs and
/// node ports are chosen and the Services written, so two `run`s never take the same one.
pub(super) fn allocation_lock(store: &Store) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    std::fs::create_dir_all(&store.services)
        .with_context(|| format!("cannot create {}", store.services.display()))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(store.services.join(".lock"))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::Error::new(e).context("cannot lock the Services' allocations"))
}

/// FNV-1a: where the search for a free address starts, from the Service's name (a Service
/// deleted and made again tends to get its address back), and the table's name of a store.
fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Cluster IPs and node ports are the machine's, not a store's: two stores (`--root`) on one
/// machine must never route one address or port twice. Each one held is a file here, named by
/// the address or `PROTOCOL-PORT` and holding the path of the file that holds it (a Service's
/// `service.json`, a store's `cluster-dns.json`), made with O_EXCL (as the host-local IPAM
/// plugin keeps pod addresses). A reservation whose holder is gone (its store removed by hand,
/// say) is taken over after a grace minute: a holder is written just after its reservations.
pub const RESERVATIONS: &str = "/run/tandem/service-reservations";

/// The reservations one allocation made, released again if it fails.
struct Reservations {
    dir: PathBuf,
    owner: PathBuf,
    made: Vec<PathBuf>,
}

impl Reservations {
    fn new(owner: &Path) -> anyhow::Result<Reservations> {
        let dir = PathBuf::from(RESERVATIONS);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Reservations {
            dir,
            owner: owner.to_path_buf(),
            made: Vec::new(),
        })
    }

    /// Takes `key` for the owner; `false` when another Service holds it.
    fn take(&mut self, key: &str) -> anyhow::Result<bool> {
        use std::io::Write as _;
        let path = self.dir.join(key);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path);
        let mut file = match file {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let _held = takeover_lock(&self.dir)?;
                if !abandoned(&path) {
                    return Ok(false);
                }
                let mut file = std::fs::File::create(&path)?;
                file.write_all(self.owner.as_os_str().as_encoded_bytes())?;
                self.made.push(path);
                return Ok(true);
            }
            Err(e) => {
                return Err(
                    anyhow::Error::new(e).context(format!("cannot create {}", path.display()))
                )
            }
        };
        file.write_all(self.owner.as_os_str().as_encoded_bytes())?;
        self.made.push(path);
        Ok(true)
    }

    fn release(self) {
        for p in self.made {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The lock (machine-wide, as the reservations are) held to take over an abandoned reservation
/// or to sweep it: without it two stores could take one over at once, or a sweep remove one
/// just taken over.
fn takeover_lock(dir: &Path) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::Error::new(e).context("cannot lock the Services' reservations"))
}

/// Gives back the reservations whose holder is gone (a store removed by hand with its proxy
/// killed, say), as each proxy starts: else each would wait for an allocation that wants its
/// address or port.
pub(super) fn sweep_abandoned_reservations() {
    let dir = Path::new(RESERVATIONS);
    let Ok(_held) = takeover_lock(dir) else {
        return;
    };
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if !e.file_name().to_string_lossy().starts_with('.') && abandoned(&e.path()) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether a reservation's holder is gone, a minute after it was made.
fn abandoned(path: &Path) -> bool {
    let Ok(owner) = std::fs::read(path) else {
        return false;
    };
    let old = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age > std::time::Duration::from_secs(60));
    let owner = PathBuf::from(String::from_utf8_lossy(&owner).into_owned());
    old && !owner.exists()
}

/// Releases what a Service held.
fn release(dir: &ServiceDir, s: &Service) {
    let spec = s.spec.clone().unwrap_or_default();
    let mut keys: Vec<String> = spec.cluster_ips.into_iter().flatten().collect();
    for p in spec.ports.into_iter().flatten() {
        if let Some(n) = p.node_port {
            keys.push(node_port_key(p.protocol.as_deref().unwrap_or("TCP"), n));
        }
    }
    for k in keys {
        release_key(&k, &dir.object());
    }
}

/// Removes the reservation `key` if `holder` holds it.
fn release_key(key: &str, holder: &Path) {
    let path = Path::new(RESERVATIONS).join(key);
    if std::fs::read(&path).is_ok_and(|o| o == holder.as_os_str().as_encoded_bytes()) {
        let _ = std::fs::remove_file(path);
    }
}

fn node_port_key(protocol: &str, port: i32) -> String {
    format!("{protocol}-{port}")
}

/// The `kubernetes` Service every cluster has in `default`: the first address of the Service
/// range (the first free one of the nine, reserved with the store's cluster DNS address), port
/// 443 named `https`, as the API server makes it. Its environment variables are in every
/// container, as the kubelet puts them there; the proxy leads it to `tandem serve`.
pub fn kubernetes_service(store: &Store) -> Service {
    let ip = read_kubernetes_ip(store).map_or_else(|| ranges(store).primary.nth(1), IpAddr::V4);
    kubernetes_service_at(ip)
}

/// The `kubernetes` Service at `ip`.
pub fn kubernetes_service_at(ip: IpAddr) -> Service {
    let ip = ip.to_string();
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "kubernetes", "namespace": "default"},
        "spec": {
            "clusterIP": ip,
            "clusterIPs": [ip],
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 443}],
        },
    }))
    .unwrap_or_default()
}

fn invalid(service: &str, field: &str, value: &str, why: &str, what_to_do: &str) -> anyhow::Error {
    // kubectl prints an Invalid status as its message alone.
    hint(
        format!("The Service \"{service}\" is invalid: {field}: Invalid value: \"{value}\": {why}"),
        what_to_do,
    )
}

/// Gives the Service its IP families, cluster IPs and node ports, as the API server's
/// allocators do: its families for the store's ranges (`tandem_api::services::ip_families`),
/// then a cluster IP per family; those written are checked (in range, not held by another
/// Service, a node port not bound on this host), the rest chosen. Nothing is written here.
fn allocate(s: &mut Service, ranges: ServiceRanges, held: &mut Reservations) -> anyhow::Result<()> {
    let ty = ServiceType::of(s);
    let headless = is_headless(s);
    let name = name_of(s).to_string();
    let start = fnv32a(format!("{}/{name}", namespace_of(s)).as_bytes());
    if let Err(refused) = tandem_api::services::ip_families(s, &families(ranges)) {
        return Err(invalid(
            &name,
            &refused.field,
            &refused.value,
            &refused.message,
            "leave ipFamilyPolicy, ipFamilies and clusterIPs out for the store's first family; on a host with IPv6, a store made with an IPv4 and an IPv6 range (the default, or --service-cluster-ip-range 10.96.0.0/16,fd00:10:96::/112) has both",
        ));
    }
    let spec = s.spec.get_or_insert_with(Default::default);
    if ty != ServiceType::ExternalName && !headless {
        let given = spec.cluster_ips.clone().unwrap_or_default();
        let mut ips = Vec::new();
        for (i, family) in spec
            .ip_families
            .iter()
            .flatten()
            .filter_map(|f| IpFamily::parse(f))
            .enumerate()
        {
            // `ip_families` took only the families the store has.
            let Some(range) = ranges.of(net_family(family)) else {
                continue;
            };
            let asked = given.get(i).map(String::as_str).filter(|c| !c.is_empty());
            let kubernetes = (range == ranges.primary).then(|| range.nth(1));
            let field = format!("spec.clusterIPs[{i}]");
            let ip = cluster_ip(&name, &field, asked, range, kubernetes, start, held)?;
            ips.push(ip.to_string());
        }
        spec.cluster_ip = ips.first().cloned();
        spec.cluster_ips = Some(ips);
    } else if headless {
        spec.cluster_ips = Some(vec!["None".into()]);
    }
    let wants_node_ports = ty == ServiceType::NodePort
        || (ty == ServiceType::LoadBalancer
            && spec.allocate_load_balancer_node_ports != Some(false));
    if wants_node_ports {
        for (i, p) in spec.ports.iter_mut().flatten().enumerate() {
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let given = p.node_port.filter(|n| *n != 0);
            let field = format!("spec.ports[{i}].nodePort");
            let port = node_port(&name, &field, &protocol, given, start, held)?;
            p.node_port = Some(i32::from(port));
        }
    }
    s.status = Some(match ty {
        // This machine is the load balancer: its node ports are on 127.0.0.1 too.
        ServiceType::LoadBalancer => serde_json::from_value(serde_json::json!({
            "loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}
        }))?,
        _ => Default::default(),
    });
    Ok(())
}

/// The first of `candidates` that can be taken, with `held` holding it.
fn first_free<T>(
    candidates: impl Iterator<Item = T>,
    key: impl Fn(&T) -> String,
    usable: impl Fn(&T) -> bool,
    held: &mut Reservations,
) -> anyhow::Result<Option<T>> {
    for c in candidates {
        if usable(&c) && held.take(&key(&c))? {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// The cluster IP asked for, checked, or one chosen from `start` on in the range above its
/// static band, which is kept for Services that ask for one and for the stores' cluster DNS;
/// when the rest is taken, the band's free addresses (as the API server's allocator does).
/// `kubernetes` is the `kubernetes` Service's address, in the first range.
fn cluster_ip(
    name: &str,
    field: &str,
    given: Option<&str>,
    range: ServiceRange,
    kubernetes: Option<IpAddr>,
    start: u32,
    held: &mut Reservations,
) -> anyhow::Result<IpAddr> {
    let Some(given) = given else {
        // Above the static band, below the last address (the broadcast address of an IPv4
        // range); then the band after the `kubernetes` Service's address.
        let band = range.static_band();
        let (first, last) = ((band + 1).max(2), range.size() - 2);
        let dynamic = last + 1 - first;
        let candidates = (0..dynamic)
            .map(|i| range.nth(first + start.wrapping_add(i) % dynamic))
            .chain((2..=band).map(|i| range.nth(i)));
        return first_free(candidates, IpAddr::to_string, |_| true, held)?.ok_or_else(|| {
            hint(
                format!("no cluster IP is left in {range}"),
                "delete Services you no longer need",
            )
        });
    };
    let Ok(ip) = given.parse::<IpAddr>() else {
        return Err(invalid(
            name,
            field,
            given,
            "must be a valid IP address",
            "leave clusterIP out to have one allocated",
        ));
    };
    if !range.contains(ip) {
        return Err(invalid(
            name,
            field,
            given,
            &format!("provided IP is not in the valid range. The range of valid IPs is {range}"),
            &format!("pick an address in {range}, or leave clusterIP out"),
        ));
    }
    if Some(ip) == kubernetes || !held.take(&ip.to_string())? {
        return Err(invalid(
            name,
            field,
            given,
            "provided IP is already allocated",
            "pick another address, or leave clusterIP out",
        ));
    }
    Ok(ip)
}

/// The node port asked for, checked (in the range, free among Services, not bound on this
/// host), or one chosen from `start` on.
fn node_port(
    name: &str,
    field: &str,
    protocol: &str,
    given: Option<i32>,
    start: u32,
    held: &mut Reservations,
) -> anyhow::Result<u16> {
    let key = |p: &u16| node_port_key(protocol, i32::from(*p));
    let Some(n) = given else {
        let count = u32::from(NODE_PORTS.end() - NODE_PORTS.start()) + 1;
        let candidates =
            (0..count).map(|k| NODE_PORTS.start() + (start.wrapping_add(k) % count) as u16);
        return first_free(candidates, key, |p| free_on_host(protocol, *p), held)?
            .ok_or_else(|| hint("no node port is left", "delete Services you no longer need"));
    };
    let text = n.to_string();
    let port = u16::try_from(n).ok().filter(|p| NODE_PORTS.contains(p));
    let Some(port) = port else {
        let range = format!("{}-{}", NODE_PORTS.start(), NODE_PORTS.end());
        return Err(invalid(
            name,
            field,
            &text,
            &format!(
                "provided port is not in the valid range. The range of valid ports is {range}"
            ),
            "pick a port in that range, or leave nodePort out",
        ));
    };
    if !free_on_host(protocol, port) {
        return Err(invalid(
            name,
            field,
            &text,
            "provided port is already in use on this host",
            "stop what listens on it, or pick another port",
        ));
    }
    if !held.take(&key(&port))? {
        return Err(invalid(
            name,
            field,
            &text,
            "provided port is already allocated",
            "pick another port, or leave nodePort out",
        ));
    }
    Ok(port)
}

/// Whether nothing on this host listens on the port (all addresses) for that protocol.
fn free_on_host(protocol: &str, port: u16) -> bool {
    let any = std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    match protocol {
        "UDP" => std::net::UdpSocket::bind(any).is_ok(),
        _ => std::net::TcpListener::bind(any).is_ok(),
    }
}

/// Stores the Services `run` loaded, all or none: each is refused if one of its name exists or
/// its addresses cannot be had, before anything is written.
pub fn create(store: &Store, services: &[LoadedService]) -> anyhow::Result<()> {
    if services.is_empty() {
        return Ok(());
    }
    let _lock = allocation_lock(store)?;
    let ranges = ranges(store);
    let mut ready: Vec<(ServiceDir, Service, Reservations)> = Vec::new();
    let undo = |ready: Vec<(ServiceDir, Service, Reservations)>| {
        for (dir, _, held) in ready {
            let _ = std::fs::remove_dir_all(&dir.root);
            held.release();
        }
    };
    for l in services {
        let mut s = l.object.clone();
        let dir = ServiceDir::of(store, namespace_of(&s), name_of(&s));
        if dir.root.exists() {
            undo(ready);
            return Err(server_error(
                "AlreadyExists",
                format!("services \"{}\" already exists", name_of(&s)),
                format!(
                    "delete it first with `tandem delete service {}`",
                    name_of(&s)
                ),
            ));
        }
        s.metadata.creation_timestamp = Some(super::start::now_time());
        let mut held = Reservations::new(&dir.object())?;
        if let Err(e) = allocate(&mut s, ranges, &mut held) {
            held.release();
            undo(ready);
            return Err(e);
        }
        ready.push((dir, s, held));
    }
    for i in 0..ready.len() {
        let (dir, s, _) = &ready[i];
        let written = std::fs::create_dir(&dir.root)
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(write_atomic(&dir.object(), &serde_json::to_vec_pretty(s)?)?));
        if let Err(e) = written {
            let e = e.context(format!("cannot store Service {}", name_of(s)));
            undo(ready);
            return Err(e);
        }
    }
    Ok(())
}

/// Replaces a stored Service by an update of it (already judged: the same cluster IPs, type and
/// node ports, so what it holds stays held); its creation time and status stay. The proxy
/// routes by it at its next look.
pub fn replace(store: &Store, mut s: Service) -> anyhow::Result<()> {
    let dir = ServiceDir::of(store, namespace_of(&s), name_of(&s));
    let _lock = allocation_lock(store)?;
    let was = dir.read()?;
    s.metadata.creation_timestamp = was.metadata.creation_timestamp;
    s.status = was.status;
    Ok(write_atomic(
        &dir.object(),
        &serde_json::to_vec_pretty(&s)?,
    )?)
}

/// Removes a Service, if there is one of that name, and gives its addresses back; the proxy
/// drops its rules at its next look. Returns whether there was one.
pub fn remove(store: &Store, namespace: &str, name: &str) -> anyhow::Result<bool> {
    let dir = ServiceDir::of(store, namespace, name);
    if !dir.object().exists() {
        return Ok(false);
    }
    {
        let _lock = allocation_lock(store)?;
        if let Ok(s) = dir.read() {
            release(&dir, &s);
        }
        tandem_supervisor::statedir::remove_whole(&dir.root)
            .with_context(|| format!("cannot remove {}", dir.root.display()))?;
    }
    Ok(true)
}

/// The store's own table of rules: `tandem-services-` and a hash of its Services' directory, so
/// the proxies of two stores never write each other's rules.
pub fn table_name(store: &Store) -> String {
    let h = fnv32a(store.services.as_os_str().as_encoded_bytes());
    format!("tandem-services-{h:08x}")
}

/// The file naming the store's cluster DNS address.
fn cluster_dns_file(store: &Store) -> PathBuf {
    store.services.join("cluster-dns.json")
}

pub(super) fn read_cluster_dns(store: &Store) -> Option<Ipv4Addr> {
    read_store_addresses(store).dns
}

/// The `kubernetes` Service's address the store holds, reserved with its cluster DNS address.
pub(super) fn read_kubernetes_ip(store: &Store) -> Option<Ipv4Addr> {
    read_store_addresses(store).kubernetes
}

/// The addresses the store holds for itself while it has pods or Services.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct StoreAddresses {
    /// The cluster DNS's.
    pub dns: Option<Ipv4Addr>,
    /// The `kubernetes` Service's.
    pub kubernetes: Option<Ipv4Addr>,
}

pub(super) fn read_store_addresses(store: &Store) -> StoreAddresses {
    let v: Value = std::fs::read(cluster_dns_file(store))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let ip = |field: &str| v[field].as_str()?.parse().ok();
    StoreAddresses {
        dns: ip("ip"),
        kubernetes: ip("kubernetes"),
    }
}

/// Runs `make_pod` with the store's cluster DNS address (the `kube-dns` Service's on a
/// cluster), under the allocation lock: the address is reserved while the store has pods or
/// Services, from the start of the range (10.96.0.10, as kubeadm's clusters have it, unless
/// another store holds it), with the `kubernetes` Service's, and the proxy gives them back
/// under the same lock when the store is empty; `make_pod` makes the pod's directory, so the
/// proxy sees the pod before it could.
pub fn with_cluster_dns<T>(
    store: &Store,
    make_pod: impl FnOnce(Ipv4Addr) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let _lock = allocation_lock(store)?;
    make_pod(cluster_dns_locked(store)?)
}

/// Gives the store's cluster DNS address back and forgets its Service range, once it has no
/// Service and no pod left (the caller holds the allocation lock).
pub(super) fn release_store_addresses(store: &Store) {
    let path = cluster_dns_file(store);
    let held = read_store_addresses(store);
    for ip in [held.dns, held.kubernetes].into_iter().flatten() {
        release_key(&ip.to_string(), &path);
    }
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_file(range_file(store));
}

fn cluster_dns_locked(store: &Store) -> anyhow::Result<Ipv4Addr> {
    if let Some(ip) = read_cluster_dns(store) {
        return Ok(ip);
    }
    let path = cluster_dns_file(store);
    let mut held = Reservations::new(&path)?;
    // The first range is IPv4 (`ServiceRanges::parse`): the pods' nameserver is an IPv4 address.
    let range = ranges(store).primary;
    for offset in 10..=range.static_band().max(16).min(range.size() - 2) {
        let IpAddr::V4(ip) = range.nth(offset) else {
            break;
        };
        if held.take(&ip.to_string())? {
            // The `kubernetes` Service's address with it: the first free one before it
            // (10.96.0.1, as on a cluster, unless another store holds it).
            let mut kubernetes = None;
            for offset in 1..10 {
                let IpAddr::V4(k) = range.nth(offset) else {
                    break;
                };
                if held.take(&k.to_string())? {
                    kubernetes = Some(k);
                    break;
                }
            }
            let addresses = serde_json::json!({ "ip": ip, "kubernetes": kubernetes });
            if let Err(e) = write_atomic(&path, addresses.to_string().as_bytes()) {
                held.release();
                return Err(
                    anyhow::Error::new(e).context(format!("cannot write {}", path.display()))
                );
            }
            return Ok(ip);
        }
    }
    Err(hint(
        "no address is left for the cluster DNS in the static band of the Service range",
        "delete stores (--root directories) you no longer use",
    ))
}

/// EndpointSlices and Endpoints given by hand: one file each under `services/manual/`.
fn manual_file(store: &Store, m: &ManualEndpoints) -> PathBuf {
    let meta = m.metadata();
    let kind_and_name = format!(
        "{}_{}",
        m.kind().to_ascii_lowercase(),
        meta.name.as_deref().unwrap_or_default()
    );
    let namespace = meta.namespace.as_deref().unwrap_or("default");
    store.services.join("manual").join(format!(
        "{}.json",
        tandem_supervisor::statedir::dir_name(namespace, &kind_and_name)
    ))
}

/// Stores the EndpointSlices and Endpoints `run` loaded, all or none; one of a name already
/// there is refused, as the API server refuses a second create.
pub fn create_manual(store: &Store, given: &[LoadedEndpoints]) -> anyhow::Result<()> {
    let mut made: Vec<PathBuf> = Vec::new();
    for l in given {
        let path = manual_file(store, &l.object);
        let written = (|| -> anyhow::Result<()> {
            let dir = store.services.join("manual");
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let mut object = l.object.clone();
            object.metadata_mut().creation_timestamp = Some(super::start::now_time());
            let json = match &object {
                ManualEndpoints::Slice(s) => serde_json::to_vec_pretty(s)?,
                ManualEndpoints::Endpoints(e) => serde_json::to_vec_pretty(e)?,
            };
            let mut file = match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let name = l.object.metadata().name.clone().unwrap_or_default();
                    let resource = match &l.object {
                        ManualEndpoints::Slice(_) => "endpointslices.discovery.k8s.io",
                        ManualEndpoints::Endpoints(_) => "endpoints",
                    };
                    return Err(server_error(
                        "AlreadyExists",
                        format!("{resource} \"{name}\" already exists"),
                        "delete the file's objects first with `tandem delete -f FILE`",
                    ));
                }
                Err(e) => return Err(anyhow::Error::new(e)),
            };
            std::io::Write::write_all(&mut file, &json)?;
            Ok(())
        })();
        if let Err(e) = written {
            for p in &made {
                let _ = std::fs::remove_file(p);
            }
            return Err(e);
        }
        made.push(path);
    }
    Ok(())
}

/// Removes an EndpointSlice or Endpoints given by hand; whether there was one.
/// The stored object of EndpointSlices or Endpoints given by hand, when there is one of that
/// kind and name.
pub fn read_manual(store: &Store, m: &ManualEndpoints) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(manual_file(store, m)).ok()?).ok()
}

pub fn remove_manual(store: &Store, m: &ManualEndpoints) -> bool {
    std::fs::remove_file(manual_file(store, m)).is_ok()
}

/// Every EndpointSlice given by hand, Endpoints mirrored into slices.
pub fn manual_slices(store: &Store) -> Vec<EndpointSlice> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(store.services.join("manual"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(bytes) = std::fs::read(e.path()) else {
            continue;
        };
        let Ok(json) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        // An EndpointSlice has an address type; an Endpoints object has none.
        if json.get("addressType").is_some() {
            out.extend(serde_json::from_value::<EndpointSlice>(json).ok());
        } else if let Ok(endpoints) = serde_json::from_value(json) {
            out.extend(tandem_controllers::endpoints::mirror(&endpoints));
        }
    }
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out
}
