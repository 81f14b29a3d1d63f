//! Services' virtual IPs in the kernel, as kube-proxy's nftables mode makes them: a table of
//! tandem's own per store (`inet tandem-services-…`, named by the caller) that sends a
//! connection to a Service's cluster IP (or to a node port on one of the host's addresses) to one
//! of its endpoints, chosen at random per new connection, by destination NAT in the kernel: no
//! process is in the data path.
//!
//! Both IP families live in the one `inet` table (kube-proxy runs one proxier per family, each
//! with its own `ip` or `ip6` table): a [`VirtualPort`] is one port of one family, so a
//! dual-stack Service is two of them, and every rule of a port matches its family only.
//!
//! Also the ranges cluster IPs are drawn from ([`ServiceRange`], [`ServiceRanges`]: their
//! arithmetic and checks; the allocation itself is the caller's).
//!
//! The table is written whole from a list of [`VirtualPort`]s (one per Service port) in one
//! `nft -j -f -` transaction (the `nftables` crate: the libnftables JSON schema as types), so a
//! reader never sees half a change and a port that went away leaves nothing behind. Connections
//! already made keep their endpoint (conntrack), as with kube-proxy.
//!
//! Layout of the table (names as kube-proxy's, where it has them):
//! - `nat-prerouting`, `nat-output` → `services`: a Service port with endpoints → `svc-…`, which
//!   picks `numgen random mod N` among `ep-…` chains, each a DNAT to one endpoint;
//! - `filter-forward`, `filter-output`, `filter-input` → `endpoints-check`: a new connection to a
//!   Service port without endpoints is rejected (a TCP reset, ICMP port unreachable for UDP: the
//!   client's connect fails at once with "connection refused" instead of hanging);
//! - `nat-postrouting`: connections marked in `mark-for-masquerade` are masqueraded — those from
//!   outside the pods' subnets (the host itself, 127.0.0.1 to a node port) and a pod reaching
//!   itself through its own Service (hairpin), so the reply comes back through the host.
//! - `sessionAffinity: ClientIP`: each endpoint of such a port has a set `affinity-…` of the client
//!   addresses it served, each kept for the affinity's timeout after its last connection; a new
//!   connection from an address in one of them goes to that endpoint before any random choice.
//!   Since the table is written whole, the sets' addresses (with the time each has left) are
//!   read back first and written again with it, so a change elsewhere does not move a client.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nftables::batch::Batch;
use nftables::expr::Elem;
use nftables::expr::{
    BinaryOperation, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, NgMode,
    Numgen, Payload, PayloadField, Prefix, SetItem, Verdict, CT,
};
use nftables::schema::{Chain, NfListObject, Rule, Set, SetFlag, SetType, SetTypeValue, Table};
use nftables::stmt::{
    JumpTarget, Mangle, Match, NATFamily, Operator, Reject, RejectType, SetOp, Statement,
    VerdictMap, NAT,
};
use nftables::types::{NfChainType, NfFamily, NfHook};

use crate::links::Cidr;
use crate::{NetworkError, Result};

/// The packet mark of connections to masquerade (kube-proxy's bit).
const MASQUERADE_MARK: u32 = 0x4000;

/// The transport protocol of a Service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// An IP family, as the packet filter tells them apart (the API's word for it is
/// `tandem_api::services::IpFamily`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    V4,
    V6,
}

impl IpFamily {
    pub fn of(ip: IpAddr) -> IpFamily {
        match ip {
            IpAddr::V4(_) => IpFamily::V4,
            IpAddr::V6(_) => IpFamily::V6,
        }
    }

    /// The address payload's protocol in nft (`ip saddr`, `ip6 saddr`).
    fn payload(self) -> &'static str {
        match self {
            IpFamily::V4 => "ip",
            IpFamily::V6 => "ip6",
        }
    }

    /// `meta nfproto`'s value.
    fn nfproto(self) -> &'static str {
        match self {
            IpFamily::V4 => "ipv4",
            IpFamily::V6 => "ipv6",
        }
    }

    fn nat(self) -> NATFamily {
        match self {
            IpFamily::V4 => NATFamily::IP,
            IpFamily::V6 => NATFamily::IP6,
        }
    }

    fn set_type(self) -> SetType {
        match self {
            IpFamily::V4 => SetType::Ipv4Addr,
            IpFamily::V6 => SetType::Ipv6Addr,
        }
    }

    /// What tells apart the chains of the two families of one Service port (`tcp`, `tcp6`).
    fn suffix(self) -> &'static str {
        match self {
            IpFamily::V4 => "",
            IpFamily::V6 => "6",
        }
    }
}

/// One endpoint of a Service port, with its conditions as its EndpointSlice gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub ip: IpAddr,
    pub port: u16,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
}

/// One port of one Service in one IP family, as the proxy routes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualPort {
    /// Names its chains and comments: `NAMESPACE/NAME:PORTNAME` (or the port number).
    pub name: String,
    pub transport: Transport,
    /// The family of its cluster IP, its node port's connections and its backends (backends of
    /// the other family are left out).
    pub family: IpFamily,
    /// `None` for a headless Service (no virtual IP; only its node port, if any).
    pub cluster_ip: Option<IpAddr>,
    pub port: u16,
    pub node_port: Option<u16>,
    pub backends: Vec<Backend>,
    /// `sessionAffinity: ClientIP`: how long (seconds) a client keeps its endpoint after its last
    /// new connection (`sessionAffinityConfig.clientIP.timeoutSeconds`).
    pub affinity: Option<u32>,
}

