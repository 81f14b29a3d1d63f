//! The content store: blobs addressed by digest under `blobs/sha256/<hex>`.
//!
//! Every blob is first written into `ingest/` while being hashed ([`Staged`]); only a fully
//! written, fsynced file whose digest is known is ever linked into `blobs/`, by an atomic
//! rename. Staged files are temp files: they vanish when dropped, so failures leave nothing
//! behind.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use tempfile::TempPath;

use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};

/// Largest JSON document (manifest, config, index) the store will read into memory.
pub(crate) const MAX_JSON: u64 = 16 << 20;

/// A fully written file in `ingest/` with a known digest.
pub(crate) struct Staged {
    pub(crate) path: TempPath,
    pub(crate) digest: Digest,
    pub(crate) size: u64,
}

impl Staged {
    pub(crate) fn open(&self) -> Result<File> {
        File::open(&self.path)
            .map_err(|e| Error::io("open staged file", self.path.to_path_buf(), e))
    }

    /// The DiffID: the digest of the uncompressed tar. For an uncompressed blob that is its own
    /// digest; gzip and zstd are decompressed and hashed. (Always `Some`.)
    pub(crate) fn diff_id(&self) -> io::Result<Option<Digest>> {
        let mut r = BufReader::new(File::open(&self.path)?);
        match Compression::sniff(&mut r)? {
            Compression::None => Ok(Some(self.digest.clone())),
            Compression::Gzip => {
                let mut h = HashingReader::new(MultiGzDecoder::new(r));
                h.drain()?;
                Ok(Some(h.digest()))
            }
            Compression::Zstd => {
                let mut h = HashingReader::new(ZstdReader::new(r));
                h.drain()?;
                Ok(Some(h.digest()))
            }
        }
    }

    /// Reads the whole file, refusing files above [`MAX_JSON`].
    pub(crate) fn read_small(&self) -> io::Result<Vec<u8>> {
        read_limited(File::open(&self.path)?, MAX_JSON)
    }
}

pub(crate) fn read_limited(r: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("document is larger than {limit} bytes"),
        ));
    }
    Ok(buf)
}

/// How a layer stream is compressed, from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub(crate) fn detect(magic: &[u8]) -> Self {
        if magic.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
            || (magic.len() >= 4
                && ZSTD_SKIPPABLE.contains(&u32::from_le_bytes([
                    magic[0], magic[1], magic[2], magic[3],
                ])))
        {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Peeks at the start of a buffered reader without consuming it.
    pub(crate) fn sniff<R: Read>(r: &mut BufReader<R>) -> io::Result<Self> {
        Ok(Self::detect(r.fill_buf()?))
    }
}

const ZSTD_SKIPPABLE: std::ops::RangeInclusive<u32> = 0x184D_2A50..=0x184D_2A5F;

/// Decompresses a zstd stream of any number of frames (skippable frames, as zstd:chunked layers
/// carry, are skipped).
pub(crate) struct ZstdReader<R: Read> {
    state: ZstdState<R>,
}

enum ZstdState<R: Read> {
    Between(BufReader<R>),
    InFrame(Box<ruzstd::decoding::StreamingDecoder<BufReader<R>, ruzstd::decoding::FrameDecoder>>),
    Poisoned,
}

impl<R: Read> ZstdReader<R> {
    pub(crate) fn new(r: R) -> Self {
        ZstdReader {
            state: ZstdState::Between(BufReader::new(r)),
        }
    }

    /// The underlying reader (between frames or at the end).
    pub(crate) fn into_inner(self) -> Option<R> {
        match self.state {
            ZstdState::Between(r) => Some(r.into_inner()),
            ZstdState::InFrame(d) => Some(d.into_inner().into_inner()),
            ZstdState::Poisoned => None,
        }
    }
}

