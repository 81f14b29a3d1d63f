//! The content-addressed image store of tandem.
//!
//! This crate owns:
//! - **references**: parsing and normalising docker-style image names ([`Reference`]);
//! - the **content store**: blobs (manifests, configs, layers) addressed by [`Digest`], every
//!   one hashed while written into `ingest/` and renamed into place only once verified;
//! - **loading archives**: `docker save` tarballs and OCI image layouts (tarball, gzip tarball or
//!   directory), following an image Index to the manifest for `linux/<host arch>`;
//! - **importing rootfs tarballs** as one-layer images (like `docker import`);
//! - **safe layer unpacking into snapshots**: each layer is unpacked once, keyed by its ChainID,
//!   with path-escape protection and OCI whiteouts converted to the overlayfs format;
//! - the **name→image index** (`images.json`);
//! - **pulling from and pushing to registries** ([`ImageStore::pull`], [`ImageStore::push`];
//!   see the `registry` module): the OCI distribution protocol through the `oci-client` crate,
//!   credentials in docker config.json form ([`auth`]), insecure/mirrored/blocked registries from
//!   a containers-registries.conf ([`registries_conf`]), progress reported as data
//!   ([`progress`]): the crate never prints.
//!
//! It **never mounts** anything: [`ResolvedImage::rootfs_mount`] returns the overlay mount a
//! container needs as data, for the runtime to perform. It knows nothing about Pods.
//!
//! Vocabulary is containerd's: a [`Reference`] names an image; a [`Digest`] addresses content;
//! a Descriptor points at a blob (media type, digest, size); a Manifest lists an image's config and
//! layers; an Index lists manifests per platform; a layer's DiffID is the digest of its
//! uncompressed tar; a ChainID identifies a layer stack (`chain(1) = diffid(1)`,
//! `chain(n) = sha256(chain(n-1) + " " + diffid(n))`); a snapshot is the unpacked directory
//! of one layer.
//!
//! # On-disk layout
//! ```text
//! <root>/lock                          flock(2)ed around every mutation
//! <root>/images.json                   name -> {manifest, config (= id), size, created}
//! <root>/blobs/sha256/<hex>            content store
//! <root>/snapshots/<chainid-hex>/fs    one unpacked layer (overlayfs format)
//! <root>/snapshots/empty/fs            the lower dir of images without layers
//! <root>/ingest/                       temp files and dirs (downloads too), renamed into place
//!                                      only when complete and verified
//! ```
//!
//! # Pulls
//! A pull fetches and verifies the manifest and config first, then holds the store lock while it
//! downloads the missing layers in parallel and unpacks each as soon as it is in: a second pull of
//! the same image (from any process) waits and then finds everything present. Pulls of different
//! images into one store therefore run one after the other. Blobs are verified (sha256 and size)
//! before they become visible in `blobs/`; layers are verified again (blob digest and DiffID)
//! while they are unpacked. An interrupted transfer is resumed with an HTTP Range request within
//! the same pull; a pull that dies restarts its unfinished blobs from zero next time (finished,
//! verified blobs are kept).
//!
//! # Garbage
//! [`ImageStore::remove`] deletes the blobs and snapshots no remaining name references.
//! A load or import that moves a name to a new image leaves the old image's content in place
//! (a container may still use its snapshots); [`ImageStore::prune`] reclaims it. Neither knows
//! which images running containers use: callers must not remove those.

mod archive;
pub mod auth;
mod content;
mod digest;
mod error;
mod index;
pub mod progress;
mod reference;
pub mod registries_conf;
mod registry;
mod spec;
mod unpack;

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use auth::{AuthFile, Credentials, Login};
pub use digest::{chain_ids, Digest};
pub use error::{Error, ErrorKind, Result, UnsafeReason};
pub use progress::Progress;
pub use reference::{Reference, DEFAULT_DOMAIN, DEFAULT_TAG};
pub use registries_conf::RegistriesConf;
pub use registry::{NamedAuth, PullReport, PullSettings, PushReport, RegistryOptions};
pub use spec::{ImageConfig, DEFAULT_PATH_ENV};

use content::ContentStore;
use index::{IndexEntry, IndexFile};
use spec::{ConfigBlob, Manifest};

const EMPTY_SNAPSHOT: &str = "empty";

