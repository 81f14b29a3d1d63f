//! User namespaces for `hostUsers: false` pods: a per-pod range of host ids, the maps that give
//! it to the pod's user namespace, and idmapped mounts that show shared image layers to that
//! namespace as if they belonged to it.
//!
//! Each pod gets 65536 ids (container ids 0..65535) at a multiple of 65536, never the first
//! range (the host's own users), as the kubelet allocates them. A range is claimed by creating
//! `<dir>/<index>` exclusively under a lock on the directory, so concurrent `tandem run`s never
//! share one, and released by removing that file when the pod ends. `<dir>` is one directory for
//! the whole machine ([`HOST_CLAIM_DIR`]): host ids do not belong to a store.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Ids per pod, as the kubelet gives them (and what a container image may use).
pub const IDS_PER_POD: u32 = 65536;
/// Highest range index: host ids up to 2^31, well inside the 32-bit id space.
const MAX_INDEX: u32 = 32767;

#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    #[error("no free user-namespace id range in {dir} (all {MAX_INDEX} are claimed)")]
    Exhausted { dir: PathBuf },
    #[error("cannot claim a user-namespace id range in {dir}")]
    Claim {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the id map of process {pid}")]
    Map {
        pid: i32,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make an idmapped mount of {source_path} on {target}: {step}")]
    Idmap {
        source_path: PathBuf,
        target: PathBuf,
        step: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl UsernsError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            UsernsError::Exhausted { .. } => crate::ErrorKind::Unavailable,
            _ => crate::ErrorKind::Internal,
        }
    }
}

/// Container ids `0..IDS_PER_POD` are host ids `host_base..host_base + IDS_PER_POD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdRange {
    pub host_base: u32,
}

impl IdRange {
    /// The host id of container id `id` (ids outside the range are left as they are).
    pub fn to_host(&self, id: u32) -> u32 {
        if id < IDS_PER_POD {
            self.host_base + id
        } else {
            id
        }
    }
}

/// Where every pod's range is claimed, for the whole machine: host ids are shared by every
/// store (`--root`), so a directory per store would hand two stores' pods the same ids. /run is a
/// tmpfs, so claims vanish with a reboot, as the processes using the ids do.
pub const HOST_CLAIM_DIR: &str = "/run/tandem/userns";

/// Claims the lowest free range for the pod whose state lives at `owner`; the returned path is
/// the claim, removed by [`release`]. A claim whose owner is gone (a supervisor that was killed
/// before its teardown) is taken back.
///
/// Claimers hold an exclusive flock(2) on `<dir>/.lock` for the whole scan, so reading a stale
/// claim, removing it and taking its index is one step for every other claimer. The owner is
/// written to a temporary file first and hard-linked to `<dir>/<index>` (link(2) fails with
/// EEXIST when the index is taken), so a claim is never seen without its owner.
pub fn claim(dir: &Path, owner: &Path) -> Result<(IdRange, PathBuf), UsernsError> {
    use nix::fcntl::{Flock, FlockArg};
    use std::io::Write;
    let err = |source: std::io::Error| UsernsError::Claim {
        dir: dir.into(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".lock"))
        .map_err(err)?;
    // Released when the guard drops, after the claim is linked or the scan gave up.
    let _guard = Flock::lock(lock, FlockArg::LockExclusive).map_err(|(_, e)| err(e.into()))?;
    // One name suffices under the lock; a claimer killed before removing it leaves a file the
    // next one truncates.
    let tmp = dir.join(".claim.tmp");
    let written =
        std::fs::File::create(&tmp).and_then(|mut f| f.write_all(owner.as_os_str().as_bytes()));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    let result = take_lowest_free(dir, &tmp);
    let _ = std::fs::remove_file(&tmp);
    result
}

/// The scan of [`claim`], run under its lock with the owner already in `tmp`.
fn take_lowest_free(dir: &Path, tmp: &Path) -> Result<(IdRange, PathBuf), UsernsError> {
    let err = |source: std::io::Error| UsernsError::Claim {
        dir: dir.into(),
        source,
    };
    let mut index = 1;
    while index <= MAX_INDEX {
        let path = dir.join(index.to_string());
        match std::fs::hard_link(tmp, &path) {
            Ok(()) => {
                let range = IdRange {
                    host_base: index * IDS_PER_POD,
                };
                return Ok((range, path));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let stale = match std::fs::read(&path) {
                    // Claimers write under the lock before linking, so an empty claim was
                    // left by a writer that failed half-way: nobody holds it.
                    Ok(holder) => {
                        holder.is_empty()
                            || !Path::new(std::ffi::OsStr::from_bytes(&holder)).exists()
                    }
                    // Released meanwhile (release does not take the lock): try it again.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(_) => false,
                };
                if !stale {
                    index += 1;
                    continue;
                }
                match std::fs::remove_file(&path) {
                    Ok(()) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(err(e)),
                }
            }
            Err(e) => return Err(err(e)),
        }
    }
    Err(UsernsError::Exhausted { dir: dir.into() })
}