/// The client addresses each affinity set of a table holds, with the seconds each has left:
/// what a rewrite of the table must carry over (set name → addresses).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Affinities(HashMap<String, Vec<(IpAddr, u32)>>);

impl Affinities {
    /// Reads the affinity sets of table `name` from the kernel (`nft -j list table`); none when
    /// the table does not exist yet.
    pub fn read(name: &str) -> Affinities {
        nftables::helper::get_current_ruleset_raw(
            nftables::helper::DEFAULT_NFT,
            ["list", "table", "inet", name],
        )
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .map(|listed| Affinities::parse(&listed))
        .unwrap_or_default()
    }

    /// The affinity sets of `nft -j list table` output. Read as plain JSON rather than through
    /// the crate's types: only the sets are wanted, and a rule the types do not know must not
    /// make the whole listing unreadable.
    fn parse(listed: &serde_json::Value) -> Affinities {
        let mut sets = HashMap::new();
        for object in listed["nftables"].as_array().into_iter().flatten() {
            let set = &object["set"];
            let Some(name) = set["name"].as_str().filter(|n| n.starts_with("affinity-")) else {
                continue;
            };
            let clients = set["elem"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let ip = e["elem"]["val"].as_str()?.parse().ok()?;
                    let left = u32::try_from(e["elem"]["expires"].as_u64()?).ok()?;
                    (left > 0).then_some((ip, left))
                })
                .collect();
            sets.insert(name.to_string(), clients);
        }
        Affinities(sets)
    }
}

/// A range cluster IPs come from: one CIDR of kube-apiserver's `--service-cluster-ip-range` (a
/// store's, in tandem). IPv4 from /12 (the API server's largest) to /28, IPv6 from /108 (the
/// largest its allocator takes) to /124: room for the `kubernetes` Service's first address and a
/// cluster DNS address at the tenth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRange {
    base: IpAddr,
    prefix: u8,
}

/// An address as a number, whatever its family.
fn number(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn bits(family: IpFamily) -> u8 {
    match family {
        IpFamily::V4 => 32,
        IpFamily::V6 => 128,
    }
}

impl ServiceRange {
    /// kube-apiserver's default.
    pub const DEFAULT: ServiceRange = ServiceRange {
        base: IpAddr::V4(Ipv4Addr::new(10, 96, 0, 0)),
        prefix: 16,
    };

    /// The IPv6 range a dual-stack store has unless told otherwise (kind's default).
    pub const DEFAULT_V6: ServiceRange = ServiceRange {
        base: IpAddr::V6(Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0)),
        prefix: 112,
    };

    /// `A.B.C.D/N` or `X::/N`, as `--service-cluster-ip-range` takes each of its CIDRs; the
    /// reason in words when not.
    pub fn parse(text: &str) -> Result<ServiceRange, String> {
        let (addr, prefix) = text.split_once('/').ok_or_else(|| {
            format!("{text:?} is not a CIDR (write it as 10.96.0.0/16 or fd00:10:96::/112)")
        })?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IP address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("{prefix:?} is not a prefix length"))?;
        let family = IpFamily::of(addr);
        let (largest, smallest, why) = match family {
            IpFamily::V4 => (
                12,
                28,
                "/12 (the API server's largest Service range) to /28 (16 addresses)",
            ),
            IpFamily::V6 => (
                108,
                124,
                "/108 (the API server's largest IPv6 Service range) to /124 (16 addresses)",
            ),
        };
        if !(largest..=smallest).contains(&prefix) {
            return Err(format!("/{prefix} is outside {why}"));
        }
        let range = ServiceRange {
            base: ServiceRange::address(family, number(addr) & mask(family, prefix)),
            prefix,
        };
        if range.base != addr {
            return Err(format!("{text} has host bits set; the range is {range}"));
        }
        let pods = match family {
            IpFamily::V4 => crate::builtin::V4,
            IpFamily::V6 => crate::builtin::V6,
        };
        let shorter = pods.prefix.min(prefix);
        if number(pods.subnet) & mask(family, shorter) == number(range.base) & mask(family, shorter)
        {
            return Err(format!(
                "{range} overlaps the pods' network {}/{}",
                pods.subnet, pods.prefix
            ));
        }
        Ok(range)
    }

    fn address(family: IpFamily, n: u128) -> IpAddr {
        match family {
            IpFamily::V4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
            IpFamily::V6 => IpAddr::V6(Ipv6Addr::from(n)),
        }
    }

    pub fn family(self) -> IpFamily {
        IpFamily::of(self.base)
    }

    /// How many addresses it holds (at most 2^20, the largest range taken).
    pub fn size(self) -> u32 {
        1 << (bits(self.family()) - self.prefix)
    }

    pub fn contains(self, ip: IpAddr) -> bool {
        IpFamily::of(ip) == self.family()
            && number(ip) & mask(self.family(), self.prefix) == number(self.base)
    }

    pub fn nth(self, offset: u32) -> IpAddr {
        ServiceRange::address(self.family(), number(self.base) + u128::from(offset))
    }

    /// How many of the first addresses (after the network's) the API server's allocator keeps
    /// for Services that ask for one (its static band): a sixteenth of the range, at least 16
    /// and at most 256; none in a range of 16 addresses or fewer.
    pub fn static_band(self) -> u32 {
        match self.size() {
            0..=16 => 0,
            size => (size / 16).clamp(16, 256),
        }
    }
}