/// One named image, as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSummary {
    /// The normalised reference, e.g. `docker.io/library/busybox:latest`.
    pub reference: String,
    /// The image id: the digest of its config, `sha256:<hex>`.
    pub id: String,
    /// The digest of its (platform-specific) manifest.
    pub manifest_digest: String,
    /// Bytes of its blobs in the content store: manifest + config + layers as stored (gzip
    /// layers count compressed). Blobs shared with other images are counted for each.
    pub size: u64,
    /// The config's `created` timestamp, when it has one.
    pub created: Option<String>,
}

/// One layer of an image, as [`ImageStore::inspect`] shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerInfo {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
    pub diff_id: String,
}

/// What [`ImageStore::inspect`] returns.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageInspect {
    /// The name it was found under.
    pub reference: String,
    /// Every name of the same image id.
    pub names: Vec<String>,
    pub id: String,
    pub manifest_digest: String,
    /// The multi-platform index it was pulled through.
    pub index_digest: Option<String>,
    pub size: u64,
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    pub config: ImageConfig,
    pub layers: Vec<LayerInfo>,
}

/// An image ready to run: its config and its unpacked layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The normalised reference it was found under.
    pub reference: String,
    /// The image id (config digest).
    pub id: String,
    /// The repository and the digest the image was pulled by (its multi-platform index, else
    /// its manifest), `docker.io/library/busybox@sha256:…`: the image ID a container's status
    /// shows, as containerd reports its repo digest.
    pub repo_digest: String,
    pub config: ImageConfig,
    /// Unpacked layer directories, top-most layer FIRST (the order overlayfs `lowerdir=` wants).
    /// Never empty: an image without layers gets one empty directory.
    pub layers: Vec<PathBuf>,
}

/// A mount, described as data for the runtime to perform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    pub fstype: String,
    pub source: String,
    pub options: Vec<String>,
}

/// A normalised reference without its tag or digest: `docker.io/library/busybox:1.36` →
/// `docker.io/library/busybox` (a registry's port, before the first `/`, is kept).
fn repository(reference: &str) -> &str {
    let name = reference.split_once('@').map_or(reference, |(n, _)| n);
    let last = name.rfind('/').map_or(0, |i| i + 1);
    match name[last..].rfind(':') {
        Some(colon) => &name[..last + colon],
        None => name,
    }
}

impl ResolvedImage {
    /// The overlay mount for a container's rootfs: fstype `overlay`, source `overlay`, options
    /// `["lowerdir=<top>:...:<bottom>", "upperdir=<upper>", "workdir=<work>"]`.
    ///
    /// Store paths never contain `:` or `,` ([`ImageStore::open`] refuses such roots); `upper`
    /// and `work` must not either. With the legacy mount(2) the options must fit in one page,
    /// which limits images to roughly 35 layers under a short root.
    pub fn rootfs_mount(&self, upper: &Path, work: &Path) -> Mount {
        let lower: Vec<String> = self
            .layers
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        Mount {
            fstype: "overlay".to_string(),
            source: "overlay".to_string(),
            options: vec![
                format!("lowerdir={}", lower.join(":")),
                format!("upperdir={}", upper.display()),
                format!("workdir={}", work.display()),
            ],
        }
    }
}

impl ResolvedImage {
    /// The image's layers merged read-only (an image volume, KEP-4639): an overlay of lower
    /// directories alone. overlayfs needs two of them without an upper directory ("at least 2
    /// lowerdir are needed while upperdir nonexistent"), so `empty`, an empty directory, is the
    /// bottom one under an image of one layer.
    pub fn read_only_mount(&self, empty: &Path) -> Mount {
        let mut lower: Vec<String> = self
            .layers
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        if lower.len() < 2 {
            lower.push(empty.display().to_string());
        }
        Mount {
            fstype: "overlay".to_string(),
            source: "overlay".to_string(),
            options: vec![format!("lowerdir={}", lower.join(":"))],
        }
    }
}

/// What [`ImageStore::prune`] (and the clean-up after [`ImageStore::remove`]) deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub blobs_removed: usize,
    pub snapshots_removed: usize,
}

/// The image store rooted at one directory (e.g. `/var/lib/tandem/images`).
///
/// Safe to share between threads and processes: every mutation (load, import, remove, prune,
/// unpacking snapshots) holds an exclusive `flock` on `<root>/lock`; readers (list, resolving an
/// already unpacked image) rely on files only ever appearing by atomic rename.
#[derive(Clone, Debug)]
pub struct ImageStore {
    root: PathBuf,
    content: ContentStore,
}

