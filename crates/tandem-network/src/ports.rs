//! Published ports: the portmap plugin's `portMappings` entries, `-p [HOSTIP:]HOSTPORT:CONTAINERPORT[/PROTO]`
//! parsing, and conflicts between publications.

use serde::{Deserialize, Serialize};

use crate::{NetworkError, Result};

/// One `portMappings` entry (CNI conventions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    #[serde(rename = "hostPort")]
    pub host_port: u16,
    #[serde(rename = "containerPort")]
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Empty: every host address.
    #[serde(rename = "hostIP", default, skip_serializing_if = "String::is_empty")]
    pub host_ip: String,
}

impl PortMapping {
    /// Parses `[HOSTIP:]HOSTPORT:CONTAINERPORT[/tcp|udp|sctp]`; an IPv6 host address is written
    /// in brackets (`[::1]:8080:80`).
    pub fn parse(spec: &str) -> Result<PortMapping> {
        let bad = |reason: &str| NetworkError::Port {
            spec: spec.into(),
            reason: reason.into(),
        };
        let (rest, protocol) = match spec.rsplit_once('/') {
            Some((r, p)) => (r, p.to_ascii_lowercase()),
            None => (spec, "tcp".to_string()),
        };
        if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
            return Err(bad("the protocol must be tcp, udp or sctp"));
        }
        let (host_ip, ports) = if let Some(r) = rest.strip_prefix('[') {
            let (ip, after) = r
                .split_once("]:")
                .ok_or_else(|| bad("an IPv6 address in brackets must be followed by ':'"))?;
            (ip.to_string(), after)
        } else {
            match rest.matches(':').count() {
                1 => (String::new(), rest),
                2 => {
                    let (ip, after) = rest.split_once(':').unwrap_or(("", rest));
                    (ip.to_string(), after)
                }
                _ => return Err(bad("write [HOSTIP:]HOSTPORT:CONTAINERPORT")),
            }
        };
        if !host_ip.is_empty() && host_ip.parse::<std::net::IpAddr>().is_err() {
            return Err(bad(&format!("{host_ip:?} is not an IP address")));
        }
        let (h, c) = ports
            .split_once(':')
            .ok_or_else(|| bad("write [HOSTIP:]HOSTPORT:CONTAINERPORT"))?;
        let port = |s: &str, what: &str| -> Result<u16> {
            match s.parse::<u16>() {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(bad(&format!(
                    "{what} {s:?} must be a number from 1 to 65535"
                ))),
            }
        };
        Ok(PortMapping {
            host_port: port(h, "the host port")?,
            container_port: port(c, "the container port")?,
            protocol,
            host_ip,
        })
    }

    fn any_address(&self) -> bool {
        self.host_ip.is_empty() || self.host_ip == "0.0.0.0" || self.host_ip == "::"
    }
}

impl std::fmt::Display for PortMapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = if self.any_address() {
            String::new()
        } else if self.host_ip.contains(':') {
            format!("[{}]:", self.host_ip)
        } else {
            format!("{}:", self.host_ip)
        };
        write!(
            f,
            "{ip}{}:{}/{}",
            self.host_port, self.container_port, self.protocol
        )
    }
}

/// Whether two publications want the same host port: same protocol and port, and the same host
/// address or either one on every address.
pub fn conflicts(a: &PortMapping, b: &PortMapping) -> bool {
    a.host_port == b.host_port
        && a.protocol == b.protocol
        && (a.any_address() || b.any_address() || a.host_ip == b.host_ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs_parse() {
        let p = PortMapping::parse("8080:80").expect("plain");
        assert_eq!(
            (
                p.host_port,
                p.container_port,
                p.protocol.as_str(),
                p.host_ip.as_str()
            ),
            (8080, 80, "tcp", "")
        );
        let p = PortMapping::parse("127.0.0.1:5353:53/UDP").expect("ip and proto");
        assert_eq!(
            (p.host_ip.as_str(), p.protocol.as_str()),
            ("127.0.0.1", "udp")
        );
        let p = PortMapping::parse("[::1]:8443:443").expect("v6");
        assert_eq!(p.host_ip, "::1");
        assert_eq!(p.to_string(), "[::1]:8443:443/tcp");
        for bad in [
            "80",
            "0:80",
            "x:1:2",
            "1:2/icmp",
            "1.2.3.4:70000:80",
            "a:b:c:d",
            "[::1:80:80",
        ] {
            assert!(PortMapping::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conflicts_follow_address_and_protocol() {
        let p = |s: &str| PortMapping::parse(s).expect("spec");
        assert!(conflicts(&p("8080:80"), &p("127.0.0.1:8080:81")));
        assert!(!conflicts(&p("127.0.0.2:8080:80"), &p("127.0.0.1:8080:80")));
        assert!(!conflicts(&p("8080:80/udp"), &p("8080:80")));
        assert!(!conflicts(&p("8081:80"), &p("8080:80")));
    }
}
