//! Safe unpacking of one layer tar into a snapshot directory, converting OCI whiteouts into the
//! overlayfs format.
//!
//! The unpacker owns the directory it writes into (a fresh temp dir nobody else touches), and
//! for every entry:
//! - strips leading `/` and `./` and refuses any path with a `..` component;
//! - walks the entry's parent directories with `symlink_metadata`, creating missing ones, and
//!   refuses the entry when one of them is a symlink (or not a directory): nothing is ever
//!   written through a symlink, so `a -> /etc` followed by `a/passwd` cannot escape;
//! - replaces whatever is at the final path (a symlink there is removed, never followed), and
//!   creates new files with `O_EXCL`;
//! - for hardlinks, normalises the target the same way and requires it to exist inside the
//!   layer without a symlink on its path;
//! - creates char/block/fifo nodes only as root (skipped otherwise), keeps ownership (lchown) and
//!   setuid/setgid bits only as root, always keeps permissions and mtimes; directory modes and
//!   mtimes are applied at the end, and only to paths that are still real directories;
//! - turns `.wh.NAME` into a 0:0 char device `NAME` and `.wh..wh..opq` into the
//!   `trusted.overlay.opaque=y` xattr on its directory (root only; otherwise an error).

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use flate2::read::MultiGzDecoder;
use nix::fcntl::AtFlags;
use nix::sys::stat::{makedev, mknod, utimensat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchownat, Gid, Uid};
use tar::EntryType;

use crate::content::{Compression, ZstdReader};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result, UnsafeReason};

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Normalises an archive path: drops leading `/`, `.` components; refuses `..`.
pub(crate) fn normalise(raw: &[u8]) -> std::result::Result<PathBuf, UnsafeReason> {
    let mut out = PathBuf::new();
    for comp in Path::new(OsStr::from_bytes(raw)).components() {
        match comp {
            Component::Prefix(_) | Component::RootDir | Component::CurDir => {}
            Component::ParentDir => return Err(UnsafeReason::ParentComponent),
            Component::Normal(c) => out.push(c),
        }
    }
    Ok(out)
}

/// A layer blob to unpack and the digests it must have.
pub(crate) struct LayerBlob<'a> {
    pub path: &'a Path,
    /// Digest of the blob as stored (compressed, if it is).
    pub digest: &'a Digest,
    /// Digest of the uncompressed tar, from the image config.
    pub diff_id: &'a Digest,
    /// The image, for error messages.
    pub image: &'a str,
}

/// Unpacks a (possibly gzip-compressed) layer blob into `dest` (an existing empty directory),
/// verifying both the blob digest and the DiffID in the same pass. On error `dest` holds a
/// partial tree that the caller must discard.
pub(crate) fn unpack_layer(layer: &LayerBlob<'_>, dest: &Path, is_root: bool) -> Result<()> {
    let archive = layer.path.display().to_string();
    let file = match File::open(layer.path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::MissingBlob {
                image: layer.image.to_string(),
                digest: layer.digest.to_string(),
            })
        }
        Err(e) => return Err(Error::io("open layer blob", layer.path, e)),
    };
    let mut reader = BufReader::new(file);
    let compression =
        Compression::sniff(&mut reader).map_err(|e| Error::io("read layer blob", layer.path, e))?;
    let malformed = |e: io::Error| Error::MalformedArchive {
        archive: layer.path.to_path_buf(),
        entry: "(tar stream)".to_string(),
        reason: e.to_string(),
    };
    let mut unpacker = Unpacker::new(dest, &archive, is_root);
    let (blob_digest, diff_id) = match compression {
        Compression::Zstd => {
            let outer = HashingReader::new(reader);
            let inner = unpacker.unpack(HashingReader::new(ZstdReader::new(outer)))?;
            let mut inner = inner;
            inner.drain().map_err(malformed)?;
            let diff_id = inner.digest();
            let mut outer = inner
                .into_inner()
                .into_inner()
                .ok_or_else(|| malformed(io::Error::other("zstd stream failed")))?;
            outer.drain().map_err(malformed)?;
            (outer.digest(), diff_id)
        }
        Compression::None => {
            let mut r = unpacker.unpack(HashingReader::new(reader))?;
            r.drain().map_err(malformed)?;
            (r.digest(), r.digest())
        }
        Compression::Gzip => {
            let outer = HashingReader::new(reader);
            let mut inner = unpacker.unpack(HashingReader::new(MultiGzDecoder::new(outer)))?;
            inner.drain().map_err(malformed)?;
            let diff_id = inner.digest();
            let mut outer = inner.into_inner().into_inner();
            outer.drain().map_err(malformed)?;
            (outer.digest(), diff_id)
        }
    };
    if &blob_digest != layer.digest {
        return Err(Error::BlobDigestMismatch {
            location: archive,
            expected: layer.digest.to_string(),
            actual: blob_digest.to_string(),
        });
    }
    if &diff_id != layer.diff_id {
        return Err(Error::LayerDigestMismatch {
            image: layer.image.to_string(),
            layer: archive,
            expected: layer.diff_id.to_string(),
            actual: diff_id.to_string(),
        });
    }
    unpacker.finish()
}

