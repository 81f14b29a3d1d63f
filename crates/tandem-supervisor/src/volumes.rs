//! The pod's volumes on disk, and the bind mounts each container gets.
//!
//! Volumes are made once when the pod starts (they survive container restarts, as on a node) in
//! the pod's directory; tmpfs-backed ones are mounted in the supervisor's private mount namespace.

use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use tandem_api::env::Objects;
use tandem_api::env::RuntimeFacts;
use tandem_api::plan::{
    ContainerPlan, FileContent, FileProjection, ObjectFiles, ObjectKind, PodPlan, VolumePlan,
    VolumeSource,
};
use tandem_kubelet::runtime::MountFailure;

use crate::statedir::PodDir;
use crate::translate::BindMount;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("volume {volume}: cannot write {path}")]
    Write {
        volume: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("volume {volume}: hostPath {path} {problem}")]
    HostPath {
        volume: String,
        path: String,
        problem: String,
    },
    #[error("volume {volume}: {message}")]
    Content { volume: String, message: String },
    #[error("container {container}: subPath {sub_path:?} of volume {volume} {problem}")]
    SubPath {
        container: String,
        volume: String,
        sub_path: String,
        problem: String,
    },
    #[error("cannot give {path} to the pod's user namespace")]
    Ownership {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot mount volume {volume}")]
    Mount {
        volume: String,
        #[source]
        source: tandem_runtime::mounts::MountError,
    },
}

fn io_err<'a>(volume: &str, path: &'a Path) -> impl FnOnce(std::io::Error) -> VolumeError + 'a {
    let volume = volume.to_string();
    move |source| VolumeError::Write {
        volume,
        path: path.to_path_buf(),
        source,
    }
}

/// Creates every volume of the pod under its directory.
pub fn prepare(plan: &PodPlan, dir: &PodDir, facts: &RuntimeFacts) -> Result<(), VolumeError> {
    for v in &plan.volumes {
        let path = match &v.source {
            VolumeSource::Claim { path, .. } => PathBuf::from(path),
            _ => dir.volume(&v.name),
        };
        match &v.source {
            VolumeSource::EmptyDir {
                memory,
                size_limit_bytes,
                ..
            } => {
                std::fs::create_dir_all(&path).map_err(io_err(&v.name, &path))?;
                // The kubelet makes emptyDir world-writable so containers running as any user can share it.
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
                    .map_err(io_err(&v.name, &path))?;
                if *memory {
                    tandem_runtime::mounts::mount_tmpfs(&path, *size_limit_bytes, 0o777).map_err(
                        |source| VolumeError::Mount {
                            volume: v.name.clone(),
                            source,
                        },
                    )?;
                }
            }
            VolumeSource::HostPath { path: host, kind } => check_host_path(&v.name, host, kind)?,
            // A claim's directory is made on first use, writable by every user as a
            // provisioner's local volume is; it stays when the pod goes.
            VolumeSource::Claim { .. } => {
                if !path.exists() {
                    std::fs::create_dir_all(&path).map_err(io_err(&v.name, &path))?;
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777))
                        .map_err(io_err(&v.name, &path))?;
                }
            }
            // The mount point; the image is pulled and mounted by `mount_image`.
            VolumeSource::Image { .. } => {
                std::fs::create_dir_all(&path).map_err(io_err(&v.name, &path))?;
                continue;
            }
            VolumeSource::Files { files, awaiting } => {
                std::fs::create_dir_all(&path).map_err(io_err(&v.name, &path))?;
                write_files(plan, &v.name, &path, files, facts)?;
                if !awaiting.is_empty() {
                    // The rest comes with its objects, and ownership after it (`set_up_awaiting`).
                    continue;
                }
            }
        }
        apply_fs_group(plan, &v.name, &v.source, &path)?;
    }
    Ok(())
}

