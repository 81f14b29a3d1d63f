//! File volumes laid out as the kubelet's atomic writer lays them out
//! (`pkg/volume/util/atomic_writer.go`), so that a volume can change under running containers
//! without any reader seeing half of a change: each version of the files lives in a directory of
//! its own (`..2026_12_06_17_55_00.123456789`), `..data` is a symlink to the current one, and each
//! top-level name is a symlink through it (`key` → `..data/key`). A new version is written beside
//! the old; then a fresh symlink is renamed over `..data`, which rename(2) does atomically; then
//! the names are brought in line and the old version removed.
//!
//! Owns the layout of one volume directory. Never decides what the files are, nor their owners.

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// The link to the current version.
const DATA: &str = "..data";
/// The link made before it is renamed over [`DATA`].
const DATA_TMP: &str = "..data_tmp";

/// One file of a version: its path under the volume (relative, no `..`), mode and content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub mode: u32,
    /// The user the file is given to; `None`: the writer's.
    pub owner: Option<u32>,
    pub bytes: Vec<u8>,
}

/// The directory of the volume's current version, if it has one.
pub fn current(dir: &Path) -> Option<PathBuf> {
    let target = std::fs::read_link(dir.join(DATA)).ok()?;
    Some(dir.join(target))
}

/// Makes `files` the volume's current version, unless it already holds exactly these paths
/// with these contents (modes are set when written, and not compared, as the kubelet's writer
/// compares only contents). `stamp` names the new version (`2026_12_06_17_55_00.123456789`).
/// Returns whether anything changed.
pub fn write(dir: &Path, files: &[File], stamp: &str) -> io::Result<bool> {
    // A path given twice (two objects of a projected volume with the same key) holds the
    // later one's file, as the kubelet's projection keeps the last.
    let files: BTreeMap<&str, &File> = files.iter().map(|f| (f.path.as_str(), f)).collect();
    if let Some(old) = current(dir) {
        let wanted: BTreeMap<String, Vec<u8>> = files
            .values()
            .map(|f| (f.path.clone(), f.bytes.clone()))
            .collect();
        if contents(&old)? == wanted {
            return Ok(false);
        }
    }
    let files: Vec<&File> = files.into_values().collect();
    for f in &files {
        if !is_clean_relative(&f.path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "file path {:?} must be relative and must not contain '..'",
                    f.path
                ),
            ));
        }
    }
    std::fs::create_dir_all(dir)?;
    let name = free_name(dir, stamp);
    let version = dir.join(&name);
    std::fs::create_dir(&version)?;
    std::fs::set_permissions(&version, std::fs::Permissions::from_mode(0o755))?;
    for f in &files {
        let target = version.join(&f.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(f.mode)
            .open(&target)
            .and_then(|mut file| io::Write::write_all(&mut file, &f.bytes))?;
        // open(2)'s mode is filtered by the umask; the volume must show the mode asked for.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(f.mode))?;
        if f.owner.is_some() {
            std::os::unix::fs::chown(&target, f.owner, None)?;
        }
    }
    // The swap: a new link renamed over the old one (rename(2): "If newpath already exists,
    // it will be atomically replaced").
    let tmp = dir.join(DATA_TMP);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(&name, &tmp)?;
    std::fs::rename(&tmp, dir.join(DATA))?;
    // The names users see: each top-level name of the new version, through `..data`; names
    // only the old version had go.
    let wanted: std::collections::BTreeSet<String> =
        files.iter().filter_map(|f| top(&f.path)).collect();
    for name in &wanted {
        let link = dir.join(name);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new(DATA).join(name), &link)?;
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if entry_name.starts_with("..") {
            // Earlier versions, including one a writer killed midway left behind.
            if entry_name != DATA && entry_name != name && entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(&path)?;
            }
        } else if !wanted.contains(&entry_name) && entry.file_type()?.is_symlink() {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(true)
}

/// A version's files by path, with their contents.
fn contents(version: &Path) -> io::Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(version.join(&rel))? {
            let entry = entry?;
            let path = rel.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                let bytes = std::fs::read(entry.path())?;
                out.insert(path.to_string_lossy().into_owned(), bytes);
            }
        }
    }
    Ok(out)
}

/// `..STAMP`, or with a counter after it when a version of that name exists already.
fn free_name(dir: &Path, stamp: &str) -> String {
    let mut name = format!("..{stamp}");
    let mut n = 1;
    while std::fs::symlink_metadata(dir.join(&name)).is_ok() {
        name = format!("..{stamp}-{n}");
        n += 1;
    }
    name
}

/// The first component of a relative path.
fn top(path: &str) -> Option<String> {
    match Path::new(path).components().next()? {
        Component::Normal(c) => Some(c.to_string_lossy().into_owned()),
        _ => None,
    }
}

/// A path that stays under the directory it is relative to.
pub(crate) fn is_clean_relative(p: &str) -> bool {
    !p.is_empty()
        && Path::new(p)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, bytes: &str) -> File {
        File {
            path: path.into(),
            mode: 0o644,
            owner: None,
            bytes: bytes.as_bytes().to_vec(),
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_new_version_replaces_the_old_through_data_and_leaves_nothing_of_it() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("vol");
        let v1 = [file("a", "1"), file("conf/b", "2"), file("gone", "3")];
        assert!(write(&dir, &v1, "t1").expect("write"));
        assert_eq!(names(&dir), ["..data", "..t1", "a", "conf", "gone"]);
        assert_eq!(
            std::fs::read_link(dir.join("a")).expect("link"),
            Path::new("..data/a")
        );
        assert_eq!(std::fs::read_to_string(dir.join("conf/b")).expect("b"), "2");
        // The same contents again: nothing is written.
        assert!(!write(&dir, &v1, "t2").expect("write"));
        assert_eq!(current(&dir), Some(dir.join("..t1")));
        // A version a writer killed midway left behind is swept with the old one.
        std::fs::create_dir(dir.join("..t0")).expect("leftover");
        let v2 = [file("a", "10"), file("conf/b", "2"), file("new", "4")];
        assert!(write(&dir, &v2, "t3").expect("write"));
        assert_eq!(names(&dir), ["..data", "..t3", "a", "conf", "new"]);
        assert_eq!(std::fs::read_to_string(dir.join("a")).expect("a"), "10");
        assert_eq!(std::fs::read_to_string(dir.join("new")).expect("new"), "4");
        // A path given twice holds the later file.
        assert!(write(&dir, &[file("d", "1"), file("d", "2")], "t5").expect("write"));
        assert_eq!(std::fs::read_to_string(dir.join("d")).expect("d"), "2");
        // An escaping path is refused before anything is written.
        let bad = [file("../x", "1")];
        assert!(write(&dir, &bad, "t4").is_err());
        assert_eq!(current(&dir), Some(dir.join("..t5")));
    }
}
