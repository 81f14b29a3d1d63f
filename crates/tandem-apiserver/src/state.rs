//! What every request shares: the backend, the watch cache and the channel its changes go out
//! on, and the one refresh that brings the store into the cache.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::backend::Backend;
use crate::cache::{Cache, Change};
use crate::status::ApiError;

pub(crate) struct Shared {
    pub backend: Arc<dyn Backend>,
    cache: Mutex<Cache>,
    /// Every change, in version order, to every watcher.
    pub changes: broadcast::Sender<Change>,
    /// One refresh at a time, so snapshots reach the cache in the order they were taken.
    refreshing: tokio::sync::Mutex<()>,
    /// The bearer token that admits a client without a certificate.
    pub token: String,
    /// Where the server listens, as discovery tells clients.
    pub address: SocketAddr,
}

impl Shared {
    /// An empty cache whose versions start after `start` (the server's start time in µs).
    pub fn new(
        backend: Arc<dyn Backend>,
        start: u64,
        token: String,
        address: SocketAddr,
    ) -> Shared {
        let (changes, _) = broadcast::channel(4096);
        Shared {
            backend,
            cache: Mutex::new(Cache::new(start)),
            changes,
            refreshing: tokio::sync::Mutex::new(()),
            token,
            address,
        }
    }

    pub fn cache(&self) -> MutexGuard<'_, Cache> {
        // The cache stays consistent whatever a panicking holder did: `update` changes it only
        // after computing each change.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a snapshot of the store into the cache and tells every watcher what changed.
    pub async fn refresh(self: &Arc<Self>) -> Result<(), ApiError> {
        let _one = self.refreshing.lock().await;
        let backend = Arc::clone(&self.backend);
        let snapshot = blocking(move || backend.snapshot()).await?;
        let mut cache = self.cache();
        for change in cache.update(snapshot) {
            // No receiver is no error: nobody watches.
            let _ = self.changes.send(change);
        }
        Ok(())
    }
}

/// Runs a blocking backend call on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("the store's worker failed: {e}")))?
}
