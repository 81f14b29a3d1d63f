//! `tandem cp POD:SRC DEST` and `tandem cp SRC POD:DEST` (kubectl cp): a tar stream through
//! exec, the container's own `tar` at the other end, as kubectl does it.
//!
//! What comes out of a container is untrusted: an archive can name `../..`, an absolute path, or
//! hold a symlink to `/etc` followed by a file "inside" it (CVE-2018-1002100, CVE-2019-1002101
//! for kubectl). Here every entry is placed under DEST by its own path, no path component on
//! this side is ever followed if it is a symlink (files are opened with `O_NOFOLLOW`, directories
//! checked with `lstat`), symlinks are made only when their target stays inside DEST, and hard
//! links, devices and FIFOs are skipped, each with a warning.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use tandem_supervisor::proto::ExecRequest;
use tandem_supervisor::statedir::Store;

use super::control::Connection;
use super::exec::{ended, ensure_running, start_piped};
use super::{choose_container, existing_pod, read_pod};
use crate::cli::CpArgs;
use crate::errors::hint;

const USAGE: &str = "write `tandem cp POD:/path/in/container local/path` or `tandem cp local/path POD:/path/in/container`";

pub fn cp(store: &Store, a: CpArgs) -> anyhow::Result<i32> {
    let (from, to) = (remote(&a.source), remote(&a.destination));
    let (pod, remote_path, local, outward) = match (from, to) {
        (Some((pod, path)), None) => (pod, path, PathBuf::from(&a.destination), true),
        (None, Some((pod, path))) => (pod, path, PathBuf::from(&a.source), false),
        (Some(_), Some(_)) => {
            return Err(hint("one side of cp must be a local path", USAGE));
        }
        (None, None) => return Err(hint("one side of cp must be POD:PATH", USAGE)),
    };
    if remote_path.is_empty() {
        return Err(hint(
            format!("no path in the pod given after \"{pod}:\""),
            USAGE,
        ));
    }
    let dir = existing_pod(store, &a.namespace, &pod)?;
    let manifest = read_pod(&dir)?;
    let (container, note) = choose_container(&manifest, a.container.as_deref())?;
    if let Some(note) = note {
        eprintln!("{note}");
    }
    ensure_running(&dir, &manifest, &pod, &container)?;
    let mut conn = Connection::open(&dir, &pod)?;
    if outward {
        copy_out(&mut conn, &container, &remote_path, &local)
    } else {
        copy_in(&mut conn, &container, &local, &remote_path)
    }
}

/// `POD:PATH` (a `:` before any `/`; `NAMESPACE/POD:PATH` is not taken, as `-n` names it).
fn remote(arg: &str) -> Option<(String, String)> {
    let (pod, path) = arg.split_once(':')?;
    (!pod.is_empty() && !pod.contains('/')).then(|| (pod.to_string(), path.to_string()))
}

/// The directory and last component of a path in the container (`/var/log` → `/var`, `log`).
fn split_remote(path: &str) -> anyhow::Result<(String, String)> {
    let trimmed = path.trim_end_matches('/');
    let (parent, base) = match trimmed.rsplit_once('/') {
        Some(("", base)) => ("/".to_string(), base),
        Some((parent, base)) => (parent.to_string(), base),
        None => (".".to_string(), trimmed),
    };
    if base.is_empty() || base == "." || base == ".." {
        return Err(hint(
            format!("{path:?} names no file or directory to copy"),
            USAGE,
        ));
    }
    Ok((parent, base.to_string()))
}

fn copy_out(conn: &mut Connection, container: &str, src: &str, dest: &Path) -> anyhow::Result<i32> {
    let (parent, base) = split_remote(src)?;
    let request = ExecRequest {
        container: container.to_string(),
        command: vec![
            "tar".into(),
            "cf".into(),
            "-".into(),
            "-C".into(),
            parent,
            base.clone(),
        ],
        stdin: false,
        tty: false,
        size: None,
    };
    let piped = start_piped(conn, &request)?;
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = (&piped.stderr).read_to_string(&mut text);
        text
    });
    // Into an existing directory, the copy lands in it under its own name, as cp(1) puts it.
    let dest = if dest.is_dir() {
        dest.join(&base)
    } else {
        dest.to_path_buf()
    };
    let extracted = extract(piped.stdout, &base, &dest);
    let outcome = ended(conn)?;
    let errors = errors.join().unwrap_or_default();
    if outcome.exit_code != Some(0) {
        return Err(hint(
            format!(
                "cannot copy {src} out of container {container}: {}",
                errors.trim()
            ),
            "check the path with `tandem exec POD -- ls -l PATH`; the container needs tar",
        ));
    }
    extracted?;
    Ok(0)
}