/// `fsGroup` on one volume, where the kubelet manages its ownership.
fn apply_fs_group(
    plan: &PodPlan,
    volume: &str,
    source: &VolumeSource,
    path: &Path,
) -> Result<(), VolumeError> {
    if let (Some(group), Some(read_only)) = (plan.security.fs_group, ownership_managed(source)) {
        let on_root_mismatch =
            plan.security.fs_group_change_policy.as_deref() == Some("OnRootMismatch");
        set_volume_ownership(path, group, read_only, on_root_mismatch)
            .map_err(|(p, e)| io_err(volume, &p)(e))?;
    }
    Ok(())
}

/// Writes a file volume's files under `path`.
fn write_files(
    plan: &PodPlan,
    volume: &str,
    path: &Path,
    files: &[FileProjection],
    facts: &RuntimeFacts,
) -> Result<(), VolumeError> {
    let content_err = |message: String| VolumeError::Content {
        volume: volume.to_string(),
        message,
    };
    for f in files {
        if !is_clean_relative(&f.path) {
            return Err(content_err(format!(
                "file path {:?} must be relative and must not contain '..'",
                f.path
            )));
        }
        let bytes = match &f.content {
            FileContent::Bytes(b) => b.clone(),
            FileContent::FieldRef(p) => tandem_api::env::resolve_field_ref(plan, p, facts)
                .map_err(|e| content_err(e.to_string()))?
                .into_bytes(),
            FileContent::ResourceFieldRef(r) => {
                tandem_api::env::resolve_resource_field_ref(plan, r, facts)
                    .map_err(|e| content_err(e.to_string()))?
                    .into_bytes()
            }
        };
        let target = path.join(&f.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(io_err(volume, parent))?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(f.mode)
            .open(&target)
            .and_then(|mut file| std::io::Write::write_all(&mut file, &bytes))
            .map_err(io_err(volume, &target))?;
        // open(2)'s mode is filtered by the umask; the volume must show the mode asked for.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(f.mode))
            .map_err(io_err(volume, &target))?;
    }
    Ok(())
}

/// Mounts an image volume's layers read-only on its directory (KEP-4639: merged as a
/// container's root is, never writable).
pub fn mount_image(
    dir: &PodDir,
    volume: &str,
    image: &tandem_image::ResolvedImage,
) -> Result<(), VolumeError> {
    let empty = dir.root.join("image-volume-base");
    std::fs::create_dir_all(&empty).map_err(io_err(volume, &empty))?;
    let m = image.read_only_mount(&empty);
    let spec = tandem_runtime::mounts::MountSpec {
        fstype: m.fstype,
        source: m.source,
        options: m.options,
    };
    tandem_runtime::mounts::mount_spec(&spec, &dir.volume(volume)).map_err(|source| {
        VolumeError::Mount {
            volume: volume.to_string(),
            source,
        }
    })
}

/// The ConfigMaps and Secrets the pod's file volumes wait for.
pub fn awaited_objects(plan: &PodPlan) -> impl Iterator<Item = (&VolumePlan, &ObjectFiles)> {
    plan.volumes.iter().flat_map(|v| {
        let awaiting = match &v.source {
            VolumeSource::Files { awaiting, .. } => awaiting.as_slice(),
            _ => &[],
        };
        awaiting.iter().map(move |o| (v, o))
    })
}

/// Completes the file volumes that wait for ConfigMaps and Secrets, from `objects` (the
/// kubelet's configMap and secret volume plugins' SetUp): nothing is written until every awaited
/// object and key is there; the first missing one is the error, in the plugins' words.
pub fn set_up_awaiting(
    plan: &PodPlan,
    dir: &PodDir,
    objects: &Objects,
    id_range: Option<tandem_runtime::userns::IdRange>,
) -> Result<(), MountFailure> {
    let mut found: Vec<(&VolumePlan, Vec<FileProjection>)> = Vec::new();
    for (v, o) in awaited_objects(plan) {
        let (lower, noun) = match o.kind {
            ObjectKind::ConfigMap => ("configmap", "config"),
            ObjectKind::Secret => ("secret", "secret"),
        };
        let failure = |message: String| MountFailure {
            volume: v.name.clone(),
            message,
        };
        let content = objects
            .files(o.kind, &o.name)
            .ok_or_else(|| failure(format!("{lower} {:?} not found", o.name)))?;
        let (files, missing) = o.project(content);
        if let Some(&i) = missing.first() {
            let key = &o.items[i].key;
            return Err(failure(format!(
                "{lower} references non-existent {noun} key: {key}"
            )));
        }
        match found.iter_mut().find(|(fv, _)| fv.name == v.name) {
            Some((_, all)) => all.extend(files),
            None => found.push((v, files)),
        }
    }
    for (v, files) in found {
        let path = dir.volume(&v.name);
        let failure = |e: VolumeError| MountFailure {
            volume: v.name.clone(),
            message: tandem_runtime::error_chain(&e),
        };
        write_files(plan, &v.name, &path, &files, &RuntimeFacts::default()).map_err(failure)?;
        apply_fs_group(plan, &v.name, &v.source, &path).map_err(failure)?;
        if let Some(range) = id_range {
            shift_to(&path, range).map_err(failure)?;
        }
    }
    Ok(())
}

/// Whether the kubelet manages the ownership of this kind of volume, and if so whether it treats
/// it as read-only (`Some(true)`: configMap, secret, downwardAPI and projected volumes get g+r) or
/// writable (`Some(false)`: emptyDir gets g+rw). hostPath is never touched.
fn ownership_managed(source: &VolumeSource) -> Option<bool> {
    match source {
        VolumeSource::EmptyDir { .. } | VolumeSource::Claim { .. } => Some(false),
        VolumeSource::Files { .. } => Some(true),
        VolumeSource::HostPath { .. } | VolumeSource::Image { .. } => None,
    }
}

const SETGID: u32 = 0o2000;

/// The permission bits fsGroup requires: group read (and write for a writable volume), plus
/// group search and the setgid bit on directories.
fn fs_group_mask(read_only: bool, dir: bool) -> u32 {
    let mut mask = if read_only { 0o440 } else { 0o660 };
    if dir {
        mask |= SETGID | 0o110;
    }
    mask
}

/// Applies `fsGroup` to a volume as the kubelet does (docs/kubelet-rules.md §6.3): every entry is
/// lchown'd to the group (owner unchanged); regular files and directories gain the group bits of
/// [`fs_group_mask`] (symlinks are only re-grouped, never followed). New files inherit the group
/// through the directories' setgid bit. With `OnRootMismatch` nothing is walked when the root
/// already has the group and the bits.
pub fn set_volume_ownership(
    root: &Path,
    group: u32,
    read_only: bool,
    on_root_mismatch: bool,
) -> Result<(), (PathBuf, std::io::Error)> {
    use std::os::unix::fs::MetadataExt;
    if on_root_mismatch {
        let meta = std::fs::symlink_metadata(root).map_err(|e| (root.to_path_buf(), e))?;
        let mask = fs_group_mask(read_only, true);
        if meta.gid() == group && meta.mode() & mask == mask {
            return Ok(());
        }
    }
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let at = |e| (path.clone(), e);
        let meta = std::fs::symlink_metadata(&path).map_err(at)?;
        std::os::unix::fs::lchown(&path, None, Some(group)).map_err(at)?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            continue;
        }
        let mode = (meta.mode() & 0o7777) | fs_group_mask(read_only, ft.is_dir());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).map_err(at)?;
        if ft.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(at)? {
                stack.push(entry.map_err(at)?.path());
            }
        }
    }
    Ok(())
}

