//! ConfigMaps, Secrets and ServiceAccounts given alongside the pods (or kept by the store from
//! before): validated, then kept for reference resolution and for pods' admission.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::ByteString;

use crate::cx::Cx;
use crate::names;
use crate::path::FieldPath;
use crate::yaml::Pos;

#[derive(Debug, Clone, Default)]
pub(crate) struct ConfigMapData {
    /// `data`: what env references see.
    pub data: BTreeMap<String, String>,
    /// `binaryData`: files only.
    pub binary: BTreeMap<String, Vec<u8>>,
}

impl ConfigMapData {
    fn of(data: BTreeMap<String, String>, binary: BTreeMap<String, ByteString>) -> Self {
        ConfigMapData {
            data,
            binary: binary.into_iter().map(|(k, v)| (k, v.0)).collect(),
        }
    }

    /// Every key as file content (`data` and `binaryData`, sorted by key).
    pub(crate) fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let text = self
            .data
            .iter()
            .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()));
        text.chain(self.binary.clone()).collect()
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SecretData {
    /// `data` (decoded) with `stringData` merged over it.
    pub data: BTreeMap<String, Vec<u8>>,
    /// `type` (e.g. `kubernetes.io/dockerconfigjson`).
    pub kind: Option<String>,
}

impl SecretData {
    fn of(secret: Secret) -> Self {
        let mut data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        for (k, v) in secret.string_data.unwrap_or_default() {
            data.insert(k, v.into_bytes());
        }
        SecretData {
            data,
            kind: secret.type_,
        }
    }
}

/// Where an object was defined, for "defined twice" messages.
#[derive(Debug, Clone)]
struct Origin {
    file: String,
    pos: Pos,
}

/// What a pod's admission reads of its ServiceAccount.
#[derive(Debug, Clone, Default)]
pub(crate) struct AccountData {
    /// `automountServiceAccountToken`.
    pub automount: Option<bool>,
    /// `imagePullSecrets`: the names of Secrets its pods pull with when they name none.
    pub image_pull_secrets: Vec<String>,
}

impl AccountData {
    fn of(sa: &ServiceAccount) -> AccountData {
        AccountData {
            automount: sa.automount_service_account_token,
            image_pull_secrets: sa
                .image_pull_secrets
                .iter()
                .flatten()
                .map(|r| r.name.clone())
                .collect(),
        }
    }
}

/// The ConfigMap the root-ca-cert-publisher controller keeps in every namespace, and the key
/// of the CA's certificate in it.
pub const ROOT_CA_CONFIG_MAP: &str = "kube-root-ca.crt";
pub const ROOT_CA_KEY: &str = "ca.crt";

/// The ServiceAccount the serviceaccounts controller keeps in every namespace.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";

#[derive(Debug, Default)]
pub(crate) struct Store {
    config_maps: HashMap<(String, String), (ConfigMapData, Origin)>,
    secrets: HashMap<(String, String), (SecretData, Origin)>,
    service_accounts: HashMap<(String, String), (AccountData, Origin)>,
    /// Every namespace's `kube-root-ca.crt`, when the store has a CA (`PlanOptions::api_access`).
    root_ca: Option<ConfigMapData>,
}

impl Store {
    /// A ConfigMap of the sources or the store; `kube-root-ca.crt` in every namespace of a store
    /// with a CA, as the root-ca-cert-publisher controller keeps it.
    pub(crate) fn config_map(&self, namespace: &str, name: &str) -> Option<&ConfigMapData> {
        self.config_maps
            .get(&(namespace.to_string(), name.to_string()))
            .map(|(d, _)| d)
            .or_else(|| self.root_ca.as_ref().filter(|_| name == ROOT_CA_CONFIG_MAP))
    }

    /// The store's CA, published in every namespace.
    pub(crate) fn publish_root_ca(&mut self, pem: &str) {
        let data = BTreeMap::from([(ROOT_CA_KEY.to_string(), pem.to_string())]);
        self.root_ca = Some(ConfigMapData::of(data, BTreeMap::new()));
    }

