//! The server over real sockets on loopback: names of the zone it was given, NXDOMAIN for the
//! rest of the cluster domain, and other names relayed to an upstream (a stand-in resolver on
//! loopback), over UDP and TCP.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use hickory_server::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use tandem_dns::zone::{Kind, Service};
use tandem_dns::{Dns, Zone};

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), rtype));
    m.to_vec().expect("encode")
}

fn over_udp(port: u16, name: &str, rtype: RecordType) -> Message {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.send_to(&query(name, rtype), (Ipv4Addr::LOCALHOST, port))
        .expect("send");
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).expect("an answer");
    Message::from_vec(&buf[..n]).expect("decode")
}

fn over_tcp(port: u16, name: &str, rtype: RecordType) -> Message {
    let mut s = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let q = query(name, rtype);
    s.write_all(&(q.len() as u16).to_be_bytes()).expect("write");
    s.write_all(&q).expect("write");
    let mut len = [0u8; 2];
    s.read_exact(&mut len).expect("length");
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).expect("message");
    Message::from_vec(&buf).expect("decode")
}

fn addresses(m: &Message) -> Vec<String> {
    m.answers.iter().map(|r| r.data.to_string()).collect()
}

/// A resolver that answers every A query with 192.0.2.7.
fn stand_in_upstream() -> SocketAddr {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let addr = s.local_addr().expect("addr");
    std::thread::spawn(move || loop {
        let mut buf = [0u8; 4096];
        let Ok((n, from)) = s.recv_from(&mut buf) else {
            return;
        };
        let Ok(q) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        let mut r = Message::new(q.metadata.id, MessageType::Response, OpCode::Query);
        for query in &q.queries {
            r.add_query(query.clone());
            r.add_answer(Record::from_rdata(
                query.name().clone(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 7))),
            ));
        }
        let _ = s.send_to(&r.to_vec().expect("encode"), from);
    });
    addr
}

#[test]
fn answers_its_zone_and_relays_the_rest() {
    let dns = Dns::start(vec![stand_in_upstream()]).expect("start");
    let mut zone = Zone::default();
    zone.services.insert(
        ("default".into(), "web".into()),
        Service {
            kind: Kind::ClusterIp(vec![Ipv4Addr::new(10, 96, 3, 4).into()]),
            ports: vec![],
            endpoints: vec![],
        },
    );
    dns.set_zone(zone);
    let port = dns.port();
    let m = over_udp(port, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(m.metadata.id, 4242);
    assert!(m.metadata.authoritative);
    assert_eq!(addresses(&m), ["10.96.3.4"]);
    let m = over_tcp(port, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(addresses(&m), ["10.96.3.4"]);
    let m = over_udp(port, "db.default.svc.cluster.local.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
    let m = over_udp(port, "example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&m), ["192.0.2.7"]);
    // A new zone replaces the old one.
    dns.set_zone(Zone::default());
    let m = over_udp(port, "web.default.svc.cluster.local.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain);
}

#[test]
fn no_upstream_answers_servfail() {
    let dns = Dns::start(vec![]).expect("start");
    let m = over_udp(dns.port(), "example.com.", RecordType::A);
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
}

#[test]
fn upstreams_come_from_resolv_conf() {
    let got = tandem_dns::upstreams(
        "# x\nnameserver 10.0.0.2\nsearch a\nnameserver ::1\nnameserver bad\n",
    );
    assert_eq!(
        got,
        [
            "10.0.0.2:53".parse::<SocketAddr>().expect("addr"),
            "[::1]:53".parse().expect("addr")
        ]
    );
}
