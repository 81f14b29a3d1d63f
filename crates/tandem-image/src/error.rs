//! Errors of the image store.
//!
//! Every variant carries the context needed to act on it (the path, digest, layer or archive
//! entry involved) and its message says what to do. [`Error::kind`] maps a variant onto the
//! coarse [`ErrorKind`] that callers (the supervisor, the CLI) branch on.

use std::fmt;
use std::io;
use std::path::PathBuf;

pub use tandem_errors::ErrorKind;

/// Why a layer entry was refused by the safe unpacker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnsafeReason {
    /// The entry's path has a `..` component.
    ParentComponent,
    /// A directory on the entry's path is a symlink; entries are never written through symlinks.
    SymlinkInPath { parent: String },
    /// A component on the entry's path exists and is not a directory.
    ParentNotDirectory { parent: String },
    /// The hardlink target has a `..` component.
    HardlinkParentComponent { target: String },
    /// The hardlink target goes through a symlink.
    HardlinkThroughSymlink { target: String, symlink: String },
    /// The hardlink target does not exist (earlier) in the same layer.
    HardlinkTargetMissing { target: String },
    /// The hardlink target is a directory.
    HardlinkToDirectory { target: String },
    /// The hardlink has no target.
    HardlinkWithoutTarget,
    /// A whiteout whose name is empty, `.` or `..`.
    InvalidWhiteout,
    /// The layer root (`./`) is given as something other than a directory.
    RootNotDirectory,
    /// A tar entry type the unpacker does not handle.
    UnsupportedEntryType { type_byte: u8 },
}