fn check_host_path(volume: &str, path: &str, kind: &str) -> Result<(), VolumeError> {
    use std::os::unix::fs::FileTypeExt;
    let err = |problem: &str| VolumeError::HostPath {
        volume: volume.into(),
        path: path.into(),
        problem: problem.into(),
    };
    let meta = std::fs::metadata(path);
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(err(
                "exists but is not a directory (type DirectoryOrCreate)",
            )),
            Err(_) => {
                std::fs::create_dir_all(path).map_err(|e| err(&format!("cannot be created: {e}")))
            }
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(err("exists but is not a file (type FileOrCreate)")),
            Err(_) => std::fs::File::create(path)
                .map(|_| ())
                .map_err(|e| err(&format!("cannot be created: {e}"))),
        },
        _ => {
            let m = meta.map_err(|_| err(&format!("does not exist (type {kind} requires it)")))?;
            let ft = m.file_type();
            let ok = match kind {
                "Directory" => ft.is_dir(),
                "File" => ft.is_file(),
                "Socket" => ft.is_socket(),
                "CharDevice" => ft.is_char_device(),
                "BlockDevice" => ft.is_block_device(),
                _ => false,
            };
            if ok {
                Ok(())
            } else {
                Err(err(&format!("is not a {kind}")))
            }
        }
    }
}

