//! The store's proxy process (`tandem __proxy SERVICES_DIR PODS_DIR`) as those who start it see
//! it: its command line, its lock, and starting it when none runs. The proxy routes Services
//! and answers the cluster DNS for every pod of a store; its body lives in the `tandem` binary.
//! A supervisor starts it again when it finds it gone, so its pods keep resolving names after a
//! kill -9 of the proxy.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tandem_runtime::helper::{Args, ArgsError, HelperArgs};

/// `tandem __proxy SERVICES_DIR PODS_DIR`: the proxy of one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyArgs {
    pub services: PathBuf,
    pub pods: PathBuf,
}

impl HelperArgs for ProxyArgs {
    const VERB: &'static str = "__proxy";

    fn to_args(&self) -> Vec<OsString> {
        vec![
            self.services.clone().into_os_string(),
            self.pods.clone().into_os_string(),
        ]
    }

    fn parse(args: &[OsString]) -> Result<Self, ArgsError> {
        let mut a = Args::new(Self::VERB, args);
        let services = PathBuf::from(a.os("services directory")?);
        let pods = PathBuf::from(a.os("pods directory")?);
        a.end()?;
        Ok(ProxyArgs { services, pods })
    }
}

/// The proxy's lock: an exclusive flock(2) on `proxy.lock` that the proxy holds for its life,
/// so one runs per store and a dead one (even one killed with kill -9) is seen at once. `None`
/// when another process holds it. Never makes the directory: a store removed under a late
/// caller must not come back.
pub fn lock(services: &Path) -> std::io::Result<Option<nix::fcntl::Flock<std::fs::File>>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(services.join("proxy.lock"))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(lock)),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(e.into()),
    }
}

/// Whether the store's proxy runs.
pub fn running(services: &Path) -> bool {
    matches!(lock(services), Ok(None))
}

/// Starts the proxy (its directory must exist), writing to `proxy.log`; in the mount namespace
/// `host_mounts` when the caller lives in a private one. The proxy makes itself a session of its
/// own first ([`leave_session`]): no terminal signal reaches it, and to a supervisor (a
/// subreaper) its exit is a stranger's, collected by the reaper's sweep. A second one started at
/// the same time finds the lock taken and exits.
pub fn spawn(
    exe: &Path,
    args: &ProxyArgs,
    host_mounts: Option<std::os::fd::BorrowedFd<'_>>,
) -> std::io::Result<std::process::Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(args.services.join("proxy.log"))?;
    let mut cmd = Command::new(exe);
    cmd.args(args.argv())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    match host_mounts {
        Some(ns) => tandem_runtime::helper::spawn_in_mount_namespace(&mut cmd, ns),
        None => cmd.spawn(),
    }
}

/// The proxy's first step: a session of its own (setsid(2)), see [`spawn`].
pub fn leave_session() {
    let _ = nix::unistd::setsid();
}
