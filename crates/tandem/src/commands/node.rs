//! This machine as the API's one Node (`kubectl get nodes`, `describe node`, `top node`): its
//! name (the host name, every pod's `spec.nodeName`), labels, capacity, addresses and system
//! information, read from the kernel; Ready while the store is served. The object changes only
//! when the machine does (its conditions' times are the store's creation), so watches stay
//! quiet; its usage is measured when asked, as the kubelet's summary reports it (CPU of the
//! root cgroup over a short window, its memory working set).

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The pods a node takes, as the kubelet's default `maxPods`.
const MAX_PODS: u32 = 110;

/// How long CPU use is measured over.
const WINDOW: Duration = Duration::from_millis(500);

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A `/proc/meminfo` value in KiB.
fn meminfo_kib(key: &str) -> Option<u64> {
    read("/proc/meminfo").lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The IPv4 address of the interface the default route leaves by (`/proc/net/route`).
fn internal_ip() -> Option<Ipv4Addr> {
    let routes = read("/proc/net/route");
    let interface = routes.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.get(1) == Some(&"00000000")).then(|| f[0].to_string())
    })?;
    nix::ifaddrs::getifaddrs().ok()?.find_map(|a| {
        (a.interface_name == interface)
            .then(|| a.address?.as_sockaddr_in().map(|s| s.ip()))
            .flatten()
    })
}

/// `PRETTY_NAME` of `/etc/os-release`.
fn os_image() -> String {
    read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| "Linux".into())
}

/// The Node object (`created`: when the store was made, the node's age and its conditions'
/// times).
pub(crate) fn object(created: &str) -> Value {
    let name = super::start::node_name();
    let arch = tandem_apiserver::discovery::go_arch();
    let memory = meminfo_kib("MemTotal").unwrap_or(0);
    let storage = nix::sys::statvfs::statvfs(Path::new("/"))
        .map(|s| s.blocks() * s.fragment_size() / 1024)
        .unwrap_or(0);
    let capacity = json!({
        "cpu": cpus().to_string(),
        "memory": format!("{memory}Ki"),
        "pods": MAX_PODS.to_string(),
        "ephemeral-storage": format!("{storage}Ki"),
    });
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": type_, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": created, "lastTransitionTime": created,
        })
    };
    let mut addresses = vec![];
    if let Some(ip) = internal_ip() {
        addresses.push(json!({"type": "InternalIP", "address": ip.to_string()}));
    }
    addresses.push(json!({"type": "Hostname", "address": name}));
    let machine_id = read("/etc/machine-id");
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "uid": uuid_of(&machine_id),
            "creationTimestamp": created,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": arch,
                "beta.kubernetes.io/os": "linux",
                "beta.kubernetes.io/arch": arch,
            },
        },
        "spec": {},
        "status": {
            "capacity": capacity,
            "allocatable": capacity,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "tandem has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "tandem has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "tandem has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "tandem runs this machine's pods"),
            ],
            "addresses": addresses,
            "nodeInfo": {
                "machineID": machine_id,
                "systemUUID": read("/sys/class/dmi/id/product_uuid"),
                "bootID": read("/proc/sys/kernel/random/boot_id"),
                "kernelVersion": read("/proc/sys/kernel/osrelease"),
                "osImage": os_image(),
                "containerRuntimeVersion": format!("tandem://{}", env!("CARGO_PKG_VERSION")),
                "kubeletVersion": tandem_apiserver::discovery::version()["gitVersion"],
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": arch,
            },
        },
    })
}

/// A machine id (32 hex digits) written as a UUID, the form the API gives uids.
fn uuid_of(id: &str) -> String {
    if id.len() != 32 {
        return id.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &id[..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..]
    )
}

/// CPU time the whole machine has used, in nanoseconds: the root cgroup's, else `/proc/stat`'s
/// busy time.
fn cpu_used_ns() -> Option<u64> {
    tandem_runtime::cgroups::cpu_usage_ns(Path::new("/")).or_else(|| {
        let stat = read("/proc/stat");
        let ticks: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .filter_map(|t| t.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal: all but idle and iowait are busy.
        let busy: u64 = ticks
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 3 && *i != 4)
            .take(8)
            .map(|(_, t)| t)
            .sum();
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .unwrap_or(100) as u64;
        Some(busy * 1_000_000_000 / hz.max(1))
    })
}

/// The node's NodeMetrics, measured now (`kubectl top node`).
pub(crate) fn metrics() -> Value {
    let before = cpu_used_ns();
    let started = Instant::now();
    std::thread::sleep(WINDOW);
    let elapsed = started.elapsed().as_nanos().max(1) as u64;
    let millicores = match (before, cpu_used_ns()) {
        (Some(b), Some(a)) => a.saturating_sub(b) * 1000 / elapsed,
        _ => 0,
    };
    let working_set_kib = tandem_runtime::cgroups::memory_working_set(Path::new("/"))
        .map(|b| b / 1024)
        .or_else(|| Some(meminfo_kib("MemTotal")? - meminfo_kib("MemAvailable")?))
        .unwrap_or(0);
    let now = super::start::now_time();
    json!({
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": super::start::node_name(), "creationTimestamp": now},
        "timestamp": now,
        "window": format!("{}ms", WINDOW.as_millis()),
        "usage": {"cpu": format!("{millicores}m"), "memory": format!("{working_set_kib}Ki")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_says_what_this_machine_has() {
        let node = object("2026-12-05T00:00:00Z");
        let status = &node["status"];
        assert_eq!(status["capacity"]["cpu"], cpus().to_string());
        assert_eq!(status["capacity"]["pods"], "110");
        assert!(status["capacity"]["memory"]
            .as_str()
            .is_some_and(|m| m.ends_with("Ki") && m.len() > 3));
        assert_eq!(status["conditions"][3]["type"], "Ready");
        assert_eq!(
            node["metadata"]["labels"]["kubernetes.io/hostname"],
            super::super::start::node_name()
        );
        // The same machine, the same object: nothing in it moves with time.
        assert_eq!(node, object("2026-12-05T00:00:00Z"));
        assert_eq!(
            uuid_of("0123456789abcdef0123456789abcdef"),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
    }
}
