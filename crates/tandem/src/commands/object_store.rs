//! Objects kept in the store as the API server keeps them, one JSON file each
//! (`objects/RESOURCE/NS_NAME.json`, `objects/configmaps/default_app.json`): ConfigMaps and
//! Secrets, which the pods and workloads created through the API endpoint resolve their
//! references against; Namespaces made through it; and the kinds a cluster takes that tandem
//! keeps without acting on them (ServiceAccounts, RBAC, Ingresses, …). Made, changed and deleted
//! through the API endpoint.

use std::path::PathBuf;

use serde_json::{json, Value};
use tandem_apiserver::{Resource, StoredKind};
use tandem_supervisor::statedir::{kept_file, write_atomic, Store};

/// The kinds kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kept {
    ConfigMaps,
    Secrets,
    Namespaces,
    Stored(StoredKind),
}

impl Kept {
    /// The kept kind a resource is, if it is one.
    pub fn of(resource: Resource) -> Option<Kept> {
        match resource {
            Resource::ConfigMaps => Some(Kept::ConfigMaps),
            Resource::Secrets => Some(Kept::Secrets),
            Resource::Namespaces => Some(Kept::Namespaces),
            Resource::Stored(k) => Some(Kept::Stored(k)),
            _ => None,
        }
    }

    pub fn resource(self) -> Resource {
        match self {
            Kept::ConfigMaps => Resource::ConfigMaps,
            Kept::Secrets => Resource::Secrets,
            Kept::Namespaces => Resource::Namespaces,
            Kept::Stored(k) => Resource::Stored(k),
        }
    }

    /// Every kept kind.
    pub fn all() -> impl Iterator<Item = Kept> {
        [Kept::ConfigMaps, Kept::Secrets, Kept::Namespaces]
            .into_iter()
            .chain(StoredKind::ALL.into_iter().map(Kept::Stored))
    }

    /// The kind's directory: its plural, qualified by its group (`roles.rbac.authorization.k8s.io`).
    fn resource_dir(self) -> String {
        let r = self.resource();
        match r.group() {
            "" => r.plural().to_string(),
            g => format!("{}.{g}", r.plural()),
        }
    }

    fn dir(self, store: &Store) -> PathBuf {
        store.objects.join(self.resource_dir())
    }

    /// Where an object of this kind is kept (`namespace` empty for a cluster-scoped kind).
    pub fn path(self, store: &Store, namespace: &str, name: &str) -> PathBuf {
        kept_file(&store.objects, &self.resource_dir(), namespace, name)
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

/// `object` (named `source` in findings) loaded as `run` loads a manifest: validated, defaulted
/// and planned, its references resolved against the ConfigMaps and Secrets kept in `namespace`,
/// as the API server's would be.
pub(crate) fn load_with_references(
    store: &Store,
    namespace: &str,
    source: String,
    object: &Value,
    unknown_fields: tandem_api::UnknownFields,
) -> Result<tandem_api::Loaded, tandem_api::diag::Diagnostics> {
    let mut sources = vec![tandem_api::Source::new(source, object.to_string())];
    for (i, r) in in_namespace(store, namespace).into_iter().enumerate() {
        sources.push(tandem_api::Source::new(
            format!("reference-{i}.json"),
            r.to_string(),
        ));
    }
    tandem_api::load(
        &sources,
        &tandem_api::PlanOptions {
            node_name: super::start::node_name(),
            uid: Some(super::start::random_uid()),
            claims_dir: Some(store.volumes.display().to_string()),
            unknown_fields,
            ..Default::default()
        },
    )
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

/// A Secret's `stringData` folded into its `data`, base64-encoded, and its type Opaque when it
/// names none, as the API server does.
pub(crate) fn secret_defaults(secret: &mut Value) {
    use base64::Engine as _;
    if secret["type"].as_str().is_none_or(str::is_empty) {
        secret["type"] = json!("Opaque");
    }
    let Some(strings) = secret.get("stringData").and_then(Value::as_object).cloned() else {
        return;
    };
    let mut data = secret["data"].as_object().cloned().unwrap_or_default();
    for (k, v) in strings {
        let text = v.as_str().unwrap_or_default();
        data.insert(
            k,
            json!(base64::engine::general_purpose::STANDARD.encode(text)),
        );
    }
    secret["data"] = Value::Object(data);
    if let Some(o) = secret.as_object_mut() {
        o.remove("stringData");
    }
}

/// What keeping an object of a file did, in kubectl apply's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created,
    Configured,
    Unchanged,
}

impl Outcome {
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Configured => "configured",
            Outcome::Unchanged => "unchanged",
        }
    }
}

/// Keeps a ConfigMap or Secret of manifest files (`run`, `apply`) as the API endpoint keeps one
/// — a Secret's `stringData` folded into `data`, the identity of one kept already kept — so the
/// containers that read it when they are created find it. Returns `kind/name` and what it did;
/// the data of an `immutable` one may not change.
pub(crate) fn keep_from_file(store: &Store, object: &Value) -> anyhow::Result<(String, Outcome)> {
    let kind = match object["kind"].as_str() {
        Some("ConfigMap") => Kept::ConfigMaps,
        Some("Secret") => Kept::Secrets,
        other => anyhow::bail!("{other:?} is not a ConfigMap or Secret"),
    };
    let name = object["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let namespace = object["metadata"]["namespace"]
        .as_str()
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_string();
    let mut object = object.clone();
    if kind == Kept::Secrets {
        secret_defaults(&mut object);
    }
    let path = kind.path(store, &namespace, &name);
    let old: Option<Value> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let compared = ["data", "binaryData", "type", "immutable"];
    let (uid, created, outcome) = match &old {
        None => (
            json!(super::start::random_uid()),
            serde_json::to_value(super::start::now_time())?,
            Outcome::Created,
        ),
        Some(old) => {
            let data_changed = ["data", "binaryData"].iter().any(|f| object[*f] != old[*f]);
            if old["immutable"] == true && data_changed {
                anyhow::bail!(
                    "{}/{name} is immutable: its data may not change (delete it and create it again)",
                    kind.resource().singular()
                );
            }
            let same = compared.iter().all(|f| object[*f] == old[*f])
                && ["labels", "annotations"]
                    .iter()
                    .all(|f| object["metadata"][*f] == old["metadata"][*f]);
            let meta = &old["metadata"];
            let outcome = if same {
                Outcome::Unchanged
            } else {
                Outcome::Configured
            };
            (
                meta["uid"].clone(),
                meta["creationTimestamp"].clone(),
                outcome,
            )
        }
    };
    let meta = &mut object["metadata"];
    meta["uid"] = uid;
    meta["creationTimestamp"] = created;
    meta["namespace"] = json!(namespace);
    if outcome != Outcome::Unchanged {
        put(store, kind, &namespace, &name, &object)?;
    }
    Ok((format!("{}/{name}", kind.resource().singular()), outcome))
}