/// Writes the entries of one tar stream under `root`.
pub(crate) struct Unpacker<'a> {
    root: &'a Path,
    archive: &'a str,
    is_root: bool,
    /// Directories whose mode and mtime are applied by [`Unpacker::finish`].
    dirs: Vec<(PathBuf, u32, u64)>,
}

impl<'a> Unpacker<'a> {
    pub(crate) fn new(root: &'a Path, archive: &'a str, is_root: bool) -> Self {
        Unpacker {
            root,
            archive,
            is_root,
            dirs: Vec::new(),
        }
    }

    /// Unpacks every entry; returns the reader so the caller can hash what follows the
    /// end-of-archive marker.
    pub(crate) fn unpack<R: Read>(&mut self, reader: R) -> Result<R> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| self.malformed("(tar stream)", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.malformed("(tar header)", e))?;
            self.entry(&mut entry)?;
        }
        Ok(archive.into_inner())
    }

    /// Applies directory modes and mtimes, deepest last-written first, skipping any path that is
    /// no longer a real directory (a later entry may have replaced it with a symlink).
    pub(crate) fn finish(self) -> Result<()> {
        for (path, mode, mtime) in self.dirs.iter().rev() {
            let shown = path.display().to_string();
            match fs::symlink_metadata(path) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.write_err(&shown, e)),
            }
            fs::set_permissions(path, fs::Permissions::from_mode(self.mode(*mode)))
                .map_err(|e| self.write_err(&shown, e))?;
            set_mtime(path, *mtime).map_err(|e| self.write_err(&shown, e))?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let rel = normalise(&raw).map_err(|reason| self.refuse(&name, reason))?;
        let header = entry.header();
        let mode = header.mode().map_err(|e| self.malformed(&name, e))?;
        let mtime = header.mtime().map_err(|e| self.malformed(&name, e))?;

        let Some(file_name) = rel.file_name().map(|f| f.as_bytes().to_vec()) else {
            // The layer root itself (`./` or `/`).
            if !kind.is_dir() {
                return Err(self.refuse(&name, UnsafeReason::RootNotDirectory));
            }
            self.chown(entry, self.root, &name)?;
            self.dirs.push((self.root.to_path_buf(), mode, mtime));
            return Ok(());
        };
        let parent = self.ensure_parents(&rel, &name)?;
        if file_name.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(&parent, &file_name, &name);
        }
        let target = self.root.join(&rel);
        match kind {
            EntryType::Directory => {
                match fs::symlink_metadata(&target) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        self.remove_existing(&target, &name)?;
                        fs::create_dir(&target).map_err(|e| self.write_err(&name, e))?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        fs::create_dir(&target).map_err(|e| self.write_err(&name, e))?;
                    }
                    Err(e) => return Err(self.write_err(&name, e)),
                }
                self.chown(entry, &target, &name)?;
                self.xattrs(entry, &target, &name)?;
                self.dirs.push((target, mode, mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.remove_existing(&target, &name)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&target)
                    .map_err(|e| self.write_err(&name, e))?;
                io::copy(entry, &mut file).map_err(|e| self.write_err(&name, e))?;
                self.chown(entry, &target, &name)?;
                // After chown, which clears setuid/setgid bits.
                file.set_permissions(fs::Permissions::from_mode(self.mode(mode)))
                    .map_err(|e| self.write_err(&name, e))?;
                drop(file);
                self.xattrs(entry, &target, &name)?;
                set_mtime(&target, mtime).map_err(|e| self.write_err(&name, e))?;
            }
            EntryType::Symlink => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .ok_or_else(|| {
                        self.malformed(&name, io::Error::other("symlink without a target"))
                    })?;
                self.remove_existing(&target, &name)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&link), &target)
                    .map_err(|e| self.write_err(&name, e))?;
                self.chown(entry, &target, &name)?;
                set_mtime(&target, mtime).map_err(|e| self.write_err(&name, e))?;
            }
            EntryType::Link => {
                let link = entry
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .ok_or_else(|| self.refuse(&name, UnsafeReason::HardlinkWithoutTarget))?;
                let source = self.hardlink_source(&link, &name)?;
                if source == target {
                    return Ok(());
                }
                self.remove_existing(&target, &name)?;
                // link(2) never follows a symlink in the final component of `source`.
                fs::hard_link(&source, &target).map_err(|e| self.write_err(&name, e))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                if !self.is_root {
                    // Device nodes need CAP_MKNOD; an unprivileged store goes without them.
                    return Ok(());
                }
                let sflag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let (major, minor) = if kind == EntryType::Fifo {
                    (0, 0)
                } else {
                    let major = header
                        .device_major()
                        .map_err(|e| self.malformed(&name, e))?
                        .unwrap_or(0);
                    let minor = header
                        .device_minor()
                        .map_err(|e| self.malformed(&name, e))?
                        .unwrap_or(0);
                    (major, minor)
                };
                self.remove_existing(&target, &name)?;
                mknod(
                    &target,
                    sflag,
                    Mode::from_bits_truncate(mode & 0o777),
                    makedev(u64::from(major), u64::from(minor)),
                )
                .map_err(|e| self.write_err(&name, e.into()))?;
                self.chown(entry, &target, &name)?;
                fs::set_permissions(&target, fs::Permissions::from_mode(self.mode(mode)))
                    .map_err(|e| self.write_err(&name, e))?;
                set_mtime(&target, mtime).map_err(|e| self.write_err(&name, e))?;
            }
            other => {
                return Err(self.refuse(
                    &name,
                    UnsafeReason::UnsupportedEntryType {
                        type_byte: other.as_byte(),
                    },
                ))
            }
        }
        Ok(())
    }

    /// Creates missing parent directories of `rel` and refuses symlinks and non-directories on
    /// the way. Returns the absolute parent directory.
    fn ensure_parents(&self, rel: &Path, name: &str) -> Result<PathBuf> {
        let mut current = self.root.to_path_buf();
        let mut shown = PathBuf::new();
        let depth = rel.components().count();
        for comp in rel.components().take(depth.saturating_sub(1)) {
            current.push(comp);
            shown.push(comp);
            match fs::symlink_metadata(&current) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(self.refuse(
                        name,
                        UnsafeReason::SymlinkInPath {
                            parent: shown.display().to_string(),
                        },
                    ))
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(self.refuse(
                        name,
                        UnsafeReason::ParentNotDirectory {
                            parent: shown.display().to_string(),
                        },
                    ))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&current).map_err(|e| self.write_err(name, e))?;
                }
                Err(e) => return Err(self.write_err(name, e)),
            }
        }
        Ok(current)
    }

    /// Resolves a hardlink target inside the layer root, refusing `..`, symlinks on its path,
    /// missing targets and directories.
    fn hardlink_source(&self, link: &[u8], name: &str) -> Result<PathBuf> {
        let shown_target = String::from_utf8_lossy(link).into_owned();
        let rel = normalise(link).map_err(|_| {
            self.refuse(
                name,
                UnsafeReason::HardlinkParentComponent {
                    target: shown_target.clone(),
                },
            )
        })?;
        if rel.as_os_str().is_empty() {
            return Err(self.refuse(name, UnsafeReason::HardlinkWithoutTarget));
        }
        let missing = || {
            self.refuse(
                name,
                UnsafeReason::HardlinkTargetMissing {
                    target: shown_target.clone(),
                },
            )
        };
        let mut current = self.root.to_path_buf();
        let mut shown = PathBuf::new();
        let depth = rel.components().count();
        for (i, comp) in rel.components().enumerate() {
            current.push(comp);
            shown.push(comp);
            let meta = match fs::symlink_metadata(&current) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
                Err(e) => return Err(self.write_err(name, e)),
            };
            let last = i + 1 == depth;
            if !last && meta.file_type().is_symlink() {
                return Err(self.refuse(
                    name,
                    UnsafeReason::HardlinkThroughSymlink {
                        target: shown_target.clone(),
                        symlink: shown.display().to_string(),
                    },
                ));
            }
            if !last && !meta.is_dir() {
                return Err(missing());
            }
            if last && meta.is_dir() {
                return Err(self.refuse(
                    name,
                    UnsafeReason::HardlinkToDirectory {
                        target: shown_target.clone(),
                    },
                ));
            }
        }
        Ok(current)
    }

    fn whiteout(&self, parent: &Path, file_name: &[u8], name: &str) -> Result<()> {
        if file_name == OPAQUE_MARKER {
            if !self.is_root {
                return Err(self.needs_root(name, "an opaque-directory marker"));
            }
            return xattr::set(parent, OVERLAY_OPAQUE_XATTR, b"y")
                .map_err(|e| self.write_err(name, e));
        }
        if file_name.starts_with(b".wh..wh.") {
            // Other AUFS metadata (e.g. `.wh..wh.plnk`); it has no overlayfs meaning.
            return Ok(());
        }
        let hidden = &file_name[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(self.refuse(name, UnsafeReason::InvalidWhiteout));
        }
        if !self.is_root {
            return Err(self.needs_root(name, "a whiteout"));
        }
        let target = parent.join(OsStr::from_bytes(hidden));
        self.remove_existing(&target, name)?;
        mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
            .map_err(|e| self.write_err(name, e.into()))
    }

    /// Removes what is at `path` (never following a symlink there) so an entry can take its
    /// place.
    fn remove_existing(&self, path: &Path, name: &str) -> Result<()> {
        let result = match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(path),
            Ok(_) => fs::remove_file(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        result.map_err(|e| self.write_err(name, e))
    }

    /// lchown to the entry's uid/gid, as root only.
    fn chown<R: Read>(&self, entry: &tar::Entry<'_, R>, path: &Path, name: &str) -> Result<()> {
        if !self.is_root {
            return Ok(());
        }
        let header = entry.header();
        let id = |v: io::Result<u64>| -> Result<u32> {
            let v = v.map_err(|e| self.malformed(name, e))?;
            u32::try_from(v).map_err(|_| {
                self.malformed(
                    name,
                    io::Error::other(format!("owner id {v} is out of range")),
                )
            })
        };
        let uid = id(header.uid())?;
        let gid = id(header.gid())?;
        fchownat(
            None,
            path,
            Some(Uid::from_raw(uid)),
            Some(Gid::from_raw(gid)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| self.write_err(name, e.into()))
    }

    /// Applies `SCHILY.xattr.*` PAX records, as root only; `trusted.overlay.*` is never taken from
    /// a layer, and filesystems without xattr support are tolerated.
    fn xattrs<R: Read>(
        &self,
        entry: &mut tar::Entry<'_, R>,
        path: &Path,
        name: &str,
    ) -> Result<()> {
        if !self.is_root {
            return Ok(());
        }
        let Some(exts) = entry
            .pax_extensions()
            .map_err(|e| self.malformed(name, e))?
        else {
            return Ok(());
        };
        for ext in exts {
            let ext = ext.map_err(|e| self.malformed(name, e))?;
            let Some(attr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
                continue;
            };
            if attr.starts_with(b"trusted.overlay.") {
                continue;
            }
            match xattr::set(path, OsStr::from_bytes(attr), ext.value_bytes()) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::errno::Errno::EOPNOTSUPP as i32) => {}
                Err(e) => return Err(self.write_err(name, e)),
            }
        }
        Ok(())
    }

    /// Permission bits to apply: setuid/setgid only as root.
    fn mode(&self, mode: u32) -> u32 {
        if self.is_root {
            mode & 0o7777
        } else {
            mode & 0o1777
        }
    }

    fn refuse(&self, entry: &str, reason: UnsafeReason) -> Error {
        Error::UnsafeEntry {
            archive: self.archive.to_string(),
            entry: entry.to_string(),
            reason,
        }
    }

    fn needs_root(&self, entry: &str, what: &'static str) -> Error {
        Error::NeedsRoot {
            archive: self.archive.to_string(),
            entry: entry.to_string(),
            what,
        }
    }

    fn malformed(&self, entry: &str, e: io::Error) -> Error {
        Error::MalformedArchive {
            archive: PathBuf::from(self.archive),
            entry: entry.to_string(),
            reason: e.to_string(),
        }
    }

    fn write_err(&self, entry: &str, cause: io::Error) -> Error {
        Error::Unpack {
            archive: self.archive.to_string(),
            entry: entry.to_string(),
            cause,
        }
    }
}

