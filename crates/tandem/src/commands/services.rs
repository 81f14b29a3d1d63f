//! Services on this machine. Each has a directory in the store (`services/NS_NAME/`: the object
//! as created, with the cluster IP and node ports allocated to it, and the EndpointSlices the
//! proxy keeps), and one proxy process serves them all, `tandem __proxy`, as each workload has
//! its controller: no daemon. The proxy runs while any Service exists; every quarter second it
//! reads the pods, asks `tandem_controllers::endpoints` for each Service's endpoints, writes
//! those that changed, and rewrites the kernel's rules (`tandem_network::services`) when what
//! they route changed. When the last Service goes it removes its rules and exits.
//!
//! The proxy holds `proxy.lock` (flock) for its life, so one runs per store and a dead one is
//! seen at once; a command that creates a Service starts it when none runs, and `get`, `delete`
//! and `run` start it again after a kill -9 (the kernel's rules stay meanwhile: traffic flows,
//! only endpoint changes wait).

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::Value;
use tandem_api::services::{is_headless, ServiceType};
use tandem_api::LoadedService;
use tandem_controllers::endpoints::{endpoint_slices, endpoints, members};
use tandem_network::services::{Backend, Transport, VirtualPort};
use tandem_runtime::helper::{Args, ArgsError, HelperArgs};
use tandem_supervisor::statedir::{write_atomic, Store};

use crate::cli::{GetArgs, Output};
use crate::errors::{hint, not_found, server_error};
use crate::output::{table, yaml::to_yaml};

/// How often the proxy looks at the pods.
const PERIOD: std::time::Duration = std::time::Duration::from_millis(250);

/// The range cluster IPs come from (kube-apiserver's default `--service-cluster-ip-range`).
pub const SERVICE_RANGE: (Ipv4Addr, u8) = (Ipv4Addr::new(10, 96, 0, 0), 16);
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
        .map(|e| ServiceDir { root: e.path() })
        .filter_map(|d| Some((d.clone(), d.read().ok()?)))
        .collect();
    out.sort_by(|a, b| a.0.root.cmp(&b.0.root));
    out
}

fn name_of(s: &Service) -> &str {
    s.metadata.name.as_deref().unwrap_or_default()
}

fn namespace_of(s: &Service) -> &str {
    s.metadata.namespace.as_deref().unwrap_or("default")
}

/// The allocation lock: an exclusive flock(2) on `services/.lock`, held while cluster IPs and
/// node ports are chosen and the Services written, so two `run`s never take the same one.
fn allocation_lock(store: &Store) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
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

/// A start for the search of a free value, from the Service's name: a Service deleted and
/// created again tends to get its address back.
fn start_of(namespace: &str, name: &str, size: u32) -> u32 {
    fnv32a(format!("{namespace}/{name}").as_bytes()) % size.max(1)
}

fn fnv32a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// Cluster IPs and node ports are the machine's, not a store's: two stores (`--root`) on one
/// machine must never route one address or port twice. Each one held is a file here, named by
/// the address or `PROTOCOL-PORT` and holding the directory of the Service that holds it, made
/// with O_EXCL (as the host-local IPAM plugin keeps pod addresses). A file whose Service is
/// gone (its store removed by hand, say) is taken over after a grace minute: a Service being
/// created writes its own directory just after its reservations.
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
                if !abandoned(&path) {
                    return Ok(false);
                }
                std::fs::File::create(&path)?
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

/// Whether a reservation's Service is gone, a minute after it was made.
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
    old && !owner.join("service.json").exists()
}

