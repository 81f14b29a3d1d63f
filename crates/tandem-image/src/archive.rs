//! Loading image archives (`docker save` tarballs, OCI image layouts as tarball or directory)
//! and importing plain rootfs tarballs into the content store.
//!
//! A tarball is read once: every regular file in it is staged into `ingest/` while being hashed,
//! so the archive's own order does not matter. Everything is verified before anything is
//! committed to `blobs/`: OCI blobs must hash to the digest in their path and descriptor, and every
//! layer's uncompressed content must hash to its DiffID in the image config.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use serde::de::DeserializeOwned;
use time::format_description::well_known::Rfc3339;

use crate::content::{Compression, ContentStore, Staged};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::spec::{
    self, ConfigBlob, Descriptor, DockerManifestEntry, ImageConfig, Index, Manifest,
};

/// An image written to the content store, with the names it should get.
#[derive(Debug)]
pub(crate) struct Imported {
    pub names: Vec<Reference>,
    pub manifest: Digest,
    pub config: Digest,
    /// Manifest + config + layer blob bytes.
    pub size: u64,
    pub created: Option<String>,
}

/// Loads every image of a `docker save` archive or OCI image layout.
pub(crate) fn load(content: &ContentStore, path: &Path) -> Result<Vec<Imported>> {
    let mut src = Source::open(content, path)?;
    if src.exists("manifest.json") {
        docker_save(content, &mut src)
    } else if src.exists("index.json") && src.exists("oci-layout") {
        oci_layout(content, &mut src)
    } else {
        Err(Error::UnknownArchiveFormat {
            path: path.to_path_buf(),
        })
    }
}

/// Imports a plain (optionally gzip) rootfs tarball as a one-layer image.
pub(crate) fn import_rootfs(
    content: &ContentStore,
    path: &Path,
    name: Reference,
    config: &ImageConfig,
) -> Result<Imported> {
    let file = open_archive(path)?;
    let staged = content.stage(file, path)?;
    let malformed = |reason: String| Error::MalformedArchive {
        archive: path.to_path_buf(),
        entry: "(tar stream)".to_string(),
        reason,
    };
    let mut reader = BufReader::new(staged.open()?);
    let compression =
        Compression::sniff(&mut reader).map_err(|e| Error::io("read", path.to_path_buf(), e))?;
    let (diff_id, media_type) = match compression {
        Compression::Zstd => {
            return Err(Error::UnsupportedMediaType {
                what: format!("rootfs tarball {}", path.display()),
                media_type: "zstd-compressed tar".to_string(),
            })
        }
        Compression::None => (
            validated_tar_digest(reader).map_err(|e| malformed(e.to_string()))?,
            spec::MEDIA_OCI_LAYER,
        ),
        Compression::Gzip => (
            validated_tar_digest(MultiGzDecoder::new(reader))
                .map_err(|e| malformed(e.to_string()))?,
            spec::MEDIA_OCI_LAYER_GZIP,
        ),
    };
    let created = time::OffsetDateTime::now_utc().format(&Rfc3339).ok();
    let config_json = serde_json::json!({
        "architecture": spec::host_arch(),
        "os": "linux",
        "created": created,
        "config": config.to_runtime_json(),
        "rootfs": { "type": "layers", "diff_ids": [diff_id.to_string()] },
        "history": [{ "created": created, "created_by": "tandem import" }],
    });
    let config_bytes = to_json(&config_json);
    let (config_digest, config_size) = content.write_bytes(&config_bytes, path)?;
    content.commit(&staged)?;
    let manifest = manifest_json(
        (&config_digest, config_size),
        &[(media_type, &staged.digest, staged.size)],
    );
    let (manifest_digest, manifest_size) = content.write_bytes(&manifest, path)?;
    Ok(Imported {
        names: vec![name],
        manifest: manifest_digest,
        config: config_digest,
        size: manifest_size + config_size + staged.size,
        created,
    })
}