fn set_mtime(path: &Path, mtime: u64) -> io::Result<()> {
    let secs = i64::try_from(mtime).unwrap_or(i64::MAX);
    let ts = TimeSpec::new(secs, 0);
    utimensat(None, path, &ts, &ts, UtimensatFlags::NoFollowSymlink).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_entry(
        b: &mut tar::Builder<Vec<u8>>,
        kind: EntryType,
        path: &[u8],
        link: &[u8],
        data: &[u8],
    ) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_mtime(1_600_000_000);
        let old = h.as_old_mut();
        old.name[..path.len()].copy_from_slice(path);
        old.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        b.append(&h, data).expect("append");
    }

    fn unpack_bytes(tar: Vec<u8>, root: &Path, is_root: bool) -> Result<()> {
        let mut u = Unpacker::new(root, "test-layer", is_root);
        u.unpack(&tar[..])?;
        u.finish()
    }

    #[test]
    fn normalise_strips_root_and_dot_and_refuses_dotdot() {
        assert_eq!(normalise(b"/etc/x").expect("ok"), PathBuf::from("etc/x"));
        assert_eq!(normalise(b"./a/./b/").expect("ok"), PathBuf::from("a/b"));
        assert_eq!(normalise(b"./").expect("ok"), PathBuf::new());
        assert_eq!(normalise(b"a/../b"), Err(UnsafeReason::ParentComponent));
        assert_eq!(normalise(b"../x"), Err(UnsafeReason::ParentComponent));
    }

    #[test]
    fn whiteouts_need_root() {
        for marker in [&b"d/.wh.f"[..], b"d/.wh..wh..opq"] {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut b = tar::Builder::new(Vec::new());
            raw_entry(&mut b, EntryType::Regular, marker, b"", b"");
            let tar = b.into_inner().expect("tar");
            let err = unpack_bytes(tar, dir.path(), false).expect_err("must need root");
            assert_eq!(err.kind(), crate::ErrorKind::FailedPrecondition, "{err}");
            assert!(err.to_string().contains("run tandem as root"), "{err}");
        }
    }

    #[test]
    fn devices_are_skipped_and_setuid_dropped_without_root() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = tar::Builder::new(Vec::new());
        raw_entry(&mut b, EntryType::Char, b"dev/null", b"", b"");
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_size(2);
        h.set_mode(0o4755);
        h.set_path("bin/su").expect("path");
        h.set_cksum();
        b.append(&h, &b"#!"[..]).expect("append");
        let tar = b.into_inner().expect("tar");
        unpack_bytes(tar, dir.path(), false).expect("unpacks");
        assert!(fs::symlink_metadata(dir.path().join("dev/null")).is_err());
        let mode = fs::metadata(dir.path().join("bin/su"))
            .expect("su")
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o755);
    }

    #[test]
    fn directory_modes_are_not_applied_through_a_later_symlink() {
        let outside = tempfile::tempdir().expect("outside");
        fs::set_permissions(outside.path(), fs::Permissions::from_mode(0o751)).expect("chmod");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Directory);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_path("a/").expect("path");
        h.set_cksum();
        b.append(&h, &b""[..]).expect("append");
        let target = outside.path().as_os_str().as_bytes().to_vec();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_path("a").expect("path");
        h.set_link_name(outside.path()).expect("link");
        h.set_cksum();
        b.append(&h, &b""[..]).expect("append");
        let tar = b.into_inner().expect("tar");
        unpack_bytes(tar, dir.path(), false).expect("unpacks");
        let link = fs::read_link(dir.path().join("a")).expect("symlink");
        assert_eq!(link.as_os_str().as_bytes(), &target[..]);
        let mode = fs::metadata(outside.path())
            .expect("outside")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o751, "chmod must not follow the symlink");
    }
}