/// The network mask of a `prefix` in a family, as a number.
fn mask(family: IpFamily, prefix: u8) -> u128 {
    let bits = bits(family);
    let all = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    all & !(all >> prefix)
}

impl std::fmt::Display for ServiceRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The Service ranges of a store: an IPv4 one, first (pods' first address is IPv4, so the
/// store's primary family is), and an IPv6 one on a dual-stack store, as kube-apiserver's
/// `--service-cluster-ip-range IPV4CIDR,IPV6CIDR` makes a cluster dual-stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServiceRanges {
    pub primary: ServiceRange,
    pub secondary: Option<ServiceRange>,
}

impl ServiceRanges {
    /// The default: 10.96.0.0/16, and fd00:10:96::/112 when pods have IPv6 addresses.
    pub fn default_for(ipv6: bool) -> ServiceRanges {
        ServiceRanges {
            primary: ServiceRange::DEFAULT,
            secondary: ipv6.then_some(ServiceRange::DEFAULT_V6),
        }
    }

    /// `CIDR` or `IPV4CIDR,IPV6CIDR`; an IPv6 range only where pods have IPv6 (`ipv6`).
    pub fn parse(text: &str, ipv6: bool) -> Result<ServiceRanges, String> {
        let mut parts = text.split(',').map(str::trim);
        let primary = ServiceRange::parse(parts.next().unwrap_or_default())?;
        let secondary = parts.next().map(ServiceRange::parse).transpose()?;
        if parts.next().is_some() {
            return Err(format!(
                "{text:?} has more than two ranges (at most one IPv4 and one IPv6)"
            ));
        }
        if primary.family() != IpFamily::V4 {
            return Err(format!(
                "{primary} is IPv6: the first range is the pods' first family, IPv4 (write 10.96.0.0/16,{primary} for a dual-stack store)"
            ));
        }
        if let Some(second) = secondary {
            if second.family() != IpFamily::V6 {
                return Err(format!(
                    "{text} has two IPv4 ranges: the second range must be IPv6"
                ));
            }
            if !ipv6 {
                return Err(format!(
                    "{second} is IPv6, but pods on this host have no IPv6 addresses (IPv6 is disabled)"
                ));
            }
        }
        Ok(ServiceRanges { primary, secondary })
    }

    /// The range of a family, when the store has one.
    pub fn of(self, family: IpFamily) -> Option<ServiceRange> {
        [Some(self.primary), self.secondary]
            .into_iter()
            .flatten()
            .find(|r| r.family() == family)
    }

    pub fn dual_stack(self) -> bool {
        self.secondary.is_some()
    }
}

impl std::fmt::Display for ServiceRanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.secondary {
            Some(second) => write!(f, "{},{second}", self.primary),
            None => write!(f, "{}", self.primary),
        }
    }
}

/// The endpoints kube-proxy sends new connections to: the ready ones; when none is ready, those
/// still serving while they terminate (so a rolling update does not drop traffic); else none.
pub fn chosen(backends: &[Backend]) -> Vec<&Backend> {
    let ready: Vec<&Backend> = backends.iter().filter(|b| b.ready).collect();
    if !ready.is_empty() {
        return ready;
    }
    backends
        .iter()
        .filter(|b| b.serving && b.terminating)
        .collect()
}

fn s(text: impl Into<String>) -> Expression<'static> {
    Expression::String(Cow::Owned(text.into()))
}

fn field(protocol: &'static str, name: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: Cow::Borrowed(protocol),
            field: Cow::Borrowed(name),
        },
    )))
}

fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

fn eq(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::EQ, right)
}

fn goto(chain: &str) -> Statement<'static> {
    Statement::Goto(JumpTarget {
        target: Cow::Owned(chain.to_string()),
    })
}

fn jump(chain: &str) -> Statement<'static> {
    Statement::Jump(JumpTarget {
        target: Cow::Owned(chain.to_string()),
    })
}

fn prefix(net: Cidr) -> Expression<'static> {
    Expression::Named(NamedExpression::Prefix(Prefix {
        addr: Box::new(s(net.addr.to_string())),
        len: u32::from(net.prefix),
    }))
}

/// `meta l4proto P th dport N`
fn transport_port(t: Transport, port: u16) -> [Statement<'static>; 2] {
    [
        eq(meta(MetaKey::L4proto), s(t.name())),
        eq(field("th", "dport"), Expression::Number(u32::from(port))),
    ]
}

fn local_destination() -> Statement<'static> {
    eq(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags: HashSet::from([FibFlag::Daddr]),
        })),
        s("local"),
    )
}