    /// A ServiceAccount of the sources or the store; `default` in every namespace, as the
    /// serviceaccounts controller keeps it.
    pub(crate) fn service_account(&self, namespace: &str, name: &str) -> Option<AccountData> {
        let found = self
            .service_accounts
            .get(&(namespace.to_string(), name.to_string()))
            .map(|(d, _)| d.clone());
        found.or_else(|| (name == DEFAULT_SERVICE_ACCOUNT).then(AccountData::default))
    }

    /// Adds a ConfigMap or Secret kept from before (checked when it was kept), unless the
    /// sources define one of its name.
    pub(crate) fn keep(&mut self, object: &serde_json::Value) {
        let origin = || Origin {
            file: "(kept in the store)".into(),
            pos: Pos::default(),
        };
        match object["kind"].as_str() {
            Some("ConfigMap") => {
                let Ok(cm) = serde_json::from_value::<ConfigMap>(object.clone()) else {
                    return;
                };
                let id = (
                    namespace_of(&cm.metadata),
                    cm.metadata.name.clone().unwrap_or_default(),
                );
                let data = ConfigMapData::of(
                    cm.data.unwrap_or_default(),
                    cm.binary_data.unwrap_or_default(),
                );
                self.config_maps
                    .entry(id)
                    .or_insert_with(|| (data, origin()));
            }
            Some("Secret") => {
                let Ok(secret) = serde_json::from_value::<Secret>(object.clone()) else {
                    return;
                };
                let id = (
                    namespace_of(&secret.metadata),
                    secret.metadata.name.clone().unwrap_or_default(),
                );
                let data = SecretData::of(secret);
                self.secrets.entry(id).or_insert_with(|| (data, origin()));
            }
            Some("ServiceAccount") => {
                let Ok(sa) = serde_json::from_value::<ServiceAccount>(object.clone()) else {
                    return;
                };
                let id = (
                    namespace_of(&sa.metadata),
                    sa.metadata.name.clone().unwrap_or_default(),
                );
                let data = AccountData::of(&sa);
                self.service_accounts
                    .entry(id)
                    .or_insert_with(|| (data, origin()));
            }
            _ => {}
        }
    }

    pub(crate) fn secret(&self, namespace: &str, name: &str) -> Option<&SecretData> {
        self.secrets
            .get(&(namespace.to_string(), name.to_string()))
            .map(|(d, _)| d)
    }
}

pub(crate) fn namespace_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| crate::DEFAULT_NAMESPACE.to_string())
}

/// The most bytes an object's annotations may hold together (the API server's
/// `TotalAnnotationSizeLimitB`, 256 KiB).
const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Validates the metadata shared by every kind; returns the (namespace, name) when usable.
pub(crate) fn validate_metadata(
    cx: &mut Cx<'_>,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<(String, String)> {
    let m = FieldPath::root().field("metadata");
    let name = meta.name.clone().unwrap_or_default();
    let mut ok = true;
    if name.is_empty() {
        ok = false;
        // (A `generateName` has given the object its name by now, as the API server does.)
        cx.error_hint(
            &m.field("name"),
            "metadata.name is required",
            "add `metadata: {name: my-object}`, or `generateName: my-object-` for a name made for it",
        );
    } else if let Some(msg) = names::dns1123_subdomain(&name) {
        ok = false;
        cx.error(&m.field("name"), format!("invalid name {name:?}: {msg}"));
    }
    if let Some(ns) = meta.namespace.as_deref().filter(|n| !n.is_empty()) {
        if let Some(msg) = names::dns1123_label(ns) {
            ok = false;
            cx.error(
                &m.field("namespace"),
                format!("invalid namespace {ns:?}: {msg}"),
            );
        }
    }
    for (k, v) in meta.labels.iter().flatten() {
        let p = m.field("labels").key(k);
        if let Some(msg) = names::qualified_name(k) {
            cx.error(&p, format!("invalid label key {k:?}: {msg}"));
        }
        if let Some(msg) = names::label_value(v) {
            cx.error(&p, format!("invalid value {v:?} for label {k:?}: {msg}"));
        }
    }
    for k in meta.annotations.iter().flatten().map(|(k, _)| k) {
        if let Some(msg) = names::qualified_name(k) {
            let p = m.field("annotations").key(k);
            cx.error(&p, format!("invalid annotation key {k:?}: {msg}"));
        }
    }
    // All annotations together, keys and values (`ValidateAnnotationsSize`).
    let size: usize = meta
        .annotations
        .iter()
        .flatten()
        .map(|(k, v)| k.len() + v.len())
        .sum();
    if size > ANNOTATIONS_MAX_BYTES {
        cx.error(
            &m.field("annotations"),
            format!("annotations are {size} bytes together: may not be more than {ANNOTATIONS_MAX_BYTES} bytes"),
        );
    }
    ok.then(|| (namespace_of(meta), name))
}

