//! Progress of pulls and pushes, as data. The store never prints: callers get [`Progress`]
//! events through a callback and render them (rate and ETA are the renderer's arithmetic).

/// One step of a pull or push. Layers are named by their blob digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The manifest is known: the image's blobs, in manifest order (config last).
    Resolved {
        reference: String,
        manifest: String,
        blobs: Vec<(String, u64)>,
    },
    /// A blob is already in the store (pull) or the registry (push).
    Exists { digest: String, size: u64 },
    /// Bytes moved so far for a blob (cumulative, including resumed bytes).
    Bytes {
        digest: String,
        done: u64,
        total: u64,
    },
    /// A transfer broke and is being resumed from `offset` (or restarted when 0).
    Retrying {
        digest: String,
        offset: u64,
        error: String,
    },
    /// A blob was transferred and verified.
    Done { digest: String, size: u64 },
    /// A layer is being unpacked into its snapshot.
    Unpacking { digest: String },
    /// A layer's snapshot is ready.
    Unpacked { digest: String },
}

/// The callback type pulls and pushes report through.
pub type ProgressFn<'a> = &'a (dyn Fn(Progress) + Send + Sync);

/// A callback that ignores everything.
pub fn silent(_: Progress) {}
