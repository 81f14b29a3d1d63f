//! Connections made from inside a pod's network namespace (`tandem port-forward`): a socket
//! belongs to the namespace of the thread that created it, so a short-lived thread enters the
//! namespace (setns(2) changes only the calling thread's), connects, and hands the connected
//! socket back; it works from anywhere after that. The thread ends with the call, so no thread
//! of the caller is left in the pod's namespace.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Connects to `port` on the pod's loopback (127.0.0.1, then ::1), as the kubelet's port
/// forwarding does, from inside the network namespace at `netns` (`None`: this process's own,
/// for a pod on the host's network).
pub fn dial_loopback(netns: Option<&Path>, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let netns: Option<PathBuf> = netns.map(Path::to_path_buf);
    let thread = std::thread::Builder::new()
        .name("dial-in-pod".into())
        .spawn(move || {
            if let Some(path) = netns {
                let ns = std::fs::File::open(&path)?;
                nix::sched::setns(ns, nix::sched::CloneFlags::CLONE_NEWNET)?;
            }
            let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
            TcpStream::connect_timeout(&v4, timeout)
                .or_else(|e4| TcpStream::connect_timeout(&v6, timeout).map_err(|_| e4))
        })?;
    thread
        .join()
        .map_err(|_| io::Error::other("the thread dialling into the pod panicked"))?
}
