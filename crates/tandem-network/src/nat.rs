//! The built-in network's packet filter rules, in an nftables table of tandem's own (`inet
//! tandem`), written through nf_tables' netlink interface (rustables) instead of a process per
//! rule.
//!
//! Once per machine, whoever attaches first: NAT chains at the `srcnat` and `dstnat` priorities,
//! and masquerading for the pods' subnets (egress to anything outside them, as the CNI bridge
//! plugin's `ipMasq`), plus masquerading of connections a published port brought in from
//! 127.0.0.1 or from a pod of the same bridge (the portmap plugin's `snat`: the reply must come
//! back through the host to be translated back). Per pod, only its published ports: a DNAT rule
//! in the `prerouting` chain (traffic arriving from outside or from pods) and one in `output`
//! (from the host itself), each tagged with the pod's id as user data, by which they are found and
//! deleted. A published port without `hostIP` applies to the host's own addresses only, kept in
//! the set `local`: destination NAT on any address would hijack a pod's connections to the same
//! port of another machine, which the host routes.

use std::net::IpAddr;

use rustables::expr::{
    Bitwise, Cmp, CmpOp, Conntrack, ConntrackKey, HighLevelPayload, IPv4HeaderField,
    IPv6HeaderField, Immediate, Lookup, Masquerade, Meta, MetaType, Nat, NatType,
    NetworkHeaderField, Register, VerdictKind,
};
use rustables::set::SetBuilder;
use rustables::{
    Batch, Chain, ChainType, Hook, HookClass, MsgType, Protocol, ProtocolFamily, Rule, Set, Table,
};

use crate::links::Cidr;
use crate::{NetworkError, PortMapping, Result};

/// The table's name (family `inet`: one table for IPv4 and IPv6).
pub const TABLE: &str = "tandem";
/// The connection mark set on connections a published port brought in, to masquerade those from
/// 127.0.0.1 or the pods' own subnets.
const PUBLISHED: u32 = 0x7a6e_0001;

fn filter_err(step: &str, e: impl std::fmt::Display) -> NetworkError {
    NetworkError::PacketFilter {
        step: step.to_string(),
        reason: e.to_string(),
    }
}

/// A batch the kernel refused, with the kernel's reason (errno).
fn sent(batch: Batch, step: &str) -> Result<()> {
    batch.send().map_err(|e| match e {
        rustables::error::QueryError::NetlinkError(m) => {
            filter_err(step, std::io::Error::from_raw_os_error(m.error.abs()))
        }
        other => filter_err(step, other),
    })
}

fn table() -> Table {
    Table::new(ProtocolFamily::Inet).with_name(TABLE)
}

fn chain(name: &str) -> Chain {
    Chain::new(&table()).with_name(name)
}

/// The set of the host's own addresses of one family.
fn local_set(v6: bool) -> Set {
    let built = if v6 {
        SetBuilder::<std::net::Ipv6Addr>::new("local6", &table()).map(|b| b.finish().0)
    } else {
        SetBuilder::<std::net::Ipv4Addr>::new("local4", &table()).map(|b| b.finish().0)
    };
    // The builder fails only for a table without a name, and ours has one. It leaves the
    // family unset, which the kernel refuses.
    // The kernel also wants an id, which names the set within one batch (nf_tables_newset).
    let mut set = built
        .unwrap_or_default()
        .with_id(if v6 { 6u32 } else { 4u32 });
    set.family = ProtocolFamily::Inet;
    set
}

/// Matches the packet's family, then loads its source or destination address into register 1.
fn load_address(rule: &mut Rule, v6: bool, source: bool) {
    rule.add_expr(Meta::new(MetaType::NfProto));
    rule.add_expr(Cmp::new(
        CmpOp::Eq,
        [if v6 {
            libc::NFPROTO_IPV6
        } else {
            libc::NFPROTO_IPV4
        } as u8],
    ));
    let field = match (v6, source) {
        (false, true) => NetworkHeaderField::IPv4(IPv4HeaderField::Saddr),
        (false, false) => NetworkHeaderField::IPv4(IPv4HeaderField::Daddr),
        (true, true) => NetworkHeaderField::IPv6(IPv6HeaderField::Saddr),
        (true, false) => NetworkHeaderField::IPv6(IPv6HeaderField::Daddr),
    };
    rule.add_expr(HighLevelPayload::Network(field).build());
}

