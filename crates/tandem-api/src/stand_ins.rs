//! Volume sources that cannot exist on one machine — network and cloud disks, CSI and FlexVolume
//! drivers, generic ephemeral volumes: checked as the API server checks them, then run with an
//! empty directory per pod standing in for each (as a claim's directory stands in for a
//! PersistentVolumeClaim), so the rest of the pod runs. With `strict` such a pod is refused.
//!
//! The rules are the API server's (`validateVolumeSource` and the functions it calls in
//! kubernetes/kubernetes pkg/apis/core/validation/validation.go), reported at the field paths it
//! reports, quirks included (`iscsi.initiatorname`).
//!
//! Never: materialises a disk, mounts a network share or runs a driver.

use serde_json::Value;

use crate::cx::{enumerated, Cx};
use crate::names;
use crate::path::FieldPath;
use crate::quantity::parse_quantity;

/// The volume sources an empty directory stands in for, as the API names them.
pub(crate) const SOURCES: &[&str] = &[
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
];

/// Fields each source must have, non-empty.
const REQUIRED: &[(&str, &[&str])] = &[
    ("gcePersistentDisk", &["pdName"]),
    ("awsElasticBlockStore", &["volumeID"]),
    ("gitRepo", &["repository"]),
    ("nfs", &["server", "path"]),
    ("iscsi", &["targetPortal", "iqn"]),
    ("glusterfs", &["endpoints", "path"]),
    ("rbd", &["monitors", "image"]),
    ("flexVolume", &["driver"]),
    ("cinder", &["volumeID"]),
    ("cephfs", &["monitors"]),
    ("azureFile", &["secretName", "shareName"]),
    ("vsphereVolume", &["volumePath"]),
    ("quobyte", &["registry", "volume"]),
    ("azureDisk", &["diskName", "diskURI"]),
    ("photonPersistentDisk", &["pdID"]),
    ("portworxVolume", &["volumeID"]),
    ("scaleIO", &["gateway", "system", "volumeName"]),
    ("csi", &["driver"]),
    ("ephemeral", &["volumeClaimTemplate"]),
];

/// The source of `volume` an empty directory stands in for, if it has one.
pub(crate) fn source_of(volume: &Value) -> Option<&'static str> {
    SOURCES
        .iter()
        .copied()
        .find(|s| volume.get(*s).is_some_and(|v| !v.is_null()))
}