/// Walks every header of a tar stream (so a non-tar is refused) and returns the digest of the
/// whole stream.
fn validated_tar_digest(r: impl Read) -> io::Result<Digest> {
    let mut hashing = HashingReader::new(r);
    {
        let mut archive = tar::Archive::new(&mut hashing);
        for entry in archive.entries()? {
            entry?;
        }
    }
    hashing.drain()?;
    Ok(hashing.digest())
}

fn open_archive(path: &Path) -> Result<File> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(Error::MalformedArchive {
                archive: path.to_path_buf(),
                entry: "(file)".to_string(),
                reason: "it is a directory, not a tar file".to_string(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::ArchiveNotFound {
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(Error::io("inspect", path, e)),
    }
    File::open(path).map_err(|e| Error::io("open", path, e))
}

fn to_json(v: &serde_json::Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail (all keys are strings).
    serde_json::to_vec(v).unwrap_or_default()
}

/// An OCI image manifest for a config and layers `(media type, digest, size)`. serde_json's
/// maps are sorted, so the same inputs always give the same bytes (and digest).
fn manifest_json(config: (&Digest, u64), layers: &[(&str, &Digest, u64)]) -> Vec<u8> {
    let layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|(media_type, digest, size)| {
            serde_json::json!({ "mediaType": media_type, "digest": digest.to_string(), "size": size })
        })
        .collect();
    to_json(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": spec::MEDIA_OCI_MANIFEST,
        "config": {
            "mediaType": spec::MEDIA_OCI_CONFIG,
            "digest": config.0.to_string(),
            "size": config.1,
        },
        "layers": layers,
    }))
}

/// The files of an archive, staged (tarball) or staged on demand (directory).
struct Source<'a> {
    content: &'a ContentStore,
    origin: PathBuf,
    dir: Option<PathBuf>,
    staged: HashMap<String, Rc<Staged>>,
    /// Symlinks and hardlinks of a tarball, with targets relative to the archive root.
    links: HashMap<String, String>,
}