fn octets(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

fn mask(net: Cidr) -> Vec<u8> {
    let bits = if net.addr.is_ipv4() { 32 } else { 128 };
    let ones = u128::MAX
        .checked_shl(bits - u32::from(net.prefix))
        .unwrap_or(0);
    let bytes = ones.to_be_bytes();
    bytes[16 - (bits / 8) as usize..].to_vec()
}

/// Matches the source or destination address being in `net`.
fn in_network(mut rule: Rule, net: Cidr, source: bool) -> Result<Rule> {
    load_address(&mut rule, net.addr.is_ipv6(), source);
    let m = mask(net);
    let zero = vec![0u8; m.len()];
    let masked: Vec<u8> = octets(net.addr)
        .iter()
        .zip(&m)
        .map(|(a, b)| a & b)
        .collect();
    rule.add_expr(Bitwise::new(m, zero).map_err(|e| filter_err("building a rule", e))?);
    rule.add_expr(Cmp::new(CmpOp::Eq, masked));
    Ok(rule)
}

fn has_published_mark(mut rule: Rule) -> Rule {
    rule.add_expr(Conntrack::new(ConntrackKey::Mark));
    rule.add_expr(Cmp::new(CmpOp::Eq, PUBLISHED.to_ne_bytes()));
    rule
}

fn verdict_return(mut rule: Rule) -> Rule {
    rule.add_expr(Immediate::new_verdict(VerdictKind::Return));
    rule
}

fn masquerade(mut rule: Rule) -> Rule {
    rule.add_expr(Masquerade {});
    rule
}

/// Makes the table, its chains, sets and machine-wide rules, unless an earlier attach did. The
/// caller holds the network's lock, so two first attaches cannot both make them.
pub fn ensure_table(subnets: &[Cidr]) -> Result<()> {
    let present = rustables::list_chains_for_table(&table())
        .map(|chains| {
            chains
                .iter()
                .any(|c| c.get_name().map(String::as_str) == Some("postrouting"))
        })
        .unwrap_or(false);
    if present {
        return Ok(());
    }
    let mut batch = Batch::new();
    batch.add(&table(), MsgType::Add);
    let hooked = |name: &str, class: HookClass, priority: i32| {
        chain(name)
            .with_hook(Hook::new(class, priority))
            .with_type(ChainType::Nat)
    };
    // srcnat and dstnat, nftables' standard NAT priorities.
    let post = hooked("postrouting", HookClass::PostRouting, 100);
    let pre = hooked("prerouting", HookClass::PreRouting, -100);
    let out = hooked("output", HookClass::Out, -100);
    for c in [&post, &pre, &out] {
        batch.add(c, MsgType::Add);
    }
    for v6 in [false, true] {
        batch.add(&local_set(v6), MsgType::Add);
    }
    // From 127.0.0.1 to a pod (only a published port's DNAT sends it there), and from a pod to
    // a published port that leads back into the bridge.
    let loopback = Cidr {
        addr: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        prefix: 8,
    };
    let mut rules = vec![masquerade(has_published_mark(in_network(
        Rule::new(&post).map_err(|e| filter_err("building a rule", e))?,
        loopback,
        true,
    )?))];
    for net in subnets {
        let base = || Rule::new(&post).map_err(|e| filter_err("building a rule", e));
        rules.push(masquerade(has_published_mark(in_network(
            base()?,
            *net,
            true,
        )?)));
        // Between pods of the subnet: no translation, each sees the other's address.
        rules.push(verdict_return(in_network(
            in_network(base()?, *net, true)?,
            *net,
            false,
        )?));
        rules.push(masquerade(in_network(base()?, *net, true)?));
    }
    for r in &rules {
        batch.add(r, MsgType::Add);
    }
    sent(batch, &format!("creating table inet {TABLE}"))
}

/// The host's own addresses go into the `local` sets (adding one already there changes nothing).
fn refresh_local_addresses(batch: &mut Batch) {
    let mut v4 = SetBuilder::<std::net::Ipv4Addr>::new("local4", &table()).ok();
    let mut v6 = SetBuilder::<std::net::Ipv6Addr>::new("local6", &table()).ok();
    for a in nix::ifaddrs::getifaddrs().into_iter().flatten() {
        let Some(addr) = a.address else { continue };
        if let (Some(s), Some(b)) = (addr.as_sockaddr_in(), v4.as_mut()) {
            b.add(&s.ip());
        } else if let (Some(s), Some(b)) = (addr.as_sockaddr_in6(), v6.as_mut()) {
            b.add(&s.ip());
        }
    }
    for (_, mut elements) in [v4.map(SetBuilder::finish), v6.map(SetBuilder::finish)]
        .into_iter()
        .flatten()
    {
        elements.family = ProtocolFamily::Inet;
        batch.add(&elements, MsgType::Add);
    }
}

/// A rule's user data as nftables writes a comment (a type-length-value record of type 0 holding
/// the text and its NUL, libnftnl's udata), so `nft list` shows the owner as `comment "…"`.
fn comment(owner: &str) -> Vec<u8> {
    let text: Vec<u8> = owner.bytes().take(254).chain([0]).collect();
    let mut tlv = vec![0u8, text.len() as u8];
    tlv.extend(text);
    tlv
}

/// One published port of the pod at `pod_ip`, in `chain`.
fn dnat_rule(chain: &Chain, m: &PortMapping, pod_ip: IpAddr, owner: &str) -> Result<Rule> {
    let v6 = pod_ip.is_ipv6();
    let mut rule = Rule::new(chain)
        .map_err(|e| filter_err("building a rule", e))?
        .with_userdata(comment(owner));
    load_address(&mut rule, v6, false);
    match m.host_ip.parse::<IpAddr>() {
        Ok(ip) => rule.add_expr(Cmp::new(CmpOp::Eq, octets(ip))),
        Err(_) => rule
            .add_expr(Lookup::new(&local_set(v6)).map_err(|e| filter_err("building a rule", e))?),
    }
    let proto = if m.protocol == "udp" {
        Protocol::UDP
    } else {
        Protocol::TCP
    };
    let mut rule = rule.dport(m.host_port, proto);
    rule.add_expr(Immediate::new_data(
        PUBLISHED.to_ne_bytes().to_vec(),
        Register::Reg1,
    ));
    rule.add_expr(Conntrack::default().with_mark_value(Register::Reg1));
    rule.add_expr(Immediate::new_data(octets(pod_ip), Register::Reg1));
    rule.add_expr(Immediate::new_data(
        m.container_port.to_be_bytes().to_vec(),
        Register::Reg2,
    ));
    rule.add_expr(
        Nat::default()
            .with_nat_type(NatType::DNat)
            .with_family(if v6 {
                ProtocolFamily::Ipv6
            } else {
                ProtocolFamily::Ipv4
            })
            .with_ip_register(Register::Reg1)
            .with_port_register(Register::Reg2),
    );
    Ok(rule)
}

/// Adds the destination NAT of the pod's published ports, for each of its addresses of the
/// mapping's family (a `hostIP` decides the family; without one, both).
pub fn publish(owner: &str, pod_ips: &[IpAddr], ports: &[PortMapping]) -> Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::new();
    refresh_local_addresses(&mut batch);
    for m in ports {
        let host_ip = m.host_ip.parse::<IpAddr>().ok();
        for ip in pod_ips
            .iter()
            .filter(|ip| host_ip.is_none_or(|h| h.is_ipv6() == ip.is_ipv6()))
        {
            for c in ["prerouting", "output"] {
                batch.add(&dnat_rule(&chain(c), m, *ip, owner)?, MsgType::Add);
            }
        }
    }
    sent(batch, "adding the published ports' rules")
}

