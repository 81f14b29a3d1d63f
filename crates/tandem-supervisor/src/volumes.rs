//! The pod's volumes on disk, and the bind mounts each container gets.
//!
//! Volumes are made once when the pod starts (they survive container restarts, as on a node) in
//! the pod's directory; tmpfs-backed ones are mounted in the supervisor's private mount namespace.
//! File volumes (configMap, secret, downwardAPI, projected) are written in the atomic writer's
//! layout ([`atomic_writer`]) and written again while the pod runs when what they project
//! changes ([`resync`]).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use tandem_api::env::Objects;
use tandem_api::env::RuntimeFacts;
use tandem_api::plan::{
    ContainerPlan, FileContent, FilePart, FileProjection, ObjectKind, PodPlan, VolumePlan,
    VolumeSource,
};
use tandem_kubelet::runtime::MountFailure;

use crate::atomic_writer;
use crate::statedir::PodDir;
use crate::tokens::Tokens;
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
            VolumeSource::Files { parts } => {
                std::fs::create_dir_all(&path).map_err(io_err(&v.name, &path))?;
                if v.source.set_up_late() {
                    // Written with its objects, and ownership after them (`set_up_awaiting`).
                    continue;
                }
                let files = tandem_api::env::volume_files(parts, &Objects::default(), true)
                    .map_err(|e| VolumeError::Content {
                        volume: v.name.clone(),
                        message: e.to_string(),
                    })?;
                write_files(plan, &v.name, &path, &files, facts, None)?;
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

/// Makes `files` the current version of the file volume at `path` (see [`atomic_writer`]),
/// their references to the pod resolved now and its tokens issued by `tokens`. Returns whether
/// anything changed.
fn write_files(
    plan: &PodPlan,
    volume: &str,
    path: &Path,
    files: &[FileProjection],
    facts: &RuntimeFacts,
    tokens: Option<&Tokens>,
) -> Result<bool, VolumeError> {
    let content_err = |message: String| VolumeError::Content {
        volume: volume.to_string(),
        message,
    };
    let mut rendered = Vec::with_capacity(files.len());
    for f in files {
        let (mut mode, mut owner) = (f.mode, None);
        let bytes = match &f.content {
            // The projected volume plugin's rule: a token is the pod's user's alone (0600,
            // theirs) when all containers run as one user, or readable through fsGroup alone.
            FileContent::Token(request) => {
                let user = crate::tokens::shared_user(plan);
                if user.is_some() || plan.security.fs_group.is_some() {
                    mode = 0o600;
                }
                owner = user;
                let tokens = tokens
                    .ok_or_else(|| content_err(crate::tokens::TokenError::NoKey.to_string()))?;
                tokens
                    .token(request, now_us() / 1_000_000)
                    .map_err(|e| content_err(tandem_runtime::error_chain(&e)))?
                    .into_bytes()
            }
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
        rendered.push(atomic_writer::File {
            path: f.path.clone(),
            mode,
            owner,
            bytes,
        });
    }
    let stamp = crate::logs::rfc3339_nano(now_us())
        .trim_end_matches('Z')
        .replace(['-', ':', 'T'], "_");
    atomic_writer::write(path, &rendered, &stamp).map_err(io_err(volume, path))
}

fn now_us() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
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

/// The ConfigMaps and Secrets the pod's file volumes project.
pub fn projected_objects(plan: &PodPlan) -> impl Iterator<Item = (ObjectKind, &str)> {
    plan.volumes.iter().flat_map(|v| {
        let parts = match &v.source {
            VolumeSource::Files { parts } => parts.as_slice(),
            _ => &[],
        };
        parts.iter().filter_map(|p| match p {
            FilePart::Object { files, .. } => Some((files.kind, files.name.as_str())),
            FilePart::Fixed(_) | FilePart::Token(_) => None,
        })
    })
}

/// Completes the file volumes that wait for ConfigMaps and Secrets, from `objects` (the
/// kubelet's configMap and secret volume plugins' SetUp): nothing is written until every awaited
/// object and key is there; the first missing one is the error, in the plugins' words.
pub fn set_up_awaiting(
    plan: &PodPlan,
    dir: &PodDir,
    objects: &Objects,
    facts: &RuntimeFacts,
    tokens: &Tokens,
    id_range: Option<tandem_runtime::userns::IdRange>,
) -> Result<(), MountFailure> {
    let late = plan
        .volumes
        .iter()
        .filter(|v| matches!(v.source, VolumeSource::Files { .. }) && v.source.set_up_late());
    let mut found = Vec::new();
    for v in late {
        found.push((v, files_now(v, objects, true)?));
    }
    for (v, files) in found {
        write_current(plan, v, dir, &files, facts, tokens, id_range)?;
    }
    Ok(())
}

/// Writes every file volume again where what it projects changed: a ConfigMap's or Secret's
/// keys in `objects` (the store now), the pod's labels and annotations (the kubelet's periodic
/// SetUp of these volumes, §6.9). A volume that cannot be made now (its object deleted, a key
/// gone) keeps its files; the first such is the error.
pub fn resync(
    plan: &PodPlan,
    dir: &PodDir,
    objects: &Objects,
    facts: &RuntimeFacts,
    tokens: &Tokens,
    id_range: Option<tandem_runtime::userns::IdRange>,
) -> Result<(), MountFailure> {
    let mut first = None;
    for v in plan.volumes.iter().filter(|v| v.source.resyncs()) {
        let result = files_now(v, objects, false)
            .and_then(|files| write_current(plan, v, dir, &files, facts, tokens, id_range));
        if let Err(e) = result {
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// A file volume's files from its parts and `objects` ([`tandem_api::env::volume_files`]).
fn files_now(
    v: &VolumePlan,
    objects: &Objects,
    use_held: bool,
) -> Result<Vec<FileProjection>, MountFailure> {
    let VolumeSource::Files { parts } = &v.source else {
        return Ok(Vec::new());
    };
    tandem_api::env::volume_files(parts, objects, use_held).map_err(|e| MountFailure {
        volume: v.name.clone(),
        message: e.to_string(),
    })
}

/// Makes `files` the volume's current version and, when that changed it, gives the new files
/// the volume's owners: `fsGroup` over the whole volume (the kubelet's writers ask for it with
/// no change policy, since a new version is new files) and the pod's id range.
fn write_current(
    plan: &PodPlan,
    v: &VolumePlan,
    dir: &PodDir,
    files: &[FileProjection],
    facts: &RuntimeFacts,
    tokens: &Tokens,
    id_range: Option<tandem_runtime::userns::IdRange>,
) -> Result<(), MountFailure> {
    let path = dir.volume(&v.name);
    let failure = |e: VolumeError| MountFailure {
        volume: v.name.clone(),
        message: tandem_runtime::error_chain(&e),
    };
    if !write_files(plan, &v.name, &path, files, facts, Some(tokens)).map_err(failure)? {
        return Ok(());
    }
    if let (Some(group), Some(read_only)) = (plan.security.fs_group, ownership_managed(&v.source)) {
        set_volume_ownership(&path, group, read_only, false)
            .map_err(|(p, e)| failure(io_err(&v.name, &p)(e)))?;
    }
    if let Some(range) = id_range {
        shift_to(&path, range).map_err(failure)?;
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
    if !atomic_writer::is_clean_relative(sub) {
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
                // A file volume's subPath is pinned in its current version, through the
                // `..data` link tandem made: its file is not replaced when the volume changes,
                // as on a node.
                let base = match &vol.source {
                    VolumeSource::Files { .. } => atomic_writer::current(&root),
                    _ => None,
                };
                let pinned = dir.sub_path(&c.name, index);
                pin_sub_path(base.as_ref().unwrap_or(&root), &s, &pinned, owner).map_err(
                    |problem| VolumeError::SubPath {
                        container: c.name.clone(),
                        volume: vm.name.clone(),
                        sub_path: s.clone(),
                        problem,
                    },
                )?;
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
