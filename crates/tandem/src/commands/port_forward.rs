//! `tandem port-forward POD|svc/NAME|KIND/NAME [LOCAL:]REMOTE...` (kubectl port-forward): picks the
//! pod (for a Service or a workload, a running pod of it, a ready one first, and a Service's
//! port is led to its targetPort on that pod), listens on this machine
//! (127.0.0.1 and ::1 by default, `--address` to choose), and for each connection asks the pod's
//! supervisor to connect to REMOTE on the pod's own loopback, from inside its network namespace,
//! so a server listening on 127.0.0.1 in the pod is reached as with kubectl. The supervisor hands
//! the connected socket over and keeps nothing; bytes are relayed here, both ways, until each
//! side has closed. Runs until interrupted, or until the pod is gone.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use tandem_supervisor::proto::{Reply, Request};
use tandem_supervisor::statedir::{PodDir, Store};

use super::control::Connection;
use super::read_pod;
use crate::cli::PortForwardArgs;
use crate::errors::hint;

/// One `[LOCAL:]REMOTE` pair, REMOTE resolved to a number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Forward {
    /// 0: any free port.
    local: u16,
    remote: u16,
}

pub fn port_forward(store: &Store, a: PortForwardArgs) -> anyhow::Result<i32> {
    let (dir, service) = super::pod_of(store, &a.namespace, &a.pod, "forward to")?;
    let pod = read_pod(&dir)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let forwards = a
        .ports
        .iter()
        .map(|p| match &service {
            Some(s) => parse_service_forward(p, s, &pod),
            None => parse_forward(p, &pod),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if dir.live_supervisor().is_none() {
        let status = pod.status.clone().unwrap_or_default();
        return Err(hint(
            format!(
                "pod {name} is not running (phase {}); no port of it can be reached",
                status.phase.unwrap_or_else(|| "Unknown".into())
            ),
            format!("`tandem get pod {name}` shows how it ended; run it again to use it"),
        ));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(hint(
            "tandem needs root to reach into a pod",
            "run it with sudo, or as root",
        ));
    }
    let addresses = listen_addresses(&a.address)?;
    let mut listeners = vec![];
    for f in &forwards {
        let mut local = f.local;
        let mut bound = 0;
        for (i, ip) in addresses.iter().enumerate() {
            match TcpListener::bind(SocketAddr::new(*ip, local)) {
                Ok(l) => {
                    // A free port picked on the first address is used on the others too.
                    local = l.local_addr()?.port();
                    println!(
                        "Forwarding from {} -> {}",
                        shown(&l.local_addr()?),
                        f.remote
                    );
                    listeners.push((l, f.remote));
                    bound += 1;
                }
                // `localhost` without IPv6 on this machine: IPv4 alone serves.
                Err(e) if i > 0 && a.address == ["localhost"] && bound > 0 => {
                    let _ = e;
                }
                Err(e) => {
                    return Err(crate::errors::hint_caused(
                        e,
                        format!("unable to listen on port {local} of {ip}"),
                        "choose another local port: `LOCAL:REMOTE`, or `:REMOTE` for any free one",
                    ))
                }
            }
        }
    }
    let _ = std::io::stdout().flush();
    for (listener, remote) in listeners {
        let dir = dir.clone();
        let name = name.clone();
        std::thread::spawn(move || accept_loop(listener, remote, dir, name));
    }
    // Ends when the pod does, as kubectl's ends when the pod is gone.
    loop {
        std::thread::sleep(Duration::from_millis(500));
        if dir.live_supervisor().is_none() {
            return Err(hint(
                format!("lost connection to pod {name}: it is no longer running"),
                format!("`tandem get pod {name}` shows how it ended"),
            ));
        }
    }
}

/// `[LOCAL:]REMOTE` against a Service: REMOTE is one of its ports (by number or name), led to
/// the pod's port as the Service's targetPort says (kubectl's `translateServicePortToTargetPort`).
fn parse_service_forward(
    spec: &str,
    service: &k8s_openapi::api::core::v1::Service,
    pod: &Pod,
) -> anyhow::Result<Forward> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let (local, remote) = match spec.split_once(':') {
        Some((l, r)) => (Some(l), r),
        None => (None, spec),
    };
    let name = service.metadata.name.as_deref().unwrap_or_default();
    let ports = service
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let port = ports
        .iter()
        .find(|p| match remote.parse::<i32>() {
            Ok(n) => p.port == n,
            Err(_) => p.name.as_deref() == Some(remote),
        })
        .ok_or_else(|| {
            hint(
                format!("Service {name} does not have a service port {remote}"),
                format!("`tandem describe svc {name}` lists its ports"),
            )
        })?;
    let target = match &port.target_port {
        Some(IntOrString::String(n)) => n.clone(),
        Some(IntOrString::Int(n)) => n.to_string(),
        None => port.port.to_string(),
    };
    let pod_side = match local {
        Some(l) => format!("{l}:{target}"),
        // With no local port, kubectl listens on the Service's port.
        None => format!("{}:{target}", port.port),
    };
    parse_forward(&pod_side, pod)
}

/// `127.0.0.1:8080` and `[::1]:8080`, as kubectl prints them.
fn shown(addr: &SocketAddr) -> String {
    addr.to_string()
}

fn listen_addresses(given: &[String]) -> anyhow::Result<Vec<IpAddr>> {
    let mut out = vec![];
    for a in given {
        if a == "localhost" {
            out.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
            out.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
            continue;
        }
        let ip: IpAddr = a.parse().map_err(|_| {
            hint(
                format!("{a} is not a valid IP"),
                "--address takes `localhost` or IP addresses, comma-separated",
            )
        })?;
        out.push(ip);
    }
    Ok(out)
}

/// `8080:80`, `80` (the same port here), `:80` (any free port here), `8080:http` (a container
/// port by name).
fn parse_forward(spec: &str, pod: &Pod) -> anyhow::Result<Forward> {
    let number = |s: &str| {
        s.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
            hint(
                format!("invalid port in {spec:?}: {s} must be between 1 and 65535"),
                "write LOCAL:REMOTE, e.g. 8080:80",
            )
        })
    };
    let remote_text = spec.split_once(':').map_or(spec, |(_, r)| r);
    let remote = if remote_text.chars().all(|c| c.is_ascii_digit()) {
        number(remote_text)?
    } else {
        named_port(remote_text, pod).ok_or_else(|| {
            hint(
                format!(
                    "pod {} has no container port named {remote_text:?}",
                    pod.metadata.name.as_deref().unwrap_or_default()
                ),
                "name a port listed in the pod's containers[].ports, or give its number",
            )
        })?
    };
    let local = match spec.split_once(':') {
        Some(("", _)) => 0,
        Some((l, _)) => number(l)?,
        None => remote,
    };
    Ok(Forward { local, remote })
}

