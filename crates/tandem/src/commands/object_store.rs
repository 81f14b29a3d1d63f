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

    /// A kept kind's object as written in a file: its kind (by apiVersion and kind), namespace
    /// (`default` when not written; empty for a cluster-scoped kind) and name.
    pub fn identity(object: &Value) -> Option<(Kept, String, String)> {
        let meta = &object["metadata"];
        let api_version = object["apiVersion"].as_str()?;
        let kind = Kept::of(Resource::of_kind(api_version, object["kind"].as_str()?)?)?;
        let namespace = match kind.resource().namespaced() {
            true => meta["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or("default"),
            false => "",
        };
        let name = meta["name"].as_str().unwrap_or_default();
        Some((kind, namespace.to_string(), name.to_string()))
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
/// and planned, its references resolved against the ConfigMaps and Secrets kept in `namespace`
/// and a pod admitted against the ServiceAccounts kept (with `access`), as the API server's
/// would be.
pub(crate) fn load_with_references(
    store: &Store,
    namespace: &str,
    source: String,
    object: &Value,
    unknown_fields: tandem_api::UnknownFields,
    access: Option<tandem_api::ApiAccess>,
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
            kept: list(store, Kept::Stored(StoredKind::ServiceAccount)),
            api_access: access,
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

/// Keeps a ConfigMap, Secret, ServiceAccount or RBAC object of manifest files (`run`, `apply`)
/// as the API endpoint keeps one — a Secret's `stringData` folded into `data`, the identity of
/// one kept already kept — so the containers that read it when they are created find it, the
/// pods that name the account are admitted, and `serve` authorizes by the RBAC. Returns
/// `kind/name` and what it did; the data of an `immutable` one may not change.
pub(crate) fn keep_from_file(store: &Store, object: &Value) -> anyhow::Result<(String, Outcome)> {
    let Some((kind, namespace, name)) = Kept::identity(object) else {
        anyhow::bail!("{:?} is not a kind the store keeps", object["kind"]);
    };
    let mut object = object.clone();
    if kind == Kept::Secrets {
        secret_defaults(&mut object);
    }
    let path = kind.path(store, &namespace, &name);
    let old: Option<Value> = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    // What an object holds besides its metadata: a ConfigMap's or Secret's data, type and
    // immutability, every other kind's fields (a ServiceAccount's, a Role's rules, …).
    let compared: Vec<String> = match kind {
        Kept::ConfigMaps | Kept::Secrets => ["data", "binaryData", "type", "immutable"]
            .map(String::from)
            .to_vec(),
        _ => [&object, old.as_ref().unwrap_or(&Value::Null)]
            .into_iter()
            .filter_map(Value::as_object)
            .flat_map(|o| o.keys().cloned())
            .filter(|k| !["apiVersion", "kind", "metadata"].contains(&k.as_str()))
            .collect(),
    };
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
            let same = compared
                .iter()
                .all(|f| object[f.as_str()] == old[f.as_str()])
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
    if !namespace.is_empty() {
        meta["namespace"] = json!(namespace);
    }
    if outcome != Outcome::Unchanged {
        put(store, kind, &namespace, &name, &object)?;
    }
    Ok((format!("{}/{name}", kind.resource().printed()), outcome))
}

/// A namespace's `default` ServiceAccount as the serviceaccounts controller makes it, as old as
/// its namespace (`created`): its uid derived from both, so that the object the API endpoint
/// shows before it is kept ([`keep_namespace_defaults`]) is the one kept.
pub(crate) fn default_account(namespace: &str, created: &str) -> Value {
    let name = tandem_api::DEFAULT_SERVICE_ACCOUNT;
    json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": tandem_api::derive_uid(&["ServiceAccount", namespace, name, created]),
            "creationTimestamp": created,
        },
    })
}

/// When the store began, for the age of the namespaces and the node: the earliest of its pods
/// directory and `serve`'s (made by `serve`, or for the CA by the first pod), else now.
pub(crate) fn store_created(store: &Store) -> String {
    let us = [&store.pods, &store.serve]
        .into_iter()
        .filter_map(|dir| std::fs::metadata(dir).ok())
        .filter_map(|m| m.created().or_else(|_| m.modified()).ok())
        .min()
        .unwrap_or_else(std::time::SystemTime::now)
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64);
    let s = tandem_supervisor::logs::rfc3339_nano(us - us % 1_000_000);
    // Seconds only, as metav1.Time is written.
    match s.split_once('.') {
        Some((whole, _)) => format!("{whole}Z"),
        None => s,
    }
}

/// Whether `namespace` is being deleted (kept with a `deletionTimestamp`).
pub(crate) fn namespace_terminating(store: &Store, namespace: &str) -> bool {
    list(store, Kept::Namespaces).iter().any(|n| {
        n["metadata"]["name"] == namespace && !n["metadata"]["deletionTimestamp"].is_null()
    })
}

/// What pods need of the store to reach its API endpoint (`tandem_api::PlanOptions::api_access`):
/// its CA, made now if the store has none yet, and where its token key is kept.
pub(crate) fn api_access(store: &Store) -> anyhow::Result<tandem_api::ApiAccess> {
    use anyhow::Context as _;
    let root_ca = tandem_apiserver::pki::root_ca(&store.serve)
        .with_context(|| format!("cannot make the store's CA in {}", store.serve.display()))?;
    Ok(tandem_api::ApiAccess {
        token_key: tandem_apiserver::pki::token_key_path(&store.serve)
            .display()
            .to_string(),
        root_ca,
    })
}

/// What every namespace has on a cluster, kept as its controllers keep it, before a pod of
/// `namespace` that reaches the API starts: its `default` ServiceAccount (the serviceaccounts
/// controller's: a pod's token names an account that stays) and `kube-root-ca.crt` (the
/// root-ca-cert-publisher's: the pod's `ca.crt` is resynced from it). Kept ones stay as they are.
pub(crate) fn keep_namespace_defaults(store: &Store, namespace: &str) -> anyhow::Result<()> {
    let account = Kept::Stored(StoredKind::ServiceAccount);
    let name = tandem_api::DEFAULT_SERVICE_ACCOUNT;
    if !account.path(store, namespace, name).exists() {
        let made = list(store, Kept::Namespaces);
        let since = made
            .iter()
            .find(|m| m["metadata"]["name"] == namespace)
            .and_then(|m| {
                m["metadata"]["creationTimestamp"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_else(|| store_created(store));
        put(
            store,
            account,
            namespace,
            name,
            &default_account(namespace, &since),
        )?;
    }
    let ca = tandem_api::ROOT_CA_CONFIG_MAP;
    if !Kept::ConfigMaps.path(store, namespace, ca).exists() {
        let object = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": ca,
                "namespace": namespace,
                "uid": super::start::random_uid(),
                "creationTimestamp": super::start::now_time(),
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."},
            },
            "data": {tandem_api::ROOT_CA_KEY: api_access(store)?.root_ca},
        });
        put(store, Kept::ConfigMaps, namespace, ca, &object)?;
    }
    Ok(())
}
