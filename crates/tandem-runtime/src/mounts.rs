//! Mount calls the supervisor needs, kept behind small functions that name the path in errors.

use std::ffi::OsStr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{fstat, mkdirat, Mode, SFlag};
use nix::unistd::{fchownat, Gid, Uid};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("cannot create a private mount namespace")]
    Unshare(#[source] nix::Error),
    #[error("cannot open the mount namespace it leaves (/proc/self/ns/mnt)")]
    HostNamespace(#[source] std::io::Error),
    #[error("cannot mount {fstype} on {target}")]
    Mount {
        fstype: String,
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("cannot unmount {target}")]
    Unmount {
        target: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{0}")]
    SubPath(String),
    #[error("cannot create mount point {path}")]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MountError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            MountError::SubPath(_) => crate::ErrorKind::InvalidArgument,
            _ => crate::ErrorKind::Internal,
        }
    }
}

/// A filesystem to mount, as data (what the image store hands out).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MountSpec {
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
}

/// Moves the calling process into a new mount namespace whose mounts never propagate back to the
/// host. Every mount the pod needs (rootfs overlays, tmpfs volumes) is made there, so none can
/// outlive the pod's processes: the kernel drops the namespace with its last member.
///
/// Must be called while the process has one thread: unshare(2) CLONE_NEWNS applies to the
/// calling thread only, and later threads inherit it. Propagation is set to slave (not private)
/// so host mounts made later (a hostPath on removable media) still appear, as `unshare
/// --propagation slave` does (mount_namespaces(7), "MS_SLAVE").
///
/// Returns the namespace it left (the host's), for processes that must not live in this one:
/// a process started here would hold the namespace, and every mount copied into it, past the
/// pod (see [`crate::helper::spawn_in_mount_namespace`]).
pub fn enter_private_mount_namespace() -> Result<std::os::fd::OwnedFd, MountError> {
    let host = std::fs::File::open("/proc/self/ns/mnt")
        .map(std::os::fd::OwnedFd::from)
        .map_err(MountError::HostNamespace)?;
    unshare(CloneFlags::CLONE_NEWNS).map_err(MountError::Unshare)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(|source| MountError::Mount {
        fstype: "propagation".into(),
        target: "/".into(),
        source,
    })?;
    Ok(host)
}

