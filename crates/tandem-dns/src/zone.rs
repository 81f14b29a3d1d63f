//! The names of the cluster domain and what they answer, as CoreDNS's `kubernetes` plugin
//! answers them (the schema of the Kubernetes DNS specification,
//! <https://github.com/kubernetes/dns/blob/master/docs/specification.md>):
//!
//! - `SVC.NS.svc.ZONE`: A with the IPv4 cluster IP, AAAA with the IPv6 one (a dual-stack
//!   Service has both); for a headless Service, one A or AAAA per ready endpoint; for an
//!   ExternalName Service, a CNAME to its name.
//! - `HOST.SVC.NS.svc.ZONE`: A or AAAA of the endpoint of a headless Service with that hostname
//!   (a StatefulSet's `web-0.web`), or whose address is `HOST` written with dashes.
//! - `_PORT._PROTO.SVC.NS.svc.ZONE`: SRV per named port: the Service's own name for a cluster
//!   IP, each endpoint's name for a headless Service (with their addresses as additionals).
//! - `A-B-C-D.NS.pod.ZONE` (an IPv6 address with `-` for each `:`): the address in the name.
//! - reverse names (`D.C.B.A.in-addr.arpa`, the 32 nibbles of an IPv6 address under
//!   `ip6.arpa`) of cluster IPs and named endpoints: PTR.
//!
//! A name in the zone that matches nothing is NXDOMAIN; a name that exists without records of
//! the type asked is an empty answer; anything else is forwarded. Pure: no IO.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, PTR, SRV};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

/// How long resolvers may keep an answer (CoreDNS's `ttl` default for the kubernetes plugin).
pub const TTL: u32 = 5;

/// One endpoint of a Service, as DNS sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// `spec.hostname` of a pod whose `spec.subdomain` is the Service.
    pub hostname: Option<String>,
    /// Only ready endpoints are answered (publishNotReadyAddresses makes all of them ready).
    pub ready: bool,
}

/// A named port of a Service (SRV records exist only for named ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    pub port: u16,
    /// For a headless Service: the port on the endpoints (the SRV target's port).
    pub target_port: u16,
}

/// What a Service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Its cluster IPs: one, or one per family for a dual-stack Service.
    ClusterIp(Vec<IpAddr>),
    Headless,
    ExternalName(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub kind: Kind,
    pub ports: Vec<Port>,
    pub endpoints: Vec<Endpoint>,
}

/// The cluster's names: Services by (namespace, name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Zone {
    pub services: BTreeMap<(String, String), Service>,
}

/// What a query gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Records {
        answers: Vec<Record>,
        additionals: Vec<Record>,
    },
    /// The name exists, with no record of that type.
    NoData,
    NxDomain,
    /// Not ours: ask the host's resolvers.
    Forward,
}

/// The cluster domain, `cluster.local.` as the kubelet's default `clusterDomain`.
pub fn domain() -> Name {
    Name::from_ascii("cluster.local.").unwrap_or_default()
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap_or_default()
}

/// An A record for an IPv4 address, AAAA for an IPv6 one.
fn address_record(owner: &Name, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner.clone(), TTL, data)
}

/// Whether an address answers a query of `rtype` (A for IPv4, AAAA for IPv6).
fn answers(rtype: RecordType, ip: IpAddr) -> bool {
    matches!(
        (rtype, ip),
        (RecordType::A, IpAddr::V4(_)) | (RecordType::AAAA, IpAddr::V6(_))
    )
}

/// The addresses of `ips` that answer `rtype`, as records; NoData when none does.
fn address_records(owner: &Name, ips: impl Iterator<Item = IpAddr>, rtype: RecordType) -> Answer {
    let found: Vec<Record> = ips
        .filter(|ip| answers(rtype, *ip))
        .map(|ip| address_record(owner, ip))
        .collect();
    if found.is_empty() {
        Answer::NoData
    } else {
        records(found, vec![])
    }
}

/// An address as a DNS label: `10-87-0-5`, `fd87-7a6e--5`.
fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

fn undashed(label: &str) -> Option<IpAddr> {
    label
        .replace('-', ".")
        .parse::<Ipv4Addr>()
        .map(IpAddr::V4)
        .or_else(|_| label.replace('-', ":").parse::<Ipv6Addr>().map(IpAddr::V6))
        .ok()
}

