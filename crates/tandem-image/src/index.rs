//! `images.json`, the name→image index, and the store lock.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::content::read_limited;
use crate::digest::Digest;
use crate::error::{Error, Result};

const INDEX_SCHEMA_VERSION: u32 = 1;
const MAX_INDEX: u64 = 64 << 20;

/// One named image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IndexEntry {
    /// Digest of the (platform-specific) image manifest.
    pub manifest: Digest,
    /// Digest of the image config: the image id.
    pub config: Digest,
    /// Manifest + config + layer blob bytes.
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Digest of the multi-platform index the image was pulled through, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<Digest>,
}

/// The whole of `images.json`: normalised reference → image.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct IndexFile {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    pub images: BTreeMap<String, IndexEntry>,
}

/// Reads the index; a missing file is an empty index.
pub(crate) fn read(path: &Path) -> Result<IndexFile> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(IndexFile {
                schema_version: INDEX_SCHEMA_VERSION,
                images: BTreeMap::new(),
            })
        }
        Err(e) => return Err(Error::io("open", path, e)),
    };
    let bytes = read_limited(file, MAX_INDEX).map_err(|e| Error::io("read", path, e))?;
    let index: IndexFile = serde_json::from_slice(&bytes).map_err(|e| Error::CorruptIndex {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    if index.schema_version != INDEX_SCHEMA_VERSION {
        return Err(Error::CorruptIndex {
            path: path.to_path_buf(),
            reason: format!(
                "schema version {} is not {INDEX_SCHEMA_VERSION} (written by another tandem version?)",
                index.schema_version
            ),
        });
    }
    Ok(index)
}

/// Writes the index atomically: a temp file in `ingest_dir`, fsynced, renamed over `path`.
pub(crate) fn write(path: &Path, ingest_dir: &Path, index: &IndexFile) -> Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix("images-")
        .suffix(".json")
        .tempfile_in(ingest_dir)
        .map_err(|e| Error::io("create a temp file in", ingest_dir, e))?;
    let bytes = serde_json::to_vec_pretty(index).map_err(|e| Error::CorruptIndex {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    tmp.write_all(&bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
    tmp.persist(path)
        .map_err(|e| Error::io("rename the image index into", path, e.error))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io("sync", dir, e))?;
    }
    Ok(())
}

/// An exclusive `flock` on the store's lock file, released on drop.
pub(crate) struct StoreLock {
    _lock: Flock<File>,
}

fn open_lock_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io("open the lock file", path, e))
}

/// Blocks until the store lock is held.
pub(crate) fn lock(path: &Path) -> Result<StoreLock> {
    let mut file = open_lock_file(path)?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusive) {
            Ok(lock) => return Ok(StoreLock { _lock: lock }),
            Err((f, Errno::EINTR)) => file = f,
            Err((_, errno)) => return Err(Error::io("lock", path, errno.into())),
        }
    }
}

/// Takes the store lock if nobody holds it.
pub(crate) fn try_lock(path: &Path) -> Result<Option<StoreLock>> {
    let file = open_lock_file(path)?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(StoreLock { _lock: lock })),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, errno)) => Err(Error::io("lock", path, errno.into())),
    }
}