/// Deletes every rule tagged with `owner`; a table that does not exist has none.
pub fn unpublish(owner: &str) -> Result<()> {
    let mut batch = Batch::new();
    let mut any = false;
    for c in ["prerouting", "output"] {
        let Ok(rules) = rustables::list_rules_for_chain(&chain(c)) else {
            continue;
        };
        for r in rules
            .iter()
            .filter(|r| r.get_userdata() == Some(&comment(owner)))
        {
            batch.add(r, MsgType::Del);
            any = true;
        }
    }
    if !any {
        return Ok(());
    }
    sent(batch, "deleting the published ports' rules")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_written_as_nft_comments() {
        assert_eq!(comment("ab"), [0, 3, b'a', b'b', 0]);
        assert_eq!(comment(&"x".repeat(300)).len(), 2 + 255);
    }

    #[test]
    fn masks_cover_the_prefix() {
        let c = |a: &str, p| Cidr {
            addr: a.parse().expect("ip"),
            prefix: p,
        };
        assert_eq!(mask(c("10.87.0.0", 24)), [255, 255, 255, 0]);
        assert_eq!(mask(c("127.0.0.0", 8)), [255, 0, 0, 0]);
        assert_eq!(mask(c("0.0.0.0", 0)), [0, 0, 0, 0]);
        let v6 = mask(c("fd87:7a6e::", 64));
        assert_eq!(v6.len(), 16);
        assert_eq!(&v6[..8], &[255; 8]);
        assert_eq!(&v6[8..], &[0; 8]);
    }
}