/// The address a reverse name stands for: `D.C.B.A` under in-addr.arpa, 32 nibbles (lowest
/// first) under ip6.arpa.
fn unreversed(reversed: &str, v6: bool) -> Option<IpAddr> {
    let mut parts: Vec<&str> = reversed.split('.').collect();
    parts.reverse();
    if !v6 {
        return parts.join(".").parse::<Ipv4Addr>().ok().map(IpAddr::V4);
    }
    if parts.len() != 32 || parts.iter().any(|p| p.len() != 1) {
        return None;
    }
    u128::from_str_radix(&parts.concat(), 16)
        .ok()
        .map(|n| IpAddr::V6(Ipv6Addr::from(n)))
}

impl Zone {
    /// The answer to a query of `rtype` for `qname` (any case).
    pub fn lookup(&self, qname: &Name, rtype: RecordType) -> Answer {
        let lower = qname.to_lowercase();
        let text = lower.to_ascii();
        let text = text.trim_end_matches('.');
        if let Some(reverse) = text.strip_suffix(".in-addr.arpa") {
            return self.reverse(qname, unreversed(reverse, false), rtype);
        }
        if let Some(reverse) = text.strip_suffix(".ip6.arpa") {
            return self.reverse(qname, unreversed(reverse, true), rtype);
        }
        let Some(inside) = text.strip_suffix(".cluster.local") else {
            return if text == "cluster.local" {
                Answer::NoData
            } else {
                Answer::Forward
            };
        };
        let labels: Vec<&str> = inside.split('.').collect();
        match labels.as_slice() {
            [svc, ns, "svc"] => self.service(qname, ns, svc, rtype),
            [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
                self.srv(qname, ns, svc, &port[1..], &proto[1..], rtype)
            }
            [host, svc, ns, "svc"] => self.endpoint(qname, ns, svc, host, rtype),
            [ip, _ns, "pod"] => match undashed(ip) {
                Some(ip) => address_records(qname, std::iter::once(ip), rtype),
                None => Answer::NxDomain,
            },
            [ns, "svc"] if self.services.keys().any(|(n, _)| n == ns) => Answer::NoData,
            ["svc"] | ["pod"] => Answer::NoData,
            _ => Answer::NxDomain,
        }
    }

    fn get(&self, ns: &str, svc: &str) -> Option<&Service> {
        self.services.get(&(ns.to_string(), svc.to_string()))
    }

    fn service(&self, qname: &Name, ns: &str, svc: &str, rtype: RecordType) -> Answer {
        let Some(s) = self.get(ns, svc) else {
            return Answer::NxDomain;
        };
        match (&s.kind, rtype) {
            (Kind::ExternalName(target), _) => records(
                vec![Record::from_rdata(
                    qname.clone(),
                    TTL,
                    RData::CNAME(CNAME(name(&format!("{}.", target.trim_end_matches('.'))))),
                )],
                vec![],
            ),
            (Kind::ClusterIp(ips), _) => address_records(qname, ips.iter().copied(), rtype),
            (Kind::Headless, _) => address_records(
                qname,
                s.endpoints.iter().filter(|e| e.ready).map(|e| e.ip),
                rtype,
            ),
        }
    }

    fn endpoint(&self, qname: &Name, ns: &str, svc: &str, host: &str, rtype: RecordType) -> Answer {
        let Some(s) = self.get(ns, svc) else {
            return Answer::NxDomain;
        };
        // A dual-stack pod is two endpoints (one per family) under one name.
        let found: Vec<IpAddr> = s
            .endpoints
            .iter()
            .filter(|e| {
                e.ready
                    && (e.hostname.as_deref() == Some(host)
                        || (e.hostname.is_none() && dashed(e.ip) == host))
            })
            .map(|e| e.ip)
            .collect();
        if found.is_empty() {
            return Answer::NxDomain;
        }
        address_records(qname, found.into_iter(), rtype)
    }

    fn srv(
        &self,
        qname: &Name,
        ns: &str,
        svc: &str,
        port: &str,
        proto: &str,
        rtype: RecordType,
    ) -> Answer {
        let Some(s) = self.get(ns, svc) else {
            return Answer::NxDomain;
        };
        let Some(p) = s
            .ports
            .iter()
            .find(|p| p.name == port && p.protocol == proto)
        else {
            return Answer::NxDomain;
        };
        if rtype != RecordType::SRV {
            return Answer::NoData;
        }
        let srv = |target: Name, port: u16| {
            Record::from_rdata(
                qname.clone(),
                TTL,
                RData::SRV(SRV::new(0, 100, port, target)),
            )
        };
        match &s.kind {
            Kind::ClusterIp(_) => records(
                vec![srv(name(&format!("{svc}.{ns}.svc.cluster.local.")), p.port)],
                vec![],
            ),
            Kind::Headless => {
                let (mut answers, mut additionals) = (vec![], vec![]);
                for e in s.endpoints.iter().filter(|e| e.ready) {
                    let host = e.hostname.clone().unwrap_or_else(|| dashed(e.ip));
                    let target = name(&format!("{host}.{svc}.{ns}.svc.cluster.local."));
                    // A dual-stack pod is an endpoint in each family under one hostname: one
                    // SRV record, its two addresses as additionals.
                    let record = srv(target.clone(), p.target_port);
                    if !answers.contains(&record) {
                        answers.push(record);
                    }
                    additionals.push(address_record(&target, e.ip));
                }
                if answers.is_empty() {
                    Answer::NoData
                } else {
                    records(answers, additionals)
                }
            }
            Kind::ExternalName(_) => Answer::NoData,
        }
    }