/// Unpacks a tar stream whose entries are `base` and `base/...` into `dest` (`base` becomes
/// `dest`), warning of what it skips as it goes.
fn extract(stream: impl Read, base: &str, dest: &Path) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(stream);
    let warn = |w: String| eprintln!("warning: {w}");
    for entry in archive
        .entries()
        .context("cannot read the archive from the container")?
    {
        let mut entry = entry.context("cannot read the archive from the container")?;
        let path = entry
            .path()
            .context("an entry with an unreadable name")?
            .into_owned();
        let kind = entry.header().entry_type();
        let Some(rest) = inside(&path, base) else {
            warn(format!("skipping {path:?}: it is not under {base:?}"));
            continue;
        };
        // The top entry is the copy itself (`join("")` would add a trailing slash).
        let target = if rest.as_os_str().is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(&rest)
        };
        if let Some(parent) = target.parent() {
            make_dirs(dest, parent)?;
        }
        if kind.is_dir() {
            make_dirs(dest, &target)?;
            let mode = entry.header().mode().unwrap_or(0o755) & 0o777;
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode));
        } else if kind.is_file() {
            refuse_symlink(&target)?;
            let mode = entry.header().mode().unwrap_or(0o644) & 0o777;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(mode)
                .custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
                .open(&target)
                .with_context(|| format!("cannot write {}", target.display()))?;
            std::io::copy(&mut entry, &mut file)
                .with_context(|| format!("cannot write {}", target.display()))?;
            file.flush()?;
        } else if kind.is_symlink() {
            let Some(link) = entry.link_name().ok().flatten().map(|l| l.into_owned()) else {
                continue;
            };
            if !stays_inside(&rest, &link) {
                warn(format!(
                    "skipping symlink: {:?} -> {:?} (it points outside {})",
                    path,
                    link,
                    dest.display()
                ));
                continue;
            }
            refuse_symlink(&target)?;
            let _ = std::fs::remove_file(&target);
            std::os::unix::fs::symlink(&link, &target)
                .with_context(|| format!("cannot make the symlink {}", target.display()))?;
        } else {
            warn(format!(
                "skipping {path:?}: a {} is not copied",
                match kind {
                    tar::EntryType::Link => "hard link",
                    tar::EntryType::Char | tar::EntryType::Block => "device",
                    tar::EntryType::Fifo => "FIFO",
                    _ => "special file",
                }
            ));
        }
    }
    Ok(())
}

/// The part of an archive path below `base`, if it is there and climbs nowhere.
fn inside(path: &Path, base: &str) -> Option<PathBuf> {
    let mut parts = path.components().filter(|c| *c != Component::CurDir);
    if parts.next()? != Component::Normal(base.as_ref()) {
        return None;
    }
    let mut rest = PathBuf::new();
    for c in parts {
        match c {
            Component::Normal(n) => rest.push(n),
            _ => return None,
        }
    }
    Some(rest)
}