impl<'a> Source<'a> {
    fn open(content: &'a ContentStore, path: &Path) -> Result<Self> {
        let mut src = Source {
            content,
            origin: path.to_path_buf(),
            dir: None,
            staged: HashMap::new(),
            links: HashMap::new(),
        };
        match fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                src.dir = Some(path.to_path_buf());
                return Ok(src);
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::ArchiveNotFound {
                    path: path.to_path_buf(),
                })
            }
            Err(e) => return Err(Error::io("inspect", path, e)),
        }
        let mut reader = BufReader::new(open_archive(path)?);
        let compression =
            Compression::sniff(&mut reader).map_err(|e| Error::io("read", path, e))?;
        match compression {
            Compression::None => src.stage_tar(reader)?,
            Compression::Gzip => src.stage_tar(MultiGzDecoder::new(reader))?,
            Compression::Zstd => {
                return Err(Error::UnsupportedMediaType {
                    what: format!("archive {}", path.display()),
                    media_type: "zstd-compressed tar".to_string(),
                })
            }
        }
        Ok(src)
    }

    fn malformed(&self, entry: &str, reason: impl std::fmt::Display) -> Error {
        Error::MalformedArchive {
            archive: self.origin.clone(),
            entry: entry.to_string(),
            reason: reason.to_string(),
        }
    }

    fn stage_tar(&mut self, reader: impl Read) -> Result<()> {
        let mut archive = tar::Archive::new(reader);
        let entries = archive
            .entries()
            .map_err(|e| self.malformed("(tar stream)", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| self.malformed("(tar header)", e))?;
            let raw = entry.path_bytes().into_owned();
            let shown = String::from_utf8_lossy(&raw).into_owned();
            let Some(path) = std::str::from_utf8(&raw).ok().and_then(archive_path) else {
                return Err(self.malformed(&shown, "its path is not UTF-8 or leaves the archive"));
            };
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let staged = self.content.stage(&mut entry, &self.origin)?;
                    self.links.remove(&path);
                    self.staged.insert(path, Rc::new(staged));
                }
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    let link = entry
                        .link_name_bytes()
                        .map(|l| String::from_utf8_lossy(&l).into_owned())
                        .unwrap_or_default();
                    let target = if kind == tar::EntryType::Symlink {
                        let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                        join_lexical(parent, &link)
                    } else {
                        archive_path(&link)
                    };
                    let target = target.ok_or_else(|| {
                        self.malformed(
                            &shown,
                            format!("its link target {link:?} leaves the archive"),
                        )
                    })?;
                    self.staged.remove(&path);
                    self.links.insert(path, target);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Follows tarball links to a staged file's key.
    fn resolve(&self, path: &str) -> Option<String> {
        let mut current = path.to_string();
        for _ in 0..40 {
            if self.staged.contains_key(&current) {
                return Some(current);
            }
            current = self.links.get(&current)?.clone();
        }
        None
    }

    fn exists(&self, path: &str) -> bool {
        match &self.dir {
            Some(dir) => dir.join(path).is_file(),
            None => self.resolve(path).is_some(),
        }
    }

    /// The staged file at `path` (relative to the archive root).
    fn get(&mut self, path: &str) -> Result<Rc<Staged>> {
        let missing = || Error::MissingEntry {
            archive: self.origin.clone(),
            entry: path.to_string(),
        };
        let Some(key) = archive_path(path) else {
            return Err(self.malformed(path, "a path in the archive's metadata leaves the archive"));
        };
        if let Some(dir) = &self.dir {
            if let Some(staged) = self.staged.get(&key) {
                return Ok(staged.clone());
            }
            let file_path = dir.join(&key);
            let file = match File::open(&file_path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
                Err(e) => return Err(Error::io("open", file_path, e)),
            };
            let staged = Rc::new(self.content.stage(file, &file_path)?);
            self.staged.insert(key, staged.clone());
            return Ok(staged);
        }
        let key = self.resolve(&key).ok_or_else(missing)?;
        self.staged.get(&key).cloned().ok_or_else(missing)
    }

    fn read_json<T: DeserializeOwned>(&mut self, path: &str) -> Result<(Rc<Staged>, T)> {
        let staged = self.get(path)?;
        let bytes = staged.read_small().map_err(|e| self.malformed(path, e))?;
        let value = serde_json::from_slice(&bytes).map_err(|e| self.malformed(path, e))?;
        Ok((staged, value))
    }

    fn diff_id(&self, staged: &Staged, entry: &str, what: impl Fn() -> String) -> Result<Digest> {
        match staged.diff_id() {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(Error::UnsupportedMediaType {
                what: what(),
                media_type: "zstd-compressed tar".to_string(),
            }),
            Err(e) => Err(self.malformed(entry, e)),
        }
    }
}

/// Normalises a path inside an archive: no leading `/` or `./`, no `..`, not empty.
fn archive_path(p: &str) -> Option<String> {
    let mut parts = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => return None,
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Resolves a symlink target against its directory, refusing to climb above the root.
fn join_lexical(base: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|c| !c.is_empty()).collect()
    };
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// When an archive path names its content (`blobs/sha256/<hex>`, `<hex>.json`), the content
/// must hash to it.
fn check_path_digest(src: &Source<'_>, path: &str, staged: &Staged) -> Result<()> {
    let file_name = path.rsplit('/').next().unwrap_or(path);
    let hex = if path.contains("blobs/sha256/") {
        Some(file_name)
    } else {
        file_name.strip_suffix(".json")
    };
    if let Some(expected) = hex.and_then(Digest::from_hex) {
        if expected != staged.digest {
            return Err(Error::BlobDigestMismatch {
                location: format!("{}: {path}", src.origin.display()),
                expected: expected.to_string(),
                actual: staged.digest.to_string(),
            });
        }
    }
    Ok(())
}