pub fn release(claim: &Path) {
    let _ = std::fs::remove_file(claim);
}

/// Gives the user namespace of `pid` its range (user_namespaces(7), "User and group ID
/// mappings"): written once, by a process privileged in the parent namespace.
pub fn write_maps(pid: i32, range: IdRange) -> Result<(), UsernsError> {
    let line = format!("0 {} {}\n", range.host_base, IDS_PER_POD);
    for file in ["uid_map", "gid_map"] {
        std::fs::write(format!("/proc/{pid}/{file}"), &line)
            .map_err(|source| UsernsError::Map { pid, source })?;
    }
    Ok(())
}

/// Mounts `source` on `target` (an existing directory) through the id mapping of the user
/// namespace at `userns` (a `/proc/PID/ns/user` path): files owned by container id N on disk are
/// seen as host id `host_base + N`, so overlayfs built on such layers shows the pod the image's
/// owners without copying or chowning the shared layers (mount_setattr(2), MOUNT_ATTR_IDMAP;
/// the detached tree from open_tree(2) OPEN_TREE_CLONE is attached with move_mount(2)).
pub fn idmapped_bind(source: &Path, target: &Path, userns: &Path) -> Result<(), UsernsError> {
    let fail = |step: &'static str, source_err: std::io::Error| UsernsError::Idmap {
        source_path: source.into(),
        target: target.into(),
        step,
        source: source_err,
    };
    let c = |p: &Path| {
        CString::new(p.as_os_str().as_bytes()).map_err(|_| {
            fail(
                "path",
                std::io::Error::from(std::io::ErrorKind::InvalidInput),
            )
        })
    };
    let (src, dst) = (c(source)?, c(target)?);
    let ns = std::fs::File::open(userns).map_err(|e| fail("open the user namespace", e))?;
    // SAFETY: open_tree(2) with a NUL-terminated path and flags only; it returns a new
    // descriptor or -1, and the descriptor is owned by nothing else.
    let tree = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            src.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC as libc::c_uint,
        )
    };
    if tree < 0 {
        return Err(fail("open_tree", std::io::Error::last_os_error()));
    }
    // SAFETY: `tree` is a fresh descriptor returned above.
    let tree = unsafe { OwnedFd::from_raw_fd(tree as i32) };
    let attr = libc::mount_attr {
        // Read-only as well: these are image layers every pod shares, only ever overlayfs lower
        // layers, and a writable view would let anything that reaches BUNDLE/lower/N (or a
        // remove_dir_all of a bundle whose shim died before unmounting) change them for all.
        attr_set: libc::MOUNT_ATTR_IDMAP | libc::MOUNT_ATTR_RDONLY,
        attr_clr: 0,
        propagation: 0,
        userns_fd: ns.as_raw_fd() as u64,
    };
    // SAFETY: mount_setattr(2) reads `size` bytes of `attr`, which lives across the call; the
    // empty path with AT_EMPTY_PATH names `tree` itself.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r < 0 {
        return Err(fail("mount_setattr", std::io::Error::last_os_error()));
    }
    // SAFETY: move_mount(2) with the detached tree and a NUL-terminated target path.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_FDCWD,
            dst.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if r < 0 {
        return Err(fail("move_mount", std::io::Error::last_os_error()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn ranges_are_claimed_once_and_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let owner = dir.path();
        let (a, pa) = claim(dir.path(), owner).expect("first");
        let (b, _) = claim(dir.path(), owner).expect("second");
        assert_eq!(
            a.host_base, IDS_PER_POD,
            "the host's own range is never given out"
        );
        assert_eq!(b.host_base, 2 * IDS_PER_POD);
        release(&pa);
        assert_eq!(claim(dir.path(), owner).expect("again").0, a);
        assert_eq!(a.to_host(1000), IDS_PER_POD + 1000);
        // A claim whose pod is gone is taken back.
        let gone = dir.path().join("gone-pod");
        std::fs::create_dir(&gone).expect("pod dir");
        let (c, _) = claim(dir.path(), &gone).expect("third");
        assert_eq!(c.host_base, 3 * IDS_PER_POD);
        std::fs::remove_dir(&gone).expect("pod gone");
        assert_eq!(claim(dir.path(), owner).expect("reclaimed").0, c);
    }

    #[test]
    fn concurrent_claimers_never_share_a_range_even_when_taking_back_stale_claims() {
        const THREADS: u32 = 16;
        // The race needs a claimer to read a stale claim while another replaces it: rounds
        // and stale claims make it likely: the unlocked version shared a range within ten rounds.
        for round in 0..50 {
            let dir = tempfile::tempdir().expect("tempdir");
            let claims = dir.path().join("userns");
            let owner = dir.path().join("pod");
            std::fs::create_dir(&owner).expect("pod dir");
            // Stale claims (their pods are gone) at the lowest indexes, where every claimer
            // looks first, and an empty one as a writer that failed half-way left it.
            std::fs::create_dir(&claims).expect("claims dir");
            for index in 1..=2 * THREADS {
                let holder = if index == 5 {
                    String::new()
                } else {
                    format!("/nonexistent/{index}")
                };
                std::fs::write(claims.join(index.to_string()), holder).expect("stale claim");
            }
            let barrier = std::sync::Barrier::new(THREADS as usize);
            let ranges: Vec<IdRange> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            claim(&claims, &owner).expect("claim").0
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("claimer"))
                    .collect()
            });
            let mut bases: Vec<u32> = ranges.iter().map(|r| r.host_base).collect();
            bases.sort_unstable();
            bases.dedup();
            assert_eq!(
                bases.len(),
                THREADS as usize,
                "round {round}: shared ranges {ranges:?}"
            );
            assert_eq!(
                bases,
                (1..=THREADS).map(|i| i * IDS_PER_POD).collect::<Vec<_>>(),
                "round {round}: stale and empty claims are taken back, the lowest first"
            );
            for index in 1..=THREADS {
                let holder = std::fs::read(claims.join(index.to_string())).expect("claim");
                assert_eq!(
                    holder,
                    owner.as_os_str().as_bytes(),
                    "round {round}: claim {index}"
                );
            }
            let hidden: Vec<_> = std::fs::read_dir(&claims)
                .expect("claims")
                .flatten()
                .map(|e| e.file_name())
                .filter(|n| n.to_string_lossy().starts_with('.'))
                .collect();
            assert_eq!(
                hidden,
                [".lock"],
                "round {round}: no temporary file is left"
            );
        }
    }

    /// A process in a fresh user namespace whose maps give it `range`; killed on drop.
    struct MappedNamespace {
        child: std::process::Child,
    }

    impl MappedNamespace {
        fn new(range: IdRange) -> MappedNamespace {
            let child = std::process::Command::new("unshare")
                .args(["--user", "sleep", "30"])
                .spawn()
                .expect("unshare");
            let pid = child.id() as i32;
            // Wait for unshare to have made the namespace.
            let own = std::fs::read_link("/proc/self/ns/user").expect("own ns");
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while std::fs::read_link(format!("/proc/{pid}/ns/user")).ok() == Some(own.clone())
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            let ns = MappedNamespace { child };
            write_maps(pid, range).expect("id maps");
            ns
        }

        fn path(&self) -> PathBuf {
            PathBuf::from(format!("/proc/{}/ns/user", self.child.id()))
        }
    }

    impl Drop for MappedNamespace {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[test]
    fn an_idmapped_mount_shows_container_root_files_as_the_pods_host_ids() {
        if !nix::unistd::geteuid().is_root() {
            tandem_testkit::skip("idmapped mounts need root");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        std::fs::create_dir_all(&src).expect("src");
        std::fs::create_dir_all(&dst).expect("dst");
        std::fs::write(src.join("f"), "x").expect("file");
        std::os::unix::fs::chown(src.join("f"), Some(0), Some(0)).expect("chown");
        let range = IdRange {
            host_base: 7 * IDS_PER_POD,
        };
        let ns = MappedNamespace::new(range);
        let result = idmapped_bind(&src, &dst, &ns.path());
        let seen = std::fs::metadata(dst.join("f")).map(|m| (m.uid(), m.gid()));
        let _ = nix::mount::umount2(&dst, nix::mount::MntFlags::MNT_DETACH);
        result.expect("idmapped bind");
        assert_eq!(
            seen.expect("stat"),
            (range.host_base, range.host_base),
            "uid 0 on disk is the pod's first host id through the mount"
        );
    }

    #[test]
    fn an_idmapped_mount_of_a_shared_layer_is_read_only() {
        if !nix::unistd::geteuid().is_root() {
            tandem_testkit::skip("idmapped mounts need root");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        std::fs::create_dir_all(&src).expect("src");
        std::fs::create_dir_all(&dst).expect("dst");
        std::fs::write(src.join("f"), "layer").expect("file");
        let ns = MappedNamespace::new(IdRange {
            host_base: 9 * IDS_PER_POD,
        });
        let result = idmapped_bind(&src, &dst, &ns.path());
        let write = std::fs::write(dst.join("f"), "changed");
        let create = std::fs::write(dst.join("new"), "x");
        let remove = std::fs::remove_file(dst.join("f"));
        let _ = nix::mount::umount2(&dst, nix::mount::MntFlags::MNT_DETACH);
        result.expect("idmapped bind");
        for (what, r) in [("write", write), ("create", create), ("remove", remove)] {
            let e = r.expect_err(what);
            assert_eq!(e.raw_os_error(), Some(libc::EROFS), "{what}: {e}");
        }
        assert_eq!(
            std::fs::read_to_string(src.join("f")).expect("layer"),
            "layer"
        );
        assert!(!src.join("new").exists());
    }
}