/// Whether a symlink at `at` (relative to the copy's root) with target `link` resolves inside
/// the copy: not absolute, not climbing above the root, and with its `..` only in front — after
/// a name, `..` would climb from wherever that name leads, which another symlink of the archive
/// may have made the root itself (`d -> .`, then `../../d/..`).
fn stays_inside(at: &Path, link: &Path) -> bool {
    if link.is_absolute() {
        return false;
    }
    let mut depth: i64 = at.components().count() as i64 - 1;
    let mut named = false;
    for c in link.components() {
        match c {
            Component::ParentDir if named => return false,
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => {
                named = true;
                depth += 1;
            }
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Fails if `path` exists as a symlink: nothing is written through one.
fn refuse_symlink(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(hint(
            format!(
                "{} is a symlink; tandem cp does not write through one",
                path.display()
            ),
            "remove it, or copy to another path",
        )),
        _ => Ok(()),
    }
}

/// Makes `dir` and its missing parents down from `root`, refusing to go through a symlink.
fn make_dirs(root: &Path, dir: &Path) -> anyhow::Result<()> {
    let mut at = PathBuf::new();
    for c in dir.components() {
        at.push(c);
        if !at.starts_with(root) && root.starts_with(&at) {
            // An ancestor of the destination itself: the user's own path, taken as it is.
            continue;
        }
        match std::fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() && at != root => {
                return Err(hint(
                    format!(
                        "{} is a symlink; tandem cp does not write through one",
                        at.display()
                    ),
                    "remove it, or copy to another path",
                ))
            }
            Ok(m) if m.is_dir() || m.file_type().is_symlink() => {}
            Ok(_) => {
                return Err(hint(
                    format!("{} exists and is not a directory", at.display()),
                    "remove it, or copy to another path",
                ))
            }
            Err(_) => std::fs::create_dir(&at)
                .with_context(|| format!("cannot make the directory {}", at.display()))?,
        }
    }
    Ok(())
}

fn copy_in(conn: &mut Connection, container: &str, src: &Path, dest: &str) -> anyhow::Result<i32> {
    let meta =
        std::fs::symlink_metadata(src).with_context(|| format!("cannot copy {}", src.display()))?;
    let name = if dest.ends_with('/') {
        src.file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| {
                hint(
                    format!("{} has no name to copy under", src.display()),
                    USAGE,
                )
            })?
    } else {
        split_remote(dest)?.1
    };
    let parent = if dest.ends_with('/') {
        dest.trim_end_matches('/').to_string()
    } else {
        split_remote(dest)?.0
    };
    let parent = if parent.is_empty() {
        "/".to_string()
    } else {
        parent
    };
    let request = ExecRequest {
        container: container.to_string(),
        command: vec!["tar".into(), "xmf".into(), "-".into(), "-C".into(), parent],
        stdin: true,
        tty: false,
        size: None,
    };
    let piped = start_piped(conn, &request)?;
    let stdin = piped.stdin.context("the command got no stdin")?;
    let src = src.to_path_buf();
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut builder = tar::Builder::new(stdin);
        // Links here are copied as links, never followed out of what was named.
        builder.follow_symlinks(false);
        if meta.is_dir() {
            builder.append_dir_all(&name, &src)?;
        } else {
            builder.append_path_with_name(&src, &name)?;
        }
        builder.into_inner()?.flush()
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = (&piped.stderr).read_to_string(&mut text);
        let _ = std::io::copy(&mut &piped.stdout, &mut std::io::sink());
        text
    });
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("panicked")));
    let outcome = ended(conn)?;
    let errors = errors.join().unwrap_or_default();
    if outcome.exit_code != Some(0) {
        return Err(hint(
            format!("cannot copy into container {container}: {}", errors.trim()),
            "check that the directory exists there: `tandem exec POD -- ls -ld DIR`; the container needs tar",
        ));
    }
    written.context("cannot send the files")?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_the_archive_stay_under_the_copy() {
        assert_eq!(
            inside(Path::new("log/a/b"), "log"),
            Some(PathBuf::from("a/b"))
        );
        assert_eq!(inside(Path::new("./log"), "log"), Some(PathBuf::new()));
        assert_eq!(inside(Path::new("log/../etc"), "log"), None);
        assert_eq!(inside(Path::new("/etc/passwd"), "log"), None);
        assert_eq!(inside(Path::new("other/x"), "log"), None);
        assert!(stays_inside(Path::new("a/link"), Path::new("../b")));
        assert!(!stays_inside(Path::new("a/link"), Path::new("../../b")));
        assert!(!stays_inside(Path::new("link"), Path::new("/etc")));
        assert!(stays_inside(Path::new("link"), Path::new("sub/file")));
        assert!(!stays_inside(Path::new("x/y/l"), Path::new("../../d/..")));
        assert_eq!(
            remote("web:/var/log"),
            Some(("web".into(), "/var/log".into()))
        );
        assert_eq!(remote("./a:b"), None);
        assert_eq!(remote("/tmp/x"), None);
        assert_eq!(
            split_remote("/var/log/").expect("split"),
            ("/var".into(), "log".into())
        );
        assert_eq!(
            split_remote("/hosts").expect("split"),
            ("/".into(), "hosts".into())
        );
        assert!(split_remote("/").is_err());
    }
}
