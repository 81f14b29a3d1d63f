//! Mount calls the supervisor needs, kept behind small functions that name the path in errors.

use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("cannot create a private mount namespace")]
    Unshare(#[source] nix::Error),
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
    #[error("cannot create mount point {path}")]
    MountPoint {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MountError {
    pub fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::Internal
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
pub fn enter_private_mount_namespace() -> Result<(), MountError> {
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
    })
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

fn unescape_mountinfo(s: &str) -> String {
    s.replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}