fn check_keys<'k>(cx: &mut Cx<'_>, field: &str, keys: impl Iterator<Item = &'k String>) {
    for k in keys {
        if let Some(msg) = names::config_key(k) {
            cx.error(
                &FieldPath::root().field(field).key(k),
                format!("invalid key {k:?}: {msg}"),
            );
        }
    }
}

pub(crate) fn add_config_map(cx: &mut Cx<'_>, store: &mut Store, cm: ConfigMap) {
    let id = validate_metadata(cx, &cm.metadata);
    let data = cm.data.unwrap_or_default();
    let binary = cm.binary_data.unwrap_or_default();
    check_keys(cx, "data", data.keys());
    check_keys(cx, "binaryData", binary.keys());
    for k in binary.keys().filter(|k| data.contains_key(*k)) {
        cx.error(
            &FieldPath::root().field("binaryData").key(k),
            format!("key {k:?} is in both data and binaryData"),
        );
    }
    let Some(id) = id else { return };
    if let Some(origin) = first_definition(cx, "ConfigMap", &store.config_maps, &id) {
        store
            .config_maps
            .insert(id, (ConfigMapData::of(data, binary), origin));
    }
}

/// Where this object is defined, when it is the first of its kind and name; a second one is
/// reported with where the first was.
fn first_definition<T>(
    cx: &mut Cx<'_>,
    kind: &str,
    defined: &HashMap<(String, String), (T, Origin)>,
    id: &(String, String),
) -> Option<Origin> {
    if let Some((_, first)) = defined.get(id) {
        let msg = format!(
            "{kind} {}/{} is defined twice (first at {}:{})",
            id.0, id.1, first.file, first.pos.line
        );
        cx.error(&FieldPath::root().field("metadata").field("name"), msg);
        return None;
    }
    Some(Origin {
        file: cx.file.to_string(),
        pos: cx.root.pos,
    })
}

pub(crate) fn add_service_account(cx: &mut Cx<'_>, store: &mut Store, sa: ServiceAccount) {
    let Some(id) = validate_metadata(cx, &sa.metadata) else {
        return;
    };
    let Some(origin) = first_definition(cx, "ServiceAccount", &store.service_accounts, &id) else {
        return;
    };
    store
        .service_accounts
        .insert(id, (AccountData::of(&sa), origin));
}

pub(crate) fn add_secret(cx: &mut Cx<'_>, store: &mut Store, secret: Secret) {
    let id = validate_metadata(cx, &secret.metadata);
    check_keys(cx, "data", secret.data.iter().flatten().map(|(k, _)| k));
    check_keys(
        cx,
        "stringData",
        secret.string_data.iter().flatten().map(|(k, _)| k),
    );
    let Some(id) = id else { return };
    if let Some(origin) = first_definition(cx, "Secret", &store.secrets, &id) {
        store.secrets.insert(id, (SecretData::of(secret), origin));
    }
}