/// How an input matched the index.
enum Found<'i> {
    /// By name: exactly this entry.
    Name(&'i str, &'i IndexEntry),
    /// By id (or pinned digest): every name of one image.
    Id(Vec<(&'i str, &'i IndexEntry)>),
}

impl<'i> Found<'i> {
    fn first(&self) -> Option<(&'i str, &'i IndexEntry)> {
        match self {
            Found::Name(k, e) => Some((k, e)),
            Found::Id(v) => v.first().copied(),
        }
    }
}

impl ImageStore {
    /// Opens (creating if needed) a store at `root`. Leftovers of interrupted operations in
    /// `ingest/` are removed when no other process holds the store lock.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        for dir in [
            root.clone(),
            root.join("blobs").join("sha256"),
            root.join("snapshots"),
            root.join("ingest"),
        ] {
            fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        }
        let root = fs::canonicalize(&root).map_err(|e| Error::io("resolve", &root, e))?;
        match root.to_str() {
            None => {
                return Err(Error::InvalidRoot {
                    path: root,
                    reason: "the path is not UTF-8".to_string(),
                })
            }
            Some(s) if s.contains([':', ',']) => {
                return Err(Error::InvalidRoot {
                    path: root.clone(),
                    reason: "overlayfs mount options cannot carry paths with ':' or ','; choose another directory".to_string(),
                })
            }
            Some(_) => {}
        }
        let store = ImageStore {
            content: ContentStore::new(root.join("blobs").join("sha256"), root.join("ingest")),
            root,
        };
        if let Some(_lock) = index::try_lock(&store.lock_path())? {
            // Best effort: what cannot be removed now is retried by the next open or prune.
            let _ = clear_dir(store.content.ingest_dir());
        }
        Ok(store)
    }

    /// The store's root directory (absolute).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Loads a `docker save` tarball, an OCI image-layout tarball (optionally gzip-compressed)
    /// or an OCI image-layout directory, and names every image in it; a name that existed is
    /// moved to the loaded image. Returns one summary per name.
    ///
    /// `docker save`: names come from `RepoTags` (also the newer layout whose `manifest.json`
    /// points into `blobs/`); each layer must hash (uncompressed) to its DiffID in the config.
    /// OCI layout: each `index.json` entry is named by its `io.containerd.image.name`
    /// annotation, else by `org.opencontainers.image.ref.name` when that is a full reference; an
    /// entry named only by a tag (or not at all) makes the load fail with
    /// [`Error::UnnamedImage`] before anything is stored. Indexes are followed to the
    /// `linux/<host arch>` manifest; blobs must match their descriptors' digests and sizes.
    pub fn load(&self, path: &Path) -> Result<Vec<ImageSummary>, Error> {
        let _lock = self.lock()?;
        let imported = archive::load(&self.content, path)?;
        let mut index = self.read_index()?;
        let mut out = Vec::new();
        for image in imported {
            let entry = IndexEntry {
                manifest: image.manifest,
                config: image.config,
                size: image.size,
                created: image.created,
                index: None,
            };
            for name in image.names {
                let key = name.to_string();
                out.push(summary(&key, &entry));
                index.images.insert(key, entry.clone());
            }
        }
        self.write_index(&index)?;
        Ok(out)
    }

    /// Like `docker import`: a plain (optionally gzip) rootfs tar becomes a one-layer image named
    /// `reference` (normalised; an existing name is moved). `config` sets Entrypoint, Cmd, Env,
    /// WorkingDir, User, ExposedPorts (`"80"` means `"80/tcp"`) and Labels; `PATH=/usr/local/sbin:
    /// /usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin` is added to Env unless it sets `PATH`.
    pub fn import(
        &self,
        tar: &Path,
        reference: &str,
        config: ImageConfig,
    ) -> Result<ImageSummary, Error> {
        let name = Reference::parse(reference)?;
        if name.digest().is_some() {
            return Err(Error::InvalidReference {
                reference: reference.to_string(),
                reason: "an imported image is named by tag; drop the @digest".to_string(),
            });
        }
        let _lock = self.lock()?;
        let image = archive::import_rootfs(&self.content, tar, name, &config)?;
        let key = image
            .names
            .first()
            .map(ToString::to_string)
            .unwrap_or_default();
        let entry = IndexEntry {
            manifest: image.manifest,
            config: image.config,
            size: image.size,
            created: image.created,
            index: None,
        };
        let mut index = self.read_index()?;
        index.images.insert(key.clone(), entry.clone());
        self.write_index(&index)?;
        Ok(summary(&key, &entry))
    }

    /// Every named image, sorted by reference.
    pub fn list(&self) -> Result<Vec<ImageSummary>, Error> {
        let index = self.read_index()?;
        Ok(index.images.iter().map(|(k, e)| summary(k, e)).collect())
    }

    /// Removes a name (or the only name of an id), then deletes the blobs and snapshots no
    /// remaining name references. If that clean-up fails the name is still gone and the error is
    /// returned; [`ImageStore::prune`] retries it.
    pub fn remove(&self, reference: &str) -> Result<ImageSummary, Error> {
        let _lock = self.lock()?;
        let mut index = self.read_index()?;
        let key = match find(&index, reference)? {
            Found::Name(k, _) => k.to_string(),
            Found::Id(matches) => match matches.as_slice() {
                [(k, _)] => k.to_string(),
                _ => {
                    return Err(Error::MultipleNames {
                        id: matches
                            .first()
                            .map(|(_, e)| e.config.to_string())
                            .unwrap_or_default(),
                        names: matches.iter().map(|(k, _)| k.to_string()).collect(),
                    })
                }
            },
        };
        let Some(entry) = index.images.remove(&key) else {
            return Err(Error::ImageNotFound { reference: key });
        };
        self.write_index(&index)?;
        self.collect_garbage(&index)?;
        Ok(summary(&key, &entry))
    }

    /// Deletes blobs and snapshots that no named image references, and leftovers in `ingest/`.
    pub fn prune(&self) -> Result<PruneReport, Error> {
        let _lock = self.lock()?;
        let index = self.read_index()?;
        self.collect_garbage(&index)
    }

    /// The image `reference` names (as [`ImageStore::resolve`] finds it), or `None`. Does not
    /// unpack anything.
    pub fn lookup(&self, reference: &str) -> Result<Option<ImageSummary>, Error> {
        let index = self.read_index()?;
        match find(&index, reference) {
            Ok(found) => Ok(found.first().map(|(k, e)| summary(k, e))),
            Err(Error::ImageNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Everything the store knows about one image: names, digests, config, layers.
    pub fn inspect(&self, reference: &str) -> Result<ImageInspect, Error> {
        let index = self.read_index()?;
        let found = find(&index, reference)?;
        let Some((key, entry)) = found.first() else {
            return Err(Error::ImageNotFound {
                reference: reference.to_string(),
            });
        };
        let (manifest, config) = self.read_image(key, entry)?;
        let mut names: Vec<String> = index
            .images
            .iter()
            .filter(|(_, e)| e.config == entry.config)
            .map(|(k, _)| k.clone())
            .collect();
        names.sort();
        let layers = manifest
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|(l, d)| LayerInfo {
                digest: l.digest.to_string(),
                media_type: l.media_type.clone(),
                size: l.size,
                diff_id: d.to_string(),
            })
            .collect();
        Ok(ImageInspect {
            reference: key.to_string(),
            names,
            id: entry.config.to_string(),
            manifest_digest: entry.manifest.to_string(),
            index_digest: entry.index.as_ref().map(ToString::to_string),
            size: entry.size,
            created: entry.created.clone(),
            architecture: config.architecture.clone().unwrap_or_default(),
            os: config.os.clone().unwrap_or_default(),
            config: ImageConfig::from(config.config.unwrap_or_default()),
            layers,
        })
    }

    /// Finds an image by reference (normalised: `busybox` == `docker.io/library/busybox:latest`;
    /// `name@sha256:<manifest digest>`), by id `sha256:<hex>`, or by an unambiguous id prefix
    /// (bare hex, tried when no image has that name), and makes sure its layers are unpacked.
    pub fn resolve(&self, reference: &str) -> Result<ResolvedImage, Error> {
        let index = self.read_index()?;
        let found = find(&index, reference)?;
        let Some((key, entry)) = found.first() else {
            return Err(Error::ImageNotFound {
                reference: reference.to_string(),
            });
        };
        let (manifest, config) = self.read_image(key, entry)?;
        let chains = chain_ids(&config.rootfs.diff_ids);
        let layers = if chains.is_empty() {
            vec![self.empty_snapshot()?]
        } else {
            let missing = chains.iter().any(|c| !self.snapshot_fs(c).is_dir());
            if missing {
                let _lock = self.lock()?;
                let is_root = nix::unistd::geteuid().is_root();
                for ((layer, diff_id), chain) in manifest
                    .layers
                    .iter()
                    .zip(&config.rootfs.diff_ids)
                    .zip(&chains)
                {
                    self.unpack_snapshot(key, &layer.digest, diff_id, chain, is_root)?;
                }
            }
            chains.iter().rev().map(|c| self.snapshot_fs(c)).collect()
        };
        let digest = entry.index.as_ref().unwrap_or(&entry.manifest);
        Ok(ResolvedImage {
            reference: key.to_string(),
            id: entry.config.to_string(),
            repo_digest: format!("{}@{digest}", repository(key)),
            config: ImageConfig::from(config.config.unwrap_or_default()),
            layers,
        })
    }

    fn lock_path(&self) -> PathBuf {
        self.root.join("lock")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("images.json")
    }

    fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    fn snapshot_fs(&self, chain: &Digest) -> PathBuf {
        self.snapshots_dir().join(chain.hex()).join("fs")
    }

    fn lock(&self) -> Result<index::StoreLock> {
        index::lock(&self.lock_path())
    }

    fn read_index(&self) -> Result<IndexFile> {
        index::read(&self.index_path())
    }

    fn write_index(&self, index: &IndexFile) -> Result<()> {
        index::write(&self.index_path(), self.content.ingest_dir(), index)
    }

    /// Reads and checks an image's manifest and config from the content store.
    fn read_image(&self, image: &str, entry: &IndexEntry) -> Result<(Manifest, ConfigBlob)> {
        let corrupt = |what, digest: &Digest, reason: String| Error::CorruptBlob {
            image: image.to_string(),
            what,
            digest: digest.to_string(),
            reason,
        };
        let bytes = self.content.read_verified(&entry.manifest, image)?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt("manifest", &entry.manifest, e.to_string()))?;
        let bytes = self.content.read_verified(&manifest.config.digest, image)?;
        let config: ConfigBlob = serde_json::from_slice(&bytes)
            .map_err(|e| corrupt("config", &manifest.config.digest, e.to_string()))?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(corrupt(
                "config",
                &manifest.config.digest,
                format!(
                    "it lists {} diff_ids for {} layers",
                    config.rootfs.diff_ids.len(),
                    manifest.layers.len()
                ),
            ));
        }
        Ok((manifest, config))
    }

    /// Unpacks one layer into `snapshots/<chain>/fs` unless it is there: into a temp dir in
    /// `ingest/`, renamed into place only after the blob digest and DiffID verified.
    fn unpack_snapshot(
        &self,
        image: &str,
        blob: &Digest,
        diff_id: &Digest,
        chain: &Digest,
        is_root: bool,
    ) -> Result<()> {
        let dest = self.snapshots_dir().join(chain.hex());
        if dest.join("fs").is_dir() {
            return Ok(());
        }
        let ingest = self.content.ingest_dir();
        let tmp = tempfile::Builder::new()
            .prefix("snapshot-")
            .tempdir_in(ingest)
            .map_err(|e| Error::io("create a temp dir in", ingest, e))?;
        let fs_dir = tmp.path().join("fs");
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
            .and_then(|()| fs::create_dir(&fs_dir))
            .map_err(|e| Error::io("create", &fs_dir, e))?;
        let blob_path = self.content.blob_path(blob);
        unpack::unpack_layer(
            &unpack::LayerBlob {
                path: &blob_path,
                digest: blob,
                diff_id,
                image,
            },
            &fs_dir,
            is_root,
        )?;
        if dest.exists() {
            // A leftover without `fs` (never produced by this code); replace it.
            fs::remove_dir_all(&dest).map_err(|e| Error::io("remove", &dest, e))?;
        }
        fs::rename(tmp.path(), &dest).map_err(|e| Error::io("rename snapshot into", &dest, e))?;
        let _kept = tmp.keep();
        Ok(())
    }

    fn empty_snapshot(&self) -> Result<PathBuf> {
        let path = self.snapshots_dir().join(EMPTY_SNAPSHOT).join("fs");
        fs::create_dir_all(&path).map_err(|e| Error::io("create", &path, e))?;
        Ok(path)
    }

    /// Deletes blobs and snapshots `index` does not reference, and everything in `ingest/`.
    /// Must hold the lock. Refuses to delete anything when an image's manifest or config
    /// cannot be read (its content would look unreferenced).
    fn collect_garbage(&self, index: &IndexFile) -> Result<PruneReport> {
        let mut live_blobs = HashSet::new();
        let mut live_snapshots = HashSet::from([EMPTY_SNAPSHOT.to_string()]);
        for (name, entry) in &index.images {
            let (manifest, config) = self.read_image(name, entry)?;
            live_blobs.insert(entry.manifest.hex().to_string());
            live_blobs.insert(manifest.config.digest.hex().to_string());
            live_blobs.extend(manifest.layers.iter().map(|l| l.digest.hex().to_string()));
            live_snapshots.extend(
                chain_ids(&config.rootfs.diff_ids)
                    .iter()
                    .map(|c| c.hex().to_string()),
            );
        }
        let mut report = PruneReport::default();
        let blobs = self.content.blobs_dir();
        for name in dir_names(blobs)? {
            if !live_blobs.contains(&name) {
                let path = blobs.join(&name);
                fs::remove_file(&path).map_err(|e| Error::io("remove blob", &path, e))?;
                report.blobs_removed += 1;
            }
        }
        let snapshots = self.snapshots_dir();
        let ingest = self.content.ingest_dir();
        for name in dir_names(&snapshots)? {
            if !live_snapshots.contains(&name) {
                // Move it out first so a half-deleted snapshot never looks unpacked.
                let path = snapshots.join(&name);
                let trash = ingest.join(format!("trash-{name}"));
                fs::rename(&path, &trash).map_err(|e| Error::io("move snapshot", &path, e))?;
                report.snapshots_removed += 1;
            }
        }
        clear_dir(ingest).map_err(|e| Error::io("clean", ingest, e))?;
        Ok(report)
    }
}

