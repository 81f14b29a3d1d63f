//! The built-in network's links, addresses and routes, made through rtnetlink (rtnetlink(7)):
//! the host's bridge with the gateway addresses, one veth pair per pod with one end on the bridge
//! and the other in the pod's network namespace as `eth0`, its addresses and default routes.
//!
//! A netlink socket talks to the network namespace its thread was in when it was opened, and
//! setns(2) with `CLONE_NEWNET` moves only the calling thread, so the work runs on a thread of
//! its own: first the host's side, then, once the thread has entered the pod's namespace, the
//! pod's. The thread ends with the work, and its namespace with it.

use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{InfoData, InfoVeth, LinkAttribute, LinkMessage};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use crate::{NetworkError, Result};

/// An address with its prefix length (`10.87.0.1/24`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// What to make for one pod.
#[derive(Debug, Clone)]
pub struct PodLink<'a> {
    pub bridge: &'a str,
    /// The bridge's addresses: the pods' gateways.
    pub gateways: &'a [Cidr],
    pub netns: &'a Path,
    pub ifname: &'a str,
    pub host_ifname: &'a str,
    /// The pod's addresses, one per gateway, in the same order.
    pub addresses: &'a [Cidr],
}

/// What was made: the MAC addresses of the three interfaces involved.
#[derive(Debug, Clone, Default)]
pub struct Made {
    pub bridge_mac: String,
    pub host_mac: String,
    pub pod_mac: String,
}

fn netlink(step: &str, e: impl std::fmt::Display) -> NetworkError {
    NetworkError::Netlink {
        step: step.to_string(),
        reason: e.to_string(),
    }
}

/// Runs `work` on a thread of its own, with a single-threaded async runtime.
fn on_own_thread<T: Send>(work: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(work)
            .join()
            .unwrap_or_else(|_| Err(netlink("the netlink thread", "it panicked")))
    })
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|e| netlink("starting an async runtime", e))?;
    rt.block_on(f)
}

/// A connection to the netlink of the calling thread's network namespace.
fn connect() -> Result<Handle> {
    let (conn, handle, _) =
        rtnetlink::new_connection().map_err(|e| netlink("netlink socket", e))?;
    tokio::spawn(conn);
    Ok(handle)
}

async fn index_of(handle: &Handle, name: &str) -> Result<Option<LinkMessage>> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        // The kernel answers ENODEV for a name it does not know.
        Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(None),
        Err(e) => Err(netlink(&format!("looking up {name}"), e)),
    }
}

fn mac_of(link: &LinkMessage) -> String {
    link.attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::Address(bytes) => Some(
                bytes
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            _ => None,
        })
        .unwrap_or_default()
}

fn is_exists(e: &rtnetlink::Error) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -libc::EEXIST)
}

/// The bridge, made if it is missing (another pod's attach may be making it at the same moment),
/// up, with every gateway address on it.
async fn ensure_bridge(handle: &Handle, name: &str, gateways: &[Cidr]) -> Result<LinkMessage> {
    let bridge = match index_of(handle, name).await? {
        Some(b) => b,
        None => {
            let made = handle
                .link()
                .add(LinkBridge::new(name).up().build())
                .execute()
                .await;
            match made {
                Ok(()) => {}
                Err(e) if is_exists(&e) => {}
                Err(e) => return Err(netlink(&format!("creating bridge {name}"), e)),
            }
            index_of(handle, name)
                .await?
                .ok_or_else(|| netlink(&format!("creating bridge {name}"), "it vanished"))?
        }
    };
    let index = bridge.header.index;
    let mut present = vec![];
    let mut addrs = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    while let Some(a) = addrs
        .try_next()
        .await
        .map_err(|e| netlink(&format!("listing the addresses of {name}"), e))?
    {
        present.extend(a.attributes.iter().filter_map(|attr| match attr {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        }));
    }
    for gw in gateways.iter().filter(|g| !present.contains(&g.addr)) {
        match handle
            .address()
            .add(index, gw.addr, gw.prefix)
            .execute()
            .await
        {
            Ok(()) => {}
            Err(e) if is_exists(&e) => {}
            Err(e) => return Err(netlink(&format!("adding {gw} to {name}"), e)),
        }
    }
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| netlink(&format!("setting {name} up"), e))?;
    Ok(bridge)
}

/// Writes a sysctl-like file under /proc or /sys (proc(5), the kernel's ip-sysctl and bridge
/// documentation).
fn write_knob(path: &str, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|e| netlink(&format!("writing {value} to {path}"), e))
}