impl<R: Read> Read for ZstdReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.state, ZstdState::Poisoned) {
                ZstdState::Poisoned => return Err(io::Error::other("zstd stream already failed")),
                ZstdState::InFrame(mut d) => {
                    let n = d.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        self.state = ZstdState::InFrame(d);
                        return Ok(n);
                    }
                    let (r, _) = d.into_parts();
                    self.state = ZstdState::Between(r);
                }
                ZstdState::Between(mut r) => {
                    let head = r.fill_buf()?;
                    if head.is_empty() {
                        self.state = ZstdState::Between(r);
                        return Ok(0);
                    }
                    let mut magic = [0u8; 4];
                    let have = head.len().min(4);
                    magic[..have].copy_from_slice(&head[..have]);
                    if have == 4 && ZSTD_SKIPPABLE.contains(&u32::from_le_bytes(magic)) {
                        let mut header = [0u8; 8];
                        r.read_exact(&mut header)?;
                        let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
                        let skipped =
                            io::copy(&mut (&mut r).take(u64::from(len)), &mut io::sink())?;
                        if skipped != u64::from(len) {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "truncated zstd skippable frame",
                            ));
                        }
                        self.state = ZstdState::Between(r);
                        continue;
                    }
                    let d = ruzstd::decoding::StreamingDecoder::new(r)
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                    self.state = ZstdState::InFrame(Box::new(d));
                }
            }
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ContentStore {
    blobs: PathBuf,
    ingest: PathBuf,
}

impl ContentStore {
    pub(crate) fn new(blobs: PathBuf, ingest: PathBuf) -> Self {
        ContentStore { blobs, ingest }
    }

    pub(crate) fn ingest_dir(&self) -> &Path {
        &self.ingest
    }

    pub(crate) fn blobs_dir(&self) -> &Path {
        &self.blobs
    }

    pub(crate) fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.blobs.join(digest.hex())
    }

    /// Copies `r` into a new file in `ingest/`, hashing it on the way. `what` names the source
    /// in errors.
    pub(crate) fn stage(&self, r: impl Read, what: &Path) -> Result<Staged> {
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&self.ingest)
            .map_err(|e| Error::io("create a temp file in", &self.ingest, e))?;
        let mut reader = HashingReader::new(r);
        let mut out = io::BufWriter::new(tmp.as_file());
        io::copy(&mut reader, &mut out).map_err(|e| Error::io("copy", what, e))?;
        out.flush()
            .map_err(|e| Error::io("write", tmp.path().to_path_buf(), e))?;
        drop(out);
        let file = tmp.as_file();
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("sync", tmp.path().to_path_buf(), e))?;
        Ok(Staged {
            path: tmp.into_temp_path(),
            digest: reader.digest(),
            size: reader.count(),
        })
    }

    /// Stages `bytes` and commits them, returning digest and size.
    pub(crate) fn write_bytes(&self, bytes: &[u8], what: &Path) -> Result<(Digest, u64)> {
        let staged = self.stage(bytes, what)?;
        self.commit(&staged)?;
        Ok((staged.digest.clone(), staged.size))
    }

    /// Makes a staged file visible as `blobs/sha256/<hex>`: it is hard-linked under a fresh temp
    /// name and renamed over the destination, so the blob appears atomically and a corrupt
    /// existing copy is replaced. The staged file itself stays (it may be committed again).
    pub(crate) fn commit(&self, staged: &Staged) -> Result<()> {
        let dest = self.blob_path(&staged.digest);
        let link = tempfile::Builder::new()
            .prefix("link-")
            .tempfile_in(&self.ingest)
            .map_err(|e| Error::io("create a temp file in", &self.ingest, e))?
            .into_temp_path();
        fs::remove_file(&link)
            .and_then(|()| fs::hard_link(&staged.path, &link))
            .map_err(|e| Error::io("link staged blob to", link.to_path_buf(), e))?;
        link.persist(&dest)
            .map_err(|e| Error::io("rename blob into", dest.clone(), e.error))?;
        Ok(())
    }

    /// Reads a small blob (manifest, config) and checks that it hashes to its digest.
    pub(crate) fn read_verified(&self, digest: &Digest, image: &str) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::MissingBlob {
                    image: image.to_string(),
                    digest: digest.to_string(),
                })
            }
            Err(e) => return Err(Error::io("open blob", path, e)),
        };
        let bytes = read_limited(file, MAX_JSON).map_err(|e| Error::io("read blob", &path, e))?;
        let actual = Digest::of_bytes(&bytes);
        if &actual != digest {
            return Err(Error::BlobDigestMismatch {
                location: path.display().to_string(),
                expected: digest.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }
}