fn is_clean_relative(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Pins subPath `sub` of the volume at `root` on `target` (see
/// [`tandem_runtime::mounts::bind_beneath`]): the container then gets `target`, a mount point no
/// container can reach, instead of a path it could re-point between check and mount. Directories
/// it has to create belong to `owner` (uid and gid on the host), else to the supervisor (root).
fn pin_sub_path(
    root: &Path,
    sub: &str,
    target: &Path,
    owner: Option<(u32, u32)>,
) -> Result<(), String> {
    if !is_clean_relative(sub) {
        return Err("must be a relative path without '..'".into());
    }
    let parts: Vec<_> = Path::new(sub)
        .components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p),
            _ => None,
        })
        .collect();
    tandem_runtime::mounts::bind_beneath(root, &parts, target, owner)
        .map_err(|e| tandem_runtime::error_chain(&e))
}

/// `hostUsers: false`: shifts the owners of everything the pod's containers mount from the pod
/// directory (volumes, /etc/hosts, /etc/hostname, /etc/resolv.conf, /dev/shm) into the pod's
/// host id range, so root in the pod owns what root on the host made for it, and fsGroup or
/// defaultMode owners land on the same ids inside. They are the pod's own files, so they are
/// chowned rather than mounted through an id mapping; hostPath volumes are the host's and keep
/// their owners (seen from the pod as the overflow id, nobody).
pub fn give_to_user_namespace(
    dir: &PodDir,
    range: tandem_runtime::userns::IdRange,
) -> Result<(), VolumeError> {
    let mut roots = vec![dir.root.join("volumes"), dir.shm()];
    roots.extend(["etc-hosts", "hostname", "resolv.conf"].map(|f| dir.etc_file(f)));
    for root in roots.iter().filter(|p| p.exists()) {
        shift_to(root, range)?;
    }
    Ok(())
}