fn summary(key: &str, entry: &IndexEntry) -> ImageSummary {
    ImageSummary {
        reference: key.to_string(),
        id: entry.config.to_string(),
        manifest_digest: entry.manifest.to_string(),
        size: entry.size,
        created: entry.created.clone(),
    }
}

fn dir_names(dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", dir, e))?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    Ok(names)
}

/// Removes everything inside `dir`.
fn clear_dir(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
    }
    Ok(())
}

/// Looks `input` up: a name, `name@digest`, `sha256:<id or prefix>`, or a bare id prefix.
fn find<'i>(index: &'i IndexFile, input: &str) -> Result<Found<'i>> {
    let by_id = |prefix: &str| -> Result<Found<'i>> {
        let mut ids: Vec<&Digest> = index.images.values().map(|e| &e.config).collect();
        ids.retain(|id| id.hex().starts_with(prefix));
        ids.sort();
        ids.dedup();
        match ids.as_slice() {
            [] => Err(Error::ImageNotFound {
                reference: input.to_string(),
            }),
            [id] => Ok(Found::Id(
                index
                    .images
                    .iter()
                    .filter(|(_, e)| &e.config == *id)
                    .map(|(k, e)| (k.as_str(), e))
                    .collect(),
            )),
            many => Err(Error::AmbiguousId {
                prefix: input.to_string(),
                candidates: many.iter().map(ToString::to_string).collect(),
            }),
        }
    };
    let is_hex = |s: &str| !s.is_empty() && digest::is_lower_hex(s);
    if let Some(hex) = input.strip_prefix("sha256:") {
        if !is_hex(hex) || hex.len() > 64 {
            return Err(Error::InvalidDigest {
                digest: input.to_string(),
                reason: "an image id is sha256: followed by (a prefix of) 64 hex digits",
            });
        }
        return by_id(hex);
    }
    let reference = match Reference::parse(input) {
        Ok(r) => r,
        Err(_) if is_hex(input) && input.len() <= 64 => return by_id(input),
        Err(e) => return Err(e),
    };
    let key = reference.to_string();
    if let Some((k, e)) = index.images.get_key_value(&key) {
        return Ok(Found::Name(k, e));
    }
    if let Some(digest) = reference.digest() {
        let matches: Vec<(&str, &IndexEntry)> = index
            .images
            .iter()
            .filter(|(k, e)| {
                (&e.manifest == digest || e.index.as_ref() == Some(digest))
                    && Reference::parse(k).is_ok_and(|r| {
                        r.name() == reference.name()
                            && reference.tag().is_none_or(|t| r.tag() == Some(t))
                    })
            })
            .map(|(k, e)| (k.as_str(), e))
            .collect();
        if !matches.is_empty() {
            return Ok(Found::Id(matches));
        }
    }
    if is_hex(input) && input.len() <= 64 {
        match by_id(input) {
            Err(Error::ImageNotFound { .. }) => {}
            other => return other,
        }
    }
    Err(Error::ImageNotFound { reference: key })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(prefix: &str) -> Digest {
        Digest::from_hex(&format!("{prefix}{}", "0".repeat(64 - prefix.len()))).expect("hex")
    }

    fn index() -> IndexFile {
        let entry = |config: &str| IndexEntry {
            manifest: Digest::of_bytes(config.as_bytes()),
            config: id(config),
            size: 1,
            created: None,
            index: None,
        };
        let mut index = IndexFile::default();
        for (name, config) in [
            ("docker.io/library/x:latest", "aaaa"),
            ("docker.io/library/y:latest", "aaab"),
            ("localhost/z:1", "aaaa"),
        ] {
            index.images.insert(name.to_string(), entry(config));
        }
        index
    }

    fn names(found: Found<'_>) -> Vec<String> {
        match found {
            Found::Name(k, _) => vec![k.to_string()],
            Found::Id(v) => v.iter().map(|(k, _)| k.to_string()).collect(),
        }
    }

    #[test]
    fn find_by_name_id_and_prefix() {
        let index = index();
        let found = find(&index, "x").expect("by short name");
        assert!(matches!(
            found,
            Found::Name("docker.io/library/x:latest", _)
        ));
        let found = find(&index, "aaaa").expect("by id prefix");
        assert_eq!(
            names(found),
            vec!["docker.io/library/x:latest", "localhost/z:1"]
        );
        let found = find(&index, &format!("sha256:{}", id("aaab").hex())).expect("full id");
        assert_eq!(names(found), vec!["docker.io/library/y:latest"]);
        let err = find(&index, "aaa").err().expect("ambiguous");
        assert!(matches!(err, Error::AmbiguousId { .. }), "{err}");
        let err = find(&index, "sha256:zz").err().expect("bad id");
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        let err = find(&index, "bbbb").err().expect("missing");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(
            err.to_string().contains("docker.io/library/bbbb:latest"),
            "{err}"
        );
    }

    #[test]
    fn a_repository_is_the_reference_without_tag_or_digest() {
        assert_eq!(
            repository("docker.io/library/busybox:1.36"),
            "docker.io/library/busybox"
        );
        assert_eq!(
            repository("localhost:5000/app/web:v1"),
            "localhost:5000/app/web"
        );
        assert_eq!(
            repository("localhost:5000/app/web"),
            "localhost:5000/app/web"
        );
        assert_eq!(
            repository("docker.io/library/busybox@sha256:abc"),
            "docker.io/library/busybox"
        );
    }

    #[test]
    fn rootfs_mount_is_data_in_overlay_order() {
        let img = ResolvedImage {
            reference: "r".into(),
            id: "i".into(),
            repo_digest: "r@sha256:0".into(),
            config: ImageConfig::default(),
            layers: vec!["/s/top/fs".into(), "/s/base/fs".into()],
        };
        let m = img.rootfs_mount(Path::new("/c/upper"), Path::new("/c/work"));
        assert_eq!(
            m,
            Mount {
                fstype: "overlay".into(),
                source: "overlay".into(),
                options: vec![
                    "lowerdir=/s/top/fs:/s/base/fs".into(),
                    "upperdir=/c/upper".into(),
                    "workdir=/c/work".into(),
                ],
            }
        );
    }

    #[test]
    fn open_refuses_roots_overlay_cannot_express() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = ImageStore::open(dir.path().join("a:b")).expect_err("colon");
        assert!(matches!(err, Error::InvalidRoot { .. }), "{err}");
        let store = ImageStore::open(dir.path().join("ok")).expect("open");
        assert!(store.root().join("blobs/sha256").is_dir());
        assert!(store.root().join("snapshots").is_dir());
        assert!(store.root().join("ingest").is_dir());
    }
}