fn named_port(name: &str, pod: &Pod) -> Option<u16> {
    let spec = pod.spec.as_ref()?;
    spec.init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

fn accept_loop(listener: TcpListener, remote: u16, dir: PodDir, name: String) {
    let local = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    for client in listener.incoming() {
        let Ok(client) = client else { continue };
        println!("Handling connection for {local}");
        let _ = std::io::stdout().flush();
        let (dir, name) = (dir.clone(), name.clone());
        std::thread::spawn(move || {
            // The client's connection closes after the error is told, not before.
            if let Err(e) = forward(&client, remote, &dir, &name) {
                eprintln!("error: an error occurred forwarding {local} -> {remote}: {e:#}");
            }
        });
    }
}

/// A socket connected to `port` on the pod's loopback, from inside its network namespace: the
/// pod's supervisor connects it and hands it over, keeping nothing.
pub(crate) fn dial(dir: &PodDir, name: &str, port: u16) -> anyhow::Result<TcpStream> {
    let mut conn = Connection::open(dir, name)?;
    conn.send(&Request::Dial { port }, &[])?;
    let mut fds = match conn.reply()? {
        Some((Reply::Accepted, fds)) => fds,
        Some((Reply::Rejected(message), _)) => anyhow::bail!("{message}"),
        _ => return Err(conn.gone()),
    };
    let Some(socket) = fds.pop() else {
        anyhow::bail!("the supervisor of pod {name} sent no connection");
    };
    Ok(TcpStream::from(socket))
}

/// One connection: a socket connected inside the pod, then bytes both ways until each side ends.
fn forward(client: &TcpStream, remote: u16, dir: &PodDir, name: &str) -> anyhow::Result<()> {
    let upstream = dial(dir, name, remote)?;
    let (client_r, client_w) = (client.try_clone()?, client.try_clone()?);
    let upstream_r = upstream.try_clone()?;
    let up = std::thread::spawn(move || pipe(client_r, upstream));
    pipe(upstream_r, client_w);
    let _ = up.join();
    Ok(())
}

/// Copies until `from` ends, then ends `to`'s sending side, so the other end sees the close.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = std::io::copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_read_as_kubectl_reads_them() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "app", "ports": [{"containerPort": 8080, "name": "http"}]}]}
        }))
        .expect("a pod");
        let f = |s: &str| parse_forward(s, &pod).map_err(|e| e.to_string());
        assert_eq!(
            f("80"),
            Ok(Forward {
                local: 80,
                remote: 80
            })
        );
        assert_eq!(
            f("9000:80"),
            Ok(Forward {
                local: 9000,
                remote: 80
            })
        );
        assert_eq!(
            f(":80"),
            Ok(Forward {
                local: 0,
                remote: 80
            })
        );
        assert_eq!(
            f("9000:http"),
            Ok(Forward {
                local: 9000,
                remote: 8080
            })
        );
        assert_eq!(
            f("http"),
            Ok(Forward {
                local: 8080,
                remote: 8080
            })
        );
        assert!(f("9000:nope").is_err_and(|e| e.contains("no container port named \"nope\"")));
        assert!(f("70000").is_err_and(|e| e.contains("must be between 1 and 65535")));
        assert!(f("0:80").is_err());
    }
}