    /// PTR for cluster IPs and named endpoints; other addresses are the host resolvers'.
    fn reverse(&self, qname: &Name, ip: Option<IpAddr>, rtype: RecordType) -> Answer {
        let Some(ip) = ip else {
            return Answer::Forward;
        };
        for ((ns, svc), s) in &self.services {
            let target = match &s.kind {
                Kind::ClusterIp(c) if c.contains(&ip) => {
                    Some(format!("{svc}.{ns}.svc.cluster.local."))
                }
                Kind::Headless => s
                    .endpoints
                    .iter()
                    .find(|e| e.ip == ip && e.hostname.is_some())
                    .and_then(|e| e.hostname.as_ref())
                    .map(|h| format!("{h}.{svc}.{ns}.svc.cluster.local.")),
                _ => None,
            };
            if let Some(t) = target {
                return match rtype {
                    RecordType::PTR => records(
                        vec![Record::from_rdata(
                            qname.clone(),
                            TTL,
                            RData::PTR(PTR(name(&t))),
                        )],
                        vec![],
                    ),
                    _ => Answer::NoData,
                };
            }
        }
        Answer::Forward
    }
}

fn records(answers: Vec<Record>, additionals: Vec<Record>) -> Answer {
    Answer::Records {
        answers,
        additionals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        let mut z = Zone::default();
        z.services.insert(
            ("default".into(), "web".into()),
            Service {
                kind: Kind::ClusterIp(vec![IpAddr::V4(Ipv4Addr::new(10, 96, 1, 5))]),
                ports: vec![Port {
                    name: "http".into(),
                    protocol: "tcp".into(),
                    port: 80,
                    target_port: 8080,
                }],
                endpoints: vec![],
            },
        );
        z.services.insert(
            ("db".into(), "pg".into()),
            Service {
                kind: Kind::Headless,
                ports: vec![Port {
                    name: "pg".into(),
                    protocol: "tcp".into(),
                    port: 5432,
                    target_port: 5432,
                }],
                endpoints: vec![
                    Endpoint {
                        ip: IpAddr::V4(Ipv4Addr::new(10, 87, 0, 4)),
                        hostname: Some("pg-0".into()),
                        ready: true,
                    },
                    Endpoint {
                        ip: "fd87:7a6e::4".parse().expect("ip"),
                        hostname: Some("pg-0".into()),
                        ready: true,
                    },
                    Endpoint {
                        ip: IpAddr::V4(Ipv4Addr::new(10, 87, 0, 5)),
                        hostname: None,
                        ready: true,
                    },
                    Endpoint {
                        ip: IpAddr::V4(Ipv4Addr::new(10, 87, 0, 6)),
                        hostname: Some("pg-2".into()),
                        ready: false,
                    },
                ],
            },
        );
        z.services.insert(
            ("default".into(), "dual".into()),
            Service {
                kind: Kind::ClusterIp(vec![
                    IpAddr::V4(Ipv4Addr::new(10, 96, 1, 6)),
                    "fd00:10:96::106".parse().expect("ip"),
                ]),
                ports: vec![],
                endpoints: vec![],
            },
        );
        z.services.insert(
            ("default".into(), "ext".into()),
            Service {
                kind: Kind::ExternalName("db.example.com".into()),
                ports: vec![],
                endpoints: vec![],
            },
        );
        z
    }

    /// The records' data as text, in order.
    fn data(a: Answer) -> Vec<String> {
        match a {
            Answer::Records { answers, .. } => answers.iter().map(|r| r.data.to_string()).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    fn ask(text: &str, rtype: RecordType) -> Vec<String> {
        data(zone().lookup(&name(text), rtype))
    }

    #[test]
    fn services_resolve_to_their_cluster_ip_or_ready_endpoints() {
        assert_eq!(
            ask("web.default.svc.cluster.local.", RecordType::A),
            ["10.96.1.5"]
        );
        assert_eq!(
            ask("WEB.Default.svc.cluster.local.", RecordType::A),
            ["10.96.1.5"]
        );
        assert_eq!(
            ask("pg.db.svc.cluster.local.", RecordType::A),
            ["10.87.0.4", "10.87.0.5"]
        );
        assert_eq!(
            ask("web.default.svc.cluster.local.", RecordType::AAAA),
            ["NoData"]
        );
        // A dual-stack Service: A and AAAA, each its family's cluster IP.
        assert_eq!(
            ask("dual.default.svc.cluster.local.", RecordType::A),
            ["10.96.1.6"]
        );
        assert_eq!(
            ask("dual.default.svc.cluster.local.", RecordType::AAAA),
            ["fd00:10:96::106"]
        );
        assert_eq!(
            ask("pg.db.svc.cluster.local.", RecordType::AAAA),
            ["fd87:7a6e::4"]
        );
        assert_eq!(
            ask("ext.default.svc.cluster.local.", RecordType::A),
            ["db.example.com."]
        );
        assert_eq!(
            ask("nope.default.svc.cluster.local.", RecordType::A),
            ["NxDomain"]
        );
        // The search path's misses end here, not at the host's resolvers.
        assert_eq!(
            ask("example.com.default.svc.cluster.local.", RecordType::A),
            ["NxDomain"]
        );
        assert_eq!(ask("example.com.", RecordType::A), ["Forward"]);
    }

    #[test]
    fn endpoints_by_hostname_or_dashed_address() {
        assert_eq!(
            ask("pg-0.pg.db.svc.cluster.local.", RecordType::A),
            ["10.87.0.4"]
        );
        assert_eq!(
            ask("10-87-0-5.pg.db.svc.cluster.local.", RecordType::A),
            ["10.87.0.5"]
        );
        // Not ready: not answered.
        assert_eq!(
            ask("pg-2.pg.db.svc.cluster.local.", RecordType::A),
            ["NxDomain"]
        );
        assert_eq!(
            ask("10-87-0-9.default.pod.cluster.local.", RecordType::A),
            ["10.87.0.9"]
        );
        assert_eq!(
            ask("pg-0.pg.db.svc.cluster.local.", RecordType::AAAA),
            ["fd87:7a6e::4"]
        );
        assert_eq!(
            ask("fd87-7a6e--9.default.pod.cluster.local.", RecordType::AAAA),
            ["fd87:7a6e::9"]
        );
        assert_eq!(
            ask("fd87-7a6e--9.default.pod.cluster.local.", RecordType::A),
            ["NoData"]
        );
    }

    #[test]
    fn srv_for_named_ports() {
        assert_eq!(
            ask("_http._tcp.web.default.svc.cluster.local.", RecordType::SRV),
            ["0 100 80 web.default.svc.cluster.local."]
        );
        let a = zone().lookup(&name("_pg._tcp.pg.db.svc.cluster.local."), RecordType::SRV);
        let Answer::Records {
            answers,
            additionals,
        } = a
        else {
            panic!("{a:?}");
        };
        let targets: Vec<String> = answers.iter().map(|r| r.data.to_string()).collect();
        assert_eq!(
            targets,
            [
                "0 100 5432 pg-0.pg.db.svc.cluster.local.",
                "0 100 5432 10-87-0-5.pg.db.svc.cluster.local."
            ]
        );
        // pg-0's two addresses, and the unnamed endpoint's.
        assert_eq!(additionals.len(), 3);
        assert_eq!(
            ask("_nope._tcp.web.default.svc.cluster.local.", RecordType::SRV),
            ["NxDomain"]
        );
    }

    #[test]
    fn reverse_names_of_cluster_ips_and_named_endpoints() {
        assert_eq!(
            ask("5.1.96.10.in-addr.arpa.", RecordType::PTR),
            ["web.default.svc.cluster.local."]
        );
        assert_eq!(
            ask("4.0.87.10.in-addr.arpa.", RecordType::PTR),
            ["pg-0.pg.db.svc.cluster.local."]
        );
        assert_eq!(
            ask("1.1.168.192.in-addr.arpa.", RecordType::PTR),
            ["Forward"]
        );
        assert_eq!(
            ask(
                "6.0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.",
                RecordType::PTR
            ),
            ["dual.default.svc.cluster.local."]
        );
        assert_eq!(
            ask(
                "4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.e.6.a.7.7.8.d.f.ip6.arpa.",
                RecordType::PTR
            ),
            ["pg-0.pg.db.svc.cluster.local."]
        );
        assert_eq!(ask("1.ip6.arpa.", RecordType::PTR), ["Forward"]);
    }
}