impl fmt::Display for UnsafeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsafeReason::ParentComponent => f.write_str("its path contains a '..' component"),
            UnsafeReason::SymlinkInPath { parent } => write!(
                f,
                "{parent} on its path is a symlink and entries are never written through symlinks"
            ),
            UnsafeReason::ParentNotDirectory { parent } => {
                write!(f, "{parent} on its path is not a directory")
            }
            UnsafeReason::HardlinkParentComponent { target } => write!(
                f,
                "its hardlink target {target:?} contains a '..' component"
            ),
            UnsafeReason::HardlinkThroughSymlink { target, symlink } => write!(
                f,
                "its hardlink target {target:?} goes through the symlink {symlink}"
            ),
            UnsafeReason::HardlinkTargetMissing { target } => write!(
                f,
                "its hardlink target {target:?} does not exist earlier in the same layer"
            ),
            UnsafeReason::HardlinkToDirectory { target } => {
                write!(f, "its hardlink target {target:?} is a directory")
            }
            UnsafeReason::HardlinkWithoutTarget => f.write_str("it is a hardlink without a target"),
            UnsafeReason::InvalidWhiteout => {
                f.write_str("it is a whiteout for an empty, '.' or '..' name")
            }
            UnsafeReason::RootNotDirectory => {
                f.write_str("it names the layer root but is not a directory")
            }
            UnsafeReason::UnsupportedEntryType { type_byte } => {
                write!(
                    f,
                    "its tar entry type {:?} is not supported",
                    *type_byte as char
                )
            }
        }
    }
}

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A filesystem operation failed.
    #[error("failed to {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        cause: io::Error,
    },

    /// The store root cannot be used.
    #[error("cannot use {} as the image store root: {reason}", path.display())]
    InvalidRoot { path: PathBuf, reason: String },

    /// A reference could not be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference { reference: String, reason: String },

    /// A digest could not be parsed.
    #[error(
        "invalid digest {digest:?}: {reason}; digests look like sha256:<64 lowercase hex digits>"
    )]
    InvalidDigest {
        digest: String,
        reason: &'static str,
    },

    /// No image has this name or id.
    #[error(
        "image {reference} not found; pull, load or import it first (list shows what the store has)"
    )]
    ImageNotFound { reference: String },

    /// An id prefix matches more than one image.
    #[error("image id prefix {prefix:?} is ambiguous: it matches {}; give more digits", candidates.join(", "))]
    AmbiguousId {
        prefix: String,
        candidates: Vec<String>,
    },

    /// An id was used to remove an image that has several names.
    #[error("image {id} has several names ({}); remove it by name", names.join(", "))]
    MultipleNames { id: String, names: Vec<String> },

    /// The archive given to `load` or `import` does not exist.
    #[error("archive {} does not exist; check the path", path.display())]
    ArchiveNotFound { path: PathBuf },

    /// The archive is neither of the formats `load` understands.
    #[error("{} is neither a docker save archive (manifest.json) nor an OCI image layout (oci-layout and index.json); create it with `docker save` or an OCI tool, or use import for a plain rootfs tar", path.display())]
    UnknownArchiveFormat { path: PathBuf },

    /// An entry of an archive (or a JSON document in it) is malformed.
    #[error("{}: entry {entry} is malformed: {reason}; re-create the archive", archive.display())]
    MalformedArchive {
        archive: PathBuf,
        entry: String,
        reason: String,
    },

    /// An entry an archive refers to is missing from it.
    #[error("{}: entry {entry} is referenced but missing; the archive is incomplete, re-create it", archive.display())]
    MissingEntry { archive: PathBuf, entry: String },

    /// A blob's content does not hash to the digest it is stored or described under.
    #[error("blob {location} has digest {actual} but {expected} was expected; it is corrupt or was tampered with, load the image again from a good copy")]
    BlobDigestMismatch {
        location: String,
        expected: String,
        actual: String,
    },

    /// A blob's size differs from its descriptor.
    #[error("blob {location} is {actual} bytes but its descriptor says {expected}; it is corrupt, load the image again from a good copy")]
    BlobSizeMismatch {
        location: String,
        expected: u64,
        actual: u64,
    },

    /// A layer's uncompressed content does not hash to the DiffID in the image config.
    #[error("layer {layer} of image {image} has diff_id {actual} but the image config says {expected}; the layer is corrupt or was tampered with, load the image again from a good copy")]
    LayerDigestMismatch {
        image: String,
        layer: String,
        expected: String,
        actual: String,
    },

    /// A layer (or config) has a media type the store cannot handle.
    #[error("{what} has unsupported media type {media_type}; only uncompressed, gzip and zstd tar layers of container images are supported")]
    UnsupportedMediaType { what: String, media_type: String },

    /// An image in an archive has no usable name.
    #[error("{}: image {manifest} has no name ({detail}); save it by name (e.g. `docker save name:tag`) or annotate it with io.containerd.image.name", archive.display())]
    UnnamedImage {
        archive: PathBuf,
        manifest: String,
        detail: String,
    },

    /// A multi-platform index has no manifest for this host.
    #[error("index {index} has no manifest for {platform} (it has: {available}); save the image for {platform}")]
    NoMatchingPlatform {
        index: String,
        platform: String,
        available: String,
    },

    /// A layer entry would escape the layer root or is otherwise unsafe.
    #[error("refusing entry {entry:?} of layer {archive}: {reason}; the layer is malicious or broken and was not unpacked")]
    UnsafeEntry {
        archive: String,
        entry: String,
        reason: UnsafeReason,
    },

    /// A layer needs privileges this process does not have.
    #[error("entry {entry:?} of layer {archive} is {what}, which can only be created as root; run tandem as root")]
    NeedsRoot {
        archive: String,
        entry: String,
        what: &'static str,
    },

    /// Writing an entry of a layer failed.
    #[error("failed to unpack entry {entry:?} of layer {archive}: {cause}; check free disk space, or re-load the image if the layer is corrupt")]
    Unpack {
        archive: String,
        entry: String,
        cause: io::Error,
    },

    /// A blob an image needs is not in the content store.
    #[error("blob {digest} of image {image} is missing from the store; remove the image and load it again")]
    MissingBlob { image: String, digest: String },

    /// A JSON document stored in the content store (manifest, config) cannot be parsed.
    #[error("stored {what} {digest} of image {image} is invalid: {reason}; remove the image and load it again")]
    CorruptBlob {
        image: String,
        what: &'static str,
        digest: String,
        reason: String,
    },

    /// A registry refused the credentials, or wants some and none were configured.
    #[error("registry {registry} refused access to {reference} ({detail}); {}", if *.had_credentials { "the credentials for it were rejected: check the user name and password in the auth file or imagePullSecret" } else { "it needs credentials: log in to it (auth file ~/.docker/config.json, --authfile) or give the pod an imagePullSecret" })]
    RegistryUnauthorized {
        registry: String,
        reference: String,
        had_credentials: bool,
        detail: String,
    },

    /// The registry does not have the image (or the repository).
    #[error(
        "image {reference} was not found in registry {registry} ({detail}); check the name and tag"
    )]
    ManifestUnknown {
        registry: String,
        reference: String,
        detail: String,
    },

    /// Talking to a registry failed (network, TLS, server error, protocol violation).
    #[error("cannot pull from or push to registry {registry} for {reference}: {detail}; {hint}")]
    Registry {
        registry: String,
        reference: String,
        detail: String,
        hint: &'static str,
    },

    /// A registry returned something that is not a usable image.
    #[error("registry {registry} returned an unusable {what} for {reference}: {reason}")]
    BadRegistryContent {
        registry: String,
        reference: String,
        what: &'static str,
        reason: String,
    },

    /// The registries configuration blocks this registry.
    #[error("registry {registry} is blocked by {}; remove `blocked = true` from its [[registry]] entry to use it", path.display())]
    RegistryBlocked { registry: String, path: PathBuf },

    /// The registries configuration file cannot be used.
    #[error("registries configuration {}: {reason}", path.display())]
    InvalidRegistriesConf { path: PathBuf, reason: String },

    /// An auth file (docker config.json, dockerconfigjson secret) cannot be used.
    #[error("auth file {source_name}: {reason}; it must be a docker config.json ({{\"auths\": {{\"HOST\": {{\"auth\": \"base64(user:password)\"}}}}}})")]
    InvalidAuthFile { source_name: String, reason: String },

    /// The name→image index cannot be parsed.
    #[error("image index {} is corrupt: {reason}; restore it from a backup or delete it and load the images again", path.display())]
    CorruptIndex { path: PathBuf, reason: String },
}