/// Moves everything under `path` (made on the host's ids) into the pod's id `range`.
fn shift_to(path: &Path, range: tandem_runtime::userns::IdRange) -> Result<(), VolumeError> {
    let err = |source| VolumeError::Ownership {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(path).map_err(err)?;
    // Ids already in the range (ranges start at IDS_PER_POD or above) stay as they are, so a
    // volume completed later can be shifted again as a whole.
    let (uid, gid) = (range.to_host(meta.uid()), range.to_host(meta.gid()));
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(err)?;
    // lchown(2) clears set-user-ID and set-group-ID bits: the setgid bit fsGroup put on
    // directories must survive, so new files keep inheriting the group.
    if !meta.file_type().is_symlink() && meta.mode() & 0o6000 != 0 {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
            .map_err(err)?;
    }
    if meta.is_dir() {
        for e in std::fs::read_dir(path).map_err(err)? {
            shift_to(&e.map_err(err)?.path(), range)?;
        }
    }
    Ok(())
}

/// The bind mounts of one container: its volumeMounts plus the pod files every container gets.
/// `id_range` is the pod's user-namespace range (`hostUsers: false`).
pub fn container_mounts(
    plan: &PodPlan,
    c: &ContainerPlan,
    dir: &PodDir,
    env: &[(String, String)],
    id_range: Option<tandem_runtime::userns::IdRange>,
) -> Result<Vec<BindMount>, VolumeError> {
    let mut out = vec![];
    for (index, vm) in c.volume_mounts.iter().enumerate() {
        let Some(vol) = plan.volume(&vm.name) else {
            continue;
        };
        let (root, forced_ro) = match &vol.source {
            VolumeSource::HostPath { path, .. } | VolumeSource::Claim { path, .. } => {
                (PathBuf::from(path), false)
            }
            VolumeSource::Files { .. } | VolumeSource::Image { .. } => (dir.volume(&vm.name), true),
            VolumeSource::EmptyDir { .. } => (dir.volume(&vm.name), false),
        };
        let sub = match (&vm.sub_path, &vm.sub_path_expr) {
            (Some(s), _) if !s.is_empty() => Some(s.clone()),
            (_, Some(e)) if !e.is_empty() => {
                let lookup = |n: &str| {
                    env.iter()
                        .rev()
                        .find(|(k, _)| k == n)
                        .map(|(_, v)| v.clone())
                };
                Some(tandem_api::env::expand(e, lookup))
            }
            _ => None,
        };
        // subPath directories made in the pod's own volumes belong to the pod's root, as
        // everything in them does after give_to_user_namespace (which ran before any container,
        // so before these were made); as host root they would be the pod's nobody, unwritable.
        // hostPath volumes keep host owners, so what is made there stays host root's.
        let owner = match (&vol.source, id_range) {
            (VolumeSource::HostPath { .. } | VolumeSource::Claim { .. }, _) | (_, None) => None,
            (_, Some(range)) => Some((range.to_host(0), range.to_host(0))),
        };
        let source = match sub {
            Some(s) => {
                let pinned = dir.sub_path(&c.name, index);
                pin_sub_path(&root, &s, &pinned, owner).map_err(|problem| {
                    VolumeError::SubPath {
                        container: c.name.clone(),
                        volume: vm.name.clone(),
                        sub_path: s.clone(),
                        problem,
                    }
                })?;
                pinned
            }
            None => root,
        };
        out.push(BindMount {
            source,
            destination: vm.mount_path.clone(),
            read_only: vm.read_only || forced_ro,
        });
    }
    let mounted = |p: &str| c.volume_mounts.iter().any(|m| m.mount_path == p);
    for (file, dest) in [
        ("etc-hosts", "/etc/hosts"),
        ("hostname", "/etc/hostname"),
        ("resolv.conf", "/etc/resolv.conf"),
    ] {
        if !mounted(dest) {
            out.push(BindMount {
                source: dir.etc_file(file),
                destination: dest.into(),
                read_only: false,
            });
        }
    }
    out.push(BindMount {
        source: dir.shm(),
        destination: "/dev/shm".into(),
        read_only: false,
    });
    Ok(out)
}

/// The pod's `/dev/shm`: one tmpfs of 64 MiB (the container runtimes' default size) that every
/// container of the pod mounts.
pub fn mount_shm(dir: &PodDir) -> Result<(), VolumeError> {
    tandem_runtime::mounts::mount_tmpfs(&dir.shm(), Some(64 * 1024 * 1024), 0o1777).map_err(
        |source| VolumeError::Mount {
            volume: "/dev/shm".into(),
            source,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_paths_never_leave_their_volume() {
        // Every refusal happens before anything is mounted, so this needs no privileges.
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("vol");
        std::fs::create_dir(&root).expect("mkdir");
        std::os::unix::fs::symlink("/etc", root.join("link")).expect("symlink");
        std::fs::write(root.join("file"), "x").expect("file");
        let target = dir.path().join("pinned");
        assert!(pin_sub_path(&root, "../x", &target, None).is_err());
        assert!(pin_sub_path(&root, "/etc", &target, None).is_err());
        for sub in ["link", "link/passwd", "file/x"] {
            let e = pin_sub_path(&root, sub, &target, None).expect_err(sub);
            assert!(e.contains("symlink"), "{sub}: {e}");
        }
        assert!(!target.exists(), "nothing is made for a refused subPath");
    }
}