/// A chain name from a port's name: nft takes any text, but only letters, digits and `-._/:`
/// keep `nft list` readable.
fn chain_name(kind: &str, name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._/:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{kind}-{clean}")
}

struct Builder {
    table: String,
    batch: Batch<'static>,
}

impl Builder {
    fn chain(&mut self, name: &str, base: Option<(NfChainType, NfHook, i32)>) {
        self.batch.add(NfListObject::Chain(Chain {
            family: NfFamily::INet,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Owned(name.to_string()),
            _type: base.map(|b| b.0),
            hook: base.map(|b| b.1),
            prio: base.map(|b| b.2),
            policy: base.map(|_| nftables::types::NfChainPolicy::Accept),
            ..Default::default()
        }));
    }

    fn rule(&mut self, chain: &str, expr: Vec<Statement<'static>>, comment: Option<&str>) {
        self.batch.add(NfListObject::Rule(Rule {
            family: NfFamily::INet,
            table: Cow::Owned(self.table.clone()),
            chain: Cow::Owned(chain.to_string()),
            expr: Cow::Owned(expr),
            comment: comment.map(|c| Cow::Owned(c.chars().take(128).collect())),
            ..Default::default()
        }));
    }
}

impl Builder {
    /// A set of client addresses, each forgotten `timeout` seconds after it was last updated,
    /// holding `clients` (with the seconds each has left) from the table it replaces.
    fn affinity_set(
        &mut self,
        name: &str,
        family: IpFamily,
        timeout: u32,
        clients: Option<&Vec<(IpAddr, u32)>>,
    ) {
        let elem: Vec<Expression<'static>> = clients
            .into_iter()
            .flatten()
            .filter(|(ip, _)| IpFamily::of(*ip) == family)
            .map(|(ip, left)| {
                Expression::Named(NamedExpression::Elem(Elem {
                    val: Box::new(s(ip.to_string())),
                    timeout: Some((*left).min(timeout)),
                    expires: None,
                    comment: None,
                    counter: None,
                }))
            })
            .collect();
        self.batch.add(NfListObject::Set(Box::new(Set {
            family: NfFamily::INet,
            table: Cow::Owned(self.table.clone()),
            name: Cow::Owned(name.to_string()),
            set_type: SetTypeValue::Single(family.set_type()),
            // `nft` marks it dynamic itself for the rule that updates it (and its JSON reader
            // refuses the flag by name, 1.0.6).
            flags: Some(HashSet::from([SetFlag::Timeout])),
            elem: (!elem.is_empty()).then_some(Cow::Owned(elem)),
            timeout: Some(timeout),
            ..Default::default()
        })));
    }
}

fn table(family: NfFamily, name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table {
        family,
        name: Cow::Owned(name.to_string()),
        ..Default::default()
    })
}

/// Deletes table `name` with everything in it, whether or not it exists (added first, so the
/// deletion cannot fail); also the `ip` table of that name an earlier tandem wrote, whose rules
/// would otherwise still catch its Services' addresses.
fn clear(batch: &mut Batch<'static>, name: &str) {
    for family in [NfFamily::IP, NfFamily::INet] {
        batch.add(table(family, name));
        batch.delete(table(family, name));
    }
}

