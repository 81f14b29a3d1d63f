//! What the API server's admission does to a Pod as it is created, after its defaults and
//! before its validation: the ServiceAccount admission plugin
//! (`plugin/pkg/admission/serviceaccount`), docs/kubelet-rules.md §6.10. The pod's account must
//! exist; unless `automountServiceAccountToken: false` (the pod's, else its account's) says
//! otherwise, every container and init container that has no mount at
//! `/var/run/secrets/kubernetes.io/serviceaccount` gets one there, read-only, of a projected
//! volume `kube-api-access-XXXXX`: a token of the account (`token`), the cluster's CA
//! (`ca.crt`, from the `kube-root-ca.crt` ConfigMap) and the pod's namespace (`namespace`). A
//! pod that names no `imagePullSecrets` gets its account's.
//!
//! Only a Pod is admitted: a workload's template is stored as written, and each pod made from it
//! is admitted when it is made.

use k8s_openapi::api::core::v1::{
    ConfigMapProjection, DownwardAPIProjection, DownwardAPIVolumeFile, KeyToPath,
    LocalObjectReference, ObjectFieldSelector, Pod, ProjectedVolumeSource,
    ServiceAccountTokenProjection, Volume, VolumeMount, VolumeProjection,
};

use crate::cx::Cx;
use crate::names;
use crate::objects::{Store, ROOT_CA_CONFIG_MAP, ROOT_CA_KEY};
use crate::path::FieldPath;

/// Where every container finds its account's token, the CA and its namespace.
pub(crate) const TOKEN_MOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The volume's name before its five generated characters.
const TOKEN_VOLUME_PREFIX: &str = "kube-api-access-";

/// The lifetime the plugin asks for: an hour and seven seconds, the odd number by which the
/// API server knows a token of this volume (one it may let live longer, warning when used late).
const TOKEN_EXPIRATION_SECONDS: i64 = 3607;

/// The annotation of a static pod's mirror, which the plugin leaves as it is.
const MIRROR_POD_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Admits `pod` (defaulted, with its uid) as the ServiceAccount plugin does: an account that
/// does not exist is an error at `spec.serviceAccountName`, in the API server's words; the
/// token volume's name is generated from the pod's uid, as a name from `generateName` is.
pub(crate) fn service_account(cx: &mut Cx<'_>, pod: &mut Pod, store: &Store, uid: &str) {
    let annotations = pod.metadata.annotations.as_ref();
    if annotations.is_some_and(|a| a.contains_key(MIRROR_POD_ANNOTATION)) {
        return;
    }
    let namespace = crate::objects::namespace_of(&pod.metadata);
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let Some(spec) = pod.spec.as_mut() else {
        return;
    };
    let account = spec.service_account_name.clone().unwrap_or_default();
    let Some(found) = store.service_account(&namespace, &account) else {
        cx.refuse(
            &FieldPath::root().field("spec").field("serviceAccountName"),
            format!(
                "pods {pod_name:?} is forbidden: error looking up service account {namespace}/{account}: serviceaccount {account:?} not found"
            ),
            format!(
                "create it first (a ServiceAccount in the same file, or `kubectl create serviceaccount {account} -n {namespace}` through `tandem serve`), or leave serviceAccountName out for the namespace's `default`"
            ),
        );
        return;
    };
    // A pod that names no pull secrets pulls with its account's.
    if spec.image_pull_secrets.as_ref().is_none_or(Vec::is_empty)
        && !found.image_pull_secrets.is_empty()
    {
        let names = found.image_pull_secrets.iter();
        let refs = names.map(|name| LocalObjectReference { name: name.clone() });
        spec.image_pull_secrets = Some(refs.collect());
    }
    let automount = spec
        .automount_service_account_token
        .or(found.automount)
        .unwrap_or(true);
    if !automount {
        return;
    }
    let existing = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.clone())
        .find(|n| n.starts_with(TOKEN_VOLUME_PREFIX));
    let volume = existing
        .clone()
        .unwrap_or_else(|| names::generated(TOKEN_VOLUME_PREFIX, uid));
    let mut mounted = false;
    let containers = spec
        .init_containers
        .iter_mut()
        .flatten()
        .chain(spec.containers.iter_mut());
    for c in containers {
        let mounts = c.volume_mounts.get_or_insert_with(Vec::new);
        if mounts.iter().any(|m| m.mount_path == TOKEN_MOUNT_PATH) {
            continue;
        }
        mounts.push(VolumeMount {
            name: volume.clone(),
            mount_path: TOKEN_MOUNT_PATH.into(),
            read_only: Some(true),
            ..Default::default()
        });
        mounted = true;
    }
    if mounted && existing.is_none() {
        spec.volumes.get_or_insert_with(Vec::new).push(Volume {
            name: volume,
            projected: Some(token_volume()),
            ..Default::default()
        });
    }
}

/// The projected volume the plugin adds (`TokenVolumeSource`), its mode written out as the
/// plugin writes it.
fn token_volume() -> ProjectedVolumeSource {
    ProjectedVolumeSource {
        default_mode: Some(crate::defaults::DEFAULT_FILE_MODE),
        sources: Some(vec![
            VolumeProjection {
                service_account_token: Some(ServiceAccountTokenProjection {
                    path: "token".into(),
                    expiration_seconds: Some(TOKEN_EXPIRATION_SECONDS),
                    ..Default::default()
                }),
                ..Default::default()
            },
            VolumeProjection {
                config_map: Some(ConfigMapProjection {
                    name: ROOT_CA_CONFIG_MAP.into(),
                    items: Some(vec![KeyToPath {
                        key: ROOT_CA_KEY.into(),
                        path: ROOT_CA_KEY.into(),
                        ..Default::default()
                    }]),
                    optional: None,
                }),
                ..Default::default()
            },
            VolumeProjection {
                downward_api: Some(DownwardAPIProjection {
                    items: Some(vec![DownwardAPIVolumeFile {
                        path: "namespace".into(),
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".into()),
                            field_path: "metadata.namespace".into(),
                        }),
                        ..Default::default()
                    }]),
                }),
                ..Default::default()
            },
        ]),
        ..Default::default()
    }
}