fn docker_save(content: &ContentStore, src: &mut Source<'_>) -> Result<Vec<Imported>> {
    let (_, entries): (_, Vec<DockerManifestEntry>) = src.read_json("manifest.json")?;
    if entries.is_empty() {
        return Err(src.malformed("manifest.json", "it lists no images"));
    }
    // Names first, so an unusable archive is refused before anything is committed.
    let mut all_names = Vec::with_capacity(entries.len());
    for entry in &entries {
        let tags = entry.repo_tags.clone().unwrap_or_default();
        if tags.is_empty() {
            return Err(Error::UnnamedImage {
                archive: src.origin.clone(),
                manifest: entry.config.clone(),
                detail: "its RepoTags are empty".to_string(),
            });
        }
        let names = tags
            .iter()
            .map(|t| Reference::parse(t))
            .collect::<Result<Vec<_>>>()?;
        all_names.push(names);
    }
    let mut out = Vec::with_capacity(entries.len());
    for (entry, names) in entries.iter().zip(all_names) {
        let image = names.first().map(ToString::to_string).unwrap_or_default();
        let (config, config_blob): (_, ConfigBlob) = src.read_json(&entry.config)?;
        check_path_digest(src, &entry.config, &config)?;
        let diff_ids = &config_blob.rootfs.diff_ids;
        if diff_ids.len() != entry.layers.len() {
            return Err(src.malformed(
                &entry.config,
                format!(
                    "it lists {} diff_ids but manifest.json lists {} layers",
                    diff_ids.len(),
                    entry.layers.len()
                ),
            ));
        }
        let mut layers = Vec::with_capacity(diff_ids.len());
        for (layer_path, expected) in entry.layers.iter().zip(diff_ids) {
            let staged = src.get(layer_path)?;
            check_path_digest(src, layer_path, &staged)?;
            let actual = src.diff_id(&staged, layer_path, || {
                format!("layer {layer_path} of image {image}")
            })?;
            if &actual != expected {
                return Err(Error::LayerDigestMismatch {
                    image,
                    layer: format!("{}: {layer_path}", src.origin.display()),
                    expected: expected.to_string(),
                    actual: actual.to_string(),
                });
            }
            let media_type = if actual == staged.digest {
                spec::MEDIA_OCI_LAYER
            } else {
                spec::MEDIA_OCI_LAYER_GZIP
            };
            layers.push((media_type, staged));
        }
        content.commit(&config)?;
        for (_, staged) in &layers {
            content.commit(staged)?;
        }
        let layer_refs: Vec<(&str, &Digest, u64)> = layers
            .iter()
            .map(|(m, s)| (*m, &s.digest, s.size))
            .collect();
        let manifest = manifest_json((&config.digest, config.size), &layer_refs);
        let (manifest_digest, manifest_size) = content.write_bytes(&manifest, &src.origin)?;
        out.push(Imported {
            names,
            manifest: manifest_digest,
            config: config.digest.clone(),
            size: manifest_size + config.size + layers.iter().map(|(_, s)| s.size).sum::<u64>(),
            created: config_blob.created,
        });
    }
    Ok(out)
}

/// The name of an image layout entry: `io.containerd.image.name` if present, else
/// `org.opencontainers.image.ref.name` when it is a full reference (contains `/`, `:` or `@`);
/// a bare tag is not enough to name an image.
fn oci_name(src: &Source<'_>, desc: &Descriptor) -> Result<Reference> {
    if let Some(name) = desc.annotations.get(spec::ANNOTATION_CONTAINERD_NAME) {
        return Reference::parse(name);
    }
    let unnamed = |detail: String| Error::UnnamedImage {
        archive: src.origin.clone(),
        manifest: desc.digest.to_string(),
        detail,
    };
    match desc.annotations.get(spec::ANNOTATION_REF_NAME) {
        Some(r) if r.contains(['/', ':', '@']) => Reference::parse(r),
        Some(r) => Err(unnamed(format!(
            "its {} annotation {r:?} is only a tag",
            spec::ANNOTATION_REF_NAME
        ))),
        None => Err(unnamed("it has no name annotation".to_string())),
    }
}