pub fn mount_spec(spec: &MountSpec, target: &Path) -> Result<(), MountError> {
    std::fs::create_dir_all(target).map_err(|source| MountError::MountPoint {
        path: target.into(),
        source,
    })?;
    let data = spec.options.join(",");
    mount(
        Some(spec.source.as_str()),
        target,
        Some(spec.fstype.as_str()),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(|source| MountError::Mount {
        fstype: spec.fstype.clone(),
        target: target.into(),
        source,
    })
}

/// A tmpfs for `emptyDir: {medium: Memory}` and the pod's /dev/shm.
pub fn mount_tmpfs(target: &Path, size_bytes: Option<u64>, mode: u32) -> Result<(), MountError> {
    let mut opts = format!("mode={mode:o}");
    if let Some(size) = size_bytes {
        opts.push_str(&format!(",size={size}"));
    }
    let spec = MountSpec {
        fstype: "tmpfs".into(),
        source: "tmpfs".into(),
        options: vec![opts],
    };
    mount_spec(&spec, target)
}

/// Pins `sub` (already split into plain components) inside the directory `root` and bind-mounts
/// exactly that file or directory on `target`, so a container can never swap a component for a
/// symlink between the check and the mount (the kubelet's subPath fix for CVE-2017-1002101 does
/// the same): every component is opened relative to its parent's descriptor with `O_NOFOLLOW`,
/// missing directories are made with mkdirat(2) (subPath creates them), and the mount source is
/// the `/proc/self/fd/N` magic link of the last descriptor, which the kernel resolves to that
/// very inode (proc(5), "/proc/pid/fd/"). Any earlier mount on `target` is detached first.
///
/// Directories made here get mode 0755, as the kubelet's, and belong to `owner` (host uid and
/// gid) when given: a `hostUsers: false` pod's root is not host root, and would otherwise see
/// them as the overflow id and be unable to write the directory it asked for. The chown goes
/// through the descriptor just opened (AT_EMPTY_PATH), so it reaches the directory made here
/// and not whatever a container may have put at its name since.
pub fn bind_beneath(
    root: &Path,
    sub: &[&OsStr],
    target: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), MountError> {
    let refuse = |why: String| MountError::SubPath(why);
    let open = |dir: &OwnedFd, name: &OsStr, flags: OFlag| {
        let raw = openat(
            Some(dir.as_raw_fd()),
            name,
            flags | OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: openat(2) just returned this descriptor and nothing else owns it.
        Ok::<OwnedFd, Errno>(unsafe { OwnedFd::from_raw_fd(raw) })
    };
    // The volume's own path is tandem's or the manifest author's (hostPath) and may itself be a
    // symlink such as /var/run; only what lies beneath it is the container's to change.
    let raw = openat(
        None,
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| refuse(format!("cannot open the volume at {}: {e}", root.display())))?;
    // SAFETY: openat(2) just returned this descriptor and nothing else owns it.
    let mut cur = unsafe { OwnedFd::from_raw_fd(raw) };
    for (i, part) in sub.iter().enumerate() {
        let last = i + 1 == sub.len();
        let flags = if last {
            OFlag::empty()
        } else {
            OFlag::O_DIRECTORY
        };
        let next = match open(&cur, part, flags) {
            Err(Errno::ENOENT) => {
                let made = match mkdirat(
                    Some(cur.as_raw_fd()),
                    *part,
                    Mode::from_bits_truncate(0o755),
                ) {
                    Ok(()) => true,
                    // Made by someone else meanwhile: theirs, and left as it is.
                    Err(Errno::EEXIST) => false,
                    Err(e) => return Err(refuse(format!("cannot be created: {e}"))),
                };
                let opened = open(&cur, part, OFlag::O_DIRECTORY);
                if let (true, Ok(dir), Some((uid, gid))) = (made, &opened, owner) {
                    fchownat(
                        Some(dir.as_raw_fd()),
                        "",
                        Some(Uid::from_raw(uid)),
                        Some(Gid::from_raw(gid)),
                        AtFlags::AT_EMPTY_PATH,
                    )
                    .map_err(|e| refuse(format!("cannot be given to the pod's user: {e}")))?;
                }
                opened
            }
            other => other,
        };
        cur = next.map_err(|e| match e {
            Errno::ELOOP | Errno::ENOTDIR => refuse(
                "is a symlink or passes through a file; tandem does not follow symlinks in subPath"
                    .into(),
            ),
            e => refuse(format!("cannot be opened: {e}")),
        })?;
    }
    let st = fstat(cur.as_raw_fd()).map_err(|e| refuse(format!("cannot be read: {e}")))?;
    let kind = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    if kind == SFlag::S_IFLNK {
        return Err(refuse(
            "is a symlink; tandem does not follow symlinks in subPath".into(),
        ));
    }
    let made = if kind == SFlag::S_IFDIR {
        std::fs::create_dir_all(target)
    } else {
        target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(target)
            })
            .map(drop)
    };
    made.map_err(|source| MountError::MountPoint {
        path: target.into(),
        source,
    })?;
    // A restarted container reuses its target: drop what the previous attempt mounted.
    while umount2(target, MntFlags::MNT_DETACH).is_ok() {}
    let source = format!("/proc/self/fd/{}", cur.as_raw_fd());
    mount(
        Some(source.as_str()),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|source| MountError::Mount {
        fstype: "bind".into(),
        target: target.into(),
        source,
    })
}

/// Detaches a mount (umount2(2) MNT_DETACH): processes still using it keep it until they exit.
pub fn unmount(target: &Path) -> Result<(), MountError> {
    umount2(target, MntFlags::MNT_DETACH).map_err(|source| MountError::Unmount {
        target: target.into(),
        source,
    })
}

/// Mount points at or below `dir`, deepest first, read from /proc/self/mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return vec![];
    };
    let mut found: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .map(PathBuf::from)
        .filter(|p| p.starts_with(dir))
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    found
}

pub(crate) fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}