/// Releases what a Service held: the files naming its directory.
fn release(dir: &ServiceDir, s: &Service) {
    let spec = s.spec.clone().unwrap_or_default();
    let mut keys: Vec<String> = spec.cluster_ip.into_iter().collect();
    for p in spec.ports.into_iter().flatten() {
        if let Some(n) = p.node_port {
            keys.push(node_port_key(p.protocol.as_deref().unwrap_or("TCP"), n));
        }
    }
    for k in keys {
        let path = Path::new(RESERVATIONS).join(k);
        if std::fs::read(&path).is_ok_and(|o| o == dir.root.as_os_str().as_encoded_bytes()) {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn node_port_key(protocol: &str, port: i32) -> String {
    format!("{protocol}-{port}")
}

fn in_range(ip: Ipv4Addr) -> bool {
    let (base, prefix) = SERVICE_RANGE;
    let mask = u32::MAX << (32 - u32::from(prefix));
    u32::from(ip) & mask == u32::from(base)
}

fn invalid(service: &str, field: &str, value: &str, why: &str, what_to_do: &str) -> anyhow::Error {
    // kubectl prints an Invalid status as its message alone.
    hint(
        format!("The Service \"{service}\" is invalid: {field}: Invalid value: \"{value}\": {why}"),
        what_to_do,
    )
}

/// Gives the Service its cluster IP and node ports, as the API server's allocators do: those
/// written are checked (in range, not held by another Service, a node port not bound on this
/// host); the rest are chosen. Nothing is written here.
fn allocate(s: &mut Service, held: &mut Reservations) -> anyhow::Result<()> {
    let ty = ServiceType::of(s);
    let headless = is_headless(s);
    let (base, prefix) = SERVICE_RANGE;
    let size = 1u32 << (32 - u32::from(prefix));
    let range_text = format!("{base}/{prefix}");
    let namespace = namespace_of(s).to_string();
    let name = name_of(s).to_string();
    let spec = s.spec.get_or_insert_with(Default::default);
    if ty != ServiceType::ExternalName && !headless {
        let ip = match spec.cluster_ip.as_deref().filter(|c| !c.is_empty()) {
            Some(given) => {
                let Ok(ip) = given.parse::<Ipv4Addr>() else {
                    return Err(invalid(
                        &name,
                        "spec.clusterIP",
                        given,
                        "only IPv4 cluster IPs are supported by tandem yet",
                        "leave clusterIP out to have one allocated",
                    ));
                };
                if !in_range(ip) {
                    return Err(invalid(&name, "spec.clusterIP", given, &format!("provided IP is not in the valid range. The range of valid IPs is {range_text}"), &format!("pick an address in {range_text}, or leave clusterIP out")));
                }
                if !held.take(&ip.to_string())? {
                    return Err(invalid(
                        &name,
                        "spec.clusterIP",
                        given,
                        "provided IP is already allocated",
                        "pick another address, or leave clusterIP out",
                    ));
                }
                ip
            }
            None => {
                // The first 256 addresses are kept for Services that ask for one (the API
                // server's static band); .0, .1 (the `kubernetes` Service) and .10 (cluster DNS)
                // are never handed out.
                let dynamic = size - 256 - 1;
                let start = start_of(&namespace, &name, dynamic);
                let mut found = None;
                for i in 0..dynamic {
                    let ip = Ipv4Addr::from(u32::from(base) + 256 + (start + i) % dynamic);
                    if held.take(&ip.to_string())? {
                        found = Some(ip);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    hint(
                        format!("no cluster IP is left in {range_text}"),
                        "delete Services you no longer need",
                    )
                })?
            }
        };
        spec.cluster_ip = Some(ip.to_string());
        spec.cluster_ips = Some(vec![ip.to_string()]);
        spec.ip_families = Some(vec!["IPv4".into()]);
        spec.ip_family_policy
            .get_or_insert_with(|| "SingleStack".into());
    } else if headless {
        spec.cluster_ips = Some(vec!["None".into()]);
        spec.ip_families = Some(vec!["IPv4".into()]);
        spec.ip_family_policy
            .get_or_insert_with(|| "SingleStack".into());
    }
    let wants_node_ports = ty == ServiceType::NodePort
        || (ty == ServiceType::LoadBalancer
            && spec.allocate_load_balancer_node_ports != Some(false));
    if wants_node_ports {
        let count = u32::from(NODE_PORTS.end() - NODE_PORTS.start()) + 1;
        let start = start_of(&namespace, &name, count);
        let mut ports = spec.ports.clone().unwrap_or_default();
        for (i, p) in ports.iter_mut().enumerate() {
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let field = format!("spec.ports[{i}].nodePort");
            let n = match p.node_port.filter(|n| *n != 0) {
                Some(n) => {
                    let text = n.to_string();
                    let port = u16::try_from(n).unwrap_or(0);
                    if !NODE_PORTS.contains(&port) {
                        return Err(invalid(&name, &field, &text, &format!("provided port is not in the valid range. The range of valid ports is {}-{}", NODE_PORTS.start(), NODE_PORTS.end()), "pick a port in that range, or leave nodePort out"));
                    }
                    if !free_on_host(&protocol, port) {
                        return Err(invalid(
                            &name,
                            &field,
                            &text,
                            "provided port is already in use on this host",
                            "stop what listens on it, or pick another port",
                        ));
                    }
                    if !held.take(&node_port_key(&protocol, n))? {
                        return Err(invalid(
                            &name,
                            &field,
                            &text,
                            "provided port is already allocated",
                            "pick another port, or leave nodePort out",
                        ));
                    }
                    port
                }
                None => {
                    let mut found = None;
                    for k in 0..count {
                        let port = NODE_PORTS.start() + ((start + k) % count) as u16;
                        if free_on_host(&protocol, port)
                            && held.take(&node_port_key(&protocol, i32::from(port)))?
                        {
                            found = Some(port);
                            break;
                        }
                    }
                    found.ok_or_else(|| {
                        hint("no node port is left", "delete Services you no longer need")
                    })?
                }
            };
            p.node_port = Some(i32::from(n));
        }
        s.spec.get_or_insert_with(Default::default).ports = Some(ports);
    }
    if ty == ServiceType::LoadBalancer {
        // This machine is the load balancer: its node ports are on 127.0.0.1 too.
        s.status = Some(serde_json::from_value(serde_json::json!({
            "loadBalancer": {"ingress": [{"ip": "127.0.0.1", "ipMode": "VIP"}]}
        }))?);
    } else {
        s.status = Some(Default::default());
    }
    Ok(())
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
/// its addresses cannot be had, before anything is written. Starts the proxy.
pub fn create(store: &Store, exe: &Path, services: &[LoadedService]) -> anyhow::Result<()> {
    if services.is_empty() {
        return Ok(());
    }
    let _lock = allocation_lock(store)?;
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
        let mut held = Reservations::new(&dir.root)?;
        if let Err(e) = allocate(&mut s, &mut held) {
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
    ensure_proxy(store, exe)
}

/// Removes a Service, if there is one of that name: its directory goes, and the proxy (started
/// if it was not running) drops its rules at its next look. Returns whether there was one.
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
        std::fs::remove_dir_all(&dir.root)
            .with_context(|| format!("cannot remove {}", dir.root.display()))?;
    }
    let exe = std::env::current_exe().context("cannot find the tandem executable")?;
    ensure_proxy(store, &exe)?;
    Ok(true)
}

/// `tandem delete service NAME`.
pub fn delete(store: &Store, namespace: &str, name: &str) -> anyhow::Result<()> {
    if !remove(store, namespace, name)? {
        return Err(not_found(
            "services",
            name,
            "`tandem get services` lists the Services",
        ));
    }
    println!("service \"{name}\" deleted");
    Ok(())
}

fn proxy_lock(store: &Store) -> std::io::Result<Option<nix::fcntl::Flock<std::fs::File>>> {
    std::fs::create_dir_all(&store.services)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(store.services.join("proxy.lock"))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

/// The store's own table of rules: `tandem-services-` and a hash of its Services' directory, so
/// the proxies of two stores never write each other's rules.
pub fn table_name(store: &Store) -> String {
    let h = fnv32a(store.services.as_os_str().as_encoded_bytes());
    format!("tandem-services-{h:08x}")
}

/// Whether the store's proxy runs.
pub fn proxy_running(store: &Store) -> bool {
    matches!(proxy_lock(store), Ok(None))
}

/// Starts the proxy when none runs and there is work for it: a Service, or rules of Services
/// that are gone. The proxy sees to the rest.
pub fn ensure_proxy(store: &Store, exe: &Path) -> anyhow::Result<()> {
    if !store.services.exists() || proxy_running(store) {
        return Ok(());
    }
    if list(store).is_empty() && !tandem_network::services::present(&table_name(store)) {
        return Ok(());
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.services.join("proxy.log"))?;
    Command::new(exe)
        .args(ProxyArgs::argv(&ProxyArgs {
            services: store.services.clone(),
            pods: store.pods.clone(),
        }))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .context("cannot start the Services' proxy")?;
    Ok(())
}

/// `tandem __proxy SERVICES_DIR PODS_DIR`: the proxy of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyArgs {
    pub services: PathBuf,
    pub pods: PathBuf,
}

impl HelperArgs for ProxyArgs {
    const VERB: &'static str = "__proxy";

    fn to_args(&self) -> Vec<OsString> {
        vec![
            self.services.clone().into_os_string(),
            self.pods.clone().into_os_string(),
        ]
    }

    fn parse(args: &[OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let services = PathBuf::from(a.os("services directory")?);
        let pods = PathBuf::from(a.os("pods directory")?);
        a.end()?;
        Ok(ProxyArgs { services, pods })
    }
}

pub fn proxy_main(a: &ProxyArgs) -> i32 {
    let mut store = Store::new(None);
    store.services = a.services.clone();
    store.pods = a.pods.clone();
    match proxy(&store) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
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

/// What the kernel routes for one Service: a [`VirtualPort`] per TCP or UDP port, its backends
/// from the slices (the slice port named as the Service port).
fn virtual_ports(s: &Service, slices: &[EndpointSlice]) -> Vec<VirtualPort> {
    let spec = s.spec.clone().unwrap_or_default();
    if ServiceType::of(s) == ServiceType::ExternalName {
        return Vec::new();
    }
    let cluster_ip = spec.cluster_ip.as_deref().and_then(|c| c.parse().ok());
    spec.ports
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let protocol = p.protocol.clone().unwrap_or_else(|| "TCP".into());
            let transport = match protocol.as_str() {
                "TCP" => Transport::Tcp,
                "UDP" => Transport::Udp,
                _ => return None,
            };
            let port_name = p.name.clone().unwrap_or_default();
            let mut backends = Vec::new();
            for slice in slices {
                let Some(target) = slice.ports.iter().flatten().find(|sp| {
                    sp.name.clone().unwrap_or_default() == port_name
                        && sp.protocol.as_deref() == Some(protocol.as_str())
                }) else {
                    continue;
                };
                let Some(port) = target.port.and_then(|n| u16::try_from(n).ok()) else {
                    continue;
                };
                for e in members(slice) {
                    let Some(ip) = e.addresses.first().and_then(|a| a.parse().ok()) else {
                        continue;
                    };
                    let c = e.conditions.clone().unwrap_or_default();
                    backends.push(Backend {
                        ip,
                        port,
                        ready: c.ready == Some(true),
                        serving: c.serving == Some(true),
                        terminating: c.terminating == Some(true),
                    });
                }
            }
            Some(VirtualPort {
                name: format!(
                    "{}/{}:{}",
                    namespace_of(s),
                    name_of(s),
                    if port_name.is_empty() {
                        p.port.to_string()
                    } else {
                        port_name
                    }
                ),
                transport,
                cluster_ip,
                port: u16::try_from(p.port).ok()?,
                node_port: p.node_port.and_then(|n| u16::try_from(n).ok()),
                backends,
            })
        })
        .collect()
}

/// The proxy: looks, writes what changed, until no Service is left.
fn proxy(store: &Store) -> anyhow::Result<()> {
    let Some(mut lock) = proxy_lock(store)? else {
        return Ok(());
    };
    std::fs::write(
        store.services.join("proxy.pid"),
        std::process::id().to_string(),
    )?;
    let mut pods = Pods {
        cache: HashMap::new(),
    };
    let mut routed: Option<Vec<VirtualPort>> = None;
    loop {
        let services = list(store);
        if services.is_empty() {
            tandem_network::services::remove(&table_name(store))?;
            let _ = std::fs::remove_file(store.services.join("proxy.pid"));
            drop(lock);
            // A Service created while this one was leaving: its creator saw the lock held and
            // left the work to this process, so it must not go.
            if list(store).is_empty() {
                return Ok(());
            }
            match proxy_lock(store)? {
                Some(l) => lock = l,
                None => return Ok(()),
            }
            routed = None;
            continue;
        }
        let all_pods = pods.look(store);
        let mut ports = Vec::new();
        for (dir, s) in &services {
            let slices = endpoint_slices(s, &all_pods);
            if slices != dir.slices() {
                write_atomic(&dir.slices_file(), &serde_json::to_vec_pretty(&slices)?)?;
            }
            ports.extend(virtual_ports(s, &slices));
        }
        if routed.as_ref() != Some(&ports) {
            match tandem_network::services::sync(&table_name(store), &ports) {
                Ok(()) => routed = Some(ports),
                Err(e) => eprintln!("error: {e}"),
            }
        }
        std::thread::sleep(PERIOD);
    }
}

fn age_of(s: &Service) -> String {
    match &s.metadata.creation_timestamp {
        Some(t) => tandem_kubelet::status::human_duration(
            ((tandem_supervisor::logs::now_us() - t.0.as_microsecond()).max(0) / 1_000_000) as u64,
        ),
        None => "<unknown>".into(),
    }
}

/// kubectl's PORT(S) column: `80/TCP`, `80:30080/TCP`, comma-separated.
fn ports_text(s: &Service) -> String {
    let ports = s
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    if ports.is_empty() {
        return "<none>".into();
    }
    ports
        .iter()
        .map(|p| {
            let proto = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port {
                Some(n) => format!("{}:{n}/{proto}", p.port),
                None => format!("{}/{proto}", p.port),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn external_ip(s: &Service) -> String {
    let spec = s.spec.clone().unwrap_or_default();
    match ServiceType::of(s) {
        ServiceType::ExternalName => spec.external_name.unwrap_or_default(),
        ServiceType::LoadBalancer => {
            let ips: Vec<String> = s
                .status
                .as_ref()
                .and_then(|st| st.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|i| i.ip.or(i.hostname))
                .collect();
            if ips.is_empty() {
                "<pending>".into()
            } else {
                ips.join(",")
            }
        }
        _ => "<none>".into(),
    }
}

fn selector_text(s: &Service) -> String {
    let sel = s
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    if sel.is_empty() {
        return "<none>".into();
    }
    sel.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// kubectl's list of addresses: the first three, then ` + N more...`.
fn at_most_three(items: Vec<String>) -> String {
    match items.len() {
        0 => "<none>".into(),
        n if n > 3 => format!("{} + {} more...", items[..3].join(","), n - 3),
        _ => items.join(","),
    }
}

/// The resources `get` serves here, by the names kubectl takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    Services,
    Endpoints,
    EndpointSlices,
}

impl Resource {
    pub fn from_resource(r: &str) -> Option<Resource> {
        Some(match r {
            "services" | "service" | "svc" => Resource::Services,
            "endpoints" | "endpoint" | "ep" => Resource::Endpoints,
            "endpointslices" | "endpointslice" | "endpointslices.discovery.k8s.io" => {
                Resource::EndpointSlices
            }
            _ => return None,
        })
    }

    fn kind(self) -> &'static str {
        match self {
            Resource::Services => "service",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslice.discovery.k8s.io",
        }
    }

    fn plural(self) -> &'static str {
        match self {
            Resource::Services => "services",
            Resource::Endpoints => "endpoints",
            Resource::EndpointSlices => "endpointslices.discovery.k8s.io",
        }
    }
}

/// One object as `get` shows it: name, namespace, its JSON and its table row.
struct Item {
    name: String,
    namespace: String,
    json: Value,
    row: Vec<String>,
}

fn items(store: &Store, r: Resource, a: &GetArgs) -> anyhow::Result<Vec<Item>> {
    let wide = a.output == Some(Output::Wide);
    let mut out = Vec::new();
    for (dir, s) in list(store) {
        let ns = namespace_of(&s).to_string();
        if !(a.all_namespaces || ns == a.namespace) {
            continue;
        }
        let name = name_of(&s).to_string();
        match r {
            Resource::Services => {
                let mut json = serde_json::to_value(&s)?;
                json["apiVersion"] = "v1".into();
                json["kind"] = "Service".into();
                let spec = s.spec.clone().unwrap_or_default();
                let mut row = vec![
                    name.clone(),
                    ServiceType::of(&s).name().to_string(),
                    spec.cluster_ip.clone().unwrap_or_else(|| "<none>".into()),
                    external_ip(&s),
                    ports_text(&s),
                    age_of(&s),
                ];
                if wide {
                    row.push(selector_text(&s));
                }
                out.push(Item {
                    name,
                    namespace: ns,
                    json,
                    row,
                });
            }
            Resource::Endpoints => {
                let e = endpoints(&s, &dir.slices());
                let mut addresses = Vec::new();
                for subset in e.subsets.iter().flatten() {
                    for addr in subset.addresses.iter().flatten() {
                        let ports = subset.ports.clone().unwrap_or_default();
                        if ports.is_empty() {
                            addresses.push(addr.ip.clone());
                        }
                        for p in ports {
                            addresses.push(format!("{}:{}", addr.ip, p.port));
                        }
                    }
                }
                let mut json = serde_json::to_value(&e)?;
                json["apiVersion"] = "v1".into();
                json["kind"] = "Endpoints".into();
                let row = vec![name.clone(), at_most_three(addresses), age_of(&s)];
                out.push(Item {
                    name,
                    namespace: ns,
                    json,
                    row,
                });
            }
            Resource::EndpointSlices => {
                for slice in dir.slices() {
                    let mut json = serde_json::to_value(&slice)?;
                    json["apiVersion"] = "discovery.k8s.io/v1".into();
                    json["kind"] = "EndpointSlice".into();
                    let ports: Vec<String> = slice
                        .ports
                        .iter()
                        .flatten()
                        .filter_map(|p| p.port.map(|n| n.to_string()))
                        .collect();
                    let addresses: Vec<String> = members(&slice)
                        .iter()
                        .flat_map(|e| e.addresses.clone())
                        .collect();
                    let row = vec![
                        slice.metadata.name.clone().unwrap_or_default(),
                        slice.address_type.clone(),
                        if ports.is_empty() {
                            "<unset>".into()
                        } else {
                            ports.join(",")
                        },
                        at_most_three(addresses),
                        age_of(&s),
                    ];
                    out.push(Item {
                        name: slice.metadata.name.clone().unwrap_or_default(),
                        namespace: ns.clone(),
                        json,
                        row,
                    });
                }
            }
        }
    }
    Ok(out)
}

fn header(r: Resource, a: &GetArgs) -> Vec<&'static str> {
    let mut h = match r {
        Resource::Services => vec![
            "NAME",
            "TYPE",
            "CLUSTER-IP",
            "EXTERNAL-IP",
            "PORT(S)",
            "AGE",
        ],
        Resource::Endpoints => vec!["NAME", "ENDPOINTS", "AGE"],
        Resource::EndpointSlices => vec!["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"],
    };
    if r == Resource::Services && a.output == Some(Output::Wide) {
        h.push("SELECTOR");
    }
    if a.all_namespaces {
        h.insert(0, "NAMESPACE");
    }
    h
}

fn rows(items: &[Item], a: &GetArgs, qualify: Option<&str>) -> Vec<Vec<String>> {
    items
        .iter()
        .map(|i| {
            let mut r = i.row.clone();
            if let Some(kind) = qualify {
                r[0] = format!("{kind}/{}", r[0]);
            }
            if a.all_namespaces {
                r.insert(0, i.namespace.clone());
            }
            r
        })
        .collect()
}

/// `tandem get services|endpoints|endpointslices [NAME]`.
pub fn get(store: &Store, r: Resource, a: &GetArgs) -> anyhow::Result<i32> {
    let pod_only = [
        ("--selector", a.selector.is_some()),
        ("--field-selector", a.field_selector.is_some()),
        ("--show-labels", a.show_labels),
        ("--watch", a.watch),
        ("--sort-by", a.sort_by.is_some()),
    ];
    if let Some((flag, _)) = pod_only.iter().find(|(_, set)| *set) {
        return Err(hint(
            format!("{flag} is not supported for {} yet", r.plural()),
            "use it with `tandem get pods`",
        ));
    }
    if let Ok(exe) = std::env::current_exe() {
        ensure_proxy(store, &exe)?;
    }
    let mut items = items(store, r, a)?;
    if let Some(n) = &a.name {
        items.retain(|i| &i.name == n);
        if items.is_empty() {
            return Err(not_found(
                r.plural().split('.').next().unwrap_or_default(),
                n,
                format!("`tandem get {}` lists them", r.plural()),
            ));
        }
    }
    let json = || -> Value {
        match (&a.name, items.first()) {
            (Some(_), Some(i)) => i.json.clone(),
            _ => {
                serde_json::json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
                "items": items.iter().map(|i| i.json.clone()).collect::<Vec<_>>()})
            }
        }
    };
    match &a.output {
        Some(Output::Json) => println!("{}", serde_json::to_string_pretty(&json())?),
        Some(Output::Yaml) => print!("{}", to_yaml(&json())),
        Some(Output::JsonPath(t)) => print!("{}", t.render(&json())),
        Some(Output::Name) => {
            for i in &items {
                println!("{}/{}", r.kind(), i.name);
            }
        }
        Some(Output::CustomColumns(_)) => {
            return Err(hint(
                format!("-o custom-columns is not supported for {} yet", r.plural()),
                "use -o jsonpath, json or yaml",
            ))
        }
        Some(Output::Wide) | None => {
            if items.is_empty() {
                match a.all_namespaces {
                    true => eprintln!("No resources found"),
                    false => eprintln!("No resources found in {} namespace.", a.namespace),
                }
                return Ok(0);
            }
            print!("{}", table(&header(r, a), &rows(&items, a, None)));
        }
    }
    Ok(0)
}

/// The Services section of `get all` (`service/NAME`), when there is one.
pub fn all_section(store: &Store, a: &GetArgs) -> anyhow::Result<Option<String>> {
    let items = items(store, Resource::Services, a)?;
    Ok((!items.is_empty()).then(|| {
        table(
            &header(Resource::Services, a),
            &rows(&items, a, Some("service")),
        )
    }))
}