/// The API server's checks of a stood-in source; `volume` is the volume as JSON, `p` its path.
pub(crate) fn check(cx: &mut Cx<'_>, volume: &Value, p: &FieldPath) {
    let Some(source) = source_of(volume) else {
        return;
    };
    let s = &volume[source];
    let at = p.field(source);
    for (_, fields) in REQUIRED.iter().filter(|(name, _)| *name == source) {
        for f in *fields {
            if is_empty(&s[*f]) {
                cx.error(&at.field(f), format!("{source}.{f} is required"));
            }
        }
    }
    match source {
        "gcePersistentDisk" | "awsElasticBlockStore" => {
            if let Some(n) = s["partition"].as_i64() {
                if !(0..=255).contains(&n) {
                    cx.error(
                        &at.field("partition"),
                        "partition must be between 0 and 255",
                    );
                }
            }
        }
        "gitRepo" => {
            if let Some(msg) = s["directory"]
                .as_str()
                .and_then(names::local_descending_path)
            {
                cx.error(&at.field("directory"), msg);
            }
        }
        "nfs"
            if s["path"]
                .as_str()
                .is_some_and(|x| !x.is_empty() && !x.starts_with('/')) =>
        {
            cx.error(&at.field("path"), "nfs.path must be an absolute path");
        }
        "iscsi" => iscsi(cx, s, &at),
        "flexVolume" => {
            for key in s["options"].as_object().into_iter().flat_map(|o| o.keys()) {
                let prefix = key.split_once('/').map_or(key.as_str(), |(ns, _)| ns);
                let dotted = format!(".{}", prefix.to_ascii_lowercase());
                if dotted.ends_with(".kubernetes.io") || dotted.ends_with(".k8s.io") {
                    cx.error(
                        &at.field("options").key(key),
                        "kubernetes.io and k8s.io namespaces are reserved",
                    );
                }
            }
        }
        "cinder" | "storageos" => secret_ref_named(cx, &s["secretRef"], &at.field("secretRef")),
        "flocker" => {
            let name = s["datasetName"].as_str().unwrap_or_default();
            let uuid = s["datasetUUID"].as_str().unwrap_or_default();
            match (name.is_empty(), uuid.is_empty()) {
                (true, true) => cx.error(
                    &at,
                    "one of flocker.datasetName and datasetUUID is required",
                ),
                (false, false) => cx.error(
                    &at,
                    "only one of flocker.datasetName and datasetUUID may be set",
                ),
                _ => {}
            }
            if name.contains('/') {
                cx.error(&at.field("datasetName"), "datasetName must not contain '/'");
            }
        }
        "fc" => fibre_channel(cx, s, &at),
        "quobyte" => {
            let registry = s["registry"].as_str().unwrap_or_default();
            if !registry.is_empty() && registry.split(',').any(|pair| !host_port(pair)) {
                cx.error(
                    &at.field("registry"),
                    "quobyte.registry must be a host:port pair or several separated by commas",
                );
            }
            if s["tenant"].as_str().is_some_and(|t| t.len() > 65) {
                cx.error(
                    &at.field("tenant"),
                    "quobyte.tenant must be a UUID and may not exceed 65 characters",
                );
            }
        }
        "azureDisk" => azure_disk(cx, s, &at),
        "scaleIO" if s["secretRef"].is_null() => {
            cx.error(&at.field("secretRef"), "scaleIO.secretRef is required");
        }
        "csi" => {
            let driver = s["driver"].as_str().unwrap_or_default();
            if driver.len() > 63 {
                cx.error(
                    &at.field("driver"),
                    "csi.driver must be no more than 63 characters",
                );
            } else if !driver.is_empty() {
                if let Some(msg) = names::dns1123_subdomain(&driver.to_ascii_lowercase()) {
                    cx.error(
                        &at.field("driver"),
                        format!("invalid CSI driver name: {msg}"),
                    );
                }
            }
            let secret = &s["nodePublishSecretRef"];
            if !secret.is_null() {
                let name = secret["name"].as_str().unwrap_or_default();
                let np = at.field("nodePublishSecretRef").field("name");
                if name.is_empty() {
                    cx.error(&np, "nodePublishSecretRef.name is required");
                } else if let Some(msg) = names::dns1123_subdomain(name) {
                    cx.error(&np, msg);
                }
            }
        }
        "ephemeral" => {
            let template = &s["volumeClaimTemplate"];
            if !template.is_null() {
                claim_template(cx, template, &at.field("volumeClaimTemplate"));
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn secret_ref_named(cx: &mut Cx<'_>, secret: &Value, at: &FieldPath) {
    if !secret.is_null() && is_empty(&secret["name"]) {
        cx.error(&at.field("name"), "secretRef.name is required");
    }
}

/// `host:port`, as Go's `net.SplitHostPort` takes it (a bracketed IPv6 host included).
fn host_port(s: &str) -> bool {
    match s.strip_prefix('[') {
        Some(rest) => rest
            .split_once("]:")
            .is_some_and(|(_, port)| !port.contains(':')),
        None => s.matches(':').count() == 1,
    }
}

fn iscsi(cx: &mut Cx<'_>, s: &Value, at: &FieldPath) {
    if let Some(iqn) = s["iqn"].as_str().filter(|i| !i.is_empty()) {
        if let Some(msg) = iscsi_name(iqn) {
            cx.error(&at.field("iqn"), msg);
        }
    }
    if let Some(name) = s["initiatorName"].as_str().filter(|i| !i.is_empty()) {
        if let Some(msg) = iscsi_name(name) {
            // The API server's path, lower-cased as it writes it.
            cx.error(&at.field("initiatorname"), msg);
        }
    }
    if let Some(lun) = s["lun"].as_i64() {
        if !(0..=255).contains(&lun) {
            cx.error(&at.field("lun"), "iscsi.lun must be between 0 and 255");
        }
    }
    let chap =
        s["chapAuthDiscovery"] == Value::Bool(true) || s["chapAuthSession"] == Value::Bool(true);
    if chap && s["secretRef"].is_null() {
        cx.error(
            &at.field("secretRef"),
            "CHAP authentication requires secretRef",
        );
    }
}

/// An iSCSI qualified name in one of its three formats (RFC 3720 3.2.6.3), or why not.
fn iscsi_name(name: &str) -> Option<String> {
    let alnum = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_alphanumeric());
    let ok = if let Some(rest) = name.strip_prefix("iqn.") {
        // iqn.YYYY-MM.reversed.domain:optional-name
        let b = rest.as_bytes();
        let date = b.len() > 8
            && b[..4].iter().all(u8::is_ascii_digit)
            && b[4] == b'-'
            && b[5..7].iter().all(u8::is_ascii_digit)
            && b[7] == b'.';
        date && {
            let tail = &rest[8..];
            let (domain, unique) = tail
                .split_once(':')
                .map_or((tail, None), |(d, u)| (d, Some(u)));
            !domain.is_empty()
                && domain
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
                && unique.is_none_or(|u| {
                    !u.is_empty()
                        && !u
                            .bytes()
                            .any(|c| b",;*&$|".contains(&c) || c.is_ascii_whitespace())
                })
        }
    } else if let Some(rest) = name.strip_prefix("eui.") {
        alnum(rest, 16)
    } else if let Some(rest) = name.strip_prefix("naa.") {
        alnum(rest, 32)
    } else {
        return Some("must be valid format starting with iqn, eui, or naa".into());
    };
    (!ok).then(|| format!("{name:?} is not a valid iSCSI qualified name"))
}

fn fibre_channel(cx: &mut Cx<'_>, s: &Value, at: &FieldPath) {
    let wwns = !is_empty(&s["targetWWNs"]);
    let wwids = !is_empty(&s["wwids"]);
    match (wwns, wwids) {
        (false, false) => cx.error(
            &at.field("targetWWNs"),
            "must specify either targetWWNs or wwids, but not both",
        ),
        (true, true) => cx.error(
            &at.field("targetWWNs"),
            "targetWWNs and wwids can not be specified simultaneously",
        ),
        _ => {}
    }
    if wwns {
        match s["lun"].as_i64() {
            None => cx.error(
                &at.field("lun"),
                "lun is required if targetWWNs is specified",
            ),
            Some(lun) if !(0..=255).contains(&lun) => {
                cx.error(&at.field("lun"), "lun must be between 0 and 255")
            }
            Some(_) => {}
        }
    }
}

fn azure_disk(cx: &mut Cx<'_>, s: &Value, at: &FieldPath) {
    if let Some(mode) = s["cachingMode"].as_str() {
        enumerated(
            cx,
            &at.field("cachingMode"),
            "azureDisk.cachingMode",
            mode,
            &["None", "ReadOnly", "ReadWrite"],
        );
    }
    let kind = s["kind"].as_str().unwrap_or("Shared");
    if !enumerated(
        cx,
        &at.field("kind"),
        "azureDisk.kind",
        kind,
        &["Dedicated", "Shared", "Managed"],
    ) {
        return;
    }
    let uri = s["diskURI"].as_str().unwrap_or_default();
    if uri.is_empty() {
        return;
    }
    let https = uri.to_ascii_lowercase().starts_with("https");
    if kind == "Managed" && https {
        cx.error(
            &at.field("diskURI"),
            "a Managed azureDisk's diskURI must be a resource id, not an https URL",
        );
    } else if kind != "Managed" && !https {
        cx.error(
            &at.field("diskURI"),
            "a Shared or Dedicated azureDisk's diskURI must be an https URL",
        );
    }
}

const ACCESS_MODES: &[&str] = &[
    "ReadWriteOnce",
    "ReadOnlyMany",
    "ReadWriteMany",
    "ReadWriteOncePod",
];

/// A generic ephemeral volume's claim template (`ValidatePersistentVolumeClaimTemplate`).
fn claim_template(cx: &mut Cx<'_>, t: &Value, at: &FieldPath) {
    let meta = &t["metadata"];
    let mp = at.field("metadata");
    // Only labels and annotations: the claim's name, owner and the rest are the controller's.
    for (field, path) in [
        ("name", "name"),
        ("namespace", "namespace"),
        ("generateName", "generateName"),
        ("uid", "uID"),
        ("resourceVersion", "resourceVersion"),
        ("generation", "generation"),
        ("creationTimestamp", "creationTimestamp"),
        ("deletionTimestamp", "deletionTimestamp"),
        ("deletionGracePeriodSeconds", "deletionGracePeriodSeconds"),
        ("ownerReferences", "ownerReferences"),
        ("finalizers", "finalizers"),
        ("managedFields", "managedFields"),
    ] {
        // A generation of 0 is the unset one.
        if !(is_empty(&meta[field]) || field == "generation" && meta[field] == 0) {
            cx.error(
                &mp.field(path),
                format!("{field} is not allowed in a claim template"),
            );
        }
    }
    for (key, value) in meta["labels"].as_object().into_iter().flatten() {
        let bad =
            names::qualified_name(key).or_else(|| value.as_str().and_then(names::label_value));
        if let Some(msg) = bad {
            cx.error(&mp.field("labels"), msg);
        }
    }
    for key in meta["annotations"]
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys())
    {
        if let Some(msg) = names::qualified_name(&key.to_ascii_lowercase()) {
            cx.error(&mp.field("annotations"), msg);
        }
    }
    let spec = &t["spec"];
    let sp = at.field("spec");
    let modes: Vec<&str> = spec["accessModes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if modes.is_empty() {
        cx.error(
            &sp.field("accessModes"),
            "at least 1 access mode is required",
        );
    }
    for m in &modes {
        if !ACCESS_MODES.contains(m) {
            enumerated(cx, &sp.field("accessModes"), "accessModes", m, ACCESS_MODES);
        }
    }
    if modes.contains(&"ReadWriteOncePod") && modes.len() > 1 {
        cx.error(
            &sp.field("accessModes"),
            "may not use ReadWriteOncePod with other access modes",
        );
    }
    let storage = &spec["resources"]["requests"]["storage"];
    let rp = sp.field("resources").key("storage");
    match storage.as_str().map(parse_quantity) {
        None => cx.error(&rp, "resources.requests.storage is required"),
        Some(Err(e)) => cx.error(&rp, e.to_string()),
        Some(Ok(q)) if q.is_negative() => cx.error(&rp, "must be greater than or equal to 0"),
        Some(Ok(q)) if q.is_zero() => cx.error(&rp, "must be greater than zero"),
        Some(Ok(_)) => {}
    }
    if let Some(class) = spec["storageClassName"].as_str().filter(|c| !c.is_empty()) {
        if let Some(msg) = names::dns1123_subdomain(class) {
            cx.error(&sp.field("storageClassName"), msg);
        }
    }
    if let Some(mode) = spec["volumeMode"].as_str() {
        enumerated(
            cx,
            &sp.field("volumeMode"),
            "volumeMode",
            mode,
            &["Block", "Filesystem"],
        );
    }
    crate::scheduling::label_selector(cx, &spec["selector"], &sp.field("selector"));
    for field in ["dataSource", "dataSourceRef"] {
        let group = spec[field]["apiGroup"].as_str().unwrap_or_default();
        if !group.is_empty() {
            if let Some(msg) = names::dns1123_subdomain(group) {
                cx.error(&sp.field(field).field("apiGroup"), msg);
            }
        }
    }
    let (source, reference) = (&spec["dataSource"], &spec["dataSourceRef"]);
    if !source.is_null() && !reference.is_null() {
        let same = ["apiGroup", "kind", "name"].iter().all(|f| {
            source[*f] == reference[*f] || (is_empty(&source[*f]) && is_empty(&reference[*f]))
        });
        if !same {
            cx.error(
                &sp,
                "must have the same dataSource and dataSourceRef when both are set",
            );
        }
    }
}
