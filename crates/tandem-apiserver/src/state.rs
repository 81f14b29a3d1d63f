//! What every request shares: the backend, the watch cache and the channel its changes go out
//! on, the objects' field managers, and the one refresh that brings the store into the cache
//! (each object with its `metadata.managedFields`).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::broadcast;

use crate::backend::Backend;
use crate::cache::{Cache, Change};
use crate::fields::{Entry, Ledger};
use crate::resource::Resource;
use crate::status::ApiError;

/// An object's key in the field managers' ledger.
pub(crate) fn ledger_key(r: Resource, namespace: &str, name: &str) -> String {
    format!("{}/{}/{namespace}/{name}", r.group(), r.plural())
}

pub(crate) struct Shared {
    pub backend: Arc<dyn Backend>,
    cache: Mutex<Cache>,
    /// Every change, in version order, to every watcher.
    pub changes: broadcast::Sender<Change>,
    /// One refresh at a time, so snapshots reach the cache in the order they were taken.
    refreshing: tokio::sync::Mutex<()>,
    /// The bearer token that admits a client without a certificate.
    pub token: String,
    /// The key that signs and checks service-account tokens.
    pub token_keys: Arc<tandem_tokens::TokenKeys>,
    /// Where the server listens, as discovery tells clients.
    pub address: SocketAddr,
    /// Who set which fields of each object, and where that is kept.
    ledger: Mutex<Ledger>,
    ledger_file: Option<std::path::PathBuf>,
}

impl Shared {
    /// An empty cache whose versions start after `start` (the server's start time in µs).
    pub fn new(
        backend: Arc<dyn Backend>,
        start: u64,
        token: String,
        token_keys: Arc<tandem_tokens::TokenKeys>,
        address: SocketAddr,
    ) -> Shared {
        let (changes, _) = broadcast::channel(4096);
        let ledger_file = backend.field_managers_file();
        // A ledger that cannot be read starts empty: ownership is then learnt anew.
        let ledger = ledger_file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .map(|v| Ledger::from_json(&v))
            .unwrap_or_default();
        Shared {
            backend,
            cache: Mutex::new(Cache::new(start)),
            changes,
            refreshing: tokio::sync::Mutex::new(()),
            token,
            token_keys,
            address,
            ledger: Mutex::new(ledger),
            ledger_file,
        }
    }

    fn ledger(&self) -> MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The field managers of an object (`uid`: the object's, when it exists).
    pub fn managers(&self, key: &str, uid: Option<&str>) -> Vec<Entry> {
        self.ledger().of(key, uid)
    }

    /// Records the field managers of an object after a write.
    pub fn record_managers(&self, key: String, uid: Option<String>, entries: Vec<Entry>) {
        let mut ledger = self.ledger();
        ledger.set(key, uid, entries);
        self.keep(&ledger);
    }

    /// Writes the ledger where the backend keeps it (atomically: a new file renamed over).
    fn keep(&self, ledger: &Ledger) {
        let Some(file) = &self.ledger_file else {
            return;
        };
        let tmp = file.with_extension("tmp");
        let written = std::fs::write(&tmp, ledger.to_json().to_string())
            .and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            eprintln!(
                "warning: cannot keep the field managers in {}: {e}",
                file.display()
            );
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
        let mut snapshot = blocking(move || backend.snapshot()).await?;
        {
            // Each object with its managers; those of objects gone are forgotten.
            let mut ledger = self.ledger();
            let uids = snapshot
                .iter()
                .map(|o| {
                    let uid = o.value["metadata"]["uid"].as_str().map(str::to_string);
                    (ledger_key(o.resource, &o.namespace, &o.name), uid)
                })
                .collect();
            if ledger.settle(&uids) {
                self.keep(&ledger);
            }
            for o in &mut snapshot {
                let key = ledger_key(o.resource, &o.namespace, &o.name);
                let entries = ledger.of(&key, o.value["metadata"]["uid"].as_str());
                if let (false, Some(meta)) = (
                    entries.is_empty(),
                    o.value.get_mut("metadata").and_then(|m| m.as_object_mut()),
                ) {
                    meta.insert(
                        "managedFields".into(),
                        entries.iter().map(Entry::to_json).collect(),
                    );
                }
            }
        }
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
