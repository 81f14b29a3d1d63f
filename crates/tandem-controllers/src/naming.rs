//! Names and labels as the controllers give them: the pod-template hash, the random suffix of a
//! generated name, and a pod made from a template with its owner's labels and reference.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;

/// The alphabet of generated names and hashes (apimachinery's `rand.SafeEncodeString`: no
/// vowels, no characters that look alike, so no words and no confusion).
pub const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The label that ties a Deployment's pods to its ReplicaSet for one template.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// The label with the template revision a StatefulSet's or DaemonSet's pod was made from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// FNV-1a, 32 bits, as the controllers hash a template.
fn fnv32a(data: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in data {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// Each character of `s` mapped into [`ALPHABET`], as `SafeEncodeString` does.
fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| ALPHABET[usize::from(b) % ALPHABET.len()] as char)
        .collect()
}

/// The pod-template hash: FNV-1a of the template (its JSON here: the controllers hash Go's
/// printing of the struct, which no other program reproduces), as a decimal string encoded into
/// the safe alphabet; the same template always gives the same hash, a changed one another.
pub fn template_hash(template: &PodTemplateSpec) -> String {
    // A container's `resources` is a struct, not a pointer, in the API's Go types: empty is the
    // same as absent there (a template copied back by `kubectl rollout undo` has it written
    // `{}`), and must hash the same.
    let mut template = template.clone();
    if let Some(spec) = template.spec.as_mut() {
        for c in spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(spec.containers.iter_mut())
        {
            if c.resources
                .as_ref()
                .is_some_and(|r| *r == Default::default())
            {
                c.resources = None;
            }
        }
    }
    let json = serde_json::to_vec(&template).unwrap_or_default();
    safe_encode(&fnv32a(&json).to_string())
}

/// A name from `generateName`: the base cut to leave room, then five random characters (the
/// API server's `SimpleNameGenerator`). `random` supplies the characters' indexes.
pub fn generated_name(base: &str, random: &mut dyn FnMut() -> u32) -> String {
    const MAX: usize = 63;
    const RANDOM: usize = 5;
    let mut base = base.to_string();
    if base.len() > MAX - RANDOM {
        base.truncate(MAX - RANDOM);
    }
    for _ in 0..RANDOM {
        base.push(ALPHABET[random() as usize % ALPHABET.len()] as char);
    }
    base
}

/// A generated name that is the same each time for the same `key` (the object's uid and what
/// sets it apart): `base` and five characters of the safe alphabet, for objects a controller
/// rewrites on every look (a Service's EndpointSlices), so their names stay put between looks.
pub fn derived_name(base: &str, key: &str) -> String {
    let mut h = fnv32a(key.as_bytes());
    generated_name(base, &mut || {
        h = fnv32a(&h.to_le_bytes());
        h
    })
}

/// Who owns a pod: `ownerReferences[0]` as the controllers write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
}

impl Owner {
    pub fn reference(&self) -> OwnerReference {
        OwnerReference {
            api_version: self.api_version.clone(),
            kind: self.kind.clone(),
            name: self.name.clone(),
            uid: self.uid.clone(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }
}

/// A pod made from a template: the template's metadata and spec, the given name, namespace and
/// extra labels, and its owner.
pub fn pod_from_template(
    template: &PodTemplateSpec,
    name: &str,
    namespace: &str,
    extra_labels: &[(&str, String)],
    owner: &Owner,
) -> Pod {
    let mut metadata = template.metadata.clone().unwrap_or_default();
    metadata.name = Some(name.to_string());
    metadata.generate_name = None;
    metadata.namespace = Some(namespace.to_string());
    metadata.uid = None;
    let labels = metadata.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in extra_labels {
        labels.insert((*k).to_string(), v.clone());
    }
    metadata.owner_references = Some(vec![owner.reference()]);
    Pod {
        metadata,
        spec: template.spec.clone(),
        status: None,
    }
}

/// A uid derived from a parent's and a name (FNV-1a over both, UUID-shaped): a ReplicaSet the
/// Deployment controller makes keeps the same uid every time it is computed.
pub fn derived_uid(parent: &str, name: &str) -> String {
    let a = fnv32a(format!("{parent}/{name}").as_bytes());
    let b = fnv32a(format!("{name}/{parent}").as_bytes());
    let c = fnv32a(format!("{parent}:{name}:{a}").as_bytes());
    let d = fnv32a(format!("{name}:{parent}:{b}").as_bytes());
    format!(
        "{a:08x}-{:04x}-8{:03x}-{:04x}-{:04x}{d:08x}",
        b >> 16,
        b & 0xfff,
        (c >> 16) & 0x3fff | 0x8000,
        c & 0xffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_names_use_the_safe_alphabet_and_are_stable() {
        let t = PodTemplateSpec::default();
        let h = template_hash(&t);
        assert_eq!(h, template_hash(&t));
        assert!(
            h.len() <= 10 && h.bytes().all(|b| ALPHABET.contains(&b)),
            "{h}"
        );
        let mut other = t.clone();
        other.metadata = Some(Default::default());
        other
            .metadata
            .as_mut()
            .expect("set")
            .labels
            .get_or_insert_default()
            .insert("a".into(), "b".into());
        assert_ne!(template_hash(&other), h);
        // Empty resources are no resources, as in the API's types; a limit is a difference.
        let container = |resources| k8s_openapi::api::core::v1::Container {
            name: "app".into(),
            resources,
            ..Default::default()
        };
        let with = |c| PodTemplateSpec {
            spec: Some(k8s_openapi::api::core::v1::PodSpec {
                containers: vec![c],
                ..Default::default()
            }),
            ..Default::default()
        };
        let bare = template_hash(&with(container(None)));
        assert_eq!(
            template_hash(&with(container(Some(Default::default())))),
            bare
        );
        let limited = k8s_openapi::api::core::v1::ResourceRequirements {
            limits: Some(
                [(
                    "cpu".to_string(),
                    k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()),
                )]
                .into(),
            ),
            ..Default::default()
        };
        assert_ne!(template_hash(&with(container(Some(limited)))), bare);
        let mut n = 0u32;
        let name = generated_name("web-abc-", &mut || {
            n += 1;
            n
        });
        assert_eq!(name, "web-abc-cdfgh");
        let long = "x".repeat(70);
        assert_eq!(generated_name(&long, &mut || 0).len(), 63);
        let u = derived_uid("p", "web-1");
        assert_eq!(u.len(), 36);
        assert_eq!(u, derived_uid("p", "web-1"));
        assert_ne!(u, derived_uid("p", "web-2"));
    }
}
