//! ConfigMaps and Secrets kept in the store (`objects/configmaps/NS_NAME.json`,
//! `objects/secrets/NS_NAME.json`), as the API server keeps them: made, changed and deleted
//! through the API endpoint, and resolved for the pods and workloads created through it, whose
//! references to them the API server would resolve from what it holds.

use std::path::PathBuf;

use serde_json::Value;
use tandem_supervisor::statedir::{dir_name, write_atomic, Store};

/// The kinds kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    ConfigMaps,
    Secrets,
}

impl Kept {
    fn dir(self, store: &Store) -> PathBuf {
        store.objects.join(match self {
            Kept::ConfigMaps => "configmaps",
            Kept::Secrets => "secrets",
        })
    }

    pub fn path(self, store: &Store, namespace: &str, name: &str) -> PathBuf {
        self.dir(store)
            .join(format!("{}.json", dir_name(namespace, name)))
    }
}

/// Every object of `kind`, of every namespace.
pub(crate) fn list(store: &Store, kind: Kept) -> Vec<Value> {
    let mut out: Vec<Value> = std::fs::read_dir(kind.dir(store))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    out.sort_by(|a: &Value, b: &Value| {
        let key = |v: &Value| {
            (
                v["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                v["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    out
}

/// The ConfigMaps and Secrets of one namespace, for references to resolve against.
pub(crate) fn in_namespace(store: &Store, namespace: &str) -> Vec<Value> {
    [Kept::ConfigMaps, Kept::Secrets]
        .into_iter()
        .flat_map(|k| list(store, k))
        .filter(|v| v["metadata"]["namespace"].as_str().unwrap_or("default") == namespace)
        .collect()
}

/// Keeps `object` (whole, replacing what was there).
pub(crate) fn put(
    store: &Store,
    kind: Kept,
    namespace: &str,
    name: &str,
    object: &Value,
) -> std::io::Result<()> {
    let dir = kind.dir(store);
    std::fs::create_dir_all(&dir)?;
    write_atomic(
        &kind.path(store, namespace, name),
        &serde_json::to_vec_pretty(object)?,
    )
}

/// Removes an object; false when there was none.
pub(crate) fn remove(
    store: &Store,
    kind: Kept,
    namespace: &str,
    name: &str,
) -> std::io::Result<bool> {
    match std::fs::remove_file(kind.path(store, namespace, name)) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}
