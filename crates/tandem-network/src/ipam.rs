//! Address allocation for the built-in network, in the on-disk format of the CNI `host-local`
//! plugin (one directory per network under `/var/lib/cni/networks`, one file per address in
//! use holding the owner's id and interface, `last_reserved_ip.N` per range, a `lock` file taken
//! with flock(2)). Sharing the format keeps the allocations of pods attached in-process and of
//! pods attached through the plugins (a conflist naming the same network, or a pod started by an
//! older tandem) from ever overlapping.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::{NetworkError, Result};

/// Where the host-local plugin keeps its allocations.
pub const DEFAULT_DATA_DIR: &str = "/var/lib/cni/networks";

/// An address as a number, to count through a range.
fn number(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v).into(),
        IpAddr::V6(v) => v.into(),
    }
}

/// One range to allocate from: `subnet/prefix` with its gateway, which is never handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub subnet: IpAddr,
    pub prefix: u8,
    pub gateway: IpAddr,
}

impl Range {
    fn bits(&self) -> u32 {
        if self.subnet.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// The address numbered `n` in this range's family.
    fn address(&self, n: u128) -> IpAddr {
        match self.subnet {
            IpAddr::V4(_) => IpAddr::V4((n as u32).into()),
            IpAddr::V6(_) => IpAddr::V6(n.into()),
        }
    }

    /// The first and last addresses that may be handed out: not the network's own address, not
    /// IPv4's broadcast address.
    fn usable(&self) -> (u128, u128) {
        let host_bits = self.bits() - u32::from(self.prefix);
        let size: u128 = if host_bits >= 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        let net = number(self.subnet) & !size;
        let last = if self.subnet.is_ipv4() {
            net + size - 1
        } else {
            net + size
        };
        (net + 1, last)
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        let (first, last) = self.usable();
        a.is_ipv4() == self.subnet.is_ipv4() && (first - 1..=last + 1).contains(&number(a))
    }
}

/// How far a search for a free address goes before giving up: every address of an IPv4 /24, and
/// far more pods than one machine runs for IPv6's /64.
const SEARCH_LIMIT: u128 = 1 << 16;

/// A network's allocations on disk.
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store of network `name` under `data_dir` (normally [`DEFAULT_DATA_DIR`]).
    pub fn new(data_dir: &Path, name: &str) -> Store {
        Store {
            dir: data_dir.join(name),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io_err(&self, path: &Path, source: std::io::Error) -> NetworkError {
        NetworkError::State {
            path: path.into(),
            source,
        }
    }

    /// Holds the store's lock (as the plugin takes it) while `f` runs.
    pub(crate) fn locked<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io_err(&self.dir, e))?;
        let path = self.dir.join("lock");
        let lock = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| self.io_err(&path, e))?;
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| self.io_err(&path, e.into()))?;
        let out = f();
        drop(lock);
        out
    }

    /// Reserves one address in each range for `id`'s interface `ifname`, all or none.
    pub fn allocate(&self, ranges: &[Range], id: &str, ifname: &str) -> Result<Vec<IpAddr>> {
        self.locked(|| self.reserve_all(ranges, id, ifname))
    }

    /// [`Store::allocate`] for a caller that holds the lock already.
    pub(crate) fn reserve_all(
        &self,
        ranges: &[Range],
        id: &str,
        ifname: &str,
    ) -> Result<Vec<IpAddr>> {
        let mut taken = vec![];
        for (n, range) in ranges.iter().enumerate() {
            match self.reserve_one(n, range, id, ifname) {
                Ok(a) => taken.push(a),
                Err(e) => {
                    for a in &taken {
                        let _ = std::fs::remove_file(self.dir.join(a.to_string()));
                    }
                    return Err(e);
                }
            }
        }
        Ok(taken)
    }

    fn reserve_one(&self, n: usize, range: &Range, id: &str, ifname: &str) -> Result<IpAddr> {
        let (first, last) = range.usable();
        let last_file = self.dir.join(format!("last_reserved_ip.{n}"));
        // Round-robin from after the last address handed out, as the plugin does, so an address
        // just released is not at once given to the next pod.
        let start = std::fs::read_to_string(&last_file)
            .ok()
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
            .filter(|a| range.contains(*a))
            .map_or(first, |a| number(a) + 1);
        let span = last - first + 1;
        let gateway = number(range.gateway);
        for step in 0..span.min(SEARCH_LIMIT) {
            let candidate = first + (start.saturating_sub(first) + step) % span;
            if candidate == gateway {
                continue;
            }
            let addr = range.address(candidate);
            let path = self.dir.join(addr.to_string());
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    f.write_all(format!("{id}\r\n{ifname}").as_bytes())
                        .map_err(|e| self.io_err(&path, e))?;
                    let _ = std::fs::write(&last_file, addr.to_string());
                    return Ok(addr);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(self.io_err(&path, e)),
            }
        }
        Err(NetworkError::AddressesExhausted {
            range: format!("{}/{}", range.subnet, range.prefix),
            dir: self.dir.clone(),
        })
    }

    /// Releases every address held by `id`'s interface `ifname`.
    pub fn release(&self, id: &str, ifname: &str) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        self.locked(|| {
            for entry in std::fs::read_dir(&self.dir)
                .map_err(|e| self.io_err(&self.dir, e))?
                .flatten()
            {
                let is_address = entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.parse::<IpAddr>().is_ok());
                if !is_address {
                    continue;
                }
                let owner = std::fs::read_to_string(entry.path()).unwrap_or_default();
                let mut lines = owner.lines().map(str::trim);
                // Older plugin versions wrote the id alone.
                if lines.next() == Some(id) && lines.next().is_none_or(|i| i == ifname) {
                    std::fs::remove_file(entry.path())
                        .map_err(|e| self.io_err(&entry.path(), e))?;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4() -> Range {
        Range {
            subnet: "10.9.0.0".parse().expect("ip"),
            prefix: 29,
            gateway: "10.9.0.1".parse().expect("ip"),
        }
    }

    fn v6() -> Range {
        Range {
            subnet: "fd00:9::".parse().expect("ip"),
            prefix: 64,
            gateway: "fd00:9::1".parse().expect("ip"),
        }
    }

    #[test]
    fn addresses_come_round_robin_skipping_the_network_gateway_and_broadcast() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path(), "t");
        let mut got = vec![];
        // A /29 has 8 addresses: .0 network, .1 gateway, .7 broadcast; 5 to hand out.
        for n in 0..5 {
            got.push(
                store
                    .allocate(&[v4()], &format!("p{n}"), "eth0")
                    .expect("an address")[0],
            );
        }
        let got: Vec<String> = got.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
        );
        let err = store
            .allocate(&[v4()], "p5", "eth0")
            .expect_err("exhausted");
        assert!(err.to_string().contains("10.9.0.0/29"), "{err}");
        // Released, then handed out again: after the last one given, wrapping around.
        store.release("p1", "eth0").expect("release");
        assert!(!dir.path().join("t/10.9.0.3").exists());
        let again = store.allocate(&[v4()], "p6", "eth0").expect("an address");
        assert_eq!(again[0].to_string(), "10.9.0.3");
        // The plugin's format: the owner and its interface.
        assert_eq!(
            std::fs::read_to_string(dir.path().join("t/10.9.0.3")).expect("file"),
            "p6\r\neth0"
        );
    }

    #[test]
    fn dual_stack_takes_one_address_per_range_or_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path(), "t");
        let got = store
            .allocate(&[v4(), v6()], "a", "eth0")
            .expect("addresses");
        assert_eq!(got[0].to_string(), "10.9.0.2");
        assert_eq!(got[1].to_string(), "fd00:9::2");
        // The IPv4 range is exhausted by four more; the fifth pod gets nothing, not an IPv6
        // address alone.
        for n in 0..4 {
            store
                .allocate(&[v4(), v6()], &format!("b{n}"), "eth0")
                .expect("addresses");
        }
        assert!(store.allocate(&[v6(), v4()], "c", "eth0").is_err());
        let held = |owner: &str| {
            std::fs::read_dir(dir.path().join("t"))
                .expect("dir")
                .flatten()
                .filter(|e| std::fs::read_to_string(e.path()).is_ok_and(|c| c.starts_with(owner)))
                .count()
        };
        assert_eq!(held("c\r"), 0);
        store.release("a", "eth0").expect("release");
        assert_eq!(held("a\r"), 0);
        // Another interface of the same owner keeps its addresses.
        store.release("b0", "eth1").expect("release");
        assert_eq!(held("b0\r"), 2);
    }

    #[test]
    fn an_allocation_by_the_plugins_is_respected_and_an_old_format_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::new(dir.path(), "t");
        std::fs::create_dir_all(dir.path().join("t")).expect("mkdir");
        std::fs::write(dir.path().join("t/10.9.0.2"), "old").expect("write");
        let got = store.allocate(&[v4()], "new", "eth0").expect("an address");
        assert_eq!(got[0].to_string(), "10.9.0.3");
        store.release("old", "eth0").expect("release");
        assert!(!dir.path().join("t/10.9.0.2").exists());
        assert!(dir.path().join("t/10.9.0.3").exists());
    }
}