fn oci_layout(content: &ContentStore, src: &mut Source<'_>) -> Result<Vec<Imported>> {
    let (_, index): (_, Index) = src.read_json("index.json")?;
    if index.manifests.is_empty() {
        return Err(src.malformed("index.json", "it lists no images"));
    }
    let names = index
        .manifests
        .iter()
        .map(|d| oci_name(src, d))
        .collect::<Result<Vec<_>>>()?;
    let mut out: Vec<Imported> = Vec::new();
    for (desc, name) in index.manifests.iter().zip(names) {
        let manifest_desc = select_manifest(src, desc, 0)?;
        if let Some(done) = out.iter_mut().find(|i| i.manifest == manifest_desc.digest) {
            done.names.push(name);
            continue;
        }
        out.push(oci_image(content, src, &manifest_desc, name)?);
    }
    Ok(out)
}

/// A blob of an image layout, checked against its descriptor.
fn oci_blob(src: &mut Source<'_>, desc: &Descriptor) -> Result<Rc<Staged>> {
    let path = format!("blobs/{}/{}", desc.digest.algorithm(), desc.digest.hex());
    let staged = src.get(&path)?;
    if staged.digest != desc.digest {
        return Err(Error::BlobDigestMismatch {
            location: format!("{}: {path}", src.origin.display()),
            expected: desc.digest.to_string(),
            actual: staged.digest.to_string(),
        });
    }
    if staged.size != desc.size {
        return Err(Error::BlobSizeMismatch {
            location: format!("{}: {path}", src.origin.display()),
            expected: desc.size,
            actual: staged.size,
        });
    }
    Ok(staged)
}

fn oci_json<T: DeserializeOwned>(
    src: &mut Source<'_>,
    desc: &Descriptor,
) -> Result<(Rc<Staged>, T)> {
    let staged = oci_blob(src, desc)?;
    let entry = format!("blobs/sha256/{}", desc.digest.hex());
    let bytes = staged.read_small().map_err(|e| src.malformed(&entry, e))?;
    let value = serde_json::from_slice(&bytes).map_err(|e| src.malformed(&entry, e))?;
    Ok((staged, value))
}

/// Follows image indexes down to the manifest for `linux/<host arch>`.
fn select_manifest(src: &mut Source<'_>, desc: &Descriptor, depth: usize) -> Result<Descriptor> {
    let is_index = match desc.media_type.as_str() {
        spec::MEDIA_OCI_MANIFEST | spec::MEDIA_DOCKER_MANIFEST => false,
        spec::MEDIA_OCI_INDEX | spec::MEDIA_DOCKER_LIST => true,
        "" => {
            let (_, v): (_, serde_json::Value) = oci_json(src, desc)?;
            v.get("manifests").is_some()
        }
        other => {
            return Err(Error::UnsupportedMediaType {
                what: format!("manifest {}", desc.digest),
                media_type: other.to_string(),
            })
        }
    };
    if !is_index {
        return Ok(desc.clone());
    }
    let entry = format!("blobs/sha256/{}", desc.digest.hex());
    if depth >= 4 {
        return Err(src.malformed(&entry, "image indexes are nested too deeply"));
    }
    let (_, index): (_, Index) = oci_json(src, desc)?;
    let arch = spec::host_arch();
    let chosen = index.manifests.iter().find(|m| {
        m.platform
            .as_ref()
            .is_some_and(|p| p.os == "linux" && p.architecture == arch)
    });
    match chosen {
        Some(m) => select_manifest(src, &m.clone(), depth + 1),
        None => {
            let available: Vec<String> = index
                .manifests
                .iter()
                .filter_map(|m| m.platform.as_ref().map(ToString::to_string))
                .collect();
            Err(Error::NoMatchingPlatform {
                index: desc.digest.to_string(),
                platform: format!("linux/{arch}"),
                available: if available.is_empty() {
                    "no platforms".to_string()
                } else {
                    available.join(", ")
                },
            })
        }
    }
}