/// The whole table `name` for `ports`, replacing what was there: one transaction that deletes it
/// with everything in it ([`clear`]) and makes it anew.
/// `pod_subnets` are the addresses that need no masquerading (a pod keeps its address towards
/// another pod, as on a cluster); `kept` the clients of affinity sets to carry over.
pub fn ruleset(
    name: &str,
    ports: &[VirtualPort],
    pod_subnets: &[Cidr],
    kept: &Affinities,
) -> nftables::schema::Nftables<'static> {
    let mut b = Builder {
        table: name.to_string(),
        batch: Batch::new(),
    };
    clear(&mut b.batch, name);
    b.batch.add(table(NfFamily::INet, name));
    use NfChainType::{Filter, NAT as Nat};
    // dstnat and srcnat; the filter chains run before the NAT of the output hook (-100), so the
    // check sees the cluster IP still.
    b.chain("nat-prerouting", Some((Nat, NfHook::Prerouting, -100)));
    b.chain("nat-output", Some((Nat, NfHook::Output, -100)));
    b.chain("nat-postrouting", Some((Nat, NfHook::Postrouting, 100)));
    b.chain("filter-forward", Some((Filter, NfHook::Forward, -110)));
    b.chain("filter-output", Some((Filter, NfHook::Output, -110)));
    b.chain("filter-input", Some((Filter, NfHook::Input, -110)));
    for c in ["services", "endpoints-check", "mark-for-masquerade"] {
        b.chain(c, None);
    }
    b.rule("nat-prerouting", vec![jump("services")], None);
    b.rule("nat-output", vec![jump("services")], None);
    let new_connection = eq(
        Expression::Named(NamedExpression::CT(CT {
            key: Cow::Borrowed("state"),
            family: None,
            dir: None,
        })),
        s("new"),
    );
    for c in ["filter-forward", "filter-output", "filter-input"] {
        b.rule(
            c,
            vec![new_connection.clone(), jump("endpoints-check")],
            None,
        );
    }
    let mark = || meta(MetaKey::Mark);
    b.rule(
        "mark-for-masquerade",
        vec![Statement::Mangle(Mangle {
            key: mark(),
            value: Expression::BinaryOperation(Box::new(BinaryOperation::OR(vec![
                mark(),
                Expression::Number(MASQUERADE_MARK),
            ]))),
        })],
        None,
    );
    let masked = || {
        Expression::BinaryOperation(Box::new(BinaryOperation::AND(
            mark(),
            Expression::Number(MASQUERADE_MARK),
        )))
    };
    b.rule(
        "nat-postrouting",
        vec![eq(masked(), Expression::Number(0)), Statement::Return(None)],
        None,
    );
    b.rule(
        "nat-postrouting",
        vec![
            Statement::Mangle(Mangle {
                key: mark(),
                value: Expression::BinaryOperation(Box::new(BinaryOperation::XOR(
                    mark(),
                    Expression::Number(MASQUERADE_MARK),
                ))),
            }),
            Statement::Masquerade(Some(NAT {
                addr: None,
                family: None,
                port: None,
                flags: Some(HashSet::from([nftables::stmt::NATFlag::FullyRandom])),
            })),
        ],
        None,
    );
    for p in ports {
        let family = p.family;
        let address = |name: &'static str| field(family.payload(), name);
        let of_family: Vec<Backend> = p
            .backends
            .iter()
            .filter(|b| IpFamily::of(b.ip) == family)
            .cloned()
            .collect();
        let backends = chosen(&of_family);
        let matches_port = |local: bool| -> Vec<Statement<'static>> {
            let mut m = Vec::new();
            match (local, p.cluster_ip) {
                (false, Some(ip)) => m.push(eq(address("daddr"), s(ip.to_string()))),
                (false, None) => return m,
                (true, _) => {
                    m.push(eq(meta(MetaKey::Nfproto), s(family.nfproto())));
                    m.push(local_destination());
                    if family == IpFamily::V6 {
                        // IPv6 has no `route_localnet`: a connection from ::1 sent on to a pod
                        // is dropped (its source may not leave `lo`), so the client would hang.
                        // As kube-proxy, IPv6 node ports are on the host's other addresses; on
                        // ::1 nothing listens and the connection is refused.
                        m.push(matches(address("daddr"), Operator::NEQ, s("::1")));
                    }
                }
            }
            m.extend(transport_port(
                p.transport,
                if local {
                    p.node_port.unwrap_or(0)
                } else {
                    p.port
                },
            ));
            m
        };
        let entries: Vec<Vec<Statement<'static>>> = [false, true]
            .into_iter()
            .filter(|local| {
                if *local {
                    p.node_port.is_some()
                } else {
                    p.cluster_ip.is_some()
                }
            })
            .map(matches_port)
            .collect();
        if backends.is_empty() {
            for m in entries {
                let mut rule = m;
                // A TCP reset makes the client's connect fail at once; the ICMP error that
                // kube-proxy's plain reject sends is rate-limited and seen only after a
                // retransmission (a second here).
                rule.push(Statement::Reject(Some(match p.transport {
                    Transport::Tcp => Reject::new(Some(RejectType::TCPReset), None),
                    Transport::Udp => Reject::new(None, None),
                })));
                b.rule(
                    "endpoints-check",
                    rule,
                    Some(&format!("{} has no endpoints", p.name)),
                );
            }
            continue;
        }
        let transport = format!("{}{}", p.transport.name(), family.suffix());
        let svc = chain_name("svc", &format!("{}/{transport}", p.name));
        b.chain(&svc, None);
        for (i, m) in entries.into_iter().enumerate() {
            let mut rule = m;
            rule.push(goto(&svc));
            b.rule("services", rule, Some(&p.name));
            // From outside the pods (the host, or a node port from anywhere): masquerade.
            if i == 0 && p.cluster_ip.is_some() {
                let mut outside = matches_port(false);
                for net in pod_subnets
                    .iter()
                    .filter(|n| IpFamily::of(n.addr) == family)
                {
                    outside.push(matches(address("saddr"), Operator::NEQ, prefix(*net)));
                }
                outside.push(jump("mark-for-masquerade"));
                b.rule(&svc, outside, None);
            }
        }
        if p.node_port.is_some() {
            let mut from_node = matches_port(true);
            from_node.push(jump("mark-for-masquerade"));
            b.rule(&svc, from_node, None);
        }
        let mut targets = Vec::new();
        for (i, e) in backends.iter().enumerate() {
            let endpoint = format!(
                "{}/{transport}/{}",
                p.name,
                std::net::SocketAddr::new(e.ip, e.port)
            );
            let ep = chain_name("ep", &endpoint);
            b.chain(&ep, None);
            b.rule(
                &ep,
                vec![
                    eq(address("saddr"), s(e.ip.to_string())),
                    jump("mark-for-masquerade"),
                ],
                None,
            );
            if let Some(timeout) = p.affinity {
                // As kube-proxy: a client seen in the set goes to this endpoint again (checked
                // in the Service's chain before the random choice), and each new connection
                // through here starts its timeout again.
                let set = chain_name("affinity", &endpoint);
                b.affinity_set(&set, family, timeout, kept.0.get(&set));
                b.rule(
                    &svc,
                    vec![eq(address("saddr"), s(format!("@{set}"))), goto(&ep)],
                    None,
                );
                b.rule(
                    &ep,
                    vec![Statement::Set(nftables::stmt::Set {
                        op: SetOp::Update,
                        elem: address("saddr"),
                        set: Cow::Owned(format!("@{set}")),
                    })],
                    None,
                );
            }
            b.rule(
                &ep,
                vec![
                    eq(meta(MetaKey::L4proto), s(p.transport.name())),
                    Statement::DNAT(Some(NAT {
                        addr: Some(s(e.ip.to_string())),
                        family: Some(family.nat()),
                        port: Some(Expression::Number(u32::from(e.port))),
                        flags: None,
                    })),
                ],
                None,
            );
            targets.push(SetItem::Mapping(
                Expression::Number(i as u32),
                Expression::Verdict(Verdict::Goto(JumpTarget {
                    target: Cow::Owned(ep),
                })),
            ));
        }
        b.rule(
            &svc,
            vec![Statement::VerdictMap(VerdictMap {
                key: Expression::Named(NamedExpression::Numgen(Numgen {
                    mode: NgMode::Random,
                    ng_mod: targets.len() as u32,
                    offset: None,
                })),
                data: Expression::Named(NamedExpression::Set(targets)),
            })],
            None,
        );
    }
    b.batch.to_nftables()
}

