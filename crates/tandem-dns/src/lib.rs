//! Cluster DNS for one machine: the names of Services and their endpoints under
//! `cluster.local`, answered as CoreDNS's `kubernetes` plugin answers them, and every other name
//! relayed to the host's resolvers.
//!
//! Owns: what each name of the cluster domain answers ([`zone`], pure), and a server on a
//! loopback port that answers from the zone it was last given ([`Dns`], hickory's UDP and TCP
//! loop on a thread of its own).
//! Never: reads the store, knows what a Pod is, or decides which address pods send their
//! queries to (the caller's packet filter leads the cluster DNS address to the server's port).

mod server;
pub mod zone;

pub use server::{upstreams, Dns};
pub use zone::Zone;

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    #[error("cannot bind the cluster DNS server to a loopback port")]
    Bind(#[source] std::io::Error),
    #[error("cannot start the cluster DNS server's thread")]
    Runtime(#[source] std::io::Error),
}