fn oci_image(
    content: &ContentStore,
    src: &mut Source<'_>,
    desc: &Descriptor,
    name: Reference,
) -> Result<Imported> {
    let image = name.to_string();
    let (manifest_staged, manifest): (_, Manifest) = oci_json(src, desc)?;
    if let Some(mt) = &manifest.media_type {
        if mt != spec::MEDIA_OCI_MANIFEST && mt != spec::MEDIA_DOCKER_MANIFEST {
            return Err(Error::UnsupportedMediaType {
                what: format!("manifest {}", desc.digest),
                media_type: mt.clone(),
            });
        }
    }
    let config_type = manifest.config.media_type.as_str();
    if config_type != spec::MEDIA_OCI_CONFIG && config_type != spec::MEDIA_DOCKER_CONFIG {
        return Err(Error::UnsupportedMediaType {
            what: format!("config of image {image} (it is not a container image)"),
            media_type: config_type.to_string(),
        });
    }
    let (config_staged, config): (_, ConfigBlob) = oci_json(src, &manifest.config)?;
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != manifest.layers.len() {
        return Err(src.malformed(
            &format!("blobs/sha256/{}", manifest.config.digest.hex()),
            format!(
                "it lists {} diff_ids but the manifest lists {} layers",
                diff_ids.len(),
                manifest.layers.len()
            ),
        ));
    }
    let mut layers = Vec::with_capacity(diff_ids.len());
    for (layer, expected) in manifest.layers.iter().zip(diff_ids) {
        let what = || format!("layer {} of image {image}", layer.digest);
        if spec::layer_media(&layer.media_type) == spec::LayerMedia::Unsupported {
            return Err(Error::UnsupportedMediaType {
                what: what(),
                media_type: layer.media_type.clone(),
            });
        }
        let staged = oci_blob(src, layer)?;
        let entry = format!("blobs/sha256/{}", layer.digest.hex());
        let actual = src.diff_id(&staged, &entry, what)?;
        if &actual != expected {
            return Err(Error::LayerDigestMismatch {
                image,
                layer: format!("{}: {entry}", src.origin.display()),
                expected: expected.to_string(),
                actual: actual.to_string(),
            });
        }
        layers.push(staged);
    }
    for staged in layers.iter().chain([&config_staged, &manifest_staged]) {
        content.commit(staged)?;
    }
    Ok(Imported {
        names: vec![name],
        manifest: desc.digest.clone(),
        config: manifest.config.digest.clone(),
        size: manifest_staged.size
            + config_staged.size
            + layers.iter().map(|s| s.size).sum::<u64>(),
        created: config.created,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_are_normalised_and_confined() {
        assert_eq!(archive_path("./a//b").as_deref(), Some("a/b"));
        assert_eq!(
            archive_path("/manifest.json").as_deref(),
            Some("manifest.json")
        );
        assert_eq!(archive_path("../x"), None);
        assert_eq!(archive_path("a/../../x"), None);
        assert_eq!(archive_path("./"), None);
    }

    #[test]
    fn symlink_targets_resolve_lexically_inside_the_archive() {
        assert_eq!(
            join_lexical("abc", "../def/layer.tar").as_deref(),
            Some("def/layer.tar")
        );
        assert_eq!(join_lexical("abc", "/x").as_deref(), Some("x"));
        assert_eq!(join_lexical("", "../x"), None);
        assert_eq!(join_lexical("a/b", "../../../x"), None);
    }
}
