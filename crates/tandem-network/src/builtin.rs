//! The built-in network, made in-process: what the CNI chain of the built-in configuration list
//! describes (bridge `tandem0` as the pods' gateway, host-local addresses from `10.87.0.0/24`
//! and, on a host with IPv6, `fd87:7a6e::/64`, a default route, masquerading for egress,
//! published ports with SNAT for 127.0.0.1 and hairpin, loopback), done through rtnetlink
//! ([`crate::links`]), the host-local address store ([`crate::ipam`]) and nf_tables
//! ([`crate::nat`]) instead of five plugin processes and the 36 `iptables` runs they make.
//!
//! The attachment record is the same file as for a CNI network, with a result in the CNI
//! result's shape (interfaces, IPs), so everything that reads a pod's addresses reads them the
//! same way; [`Backend::InProcess`] names the host end of the pod's veth, by which DEL finds it
//! even when the ADD was cut short.

use std::net::IpAddr;
use std::path::Path;

use serde_json::json;

use crate::ipam::{Range, Store, DEFAULT_DATA_DIR};
use crate::links::{Cidr, PodLink};
use crate::record::{write_state, AddRequest, Attachment, Backend};
use crate::{NetworkError, Result};

/// The network's name: the host-local store's directory and the record's network name.
pub const NAME: &str = "tandem";
/// The bridge every pod of the built-in network hangs off.
pub const BRIDGE: &str = "tandem0";
/// The IPv4 range and its gateway.
pub const V4: Range = Range {
    subnet: IpAddr::V4(std::net::Ipv4Addr::new(10, 87, 0, 0)),
    prefix: 24,
    gateway: IpAddr::V4(std::net::Ipv4Addr::new(10, 87, 0, 1)),
};
/// The IPv6 range and its gateway, used when the host has IPv6.
pub const V6: Range = Range {
    subnet: IpAddr::V6(std::net::Ipv6Addr::new(0xfd87, 0x7a6e, 0, 0, 0, 0, 0, 0)),
    prefix: 64,
    gateway: IpAddr::V6(std::net::Ipv6Addr::new(0xfd87, 0x7a6e, 0, 0, 0, 0, 0, 1)),
};

/// Whether this host has IPv6 (pods are then dual-stack, as on a dual-stack node).
pub fn ipv6_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .is_ok_and(|v| v.trim() == "0")
}

/// The ranges pods get addresses from on this host.
pub fn ranges(ipv6: bool) -> Vec<Range> {
    let mut r = vec![V4];
    if ipv6 {
        r.push(V6);
    }
    r
}

/// A name for the host end of a pod's veth: `veth` and 8 hex digits, unique enough among the
/// pods of one host (15 characters at most, IFNAMSIZ).
fn host_ifname(id: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut h: u32 = 0x811c_9dc5;
    for b in id.bytes().chain(nanos.to_le_bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    format!("veth{h:08x}")
}

fn cidr(r: &Range, addr: IpAddr) -> Cidr {
    Cidr {
        addr,
        prefix: r.prefix,
    }
}

/// Attaches the pod's namespace to the built-in network, described by `list` (its configuration
/// list, kept in the record); on failure, nothing of it stays. Dual-stack when the host has IPv6.
pub fn add(list: &serde_json::Value, req: &AddRequest, state: &Path) -> Result<Attachment> {
    let store = Store::new(Path::new(DEFAULT_DATA_DIR), NAME);
    let ranges = ranges(ipv6_enabled());
    let veth = host_ifname(&req.container_id);
    let mut att = Attachment {
        network: list.clone(),
        source: crate::record::BUILTIN_SOURCE.into(),
        plugin_dirs: vec![],
        container_id: req.container_id.clone(),
        netns: req.netns.clone(),
        ifname: req.ifname.clone(),
        port_mappings: req.port_mappings.clone(),
        result: None,
        backend: Backend::InProcess {
            host_ifname: veth.clone(),
        },
    };
    write_state(state, &att)?;
    match make(req, &store, &ranges, &veth) {
        Ok(result) => {
            att.result = Some(result);
            write_state(state, &att)?;
            Ok(att)
        }
        Err(e) => {
            let _ = remove(&att);
            let _ = std::fs::remove_file(state);
            Err(e)
        }
    }
}

fn make(
    req: &AddRequest,
    store: &Store,
    ranges: &[Range],
    veth: &str,
) -> Result<serde_json::Value> {
    let subnets: Vec<Cidr> = ranges.iter().map(|r| cidr(r, r.subnet)).collect();
    let addrs = store.locked(|| {
        crate::nat::ensure_table(&subnets)?;
        store.reserve_all(ranges, &req.container_id, &req.ifname)
    })?;
    let gateways: Vec<Cidr> = ranges.iter().map(|r| cidr(r, r.gateway)).collect();
    let addresses: Vec<Cidr> = ranges
        .iter()
        .zip(&addrs)
        .map(|(r, a)| cidr(r, *a))
        .collect();
    let made = crate::links::attach(&PodLink {
        bridge: BRIDGE,
        gateways: &gateways,
        netns: &req.netns,
        ifname: &req.ifname,
        host_ifname: veth,
        addresses: &addresses,
    })?;
    crate::nat::publish(&req.container_id, &addrs, &req.port_mappings)?;
    let ips: Vec<_> = addresses
        .iter()
        .zip(ranges)
        .map(|(a, r)| json!({ "address": a.to_string(), "gateway": r.gateway.to_string(), "interface": 2 }))
        .collect();
    let routes: Vec<_> = ranges
        .iter()
        .map(|r| match r.subnet {
            IpAddr::V4(_) => json!({ "dst": "0.0.0.0/0", "gw": r.gateway.to_string() }),
            IpAddr::V6(_) => json!({ "dst": "::/0", "gw": r.gateway.to_string() }),
        })
        .collect();
    Ok(json!({
        "cniVersion": "1.0.0",
        "interfaces": [
            { "name": BRIDGE, "mac": made.bridge_mac },
            { "name": veth, "mac": made.host_mac },
            { "name": req.ifname, "mac": made.pod_mac, "sandbox": req.netns.to_string_lossy() },
        ],
        "ips": ips,
        "routes": routes,
        "dns": {},
    }))
}

/// Removes what [`add`] made for `att`, whatever of it exists: the published ports' rules, the
/// veth pair (gone already with a freed namespace), the addresses. Every step is tried; the
/// first error is returned.
pub fn remove(att: &Attachment) -> Result<()> {
    let Backend::InProcess { host_ifname } = &att.backend else {
        return Err(NetworkError::Config {
            source_name: att.source.clone(),
            reason: "not an attachment of the built-in network".into(),
        });
    };
    let store = Store::new(Path::new(DEFAULT_DATA_DIR), NAME);
    let steps = [
        crate::nat::unpublish(&att.container_id),
        crate::links::detach(host_ifname),
        store.release(&att.container_id, &att.ifname),
    ];
    steps.into_iter().collect::<Result<Vec<()>>>().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_fit_ifnamsiz_and_differ_between_attaches() {
        let a = host_ifname("uid-1");
        assert!(a.starts_with("veth") && a.len() == 12, "{a}");
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        std::thread::sleep(std::time::Duration::from_millis(1));
        assert_ne!(a, host_ifname("uid-1"));
    }

    #[test]
    fn ipv6_ranges_only_on_request() {
        assert_eq!(ranges(false), [V4]);
        assert_eq!(ranges(true), [V4, V6]);
    }
}