/// Makes the pod's link: bridge (if needed), veth pair, addresses, routes.
pub fn attach(spec: &PodLink<'_>) -> Result<Made> {
    let netns = std::fs::File::open(spec.netns)
        .map_err(|e| netlink(&format!("opening {}", spec.netns.display()), e))?;
    on_own_thread(|| {
        let mut made = block_on(host_side(spec, &netns))?;
        // Hairpin: a pod may reach itself through a published port, its packet going out to the
        // bridge and back in by the same port (bridge port flag; the CNI bridge plugin's
        // hairpinMode).
        write_knob(
            &format!("/sys/class/net/{}/brport/hairpin_mode", spec.host_ifname),
            "1",
        )?;
        nix::sched::setns(netns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| netlink(&format!("entering {}", spec.netns.display()), e))?;
        made.pod_mac = block_on(pod_side(spec))?;
        Ok(made)
    })
}

async fn host_side(spec: &PodLink<'_>, netns: &std::fs::File) -> Result<Made> {
    use std::os::fd::AsRawFd;
    let handle = connect()?;
    let bridge = ensure_bridge(&handle, spec.bridge, spec.gateways).await?;
    // Forwarding, so pods reach beyond the host; route_localnet, so 127.0.0.1 may be
    // destination-NATed to a pod for a published port (ip-sysctl).
    write_knob("/proc/sys/net/ipv4/ip_forward", "1")?;
    write_knob(
        &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", spec.bridge),
        "1",
    )?;
    if spec.gateways.iter().any(|g| g.addr.is_ipv6()) {
        write_knob("/proc/sys/net/ipv6/conf/all/forwarding", "1")?;
    }
    // The peer is made directly inside the pod's namespace under its final name.
    let peer = LinkMessageBuilder::<LinkUnspec>::new()
        .name(spec.ifname.to_string())
        .setns_by_fd(netns.as_raw_fd())
        .build();
    let veth = LinkVeth::new(spec.host_ifname, spec.ifname)
        .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
        .build();
    handle
        .link()
        .add(veth)
        .execute()
        .await
        .map_err(|e| netlink(&format!("creating veth {}", spec.host_ifname), e))?;
    let host = index_of(&handle, spec.host_ifname)
        .await?
        .ok_or_else(|| netlink("creating the veth", "its host end vanished"))?;
    handle
        .link()
        .set(
            LinkUnspec::new_with_index(host.header.index)
                .controller(bridge.header.index)
                .up()
                .build(),
        )
        .execute()
        .await
        .map_err(|e| {
            netlink(
                &format!("putting {} on {}", spec.host_ifname, spec.bridge),
                e,
            )
        })?;
    Ok(Made {
        bridge_mac: mac_of(&bridge),
        host_mac: mac_of(&host),
        pod_mac: String::new(),
    })
}

async fn pod_side(spec: &PodLink<'_>) -> Result<String> {
    let handle = connect()?;
    let link = index_of(&handle, spec.ifname).await?.ok_or_else(|| {
        netlink(
            "configuring the pod's interface",
            "it is not in the namespace",
        )
    })?;
    let index = link.header.index;
    for a in spec.addresses {
        let mut req = handle.address().add(index, a.addr, a.prefix);
        if a.addr.is_ipv6() {
            // No duplicate address detection: the address is the allocator's alone on this
            // bridge, and a tentative address would fail the pod's first second of IPv6.
            req.message_mut().attributes.push(AddressAttribute::Flags(
                rtnetlink::packet_route::address::AddressFlags::Nodad,
            ));
        }
        req.execute()
            .await
            .map_err(|e| netlink(&format!("adding {a} to {}", spec.ifname), e))?;
    }
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| netlink(&format!("setting {} up", spec.ifname), e))?;
    for gw in spec.gateways {
        let route = match gw.addr {
            IpAddr::V4(g) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .gateway(g)
                .output_interface(index)
                .build(),
            IpAddr::V6(g) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .gateway(g)
                .output_interface(index)
                .build(),
        };
        handle
            .route()
            .add(route)
            .execute()
            .await
            .map_err(|e| netlink(&format!("adding the default route via {}", gw.addr), e))?;
    }
    Ok(mac_of(&link))
}

/// Deletes the pod's veth pair by its host end (the other end goes with it); a pair that is
/// already gone (its namespace was freed) is not an error.
pub fn detach(host_ifname: &str) -> Result<()> {
    on_own_thread(|| {
        block_on(async {
            let handle = connect()?;
            let Some(link) = index_of(&handle, host_ifname).await? else {
                return Ok(());
            };
            match handle.link().del(link.header.index).execute().await {
                Ok(()) => Ok(()),
                Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::ENODEV => Ok(()),
                Err(e) => Err(netlink(&format!("deleting {host_ifname}"), e)),
            }
        })
    })
}