impl Error {
    /// The coarse classification of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { cause, .. } | Error::Unpack { cause, .. } => io_kind(cause),
            Error::InvalidRoot { .. } => ErrorKind::InvalidArgument,
            Error::InvalidReference { .. } | Error::InvalidDigest { .. } => {
                ErrorKind::InvalidArgument
            }
            Error::ImageNotFound { .. } | Error::ArchiveNotFound { .. } => ErrorKind::NotFound,
            Error::AmbiguousId { .. } => ErrorKind::InvalidArgument,
            Error::MultipleNames { .. } => ErrorKind::FailedPrecondition,
            Error::UnknownArchiveFormat { .. }
            | Error::MalformedArchive { .. }
            | Error::MissingEntry { .. }
            | Error::BlobDigestMismatch { .. }
            | Error::BlobSizeMismatch { .. }
            | Error::LayerDigestMismatch { .. }
            | Error::UnsupportedMediaType { .. }
            | Error::UnnamedImage { .. }
            | Error::UnsafeEntry { .. } => ErrorKind::InvalidArgument,
            Error::NoMatchingPlatform { .. } => ErrorKind::NotFound,
            Error::NeedsRoot { .. } => ErrorKind::FailedPrecondition,
            Error::MissingBlob { .. } => ErrorKind::FailedPrecondition,
            Error::CorruptBlob { .. } | Error::CorruptIndex { .. } => ErrorKind::Internal,
            Error::RegistryUnauthorized { .. } | Error::RegistryBlocked { .. } => {
                ErrorKind::FailedPrecondition
            }
            Error::ManifestUnknown { .. } => ErrorKind::NotFound,
            Error::Registry { .. } => ErrorKind::Unavailable,
            Error::BadRegistryContent { .. }
            | Error::InvalidRegistriesConf { .. }
            | Error::InvalidAuthFile { .. } => ErrorKind::InvalidArgument,
        }
    }

    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, cause: io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            cause,
        }
    }
}

fn io_kind(e: &io::Error) -> ErrorKind {
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
