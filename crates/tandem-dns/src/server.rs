//! The server: hickory's UDP and TCP loop on one loopback port, answering from the current
//! [`Zone`] and relaying every other query to the host's resolvers.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Header, HeaderCounts, Message, Metadata, ResponseCode};
use hickory_server::proto::rr::Record;
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;
use hickory_server::Server;

use crate::zone::{Answer, Zone};
use crate::DnsError;

/// How long a forwarded query waits for each host resolver.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

struct Handler {
    zone: Arc<RwLock<Arc<Zone>>>,
    upstreams: Vec<SocketAddr>,
}

impl Handler {
    /// The host resolvers' reply to the query as the client sent it, from the first that
    /// answers.
    async fn forward(&self, raw: &[u8]) -> Option<Message> {
        for upstream in &self.upstreams {
            let bind: SocketAddr = match upstream {
                SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let Ok(socket) = tokio::net::UdpSocket::bind(bind).await else {
                continue;
            };
            if socket.connect(upstream).await.is_err() || socket.send(raw).await.is_err() {
                continue;
            }
            let mut buf = vec![0u8; 65535];
            if let Ok(Ok(n)) = tokio::time::timeout(UPSTREAM_TIMEOUT, socket.recv(&mut buf)).await {
                if let Ok(m) = Message::from_vec(&buf[..n]) {
                    return Some(m);
                }
            }
        }
        None
    }
}

fn info(metadata: Metadata) -> ResponseInfo {
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response: R,
    ) -> ResponseInfo {
        let mut meta = Metadata::response_from_request(&request.metadata);
        meta.recursion_available = true;
        let builder = MessageResponseBuilder::from_message_request(request);
        let Ok(query) = request.request_info().map(|i| i.query.original().clone()) else {
            meta.response_code = ResponseCode::FormErr;
            return response
                .send_response(builder.build_no_records(meta))
                .await
                .unwrap_or_else(|_| info(meta));
        };
        let zone = match self.zone.read() {
            Ok(z) => z.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let none: [Record; 0] = [];
        let sent = match zone.lookup(query.name(), query.query_type()) {
            Answer::Records {
                answers,
                additionals,
            } => {
                meta.authoritative = true;
                response
                    .send_response(builder.build(meta, &answers, &none, &none, &additionals))
                    .await
            }
            Answer::NoData => {
                meta.authoritative = true;
                response.send_response(builder.build_no_records(meta)).await
            }
            Answer::NxDomain => {
                meta.authoritative = true;
                meta.response_code = ResponseCode::NXDomain;
                response.send_response(builder.build_no_records(meta)).await
            }
            Answer::Forward => match self.forward(request.as_slice()).await {
                Some(m) => {
                    meta.response_code = m.metadata.response_code;
                    meta.truncation = m.metadata.truncation;
                    response
                        .send_response(builder.build(
                            meta,
                            &m.answers,
                            &m.authorities,
                            &none,
                            &m.additionals,
                        ))
                        .await
                }
                None => {
                    meta.response_code = ResponseCode::ServFail;
                    response.send_response(builder.build_no_records(meta)).await
                }
            },
        };
        sent.unwrap_or_else(|_| info(meta))
    }
}

/// A running cluster DNS server. It lives as long as the process (its thread is never
/// joined): the caller is a process whose life is the server's.
pub struct Dns {
    zone: Arc<RwLock<Arc<Zone>>>,
    port: u16,
}

impl Dns {
    /// Starts a server on 127.0.0.1 (UDP and TCP on one port the kernel picks), forwarding
    /// other names to `upstreams`.
    pub fn start(upstreams: Vec<SocketAddr>) -> Result<Dns, DnsError> {
        let (udp, tcp) = bind_pair()?;
        let port = udp.local_addr().map_err(DnsError::Bind)?.port();
        let zone = Arc::new(RwLock::new(Arc::new(Zone::default())));
        let handler = Handler {
            zone: zone.clone(),
            upstreams,
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(DnsError::Runtime)?;
        std::thread::Builder::new()
            .name("cluster-dns".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let (Ok(udp), Ok(tcp)) = (
                        tokio::net::UdpSocket::from_std(udp),
                        tokio::net::TcpListener::from_std(tcp),
                    ) else {
                        return;
                    };
                    let mut server = Server::new(handler);
                    server.register_socket(udp);
                    server.register_listener(tcp, Duration::from_secs(5), 65535);
                    let _ = server.block_until_done().await;
                });
            })
            .map_err(DnsError::Runtime)?;
        Ok(Dns { zone, port })
    }

    /// The loopback port it answers on (UDP and TCP).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Answers from `zone` from now on.
    pub fn set_zone(&self, zone: Zone) {
        let mut slot = match self.zone.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = Arc::new(zone);
    }
}

/// A UDP and a TCP socket on the same loopback port, both non-blocking for tokio.
fn bind_pair() -> Result<(std::net::UdpSocket, std::net::TcpListener), DnsError> {
    let mut last = None;
    for _ in 0..20 {
        let udp = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(DnsError::Bind)?;
        let port = udp.local_addr().map_err(DnsError::Bind)?.port();
        match std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            Ok(tcp) => {
                udp.set_nonblocking(true).map_err(DnsError::Bind)?;
                tcp.set_nonblocking(true).map_err(DnsError::Bind)?;
                return Ok((udp, tcp));
            }
            // That port is taken for TCP: try another.
            Err(e) => last = Some(e),
        }
    }
    Err(DnsError::Bind(last.unwrap_or_else(|| {
        std::io::Error::from(std::io::ErrorKind::AddrInUse)
    })))
}

/// The host's resolvers, from its resolv.conf (port 53 each).
pub fn upstreams(resolv_conf: &str) -> Vec<SocketAddr> {
    resolv_conf
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| rest.trim().parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}