fn apply(rules: &nftables::schema::Nftables<'_>, step: &str) -> Result<()> {
    nftables::helper::apply_ruleset(rules).map_err(|e| NetworkError::PacketFilter {
        step: step.to_string(),
        reason: match e {
            nftables::helper::NftablesError::NftFailed { stderr, .. } => stderr.trim().to_string(),
            other => other.to_string(),
        },
    })
}

/// Writes the table `name` for `ports` (see [`ruleset`]).
///
/// A reply from an endpoint to a client pod on the same bridge goes to it directly, at layer 2,
/// and only passes the host's NAT (to be translated back to the cluster IP) when bridged traffic
/// is sent through the IP hooks (`br_netfilter`'s `bridge-nf-call-iptables` and
/// `bridge-nf-call-ip6tables`, one per family, which kube-proxy
/// needs for the same reason). It is switched on where the kernel has it; where it does not,
/// every connection to a Service is masqueraded, so replies come back through the host at the
/// cost of the client's address.
pub fn sync(name: &str, ports: &[VirtualPort]) -> Result<()> {
    let bridged = |knob: &str| {
        let path = format!("/proc/sys/net/bridge/{knob}");
        std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1")
            || (std::fs::write(&path, "1").is_ok()
                && std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1"))
    };
    let subnets: Vec<Cidr> = [
        ("bridge-nf-call-iptables", crate::builtin::V4),
        ("bridge-nf-call-ip6tables", crate::builtin::V6),
    ]
    .into_iter()
    .filter(|(knob, _)| bridged(knob))
    .map(|(_, range)| Cidr {
        addr: range.subnet,
        prefix: range.prefix,
    })
    .collect();
    // Only a table with affinity sets has anything to carry over (one more `nft` run).
    let kept = if ports.iter().any(|p| p.affinity.is_some()) {
        Affinities::read(name)
    } else {
        Affinities::default()
    };
    apply(
        &ruleset(name, ports, &subnets, &kept),
        "writing the Services' rules",
    )
}

/// Removes the table and every rule in it; nothing to do when there is none.
pub fn remove(name: &str) -> Result<()> {
    let mut batch = Batch::new();
    clear(&mut batch, name);
    apply(&batch.to_nftables(), "removing the Services' rules")
}

/// Whether the table exists (`nft list table` succeeds).
pub fn present(name: &str) -> bool {
    std::process::Command::new("nft")
        .args(["list", "table", "inet", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(last: u8, ready: bool, serving: bool, terminating: bool) -> Backend {
        Backend {
            ip: IpAddr::V4(Ipv4Addr::new(10, 87, 0, last)),
            port: 8080,
            ready,
            serving,
            terminating,
        }
    }

    #[test]
    fn ready_endpoints_first_then_serving_terminating_ones() {
        let all = [
            backend(2, true, true, false),
            backend(3, false, true, true),
            backend(4, false, false, false),
        ];
        let ips: Vec<_> = chosen(&all).iter().map(|b| b.ip).collect();
        assert_eq!(ips, [IpAddr::V4(Ipv4Addr::new(10, 87, 0, 2))]);
        let ips: Vec<_> = chosen(&all[1..]).iter().map(|b| b.ip).collect();
        assert_eq!(ips, [IpAddr::V4(Ipv4Addr::new(10, 87, 0, 3))]);
        assert!(chosen(&all[2..]).is_empty());
    }

    #[test]
    fn a_port_without_endpoints_is_rejected_and_one_with_is_balanced() {
        let port = |name: &str, backends| VirtualPort {
            name: name.into(),
            transport: Transport::Tcp,
            family: IpFamily::V4,
            cluster_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 9))),
            port: 80,
            node_port: Some(30080),
            backends,
            affinity: None,
        };
        let subnet = Cidr {
            addr: "10.87.0.0".parse().expect("ip"),
            prefix: 24,
        };
        let rules = ruleset(
            "t",
            &[
                port(
                    "default/web:http",
                    vec![backend(2, true, true, false), backend(3, true, true, false)],
                ),
                port("default/empty:http", vec![]),
            ],
            &[subnet],
            &Affinities::default(),
        );
        let text = serde_json::to_string(&rules).expect("json");
        assert!(
            text.contains(r#""numgen":{"mode":"random","mod":2}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""target":"ep-default/web:http/tcp/10.87.0.3:8080""#),
            "{text}"
        );
        assert!(
            text.contains(r#""comment":"default/empty:http has no endpoints""#),
            "{text}"
        );
        // The table is replaced whole: add, delete (for the `ip` table an earlier tandem wrote,
        // then the `inet` one), add, in that order, first.
        let objects = &rules.objects;
        let first: Vec<String> = objects[..5]
            .iter()
            .map(|o| serde_json::to_string(o).expect("json"))
            .collect();
        assert!(
            first[0].starts_with(r#"{"add":{"table":{"family":"ip","#),
            "{first:?}"
        );
        assert!(
            first[1].starts_with(r#"{"delete":{"table":{"family":"ip","#),
            "{first:?}"
        );
        assert!(
            first[3].starts_with(r#"{"delete":{"table":{"family":"inet","#),
            "{first:?}"
        );
        assert!(
            first[4].starts_with(r#"{"add":{"table":{"family":"inet","#),
            "{first:?}"
        );
    }

    #[test]
    fn affinity_sets_send_a_known_client_back_and_keep_what_the_table_had() {
        let listed = serde_json::json!({"nftables": [
            {"metainfo": {"json_schema_version": 1}},
            {"set": {"family": "inet", "name": "affinity-default/sticky:80/tcp/10.87.0.2:8080",
                "table": "t", "type": "ipv4_addr", "flags": ["timeout"], "timeout": 10800,
                "elem": [{"elem": {"val": "10.87.0.9", "expires": 10750}},
                         {"elem": {"val": "10.87.0.10", "expires": 0}}]}},
            {"set": {"family": "inet", "name": "other", "table": "t", "type": "ipv4_addr"}},
        ]});
        let kept = Affinities::parse(&listed);
        assert_eq!(
            kept.0.get("affinity-default/sticky:80/tcp/10.87.0.2:8080"),
            Some(&vec![(IpAddr::V4(Ipv4Addr::new(10, 87, 0, 9)), 10750)]),
            "{kept:?}"
        );
        assert_eq!(kept.0.len(), 1, "{kept:?}");
        let port = VirtualPort {
            name: "default/sticky:80".into(),
            transport: Transport::Tcp,
            family: IpFamily::V4,
            cluster_ip: Some(IpAddr::V4(Ipv4Addr::new(10, 96, 0, 9))),
            port: 80,
            node_port: None,
            backends: vec![backend(2, true, true, false), backend(3, true, true, false)],
            affinity: Some(600),
        };
        let text = serde_json::to_string(&ruleset("t", &[port], &[], &kept)).expect("json");
        // The client known to endpoint .2 is written again, with no more than the timeout left.
        assert!(
            text.contains(r#""elem":[{"elem":{"val":"10.87.0.9","timeout":600,"#),
            "{text}"
        );
        // Each endpoint: a set, a check in the Service's chain before the random choice, and an
        // update in its own chain.
        let check = r#"{"match":{"left":{"payload":{"protocol":"ip","field":"saddr"}},"right":"@affinity-default/sticky:80/tcp/10.87.0.3:8080","op":"=="}},{"goto":{"target":"ep-default/sticky:80/tcp/10.87.0.3:8080"}}"#;
        let at = text.find(check).expect(check);
        assert!(at < text.find(r#""numgen""#).expect("numgen"), "{text}");
        assert!(
            text.contains(r#"{"set":{"op":"update","elem":{"payload":{"protocol":"ip","field":"saddr"}},"set":"@affinity-default/sticky:80/tcp/10.87.0.2:8080"}}"#),
            "{text}"
        );
        assert!(text.contains(r#""timeout":600"#), "{text}");
    }

    #[test]
    fn a_service_range_is_a_network_of_its_familys_sizes_apart_from_the_pods() {
        let r = ServiceRange::parse("10.100.0.0/24").expect("valid");
        assert_eq!(r.to_string(), "10.100.0.0/24");
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert!(r.contains(v4(10, 100, 0, 255)));
        assert!(!r.contains(v4(10, 100, 1, 0)));
        assert_eq!(r.nth(1), v4(10, 100, 0, 1));
        let r6 = ServiceRange::parse("fd00:10:96::/112").expect("valid");
        assert_eq!(r6, ServiceRange::DEFAULT_V6);
        assert_eq!((r6.family(), r6.size()), (IpFamily::V6, 65536));
        assert_eq!(r6.nth(10).to_string(), "fd00:10:96::a");
        assert!(r6.contains("fd00:10:96::ffff".parse().expect("ip")));
        assert!(!r6.contains("fd00:10:97::".parse().expect("ip")));
        assert!(!r6.contains(v4(10, 96, 0, 1)));
        for (text, why) in [
            ("10.96.0.0", "is not a CIDR"),
            ("10.96.0.0/x", "is not a prefix length"),
            ("10.0.0.0/8", "outside /12"),
            ("10.96.0.0/29", "outside /12"),
            ("fd00::/64", "outside /108"),
            ("fd00::/125", "outside /108"),
            (
                "10.96.0.1/16",
                "has host bits set; the range is 10.96.0.0/16",
            ),
            ("fd00::1/112", "has host bits set; the range is fd00::/112"),
            ("10.80.0.0/12", "overlaps the pods' network 10.87.0.0/24"),
            ("10.87.0.128/28", "overlaps the pods' network"),
            (
                "fd87:7a6e::/112",
                "overlaps the pods' network fd87:7a6e::/64",
            ),
        ] {
            let e = ServiceRange::parse(text).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn a_store_is_dual_stack_with_an_ipv6_range_second_where_pods_have_ipv6() {
        let both = ServiceRanges::parse("10.100.0.0/16, fd00:10:100::/112", true).expect("valid");
        assert_eq!(both.to_string(), "10.100.0.0/16,fd00:10:100::/112");
        assert!(both.dual_stack());
        assert_eq!(
            both.of(IpFamily::V6).map(|r| r.to_string()).as_deref(),
            Some("fd00:10:100::/112")
        );
        let one = ServiceRanges::parse("10.100.0.0/16", true).expect("valid");
        assert!(!one.dual_stack() && one.of(IpFamily::V6).is_none());
        assert_eq!(
            ServiceRanges::default_for(true).to_string(),
            "10.96.0.0/16,fd00:10:96::/112"
        );
        assert_eq!(
            ServiceRanges::default_for(false).to_string(),
            "10.96.0.0/16"
        );
        for (text, ipv6, why) in [
            (
                "fd00:10:96::/112",
                true,
                "the first range is the pods' first family, IPv4",
            ),
            (
                "10.96.0.0/16,10.97.0.0/16",
                true,
                "the second range must be IPv6",
            ),
            (
                "10.96.0.0/16,fd00:10:96::/112",
                false,
                "pods on this host have no IPv6",
            ),
            (
                "10.96.0.0/16,fd00:10:96::/112,fd00:10:97::/112",
                true,
                "more than two",
            ),
        ] {
            let e = ServiceRanges::parse(text, ipv6).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn each_family_of_a_port_matches_its_own_addresses_and_chains() {
        let v6 = |text: &str| -> IpAddr { text.parse().expect("ip") };
        let port = VirtualPort {
            name: "default/web:http".into(),
            transport: Transport::Tcp,
            family: IpFamily::V6,
            cluster_ip: Some(v6("fd00:10:96::9")),
            port: 80,
            node_port: Some(30080),
            // The IPv4 backend is the other family's: left out.
            backends: vec![
                Backend {
                    ip: v6("fd87:7a6e::5"),
                    ..backend(5, true, true, false)
                },
                backend(6, true, true, false),
            ],
            affinity: Some(60),
        };
        let subnets = [
            Cidr {
                addr: "10.87.0.0".parse().expect("ip"),
                prefix: 24,
            },
            Cidr {
                addr: v6("fd87:7a6e::"),
                prefix: 64,
            },
        ];
        let text = serde_json::to_string(&ruleset("t", &[port], &subnets, &Affinities::default()))
            .expect("json");
        for wanted in [
            r#"{"match":{"left":{"payload":{"protocol":"ip6","field":"daddr"}},"right":"fd00:10:96::9","op":"=="}}"#,
            r#"{"match":{"left":{"meta":{"key":"nfproto"}},"right":"ipv6","op":"=="}}"#,
            r#""right":{"prefix":{"addr":"fd87:7a6e::","len":64}},"op":"!=""#,
            r#""target":"ep-default/web:http/tcp6/_fd87:7a6e::5_:8080""#,
            r#""dnat":{"addr":"fd87:7a6e::5","family":"ip6","port":8080}"#,
            r#""type":"ipv6_addr""#,
            r#""numgen":{"mode":"random","mod":1}"#,
            r#"{"match":{"left":{"payload":{"protocol":"ip6","field":"daddr"}},"right":"::1","op":"!="}}"#,
        ] {
            assert!(text.contains(wanted), "{wanted} in {text}");
        }
        assert!(!text.contains("10.87.0.6"), "{text}");
        assert!(!text.contains(r#""prefix":{"addr":"10.87.0.0""#), "{text}");
    }

    #[test]
    fn the_static_band_is_a_sixteenth_between_16_and_256_addresses() {
        let band = |t: &str| ServiceRange::parse(t).expect(t).static_band();
        assert_eq!(band("10.96.0.0/16"), 256);
        assert_eq!(band("10.96.0.0/12"), 256);
        assert_eq!(band("10.96.0.0/20"), 256);
        assert_eq!(band("10.96.0.0/22"), 64);
        assert_eq!(band("10.96.0.0/24"), 16);
        assert_eq!(band("10.96.0.0/27"), 16);
        assert_eq!(band("10.96.0.0/28"), 0);
        assert_eq!(
            ServiceRange::DEFAULT,
            ServiceRange::parse("10.96.0.0/16").expect("ok")
        );
    }
}
